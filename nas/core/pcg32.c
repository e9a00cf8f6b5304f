/* pcg32.c - PCG-XSH-RR 64/32 (see pcg32.h). */
#include "nas/core/pcg32.h"

#include <math.h>

#define PCG_MULT 6364136223846793005ULL

void pcg32_seed(pcg32 *rng, uint64_t seed, uint64_t stream) {
    rng->state = 0u;
    rng->inc = (stream << 1u) | 1u;
    pcg32_next(rng);
    rng->state += seed;
    pcg32_next(rng);
}

uint32_t pcg32_next(pcg32 *rng) {
    uint64_t old = rng->state;
    rng->state = old * PCG_MULT + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

uint32_t pcg32_bounded(pcg32 *rng, uint32_t bound) {
    /* Rejection: accept r >= 2^32 mod bound, so every residue is equally likely. */
    uint32_t threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        uint32_t r = pcg32_next(rng);
        if (r >= threshold) return r % bound;
    }
}

static uint64_t next64(pcg32 *rng) {
    uint64_t hi = pcg32_next(rng);
    return (hi << 32) | pcg32_next(rng);
}

int64_t pcg32_range(pcg32 *rng, int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)hi - (uint64_t)lo; /* hi - lo, may be 2^64 - 1 */
    if (span < UINT32_MAX) return lo + (int64_t)pcg32_bounded(rng, (uint32_t)(span + 1));
    if (span == UINT64_MAX) return (int64_t)next64(rng);
    uint64_t bound = span + 1;
    uint64_t threshold = (-bound) % bound;
    for (;;) {
        uint64_t r = next64(rng);
        if (r >= threshold) return (int64_t)((uint64_t)lo + r % bound);
    }
}

double pcg32_double(pcg32 *rng) {
    return (double)(next64(rng) >> 11) * 0x1.0p-53;
}

double pcg32_normal(pcg32 *rng) {
    double u1 = 1.0 - pcg32_double(rng); /* (0, 1] */
    double u2 = pcg32_double(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void pcg32_advance(pcg32 *rng, uint64_t delta) {
    uint64_t cur_mult = PCG_MULT, cur_plus = rng->inc;
    uint64_t acc_mult = 1u, acc_plus = 0u;
    while (delta > 0) {
        if (delta & 1) {
            acc_mult *= cur_mult;
            acc_plus = acc_plus * cur_mult + cur_plus;
        }
        cur_plus = (cur_mult + 1) * cur_plus;
        cur_mult *= cur_mult;
        delta /= 2;
    }
    rng->state = acc_mult * rng->state + acc_plus;
}

pcg32 pcg32_split(pcg32 *rng, uint64_t stream) {
    pcg32 child;
    pcg32_seed(&child, next64(rng), stream);
    return child;
}
