/*
 * rng.h - a small deterministic PRNG (splitmix64) for splits and shuffles.
 * Not libc rand(): the same seed must give the same split on every machine.
 */
#ifndef RP_RNG_H
#define RP_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rng { uint64_t s; } rng;

static inline uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform integer in [0, n) (n > 0), without modulo bias worth noticing
 * for n far below 2^64. */
static inline size_t rng_below(rng *r, size_t n)
{
    return (size_t)(rng_next(r) % (uint64_t)n);
}

#endif
