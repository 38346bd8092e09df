/*
 * mem.h - allocation that cannot fail.
 *
 * Like Redis, riskpipe treats out-of-memory as fatal: the x* functions print
 * one line and abort() instead of threading ENOMEM through every caller.
 * Every free function in riskpipe accepts NULL.
 */
#ifndef RP_MEM_H
#define RP_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* Like xmalloc(count * size) but aborts on overflow of the product. */
void *xmallocarray(size_t count, size_t size);
void *xreallocarray(void *p, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a freshly allocated string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
