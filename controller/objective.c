/*
 * objective.c - metrics sets, objective and constraint specs, scalar rewards
 * (MnasNet soft/hard, TuNAS absolute, weighted sum) and Pareto dominance.
 * Everything here is pure: no allocation beyond the caller's structs, no
 * state. Units: latency in ms, memory in bytes, counts as plain numbers.
 * Does not evaluate anything: the search layer fills the metrics.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"

/* ---- metrics ---- */

void ctrl_metrics_init(ctrl_metrics *m) { memset(m, 0, sizeof *m); }

nas_status ctrl_metrics_set(ctrl_metrics *m, const char *name, double value, nas_error *err) {
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len >= CTRL_NAME_MAX)
        return NAS_FAIL(err, NAS_ERR_INVALID, "metric name \"%s\" is empty or too long",
                        name ? name : "");
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->items[i].name, name) == 0) {
            m->items[i].value = value;
            return NAS_OK;
        }
    if (m->n >= CTRL_METRICS_MAX)
        return NAS_FAIL(err, NAS_ERR_INVALID, "too many metrics (at most %d)", CTRL_METRICS_MAX);
    memcpy(m->items[m->n].name, name, len + 1);
    m->items[m->n].value = value;
    m->n++;
    return NAS_OK;
}

static int metrics_find(const ctrl_metrics *m, const char *name, double *value) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->items[i].name, name) == 0) {
            *value = m->items[i].value;
            return 1;
        }
    return 0;
}

static const char *const ALIASES[][2] = {{"latency", "latency_ms"}, {"memory", "memory_bytes"}};

int ctrl_metrics_get(const ctrl_metrics *m, const char *name, double *value) {
    if (metrics_find(m, name, value)) return 1;
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++) {
        if (strcmp(name, ALIASES[i][0]) == 0) return metrics_find(m, ALIASES[i][1], value);
        if (strcmp(name, ALIASES[i][1]) == 0) return metrics_find(m, ALIASES[i][0], value);
    }
    return 0;
}

/* ---- a tiny scanner ---- */

static const char *skip_ws(const char *p) {
    while (*p && isspace((unsigned char)*p)) p++;
    return p;
}

/* Reads a metric name [A-Za-z_][A-Za-z0-9_.]* into out. */
static const char *scan_name(const char *p, char *out, const char *spec, nas_error *err,
                             nas_status *st) {
    p = skip_ws(p);
    size_t n = 0;
    if (!(isalpha((unsigned char)*p) || *p == '_')) {
        *st = NAS_FAIL(err, NAS_ERR_INVALID, "\"%s\": expected a metric name at \"%s\"", spec, p);
        return NULL;
    }
    while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '.') n++;
    if (n >= CTRL_NAME_MAX) {
        *st = NAS_FAIL(err, NAS_ERR_INVALID, "\"%s\": metric name too long", spec);
        return NULL;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return p + n;
}

static int is_latency(const char *metric) { return strncmp(metric, "latency", 7) == 0; }
static int is_memory(const char *metric) { return strncmp(metric, "memory", 6) == 0; }

/* Reads "<number>[unit]" for metric; the value in the metric's unit. */
static const char *scan_quantity(const char *p, const char *metric, double *out,
                                 const char *spec, nas_error *err, nas_status *st) {
    p = skip_ws(p);
    char *end = NULL;
    double v = strtod(p, &end);
    if (end == p || !isfinite(v)) {
        *st = NAS_FAIL(err, NAS_ERR_INVALID, "\"%s\": expected a number at \"%s\"", spec, p);
        return NULL;
    }
    p = skip_ws(end);
    char unit[8];
    size_t n = 0;
    while (isalpha((unsigned char)p[n]) && n < sizeof unit - 1) {
        unit[n] = p[n];
        n++;
    }
    unit[n] = '\0';
    if (isalpha((unsigned char)p[n])) {
        *st = NAS_FAIL(err, NAS_ERR_INVALID, "\"%s\": unknown unit at \"%s\"", spec, p);
        return NULL;
    }
    double scale = 0;
    if (n == 0) {
        scale = 1;
    } else if (is_latency(metric)) {
        if (strcmp(unit, "ms") == 0) scale = 1;
        else if (strcmp(unit, "us") == 0) scale = 1e-3;
        else if (strcmp(unit, "s") == 0) scale = 1e3;
    } else if (is_memory(metric)) {
        if (strcmp(unit, "B") == 0) scale = 1;
        else if (strcmp(unit, "KB") == 0 || strcmp(unit, "K") == 0) scale = 1024.0;
        else if (strcmp(unit, "MB") == 0 || strcmp(unit, "M") == 0) scale = 1024.0 * 1024;
        else if (strcmp(unit, "GB") == 0 || strcmp(unit, "G") == 0) scale = 1024.0 * 1024 * 1024;
    } else {
        if (strcmp(unit, "K") == 0 || strcmp(unit, "k") == 0) scale = 1e3;
        else if (strcmp(unit, "M") == 0) scale = 1e6;
        else if (strcmp(unit, "G") == 0) scale = 1e9;
    }
    if (scale == 0) {
        *st = NAS_FAIL(err, NAS_ERR_INVALID,
                       "\"%s\": unit \"%s\" does not apply to %s (latency: ms, us, s; memory: "
                       "B, KB, MB, GB; counts: K, M, G)",
                       spec, unit, metric);
        return NULL;
    }
    *out = v * scale;
    return p + n;
}

/* ---- objectives ---- */

static const char *scan_direction(const char *p, int *maximize) {
    p = skip_ws(p);
    static const struct {
        const char *word;
        int max;
    } dirs[] = {{"maximize", 1}, {"minimize", 0}, {"max", 1}, {"min", 0}};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        size_t n = strlen(dirs[i].word);
        if (strncmp(p, dirs[i].word, n) == 0 && isspace((unsigned char)p[n])) {
            *maximize = dirs[i].max;
            return p + n;
        }
    }
    return NULL;
}

nas_status ctrl_objective_parse(const char *spec, ctrl_objective *out, nas_error *err) {
    nas_status st = NAS_OK;
    memset(out, 0, sizeof *out);
    if (!spec) return NAS_FAIL(err, NAS_ERR_INVALID, "objective spec is NULL");
    const char *p = scan_direction(spec, &out->maximize);
    if (!p)
        return NAS_FAIL(err, NAS_ERR_INVALID,
                        "objective \"%s\": expected \"maximize METRIC\" or \"minimize METRIC\"",
                        spec);
    if (!(p = scan_name(p, out->metric, spec, err, &st))) return st;
    if (*skip_ws(p))
        return NAS_FAIL(err, NAS_ERR_INVALID, "objective \"%s\": unexpected \"%s\"", spec,
                        skip_ws(p));
    return NAS_OK;
}

/* ---- constraints ---- */

static const char *scan_cmp(const char *p, ss_cmp *cmp) {
    p = skip_ws(p);
    if (p[0] == '<' && p[1] == '=') *cmp = SS_CMP_LE;
    else if (p[0] == '>' && p[1] == '=') *cmp = SS_CMP_GE;
    else if (p[0] == '<') *cmp = SS_CMP_LT;
    else if (p[0] == '>') *cmp = SS_CMP_GT;
    else return NULL;
    return p + (p[1] == '=' ? 2 : 1);
}

/* Parses "metric op quantity" from p; returns the end. */
static const char *scan_constraint(const char *p, ctrl_constraint *out, const char *spec,
                                   nas_error *err, nas_status *st) {
    const char *start = skip_ws(p);
    if (!(p = scan_name(start, out->metric, spec, err, st))) return NULL;
    if (!(p = scan_cmp(p, &out->cmp))) {
        *st = NAS_FAIL(err, NAS_ERR_INVALID,
                       "constraint \"%s\": expected <=, <, >= or > after \"%s\"", spec,
                       out->metric);
        return NULL;
    }
    if (!(p = scan_quantity(p, out->metric, &out->value, spec, err, st))) return NULL;
    size_t n = (size_t)(p - start);
    if (n >= sizeof out->text) n = sizeof out->text - 1;
    memcpy(out->text, start, n);
    out->text[n] = '\0';
    return p;
}

nas_status ctrl_constraint_parse(const char *spec, ctrl_constraint *out, nas_error *err) {
    nas_status st = NAS_OK;
    memset(out, 0, sizeof *out);
    if (!spec) return NAS_FAIL(err, NAS_ERR_INVALID, "constraint spec is NULL");
    const char *p = scan_constraint(spec, out, spec, err, &st);
    if (!p) return st;
    if (*skip_ws(p))
        return NAS_FAIL(err, NAS_ERR_INVALID, "constraint \"%s\": unexpected \"%s\"", spec,
                        skip_ws(p));
    return NAS_OK;
}

static nas_status copy_name(char *dst, size_t cap, const char *src, const char *what,
                            nas_error *err) {
    size_t n = src ? strlen(src) : 0;
    if (n == 0 || n >= cap)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s \"%s\" is empty or too long", what,
                        src ? src : "");
    memcpy(dst, src, n + 1);
    return NAS_OK;
}

nas_status ctrl_constraint_from_ss(const ss_constraint *in, ctrl_constraint *out, nas_error *err) {
    memset(out, 0, sizeof *out);
    nas_status st = copy_name(out->metric, sizeof out->metric, in->metric, "metric", err);
    if (st != NAS_OK) return st;
    if (in->text && (st = copy_name(out->text, sizeof out->text, in->text, "constraint", err)))
        return st;
    if (!in->text) snprintf(out->text, sizeof out->text, "%s", out->metric);
    out->cmp = in->cmp;
    out->value = in->value;
    return NAS_OK;
}

nas_status ctrl_objective_from_ss(const ss_objective *in, ctrl_objective *out, nas_error *err) {
    memset(out, 0, sizeof *out);
    out->maximize = in->maximize != 0;
    return copy_name(out->metric, sizeof out->metric, in->metric, "metric", err);
}

static int cmp_holds(ss_cmp cmp, double v, double bound) {
    switch (cmp) {
    case SS_CMP_LE: return v <= bound;
    case SS_CMP_LT: return v < bound;
    case SS_CMP_GE: return v >= bound;
    case SS_CMP_GT: return v > bound;
    }
    return 0;
}

nas_status ctrl_constraints_check(const ctrl_constraint *cs, int n, const ctrl_metrics *m,
                                  int *ok, char *why, size_t why_cap, nas_error *err) {
    *ok = 1;
    if (why && why_cap) why[0] = '\0';
    for (int i = 0; i < n; i++) {
        double v;
        if (!ctrl_metrics_get(m, cs[i].metric, &v))
            return NAS_FAIL(err, NAS_ERR_INVALID, "constraint \"%s\": metric %s was not measured",
                            cs[i].text, cs[i].metric);
        if (!cmp_holds(cs[i].cmp, v, cs[i].value)) {
            *ok = 0;
            if (why && why_cap) snprintf(why, why_cap, "%s (%s = %g)", cs[i].text, cs[i].metric, v);
            return NAS_OK;
        }
    }
    return NAS_OK;
}

/* ---- rewards ---- */

static nas_status get_metric(const ctrl_metrics *m, const char *name, double *v, nas_error *err) {
    if (!ctrl_metrics_get(m, name, v))
        return NAS_FAIL(err, NAS_ERR_INVALID, "metric %s was not measured", name);
    if (!isfinite(*v)) return NAS_FAIL(err, NAS_ERR_INVALID, "metric %s is not finite", name);
    return NAS_OK;
}

/* Reads ", alpha=X" / ", beta=X" options up to ')'. */
static const char *scan_mnas_options(const char *p, ctrl_reward *out, const char *spec,
                                     nas_error *err, nas_status *st) {
    for (;;) {
        p = skip_ws(p);
        if (*p == ')') return p + 1;
        if (*p != ',') break;
        p = skip_ws(p + 1);
        double *dst = NULL;
        if (strncmp(p, "alpha", 5) == 0 && out->kind != CTRL_REWARD_TUNAS) {
            dst = &out->alpha;
            p += 5;
        } else if (strncmp(p, "beta", 4) == 0) {
            dst = &out->beta;
            p += 4;
        } else {
            break;
        }
        p = skip_ws(p);
        if (*p != '=') break;
        char *end = NULL;
        *dst = strtod(p + 1, &end);
        if (end == p + 1 || !isfinite(*dst)) break;
        p = end;
    }
    *st = NAS_FAIL(err, NAS_ERR_INVALID, "reward \"%s\": bad option list at \"%s\"", spec, p);
    return NULL;
}

nas_status ctrl_reward_parse(const char *spec, ctrl_reward *out, nas_error *err) {
    nas_status st = NAS_OK;
    memset(out, 0, sizeof *out);
    if (!spec) return NAS_FAIL(err, NAS_ERR_INVALID, "reward spec is NULL");
    const char *p = skip_ws(spec);
    static const struct {
        const char *name;
        ctrl_reward_kind kind;
        double alpha, beta;
    } fns[] = {{"mnas_soft", CTRL_REWARD_MNAS_SOFT, -0.07, -0.07},
               {"mnas_hard", CTRL_REWARD_MNAS_HARD, 0.0, -1.0},
               {"tunas", CTRL_REWARD_TUNAS, 0.0, -0.07},
               {"weighted", CTRL_REWARD_WEIGHTED, 0, 0}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        size_t n = strlen(fns[i].name);
        if (strncmp(p, fns[i].name, n) != 0 || *skip_ws(p + n) != '(') continue;
        out->kind = fns[i].kind;
        out->alpha = fns[i].alpha;
        out->beta = fns[i].beta;
        p = skip_ws(p + n) + 1;
        if (out->kind == CTRL_REWARD_WEIGHTED) {
            for (;;) {
                if (out->n_terms == CTRL_REWARD_TERMS_MAX)
                    return NAS_FAIL(err, NAS_ERR_INVALID, "reward \"%s\": more than %d terms",
                                    spec, CTRL_REWARD_TERMS_MAX);
                ctrl_objective *o = &out->terms[out->n_terms];
                const char *q = scan_direction(p, &o->maximize);
                if (!q)
                    return NAS_FAIL(err, NAS_ERR_INVALID,
                                    "reward \"%s\": expected \"maximize|minimize METRIC [* "
                                    "WEIGHT]\" at \"%s\"",
                                    spec, skip_ws(p));
                if (!(p = scan_name(q, o->metric, spec, err, &st))) return st;
                out->weights[out->n_terms] = 1.0;
                p = skip_ws(p);
                if (*p == '*') {
                    char *end = NULL;
                    double w = strtod(p + 1, &end);
                    if (end == p + 1 || !isfinite(w))
                        return NAS_FAIL(err, NAS_ERR_INVALID, "reward \"%s\": bad weight at \"%s\"",
                                        spec, p + 1);
                    out->weights[out->n_terms] = w;
                    p = skip_ws(end);
                }
                out->n_terms++;
                if (*p == ',') {
                    p++;
                    continue;
                }
                if (*p == ')') {
                    p++;
                    break;
                }
                return NAS_FAIL(err, NAS_ERR_INVALID, "reward \"%s\": expected , or ) at \"%s\"",
                                spec, p);
            }
        } else {
            out->n_terms = 1;
            out->terms[0].maximize = 1;
            if (!(p = scan_name(p, out->terms[0].metric, spec, err, &st))) return st;
            p = skip_ws(p);
            if (*p != ',')
                return NAS_FAIL(err, NAS_ERR_INVALID,
                                "reward \"%s\": expected \", COST <= TARGET\" after %s", spec,
                                out->terms[0].metric);
            ctrl_constraint target;
            if (!(p = scan_constraint(p + 1, &target, spec, err, &st))) return st;
            if (target.cmp != SS_CMP_LE && target.cmp != SS_CMP_LT)
                return NAS_FAIL(err, NAS_ERR_INVALID, "reward \"%s\": the target must be <=", spec);
            if (!(target.value > 0))
                return NAS_FAIL(err, NAS_ERR_INVALID, "reward \"%s\": the target must be > 0",
                                spec);
            memcpy(out->cost_metric, target.metric, sizeof out->cost_metric);
            out->target = target.value;
            if (!(p = scan_mnas_options(p, out, spec, err, &st))) return st;
        }
        if (*skip_ws(p))
            return NAS_FAIL(err, NAS_ERR_INVALID, "reward \"%s\": unexpected \"%s\"", spec,
                            skip_ws(p));
        return NAS_OK;
    }
    out->kind = CTRL_REWARD_OBJECTIVE;
    out->n_terms = 1;
    out->weights[0] = 1.0;
    st = ctrl_objective_parse(spec, &out->terms[0], err);
    if (st != NAS_OK)
        return NAS_FAIL(err, NAS_ERR_INVALID,
                        "reward \"%s\": expected \"maximize|minimize METRIC\", mnas_soft(...), "
                        "mnas_hard(...), tunas(...) or weighted(...)",
                        spec);
    return NAS_OK;
}

nas_status ctrl_reward_compute(const ctrl_reward *r, const ctrl_metrics *m, double *out,
                               nas_error *err) {
    nas_status st;
    double v, cost;
    *out = NAN;
    switch (r->kind) {
    case CTRL_REWARD_OBJECTIVE:
        if ((st = get_metric(m, r->terms[0].metric, &v, err)) != NAS_OK) return st;
        *out = r->terms[0].maximize ? v : -v;
        return NAS_OK;
    case CTRL_REWARD_WEIGHTED: {
        double sum = 0;
        for (int i = 0; i < r->n_terms; i++) {
            if ((st = get_metric(m, r->terms[i].metric, &v, err)) != NAS_OK) return st;
            sum += r->weights[i] * (r->terms[i].maximize ? v : -v);
        }
        *out = sum;
        return NAS_OK;
    }
    case CTRL_REWARD_MNAS_SOFT:
    case CTRL_REWARD_MNAS_HARD:
    case CTRL_REWARD_TUNAS:
        if ((st = get_metric(m, r->terms[0].metric, &v, err)) != NAS_OK) return st;
        if ((st = get_metric(m, r->cost_metric, &cost, err)) != NAS_OK) return st;
        if (!(r->target > 0)) return NAS_FAIL(err, NAS_ERR_INVALID, "reward target must be > 0");
        if (r->kind == CTRL_REWARD_TUNAS) {
            *out = v + r->beta * fabs(cost / r->target - 1.0);
            return NAS_OK;
        }
        if (!(cost > 0))
            return NAS_FAIL(err, NAS_ERR_INVALID, "MnasNet reward needs %s > 0, got %g",
                            r->cost_metric, cost);
        *out = v * pow(cost / r->target, cost <= r->target ? r->alpha : r->beta);
        return NAS_OK;
    }
    return NAS_FAIL(err, NAS_ERR_INVALID, "unknown reward kind %d", (int)r->kind);
}

nas_status ctrl_objectives_rewards(const ctrl_objective *o, int n, const ctrl_metrics *m,
                                   double *rewards, nas_error *err) {
    for (int i = 0; i < n; i++) {
        double v;
        nas_status st = get_metric(m, o[i].metric, &v, err);
        if (st != NAS_OK) return st;
        rewards[i] = o[i].maximize ? v : -v;
    }
    return NAS_OK;
}

int ctrl_dominates(const double *a, const double *b, int n) {
    int better = 0;
    for (int i = 0; i < n; i++) {
        if (a[i] < b[i]) return 0;
        if (a[i] > b[i]) better = 1;
    }
    return better;
}
