/*
 * test_sqlquote.c - quoting without a connection (db_quote_literal and
 * db_quote_ident with a NULL db_conn), which export-sql relies on: the
 * expected texts are written out by hand from the rules in db.c (quotes
 * doubled; a backslash as chr(92) outside the quotes; never E'').  That
 * PostgreSQL reads them back as the original strings, under either setting
 * of standard_conforming_strings, is tested in
 * tests/integration/export_sql.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "db.h"

static void lit_is(const char *in, const char *want)
{
    char *got = db_quote_literal(NULL, in);
    assert_string_equal(got, want);
    free(got);
}

static void ident_is(const char *in, const char *want)
{
    char *got = db_quote_ident(NULL, in);
    assert_string_equal(got, want);
    free(got);
}

static void test_literal_plain(void **state)
{
    (void)state;
    lit_is("", "''");
    lit_is("abc", "'abc'");
    lit_is("2025-12-31", "'2025-12-31'");
    lit_is("O'Brien", "'O''Brien'");
    lit_is("''", "''''''");
    lit_is("a\"b;--", "'a\"b;--'");
    lit_is("caf\xc3\xa9", "'caf\xc3\xa9'");   /* UTF-8 passes through */
}

static void test_literal_backslash(void **state)
{
    (void)state;
    lit_is("\\", "chr(92)");
    lit_is("a\\b", "('a' || chr(92) || 'b')");
    lit_is("\\x", "(chr(92) || 'x')");
    lit_is("x\\", "('x' || chr(92))");
    lit_is("\\\\", "(chr(92) || chr(92))");
    /* the classic injection: backslash-quote must not escape the quote */
    lit_is("\\'; DROP TABLE t; --", "(chr(92) || '''; DROP TABLE t; --')");
}

static void test_literal_never_e(void **state)
{
    char *got = db_quote_literal(NULL, "E'\\n'");

    (void)state;
    assert_string_equal(got, "('E''' || chr(92) || 'n''')");
    free(got);
}

static void test_ident(void **state)
{
    (void)state;
    ident_is("customers", "\"customers\"");
    ident_is("Score Me", "\"Score Me\"");
    ident_is("a\"b", "\"a\"\"b\"");
    ident_is("", "\"\"");
    ident_is("a\\b", "\"a\\b\"");   /* no escapes inside identifiers */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_plain),
        cmocka_unit_test(test_literal_backslash),
        cmocka_unit_test(test_literal_never_e),
        cmocka_unit_test(test_ident),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
