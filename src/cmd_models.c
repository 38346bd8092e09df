/*
 * cmd_models.c - `riskpipe models [list|show ID|activate ID|export ID -o FILE]`.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "registry.h"
#include "util/log.h"

static const char models_usage[] =
    "Usage: riskpipe models [list]\n"
    "       riskpipe models show ID\n"
    "       riskpipe models activate ID\n"
    "       riskpipe models export ID -o FILE\n\n"
    "The model registry (table riskpipe_models).  `list` shows every model,\n"
    "newest first, with * marking the active one: the model `predict` uses\n"
    "when no --model is given.  `activate` chooses it (and rolls back to an\n"
    "older model just as well); `export` writes a model file back out.\n\n";

static int list(db_conn *c, const rp_tables *t, rp_err *e)
{
    db_rows *r = NULL;
    int rc = reg_list(c, t, &r, e), i;

    if (rc)
        return rc;
    printf("%-1s %-28s %-16s %-10s %-7s %9s %8s %8s\n", "", "model_id", "created (UTC)",
           "as_of", "feature", "rows", "C", "test AUC");
    for (i = 0; i < r->nrows; i++) {
        const char *v[8];
        int j;
        for (j = 0; j < 8; j++)
            v[j] = db_rows_get(r, i, j) ? db_rows_get(r, i, j) : "";
        printf("%-1s %-28s %-16s %-10s %-7s %9s %8s %8s\n", v[7], v[0], v[1], v[2], v[3],
               v[4], v[5], v[6]);
    }
    if (r->nrows == 0)
        log_info("no models yet: `riskpipe train` or `riskpipe run` adds one");
    db_rows_free(r);
    return RP_OK;
}

static int show_or_export(db_conn *c, const rp_tables *t, const char *id,
                          const char *out, rp_err *e)
{
    model m;
    int rc = reg_load(c, t, id, &m, e);

    if (rc)
        return rc;
    if (out) {
        rc = model_save(&m, out, e);
        if (!rc)
            log_info("model %s written to %s", m.model_id, out);
    } else {
        cli_print_model(&m, 0);
    }
    model_free(&m);
    return rc;
}

int cmd_models(int argc, char **argv, rp_err *e)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS, {"output", required_argument, NULL, 'o'}, {0, 0, 0, 0}};
    const char *action = "list", *id = NULL, *out = NULL;
    cli_ctx ctx;
    db_conn *c = NULL;
    int opt, rc, nargs;

    cli_ctx_init(&ctx);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qvho:", opts, NULL)) != -1) {
        int h = cli_common_option(&ctx, opt, optarg);
        if (h < 0) {
            printf("%s%s", models_usage, cli_common_help);
            return RP_OK;
        }
        if (h)
            continue;
        if (opt == 'o')
            out = optarg;
        else
            return cli_usage_error(e, "models", "invalid option \"%s\"", argv[optind - 1]);
    }
    nargs = argc - optind;
    if (nargs >= 1)
        action = argv[optind];
    if (nargs >= 2)
        id = argv[optind + 1];
    if (!strcmp(action, "list")) {
        if (nargs > 1)
            return cli_usage_error(e, "models", "unexpected argument \"%s\"", id);
    } else if (!strcmp(action, "show") || !strcmp(action, "activate") ||
               !strcmp(action, "export")) {
        if (nargs != 2)
            return cli_usage_error(e, "models", "%s needs exactly one model id", action);
        if (!strcmp(action, "export") && !out)
            return cli_usage_error(e, "models", "export needs -o FILE");
    } else {
        return cli_usage_error(e, "models", "unknown action \"%s\" (use list, show, activate or export)",
                               action);
    }
    if ((rc = cli_connect(&ctx, &c, e)))
        return rc;
    rc = schema_init_own(c, &ctx.tables, e);
    if (!rc && !strcmp(action, "list"))
        rc = list(c, &ctx.tables, e);
    else if (!rc && !strcmp(action, "activate")) {
        rc = reg_activate(c, &ctx.tables, id, e);
        if (!rc)
            log_info("model %s is now active", id);
    } else if (!rc)
        rc = show_or_export(c, &ctx.tables, id, !strcmp(action, "export") ? out : NULL, e);
    db_close(c);
    return rc;
}
