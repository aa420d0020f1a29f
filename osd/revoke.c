/* revoke.c - osd revoke IP|--user NAME: take a POP-before-SMTP relay right away now. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "fleet.h"
#include "opensmtp.h"
#include "opensmtp_user.h"
#include "relaycheck.h"
#include "relaykey.h"
#include "runas.h"
#include "xmalloc.h"

/* A static rule still lets the address relay (revoke_addr): exit 1 whatever the fleet did. */
static bool static_left;

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd revoke [-c FILE] IP\n"
		     "       osd revoke [-c FILE] --user NAME\n"
		     "Remove the login entry of IP (its /64 with relay_ipv6_prefix = 64), or\n"
		     "every entry whose user is NAME, from open-smtp/.  The relay right ends\n"
		     "at once: osd smtpd checks the entry on every connection, and osd watch\n"
		     "drops the record from relay.cdb at its next rebuild (where no watcher\n"
		     "runs, the next osd expire does).  A login after the revoke opens a new\n"
		     "entry as usual.  A static rule of the rules file is not a login: this\n"
		     "command cannot revoke it (edit the rules file), and says so.\n"
		     "With fleet = redis, the revocation also goes to Redis (the login keys\n"
		     "deleted, a tombstone set, every host's osd watch told), whether or not\n"
		     "osd watch runs here; when Redis cannot be reached the local entry is\n"
		     "still removed, the command says the fleet was not told and exits 111:\n"
		     "run it again.\n"
		     "  -c FILE      configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "  --user NAME  revoke every entry whose last login was NAME's\n"
		     "  -h, --help   this text\n"
		     "Exit 0 when entries were removed and no static rule still lets the\n"
		     "address relay, 1 when there was nothing to revoke or a static rule\n"
		     "still lets it relay, 100 for bad input, 111 on a system error.\n");
}

/* Does a static rule still let addr relay?  Then say so (a static rule is not ours to take). */
static bool
static_relays(const struct osd_conf *conf, const struct ipaddr *addr, const char *text)
{
	struct relay_decision d;
	struct rules_file rules;
	char err[PATH_MAX + 256];
	bool relays = false;
	/* No open-smtp/ and no relay.cdb: the rules file alone decides. */
	struct relay_state st = { .cdb_path = "/nonexistent", .opensmtp_dirfd = -1,
				  .relay_expire = conf->relay_expire,
				  .ipv6_prefix = conf->relay_ipv6_prefix };

	rules_file_init(&rules);
	if (rules_file_refresh(&rules, conf->rules, err, sizeof err) < 0) {
		cli_error("revoke", "rules: %s", err);
		rules_file_free(&rules);
		return false;
	}
	st.statics = &rules.rules;
	if (relay_decide(&st, addr, &d) == 0 && d.rule.matched && d.relay) {
		relays = true;
		cli_error("revoke", "%s may still relay by the static rule '%s' of %s: a static rule "
			  "is not a login and osd revoke cannot take it away; edit %s", text,
			  d.rule.key[0] != '\0' ? d.rule.key : "(default)", conf->rules, conf->rules);
	}
	rules_file_free(&rules);
	return relays;
}

static void
print_revoked(const char *name, const char *user, const struct timespec *login)
{
	struct tm tm;
	char when[32];

	if (gmtime_r(&login->tv_sec, &tm) == NULL ||
	    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof when, "@%lld", (long long)login->tv_sec);
	printf("revoked %s user=%s login=%s\n", name, user[0] != '\0' ? user : "-", when);
}

/*
 * With fsync = yes, make a removal from open-smtp/ durable before saying it
 * is done: lost in a power cut, the entry would come back, and the watcher
 * would let its address relay again.  0, or -1 with errno.
 */
static int
removal_durable(int dirfd, bool do_fsync)
{
	return do_fsync ? fsync(dirfd) : 0;
}

static int
revoke_addr(const struct osd_conf *conf, int dirfd, const char *arg)
{
	struct ipaddr addr, entry;
	char name[IPADDR_TEXT_MAX], who[OPENSMTP_USER_MAX + 1] = "";
	struct timespec login;
	struct stat st;
	int r;

	if (cli_parse_addr("revoke", arg, &addr) == -1)
		return 100;
	relaykey_entry_addr(&addr, conf->relay_ipv6_prefix, &entry);
	ipaddr_format(&entry, name);
	/* Who it was, for the message (the revoke itself does not depend on it). */
	if (dirfd >= 0 && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    opensmtp_user_get(dirfd, name, &st, -1, who, sizeof who) != 1)
		who[0] = '\0';
	r = dirfd >= 0 ? opensmtp_revoke_at(dirfd, name, NULL, &login) : 0;
	if (r > 0 && removal_durable(dirfd, conf->fsync) < 0)
		r = -1;
	if (r < 0) {
		cli_error("revoke", "%s: %s", name, strerror(errno));
		return 111;
	}
	if (r > 0)
		print_revoked(name, who, &login);
	else
		cli_error("revoke", "%s: no login entry", name);
	if (static_relays(conf, &addr, name)) {
		static_left = true;
		return 1;
	}
	return r > 0 ? 0 : 1;
}

/* The names of the entries whose user is user (read as osd list reads them). */
static int
find_user(int dirfd, const char *user, char (**names_r)[IPADDR_TEXT_MAX], size_t *n_r)
{
	char (*names)[IPADDR_TEXT_MAX] = NULL;
	char who[OPENSMTP_USER_MAX + 1];
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd, saved;
	DIR *d;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		struct ipaddr addr;
		struct stat st;

		if (de->d_name[0] != '.' && opensmtp_name_to_addr(de->d_name, &addr) &&
		    fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    opensmtp_user_get(dirfd, de->d_name, &st, -1, who, sizeof who) == 1 &&
		    strcmp(who, user) == 0) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				names = xreallocarray(names, cap, sizeof *names);
			}
			memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
		}
		errno = 0;
	}
	saved = errno;
	closedir(d);
	*names_r = names;
	*n_r = n;
	errno = saved;
	return saved == 0 ? 0 : -1;
}

static int
revoke_user(int dirfd, const char *user, bool do_fsync)
{
	char (*names)[IPADDR_TEXT_MAX] = NULL;
	struct timespec login;
	size_t n = 0, done = 0;
	bool failed = false;

	if (dirfd >= 0 && find_user(dirfd, user, &names, &n) < 0) {
		cli_error("revoke", "reading open-smtp: %s", strerror(errno));
		free(names);
		return 111;
	}
	for (size_t i = 0; i < n; i++) {
		/* Looked at again after the rename: an entry another user's
		 * login took over meanwhile (NAT) is put back, not revoked. */
		int r = opensmtp_revoke_at(dirfd, names[i], user, &login);

		if (r > 0 && removal_durable(dirfd, do_fsync) < 0)
			r = -1;

		if (r < 0) {
			cli_error("revoke", "%s: %s", names[i], strerror(errno));
			failed = true;
		} else if (r > 0) {
			print_revoked(names[i], user, &login);
			done++;
		}
	}
	free(names);
	if (failed)
		return 111;
	if (done == 0) {
		cli_error("revoke", "no login entry names user %s", user);
		return 1;
	}
	return 0;
}

/*
 * Fleet mode: tell every host, through Redis, whether or not a login entry
 * was here (the login may live on other hosts only).  rc: the local
 * outcome (0 removed, 1 nothing here or a static rule).  Returns the exit
 * code: 111 when the fleet could not be told.
 */
static int
revoke_fleet(struct fleet *fleet, const char *user, const char *arg, int ipv6_prefix, int rc)
{
	struct fleet_revocation rv = { .by_user = user != NULL };
	struct timespec now;
	char err[PATH_MAX + 512], name[IPADDR_TEXT_MAX];
	int deleted;

	if (user != NULL) {
		snprintf(rv.user, sizeof rv.user, "%s", user);
		snprintf(name, sizeof name, "%s", "user ");
	} else {
		struct ipaddr addr;

		if (ipaddr_parse(arg, &addr) < 0)
			return rc;      /* refused by revoke_addr already (100) */
		relaykey_entry_addr(&addr, ipv6_prefix, &rv.addr);
		ipaddr_format(&rv.addr, name);
	}
	/* Taken after the local removal: every login up to now is void. */
	clock_gettime(CLOCK_REALTIME, &now);
	rv.revoke_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	deleted = fleet_client_revoke(fleet, &rv, err, sizeof err);
	if (deleted < 0) {
		cli_error("revoke", "fleet: %s; the other hosts were NOT told (their copies live until "
			  "they expire): run osd revoke again when redis answers", err);
		return 111;
	}
	printf("revoked in the fleet: %s%s (%d login key%s deleted in redis)\n", name,
	       user != NULL ? user : "", deleted, deleted == 1 ? "" : "s");
	/* A login another host had is revoked now: that counts as done. */
	if (rc == 1 && deleted > 0 && !static_left)
		return 0;
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf_arg = NULL, *user = NULL;
	struct fleet *fleet;
	struct osd_conf conf;
	struct runas ra;
	char dir[PATH_MAX], err[PATH_MAX + 256];
	int opt, dirfd, rc;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'u': user = optarg; break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_option("revoke", optopt); return 100;
		}
	}
	if (argc - optind != (user != NULL ? 0 : 1)) {
		usage(stderr);
		return 100;
	}
	if (user != NULL && !opensmtp_user_valid(user)) {
		cli_error("revoke", "--user: a login name is 1 to %d printable characters without spaces",
			  OPENSMTP_USER_MAX);
		return 100;
	}
	cli_load_conf(&conf, conf_arg);
	if (conf_opensmtp_dir(&conf, dir, sizeof dir) < 0) {
		cli_error("revoke", "state_dir path too long");
		return 111;
	}
	/* The Redis password file may be root's: read before dropping privileges. */
	fleet = fleet_client_new(&conf);
	/* As osd record: run as root, act as the user that owns open-smtp/. */
	if (runas_init(&ra, &conf, err, sizeof err) == -1 ||
	    runas_opensmtp(&ra, &conf, RUNAS_WRITE, err, sizeof err) == -1 ||
	    runas_drop(&ra, err, sizeof err) == -1)
		runas_refuse("revoke", err);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 && errno != ENOENT) {
		cli_error("revoke", "%s: %s", dir, strerror(errno));
		return 111;
	}
	rc = user != NULL ? revoke_user(dirfd, user, conf.fsync) : revoke_addr(&conf, dirfd, argv[optind]);
	if (dirfd >= 0)
		close(dirfd);
	if (fleet != NULL && rc != 100 && rc != 111)
		rc = revoke_fleet(fleet, user, user == NULL ? argv[optind] : NULL, conf.relay_ipv6_prefix, rc);
	fleet_client_free(fleet);
	return rc;
}
