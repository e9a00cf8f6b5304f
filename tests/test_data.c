/*
 * test_data.c - data sets: IDX (plain and gzip) and CIFAR-10 files written
 * here in a temporary directory, their values and shapes, every corrupt /
 * truncated / missing-file error (with the file and byte offset), spec
 * parsing, the seeded split (sizes, determinism, disjointness,
 * stratification), the proxy subset, resizing, normalization, the batch
 * iterator (epochs, permutations, drop_last) and augmentation; finally the
 * real Fashion-MNIST when Debian's package is installed.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "evaluator/data.h"
#include "nas/core/fileio.h"
#include "tests/test.h"

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    if (!tmpdir[0]) {
        strcpy(tmpdir, "/tmp/nas_data_XXXXXX");
        if (!mkdtemp(tmpdir)) return NULL;
    }
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_file(const char *path, const unsigned char *b, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, b, (unsigned)n);
        gzclose(f);
        return;
    }
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

static unsigned char *read_all(const char *path, size_t *n) {
    char *d = NULL;
    nas_error err = {0};
    if (nas_file_read(path, &d, n, &err)) return NULL;
    return (unsigned char *)d;
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static unsigned pixel_of(size_t image, size_t k) { return (unsigned)((image * 37 + k * 11) % 256); }

/* IDX images: n images of rows x cols with pixel_of values. Caller frees. */
static unsigned char *idx_images(uint32_t n, uint32_t rows, uint32_t cols, size_t *len) {
    *len = 16 + (size_t)n * rows * cols;
    unsigned char *b = malloc(*len);
    put_be32(b, 0x803);
    put_be32(b + 4, n);
    put_be32(b + 8, rows);
    put_be32(b + 12, cols);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < (size_t)rows * cols; k++)
            b[16 + i * rows * cols + k] = (unsigned char)pixel_of(i, k);
    return b;
}

static unsigned char *idx_labels(uint32_t n, size_t *len) {
    *len = 8 + n;
    unsigned char *b = malloc(*len);
    put_be32(b, 0x801);
    put_be32(b + 4, n);
    for (uint32_t i = 0; i < n; i++) b[8 + i] = (unsigned char)(i % 10);
    return b;
}

/* An IDX directory: train n_train images, test n_test, 6x5 pixels. */
static void write_idx_dir(const char *dir, uint32_t n_train, uint32_t n_test, int gz) {
    mkdir(dir, 0777);
    const char *names[2] = {"train", "t10k"};
    uint32_t counts[2] = {n_train, n_test};
    for (int s = 0; s < 2; s++) {
        size_t li, ll;
        unsigned char *im = idx_images(counts[s], 6, 5, &li), *lb = idx_labels(counts[s], &ll);
        char p[600];
        snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte%s", dir, names[s], gz ? ".gz" : "");
        write_file(p, im, li, gz);
        snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte%s", dir, names[s], gz ? ".gz" : "");
        write_file(p, lb, ll, gz);
        free(im);
        free(lb);
    }
}

static void test_idx_values_plain_and_gz(void) {
    for (int gz = 0; gz < 2; gz++) {
        const char *dir = tmp_path(gz ? "idx_gz" : "idx_plain");
        write_idx_dir(dir, 40, 12, gz);
        char spec[600];
        snprintf(spec, sizeof spec, "idx:%s", dir);
        nas_data_options o;
        nas_data_options_default(&o);
        o.val_fraction = 0;
        o.normalize = 0;
        nas_data *d = NULL;
        nas_error err = {0};
        ASSERT_OK(nas_data_load(spec, &o, &d, &err), &err);
        ASSERT_STR_EQ(d->name, "idx");
        ASSERT_EQ_INT(d->train.n, 40);
        ASSERT_EQ_INT(d->test.n, 12);
        ASSERT_EQ_INT(d->val.n, 0);
        ASSERT_EQ_INT(d->train.c, 1);
        ASSERT_EQ_INT(d->train.h, 6);
        ASSERT_EQ_INT(d->train.w, 5);
        ASSERT_EQ_INT(d->classes, 10);
        ASSERT_EQ_INT(d->augment_pad, 0);
        ASSERT_EQ_INT(d->augment_flip, 0);
        for (size_t i = 0; i < 40; i++) {
            ASSERT_EQ_INT(d->train.y[i], i % 10);
            for (size_t k = 0; k < 30; k++)
                ASSERT_NEAR(d->train.x[i * 30 + k], pixel_of(i, k) / 255.0, 1e-7);
        }
        ASSERT_NEAR(d->test.x[11 * 30 + 29], pixel_of(11, 29) / 255.0, 1e-7);
        nas_data_destroy(d);
    }
}

/* Checks that parsing bytes fails with `code` and the message holds all needles. */
static void expect_images_error(const unsigned char *b, size_t n, const char *n1, const char *n2) {
    nas_dataset ds;
    nas_error err = {0};
    ASSERT_EQ_INT(nas_idx_images_parse(b, n, "img.idx", &ds, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "img.idx");
    ASSERT_CONTAINS(err.msg, n1);
    if (n2) ASSERT_CONTAINS(err.msg, n2);
    ASSERT_TRUE(ds.x == NULL);
}

static void test_idx_errors(void) {
    size_t len;
    unsigned char *b = idx_images(3, 4, 4, &len); /* 16 + 48 bytes */
    nas_dataset ds;
    nas_error err = {0};
    ASSERT_OK(nas_idx_images_parse(b, len, "img.idx", &ds, &err), &err);
    nas_dataset_deinit(&ds);

    expect_images_error(b, 2, "truncated", "byte offset 2");
    expect_images_error(b, 10, "truncated", "byte offset 10 inside the 16-byte IDX header");
    expect_images_error(b, 40, "truncated", "byte offset 40 (inside image 1)");
    expect_images_error(b, len - 1, "truncated", "byte offset 63");
    unsigned char *longer = calloc(len + 5, 1);
    memcpy(longer, b, len);
    expect_images_error(longer, len + 5, "5 unexpected bytes", "byte offset 64");
    free(longer);
    b[3] = 0x01;
    expect_images_error(b, len, "bad magic 0x00000801 at byte offset 0", "IDX label file");
    b[3] = 0x03;
    b[2] = 0x0d; /* float IDX: not supported */
    expect_images_error(b, len, "bad magic 0x00000d03", NULL);
    b[2] = 0x08;
    put_be32(b + 8, 0);
    expect_images_error(b, len, "bad image size 0x4 at byte offset 8", NULL);
    free(b);

    size_t ll;
    unsigned char *lb = idx_labels(7, &ll);
    uint8_t *labels = NULL;
    size_t n = 0;
    ASSERT_OK(nas_idx_labels_parse(lb, ll, "lab", &labels, &n, &err), &err);
    ASSERT_EQ_INT(n, 7);
    ASSERT_EQ_INT(labels[6], 6);
    free(labels);
    ASSERT_EQ_INT(nas_idx_labels_parse(lb, ll - 2, "lab", &labels, &n, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "lab: truncated: 7 labels need 15 bytes, the data ends at byte "
                             "offset 13");
    ASSERT_EQ_INT(nas_idx_labels_parse(lb, ll, "lab", &labels, &n, &err) == NAS_OK, 1);
    free(labels);

    /* counts that disagree name both files */
    size_t li;
    unsigned char *im = idx_images(8, 2, 2, &li);
    const char *ip = tmp_path("eight-images"), *lp = tmp_path("seven-labels");
    write_file(ip, im, li, 0);
    write_file(lp, lb, ll, 1);
    nas_dataset out;
    ASSERT_EQ_INT(nas_idx_load(ip, lp, &out, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "eight-images has 8 images but");
    ASSERT_CONTAINS(err.msg, "seven-labels has 7 labels");
    free(im);
    free(lb);
}

static void test_gzip_errors(void) {
    size_t len;
    unsigned char *b = idx_images(50, 10, 10, &len);
    const char *gz = tmp_path("imgs.gz");
    write_file(gz, b, len, 1);
    size_t glen;
    unsigned char *g = read_all(gz, &glen);
    ASSERT_TRUE(g != NULL && glen > 40);
    nas_dataset ds;
    nas_error err = {0};
    ASSERT_OK(nas_idx_images_parse(g, glen, gz, &ds, &err), &err);
    ASSERT_EQ_INT(ds.n, 50);
    nas_dataset_deinit(&ds);

    /* a cut compressed stream */
    ASSERT_EQ_INT(nas_idx_images_parse(g, glen / 2, gz, &ds, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, gz);
    ASSERT_CONTAINS(err.msg, "truncated gzip data");
    ASSERT_CONTAINS(err.msg, "byte offset");

    /* a damaged trailer CRC */
    g[glen - 6] ^= 0xff;
    ASSERT_EQ_INT(nas_idx_images_parse(g, glen, gz, &ds, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "corrupt gzip data near compressed byte offset");
    g[glen - 6] ^= 0xff;

    /* a file truncated before compression: offsets are in the decompressed data */
    write_file(gz, b, len - 100, 1);
    free(g);
    g = read_all(gz, &glen);
    ASSERT_EQ_INT(nas_idx_images_parse(g, glen, gz, &ds, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "byte offset 4916 of the decompressed data (inside image 49)");
    free(g);
    free(b);
}

static void test_spec_parse(void) {
    nas_data_spec s;
    nas_error err = {0};
    ASSERT_OK(nas_data_spec_parse("fashion-mnist", &s, &err), &err);
    ASSERT_EQ_INT(s.kind, NAS_DATA_IDX);
    ASSERT_EQ_INT(s.is_default, 1);
    ASSERT_STR_EQ(s.dir, NAS_DATA_FASHION_MNIST_DIR);
    ASSERT_OK(nas_data_spec_parse("idx:/data/mnist", &s, &err), &err);
    ASSERT_EQ_INT(s.is_default, 0);
    ASSERT_STR_EQ(s.dir, "/data/mnist");
    ASSERT_OK(nas_data_spec_parse("cifar10:rel/dir", &s, &err), &err);
    ASSERT_EQ_INT(s.kind, NAS_DATA_CIFAR10);
    ASSERT_STR_EQ(s.dir, "rel/dir");
    ASSERT_EQ_INT(nas_data_spec_parse("mnist", &s, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "\"mnist\" (expected fashion-mnist, idx:DIR or cifar10:DIR)");
    ASSERT_EQ_INT(nas_data_spec_parse("idx:", &s, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "empty");
}

static void test_missing_files(void) {
    nas_data *d = NULL;
    nas_error err = {0};
    char spec[600];
    snprintf(spec, sizeof spec, "idx:%s", tmp_path("nothing-here"));
    ASSERT_EQ_INT(nas_data_load(spec, NULL, &d, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, "nothing-here/train-images-idx3-ubyte.gz not found");

    nas_data_spec s;
    ASSERT_OK(nas_data_spec_parse("fashion-mnist", &s, &err), &err);
    strcpy(s.dir, tmp_path("no-package"));
    nas_dataset tr, te;
    ASSERT_EQ_INT(nas_data_spec_load(&s, &tr, &te, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, "no-package/train-images-idx3-ubyte.gz");
    ASSERT_CONTAINS(err.msg, "apt install dataset-fashion-mnist");

    snprintf(spec, sizeof spec, "cifar10:%s", tmp_path("no-cifar"));
    ASSERT_EQ_INT(nas_data_load(spec, NULL, &d, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, "no-cifar/data_batch_1.bin not found");
}

static unsigned cifar_pixel(size_t rec, int ch, int k) {
    return (unsigned)((rec * 7 + (size_t)ch * 50 + (size_t)k * 3) % 256);
}

/* A CIFAR-10 batch of n records, labels (first + r) % 10. */
static unsigned char *cifar_batch(size_t n, size_t first, size_t *len) {
    *len = n * 3073;
    unsigned char *b = malloc(*len);
    for (size_t r = 0; r < n; r++) {
        unsigned char *rec = b + r * 3073;
        rec[0] = (unsigned char)((first + r) % 10);
        for (int ch = 0; ch < 3; ch++)
            for (int k = 0; k < 1024; k++)
                rec[1 + ch * 1024 + k] = (unsigned char)cifar_pixel(first + r, ch, k);
    }
    return b;
}

static void write_cifar_dir(const char *dir, size_t per_batch, size_t n_test) {
    mkdir(dir, 0777);
    char p[600];
    for (int i = 1; i <= 5; i++) {
        size_t len;
        unsigned char *b = cifar_batch(per_batch, (size_t)(i - 1) * per_batch, &len);
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, i);
        write_file(p, b, len, 0);
        free(b);
    }
    size_t len;
    unsigned char *b = cifar_batch(n_test, 1000, &len);
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    write_file(p, b, len, 0);
    free(b);
}

static void test_cifar_values(void) {
    const char *dir = tmp_path("cifar");
    write_cifar_dir(dir, 4, 3);
    char spec[600];
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    nas_data_options o;
    nas_data_options_default(&o);
    o.val_fraction = 0;
    o.normalize = 0;
    nas_data *d = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_data_load(spec, &o, &d, &err), &err);
    ASSERT_STR_EQ(d->name, "cifar10");
    ASSERT_EQ_INT(d->train.n, 20);
    ASSERT_EQ_INT(d->test.n, 3);
    ASSERT_EQ_INT(d->train.c, 3);
    ASSERT_EQ_INT(d->train.h, 32);
    ASSERT_EQ_INT(d->train.w, 32);
    ASSERT_EQ_INT(d->augment_pad, 4);
    ASSERT_EQ_INT(d->augment_flip, 1);
    for (size_t r = 0; r < 20; r++) {
        ASSERT_EQ_INT(d->train.y[r], r % 10);
        for (int ch = 0; ch < 3; ch++)
            for (int k = 0; k < 1024; k += 97) /* NCHW: channel planes in R, G, B order */
                ASSERT_NEAR(d->train.x[r * 3072 + (size_t)ch * 1024 + k],
                            cifar_pixel(r, ch, k) / 255.0, 1e-7);
    }
    ASSERT_EQ_INT(d->test.y[2], 1002 % 10);
    ASSERT_NEAR(d->test.x[2 * 3072 + 2048 + 5], cifar_pixel(1002, 2, 5) / 255.0, 1e-7);
    nas_data_destroy(d);

    /* DIR may be the parent of the archive's cifar-10-batches-bin/ */
    const char *parent = tmp_path("cifar_parent");
    mkdir(parent, 0777);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", parent);
    write_cifar_dir(sub, 2, 2);
    snprintf(spec, sizeof spec, "cifar10:%s", parent);
    ASSERT_OK(nas_data_load(spec, &o, &d, &err), &err);
    ASSERT_EQ_INT(d->train.n, 10);
    nas_data_destroy(d);
}

static void test_cifar_errors(void) {
    size_t len;
    unsigned char *b = cifar_batch(3, 0, &len);
    nas_dataset ds;
    nas_error err = {0};
    ASSERT_EQ_INT(nas_cifar10_parse(b, len - 10, "batch.bin", &ds, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "batch.bin: truncated: record 2 starts at byte offset 6146");
    ASSERT_CONTAINS(err.msg, "ends at byte offset 9209");
    b[3073] = 10;
    ASSERT_EQ_INT(nas_cifar10_parse(b, len, "batch.bin", &ds, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "bad label 10 at byte offset 3073 (record 1)");
    ASSERT_EQ_INT(nas_cifar10_parse(b, 0, "batch.bin", &ds, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "empty");

    /* through the directory loader: the file is named */
    const char *dir = tmp_path("cifar_bad");
    write_cifar_dir(dir, 2, 2);
    char p[600], spec[600];
    snprintf(p, sizeof p, "%s/data_batch_3.bin", dir);
    b[3073] = 1;
    write_file(p, b, 3073 + 100, 0);
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    nas_data *d = NULL;
    ASSERT_EQ_INT(nas_data_load(spec, NULL, &d, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "data_batch_3.bin: truncated: record 1 starts at byte offset 3073");
    ASSERT_TRUE(d == NULL);
    free(b);
}

/* A synthetic set: image i has every pixel = i; class sizes 50, 100, ..., 500
 * for classes 0..9 (2750 images) so stratification is visible. */
static void synth(nas_dataset *train, nas_dataset *test) {
    nas_error err = {0};
    size_t n = 2750;
    nas_dataset_init(train, n, 2, 3, 3, &err);
    size_t i = 0;
    for (int c = 0; c < 10; c++)
        for (int k = 0; k < 50 * (c + 1); k++, i++) {
            train->y[i] = (uint8_t)c;
            for (int p = 0; p < 18; p++) train->x[i * 18 + p] = (float)i;
        }
    nas_dataset_init(test, 30, 2, 3, 3, &err);
    for (i = 0; i < 30; i++) {
        test->y[i] = (uint8_t)(i % 10);
        for (int p = 0; p < 18; p++) test->x[i * 18 + p] = (float)i;
    }
}

static nas_data *split_with(const nas_data_options *o) {
    nas_dataset tr, te;
    synth(&tr, &te);
    nas_data *d = NULL;
    nas_error err = {0};
    if (nas_data_from_sets(&tr, &te, o, &d, &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        return NULL;
    }
    return d;
}

static void test_split(void) {
    nas_data_options o;
    nas_data_options_default(&o);
    o.normalize = 0;
    o.val_fraction = 0.2;
    o.seed = 11;
    nas_data *a = split_with(&o), *b = split_with(&o);
    ASSERT_TRUE(a && b);
    ASSERT_EQ_INT(a->val.n, 550);
    ASSERT_EQ_INT(a->train.n, 2200);
    ASSERT_EQ_INT(a->test.n, 30);
    /* deterministic */
    ASSERT_TRUE(memcmp(a->val.x, b->val.x, 550 * 18 * sizeof(float)) == 0);
    /* disjoint, covering, labels carried along, stratified exactly (20% of each class) */
    unsigned char *seen = calloc(2750, 1);
    size_t per_class[10] = {0};
    for (size_t i = 0; i < a->val.n; i++) {
        size_t id = (size_t)a->val.x[i * 18];
        seen[id]++;
        per_class[a->val.y[i]]++;
        ASSERT_TRUE(a->val.x[i * 18 + 17] == (float)id);
    }
    for (size_t i = 0; i < a->train.n; i++) seen[(size_t)a->train.x[i * 18]]++;
    for (size_t i = 0; i < 2750; i++) ASSERT_EQ_INT(seen[i], 1);
    for (int c = 0; c < 10; c++) ASSERT_EQ_INT(per_class[c], 10 * (c + 1));
    /* labels follow their image */
    for (size_t i = 0; i < a->train.n; i++) {
        size_t id = (size_t)a->train.x[i * 18], start = 0;
        int c = 0;
        while (id >= start + 50 * (size_t)(c + 1)) start += 50 * (size_t)(++c);
        ASSERT_EQ_INT(a->train.y[i], c);
    }
    nas_data_destroy(b);

    /* another seed, another split */
    o.seed = 12;
    b = split_with(&o);
    ASSERT_TRUE(memcmp(a->val.x, b->val.x, 550 * 18 * sizeof(float)) != 0);
    nas_data_destroy(b);

    /* an exact count, not stratified */
    o.val_count = 37;
    o.stratified = 0;
    b = split_with(&o);
    ASSERT_EQ_INT(b->val.n, 37);
    ASSERT_EQ_INT(b->train.n, 2750 - 37);
    nas_data_destroy(b);

    /* proxy subset: a quarter of the training split, the same validation split */
    o.val_count = 0;
    o.stratified = 1;
    o.seed = 11;
    o.train_fraction = 0.25;
    b = split_with(&o);
    ASSERT_EQ_INT(b->train.n, 550);
    ASSERT_EQ_INT(b->val.n, 550);
    ASSERT_TRUE(memcmp(a->val.x, b->val.x, 550 * 18 * sizeof(float)) == 0);
    memset(seen, 0, 2750);
    for (size_t i = 0; i < a->train.n; i++) seen[(size_t)a->train.x[i * 18]] = 1;
    memset(per_class, 0, sizeof per_class);
    for (size_t i = 0; i < b->train.n; i++) {
        ASSERT_EQ_INT(seen[(size_t)b->train.x[i * 18]], 1);
        per_class[b->train.y[i]]++;
    }
    for (int c = 0; c < 10; c++) ASSERT_EQ_INT(per_class[c], 10 * (c + 1));
    nas_data_destroy(b);
    free(seen);
    nas_data_destroy(a);

    /* bad options */
    nas_data_options bad;
    nas_data_options_default(&bad);
    bad.val_count = 2750;
    nas_dataset tr, te;
    synth(&tr, &te);
    nas_data *d = NULL;
    nas_error err = {0};
    ASSERT_EQ_INT(nas_data_from_sets(&tr, &te, &bad, &d, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "leaves no training images");
    ASSERT_TRUE(tr.x == NULL && te.x == NULL); /* taken over even on failure */
    nas_data_options_default(&bad);
    bad.train_fraction = 0;
    synth(&tr, &te);
    ASSERT_EQ_INT(nas_data_from_sets(&tr, &te, &bad, &d, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "train_fraction");
}

static void test_pick_counts(void) {
    uint8_t labels[10] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3};
    size_t out[10];
    pcg32 r;
    pcg32_seed(&r, 1, 2);
    nas_error err = {0};
    for (size_t count = 0; count <= 10; count++) {
        ASSERT_OK(nas_data_pick(labels, 10, count, 1, &r, out, &err), &err);
        for (size_t i = 1; i < count; i++) ASSERT_TRUE(out[i - 1] < out[i]);
    }
    /* 4 of 10 stratified: quotas 1.2, 1.2, 1.2, 0.4 -> 1, 1, 1 + the largest remainder
     * (class 3, 0.4) */
    ASSERT_OK(nas_data_pick(labels, 10, 4, 1, &r, out, &err), &err);
    int c[4] = {0};
    for (int i = 0; i < 4; i++) c[labels[out[i]]]++;
    ASSERT_TRUE(c[0] == 1 && c[1] == 1 && c[2] == 1 && c[3] == 1);
    /* 5 of sizes 3, 3, 3, 1: quotas 1.5, 1.5, 1.5, 0.5 -> 1, 1, 1, 0 and two
     * leftovers to the equal remainders in class order: 2, 2, 1, 0 */
    ASSERT_OK(nas_data_pick(labels, 10, 5, 1, &r, out, &err), &err);
    int c2[4] = {0};
    for (int i = 0; i < 5; i++) c2[labels[out[i]]]++;
    ASSERT_TRUE(c2[0] == 2 && c2[1] == 2 && c2[2] == 1 && c2[3] == 0);
    ASSERT_EQ_INT(nas_data_pick(labels, 10, 11, 1, &r, out, &err), NAS_ERR_INVALID);
}

static void test_normalize(void) {
    nas_data_options o;
    nas_data_options_default(&o);
    o.val_fraction = 0.1;
    nas_dataset tr, te;
    synth(&tr, &te);
    for (size_t i = 0; i < tr.n * 18; i++) /* channel 1 scaled, so the channels differ */
        if ((i / 9) % 2) tr.x[i] = tr.x[i] * 3 + 5;
    nas_data *d = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_data_from_sets(&tr, &te, &o, &d, &err), &err);
    float m[2], s[2];
    nas_dataset_stats(&d->train, m, s);
    for (int c = 0; c < 2; c++) {
        ASSERT_NEAR(m[c], 0, 1e-4);
        ASSERT_NEAR(s[c], 1, 1e-4);
        ASSERT_NEAR(d->train.fill[c], -d->mean[c] / d->std[c], 1e-5);
    }
    ASSERT_NEAR(d->std[1] / d->std[0], 3, 1e-3);
    /* val and test use the training statistics */
    ASSERT_NEAR(d->test.x[5 * 18 + 0], (5 - d->mean[0]) / d->std[0], 1e-4);
    ASSERT_NEAR(d->test.x[5 * 18 + 9], (5 - d->mean[1]) / d->std[1], 1e-4);
    size_t id0 = 0; /* the val images keep their identity through the train statistics */
    float raw = d->val.x[0] * d->std[0] + d->mean[0];
    id0 = (size_t)(raw + 0.5f);
    ASSERT_NEAR(d->val.x[9], ((float)id0 * 3 + 5 - d->mean[1]) / d->std[1], 1e-3);
    nas_data_destroy(d);
}

static void test_resize(void) {
    nas_dataset ds;
    nas_error err = {0};
    ASSERT_OK(nas_dataset_init(&ds, 2, 1, 4, 4, &err), &err);
    for (int i = 0; i < 32; i++) ds.x[i] = (float)i;
    nas_dataset nn;
    size_t idx[2] = {0, 1};
    ASSERT_OK(nas_dataset_gather(&ds, idx, 2, &nn, &err), &err);
    ASSERT_OK(nas_dataset_resize(&ds, 2, 2, NAS_RESIZE_AREA, &err), &err);
    ASSERT_EQ_INT(ds.h, 2);
    ASSERT_NEAR(ds.x[0], (0 + 1 + 4 + 5) / 4.0, 1e-5); /* 2x2 average pooling */
    ASSERT_NEAR(ds.x[3], (10 + 11 + 14 + 15) / 4.0, 1e-5);
    ASSERT_NEAR(ds.x[4], (16 + 17 + 20 + 21) / 4.0, 1e-5);
    ASSERT_OK(nas_dataset_resize(&nn, 2, 2, NAS_RESIZE_NEAREST, &err), &err);
    ASSERT_NEAR(nn.x[0], 5, 1e-6); /* centre sampling: source (1, 1) */
    ASSERT_NEAR(nn.x[3], 15, 1e-6);
    nas_dataset_deinit(&nn);
    nas_dataset_deinit(&ds);

    /* a non-integer factor keeps a constant image constant and a ramp monotone */
    ASSERT_OK(nas_dataset_init(&ds, 1, 1, 7, 5, &err), &err);
    for (int i = 0; i < 35; i++) ds.x[i] = 0.25f;
    ASSERT_OK(nas_dataset_resize(&ds, 3, 4, NAS_RESIZE_AREA, &err), &err);
    for (int i = 0; i < 12; i++) ASSERT_NEAR(ds.x[i], 0.25, 1e-6);
    nas_dataset_deinit(&ds);

    /* through the options: 28x28-like proxy resolution */
    nas_data_options o;
    nas_data_options_default(&o);
    o.height = 2;
    o.width = 2;
    o.normalize = 0;
    o.val_fraction = 0.1;
    nas_data *d = split_with(&o);
    ASSERT_TRUE(d != NULL);
    ASSERT_EQ_INT(d->train.h, 2);
    ASSERT_EQ_INT(d->val.w, 2);
    ASSERT_EQ_INT(d->test.h, 2);
    ASSERT_NEAR(d->train.x[0], d->train.x[3], 1e-4); /* constant images stay constant */
    nas_data_destroy(d);
    ASSERT_EQ_INT(nas_dataset_resize(&ds, 0, 3, NAS_RESIZE_AREA, &err), NAS_ERR_INVALID);
}

/* A dataset of n 1x1x1 images whose pixel is its index. */
static void tiny(nas_dataset *ds, size_t n) {
    nas_error err = {0};
    nas_dataset_init(ds, n, 1, 1, 1, &err);
    for (size_t i = 0; i < n; i++) {
        ds->x[i] = (float)i;
        ds->y[i] = (uint8_t)(i % 3);
    }
}

static void test_batches(void) {
    nas_dataset ds;
    tiny(&ds, 10);
    nas_batch_options o;
    nas_batch_options_default(&o, 4);
    o.seed = 3;
    nas_batch_iter *it = NULL, *again = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_batch_iter_create(&ds, &o, &it, &err), &err);
    ASSERT_OK(nas_batch_iter_create(&ds, &o, &again, &err), &err);
    ASSERT_EQ_INT(nas_batch_iter_batches(it), 3);
    float x[4], x2[4], first_epoch[10];
    uint8_t y[4], y2[4];
    for (int epoch = 0; epoch < 3; epoch++) {
        int seen[10] = {0}, got = 0, is_identity = 1, same_as_first = 1;
        size_t sizes[3] = {4, 4, 2};
        for (int b = 0; b < 3; b++) {
            size_t n = nas_batch_iter_next(it, x, y);
            ASSERT_EQ_INT(n, sizes[b]);
            ASSERT_EQ_INT(nas_batch_iter_next(again, x2, y2), n);
            ASSERT_TRUE(memcmp(x, x2, n * sizeof(float)) == 0); /* one seed, one trace */
            for (size_t k = 0; k < n; k++, got++) {
                int id = (int)x[k];
                seen[id]++;
                ASSERT_EQ_INT(y[k], id % 3);
                if (id != got) is_identity = 0;
                if (epoch == 0) first_epoch[got] = x[k];
                if (first_epoch[got] != x[k]) same_as_first = 0;
            }
        }
        ASSERT_EQ_INT(nas_batch_iter_next(it, x, y), 0);
        ASSERT_EQ_INT(nas_batch_iter_next(again, x2, y2), 0);
        ASSERT_EQ_INT(nas_batch_iter_epoch(it), epoch + 1);
        for (int i = 0; i < 10; i++) ASSERT_EQ_INT(seen[i], 1);
        ASSERT_TRUE(!is_identity);                   /* shuffled */
        if (epoch > 0) ASSERT_TRUE(!same_as_first); /* and reshuffled every epoch */
    }
    nas_batch_iter_destroy(it);
    nas_batch_iter_destroy(again);

    o.shuffle = 0;
    o.drop_last = 1;
    ASSERT_OK(nas_batch_iter_create(&ds, &o, &it, &err), &err);
    ASSERT_EQ_INT(nas_batch_iter_batches(it), 2);
    ASSERT_EQ_INT(nas_batch_iter_next(it, x, y), 4);
    ASSERT_TRUE(x[0] == 0 && x[3] == 3);
    ASSERT_EQ_INT(nas_batch_iter_next(it, x, y), 4);
    ASSERT_TRUE(x[0] == 4);
    ASSERT_EQ_INT(nas_batch_iter_next(it, x, y), 0);
    ASSERT_EQ_INT(nas_batch_iter_next(it, x, y), 4);
    ASSERT_TRUE(x[0] == 0);
    nas_batch_iter_destroy(it);
    o.batch = 0;
    ASSERT_EQ_INT(nas_batch_iter_create(&ds, &o, &it, &err), NAS_ERR_INVALID);
    nas_dataset_deinit(&ds);
}

static void test_augmentation(void) {
    enum { C = 2, H = 5, W = 6, PAD = 2 };
    nas_dataset ds;
    nas_error err = {0};
    ASSERT_OK(nas_dataset_init(&ds, 1, C, H, W, &err), &err);
    for (int i = 0; i < C * H * W; i++) ds.x[i] = (float)(i + 1);
    ds.fill[0] = -7;
    ds.fill[1] = -9;
    nas_batch_options o;
    nas_batch_options_default(&o, 1);
    o.crop_pad = PAD;
    o.hflip = 1;
    o.seed = 5;
    nas_batch_iter *it = NULL;
    ASSERT_OK(nas_batch_iter_create(&ds, &o, &it, &err), &err);
    int hits[2 * PAD + 1][2 * PAD + 1][2] = {{{0}}};
    float x[C * H * W];
    uint8_t y;
    for (int draw = 0; draw < 2000; draw++) {
        if (nas_batch_iter_next(it, x, &y) == 0) ASSERT_EQ_INT(nas_batch_iter_next(it, x, &y), 1);
        /* find the (dy, dx, flip) that explains the output */
        int found = 0;
        for (int dy = 0; dy <= 2 * PAD && !found; dy++)
            for (int dx = 0; dx <= 2 * PAD && !found; dx++)
                for (int f = 0; f < 2 && !found; f++) {
                    int ok = 1;
                    for (int c = 0; c < C && ok; c++)
                        for (int yy = 0; yy < H && ok; yy++)
                            for (int xx = 0; xx < W && ok; xx++) {
                                int sy = yy + dy - PAD, sx = (f ? W - 1 - xx : xx) + dx - PAD;
                                float want = (sy >= 0 && sy < H && sx >= 0 && sx < W)
                                                 ? ds.x[(c * H + sy) * W + sx]
                                                 : ds.fill[c];
                                ok = x[(c * H + yy) * W + xx] == want;
                            }
                    if (ok) {
                        hits[dy][dx][f]++;
                        found = 1;
                    }
                }
        ASSERT_TRUE(found);
    }
    for (int dy = 0; dy <= 2 * PAD; dy++) /* every shift and both flips occur */
        for (int dx = 0; dx <= 2 * PAD; dx++)
            for (int f = 0; f < 2; f++) ASSERT_TRUE(hits[dy][dx][f] > 0);
    nas_batch_iter_destroy(it);

    /* off by default: the image comes back unchanged */
    nas_batch_options_default(&o, 1);
    ASSERT_OK(nas_batch_iter_create(&ds, &o, &it, &err), &err);
    ASSERT_EQ_INT(nas_batch_iter_next(it, x, &y), 1);
    ASSERT_TRUE(memcmp(x, ds.x, sizeof x) == 0);
    nas_batch_iter_destroy(it);
    nas_dataset_deinit(&ds);
}

static void test_real_fashion_mnist(void) {
    if (!nas_path_exists(NAS_DATA_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz")) {
        printf("     real_fashion_mnist: skipped (%s absent; apt install dataset-fashion-mnist)\n",
               NAS_DATA_FASHION_MNIST_DIR);
        return;
    }
    nas_data_options o;
    nas_data_options_default(&o);
    o.val_count = 5000;
    nas_data *d = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_data_load("fashion-mnist", &o, &d, &err), &err);
    ASSERT_STR_EQ(d->name, "fashion-mnist");
    ASSERT_EQ_INT(d->train.n + d->val.n, 60000);
    ASSERT_EQ_INT(d->val.n, 5000);
    ASSERT_EQ_INT(d->test.n, 10000);
    ASSERT_EQ_INT(d->train.h, 28);
    ASSERT_EQ_INT(d->train.w, 28);
    ASSERT_EQ_INT(d->classes, 10);
    size_t per_class[10] = {0};
    for (size_t i = 0; i < d->val.n; i++) per_class[d->val.y[i]]++;
    for (int c = 0; c < 10; c++) ASSERT_EQ_INT(per_class[c], 500); /* 6000 per class */
    ASSERT_NEAR(d->mean[0], 0.286, 0.003); /* Fashion-MNIST's well-known statistics */
    ASSERT_NEAR(d->std[0], 0.353, 0.003);
    printf("     real_fashion_mnist: train %zu, val %zu, test %zu, mean %.4f, std %.4f\n",
           d->train.n, d->val.n, d->test.n, d->mean[0], d->std[0]);
    nas_data_destroy(d);
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        remove(path);
        return;
    }
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        remove_tree(p);
    }
    closedir(d);
    rmdir(path);
}

static const test_case TESTS[] = {
    {"idx_values_plain_and_gz", test_idx_values_plain_and_gz},
    {"idx_errors", test_idx_errors},
    {"gzip_errors", test_gzip_errors},
    {"spec_parse", test_spec_parse},
    {"missing_files", test_missing_files},
    {"cifar_values", test_cifar_values},
    {"cifar_errors", test_cifar_errors},
    {"split", test_split},
    {"pick_counts", test_pick_counts},
    {"normalize", test_normalize},
    {"resize", test_resize},
    {"batches", test_batches},
    {"augmentation", test_augmentation},
    {"real_fashion_mnist", test_real_fashion_mnist},
    {0},
};

int main(int argc, char **argv) {
    int rc = test_run(argc, argv, TESTS);
    if (tmpdir[0]) remove_tree(tmpdir);
    return rc;
}
