/*
 * cmd_load.c - `riskpipe load --customers F --accounts F --transactions F
 * [--replace] [--max-rejects N]`: CSV files into the input tables (load.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "inputs.h"
#include "load.h"
#include "util/log.h"

enum { OPT_L_CUSTOMERS = 1230, OPT_L_ACCOUNTS, OPT_L_TRANSACTIONS, OPT_REPLACE,
       OPT_MAX_REJECTS };

static const char load_usage[] =
    "Usage: riskpipe load [--customers FILE] [--accounts FILE] [--transactions FILE]\n"
    "                     [--replace] [--max-rejects N] [OPTIONS]\n\n"
    "Load CSV files (RFC 4180, header row, UTF-8) into the input tables in one\n"
    "transaction: every good row of every file, or nothing.  Columns are matched\n"
    "by header name in any order; extra columns are ignored.  Rows with a bad\n"
    "value are not loaded: they are listed, with the line where they start and\n"
    "the reason, in FILE.rejects.csv.  Creates the tables when they are missing.\n\n"
    "      --customers FILE        customer_id, age, city, account_type\n"
    "      --accounts FILE         account_id, customer_id, balance [, risk_score]\n"
    "      --transactions FILE     transaction_id, customer_id, amount,\n"
    "                              transaction_date (YYYY-MM-DD), category\n"
    "      --replace               empty the three tables first (same transaction;\n"
    "                              needs all three files)\n"
    "      --max-rejects N         load nothing when more than N rows are rejected\n"
    "                              (all files together; default: no limit)\n\n"
    "Exit status: 0 loaded, 1 usage, 2 bad file or too many rejects (nothing\n"
    "loaded), 3 database error, 4 internal error.\n\n";

/* One line per file.  After a failed load nothing is in the tables, so
 * only the rejects are worth showing. */
static void report(const load_opts *o, const load_summary *s, int loaded)
{
    static const char *const what[LOAD_NTABLES] = {"customers", "accounts", "transactions"};
    int i;

    for (i = 0; i < LOAD_NTABLES; i++) {
        if (!o->files[i] || (!loaded && !s->rejected[i]))
            continue;
        if (loaded)
            printf("%-13s %10ld rows loaded, %ld rejected", what[i], s->loaded[i],
                   s->rejected[i]);
        else
            printf("%-13s %10ld rows rejected", what[i], s->rejected[i]);
        if (s->rejects[i])
            printf(" (see %s)", s->rejects[i]);
        printf("\n");
    }
}

static int parse(int argc, char **argv, cli_ctx *ctx, load_opts *o, rp_err *e)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"customers", required_argument, NULL, OPT_L_CUSTOMERS},
        {"accounts", required_argument, NULL, OPT_L_ACCOUNTS},
        {"transactions", required_argument, NULL, OPT_L_TRANSACTIONS},
        {"replace", no_argument, NULL, OPT_REPLACE},
        {"max-rejects", required_argument, NULL, OPT_MAX_REJECTS},
        {0, 0, 0, 0}};
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
        int h = cli_common_option(ctx, opt, optarg);
        if (h < 0) {
            printf("%s%s", load_usage, cli_common_help);
            return -1;
        }
        if (h)
            continue;
        switch (opt) {
        case OPT_L_CUSTOMERS: o->files[LOAD_CUSTOMERS] = optarg; break;
        case OPT_L_ACCOUNTS: o->files[LOAD_ACCOUNTS] = optarg; break;
        case OPT_L_TRANSACTIONS: o->files[LOAD_TRANSACTIONS] = optarg; break;
        case OPT_REPLACE: o->replace = 1; break;
        case OPT_MAX_REJECTS:
            if (cli_parse_long("--max-rejects", optarg, 0, 1000000000000L, &o->max_rejects, e))
                return RP_EUSAGE;
            break;
        default:
            return cli_usage_error(e, "load", "invalid option \"%s\"", argv[optind - 1]);
        }
    }
    if (cli_no_args(e, "load", argc, argv))
        return RP_EUSAGE;
    if (!o->files[0] && !o->files[1] && !o->files[2])
        return cli_usage_error(e, "load", "no file to load: give --customers, --accounts "
                                          "and/or --transactions");
    if (o->replace && (!o->files[0] || !o->files[1] || !o->files[2]))
        return cli_usage_error(e, "load", "--replace empties all three tables, so it "
                                          "needs all three files");
    return RP_OK;
}

int cmd_load(int argc, char **argv, rp_err *e)
{
    load_opts o = load_opts_default();
    load_summary s;
    cli_ctx ctx;
    db_conn *c = NULL;
    double t0 = log_now();
    int rc;

    cli_ctx_init(&ctx);
    rc = parse(argc, argv, &ctx, &o, e);
    if (rc)
        return rc < 0 ? RP_OK : rc;
    if ((rc = cli_connect(&ctx, &c, e)))
        return rc;
    rc = schema_init(c, &ctx.tables, e);
    memset(&s, 0, sizeof s);
    if (!rc)
        rc = load_files(c, &ctx.tables, &o, &s, e);
    if (!rc) {
        report(&o, &s, 1);
        log_info("loaded in %.1f s (one transaction)%s", log_now() - t0,
                 o.replace ? ": the tables were replaced" : "");
        inputs_warn_orphans(c, &ctx.tables);
    } else if (s.total_rejected) {
        report(&o, &s, 0);
    }
    load_summary_free(&s);
    db_close(c);
    return rc;
}
