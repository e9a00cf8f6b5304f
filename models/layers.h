/*
 * layers.h - private to models/: the primitive layers a network is lowered
 * into, the tensors between them, and the step lists that run them.
 *
 * network.c lowers every arch node (composites such as mbconv and resblock
 * included) into a flat list of nas_layer over nas_tensor slots, then asks
 * each layer to build itself with nas_layer_build. Building creates every
 * oneDNN primitive, memory object and buffer the layer will ever use and
 * records three step lists:
 *
 *   fwd  forward in training mode (batch statistics, dropout masks)
 *   inf  forward in inference mode (running statistics, identity dropout)
 *   bwd  backward: data gradients into the inputs, weight gradients into dw
 *   wsync reorders of the plain master weights into the primitives' layouts
 *   isync  before inference forwards: BatchNorm folded into the convolution
 *          that feeds it (W' = W gamma / sqrt(var + eps), b' = beta + (b - mean)
 *          gamma / sqrt(var + eps)), so inference runs one conv primitive with
 *          bias and a ReLU post-op where training runs conv, BN(+ReLU)
 *
 * Running a step list (nas_steps_run) never allocates. Activations stay in the
 * layout oneDNN picked for the producing primitive (blocked nChw16c/8c on
 * AVX-512/AVX2); a consumer that wants another layout owns the reorder.
 *
 * Gradient accumulation: a tensor read by several layers receives its
 * gradient from the first layer that runs backward (the consumer with the
 * highest index) written in place (NAS_EDGE_DIRECT); every other reader writes
 * into its own buffer and adds it in (NAS_EDGE_ACC). Inputs that need no
 * gradient (the image) are NAS_EDGE_NONE and their backward-data is skipped.
 *
 * Nothing here is public; the only contract outside models/ is network.h.
 */
#ifndef NAS_MODELS_LAYERS_H
#define NAS_MODELS_LAYERS_H

#include <stddef.h>

#include "models/dnnl_check.h"
#include "models/param.h"
#include "nas/core/arch.h"
#include "nas/core/arena.h"
#include "nas/core/pcg32.h"
#include "nas/core/status.h"

#define NAS_BN_EPS 1e-5f
#define NAS_BN_MOMENTUM 0.1f
#define NAS_STEP_ARGS_MAX 12
#define NAS_LAYER_PARAMS_MAX 4

/* The engine, stream and the scratchpad every primitive shares (oneDNN's
 * user scratchpad mode: one buffer of the largest size, bound once), and
 * where the network's buffers come from. */
typedef struct nas_ctx {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    dnnl_primitive_attr_t attr; /* scratchpad mode user; used for every primitive */
    size_t scratch_bytes;       /* the largest scratchpad any primitive asked for */
    dnnl_memory_t *scratch_mems; /* not owned: each belongs to a layer */
    int n_scratch, cap_scratch;
    void *scratch;    /* owned unless arena */
    nas_arena *arena; /* borrowed; NULL: buffers come from the heap */
} nas_ctx;

nas_status nas_ctx_init(nas_ctx *ctx, nas_arena *arena, nas_error *err);
/* Allocates the shared scratchpad and binds it to every registered memory. */
nas_status nas_ctx_bind_scratch(nas_ctx *ctx, nas_error *err);
void nas_ctx_deinit(nas_ctx *ctx);

/* What a buffer needs at creation. NAS_BUF_ZERO: zeros (it may be read
 * before anything writes it: a zero layer's output, the gradient of a tensor
 * nobody reads, weights and statistics). NAS_BUF_WRITTEN: nothing, because
 * every pass writes all of it (oneDNN zero-pads the padded channels of what
 * its primitives write) before anything reads it. Only arena buffers honour
 * NAS_BUF_WRITTEN; heap buffers are always zeroed. */
typedef enum nas_buf_init { NAS_BUF_WRITTEN = 0, NAS_BUF_ZERO = 1 } nas_buf_init;

/* A buffer of `bytes` for the network being built, 64-byte aligned: from
 * ctx->arena (owned by the arena) or zeroed from the heap (nas_buf_alloc,
 * the caller frees it). NULL when out of memory. */
void *nas_ctx_buf(nas_ctx *ctx, size_t bytes, nas_buf_init init);

/* One activation of the lowered graph, for the whole batch. */
typedef struct nas_tensor {
    int n, c, h, w;
    dnnl_memory_desc_t md; /* the producer's layout; valid once built */
    int built;
    float *x;      /* values (md size; owned unless the net is built in an arena) */
    float *dx;     /* gradient or NULL when not needed; owned unless dx_shared or in an arena */
    int dx_shared; /* dx is a buffer of the network's gradient pool (see network.c) */
    size_t dx_cap; /* bytes of the pooled buffer preassigned to dx (0: none) */
    size_t bytes;  /* md size in bytes (blocked layouts pad channels) */
    int needs_grad;
} nas_tensor;

/* Zero-initialised aligned buffer (64 bytes); free with free(). */
void *nas_buf_alloc(size_t bytes);

/* The md as a 4-D view: a 2-D (N, C) plain tensor becomes (N, C, 1, 1) nchw. */
dnnl_memory_desc_t nas_md_4d(const dnnl_memory_desc_t *md);
/* Plain nchw md of the given dims. */
dnnl_memory_desc_t nas_md_nchw(int n, int c, int h, int w);

typedef enum nas_step_kind {
    NAS_STEP_PRIM,     /* dnnl_primitive_execute */
    NAS_STEP_COPY,     /* memcpy(b, a, n bytes) */
    NAS_STEP_FILL0,    /* memset(b, 0, n bytes) */
    NAS_STEP_DROP_FWD, /* a: x, b: y, mask, n floats, f: rate */
    NAS_STEP_DROP_BWD, /* a: dy, b: dx, mask, n floats, f: 1 / (1 - rate) */
    NAS_STEP_BN_RUN,   /* a: batch mean, b: batch var, c: running mean, d: running var,
                          n: channels, f: elements per channel */
    NAS_STEP_BN_FOLD,  /* fold[0..3]: conv W, conv bias or NULL, gamma, beta; fold[4..5]:
                          running mean, var; fold[6..7]: out W', b'; n: channels, m: weights
                          per output channel */
    NAS_STEP_DW_BWD_W, /* depthwise conv weight gradient (kernels oneDNN 2.6 leaves to gemm):
                          a: x, b: dy, c: plain dW, d: per-slice partial sums, aux: geometry */
    NAS_STEP_GATE_BWD  /* squeeze-and-excitation gate gradient ds[n,c] = sum_hw dy * x:
                          a: x, b: dy, c: ds, aux: geometry */
} nas_step_kind;

typedef struct nas_step {
    nas_step_kind kind;
    dnnl_primitive_t prim; /* not owned */
    int n_args;
    dnnl_exec_arg_t args[NAS_STEP_ARGS_MAX];
    float *a, *b, *c, *d;
    float *fold[8];
    unsigned char *mask;
    size_t n, m;
    float f;
    const void *aux; /* a kernel's geometry, owned by the layer */
} nas_step;

typedef struct nas_steps {
    nas_step *v;
    int n, cap;
} nas_steps;

/* Runs the steps in order on ctx->stream (does not wait). rng is used by
 * dropout only and may be NULL otherwise. Never allocates. */
nas_status nas_steps_run(const nas_steps *s, nas_ctx *ctx, pcg32 *rng, nas_error *err);

typedef enum nas_layer_kind {
    NAS_L_CONV,    /* convolution, any kernel/stride/pad/dilation/groups, optional bias */
    NAS_L_BN,      /* batch normalization, optionally with a fused ReLU */
    NAS_L_ACT,     /* relu / relu6 / hswish / sigmoid */
    NAS_L_POOL,    /* max or average (padding excluded); global average pool */
    NAS_L_FC,      /* inner product, optional bias */
    NAS_L_SUM,     /* elementwise sum of n inputs */
    NAS_L_CONCAT,  /* channel concatenation */
    NAS_L_DROPOUT,
    NAS_L_ZERO,    /* zeros of the output shape; no gradient flows */
    NAS_L_COPY,    /* identity */
    NAS_L_FLATTEN, /* (N, C, H, W) any layout -> (N, C*H*W, 1, 1) plain */
    NAS_L_SCALE,   /* x * s with s (N, C, 1, 1): the squeeze-and-excitation gate */
    NAS_L_HEAD     /* the network output to plain (N, K) logits and back */
} nas_layer_kind;

typedef enum nas_edge { NAS_EDGE_NONE = 0, NAS_EDGE_DIRECT, NAS_EDGE_ACC } nas_edge;

typedef struct nas_layer {
    nas_layer_kind kind;
    char name[64]; /* parameter prefix, e.g. "n3.conv", "n5.dw_bn" */
    int n_in;
    int in[NAS_ARCH_MAX_INPUTS];
    nas_edge edge[NAS_ARCH_MAX_INPUTS];
    int out;
    /* configuration (the lowering fills what the kind uses) */
    int out_c, kernel_h, kernel_w, stride, pad, dilation, groups, bias;
    int pool_max;  /* POOL: 1 max, 0 average */
    nas_op act;    /* ACT */
    int fuse_relu; /* BN */
    double rate;   /* DROPOUT */
    /* built */
    nas_steps fwd, inf, bwd, wsync, isync;
    nas_param params[NAS_LAYER_PARAMS_MAX];
    int n_params;
    int fan_in; /* CONV / FC weight init */
    /* inference folding (set by the network before building): a CONV whose only
     * reader is a BN has folded = 1 and leaves its inference to that BN, whose
     * fold points at the CONV (built first: inf_src/inf_src_md are its input) */
    int folded;
    const struct nas_layer *fold;
    void *inf_src;
    dnnl_memory_desc_t inf_src_md;
    dnnl_primitive_t *prims;
    int n_prims, cap_prims;
    dnnl_memory_t *mems;
    int n_mems, cap_mems;
    void **bufs; /* heap buffers the layer frees (none when built in an arena) */
    int n_bufs, cap_bufs;
} nas_layer;

/* Builds layer l over tensors t (its inputs built, its output not): creates
 * every primitive, memory and buffer, fills t[l->out] (layout and buffers;
 * a gradient buffer when `grads` and the tensor needs one) and the step lists
 * (bwd only when grads). */
nas_status nas_layer_build(nas_layer *l, nas_ctx *ctx, nas_tensor *t, int grads, nas_error *err);

/* Fills the layer's weights: He normal (std sqrt(2 / fan_in)) for CONV and FC
 * weights, zero biases; BN gamma 1, beta 0, running mean 0, running var 1. */
void nas_layer_init_weights(nas_layer *l, pcg32 *rng);

/* Releases everything the layer owns (the struct itself is the caller's). */
void nas_layer_deinit(nas_layer *l);

#endif
