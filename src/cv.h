/*
 * cv.h - model selection: stratified K-fold cross-validation and the
 * choice of C from a grid by CV log loss (--cv K, --C auto).  No database
 * access; the only output besides the results is the optional testing
 * dump (cv_opts.dump_dir).
 *
 * Protocol, per fold f of K: the encoder and scaler (enc_fit) and the
 * model (lr_train) are fitted on the rows outside fold f and measured on
 * fold f, exactly as the train/test evaluation does, so no statistic of a
 * validation row leaks into its own prediction.  Metrics are unweighted
 * (each customer counts once) whatever the training weights.
 */
#ifndef RP_CV_H
#define RP_CV_H

#include <stddef.h>

#include "dataset.h"
#include "features.h"
#include "model.h"
#include "util/err.h"

#define CV_DEFAULT_FOLDS 5
#define CV_GRID_DEFAULT_N 13   /* 10^-3, 10^-2.5, ..., 10^3 */

typedef struct cv_opts {
    int k;                   /* folds, 2..MODEL_CV_MAX_FOLDS */
    long seed;               /* fold assignment seed */
    int min_count;           /* enc_fit's rare-level threshold */
    int balanced;            /* class_weight balanced, per fold */
    const double *weight;    /* per dataset row (d->n), or NULL: all 1 */
    const char *dump_dir;    /* testing aid, or NULL: writes folds.csv
                                (customer_id,label,fold) and, per fold f,
                                fold<f>_train.csv / fold<f>_valid.csv (the
                                standardised matrix, label, weight; %.17g) */
} cv_opts;

/*
 * The weights a fit uses for rows[0..n) with labels y: the weight column
 * (w per dataset row, may be NULL) times, when balanced, scikit-learn's
 * n / (2 n_class) computed from the unweighted class counts of these rows.
 * NULL when w is NULL and balanced is 0 (every weight 1).  Caller frees.
 */
double *cv_weights(const double *w, const size_t *rows, const double *y,
                   size_t n, int balanced);

/*
 * Stratified fold of each of n rows with labels y: fold[i] in [0, k).
 * Each class is shuffled (seeded, private PRNG) and dealt round-robin,
 * the second class continuing where the first stopped, so fold sizes, and
 * each class's count per fold, differ by at most one.
 */
void cv_assign(const double *y, size_t n, int k, long seed, int *fold);

/* The default --C auto grid: CV_GRID_DEFAULT_N values into grid. */
void cv_default_grid(double *grid);

/*
 * Cross-validates every C of grid[0..ng) (1 <= ng <= MODEL_GRID_MAX) on
 * the labelled rows rows[0..n) of d (q describes d's columns), with one
 * fold assignment and one encoding per fold shared by all C.  *cv
 * receives the results of the C with the lowest mean log loss (ties: the
 * smaller C, i.e. the stronger penalty); when g is not NULL it receives
 * the whole grid and that choice.  RP_EDATA when a fold is too small
 * (K larger than a class), or a fold's fit fails (the message says which
 * fold and C).
 */
int cv_run(const dataset *d, const feat_query *q, const size_t *rows,
           size_t n, const double *grid, int ng, const cv_opts *o,
           model_cv *cv, model_cgrid *g, rp_err *e);

#endif
