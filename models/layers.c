/*
 * layers.c - the primitive layers of a network on oneDNN 2.6: build (every
 * primitive, memory and buffer, created once) and the step runner.
 *
 * Does: convolution, batch normalization (+ fused ReLU), relu / relu6 /
 * hswish / sigmoid, max / average / global average pooling, inner product,
 * sum, concat, dropout, zero, identity, flatten, the SE scale, and the
 * network head (output to plain logits). Each builder records forward
 * (training and inference) and backward (data and weights) step lists.
 * Does not: decide the graph (network.c lowers arch nodes into layers), the
 * loss (network.c), optimizers or checkpoints.
 *
 * Convolutions use oneDNN's auto algorithm: Winograd F(4x4, 3x3) where oneDNN
 * predicts it is faster (3x3 stride-1 with enough channels and images, about
 * 12% more training throughput on the reference network), direct otherwise.
 * Inference folds a conv into the BN that is its only reader (bn_fold_inference).
 *
 * Master weights live in plain PyTorch layouts in nas_param (conv (O, I/g,
 * KH, KW), fc (O, I)); when a primitive prefers a blocked layout the layer
 * owns a copy in that layout, refreshed by its `wsync` reorders before the
 * forward pass, and weight gradients are reordered back into the plain dw.
 * Backward overwrites dw (no accumulation across calls).
 *
 * Buffers come from nas_ctx_buf: zeroed from the heap, or from the network's
 * arena, where only those that may be read before anything writes them
 * (own_buf, a zero layer's output, an unpooled gradient) are zeroed and the
 * ones every pass writes whole first (own_written, activations, the gradient
 * pool, the scratchpad) keep whatever the arena held.
 */
#include "models/layers.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

void *nas_buf_alloc(size_t bytes) {
    size_t sz = (bytes + 63) / 64 * 64;
    if (sz == 0) sz = 64;
    void *p = aligned_alloc(64, sz);
    if (p) memset(p, 0, sz);
    return p;
}

dnnl_memory_desc_t nas_md_nchw(int n, int c, int h, int w) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {n, c, h, w};
    dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, dnnl_nchw);
    return md;
}

dnnl_memory_desc_t nas_md_4d(const dnnl_memory_desc_t *md) {
    if (md->ndims == 2) return nas_md_nchw((int)md->dims[0], (int)md->dims[1], 1, 1);
    return *md;
}

static dnnl_memory_desc_t md_tag(int ndims, const dnnl_dim_t *dims, dnnl_format_tag_t tag) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {0}; /* the API reads a full DNNL_MAX_NDIMS array */
    memcpy(d, dims, (size_t)ndims * sizeof *d);
    dnnl_memory_desc_init_by_tag(&md, ndims, d, dnnl_f32, tag);
    return md;
}

static dnnl_memory_desc_t md_any(int ndims, const dnnl_dim_t *dims) {
    return md_tag(ndims, dims, dnnl_format_tag_any);
}

static const dnnl_memory_desc_t *qmd(const_dnnl_primitive_desc_t pd, int arg) {
    return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

static int md_eq(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b) {
    return dnnl_memory_desc_equal(a, b);
}

nas_status nas_ctx_init(nas_ctx *ctx, nas_arena *arena, nas_error *err) {
    memset(ctx, 0, sizeof *ctx);
    ctx->arena = arena;
    NAS_DNNL(dnnl_engine_create(&ctx->eng, dnnl_cpu, 0), err);
    NAS_DNNL(dnnl_stream_create(&ctx->stream, ctx->eng, dnnl_stream_default_flags), err);
    NAS_DNNL(dnnl_primitive_attr_create(&ctx->attr), err);
    NAS_DNNL(dnnl_primitive_attr_set_scratchpad_mode(ctx->attr, dnnl_scratchpad_mode_user), err);
    return NAS_OK;
fail:
    nas_ctx_deinit(ctx);
    return err ? err->code : NAS_ERR_DNNL;
}

void *nas_ctx_buf(nas_ctx *ctx, size_t bytes, nas_buf_init init) {
    if (!ctx->arena) return nas_buf_alloc(bytes);
    size_t sz = (bytes + 63) / 64 * 64; /* as nas_buf_alloc */
    if (sz == 0) sz = 64;
    void *p = nas_arena_alloc_raw(ctx->arena, sz, 64);
    if (p && init == NAS_BUF_ZERO) memset(p, 0, sz);
    return p;
}

nas_status nas_ctx_bind_scratch(nas_ctx *ctx, nas_error *err) {
    if (!ctx->arena) free(ctx->scratch);
    /* oneDNN assumes nothing about a scratchpad's contents */
    ctx->scratch = nas_ctx_buf(ctx, ctx->scratch_bytes, NAS_BUF_WRITTEN);
    if (!ctx->scratch) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory (scratchpad)");
    for (int i = 0; i < ctx->n_scratch; i++)
        NAS_DNNL(dnnl_memory_set_data_handle(ctx->scratch_mems[i], ctx->scratch), err);
    return NAS_OK;
fail:
    return err ? err->code : NAS_ERR_DNNL;
}

void nas_ctx_deinit(nas_ctx *ctx) {
    if (ctx->attr) dnnl_primitive_attr_destroy(ctx->attr);
    if (ctx->stream) dnnl_stream_destroy(ctx->stream);
    if (ctx->eng) dnnl_engine_destroy(ctx->eng);
    free(ctx->scratch_mems);
    if (!ctx->arena) free(ctx->scratch);
    memset(ctx, 0, sizeof *ctx);
}

static int grow(void **v, int *cap, int need, size_t elem) {
    if (need <= *cap) return 1;
    int c = *cap ? *cap * 2 : 8;
    while (c < need) c *= 2;
    void *p = realloc(*v, (size_t)c * elem);
    if (!p) return 0;
    *v = p;
    *cap = c;
    return 1;
}

static nas_status push_step(nas_steps *s, const nas_step *st, nas_error *err) {
    if (!grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v))
        return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory (steps)");
    s->v[s->n++] = *st;
    return NAS_OK;
}

/* A layer buffer (nas_ctx_buf); the layer frees it unless it is in an
 * arena. NULL (with err set) when out of memory. */
static void *layer_buf(nas_layer *l, nas_ctx *ctx, size_t bytes, nas_buf_init init,
                       nas_error *err) {
    if (!ctx->arena && !grow((void **)&l->bufs, &l->cap_bufs, l->n_bufs + 1, sizeof *l->bufs))
        goto oom;
    void *p = nas_ctx_buf(ctx, bytes, init);
    if (!p) goto oom;
    if (!ctx->arena) l->bufs[l->n_bufs++] = p;
    return p;
oom:
    NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory (%zu bytes)", l->name, bytes);
    return NULL;
}

/* A zeroed layer buffer: weights, statistics, their gradients and layout
 * copies (small next to the activations). */
static void *own_buf(nas_layer *l, nas_ctx *ctx, size_t bytes, nas_error *err) {
    return layer_buf(l, ctx, bytes, NAS_BUF_ZERO, err);
}

/* A layer buffer that every pass writes whole before reading it (reordered
 * activations and gradients, workspaces, masks, gradient terms); not zeroed
 * in an arena. */
static void *own_written(nas_layer *l, nas_ctx *ctx, size_t bytes, nas_error *err) {
    return layer_buf(l, ctx, bytes, NAS_BUF_WRITTEN, err);
}

static nas_status own_mem(nas_layer *l, nas_ctx *ctx, const dnnl_memory_desc_t *md, void *buf,
                          dnnl_memory_t *out, nas_error *err) {
    *out = NULL;
    if (!grow((void **)&l->mems, &l->cap_mems, l->n_mems + 1, sizeof *l->mems))
        return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    NAS_DNNL(dnnl_memory_create(out, md, ctx->eng, buf), err);
    l->mems[l->n_mems++] = *out;
    return NAS_OK;
fail:
    return err ? err->code : NAS_ERR_DNNL;
}

/* Creates the primitive of pd, owned by the layer; registers its scratchpad. */
static nas_status own_prim(nas_layer *l, nas_ctx *ctx, const_dnnl_primitive_desc_t pd,
                           dnnl_primitive_t *out, dnnl_memory_t *scratch, nas_error *err) {
    *out = NULL;
    *scratch = NULL;
    if (!grow((void **)&l->prims, &l->cap_prims, l->n_prims + 1, sizeof *l->prims))
        return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    NAS_DNNL(dnnl_primitive_create(out, pd), err);
    l->prims[l->n_prims++] = *out;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sz = smd ? dnnl_memory_desc_get_size(smd) : 0;
    if (sz > 0) {
        if (own_mem(l, ctx, smd, DNNL_MEMORY_NONE, scratch, err)) return err ? err->code : NAS_ERR_NOMEM;
        if (!grow((void **)&ctx->scratch_mems, &ctx->cap_scratch, ctx->n_scratch + 1,
                  sizeof *ctx->scratch_mems))
            return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
        ctx->scratch_mems[ctx->n_scratch++] = *scratch;
        if (sz > ctx->scratch_bytes) ctx->scratch_bytes = sz;
    }
    return NAS_OK;
fail:
    return err ? err->code : NAS_ERR_DNNL;
}

typedef struct nas_arg {
    int id;
    void *buf;
} nas_arg;

/* Appends a step executing prim (created from pd) with args; each arg's
 * layout is queried from pd, and args pd does not use are dropped. */
static nas_status push_exec(nas_layer *l, nas_ctx *ctx, nas_steps *s,
                            const_dnnl_primitive_desc_t pd, dnnl_primitive_t prim,
                            dnnl_memory_t scratch, const nas_arg *args, int n,
                            nas_error *err) {
    nas_step st = {.kind = NAS_STEP_PRIM, .prim = prim};
    for (int i = 0; i < n; i++) {
        const dnnl_memory_desc_t *md = qmd(pd, args[i].id);
        if (!md || md->ndims == 0) continue;
        NAS_ASSERT(st.n_args < NAS_STEP_ARGS_MAX - 1);
        dnnl_memory_t m;
        if (own_mem(l, ctx, md, args[i].buf, &m, err)) return err ? err->code : NAS_ERR_DNNL;
        st.args[st.n_args++] = (dnnl_exec_arg_t){args[i].id, m};
    }
    if (scratch) st.args[st.n_args++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, scratch};
    return push_step(s, &st, err);
}

/* Creates the primitive of pd and appends one step running it. */
static nas_status push_prim(nas_layer *l, nas_ctx *ctx, nas_steps *s,
                            const_dnnl_primitive_desc_t pd, const nas_arg *args, int n,
                            nas_error *err) {
    dnnl_primitive_t p;
    dnnl_memory_t scratch;
    nas_status st = own_prim(l, ctx, pd, &p, &scratch, err);
    if (st) return st;
    return push_exec(l, ctx, s, pd, p, scratch, args, n, err);
}

/* Appends a reorder src (layout smd at sbuf) -> dst (dmd at dbuf). */
static nas_status push_reorder(nas_layer *l, nas_ctx *ctx, nas_steps *s,
                               const dnnl_memory_desc_t *smd, void *sbuf,
                               const dnnl_memory_desc_t *dmd, void *dbuf, nas_error *err) {
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p;
    dnnl_memory_t scratch, ms, mdst;
    nas_status st;
    NAS_DNNL(dnnl_reorder_primitive_desc_create(&pd, smd, ctx->eng, dmd, ctx->eng, ctx->attr), err);
    if ((st = own_prim(l, ctx, pd, &p, &scratch, err))) goto out;
    if ((st = own_mem(l, ctx, smd, sbuf, &ms, err))) goto out;
    if ((st = own_mem(l, ctx, dmd, dbuf, &mdst, err))) goto out;
    nas_step step = {.kind = NAS_STEP_PRIM, .prim = p, .n_args = 2};
    step.args[0] = (dnnl_exec_arg_t){DNNL_ARG_FROM, ms};
    step.args[1] = (dnnl_exec_arg_t){DNNL_ARG_TO, mdst};
    if (scratch) step.args[step.n_args++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, scratch};
    st = push_step(s, &step, err);
out:
    dnnl_primitive_desc_destroy(pd);
    return st;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return err ? err->code : NAS_ERR_DNNL;
}

/* Copies (same layout) or reorders a -> b. */
static nas_status push_move(nas_layer *l, nas_ctx *ctx, nas_steps *s,
                            const dnnl_memory_desc_t *amd, void *a,
                            const dnnl_memory_desc_t *bmd, void *b, nas_error *err) {
    if (md_eq(amd, bmd)) {
        nas_step st = {.kind = NAS_STEP_COPY, .a = a, .b = b, .n = dnnl_memory_desc_get_size(amd)};
        return push_step(s, &st, err);
    }
    return push_reorder(l, ctx, s, amd, a, bmd, b, err);
}

/* Allocates the output tensor in layout md (and its gradient when needed).
 * The forward writes the whole output (a zero layer zeroes it itself). A
 * gradient of its own is zeroed: the tensor may have no reader, and then
 * nothing ever writes it (a pooled one always has a reader that does). */
static nas_status tensor_alloc(nas_ctx *ctx, nas_tensor *t, const dnnl_memory_desc_t *md,
                               int grads, nas_error *err) {
    t->md = *md;
    t->bytes = dnnl_memory_desc_get_size(md);
    t->x = nas_ctx_buf(ctx, t->bytes, NAS_BUF_WRITTEN);
    if (!t->x) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory (%zu bytes)", t->bytes);
    if (grads && t->needs_grad && !(t->dx_shared && t->bytes <= t->dx_cap)) {
        t->dx_shared = 0; /* no pooled buffer, or one too small for this layout */
        t->dx = nas_ctx_buf(ctx, t->bytes, NAS_BUF_ZERO);
        if (!t->dx) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory (%zu bytes)", t->bytes);
    }
    t->built = 1;
    return NAS_OK;
}

/* Where the backward of input slot i writes: the tensor's gradient (direct),
 * a layer buffer added in afterwards (acc), or nowhere. */
static float *dx_target(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int slot, nas_error *err) {
    if (l->edge[slot] == NAS_EDGE_NONE) return NULL;
    if (l->edge[slot] == NAS_EDGE_DIRECT) return t[l->in[slot]].dx;
    return own_written(l, ctx, t[l->in[slot]].bytes, err);
}

/* Appends the gradient additions for the acc edges: dx += target. targets[i]
 * are the buffers dx_target returned. */
static nas_status push_accumulate(nas_layer *l, nas_ctx *ctx, nas_tensor *t, float *const *targets,
                                  nas_error *err) {
    dnnl_primitive_desc_t pd = NULL;
    nas_status st = NAS_OK;
    for (int i = 0; i < l->n_in; i++) {
        if (l->edge[i] != NAS_EDGE_ACC || !targets[i]) continue;
        nas_tensor *x = &t[l->in[i]];
        dnnl_binary_desc_t d;
        NAS_DNNL(dnnl_binary_desc_init(&d, dnnl_binary_add, &x->md, &x->md, &x->md), err);
        NAS_DNNL(dnnl_primitive_desc_create(&pd, &d, ctx->attr, ctx->eng, NULL), err);
        nas_arg a[] = {{DNNL_ARG_SRC_0, x->dx}, {DNNL_ARG_SRC_1, targets[i]}, {DNNL_ARG_DST, x->dx}};
        st = push_prim(l, ctx, &l->bwd, pd, a, 3, err);
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
        if (st) return st;
    }
    return NAS_OK;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return err ? err->code : NAS_ERR_DNNL;
}

static void add_param(nas_layer *l, const char *what, float *w, float *dw, size_t n, int decay) {
    NAS_ASSERT(l->n_params < NAS_LAYER_PARAMS_MAX);
    nas_param *p = &l->params[l->n_params++];
    snprintf(p->name, sizeof p->name, "%s.%s", l->name, what);
    p->w = w;
    p->dw = dw;
    p->n = n;
    p->decay = decay;
}

/* ------------------------------------------------- hand-written kernels */

/*
 * Two gradients that oneDNN 2.6 computes slowly on CPU: the weight gradient
 * of a depthwise convolution with kernels wider than 3 (its JIT kernel stops
 * at 3; larger ones fall back to a gemm-based implementation on plain
 * layouts, ~160-780 ms per call at batch 128 in spaces/mobilenet.nas) and
 * the squeeze-and-excitation gate gradient (a binary multiply and a reference
 * reduction on blocked layouts). Both read the tensors in the layouts the
 * network already holds them in (plain, or channels blocked by 8 or 16).
 */

/* A 4-D layout as offsets: plain (blk 1) or one inner block on channels
 * (aBcd8b / aBcd16b), from oneDNN's blocking descriptor. */
typedef struct lay4 {
    long sn, sc, sh, sw, off0;
    int blk;
} lay4;

static int lay4_of(const dnnl_memory_desc_t *md, lay4 *o) {
    if (md->ndims != 4 || md->format_kind != dnnl_blocked || md->data_type != dnnl_f32) return 0;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (b->inner_nblks == 0) o->blk = 1;
    else if (b->inner_nblks == 1 && b->inner_idxs[0] == 1) o->blk = (int)b->inner_blks[0];
    else return 0;
    if (o->blk != 1 && o->blk != 8 && o->blk != 16) return 0;
    o->sn = (long)b->strides[0], o->sc = (long)b->strides[1], o->sh = (long)b->strides[2], o->sw = (long)b->strides[3];
    o->off0 = (long)md->offset0;
    return 1;
}

/* Offset of channel block cb's first channel at (n, h, w). */
static inline long lay4_at(const lay4 *l, int n, int cb, int h, int w) {
    return l->off0 + n * l->sn + cb * l->sc + h * l->sh + w * l->sw;
}

typedef struct dw_geom {
    lay4 x, dy; /* same blk */
    int n, c, h, w, oh, ow, kh, kw, stride, pad, dil;
    int slices; /* batch slices per channel block (parallel work items) */
} dw_geom;

/* Output positions o in [*lo, *hi) whose input o * s + off falls inside [0, in). */
static inline void valid_range(int off, int s, int in, int out, int *lo, int *hi) {
    *lo = off >= 0 ? 0 : (-off + s - 1) / s;
    *hi = in - 1 - off < 0 ? 0 : (in - 1 - off) / s + 1;
    if (*hi > out) *hi = out;
    if (*lo > *hi) *lo = *hi;
}

/* One (channel block, batch slice) item: acc[(i * KW + k) * B + j] = sum of
 * dy * x over the slice's images and every output position, one output row
 * at a time (the row of dy and the input rows it meets stay in L1); B is a
 * constant per copy, and each copy is compiled for AVX-512, AVX2 and the
 * baseline, picked at load time. */
#define DW_ITEM(B)                                                                                          \
    __attribute__((target_clones("avx512f", "avx2", "default"))) static void dw_item_##B(                  \
        const dw_geom *g, const float *restrict x, const float *restrict dy, float *restrict acc, int cb,  \
        int n0, int n1) {                                                                                   \
        int KK = g->kh * g->kw, s = g->stride;                                                              \
        long xs = (long)s * g->x.sw, ds = g->dy.sw;                                                         \
        memset(acc, 0, (size_t)KK * B * sizeof *acc);                                                      \
        for (int n = n0; n < n1; n++)                                                                       \
            for (int oh = 0; oh < g->oh; oh++) {                                                            \
                for (int i = 0; i < g->kh; i++) {                                                           \
                    int ih = oh * s - g->pad + i * g->dil;                                                  \
                    if (ih < 0 || ih >= g->h) continue;                                                     \
                    for (int k = 0; k < g->kw; k++) {                                                       \
                        int off = k * g->dil - g->pad, lo, hi;                                              \
                        valid_range(off, s, g->w, g->ow, &lo, &hi);                                         \
                        const float *d = dy + lay4_at(&g->dy, n, cb, oh, lo);                               \
                        const float *v = x + lay4_at(&g->x, n, cb, ih, lo * s + off);                       \
                        float r[B];                                                                         \
                        float *a = acc + (i * g->kw + k) * B;                                               \
                        for (int j = 0; j < B; j++) r[j] = a[j];                                            \
                        for (int ow = lo; ow < hi; ow++, d += ds, v += xs)                                  \
                            for (int j = 0; j < B; j++) r[j] += d[j] * v[j];                                \
                        for (int j = 0; j < B; j++) a[j] = r[j];                                            \
                    }                                                                                       \
                }                                                                                           \
            }                                                                                               \
    }
DW_ITEM(1)
DW_ITEM(8)
DW_ITEM(16)

/* dW[c][i][k] = sum over n, oh, ow of dy[n,c,oh,ow] x[n,c,oh*s-p+i*d,ow*s-p+k*d]:
 * partial sums per (block, slice) in st->d, then summed in slice order (the
 * same numbers for the same thread count and any schedule). */
static void dw_backward_weights(const nas_step *st) {
    const dw_geom *g = st->aux;
    const float *x = st->a, *dy = st->b;
    float *dw = st->c, *part = st->d;
    int B = g->x.blk, nb = (g->c + B - 1) / B, S = g->slices, KK = g->kh * g->kw;
#pragma omp parallel for schedule(dynamic, 1)
    for (int it = 0; it < nb * S; it++) {
        int cb = it / S, s = it % S;
        int n0 = (int)((long)g->n * s / S), n1 = (int)((long)g->n * (s + 1) / S);
        float *acc = part + (size_t)it * KK * B;
        if (B == 16) dw_item_16(g, x, dy, acc, cb, n0, n1);
        else if (B == 8) dw_item_8(g, x, dy, acc, cb, n0, n1);
        else dw_item_1(g, x, dy, acc, cb, n0, n1);
    }
    for (int cb = 0; cb < nb; cb++)
        for (int j = 0; j < B && cb * B + j < g->c; j++)
            for (int k = 0; k < KK; k++) {
                float sum = 0.f;
                for (int s = 0; s < S; s++) sum += part[((size_t)(cb * S + s) * KK + k) * B + j];
                dw[(size_t)(cb * B + j) * KK + k] = sum;
            }
}

typedef struct gate_geom {
    lay4 x, s; /* x and dy share a layout */
    int n, c, h, w;
} gate_geom;

/* ds[n,c] = sum over h, w of dy[n,c,h,w] x[n,c,h,w]. */
static void gate_backward(const nas_step *st) {
    const gate_geom *g = st->aux;
    const float *x = st->a, *dy = st->b;
    float *ds = st->c;
    int B = g->x.blk, nb = (g->c + B - 1) / B;
#pragma omp parallel for schedule(static)
    for (int it = 0; it < g->n * nb; it++) {
        int n = it / nb, cb = it % nb;
        float acc[16] = {0};
        for (int h = 0; h < g->h; h++)
            for (int w = 0; w < g->w; w++) {
                long o = lay4_at(&g->x, n, cb, h, w);
                for (int j = 0; j < B; j++) acc[j] += dy[o + j] * x[o + j];
            }
        for (int j = 0; j < B && cb * B + j < g->c; j++) {
            int c = cb * B + j;
            ds[lay4_at(&g->s, n, c / g->s.blk, 0, 0) + c % g->s.blk] = acc[j];
        }
    }
    /* channels past C are the blocked layout's padding: oneDNN expects zeros there */
    int padded = (g->c + g->s.blk - 1) / g->s.blk * g->s.blk;
    for (int n = 0; n < g->n; n++)
        for (int c = g->c; c < padded; c++) ds[lay4_at(&g->s, n, c / g->s.blk, 0, 0) + c % g->s.blk] = 0.f;
}

/* ------------------------------------------------ convolution / inner product */

/* What the three passes of a conv / fc layer share while it is built. */
typedef struct weighted {
    int conv;
    nas_tensor *x, *y;
    dnnl_memory_desc_t xmd;    /* the input as the layer reads it */
    dnnl_memory_desc_t wplain; /* master weights: goihw / oihw / oi */
    dnnl_memory_desc_t bmd, wany, xany, yany;
    dnnl_dims_t strides, dil, pad;
    dnnl_primitive_desc_t fpd, wpd, dpd;
    const dnnl_memory_desc_t *src_md, *w_md; /* forward's layouts (owned by fpd) */
    void *src, *wk;                          /* forward's input and weights */
    float *w, *dw, *b, *db;
    void *dy_w; /* dy in the layout of backward-weights */
} weighted;

static nas_status fail_status(nas_error *err, nas_status fallback) {
    return err && err->code ? err->code : fallback;
}

/* Layouts, the forward primitive descriptor and the parameters. */
static nas_status weighted_init(nas_layer *l, nas_ctx *ctx, weighted *s, int grads,
                                nas_error *err) {
    int N = s->x->n, C = s->x->c, O = l->out_c, g = s->conv ? l->groups : 1;
    s->xmd = s->conv ? nas_md_4d(&s->x->md) : s->x->md;
    dnnl_dim_t wd[5];
    int wnd;
    if (s->conv && g > 1) {
        dnnl_dim_t d[5] = {g, O / g, C / g, l->kernel_h, l->kernel_w};
        memcpy(wd, d, sizeof d), wnd = 5;
        s->wplain = md_tag(5, wd, dnnl_goihw);
    } else if (s->xmd.ndims == 4) {
        dnnl_dim_t d[4] = {O, C, s->conv ? l->kernel_h : s->x->h, s->conv ? l->kernel_w : s->x->w};
        memcpy(wd, d, sizeof d), wnd = 4;
        s->wplain = md_tag(4, wd, dnnl_oihw);
    } else {
        dnnl_dim_t d[2] = {O, C};
        memcpy(wd, d, sizeof d), wnd = 2;
        s->wplain = md_tag(2, wd, dnnl_oi);
    }
    dnnl_dim_t bd[1] = {O};
    s->bmd = md_tag(1, bd, dnnl_x);
    s->wany = md_any(wnd, wd);
    size_t wn = dnnl_memory_desc_get_size(&s->wplain) / sizeof(float);
    l->fan_in = (int)(wn / (size_t)O);
    const dnnl_memory_desc_t *bias = l->bias ? &s->bmd : NULL;
    if (s->conv) {
        dnnl_dim_t xd[4] = {N, C, s->x->h, s->x->w}, yd[4] = {N, O, s->y->h, s->y->w};
        s->xany = md_any(4, xd);
        s->yany = md_any(4, yd);
        s->strides[0] = s->strides[1] = l->stride;
        s->dil[0] = s->dil[1] = l->dilation - 1;
        s->pad[0] = s->pad[1] = l->pad;
        dnnl_convolution_desc_t d;
        NAS_DNNL(dnnl_dilated_convolution_forward_desc_init(
                     &d, dnnl_forward_training, dnnl_convolution_auto, &s->xany, &s->wany, bias,
                     &s->yany, s->strides, s->dil, s->pad, s->pad),
                 err);
        NAS_DNNL(dnnl_primitive_desc_create(&s->fpd, &d, ctx->attr, ctx->eng, NULL), err);
    } else {
        dnnl_dim_t yd[2] = {N, O};
        s->xany = s->xmd;
        s->yany = md_any(2, yd);
        dnnl_inner_product_desc_t d;
        NAS_DNNL(dnnl_inner_product_forward_desc_init(&d, dnnl_forward_training, &s->xany,
                                                      &s->wany, bias, &s->yany),
                 err);
        NAS_DNNL(dnnl_primitive_desc_create(&s->fpd, &d, ctx->attr, ctx->eng, NULL), err);
    }
    size_t ob = (size_t)O * sizeof(float);
    if (!(s->w = own_buf(l, ctx, wn * sizeof(float), err))) return NAS_ERR_NOMEM;
    if (grads && !(s->dw = own_buf(l, ctx, wn * sizeof(float), err))) return NAS_ERR_NOMEM;
    if (l->bias && !(s->b = own_buf(l, ctx, ob, err))) return NAS_ERR_NOMEM;
    if (l->bias && grads && !(s->db = own_buf(l, ctx, ob, err))) return NAS_ERR_NOMEM;
    add_param(l, "weight", s->w, s->dw, wn, 1);
    if (l->bias) add_param(l, "bias", s->b, s->db, (size_t)O, 0);
    return NAS_OK;
fail:
    return fail_status(err, NAS_ERR_DNNL);
}

/* forward: y = conv(x, W) + b, reordering x and W where the primitive wants
 * another layout (W once per forward, in wsync). */
static nas_status weighted_forward(nas_layer *l, nas_ctx *ctx, weighted *s, int grads,
                                   nas_error *err) {
    nas_status st;
    s->src_md = qmd(s->fpd, DNNL_ARG_SRC);
    s->w_md = qmd(s->fpd, DNNL_ARG_WEIGHTS);
    s->src = s->x->x;
    s->wk = s->w;
    if (!md_eq(s->src_md, &s->xmd)) {
        if (!(s->src = own_written(l, ctx, dnnl_memory_desc_get_size(s->src_md), err)))
            return NAS_ERR_NOMEM;
        if ((st = push_reorder(l, ctx, &l->fwd, &s->xmd, s->x->x, s->src_md, s->src, err))) return st;
        if ((st = push_reorder(l, ctx, &l->inf, &s->xmd, s->x->x, s->src_md, s->src, err))) return st;
    }
    if (!md_eq(s->w_md, &s->wplain)) {
        if (!(s->wk = own_buf(l, ctx, dnnl_memory_desc_get_size(s->w_md), err)))
            return NAS_ERR_NOMEM;
        if ((st = push_reorder(l, ctx, &l->wsync, &s->wplain, s->w, s->w_md, s->wk, err))) return st;
    }
    if ((st = tensor_alloc(ctx, s->y, qmd(s->fpd, DNNL_ARG_DST), grads, err))) return st;
    dnnl_primitive_t p;
    dnnl_memory_t scratch;
    nas_arg a[] = {{DNNL_ARG_SRC, s->src}, {DNNL_ARG_WEIGHTS, s->wk}, {DNNL_ARG_BIAS, s->b},
                   {DNNL_ARG_DST, s->y->x}};
    if ((st = own_prim(l, ctx, s->fpd, &p, &scratch, err))) return st;
    if ((st = push_exec(l, ctx, &l->fwd, s->fpd, p, scratch, a, 4, err))) return st;
    l->inf_src = s->src;
    l->inf_src_md = *s->src_md;
    if (l->folded) return NAS_OK; /* the BN reading y runs the folded conv at inference */
    return push_exec(l, ctx, &l->inf, s->fpd, p, scratch, a, 4, err);
}

/* A depthwise weight gradient by dw_backward_weights, on the forward's input
 * and dy as they are. */
static nas_status dw_backward_weights_step(nas_layer *l, nas_ctx *ctx, weighted *s, const lay4 *lx,
                                           const lay4 *ldy, nas_error *err) {
    dw_geom *g = own_buf(l, ctx, sizeof *g, err);
    if (!g) return NAS_ERR_NOMEM;
    *g = (dw_geom){.x = *lx, .dy = *ldy, .n = s->x->n, .c = s->x->c, .h = s->x->h, .w = s->x->w,
                   .oh = s->y->h, .ow = s->y->w, .kh = l->kernel_h, .kw = l->kernel_w, .stride = l->stride,
                   .pad = l->pad, .dil = l->dilation};
    int nb = (g->c + lx->blk - 1) / lx->blk, want = 4 * omp_get_max_threads();
    g->slices = (want + nb - 1) / nb;
    if (g->slices > g->n) g->slices = g->n;
    if (g->slices < 1) g->slices = 1;
    size_t part = (size_t)nb * (size_t)g->slices * (size_t)(g->kh * g->kw) * (size_t)lx->blk * sizeof(float);
    nas_step st = {.kind = NAS_STEP_DW_BWD_W, .a = s->src, .b = s->y->dx, .c = s->dw, .aux = g};
    if (!(st.d = own_written(l, ctx, part, err))) return NAS_ERR_NOMEM;
    s->dy_w = s->y->dx;
    return push_step(&l->bwd, &st, err);
}

/* backward weights: dW = conv_bwd_w(x, dy) (reordered into the plain dw), db = sum dy. */
static nas_status weighted_backward_weights(nas_layer *l, nas_ctx *ctx, weighted *s,
                                            nas_error *err) {
    nas_status st;
    const dnnl_memory_desc_t *bias = l->bias ? &s->bmd : NULL;
    if (s->conv) {
        dnnl_convolution_desc_t d;
        NAS_DNNL(dnnl_dilated_convolution_backward_weights_desc_init(
                     &d, dnnl_convolution_auto, &s->xany, &s->wany, bias, &s->yany, s->strides,
                     s->dil, s->pad, s->pad),
                 err);
        NAS_DNNL(dnnl_primitive_desc_create(&s->wpd, &d, ctx->attr, ctx->eng, s->fpd), err);
        const char *impl = NULL;
        dnnl_primitive_desc_query(s->wpd, dnnl_query_impl_info_str, 0, &impl);
        lay4 lx, ldy;
        if (l->groups == s->x->c && l->groups == l->out_c && !l->bias && impl && !strstr(impl, "jit_dw") &&
            lay4_of(s->src_md, &lx) && lay4_of(&s->y->md, &ldy) && lx.blk == ldy.blk)
            return dw_backward_weights_step(l, ctx, s, &lx, &ldy, err);
    } else {
        dnnl_inner_product_desc_t d;
        NAS_DNNL(dnnl_inner_product_backward_weights_desc_init(&d, &s->xany, &s->wany, bias,
                                                               &s->y->md),
                 err);
        NAS_DNNL(dnnl_primitive_desc_create(&s->wpd, &d, ctx->attr, ctx->eng, s->fpd), err);
    }
    const dnnl_memory_desc_t *src_md = qmd(s->wpd, DNNL_ARG_SRC);
    const dnnl_memory_desc_t *dy_md = qmd(s->wpd, DNNL_ARG_DIFF_DST);
    const dnnl_memory_desc_t *dw_md = qmd(s->wpd, DNNL_ARG_DIFF_WEIGHTS);
    void *src = s->src, *dw = s->dw;
    s->dy_w = s->y->dx;
    if (!md_eq(src_md, s->src_md)) {
        if (md_eq(src_md, &s->xmd)) {
            src = s->x->x;
        } else {
            if (!(src = own_written(l, ctx, dnnl_memory_desc_get_size(src_md), err)))
                return NAS_ERR_NOMEM;
            if ((st = push_reorder(l, ctx, &l->bwd, &s->xmd, s->x->x, src_md, src, err))) return st;
        }
    }
    if (!md_eq(dy_md, &s->y->md)) {
        if (!(s->dy_w = own_written(l, ctx, dnnl_memory_desc_get_size(dy_md), err)))
            return NAS_ERR_NOMEM;
        if ((st = push_reorder(l, ctx, &l->bwd, &s->y->md, s->y->dx, dy_md, s->dy_w, err)))
            return st;
    }
    int plain = md_eq(dw_md, &s->wplain);
    if (!plain && !(dw = own_buf(l, ctx, dnnl_memory_desc_get_size(dw_md), err)))
        return NAS_ERR_NOMEM;
    nas_arg a[] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, s->dy_w},
                   {DNNL_ARG_DIFF_WEIGHTS, dw}, {DNNL_ARG_DIFF_BIAS, s->db}};
    if ((st = push_prim(l, ctx, &l->bwd, s->wpd, a, 4, err))) return st;
    if (!plain) return push_reorder(l, ctx, &l->bwd, dw_md, dw, &s->wplain, s->dw, err);
    return NAS_OK;
fail:
    return fail_status(err, NAS_ERR_DNNL);
}

/* backward data: dx = conv_bwd_d(dy, W), into the input's gradient (or added to it). */
static nas_status weighted_backward_data(nas_layer *l, nas_ctx *ctx, nas_tensor *t, weighted *s,
                                         nas_error *err) {
    nas_status st;
    float *target = dx_target(l, ctx, t, 0, err);
    if (!target) return NAS_ERR_NOMEM;
    if (s->conv) {
        dnnl_convolution_desc_t d;
        NAS_DNNL(dnnl_dilated_convolution_backward_data_desc_init(
                     &d, dnnl_convolution_auto, &s->xany, &s->wany, &s->yany, s->strides, s->dil,
                     s->pad, s->pad),
                 err);
        NAS_DNNL(dnnl_primitive_desc_create(&s->dpd, &d, ctx->attr, ctx->eng, s->fpd), err);
    } else {
        dnnl_inner_product_desc_t d;
        NAS_DNNL(dnnl_inner_product_backward_data_desc_init(&d, &s->xany, &s->wany, &s->y->md), err);
        NAS_DNNL(dnnl_primitive_desc_create(&s->dpd, &d, ctx->attr, ctx->eng, s->fpd), err);
    }
    const dnnl_memory_desc_t *dy_md = qmd(s->dpd, DNNL_ARG_DIFF_DST);
    const dnnl_memory_desc_t *w_md = qmd(s->dpd, DNNL_ARG_WEIGHTS);
    const dnnl_memory_desc_t *dx_md = qmd(s->dpd, DNNL_ARG_DIFF_SRC);
    void *dy = s->y->dx, *w = s->wk, *dx = target;
    if (!md_eq(dy_md, &s->y->md)) {
        if (s->dy_w != s->y->dx && md_eq(dy_md, qmd(s->wpd, DNNL_ARG_DIFF_DST))) {
            dy = s->dy_w;
        } else {
            if (!(dy = own_written(l, ctx, dnnl_memory_desc_get_size(dy_md), err)))
                return NAS_ERR_NOMEM;
            if ((st = push_reorder(l, ctx, &l->bwd, &s->y->md, s->y->dx, dy_md, dy, err))) return st;
        }
    }
    if (!md_eq(w_md, s->w_md)) {
        if (md_eq(w_md, &s->wplain)) {
            w = s->w;
        } else {
            if (!(w = own_buf(l, ctx, dnnl_memory_desc_get_size(w_md), err))) return NAS_ERR_NOMEM;
            if ((st = push_reorder(l, ctx, &l->wsync, &s->wplain, s->w, w_md, w, err))) return st;
        }
    }
    int direct = md_eq(dx_md, &s->xmd);
    if (!direct && !(dx = own_written(l, ctx, dnnl_memory_desc_get_size(dx_md), err)))
        return NAS_ERR_NOMEM;
    nas_arg a[] = {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, dx}};
    if ((st = push_prim(l, ctx, &l->bwd, s->dpd, a, 3, err))) return st;
    if (!direct && (st = push_reorder(l, ctx, &l->bwd, dx_md, dx, &s->xmd, target, err))) return st;
    float *targets[1] = {target};
    return push_accumulate(l, ctx, t, targets, err);
fail:
    return fail_status(err, NAS_ERR_DNNL);
}

/*
 * conv: x (N, C, H, W) -> y (N, O, OH, OW), weights (O, C/g, KH, KW), bias (O)
 *   OH = (H + 2 pad - dilation (KH - 1) - 1) / stride + 1
 * fc:   x (N, C[, 1, 1]) -> y (N, O), weights (O, C[, 1, 1]), bias (O)
 */
static nas_status build_weighted(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads,
                                 nas_error *err) {
    weighted s = {.conv = l->kind == NAS_L_CONV, .x = &t[l->in[0]], .y = &t[l->out]};
    nas_status st;
    if ((st = weighted_init(l, ctx, &s, grads, err))) goto out;
    if ((st = weighted_forward(l, ctx, &s, grads, err))) goto out;
    if (!grads) goto out;
    if ((st = weighted_backward_weights(l, ctx, &s, err))) goto out;
    if (l->edge[0] != NAS_EDGE_NONE) st = weighted_backward_data(l, ctx, t, &s, err);
out:
    if (s.fpd) dnnl_primitive_desc_destroy(s.fpd);
    if (s.wpd) dnnl_primitive_desc_destroy(s.wpd);
    if (s.dpd) dnnl_primitive_desc_destroy(s.dpd);
    return st;
}

/* ------------------------------------------------------ batch normalization */

/*
 * folded conv + bn (inference): x (N, C, H, W) -> y (N, O, OH, OW),
 * y = [relu](conv(x, W') + b'), W'[o] = W[o] s[o], b'[o] = beta[o] + (b[o] - mean[o]) s[o],
 * s = gamma / sqrt(running_var + eps). W', b' are refreshed by the isync steps.
 */
static nas_status bn_fold_inference(nas_layer *l, nas_ctx *ctx, nas_tensor *t, float *gamma,
                                    float *beta, float *rmean, float *rvar, nas_error *err) {
    const nas_layer *c = l->fold;
    nas_tensor *x = &t[c->in[0]], *y = &t[l->out];
    int O = c->out_c, g = c->groups;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    nas_status st = NAS_OK;
    dnnl_memory_desc_t wplain, wany, bmd;
    dnnl_dim_t bd[1] = {O};
    if (g > 1) {
        dnnl_dim_t wd[5] = {g, O / g, x->c / g, c->kernel_h, c->kernel_w};
        wplain = md_tag(5, wd, dnnl_goihw), wany = md_any(5, wd);
    } else {
        dnnl_dim_t wd[4] = {O, x->c, c->kernel_h, c->kernel_w};
        wplain = md_tag(4, wd, dnnl_oihw), wany = md_any(4, wd);
    }
    bmd = md_tag(1, bd, dnnl_x);
    dnnl_dims_t strides = {c->stride, c->stride}, dil = {c->dilation - 1, c->dilation - 1};
    dnnl_dims_t pad = {c->pad, c->pad};
    NAS_DNNL(dnnl_primitive_attr_create(&attr), err);
    NAS_DNNL(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), err);
    if (l->fuse_relu) {
        NAS_DNNL(dnnl_post_ops_create(&po), err);
        NAS_DNNL(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f), err);
        NAS_DNNL(dnnl_primitive_attr_set_post_ops(attr, po), err);
    }
    dnnl_convolution_desc_t d;
    NAS_DNNL(dnnl_dilated_convolution_forward_desc_init(
                 &d, dnnl_forward_inference, dnnl_convolution_auto, &c->inf_src_md, &wany, &bmd,
                 &y->md, strides, dil, pad, pad),
             err);
    NAS_DNNL(dnnl_primitive_desc_create(&pd, &d, attr, ctx->eng, NULL), err);
    size_t wn = c->params[0].n;
    float *wf = own_buf(l, ctx, wn * sizeof(float), err);
    float *bf = own_buf(l, ctx, (size_t)O * sizeof(float), err);
    if (!wf || !bf) goto nomem;
    nas_step fold = {.kind = NAS_STEP_BN_FOLD, .n = (size_t)O, .m = wn / (size_t)O,
                     .fold = {c->params[0].w, c->bias ? c->params[1].w : NULL, gamma, beta, rmean,
                              rvar, wf, bf}};
    if ((st = push_step(&l->isync, &fold, err))) goto out;
    const dnnl_memory_desc_t *w_md = qmd(pd, DNNL_ARG_WEIGHTS);
    void *wk = wf;
    if (!md_eq(w_md, &wplain)) {
        if (!(wk = own_buf(l, ctx, dnnl_memory_desc_get_size(w_md), err))) goto nomem;
        if ((st = push_reorder(l, ctx, &l->isync, &wplain, wf, w_md, wk, err))) goto out;
    }
    nas_arg a[] = {{DNNL_ARG_SRC, c->inf_src}, {DNNL_ARG_WEIGHTS, wk}, {DNNL_ARG_BIAS, bf},
                   {DNNL_ARG_DST, y->x}};
    st = push_prim(l, ctx, &l->inf, pd, a, 4, err);
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
nomem:
    st = fail_status(err, NAS_ERR_NOMEM);
    goto out;
fail:
    st = fail_status(err, NAS_ERR_DNNL);
    goto out;
}

/*
 * bn: x (N, C, H, W) -> y (N, C, H, W), y = gamma (x - mean) / sqrt(var + eps) + beta
 * [then max(y, 0) when fused]. Training uses the batch statistics (biased var)
 * and updates running_mean/var with momentum 0.1 and the unbiased variance, as
 * PyTorch; inference uses the running statistics.
 */
static nas_status build_bn(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads, nas_error *err) {
    nas_tensor *x = &t[l->in[0]], *y = &t[l->out];
    dnnl_primitive_desc_t fpd = NULL, ipd = NULL, bpd = NULL;
    nas_status st = NAS_OK;
    size_t C = (size_t)x->c, cb = C * sizeof(float);
    unsigned flags = dnnl_use_scale | dnnl_use_shift | (l->fuse_relu ? dnnl_fuse_norm_relu : 0);
    dnnl_batch_normalization_desc_t d;
    NAS_DNNL(dnnl_batch_normalization_forward_desc_init(&d, dnnl_forward_training, &x->md,
                                                        NAS_BN_EPS, flags),
             err);
    NAS_DNNL(dnnl_primitive_desc_create(&fpd, &d, ctx->attr, ctx->eng, NULL), err);
    NAS_DNNL(dnnl_batch_normalization_forward_desc_init(&d, dnnl_forward_inference, &x->md,
                                                        NAS_BN_EPS, flags | dnnl_use_global_stats),
             err);
    NAS_DNNL(dnnl_primitive_desc_create(&ipd, &d, ctx->attr, ctx->eng, NULL), err);

    float *gamma = own_buf(l, ctx, cb, err), *beta = own_buf(l, ctx, cb, err);
    float *rmean = own_buf(l, ctx, cb, err), *rvar = own_buf(l, ctx, cb, err);
    float *mean = own_buf(l, ctx, cb, err), *var = own_buf(l, ctx, cb, err);
    float *dgamma = grads ? own_buf(l, ctx, cb, err) : NULL;
    float *dbeta = grads ? own_buf(l, ctx, cb, err) : NULL;
    if (!gamma || !beta || !rmean || !rvar || !mean || !var || (grads && (!dgamma || !dbeta)))
        goto nomem;
    add_param(l, "weight", gamma, dgamma, C, 0);
    add_param(l, "bias", beta, dbeta, C, 0);
    add_param(l, "running_mean", rmean, NULL, C, 0);
    add_param(l, "running_var", rvar, NULL, C, 0);
    void *ws = NULL;
    const dnnl_memory_desc_t *wsmd = qmd(fpd, DNNL_ARG_WORKSPACE);
    if (wsmd && wsmd->ndims && !(ws = own_written(l, ctx, dnnl_memory_desc_get_size(wsmd), err)))
        goto nomem;

    if ((st = tensor_alloc(ctx, y, qmd(fpd, DNNL_ARG_DST), grads, err))) goto out;
    nas_arg fa[] = {{DNNL_ARG_SRC, x->x},   {DNNL_ARG_DST, y->x},      {DNNL_ARG_SCALE, gamma},
                    {DNNL_ARG_SHIFT, beta}, {DNNL_ARG_MEAN, mean},     {DNNL_ARG_VARIANCE, var},
                    {DNNL_ARG_WORKSPACE, ws}};
    if ((st = push_prim(l, ctx, &l->fwd, fpd, fa, 7, err))) goto out;
    float count = (float)x->n * (float)x->h * (float)x->w;
    nas_step run = {.kind = NAS_STEP_BN_RUN, .a = mean, .b = var, .c = rmean, .d = rvar,
                    .n = C, .f = count};
    if ((st = push_step(&l->fwd, &run, err))) goto out;
    nas_arg ia[] = {{DNNL_ARG_SRC, x->x},   {DNNL_ARG_DST, y->x},   {DNNL_ARG_SCALE, gamma},
                    {DNNL_ARG_SHIFT, beta}, {DNNL_ARG_MEAN, rmean}, {DNNL_ARG_VARIANCE, rvar}};
    if (l->fold) st = bn_fold_inference(l, ctx, t, gamma, beta, rmean, rvar, err);
    else st = push_prim(l, ctx, &l->inf, ipd, ia, 6, err);
    if (st) goto out;
    if (!grads) goto out;

    /* backward: dx, dgamma, dbeta from dy and the batch statistics */
    float *target = l->edge[0] != NAS_EDGE_NONE ? dx_target(l, ctx, t, 0, err) : NULL;
    if (l->edge[0] != NAS_EDGE_NONE && !target) goto nomem;
    void *dxbuf = target;
    if (!target && !(dxbuf = own_written(l, ctx, x->bytes, err))) /* dgamma needs a pass */
        goto nomem;
    NAS_DNNL(dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward, &y->md, &x->md,
                                                         NAS_BN_EPS, flags),
             err);
    NAS_DNNL(dnnl_primitive_desc_create(&bpd, &d, ctx->attr, ctx->eng, fpd), err);
    nas_arg ba[] = {{DNNL_ARG_SRC, x->x},       {DNNL_ARG_MEAN, mean},
                    {DNNL_ARG_VARIANCE, var},   {DNNL_ARG_DIFF_DST, y->dx},
                    {DNNL_ARG_SCALE, gamma},    {DNNL_ARG_SHIFT, beta},
                    {DNNL_ARG_WORKSPACE, ws},
                    {DNNL_ARG_DIFF_SRC, dxbuf}, {DNNL_ARG_DIFF_SCALE, dgamma},
                    {DNNL_ARG_DIFF_SHIFT, dbeta}};
    if ((st = push_prim(l, ctx, &l->bwd, bpd, ba, 10, err))) goto out;
    float *targets[1] = {target};
    st = push_accumulate(l, ctx, t, targets, err);
out:
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (ipd) dnnl_primitive_desc_destroy(ipd);
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    return st;
nomem:
    st = err ? err->code : NAS_ERR_NOMEM;
    goto out;
fail:
    st = err ? err->code : NAS_ERR_DNNL;
    goto out;
}

/* ------------------------------------------------------------ activations */

/*
 * act: x (any shape) -> y (same): relu max(x, 0); relu6 min(max(x, 0), 6);
 * hswish x relu6(x + 3) / 6; sigmoid 1 / (1 + exp(-x)).
 */
static nas_status build_act(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads, nas_error *err) {
    nas_tensor *x = &t[l->in[0]], *y = &t[l->out];
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    nas_status st = NAS_OK;
    dnnl_alg_kind_t alg;
    float alpha = 0.f, beta = 0.f;
    switch (l->act) {
    case NAS_OP_RELU: alg = dnnl_eltwise_relu; break;
    case NAS_OP_RELU6: alg = dnnl_eltwise_clip_v2; beta = 6.f; break;
    case NAS_OP_HSWISH: alg = dnnl_eltwise_hardswish; break;
    case NAS_OP_SIGMOID: alg = dnnl_eltwise_logistic; break;
    default:
        return NAS_FAIL(err, NAS_ERR_UNSUPPORTED, "%s: not an activation: %s", l->name,
                        nas_op_name(l->act));
    }
    dnnl_eltwise_desc_t d;
    NAS_DNNL(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_training, alg, &x->md, alpha, beta), err);
    NAS_DNNL(dnnl_primitive_desc_create(&fpd, &d, ctx->attr, ctx->eng, NULL), err);
    if ((st = tensor_alloc(ctx, y, qmd(fpd, DNNL_ARG_DST), grads, err))) goto out;
    {
        dnnl_primitive_t p;
        dnnl_memory_t scratch;
        nas_arg a[] = {{DNNL_ARG_SRC, x->x}, {DNNL_ARG_DST, y->x}};
        if ((st = own_prim(l, ctx, fpd, &p, &scratch, err))) goto out;
        if ((st = push_exec(l, ctx, &l->fwd, fpd, p, scratch, a, 2, err))) goto out;
        if ((st = push_exec(l, ctx, &l->inf, fpd, p, scratch, a, 2, err))) goto out;
    }
    if (!grads || l->edge[0] == NAS_EDGE_NONE) goto out;
    float *target = dx_target(l, ctx, t, 0, err);
    if (!target) goto nomem;
    NAS_DNNL(dnnl_eltwise_backward_desc_init(&d, alg, &y->md, &x->md, alpha, beta), err);
    NAS_DNNL(dnnl_primitive_desc_create(&bpd, &d, ctx->attr, ctx->eng, fpd), err);
    nas_arg ba[] = {{DNNL_ARG_SRC, x->x}, {DNNL_ARG_DIFF_DST, y->dx}, {DNNL_ARG_DIFF_SRC, target}};
    if ((st = push_prim(l, ctx, &l->bwd, bpd, ba, 3, err))) goto out;
    float *targets[1] = {target};
    st = push_accumulate(l, ctx, t, targets, err);
out:
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    return st;
nomem:
    st = err ? err->code : NAS_ERR_NOMEM;
    goto out;
fail:
    st = err ? err->code : NAS_ERR_DNNL;
    goto out;
}

/* ---------------------------------------------------------------- pooling */

/*
 * pool: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H + 2 pad - K) / stride + 1;
 * max, or average over the window's in-image elements (padding excluded).
 * Global average pooling is K = (H, W), stride 1, pad 0 -> (N, C, 1, 1).
 */
static nas_status build_pool(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads, nas_error *err) {
    nas_tensor *x = &t[l->in[0]], *y = &t[l->out];
    dnnl_primitive_desc_t fpd = NULL, ipd = NULL, bpd = NULL;
    nas_status st = NAS_OK;
    dnnl_alg_kind_t alg = l->pool_max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding;
    dnnl_memory_desc_t xmd = nas_md_4d(&x->md);
    dnnl_dim_t yd[4] = {y->n, y->c, y->h, y->w};
    dnnl_memory_desc_t yany = md_any(4, yd);
    dnnl_dims_t strides = {l->stride, l->stride}, kernel = {l->kernel_h, l->kernel_w};
    dnnl_dims_t dil = {0, 0}, pad = {l->pad, l->pad};
    dnnl_pooling_v2_desc_t d;
    NAS_DNNL(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_training, alg, &xmd, &yany, strides,
                                               kernel, dil, pad, pad),
             err);
    NAS_DNNL(dnnl_primitive_desc_create(&fpd, &d, ctx->attr, ctx->eng, NULL), err);
    NAS_DNNL(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, alg, &xmd, &yany,
                                               strides, kernel, dil, pad, pad),
             err);
    NAS_DNNL(dnnl_primitive_desc_create(&ipd, &d, ctx->attr, ctx->eng, NULL), err);
    if ((st = tensor_alloc(ctx, y, qmd(fpd, DNNL_ARG_DST), grads, err))) goto out;
    void *ws = NULL;
    const dnnl_memory_desc_t *wsmd = qmd(fpd, DNNL_ARG_WORKSPACE);
    if (wsmd && wsmd->ndims && !(ws = own_written(l, ctx, dnnl_memory_desc_get_size(wsmd), err)))
        goto nomem;
    nas_arg fa[] = {{DNNL_ARG_SRC, x->x}, {DNNL_ARG_DST, y->x}, {DNNL_ARG_WORKSPACE, ws}};
    if ((st = push_prim(l, ctx, &l->fwd, fpd, fa, 3, err))) goto out;
    if ((st = push_prim(l, ctx, &l->inf, ipd, fa, 2, err))) goto out;
    if (!grads || l->edge[0] == NAS_EDGE_NONE) goto out;
    float *target = dx_target(l, ctx, t, 0, err);
    if (!target) goto nomem;
    NAS_DNNL(dnnl_pooling_v2_backward_desc_init(&d, alg, &xmd, &y->md, strides, kernel, dil, pad, pad),
             err);
    NAS_DNNL(dnnl_primitive_desc_create(&bpd, &d, ctx->attr, ctx->eng, fpd), err);
    const dnnl_memory_desc_t *dx_md = qmd(bpd, DNNL_ARG_DIFF_SRC);
    const dnnl_memory_desc_t *dy_md = qmd(bpd, DNNL_ARG_DIFF_DST);
    void *ddy = y->dx, *ddx = target;
    if (!md_eq(dy_md, &y->md)) {
        if (!(ddy = own_written(l, ctx, dnnl_memory_desc_get_size(dy_md), err))) goto nomem;
        if ((st = push_reorder(l, ctx, &l->bwd, &y->md, y->dx, dy_md, ddy, err))) goto out;
    }
    int direct = md_eq(dx_md, &xmd);
    if (!direct && !(ddx = own_written(l, ctx, dnnl_memory_desc_get_size(dx_md), err))) goto nomem;
    nas_arg ba[] = {{DNNL_ARG_DIFF_DST, ddy}, {DNNL_ARG_DIFF_SRC, ddx}, {DNNL_ARG_WORKSPACE, ws}};
    if ((st = push_prim(l, ctx, &l->bwd, bpd, ba, 3, err))) goto out;
    if (!direct && (st = push_reorder(l, ctx, &l->bwd, dx_md, ddx, &xmd, target, err))) goto out;
    float *targets[1] = {target};
    st = push_accumulate(l, ctx, t, targets, err);
out:
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (ipd) dnnl_primitive_desc_destroy(ipd);
    if (bpd) dnnl_primitive_desc_destroy(bpd);
    return st;
nomem:
    st = err ? err->code : NAS_ERR_NOMEM;
    goto out;
fail:
    st = err ? err->code : NAS_ERR_DNNL;
    goto out;
}

/* ------------------------------------------------------------ sum, concat */

/* sum: x_i (N, C, H, W), i < n -> y = sum_i x_i; backward dx_i = dy. */
static nas_status build_sum(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads, nas_error *err) {
    nas_tensor *y = &t[l->out];
    dnnl_primitive_desc_t pd = NULL;
    nas_status st = NAS_OK;
    dnnl_memory_desc_t mds[NAS_ARCH_MAX_INPUTS];
    float scales[NAS_ARCH_MAX_INPUTS];
    nas_arg a[NAS_ARCH_MAX_INPUTS + 1];
    int mixed = 0;
    for (int i = 0; i < l->n_in; i++) mixed |= t[l->in[i]].md.ndims != t[l->in[0]].md.ndims;
    for (int i = 0; i < l->n_in; i++) {
        mds[i] = mixed ? nas_md_4d(&t[l->in[i]].md) : t[l->in[i]].md;
        scales[i] = 1.f;
        a[i] = (nas_arg){DNNL_ARG_MULTIPLE_SRC + i, t[l->in[i]].x};
    }
    NAS_DNNL(dnnl_sum_primitive_desc_create(&pd, &mds[0], l->n_in, scales, mds, ctx->attr, ctx->eng),
             err);
    if ((st = tensor_alloc(ctx, y, qmd(pd, DNNL_ARG_DST), grads, err))) goto out;
    a[l->n_in] = (nas_arg){DNNL_ARG_DST, y->x};
    {
        dnnl_primitive_t p;
        dnnl_memory_t scratch;
        if ((st = own_prim(l, ctx, pd, &p, &scratch, err))) goto out;
        if ((st = push_exec(l, ctx, &l->fwd, pd, p, scratch, a, l->n_in + 1, err))) goto out;
        if ((st = push_exec(l, ctx, &l->inf, pd, p, scratch, a, l->n_in + 1, err))) goto out;
    }
    if (!grads) goto out;
    float *targets[NAS_ARCH_MAX_INPUTS] = {0};
    for (int i = 0; i < l->n_in; i++) {
        if (l->edge[i] == NAS_EDGE_NONE) continue;
        if (!(targets[i] = dx_target(l, ctx, t, i, err))) goto nomem;
        if ((st = push_move(l, ctx, &l->bwd, &y->md, y->dx, &mds[i], targets[i], err))) goto out;
    }
    st = push_accumulate(l, ctx, t, targets, err);
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return st;
nomem:
    st = err ? err->code : NAS_ERR_NOMEM;
    goto out;
fail:
    st = err ? err->code : NAS_ERR_DNNL;
    goto out;
}

/* concat: x_i (N, C_i, H, W) -> y (N, sum C_i, H, W) plain nchw; dx_i = dy[:, off_i:off_i+C_i]. */
static nas_status build_concat(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads,
                               nas_error *err) {
    nas_tensor *y = &t[l->out];
    dnnl_primitive_desc_t pd = NULL;
    nas_status st = NAS_OK;
    dnnl_memory_desc_t mds[NAS_ARCH_MAX_INPUTS];
    nas_arg a[NAS_ARCH_MAX_INPUTS + 1];
    for (int i = 0; i < l->n_in; i++) {
        mds[i] = nas_md_4d(&t[l->in[i]].md);
        a[i] = (nas_arg){DNNL_ARG_MULTIPLE_SRC + i, t[l->in[i]].x};
    }
    dnnl_memory_desc_t ymd = nas_md_nchw(y->n, y->c, y->h, y->w);
    NAS_DNNL(dnnl_concat_primitive_desc_create(&pd, &ymd, l->n_in, 1, mds, ctx->attr, ctx->eng), err);
    if ((st = tensor_alloc(ctx, y, &ymd, grads, err))) goto out;
    a[l->n_in] = (nas_arg){DNNL_ARG_DST, y->x};
    {
        dnnl_primitive_t p;
        dnnl_memory_t scratch;
        if ((st = own_prim(l, ctx, pd, &p, &scratch, err))) goto out;
        if ((st = push_exec(l, ctx, &l->fwd, pd, p, scratch, a, l->n_in + 1, err))) goto out;
        if ((st = push_exec(l, ctx, &l->inf, pd, p, scratch, a, l->n_in + 1, err))) goto out;
    }
    if (!grads) goto out;
    float *targets[NAS_ARCH_MAX_INPUTS] = {0};
    int off = 0;
    for (int i = 0; i < l->n_in; i++) {
        int ci = t[l->in[i]].c;
        if (l->edge[i] != NAS_EDGE_NONE) {
            if (!(targets[i] = dx_target(l, ctx, t, i, err))) goto nomem;
            dnnl_memory_desc_t sub;
            dnnl_dims_t dims = {y->n, ci, y->h, y->w}, offs = {0, off, 0, 0};
            NAS_DNNL(dnnl_memory_desc_init_submemory(&sub, &ymd, dims, offs), err);
            if ((st = push_reorder(l, ctx, &l->bwd, &sub, y->dx, &mds[i], targets[i], err))) goto out;
        }
        off += ci;
    }
    st = push_accumulate(l, ctx, t, targets, err);
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return st;
nomem:
    st = err ? err->code : NAS_ERR_NOMEM;
    goto out;
fail:
    st = err ? err->code : NAS_ERR_DNNL;
    goto out;
}

/* ------------------------------------- dropout, zero, identity, flatten */

/* dropout: x -> y = x * m / (1 - rate), m ~ Bernoulli(1 - rate) per element, drawn
 * from the rng given to the forward pass; identity at inference. */
static nas_status build_dropout(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads,
                                nas_error *err) {
    nas_tensor *x = &t[l->in[0]], *y = &t[l->out];
    nas_status st;
    if ((st = tensor_alloc(ctx, y, &x->md, grads, err))) return st;
    size_t n = x->bytes / sizeof(float);
    unsigned char *mask = own_written(l, ctx, n, err);
    if (!mask) return err ? err->code : NAS_ERR_NOMEM;
    nas_step copy = {.kind = NAS_STEP_COPY, .a = x->x, .b = y->x, .n = x->bytes};
    nas_step fwd = {.kind = NAS_STEP_DROP_FWD, .a = x->x, .b = y->x, .mask = mask, .n = n,
                    .f = (float)l->rate};
    if ((st = push_step(&l->fwd, l->rate > 0 ? &fwd : &copy, err))) return st;
    if ((st = push_step(&l->inf, &copy, err))) return st;
    if (!grads || l->edge[0] == NAS_EDGE_NONE) return NAS_OK;
    float *target = dx_target(l, ctx, t, 0, err);
    if (!target) return err ? err->code : NAS_ERR_NOMEM;
    nas_step bcopy = {.kind = NAS_STEP_COPY, .a = y->dx, .b = target, .n = x->bytes};
    nas_step bwd = {.kind = NAS_STEP_DROP_BWD, .a = y->dx, .b = target, .mask = mask, .n = n,
                    .f = (float)(1.0 / (1.0 - l->rate))};
    if ((st = push_step(&l->bwd, l->rate > 0 ? &bwd : &bcopy, err))) return st;
    float *targets[1] = {target};
    return push_accumulate(l, ctx, t, targets, err);
}

/* zero: x (N, C, H, W) -> y = 0 of (N, C, OH, OW); no gradient reaches x. */
static nas_status build_zero(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads, nas_error *err) {
    nas_tensor *y = &t[l->out];
    dnnl_memory_desc_t ymd = nas_md_nchw(y->n, y->c, y->h, y->w);
    nas_status st = tensor_alloc(ctx, y, &ymd, grads, err);
    if (st) return st;
    memset(y->x, 0, y->bytes); /* never written */
    if (!grads || l->edge[0] != NAS_EDGE_DIRECT) return NAS_OK;
    nas_tensor *x = &t[l->in[0]];
    nas_step fill = {.kind = NAS_STEP_FILL0, .b = x->dx, .n = x->bytes};
    return push_step(&l->bwd, &fill, err);
}

/* identity: x -> y = x (a copy, so that gradients accumulate as for any layer). */
static nas_status build_copy(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads, nas_error *err) {
    nas_tensor *x = &t[l->in[0]], *y = &t[l->out];
    nas_status st;
    if ((st = tensor_alloc(ctx, y, &x->md, grads, err))) return st;
    nas_step copy = {.kind = NAS_STEP_COPY, .a = x->x, .b = y->x, .n = x->bytes};
    if ((st = push_step(&l->fwd, &copy, err)) || (st = push_step(&l->inf, &copy, err))) return st;
    if (!grads || l->edge[0] == NAS_EDGE_NONE) return NAS_OK;
    float *target = dx_target(l, ctx, t, 0, err);
    if (!target) return err ? err->code : NAS_ERR_NOMEM;
    nas_step back = {.kind = NAS_STEP_COPY, .a = y->dx, .b = target, .n = x->bytes};
    if ((st = push_step(&l->bwd, &back, err))) return st;
    float *targets[1] = {target};
    return push_accumulate(l, ctx, t, targets, err);
}

/* flatten: x (N, C, H, W) any layout -> y (N, C*H*W, 1, 1) plain, CHW order. */
static nas_status build_flatten(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads,
                                nas_error *err) {
    nas_tensor *x = &t[l->in[0]], *y = &t[l->out];
    nas_status st;
    dnnl_memory_desc_t xmd = nas_md_4d(&x->md), plain = nas_md_nchw(x->n, x->c, x->h, x->w);
    dnnl_memory_desc_t ymd = nas_md_nchw(y->n, y->c, 1, 1);
    if ((st = tensor_alloc(ctx, y, &ymd, grads, err))) return st;
    if ((st = push_move(l, ctx, &l->fwd, &xmd, x->x, &plain, y->x, err))) return st;
    if ((st = push_move(l, ctx, &l->inf, &xmd, x->x, &plain, y->x, err))) return st;
    if (!grads || l->edge[0] == NAS_EDGE_NONE) return NAS_OK;
    float *target = dx_target(l, ctx, t, 0, err);
    if (!target) return err ? err->code : NAS_ERR_NOMEM;
    if ((st = push_move(l, ctx, &l->bwd, &plain, y->dx, &xmd, target, err))) return st;
    float *targets[1] = {target};
    return push_accumulate(l, ctx, t, targets, err);
}

/* ------------------------------------------------------------- SE scale */

/*
 * scale: x (N, C, H, W), s (N, C, 1, 1) -> y = x * s (broadcast over H, W);
 * dx = dy * s, ds = sum_{h,w} dy * x.
 */
static nas_status build_scale(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads,
                              nas_error *err) {
    nas_tensor *x = &t[l->in[0]], *s = &t[l->in[1]], *y = &t[l->out];
    dnnl_primitive_desc_t pd = NULL, dpd = NULL, rpd = NULL;
    nas_status st = NAS_OK;
    dnnl_memory_desc_t xmd = nas_md_4d(&x->md), smd = nas_md_4d(&s->md);
    dnnl_binary_desc_t d;
    NAS_DNNL(dnnl_binary_desc_init(&d, dnnl_binary_mul, &xmd, &smd, &xmd), err);
    NAS_DNNL(dnnl_primitive_desc_create(&pd, &d, ctx->attr, ctx->eng, NULL), err);
    if ((st = tensor_alloc(ctx, y, &xmd, grads, err))) goto out;
    {
        dnnl_primitive_t p;
        dnnl_memory_t scratch;
        nas_arg a[] = {{DNNL_ARG_SRC_0, x->x}, {DNNL_ARG_SRC_1, s->x}, {DNNL_ARG_DST, y->x}};
        if ((st = own_prim(l, ctx, pd, &p, &scratch, err))) goto out;
        if ((st = push_exec(l, ctx, &l->fwd, pd, p, scratch, a, 3, err))) goto out;
        if ((st = push_exec(l, ctx, &l->inf, pd, p, scratch, a, 3, err))) goto out;
        if (!grads) goto out;
        float *targets[2] = {0};
        if (l->edge[0] != NAS_EDGE_NONE) {
            if (!(targets[0] = dx_target(l, ctx, t, 0, err))) goto nomem;
            nas_arg b[] = {{DNNL_ARG_SRC_0, y->dx}, {DNNL_ARG_SRC_1, s->x}, {DNNL_ARG_DST, targets[0]}};
            if ((st = push_exec(l, ctx, &l->bwd, pd, p, scratch, b, 3, err))) goto out;
        }
        lay4 lx, ls;
        if (l->edge[1] != NAS_EDGE_NONE && lay4_of(&xmd, &lx) && lay4_of(&smd, &ls)) {
            if (!(targets[1] = dx_target(l, ctx, t, 1, err))) goto nomem;
            gate_geom *g = own_buf(l, ctx, sizeof *g, err);
            if (!g) goto nomem;
            *g = (gate_geom){.x = lx, .s = ls, .n = x->n, .c = x->c, .h = x->h, .w = x->w};
            nas_step gs = {.kind = NAS_STEP_GATE_BWD, .a = x->x, .b = y->dx, .c = targets[1], .aux = g};
            if ((st = push_step(&l->bwd, &gs, err))) goto out;
        } else if (l->edge[1] != NAS_EDGE_NONE) {
            if (!(targets[1] = dx_target(l, ctx, t, 1, err))) goto nomem;
            float *prod = own_written(l, ctx, x->bytes, err);
            if (!prod) goto nomem;
            nas_arg b[] = {{DNNL_ARG_SRC_0, y->dx}, {DNNL_ARG_SRC_1, x->x}, {DNNL_ARG_DST, prod}};
            NAS_DNNL(dnnl_binary_desc_init(&d, dnnl_binary_mul, &xmd, &xmd, &xmd), err);
            NAS_DNNL(dnnl_primitive_desc_create(&dpd, &d, ctx->attr, ctx->eng, NULL), err);
            if ((st = push_prim(l, ctx, &l->bwd, dpd, b, 3, err))) goto out;
            dnnl_reduction_desc_t r;
            NAS_DNNL(dnnl_reduction_desc_init(&r, dnnl_reduction_sum, &xmd, &smd, 0.f, 0.f), err);
            NAS_DNNL(dnnl_primitive_desc_create(&rpd, &r, ctx->attr, ctx->eng, NULL), err);
            nas_arg c[] = {{DNNL_ARG_SRC, prod}, {DNNL_ARG_DST, targets[1]}};
            if ((st = push_prim(l, ctx, &l->bwd, rpd, c, 2, err))) goto out;
        }
        st = push_accumulate(l, ctx, t, targets, err);
    }
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    return st;
nomem:
    st = err ? err->code : NAS_ERR_NOMEM;
    goto out;
fail:
    st = err ? err->code : NAS_ERR_DNNL;
    goto out;
}

/* ------------------------------------------------------------------ head */

/* head: the network output x (N, K[, 1, 1]) -> y (N, K) plain logits; dy -> dx. */
static nas_status build_head(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads, nas_error *err) {
    nas_tensor *x = &t[l->in[0]], *y = &t[l->out];
    nas_status st;
    dnnl_memory_desc_t xmd = nas_md_4d(&x->md), plain = nas_md_nchw(x->n, x->c, 1, 1);
    dnnl_dim_t yd[2] = {x->n, x->c};
    dnnl_memory_desc_t ymd = md_tag(2, yd, dnnl_nc);
    if ((st = tensor_alloc(ctx, y, &ymd, grads, err))) return st;
    if ((st = push_move(l, ctx, &l->fwd, &xmd, x->x, &plain, y->x, err))) return st;
    if ((st = push_move(l, ctx, &l->inf, &xmd, x->x, &plain, y->x, err))) return st;
    if (!grads || l->edge[0] == NAS_EDGE_NONE) return NAS_OK;
    float *target = dx_target(l, ctx, t, 0, err);
    if (!target) return err ? err->code : NAS_ERR_NOMEM;
    if ((st = push_move(l, ctx, &l->bwd, &plain, y->dx, &xmd, target, err))) return st;
    float *targets[1] = {target};
    return push_accumulate(l, ctx, t, targets, err);
}

/* ------------------------------------------------------------ public (private) */

nas_status nas_layer_build(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads, nas_error *err) {
    nas_status st;
    switch (l->kind) {
    case NAS_L_CONV:
    case NAS_L_FC: st = build_weighted(l, ctx, t, grads, err); break;
    case NAS_L_BN: st = build_bn(l, ctx, t, grads, err); break;
    case NAS_L_ACT: st = build_act(l, ctx, t, grads, err); break;
    case NAS_L_POOL: st = build_pool(l, ctx, t, grads, err); break;
    case NAS_L_SUM: st = build_sum(l, ctx, t, grads, err); break;
    case NAS_L_CONCAT: st = build_concat(l, ctx, t, grads, err); break;
    case NAS_L_DROPOUT: st = build_dropout(l, ctx, t, grads, err); break;
    case NAS_L_ZERO: st = build_zero(l, ctx, t, grads, err); break;
    case NAS_L_COPY: st = build_copy(l, ctx, t, grads, err); break;
    case NAS_L_FLATTEN: st = build_flatten(l, ctx, t, grads, err); break;
    case NAS_L_SCALE: st = build_scale(l, ctx, t, grads, err); break;
    case NAS_L_HEAD: st = build_head(l, ctx, t, grads, err); break;
    default: return NAS_FAIL(err, NAS_ERR_INTERNAL, "%s: unknown layer kind %d", l->name, l->kind);
    }
    if (st) nas_error_prefix(err, "%s", l->name);
    return st;
}

void nas_layer_init_weights(nas_layer *l, pcg32 *rng) {
    if (l->kind == NAS_L_CONV || l->kind == NAS_L_FC) {
        double std = sqrt(2.0 / (double)(l->fan_in > 0 ? l->fan_in : 1));
        for (size_t i = 0; i < l->params[0].n; i++) l->params[0].w[i] = (float)(std * pcg32_normal(rng));
        if (l->n_params > 1) memset(l->params[1].w, 0, l->params[1].n * sizeof(float));
    } else if (l->kind == NAS_L_BN) {
        for (size_t i = 0; i < l->params[0].n; i++) {
            l->params[0].w[i] = 1.f;
            l->params[1].w[i] = 0.f;
            l->params[2].w[i] = 0.f;
            l->params[3].w[i] = 1.f;
        }
    }
}

void nas_layer_deinit(nas_layer *l) {
    for (int i = 0; i < l->n_prims; i++) dnnl_primitive_destroy(l->prims[i]);
    for (int i = 0; i < l->n_mems; i++) dnnl_memory_destroy(l->mems[i]);
    for (int i = 0; i < l->n_bufs; i++) free(l->bufs[i]);
    free(l->prims);
    free(l->mems);
    free(l->bufs);
    free(l->fwd.v);
    free(l->inf.v);
    free(l->bwd.v);
    free(l->wsync.v);
    free(l->isync.v);
    l->prims = NULL;
    l->mems = NULL;
    l->bufs = NULL;
    l->fwd = l->inf = l->bwd = l->wsync = l->isync = (nas_steps){0};
    l->n_prims = l->n_mems = l->n_bufs = 0;
}

/* ------------------------------------------------------------------ runner */

/* dropout forward: y = x * m / (1 - rate); one draw per element, in order. */
static void dropout_forward(const float *x, float *y, unsigned char *mask, size_t n, float rate,
                            pcg32 *rng) {
    uint32_t thresh = (uint32_t)((double)rate * 4294967296.0);
    float scale = 1.f / (1.f - rate);
    for (size_t i = 0; i < n; i++) mask[i] = pcg32_next(rng) >= thresh;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)n; i++) y[i] = mask[i] ? x[i] * scale : 0.f;
}

/* fold: W (O, m), b (O) or NULL, gamma, beta, mean, var (O) -> W' (O, m), b' (O). */
static void bn_fold(const nas_step *st) {
    float *const *f = st->fold;
    for (size_t o = 0; o < st->n; o++) {
        float sc = f[2][o] / sqrtf(f[5][o] + NAS_BN_EPS);
        for (size_t k = 0; k < st->m; k++) f[6][o * st->m + k] = f[0][o * st->m + k] * sc;
        f[7][o] = f[3][o] + ((f[1] ? f[1][o] : 0.f) - f[4][o]) * sc;
    }
}

nas_status nas_steps_run(const nas_steps *s, nas_ctx *ctx, pcg32 *rng, nas_error *err) {
    for (int i = 0; i < s->n; i++) {
        const nas_step *st = &s->v[i];
        switch (st->kind) {
        case NAS_STEP_PRIM:
            NAS_DNNL(dnnl_primitive_execute(st->prim, ctx->stream, st->n_args, st->args), err);
            break;
        case NAS_STEP_COPY: memcpy(st->b, st->a, st->n); break;
        case NAS_STEP_FILL0: memset(st->b, 0, st->n); break;
        case NAS_STEP_DROP_FWD:
            if (!rng) return NAS_FAIL(err, NAS_ERR_INVALID, "dropout needs an rng in training mode");
            dropout_forward(st->a, st->b, st->mask, st->n, st->f, rng);
            break;
        case NAS_STEP_DROP_BWD: {
            const float *dy = st->a;
            float *dx = st->b;
            const unsigned char *m = st->mask;
            float scale = st->f;
#pragma omp parallel for schedule(static)
            for (long j = 0; j < (long)st->n; j++) dx[j] = m[j] ? dy[j] * scale : 0.f;
            break;
        }
        case NAS_STEP_BN_FOLD: bn_fold(st); break;
        case NAS_STEP_DW_BWD_W: dw_backward_weights(st); break;
        case NAS_STEP_GATE_BWD: gate_backward(st); break;
        case NAS_STEP_BN_RUN: {
            float unbias = st->f > 1.f ? st->f / (st->f - 1.f) : 1.f;
            for (size_t c = 0; c < st->n; c++) {
                st->c[c] = (1.f - NAS_BN_MOMENTUM) * st->c[c] + NAS_BN_MOMENTUM * st->a[c];
                st->d[c] = (1.f - NAS_BN_MOMENTUM) * st->d[c] + NAS_BN_MOMENTUM * st->b[c] * unbias;
            }
            break;
        }
        }
    }
    return NAS_OK;
fail:
    return err ? err->code : NAS_ERR_DNNL;
}
