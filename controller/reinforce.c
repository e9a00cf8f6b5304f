/*
 * reinforce.c - the `reinforce` controller: REINFORCE policy gradient
 * (Williams 1992) over an independent distribution per decision, as the RL
 * controllers of MnasNet / TuNAS (without their RNN):
 *
 *   - choice, and int with at most 32 values: a softmax over logits;
 *   - larger int and float: a logit-normal on the decision's scale,
 *     z ~ N(mu, exp(log_sd)^2), u = sigmoid(z) mapped onto [lo, hi] (log
 *     scale for log floats, rounded for ints);
 *
 * all parameters start at 0 (uniform softmax, median at the middle). Each
 * observation updates the policy once with Adam (beta1 0.9, beta2 0.999,
 * eps 1e-8, step opt.learning_rate) ascending
 *   (R - b) * grad log pi(point) + opt.entropy_weight * grad H(pi)
 * where b is an exponential moving average of rewards[0]
 * (b <- decay * b + (1 - decay) * R, started at the first reward). Only
 * decisions active in the observed point get a gradient (and an Adam step).
 * The log-probability of an observed numeric value is taken at the z that
 * maps to it. Parameters, Adam moments, step counts and the baseline are
 * saved.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "controller/internal.h"

#define RF_CAT_MAX 32
#define RF_B1 0.9
#define RF_B2 0.999
#define RF_EPS 1e-8

typedef struct rf_state {
    int *off, *np, *is_cat, *steps; /* per decision */
    int n_params;
    double *p, *m, *v, *g; /* parameters, Adam moments, gradient scratch */
    double *prob;          /* softmax scratch */
    double baseline;
    int has_baseline;
} rf_state;

static void rf_deinit(ctrl *c) {
    rf_state *s = c->kind;
    if (!s) return;
    free(s->off);
    free(s->np);
    free(s->is_cat);
    free(s->steps);
    free(s->p);
    free(s->m);
    free(s->v);
    free(s->g);
    free(s->prob);
    free(s);
    c->kind = NULL;
}

static nas_status rf_init(ctrl *c, nas_error *err) {
    rf_state *s = calloc(1, sizeof *s);
    if (!s) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating reinforce");
    c->kind = s;
    size_t nd = (size_t)c->nd + 1;
    s->off = calloc(nd, sizeof *s->off);
    s->np = calloc(nd, sizeof *s->np);
    s->is_cat = calloc(nd, sizeof *s->is_cat);
    s->steps = calloc(nd, sizeof *s->steps);
    if (!s->off || !s->np || !s->is_cat || !s->steps) goto nomem;
    int total = 0, maxcat = 1;
    for (int i = 0; i < c->nd; i++) {
        const ss_domain *d = &c->space->decisions[i].dom;
        uint64_t size = ss_domain_size(d);
        s->off[i] = total;
        if (d->kind == SS_DOMAIN_CHOICE || (d->kind == SS_DOMAIN_INT && size <= RF_CAT_MAX)) {
            s->is_cat[i] = 1;
            s->np[i] = (int)size;
            if (s->np[i] > maxcat) maxcat = s->np[i];
        } else {
            s->np[i] = 2; /* mu, log_sd */
        }
        total += s->np[i];
    }
    s->n_params = total;
    size_t n = (size_t)total + 1;
    s->p = calloc(n, sizeof *s->p);
    s->m = calloc(n, sizeof *s->m);
    s->v = calloc(n, sizeof *s->v);
    s->g = calloc(n, sizeof *s->g);
    s->prob = calloc((size_t)maxcat, sizeof *s->prob);
    if (!s->p || !s->m || !s->v || !s->g || !s->prob) goto nomem;
    return NAS_OK;
nomem:
    return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating reinforce");
}

static void softmax(const double *logit, int n, double *p) {
    double mx = logit[0], sum = 0;
    for (int k = 1; k < n; k++) mx = fmax(mx, logit[k]);
    for (int k = 0; k < n; k++) sum += (p[k] = exp(logit[k] - mx));
    for (int k = 0; k < n; k++) p[k] /= sum;
}

/* Decision bounds on the sampling scale (t for floats, the ints themselves). */
static void rf_bounds(const ss_domain *d, double *lo, double *hi) {
    if (d->kind == SS_DOMAIN_FLOAT) {
        *lo = ctrl_float_to_t(d, d->flo);
        *hi = ctrl_float_to_t(d, d->fhi);
    } else {
        *lo = (double)d->lo;
        *hi = (double)d->hi;
    }
}

static nas_status rf_draw(ctrl *c, pcg32 *rng, double *point, nas_error *err) {
    (void)err;
    rf_state *s = c->kind;
    for (int i = 0; i < c->nd; i++) {
        const ss_domain *d = &c->space->decisions[i].dom;
        if (!ss_decision_is_active(c->space, point, i)) {
            point[i] = d->kind == SS_DOMAIN_INT ? (double)d->lo
                       : d->kind == SS_DOMAIN_FLOAT ? d->flo : 0.0;
            continue;
        }
        const double *p = s->p + s->off[i];
        if (s->is_cat[i]) {
            softmax(p, s->np[i], s->prob);
            double u = pcg32_double(rng);
            int k = 0;
            while (k < s->np[i] - 1 && (u -= s->prob[k]) >= 0) k++;
            point[i] = d->kind == SS_DOMAIN_CHOICE ? (double)k : (double)(d->lo + k);
            continue;
        }
        double z = p[0] + exp(p[1]) * pcg32_normal(rng);
        double u = 1.0 / (1.0 + exp(-z)), lo, hi;
        rf_bounds(d, &lo, &hi);
        double x = lo + u * (hi - lo);
        point[i] = d->kind == SS_DOMAIN_FLOAT ? ctrl_float_from_t(d, x)
                                              : fmin(fmax(floor(x + 0.5), lo), hi);
    }
    return NAS_OK;
}

static nas_status rf_observed(ctrl *c, int t, nas_error *err) {
    (void)err;
    rf_state *s = c->kind;
    const double *point = ctrl_trial_point(c, t);
    double R = ctrl_trial_rewards(c, t)[0];
    if (!s->has_baseline) {
        s->baseline = R;
        s->has_baseline = 1;
    }
    double adv = R - s->baseline, ent = c->opt.entropy_weight, lr = c->opt.learning_rate;
    s->baseline = c->opt.baseline_decay * s->baseline + (1.0 - c->opt.baseline_decay) * R;
    for (int i = 0; i < c->nd; i++) {
        if (!ss_decision_is_active(c->space, point, i)) continue;
        const ss_domain *d = &c->space->decisions[i].dom;
        double *p = s->p + s->off[i], *g = s->g + s->off[i];
        int np = s->np[i];
        if (s->is_cat[i]) {
            if (np < 2) continue;
            softmax(p, np, s->prob);
            int k = d->kind == SS_DOMAIN_CHOICE ? (int)point[i] : (int)(point[i] - (double)d->lo);
            double H = 0;
            for (int j = 0; j < np; j++)
                if (s->prob[j] > 0) H -= s->prob[j] * log(s->prob[j]);
            for (int j = 0; j < np; j++) {
                double lp = s->prob[j] > 0 ? log(s->prob[j]) : 0.0;
                g[j] = adv * ((j == k) - s->prob[j]) - ent * s->prob[j] * (lp + H);
            }
        } else {
            double lo, hi;
            rf_bounds(d, &lo, &hi);
            if (!(hi > lo)) continue;
            double x = d->kind == SS_DOMAIN_FLOAT ? ctrl_float_to_t(d, point[i]) : point[i];
            double u = fmin(fmax((x - lo) / (hi - lo), 1e-6), 1.0 - 1e-6);
            double z = log(u / (1.0 - u)), sd = exp(p[1]), e = (z - p[0]) / sd;
            g[0] = adv * e / sd;
            g[1] = adv * (e * e - 1.0) + ent;
        }
        int step = ++s->steps[i];
        double c1 = 1.0 - pow(RF_B1, step), c2 = 1.0 - pow(RF_B2, step);
        for (int j = 0; j < np; j++) {
            double *m = s->m + s->off[i] + j, *v = s->v + s->off[i] + j;
            *m = RF_B1 * *m + (1.0 - RF_B1) * g[j];
            *v = RF_B2 * *v + (1.0 - RF_B2) * g[j] * g[j];
            p[j] += lr * (*m / c1) / (sqrt(*v / c2) + RF_EPS);
        }
        if (!s->is_cat[i]) {
            p[0] = fmin(fmax(p[0], -10.0), 10.0);
            p[1] = fmin(fmax(p[1], -4.0), 1.0);
        }
    }
    return NAS_OK;
}

static void rf_save(const ctrl *c, ctrl_writer *w) {
    const rf_state *s = c->kind;
    size_t n = (size_t)s->n_params * sizeof(double);
    ctrl_w_u32(w, (uint32_t)s->n_params);
    ctrl_w_f64(w, s->baseline);
    ctrl_w_u32(w, (uint32_t)s->has_baseline);
    ctrl_w_bytes(w, s->steps, (size_t)c->nd * sizeof *s->steps);
    ctrl_w_bytes(w, s->p, n);
    ctrl_w_bytes(w, s->m, n);
    ctrl_w_bytes(w, s->v, n);
}

static nas_status rf_load(ctrl *c, ctrl_reader *r, nas_error *err) {
    rf_state *s = c->kind;
    size_t n = (size_t)s->n_params * sizeof(double);
    if (ctrl_r_u32(r) != (uint32_t)s->n_params)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "reinforce state: parameter count differs");
    s->baseline = ctrl_r_f64(r);
    s->has_baseline = ctrl_r_u32(r) != 0;
    ctrl_r_bytes(r, s->steps, (size_t)c->nd * sizeof *s->steps);
    ctrl_r_bytes(r, s->p, n);
    ctrl_r_bytes(r, s->m, n);
    ctrl_r_bytes(r, s->v, n);
    if (r->failed) return NAS_FAIL(err, NAS_ERR_FORMAT, "reinforce state is truncated");
    return NAS_OK;
}

const ctrl_kind_ops ctrl_kind_reinforce = {"reinforce", rf_init,     rf_deinit, rf_draw,
                                           rf_observed, rf_save,     rf_load};
