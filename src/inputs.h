/*
 * inputs.h - checks of the user's input tables, so that bad input gets a
 * message naming the table, column or row (exit 2) instead of a raw SQL
 * error from the middle of the feature query (exit 3).
 *
 *   inputs_check     before the feature query: every column that SPEC
 *                    section 1 names exists and has a usable type
 *   inputs_load      ds_load, with its errors made specific: which table a
 *                    NULL or duplicate customer_id is in, and which column
 *                    and customer hold a number too large for a double or
 *                    text that is not UTF-8 (inputs_explain)
 *   inputs_orphans   accounts and transactions whose customer_id is not in
 *                    the customers table (counted, for a warning)
 *
 * Like every library module, errors go through rp_err; the one exception
 * is inputs_warn_orphans, a warning for the pipeline (as train.c warns
 * about non-finite values).
 */
#ifndef RP_INPUTS_H
#define RP_INPUTS_H

#include "dataset.h"
#include "db.h"
#include "features.h"
#include "schema.h"
#include "util/err.h"

/*
 * RP_OK when customers(customer_id, age, city, account_type),
 * accounts(customer_id, balance, risk_score) and transactions(customer_id,
 * amount, transaction_date, category) all exist with usable types: ids
 * integer or numeric; age, balance, risk_score and amount a number
 * (smallint, integer, bigint, numeric, real, double precision, or a domain
 * over one); transaction_date a date; category a text type; city and
 * account_type anything (read as text).  Extra columns are ignored.
 * RP_EDATA naming the table and the column otherwise, with a hint.  Tables
 * may be views (a view is how a user casts a column of another type).
 */
int inputs_check(db_conn *c, const rp_tables *t, rp_err *e);

/* RP_OK when the customers table has a numeric column col (--weight-column,
 * same types as inputs_check's numbers); RP_EDATA naming it otherwise. */
int inputs_check_weight(db_conn *c, const rp_tables *t, const char *col, rp_err *e);

/*
 * ds_load(c, q, d, e), then on failure: an RP_EDATA from the rows (NULL or
 * duplicate customer_id) is prefixed with the customers table's name; a
 * server "value out of range" (SQLSTATE 22003: a NUMERIC too large for a
 * double, or a customer's sum that is) becomes RP_EDATA naming the table,
 * column and customer when a diagnostic query can find them.
 */
int inputs_load(db_conn *c, const rp_tables *t, const feat_query *q,
                dataset *d, rp_err *e);

/*
 * For any query over the input tables that failed with rc: a server error
 * caused by the data becomes RP_EDATA naming the table, column and
 * customer when a diagnostic query finds them - 22003 (a number beyond a
 * double, as above) and 22021 (text that is not UTF-8, possible in a
 * database of encoding SQL_ASCII).  Returns the (possibly new) code; other
 * errors are returned unchanged.  inputs_load calls it.
 */
int inputs_explain(db_conn *c, const rp_tables *t, int rc, rp_err *e);

/* Rows of accounts and of transactions whose customer_id is NULL or not in
 * the customers table.  One anti-join per table (a scan of each). */
int inputs_orphans(db_conn *c, const rp_tables *t, long *accounts,
                   long *transactions, rp_err *e);

/* inputs_orphans, then a log_warn with the counts when either is non-zero.
 * Those rows are left out of every feature (the feature query joins on
 * the customers); a failed count only loses the warning. */
void inputs_warn_orphans(db_conn *c, const rp_tables *t);

#endif
