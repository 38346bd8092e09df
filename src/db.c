/*
 * db.c - every libpq call riskpipe makes.
 *
 * Invariants: a PGresult never leaves this file and is cleared on every
 * path; errors carry the server's primary message, detail, hint and
 * SQLSTATE; a conninfo is only ever shown masked.  Values reach the server
 * as parameters ($1..$n) and identifiers through PQescapeIdentifier, so
 * nothing a user or a data row contains is ever parsed as SQL.
 *
 * COPY TO STDOUT is parsed here (text format) so that callers see fields,
 * not protocol: the row buffer libpq hands out is split and de-escaped in
 * place, which costs no allocation per row.  Binary COPY (the client-side
 * feature path's raw rows) is framed here the same way: callers get each
 * field's bytes in the server's send format, in place.
 */
#include "db.h"

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/strbuf.h"

struct db_conn {
    PGconn *pg;
    char *label;   /* masked conninfo, for messages */
    int cancel;    /* 1 + its slot in cancel_slots; 0: none */
};

/*
 * The cancel handles of the open connections, for db_cancel_all, which
 * main.c's SIGINT/SIGTERM handler calls (as psql does on Ctrl-C), possibly
 * while worker threads open and close connections.  Slots are claimed and
 * released by atomic operations, so the handler never sees half a
 * pointer, and a released handle is freed only when no db_cancel_all is
 * running: the handler never uses a freed handle.  A connection that
 * finds no free slot just cannot be cancelled; the rp_interrupt checks
 * still stop it at its next row or COMMIT.
 */
#define CANCEL_SLOTS 32
static _Atomic(PGcancel *) cancel_slots[CANCEL_SLOTS];
static atomic_int cancel_running;

static void cancel_register(db_conn *c)
{
    PGcancel *h = PQgetCancel(c->pg);
    int i;

    for (i = 0; h && i < CANCEL_SLOTS; i++) {
        PGcancel *none = NULL;
        if (atomic_compare_exchange_strong(&cancel_slots[i], &none, h)) {
            c->cancel = i + 1;
            return;
        }
    }
    PQfreeCancel(h);
}

static void cancel_unregister(db_conn *c)
{
    PGcancel *h;

    if (!c->cancel)
        return;
    h = atomic_exchange(&cancel_slots[c->cancel - 1], NULL);
    c->cancel = 0;
    /* a handler that loaded h before the exchange is inside one
     * PQcancel call: a few milliseconds at most */
    while (atomic_load(&cancel_running) > 0)
        ;
    PQfreeCancel(h);
}

void db_cancel_all(void)
{
    char err[256];   /* on the stack: PQcancel's rule for signal handlers */
    int i;

    atomic_fetch_add(&cancel_running, 1);
    for (i = 0; i < CANCEL_SLOTS; i++) {
        PGcancel *h = atomic_load(&cancel_slots[i]);
        if (h)
            (void)PQcancel(h, err, sizeof err);
    }
    atomic_fetch_sub(&cancel_running, 1);
}

static const char *nonempty_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

char *db_resolve_conninfo(const char *opt_db)
{
    const char *v;

    if (opt_db && *opt_db)
        return xstrdup(opt_db);
    if ((v = nonempty_env("RISKPIPE_DB")) || (v = nonempty_env("DATABASE_URL")))
        return xstrdup(v);
    if (nonempty_env("PGHOST") || nonempty_env("PGDATABASE") ||
        nonempty_env("PGSERVICE"))
        return xstrdup("");   /* libpq reads the environment itself */
    return NULL;
}

/* libpq's secret keywords (dispchar "*"): password and sslpassword.  A
 * prefix match, so "password =" with odd spacing still counts. */
static int is_secret_kw(const char *kw, size_t n)
{
    return (n >= 8 && strncmp(kw, "password", 8) == 0) ||
           (n >= 11 && strncmp(kw, "sslpassword", 11) == 0);
}

/* Masks "password=..." in key=value form (quoted or not). */
static void mask_keyvalue(sb_t *sb, const char *s)
{
    while (*s) {
        const char *kw = s;
        while (*s == ' ' || *s == '\t' || *s == '\n')
            sb_putc(sb, *s++);
        kw = s;
        while (*s && *s != '=' && *s != ' ')
            s++;
        sb_appendn(sb, kw, (size_t)(s - kw));
        while (*s == ' ')
            sb_putc(sb, *s++);
        if (*s != '=')
            continue;
        sb_putc(sb, *s++);
        while (*s == ' ')
            sb_putc(sb, *s++);
        {
            int is_pw = is_secret_kw(kw, (size_t)(s - kw));
            const char *v = s;
            if (*s == '\'') {
                s++;
                while (*s && *s != '\'') {
                    if (*s == '\\' && s[1])
                        s++;
                    s++;
                }
                if (*s)
                    s++;
            } else {
                while (*s && *s != ' ' && *s != '\t' && *s != '\n')
                    s++;
            }
            if (is_pw)
                sb_append(sb, "********");
            else
                sb_appendn(sb, v, (size_t)(s - v));
        }
    }
}

/* Masks the password of a URI: scheme://user:PASSWORD@host and
 * ?password=... in the query string. */
static void mask_uri(sb_t *sb, const char *s)
{
    const char *auth = strstr(s, "://"), *at, *colon, *q, *p;

    if (!auth) {
        sb_append(sb, s);
        return;
    }
    auth += 3;
    at = strpbrk(auth, "@/");   /* as libpq: a '?' may be in the password */
    if (at && *at == '@') {
        colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon) {
            sb_appendn(sb, s, (size_t)(colon + 1 - s));
            sb_append(sb, "********");
            s = at;
        }
    }
    q = strchr(s, '?');
    if (!q) {
        sb_append(sb, s);
        return;
    }
    sb_appendn(sb, s, (size_t)(q + 1 - s));
    p = q + 1;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq && is_secret_kw(p, (size_t)(eq - p))) {
            sb_appendn(sb, p, (size_t)(eq + 1 - p));
            sb_append(sb, "********");
        } else {
            sb_appendn(sb, p, len);
        }
        p += len;
        if (*p == '&')
            sb_putc(sb, *p++);
    }
}

/* The value of keyword kw in a parsed conninfo, or NULL. */
static const char *opt_value(const PQconninfoOption *o, const char *kw)
{
    for (; o && o->keyword; o++)
        if (strcmp(o->keyword, kw) == 0)
            return o->val;
    return NULL;
}

/* 1 when masked parses to the options of orig with every secret option
 * (dispchar "*") absent or masked and every other option unchanged. */
static int mask_verified(const PQconninfoOption *orig, const char *masked)
{
    PQconninfoOption *m = PQconninfoParse(masked, NULL), *o;
    int ok = m != NULL;

    for (o = (PQconninfoOption *)orig; ok && o->keyword; o++) {
        const char *v = opt_value(m, o->keyword);
        if (o->dispchar[0] == '*')
            ok = !v || !*v || strcmp(v, "********") == 0;
        else
            ok = (!v && !o->val) || (v && o->val && strcmp(v, o->val) == 0);
    }
    PQconninfoFree(m);
    return ok;
}

/* key='value' ... from parsed options, secret values masked. */
static char *rebuild_masked(const PQconninfoOption *o)
{
    sb_t sb = {0};
    const char *v;

    for (; o->keyword; o++) {
        if (!o->val)
            continue;
        sb_printf(&sb, "%s%s='", sb.len ? " " : "", o->keyword);
        if (o->dispchar[0] == '*')
            sb_append(&sb, "********");
        else
            for (v = o->val; *v; v++) {
                if (*v == '\\' || *v == '\'')
                    sb_putc(&sb, '\\');
                sb_putc(&sb, *v);
            }
        sb_putc(&sb, '\'');
    }
    return sb_steal(&sb);
}

/* 1 when libpq can parse conninfo (a plain database name counts). */
static int conninfo_parses(const char *conninfo)
{
    PQconninfoOption *o;

    if (strncmp(conninfo, "postgresql://", 13) != 0 &&
        strncmp(conninfo, "postgres://", 11) != 0 && !strchr(conninfo, '='))
        return 1;   /* libpq takes it as a database name */
    o = PQconninfoParse(conninfo, NULL);
    PQconninfoFree(o);
    return o != NULL;
}

/*
 * Two steps.  The textual masker keeps the user's own spelling (URI or
 * key=value), which is what a person wants to see in a message.  libpq's
 * parser then checks it: the conninfo riskpipe will actually use must
 * carry no secret through the masked text (percent-encoded keywords,
 * backslash escapes and other corners a textual pass can miss; found by
 * tests/fuzz/fuzz_conninfo.c).  When the check fails the options are
 * written out again from libpq's parse, every secret masked.  A conninfo
 * libpq cannot parse is never sent anywhere; the textual mask is the
 * best effort for it.
 */
char *db_mask_conninfo(const char *conninfo)
{
    sb_t sb = {0};
    PQconninfoOption *opts;
    char *masked;

    if (!conninfo)
        return xstrdup("");
    if (strncmp(conninfo, "postgresql://", 13) == 0 ||
        strncmp(conninfo, "postgres://", 11) == 0)
        mask_uri(&sb, conninfo);
    else
        mask_keyvalue(&sb, conninfo);
    masked = sb_steal(&sb);
    opts = PQconninfoParse(conninfo, NULL);
    if (opts && !mask_verified(opts, masked)) {
        free(masked);
        masked = rebuild_masked(opts);
    }
    PQconninfoFree(opts);
    return masked;
}

/* Fills e from a failed result (or from the connection when res is NULL). */
static int set_pg_error(rp_err *e, db_conn *c, PGresult *res, const char *what)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *det = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    char buf[1024];

    if (!msg) {
        snprintf(buf, sizeof buf, "%s", PQerrorMessage(c->pg));
        buf[strcspn(buf, "\n")] = '\0';
        msg = buf[0] ? buf : "unknown error";
    }
    rp_err_set(e, RP_EDB, "%s: %s", what, msg);
    if (e) {
        if (state)
            snprintf(e->sqlstate, sizeof e->sqlstate, "%s", state);
        if (det)
            rp_err_detail(e, "%s", det);
        if (hint)
            rp_err_hint(e, "%s", hint);
        if (PQstatus(c->pg) == CONNECTION_BAD && !hint)
            rp_err_hint(e, "the connection to the server was lost");
    }
    return RP_EDB;
}

/* The session settings riskpipe relies on (db_connect and
 * db_connect_like share them). */
static int setup_session(db_conn *c, rp_err *e)
{
    PGresult *res;
    int rc = RP_OK;

    /* partitionwise aggregation and join let a sharded PostgreSQL (hash
     * partitions on postgres_fdw foreign tables, docs/scaling.md) run the
     * feature query's GROUP BY customer_id on each shard; they cost a
     * little planning time and change nothing on a plain table */
    res = PQexec(c->pg, "SET DateStyle = ISO, YMD; SET extra_float_digits = 3; "
                        "SET IntervalStyle = postgres; SET client_min_messages = warning; "
                        "SET enable_partitionwise_aggregate = on; "
                        "SET enable_partitionwise_join = on");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = set_pg_error(e, c, res, "could not set up the session");
    PQclear(res);
    return rc;
}

db_conn *db_connect(const char *conninfo, rp_err *e)
{
    const char *keys[] = {"dbname", "fallback_application_name",
                          "client_encoding", NULL};
    const char *vals[] = {conninfo, "riskpipe", "UTF8", NULL};
    db_conn *c = xcalloc(1, sizeof *c);

    c->label = db_mask_conninfo(conninfo);
    /* expand_dbname = 1: conninfo may be key=value or a URI */
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        /* libpq's message about a conninfo it cannot parse may quote a
         * piece of it ("invalid percent-encoded token: ..."), password
         * included: withheld when masking hid something */
        if (!conninfo_parses(conninfo) && strcmp(c->label, conninfo) != 0)
            snprintf(msg, sizeof msg, "the conninfo is not valid (libpq's "
                     "message is not shown: it may quote the password)");
        rp_err_set(e, RP_EDB, "could not connect to the database: %s", msg);
        rp_err_detail(e, "conninfo: %s", c->label[0] ? c->label : "(from the PG* environment)");
        rp_err_hint(e, "check --db, RISKPIPE_DB, DATABASE_URL or PGHOST; "
                       "without any, riskpipe uses its embedded cluster");
        db_close(c);
        return NULL;
    }
    if (setup_session(c, e)) {
        db_close(c);
        return NULL;
    }
    cancel_register(c);
    return c;
}

void db_close(db_conn *c)
{
    if (!c)
        return;
    cancel_unregister(c);
    if (c->pg)
        PQfinish(c->pg);
    free(c->label);
    free(c);
}

const char *db_conn_label(const db_conn *c)
{
    return c->label;
}

int db_server_version(const db_conn *c)
{
    return PQserverVersion(c->pg);
}

int db_exec(db_conn *c, const char *sql, rp_err *e)
{
    PGresult *res = PQexec(c->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = RP_OK;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = set_pg_error(e, c, res, "query failed");
    PQclear(res);
    return rc;
}

int db_exec_params(db_conn *c, const char *sql, int nparams,
                   const char *const *params, rp_err *e)
{
    PGresult *res = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    int rc = RP_OK;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = set_pg_error(e, c, res, "query failed");
    PQclear(res);
    return rc;
}

int db_query(db_conn *c, const char *sql, int nparams,
             const char *const *params, db_rows **out, rp_err *e)
{
    PGresult *res = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
    db_rows *r;
    int i, j;

    *out = NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = set_pg_error(e, c, res, "query failed");
        PQclear(res);
        return rc;
    }
    r = xcalloc(1, sizeof *r);
    r->nrows = PQntuples(res);
    r->ncols = PQnfields(res);
    r->names = xcalloc((size_t)r->ncols, sizeof *r->names);
    r->vals = xcalloc((size_t)r->nrows * (size_t)r->ncols + 1, sizeof *r->vals);
    for (j = 0; j < r->ncols; j++)
        r->names[j] = xstrdup(PQfname(res, j));
    for (i = 0; i < r->nrows; i++)
        for (j = 0; j < r->ncols; j++)
            if (!PQgetisnull(res, i, j))
                r->vals[(size_t)i * (size_t)r->ncols + (size_t)j] =
                    xstrdup(PQgetvalue(res, i, j));
    PQclear(res);
    *out = r;
    return RP_OK;
}

const char *db_rows_get(const db_rows *r, int row, int col)
{
    if (!r || row < 0 || row >= r->nrows || col < 0 || col >= r->ncols)
        return NULL;
    return r->vals[(size_t)row * (size_t)r->ncols + (size_t)col];
}

void db_rows_free(db_rows *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < (size_t)r->nrows * (size_t)r->ncols; i++)
        free(r->vals[i]);
    for (i = 0; i < (size_t)r->ncols; i++)
        free(r->names[i]);
    free(r->vals);
    free(r->names);
    free(r);
}

int db_query_value(db_conn *c, const char *sql, int nparams,
                   const char *const *params, char **out, rp_err *e)
{
    db_rows *r;
    int rc = db_query(c, sql, nparams, params, &r, e);
    const char *v;

    *out = NULL;
    if (rc)
        return rc;
    v = db_rows_get(r, 0, 0);
    if (v)
        *out = xstrdup(v);
    db_rows_free(r);
    return RP_OK;
}

/*
 * Quoting without a connection (export-sql writes SQL for a server it may
 * never talk to).  Identifiers: "..." with " doubled, as PQescapeIdentifier
 * does.  Literals: '...' with ' doubled (standard SQL); a backslash is
 * written outside the quotes as chr(92), so the text means the same whether
 * the reading session has standard_conforming_strings on or off (a function
 * body is parsed again by every session that calls it).  E'' is never used:
 * it is PostgreSQL-only and its meaning is what varies.  The result is an
 * expression of type text that PostgreSQL folds to a constant at planning.
 */
static char *quote_offline(const char *s, char q)
{
    sb_t sb = {0};
    int open = 0, concat = 0;

    if (!*s || q == '"') {
        sb_putc(&sb, q);
        open = 1;
    }
    for (; *s; s++) {
        if (q == '\'' && *s == '\\') {
            if (open)
                sb_putc(&sb, q);
            concat |= sb.len > 0;
            sb_append(&sb, sb.len ? " || chr(92)" : "chr(92)");
            open = 0;
            continue;
        }
        if (!open) {
            concat |= sb.len > 0;
            sb_append(&sb, sb.len ? " || '" : "'");
            open = 1;
        }
        if (*s == q)
            sb_putc(&sb, q);
        sb_putc(&sb, *s);
    }
    if (open)
        sb_putc(&sb, q);
    if (concat) {   /* one operand wherever a literal could stand */
        char *inner = sb_steal(&sb);
        char *r = xasprintf("(%s)", inner);
        free(inner);
        return r;
    }
    return sb_steal(&sb);
}

char *db_quote_ident(db_conn *c, const char *name)
{
    char *q, *r;

    if (!c)
        return quote_offline(name, '"');
    q = PQescapeIdentifier(c->pg, name, strlen(name));
    r = xstrdup(q ? q : "\"\"");
    PQfreemem(q);
    return r;
}

char *db_quote_literal(db_conn *c, const char *value)
{
    char *q, *r;

    if (!c)
        return quote_offline(value, '\'');
    q = PQescapeLiteral(c->pg, value, strlen(value));
    r = xstrdup(q ? q : "''");
    PQfreemem(q);
    return r;
}

/* De-escapes one COPY text field in place (backslash sequences). */
static void unescape_field(char *f)
{
    char *r = f, *w = f;

    while (*r) {
        if (*r != '\\') {
            *w++ = *r++;
            continue;
        }
        r++;
        switch (*r) {
        case 'n': *w++ = '\n'; r++; break;
        case 't': *w++ = '\t'; r++; break;
        case 'r': *w++ = '\r'; r++; break;
        case 'b': *w++ = '\b'; r++; break;
        case 'f': *w++ = '\f'; r++; break;
        case 'v': *w++ = '\v'; r++; break;
        case '\0': break;
        default: *w++ = *r++; break;
        }
    }
    *w = '\0';
}

/* Splits one COPY text row (without its newline) into fields, in place;
 * *fields grows to hold them all.  Returns the number of fields. */
int db_copy_split_row(char *row, char ***fields, int *cap)
{
    int n = 0;
    char *p = row;

    for (;;) {
        char *end = strchr(p, '\t');
        if (end)
            *end = '\0';
        if (n >= *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *fields = xreallocarray(*fields, (size_t)*cap, sizeof **fields);
        }
        if (p[0] == '\\' && p[1] == 'N' && p[2] == '\0') {
            (*fields)[n] = NULL;
        } else {
            if (strchr(p, '\\'))
                unescape_field(p);
            (*fields)[n] = p;
        }
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    return n;
}

/* Drains whatever remains of a COPY OUT after the caller stopped early, so
 * the connection stays usable. */
static void drain_copy_out(db_conn *c)
{
    char *buf;
    PGresult *res;

    PQrequestCancel(c->pg);
    while (PQgetCopyData(c->pg, &buf, 0) > 0)
        PQfreemem(buf);
    while ((res = PQgetResult(c->pg)) != NULL)
        PQclear(res);
}

int db_copy_out(db_conn *c, const char *copy_sql, db_row_fn on_row,
                void *ctx, rp_err *e)
{
    PGresult *res;
    char *buf = NULL, **fields = NULL;
    int cap = 0, len, rc = rp_err_interrupted(e);

    if (rc)
        return rc;
    res = PQexec(c->pg, copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        rc = set_pg_error(e, c, res, "query failed");
        PQclear(res);
        return rc;
    }
    PQclear(res);
    while ((len = PQgetCopyData(c->pg, &buf, 0)) > 0) {
        int nf;
        if (buf[len - 1] == '\n')
            buf[len - 1] = '\0';
        nf = db_copy_split_row(buf, &fields, &cap);
        rc = on_row(ctx, nf, fields, e);
        PQfreemem(buf);
        if (!rc)
            rc = rp_err_interrupted(e);   /* a signal between two rows */
        if (rc) {
            drain_copy_out(c);
            free(fields);
            return rc;
        }
    }
    free(fields);
    if (len == -2)
        return set_pg_error(e, c, NULL, "reading query results failed");
    res = PQgetResult(c->pg);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = set_pg_error(e, c, res, "query failed");
    PQclear(res);
    while ((res = PQgetResult(c->pg)) != NULL)
        PQclear(res);
    return rc;
}

/*
 * Binary COPY framing: an 11-byte signature, a flags word and a header
 * extension come before the first tuple; each tuple is a 16-bit field
 * count and, per field, a 32-bit length (-1 = NULL) and the bytes; the
 * trailer is a field count of -1.  The server sends every tuple as one
 * CopyData message (the header shares the first), so a tuple never spans
 * two buffers: one is parsed in place, no copy.
 */
static const char copy_sig[11] = "PGCOPY\n\377\r\n";

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* Skips the header at the start of the first buffer; -1 when malformed. */
static long bin_header(const char *buf, long len)
{
    uint32_t flags, ext;

    if (len < 19 || memcmp(buf, copy_sig, sizeof copy_sig))
        return -1;
    flags = be32(buf + 11);
    ext = be32(buf + 15);
    /* bit 16: OIDs included (never asked for); the others are critical */
    if (flags != 0 || ext > (uint32_t)(len - 19))
        return -1;
    return 19 + (long)ext;
}

typedef struct bin_fields {
    const char **val;
    int *len;
    int cap;
} bin_fields;

/* Parses the tuples of one message and hands each to on_row.  Returns
 * RP_OK, on_row's code, or -1 when the data are malformed; *done is set
 * at the trailer. */
static int bin_tuples(const char *buf, long pos, long len, bin_fields *f,
                      db_bin_row_fn on_row, void *ctx, int *done, rp_err *e)
{
    while (pos < len) {
        int nf, i, rc;
        if (pos + 2 > len)
            return -1;
        nf = (int16_t)((unsigned char)buf[pos] << 8 | (unsigned char)buf[pos + 1]);
        pos += 2;
        if (nf == -1) {
            *done = 1;
            return pos == len ? RP_OK : -1;
        }
        if (nf < 0)
            return -1;
        if (nf > f->cap) {
            f->cap = nf;
            f->val = xreallocarray(f->val, (size_t)nf, sizeof *f->val);
            f->len = xreallocarray(f->len, (size_t)nf, sizeof *f->len);
        }
        for (i = 0; i < nf; i++) {
            int32_t fl;
            if (pos + 4 > len)
                return -1;
            fl = (int32_t)be32(buf + pos);
            pos += 4;
            if (fl < -1 || (fl > 0 && fl > len - pos))
                return -1;
            f->val[i] = fl < 0 ? NULL : buf + pos;
            f->len[i] = fl;
            pos += fl > 0 ? fl : 0;
        }
        if ((rc = on_row(ctx, nf, f->val, f->len, e)))
            return rc;
    }
    return RP_OK;
}

/* One CopyData message: the header when it is the first, then tuples.
 * Returns as bin_tuples; data after the trailer are malformed. */
static int bin_message(const char *buf, long len, int *first, int *done,
                       bin_fields *f, db_bin_row_fn on_row, void *ctx, rp_err *e)
{
    long pos = *first ? bin_header(buf, len) : 0;

    *first = 0;
    return pos < 0 || *done ? -1 : bin_tuples(buf, pos, len, f, on_row, ctx, done, e);
}

int db_copy_binary_parse(const char *const *msgs, const long *lens, int nmsgs,
                         db_bin_row_fn on_row, void *ctx, rp_err *e)
{
    bin_fields f = {NULL, NULL, 0};
    int k, rc = RP_OK, first = 1, done = 0;

    for (k = 0; k < nmsgs && !rc; k++)
        rc = bin_message(msgs[k], lens[k], &first, &done, &f, on_row, ctx, e);
    free(f.val);
    free(f.len);
    if (rc < 0)
        return rp_err_set(e, RP_EINTERNAL, "malformed binary COPY data from the server");
    if (!rc && !done)
        return rp_err_set(e, RP_EINTERNAL, "binary COPY data from the server ended early");
    return rc;
}

int db_copy_out_binary(db_conn *c, const char *copy_sql, db_bin_row_fn on_row,
                       void *ctx, rp_err *e)
{
    PGresult *res;
    bin_fields f = {NULL, NULL, 0};
    char *buf = NULL;
    int len, rc = rp_err_interrupted(e), first = 1, done = 0;

    if (rc)
        return rc;
    res = PQexec(c->pg, copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        rc = set_pg_error(e, c, res, "query failed");
        PQclear(res);
        return rc;
    }
    PQclear(res);
    while ((len = PQgetCopyData(c->pg, &buf, 0)) > 0) {
        rc = bin_message(buf, len, &first, &done, &f, on_row, ctx, e);
        PQfreemem(buf);
        if (!rc)
            rc = rp_err_interrupted(e);   /* a signal between two messages */
        if (rc) {
            drain_copy_out(c);
            if (rc < 0)
                rc = rp_err_set(e, RP_EINTERNAL, "malformed binary COPY data from the server");
            break;
        }
    }
    free(f.val);
    free(f.len);
    if (rc)
        return rc;
    if (len == -2)
        return set_pg_error(e, c, NULL, "reading query results failed");
    res = PQgetResult(c->pg);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = set_pg_error(e, c, res, "query failed");
    else if (!done)
        rc = rp_err_set(e, RP_EINTERNAL, "binary COPY data from the server ended early");
    PQclear(res);
    while ((res = PQgetResult(c->pg)) != NULL)
        PQclear(res);
    return rc;
}

/*
 * A second connection for a worker thread: the options the first one was
 * opened with (PQconninfo: also what came from the environment or a
 * service file), pinned to the host and port it actually reached, so a
 * multi-host conninfo cannot land the worker on another server.
 */
db_conn *db_connect_like(const db_conn *c, rp_err *e)
{
    PQconninfoOption *opts = PQconninfo(c->pg), *o;
    const char **keys, **vals;
    db_conn *w;
    int n = 0;

    if (!opts) {
        rp_err_set(e, RP_EINTERNAL, "out of memory reading the connection options");
        return NULL;
    }
    for (o = opts; o->keyword; o++)
        n++;
    keys = xcalloc((size_t)n + 1, sizeof *keys);
    vals = xcalloc((size_t)n + 1, sizeof *vals);
    n = 0;
    for (o = opts; o->keyword; o++) {
        const char *v = o->val;
        if (!strcmp(o->keyword, "host"))
            v = PQhost(c->pg);
        else if (!strcmp(o->keyword, "port"))
            v = PQport(c->pg);
        else if (!strcmp(o->keyword, "hostaddr"))
            v = PQhostaddr(c->pg);
        if (v && *v) {
            keys[n] = o->keyword;
            vals[n++] = v;
        }
    }
    w = xcalloc(1, sizeof *w);
    w->label = xstrdup(c->label);
    w->pg = PQconnectdbParams(keys, vals, 0);
    free(keys);
    free(vals);
    PQconninfoFree(opts);
    if (!w->pg || PQstatus(w->pg) != CONNECTION_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", w->pg ? PQerrorMessage(w->pg) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        rp_err_set(e, RP_EDB, "could not open another connection to the database: %s", msg);
        rp_err_detail(e, "conninfo: %s", w->label[0] ? w->label : "(from the PG* environment)");
        db_close(w);
        return NULL;
    }
    if (setup_session(w, e)) {
        db_close(w);
        return NULL;
    }
    cancel_register(w);
    return w;
}

int db_in_transaction(const db_conn *c)
{
    return PQtransactionStatus(c->pg) != PQTRANS_IDLE;
}

int db_copy_in_begin(db_conn *c, const char *copy_sql, rp_err *e)
{
    PGresult *res = PQexec(c->pg, copy_sql);
    int rc = RP_OK;

    if (PQresultStatus(res) != PGRES_COPY_IN)
        rc = set_pg_error(e, c, res, "could not start COPY");
    PQclear(res);
    return rc;
}

int db_copy_in_put(db_conn *c, const char *buf, size_t len, rp_err *e)
{
    if (rp_err_interrupted(e))
        return RP_EINTERNAL;
    while (len > 0) {
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        if (PQputCopyData(c->pg, buf, chunk) != 1)
            return set_pg_error(e, c, NULL, "sending COPY data failed");
        buf += chunk;
        len -= (size_t)chunk;
    }
    return RP_OK;
}

int db_copy_in_end(db_conn *c, int abort_copy, rp_err *e)
{
    PGresult *res;
    int rc = RP_OK;

    if (PQputCopyEnd(c->pg, abort_copy ? "aborted by riskpipe" : NULL) != 1)
        rc = set_pg_error(e, c, NULL, "finishing COPY failed");
    while ((res = PQgetResult(c->pg)) != NULL) {
        if (!rc && !abort_copy && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = set_pg_error(e, c, res, "COPY failed");
        PQclear(res);
    }
    return rc;
}

void db_copy_escape(sb_t *sb, const char *s)
{
    /* runs without a special byte (most values are one run) go in whole:
     * the loader sends millions of values through here */
    for (;;) {
        size_t n = strcspn(s, "\\\t\n\r");
        sb_appendn(sb, s, n);
        s += n;
        switch (*s) {
        case '\\': sb_appendn(sb, "\\\\", 2); break;
        case '\t': sb_appendn(sb, "\\t", 2); break;
        case '\n': sb_appendn(sb, "\\n", 2); break;
        case '\r': sb_appendn(sb, "\\r", 2); break;
        default: return;   /* the terminating NUL */
        }
        s++;
    }
}

int db_begin(db_conn *c, rp_err *e)
{
    return db_exec(c, "BEGIN", e);
}

/* A stop signal (err.h) refuses the COMMIT: the caller rolls back. */
int db_commit(db_conn *c, rp_err *e)
{
    int rc = rp_err_interrupted(e);

    return rc ? rc : db_exec(c, "COMMIT", e);
}

void db_rollback(db_conn *c)
{
    PGresult *res;

    if (!c || PQstatus(c->pg) != CONNECTION_OK)
        return;
    if (PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        return;
    res = PQexec(c->pg, "ROLLBACK");
    PQclear(res);
}

int db_try_lock(db_conn *c, const char *key, rp_err *e)
{
    const char *params[1] = {key};
    char *v = NULL;
    int rc = db_query_value(c, "SELECT pg_try_advisory_lock(hashtext($1))",
                            1, params, &v, e);

    if (rc)
        return rc;
    if (!v || strcmp(v, "t") != 0) {
        free(v);
        rp_err_set(e, RP_EDB, "another riskpipe run holds the lock \"%s\"", key);
        rp_err_hint(e, "wait for it to finish; riskpipe runs on one database "
                       "are serialised so that predictions never interleave");
        return RP_EDB;
    }
    free(v);
    return RP_OK;
}
