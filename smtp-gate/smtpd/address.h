/* address.h - RFC 5321 paths and ESMTP parameters of MAIL FROM and RCPT TO, parsed before anything trusts them. */
#ifndef OSD_SMTP_ADDRESS_H
#define OSD_SMTP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 section 4.5.3.1: local part 64, domain 255, path 256 octets. */
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_PATH_MAX 256

/* One parsed reverse-path or forward-path. */
struct smtp_path {
	bool null;                      /* "<>" (MAIL FROM only) */
	bool had_route;                 /* "<@a,@b:user@dom>": the source route is dropped (RFC 5321 4.1.1.3) */
	bool quoted;                    /* the local part was a quoted string */
	bool domain_literal;            /* "[192.0.2.1]" or "[IPv6:...]" */
	bool no_domain;                 /* "<postmaster>" (RCPT only): no '@' at all */
	/*
	 * The local part as the mailbox owner sees it: quotes and
	 * backslash escapes removed (so "a@b"@c gives local "a@b").
	 */
	char local[SMTP_LOCAL_MAX + 1];
	/* The domain, lowercased; a literal keeps its brackets ("[192.0.2.1]"). */
	char domain[SMTP_DOMAIN_MAX + 1];
	/* local@domain in canonical form (local re-quoted where needed), or "" for <>. */
	char address[SMTP_PATH_MAX + 1];
};

/* The ESMTP parameters osd knows (RFC 1870 SIZE, RFC 6152 BODY, RFC 4954 AUTH). */
struct smtp_params {
	bool have_size;
	uint64_t size;                  /* SIZE=n */
	enum { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME } body;
	bool have_auth;                 /* AUTH=<...> was given (its value is ignored, RFC 4954 5) */
};

/* Why a path or its parameters were refused; each maps to one SMTP reply. */
enum smtp_addr_error {
	SMTP_ADDR_OK = 0,
	SMTP_ADDR_SYNTAX,               /* 501 5.1.7 / 5.1.3: not a mailbox */
	SMTP_ADDR_TOO_LONG,             /* 501 5.1.7 / 5.1.3 (local > 64, domain > 255, path > 256) */
	SMTP_ADDR_NULL_NOT_ALLOWED,     /* "<>" as a recipient */
	SMTP_PARAM_SYNTAX,              /* 501 5.5.4: a malformed keyword=value */
	SMTP_PARAM_UNKNOWN              /* 555 5.5.4: a parameter osd does not support */
};

/*
 * Parse the argument of "MAIL FROM:" or "RCPT TO:" (everything after the
 * colon, without the line ending).  Accepts, as qmail-smtpd and Postfix do,
 * spaces after the colon and a path without angle brackets when no
 * parameters follow.  is_mail selects the rules for MAIL (null path
 * allowed, no bare "postmaster") or RCPT ("<postmaster>" allowed, no null
 * path).  Parameters are only recognized after a bracketed path.  NUL,
 * CR, LF and other control characters anywhere are a syntax error.
 * Returns SMTP_ADDR_OK and fills path and params, or an error (path and
 * params are then unspecified).
 */
enum smtp_addr_error smtp_parse_path(const char *arg, size_t len, bool is_mail,
				     struct smtp_path *path, struct smtp_params *params);

/*
 * True when the forward-path names another destination inside its local
 * part, the classic open-relay tricks: '%' ("user%other@local"), '!'
 * ("other!user@local"), '@' (only possible quoted: "\"user@other\"@local"),
 * a source route ("@local:user@other"), or a domain literal.  A client
 * that may not relay gets such a recipient refused even when the domain
 * is local.
 */
bool smtp_path_is_relay_trick(const struct smtp_path *path);

/*
 * Domain syntax (RFC 5321 Domain: dot-separated labels of letters, digits
 * and hyphens, no label starting or ending with '-', at most 63 octets per
 * label); used for HELO/EHLO arguments too, which may also be address
 * literals.
 */
bool smtp_domain_valid(const char *domain, size_t len);

#endif
