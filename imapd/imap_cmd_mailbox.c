/* imap_cmd_mailbox.c - the commands of the authenticated state on mailboxes: SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST/LSUB, STATUS, APPEND (RFC 3501 section 6.3, RFC 5258, RFC 4315). */
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "ascii.h"
#include "imap_cmd.h"
#include "imap_date.h"
#include "imap_flags.h"
#include "imap_folders.h"
#include "imap_list.h"
#include "imap_session_int.h"
#include "maildir_tmp.h"
#include "path.h"
#include "xmalloc.h"

const char *
imap_cmd_printable(const char *name, char *buf, size_t size)
{
	/* A name is echoed in a reply line: nothing in it may end the line or confuse a terminal. */
	ascii_sanitize(buf, size, name, strlen(name), ASCII_KEEP_PRINTABLE, '?');
	return buf;
}

unsigned
imap_cmd_mailbox_error(struct imap_session *s, struct buf *out, const char *tag, const char *name,
		       const char *error, const char *code)
{
	char shown[IMAP_CMD_NAME_SHOWN];

	if (code != NULL && (strcmp(code, "NONEXISTENT") == 0 || strcmp(code, "TRYCREATE") == 0))
		return imap_reply_tagged(s, out, tag, "NO", code, "Mailbox doesn't exist: %s",
					 imap_cmd_printable(name, shown, sizeof(shown)));
	if (code != NULL && strcmp(code, "SERVERBUG") == 0) {
		imap_set_error(s, "%s: %s", imap_cmd_printable(name, shown, sizeof(shown)),
			       error != NULL ? error : "failed");
		return imap_reply_tagged(s, out, tag, "NO", code, "Internal error occurred.") |
		       IMAP_ACT_ERROR;
	}
	return imap_reply_tagged(s, out, tag, "NO", code, "%s", error != NULL ? error : "Failed.");
}

/* The one mailbox name argument of a command: NULL (after BAD) when there is none. */
static const char *
one_name(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	 struct buf *out, unsigned *act_r)
{
	const char *name = n == 1 ? imap_arg_astring(&args[0]) : NULL;

	if (name == NULL)
		*act_r = imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid arguments.");
	return name;
}

/* Is name the selected mailbox (INBOX without case)? */
static bool
is_selected(const struct imap_session *s, const char *name)
{
	if (s->mb == NULL || s->mb_name == NULL)
		return false;
	if (strcasecmp(name, "INBOX") == 0)
		return strcasecmp(s->mb_name, "INBOX") == 0;
	return strcmp(s->mb_name, name) == 0;
}

unsigned
imap_cmd_select(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		bool uid, struct buf *out)
{
	bool examine = strcmp(s->cmd->name, "EXAMINE") == 0;
	struct imap_mailbox *mb;
	const char *name, *error = NULL, *code = NULL;
	uint32_t count, unseen = 0;
	unsigned act = 0;
	bool condstore = false;

	(void)uid;
	/* select = "SELECT" SP mailbox [SP "(" select-param *(SP select-param) ")"] (RFC 4466, RFC 7162 section 3.1.8). */
	if (n == 2 && args[1].type == IMAP_ARG_LIST) {
		for (size_t i = 0; i < args[1].count; i++) {
			const struct imap_arg *p = &args[1].list[i];

			if (p->type != IMAP_ARG_ATOM || p->len != 9 || strncasecmp(p->str, "CONDSTORE", 9) != 0)
				return imap_reply_tagged(s, out, tag, "BAD", NULL, "Unknown %s parameter.",
							 examine ? "EXAMINE" : "SELECT");
			condstore = true;
		}
		n = 1;
	}
	if ((name = one_name(s, tag, args, n, out, &act)) == NULL)
		return act;
	/* RFC 3501 section 6.3.1: the selected mailbox is closed first, even if this SELECT fails; RFC 7162 section 3.2.11 CLOSED. */
	if (s->mb != NULL) {
		imap_session_unselect(s);
		imap_reply_untagged(out, "OK [CLOSED] Previous mailbox closed.");
	}
	if (imap_mailbox_open(s->root, name, examine, &mb, &error, &code) == -1)
		return imap_cmd_mailbox_error(s, out, tag, name, error, code);
	imap_session_select(s, mb, name, examine || imap_mailbox_readonly(mb));
	/* The reader cleans up after interrupted deliveries and APPENDs (maildir(5); Dovecot does it at open). */
	(void)maildir_tmp_clean(imap_mailbox_dir(mb), s->cfg.maildir_tmp_max_age, time(NULL));
	/* A CONDSTORE enabling command (RFC 7162 section 3.1); HIGHESTMODSEQ is told below anyway. */
	if (condstore)
		s->enabled |= IMAP_EXT_CONDSTORE;
	/* The order Dovecot answers in: FLAGS, PERMANENTFLAGS, EXISTS, RECENT, UNSEEN, UIDVALIDITY, UIDNEXT. */
	imap_write_flags_lines(s, out);
	count = imap_mailbox_count(mb);
	imap_reply_untagged(out, "%u EXISTS", (unsigned)count);
	imap_reply_untagged(out, "%u RECENT", (unsigned)imap_mailbox_recent(mb));
	for (uint32_t seq = 1; seq <= count; seq++) {
		const struct imap_msg *m = imap_mailbox_msg(mb, seq);

		if (m != NULL && !(m->flags & IMAP_FLAG_SEEN)) {
			unseen = seq;
			break;
		}
	}
	if (unseen != 0)
		imap_reply_untagged(out, "OK [UNSEEN %u] First unseen.", (unsigned)unseen);
	imap_reply_untagged(out, "OK [UIDVALIDITY %u] UIDs valid", (unsigned)imap_mailbox_uidvalidity(mb));
	imap_reply_untagged(out, "OK [UIDNEXT %u] Predicted next UID", (unsigned)imap_mailbox_uidnext(mb));
	/* RFC 7162 section 3.1.2.1: on every SELECT/EXAMINE of a folder whose modseqs persist (all of osd's). */
	imap_reply_untagged(out, "OK [HIGHESTMODSEQ %llu] Highest",
			    (unsigned long long)imap_mailbox_highest_modseq(mb));
	return imap_reply_tagged(s, out, tag, "OK", s->readonly ? "READ-ONLY" : "READ-WRITE", "%s completed.",
				 examine ? "Examine" : "Select");
}

unsigned
imap_cmd_create(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		bool uid, struct buf *out)
{
	const char *name, *error = NULL, *code = NULL;
	unsigned act = 0;
	char *trimmed;
	size_t len;
	int r;

	(void)uid;
	if ((name = one_name(s, tag, args, n, out, &act)) == NULL)
		return act;
	/* RFC 3501 section 6.3.3: a trailing separator says a parent is wanted; Maildir++ makes no difference. */
	len = strlen(name);
	trimmed = xstrndup(name, len > 0 && name[len - 1] == IMAP_LIST_SEP ? len - 1 : len);
	r = imap_folder_create(s->root, trimmed, &error, &code);
	free(trimmed);
	if (r == -1)
		return imap_cmd_mailbox_error(s, out, tag, name, error, code);
	return imap_reply_tagged(s, out, tag, "OK", NULL, "Create completed.");
}

unsigned
imap_cmd_delete(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		bool uid, struct buf *out)
{
	const char *name, *error = NULL, *code = NULL;
	unsigned act = 0;

	(void)uid;
	if ((name = one_name(s, tag, args, n, out, &act)) == NULL)
		return act;
	/* Deleting the selected mailbox closes it first, as Dovecot does. */
	if (is_selected(s, name))
		imap_session_unselect(s);
	if (imap_folder_delete(s->root, name, &error, &code) == -1)
		return imap_cmd_mailbox_error(s, out, tag, name, error, code);
	return imap_reply_tagged(s, out, tag, "OK", NULL, "Delete completed.");
}

/*
 * After RENAME from to: when the selected folder was from or under it, it
 * goes on under its new name (its view, UIDs and UIDVALIDITY kept, as the
 * folder keeps its list).  RENAME INBOX leaves INBOX where it is (empty).
 */
static void
follow_rename(struct imap_session *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to);
	char *name;

	/* The names as imap_folder_rename took them: a trailing '.' dropped. */
	if (fl > 0 && from[fl - 1] == IMAP_LIST_SEP)
		fl--;
	if (tl > 0 && to[tl - 1] == IMAP_LIST_SEP)
		tl--;
	if (s->mb == NULL || s->mb_name == NULL || strcasecmp(s->mb_name, "INBOX") == 0 ||
	    strncmp(s->mb_name, from, fl) != 0 || (s->mb_name[fl] != '\0' && s->mb_name[fl] != IMAP_LIST_SEP))
		return;
	name = xmalloc(tl + strlen(s->mb_name + fl) + 1);
	memcpy(name, to, tl);
	memcpy(name + tl, s->mb_name + fl, strlen(s->mb_name + fl) + 1);
	if (imap_mailbox_moved(s->mb, name) == 0) {
		free(s->mb_name);
		s->mb_name = name;
	} else {
		free(name);
	}
}

unsigned
imap_cmd_rename(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		bool uid, struct buf *out)
{
	const char *from, *to, *error = NULL, *code = NULL;

	(void)uid;
	if (n != 2 || (from = imap_arg_astring(&args[0])) == NULL ||
	    (to = imap_arg_astring(&args[1])) == NULL)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid arguments.");
	if (imap_folder_rename(s->root, from, to, &error, &code) == -1)
		return imap_cmd_mailbox_error(s, out, tag, from, error, code);
	follow_rename(s, from, to);
	return imap_reply_tagged(s, out, tag, "OK", NULL, "Rename completed.");
}

/* Does folder name have a Maildir (its cur/)? */
static bool
folder_exists(const char *root, const char *name)
{
	char dir[PATH_MAX], cur[PATH_MAX];
	struct stat st;

	return imap_folder_dir(root, name, dir, sizeof(dir)) == 0 &&
	       path_join(cur, sizeof(cur), dir, "cur") == 0 && stat(cur, &st) == 0 && S_ISDIR(st.st_mode);
}

unsigned
imap_cmd_subscribe(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		   bool uid, struct buf *out)
{
	bool subscribe = strcmp(s->cmd->name, "UNSUBSCRIBE") != 0;
	const char *name, *error = NULL;
	unsigned act = 0;

	(void)uid;
	if ((name = one_name(s, tag, args, n, out, &act)) == NULL)
		return act;
	if (!imap_folder_name_ok(name))
		return imap_reply_tagged(s, out, tag, "NO", NULL, "Invalid mailbox name.");
	/* Only what exists can be subscribed (RFC 3501 section 6.3.6 allows the check; Dovecot makes it). */
	if (subscribe && !folder_exists(s->root, name))
		return imap_cmd_mailbox_error(s, out, tag, name, NULL, "NONEXISTENT");
	if (imap_folder_subscribe(s->root, name, subscribe, &error) == -1)
		return imap_cmd_mailbox_error(s, out, tag, name, error, NULL);
	return imap_reply_tagged(s, out, tag, "OK", NULL, "%s completed.",
				 subscribe ? "Subscribe" : "Unsubscribe");
}

/* LIST RETURN (STATUS): the STATUS line of one listed mailbox, nothing when it cannot be had (RFC 5819). */
static void
list_status(void *ctx, const char *name, unsigned items, struct buf *out)
{
	struct imap_session *s = ctx;
	struct imap_folder_status st;
	const char *error, *code;

	if (imap_folder_status(s->root, name, &st, &error, &code) == 0)
		imap_status_write(out, name, items, &st);
}

unsigned
imap_cmd_list(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	      bool uid, struct buf *out)
{
	bool lsub = strcmp(s->cmd->name, "LSUB") == 0;
	struct imap_folder *v = NULL;
	struct imap_list_cmd cmd;
	const char *error = NULL;
	size_t count = 0;

	(void)uid;
	if (imap_list_parse(args, n, lsub, &cmd, &error) == -1)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "%s", error);
	if (cmd.n_patterns > 0 && imap_folders_list(s->root, &v, &count, &error) == -1) {
		imap_list_cmd_free(&cmd);
		imap_set_error(s, "list of %s: %s", s->root, error != NULL ? error : "failed");
		return imap_reply_tagged(s, out, tag, "NO", "SERVERBUG", "Internal error occurred.") |
		       IMAP_ACT_ERROR;
	}
	imap_list_reply(&cmd, v, count, list_status, s, out);
	if (v != NULL)
		imap_folders_free(v, count);
	imap_list_cmd_free(&cmd);
	return imap_reply_tagged(s, out, tag, "OK", NULL, "%s completed.", lsub ? "Lsub" : "List");
}

unsigned
imap_cmd_status(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		bool uid, struct buf *out)
{
	struct imap_folder_status st;
	const char *name, *error = NULL, *code = NULL;
	unsigned items;

	(void)uid;
	if (n != 2 || (name = imap_arg_astring(&args[0])) == NULL)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid arguments.");
	if (imap_status_items_parse(&args[1], &items, &error) == -1)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "%s", error);
	/* RFC 7162 section 3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE enabling command. */
	if (items & IMAP_STATUS_HIGHESTMODSEQ)
		imap_condstore_enable(s, out);
	if (imap_folder_status(s->root, name, &st, &error, &code) == -1)
		return imap_cmd_mailbox_error(s, out, tag, name, error, code);
	imap_status_write(out, name, items, &st);
	return imap_reply_tagged(s, out, tag, "OK", NULL, "Status completed.");
}

unsigned
imap_cmd_append(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		bool uid, struct buf *out)
{
	struct imap_flag_list fl = { 0 };
	const char *name, *error = NULL, *code = NULL;
	const struct imap_arg *msg;
	time_t when = 0;
	uint32_t uidvalidity, new_uid;
	char appenduid[48];
	size_t i = 1;

	(void)uid;
	/* append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal (RFC 3501 section 9). */
	if (n < 2 || (name = imap_arg_astring(&args[0])) == NULL)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid arguments.");
	if (i < n - 1 && args[i].type == IMAP_ARG_LIST) {
		if (imap_flags_parse(&args[i], 1, &fl, &error) == -1)
			return imap_reply_tagged(s, out, tag, "BAD", NULL, "%s", error);
		i++;
	}
	if (i < n - 1 && args[i].type == IMAP_ARG_STRING) {
		if (!imap_date_parse_datetime(args[i].str, &when))
			return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid internal date.");
		i++;
	}
	msg = &args[i];
	/* One message: MULTIAPPEND (RFC 3502) and CATENATE (RFC 4469) are not offered. */
	if (i + 1 != n || msg->type != IMAP_ARG_LITERAL)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid arguments.");
	if (msg->len == 0)
		return imap_reply_tagged(s, out, tag, "NO", NULL, "Can't save a zero byte message.");
	if (imap_mailbox_append(s->root, name, msg->str, msg->len, fl.flags, fl.keywords, fl.n_keywords,
				when, &uidvalidity, &new_uid, &error, &code) == -1) {
		/* RFC 3501 section 6.3.11: a mailbox that does not exist is TRYCREATE for APPEND. */
		if (code != NULL && strcmp(code, "NONEXISTENT") == 0)
			code = "TRYCREATE";
		return imap_cmd_mailbox_error(s, out, tag, name, error, code);
	}
	snprintf(appenduid, sizeof(appenduid), "APPENDUID %u %u", (unsigned)uidvalidity,
		 (unsigned)new_uid);
	return imap_reply_tagged(s, out, tag, "OK", appenduid, "Append completed.");
}
