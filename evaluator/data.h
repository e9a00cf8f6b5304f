/*
 * data.h - image classification data sets: loaders (IDX for Fashion-MNIST /
 * MNIST, CIFAR-10 binary batches), the train / validation / test splits,
 * proxy-task subsets and resolution, per-channel normalization, and a batch
 * iterator with shuffling, random crop and horizontal flip.
 *
 * Images are float32 NCHW with pixels scaled to [0, 1] at load time (then
 * normalized when asked), labels are uint8. Every random choice (split,
 * subset, shuffle, crop, flip) draws from a pcg32 seeded from the options,
 * so one seed gives one data trace.
 *
 * Data specs (the --data flag):
 *   "fashion-mnist"  the IDX files of Debian's dataset-fashion-mnist package
 *                    in NAS_DATA_FASHION_MNIST_DIR
 *   "idx:DIR"        train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
 *                    t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]
 *   "cifar10:DIR"    data_batch_1.bin .. data_batch_5.bin and test_batch.bin
 *                    (in DIR or DIR/cifar-10-batches-bin)
 * File formats: docs/formats.md ("Data sets").
 *
 * Errors: a missing file names its path (and for "fashion-mnist" says which
 * package to install); a corrupt or truncated file names the file and the
 * byte offset (in the decompressed stream for .gz files).
 *
 * This file does not decode images of other formats or download anything.
 */
#ifndef NAS_EVALUATOR_DATA_H
#define NAS_EVALUATOR_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "nas/core/pcg32.h"
#include "nas/core/status.h"

#define NAS_DATA_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define NAS_DATA_MAX_CHANNELS 4
#define NAS_DATA_PATH_MAX 4096

/* ---- a set of images ---- */

typedef struct nas_dataset {
    size_t n;        /* images */
    int c, h, w;     /* image shape */
    float *x;        /* n * c * h * w floats, NCHW; NULL when n == 0 */
    uint8_t *y;      /* n labels; NULL when n == 0 */
    float fill[NAS_DATA_MAX_CHANNELS]; /* the stored value of a black pixel, per channel:
                                          0 before normalization, -mean/std after; random
                                          crop pads with it */
} nas_dataset;

/* Allocates n images of c x h x w (zeroed) and labels; the embedded struct
 * is owned by the caller and released with nas_dataset_deinit. */
nas_status nas_dataset_init(nas_dataset *ds, size_t n, int c, int h, int w, nas_error *err);
/* Frees x and y and zeroes the struct; safe on a zeroed or deinit'd struct. */
void nas_dataset_deinit(nas_dataset *ds);
/* c * h * w. */
size_t nas_dataset_image_floats(const nas_dataset *ds);

/* ---- loaders (in-memory parsers are the fuzzing entry points) ---- */

/* IDX image file (magic 0x00000803: unsigned bytes, 3 dims N x rows x cols,
 * big-endian) given as bytes, plain or gzip-compressed. Fills *out (caller
 * deinits) with N images of 1 x rows x cols, pixels / 255, labels zero.
 * `source` names the bytes in messages (a path). */
nas_status nas_idx_images_parse(const void *data, size_t len, const char *source,
                                nas_dataset *out, nas_error *err);
/* IDX label file (magic 0x00000801, 1 dim N). *labels is malloc'd (caller
 * frees; NULL when N == 0), *n receives N. */
nas_status nas_idx_labels_parse(const void *data, size_t len, const char *source,
                                uint8_t **labels, size_t *n, nas_error *err);
/* Reads an image file and a label file (each plain or .gz) and checks the
 * counts match. */
nas_status nas_idx_load(const char *images_path, const char *labels_path, nas_dataset *out,
                        nas_error *err);

/* CIFAR-10 binary batch bytes: records of 3073 bytes (label 0..9, then 1024
 * red, 1024 green, 1024 blue pixels of a 32x32 image, row-major). Fills *out
 * (3 x 32 x 32, pixels / 255). Plain or gzip-compressed. */
nas_status nas_cifar10_parse(const void *data, size_t len, const char *source, nas_dataset *out,
                             nas_error *err);
/* Concatenates the batch files paths[0..n_paths) in order. */
nas_status nas_cifar10_load(const char *const *paths, size_t n_paths, nas_dataset *out,
                            nas_error *err);

/* ---- data specs ---- */

typedef enum nas_data_kind {
    NAS_DATA_IDX = 0,  /* "fashion-mnist" and "idx:DIR" */
    NAS_DATA_CIFAR10,  /* "cifar10:DIR" */
} nas_data_kind;

typedef struct nas_data_spec {
    nas_data_kind kind;
    int is_default;                /* 1 for "fashion-mnist" (the Debian package) */
    char dir[NAS_DATA_PATH_MAX];   /* the directory holding the files */
} nas_data_spec;

/* Parses "fashion-mnist" | "idx:DIR" | "cifar10:DIR"; NAS_ERR_INVALID
 * quotes the spec and lists the accepted forms. */
nas_status nas_data_spec_parse(const char *spec, nas_data_spec *out, nas_error *err);

/* Loads the official train and test sets of a spec, unsplit and
 * unnormalized (caller deinits both). */
nas_status nas_data_spec_load(const nas_data_spec *spec, nas_dataset *train, nas_dataset *test,
                              nas_error *err);

/* ---- splits, proxy tasks, normalization ---- */

typedef enum nas_resize_mode {
    NAS_RESIZE_AREA = 0, /* box filter over the covered source area (average pooling for
                            integer factors) */
    NAS_RESIZE_NEAREST,
} nas_resize_mode;

typedef struct nas_data_options {
    double val_fraction;   /* share of the training set held out for validation, [0, 1) */
    size_t val_count;      /* when > 0, the exact validation size (overrides val_fraction) */
    int stratified;        /* 1: validation and subsets keep the class proportions */
    double train_fraction; /* proxy tasks: keep this share of the remaining training split,
                              (0, 1]; the validation and test splits are not reduced */
    int height, width;     /* resolution of every split; 0 = the files' own */
    nas_resize_mode resize;
    int normalize;         /* 1: per-channel mean/std of the final train split, applied to
                              train, val and test */
    uint64_t seed;         /* seeds the split and the subset */
} nas_data_options;

/* val_fraction 0.1, stratified, train_fraction 1, native resolution (area
 * resize when one is set), normalize on, seed 0. */
void nas_data_options_default(nas_data_options *opt);

typedef struct nas_data {
    nas_data_spec spec;
    const char *name;   /* "fashion-mnist", "idx", "cifar10", or "custom" from
                           nas_data_from_sets (static) */
    nas_dataset train;  /* training split (after the validation carve and the subset) */
    nas_dataset val;    /* carved from the official training set; may be empty */
    nas_dataset test;   /* the official test set: for final reporting only */
    int classes;        /* 1 + the largest label in train and test */
    float mean[NAS_DATA_MAX_CHANNELS], std[NAS_DATA_MAX_CHANNELS]; /* applied (0 / 1 if not) */
    int augment_pad;    /* recommended random-crop padding: 0 for IDX, 4 for CIFAR-10 */
    int augment_flip;   /* recommended horizontal flip: 0 for IDX, 1 for CIFAR-10 */
} nas_data;

/* Parses spec, loads the files and applies opt (NULL = defaults): carves the
 * validation split, takes the proxy subset, resizes, normalizes. Caller
 * destroys the result with nas_data_destroy. */
nas_status nas_data_load(const char *spec, const nas_data_options *opt, nas_data **out,
                         nas_error *err);
/* The same from already loaded official sets, which it takes over (train and
 * test are zeroed on return, success or not). */
nas_status nas_data_from_sets(nas_dataset *train, nas_dataset *test, const nas_data_options *opt,
                              nas_data **out, nas_error *err);
void nas_data_destroy(nas_data *d);

/* Picks `count` distinct indices of [0, n) with rng, in ascending order, into
 * out (count entries). With labels (n entries) and stratified set, each class
 * contributes in proportion to its size (largest remainders break ties by
 * class order). */
nas_status nas_data_pick(const uint8_t *labels, size_t n, size_t count, int stratified,
                         pcg32 *rng, size_t *out, nas_error *err);

/* Copies images idx[0..count) of src into dst (initialized here; caller deinits). */
nas_status nas_dataset_gather(const nas_dataset *src, const size_t *idx, size_t count,
                              nas_dataset *dst, nas_error *err);

/* Resamples every image to h x w in place (reallocates x). */
nas_status nas_dataset_resize(nas_dataset *ds, int h, int w, nas_resize_mode mode,
                              nas_error *err);

/* Per-channel mean and (population) standard deviation of ds. */
void nas_dataset_stats(const nas_dataset *ds, float *mean, float *std);
/* x = (x - mean[c]) / std[c] for every pixel; updates fill. */
void nas_dataset_normalize(nas_dataset *ds, const float *mean, const float *std);

/* ---- batches ---- */

typedef struct nas_batch_options {
    size_t batch;   /* images per batch, >= 1 */
    int shuffle;    /* 1: a new permutation every epoch */
    int drop_last;  /* 1: skip the last batch of an epoch when it is short */
    int crop_pad;   /* > 0: random crop of the image padded by crop_pad black pixels */
    int hflip;      /* 1: mirror left-right with probability 1/2 */
    uint64_t seed;  /* seeds shuffling and augmentation */
} nas_batch_options;

/* batch, shuffle on, drop_last off, no augmentation, seed 0. */
void nas_batch_options_default(nas_batch_options *opt, size_t batch);
/* Training batches of data->train: shuffled, drop_last on, augmentation
 * crop_pad / hflip, or the data set's recommendation for a value < 0;
 * seed 0. */
void nas_batch_options_train(nas_batch_options *opt, const nas_data *data, size_t batch, int crop_pad, int hflip);

typedef struct nas_batch_iter nas_batch_iter;

/* An iterator over ds (which must outlive it). Allocates the permutation
 * here; caller destroys with nas_batch_iter_destroy. */
nas_status nas_batch_iter_create(const nas_dataset *ds, const nas_batch_options *opt,
                                 nas_batch_iter **out, nas_error *err);
void nas_batch_iter_destroy(nas_batch_iter *it);

/* Fills x (room for batch * c * h * w floats, NCHW) and y (batch labels) with
 * the next batch of the current epoch and returns its size; returns 0 once
 * the epoch is over, and the following call starts the next epoch (with a
 * new permutation when shuffling). Allocates nothing. */
size_t nas_batch_iter_next(nas_batch_iter *it, float *x, uint8_t *y);
/* Epochs completed so far. */
uint64_t nas_batch_iter_epoch(const nas_batch_iter *it);
/* Batches in one epoch (after drop_last). */
size_t nas_batch_iter_batches(const nas_batch_iter *it);

#endif
