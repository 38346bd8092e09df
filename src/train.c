/*
 * train.c - pipe_train: features -> split -> encode/scale -> fit ->
 * evaluate -> refit -> model file and registry row.
 *
 * Evaluation protocol: a stratified split (seeded, test_fraction held out)
 * fits the encoder, scaler and model on the training part and measures
 * them on the held-out part; the decision threshold is chosen there too.
 * The deployed model keeps that encoder and scaler and is refit on all
 * labelled rows, so that no labelled customer is wasted.  Both the held-out
 * metrics and the refit are recorded in the model file.
 *
 * Determinism: the split uses a private PRNG; index lists are sorted, so
 * the solver sees rows in customer_id order; the feature SQL sums exactly.
 * The same data and options therefore give the same coefficients, bit for
 * bit.
 */
#include "pipeline.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cv.h"
#include "encode.h"
#include "evaluate.h"
#include "explain.h"
#include "inputs.h"
#include "logreg.h"
#include "metrics.h"
#include "registry.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rng.h"
#include "util/strbuf.h"
#include "version.h"

train_opts pipe_train_opts_default(void)
{
    train_opts o;

    memset(&o, 0, sizeof o);
    o.feature_set = FEAT_DEFAULT;
    o.label_threshold = 0.7;
    o.top_k = 10;
    o.min_count = 20;
    o.C = 1.0;
    o.test_fraction = 0.2;
    o.seed = 42;
    o.threshold = NAN;
    o.model_path = "riskpipe-model.json";
    return o;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* The labelled rows split into train and test, stratified by label. */
typedef struct split {
    size_t *all, n_all;      /* every labelled row */
    size_t *train, n_train;
    size_t *test, n_test;
    size_t events;           /* positives among all labelled rows */
} split;

static void split_free(split *s)
{
    free(s->all);
    free(s->train);
    free(s->test);
}

/* Shuffles idx (Fisher-Yates) and deals the first k to test. */
static void deal(size_t *idx, size_t n, size_t k, rng *r, split *s)
{
    size_t i;

    for (i = n; i > 1; i--) {
        size_t j = rng_below(r, i), t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
    for (i = 0; i < n; i++) {
        if (i < k)
            s->test[s->n_test++] = idx[i];
        else
            s->train[s->n_train++] = idx[i];
    }
}

static int make_split(const dataset *d, double frac, long seed, split *s, rp_err *e)
{
    size_t *cls[2], ncls[2] = {0, 0}, i;
    rng r = {(uint64_t)seed * 0x9e3779b97f4a7c15ULL + 1};
    int k;

    memset(s, 0, sizeof *s);
    s->all = xmallocarray(d->n ? d->n : 1, sizeof *s->all);
    cls[0] = xmallocarray(d->n ? d->n : 1, sizeof(size_t));
    cls[1] = xmallocarray(d->n ? d->n : 1, sizeof(size_t));
    for (i = 0; i < d->n; i++) {
        if (isnan(d->label[i]))
            continue;
        s->all[s->n_all++] = i;
        k = d->label[i] > 0.5;
        cls[k][ncls[k]++] = i;
    }
    s->events = ncls[1];
    if (s->n_all == 0 || ncls[0] == 0 || ncls[1] == 0) {
        free(cls[0]);
        free(cls[1]);
        if (s->n_all == 0) {
            rp_err_set(e, RP_EDATA, "no labelled customers: none of the %zu customers "
                       "has an account with a risk_score", d->n);
            rp_err_hint(e, "the label is max(risk_score) over a customer's accounts; "
                           "fill risk_score for the customers you have assessed");
        } else {
            rp_err_set(e, RP_EDATA, "only one class among the %zu labelled customers: all are %s",
                       s->n_all, ncls[1] ? "high-risk" : "low-risk");
            rp_err_hint(e, "check --label-threshold (a customer is high-risk when "
                           "max(risk_score) exceeds it)");
        }
        return RP_EDATA;
    }
    if (ncls[0] < 2 || ncls[1] < 2) {
        free(cls[0]);
        free(cls[1]);
        return rp_err_set(e, RP_EDATA, "too few labelled customers of one class "
                          "(%zu high-risk, %zu low-risk) to hold some out for evaluation",
                          ncls[1], ncls[0]);
    }
    s->train = xmallocarray(s->n_all, sizeof *s->train);
    s->test = xmallocarray(s->n_all, sizeof *s->test);
    for (k = 0; k < 2; k++) {
        size_t nt = (size_t)llround(frac * (double)ncls[k]);
        if (nt < 1)
            nt = 1;
        if (nt >= ncls[k])
            nt = ncls[k] - 1;
        deal(cls[k], ncls[k], nt, &r, s);
    }
    qsort(s->train, s->n_train, sizeof *s->train, cmp_size);
    qsort(s->test, s->n_test, sizeof *s->test, cmp_size);
    free(cls[0]);
    free(cls[1]);
    return RP_OK;
}

/* Labels (and optional balanced weights) for a list of rows. */
static double *gather_labels(const dataset *d, const size_t *rows, size_t n)
{
    double *y = xmallocarray(n, sizeof *y);
    size_t i;

    for (i = 0; i < n; i++)
        y[i] = d->label[rows[i]];
    return y;
}

/* Fits on the first n rows of X (leading dimension ld), which hold the
 * dataset rows rows[0..n), with the options' penalty and weights (wcol: the
 * weight column per dataset row, or NULL; balanced: scikit-learn's
 * n / (2 n_c), see cv_weights); init: a starting point or NULL; names (p
 * design column names) let the solver's errors name a column. */
static int fit_rows(const double *X, size_t ld, const size_t *rows, size_t n,
                    size_t p, const double *y, const train_opts *o,
                    const double *wcol, const double *init,
                    const char *const *names, lr_fit *fit, rp_err *e)
{
    lr_params par = lr_params_default();
    double *w = cv_weights(wcol, rows, y, n, o->class_weight_balanced);
    int rc;

    par.C = o->C;
    par.names = names;
    par.ld = ld;
    par.init = init;
    rc = lr_train(X, n, p, y, w, &par, fit, e);
    free(w);
    return rc;
}

/* Testing aid (--dump-cv DIR): the held-out labels and probabilities, so
 * that a test can recompute the evaluation and the threshold policy. */
static int dump_heldout(const char *dir, const double *y, const double *s,
                        size_t n, rp_err *e)
{
    char *path = xasprintf("%s/heldout.csv", dir);
    FILE *f = fopen(path, "w");
    int rc = RP_OK;

    if (f) {
        fprintf(f, "y,score\n");
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%.0f,%.17g\n", y[i], s[i]);
    }
    if (!f || fclose(f))
        rc = rp_err_set(e, RP_EINTERNAL, "could not write \"%s\"", path);
    free(path);
    return rc;
}

/* The threshold policy of o (--threshold X makes it "fixed"), recorded
 * by name in m; its threshold on the held-out scores s into *thr. */
static int choose_threshold(const train_opts *o, const double *y,
                            const double *s, size_t n, model *m, double *thr,
                            rp_err *e)
{
    thr_policy pol = o->policy;

    if (!isnan(o->threshold)) {
        pol.kind = THR_FIXED;
        pol.a = o->threshold;
    }
    thr_policy_name(&pol, m->threshold_policy, sizeof m->threshold_policy);
    return thr_choose(&pol, y, s, n, thr, e);
}

/* Held-out metrics of fit on the test rows into m->test and m->eval;
 * chooses the threshold. */
static int evaluate(const lr_fit *fit, const double *X, size_t ld, const double *y,
                    size_t n, const train_opts *o, model *m, rp_err *e)
{
    double *s = xmallocarray(n, sizeof *s);
    model_metrics *mm = &m->test;
    met_confusion cm;
    size_t i;
    int rc;

    lr_decision_ld(fit, X, ld, n, s);
    for (i = 0; i < n; i++)
        s[i] = lr_sigmoid(s[i]);
    memset(mm, 0, sizeof *mm);
    mm->n = (long)n;
    for (i = 0; i < n; i++)
        mm->events += y[i] > 0.5;
    mm->log_loss = met_log_loss(y, s, n);
    if ((o->dump_cv && (rc = dump_heldout(o->dump_cv, y, s, n, e))) ||
        (rc = choose_threshold(o, y, s, n, m, &mm->threshold, e))) {
        free(s);
        return rc;
    }
    /* the report's evaluation; the headline metrics are the same calls */
    eval_fill(y, s, n, mm->threshold, m->threshold_policy, &m->eval);
    mm->roc_auc = m->eval.roc_auc;
    mm->pr_auc = m->eval.pr_auc;
    mm->brier = m->eval.brier;
    mm->ks = m->eval.ks;
    mm->ks_score = m->eval.ks_score;
    cm = met_confusion_at(y, s, n, mm->threshold);
    mm->tp = (long)cm.tp;
    mm->fp = (long)cm.fp;
    mm->tn = (long)cm.tn;
    mm->fn = (long)cm.fn;
    mm->accuracy = cm.accuracy;
    mm->precision = cm.precision;
    mm->recall = cm.recall;
    mm->f1 = cm.f1;
    free(s);
    return RP_OK;
}

/* Copies the refit into the model, with coefficients on the original
 * scale: beta_orig = beta / sd, intercept_orig = b0 - sum beta*mean/sd. */
static void store_fit(model *m, const lr_fit *fit)
{
    int j, p = m->enc.p;

    m->p = p;
    m->intercept = fit->intercept;
    m->beta = xmallocarray((size_t)p + 1, sizeof *m->beta);
    m->beta_orig = xmallocarray((size_t)p + 1, sizeof *m->beta_orig);
    m->se = xmallocarray((size_t)p + 1, sizeof *m->se);
    memcpy(m->se, fit->se, ((size_t)p + 1) * sizeof *m->se);
    m->intercept_orig = fit->intercept;
    for (j = 0; j < p; j++) {
        const enc_col *col = &m->enc.cols[j];
        m->beta[j] = fit->beta[j];
        m->beta_orig[j] = fit->beta[j] / col->sd;
        m->intercept_orig -= fit->beta[j] * col->mean / col->sd;
    }
    m->iterations = fit->iterations;
    m->grad_norm = fit->grad_norm;
    m->loglik = fit->loglik;
    m->loglik_null = fit->loglik_null;
    m->cond = fit->cond;
}

/* "rp-YYYYMMDD-HHMMSS-xxxxxxxx": time plus a hash of the coefficients. */
static void make_id(model *m)
{
    time_t now = time(NULL);
    struct tm tm;
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *b = (const unsigned char *)m->beta;
    size_t i, nb = (size_t)m->p * sizeof *m->beta;

    for (i = 0; i < nb; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    h ^= (uint64_t)getpid();
    gmtime_r(&now, &tm);
    strftime(m->created_at, sizeof m->created_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(m->model_id, sizeof m->model_id, "rp-%04d%02d%02d-%02d%02d%02d-%08x",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (unsigned)(h & 0xffffffffu));
}

/* Testing aid: the standardised matrix and labels of the final fit. */
static int dump_matrix(const char *path, const double *X, const double *y,
                       size_t n, size_t p, const size_t *rows, const split *s,
                       size_t nd, rp_err *e)
{
    FILE *f = fopen(path, "w");
    size_t *pos, i, j, k;

    if (!f)
        return rp_err_set(e, RP_EINTERNAL, "could not write \"%s\"", path);
    /* X holds the dataset rows rows[]; written in dataset order (s->all),
     * as the tests expect */
    pos = xmallocarray(nd + 1, sizeof *pos);
    for (k = 0; k < n; k++)
        pos[rows[k]] = k;
    for (k = 0; k < s->n_all; k++) {
        i = pos[s->all[k]];
        for (j = 0; j < p; j++)
            fprintf(f, "%.17g,", X[j * n + i]);
        fprintf(f, "%.0f\n", y[i]);
    }
    free(pos);
    if (fclose(f))
        return rp_err_set(e, RP_EINTERNAL, "could not write \"%s\"", path);
    return RP_OK;
}

/* The feature query for o: as-of date, categories, SQL. */
static int build_features(db_conn *c, const rp_tables *t, const train_opts *o,
                          model *m, feat_query *q, rp_err *e)
{
    int rc;

    m->feat.set = o->feature_set;
    m->feat.label_threshold = o->label_threshold;
    /* the category names are the first text the data send: a value that
     * is not UTF-8 fails here, and inputs_explain names it */
    if (!o->as_of && o->feature_set == FEAT_DEFAULT) {
        /* the default as-of date and the categories in one scan */
        progress pg;
        progress_begin(&pg, "learn", 0);
        rc = feat_learn_as_of_categories(c, t, &m->feat, o->top_k, e);
        progress_end(&pg);
        if (rc)
            return inputs_explain(c, t, rc, e);
    } else {
        if (o->as_of)
            snprintf(m->feat.as_of, sizeof m->feat.as_of, "%s", o->as_of);
        else if ((rc = feat_default_as_of(c, t, m->feat.as_of, e)))
            return rc;
        if (o->feature_set == FEAT_DEFAULT &&
            (rc = feat_learn_categories(c, t, &m->feat, o->top_k, e)))
            return inputs_explain(c, t, rc, e);
    }
    /* borrowed for the one call (feat_spec.weight_column is not owned) */
    m->feat.weight_column = o->weight_column;
    rc = feat_build(c, t, &m->feat, q, e);
    m->feat.weight_column = NULL;
    return rc;
}

/* Loads the data: the feature query, then its rows (through the SQL
 * path or the client-side path, fastfeat.h: the same dataset). */
static int load_features(db_conn *c, const rp_tables *t, const train_opts *o,
                         model *m, dataset *d, feat_query *q, ff_info *info,
                         rp_err *e)
{
    int rc = build_features(c, t, o, m, q, e);

    if (rc)
        return rc;
    log_verbose("feature query:\n%s", q->sql);
    /* borrowed again: the client path reads the weight column too */
    m->feat.weight_column = o->weight_column;
    rc = ff_load(c, t, &m->feat, q, &o->features, d, info, e);
    m->feat.weight_column = NULL;
    if (!rc && o->dump_features)
        rc = ds_dump(d, q, o->dump_features, e);
    return rc;
}

int pipe_train_explain(db_conn *c, const rp_tables *t, const train_opts *o,
                       char **plan, rp_err *e)
{
    feat_query q;
    model m;
    db_rows *r = NULL;
    sb_t sb = {0};
    char *sql;
    int rc, i;

    *plan = NULL;
    memset(&q, 0, sizeof q);
    model_init(&m);
    rc = schema_check_inputs(c, t, e);
    if (!rc)
        rc = inputs_check(c, t, e);
    if (!rc)
        rc = build_features(c, t, o, &m, &q, e);
    if (!rc) {
        /* VERBOSE: each foreign scan shows the Remote SQL a shard runs */
        sql = xasprintf("EXPLAIN (VERBOSE) %s", q.sql);
        rc = db_query(c, sql, 0, NULL, &r, e);
        free(sql);
    }
    for (i = 0; !rc && i < r->nrows; i++)
        sb_printf(&sb, "%s\n", db_rows_get(r, i, 0));
    if (!rc)
        *plan = sb_steal(&sb);
    sb_free(&sb);
    db_rows_free(r);
    feat_query_free(&q);
    model_free(&m);
    return rc;
}

/*
 * --cv K and --C auto: cross-validation on all labelled rows (cv.h), into
 * m->cv and m->cgrid.  *sel receives o with C replaced by the chosen one
 * (o itself when neither option is given).
 */
static int select_model(const train_opts *o, const dataset *d,
                        const feat_query *q, const double *wcol,
                        const split *s, model *m, train_opts *sel, rp_err *e)
{
    double grid[MODEL_GRID_MAX];
    int ng = 1, rc;
    cv_opts co = { o->cv_folds ? o->cv_folds : CV_DEFAULT_FOLDS, o->seed,
                   o->min_count, o->class_weight_balanced, wcol, o->dump_cv };

    *sel = *o;
    if (!o->cv_folds && !o->C_auto)
        return RP_OK;
    grid[0] = o->C;
    if (o->C_auto) {
        cv_default_grid(grid);
        ng = CV_GRID_DEFAULT_N;
    }
    log_info("cross-validation: %d folds, %d value%s of C", co.k, ng, ng > 1 ? "s" : "");
    rc = cv_run(d, q, s->all, s->n_all, grid, ng, &co, &m->cv,
                o->C_auto ? &m->cgrid : NULL, e);
    sel->C = m->cv.C;
    return rc;
}

/* Logs the time since t0 of one part of the fit (-v) and returns now. */
static double substage(const char *what, double t0)
{
    double t = log_now();

    log_verbose("  fit: %-14s %8.3f s", what, t - t0);
    return t;
}

/* Training rows from which a fit on a subsample pays as a starting point,
 * and the share it takes (the training rows are in random order, so the
 * first n / WARM_SHARE of them are a random subsample). */
#define WARM_MIN_ROWS 100000
#define WARM_SHARE 8

/* The coefficients of f (intercept first), a starting point for lr_train;
 * caller frees. */
static double *start_from(const lr_fit *f)
{
    double *init = xmallocarray(f->p + 1, sizeof *init);

    init[0] = f->intercept;
    memcpy(init + 1, f->beta, f->p * sizeof *init);
    return init;
}

/* For a large training set, a starting point from a fit on a random
 * subsample of it, so the full fit needs fewer Newton steps (each step
 * reads all of X); NULL when the set is small or the subsample does not fit
 * (the full fit then starts from the intercept-only model and reports any
 * real problem itself). */
static double *subsample_start(const double *X, size_t ld, const size_t *rows,
                               size_t n, size_t p, const double *y, const train_opts *o,
                               const double *wcol, const char *const *names)
{
    lr_fit f;
    rp_err ignore;
    double *init = NULL;

    if (n < WARM_MIN_ROWS || !(o->C > 0 && isfinite(o->C)))
        return NULL;
    if (fit_rows(X, ld, rows, n / WARM_SHARE, p, y, o, wcol, NULL, names, &f,
                 &ignore) == RP_OK)
        init = start_from(&f);
    lr_fit_free(&f);
    return init;
}

/* The diagnostics that need the data and the design but not the model
 * (explain.h: VIFs, the data summary), computed by a second thread while
 * the main one fits: the fit uses one core (one BLAS thread, main.c). */
typedef struct diag_job {
    const double *X;
    size_t n;
    int p;
    const dataset *d;
    const feat_query *q;
    model_diag *out;   /* the thread writes vif, corr_cond and the data
                          summary; the main thread the other fields */
    rp_err err;
    int rc, running;
    pthread_t th;
} diag_job;

static void *diag_main(void *arg)
{
    diag_job *j = arg;

    j->rc = expl_design_vif(j->X, j->n, j->p, j->out, &j->err);
    expl_data_diag(j->d, j->q, j->out);
    return NULL;
}

static void diag_start(diag_job *j)
{
    rp_err_clear(&j->err);
    j->running = pthread_create(&j->th, NULL, diag_main, j) == 0;
    if (!j->running)
        diag_main(j);
}

/* Waits for the thread (once); its error, if any, into e. */
static int diag_finish(diag_job *j, rp_err *e)
{
    if (j->running) {
        pthread_join(j->th, NULL);
        j->running = 0;
    }
    if (j->rc && e)
        *e = j->err;
    return j->rc;
}

/* The split's rows as one list, the training rows first. */
static size_t *train_then_test(const split *s)
{
    size_t *rows = xmallocarray(s->n_train + s->n_test + 1, sizeof *rows);

    memcpy(rows, s->train, s->n_train * sizeof *rows);
    memcpy(rows + s->n_train, s->test, s->n_test * sizeof *rows);
    return rows;
}

/*
 * Everything after the data is in memory; no database access.  wcol: the
 * weight column per dataset row, or NULL.
 *
 * One design matrix X holds every labelled row, the training rows first:
 * the split's fit uses its first n_train rows (leading dimension n), the
 * evaluation the rest, and the final fit on all rows starts from the
 * split's coefficients, so it needs about half the Newton steps.  (The
 * split's own fit starts from a fit on a subsample of it, likewise.)
 */
static int fit_and_evaluate(const train_opts *o, const dataset *d,
                            const feat_query *q, const double *wcol,
                            model *m, rp_err *e)
{
    train_opts sel;
    split s;
    double *X = NULL, *y = NULL, *init = NULL;
    size_t *rows = NULL, n, p, j;
    const char **names = NULL;
    lr_fit f1, f2;
    diag_job dj;
    double t = log_now();
    int rc;

    memset(&f1, 0, sizeof f1);
    memset(&f2, 0, sizeof f2);
    memset(&dj, 0, sizeof dj);
    if ((rc = make_split(d, o->test_fraction, o->seed, &s, e))) {
        split_free(&s);   /* s.all is allocated even when the split fails */
        return rc;
    }
    if ((rc = select_model(o, d, q, wcol, &s, m, &sel, e)))
        goto done;
    t = substage("cv", t);
    o = &sel;   /* from here on, with the chosen C */
    if ((rc = enc_fit(d, q, s.train, s.n_train, o->min_count, &m->enc, e)))
        goto done;
    p = (size_t)m->enc.p;
    names = xmallocarray(p + 1, sizeof *names);
    for (j = 0; j < p; j++)
        names[j] = m->enc.cols[j].name;
    n = s.n_train + s.n_test;
    rows = train_then_test(&s);
    X = enc_apply(&m->enc, d, rows, n, NULL);
    y = gather_labels(d, rows, n);
    t = substage("encode", t);
    dj.X = X;
    dj.n = n;
    dj.p = (int)p;
    dj.d = d;
    dj.q = q;
    dj.out = &m->diag;
    diag_start(&dj);
    init = subsample_start(X, n, rows, s.n_train, p, y, o, wcol, names);
    t = substage("fit subsample", t);
    rc = fit_rows(X, n, rows, s.n_train, p, y, o, wcol, init, names, &f1, e);
    free(init);
    init = NULL;
    if (rc)
        goto done;
    t = substage("fit split", t);
    if ((rc = evaluate(&f1, X + s.n_train, n, y + s.n_train, s.n_test, o, m, e)))
        goto done;
    t = substage("evaluate", t);
    init = start_from(&f1);
    if ((rc = fit_rows(X, n, rows, n, p, y, o, wcol, init, names, &f2, e)))
        goto done;
    t = substage("fit all", t);
    if (o->dump_matrix && (rc = dump_matrix(o->dump_matrix, X, y, n, p, rows, &s, d->n, e)))
        goto done;
    /* explain's VIFs and average contributions need the refit's design */
    if ((rc = diag_finish(&dj, e)))
        goto done;
    t = substage("diagnostics", t);   /* the wait for the thread */
    store_fit(m, &f2);
    expl_design_fit(X, n, (int)p, f2.intercept, f2.beta, &m->diag);
    substage("contributions", t);
    m->n_customers = (long)d->n;
    m->n_labelled = (long)s.n_all;
    m->n_events = (long)s.events;
    m->n_train = (long)s.n_train;
    m->n_test = (long)s.n_test;
    m->threshold = m->test.threshold;
done:
    diag_finish(&dj, NULL);   /* before X goes */
    free(names);
    lr_fit_free(&f1);
    lr_fit_free(&f2);
    free(init);
    free(X);
    free(y);
    free(rows);
    split_free(&s);
    return rc;
}

/*
 * --weight-column: the feature query returned the weight as its last
 * column (FEAT_WEIGHT_COL).  *w points into d at it (one per row, not
 * owned); *dv and *qv are shallow copies of d and q without it, so the
 * encoder never sees the weight as a feature while d and q still own and
 * free everything.  A labelled customer's weight must be a finite number
 * >= 0 (unlabelled customers are never fitted: theirs is not looked at).
 */
static int take_weights(const train_opts *o, const rp_tables *t, const dataset *d,
                        const feat_query *q, dataset *dv, feat_query *qv,
                        const double **w, rp_err *e)
{
    int j = q->ncols - 1;

    *dv = *d;
    *qv = *q;
    *w = NULL;
    if (!o->weight_column)
        return RP_OK;
    if (j < 0 || strcmp(q->cols[j].name, FEAT_WEIGHT_COL) || !d->num[j])
        return rp_err_set(e, RP_EINTERNAL, "the feature query lacks the weight column");
    for (size_t i = 0; i < d->n; i++) {
        double v = d->num[j][i];
        if (isnan(d->label[i]) || (isfinite(v) && v >= 0))
            continue;
        rp_err_set(e, RP_EDATA, "customer %lld has %s weight in column \"%s\" of table "
                   "\"%s\".\"%s\"", (long long)d->ids[i],
                   isnan(v) ? "a NULL (or not a number)" : isfinite(v) ? "a negative" :
                   "an infinite", o->weight_column, t->schema, t->customers);
        rp_err_hint(e, "weights must be finite numbers >= 0 for every customer with a label");
        return RP_EDATA;
    }
    dv->ncols--;
    qv->ncols--;
    *w = d->num[j];
    return RP_OK;
}

/*
 * The drift reference (drift.h): the distribution of every feature column
 * and of the deployed model's score over all customers of the training
 * data, the population predict will compare against.  The scores are
 * computed in blocks of rows, so no second n x p matrix is held; each row
 * gets the same arithmetic as in predict, so scoring the same data again
 * gives PSI 0 exactly.  With pd, the scores, reason codes and unseen count
 * are kept for `run`'s predict, which then does not compute them again.
 */
static void drift_reference(model *m, const dataset *d, const feat_query *q,
                            pipe_data *pd)
{
    enum { BLOCK = 4096 };
    double *prob = xmallocarray(d->n + 1, sizeof *prob);
    int *reasons = xmallocarray((pd ? d->n : BLOCK) * PIPE_REASONS + 1, sizeof *reasons);
    size_t *rows = xmallocarray(BLOCK, sizeof *rows), i0, i, nb, unseen = 0, u;

    for (i0 = 0; i0 < d->n; i0 += nb) {
        double *X;
        nb = d->n - i0 < BLOCK ? d->n - i0 : BLOCK;
        for (i = 0; i < nb; i++)
            rows[i] = i0 + i;
        X = enc_apply(&m->enc, d, rows, nb, &u);
        unseen += u;
        pipe_score(m, X, nb, prob + i0, reasons + (pd ? i0 * PIPE_REASONS : 0));
        free(X);
    }
    drift_ref_free(&m->drift);
    drift_ref_build(d, q, prob, &m->drift);
    if (pd) {
        pd->prob = prob;
        pd->reasons = reasons;
        pd->unseen = unseen;
    } else {
        free(prob);
        free(reasons);
    }
    free(rows);
}

void pipe_data_free(pipe_data *pd)
{
    ds_free(&pd->d);
    feat_query_free(&pd->q);
    free(pd->prob);
    free(pd->reasons);
    memset(pd, 0, sizeof *pd);
}

int pipe_train(db_conn *c, const rp_tables *t, const train_opts *o,
               model *m, pipe_data *pd, rp_err *e)
{
    dataset dv;
    feat_query qv;
    const double *w;
    dataset d;
    feat_query q;
    ff_info fi;
    progress pg;
    int rc;

    memset(&d, 0, sizeof d);
    memset(&q, 0, sizeof q);
    memset(&fi, 0, sizeof fi);
    if (pd)
        memset(pd, 0, sizeof *pd);
    model_init(m);
    if ((rc = schema_check_inputs(c, t, e)))
        goto fail;
    /* missing columns and columns of another type: a message naming them
     * rather than the server's error from the middle of the query */
    if ((rc = inputs_check(c, t, e)))
        goto fail;
    if (o->weight_column && (rc = inputs_check_weight(c, t, o->weight_column, e)))
        goto fail;
    if ((rc = load_features(c, t, o, m, &d, &q, &fi, e)))
        goto fail;
    if (d.n == 0) {
        rc = rp_err_set(e, RP_EDATA, "table \"%s\".\"%s\" has no rows: no customers to train on",
                        t->schema, t->customers);
        goto fail;
    }
    ff_warn_orphans(c, t, &fi);
    if (d.nonfinite)
        log_warn("%zu NaN or infinite values in the features were treated as missing",
                 d.nonfinite);
    if ((rc = take_weights(o, t, &d, &q, &dv, &qv, &w, e)))
        goto fail;
    progress_begin(&pg, "fit", 0);
    rc = fit_and_evaluate(o, &dv, &qv, w, m, e);
    progress_end(&pg);
    if (rc)
        goto fail;
    progress_begin(&pg, "drift", 0);   /* stage timings cover the whole run (-v) */
    drift_reference(m, &dv, &qv, pd);
    progress_end(&pg);
    m->C = m->cv.k ? m->cv.C : o->C;   /* --C auto: the chosen one */
    if (o->weight_column)
        snprintf(m->weight_column, sizeof m->weight_column, "%s", o->weight_column);
    m->class_weight_balanced = o->class_weight_balanced;
    m->min_count = o->min_count;
    m->test_fraction = o->test_fraction;
    m->split_seed = o->seed;
    m->feature_sql = xstrdup(q.sql);
    snprintf(m->riskpipe_version, sizeof m->riskpipe_version, "%s", RP_VERSION);
    make_id(m);
    progress_begin(&pg, "save", 0);
    rc = model_save(m, o->model_path, e);
    if (!rc && !o->no_register)
        rc = reg_add(c, t, m, o->model_path, e);
    if (!rc && !o->no_register && o->activate)
        rc = reg_activate(c, t, m->model_id, e);
    progress_end(&pg);
    if (rc)
        goto fail;
    if (pd) {
        pd->d = d;
        pd->q = q;
        return RP_OK;
    }
    ds_free(&d);
    feat_query_free(&q);
    return RP_OK;
fail:
    if (pd)
        pipe_data_free(pd);
    ds_free(&d);
    feat_query_free(&q);
    model_free(m);
    return rc;
}
