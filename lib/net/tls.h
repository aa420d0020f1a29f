/* tls.h - TLS for osd's servers and its SMTP client, hiding OpenSSL: nothing else in osd sees its types. */
#ifndef OSD_TLS_H
#define OSD_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct tls_server;      /* a certificate and key, ready to accept (an SSL_CTX) */
struct tls_client;      /* the client settings (an SSL_CTX) */
struct tls_conn;        /* one connection (an SSL) */

/*
 * Load a PEM certificate chain and its private key; TLS 1.2 and later only,
 * no renegotiation.  Returns NULL with err saying which file and why.
 */
struct tls_server *tls_server_new(const char *cert_file, const char *key_file,
				  char *err, size_t errsize);

void tls_server_free(struct tls_server *srv);

/*
 * The daemons' tls_cert/tls_key pair: both empty gives NULL with err ""
 * (TLS off), one without the other NULL with err saying so, else
 * tls_server_new.
 */
struct tls_server *tls_server_load(const char *cert_file, const char *key_file, char *err,
				   size_t errsize);

/*
 * The end of validity (notAfter) of the first certificate of a PEM file,
 * as Unix time in *not_after_r (osd status warns before it comes).
 * Returns 0, or -1 with err saying which file and why.
 */
int tls_cert_not_after(const char *cert_file, time_t *not_after_r, char *err, size_t errsize);

/*
 * SIGHUP: when *srv is loaded, replace it with the pair's new contents;
 * when they cannot be read, keep the old one and say why in err (returns
 * -1).  0 otherwise (also when TLS was off: it is not turned on by a
 * reload, the listeners would not match).
 */
int tls_server_reload(struct tls_server **srv, const char *cert_file, const char *key_file,
		      char *err, size_t errsize);

/*
 * The server handshake on fd (blocking or not: it is made non-blocking),
 * giving up after timeout_ms (< 0: no limit).  Returns the connection, or
 * NULL with err (errno ETIMEDOUT on a timeout).  fd stays the caller's.
 */
struct tls_conn *tls_accept(struct tls_server *srv, int fd, int timeout_ms,
			    char *err, size_t errsize);

/*
 * Read at most len bytes, waiting at most timeout_ms for the first one.
 * Returns > 0, 0 at the end of the stream (close_notify or EOF), or -1 with
 * errno (ETIMEDOUT, ECONNRESET, EPROTO for a TLS error).
 */
ssize_t tls_read(struct tls_conn *c, void *buf, size_t len, int timeout_ms);

/* Write all len bytes, with timeout_ms per wait.  0, or -1 with errno. */
int tls_write_all(struct tls_conn *c, const void *buf, size_t len, int timeout_ms);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384", for logs. */
const char *tls_describe(struct tls_conn *c, char *out, size_t size);

/*
 * The client side for opportunistic STARTTLS (osd-remote): TLS 1.2 and
 * later, no certificate verification (RFC 7435).  NULL with err.
 */
struct tls_client *tls_client_new(char *err, size_t errsize);

/*
 * The client side for a proxy's backend link: TLS 1.2 and later, the
 * peer's certificate verified against ca_file (PEM; "" or NULL: the
 * system's CAs), and, in tls_connect, its name against the server_name
 * given there (a DNS name or an IP address).  NULL with err.
 */
struct tls_client *tls_client_new_verify(const char *ca_file, char *err, size_t errsize);

void tls_client_free(struct tls_client *cli);

/*
 * The client handshake on fd (made non-blocking), with server_name as SNI
 * unless it is an IP literal ("[192.0.2.1]", "192.0.2.1") or NULL, giving
 * up after timeout_ms (< 0: no limit).  Returns the connection, or NULL
 * with err (errno ETIMEDOUT on a timeout).  fd stays the caller's.
 */
struct tls_conn *tls_connect(struct tls_client *cli, int fd, const char *server_name,
			     int timeout_ms, char *err, size_t errsize);

/*
 * Non-blocking I/O for a relay that polls itself: as SSL_read and
 * SSL_write (partial writes allowed; a write that must be retried may be
 * retried with the same octets at another address, and more of them).
 * > 0, 0 at the end of the stream (reads), or -1 with errno: EAGAIN with
 * *want_r POLLIN or POLLOUT (what to wait for on the fd), ECONNRESET,
 * EPIPE, EPROTO.
 */
ssize_t tls_read_nb(struct tls_conn *c, void *buf, size_t len, short *want_r);
ssize_t tls_write_nb(struct tls_conn *c, const void *buf, size_t len, short *want_r);

/* Octets decrypted and waiting in c (poll(2) does not see them). */
size_t tls_pending(struct tls_conn *c);

/* Send close_notify once (the write side's end; reads go on); 0, or -1 (the caller closes). */
int tls_shutdown_write(struct tls_conn *c);

/* Send close_notify (without waiting for the peer's) and free c; fd is not closed. */
void tls_close(struct tls_conn *c);

#endif
