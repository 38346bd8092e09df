/*
 * evaluate.h - fills the model's evaluation record (model_eval in
 * model.h) from held-out labels and probabilities: curves, trade-off,
 * calibration, lift, histograms, DeLong interval, and the confusion
 * matrix at the chosen threshold.  No I/O; everything it computes comes
 * from metrics.h.
 */
#ifndef RP_EVALUATE_H
#define RP_EVALUATE_H

#include <stddef.h>

#include "model.h"

/*
 * Fills every field of *ev from y[n] (0/1) and s[n] (probabilities) and
 * the decision threshold thr chosen by the policy named policy (copied,
 * truncated to fit).  Overwrites *ev entirely; allocates nothing that
 * outlives the call.
 */
void eval_fill(const double *y, const double *s, size_t n, double thr,
               const char *policy, model_eval *ev);

#endif
