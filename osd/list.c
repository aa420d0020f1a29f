/* list.c - osd list: who may relay now: the live open-smtp entries (address, user, login, expiry) and the static rules that relay. */
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
#include "opensmtp.h"
#include "opensmtp_user.h"
#include "relaydb.h"
#include "relaylist.h"
#include "rules.h"
#include "timecalc.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd list [-c FILE] [--json] [--user NAME] [--prefix P]\n"
		     "List who may relay now, one line each:\n"
		     "  ADDRESS USER LOGIN EXPIRES SOURCE\n"
		     "first the static rules of the rules file that let a client relay\n"
		     "(SOURCE static; ADDRESS is the rule's key, a prefix such as 10.1. or\n"
		     "(default); no user or times), then the live login entries of\n"
		     "open-smtp/ (SOURCE dynamic), sorted by address: IPv4 first in numeric\n"
		     "order, then IPv6 in numeric order.  USER is who logged in last from\n"
		     "the address (\"-\": not known), times are UTC.  Expired entries not yet\n"
		     "removed are not listed; nothing is changed.\n"
		     "  -c FILE      configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "  --json       one JSON array of objects: address, user (null: not\n"
		     "               known), login, login_unix, expires, expires_unix, source\n"
		     "               (static rules: login and expires null, and their rule)\n"
		     "  --user NAME  only the entries whose user is NAME (no static rules)\n"
		     "  --prefix P   only the addresses (and rule keys) whose text starts with P,\n"
		     "               e.g. 192.0.2. or 2001:db8:\n"
		     "  -h, --help   this text\n"
		     "Exit 0, 100 for bad usage, 111 when the state cannot be read.\n");
}

/* Output through one large buffer: a million lines cost few writes. */
struct out {
	char buf[1 << 20];
	size_t len;
	bool json, first;
};

static int
out_flush(struct out *o)
{
	if (o->len > 0 && fwrite(o->buf, 1, o->len, stdout) != o->len)
		return -1;
	o->len = 0;
	return 0;
}

static int
out_item(struct out *o, const struct relaylist_item *it)
{
	if (sizeof o->buf - o->len < RELAYLIST_LINE_MAX && out_flush(o) < 0)
		return -1;
	o->len += relaylist_format(it, o->json, o->first, o->buf + o->len);
	o->first = false;
	return 0;
}

/* "allow,RELAYCLIENT=\"\"", as a tcprules line writes the rule's value. */
static void
rule_text(const struct relaydb_result *r, char *out, size_t size)
{
	size_t off = (size_t)snprintf(out, size, "%s", r->allow ? "allow" : "deny");

	for (size_t i = 0; i < r->env_count && off < size; i++)
		off += (size_t)snprintf(out + off, size - off, ",%s=\"%s\"", r->env[i].name,
					r->env[i].value);
}

static int
list_static(struct out *o, const char *rules_path, const char *prefix)
{
	struct rules rules;
	char err[PATH_MAX + 256], key[IPADDR_TEXT_MAX + 2], text[1024];
	int r = rules_load_file(&rules, rules_path, err, sizeof err);

	if (r < 0) {
		cli_error("list", "rules: %s", err);
		return -1;
	}
	for (size_t i = 0; i < rules.count && r >= 0; i++) {
		const struct rule_record *rec = &rules.records[i];
		struct relaydb_result res;

		memset(&res, 0, sizeof res);
		if (rec->keylen >= sizeof key || relaydb_decode_value(rec->value, rec->valuelen, &res) < 0 ||
		    !res.allow || relaydb_getenv(&res, "RELAYCLIENT") == NULL)
			continue;       /* only the rules that let a client relay */
		memcpy(key, rec->key, rec->keylen);
		key[rec->keylen] = '\0';
		if (prefix != NULL && strncmp(key, prefix, strlen(prefix)) != 0)
			continue;
		rule_text(&res, text, sizeof text);
		r = out_item(o, &(struct relaylist_item){ .address = key, .user = "", .rule = text });
	}
	rules_free(&rules);
	return r < 0 ? -1 : 0;
}

/*
 * Read open-smtp/ into l: readdir, then per entry one lstat and one
 * lgetxattr relative to the folder (we chdir into it: no open per entry).
 */
static int
read_entries(const char *dir, long expire, const char *prefix, const char *user,
	     struct relaylist *l)
{
	size_t plen = prefix != NULL ? strlen(prefix) : 0;
	char who[OPENSMTP_USER_MAX + 1];
	struct timespec now;
	struct dirent *de;
	int dirfd, sidefd;
	DIR *d;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return errno == ENOENT ? 0 : -1;       /* no folder yet: no logins */
	if (fchdir(dirfd) < 0 || (d = fdopendir(dirfd)) == NULL) {
		close(dirfd);
		return -1;
	}
	sidefd = opensmtp_user_open_dir(dirfd);
	clock_gettime(CLOCK_REALTIME, &now);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		struct ipaddr addr;
		struct stat st;
		const char *name = de->d_name;

		if (name[0] == '.' || (plen > 0 && strncmp(name, prefix, plen) != 0) ||
		    (de->d_type != DT_REG && de->d_type != DT_UNKNOWN) ||
		    !opensmtp_name_to_addr(name, &addr) ||
		    lstat(name, &st) < 0 || !S_ISREG(st.st_mode) ||
		    opensmtp_is_expired(&st.st_mtim, expire, &now))
			goto next;
		if (opensmtp_user_get(AT_FDCWD, name, &st, sidefd, who, sizeof who) != 1)
			who[0] = '\0';
		if (user == NULL || strcmp(who, user) == 0)
			relaylist_add(l, &addr, &st.st_mtim, who);
next:
		errno = 0;
	}
	{
		int saved = errno;

		closedir(d);
		if (sidefd >= 0)
			close(sidefd);
		errno = saved;
		return saved == 0 ? 0 : -1;
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, 'j' },
		{ "user", required_argument, NULL, 'u' }, { "prefix", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	static struct out o = { .first = true };
	const char *conf_arg = NULL, *user = NULL, *prefix = NULL;
	struct osd_conf conf;
	struct relaylist l;
	char dir[PATH_MAX];
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'j': o.json = true; break;
		case 'u': user = optarg; break;
		case 'p': prefix = optarg; break;
		case 'h': usage(stdout); return 0;
		default: cli_bad_option("list", optopt); return 100;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 100;
	}
	if (user != NULL && !opensmtp_user_valid(user)) {
		cli_error("list", "--user: a login name is 1 to %d printable characters without spaces",
			  OPENSMTP_USER_MAX);
		return 100;
	}
	cli_load_conf(&conf, conf_arg);
	if (conf_opensmtp_dir(&conf, dir, sizeof dir) < 0) {
		cli_error("list", "state_dir path too long");
		return 111;
	}
	relaylist_init(&l);
	if (read_entries(dir, conf.relay_expire, prefix, user, &l) < 0) {
		cli_error("list", "%s: %s", dir, strerror(errno));
		return 111;
	}
	relaylist_sort(&l);
	if (o.json)
		o.buf[o.len++] = '[';
	if (user == NULL && list_static(&o, conf.rules, prefix) < 0)
		return 111;
	for (size_t i = 0; i < l.n; i++) {
		const struct relaylist_row *r = &l.rows[i];
		char text[IPADDR_TEXT_MAX];
		struct ipaddr addr;

		relaylist_row_addr(r, &addr);
		ipaddr_format(&addr, text);
		if (out_item(&o, &(struct relaylist_item){
			    .address = text, .user = relaylist_row_user(&l, r), .dynamic = true,
			    .login = (time_t)r->sec,
			    .expires = time_add((time_t)r->sec, conf.relay_expire) }) < 0)
			break;
	}
	if (o.json) {
		if (sizeof o.buf - o.len < 4)
			(void)out_flush(&o);
		memcpy(o.buf + o.len, "]\n", 2);
		o.len += 2;
	}
	relaylist_free(&l);
	if (out_flush(&o) < 0 || fflush(stdout) == EOF) {
		cli_error("list", "output: %s", strerror(errno));
		return 111;
	}
	return 0;
}
