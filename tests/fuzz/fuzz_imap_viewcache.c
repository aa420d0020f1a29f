/* fuzz_imap_viewcache.c - fuzz target: bytes as an osd-uidlist.cache, as they are and resealed (so that the checks past the checksum are reached), bound to the list the header names; whatever is accepted is walked and its invariants checked. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_uidlist.h"
#include "imap_viewcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where version 1's header keeps the list's identity (device, inode, size, mtime sec, nsec). */
#define OFF_LIST_ID 120u
#define HDR 192u

/* An accepted cache: every name inside the data, as long as said, printable, no '/'; UIDs ascending. */
static void
walk(const struct imap_viewcache *vc, const unsigned char *data, size_t size)
{
	uint32_t prev = 0;
	size_t i;

	for (i = 0; i < vc->n; i++) {
		const struct imap_viewcache_rec *r = &vc->rec[i];
		const char *name = vc->names + r->name_off, *p;

		if ((const unsigned char *)name < data || (const unsigned char *)name + r->name_len >= data + size)
			abort();
		if (strlen(name) != r->name_len || r->name_len == 0 || name[0] == '.' || r->uid <= prev ||
		    r->uid >= vc->next_uid)
			abort();
		for (p = name; *p != '\0'; p++)
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '/')
				abort();
		prev = r->uid;
	}
	if (vc->uidvalidity == 0 || vc->first_recent > vc->next_uid)
		abort();
}

static void
try_one(const unsigned char *buf, size_t size)
{
	struct imap_viewcache vc;
	struct imap_file_id id;
	uint64_t v[5];

	memset(&id, 0, sizeof(id));
	if (size >= HDR) {
		memcpy(v, buf + OFF_LIST_ID, sizeof(v));
		id.have = true;
		id.dev = (dev_t)v[0];
		id.ino = (ino_t)v[1];
		id.size = (off_t)v[2];
		id.mtime.tv_sec = (time_t)v[3];
		id.mtime.tv_nsec = (long)v[4];
	}
	if (imap_viewcache_check(buf, size, &id, &vc) == 0)
		walk(&vc, buf, size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf;

	if (size > (1u << 20))
		return 0;
	/* 8-aligned, as a mapping is. */
	buf = malloc(size + 8);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	try_one(buf, size);
	if (size >= HDR && size % 8 == 0) {
		imap_viewcache_seal(buf, size);
		try_one(buf, size);
	}
	free(buf);
	return 0;
}
