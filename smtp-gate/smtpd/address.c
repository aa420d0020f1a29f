/* address.c - RFC 5321 Path, Mailbox and ESMTP parameter parsing for MAIL FROM and RCPT TO. */
#include "address.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "ascii.h"
#include "decimal.h"

/* A read position inside the argument; every parser stops at end. */
struct scan {
	const char *p;
	const char *end;
};

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5321 4.1.2 atext (from RFC 5322): ASCII only, SMTPUTF8 is not offered. */
static bool
is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* NUL never reaches here (control characters are refused first), so strncasecmp sees all len octets. */
static bool
equal_nocase(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

/* Dot-string (RFC 5321 4.1.2): atoms of atext joined by single dots. */
static bool
is_dot_string(const char *s, size_t len)
{
	bool need_atext = true;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (need_atext)
				return false;
			need_atext = true;
		} else if (is_atext((unsigned char)s[i])) {
			need_atext = false;
		} else {
			return false;
		}
	}
	return !need_atext;
}

/*
 * address-literal (RFC 5321 4.1.3): "[" IPv4 "]" or "[IPv6:" addr "]",
 * both checked by inet_pton so "[999.1.1.1]" is refused.  The general
 * "tag:content" form names no transport osd can use, so it is refused.
 * When canon is not NULL it receives the literal with the hex digits
 * lowercased and the tag spelled "IPv6:" as the RFC does.
 */
static bool
literal_valid(const char *s, size_t len, char *canon)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *inner;
	size_t ilen;
	bool v6;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return false;
	inner = s + 1;
	ilen = len - 2;
	v6 = ilen > 5 && equal_nocase(inner, 5, "IPv6:");
	if (v6) {
		inner += 5;
		ilen -= 5;
	}
	if (ilen >= sizeof(addr))
		return false;
	memcpy(addr, inner, ilen);
	addr[ilen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1)
		return false;
	if (canon != NULL) {
		size_t n = 0;

		canon[n++] = '[';
		if (v6) {
			memcpy(canon + n, "IPv6:", 5);
			n += 5;
		}
		for (size_t i = 0; i < ilen; i++)
			canon[n++] = ascii_lower(addr[i]);
		canon[n++] = ']';
		canon[n] = '\0';
	}
	return true;
}

bool
smtp_domain_valid(const char *domain, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return false;
	if (domain[0] == '[')
		return literal_valid(domain, len, NULL);
	for (size_t i = 0; i <= len; i++) {
		if (i == len || domain[i] == '.') {
			/* Empty labels ("a..b", ".a", "a.") and a label ending in '-'. */
			if (label == 0 || label > 63 || domain[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_alpha((unsigned char)domain[i]) && !is_digit((unsigned char)domain[i]) &&
		    domain[i] != '-')
			return false;
		if (label == 0 && domain[i] == '-')
			return false;
		label++;
	}
	return true;
}

/* The Domain token at sc (letters, digits, '-', '.'), syntax checked. */
static enum smtp_addr_error
scan_domain_name(struct scan *sc, const char **start_r, size_t *len_r)
{
	const char *start = sc->p;

	while (sc->p < sc->end && (is_alpha((unsigned char)*sc->p) || is_digit((unsigned char)*sc->p) ||
				   *sc->p == '-' || *sc->p == '.'))
		sc->p++;
	*start_r = start;
	*len_r = (size_t)(sc->p - start);
	if (*len_r > SMTP_DOMAIN_MAX)
		return SMTP_ADDR_TOO_LONG;
	return smtp_domain_valid(start, *len_r) ? SMTP_ADDR_OK : SMTP_ADDR_SYNTAX;
}

/*
 * A-d-l (RFC 5321 4.1.2): "@one,@two:".  Only checked: RFC 5321 4.1.1.3
 * says a server should ignore the route and deliver to the mailbox.
 */
static enum smtp_addr_error
parse_route(struct scan *sc)
{
	for (;;) {
		enum smtp_addr_error e;
		const char *d;
		size_t dlen;

		if (sc->p == sc->end || *sc->p != '@')
			return SMTP_ADDR_SYNTAX;
		sc->p++;
		if ((e = scan_domain_name(sc, &d, &dlen)) != SMTP_ADDR_OK)
			return e;
		if (sc->p == sc->end)
			return SMTP_ADDR_SYNTAX;
		if (*sc->p == ':') {
			sc->p++;
			return SMTP_ADDR_OK;
		}
		if (*sc->p != ',')
			return SMTP_ADDR_SYNTAX;
		sc->p++;
	}
}

/* Local-part: Dot-string, or Quoted-string with its quoting removed into path->local. */
static enum smtp_addr_error
parse_local(struct scan *sc, struct smtp_path *path)
{
	const char *start = sc->p;
	size_t n = 0;

	if (sc->p < sc->end && *sc->p == '"') {
		path->quoted = true;
		sc->p++;
		for (;;) {
			unsigned char c;

			if (sc->p == sc->end)
				return SMTP_ADDR_SYNTAX;
			c = (unsigned char)*sc->p++;
			if (c == '"')
				break;
			/* quoted-pairSMTP is "\" followed by any printable ASCII. */
			if (c == '\\') {
				if (sc->p == sc->end)
					return SMTP_ADDR_SYNTAX;
				c = (unsigned char)*sc->p++;
			}
			if (c < 32 || c > 126)
				return SMTP_ADDR_SYNTAX;
			/* The quoted form is longer still, so this is over the limit. */
			if (n == SMTP_LOCAL_MAX)
				return SMTP_ADDR_TOO_LONG;
			path->local[n++] = (char)c;
		}
		if ((size_t)(sc->p - start) > SMTP_LOCAL_MAX)
			return SMTP_ADDR_TOO_LONG;
		path->local[n] = '\0';
		return SMTP_ADDR_OK;
	}
	while (sc->p < sc->end && (is_atext((unsigned char)*sc->p) || *sc->p == '.'))
		sc->p++;
	n = (size_t)(sc->p - start);
	if (n > SMTP_LOCAL_MAX)
		return SMTP_ADDR_TOO_LONG;
	if (!is_dot_string(start, n))
		return SMTP_ADDR_SYNTAX;
	memcpy(path->local, start, n);
	path->local[n] = '\0';
	return SMTP_ADDR_OK;
}

/* Domain or address-literal after the '@', lowercased into path->domain. */
static enum smtp_addr_error
parse_domain(struct scan *sc, struct smtp_path *path)
{
	const char *start = sc->p;
	enum smtp_addr_error e;
	size_t len;

	if (sc->p < sc->end && *sc->p == '[') {
		/* dcontent (RFC 5321 4.1.3): printable ASCII but "[", "\" and "]". */
		sc->p++;
		while (sc->p < sc->end && *sc->p != ']') {
			unsigned char c = (unsigned char)*sc->p;

			if (c < 33 || c > 126 || c == '[' || c == '\\')
				return SMTP_ADDR_SYNTAX;
			sc->p++;
		}
		if (sc->p == sc->end)
			return SMTP_ADDR_SYNTAX;
		sc->p++;
		len = (size_t)(sc->p - start);
		if (len > SMTP_DOMAIN_MAX)
			return SMTP_ADDR_TOO_LONG;
		if (!literal_valid(start, len, path->domain))
			return SMTP_ADDR_SYNTAX;
		path->domain_literal = true;
		return SMTP_ADDR_OK;
	}
	if ((e = scan_domain_name(sc, &start, &len)) != SMTP_ADDR_OK)
		return e;
	for (size_t i = 0; i < len; i++)
		path->domain[i] = ascii_lower(start[i]);
	path->domain[len] = '\0';
	return SMTP_ADDR_OK;
}

/* path->address: the local part re-quoted unless it is a Dot-string, "@", the domain. */
static enum smtp_addr_error
make_address(struct smtp_path *path)
{
	char *a = path->address;
	size_t n = 0, llen = strlen(path->local), dlen = strlen(path->domain);
	bool quote = !is_dot_string(path->local, llen);
	size_t need = llen + (quote ? 2 : 0) + (path->no_domain ? 0 : 1 + dlen);

	for (size_t i = 0; quote && i < llen; i++)
		if (path->local[i] == '"' || path->local[i] == '\\')
			need++;
	if (need > SMTP_PATH_MAX)
		return SMTP_ADDR_TOO_LONG;
	if (quote)
		a[n++] = '"';
	for (size_t i = 0; i < llen; i++) {
		if (quote && (path->local[i] == '"' || path->local[i] == '\\'))
			a[n++] = '\\';
		a[n++] = path->local[i];
	}
	if (quote)
		a[n++] = '"';
	if (!path->no_domain) {
		a[n++] = '@';
		memcpy(a + n, path->domain, dlen);
		n += dlen;
	}
	a[n] = '\0';
	return SMTP_ADDR_OK;
}

/* Mailbox, or for RCPT the bare "Postmaster" of RFC 5321 4.1.1.3 (any case, unquoted). */
static enum smtp_addr_error
parse_mailbox(struct scan *sc, bool is_mail, struct smtp_path *path)
{
	enum smtp_addr_error e;

	if ((e = parse_local(sc, path)) != SMTP_ADDR_OK)
		return e;
	if (sc->p < sc->end && *sc->p == '@') {
		sc->p++;
		if ((e = parse_domain(sc, path)) != SMTP_ADDR_OK)
			return e;
	} else if (!is_mail && !path->quoted && !path->had_route &&
		   equal_nocase(path->local, strlen(path->local), "postmaster")) {
		path->no_domain = true;
		memcpy(path->local, "postmaster", sizeof("postmaster"));
	} else {
		return SMTP_ADDR_SYNTAX;
	}
	return make_address(path);
}

/* esmtp-value (RFC 5321 4.1.2): printable ASCII but "=". */
static bool
is_value_char(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '=';
}

static enum smtp_addr_error
param_size(const char *v, size_t vlen, struct smtp_params *params)
{
	uint64_t n;

	if (params->have_size || vlen > 20 || decimal_parse(v, vlen, UINT64_MAX, &n) == -1)
		return SMTP_PARAM_SYNTAX;
	params->have_size = true;
	params->size = n;
	return SMTP_ADDR_OK;
}

static enum smtp_addr_error
param_body(const char *v, size_t vlen, struct smtp_params *params)
{
	if (params->body != SMTP_BODY_NONE)
		return SMTP_PARAM_SYNTAX;
	if (equal_nocase(v, vlen, "7BIT"))
		params->body = SMTP_BODY_7BIT;
	else if (equal_nocase(v, vlen, "8BITMIME"))
		params->body = SMTP_BODY_8BITMIME;
	else if (equal_nocase(v, vlen, "BINARYMIME"))
		return SMTP_PARAM_UNKNOWN;      /* RFC 3030: valid, but CHUNKING is not offered */
	else
		return SMTP_PARAM_SYNTAX;
	return SMTP_ADDR_OK;
}

/*
 * Mail-parameters / Rcpt-parameters (RFC 5321 4.1.2): keyword["=value"]
 * separated by spaces.  RCPT knows none of them (no DSN), so any
 * well-formed parameter there is unknown.
 */
static enum smtp_addr_error
parse_params(struct scan *sc, bool is_mail, struct smtp_params *params)
{
	while (sc->p < sc->end) {
		const char *kw, *v = NULL;
		size_t kwlen, vlen = 0;
		bool has_value = false;

		while (sc->p < sc->end && *sc->p == ' ')
			sc->p++;
		if (sc->p == sc->end)
			break;
		kw = sc->p;
		if (!is_alpha((unsigned char)*sc->p) && !is_digit((unsigned char)*sc->p))
			return SMTP_PARAM_SYNTAX;
		while (sc->p < sc->end && (is_alpha((unsigned char)*sc->p) || is_digit((unsigned char)*sc->p) ||
					   *sc->p == '-'))
			sc->p++;
		kwlen = (size_t)(sc->p - kw);
		if (sc->p < sc->end && *sc->p == '=') {
			has_value = true;
			v = ++sc->p;
			while (sc->p < sc->end && is_value_char((unsigned char)*sc->p))
				sc->p++;
			vlen = (size_t)(sc->p - v);
			if (vlen == 0)
				return SMTP_PARAM_SYNTAX;
		}
		if (sc->p < sc->end && *sc->p != ' ')
			return SMTP_PARAM_SYNTAX;
		if (!is_mail)
			return SMTP_PARAM_UNKNOWN;
		if (equal_nocase(kw, kwlen, "SIZE")) {
			enum smtp_addr_error e = param_size(v, vlen, params);
			if (e != SMTP_ADDR_OK)
				return e;
		} else if (equal_nocase(kw, kwlen, "BODY")) {
			enum smtp_addr_error e = has_value ? param_body(v, vlen, params) : SMTP_PARAM_SYNTAX;
			if (e != SMTP_ADDR_OK)
				return e;
		} else if (equal_nocase(kw, kwlen, "AUTH")) {
			/* RFC 4954 5: the value (xtext or "<>") is not trusted, only noted. */
			if (!has_value || params->have_auth)
				return SMTP_PARAM_SYNTAX;
			params->have_auth = true;
		} else {
			return SMTP_PARAM_UNKNOWN;
		}
	}
	return SMTP_ADDR_OK;
}

enum smtp_addr_error
smtp_parse_path(const char *arg, size_t len, bool is_mail, struct smtp_path *path,
		struct smtp_params *params)
{
	struct scan sc = { arg, arg + len };
	enum smtp_addr_error e;
	const char *start;

	memset(path, 0, sizeof(*path));
	memset(params, 0, sizeof(*params));
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)arg[i] < 32 || (unsigned char)arg[i] == 127)
			return SMTP_ADDR_SYNTAX;
	/* Leading spaces as qmail-smtpd and Postfix accept them; trailing ones too. */
	while (sc.p < sc.end && *sc.p == ' ')
		sc.p++;
	while (sc.end > sc.p && sc.end[-1] == ' ')
		sc.end--;
	if (sc.p == sc.end)
		return SMTP_ADDR_SYNTAX;
	start = sc.p;
	if (*sc.p != '<') {
		/* Without brackets the whole rest must be the mailbox: no route, no parameters. */
		if ((e = parse_mailbox(&sc, is_mail, path)) != SMTP_ADDR_OK)
			return e;
		if (sc.p != sc.end)
			return SMTP_ADDR_SYNTAX;
		/* Counted as if bracketed, so both spellings share one limit. */
		if ((size_t)(sc.p - start) + 2 > SMTP_PATH_MAX)
			return SMTP_ADDR_TOO_LONG;
		return SMTP_ADDR_OK;
	}
	sc.p++;
	if (sc.p < sc.end && *sc.p == '>') {
		if (!is_mail)
			return SMTP_ADDR_NULL_NOT_ALLOWED;
		path->null = true;
	} else {
		if (sc.p < sc.end && *sc.p == '@') {
			if ((e = parse_route(&sc)) != SMTP_ADDR_OK)
				return e;
			path->had_route = true;
		}
		if ((e = parse_mailbox(&sc, is_mail, path)) != SMTP_ADDR_OK)
			return e;
		if (sc.p == sc.end || *sc.p != '>')
			return SMTP_ADDR_SYNTAX;
	}
	sc.p++;
	/* RFC 5321 4.5.3.1.3: 256 octets including the brackets and any route. */
	if ((size_t)(sc.p - start) > SMTP_PATH_MAX)
		return SMTP_ADDR_TOO_LONG;
	if (sc.p < sc.end && *sc.p != ' ')
		return SMTP_ADDR_SYNTAX;
	return parse_params(&sc, is_mail, params);
}

bool
smtp_path_is_relay_trick(const struct smtp_path *path)
{
	if (path->null)
		return false;
	if (path->had_route || path->domain_literal)
		return true;
	return strpbrk(path->local, "%!@") != NULL;
}
