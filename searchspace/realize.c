/*
 * realize.c - turns a point of a compiled space into a concrete arch.
 *
 * Walks the template made by lower.c with the point's values: a choice takes
 * its chosen branch, a repeat its chosen number of repetitions, a cell one op
 * per edge (node j = the sum of its incoming edges), a residual adds its input
 * (or its shortcut) to its body. Every layer goes through nas_arch_add, which
 * infers shapes and rejects impossible ones; the error names the source spot
 * and the layer's scope. Hyperparameters become the arch's hparams. It does
 * not check the point against the space beyond what it reads (point.c does).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "searchspace/compiler.h"

typedef struct rctx {
    const ss_space *s;
    const double *pt;
    nas_arch *a;
    nas_error *err;
    int line, col; /* source spot of a failure */
} rctx;

typedef struct rval {
    const char *ident; /* NULL for a number */
    double num;
} rval;

static int fail_at(rctx *r, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(rctx *r, int line, int col, const char *fmt, ...) {
    char msg[NAS_ERROR_MSG_MAX - 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->line = line;
    r->col = col;
    NAS_FAIL(r->err, NAS_ERR_INVALID, "%s:%d:%d: %s", r->s->path, line, col, msg);
    return 0;
}

static int choice_index(rctx *r, int dec, int line, int col, int *idx) {
    const ss_decision *d = &r->s->decisions[dec];
    double v = r->pt[dec];
    if (!(v >= 0 && v < d->dom.n) || v != floor(v))
        return fail_at(r, line, col, "decision '%s' has value %g, not an option index 0..%d",
                       d->name, v, d->dom.n - 1);
    *idx = (int)v;
    return 1;
}

static int eval(rctx *r, const ss_tval *v, rval *out) {
    rval a, b;
    out->ident = NULL;
    out->num = 0;
    switch (v->kind) {
    case SS_V_NUM: out->num = v->num; return 1;
    case SS_V_IDENT: out->ident = v->ident; return 1;
    case SS_V_DEC: {
        const ss_decision *d = &r->s->decisions[v->dec];
        if (d->dom.kind == SS_DOMAIN_CHOICE) {
            int i = 0;
            if (!choice_index(r, v->dec, v->line, v->col, &i)) return 0;
            if (isnan(d->dom.nums[i])) out->ident = d->dom.labels[i];
            else out->num = d->dom.nums[i];
            return 1;
        }
        out->num = r->pt[v->dec];
        if (!isfinite(out->num))
            return fail_at(r, v->line, v->col, "decision '%s' is not a finite number", d->name);
        return 1;
    }
    case SS_V_NEG:
        if (!eval(r, v->l, &a)) return 0;
        if (a.ident) return fail_at(r, v->line, v->col, "arithmetic on '%s'", a.ident);
        out->num = -a.num;
        return 1;
    case SS_V_BIN:
        if (!eval(r, v->l, &a) || !eval(r, v->r, &b)) return 0;
        if (a.ident || b.ident)
            return fail_at(r, v->line, v->col, "arithmetic on '%s'", a.ident ? a.ident : b.ident);
        switch (v->op) {
        case '+': out->num = a.num + b.num; break;
        case '-': out->num = a.num - b.num; break;
        case '*': out->num = a.num * b.num; break;
        default:
            if (b.num == 0) return fail_at(r, v->line, v->col, "division by zero");
            out->num = a.num / b.num;
        }
        return 1;
    }
    return 0;
}

static int eval_int(rctx *r, const ss_tval *v, const char *what, int *out) {
    rval x;
    if (!eval(r, v, &x)) return 0;
    if (x.ident) {
        if (!strcmp(x.ident, "yes") || !strcmp(x.ident, "true")) x.num = 1;
        else if (!strcmp(x.ident, "no") || !strcmp(x.ident, "false")) x.num = 0;
        else return fail_at(r, v->line, v->col, "'%s' must be a number, got '%s'", what, x.ident);
    }
    if (x.num != floor(x.num) || fabs(x.num) > INT32_MAX)
        return fail_at(r, v->line, v->col, "'%s' must be a whole number, got %g", what, x.num);
    *out = (int)x.num;
    return 1;
}

static int add_node(rctx *r, const ss_tnet *t, nas_node *nd) {
    snprintf(nd->scope, sizeof nd->scope, "%s", t->scope);
    int idx;
    nas_error e;
    if (nas_arch_add(r->a, nd, &idx, &e)) {
        if (t->scope[0]) fail_at(r, t->line, t->col, "%s: %s", t->scope, e.msg);
        else fail_at(r, t->line, t->col, "%s", e.msg);
        return -1;
    }
    return idx;
}

static int realize_op(rctx *r, const ss_tnet *t, int cur) {
    const ss_op_spec *op = t->spec;
    const nas_node *in = &r->a->nodes[cur];
    nas_node nd = nas_node_make(op->op);
    nd.n_inputs = 1;
    nd.inputs[0] = cur;
    nd.out = in->c;
    if (op->op == NAS_OP_FC) nd.bias = 1;
    if (op->op == NAS_OP_MAXPOOL || op->op == NAS_OP_AVGPOOL) nd.pad = 0;
    if (op->op == NAS_OP_ZERO || op->op == NAS_OP_FC) nd.out = 0;
    if (op->variant == 2) nd.kernel = 1;
    if (op->op == NAS_OP_RESBLOCK) nd.kernel = 3;
    int *islot[SS_P_COUNT] = {&nd.out,    &nd.kernel, &nd.stride, &nd.pad, &nd.dilation,
                              &nd.groups, &nd.expand, &nd.se,     NULL,    &nd.bias,
                              NULL};
    for (int s = 0; s < SS_P_COUNT; s++) {
        const ss_tval *v = t->p[s];
        if (!v) continue;
        if (s == SS_P_ACT) {
            rval x;
            if (!eval(r, v, &x)) return -1;
            nas_op act = x.ident ? nas_op_from_name(x.ident) : NAS_OP_COUNT;
            if (!nas_op_is_activation(act))
                return fail_at(r, v->line, v->col, "'act' must be an activation"), -1;
            nd.act = act;
        } else if (s == SS_P_RATE) {
            rval x;
            if (!eval(r, v, &x)) return -1;
            if (x.ident) return fail_at(r, v->line, v->col, "'rate' must be a number"), -1;
            nd.rate = x.num;
        } else if (!eval_int(r, v, ss_pslot_name((ss_pslot)s), islot[s])) {
            return -1;
        }
    }
    if ((op->op == NAS_OP_MAXPOOL || op->op == NAS_OP_AVGPOOL) && !t->p[SS_P_STRIDE])
        nd.stride = nd.kernel;
    if (op->variant == 1) nd.groups = in->c, nd.out = in->c;
    return add_node(r, t, &nd);
}

static int realize_net(rctx *r, const ss_tnet *t, int cur);

static int realize_cell(rctx *r, const ss_tnet *t, int cur) {
    int node[16], outs[16];
    node[0] = cur;
    for (int j = 1; j < t->nodes; j++) {
        int n = 0;
        for (int e = 0; e < t->n_edges; e++) {
            const ss_cell_edge *ed = &t->edges[e];
            if (ed->to != j) continue;
            int from = ed->from, op = 0;
            if (from < 0 && !choice_index(r, ed->in_dec, t->line, t->col, &from)) return -1;
            if (!choice_index(r, ed->op_dec, t->line, t->col, &op)) return -1;
            int o = realize_net(r, ed->ops[op], node[from]);
            if (o < 0) return -1;
            outs[n++] = o;
        }
        if (n == 1) {
            node[j] = outs[0];
            continue;
        }
        nas_node add = nas_node_make(NAS_OP_ADD);
        add.n_inputs = n;
        memcpy(add.inputs, outs, (size_t)n * sizeof *outs);
        if ((node[j] = add_node(r, t, &add)) < 0) return -1;
    }
    return node[t->nodes - 1];
}

static int realize_net(rctx *r, const ss_tnet *t, int cur) {
    switch (t->kind) {
    case SS_T_SEQ:
        for (int i = 0; i < t->n && cur >= 0; i++) cur = realize_net(r, t->items[i], cur);
        return cur;
    case SS_T_OP: return realize_op(r, t, cur);
    case SS_T_CHOICE: {
        int i = 0;
        if (!choice_index(r, t->dec, t->line, t->col, &i)) return -1;
        return realize_net(r, t->items[i], cur);
    }
    case SS_T_REPEAT: {
        int depth;
        if (!eval_int(r, t->depth, "depth", &depth)) return -1;
        if (depth < 1 || depth > t->n)
            return fail_at(r, t->line, t->col, "depth %d outside 1..%d", depth, t->n), -1;
        for (int i = 0; i < depth && cur >= 0; i++) cur = realize_net(r, t->items[i], cur);
        return cur;
    }
    case SS_T_RESIDUAL: {
        int body = realize_net(r, t->body, cur);
        if (body < 0) return -1;
        int sc = t->shortcut ? realize_net(r, t->shortcut, cur) : cur;
        if (sc < 0) return -1;
        nas_node add = nas_node_make(NAS_OP_ADD);
        add.n_inputs = 2;
        add.inputs[0] = body;
        add.inputs[1] = sc;
        return add_node(r, t, &add);
    }
    case SS_T_CELL: return realize_cell(r, t, cur);
    }
    return -1;
}

nas_status ss_realize(const ss_space *s, const double *point, int with_point, nas_arch **out,
                      int *line, int *col, nas_error *err) {
    *out = NULL;
    if (!s->tmpl)
        return NAS_FAIL(err, NAS_ERR_INVALID, "space '%s' was not compiled and cannot realize",
                        s->name);
    const struct ss_template *tm = s->tmpl;
    nas_arch *a = tm->net ? nas_arch_create(s->in_c, s->in_h, s->in_w, s->classes)
                          : nas_arch_create(0, 0, 0, 0);
    if (!a) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    rctx r = {s, point, a, err, 0, 0};
    nas_status st = NAS_ERR_INVALID;
    if (tm->net) {
        int last = realize_net(&r, tm->net, 0);
        if (last < 0) goto fail;
        const nas_node *o = &a->nodes[a->n_nodes - 1];
        if (last != a->n_nodes - 1 || o->c != s->classes || o->h != 1 || o->w != 1) {
            fail_at(&r, tm->net->line, tm->net->col,
                    "the network ends in %dx%dx%d but must end in %dx1x1 (end it with fc(out = "
                    "classes))",
                    o->c, o->h, o->w, s->classes);
            goto fail;
        }
    }
    for (int i = 0; i < tm->n_hparams; i++) {
        rval v;
        if (!eval(&r, tm->hparams[i].val, &v)) goto fail;
        st = v.ident ? nas_arch_set_hparam_str(a, tm->hparams[i].name, v.ident, err)
                     : nas_arch_set_hparam_num(a, tm->hparams[i].name, v.num, err);
        if (st) goto fail;
    }
    snprintf(a->space_name, sizeof a->space_name, "%s", s->name);
    snprintf(a->space_hash, sizeof a->space_hash, "%s", s->hash);
    if (with_point) {
        char *json = ss_point_to_json(s, point);
        if (!json) {
            st = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        st = nas_arch_set_point(a, json, err);
        free(json);
        if (st) goto fail;
    }
    *out = a;
    return NAS_OK;
fail:
    if (line) *line = r.line;
    if (col) *col = r.col;
    nas_arch_destroy(a);
    return st ? st : NAS_ERR_INVALID;
}

nas_status ss_space_realize(const ss_space *s, const double *point, nas_arch **out, nas_error *err) {
    return ss_realize(s, point, 1, out, NULL, NULL, err);
}
