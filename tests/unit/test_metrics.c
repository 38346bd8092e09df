/*
 * test_metrics.c - metrics.c against values computed by hand on tiny
 * cases (the arithmetic is in the comment above each check), plus a naive
 * O(n^2) reference for the ranking metrics on pseudo-random data with
 * many ties.  The comparison with scikit-learn itself is in
 * tests/cli/metrics_reference.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "metrics.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void near_check(double got, double want, double tol,
                       const char *expr, const char *file, int line)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s = %.17g, wanted %.17g (tolerance %g)\n",
                    expr, got, want, tol);
        _fail(file, line);
    }
}

#define assert_near(got, want, tol) \
    near_check((got), (want), (tol), #got, __FILE__, __LINE__)

/* Tolerance for values that are exact rationals computed in a few flops. */
#define TOL 1e-15

/*
 * y = 0 1 1 0 1, s = .1 .5 .5 .5 .9: P = 3, N = 2, six (pos, neg) pairs.
 *   pos .5 vs neg .1: win 1; vs neg .5: tie 1/2   -> 1.5
 *   pos .5 (second): same                         -> 1.5
 *   pos .9 vs .1 and .5: two wins                 -> 2
 *   AUC = 5 / 6.
 */
static void test_auc_ties(void **state)
{
    const double y[] = { 0, 1, 1, 0, 1 };
    const double s[] = { .1, .5, .5, .5, .9 };
    (void)state;
    assert_near(met_roc_auc(y, s, N(y)), 5.0 / 6.0, TOL);
}

/* Perfect ranking: every positive above every negative -> 1; the mirror
 * image -> 0. */
static void test_auc_one_and_zero(void **state)
{
    const double y[] = { 0, 0, 1, 1 };
    const double s[] = { .1, .2, .8, .9 };
    const double r[] = { .9, .8, .2, .1 };
    (void)state;
    assert_near(met_roc_auc(y, s, N(y)), 1.0, 0.0);
    assert_near(met_roc_auc(y, r, N(y)), 0.0, 0.0);
}

/*
 * All scores tied: one step from (0,0) to (1,1), area 1/2.
 * y = 1 0 0 1, s = .1 .2 .3 .4: pos .1 beats nothing (0 of 2), pos .4 beats
 * both (2 of 2): 2 / 4 = 1/2.
 */
static void test_auc_half(void **state)
{
    const double y[] = { 0, 1, 0, 1 };
    const double t[] = { .3, .3, .3, .3 };
    const double y2[] = { 1, 0, 0, 1 };
    const double s2[] = { .1, .2, .3, .4 };
    (void)state;
    assert_near(met_roc_auc(y, t, N(y)), 0.5, 0.0);
    assert_near(met_roc_auc(y2, s2, N(y2)), 0.5, 0.0);
}

/* One class only (or nothing at all): undefined. */
static void test_auc_one_class_nan(void **state)
{
    const double y1[] = { 1, 1, 1 }, y0[] = { 0, 0, 0 };
    const double s[] = { .2, .5, .7 };
    double at = 0.0;
    (void)state;
    assert_true(isnan(met_roc_auc(y1, s, 3)));
    assert_true(isnan(met_roc_auc(y0, s, 3)));
    assert_true(isnan(met_roc_auc(y0, s, 0)));
    assert_true(isnan(met_ks(y1, s, 3, &at)));
    assert_true(isnan(at));
}

/*
 * Average precision = sum over thresholds (high to low) of dR * P.
 * y = 0 1 1 0, s = .9 .8 .7 .1, P = 2:
 *   >= .9: tp 0 fp 1, R 0       -> 0
 *   >= .8: tp 1 fp 1, R 1/2, P 1/2 -> 1/2 * 1/2 = 1/4
 *   >= .7: tp 2 fp 1, R 1,   P 2/3 -> 1/2 * 2/3 = 1/3
 *   >= .1: dR 0
 *   AP = 1/4 + 1/3 = 7/12.
 * With ties, y = 0 1 1 0 1, s = .1 .5 .5 .5 .9, P = 3:
 *   >= .9: tp 1 fp 0, R 1/3, P 1   -> 1/3
 *   >= .5: tp 3 fp 1, R 1,   P 3/4 -> 2/3 * 3/4 = 1/2  (one step for the tie)
 *   AP = 5/6.
 * No positive: 0, as scikit-learn.
 */
static void test_pr_auc(void **state)
{
    const double y[] = { 0, 1, 1, 0 };
    const double s[] = { .9, .8, .7, .1 };
    const double yt[] = { 0, 1, 1, 0, 1 };
    const double st[] = { .1, .5, .5, .5, .9 };
    const double y0[] = { 0, 0 };
    (void)state;
    assert_near(met_pr_auc(y, s, N(y)), 7.0 / 12.0, TOL);
    assert_near(met_pr_auc(yt, st, N(yt)), 5.0 / 6.0, TOL);
    assert_near(met_pr_auc(y0, s, 2), 0.0, 0.0);
    assert_true(isnan(met_pr_auc(y0, s, 0)));
}

/*
 * y = 1 0, s = .8 .4: (-ln .8 - ln .6) / 2
 *   = (0.22314355131420976 + 0.51082562376599072) / 2 = 0.36698458754010024.
 * Clipping: y = 1, s = 0 -> -ln(1e-15) = 15 ln 10 = 34.538776394910684;
 * y = 0, s = 1 -> -ln(1 - (1 - 1e-15)), the same up to the rounding of
 * 1 - 1e-15 (relative 1e-16 on 1e-15, i.e. ~0.1 in the 15th digit).
 */
static void test_log_loss(void **state)
{
    const double y[] = { 1, 0 };
    const double s[] = { .8, .4 };
    const double one = 1, zero = 0;
    (void)state;
    assert_near(met_log_loss(y, s, 2), 0.36698458754010024, 1e-15);
    assert_near(met_log_loss(&one, &zero, 1), 34.538776394910684, 1e-12);
    assert_near(met_log_loss(&zero, &one, 1), 34.538776394910684, 1e-2);
    assert_true(isfinite(met_log_loss(&zero, &one, 1)));
    assert_true(isnan(met_log_loss(y, s, 0)));
}

/* y = 1 0 1, s = .9 .2 .4: (.1^2 + .2^2 + .6^2) / 3 = (.01 + .04 + .36) / 3
 * = .41 / 3 = 0.13666... */
static void test_brier(void **state)
{
    const double y[] = { 1, 0, 1 };
    const double s[] = { .9, .2, .4 };
    (void)state;
    assert_near(met_brier(y, s, 3), 0.41 / 3.0, 1e-15);
    assert_true(isnan(met_brier(y, s, 0)));
}

/*
 * y = 0 1 0 1 1 0, s = .1 .35 .4 .8 .7 .2; P = N = 3.  From the top:
 *   >= .8 (pos): tpr 1/3 fpr 0   -> 1/3
 *   >= .7 (pos): tpr 2/3 fpr 0   -> 2/3   <- first maximum
 *   >= .4 (neg): tpr 2/3 fpr 1/3 -> 1/3
 *   >= .35 (pos): tpr 1  fpr 1/3 -> 2/3   (tie: the higher threshold wins)
 *   >= .2 (neg): 1, 2/3 -> 1/3;  >= .1: 1, 1 -> 0
 *   KS = 2/3 at score .7.
 */
static void test_ks(void **state)
{
    const double y[] = { 0, 1, 0, 1, 1, 0 };
    const double s[] = { .1, .35, .4, .8, .7, .2 };
    double at = 0.0;
    (void)state;
    assert_near(met_ks(y, s, N(y), &at), 2.0 / 3.0, TOL);
    assert_near(at, .7, 0.0);
    assert_near(met_ks(y, s, N(y), NULL), 2.0 / 3.0, TOL);
}

/*
 * y = 1 1 0 0 1, s = .9 .5 .5 .2 .3, thr .5 (s >= thr is positive):
 *   .9/y1 tp, .5/y1 tp, .5/y0 fp, .2/y0 tn, .3/y1 fn
 *   tp 2 fp 1 tn 1 fn 1; accuracy 3/5, precision 2/3, recall 2/3,
 *   f1 = 4 / (4 + 1 + 1) = 2/3.
 * thr 1 (above every score): tp = fp = 0 -> precision, recall, f1 = 0;
 * accuracy = tn / n = 2/5.
 */
static void test_confusion(void **state)
{
    const double y[] = { 1, 1, 0, 0, 1 };
    const double s[] = { .9, .5, .5, .2, .3 };
    met_confusion m = met_confusion_at(y, s, N(y), .5);
    (void)state;
    assert_int_equal(m.tp, 2);
    assert_int_equal(m.fp, 1);
    assert_int_equal(m.tn, 1);
    assert_int_equal(m.fn, 1);
    assert_near(m.accuracy, 0.6, TOL);
    assert_near(m.precision, 2.0 / 3.0, TOL);
    assert_near(m.recall, 2.0 / 3.0, TOL);
    assert_near(m.f1, 2.0 / 3.0, TOL);

    m = met_confusion_at(y, s, N(y), 1.0);
    assert_int_equal(m.tp + m.fp, 0);
    assert_near(m.accuracy, 0.4, TOL);
    assert_near(m.precision, 0.0, 0.0);
    assert_near(m.recall, 0.0, 0.0);
    assert_near(m.f1, 0.0, 0.0);

    m = met_confusion_at(y, s, 0, .5);
    assert_near(m.accuracy + m.precision + m.recall + m.f1, 0.0, 0.0);
}

/*
 * F1 at a step = 2tp / (tp + fp + P).
 * y = 1 0 1 0 0, s = .9 .8 .6 .3 .1, P = 2:
 *   .9: 2/3, .8: 2/4, .6: 4/5 (best), .3: 4/6, .1: 4/7  -> .6
 * Tie: y = 1 1 0 0 0 0 1 1, s = .9 .8 ... .2, P = 4:
 *   .9: 2/5, .8: 4/6, .7 .. .4: 4/7 4/8 4/9 4/10, .3: 6/11, .2: 8/12
 *   4/6 = 8/12: the higher threshold .8 wins.
 * No positive: .5.
 */
static void test_best_f1(void **state)
{
    const double y[] = { 1, 0, 1, 0, 0 };
    const double s[] = { .9, .8, .6, .3, .1 };
    const double yt[] = { 1, 1, 0, 0, 0, 0, 1, 1 };
    const double st[] = { .9, .8, .7, .6, .5, .4, .3, .2 };
    const double y0[] = { 0, 0, 0 };
    (void)state;
    assert_near(met_best_f1_threshold(y, s, N(y)), .6, 0.0);
    assert_near(met_best_f1_threshold(yt, st, N(yt)), .8, 0.0);
    assert_near(met_best_f1_threshold(y0, s, 3), .5, 0.0);
    assert_near(met_best_f1_threshold(y0, s, 0), .5, 0.0);
}

/*
 * y = 1 0 0 1 1, s = .2 .2 .6 .8 .4, 2 bins.  Ascending by (score, row):
 * (.2,r0,1) (.2,r1,0) (.4,r4,1) (.6,r2,0) (.8,r3,1); edges 0, floor(5/2) = 2,
 * 5.  Bin 0: mean .2, rate 1/2, 2 rows.  Bin 1: mean 1.8/3 = .6, rate 2/3,
 * 3 rows.  Lift (top first), base rate 3/5: (2/3)/(3/5) = 10/9, then
 * (1/2)/(3/5) = 5/6; capture 2/3, then 1.
 */
static void test_calibration_and_lift(void **state)
{
    const double y[] = { 1, 0, 0, 1, 1 };
    const double s[] = { .2, .2, .6, .8, .4 };
    double mp[2], rate[2], lift[2], cap[2];
    size_t cnt[2];
    (void)state;
    assert_int_equal(met_calibration(y, s, 5, 2, mp, rate, cnt), 2);
    assert_near(mp[0], .2, TOL);
    assert_near(rate[0], .5, TOL);
    assert_int_equal(cnt[0], 2);
    assert_near(mp[1], .6, TOL);
    assert_near(rate[1], 2.0 / 3.0, TOL);
    assert_int_equal(cnt[1], 3);

    met_lift_by_decile(y, s, 5, 2, lift, cap);
    assert_near(lift[0], 10.0 / 9.0, TOL);
    assert_near(lift[1], 5.0 / 6.0, TOL);
    assert_near(cap[0], 2.0 / 3.0, TOL);
    assert_near(cap[1], 1.0, TOL);
    met_lift_by_decile(y, s, 5, 2, NULL, cap);    /* NULL outputs allowed */
    met_lift_by_decile(y, s, 5, 2, lift, NULL);
}

/*
 * Tied scores straddling a bin edge go by row index: y = 1 1 0 0, all
 * scores .5, 2 bins -> rows 0,1 in bin 0 (rate 1), rows 2,3 in bin 1
 * (rate 0).  n = 2, 3 bins: edges 0, 0, 1, 2 -> bin 0 empty (NAN, 0 rows).
 */
static void test_calibration_edges(void **state)
{
    const double y[] = { 1, 1, 0, 0 };
    const double s[] = { .5, .5, .5, .5 };
    const double y0[] = { 0, 0 };
    double mp[3], rate[3], lift[3], cap[3];
    size_t cnt[3];
    (void)state;
    assert_int_equal(met_calibration(y, s, 4, 2, mp, rate, cnt), 2);
    assert_near(rate[0], 1.0, 0.0);
    assert_near(rate[1], 0.0, 0.0);

    assert_int_equal(met_calibration(y, s, 2, 3, mp, rate, cnt), 2);
    assert_int_equal(cnt[0], 0);
    assert_true(isnan(mp[0]) && isnan(rate[0]));
    assert_int_equal(cnt[1], 1);
    assert_int_equal(cnt[2], 1);

    met_lift_by_decile(y, s, 2, 3, lift, cap);    /* top first: rows 1, 0, - */
    assert_near(lift[0], 1.0, TOL);
    assert_near(cap[1], 1.0, TOL);
    assert_true(isnan(lift[2]));
    assert_near(cap[2], 1.0, TOL);

    met_lift_by_decile(y0, s, 2, 3, lift, cap);   /* no positive */
    assert_true(isnan(lift[1]) && isnan(cap[1]));
    assert_int_equal(met_calibration(y, s, 4, 0, mp, rate, cnt), 0);
}

/* A small deterministic generator so the test needs no seed handling. */
static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return *x >> 33;
}

/* Naive references: Mann-Whitney over all pairs, and average precision by
 * rescanning every row for each distinct threshold. */
static double naive_auc(const double *y, const double *s, size_t n)
{
    double w = 0, np = 0, nn = 0;
    for (size_t i = 0; i < n; i++) {
        np += y[i] > .5;
        nn += y[i] <= .5;
        for (size_t j = 0; j < n; j++)
            if (y[i] > .5 && y[j] <= .5)
                w += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
    }
    return w / (np * nn);
}

static double naive_ap(const double *y, const double *s, size_t n)
{
    double ap = 0, np = 0;
    for (size_t i = 0; i < n; i++)
        np += y[i] > .5;
    for (size_t i = 0; i < n; i++) {       /* threshold s[i], once each */
        double tp = 0, k = 0, first = 1;
        for (size_t j = 0; j < n; j++) {
            first = first && !(s[j] == s[i] && j < i);
            if (s[j] >= s[i]) {
                k++;
                tp += y[j] > .5;
            }
        }
        /* recall gain of this threshold = positives scoring exactly s[i] */
        double gain = 0;
        for (size_t j = 0; j < n; j++)
            gain += s[j] == s[i] && y[j] > .5;
        if (first)
            ap += gain / np * (tp / k);
    }
    return ap;
}

/* 300 rows, scores rounded to 20 levels (many ties), several seeds; also
 * checks that permuting the rows changes nothing. */
static void test_against_naive(void **state)
{
    enum { n = 300 };
    double y[n], s[n], y2[n], s2[n];
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        uint64_t x = seed;
        for (size_t i = 0; i < n; i++) {
            s[i] = (double)(lcg(&x) % 20) / 19.0;
            y[i] = (double)(lcg(&x) % 100) < 20 + 60 * s[i];
        }
        assert_near(met_roc_auc(y, s, n), naive_auc(y, s, n), 1e-14);
        assert_near(met_pr_auc(y, s, n), naive_ap(y, s, n), 1e-14);
        for (size_t i = 0; i < n; i++) {      /* reverse the rows */
            y2[i] = y[n - 1 - i];
            s2[i] = s[n - 1 - i];
        }
        assert_near(met_roc_auc(y2, s2, n), met_roc_auc(y, s, n), 1e-15);
        assert_near(met_pr_auc(y2, s2, n), met_pr_auc(y, s, n), 1e-15);
        assert_near(met_ks(y2, s2, n, NULL), met_ks(y, s, n, NULL), 1e-15);
        assert_near(met_best_f1_threshold(y2, s2, n),
                    met_best_f1_threshold(y, s, n), 0.0);
    }
}

/* NaN scores must not break the sort (they rank lowest). */
static void test_nan_scores(void **state)
{
    const double y[] = { 1, 0, 1, 0 };
    const double s[] = { .9, NAN, .4, NAN };
    (void)state;
    /* both positives above both NaN negatives */
    assert_near(met_roc_auc(y, s, 4), 1.0, 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auc_ties),
        cmocka_unit_test(test_auc_one_and_zero),
        cmocka_unit_test(test_auc_half),
        cmocka_unit_test(test_auc_one_class_nan),
        cmocka_unit_test(test_pr_auc),
        cmocka_unit_test(test_log_loss),
        cmocka_unit_test(test_brier),
        cmocka_unit_test(test_ks),
        cmocka_unit_test(test_confusion),
        cmocka_unit_test(test_best_f1),
        cmocka_unit_test(test_calibration_and_lift),
        cmocka_unit_test(test_calibration_edges),
        cmocka_unit_test(test_against_naive),
        cmocka_unit_test(test_nan_scores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
