/*
 * strbuf.h - a growable, always NUL-terminated byte buffer.
 *
 * Used to build SQL text, CSV rows and COPY data.  sb_t may be zero-
 * initialised ({0}) and used at once; sb_free() releases it and leaves it
 * empty and reusable.  Appending never fails (allocation aborts, mem.h).
 */
#ifndef RP_STRBUF_H
#define RP_STRBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_t {
    char *p;      /* contents, NUL-terminated once anything was appended */
    size_t len;   /* bytes used, not counting the NUL */
    size_t cap;   /* bytes allocated */
} sb_t;

void sb_reserve(sb_t *sb, size_t extra);
void sb_append(sb_t *sb, const char *s);
void sb_appendn(sb_t *sb, const char *s, size_t n);
void sb_putc(sb_t *sb, char c);
void sb_printf(sb_t *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a double so that it reads back to the same bits ("%.17g"); NaN
 * and infinities are written as PostgreSQL spells them. */
void sb_double(sb_t *sb, double x);
/* Big-endian (network order) integers, as COPY BINARY wants them. */
void sb_put16(sb_t *sb, uint16_t v);
void sb_put32(sb_t *sb, uint32_t v);
void sb_put64(sb_t *sb, uint64_t v);
void sb_clear(sb_t *sb);            /* len = 0, keeps the memory */
const char *sb_str(const sb_t *sb); /* "" when empty */
void sb_free(sb_t *sb);
/* Hands the buffer over to the caller (who frees it) and resets sb. */
char *sb_steal(sb_t *sb);

#endif
