/*
 * fuzz_idx.c - libFuzzer target for the IDX parsers (images and labels,
 * plain or gzip). Every input must give NAS_OK or an error with a message,
 * never a crash, a leak or undefined behaviour. A parsed image set is also
 * resized and fed through the augmenting batch iterator.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nas_dataset ds;
    nas_error err;
    nas_error_clear(&err);
    if (nas_idx_images_parse(data, size, "fuzz.idx", &ds, &err) == NAS_OK) {
        size_t img = nas_dataset_image_floats(&ds);
        for (size_t i = 0; i < ds.n * img; i++)
            if (!(ds.x[i] >= 0.0f && ds.x[i] <= 1.0f)) abort();
        if (ds.n > 0 && img <= 4096) {
            nas_batch_options o;
            nas_batch_options_default(&o, 2);
            o.crop_pad = 2;
            o.hflip = 1;
            nas_batch_iter *it = NULL;
            float *x = malloc(2 * img * sizeof *x);
            uint8_t y[2];
            if (x && nas_batch_iter_create(&ds, &o, &it, &err) == NAS_OK) {
                while (nas_batch_iter_next(it, x, y) > 0) {
                }
                nas_batch_iter_destroy(it);
            }
            free(x);
            if (ds.h > 1 && ds.w > 1)
                nas_dataset_resize(&ds, ds.h / 2 + 1, ds.w / 2, NAS_RESIZE_AREA, &err);
        }
        nas_dataset_deinit(&ds);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    uint8_t *labels = NULL;
    size_t n = 0;
    nas_error_clear(&err);
    if (nas_idx_labels_parse(data, size, "fuzz.idx", &labels, &n, &err) == NAS_OK) {
        if (n > size) abort();
        free(labels);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
