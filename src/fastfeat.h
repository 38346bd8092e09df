/*
 * fastfeat.h - the client-side feature path: the dataset the feature SQL
 * gives, bit for bit, computed in riskpipe from binary COPY streams of the
 * raw account and transaction rows.
 *
 * Why: on one node the feature query's cost is the server aggregating
 * NUMERIC states in a hash table; streaming the raw columns out in binary
 * costs a fraction of that, the streams split over several connections
 * (one server process each), and exact integer sums on the client are
 * cheap.  The SQL path stays the definition of the features and the one
 * that runs on a sharded PostgreSQL; tests/integration/fastfeat.sh proves
 * the two give identical datasets.
 *
 * Paths: FF_SQL always runs the feature query (inputs_load).  FF_CLIENT
 * always takes the client path and fails with a message when it cannot.
 * FF_AUTO (the default) takes the client path when the tables are local
 * (ordinary or partitioned tables without foreign partitions, or
 * materialized views; no Citus) and their column types allow exact
 * integer arithmetic (ids integer, balance and amount NUMERIC or integer,
 * category text or varchar with a deterministic collation), and falls
 * back to the SQL path otherwise, or when the data do not fit the
 * integer arithmetic (a NaN or Infinity NUMERIC, more than 18 decimals, a
 * sum beyond 128 bits), or on any error in the client path; -v says which
 * path ran and why.
 */
#ifndef RP_FASTFEAT_H
#define RP_FASTFEAT_H

#include "dataset.h"
#include "db.h"
#include "features.h"
#include "schema.h"
#include "util/err.h"

enum { FF_AUTO = 0, FF_SQL = 1, FF_CLIENT = 2 };

typedef struct ff_opts {
    int path;           /* FF_AUTO, FF_SQL or FF_CLIENT */
    int connections;    /* worker connections; 0 = one per online core, at most 8 */
} ff_opts;

/* What the load did, for the caller's warnings. */
typedef struct ff_info {
    int client;                  /* 1: the client path built the dataset */
    long orphan_accounts;        /* client path only: rows whose customer_id */
    long orphan_transactions;    /* is NULL or not a customer */
} ff_info;

/*
 * Fills d with the rows of q, the feature query built from spec by
 * feat_build: through the client path or the SQL path as o says (o may be
 * NULL: FF_AUTO).  Errors as inputs_load's.  On error d is freed.
 */
int ff_load(db_conn *c, const rp_tables *t, const feat_spec *spec,
            const feat_query *q, const ff_opts *o, dataset *d,
            ff_info *info, rp_err *e);

/* inputs_warn_orphans, with the counts the client path already has
 * instead of another scan of both tables. */
void ff_warn_orphans(db_conn *c, const rp_tables *t, const ff_info *info);

/* "auto" / "sql" / "client" and back; -1 when unknown. */
int ff_path_parse(const char *name);
const char *ff_path_name(int path);

#endif
