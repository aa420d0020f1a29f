/* loginrecord.c - POP-before-SMTP: a login's client address into open-smtp/, shared by pop3d and imapd. */
#include <errno.h>

#include "log.h"
#include "loginrecord.h"
#include "opensmtp.h"
#include "path.h"
#include "relaykey.h"

int
login_record(const struct login_record_dir *dir, const struct ipaddr *client, const char *text,
	     const char *user)
{
	struct ipaddr entry;
	const struct ipaddr *addr = &entry;

	/* With relay_ipv6_prefix = 64 the entry is the client's /64. */
	relaykey_entry_addr(client, dir->ipv6_prefix, &entry);
	if (!ipaddr_is_unicast(addr)) {
		log_warnx("%s: not recording the login: not a client's own address", text);
		return -1;
	}
	/* The entry names user (opensmtp_user.h); storing the name never fails the record. */
	if (dir->fd != -1 && opensmtp_record_user_at(dir->fd, addr, user) == 0)
		return 0;
	/* The folder may have been removed and made anew since the start. */
	if (opensmtp_record_user(dir->path, addr, user) == 0)
		return 0;
	if (errno == ENOENT && path_mkdirs(dir->path, 0755) == 0 &&
	    opensmtp_record_user(dir->path, addr, user) == 0)
		return 0;
	log_warn("%s: cannot record the login in %s", text, dir->path);
	return -1;
}
