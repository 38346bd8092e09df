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
 * Why selection and not a sort: training keeps every feature column of up
 * to millions of rows; sorting each column to read nine quantiles would
 * cost n log n per column.  Small columns use nine progressive three-way
 * quickselects (values equal to the pivot are set aside, so columns full
 * of ties cost no more).  Large ones (numeric_fast) read the column twice
 * and without unpredictable branches: a sample brackets each decile, one
 * pass counts the values between and at the brackets, and only the values
 * inside a decile's bracket are selected among; the result is the same to
 * the bit.  The columns are independent and done in parallel threads
 * (par_run), each into its own slot, so the result does not depend on the
 * threads either.
 *
 * Why every customer and not only the labelled training split: the
 * reference stands for the population the model was put to work on, and
 * predict scores every customer; with the same data, predict then sees
 * PSI 0 exactly (the same values, the same bins).
 */
#include "drift.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * Branchless binning.  A value's bin is a count of sorted thresholds below
 * it, found with a binary search of fixed depth whose steps are
 * conditional adds, not branches (a branch per step would be mispredicted
 * about half the time on real data).  The thresholds are padded so that
 * non-finite values need no test of their own: slot 0 holds -inf, which
 * nothing is below, so NaN (below nothing) and -inf count 0 while every
 * finite value counts at least 1; +inf pads the end, and is below no
 * value.
 */
static inline size_t count_below16(const double *s, double v)
{
    size_t b = 0;

    b += s[b + 7] < v ? 8 : 0;
    b += s[b + 3] < v ? 4 : 0;
    b += s[b + 1] < v ? 2 : 0;
    b += s[b] < v ? 1 : 0;
    return b;
}

/*
 * Counts of x[0..n) in the bins of edges (count[0..ne]); returns the
 * missing (non-finite) count.  The bin of a finite x is the number of
 * edges strictly below it (drift_bin's definition).  Thresholds: -inf,
 * the edges, DBL_MAX (below +inf only), then +inf: slot 0 is NaN and -inf,
 * slot k + 1 bin k, slot ne + 2 +inf.  Four histograms, so that runs of
 * equal values (a count that is 0 for half the customers) do not all wait
 * on one counter.
 */
static size_t count_numeric(const double *edges, int ne, const double *x, size_t n,
                            size_t *count)
{
    double s[16];
    size_t h[4][16], i;
    int k, ok = ne >= 0 && ne <= DRIFT_BINS - 1;

    for (k = 0; ok && k < ne; k++)   /* finite and sorted (false for NaN) */
        ok = fabs(edges[k]) <= DBL_MAX && (k == 0 || edges[k - 1] <= edges[k]);
    memset(count, 0, ((size_t)ne + 1) * sizeof *count);
    if (!ok) {
        /* not a reference drift_dist_numeric could make: the plain way */
        size_t miss = 0;
        for (i = 0; i < n; i++) {
            if (isfinite(x[i]))
                count[drift_bin(edges, ne, x[i])]++;
            else
                miss++;
        }
        return miss;
    }
    s[0] = -INFINITY;
    memcpy(s + 1, edges, (size_t)ne * sizeof *edges);
    s[ne + 1] = DBL_MAX;
    for (k = ne + 2; k < 16; k++)
        s[k] = INFINITY;
    memset(h, 0, sizeof h);
    for (i = 0; i + 4 <= n; i += 4) {
        h[0][count_below16(s, x[i])]++;
        h[1][count_below16(s, x[i + 1])]++;
        h[2][count_below16(s, x[i + 2])]++;
        h[3][count_below16(s, x[i + 3])]++;
    }
    for (; i < n; i++)
        h[0][count_below16(s, x[i])]++;
    for (k = 0; k <= ne; k++)
        count[k] = h[0][k + 1] + h[1][k + 1] + h[2][k + 1] + h[3][k + 1];
    return h[0][0] + h[1][0] + h[2][0] + h[3][0] +
           h[0][ne + 2] + h[1][ne + 2] + h[2][ne + 2] + h[3][ne + 2];
}

/*
 * The fast edges of a large column.  Selection with nine quickselects
 * walks the column about sixteen times with a branch per value that the
 * CPU cannot predict; instead:
 *   1. a stratified sample of SAMPLE values gives for each decile
 *      two splitters, values a few standard errors below and above it;
 *   2. one pass classifies every value against the (at most 18, sorted,
 *      distinct) splitters without branches into categories: between two
 *      splitters, or equal to one.  A histogram of the categories gives
 *      each one's rank range, so each decile's category is known;
 *   3. a decile in a splitter's category is that splitter (the common case
 *      for columns full of ties); the others are selected among the values
 *      of their interval alone, which a second pass gathers (a few percent
 *      of the column; select_le below).
 * The counts per bin come from the same histogram (the values up to an
 * edge are the categories below it plus, for an interval, the gathered
 * values up to it), so the column is not read a third time.
 *
 * Order statistics are unique values, so this gives the plain method's
 * edges, bit for bit - except that 0.0 and -0.0 compare equal: when an
 * edge is zero and the column holds zeros of both signs, which one the
 * plain quickselect returns depends on its exact moves, and the caller
 * falls back to it.  The sample affects only the speed (a decile outside
 * its two splitters lands in a wider interval), never the result.
 */
enum {
    FAST_MIN = 1 << 15,          /* fewer rows: the plain way */
    SAMPLE = 8192,               /* sampled values */
    SPL = 32,                    /* threshold slots, a power of 2: -inf, at
                                    most 18 splitters, +inf padding */
    NCAT = 2 * SPL
};

/* Working memory of one thread, kept from column to column. */
typedef struct scratch {
    unsigned char *tag;          /* category of each row */
    size_t tag_cap;
    double *buf;                 /* gathered values / the plain copy */
    size_t buf_cap;
    double samp[SAMPLE];
} scratch;

static void *reserve(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    free(p);
    *cap = need;
    return xmallocarray(need, size);
}

static void scratch_free(scratch *w)
{
    free(w->tag);
    free(w->buf);
}

/* Step 1: the thresholds into t[0..SPL): -inf, the sorted distinct
 * splitters, +inf padding; returns how many splitters, 0 when the sample
 * is mostly non-finite. */
static int pick_splitters(const double *x, size_t n, scratch *w, double *t)
{
    uint64_t r = 0x9e3779b97f4a7c15ULL;
    size_t pos[2 * (DRIFT_BINS - 1)], i, sf = 0, tmp;
    int nc = 0, ns = 0, k, a;

    for (i = 0; i < SAMPLE; i++) {
        size_t lo = (size_t)((uint64_t)i * n / SAMPLE);
        size_t len = (size_t)((uint64_t)(i + 1) * n / SAMPLE) - lo;
        double v;

        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        v = x[lo + (size_t)(r % len)];
        if (isfinite(v))
            w->samp[sf++] = v;
    }
    if (sf < SAMPLE / 8)
        return 0;
    /* the sample ranks a few standard errors either side of each decile */
    for (k = 1; k < DRIFT_BINS; k++) {
        double p = (double)k / DRIFT_BINS, mid = p * (double)sf;
        double d = 2.5 * sqrt((double)sf * p * (1 - p)) + 1;

        pos[nc++] = mid - d < 0 ? 0 : (size_t)(mid - d);
        pos[nc++] = mid + d > (double)(sf - 1) ? sf - 1 : (size_t)(mid + d);
    }
    for (k = 1; k < nc; k++)                 /* insertion sort */
        for (a = k; a > 0 && pos[a - 1] > pos[a]; a--) {
            tmp = pos[a];
            pos[a] = pos[a - 1];
            pos[a - 1] = tmp;
        }
    t[0] = -INFINITY;
    for (k = 0; k < nc; k++) {
        select_k(w->samp, k ? pos[k - 1] : 0, sf, pos[k]);
        if (ns == 0 || w->samp[pos[k]] > t[ns])
            t[++ns] = w->samp[pos[k]];
    }
    for (k = ns + 1; k < SPL; k++)
        t[k] = INFINITY;
    return ns;
}

/*
 * Step 2's category of v: with b the number of thresholds below v (a
 * branchless binary search over the SPL slots), 2b + (v == t[b]); t[b],
 * the first threshold not below v, cannot be above v when equal to it, so
 * the test is t[b] <= v.  So: NaN 0, -inf 1, a finite value between
 * thresholds b - 1 and b 2b, equal to threshold b 2b + 1, +inf
 * 2 (ns + 1) + 1.
 */
static inline unsigned classify(const double *t, double v)
{
    size_t b = 0;

    b += t[b + 15] < v ? 16 : 0;
    b += t[b + 7] < v ? 8 : 0;
    b += t[b + 3] < v ? 4 : 0;
    b += t[b + 1] < v ? 2 : 0;
    b += t[b] < v ? 1 : 0;
    return (unsigned)(2 * b + (t[b] <= v));
}

/*
 * Step 3 for one decile: the r-th smallest of the finite values a[0..len)
 * (reordered), and in *le how many of them are <= it.  The same idea once
 * more, with one decile: two splitters from a sample of the interval, a
 * pass counting the values below, at and between them, and the values of
 * the decile's part kept (in place) for the next round; small parts go to
 * the plain quickselect.  samp has room for SAMPLE values.
 */
enum { SEG_SMALL = 4096, SEG_SAMPLE = 512 };

static double select_le(double *a, size_t len, size_t r, double *samp, size_t *le)
{
    uint64_t z = 0x2545f4914f6cdd1dULL;
    size_t base = 0, i, j;
    double v;
    int round;

    for (round = 0; round < 8 && len >= SEG_SMALL; round++) {
        double p = ((double)r + 0.5) / (double)len, mid = p * SEG_SAMPLE;
        double d = 2.5 * sqrt(SEG_SAMPLE * p * (1 - p)) + 1, s0, s1;
        size_t lo = mid - d < 0 ? 0 : (size_t)(mid - d);
        size_t hi = mid + d > SEG_SAMPLE - 1 ? SEG_SAMPLE - 1 : (size_t)(mid + d);
        size_t h[2][5], cnt[5], cum[6], k;
        unsigned c, cat;

        for (i = 0; i < SEG_SAMPLE; i++) {
            size_t from = (size_t)((uint64_t)i * len / SEG_SAMPLE);
            size_t span = (size_t)((uint64_t)(i + 1) * len / SEG_SAMPLE) - from;
            z ^= z << 13;
            z ^= z >> 7;
            z ^= z << 17;
            samp[i] = a[from + (size_t)(z % span)];
        }
        select_k(samp, 0, SEG_SAMPLE, lo);
        select_k(samp, lo, SEG_SAMPLE, hi);
        s0 = samp[lo];
        s1 = samp[hi];
        if (!(s1 > s0))
            s1 = INFINITY;   /* one splitter: categories 0, 1 (= s0), 2 */
#define RP_CAT(v) (unsigned)((s0 < (v)) + (s0 <= (v)) + (s1 < (v)) + (s1 <= (v)))
        memset(h, 0, sizeof h);
        for (i = 0; i + 2 <= len; i += 2) {
            h[0][RP_CAT(a[i])]++;
            h[1][RP_CAT(a[i + 1])]++;
        }
        if (i < len)
            h[0][RP_CAT(a[i])]++;
        cum[0] = 0;
        for (c = 0; c < 5; c++) {
            cnt[c] = h[0][c] + h[1][c];
            cum[c + 1] = cum[c] + cnt[c];
        }
        for (cat = 0; cum[cat + 1] <= r; cat++)
            ;
        if (cat % 2) {
            *le = base + cum[cat + 1];
            return cat == 1 ? s0 : s1;
        }
        for (i = 0, k = 0; i < len; i++) {
            v = a[i];
            a[k] = v;
            k += RP_CAT(v) == cat;
        }
#undef RP_CAT
        base += cum[cat];
        r -= cum[cat];
        len = cnt[cat];
    }
    select_k(a, 0, len, r);
    v = a[r];
    for (i = 0, j = 0; i < len; i++)
        j += a[i] <= v;
    *le = base + j;
    return v;
}

/* Does x hold zeros of both signs? */
static int mixed_zeros(const double *x, size_t n)
{
    const uint64_t negzero = (uint64_t)1 << 63;
    size_t i;
    int neg = 0, pos = 0;

    for (i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &x[i], sizeof u);
        neg |= u == negzero;
        pos |= u == 0;
    }
    return neg && pos;
}

/* Edges and bin counts of x[0..n) the fast way; returns 1 (nothing
 * written) when the plain way must decide (see above). */
static int numeric_fast(const double *x, size_t n, scratch *w, double *edges, int *pne,
                        size_t *count, size_t *pmiss)
{
    double t[SPL], val[DRIFT_BINS];
    size_t h[4][NCAT], cnt[NCAT], cum[NCAT + 1], seg[NCAT], pos[NCAT];
    size_t le[DRIFT_BINS], tr[DRIFT_BINS], i, m, below, W = 0;
    unsigned char want[NCAT], ntc[NCAT], *tag;
    int tc[DRIFT_BINS], ns, c, k, ne = 0, gather = 0, zero = 0;

    if ((ns = pick_splitters(x, n, w, t)) == 0)
        return 1;
    w->tag = tag = reserve(w->tag, &w->tag_cap, n, 1);
    memset(h, 0, sizeof h);
    for (i = 0; i + 4 <= n; i += 4) {
        unsigned c0 = classify(t, x[i]), c1 = classify(t, x[i + 1]);
        unsigned c2 = classify(t, x[i + 2]), c3 = classify(t, x[i + 3]);
        tag[i] = (unsigned char)c0;
        tag[i + 1] = (unsigned char)c1;
        tag[i + 2] = (unsigned char)c2;
        tag[i + 3] = (unsigned char)c3;
        h[0][c0]++;
        h[1][c1]++;
        h[2][c2]++;
        h[3][c3]++;
    }
    for (; i < n; i++) {
        unsigned c0 = classify(t, x[i]);
        tag[i] = (unsigned char)c0;
        h[0][c0]++;
    }
    cum[0] = 0;
    for (c = 0; c < NCAT; c++) {
        cnt[c] = h[0][c] + h[1][c] + h[2][c] + h[3][c];
        cum[c + 1] = cum[c] + cnt[c];
    }
    /* the finite values are categories 2 .. 2 (ns + 1) */
    below = cnt[0] + cnt[1];
    m = n - below - cnt[2 * (ns + 1) + 1];

    /* each decile's category, and its rank inside it */
    memset(want, 0, sizeof want);
    memset(ntc, 0, sizeof ntc);
    for (k = 1, c = 0; m && k < DRIFT_BINS; k++) {
        size_t idx = below + ((size_t)k * m + DRIFT_BINS - 1) / DRIFT_BINS - 1;
        while (cum[c + 1] <= idx)
            c++;
        tc[k] = c;
        tr[k] = idx - cum[c];
        ntc[c]++;
        if (c % 2 == 0 && !want[c]) {
            want[c] = 1;
            gather = 1;
        }
    }
    if (gather) {
        /* append the wanted values (and their categories, over the tags
         * already read) without branches, then place them by category */
        size_t kk = 0;
        double *g;

        for (c = 0; c < NCAT; c++)
            if (want[c]) {
                seg[c] = pos[c] = W;
                W += cnt[c];
            }
        w->buf = reserve(w->buf, &w->buf_cap, 2 * W + 1, sizeof *w->buf);
        g = w->buf + W;
        for (i = 0; i < n; i++) {
            unsigned tg = tag[i];
            g[kk] = x[i];
            tag[kk] = (unsigned char)tg;
            kk += want[tg];
        }
        for (i = 0; i < W; i++)
            w->buf[pos[tag[i]]++] = g[i];
    }
    for (k = 1; m && k < DRIFT_BINS; k++) {
        double v;
        size_t l;

        c = tc[k];
        if (c % 2) {
            v = t[c / 2];
            l = cum[c + 1];
        } else if (ntc[c] == 1) {
            v = select_le(w->buf + seg[c], cnt[c], tr[k], w->samp, &l);
            l += cum[c];
        } else {
            /* deciles sharing an interval (a small or odd column): the
             * plain progressive select */
            double *a = w->buf + seg[c];
            size_t j, len = cnt[c], lo = k > 1 && tc[k - 1] == c ? tr[k - 1] : 0;

            select_k(a, lo, len, tr[k]);
            v = a[tr[k]];
            for (l = cum[c], j = 0; j < len; j++)
                l += a[j] <= v;
        }
        if (ne == 0 || v > val[ne - 1]) {
            val[ne] = v;
            le[ne++] = l - below;   /* finite values <= v */
            zero |= v == 0.0;
        }
    }
    if (zero && mixed_zeros(x, n))
        return 1;
    memcpy(edges, val, (size_t)ne * sizeof *val);
    *pne = ne;
    for (k = 0; k <= ne; k++)
        count[k] = (k < ne ? le[k] : m) - (k > 0 ? le[k - 1] : 0);
    *pmiss = n - m;
    return 0;
}

/* Edges (at most DRIFT_BINS - 1) and counts (nedges + 1) of x[0..n);
 * returns the missing count. */
static size_t numeric_bins(const double *x, size_t n, scratch *w, double *edges, int *ne,
                           size_t *count)
{
    size_t i, m = 0, miss;

    if (n >= FAST_MIN && !numeric_fast(x, n, w, edges, ne, count, &miss))
        return miss;
    w->buf = reserve(w->buf, &w->buf_cap, n + 1, sizeof *w->buf);
    for (i = 0; i < n; i++)
        if (isfinite(x[i]))
            w->buf[m++] = x[i];
    *ne = edges_inplace(w->buf, m, edges);
    return count_numeric(edges, *ne, x, n, count);
}

int drift_edges(const double *x, size_t n, double *edges)
{
    scratch *w = xcalloc(1, sizeof *w);
    size_t count[DRIFT_BINS + 1];
    int ne;

    numeric_bins(x, n, w, edges, &ne, count);
    scratch_free(w);
    free(w);
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

static void dist_numeric(const char *name, const double *x, size_t n, scratch *w,
                         drift_dist *out)
{
    double edges[DRIFT_BINS];
    size_t count[DRIFT_BINS + 1], miss;
    int ne;

    miss = numeric_bins(x, n, w, edges, &ne, count);
    memset(out, 0, sizeof *out);
    out->name = xstrdup(name);
    out->nedges = ne;
    out->edges = xmallocarray((size_t)ne + 1, sizeof *out->edges);
    memcpy(out->edges, edges, (size_t)ne * sizeof *edges);
    out->nbins = ne + 1;
    out->prop = xmallocarray((size_t)out->nbins, sizeof *out->prop);
    to_shares(count, out->nbins, miss, n, out->prop, &out->missing);
}

void drift_dist_numeric(const char *name, const double *x, size_t n, drift_dist *out)
{
    scratch *w = xcalloc(1, sizeof *w);

    dist_numeric(name, x, n, w, out);
    scratch_free(w);
    free(w);
}

/*
 * Columns in parallel.  The columns are independent, so njobs jobs are
 * handed out to threads one at a time (an atomic counter); each job
 * writes only its own slot of the result, so the result does not depend
 * on which thread ran it or when.  If a thread cannot be started, the
 * calling thread does the remaining jobs itself.
 */
enum { PAR_MIN_ROWS = 1 << 16, PAR_MAX_THREADS = 8 };

typedef struct par {
    void (*run)(struct par *p, int job, scratch *w);
    int njobs;
    atomic_int next;
    /* the jobs' data */
    const model_drift *ref;
    const dataset *d;
    const feat_query *q;
    const double *prob;
    model_drift *build;
    drift_result *cmp;
} par;

static void *par_worker(void *arg)
{
    par *p = arg;
    scratch *w = xcalloc(1, sizeof *w);
    int job;

    while ((job = atomic_fetch_add(&p->next, 1)) < p->njobs)
        p->run(p, job, w);
    scratch_free(w);
    free(w);
    return NULL;
}

static void par_run(par *p, size_t rows)
{
    pthread_t th[PAR_MAX_THREADS];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = cpus < 1 ? 1 : cpus > PAR_MAX_THREADS ? PAR_MAX_THREADS : (int)cpus, k, started = 0;

    atomic_init(&p->next, 0);
    if (rows < PAR_MIN_ROWS)
        nt = 1;
    if (nt > p->njobs)
        nt = p->njobs;
    for (k = 0; k < nt - 1; k++) {
        if (pthread_create(&th[k], NULL, par_worker, p))
            break;
        started++;
    }
    par_worker(p);
    for (k = 0; k < started; k++)
        pthread_join(th[k], NULL);
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

/* Job 0: the score; job j + 1: column j. */
static void build_job(par *p, int job, scratch *w)
{
    const dataset *d = p->d;
    int j = job - 1;

    if (j < 0)
        dist_numeric("score", p->prob, d->n, w, &p->build->score);
    else if (p->q->cols[j].categorical)
        drift_dist_text(p->q->cols[j].name, d->code[j], d->n, d->levels[j], d->nlevels[j],
                        &p->build->feat[j]);
    else
        dist_numeric(p->q->cols[j].name, d->num[j], d->n, w, &p->build->feat[j]);
}

void drift_ref_build(const dataset *d, const feat_query *q, const double *prob,
                     model_drift *out)
{
    par p;

    memset(out, 0, sizeof *out);
    out->present = 1;
    out->n = (long)d->n;
    out->nfeat = q->ncols;
    out->feat = xcalloc((size_t)q->ncols + 1, sizeof *out->feat);
    memset(&p, 0, sizeof p);
    p.run = build_job;
    p.njobs = q->ncols + 1;
    p.d = d;
    p.q = q;
    p.prob = prob;
    p.build = out;
    par_run(&p, d->n);
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

/* Job 0: the score; job k + 1: reference column k. */
static void compare_job(par *p, int job, scratch *w)
{
    const dataset *d = p->d;
    const feat_query *q = p->q;
    const drift_dist *rd;
    drift_stat *st;
    int k = job - 1, j;

    (void)w;
    if (k < 0) {
        drift_stat_numeric(&p->ref->score, p->prob, d->n, &p->cmp->score);
        return;
    }
    rd = &p->ref->feat[k];
    st = &p->cmp->feat[k];
    j = find_col(q, rd->name);
    if (j < 0 || q->cols[j].categorical != rd->categorical) {
        st->ref = rd;
        st->psi = NAN;
    } else if (rd->categorical) {
        drift_stat_text(rd, d->code[j], d->n, d->levels[j], d->nlevels[j], st);
    } else {
        drift_stat_numeric(rd, d->num[j], d->n, st);
    }
}

void drift_compare(const model_drift *ref, const dataset *d, const feat_query *q,
                   const double *prob, drift_result *out)
{
    par p;

    memset(out, 0, sizeof *out);
    out->n = (long)d->n;
    out->ref_n = ref->n;
    out->nfeat = ref->nfeat;
    out->feat = xcalloc((size_t)ref->nfeat + 1, sizeof *out->feat);
    memset(&p, 0, sizeof p);
    p.run = compare_job;
    p.njobs = ref->nfeat + 1;
    p.ref = ref;
    p.d = d;
    p.q = q;
    p.prob = prob;
    p.cmp = out;
    par_run(&p, d->n);
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
