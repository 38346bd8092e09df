/*
 * test_csv.c - the RFC 4180 reader, one edge case per test, then a
 * randomized round trip against a naive encoder.
 *
 * Each small case is written to a tmpfile() and read back; the records are
 * rendered as one canonical string per file ("line:field|field\n", a
 * quoted field in <>, a malformed record marked "!k" with the field k the
 * problem is in) so that the expected result reads like the input.  The
 * round trip writes thousands of random records (commas, quotes, CR, LF,
 * CRLF, long fields, some larger than the reader's first buffer) with a
 * minimal encoder and checks every field and every record's starting line,
 * which exercises records that straddle buffer refills and growth.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "util/mem.h"
#include "util/strbuf.h"

static FILE *file_of(const char *text, size_t n)
{
    FILE *f = tmpfile();

    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(text, 1, n, f), n);
    rewind(f);
    return f;
}

/* Reads all records of text; returns the rendering, sets *rc to the last
 * csv_next result (0 at a clean end) and copies the error message. */
static char *render_n(const char *text, size_t n, int *rc, rp_err *e)
{
    FILE *f = file_of(text, n);
    csv_reader *r = csv_from_stream(f, "t.csv");
    sb_t sb = {0};
    csv_record rec;
    int k;

    rp_err_clear(e);
    while ((*rc = csv_next(r, &rec, e)) == 1) {
        sb_printf(&sb, "%ld:", rec.line);
        if (rec.problem)
            sb_printf(&sb, "!%d:", rec.problem_field);
        for (k = 0; k < rec.n; k++) {
            assert_int_equal(rec.f[k][rec.len[k]], '\0');
            if (k)
                sb_putc(&sb, '|');
            if (rec.quoted[k])
                sb_putc(&sb, '<');
            sb_appendn(&sb, rec.f[k], rec.len[k]);
            if (rec.quoted[k])
                sb_putc(&sb, '>');
        }
        sb_putc(&sb, '\n');
    }
    /* after the end or an error, the reader keeps saying so */
    assert_int_equal(csv_next(r, &rec, e), *rc);
    csv_close(r);
    fclose(f);
    return sb.p ? sb_steal(&sb) : xstrdup("");
}

static void expect(const char *text, const char *want)
{
    rp_err e;
    int rc;
    char *got = render_n(text, strlen(text), &rc, &e);

    assert_int_equal(rc, 0);
    assert_string_equal(got, want);
    free(got);
}

static void test_simple(void **state)
{
    (void)state;
    expect("a,b,c\n1,2,3\n", "1:a|b|c\n2:1|2|3\n");
    expect("a,b,c\n1,2,3", "1:a|b|c\n2:1|2|3\n");         /* no final newline */
    expect("x\n", "1:x\n");
    expect("", "");
}

static void test_crlf_and_cr(void **state)
{
    (void)state;
    expect("a,b\r\n1,2\r\n", "1:a|b\n2:1|2\n");
    expect("a,b\r1,2\r", "1:a|b\n2:1|2\n");                /* old Mac */
    expect("a\r\nb\nc\rd", "1:a\n2:b\n3:c\n4:d\n");        /* mixed */
}

static void test_quoted(void **state)
{
    (void)state;
    expect("\"a,b\",c\n", "1:<a,b>|c\n");
    expect("\"say \"\"hi\"\"\",x\n", "1:<say \"hi\">|x\n");
    expect("\"\"\"\"\n", "1:<\">\n");                       /* a lone quote */
    expect("\"\",x\n", "1:<>|x\n");                          /* empty string */
    expect("a,\"\"\n", "1:a|<>\n");
}

static void test_embedded_newlines(void **state)
{
    (void)state;
    /* the next record starts on the physical line after the break(s) */
    expect("\"one\ntwo\",x\nnext\n", "1:<one\ntwo>|x\n3:next\n");
    expect("\"one\r\ntwo\",x\r\nnext\r\n", "1:<one\r\ntwo>|x\n3:next\n");
    expect("\"a\r\rb\"\nnext\n", "1:<a\r\rb>\n4:next\n");
    expect("h\n\"1\n2\n3\"\n\"4\"\n", "1:h\n2:<1\n2\n3>\n5:<4>\n");
}

static void test_empty_fields(void **state)
{
    (void)state;
    expect("a,,c\n", "1:a||c\n");
    expect(",\n", "1:|\n");
    expect("a,b,\n", "1:a|b|\n");                 /* trailing comma */
    expect("a,b,", "1:a|b|\n");
}

static void test_bom(void **state)
{
    (void)state;
    expect("\xEF\xBB\xBF" "id,name\n1,x\n", "1:id|name\n2:1|x\n");
    expect("\xEF\xBB\xBF", "");
    expect("\xEF\xBB\xBF\"q\"\n", "1:<q>\n");
    /* only at the very start: elsewhere it is data */
    expect("a\n\xEF\xBB\xBF" "b\n", "1:a\n2:\xEF\xBB\xBF" "b\n");
    expect("\xEF\xBB", "1:\xEF\xBB\n");           /* a partial mark is data */
}

static void test_blank_lines(void **state)
{
    csv_record rec;
    FILE *f = file_of("a\n\nb\n", 5);
    csv_reader *r = csv_from_stream(f, "t");
    rp_err e;

    (void)state;
    expect("a\n\nb\n", "1:a\n2:\n3:b\n");
    expect("a\r\n\r\nb\r\n", "1:a\n2:\n3:b\n");
    assert_int_equal(csv_next(r, &rec, &e), 1);
    assert_false(csv_record_blank(&rec));
    assert_int_equal(csv_next(r, &rec, &e), 1);
    assert_true(csv_record_blank(&rec));
    assert_int_equal(csv_next(r, &rec, &e), 1);
    assert_false(csv_record_blank(&rec));
    assert_int_equal(csv_next(r, &rec, &e), 0);
    csv_close(r);
    fclose(f);
    /* a quoted empty field is not a blank line */
    f = file_of("\"\"\n", 3);
    r = csv_from_stream(f, "t");
    assert_int_equal(csv_next(r, &rec, &e), 1);
    assert_false(csv_record_blank(&rec));
    csv_close(r);
    fclose(f);
}

static void test_quote_in_unquoted_field(void **state)
{
    (void)state;
    /* kept as text, the record flagged, the next record unaffected */
    expect("1,ab\"c,d\n2,x,y\n", "1:!1:1|ab\"c|d\n2:2|x|y\n");
    expect("1, \"b\"\n", "1:!1:1| \"b\"\n");     /* a space before the quote */
    expect("a\"\n", "1:!0:a\"\n");
}

static void test_text_after_closing_quote(void **state)
{
    (void)state;
    expect("\"ab\"c,d\nok\n", "1:!0:<abc>|d\n2:ok\n");
    expect("x,\"a\" ,y\n", "1:!1:x|<a >|y\n");
}

static void test_nul_byte(void **state)
{
    rp_err e;
    int rc;
    char *got = render_n("a,b\0c\nd\n", 8, &rc, &e);

    (void)state;
    assert_int_equal(rc, 0);
    assert_memory_equal(got, "1:!1:a|b\0c\n2:d\n", 16);
    free(got);
}

static void test_unterminated_quote(void **state)
{
    rp_err e;
    int rc;
    char *got;

    (void)state;
    got = render_n("a,b\n\"x,y\nz\n", 11, &rc, &e);
    assert_int_equal(rc, -RP_EDATA);
    assert_string_equal(got, "1:a|b\n");
    assert_non_null(strstr(e.msg, "t.csv:2: unterminated quoted field"));
    assert_non_null(strstr(e.msg, "opened on line 2"));
    free(got);
    /* opened in the middle of a record that starts earlier */
    got = render_n("h\n1,\"a\"\"\n\n", 10, &rc, &e);
    assert_int_equal(rc, -RP_EDATA);
    assert_non_null(strstr(e.msg, "t.csv:2:"));
    free(got);
    /* a closing quote as the very last byte is fine */
    expect("\"x\"", "1:<x>\n");
}

static void test_missing_file(void **state)
{
    rp_err e;

    (void)state;
    rp_err_clear(&e);
    assert_null(csv_open("/nonexistent/dir/x.csv", &e));
    assert_int_equal(e.code, RP_EDATA);
    assert_non_null(strstr(e.msg, "/nonexistent/dir/x.csv"));
    csv_close(NULL);
}

/* A CRLF split by the first refill: the CR is the buffer's last byte. */
static void test_crlf_across_refill(void **state)
{
    size_t n = (size_t)1 << 20, i;
    char *in = xmalloc(n + 8);
    FILE *f;
    csv_reader *r;
    csv_record rec;
    rp_err e;

    (void)state;
    memset(in, 'x', n - 1);
    in[n - 1] = '\r';
    memcpy(in + n, "\nyy\r\n", 5);
    for (i = 0; i < 2; i++) {
        /* i = 1: the same with the CR one byte earlier (LF is last) */
        size_t len = n + 5 - i;
        if (i)
            memmove(in + n - 2, in + n - 1, 6);
        f = file_of(in, len);
        r = csv_from_stream(f, "t");
        assert_int_equal(csv_next(r, &rec, &e), 1);
        assert_int_equal(rec.len[0], n - 1 - i);
        assert_int_equal(csv_next(r, &rec, &e), 1);
        assert_string_equal(rec.f[0], "yy");
        assert_int_equal(rec.line, 2);
        assert_int_equal(csv_next(r, &rec, &e), 0);
        assert_int_equal(csv_offset(r), len);
        csv_close(r);
        fclose(f);
    }
    free(in);
}

/* ------------------------------------------------------------------ */
/* Randomized round trip                                               */
/* ------------------------------------------------------------------ */

static uint64_t rs = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

/* A random field: mostly short plain text, sometimes specials or long. */
static char *random_field(size_t *n)
{
    static const char alpha[] = "abc xyz,\"\r\n01\xc3\xa9";
    size_t len = rnd() % 12, i;
    char *s;

    if (rnd() % 500 == 0)
        len = 1000 + rnd() % 1500000;     /* sometimes longer than the buffer */
    s = xmalloc(len + 1);
    for (i = 0; i < len; i++)
        s[i] = rnd() % 4 ? (char)('a' + rnd() % 26)
                         : alpha[rnd() % (sizeof alpha - 1)];
    s[len] = '\0';
    *n = len;
    return s;
}

/* The naive encoder: quote when needed, double quotes; count lines. */
static long encode(sb_t *sb, const char *s, size_t n, int force_quote)
{
    long lines = 0;
    size_t i;
    int need = force_quote || n == 0;

    for (i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
            need = 1;
    if (!need) {
        sb_appendn(sb, s, n);
        return 0;
    }
    sb_putc(sb, '"');
    for (i = 0; i < n; i++) {
        if (s[i] == '"')
            sb_putc(sb, '"');
        if (s[i] == '\r' || (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')))
            lines++;
        sb_putc(sb, s[i]);
    }
    sb_putc(sb, '"');
    return lines;
}

static void test_random_roundtrip(void **state)
{
    enum { NREC = 4000, MAXF = 6 };
    char **want = xcalloc((size_t)NREC * MAXF, sizeof *want);
    size_t *wlen = xcalloc((size_t)NREC * MAXF, sizeof *wlen);
    int *nf = xcalloc(NREC, sizeof *nf);
    long *line = xcalloc(NREC, sizeof *line);
    static const char *const eol[] = {"\n", "\r\n", "\r"};
    long ln = 1;
    sb_t sb = {0};
    FILE *f;
    csv_reader *r;
    csv_record rec;
    rp_err e;
    int i, k;

    (void)state;
    sb_append(&sb, "\xEF\xBB\xBF");
    for (i = 0; i < NREC; i++) {
        nf[i] = 1 + (int)(rnd() % MAXF);
        line[i] = ln;
        for (k = 0; k < nf[i]; k++) {
            char **w = &want[i * MAXF + k];
            *w = random_field(&wlen[i * MAXF + k]);
            if (k)
                sb_putc(&sb, ',');
            /* an empty single field would be a blank line: quote it */
            ln += encode(&sb, *w, wlen[i * MAXF + k], nf[i] == 1 || rnd() % 10 == 0);
        }
        if (i + 1 < NREC || rnd() % 2) {
            sb_append(&sb, eol[rnd() % 3]);
            ln++;
        }
    }
    f = file_of(sb.p, sb.len);
    r = csv_from_stream(f, "rand.csv");
    for (i = 0; i < NREC; i++) {
        assert_int_equal(csv_next(r, &rec, &e), 1);
        assert_null(rec.problem);
        assert_int_equal(rec.n, nf[i]);
        assert_int_equal(rec.line, line[i]);
        for (k = 0; k < nf[i]; k++) {
            assert_int_equal(rec.len[k], wlen[i * MAXF + k]);
            assert_memory_equal(rec.f[k], want[i * MAXF + k], wlen[i * MAXF + k]);
            assert_int_equal(rec.f[k][rec.len[k]], '\0');
        }
    }
    assert_int_equal(csv_next(r, &rec, &e), 0);
    assert_int_equal(csv_offset(r), sb.len);
    csv_close(r);
    fclose(f);
    for (i = 0; i < NREC * MAXF; i++)
        free(want[i]);
    free(want);
    free(wlen);
    free(nf);
    free(line);
    sb_free(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_crlf_and_cr),
        cmocka_unit_test(test_quoted),
        cmocka_unit_test(test_embedded_newlines),
        cmocka_unit_test(test_empty_fields),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_blank_lines),
        cmocka_unit_test(test_quote_in_unquoted_field),
        cmocka_unit_test(test_text_after_closing_quote),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_unterminated_quote),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_crlf_across_refill),
        cmocka_unit_test(test_random_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
