/* imap_search.c - SEARCH (RFC 3501 section 6.4.4, RFC 4731 ESEARCH): the keys parsed into a tree once, then matched against each message, the cheap keys first and the message read and parsed at most once. */
#include "imap_search.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ascii.h"
#include "decimal.h"
#include "imap_date.h"
#include "imap_fetch.h"
#include "imap_message.h"
#include "imap_seqset.h"
#include "xmalloc.h"

/* Keys nested by NOT, OR and lists: the parser caps lists; NOT NOT NOT ... is capped here. */
#define SEARCH_DEPTH_MAX 64
/* Ranges in one sequence set before merging (the parser's argument cap bounds the rest). */
#define SEARCH_RANGES_MAX 100000

enum search_key {
	SK_ALL,
	SK_FLAG,                /* the flag bits in flag all set */
	SK_UNFLAG,              /* none of them set */
	SK_KEYWORD,             /* keyword index (-1: a keyword the folder does not have) */
	SK_UNKEYWORD,
	SK_NEW,                 /* \Recent and not \Seen */
	SK_OLD,                 /* not \Recent */
	SK_RECENT,
	SK_SEQ,
	SK_UID,
	SK_LARGER,
	SK_SMALLER,
	SK_BEFORE,              /* INTERNALDATE, as a day in the server's zone */
	SK_ON,
	SK_SINCE,
	SK_SENTBEFORE,          /* the Date: header's day in its own zone */
	SK_SENTON,
	SK_SENTSINCE,
	SK_HEADER,              /* field and str; SUBJECT too */
	SK_ADDRESS,             /* field and str: FROM, TO, CC, BCC, against the parsed addresses */
	SK_BODY,
	SK_TEXT,
	SK_MODSEQ,              /* RFC 7162 section 3.1.5: the message's modseq at least size */
	SK_NOT,
	SK_OR,
	SK_AND
};

/* What a key costs to decide: the cheaper are tried first in an AND or an OR. */
enum search_cost {
	COST_NONE,              /* flags, UIDs, dates: no file */
	COST_SIZE,              /* the size: the name, else the file */
	COST_PARSE              /* the parsed message */
};

struct search_node {
	enum search_key key;
	enum search_cost cost;
	unsigned flag;
	int keyword;
	struct imap_seqset set;
	uint64_t size;
	long day;
	char *field, *str;
	struct search_node **kids;
	size_t n;
};

struct imap_search {
	struct search_node *root;
	unsigned ret;           /* IMAP_SEARCH_RETURN_* */
	bool modseq;            /* a MODSEQ key: the answer ends with the highest modseq */
};

/* The parse of one argument list (the top, or a parenthesised one). */
struct sparse {
	const struct imap_arg *args;
	size_t n, i;
	struct imap_mailbox *mb;
	unsigned depth;
	const char *error;
	bool modseq;            /* a MODSEQ key was seen */
};

/* One message while it is matched: read once, parsed once. */
struct smatch {
	struct imap_mailbox *mb;
	uint32_t seq;
	const struct imap_msg *msg;
	struct buf raw;
	bool have_raw;
	struct imap_message *m;
	bool gone;              /* it could not be read: no match, whatever NOT says */
};

static void
node_free(struct search_node *nd)
{
	size_t i;

	if (nd == NULL)
		return;
	for (i = 0; i < nd->n; i++)
		node_free(nd->kids[i]);
	free(nd->kids);
	imap_seqset_free(&nd->set);
	free(nd->field);
	free(nd->str);
	free(nd);
}

static struct search_node *
node_new(enum search_key key, enum search_cost cost)
{
	struct search_node *nd = xcalloc(1, sizeof(*nd));

	nd->key = key;
	nd->cost = cost;
	return nd;
}

static void
node_add(struct search_node *parent, struct search_node *kid)
{
	parent->kids = xreallocarray(parent->kids, parent->n + 1, sizeof(parent->kids[0]));
	parent->kids[parent->n++] = kid;
	if (kid->cost > parent->cost)
		parent->cost = kid->cost;
}

/* The cheap keys first (stable: the order given otherwise), so that most messages are decided without their file. */
static void
node_sort(struct search_node *nd)
{
	size_t i, j;
	struct search_node *k;

	for (i = 1; i < nd->n; i++) {
		k = nd->kids[i];
		for (j = i; j > 0 && nd->kids[j - 1]->cost > k->cost; j--)
			nd->kids[j] = nd->kids[j - 1];
		nd->kids[j] = k;
	}
}

static bool
arg_is(const struct imap_arg *a, const char *name)
{
	size_t len = strlen(name);

	return a->type == IMAP_ARG_ATOM && a->len == len && ascii_eq_nocase(a->str, name, len);
}

/* The next argument as an astring (atom, quoted string, literal without NUL). */
static const char *
next_astring(struct sparse *p)
{
	const char *s;

	if (p->i == p->n || (s = imap_arg_astring(&p->args[p->i])) == NULL) {
		p->error = "Invalid search key: a string is missing";
		return NULL;
	}
	p->i++;
	return s;
}

/* A date, "1-Feb-1994", as an atom or a quoted string (RFC 3501 section 9, date). */
static bool
next_date(struct sparse *p, long *day_r)
{
	const struct imap_arg *a;

	if (p->i == p->n) {
		p->error = "Invalid search key: a date is missing";
		return false;
	}
	a = &p->args[p->i];
	if ((a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING) ||
	    !imap_date_parse_date(a->str, day_r)) {
		p->error = "Invalid search key: invalid date";
		return false;
	}
	p->i++;
	return true;
}

static bool
next_number(struct sparse *p, uint64_t *v_r)
{
	const struct imap_arg *a;

	if (p->i == p->n) {
		p->error = "Invalid search key: a number is missing";
		return false;
	}
	a = &p->args[p->i];
	/* RFC 9051 number64 */
	if (a->type != IMAP_ARG_ATOM || decimal_parse(a->str, a->len, INT64_MAX, v_r) < 0) {
		p->error = "Invalid search key: invalid number";
		return false;
	}
	p->i++;
	return true;
}

/* The largest UID in the folder, what "*" means in UID sets (0 when empty). */
static uint32_t
last_uid(const struct imap_mailbox *mb)
{
	const struct imap_msg *m = imap_mailbox_msg(mb, imap_mailbox_count(mb));

	return m != NULL ? m->uid : 0;
}

static struct search_node *parse_key(struct sparse *p);

/* Keys up to the end of p's arguments, ANDed. */
static struct search_node *
parse_all(struct sparse *p)
{
	struct search_node *and = node_new(SK_AND, COST_NONE), *k;

	if (p->i == p->n) {
		p->error = "Missing search keys";
		node_free(and);
		return NULL;
	}
	while (p->i < p->n) {
		if ((k = parse_key(p)) == NULL) {
			node_free(and);
			return NULL;
		}
		node_add(and, k);
	}
	node_sort(and);
	return and;
}

/* A key whose argument is a string: field NULL for BODY/TEXT. */
static struct search_node *
parse_text(struct sparse *p, enum search_key key, const char *field)
{
	struct search_node *nd;
	const char *s;

	if ((s = next_astring(p)) == NULL)
		return NULL;
	nd = node_new(key, COST_PARSE);
	nd->str = xstrdup(s);
	if (field != NULL)
		nd->field = xstrdup(field);
	return nd;
}

static struct search_node *
parse_date_key(struct sparse *p, enum search_key key)
{
	struct search_node *nd;
	long day;

	if (!next_date(p, &day))
		return NULL;
	nd = node_new(key, key >= SK_SENTBEFORE ? COST_PARSE : COST_NONE);
	nd->day = day;
	return nd;
}

static struct search_node *
parse_set(struct sparse *p, const char *text, bool uid)
{
	struct search_node *nd = node_new(uid ? SK_UID : SK_SEQ, COST_NONE);
	uint32_t star = uid ? last_uid(p->mb) : imap_mailbox_count(p->mb);

	if (imap_seqset_parse(text, star, SEARCH_RANGES_MAX, &nd->set) < 0) {
		p->error = "Invalid search key: invalid sequence set";
		node_free(nd);
		return NULL;
	}
	return nd;
}

static struct search_node *
parse_keyword(struct sparse *p, enum search_key key)
{
	struct search_node *nd;
	const struct imap_arg *a;

	if (p->i == p->n || p->args[p->i].type != IMAP_ARG_ATOM) {
		p->error = "Invalid search key: a keyword is missing";
		return NULL;
	}
	a = &p->args[p->i++];
	nd = node_new(key, COST_NONE);
	/* A keyword the folder has never seen is set on no message. */
	nd->keyword = imap_mailbox_keyword_index(p->mb, a->str, false);
	return nd;
}

/* NOT key, OR key key, and a parenthesised list: the recursion, bounded. */
static struct search_node *
parse_nested(struct sparse *p, enum search_key key)
{
	struct search_node *nd, *k;
	size_t i, want = key == SK_OR ? 2 : 1;

	if (p->depth >= SEARCH_DEPTH_MAX) {
		p->error = "Search keys nested too deeply";
		return NULL;
	}
	p->depth++;
	nd = node_new(key, COST_NONE);
	for (i = 0; i < want; i++) {
		if (p->i == p->n) {
			p->error = key == SK_OR ? "Invalid search key: OR needs two keys" :
						  "Invalid search key: NOT needs a key";
			node_free(nd);
			p->depth--;
			return NULL;
		}
		if ((k = parse_key(p)) == NULL) {
			node_free(nd);
			p->depth--;
			return NULL;
		}
		node_add(nd, k);
	}
	if (key == SK_OR)
		node_sort(nd);
	p->depth--;
	return nd;
}

static struct search_node *
parse_list(struct sparse *p, const struct imap_arg *list)
{
	struct sparse sub = { .args = list->list, .n = list->count, .mb = p->mb,
			      .depth = p->depth + 1 };
	struct search_node *nd;

	if (sub.depth > SEARCH_DEPTH_MAX) {
		p->error = "Search keys nested too deeply";
		return NULL;
	}
	if ((nd = parse_all(&sub)) == NULL)
		p->error = sub.error;
	return nd;
}

/*
 * MODSEQ [<entry-name> <entry-type-req>] <mod-sequence-valzer> (RFC 7162
 * section 3.1.5): the entry ("/flags/\\seen" and priv, shared or all)
 * is checked and then ignored, as the RFC allows a server that keeps one
 * modseq per message.
 */
static struct search_node *
parse_modseq(struct sparse *p)
{
	struct search_node *nd;
	uint64_t v;

	if (p->i < p->n && p->args[p->i].type != IMAP_ARG_ATOM) {
		const char *entry = imap_arg_astring(&p->args[p->i]);
		const struct imap_arg *t;

		if (entry == NULL || strncasecmp(entry, "/flags/", 7) != 0 || entry[7] == '\0' ||
		    p->i + 1 >= p->n) {
			p->error = "Invalid search key: invalid MODSEQ entry";
			return NULL;
		}
		t = &p->args[p->i + 1];
		if (!arg_is(t, "priv") && !arg_is(t, "shared") && !arg_is(t, "all")) {
			p->error = "Invalid search key: invalid MODSEQ entry type";
			return NULL;
		}
		p->i += 2;
	}
	if (!next_number(p, &v))
		return NULL;
	nd = node_new(SK_MODSEQ, COST_NONE);
	nd->size = v;
	p->modseq = true;
	return nd;
}

static struct search_node *
parse_key(struct sparse *p)
{
	/* The keys without an argument (RFC 3501 section 6.4.4). */
	static const struct {
		const char *name;
		enum search_key key;
		unsigned flag;
	} plain[] = {
		{ "ALL", SK_ALL, 0 },
		{ "ANSWERED", SK_FLAG, IMAP_FLAG_ANSWERED },
		{ "DELETED", SK_FLAG, IMAP_FLAG_DELETED },
		{ "DRAFT", SK_FLAG, IMAP_FLAG_DRAFT },
		{ "FLAGGED", SK_FLAG, IMAP_FLAG_FLAGGED },
		{ "SEEN", SK_FLAG, IMAP_FLAG_SEEN },
		{ "UNANSWERED", SK_UNFLAG, IMAP_FLAG_ANSWERED },
		{ "UNDELETED", SK_UNFLAG, IMAP_FLAG_DELETED },
		{ "UNDRAFT", SK_UNFLAG, IMAP_FLAG_DRAFT },
		{ "UNFLAGGED", SK_UNFLAG, IMAP_FLAG_FLAGGED },
		{ "UNSEEN", SK_UNFLAG, IMAP_FLAG_SEEN },
		{ "NEW", SK_NEW, 0 },
		{ "OLD", SK_OLD, 0 },
		{ "RECENT", SK_RECENT, 0 },
	};
	/* The keys that search a header field for a string. */
	static const struct {
		const char *name;
		const char *field;
		enum search_key key;
	} fields[] = {
		{ "BCC", "Bcc", SK_ADDRESS }, { "CC", "Cc", SK_ADDRESS }, { "FROM", "From", SK_ADDRESS },
		{ "SUBJECT", "Subject", SK_HEADER }, { "TO", "To", SK_ADDRESS },
	};
	static const struct {
		const char *name;
		enum search_key key;
	} dates[] = {
		{ "BEFORE", SK_BEFORE }, { "ON", SK_ON }, { "SINCE", SK_SINCE },
		{ "SENTBEFORE", SK_SENTBEFORE }, { "SENTON", SK_SENTON },
		{ "SENTSINCE", SK_SENTSINCE },
	};
	const struct imap_arg *a = &p->args[p->i];
	struct search_node *nd;
	const char *field;
	uint64_t v;
	size_t i;

	if (a->type == IMAP_ARG_LIST) {
		p->i++;
		return parse_list(p, a);
	}
	if (a->type != IMAP_ARG_ATOM) {
		p->error = "Invalid search key";
		return NULL;
	}
	p->i++;
	if ((a->str[0] >= '0' && a->str[0] <= '9') || a->str[0] == '*')
		return parse_set(p, a->str, false);
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		if (arg_is(a, plain[i].name)) {
			nd = node_new(plain[i].key, COST_NONE);
			nd->flag = plain[i].flag;
			return nd;
		}
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (arg_is(a, fields[i].name))
			return parse_text(p, fields[i].key, fields[i].field);
	}
	for (i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		if (arg_is(a, dates[i].name))
			return parse_date_key(p, dates[i].key);
	}
	if (arg_is(a, "HEADER")) {
		if ((field = next_astring(p)) == NULL)
			return NULL;
		if (field[0] == '\0' || strpbrk(field, ": \t") != NULL) {
			p->error = "Invalid search key: invalid header field name";
			return NULL;
		}
		return parse_text(p, SK_HEADER, field);
	}
	if (arg_is(a, "BODY"))
		return parse_text(p, SK_BODY, NULL);
	if (arg_is(a, "TEXT"))
		return parse_text(p, SK_TEXT, NULL);
	if (arg_is(a, "KEYWORD"))
		return parse_keyword(p, SK_KEYWORD);
	if (arg_is(a, "UNKEYWORD"))
		return parse_keyword(p, SK_UNKEYWORD);
	if (arg_is(a, "LARGER") || arg_is(a, "SMALLER")) {
		bool larger = arg_is(a, "LARGER");

		if (!next_number(p, &v))
			return NULL;
		nd = node_new(larger ? SK_LARGER : SK_SMALLER, COST_SIZE);
		nd->size = v;
		return nd;
	}
	if (arg_is(a, "UID")) {
		if (p->i == p->n || p->args[p->i].type != IMAP_ARG_ATOM) {
			p->error = "Invalid search key: UID needs a set";
			return NULL;
		}
		return parse_set(p, p->args[p->i++].str, true);
	}
	if (arg_is(a, "MODSEQ"))
		return parse_modseq(p);
	if (arg_is(a, "NOT"))
		return parse_nested(p, SK_NOT);
	if (arg_is(a, "OR"))
		return parse_nested(p, SK_OR);
	p->error = "Unknown search key";
	return NULL;
}

/* RETURN (MIN MAX ALL COUNT) of RFC 4731 section 3.1. */
static int
parse_return(const struct imap_arg *list, unsigned *ret_r, const char **error_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {
		{ "MIN", IMAP_SEARCH_RETURN_MIN }, { "MAX", IMAP_SEARCH_RETURN_MAX },
		{ "ALL", IMAP_SEARCH_RETURN_ALL }, { "COUNT", IMAP_SEARCH_RETURN_COUNT },
	};
	size_t i, j;
	unsigned ret = 0;

	if (list->type != IMAP_ARG_LIST) {
		*error_r = "Invalid search return options";
		return -1;
	}
	for (i = 0; i < list->count; i++) {
		for (j = 0; j < sizeof(opts) / sizeof(opts[0]); j++) {
			if (arg_is(&list->list[i], opts[j].name))
				break;
		}
		if (j == sizeof(opts) / sizeof(opts[0])) {
			*error_r = "Unknown search return option";
			return -1;
		}
		ret |= opts[j].bit;
	}
	/* "RETURN ()" is "RETURN (ALL)" (RFC 4731 section 3.1). */
	*ret_r = ret != 0 ? ret : IMAP_SEARCH_RETURN_ALL;
	return 0;
}

int
imap_search_parse(const struct imap_arg *args, size_t n, struct imap_mailbox *mb,
		  struct imap_search **s_r, const char **error_r, const char **code_r, bool *is_bad_r)
{
	struct sparse p = { .args = args, .n = n, .mb = mb };
	struct imap_search *s = xcalloc(1, sizeof(*s));
	const char *charset;

	*s_r = NULL;
	*code_r = NULL;
	*is_bad_r = true;
	if (p.i + 1 < p.n && arg_is(&args[p.i], "RETURN")) {
		if (parse_return(&args[p.i + 1], &s->ret, error_r) < 0)
			goto fail;
		p.i += 2;
	}
	if (p.i < p.n && arg_is(&args[p.i], "CHARSET")) {
		p.i++;
		if ((charset = next_astring(&p)) == NULL) {
			*error_r = "Invalid search key: CHARSET needs a name";
			goto fail;
		}
		/* RFC 3501 section 6.4.4: US-ASCII must be known; UTF-8 is what RFC 9051 requires. */
		if (strcasecmp(charset, "US-ASCII") != 0 && strcasecmp(charset, "UTF-8") != 0) {
			*error_r = "Unknown charset";
			*code_r = "BADCHARSET";
			*is_bad_r = false;
			goto fail;
		}
	}
	if ((s->root = parse_all(&p)) == NULL) {
		*error_r = p.error;
		goto fail;
	}
	s->modseq = p.modseq;
	*s_r = s;
	return 0;
fail:
	imap_search_free(s);
	return -1;
}

void
imap_search_free(struct imap_search *s)
{
	if (s == NULL)
		return;
	node_free(s->root);
	free(s);
}

unsigned
imap_search_return(const struct imap_search *s)
{
	return s->ret;
}

static bool
sm_raw(struct smatch *c)
{
	if (c->have_raw)
		return true;
	if (imap_mailbox_read(c->mb, c->seq, &c->raw) < 0) {
		c->gone = true;
		return false;
	}
	c->have_raw = true;
	return true;
}

static struct imap_message *
sm_message(struct smatch *c)
{
	if (c->m != NULL)
		return c->m;
	if (!sm_raw(c))
		return NULL;
	if ((c->m = imap_message_new(c->raw.data != NULL ? c->raw.data : "", c->raw.len)) == NULL)
		c->gone = true;
	return c->m;
}

/* RFC822.SIZE, as FETCH gives it. */
static bool
sm_size(struct smatch *c, uint64_t *size_r)
{
	size_t len;

	if (c->m != NULL) {
		(void)imap_message_data(c->m, &len);
		*size_r = len;
		return true;
	}
	if (c->msg->name != NULL && imap_fetch_name_vsize(c->msg->name, size_r))
		return true;
	if (!sm_raw(c))
		return false;
	*size_r = imap_message_crlf_size(c->raw.data != NULL ? c->raw.data : "", c->raw.len);
	return true;
}

/* The day of INTERNALDATE in the server's zone (RFC 3501: "disregarding time and timezone"). */
static long
internal_day(time_t when)
{
	struct tm tm;

	if (localtime_r(&when, &tm) == NULL)
		return imap_date_day(when, 0);
	return imap_date_day(when, (int)(tm.tm_gmtoff / 60));
}

static bool
compare_day(enum search_key key, long day, long want)
{
	switch (key) {
	case SK_BEFORE:
	case SK_SENTBEFORE:
		return day < want;
	case SK_ON:
	case SK_SENTON:
		return day == want;
	default:
		return day >= want;
	}
}

static bool
eval(const struct search_node *nd, struct smatch *c)
{
	const struct imap_msg *msg = c->msg;
	struct imap_message *m;
	uint64_t size;
	time_t when;
	int tz;
	size_t i;

	switch (nd->key) {
	case SK_ALL:
		return true;
	case SK_FLAG:
		return (msg->flags & nd->flag) == nd->flag;
	case SK_UNFLAG:
		return (msg->flags & nd->flag) == 0;
	case SK_KEYWORD:
		return nd->keyword >= 0 && (msg->keywords & (UINT32_C(1) << nd->keyword)) != 0;
	case SK_UNKEYWORD:
		return nd->keyword < 0 || (msg->keywords & (UINT32_C(1) << nd->keyword)) == 0;
	case SK_NEW:
		return msg->recent && (msg->flags & IMAP_FLAG_SEEN) == 0;
	case SK_OLD:
		return !msg->recent;
	case SK_RECENT:
		return msg->recent;
	case SK_SEQ:
		return imap_seqset_has(&nd->set, c->seq);
	case SK_UID:
		return imap_seqset_has(&nd->set, msg->uid);
	case SK_LARGER:
	case SK_SMALLER:
		if (!sm_size(c, &size))
			return false;
		return nd->key == SK_LARGER ? size > nd->size : size < nd->size;
	case SK_BEFORE:
	case SK_ON:
	case SK_SINCE:
		return compare_day(nd->key, internal_day(msg->internal_date), nd->day);
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE:
		/* A missing or unreadable Date: matches no date. */
		if ((m = sm_message(c)) == NULL || !imap_message_sent_date(m, &when, &tz))
			return false;
		return compare_day(nd->key, imap_date_day(when, tz), nd->day);
	case SK_HEADER:
		return (m = sm_message(c)) != NULL && imap_message_header_has(m, nd->field, nd->str);
	case SK_ADDRESS:
		return (m = sm_message(c)) != NULL && imap_message_address_has(m, nd->field, nd->str);
	case SK_BODY:
	case SK_TEXT:
		return (m = sm_message(c)) != NULL &&
		       imap_message_text_has(m, nd->str, nd->key == SK_TEXT);
	case SK_MODSEQ:
		return msg->modseq >= nd->size;
	case SK_NOT:
		return !eval(nd->kids[0], c);
	case SK_OR:
		return eval(nd->kids[0], c) || eval(nd->kids[1], c);
	case SK_AND:
		for (i = 0; i < nd->n; i++) {
			if (!eval(nd->kids[i], c))
				return false;
		}
		return true;
	}
	return false;
}

bool
imap_search_match(struct imap_search *s, struct imap_mailbox *mb, uint32_t seq)
{
	struct smatch c = { .mb = mb, .seq = seq };
	bool match;

	if ((c.msg = imap_mailbox_msg(mb, seq)) == NULL || c.msg->expunged)
		return false;
	buf_init(&c.raw, 0);
	match = eval(s->root, &c);
	if (c.gone)
		match = false;
	imap_message_free(c.m);
	buf_free(&c.raw);
	return match;
}

/* v[0..n) ascending as a sequence set, "2:4,7". */
static void
write_set(const uint32_t *v, size_t n, struct buf *out)
{
	size_t i = 0, j;

	while (i < n) {
		for (j = i; j + 1 < n && v[j + 1] == v[j] + 1; j++)
			;
		if (i > 0)
			buf_append_char(out, ',');
		if (j > i)
			buf_printf(out, "%lu:%lu", (unsigned long)v[i], (unsigned long)v[j]);
		else
			buf_printf(out, "%lu", (unsigned long)v[i]);
		i = j + 1;
	}
}

bool
imap_search_uses_modseq(const struct imap_search *s)
{
	return s->modseq;
}

void
imap_search_reply(const struct imap_search *s, const char *tag, bool uid, const uint32_t *v,
		  size_t n, struct buf *out)
{
	imap_search_reply_modseq(s, tag, uid, v, NULL, n, out);
}

void
imap_search_reply_modseq(const struct imap_search *s, const char *tag, bool uid, const uint32_t *v,
			 const uint64_t *ms, size_t n, struct buf *out)
{
	uint64_t high = 0;
	const char *t;
	size_t i;

	/*
	 * RFC 7162 section 3.1.5: after a MODSEQ key, the highest modseq of
	 * the messages returned (of MIN and MAX alone: those two; of ALL or
	 * COUNT: all), and nothing when none matched.
	 */
	if (s->modseq && ms != NULL && n > 0) {
		if (s->ret == 0 || (s->ret & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT)) != 0) {
			for (i = 0; i < n; i++)
				if (ms[i] > high)
					high = ms[i];
		} else {
			if ((s->ret & IMAP_SEARCH_RETURN_MIN) != 0)
				high = ms[0];
			if ((s->ret & IMAP_SEARCH_RETURN_MAX) != 0 && ms[n - 1] > high)
				high = ms[n - 1];
		}
	}
	if (s->ret == 0) {
		buf_append_str(out, "* SEARCH");
		for (i = 0; i < n; i++)
			buf_printf(out, " %lu", (unsigned long)v[i]);
		if (high != 0)
			buf_printf(out, " (MODSEQ %llu)", (unsigned long long)high);
		buf_append_str(out, "\r\n");
		return;
	}
	/* RFC 4731 section 3.1: the tag as a quoted string. */
	buf_append_str(out, "* ESEARCH (TAG \"");
	for (t = tag; *t != '\0'; t++) {
		if (*t == '"' || *t == '\\')
			buf_append_char(out, '\\');
		buf_append_char(out, *t);
	}
	buf_append_str(out, "\")");
	if (uid)
		buf_append_str(out, " UID");
	if ((s->ret & IMAP_SEARCH_RETURN_MIN) != 0 && n > 0)
		buf_printf(out, " MIN %lu", (unsigned long)v[0]);
	if ((s->ret & IMAP_SEARCH_RETURN_MAX) != 0 && n > 0)
		buf_printf(out, " MAX %lu", (unsigned long)v[n - 1]);
	if ((s->ret & IMAP_SEARCH_RETURN_ALL) != 0 && n > 0) {
		buf_append_str(out, " ALL ");
		write_set(v, n, out);
	}
	/* Dovecot's order: MIN MAX ALL COUNT. */
	if ((s->ret & IMAP_SEARCH_RETURN_COUNT) != 0)
		buf_printf(out, " COUNT %zu", n);
	if (high != 0)
		buf_printf(out, " MODSEQ %llu", (unsigned long long)high);
	buf_append_str(out, "\r\n");
}
