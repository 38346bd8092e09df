/*
 * strbuf.c - growable buffer; capacity doubles so appends are amortised O(1).
 */
#include "util/strbuf.h"
#include "util/mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_reserve(sb_t *sb, size_t extra)
{
    size_t need = sb->len + extra + 1, cap = sb->cap ? sb->cap : 64;

    if (need <= sb->cap)
        return;
    while (cap < need)
        cap *= 2;
    sb->p = xrealloc(sb->p, cap);
    sb->cap = cap;
}

void sb_appendn(sb_t *sb, const char *s, size_t n)
{
    sb_reserve(sb, n);
    memcpy(sb->p + sb->len, s, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
}

void sb_put16(sb_t *sb, uint16_t v)
{
    char x[2] = {(char)(v >> 8), (char)v};

    sb_appendn(sb, x, 2);
}

void sb_put32(sb_t *sb, uint32_t v)
{
    char x[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};

    sb_appendn(sb, x, 4);
}

void sb_put64(sb_t *sb, uint64_t v)
{
    sb_put32(sb, (uint32_t)(v >> 32));
    sb_put32(sb, (uint32_t)v);
}

void sb_append(sb_t *sb, const char *s)
{
    sb_appendn(sb, s, strlen(s));
}

void sb_putc(sb_t *sb, char c)
{
    sb_reserve(sb, 1);
    sb->p[sb->len++] = c;
    sb->p[sb->len] = '\0';
}

void sb_printf(sb_t *sb, const char *fmt, ...)
{
    va_list ap, ap2;
    int n;

    va_start(ap, fmt);
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) {
        sb_reserve(sb, (size_t)n);
        vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap2);
        sb->len += (size_t)n;
    }
    va_end(ap2);
}

void sb_double(sb_t *sb, double x)
{
    if (isnan(x))
        sb_append(sb, "NaN");
    else if (isinf(x))
        sb_append(sb, x > 0 ? "Infinity" : "-Infinity");
    else
        sb_printf(sb, "%.17g", x);
}

void sb_clear(sb_t *sb)
{
    sb->len = 0;
    if (sb->p)
        sb->p[0] = '\0';
}

const char *sb_str(const sb_t *sb)
{
    return sb->p ? sb->p : "";
}

void sb_free(sb_t *sb)
{
    free(sb->p);
    sb->p = NULL;
    sb->len = sb->cap = 0;
}

char *sb_steal(sb_t *sb)
{
    char *p = sb->p ? sb->p : xstrdup("");
    sb->p = NULL;
    sb->len = sb->cap = 0;
    return p;
}
