/*
 * fuzz_supernet_ckpt.c - libFuzzer target for the supernet checkpoint
 * reader (DIR/supernet.ckpt, evaluator/supernet_ckpt.c). Each input is
 * decoded as is, and again with its size field and CRC made to agree with
 * it, so that the fuzzer reaches the header JSON, the settings, the tensor
 * table and the optimizer blobs behind the checksum. A checkpoint is read
 * or refused with a message; never a crash, a leak, undefined behaviour or
 * an allocation the file's own bytes do not back.
 *
 * The space is the one of the seed corpus (tests/fuzz/corpus/supernet_ckpt,
 * written by `nas supernet train` on it), compiled once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/supernet_internal.h"
#include "models/checkpoint.h"
#include "nas/core/bytes.h"
#include "searchspace/space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char SPACE[] = "space fz\n"
                            "input 1x8x8\n"
                            "classes 2\n"
                            "network {\n"
                            "    conv(kernel = choice(1, 3), out = choice(2, 4)) bn relu\n"
                            "    global_avg_pool\n"
                            "    fc(out = classes)\n"
                            "}\n";

static void try_decode(const ss_space *space, const uint8_t *b, size_t len) {
    nas_supernet *sn = NULL;
    nas_error err;
    nas_error_clear(&err);
    if (sn_checkpoint_decode(space, b, len, "fuzz.ckpt", NULL, &sn, &err) != NAS_OK) {
        if (err.msg[0] == '\0' || sn) abort();
        return;
    }
    if (!sn || nas_supernet_tensor_count(sn) < 0) abort();
    for (int i = 0; i < nas_supernet_tensor_count(sn); i++) {
        int d[4];
        const float *w;
        if (!nas_supernet_tensor(sn, i, d, &w) || !w) abort();
        /* every float the tensor claims came out of the file */
        if ((size_t)d[0] * d[1] * d[2] * d[3] * 4 > len) abort();
    }
    nas_supernet_destroy(sn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ss_space *space; /* compiled once: the harness's only state */
    if (!space) {
        nas_error err;
        if (ss_space_compile_string("fz.nas", SPACE, sizeof SPACE - 1, NULL, &space, &err) != NAS_OK) abort();
    }
    try_decode(space, data, size);
    if (size < 24) return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed) return 0;
    memcpy(fixed, data, size);
    nas_put_u64(fixed + 8, size);
    nas_put_u32(fixed + size - 4, nas_checkpoint_crc32(fixed, size - 4));
    try_decode(space, fixed, size);
    free(fixed);
    return 0;
}
