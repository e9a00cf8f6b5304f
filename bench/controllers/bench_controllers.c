/*
 * bench_controllers.c - search quality and proposal speed of every controller
 * on synthetic landscapes with known optima (the same landscapes as
 * optuna_bench.py, which runs Optuna's TPE and random samplers on them and
 * prints the comparison; run.sh runs both).
 *
 * For each landscape, controller and seed: a sequential search of `budget`
 * trials (default 200); the best value after 50, 100 and 200 trials goes to
 * the JSON output (per seed; the Python side computes means and spreads).
 * Timing: the tpe controller runs 1000 trials on each landscape and the mean
 * wall time of ctrl_propose over trials 900..999 is reported (ms/proposal).
 *
 * Landscapes (maximised; keep in sync with optuna_bench.py):
 *   mixed - op(4) width int(1,16) lr float(1e-4,1e-1,log) depth(3)
 *           kernel(3 | op in {0,1}) expand int(1,6 | op in {0,1})
 *           drop float(0,0.5) act(3); optimum 0.
 *   hpo   - optimizer(sgd,adam,rmsprop) lr float(1e-5,1,log)
 *           momentum float(0,0.99 | sgd) batch(16..256) layers int(1,8)
 *           dropout float(0,0.9) warmup int(0,10); optimum 0.
 *   cell  - 6 edges x 5 ops with pairwise terms; optimum by enumeration.
 *
 * Usage: bench_controllers [--seeds N] [--budget B] [--json FILE] [--quick]
 *                          [--timing-only]
 * Does not run Optuna; does not check thresholds (the doc states them).
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/controller.h"

/* ---- landscapes ---- */

static int add_dec(ss_space *s, const char *name, ss_domain_kind kind, int n, double lo,
                   double hi, ss_scale sc, int parent, const unsigned char *allowed) {
    char *labels[8];
    char buf[8][16];
    ss_decision d;
    memset(&d, 0, sizeof d);
    d.name = (char *)name;
    d.dom.kind = kind;
    if (kind == SS_DOMAIN_CHOICE) {
        for (int i = 0; i < n; i++) {
            snprintf(buf[i], sizeof buf[i], "o%d", i);
            labels[i] = buf[i];
        }
        d.dom.n = n;
        d.dom.labels = labels;
    } else if (kind == SS_DOMAIN_INT) {
        d.dom.lo = (int64_t)lo;
        d.dom.hi = (int64_t)hi;
    } else {
        d.dom.flo = lo;
        d.dom.fhi = hi;
        d.dom.scale = sc;
    }
    d.cond.parent = parent;
    d.cond.allowed = (unsigned char *)allowed;
    return ss_space_add_decision(s, &d);
}

static ss_space *mixed_space(void) {
    static const unsigned char conv[4] = {1, 1, 0, 0};
    ss_space *s = ss_space_create("mixed");
    add_dec(s, "op", SS_DOMAIN_CHOICE, 4, 0, 0, SS_SCALE_LINEAR, -1, NULL);
    add_dec(s, "width", SS_DOMAIN_INT, 0, 1, 16, SS_SCALE_LINEAR, -1, NULL);
    add_dec(s, "lr", SS_DOMAIN_FLOAT, 0, 1e-4, 1e-1, SS_SCALE_LOG, -1, NULL);
    add_dec(s, "depth", SS_DOMAIN_CHOICE, 3, 0, 0, SS_SCALE_LINEAR, -1, NULL);
    add_dec(s, "kernel", SS_DOMAIN_CHOICE, 3, 0, 0, SS_SCALE_LINEAR, 0, conv);
    add_dec(s, "expand", SS_DOMAIN_INT, 0, 1, 6, SS_SCALE_LINEAR, 0, conv);
    add_dec(s, "drop", SS_DOMAIN_FLOAT, 0, 0.0, 0.5, SS_SCALE_LINEAR, -1, NULL);
    add_dec(s, "act", SS_DOMAIN_CHOICE, 3, 0, 0, SS_SCALE_LINEAR, -1, NULL);
    return s;
}

static double mixed_f(const double *x) {
    static const double op[4] = {-0.3, 0.0, -0.6, -0.8};
    static const double depth[3] = {-0.3, -0.1, 0.0};
    static const double kernel[3] = {-0.2, 0.0, -0.3};
    static const double act[3] = {-0.15, 0.0, -0.05};
    double f = op[(int)x[0]] + depth[(int)x[3]] + act[(int)x[7]];
    double w = (x[1] - 11.0) / 15.0, l = (log10(x[2]) - log10(3e-3)) / 3.0, d = x[6] - 0.1;
    f += -0.5 * w * w - l * l - 2.0 * d * d;
    if (x[0] < 2) f += kernel[(int)x[4]] - 0.05 * fabs(x[5] - 4.0);
    else f += -0.3 - 0.05 * 3;
    return f;
}

static ss_space *hpo_space(void) {
    static const unsigned char sgd[3] = {1, 0, 0};
    ss_space *s = ss_space_create("hpo");
    add_dec(s, "optimizer", SS_DOMAIN_CHOICE, 3, 0, 0, SS_SCALE_LINEAR, -1, NULL);
    add_dec(s, "lr", SS_DOMAIN_FLOAT, 0, 1e-5, 1.0, SS_SCALE_LOG, -1, NULL);
    add_dec(s, "momentum", SS_DOMAIN_FLOAT, 0, 0.0, 0.99, SS_SCALE_LINEAR, 0, sgd);
    add_dec(s, "batch", SS_DOMAIN_CHOICE, 5, 0, 0, SS_SCALE_LINEAR, -1, NULL);
    add_dec(s, "layers", SS_DOMAIN_INT, 0, 1, 8, SS_SCALE_LINEAR, -1, NULL);
    add_dec(s, "dropout", SS_DOMAIN_FLOAT, 0, 0.0, 0.9, SS_SCALE_LINEAR, -1, NULL);
    add_dec(s, "warmup", SS_DOMAIN_INT, 0, 0, 10, SS_SCALE_LINEAR, -1, NULL);
    return s;
}

static double hpo_f(const double *x) {
    static const double lr_best[3] = {0.1, 1e-3, 3e-4};
    static const double opt_pen[3] = {0.05, 0.0, 0.02};
    static const double bpen[5] = {0.1, 0.03, 0.0, 0.02, 0.08};
    int o = (int)x[0];
    double l = log10(x[1]) - log10(lr_best[o]), ly = (x[4] - 5.0) / 7.0, dr = x[5] - 0.3;
    double f = -opt_pen[o] - 0.5 * l * l - 0.6 * ly * ly - dr * dr - bpen[(int)x[3]] -
               0.02 * fabs(x[6] - 3.0);
    if (o == 0) f -= 0.5 * (x[2] - 0.9) * (x[2] - 0.9);
    return f;
}

static ss_space *cell_space(void) {
    ss_space *s = ss_space_create("cell");
    static const char *names[6] = {"e01", "e02", "e12", "e03", "e13", "e23"};
    for (int e = 0; e < 6; e++)
        add_dec(s, names[e], SS_DOMAIN_CHOICE, 5, 0, 0, SS_SCALE_LINEAR, -1, NULL);
    return s;
}

static double cell_f(const double *x) {
    double f = 0;
    for (int e = 0; e < 6; e++) f += 0.2 * cos(1.3 * e + 2.1 * x[e]);
    f += 0.25 * (x[0] == x[5]);
    f -= 0.3 * (x[1] == 0 && x[2] == 0);
    f += 0.1 * sin(x[3] * x[4]);
    return f;
}

typedef struct landscape {
    const char *name;
    ss_space *(*make)(void);
    double (*f)(const double *x);
} landscape;

static const landscape LANDS[] = {
    {"mixed", mixed_space, mixed_f}, {"hpo", hpo_space, hpo_f}, {"cell", cell_space, cell_f}};
#define N_LANDS 3

static const char *const KINDS[] = {"random", "grid", "evolution", "reinforce", "tpe", "nsga2"};
#define N_KINDS 6

typedef struct max_ctx {
    double (*f)(const double *x);
    double best;
} max_ctx;

static int visit_max(void *user, const double *point) {
    max_ctx *m = user;
    double v = m->f(point);
    if (v > m->best) m->best = v;
    return 0;
}

static double optimum_of(const landscape *l, const ss_space *s) {
    if (strcmp(l->name, "cell") != 0) return 0.0; /* analytic optimum */
    max_ctx m = {l->f, -INFINITY};
    nas_error err = {0};
    if (ss_space_enumerate(s, -1, visit_max, &m, &err) != NAS_OK) {
        fprintf(stderr, "enumerate: %s\n", err.msg);
        exit(1);
    }
    return m.best;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Sequential search; best[k] after budgets[k] trials. Returns ms per
 * proposal over trials [t0, t1) when timing (t1 > t0), else 0. */
static double run(const ss_space *s, const landscape *l, const char *kind, uint64_t seed, int n,
                  const int *budgets, int nb, double *best, int t0, int t1) {
    ctrl_options o = ctrl_options_default();
    o.kind = kind;
    ctrl *c = NULL;
    nas_error err = {0};
    if (ctrl_create(s, &o, &c, &err) != NAS_OK) {
        fprintf(stderr, "%s: %s\n", kind, err.msg);
        exit(1);
    }
    pcg32 rng;
    pcg32_seed(&rng, seed, 0x5eed);
    double *x = ss_point_alloc(s), b = -INFINITY, spent = 0;
    int k = 0;
    for (int t = 0; t < n; t++) {
        double a = now_ms();
        nas_status st = ctrl_propose(c, &rng, x, &err);
        if (t >= t0 && t < t1) spent += now_ms() - a;
        if (st == NAS_ERR_EXHAUSTED) break;
        if (st != NAS_OK) {
            fprintf(stderr, "%s propose: %s\n", kind, err.msg);
            exit(1);
        }
        double r = l->f(x);
        if (r > b) b = r;
        if (ctrl_observe(c, x, &r, &err) != NAS_OK) {
            fprintf(stderr, "%s observe: %s\n", kind, err.msg);
            exit(1);
        }
        while (k < nb && t + 1 == budgets[k]) best[k++] = b;
    }
    while (k < nb) best[k++] = b;
    free(x);
    ctrl_destroy(c);
    return t1 > t0 ? spent / (t1 - t0) : 0.0;
}

int main(int argc, char **argv) {
    int seeds = 30, budget = 200, timing_trials = 1000, timing_only = 0;
    const char *json = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) seeds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc) budget = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) json = argv[++i];
        else if (strcmp(argv[i], "--timing-only") == 0) timing_only = 1;
        else if (strcmp(argv[i], "--quick") == 0) {
            seeds = 5;
            timing_trials = 300;
        } else {
            fprintf(stderr,
                    "usage: %s [--seeds N] [--budget B] [--json FILE] [--quick] [--timing-only]\n",
                    argv[0]);
            return 2;
        }
    }
    if (seeds < 1 || budget < 1) {
        fprintf(stderr, "seeds and budget must be >= 1\n");
        return 2;
    }
    int budgets[3] = {50, 100, 200}, nb = 0;
    for (int k = 0; k < 3; k++)
        if (budgets[k] <= budget) budgets[nb++] = budgets[k];
    FILE *out = json ? fopen(json, "w") : NULL;
    if (json && !out) {
        perror(json);
        return 1;
    }
    if (out) fprintf(out, "{\"seeds\": %d, \"budgets\": [50, 100, 200], \"landscapes\": {", seeds);
    printf("%-6s %-10s %6s %12s %10s %12s\n", "land", "controller", "budget", "mean regret",
           "std", "median");
    double *best = malloc((size_t)seeds * 3 * sizeof *best);
    for (int li = 0; li < N_LANDS && !timing_only; li++) {
        const landscape *l = &LANDS[li];
        ss_space *s = l->make();
        double opt = optimum_of(l, s);
        if (out)
            fprintf(out, "%s\"%s\": {\"optimum\": %.17g, \"controllers\": {", li ? ", " : "",
                    l->name, opt);
        for (int ki = 0; ki < N_KINDS; ki++) {
            for (int sd = 0; sd < seeds; sd++)
                run(s, l, KINDS[ki], (uint64_t)sd, budget, budgets, nb, best + sd * 3, 0, 0);
            if (out) fprintf(out, "%s\"%s\": {", ki ? ", " : "", KINDS[ki]);
            for (int k = 0; k < nb; k++) {
                double mean = 0, var = 0, *reg = malloc((size_t)seeds * sizeof *reg);
                for (int sd = 0; sd < seeds; sd++) reg[sd] = opt - best[sd * 3 + k];
                for (int sd = 0; sd < seeds; sd++) mean += reg[sd] / seeds;
                for (int sd = 0; sd < seeds; sd++) var += (reg[sd] - mean) * (reg[sd] - mean);
                for (int i = 1; i < seeds; i++) /* insertion sort for the median */
                    for (int j = i; j > 0 && reg[j - 1] > reg[j]; j--) {
                        double t = reg[j];
                        reg[j] = reg[j - 1];
                        reg[j - 1] = t;
                    }
                double med = seeds % 2 ? reg[seeds / 2]
                                       : 0.5 * (reg[seeds / 2 - 1] + reg[seeds / 2]);
                printf("%-6s %-10s %6d %12.4f %10.4f %12.4f\n", l->name, KINDS[ki], budgets[k],
                       mean, seeds > 1 ? sqrt(var / (seeds - 1)) : 0.0, med);
                free(reg);
                if (out) {
                    fprintf(out, "%s\"%d\": [", k ? ", " : "", budgets[k]);
                    for (int sd = 0; sd < seeds; sd++)
                        fprintf(out, "%s%.17g", sd ? ", " : "", best[sd * 3 + k]);
                    fprintf(out, "]");
                }
            }
            if (out) fprintf(out, "}");
        }
        if (out) fprintf(out, "}}");
        ss_space_destroy(s);
    }
    if (out) fprintf(out, "}, \"timing_trials\": %d, \"tpe_ms_per_proposal\": {", timing_trials);
    for (int li = 0; li < N_LANDS; li++) {
        const landscape *l = &LANDS[li];
        ss_space *s = l->make();
        int t0 = timing_trials - 100 > 0 ? timing_trials - 100 : 0;
        double b[1];
        int one = timing_trials + 1;
        double ms = run(s, l, "tpe", 12345, timing_trials, &one, 1, b, t0, timing_trials);
        printf("tpe %s: %.4f ms per proposal over trials %d..%d\n", l->name, ms, t0,
               timing_trials - 1);
        if (out) fprintf(out, "%s\"%s\": %.6g", li ? ", " : "", l->name, ms);
        ss_space_destroy(s);
    }
    if (out) {
        fprintf(out, "}}\n");
        fclose(out);
    }
    free(best);
    return 0;
}
