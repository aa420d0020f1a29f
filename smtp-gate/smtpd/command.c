/* command.c - split one SMTP command line into its verb and argument (RFC 5321 4.1). */
#include "command.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

struct verb_def {
	const char *name;
	enum smtp_verb verb;
	bool no_arg;            /* RFC 5321 4.1.1: DATA, RSET, QUIT take no argument; RFC 3207: nor STARTTLS */
};

static const struct verb_def verbs[] = {
	{ "HELO", SMTP_VERB_HELO, false },
	{ "EHLO", SMTP_VERB_EHLO, false },
	{ "MAIL", SMTP_VERB_MAIL, false },
	{ "RCPT", SMTP_VERB_RCPT, false },
	{ "DATA", SMTP_VERB_DATA, true },
	{ "RSET", SMTP_VERB_RSET, true },
	{ "NOOP", SMTP_VERB_NOOP, false },
	{ "QUIT", SMTP_VERB_QUIT, true },
	{ "VRFY", SMTP_VERB_VRFY, false },
	{ "EXPN", SMTP_VERB_EXPN, false },
	{ "HELP", SMTP_VERB_HELP, false },
	{ "STARTTLS", SMTP_VERB_STARTTLS, true },
	{ "AUTH", SMTP_VERB_AUTH, false },
	{ "BDAT", SMTP_VERB_BDAT, false },
	/* A browser or proxy talking to port 25: the session hangs up at once. */
	{ "GET", SMTP_VERB_HTTP, false },
	{ "POST", SMTP_VERB_HTTP, false },
	{ "HEAD", SMTP_VERB_HTTP, false },
	{ "PUT", SMTP_VERB_HTTP, false },
	{ "CONNECT", SMTP_VERB_HTTP, false },
};

/*
 * MAIL and RCPT: "FROM:" / "TO:" after the verb's spaces, with no space
 * before the colon (RFC 5321 4.1.1.2); the argument starts after the colon.
 */
static enum smtp_command_error
split_keyword(const char *rest, size_t len, const char *keyword, struct smtp_command *cmd)
{
	size_t klen = strlen(keyword);

	if (len < klen || strncasecmp(rest, keyword, klen) != 0)
		return SMTP_COMMAND_SYNTAX;
	cmd->arg = rest + klen;
	cmd->arg_len = len - klen;
	return SMTP_COMMAND_OK;
}

enum smtp_command_error
smtp_command_parse(const char *line, size_t len, struct smtp_command *cmd)
{
	const struct verb_def *def = NULL;
	size_t vlen, i;

	cmd->verb = SMTP_VERB_UNKNOWN;
	cmd->arg = line;
	cmd->arg_len = 0;
	if (len > 0 && line[len - 1] == '\n') {
		/*
		 * RFC 5321 2.3.8: a line ends in CRLF only.  A server that takes
		 * a bare LF as a line end reads commands differently from one
		 * that does not, the root of SMTP smuggling; refuse it as
		 * Postfix's smtpd_forbid_bare_newline = reject does.
		 */
		if (len < 2 || line[len - 2] != '\r')
			return SMTP_COMMAND_BARE_LF;
		len -= 2;
	}
	if (len > SMTP_COMMAND_MAX)
		return SMTP_COMMAND_TOO_LONG;
	/* A CR or LF left inside is a line ending the client hid in a command. */
	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) != NULL ||
	    memchr(line, '\n', len) != NULL)
		return SMTP_COMMAND_BAD_BYTES;
	/* Trailing spaces are common from hand-typed sessions and mean nothing. */
	while (len > 0 && line[len - 1] == ' ')
		len--;
	if (len == 0)
		return SMTP_COMMAND_EMPTY;
	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		if ((unsigned char)line[vlen] >= 0x80)
			return SMTP_COMMAND_BAD_BYTES;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == vlen && strncasecmp(line, verbs[i].name, vlen) == 0) {
			def = &verbs[i];
			break;
		}
	}
	i = vlen;
	while (i < len && line[i] == ' ')
		i++;
	cmd->arg = line + i;
	cmd->arg_len = len - i;
	if (def == NULL)
		return SMTP_COMMAND_OK;
	cmd->verb = def->verb;
	if (def->no_arg && cmd->arg_len > 0)
		return SMTP_COMMAND_SYNTAX;
	if (def->verb == SMTP_VERB_MAIL)
		return split_keyword(cmd->arg, cmd->arg_len, "FROM:", cmd);
	if (def->verb == SMTP_VERB_RCPT)
		return split_keyword(cmd->arg, cmd->arg_len, "TO:", cmd);
	return SMTP_COMMAND_OK;
}
