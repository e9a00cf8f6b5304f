/*
 * controller.c - the ask/tell machinery shared by every controller kind:
 * options, the trial history (pending / done / failed), the seen set of
 * canonical point hashes, the propose loop (deduplication, feasibility with
 * max_rejects, exhaustion), observe, save/load, the odometer over finite or
 * discretised domains, and the `random` kind (uniform over active decisions).
 *
 * The propose loop asks the kind for a candidate; a duplicate is redrawn.
 * After DUP_KIND duplicates in a row (a converged model keeps proposing its
 * mode) the loop takes the kind's draws with 1 + k/16 decisions mutated on
 * the k-th try (ss_space_mutate: ever wider neighbours of what the model
 * wants), after DUP_MUTATE
 * more it falls back to uniform draws, and in a finite space after
 * DUP_RANDOM more to an odometer scan from the last draw, so a proposal
 * never fails while an unseen point exists. Grid is never diverted (it walks
 * its own order). Infeasible points count towards
 * max_rejects; reaching it fails with NAS_ERR_CONSTRAINT naming the last
 * violated constraint. Infeasible points are kept in the history (never
 * proposed, never redrawn) so that model-based kinds learn to avoid them:
 * tpe counts them among its "above" (bad) observations.
 *
 * Save format (native byte order, one machine's resume file): "NASCTRL1",
 * u32 version, kind name, space and options fingerprints, the history, the
 * kind's payload, then a checksum of everything before it: version 2 (written
 * now) FNV-1a 64 over 8-byte words (the last partial word bytewise), which
 * costs an eighth of version 1's bytewise FNV-1a 64 on a state saved with
 * every trial; version 1 states are still read.
 *
 * A delta ("NASCTRLD", version 1, the same header and checksum) holds what
 * changed since the last ctrl_mark_saved: the trial and observation counts
 * it applies to, the records (index, state, point, rewards) of the trials
 * added or changed since, the observations made since, and the kind's whole
 * payload (bounded: a population, a policy, an odometer). A study saves the
 * state with every trial; deltas keep that cost constant where the full
 * history grows with every trial.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "controller/internal.h"

#define DUP_KIND 16
#define DUP_MUTATE 256
#define DUP_RANDOM 256
#define SAVE_MAGIC "NASCTRL1"
#define SAVE_VERSION 2u
#define DELTA_MAGIC "NASCTRLD"
#define DELTA_VERSION 1u

ctrl_options ctrl_options_default(void) {
    ctrl_options o;
    memset(&o, 0, sizeof o);
    o.kind = "random";
    o.n_objectives = 1;
    o.max_rejects = 1000;
    o.population = 20;
    o.tournament = 5;
    o.float_levels = 5;
    o.startup_trials = 10;
    o.ei_candidates = 24;
    o.learning_rate = 0.05;
    o.entropy_weight = 0.01;
    o.baseline_decay = 0.9;
    return o;
}

/* ---- random kind ---- */

static nas_status random_draw(ctrl *c, pcg32 *rng, double *point, nas_error *err) {
    (void)err;
    ss_space_sample(c->space, rng, point);
    return NAS_OK;
}

static const ctrl_kind_ops ctrl_kind_random = {"random", NULL, NULL, random_draw,
                                               NULL,     NULL, NULL};

static const ctrl_kind_ops *const KINDS[] = {&ctrl_kind_random,    &ctrl_kind_grid,
                                             &ctrl_kind_evolution, &ctrl_kind_reinforce,
                                             &ctrl_kind_tpe,       &ctrl_kind_nsga2};

/* ---- float scales and the odometer ---- */

/* Matches searchspace's draw: log scales of a range with lo <= 0 are shifted
 * to start at 1. */
static double log_shift(const ss_domain *d) { return d->flo > 0 ? 0.0 : 1.0 - d->flo; }

double ctrl_float_to_t(const ss_domain *d, double x) {
    switch (d->scale) {
    case SS_SCALE_LOG: return log(x + log_shift(d));
    case SS_SCALE_REVERSE_LOG: return -log(d->flo + d->fhi - x + log_shift(d));
    case SS_SCALE_LINEAR: break;
    }
    return x;
}

double ctrl_float_from_t(const ss_domain *d, double t) {
    double x = t;
    switch (d->scale) {
    case SS_SCALE_LOG: x = exp(t) - log_shift(d); break;
    case SS_SCALE_REVERSE_LOG: x = d->flo + d->fhi + log_shift(d) - exp(-t); break;
    case SS_SCALE_LINEAR: break;
    }
    if (x < d->flo) x = d->flo;
    if (x > d->fhi) x = d->fhi;
    return x;
}

uint64_t ctrl_levels(const ss_decision *d, int float_levels) {
    switch (d->dom.kind) {
    case SS_DOMAIN_CHOICE: return (uint64_t)(d->dom.n > 0 ? d->dom.n : 1);
    case SS_DOMAIN_INT: {
        uint64_t span = (uint64_t)d->dom.hi - (uint64_t)d->dom.lo;
        return span >= UINT32_MAX ? UINT32_MAX : span + 1;
    }
    case SS_DOMAIN_FLOAT: return d->dom.fhi > d->dom.flo ? (uint64_t)float_levels : 1;
    }
    return 1;
}

double ctrl_level_value(const ss_decision *d, uint64_t k, int float_levels) {
    switch (d->dom.kind) {
    case SS_DOMAIN_CHOICE: return (double)k;
    case SS_DOMAIN_INT: return (double)(d->dom.lo + (int64_t)k);
    case SS_DOMAIN_FLOAT: {
        if (float_levels <= 1 || !(d->dom.fhi > d->dom.flo)) return d->dom.flo;
        if (k == 0) return d->dom.flo;
        if (k >= (uint64_t)float_levels - 1) return d->dom.fhi;
        double tlo = ctrl_float_to_t(&d->dom, d->dom.flo);
        double thi = ctrl_float_to_t(&d->dom, d->dom.fhi);
        return ctrl_float_from_t(&d->dom, tlo + (thi - tlo) * (double)k / (float_levels - 1));
    }
    }
    return 0.0;
}

uint64_t ctrl_value_level(const ss_decision *d, double v, int float_levels) {
    switch (d->dom.kind) {
    case SS_DOMAIN_CHOICE: return v > 0 ? (uint64_t)v : 0;
    case SS_DOMAIN_INT: return v > (double)d->dom.lo ? (uint64_t)(v - (double)d->dom.lo) : 0;
    case SS_DOMAIN_FLOAT: {
        if (float_levels <= 1 || !(d->dom.fhi > d->dom.flo)) return 0;
        double tlo = ctrl_float_to_t(&d->dom, d->dom.flo);
        double thi = ctrl_float_to_t(&d->dom, d->dom.fhi);
        double u = (ctrl_float_to_t(&d->dom, v) - tlo) / (thi - tlo);
        double k = floor(u * (float_levels - 1) + 0.5);
        if (k < 0) k = 0;
        if (k > float_levels - 1) k = float_levels - 1;
        return (uint64_t)k;
    }
    }
    return 0;
}

void ctrl_odometer_point(const ss_space *s, const uint64_t *idx, int float_levels, double *point) {
    for (int i = 0; i < s->n_decisions; i++)
        point[i] = ctrl_level_value(&s->decisions[i], idx[i], float_levels);
    ss_space_canonicalize(s, point);
}

int ctrl_odometer_next(const ss_space *s, uint64_t *idx, int float_levels, double *point) {
    for (int i = s->n_decisions - 1; i >= 0; i--) {
        const ss_decision *d = &s->decisions[i];
        if (!ss_decision_is_active(s, point, i)) continue;
        if (idx[i] + 1 < ctrl_levels(d, float_levels)) {
            idx[i]++;
            point[i] = ctrl_level_value(d, idx[i], float_levels);
            for (int j = i + 1; j < s->n_decisions; j++) {
                idx[j] = 0;
                point[j] = ctrl_level_value(&s->decisions[j], 0, float_levels);
            }
            ss_space_canonicalize(s, point);
            return 1;
        }
        idx[i] = 0;
        point[i] = ctrl_level_value(d, 0, float_levels);
    }
    return 0;
}

/* ---- byte writer / reader ---- */

void ctrl_w_bytes(ctrl_writer *w, const void *p, size_t n) {
    if (w->failed) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n) cap *= 2;
        unsigned char *b = realloc(w->buf, cap);
        if (!b) {
            w->failed = 1;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    if (n) memcpy(w->buf + w->len, p, n);
    w->len += n;
}
void ctrl_w_u32(ctrl_writer *w, uint32_t v) { ctrl_w_bytes(w, &v, sizeof v); }
void ctrl_w_u64(ctrl_writer *w, uint64_t v) { ctrl_w_bytes(w, &v, sizeof v); }
void ctrl_w_f64(ctrl_writer *w, double v) { ctrl_w_bytes(w, &v, sizeof v); }

void ctrl_r_bytes(ctrl_reader *r, void *p, size_t n) {
    if (n == 0) return; /* p may be NULL (an empty history) */
    if (r->failed || n > r->len - r->pos) {
        r->failed = 1;
        memset(p, 0, n);
        return;
    }
    memcpy(p, r->buf + r->pos, n);
    r->pos += n;
}
uint32_t ctrl_r_u32(ctrl_reader *r) {
    uint32_t v;
    ctrl_r_bytes(r, &v, sizeof v);
    return v;
}
uint64_t ctrl_r_u64(ctrl_reader *r) {
    uint64_t v;
    ctrl_r_bytes(r, &v, sizeof v);
    return v;
}
double ctrl_r_f64(ctrl_reader *r) {
    double v;
    ctrl_r_bytes(r, &v, sizeof v);
    return v;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

/* The save checksum (version 2): FNV-1a 64 with 8-byte words (native order)
 * as its symbols, then the remaining bytes. Every single-bit change changes
 * it (each step is a bijection of h). */
static uint64_t save_sum(const unsigned char *p, size_t n) {
    uint64_t h = FNV_INIT, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h ^= w;
        h *= 0x100000001b3ULL;
    }
    return fnv1a(h, p + i, n - i);
}

static uint64_t space_fingerprint(const ss_space *s) {
    uint64_t h = fnv1a(FNV_INIT, &s->n_decisions, sizeof s->n_decisions);
    for (int i = 0; i < s->n_decisions; i++) {
        const ss_decision *d = &s->decisions[i];
        int k = (int)d->dom.kind, sc = (int)d->dom.scale;
        h = fnv1a(h, &k, sizeof k);
        h = fnv1a(h, &d->dom.n, sizeof d->dom.n);
        h = fnv1a(h, &d->dom.lo, sizeof d->dom.lo);
        h = fnv1a(h, &d->dom.hi, sizeof d->dom.hi);
        h = fnv1a(h, &d->dom.flo, sizeof d->dom.flo);
        h = fnv1a(h, &d->dom.fhi, sizeof d->dom.fhi);
        h = fnv1a(h, &sc, sizeof sc);
        h = fnv1a(h, &d->cond.parent, sizeof d->cond.parent);
        h = fnv1a(h, &d->cond.lo, sizeof d->cond.lo);
        h = fnv1a(h, &d->cond.hi, sizeof d->cond.hi);
        if (d->cond.parent >= 0 && d->cond.allowed &&
            s->decisions[d->cond.parent].dom.kind == SS_DOMAIN_CHOICE)
            h = fnv1a(h, d->cond.allowed, (size_t)s->decisions[d->cond.parent].dom.n);
    }
    return h;
}

static uint64_t options_fingerprint(const ctrl_options *o) {
    uint64_t h = fnv1a(FNV_INIT, o->kind, strlen(o->kind));
    int ints[] = {o->n_objectives,  o->max_rejects,    o->population, o->tournament,
                  o->float_levels,  o->startup_trials, o->ei_candidates};
    double dbl[] = {o->learning_rate, o->entropy_weight, o->baseline_decay};
    h = fnv1a(h, ints, sizeof ints);
    return fnv1a(h, dbl, sizeof dbl);
}

/* ---- seen set ---- */

static size_t map_slot(const ctrl *c, uint64_t h) {
    size_t mask = c->map_cap - 1, i = (size_t)(h ^ (h >> 29)) & mask;
    while (c->map_idx[i] >= 0 && c->map_hash[i] != h) i = (i + 1) & mask;
    return i;
}

static nas_status map_grow(ctrl *c) {
    size_t cap = c->map_cap ? c->map_cap * 2 : 64;
    uint64_t *hs = malloc(cap * sizeof *hs);
    int *ix = malloc(cap * sizeof *ix);
    if (!hs || !ix) {
        free(hs);
        free(ix);
        return NAS_ERR_NOMEM;
    }
    for (size_t i = 0; i < cap; i++) ix[i] = -1;
    uint64_t *old_h = c->map_hash;
    int *old_i = c->map_idx;
    size_t old_cap = c->map_cap;
    c->map_hash = hs;
    c->map_idx = ix;
    c->map_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old_i[i] < 0) continue;
        size_t s = map_slot(c, old_h[i]);
        c->map_hash[s] = old_h[i];
        c->map_idx[s] = old_i[i];
    }
    free(old_h);
    free(old_i);
    return NAS_OK;
}

int ctrl_seen_find(const ctrl *c, const double *point) {
    if (!c->map_cap) return -1;
    size_t s = map_slot(c, ss_point_hash(c->space, point));
    return c->map_idx[s];
}

/* Appends a trial (point canonical) and records it in the seen set. */
static nas_status add_trial(ctrl *c, const double *point, ctrl_trial_state st, nas_error *err) {
    if (c->n_trials == c->cap_trials) {
        int cap = c->cap_trials ? c->cap_trials * 2 : 64;
        double *p = realloc(c->points, (size_t)cap * (size_t)c->nd * sizeof *p + 1);
        if (!p) goto nomem;
        c->points = p;
        double *r = realloc(c->rewards, (size_t)cap * (size_t)c->no * sizeof *r);
        if (!r) goto nomem;
        c->rewards = r;
        unsigned char *s = realloc(c->state, (size_t)cap);
        if (!s) goto nomem;
        c->state = s;
        int *o = realloc(c->obs, (size_t)cap * sizeof *o);
        if (!o) goto nomem;
        c->obs = o;
        int *ch = realloc(c->changed, (size_t)cap * sizeof *ch);
        if (!ch) goto nomem;
        c->changed = ch;
        c->cap_trials = cap;
    }
    if ((size_t)(c->n_trials + 1) * 2 > c->map_cap && map_grow(c) != NAS_OK) goto nomem;
    int t = c->n_trials++;
    memcpy(ctrl_trial_point(c, t), point, (size_t)c->nd * sizeof *point);
    for (int k = 0; k < c->no; k++) ctrl_trial_rewards(c, t)[k] = NAN;
    c->state[t] = (unsigned char)st;
    uint64_t h = ss_point_hash(c->space, point);
    size_t s = map_slot(c, h);
    c->map_hash[s] = h;
    c->map_idx[s] = t;
    return NAS_OK;
nomem:
    return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory recording trial %d", c->n_trials);
}

/* ---- create / destroy ---- */

static nas_status check_options(const ss_space *space, const ctrl_options *o, nas_error *err) {
    if (!o->kind) return NAS_FAIL(err, NAS_ERR_INVALID, "controller kind is NULL");
    if (o->n_objectives < 1 || o->n_objectives > 64)
        return NAS_FAIL(err, NAS_ERR_INVALID, "n_objectives must be in 1..64, got %d",
                        o->n_objectives);
    if (o->max_rejects < 1)
        return NAS_FAIL(err, NAS_ERR_INVALID, "max_rejects must be >= 1, got %d", o->max_rejects);
    if (o->population < 2)
        return NAS_FAIL(err, NAS_ERR_INVALID, "population must be >= 2, got %d", o->population);
    if (o->tournament < 1 || o->tournament > o->population)
        return NAS_FAIL(err, NAS_ERR_INVALID, "tournament must be in 1..population (%d), got %d",
                        o->population, o->tournament);
    if (o->float_levels < 1)
        return NAS_FAIL(err, NAS_ERR_INVALID, "float_levels must be >= 1, got %d",
                        o->float_levels);
    if (o->startup_trials < 1)
        return NAS_FAIL(err, NAS_ERR_INVALID, "startup_trials must be >= 1, got %d",
                        o->startup_trials);
    if (o->ei_candidates < 1)
        return NAS_FAIL(err, NAS_ERR_INVALID, "ei_candidates must be >= 1, got %d",
                        o->ei_candidates);
    if (!(o->learning_rate > 0) || !isfinite(o->learning_rate))
        return NAS_FAIL(err, NAS_ERR_INVALID, "learning_rate must be > 0");
    if (!(o->entropy_weight >= 0) || !isfinite(o->entropy_weight))
        return NAS_FAIL(err, NAS_ERR_INVALID, "entropy_weight must be >= 0");
    if (!(o->baseline_decay >= 0 && o->baseline_decay < 1))
        return NAS_FAIL(err, NAS_ERR_INVALID, "baseline_decay must be in [0, 1)");
    for (int i = 0; i < space->n_decisions; i++) {
        const ss_domain *d = &space->decisions[i].dom;
        if (d->kind == SS_DOMAIN_CHOICE && d->n < 1)
            return NAS_FAIL(err, NAS_ERR_INVALID, "decision %s has no options",
                            space->decisions[i].name);
        if (d->kind == SS_DOMAIN_INT && d->lo > d->hi)
            return NAS_FAIL(err, NAS_ERR_INVALID, "decision %s has an empty range",
                            space->decisions[i].name);
        if (d->kind == SS_DOMAIN_FLOAT && !(d->flo <= d->fhi && isfinite(d->flo) &&
                                             isfinite(d->fhi)))
            return NAS_FAIL(err, NAS_ERR_INVALID, "decision %s has a bad float range",
                            space->decisions[i].name);
    }
    return NAS_OK;
}

nas_status ctrl_create(const ss_space *space, const ctrl_options *opt, ctrl **out, nas_error *err) {
    *out = NULL;
    ctrl_options o = opt ? *opt : ctrl_options_default();
    nas_status st = check_options(space, &o, err);
    if (st != NAS_OK) return st;
    const ctrl_kind_ops *ops = NULL;
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (strcmp(KINDS[i]->name, o.kind) == 0) ops = KINDS[i];
    if (!ops)
        return NAS_FAIL(err, NAS_ERR_INVALID,
                        "unknown controller \"%s\" (random, grid, evolution, reinforce, tpe, "
                        "nsga2)",
                        o.kind);
    o.kind = ops->name;
    ctrl *c = calloc(1, sizeof *c);
    if (!c) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating controller");
    c->space = space;
    c->opt = o;
    c->ops = ops;
    c->nd = space->n_decisions;
    c->no = o.n_objectives;
    c->scratch = malloc(((size_t)c->nd + 1) * sizeof *c->scratch);
    if (!c->scratch) {
        st = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating controller");
        goto fail;
    }
    char digits[32];
    double log10_size = 0;
    if (ss_space_cardinality(space, digits, sizeof digits, &log10_size) == 1) {
        char *end = NULL;
        unsigned long long v = strtoull(digits, &end, 10);
        if (end && *end == '\0' && v < (1ULL << 63)) c->card = v;
    }
    if (ops->init && (st = ops->init(c, err)) != NAS_OK) goto fail;
    *out = c;
    return NAS_OK;
fail:
    ctrl_destroy(c);
    return st;
}

static void free_contents(ctrl *c) {
    if (c->ops && c->ops->deinit) c->ops->deinit(c);
    free(c->points);
    free(c->rewards);
    free(c->state);
    free(c->obs);
    free(c->changed);
    free(c->map_hash);
    free(c->map_idx);
    free(c->scratch);
}

void ctrl_destroy(ctrl *c) {
    if (!c) return;
    free_contents(c);
    free(c);
}

/* ---- propose / observe ---- */

nas_status ctrl_propose(ctrl *c, pcg32 *rng, double *point, nas_error *err) {
    if (c->card && (uint64_t)c->n_trials >= c->card)
        return NAS_FAIL(err, NAS_ERR_EXHAUSTED, "all %llu points of the space were proposed",
                        (unsigned long long)c->card);
    int is_grid = c->ops == &ctrl_kind_grid;
    int mode = 0, dups = 0, rejects = 0;
    uint64_t *idx = NULL;
    char why[256] = "";
    nas_status st = NAS_OK;
    for (;;) {
        if (mode <= 1) {
            if ((st = c->ops->draw(c, rng, point, err)) != NAS_OK) goto fail;
            if (mode == 1) {
                ss_space_canonicalize(c->space, point);
                for (int m = 0; m <= dups / 16; m++) ss_space_mutate(c->space, rng, point);
            }
        } else if (mode == 2) {
            ss_space_sample(c->space, rng, point);
        } else if (!ctrl_odometer_next(c->space, idx, 1, point)) {
            memset(idx, 0, (size_t)c->nd * sizeof *idx);
            ctrl_odometer_point(c->space, idx, 1, point);
        }
        ss_space_canonicalize(c->space, point);
        if (ctrl_seen_find(c, point) >= 0) {
            dups++;
            if (mode == 0 && !is_grid && dups >= DUP_KIND) {
                mode = 1;
                dups = 0;
            } else if (mode == 1 && dups >= DUP_MUTATE) {
                mode = 2;
                dups = 0;
            } else if (mode == 2 && dups >= DUP_RANDOM) {
                if (!c->card) {
                    if (dups < c->opt.max_rejects) continue;
                    st = NAS_FAIL(err, NAS_ERR_EXHAUSTED,
                                  "no unseen point in %d draws (space nearly exhausted)", dups);
                    goto fail;
                }
                idx = malloc(((size_t)c->nd + 1) * sizeof *idx);
                if (!idx) {
                    st = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory in propose");
                    goto fail;
                }
                for (int i = 0; i < c->nd; i++)
                    idx[i] = ctrl_value_level(&c->space->decisions[i], point[i], 1);
                mode = 3;
            }
            continue;
        }
        if (c->opt.feasible) {
            why[0] = '\0';
            if (!c->opt.feasible(c->opt.feasible_user, point, why, sizeof why)) {
                if ((st = add_trial(c, point, CTRL_TRIAL_INFEASIBLE, err)) != NAS_OK) goto fail;
                if (++rejects >= c->opt.max_rejects) {
                    st = NAS_FAIL(err, NAS_ERR_CONSTRAINT,
                                  "no feasible point in %d draws: violates %s", rejects,
                                  why[0] ? why : "a constraint");
                    goto fail;
                }
                continue;
            }
        }
        if ((st = add_trial(c, point, CTRL_TRIAL_PENDING, err)) != NAS_OK) goto fail;
        free(idx);
        return NAS_OK;
    }
fail:
    free(idx);
    return st;
}

/* Finds the pending trial of point (canonicalized into scratch). */
static nas_status find_pending(ctrl *c, const double *point, int *t, nas_error *err) {
    memcpy(c->scratch, point, (size_t)c->nd * sizeof *point);
    ss_space_canonicalize(c->space, c->scratch);
    *t = ctrl_seen_find(c, c->scratch);
    if (*t < 0 || !ss_point_equal(c->space, c->scratch, ctrl_trial_point(c, *t)))
        return NAS_FAIL(err, NAS_ERR_INVALID, "observed point was never proposed");
    if (c->state[*t] == CTRL_TRIAL_INFEASIBLE)
        return NAS_FAIL(err, NAS_ERR_INVALID, "observed point was never proposed (infeasible)");
    if (c->state[*t] != CTRL_TRIAL_PENDING)
        return NAS_FAIL(err, NAS_ERR_INVALID, "trial %d was already %s", *t,
                        c->state[*t] == CTRL_TRIAL_DONE ? "observed" : "reported failed");
    return NAS_OK;
}

nas_status ctrl_observe(ctrl *c, const double *point, const double *rewards, nas_error *err) {
    int t;
    for (int k = 0; k < c->no; k++)
        if (!isfinite(rewards[k]))
            return NAS_FAIL(err, NAS_ERR_INVALID, "reward %d is not finite (use observe_failed)",
                            k);
    nas_status st = find_pending(c, point, &t, err);
    if (st != NAS_OK) return st;
    memcpy(ctrl_trial_rewards(c, t), rewards, (size_t)c->no * sizeof *rewards);
    c->state[t] = CTRL_TRIAL_DONE;
    c->obs[c->n_obs++] = t;
    if (t < c->saved_trials) c->changed[c->n_changed++] = t;
    if (c->ops->observed) return c->ops->observed(c, t, err);
    return NAS_OK;
}

nas_status ctrl_observe_failed(ctrl *c, const double *point, nas_error *err) {
    int t;
    nas_status st = find_pending(c, point, &t, err);
    if (st != NAS_OK) return st;
    c->state[t] = CTRL_TRIAL_FAILED;
    if (t < c->saved_trials) c->changed[c->n_changed++] = t;
    return NAS_OK;
}

const char *ctrl_kind(const ctrl *c) { return c->ops->name; }

int ctrl_n_trials(const ctrl *c, int *n_pending, int *n_done, int *n_failed) {
    int p = 0, d = 0, f = 0;
    for (int t = 0; t < c->n_trials; t++) {
        if (c->state[t] == CTRL_TRIAL_PENDING) p++;
        else if (c->state[t] == CTRL_TRIAL_DONE) d++;
        else if (c->state[t] == CTRL_TRIAL_FAILED) f++;
    }
    if (n_pending) *n_pending = p;
    if (n_done) *n_done = d;
    if (n_failed) *n_failed = f;
    return p + d + f;
}

/* ---- Pareto fronts ---- */

nas_status ctrl_nondominated_sort(const double *const *r, int n, int m, int *rank) {
    int *cnt = calloc((size_t)n + 1, sizeof *cnt);
    int *cur = malloc(((size_t)n + 1) * sizeof *cur);
    if (!cnt || !cur) {
        free(cnt);
        free(cur);
        return NAS_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j && ctrl_dominates(r[j], r[i], m)) cnt[i]++;
    int left = n, front = 0;
    for (int i = 0; i < n; i++) rank[i] = -1;
    while (left > 0) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (rank[i] < 0 && cnt[i] == 0) cur[k++] = i;
        for (int a = 0; a < k; a++) rank[cur[a]] = front;
        for (int a = 0; a < k; a++)
            for (int j = 0; j < n; j++)
                if (rank[j] < 0 && ctrl_dominates(r[cur[a]], r[j], m)) cnt[j]--;
        left -= k;
        front++;
    }
    free(cnt);
    free(cur);
    return NAS_OK;
}

typedef struct crowd_key {
    double v;
    int pos;
} crowd_key;

static int crowd_cmp(const void *a, const void *b) {
    const crowd_key *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return x->pos - y->pos;
}

nas_status ctrl_crowding(const double *const *r, const int *idx, int k, int m, double *dist) {
    for (int i = 0; i < k; i++) dist[i] = 0;
    if (k <= 2) {
        for (int i = 0; i < k; i++) dist[i] = INFINITY;
        return NAS_OK;
    }
    crowd_key *keys = malloc((size_t)k * sizeof *keys);
    if (!keys) return NAS_ERR_NOMEM;
    for (int o = 0; o < m; o++) {
        for (int i = 0; i < k; i++) {
            keys[i].v = r[idx[i]][o];
            keys[i].pos = i;
        }
        qsort(keys, (size_t)k, sizeof *keys, crowd_cmp);
        double span = keys[k - 1].v - keys[0].v;
        dist[keys[0].pos] = INFINITY;
        dist[keys[k - 1].pos] = INFINITY;
        if (!(span > 0)) continue;
        for (int i = 1; i < k - 1; i++)
            dist[keys[i].pos] += (keys[i + 1].v - keys[i - 1].v) / span;
    }
    free(keys);
    return NAS_OK;
}

nas_status ctrl_pareto_front(const ctrl *c, double **points, double **rewards, int *n,
                             nas_error *err) {
    *points = NULL;
    *rewards = NULL;
    *n = 0;
    const double **r = malloc(((size_t)c->n_obs + 1) * sizeof *r);
    int *rank = malloc(((size_t)c->n_obs + 1) * sizeof *rank);
    double *p = NULL, *q = NULL;
    nas_status st = NAS_OK;
    if (!r || !rank) goto nomem;
    for (int i = 0; i < c->n_obs; i++) r[i] = ctrl_trial_rewards(c, c->obs[i]);
    if (ctrl_nondominated_sort(r, c->n_obs, c->no, rank) != NAS_OK) goto nomem;
    int k = 0;
    for (int i = 0; i < c->n_obs; i++) k += rank[i] == 0;
    p = malloc(((size_t)k * (size_t)c->nd + 1) * sizeof *p);
    q = malloc(((size_t)k * (size_t)c->no + 1) * sizeof *q);
    if (!p || !q) goto nomem;
    int j = 0;
    for (int i = 0; i < c->n_obs; i++) {
        if (rank[i] != 0) continue;
        memcpy(p + (size_t)j * (size_t)c->nd, ctrl_trial_point(c, c->obs[i]),
               (size_t)c->nd * sizeof *p);
        memcpy(q + (size_t)j * (size_t)c->no, r[i], (size_t)c->no * sizeof *q);
        j++;
    }
    *points = p;
    *rewards = q;
    *n = k;
    free(r);
    free(rank);
    return NAS_OK;
nomem:
    st = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory computing the Pareto front");
    free(r);
    free(rank);
    free(p);
    free(q);
    return st;
}

/* ---- save / load ---- */

/* The header both formats share: magic, version, kind, fingerprints, sizes. */
static void write_header(const ctrl *c, ctrl_writer *w, const char *magic, uint32_t version) {
    uint32_t name_len = (uint32_t)strlen(c->ops->name);
    ctrl_w_bytes(w, magic, 8);
    ctrl_w_u32(w, version);
    ctrl_w_u32(w, name_len);
    ctrl_w_bytes(w, c->ops->name, name_len);
    ctrl_w_u64(w, space_fingerprint(c->space));
    ctrl_w_u64(w, options_fingerprint(&c->opt));
    ctrl_w_u32(w, (uint32_t)c->nd);
    ctrl_w_u32(w, (uint32_t)c->no);
}

/* A delta's record of trial t: index, state, point, rewards. */
static void write_record(const ctrl *c, ctrl_writer *w, int t) {
    ctrl_w_u32(w, (uint32_t)t);
    ctrl_w_bytes(w, &c->state[t], 1);
    ctrl_w_bytes(w, ctrl_trial_point(c, t), (size_t)c->nd * sizeof(double));
    ctrl_w_bytes(w, ctrl_trial_rewards(c, t), (size_t)c->no * sizeof(double));
}

nas_status ctrl_save(const ctrl *c, int delta, unsigned char **buf, size_t *len, nas_error *err) {
    ctrl_writer w = {0};
    *buf = NULL;
    *len = 0;
    if (!delta) {
        write_header(c, &w, SAVE_MAGIC, SAVE_VERSION);
        ctrl_w_u32(&w, (uint32_t)c->n_trials);
        ctrl_w_bytes(&w, c->state, (size_t)c->n_trials);
        ctrl_w_bytes(&w, c->points, (size_t)c->n_trials * (size_t)c->nd * sizeof(double));
        ctrl_w_bytes(&w, c->rewards, (size_t)c->n_trials * (size_t)c->no * sizeof(double));
        ctrl_w_u32(&w, (uint32_t)c->n_obs);
        ctrl_w_bytes(&w, c->obs, (size_t)c->n_obs * sizeof(int));
    } else {
        write_header(c, &w, DELTA_MAGIC, DELTA_VERSION);
        ctrl_w_u32(&w, (uint32_t)c->saved_trials);
        ctrl_w_u32(&w, (uint32_t)c->saved_obs);
        ctrl_w_u32(&w, (uint32_t)(c->n_changed + c->n_trials - c->saved_trials));
        for (int i = 0; i < c->n_changed; i++) write_record(c, &w, c->changed[i]);
        for (int t = c->saved_trials; t < c->n_trials; t++) write_record(c, &w, t);
        ctrl_w_u32(&w, (uint32_t)(c->n_obs - c->saved_obs));
        if (c->n_obs > c->saved_obs) /* (obs is NULL before the first trial) */
            ctrl_w_bytes(&w, c->obs + c->saved_obs, (size_t)(c->n_obs - c->saved_obs) * sizeof(int));
    }
    if (c->ops->save) c->ops->save(c, &w);
    if (!w.failed) ctrl_w_u64(&w, save_sum(w.buf, w.len));
    if (w.failed) {
        free(w.buf);
        return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory saving controller state");
    }
    *buf = w.buf;
    *len = w.len;
    return NAS_OK;
}

uint64_t ctrl_part_checksum(const unsigned char *p, size_t n) { return save_sum(p, n); }

void ctrl_mark_saved(ctrl *c) {
    c->saved_trials = c->n_trials;
    c->saved_obs = c->n_obs;
    c->n_changed = 0;
}

/* Finite rewards for a done trial (the others' are not read). */
static int rewards_valid(const ctrl *c, const double *rw, int state) {
    for (int k = 0; state == CTRL_TRIAL_DONE && k < c->no; k++)
        if (!isfinite(rw[k])) return 0;
    return 1;
}

/* A loaded trial: its point within every decision's domain (a choice's
 * index and an int whole), canonical, and not in the history yet; finite
 * rewards when it is done. work: nd doubles. */
static int trial_valid(const ctrl *c, const double *p, const double *rw, int state, double *work) {
    for (int i = 0; i < c->nd; i++) {
        const ss_domain *d = &c->space->decisions[i].dom;
        double v = p[i];
        int ok = d->kind == SS_DOMAIN_CHOICE ? v >= 0 && v < d->n && v == floor(v)
                 : d->kind == SS_DOMAIN_INT  ? v >= (double)d->lo && v <= (double)d->hi && v == floor(v)
                                             : v >= d->flo && v <= d->fhi;
        if (!ok) return 0;
    }
    memcpy(work, p, (size_t)c->nd * sizeof *work);
    ss_space_canonicalize(c->space, work);
    if (memcmp(work, p, (size_t)c->nd * sizeof *work) != 0) return 0;
    int t = ctrl_seen_find(c, p);
    if (t >= 0 && ss_point_equal(c->space, p, ctrl_trial_point(c, t))) return 0;
    return rewards_valid(c, rw, state);
}

/* Appends observations (a count, then trial indices) read from r: no more
 * than c has trials not yet observed, each naming a done trial. */
static nas_status read_obs(ctrl *c, ctrl_reader *r, nas_error *err) {
    uint32_t n = ctrl_r_u32(r);
    if (r->failed || n > (uint32_t)(c->n_trials - c->n_obs))
        return NAS_FAIL(err, NAS_ERR_FORMAT, "controller state: bad observation count");
    if (n) ctrl_r_bytes(r, c->obs + c->n_obs, (size_t)n * sizeof(int));
    if (r->failed) return NAS_FAIL(err, NAS_ERR_FORMAT, "controller state is truncated");
    for (uint32_t i = 0; i < n; i++) {
        int t = c->obs[c->n_obs + (int)i];
        if (t < 0 || t >= c->n_trials || c->state[t] != CTRL_TRIAL_DONE)
            return NAS_FAIL(err, NAS_ERR_FORMAT, "controller state: bad observation list");
    }
    c->n_obs += (int)n;
    return NAS_OK;
}

/* Reads the history into a fresh controller c (same space and options). */
static nas_status load_into(ctrl *c, ctrl_reader *r, nas_error *err) {
    uint32_t n = ctrl_r_u32(r);
    if (r->failed || (size_t)n > (r->len - r->pos) / (1 + sizeof(double) * (size_t)c->nd))
        return NAS_FAIL(err, NAS_ERR_FORMAT, "controller state: bad trial count %u", n);
    unsigned char *states = malloc((size_t)n + 1);
    double *pts = malloc(((size_t)n * (size_t)c->nd + 1) * sizeof *pts);
    double *rws = malloc(((size_t)n * (size_t)c->no + 1) * sizeof *rws);
    nas_status st = NAS_OK;
    if (!states || !pts || !rws) {
        st = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory loading controller state");
        goto fail;
    }
    ctrl_r_bytes(r, states, n);
    ctrl_r_bytes(r, pts, (size_t)n * (size_t)c->nd * sizeof *pts);
    ctrl_r_bytes(r, rws, (size_t)n * (size_t)c->no * sizeof *rws);
    if (r->failed) {
        st = NAS_FAIL(err, NAS_ERR_FORMAT, "controller state is truncated");
        goto fail;
    }
    for (uint32_t t = 0; t < n; t++) {
        if (states[t] > CTRL_TRIAL_INFEASIBLE) {
            st = NAS_FAIL(err, NAS_ERR_FORMAT, "controller state: bad trial state");
            goto fail;
        }
        if (!trial_valid(c, pts + (size_t)t * (size_t)c->nd, rws + (size_t)t * (size_t)c->no, states[t],
                         c->scratch)) {
            st = NAS_FAIL(err, NAS_ERR_FORMAT, "controller state: bad trial %u", t);
            goto fail;
        }
        if ((st = add_trial(c, pts + (size_t)t * (size_t)c->nd, (ctrl_trial_state)states[t],
                            err)) != NAS_OK)
            goto fail;
        memcpy(ctrl_trial_rewards(c, (int)t), rws + (size_t)t * (size_t)c->no,
               (size_t)c->no * sizeof *rws);
    }
    st = read_obs(c, r, err);
fail:
    free(states);
    free(pts);
    free(rws);
    return st;
}

/* Applies a delta's records and observations to c, which must hold the
 * trials and observations the delta was saved after. */
static nas_status apply_delta(ctrl *c, ctrl_reader *r, nas_error *err) {
    uint32_t base_trials = ctrl_r_u32(r), base_obs = ctrl_r_u32(r), n = ctrl_r_u32(r);
    if (r->failed) return NAS_FAIL(err, NAS_ERR_FORMAT, "controller delta is truncated");
    if (base_trials != (uint32_t)c->n_trials || base_obs != (uint32_t)c->n_obs)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "controller delta follows %u trials and %u observations, the state before it "
                        "has %d and %d",
                        base_trials, base_obs, c->n_trials, c->n_obs);
    size_t rec = 4 + 1 + ((size_t)c->nd + (size_t)c->no) * sizeof(double);
    if ((size_t)n > (r->len - r->pos) / rec)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "controller delta: bad record count %u", n);
    /* a record's point, its canonical copy, its rewards */
    double *pt = malloc((2 * (size_t)c->nd + (size_t)c->no + 1) * sizeof *pt);
    if (!pt) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory loading controller state");
    double *work = pt + c->nd, *rw = work + c->nd;
    nas_status st = NAS_OK;
    for (uint32_t i = 0; i < n && st == NAS_OK; i++) {
        uint32_t t = ctrl_r_u32(r);
        unsigned char state = 0;
        ctrl_r_bytes(r, &state, 1);
        ctrl_r_bytes(r, pt, (size_t)c->nd * sizeof *pt);
        ctrl_r_bytes(r, rw, (size_t)c->no * sizeof *rw);
        if (r->failed) {
            st = NAS_FAIL(err, NAS_ERR_FORMAT, "controller delta is truncated");
        } else if (t < base_trials) { /* a pending trial that ended */
            if (c->state[t] != CTRL_TRIAL_PENDING || (state != CTRL_TRIAL_DONE && state != CTRL_TRIAL_FAILED) ||
                memcmp(pt, ctrl_trial_point(c, (int)t), (size_t)c->nd * sizeof *pt) != 0 ||
                !rewards_valid(c, rw, state))
                st = NAS_FAIL(err, NAS_ERR_FORMAT, "controller delta: bad record of trial %u", t);
            else
                c->state[t] = state;
        } else if (t == (uint32_t)c->n_trials && state <= CTRL_TRIAL_INFEASIBLE &&
                   trial_valid(c, pt, rw, state, work)) { /* a new trial */
            st = add_trial(c, pt, (ctrl_trial_state)state, err);
        } else {
            st = NAS_FAIL(err, NAS_ERR_FORMAT, "controller delta: bad record of trial %u", t);
        }
        if (st == NAS_OK) memcpy(ctrl_trial_rewards(c, (int)t), rw, (size_t)c->no * sizeof *rw);
    }
    free(pt);
    return st ? st : read_obs(c, r, err);
}

/* After the last part: the observations list every done trial once. */
static nas_status check_obs(const ctrl *c, nas_error *err) {
    unsigned char *seen = calloc((size_t)c->n_trials + 1, 1);
    if (!seen) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory loading controller state");
    int n_done = 0, ok = 1;
    ctrl_n_trials(c, NULL, &n_done, NULL);
    for (int i = 0; i < c->n_obs && ok; i++) {
        ok = !seen[c->obs[i]];
        seen[c->obs[i]] = 1;
    }
    free(seen);
    if (!ok || n_done != c->n_obs)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "controller state: the observations do not list each done trial once");
    return NAS_OK;
}

/* Checks one saved part (delta or whole state) against c: magic, version,
 * checksum, kind, fingerprints, sizes; leaves *r at the part's body. */
static nas_status open_part(const ctrl *c, const unsigned char *buf, size_t len, int delta,
                            ctrl_reader *r, nas_error *err) {
    const char *magic = delta ? DELTA_MAGIC : SAVE_MAGIC, *other = delta ? SAVE_MAGIC : DELTA_MAGIC;
    if (len < 8 + 4 + 8 || memcmp(buf, magic, 8) != 0) {
        if (len >= 8 && memcmp(buf, magic, 8) == 0)
            return NAS_FAIL(err, NAS_ERR_FORMAT, "controller state is truncated (%zu bytes)", len);
        if (len >= 8 && memcmp(buf, other, 8) == 0)
            return NAS_FAIL(err, NAS_ERR_FORMAT,
                            delta ? "a whole controller state where a delta belongs"
                                  : "a controller delta without the state it applies to");
        return NAS_FAIL(err, NAS_ERR_FORMAT, "not a controller state (bad magic)");
    }
    *r = (ctrl_reader){buf, len - 8, 8, 0};
    uint32_t version = ctrl_r_u32(r);
    if (delta && version != DELTA_VERSION)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "controller delta version %u, expected %u", version,
                        DELTA_VERSION);
    if (!delta && version != SAVE_VERSION && version != 1)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "controller state version %u, expected 1 or %u", version,
                        SAVE_VERSION);
    uint64_t sum;
    memcpy(&sum, buf + len - 8, 8);
    if (sum != (version == 1 && !delta ? fnv1a(FNV_INIT, buf, len - 8) : save_sum(buf, len - 8)))
        return NAS_FAIL(err, NAS_ERR_FORMAT, "controller state is truncated or corrupt "
                                             "(checksum mismatch)");
    char name[32];
    uint32_t name_len = ctrl_r_u32(r);
    if (r->failed || name_len >= sizeof name)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "controller state: bad kind name");
    ctrl_r_bytes(r, name, name_len);
    name[name_len] = '\0';
    if (strcmp(name, c->ops->name) != 0)
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "controller state is for \"%s\", not \"%s\"", name,
                        c->ops->name);
    if (ctrl_r_u64(r) != space_fingerprint(c->space))
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "controller state belongs to another space");
    if (ctrl_r_u64(r) != options_fingerprint(&c->opt))
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "controller state was made with other options");
    uint32_t nd = ctrl_r_u32(r), no = ctrl_r_u32(r);
    if (r->failed || nd != (uint32_t)c->nd || no != (uint32_t)c->no)
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "controller state has %u decisions/%u objectives",
                        nd, no);
    return NAS_OK;
}

nas_status ctrl_load_chain(ctrl *c, int n, const unsigned char *const *bufs, const size_t *lens,
                           nas_error *err) {
    if (n < 1) return NAS_FAIL(err, NAS_ERR_INVALID, "no controller state to load");
    ctrl *tmp = NULL;
    nas_status st = ctrl_create(c->space, &c->opt, &tmp, err);
    if (st != NAS_OK) return st;
    for (int i = 0; i < n; i++) {
        ctrl_reader r;
        if ((st = open_part(c, bufs[i], lens[i], i > 0, &r, err)) == NAS_OK)
            st = i == 0 ? load_into(tmp, &r, err) : apply_delta(tmp, &r, err);
        /* every part carries the kind's whole payload: the last one stands */
        if (st == NAS_OK && tmp->ops->load) st = tmp->ops->load(tmp, &r, err);
        if (st == NAS_OK && (r.failed || r.pos != r.len))
            st = NAS_FAIL(err, NAS_ERR_FORMAT, "controller state has a bad length");
        if (st != NAS_OK) {
            if (n > 1) nas_error_prefix(err, "part %d of %d (%s)", i + 1, n, i ? "a delta" : "the whole state");
            goto fail;
        }
    }
    if ((st = check_obs(tmp, err)) != NAS_OK) goto fail;
    ctrl_mark_saved(tmp);
    free_contents(c);
    *c = *tmp;
    free(tmp);
    return NAS_OK;
fail:
    ctrl_destroy(tmp);
    return st;
}

nas_status ctrl_load(ctrl *c, const unsigned char *buf, size_t len, nas_error *err) {
    return ctrl_load_chain(c, 1, &buf, &len, err);
}
