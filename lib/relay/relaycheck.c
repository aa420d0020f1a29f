/* relaycheck.c - combine relay.cdb and open-smtp/ into one relay decision. */
#include "relaycheck.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "opensmtp.h"

/* Is the rule exactly what the watcher writes for a login? */
static bool is_dynamic_value(const struct relaydb_result *r)
{
	return r->allow && r->env_count == 1 && strcmp(r->env[0].name, "RELAYCLIENT") == 0 &&
	       r->env[0].value[0] == '\0';
}

int relay_decide(const char *cdb_path, int opensmtp_dirfd, long relay_expire,
		 const struct ipaddr *addr, struct relay_decision *d)
{
	char key[IPADDR_TEXT_MAX], name[IPADDR_TEXT_MAX];
	struct stat st;

	memset(d, 0, sizeof *d);
	if (relaydb_lookup(cdb_path, addr, &d->rule) < 0)
		return -1;
	d->connect = d->rule.allow;
	d->relay = d->rule.allow && relaydb_getenv(&d->rule, "RELAYCLIENT") != NULL;
	if (!d->rule.matched || opensmtp_dirfd < 0)
		return 0;
	ipaddr_format_key(addr, key);
	ipaddr_format(addr, name);
	/* A static rule for the same address comes first and makes two
	 * records under the key; one record with the login value and a file
	 * in open-smtp/ is a login. */
	if (strcmp(d->rule.key, key) != 0 || d->rule.nrecords != 1 || !is_dynamic_value(&d->rule))
		return 0;
	if (fstatat(opensmtp_dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	d->dynamic = true;
	d->login = st.st_mtim;
	d->expires = st.st_mtim.tv_sec + relay_expire;
	{
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (opensmtp_is_expired(&st.st_mtim, relay_expire, &now)) {
			d->stale = true;
			d->relay = false;
		}
	}
	return 0;
}
