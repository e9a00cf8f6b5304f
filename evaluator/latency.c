/*
 * latency.c - the oneDNN inference engine built from an arch, its timing,
 * thread pinning, and the LUT key of a node (see latency.h). The tables
 * themselves (storage, JSON, prediction) are in latency_lut.c.
 *
 * Build: a fusion plan marks BN and activation nodes that fold into the conv
 * or fc before them; then every node becomes one or more steps (a oneDNN
 * primitive and its arguments). Activations are tensors with the layout the
 * producing primitive chose; pooled tensors share buffers of one arena by a
 * liveness walk over the steps. It does not do backward passes or training.
 */
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/latency.h"
#include "models/dnnl_check.h"
#include "nas/core/log.h"

#define BN_EPS 1e-5f
#define MAX_POST 8
#define MAX_ARGS 12

/* ---- fusion plan ---- */

typedef struct plan_node {
    int owner;       /* node whose primitive computes this one (itself when not absorbed) */
    int bn;          /* conv: index of the folded BN node, or -1 */
    int n_post;      /* activations fused as post-ops */
    nas_op post[MAX_POST];
    int tail;        /* last node of the fused group */
} plan_node;

static int is_view(nas_op op) { return op == NAS_OP_IDENTITY || op == NAS_OP_DROPOUT; }

/* plan has a->n_nodes entries. */
static void make_plan(const nas_arch *a, plan_node *plan, int *consumers, int *only) {
    int n = a->n_nodes;
    for (int i = 0; i < n; i++) {
        consumers[i] = 0;
        only[i] = -1;
        plan[i].owner = i;
        plan[i].bn = -1;
        plan[i].n_post = 0;
        plan[i].tail = i;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < a->nodes[i].n_inputs; j++) {
            consumers[a->nodes[i].inputs[j]]++;
            only[a->nodes[i].inputs[j]] = i;
        }
    for (int i = 0; i < n; i++) {
        nas_op op = a->nodes[i].op;
        if (plan[i].owner != i || (op != NAS_OP_CONV && op != NAS_OP_FC)) continue;
        int j = i;
        if (op == NAS_OP_CONV && j != n - 1 && consumers[j] == 1 && a->nodes[only[j]].op == NAS_OP_BN) {
            j = only[j];
            plan[i].bn = j;
            plan[j].owner = i;
        }
        while (j != n - 1 && consumers[j] == 1 && nas_op_is_activation(a->nodes[only[j]].op) &&
               plan[i].n_post < MAX_POST) {
            j = only[j];
            plan[i].post[plan[i].n_post++] = a->nodes[j].op;
            plan[j].owner = i;
        }
        plan[i].tail = j;
    }
}

/* ---- LUT keys ---- */

char *nas_lut_key(const nas_arch *a, int i) {
    int n = a->n_nodes;
    plan_node *plan = malloc((size_t)n * sizeof *plan);
    int *cons = malloc((size_t)n * sizeof *cons), *only = malloc((size_t)n * sizeof *only);
    char *key = NULL;
    if (!plan || !cons || !only) goto done;
    make_plan(a, plan, cons, only);
    const nas_node *nd = &a->nodes[i];
    if (plan[i].owner != i || is_view(nd->op) || nd->op == NAS_OP_INPUT || nd->op == NAS_OP_ZERO)
        goto done; /* no primitive of its own (zero is a constant buffer) */
    char buf[512];
    int len = 0;
#define K(...) len += snprintf(buf + len, sizeof buf - (size_t)len, __VA_ARGS__)
    K("%s", nas_op_name(nd->op));
    switch (nd->op) {
    case NAS_OP_CONV:
        K(" k%d s%d p%d d%d g%d o%d b%d", nd->kernel, nd->stride, nd->pad, nd->dilation, nd->groups,
          nd->out, nd->bias);
        break;
    case NAS_OP_MBCONV:
        K(" k%d s%d e%d se%d o%d %s", nd->kernel, nd->stride, nd->expand, nd->se, nd->out,
          nas_op_name(nd->act));
        break;
    case NAS_OP_RESBLOCK:
        K(" k%d s%d o%d %s", nd->kernel, nd->stride, nd->out, nas_op_name(nd->act));
        break;
    case NAS_OP_MAXPOOL:
    case NAS_OP_AVGPOOL: K(" k%d s%d p%d", nd->kernel, nd->stride, nd->pad); break;
    case NAS_OP_FC: K(" o%d b%d", nd->out, nd->bias); break;
    default: break;
    }
    if (plan[i].bn >= 0) K(" +bn");
    for (int p = 0; p < plan[i].n_post; p++)
        K("%s%s", p == 0 && plan[i].bn < 0 ? " +" : "+", nas_op_name(plan[i].post[p]));
    K(" @");
    for (int j = 0; j < nd->n_inputs; j++) {
        const nas_node *x = &a->nodes[nd->inputs[j]];
        K("%s%dx%dx%d", j ? "," : " ", x->c, x->h, x->w);
    }
#undef K
    key = malloc((size_t)len + 1);
    if (key) memcpy(key, buf, (size_t)len + 1);
done:
    free(plan);
    free(cons);
    free(only);
    return key;
}

/* ---- engine ---- */

typedef struct eng_tensor {
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
    int root;        /* tensor owning the buffer (itself unless a view) */
    int first, last; /* steps that write it first and read it last */
    int kind;        /* T_POOLED, T_INPUT, T_CONST */
    size_t size;
    size_t off;      /* offset in the arena (pooled roots) */
    void *own;       /* T_CONST buffer */
} eng_tensor;

enum { T_POOLED, T_INPUT, T_CONST };

typedef struct eng_step {
    dnnl_primitive_t prim;
    int node;
    int is_reorder;
    int nargs;
    dnnl_exec_arg_t args[MAX_ARGS];
} eng_step;

struct nas_engine {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    int batch, classes, reuse;
    eng_tensor *t;
    int nt, capt;
    eng_step *s;
    int ns, caps;
    dnnl_memory_t *w; /* weight memories (owned) */
    int nw, capw;
    void *arena;
    size_t arena_bytes;
    int in_t;
    dnnl_memory_t user_out;
    const nas_param *params;
    int n_params;
    int cur_node;
};

static nas_status eng_nomem(nas_error *err) {
    return NAS_FAIL(err, NAS_ERR_NOMEM, "latency engine: out of memory");
}

static int new_tensor(nas_engine *e, const dnnl_memory_desc_t *md, int kind, nas_error *err) {
    if (e->nt == e->capt) {
        int cap = e->capt ? 2 * e->capt : 64;
        eng_tensor *g = realloc(e->t, (size_t)cap * sizeof *g);
        if (!g) {
            eng_nomem(err);
            return -1;
        }
        e->t = g;
        e->capt = cap;
    }
    eng_tensor *t = &e->t[e->nt];
    memset(t, 0, sizeof *t);
    t->md = *md;
    t->root = e->nt;
    t->first = -1;
    t->last = -1;
    t->kind = kind;
    t->size = dnnl_memory_desc_get_size(md);
    if (dnnl_memory_create(&t->mem, md, e->eng, DNNL_MEMORY_NONE) != dnnl_success) {
        NAS_FAIL(err, NAS_ERR_DNNL, "latency engine: dnnl_memory_create failed");
        return -1;
    }
    return e->nt++;
}

/* A tensor sharing root's buffer with another descriptor (reshape). */
static int view_tensor(nas_engine *e, int root, const dnnl_memory_desc_t *md, nas_error *err) {
    int kind = e->t[root].kind;
    int v = new_tensor(e, md, kind, err);
    if (v < 0) return -1;
    e->t[v].root = e->t[root].root;
    return v;
}

static nas_status keep_weight(nas_engine *e, dnnl_memory_t m, nas_error *err) {
    if (e->nw == e->capw) {
        int cap = e->capw ? 2 * e->capw : 64;
        dnnl_memory_t *g = realloc(e->w, (size_t)cap * sizeof *g);
        if (!g) {
            dnnl_memory_destroy(m);
            return eng_nomem(err);
        }
        e->w = g;
        e->capw = cap;
    }
    e->w[e->nw++] = m;
    return NAS_OK;
}

/* Starts a step executing the primitive of pd (pd is destroyed here). */
static eng_step *step_new(nas_engine *e, dnnl_primitive_desc_t pd, int is_reorder, nas_error *err) {
    eng_step *st = NULL;
    if (e->ns == e->caps) {
        int cap = e->caps ? 2 * e->caps : 64;
        eng_step *g = realloc(e->s, (size_t)cap * sizeof *g);
        if (!g) {
            eng_nomem(err);
            dnnl_primitive_desc_destroy(pd);
            return NULL;
        }
        e->s = g;
        e->caps = cap;
    }
    st = &e->s[e->ns];
    memset(st, 0, sizeof *st);
    st->node = e->cur_node;
    st->is_reorder = is_reorder;
    NAS_DNNL(dnnl_primitive_create(&st->prim, pd), err);
    dnnl_primitive_desc_destroy(pd);
    e->ns++;
    return st;
fail:
    dnnl_primitive_desc_destroy(pd);
    return NULL;
}

static void arg_mem(eng_step *st, int arg, dnnl_memory_t m) {
    NAS_ASSERT(st->nargs < MAX_ARGS);
    st->args[st->nargs].arg = arg;
    st->args[st->nargs].memory = m;
    st->nargs++;
}

/* Argument that reads (write = 0) or writes tensor ti at the current step. */
static void arg_t(nas_engine *e, eng_step *st, int arg, int ti, int write) {
    int step = (int)(st - e->s);
    eng_tensor *t = &e->t[ti], *r = &e->t[t->root];
    arg_mem(st, arg, t->mem);
    if (write && t->first < 0) t->first = step;
    if (write && r->first < 0) r->first = step;
    if (t->last < step) t->last = step;
    if (r->last < step) r->last = step;
}

static void md_plain(dnnl_memory_desc_t *md, int nd, const dnnl_dims_t dims, dnnl_format_tag_t tag) {
    dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, tag);
}

/* Finds a named parameter of node and checks its size. */
static nas_status get_param(nas_engine *e, int node, const char *part, const char *tensor,
                            size_t n, const float **out, nas_error *err) {
    char name[NAS_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "n%d.%s.%s", node, part, tensor);
    for (int i = 0; i < e->n_params; i++)
        if (!strcmp(e->params[i].name, name)) {
            if (e->params[i].n != n)
                return NAS_FAIL(err, NAS_ERR_INVALID,
                                "latency engine: weight %s has %zu values, expected %zu", name,
                                e->params[i].n, n);
            *out = e->params[i].w;
            return NAS_OK;
        }
    return NAS_FAIL(err, NAS_ERR_INVALID, "latency engine: missing weight %s", name);
}

/* Copies data (plain layout `md_user`) into a new weight memory of layout md. */
static nas_status make_weight(nas_engine *e, const dnnl_memory_desc_t *md_user, const float *data,
                              const dnnl_memory_desc_t *md, dnnl_memory_t *out, nas_error *err) {
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    NAS_DNNL(dnnl_memory_create(&src, md_user, e->eng, (void *)data), err);
    NAS_DNNL(dnnl_memory_create(&dst, md, e->eng, DNNL_MEMORY_ALLOCATE), err);
    NAS_DNNL(dnnl_reorder_primitive_desc_create(&pd, md_user, e->eng, md, e->eng, NULL), err);
    NAS_DNNL(dnnl_primitive_create(&r, pd), err);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    NAS_DNNL(dnnl_primitive_execute(r, e->stream, 2, args), err);
    NAS_DNNL(dnnl_stream_wait(e->stream), err);
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(src);
    *out = dst;
    return keep_weight(e, dst, err);
fail:
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(src);
    dnnl_memory_destroy(dst);
    return err ? err->code : NAS_ERR_DNNL;
}

/* Adds a reorder step of tensor ti into layout md; returns the new tensor. */
static int reorder_to(nas_engine *e, int ti, const dnnl_memory_desc_t *md, nas_error *err) {
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_reorder_primitive_desc_create(&pd, &e->t[ti].md, e->eng, md, e->eng, NULL) !=
        dnnl_success) {
        NAS_FAIL(err, NAS_ERR_DNNL, "latency engine: no reorder between two layouts");
        return -1;
    }
    int o = new_tensor(e, md, T_POOLED, err);
    if (o < 0) {
        dnnl_primitive_desc_destroy(pd);
        return -1;
    }
    eng_step *st = step_new(e, pd, 1, err);
    if (!st) return -1;
    arg_t(e, st, DNNL_ARG_FROM, ti, 0);
    arg_t(e, st, DNNL_ARG_TO, o, 1);
    return o;
}

static dnnl_alg_kind_t act_alg(nas_op op, float *alpha, float *beta) {
    *alpha = 0.f;
    *beta = 0.f;
    switch (op) {
    case NAS_OP_RELU6: *beta = 6.f; return dnnl_eltwise_clip;
    case NAS_OP_HSWISH: return dnnl_eltwise_hardswish;
    case NAS_OP_SIGMOID: return dnnl_eltwise_logistic;
    default: return dnnl_eltwise_relu;
    }
}

/* An attr with the activations as eltwise post-ops; NULL attr when none. */
static nas_status post_attr(const nas_op *post, int n_post, dnnl_primitive_attr_t *attr,
                            nas_error *err) {
    dnnl_post_ops_t po = NULL;
    *attr = NULL;
    if (n_post == 0) return NAS_OK;
    NAS_DNNL(dnnl_primitive_attr_create(attr), err);
    NAS_DNNL(dnnl_post_ops_create(&po), err);
    for (int i = 0; i < n_post; i++) {
        float al, be;
        dnnl_alg_kind_t alg = act_alg(post[i], &al, &be);
        NAS_DNNL(dnnl_post_ops_append_eltwise(po, 1.f, alg, al, be), err);
    }
    NAS_DNNL(dnnl_primitive_attr_set_post_ops(*attr, po), err);
    dnnl_post_ops_destroy(po);
    return NAS_OK;
fail:
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(*attr);
    *attr = NULL;
    return err ? err->code : NAS_ERR_DNNL;
}

static int impl_is_ref(dnnl_primitive_desc_t pd) {
    const char *name = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success || !name)
        return 0;
    return !strncmp(name, "ref", 3);
}

typedef struct conv_spec {
    int oc, k, stride, pad, dil, groups;
    const float *w, *bias;                       /* bias may be NULL */
    const float *gamma, *beta, *mean, *var;      /* BN to fold, or gamma NULL */
    const nas_op *post;
    int n_post;
} conv_spec;

/* dst = post(conv(src)) with BN folded: returns the output tensor.
 * src N x IC x H x W, weights OC x IC/G x K x K, dst N x OC x OH x OW. */
static int build_conv(nas_engine *e, int src, const conv_spec *cs, nas_error *err) {
    const dnnl_dims_t *sd = &e->t[src].md.dims;
    int64_t n = (*sd)[0], ic = (*sd)[1], h = (*sd)[2], w = (*sd)[3];
    int64_t g = cs->groups, oc = cs->oc, k = cs->k;
    int64_t oh = (h + 2 * cs->pad - ((k - 1) * cs->dil + 1)) / cs->stride + 1;
    int64_t ow = (w + 2 * cs->pad - ((k - 1) * cs->dil + 1)) / cs->stride + 1;
    size_t per_oc = (size_t)(ic / g * k * k), nw = (size_t)oc * per_oc;
    float *wf = malloc(nw * sizeof *wf), *bf = calloc((size_t)oc, sizeof *bf);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_t wm = NULL, bm = NULL;
    int out = -1, use_bias = cs->bias || cs->gamma;
    if (!wf || !bf) {
        eng_nomem(err);
        goto fail;
    }
    memcpy(wf, cs->w, nw * sizeof *wf);
    if (cs->bias) memcpy(bf, cs->bias, (size_t)oc * sizeof *bf);
    if (cs->gamma)
        for (int64_t o = 0; o < oc; o++) {
            float s = cs->gamma[o] / sqrtf(cs->var[o] + BN_EPS);
            for (size_t j = 0; j < per_oc; j++) wf[(size_t)o * per_oc + j] *= s;
            bf[o] = (bf[o] - cs->mean[o]) * s + cs->beta[o];
        }
    dnnl_memory_desc_t any_src, wmd, wuser, bmd, dmd;
    dnnl_dims_t src_dims = {n, ic, h, w}, dst_dims = {n, oc, oh, ow}, b_dims = {oc};
    dnnl_dims_t strides = {cs->stride, cs->stride}, dil = {cs->dil - 1, cs->dil - 1};
    dnnl_dims_t pad = {cs->pad, cs->pad};
    if (g > 1) {
        dnnl_dims_t wd = {g, oc / g, ic / g, k, k};
        md_plain(&wmd, 5, wd, dnnl_format_tag_any);
        md_plain(&wuser, 5, wd, dnnl_goihw);
    } else {
        dnnl_dims_t wd = {oc, ic, k, k};
        md_plain(&wmd, 4, wd, dnnl_format_tag_any);
        md_plain(&wuser, 4, wd, dnnl_oihw);
    }
    md_plain(&bmd, 1, b_dims, dnnl_x);
    md_plain(&dmd, 4, dst_dims, dnnl_format_tag_any);
    md_plain(&any_src, 4, src_dims, dnnl_format_tag_any);
    if (post_attr(cs->post, cs->n_post, &attr, err) != NAS_OK) goto fail;
    dnnl_convolution_desc_t cd;
    /* First the input's own layout (no reorder); if only a reference
     * implementation reads it, let oneDNN choose and reorder the input. */
    int need_reorder = 0;
    NAS_DNNL(dnnl_dilated_convolution_forward_desc_init(
                 &cd, dnnl_forward_inference, dnnl_convolution_direct, &e->t[src].md, &wmd,
                 use_bias ? &bmd : NULL, &dmd, strides, dil, pad, pad),
             err);
    if (dnnl_primitive_desc_create(&pd, &cd, attr, e->eng, NULL) != dnnl_success || impl_is_ref(pd)) {
        dnnl_primitive_desc_t pd2 = NULL;
        NAS_DNNL(dnnl_dilated_convolution_forward_desc_init(
                     &cd, dnnl_forward_inference, dnnl_convolution_direct, &any_src, &wmd,
                     use_bias ? &bmd : NULL, &dmd, strides, dil, pad, pad),
                 err);
        if (dnnl_primitive_desc_create(&pd2, &cd, attr, e->eng, NULL) == dnnl_success &&
            (!pd || !impl_is_ref(pd2))) {
            if (pd) dnnl_primitive_desc_destroy(pd);
            pd = pd2;
            need_reorder = 1;
        } else if (pd2) {
            dnnl_primitive_desc_destroy(pd2);
        }
    }
    if (!pd) {
        NAS_FAIL(err, NAS_ERR_DNNL, "latency engine: no oneDNN convolution for node %d", e->cur_node);
        goto fail;
    }
    const dnnl_memory_desc_t *q_src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *q_w = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *q_dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    if (need_reorder && !dnnl_memory_desc_equal(q_src, &e->t[src].md)) {
        dnnl_memory_desc_t want = *q_src;
        src = reorder_to(e, src, &want, err);
        if (src < 0) goto fail;
    }
    if (make_weight(e, &wuser, wf, q_w, &wm, err) != NAS_OK) goto fail;
    if (use_bias && make_weight(e, &bmd, bf, &bmd, &bm, err) != NAS_OK) goto fail;
    out = new_tensor(e, q_dst, T_POOLED, err);
    if (out < 0) goto fail;
    eng_step *st = step_new(e, pd, 0, err);
    pd = NULL;
    if (!st) {
        out = -1;
        goto fail;
    }
    arg_t(e, st, DNNL_ARG_SRC, src, 0);
    arg_mem(st, DNNL_ARG_WEIGHTS, wm);
    if (use_bias) arg_mem(st, DNNL_ARG_BIAS, bm);
    arg_t(e, st, DNNL_ARG_DST, out, 1);
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    free(wf);
    free(bf);
    return out;
}

/* dst (N x OC, viewed as N x OC x 1 x 1 NCHW) = post(fc(src)); weights OC x (C*H*W). */
static int build_fc(nas_engine *e, int src, int oc, const float *w, const float *bias,
                    const nas_op *post, int n_post, nas_error *err) {
    const dnnl_dims_t *sd = &e->t[src].md.dims;
    int64_t n = (*sd)[0], c = (*sd)[1], h = (*sd)[2], wd = (*sd)[3];
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_t wm = NULL, bm = NULL;
    int out = -1;
    dnnl_memory_desc_t wmd, wuser, bmd, dmd, view;
    dnnl_dims_t wdims = {oc, c, h, wd}, bdims = {oc}, ddims = {n, oc}, vdims = {n, oc, 1, 1};
    md_plain(&wmd, 4, wdims, dnnl_format_tag_any);
    md_plain(&wuser, 4, wdims, dnnl_oihw);
    md_plain(&bmd, 1, bdims, dnnl_x);
    md_plain(&dmd, 2, ddims, dnnl_nc);
    md_plain(&view, 4, vdims, dnnl_nchw);
    if (post_attr(post, n_post, &attr, err) != NAS_OK) goto fail;
    dnnl_inner_product_desc_t d;
    NAS_DNNL(dnnl_inner_product_forward_desc_init(&d, dnnl_forward_inference, &e->t[src].md, &wmd,
                                                  bias ? &bmd : NULL, &dmd),
             err);
    NAS_DNNL(dnnl_primitive_desc_create(&pd, &d, attr, e->eng, NULL), err);
    if (make_weight(e, &wuser, w, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &wm,
                    err) != NAS_OK)
        goto fail;
    if (bias && make_weight(e, &bmd, bias, &bmd, &bm, err) != NAS_OK) goto fail;
    int o = new_tensor(e, &dmd, T_POOLED, err);
    if (o < 0) goto fail;
    eng_step *st = step_new(e, pd, 0, err);
    pd = NULL;
    if (!st) goto fail;
    arg_t(e, st, DNNL_ARG_SRC, src, 0);
    arg_mem(st, DNNL_ARG_WEIGHTS, wm);
    if (bias) arg_mem(st, DNNL_ARG_BIAS, bm);
    arg_t(e, st, DNNL_ARG_DST, o, 1);
    out = view_tensor(e, o, &view, err);
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return out;
}

/* Pooling: max, average excluding padding, or global average (k = H, W). */
static int build_pool(nas_engine *e, int src, dnnl_alg_kind_t alg, int kh, int kw, int stride,
                      int pad, nas_error *err) {
    const dnnl_dims_t *sd = &e->t[src].md.dims;
    int64_t n = (*sd)[0], c = (*sd)[1], h = (*sd)[2], w = (*sd)[3];
    int64_t oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
    dnnl_dims_t dd = {n, c, oh, ow}, st = {stride, stride}, k = {kh, kw}, dl = {0, 0}, p = {pad, pad};
    dnnl_memory_desc_t dmd;
    dnnl_primitive_desc_t pd = NULL;
    md_plain(&dmd, 4, dd, dnnl_format_tag_any);
    dnnl_pooling_v2_desc_t d;
    NAS_DNNL(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, alg, &e->t[src].md, &dmd,
                                               st, k, dl, p, p),
             err);
    NAS_DNNL(dnnl_primitive_desc_create(&pd, &d, NULL, e->eng, NULL), err);
    int o = new_tensor(e, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), T_POOLED, err);
    if (o < 0) goto fail;
    eng_step *s = step_new(e, pd, 0, err);
    pd = NULL;
    if (!s) return -1;
    arg_t(e, s, DNNL_ARG_SRC, src, 0);
    arg_t(e, s, DNNL_ARG_DST, o, 1);
    return o;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return -1;
}

static int build_eltwise(nas_engine *e, int src, nas_op op, nas_error *err) {
    float al, be;
    dnnl_alg_kind_t alg = act_alg(op, &al, &be);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_eltwise_desc_t d;
    NAS_DNNL(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, alg, &e->t[src].md, al, be),
             err);
    NAS_DNNL(dnnl_primitive_desc_create(&pd, &d, NULL, e->eng, NULL), err);
    int o = new_tensor(e, &e->t[src].md, T_POOLED, err);
    if (o < 0) goto fail;
    eng_step *s = step_new(e, pd, 0, err);
    pd = NULL;
    if (!s) return -1;
    arg_t(e, s, DNNL_ARG_SRC, src, 0);
    arg_t(e, s, DNNL_ARG_DST, o, 1);
    return o;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return -1;
}

/* Standalone BatchNorm with running statistics (one not after a conv). */
static int build_bn(nas_engine *e, int node, int src, nas_error *err) {
    int64_t c = e->t[src].md.dims[1];
    const float *g, *b, *m, *v;
    dnnl_memory_t mm[4] = {NULL, NULL, NULL, NULL};
    dnnl_primitive_desc_t pd = NULL;
    if (get_param(e, node, "bn", "weight", (size_t)c, &g, err) ||
        get_param(e, node, "bn", "bias", (size_t)c, &b, err) ||
        get_param(e, node, "bn", "running_mean", (size_t)c, &m, err) ||
        get_param(e, node, "bn", "running_var", (size_t)c, &v, err))
        return -1;
    dnnl_memory_desc_t cmd;
    dnnl_dims_t cd = {c};
    md_plain(&cmd, 1, cd, dnnl_x);
    const float *data[4] = {m, v, g, b};
    for (int i = 0; i < 4; i++)
        if (make_weight(e, &cmd, data[i], &cmd, &mm[i], err) != NAS_OK) return -1;
    dnnl_batch_normalization_desc_t d;
    NAS_DNNL(dnnl_batch_normalization_forward_desc_init(
                 &d, dnnl_forward_inference, &e->t[src].md, BN_EPS,
                 dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift),
             err);
    NAS_DNNL(dnnl_primitive_desc_create(&pd, &d, NULL, e->eng, NULL), err);
    int o = new_tensor(e, &e->t[src].md, T_POOLED, err);
    if (o < 0) goto fail;
    eng_step *s = step_new(e, pd, 0, err);
    pd = NULL;
    if (!s) return -1;
    arg_t(e, s, DNNL_ARG_SRC, src, 0);
    arg_mem(s, DNNL_ARG_MEAN, mm[0]);
    arg_mem(s, DNNL_ARG_VARIANCE, mm[1]);
    arg_mem(s, DNNL_ARG_SCALE, mm[2]);
    arg_mem(s, DNNL_ARG_SHIFT, mm[3]);
    arg_t(e, s, DNNL_ARG_DST, o, 1);
    return o;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return -1;
}

/* In place: src0 = post(src0 op src1) (src1 may broadcast). */
static nas_status build_binary(nas_engine *e, dnnl_alg_kind_t alg, int src0, int src1,
                               const nas_op *post, int n_post, nas_error *err) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_binary_desc_t d;
    if (post_attr(post, n_post, &attr, err) != NAS_OK) return err ? err->code : NAS_ERR_DNNL;
    NAS_DNNL(dnnl_binary_desc_init(&d, alg, &e->t[src0].md, &e->t[src1].md, &e->t[src0].md), err);
    NAS_DNNL(dnnl_primitive_desc_create(&pd, &d, attr, e->eng, NULL), err);
    eng_step *s = step_new(e, pd, 0, err);
    pd = NULL;
    if (!s) goto fail;
    arg_t(e, s, DNNL_ARG_SRC_0, src0, 0);
    arg_t(e, s, DNNL_ARG_SRC_1, src1, 0);
    arg_t(e, s, DNNL_ARG_DST, src0, 1);
    dnnl_primitive_attr_destroy(attr);
    return NAS_OK;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return err ? err->code : NAS_ERR_DNNL;
}

/* Sum (add) or concat of n tensors. */
static int build_multi(nas_engine *e, int is_sum, const int *srcs, int n, nas_error *err) {
    dnnl_memory_desc_t mds[NAS_ARCH_MAX_INPUTS];
    float scales[NAS_ARCH_MAX_INPUTS];
    dnnl_primitive_desc_t pd = NULL;
    for (int i = 0; i < n; i++) {
        mds[i] = e->t[srcs[i]].md;
        scales[i] = 1.f;
    }
    if (is_sum)
        NAS_DNNL(dnnl_sum_primitive_desc_create(&pd, NULL, n, scales, mds, NULL, e->eng), err);
    else
        NAS_DNNL(dnnl_concat_primitive_desc_create(&pd, NULL, n, 1, mds, NULL, e->eng), err);
    int o = new_tensor(e, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), T_POOLED, err);
    if (o < 0) goto fail;
    eng_step *s = step_new(e, pd, 0, err);
    pd = NULL;
    if (!s) return -1;
    for (int i = 0; i < n; i++) arg_t(e, s, DNNL_ARG_MULTIPLE_SRC + i, srcs[i], 0);
    arg_t(e, s, DNNL_ARG_DST, o, 1);
    return o;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return -1;
}

/* A constant zero tensor N x C x H x W. */
static int build_zero(nas_engine *e, int c, int h, int w, nas_error *err) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {e->batch, c, h, w};
    md_plain(&md, 4, d, dnnl_nchw);
    int o = new_tensor(e, &md, T_CONST, err);
    if (o < 0) return -1;
    e->t[o].own = calloc(1, e->t[o].size ? e->t[o].size : 1);
    if (!e->t[o].own) {
        eng_nomem(err);
        return -1;
    }
    return o;
}

/* Reads the four BN tensors of `part` of node into spec. */
static nas_status bn_params(nas_engine *e, int node, const char *part, size_t c, conv_spec *cs,
                            nas_error *err) {
    nas_status s;
    if ((s = get_param(e, node, part, "weight", c, &cs->gamma, err)) ||
        (s = get_param(e, node, part, "bias", c, &cs->beta, err)) ||
        (s = get_param(e, node, part, "running_mean", c, &cs->mean, err)) ||
        (s = get_param(e, node, part, "running_var", c, &cs->var, err)))
        return s;
    return NAS_OK;
}

static int build_mbconv(nas_engine *e, int node, const nas_node *nd, int x, nas_error *err) {
    int64_t ic = e->t[x].md.dims[1], mid = ic * nd->expand, k = nd->kernel;
    int64_t r = mid / 4 > 1 ? mid / 4 : 1;
    nas_op act = nd->act;
    conv_spec cs;
    int t = x;
    if (nd->expand > 1) {
        cs = (conv_spec){(int)mid, 1, 1, 0, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL, &act, 1};
        if (get_param(e, node, "expand", "weight", (size_t)(mid * ic), &cs.w, err) ||
            bn_params(e, node, "expand_bn", (size_t)mid, &cs, err))
            return -1;
        if ((t = build_conv(e, x, &cs, err)) < 0) return -1;
    }
    cs = (conv_spec){(int)mid, (int)k, nd->stride, (int)k / 2, 1, (int)mid, NULL, NULL,
                     NULL, NULL, NULL, NULL, &act, 1};
    if (get_param(e, node, "dw", "weight", (size_t)(mid * k * k), &cs.w, err) ||
        bn_params(e, node, "dw_bn", (size_t)mid, &cs, err))
        return -1;
    if ((t = build_conv(e, t, &cs, err)) < 0) return -1;
    if (nd->se) {
        const float *w1, *b1, *w2, *b2;
        nas_op relu = NAS_OP_RELU, sig = NAS_OP_SIGMOID;
        if (get_param(e, node, "se_reduce", "weight", (size_t)(r * mid), &w1, err) ||
            get_param(e, node, "se_reduce", "bias", (size_t)r, &b1, err) ||
            get_param(e, node, "se_expand", "weight", (size_t)(mid * r), &w2, err) ||
            get_param(e, node, "se_expand", "bias", (size_t)mid, &b2, err))
            return -1;
        int p = build_pool(e, t, dnnl_pooling_avg_exclude_padding, (int)e->t[t].md.dims[2],
                           (int)e->t[t].md.dims[3], 1, 0, err);
        if (p < 0) return -1;
        int f1 = build_fc(e, p, (int)r, w1, b1, &relu, 1, err);
        if (f1 < 0) return -1;
        int f2 = build_fc(e, f1, (int)mid, w2, b2, &sig, 1, err);
        if (f2 < 0) return -1;
        if (build_binary(e, dnnl_binary_mul, t, f2, NULL, 0, err) != NAS_OK) return -1;
    }
    cs = (conv_spec){nd->out, 1, 1, 0, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    if (get_param(e, node, "project", "weight", (size_t)(nd->out * mid), &cs.w, err) ||
        bn_params(e, node, "project_bn", (size_t)nd->out, &cs, err))
        return -1;
    if ((t = build_conv(e, t, &cs, err)) < 0) return -1;
    if (nd->stride == 1 && ic == nd->out && build_binary(e, dnnl_binary_add, t, x, NULL, 0, err))
        return -1;
    return t;
}

static int build_resblock(nas_engine *e, int node, const nas_node *nd, int x, nas_error *err) {
    int64_t ic = e->t[x].md.dims[1], oc = nd->out, k = nd->kernel;
    nas_op act = nd->act;
    conv_spec cs = {(int)oc, (int)k, nd->stride, (int)k / 2, 1, 1, NULL, NULL,
                    NULL, NULL, NULL, NULL, &act, 1};
    if (get_param(e, node, "conv1", "weight", (size_t)(oc * ic * k * k), &cs.w, err) ||
        bn_params(e, node, "bn1", (size_t)oc, &cs, err))
        return -1;
    int a = build_conv(e, x, &cs, err);
    if (a < 0) return -1;
    cs = (conv_spec){(int)oc, (int)k, 1, (int)k / 2, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    if (get_param(e, node, "conv2", "weight", (size_t)(oc * oc * k * k), &cs.w, err) ||
        bn_params(e, node, "bn2", (size_t)oc, &cs, err))
        return -1;
    int b = build_conv(e, a, &cs, err);
    if (b < 0) return -1;
    int sc = x;
    if (nd->stride != 1 || ic != oc) {
        cs = (conv_spec){(int)oc, 1, nd->stride, 0, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0};
        if (get_param(e, node, "shortcut", "weight", (size_t)(oc * ic), &cs.w, err) ||
            bn_params(e, node, "shortcut_bn", (size_t)oc, &cs, err))
            return -1;
        if ((sc = build_conv(e, x, &cs, err)) < 0) return -1;
    }
    if (build_binary(e, dnnl_binary_add, b, sc, &act, 1, err) != NAS_OK) return -1;
    return b;
}

/* Flatten: the input in plain NCHW, viewed as N x (C*H*W) x 1 x 1. */
static int build_flatten(nas_engine *e, int src, nas_error *err) {
    const dnnl_dims_t *sd = &e->t[src].md.dims;
    dnnl_dims_t d = {(*sd)[0], (*sd)[1], (*sd)[2], (*sd)[3]};
    dnnl_dims_t f = {(*sd)[0], (*sd)[1] * (*sd)[2] * (*sd)[3], 1, 1};
    dnnl_memory_desc_t plain, flat;
    md_plain(&plain, 4, d, dnnl_nchw);
    md_plain(&flat, 4, f, dnnl_nchw);
    if (!dnnl_memory_desc_equal(&plain, &e->t[src].md) && (src = reorder_to(e, src, &plain, err)) < 0)
        return -1;
    return view_tensor(e, src, &flat, err);
}

static int build_node(nas_engine *e, const nas_arch *a, const plan_node *plan, const int *nt, int i,
                      nas_error *err) {
    const nas_node *nd = &a->nodes[i];
    int x = nd->n_inputs ? nt[nd->inputs[0]] : -1;
    const plan_node *p = &plan[i];
    switch (nd->op) {
    case NAS_OP_CONV: {
        int64_t ic = a->nodes[nd->inputs[0]].c;
        conv_spec cs = {nd->out, nd->kernel, nd->stride, nd->pad, nd->dilation, nd->groups,
                        NULL, NULL, NULL, NULL, NULL, NULL, p->post, p->n_post};
        size_t nw = (size_t)nd->out * (size_t)(ic / nd->groups) * (size_t)(nd->kernel * nd->kernel);
        if (get_param(e, i, "conv", "weight", nw, &cs.w, err)) return -1;
        if (nd->bias && get_param(e, i, "conv", "bias", (size_t)nd->out, &cs.bias, err)) return -1;
        if (p->bn >= 0 && bn_params(e, p->bn, "bn", (size_t)nd->out, &cs, err)) return -1;
        return build_conv(e, x, &cs, err);
    }
    case NAS_OP_FC: {
        const nas_node *in = &a->nodes[nd->inputs[0]];
        const float *w, *b = NULL;
        if (get_param(e, i, "fc", "weight", (size_t)nd->out * (size_t)in->c * (size_t)(in->h * in->w),
                      &w, err))
            return -1;
        if (nd->bias && get_param(e, i, "fc", "bias", (size_t)nd->out, &b, err)) return -1;
        return build_fc(e, x, nd->out, w, b, p->post, p->n_post, err);
    }
    case NAS_OP_BN: return build_bn(e, i, x, err);
    case NAS_OP_RELU:
    case NAS_OP_RELU6:
    case NAS_OP_HSWISH:
    case NAS_OP_SIGMOID: return build_eltwise(e, x, nd->op, err);
    case NAS_OP_MBCONV: return build_mbconv(e, i, nd, x, err);
    case NAS_OP_RESBLOCK: return build_resblock(e, i, nd, x, err);
    case NAS_OP_MAXPOOL:
        return build_pool(e, x, dnnl_pooling_max, nd->kernel, nd->kernel, nd->stride, nd->pad, err);
    case NAS_OP_AVGPOOL:
        return build_pool(e, x, dnnl_pooling_avg_exclude_padding, nd->kernel, nd->kernel, nd->stride,
                          nd->pad, err);
    case NAS_OP_GAP: {
        const nas_node *in = &a->nodes[nd->inputs[0]];
        return build_pool(e, x, dnnl_pooling_avg_exclude_padding, in->h, in->w, 1, 0, err);
    }
    case NAS_OP_FLATTEN: return build_flatten(e, x, err);
    case NAS_OP_DROPOUT:
    case NAS_OP_IDENTITY: return x;
    case NAS_OP_ZERO: return build_zero(e, nd->c, nd->h, nd->w, err);
    case NAS_OP_ADD:
    case NAS_OP_CONCAT: {
        int srcs[NAS_ARCH_MAX_INPUTS];
        for (int j = 0; j < nd->n_inputs; j++) srcs[j] = nt[nd->inputs[j]];
        return build_multi(e, nd->op == NAS_OP_ADD, srcs, nd->n_inputs, err);
    }
    default: NAS_FAIL(err, NAS_ERR_INTERNAL, "latency engine: node %d: unexpected op", i); return -1;
    }
}

/* Assigns arena offsets to pooled root tensors by liveness (or one each). */
static nas_status place_tensors(nas_engine *e, nas_error *err) {
    size_t *slot_size = calloc((size_t)e->nt + 1, sizeof *slot_size);
    int *slot_last = calloc((size_t)e->nt + 1, sizeof *slot_last);
    int *slot_of = calloc((size_t)e->nt + 1, sizeof *slot_of);
    int ns = 0;
    if (!slot_size || !slot_last || !slot_of) goto nomem;
    /* tensors are created in step order, so creation order is order of first use */
    for (int i = 0; i < e->nt; i++) {
        eng_tensor *t = &e->t[i];
        if (t->kind != T_POOLED || t->root != i) continue;
        int pick = -1;
        for (int s = 0; e->reuse && s < ns; s++)
            if (slot_last[s] < t->first && (pick < 0 || (slot_size[s] >= t->size) > (slot_size[pick] >= t->size)))
                pick = s;
        if (pick < 0) pick = ns++;
        if (slot_size[pick] < t->size) slot_size[pick] = t->size;
        slot_last[pick] = t->last;
        slot_of[i] = pick;
    }
    size_t *off = calloc((size_t)ns + 1, sizeof *off), total = 0;
    if (!off) goto nomem;
    for (int s = 0; s < ns; s++) {
        off[s] = total;
        total += (slot_size[s] + 63) / 64 * 64;
    }
    e->arena_bytes = total;
    e->arena = total ? aligned_alloc(64, total) : NULL;
    if (total && !e->arena) {
        free(off);
        goto nomem;
    }
    if (e->arena) memset(e->arena, 0, total);
    for (int i = 0; i < e->nt; i++) {
        eng_tensor *t = &e->t[i], *r = &e->t[t->root];
        void *h = NULL;
        if (r->kind == T_POOLED) h = (char *)e->arena + off[slot_of[t->root]];
        else if (r->kind == T_CONST) h = r->own;
        else continue;
        if (dnnl_memory_set_data_handle(t->mem, h) != dnnl_success) {
            free(off);
            free(slot_size);
            free(slot_last);
            free(slot_of);
            return NAS_FAIL(err, NAS_ERR_DNNL, "latency engine: dnnl_memory_set_data_handle failed");
        }
    }
    free(off);
    free(slot_size);
    free(slot_last);
    free(slot_of);
    return NAS_OK;
nomem:
    free(slot_size);
    free(slot_last);
    free(slot_of);
    return eng_nomem(err);
}

static nas_status engine_build(const nas_arch *a, int batch, const nas_param *params, int n_params,
                               int reuse, nas_engine **out, nas_error *err) {
    int n = a->n_nodes;
    *out = NULL;
    if (n < 2) /* no layer: 0x0x0 input (hyperparameters only) or the input alone */
        return NAS_FAIL(err, NAS_ERR_INVALID, "the arch has no network to run (%s)",
                        n == 0 ? "input 0x0x0: hyperparameters only" : "no layers");
    nas_engine *e = calloc(1, sizeof *e);
    plan_node *plan = malloc((size_t)n * sizeof *plan);
    int *cons = malloc((size_t)n * sizeof *cons), *only = malloc((size_t)n * sizeof *only);
    int *nt = malloc((size_t)n * sizeof *nt);
    dnnl_primitive_desc_t pd = NULL;
    *out = NULL;
    if (!e || !plan || !cons || !only || !nt) {
        eng_nomem(err);
        goto fail;
    }
    if (batch < 1) {
        NAS_FAIL(err, NAS_ERR_INVALID, "latency engine: batch must be >= 1, got %d", batch);
        goto fail;
    }
    nas_arch *copy = nas_arch_clone(a);
    if (!copy) {
        eng_nomem(err);
        goto fail;
    }
    nas_status cs = nas_arch_check(copy, err);
    nas_arch_destroy(copy);
    if (cs != NAS_OK) goto fail;
    e->batch = batch;
    e->classes = a->classes;
    e->reuse = reuse;
    e->params = params;
    e->n_params = n_params;
    NAS_DNNL(dnnl_engine_create(&e->eng, dnnl_cpu, 0), err);
    NAS_DNNL(dnnl_stream_create(&e->stream, e->eng, dnnl_stream_default_flags), err);
    make_plan(a, plan, cons, only);
    dnnl_memory_desc_t imd, omd;
    dnnl_dims_t id = {batch, a->in_c, a->in_h, a->in_w}, od = {batch, a->classes, 1, 1};
    md_plain(&imd, 4, id, dnnl_nchw);
    md_plain(&omd, 4, od, dnnl_nchw);
    if ((e->in_t = new_tensor(e, &imd, T_INPUT, err)) < 0) goto fail;
    nt[0] = e->in_t;
    for (int i = 1; i < n; i++) {
        e->cur_node = i;
        if (plan[i].owner != i) {
            nt[i] = nt[plan[i].owner];
            continue;
        }
        if ((nt[i] = build_node(e, a, plan, nt, i, err)) < 0) goto fail;
        for (int j = i + 1; j <= plan[i].tail; j++)
            if (plan[j].owner == i) nt[j] = nt[i];
    }
    /* the result into the caller's NCHW buffer (a per-network cost: node -1) */
    e->cur_node = -1;
    NAS_DNNL(dnnl_memory_create(&e->user_out, &omd, e->eng, DNNL_MEMORY_NONE), err);
    int last = nt[n - 1];
    NAS_DNNL(dnnl_reorder_primitive_desc_create(&pd, &e->t[last].md, e->eng, &omd, e->eng, NULL), err);
    eng_step *st = step_new(e, pd, 1, err);
    pd = NULL;
    if (!st) goto fail;
    arg_t(e, st, DNNL_ARG_FROM, last, 0);
    arg_mem(st, DNNL_ARG_TO, e->user_out);
    if (place_tensors(e, err) != NAS_OK) goto fail;
    free(plan);
    free(cons);
    free(only);
    free(nt);
    *out = e;
    return NAS_OK;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    free(plan);
    free(cons);
    free(only);
    free(nt);
    nas_engine_destroy(e);
    return err && err->code != NAS_OK ? err->code : NAS_ERR_DNNL;
}

nas_status nas_engine_create(const nas_arch *a, int batch, const nas_param *params, int n_params,
                             nas_engine **out, nas_error *err) {
    return engine_build(a, batch, params, n_params, 1, out, err);
}

void nas_engine_destroy(nas_engine *e) {
    if (!e) return;
    for (int i = 0; i < e->ns; i++) dnnl_primitive_destroy(e->s[i].prim);
    for (int i = 0; i < e->nt; i++) {
        dnnl_memory_destroy(e->t[i].mem);
        free(e->t[i].own);
    }
    for (int i = 0; i < e->nw; i++) dnnl_memory_destroy(e->w[i]);
    dnnl_memory_destroy(e->user_out);
    if (e->stream) dnnl_stream_destroy(e->stream);
    if (e->eng) dnnl_engine_destroy(e->eng);
    free(e->s);
    free(e->t);
    free(e->w);
    free(e->arena);
    free(e);
}

static nas_status run_steps(nas_engine *e, int from, int to, nas_error *err) {
    for (int i = from; i < to; i++)
        NAS_DNNL(dnnl_primitive_execute(e->s[i].prim, e->stream, e->s[i].nargs, e->s[i].args), err);
    NAS_DNNL(dnnl_stream_wait(e->stream), err);
    return NAS_OK;
fail:
    return err ? err->code : NAS_ERR_DNNL;
}

nas_status nas_engine_run(nas_engine *e, const float *input, float *output, nas_error *err) {
    for (int i = 0; i < e->nt; i++)
        if (e->t[i].root == e->in_t)
            NAS_DNNL(dnnl_memory_set_data_handle(e->t[i].mem, (void *)input), err);
    NAS_DNNL(dnnl_memory_set_data_handle(e->user_out, output), err);
    return run_steps(e, 0, e->ns, err);
fail:
    return err ? err->code : NAS_ERR_DNNL;
}

void nas_engine_stats(const nas_engine *e, int *primitives, int *reorders, size_t *act_bytes) {
    int r = 0;
    for (int i = 0; i < e->ns; i++) r += e->s[i].is_reorder;
    if (primitives) *primitives = e->ns;
    if (reorders) *reorders = r;
    if (act_bytes) *act_bytes = e->arena_bytes;
}

/* ---- random weights ---- */

typedef struct param_list {
    nas_param *p;
    int n, cap;
} param_list;

/* Appends tensor "n<node>.<part>.<name>" of n values drawn by kind:
 * 'w' +-sqrt(3/fan_in), 'b' +-0.1, 'g' [0.5, 1.5]. */
static nas_status plist_add(param_list *l, int node, const char *part, const char *name, size_t n,
                            char kind, size_t fan_in, pcg32 *rng, nas_error *err) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        nas_param *g = realloc(l->p, (size_t)cap * sizeof *g);
        if (!g) return eng_nomem(err);
        l->p = g;
        l->cap = cap;
    }
    nas_param *p = &l->p[l->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "n%d.%s.%s", node, part, name);
    p->n = n;
    p->w = malloc((n ? n : 1) * sizeof *p->w);
    if (!p->w) return eng_nomem(err);
    l->n++;
    double bound = kind == 'w' ? sqrt(3.0 / (double)(fan_in ? fan_in : 1)) : 0.1;
    for (size_t i = 0; i < n; i++) {
        double u = pcg32_double(rng);
        p->w[i] = kind == 'g' ? (float)(0.5 + u) : (float)((2.0 * u - 1.0) * bound);
    }
    p->decay = kind == 'w';
    return NAS_OK;
}

static nas_status plist_bn(param_list *l, int node, const char *part, size_t c, pcg32 *rng,
                           nas_error *err) {
    nas_status s;
    if ((s = plist_add(l, node, part, "weight", c, 'g', 0, rng, err)) ||
        (s = plist_add(l, node, part, "bias", c, 'b', 0, rng, err)) ||
        (s = plist_add(l, node, part, "running_mean", c, 'b', 0, rng, err)) ||
        (s = plist_add(l, node, part, "running_var", c, 'g', 0, rng, err)))
        return s;
    return NAS_OK;
}

static nas_status node_params(param_list *l, const nas_arch *a, int i, pcg32 *rng, nas_error *err) {
    const nas_node *nd = &a->nodes[i];
    const nas_node *in = nd->n_inputs ? &a->nodes[nd->inputs[0]] : NULL;
    size_t ic = in ? (size_t)in->c : 0, oc = (size_t)nd->out, k = (size_t)nd->kernel;
    nas_status s = NAS_OK;
    switch (nd->op) {
    case NAS_OP_CONV: {
        size_t fan = ic / (size_t)nd->groups * k * k;
        if ((s = plist_add(l, i, "conv", "weight", oc * fan, 'w', fan, rng, err))) return s;
        if (nd->bias) s = plist_add(l, i, "conv", "bias", oc, 'b', 0, rng, err);
        return s;
    }
    case NAS_OP_BN: return plist_bn(l, i, "bn", (size_t)nd->c, rng, err);
    case NAS_OP_FC: {
        size_t fan = ic * (size_t)in->h * (size_t)in->w;
        if ((s = plist_add(l, i, "fc", "weight", oc * fan, 'w', fan, rng, err))) return s;
        if (nd->bias) s = plist_add(l, i, "fc", "bias", oc, 'b', 0, rng, err);
        return s;
    }
    case NAS_OP_MBCONV: {
        size_t mid = ic * (size_t)nd->expand, r = mid / 4 > 1 ? mid / 4 : 1;
        if (nd->expand > 1 && ((s = plist_add(l, i, "expand", "weight", mid * ic, 'w', ic, rng, err)) ||
                               (s = plist_bn(l, i, "expand_bn", mid, rng, err))))
            return s;
        if ((s = plist_add(l, i, "dw", "weight", mid * k * k, 'w', k * k, rng, err)) ||
            (s = plist_bn(l, i, "dw_bn", mid, rng, err)))
            return s;
        if (nd->se && ((s = plist_add(l, i, "se_reduce", "weight", r * mid, 'w', mid, rng, err)) ||
                       (s = plist_add(l, i, "se_reduce", "bias", r, 'b', 0, rng, err)) ||
                       (s = plist_add(l, i, "se_expand", "weight", mid * r, 'w', r, rng, err)) ||
                       (s = plist_add(l, i, "se_expand", "bias", mid, 'b', 0, rng, err))))
            return s;
        if ((s = plist_add(l, i, "project", "weight", oc * mid, 'w', mid, rng, err)) ||
            (s = plist_bn(l, i, "project_bn", oc, rng, err)))
            return s;
        return NAS_OK;
    }
    case NAS_OP_RESBLOCK:
        if ((s = plist_add(l, i, "conv1", "weight", oc * ic * k * k, 'w', ic * k * k, rng, err)) ||
            (s = plist_bn(l, i, "bn1", oc, rng, err)) ||
            (s = plist_add(l, i, "conv2", "weight", oc * oc * k * k, 'w', oc * k * k, rng, err)) ||
            (s = plist_bn(l, i, "bn2", oc, rng, err)))
            return s;
        if ((nd->stride != 1 || ic != oc) &&
            ((s = plist_add(l, i, "shortcut", "weight", oc * ic, 'w', ic, rng, err)) ||
             (s = plist_bn(l, i, "shortcut_bn", oc, rng, err))))
            return s;
        return NAS_OK;
    default: return NAS_OK;
    }
}

nas_status nas_engine_params_create(const nas_arch *a, pcg32 *rng, nas_param **params, int *n,
                                    nas_error *err) {
    param_list l = {NULL, 0, 0};
    *params = NULL;
    *n = 0;
    for (int i = 1; i < a->n_nodes; i++) {
        nas_status s = node_params(&l, a, i, rng, err);
        if (s != NAS_OK) {
            nas_engine_params_destroy(l.p, l.n);
            return s;
        }
    }
    *params = l.p;
    *n = l.n;
    return NAS_OK;
}

void nas_engine_params_destroy(nas_param *params, int n) {
    if (!params) return;
    for (int i = 0; i < n; i++) free(params[i].w);
    free(params);
}

/* ---- measuring ---- */

nas_latency_opts nas_latency_opts_default(void) {
    nas_latency_opts o = {1, 0, 10, 50, 0.0, 1, 0};
    return o;
}

double nas_latency_clock_loop(uint64_t *state) {
    uint64_t x = *state;
    double t0 = nas_time_now();
    for (int i = 0; i < NAS_CLOCK_LOOP; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        __asm__ volatile("" : "+r"(x)); /* keep every step of the chain */
    }
    double ms = (nas_time_now() - t0) * 1e3;
    *state = x;
    return ms;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void nas_latency_stats(double *ms, int n, double *median, double *p90) {
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    *median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
    int k = (int)ceil(0.9 * n) - 1;
    *p90 = ms[k < 0 ? 0 : k];
}

double nas_latency_clock_reference(double window_ms) {
    enum { CAP = 8192, MIN_LOOPS = 11 };
    double ms[CAP], median, p90, spent = 0;
    uint64_t state = 1;
    int n = 0;
    while (n < CAP && (n < MIN_LOOPS || spent < window_ms)) {
        ms[n] = nas_latency_clock_loop(&state);
        spent += ms[n++];
    }
    nas_latency_stats(ms, n, &median, &p90);
    return median;
}

nas_status nas_latency_pin(int threads, int *used, nas_error *err) {
    if (threads < 1) threads = omp_get_max_threads();
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return NAS_FAIL(err, NAS_ERR_IO, "latency: sched_getaffinity failed");
    int cpus[CPU_SETSIZE], ncpu = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &allowed)) cpus[ncpu++] = c;
    if (ncpu == 0) return NAS_FAIL(err, NAS_ERR_IO, "latency: no CPU in the affinity mask");
    omp_set_num_threads(threads);
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(+ : failed)
    {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpus[omp_get_thread_num() % ncpu], &one);
        failed += sched_setaffinity(0, sizeof one, &one) != 0;
    }
    if (failed) return NAS_FAIL(err, NAS_ERR_IO, "latency: sched_setaffinity failed for %d threads", failed);
    if (used) *used = threads;
    return NAS_OK;
}

/* Engine with random weights and a random input; buffers for the output. */
typedef struct bench_ctx {
    nas_engine *e;
    nas_param *params;
    int n_params;
    float *in, *out;
} bench_ctx;

static void bench_free(bench_ctx *b) {
    nas_engine_destroy(b->e);
    nas_engine_params_destroy(b->params, b->n_params);
    free(b->in);
    free(b->out);
}

static nas_status bench_init(const nas_arch *a, const nas_latency_opts *o, int reuse, bench_ctx *b,
                             nas_error *err) {
    pcg32 rng;
    nas_status s;
    memset(b, 0, sizeof *b);
    pcg32_seed(&rng, o->seed, 11);
    if ((s = nas_engine_params_create(a, &rng, &b->params, &b->n_params, err))) return s;
    if ((s = engine_build(a, o->batch, b->params, b->n_params, reuse, &b->e, err))) return s;
    size_t nin = (size_t)o->batch * (size_t)a->in_c * (size_t)a->in_h * (size_t)a->in_w;
    b->in = malloc(nin * sizeof *b->in);
    b->out = malloc((size_t)o->batch * (size_t)a->classes * sizeof *b->out);
    if (!b->in || !b->out) return eng_nomem(err);
    for (size_t i = 0; i < nin; i++) b->in[i] = (float)(2.0 * pcg32_double(&rng) - 1.0);
    return NAS_OK;
}

static nas_status check_opts(const nas_latency_opts *o, nas_error *err) {
    if (o->batch < 1 || o->runs < 1 || o->warmup < 0 || !(o->min_time_ms >= 0) ||
        o->min_time_ms > 3.6e6)
        return NAS_FAIL(
            err, NAS_ERR_INVALID,
            "latency: batch and runs must be >= 1, warmup >= 0, min_time_ms in 0..3600000");
    return NAS_OK;
}

/* Every clock loop time of a window, and the loop's chain state. */
typedef struct clock_track {
    uint64_t state;
    double *ms;
    int n, cap, nomem;
} clock_track;

/* Times the clock loop; returns its time and keeps it in c. */
static double clock_tick(clock_track *c) {
    double ms = nas_latency_clock_loop(&c->state);
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 256;
        double *g = realloc(c->ms, (size_t)cap * sizeof *g);
        if (!g) {
            c->nomem = 1;
            return ms;
        }
        c->ms = g;
        c->cap = cap;
    }
    c->ms[c->n++] = ms;
    return ms;
}

/* The median loop time of c (0 when none); frees c's times. */
static double clock_done(clock_track *c) {
    double med = 0, p90;
    if (c->n) nas_latency_stats(c->ms, c->n, &med, &p90);
    free(c->ms);
    c->ms = NULL;
    c->n = c->cap = 0;
    return med;
}

/* Times `runs` whole forward passes into ms[] (with o->clock, each divided
 * by the clock loop after it). */
static nas_status time_runs(bench_ctx *b, const nas_latency_opts *o, clock_track *c, double *ms,
                            nas_error *err) {
    nas_status s;
    for (int i = 0; i < o->warmup; i++)
        if ((s = nas_engine_run(b->e, b->in, b->out, err))) return s;
    for (int i = 0; i < o->runs; i++) {
        double t0 = nas_time_now();
        if ((s = nas_engine_run(b->e, b->in, b->out, err))) return s;
        ms[i] = (nas_time_now() - t0) * 1e3;
        if (o->clock) ms[i] /= clock_tick(c);
    }
    return NAS_OK;
}

/* The median of the fastest block of NAS_LATENCY_BLOCK consecutive entries
 * of ms (in run order; n >= 1). tmp has room for NAS_LATENCY_BLOCK. */
static double fastest_block(const double *ms, int n, double *tmp) {
    double best = 0, med, p90;
    if (n < NAS_LATENCY_BLOCK) {
        memcpy(tmp, ms, (size_t)n * sizeof *tmp);
        nas_latency_stats(tmp, n, &med, &p90);
        return med;
    }
    for (int i = 0; i + NAS_LATENCY_BLOCK <= n; i += NAS_LATENCY_BLOCK) {
        memcpy(tmp, ms + i, NAS_LATENCY_BLOCK * sizeof *tmp);
        nas_latency_stats(tmp, NAS_LATENCY_BLOCK, &med, &p90);
        if (i == 0 || med < best) best = med;
    }
    return best;
}

nas_status nas_latency_measure(const nas_arch *a, const nas_latency_opts *o, nas_latency *out,
                               nas_error *err) {
    bench_ctx b;
    nas_status s;
    double *ms = NULL, *ratio = NULL, tmp[NAS_LATENCY_BLOCK];
    int n = 0, cap = 0;
    clock_track c = {1, NULL, 0, 0, 0};
    memset(out, 0, sizeof *out);
    memset(&b, 0, sizeof b);
    if ((s = check_opts(o, err))) return s;
    if ((s = bench_init(a, o, 1, &b, err))) goto done;
    for (int i = 0; i < o->warmup; i++)
        if ((s = nas_engine_run(b.e, b.in, b.out, err))) goto done;
    double start = nas_time_now(), now = start;
    while (n < o->runs || (now - start) * 1e3 < o->min_time_ms) {
        if (n == cap) {
            int nc = cap ? 2 * cap : (o->runs > 64 ? o->runs : 64);
            double *g = realloc(ms, (size_t)nc * sizeof *g);
            if (g) ms = g;
            double *h = g && o->clock ? realloc(ratio, (size_t)nc * sizeof *h) : NULL;
            if (h) ratio = h;
            if (!g || (o->clock && !h)) {
                s = eng_nomem(err);
                goto done;
            }
            cap = nc;
        }
        double t0 = nas_time_now();
        if ((s = nas_engine_run(b.e, b.in, b.out, err))) goto done;
        now = nas_time_now();
        ms[n] = (now - t0) * 1e3;
        if (o->clock) {
            ratio[n] = ms[n] / clock_tick(&c);
            now = nas_time_now();
        }
        n++;
    }
    if (c.nomem) {
        s = eng_nomem(err);
        goto done;
    }
    out->span_ms = (now - start) * 1e3;
    out->block_ms = fastest_block(ms, n, tmp);
    if (o->clock) {
        double p90;
        nas_latency_stats(ratio, n, &out->clock_ratio, &p90);
        out->loop_ms = clock_done(&c);
    }
    double sum = 0;
    for (int i = 0; i < n; i++) sum += ms[i];
    out->mean_ms = sum / n;
    nas_latency_stats(ms, n, &out->median_ms, &out->p90_ms);
    out->min_ms = ms[0];
    out->batch = o->batch;
    out->runs = n;
    out->threads = o->threads > 0 ? o->threads : omp_get_max_threads();
done:
    clock_done(&c);
    free(ms);
    free(ratio);
    bench_free(&b);
    return s;
}

/* Median per node over runs of `groups` consecutive step ranges. */
typedef struct node_group {
    int from, to, node;
} node_group;

static nas_status time_nodes(nas_engine *e, const nas_latency_opts *o, int isolated, clock_track *c,
                             double *node_ms, nas_error *err) {
    nas_status s = NAS_OK;
    int ng = 0;
    node_group *g = malloc((size_t)(e->ns + 1) * sizeof *g);
    double *ms = malloc((size_t)o->runs * (size_t)(e->ns + 1) * sizeof *ms);
    if (!g || !ms) {
        s = eng_nomem(err);
        goto done;
    }
    for (int from = 0; from < e->ns;) {
        int to = from;
        while (to < e->ns && e->s[to].node == e->s[from].node) to++;
        g[ng++] = (node_group){from, to, e->s[from].node};
        from = to;
    }
    if (isolated) {
        /* each node alone, `runs` times in a row */
        for (int k = 0; k < ng; k++) {
            for (int r = 0; r < o->warmup; r++)
                if ((s = run_steps(e, g[k].from, g[k].to, err))) goto done;
            for (int r = 0; r < o->runs; r++) {
                double t0 = nas_time_now();
                if ((s = run_steps(e, g[k].from, g[k].to, err))) goto done;
                double *m = &ms[(size_t)k * (size_t)o->runs + (size_t)r];
                *m = (nas_time_now() - t0) * 1e3;
                if (o->clock) *m /= clock_tick(c);
            }
        }
    } else {
        /* each node timed inside whole forward passes */
        for (int r = -o->warmup; r < o->runs; r++) {
            for (int k = 0; k < ng; k++) {
                double t0 = nas_time_now();
                if ((s = run_steps(e, g[k].from, g[k].to, err))) goto done;
                if (r >= 0) ms[(size_t)k * (size_t)o->runs + (size_t)r] = (nas_time_now() - t0) * 1e3;
            }
            if (r >= 0 && o->clock) {
                double loop = clock_tick(c);
                for (int k = 0; k < ng; k++) ms[(size_t)k * (size_t)o->runs + (size_t)r] /= loop;
            }
        }
    }
    for (int k = 0; k < ng; k++) {
        double med, p90;
        nas_latency_stats(ms + (size_t)k * (size_t)o->runs, o->runs, &med, &p90);
        if (g[k].node >= 0) node_ms[g[k].node] += med;
    }
done:
    free(g);
    free(ms);
    return s;
}

nas_status nas_latency_profile_nodes(const nas_arch *a, const nas_latency_opts *o, int isolated,
                                     double *node_ms, double *total_ms, double *loop_ms,
                                     nas_error *err) {
    bench_ctx whole, solo;
    nas_status s;
    double *ms = NULL;
    clock_track c = {1, NULL, 0, 0, 0};
    memset(&solo, 0, sizeof solo);
    if ((s = check_opts(o, err))) return s;
    if ((s = bench_init(a, o, 1, &whole, err))) goto done;
    ms = malloc((size_t)o->runs * sizeof *ms);
    if (!ms) {
        s = eng_nomem(err);
        goto done;
    }
    if ((s = time_runs(&whole, o, &c, ms, err))) goto done;
    double p90;
    nas_latency_stats(ms, o->runs, total_ms, &p90);
    for (int i = 0; i < a->n_nodes; i++) node_ms[i] = 0;
    if (!isolated) {
        s = time_nodes(whole.e, o, 0, &c, node_ms, err);
        goto done;
    }
    /* an engine without buffer reuse, so that a node's input still holds its
     * value when the node runs again */
    if ((s = bench_init(a, o, 0, &solo, err))) goto done;
    if ((s = nas_engine_run(solo.e, solo.in, solo.out, err))) goto done;
    s = time_nodes(solo.e, o, 1, &c, node_ms, err);
done:
    if (s == NAS_OK && c.nomem) s = eng_nomem(err);
    double loop = clock_done(&c);
    if (loop_ms) *loop_ms = loop;
    free(ms);
    bench_free(&whole);
    bench_free(&solo);
    return s;
}
