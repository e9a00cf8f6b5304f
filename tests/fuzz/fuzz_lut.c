/*
 * fuzz_lut.c - libFuzzer target for the latency-table loader
 * (nas_lut_from_json). Every input must load or fail with a message, never
 * crash, leak or hit undefined behaviour; a table that loads is written
 * again and must load again with the same entries and the same fit.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/latency.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int near(double a, double b) { return fabs(a - b) <= 1e-12 * fmax(fabs(a), fabs(b)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nas_error err;
    nas_lut *t = NULL, *u = NULL;
    char *text = NULL;
    nas_error_clear(&err);
    if (nas_lut_from_json((const char *)data, size, "fuzz.json", &t, &err) != NAS_OK) {
        if (err.msg[0] == '\0') abort();
        return 0;
    }
    if (nas_lut_to_json(t, &text, &err) != NAS_OK) abort();
    if (nas_lut_from_json(text, strlen(text), "fuzz-rt.json", &u, &err) != NAS_OK) __builtin_trap();
    /* cJSON prints a number with 15 digits when they read back within an ulp */
    const nas_lut_fit *f = nas_lut_get_fit(t), *g = nas_lut_get_fit(u);
    if (nas_lut_size(t) != nas_lut_size(u) || f->terms != g->terms || f->networks != g->networks ||
        !near(f->scale, g->scale) || !near(f->weight_ms_per_mib, g->weight_ms_per_mib) ||
        !near(f->offset_ms, g->offset_ms))
        __builtin_trap();
    free(text);
    nas_lut_destroy(u);
    nas_lut_destroy(t);
    return 0;
}
