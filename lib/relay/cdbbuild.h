/* cdbbuild.h - a whole CDB built in one buffer, byte for byte what tinycdb's cdb_make writes. */
#ifndef OSD_CDBBUILD_H
#define OSD_CDBBUILD_H

#include <stddef.h>
#include <stdint.h>

/* A record's place in its hash table: its key's hash and where it starts. */
struct cdbbuild_ref {
	uint32_t hash;
	uint32_t pos;
};

/*
 * The file being built: the 2048-byte header, the records in the order
 * added, then the 256 hash tables.  Meant to be kept and reused: start
 * empties it but keeps its memory, so a rewrite after the first allocates
 * nothing.
 */
struct cdbbuild {
	unsigned char *buf;
	size_t len, cap;
	struct cdbbuild_table {                 /* the records of hash table t, in the order added */
		struct cdbbuild_ref *refs;
		size_t n, cap;
	} tables[256];
	size_t nrefs;                           /* records in all */
};

void cdbbuild_init(struct cdbbuild *b);
void cdbbuild_free(struct cdbbuild *b);

/* Begin a new file (forgets the records of the last one). */
void cdbbuild_start(struct cdbbuild *b);

/* The CDB hash of a key (tinycdb's cdb_hash). */
uint32_t cdbbuild_hash(const void *key, size_t len);

/*
 * Add a record whose key hashes to hash (cdbbuild_hash: a caller may keep
 * it with the key).  Returns 0, or -1 with errno = ENOMEM when the file
 * would pass 4 GiB, as cdb_make_add.
 */
int cdbbuild_add(struct cdbbuild *b, const void *key, size_t klen, uint32_t hash,
		 const void *val, size_t vlen);

/*
 * Append the hash tables and fill in the header: b->buf holds the whole
 * file, b->len bytes.  Returns 0, or -1 with errno = ENOMEM when it would
 * pass 4 GiB.
 */
int cdbbuild_finish(struct cdbbuild *b);

#endif
