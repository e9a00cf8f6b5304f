/*
 * bench_train.c - nas side of the reference-network benchmark: trains the
 * reference CNN (examples/reference_cnn.json) on Fashion-MNIST at batch 128
 * with SGD (momentum 0.9, Nesterov, weight decay 5e-4) for a number of timed
 * steps after warm-up, then times batch-1 inference with the inference engine
 * (BN folded, post-ops fused) on the trained weights. Prints one JSON line
 * in the format of torch_ref.py. run.sh runs both and prints the ratios.
 *
 * usage: bench_train [--threads 2] [--steps 60] [--warmup 10] [--runs 300]
 */
#define _GNU_SOURCE
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "evaluator/data.h"
#include "evaluator/latency.h"
#include "evaluator/train.h"
#include "models/network.h"
#include "models/optim.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int die(const nas_error *e) {
    fprintf(stderr, "bench_train: %s\n", e->msg);
    return 1;
}

int main(int argc, char **argv) {
    int threads = 2, steps = 60, warmup = 10, runs = 300, batch = 128;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_train: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    omp_set_num_threads(threads);
    nas_error err = {0};
    nas_data *data = NULL;
    nas_data_options dopt;
    nas_data_options_default(&dopt);
    dopt.val_fraction = 0;
    if (nas_data_load("fashion-mnist", &dopt, &data, &err)) return die(&err);
    nas_arch *a = NULL;
    if (nas_train_reference_arch(1, 28, 28, 10, &a, &err)) return die(&err);
    pcg32 rng;
    pcg32_seed(&rng, 0, 1);
    nas_net *net = NULL;
    if (nas_net_create(a, batch, NAS_NET_GRADS, &rng, &net, &err)) return die(&err);
    nas_param *params;
    int n_params;
    nas_net_params(net, &params, &n_params);
    nas_optim_config oc;
    nas_optim_config_default(&oc, NAS_OPTIM_SGD);
    oc.momentum = 0.9;
    oc.nesterov = 1;
    oc.weight_decay = 5e-4;
    nas_optim *opt = NULL;
    if (nas_optim_create(&oc, params, (size_t)n_params, &opt, &err)) return die(&err);
    size_t img = nas_dataset_image_floats(&data->train);
    int *y = malloc((size_t)batch * sizeof *y);
    size_t n_batches = data->train.n / (size_t)batch;
    double t0 = 0;
    for (int i = 0; i < warmup + steps; i++) {
        if (i == warmup) t0 = nas_time_now();
        size_t j = (size_t)i % n_batches;
        const float *x = data->train.x + j * (size_t)batch * img;
        for (int k = 0; k < batch; k++) y[k] = data->train.y[j * (size_t)batch + (size_t)k];
        if (nas_net_forward(net, x, 1, &rng, &err) || nas_net_backward(net, y, &err)) return die(&err);
        nas_optim_step(opt, 0.05);
    }
    double train_ips = steps * (double)batch / (nas_time_now() - t0);

    nas_engine *eng = NULL;
    if (nas_engine_create(a, 1, params, n_params, &eng, &err)) return die(&err);
    float out[10];
    double *ms = malloc((size_t)runs * sizeof *ms);
    for (int i = 0; i < 50; i++)
        if (nas_engine_run(eng, data->test.x, out, &err)) return die(&err);
    for (int i = 0; i < runs; i++) {
        double t = nas_time_now();
        if (nas_engine_run(eng, data->test.x + (size_t)(i % 100) * img, out, &err)) return die(&err);
        ms[i] = (nas_time_now() - t) * 1e3;
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"peer\": \"nas\", \"threads\": %d, \"train_images_per_s\": %.1f, \"latency_ms\": %.4f, "
           "\"p90_ms\": %.4f, \"peak_rss_mib\": %.1f}\n",
           threads, train_ips, ms[runs / 2], ms[(int)(0.9 * (runs - 1))], ru.ru_maxrss / 1024.0);
    free(ms);
    free(y);
    nas_engine_destroy(eng);
    nas_optim_destroy(opt);
    nas_net_destroy(net);
    nas_arch_destroy(a);
    nas_data_destroy(data);
    return 0;
}
