/*
 * cmd_explain.c - `riskpipe explain --model PATH [--customer ID]`.
 *
 * Without --customer: the model card in text - held-out evaluation, fit
 * diagnostics with their warnings, and the full coefficient table as a
 * statistician expects it.  With --customer: that customer's probability,
 * decision, reason codes and each design column's contribution to the
 * log-odds.  The numbers come from explain.c; this file only formats them.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "explain.h"

static const char explain_usage[] =
    "Usage: riskpipe explain [--model PATH] [--customer ID [--as-of DATE]]\n\n"
    "Without --customer: the model's held-out evaluation, its fit diagnostics\n"
    "(observations, events, log-likelihoods, McFadden's pseudo R-squared, AIC,\n"
    "condition number, iterations, gradient norm, variance inflation factors)\n"
    "with warnings for near-separation, near-collinearity and non-convergence,\n"
    "and the coefficient table: estimate, standard error, z, p-value, odds\n"
    "ratio and 95% confidence interval per standard deviation of each feature.\n"
    "Standard errors are the square roots of the diagonal of the inverse of\n"
    "the penalised Hessian (the L2 penalty's curvature included).\n\n"
    "With --customer ID: runs the model's feature query for that customer\n"
    "(needs the database) and prints the probability, the decision, up to four\n"
    "reason codes (for a high-risk decision only) and each feature's\n"
    "contribution to the log-odds beside the population's average.\n\n"
    "      --model PATH     model file (default riskpipe-model.json)\n"
    "      --customer ID    explain one customer's score\n"
    "      --as-of DATE     with --customer: features as of DATE (default: the\n"
    "                       latest transaction_date, as predict does)\n"
    "      --json           print the same as one JSON document, numbers with 17\n"
    "                       significant digits (for scripts and spreadsheets)\n";

/* ------------------------------------------------------------------ */
/* The model                                                           */
/* ------------------------------------------------------------------ */

static void print_header(const model *m)
{
    printf("model %s (riskpipe %s, created %s)\n", m->model_id,
           m->riskpipe_version, m->created_at);
    printf("features: %s set, data as of %s; %ld customers, %ld labelled "
           "(%ld high-risk)\n", feat_set_name(m->feat.set), m->feat.as_of,
           m->n_customers, m->n_labelled, m->n_events);
    if (isfinite(m->C))
        printf("penalty: L2, C = %g; class weights: %s\n", m->C,
               m->class_weight_balanced ? "balanced" : "none");
    else
        printf("penalty: none (C = inf); class weights: %s\n",
               m->class_weight_balanced ? "balanced" : "none");
}

static void print_evaluation(const model *m)
{
    const model_metrics *t = &m->test;
    const model_eval *v = &m->eval;

    printf("\nHeld-out evaluation (%ld customers, %ld high-risk; the model "
           "fitted on the other %ld)\n", t->n, t->events, m->n_train);
    printf("  ROC AUC    %.4f", t->roc_auc);
    if (v->n > 0 && isfinite(v->roc_auc_lo))
        printf("  (95%% CI %.4f-%.4f, DeLong)   Gini %.4f", v->roc_auc_lo,
               v->roc_auc_hi, v->gini);
    printf("\n  PR AUC     %.4f   KS %.4f at score %.4f   log loss %.4f   "
           "Brier %.4f\n", t->pr_auc, t->ks, t->ks_score, t->log_loss, t->brier);
    printf("  threshold  %.4f (%s): precision %.4f, recall %.4f, F1 %.4f; "
           "TP %ld FP %ld TN %ld FN %ld\n", m->threshold, m->threshold_policy,
           t->precision, t->recall, t->f1, t->tp, t->fp, t->tn, t->fn);
}

static void print_fit(const model *m, const expl_fit *f)
{
    int k;

    printf("\nFit diagnostics (the deployed fit, on all labelled customers%s)\n",
           m->class_weight_balanced ? "; log-likelihoods weighted" : "");
    printf("  %-30s %ld\n", "observations", f->n);
    printf("  %-30s %ld (%.2f%%)\n", "events (high-risk)", f->events,
           f->n ? 100.0 * (double)f->events / (double)f->n : 0.0);
    printf("  %-30s %.4f\n", "log-likelihood", f->loglik);
    printf("  %-30s %.4f\n", "null log-likelihood", f->loglik_null);
    printf("  %-30s %.4f\n", "pseudo R-squared (McFadden)", f->mcfadden);
    printf("  %-30s %.2f (k = %d parameters)\n", "AIC", f->aic, f->k);
    if (f->penalised)
        printf("  %-30s %.2f (%.2f effective degrees of freedom under the "
               "penalty)\n", "AIC, effective df", f->aic_edf, f->edf);
    printf("  %-30s %.2f\n", "BIC", f->bic);
    printf("  %-30s %.3g (1-norm estimate)\n", "condition number of Hessian", m->cond);
    printf("  %-30s %d\n", "Newton iterations", m->iterations);
    printf("  %-30s %.3g\n", "gradient norm (max abs)", m->grad_norm);
    if (!f->have_vif) {
        printf("  %-30s not recorded (model trained before riskpipe recorded them)\n",
               "variance inflation factors");
        return;
    }
    printf("  %-30s %.3g\n", "condition number, design corr.", m->diag.corr_cond);
    printf("  %-30s %ld (%.2f%%)\n", "fitted p < 1e-6 or > 1 - 1e-6", f->n_extreme,
           100.0 * f->extreme_share);
    printf("  largest variance inflation factors:\n");
    for (k = 0; k < f->n_worst; k++)
        printf("    %-44.44s %-28.28s %10.4g\n", m->enc.cols[f->worst[k]].label
               ? m->enc.cols[f->worst[k]].label : "", m->enc.cols[f->worst[k]].name,
               m->diag.vif[f->worst[k]]);
}

static void print_warnings(const model *m, const expl_fit *f)
{
    int k, any = 0;

    printf("\nWarnings\n");
    if (f->warn_convergence) {
        any = 1;
        printf("  non-convergence: gradient norm %.3g after %d iterations (the "
               "solver stops at 1e-10 per observation)\n", m->grad_norm, m->iterations);
    }
    if (f->warn_separation) {
        any = 1;
        printf("  near-separation: ");
        if (f->max_abs_beta > EXPL_BETA_WARN)
            printf("|coefficient| %.3g for \"%s\" (more than %g per standard "
                   "deviation)", f->max_abs_beta, m->enc.cols[f->max_beta_col].name,
                   EXPL_BETA_WARN);
        if (f->max_abs_beta > EXPL_BETA_WARN && f->extreme_share > EXPL_EXTREME_SHARE)
            printf("; ");
        if (f->extreme_share > EXPL_EXTREME_SHARE)
            printf("%.2f%% of the training rows have a fitted probability "
                   "within 1e-6 of 0 or 1", 100.0 * f->extreme_share);
        printf("\n    some feature (almost) decides the label; estimates and standard "
               "errors there are unreliable\n");
    }
    if (f->warn_collinearity) {
        any = 1;
        printf("  near-collinearity: %d column%s with a variance inflation factor above "
               "%g, the largest", f->n_high_vif, f->n_high_vif == 1 ? "" : "s", EXPL_VIF_WARN);
        for (k = 0; k < f->n_worst && m->diag.vif[f->worst[k]] > EXPL_VIF_WARN; k++)
            printf("%s \"%s\" (%.3g)", k ? "," : "", m->enc.cols[f->worst[k]].name,
                   m->diag.vif[f->worst[k]]);
        if (m->diag.vif[f->worst[0]] >= EXPL_VIF_EXACT)
            printf("\n    VIFs of %g or more mean exact collinearity: some columns are "
                   "sums of others (a total and its parts)", EXPL_VIF_EXACT);
        printf("\n    their standard errors are inflated and their individual "
               "coefficients hard to interpret; the L2 penalty keeps the fit stable\n");
    }
    if (!any)
        printf("  none\n");
}

/* p-values below what a double's erfc resolves read "<1e-300". */
static void fmt_p(char *buf, size_t n, double p)
{
    if (isnan(p))
        snprintf(buf, n, "nan");
    else if (p < 1e-300)
        snprintf(buf, n, "<1e-300");
    else
        snprintf(buf, n, "%.3g", p);
}

static void print_coef(const expl_coef *c)
{
    char p[16], ci[40], vif[16];

    fmt_p(p, sizeof p, c->p);
    snprintf(ci, sizeof ci, "[%.4g, %.4g]", c->odds_lo, c->odds_hi);
    if (isnan(c->vif))
        snprintf(vif, sizeof vif, "%s", c->j < 0 ? "" : "-");
    else
        snprintf(vif, sizeof vif, "%.3g", c->vif);
    printf("  %-44.44s %-28.28s %9.4f %8.4f %8.2f %9s %10.4g %-21s %7s\n",
           c->label, c->name, c->est, c->se, c->z, p, c->odds, ci, vif);
}

static void print_coefs(const model *m)
{
    expl_coef c;
    int j;

    printf("\nCoefficients (per standard deviation of each feature)\n");
    if (isfinite(m->C))
        printf("  Standard errors: square roots of the diagonal of the inverse of the "
               "penalised Hessian\n  (L2, C = %g), so they include the penalty's "
               "curvature and are smaller than unpenalised ones.\n", m->C);
    else
        printf("  Standard errors: square roots of the diagonal of the inverse "
               "Hessian (unpenalised maximum likelihood).\n");
    printf("  z = estimate / std. error; p two-sided (normal); 95%% CI = exp(estimate "
           "-/+ 1.96 std. error).\n\n");
    printf("  %-44s %-28s %9s %8s %8s %9s %10s %-21s %7s\n", "feature", "column",
           "estimate", "std.err", "z", "p", "odds ratio", "95% CI (odds ratio)", "VIF");
    for (j = -1; j < m->p; j++) {
        expl_coef_row(m, j, &c);
        print_coef(&c);
    }
}

/* ------------------------------------------------------------------ */
/* JSON (--json): the same numbers, full precision                     */
/* ------------------------------------------------------------------ */

/* A number, or null when it is not finite (JSON has no NaN). */
static json_t *jnum(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* Prints and frees doc; RP_EINTERNAL when it cannot be written (a text
 * value that is not UTF-8, or stdout failing). */
static int print_json(json_t *doc, rp_err *e)
{
    int rc = doc ? json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : -1;

    json_decref(doc);
    if (rc != 0 || putchar('\n') == EOF || fflush(stdout) != 0)
        return rp_err_set(e, RP_EINTERNAL, "could not write the JSON output");
    return RP_OK;
}

static json_t *json_fit(const model *m, const expl_fit *f)
{
    json_t *o = json_object();

    json_object_set_new(o, "observations", json_integer(f->n));
    json_object_set_new(o, "events", json_integer(f->events));
    json_object_set_new(o, "parameters", json_integer(f->k));
    json_object_set_new(o, "loglik", jnum(f->loglik));
    json_object_set_new(o, "loglik_null", jnum(f->loglik_null));
    json_object_set_new(o, "pseudo_r2_mcfadden", jnum(f->mcfadden));
    json_object_set_new(o, "aic", jnum(f->aic));
    json_object_set_new(o, "bic", jnum(f->bic));
    json_object_set_new(o, "effective_df", jnum(f->edf));
    json_object_set_new(o, "aic_effective_df", jnum(f->aic_edf));
    json_object_set_new(o, "hessian_condition_number", jnum(m->cond));
    json_object_set_new(o, "iterations", json_integer(m->iterations));
    json_object_set_new(o, "gradient_norm", jnum(m->grad_norm));
    json_object_set_new(o, "design_correlation_condition_number",
                        f->have_vif ? jnum(m->diag.corr_cond) : json_null());
    json_object_set_new(o, "extreme_fitted_probabilities",
                        f->have_vif ? json_integer(f->n_extreme) : json_null());
    return o;
}

static json_t *json_warnings(const expl_fit *f)
{
    json_t *a = json_array();

    if (f->warn_convergence)
        json_array_append_new(a, json_string("non-convergence"));
    if (f->warn_separation)
        json_array_append_new(a, json_string("near-separation"));
    if (f->warn_collinearity)
        json_array_append_new(a, json_string("near-collinearity"));
    return a;
}

static json_t *json_coef(const expl_coef *c)
{
    json_t *o = json_object();

    json_object_set_new(o, "name", jstr(c->name));
    json_object_set_new(o, "label", jstr(c->label));
    json_object_set_new(o, "estimate", jnum(c->est));
    json_object_set_new(o, "std_error", jnum(c->se));
    json_object_set_new(o, "z", jnum(c->z));
    json_object_set_new(o, "p_value", jnum(c->p));
    json_object_set_new(o, "ci_low", jnum(c->lo));
    json_object_set_new(o, "ci_high", jnum(c->hi));
    json_object_set_new(o, "odds_ratio", jnum(c->odds));
    json_object_set_new(o, "odds_ratio_low", jnum(c->odds_lo));
    json_object_set_new(o, "odds_ratio_high", jnum(c->odds_hi));
    json_object_set_new(o, "estimate_original", jnum(c->est_orig));
    json_object_set_new(o, "vif", jnum(c->vif));
    return o;
}

static int json_model(const model *m, rp_err *e)
{
    json_t *doc = json_object(), *coefs = json_array();
    expl_fit f;
    expl_coef c;
    int j;

    expl_fit_summary(m, &f);
    for (j = -1; j < m->p; j++) {
        expl_coef_row(m, j, &c);
        json_array_append_new(coefs, json_coef(&c));
    }
    json_object_set_new(doc, "model_id", json_string(m->model_id));
    json_object_set_new(doc, "standard_errors", json_string(isfinite(m->C)
        ? "inverse of the penalised Hessian" : "inverse of the Hessian (unpenalised)"));
    json_object_set_new(doc, "fit", json_fit(m, &f));
    json_object_set_new(doc, "warnings", json_warnings(&f));
    json_object_set_new(doc, "coefficients", coefs);
    return print_json(doc, e);
}

static json_t *json_term(const model *m, const expl_term *t)
{
    const enc_col *c = &m->enc.cols[t->j];
    json_t *o = json_object();

    json_object_set_new(o, "column", jstr(c->name));
    json_object_set_new(o, "label", jstr(c->label));
    json_object_set_new(o, "value", jnum(t->value));
    json_object_set_new(o, "text", jstr(t->text));
    json_object_set_new(o, "missing", json_boolean(t->missing));
    json_object_set_new(o, "population_average", jnum(t->avg));
    json_object_set_new(o, "standardised", jnum(t->x));
    json_object_set_new(o, "contribution", jnum(t->contrib));
    json_object_set_new(o, "average_contribution", jnum(t->avg_contrib));
    return o;
}

static int json_customer(const model *m, const expl_customer *x, rp_err *e)
{
    json_t *doc = json_object(), *terms = json_array(), *why = json_array();
    int k;

    for (k = 0; k < x->p; k++)
        json_array_append_new(terms, json_term(m, &x->terms[k]));
    for (k = 0; k < x->n_reasons; k++) {
        char *text = expl_reason_text(m, x->reasons[k]);
        json_array_append_new(why, json_pack("{s:s, s:s}", "column",
                              m->enc.cols[x->reasons[k]].name, "text", text));
        free(text);
    }
    json_object_set_new(doc, "customer_id", json_integer(x->id));
    json_object_set_new(doc, "model_id", json_string(m->model_id));
    json_object_set_new(doc, "as_of", json_string(x->as_of));
    json_object_set_new(doc, "probability", jnum(x->prob));
    json_object_set_new(doc, "log_odds", jnum(x->logit));
    json_object_set_new(doc, "intercept", jnum(m->intercept));
    json_object_set_new(doc, "threshold", jnum(m->threshold));
    json_object_set_new(doc, "high_risk", json_boolean(x->high_risk));
    json_object_set_new(doc, "unseen_values", json_integer((json_int_t)x->unseen));
    json_object_set_new(doc, "reasons", why);
    json_object_set_new(doc, "contributions", terms);
    return print_json(doc, e);
}

/* ------------------------------------------------------------------ */
/* One customer                                                        */
/* ------------------------------------------------------------------ */

/* The customer's value of a design column, in the feature's own terms. */
static void fmt_value(char *buf, size_t n, const enc_col *c, const expl_term *t)
{
    if (c->kind == ENC_NUMERIC)
        snprintf(buf, n, t->missing ? "missing (%.6g)" : "%.6g", t->value);
    else if (c->kind == ENC_MISSING)
        snprintf(buf, n, "%s", t->value > 0.5 ? "yes" : "no");
    else
        snprintf(buf, n, "%s", t->text ? t->text : "(missing)");
}

static void fmt_avg(char *buf, size_t n, const enc_col *c, double avg)
{
    if (c->kind == ENC_NUMERIC)
        snprintf(buf, n, "%.6g", avg);
    else
        snprintf(buf, n, "%.1f%% yes", 100.0 * avg);
}

/* The term of design column j (terms are sorted by contribution). */
static const expl_term *term_of(const expl_customer *x, int j)
{
    int k;

    for (k = 0; k < x->p; k++)
        if (x->terms[k].j == j)
            return &x->terms[k];
    return &x->terms[0];    /* not reached: every column has a term */
}

static void print_customer(const model *m, const expl_customer *x)
{
    int k;
    double sum = x->logit - m->intercept;

    printf("customer %lld (model %s, features as of %s)\n", x->id, m->model_id,
           x->as_of);
    printf("  probability %.6f: %s (threshold %.6f, policy %s)\n", x->prob,
           x->high_risk ? "HIGH RISK" : "low risk", m->threshold, m->threshold_policy);
    printf("  log-odds %.4f = intercept %.4f + contributions %.4f\n", x->logit,
           m->intercept, sum);
    if (x->unseen)
        printf("  %zu text value(s) not seen at training (scored as \"other\" or "
               "the reference level)\n", x->unseen);
    if (x->high_risk) {
        printf("\nPrincipal reasons (largest contribution above the population's "
               "average):\n");
        for (k = 0; k < x->n_reasons; k++) {
            int j = x->reasons[k];
            char *why = expl_reason_text(m, j);
            const expl_term *t = term_of(x, j);
            printf("  %d. %s  [%s: contribution %+.4f, average %+.4f]\n", k + 1,
                   why, m->enc.cols[j].name, t->contrib, t->avg_contrib);
            free(why);
        }
        if (!x->n_reasons)
            printf("  (no feature contributes more than its population average)\n");
    } else {
        printf("\nNo reasons: reason codes are given for high-risk decisions only.\n");
    }
    printf("\nContributions to the log-odds (coefficient x standardised value), "
           "largest first:\n");
    printf("  %-44s %-28s %-18s %-14s %10s %12s\n", "feature", "column", "value",
           "population avg", "contrib.", "avg contrib.");
    for (k = 0; k < x->p; k++) {
        const expl_term *t = &x->terms[k];
        const enc_col *c = &m->enc.cols[t->j];
        char v[64], a[32];
        fmt_value(v, sizeof v, c, t);
        fmt_avg(a, sizeof a, c, t->avg);
        printf("  %-44.44s %-28.28s %-18.18s %-14.14s %+10.4f %+12.4f\n",
               c->label ? c->label : c->name, c->name, v, a, t->contrib, t->avg_contrib);
    }
}

static int explain_customer(const cli_ctx *ctx, model *m, long long id,
                            const char *as_of, int json, rp_err *e)
{
    db_conn *c = NULL;
    expl_customer x;
    int rc;

    if ((rc = cli_connect(ctx, &c, e)))
        return rc;
    rc = expl_customer_load(c, &ctx->tables, m, id, as_of, &x, e);
    db_close(c);
    if (rc)
        return rc;
    if (json)
        rc = json_customer(m, &x, e);
    else
        print_customer(m, &x);
    expl_customer_free(&x);
    return rc;
}

int cmd_explain(int argc, char **argv, rp_err *e)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"model", required_argument, NULL, OPT_MODEL},
        {"customer", required_argument, NULL, OPT_CUSTOMER},
        {"as-of", required_argument, NULL, OPT_AS_OF},
        {"json", no_argument, NULL, OPT_JSON},
        {0, 0, 0, 0}};
    const char *path = "riskpipe-model.json", *as_of = NULL;
    long id = 0;
    int opt, rc, have_id = 0, json = 0;
    cli_ctx ctx;
    model m;
    expl_fit f;

    cli_ctx_init(&ctx);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
        int h = cli_common_option(&ctx, opt, optarg);
        if (h < 0) {
            printf("%s%s", explain_usage, cli_common_help);
            return RP_OK;
        }
        if (h)
            continue;
        if (opt == OPT_MODEL) {
            path = optarg;
        } else if (opt == OPT_CUSTOMER) {
            if ((rc = cli_parse_long("--customer", optarg, LONG_MIN, LONG_MAX, &id, e)))
                return rc;
            have_id = 1;
        } else if (opt == OPT_JSON) {
            json = 1;
        } else if (opt == OPT_AS_OF) {
            if ((rc = cli_check_date("--as-of", optarg, e)))
                return rc;
            as_of = optarg;
        } else {
            return cli_usage_error(e, "explain", "invalid option \"%s\"", argv[optind - 1]);
        }
    }
    if ((rc = cli_no_args(e, "explain", argc, argv)))
        return rc;
    if (as_of && !have_id)
        return cli_usage_error(e, "explain", "--as-of needs --customer");
    if ((rc = model_load(path, &m, e)))
        return rc;
    if (have_id) {
        rc = explain_customer(&ctx, &m, id, as_of, json, e);
    } else if (json) {
        rc = json_model(&m, e);
    } else {
        expl_fit_summary(&m, &f);
        print_header(&m);
        print_evaluation(&m);
        print_fit(&m, &f);
        print_warnings(&m, &f);
        print_coefs(&m);
    }
    model_free(&m);
    return rc;
}
