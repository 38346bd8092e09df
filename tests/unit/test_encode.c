/*
 * test_encode.c - encode.c on datasets built by hand (no database, no
 * ds_load): median imputation fitted on the training rows only, missing
 * indicators, one-hot encoding with a reference level, rare and unseen
 * levels, NULL text, standardisation against hand-computed means and
 * standard deviations, enc_bind, and determinism.
 *
 * Values of the design matrix are checked "unscaled" (x * sd + mean, which
 * recovers the 0/1 of an indicator to ~1e-15) where the encoding is the
 * point, and scaled where the scaling is.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "util/mem.h"

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

/* ------------------------------------------------------------------ */
/* Hand-built datasets                                                 */
/* ------------------------------------------------------------------ */

/* A dataset and the feature query describing it, owned by the test. */
typedef struct tds {
    dataset d;
    feat_query q;
} tds;

static void tds_init(tds *t, size_t n, int ncols)
{
    memset(t, 0, sizeof *t);
    t->d.n = t->d.cap = n;
    t->d.ids = xcalloc(n + 1, sizeof *t->d.ids);
    t->d.label = xcalloc(n + 1, sizeof *t->d.label);
    for (size_t i = 0; i < n; i++)
        t->d.ids[i] = (int64_t)i + 1;
    t->d.ncols = ncols;
    t->d.num = xcalloc((size_t)ncols, sizeof *t->d.num);
    t->d.code = xcalloc((size_t)ncols, sizeof *t->d.code);
    t->d.levels = xcalloc((size_t)ncols, sizeof *t->d.levels);
    t->d.nlevels = xcalloc((size_t)ncols, sizeof *t->d.nlevels);
    t->q.ncols = ncols;
    t->q.cols = xcalloc((size_t)ncols, sizeof *t->q.cols);
}

static void qcol_set(feat_col *c, const char *name, const char *label,
                     const char *group, int categorical)
{
    c->name = xstrdup(name);
    c->label = label ? xstrdup(label) : NULL;
    c->group = group ? xstrdup(group) : NULL;
    c->categorical = categorical;
}

/* Numeric column j from v[0..n) (NAN = missing). */
static void tds_num(tds *t, int j, const char *name, const char *group,
                    const double *v)
{
    qcol_set(&t->q.cols[j], name, name, group, 0);
    t->d.num[j] = xmallocarray(t->d.n + 1, sizeof **t->d.num);
    memcpy(t->d.num[j], v, t->d.n * sizeof *v);
}

/* Text column j from v[0..n) (NULL = missing); levels numbered in order
 * of first appearance, as the loader's dictionary does. */
static void tds_text(tds *t, int j, const char *name, const char *group,
                     const char *const *v)
{
    int32_t *code = xmallocarray(t->d.n + 1, sizeof *code);
    char **lev = xmallocarray(t->d.n + 1, sizeof *lev);
    int nlev = 0;

    qcol_set(&t->q.cols[j], name, name, group, 1);
    for (size_t i = 0; i < t->d.n; i++) {
        int k = 0;
        if (!v[i]) {
            code[i] = -1;
            continue;
        }
        while (k < nlev && strcmp(lev[k], v[i]) != 0)
            k++;
        if (k == nlev)
            lev[nlev++] = xstrdup(v[i]);
        code[i] = k;
    }
    t->d.code[j] = code;
    t->d.levels[j] = lev;
    t->d.nlevels[j] = nlev;
}

static void query_free(feat_query *q)
{
    for (int j = 0; j < q->ncols; j++) {
        free(q->cols[j].name);
        free(q->cols[j].label);
        free(q->cols[j].group);
    }
    free(q->cols);
    memset(q, 0, sizeof *q);
}

static void tds_free(tds *t)
{
    for (int j = 0; j < t->d.ncols; j++) {
        free(t->d.num[j]);
        free(t->d.code[j]);
        for (int k = 0; k < t->d.nlevels[j]; k++)
            free(t->d.levels[j][k]);
        free(t->d.levels[j]);
    }
    free(t->d.num);
    free(t->d.code);
    free(t->d.levels);
    free(t->d.nlevels);
    free(t->d.ids);
    free(t->d.label);
    query_free(&t->q);
}

/* Design column named `name`, or -1. */
static int col_of(const enc_spec *s, const char *name)
{
    for (int j = 0; j < s->p; j++)
        if (strcmp(s->cols[j].name, name) == 0)
            return j;
    return -1;
}

/* Row i of design column j before standardisation. */
static double raw(const enc_spec *s, const double *X, size_t n, size_t i,
                  int j)
{
    return X[(size_t)j * n + i] * s->cols[j].sd + s->cols[j].mean;
}

#define TOL 1e-12

/* Asserts the unscaled value of row i, column `name`. */
#define assert_raw(s, X, n, i, name, want) do { \
        int jj_ = col_of((s), (name)); \
        assert_true(jj_ >= 0); \
        assert_near(raw((s), (X), (n), (i), jj_), (want), TOL); \
    } while (0)

/* ------------------------------------------------------------------ */
/* Imputation                                                          */
/* ------------------------------------------------------------------ */

/*
 * a = 5 NAN 1 3 100 7 -50 2.
 * Train rows {0,1,2,3,5}: finite 5 1 3 7 -> even count, sorted 1 3 5 7,
 * median (3 + 5) / 2 = 4.  Rows 4, 6, 7 are not training rows: with them
 * the median would be 3 (of 1 2 3 5 7 100 -50 sorted -50 1 2 3 5 7 100).
 * Train rows {0,2,3,4,6}: 5 1 3 100 -50 -> odd, sorted -50 1 3 5 100,
 * median 3.
 */
static void test_median_train_only(void **state)
{
    const double a[] = { 5, NAN, 1, 3, 100, 7, -50, 2 };
    const size_t even[] = { 0, 1, 2, 3, 5 }, odd[] = { 0, 2, 3, 4, 6 };
    tds t;
    enc_spec s;
    rp_err e;
    double *X;
    (void)state;

    tds_init(&t, N(a), 1);
    tds_num(&t, 0, "a", NULL, a);

    assert_int_equal(enc_fit(&t.d, &t.q, even, N(even), 1, &s, &e), RP_OK);
    assert_int_equal(s.p, 1);
    assert_string_equal(s.cols[0].name, "a");
    assert_string_equal(s.cols[0].source, "a");
    assert_int_equal(s.cols[0].kind, ENC_NUMERIC);
    assert_near(s.cols[0].impute, 4, 0);
    /* the missing row 1 gets the median; the others keep their value */
    X = enc_apply(&s, &t.d, NULL, t.d.n, NULL);
    assert_raw(&s, X, t.d.n, 1, "a", 4);
    assert_raw(&s, X, t.d.n, 4, "a", 100);
    free(X);
    enc_spec_free(&s);

    assert_int_equal(enc_fit(&t.d, &t.q, odd, N(odd), 1, &s, &e), RP_OK);
    assert_near(s.cols[0].impute, 3, 0);
    enc_spec_free(&s);
    tds_free(&t);
}

/* Every training value missing: impute 0.  Infinity counts as missing. */
static void test_median_all_missing(void **state)
{
    const double a[] = { NAN, INFINITY, -INFINITY, 9 };
    const size_t rows[] = { 0, 1, 2 };
    tds t;
    enc_spec s;
    rp_err e;
    double *X;
    (void)state;

    tds_init(&t, N(a), 1);
    tds_num(&t, 0, "a", NULL, a);
    assert_int_equal(enc_fit(&t.d, &t.q, rows, N(rows), 1, &s, &e), RP_OK);
    assert_near(s.cols[0].impute, 0, 0);
    assert_near(s.cols[0].sd, 1, 0);
    X = enc_apply(&s, &t.d, NULL, t.d.n, NULL);
    for (size_t i = 0; i < t.d.n; i++)
        assert_true(isfinite(X[i]));
    assert_raw(&s, X, t.d.n, 1, "a", 0);
    assert_raw(&s, X, t.d.n, 3, "a", 9);
    free(X);
    enc_spec_free(&s);
    tds_free(&t);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The reference: sort, take the middle (mean of the two middles). */
static double ref_median(const double *v, size_t n)
{
    double *w = xmallocarray(n + 1, sizeof *w), m;

    memcpy(w, v, n * sizeof *v);
    qsort(w, n, sizeof *w, dbl_cmp);
    m = n % 2 ? w[n / 2] : (w[n / 2 - 1] + w[n / 2]) / 2;
    free(w);
    return m;
}

static double median_by_fit(const double *v, size_t n)
{
    tds t;
    enc_spec s;
    rp_err e;
    double m;

    tds_init(&t, n, 1);
    tds_num(&t, 0, "v", NULL, v);
    assert_int_equal(enc_fit(&t.d, &t.q, NULL, n, 1, &s, &e), RP_OK);
    m = s.cols[0].impute;
    enc_spec_free(&s);
    tds_free(&t);
    return m;
}

static uint64_t rng = 1;

static double lcg(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* The selection algorithm against a full sort, on shapes that break naive
 * quickselects: many ties, sorted, reversed, all equal, organ pipe. */
static void test_median_vs_sort(void **state)
{
    const size_t big = 100001;
    double *v = xmallocarray(big + 1, sizeof *v);
    (void)state;

    for (size_t n = 1; n <= 200; n++) {
        for (size_t i = 0; i < n; i++)
            v[i] = n % 3 ? floor(lcg() * 7) : lcg() * 100 - 50;
        assert_near(median_by_fit(v, n), ref_median(v, n), 0);
    }
    for (int shape = 0; shape < 5; shape++) {
        for (size_t n = big - 1; n <= big; n++) {
            for (size_t i = 0; i < n; i++) {
                switch (shape) {
                case 0: v[i] = (double)i; break;
                case 1: v[i] = (double)(n - i); break;
                case 2: v[i] = 3; break;
                case 3: v[i] = (double)(i < n / 2 ? i : n - i); break;
                default: v[i] = floor(lcg() * 3); break;
                }
            }
            assert_near(median_by_fit(v, n), ref_median(v, n), 0);
        }
    }
    free(v);
}

/* ------------------------------------------------------------------ */
/* Missing indicators                                                  */
/* ------------------------------------------------------------------ */

/*
 *  row  age  acc_n  txn_count  txn_sum
 *   0    30    1        5         50
 *   1    40    2       NAN       NAN
 *   2    50    1        3         30
 *   3    60   NAN       4        NAN     (misses only txn_sum)
 *   4    70    1       NAN       NAN
 *   5    80    2        6         60
 *   6    90    3        7         70     (not a training row)
 *   7   NAN    1        8         80     (not a training row)
 * Training rows 0..5: age is never missing there (no indicator, though
 * row 7 misses it), accounts are missing in row 3, transactions in rows
 * 1, 3, 4.  Medians: age 30..80 -> 55, acc_n 1 1 1 2 2 -> 1,
 * txn_count 3 4 5 6 -> 4.5, txn_sum 30 50 60 -> 50.
 */
static const double m_age[] = { 30, 40, 50, 60, 70, 80, 90, NAN };
static const double m_acc[] = { 1, 2, 1, NAN, 1, 2, 3, 1 };
static const double m_cnt[] = { 5, NAN, 3, 4, NAN, 6, 7, 8 };
static const double m_sum[] = { 50, NAN, 30, NAN, NAN, 60, 70, 80 };

static void missing_data(tds *t)
{
    tds_init(t, 8, 4);
    tds_num(t, 0, "age", "age", m_age);
    tds_num(t, 1, "acc_n", "accounts", m_acc);
    tds_num(t, 2, "txn_count", "transactions", m_cnt);
    tds_num(t, 3, "txn_sum", "transactions", m_sum);
}

static void test_missing_indicator(void **state)
{
    const size_t train[] = { 0, 1, 2, 3, 4, 5 };
    tds t;
    enc_spec s;
    rp_err e;
    double *X;
    size_t n = 8;
    (void)state;

    missing_data(&t);
    assert_int_equal(enc_fit(&t.d, &t.q, train, N(train), 1, &s, &e), RP_OK);
    assert_int_equal(s.p, 6);
    assert_string_equal(s.cols[4].name, "missing:accounts");
    assert_string_equal(s.cols[4].label, "no accounts");
    assert_string_equal(s.cols[4].group, "accounts");
    assert_null(s.cols[4].source);
    assert_int_equal(s.cols[4].kind, ENC_MISSING);
    assert_string_equal(s.cols[5].name, "missing:transactions");
    assert_string_equal(s.cols[5].label, "no transactions");
    assert_int_equal(col_of(&s, "missing:age"), -1);
    assert_near(s.cols[0].impute, 55, 0);
    assert_near(s.cols[1].impute, 1, 0);
    assert_near(s.cols[2].impute, 4.5, 0);
    assert_near(s.cols[3].impute, 50, 0);

    X = enc_apply(&s, &t.d, NULL, n, NULL);
    for (size_t i = 0; i < n; i++) {
        int txn = i == 1 || i == 3 || i == 4;
        assert_raw(&s, X, n, i, "missing:transactions", txn);
        assert_raw(&s, X, n, i, "missing:accounts", i == 3);
    }
    assert_raw(&s, X, n, 7, "age", 55);          /* imputed, no indicator */
    assert_raw(&s, X, n, 3, "txn_count", 4);     /* present: kept */
    assert_raw(&s, X, n, 3, "txn_sum", 50);      /* imputed */
    /* Indicator of transactions: 3 of 6 training rows, mean .5, sd .5, so
     * a missing row scales to (1 - .5) / .5 = 1. */
    assert_near(s.cols[5].mean, 0.5, 0);
    assert_near(s.cols[5].sd, 0.5, 1e-15);
    assert_near(X[5 * n + 1], 1, 1e-15);
    assert_near(X[5 * n + 0], -1, 1e-15);
    free(X);
    enc_spec_free(&s);
    tds_free(&t);
}

/* No training row misses anything: no indicator at all, and a missing
 * value at apply time is only imputed.  With row 7 in training, age gets
 * the default label "age missing". */
static void test_missing_only_when_in_training(void **state)
{
    const size_t complete[] = { 0, 2, 5, 6 }, with7[] = { 0, 2, 7 };
    tds t;
    enc_spec s;
    rp_err e;
    double *X;
    (void)state;

    missing_data(&t);
    assert_int_equal(enc_fit(&t.d, &t.q, complete, N(complete), 1, &s, &e),
                     RP_OK);
    assert_int_equal(s.p, 4);
    for (int j = 0; j < s.p; j++)
        assert_int_equal(s.cols[j].kind, ENC_NUMERIC);
    X = enc_apply(&s, &t.d, NULL, 8, NULL);
    assert_raw(&s, X, 8, 1, "txn_sum", s.cols[3].impute);
    free(X);
    enc_spec_free(&s);

    assert_int_equal(enc_fit(&t.d, &t.q, with7, N(with7), 1, &s, &e), RP_OK);
    assert_int_equal(s.p, 5);
    assert_string_equal(s.cols[4].name, "missing:age");
    assert_string_equal(s.cols[4].label, "age missing");
    enc_spec_free(&s);
    tds_free(&t);
}

/* ------------------------------------------------------------------ */
/* One-hot                                                             */
/* ------------------------------------------------------------------ */

/*
 * city in training: Oslo x4, Bergen x3, Tromso x3, Bodo x1, NULL x1;
 * min_count 2.  Oslo is the reference; Bergen and Tromso tie at 3 and go
 * by name; Bodo is rare and NULL is NULL: both fold into other.
 */
static const char *const c_train[] = {
    "Tromso", "Oslo", "Bergen", NULL, "Oslo", "Tromso",
    "Bodo", "Bergen", "Oslo", "Tromso", "Bergen", "Oslo",
};

static void test_onehot_reference_rare_unseen(void **state)
{
    const char *const score[] = { "Tromso", "Stavanger", NULL, "Bodo",
                                  "Oslo", "Bergen" };
    tds t, u;
    enc_spec s;
    rp_err e;
    double *X;
    size_t n = N(c_train), unseen = 99;
    (void)state;

    tds_init(&t, n, 1);
    tds_text(&t, 0, "city", NULL, c_train);
    free(t.q.cols[0].label);
    t.q.cols[0].label = xstrdup("home city");
    assert_int_equal(enc_fit(&t.d, &t.q, NULL, n, 2, &s, &e), RP_OK);
    assert_int_equal(s.min_count, 2);
    assert_int_equal(s.n_ref, 1);
    assert_string_equal(s.ref_sources[0], "city");
    assert_string_equal(s.ref_levels[0], "Oslo");
    assert_int_equal(s.p, 3);
    assert_string_equal(s.cols[0].name, "city=Bergen");
    assert_string_equal(s.cols[0].label, "home city: Bergen");
    assert_string_equal(s.cols[0].level, "Bergen");
    assert_string_equal(s.cols[0].source, "city");
    assert_int_equal(s.cols[0].kind, ENC_LEVEL);
    assert_string_equal(s.cols[1].name, "city=Tromso");
    assert_string_equal(s.cols[2].name, "city=other");
    assert_string_equal(s.cols[2].label, "home city: other/unseen");
    assert_int_equal(s.cols[2].kind, ENC_OTHER);
    assert_null(s.cols[2].level);

    /* Training rows: exactly one 1 per row except the reference rows.
     * The rare Bodo is not among the model's levels: it counts as unseen
     * (the spec keeps no trace of rare levels); NULL does not. */
    X = enc_apply(&s, &t.d, NULL, n, &unseen);
    assert_int_equal(unseen, 1);
    for (size_t i = 0; i < n; i++) {
        const char *v = c_train[i];
        int bergen = v && !strcmp(v, "Bergen"), tromso = v && !strcmp(v, "Tromso");
        int other = !v || !strcmp(v, "Bodo");
        assert_raw(&s, X, n, i, "city=Bergen", bergen);
        assert_raw(&s, X, n, i, "city=Tromso", tromso);
        assert_raw(&s, X, n, i, "city=other", other);
    }
    /* Bergen: 3 of 12, mean .25, population sd sqrt(.25 * .75); row 2 is
     * Bergen: (1 - .25) / sqrt(.1875). */
    assert_near(s.cols[0].mean, 0.25, 0);
    assert_near(s.cols[0].sd, sqrt(0.1875), 1e-15);
    assert_near(X[2], 0.75 / sqrt(0.1875), 1e-15);
    assert_near(X[1], -0.25 / sqrt(0.1875), 1e-15);
    free(X);

    /* Scoring data whose level codes differ from training: the lookup is
     * by name.  Stavanger (never seen) and Bodo (rare at training) are
     * unseen -> other; NULL -> other but not counted; Oslo -> zeros. */
    tds_init(&u, N(score), 1);
    tds_text(&u, 0, "city", NULL, score);
    X = enc_apply(&s, &u.d, NULL, u.d.n, &unseen);
    assert_int_equal(unseen, 2);
    assert_raw(&s, X, 6, 0, "city=Tromso", 1);
    assert_raw(&s, X, 6, 0, "city=other", 0);
    for (size_t i = 1; i <= 3; i++) {
        assert_raw(&s, X, 6, i, "city=other", 1);
        assert_raw(&s, X, 6, i, "city=Bergen", 0);
        assert_raw(&s, X, 6, i, "city=Tromso", 0);
    }
    for (int j = 0; j < 3; j++)
        assert_raw(&s, X, 6, 4, s.cols[j].name, 0);
    assert_raw(&s, X, 6, 5, "city=Bergen", 1);
    free(X);

    /* A subset of rows in a given order. */
    {
        const size_t rows[] = { 5, 1 };
        X = enc_apply(&s, &u.d, rows, 2, &unseen);
        assert_int_equal(unseen, 1);
        assert_raw(&s, X, 2, 0, "city=Bergen", 1);
        assert_raw(&s, X, 2, 1, "city=other", 1);
        free(X);
    }
    tds_free(&u);
    enc_spec_free(&s);
    tds_free(&t);
}

/* Every level kept and no NULL at training: no other column, so an unseen
 * value (counted) and a NULL (not counted) encode as the reference.  The
 * tie at the top goes to the lexicographically smaller level. */
static void test_onehot_no_other(void **state)
{
    const char *const train[] = { "premium", "basic", "premium", "basic",
                                  "basic", "premium" };
    const char *const score[] = { "gold", NULL, "premium", "basic" };
    tds t, u;
    enc_spec s;
    rp_err e;
    double *X;
    size_t unseen;
    (void)state;

    tds_init(&t, N(train), 1);
    tds_text(&t, 0, "account_type", NULL, train);
    assert_int_equal(enc_fit(&t.d, &t.q, NULL, t.d.n, 2, &s, &e), RP_OK);
    assert_string_equal(s.ref_levels[0], "basic");
    assert_int_equal(s.p, 1);
    assert_string_equal(s.cols[0].name, "account_type=premium");
    assert_int_equal(col_of(&s, "account_type=other"), -1);

    tds_init(&u, N(score), 1);
    tds_text(&u, 0, "account_type", NULL, score);
    X = enc_apply(&s, &u.d, NULL, u.d.n, &unseen);
    assert_int_equal(unseen, 1);
    assert_raw(&s, X, 4, 0, "account_type=premium", 0);
    assert_raw(&s, X, 4, 1, "account_type=premium", 0);
    assert_raw(&s, X, 4, 2, "account_type=premium", 1);
    assert_raw(&s, X, 4, 3, "account_type=premium", 0);
    free(X);
    tds_free(&u);
    enc_spec_free(&s);
    tds_free(&t);
}

/*
 * NULL text: a column that is NULL in every training row has no reference
 * and only an other column (constant in training: sd 1, scaled to 0); a
 * column with a single value and no NULL has a reference and no column.
 * A level literally called "other" keeps the name "x=other" for itself
 * and the other column becomes "x=(other)".
 */
static void test_null_text(void **state)
{
    const char *const allnull[] = { NULL, NULL, NULL, NULL, NULL, NULL };
    const char *const single[] = { "NO", "NO", "NO", "NO", "NO", "NO" };
    const char *const named[] = { "other", "A", "other", "B", "other", "A" };
    const char *const score[] = { "North", NULL, "SE", "B", "A", "other" };
    tds t, u;
    enc_spec s;
    rp_err e;
    double *X;
    size_t unseen;
    (void)state;

    tds_init(&t, 6, 3);
    tds_text(&t, 0, "region", NULL, allnull);
    tds_text(&t, 1, "country", NULL, single);
    tds_text(&t, 2, "x", NULL, named);
    assert_int_equal(enc_fit(&t.d, &t.q, NULL, 6, 2, &s, &e), RP_OK);
    assert_int_equal(s.n_ref, 2);
    assert_string_equal(s.ref_sources[0], "country");
    assert_string_equal(s.ref_levels[0], "NO");
    assert_string_equal(s.ref_sources[1], "x");
    assert_string_equal(s.ref_levels[1], "other");
    assert_int_equal(s.p, 3);
    assert_string_equal(s.cols[0].name, "region=other");
    assert_near(s.cols[0].mean, 1, 0);
    assert_near(s.cols[0].sd, 1, 0);
    assert_string_equal(s.cols[1].name, "x=A");
    assert_string_equal(s.cols[2].name, "x=(other)");
    assert_int_equal(s.cols[2].kind, ENC_OTHER);

    tds_init(&u, 6, 3);
    tds_text(&u, 0, "region", NULL, score);
    tds_text(&u, 1, "country", NULL, score);
    tds_text(&u, 2, "x", NULL, score);
    X = enc_apply(&s, &u.d, NULL, 6, &unseen);
    /* region: North SE B A other unseen (5); country has no design column
     * and is not counted; x: North SE unseen, B rare (3) */
    assert_int_equal(unseen, 8);
    for (size_t i = 0; i < 6 * 3; i++)
        assert_true(isfinite(X[i]));
    assert_raw(&s, X, 6, 0, "x=(other)", 1);
    assert_raw(&s, X, 6, 1, "x=(other)", 1);
    assert_raw(&s, X, 6, 3, "x=(other)", 1);
    assert_raw(&s, X, 6, 4, "x=A", 1);
    assert_raw(&s, X, 6, 5, "x=A", 0);
    assert_raw(&s, X, 6, 5, "x=(other)", 0);
    free(X);
    tds_free(&u);
    enc_spec_free(&s);
    tds_free(&t);
}

/* ------------------------------------------------------------------ */
/* Standardisation                                                     */
/* ------------------------------------------------------------------ */

/*
 * x = 1 2 3 4 (plus a missing row that is not in training): mean 2.5,
 * population sd sqrt(1.25).  c = 7 everywhere: sd 1, every value 0.
 * The missing row gets the median 2.5, which scales to 0.
 */
static void test_standardise(void **state)
{
    const double x[] = { 1, 2, 3, 4, NAN }, c[] = { 7, 7, 7, 7, 7 };
    const size_t train[] = { 0, 1, 2, 3 };
    tds t;
    enc_spec s;
    rp_err e;
    double *X, sd = sqrt(1.25);
    (void)state;

    tds_init(&t, 5, 2);
    tds_num(&t, 0, "x", NULL, x);
    tds_num(&t, 1, "c", NULL, c);
    assert_int_equal(enc_fit(&t.d, &t.q, train, 4, 1, &s, &e), RP_OK);
    assert_near(s.cols[0].mean, 2.5, 0);
    assert_near(s.cols[0].sd, sd, 1e-15);
    assert_near(s.cols[1].mean, 7, 0);
    assert_near(s.cols[1].sd, 1, 0);
    X = enc_apply(&s, &t.d, NULL, 5, NULL);
    assert_near(X[0], -1.5 / sd, 1e-15);
    assert_near(X[1], -0.5 / sd, 1e-15);
    assert_near(X[2], 0.5 / sd, 1e-15);
    assert_near(X[3], 1.5 / sd, 1e-15);
    assert_near(X[4], 0, 0);
    for (size_t i = 5; i < 10; i++)
        assert_near(X[i], 0, 0);
    free(X);
    enc_spec_free(&s);
    tds_free(&t);
}

/* ------------------------------------------------------------------ */
/* enc_bind                                                            */
/* ------------------------------------------------------------------ */

static const double b_age[] = { 30, NAN, 50, 60, 45, 33 };
static const double b_txn[] = { 1, 2, NAN, 4, 5, 6 };
static const char *const b_city[] = { "Oslo", "Oslo", "Bergen", NULL,
                                      "Bergen", "Oslo" };

/* Columns in the order age, city, txn, or city, txn, age (reordered). */
static void bind_data(tds *t, int reordered)
{
    int a = reordered ? 2 : 0, c = reordered ? 0 : 1, x = reordered ? 1 : 2;

    tds_init(t, 6, 3);
    tds_num(t, a, "age", "age", b_age);
    tds_text(t, c, "city", NULL, b_city);
    tds_num(t, x, "txn_sum", "transactions", b_txn);
}

/* A query with just names, types and groups (no data needed). */
static void bind_query(feat_query *q, int n, const char *const *names,
                       const int *text, const char *const *groups)
{
    q->sql = NULL;
    q->ncols = n;
    q->cols = xcalloc((size_t)n, sizeof *q->cols);
    for (int j = 0; j < n; j++)
        qcol_set(&q->cols[j], names[j], NULL, groups[j], text[j]);
}

/* Binds a copy that shares everything but cols (as predict.c does) to q,
 * returning the code; *msg gets the message. */
static int bind_copy(const enc_spec *s, const feat_query *q, char *msg)
{
    enc_spec c = *s;
    rp_err e;
    int rc;

    rp_err_clear(&e);
    c.cols = xmallocarray((size_t)c.p + 1, sizeof *c.cols);
    memcpy(c.cols, s->cols, (size_t)c.p * sizeof *c.cols);
    rc = enc_bind(&c, q, &e);
    strcpy(msg, e.msg);
    free(c.cols);
    return rc;
}

static void test_bind_success(void **state)
{
    tds t, r;
    enc_spec s, c;
    rp_err e;
    double *X, *Y;
    size_t n = 6, ux, uy;
    (void)state;

    bind_data(&t, 0);
    bind_data(&r, 1);
    assert_int_equal(enc_fit(&t.d, &t.q, NULL, n, 1, &s, &e), RP_OK);
    /* age, city=Bergen, city=other, txn_sum, missing:age,
     * missing:transactions */
    assert_int_equal(s.p, 6);
    X = enc_apply(&s, &t.d, NULL, n, &ux);

    c = s;
    c.cols = xmallocarray((size_t)s.p, sizeof *c.cols);
    memcpy(c.cols, s.cols, (size_t)s.p * sizeof *c.cols);
    assert_int_equal(enc_bind(&c, &r.q, &e), RP_OK);
    assert_int_equal(c.cols[0].src, 2);          /* age moved to the end */
    assert_int_equal(c.cols[1].src, 0);
    assert_int_equal(c.cols[3].src, 1);
    assert_int_equal(c.cols[4].src, -1);
    assert_int_equal(c.cols[0].miss, 4);
    assert_int_equal(c.cols[3].miss, 5);
    Y = enc_apply(&c, &r.d, NULL, n, &uy);
    assert_memory_equal(X, Y, n * 6 * sizeof *X);
    assert_int_equal(ux, uy);
    free(c.cols);
    free(X);
    free(Y);

    /* Binding the spec itself to its own query changes nothing. */
    assert_int_equal(enc_bind(&s, &t.q, &e), RP_OK);
    assert_int_equal(s.cols[0].src, 0);
    enc_spec_free(&s);
    tds_free(&t);
    tds_free(&r);
}

static void test_bind_failure(void **state)
{
    const char *const no_age[] = { "city", "txn_sum" };
    const char *const all3[] = { "age", "city", "txn_sum" };
    const char *const no_city[] = { "age", "txn_sum" };
    const int t2[] = { 1, 0 }, t3[] = { 0, 1, 0 }, num3[] = { 0, 0, 0 };
    const int t2n[] = { 0, 0 };
    const char *const g2[] = { NULL, "transactions" };
    const char *const g3[] = { "age", NULL, "transactions" };
    const char *const g3_nogroup[] = { "age", NULL, NULL };
    tds t;
    enc_spec s;
    feat_query q;
    rp_err e;
    char msg[1024];
    double sd;
    (void)state;

    bind_data(&t, 0);
    assert_int_equal(enc_fit(&t.d, &t.q, NULL, 6, 1, &s, &e), RP_OK);

    bind_query(&q, 2, no_age, t2, g2);
    assert_int_equal(bind_copy(&s, &q, msg), RP_EDATA);
    assert_string_equal(msg, "the model uses feature column \"age\" that "
                        "this feature query does not produce");
    query_free(&q);

    /* city is numeric in this query */
    bind_query(&q, 3, all3, num3, g3);
    assert_int_equal(bind_copy(&s, &q, msg), RP_EDATA);
    assert_string_equal(msg, "feature column \"city\" is text in the model "
                        "but numeric in this feature query");
    query_free(&q);

    /* txn_sum lost its missing-value group */
    bind_query(&q, 3, all3, t3, g3_nogroup);
    assert_int_equal(bind_copy(&s, &q, msg), RP_EDATA);
    assert_string_equal(msg, "the model uses missing-value group "
                        "\"transactions\" that this feature query does not "
                        "produce");
    query_free(&q);

    /* no city at all */
    bind_query(&q, 2, no_city, t2n, g2);
    assert_int_equal(bind_copy(&s, &q, msg), RP_EDATA);
    assert_non_null(strstr(msg, "\"city\""));
    query_free(&q);

    /* A malformed spec (sd 0, as an edited file might carry) */
    bind_query(&q, 3, all3, t3, g3);
    assert_int_equal(bind_copy(&s, &q, msg), RP_OK);
    sd = s.cols[3].sd;
    s.cols[3].sd = 0;
    assert_int_equal(bind_copy(&s, &q, msg), RP_EDATA);
    assert_non_null(strstr(msg, "malformed"));
    s.cols[3].sd = sd;
    query_free(&q);

    enc_spec_free(&s);
    tds_free(&t);
}

/* Specs that a damaged model file could carry: bind refuses them. */
static void test_bind_malformed(void **state)
{
    tds t;
    enc_spec s;
    enc_col c1;
    rp_err e;
    char msg[1024];
    char *lev;
    (void)state;

    bind_data(&t, 0);
    assert_int_equal(enc_fit(&t.d, &t.q, NULL, 6, 1, &s, &e), RP_OK);

    /* city=Bergen, age, city=other: city's columns not contiguous */
    c1 = s.cols[1];
    s.cols[1] = s.cols[0];
    s.cols[0] = c1;
    assert_int_equal(bind_copy(&s, &t.q, msg), RP_EDATA);
    assert_non_null(strstr(msg, "malformed"));
    s.cols[0] = s.cols[1];
    s.cols[1] = c1;
    assert_int_equal(bind_copy(&s, &t.q, msg), RP_OK);

    s.cols[1].kind = 7;
    assert_int_equal(bind_copy(&s, &t.q, msg), RP_EDATA);
    s.cols[1].kind = ENC_LEVEL;

    lev = s.cols[1].level;
    s.cols[1].level = NULL;
    assert_int_equal(bind_copy(&s, &t.q, msg), RP_EDATA);
    assert_string_equal(msg, "the model's encoding is malformed: design "
                        "column 2 has no level");
    s.cols[1].level = lev;

    s.cols[0].impute = NAN;
    assert_int_equal(bind_copy(&s, &t.q, msg), RP_EDATA);
    s.cols[0].impute = 0;
    assert_int_equal(bind_copy(&s, &t.q, msg), RP_OK);

    enc_spec_free(&s);
    tds_free(&t);
}

/* ------------------------------------------------------------------ */
/* Errors, free, determinism                                           */
/* ------------------------------------------------------------------ */

static void test_fit_errors_and_free(void **state)
{
    tds t;
    enc_spec s, z;
    rp_err e;
    (void)state;

    memset(&z, 0, sizeof z);
    enc_spec_free(&z);
    enc_spec_free(NULL);

    bind_data(&t, 0);
    rp_err_clear(&e);
    assert_int_equal(enc_fit(&t.d, &t.q, NULL, 0, 1, &s, &e), RP_EDATA);
    assert_int_equal(s.p, 0);
    assert_null(s.cols);
    enc_spec_free(&s);

    t.q.ncols = 2;      /* the query no longer matches the dataset */
    assert_int_equal(enc_fit(&t.d, &t.q, NULL, 6, 1, &s, &e), RP_EINTERNAL);
    t.q.ncols = 3;
    enc_spec_free(&s);

    {
        const size_t bad[] = { 0, 6 };
        assert_int_equal(enc_fit(&t.d, &t.q, bad, 2, 1, &s, &e),
                         RP_EINTERNAL);
        assert_int_equal(enc_fit(&t.d, &t.q, NULL, 7, 1, &s, &e),
                         RP_EINTERNAL);
    }

    strcpy(t.q.cols[2].name, "age");    /* "age" twice */
    assert_int_equal(enc_fit(&t.d, &t.q, NULL, 6, 1, &s, &e), RP_EINTERNAL);
    assert_string_equal(e.msg, "feature query has two columns named \"age\"");
    assert_int_equal(s.p, 0);
    tds_free(&t);
}

/* A larger pseudo-random dataset: numeric with NaN, a money column far
 * from zero, a text column with a skewed distribution of 60 levels. */
static void random_data(tds *t, size_t n)
{
    double *a = xmallocarray(n, sizeof *a), *m = xmallocarray(n, sizeof *m);
    const char **c = xmallocarray(n, sizeof *c);
    char names[60][16];

    for (int k = 0; k < 60; k++)
        snprintf(names[k], sizeof names[k], "L%02d", k);
    rng = 12345;
    for (size_t i = 0; i < n; i++) {
        double u = lcg();
        a[i] = u < 0.1 ? NAN : floor(100 * lcg());
        m[i] = 1e9 + lcg();
        c[i] = u > 0.95 ? NULL : names[(int)(60 * lcg() * lcg())];
    }
    tds_init(t, n, 3);
    tds_num(t, 0, "a", "transactions", a);
    tds_num(t, 1, "m", NULL, m);
    tds_text(t, 2, "c", NULL, c);
    free(a);
    free(m);
    free(c);
}

static void assert_spec_equal(const enc_spec *x, const enc_spec *y,
                              double tol)
{
    assert_int_equal(x->p, y->p);
    assert_int_equal(x->n_ref, y->n_ref);
    for (int k = 0; k < x->n_ref; k++)
        assert_string_equal(x->ref_levels[k], y->ref_levels[k]);
    for (int j = 0; j < x->p; j++) {
        const enc_col *a = &x->cols[j], *b = &y->cols[j];
        assert_string_equal(a->name, b->name);
        assert_string_equal(a->label, b->label);
        assert_int_equal(a->kind, b->kind);
        assert_near(a->impute, b->impute, 0);
        assert_near(a->mean, b->mean, tol * fabs(b->mean));
        assert_near(a->sd, b->sd, tol * b->sd);
    }
}

static void test_determinism(void **state)
{
    const size_t n = 20000, ntr = 15000;
    size_t *rows = xmallocarray(ntr, sizeof *rows);
    size_t *perm = xmallocarray(ntr, sizeof *perm);
    tds t;
    enc_spec s1, s2, s3;
    rp_err e;
    double *X1, *X2;
    (void)state;

    random_data(&t, n);
    for (size_t i = 0; i < ntr; i++)
        rows[i] = (i * 7919) % n;               /* a scattered subset */
    for (size_t i = 0; i < ntr; i++)
        perm[i] = rows[ntr - 1 - i];            /* same rows, reversed */

    assert_int_equal(enc_fit(&t.d, &t.q, rows, ntr, 20, &s1, &e), RP_OK);
    assert_int_equal(enc_fit(&t.d, &t.q, rows, ntr, 20, &s2, &e), RP_OK);
    assert_true(s1.p > 10);
    assert_string_equal(s1.ref_levels[0], "L00");
    assert_spec_equal(&s1, &s2, 0);
    X1 = enc_apply(&s1, &t.d, NULL, n, NULL);
    X2 = enc_apply(&s2, &t.d, NULL, n, NULL);
    assert_memory_equal(X1, X2, n * (size_t)s1.p * sizeof *X1);
    for (size_t i = 0; i < n * (size_t)s1.p; i++)
        assert_true(isfinite(X1[i]));
    free(X2);

    /* The same rows in another order: the same encoding; means and sds
     * equal up to rounding. */
    assert_int_equal(enc_fit(&t.d, &t.q, perm, ntr, 20, &s3, &e), RP_OK);
    assert_spec_equal(&s1, &s3, 1e-12);

    /* rows == NULL is rows 0..n-1: compare with rows 0..ntr-1 */
    for (size_t i = 0; i < ntr; i++)
        perm[i] = i;
    X2 = enc_apply(&s1, &t.d, perm, ntr, NULL);
    for (int j = 0; j < s1.p; j++)
        assert_memory_equal(X2 + (size_t)j * ntr, X1 + (size_t)j * n,
                            ntr * sizeof *X1);
    free(X1);
    free(X2);
    enc_spec_free(&s1);
    enc_spec_free(&s2);
    enc_spec_free(&s3);
    free(rows);
    free(perm);
    tds_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median_train_only),
        cmocka_unit_test(test_median_all_missing),
        cmocka_unit_test(test_median_vs_sort),
        cmocka_unit_test(test_missing_indicator),
        cmocka_unit_test(test_missing_only_when_in_training),
        cmocka_unit_test(test_onehot_reference_rare_unseen),
        cmocka_unit_test(test_onehot_no_other),
        cmocka_unit_test(test_null_text),
        cmocka_unit_test(test_standardise),
        cmocka_unit_test(test_bind_success),
        cmocka_unit_test(test_bind_failure),
        cmocka_unit_test(test_bind_malformed),
        cmocka_unit_test(test_fit_errors_and_free),
        cmocka_unit_test(test_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
