/*
 * cmd_train.c - `riskpipe train`, plus the option handling and the summary
 * printout that `run` shares.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "logreg.h"
#include "util/log.h"

const char cli_train_help[] =
    "Training options:\n"
    "      --model PATH            model file to write (default riskpipe-model.json)\n"
    "      --features SET          default | seed (the classic script's seven)\n"
    "      --as-of DATE            use transactions up to DATE (YYYY-MM-DD;\n"
    "                              default: the latest transaction_date)\n"
    "      --label-threshold X     high-risk when max(risk_score) > X (default 0.7)\n"
    "      --top-categories K      categories with their own features (default 10)\n"
    "      --min-count N           rarer city/account_type values fold into\n"
    "                              \"other\" (default 20)\n"
    "      --C X                   inverse L2 penalty (default 1.0; \"inf\" = none;\n"
    "                              \"auto\": the value of 10^-3, 10^-2.5, ..., 10^3\n"
    "                              with the lowest cross-validated log loss)\n"
    "      --cv K                  stratified K-fold cross-validation on all\n"
    "                              labelled customers (2..20; default 5 with\n"
    "                              --C auto): mean and sd of each metric\n"
    "      --weight-column NAME    customers column with each customer's weight\n"
    "                              in the fit (a number >= 0)\n"
    "      --class-weight W        none | balanced (default none)\n"
    "      --test-fraction X       held-out share for evaluation (default 0.2)\n"
    "      --seed S                seed of the stratified split and of the CV\n"
    "                              folds (default 42)\n"
    "      --threshold X           fix the decision threshold (overrides the policy)\n"
    "      --threshold-policy P    how the held-out split picks the threshold:\n"
    "                              f1 (default), recall=0.8 (highest threshold\n"
    "                              with recall >= 0.8), precision=0.5 (lowest\n"
    "                              with precision >= 0.5), top=2% (flag the 2%\n"
    "                              highest scores), cost=FN:FP (minimise\n"
    "                              FN*misses + FP*false alarms, e.g. cost=10:1)\n"
    "      --no-register           do not add the model to riskpipe_models\n"
    "      --activate              make it the active model (default for run)\n"
    "      --no-activate           do not (default for train)\n";

int cli_check_date(const char *opt, const char *arg, rp_err *e)
{
    int y, m, d;
    char extra;

    if (strlen(arg) != 10 || sscanf(arg, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 ||
        m < 1 || m > 12 || d < 1 || d > 31 || y < 1900 || y > 9999)
        return rp_err_set(e, RP_EUSAGE, "invalid value \"%.200s\" for %s: expected a date YYYY-MM-DD",
                          arg, opt);
    return RP_OK;
}

const char cli_features_help[] =
    "      --features-path P       auto | sql | client: where the features are\n"
    "                              computed (default auto: in riskpipe from binary\n"
    "                              COPY streams when the tables are local, else by\n"
    "                              the feature query; both give identical features)\n"
    "      --feature-connections N connections of the client-side path (default:\n"
    "                              one per core, at most 8)\n";

int cli_features_option(ff_opts *o, int opt, const char *arg, rp_err *e)
{
    long v;
    int rc = RP_OK;

    switch (opt) {
    case OPT_FEATURES_PATH:
        o->path = ff_path_parse(arg);
        if (o->path < 0)
            rc = rp_err_set(e, RP_EUSAGE, "invalid value \"%.200s\" for --features-path: "
                            "use auto, sql or client", arg);
        break;
    case OPT_FEATURE_CONNS:
        rc = cli_parse_long("--feature-connections", arg, 1, 64, &v, e);
        o->connections = (int)v;
        break;
    default: return 0;
    }
    return rc ? -rc : 1;
}

int cli_train_option(train_opts *o, int opt, const char *arg, rp_err *e)
{
    long v;
    int rc = RP_OK;

    switch (opt) {
    case OPT_MODEL: o->model_path = arg; break;
    case OPT_FEATURES:
        o->feature_set = feat_set_parse(arg);
        if (o->feature_set < 0)
            rc = rp_err_set(e, RP_EUSAGE, "invalid value \"%.200s\" for --features: use default or seed", arg);
        break;
    case OPT_AS_OF:
        rc = cli_check_date("--as-of", arg, e);
        o->as_of = arg;
        break;
    case OPT_LABEL_THR:
        rc = cli_parse_double("--label-threshold", arg, 0, 1, &o->label_threshold, e);
        break;
    case OPT_TOP_K:
        rc = cli_parse_long("--top-categories", arg, 0, 100, &v, e);
        o->top_k = (int)v;
        break;
    case OPT_MIN_COUNT:
        rc = cli_parse_long("--min-count", arg, 1, 1000000000L, &v, e);
        o->min_count = (int)v;
        break;
    case OPT_C:
        o->C_auto = !strcmp(arg, "auto");
        if (o->C_auto)
            o->C = 1.0;
        else if (!strcmp(arg, "inf") || !strcmp(arg, "none"))
            o->C = INFINITY;
        else
            rc = cli_parse_double("--C", arg, 1e-12, 1e12, &o->C, e);
        break;
    case OPT_CLASS_WEIGHT:
        if (!strcmp(arg, "balanced") || !strcmp(arg, "none"))
            o->class_weight_balanced = !strcmp(arg, "balanced");
        else
            rc = rp_err_set(e, RP_EUSAGE, "invalid value \"%.200s\" for --class-weight: use none or balanced", arg);
        break;
    case OPT_TEST_FRACTION:
        rc = cli_parse_double("--test-fraction", arg, 0.01, 0.9, &o->test_fraction, e);
        break;
    case OPT_SEED_SPLIT:
        rc = cli_parse_long("--seed", arg, 0, 2147483647L, &o->seed, e);
        break;
    case OPT_THRESHOLD:
        rc = cli_parse_double("--threshold", arg, 0, 1, &o->threshold, e);
        break;
    case OPT_CV:
        rc = cli_parse_long("--cv", arg, 2, MODEL_CV_MAX_FOLDS, &v, e);
        o->cv_folds = (int)v;
        break;
    case OPT_THR_POLICY: rc = thr_policy_parse(arg, &o->policy, e); break;
    case OPT_WEIGHT_COL:
        if (!*arg || strlen(arg) >= sizeof ((model *)0)->weight_column)
            rc = rp_err_set(e, RP_EUSAGE, "invalid value \"%.200s\" for --weight-column: "
                            "a column name of 1 to 63 bytes", arg);
        o->weight_column = arg;
        break;
    case OPT_DUMP_CV: o->dump_cv = arg; break;
    case OPT_NO_REGISTER: o->no_register = 1; break;
    case OPT_DUMP_MATRIX: o->dump_matrix = arg; break;
    case OPT_DUMP_FEATURES: o->dump_features = arg; break;
    case OPT_FEATURES_PATH:
    case OPT_FEATURE_CONNS:
        return cli_features_option(&o->features, opt, arg, e);
    case OPT_ACTIVATE: o->activate = 1; break;
    case OPT_NO_ACTIVATE: o->activate = 0; break;
    default: return 0;
    }
    return rc ? -rc : 1;
}

/* --C auto's grid and the cross-validation summary (issue 4). */
static void print_selection(const model *m)
{
    const model_cv *cv = &m->cv;
    int i;

    if (m->cgrid.n > 0) {
        printf("\nC chosen by %d-fold cross-validated log loss:\n", m->cgrid.k);
        printf("  %10s %10s %8s %9s\n", "C", "log loss", "sd", "ROC AUC");
        for (i = 0; i < m->cgrid.n; i++) {
            const model_grid_row *r = &m->cgrid.row[i];
            printf("  %10.4g %10.5f %8.5f %9.4f%s\n", r->C, r->log_loss_mean,
                   r->log_loss_sd, r->roc_auc_mean, i == m->cgrid.chosen ? "  <- chosen" : "");
        }
    }
    if (cv->k > 0) {
        printf("\n%d-fold cross-validation (C = %g), mean +/- sd over folds:\n", cv->k, cv->C);
        printf("  ROC AUC   %.4f +/- %.4f     PR AUC  %.4f +/- %.4f\n",
               cv->roc_auc.mean, cv->roc_auc.sd, cv->pr_auc.mean, cv->pr_auc.sd);
        printf("  log loss  %.4f +/- %.4f     Brier   %.4f +/- %.4f\n",
               cv->log_loss.mean, cv->log_loss.sd, cv->brier.mean, cv->brier.sd);
        printf("  KS        %.4f +/- %.4f\n", cv->ks.mean, cv->ks.sd);
    }
}

static void print_metrics(const model *m)
{
    const model_metrics *t = &m->test;
    const model_eval *v = &m->eval;

    printf("model %s  (features: %s, as of %s)\n", m->model_id,
           feat_set_name(m->feat.set), m->feat.as_of);
    printf("customers %ld, labelled %ld (%ld high-risk, %.1f%%), train %ld, test %ld\n",
           m->n_customers, m->n_labelled, m->n_events,
           m->n_labelled ? 100.0 * (double)m->n_events / (double)m->n_labelled : 0.0,
           m->n_train, m->n_test);
    printf("fit: %d Newton iterations, gradient norm %.2e, C = %g%s\n",
           m->iterations, m->grad_norm, m->C, m->class_weight_balanced ? ", balanced" : "");
    printf("\nheld-out evaluation (%ld customers, %ld high-risk):\n", t->n, t->events);
    printf("  ROC AUC   %.4f     PR AUC    %.4f     KS     %.4f\n",
           t->roc_auc, t->pr_auc, t->ks);
    printf("  log loss  %.4f     Brier     %.4f     Gini   %.4f\n", t->log_loss, t->brier,
           v->gini);
    printf("  AUC 95%% CI %.4f - %.4f (DeLong)     KS at score %.4f\n",
           v->roc_auc_lo, v->roc_auc_hi, t->ks_score);
    printf("  threshold %.4f (policy %s: flags %.1f%% of the held-out customers)\n",
           m->threshold, m->threshold_policy, 100.0 * v->flagged);
    printf("  accuracy  %.4f     precision %.4f     recall %.4f     F1 %.4f\n",
           t->accuracy, t->precision, t->recall, t->f1);
    printf("  confusion: TP %ld  FP %ld  TN %ld  FN %ld\n", t->tp, t->fp, t->tn, t->fn);
    print_selection(m);
}

static const model *sort_model;

static int by_abs_z(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    double zi = fabs(sort_model->beta[i] / sort_model->se[i + 1]);
    double zj = fabs(sort_model->beta[j] / sort_model->se[j + 1]);
    return zi < zj ? 1 : zi > zj ? -1 : i - j;
}

void cli_print_model(const model *m, int max_coefs)
{
    int *idx = malloc(((size_t)m->p + 1) * sizeof *idx), j, shown;

    print_metrics(m);
    if (!idx)
        return;
    for (j = 0; j < m->p; j++)
        idx[j] = j;
    sort_model = m;
    qsort(idx, (size_t)m->p, sizeof *idx, by_abs_z);
    shown = max_coefs > 0 && max_coefs < m->p ? max_coefs : m->p;
    printf("\ncoefficients (standardised features; penalised standard errors), "
           "%d of %d by |z|:\n", shown, m->p);
    printf("  %-34s %10s %9s %8s %9s %10s\n", "feature", "estimate", "std.err", "z",
           "p", "odds ratio");
    printf("  %-34s %10.4f %9.4f %8.2f %9.2g %10s\n", "(intercept)", m->intercept,
           m->se[0], m->intercept / m->se[0], lr_pvalue(m->intercept / m->se[0]), "");
    for (j = 0; j < shown; j++) {
        int k = idx[j];
        double z = m->beta[k] / m->se[k + 1];
        printf("  %-34.34s %10.4f %9.4f %8.2f %9.2g %10.3f\n", m->enc.cols[k].name,
               m->beta[k], m->se[k + 1], z, lr_pvalue(z), exp(m->beta[k]));
    }
    free(idx);
}

static const char train_usage[] =
    "Usage: riskpipe train [OPTIONS]\n\n"
    "Build the per-customer features in the database, fit an L2-regularised\n"
    "logistic regression, evaluate it on a held-out split, refit it on all\n"
    "labelled customers and save it (model file + riskpipe_models row).\n\n"
    "      --explain               print the feature query's plan (EXPLAIN VERBOSE:\n"
    "                              on a sharded database, the SQL each shard runs)\n"
    "                              and exit without training\n\n";

int cmd_train(int argc, char **argv, rp_err *e)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS, CLI_TRAIN_OPTIONS,
        {"explain", no_argument, NULL, OPT_EXPLAIN}, {0, 0, 0, 0}};
    train_opts to = pipe_train_opts_default();
    cli_ctx ctx;
    db_conn *c = NULL;
    model m;
    int opt, rc, explain = 0;

    cli_ctx_init(&ctx);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
        int h = cli_common_option(&ctx, opt, optarg);
        if (h < 0) {
            printf("%s%s%s%s", train_usage, cli_train_help, cli_features_help,
                   cli_common_help);
            return RP_OK;
        }
        if (h)
            continue;
        if (opt == OPT_EXPLAIN) {
            explain = 1;
            continue;
        }
        h = cli_train_option(&to, opt, optarg, e);
        if (h < 0)
            return -h;
        if (!h)
            return cli_usage_error(e, "train", "invalid option \"%s\"", argv[optind - 1]);
    }
    if ((rc = cli_no_args(e, "train", argc, argv)))
        return rc;
    if ((rc = cli_connect(&ctx, &c, e)))
        return rc;
    if (explain) {
        char *plan = NULL;
        rc = pipe_train_explain(c, &ctx.tables, &to, &plan, e);
        if (!rc)
            fputs(plan, stdout);
        free(plan);
        db_close(c);
        return rc;
    }
    rc = schema_init_own(c, &ctx.tables, e);
    if (!rc)
        rc = pipe_train(c, &ctx.tables, &to, &m, NULL, e);
    if (!rc) {
        if (log_level() >= LOG_NORMAL)
            cli_print_model(&m, 15);
        log_info("model saved to %s", to.model_path);
        model_free(&m);
    }
    db_close(c);
    return rc;
}
