/*
 * nsga2.c - the `nsga2` controller: multi-objective evolution with fast
 * non-dominated sorting and crowding distance (Deb et al. 2002), in ask/tell
 * form. Observations are consumed in generations of P (opt.population): when
 * P new trials have been observed, the parent population becomes the best P
 * of (old parents + the new generation) by (front rank, then larger crowding
 * distance within the front). Until the first generation is complete,
 * proposals are uniform. A child takes two binary-tournament winners,
 * uniform crossover per decision (then canonical), and with probability 1/2
 * one active decision mutated (ss_space_mutate). All opt.n_objectives
 * rewards are used (larger is better); ctrl_pareto_front returns the front
 * of every observed trial.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "controller/internal.h"

typedef struct nsga2_state {
    int n_par;
    int *par;      /* trial indices, P */
    int *rank;     /* front rank of each parent */
    double *crowd; /* crowding distance of each parent */
    int consumed;  /* obs entries already merged into a generation */
} nsga2_state;

static void nsga2_deinit(ctrl *c) {
    nsga2_state *s = c->kind;
    if (!s) return;
    free(s->par);
    free(s->rank);
    free(s->crowd);
    free(s);
    c->kind = NULL;
}

static nas_status nsga2_init(ctrl *c, nas_error *err) {
    nsga2_state *s = calloc(1, sizeof *s);
    if (!s) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating nsga2");
    c->kind = s;
    size_t P = (size_t)c->opt.population;
    s->par = malloc(P * sizeof *s->par);
    s->rank = malloc(P * sizeof *s->rank);
    s->crowd = malloc(P * sizeof *s->crowd);
    if (!s->par || !s->rank || !s->crowd)
        return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating nsga2");
    return NAS_OK;
}

typedef struct sel_key {
    int rank;
    double crowd;
    int pos;
} sel_key;

static int sel_cmp(const void *a, const void *b) {
    const sel_key *x = a, *y = b;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    if (x->crowd != y->crowd) return x->crowd > y->crowd ? -1 : 1;
    return x->pos - y->pos;
}

/* New parents: best P of old parents + obs[consumed..n_obs). */
static nas_status nsga2_select(ctrl *c, nas_error *err) {
    nsga2_state *s = c->kind;
    int n = s->n_par + (c->n_obs - s->consumed), m = c->no, P = c->opt.population;
    int *pool = malloc((size_t)n * sizeof *pool);
    const double **r = calloc((size_t)n, sizeof *r);
    int *rank = malloc((size_t)n * sizeof *rank);
    int *front = malloc((size_t)n * sizeof *front);
    double *dist = malloc((size_t)n * sizeof *dist);
    sel_key *keys = malloc((size_t)n * sizeof *keys);
    nas_status st = NAS_OK;
    if (!pool || !r || !rank || !front || !dist || !keys) goto nomem;
    int k = 0;
    for (int i = 0; i < s->n_par; i++) pool[k++] = s->par[i];
    for (int i = s->consumed; i < c->n_obs; i++) pool[k++] = c->obs[i];
    for (int i = 0; i < n; i++) r[i] = ctrl_trial_rewards(c, pool[i]);
    if (ctrl_nondominated_sort(r, n, m, rank) != NAS_OK) goto nomem;
    for (int f = 0;; f++) {
        int q = 0;
        for (int i = 0; i < n; i++)
            if (rank[i] == f) front[q++] = i;
        if (q == 0) break;
        if (ctrl_crowding(r, front, q, m, dist) != NAS_OK) goto nomem;
        for (int j = 0; j < q; j++) keys[front[j]] = (sel_key){f, dist[j], front[j]};
    }
    qsort(keys, (size_t)n, sizeof *keys, sel_cmp);
    s->n_par = n < P ? n : P;
    for (int i = 0; i < s->n_par; i++) {
        s->par[i] = pool[keys[i].pos];
        s->rank[i] = keys[i].rank;
        s->crowd[i] = keys[i].crowd;
    }
    s->consumed = c->n_obs;
    goto done;
nomem:
    st = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory in nsga2 selection");
done:
    free(pool);
    free(r);
    free(rank);
    free(front);
    free(dist);
    free(keys);
    return st;
}

static nas_status nsga2_observed(ctrl *c, int t, nas_error *err) {
    (void)t;
    nsga2_state *s = c->kind;
    if (c->n_obs - s->consumed >= c->opt.population) return nsga2_select(c, err);
    return NAS_OK;
}

static int tournament(const nsga2_state *s, pcg32 *rng) {
    int a = (int)pcg32_bounded(rng, (uint32_t)s->n_par);
    int b = (int)pcg32_bounded(rng, (uint32_t)s->n_par);
    if (s->rank[b] < s->rank[a] || (s->rank[b] == s->rank[a] && s->crowd[b] > s->crowd[a]))
        return b;
    return a;
}

static nas_status nsga2_draw(ctrl *c, pcg32 *rng, double *point, nas_error *err) {
    (void)err;
    nsga2_state *s = c->kind;
    if (s->n_par == 0) {
        ss_space_sample(c->space, rng, point);
        return NAS_OK;
    }
    const double *p1 = ctrl_trial_point(c, s->par[tournament(s, rng)]);
    const double *p2 = ctrl_trial_point(c, s->par[tournament(s, rng)]);
    for (int i = 0; i < c->nd; i++) point[i] = pcg32_bounded(rng, 2) ? p2[i] : p1[i];
    ss_space_canonicalize(c->space, point);
    if (pcg32_bounded(rng, 2)) ss_space_mutate(c->space, rng, point);
    return NAS_OK;
}

static void nsga2_save(const ctrl *c, ctrl_writer *w) {
    const nsga2_state *s = c->kind;
    ctrl_w_u32(w, (uint32_t)s->n_par);
    ctrl_w_u32(w, (uint32_t)s->consumed);
    ctrl_w_bytes(w, s->par, (size_t)s->n_par * sizeof *s->par);
    ctrl_w_bytes(w, s->rank, (size_t)s->n_par * sizeof *s->rank);
    ctrl_w_bytes(w, s->crowd, (size_t)s->n_par * sizeof *s->crowd);
}

static nas_status nsga2_load(ctrl *c, ctrl_reader *r, nas_error *err) {
    nsga2_state *s = c->kind;
    uint32_t n_par = ctrl_r_u32(r), consumed = ctrl_r_u32(r);
    if (r->failed || n_par > (uint32_t)c->opt.population || consumed > (uint32_t)c->n_obs)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "nsga2 state: bad population");
    s->n_par = (int)n_par;
    s->consumed = (int)consumed;
    ctrl_r_bytes(r, s->par, (size_t)n_par * sizeof *s->par);
    ctrl_r_bytes(r, s->rank, (size_t)n_par * sizeof *s->rank);
    ctrl_r_bytes(r, s->crowd, (size_t)n_par * sizeof *s->crowd);
    if (r->failed) return NAS_FAIL(err, NAS_ERR_FORMAT, "nsga2 state is truncated");
    for (int i = 0; i < s->n_par; i++)
        if (s->par[i] < 0 || s->par[i] >= c->n_trials || c->state[s->par[i]] != CTRL_TRIAL_DONE)
            return NAS_FAIL(err, NAS_ERR_FORMAT, "nsga2 state: bad parent");
    return NAS_OK;
}

const ctrl_kind_ops ctrl_kind_nsga2 = {"nsga2",        nsga2_init, nsga2_deinit, nsga2_draw,
                                       nsga2_observed, nsga2_save, nsga2_load};
