/*
 * features.c - the feature query (see features.h for the contract).
 *
 * Shape of the default query:
 *
 *   WITH acc AS (SELECT customer_id, count(*), sum/avg/min/max(balance),
 *                       max(risk_score) FROM accounts GROUP BY customer_id),
 *        txn AS (SELECT customer_id, count(*), sum/avg/stddev/min/max(amount),
 *                       recency, 30/90-day windows, per-category FILTERs
 *                FROM transactions WHERE transaction_date <= as_of
 *                GROUP BY customer_id)
 *   SELECT c.customer_id, label, c.age, c.city, c.account_type, acc.*, txn.*
 *   FROM customers c LEFT JOIN acc USING ... LEFT JOIN txn USING ...
 *   ORDER BY c.customer_id
 *
 * Why this shape: one pass over each big table, every aggregate grouped by
 * the distribution key (so Citus or partitionwise aggregation push it to
 * the shards), and the two aggregates joined only after grouping (no
 * fan-out).  Sums, means and standard deviations run on NUMERIC, which is
 * exact and therefore independent of row order; the results are cast to
 * float8 once at the end.  Counts and windowed sums of customers without
 * transactions are 0 (a fact, not a missing value); their mean, min, max
 * and recency are NULL and handled by imputation plus the
 * "missing:transactions" indicator.  A standard deviation of a single
 * transaction is 0.
 *
 * Every identifier goes through db_quote_ident; the as-of date and category
 * names are data and go through db_quote_literal.
 */
#include "features.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/strbuf.h"

const char *feat_set_name(int set)
{
    return set == FEAT_SEED ? "seed" : "default";
}

int feat_set_parse(const char *name)
{
    if (!strcmp(name, "default"))
        return FEAT_DEFAULT;
    if (!strcmp(name, "seed"))
        return FEAT_SEED;
    return -1;
}

void feat_spec_free(feat_spec *s)
{
    int i;

    if (!s)
        return;
    for (i = 0; i < s->n_cats; i++)
        free(s->cats[i]);
    free(s->cats);
    s->cats = NULL;
    s->n_cats = 0;
}

void feat_spec_copy(feat_spec *dst, const feat_spec *src)
{
    int i;

    *dst = *src;
    dst->cats = src->n_cats ? xcalloc((size_t)src->n_cats, sizeof *dst->cats) : NULL;
    for (i = 0; i < src->n_cats; i++)
        dst->cats[i] = xstrdup(src->cats[i]);
}

void feat_query_free(feat_query *q)
{
    int i;

    if (!q)
        return;
    for (i = 0; i < q->ncols; i++) {
        free(q->cols[i].name);
        free(q->cols[i].label);
        free(q->cols[i].group);
    }
    free(q->cols);
    free(q->sql);
    memset(q, 0, sizeof *q);
}

int feat_default_as_of(db_conn *c, const rp_tables *t, char out[16], rp_err *e)
{
    char *tx = schema_qualify(c, t, t->transactions);
    char *sql = xasprintf("SELECT max(transaction_date)::text FROM %s", tx);
    char *v = NULL;
    int rc = db_query_value(c, sql, 0, NULL, &v, e);

    free(sql);
    free(tx);
    if (rc)
        return rc;
    if (!v) {
        rp_err_set(e, RP_EDATA, "table \"%s\" has no dated transactions",
                   t->transactions);
        rp_err_hint(e, "load transactions first, or give the as-of date with --as-of");
        return RP_EDATA;
    }
    snprintf(out, 16, "%s", v);
    free(v);
    return RP_OK;
}

int feat_learn_categories(db_conn *c, const rp_tables *t, feat_spec *spec,
                          int k, rp_err *e)
{
    char *tx = schema_qualify(c, t, t->transactions);
    const char *params[1] = {spec->as_of};
    char *sql = xasprintf(
        "SELECT category FROM %s WHERE transaction_date <= $1::date "
        "AND category IS NOT NULL GROUP BY category "
        "ORDER BY count(*) DESC, category COLLATE \"C\" LIMIT %d", tx, k);
    db_rows *r = NULL;
    int rc = db_query(c, sql, 1, params, &r, e), i;

    free(sql);
    free(tx);
    if (rc)
        return rc;
    feat_spec_free(spec);
    spec->n_cats = r->nrows;
    spec->cats = r->nrows ? xcalloc((size_t)r->nrows, sizeof *spec->cats) : NULL;
    for (i = 0; i < r->nrows; i++)
        spec->cats[i] = xstrdup(db_rows_get(r, i, 0));
    db_rows_free(r);
    return RP_OK;
}

/* Appends a column description to q. */
static void add_col(feat_query *q, const char *name, const char *label,
                    int categorical, const char *group)
{
    feat_col *col;

    q->cols = xreallocarray(q->cols, (size_t)q->ncols + 1, sizeof *q->cols);
    col = &q->cols[q->ncols++];
    col->name = xstrdup(name);
    col->label = xstrdup(label);
    col->categorical = categorical;
    col->group = group ? xstrdup(group) : NULL;
}

/* A category name made safe for a column name: lower-case letters, digits
 * and underscores, at most 40 bytes, suffixed with its index so two names
 * that clean to the same text stay distinct. */
static char *cat_slug(const char *cat, int idx)
{
    sb_t sb = {0};
    const unsigned char *p = (const unsigned char *)cat;

    for (; *p && sb.len < 40; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            sb_putc(&sb, (char)*p);
        else if (*p >= 'A' && *p <= 'Z')
            sb_putc(&sb, (char)(*p - 'A' + 'a'));
        else if (sb.len && sb.p[sb.len - 1] != '_')
            sb_putc(&sb, '_');
    }
    sb_printf(&sb, "_%d", idx + 1);
    return sb_steal(&sb);
}

/* The account aggregate CTE and its columns. */
static void build_acc(sb_t *sql, feat_query *q, const char *acc, int seed)
{
    sb_printf(sql,
        "acc AS (SELECT customer_id, count(*) AS n_accounts, "
        "sum(balance::numeric)::float8 AS balance_sum, "
        "avg(balance::numeric)::float8 AS balance_mean, "
        "min(balance::float8) AS balance_min, max(balance::float8) AS balance_max, "
        "max(risk_score::float8) AS max_risk "
        "FROM %s GROUP BY customer_id)", acc);
    if (seed) {
        add_col(q, "balance", "total balance", 0, "accounts");
        return;
    }
    add_col(q, "n_accounts", "number of accounts", 0, NULL);
    add_col(q, "balance_sum", "total balance", 0, "accounts");
    add_col(q, "balance_mean", "average balance", 0, "accounts");
    add_col(q, "balance_min", "lowest balance", 0, "accounts");
    add_col(q, "balance_max", "highest balance", 0, "accounts");
}

/* Windowed count and sum of amounts over the last `days` days. */
static void add_window(sb_t *sql, feat_query *q, const char *asof, int days)
{
    char name[64], label[96];

    sb_printf(sql, ", count(*) FILTER (WHERE transaction_date > %s - %d) AS txn_count_%dd"
                   ", coalesce(sum(amount::numeric) FILTER (WHERE transaction_date > %s - %d), 0)::float8"
                   " AS txn_sum_%dd", asof, days, days, asof, days, days);
    snprintf(name, sizeof name, "txn_count_%dd", days);
    snprintf(label, sizeof label, "transactions, last %d days", days);
    add_col(q, name, label, 0, NULL);
    snprintf(name, sizeof name, "txn_sum_%dd", days);
    snprintf(label, sizeof label, "spend, last %d days", days);
    add_col(q, name, label, 0, NULL);
}

/* Per-category count and sum, plus the rest folded into "other". */
static void add_categories(sb_t *sql, feat_query *q, db_conn *c, const feat_spec *s)
{
    sb_t list = {0};
    int i;

    for (i = 0; i < s->n_cats; i++) {
        char *lit = db_quote_literal(c, s->cats[i]);
        char *slug = cat_slug(s->cats[i], i);
        char *name, *label;

        sb_printf(sql, ", count(*) FILTER (WHERE category = %s) AS cat_%s_count"
                       ", coalesce(sum(amount::numeric) FILTER (WHERE category = %s), 0)::float8"
                       " AS cat_%s_sum", lit, slug, lit, slug);
        sb_printf(&list, "%s%s", i ? ", " : "", lit);
        name = xasprintf("cat_%s_count", slug);
        label = xasprintf("number of \"%s\" transactions", s->cats[i]);
        add_col(q, name, label, 0, NULL);
        free(name);
        free(label);
        name = xasprintf("cat_%s_sum", slug);
        label = xasprintf("\"%s\" spend", s->cats[i]);
        add_col(q, name, label, 0, NULL);
        free(name);
        free(label);
        free(lit);
        free(slug);
    }
    if (s->n_cats) {
        sb_printf(sql, ", count(*) FILTER (WHERE category IS NULL OR category NOT IN (%s))"
                       " AS cat_other_count", sb_str(&list));
        add_col(q, "cat_other_count", "number of transactions in other categories", 0, NULL);
    }
    sb_free(&list);
}

/* The transaction aggregate CTE and its columns. */
static void build_txn(sb_t *sql, feat_query *q, db_conn *c, const char *tx,
                      const char *asof, const feat_spec *s)
{
    sb_append(sql, "txn AS (SELECT customer_id, count(*) AS txn_count, "
                   "sum(amount::numeric)::float8 AS txn_sum, "
                   "avg(amount::numeric)::float8 AS txn_mean");
    if (s->set == FEAT_SEED) {
        add_col(q, "txn_sum", "total transaction amount", 0, "transactions");
        add_col(q, "txn_mean", "average transaction amount", 0, "transactions");
        add_col(q, "txn_count", "number of transactions", 0, NULL);
    } else {
        sb_printf(sql, ", coalesce(stddev_samp(amount::numeric), 0)::float8 AS txn_std"
                       ", min(amount::float8) AS txn_min, max(amount::float8) AS txn_max"
                       ", (%s - max(transaction_date))::float8 AS days_since_last"
                       ", (%s - min(transaction_date))::float8 AS days_since_first",
                  asof, asof);
        add_col(q, "txn_count", "number of transactions", 0, NULL);
        add_col(q, "txn_sum", "total spend", 0, NULL);
        add_col(q, "txn_mean", "average transaction amount", 0, "transactions");
        add_col(q, "txn_std", "variability of transaction amounts", 0, "transactions");
        add_col(q, "txn_min", "smallest transaction", 0, "transactions");
        add_col(q, "txn_max", "largest transaction", 0, "transactions");
        add_col(q, "days_since_last", "days since last transaction", 0, "transactions");
        add_col(q, "days_since_first", "days since first transaction", 0, "transactions");
        add_window(sql, q, asof, 30);
        add_window(sql, q, asof, 90);
        add_categories(sql, q, c, s);
    }
    sb_printf(sql, " FROM %s WHERE transaction_date <= %s GROUP BY customer_id)", tx, asof);
}

/* The outer SELECT list: customers' own columns, then acc.* and txn.* in
 * the order add_col recorded them; counts of absent rows become 0. */
static void build_select(sb_t *sql, const feat_query *q, double thr)
{
    int i;

    sb_append(sql, " SELECT c.customer_id, CASE WHEN a.max_risk IS NULL THEN NULL"
                   " WHEN a.max_risk > ");
    sb_double(sql, thr);
    sb_append(sql, " THEN 1 ELSE 0 END AS label, c.age::float8 AS age,"
                   " c.city::text AS city, c.account_type::text AS account_type");
    for (i = 3; i < q->ncols; i++) {
        const char *n = q->cols[i].name;
        int is_acc = !strncmp(n, "balance", 7) || !strcmp(n, "n_accounts");
        int zero_fill = !q->cols[i].group;
        if (!strcmp(n, "balance"))   /* the seed set's single balance */
            sb_append(sql, ", a.balance_sum AS balance");
        else if (zero_fill)
            sb_printf(sql, ", coalesce(%s.%s, 0)::float8 AS %s", is_acc ? "a" : "t", n, n);
        else
            sb_printf(sql, ", %s.%s", is_acc ? "a" : "t", n);
    }
}

int feat_build(db_conn *c, const rp_tables *t, const feat_spec *s,
               feat_query *out, rp_err *e)
{
    sb_t sql = {0};
    char *cu = schema_qualify(c, t, t->customers);
    char *ac = schema_qualify(c, t, t->accounts);
    char *tx = schema_qualify(c, t, t->transactions);
    char *lit = db_quote_literal(c, s->as_of);
    char *asof = xasprintf("%s::date", lit);

    memset(out, 0, sizeof *out);
    add_col(out, "age", "age", 0, "age");
    add_col(out, "city", "city", 1, NULL);
    add_col(out, "account_type", "account type", 1, NULL);
    sb_append(&sql, "WITH ");
    build_acc(&sql, out, ac, s->set == FEAT_SEED);
    sb_append(&sql, ", ");
    build_txn(&sql, out, c, tx, asof, s);
    build_select(&sql, out, s->label_threshold);
    sb_printf(&sql, " FROM %s c LEFT JOIN acc a ON a.customer_id = c.customer_id"
                    " LEFT JOIN txn t ON t.customer_id = c.customer_id"
                    " ORDER BY c.customer_id", cu);
    out->sql = sb_steal(&sql);
    free(cu);
    free(ac);
    free(tx);
    free(lit);
    free(asof);
    (void)e;
    return RP_OK;
}
