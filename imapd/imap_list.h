/* imap_list.h - LIST and LSUB (RFC 3501 section 6.3.8-9, RFC 5258 LIST-EXTENDED, RFC 6154 SPECIAL-USE, RFC 5819 LIST-STATUS): patterns, options, and the untagged replies over the folder list. */
#ifndef OSD_IMAP_LIST_H
#define OSD_IMAP_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "imap_folders.h"
#include "imap_parser.h"

/* The hierarchy separator of every name (Maildir++). */
#define IMAP_LIST_SEP '.'

/* At most this many patterns in one LIST, and octets in one pattern (reference included). */
#define IMAP_LIST_PATTERNS_MAX 100
#define IMAP_LIST_PATTERN_MAX 1024

/* Selection options (RFC 5258 section 3.1, RFC 6154 section 5.1). */
enum imap_list_select {
	IMAP_LIST_SEL_SUBSCRIBED = 1u << 0,
	IMAP_LIST_SEL_REMOTE = 1u << 1,
	IMAP_LIST_SEL_RECURSIVEMATCH = 1u << 2,
	IMAP_LIST_SEL_SPECIAL_USE = 1u << 3
};

/* Return options (RFC 5258 section 3.2, RFC 6154 section 5.2, RFC 5819). */
enum imap_list_return {
	IMAP_LIST_RET_SUBSCRIBED = 1u << 0,
	IMAP_LIST_RET_CHILDREN = 1u << 1,
	IMAP_LIST_RET_SPECIAL_USE = 1u << 2,
	IMAP_LIST_RET_STATUS = 1u << 3
};

/* STATUS items (RFC 3501 section 6.3.10, RFC 8438 SIZE), for STATUS and LIST RETURN (STATUS). */
enum imap_status_item {
	IMAP_STATUS_MESSAGES = 1u << 0,
	IMAP_STATUS_RECENT = 1u << 1,
	IMAP_STATUS_UIDNEXT = 1u << 2,
	IMAP_STATUS_UIDVALIDITY = 1u << 3,
	IMAP_STATUS_UNSEEN = 1u << 4,
	IMAP_STATUS_SIZE = 1u << 5,
	IMAP_STATUS_HIGHESTMODSEQ = 1u << 6     /* RFC 7162 section 3.1.9 */
};

/* One LIST or LSUB command, parsed. */
struct imap_list_cmd {
	bool lsub;
	unsigned select;                /* enum imap_list_select bits */
	unsigned ret;                   /* enum imap_list_return bits */
	unsigned status_items;          /* with IMAP_LIST_RET_STATUS */
	char *reference;                /* as sent */
	char **patterns;                /* reference joined with each non-empty pattern */
	size_t n_patterns;
	bool root;                      /* an empty pattern: the separator and the reference's root */
};

/*
 * The arguments after LIST or LSUB: [(selection options)] reference
 * (pattern | (patterns...)) [RETURN (return options)], the extended
 * forms for LIST only.  -1 with *error_r for BAD (unknown option,
 * RECURSIVEMATCH alone, bad syntax).  Free with imap_list_cmd_free.
 */
int imap_list_parse(const struct imap_arg *args, size_t n, bool lsub, struct imap_list_cmd *cmd_r,
		    const char **error_r);
void imap_list_cmd_free(struct imap_list_cmd *cmd);

/*
 * Whether name matches pattern: '*' matches anything, '%' anything but
 * the separator (RFC 3501 section 6.3.8); "INBOX" of the name compares
 * without case.  Linear in the product of the lengths, no backtracking.
 */
bool imap_list_match(const char *pattern, const char *name);

/* A STATUS item list "(MESSAGES UNSEEN)" as bits; -1 with *error_r (unknown item, empty list). */
int imap_status_items_parse(const struct imap_arg *list, unsigned *items_r, const char **error_r);

/* "* STATUS name (MESSAGES 3 UNSEEN 1)\r\n", the items in RFC order (as Dovecot writes them). */
void imap_status_write(struct buf *out, const char *name, unsigned items,
		       const struct imap_folder_status *st);

/*
 * STATUS for LIST RETURN (STATUS): append the "* STATUS" line of folder
 * name to out, or nothing when it cannot be had (RFC 5819 section 2).
 */
typedef void imap_list_status_fn(void *ctx, const char *name, unsigned items, struct buf *out);

/*
 * The untagged replies of cmd over the folders v[0..n) (as
 * imap_folders_list gives them): "* LIST (\HasNoChildren \Sent) "."
 * "Sent"\r\n" for each match, CHILDINFO for RECURSIVEMATCH, parents as
 * \Noselect for LSUB's '%', "* LIST (\Noselect) "." """ for an empty
 * pattern.  status (with its ctx) is called after each selectable
 * mailbox with RETURN (STATUS); it may be NULL.  An entry with noselect
 * and no children is a subscription whose folder does not exist: listed
 * by LSUB and LIST (SUBSCRIBED) (as \NonExistent), never by plain LIST.
 * With SUBSCRIBED selection every \Noselect name is \NonExistent, as
 * Dovecot writes it (a Maildir++ parent has no folder of its own).
 */
void imap_list_reply(const struct imap_list_cmd *cmd, const struct imap_folder *v, size_t n,
		     imap_list_status_fn *status, void *status_ctx, struct buf *out);

#endif
