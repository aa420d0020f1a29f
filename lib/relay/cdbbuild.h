/* cdbbuild.h - a whole CDB written as it is built, through one small buffer: byte for byte what tinycdb's cdb_make writes. */
#ifndef OSD_CDBBUILD_H
#define OSD_CDBBUILD_H

#include <stddef.h>
#include <stdint.h>

/* A record's place in its hash table: its key's hash and where it starts. */
struct cdbbuild_ref {
	uint32_t hash;
	uint32_t pos;
};

/* The most of the file held in memory at once: the rest is written out as it is built. */
#define CDBBUILD_CHUNK (1024u * 1024)

/*
 * The file being built: the 2048-byte header, the records in the order
 * added, then the 256 hash tables, written to fd a chunk at a time as it
 * grows (the header last, in place), so that a table of a million
 * records never sits whole in memory beside the page cache's copy.
 * Meant to be kept and reused: start keeps the chunk and the tables'
 * memory, so a rewrite after the first allocates nothing.
 */
struct cdbbuild {
	unsigned char *buf;                     /* the part built and not yet written */
	size_t len, cap;
	size_t pos;                             /* the file's length so far, buf included */
	int fd;
	struct cdbbuild_table {                 /* the records of hash table t, in the order added */
		struct cdbbuild_ref *refs;
		size_t n, cap;
	} tables[256];
	size_t nrefs;                           /* records in all */
};

void cdbbuild_init(struct cdbbuild *b);
void cdbbuild_free(struct cdbbuild *b);

/*
 * Begin a new file, written to fd from its current offset, which must be
 * 0 (a new temporary: the header is written at offset 0 at the end).
 * Forgets the records of the last one.
 */
void cdbbuild_start(struct cdbbuild *b, int fd);

/* The CDB hash of a key (tinycdb's cdb_hash). */
uint32_t cdbbuild_hash(const void *key, size_t len);

/*
 * Add a record whose key hashes to hash (cdbbuild_hash: a caller may keep
 * it with the key).  Returns 0, or -1 with errno: ENOMEM when the file
 * would pass 4 GiB, as cdb_make_add, or that of a failed write.
 */
int cdbbuild_add(struct cdbbuild *b, const void *key, size_t klen, uint32_t hash,
		 const void *val, size_t vlen);

/*
 * Write the rest: the records still held, the hash tables, then the
 * header; fd then holds the whole file, b->pos bytes (not synced).
 * Returns 0, or -1 with errno: ENOMEM when it would pass 4 GiB, or that
 * of a failed write.
 */
int cdbbuild_finish(struct cdbbuild *b);

#endif
