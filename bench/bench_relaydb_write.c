/*
 * bench_relaydb_write.c - the relay-table rebuild alone: relaydb_write() of
 * N live entries held in memory, exactly as osd watch calls it after a batch
 * of changes (static rules first, then one ADDRESS:allow,RELAYCLIENT=""
 * record per entry, temp file, optional fsync, rename), without the folder
 * scan.  bench_rebuild.py uses it to split "osd watch -1" into scan and
 * rebuild.
 *
 *   bench-relaydb-write [-n ENTRIES] [-r RULES] [-F] [-k] OUT.cdb
 *     -F  no fsync (default: fsync, as the watcher's default fsync = yes)
 *     -k  keep OUT.cdb (default: remove it)
 *
 * Prints: bench=relaydb-write entries=N records=R fsync=yes secs=S maxrss_kb=K
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int
main(int argc, char **argv)
{
	long n = 1000000;
	const char *rules_path = NULL;
	bool do_fsync = true, keep = false;
	struct rules rules;
	struct ipaddr *addrs;
	struct timespec t0, t1;
	struct iter it;
	char err[512];
	long records;
	int opt;

	while ((opt = getopt(argc, argv, "n:r:Fk")) != -1) {
		switch (opt) {
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'r': rules_path = optarg; break;
		case 'F': do_fsync = false; break;
		case 'k': keep = true; break;
		default:
			fprintf(stderr, "usage: bench-relaydb-write [-n ENTRIES] [-r RULES] [-F] [-k] OUT.cdb\n");
			return 100;
		}
	}
	if (argc - optind != 1 || n < 0 || n > (1L << 24)) {
		fprintf(stderr, "usage: bench-relaydb-write [-n ENTRIES] [-r RULES] [-F] [-k] OUT.cdb\n");
		return 100;
	}
	rules_init(&rules);
	if (rules_path != NULL && rules_load_file(&rules, rules_path, err, sizeof err) < 0) {
		fprintf(stderr, "bench-relaydb-write: %s\n", err);
		return 111;
	}
	addrs = calloc((size_t)n + 1, sizeof *addrs);
	if (addrs == NULL) {
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
	it = (struct iter){ .addrs = addrs, .count = n };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	records = relaydb_write(argv[optind], &rules, NULL, next_entry, &it, do_fsync);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (records < 0) {
		fprintf(stderr, "bench-relaydb-write: %s: %s\n", argv[optind], strerror(errno));
		return 111;
	}
	printf("bench=relaydb-write entries=%ld records=%ld fsync=%s secs=%.4f maxrss_kb=%ld\n", n,
	       records, do_fsync ? "yes" : "no",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       vm_hwm_kb());
	if (!keep)
		unlink(argv[optind]);
	rules_free(&rules);
	free(addrs);
	return 0;
}
