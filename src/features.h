/*
 * features.h - the per-customer feature set as SQL that PostgreSQL runs.
 *
 * features.c builds SQL text and never executes it (the callers run it
 * through db.c).  The query is aggregates grouped by customer_id and joins
 * on customer_id only, so it pushes down to the shards of a distributed
 * PostgreSQL.  Account and transaction aggregates are computed separately
 * and joined afterwards: a customer with three accounts never has their
 * transactions counted three times.  Money is summed as NUMERIC, which is
 * exact, so the result does not depend on the order in which a parallel
 * (or sharded) plan visits the rows: the same data give the same bits.
 */
#ifndef RP_FEATURES_H
#define RP_FEATURES_H

#include "db.h"
#include "schema.h"
#include "util/err.h"

enum { FEAT_DEFAULT = 0, FEAT_SEED = 1 };

/* What defines the feature set; stored in the model file. */
typedef struct feat_spec {
    int set;                 /* FEAT_DEFAULT or FEAT_SEED */
    char as_of[16];          /* YYYY-MM-DD: transactions on or before count */
    double label_threshold;  /* high_risk = max(risk_score) > threshold */
    int n_cats;              /* transaction categories with their own */
    char **cats;             /* count and sum features (top-K at training) */
    const char *weight_column; /* training only: a customers column the
                                  query also returns, last, as
                                  FEAT_WEIGHT_COL (float8); NULL = none.
                                  Borrowed, never freed, not stored in
                                  the model's features section */
} feat_spec;

#define FEAT_WEIGHT_COL "sample_weight"

/* One output column of the feature query (after customer_id and label). */
typedef struct feat_col {
    char *name;         /* SQL column name, e.g. "txn_sum_90d" */
    char *label;        /* plain words, e.g. "spend, last 90 days" */
    int categorical;    /* 1: text (one-hot encoded), 0: numeric */
    char *group;        /* missing-value group ("age", "accounts",
                           "transactions") or NULL when never missing */
} feat_col;

typedef struct feat_query {
    char *sql;          /* a SELECT: customer_id, label, then the columns;
                           ordered by customer_id */
    int ncols;
    feat_col *cols;
} feat_query;

/* The latest transaction_date (the default as-of date) into out
 * (YYYY-MM-DD).  RP_EDATA when there are no dated transactions. */
int feat_default_as_of(db_conn *c, const rp_tables *t, char out[16], rp_err *e);

/* The k most frequent transaction categories up to as_of (ties by name),
 * into spec->cats / spec->n_cats (replacing what was there). */
int feat_learn_categories(db_conn *c, const rp_tables *t, feat_spec *spec,
                          int k, rp_err *e);

/* feat_default_as_of into spec->as_of and feat_learn_categories, from one
 * scan of the transactions instead of two (what train does by default). */
int feat_learn_as_of_categories(db_conn *c, const rp_tables *t, feat_spec *spec,
                                int k, rp_err *e);

/* Builds the feature query for spec.  Free with feat_query_free. */
int feat_build(db_conn *c, const rp_tables *t, const feat_spec *spec,
               feat_query *out, rp_err *e);

/*
 * feat_build with two choices, for SQL that runs inside the database
 * (sqlscore.c): asof_sql, when not NULL, is an SQL expression of type date
 * used in place of spec->as_of (e.g. "$1", a function's parameter; the
 * caller vouches for it: it is pasted, not quoted); ordered = 0 leaves out
 * the final ORDER BY customer_id, which an INSERT ... SELECT does not need
 * and which would sort every feature row.  c may be NULL (db_quote_*).
 */
int feat_build_ex(db_conn *c, const rp_tables *t, const feat_spec *spec,
                  const char *asof_sql, int ordered, feat_query *out,
                  rp_err *e);

/* The column name the query gives category idx's (0-based, as in
 * spec->cats) feature `what` ("count" or "sum"), e.g. "cat_food_1_sum".
 * Caller frees.  fastfeat.c finds the columns it fills by these names. */
char *feat_cat_col_name(const char *cat, int idx, const char *what);

void feat_query_free(feat_query *q);
void feat_spec_free(feat_spec *s);   /* frees cats */
/* Deep copy. */
void feat_spec_copy(feat_spec *dst, const feat_spec *src);

/* "default" / "seed" and back; -1 when unknown. */
const char *feat_set_name(int set);
int feat_set_parse(const char *name);

#endif
