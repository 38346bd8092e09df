/*
 * cv.c - stratified K-fold cross-validation and the C grid (cv.h).
 *
 * Purpose.  One held-out split gives one number with no error bar, and a
 * penalty C chosen by hand is a guess.  --cv K reports the mean and spread
 * of each metric over K folds; --C auto picks C where the CV log loss is
 * lowest.  Both are checked against scikit-learn on the same folds
 * (tests/integration/model_selection.sh).
 *
 * Shape.  The loop is folds outside, C inside: a fold's encoding and its
 * two matrices do not depend on C, so each is built once and only the
 * solver runs ng times; memory stays at one fold's matrices (about one
 * copy of the data) whatever K and the grid size.
 *
 * Invariants.
 *  - Folds come from a private seeded PRNG (a stream apart from the
 *    train/test split's), and row lists stay in customer_id order, so
 *    the same data and options give the same numbers bit for bit.
 *  - Validation metrics are unweighted; training weights (column,
 *    balanced) are recomputed from each fold's training part, as
 *    scikit-learn does when it refits inside a fold.
 */
#include "cv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "logreg.h"
#include "metrics.h"
#include "util/mem.h"
#include "util/rng.h"

enum { CV_AUC, CV_PR, CV_LL, CV_BRIER, CV_KS, CV_NMET };

double *cv_weights(const double *w, const size_t *rows, const double *y,
                   size_t n, int balanced)
{
    double *out, pos = 0.0;
    size_t i;

    if (!w && !balanced)
        return NULL;
    out = xmallocarray(n ? n : 1, sizeof *out);
    for (i = 0; i < n; i++)
        pos += y[i] > 0.5;
    for (i = 0; i < n; i++) {
        double cw = (double)n / (2.0 * (y[i] > 0.5 ? pos : (double)n - pos));
        out[i] = (w ? w[rows[i]] : 1.0) * (balanced ? cw : 1.0);
    }
    return out;
}

void cv_assign(const double *y, size_t n, int k, long seed, int *fold)
{
    /* a different stream from train.c's split (which adds 1) */
    rng r = { (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL };
    size_t *idx = xmallocarray(n ? n : 1, sizeof *idx), m, i, next = 0;
    int c;

    for (c = 0; c < 2; c++) {
        for (m = 0, i = 0; i < n; i++)
            if ((y[i] > 0.5) == c)
                idx[m++] = i;
        for (i = m; i > 1; i--) {
            size_t j = rng_below(&r, i), t = idx[i - 1];
            idx[i - 1] = idx[j];
            idx[j] = t;
        }
        for (i = 0; i < m; i++)
            fold[idx[i]] = (int)(next++ % (size_t)k);
    }
    free(idx);
}

void cv_default_grid(double *grid)
{
    for (int i = 0; i < CV_GRID_DEFAULT_N; i++)
        grid[i] = pow(10.0, -3.0 + 0.5 * i);
}

/* One fold's data: rows, encoding fitted on its training part, matrices. */
typedef struct fold_data {
    size_t *tr, *va, ntr, nva;
    enc_spec enc;
    double *Xtr, *Xva, *ytr, *yva, *wtr;
    const char **names;
} fold_data;

static void fold_free(fold_data *f)
{
    free(f->tr);
    free(f->va);
    enc_spec_free(&f->enc);
    free(f->Xtr);
    free(f->Xva);
    free(f->ytr);
    free(f->yva);
    free(f->wtr);
    free(f->names);
    memset(f, 0, sizeof *f);
}

static double *labels_of(const dataset *d, const size_t *rows, size_t n)
{
    double *y = xmallocarray(n ? n : 1, sizeof *y);

    for (size_t i = 0; i < n; i++)
        y[i] = d->label[rows[i]];
    return y;
}

/* Splits rows by fold == f and fits the fold's encoding. */
static int fold_prepare(const dataset *d, const feat_query *q, const size_t *rows,
                        size_t n, const int *fold, int f, const cv_opts *o,
                        fold_data *fd, rp_err *e)
{
    int rc;

    memset(fd, 0, sizeof *fd);
    fd->tr = xmallocarray(n, sizeof *fd->tr);
    fd->va = xmallocarray(n, sizeof *fd->va);
    for (size_t i = 0; i < n; i++) {
        if (fold[i] == f)
            fd->va[fd->nva++] = rows[i];
        else
            fd->tr[fd->ntr++] = rows[i];
    }
    if ((rc = enc_fit(d, q, fd->tr, fd->ntr, o->min_count, &fd->enc, e)))
        return rc;
    fd->Xtr = enc_apply(&fd->enc, d, fd->tr, fd->ntr, NULL);
    fd->Xva = enc_apply(&fd->enc, d, fd->va, fd->nva, NULL);
    fd->ytr = labels_of(d, fd->tr, fd->ntr);
    fd->yva = labels_of(d, fd->va, fd->nva);
    fd->wtr = cv_weights(o->weight, fd->tr, fd->ytr, fd->ntr, o->balanced);
    fd->names = xmallocarray((size_t)fd->enc.p + 1, sizeof *fd->names);
    for (int j = 0; j < fd->enc.p; j++)
        fd->names[j] = fd->enc.cols[j].name;
    return RP_OK;
}

/* Fits the fold with penalty C; met[CV_NMET] receives its metrics. */
static int fold_score(const fold_data *fd, double C, double *met, rp_err *e)
{
    lr_params par = lr_params_default();
    size_t p = (size_t)fd->enc.p;
    double *s;
    lr_fit fit;
    int rc;

    par.C = C;
    par.names = fd->names;
    if ((rc = lr_train(fd->Xtr, fd->ntr, p, fd->ytr, fd->wtr, &par, &fit, e)))
        return rc;
    s = xmallocarray(fd->nva ? fd->nva : 1, sizeof *s);
    lr_decision(&fit, fd->Xva, fd->nva, s);
    for (size_t i = 0; i < fd->nva; i++)
        s[i] = lr_sigmoid(s[i]);
    met[CV_AUC] = met_roc_auc(fd->yva, s, fd->nva);
    met[CV_PR] = met_pr_auc(fd->yva, s, fd->nva);
    met[CV_LL] = met_log_loss(fd->yva, s, fd->nva);
    met[CV_BRIER] = met_brier(fd->yva, s, fd->nva);
    met[CV_KS] = met_ks(fd->yva, s, fd->nva, NULL);
    free(s);
    lr_fit_free(&fit);
    return RP_OK;
}

/* ---- the testing dump ---- */

static int dump_matrix(const char *path, const double *X, const double *y,
                       const double *w, size_t n, size_t p, rp_err *e)
{
    FILE *f = fopen(path, "w");

    if (!f)
        return rp_err_set(e, RP_EINTERNAL, "could not write \"%s\"", path);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < p; j++)
            fprintf(f, "%.17g,", X[j * n + i]);
        fprintf(f, "%.0f,%.17g\n", y[i], w ? w[i] : 1.0);
    }
    if (fclose(f))
        return rp_err_set(e, RP_EINTERNAL, "could not write \"%s\"", path);
    return RP_OK;
}

static int dump_folds(const char *dir, const dataset *d, const size_t *rows,
                      size_t n, const int *fold, rp_err *e)
{
    char *path = xasprintf("%s/folds.csv", dir);
    FILE *f = fopen(path, "w");
    int rc = RP_OK;

    if (f) {
        fprintf(f, "customer_id,label,fold\n");
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%lld,%.0f,%d\n", (long long)d->ids[rows[i]],
                    d->label[rows[i]], fold[i]);
    }
    if (!f || fclose(f))
        rc = rp_err_set(e, RP_EINTERNAL, "could not write \"%s\"", path);
    free(path);
    return rc;
}

static int dump_fold(const char *dir, int f, const fold_data *fd, rp_err *e)
{
    char *a = xasprintf("%s/fold%d_train.csv", dir, f);
    char *b = xasprintf("%s/fold%d_valid.csv", dir, f);
    size_t p = (size_t)fd->enc.p;
    int rc = dump_matrix(a, fd->Xtr, fd->ytr, fd->wtr, fd->ntr, p, e);

    if (!rc)
        rc = dump_matrix(b, fd->Xva, fd->yva, NULL, fd->nva, p, e);
    free(a);
    free(b);
    return rc;
}

/* ---- aggregation ---- */

/* Mean and sample standard deviation of x[0..k). */
static void mean_sd(const double *x, int k, double *mean, double *sd)
{
    double m = 0.0, ss = 0.0;

    for (int i = 0; i < k; i++)
        m += x[i];
    m /= k;
    for (int i = 0; i < k; i++)
        ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = k > 1 ? sqrt(ss / (k - 1)) : NAN;
}

/* res[(c * k + f) * CV_NMET + m]: metric m of fold f with C = grid[c]. */
static void stat_of(const double *res, int c, int k, int m, model_cv_stat *st)
{
    for (int f = 0; f < k; f++)
        st->fold[f] = res[((size_t)c * (size_t)k + (size_t)f) * CV_NMET + (size_t)m];
    mean_sd(st->fold, k, &st->mean, &st->sd);
}

/* Fills cv for grid row c, and g (when not NULL) with every row. */
static void summarise(const double *res, const double *grid, int ng, int k,
                      const cv_opts *o, model_cv *cv, model_cgrid *g)
{
    model_cv_stat ll, auc;
    int c, best = 0;
    double best_ll = INFINITY;

    for (c = 0; c < ng; c++) {
        stat_of(res, c, k, CV_LL, &ll);
        stat_of(res, c, k, CV_AUC, &auc);
        if (ll.mean < best_ll) {   /* strict: ties keep the smaller C */
            best_ll = ll.mean;
            best = c;
        }
        if (g)
            g->row[c] = (model_grid_row){ grid[c], ll.mean, ll.sd, auc.mean, auc.sd };
    }
    if (g) {
        g->n = ng;
        g->k = k;
        g->chosen = best;
    }
    cv->k = k;
    cv->seed = o->seed;
    cv->C = grid[best];
    stat_of(res, best, k, CV_AUC, &cv->roc_auc);
    stat_of(res, best, k, CV_PR, &cv->pr_auc);
    stat_of(res, best, k, CV_LL, &cv->log_loss);
    stat_of(res, best, k, CV_BRIER, &cv->brier);
    stat_of(res, best, k, CV_KS, &cv->ks);
}

/* K must not exceed either class's count: each fold needs both. */
static int check_folds(const double *y, size_t n, int k, rp_err *e)
{
    size_t pos = 0;

    for (size_t i = 0; i < n; i++)
        pos += y[i] > 0.5;
    if (pos < (size_t)k || n - pos < (size_t)k) {
        rp_err_set(e, RP_EDATA, "too few labelled customers for %d-fold "
                   "cross-validation: %zu high-risk and %zu low-risk", k, pos, n - pos);
        rp_err_hint(e, "every fold needs customers of both classes: lower --cv");
        return RP_EDATA;
    }
    return RP_OK;
}

/* Runs every C on fold f (prepared here) into res. */
static int run_fold(const dataset *d, const feat_query *q, const size_t *rows,
                    size_t n, const int *fold, int f, const double *grid,
                    int ng, const cv_opts *o, double *res, rp_err *e)
{
    fold_data fd;
    int rc = fold_prepare(d, q, rows, n, fold, f, o, &fd, e);

    if (!rc && o->dump_dir)
        rc = dump_fold(o->dump_dir, f, &fd, e);
    for (int c = 0; c < ng && !rc; c++) {
        rc = fold_score(&fd, grid[c],
                        &res[((size_t)c * (size_t)o->k + (size_t)f) * CV_NMET], e);
        if (rc)
            rp_err_prefix(e, "cross-validation fold %d of %d, C = %g", f + 1, o->k, grid[c]);
    }
    if (rc && !fd.names)
        rp_err_prefix(e, "cross-validation fold %d of %d", f + 1, o->k);
    fold_free(&fd);
    return rc;
}

int cv_run(const dataset *d, const feat_query *q, const size_t *rows,
           size_t n, const double *grid, int ng, const cv_opts *o,
           model_cv *cv, model_cgrid *g, rp_err *e)
{
    double *y = labels_of(d, rows, n), *res;
    int *fold, rc, f;

    memset(cv, 0, sizeof *cv);
    if (g)
        memset(g, 0, sizeof *g);
    if (o->k < 2 || o->k > MODEL_CV_MAX_FOLDS || ng < 1 || ng > MODEL_GRID_MAX) {
        free(y);
        return rp_err_set(e, RP_EINTERNAL, "cv_run: %d folds, %d grid values", o->k, ng);
    }
    if ((rc = check_folds(y, n, o->k, e))) {
        free(y);
        return rc;
    }
    fold = xmallocarray(n, sizeof *fold);
    cv_assign(y, n, o->k, o->seed, fold);
    res = xcalloc((size_t)ng * (size_t)o->k * CV_NMET, sizeof *res);
    rc = o->dump_dir ? dump_folds(o->dump_dir, d, rows, n, fold, e) : RP_OK;
    for (f = 0; f < o->k && !rc; f++)
        rc = run_fold(d, q, rows, n, fold, f, grid, ng, o, res, e);
    if (!rc) {
        summarise(res, grid, ng, o->k, o, cv, g);
        for (f = 0; f < o->k; f++) {
            for (size_t i = 0; i < n; i++) {
                cv->fold_n[f] += fold[i] == f;
                cv->fold_events[f] += fold[i] == f && y[i] > 0.5;
            }
        }
    }
    free(res);
    free(fold);
    free(y);
    return rc;
}
