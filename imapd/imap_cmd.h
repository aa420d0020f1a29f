/* imap_cmd.h - what the mailbox command handlers (imap_cmd_mailbox.c, imap_cmd_selected.c) share; only those files include it. */
#ifndef OSD_IMAP_CMD_H
#define OSD_IMAP_CMD_H

#include <stddef.h>

#include "buf.h"

struct imap_session;

/* Room for a mailbox name echoed in a reply ("Mailbox doesn't exist: X"), longer names cut. */
#define IMAP_CMD_NAME_SHOWN 256

/* name made safe to echo in a reply line (printable ASCII, '?' for the rest) in buf. */
const char *imap_cmd_printable(const char *name, char *buf, size_t size);

/*
 * The tagged NO for a mailbox operation that failed with error and the
 * RFC 5530 code: "NO [NONEXISTENT] Mailbox doesn't exist: X" (and
 * TRYCREATE alike) as Dovecot words it; SERVERBUG logged, not shown.
 */
unsigned imap_cmd_mailbox_error(struct imap_session *s, struct buf *out, const char *tag,
				const char *name, const char *error, const char *code);

#endif
