/*
 * test_logreg.c - unit tests of the Newton solver against cases whose answer
 * is known in closed form or by an invariance (scaling a column, weights as
 * duplicated rows, determinism), and of every documented failure.  The
 * cross-check against scikit-learn and statsmodels on random data is
 * tests/cli/logreg_reference.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "logreg.h"
#include "util/mem.h"

/* |got - want| <= tol * max(1, |want|) */
#define assert_close(got, want, tol) do {                                    \
        double g_ = (got), w_ = (want);                                      \
        if (!(fabs(g_ - w_) <= (tol) * fmax(1.0, fabs(w_))))                 \
            fail_msg("%s = %.17g, wanted %.17g (tol %g)", #got, g_, w_,       \
                     (double)(tol));                                         \
    } while (0)

static lr_params params(double C)
{
    lr_params par = lr_params_default();

    par.C = C;
    return par;
}

/* A deterministic generator, so the tests do not depend on rand(). */
static uint64_t rng_state = 88172645463325252ull;

static double unif(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double gauss(void)
{
    double u = unif(), v = unif();

    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

/* n x p standard normal X and y drawn from a known logistic model. */
static void make_data(size_t n, size_t p, double *X, double *y)
{
    size_t i, j;

    for (j = 0; j < p; j++)
        for (i = 0; i < n; i++)
            X[j * n + i] = gauss();
    for (i = 0; i < n; i++) {
        double eta = -0.5;
        for (j = 0; j < p; j++)
            eta += X[j * n + i] * (j % 2 ? -0.7 : 1.0) / (double)(j + 1);
        y[i] = unif() < lr_sigmoid(eta) ? 1.0 : 0.0;
    }
}

/* Gradient of the objective at the fit, computed naively: must vanish. */
static double naive_gradient_norm(const lr_fit *f, const double *X, size_t n,
                                  const double *y, const double *w, double C)
{
    double g0 = 0, gmax = 0;
    size_t i, j;

    for (i = 0; i < n; i++) {
        double eta = f->intercept;
        for (j = 0; j < f->p; j++)
            eta += X[j * n + i] * f->beta[j];
        g0 += (w ? w[i] : 1) * (lr_sigmoid(eta) - y[i]);
    }
    gmax = fabs(g0);
    for (j = 0; j < f->p; j++) {
        double gj = isinf(C) ? 0 : f->beta[j] / C;
        for (i = 0; i < n; i++) {
            double eta = f->intercept;
            size_t k;
            for (k = 0; k < f->p; k++)
                eta += X[k * n + i] * f->beta[k];
            gj += (w ? w[i] : 1) * (lr_sigmoid(eta) - y[i]) * X[j * n + i];
        }
        gmax = fmax(gmax, fabs(gj));
    }
    return gmax;
}

/*
 * A 2x2 table: group x=0 has 3 of 10 positive, group x=1 has 7 of 10.  The
 * unpenalised MLE reproduces the group rates, so b0 = logit(3/10) and
 * b1 = logit(7/10) - logit(3/10) = 2 log(7/3); the standard errors are
 * Woolf's: se(b0)^2 = 1/3 + 1/7, se(b1)^2 = 2 (1/3 + 1/7).
 */
static void test_two_by_two(void **state)
{
    double X[20], y[20], ll;
    lr_params par = params(INFINITY);
    lr_fit f;
    rp_err e;
    int i;

    (void)state;
    for (i = 0; i < 20; i++) {
        X[i] = i < 10 ? 0 : 1;
        y[i] = (i < 10) ? (i < 3) : (i < 17);
    }
    assert_int_equal(lr_train(X, 20, 1, y, NULL, &par, &f, &e), RP_OK);
    assert_close(f.intercept, log(3.0 / 7.0), 1e-10);
    assert_close(f.beta[0], 2 * log(7.0 / 3.0), 1e-10);
    assert_close(f.se[0], sqrt(1.0 / 3 + 1.0 / 7), 1e-9);
    assert_close(f.se[1], sqrt(2 * (1.0 / 3 + 1.0 / 7)), 1e-9);
    assert_close(f.cov[1], -(1.0 / 3 + 1.0 / 7), 1e-9);   /* cov(b0, b1) */
    assert_close(f.cov[2], f.cov[1], 0);
    ll = 2 * (3 * log(0.3) + 7 * log(0.7));
    assert_close(f.loglik, ll, 1e-12);
    assert_close(f.objective, -ll, 1e-12);
    assert_close(f.loglik_null, 20 * log(0.5), 1e-12);
    assert_true(f.converged);
    assert_true(f.iterations >= 2 && f.iterations < 10);
    assert_true(f.cond >= 1 && isfinite(f.cond));
    lr_fit_free(&f);
}

/* Intercept only (p = 0, X = NULL): b0 = logit of the weighted rate. */
static void test_intercept_only(void **state)
{
    double y[5] = {1, 0, 0, 1, 0}, w[5] = {1, 2, 1, 3, 1};
    lr_params par = params(1.0);
    lr_fit f;
    rp_err e;

    (void)state;
    assert_int_equal(lr_train(NULL, 5, 0, y, w, &par, &f, &e), RP_OK);
    assert_int_equal(f.p, 0);
    assert_close(f.intercept, log(4.0 / 4.0), 1e-12);
    assert_close(f.loglik, f.loglik_null, 1e-12);
    assert_close(f.loglik_null, 8 * log(0.5), 1e-12);
    assert_close(f.se[0], sqrt(1 / (8 * 0.25)), 1e-12);
    lr_fit_free(&f);
}

static void test_separable(void **state)
{
    double X[4] = {-2, -1, 1, 2}, y[4] = {0, 0, 1, 1};
    lr_params pen = params(1.0), none = params(INFINITY);
    lr_fit f;
    rp_err e;

    (void)state;
    /* With a penalty the optimum is finite and the solver finds it. */
    assert_int_equal(lr_train(X, 4, 1, y, NULL, &pen, &f, &e), RP_OK);
    assert_true(f.beta[0] > 0.5 && f.beta[0] < 5);
    assert_true(naive_gradient_norm(&f, X, 4, y, NULL, 1.0) < 1e-9);
    lr_fit_free(&f);
    /* Without one there is no optimum: say so, leave nothing allocated. */
    assert_int_equal(lr_train(X, 4, 1, y, NULL, &none, &f, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "perfectly separable"));
    assert_null(f.beta);
    lr_fit_free(&f);
}

/* Quasi-separation: x = 1 only ever has y = 1, x = 0 has both. */
static void test_quasi_separable(void **state)
{
    double X[8] = {0, 0, 0, 0, 0, 1, 1, 1}, y[8] = {0, 1, 0, 1, 0, 1, 1, 1};
    lr_params none = params(INFINITY), pen = params(10.0);
    lr_fit f;
    rp_err e;

    (void)state;
    assert_int_equal(lr_train(X, 8, 1, y, NULL, &none, &f, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "perfectly separable"));
    assert_non_null(strstr(e.msg, "column 0"));
    assert_int_equal(lr_train(X, 8, 1, y, NULL, &pen, &f, &e), RP_OK);
    assert_true(naive_gradient_norm(&f, X, 8, y, NULL, 10.0) < 1e-9);
    lr_fit_free(&f);
}

/* Column 1 constant: harmless with a penalty (and an all-zero column gets
 * exactly 0, its gradient being b/C), an error without one. */
static void test_constant_column(void **state)
{
    double X[2 * 6] = {1, 2, 3, 4, 5, 2, 3, 3, 3, 3, 3, 3};
    double y[6] = {0, 1, 0, 1, 1, 0};
    lr_params pen = params(1.0), none = params(INFINITY);
    lr_fit f;
    rp_err e;

    (void)state;
    assert_int_equal(lr_train(X, 6, 2, y, NULL, &pen, &f, &e), RP_OK);
    assert_true(naive_gradient_norm(&f, X, 6, y, NULL, 1.0) < 1e-9);
    lr_fit_free(&f);
    assert_int_equal(lr_train(X, 6, 2, y, NULL, &none, &f, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "column 1"));
    assert_non_null(strstr(e.msg, "constant"));

    memset(X + 6, 0, 6 * sizeof(double));
    assert_int_equal(lr_train(X, 6, 2, y, NULL, &pen, &f, &e), RP_OK);
    assert_true(f.beta[1] == 0.0);
    lr_fit_free(&f);
    assert_int_equal(lr_train(X, 6, 2, y, NULL, &none, &f, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "column 1"));
}

/* A duplicated column: the L2 penalty splits the weight equally; without a
 * penalty the coefficients are not identifiable. */
static void test_duplicate_column(void **state)
{
    enum { N = 300 };
    double *X = xmalloc(3 * N * sizeof(double)), y[N];
    lr_params pen = params(1.0), none = params(INFINITY);
    lr_fit f;
    rp_err e;

    (void)state;
    make_data(N, 3, X, y);
    memcpy(X + 2 * N, X + N, N * sizeof(double));
    assert_int_equal(lr_train(X, N, 3, y, NULL, &pen, &f, &e), RP_OK);
    assert_close(f.beta[1], f.beta[2], 1e-9);
    lr_fit_free(&f);
    assert_int_equal(lr_train(X, N, 3, y, NULL, &none, &f, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "column 2"));
    assert_non_null(strstr(e.msg, "linear combination"));
    free(X);
}

static void test_bad_input(void **state)
{
    double X[4] = {1, 2, 3, 4}, y[4] = {0, 1, 0, 1}, w[4] = {1, 1, 1, 1};
    lr_params par = params(1.0);
    lr_fit f;
    rp_err e;

    (void)state;
    assert_int_equal(lr_train(X, 0, 1, y, NULL, &par, &f, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "no rows"));
    y[1] = y[3] = 0;
    assert_int_equal(lr_train(X, 4, 1, y, NULL, &par, &f, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "one class"));
    y[1] = 1;
    y[2] = 0.5;
    assert_int_equal(lr_train(X, 4, 1, y, NULL, &par, &f, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "row 2"));
    y[2] = 0;
    X[3] = NAN;
    assert_int_equal(lr_train(X, 4, 1, y, NULL, &par, &f, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "row 3, column 0"));
    X[3] = INFINITY;
    assert_int_equal(lr_train(X, 4, 1, y, NULL, &par, &f, &e), RP_EDATA);
    X[3] = 4;
    w[0] = -1;
    assert_int_equal(lr_train(X, 4, 1, y, w, &par, &f, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "weight of row 0"));
    /* Only rows with a positive weight count towards the classes. */
    w[0] = 1;
    w[1] = 0;
    assert_int_equal(lr_train(X, 4, 1, y, w, &par, &f, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "one class"));
    assert_null(f.beta);
}

static void test_no_convergence(void **state)
{
    enum { N = 500 };
    double *X = xmalloc(4 * N * sizeof(double)), y[N];
    lr_params par = params(1.0);
    lr_fit f;
    rp_err e;

    (void)state;
    make_data(N, 4, X, y);
    par.max_iter = 1;
    assert_int_equal(lr_train(X, N, 4, y, NULL, &par, &f, &e), RP_EINTERNAL);
    assert_non_null(strstr(e.msg, "did not converge"));
    par.max_iter = 100;
    assert_int_equal(lr_train(X, N, 4, y, NULL, &par, &f, &e), RP_OK);
    lr_fit_free(&f);
    free(X);
}

/*
 * Without a penalty the fit is equivariant under column scaling: scaling a
 * column by s divides its coefficient and standard error by s.  Scales of
 * 1e6, 1e-6 and 1e9 must not break convergence or lose more than a few
 * digits.
 */
static void test_extreme_scale(void **state)
{
    enum { N = 1000, P = 4 };
    double *X = xmalloc(P * N * sizeof(double));
    double *Xs = xmalloc(P * N * sizeof(double)), y[N];
    double s[P] = {1e6, 1e-6, 1e9, 1};
    lr_params par = params(INFINITY);
    lr_fit a, b;
    rp_err e;
    size_t i, j;

    (void)state;
    make_data(N, P, X, y);
    for (j = 0; j < P; j++)
        for (i = 0; i < N; i++)
            Xs[j * N + i] = X[j * N + i] * s[j];
    assert_int_equal(lr_train(X, N, P, y, NULL, &par, &a, &e), RP_OK);
    assert_int_equal(lr_train(Xs, N, P, y, NULL, &par, &b, &e), RP_OK);
    assert_close(b.intercept, a.intercept, 1e-9);
    for (j = 0; j < P; j++) {
        assert_close(b.beta[j] * s[j], a.beta[j], 1e-9);
        assert_close(b.se[j + 1] * s[j], a.se[j + 1], 1e-7);
    }
    lr_fit_free(&a);
    lr_fit_free(&b);
    free(X);
    free(Xs);
}

/*
 * Integer weights are the same as repeating rows, with or without a
 * penalty (the objective is a weighted sum).  The repeated data set has
 * more than one Hessian block of rows.
 */
static void test_weights_as_duplicates(void **state)
{
    enum { N = 3000, P = 3 };
    double *X = xmalloc(P * N * sizeof(double)), y[N], w[N];
    double *Xd = xmalloc(3 * P * N * sizeof(double));
    double *yd = xmalloc(3 * N * sizeof(double));
    lr_params par = params(0.5);
    lr_fit a, b;
    rp_err e;
    size_t i, j, k, m = 0, total = 0;

    (void)state;
    make_data(N, P, X, y);
    for (i = 0; i < N; i++) {
        w[i] = (double)(1 + i % 3);
        total += 1 + i % 3;
    }
    for (i = 0; i < N; i++)
        for (k = 0; k < (size_t)w[i]; k++)
            yd[m++] = y[i];
    for (j = 0, m = 0; j < P; j++)
        for (i = 0; i < N; i++)
            for (k = 0; k < (size_t)w[i]; k++)
                Xd[m++] = X[j * N + i];
    m /= P;
    assert_int_equal(m, total);
    assert_true(m > 4096);    /* more than one block of rows */
    assert_int_equal(lr_train(X, N, P, y, w, &par, &a, &e), RP_OK);
    assert_int_equal(lr_train(Xd, m, P, yd, NULL, &par, &b, &e), RP_OK);
    assert_close(a.intercept, b.intercept, 1e-10);
    for (j = 0; j < P; j++) {
        assert_close(a.beta[j], b.beta[j], 1e-10);
        assert_close(a.se[j + 1], b.se[j + 1], 1e-10);
    }
    assert_close(a.loglik, b.loglik, 1e-10);
    assert_close(a.loglik_null, b.loglik_null, 1e-12);
    assert_true(naive_gradient_norm(&a, X, N, y, w, 0.5) < 1e-7);
    lr_fit_free(&a);
    lr_fit_free(&b);
    free(X); free(Xd); free(yd);
}

/* Two fits of the same data are bit-identical (several Hessian blocks). */
static void test_deterministic(void **state)
{
    enum { N = 10000, P = 6 };
    double *X = xmalloc(P * N * sizeof(double)), *y = xmalloc(N * sizeof(double));
    lr_params par = params(1.0);
    lr_fit a, b;
    rp_err e;

    (void)state;
    make_data(N, P, X, y);
    assert_int_equal(lr_train(X, N, P, y, NULL, &par, &a, &e), RP_OK);
    assert_int_equal(lr_train(X, N, P, y, NULL, &par, &b, &e), RP_OK);
    assert_memory_equal(&a.intercept, &b.intercept, sizeof(double));
    assert_memory_equal(a.beta, b.beta, P * sizeof(double));
    assert_memory_equal(a.se, b.se, (P + 1) * sizeof(double));
    assert_memory_equal(a.cov, b.cov, (P + 1) * (P + 1) * sizeof(double));
    assert_memory_equal(&a.loglik, &b.loglik, sizeof(double));
    assert_true(naive_gradient_norm(&a, X, N, y, NULL, 1.0) < 1e-6);
    lr_fit_free(&a);
    lr_fit_free(&b);
    free(X); free(y);
}

/* The covariance is the inverse of the penalised Hessian: check
 * H * cov = I with H computed naively. */
static void test_covariance(void **state)
{
    enum { N = 400, P = 3, Q = P + 1 };
    double *X = xmalloc(P * N * sizeof(double)), y[N], H[Q * Q] = {0};
    lr_params par = params(2.0);
    lr_fit f;
    rp_err e;
    size_t i, j, k;

    (void)state;
    make_data(N, P, X, y);
    assert_int_equal(lr_train(X, N, P, y, NULL, &par, &f, &e), RP_OK);
    for (i = 0; i < N; i++) {
        double x[Q], eta = f.intercept, d;
        x[0] = 1;
        for (j = 0; j < P; j++) {
            x[j + 1] = X[j * N + i];
            eta += x[j + 1] * f.beta[j];
        }
        d = lr_sigmoid(eta) * (1 - lr_sigmoid(eta));
        for (j = 0; j < Q; j++)
            for (k = 0; k < Q; k++)
                H[j * Q + k] += d * x[j] * x[k];
    }
    for (j = 1; j < Q; j++)
        H[j * Q + j] += 1 / 2.0;
    for (j = 0; j < Q; j++)
        for (k = 0; k < Q; k++) {
            double s = 0;
            size_t l;
            for (l = 0; l < Q; l++)
                s += H[l * Q + j] * f.cov[k * Q + l];
            assert_close(s, j == k ? 1.0 : 0.0, 1e-10);
        }
    for (j = 0; j < Q; j++)
        assert_close(f.se[j] * f.se[j], f.cov[j * Q + j], 1e-14);
    lr_fit_free(&f);
    free(X);
}

static void test_helpers(void **state)
{
    double X[3] = {1, -2, 0.5}, out[3];
    double beta[1] = {2};
    lr_fit f;

    (void)state;
    assert_close(lr_sigmoid(0), 0.5, 0);
    assert_close(lr_sigmoid(800), 1.0, 0);
    assert_true(lr_sigmoid(-800) == 0.0);
    assert_close(lr_sigmoid(-40), exp(-40), 1e-15);
    assert_close(lr_sigmoid(2) + lr_sigmoid(-2), 1.0, 4e-16);
    assert_close(lr_pvalue(0), 1.0, 0);
    assert_close(lr_pvalue(1.959963984540054), 0.05, 1e-12);
    assert_close(lr_pvalue(-1.959963984540054), 0.05, 1e-12);
    assert_true(lr_pvalue(30) > 0 && lr_pvalue(30) < 1e-190);
    memset(&f, 0, sizeof f);
    f.p = 1;
    f.intercept = -1;
    f.beta = beta;
    lr_decision(&f, X, 3, out);
    assert_close(out[0], 1, 0);
    assert_close(out[1], -5, 0);
    assert_close(out[2], 0, 0);
    lr_fit_free(NULL);
}

/*
 * lr_params.ld: a fit on the first n rows of a taller matrix is the fit on
 * those rows alone, bit for bit (the same sums in the same order), and
 * lr_decision_ld reads the rest of the matrix the same way.
 * lr_params.init: starting elsewhere reaches the same optimum (to the
 * solver's tolerance) in fewer steps when the start is close; without a
 * penalty the start is ignored (the separation test needs the
 * intercept-only start), so the fit is the default one exactly.
 */
static void test_leading_dimension_and_start(void **state)
{
    enum { N = 9000, EXTRA = 1000, P = 3, LD = N + EXTRA };
    double *X = xmalloc(P * N * sizeof(double)), *T = xmalloc(P * LD * sizeof(double));
    double *y = xmalloc(LD * sizeof(double)), *d1 = xmalloc(EXTRA * sizeof(double));
    double *d2 = xmalloc(EXTRA * sizeof(double)), *Xe = xmalloc(P * EXTRA * sizeof(double));
    double init[P + 1];
    lr_params par = params(1.0);
    lr_fit a, b, c, u, v;
    rp_err e;
    size_t i, j;

    (void)state;
    make_data(LD, P, T, y);
    for (j = 0; j < P; j++) {
        memcpy(X + j * N, T + j * LD, N * sizeof(double));
        memcpy(Xe + j * EXTRA, T + j * LD + N, EXTRA * sizeof(double));
    }
    assert_int_equal(lr_train(X, N, P, y, NULL, &par, &a, &e), RP_OK);
    par.ld = LD;
    assert_int_equal(lr_train(T, N, P, y, NULL, &par, &b, &e), RP_OK);
    assert_true(a.intercept == b.intercept && a.iterations == b.iterations);
    for (j = 0; j < P; j++)
        assert_true(a.beta[j] == b.beta[j] && a.se[j + 1] == b.se[j + 1]);
    lr_decision_ld(&a, T + N, LD, EXTRA, d1);
    lr_decision(&a, Xe, EXTRA, d2);
    for (i = 0; i < EXTRA; i++)
        assert_true(d1[i] == d2[i]);

    /* from a nearby start (the optimum, moved a little) and a far one */
    init[0] = a.intercept + 1e-3;
    for (j = 0; j < P; j++)
        init[j + 1] = a.beta[j] * (1 + 1e-3);
    par.ld = 0;
    par.init = init;
    assert_int_equal(lr_train(X, N, P, y, NULL, &par, &c, &e), RP_OK);
    assert_true(c.iterations < a.iterations);
    assert_close(c.intercept, a.intercept, 1e-9);
    for (j = 0; j < P; j++)
        assert_close(c.beta[j], a.beta[j], 1e-9);
    lr_fit_free(&c);
    init[0] = 5;
    for (j = 0; j < P; j++)
        init[j + 1] = -3;
    assert_int_equal(lr_train(X, N, P, y, NULL, &par, &c, &e), RP_OK);
    assert_close(c.intercept, a.intercept, 1e-9);
    for (j = 0; j < P; j++)
        assert_close(c.beta[j], a.beta[j], 1e-9);

    /* no penalty: the start is not used */
    par = params(INFINITY);
    assert_int_equal(lr_train(X, N, P, y, NULL, &par, &u, &e), RP_OK);
    par.init = init;
    assert_int_equal(lr_train(X, N, P, y, NULL, &par, &v, &e), RP_OK);
    assert_true(u.intercept == v.intercept && u.iterations == v.iterations);

    /* a start that is not finite is refused; an ld below n too */
    lr_fit_free(&v);
    init[1] = NAN;
    assert_int_equal(lr_train(X, N, P, y, NULL, &par, &v, &e), RP_EINTERNAL);
    par = params(1.0);
    par.ld = N - 1;
    assert_int_equal(lr_train(X, N, P, y, NULL, &par, &v, &e), RP_EDATA);
    lr_fit_free(&a); lr_fit_free(&b); lr_fit_free(&c); lr_fit_free(&u); lr_fit_free(&v);
    free(X); free(T); free(y); free(d1); free(d2); free(Xe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_by_two),
        cmocka_unit_test(test_intercept_only),
        cmocka_unit_test(test_separable),
        cmocka_unit_test(test_quasi_separable),
        cmocka_unit_test(test_constant_column),
        cmocka_unit_test(test_duplicate_column),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_no_convergence),
        cmocka_unit_test(test_extreme_scale),
        cmocka_unit_test(test_weights_as_duplicates),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_covariance),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_leading_dimension_and_start),
    };

    return cmocka_run_group_tests_name("logreg", tests, NULL, NULL);
}
