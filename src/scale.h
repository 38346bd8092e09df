/*
 * scale.h - standardisation of a column-major matrix.  No I/O.
 *
 * Constant columns (sd == 0 in training) keep sd = 1: they become a
 * constant 0 after centring, harmless to the solver, instead of a division
 * by zero.  Means and standard deviations use a two-pass algorithm (mean
 * first, then squared deviations) for accuracy on large money columns.
 */
#ifndef RP_SCALE_H
#define RP_SCALE_H

#include <stddef.h>

/* Fits mean[j] and sd[j] (population sd, ddof = 0, as scikit-learn's
 * StandardScaler) for each of the p columns of X (n x p). */
void scale_fit(const double *X, size_t n, size_t p, double *mean, double *sd);

/* X[:, j] = (X[:, j] - mean[j]) / sd[j] in place. */
void scale_apply(double *X, size_t n, size_t p, const double *mean,
                 const double *sd);

#endif
