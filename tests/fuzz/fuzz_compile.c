/*
 * fuzz_compile.c - libFuzzer target for the .nas compiler.
 *
 * Compiles the input bytes (diagnostics discarded); when they compile,
 * samples and realizes a few points and checks that each realized arch's JSON
 * loads again. Any crash, leak, hang or sanitizer report is a bug.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "searchspace/space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ss_space *s = NULL;
    nas_error err;
    if (ss_space_compile_string("fuzz.nas", (const char *)data, size, NULL, &s, &err) != NAS_OK)
        return 0;
    double *pt = ss_point_alloc(s);
    pcg32 rng;
    pcg32_seed(&rng, size, 1);
    for (int i = 0; pt && i < 4; i++) {
        ss_space_sample(s, &rng, pt);
        nas_arch *a = NULL;
        if (ss_space_realize(s, pt, &a, &err) == NAS_OK) {
            char *text = NULL;
            nas_arch *b = NULL;
            if (nas_arch_to_json(a, &text, &err) != NAS_OK) __builtin_trap();
            /* a realized arch must load again and hash the same */
            if (nas_arch_from_json(text, strlen(text), "fuzz", &b, &err) != NAS_OK ||
                nas_arch_hash(a) != nas_arch_hash(b))
                __builtin_trap();
            nas_arch_destroy(b);
            free(text);
        }
        nas_arch_destroy(a);
    }
    free(pt);
    ss_space_destroy(s);
    return 0;
}
