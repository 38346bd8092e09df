/*
 * lr_fit.c - test driver: fits lr_train on a CSV and prints the fit as JSON,
 * so that tests/cli/logreg_reference.sh can compare it with scikit-learn and
 * statsmodels.
 *
 *   lr_fit [-t] [-w] C FILE
 *
 * FILE holds comma-separated numbers, one row per line, no header: the
 * features, then (with -w) a weight, then the 0/1 label last.  C is a
 * positive number or "inf" for no penalty.  Doubles are printed with %.17g
 * so they round-trip.  With -t, the wall time of the lr_train call alone
 * (CLOCK_MONOTONIC; not reading the file nor printing) goes to stderr as a
 * line "lr_train_seconds <t>" (bench/train_alone.sh uses it); stdout is the
 * same with or without -t.  Exit status: 0, or the rp_err code of a failed
 * fit, or 1 for bad arguments or an unreadable file.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logreg.h"
#include "util/mem.h"

typedef struct table {
    double *v;       /* row-major values as read */
    size_t rows, cols, cap;
} table;

/* Parses one line of numbers into t (the first line fixes the width). */
static int parse_line(table *t, char *line, size_t lineno)
{
    size_t k = 0;
    char *s = line, *end;

    for (;;) {
        double x;
        errno = 0;
        x = strtod(s, &end);
        if (end == s || errno == ERANGE)
            return fprintf(stderr, "lr_fit: line %zu: bad number\n", lineno), -1;
        if (t->rows * t->cols + k + 1 > t->cap) {
            t->cap = t->cap ? 2 * t->cap : 1024;
            t->v = xreallocarray(t->v, t->cap, sizeof(double));
        }
        t->v[t->rows * t->cols + k++] = x;
        s = end + strspn(end, " \t\r\n");
        if (*s == '\0')
            break;
        if (*s++ != ',')
            return fprintf(stderr, "lr_fit: line %zu: expected ','\n", lineno), -1;
    }
    if (t->rows == 0)
        t->cols = k;
    if (k != t->cols)
        return fprintf(stderr, "lr_fit: line %zu: %zu fields, wanted %zu\n",
                       lineno, k, t->cols), -1;
    t->rows++;
    return 0;
}

static int read_table(const char *path, table *t)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    int rc = 0;

    if (!f)
        return fprintf(stderr, "lr_fit: %s: %s\n", path, strerror(errno)), -1;
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] != '\0')
            rc = parse_line(t, line, lineno);
    }
    free(line);
    fclose(f);
    return rc;
}

static void print_array(const char *name, const double *v, size_t n)
{
    size_t i;

    printf("  \"%s\": [", name);
    for (i = 0; i < n; i++)
        printf("%s%.17g", i ? ", " : "", v[i]);
    printf("],\n");
}

static void print_fit(const lr_fit *fit)
{
    printf("{\n  \"intercept\": %.17g,\n", fit->intercept);
    print_array("beta", fit->beta, fit->p);
    print_array("se", fit->se, fit->p + 1);
    printf("  \"iterations\": %d,\n  \"grad_norm\": %.17g,\n"
           "  \"objective\": %.17g,\n  \"loglik\": %.17g,\n"
           "  \"loglik_null\": %.17g,\n  \"cond\": %.17g\n}\n",
           fit->iterations, fit->grad_norm, fit->objective, fit->loglik,
           fit->loglik_null, fit->cond);
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int weighted = 0, timed = 0, a = 1;
    table t = {0};
    lr_params par = lr_params_default();
    lr_fit fit;
    rp_err e;
    double *X, *y, *w = NULL;
    size_t p, i, j;
    char *end;
    double t0 = 0;
    int rc;

    /* leading options, each at most once, in either order */
    for (; a < argc; a++) {
        if (!weighted && strcmp(argv[a], "-w") == 0)
            weighted = 1;
        else if (!timed && strcmp(argv[a], "-t") == 0)
            timed = 1;
        else
            break;
    }
    if (argc - a != 2)
        return fprintf(stderr, "usage: lr_fit [-t] [-w] C FILE\n"), 1;
    par.C = strtod(argv[a], &end);
    if (*end != '\0' || !(par.C > 0))
        return fprintf(stderr, "lr_fit: bad C \"%s\"\n", argv[a]), 1;
    if (read_table(argv[a + 1], &t) != 0)
        return free(t.v), 1;
    if (t.cols < 2u + weighted)
        return fprintf(stderr, "lr_fit: too few columns\n"), free(t.v), 1;
    p = t.cols - 1 - weighted;
    X = xmallocarray(t.rows * (p ? p : 1), sizeof(double));
    y = xmallocarray(t.rows ? t.rows : 1, sizeof(double));
    if (weighted)
        w = xmallocarray(t.rows ? t.rows : 1, sizeof(double));
    for (i = 0; i < t.rows; i++) {
        for (j = 0; j < p; j++)
            X[j * t.rows + i] = t.v[i * t.cols + j];
        if (w)
            w[i] = t.v[i * t.cols + p];
        y[i] = t.v[i * t.cols + t.cols - 1];
    }
    if (timed)
        t0 = now_seconds();
    rc = lr_train(X, t.rows, p, y, w, &par, &fit, &e);
    if (timed)
        fprintf(stderr, "lr_train_seconds %.6f\n", now_seconds() - t0);
    if (rc == RP_OK)
        print_fit(&fit);
    else
        fprintf(stderr, "lr_fit: %s\n%s%s\n", e.msg, e.detail[0] ? "detail: " : "", e.detail);
    lr_fit_free(&fit);
    free(X); free(y); free(w); free(t.v);
    return rc;
}
