/* httpreq.c - the request head of RFC 9112 (request-line, field lines, the empty line), parsed strictly and without allocation: anything unusual is an error reply, never a guess. */
#include <string.h>
#include <strings.h>

#include "httpreq.h"

/* RFC 9110 5.6.2: tchar. */
static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
done(struct httpreq *req, int status)
{
	req->status = status;
	return 1;
}

/* RFC 9112 3: method SP request-target SP HTTP-version; line without its end of line. */
static int
request_line(const char *p, size_t len, struct httpreq *req)
{
	size_t i = 0, m, t;

	while (i < len && i < 16 && is_tchar((unsigned char)p[i]))
		i++;
	m = i;
	if (m == 0 || i >= len || p[i] != ' ')
		return 400;
	for (t = ++i; i < len && p[i] > ' ' && p[i] < 0x7f; i++)
		;
	if (i == t || i >= len || p[i] != ' ' || p[t] != '/')
		return 400;
	/* origin-form only (a proxy's absolute-form is not for us) */
	if (len - i - 1 != 8 || memcmp(p + i + 1, "HTTP/", 5) != 0 ||
	    p[i + 6] < '0' || p[i + 6] > '9' || p[i + 7] != '.' || p[i + 8] < '0' || p[i + 8] > '9')
		return 400;
	if (p[i + 6] != '1' || p[i + 8] > '1')
		return 505;
	req->minor = p[i + 8] - '0';
	if (m == 3 && memcmp(p, "GET", 3) == 0)
		req->method = HTTPREQ_GET;
	else if (m == 4 && memcmp(p, "HEAD", 4) == 0)
		req->method = HTTPREQ_HEAD;
	else
		req->method = HTTPREQ_OTHER;
	{
		const char *q = memchr(p + t, '?', i - t);
		size_t plen = (q != NULL ? (size_t)(q - (p + t)) : i - t);

		if (plen > HTTPREQ_TARGET_MAX)
			return 414;
		memcpy(req->target, p + t, plen);
		req->target[plen] = '\0';
	}
	return req->method == HTTPREQ_OTHER ? 405 : 0;
}

/* RFC 9112 5: field-name ":" OWS field-value OWS; no obs-fold.  Sets *host when it is Host. */
static int
field_line(const char *p, size_t len, int *host)
{
	size_t i = 0;

	while (i < len && is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i >= len || p[i] != ':')
		return 400;
	if (i == 4 && strncasecmp(p, "host", 4) == 0) {
		if (*host)
			return 400;     /* RFC 9112 3.2: more than one Host is a 400 */
		*host = 1;
	}
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c != '\t' && (c < ' ' || c == 0x7f))
			return 400;
	}
	return 0;
}

int
httpreq_parse(const char *data, size_t len, struct httpreq *req)
{
	size_t pos = 0, lineno = 0;
	int host = 0, st;

	memset(req, 0, sizeof(*req));
	req->method = HTTPREQ_OTHER;
	while (pos < len) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t llen;

		if (nl == NULL)
			break;
		llen = (size_t)(nl - line);
		pos += llen + 1;
		if (pos > HTTPREQ_HEAD_MAX)
			return done(req, 431);
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (memchr(line, '\r', llen) != NULL)
			return done(req, 400);  /* a bare CR inside a line */
		if (lineno++ == 0) {
			if ((st = request_line(line, llen, req)) != 0)
				return done(req, st);
			continue;
		}
		if (llen == 0)
			return done(req, req->minor == 1 && !host ? 400 : 0);
		if (line[0] == ' ' || line[0] == '\t' || (st = field_line(line, llen, &host)) != 0)
			return done(req, 400);
	}
	if (len >= HTTPREQ_HEAD_MAX)
		return done(req, 431);
	return 0;
}
