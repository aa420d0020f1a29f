/* fuzz_control.c - fuzz target: a control file's text split into lines (rcpthosts, locals, badmailfrom...), and those lines read as smtproutes. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "mx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The domains each smtproutes text is asked about: exact, subdomain, default. */
static const char *const domains[] = { "example.org", "mail.example.org", "example.net", "x" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_lines cl;
	char host[MX_HOST_MAX + 1], err[512];

	if (control_parse_lines((const char *)data, size, &cl) == -1) {
		/* A refusal says why and leaves nothing behind. */
		if ((errno != EINVAL && errno != EMSGSIZE) || cl.count != 0 || cl.lines != NULL)
			abort();
		return 0;
	}
	for (size_t i = 0; i < cl.count; i++) {
		size_t len = strlen(cl.lines[i]);

		/* Trimmed, not blank, not a comment, within the line bound. */
		if (len == 0 || len > CONTROL_LINE_MAX || cl.lines[i][0] == '#' ||
		    cl.lines[i][0] == ' ' || cl.lines[i][len - 1] == ' ' ||
		    (i > 0 && cl.linenos[i] <= cl.linenos[i - 1]))
			abort();
	}
	for (size_t d = 0; d < sizeof(domains) / sizeof(domains[0]); d++) {
		unsigned port = 0;
		int r = mx_route(cl.lines, cl.count, domains[d], host, &port, err, sizeof(err));

		if (r < -1 || r > 1 || (r == 1 && (port == 0 || port > 65535 ||
						  strlen(host) > MX_HOST_MAX)))
			abort();
	}
	control_lines_free(&cl);
	return 0;
}
