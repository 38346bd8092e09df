/*
 * fuzz_conninfo.c - libFuzzer target for db_mask_conninfo.
 *
 * The property: no secret that libpq would read from a conninfo (password,
 * sslpassword; key=value or URI) survives masking.  libpq is the oracle:
 * when PQconninfoParse accepts the input, the masked text must parse too,
 * to the same options with every secret absent or "********".  Inputs
 * libpq refuses are never sent to a server; for them only crashes and
 * sanitizer reports count.
 */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

/* The value of keyword kw in a parsed option array, or NULL. */
static const char *opt_val(const PQconninfoOption *o, const char *kw)
{
    for (; o && o->keyword; o++)
        if (!strcmp(o->keyword, kw))
            return o->val;
    return NULL;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static void fail(const char *why, const char *in, const char *out)
{
    fprintf(stderr, "conninfo masking: %s\n  input:  [%s]\n  masked: [%s]\n",
            why, in, out);
    abort();
}

/* Masked options equal the input's, except the password. */
static void compare(const PQconninfoOption *a, const PQconninfoOption *b,
                    const char *in, const char *out)
{
    for (; a->keyword; a++) {
        const char *vb = opt_val(b, a->keyword);
        if (a->dispchar[0] == '*') {   /* password, sslpassword */
            if (vb && *vb && strcmp(vb, "********"))
                fail("a password survives masking", in, out);
        } else if (!same(a->val, vb)) {
            fail("masking changed another option", in, out);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1), *out, *err = NULL;
    PQconninfoOption *a, *b;

    memcpy(in, data, size);
    in[size] = '\0';
    out = db_mask_conninfo(in);
    a = PQconninfoParse(in, &err);
    PQfreemem(err);
    err = NULL;
    if (a) {
        b = PQconninfoParse(out, &err);
        PQfreemem(err);
        if (!b)
            fail("libpq cannot parse the masked conninfo", in, out);
        compare(a, b, in, out);
        PQconninfoFree(b);
    }
    PQconninfoFree(a);
    free(out);
    free(in);
    return 0;
}
