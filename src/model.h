/*
 * model.h - a trained model and its file.
 *
 * The file is self-describing JSON (docs/model-format.md): format version,
 * riskpipe version, creation time, the training data's as-of date and row
 * counts, the full feature specification (set, categories, label
 * threshold, the feature SQL for the record), the encoding (levels,
 * imputation values, scaling), coefficients on the scaled and the original
 * scale with their standard errors, the threshold, hyper-parameters, test
 * metrics and a checksum over everything else.
 *
 * Loading is strict: a file that is truncated, not JSON, edited (checksum
 * mismatch), of another format version, or missing a field is refused with
 * a message naming the file and what is wrong (RP_EDATA).  Saving writes a
 * temporary file in the same folder, fsyncs it and renames it, so the old
 * model survives any failure.
 */
#ifndef RP_MODEL_H
#define RP_MODEL_H

#include <stddef.h>

#include "drift.h"
#include "encode.h"
#include "features.h"
#include "util/err.h"

#define MODEL_FORMAT "riskpipe-model"
#define MODEL_FORMAT_VERSION 2   /* 2: evaluation, cross_validation, C_selection */

/* Held-out evaluation (the test split of the train/test fit). */
typedef struct model_metrics {
    long n, events;
    double roc_auc, pr_auc, log_loss, brier, ks, ks_score;
    double threshold;           /* decision threshold on the probability */
    long tp, fp, tn, fn;
    double accuracy, precision, recall, f1;
} model_metrics;

/* Sizes of the evaluation tables (fixed, so the struct owns no memory). */
#define MODEL_CURVE_MAX 200     /* ROC / PR points kept after downsampling */
#define MODEL_TRADEOFF_N 101    /* thresholds 0.00, 0.01, ..., 1.00 */
#define MODEL_DECILES 10        /* calibration and lift bins */
#define MODEL_HIST_BINS 20      /* score histogram bins on [0, 1] */
#define MODEL_CV_MAX_FOLDS 20   /* --cv K: 2 <= K <= this */
#define MODEL_GRID_MAX 32       /* --C auto: grid values */

/*
 * One point of a curve: ROC (x = false positive rate, y = true positive
 * rate) or PR (x = recall, y = precision).  thr is the score threshold
 * that gives it (rule: score >= thr); NAN for the ROC curve's (0, 0)
 * start, which no finite threshold gives.
 */
typedef struct model_point {
    double x, y, thr;
} model_point;

/*
 * What the report needs from the held-out (test) split, computed at
 * evaluation time by eval_fill (evaluate.h) from the test labels and the
 * train-split model's probabilities.  "evaluation" in the model file.
 * Undefined values (a rate with a zero denominator, a bin with no rows)
 * are NAN, written as null.
 */
typedef struct model_eval {
    long n, events;             /* test rows, positives among them */

    /* ranking quality */
    double roc_auc;
    double roc_auc_se;          /* DeLong standard error */
    double roc_auc_lo, roc_auc_hi; /* 95% CI: auc -/+ 1.96 se, clipped to [0,1] */
    double gini;                /* 2 AUC - 1 */
    double pr_auc;              /* average precision */
    double ks, ks_score;        /* max TPR - FPR, and the score where it is */
    double brier;

    /* ROC: from (0,0) to (1,1), FPR non-decreasing.  PR: one point per
     * distinct score, highest score (lowest recall) first, recall
     * non-decreasing, ending at recall 1.  At most MODEL_CURVE_MAX points
     * each: longer curves are thinned by arc length, always keeping the
     * first and last point. */
    int n_roc, n_pr;
    model_point roc[MODEL_CURVE_MAX];
    model_point pr[MODEL_CURVE_MAX];

    /* trade-off at threshold t_k = k / 100 (rule score >= t_k):
     * precision (NAN when nothing is flagged), recall, flagged share */
    double to_precision[MODEL_TRADEOFF_N];
    double to_recall[MODEL_TRADEOFF_N];
    double to_flagged[MODEL_TRADEOFF_N];

    /* calibration by decile (met_calibration: bin 0 = lowest scores) */
    double cal_pred[MODEL_DECILES], cal_obs[MODEL_DECILES];
    long cal_count[MODEL_DECILES];
    /* lift by decile (met_lift_by_decile: bin 0 = HIGHEST scores) and
     * cumulative share of positives captured */
    double lift[MODEL_DECILES], capture[MODEL_DECILES];

    /* score histogram by class: bin k = [k/20, (k+1)/20), the last bin
     * also holds 1.0 */
    long hist_pos[MODEL_HIST_BINS], hist_neg[MODEL_HIST_BINS];

    /* the threshold policy and its result on the test split (the same
     * as model.threshold_policy / model.threshold / model.test) */
    char policy[32];            /* "f1", "recall=0.8", "precision=0.5",
                                   "top=2%", "cost=10:1", "fixed" */
    double threshold;
    long tp, fp, tn, fn;
    double precision, recall, f1, flagged;  /* flagged = (tp+fp)/n */
} model_eval;

/* Mean and standard deviation (n - 1 denominator) over the folds, and
 * each fold's value. */
typedef struct model_cv_stat {
    double mean, sd;
    double fold[MODEL_CV_MAX_FOLDS];
} model_cv_stat;

/*
 * Stratified K-fold cross-validation on all labelled rows (cv.h): each
 * fold's encoder, scaler and model are fitted on the other folds and
 * measured on it.  "cross_validation" in the model file (null when k = 0).
 */
typedef struct model_cv {
    int k;                      /* folds; 0 = no cross-validation */
    long seed;                  /* seed of the fold assignment */
    double C;                   /* the C every fold was fitted with */
    long fold_n[MODEL_CV_MAX_FOLDS];       /* validation rows per fold */
    long fold_events[MODEL_CV_MAX_FOLDS];  /* positives among them */
    model_cv_stat roc_auc, pr_auc, log_loss, brier, ks;
} model_cv;

/* One C of the --C auto grid: CV results with the same folds. */
typedef struct model_grid_row {
    double C;
    double log_loss_mean, log_loss_sd;
    double roc_auc_mean, roc_auc_sd;
} model_grid_row;

/* --C auto: "C_selection" in the model file (null when n = 0). */
typedef struct model_cgrid {
    int n;                      /* grid values; 0 = C was given */
    int k;                      /* folds */
    int chosen;                 /* row with the lowest mean log loss */
    model_grid_row row[MODEL_GRID_MAX];
} model_cgrid;

/* One column of the feature query as the training data held it (all
 * n_customers rows): the report's data summary. */
typedef struct model_featstat {
    char *name;                 /* feature query column, e.g. "txn_mean" */
    char *label;                /* plain words */
    int categorical;            /* 1: text */
    long missing;               /* rows where it was NULL (or NaN/Inf) */
    long levels;                /* text: distinct values seen; else 0 */
} model_featstat;

/*
 * Training-time diagnostics that explain and report read (explain.h
 * computes them).  "diagnostics" in the model file; optional there, so a
 * model written before them still loads, with vif == contrib_mean ==
 * feat == NULL (explain then says "not recorded" and reason codes rank
 * against an average contribution of 0).
 */
typedef struct model_diag {
    double *vif;                /* p: variance inflation factor of each
                                   design column over the refit's rows;
                                   NAN for a constant column; 1e12 or more
                                   for an exactly collinear one */
    double *contrib_mean;       /* p: mean of beta_j * x_j over the refit's
                                   rows (the population's average
                                   contribution, for reason codes) */
    double corr_cond;           /* condition number of the design columns'
                                   correlation matrix */
    long n_extreme;             /* refit rows whose fitted probability is
                                   below 1e-6 or above 1 - 1e-6 */
    long nonfinite;             /* NaN/Infinity feature values read as
                                   missing */
    char fingerprint[32];       /* "fnv1a64w:<16 hex>" over every feature row
                                   read at training (ids, labels, values) */
    int n_feat;
    model_featstat *feat;       /* n_feat feature query columns */
} model_diag;

typedef struct model {
    char model_id[64];          /* "rp-YYYYMMDD-HHMMSS-xxxxxxxx" */
    char created_at[40];        /* ISO 8601 UTC */
    char riskpipe_version[16];

    feat_spec feat;             /* the feature set, as-of date, categories */
    char *feature_sql;          /* the query, for the record (not executed) */

    long n_customers;           /* rows the feature query returned */
    long n_labelled, n_events;  /* labelled rows and positives among them */
    long n_train, n_test;       /* the evaluation split */
    double test_fraction;
    long split_seed;

    enc_spec enc;               /* encoding + scaling fitted on train */

    /* hyper-parameters */
    double C;                   /* INFINITY when unpenalised */
    int class_weight_balanced;
    int min_count;

    /* the deployed fit (refit on all labelled rows), scaled space */
    int p;                      /* == enc.p */
    double intercept;
    double *beta;               /* p */
    double *se;                 /* p + 1: intercept first */
    /* the same model on the original (unscaled) feature scale */
    double intercept_orig;
    double *beta_orig;          /* p */
    int iterations;
    double grad_norm, loglik, loglik_null, cond;
    model_diag diag;            /* training-time diagnostics (explain.h) */

    double threshold;           /* probability >= threshold -> high risk */
    char threshold_policy[32];  /* "f1", "fixed", or a policy of threshold.h */

    model_metrics test;         /* evaluation on the held-out split */
    model_eval eval;            /* curves and tables of the same split */
    model_cv cv;                /* --cv K (k = 0: not run) */
    model_cgrid cgrid;          /* --C auto (n = 0: C was given) */
    char weight_column[64];     /* --weight-column ("" = none) */
    model_drift drift;          /* reference distributions for the PSI at
                                   predict (drift.h); present = 0 when the
                                   file has no "drift_reference" */
} model;

/* Zeroes m (so model_free is safe on it). */
void model_init(model *m);
/* Frees everything m owns and zeroes it; accepts NULL and zeroed models. */
void model_free(model *m);

/*
 * The JSON text of m (pretty-printed, ending in a newline), with its
 * checksum.  Caller frees.  NULL when m cannot be written: a string that
 * is not valid UTF-8, an unknown feature set or column kind, or arrays
 * that do not match (p != enc.p, missing beta/se/beta_orig).
 */
char *model_to_json(const model *m);

/*
 * Parses and validates JSON text (need not be NUL-terminated).  origin is
 * the subject of every message, e.g. "model file \"x.json\"" or "model
 * registry row 3" (NULL: "model").  *m need not be initialised and its old
 * contents are not freed; on success the caller owns it (model_free), on
 * failure it is left zeroed and e says why (RP_EDATA).
 */
int model_from_json(const char *text, size_t len, const char *origin,
                    model *m, rp_err *e);

/*
 * Atomic save (temp file "<path>.tmp.<pid>" + fsync + rename), mode 0644
 * less the umask.  On failure (RP_EINTERNAL, strerror in the message) the
 * file at path is unchanged and no temporary file is left.  After a stop
 * signal (rp_interrupt, util/err.h) it refuses, the same way.
 */
int model_save(const model *m, const char *path, rp_err *e);

/* Strict load; RP_EDATA with the reason when the file is unusable, then
 * *m is zeroed.  Messages name the file as model file "PATH". */
int model_load(const char *path, model *m, rp_err *e);

/*
 * The checksum ("fnv1a64:<16 hex>") that a model file with this text
 * should carry: computed over the document without its "checksum" member
 * (docs/model-format.md).  NULL when text is not a JSON object.  Caller
 * frees.  For tools and tests that rewrite a file on purpose.
 */
char *model_json_checksum(const char *text, size_t len);

#endif
