/*
 * model_io.c - the model file: JSON writer, strict loader, atomic save.
 *
 * Purpose.  A trained model must outlive the process that trained it and
 * be scored months later by a riskpipe that may be newer.  So the file is
 * self-describing JSON (field by field in docs/model-format.md) that a
 * person can read with jq, and the loader trusts nothing in it: every field
 * is checked for presence, type and range, and the first problem found is
 * reported with the dotted path of the field ("coefficients[3].estimate").
 *
 * Invariants.
 *  - Every double round-trips bit for bit: reals are written with 17
 *    significant digits (JSON_REAL_PRECISION(17)) and read back by strtod.
 *    JSON has no NaN or Infinity, so a non-finite double is written as
 *    null and read back as NAN; the one field where null has a meaning of
 *    its own is hyperparameters.C, where it stands for INFINITY (no
 *    penalty).
 *  - The checksum is FNV-1a 64 over the canonical text of the document
 *    without its "checksum" member: jansson's compact dump with sorted keys
 *    and 17-digit reals.  Layout (indentation, key order) is therefore not
 *    covered, but every value is.  It detects edits and corruption (a
 *    truncated copy, a changed digit); it is NOT a security measure -
 *    anyone can recompute it, so a file from an untrusted source must be
 *    treated as untrusted whatever its checksum says.
 *  - The loader checks, in order: JSON syntax, "format", "format_version"
 *    (before the checksum, so that a file from a newer riskpipe is refused
 *    for its version even if the new version checksums differently), the
 *    checksum, then the fields.  On any failure the output model is left
 *    zeroed and nothing is leaked.
 *  - A save never damages the existing file: the text goes to
 *    "<path>.tmp.<pid>" in the same directory (same file system, so the
 *    rename is atomic), which is fsynced before the rename; on any failure
 *    the temporary file is removed.
 *
 * No printing here: every failure goes into the rp_err.
 */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "version.h"
#include "util/mem.h"

/* A model file larger than this is refused unread (a real one is a few
 * hundred kilobytes; the cap keeps a wrong path from eating memory). */
#define MODEL_MAX_BYTES ((size_t)256 << 20)

#define CHECKSUM_PREFIX "fnv1a64:"

/* Two-sided 95% normal quantile, for the confidence intervals. */
#define Z975 1.959963984540054

static const char *const kind_names[] = { "numeric", "level", "other", "missing" };

/* ------------------------------------------------------------------ */
/* Lifetime                                                            */
/* ------------------------------------------------------------------ */

void model_init(model *m)
{
    memset(m, 0, sizeof *m);
}

static void diag_free(model_diag *d)
{
    int i;

    for (i = 0; i < d->n_feat; i++) {
        free(d->feat[i].name);
        free(d->feat[i].label);
    }
    free(d->feat);
    free(d->vif);
    free(d->contrib_mean);
}

void model_free(model *m)
{
    if (!m)
        return;
    feat_spec_free(&m->feat);
    enc_spec_free(&m->enc);
    free(m->feature_sql);
    free(m->beta);
    free(m->se);
    free(m->beta_orig);
    diag_free(&m->diag);
    drift_ref_free(&m->drift);
    model_init(m);
}

/* ------------------------------------------------------------------ */
/* Checksum                                                            */
/* ------------------------------------------------------------------ */

static uint64_t fnv1a64(const char *s, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/*
 * "fnv1a64:<16 hex>" over the canonical dump of root, which must not hold
 * a "checksum" member.  Caller frees; NULL only if jansson runs out of
 * memory.
 */
static char *checksum_of(const json_t *root)
{
    char *canon = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS |
                                   JSON_REAL_PRECISION(17));
    char *sum;

    if (!canon)
        return NULL;
    sum = xasprintf(CHECKSUM_PREFIX "%016" PRIx64,
                    fnv1a64(canon, strlen(canon)));
    free(canon);
    return sum;
}

char *model_json_checksum(const char *text, size_t len)
{
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    char *sum = NULL;

    if (json_is_object(root)) {
        json_object_del(root, "checksum");
        sum = checksum_of(root);
    }
    json_decref(root);
    return sum;
}

/* ------------------------------------------------------------------ */
/* Writing: model -> JSON                                              */
/*                                                                     */
/* The builders never stop half-way: a failed json_* constructor (NULL: */
/* invalid UTF-8 in a string, or out of memory) only raises w->bad, and */
/* model_to_json gives up at the end.  That keeps each builder a flat   */
/* list of fields, in the order they appear in the file.               */
/* ------------------------------------------------------------------ */

typedef struct wr {
    int bad;
} wr;

static void put(wr *w, json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v))
        w->bad = 1;
}

static void push(wr *w, json_t *arr, json_t *v)
{
    if (!v || json_array_append_new(arr, v))
        w->bad = 1;
}

/* A double, or null when it is not finite (JSON has no NaN/Inf). */
static json_t *jreal(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* A string, or null for NULL.  NULL (failure) for invalid UTF-8. */
static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A fixed-size char array, which may lack its NUL if misused. */
static json_t *jfixed(const char *s, size_t size)
{
    return json_stringn(s, strnlen(s, size));
}

static json_t *build_data(wr *w, const model *m)
{
    json_t *o = json_object();

    put(w, o, "as_of", jfixed(m->feat.as_of, sizeof m->feat.as_of));
    put(w, o, "n_customers", json_integer(m->n_customers));
    put(w, o, "n_labelled", json_integer(m->n_labelled));
    put(w, o, "n_events", json_integer(m->n_events));
    put(w, o, "n_train", json_integer(m->n_train));
    put(w, o, "n_test", json_integer(m->n_test));
    put(w, o, "test_fraction", jreal(m->test_fraction));
    put(w, o, "split_seed", json_integer(m->split_seed));
    return o;
}

static json_t *build_features(wr *w, const model *m)
{
    json_t *o = json_object(), *cats = json_array();
    int i;

    for (i = 0; i < m->feat.n_cats; i++)
        push(w, cats, jstr(m->feat.cats[i]));
    put(w, o, "set", json_string(feat_set_name(m->feat.set)));
    put(w, o, "label_threshold", jreal(m->feat.label_threshold));
    put(w, o, "categories", cats);
    put(w, o, "sql", jstr(m->feature_sql));
    return o;
}

static json_t *build_column(wr *w, const enc_col *c)
{
    json_t *o = json_object();
    int kind_ok = c->kind >= 0 && c->kind < (int)(sizeof kind_names / sizeof *kind_names);

    put(w, o, "name", jstr(c->name));
    put(w, o, "label", jstr(c->label));
    put(w, o, "kind", kind_ok ? json_string(kind_names[c->kind]) : NULL);
    put(w, o, "source", jstr(c->source));
    put(w, o, "level", jstr(c->level));
    put(w, o, "group", jstr(c->group));
    put(w, o, "impute", jreal(c->impute));
    put(w, o, "mean", jreal(c->mean));
    put(w, o, "sd", jreal(c->sd));
    return o;
}

static json_t *build_encoding(wr *w, const model *m)
{
    json_t *o = json_object(), *refs = json_array(), *cols = json_array();
    int i;

    for (i = 0; i < m->enc.n_ref; i++) {
        json_t *r = json_object();
        put(w, r, "source", jstr(m->enc.ref_sources[i]));
        put(w, r, "level", jstr(m->enc.ref_levels[i]));
        push(w, refs, r);
    }
    for (i = 0; i < m->enc.p; i++)
        push(w, cols, build_column(w, &m->enc.cols[i]));
    put(w, o, "min_count", json_integer(m->enc.min_count));
    put(w, o, "reference_levels", refs);
    put(w, o, "columns", cols);
    return o;
}

static json_t *build_hyper(wr *w, const model *m)
{
    json_t *o = json_object();

    put(w, o, "C", jreal(m->C));    /* null = INFINITY = unpenalised */
    put(w, o, "class_weight",
        json_string(m->class_weight_balanced ? "balanced" : "none"));
    put(w, o, "min_count", json_integer(m->min_count));
    /* null = every labelled customer weighs 1 */
    put(w, o, "weight_column", m->weight_column[0]
        ? jfixed(m->weight_column, sizeof m->weight_column) : json_null());
    return o;
}

/*
 * One row of the coefficient table.  z, p, the odds ratio and the 95% CI
 * are derived from (estimate, se) for readers of the file; the loader
 * reads only estimate, std_error and estimate_original.
 */
static json_t *build_coef(wr *w, const char *name, double est, double se,
                          double est_orig)
{
    json_t *o = json_object();
    double z = est / se;

    put(w, o, "name", jstr(name));
    put(w, o, "estimate", jreal(est));
    put(w, o, "std_error", jreal(se));
    put(w, o, "z", jreal(z));
    put(w, o, "p_value", jreal(erfc(fabs(z) / sqrt(2.0))));
    put(w, o, "odds_ratio", jreal(exp(est)));
    put(w, o, "ci_low", jreal(est - Z975 * se));
    put(w, o, "ci_high", jreal(est + Z975 * se));
    put(w, o, "estimate_original", jreal(est_orig));
    return o;
}

static json_t *build_coefs(wr *w, const model *m)
{
    json_t *a = json_array();
    int j;

    push(w, a, build_coef(w, "(intercept)", m->intercept, m->se[0],
                          m->intercept_orig));
    for (j = 0; j < m->p; j++)
        push(w, a, build_coef(w, m->enc.cols[j].name, m->beta[j],
                              m->se[j + 1], m->beta_orig[j]));
    return a;
}

static json_t *build_fit(wr *w, const model *m)
{
    json_t *o = json_object();

    put(w, o, "iterations", json_integer(m->iterations));
    put(w, o, "grad_norm", jreal(m->grad_norm));
    put(w, o, "loglik", jreal(m->loglik));
    put(w, o, "loglik_null", jreal(m->loglik_null));
    put(w, o, "cond", jreal(m->cond));
    return o;
}

static json_t *build_threshold(wr *w, const model *m)
{
    json_t *o = json_object();

    put(w, o, "value", jreal(m->threshold));
    put(w, o, "policy", jfixed(m->threshold_policy, sizeof m->threshold_policy));
    return o;
}

/* The fields of model_metrics, in file order: one table for both
 * directions so that writer and reader cannot drift apart. */
typedef struct mfield {
    const char *name;
    size_t off;
    int is_long;
} mfield;

#define ML(f) { #f, offsetof(model_metrics, f), 1 }
#define MD(f) { #f, offsetof(model_metrics, f), 0 }
static const mfield metric_fields[] = {
    ML(n), ML(events), MD(roc_auc), MD(pr_auc), MD(log_loss), MD(brier),
    MD(ks), MD(ks_score), MD(threshold), ML(tp), ML(fp), ML(tn), ML(fn),
    MD(accuracy), MD(precision), MD(recall), MD(f1),
};
#undef ML
#undef MD
#define N_METRIC_FIELDS (sizeof metric_fields / sizeof *metric_fields)

static json_t *build_metrics(wr *w, const model_metrics *t)
{
    json_t *o = json_object();
    size_t i;

    for (i = 0; i < N_METRIC_FIELDS; i++) {
        const char *p = (const char *)t + metric_fields[i].off;
        put(w, o, metric_fields[i].name,
            metric_fields[i].is_long ? json_integer(*(const long *)p)
                                     : jreal(*(const double *)p));
    }
    return o;
}

/* ---- evaluation, cross-validation, C selection (format version 2) ---- */

/* n doubles as a JSON array (non-finite -> null). */
static json_t *jreals(wr *w, const double *x, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < n; i++)
        push(w, a, jreal(x[i]));
    return a;
}

static json_t *jlongs(wr *w, const long *x, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < n; i++)
        push(w, a, json_integer(x[i]));
    return a;
}

/* A curve as three parallel arrays (columnar: smaller, easy to plot). */
static json_t *build_curve(wr *w, const model_point *pt, int n,
                           const char *xname, const char *yname)
{
    json_t *o = json_object(), *x = json_array(), *y = json_array(),
           *t = json_array();
    int i;

    for (i = 0; i < n && i < MODEL_CURVE_MAX; i++) {
        push(w, x, jreal(pt[i].x));
        push(w, y, jreal(pt[i].y));
        push(w, t, jreal(pt[i].thr));
    }
    put(w, o, xname, x);
    put(w, o, yname, y);
    put(w, o, "threshold", t);
    return o;
}

static json_t *build_tradeoff(wr *w, const model_eval *v)
{
    json_t *o = json_object();
    double thr[MODEL_TRADEOFF_N];
    int k;

    for (k = 0; k < MODEL_TRADEOFF_N; k++)
        thr[k] = k / (double)(MODEL_TRADEOFF_N - 1);
    put(w, o, "threshold", jreals(w, thr, MODEL_TRADEOFF_N));
    put(w, o, "precision", jreals(w, v->to_precision, MODEL_TRADEOFF_N));
    put(w, o, "recall", jreals(w, v->to_recall, MODEL_TRADEOFF_N));
    put(w, o, "flagged_share", jreals(w, v->to_flagged, MODEL_TRADEOFF_N));
    return o;
}

static json_t *build_policy(wr *w, const model_eval *v)
{
    json_t *o = json_object();

    put(w, o, "name", jfixed(v->policy, sizeof v->policy));
    put(w, o, "threshold", jreal(v->threshold));
    put(w, o, "tp", json_integer(v->tp));
    put(w, o, "fp", json_integer(v->fp));
    put(w, o, "tn", json_integer(v->tn));
    put(w, o, "fn", json_integer(v->fn));
    put(w, o, "precision", jreal(v->precision));
    put(w, o, "recall", jreal(v->recall));
    put(w, o, "f1", jreal(v->f1));
    put(w, o, "flagged_share", jreal(v->flagged));
    return o;
}

static json_t *build_eval(wr *w, const model_eval *v)
{
    json_t *o = json_object(), *ci = json_object(), *cal = json_object(),
           *lift = json_object(), *hist = json_object();

    put(w, ci, "low", jreal(v->roc_auc_lo));
    put(w, ci, "high", jreal(v->roc_auc_hi));
    put(w, ci, "method", json_string("DeLong"));
    put(w, cal, "mean_predicted", jreals(w, v->cal_pred, MODEL_DECILES));
    put(w, cal, "observed_rate", jreals(w, v->cal_obs, MODEL_DECILES));
    put(w, cal, "count", jlongs(w, v->cal_count, MODEL_DECILES));
    put(w, lift, "lift", jreals(w, v->lift, MODEL_DECILES));
    put(w, lift, "cumulative_capture", jreals(w, v->capture, MODEL_DECILES));
    put(w, hist, "bins", json_integer(MODEL_HIST_BINS));
    put(w, hist, "high_risk", jlongs(w, v->hist_pos, MODEL_HIST_BINS));
    put(w, hist, "low_risk", jlongs(w, v->hist_neg, MODEL_HIST_BINS));
    put(w, o, "n", json_integer(v->n));
    put(w, o, "events", json_integer(v->events));
    put(w, o, "roc_auc", jreal(v->roc_auc));
    put(w, o, "roc_auc_se", jreal(v->roc_auc_se));
    put(w, o, "roc_auc_ci", ci);
    put(w, o, "gini", jreal(v->gini));
    put(w, o, "pr_auc", jreal(v->pr_auc));
    put(w, o, "ks", jreal(v->ks));
    put(w, o, "ks_score", jreal(v->ks_score));
    put(w, o, "brier", jreal(v->brier));
    put(w, o, "roc_curve", build_curve(w, v->roc, v->n_roc, "fpr", "tpr"));
    put(w, o, "pr_curve", build_curve(w, v->pr, v->n_pr, "recall", "precision"));
    put(w, o, "threshold_tradeoff", build_tradeoff(w, v));
    put(w, o, "calibration", cal);
    put(w, o, "lift", lift);
    put(w, o, "score_histogram", hist);
    put(w, o, "policy", build_policy(w, v));
    return o;
}

static json_t *build_cv_stat(wr *w, const model_cv_stat *s, int k)
{
    json_t *o = json_object();

    put(w, o, "mean", jreal(s->mean));
    put(w, o, "sd", jreal(s->sd));
    put(w, o, "folds", jreals(w, s->fold, (size_t)k));
    return o;
}

/* The five CV metrics, in file order, for writer and reader alike. */
#define CV_STATS(X) X(roc_auc) X(pr_auc) X(log_loss) X(brier) X(ks)

static json_t *build_cv(wr *w, const model_cv *cv)
{
    json_t *o, *met;
    int k = cv->k;

    if (k <= 0)
        return json_null();
    if (k > MODEL_CV_MAX_FOLDS)
        return NULL;
    o = json_object();
    met = json_object();
#define PUT_STAT(f) put(w, met, #f, build_cv_stat(w, &cv->f, k));
    CV_STATS(PUT_STAT)
#undef PUT_STAT
    put(w, o, "folds", json_integer(k));
    put(w, o, "seed", json_integer(cv->seed));
    put(w, o, "C", jreal(cv->C));          /* null = INFINITY */
    put(w, o, "fold_n", jlongs(w, cv->fold_n, (size_t)k));
    put(w, o, "fold_events", jlongs(w, cv->fold_events, (size_t)k));
    put(w, o, "metrics", met);
    return o;
}

static json_t *build_cgrid(wr *w, const model_cgrid *g)
{
    json_t *o, *a;
    int i;

    if (g->n <= 0)
        return json_null();
    if (g->n > MODEL_GRID_MAX)
        return NULL;
    o = json_object();
    a = json_array();
    for (i = 0; i < g->n; i++) {
        json_t *r = json_object();
        put(w, r, "C", jreal(g->row[i].C));
        put(w, r, "log_loss_mean", jreal(g->row[i].log_loss_mean));
        put(w, r, "log_loss_sd", jreal(g->row[i].log_loss_sd));
        put(w, r, "roc_auc_mean", jreal(g->row[i].roc_auc_mean));
        put(w, r, "roc_auc_sd", jreal(g->row[i].roc_auc_sd));
        push(w, a, r);
    }
    put(w, o, "criterion", json_string("cv_log_loss"));
    put(w, o, "folds", json_integer(g->k));
    put(w, o, "chosen", json_integer(g->chosen));
    put(w, o, "grid", a);
    return o;
}

/* "diagnostics" (model_diag, explain.h): omitted when the model has none. */
static json_t *build_diag(wr *w, const model *m)
{
    const model_diag *d = &m->diag;
    json_t *o = json_object(), *fs = json_array();
    int i;

    for (i = 0; i < d->n_feat; i++) {
        json_t *f = json_object();
        put(w, f, "name", jstr(d->feat[i].name));
        put(w, f, "label", jstr(d->feat[i].label));
        put(w, f, "categorical", json_boolean(d->feat[i].categorical));
        put(w, f, "missing", json_integer(d->feat[i].missing));
        put(w, f, "levels", json_integer(d->feat[i].levels));
        push(w, fs, f);
    }
    put(w, o, "fingerprint", jfixed(d->fingerprint, sizeof d->fingerprint));
    put(w, o, "n_extreme", json_integer(d->n_extreme));
    put(w, o, "nonfinite", json_integer(d->nonfinite));
    put(w, o, "corr_cond", jreal(d->corr_cond));
    put(w, o, "vif", jreals(w, d->vif, (size_t)m->p));
    put(w, o, "contrib_mean", jreals(w, d->contrib_mean, (size_t)m->p));
    put(w, o, "features", fs);
    return o;
}

/* The document without its checksum; NULL when it cannot be built. */
static json_t *build_model(const model *m)
{
    json_t *o = json_object();
    wr w = { 0 };

    put(&w, o, "format", json_string(MODEL_FORMAT));
    put(&w, o, "format_version", json_integer(MODEL_FORMAT_VERSION));
    put(&w, o, "riskpipe_version",
        jfixed(m->riskpipe_version, sizeof m->riskpipe_version));
    put(&w, o, "model_id", jfixed(m->model_id, sizeof m->model_id));
    put(&w, o, "created_at", jfixed(m->created_at, sizeof m->created_at));
    put(&w, o, "data", build_data(&w, m));
    put(&w, o, "features", build_features(&w, m));
    put(&w, o, "encoding", build_encoding(&w, m));
    put(&w, o, "hyperparameters", build_hyper(&w, m));
    put(&w, o, "coefficients", build_coefs(&w, m));
    put(&w, o, "fit", build_fit(&w, m));
    put(&w, o, "threshold", build_threshold(&w, m));
    put(&w, o, "test_metrics", build_metrics(&w, &m->test));
    if (m->diag.vif && m->diag.contrib_mean)
        put(&w, o, "diagnostics", build_diag(&w, m));
    put(&w, o, "evaluation", build_eval(&w, &m->eval));
    put(&w, o, "cross_validation", build_cv(&w, &m->cv));
    put(&w, o, "C_selection", build_cgrid(&w, &m->cgrid));
    if (m->drift.present)
        put(&w, o, "drift_reference", drift_ref_to_json(&m->drift));
    if (w.bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A model that would make the builders read out of bounds. */
static int model_shape_ok(const model *m)
{
    return (m->feat.set == FEAT_DEFAULT || m->feat.set == FEAT_SEED) &&
           m->p >= 0 && m->p == m->enc.p && m->se &&
           (m->p == 0 || (m->beta && m->beta_orig && m->enc.cols)) &&
           (m->feat.n_cats == 0 || m->feat.cats) &&
           (m->enc.n_ref == 0 || (m->enc.ref_sources && m->enc.ref_levels));
}

char *model_to_json(const model *m)
{
    json_t *root;
    char *sum, *body, *text;

    if (!model_shape_ok(m) || !(root = build_model(m)))
        return NULL;
    sum = checksum_of(root);
    if (!sum || json_object_set_new(root, "checksum", json_string(sum))) {
        free(sum);
        json_decref(root);
        return NULL;
    }
    free(sum);
    /* Insertion order (jansson keeps it), so the file reads top-down. */
    body = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    json_decref(root);
    if (!body)
        return NULL;
    text = xasprintf("%s\n", body);
    free(body);
    return text;
}

/* ------------------------------------------------------------------ */
/* Reading: JSON -> model                                              */
/*                                                                     */
/* Each getter reads one member of an object, checks its type and      */
/* range, and on failure sets the error naming the field's path (pfx   */
/* is the path of the object, "" at the top) and returns RP_EDATA, so   */
/* a section reader is a chain of getters joined with ||.              */
/* ------------------------------------------------------------------ */

typedef struct rd {
    const char *origin;     /* subject of every message */
    rp_err *e;
} rd;

static int bad_field(rd *r, const char *pfx, const char *key)
{
    return rp_err_set(r->e, RP_EDATA, "%s: missing or invalid field \"%s%s%s\"",
                      r->origin, pfx, *pfx && key ? "." : "", key ? key : "");
}

static int get_obj(rd *r, json_t *o, const char *pfx, const char *key, json_t **out)
{
    *out = json_object_get(o, key);
    return json_is_object(*out) ? 0 : bad_field(r, pfx, key);
}

static int get_arr(rd *r, json_t *o, const char *pfx, const char *key, json_t **out)
{
    *out = json_object_get(o, key);
    return json_is_array(*out) ? 0 : bad_field(r, pfx, key);
}

/* A string (or null when nullable) into a fresh copy, NULL for null. */
static int get_str(rd *r, json_t *o, const char *pfx, const char *key,
                   int nullable, char **out)
{
    json_t *v = json_object_get(o, key);

    *out = NULL;
    if (nullable && json_is_null(v))
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return bad_field(r, pfx, key);      /* an embedded \u0000 */
    *out = xstrdup(json_string_value(v));
    return 0;
}

/* A string that fits buf (with its NUL). */
static int get_fixed(rd *r, json_t *o, const char *pfx, const char *key,
                     char *buf, size_t size)
{
    json_t *v = json_object_get(o, key);
    size_t n;

    if (!json_is_string(v))
        return bad_field(r, pfx, key);
    n = json_string_length(v);
    if (n >= size || strlen(json_string_value(v)) != n)
        return bad_field(r, pfx, key);
    memcpy(buf, json_string_value(v), n + 1);
    return 0;
}

static int get_long(rd *r, json_t *o, const char *pfx, const char *key,
                    long lo, long hi, long *out)
{
    json_t *v = json_object_get(o, key);
    json_int_t x;

    if (!json_is_integer(v))
        return bad_field(r, pfx, key);
    x = json_integer_value(v);
    if (x < lo || x > hi)
        return bad_field(r, pfx, key);
    *out = (long)x;
    return 0;
}

static int get_int(rd *r, json_t *o, const char *pfx, const char *key,
                   int lo, int hi, int *out)
{
    long x;

    if (get_long(r, o, pfx, key, lo, hi, &x))
        return RP_EDATA;
    *out = (int)x;
    return 0;
}

/* Real-valued fields: what null means, and which values are allowed. */
enum { R_FINITE = 0, R_NULL_NAN = 1, R_NULL_INF = 2 };

/*
 * A number (an integer is accepted too) into *out.  With R_FINITE null is
 * refused; otherwise null reads as NAN (R_NULL_NAN) or INFINITY
 * (R_NULL_INF), the values a writer turns into null.
 */
static int get_real(rd *r, json_t *o, const char *pfx, const char *key,
                    int mode, double *out)
{
    json_t *v = json_object_get(o, key);

    if (json_is_null(v) && mode != R_FINITE) {
        *out = mode == R_NULL_INF ? INFINITY : NAN;
        return 0;
    }
    if (!json_is_number(v))
        return bad_field(r, pfx, key);
    *out = json_number_value(v);
    return 0;
}

/* A finite number in [lo, hi]. */
static int get_range(rd *r, json_t *o, const char *pfx, const char *key,
                     double lo, double hi, double *out)
{
    if (get_real(r, o, pfx, key, R_FINITE, out))
        return RP_EDATA;
    return (*out >= lo && *out <= hi) ? 0 : bad_field(r, pfx, key);
}

/* YYYY-MM-DD with a plausible month and day (the query compares dates,
 * and a malformed one would otherwise surface as an SQL error). */
static int date_ok(const char *s)
{
    int i, mon, day;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    mon = (s[5] - '0') * 10 + (s[6] - '0');
    day = (s[8] - '0') * 10 + (s[9] - '0');
    return mon >= 1 && mon <= 12 && day >= 1 && day <= 31;
}

static int read_header(rd *r, json_t *root, model *m)
{
    return get_fixed(r, root, "", "riskpipe_version", m->riskpipe_version,
                     sizeof m->riskpipe_version) ||
           get_fixed(r, root, "", "model_id", m->model_id, sizeof m->model_id) ||
           get_fixed(r, root, "", "created_at", m->created_at,
                     sizeof m->created_at);
}

static int read_data(rd *r, json_t *root, model *m)
{
    json_t *o;

    if (get_obj(r, root, "", "data", &o) ||
        get_fixed(r, o, "data", "as_of", m->feat.as_of, sizeof m->feat.as_of))
        return RP_EDATA;
    if (!date_ok(m->feat.as_of))
        return bad_field(r, "data", "as_of");
    return get_long(r, o, "data", "n_customers", 0, LONG_MAX, &m->n_customers) ||
           get_long(r, o, "data", "n_labelled", 0, LONG_MAX, &m->n_labelled) ||
           get_long(r, o, "data", "n_events", 0, LONG_MAX, &m->n_events) ||
           get_long(r, o, "data", "n_train", 0, LONG_MAX, &m->n_train) ||
           get_long(r, o, "data", "n_test", 0, LONG_MAX, &m->n_test) ||
           get_range(r, o, "data", "test_fraction", 0.0, 1.0, &m->test_fraction) ||
           get_long(r, o, "data", "split_seed", LONG_MIN, LONG_MAX, &m->split_seed);
}

/* features.categories: an array of strings, into feat.cats. */
static int read_categories(rd *r, json_t *o, model *m)
{
    json_t *a;
    size_t i, n;
    char pfx[64];

    if (get_arr(r, o, "features", "categories", &a))
        return RP_EDATA;
    n = json_array_size(a);
    if (n > INT_MAX / 2)
        return bad_field(r, "features", "categories");
    m->feat.cats = xcalloc(n, sizeof *m->feat.cats);
    for (i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v) ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(pfx, sizeof pfx, "features.categories[%zu]", i);
            return bad_field(r, pfx, NULL);
        }
        m->feat.cats[i] = xstrdup(json_string_value(v));
        m->feat.n_cats = (int)i + 1;    /* what feat_spec_free must free */
    }
    return 0;
}

static int read_features(rd *r, json_t *root, model *m)
{
    json_t *o;
    char *set = NULL;

    if (get_obj(r, root, "", "features", &o) ||
        get_str(r, o, "features", "set", 0, &set))
        return RP_EDATA;
    m->feat.set = feat_set_parse(set);
    free(set);
    if (m->feat.set < 0)
        return bad_field(r, "features", "set");
    return get_real(r, o, "features", "label_threshold", R_FINITE,
                    &m->feat.label_threshold) ||
           read_categories(r, o, m) ||
           get_str(r, o, "features", "sql", 1, &m->feature_sql);
}

static int read_refs(rd *r, json_t *a, model *m)
{
    size_t i, n = json_array_size(a);
    char pfx[64];

    if (n > INT_MAX / 2)
        return bad_field(r, "encoding", "reference_levels");
    m->enc.ref_sources = xcalloc(n, sizeof *m->enc.ref_sources);
    m->enc.ref_levels = xcalloc(n, sizeof *m->enc.ref_levels);
    m->enc.n_ref = (int)n;      /* the arrays are zeroed: free is safe */
    for (i = 0; i < n; i++) {
        json_t *o = json_array_get(a, i);
        snprintf(pfx, sizeof pfx, "encoding.reference_levels[%zu]", i);
        if (!json_is_object(o))
            return bad_field(r, pfx, NULL);
        if (get_str(r, o, pfx, "source", 0, &m->enc.ref_sources[i]) ||
            get_str(r, o, pfx, "level", 0, &m->enc.ref_levels[i]))
            return RP_EDATA;
    }
    return 0;
}

static int parse_kind(const char *s)
{
    int k;

    for (k = 0; k < (int)(sizeof kind_names / sizeof *kind_names); k++)
        if (!strcmp(s, kind_names[k]))
            return k;
    return -1;
}

/* The strings a kind needs: source for all but missing, level for level,
 * group for missing.  Anything else is tolerated as null or a string. */
static int column_strings_ok(rd *r, const enc_col *c, const char *pfx)
{
    if (c->kind != ENC_MISSING && !c->source)
        return bad_field(r, pfx, "source");
    if (c->kind == ENC_LEVEL && !c->level)
        return bad_field(r, pfx, "level");
    if (c->kind == ENC_MISSING && !c->group)
        return bad_field(r, pfx, "group");
    return 0;
}

static int read_column(rd *r, json_t *o, const char *pfx, enc_col *c)
{
    char *kind = NULL;

    c->src = -1;
    if (!json_is_object(o))
        return bad_field(r, pfx, NULL);
    if (get_str(r, o, pfx, "name", 0, &c->name) ||
        get_str(r, o, pfx, "label", 1, &c->label) ||
        get_str(r, o, pfx, "kind", 0, &kind))
        return RP_EDATA;
    c->kind = parse_kind(kind);
    free(kind);
    if (c->kind < 0)
        return bad_field(r, pfx, "kind");
    if (get_str(r, o, pfx, "source", 1, &c->source) ||
        get_str(r, o, pfx, "level", 1, &c->level) ||
        get_str(r, o, pfx, "group", 1, &c->group) ||
        column_strings_ok(r, c, pfx))
        return RP_EDATA;
    /* Scoring divides by sd: it must be a positive finite number. */
    return get_real(r, o, pfx, "impute", R_NULL_NAN, &c->impute) ||
           get_real(r, o, pfx, "mean", R_FINITE, &c->mean) ||
           get_range(r, o, pfx, "sd", 0.0, DBL_MAX, &c->sd) ||
           (c->sd > 0 ? 0 : bad_field(r, pfx, "sd"));
}

static int read_columns(rd *r, json_t *a, model *m)
{
    size_t i, n = json_array_size(a);
    char pfx[64];

    if (n > INT_MAX / 2)
        return bad_field(r, "encoding", "columns");
    m->enc.cols = xcalloc(n, sizeof *m->enc.cols);
    m->enc.p = (int)n;          /* zeroed columns: free is safe */
    for (i = 0; i < n; i++)
        m->enc.cols[i].src = -1;
    for (i = 0; i < n; i++) {
        snprintf(pfx, sizeof pfx, "encoding.columns[%zu]", i);
        if (read_column(r, json_array_get(a, i), pfx, &m->enc.cols[i]))
            return RP_EDATA;
    }
    return 0;
}

static int read_encoding(rd *r, json_t *root, model *m)
{
    json_t *o, *refs, *cols;

    return get_obj(r, root, "", "encoding", &o) ||
           get_int(r, o, "encoding", "min_count", 0, INT_MAX, &m->enc.min_count) ||
           get_arr(r, o, "encoding", "reference_levels", &refs) ||
           read_refs(r, refs, m) ||
           get_arr(r, o, "encoding", "columns", &cols) ||
           read_columns(r, cols, m);
}

static int read_hyper(rd *r, json_t *root, model *m)
{
    json_t *o;
    char *cw = NULL;

    if (get_obj(r, root, "", "hyperparameters", &o) ||
        get_real(r, o, "hyperparameters", "C", R_NULL_INF, &m->C))
        return RP_EDATA;
    if (!(m->C > 0))
        return bad_field(r, "hyperparameters", "C");
    if (get_str(r, o, "hyperparameters", "class_weight", 0, &cw))
        return RP_EDATA;
    m->class_weight_balanced = !strcmp(cw, "balanced");
    if (!m->class_weight_balanced && strcmp(cw, "none")) {
        free(cw);
        return bad_field(r, "hyperparameters", "class_weight");
    }
    free(cw);
    if (!json_is_null(json_object_get(o, "weight_column")) &&
        get_fixed(r, o, "hyperparameters", "weight_column", m->weight_column,
                  sizeof m->weight_column))
        return RP_EDATA;
    return get_int(r, o, "hyperparameters", "min_count", 0, INT_MAX, &m->min_count);
}

/*
 * One coefficient: its name must be the expected one (the intercept, then
 * the encoding columns in order), which catches a table that does not
 * belong to this encoding.  Derived fields (z, p, ...) are not read.
 */
static int read_coef(rd *r, json_t *o, const char *pfx, const char *want,
                     double *est, double *se, double *orig)
{
    char *name = NULL;
    int same;

    if (!json_is_object(o))
        return bad_field(r, pfx, NULL);
    if (get_str(r, o, pfx, "name", 0, &name))
        return RP_EDATA;
    same = !strcmp(name, want);
    free(name);
    if (!same)
        return bad_field(r, pfx, "name");
    return get_real(r, o, pfx, "estimate", R_FINITE, est) ||
           get_real(r, o, pfx, "std_error", R_NULL_NAN, se) ||
           get_real(r, o, pfx, "estimate_original", R_FINITE, orig);
}

static int read_coefs(rd *r, json_t *root, model *m)
{
    json_t *a;
    size_t j, p = (size_t)m->enc.p;
    char pfx[64];

    if (get_arr(r, root, "", "coefficients", &a))
        return RP_EDATA;
    if (json_array_size(a) != p + 1) {
        bad_field(r, "", "coefficients");
        rp_err_detail(r->e, "%zu coefficients for %zu encoded columns "
                      "(expected the intercept and one per column)",
                      json_array_size(a), p);
        return RP_EDATA;
    }
    m->p = (int)p;
    m->beta = xcalloc(p, sizeof *m->beta);
    m->beta_orig = xcalloc(p, sizeof *m->beta_orig);
    m->se = xcalloc(p + 1, sizeof *m->se);
    if (read_coef(r, json_array_get(a, 0), "coefficients[0]", "(intercept)",
                  &m->intercept, &m->se[0], &m->intercept_orig))
        return RP_EDATA;
    for (j = 0; j < p; j++) {
        snprintf(pfx, sizeof pfx, "coefficients[%zu]", j + 1);
        if (read_coef(r, json_array_get(a, j + 1), pfx, m->enc.cols[j].name,
                      &m->beta[j], &m->se[j + 1], &m->beta_orig[j]))
            return RP_EDATA;
    }
    return 0;
}

static int read_fit(rd *r, json_t *root, model *m)
{
    json_t *o;

    return get_obj(r, root, "", "fit", &o) ||
           get_int(r, o, "fit", "iterations", 0, INT_MAX, &m->iterations) ||
           get_real(r, o, "fit", "grad_norm", R_NULL_NAN, &m->grad_norm) ||
           get_real(r, o, "fit", "loglik", R_NULL_NAN, &m->loglik) ||
           get_real(r, o, "fit", "loglik_null", R_NULL_NAN, &m->loglik_null) ||
           get_real(r, o, "fit", "cond", R_NULL_NAN, &m->cond);
}

static int read_threshold(rd *r, json_t *root, model *m)
{
    json_t *o;

    return get_obj(r, root, "", "threshold", &o) ||
           get_range(r, o, "threshold", "value", 0.0, 1.0, &m->threshold) ||
           get_fixed(r, o, "threshold", "policy", m->threshold_policy,
                     sizeof m->threshold_policy);
}

static int read_metrics(rd *r, json_t *root, model_metrics *t)
{
    json_t *o;
    size_t i;

    if (get_obj(r, root, "", "test_metrics", &o))
        return RP_EDATA;
    for (i = 0; i < N_METRIC_FIELDS; i++) {
        char *p = (char *)t + metric_fields[i].off;
        int rc = metric_fields[i].is_long
            ? get_long(r, o, "test_metrics", metric_fields[i].name, 0,
                       LONG_MAX, (long *)p)
            : get_real(r, o, "test_metrics", metric_fields[i].name,
                       R_NULL_NAN, (double *)p);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- evaluation, cross-validation, C selection (format version 2) ---- */

/* An array of exactly n numbers (null -> NAN) at o.key. */
static int get_reals(rd *r, json_t *o, const char *pfx, const char *key,
                     double *out, size_t n)
{
    json_t *a = json_object_get(o, key);
    size_t i;

    if (!json_is_array(a) || json_array_size(a) != n)
        return bad_field(r, pfx, key);
    for (i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (json_is_null(v))
            out[i] = NAN;
        else if (json_is_number(v))
            out[i] = json_number_value(v);
        else
            return bad_field(r, pfx, key);
    }
    return 0;
}

/* An array of exactly n non-negative integers at o.key. */
static int get_longs(rd *r, json_t *o, const char *pfx, const char *key,
                     long *out, size_t n)
{
    json_t *a = json_object_get(o, key);
    size_t i;

    if (!json_is_array(a) || json_array_size(a) != n)
        return bad_field(r, pfx, key);
    for (i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > LONG_MAX)
            return bad_field(r, pfx, key);
        out[i] = (long)json_integer_value(v);
    }
    return 0;
}

/* A curve: three arrays of the same length, 1..MODEL_CURVE_MAX. */
static int read_curve(rd *r, json_t *ev, const char *key, const char *xname,
                      const char *yname, model_point *pt, int *n)
{
    double x[MODEL_CURVE_MAX], y[MODEL_CURVE_MAX], t[MODEL_CURVE_MAX];
    char pfx[48];
    json_t *o, *a;
    size_t i, len;

    snprintf(pfx, sizeof pfx, "evaluation.%s", key);
    if (get_obj(r, ev, "evaluation", key, &o) || get_arr(r, o, pfx, xname, &a))
        return RP_EDATA;
    len = json_array_size(a);
    if (len < 1 || len > MODEL_CURVE_MAX)
        return bad_field(r, pfx, xname);
    if (get_reals(r, o, pfx, xname, x, len) || get_reals(r, o, pfx, yname, y, len) ||
        get_reals(r, o, pfx, "threshold", t, len))
        return RP_EDATA;
    for (i = 0; i < len; i++) {
        pt[i].x = x[i];
        pt[i].y = y[i];
        pt[i].thr = t[i];
    }
    *n = (int)len;
    return 0;
}

static int read_eval_tables(rd *r, json_t *ev, model_eval *v)
{
    json_t *to, *cal, *lift, *hist, *ci;
    double thr[MODEL_TRADEOFF_N];

    return get_obj(r, ev, "evaluation", "roc_auc_ci", &ci) ||
           get_real(r, ci, "evaluation.roc_auc_ci", "low", R_NULL_NAN, &v->roc_auc_lo) ||
           get_real(r, ci, "evaluation.roc_auc_ci", "high", R_NULL_NAN, &v->roc_auc_hi) ||
           read_curve(r, ev, "roc_curve", "fpr", "tpr", v->roc, &v->n_roc) ||
           read_curve(r, ev, "pr_curve", "recall", "precision", v->pr, &v->n_pr) ||
           get_obj(r, ev, "evaluation", "threshold_tradeoff", &to) ||
           get_reals(r, to, "evaluation.threshold_tradeoff", "threshold", thr, MODEL_TRADEOFF_N) ||
           get_reals(r, to, "evaluation.threshold_tradeoff", "precision", v->to_precision, MODEL_TRADEOFF_N) ||
           get_reals(r, to, "evaluation.threshold_tradeoff", "recall", v->to_recall, MODEL_TRADEOFF_N) ||
           get_reals(r, to, "evaluation.threshold_tradeoff", "flagged_share", v->to_flagged, MODEL_TRADEOFF_N) ||
           get_obj(r, ev, "evaluation", "calibration", &cal) ||
           get_reals(r, cal, "evaluation.calibration", "mean_predicted", v->cal_pred, MODEL_DECILES) ||
           get_reals(r, cal, "evaluation.calibration", "observed_rate", v->cal_obs, MODEL_DECILES) ||
           get_longs(r, cal, "evaluation.calibration", "count", v->cal_count, MODEL_DECILES) ||
           get_obj(r, ev, "evaluation", "lift", &lift) ||
           get_reals(r, lift, "evaluation.lift", "lift", v->lift, MODEL_DECILES) ||
           get_reals(r, lift, "evaluation.lift", "cumulative_capture", v->capture, MODEL_DECILES) ||
           get_obj(r, ev, "evaluation", "score_histogram", &hist) ||
           get_longs(r, hist, "evaluation.score_histogram", "high_risk", v->hist_pos, MODEL_HIST_BINS) ||
           get_longs(r, hist, "evaluation.score_histogram", "low_risk", v->hist_neg, MODEL_HIST_BINS);
}

static int read_policy(rd *r, json_t *ev, model_eval *v)
{
    const char *p = "evaluation.policy";
    json_t *o;

    return get_obj(r, ev, "evaluation", "policy", &o) ||
           get_fixed(r, o, p, "name", v->policy, sizeof v->policy) ||
           get_range(r, o, p, "threshold", 0.0, 1.0, &v->threshold) ||
           get_long(r, o, p, "tp", 0, LONG_MAX, &v->tp) ||
           get_long(r, o, p, "fp", 0, LONG_MAX, &v->fp) ||
           get_long(r, o, p, "tn", 0, LONG_MAX, &v->tn) ||
           get_long(r, o, p, "fn", 0, LONG_MAX, &v->fn) ||
           get_real(r, o, p, "precision", R_NULL_NAN, &v->precision) ||
           get_real(r, o, p, "recall", R_NULL_NAN, &v->recall) ||
           get_real(r, o, p, "f1", R_NULL_NAN, &v->f1) ||
           get_real(r, o, p, "flagged_share", R_NULL_NAN, &v->flagged);
}

static int read_eval(rd *r, json_t *root, model_eval *v)
{
    const char *p = "evaluation";
    json_t *o;

    return get_obj(r, root, "", p, &o) ||
           get_long(r, o, p, "n", 0, LONG_MAX, &v->n) ||
           get_long(r, o, p, "events", 0, LONG_MAX, &v->events) ||
           get_real(r, o, p, "roc_auc", R_NULL_NAN, &v->roc_auc) ||
           get_real(r, o, p, "roc_auc_se", R_NULL_NAN, &v->roc_auc_se) ||
           get_real(r, o, p, "gini", R_NULL_NAN, &v->gini) ||
           get_real(r, o, p, "pr_auc", R_NULL_NAN, &v->pr_auc) ||
           get_real(r, o, p, "ks", R_NULL_NAN, &v->ks) ||
           get_real(r, o, p, "ks_score", R_NULL_NAN, &v->ks_score) ||
           get_real(r, o, p, "brier", R_NULL_NAN, &v->brier) ||
           read_eval_tables(r, o, v) ||
           read_policy(r, o, v);
}

static int read_cv_stat(rd *r, json_t *met, const char *key, int k,
                        model_cv_stat *s)
{
    char pfx[64];
    json_t *o;

    snprintf(pfx, sizeof pfx, "cross_validation.metrics.%s", key);
    return get_obj(r, met, "cross_validation.metrics", key, &o) ||
           get_real(r, o, pfx, "mean", R_NULL_NAN, &s->mean) ||
           get_real(r, o, pfx, "sd", R_NULL_NAN, &s->sd) ||
           get_reals(r, o, pfx, "folds", s->fold, (size_t)k);
}

/* "cross_validation": null (not run) or the object build_cv writes. */
static int read_cv(rd *r, json_t *root, model_cv *cv)
{
    const char *p = "cross_validation";
    json_t *o = json_object_get(root, p), *met;

    memset(cv, 0, sizeof *cv);
    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return bad_field(r, "", p);
    if (get_int(r, o, p, "folds", 2, MODEL_CV_MAX_FOLDS, &cv->k) ||
        get_long(r, o, p, "seed", LONG_MIN, LONG_MAX, &cv->seed) ||
        get_real(r, o, p, "C", R_NULL_INF, &cv->C) ||
        get_longs(r, o, p, "fold_n", cv->fold_n, (size_t)cv->k) ||
        get_longs(r, o, p, "fold_events", cv->fold_events, (size_t)cv->k) ||
        get_obj(r, o, p, "metrics", &met))
        return RP_EDATA;
    if (!(cv->C > 0))
        return bad_field(r, p, "C");
#define READ_STAT(f) read_cv_stat(r, met, #f, cv->k, &cv->f) ||
    return CV_STATS(READ_STAT) 0;
#undef READ_STAT
}

static int read_grid_row(rd *r, json_t *a, int i, model_grid_row *g)
{
    json_t *o = json_array_get(a, (size_t)i);
    char pfx[48];

    snprintf(pfx, sizeof pfx, "C_selection.grid[%d]", i);
    if (!json_is_object(o))
        return bad_field(r, pfx, NULL);
    if (get_real(r, o, pfx, "C", R_NULL_INF, &g->C) || !(g->C > 0))
        return bad_field(r, pfx, "C");
    return get_real(r, o, pfx, "log_loss_mean", R_NULL_NAN, &g->log_loss_mean) ||
           get_real(r, o, pfx, "log_loss_sd", R_NULL_NAN, &g->log_loss_sd) ||
           get_real(r, o, pfx, "roc_auc_mean", R_NULL_NAN, &g->roc_auc_mean) ||
           get_real(r, o, pfx, "roc_auc_sd", R_NULL_NAN, &g->roc_auc_sd);
}

/* "C_selection": null (C was given) or the object build_cgrid writes. */
static int read_cgrid(rd *r, json_t *root, model_cgrid *g)
{
    const char *p = "C_selection";
    json_t *o = json_object_get(root, p), *a;
    int i;

    memset(g, 0, sizeof *g);
    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return bad_field(r, "", p);
    if (get_int(r, o, p, "folds", 2, MODEL_CV_MAX_FOLDS, &g->k) ||
        get_arr(r, o, p, "grid", &a))
        return RP_EDATA;
    if (json_array_size(a) < 1 || json_array_size(a) > MODEL_GRID_MAX)
        return bad_field(r, p, "grid");
    g->n = (int)json_array_size(a);
    if (get_int(r, o, p, "chosen", 0, g->n - 1, &g->chosen))
        return RP_EDATA;
    for (i = 0; i < g->n; i++)
        if (read_grid_row(r, a, i, &g->row[i]))
            return RP_EDATA;
    return 0;
}

/* "format" and "format_version": is this a file we can read at all? */
static int check_format(rd *r, json_t *root)
{
    const char *fmt = json_string_value(json_object_get(root, "format"));
    json_t *ver = json_object_get(root, "format_version");
    const char *wrote = json_string_value(json_object_get(root, "riskpipe_version"));

    if (!fmt || strcmp(fmt, MODEL_FORMAT)) {
        rp_err_set(r->e, RP_EDATA, "%s is not a riskpipe model file", r->origin);
        if (fmt)
            rp_err_detail(r->e, "its \"format\" is \"%s\", not \"" MODEL_FORMAT
                          "\"", fmt);
        else
            rp_err_detail(r->e, "it has no \"format\": \"" MODEL_FORMAT "\" member");
        return RP_EDATA;
    }
    if (!json_is_integer(ver))
        return bad_field(r, "", "format_version");
    if (json_integer_value(ver) != MODEL_FORMAT_VERSION) {
        rp_err_set(r->e, RP_EDATA, "%s: format version %" JSON_INTEGER_FORMAT
                   " is not supported by riskpipe %s (this riskpipe reads "
                   "version %d)", r->origin, json_integer_value(ver),
                   RP_VERSION, MODEL_FORMAT_VERSION);
        rp_err_hint(r->e, "score it with the riskpipe that wrote it%s%s%s, "
                    "or retrain the model with this one",
                    wrote ? " (" : "", wrote ? wrote : "", wrote ? ")" : "");
        return RP_EDATA;
    }
    return 0;
}

/* Removes "checksum" from root and checks it against the rest. */
static int check_checksum(rd *r, json_t *root)
{
    const char *stored = json_string_value(json_object_get(root, "checksum"));
    char *want, *got;
    int ok;

    if (!stored || strncmp(stored, CHECKSUM_PREFIX, strlen(CHECKSUM_PREFIX)))
        return bad_field(r, "", "checksum");
    want = xstrdup(stored);
    json_object_del(root, "checksum");
    got = checksum_of(root);
    ok = got && !strcmp(want, got);
    if (!ok) {
        rp_err_set(r->e, RP_EDATA, "%s has been modified or corrupted: "
                   "checksum mismatch", r->origin);
        rp_err_detail(r->e, "the file says %s, its contents give %s",
                      want, got ? got : "(out of memory)");
        rp_err_hint(r->e, "restore the file from a backup or retrain the "
                    "model; model files must not be edited by hand");
    }
    free(want);
    free(got);
    return ok ? 0 : RP_EDATA;
}

static int read_featstat(rd *r, json_t *o, const char *pfx, model_featstat *f)
{
    json_t *cat = json_object_get(o, "categorical");

    if (!json_is_object(o))
        return bad_field(r, pfx, NULL);
    if (!json_is_boolean(cat))
        return bad_field(r, pfx, "categorical");
    f->categorical = json_is_true(cat);
    return get_str(r, o, pfx, "name", 0, &f->name) ||
           get_str(r, o, pfx, "label", 1, &f->label) ||
           get_long(r, o, pfx, "missing", 0, LONG_MAX, &f->missing) ||
           get_long(r, o, pfx, "levels", 0, LONG_MAX, &f->levels);
}

/* "diagnostics": optional (a model written before issue 4 has none), but
 * checked like any other section when present. */
static int read_diag(rd *r, json_t *root, model *m)
{
    model_diag *d = &m->diag;
    json_t *o = json_object_get(root, "diagnostics"), *fs;
    size_t i, n, p = (size_t)m->p;
    char pfx[64];

    if (!o)
        return 0;
    if (!json_is_object(o))
        return bad_field(r, "", "diagnostics");
    d->vif = xcalloc(p + 1, sizeof *d->vif);
    d->contrib_mean = xcalloc(p + 1, sizeof *d->contrib_mean);
    if (get_fixed(r, o, "diagnostics", "fingerprint", d->fingerprint,
                  sizeof d->fingerprint) ||
        get_long(r, o, "diagnostics", "n_extreme", 0, LONG_MAX, &d->n_extreme) ||
        get_long(r, o, "diagnostics", "nonfinite", 0, LONG_MAX, &d->nonfinite) ||
        get_real(r, o, "diagnostics", "corr_cond", R_NULL_NAN, &d->corr_cond) ||
        get_reals(r, o, "diagnostics", "vif", d->vif, p) ||
        get_reals(r, o, "diagnostics", "contrib_mean", d->contrib_mean, p) ||
        get_arr(r, o, "diagnostics", "features", &fs))
        return RP_EDATA;
    n = json_array_size(fs);
    if (n > INT_MAX / 2)
        return bad_field(r, "diagnostics", "features");
    d->feat = xcalloc(n + 1, sizeof *d->feat);
    d->n_feat = (int)n;         /* zeroed entries: free is safe */
    for (i = 0; i < n; i++) {
        snprintf(pfx, sizeof pfx, "diagnostics.features[%zu]", i);
        if (read_featstat(r, json_array_get(fs, i), pfx, &d->feat[i]))
            return RP_EDATA;
    }
    return 0;
}

/* "drift_reference" (drift.c reads it): optional, as a model written
 * before drift monitoring has none, but strict when present. */
static int read_drift(rd *r, json_t *root, model *m)
{
    json_t *o = json_object_get(root, "drift_reference");
    char path[128];

    if (!o)
        return 0;
    if (drift_ref_from_json(o, &m->drift, path, sizeof path))
        return rp_err_set(r->e, RP_EDATA, "%s: missing or invalid field \"%s\"",
                          r->origin, path);
    return 0;
}

static int read_model(rd *r, json_t *root, model *m)
{
    return check_format(r, root) ||
           check_checksum(r, root) ||
           read_header(r, root, m) ||
           read_data(r, root, m) ||
           read_features(r, root, m) ||
           read_encoding(r, root, m) ||
           read_hyper(r, root, m) ||
           read_coefs(r, root, m) ||
           read_fit(r, root, m) ||
           read_threshold(r, root, m) ||
           read_diag(r, root, m) ||
           read_metrics(r, root, &m->test) ||
           read_eval(r, root, &m->eval) ||
           read_cv(r, root, &m->cv) ||
           read_cgrid(r, root, &m->cgrid) ||
           read_drift(r, root, m);
}

static int only_space(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (s[i] == '\0' || !strchr(" \t\r\n", s[i]))
            return 0;
    return 1;
}

/* The text as a JSON object, or RP_EDATA saying where the syntax broke. */
static int parse_text(rd *r, const char *text, size_t len, json_t **out)
{
    json_error_t jerr;

    *out = NULL;
    if (only_space(text, len)) {
        rp_err_set(r->e, RP_EDATA, "%s is empty", r->origin);
        rp_err_hint(r->e, "restore the file from a backup or retrain the model");
        return RP_EDATA;
    }
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*out) {
        rp_err_set(r->e, RP_EDATA, "%s: not valid JSON at line %d column %d: %s",
                   r->origin, jerr.line, jerr.column, jerr.text);
        rp_err_hint(r->e, "the file may be truncated (an interrupted copy?) "
                    "or not a riskpipe model; restore it or retrain");
        return RP_EDATA;
    }
    if (!json_is_object(*out)) {
        rp_err_set(r->e, RP_EDATA, "%s is not a riskpipe model file", r->origin);
        rp_err_detail(r->e, "the top level is not a JSON object");
        return RP_EDATA;
    }
    return 0;
}

int model_from_json(const char *text, size_t len, const char *origin,
                    model *m, rp_err *e)
{
    rd r = { origin ? origin : "model", e };
    json_t *root = NULL;
    model tmp;
    int rc;

    model_init(&tmp);
    rc = parse_text(&r, text, len, &root);
    if (!rc)
        rc = read_model(&r, root, &tmp) ? RP_EDATA : RP_OK;
    json_decref(root);
    if (rc) {
        model_free(&tmp);
        model_init(m);
        return rc;
    }
    *m = tmp;
    return RP_OK;
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

/* write(2) until done; EINTR is retried.  -1 with errno on failure. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = EIO;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/*
 * fsync of the directory holding path, so that the rename itself survives
 * a crash.  Best effort: some file systems refuse to fsync a directory,
 * and the data is already safe at this point.
 */
static void fsync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
                      : xstrdup(".");
    int fd = open(dir, O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/*
 * Creates the temporary file exclusively.  A file of the same name can only
 * be left over by a crashed process that had our pid (no live process
 * shares it), so it is removed and the creation retried once.
 */
static int open_temp(const char *tmp)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    return fd;
}

/* Writes, flushes and closes the temp file; -1 with errno, what = step. */
static int fill_temp(int fd, const char *text, size_t n, const char **what)
{
    int rc;

    *what = "write";
    if (write_all(fd, text, n))
        goto fail;
    *what = "flush";
    if (fsync(fd))
        goto fail;
    *what = "close";
    return close(fd);
fail:
    rc = errno;
    close(fd);
    errno = rc;
    return -1;
}

static int save_text(const char *text, size_t n, const char *path, rp_err *e)
{
    char *tmp;
    const char *step = "create";
    int fd, ok, err;

    tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    fd = open_temp(tmp);
    ok = fd >= 0;
    if (ok)
        ok = fill_temp(fd, text, n, &step) == 0;
    if (ok && rp_interrupt) {   /* a stop signal while writing: keep the old file */
        unlink(tmp);
        free(tmp);
        return rp_err_interrupted(e);
    }
    if (ok) {
        step = "rename";
        ok = rename(tmp, path) == 0;
    }
    if (!ok) {
        err = errno;
        if (fd >= 0)
            unlink(tmp);
        rp_err_set(e, RP_EINTERNAL, "could not %s model file \"%s\": %s",
                   fd < 0 ? "create" : "write", path, strerror(err));
        rp_err_detail(e, "%s of the temporary file \"%s\" failed; \"%s\" "
                      "was not changed", step, tmp, path);
        free(tmp);
        return RP_EINTERNAL;
    }
    fsync_dir(path);
    free(tmp);
    return RP_OK;
}

int model_save(const model *m, const char *path, rp_err *e)
{
    char *text;
    int rc;

    /* a stop signal (util/err.h) keeps the old file; checked again in
     * save_text before the rename */
    if (rp_err_interrupted(e))
        return RP_EINTERNAL;
    text = model_to_json(m);
    if (!text) {
        rp_err_set(e, RP_EINTERNAL, "could not write model file \"%s\": the "
                   "model cannot be written as JSON", path);
        rp_err_detail(e, "a text value is not valid UTF-8, or the model's "
                      "arrays do not match its encoding");
        return RP_EINTERNAL;
    }
    rc = save_text(text, strlen(text), path, e);
    free(text);
    return rc;
}

static int too_large(const char *path, rp_err *e)
{
    rp_err_set(e, RP_EDATA, "model file \"%s\" is too large", path);
    rp_err_detail(e, "a model file is at most 256 MB");
    return RP_EDATA;
}

/*
 * Reads all of fd (a file, a pipe or a device: the size is not trusted)
 * into a fresh buffer.  The buffer never grows past the cap plus one byte,
 * which is how an oversized input is told from one that fits exactly.
 */
static int read_all(int fd, const char *path, char **out, size_t *len, rp_err *e)
{
    size_t n = 0, cap = (size_t)1 << 16;
    char *buf = xmalloc(cap);

    for (;;) {
        ssize_t k;
        if (n == cap) {
            if (cap > MODEL_MAX_BYTES) {
                free(buf);
                return too_large(path, e);
            }
            cap = cap > MODEL_MAX_BYTES / 2 ? MODEL_MAX_BYTES + 1 : cap * 2;
            buf = xrealloc(buf, cap);
        }
        k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int err = errno;
            free(buf);
            return rp_err_set(e, RP_EINTERNAL, "could not read model file "
                              "\"%s\": %s", path, strerror(err));
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    *out = buf;
    *len = n;
    return RP_OK;
}

/* Opens path for reading, refusing directories and oversized files. */
static int open_model(const char *path, int *fd, rp_err *e)
{
    struct stat st;

    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        int err = errno;
        rp_err_set(e, RP_EDATA, "could not open model file \"%s\": %s",
                   path, strerror(err));
        if (err == ENOENT)
            rp_err_hint(e, "train a model first with \"riskpipe train\", "
                        "or check the path");
        return RP_EDATA;
    }
    if (fstat(*fd, &st) != 0)
        return RP_OK;           /* read() will say what is wrong */
    if (S_ISDIR(st.st_mode)) {
        close(*fd);
        return rp_err_set(e, RP_EDATA, "model file \"%s\" is a directory", path);
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > MODEL_MAX_BYTES) {
        close(*fd);
        return too_large(path, e);
    }
    return RP_OK;
}

int model_load(const char *path, model *m, rp_err *e)
{
    char *text = NULL, *origin;
    size_t len = 0;
    int fd, rc;

    model_init(m);
    if ((rc = open_model(path, &fd, e)))
        return rc;
    rc = read_all(fd, path, &text, &len, e);
    close(fd);
    if (rc)
        return rc;
    origin = xasprintf("model file \"%s\"", path);
    rc = model_from_json(text, len, origin, m, e);
    free(origin);
    free(text);
    return rc;
}
