/*
 * pgembed.h - the embedded PostgreSQL cluster (SPEC section 5).
 *
 * A private cluster under a home folder ($RISKPIPE_HOME, else ./.riskpipe):
 *     HOME/data        the data directory (initdb on first use)
 *     HOME/            the unix socket (.s.PGSQL.5432); no TCP port at all
 *     HOME/server.log  the server's log
 * Server binaries are found with `pg_config --bindir`, then the highest
 * /usr/lib/postgresql/N/bin, then PATH.  When riskpipe runs as root the
 * cluster is owned and run by the unprivileged `postgres` account (initdb
 * and postgres refuse to run as root); otherwise by the current user.
 *
 * Errors: every failure that leaves the database unavailable is RP_EDB
 * (server binaries missing, home folder unusable, initdb or pg_ctl failing,
 * server not answering), with the tail of the tools' output or of
 * server.log as detail; RP_EINTERNAL only for fork/wait failures.
 * Environment: RISKPIPE_HOME; RISKPIPE_PG_BINDIR (server binaries to use,
 * checked first); RISKPIPE_PG_OPTS (extra server options, `pg_ctl -o`).
 * In the functions below, home may be NULL for pgembed_home().
 */
#ifndef RP_PGEMBED_H
#define RP_PGEMBED_H

#include "util/err.h"

/* The home folder as an absolute path (caller frees). */
char *pgembed_home(void);

/* Creates (initdb) if needed and starts the cluster, waits until it
 * accepts connections, and creates the database "riskpipe" if missing.
 * Idempotent: RP_OK at once when already running.  *started (may be NULL)
 * is set to 1 when this call started the server. */
int pgembed_start(const char *home, int *started, rp_err *e);

/* Stops the cluster (fast shutdown).  RP_OK when it was not running. */
int pgembed_stop(const char *home, rp_err *e);

/* RP_OK only when the cluster answers connections; RP_EDB otherwise, with
 * a message saying whether it is not created, not running or not
 * answering. */
int pgembed_status(const char *home, rp_err *e);

/* A conninfo for the cluster that psql and libpq accept:
 * "host=HOME port=5432 dbname=riskpipe user=USER".  Caller frees. */
char *pgembed_conninfo(const char *home);

#endif
