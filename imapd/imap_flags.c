/* imap_flags.c - the flag lists of STORE and APPEND: system flags, keywords, STORE's FLAGS / +FLAGS / -FLAGS [.SILENT] (RFC 3501 sections 2.3.2, 6.4.6, 9). */
#include "imap_flags.h"

#include <string.h>

#include "ascii.h"
#include "imap_mailbox.h"

static const struct {
	const char *name;
	unsigned bit;
} system_flags[] = {
	{ "\\Seen", IMAP_FLAG_SEEN },
	{ "\\Answered", IMAP_FLAG_ANSWERED },
	{ "\\Flagged", IMAP_FLAG_FLAGGED },
	{ "\\Deleted", IMAP_FLAG_DELETED },
	{ "\\Draft", IMAP_FLAG_DRAFT },
};

bool
imap_flags_keyword_ok(const char *name, size_t len)
{
	if (len == 0 || len > IMAP_FLAGS_KEYWORD_LEN_MAX || name[0] == '\\')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* ATOM-CHAR: any CHAR (7-bit) but atom-specials: ( ) { SP CTL % * " \ ] */
		if (c >= 0x80 || ascii_is_ctl(c) || strchr("(){ %*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

/* One flag into fl: 0, or -1 with *error_r. */
static int
add_flag(const struct imap_arg *a, struct imap_flag_list *fl, const char **error_r)
{
	/* NIL is an atom here: the keyword "NIL", as Dovecot takes it (imaptest "nil"). */
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL) {
		*error_r = "Flags list contains non-atoms.";
		return -1;
	}
	if (a->str[0] == '\\') {
		/* \Recent is the server's alone and \* only a PERMANENTFLAGS word (RFC 3501 section 2.3.2). */
		for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++) {
			if (a->len == strlen(system_flags[i].name) &&
			    ascii_eq_nocase(a->str, system_flags[i].name, a->len)) {
				fl->flags |= system_flags[i].bit;
				return 0;
			}
		}
		*error_r = "Invalid system flag";
		return -1;
	}
	if (!imap_flags_keyword_ok(a->str, a->len)) {
		*error_r = "Invalid characters in keyword";
		return -1;
	}
	for (size_t i = 0; i < fl->n_keywords; i++)
		if (strlen(fl->keywords[i]) == a->len && ascii_eq_nocase(fl->keywords[i], a->str, a->len))
			return 0;
	if (fl->n_keywords == IMAP_FLAGS_KEYWORDS_MAX) {
		*error_r = "Too many keywords";
		return -1;
	}
	fl->keywords[fl->n_keywords++] = a->str;
	return 0;
}

int
imap_flags_parse(const struct imap_arg *args, size_t n, struct imap_flag_list *fl_r,
		 const char **error_r)
{
	const struct imap_arg *v = args;
	size_t count = n;

	memset(fl_r, 0, sizeof(*fl_r));
	if (n == 1 && args[0].type == IMAP_ARG_LIST) {
		v = args[0].list;
		count = args[0].count;
	}
	for (size_t i = 0; i < count; i++)
		if (add_flag(&v[i], fl_r, error_r) < 0)
			return -1;
	return 0;
}

int
imap_flags_parse_store_op(const struct imap_arg *arg, enum imap_store_op *op_r, bool *silent_r,
			  const char **error_r)
{
	const char *p = arg->str;
	size_t len = arg->len;
	enum imap_store_op op = IMAP_STORE_REPLACE;

	if (arg->type != IMAP_ARG_ATOM)
		goto bad;
	if (len > 0 && (p[0] == '+' || p[0] == '-')) {
		op = p[0] == '+' ? IMAP_STORE_ADD : IMAP_STORE_REMOVE;
		p++;
		len--;
	}
	if (len == 5 && ascii_eq_nocase(p, "FLAGS", 5)) {
		*silent_r = false;
	} else if (len == 12 && ascii_eq_nocase(p, "FLAGS.SILENT", 12)) {
		*silent_r = true;
	} else {
		goto bad;
	}
	*op_r = op;
	return 0;
bad:
	*error_r = "Invalid arguments.";
	return -1;
}

void
imap_flags_apply(enum imap_store_op op, unsigned cur_flags, uint32_t cur_keywords,
		 unsigned flags, uint32_t keywords, unsigned *flags_r, uint32_t *keywords_r)
{
	switch (op) {
	case IMAP_STORE_REPLACE:
		*flags_r = flags;
		*keywords_r = keywords;
		break;
	case IMAP_STORE_ADD:
		*flags_r = cur_flags | flags;
		*keywords_r = cur_keywords | keywords;
		break;
	case IMAP_STORE_REMOVE:
		*flags_r = cur_flags & ~flags;
		*keywords_r = cur_keywords & ~keywords;
		break;
	}
}
