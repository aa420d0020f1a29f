/* imap_session_int.h - what the session's files share: the session's fields, the command table contract, and the helpers every command handler uses (tagged replies, strings, the sync report); only imapd/ files include it. */
#ifndef OSD_IMAP_SESSION_INT_H
#define OSD_IMAP_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cram.h"
#include "imap_mailbox.h"
#include "imap_parser.h"
#include "imap_session.h"
#include "sasl.h"

/*
 * The command table contract
 * --------------------------
 * imap_commands.c holds imap_commands[]: one row per command name.  The
 * session (imap_session.c) parses a command, finds its row (name without
 * case), checks the state against row->states (else "BAD Command not
 * allowed in this state"), sets s->cmd to the row, and calls
 * row->run(s, tag, args, n, uid, out) with the arguments after the name.
 * UID is a row of its own: "UID FETCH ..." runs FETCH's row with uid true,
 * when that row has IMAP_CMD_UID_OK (else BAD).
 *
 * A handler:
 *  - checks its arguments: a syntax error is imap_reply_tagged(s, out,
 *    tag, "BAD", NULL, "...") (which counts the BAD against
 *    max_bad_commands and may add IMAP_ACT_CLOSE to the bits it returns);
 *  - writes its untagged replies into out ("* LIST ...", "* 3 FETCH ...");
 *  - ends with exactly one imap_reply_tagged(s, out, tag, "OK"/"NO", code,
 *    fmt, ...), or returns IMAP_ACT_STREAM having set s->stream (below)
 *    which ends so;
 *  - returns the imap_action bits of imap_reply_tagged (| anything more,
 *    rarely: LOGOUT's IMAP_ACT_CLOSE).
 * In the selected state, imap_reply_tagged with "OK" or "NO" first syncs
 * the mailbox and writes the untagged EXISTS / RECENT / EXPUNGE / FETCH
 * FLAGS (imap_sync_untagged), with expunges reported unless s->cmd has
 * IMAP_CMD_NO_EXPUNGE (FETCH, STORE, SEARCH and their UID forms, RFC
 * 3501 section 7.4.1).  So handlers never sync themselves, except to
 * look at the mailbox as it is now before acting (SELECT opens, EXPUNGE
 * expunges, then the tagged reply reports).
 *
 * Handlers never log and never touch sockets; a failure on the server's
 * side is imap_set_error(s, ...) plus a NO (and IMAP_ACT_ERROR in the
 * bits, so that the serve code logs imap_session_error()).
 */

/* The states, as bits of imap_command.states. */
enum imap_state {
	IMAP_ST_NOTAUTH = 1u << 0,
	IMAP_ST_AUTH = 1u << 1,
	IMAP_ST_SELECTED = 1u << 2,
	IMAP_ST_LOGOUT = 1u << 3        /* after LOGOUT, a fatal error, a timeout */
};
#define IMAP_ST_ANY (IMAP_ST_NOTAUTH | IMAP_ST_AUTH | IMAP_ST_SELECTED)
#define IMAP_ST_LOGGED_IN (IMAP_ST_AUTH | IMAP_ST_SELECTED)

/* imap_command.flags */
#define IMAP_CMD_UID_OK         (1u << 0)       /* "UID name ..." runs this row with uid true */
#define IMAP_CMD_NO_EXPUNGE     (1u << 1)       /* sync without reporting expunges (FETCH, STORE, SEARCH) */

struct imap_command {
	const char *name;               /* upper case: "SELECT" */
	unsigned states;                /* imap_state bits in which it may run */
	unsigned flags;                 /* IMAP_CMD_* */
	/* args[0..n): the arguments after the name (after "UID name" for UID forms). */
	unsigned (*run)(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
			bool uid, struct buf *out);
};

/* The table (imap_commands.c) and its length. */
extern const struct imap_command imap_commands[];
extern const size_t imap_commands_count;

/* Extensions a client turned on with ENABLE (RFC 5161), bits of imap_session.enabled. */
#define IMAP_EXT_CONDSTORE      (1u << 0)
#define IMAP_EXT_QRESYNC        (1u << 1)
#define IMAP_EXT_UTF8_ACCEPT    (1u << 2)

/* What the session is doing between lines. */
enum imap_mode {
	IMAP_MODE_COMMAND,              /* lines are commands (or the lines of one with literals) */
	IMAP_MODE_SASL,                 /* AUTHENTICATE sent "+ challenge": a line is the response */
	IMAP_MODE_IDLE                  /* IDLE: a line must be DONE */
};

struct imap_session {
	struct imap_session_config cfg;
	unsigned state;                 /* one imap_state bit */
	enum imap_mode mode;
	struct imap_parser *parser;
	const struct imap_command *cmd; /* the command running (its row); NULL between commands */

	/* authenticated */
	char user[SASL_FIELD_MAX + 1];  /* the login name (also while logging in, for the log) */
	char *root;                     /* the user's Maildir root (malloc'd), after login */
	unsigned enabled;               /* IMAP_EXT_* */

	/* selected: set with imap_session_select, cleared with imap_session_unselect */
	struct imap_mailbox *mb;
	char *mb_name;                  /* the folder's name as selected ("INBOX", "Lists.osd") */
	bool readonly;                  /* EXAMINE, or a read-only folder */
	unsigned flags_announced;       /* keywords in the last FLAGS line sent (imap_write_flags_lines) */
	uint32_t exists_announced;      /* the last EXISTS count the client heard (at select, then each sync) */

	/*
	 * A long reply in progress (IMAP_ACT_STREAM): imap_session_stream
	 * calls stream(s, out) until it returns without IMAP_ACT_STREAM,
	 * then calls stream_free(stream_ctx) if set.  The last call must end
	 * with the tagged reply.  tag is kept in stream_tag.
	 */
	unsigned (*stream)(struct imap_session *s, struct buf *out);
	void (*stream_free)(void *ctx);
	void *stream_ctx;
	char stream_tag[128];

	/* AUTHENTICATE in progress */
	struct sasl_server sasl;
	char sasl_tag[128];
	char cram_text[CRAM_CHALLENGE_SIZE];

	/* handoff mode: the tag of the command that logged in at the backend */
	char handoff_tag[128];

	/* IDLE */
	char idle_tag[128];
	/*
	 * inotify on the selected folder's new/ and cur/, -1: none.  Made at
	 * the first IDLE in the folder and kept until it is closed, so that
	 * repeated IDLEs do not churn the user's inotify instances.
	 */
	int wake_fd;
	bool idle_polling;              /* this IDLE polls the folder (no inotify) */
	bool idle_warned;               /* the inotify failure was logged (once a session) */
	long long idle_next_poll;       /* clock_ms: when to sync a polled folder next */
	long long idle_next_keepalive;  /* clock_ms: when to say "* OK Still here" */

	unsigned bad_commands;
	unsigned auth_failures;
	char error[256];
};

/* The tagged reply: "tag OK [code] text"; see the contract above.  cond is "OK", "NO" or "BAD". */
unsigned imap_reply_tagged(struct imap_session *s, struct buf *out, const char *tag, const char *cond,
			   const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* An untagged reply line "* " fmt CRLF. */
void imap_reply_untagged(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Set the text imap_session_error() returns (for the log, never to the client). */
void imap_set_error(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Strings in replies (RFC 3501 section 4.3): a quoted string when the
 * octets allow it (no CR, LF, NUL, nor 8-bit), else a literal {n}.
 * astring: an atom when it is one (and not "NIL"), else as string.
 * nstring: NIL for NULL.
 */
void imap_write_string(struct buf *out, const char *str, size_t len);
/* Can len octets go in a quoted string?  No CR, LF, NUL, no 8-bit, and not too long to read. */
bool imap_quotable(const char *str, size_t len);
void imap_write_astring(struct buf *out, const char *str);
void imap_write_nstring(struct buf *out, const char *str);
void imap_write_quoted(struct buf *out, const char *str, size_t len);   /* only when the octets allow it */
void imap_write_literal(struct buf *out, const char *str, size_t len);

/* The capability list after "CAPABILITY " (no CRLF), as the session's state and TLS make it. */
void imap_write_capability(const struct imap_session *s, struct buf *out);

/*
 * Sync the selected mailbox and write the untagged replies of its changes
 * ("* n EXPUNGE", "* n EXISTS", "* n RECENT", FLAGS / PERMANENTFLAGS,
 * "* n FETCH (FLAGS (...))").  Nothing when no mailbox is selected.
 * imap_reply_tagged calls it; handlers rarely need to.  -1 when the sync
 * failed (error set; the mailbox is no longer usable).
 */
int imap_sync_untagged(struct imap_session *s, struct buf *out, bool report_expunges);

/*
 * A CONDSTORE enabling command (RFC 7162 section 3.1: ENABLE CONDSTORE,
 * SELECT/EXAMINE (CONDSTORE), STATUS (HIGHESTMODSEQ), FETCH MODSEQ or
 * CHANGEDSINCE, SEARCH MODSEQ, STORE UNCHANGEDSINCE): from now on every
 * untagged FETCH has MODSEQ.  The first one while a folder is selected
 * writes "* OK [HIGHESTMODSEQ n] Highest" into out.
 */
void imap_condstore_enable(struct imap_session *s, struct buf *out);

/* The FLAGS and OK [PERMANENTFLAGS ...] untagged lines of the selected mailbox (SELECT, new keywords). */
void imap_write_flags_lines(struct imap_session *s, struct buf *out);

/*
 * Make mb (opened by SELECT/EXAMINE) the selected mailbox, named name,
 * state selected; a mailbox selected before is closed first.  The session
 * owns mb afterwards.
 */
void imap_session_select(struct imap_session *s, struct imap_mailbox *mb, const char *name,
			 bool readonly);

/* Close the selected mailbox (CLOSE, UNSELECT, a failed SELECT): state authenticated. */
void imap_session_unselect(struct imap_session *s);

/* Drop a long reply in progress (stream_free called); stop watching the folder (IDLE). */
void imap_session_stream_end(struct imap_session *s);
void imap_session_wake_close(struct imap_session *s);

/* End the session: "* BYE text", state logout; returns IMAP_ACT_CLOSE (LOGOUT, a mailbox gone bad). */
unsigned imap_session_bye(struct imap_session *s, struct buf *out, const char *text);

/* Count a BAD answer: after max_bad_commands, "* BYE" and IMAP_ACT_CLOSE (imap_reply_tagged calls it). */
unsigned imap_session_count_bad(struct imap_session *s, struct buf *out);

/* May LOGIN, AUTHENTICATE PLAIN and LOGIN be used now (TLS, allowed loopback, or imap_plaintext)? */
bool imap_plaintext_ok(const struct imap_session *s);

/* A line while AUTHENTICATE waits for the client's response (imap_cmd_auth.c). */
unsigned imap_auth_continue(struct imap_session *s, const char *line, size_t len, struct buf *out);

/* A line during IDLE: DONE ends it (imap_cmd_any.c). */
unsigned imap_idle_line(struct imap_session *s, const char *line, size_t len, struct buf *out);

/*
 * The handlers.  imap_cmd_any.c / imap_cmd_auth.c (imap-core): any state
 * and the not-authenticated state.  The rest (imap_cmd_*.c, imap-cmds):
 * the authenticated and selected states; EXAMINE is SELECT's handler
 * with s->cmd->name "EXAMINE"; LSUB is LIST's with "LSUB"; UNSUBSCRIBE
 * SUBSCRIBE's; UID EXPUNGE is EXPUNGE's with uid true.
 */
unsigned imap_cmd_capability(struct imap_session *s, const char *tag, const struct imap_arg *args,
			     size_t n, bool uid, struct buf *out);
unsigned imap_cmd_noop(struct imap_session *s, const char *tag, const struct imap_arg *args,
		       size_t n, bool uid, struct buf *out);
unsigned imap_cmd_logout(struct imap_session *s, const char *tag, const struct imap_arg *args,
			 size_t n, bool uid, struct buf *out);
unsigned imap_cmd_id(struct imap_session *s, const char *tag, const struct imap_arg *args,
		     size_t n, bool uid, struct buf *out);
unsigned imap_cmd_enable(struct imap_session *s, const char *tag, const struct imap_arg *args,
			 size_t n, bool uid, struct buf *out);
unsigned imap_cmd_namespace(struct imap_session *s, const char *tag, const struct imap_arg *args,
			    size_t n, bool uid, struct buf *out);
unsigned imap_cmd_idle(struct imap_session *s, const char *tag, const struct imap_arg *args,
		       size_t n, bool uid, struct buf *out);
unsigned imap_cmd_starttls(struct imap_session *s, const char *tag, const struct imap_arg *args,
			   size_t n, bool uid, struct buf *out);
unsigned imap_cmd_login(struct imap_session *s, const char *tag, const struct imap_arg *args,
			size_t n, bool uid, struct buf *out);
unsigned imap_cmd_authenticate(struct imap_session *s, const char *tag, const struct imap_arg *args,
			       size_t n, bool uid, struct buf *out);

unsigned imap_cmd_select(struct imap_session *s, const char *tag, const struct imap_arg *args,
			 size_t n, bool uid, struct buf *out);
unsigned imap_cmd_create(struct imap_session *s, const char *tag, const struct imap_arg *args,
			 size_t n, bool uid, struct buf *out);
unsigned imap_cmd_delete(struct imap_session *s, const char *tag, const struct imap_arg *args,
			 size_t n, bool uid, struct buf *out);
unsigned imap_cmd_rename(struct imap_session *s, const char *tag, const struct imap_arg *args,
			 size_t n, bool uid, struct buf *out);
unsigned imap_cmd_subscribe(struct imap_session *s, const char *tag, const struct imap_arg *args,
			    size_t n, bool uid, struct buf *out);
unsigned imap_cmd_list(struct imap_session *s, const char *tag, const struct imap_arg *args,
		       size_t n, bool uid, struct buf *out);
unsigned imap_cmd_status(struct imap_session *s, const char *tag, const struct imap_arg *args,
			 size_t n, bool uid, struct buf *out);
unsigned imap_cmd_append(struct imap_session *s, const char *tag, const struct imap_arg *args,
			 size_t n, bool uid, struct buf *out);
unsigned imap_cmd_check(struct imap_session *s, const char *tag, const struct imap_arg *args,
			size_t n, bool uid, struct buf *out);
unsigned imap_cmd_close(struct imap_session *s, const char *tag, const struct imap_arg *args,
			size_t n, bool uid, struct buf *out);
unsigned imap_cmd_unselect(struct imap_session *s, const char *tag, const struct imap_arg *args,
			   size_t n, bool uid, struct buf *out);
unsigned imap_cmd_expunge(struct imap_session *s, const char *tag, const struct imap_arg *args,
			  size_t n, bool uid, struct buf *out);
unsigned imap_cmd_search(struct imap_session *s, const char *tag, const struct imap_arg *args,
			 size_t n, bool uid, struct buf *out);
unsigned imap_cmd_fetch(struct imap_session *s, const char *tag, const struct imap_arg *args,
			size_t n, bool uid, struct buf *out);
unsigned imap_cmd_store(struct imap_session *s, const char *tag, const struct imap_arg *args,
			size_t n, bool uid, struct buf *out);
unsigned imap_cmd_copy(struct imap_session *s, const char *tag, const struct imap_arg *args,
		       size_t n, bool uid, struct buf *out);
unsigned imap_cmd_move(struct imap_session *s, const char *tag, const struct imap_arg *args,
		       size_t n, bool uid, struct buf *out);

#endif
