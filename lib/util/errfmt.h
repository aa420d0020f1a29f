/* errfmt.h - filling the caller's error buffer (the "char *err, size_t errsize" convention). */
#ifndef OSD_ERRFMT_H
#define OSD_ERRFMT_H

#include <stddef.h>

/*
 * printf into err (errsize bytes); does nothing when err is NULL or errsize 0.
 * Returns -1, so that "return errfmt(err, errsize, ...);" reports a failure.
 * errno is left as it was.  A long message is cut: it is for people.
 */
int errfmt(char *err, size_t errsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
