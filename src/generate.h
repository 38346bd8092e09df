/*
 * generate.h - synthetic customers, accounts and transactions with a
 * planted, documented risk model (docs/synthetic-data.md).
 *
 * Deterministic: the same seed and customer count give byte-identical
 * tables (a private PRNG, no libc rand, no time).  Rows are streamed to
 * PostgreSQL with COPY FROM STDIN.
 */
#ifndef RP_GENERATE_H
#define RP_GENERATE_H

#include <stdint.h>

#include "db.h"
#include "schema.h"
#include "util/err.h"

typedef struct gen_opts {
    long customers;          /* how many customers to create (>= 1) */
    uint64_t seed;           /* default 42 */
    int append;              /* 0: replace the three tables' rows; 1: add
                                customers with ids after the current max */
    const char *truth_path;  /* NULL or a file for customer_id,probability */
} gen_opts;

typedef struct gen_summary {
    long customers, accounts, transactions;
    long high_risk;          /* customers whose max risk_score > 0.7 */
    long unlabelled;         /* customers with all risk_score NULL */
    double seconds;
} gen_summary;

/*
 * Generates and loads the data in one transaction (all or nothing): in
 * replace mode TRUNCATE + COPY, in append mode COPY after the current
 * maximum ids; then ANALYZE.  The three tables must exist (schema_init) and
 * c must not be inside a transaction.  When o->truth_path is set, that file
 * appears (renamed from a temporary file) only if the data was committed.
 * Fills *out (may be NULL) on success.  Errors: RP_EUSAGE (bad count),
 * RP_EDATA (ids would overflow), RP_EDB, RP_EINTERNAL (truth file I/O).
 */
int gen_run(db_conn *c, const rp_tables *t, const gen_opts *o,
            gen_summary *out, rp_err *e);

#endif
