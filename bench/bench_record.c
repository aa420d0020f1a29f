/*
 * bench_record.c - how many logins per second can be recorded, osd's way
 * against the classic vpopmail way, with the same number of concurrent
 * writer processes.
 *
 * osd:      each login is opensmtp_record_at(dirfd, &addr): touch or create
 *           open-smtp/<IP>; no lock, no shared file (what osd record and
 *           osd pop3d do; each writer keeps its folder descriptor open, as a
 *           server that records often does).
 * vpopmail: each login is vpopmail's open_smtp_relay() (vpopmail.c,
 *           FILE_LOCKING build): exclusive lock on open-smtp.lock, read the
 *           whole open-smtp text file with fgets, copy every line of another
 *           address to open-smtp.tmp.<pid>, append
 *           "IP:allow,RELAYCLIENT="",RBLSMTPD=""<TAB><unixtime>", rename the
 *           temp file over open-smtp, unlock.  vpopmail then (inline, or from
 *           cron) runs tcprules; that part is measured by bench_latency.py
 *           and bench_rebuild.py, not here, which favours the baseline.
 *
 * Both start from a warm state of W existing entries (10.0.0.0 onwards,
 * mtime now) and see the same logins: login k (k = 0 .. N-1) is by address
 * number perm(k mod P), a fixed permutation of 0 .. P-1; addresses below W
 * already have an entry (a returning user), the others are new the first
 * time.  Writer w of n does logins w, w+n, w+2n, ...  Every (method,
 * writers, run) starts from a freshly made warm state.
 *
 * Output, one line per measurement, then the medians and the ratio:
 *   bench=record run=1 method=osd writers=8 logins=200000 secs=1.234 rate=162074
 *   bench=record method=osd writers=8 logins=200000 runs=3 secs=... rate=...
 *   bench=record writers=8 ratio=123.4   (osd rate / vpopmail rate, medians)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipaddr.h"
#include "opensmtp.h"

#define MAX_WRITER_COUNTS 16
#define MAX_RUNS 99
#define VPOP_MAX_BUFF 300       /* vpopmail's MAX_BUFF */

enum method { M_OSD, M_VPOP };
static const char *const method_name[] = { "osd", "vpopmail" };

struct opts {
	long logins;            /* -n: logins per osd measurement */
	long vpop_logins;       /* -N: logins per vpopmail measurement */
	long warm;              /* -W */
	long pool;              /* -P */
	int runs;               /* -r */
	int writers[MAX_WRITER_COUNTS];
	int nwriters;
	bool do_method[2];
	const char *tmpdir;     /* -d */
	bool keep;              /* -k */
};

static void
die(const char *what)
{
	fprintf(stderr, "bench-record: %s: %s\n", what, strerror(errno));
	exit(111);
}

static void
diex(const char *what)
{
	fprintf(stderr, "bench-record: %s\n", what);
	exit(100);
}

static double
now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
gcd(long a, long b)
{
	while (b != 0) {
		long t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Multiplier of the permutation k -> k * mult mod pool: coprime with pool. */
static long
perm_mult(long pool)
{
	long m = (long)((double)pool * 0.6180339887) | 1;

	if (pool <= 2)
		return 1;
	while (gcd(m, pool) != 1)
		m++;
	return m % pool;
}

static void
addr_of(long index, struct ipaddr *a)
{
	memset(a, 0, sizeof *a);
	a->family = AF_INET;
	a->bytes[0] = 10;
	a->bytes[1] = (uint8_t)(index >> 16);
	a->bytes[2] = (uint8_t)(index >> 8);
	a->bytes[3] = (uint8_t)index;
}

static void
path_join(char *out, size_t size, const char *dir, const char *name)
{
	if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
		diex("path too long");
}

/* Remove a folder this program made: plain files and one level of folders. */
static void
remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[PATH_MAX];

	if (d == NULL) {
		if (errno == ENOENT)
			return;
		die(path);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		path_join(sub, sizeof sub, path, de->d_name);
		if (de->d_type == DT_DIR)
			remove_tree(sub);
		else if (unlink(sub) < 0 && errno != ENOENT)
			die(sub);
	}
	closedir(d);
	if (rmdir(path) < 0 && errno != ENOENT)
		die(path);
}

/* ---- the warm state ---- */

static void
make_osd_state(const char *dir, long warm)
{
	int dirfd;

	if (mkdir(dir, 0755) < 0)
		die(dir);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		die(dir);
	for (long i = 0; i < warm; i++) {
		struct ipaddr a;
		char name[IPADDR_TEXT_MAX];
		int fd;

		addr_of(i, &a);
		ipaddr_format(&a, name);
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || close(fd) < 0)
			die(name);
	}
	close(dirfd);
}

static void
make_vpop_state(const char *dir, long warm)
{
	char path[PATH_MAX];
	time_t t = time(NULL);
	FILE *f;

	if (mkdir(dir, 0755) < 0)
		die(dir);
	path_join(path, sizeof path, dir, "open-smtp");
	f = fopen(path, "w");
	if (f == NULL)
		die(path);
	for (long i = 0; i < warm; i++) {
		struct ipaddr a;
		char name[IPADDR_TEXT_MAX];

		addr_of(i, &a);
		ipaddr_format(&a, name);
		fprintf(f, "%s:allow,RELAYCLIENT=\"\",RBLSMTPD=\"\"\t%d\n", name, (int)t);
	}
	if (fclose(f) != 0)
		die(path);
}

/* ---- one login, vpopmail's way ---- */

struct vpop_paths {
	char cur[PATH_MAX];     /* OPEN_SMTP_CUR_FILE */
	char tmp[PATH_MAX];     /* OPEN_SMTP_TMP_FILE.<pid> */
	char lok[PATH_MAX];     /* OPEN_SMTP_LOK_FILE */
};

/*
 * open_smtp_relay() of vpopmail 5.4 without SQL, with FILE_LOCKING (there an
 * fcntl write lock; flock here, which costs the same), without its inline
 * update_rules() call.
 */
static int
vpop_login(const struct vpop_paths *p, const char *ipaddr)
{
	char tmpbuf1[VPOP_MAX_BUFF], tmpbuf2[VPOP_MAX_BUFF];
	FILE *fs_cur_file, *fs_tmp_file;
	int fd_lok_file, ret = 0;
	time_t mytime = time(NULL);

	fd_lok_file = open(p->lok, O_WRONLY | O_CREAT | O_CLOEXEC, S_IRUSR | S_IWUSR);
	if (fd_lok_file < 0)
		return -1;
	if (flock(fd_lok_file, LOCK_EX) < 0) {
		close(fd_lok_file);
		return -1;
	}
	fs_cur_file = fopen(p->cur, "r+");
	if (fs_cur_file == NULL)
		fs_cur_file = fopen(p->cur, "w+");
	if (fs_cur_file == NULL) {
		ret = -1;
		goto unlock;
	}
	fs_tmp_file = fopen(p->tmp, "w+");
	if (fs_tmp_file == NULL) {
		fclose(fs_cur_file);
		ret = -1;
		goto unlock;
	}
	while (fgets(tmpbuf1, sizeof tmpbuf1, fs_cur_file) != NULL) {
		char *tmpstr;

		memcpy(tmpbuf2, tmpbuf1, sizeof tmpbuf2);
		tmpstr = strtok(tmpbuf2, ":");
		/* Every line but this address's is copied; its own goes last. */
		if (tmpstr == NULL || strcmp(tmpstr, ipaddr) != 0)
			fputs(tmpbuf1, fs_tmp_file);
	}
	fprintf(fs_tmp_file, "%s:allow,RELAYCLIENT=\"\",RBLSMTPD=\"\"\t%d\n", ipaddr, (int)mytime);
	fclose(fs_cur_file);
	if (fclose(fs_tmp_file) != 0 || rename(p->tmp, p->cur) < 0)
		ret = -1;
unlock:
	flock(fd_lok_file, LOCK_UN);
	close(fd_lok_file);
	return ret;
}

/* ---- the writers ---- */

struct job {
	enum method method;
	const char *state;      /* the osd folder or the vpopmail etc/ */
	long logins, pool, mult;
	int writers;
};

static void
writer(const struct job *job, int w, int ready_fd, int go_fd)
{
	long share = 0;
	struct ipaddr *addrs;
	char (*names)[IPADDR_TEXT_MAX] = NULL;
	struct vpop_paths vp;
	int dirfd = -1;
	char c = 'r';

	for (long k = w; k < job->logins; k += job->writers)
		share++;
	addrs = calloc((size_t)share + 1, sizeof *addrs);
	if (addrs == NULL)
		die("calloc");
	share = 0;
	for (long k = w; k < job->logins; k += job->writers)
		addr_of((k % job->pool) * job->mult % job->pool, &addrs[share++]);
	if (job->method == M_OSD) {
		dirfd = open(job->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			die(job->state);
	} else {
		/* vpopmail gets the address as text (TCPREMOTEIP). */
		names = calloc((size_t)share + 1, sizeof *names);
		if (names == NULL)
			die("calloc");
		for (long i = 0; i < share; i++)
			ipaddr_format(&addrs[i], names[i]);
		path_join(vp.cur, sizeof vp.cur, job->state, "open-smtp");
		path_join(vp.lok, sizeof vp.lok, job->state, "open-smtp.lock");
		if ((size_t)snprintf(vp.tmp, sizeof vp.tmp, "%s/open-smtp.tmp.%lu", job->state,
				     (unsigned long)getpid()) >= sizeof vp.tmp)
			diex("path too long");
	}
	if (write(ready_fd, &c, 1) != 1)
		die("ready pipe");
	close(ready_fd);
	/* Wait for the start: the parent closes the pipe. */
	while (read(go_fd, &c, 1) < 0 && errno == EINTR)
		;
	for (long i = 0; i < share; i++) {
		int r = job->method == M_OSD ? opensmtp_record_at(dirfd, &addrs[i])
					     : vpop_login(&vp, names[i]);
		if (r < 0)
			die(job->method == M_OSD ? "opensmtp_record_at" : "vpopmail login");
	}
	_exit(0);
}

/* Run one measurement; returns the seconds from the start signal until the last writer exits. */
static double
run_job(const struct job *job)
{
	int ready[2], go[2], failed = 0;
	pid_t *pids = calloc((size_t)job->writers, sizeof *pids);
	double t0, t1;
	char c;

	if (pids == NULL)
		die("calloc");
	if (pipe(ready) < 0 || pipe(go) < 0)
		die("pipe");
	fflush(stdout);
	for (int w = 0; w < job->writers; w++) {
		pids[w] = fork();
		if (pids[w] < 0)
			die("fork");
		if (pids[w] == 0) {
			close(ready[0]);
			close(go[1]);
			writer(job, w, ready[1], go[0]);
		}
	}
	close(ready[1]);
	close(go[0]);
	for (int w = 0; w < job->writers; w++)
		if (read(ready[0], &c, 1) != 1)
			diex("a writer died while getting ready");
	close(ready[0]);
	t0 = now_secs();
	close(go[1]);
	for (int w = 0; w < job->writers; w++) {
		int status;

		if (waitpid(pids[w], &status, 0) < 0)
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	t1 = now_secs();
	free(pids);
	if (failed)
		diex("a writer failed");
	return t1 - t0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: bench-record [-n LOGINS] [-N VPOP_LOGINS] [-w 1,8,64] [-r RUNS]\n"
		"                    [-W WARM] [-P POOL] [-m osd,vpopmail] [-d TMPDIR] [-k]\n"
		"  -n  logins per osd measurement (default 200000)\n"
		"  -N  logins per vpopmail measurement (default 5000: it is slow)\n"
		"  -w  writer process counts to measure (default 1,8,64)\n"
		"  -r  runs of each; medians are reported (default 3)\n"
		"  -W  entries present before each measurement (default 10000)\n"
		"  -P  distinct addresses logging in (default 2 * WARM)\n"
		"  -m  methods (default osd,vpopmail)\n"
		"  -d  where to make the state folders (default $TMPDIR or /tmp)\n"
		"  -k  keep the state folders\n");
}

static void
parse_list(struct opts *o, char *arg, bool writers)
{
	char *save = NULL;

	for (char *tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (writers) {
			char *end;
			long v = strtol(tok, &end, 10);

			if (*end != '\0' || v < 1 || v > 4096 || o->nwriters >= MAX_WRITER_COUNTS)
				diex("bad -w list");
			o->writers[o->nwriters++] = (int)v;
		} else if (strcmp(tok, "osd") == 0) {
			o->do_method[M_OSD] = true;
		} else if (strcmp(tok, "vpopmail") == 0) {
			o->do_method[M_VPOP] = true;
		} else {
			diex("bad -m list (osd, vpopmail)");
		}
	}
}

static long
parse_long(const char *arg, long min, const char *what)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*end != '\0' || v < min || v > (1L << 24))
		diex(what);
	return v;
}

int
main(int argc, char **argv)
{
	struct opts o = { .logins = 200000, .vpop_logins = 5000, .warm = 10000, .pool = -1,
			  .runs = 3 };
	double secs[2][MAX_WRITER_COUNTS][MAX_RUNS];
	char base[PATH_MAX], state[PATH_MAX];
	bool methods_given = false;
	int opt;

	o.tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	while ((opt = getopt(argc, argv, "n:N:w:r:W:P:m:d:kh")) != -1) {
		switch (opt) {
		case 'n': o.logins = parse_long(optarg, 1, "bad -n"); break;
		case 'N': o.vpop_logins = parse_long(optarg, 1, "bad -N"); break;
		case 'w': parse_list(&o, optarg, true); break;
		case 'r': o.runs = (int)parse_long(optarg, 1, "bad -r"); break;
		case 'W': o.warm = parse_long(optarg, 0, "bad -W"); break;
		case 'P': o.pool = parse_long(optarg, 1, "bad -P"); break;
		case 'm': parse_list(&o, optarg, false); methods_given = true; break;
		case 'd': o.tmpdir = optarg; break;
		case 'k': o.keep = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 100;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 100;
	}
	if (o.runs > MAX_RUNS)
		diex("at most 99 runs");
	if (o.nwriters == 0) {
		o.writers[0] = 1;
		o.writers[1] = 8;
		o.writers[2] = 64;
		o.nwriters = 3;
	}
	if (!methods_given)
		o.do_method[M_OSD] = o.do_method[M_VPOP] = true;
	if (o.pool < 0)
		o.pool = o.warm > 0 ? 2 * o.warm : 20000;
	if (o.pool > (1L << 24) || o.warm > (1L << 24))
		diex("at most 2^24 addresses (10.0.0.0/8)");

	if ((size_t)snprintf(base, sizeof base, "%s/osd-bench-record.XXXXXX", o.tmpdir) >= sizeof base)
		diex("path too long");
	if (mkdtemp(base) == NULL)
		die(base);

	long mult = perm_mult(o.pool);
	printf("bench=record warm=%ld pool=%ld runs=%d osd_logins=%ld vpopmail_logins=%ld dir=%s\n",
	       o.warm, o.pool, o.runs, o.logins, o.vpop_logins, base);

	for (int r = 0; r < o.runs; r++) {
		for (int wi = 0; wi < o.nwriters; wi++) {
			for (int m = 0; m < 2; m++) {
				struct job job = { .method = (enum method)m, .state = state,
						   .pool = o.pool, .mult = mult,
						   .writers = o.writers[wi] };
				double s;

				if (!o.do_method[m])
					continue;
				job.logins = m == M_OSD ? o.logins : o.vpop_logins;
				/* A new folder each time; all are removed at the end,
				 * not between measurements: on an ext4 without a journal,
				 * inodes freed in the last minutes make creating files
				 * slower, and both methods create files. */
				if ((size_t)snprintf(state, sizeof state, "%s/%s-w%d-r%d", base,
						     method_name[m], job.writers, r + 1) >= sizeof state)
					diex("path too long");
				if (m == M_OSD)
					make_osd_state(state, o.warm);
				else
					make_vpop_state(state, o.warm);
				s = run_job(&job);
				secs[m][wi][r] = s;
				printf("bench=record run=%d method=%s writers=%d logins=%ld secs=%.4f rate=%.0f\n",
				       r + 1, method_name[m], job.writers, job.logins, s,
				       (double)job.logins / s);
				fflush(stdout);
			}
		}
	}

	for (int wi = 0; wi < o.nwriters; wi++) {
		double rate[2] = { 0, 0 };

		for (int m = 0; m < 2; m++) {
			long n = m == M_OSD ? o.logins : o.vpop_logins;
			double s;

			if (!o.do_method[m])
				continue;
			s = median(secs[m][wi], o.runs);
			rate[m] = (double)n / s;
			printf("bench=record method=%s writers=%d logins=%ld runs=%d secs=%.4f rate=%.0f\n",
			       method_name[m], o.writers[wi], n, o.runs, s, rate[m]);
		}
		if (rate[M_OSD] > 0 && rate[M_VPOP] > 0)
			printf("bench=record writers=%d ratio=%.1f\n", o.writers[wi],
			       rate[M_OSD] / rate[M_VPOP]);
	}
	if (!o.keep)
		remove_tree(base);
	return 0;
}
