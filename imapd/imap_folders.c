/* imap_folders.c - a user's Maildir++ folders as IMAP mailboxes: LIST, CREATE, DELETE, RENAME, subscriptions, STATUS. */
#include "imap_folders.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "buf.h"
#include "fdclose.h"
#include "imap_mailbox.h"
#include "path.h"
#include "regfile.h"
#include "xmalloc.h"

/* Longest mailbox name (octets, as sent: modified UTF-7). */
#define FOLDER_NAME_MAX IMAP_FOLDER_NAME_MAX
/* At most this many folders per user. */
#define FOLDERS_MAX 10000
#define SUBSCRIPTIONS_NAME "subscriptions"
#define SUBSCRIPTIONS_FILE_MAX (FOLDERS_MAX * (FOLDER_NAME_MAX + 1))
/* Depth of a folder being removed (the folder, cur/ new/ tmp/, anything one more below). */
#define RMTREE_DEPTH 3

static bool
is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

/* Whether root/.name is a folder with its cur/ (a Maildir). */
static bool
selectable_at(int rootfd, const char *dname)
{
	char p[FOLDER_NAME_MAX + 8];
	struct stat st;

	if (path_fmt(p, sizeof(p), "%s/cur", dname) == -1)
		return false;
	return fstatat(rootfd, p, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

static int
str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folder names of root (the directories ".X" with cur/), sorted; at most FOLDERS_MAX. */
static int
read_folders(const char *root, char ***v_r, size_t *n_r)
{
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	int rootfd;

	*v_r = NULL;
	*n_r = 0;
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd == -1)
		return -1;
	d = opendir(root);
	if (d == NULL)
		return close_keep_errno(rootfd);
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name + 1;

		if (de->d_name[0] != '.' || !imap_folder_name_ok(name) || is_inbox(name))
			continue;
		if (de->d_type != DT_UNKNOWN && de->d_type != DT_DIR)
			continue;
		if (!selectable_at(rootfd, de->d_name))
			continue;
		if (n >= FOLDERS_MAX)
			break;
		if (n == cap) {
			cap = cap == 0 ? 32 : cap * 2;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n++] = xstrdup(name);
	}
	closedir(d);
	close(rootfd);
	if (n > 1)
		qsort(v, n, sizeof(*v), str_ptr_cmp);
	*v_r = v;
	*n_r = n;
	return 0;
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The subscriptions file's names, sorted. */
static int
read_subscriptions(const char *root, char ***v_r, size_t *n_r)
{
	char path[PATH_MAX];
	char **v = NULL;
	size_t n = 0, cap = 0;
	const char *p, *end;
	struct buf b;
	int fd;

	*v_r = NULL;
	*n_r = 0;
	if (path_join(path, sizeof(path), root, SUBSCRIPTIONS_NAME) == -1)
		return -1;
	fd = regfile_open(path, O_RDONLY, 0, NULL);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	buf_init(&b, SUBSCRIPTIONS_FILE_MAX);
	if (buf_read_fd(&b, fd) == -1) {
		close(fd);
		buf_free(&b);
		return -1;
	}
	close(fd);
	for (p = b.data, end = b.data + b.len; p != NULL && p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl == NULL ? end : nl) - p);

		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len > 0 && len <= FOLDER_NAME_MAX && n < FOLDERS_MAX) {
			char *name = xstrndup(p, len);

			if (imap_folder_name_ok(name)) {
				if (n == cap) {
					cap = cap == 0 ? 32 : cap * 2;
					v = xreallocarray(v, cap, sizeof(*v));
				}
				v[n++] = name;
			} else {
				free(name);
			}
		}
		p = nl == NULL ? end : nl + 1;
	}
	buf_free(&b);
	if (n > 1)
		qsort(v, n, sizeof(*v), str_ptr_cmp);
	*v_r = v;
	*n_r = n;
	return 0;
}

static bool
strv_has(char *const *v, size_t n, const char *s)
{
	return n > 0 && bsearch(&s, v, n, sizeof(*v), str_ptr_cmp) != NULL;
}

/* RFC 6154 attributes by the names clients and other servers give these folders. */
static const char *
special_use_of(const char *name)
{
	static const struct {
		const char *name, *use;
	} map[] = {
		{ "Sent", "\\Sent" }, { "Sent Items", "\\Sent" }, { "Sent Messages", "\\Sent" },
		{ "Drafts", "\\Drafts" }, { "Trash", "\\Trash" }, { "Deleted Items", "\\Trash" },
		{ "Deleted Messages", "\\Trash" }, { "Junk", "\\Junk" }, { "Spam", "\\Junk" },
		{ "Archive", "\\Archive" },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(name, map[i].name) == 0)
			return map[i].use;
	return NULL;
}

static int
folder_cmp(const void *pa, const void *pb)
{
	const struct imap_folder *a = pa, *b = pb;

	/* INBOX first (RFC 3501 does not order LIST; clients expect it so). */
	if (strcmp(a->name, "INBOX") == 0)
		return strcmp(b->name, "INBOX") == 0 ? 0 : -1;
	if (strcmp(b->name, "INBOX") == 0)
		return 1;
	return strcmp(a->name, b->name);
}

static int
folder_name_cmp(const void *key, const void *elem)
{
	const struct imap_folder *f = elem;

	return folder_cmp(&(struct imap_folder){ .name = (char *)key }, f);
}

int
imap_folders_list(const char *root, struct imap_folder **v_r, size_t *n_r, const char **error_r)
{
	struct imap_folder *v;
	char **names, **subs, **par;
	size_t n, nsubs, i, nv = 0, np = 0, pcap = 0;

	if (read_folders(root, &names, &n) == -1) {
		*error_r = "Cannot read the mailboxes";
		return -1;
	}
	if (read_subscriptions(root, &subs, &nsubs) == -1) {
		strv_free(names, n);
		*error_r = "Cannot read the subscriptions";
		return -1;
	}
	/* Parents without a Maildir of their own: \Noselect (RFC 3501 section 6.3.8). */
	par = NULL;
	for (i = 0; i < n; i++) {
		char *dot, *p = xstrdup(names[i]);

		while ((dot = strrchr(p, '.')) != NULL) {
			*dot = '\0';
			if (is_inbox(p) || strv_has(names, n, p))
				break;
			if (np == pcap) {
				pcap = pcap == 0 ? 16 : pcap * 2;
				par = xreallocarray(par, pcap, sizeof(*par));
			}
			par[np++] = xstrdup(p);
		}
		free(p);
	}
	if (np > 1)
		qsort(par, np, sizeof(*par), str_ptr_cmp);
	v = xcalloc(n + np + 1, sizeof(*v));
	v[nv++].name = xstrdup("INBOX");
	for (i = 0; i < n; i++) {
		v[nv++].name = names[i];
		names[i] = NULL;
	}
	for (i = 0; i < np; i++) {
		/* par is sorted: a duplicate equals the last name kept (par[i - 1] may be handed over already). */
		if (i > 0 && v[nv - 1].noselect && strcmp(par[i], v[nv - 1].name) == 0)
			continue;
		v[nv].name = par[i];
		par[i] = NULL;
		v[nv++].noselect = true;
	}
	strv_free(par, np);
	qsort(v, nv, sizeof(*v), folder_cmp);
	for (i = 0; i < nv; i++) {
		char *dot = strrchr(v[i].name, '.');

		v[i].subscribed = strv_has(subs, nsubs, v[i].name);
		v[i].special_use = special_use_of(v[i].name);
		if (dot != NULL) {
			struct imap_folder *parent;
			char *p = xstrndup(v[i].name, (size_t)(dot - v[i].name));

			if (is_inbox(p))
				parent = &v[0];
			else
				parent = bsearch(p, v, nv, sizeof(*v), folder_name_cmp);
			if (parent != NULL)
				parent->has_children = true;
			free(p);
		}
	}
	/*
	 * Subscriptions whose folder is gone: \Noselect without children, which
	 * LSUB and LIST (SUBSCRIBED) show (\NonExistent, RFC 5258 section 3.1)
	 * and plain LIST does not.  Added after the children are counted: a
	 * name that does not exist makes no folder a parent.
	 */
	{
		size_t nreal = nv;

		v = xreallocarray(v, nv + nsubs + 1, sizeof(*v));
		for (i = 0; i < nsubs; i++) {
			if (is_inbox(subs[i]) || !imap_folder_name_ok(subs[i]) ||
			    bsearch(subs[i], v, nreal, sizeof(*v), folder_name_cmp) != NULL ||
			    strv_has(subs, i, subs[i]))
				continue;
			memset(&v[nv], 0, sizeof(v[nv]));
			v[nv].name = xstrdup(subs[i]);
			v[nv].noselect = true;
			v[nv].subscribed = true;
			v[nv++].special_use = special_use_of(subs[i]);
		}
		if (nv > nreal)
			qsort(v, nv, sizeof(*v), folder_cmp);
	}
	strv_free(names, n);
	strv_free(subs, nsubs);
	*v_r = v;
	*n_r = nv;
	return 0;
}

void
imap_folders_free(struct imap_folder *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* The name checked, a trailing '.' dropped (RFC 3501 section 6.3.3: CREATE "a.b." makes "a.b"). */
static int
check_name(const char *name, char *out, size_t size, const char **error_r, const char **code_r)
{
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(out, name, len);
	out[len] = '\0';
	if (!imap_folder_name_ok(out)) {
		*error_r = "Invalid mailbox name";
		*code_r = "CANNOT";
		return -1;
	}
	return 0;
}

static bool
dir_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool
folder_selectable(const char *root, const char *name)
{
	char dir[PATH_MAX], p[PATH_MAX];

	return imap_folder_dir(root, name, dir, sizeof(dir)) == 0 && path_join(p, sizeof(p), dir, "cur") == 0 &&
	       dir_exists(p);
}

/* The names of root's folders below name ("name.*"). */
static int
children_of(const char *root, const char *name, char ***v_r, size_t *n_r)
{
	char **all;
	size_t n, i, k = 0, len = strlen(name);

	if (read_folders(root, &all, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (strncmp(all[i], name, len) == 0 && all[i][len] == '.')
			all[k++] = all[i];
		else
			free(all[i]);
	}
	*v_r = all;
	*n_r = k;
	return 0;
}

/* Make the Maildir dir (cur/ new/ tmp/ and the maildirfolder mark of Maildir++). */
static int
make_maildir(const char *dir)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char p[PATH_MAX];
	size_t i;
	int fd;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return -1;
	/* maildirfolder first, cur/ last: a folder is listed once cur/ is there, then complete. */
	if (path_join(p, sizeof(p), dir, "maildirfolder") == -1)
		return -1;
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return -1;
	close(fd);
	for (i = 0; i < 3; i++)
		if (path_join(p, sizeof(p), dir, subs[i]) == -1 || (mkdir(p, 0700) == -1 && errno != EEXIST))
			return -1;
	return 0;
}

int
imap_folder_create(const char *root, const char *name, const char **error_r, const char **code_r)
{
	char n[FOLDER_NAME_MAX + 1], dir[PATH_MAX];
	char **all;
	size_t count;

	*code_r = NULL;
	if (check_name(name, n, sizeof(n), error_r, code_r) == -1)
		return -1;
	if (is_inbox(n) || folder_selectable(root, n)) {
		*error_r = "Mailbox already exists";
		*code_r = "ALREADYEXISTS";
		return -1;
	}
	if (read_folders(root, &all, &count) == -1) {
		*error_r = "Cannot read the mailboxes";
		*code_r = "SERVERBUG";
		return -1;
	}
	strv_free(all, count);
	if (count >= FOLDERS_MAX) {
		*error_r = "Too many mailboxes";
		*code_r = "LIMIT";
		return -1;
	}
	if (imap_folder_dir(root, n, dir, sizeof(dir)) == -1 || make_maildir(dir) == -1) {
		*error_r = "Cannot create the mailbox";
		*code_r = "SERVERBUG";
		return -1;
	}
	return 0;
}

/* Remove everything below and including dfd/name (no symbolic link followed), depth bounded. */
static int
rmtree_at(int dfd, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth <= 0)
		return -1;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	d = fdopendir(fd);
	if (d == NULL)
		return close_keep_errno(fd);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (rmtree_at(fd, de->d_name, depth - 1) == -1)
			r = -1;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) == -1)
		r = -1;
	return r;
}

int
imap_folder_delete(const char *root, const char *name, const char **error_r, const char **code_r)
{
	static unsigned counter;
	char n[FOLDER_NAME_MAX + 1], dir[PATH_MAX], trash[PATH_MAX];
	char **kids;
	size_t nkids;
	int rootfd, r;

	*code_r = NULL;
	if (check_name(name, n, sizeof(n), error_r, code_r) == -1)
		return -1;
	if (is_inbox(n)) {
		*error_r = "INBOX can't be deleted";
		*code_r = "CANNOT";
		return -1;
	}
	if (imap_folder_dir(root, n, dir, sizeof(dir)) == -1 || !dir_exists(dir)) {
		*error_r = "Mailbox doesn't exist";
		*code_r = "NONEXISTENT";
		return -1;
	}
	if (children_of(root, n, &kids, &nkids) == -1) {
		*error_r = "Cannot read the mailboxes";
		*code_r = "SERVERBUG";
		return -1;
	}
	strv_free(kids, nkids);
	if (nkids > 0) {
		*error_r = "Mailbox has children, delete them first";
		*code_r = "INUSE";
		return -1;
	}
	/*
	 * Out of sight at once (a name no folder can have: a second leading
	 * '.'), then removed: a session that still has it selected sees its
	 * messages vanish, a LIST meanwhile does not show half a folder.
	 */
	if (path_fmt(trash, sizeof(trash), "%s/..osd-deleted.%ld.%u", root, (long)getpid(), ++counter) == -1 ||
	    rename(dir, trash) == -1) {
		*error_r = "Cannot delete the mailbox";
		*code_r = "SERVERBUG";
		return -1;
	}
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = rootfd == -1 ? -1 : rmtree_at(rootfd, trash + strlen(root) + 1, RMTREE_DEPTH);
	if (rootfd != -1)
		close(rootfd);
	if (r == -1) {
		*error_r = "Cannot delete the mailbox";
		*code_r = "SERVERBUG";
		return -1;
	}
	return 0;
}

/* Move the messages of INBOX into the new folder dest (RFC 3501 section 6.3.5: INBOX stays, empty). */
static int
move_inbox(const char *root, const char *dest)
{
	static const char *const subs[] = { "cur", "new" };
	char src[PATH_MAX], dst[PATH_MAX];
	size_t i;
	int r = 0;

	for (i = 0; i < 2; i++) {
		struct dirent *de;
		int sfd, dfd;
		DIR *d;

		if (path_join(src, sizeof(src), root, subs[i]) == -1 ||
		    path_fmt(dst, sizeof(dst), "%s/%s", dest, subs[i]) == -1)
			return -1;
		sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd == -1)
			continue;
		dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		d = dfd == -1 ? NULL : fdopendir(dup(sfd));
		if (d == NULL) {
			close(sfd);
			if (dfd != -1)
				close(dfd);
			return -1;
		}
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (renameat(sfd, de->d_name, dfd, de->d_name) == -1 && errno != ENOENT)
				r = -1;
		}
		closedir(d);
		close(sfd);
		close(dfd);
	}
	return r;
}

/* Subscriptions of from and its children follow a RENAME. */
static void
rename_subscriptions(const char *root, const char *from, const char *to)
{
	char **subs;
	size_t n, i, flen = strlen(from);
	bool any = false;

	if (read_subscriptions(root, &subs, &n) == -1)
		return;
	for (i = 0; i < n; i++) {
		if (strncmp(subs[i], from, flen) == 0 && (subs[i][flen] == '\0' || subs[i][flen] == '.')) {
			struct buf b;

			buf_init(&b, FOLDER_NAME_MAX + 1);
			if (buf_printf(&b, "%s%s", to, subs[i] + flen) == 0 && imap_folder_name_ok(b.data)) {
				(void)imap_folder_subscribe(root, subs[i], false, NULL);
				(void)imap_folder_subscribe(root, b.data, true, NULL);
				any = true;
			}
			buf_free(&b);
		}
	}
	(void)any;
	strv_free(subs, n);
}

int
imap_folder_rename(const char *root, const char *from, const char *to, const char **error_r,
		   const char **code_r)
{
	char f[FOLDER_NAME_MAX + 1], t[FOLDER_NAME_MAX + 1], fdir[PATH_MAX], tdir[PATH_MAX];
	char **kids;
	size_t nkids, i, flen;
	bool own;

	*code_r = NULL;
	if (check_name(from, f, sizeof(f), error_r, code_r) == -1 ||
	    check_name(to, t, sizeof(t), error_r, code_r) == -1)
		return -1;
	flen = strlen(f);
	if (is_inbox(t) || imap_folder_dir(root, t, tdir, sizeof(tdir)) == -1 || dir_exists(tdir)) {
		*error_r = "Target mailbox already exists";
		*code_r = "ALREADYEXISTS";
		return -1;
	}
	if (strcmp(f, t) == 0 || (strncmp(t, f, flen) == 0 && t[flen] == '.')) {
		*error_r = "Can't rename mailbox under itself";
		*code_r = "CANNOT";
		return -1;
	}
	if (is_inbox(f)) {
		if (make_maildir(tdir) == -1 || move_inbox(root, tdir) == -1) {
			*error_r = "Cannot rename INBOX";
			*code_r = "SERVERBUG";
			return -1;
		}
		return 0;
	}
	if (imap_folder_dir(root, f, fdir, sizeof(fdir)) == -1 || children_of(root, f, &kids, &nkids) == -1) {
		*error_r = "Cannot read the mailboxes";
		*code_r = "SERVERBUG";
		return -1;
	}
	own = dir_exists(fdir);
	if (!own && nkids == 0) {
		strv_free(kids, nkids);
		*error_r = "Mailbox doesn't exist";
		*code_r = "NONEXISTENT";
		return -1;
	}
	/* Every new name first: nothing moves unless all of them can. */
	for (i = 0; i < nkids; i++) {
		char nn[PATH_MAX], nd[PATH_MAX];

		if (path_fmt(nn, sizeof(nn), "%s%s", t, kids[i] + flen) == -1 || strlen(nn) > FOLDER_NAME_MAX ||
		    imap_folder_dir(root, nn, nd, sizeof(nd)) == -1 || dir_exists(nd)) {
			strv_free(kids, nkids);
			*error_r = "Target mailbox already exists";
			*code_r = "ALREADYEXISTS";
			return -1;
		}
	}
	/* The folder keeps its UID list: same UIDVALIDITY and UIDs under the new name. */
	if (own && rename(fdir, tdir) == -1)
		goto fail;
	for (i = 0; i < nkids; i++) {
		char od[PATH_MAX], nn[PATH_MAX], nd[PATH_MAX];

		if (imap_folder_dir(root, kids[i], od, sizeof(od)) == -1 ||
		    path_fmt(nn, sizeof(nn), "%s%s", t, kids[i] + flen) == -1 ||
		    imap_folder_dir(root, nn, nd, sizeof(nd)) == -1 || rename(od, nd) == -1)
			goto fail;
	}
	strv_free(kids, nkids);
	rename_subscriptions(root, f, t);
	return 0;
fail:
	strv_free(kids, nkids);
	*error_r = "Cannot rename the mailbox";
	*code_r = "SERVERBUG";
	return -1;
}

int
imap_folder_subscribe(const char *root, const char *name, bool subscribe, const char **error_r)
{
	struct atomicfile af;
	char path[PATH_MAX];
	char **subs;
	size_t n, i;
	struct buf b;
	bool have;
	int r = 0;

	if (!imap_folder_name_ok(name)) {
		if (error_r != NULL)
			*error_r = "Invalid mailbox name";
		return -1;
	}
	if (read_subscriptions(root, &subs, &n) == -1) {
		if (error_r != NULL)
			*error_r = "Cannot read the subscriptions";
		return -1;
	}
	have = strv_has(subs, n, name);
	if (have == subscribe) {
		strv_free(subs, n);
		return 0;
	}
	if (subscribe && n >= FOLDERS_MAX) {
		strv_free(subs, n);
		if (error_r != NULL)
			*error_r = "Too many subscriptions";
		return -1;
	}
	buf_init(&b, SUBSCRIPTIONS_FILE_MAX + FOLDER_NAME_MAX + 2);
	for (i = 0; i < n && r == 0; i++)
		if (subscribe || strcmp(subs[i], name) != 0)
			r = buf_printf(&b, "%s\n", subs[i]);
	if (subscribe && r == 0)
		r = buf_printf(&b, "%s\n", name);
	strv_free(subs, n);
	if (r == 0 && path_join(path, sizeof(path), root, SUBSCRIPTIONS_NAME) == 0 &&
	    atomicfile_open(&af, path, 0600) == 0)
		r = atomicfile_write_commit(&af, b.data != NULL ? b.data : "", b.len, true);
	else
		r = -1;
	buf_free(&b);
	if (r == -1 && error_r != NULL)
		*error_r = "Cannot write the subscriptions";
	return r;
}

int
imap_folder_status(const char *root, const char *name, struct imap_folder_status *st, const char **error_r,
		   const char **code_r)
{
	struct imap_mailbox *mb;
	uint32_t i, n;

	/* Read-only: nothing moves from new/, no \Recent taken; new files get their UIDs. */
	if (imap_mailbox_open(root, name, true, &mb, error_r, code_r) == -1)
		return -1;
	memset(st, 0, sizeof(*st));
	n = imap_mailbox_count(mb);
	st->messages = n;
	st->recent = imap_mailbox_recent(mb);
	st->uidnext = imap_mailbox_uidnext(mb);
	st->uidvalidity = imap_mailbox_uidvalidity(mb);
	st->highest_modseq = imap_mailbox_highest_modseq(mb);
	for (i = 1; i <= n; i++) {
		const struct imap_msg *m = imap_mailbox_msg(mb, i);

		if (!(m->flags & IMAP_FLAG_SEEN))
			st->unseen++;
		st->size += m->file_size;
	}
	imap_mailbox_close(mb);
	return 0;
}
