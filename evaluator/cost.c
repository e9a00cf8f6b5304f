/*
 * cost.c - analytic MACs, parameters and memory of an arch (see cost.h for
 * every convention). Pure arithmetic over the arch's inferred shapes; it does
 * not check shapes (nas_arch_check does) and never touches oneDNN.
 */
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "evaluator/cost.h"

static int is_view(nas_op op) {
    return op == NAS_OP_IDENTITY || op == NAS_OP_DROPOUT || op == NAS_OP_FLATTEN;
}

/* A kxk convolution from in_c to out_c channels with `groups`, producing an
 * out_c x oh x ow map; no bias. Adds its MACs and weights. */
static void add_conv(nas_cost_node *n, int64_t in_c, int64_t out_c, int64_t k, int64_t groups,
                     int64_t oh, int64_t ow) {
    int64_t w = out_c * (in_c / groups) * k * k;
    n->macs += w * oh * ow;
    n->params += w;
}

static void add_bn(nas_cost_node *n, int64_t c) {
    n->params += 2 * c;
    n->buffers += 2 * c;
}

static void mbconv_cost(const nas_node *nd, const nas_node *in, nas_cost_node *n) {
    int64_t ic = in->c, ih = in->h, iw = in->w;
    int64_t oc = nd->c, oh = nd->h, ow = nd->w;
    int64_t k = nd->kernel, mid = ic * (nd->expand > 0 ? nd->expand : 1);
    int64_t out = oc * oh * ow, d = mid * oh * ow, e = 0, se = 0;
    if (nd->expand > 1) {
        e = mid * ih * iw;
        add_conv(n, ic, mid, 1, 1, ih, iw);
        add_bn(n, mid);
        n->saved_elems += 3 * e; /* conv, BN, act */
    }
    add_conv(n, mid, mid, k, mid, oh, ow);
    add_bn(n, mid);
    n->saved_elems += 3 * d;
    if (nd->se) {
        int64_t r = mid / 4 > 1 ? mid / 4 : 1;
        n->macs += 2 * mid * r;
        n->params += mid * r + r + r * mid + mid;
        n->saved_elems += mid + r + r + mid + mid + d; /* pool, fc1, relu, fc2, sigmoid, gated */
        se = 2 * mid + r;
    }
    add_conv(n, mid, oc, 1, 1, oh, ow);
    add_bn(n, oc);
    n->saved_elems += 2 * out;
    if (nd->stride == 1 && ic == oc) n->saved_elems += out; /* residual add */
    n->internal_elems = d + se;
    if (e + d > n->internal_elems) n->internal_elems = e + d;
    n->out_elems = out;
}

static void resblock_cost(const nas_node *nd, const nas_node *in, nas_cost_node *n) {
    int64_t ic = in->c, oc = nd->c, oh = nd->h, ow = nd->w, k = nd->kernel;
    int64_t a = oc * oh * ow;
    int proj = nd->stride != 1 || ic != oc;
    add_conv(n, ic, oc, k, 1, oh, ow);
    add_bn(n, oc);
    add_conv(n, oc, oc, k, 1, oh, ow);
    add_bn(n, oc);
    n->saved_elems += 3 * a + 2 * a; /* conv1, BN1, act, conv2, BN2 */
    if (proj) {
        add_conv(n, ic, oc, 1, 1, oh, ow);
        add_bn(n, oc);
        n->saved_elems += 2 * a;
    }
    n->saved_elems += 2 * a; /* add, act */
    n->internal_elems = proj ? 2 * a : a;
    n->out_elems = a;
}

void nas_cost_node_compute(const nas_arch *a, int i, nas_cost_node *n) {
    const nas_node *nd = &a->nodes[i];
    const nas_node *in = nd->n_inputs > 0 ? &a->nodes[nd->inputs[0]] : NULL;
    int64_t out = (int64_t)nd->c * nd->h * nd->w;
    memset(n, 0, sizeof *n);
    switch (nd->op) {
    case NAS_OP_CONV:
        add_conv(n, in->c, nd->c, nd->kernel, nd->groups > 0 ? nd->groups : 1, nd->h, nd->w);
        if (nd->bias) n->params += nd->c;
        break;
    case NAS_OP_BN: add_bn(n, nd->c); break;
    case NAS_OP_FC: {
        int64_t fan_in = (int64_t)in->c * in->h * in->w;
        n->macs = fan_in * nd->c;
        n->params = fan_in * nd->c + (nd->bias ? nd->c : 0);
        break;
    }
    case NAS_OP_MBCONV: mbconv_cost(nd, in, n); return;
    case NAS_OP_RESBLOCK: resblock_cost(nd, in, n); return;
    default: break;
    }
    if (is_view(nd->op)) return;
    n->out_elems = out;
    /* A zero op's output needs no gradient: nothing saved. */
    n->saved_elems = nd->op == NAS_OP_ZERO ? 0 : out;
}

/* Checks the graph structure the walk relies on. */
static nas_status check_graph(const nas_arch *a, nas_error *err) {
    if (a->n_nodes < 1 || a->nodes[0].op != NAS_OP_INPUT)
        return NAS_FAIL(err, NAS_ERR_INVALID, "cost: the arch has no input node");
    for (int i = 0; i < a->n_nodes; i++) {
        const nas_node *nd = &a->nodes[i];
        if ((int)nd->op < 0 || nd->op >= NAS_OP_COUNT)
            return NAS_FAIL(err, NAS_ERR_INVALID, "cost: node %d: unknown op %d", i, (int)nd->op);
        if (i > 0 && nd->n_inputs < 1)
            return NAS_FAIL(err, NAS_ERR_INVALID, "cost: node %d (%s) has no input", i,
                            nas_op_name(nd->op));
        for (int j = 0; j < nd->n_inputs; j++)
            if (nd->inputs[j] < 0 || nd->inputs[j] >= i)
                return NAS_FAIL(err, NAS_ERR_INVALID,
                                "cost: node %d (%s): input %d is not an earlier node", i,
                                nas_op_name(nd->op), nd->inputs[j]);
    }
    return NAS_OK;
}

/* Liveness walk in topological order: fills live_elems per node and the peak. */
static nas_status liveness(const nas_arch *a, nas_cost *c, nas_error *err) {
    int n = a->n_nodes;
    int *root = malloc((size_t)n * sizeof *root);
    int *last = malloc((size_t)n * sizeof *last);
    if (!root || !last) {
        free(root);
        free(last);
        return NAS_FAIL(err, NAS_ERR_NOMEM, "cost: out of memory");
    }
    for (int i = 0; i < n; i++) {
        const nas_node *nd = &a->nodes[i];
        root[i] = is_view(nd->op) ? root[nd->inputs[0]] : i;
        last[i] = i;
        for (int j = 0; j < nd->n_inputs; j++) {
            int r = root[nd->inputs[j]];
            if (last[r] < i) last[r] = i;
        }
    }
    last[root[n - 1]] = n; /* the network's output outlives the walk */
    int64_t live = 0;
    c->peak_act_elems = 0;
    c->peak_node = 0;
    for (int i = 0; i < n; i++) {
        nas_cost_node *cn = &c->nodes[i];
        live += cn->out_elems;
        cn->live_elems = live + cn->internal_elems;
        if (cn->live_elems > c->peak_act_elems) {
            c->peak_act_elems = cn->live_elems;
            c->peak_node = i;
        }
        for (int r = 0; r <= i; r++)
            if (root[r] == r && last[r] == i) live -= c->nodes[r].out_elems;
    }
    free(root);
    free(last);
    return NAS_OK;
}

/* Upper bounds, in floating point, of what node i adds per image: *work
 * covers its MACs and weights (the widest channel count it touches squared,
 * times its kernel area and largest map, plus an fc's weights), *acts its
 * saved and live floats. */
static void node_bound(const nas_arch *a, int i, double *work, double *acts) {
    const nas_node *nd = &a->nodes[i];
    const nas_node *in = nd->n_inputs > 0 ? &a->nodes[nd->inputs[0]] : NULL;
    double ch = nd->c, hw = (double)nd->h * nd->w, k = nd->kernel > 1 ? nd->kernel : 1, fan_in = 0;
    if (in) {
        double mid = (double)in->c * (nd->expand > 1 ? nd->expand : 1);
        if (mid > ch) ch = mid;
        if ((double)in->h * in->w > hw) hw = (double)in->h * in->w;
        fan_in = (double)in->c * in->h * in->w;
    }
    *work = 4 * ch * ch * k * k * hw + 2 * fan_in * nd->c + 4 * ch;
    *acts = 16 * ch * hw + 16;
}

nas_status nas_cost_compute(const nas_arch *a, int batch, nas_cost_optim optim, nas_cost *c,
                            nas_error *err) {
    nas_status st;
    memset(c, 0, sizeof *c);
    if (batch < 1) return NAS_FAIL(err, NAS_ERR_INVALID, "cost: batch must be >= 1, got %d", batch);
    if (optim < NAS_COST_OPTIM_SGD || optim > NAS_COST_OPTIM_ADAM)
        return NAS_FAIL(err, NAS_ERR_INVALID, "cost: unknown optimizer %d", (int)optim);
    if ((st = check_graph(a, err)) != NAS_OK) return st;
    /* every count below is an int64: refuse what could overflow one (4 bytes
       a float, 2 FLOPs a MAC, up to 4 terms in a sum, times the batch) */
    double work = 0, acts = 0;
    for (int i = 0; i < a->n_nodes; i++) {
        double w, x;
        node_bound(a, i, &w, &x);
        work += w, acts += x;
    }
    if (!(16 * work < 9.2e18 && 16 * (work + acts * batch) < 9.2e18))
        return NAS_FAIL(err, NAS_ERR_INVALID,
                        "cost: the arch is too large to count in 64-bit integers at batch %d (its MACs or "
                        "bytes may reach %.3g)", batch, 4 * (work + acts * batch));
    c->batch = batch;
    c->optim = optim;
    c->n_nodes = a->n_nodes;
    c->nodes = calloc((size_t)a->n_nodes, sizeof *c->nodes);
    if (!c->nodes) return NAS_FAIL(err, NAS_ERR_NOMEM, "cost: out of memory");
    int64_t saved = 0;
    for (int i = 0; i < a->n_nodes; i++) {
        nas_cost_node_compute(a, i, &c->nodes[i]);
        c->macs += c->nodes[i].macs;
        c->params += c->nodes[i].params;
        c->buffers += c->nodes[i].buffers;
        saved += c->nodes[i].saved_elems;
    }
    if ((st = liveness(a, c, err)) != NAS_OK) return st;
    c->flops = 2 * c->macs;
    c->params_total = c->params + c->buffers;
    c->weight_bytes = 4 * c->params_total;
    c->memory_bytes_batch1 = c->weight_bytes + 4 * c->peak_act_elems;
    c->memory_bytes = c->weight_bytes + 4 * c->peak_act_elems * batch;
    c->grad_bytes = 4 * c->params;
    c->optim_bytes = 4 * c->params * (int64_t)optim;
    c->saved_act_bytes = 4 * saved * batch;
    c->train_memory_bytes = c->weight_bytes + c->grad_bytes + c->optim_bytes + c->saved_act_bytes;
    return NAS_OK;
}

void nas_cost_deinit(nas_cost *c) {
    if (!c) return;
    free(c->nodes);
    c->nodes = NULL;
    c->n_nodes = 0;
}

const char *nas_cost_optim_name(nas_cost_optim o) {
    switch (o) {
    case NAS_COST_OPTIM_SGD: return "sgd";
    case NAS_COST_OPTIM_MOMENTUM: return "momentum";
    case NAS_COST_OPTIM_ADAM: return "adam";
    }
    return "?";
}

int nas_cost_optim_parse(const char *name) {
    if (!strcmp(name, "sgd")) return NAS_COST_OPTIM_SGD;
    if (!strcmp(name, "momentum")) return NAS_COST_OPTIM_MOMENTUM;
    if (!strcmp(name, "adam") || !strcmp(name, "adamw")) return NAS_COST_OPTIM_ADAM;
    return -1;
}

static int add_num(cJSON *o, const char *k, double v) {
    return cJSON_AddNumberToObject(o, k, v) != NULL;
}

static int node_json(cJSON *arr, const nas_arch *a, const nas_cost *c, int i) {
    const nas_cost_node *n = &c->nodes[i];
    cJSON *o = cJSON_CreateObject();
    if (!o) return 0;
    cJSON_AddItemToArray(arr, o);
    return add_num(o, "index", i) && cJSON_AddStringToObject(o, "op", nas_op_name(a->nodes[i].op)) &&
           add_num(o, "macs", (double)n->macs) && add_num(o, "params", (double)n->params) &&
           add_num(o, "buffers", (double)n->buffers) &&
           add_num(o, "out_elems", (double)n->out_elems) &&
           add_num(o, "internal_elems", (double)n->internal_elems) &&
           add_num(o, "saved_elems", (double)n->saved_elems) &&
           add_num(o, "live_elems", (double)n->live_elems);
}

nas_status nas_cost_to_json(const nas_arch *a, const nas_cost *c, int with_nodes, char **json,
                            nas_error *err) {
    *json = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o) goto nomem;
    if (!(add_num(o, "macs", (double)c->macs) && add_num(o, "flops", (double)c->flops) &&
          add_num(o, "params", (double)c->params) &&
          add_num(o, "params_total", (double)c->params_total) &&
          add_num(o, "buffers", (double)c->buffers) &&
          add_num(o, "memory_bytes", (double)c->memory_bytes) &&
          add_num(o, "memory_bytes_batch1", (double)c->memory_bytes_batch1) &&
          add_num(o, "train_memory_bytes", (double)c->train_memory_bytes) &&
          add_num(o, "weight_bytes", (double)c->weight_bytes) &&
          add_num(o, "peak_activation_bytes", 4.0 * (double)c->peak_act_elems * c->batch) &&
          add_num(o, "peak_node", c->peak_node) &&
          add_num(o, "grad_bytes", (double)c->grad_bytes) &&
          add_num(o, "optim_bytes", (double)c->optim_bytes) &&
          add_num(o, "saved_activation_bytes", (double)c->saved_act_bytes) &&
          add_num(o, "batch", c->batch) &&
          cJSON_AddStringToObject(o, "optimizer", nas_cost_optim_name(c->optim))))
        goto nomem;
    if (with_nodes) {
        cJSON *arr = cJSON_AddArrayToObject(o, "nodes");
        if (!arr) goto nomem;
        for (int i = 0; i < c->n_nodes; i++)
            if (!node_json(arr, a, c, i)) goto nomem;
    }
    *json = cJSON_Print(o);
    if (!*json) goto nomem;
    cJSON_Delete(o);
    return NAS_OK;
nomem:
    cJSON_Delete(o);
    return NAS_FAIL(err, NAS_ERR_NOMEM, "cost: out of memory writing JSON");
}

/* 1234567 -> "1.23M"; plain below 1000. */
static const char *human(double v, char *buf, size_t cap) {
    const char *u[] = {"", "K", "M", "G", "T"};
    int k = 0;
    while (v >= 1000.0 && k < 4) {
        v /= 1000.0;
        k++;
    }
    snprintf(buf, cap, k ? "%.2f%s" : "%.0f%s", v, u[k]);
    return buf;
}

static const char *mib(int64_t bytes, char *buf, size_t cap) {
    snprintf(buf, cap, "%.3f MiB", (double)bytes / (1024.0 * 1024.0));
    return buf;
}

void nas_cost_print(const nas_arch *a, const nas_cost *c, int with_nodes, FILE *out) {
    char b1[32], b2[32], b3[32];
    fprintf(out, "MACs (per image)          %lld (%s)\n", (long long)c->macs,
            human((double)c->macs, b1, sizeof b1));
    fprintf(out, "FLOPs = 2 x MACs          %lld (%s)\n", (long long)c->flops,
            human((double)c->flops, b1, sizeof b1));
    fprintf(out, "parameters (trainable)    %lld (%s)\n", (long long)c->params,
            human((double)c->params, b1, sizeof b1));
    fprintf(out, "parameters (total)        %lld (+%lld BN running stats)\n",
            (long long)c->params_total, (long long)c->buffers);
    fprintf(out, "inference memory, batch 1 %lld bytes (%s): weights %s + peak activations %s at node %d\n",
            (long long)c->memory_bytes_batch1, mib(c->memory_bytes_batch1, b1, sizeof b1),
            mib(c->weight_bytes, b2, sizeof b2), mib(4 * c->peak_act_elems, b3, sizeof b3),
            c->peak_node);
    if (c->batch != 1)
        fprintf(out, "inference memory, batch %-2d %lld bytes (%s)\n", c->batch,
                (long long)c->memory_bytes, mib(c->memory_bytes, b1, sizeof b1));
    fprintf(out, "training memory, batch %-3d %lld bytes (%s)\n", c->batch,
            (long long)c->train_memory_bytes, mib(c->train_memory_bytes, b1, sizeof b1));
    fprintf(out, "  weights %lld + gradients %lld + %s state %lld + saved activations %lld\n",
            (long long)c->weight_bytes, (long long)c->grad_bytes, nas_cost_optim_name(c->optim),
            (long long)c->optim_bytes, (long long)c->saved_act_bytes);
    if (!with_nodes) return;
    fprintf(out, "\n%4s  %-16s %-11s %12s %10s %10s %12s %12s\n", "node", "op", "out", "MACs",
            "params", "buffers", "out floats", "live floats");
    for (int i = 0; i < c->n_nodes; i++) {
        const nas_node *nd = &a->nodes[i];
        const nas_cost_node *n = &c->nodes[i];
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", nd->c, nd->h, nd->w);
        fprintf(out, "%4d  %-16s %-11s %12lld %10lld %10lld %12lld %12lld\n", i,
                nas_op_name(nd->op), shape, (long long)n->macs, (long long)n->params,
                (long long)n->buffers, (long long)n->out_elems, (long long)n->live_elems);
    }
}
