/*
 * train.c - stand-alone training and evaluation of one arch (see train.h).
 *
 * One network per run, built for the training batch; evaluation reuses it in
 * inference mode, padding the last partial batch and scoring only its real
 * images, so no second network is needed. Per-step work allocates nothing:
 * the batch buffers, label array and optimizer state are made up front.
 */
#define _POSIX_C_SOURCE 200809L
#include "evaluator/train.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/latency.h"
#include "models/checkpoint.h"
#include "models/network.h"
#include "nas/core/fileio.h"

void nas_train_config_default(nas_train_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = 10;
    cfg->batch = 128;
    nas_optim_config_default(&cfg->optim, NAS_OPTIM_SGD);
    cfg->optim.momentum = 0.9;
    cfg->optim.nesterov = 1;
    cfg->optim.weight_decay = 5e-4;
    nas_lr_schedule_default(&cfg->lr, 0.05);
    cfg->lr.kind = NAS_LR_COSINE;
    cfg->lr.final_lr = 0.0;
    cfg->augment_pad = -1;
    cfg->augment_flip = -1;
    cfg->eval_test = 1;
}

static nas_status hparam_int(const nas_hparam *h, int lo, int hi, int *out, nas_error *err) {
    if (h->str || h->num != floor(h->num) || h->num < lo || h->num > hi)
        return NAS_FAIL(err, NAS_ERR_INVALID, "hyperparameter %s: expected an integer in %d..%d", h->name,
                        lo, hi);
    *out = (int)h->num;
    return NAS_OK;
}

static nas_status hparam_num(const nas_hparam *h, double lo, double hi, double *out, nas_error *err) {
    if (h->str || !(h->num >= lo && h->num <= hi))
        return NAS_FAIL(err, NAS_ERR_INVALID, "hyperparameter %s: expected a number in [%g, %g]", h->name,
                        lo, hi);
    *out = h->num;
    return NAS_OK;
}

/* optimizer = sgd | adam | adamw: the kind's defaults, keeping SGD's
 * momentum, Nesterov and weight decay when it stays SGD. */
static nas_status apply_optimizer(nas_train_config *cfg, const nas_hparam *h, nas_error *err) {
    if (!h->str) return NAS_FAIL(err, NAS_ERR_INVALID, "hyperparameter optimizer: expected sgd, adam or adamw");
    double mom = cfg->optim.momentum, wd = cfg->optim.weight_decay;
    int nest = cfg->optim.nesterov;
    nas_optim_kind kind;
    nas_status s = nas_optim_kind_parse(h->str, &kind, err);
    if (s) return s;
    nas_optim_config_default(&cfg->optim, kind);
    if (kind == NAS_OPTIM_SGD) {
        cfg->optim.momentum = mom;
        cfg->optim.nesterov = nest;
        cfg->optim.weight_decay = wd;
    }
    return NAS_OK;
}

/* The hyperparameters the built-in trainer applies: the one list read by
 * nas_train_config_from_hparams, nas_train_hparam_applies and the warning
 * about the others. */
typedef enum train_key {
    KEY_LR, KEY_BATCH, KEY_EPOCHS, KEY_OPTIMIZER, KEY_MOMENTUM, KEY_NESTEROV, KEY_WD, KEY_WARMUP
} train_key;

static const struct {
    const char *name;
    train_key key;
} TRAIN_HPARAMS[] = {
    {"lr", KEY_LR},           {"learning_rate", KEY_LR},  {"batch_size", KEY_BATCH},
    {"batch", KEY_BATCH},     {"epochs", KEY_EPOCHS},     {"optimizer", KEY_OPTIMIZER},
    {"momentum", KEY_MOMENTUM}, {"nesterov", KEY_NESTEROV}, {"weight_decay", KEY_WD},
    {"warmup_epochs", KEY_WARMUP},
};

#define N_TRAIN_HPARAMS (sizeof TRAIN_HPARAMS / sizeof TRAIN_HPARAMS[0])

/* The values each numeric key accepts: the one place these bounds live
 * (nas_train_config_from_hparams, nas_train_hparam_range). */
static const struct {
    train_key key;
    double lo, hi;
} TRAIN_RANGES[] = {
    {KEY_LR, 1e-12, 100},  {KEY_BATCH, 1, 1 << 16}, {KEY_EPOCHS, 1, 100000}, {KEY_MOMENTUM, 0, 0.9999},
    {KEY_NESTEROV, 0, 1}, {KEY_WD, 0, 1},          {KEY_WARMUP, 0, 1000},
};

/* The range of a numeric key; 0 for optimizer (a name). */
static int key_range(train_key key, double *lo, double *hi) {
    for (size_t i = 0; i < sizeof TRAIN_RANGES / sizeof TRAIN_RANGES[0]; i++)
        if (TRAIN_RANGES[i].key == key) {
            *lo = TRAIN_RANGES[i].lo, *hi = TRAIN_RANGES[i].hi;
            return 1;
        }
    return 0;
}

/* The key of a hyperparameter name, or -1 when the trainer does not use it. */
static int train_key_of(const char *name) {
    for (size_t i = 0; i < N_TRAIN_HPARAMS; i++)
        if (!strcmp(name, TRAIN_HPARAMS[i].name)) return (int)TRAIN_HPARAMS[i].key;
    return -1;
}

int nas_train_hparam_applies(const char *name) { return train_key_of(name) >= 0; }

int nas_train_hparam_range(const char *name, double *lo, double *hi) {
    int key = train_key_of(name);
    return key >= 0 && key_range((train_key)key, lo, hi);
}

int nas_train_unused_hparams(const char *const *names, int n, char *msg, size_t cap) {
    char list[512] = "", applied[256] = "";
    int unused = 0;
    size_t k = 0, a = 0;
    for (int i = 0; i < n; i++) {
        if (nas_train_hparam_applies(names[i])) continue;
        if (k < sizeof list) k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", unused ? ", " : "", names[i]);
        unused++;
    }
    if (cap) msg[0] = '\0';
    if (unused == 0) return 0;
    for (size_t i = 0; i < N_TRAIN_HPARAMS && a < sizeof applied; i++)
        a += (size_t)snprintf(applied + a, sizeof applied - a, "%s%s",
                              i == 0 ? "" : i + 1 == N_TRAIN_HPARAMS ? " and " : ", ", TRAIN_HPARAMS[i].name);
    snprintf(msg, cap,
             "hyperparameter%s %s %s not used by the built-in trainer, which applies only %s; "
             "to train your own model with %s, run a trial program (nas search --trial-cmd)",
             unused > 1 ? "s" : "", list, unused > 1 ? "are" : "is", applied, unused > 1 ? "them" : "it");
    return unused;
}

nas_status nas_train_config_from_hparams(nas_train_config *cfg, const nas_arch *a, nas_error *err) {
    nas_status s = NAS_OK;
    for (int i = 0; i < a->n_hparams && !s; i++) {
        const nas_hparam *h = &a->hparams[i];
        int key = train_key_of(h->name), v;
        double lo, hi;
        if (key < 0 || !key_range((train_key)key, &lo, &hi)) lo = hi = 0;
        switch (key) {
        case KEY_LR: s = hparam_num(h, lo, hi, &cfg->lr.base_lr, err); break;
        case KEY_BATCH: s = hparam_int(h, (int)lo, (int)hi, &cfg->batch, err); break;
        case KEY_EPOCHS: s = hparam_int(h, (int)lo, (int)hi, &cfg->epochs, err); break;
        case KEY_MOMENTUM: s = hparam_num(h, lo, hi, &cfg->optim.momentum, err); break;
        case KEY_NESTEROV:
            v = cfg->optim.nesterov;
            s = hparam_int(h, (int)lo, (int)hi, &v, err);
            cfg->optim.nesterov = v;
            break;
        case KEY_WD: s = hparam_num(h, lo, hi, &cfg->optim.weight_decay, err); break;
        case KEY_WARMUP: s = hparam_num(h, lo, hi, &cfg->warmup_epochs, err); break;
        case KEY_OPTIMIZER: s = apply_optimizer(cfg, h, err); break;
        default: break; /* not a training setting: left for the model */
        }
    }
    if (!s && cfg->optim.kind != NAS_OPTIM_SGD) cfg->optim.nesterov = 0;
    return s;
}

nas_status nas_train_reference_arch(int c, int h, int w, int classes, nas_arch **out, nas_error *err) {
    static const int WIDTHS[5] = {32, 32, 64, 64, 128};
    nas_arch *a = nas_arch_create(c, h, w, classes);
    if (!a) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    int x = 0;
    for (int i = 0; i < 5 && x >= 0; i++) {
        nas_node conv = nas_node_make(NAS_OP_CONV);
        conv.out = WIDTHS[i];
        conv.kernel = 3;
        x = nas_arch_chain(a, conv, x, err);
        if (x >= 0) x = nas_arch_chain(a, nas_node_make(NAS_OP_BN), x, err);
        if (x >= 0) x = nas_arch_chain(a, nas_node_make(NAS_OP_RELU), x, err);
        if (x >= 0 && (i == 1 || i == 3)) {
            nas_node pool = nas_node_make(NAS_OP_MAXPOOL);
            pool.kernel = 2;
            pool.stride = 2;
            x = nas_arch_chain(a, pool, x, err);
        }
    }
    if (x >= 0) x = nas_arch_chain(a, nas_node_make(NAS_OP_GAP), x, err);
    nas_node fc = nas_node_make(NAS_OP_FC);
    fc.out = classes;
    fc.bias = 1;
    if (x >= 0) x = nas_arch_chain(a, fc, x, err);
    if (x < 0) {
        nas_arch_destroy(a);
        return err ? err->code : NAS_ERR_INVALID;
    }
    snprintf(a->space_name, sizeof a->space_name, "reference_cnn");
    *out = a;
    return NAS_OK;
}

/* Loss (sum) and correct count of rows [0, n) of logits (batch x k). */
static void score_rows(const float *logits, const int *labels, int n, int k, double *loss_sum,
                       long *correct) {
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int best = 0;
        double mx = z[0];
        for (int j = 1; j < k; j++)
            if (z[j] > mx) mx = z[j], best = j;
        double se = 0;
        for (int j = 0; j < k; j++) se += exp((double)z[j] - mx);
        *loss_sum += log(se) + mx - z[labels[i]];
        *correct += best == labels[i];
    }
}

static const nas_dataset *split_of(const nas_data *d, nas_split split) {
    return split == NAS_SPLIT_TRAIN ? &d->train : split == NAS_SPLIT_VAL ? &d->val : &d->test;
}

nas_status nas_net_evaluate(nas_net *net, const nas_dataset *ds, float *x, uint8_t *y8, int *y,
                           double *loss, double *acc, nas_error *err) {
    int b = nas_net_batch(net), k = nas_net_classes(net);
    size_t img = nas_dataset_image_floats(ds);
    nas_batch_options bo;
    nas_batch_options_default(&bo, (size_t)b);
    bo.shuffle = 0;
    nas_batch_iter *it = NULL;
    nas_status s = nas_batch_iter_create(ds, &bo, &it, err);
    if (s) return s;
    double loss_sum = 0;
    long correct = 0;
    size_t n;
    while ((n = nas_batch_iter_next(it, x, y8)) > 0) {
        if (n < (size_t)b) memset(x + n * img, 0, ((size_t)b - n) * img * sizeof *x);
        for (size_t i = 0; i < (size_t)b; i++) y[i] = i < n ? y8[i] : 0;
        if ((s = nas_net_forward(net, x, 0, NULL, err))) break;
        score_rows(nas_net_logits(net), y, (int)n, k, &loss_sum, &correct);
    }
    nas_batch_iter_destroy(it);
    if (s) return s;
    *loss = ds->n ? loss_sum / (double)ds->n : NAN;
    *acc = ds->n ? (double)correct / (double)ds->n : NAN;
    return NAS_OK;
}

double nas_train_metric(const nas_train_result *r, const char *name) {
    if (!strcmp(name, "accuracy")) return r->val_acc;
    if (!strcmp(name, "val_loss")) return r->val_loss;
    if (!strcmp(name, "train_loss")) return r->train_loss;
    if (!strcmp(name, "test_accuracy")) return r->test_acc;
    if (!strcmp(name, "test_loss")) return r->test_loss;
    if (!strcmp(name, "images_per_s")) return r->images_per_s;
    return NAN;
}

static nas_status write_metrics(const char *dir, const nas_train_result *r, const nas_train_config *cfg,
                                const nas_batch_options *bo, nas_error *err) {
    /* cJSON writes NaN (a value not measured) as null */
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "epochs", r->epochs_done);
    ok = ok && cJSON_AddBoolToObject(o, "stopped_early", r->stopped_early);
    ok = ok && cJSON_AddNumberToObject(o, "train_loss", r->train_loss);
    ok = ok && cJSON_AddNumberToObject(o, "train_accuracy", r->train_acc);
    ok = ok && cJSON_AddNumberToObject(o, "val_loss", r->val_loss);
    ok = ok && cJSON_AddNumberToObject(o, "val_accuracy", r->val_acc);
    ok = ok && cJSON_AddNumberToObject(o, "test_loss", r->test_loss);
    ok = ok && cJSON_AddNumberToObject(o, "test_accuracy", r->test_acc);
    ok = ok && cJSON_AddNumberToObject(o, "images_per_s", r->images_per_s);
    ok = ok && cJSON_AddNumberToObject(o, "seconds", r->seconds);
    ok = ok && cJSON_AddNumberToObject(o, "batch", cfg->batch);
    ok = ok && cJSON_AddNumberToObject(o, "lr", cfg->lr.base_lr);
    ok = ok && cJSON_AddStringToObject(o, "optimizer", nas_optim_kind_name(cfg->optim.kind));
    ok = ok && cJSON_AddNumberToObject(o, "seed", (double)cfg->seed);
    ok = ok && cJSON_AddNumberToObject(o, "augment_pad", bo->crop_pad);
    ok = ok && cJSON_AddBoolToObject(o, "augment_flip", bo->hflip);
    char *text = ok ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory writing metrics.json");
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    nas_status s = nas_file_write_atomic(path, text, strlen(text), err);
    cJSON_free(text);
    return s;
}

nas_status nas_train_run(const nas_arch *a, const nas_data *data, const nas_train_config *cfg,
                         const char *out_dir, nas_train_result *res, nas_error *err) {
    nas_status s = NAS_OK;
    nas_net *net = NULL;
    nas_optim *opt = NULL;
    nas_batch_iter *it = NULL;
    float *x = NULL;
    uint8_t *y8 = NULL;
    int *y = NULL;
    memset(res, 0, sizeof *res);
    res->val_loss = res->val_acc = res->test_loss = res->test_acc = NAN;

    if (cfg->epochs < 1) return NAS_FAIL(err, NAS_ERR_INVALID, "epochs must be >= 1, got %d", cfg->epochs);
    if (cfg->batch < 1) return NAS_FAIL(err, NAS_ERR_INVALID, "batch must be >= 1, got %d", cfg->batch);
    const nas_dataset *tr = &data->train;
    if (a->in_c != tr->c || a->in_h != tr->h || a->in_w != tr->w)
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "the arch takes %dx%dx%d images but the data set has %dx%dx%d",
                        a->in_c, a->in_h, a->in_w, tr->c, tr->h, tr->w);
    if (a->classes < data->classes)
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "the arch has %d classes but the data set has %d", a->classes,
                        data->classes);
    if (tr->n < (size_t)cfg->batch)
        return NAS_FAIL(err, NAS_ERR_INVALID, "the training split has %zu images, fewer than one batch of %d",
                        tr->n, cfg->batch);

    pcg32 init_rng, drop_rng;
    pcg32_seed(&init_rng, cfg->seed, 1);
    pcg32_seed(&drop_rng, cfg->seed, 2);
    if ((s = nas_net_create(a, cfg->batch, NAS_NET_GRADS, &init_rng, &net, err))) goto fail;
    nas_param *params;
    int n_params;
    nas_net_params(net, &params, &n_params);
    if ((s = nas_optim_create(&cfg->optim, params, (size_t)n_params, &opt, err))) goto fail;
    if (cfg->init_weights &&
        (s = nas_checkpoint_load(cfg->init_weights, nas_arch_hash(a), params, (size_t)n_params, NULL, err)))
        goto fail;

    nas_batch_options bo;
    nas_batch_options_train(&bo, data, (size_t)cfg->batch, cfg->augment_pad, cfg->augment_flip);
    bo.seed = cfg->seed;
    if ((s = nas_batch_iter_create(tr, &bo, &it, err))) goto fail;
    size_t steps_per_epoch = nas_batch_iter_batches(it);
    nas_lr_schedule lr = cfg->lr;
    if (lr.total_steps == 0) lr.total_steps = steps_per_epoch * (uint64_t)cfg->epochs;
    if (lr.warmup_steps == 0 && cfg->warmup_epochs > 0)
        lr.warmup_steps = (uint64_t)(cfg->warmup_epochs * (double)steps_per_epoch);
    if (lr.kind == NAS_LR_COSINE && lr.total_steps <= lr.warmup_steps) lr.total_steps = lr.warmup_steps + 1;
    if ((s = nas_lr_schedule_check(&lr, err))) goto fail;

    size_t img = nas_dataset_image_floats(tr);
    x = malloc((size_t)cfg->batch * img * sizeof *x);
    y8 = malloc((size_t)cfg->batch);
    y = malloc((size_t)cfg->batch * sizeof *y);
    if (!x || !y8 || !y) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory for a batch of %d", cfg->batch);
        goto fail;
    }

    nas_progress bar;
    double t0 = nas_time_now(), train_time = 0;
    uint64_t step = 0, images = 0;
    for (int epoch = 1; epoch <= cfg->epochs; epoch++) {
        if (cfg->progress) {
            char label[32];
            snprintf(label, sizeof label, "epoch %d/%d", epoch, cfg->epochs);
            nas_progress_init(&bar, stderr, label, (long)steps_per_epoch);
        }
        double te = nas_time_now(), loss_sum = 0;
        long correct = 0, seen = 0, b = 0;
        size_t n;
        while ((n = nas_batch_iter_next(it, x, y8)) > 0) {
            for (size_t i = 0; i < n; i++) y[i] = y8[i];
            if ((s = nas_net_forward(net, x, 1, &drop_rng, err))) goto fail;
            if ((s = nas_net_backward(net, y, err))) goto fail;
            nas_optim_step(opt, nas_lr_at(&lr, step++));
            float l = nas_net_loss(net);
            if (!isfinite(l)) {
                s = NAS_FAIL(err, NAS_ERR_INVALID, "training diverged: loss is %g at epoch %d step %ld (lower the lr?)",
                             (double)l, epoch, b + 1);
                goto fail;
            }
            loss_sum += l * (double)n;
            correct += nas_net_correct(net);
            seen += (long)n;
            b++;
            if (cfg->progress) {
                char extra[96];
                double dt = nas_time_now() - te;
                snprintf(extra, sizeof extra, "loss %.4f acc %.2f%% %.0f img/s", loss_sum / seen,
                         100.0 * correct / seen, dt > 0 ? seen / dt : 0.0);
                nas_progress_update(&bar, b, extra);
            }
        }
        double epoch_time = nas_time_now() - te;
        train_time += epoch_time;
        images += (uint64_t)seen;
        nas_epoch_report r = {.epoch = epoch, .epochs = cfg->epochs};
        r.train_loss = loss_sum / (double)seen;
        r.train_acc = (double)correct / (double)seen;
        r.images_per_s = seen / epoch_time;
        r.val_loss = r.val_acc = NAN;
        if (data->val.n && (s = nas_net_evaluate(net, &data->val, x, y8, y, &r.val_loss, &r.val_acc, err))) goto fail;
        r.seconds = nas_time_now() - t0;
        if (cfg->progress) {
            char extra[128];
            snprintf(extra, sizeof extra, "loss %.4f acc %.2f%% val %.2f%% %.0f img/s", r.train_loss,
                     100 * r.train_acc, 100 * r.val_acc, r.images_per_s);
            nas_progress_finish(&bar, extra);
        }
        nas_log(cfg->lg, NAS_LOG_INFO,
                "epoch %d/%d  train loss %.4f acc %.2f%%  val loss %.4f acc %.2f%%  %.0f img/s", epoch,
                cfg->epochs, r.train_loss, 100 * r.train_acc, r.val_loss, 100 * r.val_acc, r.images_per_s);
        res->epochs_done = epoch;
        res->train_loss = r.train_loss;
        res->train_acc = r.train_acc;
        res->val_loss = r.val_loss;
        res->val_acc = r.val_acc;
        if (cfg->on_epoch && cfg->on_epoch(cfg->user, &r)) {
            res->stopped_early = epoch < cfg->epochs;
            break;
        }
    }
    res->images_per_s = train_time > 0 ? (double)images / train_time : 0;
    if (cfg->eval_test && data->test.n &&
        (s = nas_net_evaluate(net, &data->test, x, y8, y, &res->test_loss, &res->test_acc, err)))
        goto fail;
    res->seconds = nas_time_now() - t0;
    if (cfg->eval_test)
        nas_log(cfg->lg, NAS_LOG_INFO, "test loss %.4f acc %.2f%%", res->test_loss, 100 * res->test_acc);

    if (out_dir) {
        char path[4096];
        if ((s = nas_mkdir_p(out_dir, err))) goto fail;
        snprintf(path, sizeof path, "%s/weights.nasw", out_dir);
        if ((s = nas_checkpoint_save(path, nas_arch_hash(a), params, (size_t)n_params, NULL, err))) goto fail;
        snprintf(path, sizeof path, "%s/arch.json", out_dir);
        if ((s = nas_arch_save(a, path, err))) goto fail;
        if ((s = write_metrics(out_dir, res, cfg, &bo, err))) goto fail;
    }
fail:
    nas_batch_iter_destroy(it);
    nas_optim_destroy(opt);
    nas_net_destroy(net);
    free(x);
    free(y8);
    free(y);
    return s;
}

nas_status nas_eval_run(const nas_arch *a, const nas_data *data, const char *weights, nas_split split,
                        int batch, double *loss, double *acc, nas_error *err) {
    nas_status s;
    nas_net *net = NULL;
    float *x = NULL;
    uint8_t *y8 = NULL;
    int *y = NULL;
    const nas_dataset *ds = split_of(data, split);
    if (ds->n == 0) return NAS_FAIL(err, NAS_ERR_INVALID, "the %s split is empty",
                                    split == NAS_SPLIT_VAL ? "validation" : split == NAS_SPLIT_TEST ? "test" : "training");
    if (a->in_c != ds->c || a->in_h != ds->h || a->in_w != ds->w)
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "the arch takes %dx%dx%d images but the data set has %dx%dx%d",
                        a->in_c, a->in_h, a->in_w, ds->c, ds->h, ds->w);
    pcg32 rng;
    pcg32_seed(&rng, 0, 1);
    if ((s = nas_net_create(a, batch, 0, &rng, &net, err))) goto fail;
    nas_param *params;
    int n_params;
    nas_net_params(net, &params, &n_params);
    if ((s = nas_checkpoint_load(weights, nas_arch_hash(a), params, (size_t)n_params, NULL, err))) goto fail;
    nas_net_set_weights_static(net, 1);
    x = malloc((size_t)batch * nas_dataset_image_floats(ds) * sizeof *x);
    y8 = malloc((size_t)batch);
    y = malloc((size_t)batch * sizeof *y);
    if (!x || !y8 || !y) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory for a batch of %d", batch);
        goto fail;
    }
    s = nas_net_evaluate(net, ds, x, y8, y, loss, acc, err);
fail:
    nas_net_destroy(net);
    free(x);
    free(y8);
    free(y);
    return s;
}

nas_status nas_train_estimate(const nas_arch *a, const nas_train_config *cfg, size_t n_train, size_t n_eval,
                              double *seconds, nas_error *err) {
    enum { WARMUP = 1, TIMED = 3 };
    *seconds = 0;
    if (cfg->epochs < 1 || cfg->batch < 1)
        return NAS_FAIL(err, NAS_ERR_INVALID, "estimate: epochs and batch must be >= 1");
    nas_status s;
    nas_net *net = NULL;
    nas_optim *opt = NULL;
    pcg32 rng;
    pcg32_seed(&rng, cfg->seed, 3);
    size_t img = (size_t)a->in_c * (size_t)a->in_h * (size_t)a->in_w;
    float *x = malloc((size_t)cfg->batch * img * sizeof *x);
    int *y = malloc((size_t)cfg->batch * sizeof *y);
    if (!x || !y) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory for a batch of %d", cfg->batch);
        goto done;
    }
    for (size_t i = 0; i < (size_t)cfg->batch * img; i++) x[i] = (float)pcg32_double(&rng) - 0.5f;
    for (int i = 0; i < cfg->batch; i++) y[i] = (int)pcg32_bounded(&rng, (uint32_t)a->classes);
    if ((s = nas_net_create(a, cfg->batch, NAS_NET_GRADS, &rng, &net, err))) goto done;
    nas_param *params;
    int n_params;
    nas_net_params(net, &params, &n_params);
    if ((s = nas_optim_create(&cfg->optim, params, (size_t)n_params, &opt, err))) goto done;
    double t[TIMED], t0 = 0;
    for (int i = 0; i < WARMUP + TIMED; i++) {
        if (i >= WARMUP) t0 = nas_time_now();
        if ((s = nas_net_forward(net, x, 1, &rng, err)) || (s = nas_net_backward(net, y, err))) goto done;
        nas_optim_step(opt, 1e-6);
        if (i >= WARMUP) t[i - WARMUP] = nas_time_now() - t0;
    }
    double median, p90;
    nas_latency_stats(t, TIMED, &median, &p90); /* median of the timed steps */
    double per_image = median / cfg->batch;
    *seconds = per_image * ((double)cfg->epochs * (double)(n_train / (size_t)cfg->batch * (size_t)cfg->batch) +
                            (double)n_eval / 3.0);
done:
    nas_optim_destroy(opt);
    nas_net_destroy(net);
    free(x);
    free(y);
    return s;
}
