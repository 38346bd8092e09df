/*
 * cmd_predict.c - `riskpipe predict` and `riskpipe run`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "load.h"
#include "registry.h"
#include "util/log.h"
#include "util/mem.h"

const char cli_predict_help[] =
    "Output options:\n"
    "      --csv PATH              predictions CSV (default predictions.csv)\n"
    "      --no-db-write           write only the CSV, not the predictions table\n";

int cli_predict_option(predict_opts *o, int opt, const char *arg, rp_err *e)
{
    switch (opt) {
    case OPT_CSV:
        /* checked here: an empty name would fail only after the COMMIT */
        if (!*arg)
            return -cli_usage_error(e, "predict", "--csv needs a file name");
        o->csv_path = arg;
        return 1;
    case OPT_NO_DB_WRITE: o->no_db_write = 1; return 1;
    case OPT_AS_OF: {
        int rc = cli_check_date("--as-of", arg, e);
        o->as_of = arg;
        return rc ? -rc : 1;
    }
    default: return 0;
    }
}

static void report(const predict_opts *po, const predict_summary *s, const rp_tables *t)
{
    log_info("scored %ld customers: %ld high-risk (%.1f%%)%s", s->scored, s->high_risk,
             s->scored ? 100.0 * (double)s->high_risk / (double)s->scored : 0.0,
             s->unseen ? "" : "");
    if (s->unseen)
        log_warn("%zu city/account_type values were not seen at training (scored as \"other\")",
                 s->unseen);
    if (!po->no_db_write)
        log_info("predictions written to table %s.%s (run %ld)", t->schema, t->predictions,
                 s->run_id);
    if (po->csv_path)
        log_info("predictions written to %s", po->csv_path);
}

/* Without --model: the registry's active model, else riskpipe-model.json. */
static int default_model(db_conn *c, const rp_tables *t, model *m, rp_err *e)
{
    int has = reg_has_active(c, t, e);

    if (has < 0)
        return e->code;
    if (has) {
        log_verbose("using the registry's active model");
        return reg_load(c, t, NULL, m, e);
    }
    return model_load("riskpipe-model.json", m, e);
}

/*
 * predict --from-csv DIR: DIR/{customers,accounts,transactions}.csv into
 * temporary tables shaped like the real ones (load.h), so the same feature
 * query scores them.  Rejected rows are customers (or their accounts and
 * transactions) that will not be scored as given: said loudly.
 */
static int load_dir(db_conn *c, const rp_tables *t, const char *dir, rp_tables *tin,
                    long *rejected, rp_err *e)
{
    static const char *const names[LOAD_NTABLES] = {"customers", "accounts", "transactions"};
    load_opts lo = load_opts_default();
    load_summary ls;
    char *files[LOAD_NTABLES];
    int i, rc;

    for (i = 0; i < LOAD_NTABLES; i++)
        lo.files[i] = files[i] = xasprintf("%s/%s.csv", dir, names[i]);
    lo.replace = 1;
    memset(&ls, 0, sizeof ls);
    rc = load_temp_tables(c, t, tin, e);
    if (!rc)
        rc = load_files(c, tin, &lo, &ls, e);
    if (!rc) {
        log_info("read %ld customers, %ld accounts, %ld transactions from %s", ls.loaded[0],
                 ls.loaded[1], ls.loaded[2], dir);
        if (ls.total_rejected)
            log_warn("%ld rows rejected (%ld customers, %ld accounts, %ld transactions) and "
                     "not scored: see %s/*.csv.rejects.csv", ls.total_rejected,
                     ls.rejected[0], ls.rejected[1], ls.rejected[2], dir);
        *rejected = ls.total_rejected;
    }
    load_summary_free(&ls);
    for (i = 0; i < LOAD_NTABLES; i++)
        free(files[i]);
    return rc;
}

static const char predict_usage[] =
    "Usage: riskpipe predict [--model PATH] [OPTIONS]\n\n"
    "Score every customer with a saved model and replace the predictions\n"
    "table and CSV atomically (all rows or none).\n\n"
    "      --model PATH            model file (default: the registry's active model,\n"
    "                              else riskpipe-model.json)\n"
    "      --as-of DATE            feature date (default: latest transaction_date)\n"
    "      --in-database           let PostgreSQL score (the SQL of `riskpipe export-sql`)\n"
    "                              and fill the table: no rows leave the server,\n"
    "                              no CSV is written\n"
    "      --from-csv DIR          score the customers of DIR/customers.csv,\n"
    "                              DIR/accounts.csv and DIR/transactions.csv (loaded\n"
    "                              as `riskpipe load` does, into temporary tables)\n"
    "                              instead of the customers table\n";

int cmd_predict(int argc, char **argv, rp_err *e)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS, CLI_PREDICT_OPTIONS,
        {"model", required_argument, NULL, OPT_MODEL},
        {"as-of", required_argument, NULL, OPT_AS_OF},
        {"in-database", no_argument, NULL, OPT_IN_DATABASE},
        {"from-csv", required_argument, NULL, OPT_FROM_CSV},
        CLI_FEATURE_PATH_OPTIONS,
        {0, 0, 0, 0}};
    predict_opts po = {.csv_path = "predictions.csv", .command = "predict"};
    const char *model_path = NULL, *from_csv = NULL;
    rp_tables tin;
    predict_summary sum;
    cli_ctx ctx;
    db_conn *c = NULL;
    model m;
    int opt, rc, csv_given = 0;

    cli_ctx_init(&ctx);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
        int h = cli_common_option(&ctx, opt, optarg);
        if (h < 0) {
            printf("%s%s%s%s", predict_usage, cli_features_help, cli_predict_help,
                   cli_common_help);
            return RP_OK;
        }
        if (h)
            continue;
        if (opt == OPT_MODEL) {
            model_path = optarg;
            continue;
        }
        if (opt == OPT_IN_DATABASE) {
            po.in_database = 1;
            continue;
        }
        if (opt == OPT_FROM_CSV) {
            from_csv = optarg;
            continue;
        }
        csv_given |= opt == OPT_CSV;
        h = cli_predict_option(&po, opt, optarg, e);
        if (h == 0)
            h = cli_features_option(&po.features, opt, optarg, e);
        if (h < 0)
            return -h;
        if (!h)
            return cli_usage_error(e, "predict", "invalid option \"%s\"", argv[optind - 1]);
    }
    if ((rc = cli_no_args(e, "predict", argc, argv)))
        return rc;
    /* the CSV would need every row sent to riskpipe: what --in-database avoids */
    if (po.in_database && (csv_given || po.no_db_write))
        return cli_usage_error(e, "predict", "--in-database writes only the predictions "
                               "table: it cannot be combined with %s",
                               csv_given ? "--csv" : "--no-db-write");
    if (po.in_database)
        po.csv_path = NULL;
    if (po.in_database && from_csv)
        return cli_usage_error(e, "predict", "--from-csv scores in riskpipe: it cannot be "
                               "combined with --in-database");
    model_init(&m);
    if (model_path && (rc = model_load(model_path, &m, e)))
        return rc;
    rc = cli_connect(&ctx, &c, e);
    if (!rc && !from_csv)
        rc = schema_check_inputs(c, &ctx.tables, e);
    if (!rc)
        rc = schema_init_own(c, &ctx.tables, e);
    if (!rc && !model_path)
        rc = default_model(c, &ctx.tables, &m, e);
    if (!rc && from_csv && !(rc = load_dir(c, &ctx.tables, from_csv, &tin, &po.rejected, e)))
        po.inputs = &tin;
    if (!rc)
        rc = pipe_predict(c, &ctx.tables, &m, &po, NULL, &sum, e);
    if (!rc)
        report(&po, &sum, &ctx.tables);
    model_free(&m);
    db_close(c);
    return rc;
}

static const char run_usage[] =
    "Usage: riskpipe run [OPTIONS]\n\n"
    "The whole pipeline: train a model (as `riskpipe train`) and score every\n"
    "customer with it (as `riskpipe predict`), reading the data once.\n\n";

int cmd_run(int argc, char **argv, rp_err *e)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS, CLI_TRAIN_OPTIONS, CLI_PREDICT_OPTIONS, {0, 0, 0, 0}};
    train_opts to = pipe_train_opts_default();
    predict_opts po = {.csv_path = "predictions.csv", .command = "run"};
    predict_summary sum;
    cli_ctx ctx;
    db_conn *c = NULL;
    pipe_data pd;
    model m;
    int opt, rc;

    to.activate = 1;
    cli_ctx_init(&ctx);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
        int h = cli_common_option(&ctx, opt, optarg);
        if (h < 0) {
            printf("%s%s%s%s%s", run_usage, cli_train_help, cli_features_help,
                   cli_predict_help, cli_common_help);
            return RP_OK;
        }
        if (h)
            continue;
        h = cli_train_option(&to, opt, optarg, e);
        if (h == 0)
            h = cli_predict_option(&po, opt, optarg, e);
        if (h < 0)
            return -h;
        if (!h)
            return cli_usage_error(e, "run", "invalid option \"%s\"", argv[optind - 1]);
    }
    if ((rc = cli_no_args(e, "run", argc, argv)))
        return rc;
    if ((rc = cli_connect(&ctx, &c, e)))
        return rc;
    rc = schema_init_own(c, &ctx.tables, e);
    if (!rc)
        rc = pipe_train(c, &ctx.tables, &to, &m, &pd, e);
    if (rc) {
        db_close(c);
        return rc;
    }
    if (log_level() >= LOG_NORMAL)
        cli_print_model(&m, 15);
    log_info("model saved to %s", to.model_path);
    rc = pipe_predict(c, &ctx.tables, &m, &po, &pd, &sum, e);
    if (!rc)
        report(&po, &sum, &ctx.tables);
    pipe_data_free(&pd);
    model_free(&m);
    db_close(c);
    return rc;
}
