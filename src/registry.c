/*
 * registry.c - riskpipe_models rows (see registry.h).
 *
 * The JSON text is stored as TEXT, not jsonb: jsonb may rewrite numbers
 * (1e300 -> a long digit string) and reorder keys, and the loader checks a
 * checksum over the exact values.  Loading a row goes through the same
 * strict parser as a model file.
 */
#include "registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

int reg_add(db_conn *c, const rp_tables *t, const model *m, const char *path,
            rp_err *e)
{
    char *json = model_to_json(m), *tab, *sql, *abspath;
    char sc[32], sauc[32], sthr[32], sn[32], sev[32];
    const char *params[11];
    int rc;

    if (!json)
        return rp_err_set(e, RP_EINTERNAL, "could not serialise the model for the registry");
    tab = schema_qualify(c, t, "riskpipe_models");
    abspath = path ? realpath(path, NULL) : NULL;
    snprintf(sc, sizeof sc, "%.17g", m->C);
    snprintf(sauc, sizeof sauc, "%.17g", m->test.roc_auc);
    snprintf(sthr, sizeof sthr, "%.17g", m->threshold);
    snprintf(sn, sizeof sn, "%ld", m->n_labelled);
    snprintf(sev, sizeof sev, "%ld", m->n_events);
    params[0] = m->model_id;
    params[1] = m->created_at;
    params[2] = m->feat.as_of;
    params[3] = feat_set_name(m->feat.set);
    params[4] = sn;
    params[5] = sev;
    params[6] = isinf(m->C) ? NULL : sc;
    params[7] = isnan(m->test.roc_auc) ? NULL : sauc;
    params[8] = sthr;
    params[9] = abspath ? abspath : path;
    params[10] = json;
    sql = xasprintf("INSERT INTO %s (model_id, created_at, as_of, feature_set, n_train, "
                    "n_events, c, test_auc, threshold, file_path, model_json) VALUES "
                    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", tab);
    rc = db_exec_params(c, sql, 11, params, e);
    free(sql);
    free(tab);
    free(json);
    free(abspath);
    return rc;
}

int reg_list(db_conn *c, const rp_tables *t, db_rows **out, rp_err *e)
{
    char *tab = schema_qualify(c, t, "riskpipe_models");
    char *sql = xasprintf(
        "SELECT model_id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), "
        "as_of::text, feature_set, n_train::text, coalesce(to_char(c, 'FM999990.0999'), 'none'), "
        "coalesce(to_char(test_auc, 'FM0.0000'), '-'), CASE WHEN active THEN '*' ELSE '' END "
        "FROM %s ORDER BY created_at DESC, model_id DESC", tab);
    int rc = db_query(c, sql, 0, NULL, out, e);

    free(sql);
    free(tab);
    return rc;
}

int reg_load(db_conn *c, const rp_tables *t, const char *model_id, model *m,
             rp_err *e)
{
    char *tab = schema_qualify(c, t, "riskpipe_models");
    const char *params[1] = {model_id};
    char *sql = model_id
        ? xasprintf("SELECT model_json FROM %s WHERE model_id = $1", tab)
        : xasprintf("SELECT model_json FROM %s WHERE active", tab);
    char *json = NULL, *origin;
    int rc = db_query_value(c, sql, model_id ? 1 : 0, params, &json, e);

    free(sql);
    free(tab);
    if (rc)
        return rc;
    if (!json) {
        if (model_id)
            rp_err_set(e, RP_EDATA, "no model \"%s\" in the registry", model_id);
        else
            rp_err_set(e, RP_EDATA, "the registry has no active model");
        rp_err_hint(e, "list the models with `riskpipe models`");
        return RP_EDATA;
    }
    origin = xasprintf("model registry row \"%s\"", model_id ? model_id : "(active)");
    rc = model_from_json(json, strlen(json), origin, m, e);
    free(origin);
    free(json);
    return rc;
}

int reg_activate(db_conn *c, const rp_tables *t, const char *model_id,
                 rp_err *e)
{
    char *tab = schema_qualify(c, t, "riskpipe_models");
    char *check = xasprintf("SELECT count(*) FROM %s WHERE model_id = $1", tab);
    char *upd = xasprintf("UPDATE %s SET active = (model_id = $1) "
                          "WHERE active OR model_id = $1", tab);
    const char *params[1] = {model_id};
    char *n = NULL;
    int rc = db_begin(c, e);

    if (!rc)
        rc = db_exec(c, "SELECT pg_advisory_xact_lock(hashtext('riskpipe:registry'))", e);
    if (!rc)
        rc = db_query_value(c, check, 1, params, &n, e);
    if (!rc && (!n || strcmp(n, "1") != 0)) {
        rp_err_set(e, RP_EDATA, "no model \"%s\" in the registry", model_id);
        rp_err_hint(e, "list the models with `riskpipe models`");
        rc = RP_EDATA;
    }
    if (!rc)
        rc = db_exec_params(c, upd, 1, params, e);
    if (!rc)
        rc = db_commit(c, e);
    if (rc)
        db_rollback(c);
    free(n);
    free(check);
    free(upd);
    free(tab);
    return rc;
}

int reg_has_active(db_conn *c, const rp_tables *t, rp_err *e)
{
    char *tab = schema_qualify(c, t, "riskpipe_models");
    char *sql = xasprintf("SELECT count(*) FROM %s WHERE active", tab);
    char *v = NULL;
    int rc = db_query_value(c, sql, 0, NULL, &v, e), has;

    free(sql);
    free(tab);
    if (rc)
        return -1;
    has = v && strcmp(v, "0") != 0;
    free(v);
    return has;
}
