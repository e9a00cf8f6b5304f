/*
 * test_cost.c - analytic costs (evaluator/cost.h) against hand-computed
 * values for small archs of every op, the liveness peak on DAGs with skips,
 * the training-memory sum, and `nas cost` error paths and exit statuses.
 *
 * `test_cost --gen DIR N SEED` instead writes N random arch.json files that
 * together use every op (the PyTorch cross-check, tests/cost.cmake, reads them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "evaluator/cost.h"
#include "nas/core/arch.h"
#include "nas/core/fileio.h"
#include "nas/core/pcg32.h"
#include "test.h"

static nas_error err;

/* Appends op with the given fields to a, from `from`; fails the test on error. */
static int chain(nas_arch *a, nas_node n, int from) {
    int i = nas_arch_chain(a, n, from, &err);
    if (i < 0) TEST_FAIL_("nas_arch_chain(%s): %s", nas_op_name(n.op), err.msg);
    return i;
}

static nas_node conv(int out, int k, int stride, int pad, int dil, int groups, int bias) {
    nas_node n = nas_node_make(NAS_OP_CONV);
    n.out = out;
    n.kernel = k;
    n.stride = stride;
    n.pad = pad;
    n.dilation = dil;
    n.groups = groups;
    n.bias = bias;
    return n;
}

static nas_node mbconv(int out, int k, int stride, int expand, int se) {
    nas_node n = nas_node_make(NAS_OP_MBCONV);
    n.out = out;
    n.kernel = k;
    n.stride = stride;
    n.expand = expand;
    n.se = se;
    n.act = NAS_OP_RELU6;
    return n;
}

static nas_node resblock(int out, int k, int stride) {
    nas_node n = nas_node_make(NAS_OP_RESBLOCK);
    n.out = out;
    n.kernel = k;
    n.stride = stride;
    return n;
}

static nas_node pool(nas_op op, int k, int stride, int pad) {
    nas_node n = nas_node_make(op);
    n.kernel = k;
    n.stride = stride;
    n.pad = pad;
    return n;
}

static nas_node fc(int out, int bias) {
    nas_node n = nas_node_make(NAS_OP_FC);
    n.out = out;
    n.bias = bias;
    return n;
}

static nas_node add2(int x, int y) {
    nas_node n = nas_node_make(NAS_OP_ADD);
    n.n_inputs = 2;
    n.inputs[0] = x;
    n.inputs[1] = y;
    return n;
}

static void compute(const nas_arch *a, int batch, nas_cost_optim o, nas_cost *c) {
    ASSERT_OK(nas_cost_compute(a, batch, o, c, &err), &err);
}

static void test_conv_groups_stride_dilation(void) {
    nas_arch *a = nas_arch_create(4, 8, 8, 10);
    int i = chain(a, conv(6, 3, 2, 1, 2, 2, 1), 0);
    ASSERT_EQ_INT(a->nodes[i].h, 3); /* (8 + 2 - 2*2 - 1) / 2 + 1 */
    nas_cost c;
    compute(a, 1, NAS_COST_OPTIM_SGD, &c);
    ASSERT_EQ_INT(c.nodes[i].macs, 6 * 2 * 9 * 3 * 3);
    ASSERT_EQ_INT(c.nodes[i].params, 6 * 2 * 9 + 6);
    ASSERT_EQ_INT(c.macs, 972);
    ASSERT_EQ_INT(c.flops, 2 * 972);
    ASSERT_EQ_INT(c.params, 114);
    ASSERT_EQ_INT(c.buffers, 0);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

static void test_depthwise_and_pointwise(void) {
    nas_arch *a = nas_arch_create(8, 10, 10, 10);
    int d = chain(a, conv(8, 3, 1, -1, 1, 8, 0), 0);
    int p = chain(a, conv(16, 1, 1, -1, 1, 1, 1), d);
    nas_cost c;
    compute(a, 1, NAS_COST_OPTIM_SGD, &c);
    ASSERT_EQ_INT(c.nodes[d].macs, 8 * 9 * 100);
    ASSERT_EQ_INT(c.nodes[d].params, 72);
    ASSERT_EQ_INT(c.nodes[p].macs, 16 * 8 * 100);
    ASSERT_EQ_INT(c.nodes[p].params, 16 * 8 + 16);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

static void test_mbconv_expand_se_residual(void) {
    nas_arch *a = nas_arch_create(8, 8, 8, 10);
    int m = chain(a, mbconv(8, 3, 1, 6, 1), 0);
    nas_cost c;
    compute(a, 1, NAS_COST_OPTIM_SGD, &c);
    /* mid 48, r 12: expand 48*8*64, dw 48*9*64, SE 2*48*12, project 8*48*64 */
    ASSERT_EQ_INT(c.nodes[m].macs, 24576 + 27648 + 1152 + 24576);
    /* 384 + 96 BN, 432 + 96 BN, SE 576+12+576+48, 384 + 16 BN */
    ASSERT_EQ_INT(c.nodes[m].params, 2620);
    ASSERT_EQ_INT(c.nodes[m].buffers, 96 + 96 + 16);
    ASSERT_EQ_INT(c.nodes[m].internal_elems, 3072 + 3072);
    /* 3 x expand 3072, 3 x dw 3072, SE 48+12+12+48+48+3072, project+BN 2x512, add 512 */
    ASSERT_EQ_INT(c.nodes[m].saved_elems, 23208);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

static void test_mbconv_no_expand_stride2(void) {
    nas_arch *a = nas_arch_create(8, 8, 8, 10);
    int m = chain(a, mbconv(16, 3, 2, 1, 0), 0);
    ASSERT_EQ_INT(a->nodes[m].h, 4);
    nas_cost c;
    compute(a, 1, NAS_COST_OPTIM_SGD, &c);
    ASSERT_EQ_INT(c.nodes[m].macs, 8 * 9 * 16 + 16 * 8 * 16);
    ASSERT_EQ_INT(c.nodes[m].params, 72 + 16 + 128 + 32);
    ASSERT_EQ_INT(c.nodes[m].buffers, 48);
    ASSERT_EQ_INT(c.nodes[m].internal_elems, 8 * 16);
    /* dw, BN, act 3 x 128; project, BN 2 x 256; no residual */
    ASSERT_EQ_INT(c.nodes[m].saved_elems, 3 * 128 + 2 * 256);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

static void test_mbconv_se_no_expand(void) {
    nas_arch *a = nas_arch_create(16, 4, 4, 10);
    int m = chain(a, mbconv(16, 5, 1, 1, 1), 0);
    nas_cost c;
    compute(a, 1, NAS_COST_OPTIM_SGD, &c);
    /* mid 16, r 4: dw 16*25*16, SE 2*16*4, project 16*16*16 */
    ASSERT_EQ_INT(c.nodes[m].macs, 6400 + 128 + 4096);
    ASSERT_EQ_INT(c.nodes[m].params, 400 + 32 + (64 + 4 + 64 + 16) + 256 + 32);
    ASSERT_EQ_INT(c.nodes[m].internal_elems, 256 + 2 * 16 + 4);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

static void test_resblock_projection(void) {
    nas_arch *a = nas_arch_create(4, 8, 8, 10);
    int r = chain(a, resblock(8, 3, 2), 0);
    ASSERT_EQ_INT(a->nodes[r].h, 4);
    nas_cost c;
    compute(a, 1, NAS_COST_OPTIM_SGD, &c);
    ASSERT_EQ_INT(c.nodes[r].macs, 4608 + 9216 + 512);
    ASSERT_EQ_INT(c.nodes[r].params, 288 + 16 + 576 + 16 + 32 + 16);
    ASSERT_EQ_INT(c.nodes[r].buffers, 48);
    ASSERT_EQ_INT(c.nodes[r].internal_elems, 2 * 128);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

static void test_resblock_identity(void) {
    nas_arch *a = nas_arch_create(8, 8, 8, 10);
    int r = chain(a, resblock(8, 3, 1), 0);
    nas_cost c;
    compute(a, 1, NAS_COST_OPTIM_SGD, &c);
    ASSERT_EQ_INT(c.nodes[r].macs, 2 * 36864);
    ASSERT_EQ_INT(c.nodes[r].params, 2 * (576 + 16));
    ASSERT_EQ_INT(c.nodes[r].buffers, 32);
    ASSERT_EQ_INT(c.nodes[r].internal_elems, 512);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

static void test_fc_flatten_pools_bn(void) {
    nas_arch *a = nas_arch_create(2, 6, 6, 4);
    int mp = chain(a, pool(NAS_OP_MAXPOOL, 2, 2, 0), 0);
    int ap = chain(a, pool(NAS_OP_AVGPOOL, 3, 1, 1), mp);
    int bn = chain(a, nas_node_make(NAS_OP_BN), ap);
    int fl = chain(a, nas_node_make(NAS_OP_FLATTEN), bn);
    ASSERT_EQ_INT(a->nodes[fl].c, 18);
    int f = chain(a, fc(4, 0), fl);
    nas_cost c;
    compute(a, 1, NAS_COST_OPTIM_SGD, &c);
    ASSERT_EQ_INT(c.nodes[mp].macs, 0);
    ASSERT_EQ_INT(c.nodes[mp].out_elems, 18);
    ASSERT_EQ_INT(c.nodes[ap].macs, 0);
    ASSERT_EQ_INT(c.nodes[bn].params, 4);
    ASSERT_EQ_INT(c.nodes[bn].buffers, 4);
    ASSERT_EQ_INT(c.nodes[fl].out_elems, 0); /* a view */
    ASSERT_EQ_INT(c.nodes[f].macs, 72);
    ASSERT_EQ_INT(c.nodes[f].params, 72);
    ASSERT_EQ_INT(c.macs, 72);
    ASSERT_EQ_INT(c.params_total, 80);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);

    a = nas_arch_create(10, 4, 4, 5);
    int g = chain(a, nas_node_make(NAS_OP_GAP), 0);
    f = chain(a, fc(5, 1), g);
    compute(a, 1, NAS_COST_OPTIM_SGD, &c);
    ASSERT_EQ_INT(c.nodes[g].macs, 0);
    ASSERT_EQ_INT(c.nodes[f].macs, 50);
    ASSERT_EQ_INT(c.nodes[f].params, 55);
    ASSERT_OK(nas_arch_check(a, &err), &err);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

static void test_zero_concat(void) {
    nas_arch *a = nas_arch_create(4, 8, 8, 10);
    nas_node z = nas_node_make(NAS_OP_ZERO);
    z.stride = 2;
    int zi = chain(a, z, 0);
    ASSERT_EQ_INT(a->nodes[zi].h, 4);
    int p = chain(a, pool(NAS_OP_MAXPOOL, 2, 2, 0), 0);
    nas_node cat = nas_node_make(NAS_OP_CONCAT);
    cat.n_inputs = 2;
    cat.inputs[0] = zi;
    cat.inputs[1] = p;
    int ci = 0;
    ASSERT_OK(nas_arch_add(a, &cat, &ci, &err), &err);
    ASSERT_EQ_INT(a->nodes[ci].c, 8);
    nas_cost c;
    compute(a, 1, NAS_COST_OPTIM_SGD, &c);
    ASSERT_EQ_INT(c.macs, 0);
    ASSERT_EQ_INT(c.params, 0);
    ASSERT_EQ_INT(c.nodes[zi].out_elems, 64);
    ASSERT_EQ_INT(c.nodes[zi].saved_elems, 0);
    ASSERT_EQ_INT(c.nodes[ci].out_elems, 128);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

/* input(16) -> a(32) -> b(32) -> c(32); add(a, c): a is live across b and c. */
static void test_liveness_skip(void) {
    nas_arch *a = nas_arch_create(1, 4, 4, 10);
    int n1 = chain(a, conv(2, 3, 1, -1, 1, 1, 0), 0);
    int n2 = chain(a, conv(2, 3, 1, -1, 1, 1, 0), n1);
    int n3 = chain(a, conv(2, 3, 1, -1, 1, 1, 0), n2);
    nas_node ad = add2(n1, n3);
    int n4 = 0;
    ASSERT_OK(nas_arch_add(a, &ad, &n4, &err), &err);
    nas_cost c;
    compute(a, 2, NAS_COST_OPTIM_SGD, &c);
    ASSERT_EQ_INT(c.nodes[0].live_elems, 16);
    ASSERT_EQ_INT(c.nodes[n1].live_elems, 48);
    ASSERT_EQ_INT(c.nodes[n2].live_elems, 64);
    ASSERT_EQ_INT(c.nodes[n3].live_elems, 96);
    ASSERT_EQ_INT(c.nodes[n4].live_elems, 96);
    ASSERT_EQ_INT(c.peak_act_elems, 96);
    ASSERT_EQ_INT(c.peak_node, n3);
    ASSERT_EQ_INT(c.params, 18 + 36 + 36);
    ASSERT_EQ_INT(c.memory_bytes_batch1, 360 + 96 * 4);
    ASSERT_EQ_INT(c.memory_bytes, 360 + 96 * 2 * 4);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

/* identity is a view: input(16) stays live until the add; no buffer of its own. */
static void test_liveness_view(void) {
    nas_arch *a = nas_arch_create(1, 4, 4, 10);
    int n1 = chain(a, nas_node_make(NAS_OP_IDENTITY), 0);
    int n2 = chain(a, conv(1, 3, 1, -1, 1, 1, 0), 0);
    nas_node ad = add2(n1, n2);
    int n3 = 0;
    ASSERT_OK(nas_arch_add(a, &ad, &n3, &err), &err);
    nas_cost c;
    compute(a, 1, NAS_COST_OPTIM_SGD, &c);
    ASSERT_EQ_INT(c.nodes[n1].live_elems, 16);
    ASSERT_EQ_INT(c.nodes[n2].live_elems, 32);
    ASSERT_EQ_INT(c.nodes[n3].live_elems, 48);
    ASSERT_EQ_INT(c.peak_act_elems, 48);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

static void test_training_memory(void) {
    nas_arch *a = nas_arch_create(1, 4, 4, 10);
    int n1 = chain(a, conv(2, 3, 1, -1, 1, 1, 0), 0);
    int n2 = chain(a, nas_node_make(NAS_OP_BN), n1);
    chain(a, nas_node_make(NAS_OP_RELU), n2);
    nas_cost c;
    compute(a, 3, NAS_COST_OPTIM_MOMENTUM, &c);
    ASSERT_EQ_INT(c.params, 22);
    ASSERT_EQ_INT(c.params_total, 26);
    ASSERT_EQ_INT(c.weight_bytes, 104);
    ASSERT_EQ_INT(c.grad_bytes, 88);
    ASSERT_EQ_INT(c.optim_bytes, 88);
    ASSERT_EQ_INT(c.saved_act_bytes, (16 + 32 + 32 + 32) * 3 * 4);
    ASSERT_EQ_INT(c.train_memory_bytes, 104 + 88 + 88 + 1344);
    nas_cost_deinit(&c);
    compute(a, 3, NAS_COST_OPTIM_ADAM, &c);
    ASSERT_EQ_INT(c.train_memory_bytes, 104 + 88 + 176 + 1344);
    nas_cost_deinit(&c);
    compute(a, 3, NAS_COST_OPTIM_SGD, &c);
    ASSERT_EQ_INT(c.optim_bytes, 0);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

static void test_errors_and_json(void) {
    nas_arch *a = nas_arch_create(3, 8, 8, 10);
    nas_cost c;
    ASSERT_EQ_INT(nas_cost_compute(a, 0, NAS_COST_OPTIM_SGD, &c, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "batch");
    nas_cost_deinit(&c);
    a->nodes[0].op = NAS_OP_RELU;
    ASSERT_EQ_INT(nas_cost_compute(a, 1, NAS_COST_OPTIM_SGD, &c, &err), NAS_ERR_INVALID);
    nas_cost_deinit(&c);
    a->nodes[0].op = NAS_OP_INPUT;
    int g = chain(a, nas_node_make(NAS_OP_GAP), 0);
    chain(a, fc(10, 1), g);
    compute(a, 4, NAS_COST_OPTIM_ADAM, &c);
    char *js = NULL;
    ASSERT_OK(nas_cost_to_json(a, &c, 1, &js, &err), &err);
    ASSERT_CONTAINS(js, "\"macs\":\t30");
    ASSERT_CONTAINS(js, "\"flops\":\t60");
    ASSERT_CONTAINS(js, "\"params\":\t40");
    ASSERT_CONTAINS(js, "\"optimizer\":\t\"adam\"");
    ASSERT_CONTAINS(js, "\"nodes\"");
    free(js);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
    /* counts that would overflow int64 are refused (they wrapped before):
       4096 x 2^14 x 2^14 into a k64 conv of 2^20 channels is ~4.7e21 MACs */
    a = nas_arch_create(4096, 16384, 16384, 10);
    nas_node big = conv(1 << 20, 64, 1, 32, 1, 1, 0);
    g = chain(a, nas_node_make(NAS_OP_GAP), chain(a, big, 0));
    chain(a, fc(10, 1), g);
    ASSERT_EQ_INT(nas_cost_compute(a, 1, NAS_COST_OPTIM_SGD, &c, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "too large to count in 64-bit integers at batch 1");
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
    /* a large but countable arch at a large batch: 2048 -> 2048 k7 at
       224x224 (1.0e16 MACs per image), batch 4096 */
    a = nas_arch_create(2048, 224, 224, 10);
    g = chain(a, nas_node_make(NAS_OP_GAP), chain(a, conv(2048, 7, 1, 3, 1, 1, 0), 0));
    chain(a, fc(10, 1), g);
    compute(a, 4096, NAS_COST_OPTIM_SGD, &c);
    ASSERT_TRUE(c.macs == (int64_t)2048 * 2048 * 49 * 224 * 224 + 2048 * 10);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
}

static int run(const char *cmd) {
    int s = system(cmd);
    return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

static void test_cli(void) {
    char cmd[2048], path[512], bad[512], out[512];
    nas_arch *a = nas_arch_create(3, 8, 8, 10);
    int n1 = chain(a, conv(4, 3, 1, -1, 1, 1, 1), 0);
    int g = chain(a, nas_node_make(NAS_OP_GAP), n1);
    chain(a, fc(10, 1), g);
    /* in the working directory (ctest runs tests in the build tree) */
    snprintf(path, sizeof path, "test_cost_cli.json");
    snprintf(bad, sizeof bad, "test_cost_bad.json");
    snprintf(out, sizeof out, "test_cost_out.txt");
    nas_status st = nas_arch_save(a, path, &err);
    nas_arch_destroy(a);
    ASSERT_OK(st, &err);
    ASSERT_OK(nas_file_write_atomic(bad, "{\"nodes\": [", 11, &err), &err);
    snprintf(cmd, sizeof cmd, "%s cost %s --json --batch 2 > %s", NAS_BINARY, path, out);
    ASSERT_EQ_INT(run(cmd), 0);
    char *text = NULL;
    size_t len = 0;
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    /* conv 4*3*9*64 + fc 40; params 4*27+4 + 40+10 */
    ASSERT_CONTAINS(text, "\"macs\":\t6952");
    ASSERT_CONTAINS(text, "\"params\":\t162");
    ASSERT_CONTAINS(text, "\"train_memory_bytes\"");
    ASSERT_CONTAINS(text, "\"memory_bytes\"");
    free(text);
    snprintf(cmd, sizeof cmd, "%s cost %s --nodes > /dev/null", NAS_BINARY, path);
    ASSERT_EQ_INT(run(cmd), 0);
    /* the optimizer state counted is what `nas train` would keep for the arch:
       "sgd" trains with momentum 0.9 (1 buffer) unless momentum is 0 */
    static const struct {
        const char *optimizer;
        double momentum; /* < 0: not set */
        const char *counted;
    } OPT[] = {{NULL, -1, "momentum"}, {"sgd", -1, "momentum"}, {"sgd", 0, "sgd"}, {"adamw", -1, "adam"}};
    for (size_t i = 0; i < sizeof OPT / sizeof OPT[0]; i++) {
        nas_arch *h = NULL;
        ASSERT_OK(nas_arch_load(path, &h, &err), &err);
        if (OPT[i].optimizer) ASSERT_OK(nas_arch_set_hparam_str(h, "optimizer", OPT[i].optimizer, &err), &err);
        if (OPT[i].momentum >= 0) ASSERT_OK(nas_arch_set_hparam_num(h, "momentum", OPT[i].momentum, &err), &err);
        ASSERT_OK(nas_arch_save(h, bad, &err), &err);
        nas_arch_destroy(h);
        snprintf(cmd, sizeof cmd, "%s cost %s --json > %s", NAS_BINARY, bad, out);
        ASSERT_EQ_INT(run(cmd), 0);
        ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
        char want[64];
        snprintf(want, sizeof want, "\"optimizer\":\t\"%s\"", OPT[i].counted);
        ASSERT_CONTAINS(text, want);
        free(text);
    }
    ASSERT_OK(nas_file_write_atomic(bad, "{\"nodes\": [", 11, &err), &err);
    snprintf(cmd, sizeof cmd, "%s cost does/not/exist.json 2>/dev/null", NAS_BINARY);
    ASSERT_EQ_INT(run(cmd), 1);
    snprintf(cmd, sizeof cmd, "%s cost %s 2>/dev/null", NAS_BINARY, bad);
    ASSERT_EQ_INT(run(cmd), 1);
    snprintf(cmd, sizeof cmd, "%s cost %s --bogus 2>/dev/null", NAS_BINARY, path);
    ASSERT_EQ_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s cost %s --batch abc 2>/dev/null", NAS_BINARY, path);
    ASSERT_EQ_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s cost %s --batch 0 2>/dev/null", NAS_BINARY, path);
    ASSERT_EQ_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s cost %s --optimizer rmsprop 2>/dev/null", NAS_BINARY, path);
    ASSERT_EQ_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s cost 2>/dev/null", NAS_BINARY);
    ASSERT_EQ_INT(run(cmd), 2);
    remove(path);
    remove(bad);
    remove(out);
}

/* ---- random arch generator for the PyTorch cross-check ---- */

static const nas_op ACTS[] = {NAS_OP_RELU, NAS_OP_RELU6, NAS_OP_HSWISH, NAS_OP_SIGMOID};

static int pick(pcg32 *r, int n) { return (int)pcg32_bounded(r, (uint32_t)n); }

/* Appends one random block after node x; returns the new tail or x when the
 * block did not fit (shape error). */
static int gen_block(nas_arch *a, pcg32 *r, int x) {
    const nas_node *in = &a->nodes[x];
    int c = in->c, small = in->h < 4 || in->w < 4;
    int stride = small ? 1 : 1 + pick(r, 2);
    nas_node n;
    nas_error e;
    int k = 1 + 2 * pick(r, 3);
    switch (pick(r, 11)) {
    case 0: {
        int outs[] = {4, 8, 12, 16, 24};
        int out = outs[pick(r, 5)], g = 1;
        if (pick(r, 3) == 0) out = c, g = c; /* depthwise */
        else if (c % 2 == 0 && out % 2 == 0 && pick(r, 2)) g = 2;
        n = conv(out, k, stride, pick(r, 4) ? -1 : 0, k > 1 && pick(r, 3) == 0 ? 2 : 1, g,
                 pick(r, 2));
        int y = nas_arch_chain(a, n, x, &e);
        if (y < 0) return x;
        if (pick(r, 2)) y = nas_arch_chain(a, nas_node_make(NAS_OP_BN), y, &e);
        return nas_arch_chain(a, nas_node_make(ACTS[pick(r, 4)]), y, &e);
    }
    case 1: {
        int outs[] = {8, 16, 24};
        n = mbconv(pick(r, 2) ? c : outs[pick(r, 3)], 3 + 2 * pick(r, 3), stride,
                   (int[]){1, 3, 6}[pick(r, 3)], pick(r, 2));
        n.act = ACTS[pick(r, 4)];
        int y = nas_arch_chain(a, n, x, &e);
        return y < 0 ? x : y;
    }
    case 2: {
        n = resblock(pick(r, 2) ? c : 8 + 8 * pick(r, 2), 1 + 2 * pick(r, 2), stride);
        n.act = ACTS[pick(r, 2)];
        int y = nas_arch_chain(a, n, x, &e);
        return y < 0 ? x : y;
    }
    case 3:
    case 4: {
        int kk = 2 + pick(r, 2);
        n = pool(pick(r, 2) ? NAS_OP_MAXPOOL : NAS_OP_AVGPOOL, kk, small ? 1 : kk - pick(r, 2),
                 pick(r, 2) ? kk / 2 : 0);
        int y = nas_arch_chain(a, n, x, &e);
        return y < 0 ? x : y;
    }
    case 5: { /* a cell-like pair of edges summed */
        nas_op ops[] = {NAS_OP_IDENTITY, NAS_OP_ZERO, NAS_OP_CONV, NAS_OP_AVGPOOL};
        int e1 = x, e2 = x;
        for (int t = 0; t < 2; t++) {
            nas_node m = nas_node_make(ops[pick(r, 4)]);
            if (m.op == NAS_OP_CONV) m = conv(c, 1 + 2 * pick(r, 2), 1, -1, 1, 1, 0);
            if (m.op == NAS_OP_AVGPOOL) m = pool(NAS_OP_AVGPOOL, 3, 1, 1);
            int y = nas_arch_chain(a, m, x, &e);
            if (y < 0) return x;
            if (t == 0) e1 = y;
            else e2 = y;
        }
        nas_node s = add2(e1, e2);
        int y;
        if (nas_arch_add(a, &s, &y, &e) != NAS_OK) return x;
        return y;
    }
    case 6: { /* concat of the input and a conv of it */
        int y = nas_arch_chain(a, conv(4 + 4 * pick(r, 2), 3, 1, -1, 1, 1, 1), x, &e);
        if (y < 0) return x;
        nas_node s = nas_node_make(NAS_OP_CONCAT);
        s.n_inputs = 2;
        s.inputs[0] = x;
        s.inputs[1] = y;
        if (nas_arch_add(a, &s, &y, &e) != NAS_OK) return x;
        return y;
    }
    case 7: {
        n = nas_node_make(NAS_OP_ZERO);
        n.stride = stride;
        int z = nas_arch_chain(a, n, x, &e);
        if (z < 0) return x;
        int y = nas_arch_chain(a, conv(c, 3, stride, -1, 1, 1, 1), x, &e);
        if (y < 0) return x;
        nas_node s = add2(z, y);
        if (nas_arch_add(a, &s, &y, &e) != NAS_OK) return x;
        return y;
    }
    case 8: {
        n = nas_node_make(NAS_OP_DROPOUT);
        n.rate = 0.25;
        int y = nas_arch_chain(a, n, x, &e);
        return y < 0 ? x : nas_arch_chain(a, nas_node_make(NAS_OP_BN), y, &e);
    }
    default: {
        n = nas_node_make(ACTS[pick(r, 4)]);
        int y = nas_arch_chain(a, n, x, &e);
        return y < 0 ? x : y;
    }
    }
}

/* A random valid arch using many ops; NULL when out of memory. */
static nas_arch *gen_arch(pcg32 *r) {
    int cs[] = {1, 3}, hw[] = {8, 12, 16, 28, 32};
    int s = hw[pick(r, 5)];
    nas_arch *a = nas_arch_create(cs[pick(r, 2)], s, s, 10);
    nas_error e;
    if (!a) return NULL;
    int x = nas_arch_chain(a, conv(8 + 8 * pick(r, 2), 3, 1, -1, 1, 1, pick(r, 2)), 0, &e);
    int blocks = 3 + pick(r, 6);
    for (int b = 0; b < blocks && x >= 0; b++) x = gen_block(a, r, x);
    if (x >= 0 && pick(r, 2)) {
        x = nas_arch_chain(a, nas_node_make(NAS_OP_GAP), x, &e);
    } else if (x >= 0) {
        if (a->nodes[x].h > 4) x = nas_arch_chain(a, pool(NAS_OP_AVGPOOL, 2, 2, 0), x, &e);
        if (x >= 0) x = nas_arch_chain(a, nas_node_make(NAS_OP_FLATTEN), x, &e);
    }
    if (x >= 0 && pick(r, 2)) {
        x = nas_arch_chain(a, fc(16, pick(r, 2)), x, &e);
        if (x >= 0) x = nas_arch_chain(a, nas_node_make(NAS_OP_RELU), x, &e);
    }
    if (x >= 0) x = nas_arch_chain(a, fc(10, 1), x, &e);
    if (x < 0 || nas_arch_check(a, &e) != NAS_OK) {
        nas_arch_destroy(a);
        return gen_arch(r);
    }
    return a;
}

static int generate(const char *dir, int n, uint64_t seed) {
    pcg32 r;
    nas_error e;
    pcg32_seed(&r, seed, 7);
    if (nas_mkdir_p(dir, &e) != NAS_OK) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char path[1024];
        nas_arch *a = gen_arch(&r);
        if (!a) return 1;
        snprintf(path, sizeof path, "%s/gen_%03d.json", dir, i);
        nas_status st = nas_arch_save(a, path, &e);
        nas_arch_destroy(a);
        if (st != NAS_OK) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
    }
    return 0;
}

static const test_case TESTS[] = {
    {"conv_groups_stride_dilation", test_conv_groups_stride_dilation},
    {"depthwise_and_pointwise", test_depthwise_and_pointwise},
    {"mbconv_expand_se_residual", test_mbconv_expand_se_residual},
    {"mbconv_no_expand_stride2", test_mbconv_no_expand_stride2},
    {"mbconv_se_no_expand", test_mbconv_se_no_expand},
    {"resblock_projection", test_resblock_projection},
    {"resblock_identity", test_resblock_identity},
    {"fc_flatten_pools_bn", test_fc_flatten_pools_bn},
    {"zero_concat", test_zero_concat},
    {"liveness_skip", test_liveness_skip},
    {"liveness_view", test_liveness_view},
    {"training_memory", test_training_memory},
    {"errors_and_json", test_errors_and_json},
    {"cli", test_cli},
    {0, 0},
};

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "--gen"))
        return generate(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10));
    return test_run(argc, argv, TESTS);
}
