/* test_smtp_dsn.c - unit tests for RFC 3464 bounces (smtp-gate/qmgr/dsn.c), checked by parsing them back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dsn.h"

#define QID "1718000000.000042.31337"
#define NOW ((time_t)1718003600)

/* One MIME entity: its header block (unfolded on lookup) and its body. */
struct entity {
	char *headers;
	char *body;
};

/* A bounce taken apart: top-level entity, boundary, parts between the delimiters. */
struct dsn_parsed {
	struct buf raw;
	struct entity top;
	char boundary[128];
	size_t nparts;
	struct entity parts[4];
};

static struct dsn_input
input(const struct dsn_rcpt *rcpts, size_t n, const char *original)
{
	struct dsn_input in = {
		.queue_id = QID,
		.reporting_mta = "mail.example.org",
		.from = "alice@example.org",
		.to = "alice@example.org",
		.arrival = 1718000000,
		.now = NOW,
		.rcpts = rcpts,
		.nrcpts = n,
		.original = original,
		.original_len = original != NULL ? strlen(original) : 0,
	};

	return in;
}

/* Split at the first empty line; a block without one is all headers. */
static struct entity
split_entity(const char *s)
{
	struct entity e;
	const char *sep = strstr(s, "\n\n");

	if (s[0] == '\n') {
		e.headers = strdup("");
		e.body = strdup(s + 1);
	} else if (sep == NULL) {
		e.headers = strdup(s);
		e.body = strdup("");
	} else {
		e.headers = strndup(s, (size_t)(sep - s) + 1);
		e.body = strdup(sep + 2);
	}
	assert_non_null(e.headers);
	assert_non_null(e.body);
	return e;
}

/*
 * The unfolded value of the n-th field called name (RFC 5322 §2.2.3: a line
 * starting with white space continues the one before), or NULL.
 */
static char *
field(const char *block, const char *name, int nth)
{
	size_t nlen = strlen(name);
	const char *p = block;

	while (*p != '\0') {
		const char *eol = strchr(p, '\n');

		if (eol == NULL)
			eol = p + strlen(p);
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':' && nth-- == 0) {
			char *v = malloc(strlen(p) + 1);
			size_t n = 0;
			const char *c = p + nlen + 1;

			assert_non_null(v);
			while (*c == ' ')
				c++;
			for (; *c != '\0'; c++) {
				if (*c == '\n') {
					if (c[1] != ' ' && c[1] != '\t')
						break;
					continue;
				}
				v[n++] = *c;
			}
			v[n] = '\0';
			return v;
		}
		p = *eol == '\0' ? eol : eol + 1;
	}
	return NULL;
}

/* Assert that field name (first occurrence) of block is exactly want. */
static void
assert_field(const char *block, const char *name, const char *want)
{
	char *v = field(block, name, 0);

	if (v == NULL)
		fail_msg("no %s: in\n%s", name, block);
	assert_string_equal(v, want);
	free(v);
}

/*
 * Compose and take apart, asserting the invariants every bounce keeps: no
 * CR or NUL, no line over 998 octets, ends in LF, a boundary parameter,
 * delimiter lines only where parts start and one close delimiter at the
 * end, and the boundary nowhere else.
 */
static void
parse(struct dsn_parsed *d, const struct dsn_input *in)
{
	char *ct, *b, *body, *line;
	size_t blen, start = 0;
	bool closed = false;

	memset(d, 0, sizeof *d);
	buf_init(&d->raw, 0);
	assert_int_equal(dsn_compose(in, &d->raw), 0);
	assert_non_null(d->raw.data);
	assert_int_equal(strlen(d->raw.data), d->raw.len);
	assert_null(memchr(d->raw.data, '\r', d->raw.len));
	assert_int_equal(d->raw.data[d->raw.len - 1], '\n');
	for (const char *p = d->raw.data; *p != '\0'; p = strchr(p, '\n') + 1)
		assert_true((size_t)(strchr(p, '\n') - p) <= 998);

	d->top = split_entity(d->raw.data);
	ct = field(d->top.headers, "Content-Type", 0);
	assert_non_null(ct);
	b = strstr(ct, "boundary=\"");
	assert_non_null(b);
	b += strlen("boundary=\"");
	blen = strcspn(b, "\"");
	assert_true(blen > 0 && blen <= 70);     /* RFC 2046 §5.1.1 */
	assert_true(blen < sizeof d->boundary);
	memcpy(d->boundary, b, blen);
	d->boundary[blen] = '\0';
	free(ct);

	body = d->top.body;
	for (line = body; *line != '\0'; line = strchr(line, '\n') + 1) {
		size_t len = (size_t)(strchr(line, '\n') - line);

		assert_false(closed);           /* nothing after the close delimiter */
		if (len >= 2 && line[0] == '-' && line[1] == '-' &&
		    strncmp(line + 2, d->boundary, blen) == 0) {
			bool close = len == blen + 4 && line[blen + 2] == '-' && line[blen + 3] == '-';

			assert_true(len == blen + 2 || close);
			if (start > 0) {
				/* The LF before the delimiter belongs to it (RFC 2046 §5.1.1). */
				char *part = strndup(body + start, (size_t)(line - body) - start - 1);

				assert_true(d->nparts < 4);
				d->parts[d->nparts++] = split_entity(part);
				free(part);
			}
			start = (size_t)(line + len + 1 - body);
			closed = close;
		} else {
			char *hit = memmem(line, len, d->boundary, blen);

			assert_null(hit);
		}
	}
	assert_true(closed);
}

static void
parsed_free(struct dsn_parsed *d)
{
	buf_free(&d->raw);
	free(d->top.headers);
	free(d->top.body);
	for (size_t i = 0; i < d->nparts; i++) {
		free(d->parts[i].headers);
		free(d->parts[i].body);
	}
}

/* No line of s starts with prefix: an injected header would. */
static bool
no_line_starts_with(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = s; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncasecmp(p, prefix, n) == 0)
			return false;
	return true;
}

static void
assert_max_line(const char *s, size_t max)
{
	for (const char *p = s; *p != '\0';) {
		const char *eol = strchr(p, '\n');
		size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);

		if (len > max)
			fail_msg("line of %zu octets: %.80s...", len, p);
		p += len + (eol != NULL);
	}
}

static const char original[] =
	"Received: from laptop.example.org\n"
	"Subject: hello\n"
	"From: alice@example.org\n"
	"To: bob@example.net\n"
	"\n"
	"Hi Bob.\n";

static void
test_smtp_dsn_one_permanent_recipient_has_three_parts(void **state)
{
	struct dsn_rcpt r[] = { {
		.address = "bob@example.net",
		.reason = "mx1.example.net [192.0.2.25] said: 550 5.1.1 no such user",
		.remote_mta = "mx1.example.net",
	} };
	struct dsn_input in = input(r, 1, original);
	struct dsn_parsed d;
	char *mid;

	(void)state;
	parse(&d, &in);
	assert_field(d.top.headers, "From", "MAILER-DAEMON@mail.example.org");
	assert_field(d.top.headers, "To", "alice@example.org");
	assert_field(d.top.headers, "Subject", "failure notice");
	assert_field(d.top.headers, "Date", "Mon, 10 Jun 2024 07:13:20 +0000");
	assert_field(d.top.headers, "Auto-Submitted", "auto-replied");
	assert_field(d.top.headers, "MIME-Version", "1.0");
	assert_field(d.top.headers, "Content-Transfer-Encoding", "7bit");
	mid = field(d.top.headers, "Message-ID", 0);
	assert_non_null(mid);
	assert_non_null(strstr(mid, "1718000000-000042-31337"));
	assert_int_equal(mid[0], '<');
	assert_string_equal(mid + strlen(mid) - strlen("@mail.example.org>"), "@mail.example.org>");
	free(mid);
	assert_non_null(strstr(d.top.headers,
	    "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\""));

	assert_int_equal(d.nparts, 3);
	assert_field(d.parts[0].headers, "Content-Type", "text/plain; charset=us-ascii");
	assert_non_null(strstr(d.parts[0].body, "mail.example.org"));
	assert_non_null(strstr(d.parts[0].body, "<bob@example.net>:\n"
	    "mx1.example.net [192.0.2.25] said: 550 5.1.1 no such user\n"));

	assert_field(d.parts[1].headers, "Content-Type", "message/delivery-status");
	assert_non_null(strstr(d.parts[1].body,
	    "Reporting-MTA: dns; mail.example.org\n"
	    "X-osd-Queue-ID: " QID "\n"
	    "Arrival-Date: Mon, 10 Jun 2024 06:13:20 +0000\n"
	    "\n"
	    "Final-Recipient: rfc822; bob@example.net\n"
	    "Action: failed\n"
	    "Status: 5.1.1\n"
	    "Remote-MTA: dns; mx1.example.net\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 no such user\n"));

	assert_field(d.parts[2].headers, "Content-Type", "text/rfc822-headers");
	assert_field(d.parts[2].headers, "Content-Transfer-Encoding", "7bit");
	assert_string_equal(d.parts[2].body,
	    "Received: from laptop.example.org\nSubject: hello\n"
	    "From: alice@example.org\nTo: bob@example.net\n");
	assert_null(strstr(d.raw.data, "Hi Bob."));     /* the body is not quoted */
	parsed_free(&d);
}

static void
test_smtp_dsn_three_recipients_get_their_status_codes(void **state)
{
	struct dsn_rcpt r[] = {
		{ .address = "a@example.net", .reason = "mx.example.net said: 451 4.3.0 try later",
		  .remote_mta = "mx.example.net", .expired = true },
		{ .address = "b@example.net", .reason = "mx.example.net said: 550-5.7.1 spam detected",
		  .remote_mta = "mx.example.net" },
		{ .address = "c@example.org", .reason = "user is over quota" },
	};
	struct dsn_input in = input(r, 3, original);
	struct dsn_parsed d;
	const char *blocks;
	struct entity g;
	char *v;

	(void)state;
	parse(&d, &in);
	assert_int_equal(d.nparts, 3);
	/* Per-recipient groups follow the per-message fields, one empty line before each. */
	blocks = d.parts[1].body;
	g = split_entity(blocks);
	assert_null(field(g.headers, "Final-Recipient", 0));
	free(g.headers);
	free(g.body);
	for (int i = 0; i < 3; i++) {
		const char *want[] = { "5.4.7", "5.7.1", "5.0.0" };

		v = field(blocks, "Status", i);
		assert_non_null(v);
		assert_string_equal(v, want[i]);
		free(v);
		v = field(blocks, "Action", i);
		assert_string_equal(v, "failed");
		free(v);
	}
	assert_null(field(blocks, "Status", 3));
	v = field(blocks, "Diagnostic-Code", 0);
	assert_string_equal(v, "smtp; 451 4.3.0 try later");
	free(v);
	v = field(blocks, "Diagnostic-Code", 1);
	assert_string_equal(v, "smtp; 550-5.7.1 spam detected");
	free(v);
	v = field(blocks, "Diagnostic-Code", 2);
	assert_string_equal(v, "X-osd; user is over quota");    /* a local reason is no SMTP reply */
	free(v);
	v = field(blocks, "Remote-MTA", 2);
	assert_null(v);                                         /* only two recipients named one */

	assert_max_line(d.raw.data, 78);
	assert_non_null(strstr(d.parts[0].body, "addresses."));
	assert_non_null(strstr(d.parts[0].body, "<a@example.net>:\n"
	    "The message stayed in the queue too long"));
	assert_non_null(strstr(d.parts[0].body, "The last attempt said: mx.example.net said: 451"));
	assert_non_null(strstr(d.parts[0].body, "<c@example.org>:\nuser is over quota\n"));
	parsed_free(&d);
}

static void
test_smtp_dsn_status_code_forms(void **state)
{
	struct dsn_rcpt r[] = {
		{ .address = "a@x", .reason = "4.2.2 mailbox full" },           /* at the start, class made 5 */
		{ .address = "b@x", .reason = "550 no enhanced code here" },     /* reply without code */
		{ .address = "c@x", .reason = "250 2.0.0 ok but then lost" },   /* a success explains nothing */
		{ .address = "d@x", .reason = NULL },                             /* no reason at all */
		{ .address = "e@x", .reason = "host 10.5.1.1 said: 553 5.1.10 bad" },
		{ .address = "f@x", .reason = "no reply code, version 5.1.1" }, /* a code must lead or follow a reply */
		{ .address = "g@x", .reason = "5.1.2345 not a code" },
		{ .address = "h@x", .reason = "said: 554 5.7.1", .expired = true },
	};
	const char *want[] = { "5.2.2", "5.0.0", "5.0.0", "5.0.0", "5.1.10", "5.0.0", "5.0.0", "5.4.7" };
	struct dsn_input in = input(r, 8, NULL);
	struct dsn_parsed d;

	(void)state;
	parse(&d, &in);
	for (int i = 0; i < 8; i++) {
		char *v = field(d.parts[1].body, "Status", i);

		assert_non_null(v);
		if (strcmp(v, want[i]) != 0)
			fail_msg("recipient %d: Status %s, want %s", i, v, want[i]);
		free(v);
	}
	/* The recipient without a reason gets no Diagnostic-Code: 7 reasons, 7 fields. */
	assert_non_null(strstr(d.parts[1].body, "Final-Recipient: rfc822; d@x\nAction: failed\n"
	    "Status: 5.0.0\n\nFinal-Recipient: rfc822; e@x\n"));
	assert_non_null(strstr(d.parts[0].body, "<d@x>:\nNo reason was recorded.\n"));
	parsed_free(&d);
}

static void
test_smtp_dsn_crlf_injection_stays_on_its_line(void **state)
{
	struct dsn_rcpt r[] = { {
		.address = "bob@example.net\r\nBcc: evil1@x",
		.reason = "x\r\nBcc: evil@x",
		.remote_mta = "mx\nBcc: evil2@x",
	} };
	struct dsn_input in = input(r, 1, original);
	struct dsn_parsed d;

	(void)state;
	in.to = "alice@example.org\r\nBcc: evil3@x";
	in.reporting_mta = "mail.example.org\r\nBcc: evil4@x";
	in.queue_id = "1\r\nBcc: x";
	parse(&d, &in);
	assert_true(no_line_starts_with(d.raw.data, "Bcc:"));
	assert_field(d.top.headers, "To", "alice@example.org Bcc: evil3@x");
	assert_field(d.top.headers, "From", "MAILER-DAEMON@mail.example.orgBcc:evil4x");
	assert_null(field(d.top.headers, "Bcc", 0));
	assert_field(d.parts[1].body, "Final-Recipient", "rfc822; bob@example.net Bcc: evil1@x");
	assert_field(d.parts[1].body, "Diagnostic-Code", "X-osd; x Bcc: evil@x");
	assert_field(d.parts[1].body, "Remote-MTA", "dns; mx Bcc: evil2@x");
	assert_non_null(strstr(d.parts[0].body, "\nx Bcc: evil@x\n"));
	parsed_free(&d);
}

static void
test_smtp_dsn_control_and_8bit_in_fields(void **state)
{
	struct dsn_rcpt r[] = { {
		.address = "b\xc3\xb6rje@example.net",
		.reason = "\t  550\x01 5.1.1\x7f \xe2\x80\x9cno\xe2\x80\x9d   user  ",
	} };
	struct dsn_input in = input(r, 1, NULL);
	struct dsn_parsed d;

	(void)state;
	parse(&d, &in);
	/* The report is US-ASCII (RFC 3464); the text for people keeps UTF-8 and says so. */
	assert_field(d.parts[1].body, "Final-Recipient", "rfc822; b??rje@example.net");
	assert_field(d.parts[1].body, "Diagnostic-Code", "smtp; 550 5.1.1 ???no??? user");
	assert_field(d.parts[1].body, "Status", "5.1.1");
	assert_field(d.parts[0].headers, "Content-Type", "text/plain; charset=utf-8");
	assert_field(d.parts[0].headers, "Content-Transfer-Encoding", "8bit");
	assert_field(d.top.headers, "Content-Transfer-Encoding", "8bit");
	assert_non_null(strstr(d.parts[0].body, "<b\xc3\xb6rje@example.net>:\n550 5.1.1 \xe2\x80\x9cno"));
	for (size_t i = 0; i < strlen(d.parts[1].body); i++)
		assert_true((unsigned char)d.parts[1].body[i] < 0x80);
	parsed_free(&d);
}

static void
test_smtp_dsn_huge_reason_is_cut_and_folded(void **state)
{
	size_t n = 100000;
	char *words = malloc(n + 1), *v;
	struct dsn_rcpt r[] = { { .address = "bob@example.net" } };
	struct dsn_input in = input(r, 1, NULL);
	struct dsn_parsed d;

	(void)state;
	assert_non_null(words);
	memcpy(words, "550 5.2.3 ", 10);
	for (size_t i = 10; i < n; i++)
		words[i] = i % 7 == 0 ? ' ' : 'w';
	words[n] = '\0';
	r[0].reason = words;
	parse(&d, &in);
	/* Folded at spaces: every line stays within RFC 5322's 78. */
	assert_max_line(d.raw.data, 78);
	v = field(d.parts[1].body, "Diagnostic-Code", 0);
	assert_non_null(v);
	assert_true(strlen(v) < 2100);
	assert_string_equal(v + strlen(v) - 3, "...");
	assert_int_equal(strncmp(v, "smtp; 550 5.2.3 www", 19), 0);
	free(v);
	assert_field(d.parts[1].body, "Status", "5.2.3");
	assert_true(d.raw.len < 10000);
	parsed_free(&d);
	free(words);
}

static void
test_smtp_dsn_huge_word_is_cut_at_998(void **state)
{
	size_t n = 5000;
	char *word = malloc(n + 1);
	struct dsn_rcpt r[] = { { .address = "bob@example.net" } };
	struct dsn_input in = input(r, 1, NULL);
	struct dsn_parsed d;

	(void)state;
	assert_non_null(word);
	memset(word, 'a', n);
	word[n] = '\0';
	r[0].reason = word;
	r[0].address = word;            /* an absurd address is cut too */
	parse(&d, &in);                 /* asserts no line over 998 */
	assert_true(no_line_starts_with(d.parts[1].body, "aaa"));   /* continuations are folded */
	parsed_free(&d);
	free(word);
}

static void
test_smtp_dsn_original_without_separator_is_all_headers(void **state)
{
	struct dsn_rcpt r[] = { { .address = "bob@example.net", .reason = "550 5.1.1 no" } };
	struct dsn_input in = input(r, 1, "Subject: hi\nFrom: a@b\n");
	struct dsn_parsed d;

	(void)state;
	parse(&d, &in);
	assert_int_equal(d.nparts, 3);
	assert_string_equal(d.parts[2].body, "Subject: hi\nFrom: a@b\n");
	parsed_free(&d);

	/* Without its last LF either: the quote still ends its line. */
	in = input(r, 1, "Subject: hi\nFrom: a@b");
	parse(&d, &in);
	assert_string_equal(d.parts[2].body, "Subject: hi\nFrom: a@b\n");
	parsed_free(&d);
}

static void
test_smtp_dsn_no_original_has_two_parts(void **state)
{
	struct dsn_rcpt r[] = { { .address = "bob@example.net", .reason = "550 5.1.1 no" } };
	struct dsn_input in = input(r, 1, NULL);
	struct dsn_parsed d;

	(void)state;
	parse(&d, &in);
	assert_int_equal(d.nparts, 2);
	assert_non_null(strstr(d.parts[0].body, "not available"));
	parsed_free(&d);

	/* An original that starts with its empty line has no headers to quote. */
	in = input(r, 1, "\nbody only\n");
	parse(&d, &in);
	assert_int_equal(d.nparts, 2);
	assert_null(strstr(d.raw.data, "body only"));
	parsed_free(&d);
}

static void
test_smtp_dsn_boundary_avoids_content(void **state)
{
	/* The first candidates, as a sender who guessed queue id and time would write them. */
	struct dsn_rcpt r[] = { {
		.address = "bob@example.net",
		.reason = "550 5.1.1 --=_osd_1718000000-000042-31337_1718003600_1",
	} };
	struct dsn_input in = input(r, 1,
	    "Subject: trap\n"
	    "--=_osd_1718000000-000042-31337_1718003600_0\n"
	    "X-Also: --=_osd_1718000000-000042-31337_1718003600_2--\n"
	    "\n"
	    "body\n");
	struct dsn_parsed d;

	(void)state;
	parse(&d, &in);         /* asserts the boundary occurs only in delimiters */
	assert_string_equal(d.boundary, "=_osd_1718000000-000042-31337_1718003600_3");
	assert_int_equal(d.nparts, 3);
	assert_non_null(strstr(d.parts[2].body, "--=_osd_1718000000-000042-31337_1718003600_0\n"));
	parsed_free(&d);
}

static void
test_smtp_dsn_long_headers_cut_at_line_boundary(void **state)
{
	size_t lines = 2000, len = 0;
	char *orig = malloc(lines * 64 + 16);
	struct dsn_rcpt r[] = { { .address = "bob@example.net", .reason = "550 5.1.1 no" } };
	struct dsn_input in;
	struct dsn_parsed d;
	size_t q;

	(void)state;
	assert_non_null(orig);
	for (size_t i = 0; i < lines; i++)
		len += (size_t)snprintf(orig + len, 64, "X-Filler-%05zu: %0*d\n", i, 46, 0);
	memcpy(orig + len, "\nbody\n", 7);
	len += 6;
	in = input(r, 1, orig);
	parse(&d, &in);
	q = strlen(d.parts[2].body);
	assert_true(q <= DSN_ORIGINAL_HEADERS_MAX);
	assert_true(q > DSN_ORIGINAL_HEADERS_MAX - 64);
	assert_int_equal(d.parts[2].body[q - 1], '\n');
	assert_memory_equal(d.parts[2].body, orig, q);
	assert_int_equal(orig[q], 'X');                 /* the next line starts where the quote stops */
	parsed_free(&d);
	free(orig);
}

static void
test_smtp_dsn_original_headers_cleaned_but_8bit_kept(void **state)
{
	char longline[1200];
	char orig[2000];
	struct dsn_rcpt r[] = { { .address = "bob@example.net", .reason = "550 5.1.1 no" } };
	struct dsn_input in;
	struct dsn_parsed d;

	(void)state;
	memset(longline, 'l', sizeof longline - 1);
	longline[sizeof longline - 1] = '\0';
	snprintf(orig, sizeof orig, "Subject: gr\xc3\xbc\xc3\x9f\x65\r\nX-Long: %s\n\nbody\n", longline);
	in = input(r, 1, orig);
	parse(&d, &in);                         /* asserts no CR, no line over 998 */
	assert_field(d.parts[2].headers, "Content-Transfer-Encoding", "8bit");
	assert_field(d.parts[0].headers, "Content-Transfer-Encoding", "7bit");
	assert_field(d.top.headers, "Content-Transfer-Encoding", "8bit");
	assert_int_equal(strncmp(d.parts[2].body, "Subject: gr\xc3\xbc\xc3\x9f\x65\nX-Long: lll", 28), 0);
	parsed_free(&d);
}

static void
test_smtp_dsn_double_bounce_says_so(void **state)
{
	struct dsn_rcpt r[] = { { .address = "bob@example.net", .reason = "550 5.1.1 no" } };
	struct dsn_input in = input(r, 1, original);
	struct dsn_parsed d;

	(void)state;
	in.from = "";
	in.to = "postmaster@example.org";
	parse(&d, &in);
	assert_field(d.top.headers, "To", "postmaster@example.org");
	assert_non_null(strstr(d.parts[0].body, "itself a bounce"));
	parsed_free(&d);
}

static void
test_smtp_dsn_message_ids_differ(void **state)
{
	struct dsn_rcpt r[] = { { .address = "bob@example.net", .reason = "550 5.1.1 no" } };
	struct dsn_input in = input(r, 1, NULL);
	struct dsn_parsed a, b;
	char *ma, *mb;

	(void)state;
	parse(&a, &in);
	parse(&b, &in);
	ma = field(a.top.headers, "Message-ID", 0);
	mb = field(b.top.headers, "Message-ID", 0);
	assert_string_not_equal(ma, mb);
	free(ma);
	free(mb);
	parsed_free(&a);
	parsed_free(&b);
}

static void
test_smtp_dsn_full_buffer_fails_and_leaves_it_unchanged(void **state)
{
	struct dsn_rcpt r[] = { { .address = "bob@example.net", .reason = "550 5.1.1 no" } };
	struct dsn_input in = input(r, 1, original);
	struct buf out;

	(void)state;
	buf_init(&out, 600);
	assert_int_equal(buf_append_str(&out, "keep"), 0);
	errno = 0;
	assert_int_equal(dsn_compose(&in, &out), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(out.len, 4);
	assert_string_equal(out.data, "keep");
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_dsn_one_permanent_recipient_has_three_parts),
		cmocka_unit_test(test_smtp_dsn_three_recipients_get_their_status_codes),
		cmocka_unit_test(test_smtp_dsn_status_code_forms),
		cmocka_unit_test(test_smtp_dsn_crlf_injection_stays_on_its_line),
		cmocka_unit_test(test_smtp_dsn_control_and_8bit_in_fields),
		cmocka_unit_test(test_smtp_dsn_huge_reason_is_cut_and_folded),
		cmocka_unit_test(test_smtp_dsn_huge_word_is_cut_at_998),
		cmocka_unit_test(test_smtp_dsn_original_without_separator_is_all_headers),
		cmocka_unit_test(test_smtp_dsn_no_original_has_two_parts),
		cmocka_unit_test(test_smtp_dsn_boundary_avoids_content),
		cmocka_unit_test(test_smtp_dsn_long_headers_cut_at_line_boundary),
		cmocka_unit_test(test_smtp_dsn_original_headers_cleaned_but_8bit_kept),
		cmocka_unit_test(test_smtp_dsn_double_bounce_says_so),
		cmocka_unit_test(test_smtp_dsn_message_ids_differ),
		cmocka_unit_test(test_smtp_dsn_full_buffer_fails_and_leaves_it_unchanged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
