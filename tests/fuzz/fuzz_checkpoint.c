/*
 * fuzz_checkpoint.c - libFuzzer target for the weights-file loader. Each
 * input is decoded as is, and again with its CRC recomputed so that the
 * fuzzer reaches the header, tensor and optimizer-state parsers behind the
 * checksum. A load either succeeds or fails with a message and leaves the
 * tensors untouched.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "models/checkpoint.h"

#define FUZZ_HASH 0x1234u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_decode(const uint8_t *data, size_t size) {
    float w[6] = {0}, dw[6] = {0}, b[2] = {0}, db[2] = {0}, rm[2] = {0};
    nas_param p[3] = {
        {.name = "a.weight", .w = w, .dw = dw, .n = 6, .decay = 1},
        {.name = "a.bias", .w = b, .dw = db, .n = 2},
        {.name = "b.running_mean", .w = rm, .n = 2},
    };
    nas_optim_config cfg;
    nas_optim_config_default(&cfg, NAS_OPTIM_SGD);
    cfg.momentum = 0.9;
    nas_optim *opt = NULL;
    nas_error err;
    if (nas_optim_create(&cfg, p, 3, &opt, &err) != NAS_OK) abort();
    for (int with_opt = 0; with_opt < 2; with_opt++) {
        float w0[6], b0[2], rm0[2];
        memcpy(w0, w, sizeof w);
        memcpy(b0, b, sizeof b);
        memcpy(rm0, rm, sizeof rm);
        uint64_t steps = nas_optim_steps(opt);
        nas_error_clear(&err);
        nas_status s = nas_checkpoint_decode(data, size, "fuzz.nasw", FUZZ_HASH, p, 3,
                                             with_opt ? opt : NULL, &err);
        if (s == NAS_OK) continue;
        if (err.msg[0] == '\0') abort();
        if (memcmp(w0, w, sizeof w) || memcmp(b0, b, sizeof b) || memcmp(rm0, rm, sizeof rm) ||
            steps != nas_optim_steps(opt))
            abort(); /* a failed load changes nothing */
    }
    nas_checkpoint_info info;
    nas_error_clear(&err);
    if (nas_checkpoint_inspect_memory(data, size, "fuzz.nasw", &info, &err) != NAS_OK &&
        err.msg[0] == '\0')
        abort();
    nas_optim_destroy(opt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try_decode(data, size);
    if (size < 8) return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    uLong crc = crc32(0L, fixed, (uInt)(size - 4));
    for (int i = 0; i < 4; i++) fixed[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    try_decode(fixed, size);
    free(fixed);
    return 0;
}
