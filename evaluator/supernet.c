/*
 * supernet.c - the weight-sharing supernet (see supernet.h): weight keys and
 * slicing, discovery of the largest shapes, the network cache, the training
 * step and loop, BatchNorm recalibration, scoring and extraction.
 *
 * The checkpoint file is in supernet_ckpt.c. This file does not parse
 * command lines or load data sets.
 */
#include "evaluator/supernet.h"
#include "evaluator/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/latency.h"
#include "evaluator/supernet_internal.h"
#include "models/checkpoint.h"
#include "nas/core/fileio.h"

/* Chunk size of the cache slots' arenas: large enough that glibc maps every
 * chunk on its own (freed chunks go straight back to the system). */
#define SN_ARENA_CHUNK ((size_t)64 << 20)

/* ------------------------------------------------------------ slicing */

void nas_supernet_slice_get(const float *m, const int md[4], float *s, const int sd[4]) {
    if (md[0] == sd[0] && md[1] == sd[1] && md[2] == sd[2] && md[3] == sd[3]) {
        memcpy(s, m, (size_t)sd[0] * sd[1] * sd[2] * sd[3] * sizeof *s);
        return;
    }
    if (md[2] == sd[2] && md[3] == sd[3]) { /* no crop: rows of I * KH * KW floats */
        size_t row = (size_t)sd[1] * sd[2] * sd[3], mrow = (size_t)md[1] * md[2] * md[3];
        for (int o = 0; o < sd[0]; o++) memcpy(s + o * row, m + o * mrow, row * sizeof *s);
        return;
    }
    int oh = (md[2] - sd[2]) / 2, ow = (md[3] - sd[3]) / 2;
    for (int o = 0; o < sd[0]; o++)
        for (int i = 0; i < sd[1]; i++)
            for (int kh = 0; kh < sd[2]; kh++) {
                const float *src = m + (((size_t)o * md[1] + i) * md[2] + kh + oh) * md[3] + ow;
                float *dst = s + (((size_t)o * sd[1] + i) * sd[2] + kh) * sd[3];
                memcpy(dst, src, (size_t)sd[3] * sizeof *s);
            }
}

void nas_supernet_slice_add(float *m, const int md[4], const float *s, const int sd[4]) {
    int oh = (md[2] - sd[2]) / 2, ow = (md[3] - sd[3]) / 2;
    for (int o = 0; o < sd[0]; o++)
        for (int i = 0; i < sd[1]; i++)
            for (int kh = 0; kh < sd[2]; kh++) {
                float *dst = m + (((size_t)o * md[1] + i) * md[2] + kh + oh) * md[3] + ow;
                const float *src = s + (((size_t)o * sd[1] + i) * sd[2] + kh) * sd[3];
                for (int kw = 0; kw < sd[3]; kw++) dst[kw] += src[kw];
            }
}

/* master[slice] = sub (embedding a tensor into a grown one). */
static void slice_put(float *m, const int md[4], const float *s, const int sd[4]) {
    int oh = (md[2] - sd[2]) / 2, ow = (md[3] - sd[3]) / 2;
    for (int o = 0; o < sd[0]; o++)
        for (int i = 0; i < sd[1]; i++)
            for (int kh = 0; kh < sd[2]; kh++)
                memcpy(m + (((size_t)o * md[1] + i) * md[2] + kh + oh) * md[3] + ow,
                       s + (((size_t)o * sd[1] + i) * sd[2] + kh) * sd[3], (size_t)sd[3] * sizeof *s);
}

/* ------------------------------------------------------ rank statistics */

static int sgn(double v) { return (v > 0) - (v < 0); }

double nas_supernet_kendall_tau(const double *a, const double *b, int n) {
    double s = 0, ta = 0, tb = 0, n0 = (double)n * (n - 1) / 2;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            int da = sgn(a[i] - a[j]), db = sgn(b[i] - b[j]);
            s += da * db;
            ta += da == 0;
            tb += db == 0;
        }
    double den = sqrt((n0 - ta) * (n0 - tb));
    return den > 0 ? s / den : NAN;
}

/* Average ranks (1-based) of v into r. */
static void ranks(const double *v, double *r, int n) {
    for (int i = 0; i < n; i++) {
        int less = 0, eq = 0;
        for (int j = 0; j < n; j++) less += v[j] < v[i], eq += v[j] == v[i];
        r[i] = less + (eq + 1) / 2.0;
    }
}

double nas_supernet_spearman_rho(const double *a, const double *b, int n) {
    double *ra = malloc((size_t)n * sizeof *ra), *rb = malloc((size_t)n * sizeof *rb);
    double rho = NAN;
    if (!ra || !rb || n < 2) goto out;
    ranks(a, ra, n);
    ranks(b, rb, n);
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) ma += ra[i] / n, mb += rb[i] / n;
    for (int i = 0; i < n; i++) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    if (saa > 0 && sbb > 0) rho = sab / sqrt(saa * sbb);
out:
    free(ra);
    free(rb);
    return rho;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

void nas_supernet_kendall_tau_interval(const double *a, const double *b, int n, int rounds, double level, pcg32 *rng,
                                       double *lo, double *hi) {
    *lo = *hi = NAN;
    if (n < 3 || rounds < 1 || !(level > 0 && level < 1)) return;
    double *ra = malloc((size_t)n * sizeof *ra), *rb = malloc((size_t)n * sizeof *rb);
    double *taus = malloc((size_t)rounds * sizeof *taus);
    int got = 0;
    if (!ra || !rb || !taus) goto out;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < n; i++) {
            uint32_t k = pcg32_bounded(rng, (uint32_t)n);
            ra[i] = a[k], rb[i] = b[k];
        }
        double t = nas_supernet_kendall_tau(ra, rb, n);
        if (isfinite(t)) taus[got++] = t;
    }
    if (got * 2 < rounds) goto out;
    qsort(taus, (size_t)got, sizeof *taus, cmp_double);
    /* the (1 - level) / 2 and (1 + level) / 2 quantiles, nearest rank */
    double q = (1 - level) / 2;
    int i_lo = (int)floor(q * (got - 1) + 0.5), i_hi = (int)floor((1 - q) * (got - 1) + 0.5);
    *lo = taus[i_lo];
    *hi = taus[i_hi];
out:
    free(ra);
    free(rb);
    free(taus);
}

void nas_supernet_tau_ceiling(const double *acc, int n, int k, double *one, double *mean) {
    *one = *mean = NAN;
    if (k < 2 || n < 3) return;
    /* the noise: what neither the arch nor the seed explains (a shift of a
       whole seed moves no rank, so it is not noise), the two-way residual
       variance; the total: the variance of a seed's runs across the archs,
       averaged over the seeds */
    double *seed_mean = calloc((size_t)k, sizeof *seed_mean), grand = 0, noise = 0, total = 0;
    if (!seed_mean) return;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) seed_mean[j] += acc[i * k + j] / n;
    for (int j = 0; j < k; j++) grand += seed_mean[j] / k;
    for (int i = 0; i < n; i++) {
        double arch_mean = 0;
        for (int j = 0; j < k; j++) arch_mean += acc[i * k + j] / k;
        for (int j = 0; j < k; j++) {
            double d = acc[i * k + j] - seed_mean[j], r = d - arch_mean + grand;
            noise += r * r / ((double)(n - 1) * (k - 1));
            total += d * d / ((double)(n - 1) * k);
        }
    }
    free(seed_mean);
    if (!(total > 0)) return;
    double rel = total > noise ? 1 - noise / total : 0, rel_k = k * rel / (1 + (k - 1) * rel);
    *one = asin(sqrt(rel)) / asin(1.0); /* 2/pi asin */
    *mean = asin(sqrt(rel_k)) / asin(1.0);
}

/* ---------------------------------------------------------- config */

void nas_supernet_config_default(nas_supernet_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = 10;
    cfg->batch = 64;
    nas_optim_config_default(&cfg->optim, NAS_OPTIM_SGD);
    cfg->optim.momentum = 0.9;
    cfg->optim.nesterov = 1;
    cfg->optim.weight_decay = 5e-5;
    nas_lr_schedule_default(&cfg->lr, 0.05);
    cfg->lr.kind = NAS_LR_COSINE;
    cfg->augment_pad = -1;
    cfg->augment_flip = -1;
    cfg->discover = 2000;
    cfg->cache_nets = 1;
    cfg->path_steps = 1;
    snprintf(cfg->data_spec, sizeof cfg->data_spec, "fashion-mnist");
    cfg->val_fraction = 0.1;
    cfg->train_fraction = 1.0;
}

void nas_supernet_data_options(const nas_supernet_config *cfg, nas_data_options *opt) {
    nas_data_options_default(opt);
    opt->val_fraction = cfg->val_fraction;
    opt->train_fraction = cfg->train_fraction;
    opt->seed = cfg->data_seed;
}

void nas_supernet_score_options_default(nas_supernet_score_options *opt) {
    /* 2,560 recalibration images in batches of the training batch: as fast
       as 10 x 256 and a third of the memory (docs/benchmarks.md) */
    opt->batch = 64;
    opt->recal_batches = 40;
    opt->val_images = 0;
    opt->seed = 0;
    opt->finetune_steps = 0;
    opt->finetune_lr = 0.01;
}

nas_status sn_config_check(const nas_supernet_config *c, nas_error *err) {
    if (c->epochs < 1) return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: epochs must be >= 1, got %d", c->epochs);
    if (c->batch < 1) return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: batch must be >= 1, got %d", c->batch);
    if (c->cache_nets < 1) return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: cache_nets must be >= 1");
    if (c->path_steps < 1) return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: path_steps must be >= 1");
    if (c->discover < 0) return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: discover must be >= 0");
    if (!(c->warmup_epochs >= 0)) return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: warmup_epochs must be >= 0");
    if (!(c->lr.base_lr > 0)) return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: lr must be > 0");
    if (c->fair && c->sandwich)
        return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: the sandwich rule and fair sampling exclude each other");
    if (c->distill && !c->sandwich)
        return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: distillation needs the sandwich rule (its largest path teaches)");
    return NAS_OK;
}

/* ------------------------------------------------- weight keys and parts */

/* The trainable tensors of arch node i (running statistics excluded), named
 * "<part>.<tensor>" as the network names them (models/network.c), with
 * their 4-D shapes. Returns the count (0 for ops without weights). */
typedef struct part_info {
    char name[40];
    int dims[4];
    int decay;
} part_info;

#define PARTS_MAX 16

static void part_set(part_info *p, const char *part, const char *tensor, int o, int i, int kh, int kw,
                     int decay) {
    snprintf(p->name, sizeof p->name, "%s.%s", part, tensor);
    p->dims[0] = o, p->dims[1] = i, p->dims[2] = kh, p->dims[3] = kw;
    p->decay = decay;
}

static int add_conv(part_info *p, int n, const char *part, int o, int i, int k, int bias) {
    part_set(&p[n++], part, "weight", o, i, k, k, 1);
    if (bias) part_set(&p[n++], part, "bias", o, 1, 1, 1, 0);
    return n;
}

static int add_bn(part_info *p, int n, const char *part, int c) {
    part_set(&p[n++], part, "weight", c, 1, 1, 1, 0);
    part_set(&p[n++], part, "bias", c, 1, 1, 1, 0);
    return n;
}

static int node_parts(const nas_arch *a, int idx, part_info *p) {
    const nas_node *nd = &a->nodes[idx];
    if (nd->n_inputs < 1) return 0;
    const nas_node *in = &a->nodes[nd->inputs[0]];
    int C = in->c, n = 0;
    switch (nd->op) {
    case NAS_OP_CONV:
        return add_conv(p, 0, "conv", nd->out, C / (nd->groups > 0 ? nd->groups : 1), nd->kernel, nd->bias);
    case NAS_OP_BN: return add_bn(p, 0, "bn", C);
    case NAS_OP_FC:
        part_set(&p[n++], "fc", "weight", nd->out, C * in->h * in->w, 1, 1, 1);
        if (nd->bias) part_set(&p[n++], "fc", "bias", nd->out, 1, 1, 1, 0);
        return n;
    case NAS_OP_MBCONV: {
        int hidden = C * nd->expand, sq = hidden / 4 > 0 ? hidden / 4 : 1;
        if (nd->expand != 1) {
            n = add_conv(p, n, "expand", hidden, C, 1, 0);
            n = add_bn(p, n, "expand_bn", hidden);
        }
        n = add_conv(p, n, "dw", hidden, 1, nd->kernel, 0);
        n = add_bn(p, n, "dw_bn", hidden);
        if (nd->se) {
            n = add_conv(p, n, "se_reduce", sq, hidden, 1, 1);
            n = add_conv(p, n, "se_expand", hidden, sq, 1, 1);
        }
        n = add_conv(p, n, "project", nd->out, hidden, 1, 0);
        return add_bn(p, n, "project_bn", nd->out);
    }
    case NAS_OP_RESBLOCK:
        n = add_conv(p, n, "conv1", nd->out, C, nd->kernel, 0);
        n = add_bn(p, n, "bn1", nd->out);
        n = add_conv(p, n, "conv2", nd->out, nd->out, nd->kernel, 0);
        n = add_bn(p, n, "bn2", nd->out);
        if (nd->stride != 1 || C != nd->out) {
            n = add_conv(p, n, "shortcut", nd->out, C, 1, 0);
            n = add_bn(p, n, "shortcut_bn", nd->out);
        }
        return n;
    default: return 0;
    }
}

/* The key prefix of node i: "<scope>|<op>#<k>". */
static void node_key(const nas_arch *a, int i, char *out, size_t cap) {
    const nas_node *nd = &a->nodes[i];
    int k = 0;
    for (int j = 0; j < i; j++)
        k += a->nodes[j].op == nd->op && strcmp(a->nodes[j].scope, nd->scope) == 0;
    snprintf(out, cap, "%s|%s#%d", nd->scope, nas_op_name(nd->op), k);
}

/* out = a "." b, truncated to cap - 1 characters. */
static void join_key(char *out, size_t cap, const char *a, const char *b) {
    size_t n = 0;
    for (; *a && n + 1 < cap; a++) out[n++] = *a;
    if (n + 1 < cap) out[n++] = '.';
    for (; *b && n + 1 < cap; b++) out[n++] = *b;
    out[n] = 0;
}

static size_t dims_count(const int d[4]) { return (size_t)d[0] * d[1] * d[2] * d[3]; }

/* -------------------------------------------------- master tensor table */

static uint64_t key_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int sn_find(const nas_supernet *sn, const char *key) {
    if (!sn->index_cap) return -1;
    size_t mask = (size_t)sn->index_cap - 1;
    for (size_t h = key_hash(key) & mask;; h = (h + 1) & mask) {
        int v = sn->index[h];
        if (v == 0) return -1;
        if (strcmp(sn->t[v - 1]->key, key) == 0) return v - 1;
    }
}

static nas_status index_rebuild(nas_supernet *sn, nas_error *err) {
    int cap = 64;
    while (cap < 2 * sn->n_t + 2) cap *= 2;
    int *idx = calloc((size_t)cap, sizeof *idx);
    if (!idx) return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
    free(sn->index);
    sn->index = idx;
    sn->index_cap = cap;
    for (int i = 0; i < sn->n_t; i++) {
        size_t h = key_hash(sn->t[i]->key) & (size_t)(cap - 1);
        while (idx[h]) h = (h + 1) & (size_t)(cap - 1);
        idx[h] = i + 1;
    }
    return NAS_OK;
}

/* Kernel transform tensors are keyed "<conv weight key>.kt<k>" (k: the
 * kernel they make). */
static int is_kt_key(const char *key) {
    const char *dot = strrchr(key, '.');
    return dot && dot[1] == 'k' && dot[2] == 't' && dot[3] >= '1' && dot[3] <= '9';
}

static void join_key(char *out, size_t cap, const char *a, const char *b);

static void kt_key(char *out, size_t cap, const char *weight_key, int k) {
    char sfx[16];
    snprintf(sfx, sizeof sfx, "kt%d", k);
    join_key(out, cap, weight_key, sfx);
}

/* How many kernel transforms make a k x k kernel from a master of dims md
 * (square kernel K > k, K - k even, at most SN_KT_MAX steps); 0: a plain
 * slice. */
static int kt_steps(const int md[4], int k) {
    int K = md[2];
    if (md[3] != K || k >= K || (K - k) % 2 || (K - k) / 2 > SN_KT_MAX) return 0;
    return (K - k) / 2;
}

/* Records that t (a conv weight: decay, square kernel) was seen with a
 * kernel of dims[2]: the kernel transforms start from the smallest. */
static void note_kernel(sn_tensor *t, const int dims[4], int decay) {
    if (decay && dims[2] > 1 && dims[2] == dims[3] && (!t->min_k || dims[2] < t->min_k)) t->min_k = dims[2];
}

/* The first use of t in a step zeroes its gradient. */
static void tensor_touch(sn_tensor *t) {
    if (t->touched) return;
    memset(t->dw, 0, t->n * sizeof *t->dw);
    t->touched = 1;
}

static void tensor_free(sn_tensor *t) {
    if (!t) return;
    nas_optim_destroy(t->opt);
    free(t->w);
    free(t->dw);
    free(t);
}

/* Fills w with the tensor's initial values: He normal N(0, 2 / fan_in) for
 * conv/fc weights (fan_in from the master shape), 1 for BatchNorm weights,
 * 0 for biases. */
static void tensor_init_values(const sn_tensor *t, float *w, pcg32 *rng) {
    size_t n = dims_count(t->dims);
    size_t len = strlen(t->key);
    if (is_kt_key(t->key)) { /* a kernel transform starts as the identity: the plain centre crop */
        memset(w, 0, n * sizeof *w);
        for (int r = 0; r < t->dims[2]; r++) w[(size_t)r * t->dims[3] + r] = 1.0f;
        return;
    }
    /* weights without decay are BatchNorm scales; biases end in ".bias" */
    int is_bn_weight = !t->decay && len > 7 && strcmp(t->key + len - 7, ".weight") == 0;
    if (t->decay) {
        double sd = sqrt(2.0 / ((double)t->dims[1] * t->dims[2] * t->dims[3]));
        for (size_t i = 0; i < n; i++) w[i] = (float)(sd * pcg32_normal(rng));
    } else {
        for (size_t i = 0; i < n; i++) w[i] = is_bn_weight ? 1.0f : 0.0f;
    }
}

/* Allocates values, gradient and optimizer of t (dims set). */
nas_status sn_tensor_alloc(nas_supernet *sn, sn_tensor *t, pcg32 *rng, nas_error *err) {
    t->n = dims_count(t->dims);
    t->w = malloc(t->n * sizeof *t->w);
    t->dw = calloc(t->n, sizeof *t->dw);
    if (!t->w || !t->dw) return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory for %s", t->key);
    tensor_init_values(t, t->w, rng);
    memset(&t->p, 0, sizeof t->p);
    snprintf(t->p.name, sizeof t->p.name, "w");
    t->p.w = t->w;
    t->p.dw = t->dw;
    t->p.n = t->n;
    t->p.decay = t->decay;
    return nas_optim_create(&sn->cfg.optim, &t->p, 1, &t->opt, err);
}

/* Appends a tensor record (no storage). Returns its index or -1. */
int sn_tensor_add(nas_supernet *sn, const char *key, const int dims[4], int decay, nas_error *err) {
    if (sn->n_t == sn->cap_t) {
        int cap = sn->cap_t ? sn->cap_t * 2 : 64;
        sn_tensor **p = realloc(sn->t, (size_t)cap * sizeof *p);
        if (!p) goto nomem;
        sn->t = p;
        sn->cap_t = cap;
    }
    sn_tensor *t = calloc(1, sizeof *t);
    if (!t) goto nomem;
    snprintf(t->key, sizeof t->key, "%s", key);
    memcpy(t->dims, dims, sizeof t->dims);
    t->decay = decay;
    sn->t[sn->n_t++] = t;
    if (2 * sn->n_t + 2 > sn->index_cap) {
        if (index_rebuild(sn, err)) return -1;
    } else {
        size_t mask = (size_t)sn->index_cap - 1, h = key_hash(key) & mask;
        while (sn->index[h]) h = (h + 1) & mask;
        sn->index[h] = sn->n_t;
    }
    return sn->n_t - 1;
nomem:
    NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
    return -1;
}

/* Replaces a one-param optimizer state blob of old dims by one of new dims
 * (the old buffers embedded as slices, the rest zero), keeping the step
 * count. Layout (models/optim.h, docs/formats.md): 28-byte header
 * with the buffer count at 12, then name length u32, name, element count
 * u64, then the buffers. Returns 0 if the blob is not of that shape. */
static int blob_embed(const unsigned char *old, size_t old_len, const int od[4], unsigned char *nb,
                      size_t new_len, const int nd[4]) {
    size_t on = dims_count(od), nn = dims_count(nd);
    if (old_len < 33) return 0;
    uint32_t nbuf = (uint32_t)old[12] | (uint32_t)old[13] << 8 | (uint32_t)old[14] << 16 | (uint32_t)old[15] << 24;
    uint32_t name_len = (uint32_t)old[28] | (uint32_t)old[29] << 8 | (uint32_t)old[30] << 16 | (uint32_t)old[31] << 24;
    size_t hdr = 28 + 4 + name_len + 8;
    if (nbuf > 2 || old_len != hdr + 4 * on * nbuf || new_len != hdr + 4 * nn * nbuf) return 0;
    memcpy(nb + 20, old + 20, 8); /* the step count */
    float *a = malloc((on ? on : 1) * sizeof *a), *b = calloc(nn ? nn : 1, sizeof *b);
    int ok = a && b;
    for (uint32_t k = 0; ok && k < nbuf; k++) {
        memcpy(a, old + hdr + 4 * on * k, 4 * on); /* little-endian hosts only (x86, arm) */
        memset(b, 0, nn * sizeof *b);
        slice_put(b, nd, a, od);
        memcpy(nb + hdr + 4 * nn * k, b, 4 * nn);
    }
    free(a);
    free(b);
    return ok;
}

/* Grows tensor t to dims (elementwise max with its own): new parts are
 * initialised as at creation, old values and optimizer state keep their
 * slice positions. */
static nas_status tensor_grow(nas_supernet *sn, sn_tensor *t, const int dims[4], nas_error *err) {
    int od[4], nd[4];
    memcpy(od, t->dims, sizeof od);
    for (int k = 0; k < 4; k++) nd[k] = dims[k] > od[k] ? dims[k] : od[k];
    size_t nn = dims_count(nd), ol = nas_optim_state_size(t->opt), nl;
    float *w = malloc(nn * sizeof *w), *dw = calloc(nn, sizeof *dw);
    unsigned char *ob = malloc(ol), *nb = NULL;
    nas_optim *old = t->opt;
    nas_status s = NAS_OK;
    if (!w || !dw || !ob) goto nomem;
    nas_optim_state_save(old, ob);
    memcpy(t->dims, nd, sizeof nd);
    tensor_init_values(t, w, &sn->init_rng);
    slice_put(w, nd, t->w, od);
    free(t->w);
    free(t->dw);
    t->w = t->p.w = w;
    t->dw = t->p.dw = dw;
    t->n = t->p.n = nn;
    w = dw = NULL;
    t->opt = NULL;
    if ((s = nas_optim_create(&sn->cfg.optim, &t->p, 1, &t->opt, err))) goto fail;
    nl = nas_optim_state_size(t->opt);
    if (!(nb = malloc(nl))) goto nomem;
    nas_optim_state_save(t->opt, nb);
    if (!blob_embed(ob, ol, od, nb, nl, nd) || nas_optim_state_load(t->opt, nb, nl, "grown tensor", 0, NULL))
        NAS_WARN(sn->cfg.lg, "supernet: optimizer state of %s restarted after growing it", t->key);
    NAS_INFO(sn->cfg.lg, "supernet: grew %s to %dx%dx%dx%d", t->key, nd[0], nd[1], nd[2], nd[3]);
    goto fail;
nomem:
    s = NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory growing %s", t->key);
fail:
    nas_optim_destroy(old);
    free(w);
    free(dw);
    free(ob);
    free(nb);
    return s;
}

/* Makes sure key exists with at least dims. During discovery (no storage
 * yet) only records the largest shape; afterwards allocates or grows, unless
 * `frozen` (scoring), where a missing or larger tensor is an error. */
static nas_status ensure_tensor(nas_supernet *sn, const char *key, const int dims[4], int decay, int frozen,
                                int *out, nas_error *err) {
    int i = sn_find(sn, key);
    if (i < 0) {
        if (frozen)
            return NAS_FAIL(err, NAS_ERR_MISMATCH,
                            "the supernet has no weights for %s (is the arch from this space?)", key);
        if ((i = sn_tensor_add(sn, key, dims, decay, err)) < 0) return err ? err->code : NAS_ERR_NOMEM;
        note_kernel(sn->t[i], dims, decay);
        if (sn->allocated) {
            nas_status s = sn_tensor_alloc(sn, sn->t[i], &sn->init_rng, err);
            if (s) return s;
            NAS_INFO(sn->cfg.lg, "supernet: new tensor %s", key);
        }
        *out = i;
        return NAS_OK;
    }
    sn_tensor *t = sn->t[i];
    note_kernel(t, dims, decay);
    int bigger = 0;
    for (int k = 0; k < 4; k++) bigger |= dims[k] > t->dims[k];
    if (bigger) {
        if (frozen)
            return NAS_FAIL(err, NAS_ERR_MISMATCH,
                            "%s is %dx%dx%dx%d, larger than the supernet's %dx%dx%dx%d (is the arch from this space?)",
                            key, dims[0], dims[1], dims[2], dims[3], t->dims[0], t->dims[1], t->dims[2], t->dims[3]);
        if (!sn->allocated) {
            for (int k = 0; k < 4; k++)
                if (dims[k] > t->dims[k]) t->dims[k] = dims[k];
        } else {
            nas_status s = tensor_grow(sn, t, dims, err);
            if (s) return s;
        }
    }
    *out = i;
    return NAS_OK;
}

/* Records every trainable tensor of arch (discovery, or growth in training). */
static nas_status register_arch(nas_supernet *sn, const nas_arch *a, nas_error *err) {
    part_info parts[PARTS_MAX];
    char base[SN_KEY_MAX], key[SN_KEY_MAX + 48];
    for (int i = 1; i < a->n_nodes; i++) {
        int np = node_parts(a, i, parts);
        if (!np) continue;
        node_key(a, i, base, sizeof base);
        for (int k = 0; k < np; k++) {
            join_key(key, sizeof key, base, parts[k].name);
            int idx;
            nas_status s = ensure_tensor(sn, key, parts[k].dims, parts[k].decay, 0, &idx, err);
            if (s) return s;
        }
    }
    return NAS_OK;
}

/* Total trainable elements of an arch (the size used by the greedy search). */
static double arch_weights(const nas_arch *a) {
    part_info parts[PARTS_MAX];
    double total = 0;
    for (int i = 1; i < a->n_nodes; i++) {
        int np = node_parts(a, i, parts);
        for (int k = 0; k < np; k++) total += (double)dims_count(parts[k].dims);
    }
    return total;
}

/* Realizes point; NULL (and err cleared) when the point's network is impossible. */
static nas_arch *try_realize(const ss_space *s, const double *pt) {
    nas_arch *a = NULL;
    nas_error e = {0};
    if (ss_space_realize(s, pt, &a, &e)) return NULL;
    return a;
}

/* Greedy coordinate search for the point with the most (largest = 1) or
 * fewest weights: two passes over the decisions, each trying every value of
 * a choice and both ends of an int range. */
static nas_status greedy_point(const ss_space *s, int largest, double *best, nas_error *err) {
    double *cand = ss_point_alloc(s);
    if (!cand) return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
    for (int d = 0; d < s->n_decisions; d++) {
        const ss_domain *dom = &s->decisions[d].dom;
        best[d] = dom->kind == SS_DOMAIN_CHOICE ? 0 : dom->kind == SS_DOMAIN_INT ? (double)dom->lo : dom->flo;
    }
    nas_arch *a = try_realize(s, best);
    double score = a ? arch_weights(a) : (largest ? -1 : INFINITY);
    nas_arch_destroy(a);
    for (int pass = 0; pass < 2; pass++)
        for (int d = 0; d < s->n_decisions; d++) {
            const ss_decision *dec = &s->decisions[d];
            if (dec->is_hparam || !ss_decision_is_active(s, best, d)) continue;
            int nv = dec->dom.kind == SS_DOMAIN_CHOICE ? dec->dom.n : dec->dom.kind == SS_DOMAIN_INT ? 2 : 0;
            for (int v = 0; v < nv; v++) {
                memcpy(cand, best, (size_t)s->n_decisions * sizeof *cand);
                cand[d] = dec->dom.kind == SS_DOMAIN_CHOICE ? v : (double)(v ? dec->dom.hi : dec->dom.lo);
                ss_space_canonicalize(s, cand);
                if ((a = try_realize(s, cand)) == NULL) continue;
                double w = arch_weights(a);
                nas_arch_destroy(a);
                if (largest ? w > score : w < score) {
                    score = w;
                    memcpy(best, cand, (size_t)s->n_decisions * sizeof *cand);
                }
            }
        }
    free(cand);
    if (!isfinite(score) || score < 0)
        return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: the space %s has no realizable network", s->name);
    return NAS_OK;
}

nas_status nas_supernet_sample(const nas_supernet *sn, pcg32 *rng, double *point, nas_arch **out,
                               nas_error *err) {
    const ss_space *s = sn->space;
    double *pt = ss_point_alloc(s);
    nas_status st = NAS_OK;
    *out = NULL;
    if (!pt) return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
    for (int tries = 0; tries < 100; tries++) {
        ss_space_sample(s, rng, pt);
        if ((st = ss_space_realize(s, pt, out, err)) == NAS_OK) break;
        if (st != NAS_ERR_INVALID) break;
    }
    if (!st && point) memcpy(point, pt, (size_t)s->n_decisions * sizeof *pt);
    free(pt);
    return st;
}

int nas_supernet_fair_paths(const nas_supernet *sn) {
    const ss_space *s = sn->space;
    uint64_t most = 1;
    for (int d = 0; d < s->n_decisions; d++) {
        const ss_decision *dec = &s->decisions[d];
        if (dec->is_hparam || dec->dom.kind == SS_DOMAIN_FLOAT) continue;
        uint64_t k = ss_domain_size(&dec->dom);
        if (k > most) most = k;
    }
    return most > NAS_SUPERNET_FAIR_MAX ? NAS_SUPERNET_FAIR_MAX : (int)most;
}

/* seq[0..n): the option indices 0..k-1 for n points, each option
 * floor(n / k) times and the remainder uniform when k <= n, else n distinct
 * ones; shuffled. */
static void fair_options(pcg32 *rng, uint64_t k, int n, int64_t *seq) {
    for (int j = 0; j < n; j++) {
        if (k <= (uint64_t)n) {
            seq[j] = (uint64_t)j < (uint64_t)n / k * k ? (int64_t)(j % k) : pcg32_range(rng, 0, (int64_t)k - 1);
            continue;
        }
        for (;;) { /* distinct: n <= NAS_SUPERNET_FAIR_MAX draws */
            int64_t v = pcg32_range(rng, 0, (int64_t)(k > (uint64_t)INT64_MAX ? INT64_MAX : k - 1));
            int dup = 0;
            for (int i = 0; i < j; i++) dup |= seq[i] == v;
            if (!dup) {
                seq[j] = v;
                break;
            }
        }
    }
    for (int j = n - 1; j > 0; j--) {
        int i = (int)pcg32_bounded(rng, (uint32_t)j + 1);
        int64_t t = seq[i];
        seq[i] = seq[j], seq[j] = t;
    }
}

nas_status nas_supernet_sample_fair(const nas_supernet *sn, pcg32 *rng, int n, double *points, nas_arch **out,
                                    nas_error *err) {
    const ss_space *s = sn->space;
    int nd = s->n_decisions;
    nas_status st = NAS_OK;
    if (n < 1 || n > NAS_SUPERNET_FAIR_MAX)
        return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: %d fair paths asked, 1..%d possible", n, NAS_SUPERNET_FAIR_MAX);
    for (int j = 0; j < n; j++) out[j] = NULL;
    double *pts = malloc((size_t)n * (nd ? nd : 1) * sizeof *pts);
    if (!pts) return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
    for (int j = 0; j < n; j++) ss_space_sample(s, rng, pts + (size_t)j * nd);
    int64_t seq[NAS_SUPERNET_FAIR_MAX];
    for (int d = 0; d < nd; d++) {
        const ss_decision *dec = &s->decisions[d];
        if (dec->is_hparam || dec->dom.kind == SS_DOMAIN_FLOAT) continue;
        fair_options(rng, ss_domain_size(&dec->dom), n, seq);
        for (int j = 0; j < n; j++)
            pts[(size_t)j * nd + d] = dec->dom.kind == SS_DOMAIN_CHOICE ? (double)seq[j] : (double)(dec->dom.lo + seq[j]);
    }
    for (int j = 0; j < n && !st; j++) {
        double *pt = pts + (size_t)j * nd;
        ss_space_canonicalize(s, pt);
        for (int tries = 0; tries < 100; tries++) {
            if ((st = ss_space_realize(s, pt, &out[j], err)) != NAS_ERR_INVALID) break;
            ss_space_sample(s, rng, pt);
        }
    }
    if (st)
        for (int j = 0; j < n; j++) nas_arch_destroy(out[j]), out[j] = NULL;
    else if (points)
        memcpy(points, pts, (size_t)n * nd * sizeof *pts);
    free(pts);
    return st;
}

nas_status nas_supernet_extreme(const nas_supernet *sn, int largest, nas_arch **out, nas_error *err) {
    return ss_space_realize(sn->space, largest ? sn->largest : sn->smallest, out, err);
}

/* ---------------------------------------------------- create / destroy */

nas_status sn_alloc(const ss_space *space, const nas_supernet_config *cfg, nas_supernet **out,
                    nas_error *err) {
    *out = NULL;
    nas_status s = sn_config_check(cfg, err);
    if (s) return s;
    if (!space->tmpl || space->in_c <= 0)
        return NAS_FAIL(err, NAS_ERR_INVALID, "supernet: the space %s has no network (hyperparameters only?)",
                        space->name);
    nas_supernet *sn = calloc(1, sizeof *sn);
    if (!sn) return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
    sn->space = space;
    sn->cfg = *cfg;
    sn->cache = calloc((size_t)cfg->cache_nets, sizeof *sn->cache);
    for (int i = 0; sn->cache && i < cfg->cache_nets; i++)
        nas_arena_init(&sn->cache[i].arena, SN_ARENA_CHUNK);
    sn->largest = ss_point_alloc(space);
    sn->smallest = ss_point_alloc(space);
    if (!sn->cache || !sn->largest || !sn->smallest) {
        nas_supernet_destroy(sn);
        return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
    }
    pcg32_seed(&sn->init_rng, cfg->seed, 11);
    pcg32_seed(&sn->sample_rng, cfg->seed, 12);
    pcg32_seed(&sn->drop_rng, cfg->seed, 13);
    if ((s = greedy_point(space, 1, sn->largest, err)) || (s = greedy_point(space, 0, sn->smallest, err))) {
        nas_supernet_destroy(sn);
        return s;
    }
    if ((s = ss_space_realize(space, sn->largest, &sn->big, err)) ||
        (s = ss_space_realize(space, sn->smallest, &sn->small, err))) {
        nas_supernet_destroy(sn);
        return s;
    }
    *out = sn;
    return NAS_OK;
}

nas_status nas_supernet_create(const ss_space *space, const nas_supernet_config *cfg, nas_supernet **out,
                               nas_error *err) {
    nas_supernet *sn;
    nas_status s = sn_alloc(space, cfg, &sn, err);
    if (s) return s;
    /* discovery: the extremes, then random points */
    if ((s = register_arch(sn, sn->big, err)) || (s = register_arch(sn, sn->small, err))) goto fail;
    pcg32 drng;
    pcg32_seed(&drng, cfg->seed, 14);
    for (int i = 0; i < cfg->discover; i++) {
        nas_arch *a;
        if (nas_supernet_sample(sn, &drng, NULL, &a, err)) continue;
        s = register_arch(sn, a, err);
        nas_arch_destroy(a);
        if (s) goto fail;
    }
    nas_error_clear(err);
    if (cfg->kernel_transform) { /* one transform per layer and smaller kernel */
        for (int i = 0, n = sn->n_t; i < n; i++) {
            const sn_tensor *t = sn->t[i];
            int K = t->dims[2];
            if (!t->min_k || !kt_steps(t->dims, t->min_k)) continue;
            for (int k = K - 2; k >= t->min_k; k -= 2) {
                char key[SN_KEY_MAX];
                kt_key(key, sizeof key, t->key, k);
                if (sn_tensor_add(sn, key, (const int[4]){1, 1, k * k, k * k}, 0, err) < 0) {
                    s = err ? err->code : NAS_ERR_NOMEM;
                    goto fail;
                }
            }
        }
    }
    for (int i = 0; i < sn->n_t; i++)
        if ((s = sn_tensor_alloc(sn, sn->t[i], &sn->init_rng, err))) goto fail;
    sn->allocated = 1;
    NAS_INFO(cfg->lg, "supernet over %s: %d shared tensors, %zu weights", space->name, sn->n_t,
             nas_supernet_float_count(sn));
    *out = sn;
    return NAS_OK;
fail:
    nas_supernet_destroy(sn);
    return s;
}

void nas_supernet_destroy(nas_supernet *sn) {
    if (!sn) return;
    for (int i = 0; i < sn->n_t; i++) tensor_free(sn->t[i]);
    free(sn->t);
    free(sn->index);
    for (int i = 0; i < sn->cfg.cache_nets && sn->cache; i++) {
        nas_net_destroy(sn->cache[i].net);
        nas_arena_deinit(&sn->cache[i].arena);
    }
    free(sn->cache);
    free(sn->map);
    free(sn->largest);
    free(sn->smallest);
    nas_arch_destroy(sn->big);
    nas_arch_destroy(sn->small);
    free(sn->kt_buf);
    free(sn->step_times);
    free(sn->teacher);
    free(sn);
}

const nas_supernet_config *nas_supernet_get_config(const nas_supernet *sn) { return &sn->cfg; }
int nas_supernet_epoch(const nas_supernet *sn) { return sn->epoch; }
uint64_t nas_supernet_steps(const nas_supernet *sn) { return sn->steps; }
int nas_supernet_tensor_count(const nas_supernet *sn) { return sn->n_t; }
void nas_supernet_set_epochs(nas_supernet *sn, int epochs) { sn->cfg.epochs = epochs; }

size_t nas_supernet_float_count(const nas_supernet *sn) {
    size_t n = 0;
    for (int i = 0; i < sn->n_t; i++) n += dims_count(sn->t[i]->dims);
    return n;
}

const char *nas_supernet_tensor(const nas_supernet *sn, int i, int dims[4], const float **w) {
    if (i < 0 || i >= sn->n_t) return NULL;
    if (dims) memcpy(dims, sn->t[i]->dims, 4 * sizeof *dims);
    if (w) *w = sn->t[i]->w;
    return sn->t[i]->key;
}

/* ------------------------------------------------------- network cache */

/* The network of arch for (batch, flags), from the LRU cache or built in
 * the victim slot's arena, where the previous network's memory is still
 * resident, without drawing initial weights (the master weights are copied
 * in). The net stays owned by the cache. */
static nas_status get_net(nas_supernet *sn, const nas_arch *a, int batch, unsigned flags, nas_net **out,
                          nas_error *err) {
    uint64_t h = nas_arch_hash(a);
    int victim = 0;
    sn->clock++;
    for (int i = 0; i < sn->cfg.cache_nets; i++) {
        sn_net *c = &sn->cache[i];
        if (c->net && c->hash == h && c->batch == batch && c->flags == flags) {
            c->last_use = sn->clock;
            *out = c->net;
            return NAS_OK;
        }
        if (!c->net || (sn->cache[victim].net && c->last_use < sn->cache[victim].last_use)) victim = i;
    }
    sn_net *c = &sn->cache[victim];
    nas_net_destroy(c->net);
    c->net = NULL;
    nas_arena_reset(&c->arena);
    nas_status s = nas_net_create_in(a, batch, flags | NAS_NET_NO_INIT, &c->arena, NULL, &c->net, err);
    if (s) return s;
    c->hash = h, c->batch = batch, c->flags = flags, c->last_use = sn->clock;
    *out = c->net;
    return NAS_OK;
}

/* Maps every trainable param of net (built from a) to its master tensor and
 * sub-shape in sn->map (param order); running statistics map to -1. */
static nas_status map_params(nas_supernet *sn, const nas_arch *a, nas_net *net, int frozen, nas_error *err) {
    nas_param *params;
    int n;
    nas_net_params(net, &params, &n);
    if (n > sn->map_cap) {
        sn_map *m = realloc(sn->map, (size_t)n * sizeof *m);
        if (!m) return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
        sn->map = m;
        sn->map_cap = n;
    }
    part_info parts[PARTS_MAX];
    char base[SN_KEY_MAX], key[SN_KEY_MAX + 48];
    int cur_node = -1, np = 0;
    for (int k = 0; k < n; k++) {
        const char *name = params[k].name, *dot = strchr(name, '.');
        sn->map[k].tensor = -1;
        int node = name[0] == 'n' ? atoi(name + 1) : -1;
        if (!dot || node < 1 || node >= a->n_nodes)
            return NAS_FAIL(err, NAS_ERR_INTERNAL, "supernet: unexpected parameter name %s", name);
        const char *rest = dot + 1;
        if (strstr(rest, "running_mean") || strstr(rest, "running_var")) continue;
        if (node != cur_node) {
            cur_node = node;
            np = node_parts(a, node, parts);
            node_key(a, node, base, sizeof base);
        }
        int j = 0;
        while (j < np && strcmp(parts[j].name, rest) != 0) j++;
        if (j == np || dims_count(parts[j].dims) != params[k].n)
            return NAS_FAIL(err, NAS_ERR_INTERNAL,
                            "supernet: parameter %s (%zu floats) does not match the supernet's layout table", name,
                            params[k].n);
        join_key(key, sizeof key, base, rest);
        int ti;
        nas_status s = ensure_tensor(sn, key, parts[j].dims, parts[j].decay, frozen, &ti, err);
        if (s) return s;
        sn_map *m = &sn->map[k];
        m->tensor = ti;
        memcpy(m->dims, parts[j].dims, sizeof parts[j].dims);
        m->n_kt = 0;
        const int *d = m->dims;
        int steps = sn->cfg.kernel_transform && parts[j].decay && d[2] == d[3] ? kt_steps(sn->t[ti]->dims, d[2]) : 0;
        for (int st = 1; st <= steps; st++) {
            int kk = sn->t[ti]->dims[2] - 2 * st;
            char tk[SN_KEY_MAX];
            kt_key(tk, sizeof tk, key, kk);
            s = ensure_tensor(sn, tk, (const int[4]){1, 1, kk * kk, kk * kk}, 0, frozen, &m->kt[m->n_kt], err);
            if (s) return s;
            m->n_kt++;
        }
    }
    return NAS_OK;
}

/* ------------------------------------------------- kernel transforms */

/* The kernel transforms (Once-for-All): a k x k kernel of a master whose
 * kernel is K > k is made in steps K -> K-2 -> ... -> k, each the centre
 * (k' x k') of the previous kernel times the step's k'^2 x k'^2 matrix T,
 * one T per layer and kernel size, shared by every (out, in) channel pair:
 *   w_j[oi] = T_j c_j[oi],  c_j = centre crop of w_{j-1},  w_{-1} = master.
 * kt_chain fills buf with the master's channel slice at the full kernel,
 * then c_j and w_j for every step (the last w_j is the sub-kernel), and
 * returns the c_j offsets in c[] (w_j follows c_j). kt_scratch sizes buf
 * for it plus two O x I x K^2 gradient buffers (kt_add_grad). */
static float *kt_scratch(nas_supernet *sn, const sn_map *m, int K) {
    size_t oi = (size_t)m->dims[0] * m->dims[1], need = 3 * oi * K * K;
    for (int kk = K - 2; kk >= m->dims[2]; kk -= 2) need += 2 * oi * kk * kk;
    if (need > sn->kt_cap) {
        float *b = realloc(sn->kt_buf, need * sizeof *b);
        if (!b) return NULL;
        sn->kt_buf = b;
        sn->kt_cap = need;
    }
    return sn->kt_buf;
}

static void kt_chain(const nas_supernet *sn, const sn_tensor *t, const sn_map *m, float *buf, float **c) {
    int O = m->dims[0], I = m->dims[1], K = t->dims[2];
    size_t oi = (size_t)O * I;
    int full[4] = {O, I, K, K};
    nas_supernet_slice_get(t->w, t->dims, buf, full);
    float *prev = buf, *p = buf + oi * K * K;
    for (int j = 0; j < m->n_kt; j++) {
        int k = K - 2 * (j + 1), kk = k * k, from[4] = {O, I, k + 2, k + 2}, to[4] = {O, I, k, k};
        c[j] = p;
        nas_supernet_slice_get(prev, from, c[j], to);
        float *w = p + oi * kk;
        const float *T = sn->t[m->kt[j]]->w;
        for (size_t q = 0; q < oi; q++) {
            const float *cv = c[j] + q * kk;
            float *wv = w + q * kk;
            for (int r = 0; r < kk; r++) {
                double acc = 0;
                for (int x = 0; x < kk; x++) acc += (double)T[(size_t)r * kk + x] * cv[x];
                wv[r] = (float)acc;
            }
        }
        prev = w;
        p = w + oi * kk;
    }
}

/* The sub-kernel of m into out (m->n_kt > 0). Returns 0 out of memory. */
static int kt_get(nas_supernet *sn, const sn_tensor *t, const sn_map *m, float *out) {
    float *buf = kt_scratch(sn, m, t->dims[2]), *c[SN_KT_MAX];
    if (!buf) return 0;
    kt_chain(sn, t, m, buf, c);
    size_t n = (size_t)m->dims[0] * m->dims[1] * m->dims[2] * m->dims[3];
    memcpy(out, c[m->n_kt - 1] + n, n * sizeof *out); /* the last w_j follows its c_j */
    return 1;
}

/* Adds the gradient g of the sub-kernel to the master's and to every T's:
 * dT_j += sum_oi g_j[oi] c_j[oi]^T, g_{j-1} = centre-embed(T_j^T g_j).
 * Gradients of tensors not yet touched this step are zeroed first. */
static int kt_add_grad(nas_supernet *sn, sn_tensor *t, const sn_map *m, const float *g) {
    int O = m->dims[0], I = m->dims[1], K = t->dims[2];
    size_t oi = (size_t)O * I;
    float *buf = kt_scratch(sn, m, K), *c[SN_KT_MAX];
    if (!buf) return 0;
    kt_chain(sn, t, m, buf, c);
    float *ga = c[m->n_kt - 1] + 2 * oi * m->dims[2] * m->dims[2], *gb = ga + oi * K * K; /* 2 x O I K^2 free */
    memcpy(ga, g, oi * m->dims[2] * m->dims[2] * sizeof *ga);
    for (int j = m->n_kt - 1; j >= 0; j--) {
        int k = K - 2 * (j + 1), kk = k * k, from[4] = {O, I, k, k}, to[4] = {O, I, k + 2, k + 2};
        sn_tensor *tt = sn->t[m->kt[j]];
        tensor_touch(tt);
        const float *T = tt->w;
        float *dT = tt->dw;
        for (int r = 0; r < kk; r++)
            for (int x = 0; x < kk; x++) {
                double acc = 0;
                for (size_t q = 0; q < oi; q++) acc += (double)ga[q * kk + r] * c[j][q * kk + x];
                dT[(size_t)r * kk + x] += (float)acc;
            }
        /* dc = T^T g, into the middle of a zeroed (k+2)^2 kernel */
        float *dc = c[j]; /* c_j is no longer needed: reuse it for T^T g */
        for (size_t q = 0; q < oi; q++)
            for (int x = 0; x < kk; x++) {
                double acc = 0;
                for (int r = 0; r < kk; r++) acc += (double)T[(size_t)r * kk + x] * ga[q * kk + r];
                dc[q * kk + x] = (float)acc;
            }
        memset(gb, 0, oi * (k + 2) * (k + 2) * sizeof *gb);
        nas_supernet_slice_add(gb, to, dc, from);
        float *sw = ga;
        ga = gb, gb = sw;
    }
    tensor_touch(t);
    int full[4] = {O, I, K, K};
    nas_supernet_slice_add(t->dw, t->dims, ga, full);
    return 1;
}

static nas_status copy_in(nas_supernet *sn, nas_net *net, nas_error *err) {
    nas_param *params;
    int n;
    nas_net_params(net, &params, &n);
    for (int k = 0; k < n; k++) {
        const sn_map *m = &sn->map[k];
        if (m->tensor < 0) continue;
        const sn_tensor *t = sn->t[m->tensor];
        if (m->n_kt) {
            if (!kt_get(sn, t, m, params[k].w)) return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
        } else {
            nas_supernet_slice_get(t->w, t->dims, params[k].w, m->dims);
        }
    }
    return NAS_OK;
}

/* ------------------------------------------------------------- training */

/* The teacher's targets: softmax of net's last logits into sn->teacher. */
static nas_status teacher_targets(nas_supernet *sn, nas_net *net, nas_error *err) {
    int N = nas_net_batch(net), K = nas_net_classes(net);
    if (!sn->teacher && !(sn->teacher = malloc((size_t)N * K * sizeof *sn->teacher)))
        return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
    const float *z = nas_net_logits(net);
    for (int n = 0; n < N; n++) {
        const float *zn = z + (size_t)n * K;
        float *t = sn->teacher + (size_t)n * K;
        float mx = zn[0];
        for (int k = 1; k < K; k++) mx = zn[k] > mx ? zn[k] : mx;
        double sum = 0;
        for (int k = 0; k < K; k++) sum += exp((double)(zn[k] - mx));
        for (int k = 0; k < K; k++) t[k] = (float)(exp((double)(zn[k] - mx)) / sum);
    }
    return NAS_OK;
}

nas_status nas_supernet_step(nas_supernet *sn, const nas_arch *const *archs, int n_archs, const float *x,
                             const int *y, double lr, double *loss, nas_error *err) {
    nas_status s = NAS_OK;
    double loss_sum = 0;
    sn->step_correct = 0;
    for (int i = 0; i < sn->n_t; i++) sn->t[i]->touched = 0;
    for (int p = 0; p < n_archs; p++) {
        const nas_arch *a = archs[p];
        nas_net *net;
        if ((s = get_net(sn, a, sn->cfg.batch, NAS_NET_GRADS, &net, err))) return s;
        if ((s = map_params(sn, a, net, 0, err))) return s;
        if ((s = copy_in(sn, net, err))) return s;
        if ((s = nas_net_forward(net, x, 1, &sn->drop_rng, err))) return s;
        const int distill = sn->cfg.distill && n_archs > 1;
        if (distill && p == 0 && (s = teacher_targets(sn, net, err))) return s;
        if ((s = nas_net_backward_soft(net, y, distill && p > 0 ? sn->teacher : NULL, err))) return s;
        loss_sum += nas_net_loss(net);
        sn->step_correct += nas_net_correct(net);
        nas_param *params;
        int n;
        nas_net_params(net, &params, &n);
        for (int k = 0; k < n; k++) {
            const sn_map *m = &sn->map[k];
            if (m->tensor < 0 || !params[k].dw) continue;
            sn_tensor *t = sn->t[m->tensor];
            if (m->n_kt) {
                if (!kt_add_grad(sn, t, m, params[k].dw)) return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
                continue;
            }
            tensor_touch(t);
            nas_supernet_slice_add(t->dw, t->dims, params[k].dw, m->dims);
        }
    }
    double mean = n_archs ? loss_sum / n_archs : NAN;
    if (!isfinite(mean))
        return NAS_FAIL(err, NAS_ERR_INVALID, "supernet training diverged: loss is %g at step %llu (lower the lr?)",
                        mean, (unsigned long long)sn->steps + 1);
    for (int i = 0; i < sn->n_t; i++)
        if (sn->t[i]->touched) nas_optim_step(sn->t[i]->opt, lr);
    sn->steps++;
    if (loss) *loss = mean;
    return NAS_OK;
}

nas_status nas_supernet_train(nas_supernet *sn, const nas_data *data, const char *dir, nas_supernet_result *res,
                              nas_error *err) {
    const nas_supernet_config *cfg = &sn->cfg;
    const nas_dataset *tr = &data->train;
    nas_status s = NAS_OK;
    nas_batch_iter *it = NULL;
    float *x = NULL;
    uint8_t *y8 = NULL;
    int *y = NULL;
    nas_arch *drawn[NAS_SUPERNET_FAIR_MAX] = {0}; /* the step's sampled paths */
    int n_drawn = cfg->fair ? nas_supernet_fair_paths(sn) : 1;
    memset(res, 0, sizeof *res);
    res->train_loss = res->train_acc = NAN;
    res->epochs_done = sn->epoch;
    double t0 = nas_time_now();

    if (tr->c != sn->space->in_c || tr->h != sn->space->in_h || tr->w != sn->space->in_w)
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "the space %s takes %dx%dx%d images but the data set has %dx%dx%d",
                        sn->space->name, sn->space->in_c, sn->space->in_h, sn->space->in_w, tr->c, tr->h, tr->w);
    if (sn->space->classes < data->classes)
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "the space has %d classes but the data set has %d",
                        sn->space->classes, data->classes);
    if (tr->n < (size_t)cfg->batch)
        return NAS_FAIL(err, NAS_ERR_INVALID, "the training split has %zu images, fewer than one batch of %d", tr->n,
                        cfg->batch);
    size_t spe = tr->n / (size_t)cfg->batch;
    nas_lr_schedule lr = cfg->lr;
    if (lr.total_steps == 0) lr.total_steps = spe * (uint64_t)cfg->epochs;
    if (lr.warmup_steps == 0 && cfg->warmup_epochs > 0) lr.warmup_steps = (uint64_t)(cfg->warmup_epochs * (double)spe);
    if (lr.kind == NAS_LR_COSINE && lr.total_steps <= lr.warmup_steps) lr.total_steps = lr.warmup_steps + 1;
    if (lr.kind == NAS_LR_STEP && lr.step_size == 0) lr.step_size = spe * (uint64_t)(cfg->epochs > 3 ? cfg->epochs / 3 : 1);
    if ((s = nas_lr_schedule_check(&lr, err))) return s;

    size_t img = nas_dataset_image_floats(tr);
    x = malloc((size_t)cfg->batch * img * sizeof *x);
    y8 = malloc((size_t)cfg->batch);
    y = malloc((size_t)cfg->batch * sizeof *y);
    size_t planned = spe * (size_t)(cfg->epochs > sn->epoch ? cfg->epochs - sn->epoch : 0);
    free(sn->step_times);
    sn->step_times = malloc((planned ? planned : 1) * sizeof *sn->step_times);
    sn->n_step_times = 0;
    if (!x || !y8 || !y || !sn->step_times) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory for a batch of %d", cfg->batch);
        goto fail;
    }

    for (int epoch = sn->epoch + 1; epoch <= cfg->epochs; epoch++) {
        nas_batch_options bo;
        nas_batch_options_train(&bo, data, (size_t)cfg->batch, cfg->augment_pad, cfg->augment_flip);
        bo.seed = cfg->seed * 1000003u + (uint64_t)epoch; /* one stream per epoch: resumable */
        if ((s = nas_batch_iter_create(tr, &bo, &it, err))) goto fail;
        nas_progress bar;
        if (cfg->progress) {
            char label[32];
            snprintf(label, sizeof label, "epoch %d/%d", epoch, cfg->epochs);
            nas_progress_init(&bar, stderr, label, (long)spe);
        }
        double te = nas_time_now(), loss_sum = 0;
        long correct = 0, seen = 0, b = 0;
        size_t n;
        while ((n = nas_batch_iter_next(it, x, y8)) > 0) {
            if (cfg->stop && *cfg->stop) {
                if (cfg->progress) nas_progress_finish(&bar, "stopped");
                if (dir && epoch > 1)
                    s = NAS_FAIL(err, NAS_ERR_INTERRUPTED,
                                 "supernet training stopped on request in epoch %d; the checkpoint of epoch %d stands",
                                 epoch, epoch - 1);
                else
                    s = NAS_FAIL(err, NAS_ERR_INTERRUPTED,
                                 "supernet training stopped on request in epoch %d, before any checkpoint", epoch);
                goto fail;
            }
            for (size_t i = 0; i < n; i++) y[i] = y8[i];
            double ts = nas_time_now();
            if (!drawn[0] || b % cfg->path_steps == 0) { /* paths restart with each epoch: resumable */
                for (int j = 0; j < n_drawn; j++) nas_arch_destroy(drawn[j]), drawn[j] = NULL;
                if ((s = cfg->fair ? nas_supernet_sample_fair(sn, &sn->sample_rng, n_drawn, NULL, drawn, err)
                                   : nas_supernet_sample(sn, &sn->sample_rng, NULL, &drawn[0], err)))
                    goto fail;
            }
            const nas_arch *paths[NAS_SUPERNET_FAIR_MAX + 2];
            int np = 0;
            if (cfg->sandwich) paths[np++] = sn->big, paths[np++] = sn->small;
            for (int j = 0; j < n_drawn; j++) paths[np++] = drawn[j];
            double l;
            if ((s = nas_supernet_step(sn, paths, np, x, y, nas_lr_at(&lr, sn->steps), &l, err))) goto fail;
            if (sn->n_step_times < planned) sn->step_times[sn->n_step_times++] = nas_time_now() - ts;
            loss_sum += l * (double)n;
            correct += sn->step_correct;
            seen += (long)n * np;
            b++;
            if (cfg->progress) {
                char extra[96];
                double dt = nas_time_now() - te;
                snprintf(extra, sizeof extra, "loss %.4f acc %.2f%% %.2f s/step", loss_sum / ((double)b * cfg->batch),
                         100.0 * correct / seen, dt / b);
                nas_progress_update(&bar, b, extra);
            }
        }
        nas_batch_iter_destroy(it);
        it = NULL;
        sn->epoch = epoch;
        nas_supernet_report r = {.epoch = epoch, .epochs = cfg->epochs};
        r.train_loss = loss_sum / ((double)b * cfg->batch);
        r.train_acc = (double)correct / (double)seen;
        r.seconds = nas_time_now() - te;
        sn->last_loss = r.train_loss;
        if (cfg->progress) {
            char extra[96];
            snprintf(extra, sizeof extra, "loss %.4f acc %.2f%%", r.train_loss, 100 * r.train_acc);
            nas_progress_finish(&bar, extra);
        }
        if (dir && (s = sn_checkpoint_save(sn, dir, err))) goto fail;
        nas_log(cfg->lg, NAS_LOG_INFO, "supernet epoch %d/%d  loss %.4f  acc %.2f%%  %.1f s%s", epoch, cfg->epochs,
                r.train_loss, 100 * r.train_acc, r.seconds, dir ? "  (checkpoint saved)" : "");
        res->epochs_done = epoch;
        res->train_loss = r.train_loss;
        res->train_acc = r.train_acc;
        if (cfg->on_epoch && cfg->on_epoch(cfg->user, &r)) {
            res->stopped_early = epoch < cfg->epochs;
            break;
        }
    }
    if (sn->n_step_times) {
        double p90;
        nas_latency_stats(sn->step_times, (int)sn->n_step_times, &res->step_seconds, &p90);
    }
fail:
    res->seconds = nas_time_now() - t0;
    for (int j = 0; j < n_drawn; j++) nas_arch_destroy(drawn[j]);
    nas_batch_iter_destroy(it);
    free(x);
    free(y8);
    free(y);
    return s;
}

/* ------------------------------------------------------------- scoring */

/* Loss (sum) and correct count of rows [0, n) of logits (batch x k); the
 * same arithmetic as evaluator/train.c so that scores and nas_eval_run agree
 * bit for bit. */
/* BatchNorm recalibration: running mean/var become the exact averages of
 * the batch statistics over `batches` training batches. The network updates
 * running = 0.9 running + 0.1 batch_stat; zeroing the running values before
 * each batch leaves 0.1 batch_stat, which is read back and averaged. */
static nas_status recalibrate(nas_net *net, const nas_dataset *tr, const nas_supernet_score_options *opt,
                              float *x, uint8_t *y8, nas_error *err) {
    nas_param *params;
    int n;
    nas_net_params(net, &params, &n);
    size_t total = 0;
    for (int k = 0; k < n; k++)
        if (strstr(params[k].name, ".running_")) total += params[k].n;
    if (!total) return NAS_OK;
    double *acc = calloc(total, sizeof *acc);
    nas_batch_iter *it = NULL;
    nas_status s = NAS_OK;
    if (!acc) return NAS_FAIL(err, NAS_ERR_NOMEM, "supernet: out of memory");
    nas_batch_options bo;
    nas_batch_options_default(&bo, (size_t)opt->batch);
    bo.drop_last = 1;
    bo.seed = opt->seed;
    if ((s = nas_batch_iter_create(tr, &bo, &it, err))) goto fail;
    pcg32 drop;
    pcg32_seed(&drop, opt->seed, 16);
    for (int b = 0; b < opt->recal_batches; b++) {
        if (nas_batch_iter_next(it, x, y8) == 0 && nas_batch_iter_next(it, x, y8) == 0) {
            s = NAS_FAIL(err, NAS_ERR_INVALID, "no training batch of %d for BatchNorm recalibration", opt->batch);
            goto fail;
        }
        for (int k = 0; k < n; k++)
            if (strstr(params[k].name, ".running_")) memset(params[k].w, 0, params[k].n * sizeof(float));
        if ((s = nas_net_forward(net, x, 1, &drop, err))) goto fail;
        size_t off = 0;
        for (int k = 0; k < n; k++) {
            if (!strstr(params[k].name, ".running_")) continue;
            for (size_t i = 0; i < params[k].n; i++) acc[off + i] += (double)params[k].w[i] / 0.1;
            off += params[k].n;
        }
    }
    size_t off = 0;
    for (int k = 0; k < n; k++) {
        if (!strstr(params[k].name, ".running_")) continue;
        for (size_t i = 0; i < params[k].n; i++) params[k].w[i] = (float)(acc[off + i] / opt->recal_batches);
        off += params[k].n;
    }
fail:
    nas_batch_iter_destroy(it);
    free(acc);
    return s;
}

/* Fine-tuning before scoring: arch's training network with inherited
 * weights, trained alone for opt->finetune_steps batches of the supernet's
 * training batch with the supernet's optimizer settings and augmentation,
 * lr cosine from opt->finetune_lr to 0, batches and dropout drawn from
 * opt->seed (streams of their own). The master tensors are only read.
 * *out receives every param's values in param order, *out_n floats
 * (malloc'd; the caller frees it): the network itself may leave the cache
 * before scoring. */
static nas_status finetune(nas_supernet *sn, const nas_arch *a, const nas_data *data,
                           const nas_supernet_score_options *opt, float **out, size_t *out_n, nas_error *err) {
    const nas_supernet_config *cfg = &sn->cfg;
    const nas_dataset *tr = &data->train;
    nas_net *net;
    nas_optim *o = NULL;
    nas_batch_iter *it = NULL;
    float *x = NULL, *w = NULL;
    uint8_t *y8 = NULL;
    int *y = NULL;
    nas_param *params;
    int n;
    nas_status s;
    *out = NULL;
    if (tr->n < (size_t)cfg->batch)
        return NAS_FAIL(err, NAS_ERR_INVALID, "fine-tuning needs a training batch of %d, the split has %zu images",
                        cfg->batch, tr->n);
    if ((s = get_net(sn, a, cfg->batch, NAS_NET_GRADS, &net, err))) return s;
    if ((s = map_params(sn, a, net, 1, err))) return s;
    if ((s = copy_in(sn, net, err))) return s;
    nas_net_params(net, &params, &n);
    nas_lr_schedule lr;
    nas_lr_schedule_default(&lr, opt->finetune_lr);
    lr.kind = NAS_LR_COSINE;
    lr.final_lr = 0;
    lr.total_steps = (uint64_t)opt->finetune_steps + 1;
    if ((s = nas_lr_schedule_check(&lr, err))) return s;
    if ((s = nas_optim_create(&cfg->optim, params, (size_t)n, &o, err))) return s;
    size_t img = nas_dataset_image_floats(tr), total = 0;
    for (int k = 0; k < n; k++) total += params[k].n;
    x = malloc((size_t)cfg->batch * img * sizeof *x);
    y8 = malloc((size_t)cfg->batch);
    y = malloc((size_t)cfg->batch * sizeof *y);
    w = malloc(total * sizeof *w);
    if (!x || !y8 || !y || !w) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory for fine-tuning");
        goto fail;
    }
    nas_batch_options bo;
    nas_batch_options_train(&bo, data, (size_t)cfg->batch, cfg->augment_pad, cfg->augment_flip);
    pcg32 drop;
    pcg32_seed(&drop, opt->seed, 18);
    for (int step = 0; step < opt->finetune_steps; step++) {
        size_t got = it ? nas_batch_iter_next(it, x, y8) : 0;
        if (!got) { /* a new pass over the split, reshuffled */
            nas_batch_iter_destroy(it);
            it = NULL;
            bo.seed = opt->seed * 1000003u + 19u + (uint64_t)step;
            if ((s = nas_batch_iter_create(tr, &bo, &it, err))) goto fail;
            got = nas_batch_iter_next(it, x, y8);
        }
        for (size_t i = 0; i < got; i++) y[i] = y8[i];
        if ((s = nas_net_forward(net, x, 1, &drop, err)) || (s = nas_net_backward(net, y, err))) goto fail;
        if (!isfinite(nas_net_loss(net))) {
            s = NAS_FAIL(err, NAS_ERR_INVALID, "fine-tuning diverged: loss is %g at step %d (lower finetune_lr %g?)",
                         nas_net_loss(net), step + 1, opt->finetune_lr);
            goto fail;
        }
        nas_optim_step(o, nas_lr_at(&lr, (uint64_t)step));
    }
    size_t off = 0;
    for (int k = 0; k < n; off += params[k].n, k++) memcpy(w + off, params[k].w, params[k].n * sizeof *w);
    *out = w;
    *out_n = total;
    w = NULL;
fail:
    nas_batch_iter_destroy(it);
    nas_optim_destroy(o);
    free(x);
    free(y8);
    free(y);
    free(w);
    return s;
}

/* Scores arch; *net_out receives the (cached) scored network. */
static nas_status score_impl(nas_supernet *sn, const nas_arch *a, const nas_data *data,
                             const nas_supernet_score_options *opt, nas_supernet_score *out, nas_net **net_out,
                             nas_error *err) {
    nas_supernet_score_options defaults;
    if (!opt) {
        nas_supernet_score_options_default(&defaults);
        opt = &defaults;
    }
    memset(out, 0, sizeof *out);
    if (opt->batch < 1 || opt->recal_batches < 1)
        return NAS_FAIL(err, NAS_ERR_INVALID, "scoring needs batch >= 1 and recal_batches >= 1");
    if (opt->finetune_steps < 0 || (opt->finetune_steps > 0 && !(opt->finetune_lr > 0 && isfinite(opt->finetune_lr))))
        return NAS_FAIL(err, NAS_ERR_INVALID, "scoring needs finetune_steps >= 0 and, to fine-tune, finetune_lr > 0 (got %d, %g)",
                        opt->finetune_steps, opt->finetune_lr);
    if (a->space_hash[0] && strcmp(a->space_hash, sn->space->hash) != 0)
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "the arch comes from another space (hash %s, the supernet's space %s has %s)",
                        a->space_hash, sn->space->name, sn->space->hash);
    if (a->in_c != sn->space->in_c || a->in_h != sn->space->in_h || a->in_w != sn->space->in_w)
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "the arch takes %dx%dx%d images, the supernet's space %dx%dx%d",
                        a->in_c, a->in_h, a->in_w, sn->space->in_c, sn->space->in_h, sn->space->in_w);
    const nas_dataset *tr = &data->train, *val = &data->val;
    if (val->n == 0) return NAS_FAIL(err, NAS_ERR_INVALID, "the data set has no validation split to score on");
    if (opt->val_images > val->n)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%zu validation images asked, the split has %zu", opt->val_images, val->n);
    if (tr->c != a->in_c || tr->h != a->in_h || tr->w != a->in_w)
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "the arch takes %dx%dx%d images but the data set has %dx%dx%d",
                        a->in_c, a->in_h, a->in_w, tr->c, tr->h, tr->w);
    double t0 = nas_time_now();
    nas_net *net;
    nas_status s;
    nas_dataset subset;
    size_t *idx = NULL;
    memset(&subset, 0, sizeof subset);
    float *tuned = NULL, *x = NULL;
    size_t n_tuned = 0;
    uint8_t *y8 = NULL;
    int *y = NULL;
    if (opt->finetune_steps > 0 && (s = finetune(sn, a, data, opt, &tuned, &n_tuned, err))) return s;
    if ((s = get_net(sn, a, opt->batch, 0, &net, err))) goto fail;
    if ((s = map_params(sn, a, net, 1, err))) goto fail;
    if ((s = copy_in(sn, net, err))) goto fail;
    if (tuned) { /* the inference net has the training net's params, in the same order */
        nas_param *params;
        int n;
        size_t off = 0;
        nas_net_params(net, &params, &n);
        for (int k = 0; k < n; k++) off += params[k].n;
        if (off != n_tuned) {
            s = NAS_FAIL(err, NAS_ERR_INTERNAL, "supernet: the scoring network has %zu parameters, the fine-tuned one %zu",
                         off, n_tuned);
            goto fail;
        }
        off = 0;
        for (int k = 0; k < n; off += params[k].n, k++) memcpy(params[k].w, tuned + off, params[k].n * sizeof *tuned);
    }
    nas_net_set_weights_static(net, 1);
    size_t img = nas_dataset_image_floats(tr);
    x = malloc((size_t)opt->batch * img * sizeof *x);
    y8 = malloc((size_t)opt->batch);
    y = malloc((size_t)opt->batch * sizeof *y);
    if (!x || !y8 || !y) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory for a batch of %d", opt->batch);
        goto fail;
    }
    if ((s = recalibrate(net, tr, opt, x, y8, err))) goto fail;
    if (opt->val_images > 0 && opt->val_images < val->n) {
        pcg32 pick;
        pcg32_seed(&pick, opt->seed, 17);
        idx = malloc(opt->val_images * sizeof *idx);
        if (!idx) {
            s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if ((s = nas_data_pick(val->y, val->n, opt->val_images, 1, &pick, idx, err))) goto fail;
        if ((s = nas_dataset_gather(val, idx, opt->val_images, &subset, err))) goto fail;
        val = &subset;
    }
    if ((s = nas_net_evaluate(net, val, x, y8, y, &out->val_loss, &out->val_acc, err))) goto fail;
    out->images = val->n;
    out->seconds = nas_time_now() - t0;
    *net_out = net;
fail:
    nas_dataset_deinit(&subset);
    free(tuned);
    free(idx);
    free(x);
    free(y8);
    free(y);
    return s;
}

nas_status nas_supernet_score_arch(nas_supernet *sn, const nas_arch *a, const nas_data *data,
                                   const nas_supernet_score_options *opt, nas_supernet_score *out, nas_error *err) {
    nas_net *net;
    return score_impl(sn, a, data, opt, out, &net, err);
}

nas_status nas_supernet_extract(nas_supernet *sn, const nas_arch *a, const nas_data *data,
                                const nas_supernet_score_options *opt, const char *dir, nas_supernet_score *out,
                                nas_error *err) {
    nas_net *net;
    nas_status s = score_impl(sn, a, data, opt, out, &net, err);
    if (s) return s;
    if ((s = nas_mkdir_p(dir, err))) return s;
    char path[4096];
    nas_param *params;
    int n;
    nas_net_params(net, &params, &n);
    snprintf(path, sizeof path, "%s/weights.nasw", dir);
    if ((s = nas_checkpoint_save(path, nas_arch_hash(a), params, (size_t)n, NULL, err))) return s;
    snprintf(path, sizeof path, "%s/arch.json", dir);
    return nas_arch_save(a, path, err);
}
