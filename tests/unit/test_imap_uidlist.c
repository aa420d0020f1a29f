/* test_imap_uidlist.c - unit tests for imapd/imap_uidlist.c: the osd-uidlist format, the Dovecot and Courier lists it takes over, keywords, UIDVALIDITY. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomicfile.h"
#include "buf.h"
#include "imap_uidlist.h"
#include "path.h"
#include "testutil.h"

static const char *samples;     /* tests/unit/imap/store */

static void
read_sample(const char *name, struct buf *b)
{
	char path[PATH_MAX];
	int fd;

	assert_int_equal(path_fmt(path, sizeof(path), "%s/%s", samples, name), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	buf_init(b, 0);
	assert_int_equal(buf_read_fd(b, fd), 0);
	close(fd);
}

static void
put_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	int fd;

	assert_int_equal(path_join(path, sizeof(path), dir, name), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);
}

static void
test_imap_uidlist_dovecot_v3_keeps_uidvalidity_and_uids(void **state)
{
	struct imap_uidlist ul;
	struct buf b;

	(void)state;
	read_sample("dovecot-uidlist.v3", &b);
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_parse(&ul, b.data, b.len), 0);
	assert_int_equal(ul.source, IMAP_UIDLIST_DOVECOT);
	assert_int_equal(ul.uidvalidity, 1275660208u);
	assert_int_equal(ul.next_uid, 25022u);
	/* Nothing another server's sessions saw is \Recent here. */
	assert_int_equal(ul.first_recent, 25022u);
	assert_int_equal(ul.n, 3);
	assert_int_equal(ul.v[0].uid, 17u);
	assert_string_equal(ul.v[0].base,
			    "1655390418.M100238P743770V0000000000000030I00000000081274AE_0.example.org,S=3734");
	/* Extension fields skipped; the name cut at its ":2," info. */
	assert_int_equal(ul.v[1].uid, 25017u);
	assert_string_equal(ul.v[1].base, "1655390500.M2P7.example.org,S=12");
	assert_int_equal(ul.v[2].uid, 25020u);
	assert_string_equal(ul.v[2].base, "1655390600.M3P7.example.org,S=40");
	assert_non_null(imap_uidlist_find(&ul, 25017));
	assert_null(imap_uidlist_find(&ul, 25018));
	imap_uidlist_free(&ul);
	buf_free(&b);
}

static void
test_imap_uidlist_courier_v1_keeps_uidvalidity_and_uids(void **state)
{
	struct imap_uidlist ul;
	struct buf b;

	(void)state;
	read_sample("courierimapuiddb.v1", &b);
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_parse(&ul, b.data, b.len), 0);
	assert_int_equal(ul.source, IMAP_UIDLIST_COURIER);
	assert_int_equal(ul.uidvalidity, 1100000000u);
	assert_int_equal(ul.next_uid, 12u);
	assert_int_equal(ul.n, 3);
	assert_int_equal(ul.v[1].uid, 7u);
	assert_string_equal(ul.v[1].base, "1000000002.M2P1.mail.example.com");
	imap_uidlist_free(&ul);
	buf_free(&b);
}

static void
test_imap_uidlist_dovecot_v2_flags_field_skipped(void **state)
{
	const char *text = "2 77 5\n1 S 100.M1P1.h\n4 - 101.M1P1.h:2,RS\n";
	struct imap_uidlist ul;

	(void)state;
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_parse(&ul, text, strlen(text)), 0);
	assert_int_equal(ul.uidvalidity, 77u);
	assert_int_equal(ul.n, 2);
	assert_string_equal(ul.v[1].base, "101.M1P1.h");
	assert_int_equal(ul.v[1].uid, 4u);
	imap_uidlist_free(&ul);
}

static void
test_imap_uidlist_bad_lines_skipped_next_uid_raised(void **state)
{
	/* A UID out of order, a UID beyond N, a path, garbage: never a UID twice, next above all. */
	const char *text = "osd-uidlist 1 9 3 3\n5 a.M1\n4 b.M1\nx y\n7 ../etc\n9 c.M1\n";
	struct imap_uidlist ul;

	(void)state;
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_parse(&ul, text, strlen(text)), 0);
	assert_int_equal(ul.n, 2);
	assert_int_equal(ul.v[0].uid, 5u);
	assert_int_equal(ul.v[1].uid, 9u);
	assert_int_equal(ul.next_uid, 10u);
	assert_int_equal(imap_uidlist_parse(&ul, "4 V1 N2\n", 8), -1);
	assert_int_equal(imap_uidlist_parse(&ul, "3 N2 G1\n", 8), -1);  /* no UIDVALIDITY */
	imap_uidlist_free(&ul);
}

/*
 * The in-place parser of osd-uidlist lines: long names (checked eight
 * octets at a time) with a bad octet anywhere are skipped, a ':' cuts the
 * base, CRLF and a last line without LF are taken, an entry's names stay
 * right after a later line fails, and a bad field after the file drops it.
 */
static void
test_imap_uidlist_parse_lines_in_place(void **state)
{
	static const char text[] =
		"osd-uidlist 2 9 40 40 100.000000001 100.000000002 200.000000003 200.000000004\n"
		"1 1700000000.M1P1.host.example,S=100 c:2,S W7\r\n"
		"2 1700000000.M2P1.host/example,S=100 c:2,S\n"     /* '/' past the first 8 octets */
		"3 1700000000.M3P1.host\x7f" "example c:2,\n"      /* DEL */
		"4 1700000000.M4P1.host\texample c:2,\n"           /* a tab */
		"5 1700000000.M5P1.host.example,S=5:2,T c:2,T\n"  /* ':' in the name word: cut there */
		"6 .hidden c:2,\n"
		"7 12345678 c\n"
		"8 abc c:2,S junk\n"
		"9 1700000000.M9P1.x\0y c:2,\n"
		"x1 abc c:2,\n"
		"10 last.M10 n";
	struct imap_uidlist ul;

	(void)state;
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_parse(&ul, text, sizeof(text) - 1), 0);
	assert_int_equal(ul.n, 5);
	assert_int_equal(ul.v[0].uid, 1u);
	assert_string_equal(ul.v[0].base, "1700000000.M1P1.host.example,S=100");
	assert_string_equal(ul.v[0].info, ":2,S");
	assert_int_equal(ul.v[0].vsize, 7);
	assert_int_equal(ul.v[1].uid, 5u);
	assert_string_equal(ul.v[1].base, "1700000000.M5P1.host.example,S=5");
	assert_string_equal(ul.v[1].info, ":2,T");
	assert_int_equal(ul.v[2].uid, 7u);
	assert_string_equal(ul.v[2].base, "12345678");
	assert_string_equal(ul.v[2].info, "");
	assert_false(ul.v[2].in_new);
	/* A field that is not version 2's: the entry without its file, the list without stamps. */
	assert_int_equal(ul.v[3].uid, 8u);
	assert_string_equal(ul.v[3].base, "abc");
	assert_null(ul.v[3].info);
	assert_false(ul.have_stamps);
	assert_int_equal(ul.v[4].uid, 10u);
	assert_string_equal(ul.v[4].base, "last.M10");
	assert_string_equal(ul.v[4].info, "");
	assert_true(ul.v[4].in_new);
	/* A later set_info leaves the other entries' names in the list's text alone. */
	imap_uidlist_set_info(&ul, 0, ":2,RS", false);
	assert_string_equal(ul.v[0].info, ":2,RS");
	assert_string_equal(ul.v[1].base, "1700000000.M5P1.host.example,S=5");
	imap_uidlist_free(&ul);
}

/* Version 2: stamps and each entry's file and vsize survive a format and parse; bad stamps are dropped, the entries kept. */
static void
test_imap_uidlist_version_2_roundtrip(void **state)
{
	const char *text = "osd-uidlist 2 9 5 5 100.000000001 100.000000002 200.000000003 200.000000004\n"
			   "1 a.M1 c:2,S W120\n2 b.M1\n4 c.M1 n\n";
	struct imap_uidlist ul;
	struct buf b;

	(void)state;
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_parse(&ul, text, strlen(text)), 0);
	assert_true(ul.have_stamps);
	assert_int_equal(ul.cur_c.tv_sec, 200);
	assert_int_equal(ul.cur_c.tv_nsec, 4);
	assert_int_equal(ul.n, 3);
	assert_string_equal(ul.v[0].base, "a.M1");
	assert_string_equal(ul.v[0].info, ":2,S");
	assert_false(ul.v[0].in_new);
	assert_int_equal(ul.v[0].vsize, 120);
	assert_null(ul.v[1].info);
	assert_string_equal(ul.v[2].info, "");
	assert_true(ul.v[2].in_new);
	buf_init(&b, 0);
	assert_int_equal(imap_uidlist_format(&ul, &b), 0);
	assert_string_equal(b.data, text);
	buf_free(&b);
	/* A stamp that does not parse: the list without stamps. */
	text = "osd-uidlist 2 9 5 5 100.1 100.000000002 200.000000003 200.000000004\n1 a.M1 c:2,S\n";
	assert_int_equal(imap_uidlist_parse(&ul, text, strlen(text)), 0);
	assert_false(ul.have_stamps);
	assert_int_equal(ul.n, 1);
	imap_uidlist_set_info(&ul, 0, ":2,RS", false);
	assert_string_equal(ul.v[0].base, "a.M1");
	assert_string_equal(ul.v[0].info, ":2,RS");
	imap_uidlist_free(&ul);
}

/*
 * RFC 7162 mod-sequences: "M<highest>" in the header, "M<modseq>" per
 * entry with "F<letters>" only where the flags it was given for are not
 * the info's (none, without info); a modseq above the highest, or a list
 * without the highest, is not trusted (have_modseq false).
 */
static void
test_imap_uidlist_modseq_roundtrip(void **state)
{
	const char *text = "osd-uidlist 2 9 5 5 M40 100.000000001 100.000000002 200.000000003 200.000000004\n"
			   "1 a.M1 c:2,S W120 M7\n2 b.M1 M9 FRa\n3 c.M1 M12\n4 d.M1 c:2,T M40 FST\n";
	struct imap_uidlist ul;
	uint32_t mf;
	struct buf b;

	(void)state;
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_parse(&ul, text, strlen(text)), 0);
	assert_true(ul.have_stamps);
	assert_true(ul.have_modseq);
	assert_int_equal(ul.highest_modseq, 40);
	assert_int_equal(ul.n, 4);
	assert_int_equal(ul.v[0].modseq, 7);
	assert_int_equal(ul.v[0].vsize, 120);
	assert_true(imap_uidlist_mflags(&ul.v[0], &mf));
	assert_int_equal(mf, IMAP_MBIT_SEEN);
	assert_true(imap_uidlist_mflags(&ul.v[1], &mf));
	assert_int_equal(mf, IMAP_MBIT_ANSWERED | 1u);
	assert_true(imap_uidlist_mflags(&ul.v[2], &mf));
	assert_int_equal(mf, 0);
	assert_true(imap_uidlist_mflags(&ul.v[3], &mf));
	assert_int_equal(mf, IMAP_MBIT_SEEN | IMAP_MBIT_DELETED);
	buf_init(&b, 0);
	assert_int_equal(imap_uidlist_format(&ul, &b), 0);
	assert_string_equal(b.data, text);
	buf_free(&b);
	/* A new modseq is above the highest, and becomes it. */
	assert_int_equal(imap_uidlist_modseq_next(&ul), 41);
	assert_int_equal(ul.highest_modseq, 41);
	/* Changing the info keeps the flags the modseq was given for. */
	imap_uidlist_set_info(&ul, 0, ":2,FS", false);
	assert_true(imap_uidlist_mflags(&ul.v[0], &mf));
	assert_int_equal(mf, IMAP_MBIT_SEEN);
	/* A modseq above the highest: the list's modseqs are not trusted. */
	text = "osd-uidlist 2 9 5 5 M8\n1 a.M1 c:2,S M9\n";
	assert_int_equal(imap_uidlist_parse(&ul, text, strlen(text)), 0);
	assert_false(ul.have_modseq);
	assert_int_equal(ul.n, 1);
	/* An older osd's list: none; an entry without M: its flags not known. */
	text = "osd-uidlist 2 9 5 5\n1 a.M1 c:2,S\n";
	assert_int_equal(imap_uidlist_parse(&ul, text, strlen(text)), 0);
	assert_false(ul.have_modseq);
	assert_false(imap_uidlist_mflags(&ul.v[0], &mf));
	/* Its first modseqs start from the clock: above what any client can have seen of it before. */
	imap_uidlist_modseq_start(&ul);
	assert_true(ul.have_modseq);
	assert_true(ul.highest_modseq >= (uint64_t)1700000000 << 16);
	imap_uidlist_free(&ul);
	/* A list with no entry starts at 1 (HIGHESTMODSEQ is never 0). */
	imap_uidlist_init(&ul);
	imap_uidlist_modseq_start(&ul);
	assert_int_equal(ul.highest_modseq, 1);
	imap_uidlist_free(&ul);
}

static void
test_imap_uidlist_write_refresh_roundtrip(void **state)
{
	const char *dir = *state;
	struct imap_uidlist a, b;

	imap_uidlist_init(&a);
	imap_uidlist_init(&b);
	assert_int_equal(imap_uidlist_refresh(&a, dir), 1);
	assert_int_equal(a.source, IMAP_UIDLIST_NONE);
	assert_int_equal(a.uidvalidity, 0u);
	a.uidvalidity = 4242;
	assert_int_equal(imap_uidlist_add(&a, "1.M1P1.h,S=5", 12), 1u);
	assert_int_equal(imap_uidlist_add(&a, "2.M1P1.h,S=6", 12), 2u);
	a.first_recent = 2;
	assert_int_equal(imap_uidlist_write(&a, dir), 0);
	assert_int_equal(imap_uidlist_refresh(&a, dir), 0);     /* its own write: unchanged */
	assert_int_equal(imap_uidlist_refresh(&b, dir), 1);
	assert_int_equal(b.source, IMAP_UIDLIST_OSD);
	assert_int_equal(b.uidvalidity, 4242u);
	assert_int_equal(b.next_uid, 3u);
	assert_int_equal(b.first_recent, 2u);
	assert_int_equal(b.n, 2);
	assert_string_equal(b.v[1].base, "2.M1P1.h,S=6");
	/* Another writer: b sees the change. */
	assert_int_equal(imap_uidlist_add(&a, "3.M1P1.h,S=7", 12), 3u);
	assert_int_equal(imap_uidlist_write(&a, dir), 0);
	assert_int_equal(imap_uidlist_refresh(&b, dir), 1);
	assert_int_equal(b.n, 3);
	assert_int_equal(b.next_uid, 4u);
	imap_uidlist_free(&a);
	imap_uidlist_free(&b);
}

static void
test_imap_uidlist_refresh_migrates_dovecot_then_own(void **state)
{
	const char *dir = *state;
	struct imap_uidlist ul;
	struct buf b;

	read_sample("dovecot-uidlist.v3", &b);
	put_file(dir, "dovecot-uidlist", b.data);
	put_file(dir, "courierimapuiddb", "1 5 6\n1 x.M1\n");
	buf_free(&b);
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_refresh(&ul, dir), 1);
	assert_int_equal(ul.source, IMAP_UIDLIST_DOVECOT);      /* Dovecot's before Courier's */
	assert_int_equal(ul.uidvalidity, 1275660208u);
	assert_int_equal(imap_uidlist_write(&ul, dir), 0);
	/* Ours from now on: a changed dovecot-uidlist is no longer read. */
	put_file(dir, "dovecot-uidlist", "3 V1 N2\n1 :y.M1\n");
	imap_uidlist_free(&ul);
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_refresh(&ul, dir), 1);
	assert_int_equal(ul.source, IMAP_UIDLIST_OSD);
	assert_int_equal(ul.uidvalidity, 1275660208u);
	assert_int_equal(ul.n, 3);
	assert_int_equal(ul.v[2].uid, 25020u);
	imap_uidlist_free(&ul);
}

static void
test_imap_uidlist_refresh_courier(void **state)
{
	const char *dir = *state;
	struct imap_uidlist ul;
	struct buf b;

	read_sample("courierimapuiddb.v1", &b);
	put_file(dir, "courierimapuiddb", b.data);
	buf_free(&b);
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_refresh(&ul, dir), 1);
	assert_int_equal(ul.source, IMAP_UIDLIST_COURIER);
	assert_int_equal(ul.uidvalidity, 1100000000u);
	assert_int_equal(ul.v[2].uid, 11u);
	imap_uidlist_free(&ul);
}

/*
 * A courierimapuiddb of another version than 1 is no list (as Courier
 * itself takes it): not read as Dovecot's version 2 ("<uid> <flags>
 * <file>") or 3, so no UID of it is kept under its UIDVALIDITY.
 */
static void
test_imap_uidlist_courier_other_version_is_none(void **state)
{
	const char *dir = *state;
	struct imap_uidlist ul;

	put_file(dir, "courierimapuiddb", "2 1100000000 12\n3 - 1000000001.M1P1.mail.example.com\n");
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_refresh(&ul, dir), 1);
	assert_int_equal(ul.source, IMAP_UIDLIST_NONE);
	assert_int_equal(ul.uidvalidity, 0);
	assert_int_equal(ul.n, 0);
	/* Leading blanks before the version, as Courier's sscanf allows: version 1 still. */
	put_file(dir, "courierimapuiddb", "  1 1100000000 12\n3 1000000001.M1P1.mail.example.com\n");
	assert_int_equal(imap_uidlist_refresh(&ul, dir), 1);
	assert_int_equal(ul.source, IMAP_UIDLIST_COURIER);
	assert_int_equal(ul.uidvalidity, 1100000000u);
	assert_int_equal(ul.n, 1);
	assert_int_equal(ul.v[0].uid, 3u);
	imap_uidlist_free(&ul);
}

static void
test_imap_uidlist_corrupt_own_list_is_none(void **state)
{
	const char *dir = *state;
	struct imap_uidlist ul;

	put_file(dir, IMAP_UIDLIST_NAME, "garbage\n1 a\n");
	imap_uidlist_init(&ul);
	assert_int_equal(imap_uidlist_refresh(&ul, dir), 1);
	assert_int_equal(ul.source, IMAP_UIDLIST_NONE);
	assert_int_equal(ul.uidvalidity, 0u);
	assert_int_equal(ul.n, 0);
	imap_uidlist_free(&ul);
}

static void
test_imap_uidlist_uidvalidity_unique_and_rising(void **state)
{
	const char *dir = *state;
	uint32_t a, b, c;

	a = imap_uidvalidity_next(dir);
	b = imap_uidvalidity_next(dir);
	c = imap_uidvalidity_next(dir);
	assert_true(a != 0);
	/* Three folders made within one second: three different values. */
	assert_true(b > a);
	assert_true(c > b);
	assert_true(a >= (uint32_t)time(NULL) - 5);
}

static void
test_imap_uidlist_keywords_from_dovecot_then_own(void **state)
{
	const char *dir = *state;
	struct imap_keywords kw;
	struct buf b;

	memset(&kw, 0, sizeof(kw));
	read_sample("dovecot-keywords", &b);
	put_file(dir, "dovecot-keywords", b.data);
	buf_free(&b);
	assert_int_equal(imap_keywords_refresh(&kw, dir), 1);
	assert_int_equal(kw.n, 4);
	assert_string_equal(kw.names[0], "$Forwarded");
	assert_string_equal(kw.names[1], "Junk");
	assert_null(kw.names[2]);
	assert_string_equal(kw.names[3], "$label1");
	kw.names[2] = strdup("Work");
	assert_int_equal(imap_keywords_write(&kw, dir), 0);
	assert_int_equal(imap_keywords_refresh(&kw, dir), 0);
	imap_keywords_free(&kw);
	memset(&kw, 0, sizeof(kw));
	assert_int_equal(imap_keywords_refresh(&kw, dir), 1);
	assert_string_equal(kw.names[2], "Work");
	imap_keywords_free(&kw);
	assert_true(imap_keyword_name_ok("$Junk"));
	assert_false(imap_keyword_name_ok("\\Seen"));
	assert_false(imap_keyword_name_ok("a b"));
	assert_false(imap_keyword_name_ok(""));
	assert_false(imap_keyword_name_ok("x(y"));
}

static void
test_imap_uidlist_lock_excludes_other_descriptions(void **state)
{
	const char *dir = *state;
	char path[PATH_MAX];
	int a, fd;

	a = imap_uidlist_lock(dir);
	assert_true(a >= 0);
	assert_int_equal(path_join(path, sizeof(path), dir, IMAP_UIDLIST_LOCK_NAME), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	/* flock: another open of the file (another session) cannot take it meanwhile. */
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
	imap_uidlist_unlock(a);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_uidlist_dovecot_v3_keeps_uidvalidity_and_uids),
		cmocka_unit_test(test_imap_uidlist_courier_v1_keeps_uidvalidity_and_uids),
		cmocka_unit_test(test_imap_uidlist_dovecot_v2_flags_field_skipped),
		cmocka_unit_test(test_imap_uidlist_bad_lines_skipped_next_uid_raised),
		cmocka_unit_test(test_imap_uidlist_parse_lines_in_place),
		cmocka_unit_test(test_imap_uidlist_version_2_roundtrip),
		cmocka_unit_test(test_imap_uidlist_modseq_roundtrip),
		cmocka_unit_test_setup_teardown(test_imap_uidlist_write_refresh_roundtrip,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_uidlist_refresh_migrates_dovecot_then_own,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_uidlist_refresh_courier,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_uidlist_courier_other_version_is_none,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_uidlist_corrupt_own_list_is_none,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_uidlist_uidvalidity_unique_and_rising,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_uidlist_keywords_from_dovecot_then_own,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_imap_uidlist_lock_excludes_other_descriptions,
						testutil_setup_tmpdir, testutil_teardown_tmpdir),
	};

	samples = argc > 1 ? argv[1] : "tests/unit/imap";
	{
		static char dir[PATH_MAX];

		if (path_join(dir, sizeof(dir), samples, "store") == -1)
			return 1;
		samples = dir;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
