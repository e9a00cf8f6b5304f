/*
 * fuzz_metrics.c - libFuzzer target for the metrics protocol's line parser
 * (nas_metric_line_parse, nas/search/trial.h): what a user's trial program
 * appends to NAS_METRICS_FILE. The input is split at '\n' as the runner
 * splits the file. Every line is parsed (1: a non-empty name, a finite
 * value, a step >= -1), blank (0) or refused with a reason naming its line
 * number (-1); never a crash, a leak or undefined behaviour.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nas/search/trial.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    long lineno = 0;
    for (size_t at = 0; at <= size;) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (text + at)) : size - at;
        char reason[400], want[48];
        nas_metric_line m;
        reason[0] = '\0';
        int r = nas_metric_line_parse(text + at, len, ++lineno, &m, reason, sizeof reason);
        if (r == 1) {
            if (!m.name || !m.name[0] || !isfinite(m.value) || m.step < -1) abort();
            free(m.name);
        } else if (r == -1) {
            snprintf(want, sizeof want, "metrics line %ld: ", lineno);
            if (m.name || (strncmp(reason, want, strlen(want)) != 0 && !strstr(reason, "out of memory"))) abort();
        } else if (r != 0 || m.name) {
            abort();
        }
        if (!nl) break;
        at += len + 1;
    }
    return 0;
}
