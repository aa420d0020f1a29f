/* fuzz_smtp_address.c - fuzz target: a command line through smtp_command_parse, its path through smtp_parse_path, with invariants. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What every accepted path must satisfy: bounded, valid domain, and a canonical form that parses to itself. */
static void
check_path(const struct smtp_path *p, bool is_mail)
{
	struct smtp_path again;
	struct smtp_params params;
	char arg[SMTP_PATH_MAX + 3];
	size_t alen = strlen(p->address);

	if (strlen(p->local) > SMTP_LOCAL_MAX || strlen(p->domain) > SMTP_DOMAIN_MAX || alen > SMTP_PATH_MAX)
		abort();
	if (p->null) {
		if (!is_mail || alen != 0)
			abort();
		return;
	}
	if (!p->no_domain && !smtp_domain_valid(p->domain, strlen(p->domain)))
		abort();
	for (const char *c = p->domain; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z' && !p->domain_literal)
			abort();
	(void)smtp_path_is_relay_trick(p);
	arg[0] = '<';
	memcpy(arg + 1, p->address, alen);
	arg[alen + 1] = '>';
	if (smtp_parse_path(arg, alen + 2, is_mail, &again, &params) != SMTP_ADDR_OK ||
	    strcmp(again.address, p->address) != 0 || strcmp(again.local, p->local) != 0 ||
	    strcmp(again.domain, p->domain) != 0 || again.domain_literal != p->domain_literal ||
	    again.no_domain != p->no_domain || again.had_route)
		abort();
}

static void
parse_both(const char *s, size_t len)
{
	struct smtp_path path;
	struct smtp_params params;

	if (smtp_parse_path(s, len, true, &path, &params) == SMTP_ADDR_OK)
		check_path(&path, true);
	if (smtp_parse_path(s, len, false, &path, &params) == SMTP_ADDR_OK)
		check_path(&path, false);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct smtp_command cmd;

	if (smtp_command_parse(s, size, &cmd) == SMTP_COMMAND_OK) {
		if (cmd.arg_len > size || (cmd.arg_len > 0 && (cmd.arg < s || cmd.arg + cmd.arg_len > s + size)))
			abort();
		if (cmd.verb == SMTP_VERB_MAIL || cmd.verb == SMTP_VERB_RCPT)
			parse_both(cmd.arg, cmd.arg_len);
	}
	parse_both(s, size);
	(void)smtp_domain_valid(s, size);
	return 0;
}
