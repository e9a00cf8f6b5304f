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
    int runs;    /* timed runs (at least); default 50 */
    double min_time_ms; /* nas_latency_measure: keep timing runs until they span at least
                         * this long (after `runs` runs); default 0 */
    uint64_t seed; /* random weights and input */
    int clock;     /* 1: time the clock loop after every timed run (see below); default 0 */
} nas_latency_opts;

/* The defaults above. */
nas_latency_opts nas_latency_opts_default(void);

/* Consecutive timed runs per block of nas_latency.block_ms. */
#define NAS_LATENCY_BLOCK 10

/* What `nas latency` reports as the latency is block_ms: the median of the
 * fastest block of NAS_LATENCY_BLOCK consecutive runs (the median of all runs
 * when there are fewer). The clock of a core moves in steps while other work
 * runs on the machine (the same network runs 10-12% slower for tens to
 * hundreds of milliseconds at a time, docs/benchmarks.md); the fastest block
 * over a long enough window (min_time_ms) is the latency at the undisturbed
 * clock and is far more reproducible than the median of 50 consecutive
 * runs, which lands in whichever step the machine is in. */
typedef struct nas_latency {
    double median_ms, p90_ms, mean_ms, min_ms; /* over all timed runs */
    double block_ms;                           /* see above */
    double span_ms;                            /* wall time of the timed runs */
    int batch, threads, runs;                  /* runs actually timed */
    double clock_ratio, loop_ms;               /* with opts.clock (else 0): see below */
} nas_latency;

/* Clock normalization. A fast block still reads slow when the clock stays
 * down for the whole window, and the clock's state changes with the load on
 * the machine. nas_latency_clock_loop times a fixed chain of
 * NAS_CLOCK_LOOP dependent 64-bit multiply-adds (no memory traffic: its time
 * follows the core's clock alone). With opts.clock, the loop runs after every
 * timed run; clock_ratio is the median over the runs of (run time / the loop
 * time right after it): the latency in units of the loop, the same at any
 * clock step; loop_ms is the median loop time of the window. A latency table
 * keeps the typical loop time of its profile (nas_lut_clock) and its values
 * are in ms at that clock: clock_ratio x that loop time is a measurement in
 * the table's units (`nas latency --clock LUT.json`; docs/cost.md). */
#define NAS_CLOCK_LOOP 20000
/* Runs the loop once and returns its time in ms; *state carries the chain's
 * value from call to call (any start value). */
double nas_latency_clock_loop(uint64_t *state);

/* A reference loop time for clock-normalized measurements without a table
 * (`nas search --latency measure`): the median time of the loop run back to
 * back for window_ms (at least 11 and at most 8192 times), in ms. */
double nas_latency_clock_reference(double window_ms);

/* Sets OpenMP to `threads` (< 1: OpenMP's current count) and pins each
 * worker to its own CPU (see above); *used (may be NULL) receives the count. */
nas_status nas_latency_pin(int threads, int *used, nas_error *err);

/* Times an engine built from `a` with random weights: opts->warmup untimed
 * runs, then timed runs until there are opts->runs of them and they span
 * opts->min_time_ms; their statistics (above) in *out. */
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

/* Residuals of predictions against measurements, in percent of the
 * measurement: mean absolute error, share within +-10%, worst absolute error,
 * mean signed error (> 0: over-predicted). */
typedef struct nas_lut_score {
    int n;
    double mape, within10, worst, bias;
} nas_lut_score;

/* The network-level model of a table: with sum = the table values of an
 * arch's keys and W = its weights in MiB (nas cost's weight_bytes / 2^20),
 *     terms 1..3: latency = scale * sum + weight_ms_per_mib * W + offset_ms
 *     terms 0:    latency = sum + constant (no fit; version-1 tables)
 * fitted by least squares on the relative error over networks measured like
 * `nas latency` (nas_lut_add_fit_network): 3 unknowns with >= 30 networks,
 * scale and offset with 10..29 (weight_ms_per_mib 0), the scale alone with
 * fewer (offset 0); unknowns the networks do not determine (or that give a
 * scale <= 0) are dropped the same way. The weights term: a network reads all its weights on
 * every pass, from further away once they outgrow the caches, which the op
 * values, measured in many networks, do not see (latency_lut.c). */
typedef struct nas_lut_fit {
    int terms;
    double scale, weight_ms_per_mib, offset_ms;
    int networks;           /* networks fitted on */
    nas_lut_score fitted;   /* the fit's residuals on those networks */
    nas_lut_score unfitted; /* sum + constant on the same networks */
} nas_lut_fit;

/* An empty table (version 2, no fit) for machine m (may be NULL). */
nas_lut *nas_lut_create(const nas_machine *m);
void nas_lut_destroy(nas_lut *t);
/* Adds one measurement (ms) for key; a key keeps every sample, the table's
 * value is their lower quartile (each sample being a median over runs in one
 * network; see latency_lut.c). */
nas_status nas_lut_add(nas_lut *t, const char *key, double ms, nas_error *err);
/* Adds the samples of one profiled network (node_ms[i] for every node i of
 * a with a key, as nas_latency_profile_nodes gives them) and keeps the
 * network: its entries, weights and whole-network median total_ms. */
nas_status nas_lut_add_network(nas_lut *t, const nas_arch *a, const double *node_ms,
                               double total_ms, nas_error *err);
/* Keeps a network for the fit: a (every key in the table, else the error of
 * nas_lut_predict) and its measured latency (nas_latency.block_ms, > 0). */
nas_status nas_lut_add_fit_network(nas_lut *t, const nas_arch *a, double latency_ms,
                                   nas_error *err);
/* Fits the model above on the fit networks with the current table values;
 * NAS_ERR_INVALID when there are none or they give no positive scale. */
nas_status nas_lut_fit_compute(nas_lut *t, nas_error *err);
/* Makes the table clock-normalized: every sample, network time and the
 * constant added so far, in units of the clock loop (opts.clock), is
 * multiplied by clock_ms (> 0: the profile's typical loop time) and the
 * table keeps clock_ms. Call once, after all samples and before
 * nas_lut_fit_compute. */
void nas_lut_set_clock(nas_lut *t, double clock_ms);
/* The table's clock loop time (ms), 0 for a table in plain ms. */
double nas_lut_clock(const nas_lut *t);
/* The model in use (terms 0 until fitted). */
const nas_lut_fit *nas_lut_get_fit(const nas_lut *t);
void nas_lut_set_constant(nas_lut *t, double ms);
int nas_lut_size(const nas_lut *t);
/* The format version of the file it was loaded from (1 or 2; 2 when made). */
int nas_lut_version(const nas_lut *t);
const nas_machine *nas_lut_machine(const nas_lut *t);

/* JSON (docs/cost.md). Loading reads versions 1 (no fit: predicts sum +
 * constant) and 2; any other version, a malformed field or an index out of
 * range is NAS_ERR_FORMAT naming the source and the field. */
nas_status nas_lut_save(const nas_lut *t, const char *path, nas_error *err);
/* The text nas_lut_save writes (always version 2), malloc'd into *out. */
nas_status nas_lut_to_json(const nas_lut *t, char **out, nas_error *err);
nas_status nas_lut_load(const char *path, nas_lut **out, nas_error *err);
nas_status nas_lut_from_json(const char *json, size_t len, const char *source, nas_lut **out,
                             nas_error *err);

/* 1 and the table's value (the lower quartile of its samples) in *ms when key is in
 * the table, else 0. */
int nas_lut_lookup(const nas_lut *t, const char *key, double *ms);

/* Predicted latency (ms) of a by the model above. A node whose key is absent
 * fails with NAS_ERR_UNSUPPORTED and a message naming the node, op and key
 * (the shape included). */
nas_status nas_lut_predict(const nas_lut *t, const nas_arch *a, double *ms, nas_error *err);
/* The model's inputs for a: the sum of its table values and its weight bytes. */
nas_status nas_lut_predict_parts(const nas_lut *t, const nas_arch *a, double *sum_ms,
                                 double *weight_bytes, nas_error *err);

/* Writes into msg (cap bytes) a warning when the table's machine differs
 * from m in CPU model, ISA, oneDNN version or threads (naming both); returns
 * 1 if it wrote one, 0 when they match. */
int nas_lut_machine_mismatch(const nas_lut *t, const nas_machine *m, char *msg, size_t cap);

/* Per-node times (ms) of a, for every node with a LUT key (nodes without a
 * key get 0; ms has a->n_nodes entries), and the median whole-network time
 * in *total_ms. Each node's primitives are timed separately, the median of
 * opts->runs runs: inside whole forward passes of the normal engine
 * (isolated = 0), or alone, the node's primitives run again and again on an
 * engine without buffer reuse after one whole pass (isolated = 1). With
 * opts->clock every sample is divided by the clock loop timed right after
 * its pass (its run when isolated): ms and *total_ms are in units of the
 * loop, and *loop_ms (may be NULL) receives the median loop time. */
nas_status nas_latency_profile_nodes(const nas_arch *a, const nas_latency_opts *opts, int isolated,
                                     double *ms, double *total_ms, double *loop_ms, nas_error *err);

#endif
