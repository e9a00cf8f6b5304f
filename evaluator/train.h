/*
 * train.h - stand-alone training and evaluation of one arch on a data set.
 *
 * nas_train_run builds the network of an arch (models/network.h), trains it
 * with an optimizer and learning-rate schedule (models/optim.h) on the
 * training split, reports validation loss/accuracy after every epoch (the
 * hook may stop early: intermediate metrics for the search's early stopping),
 * evaluates the test split once at the end when asked, and writes the weights
 * (models/checkpoint.h) and a metrics.json to an output directory.
 * nas_eval_run scores saved weights on one split.
 *
 * Determinism: the same arch, data, config (seed) and thread count give the
 * same numbers: every random draw (init, shuffling, augmentation, dropout)
 * comes from pcg32 streams seeded from cfg->seed.
 *
 * This file does not choose hyperparameters or load data: callers pass a
 * loaded nas_data (evaluator/data.h) and a filled config.
 */
#ifndef NAS_EVALUATOR_TRAIN_H
#define NAS_EVALUATOR_TRAIN_H

#include <stdint.h>

#include "evaluator/data.h"
#include "models/optim.h"
#include "nas/core/arch.h"
#include "nas/core/log.h"
#include "nas/core/status.h"

typedef struct nas_epoch_report {
    int epoch;          /* 1-based */
    int epochs;         /* planned */
    double train_loss;  /* mean over the epoch's batches */
    double train_acc;   /* fraction in [0, 1] */
    double val_loss;    /* NAN when the data has no validation split */
    double val_acc;
    double images_per_s;
    double seconds;     /* since the start of training */
} nas_epoch_report;

/* Called after every epoch; a non-zero return stops training (early stop). */
typedef int (*nas_epoch_hook)(void *user, const nas_epoch_report *r);

typedef struct nas_train_config {
    int epochs;                 /* >= 1 */
    int batch;                  /* >= 1 */
    nas_optim_config optim;     /* optimizer kind, momentum, nesterov, weight decay, ... */
    nas_lr_schedule lr;         /* base_lr, kind; total/warm-up steps are filled from
                                   epochs and warmup_epochs when 0 */
    double warmup_epochs;       /* linear warm-up length in epochs, >= 0 */
    int augment_pad;            /* random-crop padding; -1: the data set's recommendation */
    int augment_flip;           /* horizontal flip 0/1; -1: the data set's recommendation */
    int eval_test;              /* 1: evaluate the test split after the last epoch */
    uint64_t seed;
    const char *init_weights;   /* a weights file to start from (fine-tuning), or NULL */
    const nas_logger *lg;       /* epoch lines; NULL: quiet */
    int progress;               /* 1: progress bar on stderr (TTY) / periodic lines */
    nas_epoch_hook on_epoch;    /* may be NULL */
    void *user;
} nas_train_config;

typedef struct nas_train_result {
    int epochs_done;
    int stopped_early;          /* the hook asked to stop */
    double train_loss, train_acc;
    double val_loss, val_acc;   /* of the last epoch; NAN without a validation split */
    double test_loss, test_acc; /* NAN unless eval_test */
    double images_per_s;        /* training throughput over all epochs */
    double seconds;             /* wall time of training (evaluation included) */
} nas_train_result;

/* The final metrics a trained network reports as a trial program (`nas
 * train` with NAS_METRICS_FILE: what the search's train evaluator can use as
 * objectives), by name: NAS_TRAIN_METRICS entries, NULL-terminated, and
 * their values in r (NAN when not measured). */
#define NAS_TRAIN_METRICS {"accuracy", "val_loss", "train_loss", "test_accuracy", "test_loss", "images_per_s", NULL}
double nas_train_metric(const nas_train_result *r, const char *name);

/* SGD (momentum 0.9, Nesterov, weight decay 5e-4), lr 0.05 cosine to 0,
 * 10 epochs, batch 128, no warm-up, the data set's augmentation, test
 * evaluated, seed 0. */
void nas_train_config_default(nas_train_config *cfg);

/* Applies the arch's hyperparameters that name training settings (lr,
 * learning_rate, batch_size, batch, epochs, optimizer, momentum, nesterov,
 * weight_decay, warmup_epochs); others are ignored (the built-in trainer has
 * no use for them: see nas_train_unused_hparams). Errors name the
 * hyperparameter and its bad value. */
nas_status nas_train_config_from_hparams(nas_train_config *cfg, const nas_arch *a, nas_error *err);

/* 1 when nas_train_config_from_hparams applies a hyperparameter of this
 * name, else 0. */
int nas_train_hparam_applies(const char *name);

/* The range [*lo, *hi] nas_train_config_from_hparams accepts for the numeric
 * hyperparameter `name` (any alias: lr, learning_rate, momentum,
 * weight_decay, warmup_epochs, ...), for others (nas train's flags) to check
 * against the same bounds. Returns 1, or 0 (lo, hi untouched) when the
 * trainer does not read name as a number. */
int nas_train_hparam_range(const char *name, double *lo, double *hi);

/* The warning for hyperparameters the built-in trainer ignores: counts the
 * names among names[0..n) that it does not apply and, when there are any,
 * writes one line to msg (cap bytes, truncated) naming them, the names it
 * does apply, and the way out (a trial program: nas search --trial-cmd).
 * Returns the count; msg is "" when it is 0. */
int nas_train_unused_hparams(const char *const *names, int n, char *msg, size_t cap);

/* Trains a (checked arch) on data. out_dir (may be NULL) receives
 * weights.nasw, arch.json and metrics.json; it is created if missing. */
nas_status nas_train_run(const nas_arch *a, const nas_data *data, const nas_train_config *cfg,
                         const char *out_dir, nas_train_result *res, nas_error *err);

/* The reference CNN (examples/reference_cnn.json) for c x h x w images:
 * conv3x3 32, 32, pool, 64, 64, pool, 128 (each BN + ReLU, no bias), global
 * average pool, fc(classes). The built-in trainer of hyperparameter-only
 * spaces trains it. Caller destroys the arch. */
nas_status nas_train_reference_arch(int c, int h, int w, int classes, nas_arch **out, nas_error *err);

/* Loss (mean cross-entropy) and accuracy of a whole split in inference
 * mode with net (its batch B): x, y8 and y are caller buffers of B images
 * and labels; the last partial batch is padded and only its real images
 * count. The one scoring path of training, evaluation and the supernet. */
struct nas_net;
nas_status nas_net_evaluate(struct nas_net *net, const nas_dataset *ds, float *x, uint8_t *y8, int *y,
                            double *loss, double *acc, nas_error *err);

typedef enum nas_split { NAS_SPLIT_TRAIN, NAS_SPLIT_VAL, NAS_SPLIT_TEST } nas_split;

/* Loss and accuracy of the weights file on one split, in inference mode.
 * batch is the evaluation batch size (the last partial batch is handled). */
nas_status nas_eval_run(const nas_arch *a, const nas_data *data, const char *weights,
                        nas_split split, int batch, double *loss, double *acc, nas_error *err);

/* Wall time a run of cfg (epochs, batch, optimizer) over n_train training
 * images is expected to take on this machine with the current OpenMP thread
 * count, plus n_eval images scored in inference mode (validation every
 * epoch, test at the end: the caller sums them): builds a's network, times
 * three training steps on random data after one warm-up step and scales
 * their median; an inference image is counted as a third of a training
 * image (forward only). Used to plan a time budget; it says nothing about
 * data loading or other jobs on the machine. */
nas_status nas_train_estimate(const nas_arch *a, const nas_train_config *cfg, size_t n_train, size_t n_eval,
                              double *seconds, nas_error *err);

#endif
