/*
 * report.c - the model report as one self-contained HTML page (report.h).
 *
 * Why hand-written SVG.  The report must open anywhere - an air-gapped
 * validator's laptop, a ticket attachment, a printer - so it may not load
 * a script, a font or a chart library.  Inline SVG is text the browser
 * draws itself, stays sharp when printed, and can be checked by a test
 * (each chart's <title>).  The charts need only lines, rectangles, circles
 * and text, so a small frame (a plot area mapping data to pixels, nice
 * axis ticks, a legend) is all the code there is.
 *
 * Invariants.
 *  - Every string that comes from the model (labels, category names, the
 *    model id) goes through esc(): the page cannot be broken, or made to
 *    run anything, by a hostile category name.
 *  - Numbers are printed with printf's "C" conventions (riskpipe never
 *    calls setlocale), so the SVG coordinates always use a "." decimal.
 *  - Undefined values (NAN: an empty bin, a precision with nothing
 *    flagged) are skipped in curves and shown as "n/a" in tables.
 *  - Colours are the Okabe-Ito palette (distinguishable with the common
 *    colour-vision deficiencies) and every series also differs in dash or
 *    marker, so a grey-scale printout still reads.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "explain.h"
#include "util/mem.h"
#include "util/strbuf.h"
#include "version.h"

/* ------------------------------------------------------------------ */
/* Text and numbers                                                    */
/* ------------------------------------------------------------------ */

/* HTML-escapes s (text and attribute values); control characters become
 * spaces.  At most max bytes of s (0: all), then an ellipsis, never
 * cutting a UTF-8 sequence. */
static void esc_n(sb_t *sb, const char *s, size_t max)
{
    size_t i, n = s ? strlen(s) : 0;

    if (max && n > max) {
        while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
            max--;
        n = max;
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '&': sb_append(sb, "&amp;"); break;
        case '<': sb_append(sb, "&lt;"); break;
        case '>': sb_append(sb, "&gt;"); break;
        case '"': sb_append(sb, "&quot;"); break;
        case '\'': sb_append(sb, "&#39;"); break;
        default: sb_putc(sb, ch < 0x20 || ch == 0x7f ? ' ' : (char)ch);
        }
    }
    if (s && n < strlen(s))
        sb_append(sb, "\xe2\x80\xa6");
}

static void esc(sb_t *sb, const char *s)
{
    esc_n(sb, s, 0);
}

/* x with prec decimals, or "n/a". */
static void num(sb_t *sb, double x, int prec)
{
    if (isfinite(x))
        sb_printf(sb, "%.*f", prec, x);
    else
        sb_append(sb, "n/a");
}

static void pct(sb_t *sb, double x, int prec)
{
    if (isfinite(x))
        sb_printf(sb, "%.*f%%", prec, 100.0 * x);
    else
        sb_append(sb, "n/a");
}

static double ratio(long a, long b)
{
    return b ? (double)a / (double)b : NAN;
}

/* ------------------------------------------------------------------ */
/* The chart frame                                                     */
/* ------------------------------------------------------------------ */

typedef struct chart {
    sb_t *sb;
    double w, h;                /* viewBox size */
    double l, r, t, b;          /* margins around the plot area */
    double x0, x1, y0, y1;      /* data range */
    int xlog;                   /* x on a log scale (x0, x1 > 0) */
    int wide;                   /* spans both columns of the page grid */
} chart;

static double px(const chart *c, double x)
{
    double f = c->xlog ? log(x / c->x0) / log(c->x1 / c->x0)
                       : (x - c->x0) / (c->x1 - c->x0);
    return c->l + f * (c->w - c->l - c->r);
}

static double py(const chart *c, double y)
{
    return c->h - c->b - (y - c->y0) / (c->y1 - c->y0) * (c->h - c->t - c->b);
}

static void chart_init(chart *c, sb_t *sb, double w, double h)
{
    memset(c, 0, sizeof *c);
    c->sb = sb;
    c->w = w;
    c->h = h;
    c->l = 58;
    c->r = 16;
    c->t = 14;
    c->b = 46;
    c->x1 = c->y1 = 1;
}

/* <figure><svg ...><title>title</title><desc>desc</desc> */
static void chart_open(chart *c, const char *title, const char *desc)
{
    sb_printf(c->sb, "<figure%s><svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
              "xmlns=\"http://www.w3.org/2000/svg\"><title>",
              c->wide ? " class=\"wide\"" : "", c->w, c->h);
    esc(c->sb, title);
    sb_append(c->sb, "</title><desc>");
    esc(c->sb, desc);
    sb_append(c->sb, "</desc>\n");
}

/* </svg><figcaption>caption</figcaption></figure>; caption is HTML. */
static void chart_close(chart *c, const char *caption_html)
{
    sb_printf(c->sb, "</svg><figcaption>%s</figcaption></figure>\n",
              caption_html ? caption_html : "");
}

/* Ticks at multiples of a 1/2/2.5/5 x 10^k step, about `want` of them. */
static int nice_ticks(double lo, double hi, int want, double *t, int max)
{
    static const double mult[] = {1, 2, 2.5, 5, 10};
    double raw = (hi - lo) / (want > 1 ? want : 1), mag, step = 1, v;
    int i, n = 0;

    if (!(hi > lo) || !isfinite(raw))
        return 0;
    mag = pow(10, floor(log10(raw)));
    for (i = 0; i < 5; i++)
        if ((step = mult[i] * mag) >= raw)
            break;
    for (v = ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9 && n < max; v += step)
        t[n++] = fabs(v) < step * 1e-9 ? 0.0 : v;
    return n;
}

/* Decimals that show a tick step exactly (0.25 -> 2, 5 -> 0). */
static int tick_decimals(const double *t, int n)
{
    int d;

    for (d = 0; d < 4; d++) {
        double s = pow(10, d);
        int i, ok = 1;
        for (i = 0; i < n; i++)
            ok &= fabs(t[i] * s - round(t[i] * s)) < 1e-6;
        if (ok)
            return d;
    }
    return 4;
}

/* Grid lines, tick labels and the axis title along the bottom. */
static void axis_x(chart *c, const double *t, int n, int as_pct, const char *label)
{
    int i, d = tick_decimals(t, n) - (as_pct ? 2 : 0);

    for (i = 0; i < n; i++) {
        double x = px(c, t[i]);
        sb_printf(c->sb, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                  "y2=\"%.1f\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                  x, c->t, x, c->h - c->b, x, c->h - c->b + 16);
        if (as_pct)
            sb_printf(c->sb, "%.*f%%", d > 0 ? d : 0, 100 * t[i]);
        else if (c->xlog)
            sb_printf(c->sb, "%g", t[i]);
        else
            sb_printf(c->sb, "%.*f", d, t[i]);
        sb_append(c->sb, "</text>");
    }
    sb_printf(c->sb, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
              "<text class=\"atitle\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
              c->l, c->h - c->b, c->w - c->r, c->h - c->b,
              (c->l + c->w - c->r) / 2, c->h - 10);
    esc(c->sb, label);
    sb_append(c->sb, "</text>\n");
}

/* The same on the left, the title rotated. */
static void axis_y(chart *c, const double *t, int n, int as_pct, const char *label)
{
    int i, d = tick_decimals(t, n) - (as_pct ? 2 : 0);

    for (i = 0; i < n; i++) {
        double y = py(c, t[i]);
        sb_printf(c->sb, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                  "y2=\"%.1f\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                  c->l, y, c->w - c->r, y, c->l - 6, y + 4);
        if (as_pct)
            sb_printf(c->sb, "%.*f%%", d > 0 ? d : 0, 100 * t[i]);
        else
            sb_printf(c->sb, "%.*f", d, t[i]);
        sb_append(c->sb, "</text>");
    }
    sb_printf(c->sb, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
              "<text class=\"atitle\" transform=\"translate(14 %.1f) rotate(-90)\" "
              "text-anchor=\"middle\">", c->l, c->t, c->l, c->h - c->b,
              (c->t + c->h - c->b) / 2);
    esc(c->sb, label);
    sb_append(c->sb, "</text>\n");
}

/* Both axes over [0, 1] x [0, 1], as shares, for the curves. */
static void unit_axes(chart *c, const char *xlabel, const char *ylabel)
{
    double t[12];
    int n = nice_ticks(0, 1, 5, t, 12);

    axis_x(c, t, n, 0, xlabel);
    axis_y(c, t, n, 0, ylabel);
}

/* A polyline through the finite points (x[k], y[k]). */
static void polyline(chart *c, const double *x, const double *y, int n,
                     const char *cls)
{
    int k;

    sb_printf(c->sb, "<polyline class=\"%s\" points=\"", cls);
    for (k = 0; k < n; k++)
        if (isfinite(x[k]) && isfinite(y[k]))
            sb_printf(c->sb, "%.1f,%.1f ", px(c, x[k]), py(c, y[k]));
    sb_append(c->sb, "\"/>\n");
}

static void segment(chart *c, double xa, double ya, double xb, double yb,
                    const char *cls)
{
    sb_printf(c->sb, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
              cls, px(c, xa), py(c, ya), px(c, xb), py(c, yb));
}

static void dot(chart *c, double x, double y, double r, const char *cls)
{
    if (isfinite(x) && isfinite(y))
        sb_printf(c->sb, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"/>\n",
                  cls, px(c, x), py(c, y), r);
}

/* Text at data coordinates (x, y) moved by (dx, dy) pixels. */
static void label_at(chart *c, double x, double y, double dx, double dy,
                     const char *anchor, const char *text)
{
    sb_printf(c->sb, "<text class=\"note\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">",
              px(c, x) + dx, py(c, y) + dy, anchor);
    esc(c->sb, text);
    sb_append(c->sb, "</text>\n");
}

/* A legend box at pixel (x, y): a swatch in class cls[i] and names[i]. */
static void legend(chart *c, double x, double y, const char *const *names,
                   const char *const *cls, int n)
{
    double wmax = 0;
    int i;

    for (i = 0; i < n; i++) {
        double w = 7.0 * (double)strlen(names[i]);
        wmax = w > wmax ? w : wmax;
    }
    sb_printf(c->sb, "<rect class=\"legend\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
              "height=\"%d\" rx=\"4\"/>", x, y, wmax + 44, 18 * n + 8);
    for (i = 0; i < n; i++) {
        double yy = y + 16 + 18 * i;
        if (!strncmp(cls[i], "bar", 3))
            sb_printf(c->sb, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"22\" "
                      "height=\"10\"/>", cls[i], x + 8, yy - 9);
        else
            sb_printf(c->sb, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                      "y2=\"%.1f\"/>", cls[i], x + 8, yy - 4, x + 30, yy - 4);
        sb_printf(c->sb, "<text x=\"%.1f\" y=\"%.1f\">", x + 36, yy);
        esc(c->sb, names[i]);
        sb_append(c->sb, "</text>");
    }
    sb_append(c->sb, "\n");
}

/* "Not recorded" in the middle of an empty plot. */
static void no_data(chart *c)
{
    sb_printf(c->sb, "<text class=\"note\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
              "not recorded in this model</text>\n", c->w / 2, c->h / 2);
}

/* The smallest tick step multiple at or above x (for a y range). */
static double nice_ceil(double x)
{
    double t[32];
    int n;

    if (!(x > 0))
        return 1;
    n = nice_ticks(0, x, 5, t, 32);
    if (n < 2)
        return x;
    return t[n - 1] < x - 1e-12 ? t[n - 1] + (t[1] - t[0]) : t[n - 1];
}

/* ------------------------------------------------------------------ */
/* Ranking charts: ROC, PR, KS                                         */
/* ------------------------------------------------------------------ */

static void split_points(const model_point *pt, int n, double *x, double *y)
{
    int k;

    for (k = 0; k < n; k++) {
        x[k] = pt[k].x;
        y[k] = pt[k].y;
    }
}

static void roc_chart(sb_t *sb, const model *m)
{
    const model_eval *v = &m->eval;
    double x[MODEL_CURVE_MAX], y[MODEL_CURVE_MAX], d[2] = {0, 1};
    char l1[64], l3[64];
    const char *names[3], *cls[3] = {"s1", "s0", "pt"};
    chart c;

    chart_init(&c, sb, 520, 380);
    chart_open(&c, REPORT_T_ROC, "true positive rate against false positive "
               "rate on the held-out split");
    unit_axes(&c, "false positive rate (share of low-risk flagged)",
              "true positive rate (recall)");
    if (v->n_roc == 0) {
        no_data(&c);
    } else {
        split_points(v->roc, v->n_roc, x, y);
        polyline(&c, d, d, 2, "s0");
        polyline(&c, x, y, v->n_roc, "s1");
        dot(&c, ratio(v->fp, v->fp + v->tn), ratio(v->tp, v->tp + v->fn), 5, "pt");
        snprintf(l1, sizeof l1, "model (AUC %.3f)", v->roc_auc);
        snprintf(l3, sizeof l3, "threshold %.3f", v->threshold);
        names[0] = l1;
        names[1] = "chance (AUC 0.5)";
        names[2] = l3;
        legend(&c, px(&c, 0.42), py(&c, 0.30), names, cls, 3);
    }
    chart_close(&c, "Each point is a score threshold; the dot is the chosen one. "
                "The further up and left, the better.");
}

static void pr_chart(sb_t *sb, const model *m)
{
    const model_eval *v = &m->eval;
    double x[MODEL_CURVE_MAX], y[MODEL_CURVE_MAX], base = ratio(v->events, v->n);
    char l1[64], l2[64], l3[64];
    const char *names[3], *cls[3] = {"s1", "s0", "pt"};
    chart c;

    chart_init(&c, sb, 520, 380);
    chart_open(&c, REPORT_T_PR, "precision against recall on the held-out split");
    unit_axes(&c, "recall (share of high-risk found)", "precision (share of flagged that are high-risk)");
    if (v->n_pr == 0) {
        no_data(&c);
    } else {
        split_points(v->pr, v->n_pr, x, y);
        segment(&c, 0, base, 1, base, "s0");
        polyline(&c, x, y, v->n_pr, "s1");
        dot(&c, v->recall, v->precision, 5, "pt");
        snprintf(l1, sizeof l1, "model (average precision %.3f)", v->pr_auc);
        snprintf(l2, sizeof l2, "base rate (%.1f%%)", 100 * base);
        snprintf(l3, sizeof l3, "threshold %.3f", v->threshold);
        names[0] = l1;
        names[1] = l2;
        names[2] = l3;
        /* low recall, low precision: the corner a PR curve avoids */
        legend(&c, px(&c, 0.03), py(&c, base > 0.5 ? 0.27 : base + 0.27), names, cls, 3);
    }
    chart_close(&c, "Precision falls as the threshold is lowered to find more "
                "high-risk customers; the dashed line is what random flagging gives.");
}

/* KS: share of each class scoring at or above each threshold. */
static void ks_chart(sb_t *sb, const model *m)
{
    const model_eval *v = &m->eval;
    double t[MODEL_CURVE_MAX], tpr[MODEL_CURVE_MAX], fpr[MODEL_CURVE_MAX];
    char note[64];
    const char *names[3] = {"high-risk customers", "low-risk customers", note};
    const char *cls[3] = {"s2", "s3", "gap"};
    int k, n = 0, best = -1;
    chart c;

    chart_init(&c, sb, 520, 380);
    chart_open(&c, REPORT_T_KS, "share of each class scoring at or above each "
               "threshold; KS is the largest gap");
    unit_axes(&c, "score threshold", "share scoring at or above the threshold");
    for (k = 0; k < v->n_roc; k++) {
        if (!isfinite(v->roc[k].thr))
            continue;
        t[n] = v->roc[k].thr < 1 ? v->roc[k].thr : 1;
        tpr[n] = v->roc[k].y;
        fpr[n] = v->roc[k].x;
        if (best < 0 || tpr[n] - fpr[n] > tpr[best] - fpr[best])
            best = n;
        n++;
    }
    if (n == 0) {
        no_data(&c);
    } else {
        polyline(&c, t, tpr, n, "s2");
        polyline(&c, t, fpr, n, "s3");
        segment(&c, t[best], fpr[best], t[best], tpr[best], "gap");
        snprintf(note, sizeof note, "KS %.3f at score %.3f", v->ks, v->ks_score);
        legend(&c, px(&c, 0.5), py(&c, 0.98), names, cls, 3);
    }
    chart_close(&c, "Kolmogorov-Smirnov: the largest vertical gap between the two "
                "curves is the best separation of the classes at one threshold.");
}

/* ------------------------------------------------------------------ */
/* Calibration, score distribution, lift                               */
/* ------------------------------------------------------------------ */

static void cal_chart(sb_t *sb, const model *m)
{
    const model_eval *v = &m->eval;
    double x[MODEL_DECILES], y[MODEL_DECILES], top = 0, t[12], d[2];
    const char *names[2] = {"deciles of the test split", "perfect calibration"};
    const char *cls[2] = {"s1m", "s0"};
    int k, n = 0, nt;
    chart c;

    for (k = 0; k < MODEL_DECILES; k++) {
        if (v->cal_count[k] <= 0)
            continue;
        x[n] = v->cal_pred[k];
        y[n] = v->cal_obs[k];
        top = fmax(top, fmax(x[n], y[n]));
        n++;
    }
    chart_init(&c, sb, 520, 380);
    c.x1 = c.y1 = d[1] = nice_ceil(top);
    d[0] = 0;
    chart_open(&c, REPORT_T_CAL, "observed high-risk rate against mean predicted "
               "probability, by decile of the score");
    nt = nice_ticks(0, c.x1, 5, t, 12);
    axis_x(&c, t, nt, 1, "mean predicted probability");
    axis_y(&c, t, nt, 1, "observed high-risk rate");
    polyline(&c, d, d, 2, "s0");
    if (n == 0) {
        no_data(&c);
    } else {
        polyline(&c, x, y, n, "s1");
        for (k = 0; k < n; k++)
            dot(&c, x[k], y[k], 4, "s1d");
        legend(&c, c.l + 10, c.t + 6, names, cls, 2);
    }
    chart_close(&c, "Points on the diagonal mean the probabilities can be read as "
                "rates; above it the model under-predicts risk.");
}

static void hist_chart(sb_t *sb, const model *m)
{
    const model_eval *v = &m->eval;
    double sp = 0, sn = 0, top = 0, t[12], bw = 1.0 / MODEL_HIST_BINS;
    const char *cls[3] = {"bar2", "bar3", "thr"};
    char l1[48], l2[48], l3[48];
    const char *names[3] = {l1, l2, l3};
    int k, nt;
    chart c;

    for (k = 0; k < MODEL_HIST_BINS; k++) {
        sp += (double)v->hist_pos[k];
        sn += (double)v->hist_neg[k];
    }
    for (k = 0; k < MODEL_HIST_BINS; k++)
        top = fmax(top, fmax(sp > 0 ? v->hist_pos[k] / sp : 0, sn > 0 ? v->hist_neg[k] / sn : 0));
    chart_init(&c, sb, 520, 380);
    c.y1 = nice_ceil(top);
    chart_open(&c, REPORT_T_HIST, "share of each class in each score band of width 0.05");
    nt = nice_ticks(0, 1, 5, t, 12);
    axis_x(&c, t, nt, 0, "predicted probability");
    nt = nice_ticks(0, c.y1, 5, t, 12);
    axis_y(&c, t, nt, 1, "share of the class");
    for (k = 0; k < MODEL_HIST_BINS && sp + sn > 0; k++) {
        double x = k * bw, hp = sp > 0 ? v->hist_pos[k] / sp : 0, hn = sn > 0 ? v->hist_neg[k] / sn : 0;
        sb_printf(sb, "<rect class=\"bar3\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
                  "<rect class=\"bar2\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
                  px(&c, x) + 1, py(&c, hn), px(&c, x + bw / 2) - px(&c, x) - 1, py(&c, 0) - py(&c, hn),
                  px(&c, x + bw / 2), py(&c, hp), px(&c, x + bw / 2) - px(&c, x) - 1, py(&c, 0) - py(&c, hp));
    }
    if (sp + sn > 0) {
        segment(&c, m->threshold, 0, m->threshold, c.y1, "thr");
        snprintf(l1, sizeof l1, "high-risk (%ld)", v->events);
        snprintf(l2, sizeof l2, "low-risk (%ld)", v->n - v->events);
        snprintf(l3, sizeof l3, "threshold %.3f", m->threshold);
        legend(&c, px(&c, 0.6), c.t + 6, names, cls, 3);
    } else {
        no_data(&c);
    }
    chart_close(&c, "Each class sums to 100%. Customers right of the threshold are "
                "flagged high-risk.");
}

static void lift_chart(sb_t *sb, const model *m)
{
    const model_eval *v = &m->eval;
    double top = 1, t[12], bw;
    char txt[32];
    int k, nt, any = 0;
    chart c;

    for (k = 0; k < MODEL_DECILES; k++)
        if (isfinite(v->lift[k])) {
            top = fmax(top, v->lift[k]);
            any = 1;
        }
    chart_init(&c, sb, 520, 380);
    c.x0 = 0.5;
    c.x1 = MODEL_DECILES + 0.5;
    c.y1 = nice_ceil(top * 1.08);
    chart_open(&c, REPORT_T_LIFT, "positive rate in each score decile divided by "
               "the overall rate; decile 1 holds the highest scores");
    for (k = 0; k < MODEL_DECILES; k++)
        t[k] = k + 1;
    axis_x(&c, t, MODEL_DECILES, 0, "score decile (1 = highest 10% of scores)");
    nt = nice_ticks(0, c.y1, 5, t, 12);
    axis_y(&c, t, nt, 0, "lift (x the average rate)");
    bw = px(&c, 1.35) - px(&c, 0.65);
    for (k = 0; k < MODEL_DECILES && any; k++) {
        double l = isfinite(v->lift[k]) ? v->lift[k] : 0;
        sb_printf(sb, "<rect class=\"bar1\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                  "height=\"%.1f\"/>", px(&c, k + 0.65), py(&c, l), bw, py(&c, 0) - py(&c, l));
        snprintf(txt, sizeof txt, "%.2f", l);
        label_at(&c, k + 1, l, 0, -5, "middle", txt);
    }
    if (any)
        segment(&c, 0.5, 1, MODEL_DECILES + 0.5, 1, "s0");
    else
        no_data(&c);
    chart_close(&c, "Bars above the dashed line (lift 1) hold more high-risk "
                "customers than average; see the table for the cumulative share found.");
}

/* ------------------------------------------------------------------ */
/* Confusion matrix and threshold trade-off                            */
/* ------------------------------------------------------------------ */

static void conf_cell(sb_t *sb, double x, double y, long cnt, long n,
                      const char *name, int good)
{
    double share = ratio(cnt, n);
    double a = isfinite(share) ? 0.12 + 0.6 * sqrt(share) : 0.1;

    sb_printf(sb, "<rect x=\"%.0f\" y=\"%.0f\" width=\"170\" height=\"96\" "
              "fill=\"%s\" fill-opacity=\"%.2f\" stroke=\"#fff\" stroke-width=\"3\"/>",
              x, y, good ? "#009E73" : "#D55E00", a);
    sb_printf(sb, "<text class=\"big\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%ld</text>",
              x + 85, y + 46, cnt);
    sb_printf(sb, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%s, ", x + 85, y + 70, name);
    pct(sb, share, 1);
    sb_append(sb, "</text>\n");
}

static void conf_chart(sb_t *sb, const model *m)
{
    const model_eval *v = &m->eval;
    chart c;
    sb_t cap = {0};
    long n = v->tp + v->fp + v->tn + v->fn;

    chart_init(&c, sb, 520, 300);
    chart_open(&c, REPORT_T_CONF, "counts of held-out customers by actual class "
               "and decision at the chosen threshold");
    sb_append(sb, "<text class=\"atitle\" x=\"325\" y=\"22\" text-anchor=\"middle\">decision</text>"
                  "<text x=\"240\" y=\"44\" text-anchor=\"middle\">high-risk (flagged)</text>"
                  "<text x=\"410\" y=\"44\" text-anchor=\"middle\">low-risk</text>"
                  "<text class=\"atitle\" transform=\"translate(24 155) rotate(-90)\" "
                  "text-anchor=\"middle\">actual</text>"
                  "<text x=\"148\" y=\"108\" text-anchor=\"end\">high-risk</text>"
                  "<text x=\"148\" y=\"204\" text-anchor=\"end\">low-risk</text>\n");
    conf_cell(sb, 155, 55, v->tp, n, "true positives", 1);
    conf_cell(sb, 325, 55, v->fn, n, "missed", 0);
    conf_cell(sb, 155, 151, v->fp, n, "false alarms", 0);
    conf_cell(sb, 325, 151, v->tn, n, "true negatives", 1);
    sb_printf(sb, "<text x=\"325\" y=\"276\" text-anchor=\"middle\">threshold %.3f (",
              v->threshold);
    esc(sb, v->policy[0] ? v->policy : m->threshold_policy);
    sb_append(sb, "): precision ");
    pct(sb, v->precision, 1);
    sb_append(sb, ", recall ");
    pct(sb, v->recall, 1);
    sb_append(sb, ", F1 ");
    num(sb, v->f1, 3);
    sb_append(sb, "</text>\n");
    sb_append(&cap, "Percentages are of all held-out customers (");
    sb_printf(&cap, "%ld). Flagged share ", n);
    pct(&cap, v->flagged, 1);
    sb_append(&cap, ".");
    chart_close(&c, sb_str(&cap));
    sb_free(&cap);
}

static void trade_chart(sb_t *sb, const model *m)
{
    const model_eval *v = &m->eval;
    double t[MODEL_TRADEOFF_N];
    const char *names[4] = {"precision", "recall", "share flagged", "chosen threshold"};
    const char *cls[4] = {"s1", "s2", "s4", "thr"};
    int k;
    chart c;

    for (k = 0; k < MODEL_TRADEOFF_N; k++)
        t[k] = (double)k / (MODEL_TRADEOFF_N - 1);
    chart_init(&c, sb, 1060, 360);
    c.wide = 1;
    c.r = 200;
    chart_open(&c, REPORT_T_TRADE, "precision, recall and share of customers "
               "flagged against the score threshold, held-out split");
    unit_axes(&c, "score threshold (flag when probability >= threshold)", "share");
    if (v->n == 0) {
        no_data(&c);
    } else {
        polyline(&c, t, v->to_precision, MODEL_TRADEOFF_N, "s1");
        polyline(&c, t, v->to_recall, MODEL_TRADEOFF_N, "s2");
        polyline(&c, t, v->to_flagged, MODEL_TRADEOFF_N, "s4");
        segment(&c, m->threshold, 0, m->threshold, 1, "thr");
        legend(&c, c.w - c.r + 14, c.t + 6, names, cls, 4);
    }
    chart_close(&c, "Move the threshold right to flag fewer customers with higher "
                "precision, left to find more of the high-risk ones.");
}

/* Precision, recall and flagged share at round thresholds, beside the
 * confusion matrix: what a team with a review capacity looks up. */
static void trade_table(sb_t *sb, const model *m)
{
    static const int at[] = {5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80};
    const model_eval *v = &m->eval;
    size_t i;

    sb_append(sb, "<div><table><tr><th class=\"n\">threshold</th><th class=\"n\">"
                  "flagged</th><th class=\"n\">precision</th><th class=\"n\">recall"
                  "</th></tr>\n");
    for (i = 0; i < sizeof at / sizeof *at && v->n > 0; i++) {
        int k = at[i] * (MODEL_TRADEOFF_N - 1) / 100;
        sb_printf(sb, "<tr><td class=\"n\">%.2f</td><td class=\"n\">", (double)at[i] / 100);
        pct(sb, v->to_flagged[k], 1);
        sb_append(sb, "</td><td class=\"n\">");
        pct(sb, v->to_precision[k], 1);
        sb_append(sb, "</td><td class=\"n\">");
        pct(sb, v->to_recall[k], 1);
        sb_append(sb, "</td></tr>\n");
    }
    sb_append(sb, "</table><p class=\"sub\">On the held-out split; a customer is "
                  "flagged when the probability is at least the threshold.</p></div>\n");
}

/* ------------------------------------------------------------------ */
/* Odds ratios                                                         */
/* ------------------------------------------------------------------ */

static const model *zsort_m;

/* By |z|, largest first; ties by column. */
static int by_abs_z(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    double zi = fabs(zsort_m->beta[i] / zsort_m->se[i + 1]);
    double zj = fabs(zsort_m->beta[j] / zsort_m->se[j + 1]);

    if (isnan(zi) != isnan(zj))
        return isnan(zi) ? 1 : -1;
    if (zi != zj)
        return zi < zj ? 1 : -1;
    return i - j;
}

/* The shown columns, by |z|; their number. */
static int coef_rows(const model *m, int max, int *idx)
{
    int j;

    for (j = 0; j < m->p; j++)
        idx[j] = j;
    zsort_m = m;
    qsort(idx, (size_t)m->p, sizeof *idx, by_abs_z);
    return m->p < max ? m->p : max;
}

/* A log range covering the CIs, clamped to [1e-3, 1e3]. */
static void or_range(const model *m, const int *idx, int n, double *lo, double *hi)
{
    expl_coef e;
    int k;

    *lo = 0.8;
    *hi = 1.25;
    for (k = 0; k < n; k++) {
        expl_coef_row(m, idx[k], &e);
        if (isfinite(e.odds_lo))
            *lo = fmin(*lo, e.odds_lo);
        if (isfinite(e.odds_hi))
            *hi = fmax(*hi, e.odds_hi);
    }
    *lo = fmax(*lo / 1.1, 1e-3);
    *hi = fmin(*hi * 1.1, 1e3);
}

/* Log-scale ticks: powers of two (or ten for wide ranges). */
static int or_ticks(double lo, double hi, double *t, int max)
{
    double base = hi / lo > 64 ? 10 : 2, v;
    int n = 0;

    for (v = pow(base, ceil(log(lo) / log(base) - 1e-9)); v <= hi * (1 + 1e-9) && n < max; v *= base)
        t[n++] = v;
    return n;
}

static void coef_row_svg(chart *c, const model *m, int j, double y)
{
    expl_coef e;
    double lo, hi;

    expl_coef_row(m, j, &e);
    lo = fmax(fmin(e.odds_lo, c->x1), c->x0);
    hi = fmax(fmin(e.odds_hi, c->x1), c->x0);
    sb_printf(c->sb, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", c->l - 8, y + 4);
    esc_n(c->sb, e.label, 46);
    sb_append(c->sb, "</text>");
    if (isfinite(lo) && isfinite(hi))
        sb_printf(c->sb, "<line class=\"ci\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                  px(c, lo), y, px(c, hi), y);
    if (isfinite(e.odds) && e.odds >= c->x0 && e.odds <= c->x1)
        sb_printf(c->sb, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\"/>",
                  e.est > 0 ? "up" : "down", px(c, e.odds), y);
    sb_printf(c->sb, "<text class=\"note\" x=\"%.1f\" y=\"%.1f\">", c->w - c->r + 10, y + 4);
    num(c->sb, e.odds, 2);
    sb_append(c->sb, " [");
    num(c->sb, e.odds_lo, 2);
    sb_append(c->sb, ", ");
    num(c->sb, e.odds_hi, 2);
    sb_append(c->sb, "]</text>\n");
}

static void coef_chart(sb_t *sb, const model *m, int max)
{
    int *idx = xcalloc((size_t)m->p + 1, sizeof *idx), n, k, nt;
    double t[16];
    chart c;
    sb_t cap = {0};

    n = coef_rows(m, max, idx);
    chart_init(&c, sb, 1060, 60 + 24.0 * (n > 0 ? n : 1));
    c.wide = 1;
    c.l = 330;
    c.r = 150;
    c.t = 10;
    c.xlog = 1;
    c.y0 = 0;
    c.y1 = n > 0 ? n : 1;
    or_range(m, idx, n, &c.x0, &c.x1);
    chart_open(&c, REPORT_T_COEF, "odds ratio per standard deviation of each "
               "feature, with its 95% confidence interval, features with the "
               "largest |z| first");
    nt = or_ticks(c.x0, c.x1, t, 16);
    axis_x(&c, t, nt, 0, "odds ratio per standard deviation (log scale)");
    segment(&c, 1, c.y0, 1, c.y1, "s0");
    for (k = 0; k < n; k++)
        coef_row_svg(&c, m, idx[k], py(&c, n - k - 0.5));
    sb_printf(&cap, "The %d of %d features with the largest |z|. Right of 1 (orange) "
              "raises the risk, left of 1 (blue) lowers it; standard errors from "
              "the inverse of the %s Hessian.", n, m->p,
              isfinite(m->C) ? "penalised" : "unpenalised");
    chart_close(&c, sb_str(&cap));
    sb_free(&cap);
    free(idx);
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

static void kv(sb_t *sb, const char *k, const char *v_html)
{
    sb_append(sb, "<tr><th>");
    esc(sb, k);
    sb_printf(sb, "</th><td>%s</td></tr>\n", v_html);
}

/* A key/value row with a printf value (escaped). */
static void kvf(sb_t *sb, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void kvf(sb_t *sb, const char *k, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    sb_t v = {0};

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    esc(&v, buf);
    kv(sb, k, sb_str(&v));
    sb_free(&v);
}

/* A summary tile: name, the value x (prec decimals, "n/a" when not
 * finite) and an optional small line of HTML under it. */
static void tile(sb_t *sb, const char *name, double x, int prec, const char *small_html)
{
    sb_append(sb, "<div class=\"tile\"><span>");
    esc(sb, name);
    sb_append(sb, "</span><b>");
    num(sb, x, prec);
    if (small_html)
        sb_printf(sb, "<small>%s</small>", small_html);
    sb_append(sb, "</b></div>");
}

static void tiles(sb_t *sb, const model *m)
{
    const model_eval *v = &m->eval;
    sb_t s = {0};

    sb_append(sb, "<div class=\"tiles\">");
    if (isfinite(v->roc_auc_lo) && isfinite(v->roc_auc_hi))
        sb_printf(&s, "95%% CI %.3f&ndash;%.3f", v->roc_auc_lo, v->roc_auc_hi);
    tile(sb, "ROC AUC", m->test.roc_auc, 3, s.len ? sb_str(&s) : NULL);
    tile(sb, "Gini", isfinite(v->gini) ? v->gini : 2 * m->test.roc_auc - 1, 3, NULL);
    tile(sb, "PR AUC", m->test.pr_auc, 3, NULL);
    sb_clear(&s);
    sb_append(&s, "at score ");
    num(&s, m->test.ks_score, 3);
    tile(sb, "KS", m->test.ks, 3, sb_str(&s));
    tile(sb, "Brier score", m->test.brier, 4, NULL);
    sb_clear(&s);
    esc(&s, m->threshold_policy);
    tile(sb, "Threshold", m->threshold, 3, sb_str(&s));
    sb_free(&s);
    sb_append(sb, "</div>\n");
}

/* The "other" column of a text source: share of training rows in it. */
static double other_share(const model *m, const char *source, int *kept)
{
    double share = 0;
    int j;

    *kept = 0;
    for (j = 0; j < m->p; j++) {
        const enc_col *c = &m->enc.cols[j];
        if (!c->source || strcmp(c->source, source))
            continue;
        if (c->kind == ENC_LEVEL)
            (*kept)++;
        else if (c->kind == ENC_OTHER)
            share = c->mean;
    }
    for (j = 0; j < m->enc.n_ref; j++)
        *kept += !strcmp(m->enc.ref_sources[j], source);
    return share;
}

/* The feature columns that were never missing and are not text: named
 * in one sentence instead of a table row each. */
static void complete_columns(sb_t *sb, const model_diag *d)
{
    int i, n = 0;

    for (i = 0; i < d->n_feat; i++)
        n += !d->feat[i].categorical && d->feat[i].missing == 0;
    if (n == 0)
        return;
    sb_printf(sb, "<p class=\"sub\">%d numeric columns have no missing values: ", n);
    for (i = 0; i < d->n_feat; i++) {
        if (d->feat[i].categorical || d->feat[i].missing)
            continue;
        esc(sb, d->feat[i].label);
        sb_append(sb, --n ? "; " : ".");
    }
    sb_append(sb, "</p>\n");
}

/* Missing rates of the columns that have missing values, and the text
 * columns' levels; the complete numeric columns in one sentence. */
static void feature_table(sb_t *sb, const model *m)
{
    const model_diag *d = &m->diag;
    int i, kept;

    if (!d->feat) {
        sb_append(sb, "<p class=\"sub\">Per-column missing rates were not recorded "
                      "in this model (trained before riskpipe recorded them).</p>\n");
        return;
    }
    sb_append(sb, "<table class=\"feat\"><tr><th>feature</th><th>column</th>"
                  "<th class=\"n\">missing</th><th></th><th>text values</th></tr>\n");
    for (i = 0; i < d->n_feat; i++) {
        const model_featstat *f = &d->feat[i];
        double miss = ratio(f->missing, m->n_customers);
        if (!f->categorical && f->missing == 0)
            continue;
        sb_append(sb, "<tr><td>");
        esc(sb, f->label);
        sb_append(sb, "</td><td><code>");
        esc(sb, f->name);
        sb_append(sb, "</code></td><td class=\"n\">");
        pct(sb, miss, 1);
        sb_printf(sb, "</td><td><div class=\"mbar\"><i style=\"width:%.1f%%\"></i></div></td><td>",
                  isfinite(miss) ? 100 * miss : 0);
        if (f->categorical) {
            double o = other_share(m, f->name, &kept);
            sb_printf(sb, "%ld distinct; %d kept, ", f->levels, kept);
            pct(sb, o, 1);
            sb_append(sb, " of training rows rare &rarr; &ldquo;other&rdquo;");
        }
        sb_append(sb, "</td></tr>\n");
    }
    sb_append(sb, "</table>\n");
    complete_columns(sb, d);
}

static void runs_table(sb_t *sb, const report_opts *o)
{
    int i;

    if (!o->runs) {
        sb_append(sb, "<p class=\"sub\">Values unseen at training are counted at "
                      "each scoring run (<code>riskpipe_runs.unseen_categories</code>); "
                      "run <code>riskpipe report</code> with <code>--db</code> to list "
                      "this model's runs here.</p>\n");
        return;
    }
    if (o->n_runs == 0) {
        sb_append(sb, "<p class=\"sub\">This model has not scored any customers yet, "
                      "so no unseen categories have been counted.</p>\n");
        return;
    }
    sb_append(sb, "<table><tr><th>scoring run started</th><th class=\"n\">customers "
                  "scored</th><th class=\"n\">flagged high-risk</th><th class=\"n\">"
                  "unseen text values</th><th>status</th></tr>\n");
    for (i = 0; i < o->n_runs; i++) {
        const report_run *r = &o->runs[i];
        sb_append(sb, "<tr><td>");
        esc(sb, r->started_at);
        sb_printf(sb, "</td><td class=\"n\">%ld</td><td class=\"n\">%ld</td>"
                  "<td class=\"n\">%ld</td><td>", r->scored, r->high_risk, r->unseen);
        esc(sb, r->status);
        sb_append(sb, "</td></tr>\n");
    }
    sb_append(sb, "</table>\n");
}

static void data_section(sb_t *sb, const model *m, const report_opts *o)
{
    sb_append(sb, "<h2>Data</h2>\n<div class=\"grid\"><table>\n");
    kvf(sb, "features as of", "%s", m->feat.as_of);
    kvf(sb, "customers (feature rows)", "%ld", m->n_customers);
    kvf(sb, "labelled customers", "%ld (%ld unlabelled: scored, not trained on)",
        m->n_labelled, m->n_customers - m->n_labelled);
    kvf(sb, "high-risk (label rate)", "%ld (%.2f%%)", m->n_events,
        m->n_labelled ? 100 * ratio(m->n_events, m->n_labelled) : 0.0);
    kvf(sb, "label", "max(risk_score) > %g", m->feat.label_threshold);
    kvf(sb, "split", "%ld train / %ld test (%.0f%% held out, seed %ld)", m->n_train,
        m->n_test, 100 * m->test_fraction, m->split_seed);
    if (m->diag.vif)
        kvf(sb, "NaN/Infinity values read as missing", "%ld", m->diag.nonfinite);
    sb_append(sb, "</table>\n<div>");
    runs_table(sb, o);
    sb_append(sb, "</div></div>\n<h3>Feature columns</h3>\n");
    feature_table(sb, m);
}

static void cal_table(sb_t *sb, const model *m)
{
    const model_eval *v = &m->eval;
    int k;

    sb_append(sb, "<table><tr><th>score decile</th><th class=\"n\">customers</th>"
                  "<th class=\"n\">mean predicted</th><th class=\"n\">observed rate</th>"
                  "<th class=\"n\">lift</th><th class=\"n\">cumulative share of "
                  "high-risk found</th></tr>\n");
    /* calibration bin 0 is the lowest scores, lift bin 0 the highest */
    for (k = 0; k < MODEL_DECILES; k++) {
        int cb = MODEL_DECILES - 1 - k;
        sb_printf(sb, "<tr><td>%d%s</td><td class=\"n\">%ld</td><td class=\"n\">", k + 1,
                  k == 0 ? " (highest scores)" : "", v->cal_count[cb]);
        pct(sb, v->cal_pred[cb], 1);
        sb_append(sb, "</td><td class=\"n\">");
        pct(sb, v->cal_obs[cb], 1);
        sb_append(sb, "</td><td class=\"n\">");
        num(sb, v->lift[k], 2);
        sb_append(sb, "</td><td class=\"n\">");
        pct(sb, v->capture[k], 1);
        sb_append(sb, "</td></tr>\n");
    }
    sb_append(sb, "</table>\n");
}

/* ------------------------------------------------------------------ */
/* Fit diagnostics and the model card                                  */
/* ------------------------------------------------------------------ */

static void warnings_html(sb_t *sb, const model *m, const expl_fit *f)
{
    int k, any = 0;

    if (f->warn_convergence) {
        any = 1;
        sb_printf(sb, "<div class=\"warn\"><b>Non-convergence:</b> gradient norm %.3g "
                  "after %d iterations.</div>\n", m->grad_norm, m->iterations);
    }
    if (f->warn_separation) {
        any = 1;
        sb_printf(sb, "<div class=\"warn\"><b>Near-separation:</b> largest |coefficient| "
                  "%.3g; %s of training rows have a fitted probability within 1e-6 of 0 "
                  "or 1. Estimates there are unreliable.</div>\n", f->max_abs_beta,
                  isfinite(f->extreme_share) ? "" : "an unknown share");
    }
    if (f->warn_collinearity) {
        any = 1;
        sb_printf(sb, "<div class=\"warn\"><b>Near-collinearity:</b> %d column%s with a "
                  "variance inflation factor above 10, the largest ", f->n_high_vif,
                  f->n_high_vif == 1 ? "" : "s");
        for (k = 0; k < f->n_worst && m->diag.vif[f->worst[k]] > EXPL_VIF_WARN; k++) {
            sb_append(sb, k ? ", <code>" : "<code>");
            esc(sb, m->enc.cols[f->worst[k]].name);
            sb_printf(sb, "</code> (%.3g)", m->diag.vif[f->worst[k]]);
        }
        if (m->diag.vif[f->worst[0]] >= EXPL_VIF_EXACT)
            sb_append(sb, ". VIFs of 10<sup>12</sup> or more mean exact collinearity: some "
                          "columns are sums of others (a total and its parts)");
        sb_append(sb, ". Their individual coefficients are hard to interpret; the L2 "
                      "penalty keeps the fit stable.</div>\n");
    }
    if (!any)
        sb_append(sb, "<div class=\"ok\">No warnings: converged, no sign of separation "
                      "or strong collinearity.</div>\n");
}

static void fit_section(sb_t *sb, const model *m)
{
    expl_fit f;

    expl_fit_summary(m, &f);
    sb_append(sb, "<h2>Fit diagnostics</h2>\n<div class=\"grid\"><table>\n");
    kvf(sb, "observations / events", "%ld / %ld", f.n, f.events);
    kvf(sb, "log-likelihood (null)", "%.2f (%.2f)", f.loglik, f.loglik_null);
    kvf(sb, "pseudo R\xc2\xb2 (McFadden)", "%.4f", f.mcfadden);
    kvf(sb, "AIC / BIC", "%.1f / %.1f (k = %d)", f.aic, f.bic, f.k);
    if (f.penalised)
        kvf(sb, "effective degrees of freedom", "%.2f (AIC %.1f)", f.edf, f.aic_edf);
    kvf(sb, "Newton iterations, gradient norm", "%d, %.2g", m->iterations, m->grad_norm);
    kvf(sb, "condition number of the Hessian", "%.3g", m->cond);
    if (m->diag.vif)
        kvf(sb, "largest VIF", "%.3g (%s)", f.n_worst ? m->diag.vif[f.worst[0]] : NAN,
            f.n_worst ? m->enc.cols[f.worst[0]].name : "-");
    sb_append(sb, "</table>\n<div>");
    warnings_html(sb, m, &f);
    sb_append(sb, "</div></div>\n");
}

static void cv_table(sb_t *sb, const model *m)
{
    const model_cv *cv = &m->cv;
    const model_cv_stat *st[5] = {&cv->roc_auc, &cv->pr_auc, &cv->log_loss, &cv->brier, &cv->ks};
    const char *nm[5] = {"ROC AUC", "PR AUC", "log loss", "Brier", "KS"};
    int i;

    if (cv->k <= 0)
        return;
    sb_printf(sb, "<h3>%d-fold cross-validation (C = %g)</h3><table><tr><th>metric</th>"
              "<th class=\"n\">mean</th><th class=\"n\">sd</th></tr>\n", cv->k, cv->C);
    for (i = 0; i < 5; i++) {
        sb_printf(sb, "<tr><td>%s</td><td class=\"n\">", nm[i]);
        num(sb, st[i]->mean, 4);
        sb_append(sb, "</td><td class=\"n\">");
        num(sb, st[i]->sd, 4);
        sb_append(sb, "</td></tr>\n");
    }
    sb_append(sb, "</table>\n");
}

static void grid_table(sb_t *sb, const model *m)
{
    const model_cgrid *g = &m->cgrid;
    int i;

    if (g->n <= 0)
        return;
    sb_printf(sb, "<h3>C chosen by %d-fold CV log loss</h3><table><tr><th class=\"n\">C"
              "</th><th class=\"n\">log loss (mean &plusmn; sd)</th><th class=\"n\">"
              "ROC AUC</th><th></th></tr>\n", g->k);
    for (i = 0; i < g->n && i < MODEL_GRID_MAX; i++) {
        const model_grid_row *r = &g->row[i];
        sb_printf(sb, "<tr><td class=\"n\">%g</td><td class=\"n\">%.5f &plusmn; %.5f</td>"
                  "<td class=\"n\">%.4f</td><td>%s</td></tr>\n", r->C, r->log_loss_mean,
                  r->log_loss_sd, r->roc_auc_mean, i == g->chosen ? "chosen" : "");
    }
    sb_append(sb, "</table>\n");
}

static void card_section(sb_t *sb, const model *m)
{
    char cats[512] = "";
    int i;

    for (i = 0; i < m->feat.n_cats; i++)
        snprintf(cats + strlen(cats), sizeof cats - strlen(cats), "%s%s", i ? ", " : "",
                 m->feat.cats[i]);
    sb_append(sb, "<h2>Model card</h2>\n<div class=\"grid\"><table>\n");
    kvf(sb, "model id", "%s", m->model_id);
    kvf(sb, "created", "%s", m->created_at);
    kvf(sb, "trained by", "riskpipe %s (model file format %d)", m->riskpipe_version,
        MODEL_FORMAT_VERSION);
    kvf(sb, "model", "L2-regularised logistic regression, Newton's method");
    if (isfinite(m->C))
        kvf(sb, "C (inverse penalty)", "%g", m->C);
    else
        kvf(sb, "C (inverse penalty)", "none (unpenalised)");
    kvf(sb, "class weights", "%s", m->class_weight_balanced ? "balanced" : "none");
    if (m->weight_column[0])
        kvf(sb, "sample weights", "column %s", m->weight_column);
    kvf(sb, "threshold", "%.4f (policy %s)", m->threshold, m->threshold_policy);
    sb_append(sb, "</table><table>\n");
    kvf(sb, "feature set", "%s (%d design columns)", feat_set_name(m->feat.set), m->p);
    kvf(sb, "transaction categories", "%s", m->feat.n_cats ? cats : "none");
    kvf(sb, "rare-level threshold", "%d training rows", m->min_count);
    kvf(sb, "data fingerprint", "%s", m->diag.fingerprint[0] ? m->diag.fingerprint
                                                               : "not recorded");
    kvf(sb, "evaluation", "stratified %.0f/%.0f split, ROC AUC CI by DeLong; deployed "
        "model refit on all labelled rows", 100 * (1 - m->test_fraction),
        100 * m->test_fraction);
    sb_append(sb, "</table></div>\n");
    cv_table(sb, m);
    grid_table(sb, m);
}

/* ------------------------------------------------------------------ */
/* The page                                                            */
/* ------------------------------------------------------------------ */

static const char css[] =
    "*{box-sizing:border-box}"
    "body{margin:0;background:#fff;color:#1d2733;font:14px/1.45 -apple-system,"
    "'Segoe UI',Roboto,'Helvetica Neue',Arial,'Liberation Sans',sans-serif}"
    "main{max-width:1120px;margin:0 auto;padding:28px 32px 40px}"
    "h1{font-size:26px;margin:0 0 2px}h2{font-size:19px;margin:34px 0 12px;"
    "padding-bottom:4px;border-bottom:2px solid #e3e8ee}h3{font-size:15px;margin:20px 0 8px}"
    ".sub{color:#5b6b7b}code{font:12px ui-monospace,'DejaVu Sans Mono',monospace;"
    "background:#f3f5f8;padding:1px 4px;border-radius:3px}"
    ".tiles{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin-top:18px}"
    ".tile{border:1px solid #dde3ea;border-radius:8px;padding:10px 12px}"
    ".tile span{display:block;color:#5b6b7b;font-size:11px;text-transform:uppercase;"
    "letter-spacing:.05em}.tile b{display:block;font-size:22px;font-weight:600}"
    ".tile small{display:block;font-size:11px;font-weight:400;color:#5b6b7b}"
    ".grid{display:grid;grid-template-columns:1fr 1fr;gap:18px;align-items:start}"
    "figure{margin:0;border:1px solid #e3e8ee;border-radius:8px;padding:10px 10px 6px;"
    "break-inside:avoid}figcaption{font-size:12.5px;color:#5b6b7b;margin:2px 6px 2px}"
    "figure.wide{grid-column:1/-1}"
    "svg{width:100%;height:auto;display:block}"
    "svg text{font-size:12px;fill:#1d2733}svg .atitle{font-size:12.5px;fill:#3b4a5a}"
    "svg .note{font-size:11.5px;fill:#3b4a5a;paint-order:stroke;stroke:#fff;"
    "stroke-width:3px;stroke-linejoin:round}svg .big{font-size:26px;font-weight:600}"
    ".grid line.grid,svg .grid{stroke:#e8edf2;stroke-width:1}svg .axis{stroke:#5b6b7b}"
    "svg polyline,svg line{fill:none;stroke-width:2.2}"
    "svg .s0{stroke:#8a96a3;stroke-dasharray:5 4;stroke-width:1.5}"
    "svg .s1,svg .s1m{stroke:#0072B2}svg .s2{stroke:#D55E00}"
    "svg .s3{stroke:#0072B2;stroke-dasharray:7 3}svg .s4{stroke:#009E73;stroke-dasharray:2 3}"
    "svg .s1d{fill:#0072B2}svg .pt{fill:#E69F00;stroke:#1d2733;stroke-width:1}"
    "svg line.pt{stroke:#E69F00;stroke-width:6;stroke-linecap:round}"
    "svg .thr{stroke:#1d2733;stroke-dasharray:3 3;stroke-width:1.3}"
    "svg .gap{stroke:#1d2733;stroke-width:2}"
    "svg .bar1{fill:#56B4E9}svg .bar2{fill:#D55E00}svg .bar3{fill:#0072B2;fill-opacity:.75}"
    "svg .legend{fill:#fff;fill-opacity:.92;stroke:#dde3ea}"
    "svg .ci{stroke:#5b6b7b;stroke-width:2}svg .up{fill:#D55E00}svg .down{fill:#0072B2}"
    "table{border-collapse:collapse;width:100%;font-size:13px}"
    "th,td{padding:4px 8px;border-bottom:1px solid #e8edf2;text-align:left;vertical-align:top}"
    "th{font-weight:600;color:#3b4a5a}.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".mbar{width:90px;height:8px;background:#eef1f5;border-radius:4px;margin-top:6px}"
    ".mbar i{display:block;height:8px;background:#E69F00;border-radius:4px}"
    ".warn{background:#fff4e5;border-left:4px solid #E69F00;padding:8px 12px;margin:0 0 8px}"
    ".ok{background:#eaf6ef;border-left:4px solid #009E73;padding:8px 12px}"
    "footer{margin-top:36px;color:#8a96a3;font-size:12px}"
    "@page{size:A4;margin:12mm}"
    "@media print{main{padding:0;max-width:none}h2{break-after:avoid}"
    "figure,table,.tiles,.warn{break-inside:avoid}}";

static void page_head(sb_t *sb, const model *m)
{
    sb_append(sb, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                  "<title>riskpipe model report: ");
    esc(sb, m->model_id);
    sb_printf(sb, "</title><style>%s</style></head><body><main>\n", css);
    sb_append(sb, "<h1>High-risk customer model</h1><div class=\"sub\">model <code>");
    esc(sb, m->model_id);
    sb_append(sb, "</code> &middot; trained ");
    esc(sb, m->created_at);
    sb_append(sb, " &middot; data as of ");
    esc(sb, m->feat.as_of);
    sb_printf(sb, " &middot; evaluated on %ld held-out customers (%ld high-risk)</div>\n",
              m->test.n, m->test.events);
}

char *report_html(const model *m, const report_opts *o)
{
    report_opts def;
    sb_t sb = {0};

    memset(&def, 0, sizeof def);
    if (!o)
        o = &def;
    page_head(&sb, m);
    tiles(&sb, m);
    data_section(&sb, m, o);
    sb_append(&sb, "<h2>Ranking: who is high-risk?</h2>\n<div class=\"grid\">");
    roc_chart(&sb, m);
    pr_chart(&sb, m);
    ks_chart(&sb, m);
    hist_chart(&sb, m);
    sb_append(&sb, "</div>\n<h2>Calibration and lift</h2>\n<div class=\"grid\">");
    cal_chart(&sb, m);
    lift_chart(&sb, m);
    sb_append(&sb, "</div>\n");
    cal_table(&sb, m);
    sb_append(&sb, "<h2>Choosing the threshold</h2>\n<div class=\"grid\">");
    conf_chart(&sb, m);
    trade_table(&sb, m);
    trade_chart(&sb, m);
    sb_append(&sb, "</div>\n<h2>What drives the score</h2>\n<div class=\"grid\">");
    coef_chart(&sb, m, o->max_coefs > 0 ? o->max_coefs : 25);
    sb_append(&sb, "</div>\n");
    fit_section(&sb, m);
    card_section(&sb, m);
    sb_printf(&sb, "<footer>riskpipe %s%s", RP_VERSION, o->generated_at ? " &middot; generated " : "");
    if (o->generated_at)
        esc(&sb, o->generated_at);
    sb_append(&sb, " &middot; self-contained page: no scripts, fonts or images are "
                   "loaded from anywhere.</footer>\n</main></body></html>\n");
    return sb_steal(&sb);
}

/* ------------------------------------------------------------------ */
/* Scoring runs                                                        */
/* ------------------------------------------------------------------ */

int report_load_runs(db_conn *c, const rp_tables *t, const char *model_id,
                     int max, report_run **out, int *n, rp_err *e)
{
    char *tab = schema_qualify(c, t, "riskpipe_runs"), *sql, lim[16];
    const char *params[2] = {model_id, lim};
    db_rows *r = NULL;
    int rc, i;

    *out = NULL;
    *n = 0;
    snprintf(lim, sizeof lim, "%d", max);
    sql = xasprintf("SELECT to_char(started_at AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD HH24:MI:SS \"UTC\"'), rows_scored, high_risk, "
                    "unseen_categories, status FROM %s WHERE model_id = $1 "
                    "ORDER BY run_id DESC LIMIT $2::int", tab);
    rc = db_query(c, sql, 2, params, &r, e);
    free(sql);
    free(tab);
    if (rc)
        return rc;
    *out = xcalloc((size_t)r->nrows + 1, sizeof **out);
    for (i = 0; i < r->nrows; i++) {
        report_run *x = &(*out)[i];
        const char *v;
        snprintf(x->started_at, sizeof x->started_at, "%s", db_rows_get(r, i, 0) ? db_rows_get(r, i, 0) : "");
        x->scored = (v = db_rows_get(r, i, 1)) ? atol(v) : 0;
        x->high_risk = (v = db_rows_get(r, i, 2)) ? atol(v) : 0;
        x->unseen = (v = db_rows_get(r, i, 3)) ? atol(v) : 0;
        snprintf(x->status, sizeof x->status, "%s", db_rows_get(r, i, 4) ? db_rows_get(r, i, 4) : "");
    }
    *n = r->nrows;
    db_rows_free(r);
    return RP_OK;
}

/* ------------------------------------------------------------------ */
/* The file                                                            */
/* ------------------------------------------------------------------ */

static int write_fd(int fd, const char *p, size_t n)
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

int report_write(const model *m, const report_opts *o, const char *path, rp_err *e)
{
    char *html = report_html(m, o), *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), ok = fd >= 0, err = 0;

    if (ok)
        ok = write_fd(fd, html, strlen(html)) == 0 && fsync(fd) == 0;
    if (!ok)
        err = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        if (fd >= 0)
            unlink(tmp);
        rp_err_set(e, RP_EINTERNAL, "could not write report \"%s\": %s", path, strerror(err));
    }
    free(tmp);
    free(html);
    return ok ? RP_OK : RP_EINTERNAL;
}
