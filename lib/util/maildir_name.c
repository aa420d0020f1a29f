/* maildir_name.c - the parts of a Maildir file name: unique part, Maildir++ size field, the seen flag. */
#include "maildir_name.h"

#include <stdio.h>
#include <string.h>

size_t
maildir_name_base_len(const char *name)
{
	return strcspn(name, ":");
}

bool
maildir_name_size(const char *name, size_t len, uint64_t *size_r)
{
	const char *end = memchr(name, '\0', len);
	const char *p = name;

	if (end == NULL)
		end = name + len;
	/* The fields after the unique part are ",KEY=value", before any ":2,FLAGS". */
	while (end - p > 3 && (p = memchr(p, ',', (size_t)(end - p))) != NULL) {
		const char *d = p + 3;
		uint64_t v = 0;
		bool fits = true;

		if (end - p < 4 || p[1] != 'S' || p[2] != '=' || *d < '0' || *d > '9') {
			p++;
			continue;
		}
		for (; d < end && *d >= '0' && *d <= '9'; d++) {
			if (v > (UINT64_MAX - (uint64_t)(*d - '0')) / 10)
				fits = false;
			else
				v = v * 10 + (uint64_t)(*d - '0');
		}
		if (fits && (d == end || *d == ',' || *d == ':')) {
			*size_r = v;
			return true;
		}
		p = d;
	}
	return false;
}

int
maildir_name_seen(const char *name, bool in_new, char *out, size_t size)
{
	size_t blen = maildir_name_base_len(name);
	const char *info = name + blen;
	const char *flags;
	size_t k, flen;
	int n;

	if (*info == '\0') {
		n = snprintf(out, size, "%.*s:2,S", (int)blen, name);
		return n < 0 || (size_t)n >= size ? -1 : 0;
	}
	if (strncmp(info, ":2,", 3) != 0)
		return 1;
	flags = info + 3;
	if (strchr(flags, 'S') != NULL && !in_new)
		return 1;
	if (strchr(flags, 'S') != NULL) {
		n = snprintf(out, size, "%s", name);
		return n < 0 || (size_t)n >= size ? -1 : 0;
	}
	flen = strlen(flags);
	for (k = 0; k < flen && (unsigned char)flags[k] < 'S'; k++)
		;
	n = snprintf(out, size, "%.*s:2,%.*sS%s", (int)blen, name, (int)k, flags, flags + k);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}
