/* proxy_backend.h - osd pop3d and imapd as proxies: the link to the backend server (connect, implicit TLS or STARTTLS with certificate checks, lines during the login). */
#ifndef OSD_PROXY_BACKEND_H
#define OSD_PROXY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "netconn.h"

struct tls_client;

/* TLS on the link to the backend (osd.conf proxy_tls). */
enum proxy_tls {
	PROXY_TLS_NONE = 0,     /* "none": plain TCP (a backend on the same host or a trusted link) */
	PROXY_TLS_STARTTLS,     /* "starttls": the protocol's STLS/STARTTLS before the login */
	PROXY_TLS_IMPLICIT      /* "implicit": TLS from the first byte (995, 993) */
};

/* Where and how to reach the backend. */
struct proxy_settings {
	const char *backend;    /* "host:port" or "[v6]:port" (pop3_backend, imap_backend) */
	enum proxy_tls tls;
	struct tls_client *client;      /* proxy_client_load's (NULL with PROXY_TLS_NONE) */
	int connect_ms;         /* connecting, the handshake, and each reply until logged in */
	int idle_ms;            /* the relay: no octet either way for this long ends it */
};

/* One link to the backend. */
struct proxy_backend {
	struct netconn c;       /* c.fd -1 when closed */
	struct buf out;         /* commands to send */
	char host[256];         /* the backend's name: SNI and the certificate's expected name */
	char port[8];
	bool open;
};

/* Map proxy_tls's word ("none", "starttls", "implicit"); -1 for anything else. */
int proxy_tls_parse(const char *word);

/*
 * The verifying TLS client for proxy_tls (a word proxy_tls_parse takes)
 * and proxy_ca_file, made once in the daemon so that a bad CA file stops
 * it at start: *cli_r replaced on success (NULL for "none"), kept on
 * failure.  0, or -1 with err.
 */
int proxy_client_load(const char *tls_word, const char *ca_file, struct tls_client **cli_r,
		      char *err, size_t errsize);

/*
 * Split "host:port" / "[v6]:port" into host_r (without brackets) and
 * port_r; 0, or -1 when it is not of that form.
 */
int proxy_backend_split(const char *backend, char *host_r, size_t hostsize, char *port_r,
			size_t portsize);

/*
 * Connect to ps->backend (each address the name has, in turn, within
 * connect_ms for each), and with PROXY_TLS_IMPLICIT run the handshake,
 * verifying the certificate (ps->client's CAs) and the host name.  b
 * must be zeroed or closed.  0, or -1 with err (for the log) and the
 * link closed.
 */
int proxy_backend_open(struct proxy_backend *b, const struct proxy_settings *ps, char *err,
		       size_t errsize);

/* After the backend's go-ahead to STLS/STARTTLS: the verified handshake.  0, or -1 with err. */
int proxy_backend_starttls(struct proxy_backend *b, const struct proxy_settings *ps, char *err,
			   size_t errsize);

/* Send len octets (a command); 0, or -1 with err. */
int proxy_backend_send(struct proxy_backend *b, const void *data, size_t len, char *err,
		       size_t errsize);

/*
 * The backend's next line (CRLF or LF stripped, NUL-terminated in the
 * buffer; valid until the next call), within connect_ms.  1, or -1 with
 * err (closed, timed out, too long).
 */
int proxy_backend_line(struct proxy_backend *b, char **line_r, size_t *len_r, char *err,
		       size_t errsize);

/* Close the link (close_notify when TLS); the struct may be opened again. */
void proxy_backend_close(struct proxy_backend *b);

#endif
