/*
 * network.h - a trainable network built from an arch, on oneDNN (CPU).
 *
 * nas_net_create lowers every node of a nas_arch (composites such as mbconv
 * and resblock included) into oneDNN primitives for one fixed batch size and
 * creates, once, every primitive, memory and buffer the network will use:
 * forward and backward steps allocate nothing. Activations stay in the
 * layouts oneDNN picks (blocked nChw16c / nChw8c); BatchNorm followed by its
 * only consumer ReLU runs as one fused primitive, and at inference a
 * convolution whose only reader is a BatchNorm is folded into it (one conv
 * with bias and a ReLU post-op; the folded weights are recomputed before an
 * inference forward unless nas_net_set_weights_static). NAS_NET_NO_FUSE turns
 * both off.
 *
 *     nas_net *net;
 *     nas_net_create(arch, 128, NAS_NET_GRADS, &rng, &net, &err);
 *     nas_net_params(net, &params, &n);          // weights for the optimizer
 *     for each batch:
 *         nas_net_forward(net, images, 1, &rng, &err);   // training mode
 *         nas_net_backward(net, labels, &err);           // loss + gradients
 *         optimizer step over params
 *     nas_net_destroy(net);
 *
 * Weights: the master copy of every tensor is a plain float array in the
 * nas_param list, in PyTorch's layout (conv (O, I/groups, KH, KW), fc (O, I),
 * BN weight/bias/running_mean/running_var (C)), so optimizers and checkpoints
 * see plain arrays and two nets of the same arch (e.g. batch 128 for
 * training and batch 1 for latency) share weights by copying param arrays
 * (same order, same names). Primitives that prefer another weight layout get
 * a reorder of the master copy at the start of every forward pass (cheap next
 * to the convolutions; see nas_net_set_weights_static to skip it).
 *
 * Init (with the pcg32 given to create): conv and fc weights He normal
 * N(0, 2 / fan_in), fan_in = in_channels / groups * KH * KW (kaiming_normal_
 * with mode fan_in and the ReLU gain); biases 0; BN weight 1, bias 0,
 * running mean 0, running var 1. BN: eps 1e-5, momentum 0.1, running var
 * updated with the unbiased batch variance (as PyTorch).
 *
 * Parameter names: "n<node>.<part>.<tensor>", e.g. "n3.conv.weight",
 * "n4.bn.running_var", "n7.dw_bn.bias", "n7.se_reduce.bias",
 * "n9.shortcut_bn.weight" (see network.c for every composite's parts).
 *
 * Ownership: the net owns everything it returns (params, logits, gradients);
 * pointers stay valid until nas_net_destroy. Not thread-safe: one net, one
 * thread at a time (oneDNN uses omp_get_max_threads() OpenMP threads inside).
 * Set the OpenMP thread count (omp_set_num_threads) before nas_net_create and
 * do not raise it while the net lives: oneDNN sizes scratchpads for the
 * thread count at creation. Same seed and thread count give the same
 * numbers. On a machine shared with
 * other busy processes, OMP_WAIT_POLICY=passive in the environment avoids
 * spinning OpenMP threads starving each other (measured on 2 loaded cores:
 * 150 -> 576 training images/s on the reference network).
 */
#ifndef NAS_MODELS_NETWORK_H
#define NAS_MODELS_NETWORK_H

#include "models/param.h"
#include "nas/core/arch.h"
#include "nas/core/arena.h"
#include "nas/core/pcg32.h"
#include "nas/core/status.h"

typedef struct nas_net nas_net;

enum {
    NAS_NET_GRADS = 1u << 0,      /* build the backward pass (training); else inference only */
    NAS_NET_INPUT_GRAD = 1u << 1, /* also compute d loss / d input (tests, saliency) */
    NAS_NET_NO_FUSE = 1u << 2,    /* keep BN and ReLU separate (tests) */
    NAS_NET_NO_INIT = 1u << 3     /* conv and fc weights and biases stay 0 (rng unused), for
                                     callers that copy weights in (the supernet); BN as usual */
};

/* Builds the network of `arch` (checked by nas_arch_check) for batches of
 * exactly `batch` images and initialises its weights from rng (may be NULL
 * with NAS_NET_NO_INIT). */
nas_status nas_net_create(const nas_arch *arch, int batch, unsigned flags, pcg32 *rng,
                          nas_net **out, nas_error *err);
/* As nas_net_create, with every large buffer (activations, gradients, layer
 * buffers, the scratchpad) taken from `arena` (nas/core/arena.h) instead of
 * the heap. Buffers that may be read before anything writes them are zeroed;
 * the others are not, since every pass writes them whole first; so a net
 * built in a reused (dirty) arena computes bit for bit what a fresh one does.
 * The arena is borrowed: it must outlive the net and must not be reset while
 * a net built in it lives. Resetting it after nas_net_destroy and building the
 * next net there reuses memory already resident: no page faults, no heap
 * fragmentation, and the arena holds the largest net built so far (weight
 * sharing builds a network per sampled path; evaluator/supernet.c). */
nas_status nas_net_create_in(const nas_arch *arch, int batch, unsigned flags, nas_arena *arena,
                             pcg32 *rng, nas_net **out, nas_error *err);
void nas_net_destroy(nas_net *net);

/* Forward pass over x, `batch` images in plain (N, C, H, W) float layout.
 * training = 1: BN uses batch statistics and updates its running averages,
 * dropout draws its masks from rng (needed when the net has dropout > 0).
 * training = 0: inference (running statistics, no dropout; rng may be NULL). */
nas_status nas_net_forward(nas_net *net, const float *x, int training, pcg32 *rng,
                           nas_error *err);

/* Softmax cross-entropy of the last forward's logits against labels (batch
 * ints in [0, classes)), mean over the batch, then the backward pass: every
 * param's dw is overwritten with d loss / d w. Needs NAS_NET_GRADS and a
 * preceding forward with training = 1. Fills nas_net_loss/nas_net_correct. */
nas_status nas_net_backward(nas_net *net, const int *labels, nas_error *err);

/* As nas_net_backward, but the gradients are those of the mean cross-entropy
 * against soft targets (batch x classes probabilities, each row summing to
 * 1; soft = NULL: the labels), as in knowledge distillation. The loss and
 * correct count still score the labels. */
nas_status nas_net_backward_soft(nas_net *net, const int *labels, const float *soft, nas_error *err);

/* Loss (mean over the batch) and number of correct argmax predictions of the
 * last forward's logits, without gradients (validation). Either out may be NULL. */
nas_status nas_net_score(nas_net *net, const int *labels, float *loss, int *correct,
                         nas_error *err);

/* Last values computed by nas_net_backward / nas_net_score. */
float nas_net_loss(const nas_net *net);
int nas_net_correct(const nas_net *net);

/* The last forward's logits, batch x classes, row-major. Owned by the net. */
const float *nas_net_logits(const nas_net *net);

/* Every tensor of the net: weights with gradients (dw NULL without
 * NAS_NET_GRADS) and BN running statistics (dw NULL). Owned by the net. */
void nas_net_params(nas_net *net, nas_param **params, int *n);

int nas_net_batch(const nas_net *net);
int nas_net_classes(const nas_net *net);

/* Copies the output of arch node `node` from the last forward, as plain
 * (N, C, H, W) floats, into out (batch * c * h * w floats). A BN node fused
 * with its ReLU gives the ReLU's output; a conv folded into its BN keeps the
 * value of the last training forward (inference skips it). Zeros before the
 * first forward that computes it. Allocates (not for the hot path). */
nas_status nas_net_node_value(nas_net *net, int node, float *out, nas_error *err);

/* d loss / d input of the last backward, plain (N, C, H, W); NULL unless the
 * net was built with NAS_NET_INPUT_GRAD. */
const float *nas_net_input_grad(const nas_net *net);

/* on = 1: the weights and BN statistics will not change until this is
 * called again, so the next forward reorders (and, for inference, folds) them
 * once and later forwards skip it (evaluation, latency). on = 0 (the
 * default): every forward does it. A training forward moves the running
 * statistics, so the next inference forward refolds in either mode. */
void nas_net_set_weights_static(nas_net *net, int on);

#endif
