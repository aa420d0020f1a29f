/* errfmt.c - filling the caller's error buffer. */
#include "errfmt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

int
errfmt(char *err, size_t errsize, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (err != NULL && errsize > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errsize, fmt, ap);
		va_end(ap);
	}
	errno = saved;
	return -1;
}
