/*
 * report.h - the model report: one self-contained HTML file (inline CSS
 * and SVG; no scripts, fonts or images fetched from anywhere) that a risk
 * analyst opens in a browser or prints.
 *
 * Sections: summary tiles, data summary (rows, label rate, as-of date,
 * missing rates, rare and unseen categories), ranking (ROC and PR curves
 * with AUC, KS chart), calibration, score distribution by class, lift by
 * decile, confusion matrix at the chosen threshold, threshold trade-off,
 * odds ratios with 95% confidence intervals, fit diagnostics, and the
 * model card (parameters, data fingerprint, riskpipe version).
 *
 * Every chart is an <svg role="img"> whose first child is a <title> (the
 * names below), so a test - or a screen reader - can find each one.
 */
#ifndef RP_REPORT_H
#define RP_REPORT_H

#include "db.h"
#include "model.h"
#include "schema.h"
#include "util/err.h"

/* The <title> of each chart, in page order. */
#define REPORT_T_ROC "ROC curve"
#define REPORT_T_PR "Precision-recall curve"
#define REPORT_T_KS "KS chart"
#define REPORT_T_CAL "Calibration plot"
#define REPORT_T_HIST "Score distribution by class"
#define REPORT_T_LIFT "Lift by decile"
#define REPORT_T_CONF "Confusion matrix"
#define REPORT_T_TRADE "Threshold trade-off"
#define REPORT_T_COEF "Odds ratios with 95% confidence intervals"

/* One scoring run of the model (riskpipe_runs), for the data summary. */
typedef struct report_run {
    char started_at[40];
    long scored, high_risk, unseen;
    char status[16];
} report_run;

typedef struct report_opts {
    const char *generated_at;   /* shown in the footer; NULL: omitted */
    const report_run *runs;     /* the model's latest scoring runs, newest
                                   first; NULL when the database was not
                                   asked */
    int n_runs;
    int max_coefs;              /* rows of the odds-ratio chart (by |z|);
                                   0: 25 */
} report_opts;

/*
 * The model's latest scoring runs (riskpipe_runs rows with its model_id),
 * newest first, at most max, into a fresh *out (caller frees) and *n.
 */
int report_load_runs(db_conn *c, const rp_tables *t, const char *model_id,
                     int max, report_run **out, int *n, rp_err *e);

/* The HTML text of m's report.  Caller frees.  Never NULL. */
char *report_html(const model *m, const report_opts *o);

/*
 * Writes the report to path atomically (temporary file in the same
 * folder, fsync, rename), mode 0644 less the umask.  RP_EINTERNAL naming
 * the file on failure; the file at path is then unchanged.
 */
int report_write(const model *m, const report_opts *o, const char *path,
                 rp_err *e);

#endif
