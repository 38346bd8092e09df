/*
 * test_report.c - the HTML report without a browser: every chart's title
 * is there whether or not the model holds evaluation data, hostile
 * strings from the model are escaped, undefined numbers never reach an
 * SVG coordinate, and a failed write leaves the old file alone.
 * (tests/integration/report.sh renders a real one in Chromium.)
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
#include <unistd.h>

#include "report.h"
#include "util/mem.h"

#define EVIL "<script>alert(\"x\")</script>&'"

static void set_col(enc_col *c, const char *name, const char *label, int kind,
                    const char *source, const char *level)
{
    memset(c, 0, sizeof *c);
    c->name = xstrdup(name);
    c->label = label ? xstrdup(label) : NULL;
    c->kind = kind;
    c->source = source ? xstrdup(source) : NULL;
    c->level = level ? xstrdup(level) : NULL;
    c->sd = 1;
    c->mean = 0.25;
    c->src = -1;
}

/* Three columns, one of them a level whose name is hostile; no
 * evaluation data (n = 0) unless filled by fill_eval. */
static void make_model(model *m)
{
    model_init(m);
    strcpy(m->model_id, "rp-<b>id</b>");
    strcpy(m->created_at, "2024-01-31T12:00:00Z");
    strcpy(m->riskpipe_version, "0.1.0");
    strcpy(m->feat.as_of, "2024-01-31");
    strcpy(m->threshold_policy, "<i>f1</i>");
    m->feat.n_cats = 1;
    m->feat.cats = xcalloc(1, sizeof(char *));
    m->feat.cats[0] = xstrdup(EVIL);
    m->p = m->enc.p = 3;
    m->enc.cols = xcalloc(3, sizeof *m->enc.cols);
    set_col(&m->enc.cols[0], "age", "age", ENC_NUMERIC, "age", NULL);
    set_col(&m->enc.cols[1], "city=" EVIL, "city: " EVIL, ENC_LEVEL, "city", EVIL);
    set_col(&m->enc.cols[2], "missing:transactions", "no transactions", ENC_MISSING, NULL, NULL);
    m->beta = xcalloc(3, sizeof(double));
    m->beta_orig = xcalloc(3, sizeof(double));
    m->se = xcalloc(4, sizeof(double));
    m->beta[0] = 0.5;
    m->beta[1] = -0.25;
    m->beta[2] = 0.0;
    m->se[0] = 0.1;
    m->se[1] = 0.1;
    m->se[2] = 0.2;
    m->se[3] = NAN;            /* no standard error: must not break the chart */
    m->C = INFINITY;
    m->n_customers = 100;
    m->n_labelled = 90;
    m->n_events = 30;
    m->loglik = -40;
    m->loglik_null = -50;
    m->threshold = 0.3;
    m->test.roc_auc = NAN;     /* undefined metrics read "n/a" */
    m->test.ks = NAN;
    m->test.ks_score = NAN;
}

/* A small but complete evaluation section. */
static void fill_eval(model_eval *v)
{
    int k;

    v->n = 100;
    v->events = 30;
    v->roc_auc = 0.8;
    v->n_roc = 3;
    v->roc[0] = (model_point){0, 0, NAN};
    v->roc[1] = (model_point){0.2, 0.7, 0.4};
    v->roc[2] = (model_point){1, 1, 0.01};
    v->n_pr = 2;
    v->pr[0] = (model_point){0.5, 0.9, 0.6};
    v->pr[1] = (model_point){1, 0.3, 0.01};
    for (k = 0; k < MODEL_TRADEOFF_N; k++) {
        v->to_precision[k] = k > 95 ? NAN : 0.3 + k / 200.0;
        v->to_recall[k] = 1 - k / 100.0;
        v->to_flagged[k] = 1 - k / 100.0;
    }
    for (k = 0; k < MODEL_DECILES; k++) {
        v->cal_pred[k] = (k + 0.5) / 10;
        v->cal_obs[k] = k == 4 ? NAN : k / 10.0;
        v->cal_count[k] = k == 4 ? 0 : 10;
        v->lift[k] = k == 9 ? NAN : 2.0 / (k + 1);
        v->capture[k] = (k + 1) / 10.0;
    }
    for (k = 0; k < MODEL_HIST_BINS; k++) {
        v->hist_pos[k] = k;
        v->hist_neg[k] = 20 - k;
    }
    v->threshold = 0.3;
    v->tp = 20;
    v->fp = 10;
    v->tn = 60;
    v->fn = 10;
}

static void check_page(const char *h)
{
    static const char *const titles[] = {
        REPORT_T_ROC, REPORT_T_PR, REPORT_T_KS, REPORT_T_CAL, REPORT_T_HIST,
        REPORT_T_LIFT, REPORT_T_CONF, REPORT_T_TRADE, REPORT_T_COEF};
    static const char *const bad[] = {
        "<script", "<i>f1", "<b>id", "=\"nan", "=\"-nan", "=\"inf", "=\"-inf",
        "nan,", "inf,", " nan ", "nan%", ">nan", "(nan", ">-nan", ">inf"};
    char want[128];
    size_t i;

    for (i = 0; i < sizeof titles / sizeof *titles; i++) {
        snprintf(want, sizeof want, "<title>%s</title>", titles[i]);
        assert_non_null(strstr(h, want));
    }
    for (i = 0; i < sizeof bad / sizeof *bad; i++)
        if (strstr(h, bad[i])) {
            print_error("found \"%s\" near \"%.80s\"\n", bad[i], strstr(h, bad[i]));
            fail();
        }
    assert_non_null(strstr(h, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
    assert_non_null(strstr(h, "&lt;i&gt;f1&lt;/i&gt;"));
    assert_non_null(strstr(h, "</html>"));
}

static void test_no_evaluation(void **state)
{
    model m;
    char *h;

    (void)state;
    make_model(&m);
    h = report_html(&m, NULL);
    check_page(h);
    assert_non_null(strstr(h, "not recorded in this model</text>"));
    free(h);
    model_free(&m);
}

static void test_with_evaluation(void **state)
{
    model m;
    report_run run = {"2024-02-01 10:00:00 UTC", 1234, 56, 7, "ok"};
    report_opts o = {"today", &run, 1, 0};
    char *h;

    (void)state;
    make_model(&m);
    fill_eval(&m.eval);
    h = report_html(&m, &o);
    check_page(h);
    assert_null(strstr(h, "not recorded in this model</text>"));
    assert_non_null(strstr(h, "<td class=\"n\">1234</td>"));
    assert_non_null(strstr(h, "<polyline class=\"s1\" points=\""));
    free(h);
    model_free(&m);
}

static void test_write(void **state)
{
    char dir[] = "/tmp/rp-report-XXXXXX", path[64], bad[96];
    model m;
    rp_err e;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.html", dir);
    snprintf(bad, sizeof bad, "%s/missing/r.html", dir);
    make_model(&m);
    assert_int_equal(report_write(&m, NULL, path, &e), RP_OK);
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(report_write(&m, NULL, bad, &e), RP_EINTERNAL);
    assert_non_null(strstr(e.msg, "could not write report"));
    assert_non_null(strstr(e.msg, bad));
    f = fopen(path, "r");
    assert_non_null(f);
    fclose(f);
    unlink(path);
    rmdir(dir);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_evaluation),
        cmocka_unit_test(test_with_evaluation),
        cmocka_unit_test(test_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
