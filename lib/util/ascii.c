/* ascii.c - ASCII case folding that no locale changes: for addresses, domains and protocol keywords. */
#include "ascii.h"

bool
ascii_eq_nocase(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}
