/* test_smtp_session.c - the SMTP state machine (smtp-gate/smtpd/smtp_session.c) over real policy files and the real queue sink, or a fake sink in memory; golden transcripts in smtp/. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"
#include "cram.h"
#include "path.h"
#include "policy.h"
#include "queue.h"
#include "received.h"
#include "smtp_session.h"
#include "smtpd.h"
#include "testutil.h"
#include "userdb.h"

static const char *golden_dir;  /* argv[1]: tests/unit/smtp */

struct fixture {
	char root[PATH_MAX];
	char control[PATH_MAX];
	char users[PATH_MAX];
	char queue[PATH_MAX];
	struct smtp_queue_target target;        /* the real queue sink's */
	struct policy *policy;
};

static void
write_file(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	assert_int_equal(path_join(p, sizeof(p), dir, name), 0);
	assert_non_null(f = fopen(p, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A user alice@example.test (password "secret", also as cleartext) and bob@example.test (NO_SMTP). */
static void
make_users(struct fixture *f)
{
	char dom[PATH_MAX], hash[USERDB_HASH_MAX + 1], err[256], text[3 * PATH_MAX];

	assert_int_equal(path_join(dom, sizeof(dom), f->users, "example.test"), 0);
	assert_int_equal(path_mkdirs(dom, 0700), 0);
	assert_int_equal(userdb_hash_password("secret", hash, sizeof(hash), err, sizeof(err)), 0);
	snprintf(text, sizeof(text),
		 "alice:%s:1:0:Alice:%s/alice:NOQUOTA:secret\n"
		 "bob:%s:1:2048:Bob:%s/bob:NOQUOTA\n",
		 hash, dom, hash, dom);
	write_file(dom, "vpasswd", text);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256], *tmp;

	assert_non_null(f);
	assert_non_null(tmp = testutil_mkdtemp("smtp-session"));
	snprintf(f->root, sizeof(f->root), "%s", tmp);
	free(tmp);
	assert_int_equal(path_join(f->control, sizeof(f->control), f->root, "control"), 0);
	assert_int_equal(path_join(f->users, sizeof(f->users), f->root, "domains"), 0);
	assert_int_equal(path_join(f->queue, sizeof(f->queue), f->root, "queue"), 0);
	assert_int_equal(mkdir(f->control, 0700), 0);
	assert_int_equal(mkdir(f->users, 0700), 0);
	write_file(f->control, "rcpthosts", "example.test\nrelay-here.example\n.sub.example.org\n");
	write_file(f->control, "badmailfrom", "spam@bad.example\n@evil.example\n");
	make_users(f);
	f->policy = policy_load(f->control, f->users, err, sizeof(err));
	assert_non_null(f->policy);
	f->target.new_dirfd = -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	policy_free(f->policy);
	if (f->target.new_dirfd != -1)
		close(f->target.new_dirfd);
	testutil_rmtree(f->root);
	free(f);
	return 0;
}

static int
check_password(void *ctx, const char *login, const char *password, bool *relay_r, char *err,
	       size_t errsize)
{
	struct fixture *f = ctx;
	struct userdb_user user;
	int r = userdb_authenticate(f->users, "example.test", login, password, &user, err, errsize);

	if (r == -1)
		return SMTP_CHECK_TEMPFAIL;
	if (r == 0)
		return SMTP_CHECK_BAD;
	*relay_r = true;
	return (user.flags & USERDB_NO_SMTP) ? SMTP_CHECK_BAD : SMTP_CHECK_OK;
}

static int
get_secret(void *ctx, const char *login, char **secret_r, bool *relay_r, char *err,
	   size_t errsize)
{
	(void)ctx;
	(void)err;
	(void)errsize;
	if (strcmp(login, "alice") != 0 && strcmp(login, "alice@example.test") != 0)
		return SMTP_CHECK_BAD;
	*secret_r = strdup("secret");
	*relay_r = true;
	return *secret_r != NULL ? SMTP_CHECK_OK : SMTP_CHECK_TEMPFAIL;
}

/* The whole of path into b. */
static int
read_file(const char *path, struct buf *b)
{
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_append(b, chunk, n), 0);
	fclose(f);
	return 0;
}

static void
base_config(struct fixture *f, struct smtp_session_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->hostname = "mx.example.test";
	cfg->client_addr = "192.0.2.7";
	cfg->policy = f->policy;
	/* Each session as smtpd_serve's: new/ opened at its first message. */
	if (f->target.new_dirfd != -1)
		close(f->target.new_dirfd);
	f->target = (struct smtp_queue_target){ .queue_dir = f->queue, .fsync = false, .new_dirfd = -1 };
	cfg->sink = &smtp_queue_sink;
	cfg->sink_ctx = &f->target;
	cfg->databytes = 10240000;
	cfg->ctx = f;
	cfg->check_password = check_password;
	cfg->get_secret = get_secret;
}

/* "\r", "\n", "\t", "\\", "\xHH" and a final "\c" (no line ending) in a transcript line. */
static size_t
unescape(const char *in, char *out, bool *eol_r)
{
	size_t n = 0;

	*eol_r = true;
	while (*in != '\0') {
		if (in[0] != '\\' || in[1] == '\0') {
			out[n++] = *in++;
			continue;
		}
		switch (in[1]) {
		case 'r': out[n++] = '\r'; in += 2; break;
		case 'n': out[n++] = '\n'; in += 2; break;
		case 't': out[n++] = '\t'; in += 2; break;
		case 'c': *eol_r = false; in += 2; break;
		case 'x': {
			char hex[3] = { in[2], in[3], '\0' };
			out[n++] = (char)strtol(hex, NULL, 16);
			in += 4;
			break;
		}
		default: out[n++] = in[1]; in += 2; break;
		}
	}
	return n;
}

/* Queue ids differ from run to run: "queued as <id>" becomes "queued as ID". */
static void
normalize_ids(struct buf *b)
{
	static const char mark[] = "queued as ";
	struct buf n;
	const char *p = b->data, *hit;

	buf_init(&n, 0);
	while ((hit = strstr(p, mark)) != NULL) {
		const char *end = strstr(hit, "\r\n");

		assert_int_equal(buf_append(&n, p, (size_t)(hit - p)), 0);
		assert_int_equal(buf_append_str(&n, "queued as ID"), 0);
		p = end != NULL ? end : hit + strlen(hit);
	}
	assert_int_equal(buf_append_str(&n, p), 0);
	buf_reset(b);
	assert_int_equal(buf_append(b, n.data, n.len), 0);
	buf_free(&n);
}

/* Directives at the top of a transcript: "!name" or "!name=value". */
static void
directive(struct smtp_session_config *cfg, const char *line)
{
	const char *eq = strchr(line, '=');
	unsigned long v = eq != NULL ? strtoul(eq + 1, NULL, 10) : 0;

	if (strcmp(line, "!relay") == 0) {
		cfg->may_relay = true;
	} else if (strncmp(line, "!relayclient=", 13) == 0) {
		cfg->may_relay = true;
		cfg->relayclient = strdup(eq + 1);
	} else if (strcmp(line, "!submission") == 0) {
		cfg->submission = true;
	} else if (strcmp(line, "!tls-available") == 0) {
		cfg->tls_available = true;
	} else if (strcmp(line, "!tls") == 0) {
		cfg->tls_available = cfg->tls_active = true;
	} else if (strcmp(line, "!plaintext") == 0) {
		cfg->auth_plaintext_ok = true;
	} else if (strncmp(line, "!databytes=", 11) == 0) {
		cfg->databytes = v;
	} else if (strncmp(line, "!max_rcpts=", 11) == 0) {
		cfg->max_rcpts = (unsigned)v;
	} else if (strncmp(line, "!max_errors=", 12) == 0) {
		cfg->max_errors = (unsigned)v;
	} else if (strncmp(line, "!max_auth_failures=", 19) == 0) {
		cfg->max_auth_failures = (unsigned)v;
	} else if (strcmp(line, "!advertise-cram") == 0) {
		cfg->advertise_cram_md5 = true;
	} else if (strcmp(line, "!no-cram") == 0) {
		cfg->get_secret = NULL;
	} else {
		fail_msg("unknown directive %s", line);
	}
}

/* Run one transcript; returns the server's output (normalized). */
static void
run_transcript(struct fixture *f, const char *path, struct buf *out)
{
	struct smtp_session_config cfg;
	struct smtp_session *s = NULL;
	char line[4096], raw[4096];
	unsigned act = 0;
	bool eol, closed = false;
	FILE *in;

	base_config(f, &cfg);
	assert_non_null(in = fopen(path, "r"));
	while (fgets(line, sizeof(line), in) != NULL) {
		size_t n;

		line[strcspn(line, "\n")] = '\0';
		if (s == NULL && line[0] == '!') {
			directive(&cfg, line);
			continue;
		}
		if (line[0] == '#')
			continue;
		if (s == NULL) {
			assert_non_null(s = smtp_session_new(&cfg));
			smtp_session_greeting(s, out);
		}
		if (closed)
			fail_msg("%s: input after the session closed: %s", path, line);
		n = unescape(line, raw, &eol);
		if (eol) {
			raw[n++] = '\r';
			raw[n++] = '\n';
		}
		if (act & SMTP_ACT_DATA) {
			size_t used = smtp_session_data(s, raw, n, out, &act);
			/* A transcript line never holds data beyond the terminator. */
			assert_int_equal(used, n);
		} else {
			act = smtp_session_line(s, raw, n, out);
		}
		if (act & SMTP_ACT_STARTTLS)
			smtp_session_tls_started(s, "TLSv1.3 TEST");
		if (act & SMTP_ACT_CLOSE)
			closed = true;
	}
	fclose(in);
	if (cfg.relayclient != NULL)
		free((char *)cfg.relayclient);
	smtp_session_free(s);
	normalize_ids(out);
}

static void
test_golden_transcripts(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], ref[PATH_MAX];
	struct dirent *e;
	unsigned count = 0;
	DIR *dir;

	assert_non_null(dir = opendir(golden_dir));
	while ((e = readdir(dir)) != NULL) {
		size_t len = strlen(e->d_name);
		struct buf out, want;

		if (len < 4 || strcmp(e->d_name + len - 3, ".in") != 0)
			continue;
		assert_int_equal(path_join(p, sizeof(p), golden_dir, e->d_name), 0);
		assert_int_equal(path_fmt(ref, sizeof(ref), "%s/%.*s.ref", golden_dir, (int)(len - 3),
					  e->d_name), 0);
		buf_init(&out, 0);
		buf_init(&want, 0);
		run_transcript(f, p, &out);
		if (getenv("OSD_GOLDEN_UPDATE") != NULL) {
			/* Regenerate the .ref files (then read every diff before committing). */
			FILE *w = fopen(ref, "w");
			assert_non_null(w);
			fwrite(out.data, 1, out.len, w);
			fclose(w);
		} else if (read_file(ref, &want) == -1) {
			fail_msg("%s: %s", ref, strerror(errno));
		} else if (out.len != want.len || memcmp(out.data, want.data, out.len) != 0) {
			fail_msg("%s: replies differ from %s:\n--- got ---\n%s--- want ---\n%s", p, ref,
				 out.data, want.data);
		}
		buf_free(&out);
		buf_free(&want);
		count++;
	}
	closedir(dir);
	assert_true(count >= 5);
}

/* Read the only file in queue/new into b. */
static void
read_queued(struct fixture *f, struct buf *b, unsigned *count_r)
{
	char newdir[PATH_MAX], p[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	*count_r = 0;
	assert_int_equal(path_join(newdir, sizeof(newdir), f->queue, "new"), 0);
	if ((dir = opendir(newdir)) == NULL)
		return;
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		assert_int_equal(path_join(p, sizeof(p), newdir, e->d_name), 0);
		buf_reset(b);
		assert_int_equal(read_file(p, b), 0);
		(*count_r)++;
	}
	closedir(dir);
}

static unsigned
send_line(struct smtp_session *s, const char *text, struct buf *out)
{
	return smtp_session_line(s, text, strlen(text), out);
}

/* What arrives in the queue: envelope, Received header, CRLF made LF, dots unstuffed. */
static void
test_queued_message_content(void **state)
{
	static const char body[] = "Subject: t\r\n\r\n..leading dot\r\nplain\r\n...\r\n.\r\nQUIT\r\n";
	struct fixture *f = *state;
	struct smtp_session_config cfg;
	struct smtp_session *s;
	struct queue_envelope_read env;
	struct buf out, file;
	unsigned act, count;
	char err[256];
	size_t used;

	base_config(f, &cfg);
	cfg.may_relay = true;
	buf_init(&out, 0);
	buf_init(&file, 0);
	assert_non_null(s = smtp_session_new(&cfg));
	send_line(s, "EHLO client.example\r\n", &out);
	send_line(s, "MAIL FROM:<sender@remote.example>\r\n", &out);
	send_line(s, "RCPT TO:<alice@example.test>\r\n", &out);
	send_line(s, "RCPT TO:<someone@elsewhere.example>\r\n", &out);
	act = send_line(s, "DATA\r\n", &out);
	assert_true(act & SMTP_ACT_DATA);
	used = smtp_session_data(s, body, sizeof(body) - 1, &out, &act);
	/* The pipelined QUIT after the terminator is left for the command loop. */
	assert_int_equal(used, sizeof(body) - 1 - strlen("QUIT\r\n"));
	assert_false(act & SMTP_ACT_DATA);
	assert_non_null(strstr(out.data, "250 2.0.0 Ok: queued as "));
	smtp_session_free(s);

	read_queued(f, &file, &count);
	assert_int_equal(count, 1);
	assert_int_equal(queue_envelope_parse(file.data, file.len, &env, err, sizeof(err)), 0);
	assert_string_equal(env.sender, "sender@remote.example");
	assert_int_equal(env.nrcpts, 2);
	assert_string_equal(env.rcpts[0], "alice@example.test");
	assert_string_equal(env.rcpts[1], "someone@elsewhere.example");
	assert_string_equal(env.client, "192.0.2.7");
	assert_string_equal(env.helo, "client.example");
	{
		const char *msg = file.data + env.body_offset;

		assert_true(strncmp(msg, "Received: from client.example ([192.0.2.7])\n\tby mx.example.test (osd) with ESMTP;", 79) == 0);
		assert_non_null(strstr(msg, "\nSubject: t\n\n.leading dot\nplain\n..\n"));
		assert_null(strchr(msg, '\r'));
		/* The terminator is not part of the message. */
		assert_int_equal(msg[strlen(msg) - 1], '\n');
		assert_null(strstr(msg, "\n.\n"));
	}
	queue_envelope_read_free(&env);
	buf_free(&out);
	buf_free(&file);
}

/* received_auth_user: the user goes between "from" and "by", as Postfix's smtpd_sasl_authenticated_header puts it. */
static void
test_received_names_auth_user(void **state)
{
	struct smtp_received r = { .helo = "c.example", .client_addr = "192.0.2.7",
				   .hostname = "mx.example.test", .esmtp = true, .when = 0 };
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(smtp_received_header(&out, &r), 0);
	assert_null(strstr(out.data, "Authenticated"));
	buf_reset(&out);
	r.auth_user = "alice@example.test";
	r.auth_user_pop = true;
	assert_int_equal(smtp_received_header(&out, &r), 0);
	assert_true(strncmp(out.data, "Received: from c.example ([192.0.2.7])\n"
			    "\t(Authenticated sender: alice@example.test, POP-before-SMTP)\n"
			    "\tby mx.example.test (osd) with ESMTP;", 123) == 0);
	buf_reset(&out);
	r.auth_user = "bob(x)";
	r.auth_user_pop = false;
	r.auth = true;
	assert_int_equal(smtp_received_header(&out, &r), 0);
	assert_non_null(strstr(out.data, "\n\t(Authenticated sender: bob?x?)\n\tby mx.example.test (osd) with ESMTPA;"));
	buf_free(&out);
}

/* Files left in queue/tmp. */
static unsigned
tmp_files(struct fixture *f)
{
	char tmp[PATH_MAX];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	assert_int_equal(path_join(tmp, sizeof(tmp), f->queue, "tmp"), 0);
	if ((d = opendir(tmp)) != NULL) {
		while ((e = readdir(d)) != NULL)
			n += e->d_name[0] != '.';
		closedir(d);
	}
	return n;
}

/* A message refused after DATA (bare LF) leaves nothing in the queue; the next one is queued. */
static void
test_refused_message_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct smtp_session_config cfg;
	struct smtp_session *s;
	struct buf out, file;
	unsigned act, count;
	const char *bad = "Subject: x\r\n\r\nsmuggle\n.\nMAIL FROM:<a@b>\r\n.\r\n";
	const char *good = "Subject: y\r\n\r\nfine\r\n.\r\n";

	base_config(f, &cfg);
	buf_init(&out, 0);
	buf_init(&file, 0);
	assert_non_null(s = smtp_session_new(&cfg));
	send_line(s, "HELO c\r\n", &out);
	send_line(s, "MAIL FROM:<>\r\n", &out);
	send_line(s, "RCPT TO:<alice@example.test>\r\n", &out);
	act = send_line(s, "DATA\r\n", &out);
	assert_int_equal(smtp_session_data(s, bad, strlen(bad), &out, &act), strlen(bad));
	assert_false(act & SMTP_ACT_DATA);
	assert_non_null(strstr(out.data, "\r\n550 5.6.11 "));
	read_queued(f, &file, &count);
	assert_int_equal(count, 0);
	/* Nothing was left behind in tmp/ either. */
	assert_int_equal(tmp_files(f), 0);
	send_line(s, "MAIL FROM:<>\r\n", &out);
	send_line(s, "RCPT TO:<alice@example.test>\r\n", &out);
	act = send_line(s, "DATA\r\n", &out);
	assert_int_equal(smtp_session_data(s, good, strlen(good), &out, &act), strlen(good));
	read_queued(f, &file, &count);
	assert_int_equal(count, 1);
	smtp_session_free(s);
	buf_free(&out);
	buf_free(&file);
}

/* AUTH CRAM-MD5 with the challenge the session really sent (RFC 2195). */
static void
test_auth_cram_md5(void **state)
{
	struct fixture *f = *state;
	struct smtp_session_config cfg;
	struct smtp_session *s;
	struct buf out, resp;
	char challenge[CRAM_CHALLENGE_SIZE], hex[CRAM_HEX_SIZE], line[600];
	unsigned char decoded[CRAM_CHALLENGE_SIZE];
	size_t dlen;
	const char *p;
	unsigned act;

	base_config(f, &cfg);
	cfg.advertise_cram_md5 = true;
	buf_init(&out, 0);
	buf_init(&resp, 0);
	assert_non_null(s = smtp_session_new(&cfg));
	send_line(s, "EHLO c\r\n", &out);
	/* CRAM-MD5 is offered without TLS (the password never crosses the wire); PLAIN is not. */
	assert_non_null(strstr(out.data, "250-AUTH CRAM-MD5\r\n"));
	buf_reset(&out);
	send_line(s, "AUTH CRAM-MD5\r\n", &out);
	assert_true(strncmp(out.data, "334 ", 4) == 0);
	p = out.data + 4;
	assert_int_equal(base64_decode(p, strcspn(p, "\r"), decoded, sizeof(decoded) - 1, &dlen), 0);
	memcpy(challenge, decoded, dlen);
	challenge[dlen] = '\0';
	assert_int_equal(cram_md5_digest(challenge, "secret", hex), 0);
	snprintf(line, sizeof(line), "alice %s", hex);
	assert_int_equal(base64_encode(&resp, line, strlen(line)), 0);
	assert_int_equal(buf_append_str(&resp, "\r\n"), 0);
	buf_reset(&out);
	act = smtp_session_line(s, resp.data, resp.len, &out);
	assert_string_equal(out.data, "235 2.7.0 Authentication successful\r\n");
	assert_true(act & SMTP_ACT_AUTH_OK);
	assert_string_equal(smtp_session_auth_user(s), "alice");
	/* Authenticated: relaying to any domain. */
	buf_reset(&out);
	send_line(s, "MAIL FROM:<alice@example.test>\r\n", &out);
	send_line(s, "RCPT TO:<x@far.example>\r\n", &out);
	assert_string_equal(out.data, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
	smtp_session_free(s);

	/* A wrong digest fails and says so. */
	buf_reset(&out);
	assert_non_null(s = smtp_session_new(&cfg));
	send_line(s, "EHLO c\r\n", &out);
	send_line(s, "AUTH CRAM-MD5\r\n", &out);
	buf_reset(&resp);
	assert_int_equal(base64_encode(&resp, "alice 00000000000000000000000000000000", 38), 0);
	assert_int_equal(buf_append_str(&resp, "\r\n"), 0);
	buf_reset(&out);
	act = smtp_session_line(s, resp.data, resp.len, &out);
	assert_string_equal(out.data, "535 5.7.8 Authentication credentials invalid\r\n");
	assert_true(act & SMTP_ACT_AUTH_FAILED);
	smtp_session_free(s);
	buf_free(&out);
	buf_free(&resp);
}

/*
 * The queue file cannot be written (here: a file size limit, standing in
 * for a full disk): 451 after the data, nothing in new/ nor in tmp/, and
 * the session goes on.
 */
static void
test_queue_write_failure_gives_451(void **state)
{
	struct fixture *f = *state;
	struct smtp_session_config cfg;
	struct smtp_session *s;
	struct rlimit old, lim = { .rlim_cur = 32 * 1024, .rlim_max = RLIM_INFINITY };
	struct buf out, file, body;
	unsigned act, count, i;

	base_config(f, &cfg);
	buf_init(&out, 0);
	buf_init(&file, 0);
	buf_init(&body, 0);
	for (i = 0; i < 2000; i++)
		assert_int_equal(buf_append_str(&body, "0123456789012345678901234567890123456789\r\n"), 0);
	assert_int_equal(buf_append_str(&body, ".\r\n"), 0);
	assert_non_null(s = smtp_session_new(&cfg));
	send_line(s, "HELO c\r\n", &out);
	send_line(s, "MAIL FROM:<a@b.example>\r\n", &out);
	send_line(s, "RCPT TO:<alice@example.test>\r\n", &out);
	act = send_line(s, "DATA\r\n", &out);
	assert_true(act & SMTP_ACT_DATA);
	buf_reset(&out);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(smtp_session_data(s, body.data, body.len, &out, &act), body.len);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_string_equal(out.data, "451 4.3.0 Error: queue file write error\r\n");
	assert_false(act & SMTP_ACT_DATA);
	read_queued(f, &file, &count);
	assert_int_equal(count, 0);
	assert_int_equal(tmp_files(f), 0);
	/* The connection stays usable: the next message is queued. */
	buf_reset(&out);
	send_line(s, "MAIL FROM:<a@b.example>\r\n", &out);
	send_line(s, "RCPT TO:<alice@example.test>\r\n", &out);
	act = send_line(s, "DATA\r\n", &out);
	assert_int_equal(smtp_session_data(s, "x\r\n.\r\n", 6, &out, &act), 6);
	assert_non_null(strstr(out.data, "250 2.0.0 Ok: queued as "));
	smtp_session_free(s);
	buf_free(&out);
	buf_free(&file);
	buf_free(&body);
}

/* A bare <postmaster> is the postmaster of control/me when that is a virtual domain here. */
static void
test_bare_postmaster(void **state)
{
	struct fixture *f = *state;
	struct smtp_session_config cfg;
	struct smtp_session *s;
	struct queue_envelope_read env;
	struct policy *pol;
	struct buf out, file;
	char vp[PATH_MAX], err[256];
	unsigned act, count;
	FILE *fp;

	write_file(f->control, "me", "example.test\n");
	assert_int_equal(path_fmt(vp, sizeof(vp), "%s/example.test/vpasswd", f->users), 0);
	assert_non_null(fp = fopen(vp, "a"));
	fprintf(fp, "postmaster:x:1:0:PM:%s/example.test/postmaster:NOQUOTA\n", f->users);
	fclose(fp);
	assert_non_null(pol = policy_load(f->control, f->users, err, sizeof(err)));
	base_config(f, &cfg);
	cfg.hostname = "example.test";
	cfg.policy = pol;
	buf_init(&out, 0);
	buf_init(&file, 0);
	assert_non_null(s = smtp_session_new(&cfg));
	send_line(s, "HELO c\r\n", &out);
	send_line(s, "MAIL FROM:<>\r\n", &out);
	buf_reset(&out);
	send_line(s, "RCPT TO:<Postmaster>\r\n", &out);
	assert_string_equal(out.data, "250 2.1.5 Ok\r\n");
	act = send_line(s, "DATA\r\n", &out);
	assert_int_equal(smtp_session_data(s, "x\r\n.\r\n", 6, &out, &act), 6);
	smtp_session_free(s);
	read_queued(f, &file, &count);
	assert_int_equal(count, 1);
	assert_int_equal(queue_envelope_parse(file.data, file.len, &env, err, sizeof(err)), 0);
	assert_int_equal(env.nrcpts, 1);
	assert_string_equal(env.rcpts[0], "postmaster@example.test");
	queue_envelope_read_free(&env);
	policy_free(pol);
	buf_free(&out);
	buf_free(&file);
}

/* A login name with a byte of 0x80 or more is refused before the password hook, as in osd pop3d. */
static void
test_auth_8bit_login_name_refused(void **state)
{
	struct fixture *f = *state;
	struct smtp_session_config cfg;
	struct smtp_session *s;
	struct buf out;

	base_config(f, &cfg);
	cfg.auth_plaintext_ok = true;
	buf_init(&out, 0);
	assert_non_null(s = smtp_session_new(&cfg));
	send_line(s, "EHLO c\r\n", &out);
	buf_reset(&out);
	/* "\0caf\xc3\xa9\0secret" */
	assert_true(send_line(s, "AUTH PLAIN AGNhZsOpAHNlY3JldA==\r\n", &out) & SMTP_ACT_AUTH_FAILED);
	assert_string_equal(out.data, "535 5.7.8 Authentication credentials invalid\r\n");
	assert_string_equal(smtp_session_error(s), "invalid login name");
	assert_string_equal(smtp_session_auth_login(s), "(invalid)");
	smtp_session_free(s);
	buf_free(&out);
}

/* ----- the message sink, faked in memory ----- */

/* A sink holding one message at a time in memory, failing where told to. */
struct fake_sink {
	struct buf data;                /* the octets written to the open message */
	unsigned begins, writes, commits, aborts;
	unsigned open;                  /* messages begun and neither committed nor aborted */
	int fail_begin, fail_write, fail_commit;        /* the errno to fail with; 0: succeed */
	char sender[SMTP_PATH_MAX + 1];
	size_t nrcpts;
};

static void *
fake_begin(void *ctx, const struct queue_envelope *env, char *err, size_t errsize)
{
	struct fake_sink *k = ctx;

	if (k->fail_begin != 0) {
		snprintf(err, errsize, "fake begin failure");
		errno = k->fail_begin;
		return NULL;
	}
	assert_int_equal(k->open, 0);
	k->begins++;
	k->open++;
	snprintf(k->sender, sizeof(k->sender), "%s", env->sender);
	k->nrcpts = env->nrcpts;
	buf_reset(&k->data);
	return k;
}

static int
fake_write(void *msg, const void *data, size_t len, char *err, size_t errsize)
{
	struct fake_sink *k = msg;

	assert_int_equal(k->open, 1);
	k->writes++;
	if (k->fail_write != 0) {
		snprintf(err, errsize, "fake write failure");
		errno = k->fail_write;
		return -1;
	}
	assert_int_equal(buf_append(&k->data, data, len), 0);
	return 0;
}

static int
fake_commit(void *msg, char id_r[QUEUE_ID_MAX + 1], char *err, size_t errsize)
{
	struct fake_sink *k = msg;

	assert_int_equal(k->open, 1);
	k->open--;
	if (k->fail_commit != 0) {
		snprintf(err, errsize, "fake commit failure");
		errno = k->fail_commit;
		return -1;
	}
	k->commits++;
	snprintf(id_r, QUEUE_ID_MAX + 1, "FAKE%u", k->commits);
	return 0;
}

static void
fake_abort(void *msg)
{
	struct fake_sink *k = msg;

	assert_int_equal(k->open, 1);
	k->open--;
	k->aborts++;
}

static const struct smtp_sink fake_sink_ops = {
	.begin = fake_begin, .write = fake_write, .commit = fake_commit, .abort = fake_abort,
};

/* A session over the fake sink k, through MAIL and RCPT to alice. */
static struct smtp_session *
fake_session(struct fixture *f, struct fake_sink *k, struct buf *out)
{
	struct smtp_session_config cfg;
	struct smtp_session *s;

	base_config(f, &cfg);
	cfg.sink = &fake_sink_ops;
	cfg.sink_ctx = k;
	assert_non_null(s = smtp_session_new(&cfg));
	send_line(s, "EHLO c.example\r\n", out);
	send_line(s, "MAIL FROM:<a@b.example>\r\n", out);
	send_line(s, "RCPT TO:<alice@example.test>\r\n", out);
	buf_reset(out);
	return s;
}

/* DATA and a whole message; returns the action bits after it. */
static unsigned
send_message(struct smtp_session *s, const char *body, struct buf *out)
{
	unsigned act = send_line(s, "DATA\r\n", out);

	assert_true(act & SMTP_ACT_DATA);
	buf_reset(out);
	assert_int_equal(smtp_session_data(s, body, strlen(body), out, &act), strlen(body));
	assert_false(act & SMTP_ACT_DATA);
	return act;
}

/* The events of a message the sink failed: the sink's error, then the message, not queued. */
static void
assert_sink_failed(const struct smtp_session *s, enum smtp_event_type type, const char *why)
{
	size_t n;
	const struct smtp_event *ev = smtp_session_events(s, &n);

	assert_int_equal(n, 2);
	assert_int_equal(ev[0].type, type);
	assert_string_equal(ev[0].why, why);
	assert_int_equal(ev[1].type, SMTP_EVENT_MESSAGE);
	assert_string_equal(ev[1].result, "queue-error");
	assert_string_equal(ev[1].id, "-");
}

/*
 * A failed commit: 451 (or 452 for a full disk), never 250, nothing kept;
 * the events say why and that the message was not queued.  A commit that
 * succeeds is what the 250 and its id come from.
 */
static void
test_sink_commit_failure_gives_451_452(void **state)
{
	struct fixture *f = *state;
	struct fake_sink k = { .fail_commit = EIO };
	const struct smtp_event *ev;
	struct smtp_session *s;
	struct buf out;
	size_t n;

	buf_init(&out, 0);
	buf_init(&k.data, 0);
	s = fake_session(f, &k, &out);
	send_message(s, "Subject: x\r\n\r\nbody\r\n.\r\n", &out);
	assert_string_equal(out.data, "451 4.3.0 Error: queue file write error\r\n");
	assert_int_equal(k.commits, 0);
	assert_int_equal(k.open, 0);
	assert_int_equal(k.aborts, 0);
	assert_sink_failed(s, SMTP_EVENT_SINK_COMMIT_FAILED, "fake commit failure");
	assert_int_equal(smtp_session_stats(s)->messages, 0);

	/* A full disk at commit: 452, so the client tries again later. */
	k.fail_commit = ENOSPC;
	send_line(s, "MAIL FROM:<a@b.example>\r\n", &out);
	send_line(s, "RCPT TO:<alice@example.test>\r\n", &out);
	send_message(s, "x\r\n.\r\n", &out);
	assert_string_equal(out.data, "452 4.3.1 Insufficient system storage\r\n");
	assert_int_equal(k.commits, 0);

	/* The session goes on; a commit that works gives the 250 with the sink's id. */
	k.fail_commit = 0;
	send_line(s, "MAIL FROM:<a@b.example>\r\n", &out);
	send_line(s, "RCPT TO:<alice@example.test>\r\n", &out);
	send_message(s, "Subject: y\r\n\r\n..dot\r\n.\r\n", &out);
	assert_string_equal(out.data, "250 2.0.0 Ok: queued as FAKE1\r\n");
	assert_int_equal(k.commits, 1);
	assert_int_equal(k.begins, 3);
	assert_string_equal(k.sender, "a@b.example");
	assert_int_equal(k.nrcpts, 1);
	assert_non_null(strstr(k.data.data, "\nSubject: y\n\n.dot\n"));
	assert_true(strncmp(k.data.data, "Received: from c.example ([192.0.2.7])", 38) == 0);
	ev = smtp_session_events(s, &n);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, SMTP_EVENT_MESSAGE);
	assert_string_equal(ev[0].result, "queued");
	assert_string_equal(ev[0].id, "FAKE1");
	assert_string_equal(ev[0].from, "a@b.example");
	assert_string_equal(ev[0].to, "<alice@example.test>(local)");
	assert_string_equal(ev[0].helo, "c.example");
	assert_string_equal(ev[0].auth_user, "-");
	/* The octets as sent, terminator excluded: "Subject: y\r\n\r\n..dot\r\n". */
	assert_int_equal(ev[0].size, 21);
	assert_int_equal(smtp_session_stats(s)->messages, 1);
	assert_int_equal(k.open, 0);
	smtp_session_free(s);
	buf_free(&out);
	buf_free(&k.data);
}

/* A write or begin failure: 451/452 after the data (or at DATA), the message aborted, never committed. */
static void
test_sink_write_and_begin_failures(void **state)
{
	struct fixture *f = *state;
	struct fake_sink k = { .fail_write = EDQUOT };
	const struct smtp_event *ev;
	struct smtp_session *s;
	struct buf out;
	unsigned act;
	size_t n;

	buf_init(&out, 0);
	buf_init(&k.data, 0);
	s = fake_session(f, &k, &out);
	send_message(s, "x\r\n.\r\n", &out);
	assert_string_equal(out.data, "452 4.3.1 Insufficient system storage\r\n");
	assert_int_equal(k.commits, 0);
	assert_int_equal(k.aborts, 1);
	assert_int_equal(k.open, 0);
	assert_sink_failed(s, SMTP_EVENT_SINK_WRITE_FAILED, "fake write failure");

	k.fail_write = 0;
	k.fail_begin = EIO;
	send_line(s, "MAIL FROM:<a@b.example>\r\n", &out);
	send_line(s, "RCPT TO:<alice@example.test>\r\n", &out);
	buf_reset(&out);
	act = send_line(s, "DATA\r\n", &out);
	assert_false(act & SMTP_ACT_DATA);
	assert_string_equal(out.data, "451 4.3.0 Error: queue file write error\r\n");
	ev = smtp_session_events(s, &n);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, SMTP_EVENT_SINK_BEGIN_FAILED);
	assert_string_equal(ev[0].why, "fake begin failure");
	assert_int_equal(k.begins, 1);
	assert_int_equal(k.commits, 0);
	smtp_session_free(s);
	buf_free(&out);
	buf_free(&k.data);
}

/*
 * Every begun message ends in exactly one commit or abort: a refused
 * message and the connection ending mid-DATA abort it; MAIL, RCPT and
 * RSET never begin one (the sink sees a message only from DATA on).
 */
static void
test_sink_abort_on_refusal_and_connection_end(void **state)
{
	struct fixture *f = *state;
	struct fake_sink k = { 0 };
	struct smtp_session *s;
	struct buf out;
	unsigned act;

	buf_init(&out, 0);
	buf_init(&k.data, 0);
	s = fake_session(f, &k, &out);
	assert_int_equal(k.begins, 0);
	/* A bare LF before the terminator: 550, the message dropped. */
	send_message(s, "Subject: x\r\n\r\nsmuggle\n.\nMAIL FROM:<a@b>\r\n.\r\n", &out);
	assert_non_null(strstr(out.data, "550 5.6.11 "));
	assert_int_equal(k.aborts, 1);
	assert_int_equal(k.commits, 0);
	assert_int_equal(k.open, 0);
	assert_string_equal(smtp_session_events(s, &(size_t){ 0 })[0].result, "refused");

	send_line(s, "MAIL FROM:<a@b.example>\r\n", &out);
	send_line(s, "RCPT TO:<alice@example.test>\r\n", &out);
	send_line(s, "RSET\r\n", &out);
	assert_int_equal(k.begins, 1);
	assert_int_equal(k.open, 0);

	/* The connection ends in the middle of DATA. */
	send_line(s, "MAIL FROM:<a@b.example>\r\n", &out);
	send_line(s, "RCPT TO:<alice@example.test>\r\n", &out);
	act = send_line(s, "DATA\r\n", &out);
	assert_true(act & SMTP_ACT_DATA);
	assert_int_equal(smtp_session_data(s, "half a line", 11, &out, &act), 11);
	assert_true(act & SMTP_ACT_DATA);
	assert_int_equal(k.open, 1);
	smtp_session_free(s);
	assert_int_equal(k.open, 0);
	assert_int_equal(k.aborts, 2);
	assert_int_equal(k.commits, 0);
	buf_free(&out);
	buf_free(&k.data);
}

/* Refusals come back as events (the log is smtp_serve.c's); each call returns only its own. */
static void
test_refusals_are_events(void **state)
{
	struct fixture *f = *state;
	struct fake_sink k = { 0 };
	const struct smtp_event *ev;
	struct smtp_session_config cfg;
	struct smtp_session *s;
	struct buf out;
	size_t n;

	base_config(f, &cfg);
	cfg.sink = &fake_sink_ops;
	cfg.sink_ctx = &k;
	buf_init(&out, 0);
	assert_non_null(s = smtp_session_new(&cfg));
	send_line(s, "HELO c.example\r\n", &out);
	assert_int_equal((smtp_session_events(s, &n), n), 0);
	send_line(s, "MAIL FROM:<spam@bad.example>\r\n", &out);
	ev = smtp_session_events(s, &n);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, SMTP_EVENT_REFUSED_SENDER);
	assert_string_equal(ev[0].from, "spam@bad.example");
	assert_string_equal(ev[0].helo, "c.example");
	send_line(s, "MAIL FROM:<a@b.example>\r\n", &out);
	assert_int_equal((smtp_session_events(s, &n), n), 0);
	send_line(s, "RCPT TO:<nobody@example.test>\r\n", &out);
	ev = smtp_session_events(s, &n);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, SMTP_EVENT_REFUSED_RCPT);
	assert_string_equal(ev[0].from, "a@b.example");
	assert_string_equal(ev[0].to, "nobody@example.test");
	assert_string_equal(ev[0].why, "unknown user");
	send_line(s, "GET / HTTP/1.1\r\n", &out);
	ev = smtp_session_events(s, &n);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, SMTP_EVENT_HTTP);
	smtp_session_free(s);
	assert_int_equal(k.begins, 0);
	buf_free(&out);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_golden_transcripts, setup, teardown),
		cmocka_unit_test(test_received_names_auth_user),
		cmocka_unit_test_setup_teardown(test_auth_8bit_login_name_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queued_message_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_message_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_cram_md5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_postmaster, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_write_failure_gives_451, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink_commit_failure_gives_451_452, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink_write_and_begin_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sink_abort_on_refusal_and_connection_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_are_events, setup, teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s GOLDEN_DIR\n", argv[0]);
		return 2;
	}
	golden_dir = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
