/*
 * bench_supernet.c - benchmarks of the weight-sharing supernet
 * (evaluator/supernet.h), printed as ratios and times:
 *
 *   step   cost of sharing: for each of N sampled sub-networks, the median
 *          time of a supernet step on it (network from the cache or built,
 *          master slices copied in, forward/backward, gradients scattered,
 *          optimizer step over the master) over the median time of the same
 *          sub-network's stand-alone step (its own prebuilt network and
 *          optimizer: forward/backward/step). Also the network build time.
 *          The stand-alone network is built first, so the supernet's build
 *          finds its primitives in oneDNN's primitive cache; with --cold 1 it
 *          is built after the supernet's first step, which then meets the
 *          cache as in training (only shapes of earlier paths cached).
 *   score  time to score one candidate (BatchNorm recalibration + validation)
 *          with a supernet, over N sampled candidates.
 *   memory peak resident memory (VmHWM) after supernet training steps.
 *
 * usage: bench_supernet step|score|memory SPACE.nas [--paths N] [--reps R]
 *        [--batch B] [--fraction F] [--seed S] [--recal R] [--val-images N]
 *        [--score-batch B] [--cold 0|1] [--kernel-transform 0|1]
 * Data: Fashion-MNIST (the default data set), reduced by --fraction.
 * It does not train a useful supernet: weights are whatever the steps made.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/data.h"
#include "evaluator/supernet.h"
#include "models/network.h"
#include "models/optim.h"
#include "nas/core/log.h"
#include "searchspace/space.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static long vm_hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static void die(const nas_error *e) {
    fprintf(stderr, "bench_supernet: %s\n", e->msg);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_supernet step|score|memory SPACE.nas [--paths N] [--reps R] [--batch B] "
                        "[--fraction F] [--seed S]\n");
        return 2;
    }
    const char *mode = argv[1], *path = argv[2];
    int paths = 10, reps = 5, batch = 64, recal = 10, score_batch = 256, cold = 0, ktrans = 0;
    long val_images = 0;
    double fraction = 0.1;
    uint64_t seed = 0;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--paths")) paths = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--fraction")) fraction = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = (uint64_t)atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--recal")) recal = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--val-images")) val_images = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--score-batch")) score_batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--cold")) cold = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--kernel-transform")) ktrans = atoi(argv[i + 1]);
    }
    if (cold && reps < 2) {
        fprintf(stderr, "bench_supernet: --cold 1 needs --reps 2 or more\n");
        return 2;
    }
    nas_error err = {0};
    ss_space *space = NULL;
    if (ss_space_compile_file(path, stderr, &space, &err)) die(&err);
    nas_supernet_config cfg;
    nas_supernet_config_default(&cfg);
    cfg.batch = batch;
    cfg.seed = seed;
    cfg.train_fraction = fraction;
    cfg.kernel_transform = ktrans;
    nas_data_options dopt;
    nas_supernet_data_options(&cfg, &dopt);
    nas_data *data = NULL;
    if (nas_data_load(cfg.data_spec, &dopt, &data, &err)) die(&err);
    double t0 = nas_time_now();
    nas_supernet *sn = NULL;
    if (nas_supernet_create(space, &cfg, &sn, &err)) die(&err);
    printf("space %s: %d shared tensors, %zu weights, created in %.2f s; %d threads, batch %d\n", space->name,
           nas_supernet_tensor_count(sn), nas_supernet_float_count(sn), nas_time_now() - t0, omp_get_max_threads(),
           batch);
    size_t img = nas_dataset_image_floats(&data->train);
    float *x = malloc((size_t)batch * img * sizeof *x);
    int *y = malloc((size_t)batch * sizeof *y);
    for (int i = 0; i < batch; i++) {
        memcpy(x + (size_t)i * img, data->train.x + (size_t)i * img, img * sizeof *x);
        y[i] = data->train.y[i];
    }
    pcg32 rng;
    pcg32_seed(&rng, seed, 99);

    if (!strcmp(mode, "step")) {
        double *ratios = malloc((size_t)paths * sizeof *ratios), *builds = malloc((size_t)paths * sizeof *builds);
        double *ratios4 = malloc((size_t)paths * sizeof *ratios4), *cached = malloc((size_t)paths * sizeof *cached);
        double *ts = malloc((size_t)reps * sizeof *ts), *tsn = malloc((size_t)reps * sizeof *tsn);
        double sum_sn = 0, sum_sa = 0;
        for (int p = 0; p < paths; p++) {
            nas_arch *a = NULL;
            if (nas_supernet_sample(sn, &rng, NULL, &a, &err)) die(&err);
            /* stand-alone: its own network and optimizer, built outside the timing */
            nas_net *net = NULL;
            nas_optim *opt = NULL;
            pcg32 init;
            pcg32_seed(&init, 1, 1);
            /* the supernet step first meets a new network, as in training: the
               first repetition builds it, later ones find it in the cache, so
               both medians are reported */
            double first = 0;
            for (int r = 0; r < reps; r++) {
                if (r == (cold ? 1 : 0)) {
                    double tb = nas_time_now();
                    if (nas_net_create(a, batch, NAS_NET_GRADS, &init, &net, &err)) die(&err);
                    builds[p] = nas_time_now() - tb;
                    nas_param *params;
                    int np;
                    nas_net_params(net, &params, &np);
                    if (nas_optim_create(&cfg.optim, params, (size_t)np, &opt, &err)) die(&err);
                }
                double t = nas_time_now();
                const nas_arch *pa[1] = {a};
                if (nas_supernet_step(sn, pa, 1, x, y, 0.01, NULL, &err)) die(&err);
                tsn[r] = nas_time_now() - t;
                if (r == 0) first = tsn[r];
                if (!net) continue; /* --cold: the stand-alone net comes after this step */
                t = nas_time_now();
                if (nas_net_forward(net, x, 1, &init, &err) || nas_net_backward(net, y, &err)) die(&err);
                nas_optim_step(opt, 0.01);
                ts[r] = nas_time_now() - t;
            }
            double msa = cold ? median(ts + 1, reps - 1) : median(ts, reps);
            double msn_cached = median(tsn + 1, reps - 1);
            ratios[p] = first / msa;
            ratios4[p] = (first + 3 * msn_cached) / (4 * msa); /* --path-steps 4 */
            cached[p] = msn_cached / msa;
            sum_sn += first;
            sum_sa += msa;
            printf("path %2d: %2d nodes  stand-alone step %.4f s  supernet step (new net) %.4f s  (cached net) "
                   "%.4f s  net build %.4f s  ratio %.3f (cached %.3f)\n",
                   p, a->n_nodes, msa, first, msn_cached, builds[p], ratios[p], msn_cached / msa);
            fflush(stdout);
            nas_optim_destroy(opt);
            nas_net_destroy(net);
            nas_arch_destroy(a);
        }
        printf("RESULT step: median ratio supernet/stand-alone %.3f over %d sampled paths (new network each "
               "step, --path-steps 1); total-time ratio %.3f; median net build %.4f s\n",
               median(ratios, paths), paths, sum_sn / sum_sa, median(builds, paths));
        printf("RESULT step: median ratio %.3f with --path-steps 4 (one build per 4 steps); %.3f with the "
               "network cached (build excluded)\n",
               median(ratios4, paths), median(cached, paths));
    } else if (!strcmp(mode, "score")) {
        /* a few training steps so BatchNorm and weights are not at init */
        for (int s = 0; s < reps; s++) {
            nas_arch *a = NULL;
            if (nas_supernet_sample(sn, &rng, NULL, &a, &err)) die(&err);
            const nas_arch *pa[1] = {a};
            if (nas_supernet_step(sn, pa, 1, x, y, 0.01, NULL, &err)) die(&err);
            nas_arch_destroy(a);
        }
        nas_supernet_score_options so;
        nas_supernet_score_options_default(&so);
        so.recal_batches = recal;
        so.val_images = (size_t)val_images;
        so.batch = score_batch;
        double *t = malloc((size_t)paths * sizeof *t);
        for (int p = 0; p < paths; p++) {
            nas_arch *a = NULL;
            if (nas_supernet_sample(sn, &rng, NULL, &a, &err)) die(&err);
            nas_supernet_score sc;
            double t1 = nas_time_now();
            if (nas_supernet_score_arch(sn, a, data, &so, &sc, &err)) die(&err);
            t[p] = nas_time_now() - t1;
            printf("candidate %2d: %2d nodes  %.3f s  (val acc %.4f on %zu images, %d recalibration batches of %d)\n", p,
                   a->n_nodes, t[p], sc.val_acc, sc.images, so.recal_batches, so.batch);
            fflush(stdout);
            nas_arch_destroy(a);
        }
        printf("RESULT score: median %.3f s per candidate over %d candidates (%zu of %zu validation images, %d "
               "recalibration batches of %d)\n",
               median(t, paths), paths, val_images ? (size_t)val_images : data->val.n, data->val.n, recal, score_batch);
    } else if (!strcmp(mode, "memory")) {
        double tm = nas_time_now();
        for (int s = 0; s < paths; s++) {
            nas_arch *a = NULL;
            if (nas_supernet_sample(sn, &rng, NULL, &a, &err)) die(&err);
            const nas_arch *pa[1] = {a};
            if (nas_supernet_step(sn, pa, 1, x, y, 0.01, NULL, &err)) die(&err);
            nas_arch_destroy(a);
        }
        nas_arch *big = NULL;
        if (nas_supernet_extreme(sn, 1, &big, &err)) die(&err);
        const nas_arch *pb[1] = {big};
        if (nas_supernet_step(sn, pb, 1, x, y, 0.01, NULL, &err)) die(&err);
        nas_arch_destroy(big);
        printf("RESULT memory: peak resident %.1f MB after %d random steps + the largest path (batch %d, %d cached "
               "networks), %.1f s\n",
               vm_hwm_kb() / 1024.0, paths, batch, cfg.cache_nets, nas_time_now() - tm);
    } else {
        fprintf(stderr, "bench_supernet: unknown mode %s\n", mode);
        return 2;
    }
    free(x);
    free(y);
    nas_supernet_destroy(sn);
    nas_data_destroy(data);
    ss_space_destroy(space);
    return 0;
}
