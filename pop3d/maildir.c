/* maildir.c - a POP3 maildrop over a Maildir: listing, UIDLs, sizes, RETR/TOP output, UPDATE. */
#include "maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dotstuff.h"
#include "fnv.h"
#include "maildir_name.h"
#include "regfile.h"
#include "xmalloc.h"

#define MAILDIR_STR2(x) #x
#define MAILDIR_STR(x) MAILDIR_STR2(x)

/*
 * What a message's size is, exactly.
 *
 * RFC 1939 section 5, LIST: the scan listing gives "the exact size of the
 * message in octets", and section 11: "if the POP3 server host internally
 * represents end-of-line as a single character, then the POP3 server simply
 * counts each occurrence of this character in a message as two octets.  Note
 * that lines in the message which start with the termination octet need not
 * (and must not) be counted twice, since the POP3 client will remove all
 * byte-stuffed termination characters when it receives a multi-line
 * response."
 *
 * So the size is the octets the client holds once it has removed the
 * stuffing and the final ".CRLF" — what Dovecot reports too (CRLF line
 * endings, no stuffing).  The transformation, applied by one function both
 * for counting and for sending, so that the two cannot disagree (lib/util's
 * dotstuff, which also makes osd-remote's DATA):
 *
 *   - LF not preceded by CR becomes CRLF (counted as 2);
 *   - CRLF is passed as it is; a CR not followed by LF is passed as it is;
 *   - a line starting with '.' is sent with one more '.' (not counted);
 *   - a non-empty message whose last line has no line ending gets CRLF
 *     (counted: the client receives it as part of the message), or just LF
 *     when the last byte is a CR.  Dovecot sends that CRLF too but leaves
 *     it out of the size, so for such (rare, malformed) messages osd's
 *     size is 2 larger than Dovecot's and equal to what the client gets;
 *   - then the ".\r\n" terminator (not counted).
 *
 * Therefore, for RETR: bytes on the wire after the "+OK" line =
 * size + (number of lines starting with '.') + 3.
 */

struct conv {
	struct dotstuff ds;     /* the transform itself, shared with osd-remote's DATA */
	long long lines_left;   /* TOP: body lines still to send; -1 = no limit */
	bool in_header;
	bool done;              /* TOP has sent all it should */
};

struct maildir_msg {
	char *name;             /* file name inside new/ or cur/ */
	char *uidl;
	uint64_t size;          /* valid when size_known */
	uint64_t file_size;     /* st_size at listing */
	struct timespec mtime;
	bool in_new;
	bool size_known;
	bool deleted;
	bool seen;
	bool gone;
};

struct maildir {
	int fd;                 /* the Maildir folder */
	int new_fd;
	int cur_fd;
	int lock_fd;            /* -1 when not locked */
	struct maildir_msg *msgs;
	size_t count;
};

struct maildir_stream {
	int fd;
	struct conv conv;
	bool finished;
	char buf[MAILDIR_CHUNK];
};

static void
conv_init(struct conv *c, long long body_lines)
{
	dotstuff_init(&c->ds);
	c->lines_left = body_lines < 0 ? -1 : body_lines;
	c->in_header = true;
	c->done = false;
}

/*
 * Transform n bytes of the message (see the comment at the top), line by
 * line so that TOP can stop after its lines.  0, or -1 when out is full.
 */
static int
conv_feed(struct conv *c, const char *p, size_t n, struct buf *out)
{
	while (n > 0 && !c->done) {
		size_t used;
		int r = dotstuff_line(&c->ds, p, n, out, &used);

		if (r == -1)
			return -1;
		p += used;
		n -= used;
		if (r == 0)
			break;
		/* TOP (RFC 1939 section 7): the header, the empty line, then body_lines lines. */
		if (c->in_header) {
			if (c->ds.empty) {
				c->in_header = false;
				if (c->lines_left == 0)
					c->done = true;
			}
		} else if (c->lines_left > 0 && --c->lines_left == 0) {
			c->done = true;
		}
	}
	return 0;
}

static ssize_t
read_retry(int fd, void *p, size_t n)
{
	ssize_t r;

	do
		r = read(fd, p, n);
	while (r == -1 && errno == EINTR);
	return r;
}

/* The POP3 size of the message open on fd, read from its start; fd is left at offset 0. */
static int
size_of_fd(int fd, char *chunk, uint64_t *size_r)
{
	struct conv c;
	ssize_t n;

	conv_init(&c, -1);
	if (lseek(fd, 0, SEEK_SET) == -1)
		return -1;
	while ((n = read_retry(fd, chunk, MAILDIR_CHUNK)) > 0)
		(void)conv_feed(&c, chunk, (size_t)n, NULL);
	if (n == -1)
		return -1;
	(void)dotstuff_end(&c.ds, NULL);
	if (lseek(fd, 0, SEEK_SET) == -1)
		return -1;
	*size_r = c.ds.size;
	return 0;
}

static bool
uidl_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > MAILDIR_UIDL_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* A UIDL for a file name that cannot give one: stable, as long as the file keeps its folder and name. */
static char *
uidl_hashed(const char *folder, const char *name)
{
	char out[sizeof(MAILDIR_UIDL_HASH_PREFIX) + 32];
	/* 64-bit FNV-1a, seeded two ways: the 128 bits of a substitute UIDL. */
	uint64_t a = fnv1a64_str(fnv1a64_str(FNV1A64_BASIS, folder), name);
	uint64_t b = fnv1a64_str(fnv1a64_str(0x84222325cbf29ce4ULL, name), folder);

	snprintf(out, sizeof(out), "%s%016llx%016llx", MAILDIR_UIDL_HASH_PREFIX,
		 (unsigned long long)a, (unsigned long long)b);
	return xstrdup(out);
}

static int
msg_cmp(const void *pa, const void *pb)
{
	const struct maildir_msg *a = pa, *b = pb;
	int r;

	if (a->mtime.tv_sec != b->mtime.tv_sec)
		return a->mtime.tv_sec < b->mtime.tv_sec ? -1 : 1;
	if (a->mtime.tv_nsec != b->mtime.tv_nsec)
		return a->mtime.tv_nsec < b->mtime.tv_nsec ? -1 : 1;
	r = strcmp(a->name, b->name);
	if (r != 0)
		return r;
	return (int)a->in_new - (int)b->in_new;
}

static int
uidl_ptr_cmp(const void *pa, const void *pb)
{
	const struct maildir_msg *a = *(struct maildir_msg *const *)pa;
	const struct maildir_msg *b = *(struct maildir_msg *const *)pb;
	int r = strcmp(a->uidl, b->uidl);

	if (r != 0)
		return r;
	/* Deterministic: which duplicate keeps the plain UIDL must not depend on readdir order. */
	return a < b ? -1 : a > b;
}

/* RFC 1939 section 7: a unique-id is unique within the maildrop.  Give duplicates hashed ones. */
static void
uidl_dedupe(struct maildir *md)
{
	struct maildir_msg **v;
	size_t i, first;

	if (md->count < 2)
		return;
	v = xreallocarray(NULL, md->count, sizeof(*v));
	for (i = 0; i < md->count; i++)
		v[i] = &md->msgs[i];
	qsort(v, md->count, sizeof(*v), uidl_ptr_cmp);
	/* v[first] keeps its UIDL; later members of its run of equals get hashed ones. */
	for (first = 0, i = 1; i < md->count; i++) {
		if (strcmp(v[i]->uidl, v[first]->uidl) != 0) {
			first = i;
			continue;
		}
		free(v[i]->uidl);
		v[i]->uidl = uidl_hashed(v[i]->in_new ? "new" : "cur", v[i]->name);
	}
	free(v);
}

static int
list_folder(struct maildir *md, int dfd, bool in_new, size_t *cap, const char **error_r)
{
	struct dirent *de;
	DIR *d;
	int fd;

	/* fdopendir takes the descriptor; keep ours for openat/renameat. */
	fd = dup(dfd);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		*error_r = "cannot read the Maildir";
		return -1;
	}
	rewinddir(d);
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct maildir_msg *m;
		struct stat st;
		size_t blen;

		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_UNKNOWN && de->d_type != DT_REG)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;       /* vanished meanwhile */
		if (!S_ISREG(st.st_mode))
			continue;
		if (md->count >= MAILDIR_MAX_MESSAGES) {
			closedir(d);
			errno = E2BIG;
			*error_r = "more messages than the limit of " MAILDIR_STR(MAILDIR_MAX_MESSAGES);
			return -1;
		}
		if (md->count == *cap) {
			*cap = *cap == 0 ? 64 : *cap * 2;
			md->msgs = xreallocarray(md->msgs, *cap, sizeof(*md->msgs));
		}
		m = &md->msgs[md->count++];
		memset(m, 0, sizeof(*m));
		m->name = xstrdup(de->d_name);
		m->in_new = in_new;
		m->mtime = st.st_mtim;
		m->file_size = (uint64_t)st.st_size;
		blen = maildir_name_base_len(m->name);
		if (uidl_valid(m->name, blen))
			m->uidl = xstrndup(m->name, blen);
		else
			m->uidl = uidl_hashed(in_new ? "new" : "cur", m->name);
	}
	if (errno != 0) {
		int e = errno;

		closedir(d);
		errno = e;
		*error_r = "cannot read the Maildir";
		return -1;
	}
	closedir(d);
	return 0;
}

int
maildir_open(const char *path, unsigned flags, struct maildir **md_r, const char **error_r)
{
	struct maildir *md = xcalloc(1, sizeof(*md));
	size_t cap = 0;
	int e;

	md->new_fd = md->cur_fd = md->lock_fd = -1;
	md->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (md->fd == -1) {
		*error_r = "cannot open the Maildir";
		goto fail;
	}
	if (flags & MAILDIR_OPEN_LOCK) {
		md->lock_fd = regfile_openat(md->fd, MAILDIR_LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW,
					     0600, NULL);
		if (md->lock_fd == -1) {
			*error_r = errno == EINVAL ? "the lock file is not a regular file"
						   : "cannot create the lock file";
			goto fail;
		}
		if (flock(md->lock_fd, LOCK_EX | LOCK_NB) == -1) {
			*error_r = errno == EWOULDBLOCK ? "mailbox is locked by another session"
							: "cannot lock the mailbox";
			goto fail;
		}
	}
	md->new_fd = openat(md->fd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	md->cur_fd = openat(md->fd, "cur", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (md->new_fd == -1 || md->cur_fd == -1) {
		*error_r = "cannot open new/ or cur/ of the Maildir";
		goto fail;
	}
	if (list_folder(md, md->new_fd, true, &cap, error_r) == -1 ||
	    list_folder(md, md->cur_fd, false, &cap, error_r) == -1)
		goto fail;
	if (md->count > 0)
		qsort(md->msgs, md->count, sizeof(*md->msgs), msg_cmp);
	uidl_dedupe(md);
	*md_r = md;
	return 0;
fail:
	e = errno;
	maildir_close(md);
	errno = e;
	return -1;
}

void
maildir_close(struct maildir *md)
{
	size_t i;

	if (md == NULL)
		return;
	for (i = 0; i < md->count; i++) {
		free(md->msgs[i].name);
		free(md->msgs[i].uidl);
	}
	free(md->msgs);
	if (md->new_fd != -1)
		close(md->new_fd);
	if (md->cur_fd != -1)
		close(md->cur_fd);
	if (md->lock_fd != -1)
		close(md->lock_fd);     /* releases the flock */
	if (md->fd != -1)
		close(md->fd);
	free(md);
}

size_t
maildir_count(const struct maildir *md)
{
	return md->count;
}

const char *
maildir_uidl(const struct maildir *md, size_t i)
{
	return md->msgs[i].uidl;
}

const char *
maildir_name(const struct maildir *md, size_t i, bool *in_new_r)
{
	if (in_new_r != NULL)
		*in_new_r = md->msgs[i].in_new;
	return md->msgs[i].name;
}

enum maildir_msg_state
maildir_msg_state(const struct maildir *md, size_t i)
{
	if (md->msgs[i].gone)
		return MAILDIR_MSG_GONE;
	return md->msgs[i].deleted ? MAILDIR_MSG_DELETED : MAILDIR_MSG_PRESENT;
}

void
maildir_delete(struct maildir *md, size_t i)
{
	md->msgs[i].deleted = true;
}

void
maildir_undelete_all(struct maildir *md)
{
	size_t i;

	for (i = 0; i < md->count; i++)
		md->msgs[i].deleted = false;
}

void
maildir_mark_seen(struct maildir *md, size_t i)
{
	md->msgs[i].seen = true;
}

/*
 * Find message m again after its file name stopped working: another agent
 * may have moved it from new/ to cur/ or changed its flags.  Looks in both
 * folders for a file with the same unique part.  0 and m updated, or -1
 * with ENOENT.
 */
static int
relocate(struct maildir *md, struct maildir_msg *m)
{
	size_t blen = maildir_name_base_len(m->name);
	int k;

	for (k = 0; k < 2; k++) {
		int dfd = k == 0 ? md->cur_fd : md->new_fd;
		struct dirent *de;
		DIR *d;
		int fd = dup(dfd);

		if (fd == -1 || (d = fdopendir(fd)) == NULL) {
			if (fd != -1)
				close(fd);
			continue;
		}
		rewinddir(d);
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, m->name, blen) != 0 ||
			    (de->d_name[blen] != '\0' && de->d_name[blen] != ':'))
				continue;
			if (strcmp(de->d_name, m->name) == 0 && m->in_new == (k == 1))
				continue;       /* the name that just failed */
			free(m->name);
			m->name = xstrdup(de->d_name);
			m->in_new = k == 1;
			closedir(d);
			return 0;
		}
		closedir(d);
	}
	errno = ENOENT;
	return -1;
}

/*
 * Open message m for reading, following it if it moved; ENOENT marks it
 * gone.  So does a name that now holds something other than a regular
 * file (EINVAL): a FIFO swapped in after the listing would otherwise block
 * open(2), and with it the whole session, where no timeout applies.
 */
static int
msg_open(struct maildir *md, struct maildir_msg *m)
{
	int tries, fd;

	for (tries = 0; tries < 3; tries++) {
		fd = regfile_openat(m->in_new ? md->new_fd : md->cur_fd, m->name,
				    O_RDONLY | O_NOFOLLOW, 0, NULL);
		if (fd != -1)
			return fd;
		if (errno != ENOENT || relocate(md, m) == -1)
			break;
	}
	if (errno == ENOENT || errno == EINVAL)
		m->gone = true;
	return -1;
}

int
maildir_size(struct maildir *md, size_t i, uint64_t *size_r)
{
	struct maildir_msg *m = &md->msgs[i];
	char *chunk;
	int fd, r, e;

	if (m->size_known) {
		*size_r = m->size;
		return 0;
	}
	fd = msg_open(md, m);
	if (fd == -1)
		return -1;
	chunk = xmalloc(MAILDIR_CHUNK);
	r = size_of_fd(fd, chunk, &m->size);
	e = errno;
	free(chunk);
	close(fd);
	if (r == -1) {
		errno = e;
		return -1;
	}
	m->size_known = true;
	*size_r = m->size;
	return 0;
}

int
maildir_stream_open(struct maildir *md, size_t i, long long body_lines,
		    struct maildir_stream **st_r, uint64_t *size_r)
{
	struct maildir_msg *m = &md->msgs[i];
	struct maildir_stream *st;
	int fd, e;

	fd = msg_open(md, m);
	if (fd == -1)
		return -1;
	st = xmalloc(sizeof(*st));
	st->fd = fd;
	st->finished = false;
	conv_init(&st->conv, body_lines);
	if (size_r != NULL) {
		/* Count on the descriptor we will send from, so the +OK line matches what follows. */
		if (!m->size_known) {
			if (size_of_fd(fd, st->buf, &m->size) == -1) {
				e = errno;
				maildir_stream_close(st);
				errno = e;
				return -1;
			}
			m->size_known = true;
		}
		*size_r = m->size;
	}
	*st_r = st;
	return 0;
}

int
maildir_stream_read(struct maildir_stream *st, struct buf *out)
{
	ssize_t n;

	if (st->finished)
		return 0;
	n = read_retry(st->fd, st->buf, sizeof(st->buf));
	if (n == -1)
		return -1;
	if (n > 0 && conv_feed(&st->conv, st->buf, (size_t)n, out) == -1)
		return -1;
	if (n > 0 && !st->conv.done)
		return 1;
	if (dotstuff_end(&st->conv.ds, out) == -1)
		return -1;
	st->finished = true;
	return 0;
}

void
maildir_stream_close(struct maildir_stream *st)
{
	if (st == NULL)
		return;
	close(st->fd);
	free(st);
}

/* Give message m the S flag: 1 when renamed, 0 when there was nothing to do (or it vanished), -1. */
static int
apply_seen(struct maildir *md, struct maildir_msg *m)
{
	char target[NAME_MAX + 1];
	int tries, r;

	for (tries = 0; tries < 3; tries++) {
		r = maildir_name_seen(m->name, m->in_new, target, sizeof(target));
		if (r == 1)
			return 0;
		if (r == -1) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (renameat(m->in_new ? md->new_fd : md->cur_fd, m->name, md->cur_fd, target) == 0)
			return 1;
		if (errno != ENOENT)
			return -1;
		if (relocate(md, m) == -1)
			return 0;       /* vanished: nothing to mark */
	}
	return 0;
}

static int
apply_delete(struct maildir *md, struct maildir_msg *m)
{
	int tries;

	for (tries = 0; tries < 3; tries++) {
		if (unlinkat(m->in_new ? md->new_fd : md->cur_fd, m->name, 0) == 0)
			return 0;
		if (errno != ENOENT)
			return -1;
		if (relocate(md, m) == -1)
			return 0;       /* already gone: what DELE wanted */
	}
	return 0;
}

int
maildir_update(struct maildir *md, struct maildir_update_stats *stats_r, const char **error_r)
{
	size_t i;

	memset(stats_r, 0, sizeof(*stats_r));
	*error_r = NULL;
	for (i = 0; i < md->count; i++) {
		struct maildir_msg *m = &md->msgs[i];

		if (m->deleted) {
			if (apply_delete(md, m) == 0) {
				stats_r->deleted++;
				stats_r->deleted_bytes += m->size_known ? m->size : m->file_size;
			} else {
				stats_r->delete_failed++;
				*error_r = "cannot unlink a deleted message";
			}
		} else if (m->seen && !m->gone) {
			int r = apply_seen(md, m);

			if (r == 1)
				stats_r->moved++;
			else if (r == -1)
				stats_r->move_failed++;
		}
	}
	/* Make the unlinks and renames durable before saying +OK. */
	if (stats_r->deleted > 0 || stats_r->moved > 0) {
		(void)fsync(md->new_fd);
		(void)fsync(md->cur_fd);
	}
	return stats_r->delete_failed > 0 ? -1 : 0;
}
