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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "encode.h"
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
            rp_err_set(e, RP_EDATA, "no labelled customers: every customer's risk_score is NULL");
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

/* scikit-learn's "balanced": w_c = n / (2 * n_c). */
static double *balanced_weights(const double *y, size_t n)
{
    double *w = xmallocarray(n, sizeof *w), pos = 0;
    size_t i;

    for (i = 0; i < n; i++)
        pos += y[i];
    for (i = 0; i < n; i++)
        w[i] = (double)n / (2.0 * (y[i] > 0.5 ? pos : (double)n - pos));
    return w;
}

/* Fits on rows, with the options' penalty and weights. */
static int fit_rows(const double *X, size_t n, size_t p, const double *y,
                    const train_opts *o, lr_fit *fit, rp_err *e)
{
    lr_params par = lr_params_default();
    double *w = o->class_weight_balanced ? balanced_weights(y, n) : NULL;
    int rc;

    par.C = o->C;
    rc = lr_train(X, n, p, y, w, &par, fit, e);
    free(w);
    return rc;
}

/* Held-out metrics of fit on the test rows; chooses the threshold. */
static void evaluate(const lr_fit *fit, const double *X, const double *y,
                     size_t n, const train_opts *o, model_metrics *mm)
{
    double *s = xmallocarray(n, sizeof *s);
    met_confusion cm;
    size_t i;

    lr_decision(fit, X, n, s);
    for (i = 0; i < n; i++)
        s[i] = lr_sigmoid(s[i]);
    memset(mm, 0, sizeof *mm);
    mm->n = (long)n;
    for (i = 0; i < n; i++)
        mm->events += y[i] > 0.5;
    mm->roc_auc = met_roc_auc(y, s, n);
    mm->pr_auc = met_pr_auc(y, s, n);
    mm->log_loss = met_log_loss(y, s, n);
    mm->brier = met_brier(y, s, n);
    mm->ks = met_ks(y, s, n, &mm->ks_score);
    mm->threshold = isnan(o->threshold) ? met_best_f1_threshold(y, s, n) : o->threshold;
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
                       size_t n, size_t p, rp_err *e)
{
    FILE *f = fopen(path, "w");
    size_t i, j;

    if (!f)
        return rp_err_set(e, RP_EINTERNAL, "could not write \"%s\"", path);
    for (i = 0; i < n; i++) {
        for (j = 0; j < p; j++)
            fprintf(f, "%.17g,", X[j * n + i]);
        fprintf(f, "%.0f\n", y[i]);
    }
    if (fclose(f))
        return rp_err_set(e, RP_EINTERNAL, "could not write \"%s\"", path);
    return RP_OK;
}

/* Loads the data: as-of date, categories, feature query, rows. */
static int load_features(db_conn *c, const rp_tables *t, const train_opts *o,
                         model *m, dataset *d, feat_query *q, rp_err *e)
{
    int rc;

    m->feat.set = o->feature_set;
    m->feat.label_threshold = o->label_threshold;
    if (o->as_of)
        snprintf(m->feat.as_of, sizeof m->feat.as_of, "%s", o->as_of);
    else if ((rc = feat_default_as_of(c, t, m->feat.as_of, e)))
        return rc;
    if (o->feature_set == FEAT_DEFAULT &&
        (rc = feat_learn_categories(c, t, &m->feat, o->top_k, e)))
        return rc;
    if ((rc = feat_build(c, t, &m->feat, q, e)))
        return rc;
    log_verbose("feature query:\n%s", q->sql);
    return ds_load(c, q, d, e);
}

/* Everything after the data is in memory; no database access. */
static int fit_and_evaluate(const train_opts *o, const dataset *d,
                            const feat_query *q, model *m, rp_err *e)
{
    split s;
    double *Xtr = NULL, *Xte = NULL, *Xall = NULL, *ytr = NULL, *yte = NULL, *yall = NULL;
    lr_fit f1, f2;
    size_t p;
    int rc;

    memset(&f1, 0, sizeof f1);
    memset(&f2, 0, sizeof f2);
    if ((rc = make_split(d, o->test_fraction, o->seed, &s, e)))
        return rc;
    rc = enc_fit(d, q, s.train, s.n_train, o->min_count, &m->enc, e);
    if (rc)
        goto done;
    p = (size_t)m->enc.p;
    Xtr = enc_apply(&m->enc, d, s.train, s.n_train, NULL);
    Xte = enc_apply(&m->enc, d, s.test, s.n_test, NULL);
    ytr = gather_labels(d, s.train, s.n_train);
    yte = gather_labels(d, s.test, s.n_test);
    if ((rc = fit_rows(Xtr, s.n_train, p, ytr, o, &f1, e)))
        goto done;
    evaluate(&f1, Xte, yte, s.n_test, o, &m->test);
    free(Xtr);
    free(Xte);
    Xtr = Xte = NULL;
    Xall = enc_apply(&m->enc, d, s.all, s.n_all, NULL);
    yall = gather_labels(d, s.all, s.n_all);
    if ((rc = fit_rows(Xall, s.n_all, p, yall, o, &f2, e)))
        goto done;
    if (o->dump_matrix && (rc = dump_matrix(o->dump_matrix, Xall, yall, s.n_all, p, e)))
        goto done;
    store_fit(m, &f2);
    m->n_customers = (long)d->n;
    m->n_labelled = (long)s.n_all;
    m->n_events = (long)s.events;
    m->n_train = (long)s.n_train;
    m->n_test = (long)s.n_test;
    m->threshold = m->test.threshold;
    snprintf(m->threshold_policy, sizeof m->threshold_policy, "%s",
             isnan(o->threshold) ? "f1" : "fixed");
done:
    lr_fit_free(&f1);
    lr_fit_free(&f2);
    free(Xtr);
    free(Xte);
    free(Xall);
    free(ytr);
    free(yte);
    free(yall);
    split_free(&s);
    return rc;
}

int pipe_train(db_conn *c, const rp_tables *t, const train_opts *o,
               model *m, dataset *d_out, feat_query *q_out, rp_err *e)
{
    dataset d;
    feat_query q;
    progress pg;
    int rc;

    memset(&d, 0, sizeof d);
    memset(&q, 0, sizeof q);
    model_init(m);
    if ((rc = schema_check_inputs(c, t, e)))
        goto fail;
    if ((rc = load_features(c, t, o, m, &d, &q, e)))
        goto fail;
    if (d.nonfinite)
        log_warn("%zu NaN or infinite values in the features were treated as missing",
                 d.nonfinite);
    progress_begin(&pg, "fit", 0);
    rc = fit_and_evaluate(o, &d, &q, m, e);
    progress_end(&pg);
    if (rc)
        goto fail;
    m->C = o->C;
    m->class_weight_balanced = o->class_weight_balanced;
    m->min_count = o->min_count;
    m->test_fraction = o->test_fraction;
    m->split_seed = o->seed;
    m->feature_sql = xstrdup(q.sql);
    snprintf(m->riskpipe_version, sizeof m->riskpipe_version, "%s", RP_VERSION);
    make_id(m);
    if ((rc = model_save(m, o->model_path, e)))
        goto fail;
    if (!o->no_register && (rc = reg_add(c, t, m, o->model_path, e)))
        goto fail;
    if (!o->no_register && o->activate && (rc = reg_activate(c, t, m->model_id, e)))
        goto fail;
    if (d_out && q_out) {
        *d_out = d;
        *q_out = q;
        return RP_OK;
    }
    ds_free(&d);
    feat_query_free(&q);
    return RP_OK;
fail:
    ds_free(&d);
    feat_query_free(&q);
    model_free(m);
    return rc;
}
