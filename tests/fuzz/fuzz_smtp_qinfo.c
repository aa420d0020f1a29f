/* fuzz_smtp_qinfo.c - fuzz target: the queue manager's state file parser, and the delivery protocol's readers (smtp-gate/queue/delivery_proto.c): osd-remote's verdicts and the worker's request lines. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "qstore.h"
#include "delivery_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A request line that parses is written back as one line that parses to the same request. */
static void
request_roundtrip(const char *data, size_t size)
{
	static struct delivery_request a, b;
	char *line, *again;
	struct buf out;
	size_t count, count2;

	if (size >= DELIVERY_REQUEST_MAX || (line = malloc(size + 1)) == NULL)
		return;
	memcpy(line, data, size);
	line[size] = '\0';
	if (delivery_request_parse(line, size, &a, &count) == -1) {
		if (count > size)
			abort();                /* never more recipient fields than octets */
		free(line);
		return;
	}
	buf_init(&out, 0);
	/* Only the offset's leading zeros can go: never longer, so never over the bound. */
	if (delivery_request_encode(&a, &out) == -1 || out.len > size + 1 ||
	    out.data[out.len - 1] != '\n' || memchr(out.data, '\n', out.len - 1) != NULL)
		abort();
	again = out.data;
	again[out.len - 1] = '\0';
	if (delivery_request_parse(again, out.len - 1, &b, &count2) == -1 || count2 != count ||
	    b.nrcpts != a.nrcpts || b.offset != a.offset || strcmp(a.path, b.path) != 0 ||
	    strcmp(a.domain, b.domain) != 0 || strcmp(a.sender, b.sender) != 0)
		abort();
	for (size_t i = 0; i < a.nrcpts; i++)
		if (strcmp(a.rcpts[i], b.rcpts[i]) != 0)
			abort();
	buf_free(&out);
	free(line);
}

/*
 * The first byte picks a recipient count (1..8); the rest is an info file
 * and, separately, osd-remote's output.  A parsed info file must format
 * back to text that parses to the same state; a verdict is always one of
 * the three, with a reason, for every recipient.  The same bytes as a
 * request line: one that parses is written back as one line, which
 * parses to the same request.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qstore_info a, b;
	enum delivery_outcome v[8];
	const char *why[8];
	char err[256], *text = NULL;
	size_t n, i;
	struct buf out;

	if (size < 1)
		return 0;
	n = 1 + data[0] % 8;
	data++;
	size--;
	if (qstore_info_parse((const char *)data, size, n, &a, err, sizeof(err)) == 0) {
		buf_init(&out, 0);
		if (qstore_info_format(&a, &out) == -1)
			abort();
		if (qstore_info_parse(out.data, out.len, n, &b, err, sizeof(err)) == -1)
			abort();
		if (a.tries != b.tries || a.next != b.next || a.bounced != b.bounced)
			abort();
		for (i = 0; i < n; i++) {
			if (a.rcpts[i].status != b.rcpts[i].status)
				abort();
			if ((a.rcpts[i].reason == NULL) != (b.rcpts[i].reason == NULL) ||
			    (a.rcpts[i].reason != NULL && strcmp(a.rcpts[i].reason, b.rcpts[i].reason) != 0))
				abort();
		}
		qstore_info_free(&b);
		qstore_info_free(&a);
		buf_free(&out);
	}
	if (delivery_verdict_parse((const char *)data, size, n, v, why, &text) == 0) {
		for (i = 0; i < n; i++)
			if ((v[i] != DELIVERY_DONE && v[i] != DELIVERY_DEFER && v[i] != DELIVERY_FAIL) ||
			    why[i] == NULL)
				abort();
	}
	free(text);
	request_roundtrip((const char *)data, size);
	return 0;
}
