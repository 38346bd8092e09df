/*
 * threshold.h - decision-threshold policies: how the cut-off on the
 * probability is chosen from held-out scores.  No I/O.
 *
 * Rule everywhere: a customer is flagged (predicted high-risk) when
 * probability >= threshold.  Every policy but "fixed" returns one of the
 * distinct held-out scores, or 1 for "flag nobody" (cost only), so the
 * held-out confusion matrix at the returned threshold is exactly the one
 * the policy optimised.  Counts below are on the held-out rows; P is the
 * number of positives there, n the number of rows.
 *
 *   f1            the threshold with the highest F1 (ties: the higher
 *                 threshold); met_best_f1_threshold
 *   recall=R      the HIGHEST threshold whose recall tp / P >= R
 *                 (0 < R <= 1): the fewest flags that still catch R of the
 *                 high-risk customers.  Always exists (the lowest score
 *                 gives recall 1).
 *   precision=Q   the LOWEST threshold whose precision tp / (tp + fp) >= Q
 *                 (0 < Q <= 1): as many flags as possible while at least Q
 *                 of them are right.  RP_EDATA when no threshold reaches Q.
 *   top=X%        flag the X% highest scores (0 < X <= 100): with
 *                 k = ceil(X/100 * n) (at least 1), the k-th highest score.
 *                 Customers tied with it are flagged too, so the flagged
 *                 share can exceed X% when scores tie.
 *   cost=A:B      minimise A * FN + B * FP (A, B > 0: the cost of a missed
 *                 high-risk customer and of a false alarm).  Candidates are
 *                 the distinct scores and "flag nobody" (threshold 1, cost
 *                 A * P); ties go to the higher threshold (fewer flags).
 *   fixed         --threshold X: X itself.
 *
 * Why on held-out data: a threshold chosen on the rows the model was
 * fitted on would be optimistic (the scores there are too confident).
 */
#ifndef RP_THRESHOLD_H
#define RP_THRESHOLD_H

#include <stddef.h>

#include "util/err.h"

enum { THR_F1 = 0, THR_RECALL, THR_PRECISION, THR_TOP, THR_COST, THR_FIXED };

/* A parsed policy.  a: R, Q, X (in percent), A, or the fixed threshold;
 * b: B for cost, else 0. */
typedef struct thr_policy {
    int kind;       /* THR_* */
    double a, b;
} thr_policy;

/* The default: THR_F1. */
thr_policy thr_policy_default(void);

/*
 * Parses "f1", "recall=0.8", "precision=0.5", "top=2%" (the % sign is
 * optional), "cost=10:1".  RP_EUSAGE naming --threshold-policy and the
 * accepted forms on a bad value.
 */
int thr_policy_parse(const char *text, thr_policy *p, rp_err *e);

/* The canonical text of p ("recall=0.8", "top=2%", "cost=10:1", "fixed"),
 * at most size - 1 bytes, into buf (what the model file records). */
void thr_policy_name(const thr_policy *p, char *buf, size_t size);

/*
 * The threshold p picks for held-out labels y[n] (0/1) and probabilities
 * s[n], into *thr.  RP_EDATA when the held-out rows cannot support the
 * policy: n == 0, no positive (every policy but fixed and top), or a
 * precision target that no threshold reaches (the message gives the best
 * precision there is).
 */
int thr_choose(const thr_policy *p, const double *y, const double *s,
               size_t n, double *thr, rp_err *e);

#endif
