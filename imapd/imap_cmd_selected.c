/* imap_cmd_selected.c - the commands of the selected state: CHECK, CLOSE, UNSELECT, EXPUNGE, SEARCH, FETCH, STORE, COPY, MOVE and their UID forms (RFC 3501 section 6.4, RFC 4315, RFC 6851, RFC 3691). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "imap_cmd.h"
#include "imap_uidlist.h"
#include "imap_fetch.h"
#include "imap_flags.h"
#include "imap_search.h"
#include "imap_seqset.h"
#include "imap_session_int.h"
#include "xmalloc.h"

/* At most this many ranges in one sequence set (the line cap bounds it too). */
#define SEQSET_RANGES_MAX 100000

/* A FETCH reply is handed out in pieces of about this size (IMAP_ACT_STREAM). */
#define FETCH_CHUNK (256 * 1024)

/*
 * Messages expunged by another session but not yet reported keep their
 * numbers (RFC 3501 section 7.4.1).  FETCH and STORE skip them and end
 * "OK [EXPUNGEISSUED]" as Dovecot does; COPY and MOVE, all or nothing,
 * end "NO [EXPUNGEISSUED]" (RFC 5530), with Dovecot's words for each.
 */
#define EXPUNGEISSUED_OK_TEXT "Some messages were already expunged."
#define EXPUNGEISSUED_NO_TEXT "Some of the requested messages no longer exist."

/*
 * The messages that the sequence set a names (UIDs with uid), as
 * ascending sequence numbers in a malloc'd *seqs_r.  A message number
 * past the last message is an error (BAD), a UID that no message has is
 * left out (RFC 3501 section 6.4.8).
 */
static int
set_seqs(struct imap_mailbox *mb, const struct imap_arg *a, bool uid, uint32_t **seqs_r, size_t *n_r)
{
	uint32_t count = imap_mailbox_count(mb), star = count;
	struct imap_seqset set;
	uint32_t *seqs;
	size_t n = 0;

	if (a->type != IMAP_ARG_ATOM)
		return -1;
	if (uid)
		star = count > 0 ? imap_mailbox_msg(mb, count)->uid : 0;
	if (imap_seqset_parse(a->str, star, SEQSET_RANGES_MAX, &set) == -1)
		return -1;
	if (!uid && set.n > 0 && set.v[set.n - 1].hi > count) {
		imap_seqset_free(&set);
		return -1;
	}
	seqs = xcalloc(count > 0 ? count : 1, sizeof(*seqs));
	if (uid) {
		for (uint32_t seq = 1; seq <= count; seq++)
			if (imap_seqset_has(&set, imap_mailbox_msg(mb, seq)->uid))
				seqs[n++] = seq;
	} else {
		for (size_t i = 0; i < set.n; i++)
			for (uint64_t seq = set.v[i].lo; seq <= set.v[i].hi; seq++)
				seqs[n++] = (uint32_t)seq;
	}
	imap_seqset_free(&set);
	*seqs_r = seqs;
	*n_r = n;
	return 0;
}

/* "1:3,7" of ascending numbers v[0..n), as COPYUID writes its sets (RFC 4315 section 3). */
static void
write_uid_set(struct buf *out, const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (i > 0)
			(void)buf_append_char(out, ',');
		if (j == i)
			(void)buf_printf(out, "%u", (unsigned)v[i]);
		else
			(void)buf_printf(out, "%u:%u", (unsigned)v[i], (unsigned)v[j]);
		i = j + 1;
	}
}

/* A mod-sequence (RFC 7162 section 7: mod-sequence-valzer, 0 to 2^63-1) of an atom. */
static bool
modseq_arg(const struct imap_arg *a, uint64_t *v_r)
{
	return a->type == IMAP_ARG_ATOM && a->len <= 19 && decimal_parse(a->str, a->len, IMAP_MODSEQ_MAX, v_r) == 0;
}

/*
 * The modifier list of FETCH or STORE (RFC 4466): one "name value" pair
 * named name (CHANGEDSINCE, UNCHANGEDSINCE), its value in *v_r.  false:
 * anything else (a BAD; VANISHED too: QRESYNC is not offered).
 */
static bool
modifier_arg(const struct imap_arg *list, const char *name, uint64_t *v_r)
{
	size_t len = strlen(name);

	return list->type == IMAP_ARG_LIST && list->count == 2 && list->list[0].type == IMAP_ARG_ATOM &&
	       list->list[0].len == len && strncasecmp(list->list[0].str, name, len) == 0 &&
	       modseq_arg(&list->list[1], v_r);
}

static unsigned
bad_set(struct imap_session *s, const char *tag, struct buf *out)
{
	return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid messageset");
}

static unsigned
read_only(struct imap_session *s, const char *tag, struct buf *out)
{
	return imap_reply_tagged(s, out, tag, "NO", NULL, "Mailbox is read-only.");
}

/* A failure on the server's side (the error set for the log): NO [SERVERBUG]. */
static unsigned
server_error(struct imap_session *s, const char *tag, struct buf *out)
{
	return imap_reply_tagged(s, out, tag, "NO", "SERVERBUG", "Internal error occurred.") | IMAP_ACT_ERROR;
}

static unsigned
no_args(struct imap_session *s, const char *tag, size_t n, struct buf *out)
{
	return n != 0 ? imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid arguments.") : 0;
}

unsigned
imap_cmd_check(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	       bool uid, struct buf *out)
{
	(void)args;
	(void)uid;
	if (n != 0)
		return no_args(s, tag, n, out);
	return imap_reply_tagged(s, out, tag, "OK", NULL, "Check completed.");
}

unsigned
imap_cmd_close(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	       bool uid, struct buf *out)
{
	const char *error = NULL;

	(void)args;
	(void)uid;
	if (n != 0)
		return no_args(s, tag, n, out);
	/* RFC 3501 section 6.4.2: \Deleted messages go, silently, unless the mailbox is read-only. */
	if (!s->readonly && imap_mailbox_expunge(s->mb, NULL, 0, &error) == -1)
		imap_set_error(s, "expunge at CLOSE of %s: %s", s->mb_name, error != NULL ? error : "failed");
	imap_session_unselect(s);
	return imap_reply_tagged(s, out, tag, "OK", NULL, "Close completed.");
}

unsigned
imap_cmd_unselect(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		  bool uid, struct buf *out)
{
	(void)args;
	(void)uid;
	if (n != 0)
		return no_args(s, tag, n, out);
	/* RFC 3691: as CLOSE, but nothing is expunged. */
	imap_session_unselect(s);
	return imap_reply_tagged(s, out, tag, "OK", NULL, "Unselect completed.");
}

unsigned
imap_cmd_expunge(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		 bool uid, struct buf *out)
{
	uint32_t *seqs = NULL;
	size_t count = 0;
	const char *error = NULL;
	int r;

	/* UID EXPUNGE set (RFC 4315 section 2.1): only those of the \Deleted that the set names. */
	if (uid ? n != 1 : n != 0)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid arguments.");
	/* EXAMINE: nothing is expunged, and Dovecot says so with OK. */
	if (s->readonly)
		return imap_reply_tagged(s, out, tag, "OK", NULL, "Expunge completed.");
	if (uid) {
		if (set_seqs(s->mb, &args[0], true, &seqs, &count) == -1)
			return bad_set(s, tag, out);
		/* The set as the UIDs of messages that exist, in place. */
		for (size_t i = 0; i < count; i++)
			seqs[i] = imap_mailbox_msg(s->mb, seqs[i])->uid;
		r = count == 0 ? 0 : imap_mailbox_expunge(s->mb, seqs, count, &error);
		free(seqs);
	} else {
		r = imap_mailbox_expunge(s->mb, NULL, 0, &error);
	}
	if (r == -1) {
		imap_set_error(s, "expunge of %s: %s", s->mb_name, error != NULL ? error : "failed");
		return server_error(s, tag, out);
	}
	/* The tagged reply's sync reports each "* n EXPUNGE". */
	return imap_reply_tagged(s, out, tag, "OK", NULL, "Expunge completed.");
}

unsigned
imap_cmd_search(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
		bool uid, struct buf *out)
{
	struct imap_search *srch;
	const char *error = NULL, *code = NULL;
	bool is_bad = true;
	uint32_t count = imap_mailbox_count(s->mb);
	uint32_t *v;
	uint64_t *ms;
	size_t k = 0;

	/* Match the flags as they are now (no expunge told: RFC 3501 section 7.4.1). */
	if (imap_sync_untagged(s, out, false) == -1)
		return server_error(s, tag, out);
	if (imap_search_parse(args, n, s->mb, &srch, &error, &code, &is_bad) == -1)
		return imap_reply_tagged(s, out, tag, is_bad ? "BAD" : "NO", code, "%s",
					 error != NULL ? error : "Invalid search.");
	/* SEARCH MODSEQ is a CONDSTORE enabling command (RFC 7162 section 3.1). */
	if (imap_search_uses_modseq(srch))
		imap_condstore_enable(s, out);
	v = xcalloc(count > 0 ? count : 1, sizeof(*v));
	ms = xcalloc(count > 0 ? count : 1, sizeof(*ms));
	for (uint32_t seq = 1; seq <= count; seq++) {
		if (imap_search_match(srch, s->mb, seq)) {
			const struct imap_msg *m = imap_mailbox_msg(s->mb, seq);

			ms[k] = m->modseq;
			v[k++] = uid ? m->uid : seq;
		}
	}
	imap_search_reply_modseq(srch, tag, uid, v, ms, k, out);
	free(v);
	free(ms);
	imap_search_free(srch);
	return imap_reply_tagged(s, out, tag, "OK", NULL, "Search completed.");
}

/* A FETCH going out in pieces. */
struct fetch_run {
	struct imap_fetch *f;
	uint32_t *seqs;
	size_t n, next;
	bool expunged;                  /* a message was gone: NO [EXPUNGEISSUED] at the end */
};

static void
fetch_run_free(void *ctx)
{
	struct fetch_run *run = ctx;

	imap_fetch_free(run->f);
	free(run->seqs);
	free(run);
}

static unsigned
fetch_stream(struct imap_session *s, struct buf *out)
{
	struct fetch_run *run = s->stream_ctx;
	size_t start = out->len;

	/* At least one message a call, whatever out holds already: the reply always moves on. */
	while (run->next < run->n && out->len - start < FETCH_CHUNK) {
		uint32_t seq = run->seqs[run->next++];
		const struct imap_msg *m = imap_mailbox_msg(s->mb, seq);

		/* Expunged by another session, not yet told (see EXPUNGEISSUED_OK_TEXT). */
		if (m == NULL || m->expunged) {
			run->expunged = true;
			continue;
		}
		if (imap_fetch_message(run->f, s->mb, seq, out) == -1) {
			if (errno != ENOENT) {
				imap_set_error(s, "fetch %u of %s: %s", (unsigned)seq, s->mb_name,
					       strerror(errno));
				return imap_reply_tagged(s, out, s->stream_tag, "NO", "SERVERBUG",
							 "Internal error occurred.") | IMAP_ACT_ERROR;
			}
			run->expunged = true;
		}
	}
	if (run->next < run->n)
		return IMAP_ACT_STREAM;
	if (run->expunged)
		return imap_reply_tagged(s, out, s->stream_tag, "OK", "EXPUNGEISSUED", EXPUNGEISSUED_OK_TEXT);
	return imap_reply_tagged(s, out, s->stream_tag, "OK", NULL, "Fetch completed.");
}

unsigned
imap_cmd_fetch(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	       bool uid, struct buf *out)
{
	struct fetch_run *run;
	struct imap_fetch *f;
	const char *error = NULL;
	uint32_t *seqs;
	uint64_t since = 0;
	size_t count;
	unsigned act;
	bool changedsince = false;

	/* fetch = "FETCH" SP sequence-set SP attrs [SP "(" CHANGEDSINCE n ")"] (RFC 7162 section 3.1.4.1). */
	if (n == 3 && args[2].type == IMAP_ARG_LIST) {
		if (!modifier_arg(&args[2], "CHANGEDSINCE", &since))
			return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid FETCH modifiers.");
		changedsince = true;
		n = 2;
	}
	if (n < 2)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid arguments.");
	/* Flags as they are now, not as this session last saw them (no expunge told: RFC 3501 section 7.4.1). */
	if (imap_sync_untagged(s, out, false) == -1)
		return server_error(s, tag, out);
	if (imap_fetch_parse(&args[1], n - 1, uid, &f, &error) == -1)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "%s",
					 error != NULL ? error : "Invalid arguments.");
	if (set_seqs(s->mb, &args[0], uid, &seqs, &count) == -1) {
		imap_fetch_free(f);
		return bad_set(s, tag, out);
	}
	/* MODSEQ and CHANGEDSINCE are CONDSTORE enabling (RFC 7162 section 3.1); CHANGEDSINCE implies MODSEQ. */
	if (changedsince && !imap_fetch_has_modseq(f) && imap_fetch_add_modseq(f) == -1) {
		imap_fetch_free(f);
		free(seqs);
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Too many fetch attributes");
	}
	if (imap_fetch_has_modseq(f))
		imap_condstore_enable(s, out);
	imap_fetch_set_condstore(f, (s->enabled & IMAP_EXT_CONDSTORE) != 0);
	if (changedsince) {
		size_t k = 0;

		/* Only the messages whose modseq is above it (section 3.1.4.1). */
		for (size_t i = 0; i < count; i++) {
			const struct imap_msg *m = imap_mailbox_msg(s->mb, seqs[i]);

			if (m != NULL && m->modseq > since)
				seqs[k++] = seqs[i];
		}
		count = k;
	}
	/*
	 * RFC 7162: the \Seen this FETCH sets is told with its MODSEQ.  All
	 * of them get one modseq in one write of the UID list before the
	 * first reply (not a write per message), so every MODSEQ told is
	 * on disk already (the crash argument is at imap_fetch_store_seen).
	 * Without CONDSTORE the tagged reply's sync gives it, in one write too.
	 */
	if ((s->enabled & IMAP_EXT_CONDSTORE) != 0 && imap_fetch_store_seen(f, s->mb, seqs, count) == -1) {
		imap_set_error(s, "fetch: storing \\Seen in %s: %s", s->mb_name, strerror(errno));
		imap_fetch_free(f);
		free(seqs);
		return server_error(s, tag, out);
	}
	run = xcalloc(1, sizeof(*run));
	run->f = f;
	run->seqs = seqs;
	run->n = count;
	snprintf(s->stream_tag, sizeof(s->stream_tag), "%s", tag);
	s->stream = fetch_stream;
	s->stream_free = fetch_run_free;
	s->stream_ctx = run;
	act = fetch_stream(s, out);
	if (!(act & IMAP_ACT_STREAM)) {
		/* All of it fitted in the first piece: no stream after all. */
		fetch_run_free(run);
		s->stream = NULL;
		s->stream_free = NULL;
		s->stream_ctx = NULL;
	}
	return act;
}

/* The keyword bits of fl in mb; create: new keywords are added (+FLAGS, FLAGS). -1: no room left. */
static int
keyword_bits(struct imap_mailbox *mb, const struct imap_flag_list *fl, bool create, uint32_t *bits_r)
{
	uint32_t bits = 0;

	for (size_t i = 0; i < fl->n_keywords; i++) {
		int k = imap_mailbox_keyword_index(mb, fl->keywords[i], create);

		if (k < 0) {
			if (create)
				return -1;
			continue;       /* removing a keyword the folder never had */
		}
		bits |= 1u << k;
	}
	*bits_r = bits;
	return 0;
}

unsigned
imap_cmd_store(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	       bool uid, struct buf *out)
{
	struct imap_flag_list fl;
	enum imap_store_op op;
	const char *error = NULL;
	uint32_t *seqs, *modified, kw;
	uint64_t unchangedsince = 0;
	unsigned char *state;
	size_t count, synced_at, n_modified = 0, a = 1;
	bool silent, others, expunged = false, conditional = false, condstore;

	/* store = "STORE" SP sequence-set [SP "(" UNCHANGEDSINCE n ")"] SP store-att-flags (RFC 7162 section 3.1.3). */
	if (n >= 2 && args[1].type == IMAP_ARG_LIST) {
		if (!modifier_arg(&args[1], "UNCHANGEDSINCE", &unchangedsince))
			return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid STORE modifiers.");
		conditional = true;
		a = 2;
	}
	if (n < a + 2 || imap_flags_parse_store_op(&args[a], &op, &silent, &error) == -1)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid arguments.");
	if (imap_flags_parse(&args[a + 1], n - a - 1, &fl, &error) == -1)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "%s", error);
	if (set_seqs(s->mb, &args[0], uid, &seqs, &count) == -1)
		return bad_set(s, tag, out);
	/* EXAMINE: the flags stay as they are, and Dovecot answers OK saying so (NO for a conditional STORE). */
	if (s->readonly) {
		free(seqs);
		if (conditional)
			return imap_reply_tagged(s, out, tag, "NO", NULL, "CONDSTORE failed: Mailbox is read-only.");
		return imap_reply_tagged(s, out, tag, "OK", NULL, "Store ignored with read-only mailbox.");
	}
	if (keyword_bits(s->mb, &fl, op != IMAP_STORE_REMOVE, &kw) == -1) {
		free(seqs);
		return imap_reply_tagged(s, out, tag, "NO", "LIMIT", "Too many keywords in this mailbox.");
	}
	/*
	 * Look at the folder first: +FLAGS and -FLAGS apply to the flags as
	 * they are now, not as this session last saw them, or a change made
	 * by another session meanwhile would be undone; and UNCHANGEDSINCE
	 * compares the modseqs as they are now.  The sync also tells new
	 * keywords (FLAGS) before a FETCH shows one (RFC 3501 section 7.2.6),
	 * and no expunge (section 7.4.1).
	 */
	synced_at = out->len;
	if (imap_sync_untagged(s, out, false) == -1) {
		free(seqs);
		return server_error(s, tag, out);
	}
	if (conditional)
		imap_condstore_enable(s, out);
	condstore = (s->enabled & IMAP_EXT_CONDSTORE) != 0;
	/*
	 * What the sync told of others' changes ("* n FETCH") is not the end
	 * state of a message this STORE then changes: .SILENT still sends its
	 * FETCH, or the client would keep the flags the sync showed (.SILENT
	 * spares only what the client knows, RFC 3501 section 6.4.6), as
	 * Dovecot does.
	 */
	others = out->len > synced_at &&
		 memmem(out->data + synced_at, out->len - synced_at, " FETCH (", 8) != NULL;
	/* Each message's outcome: 0 skipped (gone, or failed UNCHANGEDSINCE), 1 stored, 2 stored with a change. */
	state = xcalloc(count + 1, 1);
	modified = xcalloc(count + 1, sizeof(*modified));
	for (size_t i = 0; i < count; i++) {
		const struct imap_msg *m = imap_mailbox_msg(s->mb, seqs[i]);
		unsigned nf;
		uint32_t nk;
		bool changed;

		if (m == NULL || m->expunged) {
			expunged = true;
			continue;
		}
		/* RFC 7162 section 3.1.3: changed since the client's modseq: left as it is, named in MODIFIED. */
		if (conditional && m->modseq > unchangedsince) {
			modified[n_modified++] = uid ? m->uid : seqs[i];
			continue;
		}
		imap_flags_apply(op, m->flags, m->keywords, fl.flags, kw, &nf, &nk);
		changed = nf != m->flags || nk != m->keywords;
		if (changed && imap_mailbox_set_flags(s->mb, seqs[i], nf, nk) == -1) {
			if (errno == ENOENT) {
				expunged = true;
				continue;
			}
			imap_set_error(s, "store on %u of %s: %s", (unsigned)seqs[i], s->mb_name,
				       strerror(errno));
			(void)imap_mailbox_commit_flags(s->mb);
			free(seqs);
			free(state);
			free(modified);
			return server_error(s, tag, out);
		}
		state[i] = changed ? 2 : 1;
	}
	/* One new modseq for this STORE's changes (RFC 7162 section 3.1.1); failing that the next sync gives it. */
	(void)imap_mailbox_commit_flags(s->mb);
	for (size_t i = 0; i < count; i++) {
		const struct imap_msg *m;
		bool changed = state[i] == 2;

		if (state[i] == 0)
			continue;
		m = imap_mailbox_msg(s->mb, seqs[i]);
		if (silent && !(others && changed)) {
			/* .SILENT with CONDSTORE: the new modseq is still told (RFC 7162 section 3.1.3). */
			if (condstore && changed) {
				(void)buf_printf(out, "* %u FETCH (", (unsigned)seqs[i]);
				if (uid)
					(void)buf_printf(out, "UID %u ", (unsigned)m->uid);
				(void)buf_printf(out, "MODSEQ (%llu))\r\n", (unsigned long long)m->modseq);
			}
			continue;
		}
		/* UID first, as Dovecot writes it; a UID STORE must have it (RFC 3501 section 6.4.8). */
		(void)buf_printf(out, "* %u FETCH (", (unsigned)seqs[i]);
		if (uid)
			(void)buf_printf(out, "UID %u ", (unsigned)m->uid);
		if (condstore)
			(void)buf_printf(out, "MODSEQ (%llu) ", (unsigned long long)m->modseq);
		(void)buf_append_str(out, "FLAGS ");
		imap_fetch_flags(s->mb, m, out);
		(void)buf_append_str(out, ")\r\n");
	}
	free(seqs);
	free(state);
	if (n_modified > 0) {
		struct buf code;
		unsigned act;

		buf_init(&code, 0);
		(void)buf_append_str(&code, "MODIFIED ");
		write_uid_set(&code, modified, n_modified);
		free(modified);
		act = imap_reply_tagged(s, out, tag, "OK", code.data, "Conditional store failed.");
		buf_free(&code);
		return act;
	}
	free(modified);
	if (expunged)
		return imap_reply_tagged(s, out, tag, "OK", "EXPUNGEISSUED", EXPUNGEISSUED_OK_TEXT);
	return imap_reply_tagged(s, out, tag, "OK", NULL, "Store completed.");
}

/* COPY and MOVE: the same copy, then MOVE expunges the originals (RFC 6851 section 3.3). */
static unsigned
copy_or_move(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	     bool uid, bool move, struct buf *out)
{
	const char *dest, *error = NULL, *code = NULL;
	uint32_t *seqs, *src_uids, *dst_uids, uidvalidity;
	struct buf copyuid;
	size_t count;
	unsigned act;

	if (n != 2 || (dest = imap_arg_astring(&args[1])) == NULL)
		return imap_reply_tagged(s, out, tag, "BAD", NULL, "Invalid arguments.");
	if (set_seqs(s->mb, &args[0], uid, &seqs, &count) == -1)
		return bad_set(s, tag, out);
	if (move && s->readonly) {
		free(seqs);
		return read_only(s, tag, out);
	}
	if (count == 0) {
		free(seqs);
		return imap_reply_tagged(s, out, tag, "OK", NULL, "No messages found.");
	}
	/* All or nothing (RFC 3501 section 6.4.7): one message already gone fails the copy. */
	for (size_t i = 0; i < count; i++) {
		if (imap_mailbox_msg(s->mb, seqs[i])->expunged) {
			free(seqs);
			return imap_reply_tagged(s, out, tag, "NO", "EXPUNGEISSUED", EXPUNGEISSUED_NO_TEXT);
		}
	}
	dst_uids = xcalloc(count, sizeof(*dst_uids));
	if (imap_mailbox_copy(s->mb, seqs, count, dest, &uidvalidity, dst_uids, &error, &code) == -1) {
		free(seqs);
		free(dst_uids);
		if (code != NULL && strcmp(code, "NONEXISTENT") == 0)
			code = "TRYCREATE";
		return imap_cmd_mailbox_error(s, out, tag, dest, error, code);
	}
	src_uids = xcalloc(count, sizeof(*src_uids));
	for (size_t i = 0; i < count; i++)
		src_uids[i] = imap_mailbox_msg(s->mb, seqs[i])->uid;
	buf_init(&copyuid, 0);
	(void)buf_printf(&copyuid, "COPYUID %u ", (unsigned)uidvalidity);
	write_uid_set(&copyuid, src_uids, count);
	(void)buf_append_char(&copyuid, ' ');
	write_uid_set(&copyuid, dst_uids, count);
	if (!move) {
		act = imap_reply_tagged(s, out, tag, "OK", copyuid.data, "Copy completed.");
	} else {
		int failed = 0;

		/* RFC 6851 section 4.3: COPYUID in an untagged OK, before the expunges. */
		imap_reply_untagged(out, "OK [%s] Moved UIDs.", copyuid.data);
		for (size_t i = 0; i < count && !failed; i++) {
			const struct imap_msg *m = imap_mailbox_msg(s->mb, seqs[i]);

			if (!(m->flags & IMAP_FLAG_DELETED) &&
			    imap_mailbox_set_flags(s->mb, seqs[i], m->flags | IMAP_FLAG_DELETED,
						   m->keywords) == -1 && errno != ENOENT)
				failed = -1;
		}
		if (failed == 0)
			failed = imap_mailbox_expunge(s->mb, src_uids, count, &error);
		if (failed == -1) {
			imap_set_error(s, "expunge after MOVE in %s: %s", s->mb_name,
				       error != NULL ? error : strerror(errno));
			act = server_error(s, tag, out);
		} else {
			act = imap_reply_tagged(s, out, tag, "OK", NULL, "Move completed.");
		}
	}
	buf_free(&copyuid);
	free(seqs);
	free(src_uids);
	free(dst_uids);
	return act;
}

unsigned
imap_cmd_copy(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	      bool uid, struct buf *out)
{
	return copy_or_move(s, tag, args, n, uid, false, out);
}

unsigned
imap_cmd_move(struct imap_session *s, const char *tag, const struct imap_arg *args, size_t n,
	      bool uid, struct buf *out)
{
	return copy_or_move(s, tag, args, n, uid, true, out);
}
