/* relaylist.c - osd list's rows: add, sort by address, format as text or JSON. */
#include "relaylist.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

void
relaylist_init(struct relaylist *l)
{
	memset(l, 0, sizeof *l);
}

void
relaylist_free(struct relaylist *l)
{
	free(l->rows);
	free(l->users);
	relaylist_init(l);
}

void
relaylist_add(struct relaylist *l, const struct ipaddr *addr, const struct timespec *login,
	      const char *user)
{
	struct relaylist_row *r;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->rows = xreallocarray(l->rows, l->cap, sizeof *l->rows);
	}
	r = &l->rows[l->n++];
	memset(r, 0, sizeof *r);
	r->key[0] = addr->family == AF_INET ? 4 : 6;
	memcpy(r->key + 1, addr->bytes, ipaddr_len(addr));
	r->sec = login->tv_sec;
	r->nsec = (uint32_t)login->tv_nsec;
	if (user != NULL && user[0] != '\0') {
		size_t len = strlen(user) + 1;

		/* Offsets are 32-bit: 4 GiB of names is far beyond any table. */
		if (l->ulen + len >= UINT32_MAX)
			return;
		if (l->ulen + len > l->ucap) {
			l->ucap = (l->ucap ? l->ucap * 2 : 16384) + len;
			l->users = xreallocarray(l->users, l->ucap, 1);
		}
		memcpy(l->users + l->ulen, user, len);
		r->user = (uint32_t)l->ulen + 1;
		l->ulen += len;
	}
}

static int
row_cmp(const void *a, const void *b)
{
	return memcmp(((const struct relaylist_row *)a)->key, ((const struct relaylist_row *)b)->key,
		      sizeof ((const struct relaylist_row *)a)->key);
}

void
relaylist_sort(struct relaylist *l)
{
	if (l->n > 1)
		qsort(l->rows, l->n, sizeof *l->rows, row_cmp);
}

void
relaylist_row_addr(const struct relaylist_row *r, struct ipaddr *addr_r)
{
	memset(addr_r, 0, sizeof *addr_r);
	addr_r->family = r->key[0] == 4 ? AF_INET : AF_INET6;
	memcpy(addr_r->bytes, r->key + 1, ipaddr_len(addr_r));
}

const char *
relaylist_row_user(const struct relaylist *l, const struct relaylist_row *r)
{
	return r->user != 0 ? l->users + r->user - 1 : "";
}

/* Append s; bounded by the caller's RELAYLIST_LINE_MAX budget. */
static char *
put(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *
put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

/* 2026-01-31T12:00:00Z without strftime (a million lines); "@<secs>" past year 9999. */
static char *
put_time(char *p, time_t t)
{
	struct tm tm;
	unsigned year;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		char num[32];
		size_t i = sizeof num;
		unsigned long long v = t < 0 ? 0 : (unsigned long long)t;

		num[--i] = '\0';
		do
			num[--i] = (char)('0' + v % 10);
		while ((v /= 10) != 0 && i > 0);
		*p++ = '@';
		return put(p, num + i);
	}
	year = (unsigned)tm.tm_year + 1900;
	p = put2(p, year / 100);
	p = put2(p, year % 100);
	*p++ = '-';
	p = put2(p, (unsigned)tm.tm_mon + 1);
	*p++ = '-';
	p = put2(p, (unsigned)tm.tm_mday);
	*p++ = 'T';
	p = put2(p, (unsigned)tm.tm_hour);
	*p++ = ':';
	p = put2(p, (unsigned)tm.tm_min);
	*p++ = ':';
	p = put2(p, (unsigned)tm.tm_sec);
	*p++ = 'Z';
	return p;
}

static char *
put_num(char *p, long long v)
{
	char num[32];
	size_t i = sizeof num;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do
		num[--i] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		num[--i] = '-';
	memcpy(p, num + i, sizeof num - i);
	return p + (sizeof num - i);
}

/* A JSON string (RFC 8259 section 7), at most max bytes of s. */
static char *
put_json_str(char *p, const char *s, size_t max)
{
	static const char hex[] = "0123456789abcdef";

	*p++ = '"';
	for (size_t i = 0; s[i] != '\0' && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			/* Names are printable ASCII (opensmtp_user_valid); rules may hold anything. */
			p = put(p, "\\u00");
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		} else {
			*p++ = (char)c;
		}
	}
	*p++ = '"';
	return p;
}

/* Text fields: no spaces inside, "-" for none, at most max bytes. */
static char *
put_field(char *p, const char *s, size_t max)
{
	size_t i;

	if (s[0] == '\0')
		return put(p, "-");
	for (i = 0; s[i] != '\0' && i < max; i++)
		*p++ = (unsigned char)s[i] > ' ' && (unsigned char)s[i] < 0x7f ? s[i] : '?';
	return p;
}

size_t
relaylist_format(const struct relaylist_item *it, bool json, bool first, char *out)
{
	/* Budget: 6 escapes of 1000 bytes at most 6 bytes each, well below RELAYLIST_LINE_MAX. */
	const size_t max = 1000;
	char *p = out;

	if (!json) {
		p = put_field(p, it->dynamic ? it->address : it->address[0] != '\0' ? it->address
										   : "(default)", max);
		*p++ = ' ';
		p = put_field(p, it->user, max);
		*p++ = ' ';
		if (it->dynamic) {
			p = put_time(p, it->login);
			*p++ = ' ';
			p = put_time(p, it->expires);
		} else {
			p = put(p, "- -");
		}
		p = put(p, it->dynamic ? " dynamic\n" : " static\n");
		return (size_t)(p - out);
	}
	if (!first)
		*p++ = ',';
	p = put(p, "{\"address\":");
	p = put_json_str(p, it->address, max);
	p = put(p, ",\"user\":");
	if (it->user[0] != '\0')
		p = put_json_str(p, it->user, max);
	else
		p = put(p, "null");
	if (it->dynamic) {
		p = put(p, ",\"login\":\"");
		p = put_time(p, it->login);
		p = put(p, "\",\"login_unix\":");
		p = put_num(p, (long long)it->login);
		p = put(p, ",\"expires\":\"");
		p = put_time(p, it->expires);
		p = put(p, "\",\"expires_unix\":");
		p = put_num(p, (long long)it->expires);
		p = put(p, ",\"source\":\"dynamic\"}");
	} else {
		p = put(p, ",\"login\":null,\"expires\":null,\"source\":\"static\",\"rule\":");
		p = put_json_str(p, it->rule != NULL ? it->rule : "", max);
		*p++ = '}';
	}
	return (size_t)(p - out);
}
