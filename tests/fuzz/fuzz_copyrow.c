/*
 * fuzz_copyrow.c - libFuzzer target for the COPY text path: the row
 * splitter of db.c (db_copy_split_row), the escaper that writes COPY rows
 * (db_copy_escape) and the dataset loader that consumes the fields
 * (ds_push_row, with its string interning and number parsing).
 *
 * riskpipe reads text-format COPY only (the binary parser the issue names
 * does not exist), so this is the parser that sees every byte of the
 * feature rows.  Per input:
 *   1. the input, split at newlines, is a list of rows; each is split and
 *      pushed into a dataset shaped like a small feature query (two
 *      numeric and two text columns).  Rows are refused or accepted;
 *      nothing may crash, and an accepted row is stored as given;
 *   2. a round trip: the input, cut at 0x01 bytes into strings, is
 *      escaped with db_copy_escape, joined with tabs and split again;
 *      every string must come back unchanged (never as NULL).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "db.h"
#include "util/strbuf.h"

static void fail(const char *why)
{
    fprintf(stderr, "copy row: %s\n", why);
    abort();
}

static feat_col cols[4] = {
    {"n1", "number one", 0, NULL},
    {"c1", "text one", 1, NULL},
    {"n2", "number two", 0, "g"},
    {"c2", "text two", 1, "g"},
};
static feat_query query = {"SELECT 1", 4, cols};

/* Checks that row i of d holds what the fields said. */
static void check_stored(const dataset *d, size_t i, char **f)
{
    int j;

    for (j = 0; j < 4; j++) {
        const char *v = f[j + 2];
        if (cols[j].categorical) {
            int32_t c = d->code[j][i];
            if (!v ? c != -1 : (c < 0 || c >= d->nlevels[j] ||
                                strcmp(d->levels[j][c], v)))
                fail("a text field was stored as another value");
        } else if (!v && !isnan(d->num[j][i])) {
            fail("a NULL number was stored as a value");
        }
    }
}

static void push_rows(const char *data, size_t size)
{
    char *text = malloc(size + 1), *line, *save = NULL, **fields = NULL;
    dataset d;
    int cap = 0;

    memcpy(text, data, size);
    text[size] = '\0';
    ds_init(&d, &query);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *copy[6];
        rp_err e;
        int n = db_copy_split_row(line, &fields, &cap), j;
        size_t before = d.n;

        if (n < 1)
            fail("a row with no fields");
        rp_err_clear(&e);
        if (ds_push_row(&d, &query, n, fields, &e) != RP_OK) {
            if (!e.msg[0] || d.n != before)
                fail("a refused row without a message, or stored anyway");
            continue;
        }
        if (n != 6 || d.n != before + 1)
            fail("a row of the wrong width was accepted");
        for (j = 0; j < 6; j++)
            copy[j] = fields[j];
        check_stored(&d, before, copy);
    }
    ds_free(&d);
    free(fields);
    free(text);
}

static void round_trip(const char *data, size_t size)
{
    sb_t sb = {0};
    char **fields = NULL, **want = NULL;
    size_t i, start = 0;
    int n = 0, cap = 0, got;

    /* strings cut at 0x01; NUL bytes cannot be in a C string, so they
     * end the input here */
    size = strnlen(data, size);
    for (i = 0; i <= size; i++) {
        if (i < size && data[i] != '\x01')
            continue;
        want = realloc(want, (size_t)(n + 1) * sizeof *want);
        want[n] = strndup(data + start, i - start);
        if (n)
            sb_putc(&sb, '\t');
        db_copy_escape(&sb, want[n]);
        n++;
        start = i + 1;
    }
    sb_putc(&sb, '\0');   /* sb.p may be NULL for one empty string */
    got = db_copy_split_row(sb.p, &fields, &cap);
    if (got != n)
        fail("escape + split changed the number of fields");
    for (i = 0; i < (size_t)n; i++) {
        if (!fields[i] || strcmp(fields[i], want[i]))
            fail("escape + split changed a field");
        free(want[i]);
    }
    free(want);
    free(fields);
    sb_free(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    push_rows((const char *)data, size);
    round_trip((const char *)data, size);
    return 0;
}
