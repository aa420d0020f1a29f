/* xmalloc.c - allocation that cannot return NULL: running out of memory is fatal. */
#include "xmalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

void
xprefault(void *p, size_t len)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)p + page - 1) & ~(page - 1),
		  b = ((uintptr_t)p + len) & ~(page - 1);

	if (b > a)
		(void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
	(void)p;
	(void)len;
#endif
}

void *
xmalloc(size_t size)
{
	/* malloc(0) may return NULL; callers must never see NULL. */
	void *p = malloc(size == 0 ? 1 : size);

	if (p == NULL)
		fatalx("out of memory");
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0)
		n = size = 1;
	/* calloc checks n * size for overflow itself. */
	if ((p = calloc(n, size)) == NULL)
		fatalx("out of memory");
	return p;
}

void *
xreallocarray(void *ptr, size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		fatalx("out of memory (allocation of %zu * %zu bytes overflows)", n, size);
	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = realloc(ptr, n * size)) == NULL)
		fatalx("out of memory");
	return p;
}

char *
xstrdup(const char *s)
{
	size_t len;
	char *p;

	if (s == NULL)
		fatalx("xstrdup: NULL string");
	len = strlen(s);
	p = xmalloc(len + 1);
	memcpy(p, s, len + 1);
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len;
	char *p;

	if (s == NULL)
		fatalx("xstrndup: NULL string");
	len = strnlen(s, n);
	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}
