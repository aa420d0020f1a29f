/* test_metrics.c - unit tests for lib/util/metrics.c: the shared counter file (made, mapped, shared by forked children, replaced when of another layout) and its Prometheus text. */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "metrics.h"
#include "testutil.h"

static void
file_path(void **state, char *out, size_t size)
{
	assert_int_equal(metrics_path(*state, out, size), 0);
}

static void
test_metrics_open_makes_the_file(void **state)
{
	char path[PATH_MAX];
	struct stat st;

	file_path(state, path, sizeof(path));
	metrics_slots = NULL;
	metrics_inc(M_BOUNCES);         /* not mapped: a no-op, no crash */
	assert_int_equal(metrics_open(path, (uid_t)-1, (gid_t)-1, NULL, 0), 0);
	assert_non_null(metrics_slots);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_true(st.st_size >= (off_t)(METRICS_SLOTS * sizeof(uint64_t)));
	assert_true(metrics_slots[M_BOUNCES] == 0);
	metrics_inc(M_BOUNCES);
	metrics_set(M_RELAY_ENTRIES, 42);
	/* A second mapping of the same file (another daemon) sees and keeps the values. */
	assert_int_equal(metrics_open(path, (uid_t)-1, (gid_t)-1, NULL, 0), 0);
	assert_true(metrics_slots[M_BOUNCES] == 1);
	assert_true(metrics_slots[M_RELAY_ENTRIES] == 42);
	{
		const volatile uint64_t *ro = metrics_map_readonly(path, NULL, 0);

		assert_non_null(ro);
		assert_true(ro[M_BOUNCES] == 1);
	}
}

/* The point of the design: children forked after the mapping add into the same counters. */
static void
test_metrics_forked_children_add_up(void **state)
{
	char path[PATH_MAX];
	enum { CHILDREN = 4, ADDS = 10000 };
	pid_t pid[CHILDREN];
	int status;

	file_path(state, path, sizeof(path));
	assert_int_equal(metrics_open(path, (uid_t)-1, (gid_t)-1, NULL, 0), 0);
	for (int i = 0; i < CHILDREN; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			for (int k = 0; k < ADDS; k++)
				metrics_inc(M_SMTP_SESSIONS);
			_exit(0);
		}
	}
	for (int k = 0; k < ADDS; k++)
		metrics_inc(M_SMTP_SESSIONS);
	for (int i = 0; i < CHILDREN; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_true(metrics_slots[M_SMTP_SESSIONS] == (CHILDREN + 1) * ADDS);
}

/*
 * Daemons that start together (osd run) each open the missing file at
 * once: every one must map the same file, or one of them counts into a
 * file that another renamed away, and its counts never show.  Each child
 * waits at a pipe, then opens and adds 1; rounds with a fresh folder.
 */
static void
test_metrics_simultaneous_first_opens_share_one_file(void **state)
{
	enum { CHILDREN = 8, ROUNDS = 20 };
	char path[PATH_MAX], dir[PATH_MAX];

	for (int round = 0; round < ROUNDS; round++) {
		pid_t pid[CHILDREN];
		int go[2], status;
		const volatile uint64_t *ro;

		snprintf(dir, sizeof(dir), "%s/r%d", (const char *)*state, round);
		assert_int_equal(mkdir(dir, 0755), 0);
		assert_int_equal(metrics_path(dir, path, sizeof(path)), 0);
		assert_int_equal(pipe(go), 0);
		for (int i = 0; i < CHILDREN; i++) {
			pid[i] = fork();
			assert_true(pid[i] >= 0);
			if (pid[i] == 0) {
				char c;

				close(go[1]);
				if (read(go[0], &c, 1) != 0)
					_exit(2);
				if (metrics_open(path, (uid_t)-1, (gid_t)-1, NULL, 0) != 0)
					_exit(3);
				metrics_inc(M_SMTP_SESSIONS);
				_exit(0);
			}
		}
		close(go[0]);
		close(go[1]);   /* EOF: all start at once */
		for (int i = 0; i < CHILDREN; i++) {
			assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		ro = metrics_map_readonly(path, NULL, 0);
		assert_non_null(ro);
		assert_int_equal(ro[M_SMTP_SESSIONS], CHILDREN);
	}
}

static void
test_metrics_foreign_file_is_replaced(void **state)
{
	char path[PATH_MAX], err[512];
	int fd;

	file_path(state, path, sizeof(path));
	{
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s/" METRICS_DIR, (const char *)*state);
		assert_int_equal(mkdir(dir, 0755), 0);
	}
	/* Another version's (or a damaged) file: read-only mapping refuses it, open replaces it. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "osd-metrics\n\x09\0\0\0", 16), 16);
	close(fd);
	assert_null(metrics_map_readonly(path, err, sizeof(err)));
	assert_non_null(strstr(err, "not a metrics file"));
	assert_int_equal(metrics_open(path, (uid_t)-1, (gid_t)-1, err, sizeof(err)), 0);
	assert_true(metrics_slots[M_BOUNCES] == 0);
	assert_non_null(metrics_map_readonly(path, err, sizeof(err)));
}

static void
test_metrics_rebuild_histogram_is_cumulative(void **state)
{
	char path[PATH_MAX];
	uint64_t v[METRIC_COUNT_];
	struct buf b;

	file_path(state, path, sizeof(path));
	assert_int_equal(metrics_open(path, (uid_t)-1, (gid_t)-1, NULL, 0), 0);
	metrics_observe_rebuild(0.0005);        /* le 0.001 */
	metrics_observe_rebuild(0.001);         /* le 0.001: the bound is inclusive */
	metrics_observe_rebuild(0.2);           /* le 0.25 */
	metrics_observe_rebuild(100);           /* +Inf only */
	for (size_t i = 0; i < METRIC_COUNT_; i++)
		v[i] = metrics_slots[i];
	v[M_QUEUE_NEW] = 3;
	buf_init(&b, 1 << 20);
	assert_int_equal(metrics_format(v, &b), 0);
	assert_int_equal(buf_append_char(&b, '\0'), 0);
	assert_non_null(strstr(b.data, "osd_relay_table_rebuild_duration_seconds_bucket{le=\"0.001\"} 2\n"));
	assert_non_null(strstr(b.data, "osd_relay_table_rebuild_duration_seconds_bucket{le=\"0.1\"} 2\n"));
	assert_non_null(strstr(b.data, "osd_relay_table_rebuild_duration_seconds_bucket{le=\"0.25\"} 3\n"));
	assert_non_null(strstr(b.data, "osd_relay_table_rebuild_duration_seconds_bucket{le=\"5\"} 3\n"));
	assert_non_null(strstr(b.data, "osd_relay_table_rebuild_duration_seconds_bucket{le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(b.data, "osd_relay_table_rebuild_duration_seconds_count 4\n"));
	assert_non_null(strstr(b.data, "osd_relay_table_rebuild_duration_seconds_sum 100.201500\n"));
	assert_non_null(strstr(b.data, "osd_relay_table_rebuilds_total 4\n"));
	assert_non_null(strstr(b.data, "osd_queue_messages{state=\"new\"} 3\n"));
	assert_non_null(strstr(b.data, "# TYPE osd_queue_messages gauge\n"));
	assert_non_null(strstr(b.data, "# TYPE osd_relay_decisions_total counter\n"));
	/* One HELP and one TYPE per family. */
	{
		const char *p = b.data;
		int n = 0;

		while ((p = strstr(p, "# TYPE osd_smtp_rejections_total ")) != NULL) {
			n++;
			p++;
		}
		assert_int_equal(n, 1);
	}
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_metrics_open_makes_the_file,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_metrics_forked_children_add_up,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_metrics_simultaneous_first_opens_share_one_file,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_metrics_foreign_file_is_replaced,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_metrics_rebuild_histogram_is_cumulative,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
