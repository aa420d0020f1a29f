/* test_imap_message.c - unit tests for one message as IMAP shows it: CRLF form, ENVELOPE, BODYSTRUCTURE, sections, search, Date (imapd/imap_message.c). */
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
#include "imap_message.h"

/* The sample folder: argv[1]/message. */
static const char *samples;

/* The octets of sample name into b. */
static void
read_sample(const char *name, struct buf *b)
{
	char path[4096];
	FILE *fp;
	char chunk[4096];
	size_t n;

	assert_true((size_t)snprintf(path, sizeof(path), "%s/message/%s", samples, name) < sizeof(path));
	fp = fopen(path, "rb");
	assert_non_null(fp);
	buf_init(b, 0);
	buf_append(b, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		assert_int_equal(buf_append(b, chunk, n), 0);
	fclose(fp);
}

static struct imap_message *
load(const char *name)
{
	struct buf b;
	struct imap_message *m;

	read_sample(name, &b);
	m = imap_message_new(b.data, b.len);
	assert_non_null(m);
	buf_free(&b);
	return m;
}

static void
assert_buf_is(const struct buf *b, const char *expected, size_t len)
{
	if (b->len != len || memcmp(b->data, expected, len) != 0)
		fail_msg("got [%.*s]\nwant [%.*s]", (int)b->len, b->data != NULL ? b->data : "",
			 (int)len, expected);
}

/* Bare LF becomes CRLF, CRLF stays, a bare CR stays; the size is known without building. */
static void
test_imap_message_crlf_form(void **state)
{
	static const struct {
		const char *in, *out;
		size_t in_len, out_len;
	} cases[] = {
#define C(i, o) { i, o, sizeof(i) - 1, sizeof(o) - 1 }
		C("", ""),
		C("\n", "\r\n"),
		C("a\nb", "a\r\nb"),
		C("a\r\nb\n", "a\r\nb\r\n"),
		C("\r\n\n\r\n", "\r\n\r\n\r\n"),
		C("bare\rcr\n", "bare\rcr\r\n"),
		C("end\r", "end\r"),
		/* NUL, which no IMAP string carries, is 0x80, octet for octet */
		C("a\0b\n", "a\x80" "b\r\n"),
#undef C
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_message *m = imap_message_new(cases[i].in, cases[i].in_len);
		const char *d;
		size_t len;

		assert_non_null(m);
		d = imap_message_data(m, &len);
		assert_int_equal(len, cases[i].out_len);
		assert_memory_equal(d, cases[i].out, len);
		assert_int_equal(imap_message_crlf_size(cases[i].in, cases[i].in_len), cases[i].out_len);
		imap_message_free(m);
	}
}

/*
 * ENVELOPE and BODYSTRUCTURE of each sample, exactly; every one of these
 * was compared with what Debian's Dovecot 2.3.19 answers for the same file
 * (all equal except nul-8bit.eml, where Dovecot sends NUL as U+FFFD).
 */
static const struct {
	const char *file, *envelope, *bodystructure;
} expected[] = {
	{ "simple.eml",
		  "(\"Mon, 7 Dec 2026 10:15:00 +0100\" \"Lunch\" ((\"Alice Example\" NIL \"alice\" \"exampl"
		  "e.org\")) ((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"Alice Example\" NIL \""
		  "alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.net\")) NIL NIL NIL \"<lunch.1@exa"
		  "mple.org>\")",
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 42 3 NIL NIL NIL NIL)" },
	{ "alternative.eml",
		  "(\"Tue, 8 Dec 2026 08:00:00 -0500\" \"Newsletter\" ((\"Example, Carol\" NIL \"carol\" \""
		  "example.com\")) ((\"Example, Carol\" NIL \"carol\" \"example.com\")) ((\"Example, Carol"
		  "\" NIL \"carol\" \"example.com\")) ((NIL NIL \"dave\" \"example.com\")(\"Erin\" NIL \"er"
		  "in\" \"example.com\")) ((NIL NIL \"frank\" \"example.com\")) NIL NIL NIL)",
		  "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 47 2 NIL NIL N"
		  "IL NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 45 0 NIL "
		  "NIL NIL NIL) \"alternative\" (\"boundary\" \"=_alt_42\") NIL NIL NIL)" },
	{ "mixed-attachment.eml",
		  "(\"Wed, 9 Dec 2026 12:00:00 +0000\" \"Report attached\" ((NIL NIL \"grace\" \"example.or"
		  "g\")) ((NIL NIL \"grace\" \"example.org\")) ((NIL NIL \"grace\" \"example.org\")) ((NIL "
		  "NIL \"heidi\" \"example.org\")) NIL NIL NIL NIL)",
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 0 NIL NIL NIL NIL)("
		  "\"application\" \"octet-stream\" (\"name\" \"report.bin\") \"<report@example.org>\" \"Th"
		  "e numbers\" \"base64\" 352 NIL (\"attachment\" (\"filename\" \"report.bin\")) NIL NIL) "
		  "\"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)" },
	{ "rfc822.eml",
		  "(\"Thu, 10 Dec 2026 09:30:00 +0200\" \"Fwd: Plans\" ((NIL NIL \"ivan\" \"example.com\"))"
		  " ((NIL NIL \"ivan\" \"example.com\")) ((NIL NIL \"ivan\" \"example.com\")) ((NIL NIL \"j"
		  "udy\" \"example.com\")) NIL NIL NIL NIL)",
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 16 0 NIL NIL NIL NIL)("
		  "\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 443 (\"Wed, 9 Dec 2026 18:00:00 +0000\" \"Pl"
		  "ans\" ((\"Mallory\" NIL \"mallory\" \"example.net\")) ((\"Mallory\" NIL \"mallory\" \"ex"
		  "ample.net\")) ((\"Mallory\" NIL \"mallory\" \"example.net\")) ((NIL NIL \"ivan\" \"examp"
		  "le.com\")) NIL NIL \"<earlier@example.com>\" \"<plans@example.net>\") ((\"text\" \"plain"
		  "\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 14 0 NIL NIL NIL NIL)(\"tex"
		  "t\" \"html\" (\"charset\" \"iso-8859-1\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL) \"alter"
		  "native\" (\"boundary\" \"b2\") NIL NIL NIL) 19 NIL (\"inline\" NIL) NIL NIL) \"mixed\" ("
		  "\"boundary\" \"b1\") NIL NIL NIL)" },
	{ "encoded-words.eml",
		  "(\"Fri, 11 Dec 2026 23:59:59 -0800\" {103}\r\n=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXM"
		  "geW8=?= =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?= ((\"=?ISO-8859-1?Q?Andr=E9"
		  "?= Pirard\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) ((\"=?ISO-8859-1?Q?Andr=E9?= Pirard\" NIL"
		  " \"PIRARD\" \"vm1.ulg.ac.be\")) ((\"=?ISO-8859-1?Q?Andr=E9?= Pirard\" NIL \"PIRARD\" \"v"
		  "m1.ulg.ac.be\")) ((\"=?utf-8?B?SsO2cmc=?=\" NIL \"joerg\" \"example.de\")) NIL NIL NIL N"
		  "IL)",
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 36 1 NIL NIL NIL NIL)" },
	{ "groups.eml",
		  "(NIL \"Groups\" ((\"Team Lead\" NIL \"lead\" \"example.com\")) ((\"Team Lead\" NIL \"lea"
		  "d\" \"example.com\")) ((\"The List\" NIL \"list\" \"example.com\")) ((NIL NIL \"undisclo"
		  "sed-recipients\" NIL)(NIL NIL NIL NIL)) ((NIL NIL \"Project Team\" NIL)(NIL NIL \"anna\""
		  " \"example.com\")(\"Bob B.\" NIL \"bob\" \"example.com\")(NIL NIL NIL NIL)(NIL NIL \"car"
		  "l\" \"example.com\")) NIL NIL NIL)",
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)" },
	{ "no-content-type.eml",
		  "(NIL \"No MIME\" NIL NIL NIL NIL NIL NIL NIL NIL)",
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 39 2 NIL NIL NIL NIL)" },
	{ "bad-boundary.eml",
		  "(NIL \"Broken\" NIL NIL NIL NIL NIL NIL NIL NIL)",
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \""
		  "mixed\" (\"boundary\" \"never\") NIL NIL NIL)" },
	{ "unclosed.eml",
		  "(NIL \"Unclosed\" NIL NIL NIL NIL NIL NIL NIL NIL)",
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)(\""
		  "text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 24 1 NIL NIL NIL NIL) \"mix"
		  "ed\" (\"boundary\" \"u\") NIL NIL NIL)" },
	{ "digest.eml",
		  "(NIL \"Digest\" NIL NIL NIL NIL NIL NIL NIL NIL)",
		  "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 21 (NIL \"one\" NIL NIL NIL NIL NIL NIL NI"
		  "L NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL N"
		  "IL) 2 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13"
		  " 0 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL)" },
	{ "nul-8bit.eml",
		  "(NIL {10}\r\ncaf\xe9"" \x80"" \"q\" ((\"=?utf-8?q?x?=\" NIL \"a\" \"b.c\")) ((\"=?utf-8?"
		  "q?x?=\" NIL \"a\" \"b.c\")) ((\"=?utf-8?q?x?=\" NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
		  "(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"8bit\" 10 1 NIL NIL NIL NIL)" },
};

static void
test_imap_message_envelope_samples(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		struct imap_message *m = load(expected[i].file);
		struct buf out;

		buf_init(&out, 0);
		imap_message_envelope(m, &out);
		assert_buf_is(&out, expected[i].envelope, strlen(expected[i].envelope));
		buf_free(&out);
		imap_message_free(m);
	}
}

static void
test_imap_message_bodystructure_samples(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		struct imap_message *m = load(expected[i].file);
		struct buf out;

		buf_init(&out, 0);
		imap_message_bodystructure(m, true, &out);
		assert_buf_is(&out, expected[i].bodystructure, strlen(expected[i].bodystructure));
		buf_free(&out);
		imap_message_free(m);
	}
}

/* BODY: the same without the extension data (RFC 3501 section 7.4.2), nested message included. */
static void
test_imap_message_body_without_extensions(void **state)
{
	static const char want[] =
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 16 0)(\"message\" "
		"\"rfc822\" NIL NIL NIL \"7bit\" 443 (\"Wed, 9 Dec 2026 18:00:00 +0000\" \"Plans\" "
		"((\"Mallory\" NIL \"mallory\" \"example.net\")) ((\"Mallory\" NIL \"mallory\" "
		"\"example.net\")) ((\"Mallory\" NIL \"mallory\" \"example.net\")) ((NIL NIL \"ivan\" "
		"\"example.com\")) NIL NIL \"<earlier@example.com>\" \"<plans@example.net>\") "
		"((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 14 0)"
		"(\"text\" \"html\" (\"charset\" \"iso-8859-1\") NIL NIL \"7bit\" 10 0) \"alternative\") "
		"19) \"mixed\")";
	struct imap_message *m = load("rfc822.eml");
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	imap_message_bodystructure(m, false, &out);
	assert_buf_is(&out, want, sizeof(want) - 1);
	buf_free(&out);
	imap_message_free(m);
}

/* A file with LF line ends and the same with CRLF are one message to IMAP. */
static void
test_imap_message_lf_file_same_as_crlf(void **state)
{
	struct imap_message *lf = load("simple.eml"), *crlf = load("simple-crlf.eml");
	struct buf a, b;
	const char *da, *db;
	size_t la, lb;

	(void)state;
	da = imap_message_data(lf, &la);
	db = imap_message_data(crlf, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
	buf_init(&a, 0);
	buf_init(&b, 0);
	imap_message_bodystructure(lf, true, &a);
	imap_message_bodystructure(crlf, true, &b);
	assert_buf_is(&a, b.data, b.len);
	buf_free(&a);
	buf_free(&b);
	imap_message_free(lf);
	imap_message_free(crlf);
}

/* BODY[section] octets (RFC 3501 section 6.4.5); the expectations are Dovecot's answers. */
static void
test_imap_message_sections(void **state)
{
	static const struct {
		const char *file, *section, *octets;
	} cases[] = {
		{ "rfc822.eml", "1", "Forwarding this." },
		{ "rfc822.eml", "1.MIME", "Content-Type: text/plain\r\n\r\n" },
		{ "rfc822.eml", "2.MIME", "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n" },
		{ "rfc822.eml", "2.HEADER.FIELDS (subject from)",
		  "From: Mallory <mallory@example.net>\r\nSubject: Plans\r\n\r\n" },
		{ "rfc822.eml", "2.HEADER.FIELDS.NOT (From To Date Message-ID In-Reply-To MIME-Version "
				"Content-Type)", "Subject: Plans\r\n\r\n" },
		{ "rfc822.eml", "2.1", "Caf=E9 at six." },
		{ "rfc822.eml", "2.1.MIME", "Content-Type: text/plain; charset=iso-8859-1\r\n"
					    "Content-Transfer-Encoding: quoted-printable\r\n\r\n" },
		{ "rfc822.eml", "2.2", "<p>six</p>" },
		{ "rfc822.eml", "2.TEXT", "--b2\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
					  "Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 at six.\r\n"
					  "--b2\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n"
					  "<p>six</p>\r\n--b2--\r\n" },
		/* HEADER / TEXT only of a message/rfc822 part; nothing else exists */
		{ "rfc822.eml", "1.HEADER", "" },
		{ "rfc822.eml", "1.TEXT", "" },
		{ "rfc822.eml", "3", "" },
		{ "rfc822.eml", "2.3", "" },
		{ "rfc822.eml", "1.1", "Forwarding this." },
		{ "rfc822.eml", "1.1.1", "" },
		{ "mixed-attachment.eml", "HEADER.FIELDS (SUBJECT X-NONE)", "Subject: Report attached\r\n\r\n" },
		{ "mixed-attachment.eml", "HEADER.FIELDS (\"X-None\")", "\r\n" },
		{ "mixed-attachment.eml", "1", "See the attachment." },
		/* a non-multipart message's part 1 is its body, and it has no 1.1 */
		{ "simple.eml", "1", "Shall we have lunch at noon?\r\n-- \r\nAlice\r\n" },
		{ "simple.eml", "TEXT", "Shall we have lunch at noon?\r\n-- \r\nAlice\r\n" },
		{ "simple.eml", "1.1", "" },
		{ "simple.eml", "2", "" },
		{ "no-content-type.eml", "HEADER", "Subject: No MIME\r\n\r\n" },
		{ "no-content-type.eml", "1.MIME", "Subject: No MIME\r\n\r\n" },
		{ "unclosed.eml", "2", "second without headers\r\n" },
		{ "unclosed.eml", "2.MIME", "\r\n" },
		{ "bad-boundary.eml", "1", "" },
		{ "digest.eml", "1.HEADER", "Subject: one\r\n\r\n" },
		{ "digest.eml", "1.TEXT", "first" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_message *m = load(cases[i].file);
		struct buf out;
		const char *error = NULL;

		buf_init(&out, 0);
		if (imap_message_section(m, cases[i].section, &out, &error) != 0)
			fail_msg("%s [%s]: %s", cases[i].file, cases[i].section, error);
		if (out.len != strlen(cases[i].octets) ||
		    (out.len > 0 && memcmp(out.data, cases[i].octets, out.len) != 0))
			fail_msg("%s [%s]: got [%.*s]", cases[i].file, cases[i].section, (int)out.len,
				 out.data != NULL ? out.data : "");
		buf_free(&out);
		imap_message_free(m);
	}
}

/* BODY[] is the whole CRLF form; HEADER and TEXT split it. */
static void
test_imap_message_section_whole(void **state)
{
	struct imap_message *m = load("alternative.eml");
	struct buf all, head, text;
	const char *error, *d;
	size_t len;

	(void)state;
	buf_init(&all, 0);
	buf_init(&head, 0);
	buf_init(&text, 0);
	assert_int_equal(imap_message_section(m, "", &all, &error), 0);
	assert_int_equal(imap_message_section(m, "header", &head, &error), 0);
	assert_int_equal(imap_message_section(m, "TEXT", &text, &error), 0);
	d = imap_message_data(m, &len);
	assert_int_equal(all.len, len);
	assert_memory_equal(all.data, d, len);
	assert_int_equal(head.len + text.len, len);
	assert_memory_equal(d + head.len, text.data, text.len);
	assert_memory_equal(head.data + head.len - 4, "\r\n\r\n", 4);
	buf_free(&all);
	buf_free(&head);
	buf_free(&text);
	imap_message_free(m);
}

/* Bad section syntax is -1 with a reason, for the BAD reply. */
static void
test_imap_message_section_syntax(void **state)
{
	static const char *const bad[] = {
		"0", "1.", "1..2", ".1", "01", "MIME", "FOO", "1.FOO", "HEADER.FIELDS", "HEADER.FIELDS ()",
		"HEADER.FIELDS (A", "HEADER.FIELDS (A) x", "HEADER X", "TEXT.1", "99999999999",
		"HEADER.FIELDS.NOT", "1.2.MIME.1",
	};
	struct imap_message *m = load("rfc822.eml");

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf out;
		const char *error = NULL;

		buf_init(&out, 0);
		if (imap_message_section(m, bad[i], &out, &error) != -1)
			fail_msg("section [%s] accepted", bad[i]);
		assert_non_null(error);
		assert_int_equal(out.len, 0);
		buf_free(&out);
	}
	imap_message_free(m);
}

/* Header search: RFC 2047 words decoded, case folded (beyond ASCII too), "" is "the field exists". */
static void
test_imap_message_header_search(void **state)
{
	struct imap_message *m = load("encoded-words.eml");

	(void)state;
	assert_true(imap_message_header_has(m, "Subject", "you understand the EXAMPLE"));
	assert_true(imap_message_header_has(m, "from", "ANDR\xc3\x89 pirard"));
	assert_true(imap_message_header_has(m, "To", "j\xc3\xb6rg"));
	assert_true(imap_message_header_has(m, "To", "J\xc3\x96RG"));
	assert_true(imap_message_header_has(m, "X-Raw", "gr\xc3\xbc\xc3\x9f" "e aus k\xc3\x96ln"));
	assert_false(imap_message_header_has(m, "Subject", "Pirard"));
	assert_false(imap_message_header_has(m, "Cc", "a"));
	assert_true(imap_message_header_has(m, "date", ""));
	assert_false(imap_message_header_has(m, "Cc", ""));
	/* encoded words are decoded before matching: the raw form does not match */
	assert_false(imap_message_header_has(m, "Subject", "ISO-8859-1"));
	imap_message_free(m);
}

/* FROM/TO/CC/BCC match the parsed addresses: comments inside an address do not hide it; names and groups match too. */
static void
test_imap_message_address_search(void **state)
{
	static const char msg[] =
		"From: <user-from (comment)@ (comment) domain.org>\r\n"
		"To: user-to@domain.org (RealTo), groupname: groupuser1@domain.org, G2 <gu2@domain.org>;\r\n"
		"Subject: x\r\n\r\nbody\r\n";
	struct imap_message *m = imap_message_new(msg, sizeof(msg) - 1), *e = load("encoded-words.eml");

	(void)state;
	assert_true(imap_message_address_has(m, "From", "user-from@domain.org"));
	assert_true(imap_message_address_has(m, "from", "SER-FROM@DOM"));
	assert_false(imap_message_address_has(m, "From", "comment"));
	assert_true(imap_message_address_has(m, "To", "realto"));
	assert_true(imap_message_address_has(m, "To", "user-to@domain.org"));
	assert_true(imap_message_address_has(m, "To", "groupname"));
	assert_true(imap_message_address_has(m, "To", "groupuser1@domain.org"));
	assert_true(imap_message_address_has(m, "To", "G2 <gu2@"));
	assert_true(imap_message_address_has(m, "To", ""));
	assert_false(imap_message_address_has(m, "Cc", ""));
	assert_false(imap_message_address_has(m, "To", "user-from"));
	/* Encoded words in names are decoded before matching. */
	assert_true(imap_message_address_has(e, "from", "ANDR\xc3\x89 pirard"));
	imap_message_free(m);
	imap_message_free(e);
}

/* Body search: transfer encodings undone and charsets converted; only text parts; TEXT adds headers. */
static void
test_imap_message_text_search(void **state)
{
	struct imap_message *alt = load("alternative.eml"), *fwd = load("rfc822.eml"),
			    *att = load("mixed-attachment.eml");

	(void)state;
	/* quoted-printable UTF-8 */
	assert_true(imap_message_text_has(alt, "CAF\xc3\x89 AU LAIT", false));
	assert_false(imap_message_text_has(alt, "Caf=C3=A9", false));
	assert_false(imap_message_text_has(alt, "Newsletter", false));
	assert_true(imap_message_text_has(alt, "Newsletter", true));
	assert_true(imap_message_text_has(alt, "", false));
	/* quoted-printable ISO-8859-1 inside a forwarded message, and that message's headers */
	assert_true(imap_message_text_has(fwd, "caf\xc3\xa9 at six", false));
	assert_true(imap_message_text_has(fwd, "mallory@example", false));
	assert_false(imap_message_text_has(fwd, "judy", false));
	assert_true(imap_message_text_has(fwd, "judy", true));
	/* a base64 attachment is not text */
	assert_false(imap_message_text_has(att, "AAECAwQF", false));
	assert_true(imap_message_text_has(att, "see the ATTACHMENT", false));
	imap_message_free(alt);
	imap_message_free(fwd);
	imap_message_free(att);
}

/* The Date header with its zone; missing or unreadable dates are false. */
static void
test_imap_message_sent_date(void **state)
{
	static const char no_date[] = "Subject: x\n\nx\n", bad_date[] = "Date: tomorrow-ish\n\nx\n";
	struct imap_message *m = load("simple.eml");
	time_t when = 0;
	int tz = 0;

	(void)state;
	assert_true(imap_message_sent_date(m, &when, &tz));
	/* Mon, 7 Dec 2026 10:15:00 +0100 is 09:15:00 UTC */
	assert_int_equal((long long)when, 1796634900LL);
	assert_int_equal(tz, 60);
	imap_message_free(m);
	m = load("encoded-words.eml");
	assert_true(imap_message_sent_date(m, &when, &tz));
	assert_int_equal(tz, -480);
	imap_message_free(m);
	m = imap_message_new(no_date, sizeof(no_date) - 1);
	assert_false(imap_message_sent_date(m, &when, &tz));
	imap_message_free(m);
	m = imap_message_new(bad_date, sizeof(bad_date) - 1);
	assert_false(imap_message_sent_date(m, &when, &tz));
	imap_message_free(m);
}

/* Count occurrences of needle in the buffer. */
static size_t
count(const struct buf *b, const char *needle)
{
	size_t n = 0, l = strlen(needle);

	for (size_t i = 0; i + l <= b->len; i++)
		if (memcmp(b->data + i, needle, l) == 0)
			n++;
	return n;
}

/*
 * 300 multiparts one inside the other: the walk stops at depth 100, where
 * the rest is one text/plain part (so 100 multipart levels are shown), and
 * the parts below do not exist for BODY[section].
 */
static void
test_imap_message_deep_nesting_capped(void **state)
{
	struct buf msg, out, path;
	struct imap_message *m;
	const char *error;

	(void)state;
	buf_init(&msg, 0);
	buf_init(&out, 0);
	buf_init(&path, 0);
	for (int i = 0; i < 300; i++)
		buf_printf(&msg, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
	buf_append_str(&msg, "\ndeep\n");
	for (int i = 299; i >= 0; i--)
		buf_printf(&msg, "--b%d--\n", i);
	m = imap_message_new(msg.data, msg.len);
	assert_non_null(m);
	imap_message_bodystructure(m, true, &out);
	assert_int_equal(count(&out, "\"mixed\""), 100);
	assert_int_equal(count(&out, "\"text\" \"plain\""), 1);
	for (int i = 0; i < 150; i++)
		buf_append_str(&path, i == 0 ? "1" : ".1");
	buf_reset(&out);
	assert_int_equal(imap_message_section(m, path.data, &out, &error), 0);
	assert_int_equal(out.len, 0);
	assert_true(imap_message_text_has(m, "deep", false));
	imap_message_free(m);
	buf_free(&msg);
	buf_free(&out);
	buf_free(&path);
}

/* A 1 MiB folded subject and 20000 fields: answered, and the subject unfolded to one line. */
static void
test_imap_message_huge_header(void **state)
{
	struct buf msg, out;
	struct imap_message *m;
	const char *error;

	(void)state;
	buf_init(&msg, 0);
	buf_init(&out, 0);
	buf_append_str(&msg, "Subject: start");
	for (int i = 0; i < 16384; i++)
		buf_append_str(&msg, "\n\tword word word word word word word word word word word word x");
	buf_append_char(&msg, '\n');
	for (int i = 0; i < 20000; i++)
		buf_printf(&msg, "X-Field-%d: %d\n", i, i);
	buf_append_str(&msg, "From: last@example.org\n\nbody\n");
	m = imap_message_new(msg.data, msg.len);
	assert_non_null(m);
	imap_message_envelope(m, &out);
	assert_non_null(strstr(out.data, "((NIL NIL \"last\" \"example.org\"))"));
	assert_null(memchr(out.data + 20, '\n', out.len - 20));
	buf_reset(&out);
	assert_int_equal(imap_message_section(m, "HEADER.FIELDS (X-Field-19999)", &out, &error), 0);
	assert_string_equal(out.data, "X-Field-19999: 19999\r\n\r\n");
	assert_true(imap_message_header_has(m, "X-FIELD-12345", "12345"));
	imap_message_free(m);
	buf_free(&msg);
	buf_free(&out);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap_message_crlf_form),
		cmocka_unit_test(test_imap_message_address_search),
		cmocka_unit_test(test_imap_message_envelope_samples),
		cmocka_unit_test(test_imap_message_bodystructure_samples),
		cmocka_unit_test(test_imap_message_body_without_extensions),
		cmocka_unit_test(test_imap_message_lf_file_same_as_crlf),
		cmocka_unit_test(test_imap_message_sections),
		cmocka_unit_test(test_imap_message_section_whole),
		cmocka_unit_test(test_imap_message_section_syntax),
		cmocka_unit_test(test_imap_message_header_search),
		cmocka_unit_test(test_imap_message_text_search),
		cmocka_unit_test(test_imap_message_sent_date),
		cmocka_unit_test(test_imap_message_deep_nesting_capped),
		cmocka_unit_test(test_imap_message_huge_header),
	};
	int failed;

	samples = argc > 1 ? argv[1] : "tests/unit/imap";
	imap_message_init();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	imap_message_shutdown();
	return failed;
}
