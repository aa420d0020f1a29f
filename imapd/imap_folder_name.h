/* imap_folder_name.h - IMAP mailbox names checked and mapped to Maildir++ folder paths (used by the folder list and the mail store alike). */
#ifndef OSD_IMAP_FOLDER_NAME_H
#define OSD_IMAP_FOLDER_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* Longest mailbox name (octets, as sent: modified UTF-7). */
#define IMAP_FOLDER_NAME_MAX 255

/*
 * Names: the hierarchy separator is '.', as in Maildir++ (folder
 * "Lists.osd" is the directory ".Lists.osd"); "INBOX" in any case is
 * the Maildir root.  A name is taken as sent (modified UTF-7, RFC 3501
 * section 5.1.3, checked), never with '/', a leading or doubled '.', or
 * a control character: nothing can name a path outside the Maildir.
 */
bool imap_folder_name_ok(const char *name);

/*
 * The Maildir of folder name under root into out (size octets): root
 * itself for INBOX (any case), else root/.name.  -1 with errno EINVAL
 * for a name imap_folder_name_ok refuses, ENAMETOOLONG.
 */
int imap_folder_dir(const char *root, const char *name, char *out, size_t size);

#endif
