/*
 * latency.h - measured inference latency of an arch on this machine, and
 * latency lookup tables (LUTs) that predict it without running the network.
 *
 * The inference engine (nas_engine) builds oneDNN forward_inference
 * primitives from an arch: BatchNorm folded into the preceding convolution's
 * weights and bias, activations (relu, relu6, hswish, sigmoid) fused as
 * eltwise post-ops of the conv / fc they follow, activation layouts chosen
 * once by oneDNN (format_tag_any) and kept from layer to layer (a reorder only
 * where a primitive cannot read its input's layout), and activation buffers
 * reused between layers by a liveness walk. identity and dropout are views;
 * zero is a constant buffer. It does not train and has no backward pass.
 *
 * Weights come from a caller-supplied array of named nas_param
 * (models/param.h), one per tensor, named and shaped as below, where i is the
 * node index and all convolution weights are [out, in/groups, k, k]:
 *   conv      n<i>.conv.weight, n<i>.conv.bias (when bias)
 *   bn        n<i>.bn.weight (gamma), .bias (beta), .running_mean, .running_var
 *   fc        n<i>.fc.weight [out, in] (in = C*H*W of its input, C-major), n<i>.fc.bias
 *   mbconv    n<i>.expand.weight [mid, in, 1, 1] + n<i>.expand_bn.* (when expand > 1),
 *             n<i>.dw.weight [mid, 1, k, k] + n<i>.dw_bn.*,
 *             n<i>.se_reduce.weight [r, mid] + .bias, n<i>.se_expand.weight [mid, r] + .bias
 *             (when se; r = max(1, mid / 4)), n<i>.project.weight [out, mid, 1, 1] + n<i>.project_bn.*
 *   resblock  n<i>.conv1.weight + n<i>.bn1.*, n<i>.conv2.weight + n<i>.bn2.*,
 *             n<i>.shortcut.weight [out, in, 1, 1] + n<i>.shortcut_bn.* (when projecting)
 * BatchNorm epsilon is 1e-5. nas_engine_params_create makes such an array
 * with random values (for measuring, and for tests).
 *
 * Threads: nas_latency_pin sets the OpenMP thread count and pins each OpenMP
 * worker (and the calling thread) to one CPU of the process's affinity mask
 * with sched_setaffinity; it changes the whole process.
 *
 * Ownership: *_create return objects freed by the matching *_destroy (NULL
 * ok). Strings from nas_lut_key and JSON writers are malloc'd, caller frees.
 */
#ifndef NAS_EVALUATOR_LATENCY_H
#define NAS_EVALUATOR_LATENCY_H

#include <stdint.h>
#include <stdio.h>

#include "models/param.h"
#include "nas/core/arch.h"
#include "nas/core/pcg32.h"
#include "nas/core/status.h"

/* ---- engine ---- */

typedef struct nas_engine nas_engine;

/* Random weights for every tensor the engine of `a` reads (see the naming
 * above): conv/fc weights uniform in +-sqrt(3/fan_in), biases and BN beta
 * and running mean in +-0.1, BN gamma and running var in [0.5, 1.5].
 * *params is a malloc'd array of *n entries whose w are malloc'd (dw NULL);
 * free with nas_engine_params_destroy. */
nas_status nas_engine_params_create(const nas_arch *a, pcg32 *rng, nas_param **params, int *n,
                                    nas_error *err);
void nas_engine_params_destroy(nas_param *params, int n);

/* Builds the engine for `a` (which must pass nas_arch_check) at `batch`,
 * copying the weights it needs from params (names above; a missing tensor or
 * a size mismatch is an error naming it). */
nas_status nas_engine_create(const nas_arch *a, int batch, const nas_param *params, int n_params,
                             nas_engine **out, nas_error *err);
void nas_engine_destroy(nas_engine *e);

/* One forward pass. input: batch x C x H x W floats (NCHW, per arch input);
 * output: batch x classes floats. */
nas_status nas_engine_run(nas_engine *e, const float *input, float *output, nas_error *err);

/* Number of oneDNN primitives executed per run, and reorders among them
 * (the final reorder into the caller's NCHW output counts). */
void nas_engine_stats(const nas_engine *e, int *primitives, int *reorders, size_t *act_bytes);

/* ---- measuring ---- */

typedef struct nas_latency_opts {
    int batch;   /* >= 1; default 1 */
    int threads; /* >= 1; 0 = leave OpenMP's setting */
    int warmup;  /* untimed runs first; default 10 */
    int runs;    /* timed runs; default 50 */
    uint64_t seed; /* random weights and input */
} nas_latency_opts;

/* The defaults above. */
nas_latency_opts nas_latency_opts_default(void);

typedef struct nas_latency {
    double median_ms, p90_ms, mean_ms, min_ms;
    int batch, threads, runs;
} nas_latency;

/* Sets OpenMP to `threads` (< 1: OpenMP's current count) and pins each
 * worker to its own CPU (see above); *used (may be NULL) receives the count. */
nas_status nas_latency_pin(int threads, int *used, nas_error *err);

/* Median and p90 of opts->runs timed runs (after opts->warmup) of an engine
 * built from `a` with random weights. */
nas_status nas_latency_measure(const nas_arch *a, const nas_latency_opts *opts, nas_latency *out,
                               nas_error *err);

/* Median and p90 (ms) of n samples (sorted in place). */
void nas_latency_stats(double *ms, int n, double *median, double *p90);

/* ---- lookup tables ---- */

/* The LUT key of node i of a, or NULL when the node runs no primitive of
 * its own (its BN/activation is fused into the node it follows, it is a
 * view, or it is zero, a constant buffer). The key names the op, its parameters, the ops fused into it, and
 * its input shape(s) at batch 1, e.g. "conv k3 s1 p1 d1 g1 o16 b0 +bn+relu @ 8x28x28".
 * Caller frees. */
char *nas_lut_key(const nas_arch *a, int i);

typedef struct nas_lut nas_lut;

/* The machine this process runs on, as written into a table. */
typedef struct nas_machine {
    char cpu[128];   /* model name from /proc/cpuinfo */
    char isa[32];    /* oneDNN's effective ISA */
    char dnnl[32];   /* oneDNN version "2.6.3" */
    int threads;
    int batch;
} nas_machine;

void nas_machine_describe(int threads, int batch, nas_machine *m);

nas_lut *nas_lut_create(const nas_machine *m);
void nas_lut_destroy(nas_lut *t);
/* Adds one measurement (ms) for key; a key keeps every sample, the table's
 * value is their lower quartile (each sample being a median over runs in one
 * network; see latency_lut.c). */
nas_status nas_lut_add(nas_lut *t, const char *key, double ms, nas_error *err);
void nas_lut_set_constant(nas_lut *t, double ms);
int nas_lut_size(const nas_lut *t);
const nas_machine *nas_lut_machine(const nas_lut *t);

nas_status nas_lut_save(const nas_lut *t, const char *path, nas_error *err);
nas_status nas_lut_load(const char *path, nas_lut **out, nas_error *err);

/* 1 and the table's value (the lower quartile of its samples) in *ms when key is in
 * the table, else 0. */
int nas_lut_lookup(const nas_lut *t, const char *key, double *ms);

/* Predicted latency (ms) of a: the constant plus the table value of every
 * node's key. A node whose key is absent fails with NAS_ERR_UNSUPPORTED and a
 * message naming the node, op and key (the shape included). */
nas_status nas_lut_predict(const nas_lut *t, const nas_arch *a, double *ms, nas_error *err);

/* Writes into msg (cap bytes) a warning when the table's machine differs
 * from m in CPU model, ISA, oneDNN version or threads (naming both); returns
 * 1 if it wrote one, 0 when they match. */
int nas_lut_machine_mismatch(const nas_lut *t, const nas_machine *m, char *msg, size_t cap);

/* Per-node times (ms) of a, for every node with a LUT key (nodes without a
 * key get 0; ms has a->n_nodes entries), and the median whole-network time
 * in *total_ms. Each node's primitives are timed separately, the median of
 * opts->runs runs: inside whole forward passes of the normal engine
 * (isolated = 0), or alone, the node's primitives run again and again on an
 * engine without buffer reuse after one whole pass (isolated = 1). */
nas_status nas_latency_profile_nodes(const nas_arch *a, const nas_latency_opts *opts, int isolated,
                                     double *ms, double *total_ms, nas_error *err);

#endif
