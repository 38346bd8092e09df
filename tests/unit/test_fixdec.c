/*
 * test_fixdec.c - binary NUMERIC parsing and exact-to-double rounding.
 *
 * The NUMERIC bytes are built by a small encoder written here from
 * PostgreSQL's rules (base-10000 groups aligned on the decimal point,
 * zero groups stripped at both ends, dscale = digits after the point), and
 * fd_to_double is compared with strtod of the exact decimal text, which is
 * what PostgreSQL's numeric -> float8 cast does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixdec.h"

/* numeric_send of a decimal string like "-123.4500" into out; returns
 * the length. */
static int encode(const char *s, unsigned char *out)
{
    char ip[80] = "", fp[80] = "", all[200];
    int neg = 0, ni, nf, pad_i, pad_f, ng, i, first, last, w = 0, weight;
    const char *dot;
    int groups[64];

    if (*s == '-') {
        neg = 1;
        s++;
    }
    dot = strchr(s, '.');
    if (dot) {
        memcpy(ip, s, (size_t)(dot - s));
        ip[dot - s] = '\0';
        strcpy(fp, dot + 1);
    } else {
        strcpy(ip, s);
    }
    ni = (int)strlen(ip);
    nf = (int)strlen(fp);
    pad_i = (4 - ni % 4) % 4;
    pad_f = (4 - nf % 4) % 4;
    snprintf(all, sizeof all, "%.*s%s%s%.*s", pad_i, "000", ip, fp, pad_f, "000");
    ng = (int)strlen(all) / 4;
    for (i = 0; i < ng; i++)
        groups[i] = (all[4 * i] - '0') * 1000 + (all[4 * i + 1] - '0') * 100 +
                    (all[4 * i + 2] - '0') * 10 + (all[4 * i + 3] - '0');
    first = 0;
    while (first < ng && groups[first] == 0)
        first++;
    last = ng - 1;
    while (last >= first && groups[last] == 0)
        last--;
    weight = (ni + pad_i) / 4 - 1 - first;
    if (first > last) {           /* zero */
        weight = 0;
        first = 0;
        last = -1;
    }
#define PUT16(v) do { out[w++] = (unsigned char)(((v) >> 8) & 0xff); \
                      out[w++] = (unsigned char)((v) & 0xff); } while (0)
    PUT16(last - first + 1);
    PUT16(weight);
    PUT16(neg && first <= last ? 0x4000 : 0);
    PUT16(nf);
    for (i = first; i <= last; i++)
        PUT16(groups[i]);
    return w;
}

static void parse_case(const char *dec, int64_t want_m, int want_scale)
{
    unsigned char b[256];
    int len = encode(dec, b), scale = -1;
    int64_t m = 0;
    int rc = fd_numeric_parse((const char *)b, len, &m, &scale);

    if (rc != FD_OK || m != want_m || scale != want_scale) {
        print_error("%s: rc %d, m %lld, scale %d; wanted %lld, %d\n", dec, rc,
                    (long long)m, scale, (long long)want_m, want_scale);
        fail();
    }
}

static void test_parse(void **state)
{
    (void)state;
    parse_case("0", 0, 0);
    parse_case("0.00", 0, 2);
    parse_case("12.34", 1234, 2);
    parse_case("-12.34", -1234, 2);
    parse_case("-0.01", -1, 2);
    parse_case("1.5", 15, 1);
    parse_case("10000", 10000, 0);
    parse_case("100000000", 100000000, 0);
    parse_case("0.0001", 1, 4);
    parse_case("0.00010", 10, 5);
    parse_case("123456789012.34", 12345678901234LL, 2);
    parse_case("99999999999999.99", 9999999999999999LL, 2);
    parse_case("9223372036854775807", INT64_MAX, 0);
    parse_case("-9223372036854775807", -INT64_MAX, 0);
    parse_case("0.123456789012345678", 123456789012345678LL, 18);
    parse_case("7", 7, 0);
}

static void test_parse_limits(void **state)
{
    unsigned char b[256];
    int64_t m;
    int scale, len;

    (void)state;
    len = encode("9223372036854775808", b);
    assert_int_equal(fd_numeric_parse((const char *)b, len, &m, &scale), FD_RANGE);
    len = encode("0.0000000000000000001", b);           /* 19 decimals */
    assert_int_equal(fd_numeric_parse((const char *)b, len, &m, &scale), FD_RANGE);
    len = encode("1000000000000000000000000000000", b);  /* 1e30 */
    assert_int_equal(fd_numeric_parse((const char *)b, len, &m, &scale), FD_RANGE);
    /* NaN, Infinity, -Infinity */
    memcpy(b, "\0\0\0\0\xC0\0\0\0", 8);
    assert_int_equal(fd_numeric_parse((const char *)b, 8, &m, &scale), FD_SPECIAL);
    memcpy(b, "\0\0\0\0\xD0\0\0\0", 8);
    assert_int_equal(fd_numeric_parse((const char *)b, 8, &m, &scale), FD_SPECIAL);
    memcpy(b, "\0\0\0\0\xF0\0\0\0", 8);
    assert_int_equal(fd_numeric_parse((const char *)b, 8, &m, &scale), FD_SPECIAL);
    /* malformed: length mismatch, digit out of range, unknown sign */
    len = encode("12.34", b);
    assert_int_equal(fd_numeric_parse((const char *)b, len - 1, &m, &scale), FD_BAD);
    assert_int_equal(fd_numeric_parse((const char *)b, 4, &m, &scale), FD_BAD);
    memcpy(b, "\0\1\0\0\0\0\0\0\x27\x10", 10);               /* digit 10000 */
    assert_int_equal(fd_numeric_parse((const char *)b, 10, &m, &scale), FD_BAD);
    memcpy(b, "\0\0\0\0\x12\x34\0\0", 8);
    assert_int_equal(fd_numeric_parse((const char *)b, 8, &m, &scale), FD_BAD);
}

static void test_format(void **state)
{
    char buf[64];

    (void)state;
    assert_string_equal(fd_format(0, 0, buf), "0");
    assert_string_equal(fd_format(0, 2, buf), "0.00");
    assert_string_equal(fd_format(1234, 2, buf), "12.34");
    assert_string_equal(fd_format(-1, 3, buf), "-0.001");
    assert_string_equal(fd_format(-12340, 3, buf), "-12.340");
    assert_string_equal(fd_format(((fd_int)1 << 126), 0, buf),
                        "85070591730234615865843651857942052864");
    assert_string_equal(fd_format(-((fd_int)1 << 126), 38, buf),
                        "-0.85070591730234615865843651857942052864");
}

/* splitmix64: a fixed stream, so a failure reproduces */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* fd_to_double = strtod(exact decimal text), on both of its paths. */
static void test_to_double(void **state)
{
    uint64_t s = 42;
    char buf[64];
    int i;

    (void)state;
    assert_true(fd_to_double(0, 2) == 0.0 && !signbit(fd_to_double(0, 2)));
    assert_true(fd_to_double(1234, 2) == 12.34);
    assert_true(fd_to_double(-1, 1) == -0.1);
    for (i = 0; i < 200000; i++) {
        int bits = (int)(rnd(&s) % 126) + 1, scale = (int)(rnd(&s) % 39);
        unsigned __int128 u = (unsigned __int128)rnd(&s) << 64 | rnd(&s);
        fd_int m = (fd_int)(u & ((((unsigned __int128)1) << bits) - 1));
        double want, got;
        if (rnd(&s) & 1)
            m = -m;
        want = strtod(fd_format(m, scale, buf), NULL);
        got = fd_to_double(m, scale);
        if (memcmp(&want, &got, sizeof want)) {
            print_error("%s: got %.17g, wanted %.17g\n", buf, got, want);
            fail();
        }
    }
}

static void test_mul_pow10(void **state)
{
    fd_int x = 123;
    int64_t y = 123;

    (void)state;
    assert_int_equal(fd_mul_pow10(&x, 2), 0);
    assert_true(x == 12300);
    assert_int_equal(fd_mul_pow10_64(&y, 16), 0);
    assert_true(y == 1230000000000000000LL);
    assert_int_equal(fd_mul_pow10_64(&y, 1), -1);
    assert_true(y == 1230000000000000000LL);
    x = (fd_int)1 << 100;
    assert_int_equal(fd_mul_pow10(&x, 9), -1);
    assert_int_equal(fd_mul_pow10(&x, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_to_double),
        cmocka_unit_test(test_mul_pow10),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
