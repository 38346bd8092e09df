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

#endif
