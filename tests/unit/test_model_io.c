/*
 * test_model_io.c - the model file: exact round trip, strict refusal of
 * every kind of damaged file, and the atomic save.
 *
 * The model is built by hand with awkward values on purpose: doubles that
 * need all 17 digits, a subnormal, a negative zero, NaN standard errors
 * and metrics (written as null), non-ASCII category names, a feature SQL
 * full of quotes and newlines, and one encoding column of each kind.  The
 * round trip is checked bit for bit (memcmp on every double), and a
 * saved-then-loaded model must serialise to exactly the same text.
 *
 * The damaged files are made from a real one: cut at every byte offset,
 * one digit changed, the version bumped (with the checksum recomputed so
 * that only the version check can fail), fields removed or retyped.  Each
 * must be refused with RP_EDATA, a message naming the problem, and the
 * output model left zeroed; run under valgrind or ASan this also shows
 * that no refusal leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "model.h"
#include "util/mem.h"

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

static char tmpdir[64];

static char *tpath(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

/* Removes every file in tmpdir (tests leave their own files behind). */
static void clean_dir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d))) {
        char *p;
        if (de->d_name[0] == '.')
            continue;
        p = tpath(de->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
}

/* Number of entries in tmpdir whose name contains ".tmp.". */
static int temp_files_left(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)))
        n += strstr(de->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static int group_setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/rp-model-io-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    clean_dir();
    return rmdir(tmpdir);
}

static int test_teardown(void **state)
{
    (void)state;
    clean_dir();
    return 0;
}

static void write_file(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    buf = xmalloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static void set_col(enc_col *c, const char *name, const char *label, int kind,
                    const char *source, const char *level, const char *group,
                    double impute, double mean, double sd)
{
    c->name = xstrdup(name);
    c->label = label ? xstrdup(label) : NULL;
    c->kind = kind;
    c->source = source ? xstrdup(source) : NULL;
    c->level = level ? xstrdup(level) : NULL;
    c->group = group ? xstrdup(group) : NULL;
    c->impute = impute;
    c->mean = mean;
    c->sd = sd;
    c->src = -1;
}

/* The evaluation, CV and C-grid sections: short curves, NaN cells (null
 * in the file), a weight column name that needs JSON escaping. */
static void make_eval(model *m)
{
    model_eval *v = &m->eval;
    int k;

    v->n = 2400;
    v->events = 247;
    v->roc_auc = 0.83;
    v->roc_auc_se = 0.012345678901234568;
    v->roc_auc_lo = 0.80580348000000001;
    v->roc_auc_hi = 0.85419651999999995;
    v->gini = 0.65999999999999992;
    v->pr_auc = 0.41;
    v->ks = 0.52;
    v->ks_score = 0.31415926535897931;
    v->brier = 0.081;
    v->n_roc = 3;
    v->roc[0] = (model_point){ 0.0, 0.0, NAN };
    v->roc[1] = (model_point){ 0.1, 2.0 / 3.0, 0.5 };
    v->roc[2] = (model_point){ 1.0, 1.0, 5e-324 };
    v->n_pr = 2;
    v->pr[0] = (model_point){ 0.25, 1.0, 0.9 };
    v->pr[1] = (model_point){ 1.0, 0.1029, 1e-3 };
    for (k = 0; k < MODEL_TRADEOFF_N; k++) {
        v->to_precision[k] = k == MODEL_TRADEOFF_N - 1 ? NAN : 0.1 + k / 250.0;
        v->to_recall[k] = 1.0 - k / 100.0;
        v->to_flagged[k] = 1.0 - k / 101.0;
    }
    for (k = 0; k < MODEL_DECILES; k++) {
        v->cal_pred[k] = (k + 0.5) / 10.0;
        v->cal_obs[k] = k == 3 ? NAN : k / 9.0;
        v->cal_count[k] = 240;
        v->lift[k] = 3.0 / (k + 1);
        v->capture[k] = (k + 1) / 10.0;
    }
    for (k = 0; k < MODEL_HIST_BINS; k++) {
        v->hist_pos[k] = k;
        v->hist_neg[k] = 100 - k;
    }
    strcpy(v->policy, "f1");
    v->threshold = m->threshold;
    v->tp = 150;
    v->fp = 200;
    v->tn = 1953;
    v->fn = 97;
    v->precision = 150.0 / 350.0;
    v->recall = 150.0 / 247.0;
    v->f1 = 0.5025125628140703;
    v->flagged = 350.0 / 2400.0;

    m->cv.k = 3;
    m->cv.seed = 42;
    m->cv.C = 1.0;
    for (k = 0; k < 3; k++) {
        m->cv.fold_n[k] = 4000;
        m->cv.fold_events[k] = 411 + (k == 0);
        m->cv.log_loss.fold[k] = 0.3 + k / 7.0;
        m->cv.roc_auc.fold[k] = 0.8 + k / 300.0;
    }
    m->cv.log_loss.mean = 0.44285714285714284;
    m->cv.log_loss.sd = 1.0 / 7.0;
    m->cv.roc_auc.mean = 0.80333333333333334;
    m->cv.roc_auc.sd = NAN;
    m->cv.ks.mean = 0.5;

    m->cgrid.n = 2;
    m->cgrid.k = 3;
    m->cgrid.chosen = 1;
    m->cgrid.row[0] = (model_grid_row){ 1e-3, 0.6, 0.01, 0.7, 0.02 };
    m->cgrid.row[1] = (model_grid_row){ 1.0, 0.44285714285714284, 1.0 / 7.0,
                                        0.80333333333333334, NAN };
    strcpy(m->weight_column, "w\"eight");
}

/* A small model with one encoding column of each kind. */
/* A drift reference (drift.h) with a score, a numeric column with a
 * missing share and ties, and a text column with a non-ASCII level. */
static void make_drift(model *m)
{
    double score[] = {0.1, 0.7, 0.2, 0.2, 0.9, 0.05, 0.3, 0.31, 0.4, 0.6};
    double age[] = {30, NAN, 30, 30, 41.5, 52, 60, 1e-300, 75, 30};
    char *lv[] = {"Oslo", "Troms\xc3\xb8"};
    int32_t city[] = {0, 1, 1, -1, 0, 0, 0, 1, 0, 0};

    m->drift.present = 1;
    m->drift.n = 10;
    drift_dist_numeric("score", score, 10, &m->drift.score);
    m->drift.nfeat = 2;
    m->drift.feat = xcalloc(2, sizeof *m->drift.feat);
    drift_dist_numeric("age", age, 10, &m->drift.feat[0]);
    drift_dist_text("city", city, 10, lv, 2, &m->drift.feat[1]);
}

static void make_model(model *m)
{
    static const char *cats[] = { "groceries", "travel", "caf\xc3\xa9 \xe2\x82\xac" };
    const int p = 4;
    int i;

    model_init(m);
    strcpy(m->model_id, "rp-20240131-120000-deadbeef");
    strcpy(m->created_at, "2024-01-31T12:00:00Z");
    strcpy(m->riskpipe_version, "0.1.0");

    m->feat.set = FEAT_DEFAULT;
    strcpy(m->feat.as_of, "2024-01-31");
    m->feat.label_threshold = 0.7;
    m->feat.n_cats = 3;
    m->feat.cats = xcalloc(3, sizeof *m->feat.cats);
    for (i = 0; i < 3; i++)
        m->feat.cats[i] = xstrdup(cats[i]);
    m->feature_sql = xstrdup("SELECT c.customer_id, \"weird\"\"name\"\n"
                             "  FROM customers c -- it's \\ tab\there\n");

    m->n_customers = 12345;
    m->n_labelled = 12000;
    m->n_events = 1234;
    m->n_train = 9600;
    m->n_test = 2400;
    m->test_fraction = 0.2;
    m->split_seed = -42;

    m->enc.p = p;
    m->enc.min_count = 5;
    m->enc.cols = xcalloc((size_t)p, sizeof *m->enc.cols);
    set_col(&m->enc.cols[0], "age", "age in years", ENC_NUMERIC, "age", NULL,
            NULL, 41.5, 40.123456789012345, 12.345678901234567);
    set_col(&m->enc.cols[1], "city=Oslo", "city is Oslo", ENC_LEVEL, "city",
            "Oslo", NULL, 0.0, 0.1, 0.30000000000000004);
    set_col(&m->enc.cols[2], "city=other", NULL, ENC_OTHER, "city", NULL,
            NULL, 0.0, 1.0 / 3.0, 1.0);
    set_col(&m->enc.cols[3], "missing:transactions", "no transactions",
            ENC_MISSING, NULL, NULL, "transactions", NAN, 5e-324, 1e300);
    m->enc.n_ref = 2;
    m->enc.ref_sources = xcalloc(2, sizeof(char *));
    m->enc.ref_levels = xcalloc(2, sizeof(char *));
    m->enc.ref_sources[0] = xstrdup("city");
    m->enc.ref_levels[0] = xstrdup("Bergen");
    m->enc.ref_sources[1] = xstrdup("account_type");
    m->enc.ref_levels[1] = xstrdup("checking");

    m->C = 1.0;
    m->class_weight_balanced = 1;
    m->min_count = 5;

    m->p = p;
    m->intercept = -2.1972245773362196;
    m->intercept_orig = -3.0000000000000004;
    m->beta = xcalloc((size_t)p, sizeof *m->beta);
    m->se = xcalloc((size_t)p + 1, sizeof *m->se);
    m->beta_orig = xcalloc((size_t)p, sizeof *m->beta_orig);
    m->beta[0] = 0.1;
    m->beta[1] = -1.0 / 3.0;
    m->beta[2] = -0.0;
    m->beta[3] = 1e-300;
    m->se[0] = 0.05;
    m->se[1] = 0.012345678901234568;
    m->se[2] = NAN;
    m->se[3] = 2.5;
    m->se[4] = 1e-10;
    for (i = 0; i < p; i++)
        m->beta_orig[i] = m->beta[i] / m->enc.cols[i].sd;

    m->iterations = 7;
    m->grad_norm = 3.1e-11;
    m->loglik = -4012.5678901234567;
    m->loglik_null = -4500.25;
    m->cond = 123.456;

    m->threshold = 0.31415926535897931;
    strcpy(m->threshold_policy, "f1");

    m->test.n = 2400;
    m->test.events = 247;
    m->test.roc_auc = 0.83;
    m->test.pr_auc = 0.41;
    m->test.log_loss = 0.28;
    m->test.brier = 0.081;
    m->test.ks = 0.52;
    m->test.ks_score = NAN;
    m->test.threshold = m->threshold;
    m->test.tp = 150;
    m->test.fp = 200;
    m->test.tn = 1953;
    m->test.fn = 97;
    m->test.accuracy = 0.87625;
    m->test.precision = 150.0 / 350.0;
    m->test.recall = 150.0 / 247.0;
    m->test.f1 = 0.5025125628140703;
    make_eval(m);
    make_drift(m);
}

/* ------------------------------------------------------------------ */
/* Comparison, bit for bit                                             */
/* ------------------------------------------------------------------ */

#define SAME_D(a, b) assert_memory_equal(&(a), &(b), sizeof(double))

static void same_str(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void same_col(const enc_col *a, const enc_col *b)
{
    same_str(a->name, b->name);
    same_str(a->label, b->label);
    assert_int_equal(a->kind, b->kind);
    same_str(a->source, b->source);
    same_str(a->level, b->level);
    same_str(a->group, b->group);
    SAME_D(a->impute, b->impute);
    SAME_D(a->mean, b->mean);
    SAME_D(a->sd, b->sd);
    assert_int_equal(b->src, -1);
}

static void same_model(const model *a, const model *b)
{
    int i;

    assert_string_equal(a->model_id, b->model_id);
    assert_string_equal(a->created_at, b->created_at);
    assert_string_equal(a->riskpipe_version, b->riskpipe_version);
    assert_int_equal(a->feat.set, b->feat.set);
    assert_string_equal(a->feat.as_of, b->feat.as_of);
    SAME_D(a->feat.label_threshold, b->feat.label_threshold);
    assert_int_equal(a->feat.n_cats, b->feat.n_cats);
    for (i = 0; i < a->feat.n_cats; i++)
        same_str(a->feat.cats[i], b->feat.cats[i]);
    same_str(a->feature_sql, b->feature_sql);
    assert_int_equal(a->n_customers, b->n_customers);
    assert_int_equal(a->n_labelled, b->n_labelled);
    assert_int_equal(a->n_events, b->n_events);
    assert_int_equal(a->n_train, b->n_train);
    assert_int_equal(a->n_test, b->n_test);
    SAME_D(a->test_fraction, b->test_fraction);
    assert_int_equal(a->split_seed, b->split_seed);

    assert_int_equal(a->enc.p, b->enc.p);
    assert_int_equal(a->enc.min_count, b->enc.min_count);
    for (i = 0; i < a->enc.p; i++)
        same_col(&a->enc.cols[i], &b->enc.cols[i]);
    assert_int_equal(a->enc.n_ref, b->enc.n_ref);
    for (i = 0; i < a->enc.n_ref; i++) {
        same_str(a->enc.ref_sources[i], b->enc.ref_sources[i]);
        same_str(a->enc.ref_levels[i], b->enc.ref_levels[i]);
    }

    SAME_D(a->C, b->C);
    assert_int_equal(a->class_weight_balanced, b->class_weight_balanced);
    assert_int_equal(a->min_count, b->min_count);

    assert_int_equal(a->p, b->p);
    SAME_D(a->intercept, b->intercept);
    SAME_D(a->intercept_orig, b->intercept_orig);
    assert_memory_equal(a->beta, b->beta, (size_t)a->p * sizeof(double));
    assert_memory_equal(a->se, b->se, ((size_t)a->p + 1) * sizeof(double));
    assert_memory_equal(a->beta_orig, b->beta_orig, (size_t)a->p * sizeof(double));
    assert_int_equal(a->iterations, b->iterations);
    SAME_D(a->grad_norm, b->grad_norm);
    SAME_D(a->loglik, b->loglik);
    SAME_D(a->loglik_null, b->loglik_null);
    SAME_D(a->cond, b->cond);

    SAME_D(a->threshold, b->threshold);
    assert_string_equal(a->threshold_policy, b->threshold_policy);
    /* model_metrics has no padding (longs and doubles, 8 bytes each), but
     * compare field by field anyway so that a failure says which. */
    assert_int_equal(a->test.n, b->test.n);
    assert_int_equal(a->test.events, b->test.events);
    SAME_D(a->test.roc_auc, b->test.roc_auc);
    SAME_D(a->test.pr_auc, b->test.pr_auc);
    SAME_D(a->test.log_loss, b->test.log_loss);
    SAME_D(a->test.brier, b->test.brier);
    SAME_D(a->test.ks, b->test.ks);
    SAME_D(a->test.ks_score, b->test.ks_score);
    SAME_D(a->test.threshold, b->test.threshold);
    assert_int_equal(a->test.tp, b->test.tp);
    assert_int_equal(a->test.fp, b->test.fp);
    assert_int_equal(a->test.tn, b->test.tn);
    assert_int_equal(a->test.fn, b->test.fn);
    SAME_D(a->test.accuracy, b->test.accuracy);
    SAME_D(a->test.precision, b->test.precision);
    SAME_D(a->test.recall, b->test.recall);
    SAME_D(a->test.f1, b->test.f1);
    /* eval, cv and cgrid own no pointers and every double in them came
     * from a constant (NAN has one bit pattern here), so the sections
     * compare as bytes; both sides start from model_init's zeroes */
    assert_memory_equal(&a->eval, &b->eval, sizeof a->eval);
    assert_memory_equal(&a->cv, &b->cv, sizeof a->cv);
    assert_memory_equal(&a->cgrid, &b->cgrid, sizeof a->cgrid);
    assert_string_equal(a->weight_column, b->weight_column);
    /* the drift reference, compared through its canonical JSON (every
     * double with 17 digits, so equal text means equal bits) */
    assert_int_equal(a->drift.present, b->drift.present);
    if (a->drift.present) {
        json_t *ja = drift_ref_to_json(&a->drift), *jb = drift_ref_to_json(&b->drift);
        char *ta = json_dumps(ja, JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
        char *tb = json_dumps(jb, JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
        assert_string_equal(ta, tb);
        free(ta);
        free(tb);
        json_decref(ja);
        json_decref(jb);
    }
}

static void assert_zeroed(const model *m)
{
    model z;

    model_init(&z);
    assert_memory_equal(m, &z, sizeof z);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) {
        print_error("\"%s\" does not contain \"%s\"\n", hay, needle);
        fail();
    }
}

/* The JSON text of the hand-made model.  Caller frees. */
static char *model_text(void)
{
    model m;
    char *text;

    make_model(&m);
    text = model_to_json(&m);
    model_free(&m);
    assert_non_null(text);
    return text;
}

/* Parses text, refuses it, and returns the error (the model must be
 * left zeroed). */
static rp_err refuse(const char *text, size_t len)
{
    model m;
    rp_err e;

    memset(&m, 0x5a, sizeof m);     /* garbage: must not be freed */
    rp_err_clear(&e);
    assert_int_equal(model_from_json(text, len, "model file \"t.json\"", &m, &e),
                     RP_EDATA);
    assert_int_equal(e.code, RP_EDATA);
    assert_zeroed(&m);
    return e;
}

/*
 * Applies edit to the document, recomputes the checksum (so the edit is
 * not caught as corruption) and returns the new text.  Caller frees.
 */
static char *rewrite(const char *text, void (*edit)(json_t *root))
{
    json_t *root = json_loads(text, 0, NULL);
    char *body, *sum, *out;

    assert_non_null(root);
    edit(root);
    body = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    sum = model_json_checksum(body, strlen(body));
    assert_non_null(sum);
    json_object_set_new(root, "checksum", json_string(sum));
    out = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    free(body);
    free(sum);
    json_decref(root);
    return out;
}

/* ------------------------------------------------------------------ */
/* Round trip                                                          */
/* ------------------------------------------------------------------ */

static void roundtrip(const model *m)
{
    char *path = tpath("model.json"), *text, *again;
    model got;
    rp_err e;

    rp_err_clear(&e);
    assert_int_equal(model_save(m, path, &e), RP_OK);
    assert_int_equal(model_load(path, &got, &e), RP_OK);
    same_model(m, &got);
    /* save -> load -> to_json gives the file's text, byte for byte */
    text = read_file(path, NULL);
    again = model_to_json(&got);
    assert_non_null(again);
    assert_string_equal(text, again);
    assert_int_equal(temp_files_left(), 0);
    model_free(&got);
    free(text);
    free(again);
    free(path);
}

static void test_roundtrip(void **state)
{
    model m;

    (void)state;
    make_model(&m);
    roundtrip(&m);
    model_free(&m);
}

/* C = INFINITY (no penalty) is written as null and read back as INFINITY;
 * the seed feature set, no categories, no reference levels. */
static void test_roundtrip_unpenalised(void **state)
{
    model m;
    int i;

    (void)state;
    make_model(&m);
    m.C = INFINITY;
    m.class_weight_balanced = 0;
    m.feat.set = FEAT_SEED;
    for (i = 0; i < m.feat.n_cats; i++)
        free(m.feat.cats[i]);
    m.feat.n_cats = 0;
    free(m.feature_sql);
    m.feature_sql = NULL;
    strcpy(m.threshold_policy, "fixed");
    strcpy(m.eval.policy, "fixed");
    /* no --cv, C given, no weight column: null sections and null name */
    memset(&m.cv, 0, sizeof m.cv);
    memset(&m.cgrid, 0, sizeof m.cgrid);
    m.weight_column[0] = '\0';
    roundtrip(&m);
    model_free(&m);
}

/* A file larger than the first read buffer (64 KB): many categories. */
static void test_roundtrip_large(void **state)
{
    model m;
    int i;

    (void)state;
    make_model(&m);
    for (i = 0; i < m.feat.n_cats; i++)
        free(m.feat.cats[i]);
    free(m.feat.cats);
    m.feat.n_cats = 5000;
    m.feat.cats = xcalloc(5000, sizeof *m.feat.cats);
    for (i = 0; i < 5000; i++)
        m.feat.cats[i] = xasprintf("category number %d of many", i);
    roundtrip(&m);
    model_free(&m);
}

/* The file is what docs/model-format.md says: spot checks with jansson. */
static void test_layout(void **state)
{
    char *text = model_text();
    json_t *root = json_loads(text, 0, NULL), *c;

    (void)state;
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "format")),
                        "riskpipe-model");
    assert_int_equal(json_integer_value(json_object_get(root, "format_version")),
                     MODEL_FORMAT_VERSION);
    assert_int_equal(strncmp(json_string_value(json_object_get(root, "checksum")),
                             "fnv1a64:", 8), 0);
    assert_int_equal(strlen(json_string_value(json_object_get(root, "checksum"))),
                     8 + 16);
    c = json_array_get(json_object_get(root, "coefficients"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "name")), "(intercept)");
    /* coefficient 3 has a NaN standard error: every derived field is null */
    c = json_array_get(json_object_get(root, "coefficients"), 2);
    assert_string_equal(json_string_value(json_object_get(c, "name")), "city=Oslo");
    assert_true(json_is_null(json_object_get(c, "std_error")));
    assert_true(json_is_null(json_object_get(c, "p_value")));
    /* coefficient 1 (age): z = 0.1 / 0.012345..., p two-sided normal */
    c = json_array_get(json_object_get(root, "coefficients"), 1);
    assert_true(fabs(json_real_value(json_object_get(c, "z")) -
                     0.1 / 0.012345678901234568) < 1e-12);
    assert_true(fabs(json_real_value(json_object_get(c, "odds_ratio")) -
                     exp(0.1)) < 1e-15);
    assert_true(json_real_value(json_object_get(c, "p_value")) < 1e-15);
    assert_string_equal(json_string_value(json_object_get(
        json_object_get(root, "hyperparameters"), "class_weight")), "balanced");
    assert_string_equal(text + strlen(text) - 2, "}\n");
    json_decref(root);
    free(text);
}

/* ------------------------------------------------------------------ */
/* Refusals                                                            */
/* ------------------------------------------------------------------ */

static void test_empty_file(void **state)
{
    char *path = tpath("empty.json");
    model m;
    rp_err e;

    (void)state;
    write_file(path, "", 0);
    assert_int_equal(model_load(path, &m, &e), RP_EDATA);
    assert_contains(e.msg, "is empty");
    assert_contains(e.msg, path);
    assert_zeroed(&m);
    e = refuse("  \n", 3);
    assert_contains(e.msg, "is empty");
    free(path);
}

static void test_missing_file(void **state)
{
    char *path = tpath("nope.json");
    model m;
    rp_err e;

    (void)state;
    assert_int_equal(model_load(path, &m, &e), RP_EDATA);
    assert_contains(e.msg, "could not open model file");
    assert_contains(e.msg, "No such file or directory");
    assert_true(e.hint[0] != '\0');
    assert_zeroed(&m);
    free(path);
}

/* A (sparse) file over 256 MB is refused without being read. */
static void test_too_large(void **state)
{
    char *path = tpath("huge.json");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    model m;
    rp_err e;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, ((off_t)256 << 20) + 1), 0);
    close(fd);
    assert_int_equal(model_load(path, &m, &e), RP_EDATA);
    assert_contains(e.msg, "is too large");
    assert_zeroed(&m);
    free(path);
}

static void test_directory(void **state)
{
    model m;
    rp_err e;

    (void)state;
    assert_int_equal(model_load(tmpdir, &m, &e), RP_EDATA);
    assert_contains(e.msg, "is a directory");
}

/*
 * A real file cut at every byte offset before its closing brace: each one
 * is refused, through model_load, with a JSON syntax error naming the
 * file.  Cutting only the final newline leaves a complete document, which
 * loads (whitespace is not part of a JSON value).
 */
static void test_truncated_everywhere(void **state)
{
    char *path = tpath("model.json"), *cut = tpath("cut.json"), *text;
    size_t len, k, end;
    model m;
    rp_err e;

    (void)state;
    make_model(&m);
    assert_int_equal(model_save(&m, path, &e), RP_OK);
    model_free(&m);
    text = read_file(path, &len);
    end = (size_t)(strrchr(text, '}') - text);
    assert_int_equal(end, len - 2);
    for (k = 0; k <= end; k++) {
        write_file(cut, text, k);
        rp_err_clear(&e);
        if (model_load(cut, &m, &e) != RP_EDATA) {
            print_error("prefix of %zu bytes was accepted\n", k);
            fail();
        }
        assert_zeroed(&m);
        assert_contains(e.msg, k ? "not valid JSON at line" : "is empty");
        assert_contains(e.msg, cut);
    }
    write_file(cut, text, len - 1);
    assert_int_equal(model_load(cut, &m, &e), RP_OK);
    model_free(&m);
    free(text);
    free(cut);
    free(path);
}

/* One digit of a coefficient changed: the checksum catches it. */
static void test_edited_digit(void **state)
{
    char *text = model_text(), *p;
    rp_err e;

    (void)state;
    p = strstr(text, "\"estimate\": 0.1");
    assert_non_null(p);
    p += strlen("\"estimate\": 0.");
    assert_int_equal(*p, '1');
    *p = '2';
    e = refuse(text, strlen(text));
    assert_contains(e.msg, "has been modified or corrupted: checksum mismatch");
    assert_contains(e.msg, "t.json");
    assert_contains(e.detail, "fnv1a64:");
    free(text);
}

/* The checksum itself edited, removed, or of an unknown algorithm. */
static void test_bad_checksum_field(void **state)
{
    char *text = model_text(), *p;
    rp_err e;

    (void)state;
    p = strstr(text, "\"fnv1a64:");
    assert_non_null(p);
    p[10] = p[10] == '0' ? '1' : '0';
    e = refuse(text, strlen(text));
    assert_contains(e.msg, "checksum mismatch");
    memcpy(p + 1, "sha1xxx", 7);
    e = refuse(text, strlen(text));
    assert_contains(e.msg, "missing or invalid field \"checksum\"");
    free(text);
}

static void set_version_2(json_t *root)
{
    json_object_set_new(root, "format_version", json_integer(MODEL_FORMAT_VERSION + 1));
}

/* A newer format, otherwise intact (checksum recomputed). */
static void test_version_2(void **state)
{
    char *text = model_text(), *v2 = rewrite(text, set_version_2);
    rp_err e;

    (void)state;
    e = refuse(v2, strlen(v2));
    assert_contains(e.msg, "format version 3 is not supported by riskpipe ");
    assert_contains(e.msg, "(this riskpipe reads version 2)");
    assert_contains(e.hint, "0.1.0");
    free(v2);
    free(text);
}

/* rewrite() itself is sound: an identity edit still loads. */
static void no_edit(json_t *root)
{
    (void)root;
}

static void test_rewrite_identity(void **state)
{
    char *text = model_text(), *same = rewrite(text, no_edit);
    model m;
    rp_err e;

    (void)state;
    assert_int_equal(model_from_json(same, strlen(same), "x", &m, &e), RP_OK);
    model_free(&m);
    free(same);
    free(text);
}

static void test_not_json(void **state)
{
    static const char junk[] = "id,score\n1,0.5\n";
    static const char dup[] = "{\"format\": \"riskpipe-model\", \"format\": 1}";
    rp_err e;

    (void)state;
    e = refuse(junk, strlen(junk));
    assert_contains(e.msg, "model file \"t.json\": not valid JSON at line 1 column");
    e = refuse(dup, strlen(dup));
    assert_contains(e.msg, "not valid JSON");     /* duplicate key */
    e = refuse("{\"a\": \0}", 8);
    assert_contains(e.msg, "not valid JSON");
}

static void test_not_a_model(void **state)
{
    static const char other[] = "{\"format\": \"something-else\"}";
    rp_err e;

    (void)state;
    e = refuse("[1, 2, 3]", 9);
    assert_contains(e.msg, "is not a riskpipe model file");
    e = refuse(other, strlen(other));
    assert_contains(e.msg, "is not a riskpipe model file");
    assert_contains(e.detail, "something-else");
    e = refuse("{\"a\": 1}", 8);
    assert_contains(e.msg, "is not a riskpipe model file");
}

/* Edits that must each be refused as "missing or invalid field X". */
static void del_as_of(json_t *r) { json_object_del(json_object_get(r, "data"), "as_of"); }
static void bad_as_of(json_t *r)
{
    json_object_set_new(json_object_get(r, "data"), "as_of", json_string("2024-13-01"));
}
static void str_n_train(json_t *r)
{
    json_object_set_new(json_object_get(r, "data"), "n_train", json_string("9600"));
}
static void real_n_test(json_t *r)
{
    json_object_set_new(json_object_get(r, "data"), "n_test", json_real(2400.5));
}
static void del_fit(json_t *r) { json_object_del(r, "fit"); }
static void bad_set(json_t *r)
{
    json_object_set_new(json_object_get(r, "features"), "set", json_string("fancy"));
}
static void num_category(json_t *r)
{
    json_array_set_new(json_object_get(json_object_get(r, "features"), "categories"),
                       1, json_integer(7));
}
static json_t *column(json_t *r, size_t i)
{
    return json_array_get(json_object_get(json_object_get(r, "encoding"), "columns"), i);
}
static json_t *coef(json_t *r, size_t i)
{
    return json_array_get(json_object_get(r, "coefficients"), i);
}
static void bad_kind(json_t *r) { json_object_set_new(column(r, 2), "kind", json_string("bogus")); }
static void level_without_level(json_t *r) { json_object_set_new(column(r, 1), "level", json_null()); }
static void zero_sd(json_t *r) { json_object_set_new(column(r, 0), "sd", json_real(0.0)); }
static void null_estimate(json_t *r) { json_object_set_new(coef(r, 3), "estimate", json_null()); }
static void str_estimate(json_t *r) { json_object_set_new(coef(r, 2), "estimate", json_string("0.5")); }
static void renamed_coef(json_t *r) { json_object_set_new(coef(r, 4), "name", json_string("age")); }
static void drop_coef(json_t *r) { json_array_remove(json_object_get(r, "coefficients"), 2); }
static void bad_class_weight(json_t *r)
{
    json_object_set_new(json_object_get(r, "hyperparameters"), "class_weight",
                        json_string("heavy"));
}
static void negative_c(json_t *r)
{
    json_object_set_new(json_object_get(r, "hyperparameters"), "C", json_real(-1.0));
}
static void threshold_above_one(json_t *r)
{
    json_object_set_new(json_object_get(r, "threshold"), "value", json_real(1.5));
}
static void long_policy(json_t *r)
{
    json_object_set_new(json_object_get(r, "threshold"), "policy",
                        json_string("a policy name much longer than thirty-one bytes"));
}
static void metric_as_string(json_t *r)
{
    json_object_set_new(json_object_get(r, "test_metrics"), "tp", json_string("150"));
}
static void encoding_not_object(json_t *r) { json_object_set_new(r, "encoding", json_array()); }
static void del_evaluation(json_t *r) { json_object_del(r, "evaluation"); }
static json_t *ev_get(json_t *r, const char *k) { return json_object_get(json_object_get(r, "evaluation"), k); }
static void short_tradeoff(json_t *r)
{
    json_array_remove(json_object_get(ev_get(r, "threshold_tradeoff"), "recall"), 0);
}
static void roc_tpr_short(json_t *r) { json_array_remove(json_object_get(ev_get(r, "roc_curve"), "tpr"), 1); }
static void neg_hist(json_t *r)
{
    json_array_set_new(json_object_get(ev_get(r, "score_histogram"), "low_risk"), 0, json_integer(-1));
}
static void str_cal(json_t *r)
{
    json_array_set_new(json_object_get(ev_get(r, "calibration"), "observed_rate"), 0, json_string("x"));
}
static void policy_thr(json_t *r) { json_object_set_new(ev_get(r, "policy"), "threshold", json_real(2.0)); }
static void del_cv(json_t *r) { json_object_del(r, "cross_validation"); }
static void cv_one_fold(json_t *r)
{
    json_object_set_new(json_object_get(r, "cross_validation"), "folds", json_integer(1));
}
static void cv_fold_missing(json_t *r)
{
    json_t *m = json_object_get(json_object_get(r, "cross_validation"), "metrics");
    json_array_remove(json_object_get(json_object_get(m, "log_loss"), "folds"), 2);
}
static void grid_chosen_out(json_t *r)
{
    json_object_set_new(json_object_get(r, "C_selection"), "chosen", json_integer(2));
}
static void grid_zero_c(json_t *r)
{
    json_t *g = json_object_get(json_object_get(r, "C_selection"), "grid");
    json_object_set_new(json_array_get(g, 0), "C", json_real(0.0));
}
static void weight_number(json_t *r)
{
    json_object_set_new(json_object_get(r, "hyperparameters"), "weight_column", json_integer(3));
}

static json_t *drift_feat(json_t *r, int k)
{
    return json_array_get(json_object_get(json_object_get(r, "drift_reference"), "features"),
                          (size_t)k);
}
static void drift_edges_down(json_t *r)
{
    json_array_set_new(json_object_get(drift_feat(r, 0), "edges"), 0, json_real(1e9));
}
static void drift_props(json_t *r)
{
    json_t *s = json_object_get(json_object_get(r, "drift_reference"), "score");
    json_array_set_new(json_object_get(s, "proportions"), 0, json_real(0.5));
}
static void drift_not_object(json_t *r) { json_object_set_new(r, "drift_reference", json_true()); }
static void drift_level_dup(json_t *r)
{
    json_array_set_new(json_object_get(drift_feat(r, 1), "levels"), 1, json_string("Oslo"));
}

static void test_bad_fields(void **state)
{
    static const struct {
        void (*edit)(json_t *);
        const char *field;
    } cases[] = {
        { del_as_of, "data.as_of" },
        { bad_as_of, "data.as_of" },
        { str_n_train, "data.n_train" },
        { real_n_test, "data.n_test" },
        { del_fit, "fit" },
        { bad_set, "features.set" },
        { num_category, "features.categories[1]" },
        { bad_kind, "encoding.columns[2].kind" },
        { level_without_level, "encoding.columns[1].level" },
        { zero_sd, "encoding.columns[0].sd" },
        { null_estimate, "coefficients[3].estimate" },
        { str_estimate, "coefficients[2].estimate" },
        { renamed_coef, "coefficients[4].name" },
        { drop_coef, "coefficients" },
        { bad_class_weight, "hyperparameters.class_weight" },
        { negative_c, "hyperparameters.C" },
        { threshold_above_one, "threshold.value" },
        { long_policy, "threshold.policy" },
        { metric_as_string, "test_metrics.tp" },
        { encoding_not_object, "encoding" },
        { del_evaluation, "evaluation" },
        { short_tradeoff, "evaluation.threshold_tradeoff.recall" },
        { roc_tpr_short, "evaluation.roc_curve.tpr" },
        { neg_hist, "evaluation.score_histogram.low_risk" },
        { str_cal, "evaluation.calibration.observed_rate" },
        { policy_thr, "evaluation.policy.threshold" },
        { del_cv, "cross_validation" },
        { cv_one_fold, "cross_validation.folds" },
        { cv_fold_missing, "cross_validation.metrics.log_loss.folds" },
        { grid_chosen_out, "C_selection.chosen" },
        { grid_zero_c, "C_selection.grid[0].C" },
        { weight_number, "hyperparameters.weight_column" },
        { drift_edges_down, "drift_reference.features[0].edges" },
        { drift_props, "drift_reference.score.proportions" },
        { drift_not_object, "drift_reference" },
        { drift_level_dup, "drift_reference.features[1].levels" },
    };
    char *text = model_text();
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *bad = rewrite(text, cases[i].edit);
        char want[128];
        rp_err e = refuse(bad, strlen(bad));
        snprintf(want, sizeof want, "missing or invalid field \"%s\"", cases[i].field);
        assert_contains(e.msg, want);
        assert_contains(e.msg, "model file \"t.json\": ");
        free(bad);
    }
    free(text);
}

/* A model file from before drift monitoring (no "drift_reference") still
 * loads, without a reference; predict then records no PSI. */
static void del_drift(json_t *r) { json_object_del(r, "drift_reference"); }

static void test_without_drift(void **state)
{
    char *text = model_text(), *old = rewrite(text, del_drift);
    model m;
    rp_err e;

    (void)state;
    assert_int_equal(model_from_json(old, strlen(old), "old", &m, &e), RP_OK);
    assert_false(m.drift.present);
    assert_null(m.drift.feat);
    model_free(&m);
    free(old);
    free(text);
}

/* The detail of a coefficient-count mismatch says what was expected. */
static void test_count_detail(void **state)
{
    char *text = model_text(), *bad = rewrite(text, drop_coef);
    rp_err e = refuse(bad, strlen(bad));

    (void)state;
    assert_contains(e.detail, "4 coefficients for 4 encoded columns");
    free(bad);
    free(text);
}

/* ------------------------------------------------------------------ */
/* Saving                                                              */
/* ------------------------------------------------------------------ */

static void test_file_mode(void **state)
{
    char *path = tpath("mode.json");
    mode_t old = umask(022);
    struct stat st;
    model m;
    rp_err e;

    (void)state;
    make_model(&m);
    assert_int_equal(model_save(&m, path, &e), RP_OK);
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_true(S_ISREG(st.st_mode));
    model_free(&m);
    free(path);
}

/* Saving over a file replaces it by rename (a new inode, never an
 * in-place rewrite), and leaves no temporary file. */
static void test_replace_existing(void **state)
{
    char *path = tpath("model.json");
    struct stat before, after;
    model m, got;
    rp_err e;

    (void)state;
    write_file(path, "old contents\n", 13);
    assert_int_equal(stat(path, &before), 0);
    make_model(&m);
    strcpy(m.model_id, "rp-new");
    assert_int_equal(model_save(&m, path, &e), RP_OK);
    assert_int_equal(stat(path, &after), 0);
    assert_true(before.st_ino != after.st_ino);
    assert_int_equal(model_load(path, &got, &e), RP_OK);
    assert_string_equal(got.model_id, "rp-new");
    assert_int_equal(temp_files_left(), 0);
    model_free(&got);
    model_free(&m);
    free(path);
}

static void test_save_missing_dir(void **state)
{
    char *path = tpath("no/such/dir/model.json");
    model m;
    rp_err e;

    (void)state;
    make_model(&m);
    assert_int_equal(model_save(&m, path, &e), RP_EINTERNAL);
    assert_contains(e.msg, "could not create model file");
    assert_contains(e.msg, path);
    assert_contains(e.msg, "No such file or directory");
    assert_int_equal(temp_files_left(), 0);
    model_free(&m);
    free(path);
}

/*
 * A write that fails half-way (a full disk, simulated with RLIMIT_FSIZE:
 * writes beyond the limit fail with EFBIG): the error names the file and
 * the reason, the old file is byte-for-byte unchanged, no temp file stays.
 */
static void test_write_failure_keeps_old(void **state)
{
    char *path = tpath("model.json"), *before, *after;
    struct rlimit old, lim;
    size_t n1, n2;
    model m;
    rp_err e;
    int rc;

    (void)state;
    make_model(&m);
    assert_int_equal(model_save(&m, path, &e), RP_OK);
    before = read_file(path, &n1);
    strcpy(m.model_id, "rp-would-replace");

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 200;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    rc = model_save(&m, path, &e);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);

    assert_int_equal(rc, RP_EINTERNAL);
    assert_contains(e.msg, "could not write model file");
    assert_contains(e.msg, path);
    assert_contains(e.msg, strerror(EFBIG));
    assert_contains(e.detail, "was not changed");
    after = read_file(path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    assert_int_equal(temp_files_left(), 0);
    free(before);
    free(after);
    model_free(&m);
    free(path);
}

/* A model that cannot be written (invalid UTF-8, inconsistent arrays)
 * gives NULL / an error, and no file. */
static void test_unwritable_model(void **state)
{
    char *path = tpath("bad.json");
    struct stat st;
    model m;
    rp_err e;

    (void)state;
    make_model(&m);
    m.feat.cats[0][0] = '\xff';
    assert_null(model_to_json(&m));
    assert_int_equal(model_save(&m, path, &e), RP_EINTERNAL);
    assert_int_equal(stat(path, &st), -1);
    m.feat.cats[0][0] = 'g';
    m.p = 3;
    assert_null(model_to_json(&m));
    m.p = 4;
    m.enc.cols[1].kind = 9;
    assert_null(model_to_json(&m));
    m.enc.cols[1].kind = ENC_LEVEL;
    assert_int_equal(temp_files_left(), 0);
    model_free(&m);
    free(path);
}

static void test_free_is_safe(void **state)
{
    model m;

    (void)state;
    model_free(NULL);
    model_init(&m);
    model_free(&m);
    model_free(&m);
    assert_zeroed(&m);
}

/* The checksum helper agrees with the writer and ignores layout. */
static void test_checksum_helper(void **state)
{
    char *text = model_text(), *sum = model_json_checksum(text, strlen(text));
    json_t *root = json_loads(text, 0, NULL);
    char *compact = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
    char *sum2 = model_json_checksum(compact, strlen(compact));

    (void)state;
    assert_non_null(sum);
    assert_string_equal(sum, json_string_value(json_object_get(root, "checksum")));
    assert_string_equal(sum, sum2);
    assert_null(model_json_checksum("[1]", 3));
    assert_null(model_json_checksum("{", 1));
    free(sum);
    free(sum2);
    free(compact);
    json_decref(root);
    free(text);
}

/* ------------------------------------------------------------------ */
/* Diagnostics (explain.h): optional section                           */
/* ------------------------------------------------------------------ */

/* VIFs with a NaN (a constant column, written as null) and a huge one,
 * average contributions, and a data summary with a NULL label. */
static void make_diag(model *m)
{
    static const double vif[4] = { 1.25, NAN, 3.0000000000000004, 1e15 };
    static const double avg[4] = { -0.0, 1e-300, 0.1, -2.5 };
    model_diag *d = &m->diag;

    d->vif = xmallocarray(4, sizeof *d->vif);
    d->contrib_mean = xmallocarray(4, sizeof *d->contrib_mean);
    memcpy(d->vif, vif, sizeof vif);
    memcpy(d->contrib_mean, avg, sizeof avg);
    d->corr_cond = 1e15;
    d->n_extreme = 12;
    d->nonfinite = 3;
    strcpy(d->fingerprint, "fnv1a64:0123456789abcdef");
    d->n_feat = 2;
    d->feat = xcalloc(2, sizeof *d->feat);
    d->feat[0].name = xstrdup("age");
    d->feat[0].label = xstrdup("age in years");
    d->feat[0].missing = 17;
    d->feat[1].name = xstrdup("city");
    d->feat[1].categorical = 1;
    d->feat[1].levels = 21;
}

static void same_diag(const model_diag *a, const model_diag *b, int p)
{
    int i;

    assert_memory_equal(a->vif, b->vif, (size_t)p * sizeof(double));
    assert_memory_equal(a->contrib_mean, b->contrib_mean, (size_t)p * sizeof(double));
    SAME_D(a->corr_cond, b->corr_cond);
    assert_int_equal(a->n_extreme, b->n_extreme);
    assert_int_equal(a->nonfinite, b->nonfinite);
    assert_string_equal(a->fingerprint, b->fingerprint);
    assert_int_equal(a->n_feat, b->n_feat);
    for (i = 0; i < a->n_feat; i++) {
        same_str(a->feat[i].name, b->feat[i].name);
        same_str(a->feat[i].label, b->feat[i].label);
        assert_int_equal(a->feat[i].categorical, b->feat[i].categorical);
        assert_int_equal(a->feat[i].missing, b->feat[i].missing);
        assert_int_equal(a->feat[i].levels, b->feat[i].levels);
    }
}

/* With diagnostics: exact round trip; without: no "diagnostics" member
 * and NULL arrays after loading (models written before them). */
static void test_roundtrip_diag(void **state)
{
    char *path = tpath("diag.json"), *text;
    model m, got;
    rp_err e;

    (void)state;
    make_model(&m);
    text = model_to_json(&m);
    assert_null(strstr(text, "\"diagnostics\""));
    assert_int_equal(model_from_json(text, strlen(text), NULL, &got, &e), RP_OK);
    assert_null(got.diag.vif);
    assert_null(got.diag.contrib_mean);
    assert_null(got.diag.feat);
    model_free(&got);
    free(text);
    make_diag(&m);
    roundtrip(&m);
    assert_int_equal(model_save(&m, path, &e), RP_OK);
    assert_int_equal(model_load(path, &got, &e), RP_OK);
    same_diag(&m.diag, &got.diag, m.p);
    model_free(&got);
    model_free(&m);
    free(path);
}

static json_t *diag_get(json_t *r) { return json_object_get(r, "diagnostics"); }
static void diag_short_vif(json_t *r) { json_array_remove(json_object_get(diag_get(r), "vif"), 0); }
static void diag_str_avg(json_t *r)
{
    json_array_set_new(json_object_get(diag_get(r), "contrib_mean"), 1, json_string("x"));
}
static void diag_neg_missing(json_t *r)
{
    json_object_set_new(json_array_get(json_object_get(diag_get(r), "features"), 1),
                        "missing", json_integer(-1));
}
static void diag_long_fp(json_t *r)
{
    json_object_set_new(diag_get(r), "fingerprint",
                        json_string("fnv1a64:0123456789abcdef0123456789abcdef"));
}
static void diag_array(json_t *r) { json_object_set_new(r, "diagnostics", json_array()); }

/* A diagnostics section, when present, is checked like any other. */
static void test_bad_diag(void **state)
{
    static const struct {
        void (*edit)(json_t *);
        const char *field;
    } cases[] = {
        { diag_short_vif, "diagnostics.vif" },
        { diag_str_avg, "diagnostics.contrib_mean" },
        { diag_neg_missing, "diagnostics.features[1].missing" },
        { diag_long_fp, "diagnostics.fingerprint" },
        { diag_array, "diagnostics" },
    };
    model m;
    char *text;
    size_t i;

    (void)state;
    make_model(&m);
    make_diag(&m);
    text = model_to_json(&m);
    model_free(&m);
    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *bad = rewrite(text, cases[i].edit);
        char want[128];
        rp_err e = refuse(bad, strlen(bad));
        snprintf(want, sizeof want, "missing or invalid field \"%s\"", cases[i].field);
        assert_contains(e.msg, want);
        free(bad);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_roundtrip, test_teardown),
        cmocka_unit_test_teardown(test_roundtrip_unpenalised, test_teardown),
        cmocka_unit_test_teardown(test_roundtrip_diag, test_teardown),
        cmocka_unit_test(test_bad_diag),
        cmocka_unit_test_teardown(test_roundtrip_large, test_teardown),
        cmocka_unit_test(test_layout),
        cmocka_unit_test_teardown(test_empty_file, test_teardown),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test_teardown(test_too_large, test_teardown),
        cmocka_unit_test(test_directory),
        cmocka_unit_test_teardown(test_truncated_everywhere, test_teardown),
        cmocka_unit_test(test_edited_digit),
        cmocka_unit_test(test_bad_checksum_field),
        cmocka_unit_test(test_version_2),
        cmocka_unit_test(test_rewrite_identity),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_not_a_model),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_count_detail),
        cmocka_unit_test(test_without_drift),
        cmocka_unit_test_teardown(test_file_mode, test_teardown),
        cmocka_unit_test_teardown(test_replace_existing, test_teardown),
        cmocka_unit_test_teardown(test_save_missing_dir, test_teardown),
        cmocka_unit_test_teardown(test_write_failure_keeps_old, test_teardown),
        cmocka_unit_test_teardown(test_unwritable_model, test_teardown),
        cmocka_unit_test(test_free_is_safe),
        cmocka_unit_test(test_checksum_helper),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
