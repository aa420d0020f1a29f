/* fuzz_smtpc_reply.c - fuzz target: the SMTP client's reply parser and EHLO parser on a server's bytes, however they are split. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLIES_MAX 64

struct result {
	int n;                          /* replies */
	bool garbage;
	size_t used;                    /* octets used up to the end or the garbage */
	struct smtpc_reply r[REPLIES_MAX];
};

/* Check what must hold for every reply, whatever the input. */
static void
check_reply(const struct smtpc_reply *r)
{
	char line[SMTPC_TEXT_MAX + 16];
	struct smtp_ehlo e;

	if (r->code < 200 || r->code > 599 || r->nlines == 0 || r->len >= sizeof(r->text) ||
	    strlen(r->text) != r->len || strlen(r->enhanced) >= sizeof(r->enhanced))
		abort();
	for (size_t i = 0; i < r->len; i++)
		if (r->text[i] == 0x7f || ((unsigned char)r->text[i] < 0x20 && r->text[i] != '\n'))
			abort();
	if (r->enhanced[0] != '\0' && r->enhanced[0] != '0' + r->code / 100)
		abort();
	smtp_reply_format(r, line, sizeof(line));
	if (strchr(line, '\n') != NULL)
		abort();
	smtp_reply_format(r, line, 7);
	smtp_ehlo_parse(r, &e);
}

/* Feed in pieces of at most step octets (0: all at once). */
static void
run(const char *in, size_t len, size_t step, struct result *res)
{
	struct smtpc_reply_parser p;
	size_t pos = 0;

	smtp_reply_parser_init(&p);
	res->n = 0;
	res->garbage = false;
	while (pos < len && res->n < REPLIES_MAX) {
		size_t n = step == 0 || len - pos < step ? len - pos : step, used;
		int r = smtp_reply_parse(&p, in + pos, n, &used, &res->r[res->n]);

		if (used > n || (r == 0 && used != n) || (r != 0 && used == 0))
			abort();
		pos += used;
		if (r == -1) {
			res->garbage = true;
			break;
		}
		if (r == 1)
			check_reply(&res->r[res->n++]);
	}
	res->used = pos;
}

static void
same(const struct result *a, const struct result *b)
{
	if (a->n != b->n || a->garbage != b->garbage || a->used != b->used)
		abort();
	for (int i = 0; i < a->n; i++) {
		const struct smtpc_reply *x = &a->r[i], *y = &b->r[i];

		if (x->code != y->code || x->len != y->len || x->nlines != y->nlines ||
		    x->cut != y->cut || strcmp(x->enhanced, y->enhanced) != 0 ||
		    memcmp(x->text, y->text, x->len) != 0)
			abort();
	}
}

/* The first octet chooses the piece size; the rest is what the server sent. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct result whole, part;
	const char *in;
	size_t len;

	if (size < 1)
		return 0;
	in = (const char *)data + 1;
	len = size - 1;
	run(in, len, 0, &whole);
	run(in, len, (size_t)data[0] + 1, &part);
	same(&whole, &part);
	if (len <= 8192) {
		run(in, len, 1, &part);
		same(&whole, &part);
	}
	return 0;
}
