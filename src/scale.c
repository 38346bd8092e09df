/*
 * scale.c - standardisation of the columns of a column-major matrix.
 *
 * Purpose.  encode.c fits a mean and a standard deviation per design column
 * on the training rows and applies them unchanged at scoring, so that the
 * solver sees columns of comparable size and the coefficients on the scaled
 * matrix can be compared with scikit-learn's StandardScaler + LogisticRegression
 * (population sd, ddof = 0).
 *
 * Numerics.  Money columns can sit far from zero (a balance of 1e9 with a
 * spread of a few units), where the textbook one-pass formula
 * E[x^2] - E[x]^2 loses every significant digit.  We use the corrected
 * two-pass algorithm (Chan, Golub & LeVeque, 1983): pass one gives a mean m,
 * pass two sums d = x - m and d^2; then
 *     mean = m + sum(d) / n
 *     var  = (sum(d^2) - sum(d)^2 / n) / n
 * The correction term removes the rounding error of m, so both results are
 * accurate to a few ulps even when |mean| >> sd.  Sums are pairwise (as
 * numpy's), so for ordinary data the results agree with numpy's mean/std
 * to ~1e-15 relative.
 *
 * Huge values.  A column of finite values near DBL_MAX overflows a plain
 * sum.  Each pass first tries the plain loop (fast, matches numpy) and only
 * when the result is not finite redoes the pass with scaling (x / n for the
 * mean, d / max|d| for the squares), so overflow costs time only on the
 * columns that need it.
 *
 * Invariants.  scale_fit always returns a finite mean (0 when n == 0 or the
 * column holds non-finite values) and a finite sd > 0: a constant column
 * (sd == 0) or one whose sd cannot be represented gets sd = 1, so applying
 * the scaler never divides by zero and a constant column becomes 0.
 */
#include "scale.h"

#include <math.h>

/*
 * Pairwise sums of d = (x[i] - m) / a and of d^2 over x[0..n): halving
 * recursively down to blocks of 128 summed in a loop, as numpy does, so
 * the rounding error grows like eps log n instead of eps n (a million
 * 0/1 values summed in one loop lose ~1e-12 relative; pairwise ~1e-16).
 * a == 1 skips the division on the common path.
 */
static void pw_sums(const double *x, size_t n, double m, double a,
                    double *s1, double *s2)
{
    double a1 = 0.0, a2 = 0.0, b1, b2;

    if (n > 128) {
        size_t h = n / 2;
        pw_sums(x, h, m, a, &a1, &a2);
        pw_sums(x + h, n - h, m, a, &b1, &b2);
        *s1 = a1 + b1;
        *s2 = a2 + b2;
        return;
    }
    if (a == 1.0) {
        for (size_t i = 0; i < n; i++) {
            double d = x[i] - m;
            a1 += d;
            a2 += d * d;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            double d = (x[i] - m) / a;
            a1 += d;
            a2 += d * d;
        }
    }
    *s1 = a1;
    *s2 = a2;
}

/* Mean of x[0..n), n > 0; finite when every x[i] is finite. */
static double col_mean(const double *x, size_t n)
{
    double s, unused;

    pw_sums(x, n, 0.0, 1.0, &s, &unused);
    if (isfinite(s))
        return s / (double)n;
    /* Overflow (or a non-finite input): sum the already divided terms,
     * whose total is bounded by max|x|. */
    pw_sums(x, n, 0.0, (double)n, &s, &unused);
    return s;
}

/*
 * Second pass: corrects *mean in place and returns the population standard
 * deviation about it (0 for a constant column), or NAN when the spread
 * cannot be represented.  sum(d^2) is first computed plainly; only when it
 * overflows are the deviations rescaled by their largest magnitude (as
 * LAPACK's dnrm2 does) and the scale multiplied back after the sqrt.
 */
static double col_sd(const double *x, size_t n, double *mean)
{
    double m = *mean, s1, s2, var, amax = 0.0;

    pw_sums(x, n, m, 1.0, &s1, &s2);
    if (isfinite(s1) && isfinite(s2)) {
        var = (s2 - s1 * s1 / (double)n) / (double)n;
        *mean = m + s1 / (double)n;
        return var > 0.0 ? sqrt(var) : 0.0;
    }

    /* Overflow of the squares: sd = amax * sd(d / amax). */
    for (size_t i = 0; i < n; i++) {
        double d = fabs(x[i] - m);
        if (d > amax)
            amax = d;
    }
    if (!isfinite(amax) || amax == 0.0)
        return NAN;
    pw_sums(x, n, m, amax, &s1, &s2);
    var = (s2 - s1 * s1 / (double)n) / (double)n;
    *mean = m + amax * (s1 / (double)n);
    return var > 0.0 ? amax * sqrt(var) : 0.0;
}

void scale_fit(const double *X, size_t n, size_t p, double *mean, double *sd)
{
    for (size_t j = 0; j < p; j++) {
        const double *x = X + j * n;
        double m, s;

        if (n == 0) {
            mean[j] = 0.0;
            sd[j] = 1.0;
            continue;
        }
        m = col_mean(x, n);
        s = isfinite(m) ? col_sd(x, n, &m) : NAN;
        /* A non-finite input poisons the column: keep the scaler harmless
         * (identity) rather than spreading NaN into every later row. */
        mean[j] = isfinite(m) ? m : 0.0;
        sd[j] = (isfinite(s) && s > 0.0) ? s : 1.0;
    }
}

void scale_apply(double *X, size_t n, size_t p, const double *mean,
                 const double *sd)
{
    for (size_t j = 0; j < p; j++) {
        double *x = X + j * n;
        double m = mean[j], s = sd[j];

        /* Subtract then divide (not multiply by 1/s), as scikit-learn
         * does, so the scaled values round the same way. */
        for (size_t i = 0; i < n; i++)
            x[i] = (x[i] - m) / s;
    }
}
