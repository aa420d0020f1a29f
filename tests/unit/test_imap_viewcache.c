/* test_imap_viewcache.c - unit tests for imapd/imap_viewcache.c: osd-uidlist.cache as written, and every corrupt, truncated or stale cache refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "imap_uidlist.h"
#include "imap_viewcache.h"

/* The layout of version 1: a 192-octet header, 32-octet records, then the names. */
#define HDR 192u
#define REC 32u
#define OFF_COUNT 24u
#define OFF_NEXT_UID 32u
#define OFF_FIRST_RECENT 36u

/* A version 2 list with stamps: three files seen by its scan (one in new/), one entry without a file. */
static const char list_text[] =
	"osd-uidlist 2 77 12 11 M9 100.000000001 100.000000002 200.000000003 200.000000004\n"
	"3 1700000001.M1P9.h,S=4 c:2,S W6 M2\n"
	"5 1700000002.M2P9.h,S=4 M3\n"
	"7 1700000003.M3P9.h,S=6 c:2,FRa M8\n"
	"11 1700000004.M4P9.h,S=5 n M9\n";

static void
make_list(struct imap_uidlist *ul)
{
	imap_uidlist_init(ul);
	assert_int_equal(imap_uidlist_parse(ul, list_text, strlen(list_text)), 0);
	assert_true(ul->have_stamps);
	ul->id.have = true;
	ul->id.dev = 2049;
	ul->id.ino = 123456;
	ul->id.size = (off_t)strlen(list_text);
	ul->id.mtime.tv_sec = 1700000100;
	ul->id.mtime.tv_nsec = 5;
}

static void
make_cache(struct imap_uidlist *ul, struct buf *b)
{
	make_list(ul);
	buf_init(b, 0);
	assert_int_equal(imap_viewcache_format(ul, b), 0);
	assert_int_equal(b->len % 8, 0);
}

/* Whether data checks as a cache of ul's list. */
static bool
checks(const struct imap_uidlist *ul, const void *data, size_t len)
{
	struct imap_viewcache vc;

	return imap_viewcache_check(data, len, &ul->id, &vc) == 0;
}

static void
put_u32(struct buf *b, size_t off, uint32_t v)
{
	memcpy(b->data + off, &v, sizeof(v));
}

/* The view of a list: the entries with a file, their names whole, the header fields and stamps. */
static void
test_imap_viewcache_roundtrip(void **state)
{
	struct imap_uidlist ul;
	struct imap_viewcache vc;
	struct buf b;

	(void)state;
	make_cache(&ul, &b);
	assert_int_equal(b.len, HDR + 3 * REC + 80);
	assert_int_equal(imap_viewcache_check(b.data, b.len, &ul.id, &vc), 0);
	assert_int_equal(vc.uidvalidity, 77);
	assert_int_equal(vc.next_uid, 12);
	assert_int_equal(vc.first_recent, 11);
	assert_int_equal(vc.new_m.tv_sec, 100);
	assert_int_equal(vc.new_c.tv_nsec, 2);
	assert_int_equal(vc.cur_m.tv_sec, 200);
	assert_int_equal(vc.cur_c.tv_nsec, 4);
	assert_int_equal(vc.n, 3);
	assert_true(vc.any_in_new);
	assert_int_equal(vc.rec[0].uid, 3);
	assert_int_equal(vc.rec[0].vsize, 6);
	assert_int_equal(vc.rec[0].in_new, 0);
	assert_string_equal(vc.names + vc.rec[0].name_off, "1700000001.M1P9.h,S=4:2,S");
	assert_int_equal(vc.rec[1].uid, 7);
	assert_string_equal(vc.names + vc.rec[1].name_off, "1700000003.M3P9.h,S=6:2,FRa");
	assert_int_equal(vc.rec[2].uid, 11);
	assert_int_equal(vc.rec[2].in_new, 1);
	assert_string_equal(vc.names + vc.rec[2].name_off, "1700000004.M4P9.h,S=5");
	assert_int_equal(vc.highest_modseq, 9);
	assert_int_equal(vc.rec[0].modseq, 2);
	assert_int_equal(vc.rec[1].modseq, 8);
	assert_int_equal(vc.rec[2].modseq, 9);
	buf_free(&b);
	imap_uidlist_free(&ul);
}

/* No stamps (the list cannot stand for the folders), or no id to bind to: no cache. */
static void
test_imap_viewcache_needs_stamps_and_id(void **state)
{
	struct imap_uidlist ul;
	struct buf b;

	(void)state;
	make_list(&ul);
	buf_init(&b, 0);
	ul.have_stamps = false;
	assert_int_equal(imap_viewcache_format(&ul, &b), -1);
	ul.have_stamps = true;
	ul.id.have = false;
	assert_int_equal(imap_viewcache_format(&ul, &b), -1);
	buf_free(&b);
	imap_uidlist_free(&ul);
}

/* Every shorter file (a write cut short, a truncation) is refused, and so is one with octets added. */
static void
test_imap_viewcache_truncated_refused(void **state)
{
	struct imap_uidlist ul;
	struct buf b;
	size_t len;

	(void)state;
	make_cache(&ul, &b);
	for (len = 0; len < b.len; len++)
		assert_false(checks(&ul, b.data, len));
	assert_int_equal(buf_append(&b, "\0\0\0\0\0\0\0\0", 8), 0);
	assert_false(checks(&ul, b.data, b.len));
	buf_free(&b);
	imap_uidlist_free(&ul);
}

/* Any one bit flipped anywhere (a UID, a name, the header, the checksum) is refused. */
static void
test_imap_viewcache_any_bit_flip_refused(void **state)
{
	struct imap_uidlist ul;
	struct buf b;
	size_t i;
	int bit;

	(void)state;
	make_cache(&ul, &b);
	assert_true(checks(&ul, b.data, b.len));
	for (i = 0; i < b.len; i++) {
		for (bit = 0; bit < 8; bit++) {
			b.data[i] ^= (char)(1u << bit);
			assert_false(checks(&ul, b.data, b.len));
			b.data[i] ^= (char)(1u << bit);
		}
	}
	/* A block of zeros (a write lost in a crash) too. */
	memset(b.data + HDR, 0, REC);
	assert_false(checks(&ul, b.data, b.len));
	buf_free(&b);
	imap_uidlist_free(&ul);
}

/* A cache of another version of the list (written since by anyone, or by an osd without caches) is stale. */
static void
test_imap_viewcache_other_list_refused(void **state)
{
	struct imap_uidlist ul;
	struct imap_viewcache vc;
	struct imap_file_id id;
	struct buf b;

	(void)state;
	make_cache(&ul, &b);
	id = ul.id;
	id.size++;
	assert_int_equal(imap_viewcache_check(b.data, b.len, &id, &vc), -1);
	id = ul.id;
	id.ino++;
	assert_int_equal(imap_viewcache_check(b.data, b.len, &id, &vc), -1);
	id = ul.id;
	id.mtime.tv_nsec++;
	assert_int_equal(imap_viewcache_check(b.data, b.len, &id, &vc), -1);
	id = ul.id;
	id.dev++;
	assert_int_equal(imap_viewcache_check(b.data, b.len, &id, &vc), -1);
	id = ul.id;
	id.have = false;
	assert_int_equal(imap_viewcache_check(b.data, b.len, &id, &vc), -1);
	assert_int_equal(imap_viewcache_check(b.data, b.len, NULL, &vc), -1);
	buf_free(&b);
	imap_uidlist_free(&ul);
}

/*
 * With a right checksum (a cache written wrong, not damaged after): UIDs
 * out of order or not below the next UID, names that leave their bounds,
 * hold a '/', a space or a NUL, or start with '.', are all refused.
 */
static void
test_imap_viewcache_bad_structure_refused(void **state)
{
	struct imap_uidlist ul;
	struct buf b, good;
	size_t names = HDR + 3 * REC;

	(void)state;
	make_cache(&ul, &good);
	buf_init(&b, 0);
#define TRY(edit)                                                                \
	do {                                                                     \
		b.len = 0;                                                       \
		assert_int_equal(buf_append(&b, good.data, good.len), 0);        \
		edit;                                                            \
		imap_viewcache_seal(b.data, b.len);                              \
		assert_false(checks(&ul, b.data, b.len));                        \
	} while (0)
	/* Sealed unchanged: fine (the edits below are what is refused). */
	b.len = 0;
	assert_int_equal(buf_append(&b, good.data, good.len), 0);
	imap_viewcache_seal(b.data, b.len);
	assert_true(checks(&ul, b.data, b.len));
	TRY(put_u32(&b, HDR + REC, 3));                         /* UID 7 -> 3: not ascending */
	TRY(put_u32(&b, HDR + 2 * REC, 12));                    /* UID 11 -> 12: not below next */
	TRY(put_u32(&b, HDR, 0));                               /* UID 0 */
	TRY(put_u32(&b, OFF_NEXT_UID, 11));                     /* next UID at the last UID */
	TRY(put_u32(&b, OFF_FIRST_RECENT, 13));                 /* first recent past the next UID */
	TRY(put_u32(&b, OFF_COUNT, 4));                         /* more records than the file holds */
	TRY(put_u32(&b, OFF_COUNT, 2));                         /* fewer */
	TRY(put_u32(&b, HDR + REC + 4, 0));                     /* the second name at the first's place */
	TRY(put_u32(&b, HDR + REC + 4, 1000));                  /* past the names */
	TRY(b.data[HDR + 8] = 100);                             /* a name longer than its octets */
	TRY(b.data[HDR + 8] = 0);                               /* an empty name */
	TRY(b.data[HDR + 10] = 2);                              /* in_new neither 0 nor 1 */
	TRY(b.data[HDR + 11] = 1);                              /* padding not zero */
	TRY(b.data[HDR + REC + 24] = 10);                       /* a MODSEQ above HIGHESTMODSEQ */
	TRY(b.data[names + 3] = '/');                           /* a '/' in a name */
	TRY(b.data[names + 3] = ' ');                           /* a space */
	TRY(b.data[names + 3] = '\0');                          /* a NUL inside */
	TRY(b.data[names + 3] = (char)0xe9);                    /* an 8-bit octet */
	TRY(b.data[names] = '.');                               /* a name starting with '.' */
	TRY(b.data[b.len - 1] = 'x');                           /* the padding after the last name */
	TRY(b.data[0] = 'O');                                   /* the magic */
	TRY(put_u32(&b, 8, 2));                                 /* a later version */
	TRY(put_u32(&b, 12, 0x04030201));                       /* the other byte order */
#undef TRY
	buf_free(&b);
	buf_free(&good);
	imap_uidlist_free(&ul);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_viewcache_roundtrip),
		cmocka_unit_test(test_imap_viewcache_needs_stamps_and_id),
		cmocka_unit_test(test_imap_viewcache_truncated_refused),
		cmocka_unit_test(test_imap_viewcache_any_bit_flip_refused),
		cmocka_unit_test(test_imap_viewcache_other_list_refused),
		cmocka_unit_test(test_imap_viewcache_bad_structure_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
