/*
 * sema.c - the semantic pass of the .nas compiler.
 *
 * Checks what can be checked on the syntax tree alone: the statements a space
 * needs (space, input/classes with a network), duplicate and reserved names,
 * undefined names where a layer is expected, op and block parameters (unknown,
 * repeated, missing), the kind of each expression (layer or value), domains
 * (empty choice, bad int/float ranges, log scale with lo <= 0, scale names),
 * units, recursive definitions (a block, let or cell that uses itself), and it
 * warns about unused lets, cells and blocks. Types that depend on how a block
 * argument is used, and shapes, are checked by lower.c and the probe in
 * compile.c. It does not create decisions.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "searchspace/compiler.h"

#define P(x) (1u << SS_P_##x)

static const ss_op_spec OPS[] = {
    {"conv", NAS_OP_CONV, 0,
     {SS_P_OUT, SS_P_KERNEL, SS_P_STRIDE, SS_P_PAD, SS_P_DILATION, SS_P_GROUPS, SS_P_BIAS, -1},
     P(OUT) | P(KERNEL) | P(STRIDE) | P(PAD) | P(DILATION) | P(GROUPS) | P(BIAS), P(KERNEL)},
    {"dwconv", NAS_OP_CONV, 1,
     {SS_P_KERNEL, SS_P_STRIDE, SS_P_PAD, SS_P_DILATION, SS_P_BIAS, -1},
     P(KERNEL) | P(STRIDE) | P(PAD) | P(DILATION) | P(BIAS), P(KERNEL)},
    {"pwconv", NAS_OP_CONV, 2, {SS_P_OUT, SS_P_STRIDE, SS_P_BIAS, -1},
     P(OUT) | P(STRIDE) | P(BIAS), 0},
    {"bn", NAS_OP_BN, 0, {-1}, 0, 0},
    {"relu", NAS_OP_RELU, 0, {-1}, 0, 0},
    {"relu6", NAS_OP_RELU6, 0, {-1}, 0, 0},
    {"hswish", NAS_OP_HSWISH, 0, {-1}, 0, 0},
    {"sigmoid", NAS_OP_SIGMOID, 0, {-1}, 0, 0},
    {"mbconv", NAS_OP_MBCONV, 0,
     {SS_P_KERNEL, SS_P_EXPAND, SS_P_OUT, SS_P_STRIDE, SS_P_SE, SS_P_ACT, -1},
     P(KERNEL) | P(EXPAND) | P(OUT) | P(STRIDE) | P(SE) | P(ACT), P(KERNEL) | P(EXPAND)},
    {"resblock", NAS_OP_RESBLOCK, 0, {SS_P_OUT, SS_P_KERNEL, SS_P_STRIDE, SS_P_ACT, -1},
     P(OUT) | P(KERNEL) | P(STRIDE) | P(ACT), 0},
    {"maxpool", NAS_OP_MAXPOOL, 0, {SS_P_KERNEL, SS_P_STRIDE, SS_P_PAD, -1},
     P(KERNEL) | P(STRIDE) | P(PAD), P(KERNEL)},
    {"avgpool", NAS_OP_AVGPOOL, 0, {SS_P_KERNEL, SS_P_STRIDE, SS_P_PAD, -1},
     P(KERNEL) | P(STRIDE) | P(PAD), P(KERNEL)},
    {"global_avg_pool", NAS_OP_GAP, 0, {-1}, 0, 0},
    {"flatten", NAS_OP_FLATTEN, 0, {-1}, 0, 0},
    {"dropout", NAS_OP_DROPOUT, 0, {SS_P_RATE, -1}, P(RATE), P(RATE)},
    {"fc", NAS_OP_FC, 0, {SS_P_OUT, SS_P_BIAS, -1}, P(OUT) | P(BIAS), P(OUT)},
    {"skip", NAS_OP_IDENTITY, 0, {-1}, 0, 0},
    {"identity", NAS_OP_IDENTITY, 0, {-1}, 0, 0},
    {"none", NAS_OP_ZERO, 0, {-1}, 0, 0},
    {"zero", NAS_OP_ZERO, 0, {-1}, 0, 0},
};

static const char *PSLOT_NAMES[SS_P_COUNT] = {"out",    "kernel", "stride", "pad",
                                              "dilation", "groups", "expand", "se",
                                              "act",    "bias",   "rate"};

const ss_op_spec *ss_op_find(const char *name) {
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (!strcmp(OPS[i].name, name)) return &OPS[i];
    return NULL;
}

const char *ss_pslot_name(ss_pslot p) { return PSLOT_NAMES[p]; }

int ss_pslot_from_name(const char *name) {
    for (int i = 0; i < SS_P_COUNT; i++)
        if (!strcmp(PSLOT_NAMES[i], name)) return i;
    return -1;
}

/* Built-in names that cannot be redefined. */
static const char *BUILTINS[] = {"choice", "int",   "float", "stage", "repeat",
                                 "residual", "cell", "classes", "stride", NULL};

typedef enum kind { K_NET, K_VALUE, K_ANY } kind;

typedef struct sema {
    ss_diag *d;
    ss_stmt **defs; /* hparam, let, block, cell statements */
    int n_defs;
    unsigned char *dep; /* n_defs x n_defs: dep[i*n+j] = i uses j */
    int cur;            /* index of the definition being walked, or -1 */
    const ss_stmt *block; /* block whose body is walked, or NULL */
    int in_stage;
} sema;

static ss_stmt *find_def(sema *s, const char *name) {
    for (int i = 0; i < s->n_defs; i++)
        if (!strcmp(s->defs[i]->name, name)) return s->defs[i];
    return NULL;
}

static void err(sema *s, const ss_tok *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err(sema *s, const ss_tok *t, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ss_diag_error(s->d, t->line, t->col, "%s", msg);
}

static const char *def_kind_name(ss_stmt_kind k) {
    switch (k) {
    case SS_S_HPARAM: return "a hyperparameter";
    case SS_S_LET: return "a let";
    case SS_S_BLOCK: return "a block";
    case SS_S_CELL: return "a cell";
    default: return "a definition";
    }
}

/* Value of a constant numeric expression; 0 when it is not constant. */
static int const_num(const ss_node *n, double *v) {
    double a, b;
    switch (n->kind) {
    case SS_N_NUM: *v = n->num; return 1;
    case SS_N_NEG:
        if (!const_num(n->lhs, &a)) return 0;
        *v = -a;
        return 1;
    case SS_N_BIN:
        if (!const_num(n->lhs, &a) || !const_num(n->rhs, &b)) return 0;
        switch (n->op) {
        case '+': *v = a + b; break;
        case '-': *v = a - b; break;
        case '*': *v = a * b; break;
        default:
            if (b == 0) return 0;
            *v = a / b;
        }
        return isfinite(*v);
    case SS_N_SEQ: return n->n_items == 1 && const_num(n->items[0], v);
    default: return 0;
    }
}

static void walk(sema *s, ss_node *n, kind k);

static void use_def(sema *s, ss_stmt *def) {
    def->used = 1;
    if (s->cur >= 0) s->dep[s->cur * s->n_defs + def->id] = 1;
}

static const ss_param *find_param(const ss_stmt *block, const char *name) {
    if (!block) return NULL;
    for (int i = 0; i < block->n_params; i++)
        if (!strcmp(block->params[i].name, name)) return &block->params[i];
    return NULL;
}

static void walk_ident(sema *s, ss_node *n, kind k) {
    if (find_param(s->block, n->name)) return;
    ss_stmt *def = find_def(s, n->name);
    if (def && def->kind == SS_S_HPARAM && k == K_NET && ss_op_find(n->name)) def = NULL;
    if (def) {
        use_def(s, def);
        if (k == K_VALUE && (def->kind == SS_S_BLOCK || def->kind == SS_S_CELL))
            err(s, n->tok, "'%s' is %s, not a value", n->name, def_kind_name(def->kind));
        if (k == K_NET && def->kind == SS_S_HPARAM)
            err(s, n->tok, "'%s' is a hyperparameter, not a layer", n->name);
        return;
    }
    if (!strcmp(n->name, "classes") || !strcmp(n->name, "stride")) {
        if (k == K_NET) err(s, n->tok, "'%s' is a number, not a layer", n->name);
        if (!strcmp(n->name, "stride") && !s->in_stage && !find_param(s->block, "stride") &&
            !s->block)
            err(s, n->tok, "'stride' is only defined inside a stage or repeat body");
        return;
    }
    if (ss_op_find(n->name)) {
        const ss_op_spec *op = ss_op_find(n->name);
        if (k == K_NET && op->required)
            err(s, n->tok, "'%s' needs '%s'", n->name,
                ss_pslot_name((ss_pslot)__builtin_ctz(op->required)));
        return;
    }
    if (k == K_NET) err(s, n->tok, "unknown op or block '%s'", n->name);
}

static void check_op_args(sema *s, ss_node *n, const ss_op_spec *op) {
    unsigned given = 0;
    int npos = 0;
    while (op->pos[npos] >= 0) npos++;
    for (int i = 0; i < n->n_args; i++) {
        ss_arg *a = &n->args[i];
        int slot;
        if (!a->name) {
            if (i >= npos) {
                err(s, a->val->tok, "'%s' takes at most %d positional argument%s", n->name, npos,
                    npos == 1 ? "" : "s");
                continue;
            }
            slot = op->pos[i];
        } else {
            slot = ss_pslot_from_name(a->name);
            if (slot < 0 || !(op->allowed & (1u << slot))) {
                err(s, a->name_tok, "unknown parameter '%s' for '%s'", a->name, n->name);
                continue;
            }
        }
        if (given & (1u << slot)) {
            err(s, a->name_tok ? a->name_tok : a->val->tok, "parameter '%s' of '%s' given twice",
                ss_pslot_name((ss_pslot)slot), n->name);
            continue;
        }
        given |= 1u << slot;
        walk(s, a->val, K_VALUE);
    }
    unsigned missing = op->required & ~given;
    if (missing)
        err(s, n->tok, "'%s' needs '%s'", n->name, ss_pslot_name((ss_pslot)__builtin_ctz(missing)));
}

static void check_block_args(sema *s, ss_node *n, ss_stmt *b) {
    unsigned char given[64] = {0};
    for (int i = 0; i < n->n_args; i++) {
        ss_arg *a = &n->args[i];
        int idx = -1;
        if (!a->name) {
            if (i >= b->n_params) {
                err(s, a->val->tok, "block '%s' takes at most %d argument%s", b->name,
                    b->n_params, b->n_params == 1 ? "" : "s");
                continue;
            }
            idx = i;
        } else {
            for (int j = 0; j < b->n_params; j++)
                if (!strcmp(b->params[j].name, a->name)) idx = j;
            if (idx < 0) {
                err(s, a->name_tok, "block '%s' has no parameter '%s'", b->name, a->name);
                continue;
            }
        }
        if (idx < 64 && given[idx]) {
            err(s, a->name_tok ? a->name_tok : a->val->tok, "argument '%s' of '%s' given twice",
                b->params[idx].name, b->name);
            continue;
        }
        if (idx < 64) given[idx] = 1;
        walk(s, a->val, K_ANY);
    }
    for (int j = 0; j < b->n_params && j < 64; j++)
        if (!given[j] && !b->params[j].def && strcmp(b->params[j].name, "stride"))
            err(s, n->tok, "block '%s' needs argument '%s'", b->name, b->params[j].name);
}

static void check_int_domain(sema *s, ss_node *n) {
    double lo, hi;
    if (n->n_args != 2 || n->args[0].name || n->args[1].name) {
        err(s, n->tok, "int needs two bounds: int(lo, hi)");
        return;
    }
    if (!const_num(n->args[0].val, &lo) || !const_num(n->args[1].val, &hi)) {
        err(s, n->tok, "int bounds must be constant numbers");
        return;
    }
    if (lo != floor(lo) || hi != floor(hi)) {
        err(s, n->tok, "int bounds must be whole numbers, got int(%g, %g)", lo, hi);
        return;
    }
    if (lo > hi) err(s, n->tok, "empty range: int(%g, %g) has lo > hi", lo, hi);
}

static void check_float_domain(sema *s, ss_node *n) {
    double lo, hi;
    if (n->n_args < 2 || n->n_args > 3 || n->args[0].name || n->args[1].name) {
        err(s, n->tok, "float needs float(lo, hi) or float(lo, hi, linear|log|reverse_log)");
        return;
    }
    if (!const_num(n->args[0].val, &lo) || !const_num(n->args[1].val, &hi)) {
        err(s, n->tok, "float bounds must be constant numbers");
        return;
    }
    const char *scale = "linear";
    if (n->n_args == 3) {
        ss_node *sc = n->args[2].val;
        if (sc->kind != SS_N_IDENT || (strcmp(sc->name, "linear") && strcmp(sc->name, "log") &&
                                       strcmp(sc->name, "reverse_log"))) {
            err(s, sc->tok, "unknown scale '%s' (use linear, log or reverse_log)", sc->label);
            return;
        }
        scale = sc->name;
    }
    if (lo > hi) {
        err(s, n->tok, "empty range: float(%g, %g) has lo > hi", lo, hi);
        return;
    }
    if (!strcmp(scale, "log") && lo <= 0)
        err(s, n->args[0].val->tok, "log scale needs lo > 0, got %g", lo);
    if (!strcmp(scale, "reverse_log") && (lo < 0 || hi >= 1))
        err(s, n->args[0].val->tok, "reverse_log scale needs 0 <= lo <= hi < 1, got float(%g, %g)",
            lo, hi);
}

static int const_int_arg(sema *s, ss_node *v, const char *what, double lo, double hi) {
    double x;
    if (!const_num(v, &x) || x != floor(x) || x < lo || x > hi) {
        err(s, v->tok, "%s must be a whole number from %g to %g", what, lo, hi);
        return 0;
    }
    return 1;
}

static void walk_cell(sema *s, ss_node *n) {
    ss_node *nodes = NULL, *ops = NULL, *inputs = NULL;
    for (int i = 0; i < n->n_args; i++) {
        ss_arg *a = &n->args[i];
        const char *name = a->name ? a->name : i == 0 ? "nodes" : i == 1 ? "ops" : "inputs";
        ss_node **slot = !strcmp(name, "nodes")    ? &nodes
                         : !strcmp(name, "ops")    ? &ops
                         : !strcmp(name, "inputs") ? &inputs
                                                   : NULL;
        if (!slot || (!a->name && i > 2)) {
            err(s, a->name_tok ? a->name_tok : a->val->tok,
                "unknown parameter '%s' for 'cell' (nodes, ops, inputs)", name);
            continue;
        }
        if (*slot) {
            err(s, a->name_tok ? a->name_tok : a->val->tok, "parameter '%s' of 'cell' given twice",
                name);
            continue;
        }
        *slot = a->val;
    }
    if (!nodes || !ops) {
        err(s, n->tok, "a cell needs 'nodes' and 'ops': cell(nodes = 4, ops = choice(...))");
        return;
    }
    const_int_arg(s, nodes, "cell nodes", 2, 16);
    if (inputs) const_int_arg(s, inputs, "cell inputs", 1, 15);
    if (ops->kind != SS_N_CALL || strcmp(ops->name, "choice")) {
        err(s, ops->tok, "cell ops must be a choice(...) of layers");
        return;
    }
    walk(s, ops, K_NET);
}

static void walk_depth_call(sema *s, ss_node *n) {
    int is_stage = !strcmp(n->name, "stage");
    int have_depth = 0;
    for (int i = 0; i < n->n_args; i++) {
        ss_arg *a = &n->args[i];
        const char *name = a->name ? a->name : i == 0 ? "depth" : i == 1 && is_stage ? "stride" : "";
        if (strcmp(name, "depth") && !(is_stage && !strcmp(name, "stride"))) {
            err(s, a->name_tok ? a->name_tok : a->val->tok, "unknown parameter '%s' for '%s'",
                *name ? name : "(positional)", n->name);
            continue;
        }
        if (!strcmp(name, "depth")) {
            if (have_depth) {
                err(s, a->name_tok ? a->name_tok : a->val->tok, "depth given twice");
                continue;
            }
            have_depth = 1;
        }
        walk(s, a->val, K_VALUE);
    }
    if (!have_depth)
        err(s, n->tok, "'%s' needs a depth: %s", n->name,
            is_stage ? "stage(depth = choice(1, 2), stride = 2) { ... }" : "repeat(3) { ... }");
    if (!n->body) {
        err(s, n->tok, "'%s' needs a body { ... }", n->name);
        return;
    }
    int saved = s->in_stage;
    s->in_stage = 1;
    walk(s, n->body, K_NET);
    s->in_stage = saved;
}

static void walk_call(sema *s, ss_node *n, kind k) {
    const char *name = n->name;
    if (!strcmp(name, "choice")) {
        if (n->n_args == 0) {
            err(s, n->tok, "empty choice: choice() needs at least one option");
            return;
        }
        for (int i = 0; i < n->n_args; i++) {
            if (n->args[i].name) {
                err(s, n->args[i].name_tok, "choice options cannot be named");
                continue;
            }
            walk(s, n->args[i].val, k);
        }
        return;
    }
    if (!strcmp(name, "int") || !strcmp(name, "float")) {
        if (k == K_NET) {
            err(s, n->tok, "%s(...) is a domain of numbers, not a layer", name);
            return;
        }
        if (!strcmp(name, "int")) check_int_domain(s, n);
        else check_float_domain(s, n);
        return;
    }
    const ss_op_spec *op = ss_op_find(name);
    int structural = !strcmp(name, "stage") || !strcmp(name, "repeat") ||
                     !strcmp(name, "residual") || !strcmp(name, "cell");
    ss_stmt *def = find_def(s, name);
    if (k == K_VALUE && (op || structural || (def && def->kind == SS_S_BLOCK))) {
        err(s, n->tok, "'%s' is a layer, not a value", name);
        return;
    }
    if (!strcmp(name, "stage") || !strcmp(name, "repeat")) {
        walk_depth_call(s, n);
    } else if (!strcmp(name, "residual")) {
        for (int i = 0; i < n->n_args; i++) {
            if (!n->args[i].name || strcmp(n->args[i].name, "shortcut") || i > 0) {
                err(s, n->args[i].name_tok ? n->args[i].name_tok : n->args[i].val->tok,
                    "residual takes only 'shortcut = ...'");
                continue;
            }
            walk(s, n->args[i].val, K_NET);
        }
        if (!n->body) err(s, n->tok, "'residual' needs a body { ... }");
        else walk(s, n->body, K_NET);
    } else if (!strcmp(name, "cell")) {
        walk_cell(s, n);
    } else if (op) {
        check_op_args(s, n, op);
    } else if (find_param(s->block, name)) {
        err(s, n->tok, "'%s' is a parameter of block '%s' and takes no arguments", name,
            s->block->name);
    } else if (def && def->kind == SS_S_BLOCK) {
        use_def(s, def);
        check_block_args(s, n, def);
    } else if (def) {
        use_def(s, def);
        err(s, n->tok, "'%s' is %s, not a block; it takes no arguments", name,
            def_kind_name(def->kind));
    } else {
        err(s, n->tok, "unknown op or block '%s'", name);
    }
}

static void walk(sema *s, ss_node *n, kind k) {
    switch (n->kind) {
    case SS_N_NUM:
        if (k == K_NET) err(s, n->tok, "expected a layer, got the number %s", n->label);
        else if (n->unit == SS_UNIT_TIME || n->unit == SS_UNIT_BYTES)
            err(s, n->tok, "unit '%s' is only allowed in constraints", n->tok->unit_text);
        return;
    case SS_N_IDENT: walk_ident(s, n, k); return;
    case SS_N_CALL: walk_call(s, n, k); return;
    case SS_N_NEG:
    case SS_N_BIN:
        if (k == K_NET) {
            err(s, n->tok, "expected a layer, got the arithmetic '%s'", n->label);
            return;
        }
        walk(s, n->lhs, K_VALUE);
        if (n->rhs) walk(s, n->rhs, K_VALUE);
        return;
    case SS_N_SEQ:
        if (k == K_VALUE && n->n_items != 1) {
            err(s, n->tok, "expected a value, got the layers '%s'", n->label);
            return;
        }
        for (int i = 0; i < n->n_items; i++) walk(s, n->items[i], n->n_items > 1 ? K_NET : k);
        return;
    }
}

/* Reports cycles in the definition graph (depth-first search). */
static void find_cycles(sema *s) {
    int n = s->n_defs;
    if (!n) return;
    unsigned char *color = calloc((size_t)n, 1);
    int *stack = malloc((size_t)n * sizeof *stack);
    int *edge = malloc((size_t)n * sizeof *edge);
    if (!color || !stack || !edge) goto done;
    for (int root = 0; root < n; root++) {
        if (color[root]) continue;
        int top = 0;
        stack[0] = root, edge[0] = 0, color[root] = 1;
        while (top >= 0) {
            int v = stack[top];
            if (edge[top] >= n) {
                color[v] = 2;
                top--;
                continue;
            }
            int w = edge[top]++;
            if (!s->dep[v * n + w]) continue;
            if (color[w] == 1) {
                char path[512] = "";
                size_t len = 0;
                int from = 0;
                while (stack[from] != w) from++;
                for (int i = from; i <= top && len < sizeof path - 80; i++)
                    len += (size_t)snprintf(path + len, sizeof path - len, "%s -> ",
                                            s->defs[stack[i]]->name);
                snprintf(path + len, sizeof path - len, "%s", s->defs[w]->name);
                ss_stmt *d = s->defs[w];
                err(s, d->name_tok, "recursive definition: '%s' uses itself (%s)", d->name, path);
                s->dep[v * n + w] = 0;
            } else if (!color[w]) {
                top++;
                stack[top] = w, edge[top] = 0, color[w] = 1;
            }
        }
    }
done:
    free(color);
    free(stack);
    free(edge);
}

static void check_statements(sema *s, ss_program *p) {
    ss_stmt *first[SS_S_OBJECTIVE + 1] = {0};
    int n_hparams = 0;
    for (ss_stmt *st = p->stmts; st; st = st->next) {
        if (st->kind == SS_S_SPACE || st->kind == SS_S_INPUT || st->kind == SS_S_CLASSES ||
            st->kind == SS_S_NETWORK) {
            if (first[st->kind])
                err(s, st->tok, "duplicate '%.*s' (first at line %d)", st->tok->len, st->tok->loc,
                    first[st->kind]->tok->line);
            else first[st->kind] = st;
        }
        if (st->kind == SS_S_HPARAM) n_hparams++;
        if (st->kind == SS_S_CONSTRAINT) {
            const char *m = st->metric;
            int time = !strcmp(m, "latency");
            int bytes = !strcmp(m, "memory");
            int count = !strcmp(m, "macs") || !strcmp(m, "flops") || !strcmp(m, "params");
            if ((st->unit == SS_UNIT_TIME && !time) || (st->unit == SS_UNIT_BYTES && !bytes) ||
                (st->unit == SS_UNIT_COUNT && (time || bytes)))
                err(s, st->value_tok, "unit '%s' does not fit metric '%s'%s",
                    st->value_tok->unit_text, m,
                    time ? " (use us, ms or s)" : bytes ? " (use B, KB, MB or GB)"
                                                        : count ? " (use K, M or G)" : "");
        }
    }
    if (!first[SS_S_SPACE]) {
        const ss_tok *t = p->stmts ? p->stmts->tok : NULL;
        ss_diag_error(s->d, t ? t->line : 1, t ? t->col : 1,
                      "missing 'space NAME' declaration");
    }
    if (first[SS_S_NETWORK]) {
        if (!first[SS_S_INPUT])
            err(s, first[SS_S_NETWORK]->tok, "a network needs 'input CxHxW' (e.g. input 1x28x28)");
        if (!first[SS_S_CLASSES])
            err(s, first[SS_S_NETWORK]->tok, "a network needs 'classes N'");
    } else {
        if (first[SS_S_INPUT]) err(s, first[SS_S_INPUT]->tok, "'input' without a 'network'");
        if (first[SS_S_CLASSES]) err(s, first[SS_S_CLASSES]->tok, "'classes' without a 'network'");
        if (!n_hparams && first[SS_S_SPACE])
            err(s, first[SS_S_SPACE]->tok, "the space has no network and no hparam");
    }
}

int ss_sema(ss_program *p, ss_diag *d) {
    sema s = {d, NULL, 0, NULL, -1, NULL, 0};
    int before = d->n_errors;
    check_statements(&s, p);
    int cap = 0;
    for (ss_stmt *st = p->stmts; st; st = st->next) cap++;
    s.defs = calloc((size_t)cap + 1, sizeof *s.defs);
    if (!s.defs) goto oom;
    for (ss_stmt *st = p->stmts; st; st = st->next) {
        if (st->kind != SS_S_HPARAM && st->kind != SS_S_LET && st->kind != SS_S_BLOCK &&
            st->kind != SS_S_CELL)
            continue;
        ss_stmt *prev = find_def(&s, st->name);
        /* a hyperparameter may share an op's name (hparam dropout ... dropout(rate = dropout)) */
        int reserved = st->kind != SS_S_HPARAM && ss_op_find(st->name) != NULL;
        for (int i = 0; BUILTINS[i]; i++) reserved |= !strcmp(BUILTINS[i], st->name);
        if (prev) {
            err(&s, st->name_tok, "'%s' is already defined at line %d", st->name,
                prev->name_tok->line);
        } else if (reserved) {
            err(&s, st->name_tok, "'%s' is a built-in name and cannot be redefined", st->name);
        } else {
            st->id = s.n_defs;
            s.defs[s.n_defs++] = st;
        }
        if (st->kind == SS_S_BLOCK)
            for (int i = 0; i < st->n_params; i++)
                for (int j = 0; j < i; j++)
                    if (!strcmp(st->params[i].name, st->params[j].name))
                        err(&s, st->params[i].tok, "parameter '%s' of block '%s' is repeated",
                            st->params[i].name, st->name);
    }
    if (s.n_defs && !(s.dep = calloc((size_t)s.n_defs * (size_t)s.n_defs, 1))) goto oom;
    for (ss_stmt *st = p->stmts; st; st = st->next) {
        int registered = (st->kind == SS_S_HPARAM || st->kind == SS_S_LET ||
                          st->kind == SS_S_BLOCK || st->kind == SS_S_CELL) &&
                         st->id < s.n_defs && s.defs[st->id] == st;
        s.cur = registered ? st->id : -1;
        s.block = st->kind == SS_S_BLOCK ? st : NULL;
        s.in_stage = 0;
        switch (st->kind) {
        case SS_S_HPARAM: walk(&s, st->body, K_VALUE); break;
        case SS_S_LET: walk(&s, st->body, K_ANY); break;
        case SS_S_BLOCK:
            for (int i = 0; i < st->n_params; i++)
                if (st->params[i].def) {
                    s.block = NULL;
                    walk(&s, st->params[i].def, K_ANY);
                    s.block = st;
                }
            walk(&s, st->body, K_NET);
            break;
        case SS_S_CELL: walk_cell(&s, st->body); break;
        case SS_S_NETWORK: walk(&s, st->body, K_NET); break;
        default: break;
        }
    }
    find_cycles(&s);
    for (int i = 0; i < s.n_defs; i++) {
        ss_stmt *st = s.defs[i];
        if (st->used || st->kind == SS_S_HPARAM) continue;
        ss_diag_warning(d, st->name_tok->line, st->name_tok->col, "%s '%s' is never used",
                        st->kind == SS_S_LET ? "let" : st->kind == SS_S_CELL ? "cell" : "block",
                        st->name);
    }
    free(s.defs);
    free(s.dep);
    return d->n_errors - before;
oom:
    free(s.defs);
    free(s.dep);
    ss_diag_error(d, 1, 1, "out of memory");
    return d->n_errors - before;
}
