/*
 * cost.h - analytic costs of an arch: MACs, FLOPs, parameters, inference and
 * training memory, per node and in total. Nothing here runs the network.
 *
 * Counting conventions (docs/cost.md says the same with examples):
 *
 *  - MACs are multiply-accumulates of convolutions (any groups, stride,
 *    dilation; the convolutions inside mbconv, resblock and the SE branch
 *    included) and of fully connected layers, per image:
 *      conv: out_c * (in_c / groups) * k * k * out_h * out_w
 *      fc:   in * out
 *    Biases, BatchNorm, activations, pools, adds, concat, the SE gate
 *    multiply and zero ops count 0 MACs, as in fvcore and thop's conv/linear
 *    rules. FLOPs = 2 x MACs, always. `macs` is per image (batch 1).
 *  - Parameters: trainable = conv and fc weights and biases, BatchNorm gamma
 *    and beta; buffers = BatchNorm running mean and variance (2 per channel);
 *    total = trainable + buffers. (PyTorch's num_batches_tracked is not
 *    counted: it is a step counter, not a tensor of the model.)
 *  - Composite ops: mbconv = [expand 1x1 conv (no bias) + BN + act when
 *    expand > 1] + depthwise kxk conv (no bias, pad k/2, stride) + BN + act +
 *    [SE: global average pool, 1x1 conv mid->r with bias, ReLU, 1x1 conv
 *    r->mid with bias, sigmoid, multiply; r = max(1, mid / 4)] + project 1x1
 *    conv (no bias) + BN [+ residual add when stride 1 and in == out];
 *    mid = in * expand. resblock = kxk conv (stride, no bias) + BN + act + kxk
 *    conv (no bias) + BN, shortcut = identity or (1x1 conv stride, no bias +
 *    BN) when stride != 1 or in != out, add, act. Convs of a composite op have
 *    no bias; a plain conv has a bias when its `bias` is 1.
 *  - Inference memory (float32, bytes): weights (total parameters x 4) +
 *    peak live activations x batch x 4. Activations: every node's output is a
 *    buffer from the node that makes it until its last consumer ran; identity,
 *    dropout and flatten are views of their input (no buffer, they extend its
 *    life). While a node runs its inputs, its output and its internal
 *    buffers are live (the output is taken as allocated for the whole op, an
 *    upper bound). Internal buffers of composite ops (BN and activations in
 *    place): mbconv max(expand_out + dw_out, dw_out + 2 mid + r) (without an
 *    expand conv: dw_out + 2 mid + r, or dw_out); resblock conv1_out [+
 *    shortcut_out with a projection]. The network input counts as an
 *    activation (node 0), alive until its last consumer.
 *  - Training memory (bytes): weights (total x 4) + gradients (trainable x 4)
 *    + optimizer state (trainable x 4 x buffers: plain SGD 0, momentum SGD 1,
 *    Adam 2) + saved activations x batch x 4, where the saved activations are
 *    every tensor the forward pass creates (each conv, BN, activation, pool,
 *    add, concat output, and inside composite ops each of those steps), as
 *    autograd keeps them with no in-place ops, plus the input. Views count 0.
 *    An estimate: a framework may keep less (in-place ReLU, recomputation) or
 *    more (workspaces, allocator slack).
 *
 * Ownership: nas_cost_compute fills a caller-owned nas_cost whose `nodes`
 * array is malloc'd; nas_cost_deinit frees it. nas_cost_to_json returns a
 * malloc'd string the caller frees.
 */
#ifndef NAS_EVALUATOR_COST_H
#define NAS_EVALUATOR_COST_H

#include <stdint.h>
#include <stdio.h>

#include "nas/core/arch.h"
#include "nas/core/status.h"

/* Optimizer state buffers per trainable parameter. */
typedef enum nas_cost_optim {
    NAS_COST_OPTIM_SGD = 0,      /* plain SGD: 0 buffers */
    NAS_COST_OPTIM_MOMENTUM = 1, /* SGD with momentum: 1 buffer */
    NAS_COST_OPTIM_ADAM = 2      /* Adam / AdamW: 2 buffers (m, v) */
} nas_cost_optim;

/* Costs of one node, per image. */
typedef struct nas_cost_node {
    int64_t macs;        /* multiply-accumulates (FLOPs = 2 x this) */
    int64_t params;      /* trainable parameters */
    int64_t buffers;     /* BatchNorm running statistics */
    int64_t out_elems;   /* output floats; 0 for a view (identity, dropout, flatten) */
    int64_t internal_elems; /* peak internal buffer floats of a composite op while it runs */
    int64_t saved_elems; /* floats the forward creates and training keeps for backward */
    int64_t live_elems;  /* activation floats live while this node runs (liveness walk) */
} nas_cost_node;

typedef struct nas_cost {
    int batch;               /* the batch of the *_batch and train numbers */
    nas_cost_optim optim;
    int64_t macs;            /* per image */
    int64_t flops;           /* 2 x macs, per image */
    int64_t params;          /* trainable */
    int64_t buffers;         /* BatchNorm running statistics */
    int64_t params_total;    /* params + buffers */
    int64_t weight_bytes;    /* params_total x 4 */
    int64_t peak_act_elems;  /* peak live activation floats per image */
    int peak_node;           /* node at which the peak occurs */
    int64_t memory_bytes_batch1; /* weight_bytes + peak_act_elems x 4 */
    int64_t memory_bytes;    /* weight_bytes + peak_act_elems x batch x 4 */
    int64_t grad_bytes;      /* params x 4 */
    int64_t optim_bytes;     /* params x 4 x optimizer buffers */
    int64_t saved_act_bytes; /* saved activation floats x batch x 4 */
    int64_t train_memory_bytes; /* weight + grad + optim + saved_act bytes */
    int n_nodes;
    nas_cost_node *nodes;    /* n_nodes entries, malloc'd */
} nas_cost;

/* Costs of node i of a (shape-checked) arch, per image. */
void nas_cost_node_compute(const nas_arch *a, int i, nas_cost_node *out);

/* Every cost of a at `batch` (>= 1) with optimizer `optim`. Fills *out (call
 * nas_cost_deinit afterwards, also after a failure). Errors: batch < 1, an
 * arch with no nodes, a node whose input index is not an earlier node. */
nas_status nas_cost_compute(const nas_arch *a, int batch, nas_cost_optim optim, nas_cost *out,
                            nas_error *err);
void nas_cost_deinit(nas_cost *c);

/* "sgd", "momentum", "adam"; parse returns -1 for an unknown name. */
const char *nas_cost_optim_name(nas_cost_optim o);
int nas_cost_optim_parse(const char *name);

/* JSON object with keys macs, flops, params, params_total, buffers,
 * memory_bytes, memory_bytes_batch1, train_memory_bytes, weight_bytes,
 * peak_activation_bytes, grad_bytes, optim_bytes, saved_activation_bytes,
 * batch, optimizer, and with with_nodes an array "nodes" of per-node costs.
 * Caller frees *json. */
nas_status nas_cost_to_json(const nas_arch *a, const nas_cost *c, int with_nodes, char **json,
                            nas_error *err);

/* Readable report; with_nodes adds the per-node table. */
void nas_cost_print(const nas_arch *a, const nas_cost *c, int with_nodes, FILE *out);

#endif
