/*
 * explain.c - inference table, fit diagnostics, per-customer
 * contributions and reason codes (see explain.h for the contract).
 *
 * Why the pieces are where they are.  The standard errors come from the
 * solver (logreg.c: the inverse of the penalised Hessian), and the
 * training-time quantities that need the design matrix - variance
 * inflation factors, the population's average contribution of each
 * column, the count of near-certain fitted probabilities - are computed
 * here but called from train.c while the matrix is in memory, then kept in
 * the model file (model_diag).  Everything else is derived from the model
 * alone, so `riskpipe explain` needs no database unless asked about a
 * customer.
 *
 * Reason codes follow the "points below maximum"/"contribution above
 * average" practice of credit scoring: a customer's reasons are the
 * columns whose contribution beta_j * x_j exceeds the population's average
 * contribution by most.  Ranking against the average (not against 0)
 * matters for columns that are not centred on the scoring population
 * (indicators, and every column once the population drifts): a customer
 * who is just average on a column is not "adversely" affected by it.
 *
 * VIFs use a symmetric eigendecomposition of the correlation matrix, not
 * a Cholesky inverse: money columns (sum, mean, 30/90-day sums) are nearly
 * collinear by construction, and an exactly collinear set must still get
 * a number (a huge one) rather than make training fail.
 */
#include "explain.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "inputs.h"
#include "logreg.h"
#include "util/mem.h"
#include "util/strbuf.h"

/* ------------------------------------------------------------------ */
/* The coefficient table and the fit summary                           */
/* ------------------------------------------------------------------ */

void expl_coef_row(const model *m, int j, expl_coef *o)
{
    const enc_col *c = j >= 0 ? &m->enc.cols[j] : NULL;

    memset(o, 0, sizeof *o);
    o->j = j;
    o->name = c ? c->name : "(intercept)";
    o->label = c ? (c->label ? c->label : c->name) : "(intercept)";
    o->est = c ? m->beta[j] : m->intercept;
    o->se = m->se[j + 1];
    o->est_orig = c ? m->beta_orig[j] : m->intercept_orig;
    o->z = o->est / o->se;
    o->p = lr_pvalue(o->z);
    o->lo = o->est - EXPL_Z975 * o->se;
    o->hi = o->est + EXPL_Z975 * o->se;
    o->odds = exp(o->est);
    o->odds_lo = exp(o->lo);
    o->odds_hi = exp(o->hi);
    o->vif = c && m->diag.vif ? m->diag.vif[j] : NAN;
}

/* The columns with the largest VIFs (NAN ones never), largest first. */
static int worst_vifs(const model *m, int *out, int max)
{
    int j, k, n = 0;

    for (j = 0; j < m->p; j++) {
        double v = m->diag.vif[j];
        if (isnan(v))
            continue;
        if (n < max)
            k = n++;
        else if (v > m->diag.vif[out[max - 1]])
            k = max - 1;
        else
            continue;
        for (; k > 0 && m->diag.vif[out[k - 1]] < v; k--)
            out[k] = out[k - 1];
        out[k] = j;
    }
    return n;
}

/* The rules of explain.h, applied to what the model recorded. */
static void fit_warnings(const model *m, expl_fit *o)
{
    int j;

    o->warn_convergence = !isfinite(m->grad_norm) ||
        m->grad_norm > EXPL_GRAD_WARN * (o->n > 1 ? (double)o->n : 1.0) ||
        m->iterations >= EXPL_MAX_ITER;
    o->max_beta_col = -1;
    for (j = 0; j < m->p; j++)
        if (fabs(m->beta[j]) > o->max_abs_beta || o->max_beta_col < 0) {
            o->max_abs_beta = fabs(m->beta[j]);
            o->max_beta_col = j;
        }
    o->have_vif = m->diag.vif != NULL;
    o->n_extreme = o->have_vif ? m->diag.n_extreme : -1;
    o->extreme_share = o->have_vif && o->n > 0 ? (double)o->n_extreme / (double)o->n : NAN;
    o->warn_separation = o->max_abs_beta > EXPL_BETA_WARN ||
                         (o->have_vif && o->extreme_share > EXPL_EXTREME_SHARE);
    if (o->have_vif) {
        o->n_worst = worst_vifs(m, o->worst, EXPL_WORST_VIF);
        for (j = 0; j < m->p; j++)
            o->n_high_vif += m->diag.vif[j] > EXPL_VIF_WARN;
        o->warn_collinearity = o->n_high_vif > 0;
    }
}

void expl_fit_summary(const model *m, expl_fit *o)
{
    double ll = m->loglik, s2 = 0;
    int j;

    memset(o, 0, sizeof *o);
    o->n = m->n_labelled;
    o->events = m->n_events;
    o->k = m->p + 1;
    o->loglik = ll;
    o->loglik_null = m->loglik_null;
    o->mcfadden = 1.0 - ll / m->loglik_null;
    o->aic = 2.0 * o->k - 2.0 * ll;
    o->bic = o->k * log((double)(o->n > 0 ? o->n : 1)) - 2.0 * ll;
    o->penalised = isfinite(m->C);
    /* tr(H_pen^-1 H) with H = H_pen - diag(0, 1/C, ..., 1/C): the diagonal
     * of H_pen^-1 is the squared standard errors */
    for (j = 1; j <= m->p; j++)
        s2 += m->se[j] * m->se[j];
    o->edf = o->penalised ? o->k - s2 / m->C : o->k;
    o->aic_edf = 2.0 * o->edf - 2.0 * ll;
    fit_warnings(m, o);
}

/* ------------------------------------------------------------------ */
/* Training-time diagnostics                                           */
/* ------------------------------------------------------------------ */

/* Column means and which columns are constant (max == min). */
static void col_moments(const double *X, size_t n, int p, double *mu, int *constant)
{
    size_t i;
    int j;

    for (j = 0; j < p; j++) {
        const double *x = X + (size_t)j * n;
        double s = 0, lo = x[0], hi = x[0];
        for (i = 0; i < n; i++) {
            s += x[i];
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
        mu[j] = s / (double)n;
        constant[j] = !(hi > lo);
    }
}

/*
 * The correlation matrix of the k non-constant columns idx[] (k x k,
 * column-major, lower triangle filled).  Cross products through dsyrk on
 * the centred columns (centring first keeps the cancellation out), a block
 * of EXPL_BLOCK rows at a time, so no second n x k matrix is held.
 */
static double *corr_matrix(const double *X, size_t n, const double *mu,
                           const int *idx, int k)
{
    enum { EXPL_BLOCK = 4096 };
    size_t bn = n < EXPL_BLOCK ? n : EXPL_BLOCK;
    double *Z = xmallocarray(bn * (size_t)k, sizeof *Z);
    double *R = xcalloc((size_t)k * (size_t)k, sizeof *R);
    size_t i, i0, m;
    int a, b;

    for (i0 = 0; i0 < n; i0 += m) {
        m = n - i0 < bn ? n - i0 : bn;
        for (a = 0; a < k; a++) {
            const double *x = X + (size_t)idx[a] * n + i0;
            for (i = 0; i < m; i++)
                Z[(size_t)a * m + i] = x[i] - mu[idx[a]];
        }
        cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, k, (int)m, 1.0, Z,
                    (int)m, 1.0, R, k);
    }
    free(Z);
    for (b = 0; b < k; b++)
        for (a = b + 1; a < k; a++)
            R[(size_t)b * k + a] /= sqrt(R[(size_t)a * k + a] * R[(size_t)b * k + b]);
    for (a = 0; a < k; a++)
        R[(size_t)a * k + a] = 1.0;
    return R;
}

/*
 * VIF_j = (R^-1)_jj = sum_l V_jl^2 / lambda_l.  Eigenvalues below
 * 1e-15 lambda_max are numerically zero: clamping them there gives an
 * exactly collinear column a VIF near 1e15 (>= EXPL_VIF_EXACT) instead of
 * Inf or a negative number.
 */
static int vif_from_corr(double *R, int k, double *vif, double *cond, rp_err *e)
{
    double *w = xmallocarray((size_t)k, sizeof *w), floor_;
    int a, l;
    lapack_int info = LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'L', k, R, k, w);

    if (info != 0) {
        free(w);
        return rp_err_set(e, RP_EINTERNAL, "eigendecomposition of the design's "
                          "correlation matrix failed (LAPACK info %d)", (int)info);
    }
    floor_ = w[k - 1] * 1e-15;
    for (l = 0; l < k; l++)
        w[l] = w[l] > floor_ ? w[l] : floor_;
    for (a = 0; a < k; a++) {
        double s = 0;
        for (l = 0; l < k; l++)
            s += R[(size_t)l * k + a] * R[(size_t)l * k + a] / w[l];
        vif[a] = s;
    }
    *cond = w[k - 1] / w[0];
    free(w);
    return RP_OK;
}

/* VIFs of the non-constant columns (NAN for the constant ones). */
static int design_vif(const double *X, size_t n, int p, const double *mu,
                      const int *constant, model_diag *d, rp_err *e)
{
    int *idx = xmallocarray((size_t)p + 1, sizeof *idx), k = 0, j, rc = RP_OK;
    double *v, *R;

    for (j = 0; j < p; j++) {
        d->vif[j] = NAN;
        if (!constant[j])
            idx[k++] = j;
    }
    d->corr_cond = k ? 1.0 : NAN;
    if (k > 0 && n > 1) {
        R = corr_matrix(X, n, mu, idx, k);
        v = xmallocarray((size_t)k, sizeof *v);
        rc = vif_from_corr(R, k, v, &d->corr_cond, e);
        for (j = 0; !rc && j < k; j++)
            d->vif[idx[j]] = v[j];
        free(v);
        free(R);
    }
    free(idx);
    return rc;
}

/* Rows whose fitted probability is within EXPL_EXTREME_P of 0 or 1. */
static long count_extreme(const double *X, size_t n, int p, double b0,
                          const double *beta)
{
    double *eta = xmallocarray(n + 1, sizeof *eta);
    long cnt = 0;
    size_t i;

    for (i = 0; i < n; i++)
        eta[i] = b0;
    if (p > 0)   /* one pass over X */
        cblas_dgemv(CblasColMajor, CblasNoTrans, (int)n, p, 1.0, X, (int)n, beta, 1,
                    1.0, eta, 1);
    for (i = 0; i < n; i++) {
        double pr = lr_sigmoid(eta[i]);
        cnt += pr < EXPL_EXTREME_P || pr > 1.0 - EXPL_EXTREME_P;
    }
    free(eta);
    return cnt;
}

int expl_design_vif(const double *X, size_t n, int p, model_diag *d, rp_err *e)
{
    double *mu = xcalloc((size_t)p + 1, sizeof *mu);
    int *constant = xcalloc((size_t)p + 1, sizeof *constant), rc;

    free(d->vif);
    d->vif = xcalloc((size_t)p + 1, sizeof *d->vif);
    if (n > 0)
        col_moments(X, n, p, mu, constant);
    rc = design_vif(X, n, p, mu, constant, d, e);
    free(mu);
    free(constant);
    return rc;
}

void expl_design_fit(const double *X, size_t n, int p, double intercept,
                     const double *beta, model_diag *d)
{
    double *one = xmallocarray(n + 1, sizeof *one);
    size_t i;
    int j;

    free(d->contrib_mean);
    d->contrib_mean = xcalloc((size_t)p + 1, sizeof *d->contrib_mean);
    for (i = 0; i < n; i++)
        one[i] = 1.0 / (double)n;
    if (n > 0 && p > 0)   /* the column means, in one pass over X */
        cblas_dgemv(CblasColMajor, CblasTrans, (int)n, p, 1.0, X, (int)n, one, 1, 0.0,
                    d->contrib_mean, 1);
    for (j = 0; j < p; j++)
        d->contrib_mean[j] *= beta[j];
    d->n_extreme = n > 0 ? count_extreme(X, n, p, intercept, beta) : 0;
    free(one);
}

int expl_design_diag(const double *X, size_t n, int p, double intercept,
                     const double *beta, model_diag *d, rp_err *e)
{
    expl_design_fit(X, n, p, intercept, beta, d);
    return expl_design_vif(X, n, p, d, e);
}

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

/* FNV-1a over 64-bit words instead of bytes: one multiply per value, not
 * eight (the fingerprint reads every value of the dataset). */
static uint64_t fnv_word(uint64_t h, uint64_t w)
{
    return (h ^ w) * UINT64_C(0x100000001b3);
}

/* Hashes a double by value: every NaN alike, -0 as +0. */
static uint64_t fnv_double(uint64_t h, double x)
{
    uint64_t w;

    if (isnan(x))
        x = NAN;
    else if (x == 0)
        x = 0.0;
    memcpy(&w, &x, sizeof w);
    return fnv_word(h, w);
}

void expl_data_diag(const dataset *d, const feat_query *q, model_diag *out)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    size_t i;
    int j;

    for (j = 0; j < out->n_feat; j++) {
        free(out->feat[j].name);
        free(out->feat[j].label);
    }
    free(out->feat);
    out->n_feat = q->ncols;
    out->feat = xcalloc((size_t)q->ncols + 1, sizeof *out->feat);
    out->nonfinite = (long)d->nonfinite;
    for (i = 0; i < d->n; i++) {
        h = fnv_word(h, (uint64_t)d->ids[i]);
        h = fnv_double(h, d->label[i]);
    }
    for (j = 0; j < q->ncols; j++) {
        model_featstat *f = &out->feat[j];
        f->name = xstrdup(q->cols[j].name);
        f->label = xstrdup(q->cols[j].label ? q->cols[j].label : q->cols[j].name);
        f->categorical = q->cols[j].categorical;
        h = fnv_bytes(h, f->name, strlen(f->name) + 1);
        for (i = 0; i < d->n; i++) {
            if (f->categorical) {
                int32_t code = d->code[j][i];
                const char *s = code >= 0 ? d->levels[j][code] : "";
                f->missing += code < 0;
                h = fnv_bytes(h, code >= 0 ? "v" : "n", 1);
                h = fnv_bytes(h, s, strlen(s) + 1);
            } else {
                f->missing += isnan(d->num[j][i]);
                h = fnv_double(h, d->num[j][i]);
            }
        }
        f->levels = f->categorical ? d->nlevels[j] : 0;
    }
    snprintf(out->fingerprint, sizeof out->fingerprint, "fnv1a64w:%016llx",
             (unsigned long long)h);
}

/* ------------------------------------------------------------------ */
/* Reason codes                                                        */
/* ------------------------------------------------------------------ */

int expl_reasons(const model *m, const double *x, size_t stride, int *out)
{
    double top[EXPL_REASONS];
    const double *avg = m->diag.contrib_mean;
    int j, k, n = 0;

    for (k = 0; k < EXPL_REASONS; k++) {
        out[k] = -1;
        top[k] = 0.0;
    }
    for (j = 0; j < m->p; j++) {
        double over = m->beta[j] * x[(size_t)j * stride] - (avg ? avg[j] : 0.0);
        /* strict: ties keep the earlier column, so the ranking is stable */
        if (!(over > top[EXPL_REASONS - 1]))
            continue;
        for (k = EXPL_REASONS - 1; k > 0 && over > top[k - 1]; k--) {
            top[k] = top[k - 1];
            out[k] = out[k - 1];
        }
        top[k] = over;
        out[k] = j;
        n += n < EXPL_REASONS;
    }
    return n;
}

/* "city: Oslo" -> "city: not Oslo"; a label without ": " -> "not <label>". */
static char *negate_level(const char *label)
{
    const char *sep = strstr(label, ": ");

    if (!sep)
        return xasprintf("not %s", label);
    return xasprintf("%.*s: not %s", (int)(sep - label), label, sep + 2);
}

/* "no transactions" -> "has transactions"; "age missing" -> "age known". */
static char *negate_missing(const char *label)
{
    size_t n = strlen(label);

    if (!strncmp(label, "no ", 3))
        return xasprintf("has %s", label + 3);
    if (n > 8 && !strcmp(label + n - 8, " missing"))
        return xasprintf("%.*s known", (int)(n - 8), label);
    return xasprintf("not: %s", label);
}

char *expl_reason_text(const model *m, int j)
{
    const enc_col *c = &m->enc.cols[j];
    const char *label = c->label ? c->label : c->name;
    int up = m->beta[j] > 0;

    switch (c->kind) {
    case ENC_NUMERIC:
        return xasprintf("%s: %s", label, up ? "high" : "low");
    case ENC_MISSING:
        return up ? xstrdup(label) : negate_missing(label);
    default:
        return up ? xstrdup(label) : negate_level(label);
    }
}

/* ------------------------------------------------------------------ */
/* One customer                                                        */
/* ------------------------------------------------------------------ */

static int by_contrib(const void *a, const void *b)
{
    const expl_term *x = a, *y = b;

    if (x->contrib != y->contrib)
        return x->contrib < y->contrib ? 1 : -1;
    return x->j - y->j;
}

void expl_customer_score(const model *m, const double *x, size_t stride,
                         expl_customer *out)
{
    double z = m->intercept;
    int j;

    out->p = m->p;
    out->terms = xcalloc((size_t)m->p + 1, sizeof *out->terms);
    /* the same sum in the same order as pipe_score: the same bits */
    for (j = 0; j < m->p; j++) {
        expl_term *t = &out->terms[j];
        t->j = j;
        t->x = x[(size_t)j * stride];
        t->contrib = m->beta[j] * t->x;
        t->avg_contrib = m->diag.contrib_mean ? m->diag.contrib_mean[j] : 0.0;
        t->avg = m->enc.cols[j].mean;
        z += t->contrib;
    }
    out->logit = z;
    out->prob = lr_sigmoid(z);
    out->high_risk = out->prob >= m->threshold;
    out->n_reasons = out->high_risk ? expl_reasons(m, x, stride, out->reasons) : 0;
    if (!out->high_risk)
        memset(out->reasons, 0xff, sizeof out->reasons);   /* all -1 */
    qsort(out->terms, (size_t)m->p, sizeof *out->terms, by_contrib);
}

/* The original-scale value of each term, from the customer's row. */
static void fill_values(const model *m, const dataset *d, expl_customer *out)
{
    int k;

    for (k = 0; k < out->p; k++) {
        expl_term *t = &out->terms[k];
        const enc_col *c = &m->enc.cols[t->j];
        /* x = (v - mean) / sd, so v = mean + sd x, exactly what was scored */
        t->value = c->mean + c->sd * t->x;
        if (c->kind == ENC_NUMERIC && c->src >= 0) {
            t->missing = isnan(d->num[c->src][0]);
            t->value = t->missing ? c->impute : d->num[c->src][0];
        } else if ((c->kind == ENC_LEVEL || c->kind == ENC_OTHER) && c->src >= 0) {
            int32_t code = d->code[c->src][0];
            t->text = code >= 0 ? xstrdup(d->levels[c->src][code]) : NULL;
            t->value = t->value > 0.5;
        } else {
            t->value = t->value > 0.5;
        }
    }
}

/* The feature query for m restricted to one customer. */
static int one_customer_query(db_conn *c, const rp_tables *t, const model *m,
                              long long id, const char *as_of, feat_query *q,
                              char out_as_of[16], rp_err *e)
{
    feat_spec spec;
    char num[32], *lit, *sql;
    int rc = RP_OK;

    feat_spec_copy(&spec, &m->feat);
    if (as_of)
        snprintf(spec.as_of, sizeof spec.as_of, "%s", as_of);
    else
        rc = feat_default_as_of(c, t, spec.as_of, e);
    if (!rc)
        rc = feat_build(c, t, &spec, q, e);
    memcpy(out_as_of, spec.as_of, 16);
    feat_spec_free(&spec);
    if (rc)
        return rc;
    /* PostgreSQL pushes the equality through the LEFT JOINs into each
     * aggregate (equivalence classes), so only this customer's rows are
     * read */
    snprintf(num, sizeof num, "%lld", id);
    lit = db_quote_literal(c, num);
    sql = xasprintf("SELECT * FROM (%s) f WHERE f.customer_id = %s", q->sql, lit);
    free(q->sql);
    q->sql = sql;
    free(lit);
    return RP_OK;
}

int expl_customer_load(db_conn *c, const rp_tables *t, model *m,
                       long long id, const char *as_of, expl_customer *out,
                       rp_err *e)
{
    feat_query q;
    dataset d;
    double *X = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    memset(&q, 0, sizeof q);
    memset(&d, 0, sizeof d);
    out->id = id;
    if ((rc = inputs_check(c, t, e)) ||
        (rc = one_customer_query(c, t, m, id, as_of, &q, out->as_of, e)) ||
        (rc = inputs_load(c, t, &q, &d, e)))
        goto done;
    if (d.n == 0) {
        rc = rp_err_set(e, RP_EDATA, "customer %lld is not in table \"%s\".\"%s\"",
                        id, t->schema, t->customers);
        goto done;
    }
    if ((rc = enc_bind(&m->enc, &q, e)))
        goto done;
    X = enc_apply(&m->enc, &d, NULL, 1, &out->unseen);
    expl_customer_score(m, X, 1, out);
    fill_values(m, &d, out);
done:
    free(X);
    ds_free(&d);
    feat_query_free(&q);
    if (rc)
        expl_customer_free(out);
    return rc;
}

void expl_customer_free(expl_customer *out)
{
    int k;

    if (!out)
        return;
    for (k = 0; out->terms && k < out->p; k++)
        free(out->terms[k].text);
    free(out->terms);
    memset(out, 0, sizeof *out);
}
