/* dsn.c - bounce messages: RFC 3464 delivery status notifications in a multipart/report (RFC 6522). */
#include "dsn.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* Octets of one reason kept: osd-local says at most 1000, a multi-line remote reply can say more. */
#define DSN_REASON_MAX 2048
/* Octets of an address or a host name kept (RFC 5321 §4.5.3.1: 256 and 255 are the real limits). */
#define DSN_ADDR_MAX 512
/* Line lengths of RFC 5322 §2.1.1: SHOULD be at most 78, MUST be at most 998 (LF not counted). */
#define DSN_LINE_SOFT 78
#define DSN_LINE_HARD 998
/* Octets of the queue id used in the boundary and Message-ID (QUEUE_ID_MAX is 32). */
#define DSN_QID_MAX 32

/* Distinguishes bounces composed by one process in the same second for the same message. */
static unsigned long dsn_counter;

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * Append s made safe for a header field or a report line: every control
 * character (CR, LF, TAB, DEL...) becomes a space, runs of spaces collapse
 * and leading or trailing ones go, so a value can never end its line and
 * start a header of its own ("x\r\nBcc: evil@x" stays one line).  With
 * ascii, octets >= 0x80 become '?' (RFC 3464 fields are US-ASCII; UTF-8
 * ones need RFC 6533's message/global-delivery-status).  At most max octets
 * of s are kept; a longer value ends in "...".
 */
static int
put_clean(struct buf *dst, const char *s, size_t max, bool ascii)
{
	size_t kept = 0;
	bool space = false;

	if (s == NULL)
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c == 0x7f) {
			space = kept > 0;
			continue;
		}
		if (kept >= max)
			return buf_append_str(dst, "...");
		if (space) {
			if (buf_append_char(dst, ' ') == -1)
				return -1;
			kept++;
			space = false;
		}
		if (ascii && c >= 0x80)
			c = '?';
		if (buf_append_char(dst, (char)c) == -1)
			return -1;
		kept++;
	}
	return 0;
}

/*
 * Append first, then text (words separated by single spaces, as put_clean
 * leaves them), breaking lines before column DSN_LINE_SOFT where a space
 * allows it; each new line starts with indent (" " folds a header field,
 * RFC 5322 §2.2.3).  A word that would pass DSN_LINE_HARD is cut there, so
 * no line is ever too long for SMTP.  Ends the last line.
 */
static int
put_folded(struct buf *out, const char *first, const char *text, const char *indent)
{
	size_t col, ilen = strlen(indent);
	bool fresh = true;      /* nothing yet after first or after the indent */

	if (buf_append_str(out, first) == -1)
		return -1;
	col = strlen(first);
	while (*text != '\0') {
		size_t n = strcspn(text, " ");

		if (!fresh) {
			if (col + 1 + n > DSN_LINE_SOFT) {
				if (buf_append_char(out, '\n') == -1 || buf_append_str(out, indent) == -1)
					return -1;
				col = ilen;
			} else {
				if (buf_append_char(out, ' ') == -1)
					return -1;
				col++;
			}
		}
		while (n > 0) {
			size_t k = col < DSN_LINE_HARD ? DSN_LINE_HARD - col : 0;

			if (k > n)
				k = n;
			if (buf_append(out, text, k) == -1)
				return -1;
			text += k;
			n -= k;
			col += k;
			if (n > 0) {
				if (buf_append_char(out, '\n') == -1 || buf_append_str(out, indent) == -1)
					return -1;
				col = ilen;
			}
		}
		fresh = false;
		if (*text == ' ')
			text++;
	}
	return buf_append_char(out, '\n');
}

/* put_clean into a scratch buffer, then put_folded: one field or paragraph. */
static int
put_field(struct buf *out, const char *first, const char *value, size_t max, bool ascii,
	  const char *indent)
{
	struct buf v;
	int r;

	buf_init(&v, 0);
	r = put_clean(&v, value, max, ascii);
	if (r == 0)
		r = put_folded(out, first, v.data != NULL ? v.data : "", indent);
	buf_free(&v);
	return r;
}

/* An RFC 5322 §3.3 date in UTC, with English names whatever the locale. */
static int
put_date(struct buf *out, time_t t)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (t < 0 || gmtime_r(&t, &tm) == NULL) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	return buf_printf(out, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
	    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * Copy s keeping only the octets in keep, others replaced by repl (or
 * dropped when repl is 0), at most max octets: the queue id and host name
 * go into a boundary and a Message-ID, which have narrow grammars.
 */
static void
copy_token(char *dst, size_t size, const char *s, const char *keep, char repl, size_t max)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n + 1 < size && n < max; s++) {
		if (is_alnum(*s) || strchr(keep, *s) != NULL)
			dst[n++] = *s;
		else if (repl != '\0')
			dst[n++] = repl;
	}
	dst[n] = '\0';
}

/*
 * Length of an RFC 3463 enhanced status code at s (class "." 1*3digit "."
 * 1*3digit, not going on with more digits), else 0.
 */
static size_t
status_len(const char *s)
{
	size_t i = 2, n;

	if ((s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	for (n = 0; n < 3 && is_digit(s[i]); n++)
		i++;
	if (n == 0 || s[i] != '.')
		return 0;
	i++;
	for (n = 0; n < 3 && is_digit(s[i]); n++)
		i++;
	if (n == 0 || is_digit(s[i]) || (s[i] == '.' && is_digit(s[i + 1])))
		return 0;
	return i;
}

/*
 * Where an SMTP reply starts in a reason: three digits 2xx..5xx at the
 * start or after a space, then a space, a hyphen (a multi-line reply) or
 * the end ("mx1.example.net [192.0.2.25] said: 550 5.1.1 no such user").
 * from: where to start looking.  NULL when there is none.
 */
static const char *
find_reply(const char *r, const char *from)
{
	const char *p;

	for (p = from; *p != '\0'; p++) {
		if (p > r && p[-1] != ' ')
			continue;
		if (p[0] >= '2' && p[0] <= '5' && is_digit(p[1]) && is_digit(p[2]) &&
		    (p[3] == ' ' || p[3] == '-' || p[3] == '\0'))
			return p;
	}
	return NULL;
}

/*
 * The Status: of one recipient, from its cleaned reason r, into st.  An expired one always gets 5.4.7
 * (RFC 3463 X.4.7, delivery time expired), whatever its last temporary
 * reply said: that reply stays in the Diagnostic-Code.  Otherwise the
 * enhanced code at the start of the reason or right after an SMTP reply
 * code (RFC 2034 §4), with its class made 5: Action: failed is final, and
 * RFC 3463 gives class 4 to failures that may still succeed.  A 2.x.y
 * explains no failure, and no code at all says nothing: 5.0.0.
 */
static void
dsn_status(const char *r, bool expired, char *st, size_t size)
{
	const char *p = NULL;
	size_t n = 0;

	snprintf(st, size, "%s", expired ? "5.4.7" : "5.0.0");
	if (expired)
		return;
	if ((n = status_len(r)) > 0) {
		p = r;
	} else {
		const char *q = r;

		while ((q = find_reply(r, q)) != NULL) {
			if (q[3] != '\0' && (n = status_len(q + 4)) > 0) {
				p = q + 4;
				break;
			}
			q += 3;
		}
	}
	if (p == NULL || p[0] == '2')
		return;
	snprintf(st, size, "5%.*s", (int)(n - 1), p + 1);
}

/*
 * The Diagnostic-Code of one recipient (RFC 3464 §2.3.6) from its cleaned
 * reason: "smtp; " and the reply itself when the reason holds an SMTP
 * reply, else the reason as our own "X-osd; " type: a local explanation is
 * no SMTP reply.
 */
static int
put_diagnostic(struct buf *out, const char *reason)
{
	const char *reply = find_reply(reason, reason);

	if (reply != NULL)
		return put_folded(out, "Diagnostic-Code: smtp; ", reply, " ");
	return put_folded(out, "Diagnostic-Code: X-osd; ", reason, " ");
}

static bool
has_8bit(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] >= 0x80)
			return true;
	return false;
}

/* Part 1: the explanation for a person, in qmail's spirit, in our own words. */
static int
part_text(const struct dsn_input *in, const char *mta, struct buf *p)
{
	bool many = in->nrcpts > 1;
	size_t i;

	if (buf_printf(p, "Hello. This is the mail system at %s.\n\n", mta) == -1)
		return -1;
	if (buf_printf(p, "I am sorry, but your message could not be delivered to the following\n"
	    "address%s. I have given up on %s; the reasons follow.\n\n",
	    many ? "es" : "", many ? "them" : "it") == -1)
		return -1;
	if (in->from == NULL || in->from[0] == '\0') {
		/* Sent to doublebounceto: say why it did not go back to a sender. */
		if (buf_append_str(p, "The message was itself a bounce (its sender was <>), so this\n"
		    "notice could not go back to its sender.\n\n") == -1)
			return -1;
	}
	for (i = 0; i < in->nrcpts; i++) {
		const struct dsn_rcpt *rc = &in->rcpts[i];
		bool has_reason = rc->reason != NULL && rc->reason[0] != '\0';

		if (buf_append_char(p, '<') == -1 ||
		    put_clean(p, rc->address, DSN_ADDR_MAX, false) == -1 ||
		    buf_append_str(p, ">:\n") == -1)
			return -1;
		if (rc->expired) {
			if (buf_append_str(p, "The message stayed in the queue too long, and I gave up on it. "
			    "It arrived\non ") == -1 ||
			    put_date(p, in->arrival) == -1 ||
			    buf_append_str(p, ", and every attempt since then failed.\n") == -1)
				return -1;
			if (has_reason && put_field(p, "The last attempt said: ", rc->reason,
			    DSN_REASON_MAX, false, "") == -1)
				return -1;
		} else if (has_reason) {
			if (put_field(p, "", rc->reason, DSN_REASON_MAX, false, "") == -1)
				return -1;
		} else if (buf_append_str(p, "No reason was recorded.\n") == -1) {
			return -1;
		}
		if (buf_append_char(p, '\n') == -1)
			return -1;
	}
	if (in->original != NULL)
		return buf_append_str(p, "The headers of your message are attached below.\n");
	return buf_append_str(p, "Your message itself was not available to attach.\n");
}

/* One per-recipient group of the report (RFC 3464 §2.3), after its empty line. */
static int
put_recipient(struct buf *p, const struct dsn_rcpt *rc, const char *reason)
{
	char st[16];

	dsn_status(reason, rc->expired, st, sizeof st);
	if (buf_append_char(p, '\n') == -1 ||
	    put_field(p, "Final-Recipient: rfc822; ", rc->address, DSN_ADDR_MAX, true, " ") == -1 ||
	    buf_printf(p, "Action: failed\nStatus: %s\n", st) == -1)
		return -1;
	if (rc->remote_mta != NULL && rc->remote_mta[0] != '\0' &&
	    put_field(p, "Remote-MTA: dns; ", rc->remote_mta, DSN_ADDR_MAX, true, " ") == -1)
		return -1;
	if (reason[0] != '\0' && put_diagnostic(p, reason) == -1)
		return -1;
	return 0;
}

/* Part 2: the machine-readable report, RFC 3464 §2.2 and §2.3. */
static int
part_status(const struct dsn_input *in, const char *mta, struct buf *p)
{
	size_t i;

	if (buf_printf(p, "Reporting-MTA: dns; %s\n", mta) == -1)
		return -1;
	/* An extension field (RFC 3464 §2.2) that lets the postmaster find the message in the log. */
	if (in->queue_id != NULL && in->queue_id[0] != '\0' &&
	    put_field(p, "X-osd-Queue-ID: ", in->queue_id, DSN_QID_MAX, true, " ") == -1)
		return -1;
	if (buf_append_str(p, "Arrival-Date: ") == -1 || put_date(p, in->arrival) == -1 ||
	    buf_append_char(p, '\n') == -1)
		return -1;
	for (i = 0; i < in->nrcpts; i++) {
		const struct dsn_rcpt *rc = &in->rcpts[i];
		struct buf reason;
		int r;

		/* Cleaned first, so that "550\t5.1.1" is found as well as "550 5.1.1". */
		buf_init(&reason, 0);
		r = put_clean(&reason, rc->reason, DSN_REASON_MAX, true);
		if (r == 0)
			r = put_recipient(p, rc, reason.data != NULL ? reason.data : "");
		buf_free(&reason);
		if (r == -1)
			return -1;
	}
	return 0;
}

/*
 * Part 3: the original header block (up to its empty line, or all of a
 * message without one), at most DSN_ORIGINAL_HEADERS_MAX and cut at a line
 * boundary.  8-bit passes as is; CR and NUL go (the queue form has neither
 * on purpose), and a line past DSN_LINE_HARD is cut there.
 */
static int
part_headers(const struct dsn_input *in, struct buf *p)
{
	const char *o = in->original, *sep, *end, *nl;
	size_t len = in->original_len;

	if (o == NULL || len == 0 || o[0] == '\n')
		return 0;
	sep = memmem(o, len, "\n\n", 2);
	if (sep != NULL)
		len = (size_t)(sep - o) + 1;
	if (len > DSN_ORIGINAL_HEADERS_MAX) {
		/* Keep whole lines only: the last LF within the bound ends the quote. */
		for (len = DSN_ORIGINAL_HEADERS_MAX; len > 0 && o[len - 1] != '\n'; len--)
			;
	}
	for (end = o + len; o < end; o = nl + 1) {
		size_t col = 0;

		nl = memchr(o, '\n', (size_t)(end - o));
		if (nl == NULL)
			nl = end;
		for (const char *c = o; c < nl; c++) {
			if (*c == '\r' || *c == '\0' || col >= DSN_LINE_HARD)
				continue;
			if (buf_append_char(p, *c) == -1)
				return -1;
			col++;
		}
		if (buf_append_char(p, '\n') == -1)
			return -1;
	}
	return 0;
}

/*
 * A boundary found in no part: "=_" cannot occur in quoted-printable or
 * base64, the queue id and time make it unlikely elsewhere, and the check
 * makes it certain.  Deterministic, so a bounce can be compared with a
 * golden file; the counter guarantees the search ends, as content holds
 * only finitely many candidates.
 */
static void
pick_boundary(char *bd, size_t size, const char *qid, time_t now, struct buf *parts[], size_t n)
{
	for (unsigned long k = 0;; k++) {
		size_t i;

		snprintf(bd, size, "=_osd_%s_%lld_%lu", qid, (long long)now, k);
		for (i = 0; i < n; i++)
			if (parts[i]->len > 0 && memmem(parts[i]->data, parts[i]->len, bd, strlen(bd)) != NULL)
				break;
		if (i == n)
			return;
	}
}

static int
compose(const struct dsn_input *in, struct buf *out, struct buf *parts[3])
{
	char mta[256], qid[DSN_QID_MAX + 1], bd[128];
	bool text8, hdr8;

	/* A host name or address literal; anything else would break the From: or Message-ID. */
	copy_token(mta, sizeof mta, in->reporting_mta, ".-[]:", '\0', sizeof mta - 1);
	if (mta[0] == '\0')
		snprintf(mta, sizeof mta, "localhost");
	copy_token(qid, sizeof qid, in->queue_id, "", '-', DSN_QID_MAX);
	if (qid[0] == '\0')
		snprintf(qid, sizeof qid, "noqid");

	if (part_text(in, mta, parts[0]) == -1 || part_status(in, mta, parts[1]) == -1 ||
	    part_headers(in, parts[2]) == -1)
		return -1;
	text8 = has_8bit(parts[0]);
	hdr8 = has_8bit(parts[2]);
	pick_boundary(bd, sizeof bd, qid, in->now, parts, 3);

	if (buf_printf(out, "From: MAILER-DAEMON@%s\n", mta) == -1 ||
	    put_field(out, "To: ", in->to != NULL ? in->to : "", DSN_ADDR_MAX, true, " ") == -1 ||
	    buf_append_str(out, "Subject: failure notice\nDate: ") == -1 ||
	    put_date(out, in->now) == -1 ||
	    buf_printf(out, "\nMessage-ID: <%s-%lld-%ld-%lu@%s>\n", qid, (long long)in->now,
	    (long)getpid(), ++dsn_counter, mta) == -1 ||
	    /* RFC 3834 §5: an automatic reply, so vacation programs stay quiet. */
	    buf_append_str(out, "Auto-Submitted: auto-replied\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\n") == -1 ||
	    /* RFC 2045 §6.4: a multipart is 8bit when any of its parts is. */
	    buf_printf(out, "\tboundary=\"%s\"\nContent-Transfer-Encoding: %s\n\n"
	    "This is a MIME-formatted delivery status notification (RFC 3464).\n\n",
	    bd, text8 || hdr8 ? "8bit" : "7bit") == -1)
		return -1;

	/* The LF before each "--" belongs to the delimiter (RFC 2046 §5.1.1); each part ends in one. */
	if (buf_printf(out, "--%s\nContent-Description: Notification\n"
	    "Content-Type: text/plain; charset=%s\nContent-Transfer-Encoding: %s\n\n",
	    bd, text8 ? "utf-8" : "us-ascii", text8 ? "8bit" : "7bit") == -1 ||
	    buf_append(out, parts[0]->data, parts[0]->len) == -1 ||
	    buf_printf(out, "\n--%s\nContent-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n\n", bd) == -1 ||
	    buf_append(out, parts[1]->data, parts[1]->len) == -1)
		return -1;
	if (parts[2]->len > 0 &&
	    (buf_printf(out, "\n--%s\nContent-Description: Undelivered message headers\n"
	    "Content-Type: text/rfc822-headers\nContent-Transfer-Encoding: %s\n\n",
	    bd, hdr8 ? "8bit" : "7bit") == -1 ||
	    buf_append(out, parts[2]->data, parts[2]->len) == -1))
		return -1;
	return buf_printf(out, "\n--%s--\n", bd);
}

int
dsn_compose(const struct dsn_input *in, struct buf *out)
{
	struct buf text, status, headers;
	struct buf *parts[3] = { &text, &status, &headers };
	size_t start = out->len;
	int r, saved;

	/* The parts may grow as far as out may: the bound that matters is out's. */
	buf_init(&text, out->max);
	buf_init(&status, out->max);
	buf_init(&headers, out->max);
	r = compose(in, out, parts);
	saved = errno;
	buf_free(&text);
	buf_free(&status);
	buf_free(&headers);
	if (r == -1) {
		/* Leave out as it was: half a bounce must never reach queue_write. */
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		errno = saved;
	}
	return r;
}
