/*
 * log.h - diagnostics on stderr and the progress display.
 *
 * Normal output (tables, metrics) goes to stdout through plain printf in the
 * command files; everything here goes to stderr.  Verbosity: -q sets
 * LOG_QUIET (errors and warnings only), -v LOG_VERBOSE (stage timings).
 *
 * Progress: when stderr is a terminal a single line is redrawn in place
 * ("features  [#####     ]  52%  1.2 s"); otherwise only a start and an
 * end line are logged, so cron and CI logs stay readable.
 */
#ifndef RP_LOG_H
#define RP_LOG_H

#include <stddef.h>

enum { LOG_QUIET = 0, LOG_NORMAL = 1, LOG_VERBOSE = 2 };

void log_set_level(int level);
int log_level(void);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic seconds since an arbitrary point. */
double log_now(void);

/* A long step.  total may be 0 when unknown (a spinner-less count is shown).
 * progress_end() logs the elapsed time at verbose level (stage timings). */
typedef struct progress {
    const char *label;
    size_t total, done;
    double t0, last_draw;
    int tty;
} progress;

void progress_begin(progress *pg, const char *label, size_t total);
void progress_update(progress *pg, size_t done);
void progress_end(progress *pg);

#endif
