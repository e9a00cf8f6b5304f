/*
 * test_latency.c - the oneDNN inference engine (evaluator/latency.h) against
 * a naive C reference forward pass written here from the op semantics of
 * nas/core/arch.h, on small archs that together use every op, at batch 1 and
 * 3, and against the training network's inference pass (models/network.h)
 * with the same weights; plus timing sanity, LUT keys, prediction, save/load, the missing-entry
 * error and the other-machine warning, and `nas latency` exit statuses.
 *
 * Tolerance (both): max |engine - reference| <= 1e-4 * (1 + max |reference|) over
 * the logits (float32 with BN folded into the weights, so rounding differs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "evaluator/latency.h"
#include "models/network.h"
#include "nas/core/arch.h"
#include "nas/core/fileio.h"
#include "test.h"

static nas_error err;

/* ---- reference forward (NCHW, float, no tricks) ---- */

typedef struct ref_ctx {
    const nas_param *p;
    int np;
    int batch;
} ref_ctx;

static const float *P(const ref_ctx *r, int node, const char *part, const char *name) {
    char full[NAS_PARAM_NAME_MAX];
    snprintf(full, sizeof full, "n%d.%s.%s", node, part, name);
    for (int i = 0; i < r->np; i++)
        if (!strcmp(r->p[i].name, full)) return r->p[i].w;
    fprintf(stderr, "reference: missing %s\n", full);
    abort();
}

/* x: N x ic x h x w -> y: N x oc x oh x ow; w: oc x ic/g x k x k. */
static float *ref_conv(const float *x, int n, int ic, int h, int w, const float *wt, const float *b,
                       int oc, int k, int s, int pad, int dil, int g, int *oh, int *ow) {
    *oh = (h + 2 * pad - dil * (k - 1) - 1) / s + 1;
    *ow = (w + 2 * pad - dil * (k - 1) - 1) / s + 1;
    int icg = ic / g, ocg = oc / g;
    float *y = calloc((size_t)n * oc * *oh * *ow, sizeof *y);
    for (int b0 = 0; b0 < n; b0++)
        for (int o = 0; o < oc; o++)
            for (int yy = 0; yy < *oh; yy++)
                for (int xx = 0; xx < *ow; xx++) {
                    double acc = b ? b[o] : 0.0;
                    int grp = o / ocg;
                    for (int c = 0; c < icg; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = yy * s - pad + ky * dil, ix = xx * s - pad + kx * dil;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                acc += (double)x[(((size_t)b0 * ic + grp * icg + c) * h + iy) * w + ix] *
                                       wt[(((size_t)o * icg + c) * k + ky) * k + kx];
                            }
                    y[(((size_t)b0 * oc + o) * *oh + yy) * *ow + xx] = (float)acc;
                }
    return y;
}

static void ref_bn(float *x, int n, int c, int hw, const ref_ctx *r, int node, const char *part) {
    const float *g = P(r, node, part, "weight"), *b = P(r, node, part, "bias");
    const float *m = P(r, node, part, "running_mean"), *v = P(r, node, part, "running_var");
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int j = 0; j < hw; j++) {
                float *p = &x[((size_t)i * c + ch) * hw + j];
                *p = (float)((*p - m[ch]) / sqrt(v[ch] + 1e-5) * g[ch] + b[ch]);
            }
}

static void ref_act(float *x, size_t n, nas_op op) {
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (op == NAS_OP_RELU) v = v > 0 ? v : 0;
        else if (op == NAS_OP_RELU6) v = v < 0 ? 0 : v > 6 ? 6 : v;
        else if (op == NAS_OP_HSWISH) v = v * fmin(fmax(v + 3, 0), 6) / 6;
        else if (op == NAS_OP_SIGMOID) v = 1 / (1 + exp(-v));
        x[i] = (float)v;
    }
}

/* max or average (padding excluded) pooling */
static float *ref_pool(const float *x, int n, int c, int h, int w, int k, int s, int pad, int is_max,
                       int *oh, int *ow) {
    *oh = (h + 2 * pad - k) / s + 1;
    *ow = (w + 2 * pad - k) / s + 1;
    float *y = malloc((size_t)n * c * *oh * *ow * sizeof *y);
    for (int i = 0; i < n * c; i++)
        for (int yy = 0; yy < *oh; yy++)
            for (int xx = 0; xx < *ow; xx++) {
                double acc = is_max ? -INFINITY : 0;
                int cnt = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = yy * s - pad + ky, ix = xx * s - pad + kx;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                        double v = x[((size_t)i * h + iy) * w + ix];
                        acc = is_max ? fmax(acc, v) : acc + v;
                        cnt++;
                    }
                y[((size_t)i * *oh + yy) * *ow + xx] = (float)(is_max ? acc : acc / cnt);
            }
    return y;
}

static float *ref_fc(const float *x, int n, int fan, const float *w, const float *b, int out) {
    float *y = malloc((size_t)n * out * sizeof *y);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b[o] : 0;
            for (int j = 0; j < fan; j++) acc += (double)x[(size_t)i * fan + j] * w[(size_t)o * fan + j];
            y[(size_t)i * out + o] = (float)acc;
        }
    return y;
}

static float *ref_mbconv(const ref_ctx *r, int node, const nas_node *nd, const float *x, int ic, int h,
                         int w) {
    int n = r->batch, mid = ic * nd->expand, k = nd->kernel, oh, ow, th = h, tw = w;
    float *t = NULL, *d, *y;
    if (nd->expand > 1) {
        t = ref_conv(x, n, ic, h, w, P(r, node, "expand", "weight"), NULL, mid, 1, 1, 0, 1, 1, &th, &tw);
        ref_bn(t, n, mid, h * w, r, node, "expand_bn");
        ref_act(t, (size_t)n * mid * h * w, nd->act);
    }
    d = ref_conv(t ? t : x, n, mid, h, w, P(r, node, "dw", "weight"), NULL, mid, k, nd->stride, k / 2,
                 1, mid, &oh, &ow);
    free(t);
    ref_bn(d, n, mid, oh * ow, r, node, "dw_bn");
    ref_act(d, (size_t)n * mid * oh * ow, nd->act);
    if (nd->se) {
        int rr = mid / 4 > 1 ? mid / 4 : 1;
        float *pooled = calloc((size_t)n * mid, sizeof *pooled);
        for (int i = 0; i < n * mid; i++) {
            double s = 0;
            for (int j = 0; j < oh * ow; j++) s += d[(size_t)i * oh * ow + j];
            pooled[i] = (float)(s / (oh * ow));
        }
        float *f1 = ref_fc(pooled, n, mid, P(r, node, "se_reduce", "weight"), P(r, node, "se_reduce", "bias"), rr);
        ref_act(f1, (size_t)n * rr, NAS_OP_RELU);
        float *f2 = ref_fc(f1, n, rr, P(r, node, "se_expand", "weight"), P(r, node, "se_expand", "bias"), mid);
        ref_act(f2, (size_t)n * mid, NAS_OP_SIGMOID);
        for (int i = 0; i < n * mid; i++)
            for (int j = 0; j < oh * ow; j++) d[(size_t)i * oh * ow + j] *= f2[i];
        free(pooled);
        free(f1);
        free(f2);
    }
    y = ref_conv(d, n, mid, oh, ow, P(r, node, "project", "weight"), NULL, nd->out, 1, 1, 0, 1, 1, &th, &tw);
    free(d);
    ref_bn(y, n, nd->out, oh * ow, r, node, "project_bn");
    if (nd->stride == 1 && ic == nd->out)
        for (size_t i = 0; i < (size_t)n * nd->out * oh * ow; i++) y[i] += x[i];
    return y;
}

static float *ref_resblock(const ref_ctx *r, int node, const nas_node *nd, const float *x, int ic,
                           int h, int w) {
    int n = r->batch, oc = nd->out, k = nd->kernel, oh, ow, t1, t2;
    float *a = ref_conv(x, n, ic, h, w, P(r, node, "conv1", "weight"), NULL, oc, k, nd->stride, k / 2,
                        1, 1, &oh, &ow);
    ref_bn(a, n, oc, oh * ow, r, node, "bn1");
    ref_act(a, (size_t)n * oc * oh * ow, nd->act);
    float *b = ref_conv(a, n, oc, oh, ow, P(r, node, "conv2", "weight"), NULL, oc, k, 1, k / 2, 1, 1, &t1, &t2);
    free(a);
    ref_bn(b, n, oc, oh * ow, r, node, "bn2");
    size_t m = (size_t)n * oc * oh * ow;
    if (nd->stride != 1 || ic != oc) {
        float *s = ref_conv(x, n, ic, h, w, P(r, node, "shortcut", "weight"), NULL, oc, 1, nd->stride,
                            0, 1, 1, &t1, &t2);
        ref_bn(s, n, oc, oh * ow, r, node, "shortcut_bn");
        for (size_t i = 0; i < m; i++) b[i] += s[i];
        free(s);
    } else {
        for (size_t i = 0; i < m; i++) b[i] += x[i];
    }
    ref_act(b, m, nd->act);
    return b;
}

/* Reference logits (batch x classes), malloc'd. */
static float *ref_forward(const nas_arch *a, const nas_param *p, int np, int batch, const float *in) {
    ref_ctx r = {p, np, batch};
    int nn = a->n_nodes;
    float **v = calloc((size_t)nn, sizeof *v);
    size_t in_n = (size_t)batch * a->in_c * a->in_h * a->in_w;
    v[0] = malloc(in_n * sizeof *v[0]);
    memcpy(v[0], in, in_n * sizeof *v[0]);
    for (int i = 1; i < nn; i++) {
        const nas_node *nd = &a->nodes[i];
        const nas_node *x = &a->nodes[nd->inputs[0]];
        const float *xi = v[nd->inputs[0]];
        size_t out_n = (size_t)batch * nd->c * nd->h * nd->w;
        int oh, ow;
        switch (nd->op) {
        case NAS_OP_CONV:
            v[i] = ref_conv(xi, batch, x->c, x->h, x->w, P(&r, i, "conv", "weight"),
                            nd->bias ? P(&r, i, "conv", "bias") : NULL, nd->out, nd->kernel, nd->stride,
                            nd->pad, nd->dilation, nd->groups, &oh, &ow);
            break;
        case NAS_OP_BN:
            v[i] = malloc(out_n * sizeof(float));
            memcpy(v[i], xi, out_n * sizeof(float));
            ref_bn(v[i], batch, nd->c, nd->h * nd->w, &r, i, "bn");
            break;
        case NAS_OP_RELU:
        case NAS_OP_RELU6:
        case NAS_OP_HSWISH:
        case NAS_OP_SIGMOID:
            v[i] = malloc(out_n * sizeof(float));
            memcpy(v[i], xi, out_n * sizeof(float));
            ref_act(v[i], out_n, nd->op);
            break;
        case NAS_OP_MBCONV: v[i] = ref_mbconv(&r, i, nd, xi, x->c, x->h, x->w); break;
        case NAS_OP_RESBLOCK: v[i] = ref_resblock(&r, i, nd, xi, x->c, x->h, x->w); break;
        case NAS_OP_MAXPOOL:
        case NAS_OP_AVGPOOL:
            v[i] = ref_pool(xi, batch, x->c, x->h, x->w, nd->kernel, nd->stride, nd->pad,
                            nd->op == NAS_OP_MAXPOOL, &oh, &ow);
            break;
        case NAS_OP_GAP:
            v[i] = malloc(out_n * sizeof(float));
            for (size_t q = 0; q < out_n; q++) {
                double s = 0;
                for (int j = 0; j < x->h * x->w; j++) s += xi[q * (size_t)(x->h * x->w) + (size_t)j];
                v[i][q] = (float)(s / (x->h * x->w));
            }
            break;
        case NAS_OP_FC:
            v[i] = ref_fc(xi, batch, x->c * x->h * x->w, P(&r, i, "fc", "weight"),
                          nd->bias ? P(&r, i, "fc", "bias") : NULL, nd->out);
            break;
        case NAS_OP_ZERO: v[i] = calloc(out_n, sizeof(float)); break;
        case NAS_OP_ADD:
            v[i] = calloc(out_n, sizeof(float));
            for (int j = 0; j < nd->n_inputs; j++)
                for (size_t q = 0; q < out_n; q++) v[i][q] += v[nd->inputs[j]][q];
            break;
        case NAS_OP_CONCAT: {
            v[i] = malloc(out_n * sizeof(float));
            size_t hw = (size_t)nd->h * nd->w, off = 0;
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < nd->n_inputs; j++) {
                    size_t c = (size_t)a->nodes[nd->inputs[j]].c * hw;
                    memcpy(v[i] + off, v[nd->inputs[j]] + b * c, c * sizeof(float));
                    off += c;
                }
            break;
        }
        default: /* flatten, identity, dropout: same values */
            v[i] = malloc(out_n * sizeof(float));
            memcpy(v[i], xi, out_n * sizeof(float));
            break;
        }
    }
    float *out = v[nn - 1];
    for (int i = 0; i < nn - 1; i++) free(v[i]);
    free(v);
    return out;
}

/* ---- arch builders ---- */

static int chain(nas_arch *a, nas_node n, int from) {
    int i = nas_arch_chain(a, n, from, &err);
    if (i < 0) TEST_FAIL_("nas_arch_chain(%s): %s", nas_op_name(n.op), err.msg);
    return i;
}

static nas_node mk(nas_op op, int out, int k, int s) {
    nas_node n = nas_node_make(op);
    n.out = out;
    n.kernel = k;
    n.stride = s;
    return n;
}

/* conv (groups, stride, dilation, bias) + bn + relu6, depthwise + hswish, pools,
 * standalone bn and sigmoid, flatten, fc + relu, dropout, fc */
static nas_arch *arch_plain(void) {
    nas_arch *a = nas_arch_create(4, 13, 13, 7);
    nas_node c = mk(NAS_OP_CONV, 8, 3, 2);
    c.groups = 2;
    c.dilation = 2;
    c.bias = 1;
    int x = chain(a, c, 0);
    x = chain(a, nas_node_make(NAS_OP_BN), x);
    x = chain(a, nas_node_make(NAS_OP_RELU6), x);
    c = mk(NAS_OP_CONV, 8, 3, 1);
    c.groups = 8;
    x = chain(a, c, x);
    x = chain(a, nas_node_make(NAS_OP_HSWISH), x);
    nas_node p = mk(NAS_OP_MAXPOOL, 0, 3, 1);
    p.pad = 1;
    x = chain(a, p, x);
    p = mk(NAS_OP_AVGPOOL, 0, 3, 2);
    p.pad = 1;
    x = chain(a, p, x);
    x = chain(a, nas_node_make(NAS_OP_BN), x);
    x = chain(a, nas_node_make(NAS_OP_SIGMOID), x);
    x = chain(a, nas_node_make(NAS_OP_FLATTEN), x);
    nas_node f = mk(NAS_OP_FC, 16, 0, 1);
    f.bias = 1;
    x = chain(a, f, x);
    x = chain(a, nas_node_make(NAS_OP_RELU), x);
    x = chain(a, nas_node_make(NAS_OP_DROPOUT), x);
    chain(a, mk(NAS_OP_FC, 7, 0, 1), x);
    return a;
}

/* mbconv with and without expand / SE / residual, resblocks, gap, fc */
static nas_arch *arch_blocks(void) {
    nas_arch *a = nas_arch_create(3, 16, 16, 10);
    int x = chain(a, mk(NAS_OP_CONV, 16, 3, 1), 0);
    nas_node m = mk(NAS_OP_MBCONV, 16, 3, 1);
    m.expand = 6;
    m.se = 1;
    m.act = NAS_OP_RELU6;
    x = chain(a, m, x);
    m = mk(NAS_OP_MBCONV, 24, 5, 2);
    m.act = NAS_OP_HSWISH;
    x = chain(a, m, x);
    m = mk(NAS_OP_MBCONV, 24, 3, 1);
    m.se = 1;
    m.act = NAS_OP_RELU;
    x = chain(a, m, x);
    x = chain(a, mk(NAS_OP_RESBLOCK, 32, 3, 2), x);
    x = chain(a, mk(NAS_OP_RESBLOCK, 32, 3, 1), x);
    x = chain(a, nas_node_make(NAS_OP_GAP), x);
    nas_node f = mk(NAS_OP_FC, 10, 0, 1);
    f.bias = 1;
    chain(a, f, x);
    return a;
}

/* a cell: identity, zero, conv, avgpool edges, a 3-input add, concat, zero with stride */
static nas_arch *arch_cell(void) {
    nas_arch *a = nas_arch_create(3, 12, 12, 5);
    int s = chain(a, mk(NAS_OP_CONV, 8, 3, 1), 0);
    s = chain(a, nas_node_make(NAS_OP_BN), s);
    int e1 = chain(a, nas_node_make(NAS_OP_IDENTITY), s);
    int e2 = chain(a, nas_node_make(NAS_OP_ZERO), s);
    int e3 = chain(a, nas_node_make(NAS_OP_RELU), s);
    e3 = chain(a, mk(NAS_OP_CONV, 8, 1, 1), e3);
    nas_node p = mk(NAS_OP_AVGPOOL, 0, 3, 1);
    p.pad = 1;
    int e4 = chain(a, p, s);
    nas_node add = nas_node_make(NAS_OP_ADD);
    add.n_inputs = 3;
    add.inputs[0] = e1;
    add.inputs[1] = e2;
    add.inputs[2] = e3;
    int n1 = 0, n2 = 0, n3 = 0;
    ASSERT_OK(nas_arch_add(a, &add, &n1, &err), &err);
    nas_node cat = nas_node_make(NAS_OP_CONCAT);
    cat.n_inputs = 2;
    cat.inputs[0] = n1;
    cat.inputs[1] = e4;
    ASSERT_OK(nas_arch_add(a, &cat, &n2, &err), &err);
    int z = chain(a, mk(NAS_OP_ZERO, 0, 0, 2), n2);
    int c2 = chain(a, mk(NAS_OP_CONV, 16, 3, 2), n2);
    add.n_inputs = 2;
    add.inputs[0] = z;
    add.inputs[1] = c2;
    ASSERT_OK(nas_arch_add(a, &add, &n3, &err), &err);
    int g = chain(a, nas_node_make(NAS_OP_GAP), n3);
    chain(a, mk(NAS_OP_FC, 5, 0, 1), g);
    return a;
}

/* Engine vs reference at `batch`; returns the max |diff| relative bound check. */
static void check_engine(nas_arch *a, int batch) {
    ASSERT_OK(nas_arch_check(a, &err), &err);
    pcg32 rng;
    pcg32_seed(&rng, 42, 1);
    nas_param *p = NULL;
    int np = 0;
    ASSERT_OK(nas_engine_params_create(a, &rng, &p, &np, &err), &err);
    size_t in_n = (size_t)batch * a->in_c * a->in_h * a->in_w, out_n = (size_t)batch * a->classes;
    float *in = malloc(in_n * sizeof *in), *out = malloc(out_n * sizeof *out);
    for (size_t i = 0; i < in_n; i++) in[i] = (float)(2 * pcg32_double(&rng) - 1);
    nas_engine *e = NULL;
    nas_status st = nas_engine_create(a, batch, p, np, &e, &err);
    if (st != NAS_OK) {
        free(in);
        free(out);
        nas_engine_params_destroy(p, np);
        TEST_FAIL_("nas_engine_create: %s", err.msg);
    }
    st = nas_engine_run(e, in, out, &err);
    float *ref = ref_forward(a, p, np, batch, in);
    double maxd = 0, maxr = 0;
    for (size_t i = 0; i < out_n; i++) {
        maxd = fmax(maxd, fabs((double)out[i] - ref[i]));
        maxr = fmax(maxr, fabs((double)ref[i]));
    }
    int prims = 0, reorders = 0;
    nas_engine_stats(e, &prims, &reorders, NULL);
    printf("     batch %d: %d primitives, %d reorders, max |diff| %.3g, max |ref| %.3g\n", batch, prims,
           reorders, maxd, maxr);
    nas_engine_destroy(e);
    nas_engine_params_destroy(p, np);
    free(in);
    free(out);
    free(ref);
    ASSERT_OK(st, &err);
    ASSERT_TRUE(maxr > 1e-3); /* the test is not comparing zeros */
    ASSERT_LE(maxd, 1e-4 * (1 + maxr));
}

static void test_engine_plain(void) {
    nas_arch *a = arch_plain();
    check_engine(a, 1);
    check_engine(a, 3);
    nas_arch_destroy(a);
}

static void test_engine_blocks(void) {
    nas_arch *a = arch_blocks();
    check_engine(a, 1);
    check_engine(a, 3);
    nas_arch_destroy(a);
}

static void test_engine_cell(void) {
    nas_arch *a = arch_cell();
    check_engine(a, 1);
    check_engine(a, 2);
    nas_arch_destroy(a);
}

/* The reference must notice a wrong weight (so the comparison can fail). */
static void test_reference_detects_difference(void) {
    nas_arch *a = arch_blocks();
    pcg32 rng;
    pcg32_seed(&rng, 42, 1);
    nas_param *p = NULL;
    int np = 0;
    ASSERT_OK(nas_engine_params_create(a, &rng, &p, &np, &err), &err);
    size_t in_n = (size_t)a->in_c * a->in_h * a->in_w;
    float *in = calloc(in_n, sizeof *in), out[10];
    for (size_t i = 0; i < in_n; i++) in[i] = (float)(i % 7) * 0.1f;
    nas_engine *e = NULL;
    ASSERT_OK(nas_engine_create(a, 1, p, np, &e, &err), &err);
    ASSERT_OK(nas_engine_run(e, in, out, &err), &err);
    p[3].w[0] += 0.5f; /* after the engine copied its weights */
    float *ref = ref_forward(a, p, np, 1, in);
    double maxd = 0;
    for (int i = 0; i < 10; i++) maxd = fmax(maxd, fabs((double)out[i] - ref[i]));
    nas_engine_destroy(e);
    nas_engine_params_destroy(p, np);
    nas_arch_destroy(a);
    free(in);
    free(ref);
    ASSERT_TRUE(maxd > 1e-3);
}

/* The engine against the training network's inference pass (models/network.h)
 * with the same weights, copied by name: every tensor of the net must have a
 * counterpart of the same size among the engine's and the other way round. */
static void check_against_net(nas_arch *a, int batch) {
    pcg32 rng;
    pcg32_seed(&rng, 7, 3);
    nas_net *net = NULL;
    nas_param *np_ = NULL, *ep = NULL;
    int nn = 0, ne = 0;
    ASSERT_OK(nas_net_create(a, batch, 0, &rng, &net, &err), &err);
    nas_net_params(net, &np_, &nn);
    ASSERT_OK(nas_engine_params_create(a, &rng, &ep, &ne, &err), &err);
    int matched = 0;
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < ne; j++)
            if (!strcmp(np_[i].name, ep[j].name)) {
                if (np_[i].n != ep[j].n) TEST_FAIL_("%s: net %zu values, engine %zu", ep[j].name, np_[i].n, ep[j].n);
                memcpy(np_[i].w, ep[j].w, ep[j].n * sizeof(float));
                matched++;
            }
    if (matched != nn || matched != ne) TEST_FAIL_("names: net %d, engine %d, matched %d", nn, ne, matched);
    size_t in_n = (size_t)batch * a->in_c * a->in_h * a->in_w, out_n = (size_t)batch * a->classes;
    float *in = malloc(in_n * sizeof *in), *out = malloc(out_n * sizeof *out);
    for (size_t i = 0; i < in_n; i++) in[i] = (float)(2 * pcg32_double(&rng) - 1);
    nas_engine *e = NULL;
    nas_status st = nas_net_forward(net, in, 0, NULL, &err);
    if (st == NAS_OK) st = nas_engine_create(a, batch, ep, ne, &e, &err);
    if (st == NAS_OK) st = nas_engine_run(e, in, out, &err);
    double maxd = 0, maxr = 0;
    const float *logits = nas_net_logits(net);
    for (size_t i = 0; st == NAS_OK && i < out_n; i++) {
        maxd = fmax(maxd, fabs((double)out[i] - logits[i]));
        maxr = fmax(maxr, fabs((double)logits[i]));
    }
    printf("     vs network, batch %d: max |diff| %.3g, max |logit| %.3g\n", batch, maxd, maxr);
    nas_engine_destroy(e);
    nas_engine_params_destroy(ep, ne);
    nas_net_destroy(net);
    free(in);
    free(out);
    ASSERT_OK(st, &err);
    ASSERT_TRUE(maxr > 1e-3);
    ASSERT_LE(maxd, 1e-4 * (1 + maxr));
}

static void test_engine_matches_network(void) {
    nas_arch *(*make[])(void) = {arch_plain, arch_blocks, arch_cell};
    for (int i = 0; i < 3; i++) {
        nas_arch *a = make[i]();
        check_against_net(a, 2);
        nas_arch_destroy(a);
    }
}

static void test_engine_errors(void) {
    nas_arch *a = arch_plain();
    pcg32 rng;
    pcg32_seed(&rng, 1, 1);
    nas_param *p = NULL;
    int np = 0;
    nas_engine *e = NULL;
    ASSERT_OK(nas_engine_params_create(a, &rng, &p, &np, &err), &err);
    ASSERT_EQ_INT(nas_engine_create(a, 1, p, np - 1, &e, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "missing weight n");
    p[0].n--;
    ASSERT_EQ_INT(nas_engine_create(a, 1, p, np, &e, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, p[0].name);
    p[0].n++;
    ASSERT_EQ_INT(nas_engine_create(a, 0, p, np, &e, &err), NAS_ERR_INVALID);
    ASSERT_TRUE(e == NULL);
    nas_engine_params_destroy(p, np);
    nas_arch_destroy(a);
}

static void test_measure(void) {
    nas_arch *a = arch_blocks();
    nas_latency_opts o = nas_latency_opts_default();
    o.runs = 15;
    o.warmup = 3;
    nas_latency l;
    ASSERT_OK(nas_latency_measure(a, &o, &l, &err), &err);
    printf("     median %.3f ms, p90 %.3f ms, min %.3f ms\n", l.median_ms, l.p90_ms, l.min_ms);
    ASSERT_TRUE(l.median_ms > 0);
    ASSERT_LE(l.min_ms, l.median_ms);
    ASSERT_LE(l.median_ms, l.p90_ms);
    ASSERT_EQ_INT(l.runs, 15);
    ASSERT_LE(l.min_ms, l.block_ms); /* the fastest block of 10 of the 15 runs */
    ASSERT_TRUE(l.span_ms > 0);
    /* timing continues until the runs span min_time_ms */
    o.min_time_ms = 40;
    ASSERT_OK(nas_latency_measure(a, &o, &l, &err), &err);
    printf("     %d runs over %.1f ms, fastest block %.3f ms, median %.3f ms\n", l.runs, l.span_ms,
           l.block_ms, l.median_ms);
    ASSERT_TRUE(l.span_ms >= 40);
    ASSERT_TRUE(l.runs >= 15);
    ASSERT_LE(l.min_ms, l.block_ms);
    ASSERT_LE(l.block_ms, l.p90_ms);
    o.min_time_ms = -1;
    ASSERT_EQ_INT(nas_latency_measure(a, &o, &l, &err), NAS_ERR_INVALID);
    o.min_time_ms = 0;
    o.runs = 0;
    ASSERT_EQ_INT(nas_latency_measure(a, &o, &l, &err), NAS_ERR_INVALID);
    /* clock-normalized: each run over the loop after it; the median ratio
     * times the median loop is a time in ms near the median run (units) */
    o.runs = 15;
    ASSERT_EQ_INT(l.clock_ratio == 0 && l.loop_ms == 0, 1); /* off by default */
    o.clock = 1;
    ASSERT_OK(nas_latency_measure(a, &o, &l, &err), &err);
    printf("     clock ratio %.3f x median loop %.4f ms = %.4f ms, median %.4f ms\n", l.clock_ratio,
           l.loop_ms, l.clock_ratio * l.loop_ms, l.median_ms);
    ASSERT_TRUE(l.clock_ratio > 0 && l.loop_ms > 0);
    ASSERT_LE(l.clock_ratio * l.loop_ms, 2 * l.median_ms);
    ASSERT_LE(l.median_ms, 2 * l.clock_ratio * l.loop_ms);
    double ms[] = {5, 1, 4, 2, 3, 10, 6, 7, 8, 9}, med, p90;
    nas_latency_stats(ms, 10, &med, &p90);
    ASSERT_NEAR(med, 5.5, 1e-12);
    ASSERT_NEAR(p90, 9, 1e-12);
    nas_arch_destroy(a);
}

/* The loop runs its whole chain: the state it leaves is the chain's value
 * computed here, step by step. */
static void test_clock_loop(void) {
    uint64_t state = 12345, x = 12345;
    for (int i = 0; i < NAS_CLOCK_LOOP; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    double ms = nas_latency_clock_loop(&state);
    ASSERT_TRUE(ms > 0);
    ASSERT_TRUE(state == x);
    /* the reference: a loop time of this machine, near one loop's (the
       clock steps are at most ~19% apart; a loaded run may stretch one loop) */
    double ref = nas_latency_clock_reference(20);
    double one = nas_latency_clock_loop(&state);
    printf("     clock loop %.4f ms, reference over 20 ms %.4f ms\n", one, ref);
    ASSERT_TRUE(ref > 0 && ref < 10 * one && one < 10 * ref);
}

static void test_lut_keys(void) {
    nas_arch *a = arch_plain();
    char *k = nas_lut_key(a, 1);
    ASSERT_STR_EQ(k, "conv k3 s2 p2 d2 g2 o8 b1 +bn+relu6 @ 4x13x13");
    free(k);
    ASSERT_TRUE(nas_lut_key(a, 2) == NULL); /* bn folded into node 1 */
    ASSERT_TRUE(nas_lut_key(a, 3) == NULL); /* relu6 fused */
    k = nas_lut_key(a, 4);
    ASSERT_STR_EQ(k, "conv k3 s1 p1 d1 g8 o8 b0 +hswish @ 8x7x7");
    free(k);
    k = nas_lut_key(a, 8);
    ASSERT_STR_EQ(k, "bn @ 8x4x4");
    free(k);
    nas_arch_destroy(a);
    a = arch_blocks();
    k = nas_lut_key(a, 2);
    ASSERT_STR_EQ(k, "mbconv k3 s1 e6 se1 o16 relu6 @ 16x16x16");
    free(k);
    nas_arch_destroy(a);
}

/* text with the value after the first "key": replaced by value (caller frees) */
static char *with_value(const char *text, const char *key, const char *value) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *at = strstr(text, pat);
    ASSERT_TRUE(at != NULL);
    const char *v = at + strlen(pat), *end = v;
    while (*v == ' ' || *v == '\t') v++;
    end = v;
    while (*end && *end != ',' && *end != '\n' && *end != '}') end++;
    size_t n = (size_t)(v - text), m = strlen(end);
    char *out = malloc(n + strlen(value) + m + 1);
    memcpy(out, text, n);
    strcpy(out + n, value);
    strcat(out, end);
    return out;
}

/* A table's out-of-range values are refused naming the field; a constant
 * that makes the prediction negative is an error, not a latency. */
static void lut_bad_values(const nas_arch *a, const nas_machine *m) {
    nas_lut *t = nas_lut_create(m), *u = NULL;
    for (int i = 1; i < a->n_nodes; i++) {
        char *k = nas_lut_key(a, i);
        if (k) ASSERT_OK(nas_lut_add(t, k, 0.01, &err), &err);
        free(k);
    }
    const char *path = "test_latency_lut_bad.json";
    ASSERT_OK(nas_lut_save(t, path, &err), &err);
    char *text = NULL;
    size_t len;
    ASSERT_OK(nas_file_read(path, &text, &len, &err), &err);
    static const struct {
        const char *key, *value, *msg;
    } CASES[] = {
        {"ms", "1e300", "entries[0]: expected {\"key\": string, \"ms\": 0..1e+06}"},
        {"threads", "-2", "machine: expected cpu, isa, onednn, threads (0: unknown), batch"},
        {"constant_ms", "-1e9", "constant_ms: expected a number of ms within +-1e+06"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char *bad = with_value(text, CASES[i].key, CASES[i].value);
        ASSERT_EQ_INT(nas_lut_from_json(bad, strlen(bad), "bad.json", &u, &err), NAS_ERR_FORMAT);
        ASSERT_CONTAINS(err.msg, CASES[i].msg);
        free(bad);
    }
    /* text after the table */
    char *tail = malloc(len + 8);
    snprintf(tail, len + 8, "%s\n{}", text);
    ASSERT_EQ_INT(nas_lut_from_json(tail, strlen(tail), "bad.json", &u, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "text after the JSON value");
    free(tail);
    /* a constant below minus the ops' sum: loads, but predicts no latency */
    char *neg = with_value(text, "constant_ms", "-100");
    ASSERT_OK(nas_lut_from_json(neg, strlen(neg), "neg.json", &u, &err), &err);
    double ms;
    ASSERT_EQ_INT(nas_lut_predict(u, a, &ms, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "not a latency");
    nas_lut_destroy(u);
    free(neg);
    free(text);
    remove(path);
    nas_lut_destroy(t);
}

static void test_lut_predict_save_load(void) {
    nas_arch *a = arch_blocks();
    nas_machine m;
    nas_machine_describe(2, 1, &m);
    ASSERT_TRUE(m.dnnl[0] >= '0' && m.dnnl[0] <= '9');
    nas_lut *t = nas_lut_create(&m);
    double sum = 0.25;
    nas_lut_set_constant(t, 0.25);
    for (int i = 1; i < a->n_nodes; i++) {
        char *k = nas_lut_key(a, i);
        if (!k) continue;
        ASSERT_OK(nas_lut_add(t, k, 0.1 * i, &err), &err);
        ASSERT_OK(nas_lut_add(t, k, 100.0, &err), &err); /* the lower quartile of 3 ignores the outlier */
        ASSERT_OK(nas_lut_add(t, k, 0.1 * i, &err), &err);
        sum += 0.1 * i;
        free(k);
    }
    double ms = 0;
    ASSERT_OK(nas_lut_predict(t, a, &ms, &err), &err);
    ASSERT_NEAR(ms, sum, 1e-9);
    const char *path = "test_latency_lut.json";
    ASSERT_OK(nas_lut_save(t, path, &err), &err);
    nas_lut *u = NULL;
    ASSERT_OK(nas_lut_load(path, &u, &err), &err);
    ASSERT_EQ_INT(nas_lut_size(u), nas_lut_size(t));
    ASSERT_OK(nas_lut_predict(u, a, &ms, &err), &err);
    ASSERT_NEAR(ms, sum, 1e-9);
    char msg[512];
    ASSERT_EQ_INT(nas_lut_machine_mismatch(u, &m, msg, sizeof msg), 0);
    nas_machine other = m;
    snprintf(other.cpu, sizeof other.cpu, "Other CPU 9000");
    snprintf(other.dnnl, sizeof other.dnnl, "9.9.9");
    ASSERT_EQ_INT(nas_lut_machine_mismatch(u, &other, msg, sizeof msg), 1);
    ASSERT_CONTAINS(msg, "Other CPU 9000");
    ASSERT_CONTAINS(msg, m.cpu);
    ASSERT_CONTAINS(msg, "9.9.9");
    nas_lut_destroy(u);
    /* values in units of the clock loop become ms at the table's loop time */
    ASSERT_NEAR(nas_lut_clock(t), 0, 0);
    nas_lut_set_clock(t, 0.02);
    ASSERT_NEAR(nas_lut_clock(t), 0.02, 0);
    ASSERT_OK(nas_lut_predict(t, a, &ms, &err), &err);
    ASSERT_NEAR(ms, 0.02 * sum, 1e-12);
    ASSERT_OK(nas_lut_save(t, path, &err), &err);
    ASSERT_OK(nas_lut_load(path, &u, &err), &err);
    ASSERT_NEAR(nas_lut_clock(u), 0.02, 1e-15);
    ASSERT_OK(nas_lut_predict(u, a, &ms, &err), &err);
    ASSERT_NEAR(ms, 0.02 * sum, 1e-12);
    nas_lut_destroy(u);
    nas_lut_destroy(t);
    /* an arch with an op the table lacks */
    nas_arch *b = arch_plain();
    t = nas_lut_create(&m);
    ASSERT_EQ_INT(nas_lut_predict(t, b, &ms, &err), NAS_ERR_UNSUPPORTED);
    ASSERT_CONTAINS(err.msg, "node 1 (conv)");
    ASSERT_CONTAINS(err.msg, "4x13x13");
    nas_lut_destroy(t);
    ASSERT_OK(nas_file_write_atomic(path, "{\"format\": \"other\"}", 19, &err), &err);
    ASSERT_EQ_INT(nas_lut_load(path, &u, &err), NAS_ERR_FORMAT);
    remove(path);
    lut_bad_values(a, &m);
    nas_arch_destroy(b);
    nas_arch_destroy(a);
}

/* 3x16x16 -> conv k3 c1 -> conv k c2 -> gap -> fc 10: archs with different
 * op sums and weights for the fit tests. */
static nas_arch *arch_two_convs(int c1, int k, int c2) {
    nas_arch *a = nas_arch_create(3, 16, 16, 10);
    int x = chain(a, mk(NAS_OP_CONV, c1, 3, 1), 0);
    nas_node c = mk(NAS_OP_CONV, c2, k, 1);
    c.pad = k / 2;
    x = chain(a, c, x);
    x = chain(a, nas_node_make(NAS_OP_GAP), x);
    chain(a, mk(NAS_OP_FC, 10, 0, 1), x);
    return a;
}

#define N_FIT 40

/* Made-up table values for the keys of archs[]: 1..5 us by a hash of the key. */
static nas_lut *synthetic_table(nas_arch **archs, int n) {
    nas_lut *t = nas_lut_create(NULL);
    for (int j = 0; j < n; j++)
        for (int i = 1; i < archs[j]->n_nodes; i++) {
            char *k = nas_lut_key(archs[j], i);
            double v;
            if (!k) continue;
            if (!nas_lut_lookup(t, k, &v)) {
                unsigned h = 5381;
                for (const char *c = k; *c; c++) h = h * 33 + (unsigned char)*c;
                ASSERT_OK(nas_lut_add(t, k, 0.001 * (1 + h % 5) + 0.0001 * (h % 7), &err), &err);
            }
            free(k);
        }
    return t;
}

static void make_fit_archs(nas_arch **archs) {
    static const int c1s[] = {8, 16, 24, 32}, ks[] = {1, 3, 5}, c2s[] = {16, 48, 96, 160};
    for (int i = 0; i < N_FIT; i++)
        archs[i] = arch_two_convs(c1s[i % 4], ks[(i / 4) % 3], c2s[(i / 12 + i) % 4]);
}

/* Latencies made from a known model are fitted back exactly; with +-3% of
 * noise, closely; the fit survives save and load. */
static void test_lut_fit_recovers(void) {
    nas_arch *archs[N_FIT];
    make_fit_archs(archs);
    nas_lut *t = synthetic_table(archs, N_FIT);
    nas_lut_set_constant(t, 0.002);
    ASSERT_EQ_INT(nas_lut_fit_compute(t, &err), NAS_ERR_INVALID); /* nothing to fit on yet */
    const double a = 1.12, b = 0.02, c = 0.004;
    double wmin = 1e30, wmax = 0;
    for (int pass = 0; pass < 2; pass++) {
        nas_lut *u = pass ? synthetic_table(archs, N_FIT) : t;
        nas_lut_set_constant(u, 0.002);
        for (int i = 0; i < N_FIT; i++) {
            double sum, wb;
            ASSERT_OK(nas_lut_predict_parts(u, archs[i], &sum, &wb, &err), &err);
            double lat = a * sum + b * wb / (1024.0 * 1024.0) + c;
            if (pass) lat *= 1 + 0.03 * ((i % 3) - 1); /* -3%, 0, +3% */
            if (wb < wmin) wmin = wb;
            if (wb > wmax) wmax = wb;
            ASSERT_OK(nas_lut_add_fit_network(u, archs[i], lat, &err), &err);
        }
        ASSERT_OK(nas_lut_fit_compute(u, &err), &err);
        const nas_lut_fit *f = nas_lut_get_fit(u);
        printf("     %s: scale %.5f weight_ms_per_mib %.5f offset %.5f; fitted MAPE %.3f%%, "
               "sum+constant "
               "MAPE %.2f%%\n",
               pass ? "noisy" : "exact", f->scale, f->weight_ms_per_mib, f->offset_ms,
               f->fitted.mape, f->unfitted.mape);
        ASSERT_EQ_INT(f->terms, 3);
        ASSERT_EQ_INT(f->networks, N_FIT);
        double tol = pass ? 0.05 : 1e-9;
        ASSERT_NEAR(f->scale, a, tol * a);
        ASSERT_NEAR(f->weight_ms_per_mib, b, pass ? 0.2 * b : 1e-9);
        ASSERT_NEAR(f->offset_ms, c, pass ? 0.5 * c : 1e-9);
        ASSERT_LE(f->fitted.mape, pass ? 3.0 : 1e-6);
        ASSERT_NEAR(f->fitted.within10, 100, 1e-9);
        ASSERT_TRUE(f->unfitted.mape > f->fitted.mape);
        double ms, sum, wb;
        ASSERT_OK(nas_lut_predict(u, archs[5], &ms, &err), &err);
        ASSERT_OK(nas_lut_predict_parts(u, archs[5], &sum, &wb, &err), &err);
        ASSERT_NEAR(ms,
                    f->scale * sum + f->weight_ms_per_mib * wb / (1024.0 * 1024.0) + f->offset_ms,
                    1e-12);
        /* save and load: the same model and predictions, residuals recomputed */
        const char *path = "test_latency_fit.json";
        nas_lut *v = NULL;
        ASSERT_OK(nas_lut_save(u, path, &err), &err);
        ASSERT_OK(nas_lut_load(path, &v, &err), &err);
        remove(path);
        const nas_lut_fit *g = nas_lut_get_fit(v);
        ASSERT_EQ_INT(nas_lut_version(v), 2);
        ASSERT_EQ_INT(g->terms, 3);
        ASSERT_EQ_INT(g->networks, N_FIT);
        ASSERT_NEAR(g->scale, f->scale, 1e-12);
        ASSERT_NEAR(g->weight_ms_per_mib, f->weight_ms_per_mib, 1e-12);
        ASSERT_NEAR(g->offset_ms, f->offset_ms, 1e-12);
        ASSERT_NEAR(g->fitted.mape, f->fitted.mape, 1e-9);
        double ms2;
        ASSERT_OK(nas_lut_predict(v, archs[5], &ms2, &err), &err);
        ASSERT_NEAR(ms2, ms, 1e-12);
        ASSERT_OK(nas_lut_fit_compute(v, &err), &err); /* refitting a loaded table: the same */
        ASSERT_NEAR(nas_lut_get_fit(v)->scale, f->scale, 1e-9);
        nas_lut_destroy(v);
        if (pass) nas_lut_destroy(u);
    }
    ASSERT_TRUE(wmax > 4 * wmin); /* the archs differ in weights enough to tell b apart */
    nas_lut_destroy(t);
    for (int i = 0; i < N_FIT; i++) nas_arch_destroy(archs[i]);
}

/* Fewer networks fit fewer unknowns; networks that cannot tell the weights
 * term apart drop it; a network with a key the table lacks is refused. */
static void test_lut_fit_degenerate(void) {
    nas_arch *archs[N_FIT];
    make_fit_archs(archs);
    nas_lut *t = synthetic_table(archs, N_FIT);
    nas_lut_set_constant(t, 0.002);
    /* 12 networks: scale and offset */
    for (int i = 0; i < 12; i++) {
        double sum, wb;
        ASSERT_OK(nas_lut_predict_parts(t, archs[i], &sum, &wb, &err), &err);
        ASSERT_OK(nas_lut_add_fit_network(t, archs[i], 1.3 * sum + 0.003, &err), &err);
    }
    ASSERT_OK(nas_lut_fit_compute(t, &err), &err);
    ASSERT_EQ_INT(nas_lut_get_fit(t)->terms, 2);
    ASSERT_NEAR(nas_lut_get_fit(t)->scale, 1.3, 1e-9);
    ASSERT_NEAR(nas_lut_get_fit(t)->offset_ms, 0.003, 1e-9);
    ASSERT_NEAR(nas_lut_get_fit(t)->weight_ms_per_mib, 0, 0);
    nas_lut_destroy(t);
    /* 5 networks: the scale alone (offset 0), even when the constant is
     * larger than the networks' latencies */
    t = synthetic_table(archs, N_FIT);
    nas_lut_set_constant(t, 1.0);
    for (int i = 0; i < 5; i++) {
        double sum, wb;
        ASSERT_OK(nas_lut_predict_parts(t, archs[i], &sum, &wb, &err), &err);
        ASSERT_OK(nas_lut_add_fit_network(t, archs[i], 1.5 * sum, &err), &err);
    }
    ASSERT_OK(nas_lut_fit_compute(t, &err), &err);
    ASSERT_EQ_INT(nas_lut_get_fit(t)->terms, 1);
    ASSERT_NEAR(nas_lut_get_fit(t)->scale, 1.5, 1e-9);
    ASSERT_NEAR(nas_lut_get_fit(t)->offset_ms, 0, 0);
    nas_lut_destroy(t);
    /* 30 copies of one network: neither the weights term nor the offset is
     * determined, the scale alone is */
    t = synthetic_table(archs, N_FIT);
    for (int i = 0; i < 30; i++) ASSERT_OK(nas_lut_add_fit_network(t, archs[3], 0.04, &err), &err);
    ASSERT_OK(nas_lut_fit_compute(t, &err), &err);
    ASSERT_EQ_INT(nas_lut_get_fit(t)->terms, 1);
    double ms;
    ASSERT_OK(nas_lut_predict(t, archs[3], &ms, &err), &err);
    ASSERT_NEAR(ms, 0.04, 1e-12);
    /* bad fit networks */
    ASSERT_EQ_INT(nas_lut_add_fit_network(t, archs[3], 0, &err), NAS_ERR_INVALID);
    ASSERT_EQ_INT(nas_lut_add_fit_network(t, archs[3], NAN, &err), NAS_ERR_INVALID);
    nas_arch *other = arch_blocks();
    ASSERT_EQ_INT(nas_lut_add_fit_network(t, other, 1.0, &err), NAS_ERR_UNSUPPORTED);
    ASSERT_CONTAINS(err.msg, "no entry for node 2 (mbconv)");
    nas_arch_destroy(other);
    nas_lut_destroy(t);
    for (int i = 0; i < N_FIT; i++) nas_arch_destroy(archs[i]);
}

/* Version 1 tables still predict sum + constant; other versions and broken
 * fields are refused with the reason. */
static void test_lut_versions(void) {
    nas_arch *a = arch_two_convs(8, 3, 16);
    char text[4096];
    nas_lut *t = NULL;
    int len = 0;
#define ENTRIES                                                                                    \
    "\"entries\": [{\"key\": \"conv k3 s1 p1 d1 g1 o8 b0 @ 3x16x16\", \"ms\": 0.01}, "             \
    "{\"key\": \"conv k3 s1 p1 d1 g1 o16 b0 @ 8x16x16\", \"ms\": 0.02}, "                          \
    "{\"key\": \"global_avg_pool @ 16x16x16\", \"ms\": 0.003}, "                                   \
    "{\"key\": \"fc o10 b0 @ 16x1x1\", \"ms\": 0.004}]"
#define MACHINE                                                                                    \
    "\"machine\": {\"cpu\": \"c\", \"isa\": \"avx2\", \"onednn\": \"2.6.3\", \"threads\": 1, "     \
    "\"batch\": 1}"
    for (int i = 1; i < a->n_nodes; i++) { /* the keys ENTRIES spells out */
        char *k = nas_lut_key(a, i);
        if (k) len += snprintf(text + len, sizeof text - (size_t)len, "%s;", k);
        free(k);
    }
    ASSERT_STR_EQ(text, "conv k3 s1 p1 d1 g1 o8 b0 @ 3x16x16;conv k3 s1 p1 d1 g1 o16 b0 @ 8x16x16;"
                        "global_avg_pool @ 16x16x16;fc o10 b0 @ 16x1x1;");
    len = snprintf(text, sizeof text,
                   "{\"format\": \"nas-latency-lut\", \"version\": 1, " MACHINE
                   ", \"constant_ms\": 0.005, " ENTRIES "}");
    ASSERT_OK(nas_lut_from_json(text, (size_t)len, "v1.json", &t, &err), &err);
    ASSERT_EQ_INT(nas_lut_version(t), 1);
    ASSERT_EQ_INT(nas_lut_get_fit(t)->terms, 0);
    double ms;
    ASSERT_OK(nas_lut_predict(t, a, &ms, &err), &err);
    ASSERT_NEAR(ms, 0.01 + 0.02 + 0.003 + 0.004 + 0.005, 1e-12);
    nas_lut_destroy(t);
    /* version 2 with a fit */
    len =
        snprintf(text, sizeof text,
                 "{\"format\": \"nas-latency-lut\", \"version\": 2, " MACHINE
                 ", \"constant_ms\": 0.005, \"fit\": {\"terms\": 2, \"scale\": 2, "
                 "\"weight_ms_per_mib\": 0, \"offset_ms\": -0.001, \"networks\": [{\"latency_ms\": "
                 "0.08, \"weight_bytes\": 1000, \"entries\": [0, 1, 2, 3]}]}, " ENTRIES
                 ", \"networks\": [{\"total_ms\": 0.04, \"weight_bytes\": 1000, \"entries\": [0, "
                 "3], \"ms\": [0.01, 0.004]}]}");
    ASSERT_OK(nas_lut_from_json(text, (size_t)len, "v2.json", &t, &err), &err);
    ASSERT_EQ_INT(nas_lut_version(t), 2);
    ASSERT_OK(nas_lut_predict(t, a, &ms, &err), &err);
    ASSERT_NEAR(ms, 2 * 0.037 - 0.001, 1e-12);
    ASSERT_EQ_INT(nas_lut_get_fit(t)->networks, 1);
    ASSERT_NEAR(nas_lut_get_fit(t)->fitted.mape, 100 * (0.073 - 0.08) / -0.08, 1e-9);
    nas_lut_destroy(t);
    /* refused: versions it does not know, broken fits */
    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"\"version\": 3, " MACHINE ", \"constant_ms\": 0, " ENTRIES,
         "latency table version 3 is not supported (this nas reads versions 1 and 2; re-run nas "
         "profile)"},
        {"\"version\": 0, " MACHINE ", \"constant_ms\": 0, " ENTRIES, "version 0 is not supported"},
        {"\"version\": \"2\", " MACHINE ", \"constant_ms\": 0, " ENTRIES,
         "version: expected a number"},
        {"\"version\": 2, " MACHINE ", \"constant_ms\": 0, " ENTRIES ", \"networks\": []",
         "v.json: fit: expected"},
        {"\"version\": 2, " MACHINE ", \"constant_ms\": 0, " ENTRIES
         ", \"networks\": [], \"fit\": {\"terms\": 3, \"scale\": 0, \"weight_ms_per_mib\": 0, "
         "\"offset_ms\": 0, \"networks\": []}",
         "scale\": 0..1000 (above 0)"},
        {"\"version\": 2, " MACHINE ", \"constant_ms\": 0, " ENTRIES
         ", \"networks\": [], \"fit\": {\"terms\": 3, \"scale\": 1, \"weight_ms_per_mib\": 0, "
         "\"offset_ms\": 0, \"networks\": []}",
         "fit: 3 terms but no networks"},
        {"\"version\": 2, " MACHINE ", \"constant_ms\": 0, " ENTRIES
         ", \"networks\": [], \"fit\": {\"terms\": 1, \"scale\": 1, \"weight_ms_per_mib\": 0, "
         "\"offset_ms\": 0, \"networks\": [{\"latency_ms\": 1, \"weight_bytes\": 0, \"entries\": "
         "[4]}]}",
         "fit.networks[0].entries[0]: expected an entry index in 0..3"},
        {"\"version\": 2, " MACHINE ", \"constant_ms\": 0, " ENTRIES
         ", \"networks\": [{\"total_ms\": 1, \"weight_bytes\": 0, \"entries\": [1, 2], \"ms\": "
         "[1]}], "
         "\"fit\": {\"terms\": 0, \"scale\": 1, \"weight_ms_per_mib\": 0, \"offset_ms\": 0, "
         "\"networks\": []}",
         "networks[0]: expected"},
        {"\"version\": 1, " MACHINE
         ", \"constant_ms\": 0, \"entries\": [{\"key\": \"x\", \"ms\": 1}, "
         "{\"key\": \"x\", \"ms\": 2}]",
         "entries[1]: key \"x\" appears twice"},
        {"\"version\": 1, " MACHINE ", \"constant_ms\": 0, \"clock_ms\": -0.02, " ENTRIES,
         "v.json: clock_ms: expected a number > 0"},
        {"\"version\": 1, " MACHINE ", \"constant_ms\": 0, \"clock_ms\": \"fast\", " ENTRIES,
         "v.json: clock_ms: expected a number > 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        len = snprintf(text, sizeof text, "{\"format\": \"nas-latency-lut\", %s}", bad[i].body);
        ASSERT_EQ_INT(nas_lut_from_json(text, (size_t)len, "v.json", &t, &err), NAS_ERR_FORMAT);
        ASSERT_TRUE(t == NULL);
        ASSERT_CONTAINS(err.msg, bad[i].msg);
    }
#undef ENTRIES
#undef MACHINE
    nas_arch_destroy(a);
}

static void test_profile_nodes(void) {
    nas_arch *a = arch_cell();
    double *ms = calloc((size_t)a->n_nodes, sizeof *ms), total = 0, sum = 0;
    nas_latency_opts o = nas_latency_opts_default();
    o.runs = 7;
    o.warmup = 2;
    for (int isolated = 0; isolated < 4; isolated++) {
        sum = 0;
        double loop = -1;
        o.clock = isolated >= 2; /* then in units of the clock loop */
        ASSERT_OK(nas_latency_profile_nodes(a, &o, isolated % 2, ms, &total, &loop, &err), &err);
        ASSERT_TRUE(o.clock ? loop > 0 : loop == 0);
        for (int i = 0; i < a->n_nodes; i++) {
            char *k = nas_lut_key(a, i);
            if (!k && ms[i] != 0) TEST_FAIL_("node %d has no key but %g ms", i, ms[i]);
            if (k && !(ms[i] > 0)) TEST_FAIL_("node %d (%s) has %g ms", i, k, ms[i]);
            sum += ms[i];
            free(k);
        }
        printf("     %s%s: total %.3f, sum of nodes %.3f (%s)\n", isolated % 2 ? "isolated" : "in context",
               o.clock ? ", clock" : "", total, sum, o.clock ? "loops" : "ms");
        ASSERT_TRUE(total > 0);
    }
    free(ms);
    nas_arch_destroy(a);
}

static int run(const char *cmd) {
    int s = system(cmd);
    return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

static void test_cli(void) {
    char cmd[2048], *text = NULL;
    size_t len;
    const char *path = "test_latency_arch.json", *lut = "test_latency_cli_lut.json",
               *out = "test_latency_out.txt";
    nas_arch *a = arch_blocks();
    nas_status st = nas_arch_save(a, path, &err);
    nas_arch_destroy(a);
    ASSERT_OK(st, &err);
    snprintf(cmd, sizeof cmd, "%s latency %s --runs 5 --threads 1 --json > %s", NAS_BINARY, path, out);
    ASSERT_EQ_INT(run(cmd), 0);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, "\"latency_ms\"");
    ASSERT_CONTAINS(text, "\"p90_ms\"");
    ASSERT_CONTAINS(text, "\"method\":\t\"measured\"");
    ASSERT_CONTAINS(text, "\"threads\":\t1");
    ASSERT_CONTAINS(text, "\"median_ms\"");
    ASSERT_CONTAINS(text, "\"span_ms\"");
    free(text);
    snprintf(cmd, sizeof cmd, "%s latency %s --min-time -1 2>/dev/null", NAS_BINARY, path);
    ASSERT_EQ_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s latency %s --runs 0 2>/dev/null", NAS_BINARY, path);
    ASSERT_EQ_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s latency %s --bogus 2>/dev/null", NAS_BINARY, path);
    ASSERT_EQ_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s latency missing.json 2>/dev/null", NAS_BINARY);
    ASSERT_EQ_INT(run(cmd), 1);
    /* more measuring threads than CPUs (each is pinned to its own) */
    snprintf(cmd, sizeof cmd, "%s latency %s --threads 1000 > %s 2>&1", NAS_BINARY, path, out);
    ASSERT_EQ_INT(run(cmd), 2);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, "each measuring thread needs its own");
    free(text);
    /* --nodes without --lut; fewer runs than a block said as such */
    snprintf(cmd, sizeof cmd, "%s latency %s --nodes 2>/dev/null", NAS_BINARY, path);
    ASSERT_EQ_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s latency %s --runs 5 --min-time 0 --threads 1 > %s", NAS_BINARY, path, out);
    ASSERT_EQ_INT(run(cmd), 0);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, "(median of all 5 runs, fewer than a block)");
    free(text);
    /* an arch without a network (hyperparameters only): named, no oneDNN error */
    static const char hp[] = "{\"format\":\"nas-arch\",\"version\":1,\"input\":[0,0,0],\"classes\":0,"
                             "\"hparams\":{\"lr\":0.1},\"nodes\":[]}";
    const char *hp_path = "test_latency_hp.json";
    ASSERT_OK(nas_file_write_atomic(hp_path, hp, strlen(hp), &err), &err);
    snprintf(cmd, sizeof cmd, "%s latency %s > %s 2>&1", NAS_BINARY, hp_path, out);
    ASSERT_EQ_INT(run(cmd), 1);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, "test_latency_hp.json: the arch has no network to run (input 0x0x0: hyperparameters only)");
    free(text);
    remove(hp_path);
    /* a table without this arch's ops: a clear error, or measuring with --fallback */
    static const char table[] =
        "{\"format\": \"nas-latency-lut\", \"version\": 1, \"machine\": {\"cpu\": \"Elsewhere 1\", "
        "\"isa\": \"avx2\", \"onednn\": \"0.1.0\", \"threads\": 1, \"batch\": 1}, "
        "\"constant_ms\": 0.5, \"entries\": []}";
    ASSERT_OK(nas_file_write_atomic(lut, table, strlen(table), &err), &err);
    snprintf(cmd, sizeof cmd, "%s latency %s --lut %s > %s 2>&1", NAS_BINARY, path, lut, out);
    ASSERT_EQ_INT(run(cmd), 1);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, "no entry for node 1 (conv)");
    ASSERT_CONTAINS(text, "Elsewhere 1");
    ASSERT_CONTAINS(text, "version-1 table has no network-level fit");
    free(text);
    snprintf(cmd, sizeof cmd, "%s latency %s --lut %s --fallback --runs 3 --json > %s 2>/dev/null",
             NAS_BINARY, path, lut, out);
    ASSERT_EQ_INT(run(cmd), 0);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, "\"method\":\t\"measured\"");
    free(text);
    /* --clock needs a table with a clock loop time, and is not --lut */
    snprintf(cmd, sizeof cmd, "%s latency %s --clock %s > %s 2>&1", NAS_BINARY, path, lut, out);
    ASSERT_EQ_INT(run(cmd), 1);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, "test_latency_cli_lut.json: the table has no clock_ms");
    free(text);
    snprintf(cmd, sizeof cmd, "%s latency %s --clock %s --lut %s 2>/dev/null", NAS_BINARY, path,
             lut, lut);
    ASSERT_EQ_INT(run(cmd), 2);
    remove(path);
    remove(lut);
    remove(out);
}

/* nas profile on a 4-point space (enumerated), then a prediction from it. */
static void test_cli_profile(void) {
    char cmd[2048], *text = NULL;
    size_t len;
    static const char space[] = "space tiny\n"
                                "input 1x8x8\n"
                                "classes 3\n"
                                "network {\n"
                                "    conv(kernel = choice(1, 3), out = choice(4, 8)) bn relu\n"
                                "    global_avg_pool fc(out = classes)\n"
                                "}\n";
    const char *sp = "test_latency_tiny.nas", *lut = "test_latency_tiny_lut.json",
               *out = "test_latency_profile.txt";
    ASSERT_OK(nas_file_write_atomic(sp, space, strlen(space), &err), &err);
    snprintf(cmd, sizeof cmd, "%s profile %s --threads 1 2>/dev/null", NAS_BINARY, sp);
    ASSERT_EQ_INT(run(cmd), 2); /* no -o */
    snprintf(cmd, sizeof cmd, "%s profile missing.nas -o %s 2>/dev/null", NAS_BINARY, lut);
    ASSERT_EQ_INT(run(cmd), 1);
    /* a seed has every other command's bounds (0..2^53), checked before any profiling */
    const char *bad_seed[][2] = {{"-1", "--seed must be in 0..9007199254740992 (2^53), got -1"},
                                 {"9007199254740993", "--seed must be in 0..9007199254740992 (2^53)"},
                                 {"' 3'", "--seed: expected an integer, got ' 3'"}};
    for (size_t i = 0; i < sizeof bad_seed / sizeof bad_seed[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s profile %s -o %s --seed %s > %s 2>&1", NAS_BINARY, sp, lut, bad_seed[i][0],
                 out);
        ASSERT_EQ_INT(run(cmd), 2);
        ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
        ASSERT_CONTAINS(text, bad_seed[i][1]);
        free(text);
    }
    snprintf(cmd, sizeof cmd, "%s profile %s -o %s --threads 1 --runs 3 --min-time 20 > %s 2>&1",
             NAS_BINARY, sp, lut, out);
    ASSERT_EQ_INT(run(cmd), 0);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, "from 4 networks");
    ASSERT_CONTAINS(text, "fit on 4 networks"); /* no unprofiled network: the profiled ones */
    ASSERT_CONTAINS(text, "fit residuals:");
    ASSERT_CONTAINS(text, "sum + constant:");
    free(text);
    /* a file that cannot be written is found before the profiling (no
     * summary printed), named as given, not as its temporary file */
    snprintf(cmd, sizeof cmd,
             "%s profile %s -o test_latency_no_dir/lut.json --threads 1 --runs 3 --min-time 20 > %s 2>&1",
             NAS_BINARY, sp, out);
    ASSERT_EQ_INT(run(cmd), 1);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text,
                    "nas: error: test_latency_no_dir/lut.json: cannot create the file: No such file or directory");
    ASSERT_TRUE(strstr(text, ".tmp.") == NULL && strstr(text, "op keys") == NULL);
    free(text);
    snprintf(cmd, sizeof cmd, "%s profile %s -o . --threads 1 --runs 3 --min-time 20 > %s 2>&1", NAS_BINARY, sp, out);
    ASSERT_EQ_INT(run(cmd), 1);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, "nas: error: .: is a directory");
    ASSERT_TRUE(strstr(text, "op keys") == NULL);
    free(text);
    nas_lut *t = NULL;
    ASSERT_OK(nas_lut_load(lut, &t, &err), &err);
    ASSERT_EQ_INT(nas_lut_size(t), 4 + 2 + 2); /* 4 convs, gap and fc on 4 or 8 channels */
    ASSERT_EQ_INT(nas_lut_machine(t)->threads, 1);
    ASSERT_EQ_INT(nas_lut_version(t), 2);
    ASSERT_EQ_INT(nas_lut_get_fit(t)->networks, 4);
    ASSERT_EQ_INT(nas_lut_get_fit(t)->terms, 1); /* too few networks for more */
    ASSERT_TRUE(nas_lut_clock(t) > 0);          /* profiled in clock-normalized time */
    nas_lut_destroy(t);
    snprintf(cmd, sizeof cmd, "%s space sample %s -n 1 --seed 3 -o test_latency_tiny_archs > /dev/null",
             NAS_BINARY, sp);
    ASSERT_EQ_INT(run(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "%s latency test_latency_tiny_archs/arch_0000.json --lut %s --threads 1 --json > %s",
             NAS_BINARY, lut, out);
    ASSERT_EQ_INT(run(cmd), 0);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, "\"method\":\t\"lut\"");
    free(text);
    /* measured in the table's units: ratio x the table's loop time */
    snprintf(cmd, sizeof cmd,
             "%s latency test_latency_tiny_archs/arch_0000.json --clock %s --threads 1 --runs 5 "
             "--min-time 0 --json > %s",
             NAS_BINARY, lut, out);
    ASSERT_EQ_INT(run(cmd), 0);
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, "\"method\":\t\"measured\"");
    ASSERT_CONTAINS(text, "\"clock_ms\"");
    ASSERT_CONTAINS(text, "\"clock_ratio\"");
    free(text);
    remove("test_latency_tiny_archs/arch_0000.json");
    remove("test_latency_tiny_archs");
    remove(sp);
    remove(lut);
    remove(out);
}

static const test_case TESTS[] = {
    {"engine_plain", test_engine_plain},
    {"engine_blocks", test_engine_blocks},
    {"engine_cell", test_engine_cell},
    {"reference_detects_difference", test_reference_detects_difference},
    {"engine_matches_network", test_engine_matches_network},
    {"engine_errors", test_engine_errors},
    {"measure", test_measure},
    {"clock_loop", test_clock_loop},
    {"lut_keys", test_lut_keys},
    {"lut_predict_save_load", test_lut_predict_save_load},
    {"lut_fit_recovers", test_lut_fit_recovers},
    {"lut_fit_degenerate", test_lut_fit_degenerate},
    {"lut_versions", test_lut_versions},
    {"profile_nodes", test_profile_nodes},
    {"cli", test_cli},
    {"cli_profile", test_cli_profile},
    {0, 0},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
