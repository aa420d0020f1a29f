/* fuzz_osd_conf.c - fuzz target: osd.conf's text over the defaults (lib/config/conf.c), and its duration and yes/no values. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct osd_conf conf;    /* large: not on the stack */
	char err[8192], text[64];
	long secs;
	bool b;

	conf_defaults(&conf);
	if (conf_parse_text(&conf, (const char *)data, size, "fuzz.conf", "/etc/osd", err,
			    sizeof(err)) == 0) {
		/* What was taken holds the invariants the daemons rely on. */
		if (conf.relay_expire < 1 || conf.relay_expire > CONF_RELAY_EXPIRE_MAX ||
		    conf.state_dir[0] != '/' || conf.users_dir[0] == '\0')
			abort();
	} else if (strncmp(err, "fuzz.conf", 9) != 0) {
		abort();
	}
	/* A value on its own, as a line's right-hand side: duration and yes/no. */
	if (size < sizeof(text)) {
		memcpy(text, data, size);
		text[size] = '\0';
		if (conf_parse_duration(text, &secs) == 0 && secs < 0)
			abort();
		(void)conf_parse_bool(text, &b);
	}
	return 0;
}
