/* conf.h - osd.conf: "key = value" lines, '#' comments, strict keys and values. */
#ifndef OSD_CONF_H
#define OSD_CONF_H

#include <stddef.h>

#include <limits.h>
#include <stdbool.h>

#define CONF_DEFAULT_PATH "/etc/osd/osd.conf"
#define CONF_DEFAULT_RELAY_EXPIRE (3 * 3600)
/* The longest session deadline (smtp_session_deadline, pop3_session_deadline): one day. */
#define CONF_SESSION_DEADLINE_MAX 86400

/*
 * Upper bounds of the durations in osd.conf (docs/config.md); a larger
 * value is a "file:line: key" error.  They keep every sum of a time and a
 * duration far from overflowing, and catch a unit typed wrong.
 */
#define CONF_RELAY_EXPIRE_MAX (30L * 86400)     /* relay_expire: 30 days */
#define CONF_RELAY_BATCH_MAX 1000L              /* relay_batch: 1 s (milliseconds) */
#define CONF_DEFAULT_RELAY_BATCH 40L            /* relay_batch: 40 ms */
#define CONF_IMAP_LITERAL_MAX (1024L * 1024 * 1024)   /* imap_max_literal: 1 GiB */
#define CONF_MAILDIR_TMP_AGE_MAX (30L * 86400) /* maildir_tmp_max_age: 30 days */
#define CONF_TIMEOUT_MAX 86400L                 /* pop3_timeout: 1 day */
#define CONF_DURATION_MAX 86400L                /* any other duration key without its own bound */

struct osd_conf {
	char path[PATH_MAX];            /* the file this came from */
	char state_dir[PATH_MAX];       /* default /var/lib/osd */
	char control_dir[PATH_MAX];     /* default /etc/osd/control */
	char rules[PATH_MAX];           /* tcp.smtp; default /etc/osd/tcp.smtp */
	char users_dir[PATH_MAX];       /* default <state_dir>/domains */
	char tls_cert[PATH_MAX];
	char tls_key[PATH_MAX];
	long relay_expire;              /* seconds, 1..CONF_RELAY_EXPIRE_MAX */
	long relay_batch;               /* ms a change waits for relay.cdb, rewrite included, 0..CONF_RELAY_BATCH_MAX */
	char relay_env[512];            /* what a login's entry sets, as after "allow," in tcp.smtp */
	char relay_env_value[512];      /* relay_env in tcprules value format ("+RELAYCLIENT=\0") */
	size_t relay_env_len;
	unsigned relay_ipv6_prefix;     /* 128: a login authorizes its address; 64: its /64 */
	char fleet[16];                 /* "none" (default) or "redis": share logins (docs/fleet.md) */
	char redis_sentinels[512];      /* "host:port,host:port": the Sentinels that name the master */
	char redis_master_name[128];    /* the master's name at the Sentinels (default "osd") */
	char redis_server[256];         /* "host:port" of one Redis without Sentinel (tests, small sites) */
	char redis_user[128];           /* the ACL user ("" = default user) */
	char redis_password_file[PATH_MAX];     /* its password, first line of this file ("" = none) */
	char redis_prefix[64];          /* key and channel prefix (default "osd") */
	char pop3_listen[128];
	char pop3s_listen[128];
	long pop3_timeout;              /* pop3d idle timeout, seconds (default 600, at most CONF_TIMEOUT_MAX) */
	long pop3_session_deadline;     /* pop3d session ends after this, seconds (default 6 h, at most 1 d) */
	unsigned pop3_max_connections;  /* pop3d sessions at once (default 200) */
	unsigned pop3_max_per_ip;       /* pop3d sessions at once from one address (default 20) */
	bool pop3_plaintext;            /* USER/PASS, AUTH on non-TLS connections everywhere (default no) */
	bool pop3_loopback_plaintext;   /* ... from loopback clients (default yes) */
	unsigned pop3_max_auth_failures; /* failed logins in a session before pop3d closes it (default 3) */
	char smtp_listen[128];
	unsigned smtp_max_connections;  /* smtpd sessions at once (default 200) */
	unsigned smtp_max_per_ip;       /* smtpd sessions at once from one address (default 20) */
	long smtp_session_deadline;     /* smtpd session ends after this, seconds (default 1 h, at most 1 d) */
	unsigned smtp_min_data_rate;    /* DATA: bytes/s a client must keep up beyond timeoutsmtpd (default 500) */
	unsigned smtp_max_errors;       /* error replies in a session before 421 and the end (default 20) */
	unsigned smtp_max_auth_failures; /* failed AUTH exchanges in a session before 421 and the end (default 3) */
	bool smtp_loopback_plaintext;   /* AUTH PLAIN/LOGIN without TLS from loopback clients (default yes) */
	bool smtp_process_reuse;        /* a session process serves up to 100 plain sessions (default yes) */
	bool advertise_cram_md5;        /* list CRAM-MD5 in CAPA/EHLO (default no: accepted, not offered) */
	bool received_auth_user;        /* smtpd's Received: names the AUTH or POP-before-SMTP user (default no) */
	char submission_listen[128];
	char smtps_listen[128];
	char imap_listen[128];
	char imaps_listen[128];
	long imap_timeout;              /* imapd autologout after login, seconds (default 30 min, RFC 3501 5.4) */
	long imap_login_timeout;        /* ... before login (default 180 s) */
	long imap_session_deadline;     /* imapd session ends after this, seconds (default and at most 1 d) */
	unsigned imap_max_connections;  /* imapd sessions at once (default 200) */
	unsigned imap_max_per_ip;       /* imapd sessions at once from one address (default 20) */
	bool imap_plaintext;            /* LOGIN, AUTHENTICATE PLAIN/LOGIN without TLS everywhere (default no) */
	bool imap_loopback_plaintext;   /* ... from loopback clients (default yes) */
	unsigned imap_max_auth_failures; /* failed logins in a session before imapd's BYE (default 3) */
	size_t imap_max_literal;        /* the largest literal (APPEND), octets (default 64 MiB) */
	long imap_idle_poll;            /* IDLE without inotify: sync the folder this often, seconds (default 30) */
	long imap_idle_keepalive;       /* IDLE: "* OK Still here" after this long without output, seconds (default 120) */
	bool imap_idle_inotify;         /* IDLE watches the folder with inotify (default yes; no: poll, e.g. NFS) */
	long maildir_tmp_max_age;       /* pop3d login, imapd SELECT: tmp/ files untouched this long go (default 36 h) */
	/* Proxy mode (docs/integrations.md): logins go to another server, then the bytes are relayed. */
	char pop3_backend[300];         /* host:port of the POP3 server behind osd pop3d; "" = local mailboxes */
	char imap_backend[300];         /* host:port of the IMAP server behind osd imapd; "" = local mailboxes */
	char proxy_tls[16];             /* "none", "starttls" or "implicit": TLS to the backend (default none) */
	char proxy_ca_file[PATH_MAX];   /* CAs that sign the backend's certificate; "" = the system's */
	char proxy_auth[16];            /* "backend" (default) or "local": vpasswd first, then the backend */
	long proxy_connect_timeout;     /* connect, TLS handshake, greeting and login, seconds (default 10) */
	long proxy_timeout;             /* relay idle timeout after login, seconds (default 30 min) */
	char policy_listen[512];       /* osd policyd: "unix:/path" and/or "host:port", space-separated */
	char policy_socket_group[64];  /* group of its unix sockets (mode 0660); "" = the daemon's group */
	char policy_action[256];       /* the answer for a client that may relay (default "OK") */
	char policy_default_action[256];       /* ... for any other client (default "DUNNO") */
	long policy_timeout;           /* a connection idle this long (or a request this slow) is closed, seconds */
	unsigned policy_max_connections;       /* Postfix connections at once (default 1000) */
	char metrics_listen[128];       /* osd metrics: "host:port" of GET /metrics; "" = off (default) */
	char resolver[128];
	char user[64];                  /* drop to this user when started as root */
	char group[64];
	char mail_user[64];
	char default_domain[256];
	char log[16];                   /* "stderr" or "syslog" */
	char log_facility[16];
	bool fsync;                     /* fsync relay.cdb and queue files (default yes) */
	char services[256];             /* what "osd run" starts, space-separated */
};

/* Fill conf with the built-in defaults. */
void conf_defaults(struct osd_conf *conf);

/*
 * Read path over the defaults.  On error returns -1 and writes
 * "FILE:LINE: key: why" into err.
 */
int conf_load(struct osd_conf *conf, const char *path, char *err, size_t errsize);

/*
 * What conf_load makes of a file holding text (len octets, NULs refused
 * as in a file), without the I/O: path only names it in messages, and
 * relative paths are taken from the folder base.  conf->path is left as
 * it is.  0, or -1 with errno and err.
 */
int conf_parse_text(struct osd_conf *conf, const char *text, size_t len, const char *path,
		    const char *base, char *err, size_t errsize);

/*
 * Parse a duration: plain seconds, or a number with s/m/h/d ("3h", "90m").
 * Returns 0 and the seconds in *secs_r, or -1 on anything else.
 */
int conf_parse_duration(const char *text, long *secs_r);

/* Write secs in the largest whole unit ("30d", "90m", "45s") into out. */
void conf_format_duration(long secs, char *out, size_t size);

/* Parse yes/no/true/false/on/off/1/0; -1 when it is none of these. */
int conf_parse_bool(const char *text, bool *value_r);

/*
 * SIGHUP in a daemon: read cur->path afresh into n (over the defaults).
 * -1 with err when it cannot be read (the daemon keeps cur).  *restart_r
 * says whether something only a restart can change differs: a listener,
 * user, group or state_dir.
 */
int conf_reload(const struct osd_conf *cur, struct osd_conf *n, bool *restart_r, char *err,
		size_t errsize);

/* The open-smtp folder and relay.cdb under state_dir. */
int conf_opensmtp_dir(const struct osd_conf *conf, char *out, size_t size);
int conf_relay_cdb(const struct osd_conf *conf, char *out, size_t size);
/* The watcher's snapshot of open-smtp/ (lib/relay/opensmtp_snap.h), under state_dir. */
int conf_relay_snap(const struct osd_conf *conf, char *out, size_t size);

#endif
