/* test_smtp_queue.c - unit tests for the queue writer and the envelope parser (smtp-gate/queue/queue.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "path.h"
#include "queue.h"
#include "testutil.h"

static const char *const two_rcpts[] = { "bob@example.net", "carol@example.com" };

static struct queue_envelope
sample_envelope(void)
{
	struct queue_envelope env = {
		.sender = "alice@example.org",
		.rcpts = two_rcpts,
		.nrcpts = 2,
		.client = "192.0.2.7",
		.helo = "laptop.example.org",
		.auth_user = "alice@example.org",
		.received = 1718000000,
	};

	return env;
}

/* The whole file, NUL-terminated (the parser wants a writable copy anyway). */
static char *
slurp(const char *path, size_t *len_r)
{
	struct buf b;
	char chunk[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	buf_init(&b, 0);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		assert_int_equal(buf_append(&b, chunk, (size_t)n), 0);
	assert_true(n == 0);
	close(fd);
	if (b.data == NULL)
		assert_int_equal(buf_append(&b, "", 0), 0);
	*len_r = b.len;
	return b.data;
}

/* Entries of dir/sub other than . and .. (-1 when the folder is missing). */
static int
count_entries(const char *dir, const char *sub)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_int_equal(path_join(path, sizeof(path), dir, sub), 0);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Files of dir/new marked complete (what the queue manager would take). */
static int
count_complete(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int n = 0;

	assert_int_equal(path_join(path, sizeof(path), dir, "new"), 0);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
		    queue_file_complete(&st))
			n++;
	closedir(d);
	return n;
}

static bool
id_chars_ok(const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len > QUEUE_ID_MAX)
		return false;
	for (; *id != '\0'; id++)
		if (!((*id >= '0' && *id <= '9') || (*id >= 'a' && *id <= 'z') ||
		      (*id >= 'A' && *id <= 'Z') || *id == '.'))
			return false;
	return true;
}

/* Queue one message with body text; returns 0 or -1 (no cmocka: usable in children). */
static int
queue_one(const char *dir, bool do_fsync, const char *body, size_t len, char id[QUEUE_ID_MAX + 1])
{
	struct queue_envelope env = sample_envelope();
	struct queue_writer *w;
	char err[256];

	if ((w = queue_begin(dir, do_fsync, &env, err, sizeof(err))) == NULL)
		return -1;
	if (queue_write(w, body, len, err, sizeof(err)) == -1) {
		queue_abort(w);
		return -1;
	}
	return queue_commit(w, id, err, sizeof(err));
}

static void
test_smtp_queue_round_trip_keeps_envelope_and_body(void **state)
{
	struct queue_envelope env = sample_envelope();
	struct queue_envelope_read got;
	struct queue_writer *w;
	char id[QUEUE_ID_MAX + 1], err[256], path[PATH_MAX];
	char *big, *data;
	size_t biglen = 200000, len, off;

	/* Small pieces, then one larger than the buffer: both paths of the writer. */
	big = malloc(biglen);
	assert_non_null(big);
	for (size_t i = 0; i < biglen; i++)
		big[i] = (i % 80 == 79) ? '\n' : (char)('a' + i % 26);
	w = queue_begin(*state, true, &env, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(queue_write(w, "Subject: hi\n", 12, err, sizeof(err)), 0);
	assert_int_equal(queue_write(w, "\n", 1, err, sizeof(err)), 0);
	assert_int_equal(queue_write(w, big, biglen, err, sizeof(err)), 0);
	/* Written in new/ itself, but not marked complete before commit. */
	assert_int_equal(count_entries(*state, "new"), 1);
	assert_int_equal(count_complete(*state), 0);
	assert_int_equal(queue_commit(w, id, err, sizeof(err)), 0);
	assert_true(id_chars_ok(id));
	assert_int_equal(count_entries(*state, "new"), 1);
	assert_int_equal(count_complete(*state), 1);
	assert_int_equal(count_entries(*state, "tmp"), -1);

	assert_int_equal(path_fmt(path, sizeof(path), "%s/new/%s", (char *)*state, id), 0);
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
	}
	data = slurp(path, &len);
	assert_int_equal(queue_envelope_parse(data, len, &got, err, sizeof(err)), 0);
	assert_string_equal(got.sender, "alice@example.org");
	assert_string_equal(got.client, "192.0.2.7");
	assert_string_equal(got.helo, "laptop.example.org");
	assert_string_equal(got.auth_user, "alice@example.org");
	assert_int_equal(got.received, 1718000000);
	assert_int_equal(got.nrcpts, 2);
	assert_string_equal(got.rcpts[0], "bob@example.net");
	assert_string_equal(got.rcpts[1], "carol@example.com");
	off = got.body_offset;
	assert_int_equal(len - off, 13 + biglen);
	assert_memory_equal(data + off, "Subject: hi\n\n", 13);
	assert_memory_equal(data + off + 13, big, biglen);
	queue_envelope_read_free(&got);
	free(data);
	free(big);
}

static void
test_smtp_queue_file_format_is_the_documented_text(void **state)
{
	static const char *const one[] = { "bob@example.net" };
	struct queue_envelope env = {
		.sender = "", .rcpts = one, .nrcpts = 1, .client = "2001:db8::1",
		.helo = "", .auth_user = NULL, .received = 1718000000,
	};
	struct queue_writer *w;
	char id[QUEUE_ID_MAX + 1], err[256], path[PATH_MAX];
	char *data;
	size_t len;

	w = queue_begin(*state, false, &env, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(queue_write(w, "body\n", 5, err, sizeof(err)), 0);
	assert_int_equal(queue_commit(w, id, err, sizeof(err)), 0);
	assert_int_equal(path_fmt(path, sizeof(path), "%s/new/%s", (char *)*state, id), 0);
	data = slurp(path, &len);
	/* The null reverse-path and an empty HELO are empty values; no auth line. */
	assert_string_equal(data, "osd-queue 1\n"
			    "received 1718000000\n"
			    "client 2001:db8::1\n"
			    "helo \n"
			    "from \n"
			    "to bob@example.net\n"
			    "\n"
			    "body\n");
	free(data);
}

static void
test_smtp_queue_empty_body_round_trips(void **state)
{
	struct queue_envelope_read got;
	char id[QUEUE_ID_MAX + 1], err[256], path[PATH_MAX];
	char *data;
	size_t len;

	assert_int_equal(queue_one(*state, false, "", 0, id), 0);
	assert_int_equal(path_fmt(path, sizeof(path), "%s/new/%s", (char *)*state, id), 0);
	data = slurp(path, &len);
	assert_int_equal(queue_envelope_parse(data, len, &got, err, sizeof(err)), 0);
	assert_int_equal(got.body_offset, len);
	queue_envelope_read_free(&got);
	free(data);
}

static void
test_smtp_queue_creates_missing_folders_private(void **state)
{
	char dir[PATH_MAX], sub[PATH_MAX], id[QUEUE_ID_MAX + 1];
	struct stat st;
	mode_t old = umask(022);

	assert_int_equal(path_join(dir, sizeof(dir), *state, "state/queue"), 0);
	assert_int_equal(queue_one(dir, true, "x\n", 2, id), 0);
	umask(old);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(path_join(sub, sizeof(sub), dir, "new"), 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(count_entries(dir, "new"), 1);
}

static void
test_smtp_queue_abort_leaves_nothing(void **state)
{
	struct queue_envelope env = sample_envelope();
	struct queue_writer *w;
	char err[256];

	w = queue_begin(*state, true, &env, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(queue_write(w, "partial", 7, err, sizeof(err)), 0);
	assert_int_equal(count_entries(*state, "new"), 1);
	queue_abort(w);
	assert_int_equal(count_entries(*state, "new"), 0);
	queue_abort(NULL);
}

static void
test_smtp_queue_ids_unique_and_sorted_over_1000_messages(void **state)
{
	char prev[QUEUE_ID_MAX + 1] = "", id[QUEUE_ID_MAX + 1];

	for (int i = 0; i < 1000; i++) {
		assert_int_equal(queue_one(*state, false, "x\n", 2, id), 0);
		assert_true(id_chars_ok(id));
		/* Arrival order is string order. */
		assert_true(strcmp(prev, id) < 0);
		memcpy(prev, id, sizeof(id));
	}
	assert_int_equal(count_entries(*state, "new"), 1000);
}

static void
test_smtp_queue_ids_unique_across_forked_writers(void **state)
{
	enum { WRITERS = 20, EACH = 50 };
	pid_t pids[WRITERS];
	int status;

	/* Each child has its own copy of the id clock: only the pid keeps them apart. */
	for (int i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			char id[QUEUE_ID_MAX + 1];

			for (int j = 0; j < EACH; j++)
				if (queue_one(*state, false, "x\n", 2, id) == -1)
					_exit(1);
			_exit(0);
		}
	}
	for (int i = 0; i < WRITERS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* A shared name would have failed a commit or replaced a message. */
	assert_int_equal(count_entries(*state, "new"), WRITERS * EACH);
	assert_int_equal(count_complete(*state), WRITERS * EACH);
}

/* Child of the debris test: begin a message, say so on fd, then wait to be killed. */
static void
write_then_hang(const char *dir, int fd)
{
	struct queue_envelope env = sample_envelope();
	struct queue_writer *w;
	char err[256];

	if ((w = queue_begin(dir, true, &env, err, sizeof(err))) == NULL ||
	    queue_write(w, "half a mess", 11, err, sizeof(err)) == -1 ||
	    write(fd, "x", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/* The only file in dir/new into name (exactly one there). */
static void
only_name(const char *dir, char name[NAME_MAX + 1])
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_int_equal(path_join(path, sizeof(path), dir, "new"), 0);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && n++ == 0)
			snprintf(name, NAME_MAX + 1, "%s", de->d_name);
	closedir(d);
	assert_int_equal(n, 1);
}

static void
test_smtp_queue_debris_removed_only_when_its_writer_is_gone(void **state)
{
	char path[PATH_MAX], name[NAME_MAX + 1], id[QUEUE_ID_MAX + 1];
	int p[2], status, dfd;
	pid_t pid;
	char c;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		write_then_hang(*state, p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(path_join(path, sizeof(path), *state, "new"), 0);
	dfd = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	only_name(*state, name);
	/* A live writer's file: unmarked, but locked, so it stays. */
	assert_int_equal(queue_clean_debris(dfd, name), 0);
	assert_int_equal(count_entries(*state, "new"), 1);
	assert_int_equal(count_complete(*state), 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* Its writer is gone: debris, removed. */
	assert_int_equal(queue_clean_debris(dfd, name), 1);
	assert_int_equal(count_entries(*state, "new"), 0);
	assert_int_equal(queue_clean_debris(dfd, name), 0);
	/* A complete message is never debris. */
	assert_int_equal(queue_one(*state, true, "x\n", 2, id), 0);
	assert_int_equal(queue_clean_debris(dfd, id), 0);
	assert_int_equal(count_complete(*state), 1);
	close(dfd);
	close(p[0]);
	close(p[1]);
}

static void
test_smtp_queue_unwritable_new_folder_leaves_nothing(void **state)
{
	char path[PATH_MAX], err[256];
	struct queue_envelope env = sample_envelope();
	char id[QUEUE_ID_MAX + 1];

	if (geteuid() == 0)
		skip();         /* root writes into a 0500 folder anyway */
	assert_int_equal(queue_one(*state, true, "x\n", 2, id), 0);
	assert_int_equal(path_join(path, sizeof(path), *state, "new"), 0);
	assert_int_equal(chmod(path, 0500), 0);
	errno = 0;
	assert_null(queue_begin(*state, true, &env, err, sizeof(err)));
	assert_int_equal(errno, EACCES);
	assert_int_equal(chmod(path, 0700), 0);
	assert_int_equal(count_entries(*state, "new"), 1);
}

/* Child of the write-failure test: the exit status says which check failed. */
static int
write_past_file_size_limit(const char *dir)
{
	struct queue_envelope env = sample_envelope();
	struct rlimit rl = { .rlim_cur = 100000, .rlim_max = 100000 };
	struct queue_writer *w;
	char err[256], id[QUEUE_ID_MAX + 1], block[4096];
	int rc = 0;

	/* A file size limit stands in for a full disk: write fails with EFBIG. */
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) == -1)
		return 10;
	if ((w = queue_begin(dir, true, &env, err, sizeof(err))) == NULL)
		return 11;
	memset(block, 'x', sizeof(block));
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = queue_write(w, block, sizeof(block), err, sizeof(err));
	if (rc == 0)
		return 12;
	if (errno != EFBIG)
		return 13;
	/* The file is gone at once, and the writer stays failed. */
	if (count_entries(dir, "new") != 0)
		return 14;
	if (queue_write(w, "x", 1, err, sizeof(err)) != -1 || errno != EFBIG)
		return 15;
	if (queue_commit(w, id, err, sizeof(err)) != -1 || errno != EFBIG)
		return 16;
	if (count_entries(dir, "new") != 0)
		return 17;
	return 0;
}

static void
test_smtp_queue_failed_write_leaves_nothing(void **state)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(write_past_file_size_limit(*state));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_smtp_queue_begin_fails_when_parent_is_a_file(void **state)
{
	struct queue_envelope env = sample_envelope();
	char file[PATH_MAX], dir[PATH_MAX], err[256] = "";
	int fd;

	assert_int_equal(path_join(file, sizeof(file), *state, "plain"), 0);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(path_join(dir, sizeof(dir), file, "queue"), 0);
	assert_null(queue_begin(dir, true, &env, err, sizeof(err)));
	assert_int_equal(errno, ENOTDIR);
	assert_true(err[0] != '\0');
}

static void
test_smtp_queue_begin_rejects_control_characters(void **state)
{
	static const char *const crlf_rcpt[] = { "bob@example.net\r\nto evil@example.com" };
	static const char *const empty_rcpt[] = { "" };
	struct queue_envelope env;
	char err[256];

	env = sample_envelope();
	env.rcpts = crlf_rcpt;
	env.nrcpts = 1;
	assert_null(queue_begin(*state, true, &env, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	env = sample_envelope();
	env.helo = "a\tb";
	assert_null(queue_begin(*state, true, &env, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	env = sample_envelope();
	env.sender = "x\x7f@example.org";
	assert_null(queue_begin(*state, true, &env, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	env = sample_envelope();
	env.auth_user = "";
	assert_null(queue_begin(*state, true, &env, err, sizeof(err)));
	env = sample_envelope();
	env.nrcpts = 0;
	assert_null(queue_begin(*state, true, &env, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	env = sample_envelope();
	env.rcpts = empty_rcpt;
	env.nrcpts = 1;
	assert_null(queue_begin(*state, true, &env, err, sizeof(err)));
	env = sample_envelope();
	env.received = -1;
	assert_null(queue_begin(*state, true, &env, err, sizeof(err)));
	/* Refused before anything was created. */
	assert_int_equal(count_entries(*state, "new"), -1);
}

/* Child of the kill test: queue 256 KiB messages until killed. */
static void
commit_forever(const char *dir, const char *body, size_t len)
{
	char id[QUEUE_ID_MAX + 1];

	for (;;)
		if (queue_one(dir, false, body, len, id) == -1)
			_exit(1);
}

static void
test_smtp_queue_kill_leaves_whole_messages_or_none(void **state)
{
	size_t bodylen = 256 * 1024, len;
	char *body = malloc(bodylen), *data, path[PATH_MAX], err[256];
	struct queue_envelope_read got;
	struct dirent *de;
	int status, seen = 0, debris = 0;
	DIR *d;

	assert_non_null(body);
	for (size_t i = 0; i < bodylen; i++)
		body[i] = (char)('0' + i % 10);
	for (int round = 0; round < 5; round++) {
		struct timespec pause = { 0, 20000000L + 7000000L * round };
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0)
			commit_forever(*state, body, bodylen);
		nanosleep(&pause, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
	}
	/*
	 * At most one unfinished file per killed writer, unmarked and unlocked
	 * (debris, removed); whatever is marked complete is whole.
	 */
	assert_int_equal(path_join(path, sizeof(path), *state, "new"), 0);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char file[PATH_MAX];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		assert_int_equal(fstatat(dirfd(d), de->d_name, &st, 0), 0);
		if (!queue_file_complete(&st)) {
			assert_int_equal(queue_clean_debris(dirfd(d), de->d_name), 1);
			debris++;
			continue;
		}
		assert_int_equal(path_fmt(file, sizeof(file), "%s/%s", path, de->d_name), 0);
		data = slurp(file, &len);
		assert_int_equal(queue_envelope_parse(data, len, &got, err, sizeof(err)), 0);
		assert_int_equal(len - got.body_offset, bodylen);
		assert_memory_equal(data + got.body_offset, body, bodylen);
		queue_envelope_read_free(&got);
		free(data);
		seen++;
	}
	closedir(d);
	assert_true(seen > 0);
	assert_true(debris <= 5);
	assert_int_equal(count_entries(*state, "new"), seen);
	free(body);
}

/* Parse text (copied: the parser writes into it); returns the parser's result. */
static int
parse_text(const char *text, size_t len, struct queue_envelope_read *env, char *err, size_t errsize)
{
	char *copy = malloc(len + 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, text, len);
	rc = queue_envelope_parse(copy, len, env, err, errsize);
	if (rc == 0)
		queue_envelope_read_free(env);
	free(copy);
	return rc;
}

#define GOOD_HEAD "osd-queue 1\nreceived 1718000000\nclient 192.0.2.7\nhelo h\n"

static void
test_smtp_queue_parse_rejects_hostile_envelopes(void **state)
{
	static const struct {
		const char *text;
		size_t len;             /* 0: strlen */
		const char *why;        /* expected in the error */
	} bad[] = {
		{ "", 0, "truncated" },
		{ "osd-queue 1", 0, "truncated" },
		{ "osd-queue 1\n", 0, "truncated" },
		{ "osd-queue 2\n" "received 1\nclient c\nhelo h\nfrom \nto a@b\n\n", 0, "osd-queue 1" },
		{ "\n" GOOD_HEAD "from \nto a@b\n\n", 0, "osd-queue 1" },
		{ "received 1\nclient c\nhelo h\nfrom \nto a@b\n\n", 0, "osd-queue 1" },
		{ GOOD_HEAD "from \nto a@b\n", 0, "truncated" },
		{ GOOD_HEAD "from \nto a@b", 0, "truncated" },
		{ GOOD_HEAD "from a@b\nfrom c@d\nto a@b\n\n", 0, "repeated field \"from\"" },
		{ GOOD_HEAD "received 1\nfrom \nto a@b\n\n", 0, "repeated field \"received\"" },
		{ GOOD_HEAD "helo x\nfrom \nto a@b\n\n", 0, "repeated field \"helo\"" },
		{ GOOD_HEAD "auth u\nauth u\nfrom \nto a@b\n\n", 0, "repeated field \"auth\"" },
		{ GOOD_HEAD "from \n\n", 0, "missing field \"to\"" },
		{ GOOD_HEAD "to a@b\n\n", 0, "missing field \"from\"" },
		{ "osd-queue 1\nclient c\nhelo h\nfrom \nto a@b\n\n", 0, "missing field \"received\"" },
		{ "osd-queue 1\nreceived 1\nhelo h\nfrom \nto a@b\n\n", 0, "missing field \"client\"" },
		{ "osd-queue 1\nreceived 1\nclient c\nfrom \nto a@b\n\n", 0, "missing field \"helo\"" },
		{ GOOD_HEAD "from \nto a@b\r\n\r\n", 0, "control character" },
		{ GOOD_HEAD "from a\tb\nto a@b\n\n", 0, "control character" },
		{ GOOD_HEAD "from a\x7f\nto a@b\n\n", 0, "control character" },
		{ GOOD_HEAD "from a\0b\nto a@b\n\n", sizeof(GOOD_HEAD "from a\0b\nto a@b\n\n") - 1,
		  "control character" },
		/* The blank line is missing: a header line reads as an unknown field. */
		{ GOOD_HEAD "from \nto a@b\nSubject: hi\n\nbody\n", 0, "unknown field" },
		{ GOOD_HEAD "from \nto a@b\nX-Other value\n\n", 0, "unknown field" },
		{ GOOD_HEAD "from\nto a@b\n\n", 0, "no value" },
		{ GOOD_HEAD "from \nto \n\n", 0, "empty recipient" },
		{ GOOD_HEAD "auth \nfrom \nto a@b\n\n", 0, "empty auth" },
		{ "osd-queue 1\nreceived -1\nclient c\nhelo h\nfrom \nto a@b\n\n", 0, "received" },
		{ "osd-queue 1\nreceived 01\nclient c\nhelo h\nfrom \nto a@b\n\n", 0, "received" },
		{ "osd-queue 1\nreceived 1a\nclient c\nhelo h\nfrom \nto a@b\n\n", 0, "received" },
		{ "osd-queue 1\nreceived \nclient c\nhelo h\nfrom \nto a@b\n\n", 0, "received" },
		{ "osd-queue 1\nreceived 99999999999999999999999\nclient c\nhelo h\nfrom \nto a@b\n\n", 0,
		  "received" },
		{ "osd-queue 1\nreceived 9223372036854775808\nclient c\nhelo h\nfrom \nto a@b\n\n", 0,
		  "received" },
	};
	struct queue_envelope_read env;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len != 0 ? bad[i].len : strlen(bad[i].text);

		err[0] = '\0';
		if (parse_text(bad[i].text, len, &env, err, sizeof(err)) != -1)
			fail_msg("case %zu parsed", i);
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].why);
		/* A failed parse leaves nothing to free. */
		assert_null(env.rcpts);
		assert_int_equal(env.nrcpts, 0);
	}
}

static void
test_smtp_queue_parse_accepts_spaces_8bit_and_largest_time(void **state)
{
	char text[] = "osd-queue 1\nreceived 9223372036854775807\nclient c\n"
		      "helo my host  name \nfrom j\xc3\xb6rg@example.org\nto a@b\n\nbody";
	struct queue_envelope_read env;
	char err[256];

	(void)state;
	assert_int_equal(queue_envelope_parse(text, sizeof(text) - 1, &env, err, sizeof(err)), 0);
	/* Everything after the first space is the value, spaces included. */
	assert_string_equal(env.helo, "my host  name ");
	assert_string_equal(env.sender, "j\xc3\xb6rg@example.org");
	assert_null(env.auth_user);
	assert_true(env.received == (time_t)9223372036854775807LL);
	assert_string_equal(text + env.body_offset, "body");
	queue_envelope_read_free(&env);
}

static void
test_smtp_queue_parse_bounds_the_recipient_count(void **state)
{
	struct queue_envelope_read env;
	struct buf b;
	char err[256];

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_append_str(&b, GOOD_HEAD "from \n"), 0);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(buf_printf(&b, "to r%d@example.com\n", i), 0);
	assert_int_equal(buf_append_str(&b, "\n"), 0);
	/* The most smtpd may queue parses... */
	assert_int_equal(parse_text(b.data, b.len, &env, err, sizeof(err)), 0);
	/* ...one more is a damaged file, refused before it costs memory. */
	b.len--;
	assert_int_equal(buf_append_str(&b, "to one-more@example.com\n\n"), 0);
	assert_int_equal(parse_text(b.data, b.len, &env, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "recipients"));
	buf_free(&b);
}

/* The one mapping of a queue failure to SMTP: a full disk is 452 (the client tries later), anything else 451. */
static void
test_smtp_queue_error_reply(void **state)
{
	(void)state;
	assert_string_equal(queue_error_reply(ENOSPC), "452 4.3.1 Insufficient system storage");
	assert_string_equal(queue_error_reply(EDQUOT), "452 4.3.1 Insufficient system storage");
	assert_string_equal(queue_error_reply(EIO), "451 4.3.0 Error: queue file write error");
	assert_string_equal(queue_error_reply(EMFILE), "451 4.3.0 Error: queue file write error");
	assert_string_equal(queue_error_reply(0), "451 4.3.0 Error: queue file write error");
}

/* A session's messages share one open new/ (queue_begin_in); a new/ removed meanwhile is made afresh. */
static void
test_smtp_queue_begin_in_keeps_new_open_and_reopens_a_removed_one(void **state)
{
	struct queue_envelope env = sample_envelope();
	struct queue_writer *w;
	char id[QUEUE_ID_MAX + 1], err[256], path[PATH_MAX];
	int dirfd = -1, first;

	w = queue_begin_in(*state, &dirfd, true, &env, err, sizeof(err));
	assert_non_null(w);
	assert_true(dirfd >= 0);
	first = dirfd;
	assert_int_equal(queue_commit(w, id, err, sizeof(err)), 0);
	/* The writer is gone, the caller's descriptor stays open and is used again. */
	assert_int_not_equal(fcntl(first, F_GETFD), -1);
	w = queue_begin_in(*state, &dirfd, true, &env, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(dirfd, first);
	queue_abort(w);
	assert_int_not_equal(fcntl(first, F_GETFD), -1);
	assert_int_equal(count_complete(*state), 1);

	/* new/ removed (it held one message) while the session keeps it open. */
	assert_int_equal(path_join(path, sizeof(path), *state, "new"), 0);
	testutil_rmtree(path);
	w = queue_begin_in(*state, &dirfd, true, &env, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(queue_commit(w, id, err, sizeof(err)), 0);
	assert_int_equal(count_complete(*state), 1);
	assert_int_equal(count_entries(*state, "new"), 1);
	assert_int_not_equal(fcntl(dirfd, F_GETFD), -1);
	close(dirfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, testutil_setup_tmpdir, testutil_teardown_tmpdir)
		T(test_smtp_queue_round_trip_keeps_envelope_and_body),
		T(test_smtp_queue_file_format_is_the_documented_text),
		T(test_smtp_queue_empty_body_round_trips),
		T(test_smtp_queue_creates_missing_folders_private),
		T(test_smtp_queue_abort_leaves_nothing),
		T(test_smtp_queue_ids_unique_and_sorted_over_1000_messages),
		T(test_smtp_queue_ids_unique_across_forked_writers),
		T(test_smtp_queue_unwritable_new_folder_leaves_nothing),
		T(test_smtp_queue_debris_removed_only_when_its_writer_is_gone),
		T(test_smtp_queue_failed_write_leaves_nothing),
		T(test_smtp_queue_begin_fails_when_parent_is_a_file),
		T(test_smtp_queue_begin_rejects_control_characters),
		T(test_smtp_queue_kill_leaves_whole_messages_or_none),
		T(test_smtp_queue_begin_in_keeps_new_open_and_reopens_a_removed_one),
		cmocka_unit_test(test_smtp_queue_parse_rejects_hostile_envelopes),
		cmocka_unit_test(test_smtp_queue_parse_accepts_spaces_8bit_and_largest_time),
		cmocka_unit_test(test_smtp_queue_parse_bounds_the_recipient_count),
		cmocka_unit_test(test_smtp_queue_error_reply),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
