#!/bin/bash
# Security (SPEC section 7, issue 6):
#   - riskpipe runs with the least privilege README "Security" documents:
#     SELECT on the input tables, writes on its own tables that an admin
#     created with `riskpipe init`; no CREATE anywhere, no ownership;
#   - a password is never printed: not in output or errors (every conninfo
#     form, including the corners tests/fuzz/fuzz_conninfo.c found), not in
#     the run log, the registry, the model, the CSV or the report;
#   - every file riskpipe writes is 0644 or stricter, never writable by
#     group or others, even under umask 000;
#   - the embedded cluster, started under umask 000, still keeps its folder,
#     data and socket to its own account (embedded_db.sh checks the rest:
#     no TCP listener, socket in the home folder, mode 0700).
# SQL injection through values and names is bad_input.sh's.
source "$(dirname "$0")/../lib.sh"
PG="$WORK/pg"
trap '[ -d "$PG" ] && RISKPIPE_HOME="$PG" "$RISKPIPE" db stop >/dev/null 2>&1; rm -rf "$WORK"' EXIT
PW='Pw-7fq2-NeverPrinted'
ALL="$WORK/all-output"; : > "$ALL"

# keep: appends the last command's stdout and stderr to $ALL.
keep() { cat "$OUT" "$ERR" >> "$ALL"; }

new_db security
host=$(echo "$DB" | sed -n 's/.*host=\([^ ]*\).*/\1/p')
port=$(echo "$DB" | sed -n 's/.*port=\([^ ]*\).*/\1/p')
APP="host=$host port=$port dbname=t_security user=rp_app password=$PW"
APP_URI="postgresql://rp_app:$PW@/t_security?host=$host&port=$port"

# ---------------------------------------------------------------------
# The admin creates everything; the app role gets exactly README's grants.
expect_exit 0 "admin: init" init --db "$DB"
expect_exit 0 "admin: generate" generate --db "$DB" --customers 2000 --seed 4
sql "DROP ROLE IF EXISTS rp_app; CREATE ROLE rp_app LOGIN PASSWORD '$PW';
     GRANT USAGE ON SCHEMA public TO rp_app;
     GRANT SELECT ON customers, accounts, transactions TO rp_app;
     GRANT SELECT, INSERT, TRUNCATE ON predictions TO rp_app;
     GRANT SELECT, INSERT, UPDATE ON riskpipe_models, riskpipe_runs TO rp_app;
     GRANT USAGE ON SEQUENCE riskpipe_runs_run_id_seq TO rp_app" >/dev/null
eq "the app role has no CREATE on the database or the schema" \
   "$(sql "SELECT has_database_privilege('rp_app', current_database(), 'CREATE')
              OR has_schema_privilege('rp_app', 'public', 'CREATE')")" "f"
eq "the app role owns nothing" "$(sql "SELECT count(*) FROM pg_class WHERE relowner = 'rp_app'::regrole")" "0"

M="$WORK/model.json"; C="$WORK/pred.csv"
expect_exit 0 "app: train (key=value conninfo with a password)" -v train --db "$APP" --model "$M"; keep
expect_exit 0 "app: predict" -v predict --db "$APP" --model "$M" --csv "$C"; keep
expect_exit 0 "app: run (URI with a password; registers and activates)" run --db "$APP_URI" --model "$WORK/m2.json" --csv "$C"; keep
expect_exit 0 "app: predict with the active model, client-side features" predict --db "$APP" --csv "$C" --features-path client; keep
expect_exit 0 "app: predict --in-database" predict --db "$APP" --model "$M" --in-database; keep
expect_exit 0 "app: explain one customer" explain --db "$APP" --model "$M" --customer 7; keep
expect_exit 0 "app: models list" models list --db "$APP"; keep
expect_exit 0 "app: report" report --db "$APP" --model "$M" -o "$WORK/report.html"; keep
eq "app: predictions written" "$(sql "SELECT count(*) FROM predictions")" "2000"
eq "app: every run logged ok" "$(sql "SELECT string_agg(DISTINCT status, ',') FROM riskpipe_runs")" "ok"

# One grant less: a clear database error, logged in riskpipe_runs.
sql "REVOKE SELECT ON transactions FROM rp_app" >/dev/null
expect_exit 3 "app without SELECT on transactions: exit 3" predict --db "$APP" --model "$M" --csv "$C"; keep
expect_err 'permission denied for table transactions' "app without SELECT on transactions: the message names the table"
eq "app without SELECT on transactions: the run is logged as failed" \
   "$(sql "SELECT status || ':' || (error LIKE '%permission denied%') FROM riskpipe_runs ORDER BY run_id DESC LIMIT 1")" "failed:true"
sql "GRANT SELECT ON transactions TO rp_app" >/dev/null
# A predictions table the admin has not created: the app may not create it.
expect_exit 3 "app: a predictions table that does not exist cannot be created" \
    predict --db "$APP" --model "$M" --csv "$C" --predictions-table preds2; keep
expect_err 'permission denied' "app: the refusal is PostgreSQL's permission error"

# ---------------------------------------------------------------------
# Passwords never printed: every conninfo form, against a server that is
# not there (the connection error is where a conninfo gets echoed).
NOSOCK="$WORK/nosock"; mkdir -p "$NOSOCK"
forms=(
    "host=$NOSOCK port=5432 dbname=x user=u password=$PW"
    "host=$NOSOCK dbname=x user=u password='$PW with spaces'"
    "host=$NOSOCK dbname=x sslpassword=$PW"
    "host=$NOSOCK dbname=x password=a\\ $PW"
    "postgresql://u:$PW@localhost:1/x"
    "postgresql://u:$PW?x@localhost:1/x"
    "postgres://u@localhost:1/x?password=$PW"
    "postgresql://u@localhost:1/x?passw%6Frd=$PW"
    "postgresql://u:$PW%zz@localhost:1/x"
)
for f in "${forms[@]}"; do
    expect_exit 3 "unreachable: $(echo "$f" | sed "s/$PW/PW/g")" predict --db "$f" --model "$M" --csv "$C"; keep
done
RISKPIPE_DB="host=$NOSOCK dbname=x password=$PW" expect_exit 3 "unreachable from RISKPIPE_DB" train --model "$WORK/x.json"; keep
DATABASE_URL="postgresql://u:$PW@localhost:1/x" expect_exit 3 "unreachable from DATABASE_URL" train --model "$WORK/x.json"; keep
grep -q '\*\*\*\*\*\*\*\*' "$ALL" && ok "masked conninfos are shown as ********" || not_ok "masked conninfos are shown as ********"

leaks() {   # leaks WHAT TEXT...: the password must not be in TEXT
    local name="$1"; shift
    if "$@" 2>/dev/null | grep -aqF -- "$PW"; then not_ok "no password in $name" "$("$@" | grep -aF -- "$PW" | head -3)"
    else ok "no password in $name"; fi
}
leaks "any output or error" cat "$ALL"
leaks "riskpipe_runs" sql "SELECT r::text FROM riskpipe_runs r"
leaks "riskpipe_models" sql "SELECT m::text FROM riskpipe_models m"
leaks "the predictions table" sql "SELECT p::text FROM predictions p"
leaks "the model files, the CSV and the report" cat "$M" "$WORK/m2.json" "$C" "$WORK/report.html"

# ---------------------------------------------------------------------
# File modes: 0644 at most, whatever the umask; a stricter umask is kept.
# private NAME FILE: FILE exists and is not writable by group or others.
private() {
    local mode
    mode=$(stat -c %a "$2" 2>/dev/null)
    if [ -n "$mode" ] && (( (8#$mode & 8#022) == 0 )); then ok "$1 ($mode)"
    else not_ok "$1" "mode '${mode:-missing}'"; fi
}
(
    umask 000
    "$RISKPIPE" -q train --db "$DB" --model "$WORK/u.json" --no-register
    "$RISKPIPE" -q predict --db "$DB" --model "$WORK/u.json" --csv "$WORK/u.csv" --no-db-write
    "$RISKPIPE" -q report --model "$WORK/u.json" -o "$WORK/u.html"
    "$RISKPIPE" -q models export "$(sql "SELECT model_id FROM riskpipe_models LIMIT 1")" --db "$DB" -o "$WORK/u-export.json"
    "$RISKPIPE" -q generate --db "$DB" --customers 10 --seed 9 --append --truth "$WORK/u-truth.csv"
) >"$OUT" 2>"$ERR"
private "umask 000: the model file" "$WORK/u.json"
private "umask 000: the predictions CSV" "$WORK/u.csv"
private "umask 000: the report" "$WORK/u.html"
private "umask 000: an exported model" "$WORK/u-export.json"
private "umask 000: the --truth file" "$WORK/u-truth.csv"
(umask 077; "$RISKPIPE" -q predict --db "$DB" --model "$WORK/u.json" --csv "$WORK/s.csv" --no-db-write) >"$OUT" 2>"$ERR"
eq "umask 077: the CSV is 0600 (a stricter umask is kept)" "$(stat -c %a "$WORK/s.csv")" "600"

# ---------------------------------------------------------------------
# The embedded cluster started under umask 000.
(umask 000; RISKPIPE_HOME="$PG" "$RISKPIPE" -q db start) >"$OUT" 2>"$ERR"
private "umask 000: the embedded cluster's folder" "$PG"
eq "umask 000: its data directory is 0700" "$(stat -c %a "$PG/data")" "700"
sock=$(ls "$PG"/.s.PGSQL.* 2>/dev/null | grep -v '\.lock$' | head -1)
if [ -S "$sock" ]; then eq "umask 000: its socket is 0700 (owner only)" "$(stat -c %a "$sock")" "700"
else not_ok "umask 000: its socket is 0700 (owner only)" "no socket in $PG"; fi
bad=$(find "$PG" -perm /022 ! -type l ! -type s 2>/dev/null | head -3)
[ -z "$bad" ] && ok "umask 000: nothing in the cluster's folder is writable by group or others" \
    || not_ok "umask 000: nothing in the cluster's folder is writable by group or others" "$bad"
eq "umask 000: no TCP listener" "$(psql -X -At "$(RISKPIPE_HOME="$PG" "$RISKPIPE" db url)" -c 'SHOW listen_addresses')" ""
expect_exit 0 "stop the private cluster" db stop
