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
    int max_rejects;      /* consecutive infeasible or duplicate draws before giving up */
    /* evolution / nsga2 */
    int population;       /* P */
    int tournament;       /* S (evolution) */
    /* grid */
    int float_levels;     /* levels per float decision */
    /* tpe */
    int startup_trials;   /* random trials before the model is used */
    int ei_candidates;
    /* reinforce */
    double learning_rate;
    double entropy_weight;
    double baseline_decay;
} ctrl_options;

/* Defaults for every field (kind "random", one objective). */
ctrl_options ctrl_options_default(void);

nas_status ctrl_create(const ss_space *space, const ctrl_options *opt, ctrl **out, nas_error *err);
void ctrl_destroy(ctrl *c);

/* Writes a new point into `point` (n_decisions doubles) and marks it pending.
 * NAS_ERR_EXHAUSTED when every point has been proposed; NAS_ERR_CONSTRAINT
 * (naming the constraint) when max_rejects draws in a row were infeasible. */
nas_status ctrl_propose(ctrl *c, pcg32 *rng, double *point, nas_error *err);

/* Reports a pending point's result; rewards has n_objectives values. */
nas_status ctrl_observe(ctrl *c, const double *point, const double *rewards, nas_error *err);
/* Reports that a pending point's trial failed (it stays excluded). */
nas_status ctrl_observe_failed(ctrl *c, const double *point, nas_error *err);

/* Serialises the whole state (caller frees *buf) and restores it into a
 * controller created with the same space and options. */
nas_status ctrl_save(const ctrl *c, unsigned char **buf, size_t *len, nas_error *err);
nas_status ctrl_load(ctrl *c, const unsigned char *buf, size_t len, nas_error *err);

#endif
