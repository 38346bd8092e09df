/*
 * encode.c - from the feature query's columns to the standardised design
 * matrix: median imputation, missing-value indicators, one-hot encoding of
 * text columns, then standardisation (scale.c).
 *
 * Purpose.  enc_fit learns everything from the training rows only (so the
 * test split never leaks into the encoding) and records it in an enc_spec
 * that the model file stores; enc_apply replays the spec unchanged on any
 * rows, including rows of a later feature query at scoring time.
 *
 * Shape of the design matrix (see encode.h for the column kinds).  Columns
 * follow the feature query's order: a numeric column gives one ENC_NUMERIC
 * column; a text column gives its ENC_LEVEL columns and then, when some
 * training row was NULL or rare, one ENC_OTHER column, all contiguous; the
 * ENC_MISSING indicators come last, one per missing-value group in order of
 * first appearance.  A text column's contiguous run of columns is a "unit",
 * as is every other single column: the matrix is filled one unit at a time.
 *
 * Invariants.
 *  - Everything enc_fit decides is a function of the training rows alone,
 *    never of hash order or qsort's instability: the median is an order
 *    statistic, levels are ranked by (count desc, name by strcmp), groups
 *    by first appearance in the query.  The same rows in the same order
 *    give the same spec, bit for bit; another order of the same rows
 *    changes only the rounding of the means and standard deviations.
 *  - Missing numeric values are NAN in the dataset; any non-finite value is
 *    treated as missing here too, so no NaN or infinity reaches the solver.
 *  - After enc_fit or a successful enc_bind, every src and miss index
 *    refers to the bound feat_query / the spec, a text source's columns are
 *    contiguous, and every mean is finite and every sd finite and > 0.
 *    Binding touches only `cols` (callers bind a copy of a loaded model's
 *    spec that shares the strings), so the reference level of a text
 *    source is found by name, through the source of its design columns.
 *
 * Workload.  enc_apply runs over ~1M rows.  A text value is never compared
 * as a string per row: for each text column, each of the dataset's distinct
 * levels (d->levels[j], typically far fewer than the rows) is looked up once
 * by binary search among the model's levels, giving an int32 map from the
 * dataset's level code to a design column; per row the work is one array
 * lookup.  Memory: enc_fit needs nrows x (widest unit) doubles of scratch,
 * never the whole training matrix, since the scaler is fitted column by
 * column; enc_apply writes straight into the matrix it returns, encoding
 * and standardising in the same pass.
 */
#include "encode.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scale.h"
#include "util/mem.h"

/* Map entries for a dataset level code (design column indices are >= 0). */
enum { MAP_REF = -1, MAP_UNSEEN = -2 };

/* One text source's lookup, built per enc_fit / enc_apply call. */
typedef struct enc_tmap {
    int used;        /* the spec encodes this feature column as text */
    int32_t *map;    /* d->nlevels[j] entries: design column, MAP_REF or
                        MAP_UNSEEN */
    int other;       /* the ENC_OTHER design column, or -1 */
} enc_tmap;

/* A level during fitting: its training count, name and dataset code. */
typedef struct enc_rank {
    size_t n;
    const char *z;
    int32_t code;
} enc_rank;

/* A (level, design column) pair, sorted by level for bsearch. */
typedef struct enc_key {
    const char *z;
    int col;
} enc_key;

/* Plain-words labels of the missing-value groups features.c produces;
 * others read "<group> missing". */
static const struct {
    const char *group, *label;
} group_labels[] = {
    { "transactions", "no transactions" },
    { "accounts", "no accounts" },
};

static size_t row_at(const size_t *rows, size_t i)
{
    return rows ? rows[i] : i;
}

static int is_text(int kind)
{
    return kind == ENC_LEVEL || kind == ENC_OTHER;
}

static const char *col_label(const feat_col *c)
{
    return c->label ? c->label : c->name;
}

/* ------------------------------------------------------------------ */
/* Median: quickselect                                                 */
/* ------------------------------------------------------------------ */

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double med3(double a, double b, double c)
{
    if (a > b) {
        double t = a;
        a = b;
        b = t;
    }
    /* now a <= b */
    return c < a ? a : c > b ? b : c;
}

/*
 * Moves the k-th smallest of v[0..n) (finite values) to v[k] with every
 * later element >= it, and returns it.  A full sort of each column would
 * cost O(n log n) per numeric column (seconds over ~40 columns of 1M rows);
 * selection is O(n).  Three-way partitioning keeps columns with many equal
 * values (counts of zero, say) linear, the median-of-three pivot handles
 * sorted input, and after 2 log2(n) + 8 rounds without converging the rest
 * is simply sorted, which bounds the worst case at O(n log n).  The value
 * returned does not depend on the algorithm, so the median is deterministic.
 */
static double select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    int budget = 8;

    for (size_t m = n; m > 1; m >>= 1)
        budget += 2;
    while (hi - lo > 1) {
        double piv;
        size_t lt = lo, i = lo, gt = hi;

        if (budget-- == 0) {
            qsort(v + lo, hi - lo, sizeof *v, dbl_cmp);
            return v[k];
        }
        piv = med3(v[lo], v[lo + (hi - lo) / 2], v[hi - 1]);
        /* [lo,lt) < piv, [lt,i) == piv, [gt,hi) > piv */
        while (i < gt) {
            double t = v[i];
            if (t < piv) {
                v[i++] = v[lt];
                v[lt++] = t;
            } else if (t > piv) {
                v[i] = v[--gt];
                v[gt] = t;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return piv;
    }
    return v[k];
}

/* Median of v[0..n) (permutes v); 0 when n == 0.  An even count gives the
 * mean of the two middle values, as numpy and pandas do. */
static double median(double *v, size_t n)
{
    size_t k;
    double a, b;

    if (n == 0)
        return 0.0;
    k = (n - 1) / 2;
    a = select_kth(v, n, k);
    if (n % 2)
        return a;
    b = v[k + 1];           /* the smallest of v[k+1..n), all >= a */
    for (size_t i = k + 2; i < n; i++)
        if (v[i] < b)
            b = v[i];
    return isfinite(a + b) ? (a + b) / 2 : a / 2 + b / 2;
}

/* ------------------------------------------------------------------ */
/* Building the spec                                                   */
/* ------------------------------------------------------------------ */

/* Appends a zeroed design column (src and miss -1); *cap is the capacity. */
static enc_col *col_push(enc_spec *s, int *cap)
{
    enc_col *c;

    if (s->p == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        s->cols = xreallocarray(s->cols, (size_t)*cap, sizeof *s->cols);
    }
    c = &s->cols[s->p++];
    memset(c, 0, sizeof *c);
    c->src = c->miss = -1;
    c->sd = 1.0;
    return c;
}

static void ref_push(enc_spec *s, const char *source, const char *level)
{
    size_t n = (size_t)s->n_ref + 1;

    s->ref_sources = xreallocarray(s->ref_sources, n, sizeof *s->ref_sources);
    s->ref_levels = xreallocarray(s->ref_levels, n, sizeof *s->ref_levels);
    s->ref_sources[s->n_ref] = xstrdup(source);
    s->ref_levels[s->n_ref] = xstrdup(level);
    s->n_ref++;
}

/* A numeric column: the median of the finite training values.  buf holds
 * nrows doubles of scratch.  Returns how many training rows miss it. */
static size_t fit_numeric(enc_spec *s, int *cap, const dataset *d,
                          const feat_query *q, int j, const size_t *rows,
                          size_t nrows, double *buf)
{
    const double *x = d->num[j];
    size_t nv = 0;
    enc_col *c;

    for (size_t i = 0; i < nrows; i++) {
        double v = x[row_at(rows, i)];
        if (isfinite(v))
            buf[nv++] = v;
    }
    c = col_push(s, cap);
    c->kind = ENC_NUMERIC;
    c->name = xstrdup(q->cols[j].name);
    c->label = xstrdup(col_label(&q->cols[j]));
    c->source = xstrdup(q->cols[j].name);
    c->impute = median(buf, nv);
    c->src = j;
    return nrows - nv;
}

/* Most frequent first; ties by name, then code (a total order even if a
 * hand-built dataset repeats a string). */
static int rank_cmp(const void *a, const void *b)
{
    const enc_rank *x = a, *y = b;
    int r;

    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    r = strcmp(x->z, y->z);
    if (r)
        return r;
    return (x->code > y->code) - (x->code < y->code);
}

/* The ENC_OTHER column's value part: "other", unless a kept level is
 * literally called that, then "(other)", "((other))"... so that names stay
 * unique.  Caller frees. */
static char *other_name(const enc_rank *kept, size_t nk)
{
    char *z = xstrdup("other");

    for (size_t i = 0; i < nk; i++) {
        if (strcmp(kept[i].z, z) == 0) {
            char *w = xasprintf("(%s)", z);
            free(z);
            z = w;
            i = (size_t)-1;     /* start over: the new name may clash too */
        }
    }
    return z;
}

/* A text column: count the training rows per level, keep the levels seen
 * at least min_count times, the most frequent kept level is the reference,
 * the others get ENC_LEVEL columns, and rows that are NULL or in a rare
 * level get the ENC_OTHER column. */
static void fit_text(enc_spec *s, int *cap, const dataset *d,
                     const feat_query *q, int j, const size_t *rows,
                     size_t nrows, int min_count)
{
    size_t nlev = (size_t)d->nlevels[j], nk = 0, nother = 0;
    size_t need = min_count > 1 ? (size_t)min_count : 1;
    const int32_t *code = d->code[j];
    const char *name = q->cols[j].name, *label = col_label(&q->cols[j]);
    size_t *cnt = xcalloc(nlev ? nlev : 1, sizeof *cnt);
    enc_rank *kept = xmallocarray(nlev ? nlev : 1, sizeof *kept);

    for (size_t i = 0; i < nrows; i++) {
        int32_t k = code[row_at(rows, i)];
        assert(k < (int32_t)nlev);
        if (k < 0)
            nother++;           /* NULL */
        else
            cnt[k]++;
    }
    for (size_t k = 0; k < nlev; k++) {
        if (cnt[k] >= need)
            kept[nk++] = (enc_rank){ cnt[k], d->levels[j][k], (int32_t)k };
        else
            nother += cnt[k];   /* rare: folds into other */
    }
    qsort(kept, nk, sizeof *kept, rank_cmp);

    if (nk > 0)
        ref_push(s, name, kept[0].z);
    for (size_t i = 1; i < nk; i++) {
        enc_col *c = col_push(s, cap);
        c->kind = ENC_LEVEL;
        c->name = xasprintf("%s=%s", name, kept[i].z);
        c->label = xasprintf("%s: %s", label, kept[i].z);
        c->source = xstrdup(name);
        c->level = xstrdup(kept[i].z);
        c->src = j;
    }
    if (nother > 0) {
        char *z = other_name(kept, nk);
        enc_col *c = col_push(s, cap);
        c->kind = ENC_OTHER;
        c->name = xasprintf("%s=%s", name, z);
        c->label = xasprintf("%s: other/unseen", label);
        c->source = xstrdup(name);
        c->src = j;
        free(z);
    }
    free(kept);
    free(cnt);
}

static char *group_label(const char *g)
{
    for (size_t i = 0; i < sizeof group_labels / sizeof group_labels[0]; i++)
        if (strcmp(group_labels[i].group, g) == 0)
            return xstrdup(group_labels[i].label);
    return xasprintf("%s missing", g);
}

/* One ENC_MISSING column per group (first appearance in q) that some
 * training row misses in one of the group's numeric columns; nmiss[j] is
 * the training rows missing column j. */
static void fit_groups(enc_spec *s, int *cap, const feat_query *q,
                       const size_t *nmiss)
{
    for (int j = 0; j < q->ncols; j++) {
        const char *g = q->cols[j].group;
        int seen = 0, missing = 0;
        enc_col *c;

        if (!g)
            continue;
        for (int k = 0; k < j && !seen; k++)
            seen = q->cols[k].group && strcmp(q->cols[k].group, g) == 0;
        if (seen)
            continue;
        for (int k = j; k < q->ncols && !missing; k++)
            missing = !q->cols[k].categorical && q->cols[k].group &&
                      strcmp(q->cols[k].group, g) == 0 && nmiss[k] > 0;
        if (!missing)
            continue;
        c = col_push(s, cap);
        c->kind = ENC_MISSING;
        c->name = xasprintf("missing:%s", g);
        c->label = group_label(g);
        c->group = xstrdup(g);
    }
}

/*
 * Points each ENC_NUMERIC column at the indicator of its group in q (miss)
 * and checks that every indicator has at least one numeric column, which
 * is what makes it more than a constant 0.
 */
static int link_groups(enc_spec *s, const feat_query *q, rp_err *e)
{
    for (int j = 0; j < s->p; j++) {
        enc_col *c = &s->cols[j];
        const char *g;

        c->miss = -1;
        if (c->kind != ENC_NUMERIC)
            continue;
        g = q->cols[c->src].group;
        for (int k = 0; g && k < s->p && c->miss < 0; k++)
            if (s->cols[k].kind == ENC_MISSING &&
                strcmp(s->cols[k].group, g) == 0)
                c->miss = k;
    }
    for (int k = 0; k < s->p; k++) {
        int n = 0;
        if (s->cols[k].kind != ENC_MISSING)
            continue;
        for (int j = 0; j < s->p; j++)
            n += s->cols[j].miss == k;
        if (n == 0)
            return rp_err_set(e, RP_EDATA, "the model uses missing-value "
                              "group \"%s\" that this feature query does "
                              "not produce", s->cols[k].group);
    }
    return RP_OK;
}

/* ------------------------------------------------------------------ */
/* Filling the matrix                                                  */
/* ------------------------------------------------------------------ */

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const enc_key *)a)->z, ((const enc_key *)b)->z);
}

static int key_find(const void *z, const void *k)
{
    return strcmp(z, ((const enc_key *)k)->z);
}

/* Maps each of d's levels of text column j, the source called `source`, to
 * its design column. */
static void tmap_build(const enc_spec *s, const dataset *d, int j,
                       const char *source, enc_tmap *tm)
{
    size_t nlev = (size_t)d->nlevels[j], nk = 0;
    enc_key *keys = xmallocarray((size_t)s->p + 1, sizeof *keys);

    for (int k = 0; k < s->n_ref && nk == 0; k++)
        if (strcmp(s->ref_sources[k], source) == 0)
            keys[nk++] = (enc_key){ s->ref_levels[k], MAP_REF };
    for (int k = 0; k < s->p; k++) {
        const enc_col *c = &s->cols[k];
        if (c->src == j && c->kind == ENC_LEVEL)
            keys[nk++] = (enc_key){ c->level, k };
        else if (c->src == j && c->kind == ENC_OTHER)
            tm->other = k;
    }
    qsort(keys, nk, sizeof *keys, key_cmp);
    tm->map = xmallocarray(nlev ? nlev : 1, sizeof *tm->map);
    for (size_t k = 0; k < nlev; k++) {
        const enc_key *hit = bsearch(d->levels[j][k], keys, nk, sizeof *keys,
                                     key_find);
        tm->map[k] = hit ? hit->col : MAP_UNSEEN;
    }
    free(keys);
}

/* One enc_tmap per column of d; only the columns that are the source of
 * some design column of s are built. */
static enc_tmap *tmaps_build(const enc_spec *s, const dataset *d)
{
    enc_tmap *tm = xcalloc((size_t)d->ncols + 1, sizeof *tm);

    for (int j = 0; j < d->ncols; j++)
        tm[j].other = -1;
    for (int k = 0; k < s->p; k++) {
        const enc_col *c = &s->cols[k];
        if (is_text(c->kind) && !tm[c->src].used) {
            tm[c->src].used = 1;
            tmap_build(s, d, c->src, c->source, &tm[c->src]);
        }
    }
    return tm;
}

static void tmaps_free(enc_tmap *tm, int n)
{
    if (!tm)
        return;
    for (int j = 0; j < n; j++)
        free(tm[j].map);
    free(tm);
}

/* The unit starting at design column j ends before the returned index: a
 * text source's run of columns, or j alone. */
static int unit_end(const enc_spec *s, int j)
{
    int k = j + 1;

    if (is_text(s->cols[j].kind))
        while (k < s->p && is_text(s->cols[k].kind) &&
               s->cols[k].src == s->cols[j].src)
            k++;
    return k;
}

/*
 * The fill functions write standardised values, z = (x - mean) / sd with
 * the unit's mean[] and sd[], in the same pass that encodes: the same
 * operations as scale_apply, so the same bits, without a second sweep over
 * a matrix of a gigabyte.  enc_fit passes mean 0 and sd 1, which leave x
 * exactly as it is, to get the unscaled values it fits the scaler on.
 */
static void fill_numeric(const enc_col *c, const dataset *d,
                         const size_t *rows, size_t n, double mean,
                         double sd, double *out)
{
    const double *x = d->num[c->src];
    double zimp = (c->impute - mean) / sd;

    for (size_t i = 0; i < n; i++) {
        double v = x[row_at(rows, i)];
        out[i] = isfinite(v) ? (v - mean) / sd : zimp;
    }
}

/* Sets out[0..n) to the scaled 0 of an indicator; returns the scaled 1. */
static double fill_zero(double *out, size_t n, double mean, double sd)
{
    double z0 = (0.0 - mean) / sd;

    for (size_t i = 0; i < n; i++)
        out[i] = z0;
    return (1.0 - mean) / sd;
}

/* Columns [first, first + w) of one text source: every row 0 except one 1
 * (none for the reference).  *unseen counts non-NULL values that are not
 * among the model's levels. */
static void fill_text(const enc_tmap *tm, const int32_t *code, int first,
                      int w, const size_t *rows, size_t n,
                      const double *mean, const double *sd, double *out,
                      size_t *unseen)
{
    size_t nu = 0;
    double *z1 = xmallocarray((size_t)w + 1, sizeof *z1);

    for (int c = 0; c < w; c++)
        z1[c] = fill_zero(out + (size_t)c * n, n, mean[c], sd[c]);
    for (size_t i = 0; i < n; i++) {
        int32_t k = code[row_at(rows, i)];
        int t = tm->other;

        if (k >= 0) {
            t = tm->map[k];
            if (t == MAP_UNSEEN) {
                nu++;
                t = tm->other;
            }
        }
        if (t >= 0) {
            assert(t >= first && t < first + w);
            out[(size_t)(t - first) * n + i] = z1[t - first];
        }
    }
    if (unseen)
        *unseen += nu;
    free(z1);
}

/* Indicator column k: 1 when the row misses any numeric column whose
 * miss is k. */
static void fill_missing(const enc_spec *s, int k, const dataset *d,
                         const size_t *rows, size_t n, double mean,
                         double sd, double *out)
{
    double z1 = fill_zero(out, n, mean, sd);

    for (int j = 0; j < s->p; j++) {
        const double *x;
        if (s->cols[j].kind != ENC_NUMERIC || s->cols[j].miss != k)
            continue;
        x = d->num[s->cols[j].src];
        for (size_t i = 0; i < n; i++)
            if (!isfinite(x[row_at(rows, i)]))
                out[i] = z1;
    }
}

/* Values of the unit [j, k) into out (n x (k - j)), scaled by mean[] and
 * sd[] (indexed from j). */
static void fill_unit(const enc_spec *s, const enc_tmap *tm,
                      const dataset *d, int j, int k, const size_t *rows,
                      size_t n, const double *mean, const double *sd,
                      double *out, size_t *unseen)
{
    const enc_col *c = &s->cols[j];

    switch (c->kind) {
    case ENC_NUMERIC:
        fill_numeric(c, d, rows, n, mean[0], sd[0], out);
        break;
    case ENC_MISSING:
        fill_missing(s, j, d, rows, n, mean[0], sd[0], out);
        break;
    default:
        fill_text(&tm[c->src], d->code[c->src], j, k - j, rows, n, mean, sd,
                  out, unseen);
        break;
    }
}

/* Fits mean and sd of every design column on the training rows, one unit
 * at a time through the same fill code that enc_apply uses. */
static void fit_scale(enc_spec *s, const dataset *d, const size_t *rows,
                      size_t n)
{
    enc_tmap *tm = tmaps_build(s, d);
    double *mean = xmallocarray((size_t)s->p + 1, sizeof *mean);
    double *sd = xmallocarray((size_t)s->p + 1, sizeof *sd);
    double *zero = xcalloc((size_t)s->p + 1, sizeof *zero);
    double *one = xmallocarray((size_t)s->p + 1, sizeof *one);
    int wmax = 1;
    double *buf;

    for (int j = 0, k; j < s->p; j = k) {
        k = unit_end(s, j);
        if (k - j > wmax)
            wmax = k - j;
    }
    for (int j = 0; j < s->p; j++)
        one[j] = 1.0;
    buf = xmallocarray(n, (size_t)wmax * sizeof *buf);
    for (int j = 0, k; j < s->p; j = k) {
        k = unit_end(s, j);
        fill_unit(s, tm, d, j, k, rows, n, zero + j, one + j, buf, NULL);
        scale_fit(buf, n, (size_t)(k - j), mean + j, sd + j);
    }
    for (int j = 0; j < s->p; j++) {
        s->cols[j].mean = mean[j];
        s->cols[j].sd = sd[j];
    }
    free(buf);
    free(one);
    free(zero);
    free(sd);
    free(mean);
    tmaps_free(tm, d->ncols);
}

/* ------------------------------------------------------------------ */
/* Public functions                                                    */
/* ------------------------------------------------------------------ */

/* d and q must describe the same columns (a mismatch is a bug in the
 * caller: RP_EINTERNAL); no training rows is a data problem. */
static int fit_check(const dataset *d, const feat_query *q,
                     const size_t *rows, size_t nrows, rp_err *e)
{
    if (q->ncols != d->ncols || q->ncols < 0)
        return rp_err_set(e, RP_EINTERNAL, "dataset has %d columns, feature "
                          "query %d", d->ncols, q->ncols);
    for (int j = 0; j < q->ncols; j++) {
        const feat_col *c = &q->cols[j];
        /* a text column that is NULL in every row has no levels at all
         * (levels[j] stays NULL): valid, it encodes as "other" */
        int ok = c->name && (c->categorical
                             ? d->code && d->code[j] && d->levels &&
                               d->nlevels && d->nlevels[j] >= 0 &&
                               (d->levels[j] || d->nlevels[j] == 0)
                             : d->num && d->num[j] != NULL);
        if (!ok)
            return rp_err_set(e, RP_EINTERNAL, "dataset column %d does not "
                              "match the feature query", j);
        for (int k = 0; k < j; k++)
            if (strcmp(q->cols[k].name, c->name) == 0)
                return rp_err_set(e, RP_EINTERNAL, "feature query has two "
                                  "columns named \"%s\"", c->name);
    }
    if (nrows == 0)
        return rp_err_set(e, RP_EDATA, "no training rows to fit the "
                          "encoding on");
    if (!rows && nrows > d->n)
        return rp_err_set(e, RP_EINTERNAL, "%zu training rows asked of a "
                          "dataset of %zu", nrows, d->n);
    for (size_t i = 0; rows && i < nrows; i++)
        if (rows[i] >= d->n)
            return rp_err_set(e, RP_EINTERNAL, "training row %zu out of "
                              "range (dataset of %zu)", rows[i], d->n);
    return RP_OK;
}

int enc_fit(const dataset *d, const feat_query *q, const size_t *rows,
            size_t nrows, int min_count, enc_spec *out, rp_err *e)
{
    int cap = 0, rc;
    double *buf;
    size_t *nmiss;

    memset(out, 0, sizeof *out);
    rc = fit_check(d, q, rows, nrows, e);
    if (rc)
        return rc;
    out->min_count = min_count;
    buf = xmallocarray(nrows, sizeof *buf);
    nmiss = xcalloc((size_t)q->ncols + 1, sizeof *nmiss);
    for (int j = 0; j < q->ncols; j++) {
        if (q->cols[j].categorical)
            fit_text(out, &cap, d, q, j, rows, nrows, min_count);
        else
            nmiss[j] = fit_numeric(out, &cap, d, q, j, rows, nrows, buf);
    }
    free(buf);
    fit_groups(out, &cap, q, nmiss);
    free(nmiss);
    rc = link_groups(out, q, e);    /* cannot fail: each group has a member */
    assert(rc == RP_OK);
    fit_scale(out, d, rows, nrows);
    return rc;
}

static int find_col(const feat_query *q, const char *name)
{
    for (int j = 0; j < q->ncols; j++)
        if (strcmp(q->cols[j].name, name) == 0)
            return j;
    return -1;
}

static int malformed(rp_err *e, int j, const char *what)
{
    return rp_err_set(e, RP_EDATA, "the model's encoding is malformed: "
                      "design column %d %s", j + 1, what);
}

/* The fields each kind needs, and values enc_apply can use as they are. */
static int check_col(const enc_col *c, int j, rp_err *e)
{
    if (c->kind < ENC_NUMERIC || c->kind > ENC_MISSING)
        return malformed(e, j, "has an unknown kind");
    if (!c->name)
        return malformed(e, j, "has no name");
    if (c->kind != ENC_MISSING && !c->source)
        return malformed(e, j, "has no source column");
    if (c->kind == ENC_LEVEL && !c->level)
        return malformed(e, j, "has no level");
    if (c->kind == ENC_MISSING && !c->group)
        return malformed(e, j, "has no missing-value group");
    if (!isfinite(c->mean) || !isfinite(c->sd) || !(c->sd > 0))
        return malformed(e, j, "has an invalid mean or standard deviation");
    if (c->kind == ENC_NUMERIC && !isfinite(c->impute))
        return malformed(e, j, "has an invalid imputation value");
    return RP_OK;
}

/* Resolves one column's source; RP_EDATA when q lacks it or types differ. */
static int bind_source(const feat_query *q, const char *source, int text,
                       int *src, rp_err *e)
{
    int k = find_col(q, source);

    if (k < 0)
        return rp_err_set(e, RP_EDATA, "the model uses feature column "
                          "\"%s\" that this feature query does not produce",
                          source);
    if (!q->cols[k].categorical != !text) {
        rp_err_set(e, RP_EDATA, "feature column \"%s\" is %s in the model "
                   "but %s in this feature query", source,
                   text ? "text" : "numeric", text ? "numeric" : "text");
        rp_err_hint(e, "train a new model for this feature set");
        return RP_EDATA;
    }
    *src = k;
    return RP_OK;
}

/* A text source's columns form one run with at most one ENC_OTHER, which
 * is what fill_text and unit_end rely on.  O(p^2) without allocating: p is
 * a few dozen. */
static int check_runs(const enc_spec *s, rp_err *e)
{
    for (int j = 0, k; j < s->p; j = k) {
        int nother = 0;
        k = unit_end(s, j);
        if (!is_text(s->cols[j].kind))
            continue;
        for (int i = j; i < k; i++)
            nother += s->cols[i].kind == ENC_OTHER;
        for (int i = 0; i < j && nother <= 1; i++)
            if (is_text(s->cols[i].kind) && s->cols[i].src == s->cols[j].src)
                nother = 2;
        if (nother > 1)
            return malformed(e, j, "breaks its text column's run of "
                             "columns");
    }
    return RP_OK;
}

int enc_bind(enc_spec *s, const feat_query *q, rp_err *e)
{
    int rc;

    if (s->p < 0 || (s->p > 0 && !s->cols) || s->n_ref < 0 ||
        (s->n_ref > 0 && (!s->ref_sources || !s->ref_levels)))
        return rp_err_set(e, RP_EDATA, "the model's encoding is malformed");
    for (int j = 0; j < s->p; j++) {
        enc_col *c = &s->cols[j];
        c->src = -1;
        if ((rc = check_col(c, j, e)))
            return rc;
        if (c->kind != ENC_MISSING &&
            (rc = bind_source(q, c->source, is_text(c->kind), &c->src, e)))
            return rc;
    }
    for (int k = 0; k < s->n_ref; k++) {
        int src;
        if (!s->ref_sources[k] || !s->ref_levels[k])
            return rp_err_set(e, RP_EDATA, "the model's encoding is "
                              "malformed: reference level %d is empty", k + 1);
        if ((rc = bind_source(q, s->ref_sources[k], 1, &src, e)))
            return rc;
    }
    if ((rc = check_runs(s, e)))
        return rc;
    return link_groups(s, q, e);
}

double *enc_apply(const enc_spec *s, const dataset *d, const size_t *rows,
                  size_t nrows, size_t *unseen)
{
    double *X = xmallocarray(nrows, (size_t)s->p * sizeof *X);
    double *mean = xmallocarray((size_t)s->p + 1, sizeof *mean);
    double *sd = xmallocarray((size_t)s->p + 1, sizeof *sd);
    enc_tmap *tm;

    assert(rows || nrows <= d->n);
    if (unseen)
        *unseen = 0;
    for (int j = 0; j < s->p; j++) {
        assert(s->cols[j].kind == ENC_MISSING ||
               (s->cols[j].src >= 0 && s->cols[j].src < d->ncols));
        mean[j] = s->cols[j].mean;
        sd[j] = s->cols[j].sd;
    }
    tm = tmaps_build(s, d);
    for (int j = 0, k; j < s->p; j = k) {
        k = unit_end(s, j);
        fill_unit(s, tm, d, j, k, rows, nrows, mean + j, sd + j,
                  X + (size_t)j * nrows, unseen);
    }
    tmaps_free(tm, d->ncols);
    free(sd);
    free(mean);
    return X;
}

void enc_spec_free(enc_spec *s)
{
    if (!s)
        return;
    for (int j = 0; j < s->p && s->cols; j++) {
        free(s->cols[j].name);
        free(s->cols[j].label);
        free(s->cols[j].source);
        free(s->cols[j].level);
        free(s->cols[j].group);
    }
    free(s->cols);
    for (int k = 0; k < s->n_ref; k++) {
        if (s->ref_levels)
            free(s->ref_levels[k]);
        if (s->ref_sources)
            free(s->ref_sources[k]);
    }
    free(s->ref_levels);
    free(s->ref_sources);
    memset(s, 0, sizeof *s);
}
