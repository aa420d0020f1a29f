/* recordrace.c - logins at the very instant a running osd watch expires them, for test_expire_race.py. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipaddr.h"
#include "opensmtp.h"
#include "relaydb.h"

/*
 * recordrace DIR CDB EXPIRE SECONDS
 *
 * Rounds, for SECONDS: every entry of ADDRS is set to its expiry boundary
 * (mtime = now - EXPIRE, marked by a size of one byte), which wakes the
 * watcher (relay_expire = EXPIRE) to expire it at once, while RECORDERS
 * threads record each address once (opensmtp_record_at, as osd record and
 * osd pop3d do), after a pause steered towards the moment of the expiry.
 * Then a sentinel address is recorded and the watcher's relay.cdb awaited:
 * once it is there, the watcher has handled everything queued before it,
 * the expiries included.  Every address a recorder recorded must then be
 * in the folder, newer than the boundary, with no renamed-aside file left.
 * At the end, every address recorded in the last round must reach
 * relay.cdb.  Prints what happened and "recorded ADDR..." for the last
 * round; exits 0 when no login was lost, 1 when one was, 111 on errors.
 */
#define ADDRS 8
#define RECORDERS 2
#define NOISE 400
#define STEP 40
#define WAIT_NS 20000000000LL           /* the watcher answers long before this */

struct race {
	int dirfd;
	const char *cdb;
	long expire;
	char names[ADDRS][IPADDR_TEXT_MAX];
	struct ipaddr addrs[ADDRS];
	pthread_barrier_t start, end;
	atomic_bool stop;
	atomic_bool recorded[ADDRS];
	atomic_uint delay[ADDRS];
	atomic_ulong record_errors;
};

static long long
now_ns(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static _Noreturn void
die(const char *what)
{
	fprintf(stderr, "recordrace: %s: %s\n", what, strerror(errno));
	exit(111);
}

static void *
recorder(void *arg)
{
	struct race *r = arg;
	unsigned seed = (unsigned)(uintptr_t)&seed;

	for (;;) {
		pthread_barrier_wait(&r->start);
		if (atomic_load(&r->stop))
			return NULL;
		for (int i = 0; i < ADDRS; i++) {
			unsigned n = atomic_load(&r->delay[i]) + (unsigned)rand_r(&seed) % NOISE;

			while (n-- > 0)
				atomic_signal_fence(memory_order_seq_cst);
			if (opensmtp_record_at(r->dirfd, &r->addrs[i]) == 0)
				atomic_store(&r->recorded[i], true);
			else
				atomic_fetch_add(&r->record_errors, 1);
		}
		pthread_barrier_wait(&r->end);
	}
}

/* fsync load, as on a mail server: it spreads the steps over milliseconds. */
static void *
syncer(void *arg)
{
	struct race *r = arg;
	char block[4096];
	int fd = openat(r->dirfd, ".sync", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	memset(block, 'x', sizeof block);
	while (fd >= 0 && !atomic_load(&r->stop)) {
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block || fsync(fd) < 0)
			break;
	}
	if (fd >= 0) {
		close(fd);
		unlinkat(r->dirfd, ".sync", 0);
	}
	return NULL;
}

/* Is addr's own entry in relay.cdb? */
static bool
in_cdb(const char *cdb, const struct ipaddr *addr)
{
	struct relaydb_result res;
	char key[IPADDR_TEXT_MAX];

	ipaddr_format_key(addr, key);
	if (relaydb_lookup(cdb, addr, &res) < 0)
		return false;
	return res.matched && res.allow && strcmp(res.key, key) == 0;
}

/* Wait until relay.cdb has addr (want) or not; false after WAIT_NS. */
static bool
await_cdb(const char *cdb, const struct ipaddr *addr, bool want)
{
	long long deadline = now_ns(CLOCK_MONOTONIC) + WAIT_NS;
	struct timespec pause = { 0, 200000 };

	while (in_cdb(cdb, addr) != want) {
		if (now_ns(CLOCK_MONOTONIC) > deadline)
			return false;
		nanosleep(&pause, NULL);
	}
	return true;
}

/* Renamed-aside files in the folder (an expiry not finished). */
static int
count_asides(int dirfd)
{
	static const char prefix[] = OPENSMTP_TMP_PREFIX "expire.";
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), n = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL)
		die("reading the folder");
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, sizeof prefix - 1) == 0)
			n++;
	closedir(d);
	return n;
}

/* Every entry exactly at its expiry, marked by a size of one byte. */
static void
set_boundary(struct race *r, struct timespec *boundary_r)
{
	struct timespec times[2];

	clock_gettime(CLOCK_REALTIME, boundary_r);
	boundary_r->tv_sec -= r->expire;
	times[0] = times[1] = *boundary_r;
	for (int i = 0; i < ADDRS; i++) {
		int fd = openat(r->dirfd, r->names[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0 || ftruncate(fd, 1) < 0 || futimens(fd, times) < 0)
			die(r->names[i]);
		close(fd);
		atomic_store(&r->recorded[i], false);
	}
}

int
main(int argc, char **argv)
{
	static struct race r;
	pthread_t threads[RECORDERS], sync_thread;
	struct ipaddr sentinel[2];
	struct timespec boundary;
	unsigned long rounds = 0, recorded = 0, lost = 0, stale = 0, expired = 0, kept = 0;
	long long end;

	if (argc != 5) {
		fprintf(stderr, "usage: recordrace DIR CDB EXPIRE SECONDS\n");
		return 100;
	}
	r.dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r.dirfd < 0)
		die(argv[1]);
	r.cdb = argv[2];
	r.expire = atol(argv[3]);
	end = now_ns(CLOCK_MONOTONIC) + (long long)(atof(argv[4]) * 1e9);
	for (int i = 0; i < ADDRS; i++) {
		snprintf(r.names[i], sizeof r.names[i], "192.0.2.%d", i + 1);
		if (ipaddr_parse(r.names[i], &r.addrs[i]) < 0)
			die("address");
	}
	if (ipaddr_parse("198.51.100.1", &sentinel[0]) < 0 ||
	    ipaddr_parse("198.51.100.2", &sentinel[1]) < 0)
		die("address");
	pthread_barrier_init(&r.start, NULL, RECORDERS + 1);
	pthread_barrier_init(&r.end, NULL, RECORDERS + 1);
	for (int i = 0; i < RECORDERS; i++)
		if (pthread_create(&threads[i], NULL, recorder, &r) != 0)
			die("pthread_create");
	if (pthread_create(&sync_thread, NULL, syncer, &r) != 0)
		die("pthread_create");

	while (now_ns(CLOCK_MONOTONIC) < end) {
		const struct ipaddr *s = &sentinel[rounds % 2], *old = &sentinel[(rounds + 1) % 2];
		char name[IPADDR_TEXT_MAX];

		set_boundary(&r, &boundary);
		pthread_barrier_wait(&r.start);
		pthread_barrier_wait(&r.end);
		rounds++;
		/* The sentinel's arrival in relay.cdb: the watcher is done
		 * with every event before it. */
		ipaddr_format(old, name);
		if (unlinkat(r.dirfd, name, 0) < 0 && errno != ENOENT)
			die(name);
		if (opensmtp_record_at(r.dirfd, s) < 0)
			die("recording the sentinel");
		if (!await_cdb(r.cdb, s, true)) {
			fprintf(stderr, "recordrace: the watcher did not answer\n");
			return 111;
		}
		for (int i = 0; i < ADDRS; i++) {
			bool ok = atomic_load(&r.recorded[i]);
			unsigned d = atomic_load(&r.delay[i]);
			struct stat st;

			recorded += ok;
			if (fstatat(r.dirfd, r.names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (ok) {
					lost++;
					printf("lost %s in round %lu\n", r.names[i], rounds);
				}
				continue;
			}
			if (ok && (st.st_mtim.tv_sec < boundary.tv_sec ||
				   (st.st_mtim.tv_sec == boundary.tv_sec &&
				    st.st_mtim.tv_nsec <= boundary.tv_nsec)))
				stale++;
			/* The marked file: the watcher kept it (the login came
			 * first): wait longer next time; else sooner. */
			if (st.st_size == 1) {
				kept++;
				atomic_store(&r.delay[i], d + d / 8 + STEP);
			} else {
				expired++;
				atomic_store(&r.delay[i], d - d / 8);
			}
		}
		if (count_asides(r.dirfd) > 0) {
			printf("renamed-aside file left after round %lu\n", rounds);
			lost++;
		}
	}
	atomic_store(&r.stop, true);
	pthread_barrier_wait(&r.start);
	for (int i = 0; i < RECORDERS; i++)
		pthread_join(threads[i], NULL);
	pthread_join(sync_thread, NULL);

	printf("rounds %lu recorded %lu lost %lu stale %lu expired %lu kept %lu errors %lu\n",
	       rounds, recorded, lost, stale, expired, kept, atomic_load(&r.record_errors));
	printf("recorded");
	for (int i = 0; i < ADDRS; i++) {
		if (!atomic_load(&r.recorded[i]))
			continue;
		printf(" %s", r.names[i]);
		if (!await_cdb(r.cdb, &r.addrs[i], true)) {
			printf("(not in relay.cdb)");
			lost++;
		}
	}
	printf("\n");
	if (atomic_load(&r.record_errors) > 0)
		return 111;
	return lost + stale > 0 ? 1 : 0;
}
