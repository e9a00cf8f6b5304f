/*
 * arch.c - the arch IR: construction with shape inference, checks, hashing,
 * arch.json (de)serialisation and the readable table (see arch.h).
 * It knows nothing of search spaces, layers or costs.
 */
#include "nas/core/arch.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nas/core/fileio.h"
#include "nas/core/json.h"

/* ---- op names and the parameters each op uses ---- */

enum {
    F_OUT = 1 << 0,
    F_KERNEL = 1 << 1,
    F_STRIDE = 1 << 2,
    F_PAD = 1 << 3,
    F_DIL = 1 << 4,
    F_GROUPS = 1 << 5,
    F_EXPAND = 1 << 6,
    F_SE = 1 << 7,
    F_ACT = 1 << 8,
    F_BIAS = 1 << 9,
    F_RATE = 1 << 10,
};

static const struct {
    const char *name;
    unsigned fields;
} OPS[NAS_OP_COUNT] = {
    [NAS_OP_INPUT] = {"input", 0},
    [NAS_OP_CONV] = {"conv", F_OUT | F_KERNEL | F_STRIDE | F_PAD | F_DIL | F_GROUPS | F_BIAS},
    [NAS_OP_BN] = {"bn", 0},
    [NAS_OP_RELU] = {"relu", 0},
    [NAS_OP_RELU6] = {"relu6", 0},
    [NAS_OP_HSWISH] = {"hswish", 0},
    [NAS_OP_SIGMOID] = {"sigmoid", 0},
    [NAS_OP_MBCONV] = {"mbconv", F_OUT | F_KERNEL | F_STRIDE | F_EXPAND | F_SE | F_ACT},
    [NAS_OP_RESBLOCK] = {"resblock", F_OUT | F_KERNEL | F_STRIDE | F_ACT},
    [NAS_OP_MAXPOOL] = {"maxpool", F_KERNEL | F_STRIDE | F_PAD},
    [NAS_OP_AVGPOOL] = {"avgpool", F_KERNEL | F_STRIDE | F_PAD},
    [NAS_OP_GAP] = {"global_avg_pool", 0},
    [NAS_OP_FLATTEN] = {"flatten", 0},
    [NAS_OP_DROPOUT] = {"dropout", F_RATE},
    [NAS_OP_FC] = {"fc", F_OUT | F_BIAS},
    [NAS_OP_IDENTITY] = {"identity", 0},
    [NAS_OP_ZERO] = {"zero", F_OUT | F_STRIDE},
    [NAS_OP_ADD] = {"add", 0},
    [NAS_OP_CONCAT] = {"concat", 0},
};

const char *nas_op_name(nas_op op) {
    return (op >= 0 && op < NAS_OP_COUNT) ? OPS[op].name : "?";
}

nas_op nas_op_from_name(const char *name) {
    if (!name) return NAS_OP_COUNT;
    for (int i = 0; i < NAS_OP_COUNT; i++)
        if (!strcmp(name, OPS[i].name)) return (nas_op)i;
    static const struct {
        const char *alias;
        nas_op op;
    } ALIASES[] = {{"skip", NAS_OP_IDENTITY}, {"none", NAS_OP_ZERO}, {"gap", NAS_OP_GAP},
                   {"batchnorm", NAS_OP_BN}};
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (!strcmp(name, ALIASES[i].alias)) return ALIASES[i].op;
    return NAS_OP_COUNT;
}

int nas_op_is_activation(nas_op op) {
    return op == NAS_OP_RELU || op == NAS_OP_RELU6 || op == NAS_OP_HSWISH || op == NAS_OP_SIGMOID;
}

/* ---- construction ---- */

nas_arch *nas_arch_create(int in_c, int in_h, int in_w, int classes) {
    nas_arch *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->in_c = in_c;
    a->in_h = in_h;
    a->in_w = in_w;
    a->classes = classes;
    if (in_c > 0) {
        a->cap_nodes = 16;
        a->nodes = calloc((size_t)a->cap_nodes, sizeof *a->nodes);
        if (!a->nodes) {
            free(a);
            return NULL;
        }
        nas_node *in = &a->nodes[0];
        *in = nas_node_make(NAS_OP_INPUT);
        in->c = in_c;
        in->h = in_h;
        in->w = in_w;
        a->n_nodes = 1;
    }
    return a;
}

void nas_arch_destroy(nas_arch *a) {
    if (!a) return;
    for (int i = 0; i < a->n_hparams; i++) free(a->hparams[i].str);
    free(a->hparams);
    free(a->nodes);
    free(a->point_json);
    free(a);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

nas_arch *nas_arch_clone(const nas_arch *a) {
    nas_arch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    *b = *a;
    b->nodes = NULL;
    b->hparams = NULL;
    b->point_json = NULL;
    b->n_hparams = 0;
    if (a->cap_nodes) {
        b->nodes = malloc((size_t)a->cap_nodes * sizeof *b->nodes);
        if (!b->nodes) goto fail;
        memcpy(b->nodes, a->nodes, (size_t)a->n_nodes * sizeof *b->nodes);
    }
    if (a->cap_hparams) {
        b->hparams = calloc((size_t)a->cap_hparams, sizeof *b->hparams);
        if (!b->hparams) goto fail;
        for (int i = 0; i < a->n_hparams; i++) {
            b->hparams[i] = a->hparams[i];
            b->hparams[i].str = NULL;
            if (a->hparams[i].str && !(b->hparams[i].str = dup_str(a->hparams[i].str)))
                goto fail;
            b->n_hparams = i + 1;
        }
    }
    if (a->point_json && !(b->point_json = dup_str(a->point_json))) goto fail;
    return b;
fail:
    nas_arch_destroy(b);
    return NULL;
}

nas_node nas_node_make(nas_op op) {
    nas_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    n.stride = 1;
    n.dilation = 1;
    n.groups = 1;
    n.pad = -1;
    n.expand = 1;
    n.act = NAS_OP_RELU;
    return n;
}

/* ---- shape inference ---- */

/* Output size of a window op along one axis; < 1 means no output. */
static int window_out(int in, int kernel, int stride, int pad, int dilation) {
    int eff = dilation * (kernel - 1) + 1;
    if (in + 2 * pad < eff) return 0;
    return (in + 2 * pad - eff) / stride + 1;
}

#define NODE_FAIL(...)                                                                         \
    do {                                                                                       \
        char m_[512];                                                                          \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                  \
        return NAS_FAIL(err, NAS_ERR_INVALID, "node %d (%s): %s", idx, nas_op_name(n->op), m_); \
    } while (0)

static nas_status check_params(const nas_node *n, int idx, nas_error *err) {
    unsigned f = OPS[n->op].fields;
    if ((f & F_OUT) && n->out < (n->op == NAS_OP_ZERO ? 0 : 1))
        NODE_FAIL("out must be >= 1, got %d", n->out);
    if ((f & F_KERNEL) && (n->kernel < 1 || n->kernel > 64))
        NODE_FAIL("kernel must be in 1..64, got %d", n->kernel);
    if ((f & F_STRIDE) && (n->stride < 1 || n->stride > 64))
        NODE_FAIL("stride must be in 1..64, got %d", n->stride);
    if ((f & F_PAD) && (n->pad < -1 || n->pad > 64)) NODE_FAIL("pad must be in 0..64, got %d", n->pad);
    if ((f & F_DIL) && (n->dilation < 1 || n->dilation > 64))
        NODE_FAIL("dilation must be in 1..64, got %d", n->dilation);
    if ((f & F_GROUPS) && n->groups < 1) NODE_FAIL("groups must be >= 1, got %d", n->groups);
    if ((f & F_EXPAND) && (n->expand < 1 || n->expand > 64))
        NODE_FAIL("expand must be in 1..64, got %d", n->expand);
    if ((f & F_SE) && n->se != 0 && n->se != 1) NODE_FAIL("se must be 0 or 1, got %d", n->se);
    if ((f & F_ACT) && !nas_op_is_activation(n->act))
        NODE_FAIL("act must be relu, relu6, hswish or sigmoid");
    if ((f & F_BIAS) && n->bias != 0 && n->bias != 1) NODE_FAIL("bias must be 0 or 1, got %d", n->bias);
    if ((f & F_RATE) && !(n->rate >= 0.0 && n->rate < 1.0))
        NODE_FAIL("rate must be in [0, 1), got %g", n->rate);
    if (n->op == NAS_OP_MBCONV && n->kernel % 2 == 0)
        NODE_FAIL("kernel must be odd, got %d", n->kernel);
    return NAS_OK;
}

/* Fills n's defaults and shape from its inputs (nodes[0..idx) of a). */
static nas_status infer_node(const nas_arch *a, nas_node *n, int idx, nas_error *err) {
    if (n->op < 0 || n->op >= NAS_OP_COUNT) return NAS_FAIL(err, NAS_ERR_INVALID, "node %d: unknown op", idx);
    if (n->op == NAS_OP_INPUT) {
        if (idx != 0) NODE_FAIL("only node 0 may be the input");
        n->n_inputs = 0;
        n->c = a->in_c;
        n->h = a->in_h;
        n->w = a->in_w;
        return NAS_OK;
    }
    if (idx == 0) NODE_FAIL("node 0 must be the input");
    int multi = n->op == NAS_OP_ADD || n->op == NAS_OP_CONCAT;
    if (multi && (n->n_inputs < 2 || n->n_inputs > NAS_ARCH_MAX_INPUTS))
        NODE_FAIL("needs 2..%d inputs, got %d", NAS_ARCH_MAX_INPUTS, n->n_inputs);
    if (!multi && n->n_inputs != 1) NODE_FAIL("needs exactly 1 input, got %d", n->n_inputs);
    for (int i = 0; i < n->n_inputs; i++)
        if (n->inputs[i] < 0 || n->inputs[i] >= idx)
            NODE_FAIL("input %d must be an earlier node (0..%d)", n->inputs[i], idx - 1);
    nas_status s = check_params(n, idx, err);
    if (s) return s;

    const nas_node *x = &a->nodes[n->inputs[0]];
    int c = x->c, h = x->h, w = x->w;
    if ((OPS[n->op].fields & F_PAD) && n->pad < 0) n->pad = n->dilation * (n->kernel - 1) / 2;
    switch (n->op) {
    case NAS_OP_CONV:
        if (c % n->groups || n->out % n->groups)
            NODE_FAIL("groups %d must divide both input channels %d and out %d", n->groups, c, n->out);
        n->c = n->out;
        n->h = window_out(h, n->kernel, n->stride, n->pad, n->dilation);
        n->w = window_out(w, n->kernel, n->stride, n->pad, n->dilation);
        break;
    case NAS_OP_MBCONV:
    case NAS_OP_RESBLOCK:
        n->c = n->out;
        n->h = window_out(h, n->kernel, n->stride, n->kernel / 2, 1);
        n->w = window_out(w, n->kernel, n->stride, n->kernel / 2, 1);
        break;
    case NAS_OP_MAXPOOL:
    case NAS_OP_AVGPOOL:
        if (n->pad * 2 >= n->kernel + (n->kernel % 2 == 0))
            NODE_FAIL("pad %d must be less than half the kernel %d", n->pad, n->kernel);
        n->c = c;
        n->h = window_out(h, n->kernel, n->stride, n->pad, 1);
        n->w = window_out(w, n->kernel, n->stride, n->pad, 1);
        break;
    case NAS_OP_GAP:
        n->c = c, n->h = 1, n->w = 1;
        break;
    case NAS_OP_FLATTEN:
        if ((long long)c * h * w > 1 << 30) NODE_FAIL("%dx%dx%d is too large to flatten", c, h, w);
        n->c = c * h * w, n->h = 1, n->w = 1;
        break;
    case NAS_OP_FC:
        if (h != 1 || w != 1)
            NODE_FAIL("needs a flat input (Cx1x1), got %dx%dx%d: add flatten or global_avg_pool", c, h, w);
        n->c = n->out, n->h = 1, n->w = 1;
        break;
    case NAS_OP_ZERO:
        n->c = n->out > 0 ? n->out : c;
        n->h = (h - 1) / n->stride + 1;
        n->w = (w - 1) / n->stride + 1;
        break;
    case NAS_OP_ADD:
    case NAS_OP_CONCAT:
        n->c = 0, n->h = h, n->w = w;
        for (int i = 0; i < n->n_inputs; i++) {
            const nas_node *y = &a->nodes[n->inputs[i]];
            int same = n->op == NAS_OP_ADD ? (y->c == c && y->h == h && y->w == w)
                                           : (y->h == h && y->w == w);
            if (!same)
                NODE_FAIL("input %d is %dx%dx%d but input %d is %dx%dx%d", n->inputs[0], c, h, w,
                          n->inputs[i], y->c, y->h, y->w);
            n->c = n->op == NAS_OP_ADD ? c : n->c + y->c;
        }
        break;
    default: /* bn, activations, dropout, identity: shape preserving */
        n->c = c, n->h = h, n->w = w;
        break;
    }
    if (n->h < 1 || n->w < 1)
        NODE_FAIL("a %dx%d input with kernel %d and stride %d gives a map smaller than 1x1", h, w,
                  n->kernel, n->stride);
    return NAS_OK;
}

static nas_status grow_nodes(nas_arch *a, nas_error *err) {
    if (a->n_nodes < a->cap_nodes) return NAS_OK;
    int cap = a->cap_nodes ? a->cap_nodes * 2 : 16;
    nas_node *grown = realloc(a->nodes, (size_t)cap * sizeof *grown);
    if (!grown) return NAS_FAIL(err, NAS_ERR_NOMEM, "arch: out of memory");
    a->nodes = grown;
    a->cap_nodes = cap;
    return NAS_OK;
}

nas_status nas_arch_add(nas_arch *a, const nas_node *node, int *index, nas_error *err) {
    if (a->in_c <= 0)
        return NAS_FAIL(err, NAS_ERR_INVALID, "arch without an input cannot hold nodes");
    nas_node n = *node;
    nas_status s = infer_node(a, &n, a->n_nodes, err);
    if (s) return s;
    if ((s = grow_nodes(a, err))) return s;
    a->nodes[a->n_nodes] = n;
    if (index) *index = a->n_nodes;
    a->n_nodes++;
    return NAS_OK;
}

int nas_arch_chain(nas_arch *a, nas_node node, int from, nas_error *err) {
    node.n_inputs = 1;
    node.inputs[0] = from;
    int idx = -1;
    return nas_arch_add(a, &node, &idx, err) ? -1 : idx;
}

nas_status nas_arch_check(nas_arch *a, nas_error *err) {
    if (a->in_c == 0 && a->in_h == 0 && a->in_w == 0) {
        if (a->n_nodes != 0)
            return NAS_FAIL(err, NAS_ERR_INVALID, "an arch without an input has no nodes");
        return NAS_OK;
    }
    if (a->in_c < 1 || a->in_h < 1 || a->in_w < 1 || a->in_c > 4096 || a->in_h > 16384 ||
        a->in_w > 16384)
        return NAS_FAIL(err, NAS_ERR_INVALID, "input %dx%dx%d is not a valid image shape", a->in_c,
                        a->in_h, a->in_w);
    if (a->classes < 1) return NAS_FAIL(err, NAS_ERR_INVALID, "classes must be >= 1, got %d", a->classes);
    if (a->n_nodes < 2) return NAS_FAIL(err, NAS_ERR_INVALID, "arch has no layers");
    for (int i = 0; i < a->n_nodes; i++) {
        nas_status s = infer_node(a, &a->nodes[i], i, err);
        if (s) return s;
    }
    const nas_node *last = &a->nodes[a->n_nodes - 1];
    if (last->c != a->classes || last->h != 1 || last->w != 1)
        return NAS_FAIL(err, NAS_ERR_INVALID,
                        "the last node (%d, %s) gives %dx%dx%d, expected the logits %dx1x1",
                        a->n_nodes - 1, nas_op_name(last->op), last->c, last->h, last->w, a->classes);
    return NAS_OK;
}

/* ---- hyperparameters and point ---- */

static nas_hparam *hparam_slot(nas_arch *a, const char *name, nas_error *err) {
    if (strlen(name) >= NAS_ARCH_NAME_MAX) {
        NAS_FAIL(err, NAS_ERR_INVALID, "hyperparameter name '%.40s...' is too long", name);
        return NULL;
    }
    for (int i = 0; i < a->n_hparams; i++)
        if (!strcmp(a->hparams[i].name, name)) return &a->hparams[i];
    if (a->n_hparams == a->cap_hparams) {
        int cap = a->cap_hparams ? a->cap_hparams * 2 : 8;
        nas_hparam *grown = realloc(a->hparams, (size_t)cap * sizeof *grown);
        if (!grown) {
            NAS_FAIL(err, NAS_ERR_NOMEM, "arch: out of memory");
            return NULL;
        }
        a->hparams = grown;
        a->cap_hparams = cap;
    }
    nas_hparam *h = &a->hparams[a->n_hparams++];
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", name);
    return h;
}

nas_status nas_arch_set_hparam_num(nas_arch *a, const char *name, double v, nas_error *err) {
    nas_hparam *h = hparam_slot(a, name, err);
    if (!h) return err ? err->code : NAS_ERR_INVALID;
    free(h->str);
    h->str = NULL;
    h->num = v;
    return NAS_OK;
}

nas_status nas_arch_set_hparam_str(nas_arch *a, const char *name, const char *v, nas_error *err) {
    char *copy = dup_str(v);
    if (!copy) return NAS_FAIL(err, NAS_ERR_NOMEM, "arch: out of memory");
    nas_hparam *h = hparam_slot(a, name, err);
    if (!h) {
        free(copy);
        return err ? err->code : NAS_ERR_INVALID;
    }
    free(h->str);
    h->str = copy;
    h->num = 0;
    return NAS_OK;
}

const nas_hparam *nas_arch_hparam(const nas_arch *a, const char *name) {
    for (int i = 0; i < a->n_hparams; i++)
        if (!strcmp(a->hparams[i].name, name)) return &a->hparams[i];
    return NULL;
}

nas_status nas_arch_set_point(nas_arch *a, const char *json, nas_error *err) {
    char *copy = NULL;
    if (json && !(copy = dup_str(json))) return NAS_FAIL(err, NAS_ERR_NOMEM, "arch: out of memory");
    free(a->point_json);
    a->point_json = copy;
    return NAS_OK;
}

/* ---- hashing ---- */

static uint64_t fnv_int(uint64_t h, int64_t v) {
    for (int i = 0; i < 8; i++) {
        h ^= (uint64_t)(v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t nas_arch_hash(const nas_arch *a) {
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv_int(h, a->in_c);
    h = fnv_int(h, a->in_h);
    h = fnv_int(h, a->in_w);
    h = fnv_int(h, a->classes);
    h = fnv_int(h, a->n_nodes);
    for (int i = 0; i < a->n_nodes; i++) {
        const nas_node *n = &a->nodes[i];
        unsigned f = OPS[n->op].fields;
        h = fnv_int(h, n->op);
        h = fnv_int(h, n->n_inputs);
        for (int j = 0; j < n->n_inputs; j++) h = fnv_int(h, n->inputs[j]);
        int64_t params[] = {f & F_OUT ? n->out : 0,       f & F_KERNEL ? n->kernel : 0,
                            f & F_STRIDE ? n->stride : 0, f & F_PAD ? n->pad : 0,
                            f & F_DIL ? n->dilation : 0,  f & F_GROUPS ? n->groups : 0,
                            f & F_EXPAND ? n->expand : 0, f & F_SE ? n->se : 0,
                            f & F_ACT ? n->act : 0,       f & F_BIAS ? n->bias : 0};
        for (size_t j = 0; j < sizeof params / sizeof params[0]; j++) h = fnv_int(h, params[j]);
        if (f & F_RATE) {
            int64_t bits;
            double r = n->rate;
            memcpy(&bits, &r, sizeof bits);
            h = fnv_int(h, bits);
        }
    }
    return h;
}

/* ---- arch.json ---- */

#define ARCH_FORMAT "nas-arch"
#define ARCH_VERSION 1

static cJSON *shape_json(int c, int h, int w) {
    int v[3] = {c, h, w};
    return cJSON_CreateIntArray(v, 3);
}

/* cJSON prints 15 significant digits; a double needs 17 to read back
 * exactly (rates are hashed, hyperparameters must survive round trips).
 * The shortest text that reads back: 10, not 1e+01 (%.1g). */
static cJSON *exact_number(double v) {
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    for (int prec = 1; prec < 17; prec++) {
        char shorter[40];
        snprintf(shorter, sizeof shorter, "%.*g", prec, v);
        if (strtod(shorter, NULL) == v && strlen(shorter) < strlen(buf)) memcpy(buf, shorter, sizeof buf);
    }
    return isfinite(v) ? cJSON_CreateRaw(buf) : cJSON_CreateNull();
}

static int add_json(cJSON *obj, const char *key, cJSON *item) {
    if (!item) return 0;
    return cJSON_AddItemToObject(obj, key, item) ? 1 : 0;
}

nas_status nas_arch_to_json(const nas_arch *a, char **json, nas_error *err) {
    *json = NULL;
    cJSON *root = cJSON_CreateObject(), *point = NULL;
    int ok = root != NULL;
    ok = ok && cJSON_AddStringToObject(root, "format", ARCH_FORMAT);
    ok = ok && cJSON_AddNumberToObject(root, "version", ARCH_VERSION);
    ok = ok && cJSON_AddStringToObject(root, "space", a->space_name);
    ok = ok && cJSON_AddStringToObject(root, "space_hash", a->space_hash);
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)nas_arch_hash(a));
    ok = ok && cJSON_AddStringToObject(root, "arch_hash", hash);
    ok = ok && add_json(root, "input", shape_json(a->in_c, a->in_h, a->in_w));
    ok = ok && cJSON_AddNumberToObject(root, "classes", a->classes);
    cJSON *hp = ok ? cJSON_AddObjectToObject(root, "hparams") : NULL;
    ok = ok && hp;
    for (int i = 0; ok && i < a->n_hparams; i++) {
        const nas_hparam *h = &a->hparams[i];
        ok = h->str ? cJSON_AddStringToObject(hp, h->name, h->str) != NULL
                    : add_json(hp, h->name, exact_number(h->num));
    }
    if (ok && a->point_json) {
        point = cJSON_Parse(a->point_json);
        if (!point) {
            cJSON_Delete(root);
            return NAS_FAIL(err, NAS_ERR_INVALID, "arch: the stored point is not valid JSON");
        }
        ok = add_json(root, "point", point);
        if (!ok) cJSON_Delete(point);
    }
    cJSON *nodes = ok ? cJSON_AddArrayToObject(root, "nodes") : NULL;
    ok = ok && nodes;
    for (int i = 0; ok && i < a->n_nodes; i++) {
        const nas_node *n = &a->nodes[i];
        unsigned f = OPS[n->op].fields;
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(nodes, o);
        if (!ok) {
            cJSON_Delete(o);
            break;
        }
        ok = ok && cJSON_AddNumberToObject(o, "id", i);
        ok = ok && cJSON_AddStringToObject(o, "op", nas_op_name(n->op));
        if (n->op != NAS_OP_INPUT) ok = ok && add_json(o, "in", cJSON_CreateIntArray(n->inputs, n->n_inputs));
        if (f & F_OUT) ok = ok && cJSON_AddNumberToObject(o, "out", n->out);
        if (f & F_KERNEL) ok = ok && cJSON_AddNumberToObject(o, "kernel", n->kernel);
        if (f & F_STRIDE) ok = ok && cJSON_AddNumberToObject(o, "stride", n->stride);
        if (f & F_PAD) ok = ok && cJSON_AddNumberToObject(o, "pad", n->pad);
        if (f & F_DIL) ok = ok && cJSON_AddNumberToObject(o, "dilation", n->dilation);
        if (f & F_GROUPS) ok = ok && cJSON_AddNumberToObject(o, "groups", n->groups);
        if (f & F_EXPAND) ok = ok && cJSON_AddNumberToObject(o, "expand", n->expand);
        if (f & F_SE) ok = ok && cJSON_AddBoolToObject(o, "se", n->se);
        if (f & F_ACT) ok = ok && cJSON_AddStringToObject(o, "act", nas_op_name(n->act));
        if (f & F_BIAS) ok = ok && cJSON_AddBoolToObject(o, "bias", n->bias);
        if (f & F_RATE) ok = ok && add_json(o, "rate", exact_number(n->rate));
        ok = ok && add_json(o, "shape", shape_json(n->c, n->h, n->w));
        if (n->scope[0]) ok = ok && cJSON_AddStringToObject(o, "scope", n->scope);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return NAS_FAIL(err, NAS_ERR_NOMEM, "arch: out of memory writing JSON");
    *json = text;
    return NAS_OK;
}

/* Reads an integer field into *out; absent fields keep *out unless required. */
static nas_status get_int(const cJSON *o, const char *key, int lo, int hi, int required, int *out,
                          const char *where, nas_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (required) return NAS_FAIL(err, NAS_ERR_INVALID, "%s.%s: missing", where, key);
        return NAS_OK;
    }
    if (cJSON_IsBool(v)) {
        if (lo > 0 || hi < 1)
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s.%s: expected an integer in %d..%d", where, key, lo, hi);
        *out = cJSON_IsTrue(v);
        return NAS_OK;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= lo && d <= hi) || d != floor(d))
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s.%s: expected an integer in %d..%d", where, key, lo, hi);
    *out = (int)d;
    return NAS_OK;
}

static nas_status get_shape(const cJSON *v, int *c, int *h, int *w, const char *where, nas_error *err) {
    int vals[3];
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: expected [C, H, W]", where);
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, i);
        double d = cJSON_IsNumber(e) ? e->valuedouble : NAN;
        if (!(d >= 0 && d <= 1 << 30) || d != floor(d))
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s[%d]: expected a non-negative integer", where, i);
        vals[i] = (int)d;
    }
    *c = vals[0], *h = vals[1], *w = vals[2];
    return NAS_OK;
}

static nas_status parse_node(nas_arch *a, const cJSON *o, int i, nas_error *err) {
    char where[48];
    snprintf(where, sizeof where, "nodes[%d]", i);
    if (!cJSON_IsObject(o)) return NAS_FAIL(err, NAS_ERR_INVALID, "%s: expected an object", where);
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
    if (!cJSON_IsString(op)) return NAS_FAIL(err, NAS_ERR_INVALID, "%s.op: missing or not a string", where);
    nas_op kind = nas_op_from_name(op->valuestring);
    if (kind == NAS_OP_COUNT)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s.op: unknown op '%s'", where, op->valuestring);
    nas_node n = nas_node_make(kind);
    unsigned f = OPS[kind].fields;
    static const struct {
        const char *key;
        unsigned flag;
    } KEYS[] = {{"id", 0},          {"op", 0},          {"in", 0},        {"shape", 0},
                {"scope", 0},       {"out", F_OUT},     {"kernel", F_KERNEL}, {"stride", F_STRIDE},
                {"pad", F_PAD},     {"dilation", F_DIL}, {"groups", F_GROUPS}, {"expand", F_EXPAND},
                {"se", F_SE},       {"act", F_ACT},     {"bias", F_BIAS}, {"rate", F_RATE}};
    for (const cJSON *k = o->child; k; k = k->next) {
        size_t j = 0;
        for (; j < sizeof KEYS / sizeof KEYS[0]; j++)
            if (!strcmp(k->string, KEYS[j].key)) break;
        if (j == sizeof KEYS / sizeof KEYS[0] || (KEYS[j].flag && !(f & KEYS[j].flag)))
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s: unknown field '%s' for op %s", where, k->string,
                            nas_op_name(kind));
    }
    int id = i;
    nas_status s = get_int(o, "id", 0, 1 << 30, 0, &id, where, err);
    if (s) return s;
    if (id != i) return NAS_FAIL(err, NAS_ERR_INVALID, "%s.id: expected %d, got %d", where, i, id);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "in");
    if (kind != NAS_OP_INPUT) {
        if (!cJSON_IsArray(in))
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s.in: missing or not an array", where);
        int m = cJSON_GetArraySize(in);
        if (m > NAS_ARCH_MAX_INPUTS)
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s.in: at most %d inputs", where, NAS_ARCH_MAX_INPUTS);
        n.n_inputs = m;
        for (int j = 0; j < m; j++) {
            const cJSON *e = cJSON_GetArrayItem(in, j);
            double d = cJSON_IsNumber(e) ? e->valuedouble : NAN;
            if (!(d >= 0 && d < i) || d != floor(d))
                return NAS_FAIL(err, NAS_ERR_INVALID, "%s.in[%d]: expected an earlier node id (0..%d)",
                                where, j, i - 1);
            n.inputs[j] = (int)d;
        }
    } else if (in) {
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s.in: the input node has no inputs", where);
    }
    if ((s = get_int(o, "out", kind == NAS_OP_ZERO ? 0 : 1, 1 << 20, kind != NAS_OP_ZERO && (f & F_OUT), &n.out, where, err)) ||
        (s = get_int(o, "kernel", 1, 64, (f & F_KERNEL) != 0, &n.kernel, where, err)) ||
        (s = get_int(o, "stride", 1, 64, 0, &n.stride, where, err)) ||
        (s = get_int(o, "pad", 0, 64, 0, &n.pad, where, err)) ||
        (s = get_int(o, "dilation", 1, 64, 0, &n.dilation, where, err)) ||
        (s = get_int(o, "groups", 1, 1 << 20, 0, &n.groups, where, err)) ||
        (s = get_int(o, "expand", 1, 64, 0, &n.expand, where, err)) ||
        (s = get_int(o, "se", 0, 1, 0, &n.se, where, err)) ||
        (s = get_int(o, "bias", 0, 1, 0, &n.bias, where, err)))
        return s;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "act");
    if (act) {
        nas_op a_op = cJSON_IsString(act) ? nas_op_from_name(act->valuestring) : NAS_OP_COUNT;
        if (!nas_op_is_activation(a_op))
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s.act: expected relu, relu6, hswish or sigmoid", where);
        n.act = a_op;
    }
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(o, "rate");
    if (f & F_RATE) {
        if (!cJSON_IsNumber(rate) || !(rate->valuedouble >= 0 && rate->valuedouble < 1))
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s.rate: expected a number in [0, 1)", where);
        n.rate = rate->valuedouble;
    }
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(o, "scope");
    if (scope) {
        if (!cJSON_IsString(scope) || strlen(scope->valuestring) >= NAS_ARCH_SCOPE_MAX)
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s.scope: expected a string of at most %d bytes",
                            where, NAS_ARCH_SCOPE_MAX - 1);
        snprintf(n.scope, sizeof n.scope, "%s", scope->valuestring);
    }
    if (i == 0 && kind != NAS_OP_INPUT)
        return NAS_FAIL(err, NAS_ERR_INVALID, "nodes[0].op: the first node must be the input");
    if (kind == NAS_OP_INPUT) {
        if (i != 0) return NAS_FAIL(err, NAS_ERR_INVALID, "%s.op: only node 0 may be the input", where);
        /* node 0 already exists, unless the input is 0x0x0 (hyperparameters only) */
        if (a->n_nodes == 0)
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s: arch without an input (0x0x0) cannot hold nodes", where);
    } else {
        if ((s = nas_arch_add(a, &n, NULL, err))) return s;
    }
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
    if (shape) {
        int c, h, w;
        char swhere[64];
        snprintf(swhere, sizeof swhere, "%s.shape", where);
        if ((s = get_shape(shape, &c, &h, &w, swhere, err))) return s;
        const nas_node *got = &a->nodes[i];
        if (c != got->c || h != got->h || w != got->w)
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s: stored %dx%dx%d but the graph gives %dx%dx%d",
                            swhere, c, h, w, got->c, got->h, got->w);
    }
    return NAS_OK;
}

static nas_status parse_root(const cJSON *root, nas_arch **out, nas_error *err) {
    nas_arch *a = NULL;
    nas_status s;
    if (!cJSON_IsObject(root)) return NAS_FAIL(err, NAS_ERR_INVALID, "expected a JSON object");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, ARCH_FORMAT))
        return NAS_FAIL(err, NAS_ERR_INVALID, "format: expected \"%s\"", ARCH_FORMAT);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsNumber(ver) || ver->valuedouble != ARCH_VERSION)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "version: expected %d", ARCH_VERSION);
    int c = 0, h = 0, w = 0, classes = 0;
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    if ((s = get_shape(input, &c, &h, &w, "input", err))) return s;
    if ((s = get_int(root, "classes", 0, 1 << 20, 1, &classes, "arch", err))) return s;
    int hparam_only = c == 0 && h == 0 && w == 0;
    if (!hparam_only && (c < 1 || h < 1 || w < 1 || c > 4096 || h > 16384 || w > 16384))
        return NAS_FAIL(err, NAS_ERR_INVALID, "input: %dx%dx%d is not a valid image shape", c, h, w);
    if (!(a = nas_arch_create(c, h, w, classes))) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");

    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(root, "space");
    if (sp) {
        if (!cJSON_IsString(sp) || strlen(sp->valuestring) >= sizeof a->space_name) {
            s = NAS_FAIL(err, NAS_ERR_INVALID, "space: expected a short string");
            goto fail;
        }
        snprintf(a->space_name, sizeof a->space_name, "%s", sp->valuestring);
    }
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(root, "space_hash");
    if (sh) {
        if (!cJSON_IsString(sh) || strlen(sh->valuestring) >= sizeof a->space_hash) {
            s = NAS_FAIL(err, NAS_ERR_INVALID, "space_hash: expected a short string");
            goto fail;
        }
        snprintf(a->space_hash, sizeof a->space_hash, "%s", sh->valuestring);
    }
    const cJSON *hp = cJSON_GetObjectItemCaseSensitive(root, "hparams");
    if (hp && !cJSON_IsObject(hp)) {
        s = NAS_FAIL(err, NAS_ERR_INVALID, "hparams: expected an object");
        goto fail;
    }
    for (const cJSON *e = hp ? hp->child : NULL; e; e = e->next) {
        if (cJSON_IsNumber(e) && !isfinite(e->valuedouble)) /* 1e999 parses as inf */
            s = NAS_FAIL(err, NAS_ERR_INVALID, "hparams.%s: %s is not a finite number", e->string,
                         e->valuedouble > 0 ? "inf" : "-inf");
        else if (cJSON_IsNumber(e))
            s = nas_arch_set_hparam_num(a, e->string, e->valuedouble, err);
        else if (cJSON_IsString(e))
            s = nas_arch_set_hparam_str(a, e->string, e->valuestring, err);
        else
            s = NAS_FAIL(err, NAS_ERR_INVALID, "hparams.%s: expected a number or a string", e->string);
        if (s) goto fail;
    }
    const cJSON *point = cJSON_GetObjectItemCaseSensitive(root, "point");
    if (point) {
        if (!cJSON_IsObject(point)) {
            s = NAS_FAIL(err, NAS_ERR_INVALID, "point: expected an object");
            goto fail;
        }
        char *text = cJSON_PrintUnformatted(point);
        if (!text) {
            s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        s = nas_arch_set_point(a, text, err);
        cJSON_free(text);
        if (s) goto fail;
    }
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
    if (!cJSON_IsArray(nodes)) {
        s = NAS_FAIL(err, NAS_ERR_INVALID, "nodes: missing or not an array");
        goto fail;
    }
    int i = 0;
    for (const cJSON *o = nodes->child; o; o = o->next, i++)
        if ((s = parse_node(a, o, i, err))) goto fail;
    if ((s = nas_arch_check(a, err))) goto fail;
    const cJSON *ah = cJSON_GetObjectItemCaseSensitive(root, "arch_hash");
    if (ah) {
        char hash[32];
        snprintf(hash, sizeof hash, "%016llx", (unsigned long long)nas_arch_hash(a));
        if (!cJSON_IsString(ah) || strcmp(ah->valuestring, hash)) {
            s = NAS_FAIL(err, NAS_ERR_INVALID, "arch_hash: stored value does not match the network (%s)", hash);
            goto fail;
        }
    }
    *out = a;
    return NAS_OK;
fail:
    nas_arch_destroy(a);
    return s;
}

nas_status nas_arch_from_json(const char *json, size_t len, const char *source, nas_arch **out,
                              nas_error *err) {
    *out = NULL;
    const char *src = source ? source : "arch";
    cJSON *root = nas_json_parse(json, len, src, err);
    if (!root) return err ? err->code : NAS_ERR_FORMAT;
    nas_status s = parse_root(root, out, err);
    cJSON_Delete(root);
    if (s) nas_error_prefix(err, "%s", src);
    return s;
}

nas_status nas_arch_load(const char *path, nas_arch **out, nas_error *err) {
    char *text;
    size_t len;
    *out = NULL;
    nas_status s = nas_file_read(path, &text, &len, err);
    if (s) return s;
    s = nas_arch_from_json(text, len, path, out, err);
    free(text);
    return s;
}

nas_status nas_arch_save(const nas_arch *a, const char *path, nas_error *err) {
    char *text;
    nas_status s = nas_arch_to_json(a, &text, err);
    if (s) return s;
    size_t n = strlen(text);
    text[n] = '\0';
    char *withnl = realloc(text, n + 2);
    if (!withnl) {
        cJSON_free(text);
        return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    }
    withnl[n] = '\n';
    withnl[n + 1] = '\0';
    s = nas_file_write_atomic(path, withnl, n + 1, err);
    free(withnl);
    return s;
}

/* ---- the readable table ---- */

static void node_params(const nas_node *n, char *buf, size_t cap) {
    unsigned f = OPS[n->op].fields;
    size_t k = 0;
    buf[0] = '\0';
#define P(...) k += (size_t)snprintf(buf + k, k < cap ? cap - k : 0, __VA_ARGS__)
    if (n->op == NAS_OP_CONV && n->groups > 1 && n->groups == n->out) P("depthwise ");
    if (f & F_KERNEL) P("k%d ", n->kernel);
    if ((f & F_STRIDE) && n->stride != 1) P("s%d ", n->stride);
    if ((f & F_PAD) && n->pad) P("p%d ", n->pad);
    if ((f & F_DIL) && n->dilation != 1) P("d%d ", n->dilation);
    if ((f & F_GROUPS) && n->groups != 1) P("g%d ", n->groups);
    if (f & F_EXPAND) P("e%d ", n->expand);
    if ((f & F_SE) && n->se) P("se ");
    if (f & F_ACT) P("%s ", nas_op_name(n->act));
    if ((f & F_BIAS) && n->bias) P("bias ");
    if (f & F_RATE) P("rate %g ", n->rate);
#undef P
    if (k > 0 && k <= cap) buf[k - 1] = '\0';
}

void nas_arch_print(const nas_arch *a, FILE *out) {
    fprintf(out, "arch %s  input %dx%dx%d  classes %d  hash %016llx\n",
            a->space_name[0] ? a->space_name : "(no space)", a->in_c, a->in_h, a->in_w, a->classes,
            (unsigned long long)nas_arch_hash(a));
    if (a->n_nodes) {
        fprintf(out, "%5s  %-16s %-12s %-26s %-14s %s\n", "node", "op", "inputs", "params", "output", "scope");
        for (int i = 0; i < a->n_nodes; i++) {
            const nas_node *n = &a->nodes[i];
            char ins[64] = "-", params[128], shape[48];
            size_t k = 0;
            for (int j = 0; j < n->n_inputs && k < sizeof ins; j++)
                k += (size_t)snprintf(ins + k, sizeof ins - k, "%s%d", j ? "," : "", n->inputs[j]);
            node_params(n, params, sizeof params);
            snprintf(shape, sizeof shape, "%dx%dx%d", n->c, n->h, n->w);
            char label[40];
            if (n->op == NAS_OP_CONV || n->op == NAS_OP_FC || n->op == NAS_OP_MBCONV ||
                n->op == NAS_OP_RESBLOCK)
                snprintf(label, sizeof label, "%s(%d)", nas_op_name(n->op), n->out);
            else
                snprintf(label, sizeof label, "%s", nas_op_name(n->op));
            fprintf(out, "%5d  %-16s %-12s %-26s %-14s %s\n", i, label, ins, params, shape, n->scope);
        }
    }
    if (a->n_hparams) {
        fprintf(out, "hparams:");
        for (int i = 0; i < a->n_hparams; i++) {
            if (a->hparams[i].str)
                fprintf(out, " %s=%s", a->hparams[i].name, a->hparams[i].str);
            else {
                /* shortest form that reads back as the same double */
                char num[32];
                double v = a->hparams[i].num;
                for (int prec = 6; prec <= 17; prec++) {
                    snprintf(num, sizeof num, "%.*g", prec, v);
                    if (strtod(num, NULL) == v) break;
                }
                fprintf(out, " %s=%s", a->hparams[i].name, num);
            }
        }
        fputc('\n', out);
    }
}
