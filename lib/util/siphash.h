/* siphash.h - SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash for tables an attacker fills. */
#ifndef OSD_SIPHASH_H
#define OSD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_SIZE 16

/*
 * SipHash-2-4 of len bytes at data under the 16-byte key.  Without the
 * key nobody can choose inputs that collide, which a plain hash of
 * client-chosen text (a login name) would allow.
 */
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_SIZE], const void *data, size_t len);

#endif
