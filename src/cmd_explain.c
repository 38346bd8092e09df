/*
 * cmd_explain.c - `riskpipe explain --model PATH`: the coefficient table.
 */
#include <stdio.h>

#include "cli.h"

static const char explain_usage[] =
    "Usage: riskpipe explain [--model PATH]\n\n"
    "Print a saved model's evaluation and its full coefficient table\n"
    "(estimate, standard error from the penalised Hessian, z, p-value,\n"
    "odds ratio per standard deviation of the feature).\n\n"
    "      --model PATH   model file (default riskpipe-model.json)\n"
    "  -h, --help         show this help\n";

int cmd_explain(int argc, char **argv, rp_err *e)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, OPT_MODEL},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0}};
    const char *path = "riskpipe-model.json";
    model m;
    int opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(explain_usage, stdout);
            return RP_OK;
        }
        if (opt == OPT_MODEL)
            path = optarg;
        else
            return cli_usage_error(e, "explain", "invalid option \"%s\"", argv[optind - 1]);
    }
    if ((rc = cli_no_args(e, "explain", argc, argv)))
        return rc;
    if ((rc = model_load(path, &m, e)))
        return rc;
    cli_print_model(&m, 0);
    model_free(&m);
    return RP_OK;
}
