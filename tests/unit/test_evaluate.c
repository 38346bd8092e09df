/*
 * test_evaluate.c - the evaluation additions to metrics.c (DeLong CI,
 * curves, thinning, trade-off, histogram) and eval_fill, on cases worked
 * by hand (the arithmetic is in the comments).  The comparison with
 * scikit-learn and a numpy DeLong on larger data is in
 * tests/cli/evaluation_reference.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "metrics.h"
#include "util/mem.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void near_check(double got, double want, double tol, const char *expr,
                       const char *file, int line)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s = %.17g, wanted %.17g\n", expr, got, want);
        _fail(file, line);
    }
}
#define assert_near(got, want) near_check((got), (want), 1e-15, #got, __FILE__, __LINE__)

/*
 * Positives X = {.9, .4}, negatives Y = {.6, .2, .4}.
 *   V10(.9) = 3/3 = 1;  V10(.4) = (0 + 1 + 1/2) / 3 = .5
 *   V01(.6) = (1 + 0) / 2 = .5;  V01(.2) = 1;  V01(.4) = (1 + 1/2) / 2 = .75
 *   AUC = .75;  S10 = var(1, .5) = .125;  S01 = var(.5, 1, .75) = .0625
 *   Var = .125 / 2 + .0625 / 3 = 1/12;  SE = sqrt(1/12)
 *   CI = .75 -/+ 1.96 SE = [.184, 1.316] -> high clipped to 1
 */
static void test_delong_by_hand(void **state)
{
    static const double y[] = { 1, 0, 0, 1, 0 };
    static const double s[] = { .9, .6, .2, .4, .4 };
    double se, lo, hi, auc;

    (void)state;
    auc = met_roc_auc_ci(y, s, N(y), &se, &lo, &hi);
    assert_near(auc, .75);
    assert_near(se, sqrt(1.0 / 12.0));
    assert_near(lo, .75 - 1.959963984540054 * sqrt(1.0 / 12.0));
    assert_near(hi, 1.0);
    assert_true(auc == met_roc_auc(y, s, N(y)));
}

/* One class absent: NAN everywhere; one member in a class: AUC but no SE. */
static void test_delong_degenerate(void **state)
{
    static const double y0[] = { 0, 0, 0 }, s0[] = { .1, .2, .3 };
    static const double y1[] = { 1, 0, 0 }, s1[] = { .9, .2, .3 };
    double se, lo, hi;

    (void)state;
    assert_true(isnan(met_roc_auc_ci(y0, s0, 3, &se, &lo, &hi)));
    assert_true(isnan(se) && isnan(lo) && isnan(hi));
    assert_near(met_roc_auc_ci(y1, s1, 3, &se, &lo, &hi), 1.0);
    assert_true(isnan(se) && isnan(lo) && isnan(hi));
    assert_near(met_roc_auc_ci(y1, s1, 3, NULL, NULL, NULL), 1.0);
}

/* y = 0 1 0 1, s = .2 .6 .6 1: steps (thr, tp, fp) = (1,1,0) (.6,2,1) (.2,2,2). */
static const double ty[] = { 0, 1, 0, 1 };
static const double ts[] = { .2, .6, .6, 1.0 };

static void test_curves(void **state)
{
    double a[5], b[5], t[5];
    size_t m;

    (void)state;
    m = met_roc_points(ty, ts, 4, a, b, t);
    assert_int_equal(m, 4);
    assert_true(a[0] == 0 && b[0] == 0 && isinf(t[0]));
    assert_true(a[1] == 0 && b[1] == .5 && t[1] == 1.0);
    assert_true(a[2] == .5 && b[2] == 1 && t[2] == .6);
    assert_true(a[3] == 1 && b[3] == 1 && t[3] == .2);
    m = met_pr_points(ty, ts, 4, a, b, t);       /* recall, precision */
    assert_int_equal(m, 3);
    assert_true(a[0] == .5 && b[0] == 1 && t[0] == 1.0);
    assert_near(b[1], 2.0 / 3.0);
    assert_true(a[1] == 1 && a[2] == 1 && b[2] == .5 && t[2] == .2);
}

static void test_tradeoff(void **state)
{
    static const double thr[] = { 0, .5, 1, 1.5 };
    double p[4], r[4], f[4];

    (void)state;
    met_tradeoff(ty, ts, 4, thr, 4, p, r, f);
    assert_true(p[0] == .5 && r[0] == 1 && f[0] == 1);        /* all four */
    assert_near(p[1], 2.0 / 3.0);                             /* .6 .6 1 */
    assert_true(r[1] == 1 && f[1] == .75);
    assert_true(p[2] == 1 && r[2] == .5 && f[2] == .25);      /* only 1.0 */
    assert_true(isnan(p[3]) && r[3] == 0 && f[3] == 0);       /* nobody */
}

/* Bins of width .05: 0 and -.1 in bin 0, .05 in bin 1, .999 and 1 in 19. */
static void test_histogram(void **state)
{
    static const double y[] = { 1, 0, 0, 1, 1, 0 };
    static const double s[] = { 0, -.1, .05, .999, 1.0, .5 };
    size_t pos[20], neg[20];

    (void)state;
    met_histogram(y, s, N(y), 20, pos, neg);
    assert_int_equal(pos[0], 1);
    assert_int_equal(neg[0], 1);
    assert_int_equal(neg[1], 1);
    assert_int_equal(pos[19], 2);
    assert_int_equal(neg[10], 1);
}

/* x = 0 .1 .2 .9 1 on a line: length 1, step 1/2 for 3 points: the path
 * reaches .5 first at .9, then the end is kept. */
static void test_thin(void **state)
{
    double x[] = { 0, .1, .2, .9, 1 }, y[] = { 0, 0, 0, 0, 0 }, t[] = { 5, 4, 3, 2, 1 };
    double x2[] = { 0, 1 }, y2[] = { 0, 1 };

    (void)state;
    assert_int_equal(met_thin_curve(x, y, t, 5, 3), 3);
    assert_true(x[0] == 0 && x[1] == .9 && x[2] == 1);
    assert_true(t[0] == 5 && t[1] == 2 && t[2] == 1);
    assert_int_equal(met_thin_curve(x2, y2, NULL, 2, 200), 2);   /* short: kept */
}

/* A long curve: never more than max points, ends kept, each kept point
 * one of the originals (its carried value t = its index). */
static void test_thin_long(void **state)
{
    size_t n = 10000, m, i;
    double *x = xmallocarray(n, sizeof *x), *y = xmallocarray(n, sizeof *y);
    double *t = xmallocarray(n, sizeof *t);

    (void)state;
    for (i = 0; i < n; i++) {
        x[i] = (double)i / (double)(n - 1);
        y[i] = sqrt(x[i]);
        t[i] = (double)i;
    }
    m = met_thin_curve(x, y, t, n, 200);
    assert_true(m <= 200 && m >= 190);
    assert_true(t[0] == 0 && t[m - 1] == (double)(n - 1));
    for (i = 1; i < m; i++) {
        size_t k = (size_t)t[i];
        assert_true(t[i] > t[i - 1]);
        assert_true(x[i] == (double)k / (double)(n - 1) && y[i] == sqrt(x[i]));
    }
    free(x);
    free(y);
    free(t);
}

/* eval_fill on the DeLong case with threshold .4: flagged .9 .6 .4 .4 ->
 * tp 2, fp 2, tn 1, fn 0. */
static void test_eval_fill(void **state)
{
    static const double y[] = { 1, 0, 0, 1, 0 };
    static const double s[] = { .9, .6, .2, .4, .4 };
    model_eval *v = xmalloc(sizeof *v);

    (void)state;
    eval_fill(y, s, 5, .4, "recall=1", v);
    assert_int_equal(v->n, 5);
    assert_int_equal(v->events, 2);
    assert_near(v->gini, .5);
    assert_near(v->roc_auc_se, sqrt(1.0 / 12.0));
    assert_string_equal(v->policy, "recall=1");
    assert_true(v->tp == 2 && v->fp == 2 && v->tn == 1 && v->fn == 0);
    assert_near(v->flagged, .8);
    assert_near(v->precision, .5);
    assert_int_equal(v->n_roc, 5);                 /* (0,0) + 4 distinct scores */
    assert_true(isnan(v->roc[0].thr));
    assert_true(v->roc[4].x == 1 && v->roc[4].y == 1);
    assert_int_equal(v->n_pr, 4);
    assert_true(v->to_flagged[0] == 1 && v->to_flagged[100] == 0 && isnan(v->to_precision[100]));
    assert_int_equal(v->hist_pos[18] + v->hist_pos[8], 2);     /* .9 and .4 */
    assert_int_equal(v->cal_count[0] + v->cal_count[9], 1);    /* 5 rows, 10 bins */
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delong_by_hand),
        cmocka_unit_test(test_delong_degenerate),
        cmocka_unit_test(test_curves),
        cmocka_unit_test(test_tradeoff),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_thin),
        cmocka_unit_test(test_thin_long),
        cmocka_unit_test(test_eval_fill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
