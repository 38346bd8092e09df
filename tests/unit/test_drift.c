/*
 * test_drift.c - decile edges, bins and the population stability index
 * against values worked out by hand, the quickselect edges against a
 * naive sort, unseen categories against enc_apply's count, and the
 * model-file section's round trip and strict refusals.
 *
 * The hand-computed PSIs (formula sum (a - e) ln(a / e), shares floored
 * at 1e-4):
 *   e = (.5, .5),        a = (.25, .75):     .25 ln 2 + .25 ln 1.5 = 0.274653072167027
 *   e = (.5, .5, 0),     a = (.5, .4, .1):   .1 ln 1.25 + .0999 ln 1000 = 0.712399107501737
 *   e = ten bins of .1,  a = all in bin 0:   .9 ln 10 + 9 (.0999 ln 1000) = 8.28308935502748
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

#include <jansson.h>

#include "drift.h"
#include "util/mem.h"


static void near_check(double got, double want, double tol, const char *expr,
                       const char *file, int line)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s = %.17g, wanted %.17g (tolerance %g)\n", expr, got, want, tol);
        _fail(file, line);
    }
}
#define assert_near(got, want, tol) near_check((got), (want), (tol), #got, __FILE__, __LINE__)

static void test_psi_hand(void **state)
{
    double e1[] = {.5, .5}, a1[] = {.25, .75};
    double e2[] = {.5, .5, 0}, a2[] = {.5, .4, .1};
    double e3[10], a3[10] = {1};
    int k;

    (void)state;
    for (k = 0; k < 10; k++)
        e3[k] = .1;
    assert_near(drift_psi(e1, a1, 2), 0.274653072167027, 1e-14);
    assert_near(drift_psi(e2, a2, 3), 0.712399107501737, 1e-14);
    assert_near(drift_psi(e3, a3, 10), 8.28308935502748, 1e-13);
    assert_near(drift_psi(e1, e1, 2), 0.0, 0.0);
    /* symmetric in its two arguments */
    assert_near(drift_psi(a1, e1, 2), drift_psi(e1, a1, 2), 1e-15);
}

static void test_levels(void **state)
{
    (void)state;
    assert_string_equal(drift_level(0.0), "ok");
    assert_string_equal(drift_level(0.1), "ok");
    assert_string_equal(drift_level(0.1000001), "watch");
    assert_string_equal(drift_level(0.25), "watch");
    assert_string_equal(drift_level(0.2500001), "act");
    assert_string_equal(drift_level(NAN), "n/a");
}

static void test_edges_hand(void **state)
{
    double x[20], e[DRIFT_BINS];
    double ties[] = {0, 4, 0, 3, 0, 2, 0, 1, 0, 0};
    double miss[] = {1, NAN, 3, INFINITY};
    int k, ne;

    (void)state;
    for (k = 0; k < 20; k++)
        x[k] = 20 - k;                 /* 20, 19, ..., 1 */
    ne = drift_edges(x, 20, e);
    assert_int_equal(ne, 9);
    for (k = 0; k < 9; k++)
        assert_near(e[k], 2.0 * (k + 1), 0.0);   /* v[ceil(2k) - 1] = 2k */
    /* ties merge: six zeros make edges 1..5 all 0 */
    ne = drift_edges(ties, 10, e);
    assert_int_equal(ne, 4);
    assert_near(e[0], 0, 0);
    assert_near(e[1], 1, 0);
    assert_near(e[2], 2, 0);
    assert_near(e[3], 3, 0);
    /* missing values skipped: m = 2, deciles 1-5 -> v[0], 6-9 -> v[1] */
    ne = drift_edges(miss, 4, e);
    assert_int_equal(ne, 2);
    assert_near(e[0], 1, 0);
    assert_near(e[1], 3, 0);
    assert_int_equal(drift_edges(miss + 1, 1, e), 0);
}

static void test_bins(void **state)
{
    double e[] = {1, 3};

    (void)state;
    assert_int_equal(drift_bin(e, 2, 0.5), 0);
    assert_int_equal(drift_bin(e, 2, 1.0), 0);        /* right-closed */
    assert_int_equal(drift_bin(e, 2, 1.0000001), 1);
    assert_int_equal(drift_bin(e, 2, 3.0), 1);
    assert_int_equal(drift_bin(e, 2, 3.5), 2);
    assert_int_equal(drift_bin(e, 0, 42.0), 0);
}

static void test_numeric_reference(void **state)
{
    double ties[] = {0, 4, 0, 3, 0, 2, 0, 1, 0, 0};
    double miss[] = {1, NAN, 3, NAN};
    double want[] = {.6, .1, .1, .1, .1};
    drift_dist d;
    int k;

    (void)state;
    drift_dist_numeric("x", ties, 10, &d);
    assert_int_equal(d.nbins, 5);
    for (k = 0; k < 5; k++)
        assert_near(d.prop[k], want[k], 1e-15);
    assert_near(d.missing, 0, 0);
    drift_dist_free(&d);
    drift_dist_numeric("y", miss, 4, &d);
    assert_int_equal(d.nbins, 3);
    assert_near(d.prop[0], .25, 0);
    assert_near(d.prop[1], .25, 0);
    assert_near(d.prop[2], 0, 0);
    assert_near(d.missing, .5, 0);
    drift_dist_free(&d);
    drift_dist_free(NULL);
}

/* Reference 1..20 (ten bins of .1); today everyone in the first bin. */
static void test_numeric_psi(void **state)
{
    double ref[20], now[20];
    drift_dist d;
    drift_stat st;
    int k;

    (void)state;
    for (k = 0; k < 20; k++) {
        ref[k] = k + 1;
        now[k] = (k % 2) + 1;          /* 1 or 2: bin 0 */
    }
    drift_dist_numeric("x", ref, 20, &d);
    drift_stat_numeric(&d, ref, 20, &st);
    assert_near(st.psi, 0.0, 0.0);     /* the same data: exactly 0 */
    free(st.actual);
    drift_stat_numeric(&d, now, 20, &st);
    assert_near(st.actual[0], 1.0, 0);
    assert_near(st.psi, 8.28308935502748, 1e-13);
    free(st.actual);
    /* half missing today, half in bin 0 and bin 1:
     * e = (.1 x 10, missing 0), a = (.25, .25, 0 x 8, missing .5) */
    now[0] = now[1] = now[2] = now[3] = now[4] = 1;
    for (k = 5; k < 10; k++)
        now[k] = 4;
    for (k = 10; k < 20; k++)
        now[k] = NAN;
    drift_stat_numeric(&d, now, 20, &st);
    assert_near(st.missing, .5, 0);
    assert_near(st.psi, 2 * .15 * log(2.5) + 8 * (.1 - 1e-4) * log(1000) +
                        (.5 - 1e-4) * log(.5 / 1e-4), 1e-13);
    free(st.actual);
    drift_dist_free(&d);
}

static void test_text(void **state)
{
    /* reference: a x5, b x3, c x2 */
    char *lv_ref[] = {"c", "a", "b"};
    int32_t code_ref[] = {1, 1, 2, 0, 1, 2, 1, 0, 2, 1};
    /* today: a x4, b x2, d (unseen) x2, missing x2 */
    char *lv_now[] = {"d", "b", "a"};
    int32_t code_now[] = {2, 2, 2, 2, 1, 1, 0, 0, -1, -1};
    drift_dist d;
    drift_stat st;

    (void)state;
    drift_dist_text("city", code_ref, 10, lv_ref, 3, &d);
    assert_int_equal(d.nlevels, 3);
    assert_string_equal(d.levels[0], "a");
    assert_string_equal(d.levels[1], "b");
    assert_string_equal(d.levels[2], "c");
    assert_near(d.prop[0], .5, 0);
    assert_near(d.prop[1], .3, 1e-16);
    assert_near(d.prop[2], .2, 0);
    assert_near(d.prop[3], 0, 0);      /* other */
    drift_stat_text(&d, code_now, 10, lv_now, 3, &st);
    assert_near(st.actual[0], .4, 0);
    assert_near(st.actual[1], .2, 0);
    assert_near(st.actual[2], 0, 0);
    assert_near(st.actual[3], .2, 0);
    assert_near(st.missing, .2, 0);
    assert_near(st.psi, 4.6211220709296246, 1e-13);
    free(st.actual);
    drift_dist_free(&d);
}

static void test_text_fold(void **state)
{
    enum { NL = DRIFT_MAX_LEVELS + 10 };
    char *lv[NL];
    int32_t *code = xmallocarray(2 * NL, sizeof *code);
    drift_dist d;
    int k, n = 0;

    (void)state;
    for (k = 0; k < NL; k++) {
        lv[k] = xasprintf("L%02d", k);
        code[n++] = k;
        if (k < DRIFT_MAX_LEVELS)
            code[n++] = k;             /* the first 50 twice: the kept ones */
    }
    drift_dist_text("t", code, (size_t)n, lv, NL, &d);
    assert_int_equal(d.nlevels, DRIFT_MAX_LEVELS);
    assert_string_equal(d.levels[0], "L00");
    assert_near(d.prop[DRIFT_MAX_LEVELS], 10.0 / n, 1e-15);
    drift_dist_free(&d);
    for (k = 0; k < NL; k++)
        free(lv[k]);
    free(code);
}

/* Quickselect against sort-and-pick on random data with many ties. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_edges_vs_sort(void **state)
{
    uint64_t s = 12345;
    int trial;

    (void)state;
    for (trial = 0; trial < 200; trial++) {
        size_t n = 1 + (size_t)(trial * 37 % 3000), i, m = 0;
        double *x = xmallocarray(n, sizeof *x), *v = xmallocarray(n, sizeof *v);
        double e[DRIFT_BINS], want[DRIFT_BINS];
        int ne, nw = 0, k;

        for (i = 0; i < n; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            x[i] = trial % 3 == 0 ? (double)((s >> 33) % 5)          /* ties */
                 : trial % 3 == 1 ? (double)(s >> 11) / 9007199254740992.0
                 : (double)i;                                          /* sorted */
            if ((s >> 20) % 17 == 0)
                x[i] = NAN;
            if (isfinite(x[i]))
                v[m++] = x[i];
        }
        qsort(v, m, sizeof *v, cmp_double);
        for (k = 1; m && k < DRIFT_BINS; k++) {
            double q = v[(k * m + DRIFT_BINS - 1) / DRIFT_BINS - 1];
            if (nw == 0 || q > want[nw - 1])
                want[nw++] = q;
        }
        ne = drift_edges(x, n, e);
        assert_int_equal(ne, nw);
        for (k = 0; k < ne; k++)
            assert_near(e[k], want[k], 0);
        free(x);
        free(v);
    }
}

/*
 * Large columns take drift.c's fast path (sampled splitters, one
 * classifying pass, threads over columns); it must give the plain
 * method's result bit for bit: the edges of nine progressive three-way
 * quickselects on the finite values (a copy of the original code below,
 * so that even the sign of a zero edge is checked) and the shares of
 * drift_bin's counts.
 */
static double plain_median3(double a, double b, double c)
{
    if (a < b)
        return b < c ? b : (a < c ? c : a);
    return a < c ? a : (b < c ? c : b);
}

static void plain_select(double *a, size_t lo, size_t hi, size_t k)
{
    while (hi - lo > 1) {
        double p = plain_median3(a[lo], a[lo + (hi - lo) / 2], a[hi - 1]), t;
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

/* The plain reference of x[0..n) into d (edges, prop, missing). */
static void plain_dist(const double *x, size_t n, drift_dist *d)
{
    double *v = xmallocarray(n + 1, sizeof *v);
    size_t i, m = 0, lo = 0, k, count[DRIFT_BINS + 1] = {0}, miss = 0;

    memset(d, 0, sizeof *d);
    d->edges = xmallocarray(DRIFT_BINS, sizeof *d->edges);
    for (i = 0; i < n; i++)
        if (isfinite(x[i]))
            v[m++] = x[i];
    for (k = 1; m && k < DRIFT_BINS; k++) {
        size_t idx = (k * m + DRIFT_BINS - 1) / DRIFT_BINS - 1;
        plain_select(v, lo, m, idx);
        lo = idx;
        if (d->nedges == 0 || v[idx] > d->edges[d->nedges - 1])
            d->edges[d->nedges++] = v[idx];
    }
    for (i = 0; i < n; i++) {
        if (isfinite(x[i]))
            count[drift_bin(d->edges, d->nedges, x[i])]++;
        else
            miss++;
    }
    d->nbins = d->nedges + 1;
    d->prop = xmallocarray((size_t)d->nbins, sizeof *d->prop);
    for (k = 0; k < (size_t)d->nbins; k++)
        d->prop[k] = (double)count[k] / (double)n;
    d->missing = (double)miss / (double)n;
    free(v);
}

static void assert_same_dist(const drift_dist *got, const drift_dist *want)
{
    assert_int_equal(got->nedges, want->nedges);
    assert_int_equal(got->nbins, want->nbins);
    assert_memory_equal(got->edges, want->edges, (size_t)want->nedges * sizeof *want->edges);
    assert_memory_equal(got->prop, want->prop, (size_t)want->nbins * sizeof *want->prop);
    assert_memory_equal(&got->missing, &want->missing, sizeof want->missing);
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 11;
}

/* Column `kind` of n rows (see the cases below). */
static void large_column(int kind, size_t n, uint64_t *s, double *x)
{
    size_t i;

    for (i = 0; i < n; i++) {
        double u = (double)lcg(s) / 9007199254740992.0, v;
        switch (kind) {
        case 0: v = exp(8 * u); break;                              /* continuous */
        case 1: v = (double)(lcg(s) % 4); break;                    /* ties */
        case 2: v = u < .5 ? 0.0 : round(u * 1e4) / 100; break;     /* half +0 */
        case 3: v = u < .3 ? -0.0 : u < .6 ? 0.0 : u; break;        /* zeros of both signs */
        case 4: v = u < .5 ? -0.0 : u * 7; break;                   /* -0 only */
        case 5: v = (double)i; break;                               /* sorted */
        case 6: v = 42; break;                                      /* constant */
        case 7: v = u < .9 ? NAN : u; break;                        /* mostly missing */
        default: v = floor(u * 50) - 25; break;                     /* negatives and ties */
        }
        if (kind != 7 && lcg(s) % 29 == 0)
            v = lcg(s) % 3 == 0 ? NAN : lcg(s) % 2 ? INFINITY : -INFINITY;
        x[i] = v;
    }
}

static void test_large_vs_plain(void **state)
{
    size_t sizes[] = {32767, 32768, 70001};
    uint64_t s = 99;
    int kind, z;

    (void)state;
    for (z = 0; z < 3; z++)
        for (kind = 0; kind < 9; kind++) {
            size_t n = sizes[z];
            double *x = xmallocarray(n, sizeof *x), e[DRIFT_BINS];
            drift_dist got, want;
            drift_stat st;
            size_t k;

            large_column(kind, n, &s, x);
            plain_dist(x, n, &want);
            drift_dist_numeric("x", x, n, &got);
            assert_same_dist(&got, &want);
            assert_int_equal(drift_edges(x, n, e), want.nedges);
            assert_memory_equal(e, want.edges, (size_t)want.nedges * sizeof *e);
            /* today = the reference: the same shares, PSI 0 */
            drift_stat_numeric(&got, x, n, &st);
            assert_memory_equal(st.actual, want.prop, (size_t)want.nbins * sizeof *st.actual);
            assert_memory_equal(&st.missing, &want.missing, sizeof st.missing);
            assert_near(st.psi, 0, 0);
            free(st.actual);
            /* and another column against it: drift_bin's counts */
            large_column((kind + 1) % 9, n, &s, x);
            drift_stat_numeric(&got, x, n, &st);
            {
                size_t count[DRIFT_BINS + 1] = {0}, miss = 0, i;
                for (i = 0; i < n; i++) {
                    if (isfinite(x[i]))
                        count[drift_bin(got.edges, got.nedges, x[i])]++;
                    else
                        miss++;
                }
                for (k = 0; k < (size_t)got.nbins; k++)
                    assert_near(st.actual[k], (double)count[k] / (double)n, 0);
                assert_near(st.missing, (double)miss / (double)n, 0);
            }
            free(st.actual);
            drift_dist_free(&got);
            drift_dist_free(&want);
            free(x);
        }
}

/* drift_ref_build and drift_compare over many columns (in threads) equal
 * the columns done one by one. */
static void test_large_build_compare(void **state)
{
    enum { N = 70000, NC = 9 };
    feat_col cols[NC + 1];
    char names[NC + 1][16];
    char *levels[] = {"a", "b", "c"};
    double *num[NC + 1], *prob = xmallocarray(N, sizeof *prob);
    int32_t *code[NC + 1], *codes = xmallocarray(N, sizeof *codes);
    char **lv[NC + 1];
    int nlev[NC + 1], j;
    feat_query q = {"", NC + 1, cols};
    uint64_t s = 7;
    dataset d;
    model_drift ref;
    drift_result r;
    size_t i;

    (void)state;
    for (j = 0; j <= NC; j++) {
        snprintf(names[j], sizeof names[j], "c%d", j);
        cols[j] = (feat_col){names[j], names[j], j == NC, NULL};
        num[j] = j < NC ? xmallocarray(N, sizeof *num[j]) : NULL;
        code[j] = j == NC ? codes : NULL;
        lv[j] = j == NC ? levels : NULL;
        nlev[j] = j == NC ? 3 : 0;
        if (j < NC)
            large_column(j, N, &s, num[j]);
    }
    for (i = 0; i < N; i++) {
        codes[i] = (int32_t)(lcg(&s) % 4) - 1;
        prob[i] = (double)lcg(&s) / 9007199254740992.0;
    }
    memset(&d, 0, sizeof d);
    d.n = N;
    d.ncols = NC + 1;
    d.num = num;
    d.code = code;
    d.levels = lv;
    d.nlevels = nlev;
    drift_ref_build(&d, &q, prob, &ref);
    assert_int_equal(ref.nfeat, NC + 1);
    for (j = -1; j < NC; j++) {
        drift_dist want;
        plain_dist(j < 0 ? prob : num[j], N, &want);
        assert_same_dist(j < 0 ? &ref.score : &ref.feat[j], &want);
        drift_dist_free(&want);
    }
    assert_int_equal(ref.feat[NC].categorical, 1);
    for (j = 0; j < NC; j++)   /* today: the columns shifted by one */
        large_column((j + 3) % 9, N, &s, num[j]);
    drift_compare(&ref, &d, &q, prob, &r);
    assert_near(r.score.psi, 0, 0);
    assert_near(r.feat[NC].psi, 0, 0);
    for (j = 0; j < NC; j++) {
        drift_stat st;
        drift_stat_numeric(&ref.feat[j], num[j], N, &st);
        assert_memory_equal(r.feat[j].actual, st.actual, (size_t)ref.feat[j].nbins * sizeof *st.actual);
        assert_memory_equal(&r.feat[j].psi, &st.psi, sizeof st.psi);
        free(st.actual);
    }
    drift_result_free(&r);
    drift_ref_free(&ref);
    for (j = 0; j < NC; j++)
        free(num[j]);
    free(codes);
    free(prob);
}

/* Unseen counts per column agree with enc_apply's total. */
static void test_unseen(void **state)
{
    feat_col cols[2] = {{"city", "city", 1, NULL}, {"age", "age", 0, "age"}};
    feat_query q = {"", 2, cols};
    char *levels[] = {"Oslo", "Bergen", "Rare", "Mars"};
    int32_t codes[] = {0, 1, 2, 3, 3, -1, 0};
    double ages[] = {30, 40, 50, 60, 70, 80, 90};
    enc_col ec[2];
    char *ref_src[] = {"city"}, *ref_lvl[] = {"Oslo"};
    enc_spec s;
    dataset d;
    size_t out[2], total = 0;
    double *X;

    (void)state;
    memset(&d, 0, sizeof d);
    d.n = 7;
    d.ncols = 2;
    d.code = (int32_t *[]){codes, NULL};
    d.num = (double *[]){NULL, ages};
    d.levels = (char **[]){levels, NULL};
    d.nlevels = (int[]){4, 0};
    memset(ec, 0, sizeof ec);
    ec[0] = (enc_col){"city=Bergen", "b", ENC_LEVEL, "city", "Bergen", NULL, 0, 0, 1, 0, -1};
    ec[1] = (enc_col){"city=other", "o", ENC_OTHER, "city", NULL, NULL, 0, 0, 1, 0, -1};
    s = (enc_spec){2, ec, 20, ref_lvl, ref_src, 1};
    drift_unseen(&s, &d, &q, out);
    assert_int_equal(out[0], 3);       /* Rare, Mars, Mars; NULL is missing */
    assert_int_equal(out[1], 0);
    X = enc_apply(&s, &d, NULL, d.n, &total);
    assert_int_equal(total, out[0]);
    free(X);
}

/* A reference with one column of each kind. */
static void make_ref(model_drift *r)
{
    double x[] = {1, 2, 3, 4, NAN, 6, 7, 8, 9, 10};
    double p[] = {.1, .2, .3, .4, .5, .6, .7, .8, .9, .95};
    char *lv[] = {"x", "y \"quoted\" \xc3\xa9"};
    int32_t code[] = {0, 1, 1, -1, 0, 0, 1, 1, 1, 0};

    memset(r, 0, sizeof *r);
    r->present = 1;
    r->n = 10;
    drift_dist_numeric("score", p, 10, &r->score);
    r->nfeat = 2;
    r->feat = xcalloc(2, sizeof *r->feat);
    drift_dist_numeric("age", x, 10, &r->feat[0]);
    drift_dist_text("city", code, 10, lv, 2, &r->feat[1]);
}

static void same_dist(const drift_dist *a, const drift_dist *b)
{
    int k;

    assert_string_equal(a->name, b->name);
    assert_int_equal(a->categorical, b->categorical);
    assert_int_equal(a->nbins, b->nbins);
    assert_int_equal(a->nedges, b->nedges);
    assert_int_equal(a->nlevels, b->nlevels);
    assert_memory_equal(a->prop, b->prop, (size_t)a->nbins * sizeof *a->prop);
    if (a->nedges)
        assert_memory_equal(a->edges, b->edges, (size_t)a->nedges * sizeof *a->edges);
    for (k = 0; k < a->nlevels; k++)
        assert_string_equal(a->levels[k], b->levels[k]);
    assert_memory_equal(&a->missing, &b->missing, sizeof a->missing);
}

/* Serialises through text, as the model file does. */
static json_t *through_text(json_t *o)
{
    char *t = json_dumps(o, JSON_REAL_PRECISION(17));
    json_t *back = json_loads(t, 0, NULL);

    free(t);
    json_decref(o);
    return back;
}

static void test_json_roundtrip(void **state)
{
    model_drift a, b;
    json_t *o;
    char path[128];
    int k;

    (void)state;
    make_ref(&a);
    o = through_text(drift_ref_to_json(&a));
    assert_int_equal(drift_ref_from_json(o, &b, path, sizeof path), 0);
    assert_true(b.present);
    assert_int_equal(b.n, 10);
    same_dist(&a.score, &b.score);
    assert_int_equal(b.nfeat, 2);
    for (k = 0; k < 2; k++)
        same_dist(&a.feat[k], &b.feat[k]);
    json_decref(o);
    drift_ref_free(&a);
    drift_ref_free(&b);
    drift_ref_free(NULL);
}

/* Each damage -> refused, naming the field. */
static json_t *feat(json_t *o, int k)
{
    return json_array_get(json_object_get(o, "features"), (size_t)k);
}

static void expect_refused(void (*damage)(json_t *), const char *want_path)
{
    model_drift a, b;
    json_t *o;
    char path[128] = "";

    make_ref(&a);
    o = drift_ref_to_json(&a);
    damage(o);
    assert_int_not_equal(drift_ref_from_json(o, &b, path, sizeof path), 0);
    assert_string_equal(path, want_path);
    assert_false(b.present);
    assert_null(b.feat);
    json_decref(o);
    drift_ref_free(&a);
}

static void d_bins(json_t *o) { json_object_set_new(o, "bins", json_string("quartiles")); }
static void d_n(json_t *o) { json_object_del(o, "n"); }
static void d_edges(json_t *o)
{
    json_array_set_new(json_object_get(feat(o, 0), "edges"), 1, json_real(-5));
}
static void d_sum(json_t *o)
{
    json_array_set_new(json_object_get(feat(o, 0), "proportions"), 0, json_real(.9));
}
static void d_len(json_t *o) { json_array_remove(json_object_get(feat(o, 1), "proportions"), 0); }
static void d_kind(json_t *o) { json_object_set_new(feat(o, 1), "kind", json_string("text")); }
static void d_dup(json_t *o) { json_object_set_new(feat(o, 1), "name", json_string("age")); }
static void d_score(json_t *o) { json_object_del(o, "score"); }
static void d_level(json_t *o) { json_array_set_new(json_object_get(feat(o, 1), "levels"), 0, json_integer(3)); }
static void d_miss(json_t *o) { json_object_set_new(feat(o, 0), "missing", json_real(-0.1)); }

static void test_json_refusals(void **state)
{
    (void)state;
    expect_refused(d_bins, "drift_reference.bins");
    expect_refused(d_n, "drift_reference.n");
    expect_refused(d_edges, "drift_reference.features[0].edges");
    expect_refused(d_sum, "drift_reference.features[0].proportions");
    expect_refused(d_len, "drift_reference.features[1].proportions");
    expect_refused(d_kind, "drift_reference.features[1].kind");
    expect_refused(d_dup, "drift_reference.features[1].name");
    expect_refused(d_score, "drift_reference.score");
    expect_refused(d_level, "drift_reference.features[1].levels");
    expect_refused(d_miss, "drift_reference.features[0].missing");
}

/* The whole comparison on a tiny dataset, and the details JSON. */
static void test_compare_and_details(void **state)
{
    feat_col cols[2] = {{"age", "age", 0, "age"}, {"city", "city", 1, NULL}};
    feat_query q = {"", 2, cols};
    double ages[] = {20, 30, 40, 50}, prob[] = {.1, .2, .3, .4};
    char *levels[] = {"Oslo", "Bergen"};
    int32_t codes[] = {0, 0, 1, -1};
    size_t unseen[2] = {0, 1};
    dataset d;
    model_drift ref;
    drift_result r;
    json_t *j;
    char *text;
    int watch, act;

    (void)state;
    memset(&d, 0, sizeof d);
    d.n = 4;
    d.ncols = 2;
    d.num = (double *[]){ages, NULL};
    d.code = (int32_t *[]){NULL, codes};
    d.levels = (char **[]){NULL, levels};
    d.nlevels = (int[]){0, 2};
    drift_ref_build(&d, &q, prob, &ref);
    assert_int_equal(ref.nfeat, 2);
    drift_compare(&ref, &d, &q, prob, &r);
    assert_near(r.score.psi, 0, 0);
    assert_near(r.feat[0].psi, 0, 0);
    assert_near(r.feat[1].psi, 0, 0);
    drift_count(&r, &watch, &act);
    assert_int_equal(watch + act, 0);
    text = drift_details_json(&r, &q, unseen);
    j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "unseen"), "city")), 1);
    assert_null(json_object_get(json_object_get(j, "unseen"), "age"));
    assert_string_equal(json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(j, "drift"), "features"), 1), "name")),
        "city");
    json_decref(j);
    free(text);
    drift_result_free(&r);
    /* a column gone from today's query: PSI n/a, not a crash */
    cols[1].name = "town";
    drift_compare(&ref, &d, &q, prob, &r);
    assert_true(isnan(r.feat[1].psi));
    text = drift_details_json(&r, &q, unseen);
    assert_non_null(strstr(text, "\"psi\":null"));
    free(text);
    drift_result_free(&r);
    text = drift_details_json(NULL, &q, unseen);
    assert_non_null(strstr(text, "\"drift\":null"));
    free(text);
    drift_ref_free(&ref);
    drift_result_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psi_hand),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_edges_hand),
        cmocka_unit_test(test_bins),
        cmocka_unit_test(test_numeric_reference),
        cmocka_unit_test(test_numeric_psi),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_fold),
        cmocka_unit_test(test_edges_vs_sort),
        cmocka_unit_test(test_large_vs_plain),
        cmocka_unit_test(test_large_build_compare),
        cmocka_unit_test(test_unseen),
        cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_json_refusals),
        cmocka_unit_test(test_compare_and_details),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
