/*
 * supernet.h - the weight-sharing supernet evaluator (one-shot NAS).
 *
 * A supernet holds one set of master tensors shared by every point of a
 * compiled space. Training samples a sub-network per step (SPOS: a uniform
 * random point; optionally the sandwich rule: largest + smallest + random),
 * materializes it as an ordinary network (models/network.h), copies the
 * master slices in, runs forward/backward, adds the gradients back into the
 * master and takes one optimizer step (models/optim.h) over the master
 * tensors the step used. A candidate is scored by inheriting its slices,
 * recalibrating BatchNorm on training batches and measuring loss and accuracy
 * on the held-out validation split. Extraction writes the inherited (and
 * recalibrated) weights as a stand-alone arch.json + weights.nasw that
 * `nas train --weights` fine-tunes and `nas eval --split val` scores with the
 * same numbers.
 *
 * Weight keys. Every weight-bearing arch node (conv, bn, fc, mbconv,
 * resblock) maps to a key "<scope>|<op>#<k>", k counting earlier nodes of the
 * arch with the same scope and op (so repetitions of a tied cell, whose scopes
 * are equal, get their own weights by position); each of the node's tensors
 * "n<i>.<part>.<tensor>" becomes "<key>.<part>.<tensor>". A master tensor has
 * the largest shape any point gives that key (found by realizing points at
 * creation, grown if training meets a larger one). Sharing (docs/supernet.md):
 *   - conv/fc weights (O, I, KH, KW): a sub-network takes the leading O output
 *     and I input channels and the centred KH x KW window (OFA's kernel centre
 *     crop); biases and BatchNorm vectors the leading channels;
 *   - depth: repetition r of a stage has the same key whatever the depth, so
 *     depths share the leading blocks;
 *   - op choices: a different op at one position is a different key (own
 *     weights); parts an op instance lacks (mbconv expand when expand = 1,
 *     SE when se = no, a resblock shortcut) are simply not used.
 * BatchNorm running statistics are not shared: they are recalibrated per
 * candidate at scoring time.
 *
 * Checkpoint: DIR/supernet.ckpt (one file, written atomically after every
 * epoch): magic "NASS", version, size, a JSON header (space name and hash,
 * settings, epoch, step, generator states, tensor keys and shapes), the
 * master tensors, each tensor's optimizer state, CRC-32. DIR/supernet.json
 * repeats the header for people. Training again with the same DIR resumes
 * from the last completed epoch and gives the same master tensors as an
 * uninterrupted run (same thread count).
 *
 * Ownership: nas_supernet_create / nas_supernet_load return a supernet the
 * caller frees with nas_supernet_destroy; it borrows the space, which must
 * outlive it. Not thread-safe. Every random draw comes from generators seeded
 * from cfg->seed (stored in the checkpoint).
 *
 * This file does not load data (callers pass a nas_data loaded with the
 * options recorded in the config, see nas_supernet_data_options) or search.
 */
#ifndef NAS_EVALUATOR_SUPERNET_H
#define NAS_EVALUATOR_SUPERNET_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "evaluator/data.h"
#include "models/optim.h"
#include "nas/core/arch.h"
#include "nas/core/log.h"
#include "nas/core/pcg32.h"
#include "nas/core/status.h"
#include "searchspace/space.h"

#define NAS_SUPERNET_CKPT_VERSION 1u
#define NAS_SUPERNET_SPEC_MAX 1024

/* ---- weight slicing (exposed for tests) ---- */

/* Tensors are 4-D (O, I, KH, KW); vectors are (C, 1, 1, 1), fc weights
 * (O, I, 1, 1). sub (sdims) is the slice of master (mdims) made of the
 * leading O and I indices and the KH x KW window centred in the master's
 * (offset (MKH - KH) / 2, rounded down). Requires sdims[i] <= mdims[i]. */
void nas_supernet_slice_get(const float *master, const int mdims[4], float *sub,
                            const int sdims[4]);
/* master[slice] += sub: the inverse mapping of slice_get (gradients). */
void nas_supernet_slice_add(float *master, const int mdims[4], const float *sub,
                            const int sdims[4]);

/* ---- rank statistics (exposed for tests and the rank command) ---- */

/* Kendall's tau-b of a and b (n >= 2), ties handled; NAN when a or b is
 * constant. */
double nas_supernet_kendall_tau(const double *a, const double *b, int n);
/* Spearman's rho (Pearson correlation of average ranks); NAN when constant. */
double nas_supernet_spearman_rho(const double *a, const double *b, int n);
/* How far the tau of a and b could move with other archs drawn the same
 * way: the percentile bootstrap interval at `level` (e.g. 0.95) over
 * `rounds` resamples of the n pairs (with replacement; resamples whose tau
 * is undefined are skipped). *lo, *hi NAN when n < 3, out of memory or
 * fewer than half the resamples define a tau. Draws from rng. */
void nas_supernet_kendall_tau_interval(const double *a, const double *b, int n, int rounds, double level, pcg32 *rng,
                                       double *lo, double *hi);
/* The tau a perfect score could reach against a ground truth of k seeds
 * per arch (acc: n archs x k seeds, arch-major), in a Gaussian model: the
 * archs' true accuracies spread with some variance, every run adds
 * independent noise (and a seed may shift all its runs alike, which moves
 * no rank). The noise variance is the two-way residual variance (what
 * neither the arch's nor the seed's mean explains), the runs' variance
 * between archs (per seed, averaged) is signal and noise together; a single
 * run is then a share rel = 1 - noise/total signal,
 * the mean of k runs k rel / (1 + (k-1) rel), and the tau of a bivariate
 * normal of correlation r is 2/pi asin(r). *one: against one seed; *mean:
 * against the mean of the k. Both NAN when k < 2, n < 3 or the runs do not
 * vary between archs. */
void nas_supernet_tau_ceiling(const double *acc, int n, int k, double *one, double *mean);

/* ---- configuration ---- */

typedef struct nas_supernet_report {
    int epoch, epochs;  /* 1-based epoch just completed, planned total */
    double train_loss;  /* mean over the epoch's paths */
    double train_acc;
    double seconds;     /* this epoch */
} nas_supernet_report;

/* Called after every epoch (and its checkpoint); non-zero stops training. */
typedef int (*nas_supernet_hook)(void *user, const nas_supernet_report *r);

typedef struct nas_supernet_config {
    int epochs;                /* >= 1 */
    int batch;                 /* training batch, >= 1 */
    nas_optim_config optim;    /* per master tensor */
    nas_lr_schedule lr;        /* base_lr and kind; total steps filled from epochs */
    double warmup_epochs;      /* >= 0 */
    int sandwich;              /* 1: largest + smallest + random path per step */
    int distill;               /* 1 (with sandwich): in-place distillation, the largest path
                                  learns from the labels and the others from its outputs */
    int fair;                  /* 1: strict fairness (FairNAS): nas_supernet_fair_paths paths
                                  per step, drawn by nas_supernet_sample_fair; excludes sandwich */
    int kernel_transform;      /* 1: a smaller kernel is the centre of the next larger one
                                  times a learned k^2 x k^2 matrix per layer and size
                                  (Once-for-All's kernel transform); 0: the centre alone */
    int augment_pad;           /* -1: the data set's recommendation */
    int augment_flip;          /* -1: the data set's recommendation */
    uint64_t seed;             /* master init, path sampling, shuffling, dropout */
    int discover;              /* random points realized at creation to find keys and
                                  largest shapes (plus the largest/smallest points) */
    int cache_nets;            /* networks kept between steps (LRU), >= 1; each holds all
                                  activations of its batch (the largest default-space path
                                  at batch 64 is about 1.6 GB), so keep it small */
    int path_steps;            /* consecutive steps on each sampled path, >= 1 (1 = SPOS;
                                  more amortizes building its network over several steps) */
    /* the data the supernet is trained on, recorded so that scoring uses the
       same split (never training images as validation) */
    char data_spec[NAS_SUPERNET_SPEC_MAX];
    double val_fraction;
    double train_fraction;
    uint64_t data_seed;
    /* not stored */
    const nas_logger *lg;      /* epoch lines; NULL quiet */
    int progress;              /* progress bar on stderr */
    nas_supernet_hook on_epoch;
    void *user;
    /* a stop request (may be NULL), read before every step: once non-zero,
       training returns NAS_ERR_INTERRUPTED within a step; the epoch under
       way is dropped (the checkpoint of the last whole epoch stands, and the
       supernet in memory is past it: load it again to go on) */
    const volatile sig_atomic_t *stop;
} nas_supernet_config;

/* 10 epochs, batch 64, SGD momentum 0.9 Nesterov, weight decay 5e-5, lr 0.05
 * cosine to 0, no warm-up, single path (a new path every step), no
 * augmentation override, seed 0, 2000 discovery points, 1 cached network,
 * data "fashion-mnist" with val fraction 0.1, train fraction 1, data seed 0. */
void nas_supernet_config_default(nas_supernet_config *cfg);

/* The nas_data_options that reproduce the recorded split (for nas_data_load
 * with cfg->data_spec). */
void nas_supernet_data_options(const nas_supernet_config *cfg, nas_data_options *opt);

typedef struct nas_supernet nas_supernet;

/* A new supernet over space (which must have a network): discovers the keys
 * and largest shapes, allocates and initialises the master tensors (He
 * normal from cfg->seed) and one optimizer per tensor. */
nas_status nas_supernet_create(const ss_space *space, const nas_supernet_config *cfg,
                               nas_supernet **out, nas_error *err);

/* Loads DIR/supernet.ckpt for space. A missing file is NAS_ERR_IO naming it,
 * a corrupt or truncated one NAS_ERR_FORMAT, a checkpoint of another space
 * (hash) NAS_ERR_MISMATCH. The stored settings replace cfg's except the
 * fields marked "not stored", which come from `runtime` (may be NULL). */
nas_status nas_supernet_load(const ss_space *space, const char *dir,
                             const nas_supernet_config *runtime, nas_supernet **out,
                             nas_error *err);
void nas_supernet_destroy(nas_supernet *sn);

/* 1 when DIR holds a supernet checkpoint file. */
int nas_supernet_exists(const char *dir);

/* The settings in use (after a load: the stored ones). */
const nas_supernet_config *nas_supernet_get_config(const nas_supernet *sn);
/* Epochs completed, optimizer steps taken, master tensors and their floats. */
int nas_supernet_epoch(const nas_supernet *sn);
uint64_t nas_supernet_steps(const nas_supernet *sn);
int nas_supernet_tensor_count(const nas_supernet *sn);
size_t nas_supernet_float_count(const nas_supernet *sn);
/* Master tensor i: its key, shape and values (owned by the supernet). */
const char *nas_supernet_tensor(const nas_supernet *sn, int i, int dims[4], const float **w);

/* Sets the planned number of epochs (e.g. to extend a finished run). */
void nas_supernet_set_epochs(nas_supernet *sn, int epochs);

/* ---- training ---- */

typedef struct nas_supernet_result {
    int epochs_done;     /* total completed (including earlier runs) */
    int stopped_early;   /* the hook stopped it */
    double train_loss, train_acc; /* of the last epoch run here (NAN if none) */
    double seconds;      /* of this call */
    double step_seconds; /* median wall time of one optimizer step in this call */
} nas_supernet_result;

/* Trains from the current epoch up to cfg.epochs on data->train, saving
 * DIR/supernet.ckpt and DIR/supernet.json after every epoch (dir may be NULL:
 * nothing saved). data must have the space's input shape. */
nas_status nas_supernet_train(nas_supernet *sn, const nas_data *data, const char *dir,
                              nas_supernet_result *res, nas_error *err);

/* Samples a uniform random point of the space with rng and realizes it
 * (points whose network is impossible are redrawn, up to 100 times). The
 * arch is the caller's (nas_arch_destroy); point (may be NULL) receives the
 * point (n_decisions doubles). */
nas_status nas_supernet_sample(const nas_supernet *sn, pcg32 *rng, double *point,
                               nas_arch **out, nas_error *err);

/* Paths per step of fair training: the most options of any architectural
 * decision (an int range counts its values), at most NAS_SUPERNET_FAIR_MAX. */
#define NAS_SUPERNET_FAIR_MAX 8
int nas_supernet_fair_paths(const nas_supernet *sn);

/* Strict fairness (Chu et al., FairNAS, 2021): n points (1..
 * NAS_SUPERNET_FAIR_MAX) realized into out[0..n) (the caller's; points, if
 * not NULL, receives them: n x n_decisions doubles), drawn
 * together so that every architectural decision with at most n options
 * takes each of them floor(n / options) or more times among the n (a shuffled
 * round of all its options, the remainder uniform), and one with more
 * options takes n distinct values. Hyperparameters and float ranges are
 * drawn uniformly. A decision inactive in a point (a layer its depth leaves
 * out) is not trained there, so layers behind a depth choice are as fair as
 * the depths drawn. A point whose network is impossible is redrawn
 * uniformly (up to 100 times). */
nas_status nas_supernet_sample_fair(const nas_supernet *sn, pcg32 *rng, int n, double *points, nas_arch **out,
                                    nas_error *err);

/* The largest / smallest sub-networks (most / fewest weights) found by a
 * greedy search at creation; the arch is the caller's. */
nas_status nas_supernet_extreme(const nas_supernet *sn, int largest, nas_arch **out,
                                nas_error *err);

/* One optimizer step: for each of archs[0..n) a training forward/backward on
 * the batch (x: batch images NCHW, y: batch labels), gradients summed into
 * the master, then one update with learning rate lr of every master tensor
 * the paths used. With cfg.distill, archs[0] learns from the labels and
 * archs[1..n) from archs[0]'s softmax outputs on the same batch (targets
 * taken before any update, no gradient through them). *loss (may be NULL)
 * gets the mean loss against the labels over the paths.
 * The batch must equal cfg.batch. Used by nas_supernet_train and benchmarks. */
nas_status nas_supernet_step(nas_supernet *sn, const nas_arch *const *archs, int n, const float *x,
                             const int *y, double lr, double *loss, nas_error *err);

/* ---- scoring and extraction ---- */

typedef struct nas_supernet_score_options {
    int batch;          /* evaluation and recalibration batch (default 64) */
    int recal_batches;  /* training batches for BatchNorm recalibration, >= 1 (default 40) */
    size_t val_images;  /* 0: the whole validation split (default); else a fixed stratified
                           subset of that many (faster, noisier; extraction then no longer
                           equals `nas eval` on the whole split) */
    uint64_t seed;      /* which training batches and validation subset (default 0) */
    int finetune_steps; /* 0 (default): score the inherited weights as they are; N > 0: first
                           train the candidate alone from them for N batches of the
                           supernet's training batch (its optimizer and augmentation, lr
                           cosine from finetune_lr to 0); the master tensors are not changed */
    double finetune_lr; /* the fine-tuning's first lr, > 0 (default 0.01) */
} nas_supernet_score_options;

void nas_supernet_score_options_default(nas_supernet_score_options *opt);

typedef struct nas_supernet_score {
    double val_loss, val_acc; /* mean cross-entropy, accuracy in [0, 1] */
    size_t images;            /* validation images scored */
    double seconds;           /* recalibration + validation */
} nas_supernet_score;

/* Scores arch (a point of the supernet's space) with inherited weights
 * (fine-tuned first when opt->finetune_steps > 0): BatchNorm statistics recalibrated as exact averages over opt->recal_batches
 * training batches, then inference on data->val (never the test split). An
 * arch of another space, or with a layer the supernet has no weights for, is
 * NAS_ERR_MISMATCH. */
nas_status nas_supernet_score_arch(nas_supernet *sn, const nas_arch *arch, const nas_data *data,
                                   const nas_supernet_score_options *opt, nas_supernet_score *out,
                                   nas_error *err);

/* Scores like nas_supernet_score_arch, then writes DIR/arch.json and
 * DIR/weights.nasw (the inherited weights with the recalibrated statistics;
 * models/checkpoint.h, nas_arch_hash) that nas_eval_run scores identically
 * on the validation split with the same batch. */
nas_status nas_supernet_extract(nas_supernet *sn, const nas_arch *arch, const nas_data *data,
                                const nas_supernet_score_options *opt, const char *dir,
                                nas_supernet_score *out, nas_error *err);

/* ---- the ground truth of a ranking ---- */

/* The stand-alone accuracies of a ranking (`nas supernet rank --json`, or
 * the file of `rank --standalone`; docs/supernet.md) for n archs: seed_acc
 * holds room for `seeds` values per arch (arch-major), of which have[i] are
 * known (seeds 0..have[i]-1; fewer than `seeds` in a ranking that is still
 * training), acc[i] their mean (0 with none); epochs and train_batch (0 when
 * the file predates the field) the stand-alone settings, train_fraction the
 * share of the training split they trained on. */
typedef struct nas_supernet_truth {
    double *acc, *seed_acc;
    int *have;
    double train_fraction;
    int seeds, epochs, train_batch;
} nas_supernet_truth;

/* Reads the ranking in json (len bytes; source names it in messages) for
 * the n archs of hash[] (nas_arch_hash values). Its validation split must
 * be c's (same data, val fraction and seed; else NAS_ERR_INVALID naming
 * both; the training share may differ), an arch it lacks is NAS_ERR_INVALID
 * naming the hash, a malformed ranking NAS_ERR_FORMAT naming the field.
 * Free *out with nas_supernet_truth_deinit (done already on failure). */
nas_status nas_supernet_truth_parse(const char *json, size_t len, const char *source,
                                    const nas_supernet_config *c, const uint64_t *hash, int n,
                                    nas_supernet_truth *out, nas_error *err);
/* Writes t for archs[0..n) to path atomically (a file the parser reads
 * back, the validation split c's), known seeds only. */
nas_status nas_supernet_truth_write(const char *path, const nas_supernet_truth *t, const nas_supernet_config *c,
                                    nas_arch *const *archs, int n, nas_error *err);
/* Room for n archs x seeds values in t (an empty, zeroed t, or one read by
 * the parser): the known values keep their places, t->seeds becomes
 * max(t->seeds, seeds). */
nas_status nas_supernet_truth_reserve(nas_supernet_truth *t, int n, int seeds, nas_error *err);
void nas_supernet_truth_deinit(nas_supernet_truth *t);

#endif
