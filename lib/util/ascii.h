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

/* A control character (RFC 5234 CTL: 0x00-0x1f, 0x7f)?  Octets >= 0x80 are not. */
static inline bool
ascii_is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Does [s, s+len) hold a control character (NUL included)? */
bool ascii_has_ctl(const char *s, size_t len);

/* What ascii_sanitize replaces. */
enum ascii_keep {
	ASCII_KEEP_8BIT,        /* only control characters: UTF-8 text passes */
	ASCII_KEEP_PRINTABLE,   /* everything outside 0x20-0x7e */
};

/*
 * Copy the len octets of in (a NUL among them is a control character, not
 * the end) into out, NUL-terminated within size octets, each octet that
 * keep refuses replaced by repl: text a peer or a file chose, made safe for
 * a log line or a one-line field.  Returns the octets written before the
 * NUL (fewer than len when out is too small; 0 and nothing written when
 * size is 0).
 */
size_t ascii_sanitize(char *out, size_t size, const char *in, size_t len, enum ascii_keep keep,
		      char repl);

/* Do the len octets of a and b match ignoring ASCII case (NULs compared like any octet)? */
bool ascii_eq_nocase(const char *a, const char *b, size_t len);

#endif
