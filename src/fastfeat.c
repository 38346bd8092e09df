/*
 * fastfeat.c - the client-side feature path (see fastfeat.h for when it
 * runs and why).
 *
 * Flow, on one snapshot (the main connection exports it and every worker
 * imports it, so the customers list and the streams see the same rows):
 *
 *   main      BEGIN REPEATABLE READ; pg_export_snapshot();
 *             customers: text COPY ordered by customer_id -> dataset rows
 *             (ds_push_row: the same parsing and checks as the SQL path)
 *   worker k  own connection; owns dataset rows [lo_k, hi_k), i.e. the
 *             customer_id range [ids[lo_k], ids[hi_k]) (the first range
 *             open below and with the NULL ids, the last open above):
 *             binary COPY of its accounts, then of its transactions ->
 *             per-customer exact accumulators -> its rows' feature values
 *
 * Invariants: a worker writes only its own rows of the dataset and its own
 * accumulators, so the threads share nothing writable but the stop flag;
 * the main thread reads the dataset again only after joining them.  Money
 * is (m, s) = m * 10^-s (fixdec.h), kept per customer at the largest scale
 * seen so far for that customer, so every sum is exact and the order in
 * which rows arrive cannot change a bit.
 *
 * Each value is the SQL path's formula (features.c) applied to exact
 * inputs, with the same roundings in the same places:
 *   sum       fd_to_double(exact sum)          sum(x::numeric)::float8
 *   mean      that / (double)count             sum(..)::float8 / count(x)::float8
 *   std       sqrt(fd_to_double(n Sxx - Sx^2) / (double)max(n(n-1), 1))
 *   min, max  fd_to_double(exact min, max)     min(x::float8): rounding is
 *                                              monotonic, so the same double
 *   label     max non-NaN risk_score::float8 > threshold
 * and a column the query zero-fills (coalesce(t.x, 0)) is zero-filled here.
 * Anything the integer arithmetic cannot hold makes the worker report
 * FF_UNFIT, and ff_load falls back to the SQL path (FF_AUTO) or says why
 * (FF_CLIENT).
 */
#include "fastfeat.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixdec.h"
#include "inputs.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"

#define FF_UNFIT 100    /* the data need the SQL path; e says why */
#define FF_STOP 101     /* another worker failed first */
#define MAX_WIN 2       /* windowed count/sum pairs (30 and 90 days) */
#define MAX_CONNS 8
/* category accumulators: 12 bytes per customer and category */
#define MAX_CAT_CELLS ((size_t)64 << 20)

/* What fills one dataset column. */
enum {
    K_CUST,                                        /* customers' own (main thread) */
    K_NACC, K_BSUM, K_BMEAN, K_BMIN, K_BMAX,       /* accounts */
    K_TCOUNT, K_TSUM, K_TMEAN, K_TSTD, K_TMIN, K_TMAX, K_DLAST, K_DFIRST,
    K_WCOUNT, K_WSUM,                              /* arg: window slot */
    K_CCOUNT, K_CSUM,                              /* arg: category index */
    K_COTHER
};

typedef struct col_plan {
    int kind, arg;
    int zero_fill;      /* no missing-value group: the query coalesces to 0 */
} col_plan;

/* One customer's accounts; money at scale sc. */
typedef struct acc_acc {
    fd_int sum;
    int64_t mn, mx;
    double risk;            /* the largest non-NaN risk_score::float8 */
    uint32_t n, nb;         /* accounts; accounts with a balance */
    uint8_t sc, has_risk;
} acc_acc;

/* One customer's transactions up to the as-of date; money at scale sc
 * (sumsq at 2 sc). */
typedef struct txn_acc {
    fd_int sum, sumsq;
    int64_t mn, mx;
    int64_t wsum[MAX_WIN];
    uint32_t n, na;         /* rows; rows with an amount */
    uint32_t wn[MAX_WIN];
    uint32_t other;         /* category NULL or not a learned one */
    int32_t first, last;    /* days since 2000-01-01, PostgreSQL's epoch */
    uint8_t sc;
} txn_acc;

/* The learned categories: bytes -> index, open addressing. */
typedef struct cat_tab {
    size_t mask;
    int *slot;              /* index + 1; 0 = empty */
    const char *const *name;
    size_t *len;
} cat_tab;

/* Shared by the workers; read-only while they run, but for stop. */
typedef struct ff_ctx {
    const feat_query *q;
    col_plan *plan;
    dataset *d;
    int32_t asof;                 /* days since 2000-01-01 */
    int nwin, win[MAX_WIN];       /* window lengths in days */
    int ncat;
    cat_tab cats;
    double thr;                   /* label threshold */
    int wcol;                     /* the weight column's index, or -1 */
    const char *wname;            /* --weight-column: a customers column */
    int32_t *dense;               /* customer_id - base -> row, -1 none */
    int64_t base;
    uint64_t span;
    atomic_int stop;
    long rows_acc, rows_txn;      /* streamed, for -v */
    double cpu;                   /* the workers' CPU seconds, for -v */
} ff_ctx;

typedef struct worker {
    ff_ctx *x;
    db_conn *conn;
    pthread_t th;
    int started;
    size_t lo, hi;                /* dataset rows [lo, hi) */
    char *acc_sql, *txn_sql;
    acc_acc *acc;                 /* hi - lo each, at row - lo */
    txn_acc *txn;
    uint32_t *cn;                 /* (hi - lo) x ncat counts and sums */
    int64_t *cs;
    size_t last;                  /* the row found last: rows come grouped */
    long orph_acc, orph_txn, n_acc, n_txn;
    double cpu;                   /* the thread's CPU seconds, for -v */
    int rc;
    rp_err e;
} worker;

int ff_path_parse(const char *name)
{
    if (!strcmp(name, "auto"))
        return FF_AUTO;
    if (!strcmp(name, "sql"))
        return FF_SQL;
    if (!strcmp(name, "client"))
        return FF_CLIENT;
    return -1;
}

const char *ff_path_name(int path)
{
    return path == FF_SQL ? "sql" : path == FF_CLIENT ? "client" : "auto";
}

/* ------------------------------------------------------------------ */
/* Binary fields                                                        */
/* ------------------------------------------------------------------ */

static uint64_t rd64(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = v << 8 | u[i];
    return v;
}

static int32_t rd32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (int32_t)((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3]);
}

static double rd_float8(const char *p)
{
    uint64_t b = rd64(p);
    double v;

    memcpy(&v, &b, sizeof v);
    return v;
}

/* "YYYY-MM-DD" -> days since 2000-01-01 (proleptic Gregorian, as
 * PostgreSQL's date); -1 when malformed. */
static int day_number(const char *ymd, int32_t *out)
{
    int y, m, d, era, yoe, doy, doe;
    char extra;

    if (sscanf(ymd, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3 || m < 1 || m > 12 ||
        d < 1 || d > 31)
        return -1;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    /* days since 1970-01-01, then since 2000-01-01 (10957 days later) */
    *out = (int32_t)(era * 146097 + doe - 719468 - 10957);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Which column is which                                                */
/* ------------------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* -1 when two learned categories are equal (the SQL would count a row in
 * both; never the case for learned ones, so not worth supporting). */
static int cat_tab_build(cat_tab *ct, char *const *cats, int n)
{
    size_t cap = 16, i;
    int k;

    while (cap < (size_t)n * 4)
        cap *= 2;
    ct->mask = cap - 1;
    ct->slot = xcalloc(cap, sizeof *ct->slot);
    ct->name = (const char *const *)cats;
    ct->len = xcalloc((size_t)n + 1, sizeof *ct->len);
    for (k = 0; k < n; k++) {
        ct->len[k] = strlen(cats[k]);
        i = hash_bytes(cats[k], ct->len[k]) & ct->mask;
        while (ct->slot[i]) {
            if (!strcmp(cats[ct->slot[i] - 1], cats[k]))
                return -1;
            i = (i + 1) & ct->mask;
        }
        ct->slot[i] = k + 1;
    }
    return 0;
}

static int cat_find(const cat_tab *ct, const char *s, size_t n)
{
    size_t i = hash_bytes(s, n) & ct->mask;

    for (; ct->slot[i]; i = (i + 1) & ct->mask) {
        int k = ct->slot[i] - 1;
        if (ct->len[k] == n && !memcmp(ct->name[k], s, n))
            return k;
    }
    return -1;
}

static void cat_tab_free(cat_tab *ct)
{
    free(ct->slot);
    free(ct->len);
}

/* The window slot for a length in days, adding it; -1 when full. */
static int win_slot(ff_ctx *x, int days)
{
    int i;

    for (i = 0; i < x->nwin; i++)
        if (x->win[i] == days)
            return i;
    if (x->nwin == MAX_WIN || days < 1 || days > 100000)
        return -1;
    x->win[x->nwin] = days;
    return x->nwin++;
}

/* A windowed column "txn_count_30d" / "txn_sum_30d": its slot, or -1. */
static int window_col(ff_ctx *x, const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    char *end;
    long days;

    if (strncmp(name, prefix, n) || name[n] < '1' || name[n] > '9')
        return -1;
    days = strtol(name + n, &end, 10);
    if (strcmp(end, "d"))
        return -1;
    return win_slot(x, (int)days);
}

/* A category column of spec: kind and index into *kind / *arg. */
static int category_col(const feat_spec *spec, const char *name, int *kind, int *arg)
{
    int i, w;

    if (strncmp(name, "cat_", 4))
        return 0;
    if (!strcmp(name, "cat_other_count")) {
        *kind = K_COTHER;
        return 1;
    }
    for (i = 0; i < spec->n_cats; i++) {
        for (w = 0; w < 2; w++) {
            char *cn = feat_cat_col_name(spec->cats[i], i, w ? "sum" : "count");
            int hit = !strcmp(cn, name);
            free(cn);
            if (hit) {
                *kind = w ? K_CSUM : K_CCOUNT;
                *arg = i;
                return 1;
            }
        }
    }
    return 0;
}

static int plain_col(const char *name)
{
    static const struct { const char *name; int kind; } k[] = {
        {"n_accounts", K_NACC}, {"balance_sum", K_BSUM}, {"balance", K_BSUM},
        {"balance_mean", K_BMEAN}, {"balance_min", K_BMIN}, {"balance_max", K_BMAX},
        {"txn_count", K_TCOUNT}, {"txn_sum", K_TSUM}, {"txn_mean", K_TMEAN},
        {"txn_std", K_TSTD}, {"txn_min", K_TMIN}, {"txn_max", K_TMAX},
        {"days_since_last", K_DLAST}, {"days_since_first", K_DFIRST}};
    size_t i;

    for (i = 0; i < sizeof k / sizeof k[0]; i++)
        if (!strcmp(name, k[i].name))
            return k[i].kind;
    return -1;
}

/* Maps every column of q to what computes it.  A column the client path
 * does not know (a feature added to features.c only) makes it unfit, so
 * FF_AUTO stays correct and the identity test names the column. */
static int plan_columns(ff_ctx *x, const feat_spec *spec, rp_err *e)
{
    static const char *const cust[3] = {"age", "city", "account_type"};
    const feat_query *q = x->q;
    int j;

    x->plan = xcalloc((size_t)q->ncols + 1, sizeof *x->plan);
    for (j = 0; j < q->ncols; j++) {
        const feat_col *col = &q->cols[j];
        col_plan *p = &x->plan[j];
        p->zero_fill = col->group == NULL;
        if (j < 3 && !strcmp(col->name, cust[j])) {
            p->kind = K_CUST;
            continue;
        }
        if (!strcmp(col->name, FEAT_WEIGHT_COL) && spec->weight_column && x->wcol < 0) {
            p->kind = K_CUST;   /* read with the customers */
            x->wcol = j;
            x->wname = spec->weight_column;
            continue;
        }
        if (col->categorical)
            p->kind = -1;
        else if ((p->kind = plain_col(col->name)) >= 0)
            continue;
        else if ((p->arg = window_col(x, col->name, "txn_count_")) >= 0)
            p->kind = K_WCOUNT;
        else if ((p->arg = window_col(x, col->name, "txn_sum_")) >= 0)
            p->kind = K_WSUM;
        else if (!category_col(spec, col->name, &p->kind, &p->arg))
            p->kind = -1;
        if (p->kind < 0) {
            rp_err_set(e, RP_EDATA, "the feature \"%s\" has no client-side implementation",
                       col->name);
            return FF_UNFIT;
        }
    }
    return RP_OK;
}

/* ------------------------------------------------------------------ */
/* Can the client path run here?                                        */
/* ------------------------------------------------------------------ */

/* One row per column the streams read: the base type (one domain level),
 * whether it is a domain over a domain, whether its collation is
 * deterministic, the table's relkind, whether it is temporary, whether it
 * has foreign partitions, and whether Citus is installed. */
static const char catalog_sql[] =
    "SELECT v.k, v.col, b.typname::text, (ty.typtype = 'd' AND b.typtype = 'd')::text, "
    "coalesce(co.collisdeterministic, true)::text, c.relkind::text, "
    "(c.relpersistence = 't')::text, "
    "EXISTS (SELECT 1 FROM pg_partition_tree(c.oid) p JOIN pg_class pc ON pc.oid = p.relid "
    "WHERE pc.relkind = 'f')::text, "
    "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')::text "
    "FROM (VALUES (1, 'customer_id'), (2, 'customer_id'), (2, 'balance'), "
    "(3, 'customer_id'), (3, 'amount'), (3, 'transaction_date'), (3, 'category')) v(k, col) "
    "JOIN pg_class c ON c.oid = (ARRAY[$1::regclass, $2::regclass, $3::regclass])[v.k] "
    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = v.col "
    "AND a.attnum > 0 AND NOT a.attisdropped "
    "JOIN pg_type ty ON ty.oid = a.atttypid "
    "JOIN pg_type b ON b.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END "
    "LEFT JOIN pg_collation co ON co.oid = a.attcollation";

static int one_of(const char *s, const char *list)
{
    size_t n = strlen(s);
    const char *p = list;

    for (; (p = strstr(p, s)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

/* Why one catalog row rules the client path out (NULL: it does not).
 * strict = 0 (FF_AUTO) also wants the table local. */
static const char *column_problem(const db_rows *r, int i, int strict)
{
    const char *col = db_rows_get(r, i, 1), *ty = db_rows_get(r, i, 2);
    const char *want = !strcmp(col, "customer_id") ? "int2 int4 int8"
                       : !strcmp(col, "transaction_date") ? "date"
                       : !strcmp(col, "category") ? "text varchar"
                       : "numeric int2 int4 int8";

    if (!strcmp(db_rows_get(r, i, 3), "t") || !one_of(ty, want))
        return "its type";
    if (!strcmp(db_rows_get(r, i, 4), "f"))
        return "its nondeterministic collation";
    /* the workers' sessions cannot see this session's temporary tables */
    if (!strcmp(db_rows_get(r, i, 6), "t"))
        return "the table is a temporary table";
    if (strict)
        return NULL;
    if (!one_of(db_rows_get(r, i, 5), "r p m"))
        return "the table is not an ordinary table here (a view or a foreign table)";
    if (!strcmp(db_rows_get(r, i, 7), "t"))
        return "the table has foreign partitions (the SQL path runs on the shards)";
    if (!strcmp(db_rows_get(r, i, 8), "t"))
        return "Citus is installed (the SQL path runs on the workers)";
    return NULL;
}

/* RP_OK when the client path may run; FF_UNFIT with the reason in e when
 * not; another code when the catalog query fails. */
static int check_catalog(db_conn *c, const rp_tables *t, int strict, rp_err *e)
{
    static const char *const table_of[3] = {"customers", "accounts", "transactions"};
    char *names[3];
    db_rows *r = NULL;
    int rc, i;

    names[0] = schema_qualify(c, t, t->customers);
    names[1] = schema_qualify(c, t, t->accounts);
    names[2] = schema_qualify(c, t, t->transactions);
    rc = db_query(c, catalog_sql, 3, (const char *const *)names, &r, e);
    for (i = 0; !rc && i < r->nrows; i++) {
        const char *why = column_problem(r, i, strict);
        int k = atoi(db_rows_get(r, i, 0)) - 1;
        if (why) {
            rp_err_set(e, RP_EDATA, "the client-side feature path cannot read %s.%s: %s",
                       table_of[k], db_rows_get(r, i, 1), why);
            rc = FF_UNFIT;
        }
    }
    if (!rc && r->nrows != 7) {
        rp_err_set(e, RP_EDATA, "the client-side feature path did not find all its columns");
        rc = FF_UNFIT;
    }
    db_rows_free(r);
    for (i = 0; i < 3; i++)
        free(names[i]);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Customers (main thread)                                              */
/* ------------------------------------------------------------------ */

typedef struct cust_ctx {
    dataset *d;
    const feat_query *q;
    int wcol;           /* the weight column, or -1 */
    char **fields;      /* customer_id, label, age, city, account_type, NULLs */
} cust_ctx;

static int on_customer(void *ctx, int nf, char **f, rp_err *e)
{
    cust_ctx *cc = ctx;

    if (nf != (cc->wcol < 0 ? 4 : 5))
        return rp_err_set(e, RP_EINTERNAL, "customers query returned %d columns", nf);
    cc->fields[0] = f[0];
    cc->fields[2] = f[1];
    cc->fields[3] = f[2];
    cc->fields[4] = f[3];
    if (cc->wcol >= 0)
        cc->fields[cc->wcol + 2] = f[4];
    return ds_push_row(cc->d, cc->q, cc->q->ncols + 2, cc->fields, e);
}

/* The customers' rows with their own columns, exactly as the feature
 * query selects them; every other column NULL (NAN) until the workers
 * fill it. */
static int load_customers(db_conn *c, const rp_tables *t, const ff_ctx *x, rp_err *e)
{
    char *cu = schema_qualify(c, t, t->customers);
    char *w = x->wname ? db_quote_ident(c, x->wname) : NULL;
    char *wsel = w ? xasprintf(", %s::float8", w) : xstrdup("");
    char *sql = xasprintf("COPY (SELECT customer_id, age::float8, city::text, "
                          "account_type::text%s FROM %s ORDER BY customer_id) TO STDOUT",
                          wsel, cu);
    cust_ctx cc = {x->d, x->q, x->wcol, xcalloc((size_t)x->q->ncols + 2, sizeof(char *))};
    int rc = db_copy_out(c, sql, on_customer, &cc, e);

    if (rc == RP_EDATA)
        rp_err_prefix(e, "table \"%s\".\"%s\"", t->schema, t->customers);
    free(cc.fields);
    free(sql);
    free(wsel);
    free(w);
    free(cu);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Workers: rows -> accumulators                                        */
/* ------------------------------------------------------------------ */

static int unfit(rp_err *e, const char *what)
{
    rp_err_set(e, RP_EDATA, "%s", what);
    return FF_UNFIT;
}

/* The dataset row of customer id, or -1 when it is no customer. */
static long find_row(worker *w, int64_t id)
{
    const ff_ctx *x = w->x;
    const int64_t *ids = x->d->ids;
    size_t lo = w->lo, hi = w->hi;

    if (x->dense) {
        uint64_t k = (uint64_t)id - (uint64_t)x->base;
        return k < x->span ? x->dense[k] : -1;
    }
    if (ids[w->last] == id)
        return (long)w->last;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < w->hi && ids[lo] == id) {
        w->last = lo;
        return (long)lo;
    }
    return -1;
}

/* The worker-local index of the customer of a row's customer_id field,
 * or -1 for an orphan (counted). */
static long row_of(worker *w, const char *v, int len, long *orphans)
{
    long r;

    if (!v) {
        (*orphans)++;
        return -1;
    }
    /* smallint, integer or bigint as the table has it: no cast per row */
    if (len == 8)
        r = find_row(w, (int64_t)rd64(v));
    else if (len == 4)
        r = find_row(w, rd32(v));
    else if (len == 2)
        r = find_row(w, (int16_t)(uint16_t)((unsigned char)v[0] << 8 | (unsigned char)v[1]));
    else
        return -2;
    if (r < 0) {
        (*orphans)++;
        return -1;
    }
    if ((size_t)r < w->lo || (size_t)r >= w->hi)
        return -2;   /* the range predicate should have kept it away */
    return r - (long)w->lo;
}

/* Parses a money field into (*m, *s); FF_UNFIT when it cannot be exact. */
static int money_field(const char *v, int len, const char *col, int64_t *m, int *s,
                       rp_err *e)
{
    int rc = fd_numeric_parse(v, len, m, s);
    char msg[200];

    if (rc == FD_OK)
        return RP_OK;
    if (rc == FD_BAD)
        return rp_err_set(e, RP_EINTERNAL, "malformed NUMERIC in %s", col);
    snprintf(msg, sizeof msg, "%s holds %s", col, rc == FD_SPECIAL ? "NaN or Infinity"
             : "a value with more than 18 decimals or beyond 64-bit integers");
    return unfit(e, msg);
}

static int acc_rescale(acc_acc *a, int s)
{
    int k = s - a->sc;

    if (fd_mul_pow10(&a->sum, k))
        return -1;
    if (a->nb && (fd_mul_pow10_64(&a->mn, k) || fd_mul_pow10_64(&a->mx, k)))
        return -1;
    a->sc = (uint8_t)s;
    return 0;
}

static int on_account(void *ctx, int nf, const char *const *v, const int *len, rp_err *e)
{
    worker *w = ctx;
    acc_acc *a;
    int64_t m;
    int s, rc;
    long i;

    if (atomic_load_explicit(&w->x->stop, memory_order_relaxed))
        return FF_STOP;
    w->n_acc++;
    if (nf != 3 || (i = row_of(w, v[0], len[0], &w->orph_acc)) < -1)
        return rp_err_set(e, RP_EINTERNAL, "unexpected row in the accounts stream");
    if (i < 0)
        return RP_OK;
    a = &w->acc[i];
    a->n++;
    if (v[2] && len[2] == 8) {
        double r = rd_float8(v[2]);
        if (!isnan(r) && (!a->has_risk || r > a->risk)) {
            a->risk = r;
            a->has_risk = 1;
        }
    }
    if (!v[1])
        return RP_OK;
    if ((rc = money_field(v[1], len[1], "accounts.balance", &m, &s, e)))
        return rc;
    if ((s > a->sc && acc_rescale(a, s)) || (s < a->sc && fd_mul_pow10_64(&m, a->sc - s)) ||
        __builtin_add_overflow(a->sum, (fd_int)m, &a->sum))
        return unfit(e, "the balances of one customer exceed exact 128-bit sums");
    if (!a->nb || m < a->mn)
        a->mn = m;
    if (!a->nb || m > a->mx)
        a->mx = m;
    a->nb++;
    return RP_OK;
}

/* Brings a customer's transaction money (cs: its category sums) to scale s. */
static int txn_rescale(txn_acc *a, int64_t *cs, int ncat, int s)
{
    int k = s - a->sc, i;

    if (fd_mul_pow10(&a->sum, k) || fd_mul_pow10(&a->sumsq, 2 * k))
        return -1;
    if (a->na && (fd_mul_pow10_64(&a->mn, k) || fd_mul_pow10_64(&a->mx, k)))
        return -1;
    for (i = 0; i < MAX_WIN; i++)
        if (fd_mul_pow10_64(&a->wsum[i], k))
            return -1;
    for (i = 0; i < ncat; i++)
        if (fd_mul_pow10_64(&cs[i], k))
            return -1;
    a->sc = (uint8_t)s;
    return 0;
}

/* Adds amount (m, s) to a customer's sums: inwin[i] for the windows, cat
 * the category index (or -1).  -1 on overflow. */
static int txn_money(txn_acc *a, int64_t *cs, int ncat, const int *inwin, int cat,
                     int64_t m, int s)
{
    int i;

    if ((s > a->sc && txn_rescale(a, cs, ncat, s)) ||
        (s < a->sc && fd_mul_pow10_64(&m, a->sc - s)))
        return -1;
    if (__builtin_add_overflow(a->sum, (fd_int)m, &a->sum) ||
        __builtin_add_overflow(a->sumsq, (fd_int)m * m, &a->sumsq))
        return -1;
    if (!a->na || m < a->mn)
        a->mn = m;
    if (!a->na || m > a->mx)
        a->mx = m;
    a->na++;
    for (i = 0; i < MAX_WIN; i++)
        if (inwin[i] && __builtin_add_overflow(a->wsum[i], m, &a->wsum[i]))
            return -1;
    if (cat >= 0 && __builtin_add_overflow(cs[cat], m, &cs[cat]))
        return -1;
    return 0;
}

/* Counts one dated transaction row; returns its category index or -1. */
static int txn_count(worker *w, txn_acc *a, uint32_t *cn, int32_t day, const char *cat,
                     int clen, int *inwin)
{
    const ff_ctx *x = w->x;
    int i, k = -1;

    if (!a->n || day < a->first)
        a->first = day;
    if (!a->n || day > a->last)
        a->last = day;
    a->n++;
    for (i = 0; i < MAX_WIN; i++) {
        inwin[i] = i < x->nwin && day > x->asof - x->win[i];
        a->wn[i] += (uint32_t)inwin[i];
    }
    if (cat && x->ncat)
        k = cat_find(&x->cats, cat, (size_t)clen);
    if (k >= 0)
        cn[k]++;
    else
        a->other++;
    return k;
}

static int on_transaction(void *ctx, int nf, const char *const *v, const int *len, rp_err *e)
{
    worker *w = ctx;
    const ff_ctx *x = w->x;
    int inwin[MAX_WIN], k, s, rc;
    int32_t day;
    int64_t m;
    long i;

    if (atomic_load_explicit(&w->x->stop, memory_order_relaxed))
        return FF_STOP;
    w->n_txn++;
    if (nf != 4 || (i = row_of(w, v[0], len[0], &w->orph_txn)) < -1 ||
        (v[2] && len[2] != 4))
        return rp_err_set(e, RP_EINTERNAL, "unexpected row in the transactions stream");
    /* the feature query's WHERE: dated, not -infinity, up to the as-of date */
    if (i < 0 || !v[2] || (day = rd32(v[2])) > x->asof || day == INT32_MIN)
        return RP_OK;
    k = txn_count(w, &w->txn[i], w->cn + (size_t)i * (size_t)x->ncat, day, v[3], len[3], inwin);
    if (!v[1])
        return RP_OK;
    if ((rc = money_field(v[1], len[1], "transactions.amount", &m, &s, e)))
        return rc;
    if (txn_money(&w->txn[i], w->cs + (size_t)i * (size_t)x->ncat, x->ncat, inwin, k, m, s))
        return unfit(e, "the amounts of one customer exceed exact 128-bit sums");
    return RP_OK;
}

/* ------------------------------------------------------------------ */
/* Workers: accumulators -> feature values                              */
/* ------------------------------------------------------------------ */

static double money(fd_int m, int scale)
{
    return fd_to_double(m, scale);
}

/* The sample standard deviation as the SQL path computes it; -1 on
 * overflow of n * Sxx - Sx^2. */
static int txn_std(const txn_acc *a, double *out)
{
    fd_int nsxx, sx2, dev;

    if (a->na < 2) {
        *out = 0;   /* coalesce(sqrt(0 / 1), 0) for one amount, NULL -> 0 for none */
        return 0;
    }
    if (__builtin_mul_overflow(a->sumsq, (fd_int)a->na, &nsxx) ||
        __builtin_mul_overflow(a->sum, a->sum, &sx2) ||
        __builtin_sub_overflow(nsxx, sx2, &dev))
        return -1;
    *out = sqrt(money(dev, 2 * a->sc) / (double)((int64_t)a->na * (a->na - 1)));
    return 0;
}

static double acc_value(const acc_acc *a, int kind)
{
    if (!a->n)
        return NAN;
    switch (kind) {
    case K_NACC: return a->n;
    case K_BSUM: return a->nb ? money(a->sum, a->sc) : NAN;
    case K_BMEAN: return a->nb ? money(a->sum, a->sc) / (double)a->nb : NAN;
    case K_BMIN: return a->nb ? money(a->mn, a->sc) : NAN;
    default: return a->nb ? money(a->mx, a->sc) : NAN;   /* K_BMAX */
    }
}

static double txn_value(const ff_ctx *x, const txn_acc *a, const uint32_t *cn,
                        const int64_t *cs, const col_plan *p)
{
    if (!a->n)
        return NAN;
    switch (p->kind) {
    case K_TCOUNT: return a->n;
    case K_TSUM: return a->na ? money(a->sum, a->sc) : NAN;
    case K_TMEAN: return a->na ? money(a->sum, a->sc) / (double)a->na : NAN;
    case K_TMIN: return a->na ? money(a->mn, a->sc) : NAN;
    case K_TMAX: return a->na ? money(a->mx, a->sc) : NAN;
    case K_DLAST: return (double)(x->asof - a->last);
    case K_DFIRST: return (double)(x->asof - a->first);
    case K_WCOUNT: return a->wn[p->arg];
    case K_WSUM: return money(a->wsum[p->arg], a->sc);
    case K_CCOUNT: return cn[p->arg];
    case K_CSUM: return money(cs[p->arg], a->sc);
    default: return a->other;   /* K_COTHER */
    }
}

/* Column p's value in the worker's row i; -1 when the exact arithmetic
 * overflows. */
static int col_value(const worker *w, size_t i, const col_plan *p, double *v)
{
    const ff_ctx *x = w->x;
    const txn_acc *t = &w->txn[i];
    size_t nc = (size_t)x->ncat;

    if (p->kind <= K_BMAX) {
        *v = acc_value(&w->acc[i], p->kind);
        return 0;
    }
    if (p->kind == K_TSTD) {
        *v = NAN;
        return t->n ? txn_std(t, v) : 0;
    }
    *v = txn_value(x, t, w->cn + i * nc, w->cs + i * nc, p);
    return 0;
}

/* Writes the label and every accounts and transactions column of the
 * worker's rows. */
static int fill_rows(worker *w, rp_err *e)
{
    ff_ctx *x = w->x;
    dataset *d = x->d;
    size_t i;
    int j;

    for (i = 0; i < w->hi - w->lo; i++) {
        const acc_acc *a = &w->acc[i];
        size_t r = w->lo + i;
        d->label[r] = a->has_risk ? (a->risk > x->thr ? 1.0 : 0.0) : NAN;
        for (j = 0; j < x->q->ncols; j++) {
            const col_plan *p = &x->plan[j];
            double v;
            if (p->kind == K_CUST)
                continue;
            if (col_value(w, i, p, &v))
                return unfit(e, "the amounts of one customer exceed exact 128-bit sums");
            d->num[j][r] = isnan(v) && p->zero_fill ? 0.0 : v;
        }
    }
    return RP_OK;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    size_t n = w->hi - w->lo;

    w->acc = xcalloc(n, sizeof *w->acc);
    w->txn = xcalloc(n, sizeof *w->txn);
    w->cn = xcalloc(n * (size_t)w->x->ncat + 1, sizeof *w->cn);
    w->cs = xcalloc(n * (size_t)w->x->ncat + 1, sizeof *w->cs);
    w->last = w->lo;
    w->rc = db_copy_out_binary(w->conn, w->acc_sql, on_account, w, &w->e);
    if (!w->rc)
        w->rc = db_copy_out_binary(w->conn, w->txn_sql, on_transaction, w, &w->e);
    if (!w->rc)
        w->rc = fill_rows(w, &w->e);
    if (w->rc && w->rc != FF_STOP)
        atomic_store(&w->x->stop, 1);
    free(w->acc);
    free(w->txn);
    free(w->cn);
    free(w->cs);
    w->acc = NULL;
    w->txn = NULL;
    w->cn = NULL;
    w->cs = NULL;
    {
        struct timespec ts;
        if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
            w->cpu = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Orchestration (main thread)                                          */
/* ------------------------------------------------------------------ */

/* A dense customer_id -> row index when the ids are compact (the usual
 * serial keys): one load per row instead of a binary search. */
static void build_dense(ff_ctx *x)
{
    const dataset *d = x->d;
    uint64_t span;
    size_t i;

    if (d->n == 0 || d->n > INT32_MAX)
        return;
    span = (uint64_t)d->ids[d->n - 1] - (uint64_t)d->ids[0] + 1;
    if (span == 0 || span > (uint64_t)d->n * 4 + 1024)
        return;
    x->base = d->ids[0];
    x->span = span;
    x->dense = xmallocarray((size_t)span, sizeof *x->dense);
    memset(x->dense, 0xff, (size_t)span * sizeof *x->dense);
    for (i = 0; i < d->n; i++)
        x->dense[(uint64_t)d->ids[i] - (uint64_t)x->base] = (int32_t)i;
}

/* The worker's share: rows and the customer_id range predicate. */
static void plan_worker(worker *w, ff_ctx *x, int k, int nw, const char *acc,
                        const char *txn)
{
    const dataset *d = x->d;
    char where[128] = "";

    w->x = x;
    w->lo = d->n * (size_t)k / (size_t)nw;
    w->hi = d->n * (size_t)(k + 1) / (size_t)nw;
    if (nw > 1 && k == 0)
        snprintf(where, sizeof where, " WHERE customer_id < %lld OR customer_id IS NULL",
                 (long long)d->ids[w->hi]);
    else if (nw > 1 && k == nw - 1)
        snprintf(where, sizeof where, " WHERE customer_id >= %lld", (long long)d->ids[w->lo]);
    else if (nw > 1)
        snprintf(where, sizeof where, " WHERE customer_id >= %lld AND customer_id < %lld",
                 (long long)d->ids[w->lo], (long long)d->ids[w->hi]);
    w->acc_sql = xasprintf("COPY (SELECT customer_id, balance::numeric, "
                           "risk_score::float8 FROM %s%s) TO STDOUT (FORMAT binary)", acc, where);
    w->txn_sql = xasprintf("COPY (SELECT customer_id, amount::numeric, transaction_date, "
                           "category::text FROM %s%s) TO STDOUT (FORMAT binary)", txn, where);
}

/* Opens a worker's connection inside the main connection's snapshot. */
static int open_worker(worker *w, db_conn *c, const char *snap_lit, rp_err *e)
{
    char *sql;
    int rc;

    if (!(w->conn = db_connect_like(c, e)))
        return e ? e->code : RP_EDB;
    sql = xasprintf("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
                    "SET TRANSACTION SNAPSHOT %s; "
                    /* one stream per connection is the parallelism */
                    "SET LOCAL max_parallel_workers_per_gather = 0", snap_lit);
    rc = db_exec(w->conn, sql, e);
    free(sql);
    return rc;
}

static int default_connections(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > MAX_CONNS ? MAX_CONNS : (int)n;
}

/* The first real failure of the workers (a worker stopped by another's
 * failure reports FF_STOP). */
static int worker_errors(worker *ws, int nw, rp_err *e)
{
    int k, rc = RP_OK;

    for (k = 0; k < nw && !rc; k++)
        if (ws[k].rc && ws[k].rc != FF_STOP) {
            rc = ws[k].rc;
            if (e)
                *e = ws[k].e;
        }
    return rc;
}

/* Runs nw workers over x->d's rows; sums their orphan counts into info. */
static int run_workers(db_conn *c, const rp_tables *t, ff_ctx *x, int nw,
                       const char *snap_lit, ff_info *info, rp_err *e)
{
    worker *ws = xcalloc((size_t)nw, sizeof *ws);
    char *acc = schema_qualify(c, t, t->accounts), *txn = schema_qualify(c, t, t->transactions);
    int k, rc = RP_OK;

    for (k = 0; k < nw && !rc; k++) {
        plan_worker(&ws[k], x, k, nw, acc, txn);
        rc = open_worker(&ws[k], c, snap_lit, e);
    }
    for (k = 0; k < nw && !rc; k++) {
        if (pthread_create(&ws[k].th, NULL, worker_main, &ws[k])) {
            atomic_store(&x->stop, 1);
            rc = rp_err_set(e, RP_EINTERNAL, "could not start a feature thread");
        }
        ws[k].started = !rc;
    }
    for (k = 0; k < nw; k++)
        if (ws[k].started)
            pthread_join(ws[k].th, NULL);
    if (!rc)
        rc = worker_errors(ws, nw, e);
    for (k = 0; k < nw; k++) {
        info->orphan_accounts += ws[k].orph_acc;
        x->rows_acc += ws[k].n_acc;
        x->rows_txn += ws[k].n_txn;
        x->cpu += ws[k].cpu;
        info->orphan_transactions += ws[k].orph_txn;
        if (ws[k].conn && !rc)
            rc = db_exec(ws[k].conn, "COMMIT", e);
        db_close(ws[k].conn);
        free(ws[k].acc_sql);
        free(ws[k].txn_sql);
    }
    free(acc);
    free(txn);
    free(ws);
    return rc;
}

static void ctx_free(ff_ctx *x)
{
    free(x->plan);
    free(x->dense);
    cat_tab_free(&x->cats);
}

/* Everything after the checks: the snapshot, customers, the workers. */
static int client_pass(db_conn *c, const rp_tables *t, ff_ctx *x, const ff_opts *o,
                       ff_info *info, rp_err *e)
{
    char *snap = NULL, *snap_lit = NULL;
    double t0 = log_now(), t1;
    int rc, nw;

    rc = db_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", e);
    if (!rc)
        rc = db_query_value(c, "SELECT pg_export_snapshot()", 0, NULL, &snap, e);
    if (!rc)
        rc = load_customers(c, t, x, e);
    t1 = log_now();
    /* the category accumulators take 12 bytes per customer and category:
     * FF_AUTO leaves very many categories to the server */
    if (!rc && o->path == FF_AUTO && (size_t)x->ncat * x->d->n > MAX_CAT_CELLS)
        rc = unfit(e, "too many categories for the client's memory");
    nw = o->connections < 1 ? default_connections() : o->connections;
    if ((size_t)nw > x->d->n)
        nw = (int)x->d->n;
    if (!rc && nw > 0) {
        snap_lit = db_quote_literal(c, snap ? snap : "");
        build_dense(x);
        rc = run_workers(c, t, x, nw, snap_lit, info, e);
    }
    if (!rc)
        rc = db_exec(c, "COMMIT", e);
    else
        db_rollback(c);
    if (!rc)
        log_verbose("features: client path, %d connection%s: customers %.3f s, "
                    "accounts and transactions %.3f s (%ld + %ld rows; %.2f s of "
                    "riskpipe's CPU)", nw, nw == 1 ? "" : "s", t1 - t0, log_now() - t1,
                    x->rows_acc, x->rows_txn, x->cpu);
    free(snap);
    free(snap_lit);
    return rc;
}

/* Sets up x for spec and q: columns, categories, dates.  FF_UNFIT when
 * the client path cannot compute these features. */
static int client_setup(ff_ctx *x, const feat_spec *spec, const feat_query *q,
                        dataset *d, rp_err *e)
{
    int rc;

    memset(x, 0, sizeof *x);
    atomic_init(&x->stop, 0);
    x->q = q;
    x->d = d;
    x->wcol = -1;
    x->thr = spec->label_threshold;
    x->ncat = spec->n_cats;
    if ((rc = plan_columns(x, spec, e)))
        return rc;
    if (day_number(spec->as_of, &x->asof))
        return unfit(e, "the as-of date is not YYYY-MM-DD");
    if (cat_tab_build(&x->cats, spec->cats, spec->n_cats))
        return unfit(e, "two learned categories are equal");
    return RP_OK;
}

/* The client path: RP_OK, FF_UNFIT (e says why), or an error. */
static int client_load(db_conn *c, const rp_tables *t, const feat_spec *spec,
                       const feat_query *q, const ff_opts *o, dataset *d,
                       ff_info *info, rp_err *e)
{
    ff_ctx x;
    progress pg;
    int rc;

    if (db_in_transaction(c))
        return unfit(e, "the connection is inside a transaction");
    if ((rc = check_catalog(c, t, o->path == FF_CLIENT, e)))
        return rc;
    rc = client_setup(&x, spec, q, d, e);
    ds_init(d, q);
    progress_begin(&pg, "features", 0);
    if (!rc)
        rc = client_pass(c, t, &x, o, info, e);
    progress_end(&pg);
    ctx_free(&x);
    if (rc)
        ds_free(d);
    return rc;
}

int ff_load(db_conn *c, const rp_tables *t, const feat_spec *spec,
            const feat_query *q, const ff_opts *o, dataset *d, ff_info *info,
            rp_err *e)
{
    static const ff_opts dflt = {FF_AUTO, 0};
    ff_info ignore;
    rp_err ce;
    int rc;

    if (!o)
        o = &dflt;
    if (!info)
        info = &ignore;
    memset(info, 0, sizeof *info);
    memset(d, 0, sizeof *d);
    if (o->path == FF_SQL)
        return inputs_load(c, t, q, d, e);
    rp_err_clear(&ce);
    rc = client_load(c, t, spec, q, o, d, info, &ce);
    if (!rc) {
        info->client = 1;
        return RP_OK;
    }
    /* a stop signal is no reason to try the other path */
    if (o->path == FF_CLIENT || rp_interrupt) {
        if (e)
            *e = ce;
        if (rc == FF_UNFIT) {
            rc = RP_EDATA;
            if (e) {
                e->code = RP_EDATA;
                rp_err_hint(e, "use --features-path sql (or auto, which falls back to it)");
            }
        }
        return rc;
    }
    log_verbose("features: SQL path (the client-side path %s: %s)",
                rc == FF_UNFIT ? "does not apply" : "failed", ce.msg);
    memset(info, 0, sizeof *info);
    return inputs_load(c, t, q, d, e);
}

void ff_warn_orphans(db_conn *c, const rp_tables *t, const ff_info *info)
{
    if (!info || !info->client) {
        inputs_warn_orphans(c, t);
        return;
    }
    if (info->orphan_accounts || info->orphan_transactions)
        log_warn("%ld accounts and %ld transactions belong to no customer in \"%s\" "
                 "(unknown or NULL customer_id) and were left out",
                 info->orphan_accounts, info->orphan_transactions, t->customers);
}
