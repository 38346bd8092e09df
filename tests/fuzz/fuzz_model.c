/*
 * fuzz_model.c - libFuzzer target for the model-file loader
 * (model_from_json, src/model_io.c).
 *
 * A model file comes from disk or from the registry table and is trusted
 * for nothing: the loader must refuse any bad input with a message, never
 * crash, leak or read out of bounds.  The checksum stops almost every
 * mutated file at the door, which would leave the field checks unfuzzed,
 * so inputs whose first byte is even are parsed with jansson first and,
 * when they are a JSON object, given the checksum they should carry
 * (model_json_checksum) before the loader sees them: the mutations then
 * reach every field reader.  Odd first bytes go in raw (syntax errors,
 * truncation, the checksum check itself).
 *
 * Property: a file the loader accepts survives a round trip: written
 * again with model_to_json, it loads, and writing that gives the same
 * text.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static void fail(const char *why)
{
    fprintf(stderr, "model loader: %s\n", why);
    abort();
}

/* The input with its checksum member set to the right value, or NULL
 * when it is not a JSON object.  Caller frees. */
static char *with_checksum(const char *text, size_t len)
{
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    char *sum, *out = NULL;

    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    sum = model_json_checksum(text, len);
    if (sum && json_object_set_new(root, "checksum", json_string(sum)) == 0)
        out = json_dumps(root, JSON_REAL_PRECISION(17));
    free(sum);
    json_decref(root);
    return out;
}

static void round_trip(const model *m)
{
    char *a = model_to_json(m), *b;
    model m2;
    rp_err e;

    if (!a)
        return;   /* e.g. a level name that is not valid UTF-8 */
    rp_err_clear(&e);
    if (model_from_json(a, strlen(a), "round trip", &m2, &e) != RP_OK) {
        fprintf(stderr, "%s\n", e.msg);
        fail("a model written by model_to_json does not load");
    }
    b = model_to_json(&m2);
    if (!b || strcmp(a, b))
        fail("write -> load -> write changed the text");
    model_free(&m2);
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data + (size > 0);
    size_t len = size > 0 ? size - 1 : 0;
    char *fixed = NULL;
    model m;
    rp_err e;

    if (size > 0 && (data[0] & 1) == 0 && (fixed = with_checksum(text, len))) {
        text = fixed;
        len = strlen(fixed);
    }
    rp_err_clear(&e);
    if (model_from_json(text, len, "fuzz", &m, &e) == RP_OK) {
        round_trip(&m);
        model_free(&m);
    } else if (!e.msg[0] || e.code != RP_EDATA) {
        fail("a refusal without a message or with another code");
    }
    free(fixed);
    return 0;
}
