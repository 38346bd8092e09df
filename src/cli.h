/*
 * cli.h - what the command files share: the common options, connecting
 * (with the embedded cluster as the fallback), and the command table.
 *
 * The command layer is thin: each cmd_*.c parses its options with
 * getopt_long, calls the library, prints results on stdout and returns an
 * rp_err code.  Only main.c prints errors and chooses the exit status.
 */
#ifndef RP_CLI_H
#define RP_CLI_H

#include <getopt.h>

#include "db.h"
#include "schema.h"
#include "util/err.h"

#include "version.h"

/* Options every command that talks to the database accepts. */
typedef struct cli_ctx {
    const char *db;      /* --db CONNINFO */
    rp_tables tables;    /* --schema, --customers-table, ... */
} cli_ctx;

/* Long options shared by the database commands; values >= 1000 so they
 * never clash with a command's short options. */
enum {
    OPT_DB = 1000, OPT_SCHEMA, OPT_T_CUSTOMERS, OPT_T_ACCOUNTS,
    OPT_T_TRANSACTIONS, OPT_T_PREDICTIONS, OPT_QUIET, OPT_VERBOSE,
    OPT_HELP, OPT_FIRST_CMD
};

#define CLI_COMMON_OPTIONS \
    {"db", required_argument, NULL, OPT_DB}, \
    {"schema", required_argument, NULL, OPT_SCHEMA}, \
    {"customers-table", required_argument, NULL, OPT_T_CUSTOMERS}, \
    {"accounts-table", required_argument, NULL, OPT_T_ACCOUNTS}, \
    {"transactions-table", required_argument, NULL, OPT_T_TRANSACTIONS}, \
    {"predictions-table", required_argument, NULL, OPT_T_PREDICTIONS}, \
    {"quiet", no_argument, NULL, 'q'}, \
    {"verbose", no_argument, NULL, 'v'}, \
    {"help", no_argument, NULL, 'h'}

/* Help text for the options above, for the commands' --help. */
extern const char cli_common_help[];

void cli_ctx_init(cli_ctx *ctx);

/*
 * Handles one option that getopt_long returned if it is a common one.
 * Returns 1 when handled, 0 when not a common option, and -1 for --help
 * (the caller prints its usage and returns RP_OK).
 */
int cli_common_option(cli_ctx *ctx, int opt, const char *arg);

/* Reports an unknown option or missing argument ('?' from getopt_long). */
int cli_usage_error(rp_err *e, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Complains about positional arguments left over after the options. */
int cli_no_args(rp_err *e, const char *cmd, int argc, char **argv);

/* Parses a number option with a range check; the message names the option. */
int cli_parse_long(const char *opt, const char *arg, long lo, long hi,
                   long *out, rp_err *e);
int cli_parse_double(const char *opt, const char *arg, double lo, double hi,
                     double *out, rp_err *e);

/*
 * Connects to the configured database (--db, RISKPIPE_DB, DATABASE_URL,
 * the PG* environment), or starts the embedded cluster when none is
 * configured, saying so once on stderr.
 */
int cli_connect(const cli_ctx *ctx, db_conn **out, rp_err *e);

/* Commands: (argc, argv) start at the command name (argv[0]). */
int cmd_db(int argc, char **argv, rp_err *e);
int cmd_init(int argc, char **argv, rp_err *e);
int cmd_generate(int argc, char **argv, rp_err *e);
int cmd_train(int argc, char **argv, rp_err *e);
int cmd_predict(int argc, char **argv, rp_err *e);
int cmd_run(int argc, char **argv, rp_err *e);
int cmd_explain(int argc, char **argv, rp_err *e);
int cmd_models(int argc, char **argv, rp_err *e);
int cmd_export_sql(int argc, char **argv, rp_err *e);
int cmd_load(int argc, char **argv, rp_err *e);
int cmd_drift(int argc, char **argv, rp_err *e);
int cmd_report(int argc, char **argv, rp_err *e);

/* Shared by train, predict and run (cmd_train.c, cmd_predict.c). */
#include "pipeline.h"

enum {
    OPT_MODEL = 1100, OPT_FEATURES, OPT_AS_OF, OPT_LABEL_THR, OPT_TOP_K,
    OPT_MIN_COUNT, OPT_C, OPT_CLASS_WEIGHT, OPT_TEST_FRACTION, OPT_SEED_SPLIT,
    OPT_THRESHOLD, OPT_NO_REGISTER, OPT_DUMP_MATRIX, OPT_CSV, OPT_NO_DB_WRITE,
    OPT_ACTIVATE, OPT_NO_ACTIVATE,
    OPT_EXPLAIN = 1180, OPT_IN_DATABASE, OPT_FUNCTION,  /* issue 8 */
    OPT_CUSTOMER = 1140, OPT_COEFS, OPT_JSON,           /* explain, report */
    OPT_CV = 1160, OPT_THR_POLICY, OPT_WEIGHT_COL, OPT_DUMP_CV, /* issue 4 */
    OPT_FROM_CSV = 1220,                                /* issue 7 */
    OPT_FEATURES_PATH = 1200, OPT_FEATURE_CONNS, OPT_DUMP_FEATURES /* issue 5 */
};

#define CLI_TRAIN_OPTIONS \
    {"model", required_argument, NULL, OPT_MODEL}, \
    {"features", required_argument, NULL, OPT_FEATURES}, \
    {"as-of", required_argument, NULL, OPT_AS_OF}, \
    {"label-threshold", required_argument, NULL, OPT_LABEL_THR}, \
    {"top-categories", required_argument, NULL, OPT_TOP_K}, \
    {"min-count", required_argument, NULL, OPT_MIN_COUNT}, \
    {"C", required_argument, NULL, OPT_C}, \
    {"class-weight", required_argument, NULL, OPT_CLASS_WEIGHT}, \
    {"test-fraction", required_argument, NULL, OPT_TEST_FRACTION}, \
    {"seed", required_argument, NULL, OPT_SEED_SPLIT}, \
    {"threshold", required_argument, NULL, OPT_THRESHOLD}, \
    {"no-register", no_argument, NULL, OPT_NO_REGISTER}, \
    {"dump-matrix", required_argument, NULL, OPT_DUMP_MATRIX}, \
    {"activate", no_argument, NULL, OPT_ACTIVATE}, \
    {"no-activate", no_argument, NULL, OPT_NO_ACTIVATE}, \
    {"cv", required_argument, NULL, OPT_CV}, \
    {"threshold-policy", required_argument, NULL, OPT_THR_POLICY}, \
    {"weight-column", required_argument, NULL, OPT_WEIGHT_COL}, \
    {"dump-cv", required_argument, NULL, OPT_DUMP_CV}, \
    CLI_FEATURE_PATH_OPTIONS, \
    {"dump-features", required_argument, NULL, OPT_DUMP_FEATURES}

/* Where the features are computed (fastfeat.h); train, predict and run. */
#define CLI_FEATURE_PATH_OPTIONS \
    {"features-path", required_argument, NULL, OPT_FEATURES_PATH}, \
    {"feature-connections", required_argument, NULL, OPT_FEATURE_CONNS}

#define CLI_PREDICT_OPTIONS \
    {"csv", required_argument, NULL, OPT_CSV}, \
    {"no-db-write", no_argument, NULL, OPT_NO_DB_WRITE}

extern const char cli_train_help[];
extern const char cli_predict_help[];

/* 1 handled, 0 not a train option, < 0 error (set in e; return -rc). */
int cli_train_option(train_opts *o, int opt, const char *arg, rp_err *e);
int cli_predict_option(predict_opts *o, int opt, const char *arg, rp_err *e);
/* --features-path and --feature-connections: same convention. */
int cli_features_option(ff_opts *o, int opt, const char *arg, rp_err *e);
extern const char cli_features_help[];
int cli_check_date(const char *opt, const char *arg, rp_err *e);

/* Prints the training summary (metrics, coefficients) on stdout. */
void cli_print_model(const model *m, int max_coefs);

#endif
