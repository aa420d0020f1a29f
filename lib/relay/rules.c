/* rules.c - parse tcprules(1) text (tcp.smtp) into the records tcprules would write. */
#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "errfmt.h"
#include "fnv.h"
#include "xmalloc.h"

void
rules_init(struct rules *r)
{
	memset(r, 0, sizeof *r);
}

void
rules_free(struct rules *r)
{
	for (size_t i = 0; i < r->count; i++) {
		free(r->records[i].key);
		free(r->records[i].value);
	}
	free(r->records);
	free(r->index);
	rules_init(r);
}

int
rules_add(struct rules *r, const char *key, size_t keylen,
	  const char *value, size_t valuelen)
{
	struct rule_record *rec;

	if (r->count >= RULES_RECORDS_MAX) {
		errno = EFBIG;
		return -1;
	}
	if (r->count == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->records = xreallocarray(r->records, r->cap, sizeof *r->records);
	}
	rec = &r->records[r->count++];
	rec->key = xmalloc(keylen + 1);
	memcpy(rec->key, key, keylen);
	rec->key[keylen] = '\0';
	rec->keylen = keylen;
	rec->value = xmalloc(valuelen + 1);
	memcpy(rec->value, value, valuelen);
	rec->value[valuelen] = '\0';
	rec->valuelen = valuelen;
	return 0;
}

/* A parse error: the reason in err, errno EINVAL, -1. */
#define fail(err, errsize, ...) (errfmt((err), (errsize), __VA_ARGS__), errno = EINVAL, -1)

/*
 * Does an instruction list start at s?  Only the word counts: what follows
 * it is encode_instructions' to check, so "1.2.3.4:allow:deny" is an error
 * as in tcprules, not the address "1.2.3.4:allow".
 */
static bool
starts_instructions(const char *s, size_t len)
{
	return (len >= 5 && memcmp(s, "allow", 5) == 0) || (len >= 4 && memcmp(s, "deny", 4) == 0);
}

/*
 * The ':' between address and instructions.  IPv6 addresses contain ':'
 * themselves, so it is the first ':' that is followed by allow or deny,
 * which is how Debian's IPv6-aware tcprules reads these lines.
 */
static const char *
find_separator(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] == ':' && starts_instructions(line + i + 1, len - i - 1))
			return line + i;
	return NULL;
}

/* "allow" / "deny" followed by ",VAR=QvalueQ"...: the tcprules value. */
static int
encode_instructions(const char *s, size_t len, struct buf *value,
		    char *err, size_t errsize)
{
	size_t pos;

	if (len >= 4 && memcmp(s, "deny", 4) == 0) {
		/* Debian's tcprules writes a deny as "D" and a NUL. */
		if (buf_append(value, "D", 2) < 0)
			return fail(err, errsize, "rule too long");
		pos = 4;
	} else {
		pos = 5;        /* "allow": no bytes of its own */
	}
	while (pos < len) {
		const char *name, *eq, *val, *end;
		char quote;

		if (s[pos] != ',')
			return fail(err, errsize, "expected ',' after an instruction, got '%c'", s[pos]);
		pos++;
		name = s + pos;
		eq = memchr(name, '=', len - pos);
		if (eq == NULL)
			return fail(err, errsize, "instruction without '=': %.*s",
				    (int)(len - pos > 40 ? 40 : len - pos), name);
		/* An empty name is kept ("+=value"), as tcprules writes it. */
		if ((size_t)(eq - s) + 1 >= len)
			return fail(err, errsize, "%.*s has no quoted value",
				    (int)(eq - name), name);
		quote = eq[1];
		val = eq + 2;
		end = memchr(val, quote, (size_t)(s + len - val));
		if (end == NULL)
			return fail(err, errsize, "value of %.*s lacks its closing %c",
				    (int)(eq - name), name, quote);
		if (buf_append_char(value, '+') < 0 ||
		    buf_append(value, name, (size_t)(eq - name) + 1) < 0 ||
		    buf_append(value, val, (size_t)(end - val)) < 0 ||
		    buf_append(value, "", 1) < 0)
			return fail(err, errsize, "rule too long");
		pos = (size_t)(end - s) + 1;
	}
	return 0;
}

static bool
all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static unsigned long
small_number(const char *s, size_t len)
{
	unsigned long n = 0;

	/* Only compared with 255: saturate instead of overflowing. */
	for (size_t i = 0; i < len && n < 100000; i++)
		n = n * 10 + (unsigned long)(s[i] - '0');
	return n;
}

/*
 * "a.b.c.d-e": one record per last number from d to e (at most 255), as
 * tcprules expands it; an empty d or e counts as 0.  What follows the
 * digits of e (nothing, or from a '.') is kept at the end of each key.
 */
static int
add_range(struct rules *r, const char *addr, size_t addrlen, const char *dash,
	  const struct buf *value, char *err, size_t errsize)
{
	const char *start = dash, *stop = dash + 1, *addrend = addr + addrlen;
	unsigned long first, last;
	char key[RULES_LINE_MAX + 8];

	while (start > addr && start[-1] != '.')
		start--;
	while (stop < addrend && isdigit((unsigned char)*stop))
		stop++;
	/* tcprules: digits on both sides of the '-', then the end or a '.'. */
	if (!all_digits(start, (size_t)(dash - start)) || (stop < addrend && *stop != '.'))
		return fail(err, errsize, "bad address range %.*s (ranges are IPv4 a.b.c.d-e)",
			    (int)addrlen, addr);
	first = small_number(start, (size_t)(dash - start));
	last = small_number(dash + 1, (size_t)(stop - dash - 1));
	for (unsigned long i = first; i <= last && i <= 255; i++) {
		int n = snprintf(key, sizeof key, "%.*s%lu%.*s", (int)(start - addr), addr, i,
				 (int)(addrend - stop), stop);
		if (n < 0 || (size_t)n >= sizeof key)
			return fail(err, errsize, "address too long");
		if (rules_add(r, key, (size_t)n, value->data ? value->data : "", value->len) < 0)
			return fail(err, errsize, "too many rules (limit %d)", RULES_RECORDS_MAX);
	}
	return 0;
}

int
rules_parse_line(struct rules *r, const char *line, size_t len, char *err, size_t errsize)
{
	const char *sep, *addr, *dash;
	size_t addrlen;
	struct buf value;
	int ret;

	if (len > RULES_LINE_MAX)
		return fail(err, errsize, "line longer than %d bytes", RULES_LINE_MAX);
	if (memchr(line, '\0', len) != NULL)
		return fail(err, errsize, "NUL byte in line");
	/* Files edited elsewhere may end lines with CR; trailing blanks are
	 * not part of the rule. */
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	{
		size_t lead = 0;
		while (lead < len && (line[lead] == ' ' || line[lead] == '\t'))
			lead++;
		if (lead == len || line[lead] == '#')
			return 0;       /* blank or comment */
		if (lead > 0)
			return fail(err, errsize, "line starts with white space");
	}
	sep = find_separator(line, len);
	if (sep == NULL)
		return fail(err, errsize, "expected ADDRESS:allow or ADDRESS:deny");
	addr = line;
	addrlen = (size_t)(sep - line);

	buf_init(&value, RULES_LINE_MAX);
	ret = encode_instructions(sep + 1, len - addrlen - 1, &value, err, errsize);
	if (ret == 0) {
		/* "=host" names and anything with an "info@" part are keys as
		 * written, '-' and all: tcprules expands an address only when it
		 * has neither '=' nor '@' anywhere. */
		bool literal = memchr(addr, '=', addrlen) != NULL || memchr(addr, '@', addrlen) != NULL;

		dash = literal ? NULL : memchr(addr, '-', addrlen);
		if (dash != NULL)
			ret = add_range(r, addr, addrlen, dash, &value, err, errsize);
		else if (rules_add(r, addr, addrlen, value.data ? value.data : "", value.len) < 0)
			ret = fail(err, errsize, "too many rules (limit %d)", RULES_RECORDS_MAX);
	}
	buf_free(&value);
	return ret;
}

int
rules_load_file(struct rules *r, const char *path, char *err, size_t errsize)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	unsigned long lineno = 0;
	char why[256];

	rules_init(r);
	fp = fopen(path, "re");
	if (fp == NULL) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((got = getline(&line, &cap, fp)) >= 0) {
		size_t len = (size_t)got;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (rules_parse_line(r, line, len, why, sizeof why) < 0) {
			snprintf(err, errsize, "%s:%lu: %s", path, lineno, why);
			goto failed;
		}
	}
	if (ferror(fp)) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		goto failed;
	}
	free(line);
	fclose(fp);
	return 0;
failed:
	free(line);
	fclose(fp);
	rules_free(r);
	return -1;
}

static uint64_t
key_hash(const char *key, size_t len)
{
	/* The start value is not FNV's basis (a digit short), kept so that the
	 * index is laid out as before; any value spreads the keys. */
	uint64_t h = fnv1a64(1469598103934665603ull, key, len);

	return h ^ (h >> 29);
}

/* Slot of key in the index: the one holding it, or the empty one where it would go. */
static size_t
index_slot(const struct rules *r, const char *key, size_t len)
{
	size_t mask = r->nindex - 1, i = (size_t)key_hash(key, len) & mask;

	while (r->index[i] != 0) {
		const struct rule_record *rec = &r->records[r->index[i] - 1];
		if (rec->keylen == len && memcmp(rec->key, key, len) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

static void
build_index(struct rules *r)
{
	free(r->index);
	r->nindex = 16;
	while (r->nindex < r->count * 2)
		r->nindex *= 2;
	r->index = xcalloc(r->nindex, sizeof *r->index);
	r->has_deny = 0;
	for (size_t i = 0; i < r->count; i++) {
		size_t slot = index_slot(r, r->records[i].key, r->records[i].keylen);
		if (r->index[slot] == 0)        /* the first record of a key wins */
			r->index[slot] = (uint32_t)i + 1;
		if (r->records[i].keylen > 0 && rules_record_is_deny(&r->records[i]))
			r->has_deny = 1;
	}
	r->indexed = r->count;
}

static const struct rule_record *
find_key(const struct rules *r, const char *key, size_t len)
{
	size_t slot = index_slot(r, key, len);

	return r->index[slot] ? &r->records[r->index[slot] - 1] : NULL;
}

const struct rule_record *
rules_match(struct rules *r, const char *key, size_t keylen)
{
	const struct rule_record *rec;

	if (r->nindex == 0 || r->indexed != r->count)
		build_index(r);
	if ((rec = find_key(r, key, keylen)) != NULL)
		return rec;
	for (size_t len = keylen; len > 0; len--)
		if ((key[len - 1] == '.' || key[len - 1] == ':') &&
		    (rec = find_key(r, key, len)) != NULL)
			return rec;
	return find_key(r, "", 0);
}

int
rules_have_deny(struct rules *r)
{
	if (r->nindex == 0 || r->indexed != r->count)
		build_index(r);
	return r->has_deny;
}

int
rules_record_is_deny(const struct rule_record *rec)
{
	return rec->valuelen >= 1 && rec->value[0] == 'D' &&
	       (rec->valuelen == 1 || rec->value[1] == '\0');
}

const struct rule_record *
rules_find(struct rules *r, const char *key, size_t keylen)
{
	if (r->nindex == 0 || r->indexed != r->count)
		build_index(r);
	return find_key(r, key, keylen);
}

long
rules_encode_env(const char *text, char *out, size_t size, char *err, size_t errsize)
{
	size_t len = strlen(text);
	struct buf value;
	long ret = -1;

	if (len > RULES_LINE_MAX)
		return fail(err, errsize, "longer than %d bytes", RULES_LINE_MAX);
	buf_init(&value, RULES_LINE_MAX);
	/* The same parser as a rule's ",VAR=..." part, after an "allow". */
	if (buf_printf(&value, "allow%s%s", len ? "," : "", text) == 0) {
		struct buf enc;

		buf_init(&enc, RULES_LINE_MAX);
		if (encode_instructions(value.data, value.len, &enc, err, errsize) == 0) {
			if (enc.len > size) {
				errfmt(err, errsize, "too long");
			} else {
				if (enc.len > 0)
					memcpy(out, enc.data, enc.len);
				ret = (long)enc.len;
			}
		}
		buf_free(&enc);
	} else {
		errfmt(err, errsize, "too long");
	}
	buf_free(&value);
	return ret;
}

void
rules_file_init(struct rules_file *rf)
{
	memset(rf, 0, sizeof *rf);
	rules_init(&rf->rules);
}

void
rules_file_free(struct rules_file *rf)
{
	rules_free(&rf->rules);
	rules_file_init(rf);
}

static bool
same_file(const struct rules_file *rf, const struct stat *st)
{
	return rf->seen && rf->dev == st->st_dev && rf->ino == st->st_ino &&
	       rf->size == st->st_size && rf->mtime.tv_sec == st->st_mtim.tv_sec &&
	       rf->mtime.tv_nsec == st->st_mtim.tv_nsec && rf->ctime.tv_sec == st->st_ctim.tv_sec &&
	       rf->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

int
rules_file_refresh(struct rules_file *rf, const char *path, char *err, size_t errsize)
{
	struct rules fresh;
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return fail(err, errsize, "%s: %s", path, strerror(errno));
		rules_free(&rf->rules);
		rf->seen = false;
		return 0;
	}
	if (same_file(rf, &st))
		return 0;
	rules_init(&fresh);
	if (rules_load_file(&fresh, path, err, errsize) < 0)
		return -1;
	rules_free(&rf->rules);
	rf->rules = fresh;
	/* Index now, so that forked children share it instead of each building it. */
	(void)rules_have_deny(&rf->rules);
	rf->seen = true;
	rf->dev = st.st_dev;
	rf->ino = st.st_ino;
	rf->size = st.st_size;
	rf->mtime = st.st_mtim;
	rf->ctime = st.st_ctim;
	return 0;
}
