/* xmalloc.h - allocation that cannot return NULL (out of memory is fatal). */
#ifndef OSD_XMALLOC_H
#define OSD_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
/* Overflow-checked realloc of n elements of size bytes. */
void *xreallocarray(void *ptr, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/*
 * Map the whole pages of a new block [p, p + len) now, in one system call
 * (MADV_POPULATE_WRITE) rather than one page fault per page as it is
 * filled: for large blocks a new process fills at once.  A hint; errors
 * are ignored.
 */
void xprefault(void *p, size_t len);

#endif
