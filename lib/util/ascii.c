/* ascii.c - ASCII case folding that no locale changes: for addresses, domains and protocol keywords. */
#include "ascii.h"

bool
ascii_has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (ascii_is_ctl((unsigned char)s[i]))
			return true;
	return false;
}

size_t
ascii_sanitize(char *out, size_t size, const char *in, size_t len, enum ascii_keep keep, char repl)
{
	size_t i;

	if (size == 0)
		return 0;
	for (i = 0; i < len && i + 1 < size; i++) {
		unsigned char c = (unsigned char)in[i];
		bool bad = ascii_is_ctl(c) || (keep == ASCII_KEEP_PRINTABLE && c >= 0x80);

		out[i] = bad ? repl : (char)c;
	}
	out[i] = '\0';
	return i;
}

bool
ascii_eq_nocase(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}
