/* fuzz_pop3_cmd.c - fuzz target: POP3 command lines through pop3d's session (RFC 1939, 2449, 5034), logged in to a small Maildir so that the TRANSACTION commands are reached too. */
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "path.h"
#include "maildir.h"
#include "pop3_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The Maildir the fuzzed user logs in to: its home folder, made at the first input. */
static char home[64];

/* Every message is in cur/ and seen, so a session changes no name; QUIT (which deletes) is not passed on. */
static const char *const messages[][2] = {
	{ "1700000000.M1P1.fuzz,S=60:2,S", "Subject: one\r\n\r\nbody line\r\n.dot-stuffed\r\nend\r\n" },
	{ "1700000001.M2P1.fuzz:2,FS", "From: a@example.org\nSubject: two\n\nbare LF body\n" },
	{ "1700000002.M3P1.fuzz:2,S", "" },
};

static void
remove_home(void)
{
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
		if (path_fmt(p, sizeof(p), "%s/Maildir/cur/%s", home, messages[i][0]) == 0)
			unlink(p);
	/* maildir_open's lock file (MAILDIR_OPEN_LOCK). */
	if (path_fmt(p, sizeof(p), "%s/Maildir/" MAILDIR_LOCK_NAME, home) == 0)
		unlink(p);
	for (const char *const *d = (const char *const[]){ "cur", "new", "tmp", "", NULL }; *d; d++)
		if (path_fmt(p, sizeof(p), "%s/Maildir/%s", home, *d) == 0)
			rmdir(p);
	rmdir(home);
}

/* Make (at the first call) or mend the Maildir: a message a run removed comes back. */
static void
ensure_maildir(void)
{
	char p[PATH_MAX];

	if (home[0] == '\0') {
		snprintf(home, sizeof(home), "/tmp/osd-fuzz-pop3.XXXXXX");
		if (mkdtemp(home) == NULL)
			abort();
		atexit(remove_home);
		for (const char *const *d = (const char *const[]){ "", "/cur", "/new", "/tmp", NULL }; *d; d++)
			if (path_fmt(p, sizeof(p), "%s/Maildir%s", home, *d) == -1 || mkdir(p, 0700) == -1)
				abort();
	}
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
		int fd;

		if (path_fmt(p, sizeof(p), "%s/Maildir/cur/%s", home, messages[i][0]) == -1)
			abort();
		if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
			continue;
		if (write(fd, messages[i][1], strlen(messages[i][1])) != (ssize_t)strlen(messages[i][1]))
			abort();
		close(fd);
	}
}

/* alice / "secret pass" logs in; "temp" makes the user database fail. */
static int
check_password(void *ctx, const char *login, const char *password, char **home_r, char *err,
	       size_t errsize)
{
	(void)ctx;
	if (strcmp(login, "temp") == 0) {
		snprintf(err, errsize, "database unreadable");
		return SESSION_CHECK_TEMPFAIL;
	}
	if (strcmp(login, "alice") != 0 || strcmp(password, "secret pass") != 0) {
		snprintf(err, errsize, "wrong password");
		return SESSION_CHECK_BAD;
	}
	if ((*home_r = strdup(home)) == NULL)
		abort();
	return SESSION_CHECK_OK;
}

/* APOP and CRAM-MD5: alice's cleartext secret. */
static int
get_secret(void *ctx, const char *login, char **secret_r, char **home_r, char *err,
	   size_t errsize)
{
	(void)ctx;
	if (strcmp(login, "alice") != 0) {
		snprintf(err, errsize, "no such user");
		return SESSION_CHECK_BAD;
	}
	if ((*secret_r = strdup("secret pass")) == NULL || (*home_r = strdup(home)) == NULL)
		abort();
	return SESSION_CHECK_OK;
}

/* QUIT in TRANSACTION would delete the DELE'd messages: end the session without it. */
static bool
is_quit(const char *line, size_t len)
{
	return len >= 4 && strncasecmp(line, "QUIT", 4) == 0 &&
	       (len == 4 || line[4] == ' ' || line[4] == '\r');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct session_config cfg = {
		.tls_available = true,
		.client_loopback = true,
		.check_password = check_password,
		.get_secret = get_secret,
		.advertise_cram_md5 = true,
		.hostname = "fuzz.example",
	};
	struct session *s;
	struct buf out;
	unsigned act = 0;

	ensure_maildir();
	buf_init(&out, 0);
	s = session_new(&cfg);
	session_greeting(s, &out);
	while (p < end && !(act & SESSION_ACT_CLOSE)) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl + 1 : end) - p);

		/* The server loop passes at most SESSION_LINE_MAX + 1 octets of a line. */
		if (len > SESSION_LINE_MAX + 1)
			len = SESSION_LINE_MAX + 1;
		if (session_logged_in(s) && is_quit(p, len))
			break;
		buf_reset(&out);
		act = session_input_line(s, p, len, &out);
		while (act & SESSION_ACT_STREAM)
			act = (act & ~(unsigned)SESSION_ACT_STREAM) | session_stream(s, &out);
		if (act & SESSION_ACT_STARTTLS)
			session_tls_started(s);
		/* Every reply is whole: it ends in CRLF. */
		if (out.len < 2 || out.data[out.len - 2] != '\r' || out.data[out.len - 1] != '\n')
			abort();
		p = nl != NULL ? nl + 1 : end;
	}
	session_free(s);
	buf_free(&out);
	return 0;
}
