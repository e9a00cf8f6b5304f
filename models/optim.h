/*
 * optim.h - optimizers (SGD with momentum / Nesterov, Adam, AdamW) over an
 * array of nas_param, and learning-rate schedules with linear warm-up.
 *
 * The update rules follow PyTorch (torch.optim.SGD, Adam, AdamW):
 *
 *   SGD:   g = dw + wd * w            (wd only for params with decay = 1)
 *          v = mu * v + g             (when mu > 0; v starts at 0)
 *          d = nesterov ? g + mu * v : (mu > 0 ? v : g)
 *          w = w - lr * d
 *   Adam:  g = dw + wd * w            (L2 penalty folded into the gradient)
 *   AdamW: w = w * (1 - lr * wd)      (decoupled decay), g = dw
 *   both:  t = t + 1
 *          m = b1 * m + (1 - b1) * g,  v = b2 * v + (1 - b2) * g^2
 *          w = w - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *
 * Entries with dw == NULL (buffers such as BatchNorm running statistics) are
 * never touched. All state is allocated by nas_optim_create; nas_optim_step
 * and nas_optim_zero_grad allocate nothing. Updates run in float32 with
 * OpenMP over the elements of large tensors; results do not depend on the
 * thread count.
 *
 * The optimizer does not own the parameter memory; the params array it was
 * created with must outlive it (the optimizer keeps a pointer to the array).
 *
 * This file does not compute gradients or choose the learning rate: the
 * caller passes the lr of each step, usually nas_lr_at(schedule, step).
 */
#ifndef NAS_MODELS_OPTIM_H
#define NAS_MODELS_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "models/param.h"
#include "nas/core/status.h"

typedef enum nas_optim_kind {
    NAS_OPTIM_SGD = 0,
    NAS_OPTIM_ADAM,
    NAS_OPTIM_ADAMW,
} nas_optim_kind;

typedef struct nas_optim_config {
    nas_optim_kind kind;
    double momentum;     /* SGD: mu >= 0 (0 = plain SGD) */
    int nesterov;        /* SGD: 1 for Nesterov momentum (needs momentum > 0) */
    double weight_decay; /* >= 0; L2 for SGD/Adam, decoupled for AdamW */
    double beta1;        /* Adam(W), in [0, 1) */
    double beta2;        /* Adam(W), in [0, 1) */
    double eps;          /* Adam(W), > 0 */
} nas_optim_config;

/* PyTorch's defaults for `kind`: SGD momentum 0, no Nesterov, decay 0;
 * Adam betas (0.9, 0.999), eps 1e-8, decay 0; AdamW the same with decay 0.01. */
void nas_optim_config_default(nas_optim_config *cfg, nas_optim_kind kind);

/* "sgd", "adam", "adamw". */
const char *nas_optim_kind_name(nas_optim_kind kind);
/* Parses a name as above; NAS_ERR_INVALID names the accepted values. */
nas_status nas_optim_kind_parse(const char *name, nas_optim_kind *kind, nas_error *err);

typedef struct nas_optim nas_optim;

/* Creates an optimizer over params[0..n_params) with zeroed state (step 0).
 * Checks the config ranges (NAS_ERR_INVALID names the field). The optimizer
 * keeps the params pointer: the array and the tensors must outlive it.
 * Caller destroys the result with nas_optim_destroy. */
nas_status nas_optim_create(const nas_optim_config *cfg, nas_param *params, size_t n_params,
                            nas_optim **out, nas_error *err);
/* Frees the state; NULL is allowed. */
void nas_optim_destroy(nas_optim *opt);

/* One update of every param with a gradient, with learning rate lr.
 * Increments the step count. Allocates nothing. */
void nas_optim_step(nas_optim *opt, double lr);
/* Sets every dw to zero. Allocates nothing. */
void nas_optim_zero_grad(nas_optim *opt);
/* Number of steps taken (restored by nas_optim_state_load). */
uint64_t nas_optim_steps(const nas_optim *opt);
const nas_optim_config *nas_optim_get_config(const nas_optim *opt);

/* State blob (little-endian, documented in docs/formats.md):
 * "NASO", version, kind, step count, then per param with a gradient its name,
 * size and buffers (SGD: the momentum buffer when mu > 0; Adam(W): m and v).
 * nas_optim_state_size gives the exact byte count nas_optim_state_save writes
 * into buf (which must hold at least that many bytes). */
size_t nas_optim_state_size(const nas_optim *opt);
void nas_optim_state_save(const nas_optim *opt, void *buf);
/* Restores a blob written by nas_optim_state_save for the same kind and the
 * same params (matched by name and size, in any order). The blob is checked
 * completely before anything changes: on error the optimizer is untouched.
 * `source` names the blob in messages (a file path, or NULL); `base` is the
 * blob's byte offset in that file, so offsets in messages are file offsets. */
nas_status nas_optim_state_load(nas_optim *opt, const void *buf, size_t len, const char *source,
                                size_t base, nas_error *err);

/* ---- learning-rate schedules ---- */

typedef enum nas_lr_kind {
    NAS_LR_CONSTANT = 0,
    NAS_LR_COSINE,
    NAS_LR_STEP,
} nas_lr_kind;

/* Steps count optimizer updates from 0. For step < warmup_steps the lr rises
 * linearly: lr = base_lr * (step + 1) / warmup_steps. After warm-up, with
 * s = step - warmup_steps:
 *   constant: base_lr
 *   cosine:   final_lr + (base_lr - final_lr) * (1 + cos(pi * s / S)) / 2,
 *             S = total_steps - warmup_steps; final_lr for s >= S
 *   step:     base_lr * gamma ^ floor(s / step_size)                      */
typedef struct nas_lr_schedule {
    nas_lr_kind kind;
    double base_lr;      /* > 0 */
    double final_lr;     /* cosine: the lr reached at total_steps, >= 0 */
    uint64_t total_steps;  /* cosine: schedule length including warm-up, > warmup_steps */
    uint64_t step_size;    /* step: decay every step_size steps, >= 1 */
    double gamma;        /* step: factor per decay, in (0, 1] */
    uint64_t warmup_steps; /* 0 = no warm-up */
} nas_lr_schedule;

/* A constant schedule at base_lr, no warm-up. */
void nas_lr_schedule_default(nas_lr_schedule *s, double base_lr);
/* Checks the fields used by s->kind; NAS_ERR_INVALID names the field. */
nas_status nas_lr_schedule_check(const nas_lr_schedule *s, nas_error *err);
/* The lr for update number `step` (0-based). s must pass nas_lr_schedule_check. */
double nas_lr_at(const nas_lr_schedule *s, uint64_t step);

#endif
