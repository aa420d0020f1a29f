/* fuzz_imap_parser.c - fuzz target: client octets split into lines and literals as imapd reads them, through the IMAP command parser, with every atom also tried as a sequence set. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parser.h"
#include "imap_seqset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A sequence set must agree with a plain scan of its own ranges, and be sorted and merged. */
static void
check_seqset(const char *text)
{
	struct imap_seqset set;

	if (imap_seqset_parse(text, 100, 50, &set) < 0)
		return;
	for (size_t i = 0; i < set.n; i++) {
		if (set.v[i].lo > set.v[i].hi || (i > 0 && set.v[i].lo <= set.v[i - 1].hi + 1))
			abort();
	}
	for (uint32_t n = 0; n < 120; n++) {
		bool in = false;

		for (size_t i = 0; i < set.n; i++)
			in = in || (set.v[i].lo <= n && n <= set.v[i].hi);
		if (in != imap_seqset_has(&set, n))
			abort();
	}
	imap_seqset_free(&set);
}

/* Every argument well formed: strings NUL-terminated at len, lists within depth, the helpers consistent. */
static void
check_args(const struct imap_arg *args, size_t n, unsigned depth)
{
	if (depth > 8 || (n > 0 && args == NULL))
		abort();
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *a = &args[i];

		if (a->type == IMAP_ARG_LIST) {
			check_args(a->list, a->count, depth + 1);
			if (imap_arg_is_astring(a) || imap_arg_astring(a) != NULL)
				abort();
			continue;
		}
		if (a->str == NULL || a->str[a->len] != '\0')
			abort();
		if (imap_arg_is_astring(a) != (imap_arg_astring(a) != NULL))
			abort();
		if (a->type == IMAP_ARG_ATOM)
			check_seqset(a->str);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Small caps, so that the fuzzer reaches each of them. */
	static const struct imap_parser_limits lim = {
		.line_max = 1024, .literal_max = 4096, .command_max = 8192, .depth_max = 8, .args_max = 200,
	};
	struct imap_parser *p = imap_parser_new(&lim);
	const char *in = (const char *)data;
	size_t pos = 0;

	while (pos < size) {
		const char *nl = memchr(in + pos, '\n', size - pos);
		size_t end = nl != NULL ? (size_t)(nl - in) : size, len = end - pos, lit = 0;
		enum imap_parse_result r;
		bool sync;

		/* As the session frames lines: up to LF, a CR before it dropped. */
		if (len > 0 && in[pos + len - 1] == '\r')
			len--;
		r = imap_parser_line(p, in + pos, len, &lit, &sync);
		pos = nl != NULL ? end + 1 : size;
		while (r == IMAP_PARSE_LITERAL && lit > 0) {
			/* The octets in two pieces (or what is left of the input). */
			size_t avail = size - pos, want = lit < avail ? lit : avail, half = want / 2;

			if (half > 0 && imap_parser_literal(p, in + pos, half) != IMAP_PARSE_MORE)
				abort();
			r = imap_parser_literal(p, in + pos + half, want - half);
			pos += want;
			if (want < lit) {
				if (r != IMAP_PARSE_MORE)
					abort();
				break;
			}
			if (r != IMAP_PARSE_LITERAL)
				abort();
			lit = 0;
		}
		if (r == IMAP_PARSE_DONE) {
			size_t n;
			const struct imap_arg *args = imap_parser_args(p, &n);

			if (imap_parser_tag(p)[0] == '\0' || imap_parser_command(p)[0] == '\0')
				abort();
			check_args(args, n, 0);
			imap_parser_reset(p);
		} else if (r == IMAP_PARSE_ERROR) {
			if (imap_parser_error(p)[0] == '\0' || imap_parser_tag(p) == NULL)
				abort();
			/* The session closes the connection here. */
			if (imap_parser_error_fatal(p))
				break;
			imap_parser_reset(p);
		}
	}
	imap_parser_free(p);
	return 0;
}
