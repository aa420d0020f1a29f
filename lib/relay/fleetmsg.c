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

/* Revocations (osd revoke across the fleet). */
#define TOMB_INFIX ":relay:revoked:"
#define TOMB_USER_INFIX ":relay:revoked-user:"
#define REVOKE_VERB "revoke "
#define REVOKE_USER_VERB "revoke-user "

int
fleet_tombstone_key(const char *prefix, const struct fleet_revocation *rv, char *out, size_t size)
{
	char name[IPADDR_TEXT_MAX];

	if (rv->by_user)
		return fitted(snprintf(out, size, "%s" TOMB_USER_INFIX "%s", prefix, rv->user), size);
	ipaddr_format(&rv->addr, name);
	return fitted(snprintf(out, size, "%s" TOMB_INFIX "%s", prefix, name), size);
}

int
fleet_revocation_message(const struct fleet_revocation *rv, char *out, size_t size)
{
	char name[IPADDR_TEXT_MAX];

	if (rv->by_user)
		return fitted(snprintf(out, size, REVOKE_USER_VERB "%s %lld", rv->user,
				       (long long)rv->revoke_ms), size);
	ipaddr_format(&rv->addr, name);
	return fitted(snprintf(out, size, REVOKE_VERB "%s %lld", name, (long long)rv->revoke_ms), size);
}

/* Does p (len bytes) begin with the NUL-terminated word? */
static bool
starts(const char *p, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && memcmp(p, word, n) == 0;
}

bool
fleet_message_is_revocation(const char *msg, size_t len)
{
	/* No address begins with a letter past 'f': a login message never matches. */
	return starts(msg, len, REVOKE_VERB) || starts(msg, len, REVOKE_USER_VERB);
}

bool
fleet_key_is_tombstone(const char *prefix, const char *key, size_t keylen)
{
	size_t plen = strlen(prefix);

	return keylen > plen && memcmp(key, prefix, plen) == 0 &&
	       (starts(key + plen, keylen - plen, TOMB_INFIX) ||
		starts(key + plen, keylen - plen, TOMB_USER_INFIX));
}

/* Parse "REVOKE_MS" (exactly len bytes, nothing after it). */
static enum fleet_verdict
parse_ms(const char *p, size_t len, int64_t *ms_r)
{
	struct fleet_login l;
	enum fleet_verdict v = parse_time_user(p, len, &l);

	if (v != FLEET_OK || l.user[0] != '\0')
		return FLEET_BAD_SYNTAX;
	*ms_r = l.login_ms;
	return FLEET_OK;
}

/* The user name of len bytes, as osd would store it. */
static enum fleet_verdict
parse_user(const char *p, size_t len, char *user)
{
	if (len == 0 || len > OPENSMTP_USER_MAX || memchr(p, '\0', len) != NULL)
		return FLEET_BAD_USER;
	memcpy(user, p, len);
	user[len] = '\0';
	return opensmtp_user_valid(user) ? FLEET_OK : FLEET_BAD_USER;
}

/* A revocation is void when every login it could void has expired (R + expire <= now). */
static enum fleet_verdict
check_revocation_time(const struct fleet_revocation *rv, int64_t now_ms, long relay_expire)
{
	struct fleet_login l = { .login_ms = rv->revoke_ms };

	return fleet_check_time(&l, now_ms, relay_expire);
}

/* The target (address or user) of len bytes into rv. */
static enum fleet_verdict
parse_target(bool by_user, const char *p, size_t len, struct fleet_revocation *rv)
{
	rv->by_user = by_user;
	rv->user[0] = '\0';
	memset(&rv->addr, 0, sizeof rv->addr);
	return by_user ? parse_user(p, len, rv->user) : parse_addr(p, len, &rv->addr);
}

enum fleet_verdict
fleet_parse_revocation(const char *msg, size_t len, int64_t now_ms, long relay_expire,
		       struct fleet_revocation *rv_r)
{
	bool by_user = starts(msg, len, REVOKE_USER_VERB);
	size_t skip = strlen(by_user ? REVOKE_USER_VERB : REVOKE_VERB);
	const char *target = msg + skip, *sp;
	enum fleet_verdict v;

	if (!fleet_message_is_revocation(msg, len))
		return FLEET_BAD_SYNTAX;
	sp = memchr(target, ' ', len - skip);
	if (sp == NULL)
		return FLEET_BAD_SYNTAX;
	v = parse_target(by_user, target, (size_t)(sp - target), rv_r);
	if (v == FLEET_OK)
		v = parse_ms(sp + 1, len - (size_t)(sp + 1 - msg), &rv_r->revoke_ms);
	return v == FLEET_OK ? check_revocation_time(rv_r, now_ms, relay_expire) : v;
}

enum fleet_verdict
fleet_parse_tombstone(const char *prefix, const char *key, size_t keylen, const char *value,
		      size_t valuelen, int64_t now_ms, long relay_expire, struct fleet_revocation *rv_r)
{
	size_t plen = strlen(prefix), skip;
	bool by_user;
	enum fleet_verdict v;

	if (!fleet_key_is_tombstone(prefix, key, keylen))
		return FLEET_BAD_SYNTAX;
	by_user = starts(key + plen, keylen - plen, TOMB_USER_INFIX);
	skip = plen + strlen(by_user ? TOMB_USER_INFIX : TOMB_INFIX);
	v = parse_target(by_user, key + skip, keylen - skip, rv_r);
	if (v == FLEET_OK)
		v = parse_ms(value, valuelen, &rv_r->revoke_ms);
	return v == FLEET_OK ? check_revocation_time(rv_r, now_ms, relay_expire) : v;
}

bool
fleet_revocation_voids(const struct fleet_revocation *rv, const struct fleet_login *l)
{
	if (l->login_ms > rv->revoke_ms)
		return false;           /* a login after the revocation stands */
	if (rv->by_user)
		return l->user[0] != '\0' && strcmp(l->user, rv->user) == 0;
	return ipaddr_equal(&rv->addr, &l->addr);
}
