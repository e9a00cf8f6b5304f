/*
 * tpe.c - the `tpe` controller: tree-structured Parzen estimators (Bergstra
 * et al. 2011, "Algorithms for Hyper-Parameter Optimization"), following
 * Optuna's TPESampler defaults (independent sampling):
 *
 *   - the first opt.startup_trials observations are uniform draws;
 *   - observed trials are split by reward: the best gamma(n) = min(ceil(0.1 n),
 *     25) are "below" (good), the rest "above";
 *   - decisions are sampled in order (parents before children); an inactive
 *     decision takes its canonical value; an active one gets two Parzen
 *     estimators l (below) and g (above) built from only the trials where it
 *     was active, draws opt.ei_candidates candidates from l and keeps the one
 *     maximising log l(x) - log g(x);
 *   - observation weights: 1 for the 25 most recent, a linear ramp from 1/m
 *     up for older ones; a prior component of weight 1;
 *   - float / int: a mixture of normals truncated to the range on the
 *     decision's scale (log for log floats; ints with +-0.5 bounds and
 *     probability mass per integer), one component per observation centred
 *     on it with bandwidth max(gap to either sorted neighbour) clipped to
 *     [range / min(100, 1 + m), range] (the "magic clip"), plus the prior
 *     N(mid, range);
 *   - choice: per observation a categorical with mass 1 on its option plus
 *     1/(m+1) on every option, normalised, plus a uniform prior component.
 *
 * Points the feasibility check rejected join the "above" observations, so
 * the model stops proposing them. Numeric values are kept sorted per
 * decision as trials arrive (building an estimator needs no sort), and
 * components with equal centre and bandwidth are merged, which keeps integer
 * decisions cheap with many trials. The estimators are a function of the
 * history only: they are rebuilt when it changes and reused while the
 * propose loop redraws (duplicates, infeasible points); save/load needs no
 * kind state (the caches are rebuilt lazily after a load).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "controller/internal.h"

#define TPE_RAMP_FLAT 25
#define TPE_GAMMA_MAX 25

typedef struct comp {
    double mu, sigma, w; /* w: weight before normalisation */
    int prior;
} comp;

typedef struct mixture {
    int k;
    /* cum: cumulative weights; c0 = exp(logc); isg = 1 / sigma */
    double *mu, *sigma, *logc, *cum, *c0, *isg;
    double low, high;
    int is_int;
} mixture;

/* The two estimators of one decision, built once per history version. */
typedef struct dec_model {
    mixture l, g;     /* numeric */
    double *pl, *pg;  /* choice: option probabilities */
    double *score;    /* choice: log pl - log pg per option */
    double *store;    /* backing storage of the arrays above */
    size_t cap_store; /* doubles */
    /* numeric: every trial where the decision is active, sorted by value on
     * the sampling scale (ties by trial index), kept up to date on insert */
    double *sv;
    int *st;
    int n_sorted, cap_sorted;
} dec_model;

typedef struct tpe_state {
    unsigned char *act; /* activity flags, nd per trial */
    int n_act, cap_act;
    int cap; /* capacity of the per-proposal scratch below */
    int *below_pos;     /* indices into obs of the best gamma(n) */
    unsigned char *in_below; /* per trial */
    double *vb, *va;    /* gathered values */
    comp *cb, *ca;      /* components scratch (below, above) */
    int *rank;          /* per trial: position in its set, trial order; -1 if unused */
    double *tmp;        /* scratch: sigmas, log terms */
    dec_model *dm;      /* one per decision */
    int model_trials, model_obs; /* history version the models were built for */
    double cand[256];
} tpe_state;

static void tpe_deinit(ctrl *c) {
    tpe_state *s = c->kind;
    if (!s) return;
    free(s->act);
    free(s->below_pos);
    free(s->in_below);
    free(s->vb);
    free(s->va);
    free(s->cb);
    free(s->ca);
    free(s->rank);
    free(s->tmp);
    if (s->dm)
        for (int i = 0; i < c->nd; i++) {
            free(s->dm[i].store);
            free(s->dm[i].sv);
            free(s->dm[i].st);
        }
    free(s->dm);
    free(s);
    c->kind = NULL;
}

static nas_status tpe_init(ctrl *c, nas_error *err) {
    tpe_state *s = calloc(1, sizeof *s);
    if (!s) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating tpe");
    c->kind = s;
    s->model_trials = -1;
    s->dm = calloc((size_t)c->nd + 1, sizeof *s->dm);
    if (!s->dm) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating tpe");
    return NAS_OK;
}

static int is_trivial(const ss_domain *d) {
    return (d->kind == SS_DOMAIN_CHOICE && d->n <= 1) ||
           (d->kind == SS_DOMAIN_INT && d->lo == d->hi) ||
           (d->kind == SS_DOMAIN_FLOAT && !(d->fhi > d->flo));
}

/* Inserts trial t's value into decision i's sorted list. 0 when out of memory. */
static int sorted_insert(ctrl *c, int i, int t) {
    tpe_state *s = c->kind;
    dec_model *m = &s->dm[i];
    const ss_domain *d = &c->space->decisions[i].dom;
    double v = ctrl_trial_point(c, t)[i];
    if (d->kind == SS_DOMAIN_FLOAT) v = ctrl_float_to_t(d, v);
    if (m->n_sorted == m->cap_sorted) {
        int cap = m->cap_sorted ? m->cap_sorted * 2 : 64;
        double *sv = realloc(m->sv, (size_t)cap * sizeof *sv);
        if (sv) m->sv = sv;
        int *st = realloc(m->st, (size_t)cap * sizeof *st);
        if (st) m->st = st;
        if (!sv || !st) return 0;
        m->cap_sorted = cap;
    }
    int lo = 0, hi = m->n_sorted; /* upper bound: after equal values */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (m->sv[mid] <= v) lo = mid + 1;
        else hi = mid;
    }
    memmove(m->sv + lo + 1, m->sv + lo, (size_t)(m->n_sorted - lo) * sizeof *m->sv);
    memmove(m->st + lo + 1, m->st + lo, (size_t)(m->n_sorted - lo) * sizeof *m->st);
    m->sv[lo] = v;
    m->st[lo] = t;
    m->n_sorted++;
    return 1;
}

/* Brings the activity cache and the sorted lists up to every trial, and
 * grows the scratch arrays to hold n observations (+ prior). */
static int tpe_reserve(ctrl *c, int n) {
    tpe_state *s = c->kind;
    if (c->n_trials > s->cap_act) {
        int cap = c->cap_trials;
        unsigned char *a = realloc(s->act, (size_t)cap * (size_t)(c->nd + 1));
        unsigned char *ib = realloc(s->in_below, (size_t)cap + 1);
        if (a) s->act = a;
        if (ib) s->in_below = ib;
        if (!a || !ib) return 0;
        s->cap_act = cap;
    }
    for (; s->n_act < c->n_trials; s->n_act++) {
        const double *p = ctrl_trial_point(c, s->n_act);
        unsigned char *a = s->act + (size_t)s->n_act * (size_t)c->nd;
        for (int i = 0; i < c->nd; i++) {
            const ss_decision *d = &c->space->decisions[i];
            int par = d->cond.parent;
            a[i] = (unsigned char)(par < 0 ? 1 : (a[par] && ss_decision_is_active(c->space, p, i)));
            if (a[i] && d->dom.kind != SS_DOMAIN_CHOICE && !is_trivial(&d->dom) &&
                !sorted_insert(c, i, s->n_act))
                return 0;
        }
    }
    if (n + 2 <= s->cap) return 1;
    int cap = (n + 2) * 2;
    free(s->below_pos);
    free(s->vb);
    free(s->va);
    free(s->cb);
    free(s->ca);
    free(s->rank);
    free(s->tmp);
    s->below_pos = malloc((size_t)cap * sizeof *s->below_pos);
    s->vb = malloc((size_t)cap * sizeof *s->vb);
    s->va = malloc((size_t)cap * sizeof *s->va);
    s->cb = malloc((size_t)cap * sizeof *s->cb);
    s->ca = malloc((size_t)cap * sizeof *s->ca);
    s->rank = malloc((size_t)cap * sizeof *s->rank);
    s->tmp = malloc((size_t)cap * sizeof *s->tmp);
    s->cap = cap;
    if (!s->below_pos || !s->vb || !s->va || !s->cb || !s->ca || !s->rank || !s->tmp) {
        s->cap = 0;
        return 0;
    }
    return 1;
}

/* Optuna's default_weights: ones for m < 25, else a ramp from 1/m to 1 for
 * the oldest m - 25 followed by 25 ones. */
static double ramp_weight(int j, int m) {
    if (m < TPE_RAMP_FLAT) return 1.0;
    int r = m - TPE_RAMP_FLAT;
    if (j >= r) return 1.0;
    if (r == 1) return 1.0 / m;
    return 1.0 / m + (1.0 - 1.0 / m) * (double)j / (double)(r - 1);
}

/* P(a < Z < b) for a standard normal, accurate in both tails. */
static double norm_mass(double a, double b) {
    if (a > 0) return 0.5 * (erfc(a * 0.70710678118654752440) - erfc(b * 0.70710678118654752440));
    return 0.5 * (erfc(-b * 0.70710678118654752440) - erfc(-a * 0.70710678118654752440));
}

/* Builds a numeric Parzen mixture from the m components in cs (sorted by
 * mu, weights set; room for m + 1); tmp has room for m + 1; the mixture's
 * arrays live in out (MIX_ARRAYS x (m + 1) doubles). */
#define MIX_ARRAYS 6
static void build_numeric(comp *cs, int m, double low, double high, int is_int, double *tmp,
                          double *out, mixture *mx) {
    double range = high - low, pmu = 0.5 * (low + high);
    int pos = 0; /* the prior sorts before equal values (np.searchsorted, side left) */
    while (pos < m && cs[pos].mu < pmu) pos++;
    memmove(cs + pos + 1, cs + pos, (size_t)(m - pos) * sizeof *cs);
    cs[pos] = (comp){pmu, range, 1.0, 1};
    int n = m + 1;
    double minsigma = range / fmin(100.0, 1.0 + n), maxsigma = range;
    double *sg = tmp;
    for (int j = 0; j < n; j++) {
        double prev = j == 0 ? low : cs[j - 1].mu, next = j == n - 1 ? high : cs[j + 1].mu;
        sg[j] = fmax(cs[j].mu - prev, next - cs[j].mu);
    }
    if (n >= 2) {
        sg[0] = cs[1].mu - cs[0].mu;
        sg[n - 1] = cs[n - 1].mu - cs[n - 2].mu;
    }
    for (int j = 0; j < n; j++) {
        double sj = fmin(fmax(sg[j], minsigma), maxsigma);
        cs[j].sigma = cs[j].prior ? range : sj;
    }
    /* merge equal (mu, sigma) neighbours; normalise weights */
    int k = 0;
    double total = 0;
    for (int j = 0; j < n; j++) {
        total += cs[j].w;
        if (k > 0 && cs[k - 1].mu == cs[j].mu && cs[k - 1].sigma == cs[j].sigma)
            cs[k - 1].w += cs[j].w;
        else
            cs[k++] = cs[j];
    }
    mx->k = k;
    mx->mu = out;
    mx->sigma = out + n;
    mx->logc = out + 2 * n;
    mx->cum = out + 3 * n;
    mx->c0 = out + 4 * n;
    mx->isg = out + 5 * n;
    mx->low = low;
    mx->high = high;
    mx->is_int = is_int;
    double acc = 0;
    for (int j = 0; j < k; j++) {
        double mu = cs[j].mu, sj = cs[j].sigma, w = cs[j].w / total;
        double a = (low - mu) / sj, b = (high - mu) / sj;
        double z = (a < -8 && b > 8) ? 1.0 : norm_mass(a, b);
        if (!(z > 1e-300)) z = 1e-300;
        mx->mu[j] = mu;
        mx->sigma[j] = sj;
        mx->isg[j] = 1.0 / sj;
        mx->c0[j] = is_int ? w / z : w / (z * sj) * 0.39894228040143267794; /* 1/sqrt(2 pi) */
        mx->logc[j] = log(mx->c0[j]);
        acc += w;
        mx->cum[j] = acc;
    }
}

/* log of the mixture's density (float) or probability mass (int) at x;
 * tmp has room for mx->k. Terms more than 40 nats below the largest are
 * dropped (relative error < 1e-17 per term). */
static double mixture_logpdf(const mixture *mx, double x, double *tmp) {
    if (mx->is_int) {
        double sum = 0;
        for (int j = 0; j < mx->k; j++) {
            double a = (x - 0.5 - mx->mu[j]) * mx->isg[j], b = (x + 0.5 - mx->mu[j]) * mx->isg[j];
            if (a > 38 || b < -38) continue;
            sum += mx->c0[j] * norm_mass(a, b);
        }
        if (sum > 0) return log(sum);
        /* every component is far: fall back to the density at x */
    }
    double top = -INFINITY;
    for (int j = 0; j < mx->k; j++) {
        double z = (x - mx->mu[j]) * mx->isg[j];
        double a = mx->logc[j] - 0.5 * z * z;
        if (mx->is_int) a -= log(mx->sigma[j]) + 0.91893853320467274178;
        tmp[j] = a;
        if (a > top) top = a;
    }
    double sum = 0, cut = top - 40.0;
    for (int j = 0; j < mx->k; j++)
        if (tmp[j] > cut) sum += exp(tmp[j] - top);
    return top + log(sum);
}

static double mixture_sample(const mixture *mx, pcg32 *rng) {
    double u = pcg32_double(rng) * mx->cum[mx->k - 1];
    int lo = 0, hi = mx->k - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (mx->cum[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    double mu = mx->mu[lo], s = mx->sigma[lo], x = mu;
    int ok = 0;
    for (int tries = 0; tries < 100 && !ok; tries++) {
        x = mu + s * pcg32_normal(rng);
        ok = x >= mx->low && x <= mx->high;
    }
    if (!ok) x = fmin(fmax(mu, mx->low), mx->high);
    return x;
}

/* Categorical Parzen estimator: p[c] for n options from m observed options. */
static void build_categorical(const double *vals, int m, int n, double *p) {
    double fill = 1.0 / (m + 1), rowsum = n * fill + 1.0, total = 1.0;
    for (int j = 0; j < m; j++) total += ramp_weight(j, m);
    double base = (1.0 / total) / n + (fill / rowsum) * ((total - 1.0) / total);
    for (int o = 0; o < n; o++) p[o] = base;
    for (int j = 0; j < m; j++) {
        int o = (int)vals[j];
        if (o >= 0 && o < n) p[o] += ramp_weight(j, m) / total / rowsum;
    }
}

static double sample_categorical(const double *p, int n, pcg32 *rng) {
    double tot = 0;
    for (int o = 0; o < n; o++) tot += p[o];
    double u = pcg32_double(rng) * tot;
    for (int o = 0; o < n; o++) {
        u -= p[o];
        if (u < 0) return o;
    }
    return n - 1;
}

/* Gathers the values of choice decision i over the below and above trials
 * where it was active, in trial order; infeasible points count as above. */
static void gather(ctrl *c, int i, int *mb, int *ma) {
    tpe_state *s = c->kind;
    int nb = 0, na = 0;
    for (int t = 0; t < c->n_trials; t++) {
        int st = c->state[t];
        if ((st != CTRL_TRIAL_DONE && st != CTRL_TRIAL_INFEASIBLE) ||
            !s->act[(size_t)t * (size_t)c->nd + (size_t)i])
            continue;
        double v = ctrl_trial_point(c, t)[i];
        if (st == CTRL_TRIAL_DONE && s->in_below[t]) s->vb[nb++] = v;
        else s->va[na++] = v;
    }
    *mb = nb;
    *ma = na;
}

static double *model_store(dec_model *m, size_t n) {
    if (n > m->cap_store) {
        double *p = realloc(m->store, n * sizeof *p);
        if (!p) return NULL;
        m->store = p;
        m->cap_store = n;
    }
    return m->store;
}

/* Builds l and g of decision i. 0 when out of memory. */
static int build_model(ctrl *c, int i) {
    tpe_state *s = c->kind;
    const ss_domain *d = &c->space->decisions[i].dom;
    dec_model *m = &s->dm[i];
    int mb, ma;
    if (d->kind == SS_DOMAIN_CHOICE) {
        double *st = model_store(m, 3 * (size_t)d->n);
        if (!st) return 0;
        m->pl = st;
        m->pg = st + d->n;
        m->score = st + 2 * (size_t)d->n;
        gather(c, i, &mb, &ma);
        build_categorical(s->vb, mb, d->n, m->pl);
        build_categorical(s->va, ma, d->n, m->pg);
        for (int o = 0; o < d->n; o++) m->score[o] = log(m->pl[o]) - log(m->pg[o]);
        return 1;
    }
    int is_int = d->kind == SS_DOMAIN_INT;
    double low = is_int ? (double)d->lo - 0.5 : ctrl_float_to_t(d, d->flo);
    double high = is_int ? (double)d->hi + 0.5 : ctrl_float_to_t(d, d->fhi);
    /* rank of each used trial within its set, in trial order (for the weights) */
    mb = ma = 0;
    for (int t = 0; t < c->n_trials; t++) {
        int st = c->state[t];
        if ((st != CTRL_TRIAL_DONE && st != CTRL_TRIAL_INFEASIBLE) ||
            !s->act[(size_t)t * (size_t)c->nd + (size_t)i])
            s->rank[t] = -1;
        else if (st == CTRL_TRIAL_DONE && s->in_below[t])
            s->rank[t] = mb++;
        else
            s->rank[t] = ma++;
    }
    /* walk the sorted list: both sets come out sorted by value */
    int kb = 0, ka = 0;
    for (int j = 0; j < m->n_sorted; j++) {
        int t = m->st[j];
        if (s->rank[t] < 0) continue;
        if (c->state[t] == CTRL_TRIAL_DONE && s->in_below[t])
            s->cb[kb++] = (comp){m->sv[j], 0, ramp_weight(s->rank[t], mb), 0};
        else
            s->ca[ka++] = (comp){m->sv[j], 0, ramp_weight(s->rank[t], ma), 0};
    }
    double *st = model_store(m, MIX_ARRAYS * ((size_t)mb + (size_t)ma + 2));
    if (!st) return 0;
    build_numeric(s->cb, mb, low, high, is_int, s->tmp, st, &m->l);
    build_numeric(s->ca, ma, low, high, is_int, s->tmp, st + MIX_ARRAYS * ((size_t)mb + 1), &m->g);
    return 1;
}

/* Draws ei_candidates values of decision i from l, returns the best by
 * log l - log g. */
static double sample_decision(ctrl *c, int i, pcg32 *rng) {
    tpe_state *s = c->kind;
    const ss_domain *d = &c->space->decisions[i].dom;
    const dec_model *m = &s->dm[i];
    int nc = c->opt.ei_candidates < 256 ? c->opt.ei_candidates : 256;
    double best = 0, best_score = -INFINITY;
    if (d->kind == SS_DOMAIN_CHOICE) {
        for (int k = 0; k < nc; k++) {
            double o = sample_categorical(m->pl, d->n, rng);
            double sc = m->score[(int)o];
            if (sc > best_score) {
                best_score = sc;
                best = o;
            }
        }
        return best;
    }
    int is_int = d->kind == SS_DOMAIN_INT;
    for (int k = 0; k < nc; k++) {
        double x = mixture_sample(&m->l, rng);
        if (is_int) x = fmin(fmax(floor(x + 0.5), (double)d->lo), (double)d->hi);
        s->cand[k] = x;
    }
    for (int k = 0; k < nc; k++) {
        double x = s->cand[k];
        int dup = 0;
        for (int j = 0; j < k && !dup; j++) dup = s->cand[j] == x;
        if (dup) continue; /* the first copy was scored already */
        double sc = mixture_logpdf(&m->l, x, s->tmp) - mixture_logpdf(&m->g, x, s->tmp);
        if (sc > best_score) {
            best_score = sc;
            best = x;
        }
    }
    return is_int ? best : ctrl_float_from_t(d, best);
}

/* Marks the best gamma(n) observed trials (ties: earlier observation). */
static void split(ctrl *c) {
    tpe_state *s = c->kind;
    int n = c->n_obs;
    int nb = (n + 9) / 10;
    if (nb > TPE_GAMMA_MAX) nb = TPE_GAMMA_MAX;
    int k = 0; /* s->below_pos[0..k) sorted by reward, best first */
    for (int j = 0; j < n; j++) {
        double r = ctrl_trial_rewards(c, c->obs[j])[0];
        if (k == nb && !(r > ctrl_trial_rewards(c, c->obs[s->below_pos[k - 1]])[0])) continue;
        int q = k < nb ? k++ : nb - 1;
        while (q > 0 && r > ctrl_trial_rewards(c, c->obs[s->below_pos[q - 1]])[0]) {
            s->below_pos[q] = s->below_pos[q - 1];
            q--;
        }
        s->below_pos[q] = j;
    }
    memset(s->in_below, 0, (size_t)c->n_trials);
    for (int j = 0; j < k; j++) s->in_below[c->obs[s->below_pos[j]]] = 1;
}

static nas_status tpe_draw(ctrl *c, pcg32 *rng, double *point, nas_error *err) {
    tpe_state *s = c->kind;
    if (c->n_obs < c->opt.startup_trials) {
        ss_space_sample(c->space, rng, point);
        return NAS_OK;
    }
    if (s->model_trials != c->n_trials || s->model_obs != c->n_obs) {
        /* the history changed since the last draw: rebuild every model */
        s->model_trials = -1;
        if (!tpe_reserve(c, c->n_trials + 1)) goto nomem;
        split(c);
        for (int i = 0; i < c->nd; i++)
            if (!is_trivial(&c->space->decisions[i].dom) && !build_model(c, i)) goto nomem;
        s->model_trials = c->n_trials;
        s->model_obs = c->n_obs;
    }
    for (int i = 0; i < c->nd; i++) {
        const ss_decision *d = &c->space->decisions[i];
        if (!ss_decision_is_active(c->space, point, i) || is_trivial(&d->dom)) {
            point[i] = d->dom.kind == SS_DOMAIN_INT     ? (double)d->dom.lo
                       : d->dom.kind == SS_DOMAIN_FLOAT ? d->dom.flo
                                                        : 0.0;
            continue;
        }
        point[i] = sample_decision(c, i, rng);
    }
    return NAS_OK;
nomem:
    return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory in tpe");
}

const ctrl_kind_ops ctrl_kind_tpe = {"tpe", tpe_init, tpe_deinit, tpe_draw, NULL, NULL, NULL};
