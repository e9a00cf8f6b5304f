/*
 * data.c - data sets (see data.h): IDX and CIFAR-10 parsers over bytes in
 * memory (plain or gzip, inflated with zlib), the data-spec loaders, the
 * seeded validation split and proxy subset, area / nearest resizing,
 * per-channel normalization and the batch iterator with random crop and flip.
 *
 * Does not read other image formats, cache decoded sets, or prefetch on
 * threads: a batch is a gather of contiguous float images.
 */
#define _POSIX_C_SOURCE 200809L
#include "evaluator/data.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nas/core/fileio.h"

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define IDX_MAX_SIDE 4096
#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10
#define GZ_MAX_OUT ((size_t)1 << 33) /* refuse to inflate more than 8 GiB */
#define GZ_MAX_RATIO 1032            /* deflate's best compression ratio */
#define SPLIT_STREAM 0x5311u
#define RESIZE_MAX_SIDE 1024

/* ---- datasets ---- */

nas_status nas_dataset_init(nas_dataset *ds, size_t n, int c, int h, int w, nas_error *err) {
    memset(ds, 0, sizeof *ds);
    if (c < 1 || c > NAS_DATA_MAX_CHANNELS || h < 1 || w < 1)
        return NAS_FAIL(err, NAS_ERR_INVALID, "dataset: bad image shape %dx%dx%d", c, h, w);
    size_t img = (size_t)c * (size_t)h * (size_t)w;
    if (n > SIZE_MAX / sizeof(float) / img)
        return NAS_FAIL(err, NAS_ERR_NOMEM, "dataset: %zu images of %zu floats is too large", n,
                        img);
    ds->c = c;
    ds->h = h;
    ds->w = w;
    if (n == 0) return NAS_OK;
    ds->x = calloc(n * img, sizeof(float));
    ds->y = calloc(n, 1);
    if (!ds->x || !ds->y) {
        nas_dataset_deinit(ds);
        return NAS_FAIL(err, NAS_ERR_NOMEM, "dataset: out of memory for %zu images of %dx%dx%d",
                        n, c, h, w);
    }
    ds->n = n;
    return NAS_OK;
}

void nas_dataset_deinit(nas_dataset *ds) {
    if (!ds) return;
    free(ds->x);
    free(ds->y);
    memset(ds, 0, sizeof *ds);
}

size_t nas_dataset_image_floats(const nas_dataset *ds) {
    return (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
}

/* ---- gzip ---- */

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int is_gzip(const unsigned char *b, size_t len) {
    return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

/* Inflates gzip bytes (one or more members) into *out (malloc'd, caller
 * frees). Errors give the compressed byte offset. */
static nas_status gunzip(const unsigned char *data, size_t len, const char *src,
                         unsigned char **out, size_t *out_len, nas_error *err) {
    *out = NULL;
    *out_len = 0;
    size_t cap = 4096;
    if (len >= 18) { /* the trailer's ISIZE is a hint, bounded by what deflate can reach */
        size_t hint = (size_t)data[len - 4] | (size_t)data[len - 3] << 8 |
                      (size_t)data[len - 2] << 16 | (size_t)data[len - 1] << 24;
        size_t bound = len < GZ_MAX_OUT / GZ_MAX_RATIO ? len * GZ_MAX_RATIO : GZ_MAX_OUT;
        if (hint > bound) hint = bound;
        if (hint + 1 > cap) cap = hint + 1;
    }
    unsigned char *buf = malloc(cap);
    if (!buf) return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory inflating gzip data", src);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        free(buf);
        return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: cannot start zlib", src);
    }
    nas_status s = NAS_OK;
    size_t in_off = 0, n = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= GZ_MAX_OUT) {
                s = NAS_FAIL(err, NAS_ERR_FORMAT,
                             "%s: gzip data inflates to more than %zu bytes (at compressed byte "
                             "offset %zu)",
                             src, (size_t)GZ_MAX_OUT, in_off);
                goto fail;
            }
            size_t bigger = cap * 2 < GZ_MAX_OUT ? cap * 2 : GZ_MAX_OUT;
            unsigned char *nb = realloc(buf, bigger);
            if (!nb) {
                s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory inflating gzip data", src);
                goto fail;
            }
            buf = nb;
            cap = bigger;
        }
        size_t in_chunk = len - in_off < UINT_MAX ? len - in_off : UINT_MAX;
        size_t out_chunk = cap - n < UINT_MAX ? cap - n : UINT_MAX;
        zs.next_in = (Bytef *)(data + in_off);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = buf + n;
        zs.avail_out = (uInt)out_chunk;
        int r = inflate(&zs, Z_NO_FLUSH);
        in_off += in_chunk - zs.avail_in;
        n += out_chunk - zs.avail_out;
        if (r == Z_STREAM_END) {
            if (in_off == len) break;
            if (is_gzip(data + in_off, len - in_off) && inflateReset(&zs) == Z_OK) continue;
            s = NAS_FAIL(err, NAS_ERR_FORMAT,
                         "%s: %zu unexpected bytes after the gzip stream at byte offset %zu", src,
                         len - in_off, in_off);
            goto fail;
        }
        if (r == Z_OK) continue;
        if (r == Z_BUF_ERROR && zs.avail_out == 0) continue;
        if (r == Z_BUF_ERROR) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT,
                         "%s: truncated gzip data: the compressed stream ends early at byte "
                         "offset %zu (after %zu decompressed bytes)",
                         src, len, n);
            goto fail;
        }
        s = NAS_FAIL(err, NAS_ERR_FORMAT,
                     "%s: corrupt gzip data near compressed byte offset %zu (after %zu "
                     "decompressed bytes): %s",
                     src, in_off, n, zs.msg ? zs.msg : "zlib error");
        goto fail;
    }
    inflateEnd(&zs);
    *out = buf;
    *out_len = n;
    return NAS_OK;
fail:
    inflateEnd(&zs);
    free(buf);
    return s;
}

/* The bytes to parse: data itself, or its inflated form (*owned, caller
 * frees). *where is "" or a note that offsets count decompressed bytes. */
static nas_status payload(const void *data, size_t len, const char *src, const unsigned char **b,
                          size_t *n, unsigned char **owned, const char **where, nas_error *err) {
    *owned = NULL;
    *b = data;
    *n = len;
    *where = "";
    if (!is_gzip(data, len)) return NAS_OK;
    nas_status s = gunzip(data, len, src, owned, n, err);
    if (s) return s;
    *b = *owned;
    *where = " of the decompressed data";
    return NAS_OK;
}

/* ---- IDX ---- */

/* Checks magic and header length; reads ndims big-endian dimensions. */
static nas_status idx_header(const unsigned char *b, size_t len, const char *src,
                             const char *where, uint32_t magic, uint32_t *dims, nas_error *err) {
    int ndims = (int)(magic & 0xff);
    const char *what = ndims == 3 ? "images" : "labels";
    if (len < 4)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: truncated: the file ends at byte offset %zu%s inside the 4-byte IDX "
                        "magic",
                        src, len, where);
    uint32_t m = be32(b);
    if (m != magic) {
        const char *hint = "not an IDX file";
        if (m == IDX_IMAGES_MAGIC) hint = "this is an IDX image file";
        if (m == IDX_LABELS_MAGIC) hint = "this is an IDX label file";
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: bad magic 0x%08x at byte offset 0%s: expected 0x%08x (IDX unsigned "
                        "bytes, %d dimensions: %s); %s",
                        src, m, where, magic, ndims, what, hint);
    }
    size_t header = 4 + 4 * (size_t)ndims;
    if (len < header)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: truncated: the file ends at byte offset %zu%s inside the %zu-byte "
                        "IDX header",
                        src, len, where, header);
    for (int i = 0; i < ndims; i++) dims[i] = be32(b + 4 + 4 * i);
    return NAS_OK;
}

nas_status nas_idx_images_parse(const void *data, size_t len, const char *source,
                                nas_dataset *out, nas_error *err) {
    const char *src = source ? source : "IDX images";
    const unsigned char *b;
    unsigned char *owned = NULL;
    const char *where;
    size_t n_bytes;
    memset(out, 0, sizeof *out);
    nas_status s = payload(data, len, src, &b, &n_bytes, &owned, &where, err);
    if (s) return s;
    uint32_t dims[3];
    s = idx_header(b, n_bytes, src, where, IDX_IMAGES_MAGIC, dims, err);
    if (s) goto fail;
    if (dims[1] < 1 || dims[1] > IDX_MAX_SIDE || dims[2] < 1 || dims[2] > IDX_MAX_SIDE) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT,
                     "%s: bad image size %ux%u at byte offset 8%s (expected 1..%d per side)", src,
                     dims[1], dims[2], where, IDX_MAX_SIDE);
        goto fail;
    }
    uint64_t img = (uint64_t)dims[1] * dims[2];
    uint64_t end = 16 + (uint64_t)dims[0] * img;
    if ((uint64_t)n_bytes < end) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT,
                     "%s: truncated: %u images of %ux%u need %llu bytes, the data ends at byte "
                     "offset %zu%s (inside image %llu)",
                     src, dims[0], dims[1], dims[2], (unsigned long long)end, n_bytes, where,
                     (unsigned long long)((n_bytes - 16) / img));
        goto fail;
    }
    if ((uint64_t)n_bytes > end) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT,
                     "%s: %llu unexpected bytes after the last image, at byte offset %llu%s", src,
                     (unsigned long long)(n_bytes - end), (unsigned long long)end, where);
        goto fail;
    }
    s = nas_dataset_init(out, dims[0], 1, (int)dims[1], (int)dims[2], err);
    if (s) goto fail;
    const unsigned char *px = b + 16;
    size_t total = (size_t)dims[0] * (size_t)img;
    for (size_t i = 0; i < total; i++) out->x[i] = (float)px[i] / 255.0f;
fail:
    free(owned);
    return s;
}

nas_status nas_idx_labels_parse(const void *data, size_t len, const char *source,
                                uint8_t **labels, size_t *n, nas_error *err) {
    const char *src = source ? source : "IDX labels";
    const unsigned char *b;
    unsigned char *owned = NULL;
    const char *where;
    size_t n_bytes;
    *labels = NULL;
    *n = 0;
    nas_status s = payload(data, len, src, &b, &n_bytes, &owned, &where, err);
    if (s) return s;
    uint32_t dims[1] = {0};
    s = idx_header(b, n_bytes, src, where, IDX_LABELS_MAGIC, dims, err);
    if (s) goto fail;
    uint64_t end = 8 + (uint64_t)dims[0];
    if ((uint64_t)n_bytes < end) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT,
                     "%s: truncated: %u labels need %llu bytes, the data ends at byte offset "
                     "%zu%s",
                     src, dims[0], (unsigned long long)end, n_bytes, where);
        goto fail;
    }
    if ((uint64_t)n_bytes > end) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT,
                     "%s: %llu unexpected bytes after the last label, at byte offset %llu%s", src,
                     (unsigned long long)(n_bytes - end), (unsigned long long)end, where);
        goto fail;
    }
    if (dims[0] > 0) {
        *labels = malloc(dims[0]);
        if (!*labels) {
            s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory for %u labels", src, dims[0]);
            goto fail;
        }
        memcpy(*labels, b + 8, dims[0]);
    }
    *n = dims[0];
fail:
    free(owned);
    return s;
}

nas_status nas_idx_load(const char *images_path, const char *labels_path, nas_dataset *out,
                        nas_error *err) {
    char *img = NULL, *lab = NULL;
    size_t img_len = 0, lab_len = 0, n_labels = 0;
    uint8_t *labels = NULL;
    memset(out, 0, sizeof *out);
    nas_status s = nas_file_read(images_path, &img, &img_len, err);
    if (s) goto fail;
    s = nas_idx_images_parse(img, img_len, images_path, out, err);
    free(img);
    img = NULL;
    if (s) goto fail;
    s = nas_file_read(labels_path, &lab, &lab_len, err);
    if (s) goto fail;
    s = nas_idx_labels_parse(lab, lab_len, labels_path, &labels, &n_labels, err);
    if (s) goto fail;
    if (n_labels != out->n) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s has %zu images but %s has %zu labels", images_path,
                     out->n, labels_path, n_labels);
        goto fail;
    }
    if (out->n) memcpy(out->y, labels, out->n);
    free(labels);
    free(lab);
    return NAS_OK;
fail:
    free(labels);
    free(lab);
    nas_dataset_deinit(out);
    return s;
}

/* ---- CIFAR-10 ---- */

/* Checks CIFAR-10 records in b; returns their number in *count. */
static nas_status cifar_check(const unsigned char *b, size_t len, const char *src,
                              const char *where, size_t *count, nas_error *err) {
    *count = 0;
    if (len == 0)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: empty file: no CIFAR-10 records", src);
    size_t full = len / CIFAR_RECORD;
    for (size_t r = 0; r < full; r++) {
        unsigned label = b[r * CIFAR_RECORD];
        if (label >= CIFAR_CLASSES)
            return NAS_FAIL(err, NAS_ERR_FORMAT,
                            "%s: bad label %u at byte offset %zu%s (record %zu): CIFAR-10 labels "
                            "are 0..9",
                            src, label, r * CIFAR_RECORD, where, r);
    }
    if (len % CIFAR_RECORD != 0)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: truncated: record %zu starts at byte offset %zu%s but the file ends "
                        "at byte offset %zu (records are %d bytes)",
                        src, full, full * CIFAR_RECORD, where, len, CIFAR_RECORD);
    *count = full;
    return NAS_OK;
}

/* Converts checked records into images first.. of ds. */
static void cifar_convert(const unsigned char *b, size_t count, nas_dataset *ds, size_t first) {
    for (size_t r = 0; r < count; r++) {
        const unsigned char *rec = b + r * CIFAR_RECORD;
        float *x = ds->x + (first + r) * CIFAR_PIXELS;
        ds->y[first + r] = rec[0];
        for (int i = 0; i < CIFAR_PIXELS; i++) x[i] = (float)rec[1 + i] / 255.0f;
    }
}

nas_status nas_cifar10_parse(const void *data, size_t len, const char *source, nas_dataset *out,
                             nas_error *err) {
    const char *src = source ? source : "CIFAR-10 batch";
    const unsigned char *b;
    unsigned char *owned = NULL;
    const char *where;
    size_t n_bytes, count;
    memset(out, 0, sizeof *out);
    nas_status s = payload(data, len, src, &b, &n_bytes, &owned, &where, err);
    if (s) return s;
    s = cifar_check(b, n_bytes, src, where, &count, err);
    if (s) goto fail;
    s = nas_dataset_init(out, count, 3, CIFAR_SIDE, CIFAR_SIDE, err);
    if (s) goto fail;
    cifar_convert(b, count, out, 0);
fail:
    free(owned);
    return s;
}

nas_status nas_cifar10_load(const char *const *paths, size_t n_paths, nas_dataset *out,
                            nas_error *err) {
    memset(out, 0, sizeof *out);
    char **raw = calloc(n_paths ? n_paths : 1, sizeof *raw);
    unsigned char **inflated = calloc(n_paths ? n_paths : 1, sizeof *inflated);
    const unsigned char **bytes = calloc(n_paths ? n_paths : 1, sizeof *bytes);
    size_t *counts = calloc(n_paths ? n_paths : 1, sizeof *counts);
    nas_status s = NAS_OK;
    if (!raw || !inflated || !bytes || !counts) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "CIFAR-10: out of memory");
        goto fail;
    }
    size_t total = 0;
    for (size_t i = 0; i < n_paths; i++) {
        size_t len = 0, n_bytes = 0;
        const char *where;
        s = nas_file_read(paths[i], &raw[i], &len, err);
        if (s) goto fail;
        s = payload(raw[i], len, paths[i], &bytes[i], &n_bytes, &inflated[i], &where, err);
        if (s) goto fail;
        s = cifar_check(bytes[i], n_bytes, paths[i], where, &counts[i], err);
        if (s) goto fail;
        total += counts[i];
    }
    s = nas_dataset_init(out, total, 3, CIFAR_SIDE, CIFAR_SIDE, err);
    if (s) goto fail;
    for (size_t i = 0, first = 0; i < n_paths; first += counts[i], i++)
        cifar_convert(bytes[i], counts[i], out, first);
fail:
    for (size_t i = 0; raw && inflated && i < n_paths; i++) {
        free(raw[i]);
        free(inflated[i]);
    }
    free(raw);
    free(inflated);
    free(bytes);
    free(counts);
    return s;
}

/* ---- specs ---- */

nas_status nas_data_spec_parse(const char *spec, nas_data_spec *out, nas_error *err) {
    memset(out, 0, sizeof *out);
    const char *dir = NULL;
    if (strcmp(spec, "fashion-mnist") == 0) {
        out->kind = NAS_DATA_IDX;
        out->is_default = 1;
        dir = NAS_DATA_FASHION_MNIST_DIR;
    } else if (strncmp(spec, "idx:", 4) == 0) {
        out->kind = NAS_DATA_IDX;
        dir = spec + 4;
    } else if (strncmp(spec, "cifar10:", 8) == 0) {
        out->kind = NAS_DATA_CIFAR10;
        dir = spec + 8;
    } else {
        return NAS_FAIL(err, NAS_ERR_INVALID,
                        "unknown data set \"%s\" (expected fashion-mnist, idx:DIR or cifar10:DIR)",
                        spec);
    }
    if (!dir[0])
        return NAS_FAIL(err, NAS_ERR_INVALID, "data set \"%s\": the directory is empty", spec);
    if (strlen(dir) >= sizeof out->dir)
        return NAS_FAIL(err, NAS_ERR_INVALID, "data set \"%.64s...\": the path is too long", spec);
    strcpy(out->dir, dir);
    return NAS_OK;
}

static void join(char *buf, size_t cap, const char *dir, const char *name) {
    size_t n = strlen(dir);
    snprintf(buf, cap, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

/* Finds the first existing file among DIR/<prefix><suffix[i]>; the error
 * names the first candidate (and the package for the default data set). */
static nas_status find_file(const nas_data_spec *spec, const char *prefix,
                            const char *const *suffixes, char *path, nas_error *err) {
    char name[256], first[NAS_DATA_PATH_MAX + 256];
    for (size_t i = 0; suffixes[i]; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, suffixes[i]);
        join(path, NAS_DATA_PATH_MAX + 256, spec->dir, name);
        if (i == 0) strcpy(first, path);
        if (nas_path_exists(path)) return NAS_OK;
    }
    if (spec->is_default)
        return NAS_FAIL(err, NAS_ERR_IO,
                        "fashion-mnist: %s not found: install Debian's dataset-fashion-mnist "
                        "package (apt install dataset-fashion-mnist), or pass idx:DIR",
                        first);
    return NAS_FAIL(err, NAS_ERR_IO, "%s:%s: %s not found%s",
                    spec->kind == NAS_DATA_IDX ? "idx" : "cifar10", spec->dir, first,
                    suffixes[1] ? " (nor without .gz)" : "");
}

static nas_status load_idx_split(const nas_data_spec *spec, const char *split, nas_dataset *out,
                                 nas_error *err) {
    static const char *const img_suffix[] = {"-images-idx3-ubyte.gz", "-images-idx3-ubyte",
                                             "-images.idx3-ubyte", NULL};
    static const char *const lab_suffix[] = {"-labels-idx1-ubyte.gz", "-labels-idx1-ubyte",
                                             "-labels.idx1-ubyte", NULL};
    char img[NAS_DATA_PATH_MAX + 256], lab[NAS_DATA_PATH_MAX + 256];
    nas_status s = find_file(spec, split, img_suffix, img, err);
    if (!s) s = find_file(spec, split, lab_suffix, lab, err);
    if (!s) s = nas_idx_load(img, lab, out, err);
    return s;
}

nas_status nas_data_spec_load(const nas_data_spec *spec, nas_dataset *train, nas_dataset *test,
                              nas_error *err) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    nas_status s;
    if (spec->kind == NAS_DATA_IDX) {
        s = load_idx_split(spec, "train", train, err);
        if (!s) s = load_idx_split(spec, "t10k", test, err);
        if (!s && (train->h != test->h || train->w != test->w))
            s = NAS_FAIL(err, NAS_ERR_FORMAT,
                         "idx:%s: training images are %dx%d but test images are %dx%d", spec->dir,
                         train->h, train->w, test->h, test->w);
    } else {
        static const char *const none[] = {"", NULL};
        nas_data_spec sub = *spec;
        char probe[NAS_DATA_PATH_MAX + 256];
        join(probe, sizeof probe, spec->dir, "data_batch_1.bin");
        if (!nas_path_exists(probe)) { /* the archive unpacks into cifar-10-batches-bin/ */
            join(probe, sizeof probe, spec->dir, "cifar-10-batches-bin");
            if (nas_path_exists(probe) && strlen(probe) < sizeof sub.dir) strcpy(sub.dir, probe);
        }
        char paths[5][NAS_DATA_PATH_MAX + 256], test_path[NAS_DATA_PATH_MAX + 256];
        const char *list[5];
        s = NAS_OK;
        for (int i = 0; i < 5 && !s; i++) {
            char name[32];
            snprintf(name, sizeof name, "data_batch_%d.bin", i + 1);
            s = find_file(&sub, name, none, paths[i], err);
            list[i] = paths[i];
        }
        if (!s) s = find_file(&sub, "test_batch.bin", none, test_path, err);
        if (!s) s = nas_cifar10_load(list, 5, train, err);
        const char *tl[1] = {test_path};
        if (!s) s = nas_cifar10_load(tl, 1, test, err);
    }
    if (s) {
        nas_dataset_deinit(train);
        nas_dataset_deinit(test);
    }
    return s;
}

/* ---- splits ---- */

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Moves `count` uniformly chosen entries of v[0..n) to its front. */
static void partial_shuffle(size_t *v, size_t n, size_t count, pcg32 *rng) {
    for (size_t i = 0; i < count && i + 1 < n; i++) {
        size_t j = i + (size_t)pcg32_bounded(rng, (uint32_t)(n - i));
        size_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

nas_status nas_data_pick(const uint8_t *labels, size_t n, size_t count, int stratified,
                         pcg32 *rng, size_t *out, nas_error *err) {
    if (count > n)
        return NAS_FAIL(err, NAS_ERR_INVALID, "cannot pick %zu of %zu images", count, n);
    if (n > UINT32_MAX)
        return NAS_FAIL(err, NAS_ERR_UNSUPPORTED, "data sets over 2^32 images are not supported");
    if (count == 0) return NAS_OK;
    size_t *v = malloc(n * sizeof *v);
    if (!v) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory picking %zu of %zu", count, n);
    if (!stratified || !labels) {
        for (size_t i = 0; i < n; i++) v[i] = i;
        partial_shuffle(v, n, count, rng);
        memcpy(out, v, count * sizeof *v);
    } else {
        size_t size[256] = {0}, start[256], quota[256], rem[256], given = 0;
        for (size_t i = 0; i < n; i++) size[labels[i]]++;
        for (size_t c = 0, at = 0; c < 256; c++) {
            start[c] = at;
            at += size[c];
        }
        for (int c = 0; c < 256; c++) {
            quota[c] = (size_t)((uint64_t)count * size[c] / n);
            rem[c] = (size_t)((uint64_t)count * size[c] % n);
            given += quota[c];
        }
        while (given < count) { /* largest remainder, lowest class first on ties */
            int best = -1;
            for (int c = 0; c < 256; c++)
                if (quota[c] < size[c] && (best < 0 || rem[c] > rem[best])) best = c;
            quota[best]++;
            rem[best] = 0;
            given++;
        }
        size_t fill[256];
        memcpy(fill, start, sizeof fill);
        for (size_t i = 0; i < n; i++) v[fill[labels[i]]++] = i; /* grouped by class */
        size_t k = 0;
        for (int c = 0; c < 256; c++) {
            partial_shuffle(v + start[c], size[c], quota[c], rng);
            memcpy(out + k, v + start[c], quota[c] * sizeof *v);
            k += quota[c];
        }
    }
    qsort(out, count, sizeof *out, cmp_size);
    free(v);
    return NAS_OK;
}

nas_status nas_dataset_gather(const nas_dataset *src, const size_t *idx, size_t count,
                              nas_dataset *dst, nas_error *err) {
    nas_status s = nas_dataset_init(dst, count, src->c, src->h, src->w, err);
    if (s) return s;
    size_t img = nas_dataset_image_floats(src);
    for (size_t i = 0; i < count; i++) {
        memcpy(dst->x + i * img, src->x + idx[i] * img, img * sizeof(float));
        dst->y[i] = src->y[idx[i]];
    }
    memcpy(dst->fill, src->fill, sizeof dst->fill);
    return NAS_OK;
}

/* ---- resizing ---- */

/* Dense out x in weights of a box filter: output o averages the source
 * interval [o * in / out, (o + 1) * in / out). */
static void area_weights(float *wt, int in, int out) {
    double scale = (double)in / out;
    for (int o = 0; o < out; o++) {
        double a = o * scale, b = (o + 1) * scale;
        for (int i = 0; i < in; i++) {
            double lo = a > i ? a : i, hi = b < i + 1 ? b : i + 1;
            wt[(size_t)o * in + i] = hi > lo ? (float)((hi - lo) / scale) : 0.0f;
        }
    }
}

static void nearest_weights(float *wt, int in, int out) {
    memset(wt, 0, (size_t)out * in * sizeof *wt);
    for (int o = 0; o < out; o++) {
        int i = (int)floor((o + 0.5) * in / out);
        wt[(size_t)o * in + (i < in ? i : in - 1)] = 1.0f;
    }
}

nas_status nas_dataset_resize(nas_dataset *ds, int h, int w, nas_resize_mode mode,
                              nas_error *err) {
    if (h < 1 || w < 1 || h > RESIZE_MAX_SIDE || w > RESIZE_MAX_SIDE)
        return NAS_FAIL(err, NAS_ERR_INVALID, "resize: bad target %dx%d (1..%d per side)", h, w,
                        RESIZE_MAX_SIDE);
    if (h == ds->h && w == ds->w) return NAS_OK;
    size_t planes = ds->n * (size_t)ds->c;
    float *wy = malloc((size_t)h * ds->h * sizeof *wy);
    float *wx = malloc((size_t)w * ds->w * sizeof *wx);
    float *tmp = malloc((size_t)h * ds->w * sizeof *tmp);
    float *nx = planes ? malloc(planes * (size_t)h * w * sizeof *nx) : NULL;
    nas_status s = NAS_OK;
    if (!wy || !wx || !tmp || (planes && !nx)) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "resize: out of memory for %zu images of %dx%d", ds->n,
                     h, w);
        free(nx);
        goto fail;
    }
    if (mode == NAS_RESIZE_NEAREST) {
        nearest_weights(wy, ds->h, h);
        nearest_weights(wx, ds->w, w);
    } else {
        area_weights(wy, ds->h, h);
        area_weights(wx, ds->w, w);
    }
    for (size_t p = 0; p < planes; p++) {
        const float *src = ds->x + p * (size_t)ds->h * ds->w;
        float *dst = nx + p * (size_t)h * w;
        for (int oy = 0; oy < h; oy++) /* tmp: h x in_w, rows filtered */
            for (int x = 0; x < ds->w; x++) {
                float acc = 0;
                for (int iy = 0; iy < ds->h; iy++)
                    acc += wy[(size_t)oy * ds->h + iy] * src[(size_t)iy * ds->w + x];
                tmp[(size_t)oy * ds->w + x] = acc;
            }
        for (int oy = 0; oy < h; oy++) /* dst: h x w, columns filtered */
            for (int ox = 0; ox < w; ox++) {
                float acc = 0;
                for (int ix = 0; ix < ds->w; ix++)
                    acc += wx[(size_t)ox * ds->w + ix] * tmp[(size_t)oy * ds->w + ix];
                dst[(size_t)oy * w + ox] = acc;
            }
    }
    free(ds->x);
    ds->x = nx;
    ds->h = h;
    ds->w = w;
fail:
    free(wy);
    free(wx);
    free(tmp);
    return s;
}

/* ---- normalization ---- */

void nas_dataset_stats(const nas_dataset *ds, float *mean, float *std) {
    size_t plane = (size_t)ds->h * ds->w;
    for (int c = 0; c < ds->c; c++) {
        double sum = 0, sq = 0;
        for (size_t i = 0; i < ds->n; i++) {
            const float *p = ds->x + (i * ds->c + c) * plane;
            double ps = 0, pq = 0;
            for (size_t k = 0; k < plane; k++) {
                ps += p[k];
                pq += (double)p[k] * p[k];
            }
            sum += ps;
            sq += pq;
        }
        double count = (double)ds->n * plane;
        double m = count > 0 ? sum / count : 0.0;
        double var = count > 0 ? sq / count - m * m : 0.0;
        mean[c] = (float)m;
        std[c] = (float)sqrt(var > 0 ? var : 0.0);
    }
}

void nas_dataset_normalize(nas_dataset *ds, const float *mean, const float *std) {
    size_t plane = (size_t)ds->h * ds->w;
    for (int c = 0; c < ds->c; c++) {
        float m = mean[c], inv = 1.0f / std[c];
        for (size_t i = 0; i < ds->n; i++) {
            float *p = ds->x + (i * ds->c + c) * plane;
            for (size_t k = 0; k < plane; k++) p[k] = (p[k] - m) * inv;
        }
        ds->fill[c] = (ds->fill[c] - m) * inv;
    }
}

/* ---- the data object ---- */

void nas_data_options_default(nas_data_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->val_fraction = 0.1;
    opt->stratified = 1;
    opt->train_fraction = 1.0;
    opt->resize = NAS_RESIZE_AREA;
    opt->normalize = 1;
}

static nas_status options_check(const nas_data_options *o, nas_error *err) {
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return NAS_FAIL(err, NAS_ERR_INVALID, "data: val_fraction: expected [0, 1), got %g",
                        o->val_fraction);
    if (!(o->train_fraction > 0 && o->train_fraction <= 1))
        return NAS_FAIL(err, NAS_ERR_INVALID, "data: train_fraction: expected (0, 1], got %g",
                        o->train_fraction);
    if ((o->height == 0) != (o->width == 0) || o->height < 0 || o->width < 0 ||
        o->height > RESIZE_MAX_SIDE || o->width > RESIZE_MAX_SIDE)
        return NAS_FAIL(err, NAS_ERR_INVALID,
                        "data: resolution %dx%d: give both sides, 1..%d (or 0x0 for the files')",
                        o->height, o->width, RESIZE_MAX_SIDE);
    if (o->resize != NAS_RESIZE_AREA && o->resize != NAS_RESIZE_NEAREST)
        return NAS_FAIL(err, NAS_ERR_INVALID, "data: resize: unknown mode %d", (int)o->resize);
    return NAS_OK;
}

void nas_data_destroy(nas_data *d) {
    if (!d) return;
    nas_dataset_deinit(&d->train);
    nas_dataset_deinit(&d->val);
    nas_dataset_deinit(&d->test);
    free(d);
}

/* Splits raw into d->val and d->train (validation carve, then the subset). */
static nas_status split(const nas_dataset *raw, const nas_data_options *o, nas_data *d,
                        nas_error *err) {
    size_t n = raw->n;
    size_t vc = o->val_count ? o->val_count : (size_t)llround(o->val_fraction * (double)n);
    if (vc >= n)
        return NAS_FAIL(err, NAS_ERR_INVALID,
                        "data: a validation split of %zu images leaves no training images (the "
                        "training set has %zu)",
                        vc, n);
    pcg32 rng;
    pcg32_seed(&rng, o->seed, SPLIT_STREAM);
    size_t *val = malloc((vc ? vc : 1) * sizeof *val);
    size_t *rest = malloc(n * sizeof *rest);
    uint8_t *rest_labels = malloc(n);
    size_t *keep = NULL;
    nas_status s = NAS_OK;
    if (!val || !rest || !rest_labels) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "data: out of memory splitting %zu images", n);
        goto fail;
    }
    s = nas_data_pick(raw->y, n, vc, o->stratified, &rng, val, err);
    if (s) goto fail;
    size_t nr = 0;
    for (size_t i = 0, v = 0; i < n; i++) { /* val is ascending: the rest is its complement */
        if (v < vc && val[v] == i) {
            v++;
            continue;
        }
        rest_labels[nr] = raw->y[i];
        rest[nr++] = i;
    }
    size_t tc = nr;
    if (o->train_fraction < 1) {
        tc = (size_t)llround(o->train_fraction * (double)nr);
        if (tc < 1) tc = 1;
        keep = malloc(tc * sizeof *keep);
        if (!keep) {
            s = NAS_FAIL(err, NAS_ERR_NOMEM, "data: out of memory");
            goto fail;
        }
        s = nas_data_pick(rest_labels, nr, tc, o->stratified, &rng, keep, err);
        if (s) goto fail;
        for (size_t i = 0; i < tc; i++) keep[i] = rest[keep[i]];
    }
    s = nas_dataset_gather(raw, val, vc, &d->val, err);
    if (!s) s = nas_dataset_gather(raw, keep ? keep : rest, tc, &d->train, err);
fail:
    free(val);
    free(rest);
    free(rest_labels);
    free(keep);
    return s;
}

nas_status nas_data_from_sets(nas_dataset *train, nas_dataset *test, const nas_data_options *opt,
                              nas_data **out, nas_error *err) {
    nas_data_options defaults;
    if (!opt) {
        nas_data_options_default(&defaults);
        opt = &defaults;
    }
    *out = NULL;
    nas_data *d = calloc(1, sizeof *d);
    nas_status s = NAS_OK;
    if (!d) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "data: out of memory");
        goto fail;
    }
    d->name = "custom";
    s = options_check(opt, err);
    if (s) goto fail;
    if (train->c != test->c || train->h != test->h || train->w != test->w) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT,
                     "data: training images are %dx%dx%d, test images %dx%dx%d",
                     train->c, train->h, train->w, test->c, test->h, test->w);
        goto fail;
    }
    for (size_t i = 0; i < train->n; i++)
        if (train->y[i] + 1 > d->classes) d->classes = train->y[i] + 1;
    for (size_t i = 0; i < test->n; i++)
        if (test->y[i] + 1 > d->classes) d->classes = test->y[i] + 1;
    s = split(train, opt, d, err);
    if (s) goto fail;
    nas_dataset_deinit(train);
    d->test = *test;
    memset(test, 0, sizeof *test);
    if (opt->height) {
        s = nas_dataset_resize(&d->train, opt->height, opt->width, opt->resize, err);
        if (!s) s = nas_dataset_resize(&d->val, opt->height, opt->width, opt->resize, err);
        if (!s) s = nas_dataset_resize(&d->test, opt->height, opt->width, opt->resize, err);
        if (s) goto fail;
    }
    for (int c = 0; c < d->train.c; c++) d->std[c] = 1.0f;
    if (opt->normalize) {
        nas_dataset_stats(&d->train, d->mean, d->std);
        for (int c = 0; c < d->train.c; c++)
            if (!(d->std[c] > 1e-6f)) d->std[c] = 1.0f; /* a constant channel: centre only */
        nas_dataset_normalize(&d->train, d->mean, d->std);
        nas_dataset_normalize(&d->val, d->mean, d->std);
        nas_dataset_normalize(&d->test, d->mean, d->std);
    }
    *out = d;
    return NAS_OK;
fail:
    nas_dataset_deinit(train);
    nas_dataset_deinit(test);
    nas_data_destroy(d);
    return s;
}

nas_status nas_data_load(const char *spec, const nas_data_options *opt, nas_data **out,
                         nas_error *err) {
    *out = NULL;
    nas_data_spec sp;
    nas_dataset train, test;
    nas_status s = nas_data_spec_parse(spec, &sp, err);
    if (s) return s;
    s = nas_data_spec_load(&sp, &train, &test, err);
    if (s) return s;
    s = nas_data_from_sets(&train, &test, opt, out, err);
    if (s) return s;
    nas_data *d = *out;
    d->spec = sp;
    d->name = sp.kind == NAS_DATA_CIFAR10 ? "cifar10" : sp.is_default ? "fashion-mnist" : "idx";
    d->augment_pad = sp.kind == NAS_DATA_CIFAR10 ? 4 : 0;
    d->augment_flip = sp.kind == NAS_DATA_CIFAR10;
    return NAS_OK;
}

/* ---- batches ---- */

struct nas_batch_iter {
    const nas_dataset *ds;
    nas_batch_options opt;
    size_t *order; /* the epoch's permutation */
    size_t pos;    /* next position in order */
    int fresh;     /* 1 until the epoch's first batch: shuffle then */
    uint64_t epoch;
    pcg32 rng;
};

void nas_batch_options_default(nas_batch_options *opt, size_t batch) {
    memset(opt, 0, sizeof *opt);
    opt->batch = batch;
    opt->shuffle = 1;
}

void nas_batch_options_train(nas_batch_options *opt, const nas_data *data, size_t batch, int crop_pad, int hflip) {
    nas_batch_options_default(opt, batch);
    opt->drop_last = 1;
    opt->crop_pad = crop_pad >= 0 ? crop_pad : data->augment_pad;
    opt->hflip = hflip >= 0 ? hflip : data->augment_flip;
}

nas_status nas_batch_iter_create(const nas_dataset *ds, const nas_batch_options *opt,
                                 nas_batch_iter **out, nas_error *err) {
    *out = NULL;
    if (opt->batch < 1)
        return NAS_FAIL(err, NAS_ERR_INVALID, "batches: batch size must be >= 1");
    if (opt->crop_pad < 0 || opt->crop_pad > 64)
        return NAS_FAIL(err, NAS_ERR_INVALID, "batches: crop padding %d out of range 0..64",
                        opt->crop_pad);
    if (ds->n > UINT32_MAX)
        return NAS_FAIL(err, NAS_ERR_UNSUPPORTED, "batches: over 2^32 images");
    nas_batch_iter *it = calloc(1, sizeof *it);
    if (!it) return NAS_FAIL(err, NAS_ERR_NOMEM, "batches: out of memory");
    it->order = malloc((ds->n ? ds->n : 1) * sizeof *it->order);
    if (!it->order) {
        free(it);
        return NAS_FAIL(err, NAS_ERR_NOMEM, "batches: out of memory for %zu indices", ds->n);
    }
    for (size_t i = 0; i < ds->n; i++) it->order[i] = i;
    it->ds = ds;
    it->opt = *opt;
    it->fresh = 1;
    pcg32_seed(&it->rng, opt->seed, 0xba7c4u);
    *out = it;
    return NAS_OK;
}

void nas_batch_iter_destroy(nas_batch_iter *it) {
    if (!it) return;
    free(it->order);
    free(it);
}

/* Copies image src (c x h x w) to dst, shifted by (dy, dx) - pad with black
 * fill outside and mirrored when flip (crop first, then flip). */
static void copy_augmented(const nas_dataset *ds, const float *src, float *dst, int pad, int dy,
                           int dx, int flip) {
    int h = ds->h, w = ds->w;
    for (int c = 0; c < ds->c; c++) {
        const float *sp = src + (size_t)c * h * w;
        float *dp = dst + (size_t)c * h * w;
        float fill = ds->fill[c];
        for (int y = 0; y < h; y++) {
            int sy = y + dy - pad;
            for (int x = 0; x < w; x++) {
                int sx = (flip ? w - 1 - x : x) + dx - pad;
                int in = sy >= 0 && sy < h && sx >= 0 && sx < w;
                dp[(size_t)y * w + x] = in ? sp[(size_t)sy * w + sx] : fill;
            }
        }
    }
}

size_t nas_batch_iter_next(nas_batch_iter *it, float *x, uint8_t *y) {
    const nas_dataset *ds = it->ds;
    if (it->fresh) {
        if (it->opt.shuffle)
            for (size_t i = ds->n; i > 1; i--) { /* Fisher-Yates */
                size_t j = pcg32_bounded(&it->rng, (uint32_t)i);
                size_t t = it->order[i - 1];
                it->order[i - 1] = it->order[j];
                it->order[j] = t;
            }
        it->fresh = 0;
        it->pos = 0;
    }
    size_t left = ds->n - it->pos;
    size_t b = left < it->opt.batch ? left : it->opt.batch;
    if (b == 0 || (it->opt.drop_last && b < it->opt.batch)) {
        it->epoch++;
        it->fresh = 1;
        return 0;
    }
    size_t img = nas_dataset_image_floats(ds);
    int pad = it->opt.crop_pad;
    for (size_t k = 0; k < b; k++) {
        size_t i = it->order[it->pos + k];
        const float *src = ds->x + i * img;
        y[k] = ds->y[i];
        if (pad == 0 && !it->opt.hflip) {
            memcpy(x + k * img, src, img * sizeof(float));
            continue;
        }
        int dy = pad ? (int)pcg32_bounded(&it->rng, (uint32_t)(2 * pad + 1)) : pad;
        int dx = pad ? (int)pcg32_bounded(&it->rng, (uint32_t)(2 * pad + 1)) : pad;
        int flip = it->opt.hflip ? (int)pcg32_bounded(&it->rng, 2) : 0;
        copy_augmented(ds, src, x + k * img, pad, dy, dx, flip);
    }
    it->pos += b;
    return b;
}

uint64_t nas_batch_iter_epoch(const nas_batch_iter *it) { return it->epoch; }

size_t nas_batch_iter_batches(const nas_batch_iter *it) {
    size_t n = it->ds->n, b = it->opt.batch;
    return it->opt.drop_last ? n / b : (n + b - 1) / b;
}
