/* rules.h - the tcprules text format (tcp.smtp) compiled to table records. */
#ifndef OSD_RULES_H
#define OSD_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* A source line longer than this is an error (tcp.smtp lines are short). */
#define RULES_LINE_MAX 4096
/* One a.b.c.d-e range expands to at most 256 keys; a file to at most this many records. */
#define RULES_RECORDS_MAX 1000000

/* One table record: the key as tcpserver looks it up, the value as tcprules encodes it. */
struct rule_record {
	char *key;
	size_t keylen;
	char *value;
	size_t valuelen;
};

struct rules {
	struct rule_record *records;
	size_t count;
	size_t cap;
	uint32_t *index;        /* hash of keys -> first record, built by rules_match */
	size_t nindex;          /* slots in index (0: not built) */
	size_t indexed;         /* records covered by index */
	int has_deny;           /* a deny rule with a non-empty key exists (set with the index) */
};

void rules_init(struct rules *r);
void rules_free(struct rules *r);

/*
 * Parse one line of a rules file and append its records (zero for a blank
 * or comment line, several for a range).  The line has no newline.
 * Returns 0, or -1 with a reason in err (the caller adds file:line).
 *
 * Syntax, as tcprules(1): ADDRESS:allow|deny[,VAR=QvalueQ]... where Q is
 * any character that delimits the value; ADDRESS is an exact IPv4/IPv6
 * address, a prefix ending in '.' or ':', a.b.c.d-e, =host, =.domain,
 * info@address, "=" or empty for the default.
 */
int rules_parse_line(struct rules *r, const char *line, size_t len,
		     char *err, size_t errsize);

/*
 * Parse a whole rules file into r.  A missing file yields an empty rule set
 * and returns 1 (so the caller may warn).  Errors return -1 with
 * "FILE:LINE: why" in err; r then holds nothing.
 */
int rules_load_file(struct rules *r, const char *path, char *err, size_t errsize);

/*
 * Append one record (key and value are copied).  Used for the dynamic
 * "ADDRESS:allow,RELAYCLIENT=\"\"" entries too.
 */
int rules_add(struct rules *r, const char *key, size_t keylen,
	      const char *value, size_t valuelen);

/*
 * The record tcpserver would use for a client whose key (see
 * ipaddr_format_key) is key: the first record of the exact key, else of
 * the longest prefix ending in '.' or ':', else of the default "" key.
 * NULL when none matches.  Builds an index on first use.
 */
const struct rule_record *rules_match(struct rules *r, const char *key, size_t keylen);

/*
 * Could some address be denied by a rule other than the default?  Lets a
 * caller skip per-address matching when the answer is no.
 */
int rules_have_deny(struct rules *r);

/* Is this record's value a deny? */
int rules_record_is_deny(const struct rule_record *rec);

/* The first record whose key is exactly key (no prefixes, no default); NULL if none. */
const struct rule_record *rules_find(struct rules *r, const char *key, size_t keylen);

/*
 * Encode the environment of an allow rule, written as in a rules file
 * after "allow," (VAR="value",VAR2="value2"; any quote character), into
 * the tcprules value format ("+VAR=value\0"...).  Returns the length, or
 * -1 with a reason in err when it is malformed or does not fit size.
 */
long rules_encode_env(const char *text, char *out, size_t size, char *err, size_t errsize);

/* A rules file kept parsed, parsed again only when the file changes. */
struct rules_file {
	struct rules rules;
	bool seen;              /* the identity below is of a file that was read */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

void rules_file_init(struct rules_file *rf);
void rules_file_free(struct rules_file *rf);

/*
 * Bring rf up to date with path (one stat when nothing changed).  A
 * missing file means no rules.  Returns 0, or -1 with "FILE:LINE: why" in
 * err when the file cannot be read or parsed: rf then keeps the rules it
 * had, so a broken edit does not throw away the rules in force.
 */
int rules_file_refresh(struct rules_file *rf, const char *path, char *err, size_t errsize);

#endif
