/*
 * internal.h - private to controller/: the controller struct shared by the
 * common ask/tell machinery (controller.c) and the kinds (random in
 * controller.c, grid.c, evolution.c, reinforce.c, tpe.c, nsga2.c), the trial
 * history, the byte writer/reader used by save/load, and the odometer over
 * finite (or discretised) domains.
 *
 * Not a public header: nothing outside controller/ includes it.
 */
#ifndef NAS_CONTROLLER_INTERNAL_H
#define NAS_CONTROLLER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "controller/controller.h"

typedef enum ctrl_trial_state {
    CTRL_TRIAL_PENDING = 0,
    CTRL_TRIAL_DONE = 1,
    CTRL_TRIAL_FAILED = 2,
    CTRL_TRIAL_INFEASIBLE = 3 /* rejected by the feasibility check, never proposed */
} ctrl_trial_state;

/* Growable byte buffer for ctrl_save. `failed` latches on out-of-memory. */
typedef struct ctrl_writer {
    unsigned char *buf;
    size_t len, cap;
    int failed;
} ctrl_writer;

/* Bounds-checked reader for ctrl_load. `failed` latches on overrun. */
typedef struct ctrl_reader {
    const unsigned char *buf;
    size_t len, pos;
    int failed;
} ctrl_reader;

void ctrl_w_bytes(ctrl_writer *w, const void *p, size_t n);
void ctrl_w_u32(ctrl_writer *w, uint32_t v);
void ctrl_w_u64(ctrl_writer *w, uint64_t v);
void ctrl_w_f64(ctrl_writer *w, double v);
void ctrl_r_bytes(ctrl_reader *r, void *p, size_t n);
uint32_t ctrl_r_u32(ctrl_reader *r);
uint64_t ctrl_r_u64(ctrl_reader *r);
double ctrl_r_f64(ctrl_reader *r);

/* One kind of controller. Every hook may be NULL except draw. */
typedef struct ctrl_kind_ops {
    const char *name;
    nas_status (*init)(ctrl *c, nas_error *err); /* allocate kind state */
    void (*deinit)(ctrl *c);
    /* Writes a candidate point (need not be canonical or unseen; the caller
     * canonicalizes, deduplicates and checks feasibility). NAS_ERR_EXHAUSTED
     * when the kind has nothing left (grid). */
    nas_status (*draw)(ctrl *c, pcg32 *rng, double *point, nas_error *err);
    /* Called after trial t was observed successfully (already in obs order). */
    nas_status (*observed)(ctrl *c, int t, nas_error *err);
    void (*save)(const ctrl *c, ctrl_writer *w);
    nas_status (*load)(ctrl *c, ctrl_reader *r, nas_error *err);
} ctrl_kind_ops;

struct ctrl {
    const ss_space *space;
    ctrl_options opt;
    const ctrl_kind_ops *ops;
    int nd; /* decisions */
    int no; /* objectives */

    /* trial history in proposal order: points nd doubles each, rewards no each */
    int n_trials, cap_trials;
    double *points;
    double *rewards;
    unsigned char *state; /* ctrl_trial_state */
    /* successful observations in observation order (trial indices) */
    int n_obs;
    int *obs;

    /* seen set: canonical point hash -> trial index (open addressing) */
    uint64_t *map_hash;
    int *map_idx; /* -1 empty */
    size_t map_cap;

    /* what the last ctrl_mark_saved made durable, for delta saves: the
     * trials and observations then, and the trials below saved_trials whose
     * state changed since (each changes once, pending -> done or failed, so
     * the list holds each at most once; capacity cap_trials) */
    int saved_trials, saved_obs;
    int n_changed;
    int *changed;

    /* finite space size (0 when infinite or larger than 2^63) */
    uint64_t card;

    double *scratch; /* nd doubles for the common loop */
    void *kind;      /* kind state */
};

/* Point of trial t, rewards of trial t. */
static inline double *ctrl_trial_point(const ctrl *c, int t) {
    return c->points + (size_t)t * (size_t)c->nd;
}
static inline double *ctrl_trial_rewards(const ctrl *c, int t) {
    return c->rewards + (size_t)t * (size_t)c->no;
}

/* Trial index holding this canonical point, or -1. */
int ctrl_seen_find(const ctrl *c, const double *point);

/* Number of values decision i takes in an odometer: choice n, int hi-lo+1
 * (saturating at UINT32_MAX), float `float_levels`. */
uint64_t ctrl_levels(const ss_decision *d, int float_levels);
/* Value of level k of decision d (float levels spread on its scale). */
double ctrl_level_value(const ss_decision *d, uint64_t k, int float_levels);
/* Level of a value (inverse of ctrl_level_value; floats to the nearest level). */
uint64_t ctrl_value_level(const ss_decision *d, double v, int float_levels);
/* Sets point from idx (levels), canonical. */
void ctrl_odometer_point(const ss_space *s, const uint64_t *idx, int float_levels, double *point);
/* Advances idx to the next canonical point in odometer order (last decision
 * fastest, inactive decisions held at level 0). Returns 0 after the last. */
int ctrl_odometer_next(const ss_space *s, uint64_t *idx, int float_levels, double *point);

/* Float decisions on their sampling scale: t = x (linear), log x (log),
 * -log(lo + hi - x) (reverse_log); t is increasing in x and a uniform draw of
 * t is the domain's uniform draw. */
double ctrl_float_to_t(const ss_domain *d, double x);
double ctrl_float_from_t(const ss_domain *d, double t);

/* Non-dominated sorting of n reward vectors (each m values, larger better):
 * rank[i] = front number (0 = non-dominated). Returns NAS_ERR_NOMEM or OK. */
nas_status ctrl_nondominated_sort(const double *const *r, int n, int m, int *rank);
/* Crowding distance of the members of one front (idx[0..k)) into dist[]
 * indexed by position in idx. */
nas_status ctrl_crowding(const double *const *r, const int *idx, int k, int m, double *dist);

extern const ctrl_kind_ops ctrl_kind_grid;
extern const ctrl_kind_ops ctrl_kind_evolution;
extern const ctrl_kind_ops ctrl_kind_reinforce;
extern const ctrl_kind_ops ctrl_kind_tpe;
extern const ctrl_kind_ops ctrl_kind_nsga2;

#endif
