/* local.c - osd-local: deliver one queued message to one local address (aliases, loop check, vpasswd, quota, Maildir). Contract: docs/delivery.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aliases.h"
#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "delivery_proto.h"
#include "errfmt.h"
#include "maildir_deliver.h"
#include "path.h"
#include "privdrop.h"
#include "queue.h"
#include "runas.h"
#include "userdb.h"
#include "xmalloc.h"

/* How much of the message is searched for Delivered-To: the header, bounded. */
#define HEAD_MAX (256 * 1024)

struct local_verdict {
	int code;
	char text[DELIVERY_TEXT_MAX + 1];
};

/* What one delivery needs: the arguments, checked, and the message on stdin. */
struct job {
	const struct osd_conf *conf;
	const char *sender;
	char rcpt[USERDB_USER_MAX + 1 + USERDB_DOMAIN_MAX + 1];  /* local@domain, lower case */
	char local[USERDB_USER_MAX + 1];
	char domain[USERDB_DOMAIN_MAX + 1];
	off_t offset;           /* where the message starts on stdin */
	uint64_t size;          /* its octets from there */
	const char *key;        /* -k: the delivery key put in the Maildir name; NULL: none */
	bool recheck;           /* -r: a delivery with key may be there already (a lost verdict) */
	struct userdb_user user;
	const struct aliases_targets *forward;
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: osd local [-c FILE] [-k KEY [-r]] SENDER RECIPIENT < MESSAGE\n"
		"Deliver the message on stdin (a regular file, positioned at the message) to\n"
		"the local address RECIPIENT: through users_dir/DOMAIN/aliases (re-queued to\n"
		"the targets), else into the user's Maildir (vpasswd quota checked).  Run as\n"
		"root, Maildir delivery runs as mail_user and re-queuing as user (else\n"
		"mail_user).  Exit 0 delivered, 100 permanent failure, 111 temporary\n"
		"failure; one line on stdout\n"
		"says why.  Started by osd queue; see docs/delivery.md.\n"
		"  -c FILE  configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		"  -k KEY   the delivery key (osd queue: QUEUEID.N), kept in the Maildir name\n"
		"  -r       a delivery with KEY may be there already (its verdict was lost):\n"
		"           look in new/ and cur/ first, and do not deliver it twice\n");
}

static int __attribute__((format(printf, 3, 4)))
set_verdict(struct local_verdict *v, int code, const char *fmt, ...)
{
	va_list ap;

	v->code = code;
	va_start(ap, fmt);
	(void)vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
	return code;
}

/* Print the one-line verdict (no control characters, at most DELIVERY_TEXT_MAX octets) and exit. */
static _Noreturn void
finish(const struct local_verdict *v)
{
	char line[DELIVERY_TEXT_MAX + 2];
	size_t n;

	delivery_text_set(line, v->text);
	n = strlen(line);
	line[n++] = '\n';
	/* A verdict that cannot be told is no verdict: the queue manager retries. */
	if (fwrite(line, 1, n, stdout) != n || fflush(stdout) != 0)
		exit(DELIVERY_EXIT_DEFER);
	exit(v->code);
}

/*
 * Run fn as user:group when started as root (a child process gives up
 * root, so the parent can still act as someone else for the next step),
 * else in this process.  The child's verdict comes back through a pipe.
 */
static int
run_as(const char *user, const char *group, int (*fn)(struct job *, struct local_verdict *),
       struct job *job, struct local_verdict *v)
{
	char err[512];
	int fds[2], status;
	ssize_t n;
	size_t got = 0;
	pid_t pid, parent = getpid();

	if (geteuid() != 0 || user[0] == '\0')
		return fn(job, v);
	fflush(stdout);
	if (pipe(fds) == -1)
		return set_verdict(v, DELIVERY_EXIT_DEFER, "pipe: %s", strerror(errno));
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return set_verdict(v, DELIVERY_EXIT_DEFER, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(fds[0]);
		if (privdrop(user, group, err, sizeof(err)) == -1)
			set_verdict(v, DELIVERY_EXIT_DEFER, "privilege drop: %s", err);
		/* Dies with us as we die with osd queue (the drop cleared what osd queue set). */
		else if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
			set_verdict(v, DELIVERY_EXIT_DEFER, "prctl: the delivery process lost its parent");
		else
			fn(job, v);
		(void)!write(fds[1], v->text, strlen(v->text));
		_exit(v->code);
	}
	close(fds[1]);
	while (got < DELIVERY_TEXT_MAX &&
	       ((n = read(fds[0], v->text + got, DELIVERY_TEXT_MAX - got)) > 0 || (n == -1 && errno == EINTR)))
		if (n > 0)
			got += (size_t)n;
	v->text[got] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return set_verdict(v, DELIVERY_EXIT_DEFER, "waitpid: %s", strerror(errno));
	/* A crash or a signal in the child is temporary, whatever it wrote. */
	if (!WIFEXITED(status) || (WEXITSTATUS(status) != DELIVERY_EXIT_DONE &&
				   WEXITSTATUS(status) != DELIVERY_EXIT_FAIL))
		v->code = DELIVERY_EXIT_DEFER;
	else
		v->code = WEXITSTATUS(status);
	if (got == 0)
		set_verdict(v, v->code, "delivery process ended without a verdict");
	return v->code;
}

/* Quota, then the Maildir: runs as mail_user. */
static int
deliver_maildir(struct job *job, struct local_verdict *v)
{
	char maildir[PATH_MAX], name[MAILDIR_NAME_MAX + 1], err[PATH_MAX + 256];
	struct maildir_usage use;
	struct buf head;
	int r;

	if (userdb_maildir(&job->user, maildir, sizeof(maildir)) == -1)
		return set_verdict(v, DELIVERY_EXIT_DEFER, "%s: Maildir path too long", job->rcpt);
	/* The last try was killed, or its manager: it may have got as far as new/. */
	if (job->recheck && (r = maildir_find_key(maildir, job->key, name, err, sizeof(err))) != 0) {
		if (r == -1)
			return set_verdict(v, DELIVERY_EXIT_DEFER, "%s", err);
		return set_verdict(v, DELIVERY_EXIT_DONE, "delivered to %s already (%s, by an "
				   "interrupted try)", maildir, name);
	}
	buf_init(&head, 2 * 1024);
	if (buf_printf(&head, "Return-Path: <%s>\nDelivered-To: %s\n", job->sender,
		       job->rcpt) == -1) {
		buf_free(&head);
		return set_verdict(v, DELIVERY_EXIT_FAIL, "sender address too long");
	}
	if (job->user.quota.bytes != 0 || job->user.quota.count != 0) {
		if (maildir_usage(maildir, &use, err, sizeof(err)) == -1) {
			buf_free(&head);
			return set_verdict(v, DELIVERY_EXIT_DEFER, "quota: %s", err);
		}
		if (maildir_over_quota(&job->user.quota, &use, head.len + job->size)) {
			buf_free(&head);
			return set_verdict(v, DELIVERY_EXIT_DEFER, "user is over quota (%s)",
					   job->user.quota_text);
		}
	}
	r = maildir_deliver_keyed(maildir, job->key, head.data, head.len, STDIN_FILENO, job->offset,
				  job->size, job->conf->fsync, name, err, sizeof(err));
	buf_free(&head);
	if (r == -1)
		return set_verdict(v, DELIVERY_EXIT_DEFER, "%s", err);
	return set_verdict(v, DELIVERY_EXIT_DONE, "delivered to %s", maildir);
}

static int
queue_sink(void *ctx, const void *data, size_t len)
{
	char err[256];

	return queue_write(ctx, data, len, err, sizeof(err));
}

/* Re-queue the message to job->forward with Delivered-To on top: runs as the queue's owner. */
static int
deliver_forward(struct job *job, struct local_verdict *v)
{
	const struct aliases_targets *t = job->forward;
	struct queue_envelope env = {
		.sender = job->sender,
		.rcpts = (const char *const *)t->addrs,
		.nrcpts = t->count,
		/* Made here, not received from a client: say so as smtpd would for loopback. */
		.client = "127.0.0.1",
		.helo = "osd-local",
		.auth_user = NULL,
		.received = time(NULL),
	};
	char queue_dir[PATH_MAX], id[QUEUE_ID_MAX + 1], err[PATH_MAX + 256];
	struct queue_writer *w;
	struct buf line;
	size_t i;

	if (path_join(queue_dir, sizeof(queue_dir), job->conf->state_dir, "queue") == -1)
		return set_verdict(v, DELIVERY_EXIT_DEFER, "queue folder: path too long");
	if ((w = queue_begin(queue_dir, job->conf->fsync, &env, err, sizeof(err))) == NULL)
		return set_verdict(v, DELIVERY_EXIT_DEFER, "re-queue: %s", err);
	buf_init(&line, 1024);
	if (buf_printf(&line, "Delivered-To: %s\n", job->rcpt) == -1 ||
	    queue_write(w, line.data, line.len, err, sizeof(err)) == -1 ||
	    deliver_copy(STDIN_FILENO, job->offset, job->size, queue_sink, w) == -1) {
		buf_free(&line);
		queue_abort(w);
		return set_verdict(v, DELIVERY_EXIT_DEFER, "re-queue: %s", strerror(errno));
	}
	buf_free(&line);
	if (queue_commit(w, id, err, sizeof(err)) == -1)
		return set_verdict(v, DELIVERY_EXIT_DEFER, "re-queue: %s", err);
	/* The line is cut at DELIVERY_TEXT_MAX when there are many targets; the queue file has them all. */
	buf_init(&line, DELIVERY_TEXT_MAX + 64);
	(void)buf_append_str(&line, "forwarded to ");
	for (i = 0; i < t->count && line.len < DELIVERY_TEXT_MAX; i++)
		(void)buf_printf(&line, "%s%s", i > 0 ? ", " : "", t->addrs[i]);
	set_verdict(v, DELIVERY_EXIT_DONE, "%s", line.data);
	buf_free(&line);
	return DELIVERY_EXIT_DONE;
}

/* The header of the message (up to HEAD_MAX octets of it) for the loop check. */
static int
read_head(const struct job *job, char **head_r, size_t *len_r)
{
	size_t want = job->size < HEAD_MAX ? (size_t)job->size : HEAD_MAX, got = 0;
	char *head = xmalloc(want + 1);

	while (got < want) {
		ssize_t n = pread(STDIN_FILENO, head + got, want - got, job->offset + (off_t)got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(head);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*head_r = head;
	*len_r = got;
	return 0;
}

/* Take the recipient apart: a local part any alias may name, a domain that can be a folder. */
static int
split_recipient(struct job *job, const char *rcpt, struct local_verdict *v)
{
	const char *at = strrchr(rcpt, '@');
	char why[256];
	size_t llen;

	if (at == NULL || at == rcpt || cli_has_control(rcpt))
		return set_verdict(v, DELIVERY_EXIT_FAIL, "bad recipient address");
	llen = (size_t)(at - rcpt);
	if (llen > USERDB_USER_MAX)
		return set_verdict(v, DELIVERY_EXIT_FAIL, "550 5.1.1 no such user (local part too long)");
	if (userdb_check_domain(at + 1, job->domain, sizeof(job->domain), why, sizeof(why)) == -1)
		return set_verdict(v, DELIVERY_EXIT_FAIL, "bad recipient domain: %s", why);
	/* Lower case, as vpopmail stores names and smtpd looks them up. */
	for (size_t i = 0; i < llen; i++)
		job->local[i] = rcpt[i] >= 'A' && rcpt[i] <= 'Z' ? (char)(rcpt[i] - 'A' + 'a') : rcpt[i];
	job->local[llen] = '\0';
	snprintf(job->rcpt, sizeof(job->rcpt), "%s@%s", job->local, job->domain);
	return 0;
}

/* The message on stdin: a regular file, read from where it is positioned. */
static int
open_message(struct job *job, struct local_verdict *v)
{
	struct stat st;
	off_t off;

	if (fstat(STDIN_FILENO, &st) == -1)
		return set_verdict(v, DELIVERY_EXIT_DEFER, "stdin: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return set_verdict(v, DELIVERY_EXIT_DEFER, "stdin: not a regular file (want the queue file)");
	if ((off = lseek(STDIN_FILENO, 0, SEEK_CUR)) == -1)
		return set_verdict(v, DELIVERY_EXIT_DEFER, "stdin: %s", strerror(errno));
	job->offset = off;
	job->size = st.st_size > off ? (uint64_t)(st.st_size - off) : 0;
	return 0;
}

/* Find the user of the recipient in vpasswd: 1, 0 no such user, -1 (verdict set). */
static int
find_user(struct job *job, struct local_verdict *v)
{
	struct userdb_name name;
	char login[sizeof(job->rcpt)], err[PATH_MAX + 256];
	int r;

	snprintf(login, sizeof(login), "%s", job->rcpt);
	/* A local part userdb refuses as a name cannot be in vpasswd. */
	if (userdb_split_login(login, NULL, &name, err, sizeof(err)) == -1)
		return 0;
	r = userdb_lookup(job->conf->users_dir, &name, &job->user, err, sizeof(err));
	if (r == -1)
		set_verdict(v, DELIVERY_EXIT_DEFER, "vpasswd: %s", err);
	return r;
}

/*
 * An alias that names the recipient itself ("bob: bob, bob@elsewhere")
 * keeps a copy here: deliver it to the Maildir now instead of re-queuing
 * it, which would only come back as a loop.  Drops it from t; true when
 * it was there.
 */
static bool
take_self(struct aliases_targets *t, const char *rcpt)
{
	for (size_t i = 0; i < t->count; i++) {
		if (strcasecmp(t->addrs[i], rcpt) != 0)
			continue;
		free(t->addrs[i]);
		memmove(&t->addrs[i], &t->addrs[i + 1], (t->count - i - 1) * sizeof(*t->addrs));
		t->count--;
		return true;
	}
	return false;
}

static int
deliver(struct job *job, struct local_verdict *v)
{
	const struct osd_conf *conf = job->conf;
	struct aliases_targets targets = { NULL, 0 };
	char err[PATH_MAX + 512], dir[PATH_MAX], *head;
	struct stat st;
	struct buf aliases;
	size_t head_len;
	int r, found;
	bool self = false;

	/*
	 * The loop check comes first, before aliases too: a forward that came
	 * back (a -> b -> a) must stop here, not be re-queued once more.
	 */
	if (read_head(job, &head, &head_len) == -1)
		return set_verdict(v, DELIVERY_EXIT_DEFER, "stdin: %s", strerror(errno));
	r = aliases_delivered_to(head, head_len, job->rcpt);
	free(head);
	if (r)
		return set_verdict(v, DELIVERY_EXIT_FAIL, "mail loop: already delivered to %s", job->rcpt);

	if (path_join(dir, sizeof(dir), conf->users_dir, job->domain) == -1)
		return set_verdict(v, DELIVERY_EXIT_DEFER, "users_dir: path too long");
	if (stat(dir, &st) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return set_verdict(v, DELIVERY_EXIT_FAIL, "550 5.1.2 %s is not a local domain",
					   job->domain);
		return set_verdict(v, DELIVERY_EXIT_DEFER, "%s: %s", dir, strerror(errno));
	}

	buf_init(&aliases, ALIASES_FILE_MAX);
	if (aliases_read(job->conf->users_dir, job->domain, &aliases, err, sizeof(err)) == -1) {
		buf_free(&aliases);
		return set_verdict(v, DELIVERY_EXIT_DEFER, "%s", err);
	}
	/* An alias wins over a user of the same name. */
	r = aliases_lookup(aliases.data != NULL ? aliases.data : "", aliases.len, job->local,
			   job->domain, &targets, err, sizeof(err));
	found = 0;
	if (r == 0 && (found = find_user(job, v)) == 0)
		r = aliases_lookup(aliases.data != NULL ? aliases.data : "", aliases.len,
				   ALIASES_CATCHALL, job->domain, &targets, err, sizeof(err));
	buf_free(&aliases);
	if (found == -1)
		return v->code;
	if (r == -1)
		return set_verdict(v, DELIVERY_EXIT_DEFER, "%s", err);
	if (r == 0 && found == 0)
		return set_verdict(v, DELIVERY_EXIT_FAIL, "550 5.1.1 no such user: %s", job->rcpt);

	if (r == 1 && found == 0 && (self = take_self(&targets, job->rcpt))) {
		/* The copy kept here needs the user. */
		if ((found = find_user(job, v)) == -1) {
			aliases_targets_free(&targets);
			return v->code;
		}
		if (found == 0) {
			aliases_targets_free(&targets);
			return set_verdict(v, DELIVERY_EXIT_FAIL, "550 5.1.1 no such user: %s "
					   "(named by its own alias)", job->rcpt);
		}
	}
	if (found == 1) {
		/* Touch the Maildir only as its owner. */
		if (run_as(conf->mail_user, "", deliver_maildir, job, v) != DELIVERY_EXIT_DONE ||
		    targets.count == 0) {
			aliases_targets_free(&targets);
			return v->code;
		}
	}
	/* The queue belongs to the user smtpd runs as: user, else mail_user. */
	job->forward = &targets;
	run_as(runas_user(conf), conf->group, deliver_forward, job, v);
	if (self && v->code == DELIVERY_EXIT_DONE) {
		char text[sizeof(v->text)];

		snprintf(text, sizeof(text), "%s", v->text);
		set_verdict(v, DELIVERY_EXIT_DONE, "kept a copy, %s", text);
	}
	aliases_targets_free(&targets);
	return v->code;
}

/* A delivery key: letters, digits and dots (a queue id and a number), as a Maildir name may hold. */
static bool
key_ok(const char *key)
{
	size_t n = strspn(key, "0123456789.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");

	return n > 0 && key[n] == '\0' && n <= 64;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
	};
	const char *conf_arg = NULL, *key = NULL;
	struct osd_conf conf;
	struct local_verdict v = { DELIVERY_EXIT_DEFER, "" };
	struct job *job;
	bool recheck = false;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:hk:r", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf_arg = optarg; break;
		case 'h': usage(stdout); exit(0);
		case 'k': key = optarg; break;
		case 'r': recheck = true; break;
		default: cli_bad_option("local", optopt); exit(DELIVERY_EXIT_FAIL);
		}
	}
	if (argc - optind != 2 || (recheck && key == NULL) || (key != NULL && !key_ok(key))) {
		usage(stderr);
		exit(DELIVERY_EXIT_FAIL);
	}
	cli_load_conf(&conf, conf_arg);

	job = xcalloc(1, sizeof(*job));
	job->conf = &conf;
	job->key = key;
	job->recheck = recheck;
	job->sender = argv[optind];
	if (cli_has_control(job->sender) || strlen(job->sender) > 1000)
		set_verdict(&v, DELIVERY_EXIT_FAIL, "bad sender address");
	else if (split_recipient(job, argv[optind + 1], &v) == 0 && open_message(job, &v) == 0)
		deliver(job, &v);
	explicit_bzero(&job->user, sizeof(job->user));  /* it holds the password hash */
	free(job);
	finish(&v);
}
