/*
 * err.c - filling rp_err, and the stop-signal flag (err.h).  All strings
 * are truncated to their buffers; an error message is never worth a
 * failure of its own.
 */
#include "util/err.h"

#include <stdio.h>
#include <string.h>

void rp_err_clear(rp_err *e)
{
    if (!e)
        return;
    memset(e, 0, sizeof *e);
}

int rp_err_set(rp_err *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (!e)
        return code;
    rp_err_clear(e);
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

void rp_err_detail(rp_err *e, const char *fmt, ...)
{
    va_list ap;

    if (!e)
        return;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
}

void rp_err_hint(rp_err *e, const char *fmt, ...)
{
    va_list ap;

    if (!e)
        return;
    va_start(ap, fmt);
    vsnprintf(e->hint, sizeof e->hint, fmt, ap);
    va_end(ap);
}

void rp_err_prefix(rp_err *e, const char *fmt, ...)
{
    char pre[512], old[sizeof e->msg];
    va_list ap;

    if (!e)
        return;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* truncation is fine: a long message is cut, never overflowed */
    {
        size_t n = strlen(pre);
        if (n > sizeof e->msg - 3)
            n = sizeof e->msg - 3;
        memcpy(e->msg, pre, n);
        memcpy(e->msg + n, ": ", 2);
        n += 2;
        memcpy(e->msg + n, old, sizeof e->msg - n - 1);
        e->msg[sizeof e->msg - 1] = '\0';
    }
}

volatile sig_atomic_t rp_interrupt;

const char *rp_interrupt_name(void)
{
    static char buf[32];

    switch (rp_interrupt) {
    case 0: return NULL;
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default:
        snprintf(buf, sizeof buf, "signal %d", (int)rp_interrupt);
        return buf;
    }
}

int rp_err_interrupted(rp_err *e)
{
    if (!rp_interrupt)
        return RP_OK;
    return rp_err_set(e, RP_EINTERNAL, "interrupted by %s", rp_interrupt_name());
}
