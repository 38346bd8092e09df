/*
 * sqlscore.c - the model as SQL (see sqlscore.h for the contract).
 *
 * Shape of the scoring query, from the inside out:
 *
 *   f  the feature query (features.c), unchanged
 *   x  customer_id and c0..c{p-1}: c_j = beta_j * x_j, where x_j is design
 *      column j standardised exactly as enc_apply does it
 *   z  x plus the log-odds: intercept + c0 + c1 + ... (left to right)
 *   s  z plus the probability (the sigmoid of lr_sigmoid)
 *   r  the reason codes: a LATERAL subquery over s, an array
 *   top the decision, the probability and the reason codes
 *
 * Each of x, z, s and r ends in OFFSET 0.  That fence is the point: without it
 * PostgreSQL pulls the subqueries up and pastes an expression wherever its
 * alias is used, so each c_j would be computed for the log-odds and again
 * for the reasons, and the log-odds three times inside the sigmoid.
 *
 * Why the doubles are the C path's.  Every constant is written with 17
 * significant digits ('%.17g'::float8 reads back as the same bits).  The
 * values that C precomputes (the imputed value's z-score, the 0 and 1 of
 * an indicator after scaling) are precomputed here by the same C
 * expressions and inlined; the rest is the same IEEE operations in the same
 * order: (x - mean) / sd, beta * x, then the sum from the intercept onwards
 * (SQL's + is left-associative), then exp() - PostgreSQL's exp() is the C
 * library's.  Two places can differ: a server whose libm rounds exp()
 * differently (at most an ulp or so), and log-odds below -708, where the C
 * path's probability is a subnormal under 1e-307 that PostgreSQL's exp()
 * refuses to produce (an underflow error): the query writes 0 there.  The
 * same refusal makes log-odds above 700 a constant 1, which is what C gets
 * (1 + exp(-700) rounds to 1).
 *
 * A missing value is what the dataset treats as one: NULL, NaN or an
 * infinity.  "x > '-Infinity' AND x < 'Infinity'" is true exactly for the
 * finite values (PostgreSQL sorts NaN above Infinity, and NULL compares to
 * NULL, which CASE takes as false).  Text values are compared byte for byte
 * (COLLATE "C"), as the C path's strcmp does, so a non-deterministic
 * collation on the input column cannot merge two levels.
 *
 * Reason codes (explain.h, expl_reasons): only for an adverse decision
 * (probability >= threshold), the design columns whose contribution
 * exceeds the population's average contribution (m->diag.contrib_mean, 0
 * when the model did not record it), largest excess first, an earlier
 * column winning a tie, at most PIPE_REASONS; written as
 * expl_reason_text's words.  Here: the texts of the rows of a VALUES list
 * (j, text, c_j - avg_j) with an excess > 0, ordered by (excess DESC, j),
 * first PIPE_REASONS; the excess is the same subtraction of the same
 * doubles.  Columns whose excess can never be positive (an indicator whose
 * two scaled values both give an excess <= 0) are left out of the list:
 * they could not be chosen.  The list is scanned for adverse rows only (a
 * one-time filter on the outer row's probability).  Cost, measured at 1M
 * customers (242k adverse): 6-7 s of the query; a scalar subquery inside
 * CASE WHEN instead of the LATERAL join measured 9 s.
 */
#include "sqlscore.h"

#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "explain.h"
#include "pipeline.h"
#include "util/mem.h"
#include "util/strbuf.h"
#include "version.h"

/* A double as an SQL constant of type float8 that reads back bit for bit. */
static void put_f8(sb_t *sb, double x)
{
    sb_putc(sb, '\'');
    sb_double(sb, x);
    sb_append(sb, "'::float8");
}

/* "f.<column>", quoted. */
static void put_src(sb_t *sb, db_conn *c, const char *name)
{
    char *q = db_quote_ident(c, name);
    sb_printf(sb, "f.%s", q);
    free(q);
}

/* A finite-value test on feature column `name` (NULL when the value is
 * NULL: callers put it where NULL means "missing"). */
static void put_finite(sb_t *sb, db_conn *c, const char *name)
{
    sb_putc(sb, '(');
    put_src(sb, c, name);
    sb_append(sb, " > '-Infinity'::float8 AND ");
    put_src(sb, c, name);
    sb_append(sb, " < 'Infinity'::float8)");
}

/* The reference level of text source `source`, or NULL. */
static const char *ref_level(const enc_spec *s, const char *source)
{
    for (int k = 0; k < s->n_ref; k++)
        if (!strcmp(s->ref_sources[k], source))
            return s->ref_levels[k];
    return NULL;
}

/* "(lit, lit, ...)": the levels of `source` the model knows (the reference
 * and every ENC_LEVEL column); returns how many. */
static int put_known(sb_t *sb, db_conn *c, const enc_spec *s, const char *source)
{
    const char *ref = ref_level(s, source);
    int n = 0;

    sb_putc(sb, '(');
    if (ref) {
        char *q = db_quote_literal(c, ref);
        sb_append(sb, q);
        free(q);
        n++;
    }
    for (int j = 0; j < s->p; j++) {
        const enc_col *col = &s->cols[j];
        if (col->kind == ENC_LEVEL && !strcmp(col->source, source)) {
            char *q = db_quote_literal(c, col->level);
            sb_printf(sb, "%s%s", n ? ", " : "", q);
            free(q);
            n++;
        }
    }
    sb_putc(sb, ')');
    return n;
}

/* SQL true when text source `source` holds a value the model does not know
 * (NULL included when with_null; else a NULL value is never "unknown"). */
static void put_unknown(sb_t *sb, db_conn *c, const enc_spec *s,
                        const char *source, int with_null)
{
    sb_t known = {0};
    int n = put_known(&known, c, s, source);

    sb_putc(sb, '(');
    if (with_null) {
        put_src(sb, c, source);
        sb_append(sb, " IS NULL OR ");
    }
    if (n) {
        put_src(sb, c, source);
        sb_printf(sb, " COLLATE \"C\" NOT IN %s", sb_str(&known));
    } else {
        put_src(sb, c, source);   /* nothing is known: any value */
        sb_append(sb, " IS NOT NULL");
    }
    sb_putc(sb, ')');
    sb_free(&known);
}

/* Design column j, standardised: the value enc_apply puts in X. */
static void put_value(sb_t *sb, db_conn *c, const enc_spec *s, int j)
{
    const enc_col *col = &s->cols[j];
    /* the same expressions as fill_zero / fill_numeric */
    double z0 = (0.0 - col->mean) / col->sd, z1 = (1.0 - col->mean) / col->sd;

    sb_append(sb, "CASE WHEN ");
    switch (col->kind) {
    case ENC_NUMERIC:
        put_finite(sb, c, col->source);
        sb_append(sb, " THEN (");
        put_src(sb, c, col->source);
        sb_append(sb, " - ");
        put_f8(sb, col->mean);
        sb_append(sb, ") / ");
        put_f8(sb, col->sd);
        sb_append(sb, " ELSE ");
        put_f8(sb, (col->impute - col->mean) / col->sd);
        break;
    case ENC_LEVEL: {
        char *q = db_quote_literal(c, col->level);
        put_src(sb, c, col->source);
        sb_printf(sb, " COLLATE \"C\" = %s", q);
        free(q);
        break;
    }
    case ENC_OTHER:
        put_unknown(sb, c, s, col->source, 1);
        break;
    default: {   /* ENC_MISSING: any numeric column of its group missing */
        int n = 0;
        sb_putc(sb, '(');
        for (int k = 0; k < s->p; k++) {
            if (s->cols[k].kind != ENC_NUMERIC || s->cols[k].miss != j)
                continue;
            sb_append(sb, n++ ? " OR " : "");
            put_finite(sb, c, s->cols[k].source);
            sb_append(sb, " IS NOT TRUE");
        }
        sb_append(sb, n ? ")" : "false)");
        break;
    }
    }
    if (col->kind != ENC_NUMERIC) {
        sb_append(sb, " THEN ");
        put_f8(sb, z1);
        sb_append(sb, " ELSE ");
        put_f8(sb, z0);
    }
    sb_append(sb, " END");
}

/* The population's average contribution of design column j (0 when the
 * model did not record it, as expl_reasons). */
static double avg_contrib(const model *m, int j)
{
    return m->diag.contrib_mean ? m->diag.contrib_mean[j] : 0.0;
}

/* Whether design column j's excess over the average can be > 0. */
static int can_be_reason(const model *m, int j)
{
    const enc_col *col = &m->enc.cols[j];
    double b = m->beta[j], a = avg_contrib(m, j);

    if (col->kind == ENC_NUMERIC)
        return 1;
    return b * ((0.0 - col->mean) / col->sd) - a > 0.0 ||
           b * ((1.0 - col->mean) / col->sd) - a > 0.0;
}

/* Whether design column j is the first one of a text source. */
static int first_of_source(const enc_spec *s, int j)
{
    if (s->cols[j].kind != ENC_LEVEL && s->cols[j].kind != ENC_OTHER)
        return 0;
    for (int k = 0; k < j; k++)
        if ((s->cols[k].kind == ENC_LEVEL || s->cols[k].kind == ENC_OTHER) &&
            !strcmp(s->cols[k].source, s->cols[j].source))
            return 0;
    return 1;
}

/* Layer x: customer_id, c0..c{p-1} (and unseen). */
static void put_layer_x(sb_t *sb, db_conn *c, const model *m,
                        const feat_query *q, int with_unseen)
{
    const enc_spec *s = &m->enc;

    sb_append(sb, "SELECT f.customer_id::bigint AS customer_id");
    for (int j = 0; j < s->p; j++) {
        sb_append(sb, ",\n    ");
        put_f8(sb, m->beta[j]);
        sb_append(sb, " * (");
        put_value(sb, c, s, j);
        sb_printf(sb, ") AS c%d", j);
    }
    if (with_unseen) {
        /* one term per text source the model encodes, as enc_apply counts */
        sb_append(sb, ",\n    0");
        for (int j = 0; j < s->p; j++) {
            if (!first_of_source(s, j))
                continue;
            sb_append(sb, " + (");
            put_unknown(sb, c, s, s->cols[j].source, 0);
            sb_append(sb, " IS TRUE)::int");
        }
        sb_append(sb, " AS unseen");
    }
    sb_printf(sb, "\n  FROM (%s) f OFFSET 0", q->sql);
}

/* Layer z: x plus the log-odds, summed in the C path's order. */
static void put_layer_z(sb_t *sb, const model *m)
{
    sb_append(sb, "SELECT x.*, ");
    put_f8(sb, m->intercept);
    for (int j = 0; j < m->p; j++)
        sb_printf(sb, " + x.c%d", j);
    sb_append(sb, " AS z\n  FROM (");
}

/* The reason codes' LATERAL subquery (see the file comment). */
static void put_reasons(sb_t *sb, db_conn *c, const model *m)
{
    int j, n = 0;

    sb_append(sb, "CROSS JOIN LATERAL (SELECT ARRAY(SELECT v.n FROM (VALUES ");
    for (j = 0; j < m->p; j++) {
        char *text, *lit;
        if (!can_be_reason(m, j))
            continue;
        text = expl_reason_text(m, j);
        lit = db_quote_literal(c, text);
        sb_printf(sb, "%s(%d, %s::text, s.c%d - ", n++ ? ", " : "", j, lit, j);
        put_f8(sb, avg_contrib(m, j));
        sb_putc(sb, ')');
        free(lit);
        free(text);
    }
    if (!n)
        sb_append(sb, "(0, NULL::text, 0::float8)");
    sb_append(sb, ") v(j, n, over) WHERE s.probability >= ");
    put_f8(sb, m->threshold);
    /* OFFSET 0 here too: pulled up, r.reasons[k] would run the list once
     * per reason column */
    sb_printf(sb, " AND v.over > 0 ORDER BY v.over DESC, v.j LIMIT %d) AS reasons OFFSET 0) r",
              PIPE_REASONS);
}

/* The outer layers around x; see the file comment. */
static void put_scoring(sb_t *sb, db_conn *c, const model *m, const char *x_sql,
                        int with_unseen)
{
    char *mid = db_quote_literal(c, m->model_id);
    int k;

    sb_append(sb, "SELECT s.customer_id, (s.probability >= ");
    put_f8(sb, m->threshold);
    sb_printf(sb, ")::int AS high_risk_prediction, s.probability, %s::text AS model_id", mid);
    for (k = 1; k <= PIPE_REASONS; k++)
        sb_printf(sb, ", r.reasons[%d] AS reason_%d", k, k);
    sb_printf(sb, "%s\nFROM (\n", with_unseen ? ", s.unseen" : "");
    sb_append(sb, "SELECT z.*, CASE WHEN z.z > 700 THEN 1::float8"
                  " WHEN z.z >= 0 THEN 1 / (1 + exp(-z.z))"
                  " WHEN z.z < -708 THEN 0::float8"
                  " ELSE exp(z.z) / (1 + exp(z.z)) END AS probability\n FROM (\n");
    put_layer_z(sb, m);
    sb_append(sb, x_sql);
    sb_append(sb, "\n  ) x OFFSET 0\n ) z OFFSET 0\n) s\n");
    put_reasons(sb, c, m);
    free(mid);
}

char *sqlscore_select(db_conn *c, const model *m, const feat_query *q,
                      int with_unseen)
{
    sb_t x = {0}, sb = {0};

    put_layer_x(&x, c, m, q, with_unseen);
    put_scoring(&sb, c, m, sb_str(&x), with_unseen);
    sb_free(&x);
    return sb_steal(&sb);
}

/* A dollar-quote tag that does not occur in body: $rp$, $rp1$, ... */
static char *dollar_tag(const char *body)
{
    char *tag = xstrdup("$rp$");

    for (int i = 1; strstr(body, tag); i++) {
        free(tag);
        tag = xasprintf("$rp%d$", i);
    }
    return tag;
}

int sqlscore_function(db_conn *c, model *m, const rp_tables *t,
                      const char *fname, char **out, rp_err *e)
{
    feat_query q;
    sb_t sb = {0};
    char *fn, *body, *tag, *mid, *body_note;
    int rc;

    *out = NULL;
    /* the as-of date is the function's argument: $1 in the body */
    if ((rc = feat_build_ex(c, t, &m->feat, "$1", 0, &q, e)))
        return rc;
    if ((rc = enc_bind(&m->enc, &q, e))) {
        feat_query_free(&q);
        return rc;
    }
    body = sqlscore_select(c, m, &q, 0);
    feat_query_free(&q);
    fn = schema_qualify(c, t, fname);
    tag = dollar_tag(body);
    body_note = xasprintf("riskpipe scoring, model %s", m->model_id);
    mid = db_quote_literal(c, body_note);
    free(body_note);
    sb_printf(&sb,
        "-- riskpipe %s: in-database scoring with model %s\n"
        "-- (features: %s, trained as of %s, threshold %.17g).\n"
        "-- Written by `riskpipe export-sql`; the constants are the model's,\n"
        "-- with 17 significant digits.  Use:\n"
        "--   SELECT * FROM %s('YYYY-MM-DD');   -- features as of that date\n"
        "SET client_encoding = 'UTF8';\n"
        "CREATE OR REPLACE FUNCTION %s(as_of date)\n"
        "RETURNS TABLE (customer_id bigint, high_risk_prediction int, probability float8,\n"
        "               model_id text",
        RP_VERSION, m->model_id, feat_set_name(m->feat.set), m->feat.as_of,
        m->threshold, fn, fn);
    for (int k = 1; k <= PIPE_REASONS; k++)
        sb_printf(&sb, ", reason_%d text", k);
    sb_printf(&sb, ")\nLANGUAGE sql STABLE PARALLEL SAFE\nAS %s\n%s\n%s;\n"
                   "COMMENT ON FUNCTION %s(date) IS %s;\n", tag, body, tag, fn, mid);
    free(mid);
    free(tag);
    free(fn);
    free(body);
    *out = sb_steal(&sb);
    return RP_OK;
}
