/* tls.c - a small OpenSSL server wrapper: context from PEM files, accept, read, write, close. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "errfmt.h"
#include "monotonic.h"

struct tls_server {
	SSL_CTX *ctx;
};

struct tls_conn {
	SSL *ssl;
	int fd;
};

/* The oldest OpenSSL error in the queue as text (and the queue emptied). */
static const char *
ssl_error_text(char *buf, size_t size)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, size, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, size);
	ERR_clear_error();
	return buf;
}

struct tls_server *
tls_server_new(const char *cert_file, const char *key_file, char *err, size_t errsize)
{
	struct tls_server *srv;
	char why[256];
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		errfmt(err, errsize, "TLS context: %s", ssl_error_text(why, sizeof(why)));
		return NULL;
	}
	/* RFC 8996: nothing older than TLS 1.2. */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		errfmt(err, errsize, "TLS 1.2 minimum: %s", ssl_error_text(why, sizeof(why)));
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* One process per connection: a session cache would never be hit. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		errfmt(err, errsize, "tls_cert %s: %s", cert_file, ssl_error_text(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		errfmt(err, errsize, "tls_key %s: %s", key_file, ssl_error_text(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		errfmt(err, errsize, "tls_key %s does not match tls_cert %s: %s", key_file,
			 cert_file, ssl_error_text(why, sizeof(why)));
		goto fail;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		errfmt(err, errsize, "TLS context: out of memory");
		goto fail;
	}
	srv->ctx = ctx;
	return srv;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_server_free(struct tls_server *srv)
{
	if (srv == NULL)
		return;
	SSL_CTX_free(srv->ctx);
	free(srv);
}

/*
 * Wait until fd is ready for what OpenSSL asked (SSL_ERROR_WANT_READ or
 * _WRITE), until deadline (ms, < 0: none).  0, or -1 with errno.
 */
static int
wait_fd(int fd, int want, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = want == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN };
	int r, timeout;

	for (;;) {
		timeout = -1;
		if (deadline >= 0) {
			long long left = deadline - monotonic_ms();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			timeout = left > 1000000000 ? 1000000000 : (int)left;
		}
		r = poll(&pfd, 1, timeout);
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/*
 * What to do after an SSL call returned r <= 0: 1 to wait and retry, or -1
 * with errno (0 from SSL_read at a clean close is handled by the caller).
 */
static int
ssl_retry(struct tls_conn *c, int r, long long deadline, bool *eof_r)
{
	int e = SSL_get_error(c->ssl, r);

	*eof_r = false;
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(c->fd, e, deadline) == 0 ? 1 : -1;
	case SSL_ERROR_ZERO_RETURN:
		*eof_r = true;
		return -1;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		/* OpenSSL 3: an EOF without close_notify is SSL_ERROR_SSL; errno 0 means EOF. */
		if (errno == 0)
			*eof_r = true;
		return -1;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

struct tls_conn *
tls_accept(struct tls_server *srv, int fd, int timeout_ms, char *err, size_t errsize)
{
	long long deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
	struct tls_conn *c;
	char why[256];
	bool eof;
	int flags, r;

	flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		errfmt(err, errsize, "fcntl: %s", strerror(errno));
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		errfmt(err, errsize, "out of memory");
		return NULL;
	}
	c->fd = fd;
	ERR_clear_error();
	if ((c->ssl = SSL_new(srv->ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		errfmt(err, errsize, "SSL_new: %s", ssl_error_text(why, sizeof(why)));
		goto fail;
	}
	for (;;) {
		errno = 0;
		if ((r = SSL_accept(c->ssl)) == 1)
			return c;
		/* Take the reason before ssl_retry empties the error queue. */
		if (SSL_get_error(c->ssl, r) == SSL_ERROR_SSL) {
			errfmt(err, errsize, "handshake: %s", ssl_error_text(why, sizeof(why)));
			errno = EPROTO;
			goto fail;
		}
		if (ssl_retry(c, r, deadline, &eof) == -1) {
			errfmt(err, errsize, "handshake: %s", eof ? "connection closed" :
				 errno == ETIMEDOUT ? "timed out" : strerror(errno));
			goto fail;
		}
	}
fail:
	r = errno;
	SSL_free(c->ssl);
	free(c);
	errno = r;
	return NULL;
}

ssize_t
tls_read(struct tls_conn *c, void *buf, size_t len, int timeout_ms)
{
	long long deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
	int n = len > 1 << 30 ? 1 << 30 : (int)len;
	bool eof;
	int r;

	for (;;) {
		errno = 0;
		ERR_clear_error();
		if ((r = SSL_read(c->ssl, buf, n)) > 0)
			return r;
		if (ssl_retry(c, r, deadline, &eof) == -1) {
			if (eof)
				return 0;
			/* OpenSSL 3 reports a TCP EOF without close_notify as a protocol error. */
			return -1;
		}
	}
}

int
tls_write_all(struct tls_conn *c, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	bool eof;
	int r;

	while (len > 0) {
		long long deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
		int n = len > 1 << 30 ? 1 << 30 : (int)len;

		errno = 0;
		ERR_clear_error();
		if ((r = SSL_write(c->ssl, p, n)) > 0) {
			p += r;
			len -= (size_t)r;
			continue;
		}
		if (ssl_retry(c, r, deadline, &eof) == -1) {
			if (eof)
				errno = EPIPE;
			return -1;
		}
	}
	return 0;
}

const char *
tls_describe(struct tls_conn *c, char *out, size_t size)
{
	snprintf(out, size, "%s %s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
	return out;
}

void
tls_close(struct tls_conn *c)
{
	if (c == NULL)
		return;
	/* One try: a peer that does not read must not hold the process. */
	(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	SSL_free(c->ssl);
	free(c);
}

struct tls_server *
tls_server_load(const char *cert_file, const char *key_file, char *err, size_t errsize)
{
	if (cert_file[0] == '\0' && key_file[0] == '\0') {
		err[0] = '\0';
		return NULL;
	}
	if (cert_file[0] == '\0' || key_file[0] == '\0') {
		snprintf(err, errsize, "tls_cert and tls_key go together");
		return NULL;
	}
	return tls_server_new(cert_file, key_file, err, errsize);
}

int
tls_server_reload(struct tls_server **srv, const char *cert_file, const char *key_file,
		  char *err, size_t errsize)
{
	struct tls_server *n;

	if (*srv == NULL)
		return 0;
	if ((n = tls_server_load(cert_file, key_file, err, errsize)) == NULL) {
		if (err[0] == '\0')
			snprintf(err, errsize, "no tls_cert any more");
		return -1;
	}
	tls_server_free(*srv);
	*srv = n;
	return 0;
}
