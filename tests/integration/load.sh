#!/bin/bash
# riskpipe load: every CSV edge case lands in the table as psql's \copy
# would put it; bad rows go to FILE.rejects.csv with the physical line
# where they start; header errors, an unterminated quote and a load beyond
# --max-rejects load nothing; all files are one transaction.
source "$(dirname "$0")/../lib.sh"
new_db load
cd "$WORK"

expect_exit 0 "init" init --db "$DB"

# --- every edge case at once, in a file psql's \copy can read too -------
# quoted commas, doubled quotes, a quoted CRLF and LF, CRLF record ends,
# an empty unquoted field (NULL) and a quoted empty one (''), non-ASCII,
# a backslash and a tab (COPY text specials), blanks around a number.
printf 'customer_id,age,city,account_type\r\n'                    > c_ref.csv
printf '1,34,"Oslo, Norway",savings\r\n'                          >> c_ref.csv
printf '2,,"say ""hi""",checking\r\n'                             >> c_ref.csv
printf '3,51,"two\r\nlines",""\r\n'                               >> c_ref.csv
printf '4,  60 ,"Troms\xc3\xb8",\r\n'                             >> c_ref.csv
printf '5,22,"back\\slash\ttab","lf\nonly"\r\n'                    >> c_ref.csv
printf '6,45,plain,savings'                                       >> c_ref.csv
printf 'account_id,customer_id,balance,risk_score\n1,1,100.50,0.75\n2,1,-3.1,\n3,4,1e3,0.1\n4,6,.5,1\n' > a_ref.csv
printf 'transaction_id,customer_id,amount,transaction_date,category\n1,1,10,2024-02-29,"food, drink"\n2,4,+5.5,2023-12-31,\n3,6,-0.005,2024-01-01,""\n' > t_ref.csv

# The same content for riskpipe, reshaped: a UTF-8 BOM, columns in another
# order, an extra column, header names in other cases, a blank line, LF
# record ends.
printf '\xef\xbb\xbfCITY,Account_Type,customer_id,AGE,email\n'  > c.csv
printf '"Oslo, Norway",savings,1,34,junk\n'                      >> c.csv
printf '"say ""hi""",checking,2,,junk\n'                         >> c.csv
printf '\n'                                                      >> c.csv
printf '"two\r\nlines","",3,51,junk\n'                           >> c.csv
printf '"Troms\xc3\xb8",,4,  60 ,\n'                            >> c.csv
printf '"back\\slash\ttab","lf\nonly",5,22,x\n'                 >> c.csv
printf 'plain,savings,6,45,"q,"'                                  >> c.csv
printf 'balance,risk_score,customer_id,account_id,iban\n100.50,0.75,1,1,x\n-3.1,,1,2,x\n1e3,0.1,4,3,x\n.5,1,6,4,x\n' > a.csv
printf 'category,transaction_date,amount,transaction_id,customer_id,memo\n"food, drink",2024-02-29,10,1,1,\n,2023-12-31,+5.5,2,4,\n"",2024-01-01,-0.005,3,6,\n' > t.csv

expect_exit 0 "load the edge cases" load --db "$DB" --customers c.csv --accounts a.csv --transactions t.csv
expect_err 'ignoring column "email"' "an extra column is ignored with a warning"
grep -Eq '^customers +6 rows loaded, 0 rejected' "$OUT" && ok "summary counts the rows" || not_ok "summary counts the rows" "$(cat "$OUT")"
[ ! -e c.csv.rejects.csv ] && ok "no reject file when nothing is rejected" || not_ok "no reject file when nothing is rejected"

# Reference: psql's \copy of the original files into a twin schema.
sql "CREATE SCHEMA ref; CREATE TABLE ref.customers (LIKE customers); CREATE TABLE ref.accounts (LIKE accounts); CREATE TABLE ref.transactions (LIKE transactions)" >/dev/null
for t in customers accounts transactions; do
    psql -X -q -v ON_ERROR_STOP=1 "$DB" -c "\\copy ref.$t FROM '${t:0:1}_ref.csv' CSV HEADER" >/dev/null
done
for t in customers accounts transactions; do
    eq "$t: the same rows as psql \\copy (NULLs and empty strings included)" \
       "$(sql "SELECT count(*) FROM ((TABLE $t EXCEPT ALL TABLE ref.$t) UNION ALL (TABLE ref.$t EXCEPT ALL TABLE $t)) d")" "0"
done
eq "an unquoted empty field is NULL, a quoted one ''" \
   "$(sql "SELECT (age IS NULL)::text || ',' || (SELECT account_type = '' FROM customers WHERE customer_id = 3)::text FROM customers WHERE customer_id = 2")" "true,true"
eq "embedded line breaks kept" "$(sql "SELECT replace(replace(city, chr(13), '<CR>'), chr(10), '<LF>') FROM customers WHERE customer_id = 3")" "two<CR><LF>lines"
eq "backslash and tab kept" "$(sql "SELECT replace(city, chr(9), '<TAB>') FROM customers WHERE customer_id = 5")" 'back\slash<TAB>tab'
eq "numbers with blanks, signs, exponents" "$(sql "SELECT string_agg(balance::text, ' ' ORDER BY account_id) FROM accounts")" "100.50 -3.10 1000.00 0.50"

# --- bad rows -> reject file with physical lines -------------------------
# line 1 header; record 1 spans lines 2-3; then line by line.
cat > bad_c.csv <<'EOF'
customer_id,age,city,account_type
10,40,"two
lines",savings
11,abc,x,y
,30,x,y
12,30,x"y,z
13,30,x
14,2147483648,x,y
2147483648,30,x,y
10,41,dup,y
15,30,"ok ""quoted""",y
EOF
printf 'customer_id,age,city,account_type\n16,30,\xff\xfe,y\n' > bad_c2.csv
cat > bad_t.csv <<'EOF'
transaction_id,customer_id,amount,transaction_date,category
100,10,1.5,2023-02-29,x
101,10,1.5,2024-13-01,x
102,10,1.5,2024-1-01,x
103,10,NaN,2024-01-01,x
104,10,Infinity,2024-01-01,x
105,10,123456789012.345,2024-01-01,x
106,10,999999999999.995,2024-01-01,x
107,10,1e13,2024-01-01,x
108,10,12..5,2024-01-01,x
109,10,0.001,2024-02-29,x
EOF
expect_exit 0 "load with bad rows" load --db "$DB" --customers bad_c.csv --transactions bad_t.csv
cat > want_c.csv <<'EOF'
line,reason
4,"age: ""abc"" is not an integer"
5,"customer_id: missing (every row needs its id)"
6,"field 3 (city): a quote inside an unquoted field (quote the field and double the quote)"
7,"3 fields, the header has 4"
8,"age: ""2147483648"" is out of range for integer"
9,"customer_id: ""2147483648"" is out of range for integer"
10,"customer_id: duplicate id 10 (first on line 2)"
EOF
cat > want_t.csv <<'EOF'
line,reason
2,"transaction_date: ""2023-02-29"" is not a date (YYYY-MM-DD)"
3,"transaction_date: ""2024-13-01"" is not a date (YYYY-MM-DD)"
4,"transaction_date: ""2024-1-01"" is not a date (YYYY-MM-DD)"
5,"amount: ""NaN"" is not a number"
6,"amount: ""Infinity"" is not a number"
8,"amount: ""999999999999.995"" does not fit numeric(14,2)"
9,"amount: ""1e13"" does not fit numeric(14,2)"
10,"amount: ""12..5"" is not a number"
EOF
check "customers reject file: line and reason of each bad row" diff want_c.csv bad_c.csv.rejects.csv
check "transactions reject file: line and reason of each bad row" diff want_t.csv bad_t.csv.rejects.csv
grep -Eq '^customers +2 rows loaded, 7 rejected \(see bad_c.csv.rejects.csv\)' "$OUT" && ok "summary names the reject file" || not_ok "summary names the reject file" "$(cat "$OUT")"
eq "the good rows of a file with bad rows load" "$(sql "SELECT string_agg(customer_id || ':' || city, '|' ORDER BY customer_id) FROM customers WHERE customer_id >= 10")" "$(printf '10:two\nlines|15:ok "quoted"')"
eq "a value that rounds into numeric(14,2) loads as the server rounds it" "$(sql "SELECT amount FROM transactions WHERE transaction_id = 105")" "123456789012.35"
expect_exit 0 "invalid UTF-8 is a rejected row" load --db "$DB" --customers bad_c2.csv
eq "invalid UTF-8 reason" "$(tail -1 bad_c2.csv.rejects.csv)" '2,"city: not valid UTF-8"'

# A later clean load of the same file name removes the stale reject file.
printf 'customer_id,age,city,account_type\n20,30,x,y\n' > bad_c2.csv
expect_exit 0 "clean reload" load --db "$DB" --customers bad_c2.csv
[ ! -e bad_c2.csv.rejects.csv ] && ok "a stale reject file is removed" || not_ok "a stale reject file is removed"

# --- --max-rejects: beyond N nothing loads (all files) -------------------
before=$(sql "SELECT (SELECT count(*) FROM customers) || '/' || (SELECT count(*) FROM transactions)")
printf 'customer_id,age,city,account_type\n30,1,x,y\n' > good_c.csv
expect_exit 2 "more rejects than --max-rejects" load --db "$DB" --customers good_c.csv --transactions bad_t.csv --max-rejects 7
expect_err '8 rows rejected, more than --max-rejects 7: nothing was loaded' "the error says nothing was loaded"
eq "nothing was loaded, not even the good file" "$(sql "SELECT (SELECT count(*) FROM customers) || '/' || (SELECT count(*) FROM transactions)")" "$before"
check "the reject file is still complete" diff want_t.csv bad_t.csv.rejects.csv
sql "DELETE FROM transactions WHERE transaction_id IN (105, 109)" >/dev/null
expect_exit 0 "exactly --max-rejects rejects still load" load --db "$DB" --transactions bad_t.csv --max-rejects 8
expect_exit 1 "--max-rejects must be a number" load --db "$DB" --transactions bad_t.csv --max-rejects lots

# --- header errors --------------------------------------------------------
printf 'customer_id,age\n1,2\n' > h1.csv
expect_exit 2 "missing columns are refused" load --db "$DB" --customers h1.csv
expect_err 'h1.csv: missing required columns "city", "account_type"' "the message names every missing column"
printf 'customer_id,age,city,account_type,AGE\n1,2,x,y,3\n' > h2.csv
expect_exit 2 "a column twice is refused" load --db "$DB" --customers h2.csv
expect_err 'h2.csv:1: column "age" appears twice' "the message names the repeated column"
printf '' > h3.csv
expect_exit 2 "an empty file is refused" load --db "$DB" --customers h3.csv
expect_err 'h3.csv is empty' "the message says the file is empty"
printf 'account_id,customer_id,balance\n90,1,5\n' > a_norisk.csv
expect_exit 0 "risk_score is optional" load --db "$DB" --accounts a_norisk.csv
eq "a missing risk_score column loads NULL" "$(sql "SELECT coalesce(risk_score::text, 'NULL') FROM accounts WHERE account_id = 90")" "NULL"

# --- fatal file errors load nothing, in any file -------------------------
n_before=$(sql "SELECT count(*) FROM customers")
printf 'customer_id,age,city,account_type\n40,1,x,y\n' > ok_c.csv
printf 'transaction_id,customer_id,amount,transaction_date,category\n200,40,1,2024-01-01,x\n201,40,1,2024-01-01,"open\n202,40,1,2024-01-01,x\n' > unterminated.csv
expect_exit 2 "an unterminated quote fails the load" load --db "$DB" --customers ok_c.csv --transactions unterminated.csv
expect_err 'unterminated.csv:3: unterminated quoted field' "the message names file and line"
eq "an unterminated quote in one file loads no other file" "$(sql "SELECT count(*) FROM customers")" "$n_before"
printf 'customer_id,age,city,account_type\n41,1,x,y\n' > ok_c2.csv
printf 'transaction_id,customer_id,amount,transaction_date,category\n1,1,1,2024-01-01,x\n' > dup_t.csv
expect_exit 2 "an id already in the table fails the load" load --db "$DB" --customers ok_c2.csv --transactions dup_t.csv
expect_err 'Key \(transaction_id\)=\(1\) already exists' "the duplicate key is named"
expect_err 'HINT: .*--replace' "the hint suggests --replace"
eq "one transaction: the customers file is not loaded either" "$(sql "SELECT count(*) FROM customers WHERE customer_id = 41")" "0"
expect_exit 2 "a missing file" load --db "$DB" --customers no_such.csv
expect_err 'could not open "no_such.csv"' "the missing file is named"

# --- --replace --------------------------------------------------------------
expect_exit 1 "--replace needs the three files" load --db "$DB" --replace --customers c.csv
expect_exit 0 "--replace" load --db "$DB" --replace --customers c.csv --accounts a.csv --transactions t.csv
for t in customers accounts transactions; do
    eq "$t: --replace leaves exactly the files' rows" \
       "$(sql "SELECT count(*) FROM ((TABLE $t EXCEPT ALL TABLE ref.$t) UNION ALL (TABLE ref.$t EXCEPT ALL TABLE $t)) d")" "0"
done

# --- other column types: each value lands as psql's \copy puts it -------
# (numbers go as COPY BINARY when the types allow: numeric digits, floats,
# dates and ints are encoded by riskpipe; RISKPIPE_LOAD_TEXT=1 is the text
# path.)
sql "CREATE SCHEMA typed; CREATE SCHEMA typed_ref" >/dev/null
for s in typed typed_ref; do
    sql "CREATE TABLE $s.customers (customer_id bigint, age numeric, city varchar(12), account_type char(8));
         CREATE TABLE $s.accounts (account_id int8, customer_id smallint, balance float8, risk_score real);
         CREATE TABLE $s.transactions (transaction_id bigint, customer_id int, amount numeric,
                                       transaction_date date, category text)" >/dev/null
done
$PYTHON - <<'PY'
import random
r = random.Random(7)
special = ["0", "-0", "0.000", "+.5", "5.", "1E+3", "1e-10", "0.00001234", "10000", "9999.99995",
           "-123456789012345678901234567890.123456789", "100000000", "0.1", "-0.0001", "7e2",
           "12.3400", "1.5e-3", "99999999.9999", "-1", "3.14159265358979323846"]
def num():
    if r.random() < 0.3:
        return r.choice(special)
    m = "%d.%0*d" % (r.randint(0, 10**r.randint(0, 12)), r.randint(0, 6), r.randint(0, 999999))
    m = m.rstrip(".") if m.endswith(".") else m
    e = "" if r.random() < 0.7 else "e%d" % r.randint(-8, 8)
    return ("-" if r.random() < 0.3 else "") + m + e
def date():
    return "%04d-%02d-%02d" % (r.randint(1, 9999), r.randint(1, 12), r.randint(1, 28)) if r.random() < 0.9 \
        else r.choice(["2024-02-29", "2000-02-29", "1600-02-29", "0001-01-01", "9999-12-31", "1999-12-31"])
with open("ty_c.csv", "w") as f:
    f.write("customer_id,age,city,account_type\n")
    for i in range(1, 400):
        f.write("%d,%s,%s,%s\n" % (i * 7919 - 10**12, num(), "c%d" % (i % 7), "ab" if i % 3 else ""))
with open("ty_a.csv", "w") as f:
    f.write("account_id,customer_id,balance,risk_score\n")
    for i in range(1, 400):
        f.write("%d,%d,%s,%s\n" % (i, i % 30000 - 15000, num(), num() if i % 5 else ""))
with open("ty_t.csv", "w") as f:
    f.write("transaction_id,customer_id,amount,transaction_date,category\n")
    for i in range(1, 2000):
        f.write("%d,%d,%s,%s,k\n" % (i, -i, num(), date()))
PY
for mode in binary text; do
    sql "TRUNCATE typed.customers, typed.accounts, typed.transactions" >/dev/null
    if [ $mode = text ]; then export RISKPIPE_LOAD_TEXT=1; fi
    expect_exit 0 "load other column types ($mode)" load --db "$DB" --schema typed --customers ty_c.csv --accounts ty_a.csv --transactions ty_t.csv
    unset RISKPIPE_LOAD_TEXT
    grep -q ' 0 rejected' "$OUT" && ! grep -q '[1-9][0-9]* rejected' "$OUT" && ok "nothing rejected ($mode)" || not_ok "nothing rejected ($mode)" "$(cat "$OUT")"
    if [ $mode = binary ]; then
        for t in customers accounts transactions; do
            psql -X -q -v ON_ERROR_STOP=1 "$DB" -c "\\copy typed_ref.$t FROM 'ty_${t:0:1}.csv' CSV HEADER" >/dev/null
        done
    fi
    # compared as text: numeric's display scale (12.3400) must match too
    for t in customers accounts transactions; do
        eq "$t with other types: the same values as psql \\copy ($mode)" \
           "$(sql "SELECT count(*) FROM ((SELECT x::text FROM typed.$t x EXCEPT ALL SELECT y::text FROM typed_ref.$t y) UNION ALL (SELECT y::text FROM typed_ref.$t y EXCEPT ALL SELECT x::text FROM typed.$t x)) d") of $(sql "SELECT count(*) FROM typed.$t")" \
           "0 of $(sql "SELECT count(*) FROM typed_ref.$t")"
    done
done
printf 'customer_id,age,city,account_type\n1,1,abcdefghijklmn,x\n2,1,"abcdefghijkl   ",x\n3,1,\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9,x\n4,1,x,123456789\n' > ty_len.csv
expect_exit 0 "varchar(n) and char(n) lengths" load --db "$DB" --schema typed --customers ty_len.csv
eq "too long is rejected, excess trailing blanks are not (characters, not bytes)" "$(tail -n +2 ty_len.csv.rejects.csv | tr '\n' '|')" \
   '2,"city: 14 characters, longer than the column'"'"'s 12"|5,"account_type: 9 characters, longer than the column'"'"'s 8"|'
eq "the accepted ones are stored as the server cuts them" "$(sql "SELECT string_agg(customer_id || ':' || length(city), ',' ORDER BY customer_id) FROM typed.customers WHERE customer_id IN (2, 3)")" "2:12,3:12"

# --- a generated data set round-trips through CSV --------------------------
new_db load_big
expect_exit 0 "generate" generate --db "$DB" --customers 3000 --seed 5
for t in customers accounts transactions; do
    psql -X -q "$DB" -c "\\copy $t TO '$t.csv' CSV HEADER"
    sql "CREATE TABLE orig_$t AS TABLE $t" >/dev/null
done
expect_exit 0 "load --replace of the exported files" load --db "$DB" --replace --customers customers.csv --accounts accounts.csv --transactions transactions.csv
for t in customers accounts transactions; do
    eq "$t: reloaded rows equal the originals" \
       "$(sql "SELECT count(*) FROM ((TABLE $t EXCEPT ALL TABLE orig_$t) UNION ALL (TABLE orig_$t EXCEPT ALL TABLE $t)) d") / $(sql "SELECT count(*) FROM $t")" \
       "0 / $(sql "SELECT count(*) FROM orig_$t")"
done
