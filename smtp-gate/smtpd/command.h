/* command.h - one SMTP command line split into its verb and argument. */
#ifndef OSD_SMTP_COMMAND_H
#define OSD_SMTP_COMMAND_H

#include <stddef.h>

/*
 * RFC 5321 section 4.5.3.1.4: a command line is at most 512 octets with its
 * CRLF.  osd accepts up to SMTP_COMMAND_MAX octets before the line ending
 * (AUTH PLAIN with a long initial response needs more than 512; RFC 4954
 * section 4 allows servers to accept longer lines for AUTH).
 */
#define SMTP_COMMAND_MAX 1024

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_MAIL, SMTP_VERB_RCPT, SMTP_VERB_DATA,
	SMTP_VERB_RSET, SMTP_VERB_NOOP, SMTP_VERB_QUIT, SMTP_VERB_VRFY, SMTP_VERB_EXPN,
	SMTP_VERB_HELP, SMTP_VERB_STARTTLS, SMTP_VERB_AUTH, SMTP_VERB_BDAT,
	/* Web clients pointed at port 25 (HTTP request smuggling guard, as Postfix does). */
	SMTP_VERB_HTTP
};

struct smtp_command {
	enum smtp_verb verb;
	/*
	 * MAIL and RCPT: what follows "FROM:" / "TO:" (the keyword is checked
	 * here, case-insensitively, spaces allowed before the colon is not;
	 * spaces after it are kept for smtp_parse_path).  Other verbs: what
	 * follows the verb and one or more spaces.  Not NUL-terminated.
	 */
	const char *arg;
	size_t arg_len;
};

enum smtp_command_error {
	SMTP_COMMAND_OK = 0,
	SMTP_COMMAND_EMPTY,             /* 500 5.5.2 */
	SMTP_COMMAND_TOO_LONG,          /* 500 5.5.2 line too long */
	SMTP_COMMAND_BAD_BYTES,         /* NUL, bare CR, 8-bit in the verb: 500 5.5.2 */
	SMTP_COMMAND_BARE_LF,           /* ends in LF without CR: 550 5.5.2 and close (Postfix's smtpd_forbid_bare_newline = reject) */
	SMTP_COMMAND_SYNTAX             /* MAIL without FROM:, RCPT without TO:, junk after a verb that takes none: 501 5.5.4 */
};

/*
 * Split line (len octets; the trailing CRLF, if any, is ignored; a line
 * that ends in LF without CR is SMTP_COMMAND_BARE_LF).
 * A verb is matched case-insensitively and must be followed by the end or
 * a space (so "MAILX" is unknown).  Returns SMTP_COMMAND_OK and fills cmd,
 * or an error.  An unknown verb is SMTP_COMMAND_OK with SMTP_VERB_UNKNOWN.
 */
enum smtp_command_error smtp_command_parse(const char *line, size_t len,
					   struct smtp_command *cmd);

#endif
