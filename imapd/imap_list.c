/* imap_list.c - LIST and LSUB: the command's options and patterns, '*' and '%' matching, and the untagged LIST/LSUB/STATUS lines (RFC 3501, RFC 5258, RFC 6154, RFC 5819). */
#include "imap_list.h"

#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "imap_session_int.h"
#include "xmalloc.h"

/* Does arg, an atom, spell word (without case)? */
static bool
atom_is(const struct imap_arg *a, const char *word)
{
	size_t len = strlen(word);

	return a->type == IMAP_ARG_ATOM && a->len == len && ascii_eq_nocase(a->str, word, len);
}

/* A pattern or reference: an atom (wildcards included, NIL too), a string or a literal, without NUL. */
static const char *
arg_text(const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL && a->type != IMAP_ARG_STRING &&
	    a->type != IMAP_ARG_LITERAL)
		return NULL;
	if (strlen(a->str) != a->len)
		return NULL;
	return a->str;
}

static void
add_pattern(struct imap_list_cmd *cmd, const char *ref, const char *pattern)
{
	size_t rl = strlen(ref);
	char *joined;

	if (*pattern == '\0') {
		cmd->root = true;
		return;
	}
	/* "Lists." + ".osd": one separator, not two (as Dovecot joins them). */
	if (rl > 0 && ref[rl - 1] == IMAP_LIST_SEP && pattern[0] == IMAP_LIST_SEP)
		pattern++;
	joined = xmalloc(rl + strlen(pattern) + 1);
	memcpy(joined, ref, rl);
	memcpy(joined + rl, pattern, strlen(pattern) + 1);
	cmd->patterns[cmd->n_patterns++] = joined;
}

static int
parse_select(const struct imap_arg *list, unsigned *select_r, const char **error_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {
		{ "SUBSCRIBED", IMAP_LIST_SEL_SUBSCRIBED },
		{ "REMOTE", IMAP_LIST_SEL_REMOTE },
		{ "RECURSIVEMATCH", IMAP_LIST_SEL_RECURSIVEMATCH },
		{ "SPECIAL-USE", IMAP_LIST_SEL_SPECIAL_USE },
	};
	unsigned select = 0;

	for (size_t i = 0; i < list->count; i++) {
		size_t k;

		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (atom_is(&list->list[i], opts[k].name))
				break;
		if (k == sizeof(opts) / sizeof(opts[0])) {
			*error_r = "Unknown LIST selection option";
			return -1;
		}
		select |= opts[k].bit;
	}
	/* RFC 5258 section 3.1: RECURSIVEMATCH only modifies another option (REMOTE does not count). */
	if ((select & IMAP_LIST_SEL_RECURSIVEMATCH) != 0 &&
	    (select & ~(IMAP_LIST_SEL_RECURSIVEMATCH | IMAP_LIST_SEL_REMOTE)) == 0) {
		*error_r = "RECURSIVEMATCH must be given with another selection option";
		return -1;
	}
	*select_r = select;
	return 0;
}

static int
parse_return(const struct imap_arg *list, struct imap_list_cmd *cmd, const char **error_r)
{
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];

		if (atom_is(a, "SUBSCRIBED")) {
			cmd->ret |= IMAP_LIST_RET_SUBSCRIBED;
		} else if (atom_is(a, "CHILDREN")) {
			cmd->ret |= IMAP_LIST_RET_CHILDREN;
		} else if (atom_is(a, "SPECIAL-USE")) {
			cmd->ret |= IMAP_LIST_RET_SPECIAL_USE;
		} else if (atom_is(a, "STATUS") && i + 1 < list->count &&
			   list->list[i + 1].type == IMAP_ARG_LIST) {
			if (imap_status_items_parse(&list->list[i + 1], &cmd->status_items, error_r) < 0)
				return -1;
			cmd->ret |= IMAP_LIST_RET_STATUS;
			i++;
		} else {
			*error_r = "Unknown LIST return option";
			return -1;
		}
	}
	return 0;
}

int
imap_list_parse(const struct imap_arg *args, size_t n, bool lsub, struct imap_list_cmd *cmd_r,
		const char **error_r)
{
	struct imap_list_cmd cmd = { .lsub = lsub };
	const struct imap_arg *pat;
	const char *ref;
	size_t i = 0;

	if (!lsub && n > 0 && args[0].type == IMAP_ARG_LIST) {
		if (parse_select(&args[0], &cmd.select, error_r) < 0)
			return -1;
		i++;
	}
	if (n < i + 2 || (ref = arg_text(&args[i])) == NULL) {
		*error_r = "Invalid arguments.";
		return -1;
	}
	pat = &args[i + 1];
	i += 2;
	if (!lsub && i < n) {
		if (i + 2 != n || !atom_is(&args[i], "RETURN") || args[i + 1].type != IMAP_ARG_LIST) {
			*error_r = "Invalid arguments.";
			return -1;
		}
		if (parse_return(&args[i + 1], &cmd, error_r) < 0)
			return -1;
		i += 2;
	}
	if (i != n) {
		*error_r = "Invalid arguments.";
		return -1;
	}
	if (pat->type == IMAP_ARG_LIST && (lsub || pat->count == 0 ||
					   pat->count > IMAP_LIST_PATTERNS_MAX)) {
		*error_r = "Invalid arguments.";
		return -1;
	}
	for (size_t k = 0; k < (pat->type == IMAP_ARG_LIST ? pat->count : 1); k++) {
		const struct imap_arg *p = pat->type == IMAP_ARG_LIST ? &pat->list[k] : pat;
		const char *text = arg_text(p);

		if (text == NULL || strlen(ref) + p->len > IMAP_LIST_PATTERN_MAX) {
			*error_r = text == NULL ? "Invalid arguments." : "Pattern too long";
			return -1;
		}
	}
	/* SUBSCRIBED selects by subscription and says so (RFC 5258 section 3.1). */
	if ((cmd.select & IMAP_LIST_SEL_SUBSCRIBED) != 0)
		cmd.ret |= IMAP_LIST_RET_SUBSCRIBED;
	cmd.reference = xstrdup(ref);
	cmd.patterns = xcalloc(pat->type == IMAP_ARG_LIST ? pat->count : 1, sizeof(char *));
	for (size_t k = 0; k < (pat->type == IMAP_ARG_LIST ? pat->count : 1); k++)
		add_pattern(&cmd, ref, arg_text(pat->type == IMAP_ARG_LIST ? &pat->list[k] : pat));
	*cmd_r = cmd;
	return 0;
}

void
imap_list_cmd_free(struct imap_list_cmd *cmd)
{
	for (size_t i = 0; i < cmd->n_patterns; i++)
		free(cmd->patterns[i]);
	free(cmd->patterns);
	free(cmd->reference);
	memset(cmd, 0, sizeof(*cmd));
}

/* States j (pattern[j..] left to match) reached without consuming: past the wildcards, which may match nothing. */
static void
close_states(const char *pattern, size_t pl, bool *s)
{
	for (size_t j = 0; j < pl; j++)
		if (s[j] && (pattern[j] == '*' || pattern[j] == '%'))
			s[j + 1] = true;
}

bool
imap_list_match(const char *pattern, const char *name)
{
	bool a[IMAP_LIST_PATTERN_MAX + 1], b[IMAP_LIST_PATTERN_MAX + 1];
	bool *cur = a, *next = b;
	size_t pl = strlen(pattern);
	size_t inbox = 0;

	if (pl > IMAP_LIST_PATTERN_MAX)
		return false;
	/* INBOX is case-insensitive (RFC 3501 section 5.1): so is that part of a name. */
	if (ascii_eq_nocase(name, "INBOX", strlen(name) < 5 ? strlen(name) + 1 : 5) &&
	    (name[5] == '\0' || name[5] == IMAP_LIST_SEP))
		inbox = 5;
	memset(a, 0, pl + 1);
	a[0] = true;
	close_states(pattern, pl, cur);
	for (size_t i = 0; name[i] != '\0'; i++) {
		char c = name[i];
		bool any = false;

		memset(next, 0, pl + 1);
		for (size_t j = 0; j < pl; j++) {
			char pc = pattern[j];

			if (!cur[j])
				continue;
			if (pc == '*' || (pc == '%' && c != IMAP_LIST_SEP)) {
				next[j] = any = true;
			} else if (pc == c || (i < inbox && ascii_lower(pc) == ascii_lower(c))) {
				next[j + 1] = any = true;
			}
		}
		if (!any)
			return false;
		close_states(pattern, pl, next);
		bool *t = cur;
		cur = next;
		next = t;
	}
	return cur[pl];
}

int
imap_status_items_parse(const struct imap_arg *list, unsigned *items_r, const char **error_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} items[] = {
		{ "MESSAGES", IMAP_STATUS_MESSAGES },
		{ "RECENT", IMAP_STATUS_RECENT },
		{ "UIDNEXT", IMAP_STATUS_UIDNEXT },
		{ "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
		{ "UNSEEN", IMAP_STATUS_UNSEEN },
		{ "SIZE", IMAP_STATUS_SIZE },
		{ "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ },
	};
	unsigned bits = 0;

	if (list->type != IMAP_ARG_LIST || list->count == 0) {
		*error_r = "Status items must be a non-empty list";
		return -1;
	}
	for (size_t i = 0; i < list->count; i++) {
		size_t k;

		for (k = 0; k < sizeof(items) / sizeof(items[0]); k++)
			if (atom_is(&list->list[i], items[k].name))
				break;
		if (k == sizeof(items) / sizeof(items[0])) {
			*error_r = "Invalid status item";
			return -1;
		}
		bits |= items[k].bit;
	}
	*items_r = bits;
	return 0;
}

void
imap_status_write(struct buf *out, const char *name, unsigned items,
		  const struct imap_folder_status *st)
{
	const char *sep = "";

	buf_append_str(out, "* STATUS ");
	imap_write_string(out, name, strlen(name));
	buf_append_str(out, " (");
	if (items & IMAP_STATUS_MESSAGES) {
		buf_printf(out, "%sMESSAGES %u", sep, (unsigned)st->messages);
		sep = " ";
	}
	if (items & IMAP_STATUS_RECENT) {
		buf_printf(out, "%sRECENT %u", sep, (unsigned)st->recent);
		sep = " ";
	}
	if (items & IMAP_STATUS_UIDNEXT) {
		buf_printf(out, "%sUIDNEXT %u", sep, (unsigned)st->uidnext);
		sep = " ";
	}
	if (items & IMAP_STATUS_UIDVALIDITY) {
		buf_printf(out, "%sUIDVALIDITY %u", sep, (unsigned)st->uidvalidity);
		sep = " ";
	}
	if (items & IMAP_STATUS_UNSEEN) {
		buf_printf(out, "%sUNSEEN %u", sep, (unsigned)st->unseen);
		sep = " ";
	}
	if (items & IMAP_STATUS_HIGHESTMODSEQ) {
		buf_printf(out, "%sHIGHESTMODSEQ %llu", sep, (unsigned long long)st->highest_modseq);
		sep = " ";
	}
	if (items & IMAP_STATUS_SIZE)
		buf_printf(out, "%sSIZE %llu", sep, (unsigned long long)st->size);
	buf_append_str(out, ")\r\n");
}

static bool
matches_any(const struct imap_list_cmd *cmd, const char *name)
{
	for (size_t i = 0; i < cmd->n_patterns; i++)
		if (imap_list_match(cmd->patterns[i], name))
			return true;
	return false;
}

/*
 * Is some folder below v[k] (its name, a '.', more) subscribed?  With
 * unmatched_only, only one that no pattern matches counts: RECURSIVEMATCH's
 * CHILDINFO tells of children the reply does not list (RFC 5258 section 3.5).
 */
static bool
child_subscribed(const struct imap_list_cmd *cmd, const struct imap_folder *v, size_t n, size_t k,
		 bool unmatched_only)
{
	size_t len = strlen(v[k].name);

	for (size_t i = 0; i < n; i++)
		if (i != k && v[i].subscribed && strncmp(v[i].name, v[k].name, len) == 0 &&
		    v[i].name[len] == IMAP_LIST_SEP && (!unmatched_only || !matches_any(cmd, v[i].name)))
			return true;
	return false;
}

static void
add_attr(struct buf *out, bool *first, const char *attr)
{
	if (!*first)
		buf_append_char(out, ' ');
	buf_append_str(out, attr);
	*first = false;
}

static void
write_root(const struct imap_list_cmd *cmd, struct buf *out)
{
	const char *dot = strchr(cmd->reference, IMAP_LIST_SEP);
	size_t len = dot != NULL ? (size_t)(dot - cmd->reference) + 1 : 0;
	char *root = xstrndup(cmd->reference, len);

	/* RFC 3501 section 6.3.8: "" names the separator and the reference's root, "" here. */
	buf_printf(out, "* %s (\\Noselect) \"%c\" ", cmd->lsub ? "LSUB" : "LIST", IMAP_LIST_SEP);
	imap_write_string(out, root, strlen(root));
	buf_append_str(out, "\r\n");
	free(root);
}

void
imap_list_reply(const struct imap_list_cmd *cmd, const struct imap_folder *v, size_t n,
		imap_list_status_fn *status, void *status_ctx, struct buf *out)
{
	if (cmd->root)
		write_root(cmd, out);
	for (size_t k = 0; k < n; k++) {
		const struct imap_folder *f = &v[k];
		bool first = true, childinfo = false, noselect = f->noselect;
		/* \Noselect without children: a subscription whose folder is gone (see imap_list.h). */
		bool nonexistent = f->noselect && !f->has_children;

		if (!matches_any(cmd, f->name))
			continue;
		if (cmd->lsub) {
			/* A parent of a subscribed folder matched by '%' is listed \Noselect (RFC 3501 section 6.3.9). */
			if (!f->subscribed) {
				if (!child_subscribed(cmd, v, n, k, true))
					continue;
				noselect = true;
			}
			buf_append_str(out, "* LSUB (");
			if (noselect)
				add_attr(out, &first, "\\Noselect");
			/* Dovecot shows the special use in LSUB too. */
			if (f->special_use != NULL)
				add_attr(out, &first, f->special_use);
			buf_printf(out, ") \"%c\" ", IMAP_LIST_SEP);
			imap_write_string(out, f->name, strlen(f->name));
			buf_append_str(out, "\r\n");
			continue;
		}
		if (cmd->select & IMAP_LIST_SEL_SUBSCRIBED) {
			/* RECURSIVEMATCH: a folder with a subscribed child is listed, with CHILDINFO (RFC 5258 section 3.5). */
			if ((cmd->select & IMAP_LIST_SEL_RECURSIVEMATCH) && child_subscribed(cmd, v, n, k, true))
				childinfo = true;
			if (!f->subscribed && !childinfo)
				continue;
		} else if (nonexistent) {
			continue;       /* only subscriptions list what does not exist (RFC 5258 section 3.1) */
		}
		if ((cmd->select & IMAP_LIST_SEL_SPECIAL_USE) && (f->special_use == NULL || nonexistent))
			continue;
		/* The order Dovecot writes them in: \Subscribed, \Noselect, children, special use. */
		buf_append_str(out, "* LIST (");
		if ((cmd->ret & IMAP_LIST_RET_SUBSCRIBED) && f->subscribed)
			add_attr(out, &first, "\\Subscribed");
		/* With SUBSCRIBED, a name without a folder is \NonExistent (RFC 5258 section 3.4), as Dovecot says it. */
		if (noselect)
			add_attr(out, &first, (cmd->select & IMAP_LIST_SEL_SUBSCRIBED) ? "\\NonExistent"
										: "\\Noselect");
		add_attr(out, &first, f->has_children ? "\\HasChildren" : "\\HasNoChildren");
		if (f->special_use != NULL)
			add_attr(out, &first, f->special_use);
		buf_printf(out, ") \"%c\" ", IMAP_LIST_SEP);
		imap_write_string(out, f->name, strlen(f->name));
		if (childinfo)
			buf_append_str(out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
		buf_append_str(out, "\r\n");
		if ((cmd->ret & IMAP_LIST_RET_STATUS) && !noselect && status != NULL)
			status(status_ctx, f->name, cmd->status_items, out);
	}
}
