/* fuzz_delivery.c - fuzz target: the queue manager <-> delivery programs protocol: a worker request line (parsed, encoded again: the same line) and osd-remote's verdict output. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "delivery_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Do two parsed requests say the same? */
static bool
same_request(const struct delivery_request *a, const struct delivery_request *b)
{
	if (strcmp(a->path, b->path) != 0 || a->offset != b->offset ||
	    strcmp(a->domain, b->domain) != 0 || strcmp(a->sender, b->sender) != 0 ||
	    a->nrcpts != b->nrcpts)
		return false;
	for (size_t i = 0; i < a->nrcpts; i++)
		if (strcmp(a->rcpts[i], b->rcpts[i]) != 0)
			return false;
	return true;
}

/* A request line (as the worker reads it: with room for its LF): what parses encodes to a line that parses the same. */
static void
request(const uint8_t *data, size_t size)
{
	struct delivery_request req, again;
	struct buf out;
	size_t count;
	char *line;

	if (size >= DELIVERY_REQUEST_MAX)
		return;
	line = malloc(size + 1);
	if (line == NULL)
		abort();
	memcpy(line, data, size);
	line[size] = '\0';
	if (delivery_request_parse(line, size, &req, &count) == 0) {
		buf_init(&out, 0);
		if (req.nrcpts == 0 || req.nrcpts > DELIVERY_RCPTS_MAX || req.offset < 0 ||
		    delivery_request_encode(&req, &out) == -1)
			abort();
		if (out.len == 0 || out.data[out.len - 1] != '\n')
			abort();
		out.data[--out.len] = '\0';
		if (delivery_request_parse(out.data, out.len, &again, &count) == -1 ||
		    !same_request(&req, &again))
			abort();
		buf_free(&out);
	} else if (count > size) {
		abort();
	}
	free(line);
}

/* osd-remote's output for nrcpts recipients: every recipient gets an outcome and a reason. */
static void
verdict(const char *out, size_t len, size_t nrcpts)
{
	enum delivery_outcome v[DELIVERY_RCPTS_MAX];
	const char *reason[DELIVERY_RCPTS_MAX];
	char *text = NULL;

	(void)delivery_verdict_complete(out, len, nrcpts);
	if (delivery_verdict_parse(out, len, nrcpts, v, reason, &text) == -1)
		abort();
	for (size_t i = 0; i < nrcpts; i++)
		if ((v[i] != DELIVERY_DONE && v[i] != DELIVERY_DEFER && v[i] != DELIVERY_FAIL) ||
		    reason[i] == NULL || strlen(reason[i]) > DELIVERY_TEXT_MAX)
			abort();
	/* A reason is one line of text: no control character reaches the log or the queue file. */
	for (size_t i = 0; i < nrcpts; i++)
		for (const char *c = reason[i]; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				abort();
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[DELIVERY_TEXT_MAX + 1];

	if (size == 0)
		return 0;
	/* The first byte picks the side: even a request line, odd a verdict (with 1..100 recipients). */
	if ((data[0] & 1) == 0) {
		request(data + 1, size - 1);
	} else {
		verdict((const char *)data + 1, size - 1, 1 + (size_t)(data[0] >> 1) % DELIVERY_RCPTS_MAX);
		(void)delivery_local_outcome((int)data[0] - 128);
	}
	/* delivery_text_set wants a C string: the bytes up to a NUL, cut short. */
	if (memchr(data, '\0', size) != NULL) {
		delivery_text_set(text, (const char *)data);
		for (size_t i = 0; text[i] != '\0'; i++)
			if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
				abort();
	}
	return 0;
}
