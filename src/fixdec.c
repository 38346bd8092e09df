/*
 * fixdec.c - exact money arithmetic (see fixdec.h for the contract).
 *
 * Why integers: the feature SQL sums money as NUMERIC, exactly, and casts
 * each result to float8 once.  To get the same bits on the client, every
 * amount becomes an integer count of 10^-scale units, sums are kept in
 * 128 bits (exact, so the order in which rows arrive does not matter),
 * and the result is rounded to a double once, correctly, as PostgreSQL's
 * numeric -> float8 cast rounds it (numeric_out, then strtod).
 *
 * Binary NUMERIC (numeric_send): int16 ndigits, int16 weight, uint16
 * sign, int16 dscale, then ndigits base-10000 digits, most significant
 * first; the value is sum(d[i] * 10000^(weight - i)).  PostgreSQL strips
 * leading and trailing zero digit groups, and digits beyond dscale are
 * zero, so the value times 10^dscale is always an integer.
 */
#include "fixdec.h"

#include <stdlib.h>
#include <string.h>

static int rd16(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (int16_t)(uint16_t)(u[0] << 8 | u[1]);
}

fd_int fd_pow10(int k)
{
    fd_int r = 1;

    while (k-- > 0)
        r *= 10;
    return r;
}

/* 10^k for k <= 18 without a loop: the hot paths scale by small k. */
static const int64_t p10_64[19] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL,
    100000000LL, 1000000000LL, 10000000000LL, 100000000000LL,
    1000000000000LL, 10000000000000LL, 100000000000000LL,
    1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
    1000000000000000000LL};

int fd_mul_pow10(fd_int *x, int k)
{
    fd_int r;

    if (k == 0 || *x == 0)
        return 0;
    if (k > 38)
        return -1;
    if (__builtin_mul_overflow(*x, fd_pow10(k), &r))
        return -1;
    *x = r;
    return 0;
}

int fd_mul_pow10_64(int64_t *x, int k)
{
    int64_t r;

    if (k == 0 || *x == 0)
        return 0;
    if (k > 18 || __builtin_mul_overflow(*x, p10_64[k], &r))
        return -1;
    *x = r;
    return 0;
}

int fd_numeric_parse(const char *p, int len, int64_t *m, int *scale)
{
    int ndigits, weight, sign, dscale, i, e;
    fd_int acc = 0;

    if (len < 8)
        return FD_BAD;
    ndigits = rd16(p);
    weight = rd16(p + 2);
    sign = (uint16_t)rd16(p + 4);
    dscale = rd16(p + 6);
    if (ndigits < 0 || len != 8 + 2 * ndigits || dscale < 0)
        return FD_BAD;
    if (sign != 0 && sign != 0x4000)
        return sign == 0xC000 || sign == 0xD000 || sign == 0xF000 ? FD_SPECIAL : FD_BAD;
    if (dscale > FD_MAX_SCALE || ndigits > 9)   /* 10000^9 = 10^36 fits */
        return FD_RANGE;
    for (i = 0; i < ndigits; i++) {
        int d = rd16(p + 8 + 2 * i);
        if (d < 0 || d > 9999)
            return FD_BAD;
        acc = acc * 10000 + d;
    }
    /* acc = value * 10000^(ndigits - 1 - weight); bring it to 10^dscale */
    e = dscale - 4 * (ndigits - 1 - weight);
    if (ndigits == 0) {
        acc = 0;
    } else if (e >= 0) {
        if (fd_mul_pow10(&acc, e))
            return FD_RANGE;
    } else {
        fd_int q = fd_pow10(-e);
        if (-e > 3 || acc % q)
            return FD_BAD;   /* digits beyond dscale: not what PostgreSQL sends */
        acc /= q;
    }
    if (acc > INT64_MAX)
        return FD_RANGE;
    *m = sign ? -(int64_t)acc : (int64_t)acc;
    *scale = dscale;
    return FD_OK;
}

char *fd_format(fd_int m, int scale, char *buf)
{
    char dig[48];
    unsigned __int128 u = m < 0 ? -(unsigned __int128)m : (unsigned __int128)m;
    int nd = 0, i;
    char *w = buf;

    do {
        dig[nd++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    while (nd <= scale)          /* at least one digit before the point */
        dig[nd++] = '0';
    if (m < 0)
        *w++ = '-';
    for (i = nd - 1; i >= 0; i--) {
        *w++ = dig[i];
        if (i == scale && scale > 0)
            *w++ = '.';
    }
    *w = '\0';
    return buf;
}

double fd_to_double(fd_int m, int scale)
{
    static const double p10d[23] = {
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const fd_int exact = (fd_int)1 << 53;
    char buf[64];

    /* |m| <= 2^53 and 10^scale <= 10^22 are both doubles exactly, so one
     * IEEE division is the correctly rounded quotient (Clinger's fast
     * path): the same double strtod returns for the decimal text */
    if (m <= exact && m >= -exact && scale <= 22)
        return (double)(int64_t)m / p10d[scale];
    return strtod(fd_format(m, scale, buf), NULL);
}
