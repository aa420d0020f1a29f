/* fuzz_smtp_qinfo.c - fuzz target: the queue manager's state file parser and the osd-remote verdict reader. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "qstore.h"
#include "verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first byte picks a recipient count (1..8); the rest is an info file
 * and, separately, osd-remote's output.  A parsed info file must format
 * back to text that parses to the same state; a verdict is always one of
 * the three, with a reason, for every recipient.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qstore_info a, b;
	enum verdict v[8];
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
	if (verdict_remote((const char *)data, size, n, v, why, &text) == 0) {
		for (i = 0; i < n; i++)
			if ((v[i] != VERDICT_DONE && v[i] != VERDICT_DEFER && v[i] != VERDICT_FAIL) ||
			    why[i] == NULL)
				abort();
	}
	free(text);
	return 0;
}
