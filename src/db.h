/*
 * db.h - the only door to PostgreSQL.  db.c is the only file that includes
 * libpq-fe.h; a PGresult never leaves it.
 *
 * Ownership: every char * returned here is allocated with xmalloc and freed
 * by the caller with free(); a db_rows is freed with db_rows_free().
 * Every function that can fail takes an rp_err and returns RP_OK or the
 * code it set (RP_EDB for server/connection errors, with sqlstate filled).
 */
#ifndef RP_DB_H
#define RP_DB_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct db_conn db_conn;

/*
 * Where the data is.  Resolution order: opt_db (--db), RISKPIPE_DB,
 * DATABASE_URL, then the libpq environment (PGHOST, PGDATABASE, PGSERVICE:
 * conninfo "" lets libpq read it, with .pgpass and service files).
 * Returns the conninfo to use (caller frees), or NULL when none is
 * configured and the embedded cluster should be used.
 */
char *db_resolve_conninfo(const char *opt_db);

/* A copy of conninfo (key=value or URI) with any password replaced by
 * "********", safe to print.  Caller frees. */
char *db_mask_conninfo(const char *conninfo);

/* Connects with fallback_application_name=riskpipe and client_encoding
 * UTF8; sets the session settings riskpipe relies on (DateStyle ISO,
 * extra_float_digits 3, search_path untouched).  NULL on failure. */
db_conn *db_connect(const char *conninfo, rp_err *e);
void db_close(db_conn *c);

/* The masked conninfo of an open connection, for messages. */
const char *db_conn_label(const db_conn *c);

/* Runs a command (or several separated by ';' when nparams == 0).
 * Values go as text parameters $1..$n, never pasted into sql. */
int db_exec(db_conn *c, const char *sql, rp_err *e);
int db_exec_params(db_conn *c, const char *sql, int nparams,
                   const char *const *params, rp_err *e);

/* A small result set held in memory (registry rows, category lists). */
typedef struct db_rows {
    int nrows, ncols;
    char **names;   /* ncols column names */
    char **vals;    /* nrows*ncols, row-major; NULL for SQL NULL */
} db_rows;

int db_query(db_conn *c, const char *sql, int nparams,
             const char *const *params, db_rows **out, rp_err *e);
const char *db_rows_get(const db_rows *r, int row, int col);
void db_rows_free(db_rows *r);

/* The first column of the first row, or NULL (into *out) when there is no
 * row or the value is NULL.  Caller frees *out. */
int db_query_value(db_conn *c, const char *sql, int nparams,
                   const char *const *params, char **out, rp_err *e);

/* Quoting through PQescapeIdentifier / PQescapeLiteral.  Caller frees.
 * Never returns NULL (aborts on out-of-memory; on an encoding error returns
 * a quoted empty string, which PostgreSQL then rejects).  c may be NULL
 * (SQL written for a server riskpipe does not talk to, e.g. export-sql):
 * then standard SQL quoting, with a backslash in a literal written as
 * chr(92) outside the quotes (db.c says why); such a "literal" is a text
 * expression, valid wherever the callers put one. */
char *db_quote_ident(db_conn *c, const char *name);
char *db_quote_literal(db_conn *c, const char *value);

/*
 * COPY ... TO STDOUT in text format.  on_row is called once per row with
 * the row's fields split and de-escaped in place (NULL for \N); the field
 * pointers are valid only during the call.  A non-zero return from on_row
 * stops the copy (the connection is then reset to a usable state) and is
 * returned.  nrows_hint receives rows seen so far for progress.
 */
typedef int (*db_row_fn)(void *ctx, int nfields, char **fields, rp_err *e);
int db_copy_out(db_conn *c, const char *copy_sql, db_row_fn on_row,
                void *ctx, rp_err *e);

/* The parser db_copy_out uses, exposed for the fuzzer (tests/fuzz): splits
 * one text-format row (no trailing newline) at tabs and de-escapes each
 * field in place; \N gives NULL.  *fields (capacity *cap) grows as needed
 * and the caller frees it.  Returns the number of fields (>= 1). */
int db_copy_split_row(char *row, char ***fields, int *cap);

/*
 * COPY ... TO STDOUT (FORMAT binary): on_row gets each row's fields as
 * raw bytes in the server's binary send format (val[i] NULL and len[i] -1
 * for SQL NULL), valid only during the call.  As with db_copy_out, a
 * non-zero return stops the copy and is returned.  Malformed framing is
 * RP_EINTERNAL.
 */
typedef int (*db_bin_row_fn)(void *ctx, int nfields, const char *const *val,
                             const int *len, rp_err *e);
int db_copy_out_binary(db_conn *c, const char *copy_sql, db_bin_row_fn on_row,
                       void *ctx, rp_err *e);

/* The parser db_copy_out_binary uses, over CopyData messages already
 * received (msgs[k]: lens[k] bytes, in order), for the fuzzer
 * (tests/fuzz).  RP_OK after the trailer, on_row's code, or RP_EINTERNAL
 * when the data are malformed or end before the trailer. */
int db_copy_binary_parse(const char *const *msgs, const long *lens, int nmsgs,
                         db_bin_row_fn on_row, void *ctx, rp_err *e);

/* A new connection to the same server and database with the same options
 * and session settings as c (for a worker thread: a db_conn must be used
 * by one thread at a time).  NULL on failure. */
db_conn *db_connect_like(const db_conn *c, rp_err *e);

/* 1 when c is inside a transaction block (or a failed one). */
int db_in_transaction(const db_conn *c);

/* COPY ... FROM STDIN: begin, put any number of buffers, end.  On error,
 * db_copy_in_end(c, 1, e) aborts the copy. */
int db_copy_in_begin(db_conn *c, const char *copy_sql, rp_err *e);
int db_copy_in_put(db_conn *c, const char *buf, size_t len, rp_err *e);
int db_copy_in_end(db_conn *c, int abort_copy, rp_err *e);

/* Appends `s` to sb escaped for COPY text format (backslash, tab, newline,
 * carriage return).  Declared here so COPY writers share one escaper. */
struct sb_t;
void db_copy_escape(struct sb_t *sb, const char *s);

/* Sends a cancel request for the query running on every open connection
 * (PQcancel).  Async-signal-safe: main.c's SIGINT/SIGTERM handler calls
 * it, so that a long query stops at once and the normal error path runs
 * (see rp_interrupt in util/err.h). */
void db_cancel_all(void);

/* Transactions.  db_commit refuses to commit after a stop signal
 * (rp_err_interrupted): the caller's error path rolls back. */
int db_begin(db_conn *c, rp_err *e);
int db_commit(db_conn *c, rp_err *e);
void db_rollback(db_conn *c);   /* best effort, never fails */

/* Session advisory lock on a key string (hashtext).  Returns RP_OK when
 * taken, RP_EDB with a clear message when another session holds it. */
int db_try_lock(db_conn *c, const char *key, rp_err *e);

/* PostgreSQL server version number (e.g. 150004). */
int db_server_version(const db_conn *c);

#endif
