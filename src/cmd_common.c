/*
 * cmd_common.c - option handling and connecting, shared by the commands.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgembed.h"
#include "util/log.h"
#include "util/mem.h"

const char cli_common_help[] =
    "Database options:\n"
    "      --db CONNINFO           key=value conninfo or postgresql:// URI\n"
    "                              (default: $RISKPIPE_DB, $DATABASE_URL, the PG*\n"
    "                              environment, else the embedded cluster)\n"
    "      --schema NAME           schema of all tables (default public)\n"
    "      --customers-table NAME  (default customers)\n"
    "      --accounts-table NAME   (default accounts)\n"
    "      --transactions-table NAME (default transactions)\n"
    "      --predictions-table NAME  (default predictions)\n"
    "General options:\n"
    "  -q, --quiet                 only errors and warnings on stderr\n"
    "  -v, --verbose               more detail, including stage timings\n"
    "  -h, --help                  show this help\n";

void cli_ctx_init(cli_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->tables = schema_tables_default();
}

int cli_common_option(cli_ctx *ctx, int opt, const char *arg)
{
    switch (opt) {
    case OPT_DB: ctx->db = arg; return 1;
    case OPT_SCHEMA: ctx->tables.schema = arg; return 1;
    case OPT_T_CUSTOMERS: ctx->tables.customers = arg; return 1;
    case OPT_T_ACCOUNTS: ctx->tables.accounts = arg; return 1;
    case OPT_T_TRANSACTIONS: ctx->tables.transactions = arg; return 1;
    case OPT_T_PREDICTIONS: ctx->tables.predictions = arg; return 1;
    case 'q': log_set_level(LOG_QUIET); return 1;
    case 'v': log_set_level(LOG_VERBOSE); return 1;
    case 'h': return -1;
    default: return 0;
    }
}

int cli_usage_error(rp_err *e, const char *cmd, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    rp_err_set(e, RP_EUSAGE, "%s: %s", cmd, buf);
    rp_err_hint(e, "try \"riskpipe %s --help\"", cmd);
    return RP_EUSAGE;
}

int cli_no_args(rp_err *e, const char *cmd, int argc, char **argv)
{
    if (optind < argc)
        return cli_usage_error(e, cmd, "unexpected argument \"%s\"", argv[optind]);
    return RP_OK;
}

int cli_parse_long(const char *opt, const char *arg, long lo, long hi,
                   long *out, rp_err *e)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || end == arg || *end != '\0')
        return rp_err_set(e, RP_EUSAGE, "invalid value \"%.200s\" for %s: not an integer", arg, opt);
    if (v < lo || v > hi)
        return rp_err_set(e, RP_EUSAGE, "invalid value \"%.200s\" for %s: must be between %ld and %ld",
                          arg, opt, lo, hi);
    *out = v;
    return RP_OK;
}

int cli_parse_double(const char *opt, const char *arg, double lo, double hi,
                     double *out, rp_err *e)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(arg, &end);
    if (errno || end == arg || *end != '\0' || isnan(v))
        return rp_err_set(e, RP_EUSAGE, "invalid value \"%.200s\" for %s: not a number", arg, opt);
    if (v < lo || v > hi)
        return rp_err_set(e, RP_EUSAGE, "invalid value \"%.200s\" for %s: must be between %g and %g",
                          arg, opt, lo, hi);
    *out = v;
    return RP_OK;
}

int cli_connect(const cli_ctx *ctx, db_conn **out, rp_err *e)
{
    char *conninfo = db_resolve_conninfo(ctx->db);
    int rc;

    *out = NULL;
    if (!conninfo) {
        char *home = pgembed_home();
        int started = 0;
        rc = pgembed_start(home, &started, e);
        if (!rc) {
            if (started)
                log_info("started the embedded PostgreSQL in %s", home);
            conninfo = pgembed_conninfo(home);
        }
        free(home);
        if (rc)
            return rc;
    }
    *out = db_connect(conninfo, e);
    free(conninfo);
    return *out ? RP_OK : (e ? e->code : RP_EDB);
}
