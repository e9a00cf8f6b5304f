/*
 * pcg32.h - the PCG32 random number generator (PCG-XSH-RR, 64-bit state,
 * 32-bit output; M. E. O'Neill, "PCG: A Family of Simple Fast Space-Efficient
 * Statistically Good Algorithms for Random Number Generation", 2014).
 *
 * nas has no global generator: every function that draws takes a pcg32 *,
 * so one seed gives one trace. The state is two integers and can be copied,
 * stored and restored byte for byte.
 */
#ifndef NAS_CORE_PCG32_H
#define NAS_CORE_PCG32_H

#include <stdint.h>

typedef struct pcg32 {
    uint64_t state;
    uint64_t inc; /* stream selector, always odd */
} pcg32;

/* Seeds the generator: seed picks the starting point, stream the sequence. */
void pcg32_seed(pcg32 *rng, uint64_t seed, uint64_t stream);

/* Next 32 uniform bits. */
uint32_t pcg32_next(pcg32 *rng);

/* Uniform integer in [0, bound) without modulo bias (bound >= 1). */
uint32_t pcg32_bounded(pcg32 *rng, uint32_t bound);

/* Uniform integer in [lo, hi] (inclusive, lo <= hi), unbiased, any int64 range. */
int64_t pcg32_range(pcg32 *rng, int64_t lo, int64_t hi);

/* Uniform double in [0, 1) with 53 random bits. */
double pcg32_double(pcg32 *rng);

/* Standard normal draw (Box-Muller; uses two doubles, keeps no cache). */
double pcg32_normal(pcg32 *rng);

/* Jumps ahead (or back, for negative delta as two's complement) by delta draws
 * in O(log delta) (Brown, "Random Number Generation with Arbitrary Stride"). */
void pcg32_advance(pcg32 *rng, uint64_t delta);

/* A child generator for stream `stream`, seeded from the parent's next draws.
 * The parent advances by two draws. */
pcg32 pcg32_split(pcg32 *rng, uint64_t stream);

#endif
