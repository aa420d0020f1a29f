/* httpreq.h - a strict, bounded parser of one HTTP/1.0 or 1.1 request head (request line and headers), pure, for osd metrics. */
#ifndef OSD_HTTPREQ_H
#define OSD_HTTPREQ_H

#include <stddef.h>

/* The largest request head (request line and headers) accepted. */
#define HTTPREQ_HEAD_MAX 8192
/* The longest request target kept. */
#define HTTPREQ_TARGET_MAX 256

enum httpreq_method { HTTPREQ_GET, HTTPREQ_HEAD, HTTPREQ_OTHER };

struct httpreq {
	enum httpreq_method method;
	char target[HTTPREQ_TARGET_MAX + 1];    /* the path, without any ?query */
	int minor;                              /* HTTP/1.minor */
	/*
	 * 0: a well-formed head; else the status code of the error reply:
	 * 400 (malformed, or HTTP/1.1 without Host), 414 (target too long),
	 * 431 (head too large), 405 (a method other than GET and HEAD),
	 * 505 (not HTTP/1.0 or 1.1).
	 */
	int status;
};

/*
 * Parse the len octets received so far.  1: done, req->status says how:
 * the head is complete (ending in an empty line; CRLF or bare LF), or a
 * line of it is already wrong, or HTTPREQ_HEAD_MAX octets came without
 * its end (431).  0: more octets are needed.  Never reads past len.
 */
int httpreq_parse(const char *data, size_t len, struct httpreq *req);

#endif
