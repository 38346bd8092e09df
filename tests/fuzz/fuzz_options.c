/*
 * fuzz_options.c - libFuzzer target for the option parsers that turn
 * command-line text into numbers and settings: cli_parse_long,
 * cli_parse_double, cli_check_date and the train / predict option
 * handlers built on them (cmd_common.c, cmd_train.c, cmd_predict.c).
 *
 * Input: one byte picks the option, the rest is its argument.  Beyond
 * crashes and sanitizer reports: an accepted value is within the range
 * the option documents, a refused one is a usage error (exit status 1)
 * whose message names the option.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "threshold.h"

static void fail(const char *why, const char *arg)
{
    fprintf(stderr, "options: %s (argument \"%s\")\n", why, arg);
    abort();
}

static const int train_opts_list[] = {
    OPT_FEATURES, OPT_AS_OF, OPT_LABEL_THR, OPT_TOP_K, OPT_MIN_COUNT, OPT_C,
    OPT_CLASS_WEIGHT, OPT_TEST_FRACTION, OPT_SEED_SPLIT, OPT_THRESHOLD,
    OPT_CV, OPT_THR_POLICY, OPT_WEIGHT_COL,
};
#define NTRAIN (int)(sizeof train_opts_list / sizeof train_opts_list[0])

/* Accepted train options leave every setting in its documented range. */
static void check_train(const train_opts *o, const char *arg)
{
    if (!(o->label_threshold >= 0 && o->label_threshold <= 1))
        fail("--label-threshold out of range", arg);
    if (o->top_k < 0 || o->top_k > 100 || o->min_count < 1)
        fail("--top-categories or --min-count out of range", arg);
    if (!(o->C == INFINITY || (o->C >= 1e-12 && o->C <= 1e12)))
        fail("--C out of range", arg);
    if (!(o->test_fraction >= 0.01 && o->test_fraction <= 0.9))
        fail("--test-fraction out of range", arg);
    if (o->seed < 0 || o->seed > 2147483647L)
        fail("--seed out of range", arg);
    if (!isnan(o->threshold) && !(o->threshold >= 0 && o->threshold <= 1))
        fail("--threshold out of range", arg);
    if (o->feature_set != FEAT_DEFAULT && o->feature_set != FEAT_SEED)
        fail("--features out of range", arg);
    if (o->cv_folds != 0 && (o->cv_folds < 2 || o->cv_folds > MODEL_CV_MAX_FOLDS))
        fail("--cv out of range", arg);
    if (o->policy.kind != THR_F1 &&
        !(isfinite(o->policy.a) && o->policy.a > 0 &&
          (o->policy.kind != THR_COST || (isfinite(o->policy.b) && o->policy.b > 0))))
        fail("--threshold-policy with a value that is not a positive number", arg);
    if ((o->policy.kind == THR_RECALL || o->policy.kind == THR_PRECISION) && o->policy.a > 1)
        fail("--threshold-policy recall/precision above 1", arg);
    if (o->weight_column && (!*o->weight_column || strlen(o->weight_column) > 63))
        fail("--weight-column of a bad length", arg);
}

static void one_train_option(int opt, const char *arg)
{
    train_opts o = pipe_train_opts_default();
    rp_err e;
    int rc;

    rp_err_clear(&e);
    rc = cli_train_option(&o, opt, arg, &e);
    if (rc == 1)
        check_train(&o, arg);
    else if (rc != -RP_EUSAGE || e.code != RP_EUSAGE || !strstr(e.msg, "--"))
        fail("a refused option is not a usage error naming the option", arg);
}

static void numbers(const char *arg)
{
    rp_err e;
    long l;
    double d;

    rp_err_clear(&e);
    if (cli_parse_long("--n", arg, -5, 5, &l, &e) == RP_OK) {
        if (l < -5 || l > 5)
            fail("cli_parse_long accepted a value out of range", arg);
    } else if (e.code != RP_EUSAGE || !strstr(e.msg, "--n")) {
        fail("cli_parse_long: a refusal that does not name the option", arg);
    }
    rp_err_clear(&e);
    if (cli_parse_double("--x", arg, -1.5, 2.5, &d, &e) == RP_OK) {
        if (!(d >= -1.5 && d <= 2.5))
            fail("cli_parse_double accepted a value out of range", arg);
    } else if (e.code != RP_EUSAGE || !strstr(e.msg, "--x")) {
        fail("cli_parse_double: a refusal that does not name the option", arg);
    }
    rp_err_clear(&e);
    if (cli_check_date("--as-of", arg, &e) == RP_OK && strlen(arg) != 10)
        fail("cli_check_date accepted something that is not YYYY-MM-DD", arg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *arg;

    if (size < 1)
        return 0;
    arg = strndup((const char *)data + 1, size - 1);
    if (data[0] < 128)
        one_train_option(train_opts_list[data[0] % NTRAIN], arg);
    else
        numbers(arg);
    free(arg);
    return 0;
}
