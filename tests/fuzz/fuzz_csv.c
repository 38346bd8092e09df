/*
 * fuzz_csv.c - libFuzzer target for the CSV reader (src/csv.c).
 *
 * Each input is read as a file through fmemopen.  Besides crashes and
 * sanitizer reports, two properties are checked:
 *   - every record is well formed: n >= 1, each field NUL-terminated at
 *     its length, and free of NUL bytes unless the record has a problem;
 *   - where the reader's buffer ends does not matter.  The reader fills
 *     a buffer of CSV_CHUNK bytes (1 MB) and moves an unfinished record to
 *     its front, growing the buffer when one record does not fit; the
 *     fuzz build sets CSV_CHUNK to 64 bytes (Makefile) so that small
 *     inputs take those paths.  Each input is read a second time behind a
 *     padding record of 1 to 200 bytes, which moves every refill to
 *     another place in it; its records (fields, quoting, problems, line
 *     numbers shifted by the padding) and the final status must equal
 *     those of the plain read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "util/strbuf.h"

static void fail(const char *why)
{
    fprintf(stderr, "csv reader: %s\n", why);
    abort();
}

/* Appends rec, with its line shifted by -dline, to a canonical dump. */
static void dump_record(sb_t *sb, const csv_record *rec, long dline)
{
    int i;

    if (rec->n < 1)
        fail("a record with no fields");
    sb_printf(sb, "R%d L%ld P%s/%d\n", rec->n, rec->line - dline,
              rec->problem ? rec->problem : "-", rec->problem ? rec->problem_field : 0);
    for (i = 0; i < rec->n; i++) {
        if (rec->f[i][rec->len[i]] != '\0')
            fail("a field is not NUL-terminated at its length");
        if (!rec->problem && memchr(rec->f[i], '\0', rec->len[i]))
            fail("a NUL byte inside a field of a record without a problem");
        sb_printf(sb, "F%d %zu:", rec->quoted[i], rec->len[i]);
        sb_appendn(sb, rec->f[i], rec->len[i]);
        sb_putc(sb, '\n');
    }
}

/* Reads all records of buf[0..n); skips the first `skip` records (the
 * padding) and dumps the rest.  Returns the final status. */
static int read_all(const char *buf, size_t n, long skip, long dline, sb_t *sb)
{
    FILE *f = fmemopen((void *)buf, n, "r");
    csv_reader *r;
    csv_record rec;
    rp_err e;
    int rc;
    long k = 0;

    if (!f)
        return -99;
    r = csv_from_stream(f, "fuzz");
    rp_err_clear(&e);
    while ((rc = csv_next(r, &rec, &e)) == 1)
        if (k++ >= skip)
            dump_record(sb, &rec, dline);
    if (rc < 0 && !e.msg[0])
        fail("an error without a message");
    if (csv_next(r, &rec, &e) != rc)
        fail("a call after the end or an error returned something else");
    csv_close(r);
    fclose(f);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sb_t plain = {0}, padded = {0};
    int rc;

    if (size == 0)
        return 0;   /* fmemopen refuses a zero-sized buffer */
    rc = read_all((const char *)data, size, 0, 0, &plain);
    /* the padded read: not for a BOM (only skipped at the file's start) */
    if (!(size >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))) {
        size_t pad = 1 + data[size - 1] % 200;
        char *buf = malloc(pad + size);
        int rc2;

        memset(buf, 'x', pad - 1);
        buf[pad - 1] = '\n';
        memcpy(buf + pad, data, size);
        rc2 = read_all(buf, pad + size, 1, 1, &padded);
        if (rc2 != rc)
            fail("the final status depends on the buffer boundary");
        if (plain.len != padded.len || (plain.len && memcmp(plain.p, padded.p, plain.len)))
            fail("the records depend on the buffer boundary");
        free(buf);
    }
    sb_free(&plain);
    sb_free(&padded);
    return 0;
}
