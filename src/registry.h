/*
 * registry.h - the model registry: the riskpipe_models table.
 *
 * Each trained model is a row holding its full JSON text (the same bytes
 * as the model file, checksum included), so a model can be inspected,
 * activated and exported long after its file is gone.  At most one row is
 * active: the model `predict` uses when no --model is given.
 */
#ifndef RP_REGISTRY_H
#define RP_REGISTRY_H

#include "db.h"
#include "model.h"
#include "schema.h"
#include "util/err.h"

/* Inserts m (its JSON text) with the file path it was saved to. */
int reg_add(db_conn *c, const rp_tables *t, const model *m, const char *path,
            rp_err *e);

/* Rows for `riskpipe models`: model_id, created_at, as_of, feature_set,
 * n_train, c, test_auc, active, newest first.  Free with db_rows_free. */
int reg_list(db_conn *c, const rp_tables *t, db_rows **out, rp_err *e);

/* Loads model model_id, or the active model when model_id is NULL.
 * RP_EDATA naming the id when there is no such model (or none active). */
int reg_load(db_conn *c, const rp_tables *t, const char *model_id, model *m,
             rp_err *e);

/* Makes model_id the only active model (one transaction). */
int reg_activate(db_conn *c, const rp_tables *t, const char *model_id,
                 rp_err *e);

/* 1 when the registry has an active model, 0 when not, < 0 on error. */
int reg_has_active(db_conn *c, const rp_tables *t, rp_err *e);

#endif
