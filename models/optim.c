/*
 * optim.c - SGD (momentum, Nesterov, weight decay), Adam and AdamW over
 * nas_param arrays, their state blob, and learning-rate schedules
 * (see optim.h). Plain C with OpenMP over the elements of large tensors.
 * Does not compute gradients, clip them, or own parameter memory.
 */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "models/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tensors smaller than this are updated by one thread (fork cost dominates). */
#define OPTIM_OMP_MIN 32768

#define STATE_MAGIC "NASO"
#define STATE_VERSION 1u
#define STATE_HEADER 28 /* magic, version, kind, buffers, entries (u32 each), steps (u64) */

struct nas_optim {
    nas_optim_config cfg;
    nas_param *params;
    size_t n_params;
    int n_buffers;  /* per param with a gradient: 0 (plain SGD), 1 (momentum), 2 (Adam m, v) */
    float **buf1;   /* [n_params]: momentum or Adam m; NULL for entries without a gradient */
    float **buf2;   /* [n_params]: Adam v */
    float *block;   /* all buffers, one allocation */
    uint64_t steps;
};

void nas_optim_config_default(nas_optim_config *cfg, nas_optim_kind kind) {
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->eps = 1e-8;
    cfg->weight_decay = kind == NAS_OPTIM_ADAMW ? 0.01 : 0.0;
}

const char *nas_optim_kind_name(nas_optim_kind kind) {
    switch (kind) {
    case NAS_OPTIM_SGD: return "sgd";
    case NAS_OPTIM_ADAM: return "adam";
    case NAS_OPTIM_ADAMW: return "adamw";
    }
    return "unknown";
}

nas_status nas_optim_kind_parse(const char *name, nas_optim_kind *kind, nas_error *err) {
    static const nas_optim_kind all[] = {NAS_OPTIM_SGD, NAS_OPTIM_ADAM, NAS_OPTIM_ADAMW};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, nas_optim_kind_name(all[i])) == 0) {
            *kind = all[i];
            return NAS_OK;
        }
    }
    return NAS_FAIL(err, NAS_ERR_INVALID, "unknown optimizer \"%s\" (expected sgd, adam or adamw)",
                    name);
}

static nas_status config_check(const nas_optim_config *c, nas_error *err) {
    if (c->kind != NAS_OPTIM_SGD && c->kind != NAS_OPTIM_ADAM && c->kind != NAS_OPTIM_ADAMW)
        return NAS_FAIL(err, NAS_ERR_INVALID, "optimizer: kind: unknown value %d", (int)c->kind);
    if (!(c->weight_decay >= 0 && isfinite(c->weight_decay)))
        return NAS_FAIL(err, NAS_ERR_INVALID, "optimizer: weight_decay: expected >= 0, got %g",
                        c->weight_decay);
    if (c->kind == NAS_OPTIM_SGD) {
        if (!(c->momentum >= 0 && isfinite(c->momentum)))
            return NAS_FAIL(err, NAS_ERR_INVALID, "optimizer: momentum: expected >= 0, got %g",
                            c->momentum);
        if (c->nesterov && c->momentum <= 0)
            return NAS_FAIL(err, NAS_ERR_INVALID, "optimizer: nesterov needs momentum > 0");
        return NAS_OK;
    }
    if (!(c->beta1 >= 0 && c->beta1 < 1))
        return NAS_FAIL(err, NAS_ERR_INVALID, "optimizer: beta1: expected [0, 1), got %g",
                        c->beta1);
    if (!(c->beta2 >= 0 && c->beta2 < 1))
        return NAS_FAIL(err, NAS_ERR_INVALID, "optimizer: beta2: expected [0, 1), got %g",
                        c->beta2);
    if (!(c->eps > 0 && isfinite(c->eps)))
        return NAS_FAIL(err, NAS_ERR_INVALID, "optimizer: eps: expected > 0, got %g", c->eps);
    return NAS_OK;
}

nas_status nas_optim_create(const nas_optim_config *cfg, nas_param *params, size_t n_params,
                            nas_optim **out, nas_error *err) {
    *out = NULL;
    nas_status s = config_check(cfg, err);
    if (s) return s;
    nas_optim *o = calloc(1, sizeof *o);
    if (!o) return NAS_FAIL(err, NAS_ERR_NOMEM, "optimizer: out of memory");
    o->cfg = *cfg;
    o->params = params;
    o->n_params = n_params;
    o->n_buffers = cfg->kind == NAS_OPTIM_SGD ? (cfg->momentum > 0 ? 1 : 0) : 2;
    o->buf1 = calloc(n_params ? n_params : 1, sizeof *o->buf1);
    o->buf2 = calloc(n_params ? n_params : 1, sizeof *o->buf2);
    if (!o->buf1 || !o->buf2) goto nomem;
    size_t total = 0;
    for (size_t i = 0; i < n_params; i++) {
        if (!params[i].dw) continue;
        if (params[i].n > (SIZE_MAX / sizeof(float) - total) / 2) goto nomem;
        total += params[i].n * (size_t)o->n_buffers;
    }
    if (total) {
        o->block = calloc(total, sizeof(float));
        if (!o->block) goto nomem;
    }
    float *p = o->block;
    for (size_t i = 0; i < n_params && o->n_buffers > 0; i++) {
        if (!params[i].dw) continue;
        o->buf1[i] = p;
        p += params[i].n;
        if (o->n_buffers == 2) {
            o->buf2[i] = p;
            p += params[i].n;
        }
    }
    *out = o;
    return NAS_OK;
nomem:
    nas_optim_destroy(o);
    return NAS_FAIL(err, NAS_ERR_NOMEM, "optimizer: out of memory for the state of %zu tensors",
                    n_params);
}

void nas_optim_destroy(nas_optim *opt) {
    if (!opt) return;
    free(opt->block);
    free(opt->buf1);
    free(opt->buf2);
    free(opt);
}

/* w, dw, v: n floats. SGD with optional momentum buffer v (NULL when mu == 0). */
static void sgd_update(float *w, const float *dw, float *v, size_t n, float lr, float wd, float mu,
                       int nesterov) {
    long len = (long)n;
#pragma omp parallel for schedule(static) if (n >= OPTIM_OMP_MIN)
    for (long i = 0; i < len; i++) {
        float g = dw[i] + wd * w[i];
        if (v) {
            float b = mu * v[i] + g;
            v[i] = b;
            g = nesterov ? g + mu * b : b;
        }
        w[i] -= lr * g;
    }
}

/* w, dw, m, v: n floats. One Adam step with precomputed coefficients:
 * l2 is the L2 penalty folded into g, shrink the decoupled AdamW factor. */
static void adam_update(float *w, const float *dw, float *m, float *v, size_t n, float l2,
                        float shrink, float b1, float b2, float step_size, float bc2_sqrt,
                        float eps) {
    long len = (long)n;
#pragma omp parallel for schedule(static) if (n >= OPTIM_OMP_MIN)
    for (long i = 0; i < len; i++) {
        float wi = w[i] * shrink;
        float g = dw[i] + l2 * wi;
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

void nas_optim_step(nas_optim *opt, double lr) {
    const nas_optim_config *c = &opt->cfg;
    opt->steps++;
    if (c->kind == NAS_OPTIM_SGD) {
        for (size_t i = 0; i < opt->n_params; i++) {
            nas_param *p = &opt->params[i];
            if (!p->dw) continue;
            float wd = p->decay ? (float)c->weight_decay : 0.0f;
            sgd_update(p->w, p->dw, opt->buf1[i], p->n, (float)lr, wd, (float)c->momentum,
                       c->nesterov);
        }
        return;
    }
    double t = (double)opt->steps;
    double bc1 = 1.0 - pow(c->beta1, t);
    double bc2 = 1.0 - pow(c->beta2, t);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    for (size_t i = 0; i < opt->n_params; i++) {
        nas_param *p = &opt->params[i];
        if (!p->dw) continue;
        float l2 = 0.0f, shrink = 1.0f;
        if (p->decay && c->kind == NAS_OPTIM_ADAM) l2 = (float)c->weight_decay;
        if (p->decay && c->kind == NAS_OPTIM_ADAMW) shrink = (float)(1.0 - lr * c->weight_decay);
        adam_update(p->w, p->dw, opt->buf1[i], opt->buf2[i], p->n, l2, shrink, (float)c->beta1,
                    (float)c->beta2, step_size, bc2_sqrt, (float)c->eps);
    }
}

void nas_optim_zero_grad(nas_optim *opt) {
    for (size_t i = 0; i < opt->n_params; i++)
        if (opt->params[i].dw) memset(opt->params[i].dw, 0, opt->params[i].n * sizeof(float));
}

uint64_t nas_optim_steps(const nas_optim *opt) { return opt->steps; }

const nas_optim_config *nas_optim_get_config(const nas_optim *opt) { return &opt->cfg; }

/* ---- state blob ---- */

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static void put_floats(unsigned char *p, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        put_u32(p + 4 * i, u);
    }
}
static void get_floats(float *x, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = get_u32(p + 4 * i);
        memcpy(&x[i], &u, 4);
    }
}

static size_t entry_count(const nas_optim *o) {
    size_t k = 0;
    for (size_t i = 0; i < o->n_params; i++) k += o->params[i].dw != NULL;
    return k;
}

size_t nas_optim_state_size(const nas_optim *opt) {
    size_t size = STATE_HEADER;
    for (size_t i = 0; i < opt->n_params; i++) {
        const nas_param *p = &opt->params[i];
        if (!p->dw) continue;
        size += 4 + strnlen(p->name, NAS_PARAM_NAME_MAX) + 8 + 4 * p->n * (size_t)opt->n_buffers;
    }
    return size;
}

void nas_optim_state_save(const nas_optim *opt, void *buf) {
    unsigned char *p = buf;
    memcpy(p, STATE_MAGIC, 4);
    put_u32(p + 4, STATE_VERSION);
    put_u32(p + 8, (uint32_t)opt->cfg.kind);
    put_u32(p + 12, (uint32_t)opt->n_buffers);
    put_u32(p + 16, (uint32_t)entry_count(opt));
    put_u64(p + 20, opt->steps);
    p += STATE_HEADER;
    for (size_t i = 0; i < opt->n_params; i++) {
        const nas_param *q = &opt->params[i];
        if (!q->dw) continue;
        size_t len = strnlen(q->name, NAS_PARAM_NAME_MAX);
        put_u32(p, (uint32_t)len);
        memcpy(p + 4, q->name, len);
        p += 4 + len;
        put_u64(p, (uint64_t)q->n);
        p += 8;
        if (opt->n_buffers >= 1) {
            put_floats(p, opt->buf1[i], q->n);
            p += 4 * q->n;
        }
        if (opt->n_buffers == 2) {
            put_floats(p, opt->buf2[i], q->n);
            p += 4 * q->n;
        }
    }
}

/* Finds the param with a gradient named name[0..len); -1 when none. */
static long find_param(const nas_optim *o, const unsigned char *name, size_t len) {
    for (size_t i = 0; i < o->n_params; i++) {
        const nas_param *p = &o->params[i];
        if (p->dw && strnlen(p->name, NAS_PARAM_NAME_MAX) == len && memcmp(p->name, name, len) == 0)
            return (long)i;
    }
    return -1;
}

/* Walks the blob; with apply == 0 only checks it, with apply == 1 copies the
 * buffers (the blob must have passed a check first). seen: n_params bytes. */
static nas_status state_walk(nas_optim *o, const unsigned char *b, size_t len, const char *src,
                             size_t base, unsigned char *seen, int apply, nas_error *err) {
    size_t n_entries = get_u32(b + 16);
    size_t off = STATE_HEADER;
    for (size_t e = 0; e < n_entries; e++) {
        if (len - off < 4)
            return NAS_FAIL(err, NAS_ERR_FORMAT,
                            "%s: optimizer state truncated at byte offset %zu (entry %zu of %zu)",
                            src, base + off, e, n_entries);
        size_t name_len = get_u32(b + off);
        if (name_len == 0 || name_len >= NAS_PARAM_NAME_MAX)
            return NAS_FAIL(err, NAS_ERR_FORMAT,
                            "%s: optimizer state: bad tensor name length %zu at byte offset %zu",
                            src, name_len, base + off);
        if (len - off - 4 < name_len + 8)
            return NAS_FAIL(err, NAS_ERR_FORMAT,
                            "%s: optimizer state truncated at byte offset %zu (entry %zu)", src,
                            base + off, e);
        const unsigned char *name = b + off + 4;
        uint64_t n = get_u64(b + off + 4 + name_len);
        size_t data_off = off + 4 + name_len + 8;
        long idx = find_param(o, name, name_len);
        if (idx < 0)
            return NAS_FAIL(err, NAS_ERR_MISMATCH,
                            "%s: optimizer state has tensor \"%.*s\" (byte offset %zu) that the "
                            "network does not train",
                            src, (int)name_len, (const char *)name, base + off);
        nas_param *p = &o->params[idx];
        if (n != p->n)
            return NAS_FAIL(err, NAS_ERR_MISMATCH,
                            "%s: optimizer state for \"%s\" has %llu elements, the tensor has %zu "
                            "(byte offset %zu)",
                            src, p->name, (unsigned long long)n, p->n, base + off);
        if (!apply && seen[idx])
            return NAS_FAIL(err, NAS_ERR_FORMAT,
                            "%s: optimizer state lists \"%s\" twice (byte offset %zu)", src,
                            p->name, base + off);
        seen[idx] = 1;
        size_t bytes = 4 * p->n * (size_t)o->n_buffers;
        if (len - data_off < bytes)
            return NAS_FAIL(err, NAS_ERR_FORMAT,
                            "%s: optimizer state for \"%s\" truncated at byte offset %zu", src,
                            p->name, base + len);
        if (apply && o->n_buffers >= 1) get_floats(o->buf1[idx], b + data_off, p->n);
        if (apply && o->n_buffers == 2) get_floats(o->buf2[idx], b + data_off + 4 * p->n, p->n);
        off = data_off + bytes;
    }
    if (!apply && off != len)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: optimizer state has %zu unexpected bytes at byte offset %zu", src,
                        len - off, base + off);
    return NAS_OK;
}

nas_status nas_optim_state_load(nas_optim *opt, const void *buf, size_t len, const char *source,
                                size_t base, nas_error *err) {
    const unsigned char *b = buf;
    const char *src = source ? source : "optimizer state";
    if (len < STATE_HEADER)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: optimizer state truncated: %zu bytes at byte offset %zu, the header "
                        "needs %d",
                        src, len, base, STATE_HEADER);
    if (memcmp(b, STATE_MAGIC, 4) != 0)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: bad optimizer state magic at byte offset %zu (expected \"NASO\")",
                        src, base);
    uint32_t version = get_u32(b + 4);
    if (version != STATE_VERSION)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: optimizer state version %u at byte offset %zu is not supported "
                        "(expected %u)",
                        src, version, base + 4, STATE_VERSION);
    uint32_t kind = get_u32(b + 8);
    if (kind != (uint32_t)opt->cfg.kind)
        return NAS_FAIL(err, NAS_ERR_MISMATCH,
                        "%s: optimizer state is for %s (byte offset %zu), the optimizer is %s",
                        src, kind <= NAS_OPTIM_ADAMW ? nas_optim_kind_name((nas_optim_kind)kind)
                                                     : "an unknown optimizer",
                        base + 8, nas_optim_kind_name(opt->cfg.kind));
    uint32_t buffers = get_u32(b + 12);
    if (buffers != (uint32_t)opt->n_buffers)
        return NAS_FAIL(err, NAS_ERR_MISMATCH,
                        "%s: optimizer state has %u buffers per tensor (byte offset %zu), the "
                        "optimizer keeps %d (momentum on/off differs?)",
                        src, buffers, base + 12, opt->n_buffers);
    size_t n_entries = get_u32(b + 16), expect = entry_count(opt);
    if (n_entries != expect)
        return NAS_FAIL(err, NAS_ERR_MISMATCH,
                        "%s: optimizer state has %zu tensors (byte offset %zu), the network "
                        "trains %zu",
                        src, n_entries, base + 16, expect);
    unsigned char *seen = calloc(opt->n_params ? opt->n_params : 1, 1);
    if (!seen) return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", src);
    nas_status s = state_walk(opt, b, len, src, base, seen, 0, err);
    if (s) goto fail;
    s = state_walk(opt, b, len, src, base, seen, 1, err);
    if (s) goto fail;
    opt->steps = get_u64(b + 20);
fail:
    free(seen);
    return s;
}

/* ---- learning-rate schedules ---- */

void nas_lr_schedule_default(nas_lr_schedule *s, double base_lr) {
    memset(s, 0, sizeof *s);
    s->kind = NAS_LR_CONSTANT;
    s->base_lr = base_lr;
    s->step_size = 1;
    s->gamma = 1.0;
}

nas_status nas_lr_schedule_check(const nas_lr_schedule *s, nas_error *err) {
    if (!(s->base_lr > 0 && isfinite(s->base_lr)))
        return NAS_FAIL(err, NAS_ERR_INVALID, "lr schedule: base_lr: expected > 0, got %g",
                        s->base_lr);
    switch (s->kind) {
    case NAS_LR_CONSTANT: return NAS_OK;
    case NAS_LR_COSINE:
        if (!(s->final_lr >= 0 && isfinite(s->final_lr)))
            return NAS_FAIL(err, NAS_ERR_INVALID, "lr schedule: final_lr: expected >= 0, got %g",
                            s->final_lr);
        if (s->total_steps <= s->warmup_steps)
            return NAS_FAIL(err, NAS_ERR_INVALID,
                            "lr schedule: total_steps (%llu) must exceed warmup_steps (%llu)",
                            (unsigned long long)s->total_steps,
                            (unsigned long long)s->warmup_steps);
        return NAS_OK;
    case NAS_LR_STEP:
        if (s->step_size < 1)
            return NAS_FAIL(err, NAS_ERR_INVALID, "lr schedule: step_size: expected >= 1");
        if (!(s->gamma > 0 && s->gamma <= 1))
            return NAS_FAIL(err, NAS_ERR_INVALID, "lr schedule: gamma: expected (0, 1], got %g",
                            s->gamma);
        return NAS_OK;
    }
    return NAS_FAIL(err, NAS_ERR_INVALID, "lr schedule: kind: unknown value %d", (int)s->kind);
}

double nas_lr_at(const nas_lr_schedule *s, uint64_t step) {
    if (step < s->warmup_steps) return s->base_lr * (double)(step + 1) / (double)s->warmup_steps;
    uint64_t k = step - s->warmup_steps;
    switch (s->kind) {
    case NAS_LR_CONSTANT: return s->base_lr;
    case NAS_LR_COSINE: {
        uint64_t span = s->total_steps - s->warmup_steps;
        if (k >= span) return s->final_lr;
        double c = cos(3.14159265358979323846 * (double)k / (double)span);
        return s->final_lr + (s->base_lr - s->final_lr) * 0.5 * (1.0 + c);
    }
    case NAS_LR_STEP: return s->base_lr * pow(s->gamma, (double)(k / s->step_size));
    }
    return s->base_lr;
}
