/* aliases.h - users_dir/DOMAIN/aliases ("name: target, target") resolved one level, and the Delivered-To loop check. */
#ifndef OSD_SMTP_ALIASES_H
#define OSD_SMTP_ALIASES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* The catch-all name: used when no user and no other alias matches. */
#define ALIASES_CATCHALL "*"
/* Longest aliases line; longer ones are skipped (an error when it names the alias looked up). */
#define ALIASES_LINE_MAX 65536
/* Most targets one alias may have (each becomes a recipient of the re-queued message). */
#define ALIASES_TARGETS_MAX 1000
/* Longest target address: a local part and a domain as RFC 5321 section 4.5.3.1 bounds them. */
#define ALIASES_TARGET_MAX (64 + 1 + 255)

/* An aliases file larger than this is refused rather than read into memory. */
#define ALIASES_FILE_MAX (4 * 1024 * 1024)

/*
 * users_dir/DOMAIN/aliases into b (which should allow ALIASES_FILE_MAX),
 * or nothing when there is none.  A symlink, anything but a regular file,
 * and a file over ALIASES_FILE_MAX are errors.  0, or -1 with err.  The
 * same reader for osd-local and smtpd's RCPT check, so both see the same
 * aliases.
 */
int aliases_read(const char *users_dir, const char *domain, struct buf *b, char *err,
		 size_t errsize);

/* The targets of one alias: full addresses, duplicates removed, in file order. */
struct aliases_targets {
	char **addrs;           /* malloc'd, each malloc'd */
	size_t count;
};

/*
 * Look name up in the text of an aliases file (text, len; need not be
 * NUL-terminated) of domain (lower case).  Lines are "name: target,
 * target"; blank lines and lines starting with '#' are skipped, so are
 * lines without ':' and overlong lines for other names.  Names compare
 * ignoring ASCII case; the first line for a name wins.  A target without
 * '@' is a user of domain.  Nothing is resolved further: a target that is
 * itself an alias is looked up when the re-queued message comes back.
 * Returns 1 with *targets_r filled (free with aliases_targets_free), 0
 * when name is not an alias, -1 with err when its line cannot be used
 * (no targets, a bad target, too long, too many): the mail should wait
 * for the administrator rather than go elsewhere.
 */
int aliases_lookup(const char *text, size_t len, const char *name, const char *domain,
		   struct aliases_targets *targets_r, char *err, size_t errsize);

void aliases_targets_free(struct aliases_targets *targets);

/*
 * Does the header part of head (len bytes: up to the first empty line, or
 * all of it when there is none) hold "Delivered-To: rcpt", the field name
 * and the address compared ignoring ASCII case?  That header is how a
 * forwarding loop shows (qmail-local does the same check).
 */
bool aliases_delivered_to(const char *head, size_t len, const char *rcpt);

#endif
