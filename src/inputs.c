/*
 * inputs.c - checks of the input tables (see inputs.h for the contract).
 *
 * Why a pre-flight check: the feature query is one statement over three
 * tables, so when a column is missing or of another type (TEXT age, a
 * timestamp transaction_date, an INTEGER category) the server's error says
 * "column c.city does not exist" or "operator does not exist: text <= date"
 * and riskpipe would exit 3 as if the database had failed.  Reading the
 * catalog first costs one small query per table and lets the message name
 * the table, the column, its type and what riskpipe needs instead.
 *
 * Why a diagnostic after a failed load instead of a guard in the feature
 * query: a NUMERIC value beyond the range of a double (1e400 fits in an
 * unconstrained NUMERIC) makes the cast to float8 fail.  Guarding every
 * cast in the query would cost every run; looking for the culprit only
 * after the server reported SQLSTATE 22003 costs nothing when the data are
 * sound.  The diagnostic scans the tables once more, on the error path only.
 *
 * Every identifier goes through db_quote_ident (schema_qualify); no value
 * from the data is ever pasted into SQL.
 */
#include "inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"

/* What a column must be. */
enum { K_ID, K_NUM, K_DATE, K_TEXT, K_ANY };

static const char *const kind_need[] = {
    "an integer (smallint, integer, bigint or numeric)",
    "a number (smallint, integer, bigint, numeric, real or double precision)",
    "a date",
    "a text type (text, varchar or char)",
    "any type",
};

typedef struct req_col {
    int table;          /* 0 customers, 1 accounts, 2 transactions */
    const char *name;
    int kind;
} req_col;

/* SPEC section 1, the columns the feature query reads. */
static const req_col required[] = {
    {0, "customer_id", K_ID}, {0, "age", K_NUM}, {0, "city", K_ANY},
    {0, "account_type", K_ANY},
    {1, "customer_id", K_ID}, {1, "balance", K_NUM}, {1, "risk_score", K_NUM},
    {2, "customer_id", K_ID}, {2, "amount", K_NUM},
    {2, "transaction_date", K_DATE}, {2, "category", K_TEXT},
};

static const char *const table_cols[] = {
    "customers(customer_id, age, city, account_type)",
    "accounts(customer_id, balance, risk_score)",
    "transactions(customer_id, amount, transaction_date, category)",
};

static const char *table_name(const rp_tables *t, int k)
{
    return k == 0 ? t->customers : k == 1 ? t->accounts : t->transactions;
}

static const char *table_opt(int k)
{
    return k == 0 ? "customers" : k == 1 ? "accounts" : "transactions";
}

/* Does a column whose base type is `base` (regtype text) and collatable
 * flag `coll` ("t"/"f") satisfy kind? */
static int type_ok(int kind, const char *base, const char *coll)
{
    static const char *const ints[] = {"smallint", "integer", "bigint", "numeric"};
    static const char *const nums[] = {"real", "double precision"};
    size_t i;

    switch (kind) {
    case K_ID:
    case K_NUM:
        for (i = 0; i < sizeof ints / sizeof *ints; i++)
            if (!strcmp(base, ints[i]))
                return 1;
        for (i = 0; kind == K_NUM && i < sizeof nums / sizeof *nums; i++)
            if (!strcmp(base, nums[i]))
                return 1;
        return 0;
    case K_DATE:
        return !strcmp(base, "date");
    case K_TEXT:
        /* category is compared with text literals and sorted COLLATE "C" */
        return !strcmp(coll, "t");
    default:
        return 1;
    }
}

/* The columns of table k: name, declared type, base type (through one
 * level of domain), collatable. */
static int table_columns(db_conn *c, const rp_tables *t, int k, db_rows **out,
                         rp_err *e)
{
    char *qt = schema_qualify(c, t, table_name(t, k));
    const char *params[1] = {qt};
    int rc = db_query(c,
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), "
        "b.oid::regtype::text, b.typcollation <> 0 "
        "FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid "
        "JOIN pg_type b ON b.oid = coalesce(nullif(ty.typbasetype, 0), ty.oid) "
        "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 "
        "AND NOT a.attisdropped", 1, params, out, e);

    free(qt);
    if (rc)
        rp_err_prefix(e, "reading the columns of table \"%s\"", table_name(t, k));
    return rc;
}

int inputs_check(db_conn *c, const rp_tables *t, rp_err *e)
{
    int k, rc;

    for (k = 0; k < 3; k++) {
        db_rows *r = NULL;
        size_t i;

        if ((rc = table_columns(c, t, k, &r, e)))
            return rc;
        if (r->nrows == 0) {
            db_rows_free(r);
            rp_err_set(e, RP_EDATA, "table \"%s\".\"%s\" does not exist or has no columns",
                       t->schema, table_name(t, k));
            rp_err_hint(e, "run `riskpipe init` to create the tables, or name yours "
                           "with --schema and --%s-table", table_opt(k));
            return RP_EDATA;
        }
        for (i = 0; i < sizeof required / sizeof *required; i++) {
            const req_col *rq = &required[i];
            int row;

            if (rq->table != k)
                continue;
            for (row = 0; row < r->nrows; row++)
                if (!strcmp(db_rows_get(r, row, 0), rq->name))
                    break;
            if (row == r->nrows) {
                rp_err_set(e, RP_EDATA, "table \"%s\".\"%s\" has no column \"%s\"",
                           t->schema, table_name(t, k), rq->name);
                rp_err_detail(e, "riskpipe reads %s", table_cols[k]);
                rp_err_hint(e, "add the column (it may hold NULLs), or name a view "
                               "that provides it with --%s-table", table_opt(k));
                db_rows_free(r);
                return RP_EDATA;
            }
            if (!type_ok(rq->kind, db_rows_get(r, row, 2), db_rows_get(r, row, 3))) {
                rp_err_set(e, RP_EDATA, "column \"%s\" of table \"%s\".\"%s\" has type %s; "
                           "riskpipe needs %s", rq->name, t->schema, table_name(t, k),
                           db_rows_get(r, row, 1), kind_need[rq->kind]);
                rp_err_hint(e, "change the column's type, or name a view that casts it "
                               "with --%s-table", table_opt(k));
                db_rows_free(r);
                return RP_EDATA;
            }
        }
        db_rows_free(r);
    }
    return RP_OK;
}

int inputs_check_weight(db_conn *c, const rp_tables *t, const char *col, rp_err *e)
{
    db_rows *r = NULL;
    int rc = table_columns(c, t, 0, &r, e), row;

    if (rc)
        return rc;
    for (row = 0; row < r->nrows; row++)
        if (!strcmp(db_rows_get(r, row, 0), col))
            break;
    if (row == r->nrows)
        rc = rp_err_set(e, RP_EDATA, "--weight-column: table \"%s\".\"%s\" has no "
                        "column \"%s\"", t->schema, t->customers, col);
    else if (!type_ok(K_NUM, db_rows_get(r, row, 2), db_rows_get(r, row, 3)))
        rc = rp_err_set(e, RP_EDATA, "--weight-column: column \"%s\" of table "
                        "\"%s\".\"%s\" has type %s; a weight must be a number", col,
                        t->schema, t->customers, db_rows_get(r, row, 1));
    db_rows_free(r);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Values too large for a double                                       */
/* ------------------------------------------------------------------ */

/* The numeric input columns, in the order the feature query reads them;
 * `sum` marks the ones it sums per customer. */
static const struct {
    int table;
    const char *col;
    int sum;
} num_cols[] = {
    {0, "age", 0}, {1, "balance", 1}, {1, "risk_score", 0}, {2, "amount", 1},
};

/* First customer holding a value (sum = 0) or a per-customer sum (sum = 1)
 * of column i beyond a double.  *id and *mag (e.g. "1e400") are NULL when
 * none; caller frees. */
static int find_beyond(db_conn *c, const rp_tables *t, int i, int sum,
                       char **id, char **mag, rp_err *e)
{
    char *tab = schema_qualify(c, t, table_name(t, num_cols[i].table));
    char *col = db_quote_ident(c, num_cols[i].col);
    char *x = sum ? xasprintf("sum(%s::numeric)", col) : xstrdup(col);
    /* beyond a double: DBL_MAX < |x| < Infinity (NaN and +-Infinity do
     * convert; a numeric NaN sorts above Infinity) */
    char *cond = xasprintf("abs((%s)::numeric) > 1.7976931348623157e308 AND "
                           "abs((%s)::numeric) < 'Infinity'::numeric", x, x);
    /* the magnitude as 1eN from the number of integer digits: the value
     * itself has hundreds of digits */
    char *sql = xasprintf(
        "SELECT customer_id::text, CASE WHEN (%s) < 0 THEN '-' ELSE '' END || '1e' || "
        "(length(trunc(abs((%s)::numeric))::text) - 1)::text FROM %s %s %s "
        "ORDER BY customer_id LIMIT 1",
        x, x, tab, sum ? "GROUP BY customer_id HAVING" : "WHERE", cond);
    db_rows *r = NULL;
    int rc = db_query(c, sql, 0, NULL, &r, e);

    *id = *mag = NULL;
    if (!rc && r->nrows > 0) {
        const char *v = db_rows_get(r, 0, 0);
        *id = xstrdup(v ? v : "NULL");
        *mag = xstrdup(db_rows_get(r, 0, 1) ? db_rows_get(r, 0, 1) : "?");
    }
    db_rows_free(r);
    free(sql);
    free(cond);
    free(x);
    free(col);
    free(tab);
    return rc;
}

/* e holds a 22003 from the feature query: find the value and rewrite e.
 * When the diagnostic finds nothing (or fails), e keeps the server's
 * message, as a data error. */
static void explain_overflow(db_conn *c, const rp_tables *t, rp_err *e)
{
    char server[sizeof e->msg];
    size_t i;
    int sum;

    /* the server's message quotes the value in full: hundreds of digits */
    if (strlen(e->msg) > 200)
        snprintf(server, sizeof server, "%.200s...", e->msg);
    else
        snprintf(server, sizeof server, "%s", e->msg);
    for (sum = 0; sum < 2; sum++) {
        for (i = 0; i < sizeof num_cols / sizeof *num_cols; i++) {
            char *id = NULL, *mag = NULL;
            rp_err ignore;
            const char *tab = table_name(t, num_cols[i].table);

            if (sum && !num_cols[i].sum)
                continue;
            if (find_beyond(c, t, (int)i, sum, &id, &mag, &ignore) || !id)
                continue;
            if (sum)
                rp_err_set(e, RP_EDATA, "column \"%s\" of table \"%s\".\"%s\" sums to about "
                           "%s for customer %s, beyond the range of a double precision number",
                           num_cols[i].col, t->schema, tab, mag, id);
            else
                rp_err_set(e, RP_EDATA, "column \"%s\" of table \"%s\".\"%s\" holds the value "
                           "%s (customer %s), beyond the range of a double precision number",
                           num_cols[i].col, t->schema, tab, mag, id);
            rp_err_detail(e, "%s", server);
            rp_err_hint(e, "correct or delete the row; riskpipe computes features as "
                           "double precision (at most about 1.8e308)");
            free(id);
            free(mag);
            return;
        }
    }
    rp_err_set(e, RP_EDATA, "a feature computed from the input tables is beyond the "
               "range of a double precision number");
    rp_err_detail(e, "%s", server);
    rp_err_hint(e, "look for absurdly large balance or amount values");
}

/* ------------------------------------------------------------------ */
/* Text that is not UTF-8                                              */
/* ------------------------------------------------------------------ */

/* 1 when s[0..n) is UTF-8 (RFC 3629: shortest form, no surrogates, at most
 * U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char b = s[i];
        size_t len, k;
        unsigned long cp;

        if (b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf) {
            len = 2;
            cp = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
            len = 3;
            cp = b & 0x0f;
        } else if (b >= 0xf0 && b <= 0xf4) {
            len = 4;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += len;
    }
    return 1;
}

static int hexval(char h)
{
    return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
}

/* The text columns, which the feature query sends to the client. */
static const struct {
    int table;
    const char *col;
} text_cols[] = {
    {0, "city"}, {0, "account_type"}, {2, "category"},
};

/*
 * e holds a 22021 (character_not_in_repertoire): a database in encoding
 * SQL_ASCII stores any bytes, and the server refuses to send a value that
 * is not UTF-8 to riskpipe's UTF-8 session.  The values come back hex
 * encoded (plain ASCII, so the session can receive them) and are checked
 * here; the first bad one is named.  Only the distinct values with a byte
 * above 0x7f are read.
 */
static void explain_encoding(db_conn *c, const rp_tables *t, rp_err *e)
{
    char server[sizeof e->msg];
    size_t i;

    snprintf(server, sizeof server, "%s", e->msg);
    for (i = 0; i < sizeof text_cols / sizeof *text_cols; i++) {
        char *tab = schema_qualify(c, t, table_name(t, text_cols[i].table));
        char *col = db_quote_ident(c, text_cols[i].col);
        char *sql = xasprintf("SELECT min(customer_id)::text, encode(convert_to(%s::text, "
                              "getdatabaseencoding()), 'hex') FROM %s "
                              "WHERE %s::text ~ '[\\x80-\\xff]' GROUP BY 2 ORDER BY 1",
                              col, tab, col);
        db_rows *r = NULL;
        rp_err ignore;
        int row, found = -1;

        if (db_query(c, sql, 0, NULL, &r, &ignore) == RP_OK) {
            for (row = 0; row < r->nrows && found < 0; row++) {
                const char *hex = db_rows_get(r, row, 1);
                size_t n = hex ? strlen(hex) / 2 : 0, k;
                unsigned char *b = xmalloc(n + 1);
                for (k = 0; k < n; k++)
                    b[k] = (unsigned char)(hexval(hex[2 * k]) * 16 + hexval(hex[2 * k + 1]));
                if (!utf8_valid(b, n))
                    found = row;
                free(b);
            }
        }
        if (found >= 0) {
            const char *id = db_rows_get(r, found, 0);
            rp_err_set(e, RP_EDATA, "column \"%s\" of table \"%s\".\"%s\" holds text that "
                       "is not valid UTF-8 (customer %s)", text_cols[i].col, t->schema,
                       table_name(t, text_cols[i].table), id ? id : "NULL");
            rp_err_detail(e, "%s", server);
            rp_err_hint(e, "the database's encoding (SQL_ASCII) stores any bytes; riskpipe "
                           "reads text as UTF-8: correct the value, or name a view that "
                           "converts the column");
        }
        db_rows_free(r);
        free(sql);
        free(col);
        free(tab);
        if (found >= 0)
            return;
    }
    rp_err_set(e, RP_EDATA, "the input tables hold text that is not valid UTF-8");
    rp_err_detail(e, "%s", server);
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

int inputs_explain(db_conn *c, const rp_tables *t, int rc, rp_err *e)
{
    if (rc != RP_EDB || !e)
        return rc;
    if (!strcmp(e->sqlstate, "22003"))
        explain_overflow(c, t, e);
    else if (!strcmp(e->sqlstate, "22021"))
        explain_encoding(c, t, e);
    return e->code;
}

int inputs_load(db_conn *c, const rp_tables *t, const feat_query *q,
                dataset *d, rp_err *e)
{
    int rc = ds_load(c, q, d, e);

    if (rc == RP_EDATA && e)
        rp_err_prefix(e, "table \"%s\".\"%s\"", t->schema, t->customers);
    return inputs_explain(c, t, rc, e);
}

/* ------------------------------------------------------------------ */
/* Rows of unknown customers                                           */
/* ------------------------------------------------------------------ */

int inputs_orphans(db_conn *c, const rp_tables *t, long *accounts,
                   long *transactions, rp_err *e)
{
    char *cu = schema_qualify(c, t, t->customers);
    char *ac = schema_qualify(c, t, t->accounts);
    char *tx = schema_qualify(c, t, t->transactions);
    char *sql = xasprintf(
        "SELECT (SELECT count(*) FROM %s a WHERE NOT EXISTS "
        "(SELECT 1 FROM %s c WHERE c.customer_id = a.customer_id)), "
        "(SELECT count(*) FROM %s t WHERE NOT EXISTS "
        "(SELECT 1 FROM %s c WHERE c.customer_id = t.customer_id))", ac, cu, tx, cu);
    db_rows *r = NULL;
    int rc = db_query(c, sql, 0, NULL, &r, e);

    *accounts = *transactions = 0;
    if (!rc && r->nrows == 1) {
        *accounts = atol(db_rows_get(r, 0, 0));
        *transactions = atol(db_rows_get(r, 0, 1));
    }
    if (rc)
        rp_err_prefix(e, "counting accounts and transactions of unknown customers");
    db_rows_free(r);
    free(sql);
    free(cu);
    free(ac);
    free(tx);
    return rc;
}

void inputs_warn_orphans(db_conn *c, const rp_tables *t)
{
    long na = 0, nt = 0;
    rp_err ignore;

    if (inputs_orphans(c, t, &na, &nt, &ignore) == RP_OK && (na || nt))
        log_warn("%ld accounts and %ld transactions belong to no customer in \"%s\" "
                 "(unknown or NULL customer_id) and were left out", na, nt, t->customers);
}
