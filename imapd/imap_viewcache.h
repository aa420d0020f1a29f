/* imap_viewcache.h - osd-uidlist.cache: a binary, mmapped copy of the view a folder's UID list describes, so that SELECT of an unchanged folder reads no text and makes no new pages. */
#ifndef OSD_IMAP_VIEWCACHE_H
#define OSD_IMAP_VIEWCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "imap_uidlist.h"

#define IMAP_VIEWCACHE_NAME "osd-uidlist.cache"
#define IMAP_VIEWCACHE_VERSION 1u

/*
 * One message of the cached view, 32 octets on disk (native byte order,
 * checked by the header's byte order mark).  Its file name (base + the
 * rest after it, ":2,<flags>" or nothing) is in the names area at
 * name_off, name_len octets and a NUL.
 */
struct imap_viewcache_rec {
	uint32_t uid;
	uint32_t name_off;
	uint16_t name_len;
	uint8_t in_new;                 /* 1: in new/, 0: in cur/ */
	uint8_t pad0;                   /* 0 */
	uint32_t pad1;                  /* 0 */
	uint64_t vsize;                 /* RFC822.SIZE when known, else 0 */
	uint64_t modseq;                /* CONDSTORE's MODSEQ (RFC 7162), 0 until kept */
};

/*
 * A cache as checked: the list's header fields and the view's messages
 * (the entries of the list that had a file at the scan that wrote it, in
 * ascending UID order).  rec and names point into the mapping.
 */
struct imap_viewcache {
	void *map;                      /* NULL: none */
	size_t map_len;
	uint32_t uidvalidity, next_uid, first_recent;
	uint64_t highest_modseq;
	struct timespec new_m, new_c, cur_m, cur_c;
	const struct imap_viewcache_rec *rec;
	size_t n;
	const char *names;
	bool any_in_new;                /* a message is in new/ */
};

/*
 * Check data (len octets) as a cache of the UID list whose file is id
 * (device, inode, size and mtime as stat gave them after it was read or
 * written): the magic, version, byte order, sizes, the list it belongs
 * to, the checksum, every record's bounds, UIDs strictly ascending below
 * the next UID, every name 1-255 printable octets without '/', not
 * starting with '.' or ':'.  0 with vc filled (pointing into data), or
 * -1: not to be trusted (read the text list instead).
 */
int imap_viewcache_check(const void *data, size_t len, const struct imap_file_id *id,
			 struct imap_viewcache *vc);

/*
 * Map dir's cache read-only and check it against id (see
 * imap_viewcache_check).  0, or -1 (none, or not to be trusted; vc->map
 * NULL).  The mapping lives until imap_viewcache_close.
 */
int imap_viewcache_open(struct imap_viewcache *vc, const char *dir, const struct imap_file_id *id);
void imap_viewcache_close(struct imap_viewcache *vc);

/*
 * The cache of ul (appended to out): its header fields, stamps, and the
 * entries that have a file (info), bound to ul->id.  -1 when ul has no
 * stamps or no id, or a name does not fit (no cache to be written).
 */
int imap_viewcache_format(const struct imap_uidlist *ul, struct buf *out);

/*
 * Put the checksum into a cache built in memory (data, len octets, a
 * multiple of 8, at least a header): for imap_viewcache_format, and for
 * the tests and the fuzz target that build caches of their own.
 */
void imap_viewcache_seal(void *data, size_t len);

/*
 * Replace dir's cache with that of ul (temp + rename, no fsync: a cache
 * lost in a crash is only a slower SELECT, one that does not match its
 * list is ignored), or remove it when ul can have none.  Called after the
 * list itself was written.  0 or -1 with errno.
 */
int imap_viewcache_write(const struct imap_uidlist *ul, const char *dir);

#endif
