/*
 * test_supernet.c - the weight-sharing supernet (evaluator/supernet.h):
 * slicing rules on hand-made tensors, rank statistics on known values, the
 * shared tensors of a tiny inline space, training with a decreasing loss,
 * deterministic scores, extraction scored identically by nas_eval_run,
 * checkpoint resume equal to an uninterrupted run, and the error paths
 * (missing, corrupt and truncated checkpoints, another space's supernet or
 * arch). Data: 4 generated classes of 1x12x12 images (a bright quadrant plus
 * noise), small enough for the whole file to run in seconds.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "evaluator/data.h"
#include "evaluator/supernet.h"
#include "evaluator/supernet_internal.h" /* the kernel transforms' gradient check reads master gradients */
#include "evaluator/train.h"
#include "models/checkpoint.h"
#include "nas/core/fileio.h"
#include "searchspace/space.h"
#include "tests/test.h"

static const char TINY[] =
    "space tiny\n"
    "input 1x12x12\n"
    "classes 4\n"
    "let w1 = choice(8, 12)\n"
    "let w2 = choice(12, 16)\n"
    "network {\n"
    "    conv(kernel = choice(3, 5), out = choice(4, 8)) bn relu\n"
    "    stage(depth = choice(1, 2), stride = 1) { mbconv(kernel = choice(3, 5), expand = choice(1, 2), out = w1) }\n"
    "    stage(depth = choice(1, 2), stride = 2) {\n"
    "        choice(mbconv(kernel = choice(3, 5), expand = choice(1, 2), out = w2, se = choice(no, yes)),\n"
    "               resblock(out = w2))\n"
    "    }\n"
    "    global_avg_pool\n"
    "    fc(out = classes)\n"
    "}\n";

static const char OTHER[] =
    "space other\n"
    "input 1x12x12\n"
    "classes 4\n"
    "network {\n"
    "    conv(kernel = 3, out = choice(32, 64)) bn relu\n"
    "    global_avg_pool\n"
    "    fc(out = classes)\n"
    "}\n";

static ss_space *compile(const char *name, const char *src) {
    ss_space *s = NULL;
    nas_error err = {0};
    if (ss_space_compile_string(name, src, strlen(src), stderr, &s, &err)) {
        fprintf(stderr, "  compile %s: %s\n", name, err.msg);
        return NULL;
    }
    return s;
}

/* n images of class i % 4, each a texture the network's global pooling
 * keeps: horizontal stripes, vertical stripes, a checkerboard, diagonal
 * stripes, at a random phase, plus uniform noise. */
static void make_set(nas_dataset *ds, size_t n, uint64_t seed) {
    nas_error err = {0};
    if (nas_dataset_init(ds, n, 1, 12, 12, &err)) abort();
    pcg32 r;
    pcg32_seed(&r, seed, 3);
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i % 4), ph = (int)pcg32_bounded(&r, 2);
        ds->y[i] = (uint8_t)c;
        float *x = ds->x + i * 144;
        for (int yy = 0; yy < 12; yy++)
            for (int xx = 0; xx < 12; xx++) {
                int v = c == 0 ? yy : c == 1 ? xx : c == 2 ? xx + yy : (xx + 2 * yy) / 2;
                x[yy * 12 + xx] = (float)(((v + ph) & 1) * 0.6 + 0.4 * pcg32_double(&r));
            }
    }
}

static nas_data *make_data(void) {
    nas_dataset tr, te;
    make_set(&tr, 400, 1);
    make_set(&te, 64, 2);
    nas_data_options opt;
    nas_data_options_default(&opt);
    opt.val_fraction = 0.2;
    nas_data *d = NULL;
    nas_error err = {0};
    if (nas_data_from_sets(&tr, &te, &opt, &d, &err)) {
        fprintf(stderr, "  data: %s\n", err.msg);
        return NULL;
    }
    return d;
}

static void tiny_config(nas_supernet_config *cfg) {
    nas_supernet_config_default(cfg);
    cfg->epochs = 2;
    cfg->batch = 32;
    cfg->lr.base_lr = 0.05;
    cfg->discover = 200;
    cfg->seed = 7;
    snprintf(cfg->data_spec, sizeof cfg->data_spec, "custom");
}

/* Scoring options small enough for the tiny data set. */
static void tiny_score_options(nas_supernet_score_options *so) {
    nas_supernet_score_options_default(so);
    so->batch = 16;
    so->recal_batches = 2;
}

static char *tmpdir(void) {
    char *d = strdup("/tmp/test_supernet_XXXXXX");
    if (!d || !mkdtemp(d)) abort();
    return d;
}

static void rm_dir(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "  could not remove %s\n", dir);
}

/* ------------------------------------------------------------ tests */

static void test_slice_centre_crop(void) {
    float m[25], s[9], back[25] = {0};
    for (int i = 0; i < 25; i++) m[i] = (float)i;
    int md[4] = {1, 1, 5, 5}, sd[4] = {1, 1, 3, 3};
    nas_supernet_slice_get(m, md, s, sd);
    const float want[9] = {6, 7, 8, 11, 12, 13, 16, 17, 18};
    for (int i = 0; i < 9; i++) ASSERT_EQ_INT(s[i], want[i]);
    nas_supernet_slice_add(back, md, s, sd);
    nas_supernet_slice_add(back, md, s, sd);
    for (int i = 0; i < 25; i++) {
        int y = i / 5, x = i % 5, inside = y >= 1 && y <= 3 && x >= 1 && x <= 3;
        ASSERT_EQ_INT(back[i], inside ? 2 * i : 0);
    }
    /* 7 -> 3: offset 2 */
    float m7[49], s3[9];
    for (int i = 0; i < 49; i++) m7[i] = (float)i;
    nas_supernet_slice_get(m7, (int[4]){1, 1, 7, 7}, s3, sd);
    ASSERT_EQ_INT(s3[0], 16);
    ASSERT_EQ_INT(s3[8], 32);
}

static void test_slice_leading_channels(void) {
    /* master (O=3, I=4, 3, 3); sub (2, 2, 1, 1): leading channels, centre tap */
    float m[3 * 4 * 9], s[4];
    for (int i = 0; i < 3 * 4 * 9; i++) m[i] = (float)i;
    nas_supernet_slice_get(m, (int[4]){3, 4, 3, 3}, s, (int[4]){2, 2, 1, 1});
    ASSERT_EQ_INT(s[0], 0 * 36 + 0 * 9 + 4);
    ASSERT_EQ_INT(s[1], 0 * 36 + 1 * 9 + 4);
    ASSERT_EQ_INT(s[2], 1 * 36 + 0 * 9 + 4);
    ASSERT_EQ_INT(s[3], 1 * 36 + 1 * 9 + 4);
    /* vectors (BatchNorm, bias) and fc weights: leading entries / rows */
    float v[6] = {1, 2, 3, 4, 5, 6}, sv[4];
    nas_supernet_slice_get(v, (int[4]){6, 1, 1, 1}, sv, (int[4]){4, 1, 1, 1});
    ASSERT_EQ_INT(sv[3], 4);
    float fc[3 * 5], sfc[2 * 3];
    for (int i = 0; i < 15; i++) fc[i] = (float)i;
    nas_supernet_slice_get(fc, (int[4]){3, 5, 1, 1}, sfc, (int[4]){2, 3, 1, 1});
    const float want[6] = {0, 1, 2, 5, 6, 7};
    for (int i = 0; i < 6; i++) ASSERT_EQ_INT(sfc[i], want[i]);
    float g[15] = {0};
    nas_supernet_slice_add(g, (int[4]){3, 5, 1, 1}, sfc, (int[4]){2, 3, 1, 1});
    ASSERT_EQ_INT(g[5], 5);
    ASSERT_EQ_INT(g[3], 0);
    ASSERT_EQ_INT(g[10], 0);
}

static void test_rank_statistics(void) {
    double a[4] = {1, 2, 3, 4}, b[4] = {1, 3, 2, 4}, r[4] = {4, 3, 2, 1}, c[4] = {1, 1, 1, 1};
    ASSERT_NEAR(nas_supernet_kendall_tau(a, a, 4), 1.0, 1e-12);
    ASSERT_NEAR(nas_supernet_kendall_tau(a, r, 4), -1.0, 1e-12);
    ASSERT_NEAR(nas_supernet_kendall_tau(a, b, 4), 4.0 / 6.0, 1e-12);
    ASSERT_NEAR(nas_supernet_spearman_rho(a, b, 4), 0.8, 1e-12);
    ASSERT_NEAR(nas_supernet_spearman_rho(a, r, 4), -1.0, 1e-12);
    ASSERT_TRUE(isnan(nas_supernet_kendall_tau(a, c, 4)));
    /* ties: tau-b of (1,2,2,3) vs (1,2,3,4) = 5 / sqrt(5 * 6) */
    double t[4] = {1, 2, 2, 3};
    ASSERT_NEAR(nas_supernet_kendall_tau(t, a, 4), 5.0 / sqrt(30.0), 1e-12);
}

/* n pairs of a bivariate normal with correlation r (whose Kendall tau is
 * 2/pi asin r). */
static void normal_pairs(pcg32 *g, double r, int n, double *x, double *y) {
    for (int i = 0; i < n; i++) {
        double u = pcg32_normal(g), v = pcg32_normal(g);
        x[i] = u, y[i] = r * u + sqrt(1 - r * r) * v;
    }
}

/* The bootstrap interval of tau: exact data give [1, 1]; it is
 * reproducible from the generator's seed, holds the estimate, narrows with
 * more archs, and covers the true tau of a known model about as often as
 * its level says (an interval that is too narrow would make 20 archs look
 * conclusive). */
static void test_tau_interval(void) {
    double a[20], b[20], lo, hi, lo2, hi2;
    for (int i = 0; i < 20; i++) a[i] = i, b[i] = 2 * i + 1;
    pcg32 g;
    pcg32_seed(&g, 1, 1);
    nas_supernet_kendall_tau_interval(a, b, 20, 500, 0.95, &g, &lo, &hi);
    ASSERT_NEAR(lo, 1.0, 1e-12);
    ASSERT_NEAR(hi, 1.0, 1e-12);
    nas_supernet_kendall_tau_interval(a, b, 2, 500, 0.95, &g, &lo, &hi);
    ASSERT_TRUE(isnan(lo) && isnan(hi));
    double x[400], y[400];
    pcg32_seed(&g, 2, 2);
    normal_pairs(&g, 0.5, 20, x, y);
    pcg32 g1, g2;
    pcg32_seed(&g1, 3, 3);
    pcg32_seed(&g2, 3, 3);
    nas_supernet_kendall_tau_interval(x, y, 20, 2000, 0.95, &g1, &lo, &hi);
    nas_supernet_kendall_tau_interval(x, y, 20, 2000, 0.95, &g2, &lo2, &hi2);
    ASSERT_TRUE(lo == lo2 && hi == hi2);
    double t = nas_supernet_kendall_tau(x, y, 20);
    printf("     n = 20, r = 0.5: tau %.3f, 95%% interval %.3f..%.3f\n", t, lo, hi);
    ASSERT_TRUE(lo < t && t < hi);
    ASSERT_TRUE(hi - lo > 0.3); /* 20 archs cannot pin tau down */
    normal_pairs(&g, 0.5, 400, x, y);
    nas_supernet_kendall_tau_interval(x, y, 400, 500, 0.95, &g1, &lo2, &hi2);
    printf("     n = 400: 95%% interval %.3f..%.3f\n", lo2, hi2);
    ASSERT_TRUE(hi2 - lo2 < (hi - lo) / 3);
    /* coverage over 300 data sets of 20 pairs, true tau = 2/pi asin 0.5 = 1/3 */
    int covered = 0, sets = 300;
    for (int k = 0; k < sets; k++) {
        normal_pairs(&g, 0.5, 20, x, y);
        nas_supernet_kendall_tau_interval(x, y, 20, 400, 0.95, &g1, &lo, &hi);
        covered += lo <= 1.0 / 3 && 1.0 / 3 <= hi;
    }
    printf("     coverage of the true tau: %d of %d\n", covered, sets);
    ASSERT_TRUE(covered >= 0.88 * sets && covered <= 0.99 * sets);
}

/* The ceiling against simulated ground truths: 1500 archs whose true
 * accuracies spread with s.d. 1, two seeds with noise s.d. 0.5 (a run is
 * 80% signal: 2/pi asin sqrt 0.8 = 0.705 against one seed, 0.784 against
 * the mean of two); the model's figures match the taus the true accuracies
 * (a perfect score) reach against the simulated runs, whatever shift a
 * seed adds to all its runs. */
static void test_tau_ceiling(void) {
    enum { N = 1500, K = 2 };
    static double truth[N], acc[N * K], col[N];
    pcg32 g;
    pcg32_seed(&g, 7, 7);
    for (int i = 0; i < N; i++) {
        truth[i] = pcg32_normal(&g);
        for (int j = 0; j < K; j++) acc[i * K + j] = truth[i] + 0.5 * pcg32_normal(&g);
    }
    double one, mean;
    nas_supernet_tau_ceiling(acc, N, K, &one, &mean);
    for (int i = 0; i < N; i++) col[i] = acc[i * K];
    double t_one = nas_supernet_kendall_tau(truth, col, N);
    for (int i = 0; i < N; i++) col[i] = 0.5 * (acc[i * K] + acc[i * K + 1]);
    double t_mean = nas_supernet_kendall_tau(truth, col, N);
    printf("     ceiling %.3f / %.3f, simulated %.3f / %.3f, exact 0.705 / 0.784\n", one, mean, t_one, t_mean);
    ASSERT_NEAR(one, 0.7048, 0.03);
    ASSERT_NEAR(mean, 0.7837, 0.03);
    ASSERT_NEAR(one, t_one, 0.03);
    ASSERT_NEAR(mean, t_mean, 0.03);
    /* a seed that shifts all its runs alike moves no rank: the same ceiling */
    double one2, mean2;
    for (int i = 0; i < N; i++) acc[i * K + 1] += 3;
    nas_supernet_tau_ceiling(acc, N, K, &one2, &mean2);
    ASSERT_NEAR(one2, one, 1e-9);
    ASSERT_NEAR(mean2, mean, 1e-9);
    /* runs that are all noise: no score can rank them (0), and no ceiling
       without seeds, archs or spread */
    for (int i = 0; i < N * K; i++) acc[i] = pcg32_normal(&g);
    nas_supernet_tau_ceiling(acc, N, K, &one, &mean);
    ASSERT_TRUE(one < 0.1 && mean < 0.12);
    nas_supernet_tau_ceiling(acc, N, 1, &one, &mean);
    ASSERT_TRUE(isnan(one) && isnan(mean));
    nas_supernet_tau_ceiling(acc, 2, K, &one, &mean);
    ASSERT_TRUE(isnan(one) && isnan(mean));
    for (int i = 0; i < 3 * K; i++) acc[i] = 0.75;
    nas_supernet_tau_ceiling(acc, 3, K, &one, &mean);
    ASSERT_TRUE(isnan(one) && isnan(mean));
    /* seeds that agree exactly: a perfect score ranks perfectly */
    for (int i = 0; i < 3; i++) acc[i * K] = acc[i * K + 1] = 0.9 + 0.01 * i;
    nas_supernet_tau_ceiling(acc, 3, K, &one, &mean);
    ASSERT_NEAR(one, 1, 1e-12);
    ASSERT_NEAR(mean, 1, 1e-12);
}

static int find_tensor(const nas_supernet *sn, const char *key, int dims[4]) {
    for (int i = 0; i < nas_supernet_tensor_count(sn); i++)
        if (strcmp(nas_supernet_tensor(sn, i, dims, NULL), key) == 0) return i;
    return -1;
}

static void test_shared_tensors(void) {
    ss_space *s = compile("tiny", TINY);
    ASSERT_TRUE(s);
    nas_supernet_config cfg;
    tiny_config(&cfg);
    nas_supernet *sn = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_supernet_create(s, &cfg, &sn, &err), &err);
    int d[4];
    /* the stem: largest kernel 5, largest width 8 */
    ASSERT_TRUE(find_tensor(sn, "conv|conv#0.conv.weight", d) >= 0);
    ASSERT_EQ_INT(d[0], 8);
    ASSERT_EQ_INT(d[1], 1);
    ASSERT_EQ_INT(d[2], 5);
    ASSERT_EQ_INT(d[3], 5);
    /* the mbconv of stage 1, repetition 1: expand 2 of up to 12 channels */
    ASSERT_TRUE(find_tensor(sn, "stage1[1].mbconv|mbconv#0.dw.weight", d) >= 0);
    ASSERT_EQ_INT(d[0], 24);
    ASSERT_EQ_INT(d[2], 5);
    /* op choice: mbconv and resblock at one position keep their own tensors */
    ASSERT_TRUE(find_tensor(sn, "stage2[0].resblock|resblock#0.conv1.weight", d) >= 0);
    ASSERT_EQ_INT(d[0], 16);
    ASSERT_TRUE(find_tensor(sn, "stage2[0].mbconv|mbconv#0.se_reduce.weight", d) >= 0);
    /* fc: largest input width */
    ASSERT_TRUE(find_tensor(sn, "fc|fc#0.fc.weight", d) >= 0);
    ASSERT_EQ_INT(d[0], 4);
    ASSERT_EQ_INT(d[1], 16);
    /* the extremes */
    nas_arch *big = NULL, *small = NULL;
    ASSERT_OK(nas_supernet_extreme(sn, 1, &big, &err), &err);
    ASSERT_OK(nas_supernet_extreme(sn, 0, &small, &err), &err);
    ASSERT_TRUE(big->n_nodes > small->n_nodes);
    nas_arch_destroy(big);
    nas_arch_destroy(small);
    nas_supernet_destroy(sn);
    ss_space_destroy(s);
}

/* Loss of one step of arch a on (x, y) with learning rate 0 (nothing moves;
 * the gradients stay in the master tensors' dw). */
static double step_loss(nas_supernet *sn, const nas_arch *a, const float *x, const int *y) {
    nas_error err = {0};
    double loss = NAN;
    ASSERT_OK(nas_supernet_step(sn, &a, 1, x, y, 0.0, &loss, &err), &err);
    return loss;
}

/* The master gradients one step left (lr 0: nothing moved), touched
 * tensors in order, concatenated into *out (grown as needed); returns the count. */
static size_t master_grads(const nas_supernet *sn, float **out) {
    size_t n = 0;
    for (int i = 0; i < sn->n_t; i++) n += sn->t[i]->touched ? sn->t[i]->n : 0;
    *out = realloc(*out, (n ? n : 1) * sizeof **out);
    n = 0;
    for (int i = 0; i < sn->n_t; i++)
        if (sn->t[i]->touched) memcpy(*out + n, sn->t[i]->dw, sn->t[i]->n * sizeof **out), n += sn->t[i]->n;
    return n;
}

static double dist(const float *a, const float *b, size_t n, double *norm_a) {
    double d = 0, na = 0;
    for (size_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), na += (double)a[i] * a[i];
    *norm_a = sqrt(na);
    return sqrt(d);
}

/* In-place distillation (--distill): the first path learns from the labels,
 * the others from its softmax. The largest path taught by itself adds no
 * gradient (targets = its own outputs; no dropout here): the step equals the
 * largest path alone, where without distillation it is twice that; a
 * smaller student adds a gradient other than the labels' one. Refused
 * without the sandwich rule. */
static void test_distill(void) {
    ss_space *s = compile("tiny", TINY);
    nas_data *data = make_data();
    ASSERT_TRUE(s && data);
    nas_supernet_config cfg;
    tiny_config(&cfg);
    cfg.optim.weight_decay = 0;
    cfg.distill = 1;
    nas_supernet *sn = NULL;
    nas_error err = {0};
    ASSERT_EQ_INT(nas_supernet_create(s, &cfg, &sn, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "distillation needs the sandwich rule");
    cfg.sandwich = 1;
    ASSERT_OK(nas_supernet_create(s, &cfg, &sn, &err), &err);
    nas_arch *big = NULL, *small = NULL;
    ASSERT_OK(nas_supernet_extreme(sn, 1, &big, &err), &err);
    ASSERT_OK(nas_supernet_extreme(sn, 0, &small, &err), &err);
    float *x = data->train.x, *g1 = NULL, *g2 = NULL, *g3 = NULL;
    int y[32];
    for (int i = 0; i < 32; i++) y[i] = data->train.y[i];
    const nas_arch *one[1] = {big}, *twice[2] = {big, big}, *pair[2] = {big, small};
    double l1, l2, norm;
    ASSERT_OK(nas_supernet_step(sn, one, 1, x, y, 0.0, &l1, &err), &err);
    size_t n = master_grads(sn, &g1);
    ASSERT_OK(nas_supernet_step(sn, twice, 2, x, y, 0.0, &l2, &err), &err);
    ASSERT_EQ_INT(master_grads(sn, &g2), n);
    double d = dist(g1, g2, n, &norm);
    printf("     self-taught: |g(big, big) - g(big)| = %.3g of |g(big)| = %.3g\n", d, norm);
    ASSERT_TRUE(norm > 0 && d <= 1e-5 * norm);
    ASSERT_NEAR(l2, l1, 1e-6); /* the loss scores the labels */
    sn->cfg.distill = 0;
    ASSERT_OK(nas_supernet_step(sn, twice, 2, x, y, 0.0, &l2, &err), &err);
    master_grads(sn, &g2);
    for (size_t i = 0; i < n; i++) g1[i] *= 2;
    ASSERT_TRUE(dist(g1, g2, n, &norm) <= 1e-5 * norm);
    /* a smaller student: its gradient is not the labels' */
    ASSERT_OK(nas_supernet_step(sn, pair, 2, x, y, 0.0, NULL, &err), &err);
    size_t m = master_grads(sn, &g2);
    sn->cfg.distill = 1;
    ASSERT_OK(nas_supernet_step(sn, pair, 2, x, y, 0.0, NULL, &err), &err);
    ASSERT_EQ_INT(master_grads(sn, &g3), m);
    d = dist(g2, g3, m, &norm);
    printf("     big teaching small: |g(distilled) - g(labels)| = %.3g of %.3g\n", d, norm);
    ASSERT_TRUE(d > 1e-3 * norm);
    free(g1);
    free(g2);
    free(g3);
    nas_arch_destroy(big);
    nas_arch_destroy(small);
    nas_supernet_destroy(sn);
    nas_data_destroy(data);
    ss_space_destroy(s);
}

/* Kernel transforms (--kernel-transform): one k^2 x k^2 matrix per layer and
 * smaller kernel, starting as the identity (so an untrained supernet scores
 * exactly like one without them), and their gradients and the master's
 * through them equal central differences of the loss. */
static void test_kernel_transform(void) {
    ss_space *s = compile("tiny", TINY);
    nas_data *data = make_data();
    ASSERT_TRUE(s && data);
    nas_supernet_config cfg;
    tiny_config(&cfg);
    cfg.optim.weight_decay = 0;
    nas_supernet *plain = NULL, *sn = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_supernet_create(s, &cfg, &plain, &err), &err);
    cfg.kernel_transform = 1;
    ASSERT_OK(nas_supernet_create(s, &cfg, &sn, &err), &err);
    int d[4], ti = find_tensor(sn, "conv|conv#0.conv.weight.kt3", d);
    ASSERT_TRUE(ti >= 0);
    ASSERT_TRUE(d[0] == 1 && d[1] == 1 && d[2] == 9 && d[3] == 9);
    ASSERT_TRUE(find_tensor(plain, "conv|conv#0.conv.weight.kt3", d) < 0);
    /* kernels 3 and 5 in the tiny space: one transform per layer with a kernel choice */
    ASSERT_TRUE(nas_supernet_tensor_count(sn) > nas_supernet_tensor_count(plain));
    nas_arch *small = NULL;
    ASSERT_OK(nas_supernet_extreme(sn, 0, &small, &err), &err);
    nas_supernet_score_options so;
    tiny_score_options(&so);
    nas_supernet_score a1, a2;
    ASSERT_OK(nas_supernet_score_arch(plain, small, data, &so, &a1, &err), &err);
    ASSERT_OK(nas_supernet_score_arch(sn, small, data, &so, &a2, &err), &err);
    ASSERT_TRUE(a1.val_loss == a2.val_loss && a1.val_acc == a2.val_acc);
    /* gradients: T away from the identity, then central differences */
    sn_tensor *T = sn->t[ti], *W = sn->t[find_tensor(sn, "conv|conv#0.conv.weight", d)];
    pcg32 r;
    pcg32_seed(&r, 3, 1);
    for (size_t i = 0; i < T->n; i++) T->w[i] += (float)(0.2 * pcg32_normal(&r));
    float *x = data->train.x;
    int y[32];
    for (int i = 0; i < 32; i++) y[i] = data->train.y[i];
    step_loss(sn, small, x, y);
    size_t nt = T->n, nw = W->n;
    float *dT = malloc(nt * sizeof *dT), *dW = malloc(nw * sizeof *dW);
    ASSERT_TRUE(dT && dW);
    memcpy(dT, T->dw, nt * sizeof *dT);
    memcpy(dW, W->dw, nw * sizeof *dW);
    const double eps = 1e-3;
    /* T entries, and master entries at the centre (used) and on the ring (not) of channel 0 */
    float *probe[6] = {&T->w[0], &T->w[4 * 9 + 4], &T->w[2 * 9 + 7], &W->w[2 * 5 + 2], &W->w[1 * 5 + 3], &W->w[0]};
    const float *grad[6] = {&dT[0], &dT[4 * 9 + 4], &dT[2 * 9 + 7], &dW[2 * 5 + 2], &dW[1 * 5 + 3], &dW[0]};
    for (int k = 0; k < 6; k++) {
        float keep = *probe[k];
        *probe[k] = (float)(keep + eps);
        double lp = step_loss(sn, small, x, y);
        *probe[k] = (float)(keep - eps);
        double lm = step_loss(sn, small, x, y);
        *probe[k] = keep;
        double fd = (lp - lm) / (2 * eps), an = *grad[k];
        printf("     probe %d: analytic %.6f, central difference %.6f\n", k, an, fd);
        ASSERT_NEAR(an, fd, 2e-3 + 0.05 * fabs(fd));
    }
    ASSERT_TRUE(dW[0] == 0.0f); /* the ring of a 5x5 master is outside a 3x3 kernel */
    ASSERT_TRUE(fabs(dT[4 * 9 + 4]) > 1e-4); /* a check that can fail: the centre tap has a gradient */
    free(dT);
    free(dW);
    /* an epoch of training moves T (a fresh supernet: the steps above at lr 0
     * count in the schedule); the checkpoint keeps the option and the
     * matrices: the loaded supernet scores the same */
    nas_supernet *fresh = NULL, *back = NULL;
    cfg.epochs = 1;
    ASSERT_OK(nas_supernet_create(s, &cfg, &fresh, &err), &err);
    char *dir = tmpdir();
    nas_supernet_result res;
    ASSERT_OK(nas_supernet_train(fresh, data, dir, &res, &err), &err);
    ASSERT_TRUE(fresh->t[find_tensor(fresh, "conv|conv#0.conv.weight.kt3", d)]->w[4 * 9 + 4] != 1.0f); /* was 1 */
    ASSERT_OK(nas_supernet_load(s, dir, NULL, &back, &err), &err);
    ASSERT_EQ_INT(nas_supernet_get_config(back)->kernel_transform, 1);
    ASSERT_EQ_INT(nas_supernet_tensor_count(back), nas_supernet_tensor_count(fresh));
    ASSERT_OK(nas_supernet_score_arch(fresh, small, data, &so, &a1, &err), &err);
    ASSERT_OK(nas_supernet_score_arch(back, small, data, &so, &a2, &err), &err);
    ASSERT_TRUE(a1.val_loss == a2.val_loss && a1.val_acc == a2.val_acc);
    nas_supernet_destroy(fresh);
    nas_supernet_destroy(back);
    rm_dir(dir);
    free(dir);
    nas_arch_destroy(small);
    nas_supernet_destroy(sn);
    nas_supernet_destroy(plain);
    nas_data_destroy(data);
    ss_space_destroy(s);
}

typedef struct losses {
    double loss[16];
    int n;
} losses;

static int record_loss(void *user, const nas_supernet_report *r) {
    losses *l = user;
    if (l->n < 16) l->loss[l->n++] = r->train_loss;
    return 0;
}

static void test_train_loss_decreases(void) {
    ss_space *s = compile("tiny", TINY);
    nas_data *data = make_data();
    ASSERT_TRUE(s && data);
    nas_supernet_config cfg;
    tiny_config(&cfg);
    cfg.epochs = 4;
    losses l = {{0}, 0};
    cfg.on_epoch = record_loss;
    cfg.user = &l;
    nas_supernet *sn = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_supernet_create(s, &cfg, &sn, &err), &err);
    nas_supernet_result res;
    ASSERT_OK(nas_supernet_train(sn, data, NULL, &res, &err), &err);
    ASSERT_EQ_INT(res.epochs_done, 4);
    ASSERT_EQ_INT(l.n, 4);
    ASSERT_EQ_INT(nas_supernet_steps(sn), 4 * (320 / 32));
    printf("     supernet losses by epoch: %.4f %.4f %.4f %.4f\n", l.loss[0], l.loss[1], l.loss[2], l.loss[3]);
    ASSERT_TRUE(l.loss[3] < l.loss[0]);
    ASSERT_TRUE(l.loss[3] < 0.9 * 1.3863); /* below chance level ln 4 */
    /* the sandwich rule trains too */
    nas_supernet_destroy(sn);
    cfg.sandwich = 1;
    cfg.epochs = 1;
    l.n = 0;
    ASSERT_OK(nas_supernet_create(s, &cfg, &sn, &err), &err);
    ASSERT_OK(nas_supernet_train(sn, data, NULL, &res, &err), &err);
    ASSERT_TRUE(isfinite(res.train_loss));
    nas_supernet_destroy(sn);
    nas_data_destroy(data);
    ss_space_destroy(s);
}

/* The tiny space, its data set and a supernet trained on them with
 * tiny_config (the caller destroys all three). */
static nas_supernet *trained_tiny(ss_space **s, nas_data **data) {
    *s = compile("tiny", TINY);
    *data = make_data();
    nas_supernet_config cfg;
    tiny_config(&cfg);
    nas_supernet *sn = NULL;
    nas_supernet_result res;
    nas_error err = {0};
    if (!*s || !*data || nas_supernet_create(*s, &cfg, &sn, &err) || nas_supernet_train(sn, *data, NULL, &res, &err)) {
        fprintf(stderr, "  trained_tiny: %s\n", err.msg);
        abort();
    }
    return sn;
}

static void test_score_deterministic_and_extract(void) {
    ss_space *s = NULL;
    nas_data *data = NULL;
    nas_supernet *sn = trained_tiny(&s, &data);
    nas_error err = {0};
    pcg32 r;
    pcg32_seed(&r, 5, 1);
    nas_supernet_score_options so;
    nas_supernet_score_options_default(&so);
    so.batch = 16;
    so.recal_batches = 4;
    char *dir = tmpdir();
    for (int k = 0; k < 3; k++) {
        nas_arch *a = NULL;
        ASSERT_OK(nas_supernet_sample(sn, &r, NULL, &a, &err), &err);
        nas_supernet_score s1, s2, s3;
        ASSERT_OK(nas_supernet_score_arch(sn, a, data, &so, &s1, &err), &err);
        ASSERT_OK(nas_supernet_score_arch(sn, a, data, &so, &s2, &err), &err);
        ASSERT_EQ_INT(s1.images, 80);
        ASSERT_TRUE(s1.val_loss == s2.val_loss && s1.val_acc == s2.val_acc);
        ASSERT_OK(nas_supernet_extract(sn, a, data, &so, dir, &s3, &err), &err);
        ASSERT_TRUE(s3.val_loss == s1.val_loss);
        char w[600], ap[600];
        snprintf(w, sizeof w, "%s/weights.nasw", dir);
        snprintf(ap, sizeof ap, "%s/arch.json", dir);
        nas_arch *back = NULL;
        ASSERT_OK(nas_arch_load(ap, &back, &err), &err);
        ASSERT_EQ_INT(nas_arch_hash(back), nas_arch_hash(a));
        double loss, acc;
        ASSERT_OK(nas_eval_run(back, data, w, NAS_SPLIT_VAL, so.batch, &loss, &acc, &err), &err);
        printf("     arch %d: supernet val loss %.6f acc %.4f, nas_eval_run %.6f %.4f\n", k, s1.val_loss, s1.val_acc,
               loss, acc);
        ASSERT_TRUE(loss == s1.val_loss);
        ASSERT_TRUE(acc == s1.val_acc);
        /* fine-tuning from the extracted weights starts from them */
        nas_train_config tc;
        nas_train_config_default(&tc);
        tc.epochs = 1;
        tc.batch = 32;
        tc.eval_test = 0;
        tc.init_weights = w;
        nas_train_result tr;
        ASSERT_OK(nas_train_run(back, data, &tc, NULL, &tr, &err), &err);
        nas_arch_destroy(back);
        nas_arch_destroy(a);
    }
    rm_dir(dir);
    free(dir);
    nas_supernet_destroy(sn);
    nas_data_destroy(data);
    ss_space_destroy(s);
}

/* Fine-tuning before scoring: deterministic, leaves every master tensor
 * bit for bit as it was, changes the candidate's weights (its validation
 * loss moves), and what it scores is what extraction writes (nas_eval_run
 * agrees). A fine-tuning lr of 0 is refused naming the field. */
static void test_finetune_score(void) {
    ss_space *s = NULL;
    nas_data *data = NULL;
    nas_supernet *sn = trained_tiny(&s, &data);
    nas_error err = {0};
    size_t total = nas_supernet_float_count(sn), off = 0;
    float *before = malloc(total * sizeof *before);
    ASSERT_TRUE(before != NULL);
    for (int i = 0; i < nas_supernet_tensor_count(sn); i++) {
        int d[4];
        const float *w;
        nas_supernet_tensor(sn, i, d, &w);
        size_t n = (size_t)d[0] * d[1] * d[2] * d[3];
        memcpy(before + off, w, n * sizeof *w);
        off += n;
    }
    pcg32 r;
    pcg32_seed(&r, 9, 1);
    nas_arch *a = NULL;
    ASSERT_OK(nas_supernet_sample(sn, &r, NULL, &a, &err), &err);
    nas_supernet_score_options so;
    tiny_score_options(&so);
    nas_supernet_score plain, t1, t2, t3;
    ASSERT_OK(nas_supernet_score_arch(sn, a, data, &so, &plain, &err), &err);
    so.finetune_steps = 30;
    so.finetune_lr = 0.05;
    ASSERT_OK(nas_supernet_score_arch(sn, a, data, &so, &t1, &err), &err);
    ASSERT_OK(nas_supernet_score_arch(sn, a, data, &so, &t2, &err), &err);
    printf("     val loss %.6f acc %.4f inherited, %.6f %.4f after 30 fine-tuning steps\n", plain.val_loss,
           plain.val_acc, t1.val_loss, t1.val_acc);
    ASSERT_TRUE(t1.val_loss == t2.val_loss && t1.val_acc == t2.val_acc);
    ASSERT_TRUE(t1.val_loss != plain.val_loss);
    off = 0;
    int same = 1;
    for (int i = 0; i < nas_supernet_tensor_count(sn); i++) {
        int d[4];
        const float *w;
        nas_supernet_tensor(sn, i, d, &w);
        size_t n = (size_t)d[0] * d[1] * d[2] * d[3];
        same &= memcmp(before + off, w, n * sizeof *w) == 0;
        off += n;
    }
    ASSERT_TRUE(same);
    /* the extracted weights are the fine-tuned ones */
    char *dir = tmpdir();
    ASSERT_OK(nas_supernet_extract(sn, a, data, &so, dir, &t3, &err), &err);
    ASSERT_TRUE(t3.val_loss == t1.val_loss);
    char w[600];
    snprintf(w, sizeof w, "%s/weights.nasw", dir);
    double loss, acc;
    ASSERT_OK(nas_eval_run(a, data, w, NAS_SPLIT_VAL, so.batch, &loss, &acc, &err), &err);
    ASSERT_TRUE(loss == t1.val_loss && acc == t1.val_acc);
    so.finetune_lr = 0;
    ASSERT_EQ_INT(nas_supernet_score_arch(sn, a, data, &so, &t3, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "finetune_lr");
    rm_dir(dir);
    free(dir);
    free(before);
    nas_arch_destroy(a);
    nas_supernet_destroy(sn);
    nas_data_destroy(data);
    ss_space_destroy(s);
}

static int stop_after_first(void *user, const nas_supernet_report *r) {
    (void)user;
    return r->epoch >= 1;
}

/* A stop request raised after epoch 1 (as a signal handler would): the hook
 * lets training go on, the request ends it at the next step. */
static volatile sig_atomic_t stop_flag;
static int request_stop_after_first(void *user, const nas_supernet_report *r) {
    (void)user;
    if (r->epoch >= 1) stop_flag = 1;
    return 0;
}

/* Fair sampling (FairNAS): among the n points of one draw, a decision with
 * k <= n options active in all of them takes each option floor(n / k) times
 * or more (exactly n / k when k divides n); with more options than paths,
 * n distinct values. */
static const char FAIR3[] =
    "space fair3\n"
    "input 1x12x12\n"
    "classes 4\n"
    "network {\n"
    "    conv(kernel = choice(1, 3, 5), out = choice(4, 8)) bn relu\n"
    "    stage(depth = choice(1, 2, 3), stride = 1) { conv(kernel = 3, out = choice(4, 6, 8)) bn relu }\n"
    "    global_avg_pool\n"
    "    fc(out = classes)\n"
    "}\n";

static void check_fair(const char *name, const char *src, int want_n) {
    ss_space *s = compile(name, src);
    ASSERT_TRUE(s != NULL);
    nas_supernet_config cfg;
    tiny_config(&cfg);
    cfg.discover = 20;
    cfg.fair = 1;
    nas_supernet *sn = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_supernet_create(s, &cfg, &sn, &err), &err);
    int n = nas_supernet_fair_paths(sn), nd = s->n_decisions;
    ASSERT_EQ_INT(n, want_n);
    double *pts = malloc((size_t)n * nd * sizeof *pts);
    ASSERT_TRUE(pts != NULL);
    pcg32 r;
    pcg32_seed(&r, 3, 1);
    int checked = 0;
    for (int draw = 0; draw < 20; draw++) {
        nas_arch *out[NAS_SUPERNET_FAIR_MAX];
        ASSERT_OK(nas_supernet_sample_fair(sn, &r, n, pts, out, &err), &err);
        for (int j = 0; j < n; j++) {
            ASSERT_TRUE(out[j] != NULL);
            nas_arch_destroy(out[j]);
        }
        for (int d = 0; d < nd; d++) {
            int active = 1, count[NAS_SUPERNET_FAIR_MAX] = {0}, k = s->decisions[d].dom.n;
            for (int j = 0; j < n; j++) active &= ss_decision_is_active(s, pts + (size_t)j * nd, d);
            if (!active || s->decisions[d].dom.kind != SS_DOMAIN_CHOICE) continue;
            for (int j = 0; j < n; j++) count[(int)pts[(size_t)j * nd + d]]++;
            for (int o = 0; o < k; o++)
                if (count[o] < n / k) TEST_FAIL_("%s draw %d: option %d of %s taken %d times of %d", name, draw, o,
                                                  s->decisions[d].name, count[o], n);
            checked++;
        }
    }
    printf("     %s: %d paths per step, %d (draw, decision) pairs checked\n", name, n, checked);
    ASSERT_TRUE(checked >= 20);
    free(pts);
    nas_supernet_destroy(sn);
    ss_space_destroy(s);
}

static void test_fair_sampling(void) {
    check_fair("tiny", TINY, 2);
    check_fair("fair3", FAIR3, 3);
    nas_supernet_config cfg;
    tiny_config(&cfg);
    cfg.fair = cfg.sandwich = 1;
    ss_space *s = compile("tiny", TINY);
    nas_supernet *sn = NULL;
    nas_error err = {0};
    ASSERT_EQ_INT(nas_supernet_create(s, &cfg, &sn, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "sandwich rule and fair sampling exclude each other");
    ss_space_destroy(s);
}

static void resume_equals_uninterrupted(int fair, int distill, int by_request) {
    ss_space *s = compile("tiny", TINY);
    nas_data *data = make_data();
    ASSERT_TRUE(s && data);
    nas_supernet_config cfg;
    tiny_config(&cfg);
    cfg.epochs = 2;
    cfg.fair = fair;
    cfg.sandwich = cfg.distill = distill;
    char *da = tmpdir(), *db = tmpdir();
    nas_error err = {0};
    nas_supernet *a = NULL, *b = NULL;
    nas_supernet_result res;
    ASSERT_OK(nas_supernet_create(s, &cfg, &a, &err), &err);
    ASSERT_OK(nas_supernet_train(a, data, da, &res, &err), &err);
    ASSERT_TRUE(nas_supernet_exists(da));

    nas_supernet_config stop = cfg;
    stop.on_epoch = stop_after_first;
    if (by_request) {
        stop_flag = 0;
        stop.on_epoch = request_stop_after_first;
        stop.stop = &stop_flag;
    }
    ASSERT_OK(nas_supernet_create(s, &stop, &b, &err), &err);
    if (by_request) { /* epoch 2 is dropped before its first step */
        ASSERT_EQ_INT(nas_supernet_train(b, data, db, &res, &err), NAS_ERR_INTERRUPTED);
        ASSERT_CONTAINS(err.msg, "stopped on request in epoch 2; the checkpoint of epoch 1 stands");
        ASSERT_EQ_INT(nas_supernet_steps(b), nas_supernet_steps(a) / 2);
    } else {
        ASSERT_OK(nas_supernet_train(b, data, db, &res, &err), &err);
        ASSERT_TRUE(res.stopped_early);
    }
    ASSERT_EQ_INT(res.epochs_done, 1);
    nas_supernet_destroy(b);
    b = NULL;
    ASSERT_OK(nas_supernet_load(s, db, NULL, &b, &err), &err);
    ASSERT_EQ_INT(nas_supernet_epoch(b), 1);
    ASSERT_EQ_INT(nas_supernet_get_config(b)->fair, fair);
    ASSERT_EQ_INT(nas_supernet_get_config(b)->distill, distill);
    ASSERT_OK(nas_supernet_train(b, data, db, &res, &err), &err);
    ASSERT_EQ_INT(res.epochs_done, 2);
    ASSERT_EQ_INT(nas_supernet_steps(a), nas_supernet_steps(b));
    ASSERT_EQ_INT(nas_supernet_tensor_count(a), nas_supernet_tensor_count(b));
    for (int i = 0; i < nas_supernet_tensor_count(a); i++) {
        int d1[4], d2[4];
        const float *w1, *w2;
        const char *k1 = nas_supernet_tensor(a, i, d1, &w1), *k2 = nas_supernet_tensor(b, i, d2, &w2);
        ASSERT_STR_EQ(k1, k2);
        size_t n = (size_t)d1[0] * d1[1] * d1[2] * d1[3];
        ASSERT_TRUE(memcmp(d1, d2, sizeof d1) == 0);
        if (memcmp(w1, w2, n * sizeof *w1) != 0) TEST_FAIL_("tensor %s differs after resume", k1);
    }
    /* a loaded supernet scores like the one in memory */
    nas_arch *arch = NULL;
    ASSERT_OK(nas_supernet_extreme(a, 1, &arch, &err), &err);
    nas_supernet_score_options so;
    tiny_score_options(&so);
    nas_supernet_score sa, sb;
    ASSERT_OK(nas_supernet_score_arch(a, arch, data, &so, &sa, &err), &err);
    nas_supernet_destroy(b);
    ASSERT_OK(nas_supernet_load(s, da, NULL, &b, &err), &err);
    ASSERT_OK(nas_supernet_score_arch(b, arch, data, &so, &sb, &err), &err);
    ASSERT_TRUE(sa.val_loss == sb.val_loss);
    nas_arch_destroy(arch);
    nas_supernet_destroy(a);
    nas_supernet_destroy(b);
    rm_dir(da);
    rm_dir(db);
    free(da);
    free(db);
    nas_data_destroy(data);
    ss_space_destroy(s);
}

/* A run stopped after epoch 1 and resumed from its checkpoint ends with the
 * uninterrupted run's tensors, bit for bit: with single paths and with fair
 * sampling (whose draws come from the checkpointed generator too), with
 * the sandwich rule and distillation (the setting is checkpointed), and
 * stopped by a request (the epoch under way dropped). */
static void test_resume_equals_uninterrupted(void) {
    resume_equals_uninterrupted(0, 0, 0);
    resume_equals_uninterrupted(1, 0, 0);
    resume_equals_uninterrupted(0, 1, 0);
    resume_equals_uninterrupted(0, 0, 1);
}

static void test_new_tensors_during_training(void) {
    /* without random discovery only the largest and smallest points are
       known: training meets other ops (mbconv vs resblock) and adds their
       tensors on the fly; a resumed run then knows them from its checkpoint */
    ss_space *s = compile("tiny", TINY);
    nas_data *data = make_data();
    ASSERT_TRUE(s && data);
    nas_supernet_config cfg;
    tiny_config(&cfg);
    cfg.discover = 0;
    cfg.epochs = 2;
    char *dir = tmpdir();
    nas_error err = {0};
    nas_supernet *sn = NULL, *back = NULL;
    ASSERT_OK(nas_supernet_create(s, &cfg, &sn, &err), &err);
    int n0 = nas_supernet_tensor_count(sn);
    nas_supernet_result res;
    ASSERT_OK(nas_supernet_train(sn, data, dir, &res, &err), &err);
    int n1 = nas_supernet_tensor_count(sn);
    printf("     tensors: %d after creation, %d after training\n", n0, n1);
    ASSERT_TRUE(n1 > n0);
    ASSERT_TRUE(isfinite(res.train_loss));
    ASSERT_OK(nas_supernet_load(s, dir, NULL, &back, &err), &err);
    ASSERT_EQ_INT(nas_supernet_tensor_count(back), n1);
    nas_supernet_destroy(back);
    nas_supernet_destroy(sn);
    rm_dir(dir);
    free(dir);
    nas_data_destroy(data);
    ss_space_destroy(s);
}

static void write_bytes(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data, 1, len, f);
    fclose(f);
}

/* Writes the checkpoint bytes to path with the first character after `key`
 * in the header replaced by c and the CRC made valid again, so that only
 * the reader's checks of that setting can refuse it. 0 if key is absent. */
static int corrupt_header(const char *path, const char *bytes, size_t len, const char *key, char c) {
    char *copy = malloc(len);
    memcpy(copy, bytes, len);
    size_t kl = strlen(key);
    char *at = NULL;
    for (size_t i = 0; !at && i + kl < len; i++)
        if (memcmp(copy + i, key, kl) == 0) at = copy + i;
    if (at) {
        at[kl] = c;
        uint32_t crc = nas_checkpoint_crc32(copy, len - 4);
        for (int k = 0; k < 4; k++) copy[len - 4 + k] = (char)(crc >> (8 * k) & 0xff);
        write_bytes(path, copy, len);
    }
    free(copy);
    return at != NULL;
}

static void test_error_paths(void) {
    ss_space *s = compile("tiny", TINY), *o = compile("other", OTHER);
    nas_data *data = make_data();
    ASSERT_TRUE(s && o && data);
    nas_supernet_config cfg;
    tiny_config(&cfg);
    cfg.epochs = 1;
    char *dir = tmpdir(), path[600];
    nas_error err = {0};
    nas_supernet *sn = NULL, *bad = NULL;

    /* missing checkpoint */
    ASSERT_EQ_INT(nas_supernet_load(s, dir, NULL, &bad, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, "supernet.ckpt");
    ASSERT_TRUE(bad == NULL);

    ASSERT_OK(nas_supernet_create(s, &cfg, &sn, &err), &err);
    nas_supernet_result res;
    ASSERT_OK(nas_supernet_train(sn, data, dir, &res, &err), &err);

    /* another space */
    ASSERT_EQ_INT(nas_supernet_load(o, dir, NULL, &bad, &err), NAS_ERR_MISMATCH);
    ASSERT_CONTAINS(err.msg, "tiny");

    /* an arch of another space */
    pcg32 r;
    pcg32_seed(&r, 1, 1);
    double *pt = ss_point_alloc(o);
    ss_space_sample(o, &r, pt);
    nas_arch *foreign = NULL;
    ASSERT_OK(ss_space_realize(o, pt, &foreign, &err), &err);
    free(pt);
    nas_supernet_score sc;
    ASSERT_EQ_INT(nas_supernet_score_arch(sn, foreign, data, NULL, &sc, &err), NAS_ERR_MISMATCH);
    /* ... even without its space hash: its stem is wider than the supernet's */
    foreign->space_hash[0] = 0;
    ASSERT_EQ_INT(nas_supernet_score_arch(sn, foreign, data, NULL, &sc, &err), NAS_ERR_MISMATCH);
    nas_arch_destroy(foreign);

    /* corrupt and truncated checkpoints */
    snprintf(path, sizeof path, "%s/supernet.ckpt", dir);
    char *bytes = NULL;
    size_t len;
    ASSERT_OK(nas_file_read(path, &bytes, &len, &err), &err);
    bytes[len / 2] ^= 0x10;
    write_bytes(path, bytes, len);
    ASSERT_EQ_INT(nas_supernet_load(s, dir, NULL, &bad, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "CRC");
    bytes[len / 2] ^= 0x10;
    write_bytes(path, bytes, len - 100);
    ASSERT_EQ_INT(nas_supernet_load(s, dir, NULL, &bad, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "truncated");
    write_bytes(path, "hello", 5);
    ASSERT_EQ_INT(nas_supernet_load(s, dir, NULL, &bad, &err), NAS_ERR_FORMAT);
    write_bytes(path, bytes, len);
    ASSERT_OK(nas_supernet_load(s, dir, NULL, &bad, &err), &err);
    nas_supernet_destroy(bad);
    /* a header setting out of range or missing, with a valid CRC: named */
    ASSERT_TRUE(corrupt_header(path, bytes, len, "\"lr_kind\":", '9'));
    ASSERT_EQ_INT(nas_supernet_load(s, dir, NULL, &bad, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "'lr_kind'");
    ASSERT_TRUE(corrupt_header(path, bytes, len, "\"epoch\":", '9')); /* 9 of 1 epochs done */
    ASSERT_EQ_INT(nas_supernet_load(s, dir, NULL, &bad, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "'epoch'");
    ASSERT_TRUE(corrupt_header(path, bytes, len, "\"batc", 'x')); /* "batcx": no batch */
    ASSERT_EQ_INT(nas_supernet_load(s, dir, NULL, &bad, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "'batch'");
    write_bytes(path, bytes, len);
    free(bytes);

    /* bad settings */
    nas_supernet_config c2 = cfg;
    c2.batch = 0;
    ASSERT_EQ_INT(nas_supernet_create(s, &c2, &bad, &err), NAS_ERR_INVALID);
    /* a batch larger than the training split */
    nas_supernet_destroy(sn);
    c2 = cfg;
    c2.batch = 1000;
    ASSERT_OK(nas_supernet_create(s, &c2, &sn, &err), &err);
    ASSERT_EQ_INT(nas_supernet_train(sn, data, NULL, &res, &err), NAS_ERR_INVALID);
    nas_supernet_destroy(sn);
    rm_dir(dir);
    free(dir);
    nas_data_destroy(data);
    ss_space_destroy(s);
    ss_space_destroy(o);
}



/* The reader of --standalone on a small ranking: means of the seeds, and
 * each refusal naming what is wrong. */
static void test_truth_parse(void) {
    static const uint64_t hash[2] = {0x2, 0x1};
    char *text = NULL;
    size_t len;
    nas_error err = {0};
    nas_supernet_config c;
    nas_supernet_config_default(&c);
    ASSERT_OK(nas_file_read(NAS_SOURCE_DIR "/tests/fuzz/corpus/rank/two_seeds.json", &text, &len, &err), &err);
    nas_supernet_truth t;
    ASSERT_OK(nas_supernet_truth_parse(text, len, "r.json", &c, hash, 2, &t, &err), &err);
    ASSERT_EQ_INT(t.seeds, 2);
    ASSERT_EQ_INT(t.epochs, 3);
    ASSERT_NEAR(t.acc[0], 0.885, 1e-12); /* arch 2 first, as asked */
    ASSERT_NEAR(t.acc[1], 0.875, 1e-12);
    ASSERT_NEAR(t.seed_acc[1], 0.89, 1e-12);
    ASSERT_EQ_INT(t.train_batch, 0); /* a file from before the field */
    /* room for a third seed: the known values keep their places */
    ASSERT_OK(nas_supernet_truth_reserve(&t, 2, 3, &err), &err);
    ASSERT_EQ_INT(t.seeds, 3);
    ASSERT_NEAR(t.seed_acc[0 * 3 + 1], 0.89, 1e-12);
    ASSERT_NEAR(t.seed_acc[1 * 3 + 0], 0.87, 1e-12);
    ASSERT_EQ_INT(t.have[1], 2);
    nas_supernet_truth_deinit(&t);
    /* the same validation images whatever share the stand-alone runs trained on */
    c.train_fraction = 0.4;
    ASSERT_OK(nas_supernet_truth_parse(text, len, "r.json", &c, hash, 2, &t, &err), &err);
    ASSERT_NEAR(t.train_fraction, 1.0, 0);
    nas_supernet_truth_deinit(&t);
    static const uint64_t other[1] = {0x3};
    ASSERT_EQ_INT(nas_supernet_truth_parse(text, len, "r.json", &c, other, 1, &t, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "r.json has no stand-alone accuracy for arch 0000000000000003");
    ASSERT_TRUE(t.acc == NULL && t.seed_acc == NULL);
    c.val_fraction = 0.2;
    ASSERT_EQ_INT(nas_supernet_truth_parse(text, len, "r.json", &c, hash, 2, &t, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "r.json: data: its stand-alone accuracies are on the validation split of "
                             "'fashion-mnist' (val fraction 0.1, seed 0, train fraction 1), the supernet's is "
                             "'fashion-mnist' (0.2, 0)");
    c.val_fraction = 0.1;
    char *at = strstr(text, "[0.88, 0.89]");
    ASSERT_TRUE(at != NULL);
    memcpy(at, "[1.88, 0.89]", 12);
    ASSERT_EQ_INT(nas_supernet_truth_parse(text, len, "r.json", &c, hash, 2, &t, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "r.json: arch 0000000000000002: standalone_seed_accuracies[0]: expected 0..1");
    memcpy(at, "[0.88      ]", 12); /* a ranking still training: one seed of two */
    ASSERT_OK(nas_supernet_truth_parse(text, len, "r.json", &c, hash, 2, &t, &err), &err);
    ASSERT_EQ_INT(t.have[0], 1);
    ASSERT_EQ_INT(t.have[1], 2);
    ASSERT_NEAR(t.acc[0], 0.88, 1e-12);
    nas_supernet_truth_deinit(&t);
    memcpy(at, "[0,0.1,0.2 ]", 12);
    ASSERT_EQ_INT(nas_supernet_truth_parse(text, len, "r.json", &c, hash, 2, &t, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "standalone_seed_accuracies: expected up to 2 numbers");
    ASSERT_EQ_INT(nas_supernet_truth_parse("{\"archs\": 2}", 12, "r.json", &c, hash, 2, &t, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "r.json: not the output of `nas supernet rank --json`");
    memcpy(at, "[0.88, 0.89]", 12);
    at = strstr(text, "\"score_seconds\": 1.5,");
    ASSERT_TRUE(at != NULL);
    memcpy(at, "\"train_batch\": 0,    ", 21); /* a batch of 0 over a field the reader skips */
    ASSERT_EQ_INT(nas_supernet_truth_parse(text, len, "r.json", &c, hash, 2, &t, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "optionally train_batch 1..65536");
    free(text);
}

/* An IDX directory of n_train + n_test 12x12 images of make_set's textures
 * (pixels 0..255), for the command-line tests. */
static void write_idx_textures(const char *dir, int n_train, int n_test) {
    const char *names[2] = {"train", "t10k"};
    int counts[2] = {n_train, n_test};
    for (int s = 0; s < 2; s++) {
        nas_dataset ds;
        make_set(&ds, (size_t)counts[s], (uint64_t)s + 10);
        size_t n = (size_t)counts[s], li = 16 + n * 144, ll = 8 + n;
        unsigned char *im = malloc(li), *lb = malloc(ll);
        if (!im || !lb) abort();
        static const unsigned char img_head[8] = {0, 0, 8, 3}, lab_head[4] = {0, 0, 8, 1};
        memcpy(im, img_head, 4), memcpy(lb, lab_head, 4);
        for (int b = 0; b < 4; b++) {
            im[4 + b] = lb[4 + b] = (unsigned char)(n >> (8 * (3 - b)));
            im[8 + b] = im[12 + b] = (unsigned char)(12 >> (8 * (3 - b)));
        }
        for (size_t i = 0; i < n * 144; i++) im[16 + i] = (unsigned char)(ds.x[i] * 255.0f);
        for (size_t i = 0; i < n; i++) lb[8 + i] = ds.y[i];
        char p[700];
        snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, names[s]);
        write_bytes(p, (const char *)im, li);
        snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, names[s]);
        write_bytes(p, (const char *)lb, ll);
        free(im), free(lb);
        nas_dataset_deinit(&ds);
    }
}

static int run_cmd(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* DIR/name parsed (the test fails when it is not JSON). */
static cJSON *read_json(const char *dir, const char *name) {
    char path[700], *text = NULL;
    size_t len;
    nas_error err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ASSERT_OK(nas_file_read(path, &text, &len, &err), &err);
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    ASSERT_TRUE(j != NULL);
    return j;
}

/* Asserts that DIR/NAME holds want. */
static void file_contains(const char *dir, const char *name, const char *want) {
    char path[700], *text = NULL;
    size_t len;
    nas_error err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ASSERT_OK(nas_file_read(path, &text, &len, &err), &err);
    ASSERT_CONTAINS(text, want);
    free(text);
}

/* Runs `nas -q ARGS` with stderr to DIR/err.txt: asserts the exit status
 * and that stderr holds want. */
static void cli_expect(const char *dir, const char *args, int status, const char *want) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' -q %s 2>'%s/err.txt'", NAS_BINARY, args, dir);
    int got = run_cmd(cmd);
    if (got != status) fprintf(stderr, "  %s\n", cmd);
    ASSERT_EQ_INT(got, status);
    file_contains(dir, "err.txt", want);
}

/* The number flags of `nas supernet train|score|rank` refuse NaN,
 * infinities, trailing characters and values outside the bounds of the
 * same arch hyperparameters with a usage error naming the flag, before the
 * space is read (it does not exist here: a value that got
 * through would fail on it with status 1). */
static void test_cli_numbers(void) {
    char *dir = tmpdir(), args[1024], want[128];
    static const char *const flags[] = {"--fraction", "--val-fraction", "--lr", "--weight-decay", "--warmup"};
    static const char *const bad[] = {"nan", "-nan", "inf", "-inf", "1e999", "0.5x", ""};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
            snprintf(args, sizeof args, "supernet train %s/none.nas --out %s/sn %s '%s'", dir, dir, flags[i], bad[j]);
            snprintf(want, sizeof want, "nas supernet train: %s", flags[i]);
            cli_expect(dir, args, 2, want);
        }
    for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
        snprintf(args, sizeof args, "supernet score %s/none.nas --supernet %s/sn --sample 1 --finetune-lr '%s'", dir,
                 dir, bad[j]);
        cli_expect(dir, args, 2, "nas supernet score: --finetune-lr");
        snprintf(args, sizeof args, "supernet rank %s/none.nas --supernet %s/sn --finetune-lr '%s'", dir, dir,
                 bad[j]);
        cli_expect(dir, args, 2, "nas supernet rank: --finetune-lr");
    }
    /* the bounds of nas train's flags and of an arch's hyperparameters */
    static const struct {
        const char *flag, *bad, *want;
    } RANGES[] = {
        {"--lr", "1e6", "--lr must be in [1e-12, 100]"},
        {"--lr", "0", "--lr must be in [1e-12, 100]"},
        {"--weight-decay", "-1", "--weight-decay must be in [0, 1]"},
        {"--weight-decay", "2", "--weight-decay must be in [0, 1]"},
        {"--warmup", "-1", "--warmup must be in [0, 1000]"},
        {"--warmup", "1001", "--warmup must be in [0, 1000]"},
    };
    for (size_t i = 0; i < sizeof RANGES / sizeof RANGES[0]; i++) {
        snprintf(args, sizeof args, "supernet train %s/none.nas --out %s/sn %s %s", dir, dir, RANGES[i].flag,
                 RANGES[i].bad);
        cli_expect(dir, args, 2, RANGES[i].want);
    }
    snprintf(args, sizeof args, "supernet score %s/none.nas --supernet %s/sn --sample 1 --finetune-lr 1e6", dir, dir);
    cli_expect(dir, args, 2, "--finetune-lr must be in [1e-12, 100]");
    /* good values get through to the (missing) space */
    snprintf(args, sizeof args,
             "supernet train %s/none.nas --out %s/sn --fraction 0.5 --val-fraction 0.2 --lr 0.1 --weight-decay 0 "
             "--warmup 2",
             dir, dir);
    cli_expect(dir, args, 1, "none.nas");
    rm_dir(dir);
    free(dir);
}

/* Where `nas supernet train|score|rank` write is checked before any work:
 * the data (train) and the supernet (score, rank) do not exist here, so a
 * path checked only when written would fail on them first. What is stored
 * at the path stays, and errors name the path given. */
static void test_cli_outputs_checked_first(void) {
    char *dir = tmpdir(), args[2048], want[800], path[700];
    snprintf(path, sizeof path, "%s/tiny.nas", dir);
    write_bytes(path, TINY, strlen(TINY));
    snprintf(path, sizeof path, "%s/afile", dir);
    write_bytes(path, "stored", 6);
    snprintf(args, sizeof args, "supernet train %s/tiny.nas --data idx:/nonexistent-nas-data --out %s", dir, path);
    snprintf(want, sizeof want, "nas: error: %s: not a directory", path);
    cli_expect(dir, args, 1, want);
    snprintf(args, sizeof args, "supernet score %s/tiny.nas --supernet %s/none --sample 1 --extract %s", dir, dir,
             path);
    cli_expect(dir, args, 1, want);
    file_contains(dir, "afile", "stored");
    snprintf(args, sizeof args, "supernet rank %s/tiny.nas --supernet %s/none --standalone %s/afile/r.json", dir, dir,
             dir);
    snprintf(want, sizeof want, "nas: error: %s/afile/r.json: cannot create the file: Not a directory", dir);
    cli_expect(dir, args, 1, want);
    snprintf(args, sizeof args, "supernet rank %s/tiny.nas --supernet %s/none --standalone %s/no-dir/r.json", dir,
             dir, dir);
    snprintf(want, sizeof want, "nas: error: %s/no-dir/r.json: cannot create the file: No such file or directory",
             dir);
    cli_expect(dir, args, 1, want);
    if (nas_path_exists("/proc/self")) {
        snprintf(args, sizeof args, "supernet train %s/tiny.nas --data idx:/nonexistent-nas-data --out /proc/nas-x",
                 dir);
        cli_expect(dir, args, 1, "nas: error: /proc/nas-x: cannot create directory");
    }
    /* good paths get through to the missing data and supernet */
    snprintf(args, sizeof args, "supernet train %s/tiny.nas --data idx:/nonexistent-nas-data --out %s/sn", dir, dir);
    cli_expect(dir, args, 1, "nonexistent-nas-data");
    snprintf(args, sizeof args, "supernet rank %s/tiny.nas --supernet %s/none --standalone %s/r.json", dir, dir, dir);
    cli_expect(dir, args, 1, "none");
    snprintf(path, sizeof path, "%s/r.json", dir);
    ASSERT_TRUE(!nas_path_exists(path)); /* checked, not created */
    rm_dir(dir);
    free(dir);
}

/* Runs the rank command cmd[0..n) + extra + --standalone DIR/r1.json and
 * checks its exit status and that its output names the problem. */
static void rank_refused(char *cmd, size_t cap, int n, const char *dir, const char *extra, int status,
                         const char *want) {
    snprintf(cmd + n, cap - (size_t)n, "%s --standalone %s/r1.json > %s/out.txt 2>&1", extra, dir, dir);
    ASSERT_EQ_INT(run_cmd(cmd), status);
    file_contains(dir, "out.txt", want);
}

/* `nas supernet rank` with several seeds per arch, then again on the stored
 * stand-alone accuracies (--standalone): the same ground truth, no training;
 * then with one seed more (only that seed trains); a file of other archs or
 * of another validation split is refused, and so are new seeds on another
 * training share or batch. */
static void test_cli_rank(void) {
    char *dir = tmpdir(), cmd[4096], path[700];
    nas_error err = {0};
    snprintf(path, sizeof path, "%s/tiny.nas", dir);
    write_bytes(path, TINY, strlen(TINY));
    write_idx_textures(dir, 200, 40);
    snprintf(cmd, sizeof cmd,
             "%s supernet train %s/tiny.nas --data idx:%s --val-fraction 0.25 --epochs 1 --batch 32 "
             "--threads 1 --out %s/sn > /dev/null 2>&1",
             NAS_BINARY, dir, dir, dir);
    ASSERT_EQ_INT(run_cmd(cmd), 0);
    /* the sandwich rule and fair sampling together are refused, naming both */
    snprintf(cmd, sizeof cmd,
             "%s supernet train %s/tiny.nas --data idx:%s --val-fraction 0.25 --epochs 1 --batch 32 --fair "
             "--sandwich --threads 1 --out %s/sn_both > %s/out.txt 2>&1",
             NAS_BINARY, dir, dir, dir, dir);
    ASSERT_EQ_INT(run_cmd(cmd), 1);
    file_contains(dir, "out.txt", "the sandwich rule and fair sampling exclude each other");
    /* an arch of another space: the error names its file */
    {
        ss_space *o = compile("other", OTHER);
        ASSERT_TRUE(o != NULL);
        double *pt = ss_point_alloc(o);
        pcg32 r;
        pcg32_seed(&r, 2, 2);
        ss_space_sample(o, &r, pt);
        nas_arch *foreign = NULL;
        ASSERT_OK(ss_space_realize(o, pt, &foreign, &err), &err);
        snprintf(path, sizeof path, "%s/foreign.json", dir);
        ASSERT_OK(nas_arch_save(foreign, path, &err), &err);
        nas_arch_destroy(foreign);
        free(pt);
        ss_space_destroy(o);
        snprintf(cmd, sizeof cmd,
                 "%s supernet score %s/tiny.nas --supernet %s/sn --arch %s --threads 1 --batch 16 "
                 "--recal-batches 2 > %s/out.txt 2>&1",
                 NAS_BINARY, dir, dir, path, dir);
        ASSERT_EQ_INT(run_cmd(cmd), 1);
        char want[800];
        snprintf(want, sizeof want, "%s: ", path);
        file_contains(dir, "out.txt", want);
    }
    const char *rank = "%s supernet rank %s/tiny.nas --supernet %s/sn --archs 3 --threads 1 --batch 16 "
                       "--recal-batches 2";
    int n = snprintf(cmd, sizeof cmd, rank, NAS_BINARY, dir, dir);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " --train-epochs 1 --train-seeds 2 --json > %s/r1.json 2>/dev/null",
             dir);
    ASSERT_EQ_INT(run_cmd(cmd), 0);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " --standalone %s/r1.json --json > %s/r2.json 2>/dev/null", dir,
             dir);
    ASSERT_EQ_INT(run_cmd(cmd), 0);
    char *t1 = NULL, *t2 = NULL;
    size_t l1, l2;
    snprintf(path, sizeof path, "%s/r1.json", dir);
    ASSERT_OK(nas_file_read(path, &t1, &l1, &err), &err);
    snprintf(path, sizeof path, "%s/r2.json", dir);
    ASSERT_OK(nas_file_read(path, &t2, &l2, &err), &err);
    cJSON *j1 = cJSON_Parse(t1), *j2 = cJSON_Parse(t2);
    ASSERT_TRUE(j1 && j2);
    ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(j1, "seed_kendall_tau")));
    /* the interval: two numbers around the tau, or null when 3 archs leave too
       few resamples with a defined tau */
    const cJSON *iv = cJSON_GetObjectItem(j1, "kendall_tau_interval");
    ASSERT_TRUE(cJSON_IsNull(iv) || (cJSON_GetArraySize(iv) == 2 &&
                                     cJSON_GetArrayItem(iv, 0)->valuedouble <= cJSON_GetArrayItem(iv, 1)->valuedouble));
    ASSERT_EQ_INT((int)cJSON_GetObjectItem(j2, "train_seeds")->valuedouble, 2);
    ASSERT_CONTAINS(cJSON_GetObjectItem(j2, "standalone_from")->valuestring, "r1.json");
    cJSON *c1 = cJSON_GetObjectItem(j1, "candidates"), *c2 = cJSON_GetObjectItem(j2, "candidates");
    ASSERT_EQ_INT(cJSON_GetArraySize(c1), 3);
    ASSERT_EQ_INT(cJSON_GetArraySize(c2), 3);
    for (int i = 0; i < 3; i++) {
        cJSON *a = cJSON_GetArrayItem(c1, i), *b = cJSON_GetArrayItem(c2, i);
        ASSERT_STR_EQ(cJSON_GetObjectItem(a, "arch_hash")->valuestring,
                      cJSON_GetObjectItem(b, "arch_hash")->valuestring);
        cJSON *s = cJSON_GetObjectItem(a, "standalone_seed_accuracies");
        ASSERT_EQ_INT(cJSON_GetArraySize(s), 2);
        double mean = 0.5 * (cJSON_GetArrayItem(s, 0)->valuedouble + cJSON_GetArrayItem(s, 1)->valuedouble);
        ASSERT_NEAR(cJSON_GetObjectItem(a, "standalone_val_accuracy")->valuedouble, mean, 1e-6);
        ASSERT_NEAR(cJSON_GetObjectItem(b, "standalone_val_accuracy")->valuedouble, mean, 1e-6);
        /* the supernet scores the same archs the same way */
        ASSERT_NEAR(cJSON_GetObjectItem(a, "supernet_val_accuracy")->valuedouble,
                    cJSON_GetObjectItem(b, "supernet_val_accuracy")->valuedouble, 1e-9);
    }
    ASSERT_EQ_INT((int)cJSON_GetObjectItem(j1, "train_batch")->valuedouble, 128);
    /* two runs at once, one thread each: the numbers of one run at a time on
       one thread */
    {
        int m = snprintf(cmd, sizeof cmd, rank, NAS_BINARY, dir, dir);
        ASSERT_TRUE(strstr(cmd, "--threads 1") != NULL);
        memcpy(strstr(cmd, "--threads 1"), "--threads 2", 11);
        snprintf(cmd + m, sizeof cmd - (size_t)m,
                 " --train-epochs 1 --train-seeds 2 --train-jobs 2 --standalone %s/rj.json --json > %s/rj_out.json "
                 "2>%s/rj.log",
                 dir, dir, dir);
        ASSERT_EQ_INT(run_cmd(cmd), 0);
        cJSON *fj = read_json(dir, "rj.json"), *cj = cJSON_GetObjectItem(fj, "candidates");
        ASSERT_EQ_INT(cJSON_GetArraySize(cj), 3);
        for (int i = 0; i < 3; i++) {
            cJSON *a = cJSON_GetObjectItem(cJSON_GetArrayItem(c1, i), "standalone_seed_accuracies");
            cJSON *b = cJSON_GetObjectItem(cJSON_GetArrayItem(cj, i), "standalone_seed_accuracies");
            ASSERT_EQ_INT(cJSON_GetArraySize(b), 2);
            for (int j = 0; j < 2; j++)
                ASSERT_NEAR(cJSON_GetArrayItem(b, j)->valuedouble, cJSON_GetArrayItem(a, j)->valuedouble, 0);
        }
        /* resumed with one run left: still one thread, the same number */
        cJSON *last = cJSON_GetObjectItem(cJSON_GetArrayItem(cj, 2), "standalone_seed_accuracies");
        cJSON_DeleteItemFromArray(last, 1);
        char *part = cJSON_Print(fj);
        snprintf(path, sizeof path, "%s/rj.json", dir);
        write_bytes(path, part, strlen(part));
        free(part);
        snprintf(cmd + m, sizeof cmd - (size_t)m, " --train-jobs 2 --standalone %s/rj.json > /dev/null 2>&1", dir);
        ASSERT_EQ_INT(run_cmd(cmd), 0);
        cJSON *f1 = read_json(dir, "rj.json");
        cJSON *again = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(f1, "candidates"), 2),
                                           "standalone_seed_accuracies");
        ASSERT_EQ_INT(cJSON_GetArraySize(again), 2);
        ASSERT_NEAR(cJSON_GetArrayItem(again, 1)->valuedouble,
                    cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(c1, 2), "standalone_seed_accuracies"), 1)
                        ->valuedouble,
                    0);
        cJSON_Delete(f1);
        cJSON_Delete(fj);
        /* the log names every run once */
        char *log = NULL;
        size_t ll;
        snprintf(path, sizeof path, "%s/rj.log", dir);
        ASSERT_OK(nas_file_read(path, &log, &ll, &err), &err);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++) {
                char want[64];
                snprintf(want, sizeof want, "trained %d/3 (seed %d of 2)", i + 1, j + 1);
                const char *hit = strstr(log, want);
                if (!hit || strstr(hit + 1, want)) fprintf(stderr, "not once: %s\n%s", want, log);
                ASSERT_TRUE(hit != NULL && strstr(hit + 1, want) == NULL);
            }
        free(log);
        /* a run that fails (batch 200 > 150 training images): the error names
           the run, the ranking fails, FILE keeps what it held */
        cJSON *bad = cJSON_Duplicate(j1, 1);
        cJSON_ReplaceItemInObject(bad, "train_batch", cJSON_CreateNumber(200));
        cJSON *bc = cJSON_GetObjectItem(bad, "candidates");
        for (int i = 0; i < 3; i++)
            cJSON_DeleteItemFromArray(cJSON_GetObjectItem(cJSON_GetArrayItem(bc, i), "standalone_seed_accuracies"), 1);
        char *bt = cJSON_Print(bad);
        cJSON_Delete(bad);
        snprintf(path, sizeof path, "%s/rbad.json", dir);
        write_bytes(path, bt, strlen(bt));
        snprintf(cmd + m, sizeof cmd - (size_t)m, " --train-jobs 2 --standalone %s/rbad.json > /dev/null 2>%s/rj.log",
                 dir, dir);
        ASSERT_EQ_INT(run_cmd(cmd), 1);
        file_contains(dir, "rj.log", "stand-alone run of arch ");
        file_contains(dir, "rj.log", "fewer than one batch of 200");
        char *after = NULL;
        size_t al;
        ASSERT_OK(nas_file_read(path, &after, &al, &err), &err);
        ASSERT_TRUE(al == strlen(bt) && memcmp(after, bt, al) == 0);
        free(after);
        free(bt);
        snprintf(cmd + m, sizeof cmd - (size_t)m, " --train-jobs 0 > /dev/null 2>%s/rj.log", dir);
        ASSERT_EQ_INT(run_cmd(cmd), 2);
        file_contains(dir, "rj.log", "--train-jobs must be in 1..64");
    }
    /* the tau against each seed alone, recomputed from the candidates */
    cJSON *per = cJSON_GetObjectItem(j1, "kendall_tau_per_seed");
    ASSERT_EQ_INT(cJSON_GetArraySize(per), 2);
    for (int j = 0; j < 2; j++) {
        double sc[3], acc[3];
        for (int i = 0; i < 3; i++) {
            cJSON *a = cJSON_GetArrayItem(c1, i);
            sc[i] = cJSON_GetObjectItem(a, "supernet_val_accuracy")->valuedouble;
            acc[i] = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "standalone_seed_accuracies"), j)->valuedouble;
        }
        double want = nas_supernet_kendall_tau(sc, acc, 3);
        cJSON *got = cJSON_GetArrayItem(per, j);
        if (isfinite(want)) ASSERT_NEAR(got->valuedouble, want, 1e-6);
        else ASSERT_TRUE(cJSON_IsNull(got));
    }
    /* the ceiling, recomputed from the candidates' runs */
    {
        double runs[6], one, mean;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++)
                runs[i * 2 + j] = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(c1, i),
                                                                          "standalone_seed_accuracies"),
                                                     j)->valuedouble;
        nas_supernet_tau_ceiling(runs, 3, 2, &one, &mean);
        const cJSON *ceil = cJSON_GetObjectItem(j1, "tau_ceiling");
        ASSERT_TRUE(ceil != NULL);
        if (isfinite(one)) {
            ASSERT_NEAR(cJSON_GetObjectItem(ceil, "one_seed")->valuedouble, one, 1e-6);
            ASSERT_NEAR(cJSON_GetObjectItem(ceil, "mean")->valuedouble, mean, 1e-6);
        } else {
            ASSERT_TRUE(cJSON_IsNull(ceil));
        }
    }
    ASSERT_NEAR(cJSON_GetObjectItem(j2, "train_seconds")->valuedouble, 0, 0);
    /* a third seed: the first two are the file's, the mean is over all three,
     * and the file now holds all three */
    snprintf(cmd + n, sizeof cmd - (size_t)n,
             " --standalone %s/r1.json --train-seeds 3 --json > %s/r3.json 2>/dev/null", dir, dir);
    ASSERT_EQ_INT(run_cmd(cmd), 0);
    cJSON *j3 = read_json(dir, "r3.json"), *f3 = read_json(dir, "r1.json");
    ASSERT_EQ_INT((int)cJSON_GetObjectItem(j3, "train_seeds")->valuedouble, 3);
    ASSERT_EQ_INT((int)cJSON_GetObjectItem(f3, "train_seeds")->valuedouble, 3);
    ASSERT_TRUE(cJSON_GetObjectItem(j3, "train_seconds")->valuedouble > 0);
    for (int i = 0; i < 3; i++) {
        cJSON *a = cJSON_GetObjectItem(cJSON_GetArrayItem(c1, i), "standalone_seed_accuracies");
        cJSON *b = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j3, "candidates"), i),
                                       "standalone_seed_accuracies");
        cJSON *fb = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(f3, "candidates"), i),
                                        "standalone_seed_accuracies");
        ASSERT_EQ_INT(cJSON_GetArraySize(b), 3);
        ASSERT_EQ_INT(cJSON_GetArraySize(fb), 3);
        double mean = 0;
        for (int j = 0; j < 3; j++) {
            mean += cJSON_GetArrayItem(b, j)->valuedouble / 3;
            ASSERT_NEAR(cJSON_GetArrayItem(fb, j)->valuedouble, cJSON_GetArrayItem(b, j)->valuedouble, 1e-6);
        }
        for (int j = 0; j < 2; j++)
            ASSERT_NEAR(cJSON_GetArrayItem(b, j)->valuedouble, cJSON_GetArrayItem(a, j)->valuedouble, 1e-6);
        ASSERT_NEAR(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j3, "candidates"), i),
                                        "standalone_val_accuracy")
                        ->valuedouble,
                    mean, 1e-6);
    }
    /* a ranking killed after some runs: the file lacks one arch's last seed;
     * the same command trains that run alone and fills it in */
    cJSON *cand0 = cJSON_GetArrayItem(cJSON_GetObjectItem(f3, "candidates"), 0);
    double last = cJSON_GetArrayItem(cJSON_GetObjectItem(cand0, "standalone_seed_accuracies"), 2)->valuedouble;
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(cand0, "standalone_seed_accuracies"), 2);
    char *partial = cJSON_Print(f3);
    snprintf(path, sizeof path, "%s/r1.json", dir);
    write_bytes(path, partial, strlen(partial));
    free(partial);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " --standalone %s/r1.json > %s/out.txt 2>/dev/null", dir, dir);
    ASSERT_EQ_INT(run_cmd(cmd), 0);
    file_contains(dir, "out.txt", "(1 run)");
    cJSON *f4 = read_json(dir, "r1.json");
    cJSON *s4 = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(f4, "candidates"), 0),
                                    "standalone_seed_accuracies");
    ASSERT_EQ_INT(cJSON_GetArraySize(s4), 3);
    ASSERT_NEAR(cJSON_GetArrayItem(s4, 2)->valuedouble, last, 1e-6); /* the same seed trains the same way */
    cJSON_Delete(f4);
    cJSON_Delete(f3);
    cJSON_Delete(j3);
    /* the cost-only baseline: each candidate's MACs, and their tau */
    ASSERT_TRUE(cJSON_GetObjectItem(cJSON_GetArrayItem(c1, 0), "macs")->valuedouble > 0);
    ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(j1, "kendall_tau_macs")));
    double tm = cJSON_GetObjectItem(j1, "kendall_tau_macs")->valuedouble;
    ASSERT_TRUE(tm >= -1 && tm <= 1);
    /* the scoring settings are recorded with the ranking */
    ASSERT_EQ_INT((int)cJSON_GetObjectItem(cJSON_GetObjectItem(j1, "scoring"), "finetune_steps")->valuedouble, 0);
    snprintf(cmd + n, sizeof cmd - (size_t)n,
             " --standalone %s/r1.json --finetune-steps 3 --finetune-lr 0.02 --json > %s/r5.json 2>/dev/null", dir, dir);
    ASSERT_EQ_INT(run_cmd(cmd), 0);
    cJSON *j5 = read_json(dir, "r5.json"), *sc5 = cJSON_GetObjectItem(j5, "scoring");
    ASSERT_EQ_INT((int)cJSON_GetObjectItem(sc5, "finetune_steps")->valuedouble, 3);
    ASSERT_NEAR(cJSON_GetObjectItem(sc5, "finetune_lr")->valuedouble, 0.02, 0);
    ASSERT_EQ_INT((int)cJSON_GetObjectItem(sc5, "recal_batches")->valuedouble, 2);
    cJSON_Delete(j5);
    cJSON_Delete(j1);
    cJSON_Delete(j2);
    free(t2);
    /* other archs (another seed); settings other than the file's; bad flags */
    rank_refused(cmd, sizeof cmd, n, dir, " --seed 9", 1, "r1.json has no stand-alone accuracy for arch");
    rank_refused(cmd, sizeof cmd, n, dir, " --train-epochs 2", 1, "--train-epochs 2: ");
    rank_refused(cmd, sizeof cmd, n, dir, " --train-batch 16", 1, "--train-batch 16: ");
    rank_refused(cmd, sizeof cmd, n, dir, " --train-seeds 2", 1, "is a ground truth of 3 seeds");
    rank_refused(cmd, sizeof cmd, n, dir, " --train-seeds 0", 2, "--train-seeds must be in 1..100");
    rank_refused(cmd, sizeof cmd, n, dir, " --train-seeds 101", 2, "--train-seeds must be in 1..100");
    rank_refused(cmd, sizeof cmd, n, dir, " --finetune-lr 0", 2, "--finetune-lr must be in [1e-12, 100]");
    rank_refused(cmd, sizeof cmd, n, dir, " --finetune-steps -1", 2, "--finetune-steps must be in 0..10000000");
    rank_refused(cmd, sizeof cmd, n, dir, " --recal-batches -1", 2, "--recal-batches must be in 1..1000000");
    rank_refused(cmd, sizeof cmd, n, dir, " --train-epochs 4294967297", 2, "--train-epochs must be in 1..1000000");
    /* a ranking from before train_batch was recorded: adding runs needs the batch */
    char *at = strstr(t1, "\"train_batch\": 128, ");
    ASSERT_TRUE(at != NULL);
    memset(at, ' ', strlen("\"train_batch\": 128, "));
    snprintf(path, sizeof path, "%s/r1.json", dir);
    write_bytes(path, t1, l1);
    rank_refused(cmd, sizeof cmd, n, dir, " --train-seeds 3", 1, "r1.json: no train_batch (written before the field)");
    /* stand-alone runs on another training share: ranked against, never extended */
    at = strstr(t1, "\"train_fraction\": 1, ");
    ASSERT_TRUE(at != NULL);
    memcpy(at + strlen("\"train_fraction\""), ":0.5,", 5);
    write_bytes(path, t1, l1);
    rank_refused(cmd, sizeof cmd, n, dir, " --train-seeds 3", 1,
                 "r1.json trained on 0.5 of the training split, the supernet on 1");
    at = strstr(t1, "\"val_fraction\": 0.25");
    ASSERT_TRUE(at != NULL);
    memcpy(at + strlen("\"val_fraction\": 0."), "35", 2);
    write_bytes(path, t1, l1);
    rank_refused(cmd, sizeof cmd, n, dir, "", 1, "r1.json: data: its stand-alone accuracies are on the validation");
    free(t1);
    rm_dir(dir);
    free(dir);
}

static const test_case TESTS[] = {
    {"slice_centre_crop", test_slice_centre_crop},
    {"slice_leading_channels", test_slice_leading_channels},
    {"rank_statistics", test_rank_statistics},
    {"tau_ceiling", test_tau_ceiling},
    {"tau_interval", test_tau_interval},
    {"shared_tensors", test_shared_tensors},
    {"kernel_transform", test_kernel_transform},
    {"train_loss_decreases", test_train_loss_decreases},
    {"score_deterministic_and_extract", test_score_deterministic_and_extract},
    {"finetune_score", test_finetune_score},
    {"fair_sampling", test_fair_sampling},
    {"distill", test_distill},
    {"resume_equals_uninterrupted", test_resume_equals_uninterrupted},
    {"new_tensors_during_training", test_new_tensors_during_training},
    {"error_paths", test_error_paths},
    {"truth_parse", test_truth_parse},
    {"cli_rank", test_cli_rank},
    {"cli_numbers", test_cli_numbers},
    {"cli_outputs_checked_first", test_cli_outputs_checked_first},
    {0, 0},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
