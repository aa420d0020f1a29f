/* daemon.h - the start-up and SIGHUP steps the protocol servers (osd pop3d, imapd, smtpd) take alike: the log, the certificate, dropping root with open-smtp/, re-reading osd.conf. */
#ifndef OSD_DAEMON_H
#define OSD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

struct proxy_settings;
struct tls_client;
struct tls_server;

/* Open the log as "osd-<cmd>" (syslog or stderr, as conf says); exit 111 on an unknown facility. */
void daemon_log_init(const struct osd_conf *conf, const char *cmd);

/*
 * The certificate and key of conf, read while still root (the key is
 * normally readable by root only); NULL when none is configured.  Fatal
 * when they cannot be loaded, or when the implicit-TLS listener
 * implicit_key (e.g. "pop3s_listen") is set to implicit_value without them.
 */
struct tls_server *daemon_tls_load(const struct osd_conf *conf, const char *implicit_key,
				   const char *implicit_value);

/*
 * Proxy mode (pop3_backend, imap_backend: backend is the one of the
 * caller): the verifying TLS client for the backend link (proxy_tls,
 * proxy_ca_file), or NULL when backend is empty or proxy_tls is none.
 * Fatal when proxy_ca_file cannot be read: a bad CA file stops the start,
 * not every login.
 */
struct tls_client *daemon_proxy_load(const struct osd_conf *conf, const char *backend);

/*
 * One connection's proxy settings from conf: backend, proxy_tls with cli
 * (daemon_proxy_load's), the timeouts in ms.  Returns whether proxy_auth
 * is local.
 */
bool daemon_proxy_settings(const struct osd_conf *conf, const char *backend,
			   struct tls_client *cli, struct proxy_settings *ps);

/*
 * SIGHUP in proxy mode: take n's proxy settings (backend_n, of n, goes to
 * backend_cur, backend_size octets) and make the TLS client anew into
 * *cli; when that fails, keep the running ones and log why.
 */
void daemon_proxy_reload(struct osd_conf *cur, const struct osd_conf *n, char *backend_cur,
			 const char *backend_n, size_t backend_size, struct tls_client **cli);

/*
 * For the servers that record logins: drop root to the configured user
 * (runas_user), handing open-smtp/ to that user first, and open it.
 * opensmtp_dir receives its path; returns its descriptor.  Fatal (with
 * cmd in the message) on failure.
 */
int daemon_drop_recording(const struct osd_conf *conf, const char *cmd, char *opensmtp_dir,
			  size_t size);

/*
 * SIGHUP: re-read osd.conf into n (warning that listeners, user, group
 * and state_dir change only on a restart) and reload the certificate
 * into *tls (keeping the old one on failure).  0: the caller copies what
 * it takes from n; -1: logged, the running configuration stays.
 */
int daemon_reload(const struct osd_conf *cur, struct osd_conf *n, struct tls_server **tls);

#endif
