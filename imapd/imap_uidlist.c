/* imap_uidlist.c - a folder's UID list and keyword names: parsing (osd, Dovecot, Courier), atomic writing, the lock, UIDVALIDITY. */
#include "imap_uidlist.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "decimal.h"
#include "fdclose.h"
#include "path.h"
#include "regfile.h"
#include "xmalloc.h"

/* A UID list or keyword file bigger than this is refused (1,000,000 lines of ~80 octets fit). */
#define UIDLIST_FILE_MAX (256u * 1024 * 1024)
/* parse_header's versions of osd-uidlist (1-3 are Dovecot's and Courier's). */
#define OSD_V1 0
#define OSD_V2 (-2)
#define KEYWORDS_FILE_MAX (64u * 1024)
/* The lock: this many tries 10 ms apart. */
#define LOCK_TRIES 3000

void
imap_uidlist_init(struct imap_uidlist *ul)
{
	memset(ul, 0, sizeof(*ul));
	ul->next_uid = 1;
	ul->first_recent = 1;
}

/* Whether s lies in ul's block (the list's text as read): not an allocation of its own. */
static bool
in_block(const struct imap_uidlist *ul, const char *s)
{
	uintptr_t b = (uintptr_t)ul->block, p = (uintptr_t)s;

	return ul->block != NULL && p >= b && p <= b + ul->block_len;
}

void
imap_uidlist_entry_free(struct imap_uidlist *ul, struct imap_uid_entry *e)
{
	if (!in_block(ul, e->base))
		free(e->base);
	e->base = NULL;
	e->info = NULL;
}

static void
uidlist_clear(struct imap_uidlist *ul)
{
	size_t i;

	for (i = 0; i < ul->n; i++)
		imap_uidlist_entry_free(ul, &ul->v[i]);
	free(ul->block);
	ul->block = NULL;
	ul->block_len = 0;
	ul->n = 0;
	ul->have_stamps = false;
	ul->have_modseq = false;
	ul->highest_modseq = 0;
	ul->entries_deferred = false;
	ul->uidvalidity = 0;
	ul->next_uid = 1;
	ul->first_recent = 1;
	ul->source = IMAP_UIDLIST_NONE;
}

void
imap_uidlist_free(struct imap_uidlist *ul)
{
	uidlist_clear(ul);
	free(ul->v);
	ul->v = NULL;
	ul->cap = 0;
}

/* The next space-separated word of [*p, end) (the line), advancing *p. */
static bool
next_word(const char **p, const char *end, const char **w_r, size_t *len_r)
{
	const char *s = *p;

	while (s < end && *s == ' ')
		s++;
	if (s == end)
		return false;
	*w_r = s;
	while (s < end && *s != ' ')
		s++;
	*len_r = (size_t)(s - *w_r);
	*p = s;
	return true;
}

static bool
parse_u32(const char *s, size_t len, uint32_t *v_r)
{
	uint64_t v;

	if (len > 10 || decimal_parse(s, len, UINT32_MAX, &v) == -1)
		return false;
	*v_r = (uint32_t)v;
	return true;
}

/* base and info in one allocation: "<base>\0<info>\0", info NULL when ilen is SIZE_MAX. */
static void
entry_set(struct imap_uid_entry *e, const char *base, size_t len, const char *info, size_t ilen)
{
	char *b = xmalloc(len + 2 + (ilen == SIZE_MAX ? 0 : ilen));

	memcpy(b, base, len);
	b[len] = '\0';
	e->info = NULL;
	if (ilen != SIZE_MAX) {
		e->info = b + len + 1;
		memcpy(e->info, info, ilen);
		e->info[ilen] = '\0';
	}
	e->base = b;
}

static struct imap_uid_entry *
entry_push(struct imap_uidlist *ul, uint32_t uid, const char *base, size_t len, const char *info, size_t ilen)
{
	struct imap_uid_entry *e;

	if (ul->n == ul->cap) {
		ul->cap = ul->cap == 0 ? 256 : ul->cap * 2;
		ul->v = xreallocarray(ul->v, ul->cap, sizeof(*ul->v));
	}
	e = &ul->v[ul->n++];
	memset(e, 0, sizeof(*e));
	e->uid = uid;
	entry_set(e, base, len, info, ilen);
	return e;
}

/* An entry whose names stay where they are (in ul's block, NUL-terminated there). */
static inline void
entry_push_in_place(struct imap_uidlist *ul, uint32_t uid, char *base, char *info, bool in_new, uint64_t vsize,
		    uint64_t modseq, uint8_t mstate, uint32_t mflags)
{
	struct imap_uid_entry *e;

	if (ul->n == ul->cap) {
		ul->cap = ul->cap == 0 ? 256 : ul->cap * 2;
		ul->v = xreallocarray(ul->v, ul->cap, sizeof(*ul->v));
	}
	e = &ul->v[ul->n++];
	e->uid = uid;
	e->in_new = in_new;
	e->base = base;
	e->info = info;
	e->vsize = vsize;
	e->modseq = modseq;
	e->mstate = mstate;
	e->mflags = mflags;
}

void
imap_uidlist_set_info(struct imap_uidlist *ul, size_t i, const char *info, bool in_new)
{
	struct imap_uid_entry *e = &ul->v[i];
	char *old = e->base;

	if (info == NULL && e->info == NULL)
		return;
	if (info != NULL && e->info != NULL && e->in_new == in_new && strcmp(info, e->info) == 0)
		return;
	/* The flags of the modseq stay those of the old info. */
	if (e->mstate == IMAP_MFLAGS_INFO) {
		e->mflags = e->info != NULL ? imap_uidlist_letters_bits(e->info, SIZE_MAX) : 0;
		e->mstate = IMAP_MFLAGS_SET;
	}
	entry_set(e, old, strlen(old), info, info != NULL ? strlen(info) : SIZE_MAX);
	e->in_new = in_new;
	if (!in_block(ul, old))
		free(old);
}

/* The rest of a file name after its base, as kept in a list: printable, no space or '/'. */
static bool
info_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '/')
			return false;
	return len == 0 || s[0] == ':';
}

/* "<sec>.<nsec>" */
static bool
parse_stamp(const char *s, size_t len, struct timespec *ts)
{
	const char *dot = memchr(s, '.', len);
	uint64_t sec, nsec;

	if (dot == NULL || dot == s || (size_t)(s + len - dot - 1) != 9 ||
	    decimal_parse(s, (size_t)(dot - s), (uint64_t)1 << 40, &sec) == -1 ||
	    decimal_parse(dot + 1, 9, 999999999, &nsec) == -1)
		return false;
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)nsec;
	return true;
}

/* A base name as kept: printable, no '/', not empty, bounded; cut at ':'. */
static bool
base_ok(const char *s, size_t *len)
{
	size_t i, n = *len;

	for (i = 0; i < n; i++) {
		if (s[i] == ':') {
			n = i;
			break;
		}
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '/')
			return false;
	}
	if (n == 0 || n > IMAP_UIDLIST_BASE_MAX || s[0] == '.')
		return false;
	*len = n;
	return true;
}

/* One entry line of the given kind; skipped silently when it does not parse. */
static void
parse_entry(struct imap_uidlist *ul, int version, const char *p, const char *end)
{
	struct imap_uid_entry *e;
	const char *w, *name, *info = NULL;
	size_t wl, nl, il = SIZE_MAX;
	uint32_t uid;
	uint64_t vs, vsize = 0;
	bool in_new = false;

	if (!next_word(&p, end, &w, &wl) || !parse_u32(w, wl, &uid) || uid == 0)
		return;
	if (version == 3) {
		/* "<uid> [<key><value> ...] :<filename>": the name is everything after " :". */
		const char *colon = NULL, *q;

		for (q = p; q < end; q++)
			if (*q == ':' && q[-1] == ' ') {
				colon = q;
				break;
			}
		if (colon == NULL)
			return;
		name = colon + 1;
		nl = (size_t)(end - name);
	} else {
		if (version == 2 && !next_word(&p, end, &w, &wl))
			return;         /* the <flags> field */
		if (!next_word(&p, end, &name, &nl))
			return;
	}
	if (!base_ok(name, &nl))
		return;
	/* Ascending UIDs only: a line out of order is a corrupt one. */
	if (ul->n > 0 && uid <= ul->v[ul->n - 1].uid)
		return;
	if (ul->n >= IMAP_UIDLIST_MAX)
		return;
	if (version != OSD_V2) {
		entry_push(ul, uid, name, nl, NULL, SIZE_MAX);
		return;
	}
	/* " n|c<info>": the file as the last complete scan saw it; " W<vsize>". */
	while (next_word(&p, end, &w, &wl)) {
		if ((w[0] == 'n' || w[0] == 'c') && info == NULL && info_ok(w + 1, wl - 1)) {
			info = w + 1;
			il = wl - 1;
			in_new = w[0] == 'n';
		} else if (w[0] == 'W' && wl > 1 && decimal_parse(w + 1, wl - 1, UINT64_MAX / 2, &vs) == 0) {
			vsize = vs;
		} else {
			/* Not this version's: the entry stands without its file, the list without stamps. */
			info = NULL;
			il = SIZE_MAX;
			ul->have_stamps = false;
			break;
		}
	}
	e = entry_push(ul, uid, name, nl, info, il);
	e->in_new = in_new;
	e->vsize = vsize;
}

/* Octet classes of a list line (name_class): what ends or breaks a name. */
enum { NC_NAME, NC_SPACE, NC_COLON, NC_BAD };

/* NC_NAME for a name's octets (printable, not a space, '/' or ':'), else what it is. */
static unsigned char name_class[256];

static void
name_class_init(void)
{
	unsigned c;

	if (name_class[0] == NC_BAD)
		return;
	for (c = 0; c < 256; c++)
		name_class[c] = c > 0x20 && c < 0x7f && c != '/' ? NC_NAME : NC_BAD;
	name_class[' '] = NC_SPACE;
	name_class[':'] = NC_COLON;
}

/*
 * Whether any of the 8 octets in x is not NC_NAME (below 0x21, above 0x7e,
 * '/' or ':'): the usual exact tests for "an octet less than", "an octet
 * more than" and "a zero octet", eight octets at a time.
 */
static inline bool
word_has_stop(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	uint64_t sl = x ^ (ones * '/'), co = x ^ (ones * ':');

	return (((x - ones * 0x21) & ~x) | ((x + ones) | x) | ((sl - ones) & ~sl) | ((co - ones) & ~co)) &
	       high;
}

/* Whether p is at the end of its line: '\n', "\r\n", the end of the text, or a '\r' before it. */
static inline bool
at_eol(const char *p, const char *end)
{
	return p == end || *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n'));
}

/*
 * One line of osd-uidlist (version 1 or 2) from p, parsed in place in
 * one pass: the entry's base and info point into the line, NUL-terminated
 * there (end may be written: the block has an octet past its text, a
 * NUL).  The same rules as parse_entry's: a line that does not parse is
 * skipped.  Returns the start of the next line.
 */
static char *
parse_osd_line(struct imap_uidlist *ul, int version, char *p, char *end)
{
	char *w, *name, *nend, *next, *info = NULL, *iend = NULL;
	uint64_t uid = 0, vs, vsize = 0, modseq = 0;
	uint32_t mflags = 0;
	uint8_t mstate = IMAP_MFLAGS_UNKNOWN;
	bool in_new = false;
	unsigned k;

	/* The scans below stop at '\n' and at the NUL past the text: none runs past its line. */
	while (*p == ' ')
		p++;
	/* The UID: 1 to 10 digits, then a space. */
	for (w = p; (unsigned char)(*p - '0') < 10; p++)
		uid = uid * 10 + (uint64_t)(*p - '0');
	if (p == w || p - w > 10 || *p != ' ' || uid == 0 || uid > UINT32_MAX)
		goto skip;
	while (*p == ' ')
		p++;
	/* The base: up to a ':' (the rest of that word is not kept) or the word's end. */
	for (name = p; end - p >= 8; p += 8) {
		uint64_t x;

		memcpy(&x, p, sizeof(x));
		if (word_has_stop(x))
			break;
	}
	for (; (k = name_class[(unsigned char)*p]) == NC_NAME; p++)
		;
	nend = p;
	if (k == NC_COLON) {
		while (*p != ' ' && !at_eol(p, end))
			p++;
	} else if (k == NC_BAD && !at_eol(p, end)) {
		goto skip;
	}
	if (nend == name || (size_t)(nend - name) > IMAP_UIDLIST_BASE_MAX || name[0] == '.')
		goto skip;
	/* Ascending UIDs only: a line out of order is a corrupt one. */
	if ((ul->n > 0 && uid <= ul->v[ul->n - 1].uid) || ul->n >= IMAP_UIDLIST_MAX)
		goto skip;
	/*
	 * " n|c<info>": the file as the last complete scan saw it; " W<vsize>";
	 * " M<modseq>" and " F<letters>": the message's mod-sequence and the
	 * flags it was given for (when not those of info).
	 */
	while (version == OSD_V2) {
		while (*p == ' ')
			p++;
		if (at_eol(p, end))
			break;
		w = p++;
		if ((*w == 'n' || *w == 'c') && info == NULL) {
			/* The rest of the name: printable, no '/', and starting with ':' when there is any. */
			while ((k = name_class[(unsigned char)*p]) == NC_NAME || k == NC_COLON)
				p++;
			if ((*p == ' ' || at_eol(p, end)) && (p == w + 1 || w[1] == ':')) {
				info = w + 1;
				iend = p;
				in_new = *w == 'n';
				continue;
			}
		} else if (*w == 'W') {
			while ((unsigned char)(*p - '0') < 10)
				p++;
			if (p > w + 1 && (*p == ' ' || at_eol(p, end)) &&
			    decimal_parse(w + 1, (size_t)(p - w - 1), UINT64_MAX / 2, &vs) == 0) {
				vsize = vs;
				continue;
			}
		} else if (*w == 'M' && modseq == 0) {
			while ((unsigned char)(*p - '0') < 10)
				p++;
			if (p > w + 1 && (*p == ' ' || at_eol(p, end)) &&
			    decimal_parse(w + 1, (size_t)(p - w - 1), IMAP_MODSEQ_MAX, &vs) == 0 && vs > 0) {
				modseq = vs;
				if (mstate == IMAP_MFLAGS_UNKNOWN)
					mstate = IMAP_MFLAGS_INFO;
				continue;
			}
		} else if (*w == 'F') {
			while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
				p++;
			if (*p == ' ' || at_eol(p, end)) {
				mflags = imap_uidlist_letters_bits(w + 1, (size_t)(p - w - 1));
				mstate = IMAP_MFLAGS_SET;
				continue;
			}
		}
		/* Not this version's: the entry stands without its file, the list without stamps. */
		info = NULL;
		ul->have_stamps = false;
		break;
	}
	next = memchr(p, '\n', (size_t)(end - p));
	next = next == NULL ? end : next + 1;
	*nend = '\0';
	if (info != NULL)
		*iend = '\0';
	/* The flags of a modseq: F's when given, else those of info, else none. */
	if (modseq == 0)
		mstate = IMAP_MFLAGS_UNKNOWN;
	else if (mstate == IMAP_MFLAGS_INFO && info == NULL)
		mstate = IMAP_MFLAGS_SET;
	entry_push_in_place(ul, (uint32_t)uid, name, info, in_new, vsize, modseq, mstate, mflags);
	return next;
skip:
	next = memchr(p, '\n', (size_t)(end - p));
	return next == NULL ? end : next + 1;
}

/* The header: the version (OSD_V1, OSD_V2, or Dovecot's and Courier's 1-3), and the UIDVALIDITY, next UID, first recent UID. */
static int
parse_header(struct imap_uidlist *ul, const char *p, const char *end, int *version_r)
{
	const char *w;
	size_t wl;
	uint32_t v;

	if (!next_word(&p, end, &w, &wl))
		return -1;
	if (wl == strlen(IMAP_UIDLIST_NAME) && memcmp(w, IMAP_UIDLIST_NAME, wl) == 0) {
		uint32_t uv, next, recent;

		if (!next_word(&p, end, &w, &wl) || wl != 1 || (w[0] != '1' && w[0] != '2'))
			return -1;
		*version_r = w[0] == '1' ? OSD_V1 : OSD_V2;
		if (!next_word(&p, end, &w, &wl) || !parse_u32(w, wl, &uv) ||
		    !next_word(&p, end, &w, &wl) || !parse_u32(w, wl, &next) ||
		    !next_word(&p, end, &w, &wl) || !parse_u32(w, wl, &recent))
			return -1;
		ul->uidvalidity = uv;
		ul->next_uid = next == 0 ? 1 : next;
		ul->first_recent = recent == 0 ? 1 : recent;
		ul->source = IMAP_UIDLIST_OSD;
		if (*version_r == OSD_V2) {
			struct timespec ts[4];
			const char *q = p;
			uint64_t hm;
			int i;

			/* "M<highestmodseq>" (RFC 7162), then the stamps. */
			if (next_word(&q, end, &w, &wl) && w[0] == 'M') {
				p = q;
				if (wl > 1 && decimal_parse(w + 1, wl - 1, IMAP_MODSEQ_MAX, &hm) == 0) {
					ul->highest_modseq = hm;
					ul->have_modseq = true;
				}
			}
			/* The stamps are all there and right, or the list is taken without them. */
			for (i = 0; i < 4; i++)
				if (!next_word(&p, end, &w, &wl) || !parse_stamp(w, wl, &ts[i]))
					break;
			if (i == 4 && !next_word(&p, end, &w, &wl)) {
				ul->new_m = ts[0];
				ul->new_c = ts[1];
				ul->cur_m = ts[2];
				ul->cur_c = ts[3];
				ul->have_stamps = true;
			}
		}
		return 0;
	}
	if (wl != 1 || (w[0] != '1' && w[0] != '2' && w[0] != '3'))
		return -1;
	*version_r = w[0] - '0';
	if (*version_r != 3) {
		uint32_t uv, next;

		if (!next_word(&p, end, &w, &wl) || !parse_u32(w, wl, &uv) ||
		    !next_word(&p, end, &w, &wl) || !parse_u32(w, wl, &next))
			return -1;
		ul->uidvalidity = uv;
		ul->next_uid = next == 0 ? 1 : next;
	} else {
		bool have_v = false;

		/* "3 V<uidvalidity> N<nextuid> G<guid> ...": in any order, others ignored. */
		while (next_word(&p, end, &w, &wl)) {
			if (wl < 2)
				continue;
			if (w[0] == 'V' && parse_u32(w + 1, wl - 1, &v)) {
				ul->uidvalidity = v;
				have_v = true;
			} else if (w[0] == 'N' && parse_u32(w + 1, wl - 1, &v)) {
				ul->next_uid = v == 0 ? 1 : v;
			}
		}
		if (!have_v)
			return -1;
	}
	/* Nothing migrated counts as \Recent: the other server's sessions saw them. */
	ul->first_recent = ul->next_uid;
	return 0;
}

/*
 * imap_uidlist_parse of block (len octets and one more, which may be
 * written), which ul keeps: osd-uidlist's entries point into it.
 */
static int
parse_block(struct imap_uidlist *ul, char *block, size_t len)
{
	char *p = block, *end = block + len, *nl;
	size_t i;
	int version;

	uidlist_clear(ul);
	ul->block = block;
	ul->block_len = len;
	block[len] = '\0';
	nl = memchr(p, '\n', len);
	if (nl == NULL)
		nl = end;
	if (parse_header(ul, p, nl, &version) == -1) {
		uidlist_clear(ul);
		return -1;
	}
	p = nl < end ? nl + 1 : end;
	/*
	 * Room for every line at once, without counting them: a line has at
	 * least 4 octets ("1 a\n"), and the pages of the array that no entry
	 * reaches are never touched.
	 */
	{
		size_t lines = (size_t)(end - p) / 4 + 1;

		if (lines > IMAP_UIDLIST_MAX + 1)
			lines = IMAP_UIDLIST_MAX + 1;
		if (lines > ul->cap) {
			free(ul->v);
			ul->cap = lines;
			ul->v = xreallocarray(NULL, ul->cap, sizeof(*ul->v));
		}
	}
	if (version == OSD_V1 || version == OSD_V2) {
		name_class_init();
		while (p < end)
			p = parse_osd_line(ul, version, p, end);
	}
	while (p < end) {
		const char *e;

		nl = memchr(p, '\n', (size_t)(end - p));
		e = nl == NULL ? end : nl;
		if (e > p && e[-1] == '\r')
			e--;
		parse_entry(ul, version, p, e);
		p = nl == NULL ? end : nl + 1;
	}
	if (ul->n > 0 && ul->next_uid <= ul->v[ul->n - 1].uid)
		ul->next_uid = ul->v[ul->n - 1].uid + 1;
	if (ul->first_recent > ul->next_uid)
		ul->first_recent = ul->next_uid;
	/* No modseq above the highest: a list that says otherwise has none to trust. */
	for (i = 0; ul->have_modseq && i < ul->n; i++)
		if (ul->v[i].modseq > ul->highest_modseq)
			ul->have_modseq = false;
	if (version != OSD_V1 && version != OSD_V2)
		ul->source = version == 1 ? IMAP_UIDLIST_COURIER : IMAP_UIDLIST_DOVECOT;
	return 0;
}

int
imap_uidlist_parse(struct imap_uidlist *ul, const char *data, size_t len)
{
	char *block = xmalloc(len + 1);

	memcpy(block, data, len);
	return parse_block(ul, block, len);
}

/* " F<letters>": the Maildir letters of IMAP_MBIT_* and keyword bits, in ASCII order. */
static int
format_letters(struct buf *out, uint32_t bits)
{
	static const struct {
		char c;
		uint32_t bit;
	} sys[] = { { 'D', IMAP_MBIT_DRAFT }, { 'F', IMAP_MBIT_FLAGGED }, { 'R', IMAP_MBIT_ANSWERED },
		    { 'S', IMAP_MBIT_SEEN }, { 'T', IMAP_MBIT_DELETED } };
	char text[40];
	size_t n = 0, i;

	text[n++] = ' ';
	text[n++] = 'F';
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
		if (bits & sys[i].bit)
			text[n++] = sys[i].c;
	for (i = 0; i < 26; i++)
		if (bits & (1u << i))
			text[n++] = (char)('a' + i);
	return buf_append(out, text, n);
}

int
imap_uidlist_format(const struct imap_uidlist *ul, struct buf *out)
{
	size_t i;

	if (buf_printf(out, "%s 2 %u %u %u", IMAP_UIDLIST_NAME, ul->uidvalidity, ul->next_uid,
		       ul->first_recent) == -1)
		return -1;
	if (ul->have_modseq && buf_printf(out, " M%llu", (unsigned long long)ul->highest_modseq) == -1)
		return -1;
	if (ul->have_stamps &&
	    buf_printf(out, " %lld.%09ld %lld.%09ld %lld.%09ld %lld.%09ld",
		       (long long)ul->new_m.tv_sec, ul->new_m.tv_nsec, (long long)ul->new_c.tv_sec,
		       ul->new_c.tv_nsec, (long long)ul->cur_m.tv_sec, ul->cur_m.tv_nsec,
		       (long long)ul->cur_c.tv_sec, ul->cur_c.tv_nsec) == -1)
		return -1;
	if (buf_append_char(out, '\n') == -1)
		return -1;
	for (i = 0; i < ul->n; i++) {
		const struct imap_uid_entry *e = &ul->v[i];

		if (buf_printf(out, "%u %s", e->uid, e->base) == -1 ||
		    (e->info != NULL && buf_printf(out, " %c%s", e->in_new ? 'n' : 'c', e->info) == -1) ||
		    (e->vsize != 0 && buf_printf(out, " W%llu", (unsigned long long)e->vsize) == -1) ||
		    (e->modseq != 0 && buf_printf(out, " M%llu", (unsigned long long)e->modseq) == -1))
			return -1;
		/* The flags of the modseq, when they are not those of info (or none, without info). */
		if (e->modseq != 0 && e->mstate == IMAP_MFLAGS_SET &&
		    e->mflags != (e->info == NULL ? 0 : imap_uidlist_letters_bits(e->info, SIZE_MAX)) &&
		    format_letters(out, e->mflags) == -1)
			return -1;
		if (buf_append_char(out, '\n') == -1)
			return -1;
	}
	return 0;
}

/* Read dir/name whole into b (bounded); 0, or -1 with errno (ENOENT: none). */
static int
read_small(const char *dir, const char *name, size_t max, struct buf *b, struct stat *st_r)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, r;

	if (path_join(path, sizeof(path), dir, name) == -1)
		return -1;
	fd = regfile_open(path, O_RDONLY, 0, &st);
	if (fd == -1)
		return -1;
	if (st_r != NULL)
		*st_r = st;
	buf_init(b, max);
	/* A large list (10,000 messages: 430 KB): its pages mapped at once, not one fault each. */
	if (st.st_size >= 65536 && (uint64_t)st.st_size < max && buf_reserve(b, (size_t)st.st_size + 1) == 0)
		xprefault(b->data, (size_t)st.st_size + 1);
	r = buf_read_file(b, fd);
	close_keep_errno(fd);
	if (r == -1) {
		int e = errno;

		buf_free(b);
		errno = e;
	}
	return r;
}

bool
imap_file_id_same(const struct imap_file_id *id, const struct stat *st)
{
	return id->have && id->dev == st->st_dev && id->ino == st->st_ino && id->size == st->st_size &&
	       id->mtime.tv_sec == st->st_mtim.tv_sec && id->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

void
imap_file_id_set(struct imap_file_id *id, const struct stat *st)
{
	id->have = true;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
}

/*
 * Whether a courierimapuiddb text has Courier's header "1 <uidvalidity>
 * <nextuid>" (leading blanks allowed, as its sscanf does).  Courier-IMAP
 * has written version 1 only, from 2000 to today (courier-libs
 * imap/configure.ac IMAPDBVERSION; its ChangeLog records no other); it
 * rebuilds a file of any other version with a new UIDVALIDITY, and so does
 * osd, rather than reading it as one of Dovecot's versions 2 and 3.
 */
static bool
courier_v1(const char *data, size_t len)
{
	size_t i = 0;

	while (i < len && (data[i] == ' ' || data[i] == '\t'))
		i++;
	return len - i >= 2 && data[i] == '1' && (data[i + 1] == ' ' || data[i + 1] == '\t');
}

int
imap_uidlist_refresh(struct imap_uidlist *ul, const char *dir)
{
	static const char *const migrate[] = { "dovecot-uidlist", "courierimapuiddb" };
	char path[PATH_MAX];
	struct stat st;
	struct buf b;
	size_t i;

	if (path_join(path, sizeof(path), dir, IMAP_UIDLIST_NAME) == -1)
		return -1;
	if (stat(path, &st) == 0) {
		if (imap_file_id_same(&ul->id, &st) && !ul->entries_deferred)
			return 0;
		if (read_small(dir, IMAP_UIDLIST_NAME, UIDLIST_FILE_MAX, &b, &st) == 0) {
			/* The buffer becomes the list's block (buf keeps an octet past the text). */
			if (b.data == NULL ? imap_uidlist_parse(ul, "", 0) == -1 : parse_block(ul, b.data, b.len) == -1)
				uidlist_clear(ul);      /* corrupt: made again, with a new UIDVALIDITY */
			imap_file_id_set(&ul->id, &st);
			return 1;
		}
		if (errno != ENOENT)
			return -1;
	} else if (errno != ENOENT) {
		return -1;
	}
	/* No own list: take over another server's, once (the first write makes ours). */
	ul->id.have = false;
	for (i = 0; i < sizeof(migrate) / sizeof(migrate[0]); i++) {
		if (read_small(dir, migrate[i], UIDLIST_FILE_MAX, &b, NULL) == -1) {
			if (errno == ENOENT)
				continue;
			return -1;
		}
		/* Courier-IMAP reads and writes version 1 only (IMAPDBVERSION) and takes any other as no file. */
		if ((i == 0 || courier_v1(b.data, b.len)) &&
		    imap_uidlist_parse(ul, b.data != NULL ? b.data : "", b.len) == 0) {
			buf_free(&b);
			return 1;
		}
		buf_free(&b);
	}
	uidlist_clear(ul);
	return 1;
}

int
imap_uidlist_write(struct imap_uidlist *ul, const char *dir)
{
	struct atomicfile af;
	char path[PATH_MAX];
	struct stat st;
	struct buf b;
	int r;

	if (path_join(path, sizeof(path), dir, IMAP_UIDLIST_NAME) == -1)
		return -1;
	/*
	 * An entry whose modseq was given for the flags its info has says so
	 * (IMAP_MFLAGS_INFO): the view cache is made only of such entries.
	 */
	for (size_t i = 0; i < ul->n; i++) {
		struct imap_uid_entry *e = &ul->v[i];

		if (e->mstate == IMAP_MFLAGS_SET && e->info != NULL &&
		    e->mflags == imap_uidlist_letters_bits(e->info, SIZE_MAX))
			e->mstate = IMAP_MFLAGS_INFO;
	}
	buf_init(&b, UIDLIST_FILE_MAX);
	if (imap_uidlist_format(ul, &b) == -1 || atomicfile_open(&af, path, 0600) == -1) {
		buf_free(&b);
		return -1;
	}
	r = atomicfile_write_commit(&af, b.data, b.len, true);
	buf_free(&b);
	if (r == -1)
		return -1;
	ul->source = IMAP_UIDLIST_OSD;
	if (stat(path, &st) == 0)
		imap_file_id_set(&ul->id, &st);
	else
		ul->id.have = false;
	return 0;
}

int
imap_uidlist_unchanged(const struct imap_uidlist *ul, const char *dir)
{
	char path[PATH_MAX];
	struct stat st;

	if (path_join(path, sizeof(path), dir, IMAP_UIDLIST_NAME) == -1)
		return -1;
	if (stat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	return imap_file_id_same(&ul->id, &st) ? 1 : 0;
}

uint32_t
imap_uidlist_add(struct imap_uidlist *ul, const char *base, size_t len)
{
	uint32_t uid = ul->next_uid;

	if (ul->n >= IMAP_UIDLIST_MAX || uid == UINT32_MAX)
		return 0;
	entry_push(ul, uid, base, len, NULL, SIZE_MAX);
	ul->next_uid++;
	return uid;
}

uint32_t
imap_uidlist_letters_bits(const char *p, size_t len)
{
	uint32_t bits = 0;
	size_t i;

	/* Skip the ":2," of an info (a name in new/ has none: no flags). */
	if (len >= 3 && p[0] == ':') {
		if (p[1] != '2' || p[2] != ',')
			return 0;
		p += 3;
		len -= 3;
	}
	for (i = 0; i < len && p[i] != '\0' && p[i] != ','; i++) {
		switch (p[i]) {
		case 'D': bits |= IMAP_MBIT_DRAFT; break;
		case 'F': bits |= IMAP_MBIT_FLAGGED; break;
		case 'R': bits |= IMAP_MBIT_ANSWERED; break;
		case 'S': bits |= IMAP_MBIT_SEEN; break;
		case 'T': bits |= IMAP_MBIT_DELETED; break;
		default:
			if (p[i] >= 'a' && p[i] <= 'z')
				bits |= 1u << (p[i] - 'a');
		}
	}
	return bits;
}

bool
imap_uidlist_mflags(const struct imap_uid_entry *e, uint32_t *mflags_r)
{
	switch (e->mstate) {
	case IMAP_MFLAGS_SET:
		*mflags_r = e->mflags;
		return true;
	case IMAP_MFLAGS_INFO:
		if (e->info == NULL)
			return false;
		*mflags_r = imap_uidlist_letters_bits(e->info, SIZE_MAX);
		return true;
	default:
		return false;
	}
}

void
imap_uidlist_modseq_start(struct imap_uidlist *ul)
{
	time_t now = time(NULL);

	if (ul->have_modseq)
		return;
	/* Never 0: HIGHESTMODSEQ is a positive number (RFC 7162 section 7, mod-sequence-value). */
	ul->highest_modseq = 1;
	if (ul->n > 0 && now > 0)
		ul->highest_modseq = (uint64_t)now << 16;
	ul->have_modseq = true;
}

uint64_t
imap_uidlist_modseq_next(struct imap_uidlist *ul)
{
	imap_uidlist_modseq_start(ul);
	if (ul->highest_modseq < IMAP_MODSEQ_MAX)
		ul->highest_modseq++;
	return ul->highest_modseq;
}

const struct imap_uid_entry *
imap_uidlist_find(const struct imap_uidlist *ul, uint32_t uid)
{
	size_t lo = 0, hi = ul->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ul->v[mid].uid == uid)
			return &ul->v[mid];
		if (ul->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* flock fd exclusively, waiting up to LOCK_TRIES * 10 ms. */
static int
flock_bounded(int fd)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < LOCK_TRIES; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		nanosleep(&ts, NULL);
	}
	errno = ETIMEDOUT;
	return -1;
}

int
imap_uidlist_lock(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	if (path_join(path, sizeof(path), dir, IMAP_UIDLIST_LOCK_NAME) == -1)
		return -1;
	fd = regfile_open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600, NULL);
	if (fd == -1)
		return -1;
	if (flock_bounded(fd) == -1) {
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

void
imap_uidlist_unlock(int fd)
{
	if (fd != -1)
		close(fd);      /* releases the flock */
}

uint32_t
imap_uidvalidity_next(const char *root)
{
	char path[PATH_MAX], text[16];
	uint64_t last = 0;
	uint32_t v;
	time_t now = time(NULL);
	ssize_t n;
	int fd, len;

	v = now > 0 && (uint64_t)now < UINT32_MAX ? (uint32_t)now : 1;
	if (path_join(path, sizeof(path), root, IMAP_UIDVALIDITY_NAME) == -1)
		return 0;
	fd = regfile_open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600, NULL);
	if (fd == -1)
		return 0;
	if (flock_bounded(fd) == -1) {
		close(fd);
		return 0;
	}
	n = pread(fd, text, sizeof(text) - 1, 0);
	if (n > 0) {
		size_t l = (size_t)n;

		while (l > 0 && (text[l - 1] == '\n' || text[l - 1] == ' '))
			l--;
		if (decimal_parse(text, l, UINT32_MAX, &last) == -1)
			last = 0;
	}
	if (last >= v)
		v = last + 1 >= UINT32_MAX ? 1 : (uint32_t)(last + 1);
	len = snprintf(text, sizeof(text), "%u\n", v);
	/* A short record, rewritten in place under the flock; a torn one reads as 0 and time takes over. */
	if (ftruncate(fd, 0) == -1 || pwrite(fd, text, (size_t)len, 0) != len || fsync(fd) == -1)
		v = 0;
	close(fd);
	return v;
}

void
imap_keywords_free(struct imap_keywords *kw)
{
	unsigned i;

	for (i = 0; i < IMAP_KEYWORDS_MAX_NAMES; i++) {
		free(kw->names[i]);
		kw->names[i] = NULL;
	}
	kw->n = 0;
}

bool
imap_keyword_name_ok(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > IMAP_KEYWORD_NAME_MAX)
		return false;
	/* RFC 3501 flag-keyword = atom: no atom-specials, and no '\\' (system flags are not keywords). */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

void
imap_keywords_parse(struct imap_keywords *kw, const char *data, size_t len)
{
	const char *p = data, *end = data + len;

	imap_keywords_free(kw);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl == NULL ? end : nl, *w, *q = p;
		size_t wl;
		uint32_t idx;

		if (e > p && e[-1] == '\r')
			e--;
		if (next_word(&q, e, &w, &wl) && parse_u32(w, wl, &idx) && idx < IMAP_KEYWORDS_MAX_NAMES &&
		    next_word(&q, e, &w, &wl) && wl <= IMAP_KEYWORD_NAME_MAX && kw->names[idx] == NULL) {
			char *name = xstrndup(w, wl);

			if (imap_keyword_name_ok(name)) {
				kw->names[idx] = name;
				if (idx + 1 > kw->n)
					kw->n = idx + 1;
			} else {
				free(name);
			}
		}
		p = nl == NULL ? end : nl + 1;
	}
}

int
imap_keywords_refresh(struct imap_keywords *kw, const char *dir)
{
	char path[PATH_MAX];
	struct stat st;
	struct buf b;

	if (path_join(path, sizeof(path), dir, IMAP_KEYWORDS_NAME) == -1)
		return -1;
	if (stat(path, &st) == 0) {
		if (imap_file_id_same(&kw->id, &st))
			return 0;
		if (read_small(dir, IMAP_KEYWORDS_NAME, KEYWORDS_FILE_MAX, &b, &st) == 0) {
			imap_keywords_parse(kw, b.data != NULL ? b.data : "", b.len);
			buf_free(&b);
			imap_file_id_set(&kw->id, &st);
			return 1;
		}
		if (errno != ENOENT)
			return -1;
	} else if (errno != ENOENT) {
		return -1;
	}
	if (kw->id.have || kw->n == 0) {
		bool had = kw->n > 0;

		kw->id.have = false;
		if (read_small(dir, "dovecot-keywords", KEYWORDS_FILE_MAX, &b, NULL) == 0) {
			imap_keywords_parse(kw, b.data != NULL ? b.data : "", b.len);
			buf_free(&b);
			return 1;
		}
		if (errno != ENOENT)
			return -1;
		imap_keywords_free(kw);
		return had ? 1 : 0;
	}
	return 0;
}

int
imap_keywords_write(struct imap_keywords *kw, const char *dir)
{
	struct atomicfile af;
	char path[PATH_MAX];
	struct stat st;
	struct buf b;
	unsigned i;
	int r = 0;

	if (path_join(path, sizeof(path), dir, IMAP_KEYWORDS_NAME) == -1)
		return -1;
	buf_init(&b, KEYWORDS_FILE_MAX);
	for (i = 0; i < kw->n && r == 0; i++)
		if (kw->names[i] != NULL)
			r = buf_printf(&b, "%u %s\n", i, kw->names[i]);
	if (r == -1 || atomicfile_open(&af, path, 0600) == -1) {
		buf_free(&b);
		return -1;
	}
	r = atomicfile_write_commit(&af, b.data != NULL ? b.data : "", b.len, true);
	buf_free(&b);
	if (r == 0 && stat(path, &st) == 0)
		imap_file_id_set(&kw->id, &st);
	return r;
}
