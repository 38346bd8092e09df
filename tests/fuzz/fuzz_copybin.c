/*
 * fuzz_copybin.c - libFuzzer target for the binary COPY parser of db.c
 * (db_copy_binary_parse: the framing that db_copy_out_binary reads for
 * the client-side feature path, fastfeat.c).
 *
 * The server's bytes are trusted for nothing here: a malformed stream
 * must end in RP_EINTERNAL, never in a read outside the message.  The
 * input is a list of CopyData messages, each a 16-bit big-endian length
 * and that many bytes; every message is copied into a buffer of exactly
 * its size, so AddressSanitizer sees any read past its end.  on_row reads
 * every byte of every field it is given, and checks that each field lies
 * inside the message of the call.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

#define MAX_MSGS 256

typedef struct seen {
    unsigned sum;   /* every byte read, so that ASan checks each one */
    long rows;
} seen;

static char *msgs[MAX_MSGS];
static long lens[MAX_MSGS];

static void fail(const char *why)
{
    fprintf(stderr, "binary COPY parser: %s\n", why);
    abort();
}

/* The message that holds p, or -1. */
static int owner(const char *p, int n)
{
    int k;

    for (k = 0; k < n; k++)
        if (p >= msgs[k] && p <= msgs[k] + lens[k])
            return k;
    return -1;
}

static int nmsgs;

static int on_row(void *ctx, int nf, const char *const *val, const int *len, rp_err *e)
{
    seen *s = ctx;
    int i, j;

    (void)e;
    for (i = 0; i < nf; i++) {
        int k;
        if (!val[i]) {
            if (len[i] != -1)
                fail("a NULL field with a length");
            continue;
        }
        if (len[i] < 0)
            fail("a field with a negative length");
        k = owner(val[i], nmsgs);
        if (k < 0 || val[i] + len[i] > msgs[k] + lens[k])
            fail("a field outside its message");
        for (j = 0; j < len[i]; j++)
            s->sum += (unsigned char)val[i][j];
    }
    s->rows++;
    return RP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    seen s = {0, 0};
    size_t pos = 0;
    rp_err e;
    int k, rc;

    nmsgs = 0;
    while (pos + 2 <= size && nmsgs < MAX_MSGS) {
        size_t n = (size_t)data[pos] << 8 | data[pos + 1];
        pos += 2;
        if (n > size - pos)
            n = size - pos;
        /* a CopyData message is never empty; malloc(0) would be */
        msgs[nmsgs] = malloc(n ? n : 1);
        memcpy(msgs[nmsgs], data + pos, n);
        lens[nmsgs++] = (long)n;
        pos += n;
    }
    rp_err_clear(&e);
    rc = db_copy_binary_parse((const char *const *)msgs, lens, nmsgs, on_row, &s, &e);
    if (rc != RP_OK && (rc != RP_EINTERNAL || !e.msg[0]))
        fail("a failure that is not RP_EINTERNAL with a message");
    for (k = 0; k < nmsgs; k++)
        free(msgs[k]);
    return 0;
}
