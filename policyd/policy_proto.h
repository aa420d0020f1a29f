/* policy_proto.h - the Postfix SMTP access policy delegation protocol (Postfix SMTPD_POLICY_README): finding, parsing and answering one request.  Pure: no sockets, no logging. */
#ifndef OSD_POLICY_PROTO_H
#define OSD_POLICY_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "ipaddr.h"

/*
 * Bounds of one request.  Postfix 3.7 sends about 35 attributes, a few
 * hundred octets in all; the longest values (ccert_subject, sender,
 * policy_context) stay far below a line of POLICY_LINE_MAX.  Anything
 * beyond these is not Postfix and ends the connection.
 */
#define POLICY_LINE_MAX 4096            /* one name=value line, without its newline */
#define POLICY_ATTRS_MAX 128            /* attributes in one request */
#define POLICY_REQUEST_MAX 32768        /* one request, its newlines and the empty line included */
#define POLICY_NAME_MAX 64              /* an attribute name */

/* Where the search for the end of the request at the start of a buffer stands. */
struct policy_scan {
	size_t pos;             /* octets already looked at */
	size_t line_start;      /* where the line being read began */
};

/*
 * Look for the end of the request at the start of data[0..len) (a
 * request is name=value lines ended by an empty line; every line ends in
 * "\n").  The search goes on from where the last call on the same,
 * grown buffer stopped, so a request that trickles in is looked at once.
 * 1: complete, *end_r is the offset just past its empty line (zero scan
 * before the next request); 0: not yet; -1: it can never be a request
 * (*error_r: a NUL octet, a line without '=', a line or the request too
 * long).
 */
int policy_scan(struct policy_scan *scan, const char *data, size_t len, size_t *end_r,
		const char **error_r);

/* What osd needs of one request; every other attribute is read and ignored. */
struct policy_request {
	unsigned nattrs;                /* attribute lines */
	bool access_policy;             /* request=smtpd_access_policy */
	bool has_request;               /* a request= attribute at all */
	bool has_client;                /* client_address= was given */
	bool client_ok;                 /* ... and is an IPv4 or IPv6 address, in client */
	struct ipaddr client;
	/* client_address as sent, made printable and cut short, for log lines */
	char client_text[IPADDR_TEXT_MAX + 8];
	char protocol_state[16];        /* protocol_state (RCPT, DATA, ...), cut short, for log lines */
};

/*
 * Parse the complete request data[0..len) (as policy_scan found it, its
 * empty line included).  Strict: every line is name=value with a name of
 * letters, digits, '_', '-' or '.'; request= and client_address= at most
 * once.  A missing or unparsable client_address is not an error here
 * (the request is answered with the default action).  0, or -1 with
 * *error_r saying what is wrong.
 */
int policy_parse(const char *data, size_t len, struct policy_request *req, const char **error_r);

/* Append the reply "action=ACTION\n\n" to out.  0, or -1 (errno EMSGSIZE) past out's bound. */
int policy_reply(struct buf *out, const char *action);

#endif
