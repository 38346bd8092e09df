/*
 * cmd_db.c - `riskpipe db start|stop|status|url`: the embedded cluster.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pgembed.h"
#include "util/log.h"

static const char db_help[] =
    "Usage: riskpipe db start|stop|status|url\n\n"
    "Manage the embedded PostgreSQL cluster that riskpipe uses when no\n"
    "database is configured.  It lives in $RISKPIPE_HOME (default ./.riskpipe),\n"
    "listens on a unix socket in that folder only (no TCP port), and is run by\n"
    "the postgres account when riskpipe runs as root.\n\n"
    "  start    create the cluster on first use and start it (idempotent)\n"
    "  stop     stop it\n"
    "  status   exit 0 when it answers, 3 when it does not\n"
    "  url      print a conninfo for psql:  psql \"$(riskpipe db url)\"\n";

int cmd_db(int argc, char **argv, rp_err *e)
{
    const char *action;
    char *home;
    int rc = RP_OK, started = 0;

    if (argc < 2)
        return cli_usage_error(e, "db", "missing action (start, stop, status or url)");
    action = argv[1];
    if (!strcmp(action, "-h") || !strcmp(action, "--help")) {
        fputs(db_help, stdout);
        return RP_OK;
    }
    if (argc > 2)
        return cli_usage_error(e, "db", "unexpected argument \"%s\"", argv[2]);
    home = pgembed_home();
    if (!strcmp(action, "start")) {
        rc = pgembed_start(home, &started, e);
        if (!rc)
            log_info(started ? "embedded PostgreSQL started in %s"
                             : "embedded PostgreSQL already running in %s", home);
    } else if (!strcmp(action, "stop")) {
        rc = pgembed_stop(home, e);
        if (!rc)
            log_info("embedded PostgreSQL in %s is stopped", home);
    } else if (!strcmp(action, "status")) {
        rc = pgembed_status(home, e);
        if (!rc)
            printf("running in %s\n", home);
    } else if (!strcmp(action, "url")) {
        char *ci = pgembed_conninfo(home);
        printf("%s\n", ci);
        free(ci);
    } else {
        rc = cli_usage_error(e, "db", "unknown action \"%s\" (use start, stop, status or url)",
                             action);
    }
    free(home);
    return rc;
}
