/*
 * fuzz_rank.c - libFuzzer target for the reader of a ranking's stand-alone
 * accuracies (nas_supernet_truth_parse, `nas supernet rank --standalone`).
 * Every input must be read or refused with a message, never crash, leak or
 * hit undefined behaviour; a ranking that is read gives every arch up to
 * `seeds` values and a mean in 0..1 equal to the mean of them.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "evaluator/supernet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint64_t hash[3] = {0x1, 0x2, 0xfedcba9876543210ULL};
    nas_supernet_config c;
    nas_supernet_config_default(&c); /* fashion-mnist, train fraction 1, val 0.1, seed 0 */
    nas_supernet_truth t;
    nas_error err;
    nas_error_clear(&err);
    if (nas_supernet_truth_parse((const char *)data, size, "fuzz.json", &c, hash, 3, &t, &err) != NAS_OK) {
        if (err.msg[0] == '\0' || t.acc || t.seed_acc || t.have) abort();
        return 0;
    }
    if (t.seeds < 1 || t.seeds > 100 || t.epochs < 1) abort();
    for (int i = 0; i < 3; i++) {
        double m = 0;
        if (t.have[i] < 0 || t.have[i] > t.seeds) abort();
        for (int j = 0; j < t.have[i]; j++) m += t.seed_acc[i * t.seeds + j] / t.have[i];
        if (!(t.acc[i] >= 0 && t.acc[i] <= 1) || fabs(m - t.acc[i]) > 1e-12) abort();
    }
    nas_supernet_truth_deinit(&t);
    return 0;
}
