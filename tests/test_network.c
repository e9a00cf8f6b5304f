/*
 * test_network.c - networks built from an arch (models/network.h): a DAG
 * gradient-checked end to end, a training smoke test, no memory growth,
 * determinism, weight sharing between batch sizes, nets built in a reused
 * arena equal to fresh ones, and bad input.
 *
 * Gradient check: central differences (h = 1e-3) of the softmax
 * cross-entropy against nas_net_backward on up to 12 random entries of every
 * weight tensor and the input; ||g - fd||_2 <= 3e-2 max(||g||, ||fd||) + 2e-4
 * (entries on a ReLU/max kink skipped, see fd_check).
 */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/network.h"
#include "nas/core/arch.h"
#include "nas/core/pcg32.h"
#include "test.h"

static int chain(nas_arch *a, nas_node n, int from) {
    nas_error err = {0};
    int i = nas_arch_chain(a, n, from, &err);
    if (i < 0) TEST_FAIL_("nas_arch_chain(%s): %s", nas_op_name(n.op), err.msg);
    return i;
}

static int add2(nas_arch *a, nas_op op, int x, int y) {
    nas_error err = {0};
    nas_node nd = nas_node_make(op);
    nd.n_inputs = 2;
    nd.inputs[0] = x;
    nd.inputs[1] = y;
    int idx;
    ASSERT_OK(nas_arch_add(a, &nd, &idx, &err), &err);
    return idx;
}

static nas_node conv(int out, int k, int stride) {
    nas_node n = nas_node_make(NAS_OP_CONV);
    n.out = out, n.kernel = k, n.stride = stride;
    return n;
}

/* A small DAG: stem conv-BN-ReLU, a skip (identity) + add, a concat of two
 * branches, an mbconv with SE, max pool, gap, dropout, fc. 1x8x8 -> 4 classes. */
static nas_arch *dag_arch(void) {
    nas_error err = {0};
    nas_arch *a = nas_arch_create(1, 8, 8, 4);
    int s = chain(a, conv(6, 3, 1), 0);
    s = chain(a, nas_node_make(NAS_OP_RELU), chain(a, nas_node_make(NAS_OP_BN), s));
    int b1 = chain(a, conv(6, 3, 1), s);
    b1 = chain(a, nas_node_make(NAS_OP_BN), b1);
    int skip = chain(a, nas_node_make(NAS_OP_IDENTITY), s);
    int sum = add2(a, NAS_OP_ADD, b1, skip);
    int r = chain(a, nas_node_make(NAS_OP_RELU), sum);
    int c1 = chain(a, conv(4, 1, 1), r);
    int c2 = chain(a, nas_node_make(NAS_OP_HSWISH), chain(a, conv(4, 3, 1), s));
    int cat = add2(a, NAS_OP_CONCAT, c1, c2);
    nas_node pool = nas_node_make(NAS_OP_MAXPOOL);
    pool.kernel = 2, pool.stride = 2, pool.pad = 0;
    int p = chain(a, pool, cat);
    nas_node mb = nas_node_make(NAS_OP_MBCONV);
    mb.out = 8, mb.kernel = 3, mb.expand = 2, mb.se = 1, mb.act = NAS_OP_RELU;
    int m = chain(a, mb, p);
    int g = chain(a, nas_node_make(NAS_OP_GAP), m);
    nas_node d = nas_node_make(NAS_OP_DROPOUT);
    d.rate = 0.25;
    int dd = chain(a, d, g);
    nas_node fc = nas_node_make(NAS_OP_FC);
    fc.out = 4, fc.bias = 1;
    chain(a, fc, dd);
    ASSERT_OK(nas_arch_check(a, &err), &err);
    return a;
}

static void fill(pcg32 *r, float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * pcg32_normal(r));
}

/* The training loss at x: cross-entropy against the labels y, or against
 * soft (batch x classes probabilities) when given, computed here from the
 * logits. */
static double loss_at_soft(nas_net *net, const float *x, const int *y, const float *soft) {
    nas_error err = {0};
    pcg32 r;
    pcg32_seed(&r, 11, 11);
    ASSERT_OK(nas_net_forward(net, x, 1, &r, &err), &err);
    float loss;
    ASSERT_OK(nas_net_score(net, y, &loss, NULL, &err), &err);
    if (!soft) return loss;
    int N = nas_net_batch(net), K = nas_net_classes(net);
    const float *z = nas_net_logits(net);
    double total = 0;
    for (int n = 0; n < N; n++) {
        double mx = z[n * K], sum = 0;
        for (int k = 1; k < K; k++) mx = fmax(mx, z[n * K + k]);
        for (int k = 0; k < K; k++) sum += exp(z[n * K + k] - mx);
        for (int k = 0; k < K; k++) total -= soft[n * K + k] * (z[n * K + k] - mx - log(sum));
    }
    return total / N;
}

static double loss_at(nas_net *net, const float *x, const int *y) { return loss_at_soft(net, x, y, NULL); }

/* Central differences (h = 1e-3) on up to 12 entries of v against g; entries
 * whose right and left differences disagree by more than 5% + 2e-3 sit on a
 * ReLU/max kink and are skipped (at most half). */
static void fd_check_soft(nas_net *net, float *x, const int *y, const float *soft, float *v, const float *g,
                          size_t n, pcg32 *r, const char *what) {
    double num = 0, gn = 0, fn = 0, h = 1e-3;
    int k = n < 12 ? (int)n : 12, skipped = 0;
    for (int i = 0; i < k; i++) {
        size_t j = n <= 12 ? (size_t)i : pcg32_bounded(r, (uint32_t)n);
        float keep = v[j];
        double l0 = loss_at_soft(net, x, y, soft);
        v[j] = (float)(keep + h);
        double lp = loss_at_soft(net, x, y, soft);
        v[j] = (float)(keep - h);
        double lm = loss_at_soft(net, x, y, soft);
        v[j] = keep;
        double right = (lp - l0) / h, left = (l0 - lm) / h, fd = (lp - lm) / (2 * h);
        if (fabs(right - left) > 5e-2 * fmax(fabs(right), fabs(left)) + 2e-3) {
            skipped++;
            continue;
        }
        num += (g[j] - fd) * (g[j] - fd);
        gn += (double)g[j] * g[j];
        fn += fd * fd;
    }
    if (skipped * 2 > k) TEST_FAIL_("%s: %d of %d entries sit on kinks", what, skipped, k);
    double diff = sqrt(num), scale = fmax(sqrt(gn), sqrt(fn));
    if (!(diff <= 3e-2 * scale + 2e-4))
        TEST_FAIL_("%s: |analytic - finite difference| = %.3g, |grad| = %.3g", what, diff, scale);
}

static void fd_check(nas_net *net, float *x, const int *y, float *v, const float *g, size_t n, pcg32 *r,
                     const char *what) {
    fd_check_soft(net, x, y, NULL, v, g, n, r, what);
}

/* The DAG's net for gradient checks: batch N with input gradients, random
 * input x (N x 64) and weights away from zero (BN scales around 1). */
static nas_net *gradcheck_net(nas_arch *a, int N, pcg32 *r, float *x, nas_param **p, int *np) {
    nas_error err = {0};
    nas_net *net;
    ASSERT_OK(nas_net_create(a, N, NAS_NET_GRADS | NAS_NET_INPUT_GRAD, r, &net, &err), &err);
    fill(r, x, (size_t)N * 64, 1.0);
    nas_net_params(net, p, np);
    for (int i = 0; i < *np; i++)
        if ((*p)[i].dw && !(*p)[i].decay) fill(r, (*p)[i].w, (*p)[i].n, 0.3), (*p)[i].w[0] += 1.f;
    return net;
}

static void test_dag_gradcheck(void) {
    nas_error err = {0};
    nas_arch *a = dag_arch();
    int N = 3;
    pcg32 r;
    pcg32_seed(&r, 1, 2);
    float x[3 * 64];
    int y[3] = {0, 3, 1};
    nas_param *p;
    int np;
    nas_net *net = gradcheck_net(a, N, &r, x, &p, &np);
    loss_at(net, x, y);
    ASSERT_OK(nas_net_backward(net, y, &err), &err);
    float gx[3 * 64];
    memcpy(gx, nas_net_input_grad(net), sizeof gx);
    fd_check(net, x, y, x, gx, 3 * 64, &r, "input");
    int checked = 0;
    for (int i = 0; i < np; i++) {
        if (!p[i].dw) continue;
        float *g = malloc(p[i].n * sizeof *g);
        memcpy(g, p[i].dw, p[i].n * sizeof *g);
        fd_check(net, x, y, p[i].w, g, p[i].n, &r, p[i].name);
        free(g);
        checked++;
    }
    ASSERT_TRUE(checked >= 20);
    nas_net_destroy(net);
    nas_arch_destroy(a);
}

/* Soft targets (nas_net_backward_soft): one-hot targets give the labels'
 * gradients bit for bit; random distributions give the gradients of the
 * cross-entropy against them (central differences on the input and every
 * weight tensor), while the loss still scores the labels. */
static void test_soft_targets(void) {
    nas_error err = {0};
    nas_arch *a = dag_arch();
    int N = 3, K = 4;
    pcg32 r;
    pcg32_seed(&r, 5, 6);
    float x[3 * 64], onehot[3 * 4] = {0}, soft[3 * 4];
    int y[3] = {2, 0, 3};
    nas_param *p;
    int np;
    nas_net *net = gradcheck_net(a, N, &r, x, &p, &np);
    for (int n = 0; n < N; n++) {
        onehot[n * K + y[n]] = 1;
        double sum = 0;
        for (int k = 0; k < K; k++) sum += soft[n * K + k] = (float)(0.05 + pcg32_double(&r));
        for (int k = 0; k < K; k++) soft[n * K + k] = (float)(soft[n * K + k] / sum);
    }
    /* one-hot: the same gradients as the labels */
    float **hard = calloc((size_t)np, sizeof *hard);
    loss_at(net, x, y);
    ASSERT_OK(nas_net_backward(net, y, &err), &err);
    float hard_loss = nas_net_loss(net);
    for (int i = 0; i < np; i++)
        if (p[i].dw) hard[i] = malloc(p[i].n * sizeof **hard), memcpy(hard[i], p[i].dw, p[i].n * sizeof **hard);
    loss_at(net, x, y);
    ASSERT_OK(nas_net_backward_soft(net, y, onehot, &err), &err);
    for (int i = 0; i < np; i++)
        if (p[i].dw) ASSERT_TRUE(memcmp(hard[i], p[i].dw, p[i].n * sizeof **hard) == 0);
    /* a distribution: its own gradients, the labels' loss */
    loss_at(net, x, y);
    ASSERT_OK(nas_net_backward_soft(net, y, soft, &err), &err);
    ASSERT_NEAR(nas_net_loss(net), hard_loss, 1e-6);
    float gx[3 * 64];
    memcpy(gx, nas_net_input_grad(net), sizeof gx);
    int differ = 0, checked = 0;
    for (int i = 0; i < np; i++)
        if (p[i].dw) differ += memcmp(hard[i], p[i].dw, p[i].n * sizeof **hard) != 0;
    ASSERT_TRUE(differ > 0);
    fd_check_soft(net, x, y, soft, x, gx, 3 * 64, &r, "input (soft targets)");
    for (int i = 0; i < np; i++) {
        if (!p[i].dw) continue;
        float *g = malloc(p[i].n * sizeof *g); /* the checks only run forwards: dw stays */
        memcpy(g, p[i].dw, p[i].n * sizeof *g);
        fd_check_soft(net, x, y, soft, p[i].w, g, p[i].n, &r, p[i].name);
        free(g);
        checked++;
    }
    ASSERT_TRUE(checked >= 20);
    for (int i = 0; i < np; i++) free(hard[i]);
    free(hard);
    nas_net_destroy(net);
    nas_arch_destroy(a);
}

/* A branch no node reads (its gradient is zero, its buffer never written)
 * next to a live one: the live gradients check out, the dead ones are 0. */
static void test_dead_branch(void) {
    nas_error err = {0};
    nas_arch *a = nas_arch_create(2, 6, 6, 3);
    int dead = chain(a, nas_node_make(NAS_OP_BN), chain(a, conv(4, 3, 1), 0));
    int h = chain(a, nas_node_make(NAS_OP_RELU), chain(a, nas_node_make(NAS_OP_BN), chain(a, conv(4, 3, 2), 0)));
    h = chain(a, nas_node_make(NAS_OP_GAP), h);
    nas_node fc = nas_node_make(NAS_OP_FC);
    fc.out = 3;
    chain(a, fc, h);
    pcg32 r;
    pcg32_seed(&r, 8, 8);
    nas_net *net;
    ASSERT_OK(nas_net_create(a, 4, NAS_NET_GRADS | NAS_NET_INPUT_GRAD, &r, &net, &err), &err);
    float x[4 * 72];
    int y[4] = {0, 1, 2, 1};
    fill(&r, x, 4 * 72, 1.0);
    for (int rep = 0; rep < 2; rep++) { /* twice: buffers reused across steps stay right */
        loss_at(net, x, y);
        ASSERT_OK(nas_net_backward(net, y, &err), &err);
    }
    nas_param *p;
    int np;
    nas_net_params(net, &p, &np);
    char prefix[16];
    snprintf(prefix, sizeof prefix, "n%d.", dead);
    for (int i = 0; i < np; i++) {
        if (!p[i].dw) continue;
        int is_dead = strncmp(p[i].name, "n1.", 3) == 0 || strncmp(p[i].name, prefix, strlen(prefix)) == 0;
        float *g = malloc(p[i].n * sizeof *g);
        memcpy(g, p[i].dw, p[i].n * sizeof *g);
        if (is_dead)
            for (size_t j = 0; j < p[i].n; j++) ASSERT_TRUE(g[j] == 0.f);
        else
            fd_check(net, x, y, p[i].w, g, p[i].n, &r, p[i].name);
        free(g);
    }
    float gx[4 * 72];
    memcpy(gx, nas_net_input_grad(net), sizeof gx);
    fd_check(net, x, y, x, gx, 4 * 72, &r, "input");
    nas_net_destroy(net);
    nas_arch_destroy(a);
}

/* Parameter names are unique and the BN buffers have no gradient. */
static void test_param_names(void) {
    nas_error err = {0};
    nas_arch *a = dag_arch();
    pcg32 r;
    pcg32_seed(&r, 1, 2);
    nas_net *net;
    ASSERT_OK(nas_net_create(a, 2, NAS_NET_GRADS, &r, &net, &err), &err);
    nas_param *p;
    int np, buffers = 0;
    nas_net_params(net, &p, &np);
    for (int i = 0; i < np; i++) {
        for (int j = 0; j < i; j++) ASSERT_TRUE(strcmp(p[i].name, p[j].name) != 0);
        if (strstr(p[i].name, "running_")) {
            ASSERT_TRUE(p[i].dw == NULL);
            buffers++;
        } else {
            ASSERT_TRUE(p[i].dw != NULL);
        }
        ASSERT_EQ_INT(p[i].decay, strstr(p[i].name, "conv.weight") || strstr(p[i].name, "fc.weight") ||
                                      (strstr(p[i].name, ".weight") && !strstr(p[i].name, "bn.")));
    }
    ASSERT_TRUE(buffers >= 8);
    ASSERT_STR_EQ(p[0].name, "n1.conv.weight");
    ASSERT_EQ_INT(p[0].n, 6 * 1 * 3 * 3);
    nas_net_destroy(net);
    nas_arch_destroy(a);
}

/* NAS_NET_NO_INIT: conv and fc tensors zero, no generator needed, BN
 * initialised as usual. */
static void test_no_init(void) {
    nas_error err = {0};
    nas_arch *a = dag_arch();
    nas_net *net;
    ASSERT_OK(nas_net_create(a, 2, NAS_NET_GRADS | NAS_NET_NO_INIT, NULL, &net, &err), &err);
    nas_param *p;
    int np;
    nas_net_params(net, &p, &np);
    for (int i = 0; i < np; i++) {
        int bn = strstr(p[i].name, "bn.") != NULL;
        float want = bn && (strstr(p[i].name, ".weight") || strstr(p[i].name, "running_var")) ? 1.f : 0.f;
        for (size_t j = 0; j < p[i].n; j++) ASSERT_TRUE(p[i].w[j] == want);
    }
    nas_net_destroy(net);
    nas_arch_destroy(a);
}

/* Minimal SGD (momentum 0.9) inline until the trainer uses models/optim.h. */
static void sgd(nas_param *p, int np, float **vel, float lr) {
    for (int i = 0; i < np; i++) {
        if (!p[i].dw) continue;
        for (size_t j = 0; j < p[i].n; j++) {
            vel[i][j] = 0.9f * vel[i][j] + p[i].dw[j];
            p[i].w[j] -= lr * vel[i][j];
        }
    }
}

/* Overfits 32 random images with random labels: the loss must fall at least
 * 10x in 150 SGD steps, and the net then classifies its batch perfectly. */
static void test_train_overfit(void) {
    nas_error err = {0};
    nas_arch *a = dag_arch();
    a->nodes[a->n_nodes - 2].rate = 0.0; /* no dropout: an exact fit is possible */
    int N = 32;
    pcg32 r;
    pcg32_seed(&r, 3, 4);
    nas_net *net;
    ASSERT_OK(nas_net_create(a, N, NAS_NET_GRADS, &r, &net, &err), &err);
    float *x = malloc((size_t)N * 64 * sizeof *x);
    int y[32];
    fill(&r, x, (size_t)N * 64, 1.0);
    for (int i = 0; i < N; i++) y[i] = (int)pcg32_bounded(&r, 4);
    nas_param *p;
    int np;
    nas_net_params(net, &p, &np);
    float **vel = calloc((size_t)np, sizeof *vel);
    for (int i = 0; i < np; i++) vel[i] = calloc(p[i].n, sizeof **vel);
    float first = 0, last = 0;
    for (int step = 0; step < 150; step++) {
        ASSERT_OK(nas_net_forward(net, x, 1, &r, &err), &err);
        ASSERT_OK(nas_net_backward(net, y, &err), &err);
        if (step == 0) first = nas_net_loss(net);
        last = nas_net_loss(net);
        sgd(p, np, vel, 0.05f);
    }
    printf("    overfit: loss %.4f -> %.4f\n", first, last);
    ASSERT_TRUE(isfinite(first) && isfinite(last));
    ASSERT_LE(last * 10, first);
    ASSERT_OK(nas_net_forward(net, x, 1, &r, &err), &err);
    int correct;
    ASSERT_OK(nas_net_score(net, y, NULL, &correct, &err), &err);
    ASSERT_EQ_INT(correct, N);
    for (int i = 0; i < np; i++) free(vel[i]);
    free(vel);
    free(x);
    nas_net_destroy(net);
    nas_arch_destroy(a);
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NAS_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NAS_TEST_ASAN 1
#endif
#ifdef NAS_TEST_ASAN
size_t __sanitizer_get_current_allocated_bytes(void); /* the ASan runtime's */
#endif

/* Bytes of heap in use: glibc's mallinfo2 (uordblks + hblkhd), or ASan's
 * allocator count under AddressSanitizer (which replaces malloc). */
static size_t heap_in_use(void) {
#ifdef NAS_TEST_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

/* Steady-state training allocates nothing: the heap bytes in use after 20
 * warm-up steps (training and inference forwards, backwards) equal those
 * after 200 more. */
static void test_no_memory_growth(void) {
    nas_error err = {0};
    nas_arch *a = dag_arch();
    int N = 16;
    pcg32 r;
    pcg32_seed(&r, 5, 6);
    nas_net *net;
    ASSERT_OK(nas_net_create(a, N, NAS_NET_GRADS, &r, &net, &err), &err);
    float *x = malloc((size_t)N * 64 * sizeof *x);
    int y[16];
    fill(&r, x, (size_t)N * 64, 1.0);
    for (int i = 0; i < N; i++) y[i] = (int)pcg32_bounded(&r, 4);
    size_t before = 0;
    for (int step = 0; step < 220; step++) {
        if (step == 20) before = heap_in_use();
        ASSERT_OK(nas_net_forward(net, x, step % 3 != 2, &r, &err), &err);
        if (step % 3 != 2) ASSERT_OK(nas_net_backward(net, y, &err), &err);
    }
    size_t after = heap_in_use();
    printf("    heap in use: %zu bytes after warm-up, %zu after 200 more steps\n", before, after);
    ASSERT_EQ_INT(after, before);
    free(x);
    nas_net_destroy(net);
    nas_arch_destroy(a);
}

/* Same seed, same losses; and a batch-1 inference net with copied weights
 * gives the logits of the batch-4 net image by image. */
static void test_determinism_and_sharing(void) {
    nas_error err = {0};
    nas_arch *a = dag_arch();
    int N = 4;
    float losses[2][5];
    nas_net *nets[2];
    float x[4 * 64];
    int y[4] = {1, 2, 3, 0};
    for (int k = 0; k < 2; k++) {
        pcg32 r;
        pcg32_seed(&r, 77, 1);
        ASSERT_OK(nas_net_create(a, N, NAS_NET_GRADS, &r, &nets[k], &err), &err);
        fill(&r, x, sizeof x / sizeof *x, 1.0);
        nas_param *p;
        int np;
        nas_net_params(nets[k], &p, &np);
        for (int s = 0; s < 5; s++) {
            ASSERT_OK(nas_net_forward(nets[k], x, 1, &r, &err), &err);
            ASSERT_OK(nas_net_backward(nets[k], y, &err), &err);
            losses[k][s] = nas_net_loss(nets[k]);
            for (int i = 0; i < np; i++)
                for (size_t j = 0; p[i].dw && j < p[i].n; j++) p[i].w[j] -= 0.05f * p[i].dw[j];
        }
    }
    ASSERT_TRUE(memcmp(losses[0], losses[1], sizeof losses[0]) == 0);

    pcg32 r;
    pcg32_seed(&r, 0, 0);
    nas_net *one;
    ASSERT_OK(nas_net_create(a, 1, 0, &r, &one, &err), &err);
    nas_param *src, *dst;
    int ns, nd;
    nas_net_params(nets[0], &src, &ns);
    nas_net_params(one, &dst, &nd);
    ASSERT_EQ_INT(ns, nd);
    for (int i = 0; i < ns; i++) {
        ASSERT_STR_EQ(src[i].name, dst[i].name);
        ASSERT_TRUE(dst[i].dw == NULL);
        memcpy(dst[i].w, src[i].w, src[i].n * sizeof(float));
    }
    ASSERT_OK(nas_net_forward(nets[0], x, 0, NULL, &err), &err);
    nas_net_set_weights_static(one, 1);
    for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < N; i++) {
            ASSERT_OK(nas_net_forward(one, x + i * 64, 0, NULL, &err), &err);
            for (int k = 0; k < 4; k++)
                ASSERT_NEAR(nas_net_logits(one)[k], nas_net_logits(nets[0])[i * 4 + k], 1e-4);
        }
    ASSERT_EQ_INT(nas_net_backward(one, y, &err), NAS_ERR_INVALID);
    nas_net_destroy(one);
    nas_net_destroy(nets[0]);
    nas_net_destroy(nets[1]);
    nas_arch_destroy(a);
}

/* Same seed, same numbers with oneDNN's large-shape kernels too (Winograd
 * convolutions, blocked BN): two nets, three SGD steps each, bit-equal losses
 * and weights. */
static void test_determinism_winograd(void) {
    nas_error err = {0};
    nas_arch *a = nas_arch_create(3, 12, 12, 5);
    int h = 0;
    for (int i = 0; i < 3; i++)
        h = chain(a, nas_node_make(NAS_OP_RELU),
                  chain(a, nas_node_make(NAS_OP_BN), chain(a, conv(32, 3, 1), h)));
    h = chain(a, nas_node_make(NAS_OP_GAP), h);
    nas_node fc = nas_node_make(NAS_OP_FC);
    fc.out = 5;
    chain(a, fc, h);
    int N = 16;
    float *x = malloc((size_t)N * 3 * 144 * sizeof *x);
    int y[16];
    float loss[2][3], *w[2] = {NULL, NULL};
    size_t wn = 0;
    for (int k = 0; k < 2; k++) {
        pcg32 r;
        pcg32_seed(&r, 21, 2);
        nas_net *net;
        ASSERT_OK(nas_net_create(a, N, NAS_NET_GRADS, &r, &net, &err), &err);
        fill(&r, x, (size_t)N * 3 * 144, 1.0);
        for (int i = 0; i < N; i++) y[i] = i % 5;
        nas_param *p;
        int np;
        nas_net_params(net, &p, &np);
        for (int s = 0; s < 3; s++) {
            ASSERT_OK(nas_net_forward(net, x, 1, &r, &err), &err);
            ASSERT_OK(nas_net_backward(net, y, &err), &err);
            loss[k][s] = nas_net_loss(net);
            for (int i = 0; i < np; i++)
                for (size_t j = 0; p[i].dw && j < p[i].n; j++) p[i].w[j] -= 0.1f * p[i].dw[j];
        }
        wn = p[0].n;
        w[k] = malloc(wn * sizeof(float));
        memcpy(w[k], p[0].w, wn * sizeof(float));
        nas_net_destroy(net);
    }
    ASSERT_TRUE(memcmp(loss[0], loss[1], sizeof loss[0]) == 0);
    ASSERT_TRUE(memcmp(w[0], w[1], wn * sizeof(float)) == 0);
    ASSERT_TRUE(loss[0][2] < loss[0][0]);
    free(w[0]);
    free(w[1]);
    free(x);
    nas_arch_destroy(a);
}

/* ---- nets built in an arena ---- */

/* Odd channel counts (padded blocked layouts), Winograd-sized convs, an
 * mbconv with SE and residual, a resblock with shortcut, a zero edge in a
 * concat, avgpool with padding, a dead branch, dropout. 3x12x12 -> 5 classes. */
static nas_arch *arena_arch(void) {
    nas_error err = {0};
    nas_arch *a = nas_arch_create(3, 12, 12, 5);
    int dead = chain(a, nas_node_make(NAS_OP_BN), chain(a, conv(4, 3, 1), 0));
    (void)dead;
    int s = chain(a, nas_node_make(NAS_OP_BN), chain(a, conv(20, 3, 1), 0));
    s = chain(a, nas_node_make(NAS_OP_RELU), s);
    s = chain(a, nas_node_make(NAS_OP_RELU), chain(a, nas_node_make(NAS_OP_BN), chain(a, conv(40, 3, 1), s)));
    nas_node mb = nas_node_make(NAS_OP_MBCONV);
    mb.out = 40, mb.kernel = 5, mb.expand = 3, mb.se = 1, mb.act = NAS_OP_HSWISH;
    int m = chain(a, mb, s);
    nas_node rb = nas_node_make(NAS_OP_RESBLOCK);
    rb.out = 24, rb.kernel = 3, rb.stride = 2, rb.act = NAS_OP_RELU6;
    int r = chain(a, rb, m);
    int c1 = chain(a, conv(20, 1, 1), r);
    nas_node z = nas_node_make(NAS_OP_ZERO);
    z.out = 12;
    int c2 = chain(a, z, r);
    int cat = add2(a, NAS_OP_CONCAT, c1, c2);
    nas_node pool = nas_node_make(NAS_OP_AVGPOOL);
    pool.kernel = 3, pool.stride = 1, pool.pad = 1;
    int p = chain(a, pool, cat);
    int sum = add2(a, NAS_OP_ADD, p, chain(a, nas_node_make(NAS_OP_IDENTITY), cat));
    int g = chain(a, nas_node_make(NAS_OP_GAP), sum);
    nas_node d = nas_node_make(NAS_OP_DROPOUT);
    d.rate = 0.25;
    nas_node fc = nas_node_make(NAS_OP_FC);
    fc.out = 5, fc.bias = 1;
    chain(a, fc, chain(a, d, g));
    ASSERT_OK(nas_arch_check(a, &err), &err);
    return a;
}

/* Everything a net computes, appended to v (n floats so far, cap): before
 * any forward every node's value; then `steps` SGD steps (training forward,
 * backward: loss, logits, every gradient, the input gradient; weights -=
 * 0.05 dw) or, without gradients, training forwards; then an inference
 * forward's logits and every node's value. */
typedef struct digest {
    float *v;
    size_t n, cap;
} digest;

static void digest_add(digest *d, const float *x, size_t n) {
    if (d->n + n > d->cap) {
        d->cap = (d->n + n) * 2;
        d->v = realloc(d->v, d->cap * sizeof *d->v);
        ASSERT_TRUE(d->v != NULL);
    }
    memcpy(d->v + d->n, x, n * sizeof *x);
    d->n += n;
}

static void digest_nodes(digest *d, nas_net *net, const nas_arch *a) {
    nas_error err = {0};
    for (int i = 1; i < a->n_nodes; i++) {
        const nas_node *nd = &a->nodes[i];
        size_t n = (size_t)nas_net_batch(net) * nd->c * nd->h * nd->w;
        float *v = malloc(n * sizeof *v);
        ASSERT_OK(nas_net_node_value(net, i, v, &err), &err);
        digest_add(d, v, n);
        free(v);
    }
}

static digest run_digest(nas_net *net, const nas_arch *a, int steps) {
    nas_error err = {0};
    digest d = {0};
    int N = nas_net_batch(net), K = nas_net_classes(net);
    size_t img = (size_t)a->in_c * a->in_h * a->in_w;
    float *x = malloc((size_t)N * img * sizeof *x);
    int *y = malloc((size_t)N * sizeof *y);
    pcg32 r;
    pcg32_seed(&r, 42, 7);
    fill(&r, x, (size_t)N * img, 1.0);
    for (int i = 0; i < N; i++) y[i] = (int)pcg32_bounded(&r, (uint32_t)K);
    digest_nodes(&d, net, a);
    nas_param *p;
    int np;
    nas_net_params(net, &p, &np);
    int grads = np > 0 && p[0].dw != NULL;
    for (int s = 0; s < steps; s++) {
        ASSERT_OK(nas_net_forward(net, x, 1, &r, &err), &err);
        digest_add(&d, nas_net_logits(net), (size_t)N * K);
        if (!grads) continue;
        ASSERT_OK(nas_net_backward(net, y, &err), &err);
        float loss = nas_net_loss(net);
        digest_add(&d, &loss, 1);
        for (int i = 0; i < np; i++)
            if (p[i].dw) digest_add(&d, p[i].dw, p[i].n);
        if (nas_net_input_grad(net)) digest_add(&d, nas_net_input_grad(net), (size_t)N * img);
        for (int i = 0; i < np; i++)
            for (size_t j = 0; p[i].dw && j < p[i].n; j++) p[i].w[j] -= 0.05f * p[i].dw[j];
    }
    ASSERT_OK(nas_net_forward(net, x, 0, NULL, &err), &err);
    digest_add(&d, nas_net_logits(net), (size_t)N * K);
    digest_nodes(&d, net, a);
    free(x);
    free(y);
    return d;
}

/* The digest of arch a's net built fresh on the heap, and built in `arena`
 * (reset, every byte it holds set to NaN first): bit-equal. */
static void check_in_arena(const nas_arch *a, int batch, unsigned flags, nas_arena *arena) {
    nas_error err = {0};
    nas_net *fresh, *reused;
    pcg32 r;
    pcg32_seed(&r, 5, 5);
    ASSERT_OK(nas_net_create(a, batch, flags, &r, &fresh, &err), &err);
    digest want = run_digest(fresh, a, 3);
    nas_net_destroy(fresh);
    nas_arena_reset(arena);
    nas_arena_fill(arena, 0xff);
    pcg32_seed(&r, 5, 5);
    ASSERT_OK(nas_net_create_in(a, batch, flags, arena, &r, &reused, &err), &err);
    digest got = run_digest(reused, a, 3);
    nas_net_destroy(reused);
    ASSERT_EQ_INT(got.n, want.n);
    size_t bad = 0;
    for (size_t i = 0; i < got.n; i++) bad += memcmp(&got.v[i], &want.v[i], sizeof(float)) != 0;
    if (bad) TEST_FAIL_("%zu of %zu values differ from the fresh net's", bad, got.n);
    free(want.v);
    free(got.v);
}

/* A net built in an arena another (different, dirty) net used, poisoned
 * with NaNs, computes bit for bit what a fresh net computes: forward,
 * backward, input gradient, SGD steps, inference, node values (also before
 * any forward). Training and inference-only nets, in turn in one arena; a
 * net that fits the arena takes no new memory. */
static void test_arena_reuse(void) {
    nas_arch *big = arena_arch(), *small = dag_arch();
    nas_arena arena;
    nas_arena_init(&arena, 1 << 20);
    unsigned g = NAS_NET_GRADS | NAS_NET_INPUT_GRAD;
    check_in_arena(big, 8, g, &arena); /* fills the arena (several chunks) */
    check_in_arena(small, 4, g, &arena);
    size_t cap = nas_arena_capacity(&arena);
    check_in_arena(big, 8, g, &arena); /* after the reset merged the chunks: fits */
    check_in_arena(big, 8, 0, &arena);
    check_in_arena(small, 3, g | NAS_NET_NO_FUSE, &arena);
    ASSERT_EQ_INT(nas_arena_capacity(&arena), cap);
    check_in_arena(big, 32, 0, &arena); /* larger: grows */
    check_in_arena(big, 8, NAS_NET_GRADS, &arena);
    size_t cap2 = nas_arena_capacity(&arena);
    ASSERT_TRUE(cap2 > cap);
    check_in_arena(big, 32, 0, &arena);
    ASSERT_EQ_INT(nas_arena_capacity(&arena), cap2);
    printf("    arena: %zu bytes held, %zu after a larger net\n", cap, cap2);
    nas_arena_deinit(&arena);
    nas_arch_destroy(big);
    nas_arch_destroy(small);
}

static void test_bad_input(void) {
    nas_error err = {0};
    nas_arch *a = dag_arch();
    pcg32 r;
    pcg32_seed(&r, 0, 0);
    nas_net *net = NULL;
    ASSERT_EQ_INT(nas_net_create(a, 0, NAS_NET_GRADS, &r, &net, &err), NAS_ERR_INVALID);
    ASSERT_TRUE(net == NULL);
    ASSERT_OK(nas_net_create(a, 2, NAS_NET_GRADS, &r, &net, &err), &err);
    int y[2] = {0, 4};
    ASSERT_EQ_INT(nas_net_backward(net, y, &err), NAS_ERR_INVALID); /* no forward yet */
    float x[2 * 64] = {0};
    ASSERT_OK(nas_net_forward(net, x, 0, NULL, &err), &err);
    ASSERT_EQ_INT(nas_net_backward(net, y, &err), NAS_ERR_INVALID); /* inference forward */
    ASSERT_OK(nas_net_forward(net, x, 1, &r, &err), &err);
    ASSERT_EQ_INT(nas_net_backward(net, y, &err), NAS_ERR_INVALID); /* label 4 of 4 classes */
    ASSERT_CONTAINS(err.msg, "label 4");
    ASSERT_EQ_INT(nas_net_node_value(net, 99, x, &err), NAS_ERR_INVALID);
    nas_net_destroy(net);
    nas_net_destroy(NULL);
    nas_arch_destroy(a);

    /* a resblock with an even kernel lowers to another shape than the arch's:
     * a clear error after a partial build (the sanitizer build checks cleanup) */
    a = nas_arch_create(2, 6, 6, 3);
    nas_node rb = nas_node_make(NAS_OP_RESBLOCK);
    rb.out = 4, rb.kernel = 2;
    int h = chain(a, rb, 0);
    h = chain(a, nas_node_make(NAS_OP_GAP), h);
    nas_node fc = nas_node_make(NAS_OP_FC);
    fc.out = 3;
    chain(a, fc, h);
    net = NULL;
    ASSERT_EQ_INT(nas_net_create(a, 2, NAS_NET_GRADS, &r, &net, &err), NAS_ERR_UNSUPPORTED);
    ASSERT_CONTAINS(err.msg, "resblock");
    ASSERT_TRUE(net == NULL);
    nas_arch_destroy(a);
}

static const test_case TESTS[] = {
    {"dag_gradcheck", test_dag_gradcheck},
    {"soft_targets", test_soft_targets},
    {"dead_branch", test_dead_branch},
    {"param_names", test_param_names},
    {"no_init", test_no_init},
    {"train_overfit", test_train_overfit},
    {"no_memory_growth", test_no_memory_growth},
    {"determinism_and_sharing", test_determinism_and_sharing},
    {"determinism_winograd", test_determinism_winograd},
    {"arena_reuse", test_arena_reuse},
    {"bad_input", test_bad_input},
    {0},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
