/* relaylist.h - osd list's table of live entries: compact fixed-size rows sorted by address, and their text and JSON lines. */
#ifndef OSD_RELAYLIST_H
#define OSD_RELAYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ipaddr.h"

/*
 * One live entry in 40 bytes: no string is allocated per entry (at 1M
 * entries a malloc each would cost more than reading the folder).  key
 * sorts with memcmp: a family byte (4 before 6) then the address bytes in
 * network order, so IPv4 comes first in numeric order, then IPv6 in
 * numeric order (not the order of their texts: 10.0.0.2 before 10.0.0.10).
 */
struct relaylist_row {
	uint8_t key[17];
	uint8_t pad[3];
	uint32_t nsec;
	int64_t sec;                    /* the login time */
	uint32_t user;                  /* offset + 1 of the name in relaylist.users; 0: none */
	uint32_t pad2;
};

struct relaylist {
	struct relaylist_row *rows;
	size_t n, cap;
	char *users;                    /* the names, each ending in NUL, one after another */
	size_t ulen, ucap;
};

void relaylist_init(struct relaylist *l);
void relaylist_free(struct relaylist *l);

/* Add the entry of addr, login time login, user (NULL or "": none). */
void relaylist_add(struct relaylist *l, const struct ipaddr *addr, const struct timespec *login,
		   const char *user);

/* Sort by address (see struct relaylist_row). */
void relaylist_sort(struct relaylist *l);

/* The row's address and user ("" for none). */
void relaylist_row_addr(const struct relaylist_row *r, struct ipaddr *addr_r);
const char *relaylist_row_user(const struct relaylist *l, const struct relaylist_row *r);

/* A row to print: a login entry, or a static rule (address = its key, no user or times). */
struct relaylist_item {
	const char *address;            /* entry name, or the rule's key ("" the default rule) */
	const char *user;               /* "" none */
	bool dynamic;
	time_t login, expires;          /* dynamic only */
	const char *rule;               /* static only: the rule's value as tcprules reads it */
};

/*
 * Append one line for item to out (at least RELAYLIST_LINE_MAX bytes free),
 * returning its length.  Text: "ADDRESS USER LOGIN EXPIRES SOURCE\n" with
 * "-" for an empty field and times as 2026-01-31T12:00:00Z (a static
 * rule's address shown as its key, "(default)" for the empty one); JSON:
 * one object, preceded by "," unless first, no newline inside.
 */
#define RELAYLIST_LINE_MAX 8192
size_t relaylist_format(const struct relaylist_item *item, bool json, bool first, char *out);

#endif
