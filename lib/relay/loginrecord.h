/* loginrecord.h - POP-before-SMTP: record a successful login's client address in open-smtp/, for every server that takes logins (pop3d, imapd). */
#ifndef OSD_LOGINRECORD_H
#define OSD_LOGINRECORD_H

#include "ipaddr.h"

/* Where the logins go: open-smtp/ by path and by a descriptor opened at start. */
struct login_record_dir {
	const char *path;
	int fd;                         /* path, opened before the folder can move; -1: none */
	unsigned ipv6_prefix;           /* relay_ipv6_prefix: 128 records the address, 64 its /64 */
};

/*
 * Record client after a login of user (the entry is its /64 with ipv6_prefix
 * 64; user may be NULL when not known, e.g. osd record without --user).  Not a client's own address (unspecified, multicast...): a
 * warning, nothing recorded.  When open-smtp/ was removed meanwhile it is
 * made anew.  Failures are logged (text: the client, for the log line).
 * 0 when recorded, -1 when not (already logged).
 */
int login_record(const struct login_record_dir *dir, const struct ipaddr *client, const char *text,
		  const char *user);

#endif
