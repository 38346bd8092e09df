/*
 * schema.h - table names and the DDL for the input and riskpipe tables.
 *
 * Names come from the user (--schema, --customers-table, ...) and are only
 * ever put into SQL through db_quote_ident.  The riskpipe tables
 * (riskpipe_models, riskpipe_runs) live in the same schema as predictions.
 */
#ifndef RP_SCHEMA_H
#define RP_SCHEMA_H

#include "db.h"
#include "util/err.h"

typedef struct rp_tables {
    const char *schema;        /* "public" by default */
    const char *customers;     /* "customers" */
    const char *accounts;      /* "accounts" */
    const char *transactions;  /* "transactions" */
    const char *predictions;   /* "predictions" */
} rp_tables;

/* The defaults above. */
rp_tables schema_tables_default(void);

/* "schema"."table", both quoted with PQescapeIdentifier.  Caller frees. */
char *schema_qualify(db_conn *c, const rp_tables *t, const char *table);

/* Creates the schema (if not "public" and missing), the three input tables
 * with primary keys and customer_id indexes, predictions, riskpipe_models
 * and riskpipe_runs, each only if missing.  Never touches existing rows. */
int schema_init(db_conn *c, const rp_tables *t, rp_err *e);

/* The column list (with keys) of input table 0 customers, 1 accounts or
 * 2 transactions as `riskpipe init` creates it; NULL for another index. */
const char *schema_input_columns(int which);

/* Creates only riskpipe's own tables (train and predict call this).  When
 * they all exist and this role does not own them (a least-privilege role,
 * README "Security"), it runs no DDL at all. */
int schema_init_own(db_conn *c, const rp_tables *t, rp_err *e);

/* RP_OK when the three input tables exist; RP_EDATA naming the first one
 * missing otherwise (with a hint to run `riskpipe init`). */
int schema_check_inputs(db_conn *c, const rp_tables *t, rp_err *e);

#endif
