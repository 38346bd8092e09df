/*
 * log.c - stderr diagnostics and a progress line that redraws at most ten
 * times a second (drawing costs a write(2); the hot loops call update often).
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int g_level = LOG_NORMAL;

void log_set_level(int level) { g_level = level; }
int log_level(void) { return g_level; }

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void log_info(const char *fmt, ...)
{
    va_list ap;
    if (g_level < LOG_NORMAL)
        return;
    va_start(ap, fmt);
    vlog("riskpipe: ", fmt, ap);
    va_end(ap);
}

void log_verbose(const char *fmt, ...)
{
    va_list ap;
    if (g_level < LOG_VERBOSE)
        return;
    va_start(ap, fmt);
    vlog("riskpipe: ", fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("riskpipe: warning: ", fmt, ap);
    va_end(ap);
}

double log_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void draw(progress *pg)
{
    int width = 24, filled = 0, i;
    double el = log_now() - pg->t0;

    if (pg->total > 0) {
        filled = (int)((double)pg->done / (double)pg->total * width);
        if (filled > width)
            filled = width;
        fprintf(stderr, "\r%-12s [", pg->label);
        for (i = 0; i < width; i++)
            fputc(i < filled ? '#' : ' ', stderr);
        fprintf(stderr, "] %3d%%  %.1f s ",
                (int)(100.0 * (double)pg->done / (double)pg->total), el);
    } else {
        fprintf(stderr, "\r%-12s %zu  %.1f s ", pg->label, pg->done, el);
    }
    fflush(stderr);
}

void progress_begin(progress *pg, const char *label, size_t total)
{
    pg->label = label;
    pg->total = total;
    pg->done = 0;
    pg->t0 = log_now();
    pg->last_draw = 0;
    pg->tty = g_level >= LOG_NORMAL && isatty(STDERR_FILENO);
    if (pg->tty)
        draw(pg);
    else
        log_verbose("%s ...", label);
}

void progress_update(progress *pg, size_t done)
{
    double now;

    pg->done = done;
    if (!pg->tty)
        return;
    now = log_now();
    if (now - pg->last_draw < 0.1)
        return;
    pg->last_draw = now;
    draw(pg);
}

void progress_end(progress *pg)
{
    double el = log_now() - pg->t0;

    if (pg->tty) {
        pg->done = pg->total ? pg->total : pg->done;
        draw(pg);
        fputc('\n', stderr);
    }
    log_verbose("stage %-12s %8.3f s", pg->label, el);
}
