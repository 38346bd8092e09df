/*
 * logreg.h - L2-regularised logistic regression by Newton's method, and the
 * inference statistics at the optimum.  No I/O of any kind.
 *
 * Objective (the scikit-learn convention, so results can be checked):
 *     f(b0, b) = sum_i w_i * logloss(y_i, b0 + x_i'b) + ||b||^2 / (2C)
 * The intercept b0 is not penalised.  C = +Inf (or <= 0 meaning "none")
 * gives the unpenalised maximum-likelihood fit.
 *
 * X is column-major, n rows by p columns, leading dimension n (X[j*n + i])
 * unless lr_params.ld says otherwise.
 * y holds 0/1.  w may be NULL (all weights 1).
 */
#ifndef RP_LOGREG_H
#define RP_LOGREG_H

#include <stddef.h>

#include "util/err.h"

typedef struct lr_params {
    double C;          /* inverse penalty strength; INFINITY = no penalty */
    int max_iter;      /* Newton iterations (default 100) */
    double tol;        /* stop when ||gradient||_inf <= tol * max(1, W),
                          W the sum of weights, or when the squared Newton
                          decrement g'H^-1 g <= tol^2 * max(1, W); default
                          1e-10.  The rule is explained in logreg.c */
    const char *const *names; /* optional: the p column names, so that an
                          error about a column names it ("column 3
                          (\"age\")"); NULL (the default): numbers only */
    size_t ld;         /* leading dimension of X: column j starts at
                          X + j*ld, so the fit can use the first n rows of a
                          taller matrix; 0 (the default) means n */
    const double *init;/* optional starting point, p+1 values (intercept
                          first), e.g. a fit on a subset of the rows: Newton
                          then needs fewer steps.  Used only with a penalty
                          (the separation test of an unpenalised fit needs
                          the intercept-only start); NULL (the default):
                          the intercept-only model */
} lr_params;

/* Defaults: C = 1, max_iter = 100, tol = 1e-10, names = NULL, ld = 0,
 * init = NULL.  Passing par = NULL to
 * lr_train uses them. */
lr_params lr_params_default(void);

typedef struct lr_fit {
    size_t p;          /* number of coefficients besides the intercept */
    double intercept;
    double *beta;      /* p coefficients */
    /* inference: index 0 is the intercept, 1..p the coefficients */
    double *se;        /* p+1 standard errors: sqrt(diag(H^-1)) */
    double *cov;       /* (p+1)*(p+1) inverse of the (penalised) Hessian,
                          column-major */
    int iterations;
    double grad_norm;  /* ||gradient||_inf of the objective at the end */
    double objective;  /* f at the end */
    double loglik;     /* sum_i w_i log p(y_i), the unpenalised part */
    double loglik_null;/* same for the intercept-only model */
    double cond;       /* condition number estimate of the Hessian (1-norm) */
    int converged;
} lr_fit;

/*
 * Fits the model.  Returns RP_OK and fills *fit (the caller frees it with
 * lr_fit_free; on error *fit is zeroed and owns nothing, so freeing it is
 * harmless), or an error: RP_EDATA for n == 0, one class only, non-finite X, a label not
 * 0/1, a negative or non-finite weight, perfect separation without a
 * penalty (coefficients diverge), or a singular Hessian without a penalty
 * (a constant or collinear column: the message names it, counting columns
 * from 0); RP_EINTERNAL for a Hessian that is not positive definite in
 * spite of a penalty, a failed line search, no convergence within max_iter,
 * or invalid parameters.  The messages say which.  X may be NULL if p == 0.
 * On success fit->converged is 1 (a fit that did not converge is an error).
 */
int lr_train(const double *X, size_t n, size_t p, const double *y,
             const double *w, const lr_params *par, lr_fit *fit, rp_err *e);

void lr_fit_free(lr_fit *fit);

/* Log-odds b0 + x'b for each row of X (n x p column-major) into out[n]. */
void lr_decision(const lr_fit *fit, const double *X, size_t n, double *out);
/* The same for the n rows of a matrix with leading dimension ld >= n. */
void lr_decision_ld(const lr_fit *fit, const double *X, size_t ld, size_t n,
                    double *out);

/* Numerically safe logistic function 1/(1+exp(-z)). */
double lr_sigmoid(double z);

/* Two-sided p-value of a standard normal z statistic. */
double lr_pvalue(double z);

#endif
