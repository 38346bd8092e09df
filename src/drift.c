/*
 * drift.c - reference distributions and the population stability index
 * (see drift.h for the definitions: decile bins, right-closed, shares
 * floored at DRIFT_EPS, the missing share as one more bin).
 *
 * Why deciles of the training data rather than fixed-width bins: money
 * columns are heavy-tailed, so fixed-width bins would put nearly everyone
 * in the first bin and make the index blind; deciles give each bin about
 * a tenth of the reference population, the usual PSI set-up.  Ties merge
 * edges (a count that is 0 for half the customers), so the shares of the
 * reference are computed by binning the reference itself, never assumed
 * to be 10%.
 *
 * Why quickselect: training keeps every feature column of up to millions
 * of rows; sorting each column to read nine quantiles would cost n log n
 * per column, selection costs about 3n.  The select is three-way (values
 * equal to the pivot are set aside), so columns full of ties cost no more.
 *
 * Why every customer and not only the labelled training split: the
 * reference stands for the population the model was put to work on, and
 * predict scores every customer; with the same data, predict then sees
 * PSI 0 exactly (the same values, the same bins).
 */
#include "drift.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/mem.h"

void drift_dist_free(drift_dist *d)
{
    int i;

    if (!d)
        return;
    free(d->name);
    free(d->edges);
    for (i = 0; i < d->nlevels; i++)
        free(d->levels[i]);
    free(d->levels);
    free(d->prop);
    memset(d, 0, sizeof *d);
}

void drift_ref_free(model_drift *ref)
{
    int i;

    if (!ref)
        return;
    drift_dist_free(&ref->score);
    for (i = 0; i < ref->nfeat; i++)
        drift_dist_free(&ref->feat[i]);
    free(ref->feat);
    memset(ref, 0, sizeof *ref);
}

/* ------------------------------------------------------------------ */
/* Edges, bins, PSI                                                    */
/* ------------------------------------------------------------------ */

static double median3(double a, double b, double c)
{
    if (a < b)
        return b < c ? b : (a < c ? c : a);
    return a < c ? a : (b < c ? c : b);
}

/* Puts the k-th smallest of a[lo..hi) at a[k], smaller values before it
 * and larger after (three-way partition around a median-of-three). */
static void select_k(double *a, size_t lo, size_t hi, size_t k)
{
    while (hi - lo > 1) {
        double p = median3(a[lo], a[lo + (hi - lo) / 2], a[hi - 1]), t;
        size_t lt = lo, i = lo, gt = hi;

        while (i < gt) {
            if (a[i] < p) {
                t = a[lt];
                a[lt++] = a[i];
                a[i++] = t;
            } else if (a[i] > p) {
                t = a[--gt];
                a[gt] = a[i];
                a[i] = t;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

/* Edges of the m finite values in v (reordered). */
static int edges_inplace(double *v, size_t m, double *edges)
{
    size_t lo = 0, k;
    int ne = 0;

    if (m == 0)
        return 0;
    for (k = 1; k < DRIFT_BINS; k++) {
        size_t idx = (k * m + DRIFT_BINS - 1) / DRIFT_BINS - 1;   /* ceil(k m / 10) - 1 */
        select_k(v, lo, m, idx);
        lo = idx;
        if (ne == 0 || v[idx] > edges[ne - 1])
            edges[ne++] = v[idx];
    }
    return ne;
}

int drift_edges(const double *x, size_t n, double *edges)
{
    double *v = xmallocarray(n + 1, sizeof *v);
    size_t i, m = 0;
    int ne;

    for (i = 0; i < n; i++)
        if (isfinite(x[i]))
            v[m++] = x[i];
    ne = edges_inplace(v, m, edges);
    free(v);
    return ne;
}

int drift_bin(const double *edges, int nedges, double x)
{
    int lo = 0, hi = nedges;

    /* the number of edges strictly below x */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (edges[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static double psi_term(double e, double a)
{
    if (e < DRIFT_EPS)
        e = DRIFT_EPS;
    if (a < DRIFT_EPS)
        a = DRIFT_EPS;
    return (a - e) * log(a / e);
}

double drift_psi(const double *expected, const double *actual, int nbins)
{
    double s = 0.0;
    int k;

    for (k = 0; k < nbins; k++)
        s += psi_term(expected[k], actual[k]);
    return s;
}

const char *drift_level(double psi)
{
    if (isnan(psi))
        return "n/a";
    return psi > DRIFT_ACT ? "act" : psi > DRIFT_WATCH ? "watch" : "ok";
}

/* The PSI of a column, the missing share being one more bin. */
static double stat_psi(const drift_dist *ref, const drift_stat *st)
{
    return drift_psi(ref->prop, st->actual, ref->nbins) + psi_term(ref->missing, st->missing);
}

/* ------------------------------------------------------------------ */
/* References                                                          */
/* ------------------------------------------------------------------ */

/* counts[nbins] and the missing count -> shares of n. */
static void to_shares(const size_t *count, int nbins, size_t miss, size_t n,
                      double *prop, double *missing)
{
    int k;

    for (k = 0; k < nbins; k++)
        prop[k] = n ? (double)count[k] / (double)n : 0.0;
    *missing = n ? (double)miss / (double)n : 0.0;
}

/* Counts of x[0..n) in the bins of edges; returns the missing count. */
static size_t count_numeric(const double *edges, int ne, const double *x, size_t n,
                            size_t *count)
{
    size_t i, miss = 0;

    memset(count, 0, ((size_t)ne + 1) * sizeof *count);
    for (i = 0; i < n; i++) {
        if (isfinite(x[i]))
            count[drift_bin(edges, ne, x[i])]++;
        else
            miss++;
    }
    return miss;
}

void drift_dist_numeric(const char *name, const double *x, size_t n, drift_dist *out)
{
    double edges[DRIFT_BINS];
    size_t count[DRIFT_BINS + 1], miss;
    int ne = drift_edges(x, n, edges);

    memset(out, 0, sizeof *out);
    out->name = xstrdup(name);
    out->nedges = ne;
    out->edges = xmallocarray((size_t)ne + 1, sizeof *out->edges);
    memcpy(out->edges, edges, (size_t)ne * sizeof *edges);
    out->nbins = ne + 1;
    out->prop = xmallocarray((size_t)out->nbins, sizeof *out->prop);
    miss = count_numeric(edges, ne, x, n, count);
    to_shares(count, out->nbins, miss, n, out->prop, &out->missing);
}

/* Level order for the reference: most frequent first, ties by name. */
typedef struct lev {
    const char *z;
    size_t count;
} lev;

static int lev_cmp(const void *a, const void *b)
{
    const lev *x = a, *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->z, y->z);
}

void drift_dist_text(const char *name, const int32_t *code, size_t n,
                     char **levels, int nlevels, drift_dist *out)
{
    lev *lv = xcalloc((size_t)nlevels + 1, sizeof *lv);
    size_t i, miss = 0, other = 0;
    int k, keep;

    for (k = 0; k < nlevels; k++)
        lv[k].z = levels[k];
    for (i = 0; i < n; i++) {
        if (code[i] >= 0 && code[i] < nlevels)
            lv[code[i]].count++;
        else
            miss++;
    }
    qsort(lv, (size_t)nlevels, sizeof *lv, lev_cmp);
    for (keep = 0; keep < nlevels && keep < DRIFT_MAX_LEVELS && lv[keep].count; keep++)
        ;
    memset(out, 0, sizeof *out);
    out->name = xstrdup(name);
    out->categorical = 1;
    out->nlevels = keep;
    out->levels = xmallocarray((size_t)keep + 1, sizeof *out->levels);
    out->nbins = keep + 1;
    out->prop = xmallocarray((size_t)out->nbins, sizeof *out->prop);
    for (k = 0; k < keep; k++) {
        out->levels[k] = xstrdup(lv[k].z);
        out->prop[k] = (double)lv[k].count / (double)n;
    }
    for (k = keep; k < nlevels; k++)
        other += lv[k].count;
    out->prop[keep] = n ? (double)other / (double)n : 0.0;
    out->missing = n ? (double)miss / (double)n : 0.0;
    free(lv);
}

void drift_ref_build(const dataset *d, const feat_query *q, const double *prob,
                     model_drift *out)
{
    int j;

    memset(out, 0, sizeof *out);
    out->present = 1;
    out->n = (long)d->n;
    drift_dist_numeric("score", prob, d->n, &out->score);
    out->nfeat = q->ncols;
    out->feat = xcalloc((size_t)q->ncols + 1, sizeof *out->feat);
    for (j = 0; j < q->ncols; j++) {
        if (q->cols[j].categorical)
            drift_dist_text(q->cols[j].name, d->code[j], d->n, d->levels[j],
                            d->nlevels[j], &out->feat[j]);
        else
            drift_dist_numeric(q->cols[j].name, d->num[j], d->n, &out->feat[j]);
    }
}

/* ------------------------------------------------------------------ */
/* Comparison                                                          */
/* ------------------------------------------------------------------ */

void drift_stat_numeric(const drift_dist *ref, const double *x, size_t n, drift_stat *out)
{
    size_t *count = xmallocarray((size_t)ref->nbins + 1, sizeof *count), miss;

    out->ref = ref;
    out->actual = xmallocarray((size_t)ref->nbins + 1, sizeof *out->actual);
    miss = count_numeric(ref->edges, ref->nedges, x, n, count);
    to_shares(count, ref->nbins, miss, n, out->actual, &out->missing);
    out->psi = stat_psi(ref, out);
    free(count);
}

void drift_stat_text(const drift_dist *ref, const int32_t *code, size_t n,
                     char **levels, int nlevels, drift_stat *out)
{
    int *bin = xmallocarray((size_t)nlevels + 1, sizeof *bin), k, b;
    size_t *count = xcalloc((size_t)ref->nbins + 1, sizeof *count), i, miss = 0;

    /* today's level k -> its reference bin (unseen levels -> "other") */
    for (k = 0; k < nlevels; k++) {
        bin[k] = ref->nlevels;
        for (b = 0; b < ref->nlevels; b++)
            if (!strcmp(levels[k], ref->levels[b])) {
                bin[k] = b;
                break;
            }
    }
    for (i = 0; i < n; i++) {
        if (code[i] >= 0 && code[i] < nlevels)
            count[bin[code[i]]]++;
        else
            miss++;
    }
    out->ref = ref;
    out->actual = xmallocarray((size_t)ref->nbins + 1, sizeof *out->actual);
    to_shares(count, ref->nbins, miss, n, out->actual, &out->missing);
    out->psi = stat_psi(ref, out);
    free(bin);
    free(count);
}

static int find_col(const feat_query *q, const char *name)
{
    int j;

    for (j = 0; j < q->ncols; j++)
        if (!strcmp(q->cols[j].name, name))
            return j;
    return -1;
}

void drift_compare(const model_drift *ref, const dataset *d, const feat_query *q,
                   const double *prob, drift_result *out)
{
    int k;

    memset(out, 0, sizeof *out);
    out->n = (long)d->n;
    out->ref_n = ref->n;
    drift_stat_numeric(&ref->score, prob, d->n, &out->score);
    out->nfeat = ref->nfeat;
    out->feat = xcalloc((size_t)ref->nfeat + 1, sizeof *out->feat);
    for (k = 0; k < ref->nfeat; k++) {
        const drift_dist *rd = &ref->feat[k];
        drift_stat *st = &out->feat[k];
        int j = find_col(q, rd->name);

        if (j < 0 || q->cols[j].categorical != rd->categorical) {
            st->ref = rd;
            st->psi = NAN;
        } else if (rd->categorical) {
            drift_stat_text(rd, d->code[j], d->n, d->levels[j], d->nlevels[j], st);
        } else {
            drift_stat_numeric(rd, d->num[j], d->n, st);
        }
    }
}

void drift_result_free(drift_result *r)
{
    int k;

    if (!r)
        return;
    free(r->score.actual);
    for (k = 0; k < r->nfeat; k++)
        free(r->feat[k].actual);
    free(r->feat);
    memset(r, 0, sizeof *r);
}

void drift_count(const drift_result *r, int *watch, int *act)
{
    int k;

    *watch = *act = 0;
    for (k = -1; k < r->nfeat; k++) {
        double p = k < 0 ? r->score.psi : r->feat[k].psi;
        if (p > DRIFT_ACT)
            (*act)++;
        else if (p > DRIFT_WATCH)
            (*watch)++;
    }
}

/* ------------------------------------------------------------------ */
/* Unseen categories                                                   */
/* ------------------------------------------------------------------ */

/* Is level z one the encoding knows for text column j (named src)? */
static int level_known(const enc_spec *s, int j, const char *src, const char *z)
{
    int k;

    for (k = 0; k < s->n_ref; k++)
        if (!strcmp(s->ref_sources[k], src) && !strcmp(s->ref_levels[k], z))
            return 1;
    for (k = 0; k < s->p; k++)
        if (s->cols[k].src == j && s->cols[k].kind == ENC_LEVEL && !strcmp(s->cols[k].level, z))
            return 1;
    return 0;
}

static int has_design_column(const enc_spec *s, int j)
{
    int k;

    for (k = 0; k < s->p; k++)
        if (s->cols[k].src == j && (s->cols[k].kind == ENC_LEVEL || s->cols[k].kind == ENC_OTHER))
            return 1;
    return 0;
}

void drift_unseen(const enc_spec *s, const dataset *d, const feat_query *q, size_t *out)
{
    int j, k;

    for (j = 0; j < q->ncols; j++) {
        unsigned char *unseen;
        size_t i, nu = 0;

        out[j] = 0;
        if (!q->cols[j].categorical || !has_design_column(s, j))
            continue;
        unseen = xmalloc((size_t)d->nlevels[j] + 1);
        for (k = 0; k < d->nlevels[j]; k++)
            unseen[k] = !level_known(s, j, q->cols[j].name, d->levels[j][k]);
        for (i = 0; i < d->n; i++)
            nu += d->code[j][i] >= 0 && unseen[d->code[j][i]];
        out[j] = nu;
        free(unseen);
    }
}

/* ------------------------------------------------------------------ */
/* JSON: the run's details and the model's reference                   */
/* ------------------------------------------------------------------ */

/* A number, or null when it is not finite. */
static json_t *jnum(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *jarray(const double *x, int n)
{
    json_t *a = json_array();
    int k;

    for (k = 0; k < n; k++)
        json_array_append_new(a, jnum(x[k]));
    return a;
}

static json_t *stat_json(const drift_stat *st)
{
    json_t *o = json_object();
    const drift_dist *rd = st->ref;

    json_object_set_new(o, "name", json_string(rd->name));
    json_object_set_new(o, "kind", json_string(rd->categorical ? "categorical" : "numeric"));
    json_object_set_new(o, "psi", jnum(st->psi));
    json_object_set_new(o, "level", json_string(drift_level(st->psi)));
    json_object_set_new(o, "expected", jarray(rd->prop, rd->nbins));
    json_object_set_new(o, "expected_missing", jnum(rd->missing));
    if (st->actual) {
        json_object_set_new(o, "actual", jarray(st->actual, rd->nbins));
        json_object_set_new(o, "actual_missing", jnum(st->missing));
    }
    return o;
}

static json_t *result_json(const drift_result *r)
{
    json_t *o = json_object(), *f = json_array();
    int k, watch, act;

    drift_count(r, &watch, &act);
    json_object_set_new(o, "n", json_integer(r->n));
    json_object_set_new(o, "reference_n", json_integer(r->ref_n));
    json_object_set_new(o, "eps", json_real(DRIFT_EPS));
    json_object_set_new(o, "watch", json_integer(watch));
    json_object_set_new(o, "act", json_integer(act));
    json_object_set_new(o, "score", stat_json(&r->score));
    for (k = 0; k < r->nfeat; k++)
        json_array_append_new(f, stat_json(&r->feat[k]));
    json_object_set_new(o, "features", f);
    return o;
}

char *drift_details_json(const drift_result *r, const feat_query *q, const size_t *unseen)
{
    json_t *o = json_object(), *u = json_object();
    char *text;
    int j;

    json_object_set_new(o, "drift", r ? result_json(r) : json_null());
    for (j = 0; q && unseen && j < q->ncols; j++)
        if (q->cols[j].categorical)
            json_object_set_new(u, q->cols[j].name, json_integer((json_int_t)unseen[j]));
    json_object_set_new(o, "unseen", u);
    /* 10 digits: ample for a share or a PSI, and readable in psql */
    text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    return text ? text : xstrdup("{}");
}

static json_t *dist_json(const drift_dist *d)
{
    json_t *o = json_object();
    int k;

    json_object_set_new(o, "name", json_string(d->name));
    json_object_set_new(o, "kind", json_string(d->categorical ? "categorical" : "numeric"));
    if (d->categorical) {
        json_t *lv = json_array();
        for (k = 0; k < d->nlevels; k++)
            json_array_append_new(lv, json_string(d->levels[k]));
        json_object_set_new(o, "levels", lv);
    } else {
        json_object_set_new(o, "edges", jarray(d->edges, d->nedges));
    }
    json_object_set_new(o, "proportions", jarray(d->prop, d->nbins));
    json_object_set_new(o, "missing", jnum(d->missing));
    return o;
}

json_t *drift_ref_to_json(const model_drift *ref)
{
    json_t *o = json_object(), *f = json_array();
    int k;

    json_object_set_new(o, "bins", json_string("deciles"));
    json_object_set_new(o, "n", json_integer(ref->n));
    json_object_set_new(o, "score", dist_json(&ref->score));
    for (k = 0; k < ref->nfeat; k++)
        json_array_append_new(f, dist_json(&ref->feat[k]));
    json_object_set_new(o, "features", f);
    return o;
}

/* Reading.  Each reader returns 0, or 1 after writing the bad field's
 * path into path[size]. */
typedef struct jpath {
    char *p;
    size_t size;
} jpath;

static int bad(jpath *jp, const char *pfx, const char *key)
{
    snprintf(jp->p, jp->size, "%s%s%s", pfx, key ? "." : "", key ? key : "");
    return 1;
}

/* A share: a number in [0, 1]. */
static int get_share(json_t *v, double *out)
{
    if (!json_is_number(v))
        return 1;
    *out = json_number_value(v);
    return !(*out >= 0.0 && *out <= 1.0);
}

static int read_edges(json_t *a, drift_dist *d)
{
    size_t k, n = json_array_size(a);

    if (!json_is_array(a) || n > DRIFT_BINS - 1)
        return 1;
    d->edges = xmallocarray(n + 1, sizeof *d->edges);
    for (k = 0; k < n; k++) {
        json_t *v = json_array_get(a, k);
        if (!json_is_number(v))
            return 1;
        d->edges[k] = json_number_value(v);
        d->nedges = (int)k + 1;
        if (!isfinite(d->edges[k]) || (k > 0 && !(d->edges[k] > d->edges[k - 1])))
            return 1;
    }
    return 0;
}

static int read_levels(json_t *a, drift_dist *d)
{
    size_t k, i, n = json_array_size(a);

    if (!json_is_array(a) || n > DRIFT_MAX_LEVELS)
        return 1;
    d->levels = xcalloc(n + 1, sizeof *d->levels);
    for (k = 0; k < n; k++) {
        json_t *v = json_array_get(a, k);
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
            return 1;
        d->levels[k] = xstrdup(json_string_value(v));
        d->nlevels = (int)k + 1;
        for (i = 0; i < k; i++)
            if (!strcmp(d->levels[i], d->levels[k]))
                return 1;
    }
    return 0;
}

/* proportions: nbins shares that, with missing, sum to 1 (or all 0 for
 * a reference of no rows). */
static int read_props(json_t *o, drift_dist *d, long n, jpath *jp, const char *pfx)
{
    json_t *a = json_object_get(o, "proportions");
    double sum;
    int k;

    if (!json_is_array(a) || json_array_size(a) != (size_t)d->nbins)
        return bad(jp, pfx, "proportions");
    d->prop = xmallocarray((size_t)d->nbins, sizeof *d->prop);
    for (k = 0; k < d->nbins; k++)
        if (get_share(json_array_get(a, k), &d->prop[k]))
            return bad(jp, pfx, "proportions");
    if (get_share(json_object_get(o, "missing"), &d->missing))
        return bad(jp, pfx, "missing");
    sum = d->missing;
    for (k = 0; k < d->nbins; k++)
        sum += d->prop[k];
    if (fabs(sum - 1.0) > 1e-9 && !(n == 0 && sum == 0.0))
        return bad(jp, pfx, "proportions");
    return 0;
}

static int read_dist(json_t *o, drift_dist *d, long n, jpath *jp, const char *pfx)
{
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *kind = json_string_value(json_object_get(o, "kind"));

    if (!json_is_object(o))
        return bad(jp, pfx, NULL);
    if (!name || !*name || strlen(name) != json_string_length(json_object_get(o, "name")))
        return bad(jp, pfx, "name");
    d->name = xstrdup(name);
    if (!kind || (strcmp(kind, "numeric") && strcmp(kind, "categorical")))
        return bad(jp, pfx, "kind");
    d->categorical = !strcmp(kind, "categorical");
    if (d->categorical) {
        if (read_levels(json_object_get(o, "levels"), d))
            return bad(jp, pfx, "levels");
        d->nbins = d->nlevels + 1;
    } else {
        if (read_edges(json_object_get(o, "edges"), d))
            return bad(jp, pfx, "edges");
        d->nbins = d->nedges + 1;
    }
    return read_props(o, d, n, jp, pfx);
}

static int read_features(json_t *a, model_drift *out, jpath *jp)
{
    size_t k, i, n = json_array_size(a);
    char pfx[64];

    if (!json_is_array(a) || n > 100000)
        return bad(jp, "drift_reference", "features");
    out->feat = xcalloc(n + 1, sizeof *out->feat);
    out->nfeat = (int)n;
    for (k = 0; k < n; k++) {
        snprintf(pfx, sizeof pfx, "drift_reference.features[%zu]", k);
        if (read_dist(json_array_get(a, k), &out->feat[k], out->n, jp, pfx))
            return 1;
        for (i = 0; i < k; i++)
            if (!strcmp(out->feat[i].name, out->feat[k].name))
                return bad(jp, pfx, "name");
    }
    return 0;
}

int drift_ref_from_json(json_t *o, model_drift *out, char *path, size_t size)
{
    jpath jp = {path, size};
    const char *bins = json_string_value(json_object_get(o, "bins"));
    json_t *n = json_object_get(o, "n");
    int rc;

    memset(out, 0, sizeof *out);
    if (!json_is_object(o))
        rc = bad(&jp, "drift_reference", NULL);
    else if (!bins || strcmp(bins, "deciles"))
        rc = bad(&jp, "drift_reference", "bins");
    else if (!json_is_integer(n) || json_integer_value(n) < 0)
        rc = bad(&jp, "drift_reference", "n");
    else {
        out->n = (long)json_integer_value(n);
        rc = read_dist(json_object_get(o, "score"), &out->score, out->n, &jp,
                       "drift_reference.score") ||
             read_features(json_object_get(o, "features"), out, &jp);
    }
    if (!rc && out->score.categorical)
        rc = bad(&jp, "drift_reference.score", "kind");
    if (rc) {
        drift_ref_free(out);
        return 1;
    }
    out->present = 1;
    return 0;
}
