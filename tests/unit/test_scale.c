/*
 * test_scale.c - scale_fit / scale_apply against means and population
 * standard deviations worked out by hand, and against a compensated
 * reference on data where the textbook one-pass formula fails: a column of
 * 1e9 plus noise of size 1 (money far from zero), and columns near
 * DBL_MAX whose sums or squares overflow a double.  The reference uses
 * plain doubles, not long double, because valgrind computes long double
 * in double precision and the tests also run under valgrind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "scale.h"

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

/* Relative closeness: |got - want| <= tol * |want|. */
#define assert_rel(got, want, tol) \
    near_check((got), (want), (tol) * fabs(want), #got, __FILE__, __LINE__)

/* Reproducible noise in [0, 1) (64-bit LCG, top 53 bits). */
static double lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* Neumaier's compensated sum of f(x[i]) = (x[i] * scale - shift)^k. */
static double ksum(const double *x, size_t n, double scale, double shift,
                   int k)
{
    double s = 0, c = 0;

    for (size_t i = 0; i < n; i++) {
        double v = x[i] * scale - shift, t;
        if (k == 2)
            v *= v;
        t = s + v;
        c += fabs(s) >= fabs(v) ? (s - t) + v : (v - t) + s;
        s = t;
    }
    return s + c;
}

/*
 * The reference: two passes of compensated sums, the first giving the
 * mean and the second the sum of squared deviations from it, after an
 * exact scaling by a power of two (2^-600 for values near DBL_MAX) that
 * keeps the squares in range.
 */
static void ref_fit(const double *x, size_t n, double *mean, double *sd)
{
    double big = 0, scale = 1, m;

    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > big)
            big = fabs(x[i]);
    if (big > 1e150)
        scale = ldexp(1, -600);
    m = ksum(x, n, scale, 0, 1) / n;
    m += ksum(x, n, scale, m, 1) / n;
    *mean = m / scale;
    *sd = sqrt(ksum(x, n, scale, m, 2) / n) / scale;
}

/*
 * Column 1: 1 2 3 4 -> mean 2.5, deviations -1.5 -.5 .5 1.5, squares
 * 2.25 .25 .25 2.25 sum 5, var 5/4, sd sqrt(1.25).
 * Column 2: 0 0 0 1 -> mean .25, var = p(1-p) = 3/16, sd sqrt(3)/4.
 * Column 3: 10 -10 10 -10 -> mean 0, sd 10.
 * Leading dimension n: columns are consecutive blocks of 4.
 */
static void test_hand_computed(void **state)
{
    double X[] = { 1, 2, 3, 4, 0, 0, 0, 1, 10, -10, 10, -10 };
    double mean[3], sd[3];
    (void)state;

    scale_fit(X, 4, 3, mean, sd);
    assert_near(mean[0], 2.5, 0);
    assert_near(sd[0], sqrt(1.25), 1e-15);
    assert_near(mean[1], 0.25, 0);
    assert_near(sd[1], sqrt(3.0) / 4, 1e-15);
    assert_near(mean[2], 0, 0);
    assert_near(sd[2], 10, 0);

    scale_apply(X, 4, 3, mean, sd);
    assert_near(X[0], -1.5 / sqrt(1.25), 1e-15);
    assert_near(X[3], 1.5 / sqrt(1.25), 1e-15);
    assert_near(X[4], -0.25 / (sqrt(3.0) / 4), 1e-15);
    assert_near(X[7], 0.75 / (sqrt(3.0) / 4), 1e-15);
    assert_near(X[8], 1, 0);
    assert_near(X[9], -1, 0);
    /* Standardised columns have mean 0 and population sd 1. */
    scale_fit(X, 4, 3, mean, sd);
    for (int j = 0; j < 3; j++) {
        assert_near(mean[j], 0, 1e-15);
        assert_near(sd[j], 1, 1e-15);
    }
}

/* A constant column keeps sd 1 (no division by zero) and becomes 0; so
 * does a single row. */
static void test_constant(void **state)
{
    double X[] = { 7, 7, 7, 7, 7, 1e9, 1e9, 1e9, 1e9, 1e9 };
    double one[] = { -3 };
    double mean[2], sd[2];
    (void)state;

    scale_fit(X, 5, 2, mean, sd);
    assert_near(mean[0], 7, 0);
    assert_near(sd[0], 1, 0);
    assert_near(mean[1], 1e9, 0);
    assert_near(sd[1], 1, 0);
    scale_apply(X, 5, 2, mean, sd);
    for (size_t i = 0; i < N(X); i++)
        assert_near(X[i], 0, 0);

    scale_fit(one, 1, 1, mean, sd);
    assert_near(mean[0], -3, 0);
    assert_near(sd[0], 1, 0);
}

/* No rows: the identity scaler. */
static void test_empty(void **state)
{
    double mean[2] = { 5, 5 }, sd[2] = { 5, 5 };
    (void)state;

    scale_fit(NULL, 0, 2, mean, sd);
    assert_near(mean[0], 0, 0);
    assert_near(sd[1], 1, 0);
}

/*
 * 1e9 + noise, noise uniform in [0, 1): sd ~ 0.2887.  Squares are ~1e18,
 * where a double's spacing is 128, so E[x^2] - E[x]^2 has no correct
 * digit (checked below, to show the test has teeth); the two-pass result
 * must match the compensated reference to ~1e-12 relative, and the mean
 * to a few ulps of 1e9.
 */
static void test_large_offset(void **state)
{
    const size_t n = 1000000;
    double *x = malloc(n * sizeof *x);
    double mean, sd, rmean, rsd, s = 0, s2 = 0, naive;
    uint64_t seed = 42;
    (void)state;

    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = 1e9 + lcg(&seed);
    ref_fit(x, n, &rmean, &rsd);
    scale_fit(x, n, 1, &mean, &sd);
    assert_rel(sd, rsd, 1e-12);
    assert_near(mean, rmean, 4 * 1.1920928955078125e-07);

    for (size_t i = 0; i < n; i++) {
        s += x[i];
        s2 += x[i] * x[i];
    }
    naive = s2 / n - (s / n) * (s / n);
    naive = naive > 0 ? sqrt(naive) : 0;
    assert_true(fabs(naive - rsd) > 1e-3 * rsd);

    /* Centred and scaled: mean 0, sd 1 to high accuracy. */
    scale_apply(x, n, 1, &mean, &sd);
    ref_fit(x, n, &rmean, &rsd);
    assert_near(rmean, 0, 1e-6);
    assert_near(rsd, 1, 1e-9);
    free(x);
}

/*
 * An exact case at a large offset: 1e9 + (-1.5, -.5, .5, 1.5) repeated
 * (all representable), so mean = 1e9 and sd = sqrt(1.25) exactly.
 */
static void test_large_offset_exact(void **state)
{
    const double d[] = { -1.5, -0.5, 0.5, 1.5 };
    double x[4000], mean, sd;
    (void)state;

    for (size_t i = 0; i < N(x); i++)
        x[i] = 1e9 + d[i % 4];
    scale_fit(x, N(x), 1, &mean, &sd);
    assert_near(mean, 1e9, 0);
    assert_near(sd, sqrt(1.25), 1e-15);
}

/*
 * Values near DBL_MAX: the plain sum (first column) or the squares
 * (second column) overflow; the results must still be finite and match
 * the reference (which scales by an exact power of two).
 */
static void test_huge(void **state)
{
    double X[] = { 1.5e308, 1.5e308, 1.7e308, 1.6e308,
                   1e308, -1e308, 1e308, -1e308 };
    double mean[2], sd[2], rmean, rsd;
    (void)state;

    scale_fit(X, 4, 2, mean, sd);
    ref_fit(X, 4, &rmean, &rsd);
    assert_rel(mean[0], rmean, 1e-15);
    assert_rel(sd[0], rsd, 1e-12);
    assert_near(mean[1], 0, 0);
    assert_rel(sd[1], 1e308, 1e-15);
    scale_apply(X, 4, 2, mean, sd);
    for (size_t i = 0; i < N(X); i++)
        assert_true(isfinite(X[i]));
    assert_near(X[4], 1, 1e-15);
}

/* A non-finite input must not spread: the column gets the identity
 * scaler (encode.c never passes one; this is the safety net). */
static void test_nonfinite(void **state)
{
    double X[] = { 1, NAN, 3, 1, INFINITY, 3 };
    double mean[2], sd[2];
    (void)state;

    scale_fit(X, 3, 2, mean, sd);
    for (int j = 0; j < 2; j++) {
        assert_true(isfinite(mean[j]));
        assert_true(isfinite(sd[j]) && sd[j] > 0);
    }
}

/* Pseudo-random columns of several shapes against the compensated
 * reference. */
static void test_random_vs_reference(void **state)
{
    const size_t n = 1001, p = 4;
    double *X = malloc(n * p * sizeof *X), mean[4], sd[4];
    uint64_t seed = 7;
    (void)state;

    assert_non_null(X);
    for (size_t i = 0; i < n; i++) {
        X[i] = lcg(&seed);                              /* uniform */
        X[n + i] = -1e6 * lcg(&seed) + 3e5;             /* money */
        X[2 * n + i] = lcg(&seed) < 0.1;                /* one-hot */
        X[3 * n + i] = exp(10 * lcg(&seed));            /* heavy tail */
    }
    scale_fit(X, n, p, mean, sd);
    for (size_t j = 0; j < p; j++) {
        double rmean, rsd;
        ref_fit(X + j * n, n, &rmean, &rsd);
        assert_near(mean[j], rmean, 1e-14 * rsd + 1e-15 * fabs(rmean));
        assert_rel(sd[j], rsd, 1e-13);
    }
    free(X);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_large_offset),
        cmocka_unit_test(test_large_offset_exact),
        cmocka_unit_test(test_huge),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_random_vs_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
