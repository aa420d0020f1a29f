/* test_relay_rebuild.c - unit tests for the one-shot relay table job of osd expire and osd watch -1 (lib/relay/relay_rebuild.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipaddr.h"
#include "opensmtp.h"
#include "relay_rebuild.h"
#include "relaydb.h"
#include "testutil.h"

struct job {
	char rules[512], dir[512], cdb[512];
	struct relay_rebuild_args a;
};

static void
job_init(struct job *j, const char *tmp, const char *rules_text)
{
	snprintf(j->rules, sizeof j->rules, "%s/tcp.smtp", tmp);
	snprintf(j->dir, sizeof j->dir, "%s/open-smtp", tmp);
	snprintf(j->cdb, sizeof j->cdb, "%s/relay.cdb", tmp);
	if (rules_text != NULL) {
		FILE *fp = fopen(j->rules, "w");

		assert_non_null(fp);
		fputs(rules_text, fp);
		fclose(fp);
	}
	assert_int_equal(mkdir(j->dir, 0755), 0);
	j->a = (struct relay_rebuild_args){ .rules = j->rules, .dir = j->dir, .cdb = j->cdb,
					    .expire = 600, .dyn = relaydb_dynamic_default };
}

static void
record(const struct job *j, const char *text, time_t when)
{
	struct ipaddr a;
	int fd = open(j->dir, O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	assert_int_equal(ipaddr_parse(text, &a), 0);
	assert_int_equal(opensmtp_record_time_at(fd, &a, when), 1);
	close(fd);
}

static bool
relays(const struct job *j, const char *text)
{
	struct relaydb_result res;
	struct ipaddr a;

	assert_int_equal(ipaddr_parse(text, &a), 0);
	assert_int_equal(relaydb_lookup(j->cdb, &a, &res), 0);
	return res.matched && res.allow && strcmp(res.key, text) == 0;
}

/* Live entries go into relay.cdb beside the rules, expired ones are removed from the folder and the table. */
static void
test_relay_rebuild_expires_and_writes(void **state)
{
	struct relay_rebuild_stats st;
	struct job j;
	char err[1024], gone[600];
	time_t now = time(NULL);

	job_init(&j, *state, "10.9.:deny\n");
	record(&j, "192.0.2.1", now);
	record(&j, "192.0.2.2", now - 3600);
	assert_int_equal(relay_rebuild_once(&j.a, &st, err, sizeof err), 0);
	assert_int_equal(st.scan.live, 1);
	assert_int_equal(st.scan.expired, 1);
	assert_false(st.rules_missing);
	assert_int_equal(st.records, 2);
	assert_true(relays(&j, "192.0.2.1"));
	assert_false(relays(&j, "192.0.2.2"));
	snprintf(gone, sizeof gone, "%s/192.0.2.2", j.dir);
	assert_int_equal(access(gone, F_OK), -1);
}

/* No rules file is no static rules, said in the stats, not an error. */
static void
test_relay_rebuild_missing_rules_is_no_rules(void **state)
{
	struct relay_rebuild_stats st;
	struct job j;
	char err[1024];

	job_init(&j, *state, NULL);
	record(&j, "2001:db8::7", time(NULL));
	assert_int_equal(relay_rebuild_once(&j.a, &st, err, sizeof err), 0);
	assert_true(st.rules_missing);
	assert_int_equal(st.records, 1);
}

/* Each failing step says which one: a broken rules file writes nothing, a missing folder names it. */
static void
test_relay_rebuild_errors_name_the_step(void **state)
{
	struct relay_rebuild_stats st;
	struct job j;
	char err[1024];

	job_init(&j, *state, "this is not a rule\n");
	assert_int_equal(relay_rebuild_once(&j.a, &st, err, sizeof err), -1);
	assert_int_equal(strncmp(err, "rules: ", 7), 0);
	assert_int_equal(access(j.cdb, F_OK), -1);
	assert_int_equal(unlink(j.rules), 0);
	assert_int_equal(rmdir(j.dir), 0);
	assert_int_equal(relay_rebuild_once(&j.a, &st, err, sizeof err), -1);
	assert_int_equal(strncmp(err, j.dir, strlen(j.dir)), 0);
	assert_non_null(strstr(err, ": No such file or directory"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_relay_rebuild_expires_and_writes,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relay_rebuild_missing_rules_is_no_rules,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_relay_rebuild_errors_name_the_step,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
