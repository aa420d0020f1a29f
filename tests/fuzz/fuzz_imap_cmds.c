/* fuzz_imap_cmds.c - fuzz target: one command line through the IMAP parser, its arguments through the commands' small parsers (LIST/LSUB options and patterns, flag lists, STORE items, STATUS items, dates), with invariants checked. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "imap_date.h"
#include "imap_flags.h"
#include "imap_list.h"
#include "imap_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
	"INBOX", "Sent", "Lists", "Lists.osd", "Lists.osd.dev", "a%b", "x*y", "",
};

/* A pattern: '*' matches every name; a pattern without wildcards matches a name only if equal (INBOX aside). */
static void
check_pattern(const char *pattern)
{
	bool wild = strpbrk(pattern, "*%") != NULL;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		bool m = imap_list_match(pattern, names[i]);

		if (!wild && m && strcmp(pattern, names[i]) != 0 && strcmp(names[i], "INBOX") != 0)
			abort();
		if (!wild && strcmp(pattern, names[i]) == 0 && strlen(pattern) <= IMAP_LIST_PATTERN_MAX && !m)
			abort();
		if (strcmp(pattern, "*") == 0 && !m)
			abort();
	}
}

/* A date-time that parses writes back (in the local zone) as one that parses to the same moment. */
static void
check_date(const char *text)
{
	char out[IMAP_DATETIME_MAX], inner[IMAP_DATETIME_MAX];
	time_t t, back;
	long day;

	if (imap_date_parse_datetime(text, &t)) {
		imap_date_format_datetime(t, out);
		if (strlen(out) != IMAP_DATETIME_MAX - 1)
			return; /* a year outside 0000-9999: written at the edge */
		memcpy(inner, out + 1, IMAP_DATETIME_MAX - 3);
		inner[IMAP_DATETIME_MAX - 3] = '\0';
		if (!imap_date_parse_datetime(inner, &back) || back != t)
			abort();
	}
	(void)imap_date_parse_date(text, &day);
}

static void
check_args(const struct imap_arg *args, size_t n)
{
	struct imap_list_cmd cmd;
	struct imap_flag_list fl;
	enum imap_store_op op;
	const char *error = NULL;
	unsigned items;
	bool silent;

	for (bool lsub = false;; lsub = true) {
		if (imap_list_parse(args, n, lsub, &cmd, &error) == 0) {
			struct imap_folder v[] = {
				{ .name = (char *)"INBOX", .subscribed = true },
				{ .name = (char *)"Lists", .noselect = true, .has_children = true },
				{ .name = (char *)"Lists.osd", .subscribed = true },
				{ .name = (char *)"Gone", .noselect = true, .subscribed = true },
			};
			struct buf out;

			for (size_t i = 0; i < cmd.n_patterns; i++)
				check_pattern(cmd.patterns[i]);
			buf_init(&out, 0);
			imap_list_reply(&cmd, v, sizeof(v) / sizeof(v[0]), NULL, NULL, &out);
			buf_free(&out);
			imap_list_cmd_free(&cmd);
		} else if (error == NULL) {
			abort();
		}
		if (lsub)
			break;
	}
	error = NULL;
	if (imap_flags_parse(args, n, &fl, &error) == 0) {
		if (fl.n_keywords > IMAP_FLAGS_KEYWORDS_MAX)
			abort();
		for (size_t i = 0; i < fl.n_keywords; i++)
			if (!imap_flags_keyword_ok(fl.keywords[i], strlen(fl.keywords[i])))
				abort();
	} else if (error == NULL) {
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		if (args[i].type == IMAP_ARG_LIST) {
			(void)imap_status_items_parse(&args[i], &items, &error);
			check_args(args[i].list, args[i].count);
			continue;
		}
		(void)imap_flags_parse_store_op(&args[i], &op, &silent, &error);
		check_date(args[i].str);
		check_pattern(args[i].str);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *p = imap_parser_new(NULL);
	const char *nl = memchr(data, '\n', size);
	size_t len = nl != NULL ? (size_t)(nl - (const char *)data) : size;
	size_t literal, n;
	bool sync;

	if (imap_parser_line(p, (const char *)data, len, &literal, &sync) == IMAP_PARSE_DONE) {
		const struct imap_arg *args = imap_parser_args(p, &n);

		check_args(args, n);
	}
	imap_parser_free(p);
	return 0;
}
