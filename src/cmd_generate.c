/*
 * cmd_generate.c - `riskpipe generate`: synthetic data with a planted model.
 */
#include <stdio.h>

#include "cli.h"
#include "generate.h"
#include "util/log.h"

static const char gen_help[] =
    "Usage: riskpipe generate --customers N [--seed S] [--append] [--truth FILE]\n\n"
    "Fill the customers, accounts and transactions tables with realistic\n"
    "synthetic data (about 1.5 accounts and 20 transactions per customer, two\n"
    "years of dates) driven by a planted risk model (docs/synthetic-data.md).\n"
    "The same seed gives the same data.  Creates the tables if missing.\n\n"
    "      --customers N   number of customers (required, 1..100000000)\n"
    "      --seed S        random seed (default 42)\n"
    "      --append        add customers with new ids instead of replacing\n"
    "      --truth FILE    write customer_id,probability: the planted model's\n"
    "                      probability of the label, the best any model can do\n\n";

enum { OPT_CUSTOMERS = OPT_FIRST_CMD, OPT_SEED, OPT_APPEND, OPT_TRUTH };

int cmd_generate(int argc, char **argv, rp_err *e)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"customers", required_argument, NULL, OPT_CUSTOMERS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"append", no_argument, NULL, OPT_APPEND},
        {"truth", required_argument, NULL, OPT_TRUTH},
        {0, 0, 0, 0}};
    cli_ctx ctx;
    gen_opts go = {0, 42, 0, NULL};
    gen_summary sum = {0};
    db_conn *c = NULL;
    long v;
    int opt, rc;

    cli_ctx_init(&ctx);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
        int h = cli_common_option(&ctx, opt, optarg);
        if (h < 0) {
            fputs(gen_help, stdout);
            fputs(cli_common_help, stdout);
            return RP_OK;
        }
        if (h)
            continue;
        switch (opt) {
        case OPT_CUSTOMERS:
            if ((rc = cli_parse_long("--customers", optarg, 1, 100000000L, &v, e)))
                return rc;
            go.customers = v;
            break;
        case OPT_SEED:
            if ((rc = cli_parse_long("--seed", optarg, 0, 2147483647L, &v, e)))
                return rc;
            go.seed = (uint64_t)v;
            break;
        case OPT_APPEND: go.append = 1; break;
        case OPT_TRUTH: go.truth_path = optarg; break;
        default: return cli_usage_error(e, "generate", "invalid option");
        }
    }
    if ((rc = cli_no_args(e, "generate", argc, argv)))
        return rc;
    if (go.customers == 0)
        return cli_usage_error(e, "generate", "--customers N is required");
    if ((rc = cli_connect(&ctx, &c, e)))
        return rc;
    rc = schema_init(c, &ctx.tables, e);
    if (!rc)
        rc = gen_run(c, &ctx.tables, &go, &sum, e);
    if (!rc)
        log_info("generated %ld customers, %ld accounts, %ld transactions in %.1f s "
                 "(%ld high-risk, %ld unlabelled)",
                 sum.customers, sum.accounts, sum.transactions, sum.seconds,
                 sum.high_risk, sum.unlabelled);
    db_close(c);
    return rc;
}
