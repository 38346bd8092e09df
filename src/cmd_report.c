/*
 * cmd_report.c - `riskpipe report --model PATH -o report.html`.
 *
 * The report is a function of the model file alone, so by default no
 * database is touched (not even the embedded one).  With --db the page
 * also lists the model's latest scoring runs and the unseen categories
 * each one counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "report.h"
#include "util/log.h"

static const char report_usage[] =
    "Usage: riskpipe report [--model PATH] [-o FILE] [--db CONNINFO]\n\n"
    "Write the model report: one self-contained HTML file (inline CSS and SVG,\n"
    "no scripts, nothing fetched) with the data summary, ROC and PR curves,\n"
    "KS chart, calibration, score distribution by class, lift by decile,\n"
    "confusion matrix, threshold trade-off, odds ratios with 95% confidence\n"
    "intervals, fit diagnostics and the model card.\n\n"
    "      --model PATH       model file (default riskpipe-model.json)\n"
    "  -o, --output FILE      the HTML file (default report.html); written to a\n"
    "                         temporary file and renamed\n"
    "      --coefficients N   rows of the odds-ratio chart, by |z| (default 25)\n"
    "      --db CONNINFO      also list the model's latest scoring runs (from\n"
    "                         riskpipe_runs); without it no database is used\n";

/* The model's last ten runs, when a database was named with --db. */
static int load_runs(const cli_ctx *ctx, const model *m, report_run **runs,
                     int *n, rp_err *e)
{
    db_conn *c = NULL;
    int rc;

    if ((rc = cli_connect(ctx, &c, e)))
        return rc;
    rc = schema_init_own(c, &ctx->tables, e);
    if (!rc)
        rc = report_load_runs(c, &ctx->tables, m->model_id, 10, runs, n, e);
    db_close(c);
    return rc;
}

static void now_utc(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M UTC", &tm);
}

int cmd_report(int argc, char **argv, rp_err *e)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"model", required_argument, NULL, OPT_MODEL},
        {"output", required_argument, NULL, 'o'},
        {"coefficients", required_argument, NULL, OPT_COEFS},
        {0, 0, 0, 0}};
    const char *path = "riskpipe-model.json", *out = "report.html";
    report_opts ro = {0};
    report_run *runs = NULL;
    char when[40];
    long ncoef = 25;
    int opt, rc;
    cli_ctx ctx;
    model m;

    cli_ctx_init(&ctx);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:qvh", opts, NULL)) != -1) {
        int h = cli_common_option(&ctx, opt, optarg);
        if (h < 0) {
            printf("%s%s", report_usage, cli_common_help);
            return RP_OK;
        }
        if (h)
            continue;
        if (opt == OPT_MODEL)
            path = optarg;
        else if (opt == 'o')
            out = optarg;
        else if (opt == OPT_COEFS) {
            if ((rc = cli_parse_long("--coefficients", optarg, 1, 1000, &ncoef, e)))
                return rc;
        } else
            return cli_usage_error(e, "report", "invalid option \"%s\"", argv[optind - 1]);
    }
    if ((rc = cli_no_args(e, "report", argc, argv)))
        return rc;
    if ((rc = model_load(path, &m, e)))
        return rc;
    if (ctx.db && (rc = load_runs(&ctx, &m, &runs, &ro.n_runs, e))) {
        model_free(&m);
        return rc;
    }
    now_utc(when, sizeof when);
    ro.generated_at = when;
    ro.runs = runs;
    ro.max_coefs = (int)ncoef;
    rc = report_write(&m, &ro, out, e);
    if (!rc)
        log_info("report written to %s", out);
    free(runs);
    model_free(&m);
    return rc;
}
