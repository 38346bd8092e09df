/*
 * csv.h - a streaming RFC 4180 reader.
 *
 * Reads a file one record at a time through a buffer that grows only
 * when a single record is longer than it: no allocation per record.  What
 * it accepts:
 *   - fields separated by ',' and records ended by CRLF, LF or a lone CR
 *     (a file may mix them); the last record may lack its terminator;
 *   - quoted fields ("...") holding commas, quotes doubled ("") and line
 *     breaks, which are kept as they are in the file;
 *   - a UTF-8 byte order mark at the start of the file (skipped).
 * What it reports:
 *   - each record's physical line, the line of the file where the record
 *     starts (a quoted line break makes a record span lines), so messages
 *     can say file:line;
 *   - a record that breaks the format but still has a clear end (a quote
 *     inside an unquoted field, text after a closing quote, a NUL byte) is
 *     returned with `problem` set, so the caller can reject that one row
 *     and go on;
 *   - a quoted field still open at the end of the file is an error
 *     (RP_EDATA naming the line where the field opened): everything after
 *     that quote would otherwise be swallowed into one field.
 *
 * A blank line is returned as a record of one empty unquoted field
 * (csv_record_blank says so); RFC 4180 does not say what it means, and
 * the caller decides.
 */
#ifndef RP_CSV_H
#define RP_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "util/err.h"

/* A single record longer than this is refused (a missing quote would
 * otherwise read the rest of a large file into memory). */
#define CSV_MAX_RECORD ((size_t)64 << 20)

typedef struct csv_reader csv_reader;

/*
 * One record.  The fields point into the reader's buffer, NUL-terminated
 * and de-quoted in place: valid until the next csv_next or csv_close.
 */
typedef struct csv_record {
    int n;                   /* fields (>= 1) */
    char **f;                /* f[i]: the field's text */
    size_t *len;             /* len[i]: its length in bytes */
    unsigned char *quoted;   /* quoted[i]: 1 when it was written in quotes
                                (so "" is an empty string, not missing) */
    long line;               /* physical line (1-based) where it starts */
    const char *problem;     /* NULL, or why the record is malformed */
    int problem_field;       /* 0-based field the problem is in */
} csv_record;

/* Opens path for reading.  NULL with RP_EDATA (the file named, strerror)
 * when it cannot be opened.  name is used in messages (NULL: path). */
csv_reader *csv_open(const char *path, rp_err *e);

/* A reader over an open stream (not closed by csv_close); name is used in
 * messages.  For tests (fmemopen) and pipes. */
csv_reader *csv_from_stream(FILE *f, const char *name);

/*
 * The next record into *rec.  Returns 1 for a record, 0 at the end of the
 * file, and -RP_EDATA (an unterminated quoted field, a record longer than
 * CSV_MAX_RECORD) or -RP_EINTERNAL (a read error) with e set, naming the
 * file and line.  After an error or the end, further calls return the
 * same.
 */
int csv_next(csv_reader *r, csv_record *rec, rp_err *e);

/* 1 when rec is a blank line: one empty field, not quoted, no problem. */
int csv_record_blank(const csv_record *rec);

/* Bytes consumed so far (for progress). */
size_t csv_offset(const csv_reader *r);

/* The name the reader uses in messages. */
const char *csv_name(const csv_reader *r);

/* Closes the file (when csv_open opened it) and frees r; accepts NULL. */
void csv_close(csv_reader *r);

#endif
