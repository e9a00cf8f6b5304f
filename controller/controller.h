/*
 * controller.h - ask/tell search controllers, objectives and constraints.
 *
 * A controller proposes points of a compiled space (searchspace/space.h) and
 * learns from observed results. Several proposals may be pending at once
 * (parallel trials); a controller never proposes a point that is pending or
 * already observed unless the space is exhausted. Every random draw uses the
 * pcg32 passed in, so a seed gives one trace; the controller's own state
 * serialises to bytes and restores, and restore-then-continue gives the same
 * trace as never stopping (the caller saves the pcg32 alongside).
 *
 * Rewards are "larger is better": the objective layer turns metrics into
 * rewards (flipping minimised metrics, applying MnasNet/TuNAS scalarisation).
 * Single-objective controllers read rewards[0]; nsga2 reads all of them.
 *
 * Ownership: ctrl_create returns a controller freed by ctrl_destroy. It keeps
 * a pointer to the space, which must outlive it.
 */
#ifndef NAS_CONTROLLER_CONTROLLER_H
#define NAS_CONTROLLER_CONTROLLER_H

#include <stddef.h>

#include "nas/core/pcg32.h"
#include "nas/core/status.h"
#include "searchspace/space.h"

typedef struct ctrl ctrl;

/* Hard-constraint check run before a point is proposed. Returns 1 when the
 * point may be evaluated, 0 when it violates a constraint (and may write the
 * violated constraint's text into why). */
typedef int (*ctrl_feasible_fn)(void *user, const double *point, char *why, size_t why_cap);

typedef struct ctrl_options {
    const char *kind;     /* "random", "grid", "evolution", "reinforce", "tpe", "nsga2" */
    int n_objectives;     /* >= 1; only nsga2 uses more than one */
    ctrl_feasible_fn feasible; /* may be NULL */
    void *feasible_user;
    int max_rejects;      /* infeasible draws in a row before NAS_ERR_CONSTRAINT (default 1000) */
    /* evolution / nsga2 */
    int population;       /* P (default 20) */
    int tournament;       /* S (evolution; default 5) */
    /* grid */
    int float_levels;     /* levels per float decision (default 5; ints take every value) */
    /* tpe */
    int startup_trials;   /* random trials before the model is used (default 10) */
    int ei_candidates;    /* candidates drawn from l(x) per decision (default 24) */
    /* reinforce */
    double learning_rate;  /* Adam step (default 0.05) */
    double entropy_weight; /* entropy bonus (default 0.01) */
    double baseline_decay; /* moving-average reward baseline (default 0.9) */
} ctrl_options;

/* Defaults for every field (kind "random", one objective). */
ctrl_options ctrl_options_default(void);

nas_status ctrl_create(const ss_space *space, const ctrl_options *opt, ctrl **out, nas_error *err);
void ctrl_destroy(ctrl *c);

/* Writes a new point into `point` (n_decisions doubles, canonical) and marks
 * it pending. NAS_ERR_EXHAUSTED when every point has been proposed (or found
 * infeasible); NAS_ERR_CONSTRAINT (naming the constraint from `why`) when
 * max_rejects draws in a row were infeasible.
 *
 * Constraints are handled by rejection: each candidate is checked with
 * `feasible` before it is returned, so a violating point is never proposed.
 * A rejected point is remembered (never drawn again; tpe counts it as a bad
 * observation and stops proposing its region) and the next candidate is
 * drawn. A duplicate (pending, observed, failed or rejected point) is redrawn;
 * after 16 duplicates in a row the draw takes the kind's candidates with one
 * or more decisions mutated (neighbours of the model's mode), then uniform
 * draws and, in a finite space, an odometer scan, so a proposal only fails
 * when the space is exhausted. */
nas_status ctrl_propose(ctrl *c, pcg32 *rng, double *point, nas_error *err);

/* Reports a pending point's result; rewards has n_objectives values. */
nas_status ctrl_observe(ctrl *c, const double *point, const double *rewards, nas_error *err);
/* Reports that a pending point's trial failed (it stays excluded). */
nas_status ctrl_observe_failed(ctrl *c, const double *point, nas_error *err);

/* The kind's name ("random", ...; static). */
const char *ctrl_kind(const ctrl *c);
/* Number of trials proposed so far (rejected infeasible points not
 * included); optionally how many are pending, done (observed) and failed. */
int ctrl_n_trials(const ctrl *c, int *n_pending, int *n_done, int *n_failed);

/* The current Pareto front (rank 0 under ctrl_dominates) of the observed
 * trials, in observation order: *points gets n x n_decisions doubles and
 * *rewards n x n_objectives, both caller-freed (NULL when n is 0 is not
 * promised; always free them). Works for every kind; nsga2 is the one that
 * searches for it. */
nas_status ctrl_pareto_front(const ctrl *c, double **points, double **rewards, int *n,
                             nas_error *err);

/* Serialises the state (caller frees *buf): delta = 0, the whole state;
 * delta = 1, only what changed since the last ctrl_mark_saved (the trials
 * added or ended and the observations made since, and the kind's own
 * bounded state), whose size does not grow with the history. */
nas_status ctrl_save(const ctrl *c, int delta, unsigned char **buf, size_t *len, nas_error *err);
/* Records that everything up to now is durable (call it once the bytes of
 * a save are stored): the next delta starts here. Loading marks too. */
void ctrl_mark_saved(ctrl *c);
/* Restores into a controller created with the same space and options a
 * chain of n saves: bufs[0] a whole state, then the deltas saved after it,
 * in order. On error (naming the part when n > 1) c is unchanged. */
nas_status ctrl_load_chain(ctrl *c, int n, const unsigned char *const *bufs, const size_t *lens,
                           nas_error *err);
/* The checksum a saved part (of version 2, or a delta) ends with: its last
 * 8 bytes hold this value over the bytes before them, in native order. For
 * tools that change a part on purpose (the fuzz target). */
uint64_t ctrl_part_checksum(const unsigned char *p, size_t n);
/* ctrl_load_chain of one whole state. */
nas_status ctrl_load(ctrl *c, const unsigned char *buf, size_t len, nas_error *err);

/* ---- metrics, objectives, constraints, rewards (objective.c) ----
 *
 * Units everywhere: latency in milliseconds, memory in bytes, macs / flops /
 * params as plain counts. Rewards are larger-is-better. */

#define CTRL_NAME_MAX 48
#define CTRL_METRICS_MAX 32
#define CTRL_REWARD_TERMS_MAX 8

/* A small by-value set of named numbers for one trial. */
typedef struct ctrl_metric {
    char name[CTRL_NAME_MAX];
    double value;
} ctrl_metric;

typedef struct ctrl_metrics {
    int n;
    ctrl_metric items[CTRL_METRICS_MAX];
} ctrl_metrics;

void ctrl_metrics_init(ctrl_metrics *m);
/* Sets (or replaces) a metric. NAS_ERR_INVALID for an empty or too long name
 * or a full set. */
nas_status ctrl_metrics_set(ctrl_metrics *m, const char *name, double value, nas_error *err);
/* 1 and *value when present. "latency" and "latency_ms", "memory" and
 * "memory_bytes" name the same metric. */
int ctrl_metrics_get(const ctrl_metrics *m, const char *name, double *value);

typedef struct ctrl_objective {
    char metric[CTRL_NAME_MAX];
    int maximize; /* 1 maximize, 0 minimize */
} ctrl_objective;

/* "maximize accuracy", "minimize latency" (also "max"/"min"). */
nas_status ctrl_objective_parse(const char *spec, ctrl_objective *out, nas_error *err);

typedef struct ctrl_constraint {
    char metric[CTRL_NAME_MAX];
    ss_cmp cmp;
    double value; /* in the metric's unit (ms, bytes, count) */
    char text[128]; /* as written, trimmed */
} ctrl_constraint;

/* "latency<=1ms", "macs <= 5M", "params<200K", "memory<=2MB". Operators <=,
 * <, >=, >. Units: latency ms / us / s (default ms); memory B / KB / MB / GB
 * (1024-based; default bytes); any other metric K / M / G (1e3 / 1e6 / 1e9).
 * A unit of another kind ("macs <= 1ms") is an error. */
nas_status ctrl_constraint_parse(const char *spec, ctrl_constraint *out, nas_error *err);

/* Copies a constraint / objective declared in a space file (searchspace
 * keeps them as ss_constraint / ss_objective). NAS_ERR_INVALID when a name
 * or text does not fit. */
nas_status ctrl_constraint_from_ss(const ss_constraint *in, ctrl_constraint *out, nas_error *err);
nas_status ctrl_objective_from_ss(const ss_objective *in, ctrl_objective *out, nas_error *err);

/* *ok = 1 when every constraint holds; otherwise 0 and `why` gets the first
 * violated constraint's text and the measured value. A metric absent from m
 * is NAS_ERR_INVALID naming it. */
nas_status ctrl_constraints_check(const ctrl_constraint *cs, int n, const ctrl_metrics *m,
                                  int *ok, char *why, size_t why_cap, nas_error *err);

typedef enum ctrl_reward_kind {
    CTRL_REWARD_OBJECTIVE, /* one metric, negated when minimized */
    CTRL_REWARD_MNAS_SOFT, /* acc * (lat/target)^w, w = alpha if lat <= target else beta */
    CTRL_REWARD_MNAS_HARD, /* same with alpha = 0, beta = -1 */
    CTRL_REWARD_TUNAS,     /* acc + beta * |lat/target - 1| */
    CTRL_REWARD_WEIGHTED   /* sum of weight * (maximized ? v : -v) */
} ctrl_reward_kind;

typedef struct ctrl_reward {
    ctrl_reward_kind kind;
    int n_terms; /* objective: 1; mnas/tunas: 1 (the quality metric); weighted: >= 1 */
    ctrl_objective terms[CTRL_REWARD_TERMS_MAX];
    double weights[CTRL_REWARD_TERMS_MAX];
    char cost_metric[CTRL_NAME_MAX]; /* mnas/tunas: e.g. "latency" */
    double target;                   /* mnas/tunas: in the cost metric's unit */
    double alpha, beta;
} ctrl_reward;

/* Reward specs:
 *   "maximize accuracy" | "minimize val_loss"
 *   "mnas_soft(accuracy, latency <= 1ms)"   alpha = beta = -0.07
 *   "mnas_hard(accuracy, latency <= 1ms)"   alpha = 0, beta = -1
 *   "tunas(accuracy, latency <= 1ms)"       beta = -0.07
 *   mnas/tunas take optional ", alpha=X" / ", beta=X" overrides;
 *   "weighted(maximize accuracy * 1, minimize latency * 0.05)" (weight default 1). */
nas_status ctrl_reward_parse(const char *spec, ctrl_reward *out, nas_error *err);
nas_status ctrl_reward_compute(const ctrl_reward *r, const ctrl_metrics *m, double *out,
                               nas_error *err);

/* One larger-is-better reward per objective (minimized metrics negated), for
 * multi-objective controllers. */
nas_status ctrl_objectives_rewards(const ctrl_objective *o, int n, const ctrl_metrics *m,
                                   double *rewards, nas_error *err);

/* 1 when reward vector a Pareto-dominates b (>= everywhere, > somewhere;
 * larger is better), else 0. */
int ctrl_dominates(const double *a, const double *b, int n);

#endif
