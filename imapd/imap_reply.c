/* imap_reply.c - what every part of the IMAP session uses and which calls none of them: tagged and untagged replies, strings (quoted, literal, atom), the capability list, the untagged report of a mailbox's changes, selecting and leaving a mailbox, the end of the session. */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imap_fetch.h"
#include "imap_session_int.h"
#include "xmalloc.h"

void
imap_set_error(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
}

bool
imap_plaintext_ok(const struct imap_session *s)
{
	return s->cfg.tls_active || s->cfg.client_loopback || s->cfg.plaintext_allowed;
}

void
imap_reply_untagged(struct buf *out, const char *fmt, ...)
{
	va_list ap;

	(void)buf_append(out, "* ", 2);
	va_start(ap, fmt);
	(void)buf_vprintf(out, fmt, ap);
	va_end(ap);
	(void)buf_append(out, "\r\n", 2);
}

unsigned
imap_reply_tagged(struct imap_session *s, struct buf *out, const char *tag, const char *cond,
		  const char *code, const char *fmt, ...)
{
	bool bad = strcmp(cond, "BAD") == 0;
	unsigned act = 0;
	va_list ap;

	/* RFC 3501 section 7: what changed is told before the command completes. */
	if (!bad && s->mb != NULL) {
		bool expunges = s->cmd == NULL || !(s->cmd->flags & IMAP_CMD_NO_EXPUNGE);

		if (imap_sync_untagged(s, out, expunges) == -1) {
			/* The folder cannot be read any more (removed under us): the session cannot go on. */
			act |= IMAP_ACT_ERROR;
			act |= imap_session_bye(s, out, "[SERVERBUG] Mailbox cannot be read, closing.");
		}
	}
	(void)buf_printf(out, "%s %s ", tag[0] != '\0' ? tag : "*", cond);
	if (code != NULL && code[0] != '\0')
		(void)buf_printf(out, "[%s] ", code);
	va_start(ap, fmt);
	(void)buf_vprintf(out, fmt, ap);
	va_end(ap);
	(void)buf_append(out, "\r\n", 2);
	if (bad && !(act & IMAP_ACT_CLOSE))
		act |= imap_session_count_bad(s, out);
	return act;
}

bool
imap_quotable(const char *str, size_t len)
{
	size_t i;

	if (len > 1024)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

void
imap_write_quoted(struct buf *out, const char *str, size_t len)
{
	size_t i;

	(void)buf_append_char(out, '"');
	for (i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\')
			(void)buf_append_char(out, '\\');
		(void)buf_append_char(out, str[i]);
	}
	(void)buf_append_char(out, '"');
}

void
imap_write_literal(struct buf *out, const char *str, size_t len)
{
	(void)buf_printf(out, "{%zu}\r\n", len);
	(void)buf_append(out, str, len);
}

void
imap_write_string(struct buf *out, const char *str, size_t len)
{
	if (imap_quotable(str, len))
		imap_write_quoted(out, str, len);
	else
		imap_write_literal(out, str, len);
}

/* An atom (RFC 3501 ATOM-CHAR: no specials, no control, no 8-bit), not "NIL" and not empty. */
static bool
is_atom(const char *str)
{
	const char *p;

	if (str[0] == '\0' || strcasecmp(str, "NIL") == 0)
		return false;
	for (p = str; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

void
imap_write_astring(struct buf *out, const char *str)
{
	if (is_atom(str))
		(void)buf_append_str(out, str);
	else
		imap_write_string(out, str, strlen(str));
}

void
imap_write_nstring(struct buf *out, const char *str)
{
	if (str == NULL)
		(void)buf_append_str(out, "NIL");
	else
		imap_write_string(out, str, strlen(str));
}

void
imap_write_capability(const struct imap_session *s, struct buf *out)
{
	(void)buf_append_str(out, "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE "
				  "UNSELECT CHILDREN LIST-EXTENDED SPECIAL-USE ESEARCH LIST-STATUS CONDSTORE");
	if (s->state != IMAP_ST_NOTAUTH)
		return;
	if (s->cfg.tls_available && !s->cfg.tls_active)
		(void)buf_append_str(out, " STARTTLS");
	/* RFC 3501 section 6.2.3: no plaintext mechanism where LOGIN is disabled. */
	if (imap_plaintext_ok(s))
		(void)buf_append_str(out, " AUTH=PLAIN AUTH=LOGIN");
	if (s->cfg.advertise_cram_md5 && s->cfg.get_secret != NULL)
		(void)buf_append_str(out, " AUTH=CRAM-MD5");
	if (!imap_plaintext_ok(s))
		(void)buf_append_str(out, " LOGINDISABLED");
}

void
imap_write_flags_lines(struct imap_session *s, struct buf *out)
{
	unsigned i, n = imap_mailbox_keyword_count(s->mb);

	s->flags_announced = n;
	(void)buf_append_str(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (i = 0; i < n; i++)
		(void)buf_printf(out, " %s", imap_mailbox_keyword(s->mb, i));
	(void)buf_append_str(out, ")\r\n");
	if (s->readonly) {
		(void)buf_append_str(out, "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n");
		return;
	}
	(void)buf_append_str(out, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (i = 0; i < n; i++)
		(void)buf_printf(out, " %s", imap_mailbox_keyword(s->mb, i));
	/* New keywords while there are Maildir letters left for them. */
	(void)buf_append_str(out, n < IMAP_KEYWORDS_MAX ? " \\*)] Flags permitted.\r\n"
						       : ")] Flags permitted.\r\n");
}

int
imap_sync_untagged(struct imap_session *s, struct buf *out, bool report_expunges)
{
	struct imap_sync_report r;
	const char *error = NULL;
	size_t i;

	if (s->mb == NULL)
		return 0;
	memset(&r, 0, sizeof(r));
	if (imap_mailbox_sync(s->mb, report_expunges, &r, &error) == -1) {
		imap_set_error(s, "sync of %s: %s", s->mb_name != NULL ? s->mb_name : "?",
			       error != NULL ? error : "failed");
		return -1;
	}
	/* Expunges first, in the order given: each renumbers the ones after it. */
	for (i = 0; i < r.n_expunged; i++)
		(void)buf_printf(out, "* %u EXPUNGE\r\n", (unsigned)r.expunged[i]);
	/* Not again when the command told them already (STORE or APPEND making a keyword). */
	if (r.keywords_changed && imap_mailbox_keyword_count(s->mb) != s->flags_announced)
		imap_write_flags_lines(s, out);
	/* EXISTS only when the expunges told do not account for the count (new messages came). */
	if (r.count_changed &&
	    imap_mailbox_count(s->mb) + r.n_expunged != s->exists_announced) {
		(void)buf_printf(out, "* %u EXISTS\r\n", (unsigned)imap_mailbox_count(s->mb));
		(void)buf_printf(out, "* %u RECENT\r\n", (unsigned)imap_mailbox_recent(s->mb));
	}
	s->exists_announced = imap_mailbox_count(s->mb);
	for (i = 0; i < r.n_changed; i++) {
		const struct imap_msg *m = imap_mailbox_msg(s->mb, r.changed[i]);

		if (m == NULL)
			continue;
		/* With the UID, always: a UID command needs it (RFC 3501 section 6.4.8), others may use it. */
		(void)buf_printf(out, "* %u FETCH (UID %u ", (unsigned)r.changed[i], (unsigned)m->uid);
		/* RFC 7162 section 3.1: with CONDSTORE on, every untagged FETCH has MODSEQ (Dovecot's place: before FLAGS). */
		if (s->enabled & IMAP_EXT_CONDSTORE)
			(void)buf_printf(out, "MODSEQ (%llu) ", (unsigned long long)m->modseq);
		(void)buf_append_str(out, "FLAGS ");
		imap_fetch_flags(s->mb, m, out);
		(void)buf_append_str(out, ")\r\n");
	}
	return 0;
}

void
imap_condstore_enable(struct imap_session *s, struct buf *out)
{
	if (s->enabled & IMAP_EXT_CONDSTORE)
		return;
	s->enabled |= IMAP_EXT_CONDSTORE;
	/*
	 * Turned on in a selected folder (not by SELECT/EXAMINE (CONDSTORE),
	 * which tells it anyway): the client learns where the folder stands,
	 * as Dovecot tells it.
	 */
	if (s->mb != NULL)
		(void)buf_printf(out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
				 (unsigned long long)imap_mailbox_highest_modseq(s->mb));
}

/* Drop a long reply in progress. */
void
imap_session_stream_end(struct imap_session *s)
{
	if (s->stream_free != NULL)
		s->stream_free(s->stream_ctx);
	s->stream = NULL;
	s->stream_free = NULL;
	s->stream_ctx = NULL;
}

/* Stop watching the folder (the folder is closed, or the session ends). */
void
imap_session_wake_close(struct imap_session *s)
{
	if (s->wake_fd != -1)
		(void)close(s->wake_fd);
	s->wake_fd = -1;
}

/* The session is over: "* BYE text" and close. */
unsigned
imap_session_bye(struct imap_session *s, struct buf *out, const char *text)
{
	imap_reply_untagged(out, "BYE %s", text);
	s->state = IMAP_ST_LOGOUT;
	s->mode = IMAP_MODE_COMMAND;
	imap_session_stream_end(s);
	imap_session_wake_close(s);
	return IMAP_ACT_CLOSE;
}

/* Used by imap_reply_tagged: too many BAD answers end the session. */
unsigned
imap_session_count_bad(struct imap_session *s, struct buf *out)
{
	if (++s->bad_commands < s->cfg.max_bad_commands)
		return 0;
	imap_set_error(s, "too many bad commands");
	return imap_session_bye(s, out, "Too many invalid IMAP commands.");
}

void
imap_session_select(struct imap_session *s, struct imap_mailbox *mb, const char *name, bool readonly)
{
	imap_session_unselect(s);
	s->mb = mb;
	s->mb_name = xstrdup(name);
	s->readonly = readonly;
	s->state = IMAP_ST_SELECTED;
	/* What SELECT tells in its EXISTS and FLAGS lines. */
	s->exists_announced = imap_mailbox_count(mb);
	s->flags_announced = imap_mailbox_keyword_count(mb);
}

void
imap_session_unselect(struct imap_session *s)
{
	/* The watch is the folder's: another folder gets its own at its first IDLE. */
	imap_session_wake_close(s);
	if (s->mb != NULL)
		imap_mailbox_close(s->mb);
	s->mb = NULL;
	free(s->mb_name);
	s->mb_name = NULL;
	s->readonly = false;
	if (s->state == IMAP_ST_SELECTED)
		s->state = IMAP_ST_AUTH;
}
