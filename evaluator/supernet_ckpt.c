/*
 * supernet_ckpt.c - the supernet checkpoint: DIR/supernet.ckpt (binary,
 * atomic, CRC-checked) and DIR/supernet.json (its header, for people).
 *
 * Layout (version 1, integers little-endian):
 *   0   "NASS"                     4 bytes
 *   4   version                    u32 (1)
 *   8   file size                  u64, every byte including the CRC
 *  16   header length L            u32
 *  20   header: JSON text (L bytes): space, space_hash, epoch, steps,
 *       generator states (hex), settings, tensors [{key, dims, decay}]
 *       then per tensor in header order: its floats (float32 LE)
 *       then per tensor: optimizer state length u64 + nas_optim_state blob
 *  size-4  CRC-32 (zlib) of bytes [0, size - 4)
 *
 * Loading checks magic, version, size, CRC, then the space hash, before
 * building anything. Does not train or score.
 */
#include <cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/supernet_internal.h"
#include "models/checkpoint.h"
#include "nas/core/bytes.h"
#include "nas/core/fileio.h"

#define CKPT_MAGIC "NASS"
#define CKPT_HEAD 20

static int add_hex(cJSON *o, const char *name, uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%016" PRIx64, v);
    return cJSON_AddStringToObject(o, name, buf) != NULL;
}

static int get_hex(const cJSON *o, const char *name, uint64_t *v) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(j)) return 0;
    char *end;
    *v = strtoull(j->valuestring, &end, 16);
    return *end == 0 && end != j->valuestring;
}

static int get_num(const cJSON *o, const char *name, double *v) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(j)) return 0;
    *v = j->valuedouble;
    return 1;
}

/* The header JSON: everything but the floats and optimizer blobs. */
static cJSON *header_json(const nas_supernet *sn) {
    const nas_supernet_config *c = &sn->cfg;
    cJSON *o = cJSON_CreateObject(), *cfg = NULL, *ts;
    int ok = o != NULL;
    ok = ok && cJSON_AddStringToObject(o, "format", "nas-supernet");
    ok = ok && cJSON_AddNumberToObject(o, "version", NAS_SUPERNET_CKPT_VERSION);
    ok = ok && cJSON_AddStringToObject(o, "space", sn->space->name);
    ok = ok && cJSON_AddStringToObject(o, "space_hash", sn->space->hash);
    ok = ok && cJSON_AddNumberToObject(o, "epoch", sn->epoch);
    ok = ok && add_hex(o, "steps", sn->steps);
    ok = ok && cJSON_AddNumberToObject(o, "last_train_loss", sn->last_loss);
    ok = ok && add_hex(o, "sample_rng_state", sn->sample_rng.state);
    ok = ok && add_hex(o, "sample_rng_inc", sn->sample_rng.inc);
    ok = ok && add_hex(o, "drop_rng_state", sn->drop_rng.state);
    ok = ok && add_hex(o, "drop_rng_inc", sn->drop_rng.inc);
    ok = ok && add_hex(o, "init_rng_state", sn->init_rng.state);
    ok = ok && add_hex(o, "init_rng_inc", sn->init_rng.inc);
    ok = ok && (cfg = cJSON_AddObjectToObject(o, "settings")) != NULL;
    ok = ok && cJSON_AddNumberToObject(cfg, "epochs", c->epochs);
    ok = ok && cJSON_AddNumberToObject(cfg, "batch", c->batch);
    ok = ok && cJSON_AddStringToObject(cfg, "optimizer", nas_optim_kind_name(c->optim.kind));
    ok = ok && cJSON_AddNumberToObject(cfg, "momentum", c->optim.momentum);
    ok = ok && cJSON_AddNumberToObject(cfg, "nesterov", c->optim.nesterov);
    ok = ok && cJSON_AddNumberToObject(cfg, "weight_decay", c->optim.weight_decay);
    ok = ok && cJSON_AddNumberToObject(cfg, "beta1", c->optim.beta1);
    ok = ok && cJSON_AddNumberToObject(cfg, "beta2", c->optim.beta2);
    ok = ok && cJSON_AddNumberToObject(cfg, "eps", c->optim.eps);
    ok = ok && cJSON_AddNumberToObject(cfg, "lr_kind", c->lr.kind);
    ok = ok && cJSON_AddNumberToObject(cfg, "lr", c->lr.base_lr);
    ok = ok && cJSON_AddNumberToObject(cfg, "final_lr", c->lr.final_lr);
    ok = ok && add_hex(cfg, "total_steps", c->lr.total_steps);
    ok = ok && add_hex(cfg, "step_size", c->lr.step_size);
    ok = ok && cJSON_AddNumberToObject(cfg, "gamma", c->lr.gamma);
    ok = ok && add_hex(cfg, "warmup_steps", c->lr.warmup_steps);
    ok = ok && cJSON_AddNumberToObject(cfg, "warmup_epochs", c->warmup_epochs);
    ok = ok && cJSON_AddNumberToObject(cfg, "sandwich", c->sandwich);
    ok = ok && cJSON_AddNumberToObject(cfg, "kernel_transform", c->kernel_transform);
    ok = ok && cJSON_AddNumberToObject(cfg, "fair", c->fair);
    ok = ok && cJSON_AddNumberToObject(cfg, "distill", c->distill);
    ok = ok && cJSON_AddNumberToObject(cfg, "augment_pad", c->augment_pad);
    ok = ok && cJSON_AddNumberToObject(cfg, "augment_flip", c->augment_flip);
    ok = ok && add_hex(cfg, "seed", c->seed);
    ok = ok && cJSON_AddNumberToObject(cfg, "discover", c->discover);
    ok = ok && cJSON_AddNumberToObject(cfg, "cache_nets", c->cache_nets);
    ok = ok && cJSON_AddNumberToObject(cfg, "path_steps", c->path_steps);
    ok = ok && cJSON_AddStringToObject(cfg, "data", c->data_spec);
    ok = ok && cJSON_AddNumberToObject(cfg, "val_fraction", c->val_fraction);
    ok = ok && cJSON_AddNumberToObject(cfg, "fraction", c->train_fraction);
    ok = ok && add_hex(cfg, "data_seed", c->data_seed);
    ok = ok && (ts = cJSON_AddArrayToObject(o, "tensors")) != NULL;
    for (int i = 0; ok && i < sn->n_t; i++) {
        cJSON *t = cJSON_CreateObject();
        ok = t && cJSON_AddItemToArray(ts, t);
        ok = ok && cJSON_AddStringToObject(t, "key", sn->t[i]->key);
        ok = ok && cJSON_AddItemToObject(t, "dims", cJSON_CreateIntArray(sn->t[i]->dims, 4));
        ok = ok && cJSON_AddNumberToObject(t, "decay", sn->t[i]->decay);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

nas_status sn_checkpoint_save(const nas_supernet *sn, const char *dir, nas_error *err) {
    nas_status s = nas_mkdir_p(dir, err);
    if (s) return s;
    cJSON *h = header_json(sn);
    char *text = h ? cJSON_PrintUnformatted(h) : NULL;
    char *pretty = h ? cJSON_Print(h) : NULL;
    cJSON_Delete(h);
    unsigned char *buf = NULL;
    char path[4096];
    if (!text || !pretty) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "supernet checkpoint: out of memory");
        goto fail;
    }
    size_t hl = strlen(text), size = CKPT_HEAD + hl + 4;
    for (int i = 0; i < sn->n_t; i++) size += 4 * sn->t[i]->n + 8 + nas_optim_state_size(sn->t[i]->opt);
    if (!(buf = malloc(size))) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "supernet checkpoint: out of memory for %zu bytes", size);
        goto fail;
    }
    memcpy(buf, CKPT_MAGIC, 4);
    nas_put_u32(buf + 4, NAS_SUPERNET_CKPT_VERSION);
    nas_put_u64(buf + 8, size);
    nas_put_u32(buf + 16, (uint32_t)hl);
    memcpy(buf + CKPT_HEAD, text, hl);
    unsigned char *p = buf + CKPT_HEAD + hl;
    for (int i = 0; i < sn->n_t; i++) {
        const sn_tensor *t = sn->t[i];
        for (size_t k = 0; k < t->n; k++) {
            uint32_t u;
            memcpy(&u, &t->w[k], 4);
            nas_put_u32(p + 4 * k, u);
        }
        p += 4 * t->n;
    }
    for (int i = 0; i < sn->n_t; i++) {
        size_t bl = nas_optim_state_size(sn->t[i]->opt);
        nas_put_u64(p, bl);
        nas_optim_state_save(sn->t[i]->opt, p + 8);
        p += 8 + bl;
    }
    nas_put_u32(p, nas_checkpoint_crc32(buf, size - 4));
    snprintf(path, sizeof path, "%s/supernet.ckpt", dir);
    if ((s = nas_file_write_atomic(path, buf, size, err))) goto fail;
    snprintf(path, sizeof path, "%s/supernet.json", dir);
    s = nas_file_write_atomic(path, pretty, strlen(pretty), err);
fail:
    cJSON_free(text);
    cJSON_free(pretty);
    free(buf);
    return s;
}

int nas_supernet_exists(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/supernet.ckpt", dir);
    return nas_path_exists(path);
}

/* Reads the stored settings over cfg. NULL when all are there, else the name
 * of the first one that is missing or out of range. */
static const char *settings_from_json(const cJSON *c, nas_supernet_config *cfg) {
    double v;
    uint64_t u;
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(c, "optimizer"),
                *data = cJSON_GetObjectItemCaseSensitive(c, "data");
    if (!cJSON_IsString(opt) || nas_optim_kind_parse(opt->valuestring, &cfg->optim.kind, NULL)) return "optimizer";
    if (!cJSON_IsString(data)) return "data";
    snprintf(cfg->data_spec, sizeof cfg->data_spec, "%s", data->valuestring);
#define NUM(name, field, type)                                                                                 \
    do {                                                                                                       \
        if (!get_num(c, name, &v)) return name;                                                                \
        field = (type)v;                                                                                       \
    } while (0)
    /* an integer setting: a whole number that fits (a corrupt file must not
       convert 1e300 to int); the values themselves are checked by sn_alloc */
#define INT(name, field, type)                                                                                 \
    do {                                                                                                       \
        if (!get_num(c, name, &v) || !(v >= INT_MIN && v <= INT_MAX) || v != (double)(long long)v) return name; \
        field = (type)v;                                                                                       \
    } while (0)
#define HEX(name, field)                                                                                       \
    do {                                                                                                       \
        if (!get_hex(c, name, &u)) return name;                                                                \
        field = u;                                                                                             \
    } while (0)
    INT("epochs", cfg->epochs, int);
    INT("batch", cfg->batch, int);
    NUM("momentum", cfg->optim.momentum, double);
    INT("nesterov", cfg->optim.nesterov, int);
    NUM("weight_decay", cfg->optim.weight_decay, double);
    NUM("beta1", cfg->optim.beta1, double);
    NUM("beta2", cfg->optim.beta2, double);
    NUM("eps", cfg->optim.eps, double);
    int kind;
    INT("lr_kind", kind, int);
    if (kind < NAS_LR_CONSTANT || kind > NAS_LR_STEP) return "lr_kind";
    cfg->lr.kind = (nas_lr_kind)kind;
    NUM("lr", cfg->lr.base_lr, double);
    NUM("final_lr", cfg->lr.final_lr, double);
    HEX("total_steps", cfg->lr.total_steps);
    HEX("step_size", cfg->lr.step_size);
    NUM("gamma", cfg->lr.gamma, double);
    HEX("warmup_steps", cfg->lr.warmup_steps);
    NUM("warmup_epochs", cfg->warmup_epochs, double);
    INT("sandwich", cfg->sandwich, int);
    /* checkpoints from before the option trained the plain centre crop */
    cfg->kernel_transform = 0;
    if (cJSON_GetObjectItemCaseSensitive(c, "kernel_transform")) INT("kernel_transform", cfg->kernel_transform, int);
    cfg->fair = 0; /* the same for fair sampling */
    if (cJSON_GetObjectItemCaseSensitive(c, "fair")) INT("fair", cfg->fair, int);
    cfg->distill = 0; /* and for distillation */
    if (cJSON_GetObjectItemCaseSensitive(c, "distill")) INT("distill", cfg->distill, int);
    INT("augment_pad", cfg->augment_pad, int);
    INT("augment_flip", cfg->augment_flip, int);
    HEX("seed", cfg->seed);
    INT("discover", cfg->discover, int);
    INT("cache_nets", cfg->cache_nets, int);
    INT("path_steps", cfg->path_steps, int);
    NUM("val_fraction", cfg->val_fraction, double);
    NUM("fraction", cfg->train_fraction, double);
    HEX("data_seed", cfg->data_seed);
#undef NUM
#undef INT
#undef HEX
    return NULL;
}

static int get_rng(const cJSON *o, const char *state, const char *inc, pcg32 *r) {
    return get_hex(o, state, &r->state) && get_hex(o, inc, &r->inc);
}

nas_status nas_supernet_load(const ss_space *space, const char *dir, const nas_supernet_config *runtime,
                             nas_supernet **out, nas_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/supernet.ckpt", dir);
    *out = NULL;
    if (!nas_path_exists(path))
        return NAS_FAIL(err, NAS_ERR_IO, "%s: no supernet checkpoint (train one with `nas supernet train --out %s`)",
                        path, dir);
    char *data = NULL;
    size_t len;
    nas_status s = nas_file_read(path, &data, &len, err);
    if (s) return s;
    s = sn_checkpoint_decode(space, (const unsigned char *)data, len, path, runtime, out, err);
    free(data);
    return s;
}

nas_status sn_checkpoint_decode(const ss_space *space, const unsigned char *b, size_t len, const char *path,
                                const nas_supernet_config *runtime, nas_supernet **out, nas_error *err) {
    const char *data = (const char *)b;
    nas_status s = NAS_OK;
    cJSON *h = NULL;
    nas_supernet *sn = NULL;
    *out = NULL;
    if (len < CKPT_HEAD + 4 || memcmp(b, CKPT_MAGIC, 4) != 0) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: not a supernet checkpoint (bad magic)", path);
        goto fail;
    }
    if (nas_get_u32(b + 4) != NAS_SUPERNET_CKPT_VERSION) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: checkpoint version %u, this nas reads version %u", path,
                     nas_get_u32(b + 4), NAS_SUPERNET_CKPT_VERSION);
        goto fail;
    }
    if (nas_get_u64(b + 8) != len) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: truncated or padded: the header says %llu bytes, the file has %zu", path,
                     (unsigned long long)nas_get_u64(b + 8), len);
        goto fail;
    }
    if (nas_checkpoint_crc32(b, len - 4) != nas_get_u32(b + len - 4)) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: CRC mismatch (the file is corrupt)", path);
        goto fail;
    }
    size_t hl = nas_get_u32(b + 16);
    if (hl > len - CKPT_HEAD - 4 || !(h = cJSON_ParseWithLength(data + CKPT_HEAD, hl))) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: bad header at byte offset %d", path, CKPT_HEAD);
        goto fail;
    }
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(h, "space_hash"),
                *name = cJSON_GetObjectItemCaseSensitive(h, "space"),
                *settings = cJSON_GetObjectItemCaseSensitive(h, "settings"),
                *tensors = cJSON_GetObjectItemCaseSensitive(h, "tensors");
    if (!cJSON_IsString(hash) || !cJSON_IsString(name) || !cJSON_IsObject(settings) || !cJSON_IsArray(tensors)) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: header lacks space_hash, space, settings or tensors", path);
        goto fail;
    }
    if (strcmp(hash->valuestring, space->hash) != 0) {
        s = NAS_FAIL(err, NAS_ERR_MISMATCH,
                     "%s: this supernet was trained on space '%s' (hash %s), not on %s ('%s', hash %s)", path,
                     name->valuestring, hash->valuestring, space->path, space->name, space->hash);
        goto fail;
    }
    nas_supernet_config cfg;
    nas_supernet_config_default(&cfg);
    if (runtime) {
        cfg.lg = runtime->lg;
        cfg.progress = runtime->progress;
        cfg.on_epoch = runtime->on_epoch;
        cfg.user = runtime->user;
        cfg.stop = runtime->stop;
    }
    double epoch;
    uint64_t steps;
    const char *bad = settings_from_json(settings, &cfg);
    /* epochs done: a whole number up to the stored epochs (1e300 must not reach an int) */
    if (!bad && (!get_num(h, "epoch", &epoch) || !(epoch >= 0 && epoch <= cfg.epochs) || epoch != (int)epoch))
        bad = "epoch";
    if (!bad && !get_hex(h, "steps", &steps)) bad = "steps";
    if (bad) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: header setting '%s' is missing or out of range", path, bad);
        goto fail;
    }
    if ((s = sn_alloc(space, &cfg, &sn, err))) goto fail;
    sn->epoch = (int)epoch;
    sn->steps = steps;
    get_num(h, "last_train_loss", &sn->last_loss);
    if (!get_rng(h, "sample_rng_state", "sample_rng_inc", &sn->sample_rng) ||
        !get_rng(h, "drop_rng_state", "drop_rng_inc", &sn->drop_rng) ||
        !get_rng(h, "init_rng_state", "init_rng_inc", &sn->init_rng)) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: header lacks the generator states", path);
        goto fail;
    }
    pcg32 init_after = sn->init_rng;
    size_t off = CKPT_HEAD + hl, end = len - 4;
    const cJSON *t;
    cJSON_ArrayForEach(t, tensors) {
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(t, "key"), *dims = cJSON_GetObjectItemCaseSensitive(t, "dims");
        double decay;
        int d[4];
        if (!cJSON_IsString(key) || !cJSON_IsArray(dims) || cJSON_GetArraySize(dims) != 4 || !get_num(t, "decay", &decay) ||
            (decay != 0 && decay != 1)) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: bad tensor entry in the header", path);
            goto fail;
        }
        double floats = 1;
        for (int k = 0; k < 4; k++) {
            const cJSON *e = cJSON_GetArrayItem(dims, k);
            d[k] = cJSON_IsNumber(e) ? e->valueint : 0;
            if (d[k] < 1 || d[k] > (1 << 24)) {
                s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: tensor %s has a bad shape", path, key->valuestring);
                goto fail;
            }
            floats *= d[k];
        }
        if (floats * 4 > (double)(end - off)) { /* before allocating what the header claims */
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: tensor data truncated at byte offset %zu", path, off);
            goto fail;
        }
        int i = sn_tensor_add(sn, key->valuestring, d, (int)decay, err);
        if (i < 0 || (s = sn_tensor_alloc(sn, sn->t[i], &sn->init_rng, err))) {
            if (!s) s = err ? err->code : NAS_ERR_NOMEM;
            goto fail;
        }
        sn_tensor *st = sn->t[i];
        if (end - off < 4 * st->n) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: tensor data truncated at byte offset %zu", path, off);
            goto fail;
        }
        for (size_t k = 0; k < st->n; k++) {
            uint32_t u = nas_get_u32(b + off + 4 * k);
            memcpy(&st->w[k], &u, 4);
        }
        off += 4 * st->n;
    }
    sn->init_rng = init_after;
    for (int i = 0; i < sn->n_t; i++) {
        if (end - off < 8 || end - off - 8 < nas_get_u64(b + off)) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: optimizer state truncated at byte offset %zu", path, off);
            goto fail;
        }
        size_t bl = (size_t)nas_get_u64(b + off);
        if ((s = nas_optim_state_load(sn->t[i]->opt, b + off + 8, bl, path, off + 8, err))) goto fail;
        off += 8 + bl;
    }
    if (off != end) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: %zu unexpected bytes at byte offset %zu", path, end - off, off);
        goto fail;
    }
    sn->allocated = 1;
    *out = sn;
    sn = NULL;
fail:
    nas_supernet_destroy(sn);
    cJSON_Delete(h);
    return s;
}
