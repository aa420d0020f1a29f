/* verdict.c - reading the delivery programs' verdicts. */
#include "verdict.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum verdict
verdict_local(int exit_status)
{
	if (exit_status == 0)
		return VERDICT_DONE;
	if (exit_status == 100)
		return VERDICT_FAIL;
	return VERDICT_DEFER;
}

static const char no_verdict[] = "osd-remote gave no complete verdict (crashed or killed?)";

int
verdict_remote(const char *out, size_t len, size_t nrcpts, enum verdict *v_r,
	       const char **reason_r, char **text_r)
{
	char *text = malloc(len + 1), *p, *msg_reason = NULL;
	char msg = 0;
	size_t i, n = 0;
	bool ok = true;

	*text_r = text;
	if (text == NULL)
		return -1;
	memcpy(text, out, len);
	text[len] = '\0';
	/* A NUL inside would cut a line short: treat what follows as missing. */
	len = strlen(text);
	p = text;
	for (i = 0; i < nrcpts; i++) {
		v_r[i] = VERDICT_DEFER;
		reason_r[i] = no_verdict;
	}
	while (ok && *p != '\0') {
		char *nl = strchr(p, '\n'), c = *p;

		if (nl == NULL) {
			ok = false;     /* the last line lacks its end: the program died writing */
			break;
		}
		*nl = '\0';
		if (msg != 0) {
			ok = false;     /* nothing may follow the message line */
		} else if ((c == 'r' || c == 'h' || c == 's') && n < nrcpts) {
			v_r[n] = c == 'r' ? VERDICT_DONE : c == 'h' ? VERDICT_FAIL : VERDICT_DEFER;
			reason_r[n++] = p + 1;
		} else if ((c == 'K' || c == 'Z' || c == 'D') && n == nrcpts) {
			msg = c;
			msg_reason = p + 1;
		} else {
			ok = false;
		}
		p = nl + 1;
	}
	if (!ok || msg == 0) {
		for (i = 0; i < nrcpts; i++) {
			v_r[i] = VERDICT_DEFER;
			reason_r[i] = no_verdict;
		}
		return 0;
	}
	/* An accepted recipient shares the fate of the message. */
	for (i = 0; i < nrcpts; i++) {
		if (v_r[i] != VERDICT_DONE || msg == 'K')
			continue;
		v_r[i] = msg == 'D' ? VERDICT_FAIL : VERDICT_DEFER;
		reason_r[i] = msg_reason;
	}
	return 0;
}
