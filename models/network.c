/*
 * network.c - a network built from an arch: lowering to layers, the DAG
 * executor, softmax cross-entropy, parameters.
 *
 * Does: lowers each arch node into primitive layers (models/layers.h):
 *   conv            -> CONV                                   "n<i>.conv"
 *                      (at inference, folded into a BN that is its only reader)
 *   bn              -> BN (fused with a following lone ReLU)  "n<i>.bn"
 *   relu/relu6/...  -> ACT
 *   maxpool/avgpool -> POOL; global_avg_pool -> POOL (kernel H x W)
 *   flatten, dropout, fc ("n<i>.fc"), identity (COPY), zero, add (SUM), concat
 *   mbconv   -> [expand 1x1 CONV, expand_bn, act] dw kxk CONV (groups = hidden),
 *               dw_bn, act, [SE: se_pool, se_reduce 1x1 CONV + bias (hidden / 4
 *               channels, at least 1), ReLU, se_expand 1x1 CONV + bias, sigmoid,
 *               SCALE], project 1x1 CONV, project_bn, [SUM with the input when
 *               stride 1 and in == out]
 *   resblock -> conv1 kxk/stride, bn1, act, conv2 kxk, bn2, [shortcut 1x1
 *               CONV/stride + shortcut_bn when the shape changes], SUM, act
 * then builds every layer once, runs them forward in order and backward in
 * reverse order, and computes the loss in C with OpenMP.
 * Does not: optimizers (optim.h), checkpoints (checkpoint.h), data loading.
 */
#include "models/network.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/layers.h"

struct nas_net {
    nas_ctx ctx; /* ctx.arena: where the buffers are (NULL: the heap) */
    int batch, classes, in_c, in_h, in_w;
    unsigned flags;
    nas_tensor *t;
    int n_t, cap_t;
    nas_layer *l;
    int n_l, cap_l;
    int *node_tensor; /* arch node -> tensor */
    float **grad_pool; /* gradient buffers shared by tensors (plan_grad_buffers) */
    int n_grad_pool;
    int n_nodes;
    nas_param *params;
    int n_params;
    float *sample_loss; /* per image, batch floats */
    float loss;
    int correct;
    int fwd_training; /* the last forward was in training mode */
    int have_fwd;
    int have_train_fwd; /* a training forward ran (folded convs wrote their outputs) */
    int weights_static; /* 1: weights do not change, sync only when not done */
    int wsync_done;     /* the primitives' weight copies are current */
    int isync_done;     /* the folded inference weights are current */
};

/* ---------------------------------------------------------------- lowering */

static int new_tensor(nas_net *net, int c, int h, int w, nas_error *err) {
    if (net->n_t == net->cap_t) {
        int cap = net->cap_t ? net->cap_t * 2 : 32;
        nas_tensor *p = realloc(net->t, (size_t)cap * sizeof *p);
        if (!p) {
            NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
            return -1;
        }
        net->t = p;
        net->cap_t = cap;
    }
    nas_tensor *t = &net->t[net->n_t];
    memset(t, 0, sizeof *t);
    t->n = net->batch, t->c = c, t->h = h, t->w = w;
    return net->n_t++;
}

/* Appends a layer reading n_in tensors and producing a new (c, h, w) tensor;
 * returns the layer index or -1. */
static int new_layer(nas_net *net, nas_layer_kind kind, int n_in, const int *in, int c, int h,
                     int w, nas_error *err, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));
static int new_layer(nas_net *net, nas_layer_kind kind, int n_in, const int *in, int c, int h,
                     int w, nas_error *err, const char *fmt, ...) {
    int out = new_tensor(net, c, h, w, err);
    if (out < 0) return -1;
    if (net->n_l == net->cap_l) {
        int cap = net->cap_l ? net->cap_l * 2 : 32;
        nas_layer *p = realloc(net->l, (size_t)cap * sizeof *p);
        if (!p) {
            NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
            return -1;
        }
        net->l = p;
        net->cap_l = cap;
    }
    nas_layer *l = &net->l[net->n_l];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->name, sizeof l->name, fmt, ap);
    va_end(ap);
    l->n_in = n_in;
    memcpy(l->in, in, (size_t)n_in * sizeof *in);
    l->out = out;
    l->stride = 1;
    l->dilation = 1;
    l->groups = 1;
    return net->n_l++;
}

static int window_out(int in, int k, int s, int p, int d) {
    return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* conv: x (N, C, H, W) -> (N, out, OH, OW); returns the output tensor or -1. */
static int lower_conv(nas_net *net, int x, int out, int k, int stride, int pad, int dil, int groups,
                      int bias, nas_error *err, const char *name, int node) {
    nas_tensor *t = &net->t[x];
    int oh = window_out(t->h, k, stride, pad, dil), ow = window_out(t->w, k, stride, pad, dil);
    if (oh < 1 || ow < 1) {
        NAS_FAIL(err, NAS_ERR_INVALID, "n%d.%s: output smaller than 1x1", node, name);
        return -1;
    }
    int li = new_layer(net, NAS_L_CONV, 1, &x, out, oh, ow, err, "n%d.%s", node, name);
    if (li < 0) return -1;
    nas_layer *l = &net->l[li];
    l->out_c = out, l->kernel_h = l->kernel_w = k, l->stride = stride, l->pad = pad;
    l->dilation = dil, l->groups = groups, l->bias = bias;
    return l->out;
}

static int lower_same(nas_net *net, nas_layer_kind kind, int x, nas_error *err, const char *name,
                      int node) {
    nas_tensor *t = &net->t[x];
    int li = new_layer(net, kind, 1, &x, t->c, t->h, t->w, err, "n%d.%s", node, name);
    return li < 0 ? -1 : net->l[li].out;
}

static int lower_act(nas_net *net, int x, nas_op act, nas_error *err, const char *name, int node) {
    int y = lower_same(net, NAS_L_ACT, x, err, name, node);
    if (y >= 0) net->l[net->n_l - 1].act = act;
    return y;
}

static int lower_pool(nas_net *net, int x, int max, int kh, int kw, int stride, int pad,
                      nas_error *err, const char *name, int node) {
    nas_tensor *t = &net->t[x];
    int oh = window_out(t->h, kh, stride, pad, 1), ow = window_out(t->w, kw, stride, pad, 1);
    int li = new_layer(net, NAS_L_POOL, 1, &x, t->c, oh, ow, err, "n%d.%s", node, name);
    if (li < 0) return -1;
    nas_layer *l = &net->l[li];
    l->pool_max = max, l->kernel_h = kh, l->kernel_w = kw, l->stride = stride, l->pad = pad;
    return l->out;
}

static int lower_sum(nas_net *net, int n, const int *xs, nas_error *err, const char *name, int node) {
    nas_tensor *t = &net->t[xs[0]];
    int li = new_layer(net, NAS_L_SUM, n, xs, t->c, t->h, t->w, err, "n%d.%s", node, name);
    return li < 0 ? -1 : net->l[li].out;
}

/* mbconv: x (N, C, H, W) -> (N, out, OH, OW); see the file comment. */
static int lower_mbconv(nas_net *net, const nas_node *nd, int x, int i, nas_error *err) {
    int C = net->t[x].c, hidden = C * nd->expand, k = nd->kernel, h = x;
    if (nd->expand != 1) {
        if ((h = lower_conv(net, h, hidden, 1, 1, 0, 1, 1, 0, err, "expand", i)) < 0) return -1;
        if ((h = lower_same(net, NAS_L_BN, h, err, "expand_bn", i)) < 0) return -1;
        if ((h = lower_act(net, h, nd->act, err, "expand_act", i)) < 0) return -1;
    }
    if ((h = lower_conv(net, h, hidden, k, nd->stride, k / 2, 1, hidden, 0, err, "dw", i)) < 0)
        return -1;
    if ((h = lower_same(net, NAS_L_BN, h, err, "dw_bn", i)) < 0) return -1;
    if ((h = lower_act(net, h, nd->act, err, "dw_act", i)) < 0) return -1;
    if (nd->se) {
        int sq = hidden / 4 > 0 ? hidden / 4 : 1, s;
        nas_tensor *t = &net->t[h];
        if ((s = lower_pool(net, h, 0, t->h, t->w, 1, 0, err, "se_pool", i)) < 0) return -1;
        if ((s = lower_conv(net, s, sq, 1, 1, 0, 1, 1, 1, err, "se_reduce", i)) < 0) return -1;
        if ((s = lower_act(net, s, NAS_OP_RELU, err, "se_relu", i)) < 0) return -1;
        if ((s = lower_conv(net, s, hidden, 1, 1, 0, 1, 1, 1, err, "se_expand", i)) < 0) return -1;
        if ((s = lower_act(net, s, NAS_OP_SIGMOID, err, "se_gate", i)) < 0) return -1;
        int in2[2] = {h, s};
        t = &net->t[h];
        int li = new_layer(net, NAS_L_SCALE, 2, in2, t->c, t->h, t->w, err, "n%d.se_scale", i);
        if (li < 0) return -1;
        h = net->l[li].out;
    }
    if ((h = lower_conv(net, h, nd->out, 1, 1, 0, 1, 1, 0, err, "project", i)) < 0) return -1;
    if ((h = lower_same(net, NAS_L_BN, h, err, "project_bn", i)) < 0) return -1;
    if (nd->stride == 1 && C == nd->out) {
        int in2[2] = {x, h};
        if ((h = lower_sum(net, 2, in2, err, "add", i)) < 0) return -1;
    }
    return h;
}

/* resblock: x (N, C, H, W) -> (N, out, OH, OW); see the file comment. */
static int lower_resblock(nas_net *net, const nas_node *nd, int x, int i, nas_error *err) {
    int C = net->t[x].c, k = nd->kernel, h, sc = x;
    if ((h = lower_conv(net, x, nd->out, k, nd->stride, k / 2, 1, 1, 0, err, "conv1", i)) < 0)
        return -1;
    if ((h = lower_same(net, NAS_L_BN, h, err, "bn1", i)) < 0) return -1;
    if ((h = lower_act(net, h, nd->act, err, "act1", i)) < 0) return -1;
    if ((h = lower_conv(net, h, nd->out, k, 1, k / 2, 1, 1, 0, err, "conv2", i)) < 0) return -1;
    if ((h = lower_same(net, NAS_L_BN, h, err, "bn2", i)) < 0) return -1;
    if (nd->stride != 1 || C != nd->out) {
        if ((sc = lower_conv(net, x, nd->out, 1, nd->stride, 0, 1, 1, 0, err, "shortcut", i)) < 0)
            return -1;
        if ((sc = lower_same(net, NAS_L_BN, sc, err, "shortcut_bn", i)) < 0) return -1;
    }
    int in2[2] = {sc, h};
    if ((h = lower_sum(net, 2, in2, err, "add", i)) < 0) return -1;
    return lower_act(net, h, nd->act, err, "act2", i);
}

static int lower_node(nas_net *net, const nas_node *nd, int i, nas_error *err) {
    int x = net->node_tensor[nd->inputs[0]];
    int xs[NAS_ARCH_MAX_INPUTS];
    for (int j = 0; j < nd->n_inputs; j++) xs[j] = net->node_tensor[nd->inputs[j]];
    nas_tensor *t = &net->t[x];
    int li;
    switch (nd->op) {
    case NAS_OP_CONV:
        return lower_conv(net, x, nd->out, nd->kernel, nd->stride, nd->pad, nd->dilation, nd->groups,
                          nd->bias, err, "conv", i);
    case NAS_OP_BN: return lower_same(net, NAS_L_BN, x, err, "bn", i);
    case NAS_OP_RELU:
    case NAS_OP_RELU6:
    case NAS_OP_HSWISH:
    case NAS_OP_SIGMOID: return lower_act(net, x, nd->op, err, nas_op_name(nd->op), i);
    case NAS_OP_MBCONV: return lower_mbconv(net, nd, x, i, err);
    case NAS_OP_RESBLOCK: return lower_resblock(net, nd, x, i, err);
    case NAS_OP_MAXPOOL:
    case NAS_OP_AVGPOOL:
        return lower_pool(net, x, nd->op == NAS_OP_MAXPOOL, nd->kernel, nd->kernel, nd->stride,
                          nd->pad, err, nd->op == NAS_OP_MAXPOOL ? "maxpool" : "avgpool", i);
    case NAS_OP_GAP: return lower_pool(net, x, 0, t->h, t->w, 1, 0, err, "gap", i);
    case NAS_OP_FLATTEN:
        li = new_layer(net, NAS_L_FLATTEN, 1, &x, t->c * t->h * t->w, 1, 1, err, "n%d.flatten", i);
        return li < 0 ? -1 : net->l[li].out;
    case NAS_OP_DROPOUT:
        if ((li = lower_same(net, NAS_L_DROPOUT, x, err, "dropout", i)) < 0) return -1;
        net->l[net->n_l - 1].rate = nd->rate;
        return li;
    case NAS_OP_FC:
        if (t->h != 1 || t->w != 1) {
            NAS_FAIL(err, NAS_ERR_INVALID, "node %d (fc): input is %dx%dx%d, not Cx1x1", i, t->c,
                     t->h, t->w);
            return -1;
        }
        li = new_layer(net, NAS_L_FC, 1, &x, nd->out, 1, 1, err, "n%d.fc", i);
        if (li < 0) return -1;
        net->l[li].out_c = nd->out;
        net->l[li].bias = nd->bias;
        return net->l[li].out;
    case NAS_OP_IDENTITY: return lower_same(net, NAS_L_COPY, x, err, "identity", i);
    case NAS_OP_ZERO:
        li = new_layer(net, NAS_L_ZERO, 1, &x, nd->c, nd->h, nd->w, err, "n%d.zero", i);
        return li < 0 ? -1 : net->l[li].out;
    case NAS_OP_ADD: return lower_sum(net, nd->n_inputs, xs, err, "add", i);
    case NAS_OP_CONCAT:
        li = new_layer(net, NAS_L_CONCAT, nd->n_inputs, xs, nd->c, nd->h, nd->w, err, "n%d.concat", i);
        return li < 0 ? -1 : net->l[li].out;
    default:
        NAS_FAIL(err, NAS_ERR_UNSUPPORTED, "node %d: op %s is not supported by the network", i,
                 nas_op_name(nd->op));
        return -1;
    }
}

/* BN whose output only a ReLU reads becomes one BN primitive with the ReLU fused. */
static void fuse_bn_relu(nas_net *net) {
    int *readers = calloc((size_t)net->n_t, sizeof *readers);
    if (!readers) return; /* fusion is an optimisation only */
    for (int i = 0; i < net->n_l; i++)
        for (int j = 0; j < net->l[i].n_in; j++) readers[net->l[i].in[j]]++;
    int w = 0;
    for (int i = 0; i < net->n_l; i++) {
        nas_layer *l = &net->l[i];
        if (l->kind == NAS_L_ACT && l->act == NAS_OP_RELU && w > 0) {
            nas_layer *p = &net->l[w - 1];
            if (p->kind == NAS_L_BN && !p->fuse_relu && p->out == l->in[0] &&
                readers[p->out] == 1) {
                int old = p->out;
                p->fuse_relu = 1;
                p->out = l->out;
                for (int k = 0; k < net->n_nodes; k++)
                    if (net->node_tensor[k] == old) net->node_tensor[k] = l->out;
                continue; /* drop the ReLU layer */
            }
        }
        net->l[w++] = *l;
    }
    net->n_l = w;
    free(readers);
}

/* A conv whose only reader is the BN right after it is folded into that BN
 * for inference (layers.h, isync). */
static nas_status plan_folding(nas_net *net, nas_error *err) {
    int *readers = calloc((size_t)net->n_t, sizeof *readers);
    if (!readers) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < net->n_l; i++)
        for (int j = 0; j < net->l[i].n_in; j++) readers[net->l[i].in[j]]++;
    for (int i = 1; i < net->n_l; i++) {
        nas_layer *c = &net->l[i - 1], *b = &net->l[i];
        if (b->kind == NAS_L_BN && c->kind == NAS_L_CONV && b->in[0] == c->out &&
            readers[c->out] == 1) {
            c->folded = 1;
            b->fold = c;
        }
    }
    free(readers);
    return NAS_OK;
}

/*
 * Gradient buffers are shared between tensors whose gradients are never live
 * at the same time. In backward order (layer i runs at time n_l - 1 - i) a
 * tensor's gradient is born when its last reader runs backward (that reader
 * writes it in place) and dies when its producer has read it. Greedy interval
 * colouring assigns buffers; sizes are the bound N * ceil16(C) * H * W floats
 * of every layout oneDNN may pick (blocked layouts pad channels to 16 at
 * most); a tensor whose layout turns out larger gets its own buffer. The
 * input, the logits and tensors no layer reads keep their own buffers.
 */
/* Among free buffers: the smallest that fits, else the largest (it grows). */
static int better_buffer(size_t cand, size_t best, size_t need) {
    if (cand >= need) return best < need || cand < best;
    return best < need && cand > best;
}

static nas_status plan_grad_buffers(nas_net *net, nas_error *err) {
    int n = net->n_t, T = net->n_l;
    int *birth = malloc((size_t)n * sizeof *birth), *death = malloc((size_t)n * sizeof *death);
    int *order = malloc((size_t)n * sizeof *order), *buf_free = NULL, n_order = 0;
    size_t *cap = NULL;
    nas_status st = NAS_OK;
    if (!birth || !death || !order) goto nomem;
    for (int i = 0; i < n; i++) birth[i] = death[i] = -1;
    for (int i = 0; i < T; i++) {
        nas_layer *l = &net->l[i];
        death[l->out] = T - 1 - i;
        for (int j = 0; j < l->n_in; j++)
            if (birth[l->in[j]] < 0 || T - 1 - i < birth[l->in[j]]) birth[l->in[j]] = T - 1 - i;
    }
    int head_out = net->l[T - 1].out;
    for (int i = 1; i < n; i++)
        if (net->t[i].needs_grad && birth[i] >= 0 && death[i] >= 0 && i != head_out) order[n_order++] = i;
    /* insertion sort by birth (few hundred tensors at most) */
    for (int a = 1; a < n_order; a++)
        for (int b = a; b > 0 && birth[order[b]] < birth[order[b - 1]]; b--) {
            int tmp = order[b];
            order[b] = order[b - 1], order[b - 1] = tmp;
        }
    cap = calloc((size_t)(n_order + 1), sizeof *cap);
    buf_free = malloc((size_t)(n_order + 1) * sizeof *buf_free); /* time the buffer frees up */
    int *tensor_buf = malloc((size_t)n * sizeof *tensor_buf);
    if (!cap || !buf_free || !tensor_buf) {
        free(tensor_buf);
        goto nomem;
    }
    int nb = 0;
    for (int k = 0; k < n_order; k++) {
        int ti = order[k];
        nas_tensor *t = &net->t[ti];
        size_t need = (size_t)t->n * (size_t)((t->c + 15) / 16 * 16) * t->h * t->w * sizeof(float);
        int best = -1;
        for (int b = 0; b < nb; b++) {
            if (buf_free[b] >= birth[ti]) continue; /* still live */
            if (best < 0 || better_buffer(cap[b], cap[best], need)) best = b;
        }
        if (best < 0) best = nb++, cap[best] = 0;
        if (cap[best] < need) cap[best] = need;
        buf_free[best] = death[ti];
        tensor_buf[ti] = best;
    }
    net->grad_pool = calloc((size_t)(nb > 0 ? nb : 1), sizeof *net->grad_pool);
    if (!net->grad_pool) {
        free(tensor_buf);
        goto nomem;
    }
    for (int b = 0; b < nb; b++) {
        /* written by the tensor's first reader in backward order before any read */
        if (!(net->grad_pool[b] = nas_ctx_buf(&net->ctx, cap[b], NAS_BUF_WRITTEN))) {
            free(tensor_buf);
            goto nomem;
        }
        net->n_grad_pool++;
    }
    for (int k = 0; k < n_order; k++) {
        nas_tensor *t = &net->t[order[k]];
        t->dx = net->grad_pool[tensor_buf[order[k]]];
        t->dx_cap = cap[tensor_buf[order[k]]];
        t->dx_shared = 1;
    }
    free(tensor_buf);
    goto out;
nomem:
    st = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
out:
    free(birth);
    free(death);
    free(order);
    free(cap);
    free(buf_free);
    return st;
}

static int has_weights(nas_layer_kind k) {
    return k == NAS_L_CONV || k == NAS_L_FC || k == NAS_L_BN;
}

/* Which tensors need gradients, and how each input edge receives its own. */
static nas_status plan_gradients(nas_net *net, nas_error *err) {
    int grads = (net->flags & NAS_NET_GRADS) != 0;
    net->t[0].needs_grad = grads && (net->flags & NAS_NET_INPUT_GRAD);
    for (int i = 0; i < net->n_l; i++) {
        nas_layer *l = &net->l[i];
        int need = grads && has_weights(l->kind);
        for (int j = 0; j < l->n_in; j++) need |= net->t[l->in[j]].needs_grad;
        net->t[l->out].needs_grad = need;
    }
    char *seen = calloc((size_t)net->n_t, 1);
    if (!seen) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    for (int i = net->n_l - 1; i >= 0; i--) {
        nas_layer *l = &net->l[i];
        for (int j = 0; j < l->n_in; j++) {
            int ti = l->in[j];
            if (!net->t[ti].needs_grad) l->edge[j] = NAS_EDGE_NONE;
            else if (!seen[ti]) l->edge[j] = NAS_EDGE_DIRECT, seen[ti] = 1;
            else l->edge[j] = NAS_EDGE_ACC;
        }
    }
    free(seen);
    return NAS_OK;
}

/* ------------------------------------------------------------------- API */

void nas_net_destroy(nas_net *net) {
    if (!net) return;
    for (int i = 0; i < net->n_l; i++) nas_layer_deinit(&net->l[i]);
    for (int i = 0; i < net->n_t && !net->ctx.arena; i++) {
        free(net->t[i].x);
        if (!net->t[i].dx_shared) free(net->t[i].dx);
    }
    for (int i = 0; i < net->n_grad_pool && !net->ctx.arena; i++) free(net->grad_pool[i]);
    free(net->grad_pool);
    free(net->l);
    free(net->t);
    free(net->node_tensor);
    free(net->params);
    free(net->sample_loss);
    nas_ctx_deinit(&net->ctx);
    free(net);
}

nas_status nas_net_create(const nas_arch *arch, int batch, unsigned flags, pcg32 *rng,
                          nas_net **out, nas_error *err) {
    return nas_net_create_in(arch, batch, flags, NULL, rng, out, err);
}

nas_status nas_net_create_in(const nas_arch *arch, int batch, unsigned flags, nas_arena *arena,
                             pcg32 *rng, nas_net **out, nas_error *err) {
    *out = NULL;
    if (batch < 1) return NAS_FAIL(err, NAS_ERR_INVALID, "batch must be >= 1, got %d", batch);
    if (!arch || arch->n_nodes < 2 || arch->nodes[0].op != NAS_OP_INPUT)
        return NAS_FAIL(err, NAS_ERR_INVALID, "arch has no layers");
    nas_status st;
    nas_net *net = calloc(1, sizeof *net);
    if (!net) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    net->batch = batch;
    net->flags = flags;
    net->in_c = arch->in_c, net->in_h = arch->in_h, net->in_w = arch->in_w;
    const nas_node *last = &arch->nodes[arch->n_nodes - 1];
    net->classes = last->c;
    if (last->h != 1 || last->w != 1) {
        st = NAS_FAIL(err, NAS_ERR_INVALID, "the last node must be classes x 1 x 1, got %dx%dx%d",
                      last->c, last->h, last->w);
        goto fail;
    }
    if ((st = nas_ctx_init(&net->ctx, arena, err))) goto fail;
    net->n_nodes = arch->n_nodes;
    net->node_tensor = calloc((size_t)arch->n_nodes, sizeof *net->node_tensor);
    net->sample_loss = calloc((size_t)batch, sizeof *net->sample_loss);
    if (!net->node_tensor || !net->sample_loss) goto nomem;

    /* lower */
    if (new_tensor(net, arch->in_c, arch->in_h, arch->in_w, err) < 0) goto nomem;
    for (int i = 1; i < arch->n_nodes; i++) {
        const nas_node *nd = &arch->nodes[i];
        if (nd->n_inputs < 1 || nd->inputs[0] < 0 || nd->inputs[0] >= i) {
            st = NAS_FAIL(err, NAS_ERR_INVALID, "node %d: bad inputs", i);
            goto fail;
        }
        int y = lower_node(net, nd, i, err);
        if (y < 0) {
            st = err ? err->code : NAS_ERR_INVALID;
            goto fail;
        }
        nas_tensor *t = &net->t[y];
        if (t->c != nd->c || t->h != nd->h || t->w != nd->w) {
            st = NAS_FAIL(err, NAS_ERR_UNSUPPORTED,
                          "node %d (%s): lowered to %dx%dx%d but the arch says %dx%dx%d", i,
                          nas_op_name(nd->op), t->c, t->h, t->w, nd->c, nd->h, nd->w);
            goto fail;
        }
        net->node_tensor[i] = y;
    }
    int final = net->node_tensor[arch->n_nodes - 1];
    if (new_layer(net, NAS_L_HEAD, 1, &final, net->classes, 1, 1, err, "head") < 0) goto nomem;
    if (!(flags & NAS_NET_NO_FUSE)) {
        fuse_bn_relu(net);
        if ((st = plan_folding(net, err))) goto fail;
    }
    if ((st = plan_gradients(net, err))) goto fail;
    net->t[net->l[net->n_l - 1].out].needs_grad = (flags & NAS_NET_GRADS) != 0;
    if ((flags & NAS_NET_GRADS) && (st = plan_grad_buffers(net, err))) goto fail;

    /* build */
    {
        nas_tensor *in = &net->t[0];
        dnnl_memory_desc_t md = nas_md_nchw(batch, in->c, in->h, in->w);
        in->md = md;
        in->bytes = dnnl_memory_desc_get_size(&md);
        in->x = nas_ctx_buf(&net->ctx, in->bytes, NAS_BUF_WRITTEN); /* each forward copies in */
        if (!in->x) goto nomem;
        if (in->needs_grad && !(in->dx = nas_ctx_buf(&net->ctx, in->bytes, NAS_BUF_ZERO)))
            goto nomem;
        in->built = 1;
    }
    int grads = (flags & NAS_NET_GRADS) != 0;
    for (int i = 0; i < net->n_l; i++)
        if ((st = nas_layer_build(&net->l[i], &net->ctx, net->t, grads, err))) goto fail;
    if ((st = nas_ctx_bind_scratch(&net->ctx, err))) goto fail;

    /* params and init */
    int np = 0;
    for (int i = 0; i < net->n_l; i++) np += net->l[i].n_params;
    net->params = calloc(np > 0 ? (size_t)np : 1, sizeof *net->params);
    if (!net->params) goto nomem;
    for (int i = 0; i < net->n_l; i++) {
        if (!(flags & NAS_NET_NO_INIT) || net->l[i].kind == NAS_L_BN) /* BN draws nothing */
            nas_layer_init_weights(&net->l[i], rng);
        for (int j = 0; j < net->l[i].n_params; j++) net->params[net->n_params++] = net->l[i].params[j];
    }
    *out = net;
    return NAS_OK;
nomem:
    st = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory building the network");
fail:
    nas_net_destroy(net);
    return st;
}

nas_status nas_net_forward(nas_net *net, const float *x, int training, pcg32 *rng,
                           nas_error *err) {
    nas_status st;
    memcpy(net->t[0].x, x, (size_t)net->batch * net->in_c * net->in_h * net->in_w * sizeof(float));
    if (!net->weights_static || !net->wsync_done) {
        for (int i = 0; i < net->n_l; i++)
            if ((st = nas_steps_run(&net->l[i].wsync, &net->ctx, NULL, err))) return st;
        net->wsync_done = 1;
    }
    if (training) {
        net->isync_done = 0; /* the running statistics move */
    } else if (!net->weights_static || !net->isync_done) {
        for (int i = 0; i < net->n_l; i++)
            if ((st = nas_steps_run(&net->l[i].isync, &net->ctx, NULL, err))) return st;
        net->isync_done = 1;
    }
    for (int i = 0; i < net->n_l; i++) {
        nas_layer *l = &net->l[i];
        if ((st = nas_steps_run(training ? &l->fwd : &l->inf, &net->ctx, rng, err)))
            return nas_error_prefix(err, "%s", l->name);
    }
    NAS_DNNL(dnnl_stream_wait(net->ctx.stream), err);
    net->fwd_training = training != 0;
    net->have_fwd = 1;
    net->have_train_fwd |= training != 0;
    return NAS_OK;
fail:
    return err ? err->code : NAS_ERR_DNNL;
}

/*
 * softmax cross-entropy: logits (N, K), labels (N) -> loss = mean_n (logsumexp(z_n) - z_n[y_n]);
 * dlogits (N, K) = (softmax(z_n) - t_n) / N when dz != NULL, t_n = soft (N, K) when given
 * (the gradient of the cross-entropy against those probabilities), else onehot(y_n).
 */
static nas_status softmax_xent(nas_net *net, const int *labels, const float *soft, float *dz, nas_error *err) {
    const float *z = nas_net_logits(net);
    int N = net->batch, K = net->classes;
    for (int n = 0; n < N; n++)
        if (labels[n] < 0 || labels[n] >= K)
            return NAS_FAIL(err, NAS_ERR_INVALID, "label %d of image %d is not in [0, %d)",
                            labels[n], n, K);
    int correct = 0;
#pragma omp parallel for schedule(static) reduction(+ : correct)
    for (int n = 0; n < N; n++) {
        const float *zn = z + (size_t)n * K;
        float mx = zn[0];
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (zn[k] > mx) mx = zn[k], arg = k;
        double sum = 0;
        for (int k = 0; k < K; k++) sum += exp((double)(zn[k] - mx));
        net->sample_loss[n] = (float)(log(sum) - (double)(zn[labels[n]] - mx));
        correct += arg == labels[n];
        if (dz) {
            float *dn = dz + (size_t)n * K;
            const float *sn = soft ? soft + (size_t)n * K : NULL;
            for (int k = 0; k < K; k++)
                dn[k] = (float)((exp((double)(zn[k] - mx)) / sum - (sn ? (double)sn[k] : (double)(k == labels[n]))) / N);
        }
    }
    double total = 0;
    for (int n = 0; n < N; n++) total += net->sample_loss[n];
    net->loss = (float)(total / N);
    net->correct = correct;
    return NAS_OK;
}

nas_status nas_net_score(nas_net *net, const int *labels, float *loss, int *correct,
                         nas_error *err) {
    if (!net->have_fwd) return NAS_FAIL(err, NAS_ERR_INVALID, "score before any forward pass");
    nas_status st = softmax_xent(net, labels, NULL, NULL, err);
    if (st) return st;
    if (loss) *loss = net->loss;
    if (correct) *correct = net->correct;
    return NAS_OK;
}

nas_status nas_net_backward(nas_net *net, const int *labels, nas_error *err) {
    return nas_net_backward_soft(net, labels, NULL, err);
}

nas_status nas_net_backward_soft(nas_net *net, const int *labels, const float *soft, nas_error *err) {
    if (!(net->flags & NAS_NET_GRADS))
        return NAS_FAIL(err, NAS_ERR_INVALID, "backward on a network built without NAS_NET_GRADS");
    if (!net->have_fwd || !net->fwd_training)
        return NAS_FAIL(err, NAS_ERR_INVALID, "backward needs a forward pass in training mode");
    nas_tensor *head = &net->t[net->l[net->n_l - 1].out];
    nas_status st = softmax_xent(net, labels, soft, head->dx, err);
    if (st) return st;
    for (int i = net->n_l - 1; i >= 0; i--) {
        nas_layer *l = &net->l[i];
        if ((st = nas_steps_run(&l->bwd, &net->ctx, NULL, err)))
            return nas_error_prefix(err, "%s (backward)", l->name);
    }
    NAS_DNNL(dnnl_stream_wait(net->ctx.stream), err);
    return NAS_OK;
fail:
    return err ? err->code : NAS_ERR_DNNL;
}

float nas_net_loss(const nas_net *net) { return net->loss; }
int nas_net_correct(const nas_net *net) { return net->correct; }
int nas_net_batch(const nas_net *net) { return net->batch; }
int nas_net_classes(const nas_net *net) { return net->classes; }

const float *nas_net_logits(const nas_net *net) { return net->t[net->l[net->n_l - 1].out].x; }

void nas_net_params(nas_net *net, nas_param **params, int *n) {
    *params = net->params;
    *n = net->n_params;
}

const float *nas_net_input_grad(const nas_net *net) { return net->t[0].dx; }

void nas_net_set_weights_static(nas_net *net, int on) {
    net->weights_static = on != 0;
    net->wsync_done = net->isync_done = 0;
}

nas_status nas_net_node_value(nas_net *net, int node, float *out, nas_error *err) {
    if (node < 0 || node >= net->n_nodes)
        return NAS_FAIL(err, NAS_ERR_INVALID, "node %d is not in 0..%d", node, net->n_nodes - 1);
    int ti = net->node_tensor[node];
    nas_tensor *t = &net->t[ti];
    int written = net->have_fwd;
    for (int i = 0; i < net->n_l; i++)
        if (net->l[i].out == ti && net->l[i].folded) written = net->have_train_fwd;
    if (!written) { /* zeros, as a fresh buffer (an arena one holds anything) */
        memset(out, 0, (size_t)t->n * t->c * t->h * t->w * sizeof *out);
        return NAS_OK;
    }
    dnnl_memory_desc_t src = nas_md_4d(&t->md), dst = nas_md_nchw(t->n, t->c, t->h, t->w);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    dnnl_memory_t ms = NULL, md = NULL;
    nas_status st = NAS_OK;
    NAS_DNNL(dnnl_reorder_primitive_desc_create(&pd, &src, net->ctx.eng, &dst, net->ctx.eng, NULL),
             err);
    NAS_DNNL(dnnl_primitive_create(&p, pd), err);
    NAS_DNNL(dnnl_memory_create(&ms, &src, net->ctx.eng, t->x), err);
    NAS_DNNL(dnnl_memory_create(&md, &dst, net->ctx.eng, out), err);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, ms}, {DNNL_ARG_TO, md}};
    NAS_DNNL(dnnl_primitive_execute(p, net->ctx.stream, 2, args), err);
    NAS_DNNL(dnnl_stream_wait(net->ctx.stream), err);
out:
    if (ms) dnnl_memory_destroy(ms);
    if (md) dnnl_memory_destroy(md);
    if (p) dnnl_primitive_destroy(p);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return st;
fail:
    st = err ? err->code : NAS_ERR_DNNL;
    goto out;
}
