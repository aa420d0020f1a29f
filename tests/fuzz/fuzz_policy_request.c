/* fuzz_policy_request.c - fuzz target: the Postfix policy requests osd policyd reads from its socket, framed and parsed as a connection would, in pieces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_scan scan = { 0, 0 };
	struct policy_request req;
	const char *error;
	size_t start = 0, seen = 0, end;
	struct buf out;

	buf_init(&out, 0);
	/* Feed the bytes as reads of 1, 2, 3 ... octets, as a trickling client would. */
	for (size_t step = 1; seen < size; step++) {
		int r;

		seen = seen + step > size ? size : seen + step;
		/* An exact-size copy of what the connection holds, so ASan sees a read past it. */
		size_t len = seen - start;
		char *copy = malloc(len ? len : 1);

		if (copy == NULL)
			break;
		memcpy(copy, data + start, len);
		while ((r = policy_scan(&scan, copy, len, &end, &error)) == 1) {
			if (end == 0 || end > len || copy[end - 1] != '\n')
				abort();
			if (policy_parse(copy, end, &req, &error) == 0) {
				if ((req.client_ok && !req.has_client) || req.nattrs == 0 ||
				    req.nattrs > POLICY_ATTRS_MAX)
					abort();
				if (policy_reply(&out, req.client_ok ? "OK" : "DUNNO") == -1)
					abort();
			} else if (error == NULL || error[0] == '\0') {
				abort();
			}
			memmove(copy, copy + end, len - end);
			len -= end;
			start += end;
		}
		free(copy);
		if (r == -1) {
			if (error == NULL || error[0] == '\0')
				abort();
			break;
		}
		if (len >= POLICY_REQUEST_MAX)
			abort();        /* scan must have refused it */
		buf_reset(&out);
	}
	buf_free(&out);
	return 0;
}
