/* ascii.h - ASCII case folding that no locale changes: for addresses, domains and protocol keywords. */
#ifndef OSD_ASCII_H
#define OSD_ASCII_H

#include <stdbool.h>
#include <stddef.h>

/*
 * c in lower case if it is 'A'..'Z', else c unchanged.  Not tolower(): the
 * locale must not change what matches, and octets >= 0x80 are left alone.
 */
static inline char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Do the len octets of a and b match ignoring ASCII case (NULs compared like any octet)? */
bool ascii_eq_nocase(const char *a, const char *b, size_t len);

#endif
