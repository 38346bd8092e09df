/*
 * metrics.h - evaluation of scores against 0/1 labels.  No I/O.
 *
 * All functions take the labels y[n] (0/1; y[i] > 0.5 counts as positive)
 * and the predicted probabilities s[n]; ties in s are handled as
 * scikit-learn does (tied scores form one step of the ROC / PR curve).
 * Scores should be finite; a NaN score ranks below every number (this only
 * keeps the ordering well defined).  Nothing allocated here outlives a
 * call: the caller owns every array passed in or out.
 */
#ifndef RP_METRICS_H
#define RP_METRICS_H

#include <stddef.h>

/* Area under the ROC curve (Mann-Whitney, ties count one half).  NAN when
 * one class is absent. */
double met_roc_auc(const double *y, const double *s, size_t n);

/* Average precision (sklearn.metrics.average_precision_score): the sum over
 * distinct thresholds, highest first, of (R_k - R_{k-1}) * P_k.  0 when
 * there is no positive (scikit-learn warns and returns 0 too); NAN when
 * n == 0. */
double met_pr_auc(const double *y, const double *s, size_t n);

/* Mean log loss with probabilities clipped to [1e-15, 1-1e-15].  NAN when
 * n == 0. */
double met_log_loss(const double *y, const double *s, size_t n);

/* Mean squared error of the probability.  NAN when n == 0. */
double met_brier(const double *y, const double *s, size_t n);

/* Kolmogorov-Smirnov statistic: max over thresholds of TPR - FPR (rule
 * s >= thr).  If at_score is not NULL it receives the highest distinct score
 * where the maximum occurs.  NAN (and at_score NAN) when one class is
 * absent. */
double met_ks(const double *y, const double *s, size_t n, double *at_score);

/* Confusion matrix at a threshold: predicted positive when s >= thr.
 * accuracy = (tp+tn)/n, precision = tp/(tp+fp), recall = tp/(tp+fn),
 * f1 = 2tp/(2tp+fp+fn), each 0 when its denominator is 0. */
typedef struct met_confusion {
    size_t tp, fp, tn, fn;
    double accuracy, precision, recall, f1;  /* 0 when undefined */
} met_confusion;

met_confusion met_confusion_at(const double *y, const double *s, size_t n,
                               double thr);

/* The threshold (one of the distinct scores) that maximises F1 for the
 * rule s >= thr; ties broken towards the higher threshold.  Returns 0.5
 * when there is no positive. */
double met_best_f1_threshold(const double *y, const double *s, size_t n);

/* Calibration table.  The n rows are ranked by ascending score (ties by
 * row index, so the table is deterministic) and cut into nbins groups of
 * equal size (ranks floor(k*n/nbins) .. floor((k+1)*n/nbins) - 1 form bin
 * k, sizes differ by at most one; tied scores may straddle a boundary).
 * Bin 0 holds the lowest scores.  For each bin the caller's arrays of
 * nbins elements receive the mean predicted probability, the observed
 * positive rate and the row count; an empty bin (n < nbins) gets NAN, NAN
 * and 0.  Returns the number of non-empty bins.  nbins = 10 gives deciles. */
size_t met_calibration(const double *y, const double *s, size_t n,
                       size_t nbins, double *mean_pred, double *obs_rate,
                       size_t *count);

/* Lift by score bin, using the same bins as met_calibration but ordered
 * from the HIGHEST scores down (lift bin k is calibration bin nbins-1-k).
 * lift[k] = positive rate in bin k / overall positive rate;
 * capture[k] = share of all positives found in bins 0..k (cumulative gain).
 * Either output may be NULL.  Entries are NAN when there is no positive or
 * the bin is empty (capture stays defined for empty bins).  nbins = 10
 * gives deciles. */
void met_lift_by_decile(const double *y, const double *s, size_t n,
                        size_t nbins, double *lift, double *capture);

/* ------------------------------------------------------------------ */
/* Curves and tables for the evaluation report (issue 4)               */
/* ------------------------------------------------------------------ */

/*
 * The step list every ranking metric walks: one entry per distinct score,
 * highest first, with the counts of positives (tp) and negatives (fp)
 * scoring at or above it.  thr, tp and fp need room for n entries each
 * (any may be NULL); *np / *nn (may be NULL) receive the class totals.
 * Returns the number of steps (0 when n == 0).
 */
size_t met_steps(const double *y, const double *s, size_t n, double *thr,
                 size_t *tp, size_t *fp, size_t *np, size_t *nn);

/*
 * ROC AUC with its DeLong standard error (DeLong, DeLong and
 * Clarke-Pearson 1988; the fast form of Sun and Xu 2014): with
 * V10_i = (negatives below positive i + half those tied) / N for each
 * positive and V01_j = (positives above negative j + half those tied) / P
 * for each negative, Var(AUC) = S10 / P + S01 / N where S10 and S01 are
 * the sample variances (n - 1 denominator) of the V10 and V01.  *lo, *hi
 * receive the 95% interval AUC -/+ 1.959964 SE clipped to [0, 1].  Any
 * output pointer may be NULL.  Returns the AUC (equal to met_roc_auc);
 * NAN everywhere when a class is absent; SE and interval NAN when a class
 * has a single member (no variance to estimate).
 */
double met_roc_auc_ci(const double *y, const double *s, size_t n,
                      double *se, double *lo, double *hi);

/*
 * The ROC curve without dropping any point (scikit-learn's roc_curve with
 * drop_intermediate=False): (0, 0) with threshold +INFINITY, then one point
 * per distinct score, highest first.  fpr, tpr and thr need room for n + 1
 * entries.  Returns the number of points; 0 when a class is absent.
 */
size_t met_roc_points(const double *y, const double *s, size_t n,
                      double *fpr, double *tpr, double *thr);

/*
 * The precision-recall curve: one point per distinct score, highest first
 * (so recall is non-decreasing and the last point has recall 1), i.e.
 * scikit-learn's precision_recall_curve reversed and without its final
 * (recall 0, precision 1) point.  Arrays need room for n entries.  Returns
 * the number of points; 0 when there is no positive.
 */
size_t met_pr_points(const double *y, const double *s, size_t n,
                     double *recall, double *precision, double *thr);

/*
 * Thins a curve of n points (x[i], y[i], with a value t[i] carried along;
 * t may be NULL) to at most max points in place, keeping its shape: the
 * first and the last point always stay, and in between a point is kept
 * when the path length from the last kept point reaches an equal share of
 * the whole length (length measured in the x-y plane, so a curve's steep
 * and flat parts are sampled alike).  Returns the new count (n when
 * n <= max; max >= 2 is required for thinning, else n is returned).
 */
size_t met_thin_curve(double *x, double *y, double *t, size_t n, size_t max);

/*
 * Precision, recall and flagged share at each of nthr thresholds (rule
 * s >= thr[k]; thr must be ascending).  precision[k] is NAN when nothing
 * is flagged; recall[k] NAN when there is no positive; flagged[k] NAN when
 * n == 0.  Outputs may be NULL.
 */
void met_tradeoff(const double *y, const double *s, size_t n,
                  const double *thr, size_t nthr, double *precision,
                  double *recall, double *flagged);

/*
 * Score histogram by class on [0, 1] with nbins equal bins: bin
 * k = [k/nbins, (k+1)/nbins), the last bin also holds 1; scores below 0
 * count in bin 0, above 1 (or NaN) in the last.  pos[k] / neg[k] count
 * positive and negative rows.
 */
void met_histogram(const double *y, const double *s, size_t n, size_t nbins,
                   size_t *pos, size_t *neg);

#endif
