/*
 * bench_relaydb_write.c - the relay-table rebuild alone: relaydb_write() of
 * N live entries held in memory, exactly as osd watch calls it after a batch
 * of changes (static rules first, then one ADDRESS:allow,RELAYCLIENT=""
 * record per entry, temp file, optional fsync, rename), without the folder
 * scan.  bench_rebuild.py uses it to split "osd watch -1" into scan and
 * rebuild.
 *
 *   bench-relaydb-write [-n ENTRIES] [-r RULES] [-l LOOPS] [-c] [-F] [-k] OUT.cdb
 *     -l  rewrite LOOPS times, as the watcher does at each batch (default 1)
 *     -c  as the watcher: each entry's record made once beforehand, one
 *         builder kept between rewrites (relaydb_write_recs)
 *     -F  no fsync (default: fsync, as the watcher's default fsync = yes)
 *     -k  keep OUT.cdb (default: remove it)
 *
 * Prints: bench=relaydb-write entries=N records=R fsync=yes secs=S maxrss_kb=K
 * and, with -l, loops=L cpu_ms=C wall_ms=W: this process's user + system
 * CPU per rewrite (load-insensitive, unlike the wall time) and the median
 * wall time of one.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cdbbuild.h"
#include "ipaddr.h"
#include "relaydb.h"
#include "rules.h"

struct iter {
	const struct ipaddr *addrs;
	long count, pos;
};

static int
next_entry(void *ctx, struct ipaddr *entry_r)
{
	struct iter *it = ctx;

	if (it->pos >= it->count)
		return 0;
	*entry_r = it->addrs[it->pos++];
	return 1;
}

struct rec_iter {
	const struct relaydb_rec *recs;
	long count, pos;
};

static int
next_rec(void *ctx, const struct relaydb_rec **rec_r)
{
	struct rec_iter *it = ctx;

	if (it->pos >= it->count)
		return 0;
	*rec_r = &it->recs[it->pos++];
	return 1;
}

/*
 * Peak RSS of this program.  Not getrusage's ru_maxrss: Linux carries the
 * peak of the process that forked us over exec (a Python runner's, say).
 */
static long
vm_hwm_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static double
cpu_secs(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	long n = 1000000;
	const char *rules_path = NULL;
	bool do_fsync = true, keep = false, cached = false;
	struct relaydb_rec *recs = NULL;
	struct cdbbuild b;
	struct rules rules;
	struct ipaddr *addrs;
	struct timespec t0, t1;
	struct iter it;
	char err[512];
	long records, loops = 1;
	double *walls, cpu0;
	int opt;

	while ((opt = getopt(argc, argv, "n:r:l:cFk")) != -1) {
		switch (opt) {
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'l': loops = strtol(optarg, NULL, 10); break;
		case 'r': rules_path = optarg; break;
		case 'c': cached = true; break;
		case 'F': do_fsync = false; break;
		case 'k': keep = true; break;
		default:
			fprintf(stderr, "usage: bench-relaydb-write [-n ENTRIES] [-r RULES] [-l LOOPS] [-c] [-F] [-k] OUT.cdb\n");
			return 100;
		}
	}
	if (argc - optind != 1 || n < 0 || n > (1L << 24) || loops < 1 || loops > 100000) {
		fprintf(stderr, "usage: bench-relaydb-write [-n ENTRIES] [-r RULES] [-l LOOPS] [-c] [-F] [-k] OUT.cdb\n");
		return 100;
	}
	rules_init(&rules);
	if (rules_path != NULL && rules_load_file(&rules, rules_path, err, sizeof err) < 0) {
		fprintf(stderr, "bench-relaydb-write: %s\n", err);
		return 111;
	}
	addrs = calloc((size_t)n + 1, sizeof *addrs);
	walls = calloc((size_t)loops, sizeof *walls);
	if (addrs == NULL || walls == NULL) {
		fprintf(stderr, "bench-relaydb-write: out of memory\n");
		return 111;
	}
	/* The same addresses as bench_rebuild.py's folder: 10.0.0.0 onwards. */
	for (long i = 0; i < n; i++) {
		addrs[i].family = AF_INET;
		addrs[i].bytes[0] = 10;
		addrs[i].bytes[1] = (uint8_t)(i >> 16);
		addrs[i].bytes[2] = (uint8_t)(i >> 8);
		addrs[i].bytes[3] = (uint8_t)i;
	}
	cdbbuild_init(&b);
	if (cached) {
		recs = calloc((size_t)n + 1, sizeof *recs);
		if (recs == NULL) {
			fprintf(stderr, "bench-relaydb-write: out of memory\n");
			return 111;
		}
		for (long i = 0; i < n; i++)
			relaydb_rec_for(&rules, NULL, &addrs[i], &recs[i]);
	}
	cpu0 = cpu_secs();
	for (long l = 0; l < loops; l++) {
		struct rec_iter ri = { .recs = recs, .count = n };

		it = (struct iter){ .addrs = addrs, .count = n };
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (cached)
			records = relaydb_write_recs(&b, argv[optind], &rules, NULL, next_rec, &ri, do_fsync);
		else
			records = relaydb_write(argv[optind], &rules, NULL, next_entry, &it, do_fsync);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (records < 0) {
			fprintf(stderr, "bench-relaydb-write: %s: %s\n", argv[optind], strerror(errno));
			return 111;
		}
		walls[l] = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
	if (loops > 1) {
		double cpu = cpu_secs() - cpu0;

		qsort(walls, (size_t)loops, sizeof *walls, cmp_double);
		printf("bench=relaydb-write entries=%ld loops=%ld cpu_ms=%.3f wall_ms=%.3f\n", n, loops,
		       cpu * 1e3 / (double)loops, walls[loops / 2] * 1e3);
	}
	printf("bench=relaydb-write entries=%ld records=%ld fsync=%s secs=%.4f maxrss_kb=%ld\n", n,
	       records, do_fsync ? "yes" : "no",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       vm_hwm_kb());
	if (!keep)
		unlink(argv[optind]);
	rules_free(&rules);
	cdbbuild_free(&b);
	free(recs);
	free(walls);
	free(addrs);
	return 0;
}
