/* imap_mailbox.c - one selected Maildir++ folder: the scan of new/ and cur/, UIDs from the UID list, flags in the names, the changes of others, COPY and APPEND. */
#include "imap_mailbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "fdclose.h"
#include "imap_folder_name.h"
#include "imap_quota.h"
#include "imap_uidlist.h"
#include "imap_viewcache.h"
#include "maildir_name.h"
#include "path.h"
#include "regfile.h"
#include "xmalloc.h"

/* At most this many messages in one folder (files of new/ and cur/ together). */
#define MAILBOX_MAX_MESSAGES IMAP_UIDLIST_MAX
/* A scan of new/ and cur/ is repeated (at most this many times) while they change under it. */
#define SCAN_TRIES 3
/* Longest file name handled (NAME_MAX of Linux file systems). */
#define MSG_NAME_MAX 255
/* A folder directory modified this recently may change again within its timestamp's granularity. */
#define DIRTY_SECONDS 2

struct mb_msg {
	struct imap_msg pub;
	char *name;                     /* owned (unless in_names); pub.name points here */
	uint16_t base_len;              /* the unique part: name up to ':' (at most IMAP_UIDLIST_BASE_MAX); 64 octets in all */
	bool in_new;
	bool in_names;                  /* name is in the folder's names block (view_from_list), not its own */
	bool filled;                    /* pub.internal_date and pub.file_size are set (msg_fill) */
	bool changed;                   /* flags changed by another, this sync */
	bool remove;                    /* vanished and to be reported, this sync */
	bool flags_dirty;               /* flags set by this session, modseq not yet given (commit_flags) */
};

/* One file found by a scan. */
struct scan_ent {
	char *name;
	size_t base_len;
	bool in_new;
	bool used;                      /* matched to a message of the view */
	uint32_t uid;                   /* from the UID list, 0 none */
	size_t li;                      /* its entry in the list: index + 1 (match_uids), 0 none */
	uint64_t modseq;                /* the list entry's mod-sequence */
	int64_t sec;                    /* the order for new UIDs: the name's <sec>.M<usec> */
	long usec;
};

struct scan {
	struct scan_ent *v;
	size_t n, cap;
};

struct imap_mailbox {
	char root[PATH_MAX];
	char dir[PATH_MAX];
	int cur_fd, new_fd;
	bool readonly;
	struct imap_uidlist ul;
	struct imap_keywords kw;
	bool kw_added;                  /* this session added a keyword: FLAGS again */
	struct mb_msg *msgs;
	size_t n, cap;
	char *names;                    /* the names of the first view made from the list, in one block */
	/*
	 * A view made from the list's cache (view_from_cache): vc maps it
	 * (the names of messages not renamed since point into it), and while
	 * lazy is not NULL, msgs[i] is filled from vc.rec[i] when first used
	 * (bit i of lazy set then): SELECT touches only what it reports.
	 */
	struct imap_viewcache vc;
	uint64_t *lazy;
	uint32_t max_uid;               /* highest UID ever in this view: UIDs only grow */
	uint32_t recent;
	bool scanned;
	struct timespec new_m, new_c, cur_m, cur_c;     /* the folders at the start of the last scan */
	/*
	 * The last scan read both folders without a change under it (whole),
	 * and neither had changed in the DIRTY_SECONDS before it began
	 * (quiet): a later change gives them other timestamps, so the scan
	 * can stand for the folders in the UID list (its stamps).
	 */
	bool scan_whole, scan_quiet;
	bool vsize_dirty;               /* a message's vsize noted, not yet in the list */
	uint64_t highest;               /* HIGHESTMODSEQ as this view knows it (imap_mailbox_highest_modseq) */
	uint32_t *rep_exp, *rep_chg;
	size_t rep_exp_cap, rep_chg_cap;
};

static unsigned name_counter;

/* The flags and keywords of the letters after ":2,", up to the end or a ','. */
static void
parse_letters(const char *p, unsigned *flags_r, uint32_t *kw_r)
{
	*flags_r = 0;
	*kw_r = 0;
	for (; *p != '\0' && *p != ','; p++) {
		switch (*p) {
		case 'D': *flags_r |= IMAP_FLAG_DRAFT; break;
		case 'F': *flags_r |= IMAP_FLAG_FLAGGED; break;
		case 'R': *flags_r |= IMAP_FLAG_ANSWERED; break;
		case 'S': *flags_r |= IMAP_FLAG_SEEN; break;
		case 'T': *flags_r |= IMAP_FLAG_DELETED; break;
		default:
			if (*p >= 'a' && *p <= 'z')
				*kw_r |= 1u << (*p - 'a');
		}
	}
}

/* The flags and keywords as a UID list's mflags (IMAP_MBIT_*, keywords in bits 0-25). */
static uint32_t
mbits(unsigned flags, uint32_t kw)
{
	return (kw & ((1u << 26) - 1)) | ((flags & IMAP_FLAG_DRAFT) ? IMAP_MBIT_DRAFT : 0) |
	       ((flags & IMAP_FLAG_FLAGGED) ? IMAP_MBIT_FLAGGED : 0) |
	       ((flags & IMAP_FLAG_ANSWERED) ? IMAP_MBIT_ANSWERED : 0) |
	       ((flags & IMAP_FLAG_SEEN) ? IMAP_MBIT_SEEN : 0) | ((flags & IMAP_FLAG_DELETED) ? IMAP_MBIT_DELETED : 0);
}

/* The flags and keywords of a name's ":2," info (Maildir spec: letters in ASCII order). */
static void
parse_info(const char *name, unsigned *flags_r, uint32_t *kw_r)
{
	const char *p = strstr(name, ":2,");

	*flags_r = 0;
	*kw_r = 0;
	if (p != NULL)
		parse_letters(p + 3, flags_r, kw_r);
}

/*
 * base ":2," letters into out: the system flags and keywords given, and
 * the other letters of old's info kept (flags of other programs).  -1
 * when it does not fit.
 */
static int
make_name(char *out, size_t size, const char *base, size_t blen, unsigned flags, uint32_t kw,
	  const char *old)
{
	bool letter[128] = { false };
	const char *p = old != NULL ? strstr(old, ":2,") : NULL;
	size_t n;
	int c, i;

	if (p != NULL)
		for (p += 3; *p != '\0' && *p != ','; p++)
			if ((unsigned char)*p < 128 && *p > ' ')
				letter[(unsigned char)*p] = true;
	letter['D'] = (flags & IMAP_FLAG_DRAFT) != 0;
	letter['F'] = (flags & IMAP_FLAG_FLAGGED) != 0;
	letter['R'] = (flags & IMAP_FLAG_ANSWERED) != 0;
	letter['S'] = (flags & IMAP_FLAG_SEEN) != 0;
	letter['T'] = (flags & IMAP_FLAG_DELETED) != 0;
	for (i = 0; i < 26; i++)
		letter['a' + i] = (kw & (1u << i)) != 0;
	if (blen + 4 > size || blen > MSG_NAME_MAX)
		return -1;
	memcpy(out, base, blen);
	memcpy(out + blen, ":2,", 3);
	n = blen + 3;
	for (c = 0x21; c < 0x7f; c++) {
		if (!letter[c] || c == ':' || c == '/')
			continue;
		if (n + 2 > size || n >= MSG_NAME_MAX)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* The delivery time in a name "<sec>.M<usec>P..." (or "<sec>.<anything>"): -1 when it has none. */
static int64_t
name_time(const char *name, long *usec_r)
{
	int64_t sec = 0;
	const char *p = name;
	long usec = 0;

	*usec_r = 0;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (sec > ((int64_t)1 << 40))
			return -1;
		sec = sec * 10 + (*p - '0');
	}
	if (*p != '.')
		return -1;
	if (p[1] == 'M') {
		for (p += 2; *p >= '0' && *p <= '9' && usec < 100000000; p++)
			usec = usec * 10 + (*p - '0');
	}
	*usec_r = usec;
	return sec;
}

/*
 * INTERNALDATE and size of a message without reading it: the time in the
 * name (the delivery or APPEND time: osd names APPENDed and copied files
 * after their internal date) and ",S=", else the file's mtime and size.
 */
static void
msg_fill(struct mb_msg *m, int dfd)
{
	long usec;
	int64_t sec = name_time(m->name, &usec);
	bool have_size = maildir_name_size(m->name, m->base_len, &m->pub.file_size);

	m->filled = true;
	m->pub.internal_date = (time_t)sec;
	if (sec < 0 || !have_size) {
		struct stat st;

		if (fstatat(dfd, m->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (sec < 0)
				m->pub.internal_date = st.st_mtim.tv_sec;
			if (!have_size)
				m->pub.file_size = (uint64_t)st.st_size;
		} else if (sec < 0) {
			m->pub.internal_date = 0;
		}
	}
}

/*
 * Message m with its INTERNALDATE and size: a view made from the list
 * leaves them to the first command that asks (SELECT needs neither).
 */
static struct mb_msg *
msg_need(const struct imap_mailbox *mb, struct mb_msg *m)
{
	if (!m->filled)
		msg_fill(m, m->in_new ? mb->new_fd : mb->cur_fd);
	return m;
}

static void
msg_name_free(struct mb_msg *m)
{
	if (!m->in_names)
		free(m->name);
	m->name = NULL;
	m->in_names = false;
}

static void
msg_set_name(struct mb_msg *m, char *name, bool in_new)
{
	msg_name_free(m);
	m->name = name;
	m->pub.name = name;
	m->base_len = maildir_name_base_len(name);
	m->in_new = in_new;
}

/* Message i of a view still in the cache: filled from its record (the name stays in the mapping). */
static void
msg_from_cache(const struct imap_mailbox *mb, struct mb_msg *m, size_t i)
{
	const struct imap_viewcache_rec *r = &mb->vc.rec[i];
	char *name = (char *)mb->vc.names + r->name_off;

	memset(m, 0, sizeof(*m));
	m->pub.uid = r->uid;
	m->pub.vsize = r->vsize;
	m->pub.modseq = r->modseq;
	m->name = name;
	m->pub.name = name;
	m->in_names = true;
	m->base_len = maildir_name_base_len(name);
	m->in_new = r->in_new != 0;
	parse_info(name, &m->pub.flags, &m->pub.keywords);
	/* A read-write view from the cache had nothing to claim (view_from_cache): EXAMINE counts those not yet taken. */
	m->pub.recent = mb->readonly && m->pub.uid >= mb->vc.first_recent;
}

static bool
msg_filled(const struct imap_mailbox *mb, size_t i)
{
	return mb->lazy == NULL || (mb->lazy[i / 64] >> (i % 64) & 1) != 0;
}

/* Message i (0-based) of the view, filled first when the view is still the cache's. */
static struct mb_msg *
view_msg(const struct imap_mailbox *mb, size_t i)
{
	/* The messages are the session's own (mb is const to callers only). */
	struct mb_msg *m = (struct mb_msg *)&mb->msgs[i];

	if (!msg_filled(mb, i)) {
		msg_from_cache(mb, m, i);
		mb->lazy[i / 64] |= (uint64_t)1 << (i % 64);
	}
	return m;
}

/* Every message filled (before anything renumbers, renames or scans them): the view is then the session's alone. */
static void
view_fill_all(struct imap_mailbox *mb)
{
	size_t i;

	if (mb->lazy == NULL)
		return;
	for (i = 0; i < mb->n; i++)
		(void)view_msg(mb, i);
	free(mb->lazy);
	mb->lazy = NULL;
}

/* The UID of message i without filling it. */
static uint32_t
view_uid(const struct imap_mailbox *mb, size_t i)
{
	return msg_filled(mb, i) ? mb->msgs[i].pub.uid : mb->vc.rec[i].uid;
}

static void
scan_free(struct scan *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* Read one of new/ and cur/ into s. */
static int
scan_dir(struct scan *s, int dfd, bool in_new)
{
	struct dirent *de;
	DIR *d;
	int fd;

	/* fdopendir takes the descriptor; keep ours for openat/renameat. */
	fd = dup(dfd);
	if (fd == -1)
		return -1;
	d = fdopendir(fd);
	if (d == NULL)
		return close_keep_errno(fd);
	rewinddir(d);
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct scan_ent *e;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_UNKNOWN && de->d_type != DT_REG)
			continue;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode))
				continue;
		}
		len = strlen(de->d_name);
		if (len > MSG_NAME_MAX)
			continue;
		if (s->n >= MAILBOX_MAX_MESSAGES) {
			closedir(d);
			errno = EFBIG;
			return -1;
		}
		if (s->n == s->cap) {
			s->cap = s->cap == 0 ? 256 : s->cap * 2;
			s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
		}
		e = &s->v[s->n++];
		memset(e, 0, sizeof(*e));
		e->name = xstrndup(de->d_name, len);
		e->base_len = maildir_name_base_len(e->name);
		e->in_new = in_new;
	}
	if (errno != 0) {
		int err = errno;

		closedir(d);
		errno = err;
		return -1;
	}
	closedir(d);
	return 0;
}

static int
ent_cmp(const void *pa, const void *pb)
{
	const struct scan_ent *a = pa, *b = pb;
	size_t l = a->base_len < b->base_len ? a->base_len : b->base_len;
	int r = memcmp(a->name, b->name, l);

	if (r != 0)
		return r;
	if (a->base_len != b->base_len)
		return a->base_len < b->base_len ? -1 : 1;
	/* cur/ before new/: of a file seen in both (moved during the scan), cur/ is where it is. */
	return (int)a->in_new - (int)b->in_new;
}

static struct scan_ent *
scan_find(const struct scan *s, const char *base, size_t blen)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct scan_ent *e = &s->v[mid];
		size_t l = e->base_len < blen ? e->base_len : blen;
		int r = memcmp(e->name, base, l);

		if (r == 0 && e->base_len != blen)
			r = e->base_len < blen ? -1 : 1;
		if (r == 0)
			return &s->v[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * scan_find, trying s->v[*hint] first, and *hint set to the entry after
 * the one found: callers that look names up in UID order (the list, the
 * view) mostly ask for the entry after the last one, as UIDs follow
 * delivery times and names start with them, so a sync of a big folder
 * makes one comparison per message instead of a binary search (the
 * names share long prefixes: each comparison of the search is long).
 * The same answer as scan_find: the scan's bases are unique.
 */
static struct scan_ent *
scan_find_near(const struct scan *s, const char *base, size_t blen, size_t *hint)
{
	struct scan_ent *e;

	if (*hint < s->n && s->v[*hint].base_len == blen && memcmp(s->v[*hint].name, base, blen) == 0)
		e = &s->v[*hint];
	else if ((e = scan_find(s, base, blen)) == NULL)
		return NULL;
	*hint = (size_t)(e - s->v) + 1;
	return e;
}

static bool
ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/*
 * new/ then cur/ (a file moved from new/ to cur/ meanwhile is seen at
 * least once), again while either folder changed during the reading
 * (a rename within cur/ may hide an entry from readdir), sorted by base
 * name, one entry per base.
 */
static int
scan_all(struct imap_mailbox *mb, struct scan *s)
{
	int tries;

	mb->scan_whole = mb->scan_quiet = false;
	for (tries = 0; tries < SCAN_TRIES; tries++) {
		struct stat n0, c0, n1, c1;
		time_t now = time(NULL);
		size_t i, o;

		scan_free(s);
		if (fstat(mb->new_fd, &n0) == -1 || fstat(mb->cur_fd, &c0) == -1)
			return -1;
		/* Each change of an entry sets the mtime to the current time: one after a quiet scan gives another. */
		mb->scan_quiet = now - n0.st_mtim.tv_sec >= DIRTY_SECONDS && now - c0.st_mtim.tv_sec >= DIRTY_SECONDS;
		if (scan_dir(s, mb->new_fd, true) == -1 || scan_dir(s, mb->cur_fd, false) == -1)
			return -1;
		if (fstat(mb->new_fd, &n1) == -1 || fstat(mb->cur_fd, &c1) == -1)
			return -1;
		mb->new_m = n0.st_mtim;
		mb->new_c = n0.st_ctim;
		mb->cur_m = c0.st_mtim;
		mb->cur_c = c0.st_ctim;
		mb->scanned = true;
		if (s->n > 1)
			qsort(s->v, s->n, sizeof(*s->v), ent_cmp);
		for (i = 0, o = 0; i < s->n; i++) {
			if (o > 0 && s->v[o - 1].base_len == s->v[i].base_len &&
			    memcmp(s->v[o - 1].name, s->v[i].name, s->v[i].base_len) == 0) {
				free(s->v[i].name);
				continue;
			}
			s->v[o++] = s->v[i];
		}
		s->n = o;
		if (ts_eq(&n0.st_mtim, &n1.st_mtim) && ts_eq(&c0.st_mtim, &c1.st_mtim) &&
		    ts_eq(&n0.st_ctim, &n1.st_ctim) && ts_eq(&c0.st_ctim, &c1.st_ctim)) {
			mb->scan_whole = true;
			break;
		}
	}
	return 0;
}

/* The UIDs of the list on the scan's files; *matched[i] for list entry i found. */
static void
match_uids(struct imap_mailbox *mb, struct scan *s, bool **matched_r)
{
	bool *matched = xcalloc(mb->ul.n + 1, sizeof(*matched));
	size_t i, hint = 0;

	for (i = 0; i < s->n; i++) {
		s->v[i].uid = 0;
		s->v[i].li = 0;
		s->v[i].modseq = 0;
	}
	for (i = 0; i < mb->ul.n; i++) {
		const struct imap_uid_entry *u = &mb->ul.v[i];
		struct scan_ent *e = scan_find_near(s, u->base, strlen(u->base), &hint);

		/* A base listed twice keeps its first (lowest) UID. */
		if (e != NULL && e->uid == 0) {
			e->uid = u->uid;
			e->li = i + 1;
			e->modseq = u->modseq;
			matched[i] = true;
		}
	}
	*matched_r = matched;
}

/*
 * Whether the list's modseq of the scanned file e (matched) was given for
 * the flags its name has now: else they changed since (a STORE not yet
 * committed, another program's rename) and need a new one (RFC 7162).
 */
static bool
scan_modseq_current(const struct imap_uidlist *ul, const struct scan_ent *e)
{
	uint32_t mf;

	return e->li != 0 && imap_uidlist_mflags(&ul->v[e->li - 1], &mf) &&
	       mf == imap_uidlist_letters_bits(e->name + e->base_len, SIZE_MAX);
}

/*
 * Under the lock, after match_uids on the list as read again: the
 * mod-sequences (RFC 7162).  A list without them gets its start (the
 * files as they are take it); a file whose flags are not those of its
 * entry's modseq gets the new modseq *ms (made once: one for all the
 * changes of this write).  Before entries are dropped or added (li).
 */
static void
list_note_modseqs(struct imap_mailbox *mb, struct scan *s, uint64_t *ms)
{
	bool had = mb->ul.have_modseq;
	size_t i;

	imap_uidlist_modseq_start(&mb->ul);
	for (i = 0; i < s->n; i++) {
		struct scan_ent *e = &s->v[i];
		struct imap_uid_entry *u;

		if (e->li == 0)
			continue;
		u = &mb->ul.v[e->li - 1];
		if (!had) {
			u->modseq = mb->ul.highest_modseq;
		} else if (!scan_modseq_current(&mb->ul, e)) {
			if (*ms == 0)
				*ms = imap_uidlist_modseq_next(&mb->ul);
			u->modseq = *ms;
		} else {
			continue;
		}
		u->mflags = imap_uidlist_letters_bits(e->name + e->base_len, SIZE_MAX);
		u->mstate = IMAP_MFLAGS_SET;
	}
}

static int
new_order_cmp(const void *pa, const void *pb)
{
	const struct scan_ent *a = *(struct scan_ent *const *)pa, *b = *(struct scan_ent *const *)pb;

	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->usec != b->usec)
		return a->usec < b->usec ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* Whether a scanned name can be kept in the UID list whole (the list's words: printable, no space). */
static bool
name_listable(const struct scan_ent *e)
{
	const char *p;

	for (p = e->name; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return e->uid != 0;
}

/*
 * Under the lock, before the list is written: each entry's file as the
 * scan s saw it, and the scan's stamps when it can stand for the folders
 * (whole, quiet, every file listed); else no stamps, and the next SELECT
 * reads the folders.
 */
static void
list_note_scan(struct imap_mailbox *mb, const struct scan *s)
{
	size_t i;
	bool ok = mb->scan_whole && mb->scan_quiet;

	for (i = 0; i < s->n && ok; i++)
		ok = name_listable(&s->v[i]);
	mb->ul.have_stamps = false;
	if (!ok)
		return;
	for (i = 0; i < mb->ul.n; i++)
		if (mb->ul.v[i].info != NULL)
			imap_uidlist_set_info(&mb->ul, i, NULL, false);
	for (i = 0; i < s->n; i++) {
		const struct imap_uid_entry *u = imap_uidlist_find(&mb->ul, s->v[i].uid);

		if (u == NULL || strlen(u->base) != s->v[i].base_len) {
			return;         /* cannot be: stamps stay off */
		}
		imap_uidlist_set_info(&mb->ul, (size_t)(u - mb->ul.v), s->v[i].name + s->v[i].base_len,
				      s->v[i].in_new);
	}
	mb->ul.have_stamps = true;
	mb->ul.new_m = mb->new_m;
	mb->ul.new_c = mb->new_c;
	mb->ul.cur_m = mb->cur_m;
	mb->ul.cur_c = mb->cur_c;
}

/*
 * Write ul as dir's list (under the lock), then its view cache, or remove
 * the cache when ul has no stamps: best effort, as a cache not written, or
 * an old one left, is never trusted for this list (its id differs).
 */
static int
list_write(struct imap_uidlist *ul, const char *dir)
{
	if (imap_uidlist_write(ul, dir) == -1)
		return -1;
	(void)imap_viewcache_write(ul, dir);
	return 0;
}

/* Under the lock: the vsizes noted by this session into the list's entries of the same files. */
static void
list_note_vsizes(struct imap_mailbox *mb)
{
	size_t i;

	if (!mb->vsize_dirty)
		return;
	for (i = 0; i < mb->n; i++) {
		const struct mb_msg *m = &mb->msgs[i];
		const struct imap_uid_entry *u;

		/* A message never filled from the cache was never counted by this session. */
		if (!msg_filled(mb, i) || m->pub.vsize == 0 || (u = imap_uidlist_find(&mb->ul, m->pub.uid)) == NULL)
			continue;
		if (strlen(u->base) == m->base_len && memcmp(u->base, m->name, m->base_len) == 0)
			mb->ul.v[u - mb->ul.v].vsize = m->pub.vsize;
	}
	mb->vsize_dirty = false;
}

/*
 * Under the folder's lock: the list read again, UIDs for the files that
 * have none (in delivery order: the time in the name, else the mtime,
 * then the name), the entries of files gone dropped (only those listed
 * before this scan began: others may belong to files this scan missed by
 * arriving after it), \Recent claimed, the list written.
 */
static int
assign_uids(struct imap_mailbox *mb, struct scan *s, uint32_t listed_before, uint32_t *recent_from_r,
	    uint32_t *recent_to_r)
{
	struct scan_ent **fresh = NULL;
	bool *matched = NULL, dropped = false;
	size_t i, o, nf = 0;
	uint64_t ms = 0;
	int lock, r = -1;

	lock = imap_uidlist_lock(mb->dir);
	if (lock == -1)
		return -1;
	if (imap_uidlist_refresh(&mb->ul, mb->dir) == -1)
		goto out;
	if (mb->ul.uidvalidity == 0) {
		mb->ul.uidvalidity = imap_uidvalidity_next(mb->root);
		if (mb->ul.uidvalidity == 0)
			goto out;
	}
	match_uids(mb, s, &matched);
	list_note_modseqs(mb, s, &ms);
	fresh = xreallocarray(NULL, s->n + 1, sizeof(*fresh));
	for (i = 0; i < s->n; i++) {
		struct scan_ent *e = &s->v[i];

		if (e->uid != 0)
			continue;
		e->sec = name_time(e->name, &e->usec);
		if (e->sec < 0) {
			struct stat st;

			if (fstatat(e->in_new ? mb->new_fd : mb->cur_fd, e->name, &st,
				    AT_SYMLINK_NOFOLLOW) == -1)
				continue;       /* gone meanwhile */
			e->sec = st.st_mtim.tv_sec;
			e->usec = st.st_mtim.tv_nsec / 1000;
		}
		fresh[nf++] = e;
	}
	/* Drop the entries of files gone, before adding: the list stays within its bound. */
	for (i = 0, o = 0; i < mb->ul.n; i++) {
		if (!matched[i] && mb->ul.v[i].uid < listed_before) {
			imap_uidlist_entry_free(&mb->ul, &mb->ul.v[i]);
			dropped = true;
			continue;
		}
		mb->ul.v[o++] = mb->ul.v[i];
	}
	mb->ul.n = o;
	/* An expunge raises HIGHESTMODSEQ too (RFC 7162 section 3.1.1). */
	if (dropped && ms == 0)
		ms = imap_uidlist_modseq_next(&mb->ul);
	if (nf > 1)
		qsort(fresh, nf, sizeof(*fresh), new_order_cmp);
	for (i = 0; i < nf; i++) {
		struct imap_uid_entry *u;

		fresh[i]->uid = imap_uidlist_add(&mb->ul, fresh[i]->name, fresh[i]->base_len);
		if (fresh[i]->uid == 0)
			continue;
		/* A new message's modseq: that of its arrival. */
		if (ms == 0)
			ms = imap_uidlist_modseq_next(&mb->ul);
		u = &mb->ul.v[mb->ul.n - 1];
		u->modseq = ms;
		u->mflags = imap_uidlist_letters_bits(fresh[i]->name + fresh[i]->base_len, SIZE_MAX);
		u->mstate = IMAP_MFLAGS_SET;
	}
	/* The scan's files with their entries' modseqs, for the view. */
	for (i = 0; i < s->n; i++) {
		const struct imap_uid_entry *u = s->v[i].uid != 0 ? imap_uidlist_find(&mb->ul, s->v[i].uid) : NULL;

		s->v[i].li = 0;
		s->v[i].modseq = u != NULL ? u->modseq : 0;
	}
	*recent_from_r = *recent_to_r = 0;
	if (!mb->readonly) {
		*recent_from_r = mb->ul.first_recent;
		*recent_to_r = mb->ul.next_uid;
		mb->ul.first_recent = mb->ul.next_uid;
	}
	list_note_scan(mb, s);
	list_note_vsizes(mb);
	r = list_write(&mb->ul, mb->dir);
out:
	free(fresh);
	free(matched);
	imap_uidlist_unlock(lock);
	return r;
}

static void
report_push(uint32_t **v, size_t *cap, size_t *n, uint32_t seq)
{
	if (*n == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[(*n)++] = seq;
}

static int
uid_ent_cmp(const void *pa, const void *pb)
{
	const struct scan_ent *a = *(struct scan_ent *const *)pa, *b = *(struct scan_ent *const *)pb;

	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

/* Whether the folders (and the list) are as the last scan left them. */
static bool
unchanged(struct imap_mailbox *mb)
{
	struct stat n, c;
	time_t now = time(NULL);

	if (!mb->scanned || fstat(mb->new_fd, &n) == -1 || fstat(mb->cur_fd, &c) == -1)
		return false;
	if (!ts_eq(&n.st_mtim, &mb->new_m) || !ts_eq(&n.st_ctim, &mb->new_c) ||
	    !ts_eq(&c.st_mtim, &mb->cur_m) || !ts_eq(&c.st_ctim, &mb->cur_c))
		return false;
	/*
	 * Timestamps have a granularity (a clock tick): a change within the
	 * tick of the last scan leaves them equal.  A folder changed that
	 * recently is read again, unless it was quiet when the scan began
	 * (then any later change gave it a later mtime): so the sync right
	 * after SELECT does not read a quiet folder a second time.
	 */
	if (!mb->scan_quiet && (now - mb->new_m.tv_sec < DIRTY_SECONDS || now - mb->cur_m.tv_sec < DIRTY_SECONDS))
		return false;
	return true;
}

/* Move messages of new/ to cur/ with ":2," (Maildir spec): they have been seen. */
static void
move_new_to_cur(struct imap_mailbox *mb, struct mb_msg *m)
{
	char name[MSG_NAME_MAX + 8];
	int r;

	if (strchr(m->name, ':') != NULL)
		r = path_fmt(name, sizeof(name), "%s", m->name);
	else
		r = path_fmt(name, sizeof(name), "%s:2,", m->name);
	if (r == -1)
		return;
	if (renameat(mb->new_fd, m->name, mb->cur_fd, name) == 0 || errno == ENOENT)
		msg_set_name(m, xstrdup(name), false);  /* ENOENT: another session moved it there */
}

/* A view made from the list stands for a complete, quiet scan at the list's stamps. */
static void
view_as_of_list(struct imap_mailbox *mb)
{
	mb->scanned = true;
	mb->scan_whole = mb->scan_quiet = true;
	mb->new_m = mb->ul.new_m;
	mb->new_c = mb->ul.new_c;
	mb->cur_m = mb->ul.cur_m;
	mb->cur_c = mb->ul.cur_c;
	mb->highest = mb->ul.highest_modseq;
}

/*
 * The first view of a folder from its UID list, without reading new/ and
 * cur/, when they still have the stamps of the complete scan that wrote
 * the list's file names (see list_note_scan: that scan began 2 seconds
 * or more after their last change, so any later change gave them other
 * timestamps), and no \Recent is to be claimed nor file moved from new/
 * (both write).  1 when made, 0 when the folders must be read, -1 with
 * errno.
 */
static int
view_from_list(struct imap_mailbox *mb)
{
	const struct imap_uidlist *ul = &mb->ul;
	struct stat n, c;
	time_t now = time(NULL);
	size_t i, o, count = 0, total = 0;
	struct mb_msg *msgs;
	char *q;

	if (ul->source != IMAP_UIDLIST_OSD || !ul->have_stamps || ul->uidvalidity == 0 || !ul->have_modseq ||
	    (!mb->readonly && ul->first_recent < ul->next_uid))
		return 0;
	if (fstat(mb->new_fd, &n) == -1 || fstat(mb->cur_fd, &c) == -1)
		return -1;
	if (!ts_eq(&n.st_mtim, &ul->new_m) || !ts_eq(&n.st_ctim, &ul->new_c) ||
	    !ts_eq(&c.st_mtim, &ul->cur_m) || !ts_eq(&c.st_ctim, &ul->cur_c))
		return 0;
	if (now - n.st_mtim.tv_sec < DIRTY_SECONDS || now - c.st_mtim.tv_sec < DIRTY_SECONDS)
		return 0;
	if (ul->n > MAILBOX_MAX_MESSAGES)
		return 0;
	/* Room for every entry (the pages no message reaches are never touched). */
	msgs = xreallocarray(NULL, ul->n + 1, sizeof(*msgs));
	xprefault(msgs, (ul->n + 1) * sizeof(*msgs));
	for (i = 0; i < ul->n; i++) {
		const struct imap_uid_entry *u = &ul->v[i];
		struct mb_msg *m;

		if (u->info == NULL)
			continue;
		if (u->in_new && !mb->readonly) {
			free(msgs);
			return 0;
		}
		m = &msgs[count++];
		memset(m, 0, sizeof(*m));
		m->pub.uid = u->uid;
		m->pub.vsize = u->vsize;
		m->pub.modseq = u->modseq;
		m->base_len = strlen(u->base);
		m->in_new = u->in_new;
		total += m->base_len + strlen(u->info) + 1;
		/* The info as listed starts with ":2," (a name in new/ has none). */
		if (u->info[0] == ':' && u->info[1] == '2' && u->info[2] == ',')
			parse_letters(u->info + 3, &m->pub.flags, &m->pub.keywords);
		else
			parse_info(u->info, &m->pub.flags, &m->pub.keywords);
		/* No claim is due (checked above): EXAMINE counts those not yet taken. */
		m->pub.recent = mb->readonly && m->pub.uid >= ul->first_recent;
		if (m->pub.recent)
			mb->recent++;
		mb->max_uid = m->pub.uid;
		/* A modseq not given for the file's flags (unknown: a hand-made line): read the folders. */
		if (u->mstate == IMAP_MFLAGS_UNKNOWN ||
		    (u->mstate == IMAP_MFLAGS_SET && u->mflags != mbits(m->pub.flags, m->pub.keywords))) {
			free(msgs);
			mb->recent = 0;
			mb->max_uid = 0;
			return 0;
		}
	}
	/* All the names in one block: one allocation, not one per message. */
	free(mb->names);
	mb->names = q = xmalloc(total + 1);
	xprefault(q, total + 1);
	for (i = 0, o = 0; i < ul->n; i++) {
		const struct imap_uid_entry *u = &ul->v[i];
		struct mb_msg *m;
		size_t il;

		if (u->info == NULL)
			continue;
		m = &msgs[o++];
		il = strlen(u->info);
		memcpy(q, u->base, m->base_len);
		memcpy(q + m->base_len, u->info, il + 1);
		m->name = q;
		m->pub.name = q;
		m->in_names = true;
		q += m->base_len + il + 1;
	}
	mb->msgs = msgs;
	mb->n = count;
	mb->cap = ul->n + 1;
	view_as_of_list(mb);
	return 1;
}

/*
 * The first view of a folder from its list's cache (osd-uidlist.cache,
 * imap_viewcache.h), under the same conditions as view_from_list, and
 * without reading the text list: the cache is checked against the list
 * it was made with (its stat) and mapped; the messages are filled from
 * it as commands ask for them (view_msg).  The list's header is taken
 * from it and its entries are read when something needs them
 * (entries_deferred).  1 when made, 0 when not (no cache, or one not to
 * be trusted, or the folders changed).
 */
static int
view_from_cache(struct imap_mailbox *mb)
{
	struct imap_viewcache *vc = &mb->vc;
	struct imap_uidlist *ul = &mb->ul;
	char path[PATH_MAX];
	struct stat lst, n, c;
	struct imap_file_id id;
	time_t now;
	size_t lo, hi;

	if (path_join(path, sizeof(path), mb->dir, IMAP_UIDLIST_NAME) == -1 || stat(path, &lst) == -1)
		return 0;
	imap_file_id_set(&id, &lst);
	if (imap_viewcache_open(vc, mb->dir, &id) == -1)
		return 0;
	/* (A cache without a HIGHESTMODSEQ, of a list without modseqs, is not used: none is written.) */
	if ((!mb->readonly && (vc->first_recent < vc->next_uid || vc->any_in_new)) || vc->n > MAILBOX_MAX_MESSAGES ||
	    vc->highest_modseq == 0 ||
	    fstat(mb->new_fd, &n) == -1 || fstat(mb->cur_fd, &c) == -1)
		goto no;
	now = time(NULL);
	if (!ts_eq(&n.st_mtim, &vc->new_m) || !ts_eq(&n.st_ctim, &vc->new_c) || !ts_eq(&c.st_mtim, &vc->cur_m) ||
	    !ts_eq(&c.st_ctim, &vc->cur_c) || now - n.st_mtim.tv_sec < DIRTY_SECONDS ||
	    now - c.st_mtim.tv_sec < DIRTY_SECONDS)
		goto no;
	/* The array's pages are touched only by the messages filled. */
	mb->msgs = xreallocarray(NULL, vc->n + 1, sizeof(*mb->msgs));
	mb->lazy = xcalloc(vc->n / 64 + 1, sizeof(*mb->lazy));
	mb->n = vc->n;
	mb->cap = vc->n + 1;
	mb->max_uid = vc->n > 0 ? vc->rec[vc->n - 1].uid : 0;
	if (mb->readonly) {
		/* Those from first_recent on: the first record at or above it. */
		for (lo = 0, hi = vc->n; lo < hi;) {
			size_t mid = lo + (hi - lo) / 2;

			if (vc->rec[mid].uid < vc->first_recent)
				lo = mid + 1;
			else
				hi = mid;
		}
		mb->recent = (uint32_t)(vc->n - lo);
	}
	ul->uidvalidity = vc->uidvalidity;
	ul->next_uid = vc->next_uid;
	ul->first_recent = vc->first_recent;
	ul->highest_modseq = vc->highest_modseq;
	ul->have_modseq = true;
	ul->source = IMAP_UIDLIST_OSD;
	ul->id = id;
	ul->have_stamps = true;
	ul->new_m = vc->new_m;
	ul->new_c = vc->new_c;
	ul->cur_m = vc->cur_m;
	ul->cur_c = vc->cur_c;
	ul->entries_deferred = true;
	view_as_of_list(mb);
	return 1;
no:
	imap_viewcache_close(vc);
	return 0;
}

static int
do_sync(struct imap_mailbox *mb, bool report_expunges, struct imap_sync_report *r,
	const char **error_r)
{
	struct scan s = { NULL, 0, 0 };
	struct scan_ent **add = NULL;
	uint32_t listed_before, rfrom = 0, rto = 0, old_recent = mb->recent;
	size_t i, o, nadd = 0, n_exp = 0, n_chg = 0, vanished = 0, hint = 0;
	bool need, kw_changed = false, count_changed = false;
	bool *matched = NULL;
	int ku, attempt;

	memset(r, 0, sizeof(*r));
	ku = imap_keywords_refresh(&mb->kw, mb->dir);
	if (ku == 1 || mb->kw_added)
		kw_changed = true;
	mb->kw_added = false;
	if (!mb->scanned && mb->n == 0 && view_from_cache(mb) == 1) {
		r->count_changed = true;
		r->keywords_changed = kw_changed;
		return 0;
	}
	/* A list known from its cache is read only when it changed, or (below) when the folder did. */
	if ((!mb->ul.entries_deferred || imap_uidlist_unchanged(&mb->ul, mb->dir) != 1) &&
	    imap_uidlist_refresh(&mb->ul, mb->dir) == -1) {
		*error_r = "cannot read the UID list";
		return -1;
	}
	if (!mb->scanned && mb->n == 0) {
		int c = view_from_list(mb);

		if (c == -1) {
			*error_r = "cannot read the folder";
			return -1;
		}
		if (c == 1) {
			/* A list with stamps and no usable cache (an older osd wrote it): make the cache now. */
			(void)imap_viewcache_write(&mb->ul, mb->dir);
			r->count_changed = true;
			r->keywords_changed = kw_changed;
			return 0;
		}
	}
	/*
	 * The cheap check: nothing to do when neither folder changed (new UIDs
	 * come with new files, flag changes with renames), unless expunged
	 * messages wait to be reported.
	 */
	if (unchanged(mb)) {
		bool ghosts = false;

		/* A view still in the cache has no ghosts: only a scan makes them, after view_fill_all. */
		for (i = 0; report_expunges && mb->lazy == NULL && i < mb->n && !ghosts; i++)
			ghosts = mb->msgs[i].pub.expunged;
		if (!ghosts) {
			r->keywords_changed = kw_changed;
			return 0;
		}
	}
	view_fill_all(mb);
	if (mb->ul.entries_deferred && imap_uidlist_refresh(&mb->ul, mb->dir) == -1) {
		*error_r = "cannot read the UID list";
		return -1;
	}
	listed_before = mb->ul.next_uid;
	for (attempt = 0; attempt < 2; attempt++) {
		if (scan_all(mb, &s) == -1) {
			scan_free(&s);
			*error_r = errno == EFBIG ? "Too many messages in the folder"
						  : "cannot read the folder";
			return -1;
		}
		/* A message of the view not found: read once more before calling it expunged. */
		for (i = 0, vanished = 0, hint = 0; i < mb->n; i++)
			if (!mb->msgs[i].pub.expunged &&
			    scan_find_near(&s, mb->msgs[i].name, mb->msgs[i].base_len, &hint) == NULL)
				vanished++;
		if (vanished == 0)
			break;
	}
	match_uids(mb, &s, &matched);
	need = mb->ul.uidvalidity == 0 || mb->ul.source != IMAP_UIDLIST_OSD ||
	       (!mb->readonly && mb->ul.first_recent < mb->ul.next_uid);
	/* The list's files and stamps out of date, and this scan can stand for the folders: write it. */
	if (mb->scan_whole && mb->scan_quiet &&
	    (!mb->ul.have_stamps || !ts_eq(&mb->ul.new_m, &mb->new_m) || !ts_eq(&mb->ul.new_c, &mb->new_c) ||
	     !ts_eq(&mb->ul.cur_m, &mb->cur_m) || !ts_eq(&mb->ul.cur_c, &mb->cur_c)))
		need = true;
	for (i = 0; i < s.n && !need; i++)
		if (s.v[i].uid == 0)
			need = true;
	/*
	 * RFC 7162: a flag change not yet given a modseq (another program's
	 * rename, a STORE not committed), a list without modseqs, and an
	 * expunge (the entry of a file gone) each need one: the list is
	 * written with it.
	 */
	if (!mb->ul.have_modseq)
		need = true;
	for (i = 0; i < s.n && !need; i++)
		if (s.v[i].uid != 0 && !scan_modseq_current(&mb->ul, &s.v[i]))
			need = true;
	for (i = 0; i < mb->ul.n && !need; i++)
		if (!matched[i])
			need = true;
	free(matched);
	if (need && assign_uids(mb, &s, listed_before, &rfrom, &rto) == -1) {
		scan_free(&s);
		*error_r = "cannot update the UID list";
		return -1;
	}

	/* The messages of the view: gone, renamed (flags), or still there. */
	for (i = 0, hint = 0; i < mb->n; i++) {
		struct mb_msg *m = &mb->msgs[i];
		struct scan_ent *e;

		m->changed = m->remove = false;
		if (m->pub.expunged) {
			m->remove = report_expunges;
			continue;
		}
		e = scan_find_near(&s, m->name, m->base_len, &hint);
		if (e == NULL) {
			if (report_expunges)
				m->remove = true;
			else
				m->pub.expunged = true;
			continue;
		}
		e->used = true;
		if (e->uid == m->pub.uid && e->modseq != 0)
			m->pub.modseq = e->modseq;
		if (strcmp(e->name, m->name) != 0 || e->in_new != m->in_new) {
			unsigned fl;
			uint32_t kw;

			parse_info(e->name, &fl, &kw);
			if (fl != m->pub.flags || kw != m->pub.keywords) {
				m->pub.flags = fl;
				m->pub.keywords = kw;
				m->changed = true;
			}
			/* A copy: the scan stays whole, later scan_find calls of this loop still compare its names. */
			msg_set_name(m, xstrdup(e->name), e->in_new);
		}
	}
	/* RFC 3501 section 7.4.1: each EXPUNGE renumbers the rest; from the highest down none moves. */
	for (i = mb->n; i > 0; i--)
		if (mb->msgs[i - 1].remove)
			report_push(&mb->rep_exp, &mb->rep_exp_cap, &n_exp, (uint32_t)i);
	for (i = 0, o = 0; i < mb->n; i++) {
		if (mb->msgs[i].remove) {
			if (mb->msgs[i].pub.recent)
				mb->recent--;
			msg_name_free(&mb->msgs[i]);
			continue;
		}
		mb->msgs[o++] = mb->msgs[i];
	}
	mb->n = o;
	for (i = 0; i < mb->n; i++) {
		if (mb->msgs[i].changed)
			report_push(&mb->rep_chg, &mb->rep_chg_cap, &n_chg, (uint32_t)(i + 1));
		if (!mb->readonly && mb->msgs[i].in_new && !mb->msgs[i].pub.expunged)
			move_new_to_cur(mb, &mb->msgs[i]);
	}
	/*
	 * New messages, by UID.  One with a UID not above every UID this view
	 * has had (a file an earlier scan missed) would renumber the others
	 * unannounced: it waits for the next SELECT.
	 */
	add = xreallocarray(NULL, s.n + 1, sizeof(*add));
	for (i = 0; i < s.n; i++)
		if (!s.v[i].used && s.v[i].uid > mb->max_uid && s.v[i].name != NULL)
			add[nadd++] = &s.v[i];
	if (nadd > 1)
		qsort(add, nadd, sizeof(*add), uid_ent_cmp);
	for (i = 0; i < nadd; i++) {
		const struct imap_uid_entry *u;
		struct mb_msg *m;

		if (mb->n == mb->cap) {
			mb->cap = mb->cap == 0 ? 256 : mb->cap * 2;
			mb->msgs = xreallocarray(mb->msgs, mb->cap, sizeof(*mb->msgs));
		}
		m = &mb->msgs[mb->n++];
		memset(m, 0, sizeof(*m));
		m->pub.uid = add[i]->uid;
		m->pub.modseq = add[i]->modseq;
		msg_set_name(m, add[i]->name, add[i]->in_new);
		add[i]->name = NULL;
		parse_info(m->name, &m->pub.flags, &m->pub.keywords);
		msg_fill(m, m->in_new ? mb->new_fd : mb->cur_fd);
		if ((u = imap_uidlist_find(&mb->ul, m->pub.uid)) != NULL && strlen(u->base) == m->base_len &&
		    memcmp(u->base, m->name, m->base_len) == 0)
			m->pub.vsize = u->vsize;
		/* \Recent: the first session to take it (read-write), else all not yet taken (EXAMINE, STATUS). */
		if (mb->readonly)
			m->pub.recent = m->pub.uid >= mb->ul.first_recent;
		else
			m->pub.recent = m->pub.uid >= rfrom && m->pub.uid < rto;
		if (m->pub.recent)
			mb->recent++;
		mb->max_uid = m->pub.uid;
		if (!mb->readonly && m->in_new)
			move_new_to_cur(mb, m);
		count_changed = true;
	}
	free(add);
	scan_free(&s);
	if (n_exp > 0 || mb->recent != old_recent)
		count_changed = true;
	if (mb->ul.highest_modseq > mb->highest)
		mb->highest = mb->ul.highest_modseq;
	r->expunged = mb->rep_exp;
	r->n_expunged = n_exp;
	r->changed = mb->rep_chg;
	r->n_changed = n_chg;
	r->count_changed = count_changed;
	r->keywords_changed = kw_changed;
	return 0;
}

int
imap_mailbox_sync(struct imap_mailbox *mb, bool report_expunges, struct imap_sync_report *r,
		  const char **error_r)
{
	return do_sync(mb, report_expunges, r, error_r);
}

/* Open dir's sub-folder sub as a directory descriptor, creating it (and its siblings) for the Maildir root. */
static int
open_sub(const char *dir, const char *sub, bool create)
{
	char path[PATH_MAX];
	int fd;

	if (path_join(path, sizeof(path), dir, sub) == -1)
		return -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && create) {
		static const char *const subs[] = { "cur", "new", "tmp" };
		char p2[PATH_MAX];
		size_t i;

		for (i = 0; i < 3; i++)
			if (path_join(p2, sizeof(p2), dir, subs[i]) == 0)
				(void)mkdir(p2, 0700);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	return fd;
}

int
imap_mailbox_open(const char *root, const char *name, bool readonly, struct imap_mailbox **mb_r,
		  const char **error_r, const char **code_r)
{
	struct imap_mailbox *mb = xcalloc(1, sizeof(*mb));
	struct imap_sync_report r;
	bool inbox;

	*code_r = NULL;
	mb->cur_fd = mb->new_fd = -1;
	mb->readonly = readonly;
	imap_uidlist_init(&mb->ul);
	if (path_fmt(mb->root, sizeof(mb->root), "%s", root) == -1 ||
	    imap_folder_dir(root, name, mb->dir, sizeof(mb->dir)) == -1) {
		*error_r = "Invalid mailbox name";
		*code_r = "CANNOT";
		goto fail;
	}
	inbox = strcmp(mb->dir, mb->root) == 0;
	mb->cur_fd = open_sub(mb->dir, "cur", inbox);
	mb->new_fd = open_sub(mb->dir, "new", inbox);
	if (mb->cur_fd == -1 || mb->new_fd == -1) {
		if (errno == ENOENT || errno == ENOTDIR) {
			*error_r = "Mailbox doesn't exist";
			*code_r = "NONEXISTENT";
		} else {
			*error_r = "Cannot open the mailbox";
			*code_r = "SERVERBUG";
		}
		goto fail;
	}
	if (do_sync(mb, true, &r, error_r) == -1) {
		*code_r = "SERVERBUG";
		goto fail;
	}
	*mb_r = mb;
	return 0;
fail:
	imap_mailbox_close(mb);
	return -1;
}

int
imap_mailbox_moved(struct imap_mailbox *mb, const char *name)
{
	char dir[PATH_MAX];

	if (imap_folder_dir(mb->root, name, dir, sizeof(dir)) == -1)
		return -1;
	memcpy(mb->dir, dir, sizeof(dir));
	return 0;
}

void
imap_mailbox_set_vsize(struct imap_mailbox *mb, uint32_t seq, uint64_t vsize)
{
	if (seq == 0 || seq > mb->n || view_msg(mb, seq - 1)->pub.vsize == vsize)
		return;
	mb->msgs[seq - 1].pub.vsize = vsize;
	mb->vsize_dirty = true;
}

/* The vsizes noted and not yet written: into the list now (best effort, under the lock). */
static void
flush_vsizes(struct imap_mailbox *mb)
{
	int lock;

	if (!mb->vsize_dirty || mb->ul.source != IMAP_UIDLIST_OSD)
		return;
	if ((lock = imap_uidlist_lock(mb->dir)) == -1)
		return;
	if (imap_uidlist_refresh(&mb->ul, mb->dir) != -1 && mb->ul.source == IMAP_UIDLIST_OSD) {
		list_note_vsizes(mb);
		(void)list_write(&mb->ul, mb->dir);
	}
	imap_uidlist_unlock(lock);
}

void
imap_mailbox_close(struct imap_mailbox *mb)
{
	size_t i;

	if (mb == NULL)
		return;
	flush_vsizes(mb);
	for (i = 0; i < mb->n; i++)
		if (msg_filled(mb, i))
			msg_name_free(&mb->msgs[i]);
	free(mb->msgs);
	free(mb->lazy);
	imap_viewcache_close(&mb->vc);
	free(mb->names);
	free(mb->rep_exp);
	free(mb->rep_chg);
	imap_uidlist_free(&mb->ul);
	imap_keywords_free(&mb->kw);
	if (mb->cur_fd != -1)
		close(mb->cur_fd);
	if (mb->new_fd != -1)
		close(mb->new_fd);
	free(mb);
}

bool
imap_mailbox_readonly(const struct imap_mailbox *mb)
{
	return mb->readonly;
}

const char *
imap_mailbox_dir(const struct imap_mailbox *mb)
{
	return mb->dir;
}

uint32_t
imap_mailbox_uidvalidity(const struct imap_mailbox *mb)
{
	return mb->ul.uidvalidity;
}

uint32_t
imap_mailbox_uidnext(const struct imap_mailbox *mb)
{
	/* Never below what this view has shown (the list may have been replaced meanwhile). */
	return mb->ul.next_uid > mb->max_uid ? mb->ul.next_uid : mb->max_uid + 1;
}

uint64_t
imap_mailbox_highest_modseq(const struct imap_mailbox *mb)
{
	return mb->highest > 0 ? mb->highest : 1;
}

uint32_t
imap_mailbox_count(const struct imap_mailbox *mb)
{
	return (uint32_t)mb->n;
}

uint32_t
imap_mailbox_recent(const struct imap_mailbox *mb)
{
	return mb->recent;
}

const struct imap_msg *
imap_mailbox_msg(const struct imap_mailbox *mb, uint32_t seq)
{
	if (seq == 0 || seq > mb->n)
		return NULL;
	/* Filled on first use: from the cache, then its INTERNALDATE and size. */
	return &msg_need(mb, view_msg(mb, seq - 1))->pub;
}

uint32_t
imap_mailbox_seq_of_uid(const struct imap_mailbox *mb, uint32_t uid)
{
	size_t lo = 0, hi = mb->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		uint32_t u = view_uid(mb, mid);

		if (u == uid)
			return (uint32_t)(mid + 1);
		if (u < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

unsigned
imap_mailbox_keyword_count(const struct imap_mailbox *mb)
{
	return mb->kw.n;
}

const char *
imap_mailbox_keyword(const struct imap_mailbox *mb, unsigned i)
{
	if (i >= mb->kw.n || mb->kw.names[i] == NULL)
		return "";
	return mb->kw.names[i];
}

static int
kw_find(const struct imap_keywords *kw, const char *name)
{
	unsigned i;

	for (i = 0; i < kw->n; i++)
		if (kw->names[i] != NULL && strcasecmp(kw->names[i], name) == 0)
			return (int)i;
	return -1;
}

/* The index of keyword name in dir's keywords, added (under the lock held by the caller) when new. */
static int
kw_index_locked(struct imap_keywords *kw, const char *dir, const char *name, bool *added_r)
{
	unsigned i;
	int idx;

	if (imap_keywords_refresh(kw, dir) == -1)
		return -1;
	idx = kw_find(kw, name);
	if (idx >= 0)
		return idx;
	if (!imap_keyword_name_ok(name))
		return -1;
	for (i = 0; i < IMAP_KEYWORDS_MAX && kw->names[i] != NULL; i++)
		;
	if (i == IMAP_KEYWORDS_MAX)
		return -1;
	kw->names[i] = xstrdup(name);
	if (i + 1 > kw->n)
		kw->n = i + 1;
	if (imap_keywords_write(kw, dir) == -1) {
		free(kw->names[i]);
		kw->names[i] = NULL;
		return -1;
	}
	*added_r = true;
	return (int)i;
}

int
imap_mailbox_keyword_index(struct imap_mailbox *mb, const char *name, bool create)
{
	int idx = kw_find(&mb->kw, name), lock;

	if (idx >= 0 || !create)
		return idx;
	lock = imap_uidlist_lock(mb->dir);
	if (lock == -1)
		return -1;
	idx = kw_index_locked(&mb->kw, mb->dir, name, &mb->kw_added);
	imap_uidlist_unlock(lock);
	return idx;
}

/* Find message m's file again by its base name (another session renamed it): 0, or -1 ENOENT. */
static int
relocate(struct imap_mailbox *mb, struct mb_msg *m)
{
	struct scan s = { NULL, 0, 0 };
	int k;

	for (k = 0; k < 2; k++) {
		size_t i;

		if (scan_dir(&s, k == 0 ? mb->cur_fd : mb->new_fd, k != 0) == -1) {
			scan_free(&s);
			return -1;
		}
		for (i = 0; i < s.n; i++) {
			if (s.v[i].base_len == m->base_len && memcmp(s.v[i].name, m->name, m->base_len) == 0) {
				/* The name only: a flag change still shows at the next sync. */
				msg_set_name(m, s.v[i].name, s.v[i].in_new);
				s.v[i].name = NULL;
				scan_free(&s);
				return 0;
			}
		}
		scan_free(&s);
	}
	errno = ENOENT;
	return -1;
}

int
imap_mailbox_read(struct imap_mailbox *mb, uint32_t seq, struct buf *out)
{
	struct mb_msg *m;
	int fd, r, tries;

	if (seq == 0 || seq > mb->n) {
		errno = EINVAL;
		return -1;
	}
	m = view_msg(mb, seq - 1);
	for (tries = 0;; tries++) {
		fd = regfile_openat(m->in_new ? mb->new_fd : mb->cur_fd, m->name, O_RDONLY, 0, NULL);
		if (fd != -1 || errno != ENOENT || tries > 0)
			break;
		if (relocate(mb, m) == -1)
			return -1;
	}
	if (fd == -1)
		return -1;
	r = buf_read_file(out, fd);
	close_keep_errno(fd);
	return r;
}

int
imap_mailbox_set_flags(struct imap_mailbox *mb, uint32_t seq, unsigned flags, uint32_t keywords)
{
	char name[MSG_NAME_MAX + 1];
	struct mb_msg *m;
	int tries;

	if (seq == 0 || seq > mb->n) {
		errno = EINVAL;
		return -1;
	}
	if (mb->readonly) {
		errno = EROFS;
		return -1;
	}
	m = view_msg(mb, seq - 1);
	flags &= IMAP_FLAGS_ALL;
	for (tries = 0;; tries++) {
		if (make_name(name, sizeof(name), m->name, m->base_len, flags, keywords, m->name) == -1) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (!m->in_new && strcmp(name, m->name) == 0)
			break;
		if (renameat(m->in_new ? mb->new_fd : mb->cur_fd, m->name, mb->cur_fd, name) == 0) {
			msg_set_name(m, xstrdup(name), false);
			break;
		}
		if (errno != ENOENT || tries > 0 || relocate(mb, m) == -1)
			return -1;
	}
	if (flags != m->pub.flags || keywords != m->pub.keywords)
		m->flags_dirty = true;
	m->pub.flags = flags;
	m->pub.keywords = keywords;
	return 0;
}

int
imap_mailbox_commit_flags(struct imap_mailbox *mb)
{
	uint64_t ms = 0;
	bool any = false;
	size_t i;
	int lock, r = 0;

	/* Only a filled message can have been STOREd (imap_mailbox_set_flags fills it first). */
	for (i = 0; i < mb->n && !any; i++)
		any = msg_filled(mb, i) && mb->msgs[i].flags_dirty;
	if (!any)
		return 0;
	lock = imap_uidlist_lock(mb->dir);
	if (lock == -1)
		return -1;
	if (imap_uidlist_refresh(&mb->ul, mb->dir) == -1) {
		imap_uidlist_unlock(lock);
		return -1;
	}
	for (i = 0; i < mb->n; i++) {
		struct mb_msg *m = &mb->msgs[i];
		struct imap_uid_entry *u;
		uint32_t mf, bits;

		if (!msg_filled(mb, i) || !m->flags_dirty)
			continue;
		m->flags_dirty = false;
		u = (struct imap_uid_entry *)imap_uidlist_find(&mb->ul, m->pub.uid);
		if (u == NULL || strlen(u->base) != m->base_len || memcmp(u->base, m->name, m->base_len) != 0)
			continue;       /* not listed (gone meanwhile): nothing to tell */
		bits = mbits(m->pub.flags, m->pub.keywords);
		/* Not again for flags already recorded (a sync of this or another session did). */
		if (!mb->ul.have_modseq || !imap_uidlist_mflags(u, &mf) || mf != bits) {
			if (ms == 0)
				ms = imap_uidlist_modseq_next(&mb->ul);
			u->modseq = ms;
			u->mflags = bits;
			u->mstate = IMAP_MFLAGS_SET;
		}
		m->pub.modseq = u->modseq;
	}
	if (ms != 0) {
		list_note_vsizes(mb);
		r = list_write(&mb->ul, mb->dir);
	}
	imap_uidlist_unlock(lock);
	if (mb->ul.highest_modseq > mb->highest)
		mb->highest = mb->ul.highest_modseq;
	return r;
}

static int
u32_cmp(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

	return a < b ? -1 : a > b;
}

int
imap_mailbox_expunge(struct imap_mailbox *mb, const uint32_t *uids, size_t n, const char **error_r)
{
	uint32_t *set = NULL;
	int64_t bytes = 0, count = 0;
	size_t i;
	int r = 0;

	if (mb->readonly) {
		*error_r = "Mailbox is read-only";
		return -1;
	}
	if (uids != NULL && n > 0) {
		set = xreallocarray(NULL, n, sizeof(*set));
		memcpy(set, uids, n * sizeof(*set));
		qsort(set, n, sizeof(*set), u32_cmp);
	}
	view_fill_all(mb);
	for (i = 0; i < mb->n; i++) {
		struct mb_msg *m = &mb->msgs[i];
		int tries;

		if (m->pub.expunged || !(m->pub.flags & IMAP_FLAG_DELETED))
			continue;
		if (uids != NULL && (set == NULL || bsearch(&m->pub.uid, set, n, sizeof(*set), u32_cmp) == NULL))
			continue;
		msg_need(mb, m);        /* its size for the quota, while the file is there */
		for (tries = 0;; tries++) {
			if (unlinkat(m->in_new ? mb->new_fd : mb->cur_fd, m->name, 0) == 0) {
				bytes -= (int64_t)m->pub.file_size;
				count--;
				break;
			}
			if (errno != ENOENT) {
				*error_r = "Cannot remove a message";
				r = -1;
				break;
			}
			/* Renamed by another session: still \Deleted there?  Else it is kept. */
			if (tries > 0 || relocate(mb, m) == -1)
				break;
			{
				unsigned fl;
				uint32_t kw;

				parse_info(m->name, &fl, &kw);
				if (!(fl & IMAP_FLAG_DELETED))
					break;
			}
		}
	}
	free(set);
	if (count != 0)
		(void)imap_quota_add(mb->root, bytes, count);
	return r;
}

/* This host's name as Maildir names carry it ('/' and ':' cannot be in a file name there). */
static const char *
host_name(void)
{
	static char host[65];
	size_t i;

	if (host[0] != '\0')
		return host;
	if (gethostname(host, sizeof(host) - 1) == -1 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] == '/' || host[i] == ':' || host[i] == ',' || (unsigned char)host[i] <= ' ' ||
		    (unsigned char)host[i] >= 0x7f)
			host[i] = '_';
	return host;
}

/*
 * A new unique base name: "<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>", sec
 * the message's internal date (INTERNALDATE is read back from the name),
 * usec the time now, n a counter of this process.
 */
static int
new_base(char *out, size_t size, time_t date, uint64_t file_size)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return path_fmt(out, size, "%lld.M%06ldP%ldQ%u.%s,S=%" PRIu64, (long long)date, (long)tv.tv_usec,
			(long)getpid(), ++name_counter, host_name(), file_size);
}

/* Give the files bases[0..n) of dir (made by this process, in order) UIDs, under dir's lock held by the caller. */
static int
list_new_files(const char *root, const char *dir, char *const *bases, size_t n, uint32_t *uidvalidity_r,
	       uint32_t *uids_r)
{
	struct imap_uidlist ul;
	uint64_t ms = 0;
	size_t i;
	int r = -1;

	imap_uidlist_init(&ul);
	if (imap_uidlist_refresh(&ul, dir) == -1)
		goto out;
	if (ul.uidvalidity == 0 && (ul.uidvalidity = imap_uidvalidity_next(root)) == 0)
		goto out;
	/* Before the new entries: a list with none yet starts at 1. */
	imap_uidlist_modseq_start(&ul);
	for (i = 0; i < n; i++) {
		struct imap_uid_entry *u;
		size_t blen = maildir_name_base_len(bases[i]);

		uids_r[i] = imap_uidlist_add(&ul, bases[i], blen);
		if (uids_r[i] == 0) {
			errno = EFBIG;
			goto out;
		}
		/* One modseq for the messages of one APPEND or COPY (RFC 7162). */
		if (ms == 0)
			ms = imap_uidlist_modseq_next(&ul);
		u = &ul.v[ul.n - 1];
		u->modseq = ms;
		u->mflags = imap_uidlist_letters_bits(bases[i] + blen, SIZE_MAX);
		u->mstate = IMAP_MFLAGS_SET;
	}
	/* The files just put into cur/ changed it: the stamps can no longer stand for it (nor a cache be made). */
	ul.have_stamps = false;
	if (list_write(&ul, dir) == -1)
		goto out;
	*uidvalidity_r = ul.uidvalidity;
	r = 0;
out:
	imap_uidlist_free(&ul);
	return r;
}

/* The Maildir of a destination folder that must exist: -1 with TRYCREATE otherwise. */
static int
dest_dir(const char *root, const char *name, char *dir, size_t size, const char **error_r,
	 const char **code_r)
{
	char cur[PATH_MAX];
	struct stat st;

	if (imap_folder_dir(root, name, dir, size) == -1) {
		*error_r = "Invalid mailbox name";
		*code_r = "CANNOT";
		return -1;
	}
	if (path_join(cur, sizeof(cur), dir, "cur") == -1 || stat(cur, &st) == -1 || !S_ISDIR(st.st_mode)) {
		*error_r = "Mailbox doesn't exist";
		*code_r = "TRYCREATE";
		return -1;
	}
	return 0;
}


/* A folder receiving messages (COPY, APPEND): its tmp/ and cur/, and its UID list locked. */
struct dest_dir {
	int tmp_fd, cur_fd, lock;
};

/* Open dir's tmp/ and cur/ and take its list's lock; -1 (what was opened stays for dest_close). */
static int
dest_open(const char *dir, struct dest_dir *d)
{
	char path[PATH_MAX];

	if (path_join(path, sizeof(path), dir, "tmp") == -1 ||
	    (d->tmp_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    path_join(path, sizeof(path), dir, "cur") == -1 ||
	    (d->cur_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	d->lock = imap_uidlist_lock(dir);
	return d->lock == -1 ? -1 : 0;
}

static void
dest_close(struct dest_dir *d)
{
	imap_uidlist_unlock(d->lock);
	if (d->tmp_fd != -1)
		close(d->tmp_fd);
	if (d->cur_fd != -1)
		close(d->cur_fd);
}

/* Copy the file src_fd/src into dst_fd/dst byte by byte (no hard link across file systems). */
static int
copy_file(int src_dfd, const char *src, int dst_dfd, const char *dst)
{
	char chunk[65536];
	ssize_t k;
	int in, out, r = 0;

	in = regfile_openat(src_dfd, src, O_RDONLY, 0, NULL);
	if (in == -1)
		return -1;
	out = openat(dst_dfd, dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out == -1)
		return close_keep_errno(in);
	while ((k = read(in, chunk, sizeof(chunk))) != 0) {
		if (k == -1) {
			if (errno == EINTR)
				continue;
			r = -1;
			break;
		}
		if (write_all(out, chunk, (size_t)k) == -1) {
			r = -1;
			break;
		}
	}
	if (r == 0 && fsync(out) == -1)
		r = -1;
	close(in);
	if (close(out) == -1)
		r = -1;
	if (r == -1)
		(void)unlinkat(dst_dfd, dst, 0);
	return r;
}

int
imap_mailbox_copy(struct imap_mailbox *mb, const uint32_t *seqs, size_t n, const char *dest,
		  uint32_t *uidvalidity_r, uint32_t *uids_r, const char **error_r, const char **code_r)
{
	char dir[PATH_MAX];
	char **names = NULL;
	uint64_t bytes = 0;
	struct imap_keywords dkw;
	bool over, kw_added = false;
	size_t i, done = 0;
	struct dest_dir d = { .tmp_fd = -1, .cur_fd = -1, .lock = -1 };
	int r = -1;

	*code_r = NULL;
	memset(&dkw, 0, sizeof(dkw));
	if (dest_dir(mb->root, dest, dir, sizeof(dir), error_r, code_r) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (seqs[i] == 0 || seqs[i] > mb->n) {
			*error_r = "Invalid message number";
			return -1;
		}
		bytes += msg_need(mb, view_msg(mb, seqs[i] - 1))->pub.file_size;
	}
	if (imap_quota_check(mb->root, bytes, n, &over) == 0 && over) {
		*error_r = IMAP_QUOTA_TEXT;
		*code_r = "OVERQUOTA";
		return -1;
	}
	*error_r = "Cannot copy the messages";
	*code_r = "SERVERBUG";
	if (dest_open(dir, &d) == -1)
		goto out;
	names = xcalloc(n + 1, sizeof(*names));
	for (done = 0; done < n; done++) {
		struct mb_msg *m = view_msg(mb, seqs[done] - 1);
		char base[MSG_NAME_MAX + 1], name[MSG_NAME_MAX + 1];
		uint32_t kw = 0;
		unsigned k;
		int tries, lr = -1;

		/* Keywords by name: their letters differ from folder to folder. */
		for (k = 0; k < IMAP_KEYWORDS_MAX; k++) {
			int di;

			if (!(m->pub.keywords & (1u << k)) || k >= mb->kw.n || mb->kw.names[k] == NULL)
				continue;
			di = kw_index_locked(&dkw, dir, mb->kw.names[k], &kw_added);
			if (di >= 0)
				kw |= 1u << di;
		}
		for (tries = 0; tries < 5 && lr == -1; tries++) {
			if (new_base(base, sizeof(base), m->pub.internal_date, m->pub.file_size) == -1 ||
			    make_name(name, sizeof(name), base, strlen(base), m->pub.flags, kw, NULL) == -1)
				goto undo;
			lr = linkat(m->in_new ? mb->new_fd : mb->cur_fd, m->name, d.tmp_fd, base, 0);
			if (lr == -1 && errno == ENOENT && relocate(mb, m) == 0)
				lr = linkat(m->in_new ? mb->new_fd : mb->cur_fd, m->name, d.tmp_fd, base, 0);
			if (lr == -1 && (errno == EXDEV || errno == EPERM || errno == EMLINK))
				lr = copy_file(m->in_new ? mb->new_fd : mb->cur_fd, m->name, d.tmp_fd, base);
			if (lr == -1 && errno != EEXIST) {
				if (errno == ENOENT) {
					*error_r = "Some of the requested messages no longer exist";
					*code_r = "EXPUNGEISSUED";
				}
				goto undo;
			}
			if (lr == 0 && renameat2(d.tmp_fd, base, d.cur_fd, name, RENAME_NOREPLACE) == -1) {
				(void)unlinkat(d.tmp_fd, base, 0);
				if (errno != EEXIST)
					goto undo;
				lr = -1;
			}
		}
		if (lr == -1)
			goto undo;
		names[done] = xstrdup(name);
	}
	if (fsync(d.cur_fd) == -1 || list_new_files(mb->root, dir, names, n, uidvalidity_r, uids_r) == -1)
		goto undo;
	(void)imap_quota_add(mb->root, (int64_t)bytes, (int64_t)n);
	r = 0;
	goto out;
undo:
	/* Nothing is copied on failure (RFC 3501 section 6.4.7). */
	for (i = 0; i < done; i++)
		if (names[i] != NULL)
			(void)unlinkat(d.cur_fd, names[i], 0);
out:
	if (names != NULL)
		for (i = 0; i < n; i++)
			free(names[i]);
	free(names);
	imap_keywords_free(&dkw);
	dest_close(&d);
	return r;
}

/* The client's CRLF line ends as LF, as deliveries store messages (a lone CR is kept). */
static void
crlf_to_lf(const char *data, size_t len, struct buf *out)
{
	size_t i, start = 0;

	for (i = 0; i + 1 < len; i++) {
		if (data[i] == '\r' && data[i + 1] == '\n') {
			(void)buf_append(out, data + start, i - start);
			start = i + 1;
		}
	}
	(void)buf_append(out, data + start, len - start);
}

int
imap_mailbox_append(const char *root, const char *name, const char *data, size_t len, unsigned flags,
		    const char *const *keywords, size_t n_keywords, time_t internal_date,
		    uint32_t *uidvalidity_r, uint32_t *uid_r, const char **error_r, const char **code_r)
{
	char dir[PATH_MAX], base[MSG_NAME_MAX + 1], fname[MSG_NAME_MAX + 1];
	struct imap_keywords kw;
	struct buf msg;
	char *names[1];
	uint32_t kwbits = 0;
	bool over, kw_added = false;
	size_t i;
	struct dest_dir d = { .tmp_fd = -1, .cur_fd = -1, .lock = -1 };
	int fd = -1, tries, r = -1;

	*code_r = NULL;
	memset(&kw, 0, sizeof(kw));
	if (dest_dir(root, name, dir, sizeof(dir), error_r, code_r) == -1)
		return -1;
	buf_init(&msg, len + 1);
	crlf_to_lf(data, len, &msg);
	if (imap_quota_check(root, msg.len, 1, &over) == 0 && over) {
		*error_r = IMAP_QUOTA_TEXT;
		*code_r = "OVERQUOTA";
		buf_free(&msg);
		return -1;
	}
	if (internal_date <= 0)
		internal_date = time(NULL);
	*error_r = "Cannot save the message";
	*code_r = "SERVERBUG";
	if (dest_open(dir, &d) == -1)
		goto out;
	for (i = 0; i < n_keywords; i++) {
		int k = kw_index_locked(&kw, dir, keywords[i], &kw_added);

		if (k >= 0)
			kwbits |= 1u << k;
	}
	/* tmp/, written and fsynced; then into cur/ under its final name (Maildir spec). */
	for (tries = 0; tries < 5 && fd == -1; tries++) {
		if (new_base(base, sizeof(base), internal_date, msg.len) == -1)
			goto out;
		fd = openat(d.tmp_fd, base, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd == -1 && errno != EEXIST)
			goto out;
	}
	if (fd == -1)
		goto out;
	{
		struct timespec times[2] = { { internal_date, 0 }, { internal_date, 0 } };

		if ((msg.len > 0 && write_all(fd, msg.data, msg.len) == -1) || fsync(fd) == -1 ||
		    futimens(fd, times) == -1 || close(fd) == -1) {
			fd = -1;
			(void)unlinkat(d.tmp_fd, base, 0);
			goto out;
		}
	}
	fd = -1;
	if (make_name(fname, sizeof(fname), base, strlen(base), flags & IMAP_FLAGS_ALL, kwbits, NULL) == -1 ||
	    renameat2(d.tmp_fd, base, d.cur_fd, fname, RENAME_NOREPLACE) == -1) {
		(void)unlinkat(d.tmp_fd, base, 0);
		goto out;
	}
	names[0] = fname;
	if (fsync(d.cur_fd) == -1 || list_new_files(root, dir, names, 1, uidvalidity_r, uid_r) == -1) {
		(void)unlinkat(d.cur_fd, fname, 0);
		goto out;
	}
	(void)imap_quota_add(root, (int64_t)msg.len, 1);
	r = 0;
out:
	if (fd != -1)
		close(fd);
	buf_free(&msg);
	imap_keywords_free(&kw);
	dest_close(&d);
	return r;
}
