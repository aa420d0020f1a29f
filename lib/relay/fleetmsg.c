/* fleetmsg.c - fleet mode: write and (distrustfully) read the login records shared through Redis. */
#include "fleetmsg.h"

#include <stdio.h>
#include <string.h>

#include "opensmtp.h"

#define KEY_INFIX ":relay:"
#define CHANNEL_SUFFIX ":logins"
/* Milliseconds since the epoch in decimal: 13 digits until the year 2286; a bound on the parse. */
#define MS_DIGITS_MAX 15

bool
fleet_prefix_valid(const char *prefix)
{
	size_t n = strlen(prefix);

	if (n == 0 || n > 63)
		return false;
	/* Glob characters would make the SCAN pattern match other keys. */
	return strspn(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./") == n;
}

/* snprintf's result as a length, or -1 when it did not fit. */
static int
fitted(int n, size_t size)
{
	return n < 0 || (size_t)n >= size ? -1 : n;
}

int
fleet_key(const char *prefix, const struct ipaddr *addr, char *out, size_t size)
{
	char name[IPADDR_TEXT_MAX];

	ipaddr_format(addr, name);
	return fitted(snprintf(out, size, "%s" KEY_INFIX "%s", prefix, name), size);
}

int
fleet_key_pattern(const char *prefix, char *out, size_t size)
{
	return fitted(snprintf(out, size, "%s" KEY_INFIX "*", prefix), size);
}

int
fleet_channel(const char *prefix, char *out, size_t size)
{
	return fitted(snprintf(out, size, "%s" CHANNEL_SUFFIX, prefix), size);
}

int
fleet_value(const struct fleet_login *l, char *out, size_t size)
{
	return fitted(snprintf(out, size, "%lld%s%s", (long long)l->login_ms, l->user[0] ? " " : "",
			       l->user), size);
}

int
fleet_message(const struct fleet_login *l, char *out, size_t size)
{
	char name[IPADDR_TEXT_MAX];

	ipaddr_format(&l->addr, name);
	return fitted(snprintf(out, size, "%s %lld%s%s", name, (long long)l->login_ms,
			       l->user[0] ? " " : "", l->user), size);
}

const char *
fleet_verdict_text(enum fleet_verdict v)
{
	switch (v) {
	case FLEET_OK: return "ok";
	case FLEET_BAD_SYNTAX: return "not an osd login record";
	case FLEET_BAD_ADDRESS: return "not a client address in canonical form";
	case FLEET_BAD_USER: return "not a valid login name";
	case FLEET_FUTURE: return "login time in the future";
	case FLEET_EXPIRED: return "login older than relay_expire";
	}
	return "?";
}

enum fleet_verdict
fleet_check_time(const struct fleet_login *l, int64_t now_ms, long relay_expire)
{
	if (l->login_ms > now_ms + FLEET_CLOCK_SKEW_MS)
		return FLEET_FUTURE;
	/* As opensmtp_is_expired: expired at login + relay_expire exactly. */
	if (l->login_ms + (int64_t)relay_expire * 1000 <= now_ms)
		return FLEET_EXPIRED;
	return FLEET_OK;
}

/* Parse "LOGIN_MS[ USER]" (exactly len bytes) into l. */
static enum fleet_verdict
parse_time_user(const char *p, size_t len, struct fleet_login *l)
{
	size_t digits = 0;
	int64_t ms = 0;

	while (digits < len && p[digits] >= '0' && p[digits] <= '9') {
		if (digits == MS_DIGITS_MAX)
			return FLEET_BAD_SYNTAX;
		ms = ms * 10 + (p[digits] - '0');
		digits++;
	}
	if (digits == 0)
		return FLEET_BAD_SYNTAX;
	l->login_ms = ms;
	l->user[0] = '\0';
	if (digits == len)
		return FLEET_OK;
	if (p[digits] != ' ')
		return FLEET_BAD_SYNTAX;
	p += digits + 1;
	len -= digits + 1;
	if (len == 0 || len > OPENSMTP_USER_MAX || memchr(p, '\0', len) != NULL)
		return FLEET_BAD_USER;
	memcpy(l->user, p, len);
	l->user[len] = '\0';
	return opensmtp_user_valid(l->user) ? FLEET_OK : FLEET_BAD_USER;
}

/* The address text of len bytes: canonical unicast only (as an entry name). */
static enum fleet_verdict
parse_addr(const char *p, size_t len, struct ipaddr *addr_r)
{
	char name[IPADDR_TEXT_MAX];

	if (len == 0 || len >= sizeof name || memchr(p, '\0', len) != NULL)
		return FLEET_BAD_ADDRESS;
	memcpy(name, p, len);
	name[len] = '\0';
	return opensmtp_name_to_addr(name, addr_r) ? FLEET_OK : FLEET_BAD_ADDRESS;
}

enum fleet_verdict
fleet_parse_key_value(const char *prefix, const char *key, size_t keylen, const char *value,
		      size_t valuelen, int64_t now_ms, long relay_expire, struct fleet_login *l_r)
{
	size_t plen = strlen(prefix), ilen = strlen(KEY_INFIX);
	enum fleet_verdict v;

	if (keylen < plen + ilen || memcmp(key, prefix, plen) != 0 ||
	    memcmp(key + plen, KEY_INFIX, ilen) != 0)
		return FLEET_BAD_SYNTAX;
	v = parse_addr(key + plen + ilen, keylen - plen - ilen, &l_r->addr);
	if (v == FLEET_OK)
		v = parse_time_user(value, valuelen, l_r);
	return v == FLEET_OK ? fleet_check_time(l_r, now_ms, relay_expire) : v;
}

enum fleet_verdict
fleet_parse_message(const char *msg, size_t len, int64_t now_ms, long relay_expire,
		    struct fleet_login *l_r)
{
	const char *sp = memchr(msg, ' ', len);
	enum fleet_verdict v;

	if (sp == NULL)
		return FLEET_BAD_SYNTAX;
	v = parse_addr(msg, (size_t)(sp - msg), &l_r->addr);
	if (v == FLEET_OK)
		v = parse_time_user(sp + 1, len - (size_t)(sp - msg) - 1, l_r);
	return v == FLEET_OK ? fleet_check_time(l_r, now_ms, relay_expire) : v;
}
