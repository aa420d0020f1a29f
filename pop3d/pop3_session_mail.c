/* pop3_session_mail.c - the POP3 TRANSACTION commands on the maildrop (STAT, LIST, UIDL, RETR, TOP, DELE, RSET) and QUIT's UPDATE (RFC 1939 sections 5-6). */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "decimal.h"
#include "pop3_session_int.h"

/*
 * A strict decimal number: digits only (no sign, no space), at most 19 of
 * them, so that it always fits.  0 and *v_r, or -1.
 */
static int
parse_number(const char *p, unsigned long long *v_r)
{
	size_t len = strlen(p);
	uint64_t v;

	if (len > 19 || decimal_parse(p, len, UINT64_MAX, &v) == -1)
		return -1;
	*v_r = v;
	return 0;
}

/*
 * A message-number argument (RFC 1939: it "may NOT refer to a message
 * marked as deleted").  Returns 0 with *i_r = number - 1, or -1 with the
 * reply written and *act_r set.
 */
static int
message_arg(struct session *s, const char *arg, size_t *i_r, struct buf *out, unsigned *act_r)
{
	unsigned long long n;

	*act_r = 0;
	if (parse_number(arg, &n) == -1) {
		*act_r = pop3_bad(s, out, "Invalid message number.");
		return -1;
	}
	if (n == 0 || n > maildir_count(s->md)) {
		pop3_reply(out, "-ERR There's no message %llu.", n);
		return -1;
	}
	switch (maildir_msg_state(s->md, (size_t)(n - 1))) {
	case MAILDIR_MSG_DELETED:
		pop3_reply(out, "-ERR message %llu already deleted", n);
		return -1;
	case MAILDIR_MSG_GONE:
		pop3_reply(out, "-ERR message %llu no longer exists", n);
		return -1;
	case MAILDIR_MSG_PRESENT:
		break;
	}
	*i_r = (size_t)(n - 1);
	return 0;
}

/*
 * After maildir_size or maildir_stream_open failed for message i: is the
 * message gone (its file vanished, 1; or its name now holds something that
 * is not a regular file, such as a FIFO, 2, with the session error set so
 * that it is logged)?  0 when it is a real error.
 */
static int
gone_why(struct session *s, size_t i, int e)
{
	if (maildir_msg_state(s->md, i) != MAILDIR_MSG_GONE)
		return 0;
	if (e == ENOENT)
		return 1;
	pop3_set_error(s, "message %zu: its file was replaced by one that is not a regular "
		       "file; treated as gone", i + 1);
	return 2;
}

/*
 * Size of message i: 0; 1 or 2 when it is gone (gone_why: the callers skip
 * it, and log for 2); -1 with the error set.
 */
static int
size_or_error(struct session *s, size_t i, uint64_t *size_r)
{
	int r;

	if (maildir_size(s->md, i, size_r) == 0)
		return 0;
	if ((r = gone_why(s, i, errno)) != 0)
		return r;
	pop3_set_error(s, "cannot read message %zu: %s", i + 1, strerror(errno));
	return -1;
}

unsigned
pop3_mail_stat_list(struct session *s, enum cmd_id id, int argc, char **argv, struct buf *out)
{
	size_t i, count = 0, n = maildir_count(s->md);
	uint64_t total = 0, size;
	unsigned act, logged = 0;
	int r;

	if (argc > (id == CMD_STAT ? 0 : 1))
		return pop3_bad(s, out, "Too many arguments.");
	if (argc == 1) {
		if (message_arg(s, argv[0], &i, out, &act) == -1)
			return act;
		r = size_or_error(s, i, &size);
		if (r == 1 || r == 2) {
			pop3_reply(out, "-ERR message %zu no longer exists", i + 1);
			return r == 2 ? SESSION_ACT_ERROR : 0;
		}
		if (r == -1) {
			pop3_reply(out, "-ERR [SYS/TEMP] Cannot read the message.");
			return SESSION_ACT_ERROR;
		}
		pop3_reply(out, "+OK %zu %llu", i + 1, (unsigned long long)size);
		return 0;
	}
	/* First every size (which may fail), then the listing, so a failure leaves no half reply. */
	for (i = 0; i < n; i++) {
		if (maildir_msg_state(s->md, i) != MAILDIR_MSG_PRESENT)
			continue;
		r = size_or_error(s, i, &size);
		if (r == -1) {
			pop3_reply(out, "-ERR [SYS/TEMP] Cannot read a message.");
			return SESSION_ACT_ERROR;
		}
		if (r == 0) {
			count++;
			total += size;
		}
		if (r == 2)
			logged = SESSION_ACT_ERROR;
	}
	if (id == CMD_STAT) {
		/* RFC 1939 section 5: deleted messages are not counted. */
		pop3_reply(out, "+OK %zu %llu", count, (unsigned long long)total);
		return logged;
	}
	pop3_reply(out, "+OK %zu messages (%llu octets)", count, (unsigned long long)total);
	for (i = 0; i < n; i++) {
		if (maildir_msg_state(s->md, i) != MAILDIR_MSG_PRESENT ||
		    maildir_size(s->md, i, &size) != 0)
			continue;
		pop3_reply(out, "%zu %llu", i + 1, (unsigned long long)size);
	}
	pop3_reply(out, ".");
	return logged;
}

unsigned
pop3_mail_uidl(struct session *s, int argc, char **argv, struct buf *out)
{
	size_t i, n = maildir_count(s->md);
	unsigned act;

	if (argc > 1)
		return pop3_bad(s, out, "Too many arguments.");
	if (argc == 1) {
		if (message_arg(s, argv[0], &i, out, &act) == -1)
			return act;
		pop3_reply(out, "+OK %zu %s", i + 1, maildir_uidl(s->md, i));
		return 0;
	}
	pop3_reply(out, "+OK");
	for (i = 0; i < n; i++)
		if (maildir_msg_state(s->md, i) == MAILDIR_MSG_PRESENT)
			pop3_reply(out, "%zu %s", i + 1, maildir_uidl(s->md, i));
	pop3_reply(out, ".");
	return 0;
}

unsigned
pop3_mail_retr_top(struct session *s, enum cmd_id id, int argc, char **argv, struct buf *out)
{
	unsigned long long lines = 0;
	uint64_t size = 0;
	unsigned act;
	size_t i;

	if (argc < (id == CMD_TOP ? 2 : 1))
		return pop3_bad(s, out, "Missing argument.");
	if (argc > (id == CMD_TOP ? 2 : 1))
		return pop3_bad(s, out, "Too many arguments.");
	if (message_arg(s, argv[0], &i, out, &act) == -1)
		return act;
	if (id == CMD_TOP && parse_number(argv[1], &lines) == -1)
		return pop3_bad(s, out, "Invalid number of lines.");
	/* More lines than a long long holds is the same as "all of them". */
	if (lines > (unsigned long long)LLONG_MAX)
		lines = (unsigned long long)LLONG_MAX;
	if (maildir_stream_open(s->md, i, id == CMD_TOP ? (long long)lines : -1, &s->st,
				id == CMD_RETR ? &size : NULL) == -1) {
		int gone = gone_why(s, i, errno);

		if (gone != 0) {
			pop3_reply(out, "-ERR message %zu no longer exists", i + 1);
			return gone == 2 ? SESSION_ACT_ERROR : 0;
		}
		pop3_set_error(s, "cannot read message %zu: %s", i + 1, strerror(errno));
		pop3_reply(out, "-ERR [SYS/TEMP] Cannot read the message.");
		return SESSION_ACT_ERROR;
	}
	s->st_index = i;
	s->st_is_retr = id == CMD_RETR;
	s->st_size = size;
	if (id == CMD_RETR)
		pop3_reply(out, "+OK %llu octets", (unsigned long long)size);
	else
		pop3_reply(out, "+OK");
	return SESSION_ACT_STREAM;
}

unsigned
pop3_mail_dele(struct session *s, int argc, char **argv, struct buf *out)
{
	unsigned act;
	size_t i;

	if (argc != 1)
		return pop3_bad(s, out, argc == 0 ? "Missing argument." : "Too many arguments.");
	if (message_arg(s, argv[0], &i, out, &act) == -1)
		return act;
	maildir_delete(s->md, i);
	pop3_reply(out, "+OK Marked to be deleted.");
	return 0;
}

unsigned
pop3_mail_rset(struct session *s, int argc, struct buf *out)
{
	if (argc > 0)
		return pop3_bad(s, out, "Too many arguments.");
	/* RFC 1939 section 5: unmark every message marked as deleted. */
	maildir_undelete_all(s->md);
	pop3_reply(out, "+OK");
	return 0;
}

unsigned
pop3_mail_quit(struct session *s, struct buf *out)
{
	struct maildir_update_stats us;
	const char *why;
	unsigned act = SESSION_ACT_CLOSE;

	if (s->state == ST_TRANSACTION) {
		if (maildir_update(s->md, &us, &why) == -1) {
			pop3_set_error(s, "%s: %s", why, strerror(errno));
			pop3_reply(out, "-ERR [SYS/TEMP] Some deleted messages were not removed.");
			act |= SESSION_ACT_ERROR;
		} else if (us.deleted > 0) {
			pop3_reply(out, "+OK Logging out, messages deleted.");
		} else {
			pop3_reply(out, "+OK Logging out.");
		}
		s->stats.deleted = us.deleted;
		s->stats.deleted_octets = us.deleted_bytes;
		maildir_close(s->md);
		s->md = NULL;
	} else {
		pop3_reply(out, "+OK Logging out.");
	}
	s->state = ST_CLOSED;
	return act;
}

