/*
 * search.c - the search job (see search.h): set-up, the trial loop, stage 2.
 *
 * The loop keeps up to P trials in flight. The supernet evaluator scores a
 * candidate in-process (milliseconds to seconds), and the function evaluator
 * calls the caller's objective in-process, so they run one at a time;
 * the train and command evaluators run trial programs in their own process
 * groups (nas/search/trial.h), the train evaluator being this very binary's
 * `nas train` on the proxy task. Every candidate's analytic costs and
 * latency are measured here, in the job's process.
 *
 * Not here: argv parsing (nas/cli/cmd_search.c), listing and exporting
 * trials (nas/report).
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include "nas/search/search.h"

#include <cJSON.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controller/controller.h"
#include "evaluator/cost.h"
#include "evaluator/data.h"
#include "evaluator/latency.h"
#include "evaluator/supernet.h"
#include "evaluator/train.h"
#include "nas/core/fileio.h"
#include "nas/core/json.h"
#include "nas/search/store.h"
#include "nas/search/trial.h"
#include "searchspace/space.h"

#define MAX_PARALLEL 64
#define COST_CACHE 64

typedef enum { EV_SUPERNET, EV_TRAIN, EV_COMMAND, EV_FUNCTION } evaluator_kind;

static const char *EV_NAMES[] = {"supernet", "train", "command", "function"};

/* Spec keys a re-run with the same settings may differ in: limits (each job
 * stores the ones it uses, store_limits; a resume keeps those it is not
 * given), threads, and the clock reference measured when the study was
 * created (the stored one is used). */
static const char *const IGNORE_KEYS[] = {"max_trials",    "parallel_trials", "max_failed_trials",
                                          "time_budget_s", "trial_timeout_s", "threads",
                                          "latency_clock_ms", NULL};

typedef struct cost_entry {
    uint64_t hash;
    int valid;
    ctrl_metrics m;
} cost_entry;

typedef struct slot {
    nas_trial *t;      /* NULL when free */
    int64_t id, number;
    double *point;
    ctrl_metrics costs;
    nas_curve *history; /* other trials' objective curves for the stop rule */
    size_t n_history;
    void *history_mem;  /* steps and values of every curve, one block */
} slot;

typedef struct job {
    nas_search_options o;
    evaluator_kind ev;
    char dir[4096];
    char *spec_json;
    ss_space *space;
    nas_store_lock *lock; /* held from before the store is opened to after it is closed */
    nas_store *store;
    ctrl *ctrl;
    pcg32 rng;
    /* bytes of the controller state in the store: the whole state (0: none
     * yet) and the deltas after it (see snapshot_part) */
    size_t snap_whole, snap_deltas;
    int n_obj;
    ctrl_objective obj[NAS_SEARCH_MAX_OBJECTIVES];
    int n_cons;
    ctrl_constraint cons[NAS_SEARCH_MAX_CONSTRAINTS + 32];
    ctrl_reward reward;
    int latency_constrained;
    nas_lut *lut;
    double clock_ms; /* --latency measure: the study's clock loop reference (0: a study from before it) */
    nas_data *data;
    nas_supernet *sn;
    nas_arch *base;    /* hyperparameter-only space + train evaluator: the network trained */
    cost_entry cache[COST_CACHE];
    slot slots[MAX_PARALLEL];
    int running;
    int64_t completed, failed, pruned;
    double t0;
    int best_number;
    double best_reward;
    /* time budget: stage 2's expected wall time, kept up to date with the best */
    size_t s2_train_n, s2_eval_n; /* images stage 2 trains on / scores in all */
    double s2_model_s;            /* one stage-2 model, estimated for the best trial */
    int s2_checked;               /* the first estimate was weighed against the time left */
    double spent_before;          /* s of the budget earlier runs of the study spent */
    nas_progress bar;
    const nas_logger *lg;
    cpu_set_t cpus; /* the process's CPUs before the job pinned its threads: its programs' */
    int have_cpus;
} job;

void nas_search_options_default(nas_search_options *o) {
    memset(o, 0, sizeof *o);
    o->controller = "evolution";
    o->max_trials = NAS_SEARCH_UNSET;
    o->parallel_trials = NAS_SEARCH_UNSET;
    o->max_failed_trials = NAS_SEARCH_UNSET;
    o->time_budget_s = NAS_SEARCH_UNSET;
    o->trial_timeout_s = NAS_SEARCH_UNSET;
    o->latency = "measure";
    o->latency_threads = 1;
    o->early_stop = "none";
    o->data = "fashion-mnist";
    o->proxy_epochs = 1;
    o->proxy_fraction = 0.2;
    o->supernet_epochs = 6;
    o->supernet_batch = 128;
    o->final_top_k = 3;
    o->final_epochs = 10;
    o->final_augment = 1;
}

/* ---- the job spec ---- */

static int add_str(cJSON *o, const char *k, const char *v) {
    return v ? cJSON_AddStringToObject(o, k, v) != NULL : cJSON_AddNullToObject(o, k) != NULL;
}

static nas_status spec_build(job *j, nas_error *err) {
    const nas_search_options *o = &j->o;
    cJSON *s = cJSON_CreateObject();
    int ok = s != NULL;
    ok = ok && add_str(s, "space", j->space->name);
    ok = ok && add_str(s, "controller", o->controller);
    ok = ok && cJSON_AddNumberToObject(s, "seed", (double)o->seed);
    ok = ok && add_str(s, "evaluator", EV_NAMES[j->ev]);
    ok = ok && add_str(s, "trial_cmd", o->trial_cmd);
    cJSON *objs = ok ? cJSON_AddArrayToObject(s, "objectives") : NULL;
    ok = ok && objs;
    for (int i = 0; ok && i < j->n_obj; i++) {
        char text[96];
        snprintf(text, sizeof text, "%s %s", j->obj[i].maximize ? "maximize" : "minimize", j->obj[i].metric);
        ok = cJSON_AddItemToArray(objs, cJSON_CreateString(text));
    }
    cJSON *cons = ok ? cJSON_AddArrayToObject(s, "constraints") : NULL;
    ok = ok && cons;
    for (int i = 0; ok && i < j->n_cons; i++) ok = cJSON_AddItemToArray(cons, cJSON_CreateString(j->cons[i].text));
    ok = ok && add_str(s, "reward", o->reward ? o->reward : "objective");
    ok = ok && add_str(s, "latency", o->latency);
    ok = ok && cJSON_AddNumberToObject(s, "latency_threads", o->latency_threads);
    if (o->latency && !strcmp(o->latency, "measure")) ok = ok && cJSON_AddNumberToObject(s, "latency_clock_ms", j->clock_ms);
    ok = ok && add_str(s, "early_stop", o->early_stop);
    ok = ok && add_str(s, "data", o->data);
    ok = ok && cJSON_AddNumberToObject(s, "proxy_epochs", o->proxy_epochs);
    ok = ok && cJSON_AddNumberToObject(s, "proxy_fraction", o->proxy_fraction);
    ok = ok && cJSON_AddNumberToObject(s, "supernet_epochs", o->supernet_epochs);
    ok = ok && cJSON_AddNumberToObject(s, "supernet_batch", o->supernet_batch);
    ok = ok && cJSON_AddNumberToObject(s, "final_top_k", o->final_top_k);
    ok = ok && cJSON_AddNumberToObject(s, "final_epochs", o->final_epochs);
    /* only when on: studies from before the option (no key) trained stage 2 without it */
    if (o->final_augment) ok = ok && cJSON_AddTrueToObject(s, "final_augment");
    ok = ok && cJSON_AddNumberToObject(s, "max_trials", o->max_trials);
    ok = ok && cJSON_AddNumberToObject(s, "parallel_trials", o->parallel_trials);
    ok = ok && cJSON_AddNumberToObject(s, "max_failed_trials", o->max_failed_trials);
    ok = ok && cJSON_AddNumberToObject(s, "time_budget_s", o->time_budget_s);
    ok = ok && cJSON_AddNumberToObject(s, "trial_timeout_s", o->trial_timeout_s);
    ok = ok && cJSON_AddNumberToObject(s, "threads", o->threads);
    j->spec_json = ok ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
    if (!j->spec_json) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory building the job spec");
    return NAS_OK;
}

/* Strings read from a stored spec live as long as the job (kept in `keep`). */
typedef struct spec_strings {
    cJSON *root;
} spec_strings;

static const char *spec_str(const cJSON *s, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double spec_num(const cJSON *s, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* A whole number of the stored spec in lo..hi (absent: dflt); a corrupt one
 * (1e300, 2.5, "x") is named rather than converted. */
static nas_status spec_whole(const cJSON *s, const char *k, double lo, double hi, double *out, nas_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, k);
    if (!v) return NAS_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= lo && d <= hi && d == floor(d)))
        return NAS_FAIL(err, NAS_ERR_FORMAT, "the study's job spec: '%s' is not a whole number in %.17g..%.17g", k,
                        lo, hi);
    *out = d;
    return NAS_OK;
}

static nas_status spec_int(const cJSON *s, const char *k, int *out, nas_error *err) {
    double d = *out;
    nas_status st = spec_whole(s, k, INT_MIN, INT_MAX, &d, err);
    *out = (int)d;
    return st;
}

/* Resume: every result-affecting option comes from the stored spec; the
 * ignorable ones keep the caller's values, and the limits the caller left
 * unset are the stored ones. */
static nas_status spec_apply(const char *json, nas_search_options *o, spec_strings *keep, nas_error *err) {
    cJSON *s = cJSON_Parse(json);
    if (!cJSON_IsObject(s)) {
        cJSON_Delete(s);
        return NAS_FAIL(err, NAS_ERR_FORMAT, "the study's job spec is not a JSON object");
    }
    keep->root = s;
    o->controller = spec_str(s, "controller");
    double seed = 0;
    nas_status st = spec_whole(s, "seed", 0, NAS_SEED_MAX, &seed, err);
    o->seed = (uint64_t)seed;
    o->evaluator = spec_str(s, "evaluator");
    o->trial_cmd = spec_str(s, "trial_cmd");
    o->reward = spec_str(s, "reward");
    o->latency = spec_str(s, "latency");
    o->early_stop = spec_str(s, "early_stop");
    if (!o->early_stop) o->early_stop = "none"; /* absent from the spec: no early stopping */
    o->data = spec_str(s, "data");
    o->proxy_fraction = spec_num(s, "proxy_fraction", o->proxy_fraction);
    o->final_augment = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "final_augment"));
    static const struct {
        const char *key;
        size_t at;
    } INTS[] = {
        {"proxy_epochs", offsetof(nas_search_options, proxy_epochs)},
        {"latency_threads", offsetof(nas_search_options, latency_threads)},
        {"supernet_epochs", offsetof(nas_search_options, supernet_epochs)},
        {"supernet_batch", offsetof(nas_search_options, supernet_batch)},
        {"final_top_k", offsetof(nas_search_options, final_top_k)},
        {"final_epochs", offsetof(nas_search_options, final_epochs)},
    };
    for (size_t i = 0; !st && i < sizeof INTS / sizeof INTS[0]; i++)
        st = spec_int(s, INTS[i].key, (int *)((char *)o + INTS[i].at), err);
    /* the limits: the caller's when given, else the stored ones */
    if (!st && o->max_trials == NAS_SEARCH_UNSET) st = spec_int(s, "max_trials", &o->max_trials, err);
    if (!st && o->parallel_trials == NAS_SEARCH_UNSET) st = spec_int(s, "parallel_trials", &o->parallel_trials, err);
    if (!st && o->max_failed_trials == NAS_SEARCH_UNSET)
        st = spec_int(s, "max_failed_trials", &o->max_failed_trials, err);
    if (st) return st;
    if (o->time_budget_s == NAS_SEARCH_UNSET) o->time_budget_s = spec_num(s, "time_budget_s", NAS_SEARCH_UNSET);
    if (o->trial_timeout_s == NAS_SEARCH_UNSET)
        o->trial_timeout_s = spec_num(s, "trial_timeout_s", NAS_SEARCH_UNSET);
    /* objectives and constraints are stored resolved: the space file's ones
       are included, so the space's own are not added again */
    o->n_objectives = 0;
    const cJSON *objs = cJSON_GetObjectItemCaseSensitive(s, "objectives");
    for (const cJSON *e = objs ? objs->child : NULL; e && o->n_objectives < NAS_SEARCH_MAX_OBJECTIVES; e = e->next)
        if (cJSON_IsString(e)) o->objectives[o->n_objectives++] = e->valuestring;
    o->n_constraints = 0;
    const cJSON *cons = cJSON_GetObjectItemCaseSensitive(s, "constraints");
    for (const cJSON *e = cons ? cons->child : NULL; e && o->n_constraints < NAS_SEARCH_MAX_CONSTRAINTS; e = e->next)
        if (cJSON_IsString(e)) o->constraints[o->n_constraints++] = e->valuestring;
    if (!o->controller || !o->evaluator || !o->latency || !o->data)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "the study's job spec misses controller, evaluator, latency or data");
    return NAS_OK;
}

/* The limits still unset (a new study, or one stored without them) take
 * their defaults. */
static void limits_default(nas_search_options *o) {
    if (o->max_trials == NAS_SEARCH_UNSET) o->max_trials = 50;
    if (o->parallel_trials == NAS_SEARCH_UNSET) o->parallel_trials = 1;
    if (o->max_failed_trials == NAS_SEARCH_UNSET) o->max_failed_trials = 10;
    if (o->time_budget_s == NAS_SEARCH_UNSET) o->time_budget_s = 0;
    if (o->trial_timeout_s == NAS_SEARCH_UNSET) o->trial_timeout_s = 0;
}

/* The numbers of the options (after limits_default), named as `nas search`
 * names them. */
static nas_status check_numbers(const nas_search_options *o, nas_error *err) {
    static const struct {
        const char *flag;
        int lo, hi;
        size_t at;
    } INTS[] = {
        {"--max-trials", 1, 1000000, offsetof(nas_search_options, max_trials)},
        {"--parallel-trials", 1, MAX_PARALLEL, offsetof(nas_search_options, parallel_trials)},
        {"--max-failed-trials", 1, 1000000, offsetof(nas_search_options, max_failed_trials)},
        {"--latency-threads", 1, 1024, offsetof(nas_search_options, latency_threads)},
        {"--proxy-epochs", 1, 100000, offsetof(nas_search_options, proxy_epochs)},
        {"--supernet-epochs", 1, 100000, offsetof(nas_search_options, supernet_epochs)},
        {"--supernet-batch", 1, 65536, offsetof(nas_search_options, supernet_batch)},
        {"--final-top-k", 0, 1000, offsetof(nas_search_options, final_top_k)},
        {"--final-epochs", 1, 100000, offsetof(nas_search_options, final_epochs)},
        {"--threads", 0, 1024, offsetof(nas_search_options, threads)},
    };
    for (size_t i = 0; i < sizeof INTS / sizeof INTS[0]; i++) {
        int v = *(const int *)((const char *)o + INTS[i].at);
        if (v < INTS[i].lo || v > INTS[i].hi)
            return NAS_FAIL(err, NAS_ERR_USAGE, "%s must be in %d..%d, got %d", INTS[i].flag, INTS[i].lo,
                            INTS[i].hi, v);
    }
    if (o->seed > (uint64_t)NAS_SEED_MAX)
        return NAS_FAIL(err, NAS_ERR_USAGE, "--seed must be in 0..%.0f (2^53), got %llu", NAS_SEED_MAX,
                        (unsigned long long)o->seed);
    if (!(o->proxy_fraction > 0 && o->proxy_fraction <= 1))
        return NAS_FAIL(err, NAS_ERR_USAGE, "--proxy-fraction must be in (0, 1], got %g", o->proxy_fraction);
    if (!(o->time_budget_s >= 0 && isfinite(o->time_budget_s)))
        return NAS_FAIL(err, NAS_ERR_USAGE, "--time-budget must be a duration >= 0 s, got %g", o->time_budget_s);
    if (!(o->trial_timeout_s >= 0 && isfinite(o->trial_timeout_s)))
        return NAS_FAIL(err, NAS_ERR_USAGE, "--trial-timeout must be a duration >= 0 s, got %g", o->trial_timeout_s);
    return NAS_OK;
}

/* "none" | "median" | "asha"; 0 for another name. */
static int early_stop_kind(const char *name, nas_stop_kind *kind) {
    if (!strcmp(name, "none")) *kind = NAS_STOP_NONE;
    else if (!strcmp(name, "median")) *kind = NAS_STOP_MEDIAN;
    else if (!strcmp(name, "asha")) *kind = NAS_STOP_ASHA;
    else return 0;
    return 1;
}

/* The options named by value, checked before anything is created: the
 * early-stopping rule and the data spec (its syntax; the files are loaded
 * by the evaluators that use them). */
static nas_status check_names(const nas_search_options *o, nas_error *err) {
    nas_stop_kind kind;
    if (!o->early_stop || !early_stop_kind(o->early_stop, &kind))
        return NAS_FAIL(err, NAS_ERR_USAGE, "--early-stop must be none, median or asha, got '%s'",
                        o->early_stop ? o->early_stop : "(null)");
    nas_data_spec ds;
    nas_error e = {0};
    if (!o->data || nas_data_spec_parse(o->data, &ds, &e))
        return NAS_FAIL(err, NAS_ERR_USAGE, "--data '%s': %s", o->data ? o->data : "(null)",
                        o->data ? e.msg : "missing");
    return NAS_OK;
}

static nas_status default_study_dir(const char *space_name, char *out, size_t cap, nas_error *err) {
    char date[16];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(date, sizeof date, "%Y%m%d", &tmv);
    for (int n = 1; n < 100000; n++) {
        snprintf(out, cap, "runs/%s-%s-%d", space_name, date, n);
        if (!nas_path_exists(out)) return NAS_OK;
    }
    return NAS_FAIL(err, NAS_ERR_IO, "runs/: no free study directory name for %s", space_name);
}

/* ---- objectives, constraints, reward ---- */

static const char *cmp_text(ss_cmp c) {
    return c == SS_CMP_LE ? "<=" : c == SS_CMP_LT ? "<" : c == SS_CMP_GE ? ">=" : ">";
}

/* The built-in evaluators report a fixed set of metrics (plus the costs every
 * candidate gets): an objective outside it would fail every trial, so it is
 * refused up front. Trial programs and in-process objectives report what
 * they like. */
static nas_status check_objectives(const job *j, nas_error *err) {
    static const char *const COSTS[] = {"macs", "flops", "params", "memory", "memory_bytes", "train_memory_bytes",
                                        "latency", "latency_ms", NULL};
    static const char *const SUPERNET[] = {"accuracy", "val_loss", "eval_seconds", NULL};
    static const char *const TRAIN[] = NAS_TRAIN_METRICS;
    if (j->ev == EV_COMMAND || j->ev == EV_FUNCTION) return NAS_OK;
    const char *const *own = j->ev == EV_SUPERNET ? SUPERNET : TRAIN;
    for (int i = 0; i < j->n_obj; i++) {
        const char *m = j->obj[i].metric;
        int known = 0;
        for (int k = 0; own[k] && !known; k++) known = !strcmp(m, own[k]);
        for (int k = 0; COSTS[k] && !known; k++) known = !strcmp(m, COSTS[k]);
        if (known) continue;
        char list[256] = "";
        for (int k = 0; own[k]; k++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s, ", own[k]);
        return NAS_FAIL(err, NAS_ERR_USAGE,
                        "objective '%s': the %s evaluator reports %sand the costs (macs, flops, params, "
                        "memory, latency); give --objective or use --trial-cmd with a program that reports it",
                        m, EV_NAMES[j->ev], list);
    }
    return NAS_OK;
}

static nas_status setup_goals(job *j, int from_spec, nas_error *err) {
    const nas_search_options *o = &j->o;
    nas_status s;
    j->n_obj = 0;
    if (o->n_objectives > 0) {
        for (int i = 0; i < o->n_objectives; i++)
            if ((s = ctrl_objective_parse(o->objectives[i], &j->obj[j->n_obj++], err)))
                return nas_error_prefix(err, "--objective '%s'", o->objectives[i]);
    } else if (j->space->n_objectives > 0) {
        for (int i = 0; i < j->space->n_objectives && i < NAS_SEARCH_MAX_OBJECTIVES; i++) {
            snprintf(j->obj[i].metric, sizeof j->obj[i].metric, "%s", j->space->objectives[i].metric);
            j->obj[i].maximize = j->space->objectives[i].maximize;
            j->n_obj++;
        }
    } else {
        snprintf(j->obj[0].metric, sizeof j->obj[0].metric, "accuracy");
        j->obj[0].maximize = 1;
        j->n_obj = 1;
    }
    j->n_cons = 0;
    if (!from_spec) {
        for (int i = 0; i < j->space->n_constraints; i++) {
            const ss_constraint *c = &j->space->constraints[i];
            ctrl_constraint *d = &j->cons[j->n_cons++];
            snprintf(d->metric, sizeof d->metric, "%s", c->metric);
            d->cmp = c->cmp;
            d->value = c->value;
            if (c->text && c->text[0])
                snprintf(d->text, sizeof d->text, "%s", c->text);
            else
                snprintf(d->text, sizeof d->text, "%s %s %g", c->metric, cmp_text(c->cmp), c->value);
        }
    }
    for (int i = 0; i < o->n_constraints; i++)
        if ((s = ctrl_constraint_parse(o->constraints[i], &j->cons[j->n_cons++], err)))
            return nas_error_prefix(err, "--constraint '%s'", o->constraints[i]);
    for (int i = 0; i < j->n_cons; i++)
        if (!strcmp(j->cons[i].metric, "latency") || !strcmp(j->cons[i].metric, "latency_ms"))
            j->latency_constrained = 1;

    if ((s = check_objectives(j, err))) return s;

    const char *r = o->reward ? o->reward : "objective";
    char spec[256];
    if (!strcmp(r, "objective")) {
        snprintf(spec, sizeof spec, "%s %s", j->obj[0].maximize ? "maximize" : "minimize", j->obj[0].metric);
    } else if (!strcmp(r, "mnas") || !strcmp(r, "mnas_soft") || !strcmp(r, "mnas_hard") || !strcmp(r, "tunas")) {
        const ctrl_constraint *lat = NULL;
        for (int i = 0; i < j->n_cons && !lat; i++)
            if (!strcmp(j->cons[i].metric, "latency") || !strcmp(j->cons[i].metric, "latency_ms")) lat = &j->cons[i];
        if (!lat)
            return NAS_FAIL(err, NAS_ERR_USAGE, "--reward %s needs a latency target: add --constraint 'latency<=Xms'", r);
        snprintf(spec, sizeof spec, "%s(%s, latency <= %.17gms)",
                 !strcmp(r, "mnas") ? "mnas_soft" : r, j->obj[0].metric, lat->value);
    } else if (!strcmp(r, "weighted")) {
        size_t k = (size_t)snprintf(spec, sizeof spec, "weighted(");
        for (int i = 0; i < j->n_obj && k < sizeof spec; i++)
            k += (size_t)snprintf(spec + k, sizeof spec - k, "%s%s %s * 1", i ? ", " : "",
                                  j->obj[i].maximize ? "maximize" : "minimize", j->obj[i].metric);
        if (k < sizeof spec) snprintf(spec + k, sizeof spec - k, ")");
    } else {
        return NAS_FAIL(err, NAS_ERR_USAGE, "--reward must be objective, mnas, mnas_hard, tunas or weighted, got '%s'", r);
    }
    if ((s = ctrl_reward_parse(spec, &j->reward, err))) return nas_error_prefix(err, "reward '%s'", spec);
    return NAS_OK;
}

/* ---- costs of a candidate ---- */

static int arch_has_network(const nas_arch *a) { return a->n_nodes > 0; }

/* Latency at batch 1 on o.latency_threads threads: the engine is built and
 * run under that thread count, then the job's count is restored (oneDNN
 * primitives keep the count they were created with). */
static nas_status measure_latency(job *j, const nas_arch *a, nas_latency_opts *lo, nas_latency *out,
                                  nas_error *err) {
    int saved = omp_get_max_threads();
    omp_set_num_threads(j->o.latency_threads);
    lo->threads = j->o.latency_threads;
    lo->clock = j->clock_ms > 0;
    nas_status s = nas_latency_measure(a, lo, out, err);
    omp_set_num_threads(saved);
    return s;
}

/* A measurement in the study's unit: clock-normalized (each run divided by
 * the clock loop timed right after it, times the reference stored with the
 * study), so that a candidate measured while the machine's clock is down
 * reads as it would at the study's clock; plain fastest-block milliseconds
 * for a study from before the reference. */
static double latency_ms(const job *j, const nas_latency *l) {
    return j->clock_ms > 0 ? l->clock_ratio * j->clock_ms : l->block_ms;
}

/* Analytic costs and latency of a (batch 1). */
static nas_status measure_costs(job *j, const nas_arch *a, int with_latency, ctrl_metrics *m, nas_error *err) {
    ctrl_metrics_init(m);
    if (!arch_has_network(a)) return NAS_OK;
    nas_cost c;
    nas_status s = nas_cost_compute(a, 1, NAS_COST_OPTIM_MOMENTUM, &c, err);
    if (s) return s;
    ctrl_metrics_set(m, "macs", (double)c.macs, NULL);
    ctrl_metrics_set(m, "flops", (double)c.flops, NULL);
    ctrl_metrics_set(m, "params", (double)c.params, NULL);
    ctrl_metrics_set(m, "memory_bytes", (double)c.memory_bytes_batch1, NULL);
    ctrl_metrics_set(m, "train_memory_bytes", (double)c.train_memory_bytes, NULL);
    nas_cost_deinit(&c);
    if (!with_latency) return NAS_OK;
    double ms;
    if (j->lut) {
        if ((s = nas_lut_predict(j->lut, a, &ms, err))) return s;
    } else {
        /* what `nas latency` reports (the fastest block of NAS_LATENCY_BLOCK
           runs), over 3 blocks instead of its 0.5 s: a few ms per trial */
        nas_latency_opts lo = nas_latency_opts_default();
        lo.warmup = 3;
        lo.runs = 3 * NAS_LATENCY_BLOCK;
        nas_latency lat;
        if ((s = measure_latency(j, a, &lo, &lat, err))) return s;
        ms = latency_ms(j, &lat);
    }
    ctrl_metrics_set(m, "latency_ms", ms, NULL);
    return NAS_OK;
}

/* The costs of a point, cached by point hash (constraint checks and the
 * trial itself ask for the same point); none without a network. */
static nas_status point_costs(job *j, const double *pt, int with_latency, ctrl_metrics *m, nas_error *err) {
    if (j->space->in_c == 0) { /* a hyperparameter-only space: no network to cost */
        ctrl_metrics_init(m);
        return NAS_OK;
    }
    uint64_t h = ss_point_hash(j->space, pt);
    cost_entry *e = &j->cache[h % COST_CACHE];
    double tmp;
    if (e->valid && e->hash == h && (!with_latency || ctrl_metrics_get(&e->m, "latency_ms", &tmp) || e->m.n == 0)) {
        *m = e->m;
        return NAS_OK;
    }
    nas_arch *a = NULL;
    nas_status s = ss_space_realize(j->space, pt, &a, err);
    if (!s) s = measure_costs(j, a, with_latency, m, err);
    nas_arch_destroy(a);
    if (s) return s;
    e->hash = h;
    e->valid = 1;
    e->m = *m;
    return NAS_OK;
}

static int feasible(void *user, const double *pt, char *why, size_t cap) {
    job *j = user;
    if (j->n_cons == 0) return 1;
    ctrl_metrics m;
    nas_error e = {0};
    if (point_costs(j, pt, j->latency_constrained, &m, &e)) {
        snprintf(why, cap, "%s", e.msg);
        return 0;
    }
    int ok = 0;
    if (ctrl_constraints_check(j->cons, j->n_cons, &m, &ok, why, cap, &e)) {
        snprintf(why, cap, "%s", e.msg);
        return 0;
    }
    return ok;
}

/* ---- set-up ---- */

/* One job per study (store.h): the lock is taken before the store is opened,
 * so a job refused because another one runs reads and writes nothing there.
 * A new study's directory is created here; resuming needs an existing study
 * (no lock file is left in a directory that holds none). */
static nas_status lock_study(job *j, nas_error *err) {
    nas_status s;
    if (j->o.resume) {
        char db[4200];
        snprintf(db, sizeof db, "%s/study.db", j->dir);
        if (!nas_path_exists(db)) return NAS_FAIL(err, NAS_ERR_IO, "%s: no study here (no such file)", db);
    } else if ((s = nas_mkdir_p(j->dir, err))) {
        return s;
    }
    return nas_store_lock_acquire(j->dir, &j->lock, err);
}

static nas_status open_space_and_store(job *j, spec_strings *keep, nas_error *err) {
    nas_search_options *o = &j->o;
    nas_status s;
    char *src = NULL;
    size_t len = 0;
    if (o->resume) {
        if (!o->study_dir) return NAS_FAIL(err, NAS_ERR_USAGE, "--resume needs the study directory");
        snprintf(j->dir, sizeof j->dir, "%s", o->study_dir);
        if ((s = lock_study(j, err))) return s;
        if ((s = nas_store_open(j->dir, NULL, &j->store, err))) return s;
        if ((s = nas_store_upgrade(j->store, err))) return s;
        if ((s = spec_apply(nas_store_spec_json(j->store), o, keep, err))) return s;
        const char *stored = nas_store_space_source(j->store);
        if ((s = ss_space_compile_string(nas_store_space_name(j->store), stored, strlen(stored), stderr,
                                         &j->space, err)))
            return nas_error_prefix(err, "the study's space");
        return NAS_OK;
    }
    if (!o->space_path) return NAS_FAIL(err, NAS_ERR_USAGE, "a space file is required");
    if ((s = ss_space_compile_file(o->space_path, stderr, &j->space, err))) return s;
    if ((s = nas_file_read(o->space_path, &src, &len, err))) return s;
    if (o->study_dir)
        snprintf(j->dir, sizeof j->dir, "%s", o->study_dir);
    else if ((s = default_study_dir(j->space->name, j->dir, sizeof j->dir, err))) {
        free(src);
        return s;
    }
    free(src);
    return NAS_OK;
}

static nas_status choose_evaluator(job *j, nas_error *err) {
    const char *e = j->o.evaluator;
    int hparam_only = j->space->in_c == 0;
    if (j->o.trial_cmd && !j->o.trial_cmd[strspn(j->o.trial_cmd, " \t\n")])
        return NAS_FAIL(err, NAS_ERR_USAGE, "--trial-cmd is empty: give the command that runs a trial");
    if (!e) e = j->o.objective ? "function" : j->o.trial_cmd ? "command" : hparam_only ? "train" : "supernet";
    if (!strcmp(e, "supernet")) j->ev = EV_SUPERNET;
    else if (!strcmp(e, "train")) j->ev = EV_TRAIN;
    else if (!strcmp(e, "command")) j->ev = EV_COMMAND;
    else if (!strcmp(e, "function")) j->ev = EV_FUNCTION;
    else return NAS_FAIL(err, NAS_ERR_USAGE, "--evaluator must be supernet, train or command "
                            "(or function, with an objective function), got '%s'", e);
    if (j->ev == EV_COMMAND && !j->o.trial_cmd)
        return NAS_FAIL(err, NAS_ERR_USAGE, "the command evaluator needs --trial-cmd");
    if (j->ev == EV_FUNCTION && !j->o.objective)
        return NAS_FAIL(err, NAS_ERR_USAGE,
                        j->o.resume ? "%s: this study's trials are scored by an in-process objective function "
                                      "(evaluator 'function'); only a program passing that function "
                                      "(nas_search_options.objective) can resume it"
                                    : "%s: the function evaluator needs an objective function "
                                      "(nas_search_options.objective)",
                        j->dir);
    if (j->ev != EV_FUNCTION && j->o.objective)
        return NAS_FAIL(err, NAS_ERR_USAGE, "%s: an objective function is given but the evaluator is '%s'", j->dir,
                        EV_NAMES[j->ev]);
    if (j->ev == EV_SUPERNET && hparam_only)
        return NAS_FAIL(err, NAS_ERR_USAGE,
                        "space '%s' has no network: the supernet evaluator needs an architecture space "
                        "(use --evaluator train or --trial-cmd)", j->space->name);
    if ((j->ev == EV_SUPERNET || j->ev == EV_TRAIN) && !j->o.self_exe)
        return NAS_FAIL(err, NAS_ERR_INTERNAL, "the path of the nas binary is unknown");
    return NAS_OK;
}

/* A trial program left running by a killed job: its process group is killed
 * when /proc shows it is still that trial (its environment names the trial
 * dir), so a reused pid is never touched. */
static int kill_orphan(void *user, const nas_trial_record *r) {
    (void)user;
    if (r->worker_pid <= 1 || !r->trial_dir) return 0;
    char path[64], *env = NULL, want[4300];
    size_t len = 0;
    snprintf(path, sizeof path, "/proc/%lld/environ", (long long)r->worker_pid);
    if (nas_file_read(path, &env, &len, NULL)) return 0;
    snprintf(want, sizeof want, "NAS_TRIAL_DIR=%s", r->trial_dir);
    int ours = 0;
    for (size_t i = 0; i < len; i += strlen(env + i) + 1)
        if (!strcmp(env + i, want)) ours = 1;
    free(env);
    if (ours) kill(-(pid_t)r->worker_pid, SIGKILL);
    return 0;
}

/* The controller, created before the study is: an unknown kind leaves no
 * study behind. */
static nas_status setup_controller(job *j, nas_error *err) {
    ctrl_options co = ctrl_options_default();
    co.kind = j->o.controller;
    co.n_objectives = j->n_obj;
    co.feasible = feasible;
    co.feasible_user = j;
    if (ctrl_create(j->space, &co, &j->ctrl, err)) return nas_error_prefix(err, "--controller '%s'", co.kind);
    return NAS_OK;
}

/* The limits this run uses, stored with the study: a later resume that
 * gives none keeps them. */
static nas_status store_limits(job *j, nas_error *err) {
    char patch[256];
    snprintf(patch, sizeof patch,
             "{\"max_trials\":%d,\"parallel_trials\":%d,\"max_failed_trials\":%d,\"time_budget_s\":%.17g,"
             "\"trial_timeout_s\":%.17g}",
             j->o.max_trials, j->o.parallel_trials, j->o.max_failed_trials, j->o.time_budget_s, j->o.trial_timeout_s);
    return nas_store_spec_merge(j->store, patch, err);
}

static nas_status setup_store(job *j, nas_error *err) {
    nas_status s;
    if (!j->store) {
        char *src = NULL;
        size_t len;
        if ((s = lock_study(j, err))) return s;
        if ((s = nas_file_read(j->o.space_path, &src, &len, err))) return s;
        nas_store_study st = {j->spec_json, src, j->space->name, j->space->hash, IGNORE_KEYS};
        s = nas_store_open(j->dir, &st, &j->store, err);
        free(src);
        if (!s) s = nas_store_upgrade(j->store, err);
        if (s) return s;
    }
    /* the time budget is the study's: what earlier runs spent (up to their
       last recorded trial) counts; read before anything is written */
    char *spent = NULL;
    if ((s = nas_store_kv_get(j->store, "elapsed_s", &spent, err))) return s;
    if (spent) {
        char *end;
        double e = strtod(spent, &end);
        if (*end || end == spent || !(e >= 0 && e < 1e12)) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT,
                         "%s: the study's elapsed_s is '%.40s', not a duration in s (delete the row: sqlite3 "
                         "%s/study.db \"DELETE FROM kv WHERE key = 'elapsed_s'\")",
                         j->dir, spent, j->dir);
            free(spent);
            return s;
        }
        free(spent);
        j->t0 -= e;
        j->spent_before = e;
        if (j->o.time_budget_s > 0)
            nas_log(j->lg, NAS_LOG_INFO,
                    "time budget: earlier runs of the study spent %.0f of its %.0f s (a larger --time-budget "
                    "searches longer)",
                    e, j->o.time_budget_s);
    }
    if ((s = store_limits(j, err))) return s;
    pcg32_seed(&j->rng, j->o.seed, 0x5ea4c4);
    nas_store_snapshot snap;
    s = nas_store_snapshot_load(j->store, &snap, err);
    int found = snap.n > 0;
    if (!s && found) {
        s = ctrl_load_chain(j->ctrl, snap.n, (const unsigned char *const *)snap.parts, snap.lens, err);
        if (s) nas_error_prefix(err, "%s: controller snapshot", j->dir);
        j->rng = snap.rng;
        j->snap_whole = snap.lens[0];
        for (int i = 1; i < snap.n; i++) j->snap_deltas += snap.lens[i];
    }
    nas_store_snapshot_free(&snap);
    if (s) return s;
    nas_store_trial_each(j->store, 1u << NAS_TRIAL_RUNNING, kill_orphan, NULL, NULL);
    int64_t requeued = 0;
    if ((s = nas_store_requeue_running(j->store, &requeued, err))) return s;
    int64_t counts[NAS_TRIAL_STATE_COUNT];
    if ((s = nas_store_trial_counts(j->store, counts, err))) return s;
    j->completed = counts[NAS_TRIAL_COMPLETE];
    j->failed = counts[NAS_TRIAL_FAILED];
    j->pruned = counts[NAS_TRIAL_PRUNED];
    if (found)
        nas_log(j->lg, NAS_LOG_INFO, "resuming %s: %lld complete, %lld failed, %lld to re-run, %.0f s spent", j->dir,
                (long long)j->completed, (long long)j->failed, (long long)counts[NAS_TRIAL_PENDING],
                nas_time_now() - j->t0);
    return nas_store_set_status(j->store, "running", err);
}

/* --latency, before the study is created: lut:FILE loads the table (a
 * missing or bad table leaves no study behind). */
static nas_status setup_latency_source(job *j, nas_error *err) {
    const char *lat = j->o.latency;
    if (lat && !strncmp(lat, "lut:", 4)) {
        if (nas_lut_load(lat + 4, &j->lut, err)) return nas_error_prefix(err, "--latency %s", lat);
        nas_machine here;
        nas_machine_describe(j->o.threads > 0 ? j->o.threads : 1, 1, &here);
        char msg[512];
        if (nas_lut_machine_mismatch(j->lut, &here, msg, sizeof msg))
            nas_log(j->lg, NAS_LOG_WARN, "%s: %s", lat + 4, msg);
    } else if (!lat || strcmp(lat, "measure")) {
        return NAS_FAIL(err, NAS_ERR_USAGE, "--latency must be measure or lut:FILE, got '%s'", lat ? lat : "(null)");
    }
    return NAS_OK;
}

/* --latency measure: the study's clock reference (setup_latency_source ran). */
static nas_status setup_latency(job *j, nas_error *err) {
    if (!j->lut) {
        cJSON *spec = cJSON_Parse(nas_store_spec_json(j->store));
        j->clock_ms = spec_num(spec, "latency_clock_ms", 0);
        cJSON_Delete(spec);
        if (!(j->clock_ms >= 0 && j->clock_ms < 1e3))
            return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: the study's latency_clock_ms is %g, not a loop time in ms",
                            j->dir, j->clock_ms);
        if (j->clock_ms > 0)
            nas_log(j->lg, NAS_LOG_INFO, "latency: measured clock-normalized, in ms at the study's reference clock "
                    "(clock loop %.4f ms)", j->clock_ms);
    }
    return NAS_OK;
}

static void slot_history_free(slot *sl);

/* The study's time spent so far, kept with every recorded trial (in the
 * same transaction) for the time budget of a later run. */
static nas_status save_elapsed(job *j, nas_error *err) {
    char v[32];
    snprintf(v, sizeof v, "%.3f", nas_time_now() - j->t0);
    return nas_store_kv_set(j->store, "elapsed_s", v, err);
}

/* The caller asked the job to stop (nas_search_options.stop). */
static int stop_requested(const job *j) { return j->o.stop && *j->o.stop; }

/* The job stops on request: trial programs still running are ended and
 * their trials go back to pending (a resume re-runs them, as after a kill),
 * the study is marked stopped. Returns NAS_ERR_INTERRUPTED, or the store's
 * error. */
static nas_status stop_job(job *j, nas_error *err) {
    for (int i = 0; i < MAX_PARALLEL; i++) /* all at once: one grace period for them all */
        if (j->slots[i].t) nas_trial_cancel(j->slots[i].t, "stopped");
    for (int i = 0; i < MAX_PARALLEL; i++) {
        slot *sl = &j->slots[i];
        if (!sl->t) continue;
        size_t k;
        nas_error e = {0};
        nas_trial_wait_any(&sl->t, 1, -1, &k, &e); /* the kill grace period bounds it */
        nas_trial_destroy(sl->t);
        sl->t = NULL;
        slot_history_free(sl);
        j->running--;
    }
    int64_t requeued = 0;
    nas_status s = nas_store_requeue_running(j->store, &requeued, err);
    if (!s) s = nas_store_set_status(j->store, "stopped", err);
    if (s) return s;
    return NAS_FAIL(err, NAS_ERR_INTERRUPTED,
                    "stopped on request: %lld trial%s back to pending; continue with `nas search --resume %s`",
                    (long long)requeued, requeued == 1 ? "" : "s", j->dir);
}

static int supernet_epoch_line(void *user, const nas_supernet_report *r) {
    job *j = user;
    nas_log(j->lg, NAS_LOG_INFO, "supernet epoch %d/%d  loss %.4f  acc %.2f%%  %.1f s", r->epoch, r->epochs,
            r->train_loss, 100 * r->train_acc, r->seconds);
    return 0; /* a stop request ends training within a step (cfg.stop) */
}

/* The supernet scores architectures: a hyperparameter decision of the space
 * is sampled and stored with each trial but cannot change its score, so the
 * controller learns nothing about it. Said once, since a space may mean it
 * (stage 2 trains with the retrained trials' values). */
static void warn_supernet_hparams(const job *j) {
    char names[512] = "";
    int n = 0;
    for (int i = 0; i < j->space->n_decisions; i++) {
        if (!j->space->decisions[i].is_hparam) continue;
        size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s%s", n ? ", " : "", j->space->decisions[i].name);
        n++;
    }
    if (n)
        nas_log(j->lg, NAS_LOG_WARN,
                "space '%s': %s %s %s not change a candidate's supernet score (the supernet scores "
                "architectures), so the search cannot tell %s values apart; stage 2 trains with the values "
                "of the trials it retrains",
                j->space->name, n == 1 ? "hyperparameter" : "hyperparameters", names, n == 1 ? "does" : "do",
                n == 1 ? "its" : "their");
}

static nas_status setup_supernet(job *j, nas_error *err) {
    nas_status s;
    warn_supernet_hparams(j);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/supernet", j->dir);
    nas_supernet_config cfg;
    nas_supernet_config_default(&cfg);
    cfg.epochs = j->o.supernet_epochs;
    cfg.batch = j->o.supernet_batch;
    cfg.seed = j->o.seed;
    cfg.train_fraction = j->o.proxy_fraction;
    cfg.data_seed = j->o.seed;
    snprintf(cfg.data_spec, sizeof cfg.data_spec, "%s", j->o.data);
    cfg.lg = j->lg;
    cfg.progress = j->o.progress;
    cfg.on_epoch = supernet_epoch_line;
    cfg.user = j;
    cfg.stop = j->o.stop;
    if (nas_supernet_exists(dir)) {
        if ((s = nas_supernet_load(j->space, dir, &cfg, &j->sn, err))) return s;
        nas_supernet_set_epochs(j->sn, j->o.supernet_epochs);
    } else {
        if ((s = nas_supernet_create(j->space, &cfg, &j->sn, err))) return s;
    }
    const nas_supernet_config *used = nas_supernet_get_config(j->sn);
    nas_data_options dopt;
    nas_supernet_data_options(used, &dopt);
    if ((s = nas_data_load(used->data_spec, &dopt, &j->data, err))) return s;
    if ((s = ss_space_set_input(j->space, j->data->train.c, j->data->train.h, j->data->train.w, err))) return s;
    if ((s = nas_store_kv_set(j->store, "supernet_dir", dir, err))) return s;
    if (nas_supernet_epoch(j->sn) < j->o.supernet_epochs) {
        nas_log(j->lg, NAS_LOG_INFO, "training the supernet: %d epochs on %zu images (%s)", j->o.supernet_epochs,
                j->data->train.n, j->data->name);
        nas_supernet_result r;
        s = nas_supernet_train(j->sn, j->data, dir, &r, err);
        /* an epoch under way is dropped: the last checkpoint stands */
        if ((s == NAS_OK || s == NAS_ERR_INTERRUPTED) && stop_requested(j)) return stop_job(j, err);
        if (s) return s;
    }
    return NAS_OK;
}

/* ---- recording results ---- */

static void update_best(job *j, int64_t number, double reward) {
    if (j->best_number < 0 || reward > j->best_reward) {
        j->best_number = (int)number;
        j->best_reward = reward;
    }
}

static char *metrics_to_json(const ctrl_metrics *m) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < m->n; i++) cJSON_AddNumberToObject(o, m->items[i].name, m->items[i].value);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

static void plan_stage2(job *j, const double *pt);

/* The controller's state as the next snapshot part: a delta (what changed
 * since the last part) while the deltas stored since the whole state add
 * up to less than it, else the whole state again. A study's snapshots then
 * cost about as many bytes per trial at 10,000 trials as at 10, where saving
 * the whole state every time grew with every trial (docs/benchmarks.md). */
static nas_status snapshot_part(job *j, unsigned char **buf, size_t *len, int *append, nas_error *err) {
    *append = j->snap_whole > 0 && j->snap_deltas < j->snap_whole;
    return ctrl_save(j->ctrl, *append, buf, len, err);
}

/* Once the transaction holding the part committed. */
static void snapshot_stored(job *j, size_t len, int append) {
    if (append) {
        j->snap_deltas += len;
    } else {
        j->snap_whole = len;
        j->snap_deltas = 0;
    }
    ctrl_mark_saved(j->ctrl);
}

/* complete + observe + snapshot as one transaction. */
static nas_status record_complete(job *j, int64_t id, int64_t number, const double *pt, ctrl_metrics *m,
                                  const nas_metric_step *series, size_t n_series, nas_error *err) {
    nas_status s;
    double rewards[NAS_SEARCH_MAX_OBJECTIVES], reward = 0;
    if (j->n_obj > 1)
        s = ctrl_objectives_rewards(j->obj, j->n_obj, m, rewards, err);
    else
        s = ctrl_reward_compute(&j->reward, m, &rewards[0], err);
    if (s) return s;
    reward = rewards[0];
    ctrl_metrics_set(m, "reward", reward, NULL);
    char *mj = metrics_to_json(m);
    if (!mj) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    unsigned char *state = NULL;
    size_t len = 0;
    int append = 0;
    if ((s = ctrl_observe(j->ctrl, pt, rewards, err))) goto done;
    if ((s = snapshot_part(j, &state, &len, &append, err))) goto done;
    if ((s = nas_store_begin(j->store, err))) goto done;
    if ((s = nas_store_trial_complete(j->store, id, mj, series, n_series, err)) ||
        (s = nas_store_snapshot_save(j->store, state, len, &j->rng, ctrl_n_trials(j->ctrl, NULL, NULL, NULL), append,
                                     err)) ||
        (s = save_elapsed(j, err))) {
        nas_store_rollback(j->store, NULL);
        goto done;
    }
    s = nas_store_commit(j->store, err);
    if (!s) {
        snapshot_stored(j, len, append);
        j->completed++;
        int before = j->best_number;
        update_best(j, number, reward);
        if (j->best_number != before) plan_stage2(j, pt);
    }
done:
    free(state);
    cJSON_free(mj);
    return s;
}

static nas_status record_failed(job *j, int64_t id, const double *pt, int pruned, const char *reason,
                                const char *metrics_json, const char *stderr_tail,
                                const nas_metric_step *series, size_t n_series, nas_error *err) {
    nas_status s;
    unsigned char *state = NULL;
    size_t len = 0;
    int append = 0;
    if ((s = ctrl_observe_failed(j->ctrl, pt, err))) return s;
    if ((s = snapshot_part(j, &state, &len, &append, err))) return s;
    if ((s = nas_store_begin(j->store, err))) goto done;
    s = pruned ? nas_store_trial_prune(j->store, id, reason, metrics_json, series, n_series, err)
               : nas_store_trial_fail(j->store, id, reason, stderr_tail, err);
    if (!s)
        s = nas_store_snapshot_save(j->store, state, len, &j->rng, ctrl_n_trials(j->ctrl, NULL, NULL, NULL), append,
                                    err);
    if (!s) s = save_elapsed(j, err);
    if (s) {
        nas_store_rollback(j->store, NULL);
        goto done;
    }
    if (!(s = nas_store_commit(j->store, err))) {
        snapshot_stored(j, len, append);
        if (pruned) j->pruned++;
        else j->failed++;
    }
done:
    free(state);
    return s;
}

/* ---- proposing ---- */

/* A pending trial of the store (requeued after a crash) with its point, or a
 * fresh proposal inserted with a controller snapshot (and, for the function
 * evaluator, started: one transaction). *got = 0 when the controller has
 * nothing left. */
typedef struct next_trial {
    int64_t id, number;
    int attempts; /* earlier starts (a re-run after a crash) */
    int started;  /* already running in the store */
    char *arch_json;
} next_trial;

/* DIR/trials/<n>, or DIR/trials/<n>.<k> for the k-th re-run, so that a
 * program orphaned by a killed job never writes into the new attempt's files. */
static void trial_dir(const job *j, const next_trial *nt, char *out, size_t cap) {
    if (nt->attempts > 0)
        snprintf(out, cap, "%s/trials/%lld.%d", j->dir, (long long)nt->number, nt->attempts);
    else
        snprintf(out, cap, "%s/trials/%lld", j->dir, (long long)nt->number);
}

static int first_pending(void *user, const nas_trial_record *r) {
    job *j = ((void **)user)[0];
    next_trial *nt = ((void **)user)[1];
    double *pt = ((void **)user)[2];
    for (int i = 0; i < MAX_PARALLEL; i++)
        if (j->slots[i].t && j->slots[i].id == r->id) return 0; /* already in flight */
    nas_error e;
    if (ss_point_from_json(j->space, r->point_json, pt, &e)) return 0;
    nt->id = r->id;
    nt->number = r->number;
    nt->attempts = r->attempts;
    nt->arch_json = r->arch_json ? strdup(r->arch_json) : NULL;
    return 1;
}

static nas_status next_point(job *j, double *pt, next_trial *nt, int *got, nas_error *err) {
    nas_status s;
    *got = 0;
    memset(nt, 0, sizeof *nt);
    nt->id = -1;
    void *ud[3] = {j, nt, pt};
    if ((s = nas_store_trial_each(j->store, 1u << NAS_TRIAL_PENDING, first_pending, ud, err))) return s;
    if (nt->id >= 0) {
        *got = 1;
        return NAS_OK;
    }
    s = ctrl_propose(j->ctrl, &j->rng, pt, err);
    if (s == NAS_ERR_EXHAUSTED) return NAS_OK;
    if (s) return s;
    nas_arch *a = NULL;
    char *arch_json = NULL, *point_json = NULL, hash[24];
    unsigned char *state = NULL;
    size_t len = 0;
    int append = 0;
    if ((s = ss_space_realize(j->space, pt, &a, err))) goto done;
    snprintf(a->space_name, sizeof a->space_name, "%s", j->space->name);
    if ((s = nas_arch_to_json(a, &arch_json, err))) goto done;
    point_json = ss_point_to_json(j->space, pt);
    if (!point_json) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
        goto done;
    }
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)ss_point_hash(j->space, pt));
    if ((s = snapshot_part(j, &state, &len, &append, err))) goto done;
    if ((s = nas_store_begin(j->store, err))) goto done;
    if ((s = nas_store_trial_insert(j->store, point_json, hash, arch_json, &nt->id, &nt->number, err)) ||
        (s = nas_store_snapshot_save(j->store, state, len, &j->rng, ctrl_n_trials(j->ctrl, NULL, NULL, NULL), append,
                                     err))) {
        nas_store_rollback(j->store, NULL);
        goto done;
    }
    if (j->ev == EV_FUNCTION) {
        if ((s = nas_store_trial_start(j->store, nt->id, 0, NULL, err))) {
            nas_store_rollback(j->store, NULL);
            goto done;
        }
        nt->started = 1;
    }
    if ((s = nas_store_commit(j->store, err))) goto done;
    snapshot_stored(j, len, append);
    nt->arch_json = arch_json;
    arch_json = NULL;
    *got = 1;
done:
    nas_arch_destroy(a);
    free(arch_json);
    free(point_json);
    free(state);
    return s;
}

/* ---- evaluating ---- */

static nas_status eval_supernet(job *j, const double *pt, const next_trial *nt, nas_error *err) {
    nas_status s;
    nas_arch *a = NULL;
    ctrl_metrics m;
    char dir[4200];
    trial_dir(j, nt, dir, sizeof dir);
    if ((s = nas_store_trial_start(j->store, nt->id, 0, dir, err))) return s;
    if ((s = ss_space_realize(j->space, pt, &a, err))) goto fail_trial;
    nas_supernet_score_options so;
    nas_supernet_score_options_default(&so);
    so.seed = j->o.seed;
    nas_supernet_score sc;
    if ((s = nas_supernet_score_arch(j->sn, a, j->data, &so, &sc, err))) goto fail_trial;
    if ((s = point_costs(j, pt, 1, &m, err))) goto fail_trial;
    ctrl_metrics_set(&m, "accuracy", sc.val_acc, NULL);
    ctrl_metrics_set(&m, "val_loss", sc.val_loss, NULL);
    ctrl_metrics_set(&m, "eval_seconds", sc.seconds, NULL);
    nas_arch_destroy(a);
    return record_complete(j, nt->id, nt->number, pt, &m, NULL, 0, err);
fail_trial:
    nas_arch_destroy(a);
    {
        nas_error e2 = {0};
        char reason[NAS_ERROR_MSG_MAX];
        snprintf(reason, sizeof reason, "%s", err ? err->msg : "evaluation failed");
        return record_failed(j, nt->id, pt, 0, reason, NULL, NULL, NULL, 0, &e2) ? e2.code : NAS_OK;
    }
}

/* The caller's objective, in-process. Its failure, or a missing or
 * non-finite objective metric, fails the trial; the job goes on. */
static nas_status eval_function(job *j, const double *pt, const next_trial *nt, nas_error *err) {
    nas_status s;
    nas_arch *a = NULL;
    ctrl_metrics m;
    nas_error fe = {0};
    char reason[NAS_ERROR_MSG_MAX] = "";
    if (!nt->started && (s = nas_store_trial_start(j->store, nt->id, 0, NULL, err))) return s;
    if (!(s = ss_space_realize(j->space, pt, &a, &fe)) && !(s = point_costs(j, pt, 1, &m, &fe))) {
        snprintf(a->space_name, sizeof a->space_name, "%s", j->space->name);
        s = j->o.objective(j->o.objective_user, nt->number, a, pt, &m, &fe);
    }
    nas_arch_destroy(a);
    if (s) snprintf(reason, sizeof reason, "%s", fe.msg[0] ? fe.msg : nas_status_str(s));
    for (int i = 0; !reason[0] && i < j->n_obj; i++) {
        double v;
        if (!ctrl_metrics_get(&m, j->obj[i].metric, &v))
            snprintf(reason, sizeof reason, "metric '%s' never reported", j->obj[i].metric);
        else if (!isfinite(v))
            snprintf(reason, sizeof reason, "metric '%s' is %g", j->obj[i].metric, v);
    }
    if (reason[0]) return record_failed(j, nt->id, pt, 0, reason, NULL, NULL, NULL, 0, err);
    return record_complete(j, nt->id, nt->number, pt, &m, NULL, 0, err);
}

/* ---- early-stopping history ---- */

typedef struct hist_ctx {
    job *j;
    nas_curve *curves;
    size_t n, cap;
    nas_status s;
    nas_error *err;
    void **blocks;
} hist_ctx;

static int add_curve(void *user, const nas_trial_record *r) {
    hist_ctx *h = user;
    nas_metric_step *v = NULL;
    size_t n = 0;
    if ((h->s = nas_store_trial_values(h->j->store, r->id, h->j->obj[0].metric, &v, &n, h->err))) return 1;
    if (n == 0) {
        free(v);
        return 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        nas_curve *c = realloc(h->curves, cap * sizeof *c);
        void **b = realloc(h->blocks, cap * sizeof *b);
        if (c) h->curves = c;
        if (b) h->blocks = b;
        if (!c || !b) {
            free(v);
            h->s = NAS_FAIL(h->err, NAS_ERR_NOMEM, "out of memory");
            return 1;
        }
        h->cap = cap;
    }
    int64_t *steps = malloc(n * (sizeof *steps + sizeof(double)));
    if (!steps) {
        free(v);
        h->s = NAS_FAIL(h->err, NAS_ERR_NOMEM, "out of memory");
        return 1;
    }
    double *values = (double *)(steps + n);
    for (size_t i = 0; i < n; i++) {
        steps[i] = v[i].step;
        values[i] = v[i].value;
    }
    free(v);
    h->curves[h->n] = (nas_curve){n, steps, values};
    h->blocks[h->n++] = steps;
    return 0;
}

static void slot_history_free(slot *sl) {
    void **blocks = sl->history_mem;
    for (size_t i = 0; i < sl->n_history; i++) free(blocks[i]);
    free(blocks);
    free(sl->history);
    sl->history = NULL;
    sl->history_mem = NULL;
    sl->n_history = 0;
}

/* The objective curves of every finished trial, for the stop rule. */
static nas_status slot_history_build(job *j, slot *sl, nas_error *err) {
    hist_ctx h = {j, NULL, 0, 0, NAS_OK, err, NULL};
    nas_status s = nas_store_trial_each(j->store, (1u << NAS_TRIAL_COMPLETE) | (1u << NAS_TRIAL_PRUNED), add_curve,
                                        &h, err);
    sl->history = h.curves;
    sl->history_mem = h.blocks;
    sl->n_history = h.n;
    return s ? s : h.s;
}

/* Free hyperparameters of a trial program: every hparam of the arch. */
static nas_status trial_params(const nas_arch *a, nas_trial_param **out, size_t *n, nas_error *err) {
    *out = NULL;
    *n = 0;
    if (!a->n_hparams) return NAS_OK;
    nas_trial_param *p = calloc((size_t)a->n_hparams, sizeof *p);
    if (!p) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < a->n_hparams; i++) {
        p[i].name = a->hparams[i].name;
        if (a->hparams[i].str) {
            p[i].kind = NAS_PARAM_STR;
            p[i].s = a->hparams[i].str;
        } else {
            p[i].kind = NAS_PARAM_FLOAT;
            p[i].f = a->hparams[i].num;
        }
    }
    *out = p;
    *n = (size_t)a->n_hparams;
    return NAS_OK;
}

/* A trial of the job in dir: its arch, and the CPUs the job had before it
 * pinned its own threads (the program's, not one pinned CPU). */
static nas_trial_spec job_trial_spec(const job *j, const char *dir, int64_t id, const char *arch_json) {
    nas_trial_spec spec = {0};
    spec.trial_dir = dir;
    spec.trial_id = id;
    spec.arch_json = arch_json;
    spec.cpu_mask = j->have_cpus ? &j->cpus : NULL;
    spec.cpu_mask_bytes = sizeof j->cpus;
    return spec;
}

static nas_status build_train_command(job *j, int epochs, double fraction, const char *out_dir, int test,
                                      char *cmd, size_t cap, nas_error *err) {
    char threads[32] = "";
    if (j->o.threads > 0) snprintf(threads, sizeof threads, " --threads %d", j->o.threads);
    char out[4300] = "";
    if (out_dir) snprintf(out, sizeof out, " --out '%s'", out_dir);
    /* stage 2 (test) says whether it augments; proxy training keeps the data set's default */
    const char *augment = !test ? "" : j->o.final_augment ? " --augment on" : " --augment off";
    int n = snprintf(cmd, cap, "'%s' -q train --data '%s' --epochs %d --fraction %.17g --seed %llu%s%s%s%s",
                     j->o.self_exe, j->o.data, epochs, fraction, (unsigned long long)j->o.seed, threads,
                     test ? "" : " --no-test", augment, out);
    if (n < 0 || (size_t)n >= cap) return NAS_FAIL(err, NAS_ERR_INVALID, "the train command is too long");
    if (strchr(j->o.self_exe, '\'') || strchr(j->o.data, '\'') || (out_dir && strchr(out_dir, '\'')))
        return NAS_FAIL(err, NAS_ERR_INVALID, "paths with a single quote are not supported: %s", j->o.data);
    return NAS_OK;
}

/* The network a trial trains: its stored arch, or for a hyperparameter-only
 * space trained by the built-in trainer, the point's hyperparameters set on
 * the base network. Caller destroys *out. */
static nas_status load_trial_arch(const job *j, const char *arch_json, nas_arch **out, nas_error *err) {
    nas_arch *a = NULL;
    *out = NULL;
    nas_status s = nas_arch_from_json(arch_json, strlen(arch_json), "trial arch", &a, err);
    if (s || !j->base) {
        *out = a;
        return s;
    }
    nas_arch *b = nas_arch_clone(j->base);
    if (!b) s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    for (int i = 0; !s && i < a->n_hparams; i++) {
        const nas_hparam *h = &a->hparams[i];
        s = h->str ? nas_arch_set_hparam_str(b, h->name, h->str, err) : nas_arch_set_hparam_num(b, h->name, h->num, err);
    }
    nas_arch_destroy(a);
    if (s) {
        nas_arch_destroy(b);
        return s;
    }
    *out = b;
    return NAS_OK;
}

/* ---- time budget ---- */

/* Stage 2 retrains up to final_top_k trials from scratch, so a job with a
 * time budget stops starting trials when the time left is what that takes:
 * the estimate (nas_train_estimate) is made for the best trial so far, once
 * per new best, and counted once per model stage 2 will train. */
static int stage2_planned(const job *j) {
    return j->o.time_budget_s > 0 && j->o.final_top_k > 0 && j->ev != EV_COMMAND && j->ev != EV_FUNCTION;
}

static void plan_stage2_arch(job *j, const char *arch_json) {
    nas_arch *t = NULL;
    nas_error e = {0};
    nas_train_config cfg;
    nas_train_config_default(&cfg);
    double one = 0;
    nas_status s = load_trial_arch(j, arch_json, &t, &e);
    if (!s) s = nas_train_config_from_hparams(&cfg, t, &e);
    cfg.epochs = j->o.final_epochs;
    if (!s) s = nas_train_estimate(t, &cfg, j->s2_train_n, j->s2_eval_n, &one, &e);
    if (s) {
        nas_log(j->lg, NAS_LOG_WARN, "time budget: cannot estimate stage 2 (%s); keeping %.0f s per model",
                e.msg, j->s2_model_s);
    } else {
        j->s2_model_s = one;
        nas_log(j->lg, NAS_LOG_INFO, "time budget: stage 2 estimated at %.0f s per model (%d epochs)", one,
                j->o.final_epochs);
        /* the first estimate, made as the search starts: a search squeezed to
           a few trials by stage 2 is worth saying (later bests come nearer
           the end, where the time left is stage 2's by design) */
        int k = j->o.final_top_k;
        double left = j->o.time_budget_s - (nas_time_now() - j->t0), s2 = k * one;
        /* little left for the search is expected when earlier runs of the
           study spent the budget (said, not warned) unless stage 2 would not
           have fitted the whole budget either */
        int expected = j->spent_before > 0 && s2 <= 0.75 * (left + j->spent_before);
        if (!j->s2_checked && s2 > 0.75 * left)
            nas_log(j->lg, expected ? NAS_LOG_INFO : NAS_LOG_WARN,
                    "time budget: stage 2 (%d model%s x %.0f s) takes %.0f of the %.0f s left, leaving the search "
                    "%.0f s%s",
                    k, k > 1 ? "s" : "", one, s2, left > 0 ? left : 0, left > s2 ? left - s2 : 0,
                    expected ? " (earlier runs spent the rest; a larger --time-budget searches longer)"
                                        : ": lower --final-epochs or --final-top-k, or raise --time-budget");
        j->s2_checked = 1;
    }
    nas_arch_destroy(t);
}

/* After a new best: its arch is the point's. */
static void plan_stage2(job *j, const double *pt) {
    if (!stage2_planned(j) || j->s2_train_n == 0) return;
    nas_arch *a = NULL;
    char *json = NULL;
    nas_error e = {0};
    if (ss_space_realize(j->space, pt, &a, &e) || nas_arch_to_json(a, &json, &e))
        nas_log(j->lg, NAS_LOG_WARN, "time budget: cannot estimate stage 2 (%s)", e.msg);
    else
        plan_stage2_arch(j, json);
    free(json);
    nas_arch_destroy(a);
}

/* On resume: the stored best's arch. */
static int plan_resumed(void *user, const nas_trial_record *r) {
    job *j = user;
    if (r->number != j->best_number || !r->arch_json) return 0;
    plan_stage2_arch(j, r->arch_json);
    return 1;
}

/* The images stage 2 will see: its data loaded once as `nas train` loads it. */
static nas_status setup_budget(job *j, nas_error *err) {
    if (!stage2_planned(j)) return NAS_OK;
    nas_data *d = NULL;
    nas_status s = nas_data_load(j->o.data, NULL, &d, err);
    if (s) return s;
    j->s2_train_n = d->train.n;
    j->s2_eval_n = (size_t)j->o.final_epochs * d->val.n + d->test.n;
    nas_data_destroy(d);
    return NAS_OK;
}

/* Whether the loop must stop starting trials: the budget minus stage 2's
 * share is spent (but never before a first trial completed, or stage 2
 * would have nothing to retrain). */
static int out_of_time(const job *j) {
    if (j->o.time_budget_s <= 0) return 0;
    if (!stage2_planned(j)) return nas_time_now() - j->t0 >= j->o.time_budget_s;
    if (j->completed == 0) return 0;
    int k = j->o.final_top_k < j->completed ? j->o.final_top_k : (int)j->completed;
    return nas_time_now() - j->t0 >= j->o.time_budget_s - k * j->s2_model_s;
}

static nas_status start_program(job *j, slot *sl, const double *pt, const next_trial *nt, nas_error *err) {
    nas_status s;
    nas_arch *a = NULL;
    nas_trial_param *params = NULL;
    size_t n_params = 0;
    char dir[4200], cmd[8192];
    trial_dir(j, nt, dir, sizeof dir);
    if ((s = load_trial_arch(j, nt->arch_json, &a, err))) return s;
    char *arch_json = NULL;
    /* the candidate's costs first: one that cannot be costed (too large to
       count, a table predicting no latency) fails as a trial, the job goes on */
    nas_error ce = {0};
    if (point_costs(j, pt, 1, &sl->costs, &ce)) {
        nas_arch_destroy(a);
        return record_failed(j, nt->id, pt, 0, ce.msg, NULL, NULL, NULL, 0, err);
    }
    if ((s = nas_arch_to_json(a, &arch_json, err))) goto done;
    nas_trial_spec spec = job_trial_spec(j, dir, nt->number, arch_json);
    if (j->ev == EV_COMMAND) {
        if ((s = trial_params(a, &params, &n_params, err))) goto done_json;
        spec.command = j->o.trial_cmd;
        spec.params = params;
        spec.n_params = n_params;
    } else {
        if ((s = build_train_command(j, j->o.proxy_epochs, j->o.proxy_fraction, NULL, 0, cmd, sizeof cmd, err)))
            goto done_json;
        spec.command = cmd;
    }
    spec.objective = j->ev == EV_COMMAND ? j->obj[0].metric : "accuracy";
    if (j->ev == EV_COMMAND && (!strcmp(spec.objective, "latency") || !strcmp(spec.objective, "latency_ms") ||
                                !strcmp(spec.objective, "macs") || !strcmp(spec.objective, "params")))
        spec.objective = NULL; /* measured here, not by the program */
    spec.timeout_s = j->o.trial_timeout_s;
    nas_stop_kind stop = NAS_STOP_NONE;
    early_stop_kind(j->o.early_stop, &stop); /* checked by check_names */
    if (stop != NAS_STOP_NONE) spec.stop = nas_stop_rule_default(stop, j->obj[0].maximize);
    if (spec.stop.kind != NAS_STOP_NONE) {
        if ((s = slot_history_build(j, sl, err))) goto done_json;
        spec.history = sl->history;
        spec.n_history = sl->n_history;
    }
    if ((s = nas_trial_start(&spec, &sl->t, err))) goto done_json;
    if ((s = nas_store_trial_start(j->store, nt->id, nas_trial_pid(sl->t), nas_trial_dir(sl->t), err))) {
        nas_trial_destroy(sl->t);
        sl->t = NULL;
        goto done_json;
    }
    sl->id = nt->id;
    sl->number = nt->number;
    memcpy(sl->point, pt, (size_t)j->space->n_decisions * sizeof *pt);
    j->running++;
done_json:
    free(arch_json);
done:
    free(params);
    nas_arch_destroy(a);
    return s;
}

static nas_status finish_program(job *j, slot *sl, nas_error *err) {
    const nas_trial_result *r = nas_trial_result_get(sl->t);
    nas_status s;
    if (r->state == NAS_TRIAL_COMPLETE) {
        ctrl_metrics m = sl->costs;
        for (size_t i = 0; i < r->n_final; i++) ctrl_metrics_set(&m, r->final[i].metric, r->final[i].value, NULL);
        double v;
        int missing = 0;
        for (int i = 0; i < j->n_obj; i++)
            if (!ctrl_metrics_get(&m, j->obj[i].metric, &v)) missing = i + 1;
        if (missing) {
            char reason[160];
            snprintf(reason, sizeof reason, "metric '%s' never reported", j->obj[missing - 1].metric);
            s = record_failed(j, sl->id, sl->point, 0, reason, NULL, r->stderr_tail, NULL, 0, err);
        } else {
            s = record_complete(j, sl->id, sl->number, sl->point, &m, r->series, r->n_series, err);
        }
    } else {
        int pruned = r->state == NAS_TRIAL_PRUNED;
        s = record_failed(j, sl->id, sl->point, pruned, r->reason, r->metrics_json, r->stderr_tail, r->series,
                          r->n_series, err);
        if (!s && !pruned)
            nas_log(j->lg, NAS_LOG_WARN, "trial %lld failed: %s", (long long)sl->number, r->reason);
    }
    nas_trial_destroy(sl->t);
    sl->t = NULL;
    slot_history_free(sl);
    j->running--;
    return s;
}

/* ---- progress ---- */

static void show_progress(job *j) {
    char extra[160];
    if (j->best_number >= 0)
        snprintf(extra, sizeof extra, "running %d failed %lld best %.4f (#%d)", j->running, (long long)j->failed,
                 j->best_reward, j->best_number);
    else
        snprintf(extra, sizeof extra, "running %d failed %lld", j->running, (long long)j->failed);
    nas_progress_update(&j->bar, (long)(j->completed + j->pruned), extra);
}

static int find_best(void *user, const nas_trial_record *r) {
    job *j = user;
    cJSON *m = r->metrics_json ? cJSON_Parse(r->metrics_json) : NULL;
    const cJSON *rw = cJSON_GetObjectItemCaseSensitive(m, "reward");
    if (cJSON_IsNumber(rw)) update_best(j, r->number, rw->valuedouble);
    cJSON_Delete(m);
    return 0;
}

/* ---- the loop ---- */

static nas_status trial_loop(job *j, nas_error *err) {
    nas_status s = NAS_OK;
    int P = j->ev == EV_SUPERNET || j->ev == EV_FUNCTION ? 1 : j->o.parallel_trials;
    if (P < 1) P = 1;
    if (P > MAX_PARALLEL) P = MAX_PARALLEL;
    for (int i = 0; i < P; i++)
        if (!(j->slots[i].point = ss_point_alloc(j->space))) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    double *pt = ss_point_alloc(j->space);
    if (!pt) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    nas_store_trial_each(j->store, 1u << NAS_TRIAL_COMPLETE, find_best, j, NULL);
    if (stage2_planned(j) && j->best_number >= 0)
        nas_store_trial_each(j->store, 1u << NAS_TRIAL_COMPLETE, plan_resumed, j, NULL);
    nas_progress_init(&j->bar, stderr, "trials", j->o.max_trials);
    if (!j->o.progress) j->bar.interval = 1e9;
    int exhausted = 0;
    for (;;) {
        int over_time = out_of_time(j);
        int enough = j->completed + j->pruned + j->running >= j->o.max_trials;
        int too_many_failed = j->failed >= j->o.max_failed_trials;
        /* start trials while there is room */
        while (!over_time && !enough && !too_many_failed && !exhausted && j->running < P && !stop_requested(j)) {
            next_trial nt;
            int got;
            if ((s = next_point(j, pt, &nt, &got, err))) goto done;
            if (!got) {
                exhausted = 1;
                break;
            }
            if (j->ev == EV_SUPERNET || j->ev == EV_FUNCTION) {
                s = j->ev == EV_SUPERNET ? eval_supernet(j, pt, &nt, err) : eval_function(j, pt, &nt, err);
                free(nt.arch_json);
                if (s) goto done;
            } else {
                slot *sl = NULL;
                for (int i = 0; i < P && !sl; i++)
                    if (!j->slots[i].t) sl = &j->slots[i];
                s = start_program(j, sl, pt, &nt, err);
                free(nt.arch_json);
                if (s) goto done;
            }
            show_progress(j);
            over_time = out_of_time(j);
            enough = j->completed + j->pruned + j->running >= j->o.max_trials;
            too_many_failed = j->failed >= j->o.max_failed_trials;
        }
        if (stop_requested(j)) { /* checked at least every second (the wait below) */
            s = stop_job(j, err);
            goto done;
        }
        if (j->running == 0) break;
        /* wait for one program to end */
        nas_trial *ts[MAX_PARALLEL];
        int idx[MAX_PARALLEL], n = 0;
        for (int i = 0; i < P; i++)
            if (j->slots[i].t) {
                ts[n] = j->slots[i].t;
                idx[n++] = i;
            }
        size_t done_i = 0;
        s = nas_trial_wait_any(ts, (size_t)n, 1.0, &done_i, err);
        if (s == NAS_ERR_TIMEOUT) {
            show_progress(j);
            continue;
        }
        if (s) goto done;
        if ((s = finish_program(j, &j->slots[idx[done_i]], err))) goto done;
        show_progress(j);
    }
    nas_progress_finish(&j->bar, NULL);
    if (j->failed >= j->o.max_failed_trials)
        s = NAS_FAIL(err, NAS_ERR_EXHAUSTED, "stopped after %lld failed trials (--max-failed-trials %d); see `nas trials %s`",
                     (long long)j->failed, j->o.max_failed_trials, j->dir);
done:
    free(pt);
    return s;
}

/* ---- stage 2 ---- */

typedef struct ranked {
    int64_t number;
    double reward;
    char *arch_json;
    double objs[NAS_SEARCH_MAX_OBJECTIVES];
} ranked;

typedef struct rank_list {
    ranked *v;
    int n, cap;
    const job *j;
} rank_list;

static int collect(void *user, const nas_trial_record *r) {
    rank_list *l = user;
    cJSON *m = r->metrics_json ? cJSON_Parse(r->metrics_json) : NULL;
    const cJSON *rw = cJSON_GetObjectItemCaseSensitive(m, "reward");
    if (cJSON_IsNumber(rw) && r->arch_json) {
        if (l->n == l->cap) {
            int cap = l->cap ? l->cap * 2 : 64;
            ranked *g = realloc(l->v, (size_t)cap * sizeof *g);
            if (!g) {
                cJSON_Delete(m);
                return 1;
            }
            l->v = g;
            l->cap = cap;
        }
        ranked *e = &l->v[l->n];
        e->number = r->number;
        e->reward = rw->valuedouble;
        for (int i = 0; i < l->j->n_obj; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, l->j->obj[i].metric);
            if (!v && !strcmp(l->j->obj[i].metric, "latency")) v = cJSON_GetObjectItemCaseSensitive(m, "latency_ms");
            double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
            e->objs[i] = l->j->obj[i].maximize ? x : -x;
        }
        e->arch_json = strdup(r->arch_json);
        if (e->arch_json) l->n++;
    }
    cJSON_Delete(m);
    return 0;
}

static int by_reward(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->reward != y->reward) return x->reward > y->reward ? -1 : 1;
    return x->number < y->number ? -1 : x->number > y->number;
}

typedef struct final_result {
    int64_t number;
    double val_acc, test_acc, latency_ms, p90_ms;
    ctrl_metrics costs;
    char dir[4200];
} final_result;

/* A model stage 2 retrained before (kv final/N with its weights and metrics
 * in fr->dir): its results, so that a resumed or repeated job does not
 * train it again. 1 when kept. */
static int final_kept(job *j, final_result *fr) {
    char key[64], path[4400];
    snprintf(key, sizeof key, "final/%lld", (long long)fr->number);
    static const char *const FILES[] = {"arch.json", "weights.nasw", "final-metrics.json"};
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", fr->dir, FILES[i]);
        if (!nas_path_exists(path)) return 0;
    }
    char *stored = NULL;
    if (nas_store_kv_get(j->store, key, &stored, NULL) || !stored) return 0;
    cJSON *o = cJSON_Parse(stored);
    free(stored);
    int ok = cJSON_IsObject(o);
    for (const cJSON *e = ok ? o->child : NULL; e; e = e->next)
        if (cJSON_IsNumber(e) && ctrl_metrics_set(&fr->costs, e->string, e->valuedouble, NULL)) ok = 0;
    cJSON_Delete(o);
    if (!ok || !ctrl_metrics_get(&fr->costs, "accuracy", &fr->val_acc)) {
        memset(&fr->costs, 0, sizeof fr->costs);
        return 0;
    }
    fr->test_acc = fr->latency_ms = fr->p90_ms = NAN;
    ctrl_metrics_get(&fr->costs, "test_accuracy", &fr->test_acc);
    ctrl_metrics_get(&fr->costs, "latency_ms", &fr->latency_ms);
    ctrl_metrics_get(&fr->costs, "p90_ms", &fr->p90_ms);
    return 1;
}

static nas_status final_one(job *j, const ranked *r, final_result *fr, nas_error *err) {
    nas_status s;
    nas_arch *a = NULL;
    nas_trial *t = NULL;
    char *arch_json = NULL;
    char cmd[8192], tdir[4300];
    memset(fr, 0, sizeof *fr);
    fr->number = r->number;
    snprintf(fr->dir, sizeof fr->dir, "%s/final/trial-%lld", j->dir, (long long)r->number);
    snprintf(tdir, sizeof tdir, "%s/run", fr->dir);
    if (final_kept(j, fr)) {
        nas_log(j->lg, NAS_LOG_INFO, "stage 2: trial %lld was retrained before (%s): kept", (long long)r->number,
                fr->dir);
        return NAS_OK;
    }
    if ((s = load_trial_arch(j, r->arch_json, &a, err))) return s;
    if ((s = nas_arch_to_json(a, &arch_json, err))) goto done;
    if ((s = build_train_command(j, j->o.final_epochs, 1.0, fr->dir, 1, cmd, sizeof cmd, err))) goto done;
    nas_trial_spec spec = job_trial_spec(j, tdir, r->number, arch_json);
    spec.command = cmd;
    spec.objective = "accuracy";
    nas_log(j->lg, NAS_LOG_INFO, "stage 2: retraining trial %lld for %d epochs", (long long)r->number, j->o.final_epochs);
    if ((s = nas_trial_start(&spec, &t, err))) goto done;
    for (;;) { /* the training program runs until it ends, or the job is asked to stop */
        size_t k;
        s = nas_trial_wait_any(&t, 1, 1.0, &k, err);
        if (s == NAS_OK) break;
        if (s != NAS_ERR_TIMEOUT) goto done;
        if (stop_requested(j)) nas_trial_cancel(t, "stopped");
    }
    if (stop_requested(j)) {
        nas_store_set_status(j->store, "stopped", NULL);
        s = NAS_FAIL(err, NAS_ERR_INTERRUPTED, "stopped on request during stage 2; continue with `nas search --resume %s`",
                     j->dir);
        goto done;
    }
    const nas_trial_result *res = nas_trial_result_get(t);
    if (res->state != NAS_TRIAL_COMPLETE) {
        s = NAS_FAIL(err, NAS_ERR_INVALID, "stage 2 training of trial %lld failed: %s", (long long)r->number, res->reason);
        goto done;
    }
    fr->val_acc = fr->test_acc = NAN;
    for (size_t i = 0; i < res->n_final; i++) {
        if (!strcmp(res->final[i].metric, "accuracy")) fr->val_acc = res->final[i].value;
        if (!strcmp(res->final[i].metric, "test_accuracy")) fr->test_acc = res->final[i].value;
    }
    if ((s = measure_costs(j, a, 0, &fr->costs, err))) goto done;
    nas_latency_opts lo = nas_latency_opts_default();
    lo.min_time_ms = 500; /* as `nas latency` */
    nas_latency lat;
    if ((s = measure_latency(j, a, &lo, &lat, err))) goto done;
    fr->latency_ms = latency_ms(j, &lat);
    fr->p90_ms = lat.p90_ms;
    ctrl_metrics_set(&fr->costs, "accuracy", fr->val_acc, NULL);
    ctrl_metrics_set(&fr->costs, "test_accuracy", fr->test_acc, NULL);
    ctrl_metrics_set(&fr->costs, "latency_ms", fr->latency_ms, NULL);
    ctrl_metrics_set(&fr->costs, "p90_ms", fr->p90_ms, NULL);
    char *mj = metrics_to_json(&fr->costs);
    char key[64];
    snprintf(key, sizeof key, "final/%lld", (long long)r->number);
    if (mj) {
        s = nas_store_kv_set(j->store, key, mj, err);
        char path[4400];
        snprintf(path, sizeof path, "%s/final-metrics.json", fr->dir);
        if (!s) s = nas_file_write_atomic(path, mj, strlen(mj), err);
        cJSON_free(mj);
    }
done:
    nas_trial_destroy(t);
    free(arch_json);
    nas_arch_destroy(a);
    return s;
}

static nas_status copy_file(const char *from, const char *to, nas_error *err) {
    char *data;
    size_t len;
    nas_status s = nas_file_read(from, &data, &len, err);
    if (s) return s;
    s = nas_file_write_atomic(to, data, len, err);
    free(data);
    return s;
}

static nas_status stage2(job *j, nas_search_summary *sum, nas_error *err) {
    nas_status s;
    rank_list l = {0};
    l.j = j;
    final_result *fr = NULL;
    if ((s = nas_store_trial_each(j->store, 1u << NAS_TRIAL_COMPLETE, collect, &l, err))) goto done;
    if (l.n == 0) {
        nas_log(j->lg, NAS_LOG_WARN, "stage 2 skipped: no completed trial");
        goto done;
    }
    /* single objective: by reward; several: the Pareto front, by first objective */
    int keep = 0;
    if (j->n_obj > 1) {
        for (int a = 0; a < l.n; a++) {
            int dominated = 0;
            for (int b = 0; b < l.n && !dominated; b++)
                dominated = b != a && ctrl_dominates(l.v[b].objs, l.v[a].objs, j->n_obj);
            if (!dominated) {
                ranked t = l.v[keep];
                l.v[keep] = l.v[a];
                l.v[a] = t;
                l.v[keep].reward = l.v[keep].objs[0];
                keep++;
            }
        }
        for (int a = keep; a < l.n; a++) free(l.v[a].arch_json);
        l.n = keep;
    }
    qsort(l.v, (size_t)l.n, sizeof *l.v, by_reward);
    int k = l.n < j->o.final_top_k ? l.n : j->o.final_top_k;
    fr = calloc((size_t)k, sizeof *fr);
    if (!fr) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
        goto done;
    }
    int best = -1;
    for (int i = 0; i < k; i++) {
        if ((s = final_one(j, &l.v[i], &fr[i], err))) goto done;
        if (best < 0 || fr[i].val_acc > fr[best].val_acc) best = i;
    }
    /* DIR/best: the stage-2 model with the best validation accuracy (the test
       split only reports) */
    char bdir[4200], from[4400], to[4400];
    snprintf(bdir, sizeof bdir, "%s/best", j->dir);
    if ((s = nas_mkdir_p(bdir, err))) goto done;
    static const char *const FILES[][2] = {{"arch.json", "arch.json"}, {"weights.nasw", "weights.nasw"},
                                           {"final-metrics.json", "metrics.json"}};
    for (int f = 0; f < 3; f++) {
        snprintf(from, sizeof from, "%s/%s", fr[best].dir, FILES[f][0]);
        snprintf(to, sizeof to, "%s/%s", bdir, FILES[f][1]);
        if ((s = copy_file(from, to, err))) goto done;
    }
    snprintf(sum->best_dir, sizeof sum->best_dir, "%s", bdir);
    printf("\nstage 2: top %d retrained for %d epochs, tested on the test split\n", k, j->o.final_epochs);
    printf("%6s  %9s  %9s  %10s  %9s  %10s  %9s  %10s\n", "trial", "val acc", "test acc", "latency", "p90",
           "MACs", "params", "memory");
    for (int i = 0; i < k; i++) {
        double macs = 0, params = 0, mem = 0;
        ctrl_metrics_get(&fr[i].costs, "macs", &macs);
        ctrl_metrics_get(&fr[i].costs, "params", &params);
        ctrl_metrics_get(&fr[i].costs, "memory_bytes", &mem);
        printf("%6lld  %8.2f%%  %8.2f%%  %7.3f ms  %6.3f ms  %9.2fM  %8.1fK  %7.2f MB%s\n", (long long)fr[i].number,
               100 * fr[i].val_acc, 100 * fr[i].test_acc, fr[i].latency_ms, fr[i].p90_ms, macs / 1e6, params / 1e3,
               mem / (1024.0 * 1024.0), i == best ? "  <- best" : "");
    }
    printf("best model: %s (arch.json, weights.nasw, metrics.json)\n", bdir);
done:
    for (int i = 0; i < l.n; i++) free(l.v[i].arch_json);
    free(l.v);
    free(fr);
    return s;
}

/* ---- the job ---- */

static void job_deinit(job *j) {
    for (int i = 0; i < MAX_PARALLEL; i++) {
        nas_trial_destroy(j->slots[i].t);
        slot_history_free(&j->slots[i]);
        free(j->slots[i].point);
    }
    nas_supernet_destroy(j->sn);
    nas_data_destroy(j->data);
    nas_lut_destroy(j->lut);
    ctrl_destroy(j->ctrl);
    nas_store_close(j->store);
    nas_store_lock_release(j->lock);
    ss_space_destroy(j->space);
    nas_arch_destroy(j->base);
    cJSON_free(j->spec_json);
}

/* The hyperparameter names of the space's archs: those of the canonical
 * point's arch (constants included), or the hyperparameter decisions when
 * that point has no valid network. *names (caller frees) points into *a
 * or the space. */
static nas_status space_hparam_names(const job *j, nas_arch **a, const char ***names, int *n, nas_error *err) {
    const ss_space *sp = j->space;
    *a = NULL;
    *n = 0;
    double *pt = ss_point_alloc(sp);
    if (!pt) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    if (ss_space_realize(sp, pt, a, NULL)) *a = NULL;
    free(pt);
    int cap = *a ? (*a)->n_hparams : sp->n_decisions;
    if (!(*names = malloc((size_t)(cap > 0 ? cap : 1) * sizeof **names))) {
        nas_arch_destroy(*a);
        *a = NULL;
        return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; *a && i < (*a)->n_hparams; i++) (*names)[(*n)++] = (*a)->hparams[i].name;
    for (int i = 0; !*a && i < sp->n_decisions; i++)
        if (sp->decisions[i].is_hparam) (*names)[(*n)++] = sp->decisions[i].name;
    return NAS_OK;
}

/* The train evaluator runs `nas train`, which applies only the
 * hyperparameters nas_train_hparam_applies knows, and whose --epochs (the
 * proxy epochs, then the final epochs) replaces an `epochs` hyperparameter.
 * Both are said once at job start instead of being silent defaults; a
 * warning, not an error, since a hyperparameter may be a tag. */
static nas_status warn_train_hparams(const job *j, nas_error *err) {
    nas_arch *a;
    const char **names;
    int n;
    nas_status s = space_hparam_names(j, &a, &names, &n, err);
    if (s) return s;
    char msg[1024];
    if (nas_train_unused_hparams(names, n, msg, sizeof msg))
        nas_log(j->lg, NAS_LOG_WARN, "space '%s': %s", j->space->name, msg);
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], "epochs")) continue;
        if (j->o.final_top_k > 0)
            nas_log(j->lg, NAS_LOG_WARN,
                    "space '%s': hyperparameter epochs is replaced by the job's: the train evaluator trains "
                    "every trial for --proxy-epochs (%d) and stage 2 for --final-epochs (%d)",
                    j->space->name, j->o.proxy_epochs, j->o.final_epochs);
        else
            nas_log(j->lg, NAS_LOG_WARN,
                    "space '%s': hyperparameter epochs is replaced by the job's: the train evaluator trains "
                    "every trial for --proxy-epochs (%d)",
                    j->space->name, j->o.proxy_epochs);
        break;
    }
    free(names);
    nas_arch_destroy(a);
    return NAS_OK;
}

static nas_status setup_base_network(job *j, nas_error *err) {
    /* the built-in trainer of a hyperparameter-only space trains the
       reference CNN (examples/reference_cnn.json) on the job's data */
    nas_data_spec ds;
    nas_status s = nas_data_spec_parse(j->o.data, &ds, err);
    if (s) return s;
    int c = ds.kind == NAS_DATA_CIFAR10 ? 3 : 1, hw = ds.kind == NAS_DATA_CIFAR10 ? 32 : 28;
    return nas_train_reference_arch(c, hw, hw, 10, &j->base, err);
}

nas_status nas_search_run(const nas_search_options *opts, nas_search_summary *sum, nas_error *err) {
    job j;
    memset(&j, 0, sizeof j);
    memset(sum, 0, sizeof *sum);
    sum->best_trial = -1;
    j.o = *opts;
    j.lg = opts->lg;
    j.best_number = -1;
    j.t0 = nas_time_now();
    spec_strings keep = {0};
    nas_status s;
    int ran = 0; /* the study is set up: from here its time counts */
    /* every option is checked before the study is created (a new one) or
       written (a resumed one, whose options are the stored ones) */
    if ((s = open_space_and_store(&j, &keep, err))) goto done;
    limits_default(&j.o);
    if ((s = check_numbers(&j.o, err))) {
        if (opts->resume) nas_error_prefix(err, "%s: a value stored with the study or given now", j.dir);
        goto done;
    }
    if ((s = choose_evaluator(&j, err))) goto done;
    if ((s = setup_goals(&j, opts->resume, err))) goto done;
    if ((s = check_names(&j.o, err))) goto done;
    if ((s = setup_latency_source(&j, err))) goto done;
    if ((s = setup_controller(&j, err))) goto done;
    /* a new study of networks measures its clock reference once (0.2 s); an
       existing one keeps the one stored with it (setup_latency) */
    char db[4200];
    snprintf(db, sizeof db, "%s/study.db", j.dir);
    if (!j.store && !nas_path_exists(db) && j.space->in_c > 0 && j.o.latency && !strcmp(j.o.latency, "measure"))
        j.clock_ms = nas_latency_clock_reference(200);
    if ((s = spec_build(&j, err))) goto done;
    if ((s = setup_store(&j, err))) goto done;
    ran = 1;
    snprintf(sum->study_dir, sizeof sum->study_dir, "%s", j.dir);
    nas_log(j.lg, NAS_LOG_INFO, "study %s: space %s, %s controller, %s evaluator, %d trials", j.dir,
            j.space->name, j.o.controller, EV_NAMES[j.ev], j.o.max_trials);
    j.have_cpus = sched_getaffinity(0, sizeof j.cpus, &j.cpus) == 0;
    if (j.o.threads > 0) nas_latency_pin(j.o.threads, NULL, NULL);
    if ((s = setup_latency(&j, err))) goto done;
    if (j.ev == EV_SUPERNET && (s = setup_supernet(&j, err))) goto done;
    if (j.ev == EV_TRAIN && (s = warn_train_hparams(&j, err))) goto done;
    if (j.ev == EV_TRAIN && j.space->in_c == 0 && (s = setup_base_network(&j, err))) goto done;
    if ((s = setup_budget(&j, err))) goto done;
    if ((s = trial_loop(&j, err))) {
        if (s == NAS_ERR_EXHAUSTED) nas_store_set_status(j.store, "failed", NULL);
        goto done;
    }
    sum->completed = (int)j.completed;
    sum->failed = (int)j.failed;
    sum->pruned = (int)j.pruned;
    sum->best_trial = j.best_number;
    sum->best_value = j.best_reward;
    if (j.o.final_top_k > 0 && j.ev != EV_COMMAND && j.ev != EV_FUNCTION && (s = stage2(&j, sum, err))) goto done;
    s = nas_store_set_status(j.store, "finished", err);
done:
    /* however the job ends (finished, stopped, failed) once it ran, its time
       counts toward the study's budget (kept with every trial as well) */
    if (ran) {
        nas_status se = save_elapsed(&j, s ? NULL : err);
        if (!s) s = se;
    }
    if (s && err) nas_log(j.lg, NAS_LOG_DEBUG, "search stopped: %s", err->msg);
    job_deinit(&j);
    cJSON_Delete(keep.root);
    return s;
}
