/* test_opensmtp_race.c - stress: logins recorded at the very instant of their expiry are never lost (lib/relay/opensmtp.c). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipaddr.h"
#include "log.h"
#include "opensmtp.h"
#include "testutil.h"

/*
 * Each round: every entry is set exactly to its expiry boundary (mtime =
 * round start - EXPIRE), then RECORDERS threads record each address once
 * while EXPIRERS threads expire each address with now = the round start,
 * all released at once and walking the addresses in the same order so
 * that they meet.  A touch made during the round is never expired at that
 * now (it is later than the round start), the boundary mtime always is:
 * so after the round every address that a recorder recorded successfully
 * must exist with an mtime newer than the boundary.  Bounded by time.
 */
#define EXPIRE 1L
#define ADDRS 4
#define RECORDERS 3
#define EXPIRERS 2
#define NOISE 400                       /* empty loop turns of random pause */
#define STEP 40                         /* steering of the pause per round */
#define STRESS_NS 2500000000LL          /* run this long ... */
#define MAX_ROUNDS 200000               /* ... or this many rounds */

struct stress {
	char *dir;
	int dirfd;
	char names[ADDRS][IPADDR_TEXT_MAX];
	struct ipaddr addrs[ADDRS];
	pthread_barrier_t start, end;
	struct timespec now;                    /* the round's start: the expirers' now */
	atomic_bool stop;
	atomic_bool recorded[ADDRS];            /* this round, a record returned 0 */
	atomic_uint delay[ADDRS];               /* empty loop turns before its login */
	atomic_ulong record_errors, expire_errors;
	atomic_ulong removed, kept;             /* the expirers' verdicts after a rename */
};

static long long
ts_ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static void *
recorder(void *arg)
{
	struct stress *s = arg;
	unsigned seed = (unsigned)(uintptr_t)&seed;

	for (;;) {
		pthread_barrier_wait(&s->start);
		if (atomic_load(&s->stop))
			return NULL;
		/* One login per address, after a pause that the main thread
		 * steers towards the moment of the expiry (plus noise). */
		for (int i = 0; i < ADDRS; i++) {
			unsigned n = atomic_load(&s->delay[i]) + (unsigned)rand_r(&seed) % NOISE;

			while (n-- > 0)
				atomic_signal_fence(memory_order_seq_cst);
			if (opensmtp_record_at(s->dirfd, &s->addrs[i]) == 0)
				atomic_store(&s->recorded[i], true);
			else
				atomic_fetch_add(&s->record_errors, 1);
		}
		pthread_barrier_wait(&s->end);
	}
}

/*
 * What a mail server does all the time: fsync.  Journal commits then make
 * the renames, creates and time changes of the folder wait, which spreads
 * the steps of a login and of an expiry over milliseconds instead of
 * nanoseconds (the unfixed code lost logins mostly this way).
 */
static void *
syncer(void *arg)
{
	struct stress *s = arg;
	char block[4096];
	int fd = openat(s->dirfd, ".sync", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	memset(block, 'x', sizeof block);
	while (fd >= 0 && !atomic_load(&s->stop)) {
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block || fsync(fd) < 0)
			break;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void *
expirer(void *arg)
{
	struct stress *s = arg;

	for (;;) {
		pthread_barrier_wait(&s->start);
		if (atomic_load(&s->stop))
			return NULL;
		for (int i = 0; i < ADDRS; i++) {
			struct timespec mtime;

			switch (opensmtp_expire_at_time(s->dirfd, s->names[i], EXPIRE, &s->now, &mtime)) {
			case OPENSMTP_REMOVED:
				atomic_fetch_add(&s->removed, 1);
				break;
			case OPENSMTP_REFRESHED:
				atomic_fetch_add(&s->kept, 1);
				break;
			case OPENSMTP_GONE:
				break;
			case OPENSMTP_ERROR:
				atomic_fetch_add(&s->expire_errors, 1);
				break;
			}
		}
		pthread_barrier_wait(&s->end);
	}
}

/* Put every entry exactly at its expiry for now = s->now (creating it).
 * It is marked by a size of one byte: a login makes empty ones. */
static void
set_boundary(struct stress *s, struct timespec *boundary_r)
{
	struct timespec times[2];

	clock_gettime(CLOCK_REALTIME, &s->now);
	*boundary_r = s->now;
	boundary_r->tv_sec -= EXPIRE;
	times[0] = times[1] = *boundary_r;
	for (int i = 0; i < ADDRS; i++) {
		int fd = openat(s->dirfd, s->names[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, 1), 0);
		assert_int_equal(futimens(fd, times), 0);
		close(fd);
		atomic_store(&s->recorded[i], false);
	}
}

static void
test_opensmtp_race_login_at_expiry_is_never_lost(void **state)
{
	pthread_t threads[RECORDERS + EXPIRERS], sync_thread;
	struct stress *s = calloc(1, sizeof *s);
	struct timespec t0, t, boundary;
	unsigned long rounds = 0, losses = 0, stale = 0, recorded = 0;

	(void)state;
	assert_non_null(s);
	s->dir = testutil_mkdtemp("opensmtp-race");
	assert_non_null(s->dir);
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(s->dirfd >= 0);
	for (int i = 0; i < ADDRS; i++) {
		snprintf(s->names[i], sizeof s->names[i], "192.0.2.%d", i + 1);
		assert_int_equal(ipaddr_parse(s->names[i], &s->addrs[i]), 0);
	}
	assert_int_equal(pthread_barrier_init(&s->start, NULL, RECORDERS + EXPIRERS + 1), 0);
	assert_int_equal(pthread_barrier_init(&s->end, NULL, RECORDERS + EXPIRERS + 1), 0);
	for (int i = 0; i < RECORDERS + EXPIRERS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, i < RECORDERS ? recorder : expirer,
						s), 0);

	assert_int_equal(pthread_create(&sync_thread, NULL, syncer, s), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		set_boundary(s, &boundary);
		pthread_barrier_wait(&s->start);        /* go */
		pthread_barrier_wait(&s->end);          /* all done */
		rounds++;
		for (int i = 0; i < ADDRS; i++) {
			struct stat st;
			unsigned d = atomic_load(&s->delay[i]);

			if (atomic_load(&s->recorded[i]))
				recorded++;
			if (fstatat(s->dirfd, s->names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (atomic_load(&s->recorded[i]))
					losses++;       /* recorded, then deleted */
				continue;
			}
			if (atomic_load(&s->recorded[i]) && ts_ns(&st.st_mtim) <= ts_ns(&boundary))
				stale++;                /* kept without the login's time */
			/* The marked file: the login came before the expiry, so
			 * wait longer next time; a new file: it came after. */
			if (st.st_size == 1)
				atomic_store(&s->delay[i], d + STEP);
			else if (d >= STEP)
				atomic_store(&s->delay[i], d - STEP);
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (ts_ns(&t) - ts_ns(&t0) < STRESS_NS && rounds < MAX_ROUNDS);
	atomic_store(&s->stop, true);
	pthread_barrier_wait(&s->start);
	for (int i = 0; i < RECORDERS + EXPIRERS; i++)
		pthread_join(threads[i], NULL);
	pthread_join(sync_thread, NULL);

	print_message("%lu rounds, %lu logins at their expiry: %lu lost, %lu kept without their "
		      "time; expiries: %lu removed, %lu kept\n",
		      rounds, recorded, losses, stale, atomic_load(&s->removed),
		      atomic_load(&s->kept));
	assert_int_equal(atomic_load(&s->record_errors), 0);
	assert_int_equal(atomic_load(&s->expire_errors), 0);
	assert_int_equal(losses, 0);
	assert_int_equal(stale, 0);
	/* The rounds did make recorders and expirers meet. */
	assert_true(recorded > 0);
	assert_true(atomic_load(&s->removed) > 0);

	pthread_barrier_destroy(&s->start);
	pthread_barrier_destroy(&s->end);
	close(s->dirfd);
	testutil_rmtree(s->dir);
	free(s->dir);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opensmtp_race_login_at_expiry_is_never_lost),
	};

	log_set_level(LOG_LEVEL_ERR);
	return cmocka_run_group_tests_name("opensmtp_race", tests, NULL, NULL);
}
