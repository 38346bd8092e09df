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
 * place, which costs no allocation per row.
 */
#include "db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/strbuf.h"

struct db_conn {
    PGconn *pg;
    char *label;   /* masked conninfo, for messages */
};

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
            int is_pw = (size_t)(s - kw) >= 8 && strncmp(kw, "password", 8) == 0;
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
    at = strpbrk(auth, "@/?");
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
        if (len >= 9 && strncmp(p, "password=", 9) == 0)
            sb_append(sb, "password=********");
        else
            sb_appendn(sb, p, len);
        p += len;
        if (*p == '&')
            sb_putc(sb, *p++);
    }
}

char *db_mask_conninfo(const char *conninfo)
{
    sb_t sb = {0};

    if (!conninfo)
        return xstrdup("");
    if (strncmp(conninfo, "postgresql://", 13) == 0 ||
        strncmp(conninfo, "postgres://", 11) == 0)
        mask_uri(&sb, conninfo);
    else
        mask_keyvalue(&sb, conninfo);
    return sb_steal(&sb);
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

db_conn *db_connect(const char *conninfo, rp_err *e)
{
    const char *keys[] = {"dbname", "fallback_application_name",
                          "client_encoding", NULL};
    const char *vals[] = {conninfo, "riskpipe", "UTF8", NULL};
    db_conn *c = xcalloc(1, sizeof *c);
    PGresult *res;

    c->label = db_mask_conninfo(conninfo);
    /* expand_dbname = 1: conninfo may be key=value or a URI */
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        rp_err_set(e, RP_EDB, "could not connect to the database: %s", msg);
        rp_err_detail(e, "conninfo: %s", c->label[0] ? c->label : "(from the PG* environment)");
        rp_err_hint(e, "check --db, RISKPIPE_DB, DATABASE_URL or PGHOST; "
                       "without any, riskpipe uses its embedded cluster");
        db_close(c);
        return NULL;
    }
    res = PQexec(c->pg, "SET DateStyle = ISO, YMD; SET extra_float_digits = 3; "
                        "SET IntervalStyle = postgres; SET client_min_messages = warning");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        set_pg_error(e, c, res, "could not set up the session");
        PQclear(res);
        db_close(c);
        return NULL;
    }
    PQclear(res);
    return c;
}

void db_close(db_conn *c)
{
    if (!c)
        return;
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

char *db_quote_ident(db_conn *c, const char *name)
{
    char *q = PQescapeIdentifier(c->pg, name, strlen(name));
    char *r = xstrdup(q ? q : "\"\"");
    PQfreemem(q);
    return r;
}

char *db_quote_literal(db_conn *c, const char *value)
{
    char *q = PQescapeLiteral(c->pg, value, strlen(value));
    char *r = xstrdup(q ? q : "''");
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

/* Splits one COPY text row (without its newline) into fields, in place.
 * Returns the number of fields (may exceed cap: extra fields are counted
 * but not stored). */
static int split_row(char *row, char ***fields, int *cap)
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
    PGresult *res = PQexec(c->pg, copy_sql);
    char *buf = NULL, **fields = NULL;
    int cap = 0, len, rc = RP_OK;

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
        nf = split_row(buf, &fields, &cap);
        rc = on_row(ctx, nf, fields, e);
        PQfreemem(buf);
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
    sb_reserve(sb, strlen(s));
    for (; *s; s++) {
        switch (*s) {
        case '\\': sb_appendn(sb, "\\\\", 2); break;
        case '\t': sb_appendn(sb, "\\t", 2); break;
        case '\n': sb_appendn(sb, "\\n", 2); break;
        case '\r': sb_appendn(sb, "\\r", 2); break;
        default: sb_putc(sb, *s); break;
        }
    }
}

int db_begin(db_conn *c, rp_err *e)
{
    return db_exec(c, "BEGIN", e);
}

int db_commit(db_conn *c, rp_err *e)
{
    return db_exec(c, "COMMIT", e);
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
