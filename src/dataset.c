/*
 * dataset.c - loading the feature query into per-column arrays.
 *
 * The rows arrive from COPY TO STDOUT as text fields (db_copy_out); each
 * field is parsed straight into its column: strtod for numbers (correctly
 * rounded, so float8 values round-trip exactly), and for text columns a
 * lookup in a small open-addressing hash table that interns each distinct
 * string once.  Columns grow by doubling; nothing is allocated per row
 * except a new distinct string.
 */
#include "dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"

/* String -> code table for one text column. */
typedef struct strtab {
    size_t cap;      /* power of two */
    int32_t *slot;   /* code + 1, 0 = empty */
} strtab;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void strtab_grow(strtab *t, char **levels, int n)
{
    size_t cap = t->cap ? t->cap * 2 : 64, i;
    int32_t *slot = xcalloc(cap, sizeof *slot);
    int k;

    for (k = 0; k < n; k++) {
        i = hash_str(levels[k]) & (cap - 1);
        while (slot[i])
            i = (i + 1) & (cap - 1);
        slot[i] = k + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->cap = cap;
}

/* The code of s in column j, adding it when new. */
static int32_t intern(dataset *d, int j, const char *s)
{
    strtab *t = &((strtab *)d->dict)[j];
    size_t i;

    if ((size_t)d->nlevels[j] * 2 >= t->cap)
        strtab_grow(t, d->levels[j], d->nlevels[j]);
    i = hash_str(s) & (t->cap - 1);
    while (t->slot[i]) {
        int32_t code = t->slot[i] - 1;
        if (!strcmp(d->levels[j][code], s))
            return code;
        i = (i + 1) & (t->cap - 1);
    }
    d->levels[j] = xreallocarray(d->levels[j], (size_t)d->nlevels[j] + 1, sizeof(char *));
    d->levels[j][d->nlevels[j]] = xstrdup(s);
    t->slot[i] = ++d->nlevels[j];
    return d->nlevels[j] - 1;
}

void ds_init(dataset *d, const feat_query *q)
{
    memset(d, 0, sizeof *d);
    d->ncols = q->ncols;
    d->num = xcalloc((size_t)q->ncols, sizeof *d->num);
    d->code = xcalloc((size_t)q->ncols, sizeof *d->code);
    d->levels = xcalloc((size_t)q->ncols, sizeof *d->levels);
    d->nlevels = xcalloc((size_t)q->ncols, sizeof *d->nlevels);
    d->dict = xcalloc((size_t)q->ncols, sizeof(strtab));
}

static void grow(dataset *d, const feat_query *q)
{
    size_t cap = d->cap ? d->cap * 2 : 4096;
    int j;

    d->ids = xreallocarray(d->ids, cap, sizeof *d->ids);
    d->label = xreallocarray(d->label, cap, sizeof *d->label);
    for (j = 0; j < q->ncols; j++) {
        if (q->cols[j].categorical)
            d->code[j] = xreallocarray(d->code[j], cap, sizeof **d->code);
        else
            d->num[j] = xreallocarray(d->num[j], cap, sizeof **d->num);
    }
    d->cap = cap;
}

/* Parses a numeric field; NULL -> NAN.  Non-finite values (float8 columns
 * can hold NaN and Infinity) are counted and read as missing. */
static int parse_num(dataset *d, const char *f, double *out)
{
    char *end;
    double v;

    if (!f) {
        *out = NAN;
        return 0;
    }
    errno = 0;
    v = strtod(f, &end);
    if (end == f || *end != '\0')
        return -1;
    if (!isfinite(v)) {
        d->nonfinite++;
        v = NAN;
    }
    *out = v;
    return 0;
}

/* Test hook: RISKPIPE_TEST_PAUSE_AFTER_ROWS=N sleeps 3 seconds after the
 * Nth feature row (either feature path: both push rows here), so that a
 * test can kill the connection or signal riskpipe in the middle of the
 * feature read (tests/integration/faults.sh).  A signal cuts the sleep. */
static void test_pause_rows(size_t n)
{
    static long at = -1;
    const char *v;

    if (at == -1) {
        v = getenv("RISKPIPE_TEST_PAUSE_AFTER_ROWS");
        at = v && *v ? atol(v) : 0;
    }
    if (at > 0 && n == (size_t)at)
        sleep(3);
}

int ds_push_row(dataset *d, const feat_query *q, int nfields, char **fields,
                rp_err *e)
{
    size_t i = d->n;
    char *end;
    long long id;
    int j;

    if (nfields != q->ncols + 2)
        return rp_err_set(e, RP_EINTERNAL, "feature query returned %d columns, expected %d",
                          nfields, q->ncols + 2);
    /* callers prefix the customers table's name (inputs_load) */
    if (!fields[0]) {
        rp_err_set(e, RP_EDATA, "a row has a NULL customer_id");
        rp_err_hint(e, "give the table a primary key on customer_id, or remove the row");
        return RP_EDATA;
    }
    errno = 0;
    id = strtoll(fields[0], &end, 10);
    if (errno || *end)
        return rp_err_set(e, RP_EDATA, "customer_id \"%s\" is not an integer", fields[0]);
    if (i > 0 && id <= d->ids[i - 1]) {
        rp_err_set(e, RP_EDATA, "customer_id %lld appears more than once", id);
        rp_err_hint(e, "give the table a primary key on customer_id, or remove the duplicates");
        return RP_EDATA;
    }
    if (i == d->cap)
        grow(d, q);
    d->ids[i] = id;
    d->label[i] = fields[1] ? (fields[1][0] == '1' ? 1.0 : 0.0) : NAN;
    for (j = 0; j < q->ncols; j++) {
        const char *f = fields[j + 2];
        if (q->cols[j].categorical) {
            d->code[j][i] = f ? intern(d, j, f) : -1;
        } else if (parse_num(d, f, &d->num[j][i])) {
            return rp_err_set(e, RP_EDATA, "customer %lld: column \"%s\" has the non-numeric value \"%.40s\"",
                              id, q->cols[j].name, f);
        }
    }
    d->n++;
    test_pause_rows(d->n);
    return RP_OK;
}

typedef struct load_ctx {
    dataset *d;
    const feat_query *q;
    progress pg;
} load_ctx;

static int on_row(void *ctx, int nfields, char **fields, rp_err *e)
{
    load_ctx *lc = ctx;
    int rc = ds_push_row(lc->d, lc->q, nfields, fields, e);

    if ((lc->d->n & 0xffff) == 0)
        progress_update(&lc->pg, lc->d->n);
    return rc;
}

int ds_load(db_conn *c, const feat_query *q, dataset *d, rp_err *e)
{
    load_ctx lc;
    char *sql = xasprintf("COPY (%s) TO STDOUT", q->sql);
    int rc;

    ds_init(d, q);
    lc.d = d;
    lc.q = q;
    progress_begin(&lc.pg, "features", 0);
    rc = db_copy_out(c, sql, on_row, &lc, e);
    progress_end(&lc.pg);
    free(sql);
    if (rc) {
        if (e && e->code == RP_EDB)
            rp_err_prefix(e, "computing the features");
        ds_free(d);
    }
    return rc;
}

void ds_free(dataset *d)
{
    int j, k;

    if (!d)
        return;
    for (j = 0; j < d->ncols; j++) {
        if (d->num)
            free(d->num[j]);
        if (d->code)
            free(d->code[j]);
        if (d->levels && d->levels[j]) {
            for (k = 0; k < d->nlevels[j]; k++)
                free(d->levels[j][k]);
            free(d->levels[j]);
        }
        if (d->dict)
            free(((strtab *)d->dict)[j].slot);
    }
    free(d->num);
    free(d->code);
    free(d->levels);
    free(d->nlevels);
    free(d->dict);
    free(d->ids);
    free(d->label);
    memset(d, 0, sizeof *d);
}

/* One value of column j in row i, as ds_dump prints it. */
static void dump_value(FILE *f, const dataset *d, const feat_query *q, int j, size_t i)
{
    if (!q->cols[j].categorical) {
        if (isnan(d->num[j][i]))
            fputs("\t\\N", f);
        else
            fprintf(f, "\t%.17g", d->num[j][i]);
        return;
    }
    if (d->code[j][i] < 0)
        fputs("\t\\N", f);
    else
        fprintf(f, "\t%s", d->levels[j][d->code[j][i]]);
}

int ds_dump(const dataset *d, const feat_query *q, const char *path, rp_err *e)
{
    FILE *f = fopen(path, "w");
    size_t i;
    int j;

    if (!f)
        return rp_err_set(e, RP_EINTERNAL, "could not write \"%s\"", path);
    fputs("customer_id\tlabel", f);
    for (j = 0; j < q->ncols; j++)
        fprintf(f, "\t%s", q->cols[j].name);
    fputc('\n', f);
    for (i = 0; i < d->n; i++) {
        fprintf(f, "%lld\t", (long long)d->ids[i]);
        if (isnan(d->label[i]))
            fputs("\\N", f);
        else
            fprintf(f, "%.0f", d->label[i]);
        for (j = 0; j < q->ncols; j++)
            dump_value(f, d, q, j, i);
        fputc('\n', f);
    }
    if (fclose(f))
        return rp_err_set(e, RP_EINTERNAL, "could not write \"%s\"", path);
    return RP_OK;
}
