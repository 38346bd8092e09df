/*
 * eval_fill - prints the evaluation record (evaluate.h: curves, DeLong
 * interval, trade-off, calibration, lift, histograms) and the threshold a
 * policy picks for a "y,score" CSV, so that tests/cli/evaluation_reference.sh
 * can compare them with scikit-learn and a numpy DeLong.
 *
 *   eval_fill FILE [POLICY]          (POLICY as --threshold-policy; f1)
 *
 * A first line that does not parse as two numbers is a header.  Output:
 * "name value" lines, and rows "roc I X Y THR", "pr I X Y THR", "to K P R F",
 * "cal K PRED OBS COUNT", "lift K LIFT CAPTURE", "hist K POS NEG",
 * "policy NAME THR TP FP TN FN" and "steps N" (the unthinned curve length);
 * doubles as %.17g (nan for NAN).  Exit 0, 2 on bad input or a policy
 * that fails (message on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "metrics.h"
#include "threshold.h"
#include "util/mem.h"

/* Reads "y,score" rows into y and s (caller frees); the row count, or
 * (size_t)-1 on a bad line. */
static size_t read_csv(FILE *f, double **py, double **ps)
{
    size_t n = 0, cap = 0, len = 0, lineno = 0;
    char *line = NULL;
    double *y = NULL, *s = NULL;

    while (getline(&line, &len, f) != -1) {
        double a, b;
        char c;
        lineno++;
        if (sscanf(line, "%lf,%lf %c", &a, &b, &c) != 2) {
            if (lineno == 1 || line[strspn(line, " \t\r\n")] == '\0')
                continue;
            fprintf(stderr, "eval_fill: line %zu: expected \"y,score\"\n", lineno);
            n = (size_t)-1;
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            y = xreallocarray(y, cap, sizeof *y);
            s = xreallocarray(s, cap, sizeof *s);
        }
        y[n] = a;
        s[n++] = b;
    }
    free(line);
    *py = y;
    *ps = s;
    return n;
}

static void print_eval(const model_eval *v, size_t steps)
{
    int k;

    printf("n %ld\nevents %ld\n", v->n, v->events);
    printf("roc_auc %.17g\nroc_auc_se %.17g\n", v->roc_auc, v->roc_auc_se);
    printf("roc_auc_lo %.17g\nroc_auc_hi %.17g\n", v->roc_auc_lo, v->roc_auc_hi);
    printf("gini %.17g\npr_auc %.17g\n", v->gini, v->pr_auc);
    printf("ks %.17g\nks_score %.17g\nbrier %.17g\n", v->ks, v->ks_score, v->brier);
    printf("steps %zu\n", steps);
    for (k = 0; k < v->n_roc; k++)
        printf("roc %d %.17g %.17g %.17g\n", k, v->roc[k].x, v->roc[k].y, v->roc[k].thr);
    for (k = 0; k < v->n_pr; k++)
        printf("pr %d %.17g %.17g %.17g\n", k, v->pr[k].x, v->pr[k].y, v->pr[k].thr);
    for (k = 0; k < MODEL_TRADEOFF_N; k++)
        printf("to %d %.17g %.17g %.17g\n", k, v->to_precision[k], v->to_recall[k],
               v->to_flagged[k]);
    for (k = 0; k < MODEL_DECILES; k++)
        printf("cal %d %.17g %.17g %ld\n", k, v->cal_pred[k], v->cal_obs[k], v->cal_count[k]);
    for (k = 0; k < MODEL_DECILES; k++)
        printf("lift %d %.17g %.17g\n", k, v->lift[k], v->capture[k]);
    for (k = 0; k < MODEL_HIST_BINS; k++)
        printf("hist %d %ld %ld\n", k, v->hist_pos[k], v->hist_neg[k]);
    printf("policy %s %.17g %ld %ld %ld %ld\n", v->policy, v->threshold, v->tp,
           v->fp, v->tn, v->fn);
}

int main(int argc, char **argv)
{
    FILE *f;
    double *y, *s, thr = 0.5;
    size_t n;
    thr_policy p = thr_policy_default();
    char name[32];
    model_eval *v;
    rp_err e;
    int rc = 0;

    rp_err_clear(&e);
    if (argc < 2 || argc > 3 || !(f = fopen(argv[1], "r"))) {
        fprintf(stderr, "usage: eval_fill FILE [POLICY]\n");
        return 2;
    }
    n = read_csv(f, &y, &s);
    fclose(f);
    if (n != (size_t)-1 && argc > 2)
        rc = thr_policy_parse(argv[2], &p, &e);
    if (n != (size_t)-1 && !rc)
        rc = thr_choose(&p, y, s, n, &thr, &e);
    if (n == (size_t)-1 || rc) {
        if (rc)
            fprintf(stderr, "eval_fill: %s\n", e.msg);
        free(y);
        free(s);
        return 2;
    }
    thr_policy_name(&p, name, sizeof name);
    v = xmalloc(sizeof *v);
    eval_fill(y, s, n, thr, name, v);
    print_eval(v, met_steps(y, s, n, NULL, NULL, NULL, NULL, NULL));
    free(v);
    free(y);
    free(s);
    return 0;
}
