/* user.c - osd user add|passwd|del|list: the virtual users of users_dir/DOMAIN/vpasswd. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "path.h"
#include "userdb.h"

/* Exit codes shared by the osd commands: bad input, and system trouble. */
#define EXIT_BAD_INPUT 100
#define EXIT_SYSTEM 111

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: osd user [-c FILE] add USER@DOMAIN [--quota 50M|NOQUOTA] [--gecos TEXT]\n"
		"       osd user [-c FILE] passwd USER@DOMAIN\n"
		"       osd user [-c FILE] del USER@DOMAIN [--keep-mail]\n"
		"       osd user [-c FILE] list [DOMAIN]\n"
		"Manage the virtual users in <users_dir>/DOMAIN/vpasswd (vpopmail's format).\n"
		"add creates the domain folder on first use, and the user's home\n"
		"<users_dir>/DOMAIN/USER with Maildir/{tmp,new,cur}.  A bare USER is in\n"
		"default_domain.  The password is asked twice on a terminal (not shown), or\n"
		"read as one line from stdin when that is not a terminal; never taken from\n"
		"the command line.  New hashes are yescrypt.  del removes the home too\n"
		"unless --keep-mail.  list prints USER@DOMAIN, flags and quota per line.\n"
		"Run as root with mail_user set, what add creates belongs to mail_user.\n"
		"  -c FILE              configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		"  --quota 50M|NOQUOTA  add: the mailbox quota (vpopmail's field; default NOQUOTA)\n"
		"  --gecos TEXT         add: the user's full name\n"
		"  --keep-mail          del: keep the home folder and its mail\n");
}

/* The terminal's settings while echo is off, for the signal handler to restore. */
static struct termios saved_tio;
static volatile sig_atomic_t tio_changed;

static void
restore_tty(int sig)
{
	if (tio_changed)
		(void)tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Read one line from stdin into out: at most size - 1 bytes, "\n" or
 * "\r\n" dropped.  Byte by byte, so nothing past the line is consumed and
 * no stdio buffer keeps a copy.  0, or -1 with *system_r telling a read
 * error from bad input, and why in err.
 */
static int
read_line(char *out, size_t size, bool *system_r, char *err, size_t errsize)
{
	size_t len = 0;
	bool too_long = false;
	char c;

	*system_r = false;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, &c, 1);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errsize, "reading the password: %s", strerror(errno));
			*system_r = true;
			return -1;
		}
		if (n == 0 || c == '\n')
			break;
		if (len + 1 >= size) {
			too_long = true;
			continue;
		}
		out[len++] = c;
	}
	if (len > 0 && out[len - 1] == '\r')
		len--;
	out[len] = '\0';
	if (too_long) {
		snprintf(err, errsize, "password too long (max %zu bytes)", size - 2);
		return -1;
	}
	if (memchr(out, '\0', len) != NULL) {
		snprintf(err, errsize, "NUL byte in the password");
		return -1;
	}
	if (len == 0) {
		snprintf(err, errsize, "empty password");
		return -1;
	}
	return 0;
}

/* Ask on the terminal with echo off (the newline still shows). */
static int
prompt(const char *text, char *out, size_t size, bool *system_r, char *err, size_t errsize)
{
	struct termios tio;
	struct sigaction sa;
	int r;

	if (tcgetattr(STDIN_FILENO, &saved_tio) == -1) {
		snprintf(err, errsize, "terminal: %s", strerror(errno));
		*system_r = true;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_tty;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	tio = saved_tio;
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	tio.c_lflag |= ECHONL;
	fputs(text, stderr);
	fflush(stderr);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) == -1) {
		snprintf(err, errsize, "terminal: %s", strerror(errno));
		*system_r = true;
		return -1;
	}
	tio_changed = 1;
	r = read_line(out, size, system_r, err, errsize);
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	tio_changed = 0;
	return r;
}

/*
 * The new password: asked twice on a terminal, else one line of stdin.
 * 0, or the exit code to fail with (the reason printed).
 */
static int
get_password(const char *action, const struct userdb_name *name, char *out, size_t size)
{
	char again[USERDB_PASSWORD_MAX + 2], err[256], text[USERDB_USER_MAX + USERDB_DOMAIN_MAX + 32];
	bool system = false;
	int r;

	if (!isatty(STDIN_FILENO)) {
		r = read_line(out, size, &system, err, sizeof(err));
	} else {
		snprintf(text, sizeof(text), "Password for %s@%s: ", name->user, name->domain);
		r = prompt(text, out, size, &system, err, sizeof(err));
		if (r == 0)
			r = prompt("Again: ", again, sizeof(again), &system, err, sizeof(err));
		if (r == 0 && strcmp(out, again) != 0) {
			snprintf(err, sizeof(err), "the passwords differ");
			r = -1;
		}
		explicit_bzero(again, sizeof(again));
	}
	if (r == 0)
		return 0;
	explicit_bzero(out, size);
	cli_error("user", "%s: %s", action, err);
	return system ? EXIT_SYSTEM : EXIT_BAD_INPUT;
}

/* The owner of what add creates: mail_user when running as root, else nobody's business. */
static int
mail_owner(const struct osd_conf *conf, uid_t *uid_r, gid_t *gid_r)
{
	struct passwd *pw;

	*uid_r = (uid_t)-1;
	*gid_r = (gid_t)-1;
	if (geteuid() != 0 || conf->mail_user[0] == '\0')
		return 0;
	errno = 0;
	if ((pw = getpwnam(conf->mail_user)) == NULL) {
		cli_error("user", "mail_user %s: %s", conf->mail_user,
			  errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

static int
split_or_fail(const char *action, const char *login, const struct osd_conf *conf,
	      struct userdb_name *name)
{
	char err[256];

	if (userdb_split_login(login, conf->default_domain, name, err, sizeof(err)) == -1) {
		cli_error("user", "%s: %s", action, err);
		return -1;
	}
	return 0;
}

/* Can gecos be written as a vpasswd field? */
static bool
gecos_ok(const char *gecos)
{
	if (strlen(gecos) > USERDB_GECOS_MAX)
		return false;
	for (const char *p = gecos; *p != '\0'; p++)
		if (*p == ':' || (unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int
cmd_add(const struct osd_conf *conf, const char *login, const char *quota, const char *gecos)
{
	char password[USERDB_PASSWORD_MAX + 2], err[PATH_MAX + 256];
	struct userdb_name name;
	struct userdb_user *u;
	uid_t uid;
	gid_t gid;
	int r;

	explicit_bzero(password, sizeof(password));
	if (split_or_fail("add", login, conf, &name) == -1)
		return EXIT_BAD_INPUT;
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		cli_error("user", "add: %s", strerror(errno));
		return EXIT_SYSTEM;
	}
	/* Everything the command line can get wrong, before asking for a password. */
	if (gecos != NULL && !gecos_ok(gecos)) {
		cli_error("user", "add: --gecos: at most %d bytes, no ':' and no control characters",
			  USERDB_GECOS_MAX);
		r = EXIT_BAD_INPUT;
		goto out;
	}
	if (mail_owner(conf, &uid, &gid) == -1) {
		r = EXIT_SYSTEM;
		goto out;
	}
	switch (userdb_lookup(conf->users_dir, &name, u, err, sizeof(err))) {
	case 1:
		/* The locked add checks again; this only saves typing a password. */
		cli_error("user", "add: %s@%s exists", name.user, name.domain);
		r = EXIT_BAD_INPUT;
		goto out;
	case -1:
		cli_error("user", "add: %s", err);
		r = EXIT_SYSTEM;
		goto out;
	}
	memset(u, 0, sizeof(*u));
	memcpy(u->user, name.user, sizeof(u->user));
	/* vpopmail fills gecos with the user name when none is given. */
	snprintf(u->gecos, sizeof(u->gecos), "%s", gecos != NULL ? gecos : name.user);
	if (userdb_format_quota(quota != NULL ? quota : "NOQUOTA", u->quota_text,
				sizeof(u->quota_text)) == -1) {
		cli_error("user", "add: --quota: not a quota (want e.g. 50M, 2G, NOQUOTA "
			  "or <bytes>S[,<count>C])");
		r = EXIT_BAD_INPUT;
		goto out;
	}
	if (userdb_default_home(conf->users_dir, &name, u->home, sizeof(u->home)) == -1) {
		cli_error("user", "add: home folder: %s", strerror(errno));
		r = EXIT_SYSTEM;
		goto out;
	}
	if ((r = get_password("add", &name, password, sizeof(password))) != 0)
		goto out;
	if (userdb_hash_password(password, u->hash, sizeof(u->hash), err, sizeof(err)) == -1) {
		cli_error("user", "add: %s", err);
		r = EXIT_SYSTEM;
		goto out;
	}
	if (userdb_add(conf->users_dir, name.domain, u, uid, gid, conf->fsync, err,
		       sizeof(err)) == -1) {
		r = errno == EEXIST || errno == EINVAL ? EXIT_BAD_INPUT : EXIT_SYSTEM;
		cli_error("user", "add: %s", err);
		goto out;
	}
	r = 0;
out:
	explicit_bzero(password, sizeof(password));
	explicit_bzero(u, sizeof(*u));
	free(u);
	return r;
}

static int
cmd_passwd(const struct osd_conf *conf, const char *login)
{
	char password[USERDB_PASSWORD_MAX + 2], hash[USERDB_HASH_MAX + 1], err[PATH_MAX + 256];
	struct userdb_name name;
	struct userdb_user *u;
	int r, found;

	if (split_or_fail("passwd", login, conf, &name) == -1)
		return EXIT_BAD_INPUT;
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		cli_error("user", "passwd: %s", strerror(errno));
		return EXIT_SYSTEM;
	}
	found = userdb_lookup(conf->users_dir, &name, u, err, sizeof(err));
	explicit_bzero(u, sizeof(*u));
	free(u);
	if (found == -1) {
		cli_error("user", "passwd: %s", err);
		return EXIT_SYSTEM;
	}
	if (found == 0) {
		cli_error("user", "passwd: no such user: %s@%s", name.user, name.domain);
		return EXIT_BAD_INPUT;
	}
	if ((r = get_password("passwd", &name, password, sizeof(password))) != 0)
		return r;
	if (userdb_hash_password(password, hash, sizeof(hash), err, sizeof(err)) == -1) {
		cli_error("user", "passwd: %s", err);
		r = EXIT_SYSTEM;
	} else if (userdb_passwd(conf->users_dir, &name, hash, password, conf->fsync, err,
				 sizeof(err)) == -1) {
		r = errno == ENOENT ? EXIT_BAD_INPUT : EXIT_SYSTEM;
		cli_error("user", "passwd: %s", err);
	}
	explicit_bzero(password, sizeof(password));
	return r;
}

/* nftw has no context argument: the first failure is kept here. */
static char rm_failed[PATH_MAX + 128];

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) == -1 && errno != ENOENT) {
		snprintf(rm_failed, sizeof(rm_failed), "%s: %s", path, strerror(errno));
		return 1;
	}
	return 0;
}

/*
 * Remove a deleted user's home, but only when it lies inside the domain
 * folder: a vpasswd line may point anywhere, even at "/".
 */
static int
remove_home(const struct osd_conf *conf, const struct userdb_user *u)
{
	char dir[PATH_MAX], real_dir[PATH_MAX], real_home[PATH_MAX];
	size_t dlen;

	if (u->home[0] == '\0') {
		cli_error("user", "del: the user's line was malformed; no home folder removed");
		return 0;
	}
	if (path_join(dir, sizeof(dir), conf->users_dir, u->domain) == -1 ||
	    realpath(dir, real_dir) == NULL) {
		cli_error("user", "del: %s: %s", dir, strerror(errno));
		return EXIT_SYSTEM;
	}
	if (realpath(u->home, real_home) == NULL) {
		if (errno == ENOENT)
			return 0;
		cli_error("user", "del: %s: %s", u->home, strerror(errno));
		return EXIT_SYSTEM;
	}
	dlen = strlen(real_dir);
	if (strncmp(real_home, real_dir, dlen) != 0 || real_home[dlen] != '/') {
		cli_error("user", "del: %s is outside %s; left in place", u->home, real_dir);
		return 0;
	}
	rm_failed[0] = '\0';
	/* Depth first, never following a symlink nor crossing into another mount. */
	if (nftw(real_home, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0) {
		cli_error("user", "del: %s", rm_failed[0] != '\0' ? rm_failed : strerror(errno));
		return EXIT_SYSTEM;
	}
	return 0;
}

static int
cmd_del(const struct osd_conf *conf, const char *login, bool keep_mail)
{
	char err[PATH_MAX + 256];
	struct userdb_name name;
	struct userdb_user *old;
	int r = 0;

	if (split_or_fail("del", login, conf, &name) == -1)
		return EXIT_BAD_INPUT;
	if ((old = calloc(1, sizeof(*old))) == NULL) {
		cli_error("user", "del: %s", strerror(errno));
		return EXIT_SYSTEM;
	}
	if (userdb_del(conf->users_dir, &name, old, conf->fsync, err, sizeof(err)) == -1) {
		r = errno == ENOENT ? EXIT_BAD_INPUT : EXIT_SYSTEM;
		cli_error("user", "del: %s", err);
	} else if (!keep_mail) {
		r = remove_home(conf, old);
	}
	explicit_bzero(old, sizeof(*old));
	free(old);
	return r;
}

static int
print_user(const struct userdb_user *u, void *ctx)
{
	char flags[128];

	(void)ctx;
	userdb_format_flags(u->flags, flags, sizeof(flags));
	printf("%s@%s\t%s\t%s\n", u->user, u->domain, flags,
	       u->quota_text[0] != '\0' ? u->quota_text : "NOQUOTA");
	return 0;
}

static void
warn_line(const char *msg, void *ctx)
{
	(void)ctx;
	/* Keep stdout and stderr in order when both go to one place. */
	fflush(stdout);
	cli_error("user", "list: %s", msg);
}

static int
list_domain(const struct osd_conf *conf, const char *domain)
{
	char err[PATH_MAX + 256];

	if (userdb_foreach(conf->users_dir, domain, print_user, warn_line, NULL, err,
			   sizeof(err)) == -1) {
		cli_error("user", "list: %s", err);
		return EXIT_SYSTEM;
	}
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmd_list(const struct osd_conf *conf, const char *domain_arg)
{
	char domain[USERDB_DOMAIN_MAX + 1], err[256], path[PATH_MAX];
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int r = 0;

	if (domain_arg != NULL) {
		if (userdb_check_domain(domain_arg, domain, sizeof(domain), err, sizeof(err)) == -1) {
			cli_error("user", "list: %s", err);
			return EXIT_BAD_INPUT;
		}
		if (userdb_vpasswd_path(conf->users_dir, domain, path, sizeof(path)) == -1 ||
		    stat(path, &st) == -1) {
			cli_error("user", "list: no such domain: %s", domain);
			return EXIT_BAD_INPUT;
		}
		r = list_domain(conf, domain);
		return fflush(stdout) == 0 ? r : EXIT_SYSTEM;
	}
	if ((d = opendir(conf->users_dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		cli_error("user", "list: %s: %s", conf->users_dir, strerror(errno));
		return EXIT_SYSTEM;
	}
	/* Every folder with a vpasswd that has a domain's name, sorted. */
	while ((de = readdir(d)) != NULL) {
		if (userdb_check_domain(de->d_name, domain, sizeof(domain), NULL, 0) == -1 ||
		    strcmp(domain, de->d_name) != 0 ||
		    userdb_vpasswd_path(conf->users_dir, domain, path, sizeof(path)) == -1 ||
		    stat(path, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			char **grown;

			cap = cap == 0 ? 16 : cap * 2;
			if ((grown = realloc(names, cap * sizeof(*names))) == NULL)
				break;
			names = grown;
		}
		if ((names[n] = strdup(domain)) == NULL)
			break;
		n++;
	}
	if (de != NULL) {
		cli_error("user", "list: %s", strerror(ENOMEM));
		r = EXIT_SYSTEM;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		if (r == 0)
			r = list_domain(conf, names[i]);
		free(names[i]);
	}
	free(names);
	if (fflush(stdout) != 0) {
		cli_error("user", "list: stdout: %s", strerror(errno));
		return EXIT_SYSTEM;
	}
	return r;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "quota", required_argument, NULL, 'q' },
		{ "gecos", required_argument, NULL, 'g' },
		{ "keep-mail", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf_arg = NULL, *quota = NULL, *gecos = NULL, *action;
	bool keep_mail = false;
	struct osd_conf conf;
	int opt, nargs;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'q': quota = optarg; break;
		case 'g': gecos = optarg; break;
		case 'k': keep_mail = true; break;
		default: cli_bad_option("user", optopt); return EXIT_BAD_INPUT;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_BAD_INPUT;
	}
	action = argv[optind];
	nargs = argc - optind - 1;
	if (strcmp(action, "add") != 0 && strcmp(action, "passwd") != 0 &&
	    strcmp(action, "del") != 0 && strcmp(action, "list") != 0) {
		cli_error("user", "unknown action (want add, passwd, del or list; see osd user --help)");
		return EXIT_BAD_INPUT;
	}
	if ((quota != NULL || gecos != NULL) && strcmp(action, "add") != 0) {
		cli_error("user", "%s: --quota and --gecos are for add only", action);
		return EXIT_BAD_INPUT;
	}
	if (keep_mail && strcmp(action, "del") != 0) {
		cli_error("user", "%s: --keep-mail is for del only", action);
		return EXIT_BAD_INPUT;
	}
	if (strcmp(action, "list") == 0 ? nargs > 1 : nargs != 1) {
		usage(stderr);
		return EXIT_BAD_INPUT;
	}
	cli_load_conf(&conf, conf_arg);
	if (strcmp(action, "add") == 0)
		return cmd_add(&conf, argv[optind + 1], quota, gecos);
	if (strcmp(action, "passwd") == 0)
		return cmd_passwd(&conf, argv[optind + 1]);
	if (strcmp(action, "del") == 0)
		return cmd_del(&conf, argv[optind + 1], keep_mail);
	return cmd_list(&conf, nargs == 1 ? argv[optind + 1] : NULL);
}
