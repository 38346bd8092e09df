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

#include "encode.h"
#include "features.h"
#include "util/err.h"

#define MODEL_FORMAT "riskpipe-model"
#define MODEL_FORMAT_VERSION 1

/* Held-out evaluation (the test split of the train/test fit). */
typedef struct model_metrics {
    long n, events;
    double roc_auc, pr_auc, log_loss, brier, ks, ks_score;
    double threshold;           /* decision threshold on the probability */
    long tp, fp, tn, fn;
    double accuracy, precision, recall, f1;
} model_metrics;

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

    double threshold;           /* probability >= threshold -> high risk */
    char threshold_policy[32];  /* "f1", "fixed" */

    model_metrics test;         /* evaluation on the held-out split */
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
 * file at path is unchanged and no temporary file is left.
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
