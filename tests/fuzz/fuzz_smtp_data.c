/* fuzz_smtp_data.c - fuzz target: the DATA reader must give the same result however the input is split. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dataread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	size_t consumed;
	struct smtp_data d;
	struct buf out;
};

/* Feed in pieces: the first cut at split, then at most step octets a time (0: the rest at once). */
static void
run(const char *in, size_t len, uint64_t max_size, size_t split, size_t step, struct result *r)
{
	size_t pos = 0;

	smtp_data_init(&r->d, max_size);
	buf_init(&r->out, 0);
	r->consumed = 0;
	while (pos < len && !r->d.done) {
		size_t n = len - pos, used;

		if (pos < split)
			n = split - pos;
		if (step > 0 && n > step)
			n = step;
		used = smtp_data_feed(&r->d, in + pos, n, &r->out);
		if (used == (size_t)-1 || used > n || (used < n && !r->d.done))
			abort();
		pos += used;
		r->consumed += used;
	}
	/* The output is never larger than what was consumed, and holds no CR. */
	if (r->out.len > r->consumed || (r->out.len > 0 && memchr(r->out.data, '\r', r->out.len) != NULL))
		abort();
	if (r->d.max_size > 0 && r->d.error == SMTP_DATA_OK && r->d.size > r->d.max_size)
		abort();
	if ((r->d.error == SMTP_DATA_OK) != (smtp_data_error_reply(r->d.error) == NULL))
		abort();
}

static void
same(const struct result *a, const struct result *b)
{
	if (a->consumed != b->consumed || a->d.done != b->d.done || a->d.error != b->d.error ||
	    a->d.size != b->d.size || a->d.line_len != b->d.line_len || a->d.state != b->d.state ||
	    a->out.len != b->out.len || (a->out.len > 0 && memcmp(a->out.data, b->out.data, a->out.len) != 0))
		abort();
}

/* The first three octets choose the split point and max_size; the rest is the client's bytes. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, part;
	const char *in;
	size_t len, split;
	uint64_t max_size;

	if (size < 3)
		return 0;
	in = (const char *)data + 3;
	len = size - 3;
	split = len > 0 ? ((size_t)data[0] << 8 | data[1]) % (len + 1) : 0;
	max_size = data[2] < 128 ? 0 : (uint64_t)(data[2] - 128) * 8;
	run(in, len, max_size, 0, 0, &whole);
	run(in, len, max_size, split, 0, &part);
	same(&whole, &part);
	buf_free(&part.out);
	if (len <= 4096) {
		run(in, len, max_size, 0, 1, &part);
		same(&whole, &part);
		buf_free(&part.out);
	}
	buf_free(&whole.out);
	return 0;
}
