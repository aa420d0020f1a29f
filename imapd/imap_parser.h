/* imap_parser.h - the IMAP command parser (RFC 3501 section 9, RFC 7888): tag, command, atoms, quoted strings, literals and lists, fed as the lines and literal octets arrive, every size capped.  No I/O. */
#ifndef OSD_IMAP_PARSER_H
#define OSD_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>

/* What an argument is. */
enum imap_arg_type {
	IMAP_ARG_ATOM,          /* an atom (includes sequence sets, flags like \Seen, BODY[...]<...>) */
	IMAP_ARG_STRING,        /* a quoted string, unescaped */
	IMAP_ARG_LITERAL,       /* {n} / {n+} / ~{n} (literal8): the octets, which may hold NUL */
	IMAP_ARG_NIL,           /* the atom NIL */
	IMAP_ARG_LIST           /* ( ... ) */
};

/*
 * One argument.  str is NUL-terminated (len octets before the NUL) for
 * ATOM, STRING and LITERAL; for LIST, list points at count children.
 *
 * An atom that holds a '[' runs to the matching ']' (spaces, parentheses
 * and quotes included) and on to the next space or ')': a fetch attribute
 * such as BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.2048> or a search key's
 * argument is then one atom, as RFC 3501's grammar reads it.
 */
struct imap_arg {
	enum imap_arg_type type;
	const char *str;
	size_t len;
	const struct imap_arg *list;
	size_t count;
	bool literal8;          /* ~{n}: binary (RFC 3516), for APPEND */
};

/* The caps (0 in a field: the default after it). */
struct imap_parser_limits {
	size_t line_max;        /* one line without CRLF; default 65536 */
	size_t literal_max;     /* one literal; default 64 MiB (the APPEND size cap) */
	size_t command_max;     /* all lines and literals of one command; default literal_max + 1 MiB */
	unsigned depth_max;     /* nested lists; default 16 */
	unsigned args_max;      /* arguments, all levels together; default 10000 */
};

/* What a line or a piece of a literal leaves the parser waiting for. */
enum imap_parse_result {
	IMAP_PARSE_DONE,        /* a whole command: tag, name and arguments are ready */
	IMAP_PARSE_LITERAL,     /* *literal_r octets come next (imap_parser_literal), then a line */
	IMAP_PARSE_MORE,        /* imap_parser_literal: more octets of the literal to come */
	IMAP_PARSE_ERROR        /* imap_parser_error says why; the command is dropped */
};

/*
 * Why a command was refused, for the reply: imap_parser_error_code is
 * the response code to put in brackets or NULL: "TOOBIG" (RFC 4469,
 * RFC 7888) for a line, literal or command over its cap, "LIMIT" (RFC
 * 5530) for too deep nesting or too many arguments, NULL for a syntax
 * error.  imap_parser_error_fatal tells that the connection must be
 * closed after "* BYE": the refused line announced a non-synchronizing
 * literal (over the cap, or after any other error on that line), whose
 * octets are on their way and cannot be told apart from commands (RFC
 * 7888 section 4), or the calls came out of order.
 */
struct imap_parser;

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits);
void imap_parser_free(struct imap_parser *p);

/*
 * Forget the command in progress (after DONE or ERROR, before the next
 * line; a line given after DONE or ERROR also starts afresh).  The arena
 * that held its arguments is kept for the next command, but for the
 * blocks of large literals, which are freed.
 */
void imap_parser_reset(struct imap_parser *p);

/*
 * One line, without its CRLF.  IMAP_PARSE_LITERAL: the line ends in a
 * literal announcement; *literal_r is its size, and *sync_r true for
 * {n} (the server must answer "+ ..." before the client sends it), false
 * for {n+}.  A zero-size literal also returns IMAP_PARSE_LITERAL.
 * One space before the end of a command is tolerated; two spaces
 * anywhere are a syntax error.
 */
enum imap_parse_result imap_parser_line(struct imap_parser *p, const char *line, size_t len,
					size_t *literal_r, bool *sync_r);

/*
 * Octets of the announced literal (at most those still due): MORE until
 * all have come, then IMAP_PARSE_LITERAL, meaning its next step: a line.
 * The octets are copied once, into the argument.  For a literal of size
 * 0 the caller may call this with 0 octets or go straight to the line.
 */
enum imap_parse_result imap_parser_literal(struct imap_parser *p, const char *data, size_t len);

/* After DONE (or ERROR, when the line got that far): the tag, "" if none could be read. */
const char *imap_parser_tag(const struct imap_parser *p);
/* After DONE: the command name as sent (the session compares it without case), "" if none. */
const char *imap_parser_command(const struct imap_parser *p);
/* After DONE: the arguments after the command name. */
const struct imap_arg *imap_parser_args(const struct imap_parser *p, size_t *count_r);

/* After ERROR: the text for "TAG BAD [CODE] text" (or "* BAD" with no tag). */
const char *imap_parser_error(const struct imap_parser *p);
const char *imap_parser_error_code(const struct imap_parser *p);
bool imap_parser_error_fatal(const struct imap_parser *p);

/* Helpers for the commands: an astring (atom, string or literal) as text; NULL if it is not one. */
const char *imap_arg_astring(const struct imap_arg *a);
/* A string or literal holding a NUL, or an atom that is not an astring, is not an astring. */
bool imap_arg_is_astring(const struct imap_arg *a);

#endif
