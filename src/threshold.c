/*
 * threshold.c - the decision-threshold policies of threshold.h.
 *
 * Purpose.  A risk team picks the cut-off to fit its capacity ("we can
 * review 2% of customers"), its regulator ("catch 80% of the high-risk")
 * or its economics ("a missed default costs ten false alarms").  Each
 * policy is a walk over met_steps: the distinct held-out scores from the
 * highest down, with the counts tp and fp flagged at or above each.
 *
 * Invariants.
 *  - Every candidate threshold is a real held-out score (or 1 for "flag
 *    nobody"), so the confusion matrix that train.c reports at the chosen
 *    threshold is the one the policy optimised, not a neighbour of it.
 *  - Comparisons of rates against a target are made on counts where
 *    possible (tp >= R * P, not tp / P >= R) so that "recall=0.5" with
 *    P = 10 accepts tp = 5 whatever the rounding of 5 / 10.
 *  - Ties are broken towards the higher threshold, i.e. fewer flags:
 *    the cheaper decision when two are equally good.
 */
#include "threshold.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util/mem.h"

thr_policy thr_policy_default(void)
{
    thr_policy p = { THR_F1, 0.0, 0.0 };
    return p;
}

/* A number in (0, hi] that fills the whole of [s, end); 1 on success. */
static int parse_share(const char *s, const char *end, double hi, double *out)
{
    char *stop;
    double v;

    if (s == end)
        return 0;
    v = strtod(s, &stop);
    return stop == end && isfinite(v) && v > 0.0 && v <= hi && (*out = v, 1);
}

static int bad_policy(const char *text, rp_err *e)
{
    rp_err_set(e, RP_EUSAGE, "invalid value \"%.200s\" for --threshold-policy", text);
    rp_err_hint(e, "use f1, recall=R or precision=Q (0 < R, Q <= 1), top=X%% "
                   "(0 < X <= 100) or cost=FN:FP (two positive costs, e.g. cost=10:1)");
    return RP_EUSAGE;
}

int thr_policy_parse(const char *text, thr_policy *p, rp_err *e)
{
    const char *v = strchr(text, '='), *end;
    size_t klen = v ? (size_t)(v - text) : strlen(text);
    int ok = 0;

    *p = thr_policy_default();
    if (!v)
        return strcmp(text, "f1") ? bad_policy(text, e) : RP_OK;
    v++;
    end = v + strlen(v);
    if (klen == 6 && !strncmp(text, "recall", 6)) {
        p->kind = THR_RECALL;
        ok = parse_share(v, end, 1.0, &p->a);
    } else if (klen == 9 && !strncmp(text, "precision", 9)) {
        p->kind = THR_PRECISION;
        ok = parse_share(v, end, 1.0, &p->a);
    } else if (klen == 3 && !strncmp(text, "top", 3)) {
        p->kind = THR_TOP;
        ok = parse_share(v, end > v && end[-1] == '%' ? end - 1 : end, 100.0, &p->a);
    } else if (klen == 4 && !strncmp(text, "cost", 4)) {
        const char *colon = strchr(v, ':');
        p->kind = THR_COST;
        ok = colon && parse_share(v, colon, 1e300, &p->a) &&
             parse_share(colon + 1, end, 1e300, &p->b);
    }
    if (!ok) {
        *p = thr_policy_default();
        return bad_policy(text, e);
    }
    return RP_OK;
}

void thr_policy_name(const thr_policy *p, char *buf, size_t size)
{
    switch (p->kind) {
    case THR_RECALL: snprintf(buf, size, "recall=%g", p->a); break;
    case THR_PRECISION: snprintf(buf, size, "precision=%g", p->a); break;
    case THR_TOP: snprintf(buf, size, "top=%g%%", p->a); break;
    case THR_COST: snprintf(buf, size, "cost=%g:%g", p->a, p->b); break;
    case THR_FIXED: snprintf(buf, size, "fixed"); break;
    default: snprintf(buf, size, "f1"); break;
    }
}

/* The held-out rows as steps (see the file comment). */
typedef struct steps {
    double *thr;
    size_t *tp, *fp;
    size_t k, np, nn;
} steps;

static void steps_make(const double *y, const double *s, size_t n, steps *st)
{
    st->thr = xmallocarray(n ? n : 1, sizeof *st->thr);
    st->tp = xmallocarray(n ? n : 1, sizeof *st->tp);
    st->fp = xmallocarray(n ? n : 1, sizeof *st->fp);
    st->k = met_steps(y, s, n, st->thr, st->tp, st->fp, &st->np, &st->nn);
}

static void steps_free(steps *st)
{
    free(st->thr);
    free(st->tp);
    free(st->fp);
}

/* Highest threshold with tp >= R * P: recall only grows as it falls. */
static double pick_recall(const steps *st, double r)
{
    double need = r * (double)st->np;
    size_t k;

    for (k = 0; k + 1 < st->k; k++)
        if ((double)st->tp[k] >= need * (1.0 - 1e-12))
            break;
    return st->thr[k];
}

/* Lowest threshold with tp >= Q (tp + fp); precision is not monotone, so
 * every step is looked at.  Returns 0 when none qualifies (*best = the
 * highest precision seen). */
static int pick_precision(const steps *st, double q, double *thr, double *best)
{
    int found = 0;

    *best = 0.0;
    for (size_t k = 0; k < st->k; k++) {
        double flagged = (double)(st->tp[k] + st->fp[k]);
        *best = fmax(*best, (double)st->tp[k] / flagged);
        if ((double)st->tp[k] >= q * flagged * (1.0 - 1e-12)) {
            *thr = st->thr[k];
            found = 1;
        }
    }
    return found;
}

/* The k-th highest score, k = ceil(X% of n): the first step flagging at
 * least k rows.  The 1e-9 keeps 2% of 100 from rounding up to 3. */
static double pick_top(const steps *st, double pct, size_t n)
{
    double want = ceil(pct / 100.0 * (double)n - 1e-9);
    size_t k;

    if (want < 1.0)
        want = 1.0;
    for (k = 0; k + 1 < st->k; k++)
        if ((double)(st->tp[k] + st->fp[k]) >= want)
            break;
    return st->thr[k];
}

/* Minimum of A * FN + B * FP, starting from "flag nobody" (threshold 1,
 * cost A * P); a step replaces the best only when strictly cheaper. */
static double pick_cost(const steps *st, double a, double b)
{
    double best = a * (double)st->np, thr = 1.0;

    for (size_t k = 0; k < st->k; k++) {
        double c = a * (double)(st->np - st->tp[k]) + b * (double)st->fp[k];
        if (c < best) {
            best = c;
            thr = st->thr[k];
        }
    }
    return thr;
}

int thr_choose(const thr_policy *p, const double *y, const double *s,
               size_t n, double *thr, rp_err *e)
{
    steps st;
    double best = 0.0;
    int rc = RP_OK;

    if (p->kind == THR_FIXED) {
        *thr = p->a;
        return RP_OK;
    }
    if (n == 0)
        return rp_err_set(e, RP_EDATA, "no held-out customers to choose the threshold on");
    steps_make(y, s, n, &st);
    if (st.np == 0 && p->kind != THR_TOP && p->kind != THR_COST) {
        steps_free(&st);
        return rp_err_set(e, RP_EDATA, "no high-risk customer among the %zu held-out "
                          "customers to choose the threshold on", n);
    }
    switch (p->kind) {
    case THR_RECALL: *thr = pick_recall(&st, p->a); break;
    case THR_PRECISION:
        if (!pick_precision(&st, p->a, thr, &best)) {
            rc = rp_err_set(e, RP_EDATA, "no threshold reaches precision %g on the "
                            "held-out split: the best is %.4f", p->a, best);
            rp_err_hint(e, "lower the target, or choose another --threshold-policy");
        }
        break;
    case THR_TOP: *thr = pick_top(&st, p->a, n); break;
    case THR_COST: *thr = pick_cost(&st, p->a, p->b); break;
    default: *thr = met_best_f1_threshold(y, s, n); break;
    }
    steps_free(&st);
    return rc;
}
