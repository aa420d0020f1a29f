/* decimal.h - the one parser of an unsigned decimal number with a bound: digits only, no overflow. */
#ifndef OSD_DECIMAL_H
#define OSD_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/*
 * The len octets of s as a decimal number no greater than max: 0 and
 * *v_r, or -1 (*v_r untouched) when len is 0, an octet is not '0'..'9'
 * (no sign, no spaces, no "0x", no suffix), or the value exceeds max.
 * Never overflows, whatever len is; leading zeros are allowed (callers
 * that refuse them, or bound the digits, check that first).  Not
 * strtoul(): that skips spaces, takes a sign and depends on errno.
 */
int decimal_parse(const char *s, size_t len, uint64_t max, uint64_t *v_r);

#endif
