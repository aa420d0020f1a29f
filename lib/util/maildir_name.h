/* maildir_name.h - the parts of a Maildir file name (the Maildir and Maildir++ conventions), read once for pop3d, imapd and osd-local. */
#ifndef OSD_MAILDIR_NAME_H
#define OSD_MAILDIR_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the unique part of a Maildir file name: up to its first ':' (the info, ":2,FLAGS"). */
size_t maildir_name_base_len(const char *name);

/*
 * The size in a ",S=<digits>" field (Maildir++) of the first len octets of
 * name (or up to a NUL before them): the first such field whose digits end
 * at the end, a ',' or a ':' and fit in 64 bits.  False when there is none
 * (the caller then asks stat).
 */
bool maildir_name_size(const char *name, size_t len, uint64_t *size_r);

/*
 * The name a message gets once seen: "UNIQUE:2,FLAGS" with S added, the
 * flags kept in ASCII order as the Maildir specification asks.  in_new: the
 * file is still in new/ (it moves to cur/ even when it has S already).
 * 0 with the name in out, 1 when nothing is to change (S already and in
 * cur/, or an info other than "2," that osd does not understand), -1
 * when it does not fit in out.
 */
int maildir_name_seen(const char *name, bool in_new, char *out, size_t size);

#endif
