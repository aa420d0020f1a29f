/* policy.c - smtpd's recipient and sender policy: rcpthosts, morercpthosts(.cdb), badmailfrom, virtual users. */
#include "policy.h"

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aliases.h"
#include "ascii.h"
#include "buf.h"
#include "fnv.h"
#include "control.h"
#include "errfmt.h"
#include "path.h"
#include "userdb.h"
#include "xmalloc.h"

/*
 * A set of lower-cased strings with case-insensitive lookup of
 * (pointer, length) keys, so that ".parent" suffixes of a domain are
 * looked up in place.  rcpthosts is read once per connection and may hold
 * thousands of domains, each RCPT asks up to one lookup per label: open
 * addressing keeps that O(1) without sorting on every connection.
 */
struct strset {
	char **items;           /* owned, lower-cased */
	size_t count;
	char **slots;           /* NULL or a pointer into items; a power of two */
	size_t mask;
};

struct policy {
	char *users_dir;        /* NULL: no virtual domains */
	struct strset rcpthosts;        /* rcpthosts, plus morercpthosts when there is no .cdb */
	struct strset badmailfrom;
	/* morercpthosts.cdb, mapped for the connection (a rename by
	 * qmail-newmrh leaves our mapping intact).  A pointer, because
	 * cdb_find records its position in the struct and the checks take a
	 * const policy. */
	struct cdb *mrh;
	char me[CONTROL_LINE_MAX + 1];  /* "" when control/me is missing */
};

/* FNV-1a over the lower-cased bytes. */
static uint64_t
strset_hash(const char *s, size_t len)
{
	uint64_t h = FNV1A64_BASIS;

	for (size_t i = 0; i < len; i++)
		h = fnv1a64_byte(h, (unsigned char)ascii_lower(s[i]));
	return h;
}

/* Does item (lower-cased, NUL-terminated) equal [s, s+len) ignoring case? */
static bool
strset_equal(const char *item, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (item[i] == '\0' || item[i] != ascii_lower(s[i]))
			return false;
	return item[len] == '\0';
}

/* The slot that holds [s, s+len), or the empty one where it would go. */
static char **
strset_slot(const struct strset *set, const char *s, size_t len)
{
	size_t i = (size_t)strset_hash(s, len) & set->mask;

	while (set->slots[i] != NULL && !strset_equal(set->slots[i], s, len))
		i = (i + 1) & set->mask;
	return &set->slots[i];
}

/* Take over every line of cl (lower-cased in place); cl is left empty. */
static void
strset_take(struct strset *set, struct control_lines *cl)
{
	set->items = xreallocarray(set->items, set->count + cl->count, sizeof(*set->items));
	for (size_t i = 0; i < cl->count; i++) {
		for (char *p = cl->lines[i]; *p != '\0'; p++)
			*p = ascii_lower(*p);
		set->items[set->count++] = cl->lines[i];
	}
	free(cl->lines);
	free(cl->linenos);
	cl->lines = NULL;
	cl->linenos = NULL;
	cl->count = 0;
}

/* Index the items: at most half full, so probe chains stay short. */
static void
strset_index(struct strset *set)
{
	size_t size = 16;

	while (size < set->count * 2)
		size *= 2;
	free(set->slots);
	set->slots = xcalloc(size, sizeof(*set->slots));
	set->mask = size - 1;
	for (size_t i = 0; i < set->count; i++) {
		char **slot = strset_slot(set, set->items[i], strlen(set->items[i]));

		/* A repeated line is harmless: the first copy answers. */
		if (*slot == NULL)
			*slot = set->items[i];
	}
}

static bool
strset_has(const struct strset *set, const char *s, size_t len)
{
	return set->slots != NULL && *strset_slot(set, s, len) != NULL;
}

static void
strset_free(struct strset *set)
{
	for (size_t i = 0; i < set->count; i++)
		free(set->items[i]);
	free(set->items);
	free(set->slots);
	memset(set, 0, sizeof(*set));
}

/* Add the lines of control_dir/name to set; a missing file adds nothing. */
static int
load_list(const char *control_dir, const char *name, struct strset *set, char *err,
	  size_t errsize)
{
	struct control_lines cl;

	if (control_read_lines(control_dir, name, &cl) == -1)
		return errfmt(err, errsize, "%s/%s: %s", control_dir, name, strerror(errno));
	strset_take(set, &cl);
	return 0;
}

/*
 * Map control_dir/morercpthosts.cdb into p->mrh.  0 with p->mrh NULL when
 * the file does not exist, so that the caller falls back to the text file.
 */
static int
load_mrh_cdb(struct policy *p, const char *control_dir, char *err, size_t errsize)
{
	char path[PATH_MAX];
	int fd, saved;

	if (path_join(path, sizeof(path), control_dir, "morercpthosts.cdb") == -1)
		return errfmt(err, errsize, "%s/morercpthosts.cdb: %s", control_dir,
			      strerror(errno));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		return errfmt(err, errsize, "%s: %s", path, strerror(errno));
	}
	p->mrh = xcalloc(1, sizeof(*p->mrh));
	/* tinycdb maps the file and refuses one too short to be a cdb. */
	if (cdb_init(p->mrh, fd) == -1) {
		saved = errno;
		close(fd);
		free(p->mrh);
		p->mrh = NULL;
		return errfmt(err, errsize, "%s: %s", path,
			      saved == EPROTO ? "not a cdb file" : strerror(saved));
	}
	return 0;
}

struct policy *
policy_load(const char *control_dir, const char *users_dir, char *err, size_t errsize)
{
	struct policy *p = xcalloc(1, sizeof(*p));

	if (users_dir != NULL && users_dir[0] != '\0')
		p->users_dir = xstrdup(users_dir);
	if (load_list(control_dir, "rcpthosts", &p->rcpthosts, err, errsize) == -1 ||
	    load_mrh_cdb(p, control_dir, err, errsize) == -1)
		goto failed;
	/* As qmail-smtpd: the compiled file wins; the text one is only
	 * qmail-newmrh's input then, and may be stale or huge. */
	if (p->mrh == NULL &&
	    load_list(control_dir, "morercpthosts", &p->rcpthosts, err, errsize) == -1)
		goto failed;
	if (load_list(control_dir, "badmailfrom", &p->badmailfrom, err, errsize) == -1)
		goto failed;
	if (control_read_line(control_dir, "me", "", p->me, sizeof(p->me)) == -1) {
		errfmt(err, errsize, "%s/me: %s", control_dir, strerror(errno));
		goto failed;
	}
	strset_index(&p->rcpthosts);
	strset_index(&p->badmailfrom);
	return p;
failed:
	policy_free(p);
	return NULL;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	strset_free(&p->rcpthosts);
	strset_free(&p->badmailfrom);
	if (p->mrh != NULL) {
		int fd = cdb_fileno(p->mrh);

		cdb_free(p->mrh);
		close(fd);
		free(p->mrh);
	}
	free(p->users_dir);
	free(p);
}

bool
policy_badmailfrom(const struct policy *p, const char *sender)
{
	const char *at;
	size_t len = strlen(sender);

	/* The null sender is how bounces arrive: never refuse it (RFC 5321 4.5.5). */
	if (len == 0)
		return false;
	if (strset_has(&p->badmailfrom, sender, len))
		return true;
	/* "@domain" as qmail-smtpd: the part from the last '@', exact domain only. */
	at = strrchr(sender, '@');
	return at != NULL && strset_has(&p->badmailfrom, at, len - (size_t)(at - sender));
}

/*
 * Is domain (lower-cased) in rcpthosts or morercpthosts?  As qmail's
 * rcpthosts.c: the whole domain, then every ".parent" suffix, so an entry
 * ".example.com" covers every subdomain but not example.com itself.
 * 1, 0, or -1 with err when morercpthosts.cdb cannot be read.
 */
static int
domain_listed(const struct policy *p, const char *domain, char *err, size_t errsize)
{
	size_t len = strlen(domain);

	for (size_t i = 0; i < len; i++) {
		int r;

		if (i > 0 && domain[i] != '.')
			continue;
		if (strset_has(&p->rcpthosts, domain + i, len - i))
			return 1;
		if (p->mrh == NULL)
			continue;
		r = cdb_find(p->mrh, domain + i, (unsigned)(len - i));
		if (r == -1)
			return errfmt(err, errsize, "morercpthosts.cdb: %s",
				      errno == EPROTO ? "corrupt cdb file" : strerror(errno));
		if (r > 0)
			return 1;
	}
	return 0;
}

enum virt { VIRT_NONE, VIRT_USER, VIRT_NO_USER, VIRT_ERROR };

/*
 * No vpasswd user: is the name an alias, or is there a catch-all, in
 * users_dir/DOMAIN/aliases?  osd-local delivers those, so RCPT takes them.
 * A line osd-local could not use still counts: the mail waits in the
 * queue for the administrator instead of bouncing at the door.
 */
static enum virt
alias_exists(const struct policy *p, const char *user, const char *domain, char *err,
	     size_t errsize)
{
	struct aliases_targets t;
	struct buf text;
	char why[256];
	int r;

	buf_init(&text, ALIASES_FILE_MAX);
	if (aliases_read(p->users_dir, domain, &text, err, errsize) == -1) {
		buf_free(&text);
		return VIRT_ERROR;
	}
	r = aliases_lookup(text.data != NULL ? text.data : "", text.len, user, domain, &t, why,
			   sizeof(why));
	if (r == 0)
		r = aliases_lookup(text.data != NULL ? text.data : "", text.len, ALIASES_CATCHALL,
				   domain, &t, why, sizeof(why));
	if (r == 1)
		aliases_targets_free(&t);
	buf_free(&text);
	return r == 0 ? VIRT_NO_USER : VIRT_USER;
}

/*
 * Is domain a virtual domain here (users_dir/domain/vpasswd exists), and
 * does it have the user local (compared lower-cased, as vpopmail stores
 * names)?  VIRT_ERROR with err when vpasswd cannot be read.
 */
static enum virt
virtual_user(const struct policy *p, const char *local, const char *domain, char *err,
	     size_t errsize)
{
	struct userdb_name name;
	struct userdb_user *u;
	char path[PATH_MAX], why[256];
	char login[SMTP_LOCAL_MAX + 1 + SMTP_DOMAIN_MAX + 1];
	struct stat st;
	size_t i;
	int r;

	if (p->users_dir == NULL)
		return VIRT_NONE;
	/* A domain userdb would refuse as a folder name cannot be one here. */
	if (userdb_check_domain(domain, name.domain, sizeof(name.domain), why, sizeof(why)) == -1)
		return VIRT_NONE;
	if (userdb_vpasswd_path(p->users_dir, name.domain, path, sizeof(path)) == -1)
		return VIRT_NONE;
	if (stat(path, &st) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return VIRT_NONE;
		errfmt(err, errsize, "%s: %s", path, strerror(errno));
		return VIRT_ERROR;
	}
	/* Through userdb_split_login so the local part gets the same checks
	 * as a login: a name it refuses cannot be in vpasswd. */
	for (i = 0; local[i] != '\0' && i < SMTP_LOCAL_MAX; i++)
		login[i] = ascii_lower(local[i]);
	if (local[i] != '\0')
		return VIRT_NO_USER;
	login[i] = '\0';
	if (strchr(login, '@') != NULL || strchr(login, '%') != NULL)
		return VIRT_NO_USER;
	snprintf(login + i, sizeof(login) - i, "@%s", name.domain);
	if (userdb_split_login(login, NULL, &name, why, sizeof(why)) == -1)
		return VIRT_NO_USER;
	u = xmalloc(sizeof(*u));
	r = userdb_lookup(p->users_dir, &name, u, err, errsize);
	explicit_bzero(u, sizeof(*u));  /* it holds the password hash */
	free(u);
	if (r == -1)
		return VIRT_ERROR;
	if (r == 1)
		return VIRT_USER;
	return alias_exists(p, name.user, name.domain, err, errsize);
}

enum policy_rcpt
policy_check_rcpt(const struct policy *p, const struct smtp_path *rcpt, bool may_relay,
		  char *err, size_t errsize)
{
	char domain[SMTP_DOMAIN_MAX + 1];
	bool trick = smtp_path_is_relay_trick(rcpt);
	size_t i;
	int r;

	if (trick && !may_relay)
		return POLICY_RCPT_RELAY_TRICK;
	/*
	 * "<postmaster>" (RFC 5321 4.5.1) has no domain to route by: it is
	 * ours only when control/me names a virtual domain with a postmaster
	 * user, and the session then delivers it to postmaster@me.
	 */
	if (rcpt->no_domain) {
		if (p->me[0] == '\0')
			return POLICY_RCPT_NOT_LOCAL;
		switch (virtual_user(p, "postmaster", p->me, err, errsize)) {
		case VIRT_USER:
			return POLICY_RCPT_LOCAL;
		case VIRT_ERROR:
			return POLICY_RCPT_TEMPFAIL;
		default:
			return POLICY_RCPT_NOT_LOCAL;
		}
	}
	/* A literal names a host, never one of our domains. */
	if (rcpt->domain_literal)
		return may_relay ? POLICY_RCPT_RELAY : POLICY_RCPT_NOT_LOCAL;
	/* address.c lowers the domain already; hand-made paths may not. */
	for (i = 0; rcpt->domain[i] != '\0' && i < SMTP_DOMAIN_MAX; i++)
		domain[i] = ascii_lower(rcpt->domain[i]);
	domain[i] = '\0';

	switch (virtual_user(p, rcpt->local, domain, err, errsize)) {
	case VIRT_USER:
		/* osd does no '%' or '!' routing, so a trick to a local
		 * domain cannot be delivered as the client meant: refuse it
		 * for relay clients too rather than mis-deliver. */
		return trick ? POLICY_RCPT_RELAY_TRICK : POLICY_RCPT_LOCAL;
	case VIRT_NO_USER:
		return trick ? POLICY_RCPT_RELAY_TRICK : POLICY_RCPT_UNKNOWN_USER;
	case VIRT_ERROR:
		return POLICY_RCPT_TEMPFAIL;
	case VIRT_NONE:
		break;
	}
	if ((r = domain_listed(p, domain, err, errsize)) == -1)
		return POLICY_RCPT_TEMPFAIL;
	if (r == 1)
		return trick ? POLICY_RCPT_RELAY_TRICK : POLICY_RCPT_RCPTHOSTS;
	return may_relay ? POLICY_RCPT_RELAY : POLICY_RCPT_NOT_LOCAL;
}
