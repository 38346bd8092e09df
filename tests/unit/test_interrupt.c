/*
 * test_interrupt.c - the stop-signal flag (rp_interrupt, util/err.h) as
 * the library sees it: no process, no signal, just the flag set, so the
 * places that must check it are tested deterministically.  Killing real
 * processes at real moments is tests/integration/faults.sh.
 *
 *   - rp_err_interrupted says nothing while the flag is 0, and names the
 *     signal once it is set;
 *   - a Newton fit stops at its next iteration (a large fit takes seconds
 *     per step, so Ctrl-C must not wait for the end);
 *   - a model save refuses before creating anything, leaving the old file
 *     and no temporary file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logreg.h"
#include "model.h"
#include "util/err.h"

static int reset_flag(void **state)
{
    (void)state;
    rp_interrupt = 0;
    return 0;
}

static void test_flag(void **state)
{
    rp_err e;

    (void)state;
    rp_err_clear(&e);
    assert_int_equal(rp_err_interrupted(&e), RP_OK);
    assert_int_equal(e.code, RP_OK);
    assert_null(rp_interrupt_name());
    rp_interrupt = SIGTERM;
    assert_int_equal(rp_err_interrupted(&e), RP_EINTERNAL);
    assert_string_equal(e.msg, "interrupted by SIGTERM");
    rp_interrupt = SIGINT;
    assert_string_equal(rp_interrupt_name(), "SIGINT");
}

/* A small separable-free problem that needs several Newton steps. */
static void test_fit_stops(void **state)
{
    enum { N = 200 };
    double X[N], y[N];
    lr_params par = lr_params_default();
    lr_fit fit;
    rp_err e;
    size_t i;

    (void)state;
    for (i = 0; i < N; i++) {
        X[i] = (double)(i % 17) - 8.0;
        y[i] = (i * 7919) % 5 < 2 ? 1.0 : 0.0;
    }
    rp_err_clear(&e);
    assert_int_equal(lr_train(X, N, 1, y, NULL, &par, &fit, &e), RP_OK);
    lr_fit_free(&fit);
    rp_interrupt = SIGINT;
    assert_int_equal(lr_train(X, N, 1, y, NULL, &par, &fit, &e), RP_EINTERNAL);
    assert_string_equal(e.msg, "interrupted by SIGINT");
    assert_null(fit.beta);
    lr_fit_free(&fit);
}

static void test_save_refused(void **state)
{
    char dir[] = "/tmp/rp-interrupt.XXXXXX", path[64], tmp[96], buf[16] = "";
    model m;
    rp_err e;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("old model", f);
    fclose(f);
    model_init(&m);
    rp_err_clear(&e);
    rp_interrupt = SIGTERM;
    assert_int_equal(model_save(&m, path, &e), RP_EINTERNAL);
    assert_string_equal(e.msg, "interrupted by SIGTERM");
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "old model");
    assert_int_not_equal(access(tmp, F_OK), 0);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flag, reset_flag, reset_flag),
        cmocka_unit_test_setup_teardown(test_fit_stops, reset_flag, reset_flag),
        cmocka_unit_test_setup_teardown(test_save_refused, reset_flag, reset_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
