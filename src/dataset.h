/*
 * dataset.h - the feature query's rows, held column by column.
 *
 * Numeric columns are arrays of double (NAN = missing); text columns are
 * arrays of int32 codes into a per-column list of distinct strings (-1 =
 * missing).  Rows are in customer_id order, which the loader checks is
 * strictly increasing (a duplicate id in a table without a primary key is
 * refused with the id named).  Memory grows by doubling: no allocation per
 * row.
 */
#ifndef RP_DATASET_H
#define RP_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "features.h"
#include "util/err.h"

typedef struct dataset {
    size_t n;            /* rows */
    size_t cap;          /* allocated rows */
    int64_t *ids;        /* customer_id per row */
    double *label;       /* 1, 0, or NAN for unlabelled */
    int ncols;           /* feature columns (as in the feat_query) */
    double **num;        /* num[j][i] for numeric columns; NULL otherwise */
    int32_t **code;      /* code[j][i] for text columns; NULL otherwise */
    char ***levels;      /* levels[j][code] for text columns */
    int *nlevels;
    size_t nonfinite;    /* NaN/Infinity values read as missing */
    void *dict;          /* private: string -> code hash tables */
} dataset;

/* Runs q through COPY TO STDOUT and fills d.  On error d is freed. */
int ds_load(db_conn *c, const feat_query *q, dataset *d, rp_err *e);

/* Builds an empty dataset shaped like q (for tests and for ds_push). */
void ds_init(dataset *d, const feat_query *q);

/* Appends one row given as text fields (customer_id, label, columns),
 * exactly as COPY text delivers them (NULL for SQL NULL). */
int ds_push_row(dataset *d, const feat_query *q, int nfields, char **fields,
                rp_err *e);

void ds_free(dataset *d);

/* Testing aid (--dump-features): every row as text, one line per customer:
 * id, label, then each column (numbers with %.17g, so two datasets print
 * the same bytes exactly when they hold the same doubles; text levels as
 * they are; \N for missing).  Comparing two dumps with cmp proves two
 * feature paths identical. */
int ds_dump(const dataset *d, const feat_query *q, const char *path, rp_err *e);

#endif
