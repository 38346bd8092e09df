/*
 * cmd_drift.c - `riskpipe drift [RUN]`: the population stability table of
 * a scoring run, worst first.
 *
 * The figures are the ones predict stored in riskpipe_runs.details (see
 * drift.h for how they are computed); this command only reads them back,
 * so it works on any past run and needs neither the model nor the data.
 * The sort happens in SQL over the JSONB, so the printed order is the
 * stored numbers' order, not a re-computation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "drift.h"
#include "util/log.h"
#include "util/mem.h"

static const char drift_usage[] =
    "Usage: riskpipe drift [RUN] [OPTIONS]\n\n"
    "The population stability index (PSI) of the score and of every feature for\n"
    "a scoring run (default: the latest run that has them), worst first: how far\n"
    "the customers scored in that run have moved from the ones the model was\n"
    "trained on.  Below 0.10 stable, 0.10 to 0.25 watch, above 0.25 act\n"
    "(retrain, or find out what changed in the data).  Also the values of text\n"
    "columns not seen at training (scored as \"other\").\n\n"
    "RUN is a run_id of table riskpipe_runs (`riskpipe drift` prints it).\n\n";

/* The run to show: the one asked for, or the latest with drift figures. */
static int pick_run(db_conn *c, const char *tab, const char *arg, char **run, rp_err *e)
{
    char *sql;
    int rc;

    if (arg) {
        *run = xstrdup(arg);
        return RP_OK;
    }
    sql = xasprintf("SELECT max(run_id) FROM %s WHERE jsonb_typeof(details->'drift') = 'object'",
                    tab);
    rc = db_query_value(c, sql, 0, NULL, run, e);
    free(sql);
    if (!rc && !*run) {
        rp_err_set(e, RP_EDATA, "no scoring run has drift figures yet");
        rp_err_hint(e, "`riskpipe predict` or `riskpipe run` records them with every run");
        return RP_EDATA;
    }
    return rc;
}

/* The header: which run, when, which model, how many rows. */
static int print_header(db_conn *c, const char *tab, const char *run, rp_err *e)
{
    const char *params[1] = {run};
    char *sql = xasprintf(
        "SELECT command, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), "
        "coalesce(model_id, '?'), status, details->'drift'->>'n', "
        "details->'drift'->>'reference_n', jsonb_typeof(details->'drift') = 'object' "
        "FROM %s WHERE run_id = $1::bigint", tab);
    db_rows *r = NULL;
    int rc = db_query(c, sql, 1, params, &r, e);

    free(sql);
    if (rc)
        return rc;
    if (r->nrows == 0) {
        rc = rp_err_set(e, RP_EDATA, "no run %s in table riskpipe_runs", run);
    } else if (strcmp(db_rows_get(r, 0, 6) ? db_rows_get(r, 0, 6) : "f", "t")) {
        rc = rp_err_set(e, RP_EDATA, "run %s has no drift figures", run);
        rp_err_detail(e, "its status is \"%s\"; runs that failed, ran --in-database, or "
                      "used a model without a drift reference have none", db_rows_get(r, 0, 3));
    } else {
        printf("run %s (%s, %s UTC, model %s): %s customers against %s at training\n"
               "PSI: below %.2f stable, %.2f to %.2f watch, above %.2f act\n\n", run,
               db_rows_get(r, 0, 0), db_rows_get(r, 0, 1), db_rows_get(r, 0, 2),
               db_rows_get(r, 0, 4), db_rows_get(r, 0, 5) ? db_rows_get(r, 0, 5) : "?",
               DRIFT_WATCH, DRIFT_WATCH, DRIFT_ACT, DRIFT_ACT);
    }
    db_rows_free(r);
    return rc;
}

/* One line per column, the score included, worst first. */
static int print_table(db_conn *c, const char *tab, const char *run, rp_err *e)
{
    const char *params[1] = {run};
    char *sql = xasprintf(
        "SELECT f->>'name', f->>'kind', f->>'psi', f->>'level', "
        "f->>'expected_missing', f->>'actual_missing' "
        "FROM %s r, jsonb_array_elements(jsonb_build_array(r.details->'drift'->'score') "
        "|| (r.details->'drift'->'features')) f WHERE r.run_id = $1::bigint "
        "ORDER BY (f->>'psi')::float8 DESC NULLS LAST, f->>'name'", tab);
    db_rows *r = NULL;
    int rc = db_query(c, sql, 1, params, &r, e), i;

    free(sql);
    if (rc)
        return rc;
    printf("%-32s %-11s %10s  %-5s  %s\n", "column", "kind", "PSI", "level",
           "missing (training -> run)");
    for (i = 0; i < r->nrows; i++) {
        const char *psi = db_rows_get(r, i, 2), *em = db_rows_get(r, i, 4),
                   *am = db_rows_get(r, i, 5);
        printf("%-32s %-11s %10.4f  %-5s  ", db_rows_get(r, i, 0), db_rows_get(r, i, 1),
               psi ? atof(psi) : NAN, db_rows_get(r, i, 3));
        if (em && am)
            printf("%.1f%% -> %.1f%%\n", 100 * atof(em), 100 * atof(am));
        else
            printf("-\n");
    }
    db_rows_free(r);
    return RP_OK;
}

static int print_unseen(db_conn *c, const char *tab, const char *run, rp_err *e)
{
    const char *params[1] = {run};
    char *sql = xasprintf("SELECT string_agg(key || ' ' || value, ', ' ORDER BY key) "
                          "FROM %s r, jsonb_each_text(r.details->'unseen') "
                          "WHERE r.run_id = $1::bigint", tab);
    char *v = NULL;
    int rc = db_query_value(c, sql, 1, params, &v, e);

    free(sql);
    if (!rc && v)
        printf("\nvalues not seen at training (scored as \"other\"): %s\n", v);
    free(v);
    return rc;
}

int cmd_drift(int argc, char **argv, rp_err *e)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
    const char *arg = NULL;
    char *run = NULL, *tab = NULL;
    cli_ctx ctx;
    db_conn *c = NULL;
    long id;
    int opt, rc;

    cli_ctx_init(&ctx);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
        int h = cli_common_option(&ctx, opt, optarg);
        if (h < 0) {
            printf("%s%s", drift_usage, cli_common_help);
            return RP_OK;
        }
        if (!h)
            return cli_usage_error(e, "drift", "invalid option \"%s\"", argv[optind - 1]);
    }
    if (optind < argc)
        arg = argv[optind++];
    if ((rc = cli_no_args(e, "drift", argc, argv)))
        return rc;
    if (arg && cli_parse_long("RUN", arg, 1, 9223372036854775807L, &id, e))
        return RP_EUSAGE;
    if ((rc = cli_connect(&ctx, &c, e)))
        return rc;
    rc = schema_init_own(c, &ctx.tables, e);
    tab = schema_qualify(c, &ctx.tables, "riskpipe_runs");
    if (!rc)
        rc = pick_run(c, tab, arg, &run, e);
    if (!rc)
        rc = print_header(c, tab, run, e);
    if (!rc)
        rc = print_table(c, tab, run, e);
    if (!rc)
        rc = print_unseen(c, tab, run, e);
    free(run);
    free(tab);
    db_close(c);
    return rc;
}
