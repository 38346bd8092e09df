/*
 * generate.c - synthetic customers, accounts and transactions with a
 * planted, documented risk model.
 *
 * Purpose.  Demos, tests and benchmarks need data whose right answer is
 * known.  Every customer gets a hidden risk factor z ~ N(0,1).  z shifts the
 * customer's behaviour (more gambling, cash withdrawals and fees, more
 * activity in the last 90 days, lower and sometimes negative balances) and,
 * together with age, city and account type, sets the planted probability
 *
 *     p = sigmoid(GEN_ALPHA + GEN_B_Z*z + GEN_B_AGE*(age-44)/15
 *                 + city_effect + type_effect)
 *
 * The label is a Bernoulli(p) draw, and risk_score is drawn so that
 * max(risk_score) > 0.7 exactly when that draw is 1: one account of a
 * high-risk customer scores in [0.7001, 1], every other account in
 * [0, 0.7].  Even p itself ranks the labels with an AUC of only about 0.89
 * (the label is a coin flip), and a model sees z only through noisy
 * behaviour: logistic regression on per-customer aggregates reaches about
 * 0.83.  That is the point: learnable, not trivially separable.
 * docs/synthetic-data.md gives every number; --truth writes p.
 *
 * Invariants.
 *  - Deterministic.  Every random draw comes from a private xoshiro256**
 *    stream keyed by (seed, customer_id, part), never libc rand() or the
 *    clock.  Same seed and count give byte-identical tables, and because
 *    streams are keyed by customer id (not by position in a run), appending
 *    M customers after a fresh run of N with the same seed gives exactly
 *    the tables of a fresh run of N+M.
 *  - The date window is fixed (2024-01-01 .. 2025-12-31), not relative to
 *    today, for the same reason.
 *  - All or nothing: TRUNCATE (replace mode) and the three COPYs run in one
 *    transaction; the truth file is renamed into place only after COMMIT.
 *
 * Workload and shape.  Millions of transaction rows must load in seconds,
 * so rows are formatted by hand into one buffer and streamed with
 * COPY FROM STDIN (text format), flushed every GEN_FLUSH bytes.  One
 * connection can run only one COPY at a time, so the generator makes three
 * passes over the customers (customers, accounts, transactions), redrawing
 * each customer's small set of traits from its own stream in each pass
 * instead of holding them in memory: memory stays constant in N.
 */
#include "generate.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"

/* ---------------------------------------------------------------------
 * The planted model.  Every constant is documented in
 * docs/synthetic-data.md; change both together.
 * ------------------------------------------------------------------- */

#define GEN_DAYS       731      /* 2024-01-01 .. 2025-12-31 */
#define GEN_RECENT     90       /* "last 90 days" window at the end */
#define GEN_FLUSH      (1u << 20)

/* Log-odds of the label. */
#define GEN_ALPHA      (-2.4)
#define GEN_B_Z        2.2
#define GEN_B_AGE      (-0.35)  /* per 15 years above 44: young is riskier */
#define GEN_AGE_MEAN   44.0
#define GEN_AGE_SD     15.0

/* Shares of customer kinds. */
#define GEN_P_AGE_NULL     0.005
#define GEN_P_NO_ACCOUNTS  0.02
#define GEN_P_NO_TXNS      0.03
#define GEN_P_UNASSESSED   0.025   /* has accounts, all risk_score NULL */
#define GEN_EXTRA_ACCOUNTS 0.55    /* Poisson mean of accounts beyond one */
#define GEN_TXN_MEAN       20.6    /* Poisson mean for active customers */

/* Cities with Zipf(1) frequencies (share of city k is (1/k)/H_20) and a
 * fixed effect on the log-odds.  Constants, not seeded: the model stays
 * the same across seeds and append runs. */
#define GEN_NCITY 20
static const char *const gen_city[GEN_NCITY] = {
    "London", "Manchester", "Birmingham", "Leeds", "Glasgow",
    "Liverpool", "Bristol", "Sheffield", "Edinburgh", "Cardiff",
    "Leicester", "Coventry", "Belfast", "Nottingham", "Newcastle",
    "Brighton", "Hull", "Plymouth", "Derby", "Aberdeen"};
static const double gen_city_effect[GEN_NCITY] = {
    0, 0, 0.4, 0, -0.3, 0.5, 0, 0, -0.4, 0,
    0, 0.3, 0, 0, 0, 0, 0, 0, 0, 0};

enum { ACC_CHECKING, ACC_SAVINGS, ACC_BUSINESS, GEN_NTYPE };
static const char *const gen_type[GEN_NTYPE] = {"checking", "savings", "business"};
static const double gen_type_share[GEN_NTYPE] = {0.55, 0.40, 0.05};
static const double gen_type_effect[GEN_NTYPE] = {0, -0.3, 0.25};
/* Log-balance shift of an account of this type. */
static const double gen_type_balance[GEN_NTYPE] = {0, 0.8, 1.5};

/* Transaction categories.  share: weight at z = 0 before the customer's
 * own taste; z_slope: change of log-weight per unit of z; median and sigma
 * of the lognormal amount; income: 1 when the amount scales with the
 * customer's income level. */
#define GEN_NCAT 10
#define CAT_GAMBLING 6          /* index of "gambling" below */
typedef struct gen_cat {
    const char *name;
    double share, z_slope, median, sigma, income;
} gen_cat;
static const gen_cat gen_cats[GEN_NCAT] = {
    {"groceries",       0.30,  0.0,   45.0, 0.6, 1},
    {"rent",            0.05,  0.0, 1100.0, 0.3, 1},
    {"utilities",       0.08,  0.0,   90.0, 0.4, 1},
    {"salary",          0.05, -0.3, 2600.0, 0.35, 1},
    {"travel",          0.05, -0.3,  350.0, 0.9, 1},
    {"dining",          0.16,  0.0,   35.0, 0.6, 1},
    {"gambling",        0.02,  1.3,   60.0, 1.1, 1},
    {"cash_withdrawal", 0.10,  0.6,  120.0, 0.7, 1},
    {"transfer",        0.13,  0.0,  300.0, 1.0, 1},
    {"fees",            0.04,  0.7,   12.0, 0.5, 0},
};
#define GEN_TASTE_SD   0.4     /* customer's own log-weight noise */
#define GEN_INCOME_SD  0.4     /* log income level */
#define GEN_GAMBLE_AMT 0.3     /* log gambling amount per unit of z */

/* Balances (per account): log(balance) = log(2500) + income + type shift
 * - 0.7 z + N(0, 0.8); a checking or business account is instead overdrawn
 * (balance -lognormal(log 400, 0.8)) with probability sigmoid(-3.2 + 0.9 z). */
#define GEN_BAL_MEDIAN 2500.0
#define GEN_BAL_Z      (-0.7)
#define GEN_BAL_SD     0.8
#define GEN_OD_A       (-3.2)
#define GEN_OD_B       0.9
#define GEN_OD_MEDIAN  400.0
#define GEN_OD_SD      0.8

/* Activity: overall rate factor exp(0.15 z + 0.5 u), share of transactions
 * in the last 90 days 0.15 exp(0.55 z + 0.3 u'), capped at 0.9. */
#define GEN_RATE_Z     0.15
#define GEN_RATE_SD    0.5
#define GEN_RECENT_Q   0.15
#define GEN_RECENT_Z   0.55
#define GEN_RECENT_SD  0.3
#define GEN_P_SINCE_START 0.6  /* customer since before the window */

/* Independent random streams per customer. */
enum { STREAM_CUSTOMER = 1, STREAM_ACCOUNTS = 2, STREAM_TXNS = 3 };

/* ---------------------------------------------------------------------
 * PRNG: xoshiro256** seeded through splitmix64 (Vigna's recommendation),
 * Box-Muller normals.  Small, fast, and the same on every platform; libc's
 * rand() is neither portable nor seedable per customer.
 * ------------------------------------------------------------------- */

#define GEN_TWO_PI 6.283185307179586476925286766559

typedef struct rng {
    uint64_t s[4];
    double spare;      /* second Box-Muller normal */
    int has_spare;
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A stream for (seed, id, part): chained splitmix so that nearby ids and
 * seeds give unrelated states. */
static void rng_seed(rng *r, uint64_t seed, uint64_t id, uint64_t part)
{
    uint64_t x = seed;
    x = splitmix64(&x) ^ id;
    x = splitmix64(&x) ^ part;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->spare = 0;
    r->has_spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in the open interval (0,1), so log() is always finite. */
static inline double rng_unif(rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

/* Uniform integer in [0, n): the multiply-shift bias (< n / 2^32) is far
 * below anything the data is used for. */
static inline long rng_below(rng *r, long n)
{
    return (long)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static double rng_normal(rng *r)
{
    double u, v, m;

    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    u = rng_unif(r);
    v = rng_unif(r);
    m = sqrt(-2.0 * log(u));
    r->spare = m * sin(GEN_TWO_PI * v);
    r->has_spare = 1;
    return m * cos(GEN_TWO_PI * v);
}

/* Poisson: Knuth's product method (exact, O(lambda)) up to 500, a rounded
 * normal beyond (only reached by absurd rate draws; exp(-lambda) would
 * underflow near 745). */
static long rng_poisson(rng *r, double lambda)
{
    double l, p = 1.0;
    long k = 0;

    if (lambda <= 0)
        return 0;
    if (lambda > 500) {
        double x = floor(lambda + sqrt(lambda) * rng_normal(r) + 0.5);
        return x < 0 ? 0 : (long)x;
    }
    l = exp(-lambda);
    do {
        k++;
        p *= rng_unif(r);
    } while (p > l);
    return k - 1;
}

/* Index drawn from a cumulative weight table cum[0..n-1] (cum[n-1] > 0). */
static int rng_pick(rng *r, const double *cum, int n)
{
    double u = rng_unif(r) * cum[n - 1];
    for (int i = 0; i < n - 1; i++)
        if (u < cum[i])
            return i;
    return n - 1;
}

static double sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

/* ---------------------------------------------------------------------
 * One customer's traits, drawn from its STREAM_CUSTOMER stream in a fixed
 * order.  Each pass redraws them (a few dozen numbers) rather than storing
 * N of them.
 * ------------------------------------------------------------------- */

typedef struct gen_cust {
    long id;
    int age, age_null, city, type;
    double z, income;
    int n_accounts;
    long n_txns;
    int start_day;           /* first possible transaction day */
    double recent;           /* share of transactions in the last 90 days */
    double cat_cum[GEN_NCAT];
    double eta, p;           /* planted log-odds and P(label = 1) */
    int high;                /* the Bernoulli(p) draw */
    int assessed;            /* 0: all risk_score NULL */
} gen_cust;

/* The fixed tables turned into cumulative weights, computed once a run. */
typedef struct gen_tables {
    double city_cum[GEN_NCITY];
    double type_cum[GEN_NTYPE];
    char dates[GEN_DAYS][11];   /* "YYYY-MM-DD" for each day offset */
} gen_tables;

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm),
 * so the date strings need neither the C library's time zone nor mktime. */
static void civil_from_days(long z, int *y, int *m, int *d)
{
    long era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void tables_init(gen_tables *t)
{
    const long day0 = 19723;    /* 2024-01-01 in days since 1970-01-01 */
    double acc = 0;

    for (int k = 0; k < GEN_NCITY; k++)
        t->city_cum[k] = (acc += 1.0 / (k + 1));
    acc = 0;
    for (int k = 0; k < GEN_NTYPE; k++)
        t->type_cum[k] = (acc += gen_type_share[k]);
    for (int i = 0; i < GEN_DAYS; i++) {
        int y, m, d;
        civil_from_days(day0 + i, &y, &m, &d);
        /* By hand: the window's years have four digits, and snprintf
         * would make the compiler warn about truncation it cannot rule out. */
        char *p = t->dates[i];
        p[0] = (char)('0' + y / 1000 % 10);
        p[1] = (char)('0' + y / 100 % 10);
        p[2] = (char)('0' + y / 10 % 10);
        p[3] = (char)('0' + y % 10);
        p[4] = '-';
        p[5] = (char)('0' + m / 10);
        p[6] = (char)('0' + m % 10);
        p[7] = '-';
        p[8] = (char)('0' + d / 10);
        p[9] = (char)('0' + d % 10);
        p[10] = '\0';
    }
}

static void cust_draw(gen_cust *cu, const gen_tables *t, uint64_t seed, long id)
{
    rng r;
    double age, acc = 0;

    rng_seed(&r, seed, (uint64_t)id, STREAM_CUSTOMER);
    cu->id = id;
    age = floor(GEN_AGE_MEAN + GEN_AGE_SD * rng_normal(&r) + 0.5);
    cu->age = age < 18 ? 18 : age > 95 ? 95 : (int)age;
    cu->age_null = rng_unif(&r) < GEN_P_AGE_NULL;
    cu->city = rng_pick(&r, t->city_cum, GEN_NCITY);
    cu->type = rng_pick(&r, t->type_cum, GEN_NTYPE);
    cu->z = rng_normal(&r);
    cu->income = GEN_INCOME_SD * rng_normal(&r);

    cu->n_accounts = rng_unif(&r) < GEN_P_NO_ACCOUNTS
                         ? 0 : 1 + (int)rng_poisson(&r, GEN_EXTRA_ACCOUNTS);
    {
        /* The -sd^2/2 term gives the lognormal noise factor mean 1, so an
         * active customer at z = 0 averages GEN_TXN_MEAN transactions. */
        double rate = GEN_TXN_MEAN * exp(GEN_RATE_Z * cu->z
                                         + GEN_RATE_SD * rng_normal(&r)
                                         - 0.5 * GEN_RATE_SD * GEN_RATE_SD);
        int dormant = rng_unif(&r) < GEN_P_NO_TXNS;
        long n = rng_poisson(&r, rate);
        cu->n_txns = dormant ? 0 : n;
    }
    cu->start_day = rng_unif(&r) < GEN_P_SINCE_START
                        ? 0 : (int)rng_below(&r, GEN_DAYS - GEN_RECENT);
    cu->recent = GEN_RECENT_Q * exp(GEN_RECENT_Z * cu->z
                                    + GEN_RECENT_SD * rng_normal(&r));
    if (cu->recent > 0.9)
        cu->recent = 0.9;
    for (int k = 0; k < GEN_NCAT; k++) {
        double w = gen_cats[k].share * exp(gen_cats[k].z_slope * cu->z
                                           + GEN_TASTE_SD * rng_normal(&r));
        cu->cat_cum[k] = (acc += w);
    }

    cu->eta = GEN_ALPHA + GEN_B_Z * cu->z
          + GEN_B_AGE * (cu->age - GEN_AGE_MEAN) / GEN_AGE_SD
          + gen_city_effect[cu->city] + gen_type_effect[cu->type];
    cu->p = sigmoid(cu->eta);
    cu->high = rng_unif(&r) < cu->p;
    cu->assessed = cu->n_accounts > 0 && !(rng_unif(&r) < GEN_P_UNASSESSED);
}

/* ---------------------------------------------------------------------
 * Hand-formatting into a COPY text buffer.  snprintf would be about a
 * third of the run time at two million rows.
 * ------------------------------------------------------------------- */

static inline void put_int(sb_t *sb, long long v)
{
    char tmp[24];
    int n = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[n++] = '-';
    sb_reserve(sb, (size_t)n);
    while (n)
        sb->p[sb->len++] = tmp[--n];
    sb->p[sb->len] = '\0';
}

/* A fixed-point value with `places` decimals: cents (2), score (4). */
static void put_fixed(sb_t *sb, long long v, int places)
{
    long long scale = places == 2 ? 100 : 10000;
    long long a = v < 0 ? -v : v, frac = a % scale;
    char f[8];

    if (v < 0)
        sb_putc(sb, '-');
    put_int(sb, a / scale);
    sb_putc(sb, '.');
    for (int i = places - 1; i >= 0; i--, frac /= 10)
        f[i] = (char)('0' + frac % 10);
    sb_appendn(sb, f, (size_t)places);
}

/* Money in cents, rounded, capped so NUMERIC(14,2) always fits. */
static long long to_cents(double x)
{
    double c = floor(x * 100.0 + 0.5);
    if (c > 1e13)
        c = 1e13;
    if (c < -1e13)
        c = -1e13;
    return (long long)c;
}

/* ---------------------------------------------------------------------
 * The run.
 * ------------------------------------------------------------------- */

typedef struct gen_ctx {
    db_conn *c;
    const gen_opts *o;
    gen_tables tab;
    long cust0, acct0;       /* last existing ids (0 in replace mode) */
    long long txn0;
    char *q_cust, *q_acct, *q_txn;   /* quoted "schema"."table" */
    sb_t buf;
    FILE *truth;
    char *truth_tmp;
    long n_accounts, n_txns; /* totals, known after the customers pass */
    gen_summary sum;
} gen_ctx;

static int flush(gen_ctx *g, int force, rp_err *e)
{
    int rc = RP_OK;

    if (g->buf.len >= GEN_FLUSH || (force && g->buf.len)) {
        rc = db_copy_in_put(g->c, g->buf.p, g->buf.len, e);
        sb_clear(&g->buf);
    }
    return rc;
}

/* Pass 1: customers rows and the truth file; counts accounts and
 * transactions so that id overflow is caught before their COPYs. */
static int customer_rows(gen_ctx *g, rp_err *e)
{
    gen_cust cu;
    int rc = RP_OK;

    for (long i = 1; i <= g->o->customers && !rc; i++) {
        cust_draw(&cu, &g->tab, g->o->seed, g->cust0 + i);
        put_int(&g->buf, cu.id);
        sb_putc(&g->buf, '\t');
        if (cu.age_null)
            sb_appendn(&g->buf, "\\N", 2);
        else
            put_int(&g->buf, cu.age);
        /* City and type names are constants without COPY specials. */
        sb_putc(&g->buf, '\t');
        sb_append(&g->buf, gen_city[cu.city]);
        sb_putc(&g->buf, '\t');
        sb_append(&g->buf, gen_type[cu.type]);
        sb_putc(&g->buf, '\n');

        if (g->truth && fprintf(g->truth, "%ld,%.17g\n", cu.id, cu.p) < 0)
            rc = rp_err_set(e, RP_EINTERNAL, "could not write \"%s\": %s",
                            g->truth_tmp, strerror(errno));
        g->n_accounts += cu.n_accounts;
        g->n_txns += cu.n_txns;
        g->sum.high_risk += cu.assessed && cu.high;
        g->sum.unlabelled += !cu.assessed;
        if (!rc)
            rc = flush(g, 0, e);
    }
    return rc;
}

/* One account row.  risk_score: a high-risk customer's chosen account gets
 * 0.7001..1.0000, every other account 0..0.6999 leaning towards p, so that
 * max(risk_score) > 0.7 exactly when the Bernoulli draw was 1. */
static void account_row(gen_ctx *g, rng *r, const gen_cust *cu, long id,
                        int type, int is_top)
{
    double lb = log(GEN_BAL_MEDIAN) + cu->income + gen_type_balance[type]
                + GEN_BAL_Z * cu->z + GEN_BAL_SD * rng_normal(r);
    double bal = exp(lb);
    /* Always draw, so the stream does not depend on the branch taken. */
    double u_od = rng_unif(r);
    int od = type != ACC_SAVINGS && u_od < sigmoid(GEN_OD_A + GEN_OD_B * cu->z);
    double od_amt = exp(log(GEN_OD_MEDIAN) + GEN_OD_SD * rng_normal(r));
    double s = sigmoid(cu->eta + rng_normal(r));
    long score = is_top ? 7001 + rng_below(r, 3000) : (long)floor(7000.0 * s);

    put_int(&g->buf, id);
    sb_putc(&g->buf, '\t');
    put_int(&g->buf, cu->id);
    sb_putc(&g->buf, '\t');
    put_fixed(&g->buf, to_cents(od ? -od_amt : bal), 2);
    sb_putc(&g->buf, '\t');
    if (cu->assessed)
        put_fixed(&g->buf, score, 4);
    else
        sb_appendn(&g->buf, "\\N", 2);
    sb_putc(&g->buf, '\n');
}

/* Pass 2: accounts.  The first account has the customer's account_type;
 * further ones are mostly savings. */
static int account_rows(gen_ctx *g, rp_err *e)
{
    gen_cust cu;
    rng r;
    long id = g->acct0;
    int rc = RP_OK;

    for (long i = 1; i <= g->o->customers && !rc; i++) {
        int top;
        cust_draw(&cu, &g->tab, g->o->seed, g->cust0 + i);
        rng_seed(&r, g->o->seed, (uint64_t)cu.id, STREAM_ACCOUNTS);
        top = cu.n_accounts ? (int)rng_below(&r, cu.n_accounts) : 0;
        for (int k = 0; k < cu.n_accounts; k++) {
            int type = k == 0 ? cu.type
                       : rng_unif(&r) < 0.7 ? ACC_SAVINGS : ACC_CHECKING;
            account_row(g, &r, &cu, ++id, type, cu.high && k == top);
        }
        rc = flush(g, 0, e);
    }
    return rc;
}

/* Insertion sort: a customer has a few dozen days at most in practice. */
static void sort_days(int *d, long n)
{
    for (long i = 1; i < n; i++) {
        int v = d[i];
        long j = i;
        for (; j > 0 && d[j - 1] > v; j--)
            d[j] = d[j - 1];
        d[j] = v;
    }
}

/* Pass 3: transactions, in date order within a customer so that ids grow
 * with time as in a real ledger. */
static int transaction_rows(gen_ctx *g, rp_err *e)
{
    gen_cust cu;
    rng r;
    long long id = g->txn0;
    long cap = 0;
    int *days = NULL, rc = RP_OK;
    const int recent0 = GEN_DAYS - GEN_RECENT;

    for (long i = 1; i <= g->o->customers && !rc; i++) {
        cust_draw(&cu, &g->tab, g->o->seed, g->cust0 + i);
        rng_seed(&r, g->o->seed, (uint64_t)cu.id, STREAM_TXNS);
        if (cu.n_txns > cap)
            days = xreallocarray(days, (size_t)(cap = cu.n_txns * 2), sizeof *days);
        for (long k = 0; k < cu.n_txns; k++)
            days[k] = rng_unif(&r) < cu.recent
                          ? recent0 + (int)rng_below(&r, GEN_RECENT)
                          : cu.start_day + (int)rng_below(&r, recent0 - cu.start_day);
        sort_days(days, cu.n_txns);
        for (long k = 0; k < cu.n_txns; k++) {
            int cat = rng_pick(&r, cu.cat_cum, GEN_NCAT);
            const gen_cat *gc = &gen_cats[cat];
            double la = log(gc->median) + gc->income * cu.income
                        + gc->sigma * rng_normal(&r)
                        + (cat == CAT_GAMBLING ? GEN_GAMBLE_AMT * cu.z : 0);
            long long cents = to_cents(exp(la));

            put_int(&g->buf, ++id);
            sb_putc(&g->buf, '\t');
            put_int(&g->buf, cu.id);
            sb_putc(&g->buf, '\t');
            put_fixed(&g->buf, cents < 1 ? 1 : cents, 2);
            sb_putc(&g->buf, '\t');
            sb_appendn(&g->buf, g->tab.dates[days[k]], 10);
            sb_putc(&g->buf, '\t');
            sb_append(&g->buf, gc->name);
            sb_putc(&g->buf, '\n');
        }
        rc = flush(g, 0, e);
    }
    free(days);
    return rc;
}

/* COPY one table: begin, the pass, final flush, end (aborting on error so
 * the connection stays usable for the ROLLBACK). */
static int copy_table(gen_ctx *g, const char *qtable, const char *cols,
                      int (*pass)(gen_ctx *, rp_err *), rp_err *e)
{
    char *sql = xasprintf("COPY %s (%s) FROM STDIN", qtable, cols);
    int rc = db_copy_in_begin(g->c, sql, e);

    free(sql);
    if (rc)
        return rc;
    sb_clear(&g->buf);
    rc = pass(g, e);
    if (!rc)
        rc = flush(g, 1, e);
    if (rc) {
        rp_err dummy;
        db_copy_in_end(g->c, 1, &dummy);
        return rc;
    }
    return db_copy_in_end(g->c, 0, e);
}

/* A SELECT coalesce(max(col), 0) as a long long. */
static int max_id(gen_ctx *g, const char *qtable, const char *col,
                  long long *out, rp_err *e)
{
    char *sql = xasprintf("SELECT coalesce(max(%s), 0) FROM %s", col, qtable);
    char *v = NULL;
    int rc = db_query_value(g->c, sql, 0, NULL, &v, e);

    free(sql);
    if (!rc)
        *out = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    return rc;
}

/* Replace mode empties the tables; append mode locks out other writers
 * (readers go on) and starts ids after the current maxima. */
static int prepare_tables(gen_ctx *g, rp_err *e)
{
    char *sql;
    long long v = 0;
    int rc;

    if (!g->o->append) {
        sql = xasprintf("TRUNCATE %s, %s, %s", g->q_cust, g->q_acct, g->q_txn);
        rc = db_exec(g->c, sql, e);
        free(sql);
        return rc;
    }
    sql = xasprintf("LOCK TABLE %s, %s, %s IN SHARE ROW EXCLUSIVE MODE",
                    g->q_cust, g->q_acct, g->q_txn);
    rc = db_exec(g->c, sql, e);
    free(sql);
    if (!rc && !(rc = max_id(g, g->q_cust, "customer_id", &v, e)))
        g->cust0 = (long)v;
    if (!rc && !(rc = max_id(g, g->q_acct, "account_id", &v, e)))
        g->acct0 = (long)v;
    if (!rc)
        rc = max_id(g, g->q_txn, "transaction_id", &g->txn0, e);
    if (!rc && g->cust0 + g->o->customers > 2147483647L) {
        rc = rp_err_set(e, RP_EDATA, "%ld more customers would overflow "
                        "customer_id (current maximum %ld)",
                        g->o->customers, g->cust0);
    }
    return rc;
}

static int truth_open(gen_ctx *g, rp_err *e)
{
    int fd;

    g->truth_tmp = xasprintf("%s.tmp-%ld", g->o->truth_path, (long)getpid());
    fd = open(g->truth_tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0 || !(g->truth = fdopen(fd, "w"))) {
        rp_err_set(e, RP_EINTERNAL, "could not create the truth file \"%s\": %s",
                   g->o->truth_path, strerror(errno));
        rp_err_detail(e, "it is written to \"%s\" first and renamed", g->truth_tmp);
        if (fd >= 0)
            close(fd);
        free(g->truth_tmp);
        g->truth_tmp = NULL;
        return RP_EINTERNAL;
    }
    fputs("customer_id,probability\n", g->truth);
    return RP_OK;
}

/* Flushes the truth file to disk before COMMIT, so that a full disk fails
 * the whole run instead of leaving data without its truth. */
static int truth_close(gen_ctx *g, rp_err *e)
{
    int bad, err;

    errno = 0;
    bad = fflush(g->truth) != 0 || fsync(fileno(g->truth)) != 0;
    err = errno;

    bad |= fclose(g->truth) != 0;
    g->truth = NULL;
    if (bad)
        return rp_err_set(e, RP_EINTERNAL, "could not write \"%s\": %s",
                          g->truth_tmp, strerror(err ? err : errno));
    return RP_OK;
}

/* account_id is an INT: refuse before the accounts COPY rather than let
 * PostgreSQL fail on row 2^31 after minutes of work. */
static int check_ids(gen_ctx *g, rp_err *e)
{
    if (g->acct0 + g->n_accounts > 2147483647L)
        return rp_err_set(e, RP_EDATA, "%ld accounts would overflow account_id "
                          "(current maximum %ld)", g->n_accounts, g->acct0);
    return RP_OK;
}

static int load(gen_ctx *g, rp_err *e)
{
    int rc;

    if ((rc = db_begin(g->c, e)))
        return rc;
    if ((rc = prepare_tables(g, e)))
        return rc;
    if ((rc = copy_table(g, g->q_cust, "customer_id, age, city, account_type",
                         customer_rows, e)))
        return rc;
    if ((rc = check_ids(g, e)))
        return rc;
    if ((rc = copy_table(g, g->q_acct, "account_id, customer_id, balance, risk_score",
                         account_rows, e)))
        return rc;
    if ((rc = copy_table(g, g->q_txn, "transaction_id, customer_id, amount, "
                         "transaction_date, category", transaction_rows, e)))
        return rc;
    /* Fresh statistics so that the feature queries that follow get good
     * plans; inside the transaction so it sees the new rows. */
    {
        char *sql = xasprintf("ANALYZE %s; ANALYZE %s; ANALYZE %s",
                              g->q_cust, g->q_acct, g->q_txn);
        rc = db_exec(g->c, sql, e);
        free(sql);
    }
    if (!rc && g->truth)
        rc = truth_close(g, e);
    if (!rc)
        rc = db_commit(g->c, e);
    return rc;
}

int gen_run(db_conn *c, const rp_tables *t, const gen_opts *o,
            gen_summary *out, rp_err *e)
{
    gen_ctx g;
    double t0 = log_now();
    int rc = RP_OK;

    if (o->customers < 1)
        return rp_err_set(e, RP_EUSAGE, "the number of customers must be at "
                          "least 1 (got %ld)", o->customers);
    if (o->customers > 2147483647L)
        return rp_err_set(e, RP_EUSAGE, "too many customers (%ld): customer_id "
                          "is an INT", o->customers);
    memset(&g, 0, sizeof g);
    g.c = c;
    g.o = o;
    tables_init(&g.tab);
    g.q_cust = schema_qualify(c, t, t->customers);
    g.q_acct = schema_qualify(c, t, t->accounts);
    g.q_txn = schema_qualify(c, t, t->transactions);
    if (o->truth_path)
        rc = truth_open(&g, e);
    if (!rc)
        rc = load(&g, e);
    if (rc)
        db_rollback(c);
    if (g.truth)
        fclose(g.truth);
    if (g.truth_tmp) {
        if (!rc && rename(g.truth_tmp, o->truth_path) != 0) {
            rc = rp_err_set(e, RP_EINTERNAL, "could not rename \"%s\" to \"%s\": %s",
                            g.truth_tmp, o->truth_path, strerror(errno));
            rp_err_detail(e, "the generated data was committed");
        }
        if (rc)
            unlink(g.truth_tmp);
    }
    if (!rc && out) {
        g.sum.customers = o->customers;
        g.sum.accounts = g.n_accounts;
        g.sum.transactions = g.n_txns;
        g.sum.seconds = log_now() - t0;
        *out = g.sum;
    }
    free(g.truth_tmp);
    free(g.q_cust);
    free(g.q_acct);
    free(g.q_txn);
    sb_free(&g.buf);
    return rc;
}
