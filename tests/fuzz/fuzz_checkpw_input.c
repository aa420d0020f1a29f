/* fuzz_checkpw_input.c - fuzz target: the checkpassword interface's descriptor-3 input split into login, password and timestamp. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpw_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Is s a C string that lies wholly in [buf, buf + size)? */
static int
inside(const char *s, const char *buf, size_t size)
{
	return s >= buf && s < buf + size && memchr(s, '\0', (size_t)(buf + size - s)) != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[CHECKPW_INPUT_MAX + 1];
	struct checkpw_input in;
	enum checkpw_input_result r;
	size_t len = size > CHECKPW_INPUT_MAX ? CHECKPW_INPUT_MAX : size;
	int status;

	/* The bytes after the input are not the parser's to read: fill them with junk. */
	memset(buf, 0xa5, sizeof(buf));
	memcpy(buf, data, len);
	r = checkpw_input_parse(buf, len, &in);
	status = checkpw_input_exit(r);
	if (status != 0 && status != CHECKPW_EXIT_MISUSE && status != CHECKPW_EXIT_TEMP)
		abort();
	if (r != CHECKPW_INPUT_OK) {
		/* Nothing may point into the buffer after a refusal. */
		if (in.login[0] != '\0' || in.password[0] != '\0' || in.timestamp[0] != '\0')
			abort();
		return 0;
	}
	if (!inside(in.login, buf, len + 1) || !inside(in.password, buf, len + 1) ||
	    !inside(in.timestamp, buf, len + 1))
		abort();
	/* The fields follow each other, each after the previous one's \0, as sent. */
	if (in.login != buf || in.password != in.login + strlen(in.login) + 1 ||
	    in.timestamp != in.password + strlen(in.password) + 1)
		abort();
	/* Only the octet after the input may be written (the timestamp's end). */
	if (len > 0 && memcmp(buf, data, len) != 0)
		abort();
	/* Over the limit is always refused. */
	if (size > CHECKPW_INPUT_MAX) {
		memcpy(buf, data, CHECKPW_INPUT_MAX);
		if (checkpw_input_parse(buf, CHECKPW_INPUT_MAX + 1, &in) != CHECKPW_INPUT_TOO_LONG)
			abort();
	}
	return 0;
}
