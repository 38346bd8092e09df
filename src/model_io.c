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
           read_metrics(r, root, &m->test);
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
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    const char *step = "create";
    int fd = open_temp(tmp), ok = fd >= 0, err;

    if (ok)
        ok = fill_temp(fd, text, n, &step) == 0;
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
    char *text = model_to_json(m);
    int rc;

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
