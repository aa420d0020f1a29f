/* aliases.c - the aliases file of a virtual domain, parsed from memory (pure: no I/O), and the Delivered-To loop check. */
#include "aliases.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ascii.h"
#include "errfmt.h"
#include "path.h"
#include "regfile.h"
#include "xmalloc.h"

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* [*p, *end) without blanks at either end. */
static void
trim(const char **p, const char **end)
{
	while (*p < *end && is_blank(**p))
		(*p)++;
	while (*end > *p && is_blank((*end)[-1]))
		(*end)--;
}

/* Bytes an address may hold here: printable, no blank, nothing the list syntax uses. */
static bool
addr_char_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != ',' && c != '<' && c != '>' && c != '"';
}

static bool
domain_char_ok(unsigned char c)
{
	/* Names, and address literals such as [192.0.2.1] or [IPv6:2001:db8::1]. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '[' || c == ']' || c == ':';
}

/*
 * One target [p, end) into a full address (malloc'd, domain lower-cased):
 * "user" becomes "user@domain", "<addr>" is taken as "addr".  NULL when it
 * is not an address.
 */
static char *
target_address(const char *p, const char *end, const char *domain)
{
	const char *at = NULL;
	size_t llen, dlen, i;
	char *out;

	if (end - p >= 2 && *p == '<' && end[-1] == '>') {
		p++;
		end--;
	}
	if (p == end)
		return NULL;
	for (const char *q = p; q < end; q++) {
		if (!addr_char_ok((unsigned char)*q))
			return NULL;
		if (*q == '@')
			at = q;
	}
	if (at == NULL) {
		llen = (size_t)(end - p);
		dlen = strlen(domain);
	} else {
		llen = (size_t)(at - p);
		dlen = (size_t)(end - at - 1);
		for (const char *q = at + 1; q < end; q++)
			if (!domain_char_ok((unsigned char)*q))
				return NULL;
	}
	if (llen == 0 || dlen == 0 || llen + 1 + dlen > ALIASES_TARGET_MAX)
		return NULL;
	out = xmalloc(llen + 1 + dlen + 1);
	memcpy(out, p, llen);
	out[llen] = '@';
	for (i = 0; i < dlen; i++)
		out[llen + 1 + i] = ascii_lower(at == NULL ? domain[i] : at[1 + i]);
	out[llen + 1 + dlen] = '\0';
	return out;
}

static bool
already_listed(const struct aliases_targets *t, const char *addr)
{
	size_t len = strlen(addr);

	for (size_t i = 0; i < t->count; i++)
		if (strlen(t->addrs[i]) == len && ascii_eq_nocase(t->addrs[i], addr, len))
			return true;
	return false;
}

/* The targets after the ':' of name's line, [p, end). */
static int
parse_targets(const char *p, const char *end, const char *name, const char *domain,
	      unsigned long lineno, struct aliases_targets *t, char *err, size_t errsize)
{
	size_t cap = 0;

	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *tend = comma != NULL ? comma : end, *tp = p;
		char *addr;

		trim(&tp, &tend);
		/* An empty item ("a,,b", a trailing comma) is harmless; skip it. */
		if (tp < tend) {
			if ((addr = target_address(tp, tend, domain)) == NULL) {
				aliases_targets_free(t);
				return errfmt(err, errsize, "aliases line %lu: %s: bad target \"%.*s\"",
					      lineno, name, (int)(tend - tp > 64 ? 64 : tend - tp), tp);
			}
			if (already_listed(t, addr)) {
				free(addr);
			} else if (t->count == ALIASES_TARGETS_MAX) {
				free(addr);
				aliases_targets_free(t);
				return errfmt(err, errsize, "aliases line %lu: %s: more than %d targets",
					      lineno, name, ALIASES_TARGETS_MAX);
			} else {
				if (t->count == cap) {
					cap = cap == 0 ? 8 : cap * 2;
					t->addrs = xreallocarray(t->addrs, cap, sizeof(*t->addrs));
				}
				t->addrs[t->count++] = addr;
			}
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	if (t->count == 0)
		return errfmt(err, errsize, "aliases line %lu: %s: no targets", lineno, name);
	return 0;
}

int
aliases_lookup(const char *text, size_t len, const char *name, const char *domain,
	       struct aliases_targets *targets_r, char *err, size_t errsize)
{
	const char *p = text, *end = text + len;
	size_t nlen = strlen(name);
	unsigned long lineno = 0;

	targets_r->addrs = NULL;
	targets_r->count = 0;
	if (nlen == 0)
		return 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *lend = nl != NULL ? nl : end, *colon, *np, *nend;
		size_t llen = (size_t)(lend - p);

		lineno++;
		if (llen > 0 && lend[-1] == '\r')
			lend--;
		np = p;
		p = nl != NULL ? nl + 1 : end;
		while (np < lend && is_blank(*np))
			np++;
		if (np == lend || *np == '#')
			continue;
		if ((colon = memchr(np, ':', (size_t)(lend - np))) == NULL)
			continue;
		nend = colon;
		trim(&np, &nend);
		if ((size_t)(nend - np) != nlen || !ascii_eq_nocase(np, name, nlen))
			continue;
		/* Delivering this name elsewhere than its line says would surprise: stop. */
		if (llen > ALIASES_LINE_MAX)
			return errfmt(err, errsize, "aliases line %lu: %s: line too long (max %d bytes)",
				      lineno, name, ALIASES_LINE_MAX);
		if (parse_targets(colon + 1, lend, name, domain, lineno, targets_r, err,
				  errsize) == -1)
			return -1;
		return 1;
	}
	return 0;
}

void
aliases_targets_free(struct aliases_targets *targets)
{
	for (size_t i = 0; i < targets->count; i++)
		free(targets->addrs[i]);
	free(targets->addrs);
	targets->addrs = NULL;
	targets->count = 0;
}

bool
aliases_delivered_to(const char *head, size_t len, const char *rcpt)
{
	static const char field[] = "Delivered-To:";
	const size_t flen = sizeof(field) - 1, rlen = strlen(rcpt);
	const char *p = head, *end = head + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *lend = nl != NULL ? nl : end, *v;

		if (lend > p && lend[-1] == '\r')
			lend--;
		/* RFC 5322 section 2.1: the header ends at the first empty line. */
		if (lend == p)
			break;
		if ((size_t)(lend - p) > flen && ascii_eq_nocase(p, field, flen)) {
			v = p + flen;
			trim(&v, &lend);
			if ((size_t)(lend - v) == rlen && ascii_eq_nocase(v, rcpt, rlen))
				return true;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	return false;
}

int
aliases_read(const char *users_dir, const char *domain, struct buf *b, char *err, size_t errsize)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (path_fmt(path, sizeof(path), "%s/%s/aliases", users_dir, domain) == -1)
		return errfmt(err, errsize, "aliases: path too long");
	/* A FIFO in its place must not hang the delivery in open(2): regfile refuses it at once. */
	if ((fd = regfile_open(path, O_RDONLY | O_NOFOLLOW, 0, &st)) == -1) {
		if (errno == ENOENT)
			return 0;
		return errfmt(err, errsize, "%s: %s", path, regfile_strerror(errno));
	}
	if (st.st_size > ALIASES_FILE_MAX) {
		close(fd);
		return errfmt(err, errsize, "%s: too large (max 4 MiB)", path);
	}
	/* buf's bound also stops a file that grows while it is read. */
	if (buf_read_fd(b, fd) == -1) {
		errfmt(err, errsize, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
