/* imap_message.c - one message as IMAP shows it: CRLF form, ENVELOPE, BODYSTRUCTURE, BODY[section] octets and text search, the MIME tree from GMime 3. */
#include "imap_message.h"

#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "ascii.h"

/*
 * How the work is split.
 *
 * GMime decides the MIME tree: which part is a multipart (and its boundary),
 * which is a message/rfc822 with a message inside, and the decoded content
 * of leaf parts for SEARCH.  The octet ranges that IMAP counts and sends
 * (headers, bodies, sizes, lines) are taken from the CRLF form by following
 * that tree: the header block of an entity ends at its first empty line
 * (as Dovecot has it, RFC 5322 section 2.1), and the parts of a multipart
 * are between its delimiter lines (RFC 2046 section 5.1.1; the CRLF before a
 * delimiter belongs to the delimiter).  The strings of ENVELOPE and
 * BODYSTRUCTURE are the raw header text, not GMime's decoded values: IMAP
 * servers send encoded words and RFC 2231 parameters as they stand
 * (RFC 3501 section 7.4.2; Dovecot is the reference for the details).
 *
 * ENVELOPE, BODY[HEADER...], BODY[TEXT], BODY[] and the Date need only
 * the top header block: the GMime parse happens on first need of the tree
 * (BODYSTRUCTURE, part numbers, text search) and is kept for the next
 * sections of the same FETCH.
 */

/* Deeper MIME parts than this are shown as one text/plain part holding the rest. */
#define IMAP_MESSAGE_MAX_DEPTH 100
/* The names of one HEADER.FIELDS list (more is refused as BAD). */
#define IMAP_MESSAGE_MAX_FIELDS 256

enum part_kind {
	PART_LEAF,
	PART_MULTIPART,
	PART_RFC822,    /* message/rfc822 parsed as a message: child[0] is that message */
};

/* One entity: a message or a body part with its header block. */
struct part {
	GMimeObject *obj;       /* GMime's part (borrowed from the tree); NULL: none */
	size_t hdr;             /* [hdr, body): header block with its empty line */
	size_t body;            /* [body, end): the body */
	size_t end;
	enum part_kind kind;
	bool plain;             /* shown as text/plain (too deep, or no MIME at all) */
	struct part *child;
	size_t nchild;
};

struct imap_message {
	char *data;             /* the CRLF form, NUL-terminated */
	size_t len;
	struct part root;       /* root.hdr/body/end are known without GMime */
	bool parsed;
	GByteArray *array;      /* wraps data for GMime's stream, not owning it */
	GMimeStream *stream;
	GMimeMessage *gm;
};

/* One header field: [start, end) with its CRLF and continuation lines. */
struct hfield {
	size_t start;
	size_t name_end;        /* name is [start, name_end), trailing blanks removed */
	size_t value;           /* after the colon (== end when there is none) */
	size_t end;
	bool colon;
};

void
imap_message_init(void)
{
	g_mime_init();
}

void
imap_message_shutdown(void)
{
	g_mime_shutdown();
}

uint64_t
imap_message_crlf_size(const char *data, size_t len)
{
	uint64_t size = len;
	const char *p = data, *end = data + len;

	/* A bare LF counts 2, CRLF 2: each LF not after a CR adds one. */
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (p == data || p[-1] != '\r')
			size++;
		p++;
	}
	return size;
}

/* The CRLF form of [data, data+len) (NUL octets as 0x80) into a new NUL-terminated string; NULL when out of memory. */
static char *
crlf_copy(const char *data, size_t len, size_t *len_r)
{
	uint64_t size = imap_message_crlf_size(data, len);
	const char *p = data, *end = data + len;
	char *out, *o;

	if (size >= SIZE_MAX)
		return NULL;
	out = malloc((size_t)size + 1);
	if (out == NULL)
		return NULL;
	o = out;
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t n = lf == NULL ? (size_t)(end - p) : (size_t)(lf - p);

		memcpy(o, p, n);
		o += n;
		p += n;
		if (lf == NULL)
			break;
		if (lf == data || lf[-1] != '\r')
			*o++ = '\r';
		*o++ = '\n';
		p++;
	}
	*o = '\0';
	*len_r = (size_t)(o - out);
	/*
	 * No IMAP string can carry a NUL (RFC 3501 section 4.3, literal8 is
	 * for BINARY only): each becomes 0x80, octet for octet so that every
	 * size stays the CRLF size.
	 */
	for (o = out; (o = memchr(o, '\0', (size_t)(out + *len_r - o))) != NULL; o++)
		*o = (char)0x80;
	return out;
}

/* The end of the line that starts at pos (after its LF), at most end. */
static size_t
line_end(const char *d, size_t pos, size_t end)
{
	const char *lf = pos < end ? memchr(d + pos, '\n', end - pos) : NULL;

	return lf == NULL ? end : (size_t)(lf - d) + 1;
}

/* Where the body of the entity whose header block starts at begin starts: after the first empty line, else end. */
static size_t
header_end(const char *d, size_t begin, size_t end)
{
	size_t pos = begin;

	while (pos < end) {
		if (d[pos] == '\n')
			return pos + 1;
		if (d[pos] == '\r' && pos + 1 < end && d[pos + 1] == '\n')
			return pos + 2;
		pos = line_end(d, pos, end);
	}
	return end;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The next field of the header block [*pos, end); false at its end (the empty line or end). */
static bool
field_next(const char *d, size_t *pos, size_t end, struct hfield *f)
{
	size_t p = *pos, first;

	if (p >= end || d[p] == '\n' || (d[p] == '\r' && p + 1 < end && d[p + 1] == '\n'))
		return false;
	f->start = p;
	first = line_end(d, p, end);
	p = first;
	/* RFC 5322 section 2.2.3: a line starting with a blank continues the field. */
	while (p < end && is_blank(d[p]))
		p = line_end(d, p, end);
	f->end = p;
	{
		const char *colon = memchr(d + f->start, ':', first - f->start);

		f->colon = colon != NULL;
		f->value = colon != NULL ? (size_t)(colon - d) + 1 : f->end;
		f->name_end = colon != NULL ? (size_t)(colon - d) : f->start;
	}
	while (f->name_end > f->start && is_blank(d[f->name_end - 1]))
		f->name_end--;
	*pos = p;
	return true;
}

static bool
field_is(const char *d, const struct hfield *f, const char *name, size_t name_len)
{
	return f->colon && f->name_end - f->start == name_len &&
	       ascii_eq_nocase(d + f->start, name, name_len);
}

/* The first field called name in the header block [hdr, end), or false. */
static bool
field_find(const char *d, size_t hdr, size_t end, const char *name, struct hfield *f)
{
	size_t pos = hdr, n = strlen(name);

	while (field_next(d, &pos, end, f))
		if (field_is(d, f, name, n))
			return true;
	return false;
}

/*
 * The value of f into out (reset first): the blanks after the colon
 * skipped and the last line break dropped; with unfold, every CR and LF
 * removed (RFC 5322 section 2.2.3), else kept (for put_human to see the
 * folding).  Trailing blanks stay, as Dovecot sends them.
 */
static void
field_value_raw(const char *d, const struct hfield *f, bool unfold, struct buf *out)
{
	size_t a = f->value, b = f->end;

	buf_reset(out);
	buf_append(out, "", 0);
	while (a < b && is_blank(d[a]))
		a++;
	if (b > a && d[b - 1] == '\n')
		b--;
	if (b > a && d[b - 1] == '\r')
		b--;
	for (size_t i = a; i < b; i++)
		if (!unfold || (d[i] != '\r' && d[i] != '\n'))
			buf_append_char(out, d[i]);
}

/* The unfolded value of f (see field_value_raw). */
static void
field_value(const char *d, const struct hfield *f, struct buf *out)
{
	field_value_raw(d, f, true, out);
}

/* ---- IMAP strings ---- */

static void
put_literal_start(struct buf *out, size_t n)
{
	buf_printf(out, "{%zu}\r\n", n);
}

/*
 * An IMAP string: quoted with \ before '"' and '\\', or a literal when it
 * has CR, LF, NUL or 8-bit octets (RFC 3501 section 4.3: a quoted string
 * holds 7-bit text only).  A NUL, which no IMAP string may hold, is sent
 * as 0x80 as Dovecot does.
 */
static void
put_string(struct buf *out, const char *s, size_t len)
{
	bool literal = false;

	for (size_t i = 0; i < len && !literal; i++) {
		unsigned char c = (unsigned char)s[i];

		literal = c == '\0' || c == '\r' || c == '\n' || c >= 0x80;
	}
	if (literal) {
		put_literal_start(out, len);
		for (size_t i = 0; i < len; i++)
			buf_append_char(out, s[i] == '\0' ? (char)0x80 : s[i]);
		return;
	}
	buf_append_char(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append_char(out, '\\');
		buf_append_char(out, s[i]);
	}
	buf_append_char(out, '"');
}

static void
put_nstring(struct buf *out, const char *s, size_t len)
{
	if (s == NULL)
		buf_append_str(out, "NIL");
	else
		put_string(out, s, len);
}

static bool
is_human_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Text for people (subject, display names): each run of blanks and line
 * breaks one space, none at either end, NUL as 0x80; sent quoted when
 * nothing needed changing and it has no '"', '\\' or 8-bit octet, as a
 * literal otherwise.  This is what Dovecot sends, so that clients see the
 * same ENVELOPE from both.
 */
static void
put_human(struct buf *out, const char *s, size_t len)
{
	bool modify = false, last_space = true;
	size_t keep = 0;
	struct buf tmp;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_human_space((char)c)) {
			if (c != ' ' || last_space)
				modify = true;
			if (!last_space)
				keep++;
			last_space = true;
			continue;
		}
		if (c == '\0' || c == '"' || c == '\\' || c >= 0x80)
			modify = true;
		last_space = false;
		keep++;
	}
	if (last_space && len > 0) {
		modify = true;
		if (keep > 0)
			keep--;
	}
	if (!modify) {
		buf_append_char(out, '"');
		buf_append(out, s, len);
		buf_append_char(out, '"');
		return;
	}
	if (keep == 0) {
		buf_append_str(out, "\"\"");
		return;
	}
	buf_init(&tmp, 0);
	last_space = true;
	for (size_t i = 0; i < len; i++) {
		if (is_human_space(s[i])) {
			if (!last_space)
				buf_append_char(&tmp, ' ');
			last_space = true;
			continue;
		}
		buf_append_char(&tmp, s[i] == '\0' ? (char)0x80 : s[i]);
		last_space = false;
	}
	if (last_space && tmp.len > 0)
		tmp.len--;
	put_literal_start(out, tmp.len);
	buf_append(out, tmp.data, tmp.len);
	buf_free(&tmp);
}

/* ---- addresses (RFC 5322 section 3.4, leniently, for ENVELOPE) ---- */

struct addr_parser {
	const char *p, *end;
	struct buf *out;        /* the address structures written so far */
	size_t count;
	struct buf comment;     /* the last comment seen (a name for a bare addr-spec) */
	bool have_comment;
	bool text;              /* out gets "name <mailbox@host>, ..." (for SEARCH), not IMAP structures */
	bool need_sep;          /* text: an address was written since the last group start */
};

static bool
is_special(char c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL && c != '\0';
}

/* Skip blanks and comments; the text of the last comment in ap->comment. */
static void
skip_cfws(struct addr_parser *ap)
{
	while (ap->p < ap->end) {
		if (is_human_space(*ap->p)) {
			ap->p++;
			continue;
		}
		if (*ap->p != '(')
			return;
		{
			int depth = 0;

			buf_reset(&ap->comment);
			ap->have_comment = true;
			while (ap->p < ap->end) {
				char c = *ap->p++;

				if (c == '\\' && ap->p < ap->end) {
					buf_append_char(&ap->comment, *ap->p++);
					continue;
				}
				if (c == '(') {
					if (depth++ > 0)
						buf_append_char(&ap->comment, c);
					continue;
				}
				if (c == ')') {
					if (--depth == 0)
						break;
					buf_append_char(&ap->comment, c);
					continue;
				}
				buf_append_char(&ap->comment, c);
			}
		}
	}
}

/* One atom or quoted string appended to w; false when there is none. */
static bool
parse_word(struct addr_parser *ap, struct buf *w)
{
	if (ap->p >= ap->end)
		return false;
	if (*ap->p == '"') {
		ap->p++;
		while (ap->p < ap->end && *ap->p != '"') {
			if (*ap->p == '\\' && ap->p + 1 < ap->end)
				ap->p++;
			if (*ap->p != '\r' && *ap->p != '\n')
				buf_append_char(w, *ap->p);
			ap->p++;
		}
		if (ap->p < ap->end)
			ap->p++;
		return true;
	}
	if (is_special(*ap->p) || is_human_space(*ap->p))
		return false;
	while (ap->p < ap->end && !is_special(*ap->p) && !is_human_space(*ap->p))
		buf_append_char(w, *ap->p++);
	return true;
}

/* A phrase (display name), words joined by one space; the count of words. */
static size_t
parse_phrase(struct addr_parser *ap, struct buf *w)
{
	size_t n = 0;

	for (;;) {
		skip_cfws(ap);
		if (ap->p < ap->end && *ap->p == '.' && n > 0) {
			/* obs-phrase (RFC 5322 section 4.1): "J. Doe" */
			buf_append_char(w, '.');
			ap->p++;
			continue;
		}
		if (n > 0 && ap->p < ap->end && !is_special(*ap->p))
			buf_append_char(w, ' ');
		else if (n > 0 && ap->p < ap->end && *ap->p == '"')
			buf_append_char(w, ' ');
		if (!parse_word(ap, w)) {
			if (n > 0 && w->len > 0 && w->data[w->len - 1] == ' ')
				w->len--;
			return n;
		}
		n++;
	}
}

/* word *("." word), dots kept, for a local part or a domain. */
static void
parse_dotted(struct addr_parser *ap, struct buf *w)
{
	for (;;) {
		skip_cfws(ap);
		if (!parse_word(ap, w))
			return;
		skip_cfws(ap);
		if (ap->p >= ap->end || *ap->p != '.')
			return;
		buf_append_char(w, '.');
		ap->p++;
	}
}

/* A domain: dotted atoms or a domain literal "[...]" as it stands. */
static void
parse_domain(struct addr_parser *ap, struct buf *w)
{
	skip_cfws(ap);
	if (ap->p < ap->end && *ap->p == '[') {
		while (ap->p < ap->end && *ap->p != ']')
			buf_append_char(w, *ap->p++);
		if (ap->p < ap->end)
			buf_append_char(w, *ap->p++);
		skip_cfws(ap);
		return;
	}
	parse_dotted(ap, w);
}

static void
put_address(struct addr_parser *ap, const struct buf *name, const struct buf *adl,
	    const char *mailbox, size_t mailbox_len, const char *host, size_t host_len)
{
	struct buf *out = ap->out;

	if (ap->text) {
		if (ap->need_sep)
			buf_append_str(out, ", ");
		if (name != NULL && name->len > 0) {
			buf_append(out, name->data, name->len);
			buf_append_str(out, " <");
		}
		buf_append(out, mailbox, mailbox_len);
		buf_append_char(out, '@');
		buf_append(out, host, host_len);
		if (name != NULL && name->len > 0)
			buf_append_char(out, '>');
		ap->need_sep = true;
		ap->count++;
		return;
	}
	buf_append_char(out, '(');
	if (name == NULL || name->len == 0)
		buf_append_str(out, "NIL");
	else
		put_human(out, name->data, name->len);
	buf_append_char(out, ' ');
	put_nstring(out, adl != NULL && adl->len > 0 ? adl->data : NULL, adl != NULL ? adl->len : 0);
	buf_append_char(out, ' ');
	put_nstring(out, mailbox, mailbox_len);
	buf_append_char(out, ' ');
	put_nstring(out, host, host_len);
	buf_append_char(out, ')');
	ap->count++;
}

#define MISSING_MAILBOX "MISSING_MAILBOX"
#define MISSING_DOMAIN "MISSING_DOMAIN"

/*
 * One mailbox (name-addr or addr-spec).  0, or -1 when the rest of the
 * list is not readable: like Dovecot, what was read so far stays, with
 * MISSING_MAILBOX / MISSING_DOMAIN for a part that is not there.
 */
static int
parse_mailbox(struct addr_parser *ap)
{
	const char *start = ap->p;
	struct buf name, adl, local, domain;
	int ret = 0;

	buf_init(&name, 0);
	buf_init(&adl, 0);
	buf_init(&local, 0);
	buf_init(&domain, 0);
	ap->have_comment = false;
	parse_phrase(ap, &name);
	skip_cfws(ap);
	if (ap->p < ap->end && *ap->p == '<') {
		/* name-addr: [phrase] "<" [route ":"] addr-spec ">" */
		ap->p++;
		skip_cfws(ap);
		while (ap->p < ap->end && *ap->p == '@') {
			if (adl.len > 0)
				buf_append_char(&adl, ',');
			buf_append_char(&adl, '@');
			ap->p++;
			parse_domain(ap, &adl);
			skip_cfws(ap);
			if (ap->p < ap->end && *ap->p == ',') {
				ap->p++;
				skip_cfws(ap);
				continue;
			}
			if (ap->p < ap->end && *ap->p == ':')
				ap->p++;
			break;
		}
		parse_dotted(ap, &local);
		skip_cfws(ap);
		if (ap->p < ap->end && *ap->p == '@') {
			ap->p++;
			parse_domain(ap, &domain);
		}
		skip_cfws(ap);
		if (ap->p < ap->end && *ap->p == '>')
			ap->p++;
		else
			ret = -1;
		skip_cfws(ap);
	} else {
		/* addr-spec; a comment is the name ("a@b (Name)") */
		ap->p = start;
		buf_reset(&name);
		ap->have_comment = false;
		parse_dotted(ap, &local);
		skip_cfws(ap);
		if (local.len == 0) {
			ret = -1;
			goto out;
		}
		if (ap->p < ap->end && *ap->p == '@') {
			ap->p++;
			parse_domain(ap, &domain);
			if (domain.len == 0)
				ret = -1;
		}
		skip_cfws(ap);
		if (ap->have_comment)
			buf_append(&name, ap->comment.data, ap->comment.len);
	}
	put_address(ap, &name, &adl,
		    local.len > 0 ? local.data : MISSING_MAILBOX,
		    local.len > 0 ? local.len : strlen(MISSING_MAILBOX),
		    domain.len > 0 ? domain.data : MISSING_DOMAIN,
		    domain.len > 0 ? domain.len : strlen(MISSING_DOMAIN));
out:
	buf_free(&name);
	buf_free(&adl);
	buf_free(&local);
	buf_free(&domain);
	return ret;
}

static void
put_group_end(struct addr_parser *ap)
{
	if (ap->text) {
		buf_append_char(ap->out, ';');
		ap->need_sep = true;
	} else {
		buf_append_str(ap->out, "(NIL NIL NIL NIL)");
	}
}

/* A mailbox or a group (RFC 3501: group start (NIL NIL name NIL), end (NIL NIL NIL NIL)). */
static int
parse_address(struct addr_parser *ap)
{
	const char *start = ap->p;
	struct buf name;
	size_t words;

	buf_init(&name, 0);
	words = parse_phrase(ap, &name);
	skip_cfws(ap);
	if (words == 0 || ap->p >= ap->end || *ap->p != ':') {
		buf_free(&name);
		ap->p = start;
		return parse_mailbox(ap);
	}
	ap->p++;
	if (ap->text) {
		if (ap->need_sep)
			buf_append_str(ap->out, ", ");
		buf_append(ap->out, name.data, name.len);
		buf_append_str(ap->out, ": ");
		ap->need_sep = false;
	} else {
		buf_append_str(ap->out, "(NIL NIL ");
		put_string(ap->out, name.data, name.len);
		buf_append_str(ap->out, " NIL)");
	}
	ap->count++;
	buf_free(&name);
	for (;;) {
		skip_cfws(ap);
		if (ap->p >= ap->end || *ap->p == ';')
			break;
		if (*ap->p == ',') {
			ap->p++;
			continue;
		}
		if (parse_mailbox(ap) < 0) {
			put_group_end(ap);
			return -1;
		}
	}
	if (ap->p < ap->end)
		ap->p++;
	put_group_end(ap);
	return 0;
}

/* The address list of value: IMAP address structures, or NIL when it has none; with text, "name <mailbox@host>, ...". */
static void
address_list(struct buf *out, const char *value, size_t len, bool text)
{
	struct addr_parser ap = { .p = value, .end = value + len, .text = text };
	struct buf list;

	buf_init(&list, 0);
	buf_init(&ap.comment, 0);
	ap.out = &list;
	while (ap.p < ap.end) {
		skip_cfws(&ap);
		if (ap.p >= ap.end)
			break;
		if (*ap.p == ',') {
			ap.p++;
			continue;
		}
		if (parse_address(&ap) < 0)
			break;
		skip_cfws(&ap);
		if (ap.p < ap.end && *ap.p != ',')
			break;
	}
	if (text)
		buf_append(out, list.data, list.len);
	else if (ap.count == 0)
		buf_append_str(out, "NIL");
	else {
		buf_append_char(out, '(');
		buf_append(out, list.data, list.len);
		buf_append_char(out, ')');
	}
	buf_free(&list);
	buf_free(&ap.comment);
}

/* ---- ENVELOPE ---- */

/* The ENVELOPE of the header block [hdr, end) of data. */
static void
put_envelope(const char *d, size_t hdr, size_t end, struct buf *out)
{
	static const char *const names[] = {
		"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
		"In-Reply-To", "Message-ID",
	};
	enum { F_DATE, F_SUBJECT, F_FROM, F_SENDER, F_REPLY_TO, F_TO, F_CC, F_BCC, F_IN_REPLY_TO,
	       F_MESSAGE_ID, F_COUNT };
	struct hfield found[F_COUNT];
	bool have[F_COUNT] = { false };
	struct hfield f;
	size_t pos = hdr;
	struct buf v;

	/* One pass over the header block: the first field of each name counts. */
	while (field_next(d, &pos, end, &f))
		for (size_t i = 0; i < F_COUNT; i++)
			if (!have[i] && field_is(d, &f, names[i], strlen(names[i]))) {
				found[i] = f;
				have[i] = true;
				break;
			}
	buf_init(&v, 0);
	buf_append_char(out, '(');
	for (size_t i = 0; i < F_COUNT; i++) {
		size_t use = i;

		if (i > 0)
			buf_append_char(out, ' ');
		if (i == F_SENDER || i == F_REPLY_TO) {
			/* RFC 3501 section 7.4.2: sender and reply-to default to from */
			bool empty = true;

			if (have[i]) {
				field_value(d, &found[i], &v);
				for (size_t k = 0; k < v.len && empty; k++)
					empty = is_human_space(v.data[k]);
			}
			if (empty)
				use = F_FROM;
		}
		if (!have[use]) {
			buf_append_str(out, "NIL");
			continue;
		}
		field_value_raw(d, &found[use], use != F_SUBJECT, &v);
		switch (use) {
		case F_SUBJECT:
			put_human(out, v.data, v.len);
			break;
		case F_DATE:
		case F_IN_REPLY_TO:
		case F_MESSAGE_ID:
			put_string(out, v.data, v.len);
			break;
		default:
			address_list(out, v.data, v.len, false);
			break;
		}
	}
	buf_append_char(out, ')');
	buf_free(&v);
}

void
imap_message_envelope(struct imap_message *m, struct buf *out)
{
	put_envelope(m->data, m->root.hdr, m->root.body, out);
}

/* ---- construction and the MIME tree ---- */

struct imap_message *
imap_message_new(const char *data, size_t len)
{
	struct imap_message *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->data = crlf_copy(data, len, &m->len);
	if (m->data == NULL) {
		free(m);
		return NULL;
	}
	m->root.hdr = 0;
	m->root.body = header_end(m->data, 0, m->len);
	m->root.end = m->len;
	m->root.kind = PART_LEAF;
	return m;
}

static void
part_free(struct part *p)
{
	for (size_t i = 0; i < p->nchild; i++)
		part_free(&p->child[i]);
	free(p->child);
	p->child = NULL;
	p->nchild = 0;
}

void
imap_message_free(struct imap_message *m)
{
	if (m == NULL)
		return;
	part_free(&m->root);
	if (m->gm != NULL)
		g_object_unref(m->gm);
	if (m->stream != NULL)
		g_object_unref(m->stream);
	if (m->array != NULL)
		g_byte_array_free(m->array, FALSE);     /* data stays ours */
	free(m->data);
	free(m);
}

const char *
imap_message_data(const struct imap_message *m, size_t *len_r)
{
	*len_r = m->len;
	return m->data;
}

/*
 * Is the line [s, e) (without its line break) a delimiter of boundary
 * ("--" boundary, then blanks only) or, with final, its close delimiter
 * ("--" boundary "--")?  GMime's rule, so that the ranges found here and
 * GMime's parts agree.
 */
static bool
is_delimiter(const char *d, size_t s, size_t e, const char *boundary, size_t blen, bool final)
{
	size_t p = s + 2 + blen;

	if (e - s < 2 + blen || d[s] != '-' || d[s + 1] != '-' || memcmp(d + s + 2, boundary, blen) != 0)
		return false;
	if (final) {
		if (e - p < 2 || d[p] != '-' || d[p + 1] != '-')
			return false;
		p += 2;
	}
	while (p < e && (is_blank(d[p]) || d[p] == '\r'))
		p++;
	return p == e;
}

/* The start of the CRLF (or LF) before the line at pos, not before floor: the delimiter owns it. */
static size_t
before_break(const char *d, size_t pos, size_t floor)
{
	if (pos > floor && d[pos - 1] == '\n') {
		pos--;
		if (pos > floor && d[pos - 1] == '\r')
			pos--;
	}
	return pos;
}

static void layout(struct imap_message *m, struct part *p, GMimeObject *obj, size_t begin,
		   size_t end, unsigned depth);

/* The children of multipart p, between the delimiter lines of its body. */
static void
layout_multipart(struct imap_message *m, struct part *p, GMimeMultipart *mp, unsigned depth)
{
	/* Read the parameter, not g_mime_multipart_get_boundary(): that one makes up
	 * a boundary when there is none, and re-encoding a hostile Content-Type for it
	 * (an 8-bit parameter name) grew without bound in GMime 3.2 (fuzz, 2026-12-07). */
	const char *d = m->data,
		   *boundary = g_mime_object_get_content_type_parameter(GMIME_OBJECT(mp), "boundary");
	size_t blen = boundary != NULL ? strlen(boundary) : 0;
	size_t n = (size_t)g_mime_multipart_get_count(mp), found = 0;
	size_t pos = p->body, child_start = 0;
	bool open = false;

	if (n == 0)
		return;
	p->child = calloc(n, sizeof(*p->child));
	if (p->child == NULL) {
		p->plain = true;
		return;
	}
	p->nchild = n;
	while (boundary != NULL && pos < p->end && found < n) {
		size_t e = line_end(d, pos, p->end), text_end = e;

		if (text_end > pos && d[text_end - 1] == '\n')
			text_end--;
		if (is_delimiter(d, pos, text_end, boundary, blen, true)) {
			if (open) {
				layout(m, &p->child[found], g_mime_multipart_get_part(mp, (int)found),
				       child_start, before_break(d, pos, child_start), depth + 1);
				found++;
			}
			open = false;
			break;
		}
		if (is_delimiter(d, pos, text_end, boundary, blen, false)) {
			if (open) {
				layout(m, &p->child[found], g_mime_multipart_get_part(mp, (int)found),
				       child_start, before_break(d, pos, child_start), depth + 1);
				found++;
			}
			open = true;
			child_start = e;
		}
		pos = e;
	}
	if (open && found < n) {
		/* no close delimiter: the last part runs to the end */
		layout(m, &p->child[found], g_mime_multipart_get_part(mp, (int)found), child_start,
		       p->end, depth + 1);
		found++;
	}
	/* Parts GMime has and the scan did not find: empty, at the end. */
	for (; found < n; found++)
		layout(m, &p->child[found], g_mime_multipart_get_part(mp, (int)found), p->end, p->end,
		       depth + 1);
}

/* The entity p: [begin, end) of the CRLF form, its MIME part obj (NULL: plain text). */
static void
layout(struct imap_message *m, struct part *p, GMimeObject *obj, size_t begin, size_t end,
       unsigned depth)
{
	p->obj = obj;
	p->hdr = begin;
	p->end = end;
	p->body = header_end(m->data, begin, end);
	p->kind = PART_LEAF;
	p->plain = false;
	if (obj == NULL)
		return;
	if (depth >= IMAP_MESSAGE_MAX_DEPTH) {
		/* Bounded work and output: what is deeper is one text part. */
		p->plain = true;
		return;
	}
	if (GMIME_IS_MULTIPART(obj)) {
		p->kind = PART_MULTIPART;
		layout_multipart(m, p, GMIME_MULTIPART(obj), depth);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		if (inner == NULL)
			return;
		p->child = calloc(1, sizeof(*p->child));
		if (p->child == NULL)
			return;
		p->kind = PART_RFC822;
		p->nchild = 1;
		layout(m, p->child, g_mime_message_get_mime_part(inner), p->body, p->end, depth + 1);
	}
}

/* Parse the MIME tree once (GMime over the CRLF form, content left in place). */
static void
message_parse(struct imap_message *m)
{
	GMimeParser *parser;
	GMimeObject *top = NULL;

	if (m->parsed)
		return;
	m->parsed = true;
	if (m->len <= G_MAXUINT) {
		m->array = g_byte_array_new_take((guint8 *)m->data, m->len);
		m->stream = g_mime_stream_mem_new_with_byte_array(m->array);
		g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(m->stream), FALSE);
		parser = g_mime_parser_new_with_stream(m->stream);
		g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
		/* persist: leaf contents are windows on our stream, not copies */
		g_mime_parser_set_persist_stream(parser, TRUE);
		m->gm = g_mime_parser_construct_message(parser, NULL);
		g_object_unref(parser);
	}
	if (m->gm != NULL)
		top = g_mime_message_get_mime_part(m->gm);
	layout(m, &m->root, top, 0, m->len, 0);
	if (top == NULL)
		m->root.plain = true;
}

/* ---- Content-Type and friends, raw ---- */

struct ctype {
	const char *type, *subtype;     /* into val, or NULL */
	size_t type_len, subtype_len;
	const char *params;             /* the text after the first ';' */
	size_t params_len;
};

static bool
is_token_char(char c)
{
	unsigned char u = (unsigned char)c;

	return u > 0x20 && u != 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Blanks skipped from i, then a token: its start in *start_r, the index after it returned. */
static size_t
skip_token(const char *v, size_t i, size_t len, size_t *start_r)
{
	while (i < len && is_human_space(v[i]))
		i++;
	*start_r = i;
	while (i < len && is_token_char(v[i]))
		i++;
	return i;
}

/* "type/subtype; params" (RFC 2045 section 5.1) of a value; a missing part stays NULL. */
static void
ctype_parse(const char *v, size_t len, struct ctype *ct)
{
	size_t i, s;

	memset(ct, 0, sizeof(*ct));
	i = skip_token(v, 0, len, &s);
	if (i > s) {
		ct->type = v + s;
		ct->type_len = i - s;
	}
	while (i < len && is_human_space(v[i]))
		i++;
	if (i < len && v[i] == '/') {
		i = skip_token(v, i + 1, len, &s);
		if (i > s) {
			ct->subtype = v + s;
			ct->subtype_len = i - s;
		}
	}
	while (i < len && v[i] != ';')
		i++;
	if (i < len) {
		ct->params = v + i + 1;
		ct->params_len = len - i - 1;
	}
}

/*
 * The parameter list "(name value ...)" of params, as they stand (no
 * RFC 2231 joining, as Dovecot); with add_charset, ("charset" "us-ascii")
 * at the end when there is no charset (RFC 2045 section 5.2 default for
 * text).  NIL when empty.
 */
static void
put_params(struct buf *out, const char *v, size_t len, bool add_charset)
{
	size_t i = 0, count = 0;
	bool charset = false;
	struct buf value;

	buf_init(&value, 0);
	while (v != NULL && i < len) {
		size_t ns, ne;

		while (i < len && (is_human_space(v[i]) || v[i] == ';'))
			i++;
		ns = i;
		while (i < len && is_token_char(v[i]))
			i++;
		ne = i;
		while (i < len && is_human_space(v[i]))
			i++;
		if (ne == ns || i >= len || v[i] != '=') {
			/* not a parameter: skip to the next ';' */
			while (i < len && v[i] != ';')
				i++;
			continue;
		}
		i++;
		while (i < len && is_human_space(v[i]))
			i++;
		buf_reset(&value);
		buf_append(&value, "", 0);
		if (i < len && v[i] == '"') {
			i++;
			while (i < len && v[i] != '"') {
				if (v[i] == '\\' && i + 1 < len)
					i++;
				buf_append_char(&value, v[i++]);
			}
			if (i < len)
				i++;
		} else {
			while (i < len && v[i] != ';' && !is_human_space(v[i]))
				buf_append_char(&value, v[i++]);
		}
		buf_append_str(out, count == 0 ? "(" : " ");
		put_string(out, v + ns, ne - ns);
		buf_append_char(out, ' ');
		put_string(out, value.data, value.len);
		count++;
		if (ne - ns == 7 && ascii_eq_nocase(v + ns, "charset", 7))
			charset = true;
		while (i < len && v[i] != ';')
			i++;
	}
	buf_free(&value);
	if (add_charset && !charset) {
		buf_append_str(out, count == 0 ? "(" : " ");
		buf_append_str(out, "\"charset\" \"us-ascii\"");
		count++;
	}
	buf_append_str(out, count > 0 ? ")" : "NIL");
}

/* The unfolded, trimmed value of field name in the header block of p as an nstring. */
static void
put_field_nstring(const char *d, const struct part *p, const char *name, struct buf *tmp,
		  struct buf *out)
{
	struct hfield f;

	if (!field_find(d, p->hdr, p->body, name, &f)) {
		buf_append_str(out, "NIL");
		return;
	}
	field_value(d, &f, tmp);
	put_string(out, tmp->data, tmp->len);
}

/* disposition language location (RFC 3501 section 7.4.2 body extensions, after md5 or params). */
static void
put_extensions(const char *d, const struct part *p, struct buf *tmp, struct buf *out)
{
	struct hfield f;

	buf_append_char(out, ' ');
	if (field_find(d, p->hdr, p->body, "Content-Disposition", &f)) {
		struct ctype ct;

		field_value(d, &f, tmp);
		ctype_parse(tmp->data, tmp->len, &ct);
		if (ct.type == NULL)
			buf_append_str(out, "NIL");
		else {
			buf_append_char(out, '(');
			put_string(out, ct.type, ct.type_len);
			buf_append_char(out, ' ');
			put_params(out, ct.params, ct.params_len, false);
			buf_append_char(out, ')');
		}
	} else
		buf_append_str(out, "NIL");
	buf_append_char(out, ' ');
	if (field_find(d, p->hdr, p->body, "Content-Language", &f)) {
		/* RFC 3282: a list of language tags, sent as a list of strings */
		size_t i = 0, count = 0;

		field_value(d, &f, tmp);
		while (i < tmp->len) {
			size_t s;

			while (i < tmp->len && (is_human_space(tmp->data[i]) || tmp->data[i] == ','))
				i++;
			s = i;
			while (i < tmp->len && !is_human_space(tmp->data[i]) && tmp->data[i] != ',')
				i++;
			if (i > s) {
				buf_append_str(out, count++ == 0 ? "(" : " ");
				put_string(out, tmp->data + s, i - s);
			}
		}
		buf_append_str(out, count > 0 ? ")" : "NIL");
	} else
		buf_append_str(out, "NIL");
	buf_append_char(out, ' ');
	put_field_nstring(d, p, "Content-Location", tmp, out);
}

static uint64_t
count_lines(const char *d, size_t a, size_t b)
{
	uint64_t n = 0;
	const char *p = d + a, *end = d + b;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

static void put_body(const char *d, const struct part *p, bool extended, struct buf *tmp,
		     struct buf *out);

/* Dovecot's answer for a multipart without parts (not allowed by RFC 3501): one empty text part. */
#define EMPTY_TEXT_PART "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"

static void
put_multipart(const char *d, const struct part *p, bool extended, struct buf *tmp, struct buf *out)
{
	struct ctype ct = { 0 };
	struct hfield f;
	char *raw = NULL;
	size_t raw_len = 0;

	if (field_find(d, p->hdr, p->body, "Content-Type", &f)) {
		field_value(d, &f, tmp);
		raw = malloc(tmp->len + 1);
		if (raw != NULL) {
			memcpy(raw, tmp->data, tmp->len + 1);
			raw_len = tmp->len;
			ctype_parse(raw, raw_len, &ct);
		}
	}
	buf_append_char(out, '(');
	if (p->nchild == 0)
		buf_append_str(out, extended ? EMPTY_TEXT_PART " NIL NIL NIL NIL)" : EMPTY_TEXT_PART ")");
	for (size_t i = 0; i < p->nchild; i++)
		put_body(d, &p->child[i], extended, tmp, out);
	buf_append_char(out, ' ');
	if (ct.subtype != NULL && ct.type_len == 9 && ascii_eq_nocase(ct.type, "multipart", 9))
		put_string(out, ct.subtype, ct.subtype_len);
	else {
		/* GMime saw a multipart the raw header does not spell plainly */
		const char *sub = g_mime_content_type_get_media_subtype(
			g_mime_object_get_content_type(p->obj));

		put_string(out, sub != NULL ? sub : "mixed", strlen(sub != NULL ? sub : "mixed"));
	}
	if (extended) {
		buf_append_char(out, ' ');
		put_params(out, ct.params, ct.params_len, false);
		put_extensions(d, p, tmp, out);
	}
	buf_append_char(out, ')');
	free(raw);
}

/* BODY / BODYSTRUCTURE of entity p as a body part (RFC 3501 section 7.4.2). */
static void
put_body(const char *d, const struct part *p, bool extended, struct buf *tmp, struct buf *out)
{
	struct ctype ct = { 0 };
	struct hfield f;
	char *raw = NULL;
	bool text, have_ct = false;

	if (p->kind == PART_MULTIPART && !p->plain) {
		put_multipart(d, p, extended, tmp, out);
		return;
	}
	if (!p->plain && field_find(d, p->hdr, p->body, "Content-Type", &f)) {
		field_value(d, &f, tmp);
		raw = malloc(tmp->len + 1);
		if (raw != NULL) {
			memcpy(raw, tmp->data, tmp->len + 1);
			ctype_parse(raw, tmp->len, &ct);
			have_ct = ct.type != NULL && ct.subtype != NULL;
		}
	}
	buf_append_char(out, '(');
	if (p->kind == PART_RFC822 && !p->plain) {
		/* spelt in lower case whatever the header says (as Dovecot); also the
		 * default type in a multipart/digest (RFC 2046 section 5.1.5) */
		buf_append_str(out, "\"message\" \"rfc822\" ");
		if (have_ct)
			put_params(out, ct.params, ct.params_len, false);
		else
			buf_append_str(out, "NIL");
		text = false;
	} else if (!have_ct) {
		/* RFC 2045 section 5.2: no (readable) Content-Type is text/plain; charset=us-ascii */
		buf_append_str(out, "\"text\" \"plain\" (\"charset\" \"us-ascii\")");
		text = true;
	} else {
		text = ct.type_len == 4 && ascii_eq_nocase(ct.type, "text", 4);
		put_string(out, ct.type, ct.type_len);
		buf_append_char(out, ' ');
		put_string(out, ct.subtype, ct.subtype_len);
		buf_append_char(out, ' ');
		put_params(out, ct.params, ct.params_len, text);
	}
	free(raw);
	buf_append_char(out, ' ');
	if (p->plain) {
		buf_append_str(out, "NIL NIL \"7bit\"");
	} else {
		put_field_nstring(d, p, "Content-ID", tmp, out);
		buf_append_char(out, ' ');
		put_field_nstring(d, p, "Content-Description", tmp, out);
		buf_append_char(out, ' ');
		if (field_find(d, p->hdr, p->body, "Content-Transfer-Encoding", &f)) {
			field_value(d, &f, tmp);
			put_string(out, tmp->data, tmp->len);
		} else
			buf_append_str(out, "\"7bit\"");
	}
	buf_printf(out, " %zu", p->end - p->body);
	if (p->kind == PART_RFC822 && !p->plain) {
		const struct part *c = &p->child[0];

		buf_append_char(out, ' ');
		put_envelope(d, c->hdr, c->body, out);
		buf_append_char(out, ' ');
		put_body(d, c, extended, tmp, out);
		buf_printf(out, " %llu", (unsigned long long)count_lines(d, p->body, p->end));
	} else if (text || p->plain) {
		buf_printf(out, " %llu", (unsigned long long)count_lines(d, p->body, p->end));
	}
	if (extended) {
		buf_append_char(out, ' ');
		if (p->plain)
			buf_append_str(out, "NIL NIL NIL NIL");
		else {
			put_field_nstring(d, p, "Content-MD5", tmp, out);
			put_extensions(d, p, tmp, out);
		}
	}
	buf_append_char(out, ')');
}

void
imap_message_bodystructure(struct imap_message *m, bool extended, struct buf *out)
{
	struct buf tmp;

	message_parse(m);
	buf_init(&tmp, 0);
	put_body(m->data, &m->root, extended, &tmp, out);
	buf_free(&tmp);
}

/* ---- sections ---- */

struct section_name {
	const char *s;
	size_t len;
};

static bool
word_at(const char *s, const char *word, size_t *len_r)
{
	size_t n = strlen(word);

	if (strlen(s) < n || !ascii_eq_nocase(s, word, n))
		return false;
	*len_r = n;
	return true;
}

/* "(" names ")" (atoms or quoted strings) at s; the count, or -1 on bad syntax. */
static int
parse_field_list(const char *s, struct section_name *names, size_t max)
{
	size_t n = 0;

	while (*s == ' ')
		s++;
	if (*s++ != '(')
		return -1;
	for (;;) {
		while (*s == ' ')
			s++;
		if (*s == ')')
			break;
		if (n == max)
			return -1;
		if (*s == '"') {
			const char *st = ++s;

			while (*s != '\0' && *s != '"') {
				if (*s == '\\' || (unsigned char)*s < 0x20)
					return -1;  /* escaped names: not a header name anyway */
				s++;
			}
			if (*s != '"' || s == st)
				return -1;
			names[n].s = st;
			names[n].len = (size_t)(s - st);
			s++;
		} else {
			const char *st = s;

			while (*s != '\0' && *s != ' ' && *s != ')' && *s != '(' &&
			       (unsigned char)*s > 0x20 && (unsigned char)*s < 0x7f && *s != '"')
				s++;
			if (s == st)
				return -1;
			names[n].s = st;
			names[n].len = (size_t)(s - st);
		}
		n++;
		if (*s != ' ' && *s != ')')
			return -1;
	}
	s++;
	while (*s == ' ')
		s++;
	return *s == '\0' && n > 0 ? (int)n : -1;
}

/* The header block [hdr, end) with only the fields in names (or, with not, the others), and its empty line. */
static void
put_fields(const char *d, size_t hdr, size_t end, const struct section_name *names, size_t n,
	   bool not, struct buf *out)
{
	struct hfield f;
	size_t pos = hdr;

	while (field_next(d, &pos, end, &f)) {
		bool match = false;

		for (size_t i = 0; i < n && !match; i++)
			match = field_is(d, &f, names[i].s, names[i].len);
		if (match != not)
			buf_append(out, d + f.start, f.end - f.start);
	}
	/*
	 * The empty line: always after HEADER.FIELDS (RFC 3501 section 6.4.5's
	 * "blank line between the header and the body"); after .NOT only when
	 * the header block has one, as Dovecot answers for a message that is
	 * all header.
	 */
	if (!not || (pos + 2 <= end && d[pos] == '\r' && d[pos + 1] == '\n'))
		buf_append_str(out, "\r\n");
}

int
imap_message_section(struct imap_message *m, const char *section, struct buf *out,
		     const char **error_r)
{
	const char *s = section;
	const struct part *p = &m->root;
	bool as_message = true, body_of_message = false, exists = true, numbered = false;
	struct section_name names[IMAP_MESSAGE_MAX_FIELDS];
	size_t n;

	/* section-part: nz-number *("." nz-number) (RFC 3501 section 9) */
	while (*s >= '0' && *s <= '9') {
		unsigned long num = 0;

		if (*s == '0') {
			*error_r = "Invalid section part number";
			return -1;
		}
		while (*s >= '0' && *s <= '9') {
			num = num * 10 + (unsigned long)(*s - '0');
			if (num > 1000000UL) {
				*error_r = "Section part number too big";
				return -1;
			}
			s++;
		}
		if (*s != '\0' && *s != '.') {
			*error_r = "Invalid section";
			return -1;
		}
		if (*s == '.')
			s++;
		if (*s == '\0' && s[-1] == '.') {
			*error_r = "Invalid section";
			return -1;
		}
		if (!numbered)
			message_parse(m);
		numbered = true;
		if (!exists)
			continue;
		/* A message/rfc822 part's numbers go on inside its message. */
		if (!as_message && p->kind == PART_RFC822 && !p->plain) {
			p = &p->child[0];
			as_message = true;
		}
		if (p->kind == PART_MULTIPART && !p->plain) {
			if (num <= p->nchild)
				p = &p->child[num - 1];
			else
				exists = false;
			body_of_message = false;
		} else if (num == 1 && (as_message || !body_of_message)) {
			/*
			 * RFC 3501 section 6.4.5: a non-multipart message's part 1 is
			 * its body; a leaf part's 1 is the part itself, once (as
			 * Dovecot answers: 2.1 is part 2, 2.1.1 is nothing).
			 */
			body_of_message = true;
		} else
			exists = false;
		as_message = false;
	}
	if (*s == '\0') {
		if (exists)
			buf_append(out, m->data + (numbered ? p->body : p->hdr),
				   (numbered ? p->end - p->body : p->end - p->hdr));
		return 0;
	}
	if (numbered && word_at(s, "MIME", &n) && s[n] == '\0') {
		if (exists)
			buf_append(out, m->data + p->hdr, p->body - p->hdr);
		return 0;
	}
	/* HEADER and TEXT of a part: only of a message/rfc822 part */
	if (numbered && exists) {
		if (p->kind == PART_RFC822 && !p->plain)
			p = &p->child[0];
		else
			exists = false;
	}
	if (word_at(s, "HEADER.FIELDS.NOT", &n) || word_at(s, "HEADER.FIELDS", &n)) {
		bool not = n == strlen("HEADER.FIELDS.NOT");
		int count = s[n] == ' ' ? parse_field_list(s + n, names, IMAP_MESSAGE_MAX_FIELDS) : -1;

		if (count < 0) {
			*error_r = "Invalid header field list";
			return -1;
		}
		if (exists)
			put_fields(m->data, p->hdr, p->body, names, (size_t)count, not, out);
		return 0;
	}
	if (word_at(s, "HEADER", &n) && s[n] == '\0') {
		if (exists)
			buf_append(out, m->data + p->hdr, p->body - p->hdr);
		return 0;
	}
	if (word_at(s, "TEXT", &n) && s[n] == '\0') {
		if (exists)
			buf_append(out, m->data + p->body, p->end - p->body);
		return 0;
	}
	*error_r = "Invalid section";
	return -1;
}

/* ---- search ---- */

/* text made valid UTF-8 (NUL as a space) and case-folded; g_free it. */
static char *
fold(const char *s, size_t len)
{
	char *copy = g_malloc(len + 1), *valid, *folded;

	for (size_t i = 0; i < len; i++)
		copy[i] = s[i] == '\0' ? ' ' : s[i];
	copy[len] = '\0';
	valid = g_utf8_make_valid(copy, (gssize)len);
	g_free(copy);
	folded = g_utf8_casefold(valid, -1);
	g_free(valid);
	return folded;
}

/* Does the folded needle occur in text once decoded with RFC 2047 (a header value)? */
static bool
header_text_has(const char *value, const char *folded_needle)
{
	char *decoded = g_mime_utils_header_decode_text(NULL, value);
	char *hay = fold(decoded, strlen(decoded));
	bool found = strstr(hay, folded_needle) != NULL;

	g_free(hay);
	g_free(decoded);
	return found;
}

/* Does a field of the header block [hdr, end) (named name, or any with NULL) contain the needle? */
static bool
fields_have(const char *d, size_t hdr, size_t end, const char *name, const char *folded_needle)
{
	struct hfield f;
	size_t pos = hdr;
	struct buf v;
	bool found = false;

	buf_init(&v, 0);
	while (!found && field_next(d, &pos, end, &f)) {
		if (name != NULL && !field_is(d, &f, name, strlen(name)))
			continue;
		if (name == NULL && f.colon) {
			/* TEXT: the name is text of the header too */
			struct buf nm;

			buf_init(&nm, 0);
			buf_append(&nm, d + f.start, f.name_end - f.start);
			buf_append(&nm, "", 0);
			found = header_text_has(nm.data, folded_needle);
			buf_free(&nm);
			if (found)
				break;
		}
		field_value(d, &f, &v);
		for (size_t i = 0; i < v.len; i++)
			if (v.data[i] == '\0')
				v.data[i] = ' ';
		found = header_text_has(v.data, folded_needle);
	}
	buf_free(&v);
	return found;
}

bool
imap_message_header_has(struct imap_message *m, const char *field, const char *needle)
{
	char *folded;
	bool found;

	if (*needle == '\0') {
		struct hfield f;

		return field_find(m->data, m->root.hdr, m->root.body, field, &f);
	}
	folded = fold(needle, strlen(needle));
	found = fields_have(m->data, m->root.hdr, m->root.body, field, folded);
	g_free(folded);
	return found;
}

bool
imap_message_address_has(struct imap_message *m, const char *field, const char *needle)
{
	struct hfield f;
	struct buf v, text;
	size_t pos = m->root.hdr, n = strlen(field);
	char *folded;
	bool found = false;

	if (*needle == '\0')
		return field_find(m->data, m->root.hdr, m->root.body, field, &f);
	folded = fold(needle, strlen(needle));
	buf_init(&v, 0);
	buf_init(&text, 0);
	while (!found && field_next(m->data, &pos, m->root.body, &f)) {
		if (!field_is(m->data, &f, field, n))
			continue;
		field_value(m->data, &f, &v);
		buf_reset(&text);
		address_list(&text, v.data, v.len, true);
		for (size_t i = 0; i < text.len; i++)
			if (text.data[i] == '\0')
				text.data[i] = ' ';
		buf_append(&text, "", 0);
		found = header_text_has(text.data, folded);
	}
	buf_free(&text);
	buf_free(&v);
	g_free(folded);
	return found;
}

/* The decoded content of leaf part p in UTF-8 (transfer encoding undone, charset converted). */
static GByteArray *
part_text(GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *mem, *filtered;
	const char *charset;
	GByteArray *bytes;

	if (w == NULL)
		return NULL;
	mem = g_mime_stream_mem_new();
	filtered = g_mime_stream_filter_new(mem);
	charset = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
	if (charset != NULL && g_ascii_strcasecmp(charset, "utf-8") != 0 &&
	    g_ascii_strcasecmp(charset, "us-ascii") != 0) {
		GMimeFilter *conv = g_mime_filter_charset_new(charset, "UTF-8");

		/* an unknown charset: the octets as they are */
		if (conv != NULL) {
			g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), conv);
			g_object_unref(conv);
		}
	}
	g_mime_data_wrapper_write_to_stream(w, filtered);
	g_mime_stream_flush(filtered);
	g_object_unref(filtered);
	bytes = g_byte_array_new();
	g_byte_array_append(bytes, g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem))->data,
			    g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem))->len);
	g_object_unref(mem);
	return bytes;
}

/* Search the text parts under p (and the headers of messages inside), depth-first. */
static bool
part_text_has(struct imap_message *m, const struct part *p, const char *folded_needle)
{
	const char *d = m->data;

	if (p->kind == PART_MULTIPART && !p->plain) {
		for (size_t i = 0; i < p->nchild; i++)
			if (part_text_has(m, &p->child[i], folded_needle))
				return true;
		return false;
	}
	if (p->kind == PART_RFC822 && !p->plain) {
		/* the message inside is body text of this one, headers too */
		const struct part *c = &p->child[0];

		return fields_have(d, c->hdr, c->body, NULL, folded_needle) ||
		       part_text_has(m, c, folded_needle);
	}
	if (p->plain || p->obj == NULL || !GMIME_IS_PART(p->obj)) {
		char *hay = fold(d + p->body, p->end - p->body);
		bool found = strstr(hay, folded_needle) != NULL;

		g_free(hay);
		return found;
	}
	{
		GMimeContentType *ct = g_mime_object_get_content_type(p->obj);
		GByteArray *bytes;
		char *hay;
		bool found;

		/* Only text is searched, as IMAP servers without full-text indexes do. */
		if (ct != NULL && !g_mime_content_type_is_type(ct, "text", "*"))
			return false;
		bytes = part_text(GMIME_PART(p->obj));
		if (bytes == NULL)
			return false;
		hay = fold((const char *)bytes->data, bytes->len);
		g_byte_array_free(bytes, TRUE);
		found = strstr(hay, folded_needle) != NULL;
		g_free(hay);
		return found;
	}
}

bool
imap_message_text_has(struct imap_message *m, const char *needle, bool with_headers)
{
	char *folded = fold(needle, strlen(needle));
	bool found = *folded == '\0';

	if (!found && with_headers)
		found = fields_have(m->data, m->root.hdr, m->root.body, NULL, folded);
	if (!found) {
		message_parse(m);
		found = part_text_has(m, &m->root, folded);
	}
	g_free(folded);
	return found;
}

bool
imap_message_sent_date(struct imap_message *m, time_t *when_r, int *tz_offset_minutes_r)
{
	struct hfield f;
	struct buf v;
	GDateTime *dt;

	if (!field_find(m->data, m->root.hdr, m->root.body, "Date", &f))
		return false;
	buf_init(&v, 0);
	field_value(m->data, &f, &v);
	for (size_t i = 0; i < v.len; i++)
		if (v.data[i] == '\0')
			v.data[i] = ' ';
	dt = g_mime_utils_header_decode_date(v.data);
	buf_free(&v);
	if (dt == NULL)
		return false;
	*when_r = (time_t)g_date_time_to_unix(dt);
	*tz_offset_minutes_r = (int)(g_date_time_get_utc_offset(dt) / G_TIME_SPAN_MINUTE);
	g_date_time_unref(dt);
	return true;
}
