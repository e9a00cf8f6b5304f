/*
 * space.c - building and freeing a compiled space (see space.h).
 * The compiler (compile.c and friends) fills spaces through these functions;
 * tests and controllers build synthetic spaces with them. Point operations
 * live in point.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "searchspace/space.h"

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

ss_space *ss_space_create(const char *name) {
    ss_space *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->name = dup_str(name ? name : "");
    s->path = dup_str("<built>");
    if (!s->name || !s->path) {
        ss_space_destroy(s);
        return NULL;
    }
    return s;
}

static void decision_deinit(ss_decision *d) {
    free(d->name);
    if (d->dom.labels)
        for (int i = 0; i < d->dom.n; i++) free(d->dom.labels[i]);
    free(d->dom.labels);
    free(d->dom.nums);
    free(d->cond.allowed);
}

void ss_space_destroy(ss_space *s) {
    if (!s) return;
    for (int i = 0; i < s->n_decisions; i++) decision_deinit(&s->decisions[i]);
    free(s->decisions);
    for (int i = 0; i < s->n_constraints; i++) {
        free(s->constraints[i].metric);
        free(s->constraints[i].text);
    }
    free(s->constraints);
    for (int i = 0; i < s->n_objectives; i++) free(s->objectives[i].metric);
    free(s->objectives);
    if (s->tmpl && s->tmpl_destroy) s->tmpl_destroy(s->tmpl);
    free(s->name);
    free(s->path);
    free(s);
}

int ss_space_add_decision(ss_space *s, const ss_decision *d) {
    int idx = s->n_decisions;
    if (d->cond.parent >= idx) return -1;
    ss_decision *grown = realloc(s->decisions, (size_t)(idx + 1) * sizeof *grown);
    if (!grown) return -1;
    s->decisions = grown;
    ss_decision *c = &s->decisions[idx];
    memset(c, 0, sizeof *c);
    c->dom = d->dom;
    c->dom.labels = NULL;
    c->dom.nums = NULL;
    c->cond = d->cond;
    c->cond.allowed = NULL;
    c->is_hparam = d->is_hparam;
    c->name = dup_str(d->name ? d->name : "");
    if (!c->name) goto fail;
    if (d->dom.kind == SS_DOMAIN_CHOICE && d->dom.n > 0) {
        c->dom.labels = calloc((size_t)d->dom.n, sizeof *c->dom.labels);
        c->dom.nums = malloc((size_t)d->dom.n * sizeof *c->dom.nums);
        if (!c->dom.labels || !c->dom.nums) goto fail;
        for (int i = 0; i < d->dom.n; i++) {
            c->dom.labels[i] = dup_str(d->dom.labels ? d->dom.labels[i] : "");
            if (!c->dom.labels[i]) goto fail;
            c->dom.nums[i] = d->dom.nums ? d->dom.nums[i] : NAN;
        }
    }
    if (d->cond.parent >= 0 && d->cond.allowed) {
        const ss_decision *p = &s->decisions[d->cond.parent];
        int n = p->dom.kind == SS_DOMAIN_CHOICE ? p->dom.n : 0;
        if (n > 0) {
            c->cond.allowed = malloc((size_t)n);
            if (!c->cond.allowed) goto fail;
            memcpy(c->cond.allowed, d->cond.allowed, (size_t)n);
        }
    }
    s->n_decisions = idx + 1;
    return idx;
fail:
    decision_deinit(c);
    return -1;
}

int ss_space_add_constraint(ss_space *s, const char *metric, ss_cmp cmp, double value,
                            const char *text) {
    ss_constraint *grown =
        realloc(s->constraints, (size_t)(s->n_constraints + 1) * sizeof *grown);
    if (!grown) return -1;
    s->constraints = grown;
    ss_constraint *c = &grown[s->n_constraints];
    c->metric = dup_str(metric);
    c->text = dup_str(text ? text : "");
    c->cmp = cmp;
    c->value = value;
    if (!c->metric || !c->text) {
        free(c->metric);
        free(c->text);
        return -1;
    }
    return s->n_constraints++;
}

int ss_space_add_objective(ss_space *s, const char *metric, int maximize) {
    ss_objective *grown = realloc(s->objectives, (size_t)(s->n_objectives + 1) * sizeof *grown);
    if (!grown) return -1;
    s->objectives = grown;
    grown[s->n_objectives].metric = dup_str(metric);
    grown[s->n_objectives].maximize = maximize;
    if (!grown[s->n_objectives].metric) return -1;
    return s->n_objectives++;
}
