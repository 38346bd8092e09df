/*
 * load.c - CSV files into the input tables (see load.h for the contract).
 *
 * Why validate in C instead of letting COPY ... CSV parse the files: one
 * bad value makes a server-side COPY fail as a whole, with the position
 * counted in COPY's own lines (a quoted line break throws it off).  Here
 * each row is checked against the target column's real type before it is
 * sent, so a bad row costs only itself, goes to the reject file with the
 * physical line where it starts, and the rest loads.  The checks follow
 * what PostgreSQL's input functions accept (leading/trailing blanks around
 * numbers, a "+" sign, exponents; numeric(p,s) rounding to s digits), so
 * a row that passes is a row the server takes.
 *
 * Speed.  The server is the bottleneck, so the client saves it work:
 * every number and date has been parsed for the checks already, so rows
 * go as COPY BINARY (integers, float8, numeric as base-10000 digits,
 * dates as day numbers, text as bytes) and the server skips numeric_in
 * and date_in - about 18% less server CPU than psql's \copy of the same
 * CSV (bench/RESULTS.md).  A column of another type (an enum, a domain
 * over money) makes the file go as COPY text instead, which costs the
 * server what \copy does.  Batches are 64 KB, small enough that the
 * server works on one while the client parses the next (with 1 MB
 * batches the two took turns).  The reader allocates nothing per row.
 *
 * Transactions.  BEGIN, TRUNCATE (--replace), one COPY per file, ANALYZE,
 * COMMIT.  After --replace's TRUNCATE the COPYs use FREEZE (rows written
 * already frozen, so the first reader does not rewrite every page to set
 * hint bits); that gives up nothing MVCC-wise that the TRUNCATE had not
 * already given up for transactions with older snapshots.  When the rejects pass --max-rejects the COPY in progress is
 * aborted and no more rows are sent, but the files are still read to the
 * end so that the reject files list every bad row, not only the first.
 *
 * Duplicate ids within a file are caught here (an open-addressing set of
 * the ids seen, 12 bytes a slot, grown by doubling) because the user's
 * tables need not have a primary key; a duplicate of a row already in the
 * table is caught by the table's key, if it has one, and fails the load.
 */
#include "load.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"

#define LOAD_FLUSH ((size_t)1 << 16)   /* COPY batch size */
#define LOAD_MAXCOLS 5

/* What a column holds (SPEC section 1) ... */
enum { K_ID, K_NUM, K_DATE, K_TEXT };
/* ... and the type the table gives it (base type through a domain). */
enum { T_INT2, T_INT4, T_INT8, T_NUMERIC, T_FLOAT4, T_FLOAT8, T_DATE, T_TEXT, T_OTHER };

typedef struct spec_col {
    const char *name;
    int kind;
    int required;       /* the header must have it */
} spec_col;

/* The columns `load` fills, per table.  The first is the table's own id,
 * checked for duplicates.  risk_score is optional: files of customers to
 * score usually have none (their accounts are then unlabelled). */
static const spec_col spec[LOAD_NTABLES][LOAD_MAXCOLS] = {
    {{"customer_id", K_ID, 1}, {"age", K_NUM, 1}, {"city", K_TEXT, 1},
     {"account_type", K_TEXT, 1}, {NULL, 0, 0}},
    {{"account_id", K_ID, 1}, {"customer_id", K_ID, 1}, {"balance", K_NUM, 1},
     {"risk_score", K_NUM, 0}, {NULL, 0, 0}},
    {{"transaction_id", K_ID, 1}, {"customer_id", K_ID, 1}, {"amount", K_NUM, 1},
     {"transaction_date", K_DATE, 1}, {"category", K_TEXT, 1}},
};

static const char *const table_word[LOAD_NTABLES] = {"customers", "accounts", "transactions"};

/* A decimal number as parse_decimal reads it. */
typedef struct dec {
    size_t mant0, mant1;   /* mantissa text (digits and the point) */
    long e10;              /* value = 0.D x 10^e10, D from the first non-zero digit */
    long dscale;           /* digits after the point as written, less the
                              exponent (numeric_in's display scale) */
    int zero;
} dec;

/* One column being loaded. */
typedef struct lcol {
    const char *name;
    int kind, type;
    int csv;            /* its field in the file */
    int prec, scale;    /* numeric(prec, scale); prec 0 = unconstrained */
    int maxchars;       /* varchar(n) / char(n); 0 = no limit */
    /* the current row, after a successful check */
    const char *val;    /* NULL for SQL NULL */
    size_t vlen;
    int64_t id;         /* integer types: the parsed value */
    dec d;              /* numeric: the parsed decimal */
    double x;           /* float4 / float8: the parsed value */
    int32_t days;       /* date: days since 2000-01-01 */
} lcol;

/*
 * The ids seen in one file.  Files are usually in id order, so the ids
 * that arrive in increasing order are appended to a sorted array (one
 * comparison, sequential memory); only an id not above the last of them
 * is looked up there (binary search) and in a hash set of the
 * out-of-order ids.  An id above the last sorted one cannot be in the
 * hash set either: every id there was below the last sorted id of its
 * time, and that only grows.  12 bytes per id; the hash set is used only
 * by files out of order.
 */
typedef struct idset {
    int64_t *run;       /* increasing ids, and their lines */
    uint32_t *run_line;
    size_t nrun, caprun;
    int64_t *key;       /* the others: open addressing, linear probing */
    uint32_t *line;     /* 0 = empty slot (lines start at 1) */
    size_t cap, n;
} idset;

typedef struct lfile {
    int which;          /* LOAD_CUSTOMERS ... */
    const char *path;
    const char *table;  /* unquoted, for messages */
    char *qtable;
    csv_reader *r;
    int nfields;        /* header fields */
    char **hdr;         /* their names, for messages */
    int finished;       /* read to the end: its reject file is complete */
    int binary;         /* sent as COPY BINARY (binary_ok) */
    lcol cols[LOAD_MAXCOLS];
    int ncols;
    idset seen;
    FILE *rej;          /* reject file, opened at the first reject */
    char *rej_path, *rej_tmp;
    long size;          /* bytes, for progress */
} lfile;

load_opts load_opts_default(void)
{
    load_opts o;

    memset(&o, 0, sizeof o);
    o.max_rejects = -1;
    return o;
}

void load_summary_free(load_summary *s)
{
    int i;

    if (!s)
        return;
    for (i = 0; i < LOAD_NTABLES; i++) {
        free(s->rejects[i]);
        s->rejects[i] = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* The id set                                                          */
/* ------------------------------------------------------------------ */

static size_t id_hash(int64_t k, size_t cap)
{
    uint64_t z = (uint64_t)k + 0x9e3779b97f4a7c15ULL;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (size_t)(z ^ (z >> 31)) & (cap - 1);
}

static uint32_t line32(long line)
{
    return line > 0 && line < (long)UINT32_MAX ? (uint32_t)line : UINT32_MAX;
}

static void hash_grow(idset *s)
{
    int64_t *okey = s->key;
    uint32_t *oline = s->line;
    size_t i, ocap = s->cap;

    s->cap = ocap ? ocap * 2 : 1024;
    s->key = xmallocarray(s->cap, sizeof *s->key);
    s->line = xcalloc(s->cap, sizeof *s->line);
    for (i = 0; i < ocap; i++) {
        size_t h;
        if (!oline[i])
            continue;
        for (h = id_hash(okey[i], s->cap); s->line[h]; h = (h + 1) & (s->cap - 1))
            ;
        s->key[h] = okey[i];
        s->line[h] = oline[i];
    }
    free(okey);
    free(oline);
}

/* Adds id to the hash set; 0 when new, else the line it was first on. */
static long hash_add(idset *s, int64_t id, long line)
{
    size_t h;

    if (2 * (s->n + 1) > s->cap)
        hash_grow(s);
    for (h = id_hash(id, s->cap); s->line[h]; h = (h + 1) & (s->cap - 1))
        if (s->key[h] == id)
            return (long)s->line[h];
    s->key[h] = id;
    s->line[h] = line32(line);
    s->n++;
    return 0;
}

/* Adds id; returns 0 when new, else the line where it was first seen. */
static long id_add(idset *s, int64_t id, long line)
{
    size_t lo = 0, hi = s->nrun;

    if (s->nrun == 0 || id > s->run[s->nrun - 1]) {
        if (s->nrun == s->caprun) {
            s->caprun = s->caprun ? 2 * s->caprun : 4096;
            s->run = xreallocarray(s->run, s->caprun, sizeof *s->run);
            s->run_line = xreallocarray(s->run_line, s->caprun, sizeof *s->run_line);
        }
        s->run[s->nrun] = id;
        s->run_line[s->nrun++] = line32(line);
        return 0;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->run[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (s->run[lo] == id)
        return (long)s->run_line[lo];
    return hash_add(s, id, line);
}

static void id_free(idset *s)
{
    free(s->run);
    free(s->run_line);
    free(s->key);
    free(s->line);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ */
/* Value checks.  Each returns 0 when the text is acceptable, or writes */
/* why not into why[] and returns 1.                                   */
/* ------------------------------------------------------------------ */

/* A short printable rendering of a value for a reason text. */
static void show(char *out, size_t size, const char *s, size_t n)
{
    size_t i, k = 0;

    for (i = 0; i < n && k + 4 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (i < n && k + 4 <= size) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* [+-]?digits into *v; 0 on success, 1 when not an integer, 2 when it
 * does not fit in 64 bits. */
static int parse_int64(const char *s, size_t n, int64_t *v)
{
    size_t i = 0;
    uint64_t acc = 0, lim;
    int neg = 0;

    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n)
        return 1;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return 1;
        if (acc > (lim - (uint64_t)(s[i] - '0')) / 10)
            return 2;
        acc = acc * 10 + (uint64_t)(s[i] - '0');
    }
    *v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 0;
}

/*
 * Decimal syntax as numeric_in reads it: [+-]? (d+ (. d*)? | . d+)
 * ([eE] [+-]? d+)?.  Returns 0 and fills *d, 1 when it is not a number,
 * 2 when the exponent is beyond +-1000.  NaN and Infinity are refused: a
 * bank's amount is never one.
 */
static int parse_decimal(const char *s, size_t n, dec *d)
{
    size_t i = 0, nd = 0, before = 0, lead = 0;
    long x = 0;
    int point = 0, seen_nz = 0;

    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    d->mant0 = i;
    for (; i < n && (is_digit(s[i]) || (s[i] == '.' && !point)); i++) {
        if (s[i] == '.') {
            point = 1;
            continue;
        }
        nd++;
        if (!point)
            before++;
        if (!seen_nz && s[i] == '0')
            lead++;
        else
            seen_nz = 1;
    }
    d->mant1 = i;
    if (nd == 0)
        return 1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int neg = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
        if (i == n)
            return 1;
        if (!is_digit(s[i]))
            return 1;
        for (; i < n && is_digit(s[i]); i++)
            if (x < 100000)
                x = x * 10 + (s[i] - '0');
        x = neg ? -x : x;
    }
    if (i != n)
        return 1;
    if (x > 1000 || x < -1000)
        return 2;                /* numeric_in refuses such exponents */
    d->zero = !seen_nz;
    d->e10 = (long)before - (long)lead + x;
    d->dscale = (long)(nd - before) - x > 0 ? (long)(nd - before) - x : 0;
    return 0;
}

/*
 * Does the (syntactically valid, non-zero) decimal fit numeric(prec,
 * scale) once rounded half away from zero to `scale` places, as
 * numeric_in does?  The first `keep` significant digits are kept and the
 * next one decides the rounding; a carry through all nines adds a digit
 * (99.996 -> 100.00 in numeric(5,2) does not fit).
 */
static int numeric_fits(const char *s, const dec *d, int prec, int scale)
{
    long keep = d->e10 + scale, k = 0, e10 = d->e10;
    size_t i;
    int all9 = 1, roundup = 0, started = 0;

    if (d->zero || keep < 0)
        return 1;                /* zero, or rounds to zero */
    for (i = d->mant0; i < d->mant1; i++) {
        if (s[i] == '.' || (!started && s[i] == '0'))
            continue;            /* leading zeros are not significant */
        started = 1;
        if (k == keep) {
            roundup = s[i] >= '5';
            break;
        }
        all9 &= s[i] == '9';
        k++;
    }
    if (keep == 0 && !roundup)
        return 1;
    if (roundup && all9)
        e10++;
    return e10 <= (long)prec - scale;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* YYYY-MM-DD, a real calendar date in years 1..9999. */
static int date_valid(const char *s, size_t n)
{
    int i, y, m, d;

    if (n != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !is_digit(s[i]))
            return 0;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/*
 * Days from 2000-01-01 (PostgreSQL's date epoch) to the valid date
 * YYYY-MM-DD: date2j of PostgreSQL's datetime.c, minus the epoch's.
 */
static int32_t date_days(const char *s)
{
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    int century, julian;

    if (m > 2) {
        m += 1;
        y += 4800;
    } else {
        m += 13;
        y += 4799;
    }
    century = y / 100;
    julian = y * 365 - 32167 + y / 4 - century + century / 4 + 7834 * m / 256 + d;
    return julian - 2451545;
}

/* Characters in valid UTF-8 text, or -1 when it is not valid UTF-8
 * (overlong forms, surrogates and code points past U+10FFFF refused, as
 * PostgreSQL's encoding check does). */
static long utf8_chars(const unsigned char *s, size_t n)
{
    size_t i = 0;
    long nc = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t k, len;
        uint32_t cp;

        nc++;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return -1;
        }
        if (i + len > n)
            return -1;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return -1;
        i += len;
    }
    return nc;
}

static const char *type_word(const lcol *c)
{
    switch (c->type) {
    case T_INT2: return "smallint";
    case T_INT4: return "integer";
    case T_INT8: return "bigint";
    default: return "a 64-bit integer";
    }
}

/* Writes the reason `column: "value" what` and returns 1.  Called only
 * on the error path: rendering the value costs more than checking it. */
static int refuse(char *why, size_t wsz, const lcol *c, const char *s, size_t n,
                  const char *what)
{
    char v[64];

    show(v, sizeof v, s, n);
    snprintf(why, wsz, "%s: \"%s\" %s", c->name, v, what);
    return 1;
}

/* An id: an integer in the column's range. */
static int check_id(lcol *c, const char *s, size_t n, char *why, size_t wsz)
{
    char what[64];
    int rc = parse_int64(s, n, &c->id);
    int64_t lo = INT64_MIN, hi = INT64_MAX;

    if (c->type == T_INT2) {
        lo = INT16_MIN;
        hi = INT16_MAX;
    } else if (c->type == T_INT4) {
        lo = INT32_MIN;
        hi = INT32_MAX;
    }
    if (rc == 1)
        return refuse(why, wsz, c, s, n, "is not an integer");
    if (rc == 2 || c->id < lo || c->id > hi) {
        snprintf(what, sizeof what, "is out of range for %s", type_word(c));
        return refuse(why, wsz, c, s, n, what);
    }
    return 0;
}

/* A number for the column's type: integer types take integers only. */
static int check_number(lcol *c, char *s, size_t n, char *why, size_t wsz)
{
    char what[64];
    dec d;
    int rc;

    if (c->type == T_INT2 || c->type == T_INT4 || c->type == T_INT8)
        return check_id(c, s, n, why, wsz);
    rc = parse_decimal(s, n, &d);
    if (rc == 1)
        return refuse(why, wsz, c, s, n, "is not a number");
    if (d.mant1 - d.mant0 > 1000)
        return refuse(why, wsz, c, s, n, "has more than 1000 digits");
    if (rc == 2)
        return refuse(why, wsz, c, s, n, "is out of range");
    if (c->type == T_FLOAT4 || c->type == T_FLOAT8) {
        double x;
        errno = 0;
        x = strtod(s, NULL);      /* s is NUL-terminated after trimming */
        if ((errno == ERANGE && (x == 0 || isinf(x))) || isinf(x) ||
            (c->type == T_FLOAT4 && fabs(x) > FLT_MAX))
            return refuse(why, wsz, c, s, n, c->type == T_FLOAT4 ? "is out of range for real"
                                             : "is out of range for double precision");
        c->x = x;
        return 0;
    }
    c->d = d;
    if (c->prec > 0 && !numeric_fits(s, &d, c->prec, c->scale)) {
        snprintf(what, sizeof what, "does not fit numeric(%d,%d)", c->prec, c->scale);
        return refuse(why, wsz, c, s, n, what);
    }
    if (!d.zero && (d.e10 > 131072 || d.e10 < -16383))
        return refuse(why, wsz, c, s, n, "is out of range for numeric");
    return 0;
}

static int check_text(lcol *c, const char *s, size_t n, char *why, size_t wsz)
{
    long nc = utf8_chars((const unsigned char *)s, n);

    if (nc < 0) {
        snprintf(why, wsz, "%s: not valid UTF-8", c->name);
        return 1;
    }
    /* varchar(n) and char(n) drop excess trailing blanks silently */
    while (c->maxchars > 0 && nc > c->maxchars && n > 0 && s[n - 1] == ' ') {
        n--;
        nc--;
    }
    if (c->maxchars > 0 && nc > c->maxchars) {
        snprintf(why, wsz, "%s: %ld characters, longer than the column's %d", c->name,
                 nc, c->maxchars);
        return 1;
    }
    return 0;
}

/* Blanks around numbers and dates are dropped (PostgreSQL ignores them
 * too); the field is cut in place. */
static size_t trim(char **s, size_t n)
{
    while (n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        n--;
    }
    while (n > 0 && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t'))
        n--;
    (*s)[n] = '\0';
    return n;
}

/* Checks one field for column c and sets c->val / c->vlen. */
static int check_value(lcol *c, char *s, size_t n, int quoted, char *why, size_t wsz)
{
    if (c->kind == K_TEXT) {
        c->val = n == 0 && !quoted ? NULL : s;
        c->vlen = n;
        return c->val ? check_text(c, s, n, why, wsz) : 0;
    }
    n = trim(&s, n);
    c->val = n ? s : NULL;
    c->vlen = n;
    if (n == 0) {
        if (c->kind == K_ID) {
            snprintf(why, wsz, "%s: missing (every row needs its id)", c->name);
            return 1;
        }
        return 0;
    }
    if (c->kind == K_ID)
        return check_id(c, s, n, why, wsz);
    if (c->kind == K_NUM)
        return check_number(c, s, n, why, wsz);
    if (!date_valid(s, n))
        return refuse(why, wsz, c, s, n, "is not a date (YYYY-MM-DD)");
    c->days = date_days(s);
    return 0;
}

/* The whole record; 0 when every column is fine. */
static int check_row(lfile *f, csv_record *rec, char *why, size_t wsz)
{
    int k;

    if (rec->problem) {
        int pf = rec->problem_field;
        snprintf(why, wsz, "field %d (%s): %s", pf + 1, pf < f->nfields ? f->hdr[pf] : "extra",
                 rec->problem);
        return 1;
    }
    if (rec->n != f->nfields) {
        snprintf(why, wsz, "%d fields, the header has %d", rec->n, f->nfields);
        return 1;
    }
    for (k = 0; k < f->ncols; k++) {
        lcol *c = &f->cols[k];
        if (check_value(c, rec->f[c->csv], rec->len[c->csv], rec->quoted[c->csv], why, wsz))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reject files                                                        */
/* ------------------------------------------------------------------ */

static int reject(lfile *f, long line, const char *reason, rp_err *e)
{
    const char *p;

    if (!f->rej) {
        f->rej = fopen(f->rej_tmp, "w");
        if (!f->rej)
            return rp_err_set(e, RP_EINTERNAL, "could not create \"%s\": %s", f->rej_tmp,
                              strerror(errno));
        fputs("line,reason\n", f->rej);
    }
    fprintf(f->rej, "%ld,\"", line);
    for (p = reason; *p; p++) {
        if (*p == '"')
            fputc('"', f->rej);
        fputc(*p, f->rej);
    }
    fputs("\"\n", f->rej);
    return RP_OK;
}

/* Closes and renames the reject file into place, or removes an old one
 * when this load read the whole file and rejected nothing from it (a file
 * the load never reached keeps its old reject file). */
static int rejects_finish(lfile *f, char **written, rp_err *e)
{
    int bad;

    if (!f->rej && !f->finished)
        return RP_OK;
    if (!f->rej) {
        if (unlink(f->rej_path) == 0)
            log_verbose("removed the old %s", f->rej_path);
        return RP_OK;
    }
    bad = ferror(f->rej) | (fclose(f->rej) != 0);
    f->rej = NULL;
    if (bad || rename(f->rej_tmp, f->rej_path) != 0) {
        int err = errno;
        unlink(f->rej_tmp);
        return rp_err_set(e, RP_EINTERNAL, "could not write \"%s\": %s", f->rej_path,
                          strerror(err));
    }
    *written = xstrdup(f->rej_path);
    return RP_OK;
}

/*
 * Can the file go as COPY BINARY?  Every column's type must be one whose
 * binary form is written here, holding the kind of value that was parsed
 * for it; anything else (a domain over money, an enum, an id stored as
 * text) goes as text and lets the server parse it.  RISKPIPE_LOAD_TEXT=1
 * forces text (tests compare the two).
 */
static int binary_ok(const lfile *f)
{
    const char *force = getenv("RISKPIPE_LOAD_TEXT");
    int k;

    if (force && *force == '1')
        return 0;
    for (k = 0; k < f->ncols; k++) {
        const lcol *c = &f->cols[k];
        int ok = (c->type == T_INT2 || c->type == T_INT4 || c->type == T_INT8)
                     ? c->kind == K_ID || c->kind == K_NUM
                 : c->type == T_NUMERIC || c->type == T_FLOAT4 || c->type == T_FLOAT8
                     ? c->kind == K_NUM
                 : c->type == T_DATE ? c->kind == K_DATE
                 : c->type == T_TEXT && c->kind == K_TEXT;
        if (!ok)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Opening a file: header and column types                             */
/* ------------------------------------------------------------------ */

static int base_type(const char *name)
{
    static const struct { const char *n; int t; } map[] = {
        {"int2", T_INT2}, {"int4", T_INT4}, {"int8", T_INT8}, {"numeric", T_NUMERIC},
        {"float4", T_FLOAT4}, {"float8", T_FLOAT8}, {"date", T_DATE}, {"text", T_TEXT},
        {"varchar", T_TEXT}, {"bpchar", T_TEXT},
    };
    size_t i;

    for (i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(name, map[i].n))
            return map[i].t;
    return T_OTHER;
}

/* Type, numeric precision/scale and character limit from the catalog. */
static void set_type(lcol *c, const char *typname, long typmod)
{
    c->type = base_type(typname);
    if (c->type == T_NUMERIC && typmod >= 4) {
        long tm = typmod - 4;
        c->prec = (int)((tm >> 16) & 0xffff);
        c->scale = (int)(((tm & 0x7ff) ^ 1024) - 1024);
    } else if (c->type == T_TEXT && typmod >= 4) {
        c->maxchars = (int)(typmod - 4);
    }
}

/* The target table's columns with their base types. */
static int table_types(db_conn *c, lfile *f, db_rows **out, rp_err *e)
{
    const char *params[1] = {f->qtable};
    int rc = db_query(c,
        "SELECT a.attname::text, b.typname::text, "
        "CASE WHEN ty.typtype = 'd' THEN ty.typtypmod ELSE a.atttypmod END "
        "FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid "
        "JOIN pg_type b ON b.oid = coalesce(nullif(ty.typbasetype, 0), ty.oid) "
        "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
        1, params, out, e);

    if (!rc && (*out)->nrows == 0) {
        db_rows_free(*out);
        *out = NULL;
        rp_err_set(e, RP_EDATA, "table %s does not exist", f->qtable);
        rp_err_hint(e, "run `riskpipe init` to create the tables");
        return RP_EDATA;
    }
    return rc;
}

/* Finds each loaded column in the table and takes its type. */
static int bind_types(db_conn *c, lfile *f, rp_err *e)
{
    db_rows *r = NULL;
    int rc = table_types(c, f, &r, e), k, i;

    for (k = 0; !rc && k < f->ncols; k++) {
        lcol *col = &f->cols[k];
        for (i = 0; i < r->nrows; i++)
            if (!strcmp(db_rows_get(r, i, 0), col->name))
                break;
        if (i == r->nrows) {
            rc = rp_err_set(e, RP_EDATA, "table %s has no column \"%s\"", f->qtable,
                            col->name);
            break;
        }
        set_type(col, db_rows_get(r, i, 1), atol(db_rows_get(r, i, 2)));
    }
    db_rows_free(r);
    return rc;
}

/* The header: which field holds which column. */
static int map_header(lfile *f, csv_record *h, rp_err *e)
{
    const spec_col *sc = spec[f->which];
    int k, i, nmiss = 0;
    sb_t miss = {0};

    f->nfields = h->n;
    f->hdr = xcalloc((size_t)h->n, sizeof *f->hdr);
    for (i = 0; i < h->n; i++) {
        char *name = h->f[i];
        size_t n = trim(&name, h->len[i]);
        f->hdr[i] = xstrdup(name);
        for (k = 0; k < LOAD_MAXCOLS && sc[k].name; k++)
            if (n == strlen(sc[k].name) && !strncasecmp(name, sc[k].name, n))
                break;
        if (k == LOAD_MAXCOLS || !sc[k].name) {
            log_warn("%s: ignoring column \"%s\" (not one riskpipe loads into %s)",
                     f->path, name, f->table);
            continue;
        }
        if (f->cols[k].csv >= 0) {
            rp_err_set(e, RP_EDATA, "%s:%ld: column \"%s\" appears twice in the header",
                       f->path, h->line, sc[k].name);
            return RP_EDATA;
        }
        f->cols[k].csv = i;
    }
    for (k = 0; k < LOAD_MAXCOLS && sc[k].name; k++)
        if (sc[k].required && f->cols[k].csv < 0)
            sb_printf(&miss, "%s\"%s\"", nmiss++ ? ", " : "", sc[k].name);
    if (nmiss) {
        rp_err_set(e, RP_EDATA, "%s: missing required column%s %s", f->path,
                   nmiss > 1 ? "s" : "", miss.p);
        rp_err_hint(e, "the header of a %s file needs %s", table_word[f->which],
                    f->which == LOAD_CUSTOMERS ? "customer_id, age, city, account_type"
                    : f->which == LOAD_ACCOUNTS ? "account_id, customer_id, balance "
                                                  "(risk_score optional)"
                    : "transaction_id, customer_id, amount, transaction_date, category");
        sb_free(&miss);
        return RP_EDATA;
    }
    return RP_OK;
}

/* Keeps only the columns the file has, in spec order. */
static void compact_cols(lfile *f)
{
    const spec_col *sc = spec[f->which];
    int k, n = 0;

    for (k = 0; k < LOAD_MAXCOLS && sc[k].name; k++) {
        if (f->cols[k].csv < 0)
            continue;
        f->cols[n] = f->cols[k];
        f->cols[n].name = sc[k].name;
        f->cols[n].kind = sc[k].kind;
        n++;
    }
    f->ncols = n;
}

static int open_file(db_conn *c, const rp_tables *t, int which, const char *path,
                     lfile *f, rp_err *e)
{
    const char *names[LOAD_NTABLES] = {t->customers, t->accounts, t->transactions};
    csv_record h;
    struct stat st;
    int k, rc;

    f->which = which;
    f->path = path;
    f->table = names[which];
    f->qtable = schema_qualify(c, t, names[which]);
    f->rej_path = xasprintf("%s.rejects.csv", path);
    f->rej_tmp = xasprintf("%s.tmp.%ld", f->rej_path, (long)getpid());
    for (k = 0; k < LOAD_MAXCOLS; k++)
        f->cols[k].csv = -1;
    if (!(f->r = csv_open(path, e)))
        return e->code;
    f->size = stat(path, &st) == 0 ? (long)st.st_size : 0;
    do
        rc = csv_next(f->r, &h, e);
    while (rc == 1 && csv_record_blank(&h));
    if (rc < 0)
        return -rc;
    if (rc == 0)
        return rp_err_set(e, RP_EDATA, "%s is empty: a header row is needed", path);
    if (h.problem)
        return rp_err_set(e, RP_EDATA, "%s:%ld: bad header: %s", path, h.line, h.problem);
    if ((rc = map_header(f, &h, e)))
        return rc;
    compact_cols(f);
    if ((rc = bind_types(c, f, e)))
        return rc;
    f->binary = binary_ok(f);
    return RP_OK;
}

static void close_file(lfile *f)
{
    csv_close(f->r);
    free(f->qtable);
    if (f->rej) {
        fclose(f->rej);
        unlink(f->rej_tmp);
    }
    free(f->rej_path);
    free(f->rej_tmp);
    for (int i = 0; f->hdr && i < f->nfields; i++)
        free(f->hdr[i]);
    free(f->hdr);
    id_free(&f->seen);
    memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

/* The checked row in COPY text format.  Numbers and dates hold no byte
 * that COPY treats specially (they passed the checks), so only text goes
 * through the escaper. */
static void append_row(sb_t *buf, const lfile *f)
{
    int k;

    for (k = 0; k < f->ncols; k++) {
        const lcol *c = &f->cols[k];
        char sep = k + 1 < f->ncols ? '\t' : '\n';
        if (!c->val) {
            sb_appendn(buf, "\\N", 2);
        } else if (c->kind == K_TEXT) {
            db_copy_escape(buf, c->val);
        } else {
            sb_appendn(buf, c->val, c->vlen);
        }
        sb_appendn(buf, &sep, 1);
    }
}

/* Big-endian integers, as COPY BINARY wants them. */
static long floor4(long a)
{
    return a >= 0 ? a / 4 : -((-a + 3) / 4);
}

/*
 * A decimal in numeric's binary form (numeric_send): ndigits, weight,
 * sign, dscale, then base-10000 digits, most significant first, aligned
 * at the decimal point.  Significant digit k of 0.D x 10^e10 stands for
 * 10^(e10 - 1 - k), so it belongs to base-10000 digit floor(that / 4).
 * dscale is numeric_in's display scale ("12.3400" keeps four places; it
 * is at least the significant places, which the server would otherwise
 * cut); the server then rounds to the column's scale exactly as numeric_in
 * would (apply_typmod).
 */
static void put_numeric(sb_t *b, const char *s, const dec *d)
{
    static const int p10[4] = {1, 10, 100, 1000};
    size_t i, at;
    long k = 0, n = 0, weight, last, nd, e10 = d->e10;
    int neg = s[0] == '-', started = 0;
    char *g;

    for (i = d->mant0; i < d->mant1; i++) {   /* significant digits, to the last non-zero */
        if (s[i] == '.' || (!started && s[i] == '0'))
            continue;
        started = 1;
        k++;
        if (s[i] != '0')
            n = k;
    }
    if (n == 0) {                              /* zero: no digits */
        sb_put32(b, 8);
        sb_put16(b, 0);
        sb_put16(b, 0);
        sb_put16(b, 0);
        sb_put16(b, (uint16_t)d->dscale);
        return;
    }
    weight = floor4(e10 - 1);
    last = floor4(e10 - n);
    nd = weight - last + 1;
    sb_put32(b, (uint32_t)(8 + 2 * nd));
    sb_put16(b, (uint16_t)nd);
    sb_put16(b, (uint16_t)(int16_t)weight);
    sb_put16(b, neg ? 0x4000 : 0x0000);
    sb_put16(b, (uint16_t)d->dscale);
    sb_reserve(b, (size_t)(2 * nd));
    at = b->len;
    g = b->p + at;
    memset(g, 0, (size_t)(2 * nd));
    b->len += (size_t)(2 * nd);
    b->p[b->len] = '\0';
    for (i = d->mant0, k = 0, started = 0; i < d->mant1 && k < n; i++) {
        long pw, gi;
        unsigned v;
        if (s[i] == '.' || (!started && s[i] == '0'))
            continue;
        started = 1;
        pw = e10 - 1 - k++;
        gi = weight - floor4(pw);
        v = ((unsigned char)g[2 * gi] << 8 | (unsigned char)g[2 * gi + 1]) +
            (unsigned)(s[i] - '0') * (unsigned)p10[pw - 4 * floor4(pw)];
        g[2 * gi] = (char)(v >> 8);
        g[2 * gi + 1] = (char)v;
    }
}

/* Big-endian stores into a buffer already reserved (append_row_binary). */
static unsigned char *st16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
    return p + 2;
}

static unsigned char *st32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

static unsigned char *st64(unsigned char *p, uint64_t v)
{
    return st32(st32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

/* The checked row in COPY BINARY form.  The fixed-size fields are stored
 * straight into room reserved once per row (this runs millions of times);
 * numeric and text go through the buffer's own appends. */
static void append_row_binary(sb_t *buf, const lfile *f)
{
    unsigned char *p;
    int k;

    sb_reserve(buf, 2 + 12 * (size_t)f->ncols);
    p = st16((unsigned char *)buf->p + buf->len, (uint16_t)f->ncols);
    for (k = 0; k < f->ncols; k++) {
        const lcol *c = &f->cols[k];
        float x4;
        uint32_t u4;
        uint64_t u8;

        if (!c->val) {
            p = st32(p, 0xffffffffu);
            continue;
        }
        switch (c->type) {
        case T_INT2: p = st16(st32(p, 2), (uint16_t)c->id); break;
        case T_INT4: p = st32(st32(p, 4), (uint32_t)c->id); break;
        case T_INT8: p = st64(st32(p, 8), (uint64_t)c->id); break;
        case T_FLOAT4:
            x4 = strtof(c->val, NULL);          /* float4in's own parse */
            memcpy(&u4, &x4, 4);
            p = st32(st32(p, 4), u4);
            break;
        case T_FLOAT8:
            memcpy(&u8, &c->x, 8);
            p = st64(st32(p, 8), u8);
            break;
        case T_DATE: p = st32(st32(p, 4), (uint32_t)c->days); break;
        default:
            /* variable length: hand the buffer back, then reserve again */
            buf->len = (size_t)(p - (unsigned char *)buf->p);
            if (c->type == T_NUMERIC) {
                put_numeric(buf, c->val, &c->d);
            } else {
                sb_put32(buf, (uint32_t)c->vlen);
                sb_appendn(buf, c->val, c->vlen);
            }
            sb_reserve(buf, 12 * (size_t)(f->ncols - k));
            p = (unsigned char *)buf->p + buf->len;
            break;
        }
    }
    buf->len = (size_t)(p - (unsigned char *)buf->p);
    buf->p[buf->len] = '\0';
}

static int copy_begin(db_conn *c, const lfile *f, int freeze, rp_err *e)
{
    sb_t sql = {0};
    int k, rc;

    sb_printf(&sql, "COPY %s (", f->qtable);
    for (k = 0; k < f->ncols; k++) {
        char *q = db_quote_ident(c, f->cols[k].name);
        sb_printf(&sql, "%s%s", k ? ", " : "", q);
        free(q);
    }
    sb_printf(&sql, ") FROM STDIN WITH (FORMAT %s%s)", f->binary ? "binary" : "text",
              freeze ? ", FREEZE" : "");
    rc = db_copy_in_begin(c, sql.p, e);
    sb_free(&sql);
    return rc;
}

/* State shared by the files of one load. */
typedef struct lrun {
    db_conn *c;
    const load_opts *o;
    load_summary *s;
    int sending;        /* 0 once --max-rejects is passed: only read on */
} lrun;

/* One record: checked, then sent or rejected. */
static int one_row(lrun *L, lfile *f, csv_record *rec, sb_t *buf, int *copying, rp_err *e)
{
    char why[256];
    long first;
    int rc;

    L->s->rows[f->which]++;
    if (!check_row(f, rec, why, sizeof why)) {
        first = id_add(&f->seen, f->cols[0].id, rec->line);
        if (!first) {
            if (*copying && f->binary)
                append_row_binary(buf, f);
            else if (*copying)
                append_row(buf, f);
            L->s->loaded[f->which]++;
            return RP_OK;
        }
        snprintf(why, sizeof why, "%s: duplicate id %lld (first on line %ld)",
                 f->cols[0].name, (long long)f->cols[0].id, first);
    }
    L->s->rejected[f->which]++;
    L->s->total_rejected++;
    if ((rc = reject(f, rec->line, why, e)))
        return rc;
    if (L->sending && L->o->max_rejects >= 0 && L->s->total_rejected > L->o->max_rejects) {
        rp_err ignore;
        L->sending = 0;
        if (*copying)
            db_copy_in_end(L->c, 1, &ignore);
        *copying = 0;
    }
    return RP_OK;
}

/* Reads f to the end, streaming the good rows while L->sending. */
static int load_one(lrun *L, lfile *f, rp_err *e)
{
    sb_t buf = {0};
    csv_record rec;
    progress pg;
    int rc = RP_OK, n, copying = 0;
    long nrec = 0;

    if (L->sending && !(rc = copy_begin(L->c, f, L->o->replace, e))) {
        copying = 1;
        if (f->binary) {   /* signature, flags, header extension length */
            sb_appendn(&buf, "PGCOPY\n\377\r\n\0", 11);
            sb_put32(&buf, 0);
            sb_put32(&buf, 0);
        }
    }
    progress_begin(&pg, f->path, (size_t)f->size);
    while (!rc && (n = csv_next(f->r, &rec, e)) == 1) {
        if (csv_record_blank(&rec))
            continue;
        rc = one_row(L, f, &rec, &buf, &copying, e);
        if (!rc && copying && buf.len >= LOAD_FLUSH) {
            rc = db_copy_in_put(L->c, buf.p, buf.len, e);
            sb_clear(&buf);
        }
        if ((++nrec & 0xffff) == 0)
            progress_update(&pg, csv_offset(f->r));
    }
    if (!rc && n < 0)
        rc = -n;
    f->finished = !rc;
    if (copying) {
        if (f->binary)
            sb_put16(&buf, 0xffff);   /* the trailer */
        if (!rc && buf.len)
            rc = db_copy_in_put(L->c, buf.p, buf.len, e);
        if (rc) {
            rp_err ignore;
            db_copy_in_end(L->c, 1, &ignore);
        } else {
            rc = db_copy_in_end(L->c, 0, e);
        }
    }
    progress_end(&pg);
    sb_free(&buf);
    return rc;
}

/* A server error on the rows (bad value, duplicate key): a data error
 * that names the file. */
static int row_error(const lfile *f, rp_err *e)
{
    if (e->sqlstate[0] == '2' && (e->sqlstate[1] == '2' || e->sqlstate[1] == '3')) {
        e->code = RP_EDATA;
        if (!strcmp(e->sqlstate, "23505") && !e->hint[0])
            rp_err_hint(e, "a row with this id is already in the table: load with "
                           "--replace to start over, or leave those rows out of the file");
    }
    rp_err_prefix(e, "loading \"%s\" into %s", f->path, f->qtable);
    return e->code;
}

static int truncate_all(db_conn *c, const rp_tables *t, rp_err *e)
{
    char *a = schema_qualify(c, t, t->customers);
    char *b = schema_qualify(c, t, t->accounts);
    char *d = schema_qualify(c, t, t->transactions);
    char *sql = xasprintf("TRUNCATE %s, %s, %s", a, b, d);
    int rc = db_exec(c, sql, e);

    free(a);
    free(b);
    free(d);
    free(sql);
    return rc;
}

/* ANALYZE the loaded tables: the feature query that usually follows a
 * load needs their statistics, and autovacuum may not have run yet (it
 * never runs on temporary tables). */
static int analyze(db_conn *c, const lfile *f, rp_err *e)
{
    int i, rc = RP_OK;

    for (i = 0; i < LOAD_NTABLES && !rc; i++) {
        char *sql;
        if (!f[i].r)
            continue;
        sql = xasprintf("ANALYZE %s", f[i].qtable);
        rc = db_exec(c, sql, e);
        free(sql);
    }
    return rc;
}

static int too_many_rejects(const load_opts *o, const load_summary *s, rp_err *e)
{
    rp_err_set(e, RP_EDATA, "%ld rows rejected, more than --max-rejects %ld: nothing "
               "was loaded", s->total_rejected, o->max_rejects);
    rp_err_detail(e, "rejected: %ld customers, %ld accounts, %ld transactions",
                  s->rejected[0], s->rejected[1], s->rejected[2]);
    rp_err_hint(e, "each reject file (<file>.rejects.csv) lists the line and reason of "
                   "every bad row");
    return RP_EDATA;
}

/* Every file opened, in one transaction. */
static int load_all(lrun *L, const rp_tables *t, lfile *f, rp_err *e)
{
    int i, rc = db_begin(L->c, e);

    if (!rc && L->o->replace)
        rc = truncate_all(L->c, t, e);
    for (i = 0; i < LOAD_NTABLES && !rc; i++) {
        if (!f[i].r)
            continue;
        if ((rc = load_one(L, &f[i], e)) && e->sqlstate[0])
            rc = row_error(&f[i], e);
    }
    if (!rc && !L->sending)
        rc = too_many_rejects(L->o, L->s, e);
    if (!rc)
        rc = analyze(L->c, f, e);
    if (!rc)
        rc = db_commit(L->c, e);
    if (rc)
        db_rollback(L->c);
    return rc;
}

int load_files(db_conn *c, const rp_tables *t, const load_opts *o,
               load_summary *s, rp_err *e)
{
    lfile f[LOAD_NTABLES];
    lrun L = {c, o, s, 1};
    int i, rc = RP_OK, rc2;

    memset(s, 0, sizeof *s);
    memset(f, 0, sizeof f);
    for (i = 0; i < LOAD_NTABLES && !rc; i++)
        if (o->files[i])
            rc = open_file(c, t, i, o->files[i], &f[i], e);
    if (!rc)
        rc = load_all(&L, t, f, e);
    for (i = 0; i < LOAD_NTABLES; i++) {
        rp_err e2;
        if (f[i].r && (rc2 = rejects_finish(&f[i], &s->rejects[i], &e2)) && !rc) {
            *e = e2;
            rc = rc2;
        }
        close_file(&f[i]);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Temporary tables for predict --from-csv                             */
/* ------------------------------------------------------------------ */

int load_temp_tables(db_conn *c, const rp_tables *real, rp_tables *tmp, rp_err *e)
{
    const char *names[LOAD_NTABLES] = {real->customers, real->accounts, real->transactions};
    int i, rc = RP_OK;

    *tmp = *real;
    tmp->schema = "pg_temp";
    for (i = 0; i < LOAD_NTABLES && !rc; i++) {
        char *qr = schema_qualify(c, real, names[i]);
        char *qt = schema_qualify(c, tmp, names[i]);
        const char *params[1] = {qr};
        char *exists = NULL, *sql;

        rc = db_query_value(c, "SELECT to_regclass($1) IS NOT NULL", 1, params, &exists, e);
        if (!rc) {
            if (exists && !strcmp(exists, "t"))
                sql = xasprintf("DROP TABLE IF EXISTS %s; CREATE TEMP TABLE %s "
                                "(LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                                "INCLUDING INDEXES)", qt, qt, qr);
            else
                sql = xasprintf("DROP TABLE IF EXISTS %s; CREATE TEMP TABLE %s (%s)", qt,
                                qt, schema_input_columns(i));
            rc = db_exec(c, sql, e);
            free(sql);
        }
        free(exists);
        free(qr);
        free(qt);
    }
    if (rc)
        rp_err_prefix(e, "creating the temporary tables for the CSV files");
    return rc;
}
