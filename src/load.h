/*
 * load.h - CSV files into the input tables: `riskpipe load` and
 * `riskpipe predict --from-csv`.
 *
 * Each file is read with the streaming RFC 4180 reader (csv.h).  Columns
 * are matched by header name (case-insensitive, order free); extra
 * columns are ignored with a warning; a missing required column refuses
 * the file, naming every one missing.  Every row is validated in C against
 * the target column's actual type (integer ranges, numeric(p,s), finite
 * numbers, YYYY-MM-DD calendar dates, UTF-8 text, varchar(n) lengths,
 * ids present and not repeated within the file); good rows stream to the
 * table through COPY FROM STDIN, bad rows go to "<file>.rejects.csv" as
 * (line, reason), the line being the physical line where the record
 * starts.  All files load in one transaction: every good row of every
 * file, or nothing.
 *
 * Empty values: an empty unquoted field is NULL; a quoted empty field
 * ("") is an empty string in a text column and NULL in a number or date
 * column.  This is what psql's \copy ... CSV loads for text, so the two
 * give the same table.
 */
#ifndef RP_LOAD_H
#define RP_LOAD_H

#include "db.h"
#include "schema.h"
#include "util/err.h"

enum { LOAD_CUSTOMERS = 0, LOAD_ACCOUNTS = 1, LOAD_TRANSACTIONS = 2, LOAD_NTABLES = 3 };

typedef struct load_opts {
    const char *files[LOAD_NTABLES];  /* NULL: that table is not loaded */
    int replace;            /* TRUNCATE the three tables first, in the
                               same transaction */
    long max_rejects;       /* < 0: no limit; more rejected rows (all files
                               together) than this: load nothing */
} load_opts;

typedef struct load_summary {
    long rows[LOAD_NTABLES];      /* data records read (blank lines skipped) */
    long loaded[LOAD_NTABLES];    /* rows sent to the table */
    long rejected[LOAD_NTABLES];
    char *rejects[LOAD_NTABLES];  /* reject file written, or NULL */
    long total_rejected;
} load_summary;

/* The default opts: nothing loaded, no limit. */
load_opts load_opts_default(void);

/*
 * Loads the files named in o into the tables of t (which must exist), in
 * one transaction.  On success s holds the counts and the reject files
 * written (an old reject file of a file without rejects is removed).
 * Errors: RP_EDATA for a file that cannot be read, a bad header, an
 * unterminated quote, a duplicate id already in the table, or more than
 * max_rejects rejected rows (the reject files are still written, and
 * s->total_rejected says how many); RP_EDB when the server fails;
 * RP_EINTERNAL when a reject file cannot be written.  Nothing is loaded
 * on any error.  s must be freed with load_summary_free in every case.
 */
int load_files(db_conn *c, const rp_tables *t, const load_opts *o,
               load_summary *s, rp_err *e);

void load_summary_free(load_summary *s);

/*
 * Session-private copies of the three input tables for scoring files:
 * temporary tables (schema pg_temp, dropped when the connection closes)
 * shaped LIKE the tables of `real` when they exist, so that values get
 * the same types and the features the same bits; otherwise with the
 * `riskpipe init` layout.  *tmp receives the names (schema "pg_temp",
 * the tables' own names).
 */
int load_temp_tables(db_conn *c, const rp_tables *real, rp_tables *tmp, rp_err *e);

#endif
