/*
 * met_eval - prints every metric of metrics.c for a "y,score" CSV, so that
 * tests/cli/metrics_reference.sh can compare them with scikit-learn.
 *
 *   met_eval FILE [THRESHOLD [NBINS]]      (FILE "-" is stdin)
 *
 * A first line that does not parse as two numbers is taken as a header.
 * Output: one "name value" line per number, doubles as %.17g so they
 * round-trip; calibration and lift rows are "calib K mean rate count" and
 * "lift K lift capture".  Exit 0, or 2 with a message on bad input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util/mem.h"

/* Parses "y,score"; returns 1 on success. */
static int parse_line(const char *line, double *y, double *s)
{
    char *end;

    errno = 0;
    *y = strtod(line, &end);
    if (end == line || *end != ',')
        return 0;
    line = end + 1;
    *s = strtod(line, &end);
    if (end == line || errno == ERANGE)
        return 0;
    end += strspn(end, " \t\r\n");
    return *end == '\0';
}

/* Reads the whole file into y and s (caller frees); returns the row count
 * or (size_t)-1 after printing an error. */
static size_t read_csv(FILE *f, double **py, double **ps)
{
    size_t n = 0, cap = 0, lineno = 0, len = 0;
    char *line = NULL;
    double *y = NULL, *s = NULL;

    while (getline(&line, &len, f) != -1) {
        lineno++;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            y = xreallocarray(y, cap, sizeof *y);
            s = xreallocarray(s, cap, sizeof *s);
        }
        if (parse_line(line, &y[n], &s[n]))
            n++;
        else if (lineno > 1 && line[strspn(line, " \t\r\n")] != '\0') {
            fprintf(stderr, "met_eval: line %zu: expected \"y,score\"\n",
                    lineno);
            n = (size_t)-1;
            break;
        }
    }
    free(line);
    *py = y;
    *ps = s;
    return n;
}

static void print_tables(const double *y, const double *s, size_t n,
                         size_t nb)
{
    double *mp = xmallocarray(nb, sizeof(double));
    double *rate = xmallocarray(nb, sizeof(double));
    double *lift = xmallocarray(nb, sizeof(double));
    double *cap = xmallocarray(nb, sizeof(double));
    size_t *cnt = xmallocarray(nb, sizeof(size_t));

    met_calibration(y, s, n, nb, mp, rate, cnt);
    met_lift_by_decile(y, s, n, nb, lift, cap);
    for (size_t k = 0; k < nb; k++)
        printf("calib %zu %.17g %.17g %zu\n", k, mp[k], rate[k], cnt[k]);
    for (size_t k = 0; k < nb; k++)
        printf("lift %zu %.17g %.17g\n", k, lift[k], cap[k]);
    free(mp);
    free(rate);
    free(lift);
    free(cap);
    free(cnt);
}

int main(int argc, char **argv)
{
    FILE *f = stdin;
    double *y, *s, thr = 0.5, at;
    size_t n, nb = 10;
    met_confusion m;

    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: met_eval FILE [THRESHOLD [NBINS]]\n");
        return 2;
    }
    if (argc > 2)
        thr = strtod(argv[2], NULL);
    if (argc > 3)
        nb = (size_t)strtoul(argv[3], NULL, 10);
    if (strcmp(argv[1], "-") != 0 && !(f = fopen(argv[1], "r"))) {
        fprintf(stderr, "met_eval: cannot open \"%s\": %s\n", argv[1],
                strerror(errno));
        return 2;
    }
    n = read_csv(f, &y, &s);
    if (f != stdin)
        fclose(f);
    if (n == (size_t)-1) {
        free(y);
        free(s);
        return 2;
    }

    printf("n %zu\n", n);
    printf("roc_auc %.17g\n", met_roc_auc(y, s, n));
    printf("pr_auc %.17g\n", met_pr_auc(y, s, n));
    printf("log_loss %.17g\n", met_log_loss(y, s, n));
    printf("brier %.17g\n", met_brier(y, s, n));
    printf("ks %.17g\n", met_ks(y, s, n, &at));
    printf("ks_at %.17g\n", at);
    printf("best_f1_thr %.17g\n", met_best_f1_threshold(y, s, n));
    m = met_confusion_at(y, s, n, thr);
    printf("tp %zu\nfp %zu\ntn %zu\nfn %zu\n", m.tp, m.fp, m.tn, m.fn);
    printf("accuracy %.17g\nprecision %.17g\nrecall %.17g\nf1 %.17g\n",
           m.accuracy, m.precision, m.recall, m.f1);
    print_tables(y, s, n, nb);
    free(y);
    free(s);
    return 0;
}
