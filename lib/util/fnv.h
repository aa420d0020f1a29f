/* fnv.h - FNV-1a, the one definition of its constants: for hash tables, bucket names and substitute UIDLs. */
#ifndef OSD_FNV_H
#define OSD_FNV_H

#include <stddef.h>
#include <stdint.h>

/*
 * FNV-1a (Fowler, Noll, Vo; draft-eastlake-fnv): for each octet, xor it in,
 * then multiply by the prime.  Not a defence against chosen keys: where a
 * peer chooses them, seed the start value (osd/table.c) or bound the
 * chains.  Each function takes the hash so far, so that pieces and seeds
 * chain: fnv1a64(fnv1a64(FNV1A64_BASIS, a, n), b, m).  Inline because the
 * callers are per-lookup hot paths.
 */
#define FNV1A64_BASIS 14695981039346656037ull
#define FNV1A64_PRIME 1099511628211ull
#define FNV1A32_BASIS 2166136261u
#define FNV1A32_PRIME 16777619u

/* One octet into a 64-bit hash (for callers that transform bytes first, e.g. case-folding). */
static inline uint64_t
fnv1a64_byte(uint64_t h, unsigned char c)
{
	return (h ^ c) * FNV1A64_PRIME;
}

/* len octets of data into a 64-bit hash. */
static inline uint64_t
fnv1a64(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		h = fnv1a64_byte(h, p[i]);
	return h;
}

/* The octets of the string s, without its NUL, into a 64-bit hash. */
static inline uint64_t
fnv1a64_str(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = fnv1a64_byte(h, (unsigned char)*s);
	return h;
}

/* The octets of the string s, without its NUL, into a 32-bit hash. */
static inline uint32_t
fnv1a32_str(uint32_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * FNV1A32_PRIME;
	return h;
}

#endif
