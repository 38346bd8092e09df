/*
 * features.c - the feature query (see features.h for the contract).
 *
 * Shape of the default query:
 *
 *   WITH acc AS (SELECT customer_id, count(*), sum/avg/min/max(balance),
 *                       max(risk_score) FROM accounts GROUP BY customer_id),
 *        txn AS (SELECT customer_id, count(*), sum/mean/std/min/max(amount),
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
 * fan-out).  Sums run on NUMERIC, which is exact and therefore independent
 * of row order; each sum is cast to float8 once (PostgreSQL goes through
 * the exact decimal text and strtod: correctly rounded).  A mean is that
 * float8 sum divided by the count, and a standard deviation comes from
 * the exact n*sum(x^2) - sum(x)^2, so every value is a fixed function of
 * exact integers that fastfeat.c (the client-side path) reproduces bit
 * for bit.  Counts and windowed sums of customers without
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

#include "util/log.h"
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

/* Checks the latest transaction_date (text, NULL when none) and copies it
 * to out; `future` is the server's "t" when it is more than a year ahead. */
static int take_as_of(const rp_tables *t, const char *latest, const char *future,
                      char out[16], rp_err *e)
{
    /* one mistyped year (2205, say) would move every customer's windows
     * past their transactions: say so */
    if (latest && strlen(latest) == 10 && future && !strcmp(future, "t"))
        log_warn("the latest transaction_date in \"%s\" is %s, more than a year after "
                 "today; features are computed as of that date (choose one with --as-of)",
                 t->transactions, latest);
    if (!latest) {
        rp_err_set(e, RP_EDATA, "table \"%s\" has no dated transactions",
                   t->transactions);
        rp_err_hint(e, "load transactions first, or give the as-of date with --as-of");
        return RP_EDATA;
    }
    /* the as-of date is stored in the model as YYYY-MM-DD: a year beyond
     * 9999 or before 1 AD (ISO DateStyle prints "... BC") cannot be */
    if (strlen(latest) != 10 || latest[4] != '-') {
        rp_err_set(e, RP_EDATA, "the latest transaction_date in \"%s\" is %s, "
                   "which riskpipe cannot use as the as-of date", t->transactions, latest);
        rp_err_hint(e, "correct the row, or give the as-of date with --as-of");
        return RP_EDATA;
    }
    snprintf(out, 16, "%s", latest);
    return RP_OK;
}

int feat_default_as_of(db_conn *c, const rp_tables *t, char out[16], rp_err *e)
{
    char *tx = schema_qualify(c, t, t->transactions);
    /* 'infinity' is a valid date but no as-of date (nothing can be
     * subtracted from it): such rows count as undated */
    char *sql = xasprintf("SELECT max(transaction_date)::text, "
                          "max(transaction_date) > current_date + 366 "
                          "FROM %s WHERE transaction_date < 'infinity'::date", tx);
    db_rows *r = NULL;
    int rc = db_query(c, sql, 0, NULL, &r, e);

    free(sql);
    free(tx);
    if (rc)
        return rc;
    rc = take_as_of(t, r->nrows ? db_rows_get(r, 0, 0) : NULL,
                    r->nrows ? db_rows_get(r, 0, 1) : NULL, out, e);
    db_rows_free(r);
    return rc;
}

/*
 * Both in one scan: with the default as-of date (the latest finite
 * transaction_date) "on or before the as-of date" is every finite date,
 * so one GROUP BY category over the dated rows gives each category's
 * count and the latest date.  The same results as the two queries above
 * (-infinity rows count for the latest date, as there, and for no
 * category), for one pass over the transactions instead of two.
 */
int feat_learn_as_of_categories(db_conn *c, const rp_tables *t, feat_spec *spec,
                                int k, rp_err *e)
{
    char *tx = schema_qualify(c, t, t->transactions);
    char *sql = xasprintf(
        "WITH g AS (SELECT category, max(transaction_date) AS latest, "
        "count(*) FILTER (WHERE transaction_date > '-infinity'::date) AS n "
        "FROM %s WHERE transaction_date < 'infinity'::date GROUP BY category), "
        "m AS (SELECT max(latest) AS latest FROM g) "
        "SELECT m.latest::text, m.latest > current_date + 366, top.category "
        "FROM m LEFT JOIN LATERAL (SELECT category, row_number() OVER "
        "(ORDER BY n DESC, category COLLATE \"C\") AS r FROM g "
        "WHERE category IS NOT NULL AND n > 0 ORDER BY r LIMIT %d) top ON true "
        "ORDER BY top.r", tx, k);
    db_rows *r = NULL;
    int rc = db_query(c, sql, 0, NULL, &r, e), i;

    free(sql);
    free(tx);
    if (rc)
        return rc;
    rc = take_as_of(t, r->nrows ? db_rows_get(r, 0, 0) : NULL,
                    r->nrows ? db_rows_get(r, 0, 1) : NULL, spec->as_of, e);
    feat_spec_free(spec);
    spec->cats = xcalloc((size_t)r->nrows + 1, sizeof *spec->cats);
    for (i = 0; !rc && i < r->nrows; i++)
        if (db_rows_get(r, i, 2))
            spec->cats[spec->n_cats++] = xstrdup(db_rows_get(r, i, 2));
    db_rows_free(r);
    return rc;
}

int feat_learn_categories(db_conn *c, const rp_tables *t, feat_spec *spec,
                          int k, rp_err *e)
{
    char *tx = schema_qualify(c, t, t->transactions);
    const char *params[1] = {spec->as_of};
    char *sql = xasprintf(
        "SELECT category FROM %s WHERE transaction_date <= $1::date "
        "AND transaction_date > '-infinity'::date "
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

char *feat_cat_col_name(const char *cat, int idx, const char *what)
{
    char *slug = cat_slug(cat, idx);
    char *name = xasprintf("cat_%s_%s", slug, what);

    free(slug);
    return name;
}

/* The account aggregate CTE and its columns. */
static void build_acc(sb_t *sql, feat_query *q, const char *acc, int seed)
{
    sb_printf(sql,
        "acc AS (SELECT customer_id, count(*) AS n_accounts, "
        "sum(balance::numeric)::float8 AS balance_sum, "
        /* the mean as the correctly rounded exact sum divided by the
         * count: avg(numeric) rounds to a data-dependent scale that a
         * client (fastfeat.c) could not reproduce bit for bit */
        "sum(balance::numeric)::float8 / count(balance)::float8 AS balance_mean, "
        "min(balance::float8) AS balance_min, max(balance::float8) AS balance_max, "
        /* a NaN risk_score is no assessment: without the filter it would
         * sort above every number and label the customer high-risk.  A
         * FILTER, not nullif(): postgres_fdw (PG15) cannot ship NULLIF to a
         * shard, and one unshippable aggregate keeps the whole GROUP BY on
         * the coordinator; the two give the same max (NULLs and NaNs
         * skipped, NULL when nothing is left) */
        "max(risk_score::float8) FILTER (WHERE risk_score::float8 <> 'NaN') AS max_risk "
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
    snprintf(label, sizeof label, "number of transactions in the last %d days", days);
    add_col(q, name, label, 0, NULL);
    snprintf(name, sizeof name, "txn_sum_%dd", days);
    snprintf(label, sizeof label, "spend in the last %d days", days);
    add_col(q, name, label, 0, NULL);
}

/* A category name for a label, in words: "cash_withdrawal" reads "cash
 * withdrawal" (labels only; the SQL uses the name as it is). */
static char *cat_words(const char *cat)
{
    char *w = xstrdup(cat), *p;

    for (p = w; *p; p++)
        if (*p == '_')
            *p = ' ';
    return w;
}

/* Per-category count and sum, plus the rest folded into "other". */
static void add_categories(sb_t *sql, feat_query *q, db_conn *c, const feat_spec *s)
{
    sb_t list = {0};
    int i;

    for (i = 0; i < s->n_cats; i++) {
        char *lit = db_quote_literal(c, s->cats[i]);
        char *slug = cat_slug(s->cats[i], i);
        char *words = cat_words(s->cats[i]);
        char *name, *label;

        sb_printf(sql, ", count(*) FILTER (WHERE category = %s) AS cat_%s_count"
                       ", coalesce(sum(amount::numeric) FILTER (WHERE category = %s), 0)::float8"
                       " AS cat_%s_sum", lit, slug, lit, slug);
        sb_printf(&list, "%s%s", i ? ", " : "", lit);
        name = xasprintf("cat_%s_count", slug);
        label = xasprintf("number of %s transactions", words);
        add_col(q, name, label, 0, NULL);
        free(name);
        free(label);
        name = xasprintf("cat_%s_sum", slug);
        /* "amount", not "spend": a category may be income (salary) */
        label = xasprintf("total %s amount", words);
        add_col(q, name, label, 0, NULL);
        free(name);
        free(label);
        free(words);
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
                   "sum(amount::numeric)::float8 / count(amount)::float8 AS txn_mean");
    if (s->set == FEAT_SEED) {
        add_col(q, "txn_sum", "total transaction amount", 0, "transactions");
        add_col(q, "txn_mean", "average transaction amount", 0, "transactions");
        add_col(q, "txn_count", "number of transactions", 0, NULL);
    } else {
        /* the sample standard deviation from exact sums: n*sum(x^2) -
         * sum(x)^2 is exact in NUMERIC (never negative), so one rounding
         * to float8, one division and a correctly rounded sqrt; with one
         * amount it is 0/1 = 0, as stddev_samp's NULL coalesced was */
        sb_printf(sql, ", coalesce(sqrt((count(amount) * sum(amount::numeric * amount::numeric)"
                       " - sum(amount::numeric) * sum(amount::numeric))::float8"
                       " / greatest(count(amount) * (count(amount) - 1), 1)::float8), 0) AS txn_std"
                       ", min(amount::float8) AS txn_min, max(amount::float8) AS txn_max"
                       ", (%s - max(transaction_date))::float8 AS days_since_last"
                       ", (%s - min(transaction_date))::float8 AS days_since_first",
                  asof, asof);
        add_col(q, "txn_count", "number of transactions", 0, NULL);
        add_col(q, "txn_sum", "total spend", 0, NULL);
        add_col(q, "txn_mean", "average transaction amount", 0, "transactions");
        add_col(q, "txn_std", "variability of transaction amounts", 0, "transactions");
        add_col(q, "txn_min", "smallest transaction amount", 0, "transactions");
        add_col(q, "txn_max", "largest transaction amount", 0, "transactions");
        add_col(q, "days_since_last", "days since last transaction", 0, "transactions");
        add_col(q, "days_since_first", "days since first transaction", 0, "transactions");
        add_window(sql, q, asof, 30);
        add_window(sql, q, asof, 90);
        add_categories(sql, q, c, s);
    }
    /* -infinity is a valid date but cannot be subtracted from the as-of
     * date: such rows count as undated (as NULL does) */
    sb_printf(sql, " FROM %s WHERE transaction_date <= %s AND transaction_date > "
                   "'-infinity'::date GROUP BY customer_id)", tx, asof);
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

int feat_build_ex(db_conn *c, const rp_tables *t, const feat_spec *s,
                  const char *asof_sql, int ordered, feat_query *out, rp_err *e)
{
    sb_t sql = {0};
    char *cu = schema_qualify(c, t, t->customers);
    char *ac = schema_qualify(c, t, t->accounts);
    char *tx = schema_qualify(c, t, t->transactions);
    char *lit = asof_sql ? xasprintf("(%s)", asof_sql) : db_quote_literal(c, s->as_of);
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
    if (s->weight_column) {     /* --weight-column: last, not a feature */
        char *w = db_quote_ident(c, s->weight_column);
        sb_printf(&sql, ", c.%s::float8 AS " FEAT_WEIGHT_COL, w);
        add_col(out, FEAT_WEIGHT_COL, "sample weight", 0, NULL);
        free(w);
    }
    sb_printf(&sql, " FROM %s c LEFT JOIN acc a ON a.customer_id = c.customer_id"
                    " LEFT JOIN txn t ON t.customer_id = c.customer_id", cu);
    if (ordered)
        sb_append(&sql, " ORDER BY c.customer_id");
    out->sql = sb_steal(&sql);
    free(cu);
    free(ac);
    free(tx);
    free(lit);
    free(asof);
    (void)e;
    return RP_OK;
}

int feat_build(db_conn *c, const rp_tables *t, const feat_spec *s,
               feat_query *out, rp_err *e)
{
    return feat_build_ex(c, t, s, NULL, 1, out, e);
}
