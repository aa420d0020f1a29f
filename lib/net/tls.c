/* tls.c - a small OpenSSL wrapper: server context from PEM files, accept; opportunistic client, connect; read, write, close. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "errfmt.h"
#include "monotonic.h"

struct tls_server {
	SSL_CTX *ctx;
};

struct tls_conn {
	SSL *ssl;
	int fd;
};

struct tls_client {
	SSL_CTX *ctx;
	bool verify;    /* tls_client_new_verify: check the peer's name too */
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

/*
 * A context for method with what both sides share: TLS 1.2 and later
 * (RFC 8996), no renegotiation, no compression (CRIME).  NULL with err.
 */
static SSL_CTX *
ctx_new(const SSL_METHOD *method, char *err, size_t errsize)
{
	char why[256];
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(method)) == NULL) {
		errfmt(err, errsize, "TLS context: %s", ssl_error_text(why, sizeof(why)));
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		errfmt(err, errsize, "TLS 1.2 minimum: %s", ssl_error_text(why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	return ctx;
}

struct tls_server *
tls_server_new(const char *cert_file, const char *key_file, char *err, size_t errsize)
{
	struct tls_server *srv;
	char why[256];
	SSL_CTX *ctx;

	if ((ctx = ctx_new(TLS_server_method(), err, errsize)) == NULL)
		return NULL;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
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

/*
 * A connection object on fd (made non-blocking) from ctx, ready for the
 * handshake; NULL with err.
 */
static struct tls_conn *
conn_new(SSL_CTX *ctx, int fd, char *err, size_t errsize)
{
	struct tls_conn *c;
	char why[256];
	int flags;

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
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		errfmt(err, errsize, "SSL_new: %s", ssl_error_text(why, sizeof(why)));
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	return c;
}

/*
 * Run the handshake of c (SSL_accept or SSL_connect) until deadline.
 * Returns c, or frees it and returns NULL with err and errno.
 */
static struct tls_conn *
handshake(struct tls_conn *c, int (*step)(SSL *), long long deadline, char *err, size_t errsize)
{
	char why[256];
	bool eof;
	int r;

	for (;;) {
		errno = 0;
		if ((r = step(c->ssl)) == 1)
			return c;
		/* Take the reason before ssl_retry empties the error queue. */
		if (SSL_get_error(c->ssl, r) == SSL_ERROR_SSL) {
			long v = SSL_get_verify_result(c->ssl);

			/* A refused certificate: say why in words ("unable to get local issuer certificate"). */
			if (v != X509_V_OK)
				errfmt(err, errsize, "handshake: certificate: %s",
				       X509_verify_cert_error_string(v));
			else
				errfmt(err, errsize, "handshake: %s", ssl_error_text(why, sizeof(why)));
			ERR_clear_error();
			errno = EPROTO;
			break;
		}
		if (ssl_retry(c, r, deadline, &eof) == -1) {
			errfmt(err, errsize, "handshake: %s", eof ? "connection closed" :
				 errno == ETIMEDOUT ? "timed out" : strerror(errno));
			break;
		}
	}
	r = errno;
	SSL_free(c->ssl);
	free(c);
	errno = r;
	return NULL;
}

struct tls_conn *
tls_accept(struct tls_server *srv, int fd, int timeout_ms, char *err, size_t errsize)
{
	long long deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
	struct tls_conn *c;

	if ((c = conn_new(srv->ctx, fd, err, errsize)) == NULL)
		return NULL;
	return handshake(c, SSL_accept, deadline, err, errsize);
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

/* What an SSL call that returned r <= 0 means for a non-blocking relay (see tls_read_nb). */
static ssize_t
nb_result(struct tls_conn *c, int r, short *want_r)
{
	int e = SSL_get_error(c->ssl, r);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*want_r = POLLIN;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want_r = POLLOUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (errno == 0)
			return 0;       /* EOF without close_notify: the end all the same */
		return -1;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

ssize_t
tls_read_nb(struct tls_conn *c, void *buf, size_t len, short *want_r)
{
	int n = len > 1 << 30 ? 1 << 30 : (int)len, r;

	errno = 0;
	ERR_clear_error();
	if ((r = SSL_read(c->ssl, buf, n)) > 0)
		return r;
	return nb_result(c, r, want_r);
}

ssize_t
tls_write_nb(struct tls_conn *c, const void *buf, size_t len, short *want_r)
{
	int n = len > 1 << 30 ? 1 << 30 : (int)len, r;

	/* The relay's buffer moves and grows between retries; a record at a time is enough. */
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	errno = 0;
	ERR_clear_error();
	if ((r = SSL_write(c->ssl, buf, n)) > 0)
		return r;
	if (nb_result(c, r, want_r) == 0)
		errno = EPIPE;  /* the peer's close_notify: it takes no more */
	return -1;
}

size_t
tls_pending(struct tls_conn *c)
{
	int n = SSL_pending(c->ssl);

	return n > 0 ? (size_t)n : 0;
}

int
tls_shutdown_write(struct tls_conn *c)
{
	int r;

	ERR_clear_error();
	/* 0: our close_notify went out, the peer's is still to come (reads go on). */
	r = SSL_shutdown(c->ssl);
	ERR_clear_error();
	return r >= 0 ? 0 : -1;
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

/* Wrap a client context (no session cache: one connection a process); NULL with err, ctx freed. */
static struct tls_client *
client_wrap(SSL_CTX *ctx, bool verify, char *err, size_t errsize)
{
	struct tls_client *cli;

	SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if ((cli = calloc(1, sizeof(*cli))) == NULL) {
		errfmt(err, errsize, "TLS context: out of memory");
		SSL_CTX_free(ctx);
		return NULL;
	}
	cli->ctx = ctx;
	cli->verify = verify;
	return cli;
}

struct tls_client *
tls_client_new(char *err, size_t errsize)
{
	SSL_CTX *ctx;

	if ((ctx = ctx_new(TLS_client_method(), err, errsize)) == NULL)
		return NULL;
	/*
	 * Opportunistic TLS (RFC 7435, Postfix's "may"): encryption against a
	 * passive listener; a certificate that does not verify is no reason
	 * to send the mail in clear text instead.
	 */
	return client_wrap(ctx, false, err, errsize);
}

struct tls_client *
tls_client_new_verify(const char *ca_file, char *err, size_t errsize)
{
	char why[256];
	SSL_CTX *ctx;
	int r;

	if ((ctx = ctx_new(TLS_client_method(), err, errsize)) == NULL)
		return NULL;
	ERR_clear_error();
	if (ca_file != NULL && ca_file[0] != '\0')
		r = SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
	else
		r = SSL_CTX_set_default_verify_paths(ctx);
	if (r != 1) {
		errfmt(err, errsize, "%s%s: %s", ca_file != NULL && ca_file[0] != '\0' ?
		       "proxy_ca_file " : "the system's CAs", ca_file != NULL ? ca_file : "",
		       ssl_error_text(why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* The backend gets the user's password: an unverified peer could be anyone (RFC 6125). */
	return client_wrap(ctx, true, err, errsize);
}

void
tls_client_free(struct tls_client *cli)
{
	if (cli == NULL)
		return;
	SSL_CTX_free(cli->ctx);
	free(cli);
}

/* Is name an IP address, bracketed or not?  RFC 6066 3: those never go into SNI. */
static bool
is_ip_literal(const char *name)
{
	unsigned char a[16];
	char plain[64];
	size_t len = strlen(name);

	if (len >= 2 && name[0] == '[' && name[len - 1] == ']')
		return true;
	if (len >= sizeof(plain))
		return false;
	memcpy(plain, name, len + 1);
	return inet_pton(AF_INET, plain, a) == 1 || inet_pton(AF_INET6, plain, a) == 1;
}

/*
 * The name the peer's certificate must carry: an IP address in its
 * subjectAltName, or a DNS name (RFC 6125: subjectAltName, no partial
 * wildcards).  0, or -1 with err.
 */
static int
expect_name(SSL *ssl, const char *name, char *err, size_t errsize)
{
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	char plain[64];
	size_t len;

	if (name == NULL || name[0] == '\0')
		return errfmt(err, errsize, "no name to verify the certificate against");
	len = strlen(name);
	if (is_ip_literal(name)) {
		/* "[2001:db8::1]" as X509_VERIFY_PARAM_set1_ip_asc wants it: without brackets. */
		if (name[0] == '[')
			snprintf(plain, sizeof(plain), "%.*s", (int)(len - 2), name + 1);
		else
			snprintf(plain, sizeof(plain), "%s", name);
		if (X509_VERIFY_PARAM_set1_ip_asc(param, plain) != 1)
			return errfmt(err, errsize, "cannot verify against address %s", name);
		return 0;
	}
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (X509_VERIFY_PARAM_set1_host(param, name, len) != 1)
		return errfmt(err, errsize, "cannot verify against name %s", name);
	return 0;
}

struct tls_conn *
tls_connect(struct tls_client *cli, int fd, const char *server_name, int timeout_ms, char *err,
	    size_t errsize)
{
	long long deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
	struct tls_conn *c;
	char why[256];

	if ((c = conn_new(cli->ctx, fd, err, errsize)) == NULL)
		return NULL;
	if (cli->verify && expect_name(c->ssl, server_name, err, errsize) == -1) {
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	if (server_name != NULL && server_name[0] != '\0' && !is_ip_literal(server_name) &&
	    SSL_set_tlsext_host_name(c->ssl, server_name) != 1) {
		errfmt(err, errsize, "SNI %s: %s", server_name, ssl_error_text(why, sizeof(why)));
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	return handshake(c, SSL_connect, deadline, err, errsize);
}

int
tls_cert_not_after(const char *cert_file, time_t *not_after_r, char *err, size_t errsize)
{
	char why[256];
	struct tm tm;
	X509 *x = NULL;
	FILE *fp;
	int r = -1;

	if ((fp = fopen(cert_file, "re")) == NULL)
		return errfmt(err, errsize, "%s: %s", cert_file, strerror(errno));
	ERR_clear_error();
	if ((x = PEM_read_X509(fp, NULL, NULL, NULL)) == NULL)
		errfmt(err, errsize, "%s: no PEM certificate: %s", cert_file,
		       ssl_error_text(why, sizeof(why)));
	else if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		errfmt(err, errsize, "%s: unreadable notAfter time", cert_file);
	else {
		/* ASN1_TIME_to_tm gives UTC. */
		*not_after_r = timegm(&tm);
		r = 0;
	}
	X509_free(x);
	fclose(fp);
	return r;
}
