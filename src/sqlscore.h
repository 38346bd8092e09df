/*
 * sqlscore.h - a model as SQL: the scoring query that lets PostgreSQL
 * compute every customer's probability, decision and reason codes itself,
 * from the same feature SQL, so that no row has to leave the server.
 *
 * Like features.c, this module builds SQL text and never runs it:
 * `riskpipe export-sql` prints sqlscore_function's script, and `riskpipe
 * predict --in-database` (predict.c) runs sqlscore_select inside its
 * atomic write.  Everything the model knows (coefficients, imputation
 * values, standardisation, one-hot levels, threshold) is inlined as
 * constants: doubles as '%.17g'::float8, which read back as the same bits,
 * and text through db_quote_literal.  The arithmetic is the C path's, in
 * the C path's order (predict.c, encode.c), so the probabilities are the
 * same doubles (see sqlscore.c for the two places where they may not be).
 */
#ifndef RP_SQLSCORE_H
#define RP_SQLSCORE_H

#include "db.h"
#include "features.h"
#include "model.h"
#include "schema.h"
#include "util/err.h"

/*
 * The scoring SELECT over q's SQL (ordered or not): one row per row of the
 * feature query with the columns
 *     customer_id bigint, high_risk_prediction int, probability float8,
 *     model_id text, reason_1 text .. reason_<PIPE_REASONS> text
 * and, when with_unseen is 1, unseen int: how many of the row's text values
 * are not among the model's levels (as enc_apply counts them).  m->enc must
 * be bound to q (enc_bind).  c may be NULL (db_quote_*).  Caller frees.
 */
char *sqlscore_select(db_conn *c, const model *m, const feat_query *q,
                      int with_unseen);

/*
 * The script `riskpipe export-sql` prints: SET client_encoding, then
 * CREATE OR REPLACE FUNCTION <schema>.<fname>(as_of date) RETURNS TABLE
 * (the columns above, without unseen) LANGUAGE sql STABLE, whose body is
 * the feature query for m's feature set at as_of followed by the scoring;
 * then a COMMENT naming the model.  Binds m->enc to that feature query
 * (only the transient indices change).  c may be NULL: standard quoting,
 * no server needed.  *out: caller frees.  RP_EDATA when the model does not
 * fit the feature query (enc_bind's message).
 */
int sqlscore_function(db_conn *c, model *m, const rp_tables *t,
                      const char *fname, char **out, rp_err *e);

#endif
