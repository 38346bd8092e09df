/*
 * err.h - the one error struct that every fallible riskpipe function fills.
 *
 * Library code never prints and never exits: it records what went wrong in
 * an rp_err and returns its code.  Only main.c turns an rp_err into text on
 * stderr and an exit status.  The codes are the process exit codes, so the
 * mapping is the identity and is documented in one place (README, man page).
 *
 * Messages follow PostgreSQL's client style: lower case, no trailing period,
 * the user's values quoted; `detail` says more, `hint` says what to do.
 */
#ifndef RP_ERR_H
#define RP_ERR_H

#include <signal.h>
#include <stdarg.h>

enum {
    RP_OK = 0,        /* success */
    RP_EUSAGE = 1,    /* bad command line */
    RP_EDATA = 2,     /* bad data or input file */
    RP_EDB = 3,       /* database error or unreachable */
    RP_EINTERNAL = 4  /* bug, out of resources, I/O failure */
};

typedef struct rp_err {
    int code;           /* RP_OK when nothing went wrong */
    char msg[1024];
    char detail[1024];
    char hint[512];
    char sqlstate[6];   /* PostgreSQL SQLSTATE when the server gave one */
} rp_err;

/* Clears e (code RP_OK, empty strings). */
void rp_err_clear(rp_err *e);

/* Sets code and message (printf-style); clears detail, hint and sqlstate.
 * Returns code, so a caller can write `return rp_err_set(e, RP_EDATA, ...)`.
 * e may be NULL (the error is then dropped). */
int rp_err_set(rp_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the detail / hint line of an error already set. */
void rp_err_detail(rp_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rp_err_hint(rp_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the message with "context: " (e.g. the file or table name). */
void rp_err_prefix(rp_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Stopping on SIGINT / SIGTERM.  main.c's handler stores the signal's
 * number here (0: none came) and cancels the running queries
 * (db_cancel_all).  Library code never handles signals: it calls
 * rp_err_interrupted between steps that can take long (Newton
 * iterations, COPY rows) and before its points of no return (COMMIT,
 * creating an output file), then leaves through its normal error path,
 * which rolls back and removes temporary files.
 */
extern volatile sig_atomic_t rp_interrupt;

/* RP_OK when no stop signal came; otherwise sets e to "interrupted by
 * SIGINT" (or SIGTERM; code RP_EINTERNAL, main.c exits 128 + signal) and
 * returns its code. */
int rp_err_interrupted(rp_err *e);

/* "SIGINT", "SIGTERM" or "signal N" for rp_interrupt; NULL when 0. */
const char *rp_interrupt_name(void);

#endif
