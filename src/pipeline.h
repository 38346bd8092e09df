/*
 * pipeline.h - the product's main job: train (features -> encode -> scale
 * -> fit -> evaluate -> model) and predict (features -> score -> reason
 * codes -> predictions table + CSV, atomically).
 *
 * `riskpipe run` calls pipe_train and then pipe_predict with the dataset
 * that training already read, so the feature query runs once.
 */
#ifndef RP_PIPELINE_H
#define RP_PIPELINE_H

#include <stddef.h>

#include "dataset.h"
#include "db.h"
#include "features.h"
#include "model.h"
#include "schema.h"
#include "util/err.h"

#define PIPE_REASONS 3   /* reason codes per customer */

typedef struct train_opts {
    int feature_set;          /* FEAT_DEFAULT or FEAT_SEED */
    const char *as_of;        /* NULL: the latest transaction_date */
    double label_threshold;   /* 0.7 */
    int top_k;                /* transaction categories with own features (10) */
    int min_count;            /* rarer city/account_type levels fold into other (20) */
    double C;                 /* 1.0; INFINITY = no penalty */
    int class_weight_balanced;
    double test_fraction;     /* 0.2 */
    long seed;                /* split seed (42) */
    double threshold;         /* NAN: choose by F1 on the test split */
    const char *model_path;   /* where to save the model file */
    int no_register;          /* 1: skip the riskpipe_models row */
    int activate;             /* 1: make it the registry's active model */
    const char *dump_matrix;  /* testing aid: write the final standardised
                                 matrix and labels as CSV */
} train_opts;

train_opts pipe_train_opts_default(void);

/*
 * Trains, evaluates and saves a model.  On success *m holds it; when d and
 * q are not NULL they receive the loaded dataset and its query (owned by
 * the caller: ds_free, feat_query_free) for a following pipe_predict.
 */
int pipe_train(db_conn *c, const rp_tables *t, const train_opts *o,
               model *m, dataset *d, feat_query *q, rp_err *e);

typedef struct predict_opts {
    const char *csv_path;     /* "predictions.csv" */
    const char *as_of;        /* NULL: the latest transaction_date */
    int no_db_write;          /* 1: CSV only */
    const char *command;      /* "predict" or "run", for riskpipe_runs */
} predict_opts;

typedef struct predict_summary {
    long scored, high_risk;
    size_t unseen;            /* text values not seen at training */
    long run_id;
    char scored_at[40];
} predict_summary;

/* Scores every customer with m (whose encoding is re-bound to the query).  d/q: a dataset already loaded with m's
 * feature query (from pipe_train), or NULL to run the query. */
int pipe_predict(db_conn *c, const rp_tables *t, model *m,
                 const predict_opts *o, const dataset *d, const feat_query *q,
                 predict_summary *out, rp_err *e);

/* Probabilities and top positive contributions for rows of X (n x p,
 * standardised).  prob[n]; reasons[n * PIPE_REASONS] receives design
 * column indices, -1 where fewer than PIPE_REASONS contribute positively.
 * No I/O: unit-testable. */
void pipe_score(const model *m, const double *X, size_t n, double *prob,
                int *reasons);

#endif
