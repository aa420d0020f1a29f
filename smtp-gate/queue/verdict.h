/* verdict.h - what a delivery program said: osd-remote's r/h/s and K/Z/D lines, osd-local's exit status (docs/delivery.md). */
#ifndef OSD_SMTP_VERDICT_H
#define OSD_SMTP_VERDICT_H

#include <stddef.h>

enum verdict {
	VERDICT_DONE,           /* delivered */
	VERDICT_DEFER,          /* try again later */
	VERDICT_FAIL            /* failed permanently */
};

/*
 * osd-remote's output (out, len octets) for nrcpts recipients: a recipient
 * is done when its line is 'r' and the message line 'K'; failed on 'h',
 * or 'r' with 'D'; deferred on 's', or 'r' with 'Z'.  Output that does not
 * have exactly nrcpts recipient lines and a message line (a crash, a
 * truncated pipe) defers everyone with a reason saying so.  v_r[i] and
 * reason_r[i] (pointers into a copy kept in *text_r, which the caller
 * frees) are filled for every recipient.  Returns 0, or -1 on ENOMEM.
 */
int verdict_remote(const char *out, size_t len, size_t nrcpts, enum verdict *v_r,
		   const char **reason_r, char **text_r);

/* osd-local's exit: 0 done, 100 failed, anything else (111, a signal: status < 0) deferred. */
enum verdict verdict_local(int exit_status);

#endif
