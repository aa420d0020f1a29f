/* opensmtp_snap.c - save and load the snapshot of open-smtp/ that a cold start checks against the folder's listing. */
#include "opensmtp_snap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "fdclose.h"
#include "xmalloc.h"

/*
 * The file: a header (magic, count), count records, and a checksum of the
 * records and then the header, all in the host's byte order (a snapshot is
 * read only where it was written; anything else fails the checks and is
 * ignored).
 */
#define SNAP_MAGIC "OSDSNAP1"

struct snap_header {
	char magic[8];
	uint64_t count;
};

struct snap_record {
	uint64_t ino;
	int64_t sec;
	uint32_t nsec;
	uint8_t family;         /* 4 or 6 */
	uint8_t pad[3];
	uint8_t bytes[16];
};

_Static_assert(sizeof(struct snap_header) == 16, "snapshot header layout");
_Static_assert(sizeof(struct snap_record) == 40, "snapshot record layout");

/*
 * Records are saved in the order of the table or scan they come from,
 * which is mostly the order the folder lists its names in (ext4: hash
 * order).  So a scan asks for them mostly in order: a cursor answers that
 * without a hash lookup, which at a million entries is a cache miss or two
 * each (1 s of a 2-3 s scan).  The index is built at the first miss.
 */
struct opensmtp_snap {
	struct snap_record *recs;
	size_t count;
	size_t cursor;          /* the record after the last one found */
	uint32_t *slots;        /* record index + 1, 0 = empty; linear probing; NULL: not built */
	size_t nslots;          /* power of two, at least twice count */
};

/* A checksum over 8-byte words (the header and records are multiples of 8). */
static uint64_t
sum_words(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return h;
}

/* murmur3's finalizer: every key bit moves every slot bit. */
static uint64_t
fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint64_t
hash_key(uint8_t family, const uint8_t bytes[16])
{
	uint64_t hi, lo;

	memcpy(&hi, bytes, 8);
	memcpy(&lo, bytes + 8, 8);
	return fmix64(hi ^ fmix64(lo ^ family));
}

/* An address as a record's family and 16 bytes (IPv4: the rest zero). */
static void
addr_key(const struct ipaddr *a, uint8_t *family_r, uint8_t bytes[16])
{
	*family_r = a->family == AF_INET6 ? 6 : 4;
	memset(bytes, 0, 16);
	memcpy(bytes, a->bytes, ipaddr_len(a));
}

/* The slot of the key, or the empty one where it would go. */
static size_t
find_slot(const struct opensmtp_snap *s, uint8_t family, const uint8_t bytes[16])
{
	size_t mask = s->nslots - 1, i = (size_t)hash_key(family, bytes) & mask;

	while (s->slots[i] != 0) {
		const struct snap_record *r = &s->recs[s->slots[i] - 1];

		if (r->family == family && memcmp(r->bytes, bytes, 16) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

/* Read all of fd (size bytes) into a new buffer. */
static void *
read_all(int fd, size_t size)
{
	char *buf = xmalloc(size > 0 ? size : 1);
	size_t got = 0;

	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			if (n == 0)
				errno = EINVAL;
			return NULL;
		}
		got += (size_t)n;
	}
	return buf;
}

struct opensmtp_snap *
opensmtp_snap_load(const char *path)
{
	struct opensmtp_snap *s;
	struct snap_header h;
	struct stat st;
	uint64_t sum, want;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size < sizeof h + sizeof sum || st.st_size > (off_t)1 << 36) {
		(void)close_keep_errno(fd);
		errno = EINVAL;
		return NULL;
	}
	buf = read_all(fd, (size_t)st.st_size);
	(void)close_keep_errno(fd);
	if (buf == NULL)
		return NULL;
	memcpy(&h, buf, sizeof h);
	if (memcmp(h.magic, SNAP_MAGIC, 8) != 0 ||
	    h.count != ((size_t)st.st_size - sizeof h - sizeof sum) / sizeof(struct snap_record) ||
	    (size_t)st.st_size != sizeof h + h.count * sizeof(struct snap_record) + sizeof sum ||
	    h.count >= UINT32_MAX / 4)
		goto invalid;
	sum = sum_words(sum_words(0, buf + sizeof h, h.count * sizeof(struct snap_record)), &h,
			sizeof h);
	memcpy(&want, buf + st.st_size - sizeof sum, sizeof want);
	if (sum != want)
		goto invalid;

	s = xcalloc(1, sizeof *s);
	s->count = (size_t)h.count;
	s->recs = xreallocarray(NULL, s->count > 0 ? s->count : 1, sizeof *s->recs);
	memcpy(s->recs, buf + sizeof h, s->count * sizeof *s->recs);
	free(buf);
	return s;
invalid:
	free(buf);
	errno = EINVAL;
	return NULL;
}

/* A record that cannot be right is never used: it can only cost a stat. */
static bool
rec_valid(const struct snap_record *r)
{
	return (r->family == 4 || r->family == 6) && r->nsec < 1000000000u && r->ino != 0;
}

static void
build_index(struct opensmtp_snap *s)
{
	for (s->nslots = 64; s->nslots < 2 * s->count; s->nslots *= 2)
		;
	s->slots = xcalloc(s->nslots, sizeof *s->slots);
	for (size_t i = 0; i < s->count; i++) {
		const struct snap_record *r = &s->recs[i];
		size_t slot;

		if (!rec_valid(r))
			continue;
		slot = find_slot(s, r->family, r->bytes);
		if (s->slots[slot] == 0)
			s->slots[slot] = (uint32_t)i + 1;
	}
}

void
opensmtp_snap_free(struct opensmtp_snap *s)
{
	if (s == NULL)
		return;
	free(s->recs);
	free(s->slots);
	free(s);
}

size_t
opensmtp_snap_count(const struct opensmtp_snap *s)
{
	return s != NULL ? s->count : 0;
}

bool
opensmtp_snap_known(void *ctx, const struct ipaddr *addr, uint64_t ino, struct timespec *mtime_r)
{
	struct opensmtp_snap *s = ctx;
	const struct snap_record *r;
	uint8_t family, bytes[16];
	size_t slot;

	if (s == NULL || ino == 0)
		return false;
	addr_key(addr, &family, bytes);
	r = s->cursor < s->count ? &s->recs[s->cursor] : NULL;
	if (r != NULL && r->family == family && memcmp(r->bytes, bytes, 16) == 0) {
		s->cursor++;
	} else {
		if (s->slots == NULL)
			build_index(s);
		slot = find_slot(s, family, bytes);
		if (s->slots[slot] == 0)
			return false;
		s->cursor = s->slots[slot];
		r = &s->recs[s->cursor - 1];
	}
	/* A duplicate in a damaged file may be the first one: check it all. */
	if (!rec_valid(r) || r->ino != ino)
		return false;   /* another file under that name since */
	mtime_r->tv_sec = (time_t)r->sec;
	mtime_r->tv_nsec = (long)r->nsec;
	return true;
}

long
opensmtp_snap_save(const char *path, opensmtp_snap_next_fn *next, void *ctx, bool do_fsync)
{
	enum { CHUNK = 1638 };  /* records a write: 64 KiB */
	struct snap_record *buf = xreallocarray(NULL, CHUNK, sizeof *buf);
	struct snap_header h = { .count = 0 };
	struct atomicfile af;
	uint64_t sum = 0;
	size_t used = 0;
	long saved;
	int r, e;

	if (atomicfile_open(&af, path, 0644) < 0) {
		free(buf);
		return -1;
	}
	memcpy(h.magic, SNAP_MAGIC, 8);
	/* The count is known at the end: the header is written again then. */
	if (write_all(af.fd, &h, sizeof h) < 0)
		goto fail;
	for (;;) {
		struct ipaddr a;
		struct timespec m;
		uint64_t ino;

		r = next(ctx, &a, &m, &ino);
		if (r < 0)
			goto fail;
		if (r == 0 || used == CHUNK) {
			if (write_all(af.fd, buf, used * sizeof *buf) < 0)
				goto fail;
			sum = sum_words(sum, buf, used * sizeof *buf);
			used = 0;
		}
		if (r == 0)
			break;
		if (ino == 0)
			continue;
		memset(&buf[used], 0, sizeof buf[used]);
		buf[used].ino = ino;
		buf[used].sec = (int64_t)m.tv_sec;
		buf[used].nsec = (uint32_t)m.tv_nsec;
		addr_key(&a, &buf[used].family, buf[used].bytes);
		used++;
		h.count++;
	}
	sum = sum_words(sum, &h, sizeof h);
	if (write_all(af.fd, &sum, sizeof sum) < 0 ||
	    pwrite(af.fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		goto fail;
	if (atomicfile_commit(&af, do_fsync) < 0) {
		free(buf);
		return -1;
	}
	saved = (long)h.count;
	free(buf);
	return saved;
fail:
	e = errno;
	atomicfile_abort(&af);
	free(buf);
	errno = e;
	return -1;
}
