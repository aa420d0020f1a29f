/* rules2cdb.c - osd's tcprules: compile a rules file with osd's parser and CDB writer (lib/relay), for the differential check against Debian's tcprules (tcprules_diff.py). */
#include <stdbool.h>
#include <stdio.h>

#include "ipaddr.h"
#include "relaydb.h"
#include "rules.h"

/* No live logins: the table is the rules file alone, as tcprules writes it. */
static int
no_entries(void *ctx, struct ipaddr *entry_r)
{
	(void)ctx;
	(void)entry_r;
	return 0;
}

int
main(int argc, char **argv)
{
	struct rules r;
	char err[512];
	int got;

	if (argc != 3) {
		fprintf(stderr, "usage: rules2cdb RULES OUT.cdb\n");
		return 2;
	}
	got = rules_load_file(&r, argv[1], err, sizeof(err));
	if (got == -1) {
		fprintf(stderr, "rules2cdb: %s\n", err);
		return 1;
	}
	if (got == 1) {
		fprintf(stderr, "rules2cdb: %s: no such file\n", argv[1]);
		return 1;
	}
	if (relaydb_write(argv[2], &r, &relaydb_dynamic_default, no_entries, NULL, false) < 0) {
		perror("rules2cdb: write");
		rules_free(&r);
		return 1;
	}
	rules_free(&r);
	return 0;
}
