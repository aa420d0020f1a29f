/* relaydb.c - relay.cdb written as tcprules writes it, read as tcpserver -x reads it. */
#include "relaydb.h"

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cdbbuild.h"
#include "fdclose.h"
#include "relaykey.h"

const struct relaydb_dynamic relaydb_dynamic_default = {
	RELAYDB_DYNAMIC_VALUE, RELAYDB_DYNAMIC_VALUE_LEN, RELAYKEY_PREFIX_ADDRESS
};

/* Would a static rule other than the default deny this client? */
static bool
denied_by_static(struct rules *statics, const char *key, size_t keylen)
{
	const struct rule_record *rec;

	if (statics == NULL || statics->count == 0 || !rules_have_deny(statics))
		return false;
	rec = rules_match(statics, key, keylen);
	return rec != NULL && rec->keylen > 0 && rules_record_is_deny(rec);
}

void
relaydb_rec_for(struct rules *statics, const struct relaydb_dynamic *dyn, const struct ipaddr *entry,
		struct relaydb_rec *rec_r)
{
	struct relaykey k;

	relaykey_for(entry, (dyn != NULL ? dyn : &relaydb_dynamic_default)->ipv6_prefix, &k);
	rec_r->left_out = denied_by_static(statics, k.match, k.matchlen);
	rec_r->keylen = (uint8_t)k.keylen;
	memcpy(rec_r->key, k.key, k.keylen);
	rec_r->hash = cdbbuild_hash(k.key, k.keylen);
}

long
relaydb_write_recs(struct cdbbuild *b, const char *path, struct rules *statics,
		   const struct relaydb_dynamic *dyn, relaydb_next_rec_fn *next, void *ctx, int sync)
{
	struct atomicfile af;
	long count = 0;

	if (dyn == NULL)
		dyn = &relaydb_dynamic_default;
	if (atomicfile_open(&af, path, 0644) < 0)
		return -1;
	/* Written as it is built, a chunk at a time (cdb_make wrote 4 KB at a time). */
	cdbbuild_start(b, af.fd);
	/* Static rules first: for a key present twice, the first record is
	 * the one tcpserver finds, so an admin's rule beats a login. */
	for (size_t i = 0; statics != NULL && i < statics->count; i++) {
		const struct rule_record *rec = &statics->records[i];

		if (cdbbuild_add(b, rec->key, rec->keylen, cdbbuild_hash(rec->key, rec->keylen),
				 rec->value, rec->valuelen) < 0)
			goto fail;
		count++;
	}
	for (;;) {
		const struct relaydb_rec *rec;
		int r = next ? next(ctx, &rec) : 0;

		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		if (rec->left_out)
			continue;
		if (cdbbuild_add(b, rec->key, rec->keylen, rec->hash, dyn->value, dyn->valuelen) < 0)
			goto fail;
		count++;
	}
	if (cdbbuild_finish(b) < 0)
		goto fail;
	if (atomicfile_commit_how(&af, sync) < 0)
		return -1;
	return count;
fail:
	atomicfile_abort(&af);          /* keeps errno; path untouched */
	return -1;
}

/* relaydb_write's entries, each made into its record as it comes. */
struct addr_iter {
	relaydb_next_fn *next;
	void *ctx;
	struct rules *statics;
	const struct relaydb_dynamic *dyn;
	struct relaydb_rec rec;
};

static int
next_addr_rec(void *ctx, const struct relaydb_rec **rec_r)
{
	struct addr_iter *it = ctx;
	struct ipaddr entry;
	int r = it->next(it->ctx, &entry);

	if (r <= 0)
		return r;
	relaydb_rec_for(it->statics, it->dyn, &entry, &it->rec);
	*rec_r = &it->rec;
	return 1;
}

long
relaydb_write(const char *path, struct rules *statics, const struct relaydb_dynamic *dyn,
	      relaydb_next_fn *next, void *ctx, bool do_fsync)
{
	struct addr_iter it = { next, ctx, statics, dyn, { 0 } };
	struct cdbbuild b;
	long n;
	int saved;

	cdbbuild_init(&b);
	n = relaydb_write_recs(&b, path, statics, dyn, next != NULL ? next_addr_rec : NULL, &it,
			       do_fsync ? ATOMICFILE_SYNC_ALL : 0);
	saved = errno;
	cdbbuild_free(&b);
	errno = saved;
	return n;
}

int
relaydb_decode_value(const char *value, size_t len, struct relaydb_result *res)
{
	size_t pos = 0;

	res->allow = true;
	res->env_count = 0;
	while (pos < len) {
		const char *item = value + pos;
		const char *nul = memchr(item, '\0', len - pos);
		size_t itemlen;

		/* tcprules ends every item with NUL; tcpserver skips an item
		 * without one, so "D" alone would mean allow there: refuse to
		 * guess and call the table malformed. */
		if (nul == NULL)
			goto invalid;
		itemlen = (size_t)(nul - item);

		pos += itemlen + 1;
		if (itemlen == 0)
			continue;
		if (item[0] == 'D' && itemlen == 1) {
			res->allow = false;
		} else if (item[0] == '+') {
			const char *eq = memchr(item, '=', itemlen);
			struct relaydb_env *env;
			size_t namelen, vallen;

			if (eq == NULL || res->env_count >= RELAYDB_ENV_MAX)
				goto invalid;
			namelen = (size_t)(eq - item) - 1;
			vallen = itemlen - namelen - 2;
			env = &res->env[res->env_count];
			if (namelen == 0 || namelen >= sizeof env->name || vallen >= sizeof env->value)
				goto invalid;
			memcpy(env->name, item + 1, namelen);
			env->name[namelen] = '\0';
			memcpy(env->value, eq + 1, vallen);
			env->value[vallen] = '\0';
			res->env_count++;
		} else {
			goto invalid;
		}
	}
	return 0;
invalid:
	errno = EINVAL;
	return -1;
}

static unsigned
count_records(struct cdb *c, const char *key, size_t keylen)
{
	struct cdb_find cf;
	unsigned n = 0;

	if (cdb_findinit(&cf, c, key, (unsigned)keylen) < 0)
		return 1;
	while (cdb_findnext(&cf) > 0)
		n++;
	return n;
}

int
relaydb_find(struct cdb *c, const char *key, size_t keylen, struct relaydb_result *res)
{
	int r = cdb_find(c, key, (unsigned)keylen);
	unsigned vlen;
	const char *val;

	if (r <= 0)
		return r;
	vlen = cdb_datalen(c);
	val = cdb_get(c, vlen, cdb_datapos(c));
	if (val == NULL)
		return -1;
	if (relaydb_decode_value(val, vlen, res) < 0)
		return -1;
	res->matched = true;
	res->nrecords = count_records(c, key, keylen);
	memcpy(res->key, key, keylen);
	res->key[keylen] = '\0';
	return 1;
}

int
relaydb_lookup_fd(int fd, const struct ipaddr *addr, struct relaydb_result *res)
{
	struct cdb c;
	char key[IPADDR_TEXT_MAX];
	size_t keylen = ipaddr_format_key(addr, key);
	int r;

	memset(res, 0, sizeof *res);
	res->allow = true;      /* tcpserver allows when no rule matches */
	if (cdb_init(&c, fd) < 0)
		return -1;
	r = relaydb_find(&c, key, keylen, res);
	/* Then every prefix that ends at a '.' or ':', longest first. */
	for (size_t len = keylen; r == 0 && len > 0; len--)
		if (key[len - 1] == '.' || key[len - 1] == ':')
			r = relaydb_find(&c, key, len, res);
	if (r == 0)
		r = relaydb_find(&c, "", 0, res);
	cdb_free(&c);
	return r < 0 ? -1 : 0;
}

int
relaydb_lookup(const char *path, const struct ipaddr *addr, struct relaydb_result *res)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0) {
		if (errno != ENOENT)
			return -1;
		memset(res, 0, sizeof *res);
		res->allow = true;
		return 0;
	}
	r = relaydb_lookup_fd(fd, addr, res);
	(void)close_keep_errno(fd);
	return r;
}

const char *
relaydb_getenv(const struct relaydb_result *res, const char *name)
{
	for (size_t i = 0; i < res->env_count; i++)
		if (strcmp(res->env[i].name, name) == 0)
			return res->env[i].value;
	return NULL;
}
