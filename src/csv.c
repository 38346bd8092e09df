/*
 * csv.c - the streaming RFC 4180 reader (see csv.h for what it accepts).
 *
 * Design.  The file is read with fread into one buffer; a record is parsed
 * by a small state machine that de-quotes the fields in place (the write
 * position never passes the read position, because a quote pair or a
 * delimiter always shrinks to at most one byte), writes a NUL after each
 * field and remembers the fields as offsets from the record's first byte.
 * When the buffer runs out in the middle of a record, the unfinished
 * record is moved to the front and the rest of the buffer refilled; only
 * a record longer than the whole buffer makes it grow (doubling, up to
 * CSV_MAX_RECORD).  Offsets, not pointers, are kept until the record is
 * complete because the move would invalidate pointers.  So the steady
 * state allocates nothing: the buffer and the field arrays are reused.
 *
 * Line numbers.  `line` is the physical line of the next unread byte.  CR,
 * LF and CRLF each end one line, inside quoted fields as well; a CRLF that
 * ends a record may be split over two calls (the CR ends the record, the
 * LF is skipped at the start of the next call: skip_lf).
 *
 * The inner loop for unquoted text is a table lookup per byte, so the
 * reader runs at several hundred MB/s, far ahead of what PostgreSQL can
 * take through COPY.
 */
#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

/* initial buffer and read size; the fuzz build (make fuzz) sets it to a
 * few bytes so that every input crosses refills and buffer growth */
#ifndef CSV_CHUNK
#define CSV_CHUNK ((size_t)1 << 20)
#endif

enum { S_START, S_UNQUOTED, S_QUOTED, S_QUOTE_SEEN };

struct csv_reader {
    FILE *f;
    int own;             /* csv_open opened f: csv_close closes it */
    char *name;
    char *buf;           /* cap + 1 bytes: room for a NUL after the data */
    size_t cap, len;     /* allocated (without the extra byte), valid */
    size_t pos;          /* next byte to parse */
    size_t shifted;      /* file bytes moved out of the front of buf */
    long line;           /* physical line of buf[pos] */
    int eof;             /* fread reached the end of the file */
    int bom_checked;
    int skip_lf;         /* the last record ended with CR */
    int done;            /* 0 reading, 1 at the end, < 0 failed (-code) */
    /* the current record's fields (grown by doubling) */
    int fcap;
    size_t *off;
    size_t *flen;
    unsigned char *quoted;
    char **fields;
};

/* Bytes that end a run of plain unquoted text. */
static unsigned char special[256];
static int special_ready;

static void special_init(void)
{
    if (special_ready)
        return;
    special[(unsigned char)','] = 1;
    special[(unsigned char)'\n'] = 1;
    special[(unsigned char)'\r'] = 1;
    special[(unsigned char)'"'] = 1;
    special[0] = 1;
    special_ready = 1;
}

csv_reader *csv_from_stream(FILE *f, const char *name)
{
    csv_reader *r = xcalloc(1, sizeof *r);

    special_init();
    r->f = f;
    r->name = xstrdup(name ? name : "input");
    r->cap = CSV_CHUNK;
    r->buf = xmalloc(r->cap + 1);
    r->line = 1;
    r->fcap = 16;
    r->off = xmallocarray((size_t)r->fcap, sizeof *r->off);
    r->flen = xmallocarray((size_t)r->fcap, sizeof *r->flen);
    r->quoted = xmallocarray((size_t)r->fcap, sizeof *r->quoted);
    r->fields = xmallocarray((size_t)r->fcap, sizeof *r->fields);
    return r;
}

csv_reader *csv_open(const char *path, rp_err *e)
{
    FILE *f = fopen(path, "rb");
    csv_reader *r;

    if (!f) {
        rp_err_set(e, RP_EDATA, "could not open \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    r = csv_from_stream(f, path);
    r->own = 1;
    return r;
}

void csv_close(csv_reader *r)
{
    if (!r)
        return;
    if (r->own && r->f)
        fclose(r->f);
    free(r->name);
    free(r->buf);
    free(r->off);
    free(r->flen);
    free(r->quoted);
    free(r->fields);
    free(r);
}

const char *csv_name(const csv_reader *r)
{
    return r->name;
}

size_t csv_offset(const csv_reader *r)
{
    return r->shifted + r->pos;
}

int csv_record_blank(const csv_record *rec)
{
    return rec->n == 1 && rec->len[0] == 0 && !rec->quoted[0] && !rec->problem;
}

/* Makes the reader's failure sticky; returns -code for csv_next. */
static int fail(csv_reader *r, int code)
{
    r->done = -code;
    return -code;
}

/*
 * Makes more input available: moves the unfinished record (from *start)
 * to the front, grows the buffer when the record fills it, and reads.
 * *start, *w and pos are adjusted for the move.  0 when bytes were added
 * or the end of the file was reached (r->eof), < 0 on error.
 */
static int refill(csv_reader *r, size_t *start, size_t *w, long rec_line, rp_err *e)
{
    size_t n;

    if (*start > 0) {
        memmove(r->buf, r->buf + *start, r->len - *start);
        r->shifted += *start;
        r->len -= *start;
        r->pos -= *start;
        *w -= *start;
        *start = 0;
    }
    if (r->len == r->cap) {
        if (r->cap >= CSV_MAX_RECORD) {
            rp_err_set(e, RP_EDATA, "%s:%ld: record longer than %zu MB", r->name,
                       rec_line, CSV_MAX_RECORD >> 20);
            rp_err_hint(e, "a quote that is never closed makes the rest of the "
                           "file one field; check the quotes from that line on");
            return fail(r, RP_EDATA);
        }
        r->cap *= 2;
        r->buf = xrealloc(r->buf, r->cap + 1);
    }
    n = fread(r->buf + r->len, 1, r->cap - r->len, r->f);
    r->len += n;
    if (n == 0) {
        if (ferror(r->f)) {
            rp_err_set(e, RP_EINTERNAL, "could not read \"%s\": %s", r->name,
                       strerror(errno ? errno : EIO));
            return fail(r, RP_EINTERNAL);
        }
        r->eof = 1;
    }
    return 0;
}

/* Skips a UTF-8 byte order mark at the very start of the file. */
static int skip_bom(csv_reader *r, rp_err *e)
{
    size_t start = 0, w = 0;

    r->bom_checked = 1;
    while (r->len < 3 && !r->eof)
        if (refill(r, &start, &w, 1, e))
            return r->done;
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0)
        r->pos = 3;
    return 0;
}

/* Ends the field that runs from the record offset *fstart to *w: writes
 * its NUL (over the consumed delimiter or earlier, so *w + 1 <= pos). */
static void end_field(csv_reader *r, size_t start, size_t *pw, size_t *fstart,
                      int quoted, int *nf)
{
    if (*nf == r->fcap) {
        r->fcap *= 2;
        r->off = xreallocarray(r->off, (size_t)r->fcap, sizeof *r->off);
        r->flen = xreallocarray(r->flen, (size_t)r->fcap, sizeof *r->flen);
        r->quoted = xreallocarray(r->quoted, (size_t)r->fcap, sizeof *r->quoted);
        r->fields = xreallocarray(r->fields, (size_t)r->fcap, sizeof *r->fields);
    }
    r->off[*nf] = *fstart;
    r->flen[*nf] = *pw - start - *fstart;
    r->quoted[*nf] = (unsigned char)quoted;
    r->buf[(*pw)++] = '\0';
    (*nf)++;
    *fstart = *pw - start;
}

/* Fills rec from the fields of the record that starts at buf[start]. */
static void make_record(csv_reader *r, size_t start, int nf, long line,
                        const char *problem, int pfield, csv_record *rec)
{
    int i;

    for (i = 0; i < nf; i++)
        r->fields[i] = r->buf + start + r->off[i];
    rec->n = nf;
    rec->f = r->fields;
    rec->len = r->flen;
    rec->quoted = r->quoted;
    rec->line = line;
    rec->problem = problem;
    rec->problem_field = pfield;
}

/* The record terminator at buf[pos] (CR or LF): consumes it. */
static void end_line(csv_reader *r)
{
    r->skip_lf = r->buf[r->pos] == '\r';
    r->pos++;
    r->line++;
}

/*
 * One record.  The state machine is one function on purpose: its state
 * (the state, the field start, the write position, whether the last byte
 * in a quoted field was a CR) lives in locals that survive the refills in
 * the middle of a record, and the unquoted-text loop stays tight.
 */
int csv_next(csv_reader *r, csv_record *rec, rp_err *e)
{
    size_t start, w, fstart = 0;
    int state = S_START, nf = 0, quoted = 0, prev_cr = 0, pfield = 0;
    long line, qline = 0;
    const char *problem = NULL;

    if (r->done)
        return r->done > 0 ? 0 : r->done;
    if (!r->bom_checked && skip_bom(r, e))
        return r->done;
    if (r->skip_lf) {
        start = w = r->pos;
        if (r->pos == r->len && !r->eof && refill(r, &start, &w, r->line, e))
            return r->done;
        if (r->pos < r->len && r->buf[r->pos] == '\n')
            r->pos++;
        r->skip_lf = 0;
    }
    start = w = r->pos;
    line = r->line;
    for (;;) {
        char c;

        if (r->pos == r->len) {
            if (!r->eof) {
                if (refill(r, &start, &w, line, e))
                    return r->done;
                continue;
            }
            if (state == S_QUOTED) {
                rp_err_set(e, RP_EDATA, "%s:%ld: unterminated quoted field: the quote "
                           "opened on line %ld is never closed", r->name, line, qline);
                rp_err_hint(e, "a quote inside a field must be doubled (\"\")");
                return fail(r, RP_EDATA);
            }
            if (state == S_START && nf == 0) {
                r->done = 1;
                return 0;
            }
            end_field(r, start, &w, &fstart, quoted, &nf);
            make_record(r, start, nf, line, problem, pfield, rec);
            return 1;
        }
        c = r->buf[r->pos];
        switch (state) {
        case S_START:
            quoted = 0;
            if (c == '"') {
                quoted = 1;
                qline = r->line;
                prev_cr = 0;
                r->pos++;
                state = S_QUOTED;
                break;
            }
            state = S_UNQUOTED;
            /* fall through */
        case S_UNQUOTED:
            while (r->pos < r->len && !special[(unsigned char)r->buf[r->pos]])
                r->buf[w++] = r->buf[r->pos++];
            if (r->pos == r->len)
                break;
            c = r->buf[r->pos];
            if (c == ',') {
                r->pos++;
                end_field(r, start, &w, &fstart, quoted, &nf);
                state = S_START;
            } else if (c == '\n' || c == '\r') {
                end_line(r);
                end_field(r, start, &w, &fstart, quoted, &nf);
                make_record(r, start, nf, line, problem, pfield, rec);
                return 1;
            } else {
                if (!problem) {
                    problem = c == '"' ? "a quote inside an unquoted field (quote the "
                                         "field and double the quote)"
                                       : "a NUL byte";
                    pfield = nf;
                }
                r->buf[w++] = c;
                r->pos++;
            }
            break;
        case S_QUOTED:
            while (r->pos < r->len) {
                c = r->buf[r->pos];
                if (c == '"')
                    break;
                if (c == '\r' || (c == '\n' && !prev_cr))
                    r->line++;
                prev_cr = c == '\r';
                if (c == '\0' && !problem) {
                    problem = "a NUL byte";
                    pfield = nf;
                }
                r->buf[w++] = c;
                r->pos++;
            }
            if (r->pos < r->len) {
                r->pos++;
                state = S_QUOTE_SEEN;
            }
            break;
        case S_QUOTE_SEEN:
            if (c == '"') {
                r->buf[w++] = '"';
                r->pos++;
                prev_cr = 0;
                state = S_QUOTED;
            } else if (c == ',') {
                r->pos++;
                end_field(r, start, &w, &fstart, quoted, &nf);
                state = S_START;
            } else if (c == '\n' || c == '\r') {
                end_line(r);
                end_field(r, start, &w, &fstart, quoted, &nf);
                make_record(r, start, nf, line, problem, pfield, rec);
                return 1;
            } else {
                if (!problem) {
                    problem = "text after the closing quote of a quoted field";
                    pfield = nf;
                }
                state = S_UNQUOTED;
            }
            break;
        }
    }
}
