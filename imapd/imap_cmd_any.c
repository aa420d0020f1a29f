/* imap_cmd_any.c - the commands of any state and the session's own: CAPABILITY, NOOP, LOGOUT, ID (RFC 2971), ENABLE (RFC 5161), NAMESPACE (RFC 2342), IDLE (RFC 2177). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "imap_session_int.h"
#include "monotonic.h"
#include "path.h"

unsigned
imap_cmd_capability(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		    bool uid, struct buf *out)
{
	(void)args;
	(void)uid;
	if (n != 0)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "CAPABILITY takes no arguments.");
	(void)buf_append_str(out, "* CAPABILITY ");
	imap_write_capability(s, out);
	(void)buf_append_str(out, "\r\n");
	return imap_reply_tagged(s, out, tag, "OK", NULL, "Capability completed.");
}

unsigned
imap_cmd_noop(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	      bool uid, struct buf *out)
{
	(void)args;
	(void)uid;
	if (n != 0)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "NOOP takes no arguments.");
	/* The sync report before the tagged OK is the point of NOOP (RFC 3501 section 6.1.2). */
	return imap_reply_tagged(s, out, tag, "OK", NULL, "NOOP completed.");
}

unsigned
imap_cmd_logout(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		bool uid, struct buf *out)
{
	(void)args;
	(void)uid;
	if (n != 0)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "LOGOUT takes no arguments.");
	/* No sync report: the client is leaving (the folder is closed without one). */
	imap_session_unselect(s);
	imap_reply_untagged(out, "BYE Logging out");
	s->state = IMAP_ST_LOGOUT;
	(void)imap_reply_tagged(s, out, tag, "OK", NULL, "Logout completed.");
	return IMAP_ACT_CLOSE;
}

/*
 * ID (RFC 2971): NIL or a list of at most 30 field-value pairs, each
 * field at most 30 octets and each value at most 1024.  What the client
 * says is not kept (it would only be logged).
 */
unsigned
imap_cmd_id(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	    bool uid, struct buf *out)
{
	size_t i;

	(void)uid;
	if (n != 1 || (args[0].type != IMAP_ARG_NIL && args[0].type != IMAP_ARG_LIST))
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "ID takes NIL or a list.");
	if (args[0].type == IMAP_ARG_LIST) {
		const struct imap_arg *l = args[0].list;

		if (args[0].count % 2 != 0 || args[0].count > 60)
			return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid ID list.");
		for (i = 0; i < args[0].count; i += 2) {
			if ((l[i].type != IMAP_ARG_STRING && l[i].type != IMAP_ARG_LITERAL) ||
			    l[i].len > 30 ||
			    (l[i + 1].type != IMAP_ARG_NIL && l[i + 1].type != IMAP_ARG_STRING &&
			     l[i + 1].type != IMAP_ARG_LITERAL) ||
			    l[i + 1].len > 1024)
				return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid ID list.");
		}
	}
	imap_reply_untagged(out, "ID (\"name\" \"osd\")");
	return imap_reply_tagged(s, out, tag, "OK", NULL, "ID completed.");
}

/* ENABLE (RFC 5161): CONDSTORE (RFC 7162 section 3.1) is the one osd has; unknown ones are ignored. */
unsigned
imap_cmd_enable(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		bool uid, struct buf *out)
{
	bool condstore = false;
	size_t i;

	(void)uid;
	if (n == 0)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "ENABLE needs capability names.");
	for (i = 0; i < n; i++) {
		if (args[i].type != IMAP_ARG_ATOM)
			return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid capability name.");
		if (args[i].len == 9 && strncasecmp(args[i].str, "CONDSTORE", 9) == 0)
			condstore = true;
	}
	/* "* ENABLED" names only what this command turned on (RFC 5161 section 3.2). */
	if (condstore && !(s->enabled & IMAP_EXT_CONDSTORE)) {
		imap_condstore_enable(s, out);
		imap_reply_untagged(out, "ENABLED CONDSTORE");
		return imap_reply_tagged(s, out, tag, "OK", NULL, "ENABLE completed.");
	}
	imap_reply_untagged(out, "ENABLED");
	return imap_reply_tagged(s, out, tag, "OK", NULL, "ENABLE completed.");
}

unsigned
imap_cmd_namespace(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		   bool uid, struct buf *out)
{
	(void)args;
	(void)uid;
	if (n != 0)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "NAMESPACE takes no arguments.");
	/* One personal namespace, Maildir++'s: no prefix, "." between levels. */
	imap_reply_untagged(out, "NAMESPACE ((\"\" \".\")) NIL NIL");
	return imap_reply_tagged(s, out, tag, "OK", NULL, "NAMESPACE completed.");
}

/* The session's clock in ms (cfg.clock_ms, else the monotonic clock). */
static long long
session_now(const struct imap_session *s)
{
	return s->cfg.clock_ms != NULL ? s->cfg.clock_ms(s->cfg.ctx) : monotonic_ms();
}

/*
 * Watch the selected folder's new/ and cur/: deliveries, flag changes and
 * removals by others.  The fd, or -1 with errno (0: there is nothing to
 * watch, or a path too long: the folder is polled as well).
 */
static int
watch_folder(const struct imap_session *s, const char **what_r)
{
	static const char *const subdirs[] = { "new", "cur" };
	char dir[PATH_MAX], sub[PATH_MAX];
	int fd, i, e;

	*what_r = "inotify_init1";
	if (s->cfg.idle_inotify_errno != 0) {
		errno = s->cfg.idle_inotify_errno;
		return -1;
	}
	errno = 0;
	if (strcasecmp(s->mb_name, "INBOX") == 0) {
		if (snprintf(dir, sizeof(dir), "%s", s->root) >= (int)sizeof(dir))
			return -1;
	} else if (snprintf(dir, sizeof(dir), "%s/.%s", s->root, s->mb_name) >= (int)sizeof(dir)) {
		return -1;
	}
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		return -1;
	*what_r = "inotify_add_watch";
	for (i = 0; i < 2; i++) {
		if (path_join(sub, sizeof(sub), dir, subdirs[i]) == -1) {
			(void)close(fd);
			errno = 0;
			return -1;
		}
		if (inotify_add_watch(fd, sub, IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
						       IN_ATTRIB | IN_ONLYDIR) == -1) {
			e = errno;
			(void)close(fd);
			errno = e;
			return -1;
		}
	}
	return fd;
}

/* Read every event queued on the watch; true when there was one (the folder changed). */
static bool
drain_watch(struct imap_session *s)
{
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;

	if (s->wake_fd == -1)
		return false;
	while (read(s->wake_fd, events, sizeof(events)) > 0)
		any = true;
	return any;
}

/*
 * Start watching the selected folder for IDLE, or fall back to polling it
 * every idle_poll_ms (Dovecot's mailbox_idle_check_interval) when inotify
 * is off or fails.  The first failure in a session is logged (the bits
 * get IMAP_ACT_ERROR): past fs.inotify.max_user_instances (128 by
 * default, for every process of the user imapd runs as) inotify_init1
 * fails with EMFILE, past max_user_watches inotify_add_watch with ENOSPC,
 * and IDLE would otherwise never hear of new mail.
 */
static unsigned
idle_watch(struct imap_session *s, long long now)
{
	const char *what = "";
	int e;

	s->idle_polling = false;
	if (s->mb == NULL || s->root == NULL || s->mb_name == NULL)
		return 0;               /* IDLE without a folder: only the keepalive */
	if (s->wake_fd != -1) {
		/* Kept from an earlier IDLE in this folder: what it saw since is in the sync that follows. */
		(void)drain_watch(s);
		return 0;
	}
	s->idle_polling = true;
	s->idle_next_poll = monotonic_after(now, s->cfg.idle_poll_ms);
	if (s->cfg.idle_no_inotify)
		return 0;
	if ((s->wake_fd = watch_folder(s, &what)) != -1) {
		s->idle_polling = false;
		return 0;
	}
	e = errno;
	if (s->idle_warned || e == 0)
		return 0;
	s->idle_warned = true;
	imap_set_error(s, "IDLE: %s: %s: polling the folder every %d ms instead; raise the "
		       "sysctl fs.inotify.max_user_instances (EMFILE) or fs.inotify.max_user_watches "
		       "(ENOSPC) for the user imapd runs as",
		       what, strerror(e), s->cfg.idle_poll_ms);
	return IMAP_ACT_ERROR;
}

/* IDLE (RFC 2177): "+ idling", then the changes as they come, until DONE. */
unsigned
imap_cmd_idle(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	      bool uid, struct buf *out)
{
	long long now = session_now(s);
	unsigned act;

	(void)args;
	(void)uid;
	if (n != 0)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "IDLE takes no arguments.");
	if (snprintf(s->idle_tag, sizeof(s->idle_tag), "%s", tag) >= (int)sizeof(s->idle_tag))
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Tag too long.");
	act = idle_watch(s, now);
	s->mode = IMAP_MODE_IDLE;
	s->idle_next_keepalive = monotonic_after(now, s->cfg.idle_keepalive_ms);
	(void)buf_append_str(out, "+ idling\r\n");
	/* What changed since the last command is told at once. */
	if (imap_sync_untagged(s, out, true) == -1)
		return IMAP_ACT_ERROR | imap_session_bye(s, out, "[SERVERBUG] Mailbox cannot be read, closing.");
	return act | IMAP_ACT_IDLE;
}

unsigned
imap_idle_line(struct imap_session *s, const char *line, size_t len, struct buf *out)
{
	bool done = len == 4 && strncasecmp(line, "DONE", 4) == 0;

	/* The watch stays for the next IDLE in this folder (its events are drained then). */
	s->idle_polling = false;
	s->mode = IMAP_MODE_COMMAND;
	/* s->cmd is still IDLE's row: the tagged reply syncs as any command's. */
	if (!done) {
		s->cmd = NULL;
		return imap_reply_tagged(s, out, s->idle_tag, "BAD", NULL, "Expected DONE.");
	}
	{
		unsigned act = imap_reply_tagged(s, out, s->idle_tag, "OK", NULL, "Idle completed.");

		s->cmd = NULL;
		return act;
	}
}

unsigned
imap_session_woken(struct imap_session *s, struct buf *out)
{
	long long now = session_now(s);
	size_t before = out->len;
	bool changed;

	if (s->mode != IMAP_MODE_IDLE)
		return 0;
	/* Drain: one sync covers every event so far. */
	changed = drain_watch(s);
	if (s->idle_polling && now >= s->idle_next_poll) {
		changed = true;
		s->idle_next_poll = monotonic_after(now, s->cfg.idle_poll_ms);
	}
	if (changed && imap_sync_untagged(s, out, true) == -1)
		return IMAP_ACT_ERROR | imap_session_bye(s, out, "[SERVERBUG] Mailbox cannot be read, closing.");
	/*
	 * Dovecot's imap_idle_notify_interval: NAT boxes and firewalls drop a
	 * connection silent for long.  This is the server's output only: the
	 * client's autologout timer goes on (the loop restarts it on lines).
	 */
	if (out->len == before && now >= s->idle_next_keepalive)
		imap_reply_untagged(out, "OK Still here");
	if (out->len != before)
		s->idle_next_keepalive = monotonic_after(now, s->cfg.idle_keepalive_ms);
	return IMAP_ACT_IDLE;
}

int
imap_session_wake_ms(struct imap_session *s)
{
	long long at, now;

	if (s->mode != IMAP_MODE_IDLE)
		return -1;
	at = s->idle_next_keepalive;
	if (s->idle_polling && s->idle_next_poll < at)
		at = s->idle_next_poll;
	now = session_now(s);
	return at <= now ? 0 : monotonic_wait_ms(now, INT32_MAX, at);
}
