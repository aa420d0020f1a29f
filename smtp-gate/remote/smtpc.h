/* smtpc.h - the client side of SMTP without sockets: reply parsing, EHLO keywords, the DATA stuffer. */
#ifndef OSD_SMTPC_H
#define OSD_SMTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its CRLF; longer ones are cut. */
#define SMTPC_LINE_MAX 512
/* Text kept of one reply (its lines joined by '\n'); later lines are dropped. */
#define SMTPC_TEXT_MAX 4096
/* More lines than this in one reply is garbage: a server streaming "250-" forever. */
#define SMTPC_LINES_LIMIT 1000

struct smtpc_reply {
	int code;                       /* 200..599 */
	char enhanced[16];              /* RFC 3463 "5.1.1" from the first line, or "" */
	char text[SMTPC_TEXT_MAX];      /* each line's text after "NNN-"/"NNN ", joined by '\n' */
	size_t len;                     /* of text */
	size_t nlines;                  /* lines received (also those not kept) */
	bool cut;                       /* a line or the text was shortened */
};

/* What smtp_reply_parse keeps between calls: the line being received and the reply so far. */
struct smtpc_reply_parser {
	char line[SMTPC_LINE_MAX + 1];
	size_t line_len;
	bool skipping;                  /* dropping the rest of an overlong line */
	bool line_cut;
	struct smtpc_reply cur;
};

void smtp_reply_parser_init(struct smtpc_reply_parser *p);

/*
 * Feed received octets.  Returns 1 when a reply is complete: it is in
 * *reply_r and *used_r octets were used (what follows belongs to the next
 * reply: feed it again).  0 when all len octets were used and more are
 * needed.  -1 for garbage (no 3-digit code 2xx..5xx, a separator other
 * than ' ' or '-', codes that differ between lines, too many lines): the
 * connection cannot be trusted any more.  Lines may end in LF or CRLF.
 * Control characters in the text become '?', so it can go into a log or
 * verdict line as it is.
 */
int smtp_reply_parse(struct smtpc_reply_parser *p, const char *data, size_t len, size_t *used_r,
		     struct smtpc_reply *reply_r);

/*
 * The reply on one line, "550 5.1.1 no such user / second line", cut to
 * fit size (which must be > 0).  Returns out.
 */
const char *smtp_reply_format(const struct smtpc_reply *r, char *out, size_t size);

/* The service extensions of an EHLO reply that osd-remote uses (RFC 5321 4.1.1.1). */
struct smtp_ehlo {
	bool starttls;                  /* RFC 3207 */
	bool pipelining;                /* RFC 2920 */
	bool size;                      /* RFC 1870 */
	uint64_t size_max;              /* SIZE's argument; 0: none given */
	bool eightbitmime;              /* RFC 6152 */
};

/*
 * The keywords of a 250 EHLO reply: every line but the first (the server's
 * name), the keyword before the first space, case-insensitive.
 */
void smtp_ehlo_parse(const struct smtpc_reply *r, struct smtp_ehlo *e);

#endif
