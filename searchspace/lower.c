/*
 * lower.c - lowering of a checked syntax tree into decisions and a template.
 *
 * Walks the network (and the hparams) once, expanding blocks at each call,
 * stages and repeats per repetition and cells per edge, and creates one
 * decision per unnamed domain it meets, named by its path ("stage2[1].mb.kernel").
 * Lets, hparams and block arguments are bindings: evaluated once, on first
 * use, so every use of a name is the same decision. Each decision's condition
 * is the innermost enclosing branch or repetition; a binding's decisions get
 * the condition shared by all its uses (or none) once lowering is done.
 * It also checks what depends on how values flow: parameter types and ranges
 * of constants. It does not check shapes (compile.c probes them).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "searchspace/compiler.h"

typedef struct pcond {
    int parent;           /* -1 none, >= 0 a decision, <= -2 the condition of binding -2-parent */
    int64_t lo, hi;       /* int parent */
    unsigned char *allowed; /* choice parent */
} pcond;

typedef struct pdec {
    const char *name;
    ss_domain dom;
    pcond cond;
    int is_hparam;
    int line, col;
} pdec;

struct env;

typedef struct binding {
    const char *name;  /* how it is referenced */
    const char *dname; /* name of its decisions */
    ss_node *expr;     /* NULL when pre-evaluated */
    struct env *env;   /* where expr is evaluated */
    ss_tval *stage_stride;
    int id;
    int state; /* 0 not yet, 1 being evaluated, 2 value, 3 network, 4 failed */
    ss_tval *val;
    ss_tnet *net;
    int n_uses, differ;
    pcond use_cond;
    int is_hparam;
    int is_global; /* a let, hparam or cell statement */
} binding;

typedef struct env {
    binding *b;
    struct env *next;
} env;

typedef struct ctx {
    const char *prefix;
    const char *direct; /* the name for the first construct met (a binding's own name) */
    pcond cond;
    ss_tval *stage_stride; /* NULL outside a stage */
    env *env;
    int depth;
    int is_hparam;
} ctx;

/* A string -> int hash map (open addressing) for segment counters and the
 * set of decision names, so that big spaces lower in linear time. */
typedef struct strmap {
    const char **keys;
    int *vals;
    size_t cap, n;
} strmap;

typedef struct lower {
    nas_arena *a;            /* scratch (freed with the syntax tree) */
    struct ss_template *t;   /* template arena */
    ss_diag *d;
    ss_space *s;
    ss_program *p;
    pdec *decs;
    int n_decs, cap_decs;
    binding **binds;
    int n_binds, cap_binds;
    strmap counters; /* "prefix/base" -> uses */
    strmap names;    /* decision names in use */
    long n_tnets; /* template size, bounded by SS_MAX_TNETS */
    int oom;
} lower;

#define SS_MAX_TNETS 200000

static ss_tnet *lower_net(lower *L, ctx *c, ss_node *n);
static ss_tval *lower_value(lower *L, ctx *c, ss_node *n, const char *hint);

static void error(lower *L, const ss_tok *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void error(lower *L, const ss_tok *t, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ss_diag_error(L->d, t->line, t->col, "%s", msg);
}

static void *talloc(lower *L, size_t size) {
    void *p = nas_arena_alloc(&L->t->arena, size);
    if (!p) L->oom = 1;
    return p;
}

static void *salloc(lower *L, size_t size) {
    void *p = nas_arena_alloc(L->a, size);
    if (!p) L->oom = 1;
    return p;
}

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The value slot of key (inserted as 0 when absent), or NULL when out of memory. */
static int *strmap_slot(lower *L, strmap *m, const char *key) {
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        const char **keys = calloc(cap, sizeof *keys);
        int *vals = calloc(cap, sizeof *vals);
        if (!keys || !vals) {
            free(keys);
            free(vals);
            L->oom = 1;
            return NULL;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->keys[i]) continue;
            size_t j = str_hash(m->keys[i]) & (cap - 1);
            while (keys[j]) j = (j + 1) & (cap - 1);
            keys[j] = m->keys[i];
            vals[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    size_t j = str_hash(key) & (m->cap - 1);
    while (m->keys[j] && strcmp(m->keys[j], key)) j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) {
        m->keys[j] = key;
        m->n++;
    }
    return &m->vals[j];
}

static int strmap_has(const strmap *m, const char *key) {
    if (!m->cap) return 0;
    size_t j = str_hash(key) & (m->cap - 1);
    while (m->keys[j] && strcmp(m->keys[j], key)) j = (j + 1) & (m->cap - 1);
    return m->keys[j] != NULL;
}

static void strmap_free(strmap *m) {
    free(m->keys);
    free(m->vals);
}

static const char *fmt_str(lower *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *fmt_str(lower *L, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *s = nas_arena_strdup(L->a, buf);
    if (!s) {
        L->oom = 1;
        return "";
    }
    return s;
}

static const char *join(lower *L, const char *prefix, const char *seg) {
    if (!prefix || !*prefix) return fmt_str(L, "%s", seg);
    return fmt_str(L, "%s.%s", prefix, seg);
}

/* A readable segment name unique within prefix: "conv", "conv2", ... or, when
 * numbered, "stage1", "stage2", ... */
static const char *segment(lower *L, const ctx *c, const char *base, int numbered) {
    const char *key = fmt_str(L, "%s/%s", c->prefix ? c->prefix : "", base);
    int *k = strmap_slot(L, &L->counters, key);
    if (!k) return base;
    ++*k;
    const char *seg = (numbered || *k > 1) ? fmt_str(L, "%s%d", base, *k) : base;
    return join(L, c->prefix, seg);
}

/* The name for the next construct: the binding's own name, or a new segment. */
static const char *take_name(lower *L, ctx *c, const char *base, int numbered) {
    if (c->direct) {
        const char *n = c->direct;
        c->direct = NULL;
        return n;
    }
    return segment(L, c, base, numbered);
}

static const char *unique_name(lower *L, const char *want) {
    const char *name = want;
    for (int k = 2; strmap_has(&L->names, name) && !L->oom; k++)
        name = fmt_str(L, "%s_%d", want, k);
    strmap_slot(L, &L->names, name);
    return name;
}

static int new_decision(lower *L, const ctx *c, const char *name, const ss_domain *dom,
                        const ss_tok *at) {
    if (L->n_decs == L->cap_decs) {
        int cap = L->cap_decs ? L->cap_decs * 2 : 32;
        pdec *grown = realloc(L->decs, (size_t)cap * sizeof *grown);
        if (!grown) {
            L->oom = 1;
            return -1;
        }
        L->decs = grown;
        L->cap_decs = cap;
    }
    pdec *d = &L->decs[L->n_decs];
    d->name = unique_name(L, name);
    d->dom = *dom;
    d->cond = c->cond;
    d->is_hparam = c->is_hparam;
    d->line = at->line;
    d->col = at->col;
    return L->n_decs++;
}

static ss_tval *tval_new(lower *L, ss_tval_kind kind, const ss_tok *t) {
    ss_tval *v = talloc(L, sizeof *v);
    if (!v) return NULL;
    v->kind = kind;
    v->dec = -1;
    v->line = t ? t->line : 0;
    v->col = t ? t->col : 0;
    return v;
}

static ss_tval *tval_num(lower *L, double x, const ss_tok *t) {
    ss_tval *v = tval_new(L, SS_V_NUM, t);
    if (v) v->num = x;
    return v;
}

static ss_tnet *tnet_new(lower *L, ss_tnet_kind kind, const ss_tok *t, const char *scope) {
    if (++L->n_tnets > SS_MAX_TNETS) {
        if (L->n_tnets == SS_MAX_TNETS + 1)
            error(L, t, "the space is too large: more than %d layers after expanding repeats, "
                        "stages, blocks and cells", SS_MAX_TNETS);
        return NULL;
    }
    ss_tnet *n = talloc(L, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->line = t->line;
    n->col = t->col;
    n->dec = -1;
    char buf[NAS_ARCH_SCOPE_MAX];
    snprintf(buf, sizeof buf, "%s", scope ? scope : "");
    n->scope = nas_arena_strdup(&L->t->arena, buf);
    if (!n->scope) L->oom = 1;
    return n;
}

static int cond_equal(const lower *L, const pcond *a, const pcond *b) {
    if (a->parent != b->parent) return 0;
    if (a->parent < 0) return 1;
    const ss_domain *pd = &L->decs[a->parent].dom;
    if (pd->kind == SS_DOMAIN_CHOICE) return !memcmp(a->allowed, b->allowed, (size_t)pd->n);
    return a->lo == b->lo && a->hi == b->hi;
}

static void record_use(lower *L, binding *b, const pcond *c) {
    if (b->is_hparam) return;
    if (b->n_uses == 0) b->use_cond = *c;
    else if (!cond_equal(L, &b->use_cond, c)) b->differ = 1;
    b->n_uses++;
}

static binding *new_binding(lower *L, const char *name, const char *dname, ss_node *expr, env *e,
                            ss_tval *stage_stride) {
    if (L->n_binds == L->cap_binds) {
        int cap = L->cap_binds ? L->cap_binds * 2 : 32;
        binding **grown = realloc(L->binds, (size_t)cap * sizeof *grown);
        if (!grown) {
            L->oom = 1;
            return NULL;
        }
        L->binds = grown;
        L->cap_binds = cap;
    }
    binding *b = salloc(L, sizeof *b);
    if (!b) return NULL;
    b->name = name;
    b->dname = dname;
    b->expr = expr;
    b->env = e;
    b->stage_stride = stage_stride;
    b->id = L->n_binds;
    b->use_cond.parent = -1;
    L->binds[L->n_binds++] = b;
    return b;
}

static binding *global_binding(lower *L, const char *name) {
    for (int i = 0; i < L->n_binds; i++)
        if (L->binds[i]->is_global && !strcmp(L->binds[i]->name, name)) return L->binds[i];
    return NULL;
}

static ss_stmt *find_block(lower *L, const char *name) {
    for (ss_stmt *st = L->p->stmts; st; st = st->next)
        if (st->kind == SS_S_BLOCK && !strcmp(st->name, name)) return st;
    return NULL;
}

static binding *env_find(env *e, const char *name) {
    for (; e; e = e->next)
        if (!strcmp(e->b->name, name)) return e->b;
    return NULL;
}

/* Evaluates a binding in its own context (once). want: 2 value, 3 network. */
static int force(lower *L, binding *b, const ctx *use, const ss_tok *at, int want) {
    record_use(L, b, &use->cond);
    if (b->state == want) return 1;
    if (b->state == 4) return 0;
    if (b->state == 1) {
        error(L, at, "'%s' refers to itself", b->name);
        return 0;
    }
    if (b->state != 0) {
        error(L, at, "'%s' is used as a %s here but as a %s elsewhere", b->name,
              want == 2 ? "value" : "layer", want == 2 ? "layer" : "value");
        return 0;
    }
    b->state = 1;
    ctx c = {b->dname, b->dname, {-2 - b->id, 0, 0, NULL}, b->stage_stride, b->env, use->depth + 1,
             b->is_hparam};
    if (b->is_hparam) c.cond.parent = -1;
    if (want == 2) b->val = lower_value(L, &c, b->expr, b->dname);
    else b->net = lower_net(L, &c, b->expr);
    b->state = (want == 2 ? b->val != NULL : b->net != NULL) ? want : 4;
    return b->state == want;
}

/* ---- values ---- */

static const char *short_num(lower *L, double x) {
    char buf[64];
    if (x == floor(x) && fabs(x) < 1e15) snprintf(buf, sizeof buf, "%.0f", x);
    else snprintf(buf, sizeof buf, "%g", x);
    if (strtod(buf, NULL) != x) snprintf(buf, sizeof buf, "%.17g", x);
    return fmt_str(L, "%s", buf);
}

static int const_value(ss_node *n, double *v) {
    if (n->kind == SS_N_NUM) {
        *v = n->num;
        return 1;
    }
    if (n->kind == SS_N_NEG) {
        if (!const_value(n->lhs, v)) return 0;
        *v = -*v;
        return 1;
    }
    if (n->kind == SS_N_BIN) {
        double a, b;
        if (!const_value(n->lhs, &a) || !const_value(n->rhs, &b)) return 0;
        switch (n->op) {
        case '+': *v = a + b; break;
        case '-': *v = a - b; break;
        case '*': *v = a * b; break;
        default:
            if (b == 0) return 0;
            *v = a / b;
        }
        return isfinite(*v) && fabs(*v) <= 1e15;
    }
    if (n->kind == SS_N_SEQ && n->n_items == 1) return const_value(n->items[0], v);
    return 0;
}

static ss_tval *value_choice(lower *L, ctx *c, ss_node *n, const char *hint) {
    ss_domain dom = {0};
    dom.kind = SS_DOMAIN_CHOICE;
    dom.n = n->n_args;
    dom.labels = salloc(L, (size_t)dom.n * sizeof *dom.labels);
    dom.nums = salloc(L, (size_t)dom.n * sizeof *dom.nums);
    if (!dom.labels || !dom.nums) return NULL;
    int ok = 1;
    for (int i = 0; i < dom.n; i++) {
        ss_node *o = n->args[i].val;
        double v;
        if (o->kind == SS_N_SEQ && o->n_items == 1) o = o->items[0];
        if (const_value(o, &v)) {
            dom.labels[i] = (char *)short_num(L, v);
            dom.nums[i] = v;
        } else if (o->kind == SS_N_IDENT && !env_find(c->env, o->name) &&
                   !global_binding(L, o->name) && strcmp(o->name, "classes") &&
                   strcmp(o->name, "stride")) {
            dom.labels[i] = (char *)o->name;
            dom.nums[i] = NAN;
        } else {
            error(L, o->tok, "options of a value choice must be constants, got '%s'", o->label);
            ok = 0;
            continue;
        }
        for (int j = 0; j < i; j++)
            if (dom.labels[j] && !strcmp(dom.labels[j], dom.labels[i])) {
                error(L, o->tok, "duplicate option '%s' in choice", dom.labels[i]);
                ok = 0;
            }
    }
    if (!ok) return NULL;
    const char *name = c->direct ? c->direct : hint;
    c->direct = NULL;
    int dec = new_decision(L, c, name, &dom, n->tok);
    if (dec < 0) return NULL;
    ss_tval *t = tval_new(L, SS_V_DEC, n->tok);
    if (t) t->dec = dec;
    return t;
}

static ss_tval *value_range(lower *L, ctx *c, ss_node *n, const char *hint) {
    ss_domain dom = {0};
    double lo = 0, hi = 0;
    const_value(n->args[0].val, &lo);
    const_value(n->args[1].val, &hi);
    if (!strcmp(n->name, "int")) {
        dom.kind = SS_DOMAIN_INT;
        dom.lo = (int64_t)lo;
        dom.hi = (int64_t)hi;
    } else {
        dom.kind = SS_DOMAIN_FLOAT;
        dom.flo = lo;
        dom.fhi = hi;
        dom.scale = SS_SCALE_LINEAR;
        if (n->n_args == 3) {
            const char *sc = n->args[2].val->name;
            dom.scale = !strcmp(sc, "log") ? SS_SCALE_LOG
                        : !strcmp(sc, "reverse_log") ? SS_SCALE_REVERSE_LOG
                                                     : SS_SCALE_LINEAR;
        }
    }
    const char *name = c->direct ? c->direct : hint;
    c->direct = NULL;
    int dec = new_decision(L, c, name, &dom, n->tok);
    if (dec < 0) return NULL;
    ss_tval *t = tval_new(L, SS_V_DEC, n->tok);
    if (t) t->dec = dec;
    return t;
}

/* 1 if v is numeric for every point (no identifiers). */
static int numeric(lower *L, const ss_tval *v) {
    switch (v->kind) {
    case SS_V_NUM: return 1;
    case SS_V_IDENT: return 0;
    case SS_V_DEC: {
        const ss_domain *d = &L->decs[v->dec].dom;
        if (d->kind != SS_DOMAIN_CHOICE) return 1;
        for (int i = 0; i < d->n; i++)
            if (isnan(d->nums[i])) return 0;
        return 1;
    }
    case SS_V_NEG: return numeric(L, v->l);
    case SS_V_BIN: return numeric(L, v->l) && numeric(L, v->r);
    }
    return 0;
}

static ss_tval *lower_value(lower *L, ctx *c, ss_node *n, const char *hint) {
    if (L->oom) return NULL;
    switch (n->kind) {
    case SS_N_NUM: return tval_num(L, n->num, n->tok);
    case SS_N_SEQ:
        if (n->n_items != 1) {
            error(L, n->tok, "expected a value, got the layers '%s'", n->label);
            return NULL;
        }
        return lower_value(L, c, n->items[0], hint);
    case SS_N_IDENT: {
        binding *b = env_find(c->env, n->name);
        if (!b && !strcmp(n->name, "stride")) {
            if (!c->stage_stride) {
                error(L, n->tok, "'stride' is only defined inside a stage or repeat body");
                return NULL;
            }
            return c->stage_stride;
        }
        if (!b) b = global_binding(L, n->name);
        if (b) {
            c->direct = NULL;
            return force(L, b, c, n->tok, 2) ? b->val : NULL;
        }
        if (!strcmp(n->name, "classes")) {
            if (L->s->classes < 1) {
                error(L, n->tok, "'classes' is used but not declared (classes N)");
                return NULL;
            }
            return tval_num(L, L->s->classes, n->tok);
        }
        if (find_block(L, n->name)) {
            error(L, n->tok, "'%s' is a block, not a value", n->name);
            return NULL;
        }
        ss_tval *v = tval_new(L, SS_V_IDENT, n->tok);
        /* the template outlives the syntax tree's arena: copy the name */
        if (v && !(v->ident = nas_arena_strdup(&L->t->arena, n->name))) {
            L->oom = 1;
            return NULL;
        }
        return v;
    }
    case SS_N_CALL:
        if (!strcmp(n->name, "choice")) return value_choice(L, c, n, hint);
        if (!strcmp(n->name, "int") || !strcmp(n->name, "float")) return value_range(L, c, n, hint);
        error(L, n->tok, "'%s' is a layer, not a value", n->name);
        return NULL;
    case SS_N_NEG:
    case SS_N_BIN: {
        double v;
        if (const_value(n, &v)) return tval_num(L, v, n->tok);
        if (n->kind == SS_N_BIN && n->op == '/' && const_value(n->rhs, &v) && v == 0) {
            error(L, n->rhs->tok, "division by zero");
            return NULL;
        }
        ctx sub = *c;
        sub.direct = NULL;
        c->direct = NULL;
        ss_tval *l = lower_value(L, &sub, n->lhs, hint);
        ss_tval *r = n->rhs ? lower_value(L, &sub, n->rhs, hint) : NULL;
        if (!l || (n->rhs && !r)) return NULL;
        if (!numeric(L, l) || (r && !numeric(L, r))) {
            error(L, n->tok, "arithmetic needs numbers: '%s'", n->label);
            return NULL;
        }
        ss_tval *t = tval_new(L, n->kind == SS_N_BIN ? SS_V_BIN : SS_V_NEG, n->tok);
        if (!t) return NULL;
        t->op = n->op;
        t->l = l;
        t->r = r;
        return t;
    }
    }
    return NULL;
}

/* ---- parameter checks ---- */

typedef enum ptype { PT_INT, PT_BOOL, PT_ACT, PT_RATE } ptype;

static ptype slot_type(ss_pslot s) {
    switch (s) {
    case SS_P_SE:
    case SS_P_BIAS: return PT_BOOL;
    case SS_P_ACT: return PT_ACT;
    case SS_P_RATE: return PT_RATE;
    default: return PT_INT;
    }
}

static void slot_range(ss_pslot s, double *lo, double *hi) {
    *lo = 1;
    *hi = 64;
    if (s == SS_P_OUT || s == SS_P_GROUPS) *hi = 1 << 20;
    if (s == SS_P_PAD) *lo = 0;
}

static int bool_word(const char *w) {
    return !strcmp(w, "yes") || !strcmp(w, "no") || !strcmp(w, "true") || !strcmp(w, "false");
}

static int act_word(const char *w) {
    return !strcmp(w, "relu") || !strcmp(w, "relu6") || !strcmp(w, "hswish") ||
           !strcmp(w, "sigmoid");
}

/* Checks one constant option (number x or identifier w) against a slot. */
static int check_const(lower *L, const ss_tok *at, ss_pslot s, double x, const char *w) {
    const char *pn = ss_pslot_name(s);
    double lo, hi;
    switch (slot_type(s)) {
    case PT_INT:
        if (w) {
            error(L, at, "undefined name '%s' (expected a number for '%s')", w, pn);
            return 0;
        }
        slot_range(s, &lo, &hi);
        if (x != floor(x) || x < lo || x > hi) {
            error(L, at, "'%s' must be a whole number from %.0f to %.0f, got %s", pn, lo, hi,
                  short_num(L, x));
            return 0;
        }
        return 1;
    case PT_BOOL:
        if (w ? !bool_word(w) : (x != 0 && x != 1)) {
            error(L, at, "'%s' must be yes or no, got '%s'", pn, w ? w : short_num(L, x));
            return 0;
        }
        return 1;
    case PT_ACT:
        if (!w || !act_word(w)) {
            error(L, at, "'%s' must be relu, relu6, hswish or sigmoid, got '%s'", pn,
                  w ? w : short_num(L, x));
            return 0;
        }
        return 1;
    case PT_RATE:
        if (w || !(x >= 0 && x < 1)) {
            error(L, at, "'%s' must be a number in [0, 1), got '%s'", pn, w ? w : short_num(L, x));
            return 0;
        }
        return 1;
    }
    return 0;
}

static int check_param(lower *L, const ss_tok *at, ss_pslot s, const ss_tval *v) {
    const char *pn = ss_pslot_name(s);
    switch (v->kind) {
    case SS_V_NUM: return check_const(L, at, s, v->num, NULL);
    case SS_V_IDENT: return check_const(L, at, s, 0, v->ident);
    case SS_V_DEC: {
        const pdec *d = &L->decs[v->dec];
        if (d->dom.kind == SS_DOMAIN_CHOICE) {
            for (int i = 0; i < d->dom.n; i++)
                if (!check_const(L, at, s, d->dom.nums[i],
                                 isnan(d->dom.nums[i]) ? d->dom.labels[i] : NULL))
                    return 0;
            return 1;
        }
        if (d->dom.kind == SS_DOMAIN_INT) {
            if (slot_type(s) == PT_RATE && d->dom.hi >= 1) {
                error(L, at, "'%s' must be a number in [0, 1), got int(%lld, %lld)", pn,
                      (long long)d->dom.lo, (long long)d->dom.hi);
                return 0;
            }
            return check_const(L, at, s, (double)d->dom.lo, NULL) &&
                   check_const(L, at, s, (double)d->dom.hi, NULL);
        }
        if (slot_type(s) != PT_RATE) {
            error(L, at, "'%s' needs whole numbers, got the float domain '%s'", pn, d->name);
            return 0;
        }
        if (d->dom.flo < 0 || d->dom.fhi >= 1) {
            error(L, at, "'%s' must be in [0, 1), got float(%g, %g)", pn, d->dom.flo, d->dom.fhi);
            return 0;
        }
        return 1;
    }
    case SS_V_NEG:
    case SS_V_BIN:
        if (slot_type(s) == PT_BOOL || slot_type(s) == PT_ACT) {
            error(L, at, "'%s' cannot be an arithmetic expression", pn);
            return 0;
        }
        return 1;
    }
    return 0;
}

/* ---- layers ---- */

static int stride_follows_stage(const ss_op_spec *op) {
    return op->op == NAS_OP_CONV || op->op == NAS_OP_MBCONV || op->op == NAS_OP_RESBLOCK;
}

static ss_tnet *lower_op(lower *L, ctx *c, ss_node *n, const ss_op_spec *op) {
    const char *seg = take_name(L, c, op->name, 0);
    ss_tnet *t = tnet_new(L, SS_T_OP, n->tok, seg);
    if (!t) return NULL;
    t->spec = op;
    ctx sub = *c;
    sub.direct = NULL;
    int ok = 1;
    for (int i = 0; i < n->n_args; i++) {
        ss_arg *a = &n->args[i];
        int slot = a->name ? ss_pslot_from_name(a->name) : op->pos[i];
        if (slot < 0) continue;
        ss_tval *v = lower_value(L, &sub, a->val, join(L, seg, ss_pslot_name((ss_pslot)slot)));
        if (!v || !check_param(L, a->val->tok, (ss_pslot)slot, v)) {
            ok = 0;
            continue;
        }
        t->p[slot] = v;
    }
    if (!t->p[SS_P_STRIDE] && c->stage_stride && stride_follows_stage(op) &&
        (op->allowed & (1u << SS_P_STRIDE)))
        t->p[SS_P_STRIDE] = c->stage_stride;
    return ok ? t : NULL;
}

static ss_tnet *lower_block(lower *L, ctx *c, ss_node *n, ss_stmt *blk) {
    if (c->depth > 64) {
        error(L, n->tok, "blocks nested more than 64 deep at '%s'", blk->name);
        return NULL;
    }
    const char *seg = take_name(L, c, blk->name, 0);
    env *e = NULL;
    for (int j = 0; j < blk->n_params; j++) {
        ss_param *prm = &blk->params[j];
        ss_node *arg = NULL;
        for (int i = 0; n->kind == SS_N_CALL && i < n->n_args; i++)
            if (n->args[i].name ? !strcmp(n->args[i].name, prm->name) : i == j)
                arg = n->args[i].val;
        binding *b;
        const char *dname = join(L, seg, prm->name);
        if (arg) {
            b = new_binding(L, prm->name, dname, arg, c->env, c->stage_stride);
        } else if (!strcmp(prm->name, "stride") && c->stage_stride) {
            b = new_binding(L, prm->name, dname, NULL, NULL, NULL);
            if (b) b->state = 2, b->val = c->stage_stride;
        } else if (prm->def) {
            b = new_binding(L, prm->name, dname, prm->def, NULL, c->stage_stride);
        } else {
            error(L, n->tok, "block '%s' needs argument '%s'%s", blk->name, prm->name,
                  !strcmp(prm->name, "stride") ? " (or a call inside a stage)" : "");
            return NULL;
        }
        env *link = salloc(L, sizeof *link);
        if (!b || !link) return NULL;
        link->b = b;
        link->next = e;
        e = link;
    }
    ctx sub = *c;
    sub.prefix = seg;
    /* a block of one layer names that layer's decisions after the block */
    sub.direct = (blk->body->kind == SS_N_CALL || blk->body->kind == SS_N_IDENT) &&
                         ss_op_find(blk->body->name)
                     ? seg
                     : NULL;
    sub.env = e;
    sub.depth = c->depth + 1;
    return lower_net(L, &sub, blk->body);
}

static ss_tnet *lower_net_choice(lower *L, ctx *c, ss_node *n) {
    ss_domain dom = {0};
    dom.kind = SS_DOMAIN_CHOICE;
    dom.n = n->n_args;
    dom.labels = salloc(L, (size_t)dom.n * sizeof *dom.labels);
    dom.nums = salloc(L, (size_t)dom.n * sizeof *dom.nums);
    if (!dom.labels || !dom.nums) return NULL;
    for (int i = 0; i < dom.n; i++) {
        dom.labels[i] = (char *)n->args[i].val->label;
        dom.nums[i] = NAN;
        for (int j = 0; j < i; j++)
            if (!strcmp(dom.labels[j], dom.labels[i])) {
                error(L, n->args[i].val->tok, "duplicate option '%s' in choice", dom.labels[i]);
                return NULL;
            }
    }
    int was_direct = c->direct != NULL;
    const char *name = take_name(L, c, "choice", 0);
    int dec = new_decision(L, c, name, &dom, n->tok);
    ss_tnet *t = tnet_new(L, SS_T_CHOICE, n->tok, name);
    if (dec < 0 || !t) return NULL;
    t->dec = dec;
    t->n = dom.n;
    t->items = talloc(L, (size_t)dom.n * sizeof *t->items);
    if (!t->items) return NULL;
    int ok = 1;
    for (int i = 0; i < dom.n; i++) {
        ctx sub = *c;
        sub.direct = NULL;
        if (was_direct) sub.prefix = name;
        sub.cond.parent = dec;
        sub.cond.allowed = salloc(L, (size_t)dom.n);
        if (!sub.cond.allowed) return NULL;
        sub.cond.allowed[i] = 1;
        if (!(t->items[i] = lower_net(L, &sub, n->args[i].val))) ok = 0;
    }
    return ok ? t : NULL;
}

static ss_node *named_arg(ss_node *n, const char *name, int pos) {
    for (int i = 0; i < n->n_args; i++)
        if (n->args[i].name ? !strcmp(n->args[i].name, name) : i == pos) return n->args[i].val;
    return NULL;
}

#define SS_MAX_DEPTH 1000

static ss_tnet *lower_repeat(lower *L, ctx *c, ss_node *n) {
    int is_stage = !strcmp(n->name, "stage");
    const char *seg = take_name(L, c, n->name, 1);
    ctx sub = *c;
    sub.direct = NULL;
    ss_node *dn = named_arg(n, "depth", 0);
    ss_node *sn = is_stage ? named_arg(n, "stride", 1) : NULL;
    ss_tval *depth = lower_value(L, &sub, dn, join(L, seg, "depth"));
    ss_tval *stride = sn ? lower_value(L, &sub, sn, join(L, seg, "stride")) : tval_num(L, 1, n->tok);
    if (!depth || !stride) return NULL;
    if (sn && !check_param(L, sn->tok, SS_P_STRIDE, stride)) return NULL;
    int64_t lo, hi;
    const pdec *dd = depth->kind == SS_V_DEC ? &L->decs[depth->dec] : NULL;
    if (depth->kind == SS_V_NUM) {
        lo = hi = (int64_t)depth->num;
        if (depth->num != floor(depth->num) || depth->num < 1 || depth->num > SS_MAX_DEPTH) {
            error(L, dn->tok, "depth must be a whole number from 1 to %d, got %s", SS_MAX_DEPTH,
                  short_num(L, depth->num));
            return NULL;
        }
    } else if (dd && dd->dom.kind == SS_DOMAIN_INT) {
        lo = dd->dom.lo, hi = dd->dom.hi;
        if (lo < 1 || hi > SS_MAX_DEPTH) {
            error(L, dn->tok, "depth must be from 1 to %d, got int(%lld, %lld)", SS_MAX_DEPTH,
                  (long long)lo, (long long)hi);
            return NULL;
        }
    } else if (dd && dd->dom.kind == SS_DOMAIN_CHOICE) {
        lo = SS_MAX_DEPTH, hi = 1;
        for (int i = 0; i < dd->dom.n; i++) {
            double x = dd->dom.nums[i];
            if (isnan(x) || x != floor(x) || x < 1 || x > SS_MAX_DEPTH) {
                error(L, dn->tok, "depth options must be whole numbers from 1 to %d, got '%s'",
                      SS_MAX_DEPTH, dd->dom.labels[i]);
                return NULL;
            }
            if (x < lo) lo = (int64_t)x;
            if (x > hi) hi = (int64_t)x;
        }
    } else {
        error(L, dn->tok, "depth must be a whole number, a choice of whole numbers or an int range");
        return NULL;
    }
    /* L->decs moves as the body adds decisions: keep the depth's domain */
    ss_domain ddom = dd ? dd->dom : (ss_domain){0};
    dd = NULL;
    ss_tnet *t = tnet_new(L, SS_T_REPEAT, n->tok, seg);
    if (!t) return NULL;
    t->depth = depth;
    t->n = (int)hi;
    t->items = talloc(L, (size_t)hi * sizeof *t->items);
    if (!t->items) return NULL;
    ss_tval *one = tval_num(L, 1, n->tok);
    for (int r = 0; r < (int)hi; r++) {
        ctx rep = *c;
        rep.direct = NULL;
        rep.prefix = fmt_str(L, "%s[%d]", seg, r);
        rep.stage_stride = r == 0 ? stride : one;
        if (r + 1 > lo) {
            rep.cond.parent = depth->dec;
            if (ddom.kind == SS_DOMAIN_INT) {
                rep.cond.lo = r + 1;
                rep.cond.hi = hi;
                rep.cond.allowed = NULL;
            } else {
                rep.cond.allowed = salloc(L, (size_t)ddom.n);
                if (!rep.cond.allowed) return NULL;
                for (int i = 0; i < ddom.n; i++) rep.cond.allowed[i] = ddom.nums[i] >= r + 1;
            }
        }
        if (!(t->items[r] = lower_net(L, &rep, n->body))) return NULL;
        if (L->n_decs > 1000000) {
            error(L, n->tok, "the space has more than a million decisions");
            return NULL;
        }
    }
    return t;
}

static int const_arg(ss_node *v) {
    double x = 0;
    const_value(v, &x);
    return (int)x;
}

static int cell_edge(lower *L, ctx *c, ss_tnet *t, ss_node *ops, const char *seg, int to,
                     int from, int slot) {
    ss_cell_edge *e = &t->edges[t->n_edges++];
    e->to = to;
    e->from = from;
    e->in_dec = -1;
    ss_domain dom = {0};
    dom.kind = SS_DOMAIN_CHOICE;
    const char *ename = from >= 0 ? fmt_str(L, "%s.edge%d_%d", seg, from, to)
                                  : fmt_str(L, "%s.node%d.in%d", seg, to, slot);
    if (from < 0) {
        dom.n = to;
        dom.labels = salloc(L, (size_t)to * sizeof *dom.labels);
        dom.nums = salloc(L, (size_t)to * sizeof *dom.nums);
        if (!dom.labels || !dom.nums) return 0;
        for (int i = 0; i < to; i++) {
            dom.labels[i] = (char *)fmt_str(L, "%d", i);
            dom.nums[i] = i;
        }
        if ((e->in_dec = new_decision(L, c, ename, &dom, ops->tok)) < 0) return 0;
        ename = fmt_str(L, "%s.node%d.op%d", seg, to, slot);
    }
    dom.n = ops->n_args;
    dom.labels = salloc(L, (size_t)dom.n * sizeof *dom.labels);
    dom.nums = salloc(L, (size_t)dom.n * sizeof *dom.nums);
    if (!dom.labels || !dom.nums) return 0;
    for (int i = 0; i < dom.n; i++) {
        dom.labels[i] = (char *)ops->args[i].val->label;
        dom.nums[i] = NAN;
        for (int j = 0; j < i; j++)
            if (!strcmp(dom.labels[j], dom.labels[i])) {
                error(L, ops->args[i].val->tok, "duplicate option '%s' in choice", dom.labels[i]);
                return 0;
            }
    }
    if ((e->op_dec = new_decision(L, c, ename, &dom, ops->tok)) < 0) return 0;
    e->ops = talloc(L, (size_t)dom.n * sizeof *e->ops);
    if (!e->ops) return 0;
    for (int i = 0; i < dom.n; i++) {
        ctx sub = *c;
        sub.direct = NULL;
        sub.prefix = ename;
        sub.stage_stride = NULL;
        sub.cond.parent = e->op_dec;
        sub.cond.allowed = salloc(L, (size_t)dom.n);
        if (!sub.cond.allowed) return 0;
        sub.cond.allowed[i] = 1;
        if (!(e->ops[i] = lower_net(L, &sub, ops->args[i].val))) return 0;
    }
    return 1;
}

static ss_tnet *lower_cell(lower *L, ctx *c, ss_node *n) {
    const char *seg = take_name(L, c, "cell", 1);
    ss_node *ops = named_arg(n, "ops", 1), *in = named_arg(n, "inputs", 2);
    int nodes = const_arg(named_arg(n, "nodes", 0));
    int k = in ? const_arg(in) : 0;
    ss_tnet *t = tnet_new(L, SS_T_CELL, n->tok, seg);
    if (!t) return NULL;
    t->nodes = nodes;
    t->n_ops = ops->n_args;
    t->edges = talloc(L, (size_t)nodes * (size_t)nodes * sizeof *t->edges);
    if (!t->edges) return NULL;
    ctx sub = *c;
    sub.direct = NULL;
    for (int j = 1; j < nodes; j++) {
        if (k == 0 || j <= k) {
            for (int i = 0; i < j; i++)
                if (!cell_edge(L, &sub, t, ops, seg, j, i, 0)) return NULL;
        } else {
            for (int s = 0; s < k; s++)
                if (!cell_edge(L, &sub, t, ops, seg, j, -1, s)) return NULL;
        }
    }
    return t;
}

static ss_tnet *lower_net(lower *L, ctx *c, ss_node *n) {
    if (L->oom) return NULL;
    switch (n->kind) {
    case SS_N_SEQ: {
        if (n->n_items == 1) return lower_net(L, c, n->items[0]);
        ss_tnet *t = tnet_new(L, SS_T_SEQ, n->tok, c->prefix);
        if (!t) return NULL;
        t->n = n->n_items;
        t->items = talloc(L, (size_t)(n->n_items ? n->n_items : 1) * sizeof *t->items);
        if (!t->items) return NULL;
        ctx sub = *c;
        if (sub.direct) sub.prefix = sub.direct;
        sub.direct = NULL;
        c->direct = NULL;
        int ok = 1;
        for (int i = 0; i < n->n_items; i++)
            if (!(t->items[i] = lower_net(L, &sub, n->items[i]))) ok = 0;
        return ok ? t : NULL;
    }
    case SS_N_IDENT: {
        binding *b = env_find(c->env, n->name);
        if (!b) b = global_binding(L, n->name);
        if (b && b->is_hparam && ss_op_find(n->name)) b = NULL;
        if (b) {
            if (b->is_hparam) {
                error(L, n->tok, "'%s' is a hyperparameter, not a layer", n->name);
                return NULL;
            }
            c->direct = NULL;
            return force(L, b, c, n->tok, 3) ? b->net : NULL;
        }
        ss_stmt *blk = find_block(L, n->name);
        if (blk) return lower_block(L, c, n, blk);
        const ss_op_spec *op = ss_op_find(n->name);
        if (op) return lower_op(L, c, n, op);
        error(L, n->tok, "unknown op or block '%s'", n->name);
        return NULL;
    }
    case SS_N_CALL: {
        if (!strcmp(n->name, "choice")) return lower_net_choice(L, c, n);
        if (!strcmp(n->name, "stage") || !strcmp(n->name, "repeat")) return lower_repeat(L, c, n);
        if (!strcmp(n->name, "cell")) return lower_cell(L, c, n);
        if (!strcmp(n->name, "residual")) {
            ss_tnet *t = tnet_new(L, SS_T_RESIDUAL, n->tok, c->prefix);
            ctx sub = *c;
            sub.direct = NULL;
            c->direct = NULL;
            if (!t || !(t->body = lower_net(L, &sub, n->body))) return NULL;
            ss_node *sc = named_arg(n, "shortcut", -1);
            if (sc && !(t->shortcut = lower_net(L, &sub, sc))) return NULL;
            return t;
        }
        binding *gb = global_binding(L, n->name);
        if (gb && gb->is_hparam && ss_op_find(n->name)) gb = NULL;
        if (env_find(c->env, n->name) || gb) {
            error(L, n->tok, "'%s' is not a block; it takes no arguments", n->name);
            return NULL;
        }
        ss_stmt *blk = find_block(L, n->name);
        if (blk) return lower_block(L, c, n, blk);
        const ss_op_spec *op = ss_op_find(n->name);
        if (op) return lower_op(L, c, n, op);
        error(L, n->tok, "unknown op or block '%s'", n->name);
        return NULL;
    }
    case SS_N_NUM: error(L, n->tok, "expected a layer, got the number %s", n->label); return NULL;
    case SS_N_BIN:
    case SS_N_NEG:
        error(L, n->tok, "expected a layer, got the arithmetic '%s'", n->label);
        return NULL;
    }
    return NULL;
}

/* ---- the whole program ---- */

static pcond resolve(lower *L, pcond c) {
    for (int guard = 0; c.parent <= -2 && guard < 100000; guard++) {
        binding *b = L->binds[-2 - c.parent];
        if (b->n_uses == 0 || b->differ) {
            c.parent = -1;
            break;
        }
        c = b->use_cond;
    }
    if (c.parent <= -2) c.parent = -1;
    return c;
}

void ss_template_destroy(struct ss_template *t) {
    if (!t) return;
    nas_arena_deinit(&t->arena);
    free(t);
}

static int emit(lower *L) {
    ss_space *s = L->s;
    int n = L->n_decs ? L->n_decs : 1;
    L->t->dec_line = talloc(L, (size_t)n * sizeof(int));
    L->t->dec_col = talloc(L, (size_t)n * sizeof(int));
    if (!L->t->dec_line || !L->t->dec_col) return 0;
    L->t->n_decisions = L->n_decs;
    for (int i = 0; i < L->n_decs; i++) {
        pdec *d = &L->decs[i];
        pcond c = resolve(L, d->cond);
        L->t->dec_line[i] = d->line;
        L->t->dec_col[i] = d->col;
        if (c.parent >= i) {
            ss_diag_error(L->d, 1, 1, "internal error: decision '%s' has a later parent", d->name);
            return 0;
        }
        ss_decision sd = {(char *)d->name, d->dom, {c.parent, c.allowed, c.lo, c.hi},
                          d->is_hparam};
        if (ss_space_add_decision(s, &sd) != i) {
            L->oom = 1;
            return 0;
        }
    }
    return 1;
}

int ss_lower(ss_program *p, ss_diag *d, ss_space *s) {
    nas_arena scratch;
    nas_arena_init(&scratch, 0);
    lower L = {&scratch, NULL, d, s, p, NULL, 0, 0, NULL, 0, 0, {0}, {0}, 0, 0};
    int before = d->n_errors;
    L.t = calloc(1, sizeof *L.t);
    if (!L.t) {
        ss_diag_error(d, 1, 1, "out of memory");
        goto done;
    }
    nas_arena_init(&L.t->arena, 0);
    ss_stmt *network = NULL;
    int n_hparams = 0;
    for (ss_stmt *st = p->stmts; st; st = st->next) {
        switch (st->kind) {
        case SS_S_SPACE:
            free(s->name);
            s->name = malloc(strlen(st->name) + 1);
            if (!s->name) L.oom = 1;
            else strcpy(s->name, st->name);
            break;
        case SS_S_INPUT:
            s->in_c = st->dims[0], s->in_h = st->dims[1], s->in_w = st->dims[2];
            break;
        case SS_S_CLASSES: s->classes = st->dims[0]; break;
        case SS_S_NETWORK: network = st; break;
        case SS_S_HPARAM: n_hparams++; /* fall through */
        case SS_S_LET:
        case SS_S_CELL: {
            binding *b = new_binding(&L, st->name, st->name, st->body, NULL, NULL);
            if (b) {
                b->is_hparam = st->kind == SS_S_HPARAM;
                b->is_global = 1;
            }
            break;
        }
        case SS_S_CONSTRAINT: {
            const char *cmp = st->cmp == SS_CMP_LE ? "<=" : st->cmp == SS_CMP_LT ? "<"
                              : st->cmp == SS_CMP_GE ? ">=" : ">";
            const char *text = fmt_str(&L, "%s %s %.*s", st->metric, cmp, st->value_tok->len,
                                       st->value_tok->loc);
            if (ss_space_add_constraint(s, st->metric, st->cmp, st->value, text) < 0) L.oom = 1;
            break;
        }
        case SS_S_OBJECTIVE:
            if (ss_space_add_objective(s, st->metric, st->maximize) < 0) L.oom = 1;
            break;
        default: break;
        }
    }
    L.t->hparams = talloc(&L, (size_t)(n_hparams ? n_hparams : 1) * sizeof *L.t->hparams);
    ctx top = {"", NULL, {-1, 0, 0, NULL}, NULL, NULL, 0, 0};
    for (ss_stmt *st = p->stmts; st && !L.oom; st = st->next) {
        if (st->kind != SS_S_HPARAM) continue;
        binding *b = global_binding(&L, st->name);
        if (!b || !force(&L, b, &top, st->name_tok, 2)) continue;
        ss_tval *v = b->val;
        L.t->hparams[L.t->n_hparams].name = nas_arena_strdup(&L.t->arena, st->name);
        L.t->hparams[L.t->n_hparams++].val = v;
    }
    if (network && !L.oom) L.t->net = lower_net(&L, &top, network->body);
    if (!L.oom && d->n_errors == before) emit(&L);
    if (L.oom) ss_diag_error(d, 1, 1, "out of memory");
done:
    if (d->n_errors == before && L.t) {
        s->tmpl = L.t;
        s->tmpl_destroy = ss_template_destroy;
    } else {
        ss_template_destroy(L.t);
    }
    free(L.decs);
    free(L.binds);
    strmap_free(&L.counters);
    strmap_free(&L.names);
    nas_arena_deinit(&scratch);
    return d->n_errors - before;
}
