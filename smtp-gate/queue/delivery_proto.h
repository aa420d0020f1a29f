/* delivery_proto.h - the queue manager <-> delivery programs protocol (docs/delivery.md): request lines, verdict letters and lines, osd-local's exit statuses; both sides encode and parse it here. */
#ifndef OSD_DELIVERY_PROTO_H
#define OSD_DELIVERY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Recipients of one osd-remote call or request, at most (RFC 5321 4.5.3.1.8's minimum). */
#define DELIVERY_RCPTS_MAX 100
/* A verdict line's text, at most, without its letter and LF. */
#define DELIVERY_TEXT_MAX 1000
/* A request's DOMAIN (RFC 1035 2.3.4), and a sender or recipient, at most. */
#define DELIVERY_DOMAIN_MAX 255
#define DELIVERY_ADDR_MAX 1000
/* A worker request line with its LF, at most. */
#define DELIVERY_REQUEST_MAX (64 * 1024)

/* osd-remote's verdict letters: one per recipient, then one for the message. */
#define DELIVERY_RCPT_OK 'r'            /* recipient accepted (done if the message is) */
#define DELIVERY_RCPT_HARD 'h'          /* recipient failed permanently */
#define DELIVERY_RCPT_SOFT 's'          /* recipient failed temporarily */
#define DELIVERY_MSG_OK 'K'             /* message accepted */
#define DELIVERY_MSG_SOFT 'Z'           /* message failed temporarily */
#define DELIVERY_MSG_HARD 'D'           /* message failed permanently */

/* osd-local's exit statuses (its verdict; stdout holds one line of text, no letter). */
#define DELIVERY_EXIT_DONE 0
#define DELIVERY_EXIT_FAIL 100
#define DELIVERY_EXIT_DEFER 111

/* What became of one recipient, as the queue manager records it. */
enum delivery_outcome {
	DELIVERY_DONE,          /* delivered */
	DELIVERY_DEFER,         /* try again later */
	DELIVERY_FAIL           /* failed permanently */
};

/*
 * osd-remote --worker's request line:
 * PATH TAB BODY_OFFSET TAB DOMAIN TAB SENDER TAB RCPT [TAB RCPT...] LF.
 */
struct delivery_request {
	const char *path;               /* the queue file */
	int64_t offset;                 /* where the message starts in it */
	const char *domain;
	const char *sender;             /* may be "" */
	const char *rcpts[DELIVERY_RCPTS_MAX];
	size_t nrcpts;
};

/*
 * Append req's line, with its LF, to out.  0, or -1 with errno EINVAL
 * when delivery_request_parse would not give req back (a field empty
 * where it may not be, over its bound or with a control character, no or
 * too many recipients, a negative offset, a line over
 * DELIVERY_REQUEST_MAX; out is then unchanged), or ENOMEM.
 */
int delivery_request_encode(const struct delivery_request *req, struct buf *out);

/*
 * Split line (len octets, without its LF, with a NUL at line[len]) in
 * place: every TAB becomes a NUL and req's fields point into line.  0 when
 * it is well formed: a path, a decimal offset, a domain, a sender (empty
 * allowed) and 1 to DELIVERY_RCPTS_MAX recipients, none longer than its
 * bound, no control character anywhere.  -1 when not, with *count_r the
 * number of recipient fields (so that the caller can answer each one),
 * or 0 when there are fewer than five fields and no count can be told.
 */
int delivery_request_parse(char *line, size_t len, struct delivery_request *req, size_t *count_r);

/* Copy text into dst (DELIVERY_TEXT_MAX + 1 octets): control characters made '?', cut to DELIVERY_TEXT_MAX. */
void delivery_text_set(char *dst, const char *text);

/* Append one verdict line to out: letter, text as delivery_text_set makes it, LF.  0, or -1 (ENOMEM). */
int delivery_verdict_encode(struct buf *out, char letter, const char *text);

/* Whether osd-remote's output so far (len octets) holds a whole verdict for nrcpts recipients: nrcpts + 1 lines. */
bool delivery_verdict_complete(const char *out, size_t len, size_t nrcpts);

/*
 * osd-remote's output (out, len octets) for nrcpts recipients: a recipient
 * is done when its line is 'r' and the message line 'K'; failed on 'h',
 * or 'r' with 'D'; deferred on 's', or 'r' with 'Z'.  Output that does not
 * have exactly nrcpts recipient lines and a message line (a crash, a
 * truncated pipe) defers everyone with a reason saying so.  Each line's
 * text is cut to DELIVERY_TEXT_MAX and its control characters made '?',
 * as delivery_text_set writes it.  v_r[i] and
 * reason_r[i] (pointers into a copy kept in *text_r, which the caller
 * frees) are filled for every recipient.  Returns 0, or -1 on ENOMEM.
 */
int delivery_verdict_parse(const char *out, size_t len, size_t nrcpts, enum delivery_outcome *v_r,
			   const char **reason_r, char **text_r);

/* osd-local's exit: 0 done, 100 failed, anything else (111, a signal: status < 0) deferred. */
enum delivery_outcome delivery_local_outcome(int exit_status);

#endif
