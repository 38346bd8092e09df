/*
 * logreg.c - L2-regularised logistic regression by Newton's method.
 *
 * Purpose.  Fit b0, b minimising
 *     f(b0, b) = sum_i w_i * logloss(y_i, b0 + x_i'b) + ||b||^2 / (2C)
 * (scikit-learn's convention, so the result can be checked against it), and
 * report the statistics of the fit at the optimum (standard errors from the
 * inverse Hessian, log-likelihoods, a condition number).
 *
 * Why Newton.  The models riskpipe fits have tens of columns and up to
 * millions of rows.  With q = p + 1 small the q x q Hessian is cheap to form
 * (one pass of BLAS-3 over X) and to factor, and Newton converges
 * quadratically: five to ten iterations reach machine precision, which is
 * what lets the coefficients match a reference implementation to 1e-5 and
 * gives the Hessian needed for standard errors for free.
 *
 * Invariants and layout.
 *   - theta[0] is the intercept, theta[1..p] the coefficients; the Hessian,
 *     gradient and covariance use the same order (q = p + 1).
 *   - X is never copied or modified.  X'DX is accumulated block by block:
 *     LR_BLOCK rows at a time are copied, scaled by sqrt(w_i mu_i (1-mu_i)),
 *     into a small buffer whose column 0 is the intercept, and added with
 *     cblas_dsyrk; the gradient X'r is added from the same rows while they
 *     are in cache.  The extra memory is five n-vectors plus LR_BLOCK * q,
 *     not another n x p matrix.  X may be the first n rows of a taller
 *     matrix (lr_params.ld), so a caller can fit a subset of its rows
 *     without copying them.
 *   - Passes over X per Newton step: two (the block pass above, and X d for
 *     the line search; eta is then updated as eta + t X d).  At a million
 *     rows X is hundreds of MB, so the passes, not the flops, set the pace;
 *     a good start (lr_params.init) saves whole steps.
 *   - Every sum runs in a fixed order (fixed blocks, sequential loops), so a
 *     fit is bit-identical from run to run.  OpenBLAS splits work by its
 *     thread count, so a different thread count may change the last bits
 *     (never more than rounding); riskpipe's main.c fixes it at one.
 *   - X is not centred internally: riskpipe standardises its features
 *     first.  A raw column whose mean is some 1e5 times its spread looks
 *     collinear with the intercept to the unpenalised rank test.
 *   - exp() never overflows: the loss and the probabilities are computed from
 *     a = exp(-|eta|) <= 1 only.
 *   - No I/O: failures are reported through rp_err, nothing is printed.
 *
 * Stopping rule (see newton_converged).  Stop at the first iterate where
 *     ||g||_inf <= tol * max(1, W)        (W = sum of weights), or
 *     g' H^-1 g  <= tol^2 * max(1, W)     (the squared Newton decrement).
 * The first is the usual gradient test, relative to the size of the sum;
 * with the default tol = 1e-10 a standardised problem is then within about
 * 1e-9 of the optimum in every coefficient.  The second is the same test
 * measured in the Hessian's metric: it does not change when a column is
 * rescaled, so it still fires when a column holding values near 1e6 makes
 * the raw gradient entry for that column too large to reach the first
 * threshold through rounding alone.  Because Newton converges quadratically
 * the iterate that passes is typically far inside both thresholds.
 *
 * Line search.  Backtracking (Armijo) on the objective, with the change in f
 * summed row by row, f(theta + t d) - f(theta) = sum_i w_i (l_i(t) - l_i(0)),
 * instead of as the difference of two large sums: that difference is only
 * resolved to about eps * f, while the Newton step near the optimum predicts
 * a decrease far smaller.  When even the row-wise change is at rounding
 * level the full Newton step is accepted as long as it does not increase f
 * by more than rounding, since Newton is locally quadratically convergent.
 *
 * Failure modes.  Without a penalty the maximum-likelihood estimate may not
 * exist.  If some iterate classifies every row correctly the data are
 * separable (scaling that iterate up drives the loss to 0): an exact test,
 * run at every iterate.  Under quasi-separation (separable on part of the
 * rows) the gradient does shrink below the tolerance, because the separated
 * rows' residuals vanish as their fitted probabilities approach 0 or 1;
 * what gives it away is that the curvature along the diverging direction
 * vanishes with them, so before accepting an unpenalised fit the solver
 * compares the Hessian with the one at the start (flattest_direction).  A
 * Hessian that is singular at the start is a property of X alone (a
 * constant or collinear column).  With a finite C the objective is strongly
 * convex in b, and all of these cases just work.
 */
#include "logreg.h"

#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/mem.h"

/* Rows per block when accumulating X'DX: 4096 rows x 54 columns is 1.7 MB,
 * which stays in cache while dsyrk reads it.  At 1e6 x 53 on two cores,
 * 2048 to 65536 rows timed the same within the noise. */
#define LR_BLOCK 4096
/* Sufficient-decrease constant of the Armijo rule (the common choice). */
#define LR_ARMIJO 1e-4
/* Step halvings before the line search gives up (t = 2^-60). */
#define LR_MAX_HALVINGS 60
/* Without a penalty, a Cholesky pivot whose square is below this fraction
 * of its diagonal entry means that column is (numerically) a linear
 * combination of the earlier ones: 1 - R^2 < 1e-10 for the weighted
 * regression of that column on the intercept and the columns before it.
 * Rounding leaves about 1e-14 for an exactly collinear column. */
#define LR_PIVOT_TOL 1e-10
/* A margin (2y-1)*eta above which a row counts as fitted with certainty
 * (1 - p < 2e-9).  Used only in messages, never to decide anything. */
#define LR_SURE_MARGIN 20.0
/* Without a penalty, the fit is declared (quasi-)separated when the
 * curvature along some direction has fallen below this fraction of its value
 * at the start (see flattest_direction).  Measured: 0.1 to 0.2 for ordinary
 * fits, 5e-4 for a very strong model (coefficients near 10 on standardised
 * features); a separated fit is near 1e-9 when the gradient test passes. */
#define LR_SEP_RATIO 1e-6

/* Everything one fit needs, allocated once.  Arrays of length n: eta (the
 * linear predictor), r (w_i (mu_i - y_i), the gradient of the loss in eta),
 * s (sqrt of the Hessian weight w_i mu_i (1 - mu_i)), loss (w_i * logloss_i)
 * and xd (the change of eta along the Newton direction). */
typedef struct lr_work {
    const double *X, *y, *w;
    size_t n, p, q;
    size_t ld;         /* leading dimension of X (>= n) */
    double inv_c;      /* 1/C, 0 for no penalty */
    const char *const *names; /* lr_params.names: p names or NULL */
    double W, W1;      /* sum of weights, of weights with y = 1 */
    double tol;
    double *theta, *g, *delta, *hdiag; /* q each */
    double *H, *L;     /* q*q: the Hessian (lower half), its Cholesky factor */
    double *H0;        /* q*q: the Hessian at the start (lower half) */
    double *eta, *r, *s, *loss, *xd;
    double *blk;       /* LR_BLOCK * q */
    double f, loglik, gnorm, dec;
} lr_work;

lr_params lr_params_default(void)
{
    lr_params par;

    par.C = 1.0;
    par.max_iter = 100;
    par.tol = 1e-10;
    par.names = NULL;
    par.ld = 0;
    par.init = NULL;
    return par;
}

/* 1/(1+exp(-z)) without overflow: exp() only ever sees -|z|. */
double lr_sigmoid(double z)
{
    double a = exp(-fabs(z));

    return z >= 0 ? 1.0 / (1.0 + a) : a / (1.0 + a);
}

/* Two-sided p-value 2 * (1 - Phi(|z|)) = erfc(|z| / sqrt 2); erfc keeps full
 * relative precision in the tail, where 1 - Phi would round to 0. */
double lr_pvalue(double z)
{
    if (isnan(z))
        return NAN;
    return erfc(fabs(z) / sqrt(2.0));
}

void lr_decision_ld(const lr_fit *fit, const double *X, size_t ld, size_t n,
                    double *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        out[i] = fit->intercept;
    if (fit->p > 0 && n > 0)
        cblas_dgemv(CblasColMajor, CblasNoTrans, (int)n, (int)fit->p, 1.0, X,
                    (int)ld, fit->beta, 1, 1.0, out, 1);
}

void lr_decision(const lr_fit *fit, const double *X, size_t n, double *out)
{
    lr_decision_ld(fit, X, n, n, out);
}

void lr_fit_free(lr_fit *fit)
{
    if (!fit)
        return;
    free(fit->beta);
    free(fit->se);
    free(fit->cov);
    memset(fit, 0, sizeof *fit);
}

/* ---- input checks ---------------------------------------------------- */

static int check_labels(const double *y, const double *w, size_t n,
                        double *W, double *W1, rp_err *e)
{
    size_t i;

    *W = *W1 = 0;
    for (i = 0; i < n; i++) {
        if (y[i] != 0.0 && y[i] != 1.0)
            return rp_err_set(e, RP_EDATA,
                              "label of row %zu is \"%g\", not 0 or 1", i, y[i]);
        if (w && (!isfinite(w[i]) || w[i] < 0))
            return rp_err_set(e, RP_EDATA,
                              "weight of row %zu is \"%g\", not a finite "
                              "number >= 0", i, w[i]);
        *W += w ? w[i] : 1.0;
        *W1 += w ? w[i] * y[i] : y[i];
    }
    if (!(*W > 0))
        return rp_err_set(e, RP_EDATA, "all %zu training rows have weight 0",
                          n);
    if (*W1 <= 0 || *W1 >= *W) {
        rp_err_set(e, RP_EDATA, "all %zu training rows belong to one class "
                   "(y = %d)", n, *W1 > 0 ? 1 : 0);
        rp_err_hint(e, "a logistic model needs both outcomes among the rows "
                    "with a positive weight");
        return RP_EDATA;
    }
    return RP_OK;
}

/* Column-major scan, so X is read in memory order. */
static int check_matrix(const double *X, size_t ld, size_t n, size_t p, rp_err *e)
{
    size_t i, j;

    for (j = 0; j < p; j++)
        for (i = 0; i < n; i++)
            if (!isfinite(X[j * ld + i]))
                return rp_err_set(e, RP_EDATA, "feature matrix value at row "
                                  "%zu, column %zu is \"%g\", not a finite "
                                  "number", i, j, X[j * ld + i]);
    return RP_OK;
}

static int check_inputs(const double *X, size_t n, size_t p, const double *y,
                        const double *w, const lr_params *par, double *W,
                        double *W1, rp_err *e)
{
    int rc;

    if (n == 0)
        return rp_err_set(e, RP_EDATA, "no rows to train the model on");
    /* BLAS and LAPACK take int dimensions. */
    if (n > INT_MAX || p >= INT_MAX || (par->ld && (par->ld < n || par->ld > INT_MAX)))
        return rp_err_set(e, RP_EDATA, "%zu rows and %zu columns are more "
                          "than the linear algebra library can index", n, p);
    if (par->max_iter < 1 || !(par->tol > 0) || isnan(par->C))
        return rp_err_set(e, RP_EINTERNAL, "invalid solver parameters "
                          "(max_iter %d, tol %g, C %g)", par->max_iter,
                          par->tol, par->C);
    if (par->init)
        for (size_t j = 0; j <= p; j++)
            if (!isfinite(par->init[j]))
                return rp_err_set(e, RP_EINTERNAL, "invalid starting point: "
                                  "value %zu is \"%g\"", j, par->init[j]);
    if ((rc = check_labels(y, w, n, W, W1, e)) != RP_OK)
        return rc;
    return check_matrix(X, par->ld ? par->ld : n, n, p, e);
}

/* ---- work space ------------------------------------------------------ */

static void work_init(lr_work *wk, const double *X, size_t n, size_t p,
                      const double *y, const double *w, const lr_params *par)
{
    size_t q = p + 1;

    memset(wk, 0, sizeof *wk);
    wk->X = X; wk->y = y; wk->w = w;
    wk->n = n; wk->p = p; wk->q = q;
    wk->ld = par->ld ? par->ld : n;
    /* C <= 0 is documented as "no penalty", like C = +Inf. */
    wk->inv_c = (par->C > 0 && isfinite(par->C)) ? 1.0 / par->C : 0.0;
    wk->tol = par->tol;
    wk->names = par->names;
    wk->theta = xcalloc(q, sizeof(double));
    wk->g = xcalloc(q, sizeof(double));
    wk->delta = xcalloc(q, sizeof(double));
    wk->hdiag = xcalloc(q, sizeof(double));
    wk->H = xmallocarray(q * q, sizeof(double));
    wk->L = xmallocarray(q * q, sizeof(double));
    wk->H0 = xmallocarray(q * q, sizeof(double));
    wk->eta = xmallocarray(n, sizeof(double));
    wk->r = xmallocarray(n, sizeof(double));
    wk->s = xmallocarray(n, sizeof(double));
    wk->loss = xmallocarray(n, sizeof(double));
    wk->xd = xmallocarray(n, sizeof(double));
    wk->blk = xmallocarray((n < LR_BLOCK ? n : LR_BLOCK) * q, sizeof(double));
}

static void work_free(lr_work *wk)
{
    free(wk->theta); free(wk->g); free(wk->delta); free(wk->hdiag);
    free(wk->H); free(wk->L); free(wk->H0);
    free(wk->eta); free(wk->r); free(wk->s); free(wk->loss); free(wk->xd);
    free(wk->blk);
}

/* ---- objective, gradient, Hessian ------------------------------------ */

/* Loss of one row with margin m = (2y-1)*eta, i.e. log(1 + exp(-m)),
 * written so that exp() sees -|m| only. */
static double row_loss(double m)
{
    return (m < 0 ? -m : 0.0) + log1p(exp(-fabs(m)));
}

/* eta = b0 + X b for the current theta. */
static void eval_eta(lr_work *wk)
{
    size_t i;

    for (i = 0; i < wk->n; i++)
        wk->eta[i] = wk->theta[0];
    if (wk->p > 0)
        cblas_dgemv(CblasColMajor, CblasNoTrans, (int)wk->n, (int)wk->p, 1.0,
                    wk->X, (int)wk->ld, wk->theta + 1, 1, 1.0, wk->eta, 1);
}

static double penalty(const lr_work *wk)
{
    if (wk->p == 0 || wk->inv_c == 0)
        return 0;
    return 0.5 * wk->inv_c *
           cblas_ddot((int)wk->p, wk->theta + 1, 1, wk->theta + 1, 1);
}

/* One pass over the rows at the current eta: loss, log-likelihood, r and s,
 * and the intercept's gradient sum r (eval_derivatives adds the rest).
 * mu (1 - mu) is computed as a / (1 + a)^2 and mu - y as +-sigmoid(-+eta),
 * which keeps full relative precision when mu is within eps of 0 or 1. */
static void eval_point(lr_work *wk)
{
    double ll = 0, g0 = 0;
    size_t i;

    for (i = 0; i < wk->n; i++) {
        double wi = wk->w ? wk->w[i] : 1.0, eta = wk->eta[i];
        double a = exp(-fabs(eta)), sp = 1.0 / (1.0 + a), sn = a * sp;
        int pos = wk->y[i] == 1.0;
        double m = pos ? eta : -eta;
        double mu_minus_y = pos ? -(eta >= 0 ? sn : sp) : (eta >= 0 ? sp : sn);

        wk->loss[i] = wi * row_loss(m);
        ll -= wk->loss[i];
        wk->r[i] = wi * mu_minus_y;
        wk->s[i] = sqrt(wi * a * sp * sp);
        g0 += wk->r[i];
    }
    wk->loglik = ll;
    wk->f = -ll + penalty(wk);
    wk->g[0] = g0;
}

/* Copies rows [i0, i0+m) into blk (m x q, column-major), each row scaled by
 * s_i, column 0 being the intercept. */
static void fill_block(lr_work *wk, size_t i0, size_t m)
{
    size_t i, j;

    for (i = 0; i < m; i++)
        wk->blk[i] = wk->s[i0 + i];
    for (j = 0; j < wk->p; j++) {
        const double *xj = wk->X + j * wk->ld + i0;
        double *bj = wk->blk + (j + 1) * m;
        for (i = 0; i < m; i++)
            bj[i] = wk->s[i0 + i] * xj[i];
    }
}

/* In one pass over X, block by block (while a block of X is in cache):
 * the Hessian H = X1' D X1 + diag(0, I/C), lower half only, X1 = [1 X],
 * and the gradient g = [sum r, X'r + b/C] with its infinity norm.  Blocks
 * are added in row order so the result does not depend on timing. */
static void eval_derivatives(lr_work *wk)
{
    size_t q = wk->q, i0, j;

    memset(wk->H, 0, q * q * sizeof(double));
    memset(wk->g + 1, 0, wk->p * sizeof(double));
    for (i0 = 0; i0 < wk->n; i0 += LR_BLOCK) {
        size_t m = wk->n - i0 < LR_BLOCK ? wk->n - i0 : LR_BLOCK;
        fill_block(wk, i0, m);
        cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, (int)q, (int)m,
                    1.0, wk->blk, (int)m, 1.0, wk->H, (int)q);
        if (wk->p > 0)
            cblas_dgemv(CblasColMajor, CblasTrans, (int)m, (int)wk->p, 1.0,
                        wk->X + i0, (int)wk->ld, wk->r + i0, 1, 1.0, wk->g + 1, 1);
    }
    for (j = 1; j < q; j++)
        wk->H[j * q + j] += wk->inv_c;
    for (j = 0; j < q; j++)
        wk->hdiag[j] = wk->H[j * q + j];
    if (wk->p > 0)
        cblas_daxpy((int)wk->p, wk->inv_c, wk->theta + 1, 1, wk->g + 1, 1);
    wk->gnorm = 0;
    for (j = 0; j < q; j++)
        if (fabs(wk->g[j]) > wk->gnorm)
            wk->gnorm = fabs(wk->g[j]);
}

/* Cholesky factor of H into L.  Returns 0, or k + 1 when the factorisation
 * fails or (without a penalty) the pivot of index k shows that direction to
 * be numerically singular. */
static size_t factor_hessian(lr_work *wk)
{
    size_t q = wk->q, k;
    lapack_int info;

    memcpy(wk->L, wk->H, q * q * sizeof(double));
    info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)q, wk->L,
                          (lapack_int)q);
    if (info != 0)
        return info > 0 ? (size_t)info : 1;
    if (wk->inv_c > 0)
        return 0;
    for (k = 0; k < q; k++) {
        double piv = wk->L[k * q + k];
        if (!(piv * piv > LR_PIVOT_TOL * wk->hdiag[k]))
            return k + 1;
    }
    return 0;
}

/* ---- one Newton iteration -------------------------------------------- */

/* delta = -H^-1 g and the squared Newton decrement g' H^-1 g. */
static void newton_direction(lr_work *wk)
{
    size_t j;

    for (j = 0; j < wk->q; j++)
        wk->delta[j] = -wk->g[j];
    LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', (lapack_int)wk->q, 1, wk->L,
                   (lapack_int)wk->q, wk->delta, (lapack_int)wk->q);
    wk->dec = -cblas_ddot((int)wk->q, wk->g, 1, wk->delta, 1);
}

static int newton_converged(const lr_work *wk)
{
    double scale = wk->W > 1 ? wk->W : 1;

    return wk->gnorm <= wk->tol * scale ||
           wk->dec <= wk->tol * wk->tol * scale;
}

/* f(theta + t delta) - f(theta), summed row by row (see the file comment). */
static double objective_change(const lr_work *wk, double t)
{
    double df = 0, bd = 0, dd = 0;
    size_t i;

    for (i = 0; i < wk->n; i++) {
        double wi = wk->w ? wk->w[i] : 1.0, eta = wk->eta[i] + t * wk->xd[i];
        double m = wk->y[i] == 1.0 ? eta : -eta;
        df += wi * row_loss(m) - wk->loss[i];
    }
    if (wk->inv_c > 0 && wk->p > 0) {
        bd = cblas_ddot((int)wk->p, wk->theta + 1, 1, wk->delta + 1, 1);
        dd = cblas_ddot((int)wk->p, wk->delta + 1, 1, wk->delta + 1, 1);
        df += 0.5 * wk->inv_c * (2 * t * bd + t * t * dd);
    }
    return df;
}

/* Backtracking line search along delta; on success updates theta and eta
 * and returns 1.  Returns 0 if no step length gives a decrease. */
static int line_search(lr_work *wk)
{
    /* Rounding in objective_change: a few eps per unit of loss. */
    double fres = 8 * DBL_EPSILON * (fabs(wk->f) + 1);
    double t = 1, df;
    size_t i;
    int h;

    for (i = 0; i < wk->n; i++)
        wk->xd[i] = wk->delta[0];
    if (wk->p > 0)
        cblas_dgemv(CblasColMajor, CblasNoTrans, (int)wk->n, (int)wk->p, 1.0,
                    wk->X, (int)wk->ld, wk->delta + 1, 1, 1.0, wk->xd, 1);
    for (h = 0; h <= LR_MAX_HALVINGS; h++, t *= 0.5) {
        df = objective_change(wk, t);
        if (df <= -LR_ARMIJO * t * wk->dec || (h == 0 && df <= fres))
            break;
    }
    if (h > LR_MAX_HALVINGS)
        return 0;
    cblas_daxpy((int)wk->q, t, wk->delta, 1, wk->theta, 1);
    /* eta + t X1 delta = X1 theta up to rounding, without a pass over X */
    cblas_daxpy((int)wk->n, t, wk->xd, 1, wk->eta, 1);
    return 1;
}

/* ---- diagnosis of failures ------------------------------------------- */

/* 1 when every row with a positive weight has margin > 0: then theta
 * separates the classes and scaling it up drives the loss to 0, so no
 * unpenalised minimum exists.  Exact, not a heuristic. */
static int separates(const lr_work *wk)
{
    size_t i;

    for (i = 0; i < wk->n; i++) {
        double m = wk->y[i] == 1.0 ? wk->eta[i] : -wk->eta[i];
        if ((!wk->w || wk->w[i] > 0) && !(m > 0))
            return 0;
    }
    return 1;
}

/* Rows (with a positive weight) fitted with near certainty; for messages. */
static size_t sure_rows(const lr_work *wk)
{
    size_t i, k = 0;

    for (i = 0; i < wk->n; i++) {
        double m = wk->y[i] == 1.0 ? wk->eta[i] : -wk->eta[i];
        if ((!wk->w || wk->w[i] > 0) && m > LR_SURE_MARGIN)
            k++;
    }
    return k;
}

/*
 * Quasi-separation test.  H0, the Hessian of the starting (intercept-only)
 * model, weighs every row alike; H weighs row i by mu_i (1 - mu_i).  The
 * smallest eigenvalue of H v = lambda H0 v is the curvature left along the
 * flattest direction v relative to what the data give it at the start.  It
 * is tiny only if every row that moves along v (x_i'v != 0) is fitted with
 * near certainty, which is what happens when the classes are separable on
 * the rows that v sees: the loss keeps falling along v forever, and the
 * "converged" gradient is small only because those rows' residuals are.
 * In an ordinary fit the ratio is the size of mu(1-mu) / (pi(1-pi)) for the
 * typical row, 1e-2 or more.  The test is invariant to rescaling columns.
 * Returns the ratio and in *col the index of theta that dominates v.
 */
static double flattest_direction(const lr_work *wk, size_t *col)
{
    size_t q = wk->q, j;
    double *A = xmallocarray(q * q, sizeof(double));
    double *B = xmallocarray(q * q, sizeof(double));
    double *ev = xmallocarray(q, sizeof(double)), lam = 1, best = -1;

    memcpy(A, wk->H, q * q * sizeof(double));
    memcpy(B, wk->H0, q * q * sizeof(double));
    *col = 0;
    if (LAPACKE_dsygv(LAPACK_COL_MAJOR, 1, 'V', 'L', (lapack_int)q, A,
                      (lapack_int)q, B, (lapack_int)q, ev) == 0) {
        lam = ev[0];
        for (j = 0; j < q; j++) {   /* eigenvector in units of H0's scale */
            double c = fabs(A[j]) * sqrt(wk->H0[j * q + j]);
            if (c > best) {
                best = c;
                *col = j;
            }
        }
    }
    free(A); free(B); free(ev);
    return lam;
}

/* 1 if, without a penalty, the fit at iteration it > 0 runs off to
 * infinity along some direction (see flattest_direction). */
static int quasi_separated(const lr_work *wk, int it, size_t *col)
{
    if (wk->inv_c != 0 || it == 0 || wk->p == 0)
        return 0;
    return flattest_direction(wk, col) < LR_SEP_RATIO;
}

/* "column j" for messages, with the column's name when the caller gave
 * names: "column 3 ("age")".  Truncated to fit buf. */
static const char *col_desc(const lr_work *wk, size_t j, char *buf, size_t size)
{
    if (wk->names && wk->names[j])
        snprintf(buf, size, "column %zu (\"%.200s\")", j, wk->names[j]);
    else
        snprintf(buf, size, "column %zu", j);
    return buf;
}

static int err_separable(const lr_work *wk, int it, int complete, size_t col,
                         rp_err *e)
{
    if (complete) {
        rp_err_set(e, RP_EDATA, "the classes are perfectly separable: the "
                   "unpenalised coefficients diverge");
        rp_err_detail(e, "after %d Newton iterations the linear score "
                      "classifies all %zu rows correctly, so scaling it up "
                      "lowers the loss without end: no finite "
                      "maximum-likelihood estimate exists", it, wk->n);
    } else {
        char where[256] = "the intercept";
        if (col > 0)
            col_desc(wk, col - 1, where, sizeof where);
        rp_err_set(e, RP_EDATA, "the classes are perfectly separable on part "
                   "of the data (quasi-separation, mostly along %s): the "
                   "unpenalised coefficients diverge", where);
        rp_err_detail(e, "after %d Newton iterations %zu of %zu rows are "
                      "fitted with probability within 2e-9 of their label; "
                      "no finite maximum-likelihood estimate exists (columns "
                      "are numbered from 0)", it, sure_rows(wk), wk->n);
    }
    rp_err_hint(e, "use a finite C (an L2 penalty), or drop the feature "
                "that separates the classes");
    return RP_EDATA;
}

static int column_is_constant(const lr_work *wk, size_t j)
{
    const double *x = wk->X + j * wk->ld;
    size_t i;

    for (i = 1; i < wk->n; i++)
        if (x[i] != x[0])
            return 0;
    return 1;
}

/* Without a penalty the Hessian at the start is singular: a property of X.
 * Pivot k (0 = intercept) is the first column that depends on earlier ones. */
static int err_rank(const lr_work *wk, size_t k, rp_err *e)
{
    size_t j = k - 1;
    char col[256];

    col_desc(wk, j, col, sizeof col);
    if (column_is_constant(wk, j) && wk->X[j * wk->ld] == 0)
        rp_err_set(e, RP_EDATA, "the Hessian is singular: %s of the "
                   "feature matrix is all zeros", col);
    else if (column_is_constant(wk, j))
        rp_err_set(e, RP_EDATA, "the Hessian is singular: %s of the "
                   "feature matrix is constant (\"%g\"), so it duplicates "
                   "the intercept", col, wk->X[j * wk->ld]);
    else
        rp_err_set(e, RP_EDATA, "the Hessian is singular: %s of the "
                   "feature matrix is a linear combination of the intercept "
                   "and the columns before it", col);
    rp_err_detail(e, "columns are numbered from 0; without a penalty the "
                  "coefficients are not identifiable");
    rp_err_hint(e, "drop the column, or use a finite C (an L2 penalty)");
    return RP_EDATA;
}

/* The Hessian failed at pivot k (0 = intercept) at iteration it.  At the
 * start every row has the same weight, so a singular Hessian is a property
 * of X; later it is rows being fitted with certainty. */
static int err_singular(const lr_work *wk, size_t k, int it, rp_err *e)
{
    size_t col;

    if (quasi_separated(wk, it, &col))
        return err_separable(wk, it, 0, col, e);
    if (wk->inv_c == 0 && it == 0 && k > 0)
        return err_rank(wk, k, e);
    rp_err_set(e, RP_EINTERNAL, "the Hessian of the logistic loss is not "
               "positive definite at pivot %zu (iteration %d)", k, it);
    rp_err_detail(e, "C %g, gradient norm %g", wk->inv_c > 0 ?
                  1 / wk->inv_c : INFINITY, wk->gnorm);
    return RP_EINTERNAL;
}

static int err_stalled(const lr_work *wk, int it, int max_iter, rp_err *e)
{
    size_t col;

    if (quasi_separated(wk, it, &col))
        return err_separable(wk, it, 0, col, e);
    if (it >= max_iter)
        rp_err_set(e, RP_EINTERNAL, "logistic regression did not converge "
                   "in %d Newton iterations", max_iter);
    else
        rp_err_set(e, RP_EINTERNAL, "logistic regression line search failed "
                   "at iteration %d", it);
    rp_err_detail(e, "gradient norm %g, Newton decrement %g, objective %.17g",
                  wk->gnorm, wk->dec, wk->f);
    return RP_EINTERNAL;
}

/* ---- driver ---------------------------------------------------------- */

/* Statistics at the final theta, whose Hessian is factored in L. */
static void fill_fit(lr_work *wk, int it, lr_fit *fit)
{
    size_t q = wk->q, i, j;
    double anorm = 0, rcond = 0, pi = wk->W1 / wk->W;

    for (j = 0; j < q; j++) {       /* 1-norm of the symmetric H */
        double c = 0;
        for (i = 0; i < q; i++)
            c += fabs(i >= j ? wk->H[j * q + i] : wk->H[i * q + j]);
        anorm = c > anorm ? c : anorm;
    }
    LAPACKE_dpocon(LAPACK_COL_MAJOR, 'L', (lapack_int)q, wk->L,
                   (lapack_int)q, anorm, &rcond);
    LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', (lapack_int)q, wk->L,
                   (lapack_int)q);
    fit->p = wk->p;
    fit->intercept = wk->theta[0];
    fit->beta = xmallocarray(wk->p ? wk->p : 1, sizeof(double));
    fit->cov = xmallocarray(q * q, sizeof(double));
    fit->se = xmallocarray(q, sizeof(double));
    for (j = 0; j < q; j++)
        for (i = j; i < q; i++)
            fit->cov[j * q + i] = fit->cov[i * q + j] = wk->L[j * q + i];
    for (j = 0; j < q; j++)
        fit->se[j] = sqrt(fit->cov[j * q + j]);
    for (j = 0; j < wk->p; j++)
        fit->beta[j] = wk->theta[j + 1];
    fit->iterations = it;
    fit->grad_norm = wk->gnorm;
    fit->objective = wk->f;
    fit->loglik = wk->loglik;
    /* The intercept-only MLE predicts the weighted base rate pi. */
    fit->loglik_null = wk->W1 * log(pi) + (wk->W - wk->W1) * log1p(-pi);
    fit->cond = rcond > 0 ? 1.0 / rcond : INFINITY;
    fit->converged = 1;
}

/* Newton iterations from init (with a penalty) or the intercept-only
 * model.  Returns RP_OK with the Hessian at the final theta factored, or an
 * error. */
static int newton(lr_work *wk, const double *init, int max_iter, int *iters,
                  rp_err *e)
{
    size_t bad, col;
    int it;

    /* without a penalty the separation test compares the curvature with
     * that of the intercept-only start (flattest_direction) */
    if (init && wk->inv_c > 0)
        memcpy(wk->theta, init, wk->q * sizeof(double));
    else
        wk->theta[0] = log(wk->W1 / (wk->W - wk->W1));
    eval_eta(wk);
    for (it = 0;; it++) {
        *iters = it;
        /* a stop signal (util/err.h): a large fit takes seconds per step */
        if (rp_err_interrupted(e))
            return RP_EINTERNAL;
        eval_point(wk);
        if (wk->inv_c == 0 && wk->p > 0 && separates(wk))
            return err_separable(wk, it, 1, 0, e);
        eval_derivatives(wk);
        if (it == 0)
            memcpy(wk->H0, wk->H, wk->q * wk->q * sizeof(double));
        if ((bad = factor_hessian(wk)) != 0)
            return err_singular(wk, bad - 1, it, e);
        newton_direction(wk);
        if (newton_converged(wk))
            return quasi_separated(wk, it, &col) ?
                   err_separable(wk, it, 0, col, e) : RP_OK;
        if (it >= max_iter || !line_search(wk))
            return err_stalled(wk, it, max_iter, e);
    }
}

int lr_train(const double *X, size_t n, size_t p, const double *y,
             const double *w, const lr_params *par, lr_fit *fit, rp_err *e)
{
    lr_params def = lr_params_default();
    lr_work wk;
    double W = 0, W1 = 0;
    int rc, iters = 0;

    memset(fit, 0, sizeof *fit);
    if (!par)
        par = &def;
    if ((rc = check_inputs(X, n, p, y, w, par, &W, &W1, e)) != RP_OK)
        return rc;
    work_init(&wk, X, n, p, y, w, par);
    wk.W = W;
    wk.W1 = W1;
    rc = newton(&wk, par->init, par->max_iter, &iters, e);
    if (rc == RP_OK)
        fill_fit(&wk, iters, fit);
    work_free(&wk);
    return rc;
}
