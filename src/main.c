/*
 * main.c - the riskpipe command: a table of subcommands, and the one place
 * where an error becomes a message on stderr and an exit status.
 *
 * Exit status (documented in --help, README and riskpipe(1)):
 *   0 ok, 1 usage, 2 data or input error, 3 database error, 4 internal,
 *   130 / 143 stopped by SIGINT / SIGTERM (128 + the signal, as shells do).
 *
 * Signals: the first SIGINT or SIGTERM asks the command to stop (see
 * rp_interrupt in util/err.h) and cancels the running query, as psql
 * does; the command then leaves through its ordinary error path, which
 * rolls back, removes its temporary files and records a failed run.  A
 * second one ends the process at once.
 */
#include <cblas.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "util/log.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv, rp_err *e);
    const char *summary;
} command;

static const command commands[] = {
    {"db", cmd_db, "start|stop|status|url: the embedded PostgreSQL cluster"},
    {"init", cmd_init, "create the input tables and riskpipe's own tables"},
    {"generate", cmd_generate, "load synthetic customers with a planted risk model"},
    {"load", cmd_load, "load customers/accounts/transactions CSV files (bad rows rejected)"},
    {"train", cmd_train, "build features, fit and evaluate a model, save it"},
    {"predict", cmd_predict, "score every customer; write the predictions table and CSV"},
    {"run", cmd_run, "train then predict: the whole pipeline"},
    {"explain", cmd_explain, "coefficient table and fit diagnostics; one customer's score"},
    {"report", cmd_report, "write the model report: one self-contained HTML file"},
    {"models", cmd_models, "the model registry: list, show, activate, export"},
    {"export-sql", cmd_export_sql, "SQL that scores inside the database (a function)"},
    {"drift", cmd_drift, "population stability of the score and features for a run"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    size_t i;

    fprintf(f, "riskpipe %s - find high-risk customers in PostgreSQL\n\n"
               "Usage: riskpipe [-q|-v] COMMAND [OPTIONS]\n\nCommands:\n",
            RP_VERSION);
    for (i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n"
               "Run \"riskpipe COMMAND --help\" for a command's options.\n\n"
               "Exit status:\n"
               "  0  success\n"
               "  1  usage error (bad option or value)\n"
               "  2  data or input error (bad rows, bad file, no labelled customers)\n"
               "  3  database error (unreachable, query failed, lock held)\n"
               "  4  internal error (out of resources, I/O failure, bug)\n"
               "  130, 143  stopped by SIGINT (Ctrl-C) or SIGTERM; unfinished writes are undone\n");
}

/* Async-signal-safe: a flag, PQcancel on each connection, raise. */
static void on_stop_signal(int sig)
{
    if (rp_interrupt) {   /* the second one: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    rp_interrupt = sig;
    db_cancel_all();
}

static void install_signal_handlers(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART: file reads and writes go on; libpq's waits and sleep()
     * return early anyway, and the cancel request ends the query */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void print_error(const rp_err *e)
{
    fprintf(stderr, "riskpipe: error: %s\n", e->msg[0] ? e->msg : "unknown error");
    if (e->detail[0])
        fprintf(stderr, "DETAIL: %s\n", e->detail);
    if (e->hint[0])
        fprintf(stderr, "HINT: %s\n", e->hint);
}

int main(int argc, char **argv)
{
    rp_err e;
    int i = 1, rc;
    size_t k;

    rp_err_clear(&e);
    opterr = 0;   /* the commands report bad options themselves */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--version")) {
            printf("riskpipe %s\n", RP_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            log_set_level(LOG_QUIET);
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            log_set_level(LOG_VERBOSE);
        } else {
            fprintf(stderr, "riskpipe: error: unknown option \"%s\"\n"
                            "HINT: try \"riskpipe --help\"\n", argv[i]);
            return RP_EUSAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return RP_EUSAGE;
    }
    if (!strcmp(argv[i], "help")) {
        usage(stdout);
        return 0;
    }
    for (k = 0; k < NCOMMANDS; k++)
        if (!strcmp(argv[i], commands[k].name))
            break;
    if (k == NCOMMANDS) {
        fprintf(stderr, "riskpipe: error: unknown command \"%s\"\n"
                        "HINT: try \"riskpipe --help\"\n", argv[i]);
        return RP_EUSAGE;
    }
    install_signal_handlers();
    /* one BLAS thread: OpenBLAS splits a product by its thread count, so a
     * fixed count makes a fit the same bits on any machine with the same
     * OpenBLAS kernel, and on this workload (dsyrk of 4096-row blocks) one
     * thread was as fast as two on an idle 2-core machine and twice as fast
     * on a busy one (bench/RESULTS.md).  riskpipe's own parallelism is the
     * feature streams, the drift columns and the CSV thread. */
    openblas_set_num_threads(1);
    /* no file riskpipe creates (predictions CSV, model, report, rejected
     * rows) is writable by group or others, whatever the caller's umask:
     * they hold customer data and what scores it (README "Security") */
    umask(umask(0) | S_IWGRP | S_IWOTH);
    rc = commands[k].run(argc - i, argv + i, &e);
    if (rc != RP_OK) {
        if (e.code == RP_OK)
            rp_err_set(&e, rc, "%s failed", commands[k].name);
        /* a command that failed after a stop signal failed because of it
         * (a cancelled query, a refused COMMIT): say so first, with the
         * step it stopped in; one that finished anyway exits 0 */
        if (rp_interrupt) {
            char what[sizeof e.msg];
            snprintf(what, sizeof what, "%s", e.msg);
            rp_err_set(&e, rc, "interrupted by %s", rp_interrupt_name());
            if (strcmp(what, e.msg) != 0)
                rp_err_detail(&e, "%s", what);
            rc = 128 + rp_interrupt;
        }
        print_error(&e);
    }
    return rc;
}
