/*
 * fixdec.h - exact money arithmetic: PostgreSQL's binary NUMERIC as scaled
 * integers, and scaled integers back to the double PostgreSQL would give.
 *
 * A value is a pair (m, s) meaning m * 10^-s: 12.34 is (1234, 2).  Sums of
 * such values are exact in any order, which is what lets fastfeat.c
 * aggregate rows from several connections and still produce the bits the
 * feature SQL produces with sum(numeric)::float8.
 *
 * fd_int is a 128-bit integer (GCC/Clang __int128): sums of squares of
 * 64-bit mantissas need it.  Functions that can overflow say so and leave
 * the caller to give up (the SQL path then computes the features).
 */
#ifndef RP_FIXDEC_H
#define RP_FIXDEC_H

#include <stdint.h>

__extension__ typedef __int128 fd_int;

/* Largest decimal scale handled: 10^18 still fits an int64. */
#define FD_MAX_SCALE 18

enum {
    FD_OK = 0,
    FD_SPECIAL = 1,   /* NaN, Infinity or -Infinity */
    FD_RANGE = 2,     /* more than FD_MAX_SCALE decimals, or |m| >= 2^63 */
    FD_BAD = 3        /* not a binary NUMERIC */
};

/*
 * Parses a NUMERIC in PostgreSQL's binary send format (len bytes: ndigits,
 * weight, sign, dscale, then ndigits base-10000 digits, all big-endian
 * 16-bit) into *m and *scale (= the value's display scale).  Returns one
 * of the FD_ codes.
 */
int fd_numeric_parse(const char *p, int len, int64_t *m, int *scale);

/* 10^k for 0 <= k <= 38 (fits fd_int). */
fd_int fd_pow10(int k);

/* *x *= 10^k (0 <= k); 0 on success, -1 on overflow (x unchanged). */
int fd_mul_pow10(fd_int *x, int k);
int fd_mul_pow10_64(int64_t *x, int k);

/*
 * The double nearest to m * 10^-scale (ties to even), i.e. what
 * PostgreSQL's numeric -> float8 cast gives: it prints the exact decimal
 * and calls strtod.  Exact small cases take the one-division fast path
 * (both operands exactly representable, so IEEE division rounds once,
 * correctly); the rest go through the decimal text and strtod, as
 * PostgreSQL does.  0 <= scale <= 2 * FD_MAX_SCALE + 2.
 */
double fd_to_double(fd_int m, int scale);

/* The decimal text of m * 10^-scale ("-12.340" for (-12340, 3)) into buf
 * (at least 48 bytes); returns buf. */
char *fd_format(fd_int m, int scale, char *buf);

#endif
