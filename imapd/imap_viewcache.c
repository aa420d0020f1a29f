/* imap_viewcache.c - osd-uidlist.cache: written beside the text list from the same entries, mapped and checked (size, magic, bounds, checksum, the list it belongs to) before a SELECT trusts it. */
#include "imap_viewcache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "path.h"

#define VC_MAGIC "osdview\n"
#define VC_BOM 0x01020304u
/* The longest file name a view holds (NAME_MAX). */
#define VC_NAME_MAX 255u
/* A cache bigger than this is not read (1,000,000 messages of 255-octet names fit). */
#define VC_FILE_MAX (320u * 1024 * 1024)

/* The header on disk, 192 octets, native byte order. */
struct vc_hdr {
	char magic[8];                  /* VC_MAGIC */
	uint32_t version;               /* IMAP_VIEWCACHE_VERSION */
	uint32_t bom;                   /* VC_BOM as the writer stored it */
	uint32_t hdr_size;              /* sizeof(struct vc_hdr) */
	uint32_t rec_size;              /* sizeof(struct imap_viewcache_rec) */
	uint32_t count;                 /* records */
	uint32_t uidvalidity, next_uid, first_recent;
	uint64_t names_len;             /* octets after the records, a multiple of 8 (NUL padded) */
	uint64_t highest_modseq;        /* CONDSTORE's HIGHESTMODSEQ, 0 until kept */
	int64_t stamps[8];              /* new/ mtime, ctime, cur/ mtime, ctime: sec, nsec each */
	uint64_t list_dev, list_ino;    /* the osd-uidlist this was made with */
	int64_t list_size, list_mtime_sec, list_mtime_nsec;
	uint64_t reserved[3];           /* 0 */
	uint64_t checksum;              /* vc_sum of the file with this field 0 */
};

_Static_assert(sizeof(struct vc_hdr) == 192, "cache header layout");
_Static_assert(sizeof(struct imap_viewcache_rec) == 32, "cache record layout");

/*
 * A Fletcher-like sum over 64-bit words (modulo 2^64): a bit flipped, a
 * block zeroed or words swapped change it.  len is a multiple of 8; the
 * word at skip (an offset, or SIZE_MAX) counts as 0.
 */
static uint64_t
vc_sum(const unsigned char *p, size_t len, size_t skip)
{
	/* Four lanes (the words of each 32 octets), independent of each other, so that they run side by side. */
	uint64_t a[4], b[4] = { 0, 0, 0, 0 }, r = 0;
	size_t i;
	int k;

	for (k = 0; k < 4; k++)
		a[k] = 0x9e3779b97f4a7c15u;
	for (i = 0; i + 32 <= len; i += 32) {
		uint64_t w[4];

		memcpy(w, p + i, sizeof(w));
		if (skip - i < 32)
			w[(skip - i) / 8] = 0;
		for (k = 0; k < 4; k++) {
			a[k] += w[k];
			b[k] += a[k];
		}
	}
	for (k = 0; i < len; i += 8, k++) {
		uint64_t w;

		memcpy(&w, p + i, sizeof(w));
		if (i == skip)
			w = 0;
		a[k] += w;
		b[k] += a[k];
	}
	for (k = 0; k < 4; k++)
		r = (r << 13 | r >> 51) ^ a[k] ^ ((b[k] << 32) | (b[k] >> 32));
	return r;
}

/*
 * The octets of x (as high bits, 0x80 per octet) that are NUL, and those
 * that may not be in a name: below 0x21 but not NUL, above 0x7e, or '/'.
 * Exact per octet (no carry crosses an octet: each sum stays below 0x100).
 */
static inline void
word_classes(uint64_t x, uint64_t *nul_r, uint64_t *bad_r)
{
	const uint64_t low7 = 0x7f7f7f7f7f7f7f7fu, high = 0x8080808080808080u, ones = 0x0101010101010101u;
	uint64_t l = x & low7, sl = (x ^ (ones * '/')) & low7;
	uint64_t nonzero = ((l + low7) | x) & high;
	uint64_t ge21 = (l + ones * (0x80 - 0x21)) & high;          /* of the low 7 bits */
	uint64_t is7f = (l + ones) & high;                          /* low 7 bits all set */
	uint64_t notslash = ((sl + low7) | (x ^ (ones * '/'))) & high;

	*nul_r = ~nonzero & high;
	*bad_r = ((~ge21 & ~x & high) & nonzero) | (x & high) | is7f | (~notslash & high);
}

/*
 * The names area: every octet printable, not '/', or a NUL; the number of
 * NULs to *nuls_r.  false on a bad octet.  Eight octets at a time.
 */
static bool
names_ok(const unsigned char *p, size_t len, size_t *nuls_r)
{
	uint64_t bad = 0;
	size_t i, nuls = 0;

	for (i = 0; i < len; i += 8) {
		uint64_t x, nul, b;

		memcpy(&x, p + i, sizeof(x));
		word_classes(x, &nul, &b);
		bad |= b;
		/* One per NUL octet, summed into the top octet (no popcount instruction assumed). */
		nuls += (size_t)(((nul >> 7) * 0x0101010101010101u) >> 56);
	}
	*nuls_r = nuls;
	return bad == 0;
}

int
imap_viewcache_check(const void *data, size_t len, const struct imap_file_id *id, struct imap_viewcache *vc)
{
	const unsigned char *p = data;
	const struct imap_viewcache_rec *rec;
	struct vc_hdr h;
	size_t i, expect = 0, nuls, body;
	uint32_t prev = 0;
	bool any_new = false;
	const char *names;

	memset(vc, 0, sizeof(*vc));
	if (len < sizeof(h) || len > VC_FILE_MAX || len % 8 != 0 || id == NULL || !id->have)
		return -1;
	memcpy(&h, p, sizeof(h));
	if (memcmp(h.magic, VC_MAGIC, 8) != 0 || h.version != IMAP_VIEWCACHE_VERSION || h.bom != VC_BOM ||
	    h.hdr_size != sizeof(h) || h.rec_size != sizeof(*rec) || h.count > IMAP_UIDLIST_MAX ||
	    h.reserved[0] != 0 || h.reserved[1] != 0 || h.reserved[2] != 0)
		return -1;
	body = (size_t)h.count * sizeof(*rec);
	if (h.names_len % 8 != 0 || h.names_len > len || len - sizeof(h) - h.names_len != body)
		return -1;
	/* The list it was made with, and no other: a list written since (by anyone) makes it stale. */
	if (h.list_dev != (uint64_t)id->dev || h.list_ino != (uint64_t)id->ino ||
	    h.list_size != (int64_t)id->size || h.list_mtime_sec != (int64_t)id->mtime.tv_sec ||
	    h.list_mtime_nsec != (int64_t)id->mtime.tv_nsec)
		return -1;
	if (h.uidvalidity == 0 || h.next_uid == 0 || h.first_recent == 0 || h.first_recent > h.next_uid)
		return -1;
	for (i = 0; i < 8; i++)
		if (h.stamps[i] < 0 || (i % 2 == 1 && h.stamps[i] > 999999999) || (i % 2 == 0 && h.stamps[i] > ((int64_t)1 << 40)))
			return -1;
	if (vc_sum(p, len, offsetof(struct vc_hdr, checksum)) != h.checksum)
		return -1;
	rec = (const struct imap_viewcache_rec *)(p + sizeof(h));
	names = (const char *)(p + sizeof(h) + body);
	if (!names_ok((const unsigned char *)names, (size_t)h.names_len, &nuls))
		return -1;
	for (i = 0; i < h.count; i++) {
		const struct imap_viewcache_rec *r = &rec[i];

		/* Ascending UIDs below the next one; the names one after the other, each ending in its NUL. */
		if (r->uid <= prev || r->uid >= h.next_uid || r->name_off != expect || r->name_len == 0 ||
		    r->name_len > VC_NAME_MAX || r->in_new > 1 || r->pad0 != 0 || r->pad1 != 0 ||
		    r->modseq > h.highest_modseq ||
		    (size_t)r->name_len + 1 > h.names_len - expect || names[expect + r->name_len] != '\0' ||
		    names[expect] == '.' || names[expect] == ':' || names[expect] == '\0')
			return -1;
		prev = r->uid;
		any_new |= r->in_new != 0;
		expect += (size_t)r->name_len + 1;
	}
	/* No NUL inside a name: one per record, then only the padding (fewer than 8, all NUL). */
	if (h.names_len - expect >= 8 || nuls != h.count + (h.names_len - expect))
		return -1;
	for (i = expect; i < h.names_len; i++)
		if (names[i] != '\0')
			return -1;
	vc->uidvalidity = h.uidvalidity;
	vc->next_uid = h.next_uid;
	vc->first_recent = h.first_recent;
	vc->highest_modseq = h.highest_modseq;
	vc->new_m = (struct timespec){ (time_t)h.stamps[0], (long)h.stamps[1] };
	vc->new_c = (struct timespec){ (time_t)h.stamps[2], (long)h.stamps[3] };
	vc->cur_m = (struct timespec){ (time_t)h.stamps[4], (long)h.stamps[5] };
	vc->cur_c = (struct timespec){ (time_t)h.stamps[6], (long)h.stamps[7] };
	vc->rec = rec;
	vc->n = h.count;
	vc->names = names;
	vc->any_in_new = any_new;
	return 0;
}

int
imap_viewcache_open(struct imap_viewcache *vc, const char *dir, const struct imap_file_id *id)
{
	char path[PATH_MAX];
	struct stat st;
	void *map;
	int fd;

	memset(vc, 0, sizeof(*vc));
	if (path_join(path, sizeof(path), dir, IMAP_VIEWCACHE_NAME) == -1)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct vc_hdr) ||
	    (uint64_t)st.st_size > VC_FILE_MAX) {
		close(fd);
		return -1;
	}
	/*
	 * Read-only from the page cache: no new pages, and MAP_POPULATE maps
	 * them in one call instead of one fault each.  osd only ever replaces
	 * the file by rename, so the pages stay for as long as it is mapped.
	 */
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	if (imap_viewcache_check(map, (size_t)st.st_size, id, vc) == -1) {
		munmap(map, (size_t)st.st_size);
		memset(vc, 0, sizeof(*vc));
		return -1;
	}
	vc->map = map;
	vc->map_len = (size_t)st.st_size;
	return 0;
}

void
imap_viewcache_close(struct imap_viewcache *vc)
{
	if (vc->map != NULL)
		munmap(vc->map, vc->map_len);
	memset(vc, 0, sizeof(*vc));
}

int
imap_viewcache_format(const struct imap_uidlist *ul, struct buf *out)
{
	struct vc_hdr h;
	size_t i, start = out->len, count = 0, names_len = 0, at;
	uint64_t zero = 0;

	if (!ul->have_stamps || !ul->id.have || ul->uidvalidity == 0 || !ul->have_modseq)
		return -1;
	for (i = 0; i < ul->n; i++) {
		const struct imap_uid_entry *e = &ul->v[i];
		size_t l;

		if (e->info == NULL)
			continue;
		/*
		 * Each modseq given for the flags of the name (RFC 7162), as the
		 * list says of such entries (imap_uidlist_write): else a sync
		 * must give one first.
		 */
		if (e->mstate != IMAP_MFLAGS_INFO)
			return -1;
		l = strlen(e->base) + strlen(e->info);
		if (l == 0 || l > VC_NAME_MAX)
			return -1;
		count++;
		names_len += l + 1;
	}
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, VC_MAGIC, 8);
	h.version = IMAP_VIEWCACHE_VERSION;
	h.bom = VC_BOM;
	h.hdr_size = sizeof(h);
	h.rec_size = sizeof(struct imap_viewcache_rec);
	h.count = (uint32_t)count;
	h.uidvalidity = ul->uidvalidity;
	h.next_uid = ul->next_uid;
	h.first_recent = ul->first_recent;
	h.highest_modseq = ul->highest_modseq;
	h.names_len = (names_len + 7) / 8 * 8;
	h.stamps[0] = ul->new_m.tv_sec;
	h.stamps[1] = ul->new_m.tv_nsec;
	h.stamps[2] = ul->new_c.tv_sec;
	h.stamps[3] = ul->new_c.tv_nsec;
	h.stamps[4] = ul->cur_m.tv_sec;
	h.stamps[5] = ul->cur_m.tv_nsec;
	h.stamps[6] = ul->cur_c.tv_sec;
	h.stamps[7] = ul->cur_c.tv_nsec;
	h.list_dev = (uint64_t)ul->id.dev;
	h.list_ino = (uint64_t)ul->id.ino;
	h.list_size = (int64_t)ul->id.size;
	h.list_mtime_sec = (int64_t)ul->id.mtime.tv_sec;
	h.list_mtime_nsec = (int64_t)ul->id.mtime.tv_nsec;
	if (buf_reserve(out, sizeof(h) + count * sizeof(struct imap_viewcache_rec) + (size_t)h.names_len) == -1 ||
	    buf_append(out, &h, sizeof(h)) == -1)
		return -1;
	for (i = 0, at = 0; i < ul->n; i++) {
		const struct imap_uid_entry *e = &ul->v[i];
		struct imap_viewcache_rec r;

		if (e->info == NULL)
			continue;
		memset(&r, 0, sizeof(r));
		r.uid = e->uid;
		r.name_off = (uint32_t)at;
		r.name_len = (uint16_t)(strlen(e->base) + strlen(e->info));
		r.in_new = e->in_new ? 1 : 0;
		r.vsize = e->vsize;
		r.modseq = e->modseq;
		if (buf_append(out, &r, sizeof(r)) == -1)
			return -1;
		at += r.name_len + 1u;
	}
	for (i = 0; i < ul->n; i++) {
		const struct imap_uid_entry *e = &ul->v[i];

		if (e->info == NULL)
			continue;
		if (buf_append(out, e->base, strlen(e->base)) == -1 || buf_append(out, e->info, strlen(e->info) + 1) == -1)
			return -1;
	}
	if (buf_append(out, &zero, (size_t)h.names_len - names_len) == -1)
		return -1;
	imap_viewcache_seal(out->data + start, out->len - start);
	return 0;
}

void
imap_viewcache_seal(void *data, size_t len)
{
	uint64_t sum;

	if (len < sizeof(struct vc_hdr) || len % 8 != 0)
		return;
	sum = vc_sum(data, len, offsetof(struct vc_hdr, checksum));
	memcpy((char *)data + offsetof(struct vc_hdr, checksum), &sum, sizeof(sum));
}

int
imap_viewcache_write(const struct imap_uidlist *ul, const char *dir)
{
	struct atomicfile af;
	char path[PATH_MAX];
	struct buf b;
	int r;

	if (path_join(path, sizeof(path), dir, IMAP_VIEWCACHE_NAME) == -1)
		return -1;
	buf_init(&b, VC_FILE_MAX);
	if (imap_viewcache_format(ul, &b) == -1) {
		buf_free(&b);
		/* No cache for this list: none at all, rather than one that a reader must find stale. */
		if (unlink(path) == -1 && errno != ENOENT)
			return -1;
		return 0;
	}
	if (atomicfile_open(&af, path, 0600) == -1) {
		buf_free(&b);
		return -1;
	}
	r = atomicfile_write_commit(&af, b.data, b.len, false);
	buf_free(&b);
	return r;
}
