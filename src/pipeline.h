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
#include "fastfeat.h"
#include "features.h"
#include "model.h"
#include "schema.h"
#include "threshold.h"
#include "util/err.h"

#define PIPE_REASONS 4   /* reason codes per customer (= EXPL_REASONS) */

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
    /* model selection and the threshold (cv.h, threshold.h) */
    int cv_folds;             /* --cv K; 0: no cross-validation */
    int C_auto;               /* --C auto: choose C by CV log loss */
    thr_policy policy;        /* --threshold-policy (f1); a non-NAN
                                 threshold overrides it ("fixed") */
    const char *weight_column;/* --weight-column: customers column, or NULL */
    const char *dump_cv;      /* testing aid (--dump-cv DIR): the folds'
                                 files of cv_opts.dump_dir, and
                                 heldout.csv (y,score of the test split) */
    ff_opts features;         /* --features-path, --feature-connections */
    const char *dump_features;/* testing aid: the dataset's columns (ds_dump) */
} train_opts;

train_opts pipe_train_opts_default(void);

/*
 * What pipe_train read and computed that `run` hands to pipe_predict, so
 * that nothing is done twice: the dataset and its feature query, and every
 * customer's probability and reason codes (computed for the drift
 * reference with the arithmetic predict uses, so they are the same bits).
 */
typedef struct pipe_data {
    dataset d;
    feat_query q;
    double *prob;      /* d.n probabilities */
    int *reasons;      /* d.n * PIPE_REASONS, as pipe_score gives them */
    size_t unseen;     /* text values the encoder did not see (enc_apply) */
} pipe_data;

void pipe_data_free(pipe_data *pd);

/*
 * Trains, evaluates and saves a model.  On success *m holds it; when pd is
 * not NULL it receives the data for a following pipe_predict (the caller
 * frees it with pipe_data_free; on failure it owns nothing).
 */
int pipe_train(db_conn *c, const rp_tables *t, const train_opts *o,
               model *m, pipe_data *pd, rp_err *e);

/* The plan of the feature query that pipe_train would run with o (EXPLAIN
 * VERBOSE: on a sharded PostgreSQL it shows the SQL each shard runs), into
 * *plan (caller frees).  Reads the as-of date and categories, no rows. */
int pipe_train_explain(db_conn *c, const rp_tables *t, const train_opts *o,
                       char **plan, rp_err *e);

typedef struct predict_opts {
    const char *csv_path;     /* "predictions.csv" */
    const char *as_of;        /* NULL: the latest transaction_date */
    int no_db_write;          /* 1: CSV only */
    const char *command;      /* "predict" or "run", for riskpipe_runs */
    int in_database;          /* 1: the server scores (sqlscore.h) into the
                                 table; no CSV, no row leaves the server */
    const rp_tables *inputs;  /* read the customers from these tables
                                 (predict --from-csv: the loaded files in
                                 pg_temp); NULL: from t */
    long rejected;            /* with inputs: rows the loader rejected, for
                                 riskpipe_runs.rows_rejected */
    ff_opts features;         /* --features-path, --feature-connections */
} predict_opts;

typedef struct predict_summary {
    long scored, high_risk;
    size_t unseen;            /* text values not seen at training */
    long run_id;
    char scored_at[40];
} predict_summary;

/* Scores every customer with m (whose encoding is re-bound to the query).
 * pd: what pipe_train loaded and scored with m, or NULL to run the feature
 * query and score here. */
int pipe_predict(db_conn *c, const rp_tables *t, model *m,
                 const predict_opts *o, const pipe_data *pd,
                 predict_summary *out, rp_err *e);

/* Probabilities and top positive contributions for rows of X (n x p,
 * standardised).  prob[n]; reasons[n * PIPE_REASONS] receives design
 * column indices for the rows predicted high-risk (prob >= threshold),
 * ranked by expl_reasons (contribution above the population's average),
 * -1 where there are fewer and for every low-risk row.
 * No I/O: unit-testable. */
void pipe_score(const model *m, const double *X, size_t n, double *prob,
                int *reasons);

#endif
