/*
 * evaluate.c - the held-out evaluation record behind the report.
 *
 * Purpose.  The report (and anyone reading the model file) must be able to
 * draw the ROC and PR curves, the calibration and lift charts, the score
 * distributions and the threshold trade-off without the data: so the
 * training run, which has the held-out scores in memory, stores them in
 * model_eval once.  The tables have fixed sizes (model.h), which keeps the
 * model file small and the struct free of pointers.
 *
 * Invariants.
 *  - Every number is computed by metrics.c, which is cross-checked against
 *    scikit-learn; this file only arranges and thins.
 *  - Curves keep their first and last point through the thinning, so a
 *    ROC curve still runs from (0, 0) to (1, 1).  The ROC start has the
 *    threshold +infinity in metrics.c and NAN here (null in the file,
 *    since JSON has no infinity).
 */
#include "evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util/mem.h"

/* Both curves, thinned to MODEL_CURVE_MAX points. */
static void fill_curves(const double *y, const double *s, size_t n, model_eval *ev)
{
    double *a = xmallocarray(n + 1, sizeof *a);
    double *b = xmallocarray(n + 1, sizeof *b);
    double *t = xmallocarray(n + 1, sizeof *t);
    size_t m, i;

    m = met_roc_points(y, s, n, a, b, t);
    m = met_thin_curve(a, b, t, m, MODEL_CURVE_MAX);
    for (i = 0; i < m; i++)
        ev->roc[i] = (model_point){ a[i], b[i], isfinite(t[i]) ? t[i] : NAN };
    ev->n_roc = (int)m;
    m = met_pr_points(y, s, n, a, b, t);
    m = met_thin_curve(a, b, t, m, MODEL_CURVE_MAX);
    for (i = 0; i < m; i++)
        ev->pr[i] = (model_point){ a[i], b[i], t[i] };
    ev->n_pr = (int)m;
    free(a);
    free(b);
    free(t);
}

/* Trade-off, calibration, lift and histograms: the fixed-size tables. */
static void fill_tables(const double *y, const double *s, size_t n, model_eval *ev)
{
    double thr[MODEL_TRADEOFF_N];
    size_t cnt[MODEL_DECILES], pos[MODEL_HIST_BINS], neg[MODEL_HIST_BINS];
    int k;

    for (k = 0; k < MODEL_TRADEOFF_N; k++)
        thr[k] = k / (double)(MODEL_TRADEOFF_N - 1);
    met_tradeoff(y, s, n, thr, MODEL_TRADEOFF_N, ev->to_precision,
                 ev->to_recall, ev->to_flagged);
    met_calibration(y, s, n, MODEL_DECILES, ev->cal_pred, ev->cal_obs, cnt);
    met_lift_by_decile(y, s, n, MODEL_DECILES, ev->lift, ev->capture);
    met_histogram(y, s, n, MODEL_HIST_BINS, pos, neg);
    for (k = 0; k < MODEL_DECILES; k++)
        ev->cal_count[k] = (long)cnt[k];
    for (k = 0; k < MODEL_HIST_BINS; k++) {
        ev->hist_pos[k] = (long)pos[k];
        ev->hist_neg[k] = (long)neg[k];
    }
}

void eval_fill(const double *y, const double *s, size_t n, double thr,
               const char *policy, model_eval *ev)
{
    met_confusion cm;
    size_t i;

    memset(ev, 0, sizeof *ev);
    ev->n = (long)n;
    for (i = 0; i < n; i++)
        ev->events += y[i] > 0.5;
    ev->roc_auc = met_roc_auc_ci(y, s, n, &ev->roc_auc_se, &ev->roc_auc_lo,
                                 &ev->roc_auc_hi);
    ev->gini = 2.0 * ev->roc_auc - 1.0;
    ev->pr_auc = met_pr_auc(y, s, n);
    ev->ks = met_ks(y, s, n, &ev->ks_score);
    ev->brier = met_brier(y, s, n);
    fill_curves(y, s, n, ev);
    fill_tables(y, s, n, ev);
    snprintf(ev->policy, sizeof ev->policy, "%s", policy);
    ev->threshold = thr;
    cm = met_confusion_at(y, s, n, thr);
    ev->tp = (long)cm.tp;
    ev->fp = (long)cm.fp;
    ev->tn = (long)cm.tn;
    ev->fn = (long)cm.fn;
    ev->precision = cm.tp + cm.fp ? cm.precision : NAN;
    ev->recall = cm.tp + cm.fn ? cm.recall : NAN;
    ev->f1 = cm.f1;
    ev->flagged = n ? (double)(cm.tp + cm.fp) / (double)n : NAN;
}
