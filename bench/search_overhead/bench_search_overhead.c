/*
 * bench_search_overhead.c - nas side of the search-overhead benchmark: the
 * whole search job (nas_search_run: study store on SQLite, controller
 * snapshots, every trial inserted, started and completed in its own
 * transactions) on a two-float hyperparameter space with a no-op in-process
 * objective, (x - 2)^2 + (y + 1)^2, so that the time measured is the
 * engine's own per-trial cost. Times the whole nas_search_run call (study
 * creation included): wall seconds, and CPU seconds (user + system) as a
 * check on a shared machine. Prints one JSON line in the format of
 * optuna_overhead.py; run.sh runs both and prints the ratios.
 *
 * usage: bench_search_overhead [--controller tpe] [--trials 1000]
 *                              [--space overhead.nas] [--study DIR]
 * DIR must not exist (default: a fresh directory under /tmp, removed after).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "nas/core/fileio.h"
#include "nas/search/search.h"

#ifndef NAS_SOURCE_DIR
#define NAS_SOURCE_DIR "."
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static nas_status objective(void *user, int64_t number, const nas_arch *a, const double *point, ctrl_metrics *m,
                            nas_error *err) {
    (void)user;
    (void)number;
    (void)point;
    const nas_hparam *x = nas_arch_hparam(a, "x"), *y = nas_arch_hparam(a, "y");
    if (!x || !y) return NAS_FAIL(err, NAS_ERR_INVALID, "the space has no x and y");
    double loss = (x->num - 2) * (x->num - 2) + (y->num + 1) * (y->num + 1);
    return ctrl_metrics_set(m, "loss", loss, err);
}

int main(int argc, char **argv) {
    const char *controller = "tpe", *space = NAS_SOURCE_DIR "/bench/search_overhead/overhead.nas", *study = NULL;
    int trials = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--controller")) controller = argv[i + 1];
        else if (!strcmp(argv[i], "--trials")) trials = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--space")) space = argv[i + 1];
        else if (!strcmp(argv[i], "--study")) study = argv[i + 1];
        else {
            fprintf(stderr, "usage: bench_search_overhead [--controller tpe] [--trials 1000] [--space F] "
                            "[--study DIR]\n");
            return 2;
        }
    }
    char tmp[64] = "";
    char dir[4096];
    if (study) {
        if (nas_path_exists(study)) {
            fprintf(stderr, "bench_search_overhead: %s exists; the benchmark needs a fresh study\n", study);
            return 1;
        }
        snprintf(dir, sizeof dir, "%s", study);
    } else {
        snprintf(tmp, sizeof tmp, "/tmp/nas-overhead-XXXXXX");
        if (!mkdtemp(tmp)) {
            perror("mkdtemp");
            return 1;
        }
        snprintf(dir, sizeof dir, "%s/study", tmp);
    }
    nas_search_options o;
    nas_search_options_default(&o);
    o.space_path = space;
    o.study_dir = dir;
    o.controller = controller;
    o.max_trials = trials;
    o.objective = objective;
    nas_search_summary sum;
    nas_error err = {0};
    double t0 = now_s(), c0 = cpu_s();
    nas_status s = nas_search_run(&o, &sum, &err);
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    if (tmp[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0) fprintf(stderr, "bench_search_overhead: could not remove %s\n", tmp);
    }
    if (s) {
        fprintf(stderr, "bench_search_overhead: %s\n", err.msg);
        return 1;
    }
    printf("{\"peer\": \"nas\", \"controller\": \"%s\", \"trials\": %d, \"completed\": %d, \"seconds\": %.4f, "
           "\"cpu_seconds\": %.4f, \"ms_per_trial\": %.4f, \"best_value\": %.6g}\n",
           controller, trials, sum.completed, secs, cpu, 1e3 * secs / trials, -sum.best_value);
    return 0;
}
