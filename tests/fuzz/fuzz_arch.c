/* fuzz_arch.c - libFuzzer target for the arch.json loader. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nas/core/arch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nas_error err;
    nas_arch *a = NULL;
    if (nas_arch_from_json((const char *)data, size, "fuzz", &a, &err) == NAS_OK) {
        char *text = NULL;
        if (nas_arch_to_json(a, &text, &err) == NAS_OK) {
            nas_arch *b = NULL;
            /* what we write must load again and hash the same */
            if (nas_arch_from_json(text, strlen(text), "fuzz-rt", &b, &err) != NAS_OK ||
                nas_arch_hash(a) != nas_arch_hash(b))
                __builtin_trap();
            nas_arch_destroy(b);
            free(text);
        }
        nas_arch_destroy(a);
    }
    return 0;
}
