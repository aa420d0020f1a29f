/* fuzz_relaydb_value.c - fuzz target: decoding a relay.cdb value from an untrusted table. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relaydb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relaydb_result res;
	/* An exact-size copy, so a read past the end is caught by ASan. */
	char *copy = malloc(size ? size : 1);

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	memset(&res, 0, sizeof res);
	if (relaydb_decode_value(copy, size, &res) == 0) {
		if (res.env_count > RELAYDB_ENV_MAX)
			abort();
		for (size_t i = 0; i < res.env_count; i++)
			if (strlen(res.env[i].name) == 0)
				abort();
	}
	free(copy);
	return 0;
}
