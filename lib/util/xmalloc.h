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

#endif
