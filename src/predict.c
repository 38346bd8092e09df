/*
 * predict.c - pipe_predict: score every customer and replace the
 * predictions, in the table and in the CSV, all or nothing.
 *
 * The table write, in one transaction: TRUNCATE the predictions table and
 * COPY the rows into it in binary (a table of other column types than the
 * ones riskpipe creates: COPY into a temporary stage, then TRUNCATE and
 * INSERT ... SELECT, which converts).  Until COMMIT, readers see the
 * previous predictions; a dropped
 * connection, a kill or Ctrl-C rolls the whole transaction back.  The
 * target table keeps its identity (grants, views, indexes), which a
 * rename-swap would lose.  Concurrent runs are refused through an advisory
 * lock keyed by the predictions table's name.
 *
 * The CSV is written to a temporary file in the same folder and fsynced
 * before the table's COMMIT, and renamed over the old one only after the
 * commit succeeded: a full disk or any other failure up to the COMMIT
 * changes neither, and the rename after it is the one step left (it
 * practically never fails), so the two agree about which run they hold.
 * A temporary file left by a killed riskpipe is removed by the next run
 * (sweep_stale_tmp).  The CSV is written by a second thread while the
 * table is written (csv_job), and joined before the COMMIT: the table
 * write is mostly the server's time, so the two overlap (at 1M customers
 * the CSV's 1.4 s of formatting is the longer one).
 * The run log (riskpipe_runs) records a failure even
 * when the connection itself was lost: run_end reconnects once.
 * Probabilities are
 * written with 17 significant digits in both places: the table and the
 * CSV hold the same doubles, bit for bit.
 *
 * Every run also compares its population with the model's training data
 * (drift.h: PSI of the score and of every feature, unseen categories per
 * column) and stores that in riskpipe_runs.details; the rows may come from
 * other tables than the ones written (o->inputs: predict --from-csv).
 */
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "encode.h"
#include "explain.h"
#include "inputs.h"
#include "logreg.h"
#include "sqlscore.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"

_Static_assert(PIPE_REASONS == EXPL_REASONS, "one reason-code count");

void pipe_score(const model *m, const double *X, size_t n, double *prob,
                int *reasons)
{
    size_t i;
    int j, k, p = m->p;

    for (i = 0; i < n; i++) {
        double z = m->intercept;
        int *r = reasons + i * PIPE_REASONS;

        /* the contributions beta_j * (x_j - mean_j) / sd_j: X is already
         * centred and scaled; explain.c sums them in the same order */
        for (j = 0; j < p; j++)
            z += m->beta[j] * X[(size_t)j * n + i];
        prob[i] = lr_sigmoid(z);
        /* reasons for adverse decisions only (explain.h ranks them) */
        if (prob[i] >= m->threshold)
            expl_reasons(m, X + i, n, r);
        else
            for (k = 0; k < PIPE_REASONS; k++)
                r[k] = -1;
    }
}

/* One predictions row as a CSV line. */
static void row_csv(sb_t *sb, const model *m, char *const *why, int64_t id,
                    double prob, const int *r, const char *scored_at)
{
    int k;

    sb_printf(sb, "%lld,%d,", (long long)id, prob >= m->threshold);
    sb_double(sb, prob);
    sb_printf(sb, ",%s,%s", m->model_id, scored_at);
    for (k = 0; k < PIPE_REASONS; k++) {
        const char *name = r[k] >= 0 ? why[r[k]] : NULL, *s;
        sb_putc(sb, ',');
        if (!name)
            continue;
        sb_putc(sb, '"');
        for (s = name; *s; s++) {
            if (*s == '"')
                sb_putc(sb, '"');
            sb_putc(sb, *s);
        }
        sb_putc(sb, '"');
    }
    sb_putc(sb, '\n');
}

/* One row in COPY BINARY form: customer_id bigint, high_risk_prediction
 * int, probability float8 (its exact bits), then, when ts is not NULL,
 * model_id text and scored_at timestamptz (*ts: microseconds since
 * 2000-01-01 UTC, PostgreSQL's own form), then four reasons text or NULL.
 * Nothing is formatted or parsed. */
static void row_binary(sb_t *sb, const model *m, char *const *why, int64_t id,
                       double prob, const int *r, const int64_t *ts)
{
    uint64_t bits;
    int k;

    memcpy(&bits, &prob, sizeof bits);
    sb_put16(sb, (uint16_t)(3 + (ts ? 2 : 0) + PIPE_REASONS));
    sb_put32(sb, 8);
    sb_put64(sb, (uint64_t)id);
    sb_put32(sb, 4);
    sb_put32(sb, prob >= m->threshold);
    sb_put32(sb, 8);
    sb_put64(sb, bits);
    if (ts) {
        sb_put32(sb, (uint32_t)strlen(m->model_id));
        sb_append(sb, m->model_id);
        sb_put32(sb, 8);
        sb_put64(sb, (uint64_t)*ts);
    }
    for (k = 0; k < PIPE_REASONS; k++) {
        const char *name = r[k] >= 0 ? why[r[k]] : NULL;
        size_t len = name ? strlen(name) : 0;
        sb_put32(sb, name ? (uint32_t)len : 0xffffffffu);
        if (name)
            sb_appendn(sb, name, len);
    }
}

/* Test hook: RISKPIPE_TEST_PAUSE_BEFORE_COMMIT=SECONDS holds the write
 * transaction open so a test can kill the connection at that point. */
static void test_pause(void)
{
    const char *v = getenv("RISKPIPE_TEST_PAUSE_BEFORE_COMMIT");
    if (v && *v)
        sleep((unsigned)atoi(v));
}

typedef struct scores {
    size_t n;
    const int64_t *ids;
    double *prob;
    int *reasons;
    char **why;         /* p reason texts, by design column (explain.h) */
} scores;

typedef struct csv_job csv_job;
static int csv_finish(csv_job *j, rp_err *e);

#define PRED_COLS "customer_id, high_risk_prediction, probability, model_id, scored_at, " \
                  "reason_1, reason_2, reason_3, reason_4"

/* 1 when the predictions table's columns have the types riskpipe creates
 * (schema.c), so rows can be COPYed into it in binary; 0 when a column has
 * another type (a table the user made), -1 on error. */
static int target_is_native(db_conn *c, const char *target, rp_err *e)
{
    const char *params[1] = {target};
    char *v = NULL;
    int rc = db_query_value(c,
        "SELECT count(*) = 9 FROM pg_attribute WHERE attrelid = $1::regclass "
        "AND attnum > 0 AND NOT attisdropped AND (attname::text, atttypid) IN "
        "(VALUES ('customer_id', 'int8'::regtype::oid), ('high_risk_prediction', 'int4'::regtype), "
        "('probability', 'float8'::regtype), ('model_id', 'text'::regtype), "
        "('scored_at', 'timestamptz'::regtype), ('reason_1', 'text'::regtype), "
        "('reason_2', 'text'::regtype), ('reason_3', 'text'::regtype), "
        "('reason_4', 'text'::regtype))", 1, params, &v, e);
    int native = rc ? -1 : v && strcmp(v, "t") == 0;

    free(v);
    return native;
}

/* scored_at (the text of scored_at_now) as timestamptz's binary value. */
static int scored_at_binary(db_conn *c, const char *scored_at, int64_t *ts, rp_err *e)
{
    const char *params[1] = {scored_at};
    char *v = NULL;
    int rc = db_query_value(c, "SELECT ((extract(epoch FROM $1::timestamptz) - 946684800) "
                               "* 1000000)::int8", 1, params, &v, e);

    if (!rc)
        *ts = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    return rc;
}

/* Every row through one COPY ... FROM STDIN (FORMAT binary). */
static int copy_rows(db_conn *c, const char *copy_sql, const model *m, const scores *s,
                     const int64_t *ts, progress *pg, rp_err *e)
{
    sb_t buf = {0};
    size_t i;
    int rc = db_copy_in_begin(c, copy_sql, e);

    if (rc)
        return rc;
    sb_appendn(&buf, "PGCOPY\n\377\r\n\0", 11);   /* signature, flags, extension */
    sb_put32(&buf, 0);
    sb_put32(&buf, 0);
    for (i = 0; i < s->n && !rc; i++) {
        row_binary(&buf, m, s->why, s->ids[i], s->prob[i], s->reasons + i * PIPE_REASONS, ts);
        if (buf.len >= (1u << 20)) {
            rc = db_copy_in_put(c, buf.p, buf.len, e);
            sb_clear(&buf);
            progress_update(pg, i + 1);
        }
    }
    sb_put16(&buf, 0xffff);   /* the trailer */
    if (!rc)
        rc = db_copy_in_put(c, buf.p, buf.len, e);
    sb_free(&buf);
    if (rc) {
        rp_err ignore;
        db_copy_in_end(c, 1, &ignore);
        return rc;
    }
    return db_copy_in_end(c, 0, e);
}

/*
 * The rows into the table, inside the caller's transaction.  A table with
 * riskpipe's own column types is truncated and COPYed into directly (in
 * binary: no number is printed or parsed, and with wal_level=minimal a
 * table truncated in the same transaction is not even WAL-logged).  Any
 * other table goes through a temporary stage of riskpipe's types and an
 * INSERT ... SELECT, which converts to the table's types.
 */
static int fill_table(db_conn *c, const char *target, const model *m, const scores *s,
                      const char *scored_at, progress *pg, rp_err *e)
{
    int native = target_is_native(c, target, e), rc;
    int64_t ts = 0;
    char *sql, *mid, *at;

    if (native < 0)
        return e->code;
    if (native) {
        if ((rc = scored_at_binary(c, scored_at, &ts, e)))
            return rc;
        sql = xasprintf("TRUNCATE %s", target);
        rc = db_exec(c, sql, e);
        free(sql);
        sql = xasprintf("COPY %s (" PRED_COLS ") FROM STDIN (FORMAT binary)", target);
        if (!rc)
            rc = copy_rows(c, sql, m, s, &ts, pg, e);
        free(sql);
        return rc;
    }
    rc = db_exec(c, "CREATE TEMP TABLE riskpipe_stage (customer_id bigint, "
                    "high_risk_prediction integer, probability double precision, "
                    "reason_1 text, reason_2 text, reason_3 text, reason_4 text) "
                    "ON COMMIT DROP", e);
    if (rc || (rc = copy_rows(c, "COPY riskpipe_stage FROM STDIN (FORMAT binary)", m, s,
                              NULL, pg, e)))
        return rc;
    mid = db_quote_literal(c, m->model_id);
    at = db_quote_literal(c, scored_at);
    sql = xasprintf("TRUNCATE %s; INSERT INTO %s (" PRED_COLS ") SELECT customer_id, "
                    "high_risk_prediction, probability, %s::text, %s::timestamptz, "
                    "reason_1, reason_2, reason_3, reason_4 FROM riskpipe_stage",
                    target, target, mid, at);
    rc = db_exec(c, sql, e);
    free(sql);
    free(mid);
    free(at);
    return rc;
}

/* The predictions table, all or nothing.  csv: the CSV being written by a
 * second thread (or NULL), joined before the COMMIT: a CSV that failed
 * rolls the table back too, with the CSV's error. */
static int write_table(db_conn *c, const rp_tables *t, const model *m,
                       const scores *s, const char *scored_at, csv_job *csv,
                       rp_err *e)
{
    char *target = schema_qualify(c, t, t->predictions);
    int rc, csv_rc = RP_OK;
    rp_err ignore;
    progress pg;

    progress_begin(&pg, "write", s->n);
    if ((rc = db_begin(c, e)))
        goto done;
    if ((rc = fill_table(c, target, m, s, scored_at, &pg, e)))
        goto done;
    if (csv && (csv_rc = csv_finish(csv, e)))
        goto done;
    test_pause();
    rc = db_commit(c, e);
done:
    progress_end(&pg);
    if (csv && !csv_rc)
        csv_rc = csv_finish(csv, &ignore);   /* an earlier failure: wait for it */
    if (rc || csv_rc) {
        db_rollback(c);
        if (!csv_rc || rc)
            rp_err_prefix(e, "writing the predictions (the previous ones are unchanged)");
        rc = rc ? rc : csv_rc;
    }
    free(target);
    return rc;
}

/* Writes all of buf to fd; RP_EINTERNAL naming path on failure. */
static int write_all(int fd, const char *buf, size_t len, const char *path, rp_err *e)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return rp_err_set(e, RP_EINTERNAL, "could not write \"%s\": %s", path,
                              strerror(w < 0 ? errno : ENOSPC));
        buf += w;
        len -= (size_t)w;
    }
    return RP_OK;
}

/*
 * Removes "<path>.tmp.<pid>" files whose process is gone: what a riskpipe
 * killed (SIGKILL, power loss) while writing path leaves behind.  A file
 * of a live process (another riskpipe writing the same path) is kept.
 */
static void sweep_stale_tmp(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
                      : xstrdup(".");
    char *prefix = xasprintf("%s.tmp.", slash ? slash + 1 : path);
    size_t n = strlen(prefix);
    DIR *dh = opendir(dir);
    struct dirent *de;

    while (dh && (de = readdir(dh)) != NULL) {
        const char *p = de->d_name + n;
        char *end, *full;
        long pid;
        if (strncmp(de->d_name, prefix, n) != 0 || !*p)
            continue;
        pid = strtol(p, &end, 10);
        if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        full = xasprintf("%s/%s", dir, de->d_name);
        unlink(full);
        free(full);
    }
    if (dh)
        closedir(dh);
    free(prefix);
    free(dir);
}

/* The CSV, written to PATH.tmp.PID and fsynced; *tmp_out receives that
 * name, which install_csv renames over PATH after the COMMIT (or the
 * caller removes).  On failure no temporary file is left. */
static int write_csv(const char *path, const model *m, const scores *s,
                     const char *scored_at, char **tmp_out, rp_err *e)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    sb_t buf = {0};
    size_t i;
    int fd, rc = RP_OK;

    *tmp_out = NULL;
    sweep_stale_tmp(path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        rc = rp_err_set(e, RP_EINTERNAL, "could not create \"%s\": %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    sb_append(&buf, "customer_id,high_risk_prediction,probability,model_id,scored_at,"
                    "reason_1,reason_2,reason_3,reason_4\n");
    for (i = 0; i < s->n && !rc; i++) {
        row_csv(&buf, m, s->why, s->ids[i], s->prob[i], s->reasons + i * PIPE_REASONS, scored_at);
        if (buf.len >= (1u << 20) || i + 1 == s->n) {
            rc = write_all(fd, buf.p, buf.len, tmp, e);
            sb_clear(&buf);
        }
    }
    if (!rc)
        rc = rp_err_interrupted(e);   /* a stop signal: keep the old CSV */
    if (!rc && fsync(fd) != 0)
        rc = rp_err_set(e, RP_EINTERNAL, "could not write \"%s\": %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = rp_err_set(e, RP_EINTERNAL, "could not write \"%s\": %s", tmp, strerror(errno));
    if (rc) {
        unlink(tmp);
        free(tmp);
        rp_err_hint(e, "the previous \"%s\" and the predictions table are unchanged", path);
    } else {
        *tmp_out = tmp;
    }
    sb_free(&buf);
    return rc;
}

/* Renames the finished temporary CSV over path; frees tmp. */
static int install_csv(char *tmp, const char *path, rp_err *e)
{
    int rc = RP_OK;

    if (rename(tmp, path) != 0) {
        rc = rp_err_set(e, RP_EINTERNAL, "could not rename \"%s\" to \"%s\": %s", tmp, path,
                        strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* The CSV, written by its own thread while the table is written.  The
 * thread only reads the model and the scores and writes its own file. */
struct csv_job {
    const char *path, *scored_at;
    const model *m;
    const scores *s;
    char *tmp;         /* the finished temporary file (install_csv) */
    rp_err err;
    int rc, running;
    double secs;
    pthread_t th;
};

static void *csv_main(void *arg)
{
    csv_job *j = arg;
    double t0 = log_now();

    j->rc = write_csv(j->path, j->m, j->s, j->scored_at, &j->tmp, &j->err);
    j->secs = log_now() - t0;
    return NULL;
}

/* Starts writing the CSV (in this thread if no thread can be made). */
static void csv_start(csv_job *j)
{
    rp_err_clear(&j->err);
    j->rc = RP_OK;
    j->tmp = NULL;
    j->running = pthread_create(&j->th, NULL, csv_main, j) == 0;
    if (!j->running)
        csv_main(j);
}

/* Waits for the CSV; its error into e.  Once only: later calls return
 * RP_OK. */
static int csv_finish(csv_job *j, rp_err *e)
{
    int rc = j->rc;

    if (j->running) {
        pthread_join(j->th, NULL);
        j->running = 0;
        rc = j->rc;
        log_verbose("stage %-12s %8.3f s (alongside the table write)", "csv", j->secs);
    }
    if (rc)
        *e = j->err;
    j->rc = RP_OK;
    return rc;
}

/* riskpipe_runs bookkeeping: one row per scoring run. */
/*
 * A new row carries its session's backend pid (details.backend_pid) until
 * run_end replaces details: a 'running' row whose session is gone belongs
 * to a riskpipe that died without a word (SIGKILL, a crash, the server
 * going down), and the next run marks it failed.
 */
static long run_begin(db_conn *c, const rp_tables *t, const char *command,
                      const model *m)
{
    char *tab = schema_qualify(c, t, "riskpipe_runs");
    char *sql = xasprintf("INSERT INTO %s (command, model_id, details) VALUES ($1, $2, "
                          "jsonb_build_object('backend_pid', pg_backend_pid())) "
                          "RETURNING run_id", tab);
    char *stale = xasprintf("UPDATE %s r SET status = 'failed', finished_at = clock_timestamp(), "
                            "error = 'abandoned: the riskpipe process ended without "
                            "recording a result (killed, or the server restarted)' "
                            "WHERE status = 'running' AND details ? 'backend_pid' AND NOT EXISTS "
                            "(SELECT 1 FROM pg_stat_activity a "
                            "WHERE a.pid = (r.details->>'backend_pid')::int)", tab);
    const char *params[2] = {command, m->model_id};
    char *v = NULL;
    rp_err ignore;
    long id = 0;

    db_exec(c, stale, &ignore);
    free(stale);
    if (db_query_value(c, sql, 2, params, &v, &ignore) == RP_OK && v)
        id = atol(v);
    free(v);
    free(sql);
    free(tab);
    return id;
}

/* details: the run's JSON (drift.h: PSI and unseen categories per
 * column) or NULL; o->inputs: the rows came from CSV files, whose rejected
 * rows are counted. */
static void run_end(db_conn *c, const rp_tables *t, long run_id,
                    const predict_summary *s, const rp_err *err,
                    const char *details, const predict_opts *o)
{
    char *tab, *sql, sc[32], sh[32], su[32], sid[32], sr[32];
    char msg[sizeof err->msg + 64];
    const char *params[8];
    rp_err ignore;
    db_conn *again;

    if (!run_id)
        return;
    tab = schema_qualify(c, t, "riskpipe_runs");
    sql = xasprintf("UPDATE %s SET finished_at = clock_timestamp(), rows_scored = $2, "
                    "high_risk = $3, unseen_categories = $4, status = $5, error = $6, "
                    "details = $7::jsonb, rows_rejected = $8 WHERE run_id = $1", tab);
    snprintf(sr, sizeof sr, "%ld", o->rejected);
    params[6] = details;
    params[7] = o->inputs ? sr : NULL;
    snprintf(sid, sizeof sid, "%ld", run_id);
    snprintf(sc, sizeof sc, "%ld", s->scored);
    snprintf(sh, sizeof sh, "%ld", s->high_risk);
    snprintf(su, sizeof su, "%zu", s->unseen);
    params[0] = sid;
    params[1] = err ? NULL : sc;
    params[2] = err ? NULL : sh;
    params[3] = su;
    params[4] = err ? "failed" : "ok";
    /* a failure after a stop signal is the signal's doing (main.c) */
    if (err && rp_interrupt && !strstr(err->msg, "interrupted by "))
        snprintf(msg, sizeof msg, "interrupted by %s: %s", rp_interrupt_name(), err->msg);
    else if (err)
        snprintf(msg, sizeof msg, "%s", err->msg);
    params[5] = err ? msg : NULL;
    /* a failed run whose connection is what failed (killed, the server
     * restarted) cannot update its row there: once more on a new one */
    if (db_exec_params(c, sql, 8, params, &ignore) != RP_OK && err &&
        (again = db_connect_like(c, &ignore)) != NULL) {
        db_exec_params(again, sql, 8, params, &ignore);
        db_close(again);
    }
    free(sql);
    free(tab);
}

static int scored_at_now(db_conn *c, char out[40], rp_err *e)
{
    char *v = NULL;
    int rc = db_query_value(c, "SELECT to_char(now() AT TIME ZONE 'UTC', "
                               "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", 0, NULL, &v, e);
    if (!rc)
        snprintf(out, 40, "%s", v ? v : "");
    free(v);
    return rc;
}

/* Loads the features for m unless the caller already has them. */
static int get_features(db_conn *c, const rp_tables *t, const model *m,
                        const predict_opts *o, dataset *d, feat_query *q,
                        rp_err *e)
{
    feat_spec spec;
    ff_info fi;
    int rc;

    /* missing columns and columns of another type: a message naming them */
    if ((rc = inputs_check(c, t, e)))
        return rc;
    feat_spec_copy(&spec, &m->feat);
    if (o->as_of)
        snprintf(spec.as_of, sizeof spec.as_of, "%s", o->as_of);
    else if ((rc = feat_default_as_of(c, t, spec.as_of, e))) {
        feat_spec_free(&spec);
        return rc;
    }
    rc = feat_build(c, t, &spec, q, e);
    /* the SQL path or the client-side one (fastfeat.h): the same dataset */
    if (!rc)
        rc = ff_load(c, t, &spec, q, &o->features, d, &fi, e);
    feat_spec_free(&spec);
    if (rc)
        return rc;
    /* an empty customers table is far more likely a failed load upstream
     * than a bank without customers: keep the previous predictions */
    if (d->n == 0) {
        rp_err_set(e, RP_EDATA, "table \"%s\".\"%s\" has no rows: nothing to score",
                   t->schema, t->customers);
        rp_err_hint(e, "the previous predictions are kept; load the customers and run again");
        return RP_EDATA;
    }
    ff_warn_orphans(c, t, &fi);
    if (d->nonfinite)
        log_warn("%zu NaN or infinite values in the features were treated as missing",
                 d->nonfinite);
    return RP_OK;
}

/* The drift warning: how many columns moved, the worst few by name. */
static void warn_drift(const drift_result *r)
{
    int watch, act, shown = 0, k, best;
    sb_t list = {0};
    unsigned char *done = xcalloc((size_t)r->nfeat + 2, 1);

    drift_count(r, &watch, &act);
    if (!watch && !act) {
        log_verbose("drift: score PSI %.4f; no column above %.2f", r->score.psi, DRIFT_WATCH);
        free(done);
        return;
    }
    /* the worst first, the score as column -1 */
    while (shown < 5) {
        double worst = DRIFT_WATCH;
        best = -2;
        for (k = -1; k < r->nfeat; k++) {
            double p = k < 0 ? r->score.psi : r->feat[k].psi;
            if (!done[k + 1] && p > worst) {
                worst = p;
                best = k;
            }
        }
        if (best == -2)
            break;
        done[best + 1] = 1;
        sb_printf(&list, "%s%s %.3f", shown++ ? ", " : "",
                  best < 0 ? "score" : r->feat[best].ref->name, worst);
    }
    log_warn("population drift: %d column%s with PSI > %.2f (act), %d > %.2f (watch): %s%s; "
             "see `riskpipe drift`", act, act == 1 ? "" : "s", DRIFT_ACT, watch, DRIFT_WATCH,
             sb_str(&list), watch + act > shown ? ", ..." : "");
    sb_free(&list);
    free(done);
}

/* PSI of the score and every feature against the model's reference, and
 * unseen categories per column: the run's details JSON (caller frees). */
static char *check_drift(const model *m, const dataset *d, const feat_query *q,
                         const double *prob)
{
    size_t *unseen = xcalloc((size_t)q->ncols + 1, sizeof *unseen);
    drift_result r;
    char *json;

    drift_unseen(&m->enc, d, q, unseen);
    if (!m->drift.present) {
        log_verbose("the model has no drift reference (an older model file): no PSI");
        json = drift_details_json(NULL, q, unseen);
    } else {
        drift_compare(&m->drift, d, q, prob, &r);
        warn_drift(&r);
        json = drift_details_json(&r, q, unseen);
        drift_result_free(&r);
    }
    free(unseen);
    return json;
}

/* Scores every row of d with m, or takes the scores pd already has. */
static void score_all(const model *m, const dataset *d, const pipe_data *pd,
                      scores *s, size_t *unseen)
{
    double *X;

    s->n = d->n;
    s->ids = d->ids;
    s->prob = xmallocarray(d->n + 1, sizeof *s->prob);
    s->reasons = xmallocarray(d->n * PIPE_REASONS + 1, sizeof *s->reasons);
    if (pd && pd->prob) {
        memcpy(s->prob, pd->prob, d->n * sizeof *s->prob);
        memcpy(s->reasons, pd->reasons, d->n * PIPE_REASONS * sizeof *s->reasons);
        *unseen = pd->unseen;
        return;
    }
    X = enc_apply(&m->enc, d, NULL, d->n, unseen);
    pipe_score(m, X, d->n, s->prob, s->reasons);
    free(X);
}

static int score_and_write(db_conn *c, const rp_tables *t, model *m,
                           const predict_opts *o, const dataset *d,
                           const feat_query *q, const pipe_data *pd,
                           predict_summary *out, char **details, rp_err *e)
{
    scores s;
    csv_job job, *csv = NULL;
    char *tmp = NULL;
    size_t i;
    int rc, j;
    progress pg;

    /* binding only sets the transient column indices of m->enc */
    if ((rc = enc_bind(&m->enc, q, e)))
        return rc;
    progress_begin(&pg, "score", 0);   /* stage timings cover the whole run (-v) */
    score_all(m, d, pd, &s, &out->unseen);
    *details = check_drift(m, d, q, s.prob);
    s.why = xcalloc((size_t)m->p + 1, sizeof *s.why);
    for (j = 0; j < m->p; j++)
        s.why[j] = expl_reason_text(m, j);
    out->scored = (long)d->n;
    for (i = 0; i < d->n; i++)
        out->high_risk += s.prob[i] >= m->threshold;
    progress_end(&pg);
    /* the CSV written (in a second thread) before the table's COMMIT, then
     * renamed after it (above) */
    if (o->csv_path) {
        csv = &job;
        job.path = o->csv_path;
        job.scored_at = out->scored_at;
        job.m = m;
        job.s = &s;
        csv_start(csv);
    }
    if (!o->no_db_write)
        rc = write_table(c, t, m, &s, out->scored_at, csv, e);
    else if (csv)
        rc = csv_finish(csv, e);
    tmp = csv ? job.tmp : NULL;
    if (tmp && rc) {
        unlink(tmp);
        free(tmp);
    } else if (tmp) {
        rc = install_csv(tmp, o->csv_path, e);
    }
    for (j = 0; j < m->p; j++)
        free(s.why[j]);
    free(s.why);
    free(s.prob);
    free(s.reasons);
    return rc;
}

/*
 * predict --in-database: the scoring query of sqlscore.c runs in the
 * server.  The same atomic pattern as write_table, with the stage filled
 * by CREATE TEMP TABLE ... AS <scoring query> instead of COPY: the rows are
 * computed, staged and copied into the predictions table without leaving
 * the server.  The stage (not a TRUNCATE + INSERT straight from the scoring
 * query) keeps readers waiting only for the final copy, not for the whole
 * feature computation.
 */
static int in_db_select(db_conn *c, const rp_tables *t, model *m,
                        const predict_opts *o, char **sel, rp_err *e)
{
    feat_spec spec;
    feat_query q;
    int rc;

    if ((rc = inputs_check(c, t, e)))
        return rc;
    feat_spec_copy(&spec, &m->feat);
    if (o->as_of)
        snprintf(spec.as_of, sizeof spec.as_of, "%s", o->as_of);
    else
        rc = feat_default_as_of(c, t, spec.as_of, e);
    /* unordered: an INSERT does not need the sort */
    if (!rc)
        rc = feat_build_ex(c, t, &spec, NULL, 0, &q, e);
    feat_spec_free(&spec);
    if (rc)
        return rc;
    if (!(rc = enc_bind(&m->enc, &q, e)))
        *sel = sqlscore_select(c, m, &q, 1);
    feat_query_free(&q);
    return rc;
}

/* Row count, high-risk count and unseen values of the filled stage. */
static int in_db_counts(db_conn *c, const rp_tables *t, predict_summary *out,
                        rp_err *e)
{
    db_rows *r = NULL;
    int rc = db_query(c, "SELECT count(*), coalesce(sum(high_risk_prediction), 0), "
                         "coalesce(sum(unseen), 0) FROM riskpipe_stage", 0, NULL, &r, e);

    if (rc)
        return rc;
    out->scored = atol(db_rows_get(r, 0, 0));
    out->high_risk = atol(db_rows_get(r, 0, 1));
    out->unseen = (size_t)strtoull(db_rows_get(r, 0, 2), NULL, 10);
    db_rows_free(r);
    /* as get_features: an empty customers table is a failed load upstream */
    if (out->scored == 0) {
        rp_err_set(e, RP_EDATA, "table \"%s\".\"%s\" has no rows: nothing to score",
                   t->schema, t->customers);
        rp_err_hint(e, "the previous predictions are kept; load the customers and run again");
        return RP_EDATA;
    }
    return RP_OK;
}

static int score_in_db(db_conn *c, const rp_tables *t, model *m,
                       const predict_opts *o, predict_summary *out, rp_err *e)
{
    char *target, *sel = NULL, *sql;
    const char *params[1] = {out->scored_at};
    int rc;

    if ((rc = in_db_select(c, t, m, o, &sel, e)))
        return rc;
    inputs_warn_orphans(c, t);
    target = schema_qualify(c, t, t->predictions);
    sql = xasprintf("CREATE TEMP TABLE riskpipe_stage ON COMMIT DROP AS %s", sel);
    log_verbose("scoring query:\n%s", sql);
    if (!(rc = db_begin(c, e)) && !(rc = db_exec(c, sql, e)))
        rc = in_db_counts(c, t, out, e);
    free(sql);
    {
        sb_t rs = {0};
        for (int k = 1; k <= PIPE_REASONS; k++)
            sb_printf(&rs, ", reason_%d", k);
        sql = xasprintf("INSERT INTO %s (customer_id, high_risk_prediction, probability, "
                        "model_id, scored_at%s) SELECT customer_id, high_risk_prediction, "
                        "probability, model_id, $1::timestamptz%s FROM riskpipe_stage",
                        target, sb_str(&rs), sb_str(&rs));
        sb_free(&rs);
    }
    if (!rc) {
        char *trunc = xasprintf("TRUNCATE %s", target);
        rc = db_exec(c, trunc, e);
        free(trunc);
    }
    if (!rc)
        rc = db_exec_params(c, sql, 1, params, e);
    if (!rc) {
        test_pause();
        rc = db_commit(c, e);
    }
    if (rc) {
        db_rollback(c);
        if (rc != RP_EDATA)
            rp_err_prefix(e, "scoring in the database (the previous predictions are unchanged)");
    }
    free(sql);
    free(sel);
    free(target);
    return rc;
}

int pipe_predict(db_conn *c, const rp_tables *t, model *m,
                 const predict_opts *o, const pipe_data *pd,
                 predict_summary *out, rp_err *e)
{
    dataset d;
    feat_query q;
    char *key, *details = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    memset(&d, 0, sizeof d);
    memset(&q, 0, sizeof q);
    key = xasprintf("riskpipe:predictions:%s.%s", t->schema, t->predictions);
    rc = db_try_lock(c, key, e);
    free(key);
    if (rc)
        return rc;
    out->run_id = run_begin(c, t, o->command ? o->command : "predict", m);
    if ((rc = scored_at_now(c, out->scored_at, e)))
        goto done;
    if (o->in_database) {
        rc = score_in_db(c, t, m, o, out, e);
        goto done;
    }
    if (!pd && (rc = get_features(c, o->inputs ? o->inputs : t, m, o, &d, &q, e)))
        goto done;
    rc = score_and_write(c, t, m, o, pd ? &pd->d : &d, pd ? &pd->q : &q, pd, out,
                         &details, e);
done:
    run_end(c, t, out->run_id, out, rc ? e : NULL, details, o);
    free(details);
    ds_free(&d);
    feat_query_free(&q);
    return rc;
}
