/* imap_seqset.h - sequence sets (RFC 3501 section 9 sequence-set, RFC 5182 "$" aside): "1:4,7,9:*" as sorted, merged ranges. */
#ifndef OSD_IMAP_SEQSET_H
#define OSD_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_range {
	uint32_t lo, hi;                /* lo <= hi */
};

struct imap_seqset {
	struct imap_range *v;           /* sorted, not overlapping, not adjacent */
	size_t n;
};

/*
 * Parse text, "*" standing for star (the highest sequence number or
 * UID in the mailbox; with an empty mailbox, 0... as RFC 3501 says,
 * "*" then matches nothing but is valid).  Ranges may be written
 * backwards (4:1).  At most max_ranges ranges before merging.  0, or -1
 * (not a sequence set, or a number 0 or over 2^32-1).
 */
int imap_seqset_parse(const char *text, uint32_t star, size_t max_ranges, struct imap_seqset *set_r);
void imap_seqset_free(struct imap_seqset *set);
bool imap_seqset_has(const struct imap_seqset *set, uint32_t n);

#endif
