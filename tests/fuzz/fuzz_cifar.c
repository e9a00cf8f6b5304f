/*
 * fuzz_cifar.c - libFuzzer target for the CIFAR-10 batch parser (plain or
 * gzip). A parsed batch is also normalized and fed through the augmenting
 * batch iterator. Every input must give NAS_OK or an error with a message.
 */
#include <stdint.h>
#include <stdlib.h>

#include "evaluator/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nas_dataset ds;
    nas_error err;
    nas_error_clear(&err);
    if (nas_cifar10_parse(data, size, "fuzz.bin", &ds, &err) != NAS_OK) {
        if (err.msg[0] == '\0') abort();
        return 0;
    }
    if (ds.c != 3 || ds.h != 32 || ds.w != 32 || ds.n == 0) abort();
    for (size_t i = 0; i < ds.n; i++)
        if (ds.y[i] > 9) abort();
    float mean[NAS_DATA_MAX_CHANNELS], std[NAS_DATA_MAX_CHANNELS];
    nas_dataset_stats(&ds, mean, std);
    for (int c = 0; c < 3; c++)
        if (!(std[c] > 1e-6f)) std[c] = 1.0f;
    nas_dataset_normalize(&ds, mean, std);
    nas_batch_options o;
    nas_batch_options_default(&o, 3);
    o.crop_pad = 4;
    o.hflip = 1;
    nas_batch_iter *it = NULL;
    static float x[3 * 3 * 32 * 32];
    uint8_t y[3];
    if (nas_batch_iter_create(&ds, &o, &it, &err) == NAS_OK) {
        while (nas_batch_iter_next(it, x, y) > 0) {
        }
        nas_batch_iter_destroy(it);
    }
    nas_dataset_deinit(&ds);
    return 0;
}
