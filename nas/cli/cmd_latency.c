/*
 * cmd_latency.c - `nas latency` (measure an arch's inference latency with the
 * oneDNN engine, or predict it from a lookup table) and `nas profile` (build
 * that table for a search space on this machine). See evaluator/latency.h;
 * this file only parses flags, samples the space and prints.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <sched.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "evaluator/latency.h"
#include "nas/cli/cli.h"
#include "nas/core/arch.h"
#include "nas/core/fileio.h"
#include "searchspace/space.h"

static void latency_usage(FILE *out) {
    fprintf(
        out,
        "usage: nas latency A.json [--batch B] [--threads T] [--runs N] [--warmup N]\n"
        "                   [--min-time MS] [--lut LUT.json [--fallback] [--nodes]]\n"
        "                   [--clock LUT.json] [--json]\n"
        "\n"
        "Measures the arch's inference latency on this machine with the oneDNN engine\n"
        "(BN folded, activations fused, random weights), threads fixed and pinned one\n"
        "per CPU: after warm-up, timed runs for at least N runs and MS milliseconds;\n"
        "the latency is the median of the fastest block of 10 consecutive runs (the\n"
        "machine's clock steps down while other work runs; docs/cost.md), also the\n"
        "median and p90 of all runs. With --lut, predicts it from a table made by\n"
        "`nas profile` instead (sum over ops, corrected by the table's fit). With\n"
        "--clock, measures in the table's units: every run is divided by a fixed\n"
        "loop timed right after it, and the median ratio is scaled by the loop time\n"
        "the table was profiled at (the same figure at any clock step).\n"
        "\n"
        "  --batch B      images per run (default 1)\n"
        "  --threads T    OpenMP threads, pinned (default: OpenMP's count, pinned)\n"
        "  --runs N       timed runs, at least (default 50); --warmup N untimed runs (default 10)\n"
        "  --min-time MS  keep timing until the runs span MS milliseconds (default 500)\n"
        "  --lut FILE     predict from this table; an op it lacks is an error\n"
        "  --fallback     with --lut: measure instead when the table lacks an op\n"
        "  --nodes        with --lut --json: each node's key and table value\n"
        "  --clock FILE   measure clock-normalized to this table's clock loop\n"
        "  --json         one JSON object: latency_ms, median_ms, p90_ms, batch, threads,\n"
        "                 method (measured|lut), clock_ratio, loop_ms, ...\n");
}

static void profile_usage(FILE *out) {
    fprintf(out,
            "usage: nas profile SPACE.nas -o LUT.json [--threads T] [--batch B] [--samples N]\n"
            "                   [--runs N] [--seed S] [--isolated] [--fit-networks N]\n"
            "                   [--min-time MS]\n"
            "\n"
            "Builds a latency lookup table for SPACE on this machine: finds the distinct\n"
            "(op, input shape, parameters) keys of the space (every point when the space\n"
            "has at most --samples points, else --samples random points), times each op\n"
            "separately with the same engine as `nas latency`, plus a per-network constant,\n"
            "then measures --fit-networks other networks of the space as `nas latency`\n"
            "does and fits the network-level model that maps the sum of a network's op\n"
            "values to its latency (docs/cost.md), and writes the table with the fit and\n"
            "the machine's description (CPU, oneDNN ISA and version, threads). Run it on\n"
            "the target machine.\n"
            "\n"
            "  -o FILE        the table to write (required)\n"
            "  --threads T    OpenMP threads, pinned (default: OpenMP's count)\n"
            "  --batch B      images per run (default 1)\n"
            "  --samples N    points to draw (default 5000; only networks with an op not yet\n"
            "                 measured 3 times are run)\n"
            "  --runs N       timed runs per op (default 20)\n"
            "  --seed S       sampling seed (default 1)\n"
            "  --isolated     time each op alone, again and again, instead of timing each\n"
            "                 op inside whole forward passes of the sampled networks\n"
            "                 (the default, more accurate: docs/benchmarks.md)\n"
            "  --fit-networks N  networks measured for the fit (default 200; drawn from the\n"
            "                 sampled networks not profiled, then the profiled ones; 0: no\n"
            "                 fit, the table predicts sum + constant)\n"
            "  --min-time MS  each fit network is timed for MS milliseconds (default 500,\n"
            "                 as nas latency)\n");
}

/* Parses "--flag value" integer options shared by both commands. */
static int int_flag(const char *cmd, int argc, char **argv, int *i, const char *flag, long lo,
                    long hi, int *out, int *rc) {
    if (strcmp(argv[*i], flag) != 0) return 0;
    long v;
    if (!cli_parse_long(cmd, flag, *i + 1 < argc ? argv[++*i] : NULL, &v)) {
        *rc = CLI_EXIT_USAGE;
        return 1;
    }
    if (v < lo || v > hi) {
        *rc = cli_usage_error(cmd, "%s must be in %ld..%ld, got %ld", flag, lo, hi, v);
        return 1;
    }
    *out = (int)v;
    return 1;
}

/* "nodes": [{"node", "op", "key", "ms"}] for every node with a key in the table. */
static int add_lut_nodes(cJSON *o, const nas_lut *t, const nas_arch *a) {
    cJSON *arr = cJSON_AddArrayToObject(o, "nodes");
    int ok = arr != NULL;
    for (int i = 1; ok && i < a->n_nodes; i++) {
        char *key = nas_lut_key(a, i);
        double ms;
        if (key && nas_lut_lookup(t, key, &ms)) {
            cJSON *n = cJSON_CreateObject();
            ok = n && cJSON_AddItemToArray(arr, n) && cJSON_AddNumberToObject(n, "node", i) &&
                 cJSON_AddStringToObject(n, "op", nas_op_name(a->nodes[i].op)) &&
                 cJSON_AddStringToObject(n, "key", key) && cJSON_AddNumberToObject(n, "ms", ms);
        }
        free(key);
    }
    return ok;
}

/* measured: l (clock_ms > 0: normalized to that loop time); predicted: ms
 * from table t at lut (sum_ms: its op values) */
static int print_json(const nas_latency *l, double clock_ms, double ms, double sum_ms, int batch,
                      int threads, const char *lut, const nas_lut *t, int nodes, const nas_arch *a) {
    cJSON *o = cJSON_CreateObject();
    if (l) ms = clock_ms > 0 ? l->clock_ratio * clock_ms : l->block_ms;
    int ok = o && cJSON_AddNumberToObject(o, "latency_ms", ms) &&
             cJSON_AddNumberToObject(o, "median_ms", l ? l->median_ms : ms) &&
             cJSON_AddNumberToObject(o, "p90_ms", l ? l->p90_ms : ms) &&
             cJSON_AddNumberToObject(o, "batch", batch) &&
             cJSON_AddNumberToObject(o, "threads", threads) &&
             cJSON_AddStringToObject(o, "method", l ? "measured" : "lut");
    if (ok && l)
        ok = cJSON_AddNumberToObject(o, "mean_ms", l->mean_ms) &&
             cJSON_AddNumberToObject(o, "min_ms", l->min_ms) &&
             cJSON_AddNumberToObject(o, "runs", l->runs) &&
             cJSON_AddNumberToObject(o, "span_ms", l->span_ms) &&
             cJSON_AddNumberToObject(o, "block_ms", l->block_ms) &&
             cJSON_AddNumberToObject(o, "clock_ratio", l->clock_ratio) &&
             cJSON_AddNumberToObject(o, "loop_ms", l->loop_ms);
    if (ok && l && clock_ms > 0) ok = cJSON_AddNumberToObject(o, "clock_ms", clock_ms) != NULL;
    if (ok && lut)
        ok = cJSON_AddStringToObject(o, "lut", lut) &&
             cJSON_AddNumberToObject(o, "sum_ms", sum_ms) &&
             cJSON_AddNumberToObject(o, "fit_terms", nas_lut_get_fit(t)->terms);
    if (ok && nodes) ok = add_lut_nodes(o, t, a);
    char *text = ok ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) return 0;
    printf("%s\n", text);
    free(text);
    return 1;
}

/* --threads above the CPUs this process may use: each measuring thread is
 * pinned to its own CPU, so more would share CPUs and time the sharing. */
static int threads_fit(const char *cmd, int threads) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (threads < 1 || sched_getaffinity(0, sizeof allowed, &allowed) != 0) return 1;
    int n = CPU_COUNT(&allowed);
    if (threads <= n) return 1;
    cli_usage_error(cmd, "--threads %d: this process may use %d CPU%s, and each measuring thread needs its own",
                    threads, n, n == 1 ? "" : "s");
    return 0;
}

int cmd_latency(int argc, char **argv, const nas_logger *lg) {
    const char *path = NULL, *lut_path = NULL, *clock_path = NULL;
    double clock_ms = 0;
    int json = 0, fallback = 0, nodes = 0, rc = CLI_EXIT_ERROR, threads = 0, min_time = 500;
    nas_latency_opts o = nas_latency_opts_default();
    nas_arch *a = NULL;
    nas_lut *lut = NULL;
    nas_error err;
    nas_error_clear(&err);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int urc = 0;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            latency_usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(s, "--json")) {
            json = 1;
        } else if (!strcmp(s, "--fallback")) {
            fallback = 1;
        } else if (!strcmp(s, "--nodes")) {
            nodes = 1;
        } else if (!strcmp(s, "--lut")) {
            if (i + 1 >= argc) return cli_usage_error("latency", "--lut needs a file");
            lut_path = argv[++i];
        } else if (!strcmp(s, "--clock")) {
            if (i + 1 >= argc) return cli_usage_error("latency", "--clock needs a file");
            clock_path = argv[++i];
        } else if (int_flag("latency", argc, argv, &i, "--batch", 1, 65536, &o.batch, &urc) ||
                   int_flag("latency", argc, argv, &i, "--threads", 1, 1024, &threads, &urc) ||
                   int_flag("latency", argc, argv, &i, "--runs", 1, 1000000, &o.runs, &urc) ||
                   int_flag("latency", argc, argv, &i, "--warmup", 0, 1000000, &o.warmup, &urc) ||
                   int_flag("latency", argc, argv, &i, "--min-time", 0, 3600000, &min_time, &urc)) {
            if (urc) return urc;
        } else if (s[0] == '-' && s[1]) {
            return cli_usage_error("latency", "unknown option '%s'", s);
        } else if (path) {
            return cli_usage_error("latency", "one arch file expected, got '%s' and '%s'", path, s);
        } else {
            path = s;
        }
    }
    if (!path) return cli_usage_error("latency", "missing the arch file (A.json)");
    if (fallback && !lut_path) return cli_usage_error("latency", "--fallback needs --lut");
    if (nodes && !lut_path) return cli_usage_error("latency", "--nodes needs --lut (it lists the table's values)");
    if (!threads_fit("latency", threads)) return CLI_EXIT_USAGE;
    if (clock_path && lut_path)
        return cli_usage_error("latency", "--clock measures and --lut predicts: one or the other");
    o.min_time_ms = min_time;
    o.clock = 1;
    if (nas_arch_load(path, &a, &err) != NAS_OK) goto fail;
    if (nas_latency_pin(threads, &threads, &err) != NAS_OK) goto fail;
    o.threads = threads;
    if (clock_path) {
        nas_machine m;
        char msg[1024];
        if (nas_lut_load(clock_path, &lut, &err) != NAS_OK) goto fail;
        if (!(nas_lut_clock(lut) > 0)) {
            NAS_FAIL(&err, NAS_ERR_INVALID,
                     "%s: the table has no clock_ms (made before clock normalization; re-run nas "
                     "profile)",
                     clock_path);
            goto fail;
        }
        clock_ms = nas_lut_clock(lut);
        nas_machine_describe(threads, o.batch, &m);
        if (nas_lut_machine_mismatch(lut, &m, msg, sizeof msg))
            NAS_WARN(lg, "%s: %s", clock_path, msg);
    }
    if (lut_path) {
        nas_machine m;
        char msg[1024];
        double ms, sum_ms, wb;
        if (nas_lut_load(lut_path, &lut, &err) != NAS_OK) goto fail;
        if (nas_lut_version(lut) < 2)
            NAS_WARN(lg,
                     "%s: a version-%d table has no network-level fit: predicting the sum of its "
                     "op values + its constant (less accurate; re-run nas profile)",
                     lut_path, nas_lut_version(lut));
        nas_machine_describe(threads, o.batch, &m);
        if (nas_lut_machine_mismatch(lut, &m, msg, sizeof msg)) NAS_WARN(lg, "%s: %s", lut_path, msg);
        if (nas_lut_machine(lut)->batch != o.batch)
            NAS_WARN(lg, "%s: the table was measured at batch %d, not %d", lut_path,
                     nas_lut_machine(lut)->batch, o.batch);
        nas_status s = nas_lut_predict_parts(lut, a, &sum_ms, &wb, &err);
        if (s == NAS_OK) s = nas_lut_predict(lut, a, &ms, &err);
        if (s == NAS_OK) {
            if (json) {
                if (!print_json(NULL, 0, ms, sum_ms, o.batch, threads, lut_path, lut, nodes, a))
                    goto nomem;
            } else {
                printf("latency %.4f ms (predicted from %s, batch %d, %d threads)\n", ms, lut_path,
                       o.batch, threads);
            }
            rc = CLI_EXIT_OK;
            goto done;
        }
        if (s != NAS_ERR_UNSUPPORTED || !fallback) goto fail;
        NAS_WARN(lg, "%s; measuring instead (--fallback)", err.msg);
        nas_error_clear(&err);
    }
    nas_latency l;
    if (nas_latency_measure(a, &o, &l, &err) != NAS_OK) {
        nas_error_prefix(&err, "%s", path);
        goto fail;
    }
    if (json) {
        if (!print_json(&l, clock_ms, 0, 0, o.batch, threads, NULL, NULL, 0, a)) goto nomem;
    } else if (clock_ms > 0) {
        printf("latency %.4f ms at the clock of %s (run time / clock loop, median over %d runs: "
               "%.3f x %.4f ms), fastest block %.4f ms, median loop here %.4f ms (%.0f ms, batch "
               "%d, %d threads pinned)\n",
               l.clock_ratio * clock_ms, clock_path, l.runs, l.clock_ratio, clock_ms, l.block_ms,
               l.loop_ms, l.span_ms, o.batch, threads);
    } else {
        char how[64];
        if (l.runs >= NAS_LATENCY_BLOCK) snprintf(how, sizeof how, "fastest block of %d runs", NAS_LATENCY_BLOCK);
        else snprintf(how, sizeof how, "median of all %d runs, fewer than a block", l.runs);
        printf("latency %.4f ms (%s), median %.4f ms, p90 %.4f ms (min %.4f, "
               "mean %.4f; %d runs over %.0f ms after %d warm-up, batch %d, %d threads pinned)\n",
               l.block_ms, how, l.median_ms, l.p90_ms, l.min_ms, l.mean_ms, l.runs,
               l.span_ms, o.warmup, o.batch, threads);
    }
    rc = CLI_EXIT_OK;
    goto done;
nomem:
    NAS_FAIL(&err, NAS_ERR_NOMEM, "out of memory");
fail:
    rc = cli_fail(&err);
done:
    nas_lut_destroy(lut);
    nas_arch_destroy(a);
    return rc;
}

/* ---- nas profile ---- */

typedef struct prof_arch {
    nas_arch *a;
    uint64_t hash;
} prof_arch;

typedef struct prof_set {
    prof_arch *v;
    int n, cap;
    const ss_space *space;
    int invalid; /* points whose network is impossible */
    nas_error *err;
    int failed;
} prof_set;

/* Realizes point and keeps the arch when its network is new. */
static int prof_keep(prof_set *ps, const double *point) {
    nas_arch *a = NULL;
    nas_error e;
    if (ss_space_realize(ps->space, point, &a, &e) != NAS_OK) {
        ps->invalid++;
        return 0;
    }
    uint64_t h = nas_arch_hash(a);
    for (int i = 0; i < ps->n; i++)
        if (ps->v[i].hash == h) {
            nas_arch_destroy(a);
            return 0;
        }
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 64;
        prof_arch *g = realloc(ps->v, (size_t)cap * sizeof *g);
        if (!g) {
            nas_arch_destroy(a);
            NAS_FAIL(ps->err, NAS_ERR_NOMEM, "profile: out of memory");
            ps->failed = 1;
            return 1;
        }
        ps->v = g;
        ps->cap = cap;
    }
    ps->v[ps->n].a = a;
    ps->v[ps->n].hash = h;
    ps->n++;
    return 0;
}

static int prof_visit(void *user, const double *point) { return prof_keep(user, point); }

/* 1 when some node of a has a key with fewer than `need` samples in t. */
static int needs_profile(const nas_arch *a, char **seen, int *count, int n_seen, int need) {
    for (int i = 1; i < a->n_nodes; i++) {
        char *k = nas_lut_key(a, i);
        if (!k) continue;
        int have = 0;
        for (int j = 0; j < n_seen; j++)
            if (!strcmp(seen[j], k)) have = count[j];
        free(k);
        if (have < need) return 1;
    }
    return 0;
}

static nas_status count_keys(const nas_arch *a, char ***seen, int **count, int *n, int *cap,
                             nas_error *err) {
    for (int i = 1; i < a->n_nodes; i++) {
        char *k = nas_lut_key(a, i);
        if (!k) continue;
        int j = 0;
        while (j < *n && strcmp((*seen)[j], k)) j++;
        if (j < *n) {
            (*count)[j]++;
            free(k);
            continue;
        }
        if (*n == *cap) {
            int c = *cap ? 2 * *cap : 64;
            char **g = realloc(*seen, (size_t)c * sizeof *g);
            int *h = g ? realloc(*count, (size_t)c * sizeof *h) : NULL;
            if (g) *seen = g;
            if (!g || !h) {
                free(k);
                return NAS_FAIL(err, NAS_ERR_NOMEM, "profile: out of memory");
            }
            *count = h;
            *cap = c;
        }
        (*seen)[*n] = k;
        (*count)[*n] = 1;
        (*n)++;
    }
    return NAS_OK;
}

static int cmp_dbl(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Measures up to `want` networks of ps like `nas latency` (the ones not
 * profiled first, so that the fit sees networks the table values did not
 * come from; only networks whose keys are all in the table) and keeps them
 * for the fit, in units of the clock loop; each one's median loop time is
 * appended to loops[*n_loops]. */
static nas_status measure_fit(nas_lut *lut, const prof_set *ps, const char *profiled, int want,
                              const nas_latency_opts *prof_opts, int min_time, double *loops,
                              int *n_loops,
                              const nas_logger *lg, nas_error *err) {
    nas_latency_opts lo = nas_latency_opts_default();
    lo.batch = prof_opts->batch;
    lo.threads = prof_opts->threads;
    lo.min_time_ms = min_time;
    lo.clock = 1;
    int used = 0;
    for (int pass = 0; pass < 2 && used < want; pass++)
        for (int i = 0; i < ps->n && used < want; i++) {
            if (profiled[i] != pass) continue;
            double sum, wb;
            nas_status s = nas_lut_predict_parts(lut, ps->v[i].a, &sum, &wb, err);
            if (s == NAS_ERR_UNSUPPORTED) continue; /* a key the table lacks */
            nas_latency l;
            if (s != NAS_OK || (s = nas_latency_measure(ps->v[i].a, &lo, &l, err)) != NAS_OK ||
                (s = nas_lut_add_fit_network(lut, ps->v[i].a, l.clock_ratio, err)) != NAS_OK)
                return s;
            loops[(*n_loops)++] = l.loop_ms;
            if (++used % 20 == 0)
                NAS_INFO(lg, "profile: %d of %d fit networks measured", used, want);
        }
    nas_error_clear(err);
    return NAS_OK;
}

/* Fits the table's network-level model on its fit networks; prints the fit
 * and its residuals. */
static nas_status fit_table(nas_lut *lut, int min_time, const nas_logger *lg, nas_error *err) {
    nas_status s = nas_lut_fit_compute(lut, err);
    if (s == NAS_ERR_INVALID) {
        NAS_WARN(lg, "profile: no fit (%s); the table predicts sum + constant", err->msg);
        nas_error_clear(err);
        return NAS_OK;
    }
    if (s != NAS_OK) return s;
    const nas_lut_fit *f = nas_lut_get_fit(lut);
    char wterm[64] = "";
    if (f->terms == 3)
        snprintf(wterm, sizeof wterm, " %c %.5f ms x weight MiB",
                 f->weight_ms_per_mib < 0 ? '-' : '+', fabs(f->weight_ms_per_mib));
    printf("fit on %d networks (each timed as nas latency: >= %d runs over >= %d ms): latency = "
           "%.4f x sum%s %c %.4f ms%s\n",
           f->networks, nas_latency_opts_default().runs, min_time, f->scale, wterm, f->offset_ms < 0 ? '-' : '+',
           fabs(f->offset_ms),
           f->terms < 3 ? " (fewer terms: too few or too similar networks)" : "");
    printf("  fit residuals:     MAPE %.2f%%, within +-10%% %.1f%%, worst %.1f%%, mean %+.2f%%\n",
           f->fitted.mape, f->fitted.within10, f->fitted.worst, f->fitted.bias);
    printf("  sum + constant:    MAPE %.2f%%, within +-10%% %.1f%%, worst %.1f%%, mean %+.2f%%\n",
           f->unfitted.mape, f->unfitted.within10, f->unfitted.worst, f->unfitted.bias);
    return NAS_OK;
}

int cmd_profile(int argc, char **argv, const nas_logger *lg) {
    const char *space_path = NULL, *out_path = NULL;
    int threads = 0, samples = 5000, rc = CLI_EXIT_ERROR, isolated = 0;
    long seed = 1;
    int fit_networks = 200, min_time = 500;
    nas_latency_opts o = nas_latency_opts_default();
    ss_space *sp = NULL;
    nas_lut *lut = NULL;
    prof_set ps;
    nas_error err;
    char **seen = NULL;
    int *count = NULL, n_seen = 0, cap_seen = 0;
    double *node_ms = NULL, *consts = NULL;
    double *point = NULL, *loops = NULL;
    char *profiled_net = NULL;
    memset(&ps, 0, sizeof ps);
    nas_error_clear(&err);
    o.runs = 20;
    o.warmup = 5;
    o.clock = 1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int urc = 0;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            profile_usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(s, "--isolated")) {
            isolated = 1;
        } else if (!strcmp(s, "-o") || !strcmp(s, "--output")) {
            if (i + 1 >= argc) return cli_usage_error("profile", "%s needs a file", s);
            out_path = argv[++i];
        } else if (!strcmp(s, "--seed")) {
            if (!cli_parse_seed("profile", s, i + 1 < argc ? argv[++i] : NULL, &seed)) return CLI_EXIT_USAGE;
        } else if (int_flag("profile", argc, argv, &i, "--batch", 1, 65536, &o.batch, &urc) ||
                   int_flag("profile", argc, argv, &i, "--threads", 1, 1024, &threads, &urc) ||
                   int_flag("profile", argc, argv, &i, "--samples", 1, 10000000, &samples, &urc) ||
                   int_flag("profile", argc, argv, &i, "--runs", 1, 100000, &o.runs, &urc) ||
                   int_flag("profile", argc, argv, &i, "--fit-networks", 0, 1000000, &fit_networks,
                            &urc) ||
                   int_flag("profile", argc, argv, &i, "--min-time", 0, 3600000, &min_time, &urc)) {
            if (urc) return urc;
        } else if (s[0] == '-' && s[1]) {
            return cli_usage_error("profile", "unknown option '%s'", s);
        } else if (space_path) {
            return cli_usage_error("profile", "one space file expected, got '%s' and '%s'", space_path, s);
        } else {
            space_path = s;
        }
    }
    if (!space_path) return cli_usage_error("profile", "missing the space file (SPACE.nas)");
    if (!out_path) return cli_usage_error("profile", "missing -o LUT.json");
    if (!threads_fit("profile", threads)) return CLI_EXIT_USAGE;
    /* the table's file is tried before the profiling, not after */
    if (nas_file_check_writable(out_path, &err) != NAS_OK) return cli_fail(&err);
    if (ss_space_compile_file(space_path, stderr, &sp, &err) != NAS_OK) goto fail;
    if (sp->in_c == 0) {
        NAS_FAIL(&err, NAS_ERR_INVALID, "%s: a hyperparameter-only space has no network to profile",
                 space_path);
        goto fail;
    }
    if (nas_latency_pin(threads, &threads, &err) != NAS_OK) goto fail;
    o.threads = threads;
    ps.space = sp;
    ps.err = &err;
    char digits[64];
    double log10_size;
    int finite = ss_space_cardinality(sp, digits, sizeof digits, &log10_size);
    if (finite == 1 && log10_size <= 9 && atof(digits) <= samples) {
        NAS_INFO(lg, "profile: enumerating all %s points of %s", digits, space_path);
        if (ss_space_enumerate(sp, -1, prof_visit, &ps, &err) != NAS_OK) goto fail;
    } else {
        pcg32 rng;
        pcg32_seed(&rng, (uint64_t)seed, 5);
        if (!(point = ss_point_alloc(sp))) goto nomem;
        for (int i = 0; i < samples && !ps.failed; i++) {
            ss_space_sample(sp, &rng, point);
            prof_keep(&ps, point);
        }
    }
    if (ps.failed) goto fail;
    if (ps.n == 0) {
        NAS_FAIL(&err, NAS_ERR_INVALID, "%s: no valid network among the points drawn (%d invalid)",
                 space_path, ps.invalid);
        goto fail;
    }
    for (int i = 0; i < ps.n; i++)
        if (count_keys(ps.v[i].a, &seen, &count, &n_seen, &cap_seen, &err) != NAS_OK) goto fail;
    NAS_INFO(lg, "profile: %d distinct networks, %d distinct op keys (%d points invalid)", ps.n,
             n_seen, ps.invalid);
    nas_machine m;
    nas_machine_describe(threads, o.batch, &m);
    if (!(lut = nas_lut_create(&m))) goto nomem;
    consts = malloc((size_t)ps.n * sizeof *consts);
    profiled_net = calloc((size_t)ps.n, 1);
    if (!consts || !profiled_net) goto nomem;
    /* measure networks until every key has >= 3 samples and >= 20 constants */
    for (int j = 0; j < n_seen; j++) count[j] = 0;
    int n_const = 0, profiled = 0;
    /* the median clock loop time of each network measured (ms) */
    int n_loops = 0;
    if (!(loops = malloc(((size_t)ps.n + (size_t)fit_networks) * sizeof *loops))) goto nomem;
    for (int i = 0; i < ps.n; i++) {
        const nas_arch *a = ps.v[i].a;
        if (n_const >= 20 && !needs_profile(a, seen, count, n_seen, 3)) continue;
        free(node_ms);
        if (!(node_ms = calloc((size_t)a->n_nodes, sizeof *node_ms))) goto nomem;
        double total, sum = 0, loop;
        if (nas_latency_profile_nodes(a, &o, isolated, node_ms, &total, &loop, &err) != NAS_OK)
            goto fail;
        loops[n_loops++] = loop;
        if (nas_lut_add_network(lut, a, node_ms, total, &err) != NAS_OK) goto fail;
        for (int k = 1; k < a->n_nodes; k++) {
            char *key = nas_lut_key(a, k);
            if (!key) continue;
            for (int j = 0; j < n_seen; j++)
                if (!strcmp(seen[j], key)) count[j]++;
            free(key);
            sum += node_ms[k];
        }
        consts[n_const++] = total - sum;
        profiled_net[i] = 1;
        profiled++;
        if (profiled % 10 == 0)
            NAS_INFO(lg, "profile: %d networks measured, %d of %d keys", profiled, nas_lut_size(lut),
                     n_seen);
    }
    /* constant: median over the measured networks of (whole-network median -
     * the sum of its own node medians in the same process): the time no node
     * accounts for (the final reorder, gaps between primitives) */
    qsort(consts, (size_t)n_const, sizeof *consts, cmp_dbl);
    double constant = n_const ? consts[n_const / 2] : 0.0;
    nas_lut_set_constant(lut, constant);
    if (fit_networks > 0 && measure_fit(lut, &ps, profiled_net, fit_networks, &o, min_time,
                                        loops, &n_loops, lg, &err) != NAS_OK)
        goto fail;
    /* every time so far is in units of the clock loop: ms at the clock the
     * machine ran at most of the time (the median over the networks) */
    double clock_ms, p90;
    nas_latency_stats(loops, n_loops, &clock_ms, &p90);
    nas_lut_set_clock(lut, clock_ms);
    printf("%s: %d op keys from %d networks (%d measured), constant %.4f ms, clock loop %.4f ms; "
           "%s, ISA %s, oneDNN %s, %d threads, batch %d\n",
           out_path, nas_lut_size(lut), ps.n, profiled, constant * clock_ms, clock_ms, m.cpu,
           m.isa, m.dnnl, threads, o.batch);
    fflush(stdout);
    if (fit_networks > 0 && fit_table(lut, min_time, lg, &err) != NAS_OK) goto fail;
    if (nas_lut_save(lut, out_path, &err) != NAS_OK) goto fail;
    rc = CLI_EXIT_OK;
    goto done;
nomem:
    NAS_FAIL(&err, NAS_ERR_NOMEM, "profile: out of memory");
fail:
    rc = cli_fail(&err);
done:
    for (int i = 0; i < ps.n; i++) nas_arch_destroy(ps.v[i].a);
    free(ps.v);
    for (int j = 0; j < n_seen; j++) free(seen[j]);
    free(seen);
    free(count);
    free(node_ms);
    free(consts);
    free(point);
    free(loops);
    free(profiled_net);
    nas_lut_destroy(lut);
    ss_space_destroy(sp);
    return rc;
}
