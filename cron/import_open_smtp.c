/* import_open_smtp.c - osd import-open-smtp FILE: move a vpopmail open-smtp file into open-smtp/. */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "decimal.h"
#include "opensmtp.h"
#include "path.h"
#include "progress.h"
#include "rules.h"
#include "xmalloc.h"
#include "timecalc.h"
#include "runas.h"

#define LINE_MAX_BYTES 1024

static void
usage(FILE *out)
{
	fprintf(out, "usage: osd import-open-smtp [-c FILE] OPEN-SMTP-FILE\n"
		     "Create an open-smtp/ entry for each line of a vpopmail open-smtp file\n"
		     "  213.41.188.249:allow,RELAYCLIENT=\"\",RBLSMTPD=\"\" 1029581749\n"
		     "with the line's time as its login time.  Bad lines are reported with\n"
		     "their number and skipped; entries already older than relay_expire are\n"
		     "skipped.  relay_env must set every variable a line sets (vpopmail\n"
		     "writes RELAYCLIENT=\"\",RBLSMTPD=\"\"): otherwise nothing is imported\n"
		     "and the relay_env to set is named.  Exit 0 when every line was good,\n"
		     "1 when some were skipped or relay_env would drop a line's variables.\n"
		     "On a terminal, a progress line is shown on stderr.\n"
		     "  -c FILE         configuration (default $OSD_CONF or " CONF_DEFAULT_PATH ")\n"
		     "  OPEN-SMTP-FILE  the file to read; - for standard input\n");
}

/*
 * Split one line into address and timestamp.  Returns NULL on success or
 * the reason the line is bad.
 */
static const char *
parse_line(char *line, struct ipaddr *addr, time_t *when, const char **env_r)
{
	char *ts, *end, *colon = NULL;
	uint64_t secs;

	/* The timestamp is the last white-space separated field. */
	end = line + strlen(line);
	while (end > line && isspace((unsigned char)end[-1]))
		*--end = '\0';
	ts = end;
	while (ts > line && isdigit((unsigned char)ts[-1]))
		ts--;
	if (ts == end)
		return "no timestamp at the end of the line";
	if (ts == line || (ts[-1] != ' ' && ts[-1] != '\t'))
		return "the timestamp must follow white space";
	if (decimal_parse(ts, (size_t)(end - ts), (uint64_t)INT64_MAX / 2, &secs) == -1)
		return "timestamp out of range";
	*when = (time_t)secs;
	ts[-1] = '\0';
	/* The address ends at the ':' that starts "allow" (IPv6 has ':' too). */
	for (char *p = line; (p = strchr(p, ':')) != NULL; p++)
		if (strncmp(p + 1, "allow", 5) == 0 && (p[6] == ',' || isspace((unsigned char)p[6]) || p[6] == '\0')) {
			colon = p;
			break;
		}
	if (colon == NULL)
		return strstr(line, ":deny") ? "a deny line is not a login" : "expected ADDRESS:allow,...";
	*colon = '\0';
	if (ipaddr_parse(line, addr) < 0)
		return "not an IPv4 or IPv6 address";
	if (!ipaddr_is_unicast(addr))
		return "not a client's own address (unspecified, multicast or broadcast)";
	/* "allow" then ",VAR=..." up to the white space before the time. */
	*env_r = colon + 6 + (colon[6] == ',');
	colon[6 + strcspn(colon + 6, " \t")] = '\0';
	return NULL;
}

/* Does relay_env set every variable the line sets, to the same value?  (Order does not matter.) */
static bool
env_kept(const char *line, size_t linelen, const char *relay_env, size_t envlen)
{
	for (size_t pos = 0; pos < linelen; pos += strlen(line + pos) + 1) {
		bool found = false;

		for (size_t q = 0; q < envlen && !found; q += strlen(relay_env + q) + 1)
			found = strcmp(line + pos, relay_env + q) == 0;
		if (!found)
			return false;
	}
	return true;
}

struct login {
	struct ipaddr addr;
	time_t when;
};

int
main(int argc, char **argv)
{
	const char *conf_arg = NULL, *file;
	struct osd_conf conf;
	struct runas ra;
	char dir[PATH_MAX], env[sizeof(conf.relay_env_value)], why_env[256], err[PATH_MAX + 256];
	unsigned long lineno = 0, imported = 0, bad = 0, old = 0, kept = 0, mismatch = 0;
	struct login *logins = NULL;
	size_t nlogins = 0, caplogins = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	time_t now = time(NULL);
	struct progress prog;
	struct stat st;
	off_t fsize = 0;
	FILE *fp;
	int dirfd;

	conf_arg = cli_conf_operands(argc, argv, "import-open-smtp", usage, 1, 100);
	file = argv[optind];
	cli_load_conf(&conf, conf_arg);
	/* vpopmail's file may be readable by root only: opened before the drop. */
	fp = strcmp(file, "-") == 0 ? stdin : fopen(file, "re");
	if (fp == NULL) {
		cli_error("import-open-smtp", "%s: %s", file, strerror(errno));
		return 111;
	}
	/* Entries made as root could not be touched by pop3d later: write them as the
	 * user the daemons run as, in open-smtp/ handed to it. */
	if (runas_init(&ra, &conf, err, sizeof err) == -1 ||
	    runas_opensmtp(&ra, &conf, RUNAS_WRITE, err, sizeof err) == -1 ||
	    runas_drop(&ra, err, sizeof err) == -1)
		runas_refuse("import-open-smtp", err);
	if (conf_opensmtp_dir(&conf, dir, sizeof dir) < 0 ||
	    (dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		cli_error("import-open-smtp", "%s: %s", dir, strerror(errno));
		return 111;
	}
	/* How far along the read is: by bytes, when the file has a size. */
	if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode))
		fsize = st.st_size;
	progress_start(&prog, STDERR_FILENO, "osd: import-open-smtp: reading", "lines");
	while ((got = getline(&line, &cap, fp)) >= 0) {
		struct ipaddr addr;
		time_t when;
		const char *why, *envtext = "";
		long envlen = 0;

		lineno++;
		progress_update(&prog, lineno, fsize > 0 ? (int)(ftello(fp) * 1000 / fsize) : -1);
		if ((size_t)got > LINE_MAX_BYTES) {
			why = "line too long";
		} else if (memchr(line, '\0', (size_t)got) != NULL) {
			why = "NUL byte in line";
		} else {
			line[strcspn(line, "\r\n")] = '\0';
			if (line[0] == '\0' || line[0] == '#')
				continue;
			why = parse_line(line, &addr, &when, &envtext);
			if (why == NULL && (envlen = rules_encode_env(envtext, env, sizeof env, why_env,
								      sizeof why_env)) < 0)
				why = why_env;
		}
		if (why != NULL) {
			fprintf(stderr, "osd: import-open-smtp: %s:%lu: %s (skipped)\n", file, lineno, why);
			bad++;
			continue;
		}
		/* Every entry gets relay_env: a line that sets other variables
		 * (RBLSMTPD="" for a dynamic address on a blocklist) would lose them. */
		if (!env_kept(env, (size_t)envlen, conf.relay_env_value, conf.relay_env_len)) {
			if (mismatch++ == 0)
				fprintf(stderr, "osd: import-open-smtp: %s:%lu: the line sets %s, but a "
					"login here gets only relay_env = %s: set relay_env = %s in %s "
					"to keep them; nothing imported\n", file, lineno, envtext,
					conf.relay_env, envtext, conf.path);
			continue;
		}
		if (when > now)
			when = now;     /* a clock that ran ahead must not extend relaying */
		if (time_add(when, conf.relay_expire) <= now) {
			old++;
			continue;
		}
		if (nlogins == caplogins) {
			caplogins = caplogins ? caplogins * 2 : 256;
			logins = xreallocarray(logins, caplogins, sizeof *logins);
		}
		logins[nlogins++] = (struct login){ addr, when };
	}
	if (ferror(fp)) {
		cli_error("import-open-smtp", "%s: %s", file, strerror(errno));
		return 111;
	}
	progress_end(&prog, lineno, fsize > 0 ? 1000 : -1);
	free(line);
	if (fp != stdin)
		fclose(fp);
	if (mismatch > 0) {
		if (mismatch > 1)
			fprintf(stderr, "osd: import-open-smtp: %lu line(s) in all set other variables "
				"than relay_env\n", mismatch);
		free(logins);
		close(dirfd);
		return 1;
	}
	progress_start(&prog, STDERR_FILENO, "osd: import-open-smtp: recording", "entries");
	for (size_t i = 0; i < nlogins; i++) {
		int r = opensmtp_record_time_at(dirfd, &logins[i].addr, logins[i].when);

		progress_update(&prog, i + 1, (int)((i + 1) * 1000 / nlogins));

		if (r < 0) {
			cli_error("import-open-smtp", "%s: %s", dir, strerror(errno));
			return 111;
		}
		if (r == 0)
			kept++;
		else
			imported++;
	}
	progress_end(&prog, nlogins, 1000);
	free(logins);
	printf("imported %lu, kept %lu newer, skipped %lu expired and %lu bad line(s)\n",
	       imported, kept, old, bad);
	close(dirfd);
	return bad > 0 ? 1 : 0;
}
