/*
 * test_reasons.c - reason codes and the explain module's numbers on
 * hand-built cases whose answers are worked out in the comments.
 *
 * The model has six design columns with hand-picked coefficients and
 * average contributions; rows of the standardised matrix are chosen so
 * that ranking by "contribution above the population's average" differs
 * from ranking by raw contribution, so that a low-risk row, a row exactly
 * at the threshold, a row with fewer than four adverse factors, a tie and
 * a column with a zero coefficient each test one rule.  pipe_score (what
 * predict writes) and expl_customer_score (what explain --customer prints)
 * must agree on every row, bit for bit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "logreg.h"
#include "pipeline.h"
#include "util/mem.h"

#define P 6

static void set_col(enc_col *c, const char *name, const char *label, int kind,
                    const char *group)
{
    memset(c, 0, sizeof *c);
    c->name = xstrdup(name);
    c->label = label ? xstrdup(label) : NULL;
    c->kind = kind;
    c->source = kind == ENC_MISSING ? NULL : xstrdup(name);
    c->group = group ? xstrdup(group) : NULL;
    c->mean = 0.0;
    c->sd = 1.0;
    c->src = -1;
}

/*
 *   j  column               beta   average contribution
 *   0  gambling spend        1.0    0.0
 *   1  total balance        -0.5    0.1
 *   2  city: Oslo            0.8    0.5
 *   3  no transactions      -0.3   -0.05
 *   4  age                   0.0    0.0   (not a factor: beta 0)
 *   5  txn count             0.2    0.0
 * intercept -1, threshold 0.5.
 */
static void make_model(model *m)
{
    static const double beta[P] = {1.0, -0.5, 0.8, -0.3, 0.0, 0.2};
    static const double avg[P] = {0.0, 0.1, 0.5, -0.05, 0.0, 0.0};

    model_init(m);
    m->p = m->enc.p = P;
    m->enc.cols = xcalloc(P, sizeof *m->enc.cols);
    set_col(&m->enc.cols[0], "cat_gambling_10_sum", "gambling spend", ENC_NUMERIC, NULL);
    set_col(&m->enc.cols[1], "balance_sum", "total balance", ENC_NUMERIC, NULL);
    set_col(&m->enc.cols[2], "city=Oslo", "city: Oslo", ENC_LEVEL, NULL);
    set_col(&m->enc.cols[3], "missing:transactions", "no transactions", ENC_MISSING,
            "transactions");
    set_col(&m->enc.cols[4], "age", NULL, ENC_NUMERIC, NULL);
    set_col(&m->enc.cols[5], "txn_count", "number of transactions", ENC_NUMERIC, NULL);
    m->intercept = -1.0;
    m->beta = xmallocarray(P, sizeof *m->beta);
    memcpy(m->beta, beta, sizeof beta);
    m->beta_orig = xcalloc(P, sizeof *m->beta_orig);
    m->se = xcalloc(P + 1, sizeof *m->se);
    m->diag.contrib_mean = xmallocarray(P, sizeof(double));
    memcpy(m->diag.contrib_mean, avg, sizeof avg);
    m->diag.vif = xcalloc(P, sizeof(double));
    m->threshold = 0.5;
}

/*
 * Rows (standardised x), with contributions beta*x and excess over the
 * average, worked by hand:
 *
 * A  x = (2, -1, 1, 0, 5, 1)
 *    contrib (2, .5, .8, 0, 0, .2), excess (2, .4, .3, .05, 0, .2)
 *    z = -1 + 3.5 = 2.5: high risk.  By excess: 0, 1, 2, then 5 (.2)
 *    before 3 (.05): reasons 0, 1, 2, 5.  (By raw contribution column 2
 *    would come before column 1; the average moves it down.)
 * B  x = (-1, 1, 0, 1, 0, 0)
 *    z = -1 - 1 - .5 - .3 = -2.8: low risk, no reasons.
 * C  x = (3.5, .2, 0, 1, 0, -1)
 *    contrib (3.5, -.1, 0, -.3, 0, -.2), excess (3.5, -.2, -.5, -.25, 0, -.2)
 *    z = -1 + 2.9 = 1.9: high risk, one reason (column 0).
 * D  x = (1, 0, 0, 0, 0, 0)
 *    z = 0, probability exactly 0.5 = threshold: high risk (>=); excess
 *    (1, -.1, -.5, .05, 0, 0): column 3's 0 is above its average -.05,
 *    so reasons 0, 3.
 * E  x = (1.5, -2, 0, 0, 9, 0)
 *    contrib (1.5, 1, 0, 0, 0, 0), excess (1.5, .9, -.5, .05, 0, 0)
 *    z = -1 + 2.5 = 1.5: reasons 0, 1, 3 (column 4 has beta 0: never).
 * F  x = (0.6, -0.8, 0, 0, 0, 0.25)   (a tie)
 *    excess (0.6, .3, -.5, .05, 0, .05): columns 3 and 5 tie exactly (.2 *
 *    .25 and 0 + .05 are the same double) and the earlier column comes
 *    first; z = -1 + .6 + .4 + .05 = .05: high risk; reasons 0, 1, 3, 5.
 */
#define NROWS 6
static const double rows[NROWS][P] = {
    {2, -1, 1, 0, 5, 1},
    {-1, 1, 0, 1, 0, 0},
    {3.5, 0.2, 0, 1, 0, -1},
    {1, 0, 0, 0, 0, 0},
    {1.5, -2, 0, 0, 9, 0},
    {0.6, -0.8, 0, 0, 0, 0.25},
};
static const int want[NROWS][EXPL_REASONS] = {
    {0, 1, 2, 5},
    {-1, -1, -1, -1},
    {0, -1, -1, -1},
    {0, 3, -1, -1},
    {0, 1, 3, -1},
    {0, 1, 3, 5},
};
static const int want_high[NROWS] = {1, 0, 1, 1, 1, 1};

/* The rows as a column-major n x p matrix, as enc_apply produces. */
static double *matrix(void)
{
    double *X = xmallocarray(NROWS * P, sizeof *X);
    int i, j;

    for (i = 0; i < NROWS; i++)
        for (j = 0; j < P; j++)
            X[j * NROWS + i] = rows[i][j];
    return X;
}

static void test_pipe_score_reasons(void **state)
{
    model m;
    double *X = matrix(), prob[NROWS];
    int reasons[NROWS * PIPE_REASONS], i, k;

    (void)state;
    assert_int_equal(PIPE_REASONS, 4);
    make_model(&m);
    pipe_score(&m, X, NROWS, prob, reasons);
    assert_true(fabs(prob[0] - 1.0 / (1.0 + exp(-2.5))) < 1e-15);
    assert_true(fabs(prob[1] - 1.0 / (1.0 + exp(2.8))) < 1e-15);
    assert_true(prob[3] == 0.5);
    for (i = 0; i < NROWS; i++) {
        assert_int_equal(prob[i] >= m.threshold, want_high[i]);
        for (k = 0; k < PIPE_REASONS; k++)
            assert_int_equal(reasons[i * PIPE_REASONS + k], want[i][k]);
    }
    free(X);
    model_free(&m);
}

/* explain --customer scores a row exactly as predict does. */
static void test_customer_matches_predict(void **state)
{
    model m;
    double *X = matrix(), prob[NROWS];
    int reasons[NROWS * PIPE_REASONS], i, k;

    (void)state;
    make_model(&m);
    pipe_score(&m, X, NROWS, prob, reasons);
    for (i = 0; i < NROWS; i++) {
        expl_customer x;
        memset(&x, 0, sizeof x);
        expl_customer_score(&m, X + i, NROWS, &x);
        assert_memory_equal(&x.prob, &prob[i], sizeof(double));
        assert_int_equal(x.high_risk, want_high[i]);
        for (k = 0; k < EXPL_REASONS; k++)
            assert_int_equal(x.reasons[k], want[i][k]);
        /* terms sorted by contribution, largest first, and summing to z */
        for (k = 1; k < P; k++)
            assert_true(x.terms[k - 1].contrib >= x.terms[k].contrib);
        assert_true(fabs(x.logit - log(prob[i] / (1 - prob[i]))) < 1e-12);
        expl_customer_free(&x);
        expl_customer_free(NULL);
    }
    free(X);
    model_free(&m);
}

/* Without recorded averages, the ranking is by raw contribution. */
static void test_no_averages(void **state)
{
    model m;
    int r[EXPL_REASONS];

    (void)state;
    make_model(&m);
    free(m.diag.contrib_mean);
    m.diag.contrib_mean = NULL;
    /* row A: contributions (2, .5, .8, 0, 0, .2) -> 0, 2, 1, 5 */
    assert_int_equal(expl_reasons(&m, rows[0], 1, r), 4);
    assert_int_equal(r[0], 0);
    assert_int_equal(r[1], 2);
    assert_int_equal(r[2], 1);
    assert_int_equal(r[3], 5);
    model_free(&m);
}

static void check_text(const model *m, int j, const char *want_text)
{
    char *s = expl_reason_text(m, j);
    assert_string_equal(s, want_text);
    free(s);
}

static void test_reason_text(void **state)
{
    model m;

    (void)state;
    make_model(&m);
    check_text(&m, 0, "gambling spend: high");
    check_text(&m, 1, "total balance: low");
    check_text(&m, 2, "city: Oslo");
    check_text(&m, 3, "has transactions");
    check_text(&m, 4, "age: low");          /* no label: the name */
    m.beta[2] = -0.8;
    m.beta[3] = 0.3;
    check_text(&m, 2, "city: not Oslo");
    check_text(&m, 3, "no transactions");
    model_free(&m);
}

/*
 * x1 = (1, 2, 3, 4), x2 = (1, 3, 2, 4): deviations (-1.5, -.5, .5, 1.5)
 * and (-1.5, .5, -.5, 1.5), cross product 4, sums of squares 5 and 5, so
 * r = 0.8 and both VIFs are 1 / (1 - .64) = 2.7777...; a constant third
 * column gets NAN.  Average contributions: beta * mean = (2 * 2.5, -1 *
 * 2.5, 3 * 7).  The log-odds are b0 + (22, 22, 25, 25): with b0 = -20
 * (2, 2, 5, 5) no probability is extreme; with b0 = -10 (12, 12, 15, 15)
 * the last two rows exceed logit(1 - 1e-6) = 13.8.
 */
static void test_design_diag(void **state)
{
    static const double X[12] = {1, 2, 3, 4, 1, 3, 2, 4, 7, 7, 7, 7};
    static const double beta[3] = {2, -1, 3};
    model_diag d;
    rp_err e;

    (void)state;
    memset(&d, 0, sizeof d);
    assert_int_equal(expl_design_diag(X, 4, 3, -20, beta, &d, &e), RP_OK);
    assert_true(fabs(d.vif[0] - 1 / 0.36) < 1e-12);
    assert_true(fabs(d.vif[1] - 1 / 0.36) < 1e-12);
    assert_true(isnan(d.vif[2]));
    assert_true(fabs(d.corr_cond - 1.8 / 0.2) < 1e-12);
    assert_true(fabs(d.contrib_mean[0] - 5) < 1e-15);
    assert_true(fabs(d.contrib_mean[1] + 2.5) < 1e-15);
    assert_true(fabs(d.contrib_mean[2] - 21) < 1e-15);
    assert_int_equal(d.n_extreme, 0);
    assert_int_equal(expl_design_diag(X, 4, 3, -10, beta, &d, &e), RP_OK);
    assert_int_equal(d.n_extreme, 2);
    free(d.vif);
    free(d.contrib_mean);
}

/* Two identical columns: exactly collinear, a huge finite VIF. */
static void test_design_diag_collinear(void **state)
{
    static const double X[12] = {1, 2, 3, 5, 1, 2, 3, 5, 0, 1, 0, 1};
    static const double beta[3] = {1, 1, 1};
    model_diag d;
    rp_err e;

    (void)state;
    memset(&d, 0, sizeof d);
    assert_int_equal(expl_design_diag(X, 4, 3, 0, beta, &d, &e), RP_OK);
    assert_true(d.vif[0] >= EXPL_VIF_EXACT && isfinite(d.vif[0]));
    assert_true(d.vif[1] >= EXPL_VIF_EXACT && isfinite(d.vif[1]));
    assert_true(d.vif[2] < 10);
    free(d.vif);
    free(d.contrib_mean);
}

/*
 * Fit statistics from the stored numbers: LL = -40, LL0 = -50, p = 2,
 * n = 100: McFadden 1 - 40/50 = .2; AIC 2*3 + 80 = 86; BIC 3 ln 100 + 80;
 * with C = 2 and se = (., 1, .5) the effective df is 3 - (1 + .25)/2 =
 * 2.375.
 */
static void test_fit_summary(void **state)
{
    model m;
    expl_fit f;
    expl_coef c;

    (void)state;
    model_init(&m);
    m.p = m.enc.p = 2;
    m.enc.cols = xcalloc(2, sizeof *m.enc.cols);
    set_col(&m.enc.cols[0], "a", NULL, ENC_NUMERIC, NULL);
    set_col(&m.enc.cols[1], "b", "bee", ENC_NUMERIC, NULL);
    m.beta = xcalloc(2, sizeof(double));
    m.beta_orig = xcalloc(2, sizeof(double));
    m.se = xcalloc(3, sizeof(double));
    m.beta[0] = 12.0;    /* > EXPL_BETA_WARN: near-separation */
    m.beta[1] = -1.0;
    m.se[0] = 0.1;
    m.se[1] = 1.0;
    m.se[2] = 0.5;
    m.n_labelled = 100;
    m.n_events = 30;
    m.loglik = -40;
    m.loglik_null = -50;
    m.C = 2;
    m.iterations = 6;
    m.grad_norm = 1e-12;
    expl_fit_summary(&m, &f);
    assert_true(fabs(f.mcfadden - 0.2) < 1e-15);
    assert_true(fabs(f.aic - 86) < 1e-12);
    assert_true(fabs(f.bic - (3 * log(100.0) + 80)) < 1e-12);
    assert_true(fabs(f.edf - 2.375) < 1e-15);
    assert_true(fabs(f.aic_edf - (2 * 2.375 + 80)) < 1e-12);
    assert_int_equal(f.warn_separation, 1);
    assert_int_equal(f.max_beta_col, 0);
    assert_int_equal(f.warn_convergence, 0);
    assert_int_equal(f.warn_collinearity, 0);
    assert_int_equal(f.have_vif, 0);
    m.grad_norm = 1e-3;      /* > 1e-6 * 100 */
    expl_fit_summary(&m, &f);
    assert_int_equal(f.warn_convergence, 1);
    /* the coefficient row of b: z = -1 / .5 = -2, p = 0.0455..., CI
     * exp(-1 -/+ 1.96 * .5) */
    expl_coef_row(&m, 1, &c);
    assert_string_equal(c.label, "bee");
    assert_true(fabs(c.z + 2) < 1e-15);
    assert_true(fabs(c.p - 0.04550026389635842) < 1e-12);
    assert_true(fabs(c.odds_lo - exp(-1 - 0.5 * 1.959963984540054)) < 1e-15);
    assert_true(isnan(c.vif));
    expl_coef_row(&m, -1, &c);
    assert_string_equal(c.name, "(intercept)");
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipe_score_reasons),
        cmocka_unit_test(test_customer_matches_predict),
        cmocka_unit_test(test_no_averages),
        cmocka_unit_test(test_reason_text),
        cmocka_unit_test(test_design_diag),
        cmocka_unit_test(test_design_diag_collinear),
        cmocka_unit_test(test_fit_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
