/*
 * metrics.c - evaluation of probability scores against 0/1 labels.
 *
 * Purpose.  Everything the evaluation report needs (ROC AUC, average
 * precision, log loss, Brier score, KS, the confusion matrix at a threshold,
 * the best-F1 threshold, calibration and lift by decile) computed from two
 * arrays, with no I/O, so that the numbers can be cross-checked against
 * scikit-learn to 1e-12 (tests/cli/metrics_reference.sh).
 *
 * Shape.  The ranking metrics all walk the same object: the list of
 * distinct scores from the highest down, each with the cumulative counts of
 * positives (tp) and negatives (fp) scoring at or above it.  This is
 * scikit-learn's _binary_clf_curve, and grouping tied scores into a single
 * step is exactly what gives ties "half credit" in the ROC area and makes
 * average precision independent of the order of tied rows.  The list is
 * built with one qsort of (score, row) pairs, so every metric is
 * O(n log n) time and O(n) scratch memory, freed before returning.
 *
 * Invariants.
 *  - The sort key is (score ascending, row index ascending) and it is a
 *    total order even with NaN scores (NaN ranks lowest, NaNs tie), so the
 *    results never depend on qsort's instability or on the input order of
 *    rows with equal scores: the one place where tied rows can be told
 *    apart is the calibration/lift binning, and there the row index
 *    decides.
 *  - Counts are kept as size_t and turned into doubles only for ratios;
 *    the ROC area is accumulated in units of (negative, positive) pairs and
 *    divided once, so small cases are exact rationals rounded once.
 *  - Undefined results are NAN (documented per function in metrics.h),
 *    never a division by zero that happens to print as inf.
 */
#include "metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/mem.h"

/* One row, ready to sort. */
typedef struct met_pair {
    double s;        /* score */
    size_t i;        /* row index: tie-breaker that makes the sort total */
    int pos;         /* 1 when the label is positive */
} met_pair;

/* One distinct score and the cumulative counts at s >= thr. */
typedef struct met_step {
    double thr;
    size_t tp, fp;
} met_step;

/* The ranked rows and the curve built from them. */
typedef struct met_curve {
    met_step *st;    /* distinct scores, highest first */
    size_t nst;
    size_t np, nn;   /* number of positives and negatives */
} met_curve;

static int is_pos(double y)
{
    return y > 0.5;
}

/* Ascending score, NaN lowest, then ascending row index. */
static int pair_cmp(const void *a, const void *b)
{
    const met_pair *p = a, *q = b;
    int pn = isnan(p->s), qn = isnan(q->s);

    if (pn != qn)
        return pn ? -1 : 1;
    if (!pn && p->s != q->s)
        return p->s < q->s ? -1 : 1;
    return (p->i > q->i) - (p->i < q->i);
}

static int same_score(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

/* The rows sorted by pair_cmp; caller frees. */
static met_pair *pairs_sorted(const double *y, const double *s, size_t n)
{
    met_pair *pr = xmallocarray(n, sizeof *pr);

    for (size_t i = 0; i < n; i++) {
        pr[i].s = s[i];
        pr[i].i = i;
        pr[i].pos = is_pos(y[i]);
    }
    qsort(pr, n, sizeof *pr, pair_cmp);
    return pr;
}

/* Builds the step list by walking the sorted rows from the top; a step is
 * closed only when the next score differs, so tied rows share one step. */
static met_curve curve_from_pairs(const met_pair *pr, size_t n)
{
    met_curve c = { xmallocarray(n, sizeof(met_step)), 0, 0, 0 };

    for (size_t k = n; k-- > 0;) {
        if (pr[k].pos)
            c.np++;
        else
            c.nn++;
        if (k == 0 || !same_score(pr[k - 1].s, pr[k].s)) {
            c.st[c.nst].thr = pr[k].s;
            c.st[c.nst].tp = c.np;
            c.st[c.nst].fp = c.nn;
            c.nst++;
        }
    }
    return c;
}

static met_curve curve_build(const double *y, const double *s, size_t n)
{
    met_pair *pr = pairs_sorted(y, s, n);
    met_curve c = curve_from_pairs(pr, n);

    free(pr);
    return c;
}

static void curve_free(met_curve *c)
{
    free(c->st);
    c->st = NULL;
}

/*
 * Trapezoids between consecutive ROC points, in units of pairs: a step that
 * adds dfp negatives and moves tp from a to b covers dfp * (a + b) / 2
 * pairs, which is the Mann-Whitney count with ties worth one half.
 */
static double auc_of_curve(met_curve c)
{
    double area2 = 0.0, auc = NAN;
    size_t tp0 = 0, fp0 = 0;

    for (size_t k = 0; k < c.nst; k++) {
        area2 += (double)(c.st[k].fp - fp0) * (double)(c.st[k].tp + tp0);
        tp0 = c.st[k].tp;
        fp0 = c.st[k].fp;
    }
    if (c.np > 0 && c.nn > 0)
        auc = area2 / (2.0 * (double)c.np * (double)c.nn);
    curve_free(&c);
    return auc;
}

double met_roc_auc(const double *y, const double *s, size_t n)
{
    return auc_of_curve(curve_build(y, s, n));
}

/* Step-wise (not interpolated) area, as scikit-learn: each step's recall
 * gain times the precision at that step. */
double met_pr_auc(const double *y, const double *s, size_t n)
{
    met_curve c = curve_build(y, s, n);
    double ap = 0.0;
    size_t tp0 = 0;

    if (n == 0)
        ap = NAN;
    for (size_t k = 0; k < c.nst && c.np > 0; k++) {
        const met_step *st = &c.st[k];
        double dr = (double)(st->tp - tp0) / (double)c.np;
        ap += dr * ((double)st->tp / (double)(st->tp + st->fp));
        tp0 = st->tp;
    }
    curve_free(&c);
    return ap;
}

double met_log_loss(const double *y, const double *s, size_t n)
{
    const double eps = 1e-15;
    double sum = 0.0;

    if (n == 0)
        return NAN;
    for (size_t i = 0; i < n; i++) {
        double p = fmin(fmax(s[i], eps), 1.0 - eps);
        /* log1p(-p) keeps the digits of 1 - p when p is tiny. */
        sum -= is_pos(y[i]) ? log(p) : log1p(-p);
    }
    return sum / (double)n;
}

double met_brier(const double *y, const double *s, size_t n)
{
    double sum = 0.0;

    if (n == 0)
        return NAN;
    for (size_t i = 0; i < n; i++) {
        double d = s[i] - (is_pos(y[i]) ? 1.0 : 0.0);
        sum += d * d;
    }
    return sum / (double)n;
}

/*
 * The maximum of TPR - FPR over the steps.  The ROC curve's first point
 * (0, 0) is left out: its value 0 equals the last step's (1 - 1), so the
 * maximum is unchanged, and every reported threshold is a real score.
 *
 * Steps are compared exactly, as tp*N - fp*P in integers (kept as the two
 * non-negative terms a - b so nothing goes below zero): in floating point
 * 2/3 - 0 and 1 - 1/3 differ in the last bit, which would let rounding
 * rather than the documented rule pick the threshold.  Exact while
 * n^2 / 2 fits in 64 bits (n up to about 6e9).
 */
double met_ks(const double *y, const double *s, size_t n, double *at_score)
{
    met_curve c = curve_build(y, s, n);
    double best = NAN, at = NAN;
    uint64_t ba = 0, bb = 0;    /* best step's tp*N and fp*P */
    size_t kb = 0;

    for (size_t k = 0; k < c.nst && c.np > 0 && c.nn > 0; k++) {
        uint64_t a = (uint64_t)c.st[k].tp * c.nn;
        uint64_t b = (uint64_t)c.st[k].fp * c.np;
        if (k == 0 || a + bb > ba + b) {  /* strict: highest thr wins ties */
            ba = a;
            bb = b;
            kb = k;
        }
    }
    if (c.np > 0 && c.nn > 0) {
        best = (double)c.st[kb].tp / (double)c.np
             - (double)c.st[kb].fp / (double)c.nn;
        at = c.st[kb].thr;
    }
    curve_free(&c);
    if (at_score)
        *at_score = at;
    return best;
}

static double ratio0(double num, double den)
{
    return den > 0.0 ? num / den : 0.0;
}

met_confusion met_confusion_at(const double *y, const double *s, size_t n,
                               double thr)
{
    met_confusion m = { 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0 };

    for (size_t i = 0; i < n; i++) {
        int pred = s[i] >= thr, pos = is_pos(y[i]);
        if (pred && pos)
            m.tp++;
        else if (pred)
            m.fp++;
        else if (pos)
            m.fn++;
        else
            m.tn++;
    }
    m.accuracy = ratio0((double)(m.tp + m.tn), (double)n);
    m.precision = ratio0((double)m.tp, (double)(m.tp + m.fp));
    m.recall = ratio0((double)m.tp, (double)(m.tp + m.fn));
    m.f1 = ratio0(2.0 * (double)m.tp, (double)(2 * m.tp + m.fp + m.fn));
    return m;
}

/*
 * At step k, fn = P - tp, so F1 = 2tp / (2tp + fp + fn) = 2tp / (tp + fp + P).
 * Equal F1 values are equal rationals, and IEEE division rounds equal
 * rationals to the same double, so the strict comparison breaks ties
 * towards the higher threshold as documented.
 */
double met_best_f1_threshold(const double *y, const double *s, size_t n)
{
    met_curve c = curve_build(y, s, n);
    double best = -1.0, thr = 0.5;

    for (size_t k = 0; k < c.nst && c.np > 0; k++) {
        const met_step *st = &c.st[k];
        double f1 = 2.0 * (double)st->tp / (double)(st->tp + st->fp + c.np);
        if (f1 > best) {
            best = f1;
            thr = st->thr;
        }
    }
    curve_free(&c);
    return thr;
}

/* First rank of bin k: floor(k * n / nbins), computed without forming
 * k * n (n = q * nbins + r, so k * n / nbins = k * q + k * r / nbins). */
static size_t bin_edge(size_t k, size_t n, size_t nbins)
{
    size_t q = n / nbins, r = n % nbins;
    return k * q + (k * r) / nbins;
}

/* Per-bin row count, positive count and score sum over the ascending
 * ranking; the three arrays have nbins elements. */
static void bins_fill(const double *y, const double *s, size_t n,
                      size_t nbins, size_t *cnt, size_t *npos, double *ssum)
{
    met_pair *pr = pairs_sorted(y, s, n);

    for (size_t k = 0; k < nbins; k++) {
        size_t lo = bin_edge(k, n, nbins), hi = bin_edge(k + 1, n, nbins);
        cnt[k] = hi - lo;
        npos[k] = 0;
        ssum[k] = 0.0;
        for (size_t r = lo; r < hi; r++) {
            npos[k] += (size_t)pr[r].pos;
            ssum[k] += pr[r].s;
        }
    }
    free(pr);
}

size_t met_calibration(const double *y, const double *s, size_t n,
                       size_t nbins, double *mean_pred, double *obs_rate,
                       size_t *count)
{
    size_t *cnt, *npos, filled = 0;
    double *ssum;

    if (nbins == 0)
        return 0;
    cnt = xmallocarray(nbins, sizeof *cnt);
    npos = xmallocarray(nbins, sizeof *npos);
    ssum = xmallocarray(nbins, sizeof *ssum);
    bins_fill(y, s, n, nbins, cnt, npos, ssum);
    for (size_t k = 0; k < nbins; k++) {
        double c = (double)cnt[k];
        mean_pred[k] = cnt[k] ? ssum[k] / c : NAN;
        obs_rate[k] = cnt[k] ? (double)npos[k] / c : NAN;
        count[k] = cnt[k];
        filled += cnt[k] > 0;
    }
    free(cnt);
    free(npos);
    free(ssum);
    return filled;
}

void met_lift_by_decile(const double *y, const double *s, size_t n,
                        size_t nbins, double *lift, double *capture)
{
    size_t *cnt, *npos, ptot = 0, pcum = 0;
    double *ssum, base;

    if (nbins == 0)
        return;
    cnt = xmallocarray(nbins, sizeof *cnt);
    npos = xmallocarray(nbins, sizeof *npos);
    ssum = xmallocarray(nbins, sizeof *ssum);
    bins_fill(y, s, n, nbins, cnt, npos, ssum);
    for (size_t k = 0; k < nbins; k++)
        ptot += npos[k];
    base = ptot ? (double)ptot / (double)n : NAN;
    for (size_t k = 0; k < nbins; k++) {
        size_t b = nbins - 1 - k;    /* highest scores first */
        pcum += npos[b];
        if (lift)
            lift[k] = cnt[b] && ptot
                    ? ((double)npos[b] / (double)cnt[b]) / base : NAN;
        if (capture)
            capture[k] = ptot ? (double)pcum / (double)ptot : NAN;
    }
    free(cnt);
    free(npos);
    free(ssum);
}

/* ------------------------------------------------------------------ */
/* Curves and tables for the evaluation report                         */
/* ------------------------------------------------------------------ */

size_t met_steps(const double *y, const double *s, size_t n, double *thr,
                 size_t *tp, size_t *fp, size_t *np, size_t *nn)
{
    met_curve c = curve_build(y, s, n);
    size_t nst = c.nst;

    for (size_t k = 0; k < nst; k++) {
        if (thr)
            thr[k] = c.st[k].thr;
        if (tp)
            tp[k] = c.st[k].tp;
        if (fp)
            fp[k] = c.st[k].fp;
    }
    if (np)
        *np = c.np;
    if (nn)
        *nn = c.nn;
    curve_free(&c);
    return nst;
}

/*
 * DeLong's placement values, computed per group of tied scores over the
 * ascending ranking (every positive in a group has the same V10, every
 * negative the same V01, so only group counts are needed).  Two passes:
 * the first gives the means (both equal the AUC), the second the sums of
 * squared deviations, which avoids the cancellation of sum(v^2) - n m^2.
 */
typedef struct delong_acc {
    double m10, m01;     /* means of V10 and V01 */
    double ss10, ss01;   /* sums of squared deviations */
} delong_acc;

static void delong_pass(const met_pair *pr, size_t n, size_t np, size_t nn,
                        delong_acc *a, int second)
{
    size_t neg_below = 0, pos_below = 0, g0 = 0;

    while (g0 < n) {
        size_t g1 = g0, gp = 0, gn = 0;
        while (g1 < n && same_score(pr[g1].s, pr[g0].s)) {
            gp += (size_t)pr[g1].pos;
            g1++;
        }
        gn = (g1 - g0) - gp;
        double v10 = ((double)neg_below + 0.5 * (double)gn) / (double)nn;
        double v01 = ((double)(np - pos_below - gp) + 0.5 * (double)gp) / (double)np;
        if (!second) {
            a->m10 += (double)gp * v10;
            a->m01 += (double)gn * v01;
        } else {
            a->ss10 += (double)gp * (v10 - a->m10) * (v10 - a->m10);
            a->ss01 += (double)gn * (v01 - a->m01) * (v01 - a->m01);
        }
        neg_below += gn;
        pos_below += gp;
        g0 = g1;
    }
    if (!second) {
        a->m10 /= (double)np;
        a->m01 /= (double)nn;
    }
}

double met_roc_auc_ci(const double *y, const double *s, size_t n,
                      double *se, double *lo, double *hi)
{
    double auc = NAN, sd = NAN;
    size_t np = 0, nn;

    for (size_t i = 0; i < n; i++)
        np += (size_t)is_pos(y[i]);
    nn = n - np;
    if (np > 0 && nn > 0) {
        met_pair *pr = pairs_sorted(y, s, n);
        delong_acc a = { 0, 0, 0, 0 };
        delong_pass(pr, n, np, nn, &a, 0);
        delong_pass(pr, n, np, nn, &a, 1);
        /* the mean of V10 is the Mann-Whitney AUC; met_roc_auc's exact
         * pair count is returned so both functions agree to the bit */
        auc = auc_of_curve(curve_from_pairs(pr, n));
        free(pr);
        if (np > 1 && nn > 1)
            sd = sqrt(a.ss10 / (double)(np - 1) / (double)np +
                      a.ss01 / (double)(nn - 1) / (double)nn);
    }
    if (se)
        *se = sd;
    if (lo)
        *lo = isnan(sd) ? NAN : fmax(0.0, auc - 1.959963984540054 * sd);
    if (hi)
        *hi = isnan(sd) ? NAN : fmin(1.0, auc + 1.959963984540054 * sd);
    return auc;
}

size_t met_roc_points(const double *y, const double *s, size_t n,
                      double *fpr, double *tpr, double *thr)
{
    met_curve c = curve_build(y, s, n);
    size_t m = 0;

    if (c.np > 0 && c.nn > 0) {
        fpr[0] = 0.0;
        tpr[0] = 0.0;
        thr[0] = INFINITY;
        for (size_t k = 0; k < c.nst; k++) {
            fpr[k + 1] = (double)c.st[k].fp / (double)c.nn;
            tpr[k + 1] = (double)c.st[k].tp / (double)c.np;
            thr[k + 1] = c.st[k].thr;
        }
        m = c.nst + 1;
    }
    curve_free(&c);
    return m;
}

size_t met_pr_points(const double *y, const double *s, size_t n,
                     double *recall, double *precision, double *thr)
{
    met_curve c = curve_build(y, s, n);
    size_t m = 0;

    if (c.np > 0) {
        for (size_t k = 0; k < c.nst; k++) {
            const met_step *st = &c.st[k];
            recall[k] = (double)st->tp / (double)c.np;
            precision[k] = (double)st->tp / (double)(st->tp + st->fp);
            thr[k] = st->thr;
        }
        m = c.nst;
    }
    curve_free(&c);
    return m;
}

/*
 * A point is kept once the path from the last kept point is at least one
 * share h = length / (max - 1) long, so consecutive kept points are at
 * least h apart along the path: at most max - 2 interior points fit (the
 * count check enforces it when rounding would allow one more).  Plots of
 * ROC and PR curves look the same with 200 such points as with 200,000.
 */
size_t met_thin_curve(double *x, double *y, double *t, size_t n, size_t max)
{
    double len = 0.0, h, at = 0.0, next;
    size_t kept = 1;

    if (n <= max || max < 2)
        return n;
    for (size_t i = 1; i < n; i++)
        len += hypot(x[i] - x[i - 1], y[i] - y[i - 1]);
    h = len / (double)(max - 1);
    next = h;
    for (size_t i = 1; i + 1 < n && kept < max - 1; i++) {
        at += hypot(x[i] - x[i - 1], y[i] - y[i - 1]);
        if (at >= next && h > 0.0) {
            x[kept] = x[i];
            y[kept] = y[i];
            if (t)
                t[kept] = t[i];
            kept++;
            next = at + h;
        }
    }
    x[kept] = x[n - 1];
    y[kept] = y[n - 1];
    if (t)
        t[kept] = t[n - 1];
    return kept + 1;
}

/* Thresholds are visited from the highest down while the step index
 * moves forward: the whole table costs one sort plus O(nthr + steps). */
void met_tradeoff(const double *y, const double *s, size_t n,
                  const double *thr, size_t nthr, double *precision,
                  double *recall, double *flagged)
{
    met_curve c = curve_build(y, s, n);
    size_t k = 0;    /* steps with score >= the current threshold */

    for (size_t j = nthr; j-- > 0;) {
        size_t tp, fp;
        while (k < c.nst && c.st[k].thr >= thr[j])
            k++;
        tp = k ? c.st[k - 1].tp : 0;
        fp = k ? c.st[k - 1].fp : 0;
        if (precision)
            precision[j] = tp + fp ? (double)tp / (double)(tp + fp) : NAN;
        if (recall)
            recall[j] = c.np ? (double)tp / (double)c.np : NAN;
        if (flagged)
            flagged[j] = n ? (double)(tp + fp) / (double)n : NAN;
    }
    curve_free(&c);
}

void met_histogram(const double *y, const double *s, size_t n, size_t nbins,
                   size_t *pos, size_t *neg)
{
    for (size_t k = 0; k < nbins; k++)
        pos[k] = neg[k] = 0;
    if (nbins == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        size_t b = nbins - 1;
        /* s * nbins, floored; s == 1 (and beyond) lands in the last bin */
        if (s[i] < 1.0)
            b = s[i] > 0.0 ? (size_t)(s[i] * (double)nbins) : 0;
        if (b >= nbins)
            b = nbins - 1;
        if (is_pos(y[i]))
            pos[b]++;
        else
            neg[b]++;
    }
}
