/* imap_folders.h - the folders of a user's Maildir++ as IMAP mailboxes: names, LIST, CREATE, DELETE, RENAME, subscriptions, STATUS. */
#ifndef OSD_IMAP_FOLDERS_H
#define OSD_IMAP_FOLDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_folder_name.h"

/* One mailbox for LIST (RFC 3501, RFC 5258 LIST-EXTENDED, RFC 6154 SPECIAL-USE). */
struct imap_folder {
	char *name;                     /* "INBOX", "Sent", "Lists.osd" */
	bool noselect;                  /* a parent with no Maildir of its own */
	bool has_children;
	bool subscribed;
	const char *special_use;        /* "\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive" or NULL (by name) */
};

/* Every mailbox of root (INBOX first, then by name); free with imap_folders_free. */
int imap_folders_list(const char *root, struct imap_folder **v_r, size_t *n_r, const char **error_r);
void imap_folders_free(struct imap_folder *v, size_t n);

/* CREATE, DELETE, RENAME (children follow; RENAME INBOX moves its messages), RFC 3501 section 6.3. -1 with *error_r, *code_r ("ALREADYEXISTS", "NONEXISTENT", "CANNOT", "INUSE"). */
int imap_folder_create(const char *root, const char *name, const char **error_r, const char **code_r);
int imap_folder_delete(const char *root, const char *name, const char **error_r, const char **code_r);
int imap_folder_rename(const char *root, const char *from, const char *to, const char **error_r,
		       const char **code_r);

/* SUBSCRIBE / UNSUBSCRIBE: the "subscriptions" file of root (one name a line), replaced atomically. */
int imap_folder_subscribe(const char *root, const char *name, bool subscribe, const char **error_r);

/* STATUS (RFC 3501 section 6.3.10) without selecting. */
struct imap_folder_status {
	uint32_t messages, recent, uidnext, uidvalidity, unseen;
	uint64_t size;                  /* STATUS SIZE (RFC 8438) */
	uint64_t highest_modseq;        /* STATUS HIGHESTMODSEQ (RFC 7162) */
};
int imap_folder_status(const char *root, const char *name, struct imap_folder_status *st,
		       const char **error_r, const char **code_r);

#endif
