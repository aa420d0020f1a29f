/* fuzz_aliases.c - fuzz target: an aliases file ("name: target, target") looked up, and the Delivered-To loop check over the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aliases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Names looked up in every input: plain, another case, the catch-all, one never there. */
static const char *const names[] = { "postmaster", "Info", ALIASES_CATCHALL, "nobody-here" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct aliases_targets t;
	char err[512];

	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		int r = aliases_lookup(text, size, names[n], "example.org", &t, err, sizeof(err));

		if (r < -1 || r > 1)
			abort();
		if (r != 1)
			continue;
		if (t.count == 0 || t.count > ALIASES_TARGETS_MAX)
			abort();
		for (size_t i = 0; i < t.count; i++) {
			/* Every target is a whole address, within its bound, listed once. */
			if (strchr(t.addrs[i], '@') == NULL || strlen(t.addrs[i]) > ALIASES_TARGET_MAX)
				abort();
			for (size_t j = 0; j < i; j++)
				if (strcmp(t.addrs[i], t.addrs[j]) == 0)
					abort();
		}
		aliases_targets_free(&t);
	}
	(void)aliases_delivered_to(text, size, "postmaster@example.org");
	return 0;
}
