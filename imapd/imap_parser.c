/* imap_parser.c - the IMAP command parser: tag, command name and arguments (RFC 3501 section 9, RFC 7888, RFC 3516), fed line by line and literal by literal, every size capped. */
#include "imap_parser.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "decimal.h"
#include "xmalloc.h"

#define DEFAULT_LINE_MAX        65536
#define DEFAULT_LITERAL_MAX     ((size_t)64 * 1024 * 1024)
#define DEFAULT_COMMAND_SLACK   ((size_t)1024 * 1024)
#define DEFAULT_DEPTH_MAX       16
#define DEFAULT_ARGS_MAX        10000

/* The arena: small strings and arrays share blocks of this size; bigger ones (a literal) get their own. */
#define POOL_BLOCK      8192
#define POOL_ALIGN      alignof(max_align_t)

/* A level's scratch vector larger than this is given back at reset rather than kept for the next command. */
#define LEVEL_KEEP      256

/* RFC 5530 LIMIT: "ran up against an implementation limit"; TOOBIG (RFC 4469, RFC 7888 section 4) for sizes. */
#define CODE_TOOBIG     "TOOBIG"
#define CODE_LIMIT      "LIMIT"

struct pool_block {
	struct pool_block *next;
	size_t size;            /* usable octets after the header */
	size_t used;
	max_align_t data[];
};

/* The arguments of one open list (level 0: the command's own). */
struct level {
	struct imap_arg *v;
	size_t n, cap;
};

enum parser_state {
	ST_START,       /* nothing of the command read yet */
	ST_ARGS,        /* between lines of a command: the last thing read was an argument (a literal) */
	ST_LITERAL,     /* octets of an announced literal expected */
	ST_DONE,
	ST_ERROR
};

struct imap_parser {
	struct imap_parser_limits lim;
	enum parser_state state;

	/* The arena: first is kept across commands, the rest freed at reset. */
	struct pool_block *first, *cur, *big;

	const char *tag, *command;
	struct level *levels;   /* depth_max + 1 */
	unsigned depth;
	size_t nargs;           /* all levels together, for args_max */
	size_t total;           /* octets of the command so far, for command_max */

	/* The literal being received. */
	char *lit;
	size_t lit_len, lit_got;
	bool lit8;

	const char *error, *error_code;
	bool fatal;
};

/* --- the arena ---------------------------------------------------------- */

static struct pool_block *
block_new(size_t size)
{
	struct pool_block *b;

	if (size > SIZE_MAX - sizeof(*b))
		return NULL;
	b = xmalloc(sizeof(*b) + size);
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

/* size octets, aligned for any type, that live until the next reset; NULL only for an impossible size. */
static void *
pool_alloc(struct imap_parser *p, size_t size)
{
	struct pool_block *b;
	size_t round;

	if (size > SIZE_MAX - POOL_ALIGN)
		return NULL;
	round = (size + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1);
	if (round == 0)
		round = POOL_ALIGN;
	if (p->cur->size - p->cur->used >= round) {
		char *m = (char *)p->cur->data + p->cur->used;
		p->cur->used += round;
		return m;
	}
	if (round > POOL_BLOCK / 4) {
		/* A block of its own (a literal: the only copy of its octets), off the small blocks' way. */
		if ((b = block_new(round)) == NULL)
			return NULL;
		b->next = p->big;
		p->big = b;
		b->used = round;
		return b->data;
	}
	b = block_new(POOL_BLOCK);
	b->next = p->cur;
	p->cur = b;
	b->used = round;
	return b->data;
}

static char *
pool_strndup(struct imap_parser *p, const char *s, size_t len)
{
	char *d = pool_alloc(p, len + 1);

	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

static void
pool_clear(struct imap_parser *p)
{
	struct pool_block *b, *next;

	for (b = p->cur; b != p->first; b = next) {
		next = b->next;
		free(b);
	}
	for (b = p->big; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	p->cur = p->first;
	p->big = NULL;
	p->first->used = 0;
}

/* --- characters (RFC 3501 section 9) ------------------------------------ */

/* ATOM-CHAR: any CHAR except atom-specials ( ) { SP CTL % * DQUOTE \ ]; 8-bit octets are not CHAR. */
static bool
is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

/* tag: any ASTRING-CHAR (ATOM-CHAR or "]") except "+". */
static bool
is_tag_char(unsigned char c)
{
	return (is_atom_char(c) || c == ']') && c != '+';
}

/*
 * What an atom argument may hold outside brackets: ASTRING-CHAR, the
 * list-wildcards of list-mailbox (LIST "" *), and "\" of flags (\Seen,
 * the \* of PERMANENTFLAGS a client may echo).
 */
static bool
is_arg_atom_char(unsigned char c)
{
	return is_atom_char(c) || c == ']' || c == '%' || c == '*' || c == '\\';
}

/* --- errors ------------------------------------------------------------- */

/* Does the line end in a non-synchronizing literal announcement ({n+} or ~{n+})? */
static bool
ends_nonsync(const char *line, size_t len)
{
	size_t i;

	if (len < 4 || line[len - 1] != '}' || line[len - 2] != '+')
		return false;
	i = len - 2;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	return i < len - 2 && i > 0 && line[i - 1] == '{';
}

static enum imap_parse_result
fail(struct imap_parser *p, const char *text, const char *code)
{
	p->state = ST_ERROR;
	p->error = text;
	p->error_code = code;
	return IMAP_PARSE_ERROR;
}

/*
 * An error on a line: when the line announced a non-synchronizing
 * literal, its octets are already on their way and would be read as
 * commands (RFC 7888 section 4; a way to smuggle commands past a proxy),
 * so the connection must go.
 */
static enum imap_parse_result
fail_line(struct imap_parser *p, const char *line, size_t len, const char *text, const char *code)
{
	if (ends_nonsync(line, len))
		p->fatal = true;
	return fail(p, text, code);
}

/* --- arguments ---------------------------------------------------------- */

static struct imap_arg *
push_arg(struct imap_parser *p, enum imap_arg_type type)
{
	struct level *lv = &p->levels[p->depth];
	struct imap_arg *a;

	if (lv->n == lv->cap) {
		lv->cap = lv->cap == 0 ? 16 : lv->cap * 2;
		lv->v = xreallocarray(lv->v, lv->cap, sizeof(*lv->v));
	}
	a = &lv->v[lv->n++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	p->nargs++;
	return a;
}

/* ")": the children move into the arena as one array, and become a LIST of the level below. */
static void
close_list(struct imap_parser *p)
{
	struct level *lv = &p->levels[p->depth];
	struct imap_arg *children = NULL, *a;
	size_t n = lv->n;

	if (n > 0) {
		children = pool_alloc(p, n * sizeof(*children));
		memcpy(children, lv->v, n * sizeof(*children));
	}
	lv->n = 0;
	p->depth--;
	/* Not push_arg: the list was counted against args_max when it opened. */
	lv = &p->levels[p->depth];
	a = &lv->v[lv->n - 1];
	a->list = children;
	a->count = n;
}

/* Whether the '[' at line[i] has its matching ']' later on the line (no CTL or 8-bit octet between). */
static bool
bracket_closes(const char *line, size_t len, size_t i)
{
	unsigned depth = 0;

	for (; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (ascii_is_ctl(c) || c >= 0x80)
			return false;
		if (c == '[')
			depth++;
		else if (c == ']' && --depth == 0)
			return true;
	}
	return false;
}

/*
 * The end of an atom argument starting at line[i]: ATOM-CHARs as
 * is_arg_atom_char says, and from a "[" everything but CTL and 8-bit up
 * to the matching "]" (BODY[HEADER.FIELDS (FROM TO)]<0.2048> is one atom,
 * as RFC 3501's fetch-att and section grammar reads); a "[" with no "]"
 * after it on the line is an ordinary atom char.  (size_t)-1 and
 * *error_r when it holds what no atom may.
 */
static size_t
scan_atom(const char *line, size_t len, size_t i, const char **error_r)
{
	unsigned bracket = 0;

	for (; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (bracket > 0) {
			if (ascii_is_ctl(c) || c >= 0x80) {
				*error_r = "Invalid characters in atom";
				return (size_t)-1;
			}
			if (c == '[')
				bracket++;
			else if (c == ']')
				bracket--;
			continue;
		}
		if (c == ' ' || c == ')')
			break;
		/* A '[' without its ']' on the line is an atom char: SELECT a[b names "a[b" (Dovecot reads it so). */
		if (c == '[' && bracket_closes(line, len, i)) {
			bracket++;
			continue;
		}
		if (c != '[' && !is_arg_atom_char(c)) {
			*error_r = "Invalid characters in atom";
			return (size_t)-1;
		}
	}
	return i;
}

/*
 * A quoted string starting at line[i] (the DQUOTE): only \" and \\ are
 * escapes (quoted-specials); CR, LF, NUL and 8-bit octets are not
 * TEXT-CHARs.  Stores the unescaped text as a STRING; the index after the
 * closing DQUOTE, or (size_t)-1 and *error_r.
 */
static size_t
parse_quoted(struct imap_parser *p, const char *line, size_t len, size_t i, const char **error_r)
{
	size_t j, n = 0;
	struct imap_arg *a;
	char *s;

	/* First pass: find the end and the length, so that the copy is exact. */
	for (j = i + 1; j < len && line[j] != '"'; j++) {
		unsigned char c = (unsigned char)line[j];

		if (c == '\\') {
			if (j + 1 >= len || (line[j + 1] != '"' && line[j + 1] != '\\')) {
				*error_r = "Invalid escape in quoted string";
				return (size_t)-1;
			}
			j++;
		} else if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80) {
			*error_r = "Invalid characters in quoted string";
			return (size_t)-1;
		}
		n++;
	}
	if (j >= len) {
		*error_r = "Missing '\"'";
		return (size_t)-1;
	}
	s = pool_alloc(p, n + 1);
	n = 0;
	for (j = i + 1; line[j] != '"'; j++) {
		if (line[j] == '\\')
			j++;
		s[n++] = line[j];
	}
	s[n] = '\0';
	a = push_arg(p, IMAP_ARG_STRING);
	a->str = s;
	a->len = n;
	return j + 1;
}

/*
 * A literal announcement from line[i] ("{" or "~{") to the end of the
 * line: {n}, {n+}, ~{n}, ~{n+} (RFC 7888 section 3, RFC 3516 literal8,
 * RFC 9051 literal8 with "+").  Sets up the literal; IMAP_PARSE_LITERAL.
 */
static enum imap_parse_result
parse_literal_announce(struct imap_parser *p, const char *line, size_t len, size_t i,
		       size_t *literal_r, bool *sync_r)
{
	bool lit8 = false, sync = true;
	size_t d0, d1;
	uint64_t n;

	if (line[i] == '~') {
		lit8 = true;
		i++;
	}
	d0 = ++i;
	while (i < len && line[i] >= '0' && line[i] <= '9')
		i++;
	d1 = i;
	if (i < len && line[i] == '+') {
		sync = false;
		i++;
	}
	if (d1 == d0 || i + 1 != len || line[i] != '}')
		return fail_line(p, line, len, "Invalid literal announcement", NULL);
	if (decimal_parse(line + d0, d1 - d0, p->lim.literal_max, &n) < 0) {
		/*
		 * Too large: a synchronizing literal is refused before the
		 * client sends it; a non-synchronizing one is on its way.
		 */
		p->fatal = !sync;
		return fail(p, "Literal too large", CODE_TOOBIG);
	}
	if (n > p->lim.command_max - p->total) {
		p->fatal = !sync;
		return fail(p, "Command too long", CODE_TOOBIG);
	}
	if (p->nargs >= p->lim.args_max)
		return fail_line(p, line, len, "Too many arguments", CODE_LIMIT);
	if ((p->lit = pool_alloc(p, (size_t)n + 1)) == NULL) {
		p->fatal = !sync;
		return fail(p, "Literal too large", CODE_TOOBIG);
	}
	p->total += n;
	p->lit_len = (size_t)n;
	p->lit_got = 0;
	p->lit8 = lit8;
	p->state = ST_LITERAL;
	*literal_r = (size_t)n;
	*sync_r = sync;
	return IMAP_PARSE_LITERAL;
}

/* The literal's octets have all come: it is an argument like any other. */
static void
finish_literal(struct imap_parser *p)
{
	struct imap_arg *a = push_arg(p, IMAP_ARG_LITERAL);

	p->lit[p->lit_len] = '\0';
	a->str = p->lit;
	a->len = p->lit_len;
	a->literal8 = p->lit8;
	p->lit = NULL;
	p->state = ST_ARGS;
}

/* Where the argument parser stands within a line. */
enum expect {
	EXPECT_ARG,     /* after a space: an argument */
	EXPECT_FIRST,   /* after "(": an argument or ")" */
	EXPECT_AFTER    /* after an argument: a space, ")" or the end */
};

/* The arguments from line[i] on, in the state expect. */
static enum imap_parse_result
parse_args(struct imap_parser *p, const char *line, size_t len, size_t i, enum expect expect,
	   size_t *literal_r, bool *sync_r)
{
	const char *error = NULL;

	while (i < len) {
		unsigned char c = (unsigned char)line[i];

		if (expect == EXPECT_AFTER) {
			if (c == ' ') {
				/* One space at the end of a command: tolerated, some clients send it. */
				if (i + 1 == len && p->depth == 0)
					break;
				expect = EXPECT_ARG;
				i++;
			} else if (c == ')') {
				if (p->depth == 0)
					return fail_line(p, line, len, "Unexpected ')'", NULL);
				close_list(p);
				i++;
			} else {
				return fail_line(p, line, len, "Missing space between arguments", NULL);
			}
			continue;
		}
		if (c == ')' && expect == EXPECT_FIRST) {
			close_list(p);
			expect = EXPECT_AFTER;
			i++;
			continue;
		}
		if (c == ' ')
			return fail_line(p, line, len, "Unexpected space", NULL);
		if (c == ')')
			return fail_line(p, line, len, "Unexpected ')'", NULL);
		if (p->nargs >= p->lim.args_max)
			return fail_line(p, line, len, "Too many arguments", CODE_LIMIT);
		if (c == '(') {
			if (p->depth >= p->lim.depth_max)
				return fail_line(p, line, len, "Too deeply nested", CODE_LIMIT);
			(void)push_arg(p, IMAP_ARG_LIST);
			p->depth++;
			expect = EXPECT_FIRST;
			i++;
			continue;
		}
		if (c == '"') {
			if ((i = parse_quoted(p, line, len, i, &error)) == (size_t)-1)
				return fail_line(p, line, len, error, NULL);
		} else if (c == '{' || (c == '~' && i + 1 < len && line[i + 1] == '{')) {
			return parse_literal_announce(p, line, len, i, literal_r, sync_r);
		} else {
			size_t end = scan_atom(line, len, i, &error);
			struct imap_arg *a;

			if (end == (size_t)-1)
				return fail_line(p, line, len, error, NULL);
			if (end - i == 3 && ascii_eq_nocase(line + i, "NIL", 3))
				a = push_arg(p, IMAP_ARG_NIL);
			else
				a = push_arg(p, IMAP_ARG_ATOM);
			a->str = pool_strndup(p, line + i, end - i);
			a->len = end - i;
			i = end;
		}
		expect = EXPECT_AFTER;
	}
	if (expect != EXPECT_AFTER || p->depth > 0)
		return fail_line(p, line, len, "Missing ')'", NULL);
	p->state = ST_DONE;
	return IMAP_PARSE_DONE;
}

/*
 * The tag at the start of the line, looked for in its first max octets:
 * the index of what follows it, or (size_t)-1 and p->tag left "" (a tag
 * cut short by max is no tag: answering with a part of it would be wrong).
 */
static size_t
read_tag(struct imap_parser *p, const char *line, size_t len, size_t max)
{
	size_t i = 0;

	while (i < len && line[i] != ' ') {
		if (i == max || !is_tag_char((unsigned char)line[i]))
			return (size_t)-1;
		i++;
	}
	if (i == 0)
		return (size_t)-1;
	p->tag = pool_strndup(p, line, i);
	return i;
}

/* --- the interface ------------------------------------------------------ */

struct imap_parser *
imap_parser_new(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	if (limits != NULL)
		p->lim = *limits;
	if (p->lim.line_max == 0)
		p->lim.line_max = DEFAULT_LINE_MAX;
	if (p->lim.literal_max == 0)
		p->lim.literal_max = DEFAULT_LITERAL_MAX;
	if (p->lim.command_max == 0)
		p->lim.command_max = p->lim.literal_max > SIZE_MAX - DEFAULT_COMMAND_SLACK ?
			SIZE_MAX : p->lim.literal_max + DEFAULT_COMMAND_SLACK;
	if (p->lim.command_max < 2)
		p->lim.command_max = 2;
	if (p->lim.depth_max == 0)
		p->lim.depth_max = DEFAULT_DEPTH_MAX;
	if (p->lim.args_max == 0)
		p->lim.args_max = DEFAULT_ARGS_MAX;
	p->levels = xcalloc((size_t)p->lim.depth_max + 1, sizeof(*p->levels));
	p->first = block_new(POOL_BLOCK);
	p->cur = p->first;
	imap_parser_reset(p);
	return p;
}

void
imap_parser_free(struct imap_parser *p)
{
	if (p == NULL)
		return;
	pool_clear(p);
	free(p->first);
	for (unsigned d = 0; d <= p->lim.depth_max; d++)
		free(p->levels[d].v);
	free(p->levels);
	free(p);
}

void
imap_parser_reset(struct imap_parser *p)
{
	pool_clear(p);
	for (unsigned d = 0; d <= p->lim.depth_max; d++) {
		struct level *lv = &p->levels[d];

		if (lv->cap > LEVEL_KEEP) {
			free(lv->v);
			lv->v = NULL;
			lv->cap = 0;
		}
		lv->n = 0;
	}
	p->state = ST_START;
	p->tag = "";
	p->command = "";
	p->depth = 0;
	p->nargs = 0;
	p->total = 0;
	p->lit = NULL;
	p->lit_len = p->lit_got = 0;
	p->lit8 = false;
	p->error = NULL;
	p->error_code = NULL;
	p->fatal = false;
}

enum imap_parse_result
imap_parser_line(struct imap_parser *p, const char *line, size_t len, size_t *literal_r, bool *sync_r)
{
	size_t i, j;

	*literal_r = 0;
	*sync_r = false;
	if (p->state == ST_DONE || p->state == ST_ERROR)
		imap_parser_reset(p);
	if (p->state == ST_LITERAL) {
		if (p->lit_got < p->lit_len) {
			p->fatal = true;
			return fail(p, "Literal octets expected, not a line", NULL);
		}
		/* A zero-size literal (or a caller that went straight on): it has all come. */
		finish_literal(p);
	}
	/* The CRLF counts: p->total <= command_max always. */
	if (len > p->lim.line_max || len + 2 > p->lim.command_max - p->total) {
		/* Still the tag, for "TAG BAD": the caller has the line, so the command can be answered. */
		if (p->state == ST_START)
			(void)read_tag(p, line, len, p->lim.line_max);
		return fail_line(p, line, len, len > p->lim.line_max ? "Line too long" : "Command too long",
				 CODE_TOOBIG);
	}
	p->total += len + 2;

	if (p->state == ST_ARGS)
		return parse_args(p, line, len, 0, EXPECT_AFTER, literal_r, sync_r);

	/* tag SP command [SP arguments] */
	if (len == 0)
		return fail(p, "Empty command line", NULL);
	if ((i = read_tag(p, line, len, len)) == (size_t)-1)
		return fail_line(p, line, len, "Invalid tag", NULL);
	if (i == len || i + 1 == len)
		return fail_line(p, line, len, "Missing command", NULL);
	for (j = ++i; j < len && line[j] != ' '; j++) {
		if (!is_atom_char((unsigned char)line[j]))
			return fail_line(p, line, len, j == i ? "Missing command" : "Invalid characters in command name",
					 NULL);
	}
	if (j == i)
		return fail_line(p, line, len, "Missing command", NULL);
	p->command = pool_strndup(p, line + i, j - i);
	p->state = ST_ARGS;
	return parse_args(p, line, len, j, EXPECT_AFTER, literal_r, sync_r);
}

enum imap_parse_result
imap_parser_literal(struct imap_parser *p, const char *data, size_t len)
{
	if (p->state != ST_LITERAL) {
		p->fatal = true;
		return fail(p, "No literal expected", NULL);
	}
	if (len > p->lit_len - p->lit_got) {
		p->fatal = true;
		return fail(p, "More octets than the literal announced", NULL);
	}
	/* The one copy of the octets: into the arena block the announcement sized. */
	if (len > 0)
		memcpy(p->lit + p->lit_got, data, len);
	p->lit_got += len;
	if (p->lit_got < p->lit_len)
		return IMAP_PARSE_MORE;
	finish_literal(p);
	return IMAP_PARSE_LITERAL;
}

const char *
imap_parser_tag(const struct imap_parser *p)
{
	return p->tag;
}

const char *
imap_parser_command(const struct imap_parser *p)
{
	return p->command;
}

const struct imap_arg *
imap_parser_args(const struct imap_parser *p, size_t *count_r)
{
	if (p->state != ST_DONE) {
		*count_r = 0;
		return NULL;
	}
	*count_r = p->levels[0].n;
	return p->levels[0].v;
}

const char *
imap_parser_error(const struct imap_parser *p)
{
	return p->error != NULL ? p->error : "";
}

const char *
imap_parser_error_code(const struct imap_parser *p)
{
	return p->error_code;
}

bool
imap_parser_error_fatal(const struct imap_parser *p)
{
	return p->fatal;
}

bool
imap_arg_is_astring(const struct imap_arg *a)
{
	if (a == NULL)
		return false;
	switch (a->type) {
	case IMAP_ARG_STRING:
	case IMAP_ARG_LITERAL:
		return memchr(a->str, '\0', a->len) == NULL;
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NIL:
		/* astring = 1*ASTRING-CHAR / string: the atom NIL is the mailbox "NIL" (RFC 3501 section 9). */
		for (size_t i = 0; i < a->len; i++) {
			unsigned char c = (unsigned char)a->str[i];

			if (!is_atom_char(c) && c != ']')
				return false;
		}
		return a->len > 0;
	case IMAP_ARG_LIST:
		break;
	}
	return false;
}

const char *
imap_arg_astring(const struct imap_arg *a)
{
	return imap_arg_is_astring(a) ? a->str : NULL;
}
