/*
 * schema.c - DDL for the input tables and riskpipe's own tables.
 *
 * Everything is CREATE ... IF NOT EXISTS, so `riskpipe init` is idempotent
 * and never touches rows.  Names are user input: each goes through
 * db_quote_ident, including the derived index names.  The input tables are
 * created "exactly as the users have them" (SPEC section 1); riskpipe reads
 * tables it did not create as long as the columns are there (see
 * schema_check_inputs).
 */
#include "schema.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/strbuf.h"

rp_tables schema_tables_default(void)
{
    rp_tables t = {"public", "customers", "accounts", "transactions", "predictions"};
    return t;
}

char *schema_qualify(db_conn *c, const rp_tables *t, const char *table)
{
    char *s = db_quote_ident(c, t->schema);
    char *n = db_quote_ident(c, table);
    char *q = xasprintf("%s.%s", s, n);
    free(s);
    free(n);
    return q;
}

/* CREATE INDEX IF NOT EXISTS "<table>_<col>_idx" ON qualified (col). */
static void add_index(sb_t *sql, db_conn *c, const rp_tables *t,
                      const char *table, const char *col)
{
    char *name = xasprintf("%s_%s_idx", table, col);
    char *qname = db_quote_ident(c, name);
    char *qt = schema_qualify(c, t, table);
    char *qc = db_quote_ident(c, col);

    sb_printf(sql, "CREATE INDEX IF NOT EXISTS %s ON %s (%s);\n", qname, qt, qc);
    free(name);
    free(qname);
    free(qt);
    free(qc);
}

static void add_table(sb_t *sql, db_conn *c, const rp_tables *t,
                      const char *table, const char *columns)
{
    char *qt = schema_qualify(c, t, table);
    sb_printf(sql, "CREATE TABLE IF NOT EXISTS %s (%s);\n", qt, columns);
    free(qt);
}

/* riskpipe's own tables: predictions, riskpipe_models, riskpipe_runs. */
static void add_own_tables(sb_t *sql, db_conn *c, const rp_tables *t)
{
    add_table(sql, c, t, t->predictions,
              "customer_id BIGINT PRIMARY KEY, "
              "high_risk_prediction INT NOT NULL, "
              "probability FLOAT8 NOT NULL, "
              "model_id TEXT NOT NULL, "
              "scored_at TIMESTAMPTZ NOT NULL, "
              "reason_1 TEXT, reason_2 TEXT, reason_3 TEXT, reason_4 TEXT");
    /* tables created before reason codes became four (issue 4) */
    {
        char *qt = schema_qualify(c, t, t->predictions);
        sb_printf(sql, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS reason_4 TEXT;\n", qt);
        free(qt);
    }
    add_table(sql, c, t, "riskpipe_models",
              "model_id TEXT PRIMARY KEY, "
              "created_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
              "as_of DATE, feature_set TEXT, n_train BIGINT, n_events BIGINT, "
              "c FLOAT8, test_auc FLOAT8, threshold FLOAT8, "
              "active BOOLEAN NOT NULL DEFAULT false, "
              "file_path TEXT, model_json TEXT NOT NULL");
    add_table(sql, c, t, "riskpipe_runs",
              "run_id BIGSERIAL PRIMARY KEY, "
              "command TEXT NOT NULL, "
              "started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(), "
              "finished_at TIMESTAMPTZ, model_id TEXT, "
              "rows_scored BIGINT, high_risk BIGINT, unseen_categories BIGINT, "
              "status TEXT NOT NULL DEFAULT 'running', error TEXT, "
              "details JSONB, rows_rejected BIGINT");
    /* tables created before predict --from-csv counted rejected rows */
    {
        char *qt = schema_qualify(c, t, "riskpipe_runs");
        sb_printf(sql, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS rows_rejected BIGINT;\n", qt);
        free(qt);
    }
}

/* Runs the DDL in one transaction.  Concurrent inits are serialised:
 * CREATE ... IF NOT EXISTS can still race on the catalog when two
 * sessions create the same table. */
static int run_ddl(db_conn *c, const rp_tables *t, sb_t *sql, rp_err *e)
{
    char *qs = db_quote_ident(c, t->schema);
    char *ddl = xasprintf("CREATE SCHEMA IF NOT EXISTS %s;\n%s", qs, sb_str(sql));
    int rc = db_begin(c, e);

    if (!rc)
        rc = db_exec(c, "SELECT pg_advisory_xact_lock(hashtext('riskpipe:init'))", e);
    if (!rc)
        rc = db_exec(c, ddl, e);
    if (!rc)
        rc = db_commit(c, e);
    if (rc) {
        db_rollback(c);
        rp_err_prefix(e, "creating the tables in schema \"%s\"", t->schema);
    }
    free(qs);
    free(ddl);
    sb_free(sql);
    return rc;
}

/* The input tables' columns as `riskpipe init` creates them (also used
 * by load_temp_tables when the user has no tables to copy the shape of). */
static const char *const input_columns[3] = {
    "customer_id INT PRIMARY KEY, age INT, city TEXT, account_type TEXT",
    "account_id INT PRIMARY KEY, customer_id INT NOT NULL, "
    "balance NUMERIC(14,2), risk_score NUMERIC(6,4)",
    "transaction_id BIGINT PRIMARY KEY, customer_id INT NOT NULL, "
    "amount NUMERIC(14,2), transaction_date DATE, category TEXT",
};

const char *schema_input_columns(int which)
{
    return which >= 0 && which < 3 ? input_columns[which] : NULL;
}

int schema_init(db_conn *c, const rp_tables *t, rp_err *e)
{
    sb_t sql = {0};

    add_table(&sql, c, t, t->customers, input_columns[0]);
    add_table(&sql, c, t, t->accounts, input_columns[1]);
    add_table(&sql, c, t, t->transactions, input_columns[2]);
    add_index(&sql, c, t, t->accounts, "customer_id");
    add_index(&sql, c, t, t->transactions, "customer_id");
    add_own_tables(&sql, c, t);
    return run_ddl(c, t, &sql, e);
}

/*
 * 1 when riskpipe's own tables all exist and this role does not own them
 * all, 0 otherwise, -1 on error.  Such a role is the least-privilege one
 * of README "Security" (SELECT on the inputs, writes on riskpipe's
 * tables): PostgreSQL refuses it even CREATE ... IF NOT EXISTS on tables
 * that exist (it checks CREATE on the schema and the database first) and
 * ALTER ... ADD COLUMN IF NOT EXISTS (ownership), so it must skip the DDL.
 */
static int own_tables_ready(db_conn *c, const rp_tables *t, rp_err *e)
{
    char *p = schema_qualify(c, t, t->predictions);
    char *m = schema_qualify(c, t, "riskpipe_models");
    char *r = schema_qualify(c, t, "riskpipe_runs");
    const char *params[3] = {p, m, r};
    char *v = NULL;
    int rc = db_query_value(c, "SELECT count(k.oid) = 3 AND NOT bool_and(pg_has_role(k.relowner, "
                               "'USAGE')) FROM unnest(ARRAY[$1, $2, $3]) AS n "
                               "LEFT JOIN pg_class k ON k.oid = to_regclass(n)",
                            3, params, &v, e);
    int ready = rc ? -1 : v && strcmp(v, "t") == 0;

    free(v);
    free(p);
    free(m);
    free(r);
    return ready;
}

int schema_init_own(db_conn *c, const rp_tables *t, rp_err *e)
{
    sb_t sql = {0};
    int ready = own_tables_ready(c, t, e);

    if (ready)
        return ready < 0 ? RP_EDB : RP_OK;
    add_own_tables(&sql, c, t);
    return run_ddl(c, t, &sql, e);
}

int schema_check_inputs(db_conn *c, const rp_tables *t, rp_err *e)
{
    const char *names[3] = {t->customers, t->accounts, t->transactions};
    int i;

    for (i = 0; i < 3; i++) {
        char *q = schema_qualify(c, t, names[i]);
        const char *params[1] = {q};
        char *v = NULL;
        int rc = db_query_value(c, "SELECT to_regclass($1) IS NOT NULL", 1,
                                params, &v, e);
        int found = v && strcmp(v, "t") == 0;
        free(v);
        free(q);
        if (rc)
            return rc;
        if (!found) {
            rp_err_set(e, RP_EDATA, "table \"%s\".\"%s\" does not exist",
                       t->schema, names[i]);
            rp_err_hint(e, "run `riskpipe init` to create the tables, or name "
                           "yours with --schema and --%s-table",
                        i == 0 ? "customers" : i == 1 ? "accounts" : "transactions");
            return RP_EDATA;
        }
    }
    return RP_OK;
}
