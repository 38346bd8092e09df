/*
 * encode.h - from a dataset to the design matrix the solver sees:
 * one-hot encoding of text columns, median imputation with missing
 * indicators, and standardisation.  Fitted on the training rows only; the
 * fitted enc_spec is stored in the model and applied unchanged at scoring.
 *
 * Design columns, in order:
 *   ENC_NUMERIC  a numeric feature column; missing -> training median
 *   ENC_LEVEL    1 when a text column equals `level`
 *   ENC_OTHER    1 when a text column holds a value that is not one of the
 *                kept levels (rare at training, unseen at scoring, NULL)
 *   ENC_MISSING  1 when the row is missing the group `group` (e.g. a
 *                customer with no transactions)
 * For each text column the most frequent kept level is the reference and
 * gets no column (so the intercept stays identifiable without a penalty).
 * Levels seen fewer than min_count times in training fold into "other";
 * "other" gets a column only when some training row falls in it - else an
 * unseen value at scoring is encoded like the reference level.  A missing
 * indicator exists only for groups missing in some training row.
 */
#ifndef RP_ENCODE_H
#define RP_ENCODE_H

#include <stddef.h>

#include "dataset.h"
#include "features.h"
#include "util/err.h"

enum { ENC_NUMERIC = 0, ENC_LEVEL = 1, ENC_OTHER = 2, ENC_MISSING = 3 };

typedef struct enc_col {
    char *name;      /* "age", "city=Oslo", "city=other", "missing:transactions" */
    char *label;     /* plain words for reports */
    int kind;        /* ENC_* */
    char *source;    /* feature column name (NULL for ENC_MISSING) */
    char *level;     /* ENC_LEVEL: the text value */
    char *group;     /* ENC_MISSING: the group */
    double impute;   /* ENC_NUMERIC: training median */
    double mean, sd; /* standardisation: (x - mean) / sd; sd = 1 when the
                        column is constant in training */
    int src;         /* index of source in the bound feat_query, or -1;
                        set by enc_fit / enc_bind, not stored */
    int miss;        /* ENC_NUMERIC: index of the ENC_MISSING design column
                        that a missing value of this column sets, or -1
                        (-1 for other kinds); set by enc_fit / enc_bind from
                        the feat_query's groups, not stored */
} enc_col;

typedef struct enc_spec {
    int p;           /* design columns */
    enc_col *cols;
    int min_count;   /* rare-level threshold used at fit */
    char **ref_levels;  /* per text source, the reference level (n_ref) */
    char **ref_sources; /* a text source whose training values were all
                           NULL or rare has no reference and no entry */
    int n_ref;
} enc_spec;

/* Fits encoding, imputation and scaling on the rows `rows[0..nrows)` of d
 * (the training split; rows == NULL means all rows, nrows == d->n).  q
 * describes d's columns.  The result is bound to q (no enc_bind needed).
 * On success *out owns everything (free with enc_spec_free); on error *out
 * is zeroed.  RP_EDATA when there are no training rows; RP_EINTERNAL when
 * d and q disagree. */
int enc_fit(const dataset *d, const feat_query *q, const size_t *rows,
            size_t nrows, int min_count, enc_spec *out, rp_err *e);

/* Resolves each column's source against q (after loading a model).  Sets
 * every column's src and miss and nothing else, and allocates nothing, so
 * binding a copy of the spec that shares everything but `cols` is safe.
 * RP_EDATA naming the column when q lacks it or has it with the other type
 * (text vs numeric), when q has no numeric column in a missing-value group
 * the model uses, or when the spec itself is malformed (e.g. an sd that is
 * not positive, a text column's design columns not contiguous). */
int enc_bind(enc_spec *s, const feat_query *q, rp_err *e);

/*
 * The standardised design matrix for rows[0..nrows) of d (rows == NULL
 * means all rows in order): nrows x p, column-major, leading dimension
 * nrows.  Caller frees.  *unseen (may be NULL) receives how many text
 * values were not among the training levels (neither the reference nor a
 * kept level, so a level that was rare at training counts too; NULL is
 * missing, not unseen; a text column that kept a single level and had no
 * "other" has no design column and is not counted).  s must be bound
 * (enc_fit or enc_bind) to the feat_query that d was loaded with.
 */
double *enc_apply(const enc_spec *s, const dataset *d, const size_t *rows,
                  size_t nrows, size_t *unseen);

/* Frees everything s owns and zeroes it; accepts NULL and a zeroed spec. */
void enc_spec_free(enc_spec *s);

#endif
