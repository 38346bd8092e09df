/*
 * cmd_init.c - `riskpipe init`: create the tables (idempotent).
 */
#include <stdio.h>

#include "cli.h"
#include "util/log.h"

static const char init_help[] =
    "Usage: riskpipe init [OPTIONS]\n\n"
    "Create, if missing, the input tables (customers, accounts, transactions,\n"
    "with primary keys and customer_id indexes) and riskpipe's own tables\n"
    "(predictions, riskpipe_models, riskpipe_runs).  Existing tables and rows\n"
    "are never touched.\n\n";

int cmd_init(int argc, char **argv, rp_err *e)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
    cli_ctx ctx;
    db_conn *c = NULL;
    int opt, rc;

    cli_ctx_init(&ctx);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
        int h = cli_common_option(&ctx, opt, optarg);
        if (h < 0) {
            fputs(init_help, stdout);
            fputs(cli_common_help, stdout);
            return RP_OK;
        }
        if (!h)
            return cli_usage_error(e, "init", "invalid option");
    }
    if ((rc = cli_no_args(e, "init", argc, argv)))
        return rc;
    if ((rc = cli_connect(&ctx, &c, e)))
        return rc;
    rc = schema_init(c, &ctx.tables, e);
    if (!rc)
        log_info("tables ready in schema \"%s\"", ctx.tables.schema);
    db_close(c);
    return rc;
}
