/*
 * test_threshold.c - the threshold policies of threshold.h on hand-worked
 * cases, and the parser's acceptance and refusals.
 *
 * The main case: ten held-out customers, P = 4 high-risk, N = 6, every
 * score distinct.  Walking the scores from the highest down (rule
 * score >= threshold), with the flagged counts at each:
 *
 *   score  y   tp fp   recall  precision   F1 = 2tp/(tp+fp+P)  10FN+FP  FN+FP
 *   0.90   1    1  0    0.25    1           2/5  = .400           30      3
 *   0.80   1    2  0    0.50    1           4/6  = .667           20      2
 *   0.70   0    2  1    0.50    2/3         4/7  = .571           21      3
 *   0.60   1    3  1    0.75    3/4         6/8  = .750           11      2
 *   0.50   0    3  2    0.75    3/5         6/9  = .667           12      3
 *   0.40   0    3  3    0.75    1/2         6/10 = .600           13      4
 *   0.30   1    4  3    1       4/7         8/11 = .727            3      3
 *   0.20   0    4  4    1       1/2         8/12 = .667            4      4
 *   0.10   0    4  5    1       4/9         8/13 = .615            5      5
 *   0.05   0    4  6    1       2/5         8/14 = .571            6      6
 *   (flag nobody: threshold 1)                                   40      4
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "threshold.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* In row order scrambled on purpose: the policies must not depend on it. */
static const double ys[] = { 0, 1, 0, 1, 0, 0, 1, 0, 1, 0 };
static const double ss[] = { .5, .9, .05, .3, .7, .2, .6, .1, .8, .4 };

static double pick(const char *policy)
{
    thr_policy p;
    rp_err e;
    double thr = -1.0;

    rp_err_clear(&e);
    assert_int_equal(thr_policy_parse(policy, &p, &e), RP_OK);
    assert_int_equal(thr_choose(&p, ys, ss, N(ys), &thr, &e), RP_OK);
    return thr;
}

static void test_f1(void **state)
{
    (void)state;
    assert_true(pick("f1") == .6);                /* F1 .750 */
}

/* Highest threshold whose recall reaches the target. */
static void test_recall(void **state)
{
    (void)state;
    assert_true(pick("recall=0.25") == .9);
    assert_true(pick("recall=0.5") == .8);       /* .8 and .7 both .5: higher */
    assert_true(pick("recall=0.75") == .6);
    assert_true(pick("recall=0.8") == .3);
    assert_true(pick("recall=1") == .3);
    /* between steps: 3 of 4 (.75) is the first to reach .7 */
    assert_true(pick("recall=0.7") == .6);
}

/* Lowest threshold whose precision reaches the target. */
static void test_precision(void **state)
{
    (void)state;
    assert_true(pick("precision=0.5") == .2);    /* 4/8, the lowest at >= .5 */
    assert_true(pick("precision=0.55") == .3);   /* 4/7 = .571 */
    assert_true(pick("precision=0.6") == .5);    /* 3/5 exactly */
    assert_true(pick("precision=0.7") == .6);    /* 3/4 */
    assert_true(pick("precision=0.8") == .8);    /* only 1 and 1 */
    assert_true(pick("precision=1") == .8);
    assert_true(pick("precision=0.4") == .05);   /* everyone: 4/10 */
}

/* k = ceil(X% of 10) highest scores. */
static void test_top(void **state)
{
    (void)state;
    assert_true(pick("top=10%") == .9);          /* k = 1 */
    assert_true(pick("top=2%") == .9);           /* ceil(.2) = 1 */
    assert_true(pick("top=20") == .8);           /* k = 2; % optional */
    assert_true(pick("top=25%") == .7);          /* ceil(2.5) = 3 */
    assert_true(pick("top=30%") == .7);          /* 3, not ceil(3.0000000000000004) */
    assert_true(pick("top=100%") == .05);
}

static void test_cost(void **state)
{
    (void)state;
    assert_true(pick("cost=10:1") == .3);        /* 3 */
    assert_true(pick("cost=1:1") == .8);         /* 2 at .8 and .6: higher wins */
    assert_true(pick("cost=1:100") == .8);       /* 2: no false alarm at all */
    assert_true(pick("cost=100:1") == .3);       /* 3 vs 4 at .2 */
}

/* Targets compared on counts: 0.3 * 10 is 3.0000000000000004 in doubles,
 * yet 3 of 10 must count as reaching 0.3. */
static void test_rounding(void **state)
{
    static const double y[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    static const double s[] = { .1, .2, .3, .4, .5, .6, .7, .8, .9, 1 };
    static const double y2[] = { 1, 1, 1, 0, 0, 0, 0, 0, 0, 0 };
    thr_policy p;
    rp_err e;
    double thr;

    (void)state;
    assert_int_equal(thr_policy_parse("recall=0.3", &p, &e), RP_OK);
    assert_int_equal(thr_choose(&p, y, s, N(y), &thr, &e), RP_OK);
    assert_true(thr == .8);                      /* 3 flagged, not 4 */
    /* negatives on top: precision 0/1 .. 0/7, 1/8, 2/9, 3/10 = .3 */
    assert_int_equal(thr_policy_parse("precision=0.3", &p, &e), RP_OK);
    assert_int_equal(thr_choose(&p, y2, s, N(y2), &thr, &e), RP_OK);
    assert_true(thr == .1);
}

/* Ties: the flagged set grows by whole groups of equal scores. */
static void test_ties(void **state)
{
    static const double y[] = { 1, 0, 1, 0 };
    static const double s[] = { .5, .5, .5, .1 };
    thr_policy p;
    rp_err e;
    double thr;

    (void)state;
    assert_int_equal(thr_policy_parse("top=25%", &p, &e), RP_OK);
    assert_int_equal(thr_choose(&p, y, s, N(y), &thr, &e), RP_OK);
    assert_true(thr == .5);                      /* k = 1, but 3 tie at .5 */
    /* flag nobody is the cheapest when a false alarm costs more than the
     * catches it brings: nobody 2*1 = 2, at .5: 0 + 1*5 = 5 */
    assert_int_equal(thr_policy_parse("cost=1:5", &p, &e), RP_OK);
    assert_int_equal(thr_choose(&p, y, s, N(y), &thr, &e), RP_OK);
    assert_true(thr == 1.0);
}

/* A top score that is a negative: flagging nobody (cost 1) beats
 * flagging it (1 miss + 2 = 3) and both (0 + 2*1 = 2). */
static void test_cost_nobody(void **state)
{
    static const double y[] = { 0, 1 };
    static const double s[] = { .9, .8 };
    thr_policy p;
    rp_err e;
    double thr;

    (void)state;
    assert_int_equal(thr_policy_parse("cost=1:2", &p, &e), RP_OK);
    assert_int_equal(thr_choose(&p, y, s, N(y), &thr, &e), RP_OK);
    assert_true(thr == 1.0);
}

static void test_unreachable_precision(void **state)
{
    thr_policy p;
    rp_err e;
    double thr = -1;

    (void)state;
    rp_err_clear(&e);
    assert_int_equal(thr_policy_parse("precision=0.95", &p, &e), RP_OK);
    /* the best there is: 1 at .9 and .8, so .95 is reachable... */
    assert_int_equal(thr_choose(&p, ys, ss, N(ys), &thr, &e), RP_OK);
    assert_true(thr == .8);
    /* ...but not with the positives ranked below a negative */
    {
        static const double y[] = { 0, 1, 0, 1 };
        static const double s[] = { .9, .8, .7, .6 };
        assert_int_equal(thr_policy_parse("precision=0.6", &p, &e), RP_OK);
        assert_int_equal(thr_choose(&p, y, s, N(y), &thr, &e), RP_EDATA);
        assert_non_null(strstr(e.msg, "no threshold reaches precision 0.6"));
        assert_non_null(strstr(e.msg, "the best is 0.5000"));
    }
}

static void test_no_positive(void **state)
{
    static const double y[] = { 0, 0, 0 };
    static const double s[] = { .3, .2, .1 };
    thr_policy p;
    rp_err e;
    double thr;

    (void)state;
    assert_int_equal(thr_policy_parse("recall=0.5", &p, &e), RP_OK);
    assert_int_equal(thr_choose(&p, y, s, N(y), &thr, &e), RP_EDATA);
    assert_non_null(strstr(e.msg, "no high-risk customer"));
    assert_int_equal(thr_policy_parse("top=50%", &p, &e), RP_OK);
    assert_int_equal(thr_choose(&p, y, s, N(y), &thr, &e), RP_OK);
    assert_true(thr == .2);
    assert_int_equal(thr_choose(&p, y, s, 0, &thr, &e), RP_EDATA);
}

static void test_fixed(void **state)
{
    thr_policy p = { THR_FIXED, 0.37, 0 };
    char name[32];
    rp_err e;
    double thr;

    (void)state;
    assert_int_equal(thr_choose(&p, ys, ss, N(ys), &thr, &e), RP_OK);
    assert_true(thr == 0.37);
    thr_policy_name(&p, name, sizeof name);
    assert_string_equal(name, "fixed");
}

static void test_names(void **state)
{
    static const struct { const char *in, *name; } cases[] = {
        { "f1", "f1" }, { "recall=0.8", "recall=0.8" },
        { "precision=.5", "precision=0.5" }, { "top=2%", "top=2%" },
        { "top=2.5", "top=2.5%" }, { "cost=10:1", "cost=10:1" },
        { "cost=2.5:0.25", "cost=2.5:0.25" }, { "recall=1", "recall=1" },
    };
    char name[32];
    thr_policy p;
    rp_err e;

    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        assert_int_equal(thr_policy_parse(cases[i].in, &p, &e), RP_OK);
        thr_policy_name(&p, name, sizeof name);
        assert_string_equal(name, cases[i].name);
    }
}

static void test_parse_refusals(void **state)
{
    static const char *const bad[] = {
        "", "f2", "F1", "recall", "recall=", "recall=0", "recall=1.5",
        "recall=-0.1", "recall=0.8x", "recall=nan", "precision=2",
        "top=0%", "top=101%", "top=2%%", "top=%", "cost=10", "cost=10:",
        "cost=:1", "cost=0:1", "cost=1:0", "cost=a:b", "cost=1:2:3",
        "cost=inf:1", "fixed", "recall =0.8", "lift=2",
    };
    thr_policy p;
    rp_err e;

    (void)state;
    for (size_t i = 0; i < N(bad); i++) {
        rp_err_clear(&e);
        if (thr_policy_parse(bad[i], &p, &e) != RP_EUSAGE) {
            print_error("\"%s\" was accepted\n", bad[i]);
            fail();
        }
        assert_non_null(strstr(e.msg, "--threshold-policy"));
        assert_int_equal(p.kind, THR_F1);        /* left at the default */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f1),
        cmocka_unit_test(test_recall),
        cmocka_unit_test(test_precision),
        cmocka_unit_test(test_top),
        cmocka_unit_test(test_cost),
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_cost_nobody),
        cmocka_unit_test(test_unreachable_precision),
        cmocka_unit_test(test_no_positive),
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_parse_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
