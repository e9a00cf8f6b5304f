/*
 * test_searchspace.c - the .nas compiler and compiled spaces.
 *
 * Bad input: each case checks the exact first diagnostic (file:line:col,
 * message) and that compilation fails without crashing. Good input: the
 * DESIGN.md examples, conditions of stages/branches/lets, cells, residuals.
 * Properties over random points of every shipped space: each realizes to an
 * arch that passes nas_arch_check, arch JSON and point JSON round trips are
 * the identity, canonical points dedupe, enumeration count == cardinality.
 * Golden files of `nas space show --json` are diffed by tests/searchspace.cmake.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "nas/core/arch.h"
#include "searchspace/space.h"
#include "tests/test.h"

/* Compiles src as "t.nas"; returns the status and the diagnostics text
 * (malloc'd, caller frees) through *diag_text. */
static int compile_text(const char *src, size_t len, ss_space **out, char **diag_text,
                        nas_error *err) {
    FILE *f = tmpfile();
    if (!f) return -1;
    int st = ss_space_compile_string("t.nas", src, len, f, out, err);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
    if (buf) buf[got] = '\0';
    fclose(f);
    *diag_text = buf;
    return st;
}

/* The first "...: error: ..." line of the diagnostics (warnings skipped). */
static char *first_line(const char *s) {
    for (const char *p = s; p && *p;) {
        const char *nl = strchr(p, '\n');
        const char *err = strstr(p, ": error: ");
        if (err && (!nl || err < nl)) {
            s = p;
            break;
        }
        p = nl ? nl + 1 : NULL;
    }
    const char *e = strchr(s, '\n');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    char *r = malloc(n + 1);
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

typedef struct bad_case {
    const char *what;
    const char *src;
    const char *diag; /* exact first line of the diagnostics */
} bad_case;

#define HEAD "space s\ninput 1x8x8\nclasses 10\n"
#define TAIL " global_avg_pool fc(out = classes)\n}\n"

static const bad_case BAD[] = {
    {"unknown op", HEAD "network {\n  convv(kernel = 3)" TAIL,
     "t.nas:5:3: error: unknown op or block 'convv'"},
    {"unknown parameter", HEAD "network {\n  conv(kernal = 3)" TAIL,
     "t.nas:5:8: error: unknown parameter 'kernal' for 'conv'"},
    {"missing parameter", HEAD "network {\n  conv(out = 3)" TAIL,
     "t.nas:5:3: error: 'conv' needs 'kernel'"},
    {"wrong type: identifier for a number", HEAD "network {\n  conv(kernel = relu)" TAIL,
     "t.nas:5:17: error: undefined name 'relu' (expected a number for 'kernel')"},
    {"wrong type: layer as a value", HEAD "hparam lr = conv(kernel = 3)\nnetwork {\n " TAIL,
     "t.nas:4:13: error: 'conv' is a layer, not a value"},
    {"wrong type: number as a layer", HEAD "network {\n  3" TAIL,
     "t.nas:5:3: error: expected a layer, got the number 3"},
    {"wrong type: bool", HEAD "network {\n  mbconv(kernel = 3, expand = 2, se = maybe)" TAIL,
     "t.nas:5:39: error: 'se' must be yes or no, got 'maybe'"},
    {"rate out of range", HEAD "network {\n  dropout(rate = 1.5)" TAIL,
     "t.nas:5:18: error: 'rate' must be a number in [0, 1), got '1.5'"},
    {"empty choice", HEAD "network {\n  conv(kernel = choice())" TAIL,
     "t.nas:5:17: error: empty choice: choice() needs at least one option"},
    {"int lo > hi", HEAD "hparam x = int(5, 2)\nnetwork {\n " TAIL,
     "t.nas:4:12: error: empty range: int(5, 2) has lo > hi"},
    {"float lo > hi", HEAD "hparam x = float(0.5, 0.1)\nnetwork {\n " TAIL,
     "t.nas:4:12: error: empty range: float(0.5, 0.1) has lo > hi"},
    {"log scale lo <= 0", HEAD "hparam x = float(0, 1, log)\nnetwork {\n " TAIL,
     "t.nas:4:18: error: log scale needs lo > 0, got 0"},
    {"unknown scale", HEAD "hparam x = float(1, 2, cubic)\nnetwork {\n " TAIL,
     "t.nas:4:24: error: unknown scale 'cubic' (use linear, log or reverse_log)"},
    {"unterminated block", HEAD "network {\n  global_avg_pool fc(out = classes)\n",
     "t.nas:4:9: error: unterminated '{': no matching '}'"},
    {"unclosed paren", HEAD "network {\n  conv(kernel = 3\n}\n",
     "t.nas:6:1: error: expected ')' to close the '(' at line 5, got '}'"},
    {"stray token", HEAD "network {\n " TAIL ")\n",
     "t.nas:7:1: error: expected a statement (space, input, classes, hparam, let, block, cell, "
     "network, constraint, objective), got ')'"},
    {"stray token after a statement", "space s\nhparam a = choice(1, 2) )\n",
     "t.nas:2:25: error: unexpected ')' after the statement (one statement per line)"},
    {"undefined name", HEAD "network {\n  conv(kernel = 3, out = widht)" TAIL,
     "t.nas:5:26: error: undefined name 'widht' (expected a number for 'out')"},
    {"recursive block", HEAD "block a = b\nblock b = a\nnetwork {\n  a" TAIL,
     "t.nas:4:7: error: recursive definition: 'a' uses itself (a -> b -> a)"},
    {"self-referencing let", HEAD "let x = x\nnetwork {\n  x" TAIL,
     "t.nas:4:5: error: recursive definition: 'x' uses itself (x -> x)"},
    {"impossible shape", HEAD "network {\n  maxpool(16)" TAIL,
     "t.nas:5:3: error: no point of the space gives a valid network: maxpool: node 1 (maxpool): "
     "a 8x8 input with kernel 16 and stride 16 gives a map smaller than 1x1"},
    {"stride makes the map smaller than 1x1",
     "space s\ninput 1x4x4\nclasses 10\nnetwork {\n  conv(kernel = 3, stride = 2, pad = 0) "
     "conv(kernel = 3, stride = 2, pad = 0)" TAIL,
     "t.nas:5:41: error: no point of the space gives a valid network: conv2: node 2 (conv): a 1x1 "
     "input with kernel 3 and stride 2 gives a map smaller than 1x1"},
    {"branch that can never be valid", HEAD "network {\n  choice(maxpool(16), skip)" TAIL,
     "t.nas:5:3: error: option 'maxpool(16)' of 'choice' never gives a valid network: maxpool: "
     "node 1 (maxpool): a 8x8 input with kernel 16 and stride 16 gives a map smaller than 1x1 (at "
     "line 5)"},
    {"wrong classes at the end", HEAD "network {\n  global_avg_pool fc(out = 5)\n}\n",
     "t.nas:5:3: error: no point of the space gives a valid network: the network ends in 5x1x1 "
     "but must end in 10x1x1 (end it with fc(out = classes))"},
    {"bad unit", HEAD "constraint macs <= 5Q\nnetwork {\n " TAIL,
     "t.nas:4:21: error: unknown unit 'Q' (use K, M, G, us, ms, s, B, KB, MB or GB)"},
    {"unit of the wrong kind", HEAD "constraint latency <= 5MB\nnetwork {\n " TAIL,
     "t.nas:4:23: error: unit 'MB' does not fit metric 'latency' (use us, ms or s)"},
    {"huge number", HEAD "network {\n  conv(kernel = 3, out = 99999999999999999999)" TAIL,
     "t.nas:5:26: error: number '99999999999999999999' is too large (at most 1e15)"},
    {"out of range", HEAD "network {\n  conv(kernel = 3, out = 5000000)" TAIL,
     "t.nas:5:26: error: 'out' must be a whole number from 1 to 1048576, got 5000000"},
    {"non-UTF-8 byte", "space s\xff\n", "t.nas:1:8: error: invalid UTF-8 byte 0xff"},
    {"NUL byte", "space s\nhparam a = choice(1)\0\n", "t.nas:2:21: error: NUL byte in the source"},
    {"empty file", "", "t.nas:1:1: error: empty file: expected 'space NAME' and a network or hparams"},
    {"only comments", "# nothing\n\n",
     "t.nas:1:1: error: empty file: expected 'space NAME' and a network or hparams"},
    {"missing space", "hparam a = choice(1, 2)\n", "t.nas:1:1: error: missing 'space NAME' declaration"},
    {"duplicate network", HEAD "network {\n " TAIL "network {\n " TAIL,
     "t.nas:7:1: error: duplicate 'network' (first at line 4)"},
    {"network without input", "space s\nclasses 3\nnetwork {\n " TAIL,
     "t.nas:3:1: error: a network needs 'input CxHxW' (e.g. input 1x28x28)"},
    {"missing block argument",
     HEAD "block mb(out) = conv(kernel = 3, out = out)\nnetwork {\n  mb" TAIL,
     "t.nas:6:3: error: block 'mb' needs argument 'out'"},
    {"unknown block argument",
     HEAD "block mb(out) = conv(kernel = 3, out = out)\nnetwork {\n  mb(out = 4, width = 3)" TAIL,
     "t.nas:6:15: error: block 'mb' has no parameter 'width'"},
    {"duplicate option", HEAD "hparam a = choice(1, 1)\nnetwork {\n " TAIL,
     "t.nas:4:22: error: duplicate option '1' in choice"},
    {"arithmetic on an identifier", HEAD "network {\n  conv(kernel = 3, out = 4 * relu)" TAIL,
     "t.nas:5:26: error: arithmetic needs numbers: '4*relu'"},
    {"unexpected character", HEAD "network {\n  conv(kernel = 3) @" TAIL,
     "t.nas:5:20: error: unexpected character '@'"},
    {"depth 0", HEAD "network {\n  stage(depth = choice(0, 1)) { relu }" TAIL,
     "t.nas:5:17: error: depth options must be whole numbers from 1 to 1000, got '0'"},
    {"cell with one node", HEAD "cell c(nodes = 1, ops = choice(skip))\nnetwork {\n c" TAIL,
     "t.nas:4:16: error: cell nodes must be a whole number from 2 to 16"},
    {"redefined name", HEAD "let a = choice(1, 2)\nlet a = choice(3, 4)\nnetwork {\n " TAIL,
     "t.nas:5:5: error: 'a' is already defined at line 4"},
    {"built-in name", HEAD "let conv = choice(1, 2)\nnetwork {\n " TAIL,
     "t.nas:4:5: error: 'conv' is a built-in name and cannot be redefined"},
    {"stride outside a stage", HEAD "network {\n  conv(kernel = 3, stride = stride)" TAIL,
     "t.nas:5:29: error: 'stride' is only defined inside a stage or repeat body"},
    {"two statements on a line", "space s hparam a = choice(1)\n",
     "t.nas:1:9: error: unexpected 'hparam' after the statement (one statement per line)"},
    {"bad input shape", "space s\ninput 1x0x8\n",
     "t.nas:2:9: error: expected height (a whole number from 1 to 16384)"},
    {"classes not declared", "space s\nhparam n = classes * 2\n",
     "t.nas:2:12: error: 'classes' is used but not declared (classes N)"},
    {NULL, NULL, NULL},
};

static void test_bad_inputs(void) {
    int n = 0;
    for (const bad_case *c = BAD; c->what; c++, n++) {
        ss_space *s = (ss_space *)1;
        char *diag = NULL;
        nas_error err = {0};
        size_t len = strlen(c->src);
        if (!strcmp(c->what, "NUL byte")) len = strlen(c->src) + 2;
        int st = compile_text(c->src, len, &s, &diag, &err);
        if (st == 0 || s != NULL) fprintf(stderr, "  case: %s\n", c->what);
        ASSERT_EQ_INT(st, NAS_ERR_INVALID);
        ASSERT_TRUE(s == NULL);
        char *line = first_line(diag);
        if (strcmp(line, c->diag)) fprintf(stderr, "  case: %s\n", c->what);
        ASSERT_STR_EQ(line, c->diag);
        /* the error record starts with the same text */
        ASSERT_TRUE(!strncmp(err.msg, c->diag, strlen(c->diag)));
        free(line);
        free(diag);
    }
    ASSERT_LE(25, n);
}

static void test_caret_and_all_errors(void) {
    const char *src = HEAD "network {\n  conv(kernal = 3) bn relu\n  convv" TAIL;
    ss_space *s;
    char *diag;
    nas_error err;
    ASSERT_EQ_INT(compile_text(src, strlen(src), &s, &diag, &err), NAS_ERR_INVALID);
    ASSERT_STR_EQ(diag, "t.nas:5:8: error: unknown parameter 'kernal' for 'conv'\n"
                        "  conv(kernal = 3) bn relu\n"
                        "       ^\n"
                        "t.nas:5:3: error: 'conv' needs 'kernel'\n"
                        "  conv(kernal = 3) bn relu\n"
                        "  ^\n"
                        "t.nas:6:3: error: unknown op or block 'convv'\n"
                        "  convv global_avg_pool fc(out = classes)\n"
                        "  ^\n");
    ASSERT_STR_EQ(err.msg, "t.nas:5:8: error: unknown parameter 'kernal' for 'conv' (and 2 more errors)");
    free(diag);
    /* syntax errors in several statements are all reported (an open bracket
     * continues on the next line, so the second error is at the '=') */
    const char *src2 = "space s\nhparam a = \nhparam b = choice(1,\nhparam c = int(1, 2)\n";
    ASSERT_EQ_INT(compile_text(src2, strlen(src2), &s, &diag, &err), NAS_ERR_INVALID);
    ASSERT_STR_EQ(diag, "t.nas:3:1: error: expected a value or a layer, got 'hparam'\n"
                        "hparam b = choice(1,\n"
                        "^\n"
                        "t.nas:4:10: error: expected ')' to close the '(' at line 3, got '='\n"
                        "hparam c = int(1, 2)\n"
                        "         ^\n");
    free(diag);
}

static void test_unused_let_warning(void) {
    const char *src = HEAD "let w = choice(1, 2)\nnetwork {\n " TAIL;
    ss_space *s;
    char *diag;
    nas_error err;
    ASSERT_OK(compile_text(src, strlen(src), &s, &diag, &err), &err);
    ASSERT_STR_EQ(diag, "t.nas:4:5: warning: let 'w' is never used\n"
                        "let w = choice(1, 2)\n"
                        "    ^\n");
    ASSERT_EQ_INT(s->n_decisions, 0);
    free(diag);
    ss_space_destroy(s);
}

static ss_space *compile_ok(const char *src) {
    ss_space *s = NULL;
    char *diag = NULL;
    nas_error err = {0};
    int st = compile_text(src, strlen(src), &s, &diag, &err);
    if (st) fprintf(stderr, "%s", diag ? diag : "");
    free(diag);
    return st ? NULL : s;
}

static int find(const ss_space *s, const char *name) {
    for (int i = 0; i < s->n_decisions; i++)
        if (!strcmp(s->decisions[i].name, name)) return i;
    return -1;
}

static const char *EXAMPLE1 =
    "space mobile_fmnist\n"
    "input   1x28x28\n"
    "classes 10\n"
    "\n"
    "hparam lr         = float(0.02, 0.4, log)\n"
    "hparam batch_size = choice(64, 128)\n"
    "\n"
    "let width = choice(16, 24, 32)                 # one decision, used twice\n"
    "\n"
    "block mb(out, stride) = mbconv(kernel = choice(3, 5, 7), expand = choice(1, 3, 6),\n"
    "                               out = out, stride = stride, se = choice(no, yes))\n"
    "network {\n"
    "    conv(kernel = 3, out = choice(8, 16)) bn relu\n"
    "    stage(depth = choice(1, 2, 3), stride = 1) { choice(mb(out = width), skip) }\n"
    "    stage(depth = choice(2, 3, 4), stride = 2) { mb(out = choice(32, 48)) }\n"
    "    stage(depth = choice(2, 3, 4), stride = 2) { mb(out = choice(64, 96)) }\n"
    "    conv(kernel = 1, out = width * 4) bn relu\n"
    "    global_avg_pool  dropout(rate = float(0, 0.5))  fc(out = classes)\n"
    "}\n"
    "constraint latency <= 1ms\n"
    "objective maximize accuracy\n";

static void test_design_example_mobile(void) {
    ss_space *s = compile_ok(EXAMPLE1);
    ASSERT_TRUE(s != NULL);
    ASSERT_STR_EQ(s->name, "mobile_fmnist");
    ASSERT_EQ_INT(s->in_c * 10000 + s->in_h * 100 + s->in_w, 12828);
    ASSERT_EQ_INT(s->n_decisions, 52);
    int lr = find(s, "lr"), width = find(s, "width"), d1 = find(s, "stage1.depth");
    ASSERT_TRUE(lr >= 0 && s->decisions[lr].is_hparam);
    ASSERT_EQ_INT(s->decisions[lr].dom.scale, SS_SCALE_LOG);
    ASSERT_TRUE(width >= 0 && !s->decisions[width].is_hparam);
    /* width is used under different conditions: it gets none */
    ASSERT_EQ_INT(s->decisions[width].cond.parent, -1);
    /* repetition 2 of stage 1 exists only when depth is 2 or 3 */
    int c1 = find(s, "stage1[1].choice");
    ASSERT_EQ_INT(s->decisions[c1].cond.parent, d1);
    ASSERT_EQ_INT(s->decisions[c1].cond.allowed[0], 0);
    ASSERT_EQ_INT(s->decisions[c1].cond.allowed[1], 1);
    ASSERT_EQ_INT(s->decisions[c1].cond.allowed[2], 1);
    /* decisions inside a branch depend on the branch */
    int k = find(s, "stage1[1].mb.kernel");
    ASSERT_EQ_INT(s->decisions[k].cond.parent, c1);
    ASSERT_EQ_INT(s->decisions[k].cond.allowed[0], 1);
    ASSERT_EQ_INT(s->decisions[k].cond.allowed[1], 0);
    ASSERT_EQ_INT(s->n_constraints, 1);
    ASSERT_STR_EQ(s->constraints[0].metric, "latency");
    ASSERT_NEAR(s->constraints[0].value, 1.0, 0);
    ASSERT_EQ_INT(s->n_objectives, 1);
    ASSERT_EQ_INT(s->objectives[0].maximize, 1);
    /* realize: width tied between the stage-1 mbconvs and the last conv */
    double *pt = ss_point_alloc(s);
    pcg32 rng;
    pcg32_seed(&rng, 5, 1);
    for (int t = 0; t < 200; t++) {
        ss_space_sample(s, &rng, pt);
        nas_arch *a;
        nas_error err;
        ASSERT_OK(ss_space_realize(s, pt, &a, &err), &err);
        int w = (int)s->decisions[width].dom.nums[(int)pt[width]];
        const nas_node *last_conv = NULL;
        for (int i = 0; i < a->n_nodes; i++)
            if (a->nodes[i].op == NAS_OP_CONV) last_conv = &a->nodes[i];
        ASSERT_EQ_INT(last_conv->out, 4 * w);
        for (int i = 0; i < a->n_nodes; i++)
            if (a->nodes[i].op == NAS_OP_MBCONV && !strncmp(a->nodes[i].scope, "stage1", 6))
                ASSERT_EQ_INT(a->nodes[i].out, w);
        ASSERT_EQ_INT(a->nodes[a->n_nodes - 1].c, 10);
        ASSERT_TRUE(nas_arch_hparam(a, "lr") != NULL);
        nas_arch_destroy(a);
    }
    free(pt);
    ss_space_destroy(s);
}

static void test_design_example_cifar(void) {
    ss_space *s = compile_ok("space cifar_dropout\n"
                             "input 3x32x32\n"
                             "classes 10\n"
                             "hparam dropout = float(0.0, 0.9)\n"
                             "network {\n"
                             "    conv(kernel = 3, out = 32) relu  maxpool(2)\n"
                             "    conv(kernel = 3, out = 64) relu  maxpool(2)\n"
                             "    conv(kernel = 3, out = 64) relu\n"
                             "    flatten  dropout(rate = dropout)  fc(out = 64) relu  fc(out = classes)\n"
                             "}\n"
                             "objective maximize accuracy\n");
    ASSERT_TRUE(s != NULL);
    ASSERT_EQ_INT(s->n_decisions, 1);
    double pt[1] = {0.25};
    nas_arch *a;
    nas_error err;
    ASSERT_OK(ss_space_realize(s, pt, &a, &err), &err);
    ASSERT_EQ_INT(a->n_nodes, 14);
    const nas_node *flat = &a->nodes[9], *drop = &a->nodes[10];
    ASSERT_EQ_INT(flat->op, NAS_OP_FLATTEN);
    ASSERT_EQ_INT(flat->c, 64 * 8 * 8);
    ASSERT_EQ_INT(drop->op, NAS_OP_DROPOUT);
    ASSERT_NEAR(drop->rate, 0.25, 0);
    ASSERT_NEAR(nas_arch_hparam(a, "dropout")->num, 0.25, 0);
    nas_arch_destroy(a);
    ss_space_destroy(s);
}

static void test_conditional_subspaces(void) {
    /* a stage inside a branch, a tied sub-network, an int depth */
    ss_space *s = compile_ok(HEAD
                             "let head = choice(conv(kernel = choice(1, 3)) bn, skip)\n"
                             "network {\n"
                             "  choice(stage(depth = int(1, 3)) { conv(kernel = 3, out = choice(4, 8)) }, skip)\n"
                             "  head relu head\n"
                             "  global_avg_pool fc(out = classes)\n}\n");
    ASSERT_TRUE(s != NULL);
    int top = find(s, "choice"), depth = find(s, "stage1.depth");
    int r2 = find(s, "stage1[2].conv.out"), head = find(s, "head"), hk = find(s, "head.conv.kernel");
    ASSERT_TRUE(top >= 0 && depth >= 0 && r2 >= 0 && head >= 0 && hk >= 0);
    ASSERT_EQ_INT(s->decisions[depth].cond.parent, top);
    ASSERT_EQ_INT(s->decisions[r2].cond.parent, depth);
    ASSERT_EQ_INT(s->decisions[r2].cond.lo, 3);
    ASSERT_EQ_INT(s->decisions[hk].cond.parent, head);
    ASSERT_EQ_INT(s->decisions[head].cond.parent, -1);
    char digits[64];
    double lg;
    ASSERT_EQ_INT(ss_space_cardinality(s, digits, sizeof digits, &lg), 1);
    /* (2 + 4 + 8 + 1) branch-stage points x (2 + 1) head points */
    ASSERT_STR_EQ(digits, "45");
    /* the tied head appears twice with the same kernel */
    double *pt = ss_point_alloc(s);
    pt[top] = 1; /* skip: the head convs see the 1-channel input */
    pt[head] = 0;
    pt[hk] = 1;
    nas_arch *a;
    nas_error err;
    ASSERT_OK(ss_space_realize(s, pt, &a, &err), &err);
    int convs = 0;
    for (int i = 0; i < a->n_nodes; i++)
        if (a->nodes[i].op == NAS_OP_CONV && a->nodes[i].kernel == 3 && a->nodes[i].c == 1) convs++;
    ASSERT_EQ_INT(convs, 2);
    nas_arch_destroy(a);
    free(pt);
    ss_space_destroy(s);
}

static void test_cell_inputs_and_residual(void) {
    ss_space *s = compile_ok(HEAD
                             "cell c(nodes = 4, ops = choice(skip, conv(kernel = 3)), inputs = 2)\n"
                             "network {\n"
                             "  conv(kernel = 3, out = 4) c residual { relu conv(kernel = 3) } c\n"
                             "  global_avg_pool fc(out = classes)\n}\n");
    ASSERT_TRUE(s != NULL);
    /* nodes 1, 2: all predecessors (1 + 2 edges); node 3: 2 chosen inputs */
    ASSERT_EQ_INT(s->n_decisions, 3 + 2 * 2);
    int in = find(s, "c.node3.in0");
    ASSERT_TRUE(in >= 0);
    ASSERT_EQ_INT(s->decisions[in].dom.n, 3);
    double *pt = ss_point_alloc(s);
    nas_arch *a;
    nas_error err;
    ASSERT_OK(ss_space_realize(s, pt, &a, &err), &err);
    int adds = 0;
    for (int i = 0; i < a->n_nodes; i++) adds += a->nodes[i].op == NAS_OP_ADD;
    ASSERT_EQ_INT(adds, 2 * 2 + 1); /* node 2 and node 3 in both cells, the residual */
    nas_arch_destroy(a);
    free(pt);
    ss_space_destroy(s);
}

static void test_hparam_only_and_units(void) {
    ss_space *s = compile_ok("space t\nhparam opt = choice(sgd, adam)\nhparam lr = 1e-3 * 2\n"
                             "constraint memory <= 2MB\nconstraint macs < 5M\n"
                             "constraint latency <= 250us\nobjective minimize latency\n");
    ASSERT_TRUE(s != NULL);
    ASSERT_EQ_INT(s->n_decisions, 1);
    ASSERT_NEAR(s->constraints[0].value, 2.0 * 1024 * 1024, 0);
    ASSERT_NEAR(s->constraints[1].value, 5e6, 0);
    ASSERT_EQ_INT(s->constraints[1].cmp, SS_CMP_LT);
    ASSERT_NEAR(s->constraints[2].value, 0.25, 1e-12);
    ASSERT_STR_EQ(s->constraints[2].text, "latency <= 250us");
    double pt[1] = {1};
    nas_arch *a;
    nas_error err;
    ASSERT_OK(ss_space_realize(s, pt, &a, &err), &err);
    ASSERT_EQ_INT(a->n_nodes, 0);
    ASSERT_STR_EQ(nas_arch_hparam(a, "opt")->str, "adam");
    ASSERT_NEAR(nas_arch_hparam(a, "lr")->num, 2e-3, 1e-15);
    nas_arch_destroy(a);
    ss_space_destroy(s);
}

/* ---- properties of the shipped spaces ---- */

static ss_space *load_shipped(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/spaces/%s", NAS_SOURCE_DIR, name);
    ss_space *s = NULL;
    nas_error err = {0};
    if (ss_space_compile_file(path, stderr, &s, &err)) fprintf(stderr, "%s\n", err.msg);
    return s;
}

static void check_properties(const char *file, int n_points) {
    ss_space *s = load_shipped(file);
    ASSERT_TRUE(s != NULL);
    pcg32 rng;
    pcg32_seed(&rng, 42, 3);
    double *pt = ss_point_alloc(s), *back = ss_point_alloc(s);
    uint64_t *point_hash = malloc((size_t)n_points * sizeof *point_hash);
    uint64_t *arch_hash = malloc((size_t)n_points * sizeof *arch_hash);
    for (int t = 0; t < n_points; t++) {
        ss_space_sample(s, &rng, pt);
        nas_arch *a, *b;
        nas_error err;
        ASSERT_OK(ss_space_realize(s, pt, &a, &err), &err);
        ASSERT_OK(nas_arch_check(a, &err), &err);
        ASSERT_STR_EQ(a->space_hash, s->hash);
        char *j1, *j2;
        ASSERT_OK(nas_arch_to_json(a, &j1, &err), &err);
        ASSERT_OK(nas_arch_from_json(j1, strlen(j1), "sample", &b, &err), &err);
        ASSERT_OK(nas_arch_to_json(b, &j2, &err), &err);
        ASSERT_STR_EQ(j1, j2);
        ASSERT_OK(ss_point_from_json(s, a->point_json, back, &err), &err);
        ASSERT_TRUE(ss_point_equal(s, pt, back));
        point_hash[t] = ss_point_hash(s, pt);
        arch_hash[t] = nas_arch_hash(a);
        for (int h = 0; h < a->n_hparams; h++)
            arch_hash[t] ^= (uint64_t)(a->hparams[h].str ? strlen(a->hparams[h].str)
                                                          : (size_t)(a->hparams[h].num * 1e9));
        free(j1);
        free(j2);
        nas_arch_destroy(a);
        nas_arch_destroy(b);
    }
    /* canonical points dedupe: equal points give equal archs, so there are
     * never more distinct archs than distinct points */
    int np = 0, na = 0;
    for (int i = 0; i < n_points; i++) {
        int seen_p = 0, seen_a = 0;
        for (int j = 0; j < i && !(seen_p && seen_a); j++) {
            seen_p |= point_hash[j] == point_hash[i];
            seen_a |= arch_hash[j] == arch_hash[i];
        }
        np += !seen_p;
        na += !seen_a;
    }
    ASSERT_LE(na, np);
    ASSERT_LE(1, np);
    free(point_hash);
    free(arch_hash);
    free(pt);
    free(back);
    ss_space_destroy(s);
}

static void test_props_mobilenet(void) { check_properties("mobilenet.nas", 2000); }
static void test_props_resnet(void) { check_properties("resnet.nas", 2000); }
static void test_props_nb201(void) { check_properties("nb201.nas", 2000); }
static void test_props_hpt(void) { check_properties("hpt.nas", 2000); }

typedef struct counter {
    const ss_space *s;
    long n;
    int realize_every;
    int failed;
} counter;

static int count_point(void *user, const double *pt) {
    counter *c = user;
    if (c->realize_every && c->n % c->realize_every == 0) {
        nas_arch *a;
        nas_error err;
        if (ss_space_realize(c->s, pt, &a, &err)) c->failed++;
        nas_arch_destroy(a);
    }
    c->n++;
    return 0;
}

static void check_enumeration(const char *file, const char *expect) {
    ss_space *s = load_shipped(file);
    ASSERT_TRUE(s != NULL);
    char digits[64];
    double lg;
    ASSERT_EQ_INT(ss_space_cardinality(s, digits, sizeof digits, &lg), 1);
    ASSERT_STR_EQ(digits, expect);
    counter c = {s, 0, 13, 0};
    nas_error err;
    ASSERT_OK(ss_space_enumerate(s, -1, count_point, &c, &err), &err);
    ASSERT_EQ_INT(c.n, strtol(expect, NULL, 10));
    ASSERT_EQ_INT(c.failed, 0);
    ss_space_destroy(s);
}

static void test_enumerate_nb201(void) { check_enumeration("nb201.nas", "15625"); }
static void test_enumerate_resnet(void) { check_enumeration("resnet.nas", "3402"); }

static void test_nb201_network(void) {
    ss_space *s = load_shipped("nb201.nas");
    ASSERT_TRUE(s != NULL);
    ASSERT_EQ_INT(s->n_decisions, 6);
    /* every edge nor_conv_3x3 */
    double pt[6] = {3, 3, 3, 3, 3, 3};
    nas_arch *a;
    nas_error err;
    ASSERT_OK(ss_space_realize(s, pt, &a, &err), &err);
    int convs3 = 0, cells_adds = 0, c16 = 0, c32 = 0, c64 = 0, avg = 0;
    for (int i = 0; i < a->n_nodes; i++) {
        const nas_node *n = &a->nodes[i];
        if (n->op == NAS_OP_CONV && n->kernel == 3 && n->stride == 1 && !strncmp(n->scope, "nb201", 5)) {
            convs3++;
            c16 += n->c == 16 && n->h == 32;
            c32 += n->c == 32 && n->h == 16;
            c64 += n->c == 64 && n->h == 8;
            /* ReLU-Conv-BN */
            ASSERT_EQ_INT(a->nodes[n->inputs[0]].op, NAS_OP_RELU);
            ASSERT_EQ_INT(a->nodes[i + 1].op, NAS_OP_BN);
            ASSERT_EQ_INT(n->bias, 0);
        }
        if (n->op == NAS_OP_ADD && !strcmp(n->scope, "nb201")) cells_adds++;
        if (n->op == NAS_OP_AVGPOOL) {
            avg++;
            ASSERT_EQ_INT(n->kernel, 2);
            ASSERT_EQ_INT(n->stride, 2);
        }
    }
    ASSERT_EQ_INT(convs3, 15 * 6);
    ASSERT_EQ_INT(c16, 30);
    ASSERT_EQ_INT(c32, 30);
    ASSERT_EQ_INT(c64, 30);
    ASSERT_EQ_INT(cells_adds, 15 * 2);
    ASSERT_EQ_INT(avg, 2);
    const nas_node *last = &a->nodes[a->n_nodes - 1];
    ASSERT_EQ_INT(last->op, NAS_OP_FC);
    ASSERT_EQ_INT(a->nodes[a->n_nodes - 2].op, NAS_OP_GAP);
    ASSERT_EQ_INT(a->nodes[a->n_nodes - 3].op, NAS_OP_RELU);
    ASSERT_EQ_INT(a->nodes[a->n_nodes - 4].op, NAS_OP_BN);
    ASSERT_EQ_INT(a->nodes[a->n_nodes - 4].c, 64);
    nas_arch_destroy(a);
    ss_space_destroy(s);
}

static void test_mobilenet_input_32(void) {
    ss_space *s = load_shipped("mobilenet.nas");
    ASSERT_TRUE(s != NULL);
    nas_error err;
    ASSERT_OK(ss_space_set_input(s, 3, 32, 32, &err), &err);
    pcg32 rng;
    pcg32_seed(&rng, 9, 9);
    double *pt = ss_point_alloc(s);
    for (int t = 0; t < 300; t++) {
        ss_space_sample(s, &rng, pt);
        nas_arch *a;
        ASSERT_OK(ss_space_realize(s, pt, &a, &err), &err);
        ASSERT_EQ_INT(a->nodes[0].c * 10000 + a->nodes[0].h * 100 + a->nodes[0].w, 33232);
        nas_arch_destroy(a);
    }
    free(pt);
    ss_space_destroy(s);
    /* an input too small for any point is refused and leaves the space as it was */
    s = load_shipped("nb201.nas");
    ASSERT_TRUE(s != NULL);
    ASSERT_EQ_INT(ss_space_set_input(s, 3, 1, 1, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "with input 3x1x1: no point gives a valid network");
    ASSERT_EQ_INT(s->in_h, 32);
    ss_space_destroy(s);
}

/* `nas space sample --input` takes CxHxW and nothing else (sscanf alone
 * would take " 3x32x32" and "3x-1x8"); a good shape samples. */
static void test_cli_sample_input(void) {
    static const struct {
        const char *shape;
        int status;
    } CASES[] = {{"3x32x32", 0}, {" 3x32x32", 2}, {"3x-1x8", 2}, {"0x32x32", 2}, {"3x32x32x", 2}, {"3x32", 2}};
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "'%s' -q space sample '%s/spaces/mobilenet.nas' -n 1 --input '%s' >/dev/null 2>&1",
                 NAS_BINARY, NAS_SOURCE_DIR, CASES[i].shape);
        int st = system(cmd);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != CASES[i].status)
            TEST_FAIL_("--input '%s': exit %d, expected %d", CASES[i].shape, WEXITSTATUS(st), CASES[i].status);
    }
}

static void test_deterministic_names_and_hash(void) {
    ss_space *a = compile_ok(EXAMPLE1), *b = compile_ok(EXAMPLE1);
    ASSERT_TRUE(a && b);
    ASSERT_STR_EQ(a->hash, b->hash);
    ASSERT_EQ_INT(strlen(a->hash), 16);
    for (int i = 0; i < a->n_decisions; i++) {
        ASSERT_STR_EQ(a->decisions[i].name, b->decisions[i].name);
        for (int j = 0; j < i; j++) ASSERT_TRUE(strcmp(a->decisions[i].name, a->decisions[j].name));
    }
    ss_space_destroy(a);
    ss_space_destroy(b);
}

/* A bare identifier as a hyperparameter value outlives the compiler's
 * syntax tree (found by fuzz_compile: a use after free under ASan). */
static void test_hparam_identifier_value(void) {
    const char *src = "space h\nhparam a = foo\nhparam b = choice(x, y)\n";
    ss_space *s = NULL;
    nas_error err;
    ASSERT_OK(ss_space_compile_string("h.nas", src, strlen(src), NULL, &s, &err), &err);
    double *pt = ss_point_alloc(s);
    nas_arch *a = NULL;
    ASSERT_OK(ss_space_realize(s, pt, &a, &err), &err);
    const nas_hparam *h = nas_arch_hparam(a, "a");
    ASSERT_TRUE(h && h->str);
    ASSERT_STR_EQ(h->str, "foo");
    ASSERT_STR_EQ(nas_arch_hparam(a, "b")->str, "x");
    nas_arch_destroy(a);
    free(pt);
    ss_space_destroy(s);
}

static const test_case TESTS[] = {
    {"hparam_identifier_value", test_hparam_identifier_value},
    {"bad_inputs", test_bad_inputs},
    {"caret_and_all_errors", test_caret_and_all_errors},
    {"unused_let_warning", test_unused_let_warning},
    {"design_example_mobile", test_design_example_mobile},
    {"design_example_cifar", test_design_example_cifar},
    {"conditional_subspaces", test_conditional_subspaces},
    {"cell_inputs_and_residual", test_cell_inputs_and_residual},
    {"hparam_only_and_units", test_hparam_only_and_units},
    {"props_mobilenet", test_props_mobilenet},
    {"props_resnet", test_props_resnet},
    {"props_nb201", test_props_nb201},
    {"props_hpt", test_props_hpt},
    {"enumerate_nb201", test_enumerate_nb201},
    {"enumerate_resnet", test_enumerate_resnet},
    {"nb201_network", test_nb201_network},
    {"mobilenet_input_32", test_mobilenet_input_32},
    {"deterministic_names_and_hash", test_deterministic_names_and_hash},
    {"cli_sample_input", test_cli_sample_input},
    {NULL, NULL},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
