/*
 * cmd_export_sql.c - `riskpipe export-sql`: prints the SQL that creates a
 * scoring function from a model (sqlscore.h), for a DBA to install, a
 * review, or a database riskpipe cannot reach.
 *
 * With --model the command needs no database at all: the SQL is quoted
 * without a connection (db_quote_* with NULL: standard quoting, doubled
 * quotes, a backslash as chr(92), never E''), so the output depends only
 * on the model and the options - the same text on any machine.  Without
 * --model it connects only to read the registry's active model (as
 * `predict` does), and still quotes without the connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "registry.h"
#include "sqlscore.h"
#include "util/log.h"

static const char export_usage[] =
    "Usage: riskpipe export-sql [--model PATH] [--function NAME] [OPTIONS]\n\n"
    "Print SQL that creates a scoring function from a model:\n"
    "  SCHEMA.NAME(as_of date) RETURNS TABLE (customer_id, high_risk_prediction,\n"
    "  probability, model_id, reason_1, reason_2, reason_3)\n"
    "computed by PostgreSQL from the same feature SQL, with the model's\n"
    "coefficients, encodings, imputation and scaling inlined as constants.\n"
    "Install it with psql -f; score with SELECT * FROM NAME('YYYY-MM-DD').\n\n"
    "      --model PATH            model file (no database needed); default: the\n"
    "                              registry's active model, else riskpipe-model.json\n"
    "      --function NAME         function name (default riskpipe_score), created\n"
    "                              in --schema; the table options name the inputs\n";

/* The registry's active model, else riskpipe-model.json (as predict). */
static int active_model(const cli_ctx *ctx, model *m, rp_err *e)
{
    db_conn *c = NULL;
    int rc = cli_connect(ctx, &c, e), has;

    if (rc)
        return rc;
    has = reg_has_active(c, &ctx->tables, e);
    if (has < 0)
        rc = e->code;
    else if (has)
        rc = reg_load(c, &ctx->tables, NULL, m, e);
    else
        rc = model_load("riskpipe-model.json", m, e);
    db_close(c);
    return rc;
}

int cmd_export_sql(int argc, char **argv, rp_err *e)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"model", required_argument, NULL, OPT_MODEL},
        {"function", required_argument, NULL, OPT_FUNCTION},
        {0, 0, 0, 0}};
    const char *model_path = NULL, *fname = "riskpipe_score";
    char *sql = NULL;
    cli_ctx ctx;
    model m;
    int opt, rc;

    cli_ctx_init(&ctx);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
        int h = cli_common_option(&ctx, opt, optarg);
        if (h < 0) {
            printf("%s%s", export_usage, cli_common_help);
            return RP_OK;
        }
        if (h)
            continue;
        if (opt == OPT_MODEL)
            model_path = optarg;
        else if (opt == OPT_FUNCTION && *optarg)
            fname = optarg;
        else if (opt == OPT_FUNCTION)
            return cli_usage_error(e, "export-sql", "--function needs a name");
        else
            return cli_usage_error(e, "export-sql", "invalid option \"%s\"", argv[optind - 1]);
    }
    if ((rc = cli_no_args(e, "export-sql", argc, argv)))
        return rc;
    model_init(&m);
    rc = model_path ? model_load(model_path, &m, e) : active_model(&ctx, &m, e);
    if (!rc)
        rc = sqlscore_function(NULL, &m, &ctx.tables, fname, &sql, e);
    if (!rc && (fputs(sql, stdout) == EOF || fflush(stdout) != 0))
        rc = rp_err_set(e, RP_EINTERNAL, "could not write the SQL to standard output");
    free(sql);
    model_free(&m);
    return rc;
}
