/*
 * drift.h - population stability: has today's population moved away from
 * the one the model was trained on?
 *
 * At training, drift_ref_build records a reference distribution for the
 * score and for every feature column of the training data (all customers
 * the feature query returned, the population that was scored then):
 *   numeric  decile bin edges of the non-missing values (duplicates
 *            merged, so a count that is 0 for 40% of customers gets one
 *            bin for all of them), the share of values in each bin, and
 *            the share missing;
 *   text     the share of each level (the DRIFT_MAX_LEVELS most frequent;
 *            the rest, and at scoring any unseen value, share an "other"
 *            bin), and the share missing.
 * At scoring, drift_compare bins the new values the same way and computes
 * the population stability index of each,
 *     PSI = sum over bins (a - e) * ln(a / e)
 * with e the reference share and a today's share (the missing share is
 * one more bin).  A share of 0 is raised to DRIFT_EPS first, so an empty
 * bin gives a large but finite PSI.  Usual reading: < 0.1 stable, 0.1 to
 * 0.25 watch, > 0.25 act.
 *
 * Bins are right-closed: value x is in bin k when edge[k-1] < x <=
 * edge[k] (bin 0: x <= edge[0]; the last bin: x > the last edge).  Edges
 * are the lower deciles of the sorted values v[0..n): edge k (k = 1..9)
 * is v[ceil(k n / 10) - 1], computed with integers so that any reference
 * implementation gets the same edges.
 *
 * No I/O and no database: unit-tested with hand-computed PSIs.
 */
#ifndef RP_DRIFT_H
#define RP_DRIFT_H

#include <stddef.h>

#include "dataset.h"
#include "encode.h"
#include "features.h"

struct json_t;   /* jansson */

#define DRIFT_BINS 10          /* deciles */
#define DRIFT_MAX_LEVELS 50    /* text levels kept; the rest is "other" */
#define DRIFT_EPS 1e-4         /* floor of a share in the PSI */
#define DRIFT_WATCH 0.1        /* PSI above this: watch */
#define DRIFT_ACT 0.25         /* PSI above this: act */

/* The reference distribution of one column (or of the score). */
typedef struct drift_dist {
    char *name;         /* feature column, or "score" */
    int categorical;
    int nedges;         /* numeric: interior edges, strictly increasing */
    double *edges;
    int nlevels;        /* text: kept levels, most frequent first */
    char **levels;
    int nbins;          /* numeric: nedges + 1; text: nlevels + 1 (the last
                           bin is "other") */
    double *prop;       /* nbins shares */
    double missing;     /* share missing; prop[] and missing sum to 1 */
} drift_dist;

/* The model's drift reference ("drift_reference" in the model file). */
typedef struct model_drift {
    int present;        /* 0: the model carries none (an older file) */
    long n;             /* rows it was computed from */
    drift_dist score;
    int nfeat;
    drift_dist *feat;
} model_drift;

/* Frees everything ref owns and zeroes it; accepts NULL. */
void drift_ref_free(model_drift *ref);
void drift_dist_free(drift_dist *d);

/*
 * Lower-decile edges of x[0..n) (non-finite values skipped) into
 * edges[0..DRIFT_BINS-1), duplicates removed; returns how many.  x is not
 * changed.  O(n) expected (selection, not a sort; drift.c).
 */
int drift_edges(const double *x, size_t n, double *edges);

/* The bin of x (finite) for the edges (right-closed; see above). */
int drift_bin(const double *edges, int nedges, double x);

/* PSI of shares `actual` against `expected` over nbins bins, each share
 * floored at DRIFT_EPS. */
double drift_psi(const double *expected, const double *actual, int nbins);

/* "ok", "watch" or "act" for a PSI (NaN: "n/a"). */
const char *drift_level(double psi);

/* Reference of numeric values x[0..n) (NaN = missing) into *out, named
 * name.  Also used for the score. */
void drift_dist_numeric(const char *name, const double *x, size_t n, drift_dist *out);

/* Reference of text codes (-1 = missing) with their levels. */
void drift_dist_text(const char *name, const int32_t *code, size_t n,
                     char **levels, int nlevels, drift_dist *out);

/*
 * The whole reference: every column of d (described by q) and the
 * scores prob[0..d->n).  *out is overwritten (free it first).
 */
void drift_ref_build(const dataset *d, const feat_query *q, const double *prob,
                     model_drift *out);

/* Today's shares and PSI of one column against its reference. */
typedef struct drift_stat {
    const drift_dist *ref;   /* points into the model's reference */
    double *actual;          /* ref->nbins shares today */
    double missing;          /* share missing today */
    double psi;              /* NAN when the column is not in today's data */
} drift_stat;

typedef struct drift_result {
    long n;                  /* rows compared */
    long ref_n;              /* rows of the reference */
    drift_stat score;
    int nfeat;
    drift_stat *feat;        /* in the reference's order */
} drift_result;

/* Numeric values / text codes against one reference column. */
void drift_stat_numeric(const drift_dist *ref, const double *x, size_t n, drift_stat *out);
void drift_stat_text(const drift_dist *ref, const int32_t *code, size_t n,
                     char **levels, int nlevels, drift_stat *out);

/*
 * Compares d (loaded with the model's feature query q) and the scores
 * prob[0..d->n) with the reference.  A reference column missing from q
 * (or of the other kind) gets PSI NAN.  Free with drift_result_free.
 */
void drift_compare(const model_drift *ref, const dataset *d, const feat_query *q,
                   const double *prob, drift_result *out);
void drift_result_free(drift_result *r);

/* How many columns are above DRIFT_WATCH / DRIFT_ACT (score included). */
void drift_count(const drift_result *r, int *watch, int *act);

/*
 * Unseen categories per column: out[j] (j < q->ncols) receives how many
 * values of text column j are not among the model's levels for it, with
 * enc_apply's definition (NULL is missing, not unseen; a level rare at
 * training counts; a column the encoding gives no design column is not
 * counted), so the counts add up to enc_apply's total.  s must be bound
 * to q.  Numeric columns get 0.
 */
void drift_unseen(const enc_spec *s, const dataset *d, const feat_query *q, size_t *out);

/*
 * The run's details for riskpipe_runs.details:
 *   {"drift": {...} or null when r is NULL, "unseen": {"city": 3, ...}}
 * (docs/model-format.md describes the fields).  Caller frees.
 */
char *drift_details_json(const drift_result *r, const feat_query *q, const size_t *unseen);

/*
 * The "drift_reference" section of the model file, and back.  The reader
 * is strict: on a missing or malformed field it returns non-zero, leaves
 * *out zeroed and writes the field's path (e.g.
 * "drift_reference.features[3].edges") into path[size].
 */
struct json_t *drift_ref_to_json(const model_drift *ref);
int drift_ref_from_json(struct json_t *o, model_drift *out, char *path, size_t size);

#endif
