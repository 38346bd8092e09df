/*
 * predict.c - pipe_predict: score every customer and replace the
 * predictions, in the table and in the CSV, all or nothing.
 *
 * The table write: COPY into a temporary stage table, then, in the same
 * transaction, TRUNCATE the predictions table and INSERT the stage into
 * it.  Until COMMIT, readers see the previous predictions; a dropped
 * connection, a kill or Ctrl-C rolls the whole transaction back.  The
 * target table keeps its identity (grants, views, indexes), which a
 * rename-swap would lose.  Concurrent runs are refused through an advisory
 * lock keyed by the predictions table's name.
 *
 * The CSV is written to a temporary file in the same folder, fsynced and
 * renamed over the old one only after the database commit succeeded, so
 * the two never disagree about which run they hold.  Probabilities are
 * written with 17 significant digits in both places: the table and the
 * CSV hold the same doubles, bit for bit.
 */
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "encode.h"
#include "logreg.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"

void pipe_score(const model *m, const double *X, size_t n, double *prob,
                int *reasons)
{
    size_t i;
    int j, k, p = m->p;

    for (i = 0; i < n; i++) {
        double z = m->intercept, top[PIPE_REASONS];
        int *r = reasons + i * PIPE_REASONS;

        for (k = 0; k < PIPE_REASONS; k++) {
            r[k] = -1;
            top[k] = 0.0;
        }
        for (j = 0; j < p; j++) {
            /* the contribution beta_j * (x_j - mean_j) / sd_j: X is
             * already centred and scaled */
            double c = m->beta[j] * X[(size_t)j * n + i];
            z += c;
            if (c <= 0.0 || c <= top[PIPE_REASONS - 1])
                continue;
            for (k = PIPE_REASONS - 1; k > 0 && c > top[k - 1]; k--) {
                top[k] = top[k - 1];
                r[k] = r[k - 1];
            }
            top[k] = c;
            r[k] = j;
        }
        prob[i] = lr_sigmoid(z);
    }
}

/* One predictions row in COPY text format or as a CSV line. */
static void row_text(sb_t *sb, const model *m, int64_t id, double prob,
                     const int *r, const char *scored_at, int csv)
{
    char sep = csv ? ',' : '\t';
    int k;

    sb_printf(sb, "%lld%c%d%c", (long long)id, sep, prob >= m->threshold, sep);
    sb_double(sb, prob);
    sb_printf(sb, "%c%s%c%s", sep, m->model_id, sep, scored_at);
    for (k = 0; k < PIPE_REASONS; k++) {
        const char *name = r[k] >= 0 ? m->enc.cols[r[k]].name : NULL;
        sb_putc(sb, sep);
        if (!name) {
            if (!csv)
                sb_append(sb, "\\N");
        } else if (csv) {
            const char *s;
            sb_putc(sb, '"');
            for (s = name; *s; s++) {
                if (*s == '"')
                    sb_putc(sb, '"');
                sb_putc(sb, *s);
            }
            sb_putc(sb, '"');
        } else {
            db_copy_escape(sb, name);
        }
    }
    sb_putc(sb, '\n');
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
} scores;

static int write_table(db_conn *c, const rp_tables *t, const model *m,
                       const scores *s, const char *scored_at, rp_err *e)
{
    char *target = schema_qualify(c, t, t->predictions);
    char *sql = NULL;
    sb_t buf = {0};
    size_t i;
    int rc;
    progress pg;

    progress_begin(&pg, "write", s->n);
    if ((rc = db_begin(c, e)))
        goto done;
    sql = xasprintf("CREATE TEMP TABLE riskpipe_stage (LIKE %s INCLUDING DEFAULTS) "
                    "ON COMMIT DROP", target);
    if ((rc = db_exec(c, sql, e)))
        goto done;
    if ((rc = db_copy_in_begin(c, "COPY riskpipe_stage (customer_id, high_risk_prediction, "
                                  "probability, model_id, scored_at, reason_1, reason_2, "
                                  "reason_3) FROM STDIN", e)))
        goto done;
    for (i = 0; i < s->n && !rc; i++) {
        row_text(&buf, m, s->ids[i], s->prob[i], s->reasons + i * PIPE_REASONS, scored_at, 0);
        if (buf.len >= (1u << 20) || i + 1 == s->n) {
            rc = db_copy_in_put(c, buf.p, buf.len, e);
            sb_clear(&buf);
            progress_update(&pg, i + 1);
        }
    }
    if ((rc = db_copy_in_end(c, rc != RP_OK, e)))
        goto done;
    free(sql);
    sql = xasprintf("TRUNCATE %s; INSERT INTO %s (customer_id, high_risk_prediction, "
                    "probability, model_id, scored_at, reason_1, reason_2, reason_3) "
                    "SELECT customer_id, high_risk_prediction, probability, model_id, "
                    "scored_at, reason_1, reason_2, reason_3 FROM riskpipe_stage",
                    target, target);
    if ((rc = db_exec(c, sql, e)))
        goto done;
    test_pause();
    rc = db_commit(c, e);
done:
    progress_end(&pg);
    if (rc) {
        db_rollback(c);
        rp_err_prefix(e, "writing the predictions (the previous ones are unchanged)");
    }
    sb_free(&buf);
    free(sql);
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

/* The CSV, written to PATH.tmp.PID, fsynced, then renamed over PATH. */
static int write_csv(const char *path, const model *m, const scores *s,
                     const char *scored_at, rp_err *e)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    sb_t buf = {0};
    size_t i;
    int fd, rc = RP_OK;

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        rc = rp_err_set(e, RP_EINTERNAL, "could not create \"%s\": %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    sb_append(&buf, "customer_id,high_risk_prediction,probability,model_id,scored_at,"
                    "reason_1,reason_2,reason_3\n");
    for (i = 0; i < s->n && !rc; i++) {
        row_text(&buf, m, s->ids[i], s->prob[i], s->reasons + i * PIPE_REASONS, scored_at, 1);
        if (buf.len >= (1u << 20) || i + 1 == s->n) {
            rc = write_all(fd, buf.p, buf.len, tmp, e);
            sb_clear(&buf);
        }
    }
    if (!rc && fsync(fd) != 0)
        rc = rp_err_set(e, RP_EINTERNAL, "could not write \"%s\": %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = rp_err_set(e, RP_EINTERNAL, "could not write \"%s\": %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = rp_err_set(e, RP_EINTERNAL, "could not rename \"%s\" to \"%s\": %s", tmp, path,
                        strerror(errno));
    if (rc)
        unlink(tmp);
    sb_free(&buf);
    free(tmp);
    return rc;
}

/* riskpipe_runs bookkeeping: one row per scoring run. */
static long run_begin(db_conn *c, const rp_tables *t, const char *command,
                      const model *m)
{
    char *tab = schema_qualify(c, t, "riskpipe_runs");
    char *sql = xasprintf("INSERT INTO %s (command, model_id) VALUES ($1, $2) "
                          "RETURNING run_id", tab);
    const char *params[2] = {command, m->model_id};
    char *v = NULL;
    rp_err ignore;
    long id = 0;

    if (db_query_value(c, sql, 2, params, &v, &ignore) == RP_OK && v)
        id = atol(v);
    free(v);
    free(sql);
    free(tab);
    return id;
}

static void run_end(db_conn *c, const rp_tables *t, long run_id,
                    const predict_summary *s, const rp_err *err)
{
    char *tab, *sql, sc[32], sh[32], su[32], sid[32];
    const char *params[6];
    rp_err ignore;

    if (!run_id)
        return;
    tab = schema_qualify(c, t, "riskpipe_runs");
    sql = xasprintf("UPDATE %s SET finished_at = clock_timestamp(), rows_scored = $2, "
                    "high_risk = $3, unseen_categories = $4, status = $5, error = $6 "
                    "WHERE run_id = $1", tab);
    snprintf(sid, sizeof sid, "%ld", run_id);
    snprintf(sc, sizeof sc, "%ld", s->scored);
    snprintf(sh, sizeof sh, "%ld", s->high_risk);
    snprintf(su, sizeof su, "%zu", s->unseen);
    params[0] = sid;
    params[1] = err ? NULL : sc;
    params[2] = err ? NULL : sh;
    params[3] = su;
    params[4] = err ? "failed" : "ok";
    params[5] = err ? err->msg : NULL;
    db_exec_params(c, sql, 6, params, &ignore);
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
    int rc;

    feat_spec_copy(&spec, &m->feat);
    if (o->as_of)
        snprintf(spec.as_of, sizeof spec.as_of, "%s", o->as_of);
    else if ((rc = feat_default_as_of(c, t, spec.as_of, e))) {
        feat_spec_free(&spec);
        return rc;
    }
    rc = feat_build(c, t, &spec, q, e);
    feat_spec_free(&spec);
    if (!rc)
        rc = ds_load(c, q, d, e);
    return rc;
}

static int score_and_write(db_conn *c, const rp_tables *t, model *m,
                           const predict_opts *o, const dataset *d,
                           const feat_query *q, predict_summary *out, rp_err *e)
{
    scores s;
    double *X;
    size_t i;
    int rc;

    /* binding only sets the transient column indices of m->enc */
    if ((rc = enc_bind(&m->enc, q, e)))
        return rc;
    X = enc_apply(&m->enc, d, NULL, d->n, &out->unseen);
    s.n = d->n;
    s.ids = d->ids;
    s.prob = xmallocarray(d->n + 1, sizeof *s.prob);
    s.reasons = xmallocarray(d->n * PIPE_REASONS + 1, sizeof *s.reasons);
    pipe_score(m, X, d->n, s.prob, s.reasons);
    free(X);
    out->scored = (long)d->n;
    for (i = 0; i < d->n; i++)
        out->high_risk += s.prob[i] >= m->threshold;
    if (!o->no_db_write)
        rc = write_table(c, t, m, &s, out->scored_at, e);
    if (!rc && o->csv_path)
        rc = write_csv(o->csv_path, m, &s, out->scored_at, e);
    free(s.prob);
    free(s.reasons);
    return rc;
}

int pipe_predict(db_conn *c, const rp_tables *t, model *m,
                 const predict_opts *o, const dataset *d_in,
                 const feat_query *q_in, predict_summary *out, rp_err *e)
{
    dataset d;
    feat_query q;
    char *key;
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
    if (!d_in && (rc = get_features(c, t, m, o, &d, &q, e)))
        goto done;
    rc = score_and_write(c, t, m, o, d_in ? d_in : &d, q_in ? q_in : &q, out, e);
done:
    run_end(c, t, out->run_id, out, rc ? e : NULL);
    ds_free(&d);
    feat_query_free(&q);
    return rc;
}
