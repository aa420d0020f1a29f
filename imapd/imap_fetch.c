/* imap_fetch.c - FETCH (RFC 3501 sections 6.4.5 and 7.4.2, RFC 9051): the attribute list parsed once, each message's "* n FETCH (...)" written as Dovecot writes it. */
#include "imap_fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "decimal.h"
#include "imap_date.h"
#include "imap_message.h"
#include "xmalloc.h"

/* At most this many attributes in one FETCH (the parser caps arguments too; this bounds the item table). */
#define FETCH_ITEMS_MAX 64
/* A file buffer up to this size is kept from one message to the next. */
#define FETCH_RAW_KEEP ((size_t)4 * 1024 * 1024)

enum fetch_kind {
	FETCH_UID,
	FETCH_FLAGS,
	FETCH_INTERNALDATE,
	FETCH_RFC822_SIZE,
	FETCH_ENVELOPE,
	FETCH_BODY,             /* BODY: the non-extensible BODYSTRUCTURE */
	FETCH_BODYSTRUCTURE,
	FETCH_MODSEQ,           /* RFC 7162 section 3.1.4 */
	FETCH_SECTION           /* BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT */
};

struct fetch_item {
	enum fetch_kind kind;
	char *name;             /* FETCH_SECTION: the reply's name, "BODY[HEADER]<0>", "RFC822.TEXT" */
	char *section;          /* FETCH_SECTION: what imap_message_section takes */
	bool partial;
	uint64_t origin, count; /* partial: <origin.count>; count UINT64_MAX without ".count" */
};

struct imap_fetch {
	struct fetch_item items[FETCH_ITEMS_MAX];
	size_t n;
	/*
	 * items[0..n_buffered) are written without a literal, the others with
	 * one: Dovecot writes the former first (in the order asked), then the
	 * latter, so that short items come before long octets (some clients
	 * rely on UID coming first).
	 */
	size_t n_buffered;
	bool sets_seen;         /* a body part without .PEEK */
	bool has_flags;         /* FLAGS asked for */
	bool needs_data;        /* a section: the file is read before \Seen is stored */
	bool has_modseq;        /* MODSEQ asked for (or implied by CHANGEDSINCE) */
	bool condstore;         /* CONDSTORE is on: \Seen stored by a body fetch gets its MODSEQ told */
	/*
	 * imap_fetch_store_seen: bit seq - 1 set for each message whose \Seen
	 * it stored (reported as changed by imap_fetch_message); NULL: not run.
	 */
	unsigned char *seen_stored;
	uint32_t seen_stored_n;        /* the bits' count (the folder's messages then) */
	struct buf raw;         /* each message's file, read into the same memory */
};

/* What one message gives while its reply is written: read at most once, parsed at most once. */
struct fetch_msg {
	struct imap_mailbox *mb;
	uint32_t seq;
	struct buf *raw;        /* the file as stored (the FETCH's buffer, reused message after message) */
	bool have_raw;
	struct imap_message *m; /* parsed, when an attribute needs the MIME structure */
	uint64_t crlf_size;     /* the CRLF size of raw, once counted */
	bool have_crlf_size;
};

/* Add an item: those without a literal go before the first with one. */
static int
fetch_add(struct imap_fetch *f, const struct fetch_item *it, bool literal, const char **error_r)
{
	size_t i;

	if (!literal) {
		/* Asking twice for FLAGS (or UID...) gives it once, as Dovecot does. */
		for (i = 0; i < f->n_buffered; i++) {
			if (f->items[i].kind == it->kind)
				return 0;
		}
	}
	if (f->n == FETCH_ITEMS_MAX) {
		*error_r = "Too many fetch attributes";
		return -1;
	}
	if (literal) {
		f->items[f->n++] = *it;
		return 0;
	}
	memmove(&f->items[f->n_buffered + 1], &f->items[f->n_buffered],
		(f->n - f->n_buffered) * sizeof(f->items[0]));
	f->items[f->n_buffered++] = *it;
	f->n++;
	return 0;
}

static int
fetch_add_simple(struct imap_fetch *f, enum fetch_kind kind, const char **error_r)
{
	struct fetch_item it = { .kind = kind };

	if (kind == FETCH_FLAGS)
		f->has_flags = true;
	if (kind == FETCH_MODSEQ)
		f->has_modseq = true;
	return fetch_add(f, &it, false, error_r);
}

/* The section given, in upper case (Dovecot echoes it so; header field names compare without case anyway). */
static char *
section_upper(const char *s, size_t len)
{
	char *u = xstrndup(s, len);
	size_t i;

	for (i = 0; i < len; i++)
		u[i] = (char)(u[i] >= 'a' && u[i] <= 'z' ? u[i] - 'a' + 'A' : u[i]);
	return u;
}

/*
 * Check a section's syntax as imap_message_section reads it, on an
 * empty message, so that a bad section is a BAD for the command and not
 * a failure in the middle of the replies.
 */
static int
section_check(const char *section, const char **error_r)
{
	struct imap_message *m;
	struct buf scratch;
	int ret;

	if ((m = imap_message_new("\r\n", 2)) == NULL) {
		*error_r = "Out of memory";
		return -1;
	}
	buf_init(&scratch, 4096);
	ret = imap_message_section(m, section, &scratch, error_r);
	buf_free(&scratch);
	imap_message_free(m);
	return ret;
}

/* "<origin>" or "<origin.count>" after the ']' (RFC 3501 section 6.4.5; Dovecot takes the short form too). */
static int
partial_parse(const char *p, struct fetch_item *it, const char **error_r)
{
	const char *dot, *end;

	if (*p == '\0')
		return 0;
	if (*p != '<' || (end = strchr(p, '>')) == NULL || end[1] != '\0') {
		*error_r = "Invalid BODY[..] parameter: Invalid partial";
		return -1;
	}
	p++;
	it->partial = true;
	it->count = UINT64_MAX;
	dot = memchr(p, '.', (size_t)(end - p));
	if (decimal_parse(p, (size_t)((dot != NULL ? dot : end) - p), INT64_MAX, &it->origin) < 0 ||
	    (dot != NULL && decimal_parse(dot + 1, (size_t)(end - dot - 1), INT64_MAX, &it->count) < 0)) {
		*error_r = "Invalid BODY[..] parameter: Invalid partial";
		return -1;
	}
	return 0;
}

/* Add a body item (its name and section malloc'd, freed here on failure); seen: it sets \Seen. */
static int
fetch_add_body(struct imap_fetch *f, struct fetch_item *it, bool seen, const char **error_r)
{
	if (seen)
		f->sets_seen = true;
	f->needs_data = true;
	if (fetch_add(f, it, true, error_r) < 0) {
		free(it->name);
		free(it->section);
		return -1;
	}
	return 0;
}

/* BODY[...]<...> or BODY.PEEK[...]<...>: p at the '['. */
static int
fetch_add_section(struct imap_fetch *f, const char *p, bool peek, const char **error_r)
{
	struct fetch_item it = { .kind = FETCH_SECTION };
	struct buf name;
	const char *close;

	/* The parser keeps [ ... ] in one atom; no ']' can follow in a partial, so the last one closes the section. */
	close = strrchr(p, ']');
	if (close == NULL) {
		*error_r = "Invalid BODY[..] parameter: Missing ']'";
		return -1;
	}
	it.section = section_upper(p + 1, (size_t)(close - p - 1));
	if (section_check(it.section, error_r) < 0 || partial_parse(close + 1, &it, error_r) < 0) {
		free(it.section);
		return -1;
	}
	buf_init(&name, 0);
	if (buf_printf(&name, "BODY[%s]", it.section) < 0 ||
	    (it.partial && buf_printf(&name, "<%llu>", (unsigned long long)it.origin) < 0)) {
		buf_free(&name);
		free(it.section);
		*error_r = "Fetch attribute too long";
		return -1;
	}
	it.name = name.data;
	return fetch_add_body(f, &it, !peek, error_r);
}

/* RFC822, RFC822.HEADER, RFC822.TEXT: BODY[], BODY.PEEK[HEADER], BODY[TEXT] named the old way. */
static int
fetch_add_rfc822(struct imap_fetch *f, const char *name, const char *section, bool seen,
		 const char **error_r)
{
	struct fetch_item it = { .kind = FETCH_SECTION };

	it.name = xstrdup(name);
	it.section = xstrdup(section);
	return fetch_add_body(f, &it, seen, error_r);
}

static bool
name_is(const struct imap_arg *a, const char *name)
{
	size_t len = strlen(name);

	return a->len == len && ascii_eq_nocase(a->str, name, len);
}

static bool
name_starts(const struct imap_arg *a, const char *prefix)
{
	size_t len = strlen(prefix);

	return a->len >= len && ascii_eq_nocase(a->str, prefix, len);
}

/* One attribute (not a macro). */
static int
fetch_add_attr(struct imap_fetch *f, const struct imap_arg *a, const char **error_r)
{
	static const struct {
		const char *name;
		enum fetch_kind kind;
	} simple[] = {
		{ "UID", FETCH_UID },
		{ "FLAGS", FETCH_FLAGS },
		{ "INTERNALDATE", FETCH_INTERNALDATE },
		{ "RFC822.SIZE", FETCH_RFC822_SIZE },
		{ "ENVELOPE", FETCH_ENVELOPE },
		{ "BODY", FETCH_BODY },
		{ "BODYSTRUCTURE", FETCH_BODYSTRUCTURE },
		{ "MODSEQ", FETCH_MODSEQ },
	};
	size_t i;

	if (a->type != IMAP_ARG_ATOM) {
		*error_r = "Invalid fetch attribute";
		return -1;
	}
	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (name_is(a, simple[i].name))
			return fetch_add_simple(f, simple[i].kind, error_r);
	}
	if (name_is(a, "RFC822"))
		return fetch_add_rfc822(f, "RFC822", "", true, error_r);
	if (name_is(a, "RFC822.HEADER"))
		return fetch_add_rfc822(f, "RFC822.HEADER", "HEADER", false, error_r);
	if (name_is(a, "RFC822.TEXT"))
		return fetch_add_rfc822(f, "RFC822.TEXT", "TEXT", true, error_r);
	if (name_starts(a, "BODY.PEEK["))
		return fetch_add_section(f, a->str + 9, true, error_r);
	if (name_starts(a, "BODY["))
		return fetch_add_section(f, a->str + 4, false, error_r);
	*error_r = "Invalid fetch attribute";
	return -1;
}

int
imap_fetch_parse(const struct imap_arg *args, size_t n, bool uid_command, struct imap_fetch **f_r,
		 const char **error_r)
{
	/* RFC 3501 section 6.4.5: the macros, which stand alone (not in a list). */
	static const struct {
		const char *name;
		enum fetch_kind kinds[5];
		size_t n;
	} macros[] = {
		{ "ALL", { FETCH_FLAGS, FETCH_INTERNALDATE, FETCH_RFC822_SIZE, FETCH_ENVELOPE }, 4 },
		{ "FAST", { FETCH_FLAGS, FETCH_INTERNALDATE, FETCH_RFC822_SIZE }, 3 },
		{ "FULL", { FETCH_FLAGS, FETCH_INTERNALDATE, FETCH_RFC822_SIZE, FETCH_ENVELOPE,
			    FETCH_BODY }, 5 },
	};
	struct imap_fetch *f;
	size_t i, j;

	*f_r = NULL;
	if (n != 1) {
		*error_r = n == 0 ? "Missing fetch attributes" : "Invalid fetch attributes";
		return -1;
	}
	f = xcalloc(1, sizeof(*f));
	buf_init(&f->raw, 0);
	/* UID FETCH: UID first, whether asked for or not (Dovecot; clients rely on it). */
	if (uid_command && fetch_add_simple(f, FETCH_UID, error_r) < 0)
		goto fail;
	if (args[0].type == IMAP_ARG_LIST) {
		if (args[0].count == 0) {
			*error_r = "Empty fetch attribute list";
			goto fail;
		}
		for (i = 0; i < args[0].count; i++) {
			if (fetch_add_attr(f, &args[0].list[i], error_r) < 0)
				goto fail;
		}
		*f_r = f;
		return 0;
	}
	for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
		if (args[0].type == IMAP_ARG_ATOM && name_is(&args[0], macros[i].name)) {
			for (j = 0; j < macros[i].n; j++) {
				if (fetch_add_simple(f, macros[i].kinds[j], error_r) < 0)
					goto fail;
			}
			*f_r = f;
			return 0;
		}
	}
	if (fetch_add_attr(f, &args[0], error_r) < 0)
		goto fail;
	*f_r = f;
	return 0;
fail:
	imap_fetch_free(f);
	return -1;
}

void
imap_fetch_free(struct imap_fetch *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++) {
		free(f->items[i].name);
		free(f->items[i].section);
	}
	buf_free(&f->raw);
	free(f->seen_stored);
	free(f);
}

bool
imap_fetch_sets_seen(const struct imap_fetch *f)
{
	return f->sets_seen;
}

bool
imap_fetch_has_modseq(const struct imap_fetch *f)
{
	return f->has_modseq;
}

int
imap_fetch_add_modseq(struct imap_fetch *f)
{
	const char *error;

	return fetch_add_simple(f, FETCH_MODSEQ, &error);
}

void
imap_fetch_set_condstore(struct imap_fetch *f, bool on)
{
	f->condstore = on;
}

/* Whether imap_fetch_store_seen stored \Seen on seq. */
static bool
seen_stored(const struct imap_fetch *f, uint32_t seq)
{
	return f->seen_stored != NULL && seq >= 1 && seq <= f->seen_stored_n &&
	       (f->seen_stored[(seq - 1) / 8] & (1u << ((seq - 1) % 8))) != 0;
}

/*
 * One write of the UID list for all of a FETCH's \Seen (RFC 7162 with
 * CONDSTORE on): every file renamed first, then one commit that gives
 * them one new modseq and writes the list (fsync) once, and only then
 * does the first "* n FETCH (... MODSEQ (m))" go out.  So no client is
 * ever told a modseq the list on disk does not hold yet: after a crash
 * before the write, the files have \Seen but their entries still carry
 * the old flags and the old HIGHESTMODSEQ h, which no client has seen
 * exceeded; the next sync of any session finds the flags are not those
 * of the entries' modseqs and gives them a new one above h.  A modseq
 * therefore never goes back, and is never told for two different states.
 */
int
imap_fetch_store_seen(struct imap_fetch *f, struct imap_mailbox *mb, const uint32_t *seqs, size_t n)
{
	uint32_t count = imap_mailbox_count(mb);
	size_t i;
	int r = 0, saved = 0;

	if (!f->sets_seen || imap_mailbox_readonly(mb))
		return 0;
	free(f->seen_stored);
	f->seen_stored = xcalloc((size_t)count / 8 + 1, 1);
	f->seen_stored_n = count;
	for (i = 0; i < n; i++) {
		const struct imap_msg *msg = imap_mailbox_msg(mb, seqs[i]);

		if (msg == NULL || msg->expunged || (msg->flags & IMAP_FLAG_SEEN) != 0)
			continue;
		if (imap_mailbox_set_flags(mb, seqs[i], msg->flags | IMAP_FLAG_SEEN, msg->keywords) < 0) {
			/* Gone meanwhile: its read fails too, and the FETCH says EXPUNGEISSUED. */
			if (errno == ENOENT)
				continue;
			saved = errno;
			r = -1;
			break;
		}
		f->seen_stored[(seqs[i] - 1) / 8] |= (unsigned char)(1u << ((seqs[i] - 1) % 8));
	}
	/* Failing, the changes get their modseq at the next sync (of any session). */
	(void)imap_mailbox_commit_flags(mb);
	if (r == -1)
		errno = saved;
	return r;
}

/* The flags list; -1 (errno EMSGSIZE) when out is full. */
static int
flags_write(const struct imap_mailbox *mb, const struct imap_msg *msg, struct buf *out)
{
	/* Dovecot's order (its enum mail_flags), then \Recent, then the keywords. */
	static const struct {
		unsigned flag;
		const char *name;
	} sys[] = {
		{ IMAP_FLAG_ANSWERED, "\\Answered" },
		{ IMAP_FLAG_FLAGGED, "\\Flagged" },
		{ IMAP_FLAG_DELETED, "\\Deleted" },
		{ IMAP_FLAG_SEEN, "\\Seen" },
		{ IMAP_FLAG_DRAFT, "\\Draft" },
	};
	unsigned i, nk;
	bool first = true;
	int err = 0;

	err |= buf_append_char(out, '(');
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		if ((msg->flags & sys[i].flag) == 0)
			continue;
		if (!first)
			err |= buf_append_char(out, ' ');
		err |= buf_append_str(out, sys[i].name);
		first = false;
	}
	if (msg->recent) {
		if (!first)
			err |= buf_append_char(out, ' ');
		err |= buf_append_str(out, "\\Recent");
		first = false;
	}
	nk = imap_mailbox_keyword_count(mb);
	for (i = 0; i < nk && i < IMAP_KEYWORDS_MAX; i++) {
		if ((msg->keywords & (UINT32_C(1) << i)) == 0)
			continue;
		if (!first)
			err |= buf_append_char(out, ' ');
		err |= buf_append_str(out, imap_mailbox_keyword(mb, i));
		first = false;
	}
	err |= buf_append_char(out, ')');
	return err != 0 ? -1 : 0;
}

void
imap_fetch_flags(const struct imap_mailbox *mb, const struct imap_msg *msg, struct buf *out)
{
	(void)flags_write(mb, msg, out);
}

/* The file's octets, read once. */
static int
fm_raw(struct fetch_msg *fm)
{
	if (fm->have_raw)
		return 0;
	buf_reset(fm->raw);
	if (imap_mailbox_read(fm->mb, fm->seq, fm->raw) < 0)
		return -1;
	fm->have_raw = true;
	return 0;
}

/* The parsed message, parsed once. */
static int
fm_message(struct fetch_msg *fm)
{
	if (fm->m != NULL)
		return 0;
	if (fm_raw(fm) < 0)
		return -1;
	if ((fm->m = imap_message_new(fm->raw->data != NULL ? fm->raw->data : "", fm->raw->len)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* The CRLF size of the file (each LF not after a CR counts two), counted once. */
static int
fm_crlf_size(struct fetch_msg *fm, uint64_t *size_r)
{
	if (!fm->have_crlf_size) {
		if (fm_raw(fm) < 0)
			return -1;
		fm->crlf_size = imap_message_crlf_size(fm->raw->data != NULL ? fm->raw->data : "", fm->raw->len);
		fm->have_crlf_size = true;
	}
	*size_r = fm->crlf_size;
	return 0;
}

/* Where crlf_window is in the CRLF form, and what it still takes. */
struct crlf_out {
	uint64_t pos;           /* octets of the CRLF form passed so far */
	uint64_t off;           /* the window's first octet */
	size_t left;            /* octets the window still takes */
	char *w;
};

static void
crlf_piece(struct crlf_out *c, const char *src, size_t k)
{
	size_t skip = 0, take;

	if (c->pos + k <= c->off) {
		c->pos += k;
		return;
	}
	if (c->off > c->pos)
		skip = (size_t)(c->off - c->pos);
	take = k - skip < c->left ? k - skip : c->left;
	memcpy(c->w, src + skip, take);
	c->w += take;
	c->left -= take;
	c->pos += k;
}

/*
 * Write the octets [off, off+n) of the CRLF form of d[0..len) (each LF
 * not after a CR becomes CRLF: imap_message_crlf_size's count) to dst,
 * line run by line run, without making the whole CRLF form first.  A
 * literal holds no NUL (RFC 3501 section 4.3, CHAR8): a message with
 * one gets 0x80 in its place, as Dovecot sends it.
 */
static void
crlf_window(const char *d, size_t len, uint64_t off, size_t n, char *dst)
{
	struct crlf_out c = { .pos = 0, .off = off, .left = n, .w = dst };
	const char *p = d, *end = d + len, *lf;
	char *z;

	while (p < end && c.left > 0) {
		lf = memchr(p, '\n', (size_t)(end - p));
		if (lf == NULL) {
			crlf_piece(&c, p, (size_t)(end - p));
			break;
		}
		crlf_piece(&c, p, (size_t)(lf - p));
		if (c.left == 0)
			break;
		if (lf == d || lf[-1] != '\r')
			crlf_piece(&c, "\r\n", 2);
		else
			crlf_piece(&c, "\n", 1);
		p = lf + 1;
	}
	if (memchr(d, '\0', len) != NULL) {
		for (z = memchr(dst, '\0', n); z != NULL; z = memchr(z + 1, '\0', (size_t)(dst + n - z - 1)))
			*z = (char)0x80;
	}
}

/*
 * BODY[], RFC822 (and the partial forms) without the MIME parse that
 * they do not need: " {n}\r\n" and the CRLF form's octets written
 * straight into out from the file as stored, in one pass.
 */
static int
write_whole_literal(const struct fetch_item *it, struct fetch_msg *fm, struct buf *out)
{
	uint64_t size, off = 0, n;

	if (fm_crlf_size(fm, &size) < 0)
		return -1;
	n = size;
	if (it->partial) {
		off = it->origin < size ? it->origin : size;
		n = size - off;
		if (it->count < n)
			n = it->count;
	}
	if (n >= SIZE_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (buf_printf(out, " {%zu}\r\n", (size_t)n) < 0 || buf_reserve(out, (size_t)n) < 0)
		return -1;
	crlf_window(fm->raw->data != NULL ? fm->raw->data : "", fm->raw->len, off, (size_t)n,
		    out->data + out->len);
	out->len += (size_t)n;
	out->data[out->len] = '\0';
	return 0;
}

bool
imap_fetch_name_vsize(const char *name, uint64_t *size_r)
{
	const char *p = name, *d;

	while ((p = strstr(p, ",W=")) != NULL) {
		p += 3;
		for (d = p; *d >= '0' && *d <= '9'; d++)
			;
		if (d > p && (*d == '\0' || *d == ',' || *d == ':') &&
		    decimal_parse(p, (size_t)(d - p), UINT64_MAX, size_r) == 0)
			return true;
	}
	return false;
}

/* RFC822.SIZE: the CRLF size (RFC 3501 section 2.3.4), from the name, the parse, or the file. */
static int
fm_size(struct fetch_msg *fm, const struct imap_msg *msg, uint64_t *size_r)
{
	size_t len;

	if (fm->m != NULL) {
		(void)imap_message_data(fm->m, &len);
		*size_r = len;
		return 0;
	}
	if (fm->have_crlf_size) {
		*size_r = fm->crlf_size;
		return 0;
	}
	if (msg->name != NULL && imap_fetch_name_vsize(msg->name, size_r))
		return 0;
	/* Counted by an earlier session and kept in the UID list. */
	if (msg->vsize != 0) {
		*size_r = msg->vsize;
		return 0;
	}
	if (fm_crlf_size(fm, size_r) < 0)
		return -1;
	imap_mailbox_set_vsize(fm->mb, fm->seq, *size_r);
	return 0;
}

/* " {n}\r\n" and the octets [origin, origin+count) of data. */
static int
write_literal(const struct fetch_item *it, const char *data, size_t len, struct buf *out)
{
	size_t off = 0, n = len, start;
	char *p;

	if (it->partial) {
		off = it->origin < len ? (size_t)it->origin : len;
		n = len - off;
		if (it->count < n)
			n = (size_t)it->count;
	}
	if (buf_printf(out, " {%zu}\r\n", n) < 0)
		return -1;
	start = out->len;
	if (buf_append(out, data + off, n) < 0)
		return -1;
	/*
	 * A literal holds no NUL (RFC 3501 section 4.3, CHAR8): a message
	 * with one gets 0x80 in its place, as Dovecot sends it.
	 */
	for (p = memchr(out->data + start, '\0', n); p != NULL;
	     p = memchr(p + 1, '\0', (size_t)(out->data + out->len - p - 1)))
		*p = (char)0x80;
	return 0;
}

/* One item; 0, or -1 with errno (ENOENT: the message went away). */
static int
write_item(const struct fetch_item *it, struct fetch_msg *fm, const struct imap_msg *msg,
	   struct buf *out, struct buf *tmp)
{
	char date[IMAP_DATETIME_MAX];
	uint64_t size;
	const char *data;
	size_t len;

	switch (it->kind) {
	case FETCH_UID:
		return buf_printf(out, "UID %lu", (unsigned long)msg->uid);
	case FETCH_FLAGS:
		if (buf_append_str(out, "FLAGS ") < 0)
			return -1;
		return flags_write(fm->mb, msg, out);
	case FETCH_INTERNALDATE:
		imap_date_format_datetime(msg->internal_date, date);
		return buf_printf(out, "INTERNALDATE %s", date);
	case FETCH_MODSEQ:
		return buf_printf(out, "MODSEQ (%llu)", (unsigned long long)msg->modseq);
	case FETCH_RFC822_SIZE:
		if (fm_size(fm, msg, &size) < 0)
			return -1;
		return buf_printf(out, "RFC822.SIZE %llu", (unsigned long long)size);
	case FETCH_ENVELOPE:
		if (fm_message(fm) < 0)
			return -1;
		if (buf_append_str(out, "ENVELOPE ") < 0)
			return -1;
		imap_message_envelope(fm->m, out);
		return 0;
	case FETCH_BODY:
	case FETCH_BODYSTRUCTURE:
		if (fm_message(fm) < 0)
			return -1;
		if (buf_append_str(out, it->kind == FETCH_BODY ? "BODY " : "BODYSTRUCTURE ") < 0)
			return -1;
		imap_message_bodystructure(fm->m, it->kind == FETCH_BODYSTRUCTURE, out);
		return 0;
	case FETCH_SECTION:
		if (buf_append_str(out, it->name) < 0)
			return -1;
		if (it->section[0] == '\0') {
			if (fm->m == NULL)
				return write_whole_literal(it, fm, out);
			data = imap_message_data(fm->m, &len);
			return write_literal(it, data, len, out);
		}
		if (fm_message(fm) < 0)
			return -1;
		buf_reset(tmp);
		if (imap_message_section(fm->m, it->section, tmp, &data) < 0) {
			/* Checked at parse time; an empty answer rather than a broken reply. */
			buf_reset(tmp);
		}
		return write_literal(it, tmp->data != NULL ? tmp->data : "", tmp->len, out);
	}
	return 0;
}

int
imap_fetch_message(struct imap_fetch *f, struct imap_mailbox *mb, uint32_t seq, struct buf *out)
{
	struct fetch_msg fm = { .mb = mb, .seq = seq, .raw = &f->raw };
	const struct imap_msg *msg;
	struct buf tmp;
	size_t start = out->len, items_start = 0, i;
	bool seen_changed = false;
	int ret = -1, saved;

	if ((msg = imap_mailbox_msg(mb, seq)) == NULL) {
		errno = EINVAL;
		return -1;
	}
	buf_init(&tmp, 0);
	/*
	 * Read what the body parts need before \Seen is stored: a message
	 * gone meanwhile then changes nothing.
	 */
	if (f->needs_data && fm_raw(&fm) < 0)
		goto done;
	if (seen_stored(f, seq)) {
		/* Stored, with its modseq, by imap_fetch_store_seen before the first reply. */
		seen_changed = true;
	} else if (f->sets_seen && !imap_mailbox_readonly(mb) && (msg->flags & IMAP_FLAG_SEEN) == 0) {
		if (imap_mailbox_set_flags(mb, seq, msg->flags | IMAP_FLAG_SEEN, msg->keywords) < 0)
			goto done;
		seen_changed = true;
		/*
		 * With CONDSTORE on, the change is told with its MODSEQ (RFC 7162
		 * section 3.1): given now, unless imap_fetch_store_seen gave one
		 * to all of the FETCH's at once (the session does).  Otherwise
		 * the tagged reply's sync gives one for all of this FETCH's.
		 */
		if (f->condstore)
			(void)imap_mailbox_commit_flags(mb);
		if ((msg = imap_mailbox_msg(mb, seq)) == NULL) {
			errno = ENOENT;
			goto done;
		}
	}
	if (buf_printf(out, "* %lu FETCH (", (unsigned long)seq) < 0)
		goto done;
	items_start = out->len;
	for (i = 0; i < f->n_buffered; i++) {
		if ((i > 0 && buf_append_char(out, ' ') < 0) ||
		    write_item(&f->items[i], &fm, msg, out, &tmp) < 0)
			goto done;
	}
	/*
	 * RFC 3501 section 6.4.5: \Seen set by a body fetch is reported;
	 * Dovecot adds FLAGS after the short items when it was not asked
	 * for, and only when \Seen was not there before.
	 */
	if (seen_changed && !f->has_flags) {
		if (f->n_buffered > 0 && buf_append_char(out, ' ') < 0)
			goto done;
		if (buf_append_str(out, "FLAGS ") < 0)
			goto done;
		if (flags_write(mb, msg, out) < 0)
			goto done;
	}
	if (seen_changed && f->condstore && !f->has_modseq) {
		if (out->len > items_start && buf_append_char(out, ' ') < 0)
			goto done;
		if (buf_printf(out, "MODSEQ (%llu)", (unsigned long long)msg->modseq) < 0)
			goto done;
	}
	for (; i < f->n; i++) {
		if ((out->len > items_start && buf_append_char(out, ' ') < 0) ||
		    write_item(&f->items[i], &fm, msg, out, &tmp) < 0)
			goto done;
	}
	if (buf_append_str(out, ")\r\n") < 0)
		goto done;
	ret = 0;
done:
	saved = errno;
	if (ret < 0 && out->data != NULL) {
		/* Nothing of a failed message stays in out. */
		out->len = start;
		out->data[start] = '\0';
	}
	buf_free(&tmp);
	imap_message_free(fm.m);
	/* A big message's memory is not kept for the next one. */
	if (f->raw.cap > FETCH_RAW_KEEP)
		buf_free(&f->raw);
	else
		buf_reset(&f->raw);
	errno = saved;
	return ret;
}
