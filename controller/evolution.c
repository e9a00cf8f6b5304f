/*
 * evolution.c - the `evolution` controller: regularized (aging) evolution,
 * Real et al. 2019, "Regularized Evolution for Image Classifier Architecture
 * Search". The population is the P most recently observed successful trials
 * (so the oldest dies as each child is observed); until P trials have been
 * observed, proposals are uniform. A proposal samples S distinct members
 * uniformly, copies the one with the largest reward (rewards[0]) and mutates
 * one active decision (ss_space_mutate: decisions that become active are
 * sampled, inactive ones canonical).
 *
 * The population is derived from the observation order, which save/load
 * keeps, so the kind has no state of its own.
 */
#include <stdlib.h>
#include <string.h>

#include "controller/internal.h"

typedef struct evo_state {
    int *pick; /* scratch: P slots for sampling without replacement */
} evo_state;

static nas_status evo_init(ctrl *c, nas_error *err) {
    evo_state *e = calloc(1, sizeof *e);
    if (!e) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating evolution");
    c->kind = e;
    e->pick = malloc((size_t)c->opt.population * sizeof *e->pick);
    if (!e->pick) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating evolution");
    return NAS_OK;
}

static void evo_deinit(ctrl *c) {
    evo_state *e = c->kind;
    if (!e) return;
    free(e->pick);
    free(e);
    c->kind = NULL;
}

static nas_status evo_draw(ctrl *c, pcg32 *rng, double *point, nas_error *err) {
    (void)err;
    evo_state *e = c->kind;
    int P = c->opt.population, S = c->opt.tournament;
    if (c->n_obs < P) {
        ss_space_sample(c->space, rng, point);
        return NAS_OK;
    }
    const int *pop = c->obs + (c->n_obs - P); /* oldest first */
    for (int i = 0; i < P; i++) e->pick[i] = i;
    int best = -1;
    double best_r = 0;
    for (int k = 0; k < S; k++) { /* partial Fisher-Yates: S distinct members */
        int j = k + (int)pcg32_bounded(rng, (uint32_t)(P - k));
        int tmp = e->pick[k];
        e->pick[k] = e->pick[j];
        e->pick[j] = tmp;
        int t = pop[e->pick[k]];
        double r = ctrl_trial_rewards(c, t)[0];
        if (best < 0 || r > best_r) {
            best = t;
            best_r = r;
        }
    }
    memcpy(point, ctrl_trial_point(c, best), (size_t)c->nd * sizeof *point);
    ss_space_mutate(c->space, rng, point);
    return NAS_OK;
}

const ctrl_kind_ops ctrl_kind_evolution = {"evolution", evo_init, evo_deinit, evo_draw,
                                           NULL,        NULL,     NULL};
