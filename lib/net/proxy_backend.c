/* proxy_backend.c - the link from osd pop3d or imapd to the backend server: name lookup, connect, verified TLS, timed lines. */
#include "proxy_backend.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errfmt.h"
#include "ipaddr.h"
#include "tls.h"

/* The longest backend line taken during the login (a CAPABILITY list fits). */
#define PROXY_LINE_MAX 8192

int
proxy_tls_parse(const char *word)
{
	if (strcmp(word, "none") == 0)
		return PROXY_TLS_NONE;
	if (strcmp(word, "starttls") == 0)
		return PROXY_TLS_STARTTLS;
	if (strcmp(word, "implicit") == 0)
		return PROXY_TLS_IMPLICIT;
	return -1;
}

int
proxy_backend_split(const char *backend, char *host_r, size_t hostsize, char *port_r,
		    size_t portsize)
{
	const char *colon = strrchr(backend, ':'), *host = backend;
	size_t hlen;

	if (colon == NULL || colon == backend || colon[1] == '\0')
		return -1;
	hlen = (size_t)(colon - backend);
	if (backend[0] == '[') {
		if (hlen < 3 || backend[hlen - 1] != ']')
			return -1;
		host++;
		hlen -= 2;
	} else if (memchr(backend, ':', hlen) != NULL) {
		return -1;
	}
	if (hlen >= hostsize || strlen(colon + 1) >= portsize)
		return -1;
	memcpy(host_r, host, hlen);
	host_r[hlen] = '\0';
	memcpy(port_r, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

int
proxy_client_load(const char *tls_word, const char *ca_file, struct tls_client **cli_r,
		  char *err, size_t errsize)
{
	struct tls_client *n = NULL;
	int mode = proxy_tls_parse(tls_word);

	if (mode == -1)
		return errfmt(err, errsize, "proxy_tls: unknown \"%s\"", tls_word);
	if (mode != PROXY_TLS_NONE && (n = tls_client_new_verify(ca_file, err, errsize)) == NULL)
		return -1;
	tls_client_free(*cli_r);
	*cli_r = n;
	return 0;
}

/* The handshake over the connected socket, checking the certificate against b->host. */
static int
handshake(struct proxy_backend *b, const struct proxy_settings *ps, char *err, size_t errsize)
{
	char why[256];

	if (ps->client == NULL)
		return errfmt(err, errsize, "backend %s: no TLS client", ps->backend);
	if (netconn_starttls_client(&b->c, ps->client, b->host, ps->connect_ms, why,
				    sizeof(why)) == -1)
		return errfmt(err, errsize, "backend %s: TLS: %s", ps->backend, why);
	return 0;
}

int
proxy_backend_open(struct proxy_backend *b, const struct proxy_settings *ps, char *err,
		   size_t errsize)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *res = NULL, *ai;
	char why[256] = "no address";
	int fd = -1, r;

	if (!b->open) {
		memset(b, 0, sizeof(*b));
		b->c.fd = -1;
		buf_init(&b->out, 0);
	}
	if (proxy_backend_split(ps->backend, b->host, sizeof(b->host), b->port,
				sizeof(b->port)) == -1)
		return errfmt(err, errsize, "backend %s: not host:port", ps->backend);
	if ((r = getaddrinfo(b->host, b->port, &hints, &res)) != 0)
		return errfmt(err, errsize, "backend %s: %s", ps->backend, gai_strerror(r));
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		struct ipaddr a;

		if (ipaddr_from_sockaddr(ai->ai_addr, &a) == -1)
			continue;
		fd = netconn_connect(&a, (unsigned)strtoul(b->port, NULL, 10), ps->connect_ms, why,
				     sizeof(why));
	}
	freeaddrinfo(res);
	if (fd == -1)
		return errfmt(err, errsize, "backend %s: %s", ps->backend, why);
	if (netconn_init(&b->c, fd, ps->connect_ms, PROXY_LINE_MAX) == -1) {
		close(fd);
		return errfmt(err, errsize, "backend %s: %s", ps->backend, strerror(errno));
	}
	b->open = true;
	if (ps->tls == PROXY_TLS_IMPLICIT && handshake(b, ps, err, errsize) == -1) {
		proxy_backend_close(b);
		return -1;
	}
	return 0;
}

int
proxy_backend_starttls(struct proxy_backend *b, const struct proxy_settings *ps, char *err,
		       size_t errsize)
{
	return handshake(b, ps, err, errsize);
}

int
proxy_backend_send(struct proxy_backend *b, const void *data, size_t len, char *err,
		   size_t errsize)
{
	int r;

	if (buf_append(&b->out, data, len) == -1)
		return errfmt(err, errsize, "out of memory");
	r = netconn_flush(&b->c, &b->out);
	/* The command may hold the password: no copy stays behind. */
	explicit_bzero(b->out.data, b->out.cap);
	buf_reset(&b->out);
	if (r == -1)
		return errfmt(err, errsize, "write to the backend: %s",
			      errno == ETIMEDOUT ? "timed out" : strerror(errno));
	return 0;
}

int
proxy_backend_line(struct proxy_backend *b, char **line_r, size_t *len_r, char *err,
		   size_t errsize)
{
	const char *line;
	size_t len;
	int r;

	r = netconn_line(&b->c, &b->out, &line, &len);
	if (r <= 0)
		return errfmt(err, errsize, "reading the backend: %s",
			      r == 0 ? "connection closed" :
			      errno == ETIMEDOUT || errno == ETIME ? "timed out" : strerror(errno));
	if (len > PROXY_LINE_MAX || line[len - 1] != '\n')
		return errfmt(err, errsize, "reading the backend: line too long");
	len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	/* The newline's place is ours to write: the line ends there. */
	((char *)line)[len] = '\0';
	*line_r = (char *)line;
	*len_r = len;
	return 1;
}

void
proxy_backend_close(struct proxy_backend *b)
{
	if (!b->open)
		return;
	netconn_close(&b->c);
	buf_free(&b->out);
	b->open = false;
}
