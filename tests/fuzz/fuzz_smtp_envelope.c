/* fuzz_smtp_envelope.c - fuzz target: the queue file envelope parser, with the invariants its readers rely on. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A parsed value lies inside the envelope and holds no control character. */
static void
check_value(const char *v, const char *start, const char *end)
{
	if (v < start || v >= end)
		abort();
	for (; v < end && *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			abort();
	if (v >= end)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_envelope_read env;
	char err[256];
	/* The parser writes NULs into its input: give it a copy (one byte more, never empty). */
	char *copy = malloc(size + 1);

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (queue_envelope_parse(copy, size, &env, err, sizeof(err)) == 0) {
		const char *end = copy + env.body_offset;

		if (env.body_offset > size || env.nrcpts == 0 || env.received < 0)
			abort();
		check_value(env.sender, copy, end);
		check_value(env.client, copy, end);
		check_value(env.helo, copy, end);
		if (env.auth_user != NULL) {
			check_value(env.auth_user, copy, end);
			if (env.auth_user[0] == '\0')
				abort();
		}
		for (size_t i = 0; i < env.nrcpts; i++) {
			check_value(env.rcpts[i], copy, end);
			if (env.rcpts[i][0] == '\0')
				abort();
		}
		/* The envelope ends with an empty line (both ends of line now NULs). */
		if (env.body_offset < 2 || copy[env.body_offset - 1] != '\0' ||
		    copy[env.body_offset - 2] != '\0' || data[env.body_offset - 1] != '\n')
			abort();
		queue_envelope_read_free(&env);
	} else if (err[0] == '\0' || env.rcpts != NULL) {
		/* A failure always says why and leaves nothing allocated. */
		abort();
	}
	free(copy);
	return 0;
}
