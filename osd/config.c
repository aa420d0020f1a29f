/* config.c - osd config check: validate osd.conf, the rules file, the TLS pair, the control files, the vpasswd and the aliases files with the parsers the programs use, changing nothing. */
#include <cdb.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aliases.h"
#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "control.h"
#include "mx.h"
#include "path.h"
#include "rules.h"
#include "tls.h"
#include "userdb.h"

/* Exit statuses: as the other commands, 100 for bad input, 111 for a file that cannot be read. */
#define EXIT_INVALID 100
#define EXIT_UNREADABLE 111

struct checker {
	unsigned invalid;       /* errors in what the files say */
	unsigned unreadable;    /* files that could not be read */
	unsigned warnings;
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd config check [-c FILE]\n"
		     "Check osd.conf, the rules file (rules), tls_cert/tls_key, the control\n"
		     "files of control_dir, and the vpasswd and aliases files of users_dir\n"
		     "with the programs' own parsers, changing nothing.  Each error is printed as\n"
		     "'osd: config: FILE:LINE: KEY: why'.  Exit 0 and 'config OK' when all\n"
		     "are valid, 100 when something is invalid, 111 when a file cannot be read.\n"
		     "  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n");
}

enum finding { FOUND_INVALID, FOUND_UNREADABLE, FOUND_WARNING };

/* One line on stderr, "osd: config: ..." as the programs' own config errors, counted by kind. */
static void __attribute__((format(printf, 3, 4)))
say(struct checker *c, enum finding kind, const char *fmt, ...)
{
	char msg[PATH_MAX + 1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_error("config", "%s%s", kind == FOUND_WARNING ? "warning: " : "", msg);
	if (kind == FOUND_WARNING)
		c->warnings++;
	else if (kind == FOUND_UNREADABLE)
		c->unreadable++;
	else
		c->invalid++;
}

/* An error: unreadable (exit 111) or invalid (exit 100). */
#define report(c, unreadable, ...) \
	say((c), (unreadable) ? FOUND_UNREADABLE : FOUND_INVALID, __VA_ARGS__)
#define warn(c, ...) say((c), FOUND_WARNING, __VA_ARGS__)

/* Can path be opened for reading?  1 yes, 0 it does not exist, -1 no (reported). */
static int
readable(struct checker *c, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (errno == ENOENT)
		return 0;
	report(c, true, "%s: %s", path, strerror(errno));
	return -1;
}

/* The rules file, as the watcher and smtpd read it. */
static void
check_rules(struct checker *c, const struct osd_conf *conf, struct buf *summary)
{
	char err[PATH_MAX + 512];
	struct rules r;
	int got;

	if (readable(c, conf->rules) < 0)
		return;
	got = rules_load_file(&r, conf->rules, err, sizeof(err));
	if (got == -1) {
		report(c, false, "%s", err);
		return;
	}
	if (got == 1)
		buf_printf(summary, "rules: %s does not exist (no static rules)\n", conf->rules);
	else
		buf_printf(summary, "rules: %s: %zu record(s)\n", conf->rules, r.count);
	rules_free(&r);
}

/* tls_cert and tls_key: the pair the daemons load. */
static void
check_tls(struct checker *c, const struct osd_conf *conf, struct buf *summary)
{
	struct tls_server *srv;
	char err[PATH_MAX + 512];

	if (conf->tls_cert[0] == '\0' && conf->tls_key[0] == '\0')
		return;
	if ((conf->tls_cert[0] != '\0' && readable(c, conf->tls_cert) < 0) ||
	    (conf->tls_key[0] != '\0' && readable(c, conf->tls_key) < 0))
		return;
	if ((srv = tls_server_load(conf->tls_cert, conf->tls_key, err, sizeof(err))) == NULL) {
		report(c, false, "%s: tls_cert, tls_key: %s", conf->path, err);
		return;
	}
	tls_server_free(srv);
	buf_printf(summary, "tls: %s with %s\n", conf->tls_cert, conf->tls_key);
}

/* Every line of a list file is readable (bounded, no NUL); 1 present, 0 missing, -1 reported. */
static int
check_lines(struct checker *c, const char *dir, const char *name, struct control_lines *cl)
{
	char path[PATH_MAX];
	int ok;

	if (path_join(path, sizeof(path), dir, name) == -1 || (ok = readable(c, path)) < 0)
		return -1;
	if (ok == 0)
		return 0;
	if (control_read_lines(dir, name, cl) == -1) {
		int saved = errno;

		if (saved == EMSGSIZE || saved == EINVAL || saved == EFBIG)
			report(c, false, "%s:%lu: %s: %s", path, cl->bad_line, name,
			       saved == EMSGSIZE ? "line too long" :
			       saved == EINVAL ? "NUL byte in line" : "file too large");
		else
			report(c, true, "%s: %s", path, strerror(saved));
		return -1;
	}
	return 1;
}

/* A control file of seconds, within the bounds its reader applies. */
static void
check_seconds(struct checker *c, const char *dir, const char *name, unsigned long def,
	      unsigned long min, unsigned long max)
{
	char err[512];
	unsigned long v;

	if (control_read_seconds(dir, name, def, min, max, &v, err, sizeof(err)) == -1) {
		struct control_lines cl;
		unsigned long line = 1;
		char *cut;

		/* The reader's words without its "; using DEFAULT": here it is an error. */
		if ((cut = strstr(err, "; using ")) != NULL)
			*cut = '\0';
		if (control_read_lines(dir, name, &cl) == 0) {
			line = cl.count > 0 ? cl.linenos[0] : 1;
			control_lines_free(&cl);
		}
		report(c, false, "%s/%s:%lu: %s: %s", dir, name, line, name,
		       strncmp(err, "control/", 8) == 0 ? err + 8 + strlen(name) + 2 : err);
	}
}

/* A control file holding a count: a number, at least min. */
static void
check_count(struct checker *c, const char *dir, const char *name, unsigned long min)
{
	struct control_lines cl;
	unsigned long v;

	if (check_lines(c, dir, name, &cl) != 1)
		return;
	if (control_read_ulong(dir, name, 0, &v) == -1 || (cl.count > 0 && v < min))
		report(c, false, "%s/%s:%lu: %s: \"%.40s\" is not a number of at least %lu", dir,
		       name, cl.count > 0 ? cl.linenos[0] : 1, name, cl.count > 0 ? cl.lines[0] : "",
		       min);
	control_lines_free(&cl);
}

/* smtproutes: every line through osd-remote's parser, one at a time for its line number. */
static void
check_smtproutes(struct checker *c, const char *dir)
{
	struct control_lines cl;
	char host[MX_HOST_MAX + 1], err[512];
	unsigned port;

	if (check_lines(c, dir, "smtproutes", &cl) != 1)
		return;
	for (size_t i = 0; i < cl.count; i++) {
		if (mx_route(&cl.lines[i], 1, "check.invalid", host, &port, err, sizeof(err)) == -1) {
			/* mx_route numbers the lines it was given: here always "line 1". */
			const char *why = strstr(err, "\": ");

			report(c, false, "%s/smtproutes:%lu: smtproutes: \"%.60s\": %s", dir,
			       cl.linenos[i], cl.lines[i], why != NULL ? why + 3 : err);
		}
	}
	control_lines_free(&cl);
}

/* morercpthosts.cdb: a cdb file, as osd smtpd maps it. */
static void
check_cdb(struct checker *c, const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct cdb db;
	int fd;

	if (path_join(path, sizeof(path), dir, name) == -1)
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			report(c, true, "%s: %s", path, strerror(errno));
		return;
	}
	if (cdb_init(&db, fd) == -1)
		report(c, false, "%s: %s", path, errno == EPROTO ? "not a cdb file" : strerror(errno));
	else
		cdb_free(&db);
	close(fd);
}

/* The control files of control_dir, each with the reader of the program that uses it. */
static void
check_control(struct checker *c, const struct osd_conf *conf, struct buf *summary)
{
	static const char *const lists[] = {
		"me", "helohost", "rcpthosts", "morercpthosts", "badmailfrom", "doublebounceto",
	};
	const char *dir = conf->control_dir;
	struct control_lines cl;
	struct stat st;
	unsigned before = c->invalid + c->unreadable;

	if (stat(dir, &st) == -1) {
		if (errno == ENOENT) {
			warn(c, "%s: control_dir does not exist: every control file has its default "
			     "(no rcpthosts: no domain is accepted)", dir);
			return;
		}
		report(c, true, "%s: %s", dir, strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (check_lines(c, dir, lists[i], &cl) == 1)
			control_lines_free(&cl);
	check_count(c, dir, "databytes", 0);
	check_count(c, dir, "concurrencylocal", 1);
	check_count(c, dir, "concurrencyremote", 1);
	check_seconds(c, dir, "queuelifetime", 604800, 0, CONTROL_QUEUELIFETIME_MAX);
	check_seconds(c, dir, "timeoutsmtpd", 1200, 1, CONTROL_TIMEOUT_MAX);
	check_seconds(c, dir, "timeoutremote", 1200, 1, CONTROL_TIMEOUT_MAX);
	check_seconds(c, dir, "timeoutconnect", 60, 1, CONTROL_TIMEOUT_MAX);
	check_smtproutes(c, dir);
	check_cdb(c, dir, "morercpthosts.cdb");
	if (c->invalid + c->unreadable == before)
		buf_printf(summary, "control: %s\n", dir);
}

/* What check_vpasswd counts and whom it tells about a bad line. */
struct vpasswd_check {
	struct checker *c;
	unsigned long users;
};

/* A malformed line, "FILE:LINE: why" from the reader every login goes through. */
static void
vpasswd_bad_line(const char *msg, void *ctx)
{
	struct vpasswd_check *vc = ctx;

	report(vc->c, false, "%s", msg);
}

/* A well-formed line: one more user for the summary. */
static int
vpasswd_count(const struct userdb_user *user, void *ctx)
{
	struct vpasswd_check *vc = ctx;

	(void)user;
	vc->users++;
	return 0;
}

/*
 * users_dir/DOMAIN/vpasswd, read by userdb_foreach as the logins read it: a
 * line it would skip (too few fields, a flags field that is not a number, a
 * home that is not absolute, a bad quota...) means a user who cannot log in,
 * so here it is an error.  Counts the file in *files when there is one.
 */
static void
check_vpasswd_file(struct vpasswd_check *vc, const char *users_dir, const char *domain,
		   unsigned *files)
{
	char err[PATH_MAX + 512];

	if (userdb_foreach(users_dir, domain, vpasswd_count, vpasswd_bad_line, vc, err,
			   sizeof(err)) == -1) {
		/* A domain of aliases only, or a file beside the domains: nothing to read. */
		if (errno != ENOENT && errno != ENOTDIR)
			report(vc->c, errno == EACCES || errno == EPERM, "%s", err);
		return;
	}
	(*files)++;
}

/* One aliases file: each line looked up by its own name through the reader of osd-local and smtpd. */
static void
check_aliases_file(struct checker *c, const char *users_dir, const char *domain, unsigned *files)
{
	char err[PATH_MAX + 512], path[PATH_MAX];
	unsigned long lineno = 0;
	struct buf b;

	buf_init(&b, ALIASES_FILE_MAX);
	if (path_fmt(path, sizeof(path), "%s/%s/aliases", users_dir, domain) == -1)
		goto done;
	if (aliases_read(users_dir, domain, &b, err, sizeof(err)) == -1) {
		report(c, access(path, R_OK) == -1 && errno != ENOENT, "%s", err);
		goto done;
	}
	if (b.len == 0 && access(path, F_OK) == -1)
		goto done;
	(*files)++;
	for (const char *p = b.data, *end = b.data + b.len; p != NULL && p < end; lineno++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		const char *colon = memchr(p, ':', len);
		struct aliases_targets t;
		char name[256];
		size_t nlen;

		if (colon != NULL && p[0] != '#') {
			/* The name as the reader trims it; the reader decides the rest. */
			nlen = (size_t)(colon - p);
			while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
				nlen--;
			if (nlen > 0 && nlen < sizeof(name)) {
				memcpy(name, p, nlen);
				name[nlen] = '\0';
				if (aliases_lookup(p, len, name, domain, &t, err, sizeof(err)) == -1) {
					/* Its "aliases line N: NAME: " counts from this one line. */
					const char *why = err;

					if (strncmp(why, "aliases line ", 13) == 0 &&
					    (why = strstr(why, ": ")) != NULL &&
					    (why = strstr(why + 2, ": ")) != NULL)
						why += 2;
					else
						why = err;
					report(c, false, "%s:%lu: %s: %s", path, lineno + 1, name, why);
				} else {
					aliases_targets_free(&t);
				}
			}
		} else if (len > 0 && p[0] != '#' && strspn(p, " \t\r") < len) {
			warn(c, "%s:%lu: no ':' after a name: the line is ignored", path, lineno + 1);
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
done:
	buf_free(&b);
}

/* Every users_dir/DOMAIN: its vpasswd and its aliases. */
static void
check_domains(struct checker *c, const struct osd_conf *conf, struct buf *summary)
{
	struct vpasswd_check vc = { .c = c };
	unsigned vpasswd_files = 0, alias_files = 0;
	struct dirent *e;
	DIR *d = opendir(conf->users_dir);

	if (d == NULL) {
		if (errno != ENOENT)
			report(c, true, "%s: %s", conf->users_dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		check_vpasswd_file(&vc, conf->users_dir, e->d_name, &vpasswd_files);
		check_aliases_file(c, conf->users_dir, e->d_name, &alias_files);
	}
	closedir(d);
	if (vpasswd_files > 0)
		buf_printf(summary, "users: %lu in %u vpasswd file(s) in %s\n", vc.users,
			   vpasswd_files, conf->users_dir);
	if (alias_files > 0)
		buf_printf(summary, "aliases: %u file(s) in %s\n", alias_files, conf->users_dir);
}

int
main(int argc, char **argv)
{
	char err[PATH_MAX + 512];
	const char *conf_arg, *path;
	struct osd_conf conf;
	struct checker c = { 0 };
	struct buf summary;
	bool is_default = false;

	conf_arg = cli_conf_operands(argc, argv, "config", usage, 1, 100);
	if (strcmp(argv[optind], "check") != 0) {
		cli_error("config", "%.64s: unknown sub-command (want: check)", argv[optind]);
		return 100;
	}
	path = conf_arg;
	if (path == NULL && (path = getenv("OSD_CONF")) != NULL && path[0] == '\0')
		path = NULL;
	if (path == NULL) {
		path = CONF_DEFAULT_PATH;
		is_default = true;
	}
	buf_init(&summary, 1 << 16);
	conf_defaults(&conf);
	if (conf_load(&conf, path, err, sizeof(err)) == -1) {
		if (!(is_default && errno == ENOENT)) {
			/* Nothing else can be checked without the paths it names. */
			cli_error("config", "%s", err);
			buf_free(&summary);
			return errno == EINVAL ? EXIT_INVALID : EXIT_UNREADABLE;
		}
		conf_defaults(&conf);
		if (path_join(conf.users_dir, sizeof(conf.users_dir), conf.state_dir, "domains") == -1)
			return EXIT_UNREADABLE;
		buf_printf(&summary, "osd.conf: %s does not exist (built-in defaults)\n", path);
	} else {
		buf_printf(&summary, "osd.conf: %s\n", path);
	}
	check_rules(&c, &conf, &summary);
	check_tls(&c, &conf, &summary);
	check_control(&c, &conf, &summary);
	check_domains(&c, &conf, &summary);
	if (c.invalid + c.unreadable > 0) {
		cli_error("config", "check failed: %u error(s), %u file(s) unreadable", c.invalid,
			  c.unreadable);
		buf_free(&summary);
		return c.unreadable > 0 ? EXIT_UNREADABLE : EXIT_INVALID;
	}
	printf("config OK%s\n%s", c.warnings > 0 ? " (with warnings)" : "", summary.data ? summary.data : "");
	buf_free(&summary);
	return 0;
}
