/*
 * explain.h - what a risk team asks of a model: the coefficient table with
 * its inference, fit diagnostics with warnings, one customer's
 * contributions to the log-odds, and reason codes; plus the training-time
 * diagnostics those need (variance inflation factors, the population's
 * average contributions, a summary of the training data), which train.c
 * stores in the model (model_diag).
 *
 * Everything but expl_customer_load is pure computation on a model and
 * arrays: no I/O, no printing (cmd_explain.c prints).
 *
 * Conventions.  Design column j (0..p-1) is m->enc.cols[j]; index -1 is
 * the intercept.  Coefficients are per standard deviation of the feature
 * (the design matrix is standardised); standard errors are the square
 * roots of the diagonal of the inverse of the *penalised* Hessian at the
 * optimum (the L2 penalty's curvature included), which for C = inf is the
 * usual maximum-likelihood inverse information.
 */
#ifndef RP_EXPLAIN_H
#define RP_EXPLAIN_H

#include <stddef.h>

#include "dataset.h"
#include "db.h"
#include "features.h"
#include "model.h"
#include "schema.h"
#include "util/err.h"

/* Principal reasons per adverse decision (the US Regulation B practice:
 * "no more than four"). */
#define EXPL_REASONS 4

/*
 * Warning rules (documented in the man page):
 *  - near-separation: some |standardised coefficient| > EXPL_BETA_WARN (an
 *    odds ratio beyond e^10 per standard deviation), or more than
 *    EXPL_EXTREME_SHARE of the training rows have a fitted probability
 *    below EXPL_EXTREME_P or above 1 - EXPL_EXTREME_P;
 *  - near-collinearity: some variance inflation factor > EXPL_VIF_WARN
 *    (the usual rule of thumb); VIF >= EXPL_VIF_EXACT means exactly
 *    collinear;
 *  - non-convergence: the gradient norm is not finite or exceeds
 *    EXPL_GRAD_WARN times the number of observations (the solver stops at
 *    1e-10 times it), or the solver used all EXPL_MAX_ITER iterations.
 */
#define EXPL_BETA_WARN 10.0
#define EXPL_EXTREME_P 1e-6
#define EXPL_EXTREME_SHARE 0.01
#define EXPL_VIF_WARN 10.0
#define EXPL_VIF_EXACT 1e12
#define EXPL_GRAD_WARN 1e-6
#define EXPL_MAX_ITER 100

/* Two-sided 95% normal quantile. */
#define EXPL_Z975 1.959963984540054

/* One row of the coefficient table. */
typedef struct expl_coef {
    int j;                  /* design column, -1 for the intercept */
    const char *name;       /* raw column name, "(intercept)"; points into m */
    const char *label;      /* plain words (the name when there is none) */
    double est, se, z, p;   /* p: two-sided, normal */
    double lo, hi;          /* 95% CI of the estimate: est -/+ 1.96 se */
    double odds, odds_lo, odds_hi;   /* exp of est, lo, hi */
    double est_orig;        /* per unit of the original feature */
    double vif;             /* NAN when not recorded, or for the intercept */
} expl_coef;

/* Row j (-1: the intercept) of m's coefficient table. */
void expl_coef_row(const model *m, int j, expl_coef *out);

#define EXPL_WORST_VIF 5

/* Fit statistics and the warnings of the rules above. */
typedef struct expl_fit {
    long n, events;             /* observations and events of the refit */
    int k;                      /* parameters: p + 1 */
    double loglik, loglik_null; /* weighted when the classes were weighted */
    double mcfadden;            /* 1 - loglik / loglik_null */
    double aic, bic;            /* 2k - 2 LL, k ln n - 2 LL */
    double edf;                 /* effective degrees of freedom of the
                                   penalised fit: tr(H_pen^-1 H) =
                                   k - (1/C) sum_j se_j^2; k when C = inf */
    double aic_edf;             /* 2 edf - 2 LL */
    int penalised;              /* C finite */

    int warn_convergence;
    int warn_separation;
    int max_beta_col;           /* column with the largest |beta|, or -1 */
    double max_abs_beta;
    long n_extreme;             /* -1 when not recorded */
    double extreme_share;       /* n_extreme / n, NAN when not recorded */
    int warn_collinearity;
    int n_high_vif;             /* columns with VIF > EXPL_VIF_WARN */
    int n_worst;                /* columns in worst[] (largest VIF first) */
    int worst[EXPL_WORST_VIF];
    int have_vif;               /* the model recorded VIFs */
} expl_fit;

void expl_fit_summary(const model *m, expl_fit *out);

/*
 * Training time: from the standardised design X (n x p, column-major) of
 * the refit and its coefficients, fills d->vif (diag of the inverse
 * correlation matrix of the design columns, by a symmetric eigen-
 * decomposition so that an exactly collinear set gets a huge finite VIF
 * instead of a failure), d->corr_cond, d->contrib_mean (mean over the
 * rows of beta_j * x_j) and d->n_extreme.  Replaces what d held in those.
 * RP_EINTERNAL when LAPACK fails (it does not on a finite matrix).
 */
int expl_design_diag(const double *X, size_t n, int p, double intercept,
                     const double *beta, model_diag *d, rp_err *e);
/* Its two halves: the VIFs and d->corr_cond need X alone (train.c computes
 * them while the model is fitted); d->contrib_mean and d->n_extreme need
 * the coefficients too. */
int expl_design_vif(const double *X, size_t n, int p, model_diag *d, rp_err *e);
void expl_design_fit(const double *X, size_t n, int p, double intercept,
                     const double *beta, model_diag *d);

/* Training time: the data summary of d (loaded with q): per-column missing
 * counts and distinct text values, the fingerprint (FNV-1a 64 over ids,
 * labels and values in row order, so the same data give the same
 * fingerprint) and the count of non-finite values read as missing. */
void expl_data_diag(const dataset *d, const feat_query *q, model_diag *out);

/*
 * Reason codes for one scored row: x points at the row's value of design
 * column 0 and column j sits at x[j * stride].  Ranks the columns by how
 * far the row's contribution beta_j * x_j lies above the population's
 * average contribution (m->diag.contrib_mean, 0 when not recorded) and
 * writes up to EXPL_REASONS design columns with a positive excess,
 * largest first, to out (-1 fills the rest).  Returns how many.  The
 * caller decides whether the decision is adverse (no reasons otherwise).
 */
int expl_reasons(const model *m, const double *x, size_t stride, int *out);

/*
 * The reason text of design column j: what makes a customer's
 * contribution above average, in plain words.  It depends only on the
 * column and the sign of its coefficient: with beta_j > 0 an above-average
 * contribution means an above-average value, so "<label>: high" (numeric)
 * or the label itself (an indicator: "city: Oslo", "no transactions");
 * with beta_j < 0, "<label>: low" or the indicator's negation ("city: not
 * Oslo", "has transactions").  Caller frees.
 */
char *expl_reason_text(const model *m, int j);

/* One design column's part in a customer's score. */
typedef struct expl_term {
    int j;                  /* design column */
    double x;               /* standardised value */
    double contrib;         /* beta_j * x */
    double avg_contrib;     /* the population's average contribution */
    double value;           /* original scale: the feature's value (the
                               imputed median when missing), 0/1 for an
                               indicator */
    int missing;            /* numeric: the value was NULL (imputed) */
    char *text;             /* level/other columns: the customer's text
                               value, NULL when missing */
    double avg;             /* training mean of the feature (share of
                               rows for an indicator) */
} expl_term;

typedef struct expl_customer {
    long long id;
    char as_of[16];         /* features computed as of this date */
    double logit, prob;
    int high_risk;          /* prob >= m->threshold */
    size_t unseen;          /* text values not seen at training */
    int p;
    expl_term *terms;       /* p, by contribution, largest first */
    int n_reasons;          /* 0 when not high-risk */
    int reasons[EXPL_REASONS];  /* design columns */
} expl_customer;

/*
 * Runs m's feature query for one customer (customer_id = id, as a
 * literal; as_of NULL: the latest transaction_date, as predict does),
 * scores it exactly as predict does, and fills *out (free with
 * expl_customer_free).  m's encoding is bound to the query.  RP_EDATA
 * when the customer is not in the customers table.
 */
int expl_customer_load(db_conn *c, const rp_tables *t, model *m,
                       long long id, const char *as_of, expl_customer *out,
                       rp_err *e);

/*
 * The scoring half of expl_customer_load, for a row already encoded: x is
 * the standardised design row (x[j * stride]).  Fills logit, prob,
 * high_risk, terms (contributions; value/text/missing left for the
 * caller) and reasons.  out->terms is allocated here.
 */
void expl_customer_score(const model *m, const double *x, size_t stride,
                         expl_customer *out);

/* Frees what out owns and zeroes it; accepts NULL. */
void expl_customer_free(expl_customer *out);

#endif
