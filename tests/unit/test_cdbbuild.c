/* test_cdbbuild.c - the streaming CDB writer against tinycdb's cdb_make, byte for byte (lib/relay/cdbbuild.c). */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cdbbuild.h"
#include "ipaddr.h"
#include "path.h"
#include "relaydb.h"
#include "relaykey.h"
#include "rules.h"
#include "testutil.h"

/* A record set: keys and values side by side, possibly repeated, possibly empty. */
struct rec {
	char key[64];
	size_t klen;
	char val[48];
	size_t vlen;
};

struct recset {
	struct rec *r;
	size_t n, cap;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: the same records on every run, so a failure can be replayed. */
static uint32_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static struct rec *
push(struct recset *s)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->r = realloc(s->r, s->cap * sizeof *s->r);
		assert_non_null(s->r);
	}
	memset(&s->r[s->n], 0, sizeof s->r[s->n]);
	return &s->r[s->n++];
}

static void
set_val(struct rec *r)
{
	r->vlen = rng() % sizeof r->val;
	for (size_t i = 0; i < r->vlen; i++)
		r->val[i] = (char)rng();
}

/* An address key as relay.cdb has them: IPv4, IPv6 short or expanded, or a prefix. */
static void
addr_key(struct rec *r)
{
	struct ipaddr a = { 0 };
	uint32_t kind = rng() % 4;

	a.family = kind == 0 ? AF_INET : AF_INET6;
	for (size_t i = 0; i < sizeof a.bytes; i++)
		a.bytes[i] = (rng() % 3 == 0) ? 0 : (uint8_t)rng();
	if (kind == 2)
		r->klen = ipaddr_format_expanded(&a, r->key);
	else
		r->klen = ipaddr_format_key(&a, r->key);
	if (kind == 3)
		r->klen = r->klen / 2;  /* a prefix, as "2001:db8:" */
}

/* n records: addresses, raw bytes, empty keys, and repeats of earlier keys. */
static void
random_set(struct recset *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct rec *r = push(s);
		uint32_t kind = rng() % 10;

		if (kind < 5) {
			addr_key(r);
		} else if (kind < 7) {
			r->klen = rng() % sizeof r->key;
			for (size_t j = 0; j < r->klen; j++)
				r->key[j] = (char)rng();
		} else if (kind == 7) {
			r->klen = 0;
		} else if (s->n > 1) {
			const struct rec *old = &s->r[rng() % (s->n - 1)];

			memcpy(r->key, old->key, old->klen);
			r->klen = old->klen;
		}
		set_val(r);
	}
}

/* The whole of f, read back. */
static unsigned char *
slurp(FILE *f, size_t *len_r)
{
	unsigned char *buf;
	struct stat st;

	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fileno(f), buf, (size_t)st.st_size, 0), st.st_size);
	fclose(f);
	*len_r = (size_t)st.st_size;
	return buf;
}

/* The file cdb_make writes for s, read back. */
static unsigned char *
reference(const struct recset *s, size_t *len_r)
{
	FILE *f = tmpfile();
	struct cdb_make cm;

	assert_non_null(f);
	assert_int_equal(cdb_make_start(&cm, fileno(f)), 0);
	for (size_t i = 0; i < s->n; i++)
		assert_int_equal(cdb_make_add(&cm, s->r[i].key, (unsigned)s->r[i].klen, s->r[i].val,
					      (unsigned)s->r[i].vlen), 0);
	assert_int_equal(cdb_make_finish(&cm), 0);
	return slurp(f, len_r);
}

/* The file b writes for s, read back; its size is b->pos. */
static unsigned char *
built(struct cdbbuild *b, const struct recset *s, size_t *len_r)
{
	FILE *f = tmpfile();

	assert_non_null(f);
	cdbbuild_start(b, fileno(f));
	for (size_t i = 0; i < s->n; i++)
		assert_int_equal(cdbbuild_add(b, s->r[i].key, s->r[i].klen,
					      cdbbuild_hash(s->r[i].key, s->r[i].klen), s->r[i].val,
					      s->r[i].vlen), 0);
	assert_int_equal(cdbbuild_finish(b), 0);
	return slurp(f, len_r);
}

static void
assert_same_as_cdb_make(struct cdbbuild *b, const struct recset *s)
{
	size_t len, got_len;
	unsigned char *want = reference(s, &len), *got = built(b, s, &got_len);

	assert_int_equal(got_len, len);
	assert_int_equal(b->pos, len);
	assert_memory_equal(got, want, len);
	/* Never more than a chunk in memory, unless one piece (a hash table) is larger. */
	assert_true(b->cap == CDBBUILD_CHUNK || b->cap <= 16 * s->n);
	free(got);
	free(want);
}

static void
test_hash_is_cdb_hash(void **state)
{
	struct recset s = { 0 };

	(void)state;
	random_set(&s, 2000);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(cdbbuild_hash(s.r[i].key, s.r[i].klen),
				 cdb_hash(s.r[i].key, (unsigned)s.r[i].klen));
	free(s.r);
}

static void
test_empty_and_single(void **state)
{
	struct cdbbuild b;
	struct recset s = { 0 };
	struct rec *r;

	(void)state;
	cdbbuild_init(&b);
	assert_same_as_cdb_make(&b, &s);
	assert_int_equal(b.pos, 2048);
	r = push(&s);           /* the empty key and an empty value: tcprules' default rule at its smallest */
	assert_same_as_cdb_make(&b, &s);
	r = push(&s);
	memcpy(r->key, "192.0.2.1", 9);
	r->klen = 9;
	memcpy(r->val, "+RELAYCLIENT=\0", 14);
	r->vlen = 14;
	assert_same_as_cdb_make(&b, &s);
	cdbbuild_free(&b);
	free(s.r);
}

/* Random sets of many sizes, through one builder: reusing it changes nothing. */
static void
test_random_sets(void **state)
{
	static const size_t sizes[] = { 1, 2, 3, 7, 100, 255, 256, 257, 1000, 5000, 30000, 3, 100000, 10 };
	struct cdbbuild b;

	(void)state;
	cdbbuild_init(&b);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct recset s = { 0 };

		random_set(&s, sizes[i]);
		assert_same_as_cdb_make(&b, &s);
		free(s.r);
	}
	cdbbuild_free(&b);
}

/* One key many times (every record in one chain of one table), and a table past 64 KB. */
static void
test_crowded_tables(void **state)
{
	struct cdbbuild b;
	struct recset s = { 0 }, big = { 0 };

	(void)state;
	cdbbuild_init(&b);
	for (size_t i = 0; i < 3000; i++) {
		struct rec *r = push(&s);

		memcpy(r->key, "10.0.0.1", 8);
		r->klen = 8;
		set_val(r);
	}
	assert_same_as_cdb_make(&b, &s);
	/* 5,000 keys that all land in table 7: 10,000 slots, 80 KB. */
	while (big.n < 5000) {
		struct rec r = { 0 };

		addr_key(&r);
		if ((cdbbuild_hash(r.key, r.klen) & 255) != 7)
			continue;
		set_val(&r);
		*push(&big) = r;
	}
	assert_same_as_cdb_make(&b, &big);
	cdbbuild_free(&b);
	free(s.r);
	free(big.r);
}

/* One hash table larger than the buffer (70,000 records in table 7: 1.1 MB): built whole, still cdb_make's bytes. */
static void
test_table_larger_than_chunk(void **state)
{
	struct cdbbuild b;
	struct recset s = { 0 };
	struct rec r = { 0 };

	(void)state;
	for (unsigned i = 0; s.n < 70000; i++) {
		r.klen = (size_t)snprintf(r.key, sizeof r.key, "k%u", i);
		if ((cdbbuild_hash(r.key, r.klen) & 255) == 7)
			*push(&s) = r;
	}
	assert_true(16 * s.n > CDBBUILD_CHUNK);
	cdbbuild_init(&b);
	assert_same_as_cdb_make(&b, &s);
	assert_true(b.cap >= 16 * s.n);
	s.n = 10;                       /* the next file gives the larger buffer back */
	assert_same_as_cdb_make(&b, &s);
	assert_int_equal(b.cap, CDBBUILD_CHUNK);
	cdbbuild_free(&b);
	free(s.r);
}

/* A failed write (a full disk: /dev/full) is reported, from add once the buffer fills, else from finish. */
static void
test_write_error_reported(void **state)
{
	struct cdbbuild b;
	int fd = open("/dev/full", O_WRONLY | O_CLOEXEC), r = 0;
	size_t added = 0;

	(void)state;
	assert_true(fd >= 0);
	cdbbuild_init(&b);
	cdbbuild_start(&b, fd);
	assert_int_equal(cdbbuild_add(&b, "192.0.2.1", 9, cdbbuild_hash("192.0.2.1", 9), "x", 1), 0);
	errno = 0;
	assert_int_equal(cdbbuild_finish(&b), -1);
	assert_int_equal(errno, ENOSPC);
	cdbbuild_start(&b, fd);
	while (r == 0 && added < 2 * CDBBUILD_CHUNK) {
		r = cdbbuild_add(&b, "192.0.2.1", 9, cdbbuild_hash("192.0.2.1", 9), "x", 1);
		added += r == 0;
	}
	assert_int_equal(r, -1);
	assert_int_equal(errno, ENOSPC);
	assert_true(added * 18 <= CDBBUILD_CHUNK);      /* at the first flush, not before */
	assert_true(added * 18 + 18 + 2048 > CDBBUILD_CHUNK);
	cdbbuild_free(&b);
	close(fd);
}

/* A record that would take the file past 4 GiB (32-bit positions) is refused, as cdb_make_add refuses it. */
static void
test_refuses_past_4_gib(void **state)
{
	struct cdbbuild b;
	size_t len;

	(void)state;
	cdbbuild_init(&b);
	cdbbuild_start(&b, -1);
	len = b.pos;
	b.pos = 0xffffffffu - 20;       /* as if 4 GiB were written: only the count is looked at */
	errno = 0;
	assert_int_equal(cdbbuild_add(&b, "0123456789", 10, 1, "0123456789", 10), -1);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(cdbbuild_add(&b, "", 0, 1, "", (size_t)-1), -1);
	assert_int_equal(cdbbuild_add(&b, "", (size_t)-1, 1, "", 0), -1);
	assert_int_equal(b.nrefs, 0);
	b.pos = len;
	cdbbuild_free(&b);
}

/* Yields addresses from a list, as the watcher's table does. */
struct addr_list {
	const char *const *addrs;
	size_t pos;
};

static int
next_addr(void *ctx, struct ipaddr *entry_r)
{
	struct addr_list *l = ctx;

	if (l->addrs[l->pos] == NULL)
		return 0;
	assert_int_equal(ipaddr_parse(l->addrs[l->pos++], entry_r), 0);
	return 1;
}

static void
add_ref(struct recset *s, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct rec *r = push(s);

	memcpy(r->key, key, klen);
	r->klen = klen;
	memcpy(r->val, val, vlen);
	r->vlen = vlen;
}

/*
 * relay.cdb as relaydb_write makes it: the static rules, then the logins a
 * deny does not cover, /64 keys and expanded keys included: the same bytes
 * as cdb_make gives for those records.
 */
static void
test_relaydb_file_is_cdb_makes(void **state)
{
	static const char *const lines[] = {
		"192.0.2.66:deny", "2001:db8:bad::deny", ":deny", "127.:allow,RELAYCLIENT=\"\"", NULL,
	};
	/* The entries as the watcher holds them: /64 entries already made (relaykey_entry_addr). */
	static const char *const entries[] = {
		"192.0.2.5", "192.0.2.66", "2001:db8:bad::", "2001:db8:1:2::", "2001:db8::",
		"192.0.2.5", "203.0.113.9", NULL,
	};
	const struct relaydb_dynamic dyn = { RELAYDB_DYNAMIC_VALUE, RELAYDB_DYNAMIC_VALUE_LEN,
					     RELAYKEY_PREFIX_NET64 };
	struct addr_list l = { entries, 0 };
	struct recset want = { 0 };
	struct rules statics;
	char path[PATH_MAX], err[256];
	unsigned char *ref, *got;
	size_t len;
	struct stat st;
	int fd;

	rules_init(&statics);
	for (size_t i = 0; lines[i] != NULL; i++)
		assert_int_equal(rules_parse_line(&statics, lines[i], strlen(lines[i]), err, sizeof err), 0);
	for (size_t i = 0; i < statics.count; i++)
		add_ref(&want, statics.records[i].key, statics.records[i].keylen, statics.records[i].value,
			statics.records[i].valuelen);
	for (size_t i = 0; entries[i] != NULL; i++) {
		struct ipaddr e;
		struct relaykey k;

		if (strcmp(entries[i], "192.0.2.66") == 0 || strcmp(entries[i], "2001:db8:bad::") == 0)
			continue;       /* a static deny covers them */
		assert_int_equal(ipaddr_parse(entries[i], &e), 0);
		relaykey_for(&e, dyn.ipv6_prefix, &k);
		add_ref(&want, k.key, k.keylen, dyn.value, dyn.valuelen);
	}
	ref = reference(&want, &len);

	assert_int_equal(path_fmt(path, sizeof path, "%s/relay.cdb", (const char *)*state), 0);
	assert_int_equal(relaydb_write(path, &statics, &dyn, next_addr, &l, false), (long)want.n);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((size_t)st.st_size, len);
	got = malloc(len);
	assert_non_null(got);
	assert_int_equal(pread(fd, got, len, 0), (ssize_t)len);
	assert_memory_equal(got, ref, len);
	close(fd);
	free(got);
	free(ref);
	free(want.r);
	rules_free(&statics);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_is_cdb_hash),
		cmocka_unit_test(test_empty_and_single),
		cmocka_unit_test(test_random_sets),
		cmocka_unit_test(test_crowded_tables),
		cmocka_unit_test(test_table_larger_than_chunk),
		cmocka_unit_test(test_write_error_reported),
		cmocka_unit_test(test_refuses_past_4_gib),
		cmocka_unit_test_setup_teardown(test_relaydb_file_is_cdb_makes, testutil_setup_tmpdir,
						testutil_teardown_tmpdir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
