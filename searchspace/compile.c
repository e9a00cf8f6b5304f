/*
 * compile.c - the compiler's entry points: source text -> ss_space.
 *
 * Runs the passes (tokenize, parse, sema, lower) over one arena that is freed
 * at the end, hashes the source (FNV-1a 64), and probes shapes: a space where
 * no point gives a valid network is an error, and so is a choice option (or
 * an int bound) that never gives one, each reported at the decision with the
 * reason. The probe is a deterministic search (fixed seed) over random points
 * with the tested value forced and its ancestors made active; "never" means
 * none of SS_PROBE_TRIES points worked. The probe's work is bounded
 * (SS_PROBE_BUDGET layers); in spaces too big for it, the options it did not
 * reach are not checked. It does not sample for users.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nas/core/fileio.h"
#include "searchspace/compiler.h"

#define SS_PROBE_TRIES 48
#define SS_PROBE_GLOBAL 256
#define SS_PROBE_MAX_DECISIONS 4000
#define SS_PROBE_BUDGET 4000000 /* layers realized per compilation (about a second) */

static void hash_source(const char *src, size_t len, char *out, size_t cap) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)src[i];
        h *= 1099511628211ull;
    }
    snprintf(out, cap, "%016llx", (unsigned long long)h);
}

/* Draws every decision uniformly, ignoring conditions. */
static void draw_raw(const ss_space *s, pcg32 *rng, double *pt) {
    for (int i = 0; i < s->n_decisions; i++) {
        const ss_domain *d = &s->decisions[i].dom;
        if (d->kind == SS_DOMAIN_CHOICE) pt[i] = pcg32_bounded(rng, (uint32_t)d->n);
        else if (d->kind == SS_DOMAIN_INT) pt[i] = (double)pcg32_range(rng, d->lo, d->hi);
        else pt[i] = d->flo + (d->fhi - d->flo) * pcg32_double(rng);
    }
}

/* Makes decision i active by choosing values for its ancestors. */
static void force_active(const ss_space *s, pcg32 *rng, double *pt, int i) {
    for (int j = i; s->decisions[j].cond.parent >= 0;) {
        const ss_cond *c = &s->decisions[j].cond;
        const ss_domain *pd = &s->decisions[c->parent].dom;
        double *v = &pt[c->parent];
        if (pd->kind == SS_DOMAIN_CHOICE && c->allowed) {
            int ok = *v >= 0 && *v < pd->n && c->allowed[(int)*v];
            if (!ok) {
                int n = 0;
                for (int k = 0; k < pd->n; k++) n += c->allowed[k] != 0;
                uint32_t pick = n ? pcg32_bounded(rng, (uint32_t)n) : 0;
                for (int k = 0; k < pd->n; k++)
                    if (c->allowed[k] && pick-- == 0) *v = k;
            }
        } else if (pd->kind == SS_DOMAIN_INT) {
            int64_t lo = c->lo > pd->lo ? c->lo : pd->lo, hi = c->hi < pd->hi ? c->hi : pd->hi;
            if ((*v < (double)lo || *v > (double)hi) && lo <= hi)
                *v = (double)pcg32_range(rng, lo, hi);
        }
        j = c->parent;
    }
}

/* 1 if the point realizes; else 0 with the failure in err/line/col. */
static int try_point(const ss_space *s, const double *pt, long *budget, nas_error *err, int *line,
                     int *col) {
    nas_arch *a = NULL;
    nas_status st = ss_realize(s, pt, 0, &a, line, col, err);
    *budget -= 1 + (a ? a->n_nodes : 0);
    nas_arch_destroy(a);
    return st == NAS_OK;
}

/* The message of a realize error without its "path:line:col: " prefix. */
static const char *reason(const ss_space *s, const nas_error *e) {
    const char *m = e->msg;
    size_t n = strlen(s->path);
    if (!strncmp(m, s->path, n) && m[n] == ':') {
        const char *q = strstr(m + n + 1, ": ");
        if (q) return q + 2;
    }
    return m;
}

/* Searches for a valid point with decision `dec` (or none: -1) set to v. */
static int find_valid(const ss_space *s, pcg32 *rng, double *pt, int dec, double v, int tries,
                      long *budget, nas_error *first, int *line, int *col) {
    nas_error e;
    for (int t = 0; t < tries; t++) {
        if (t > 0 && *budget < 0) return 1; /* out of budget: assume valid */
        int l, c;
        if (t == 0) {
            for (int i = 0; i < s->n_decisions; i++) {
                const ss_domain *d = &s->decisions[i].dom;
                pt[i] = d->kind == SS_DOMAIN_INT ? (double)d->lo
                        : d->kind == SS_DOMAIN_FLOAT ? d->flo
                                                     : 0;
            }
        } else {
            draw_raw(s, rng, pt);
        }
        if (dec >= 0) {
            pt[dec] = v;
            force_active(s, rng, pt, dec);
        }
        if (try_point(s, pt, budget, &e, &l, &c)) return 1;
        if (t == 0) {
            *first = e;
            *line = l;
            *col = c;
        }
    }
    return 0;
}

static int probe(const ss_space *s, ss_diag *d) {
    const struct ss_template *tm = s->tmpl;
    if (!tm || !tm->net) return 0;
    double *pt = malloc((size_t)(s->n_decisions ? s->n_decisions : 1) * sizeof *pt);
    if (!pt) {
        ss_diag_error(d, 1, 1, "out of memory");
        return 1;
    }
    pcg32 rng;
    pcg32_seed(&rng, 0x6e61732d70726f62ull, 7);
    nas_error e = {0};
    int line = 1, col = 1, errors = 0;
    long budget = SS_PROBE_BUDGET;
    if (!find_valid(s, &rng, pt, -1, 0, SS_PROBE_GLOBAL, &budget, &e, &line, &col)) {
        ss_diag_error(d, line, col, "no point of the space gives a valid network: %s",
                      reason(s, &e));
        free(pt);
        return 1;
    }
    int n = s->n_decisions < SS_PROBE_MAX_DECISIONS ? s->n_decisions : SS_PROBE_MAX_DECISIONS;
    for (int i = 0; i < n && errors < 10; i++) {
        const ss_decision *dc = &s->decisions[i];
        if (dc->is_hparam || dc->dom.kind == SS_DOMAIN_FLOAT) continue;
        int nv = dc->dom.kind == SS_DOMAIN_CHOICE ? dc->dom.n : (dc->dom.lo == dc->dom.hi ? 1 : 2);
        for (int k = 0; k < nv && k < 256; k++) {
            double v = dc->dom.kind == SS_DOMAIN_CHOICE ? k : k == 0 ? (double)dc->dom.lo
                                                                      : (double)dc->dom.hi;
            if (budget < 0) break;
            if (find_valid(s, &rng, pt, i, v, SS_PROBE_TRIES, &budget, &e, &line, &col)) continue;
            char val[64];
            if (dc->dom.kind == SS_DOMAIN_CHOICE) snprintf(val, sizeof val, "%s", dc->dom.labels[k]);
            else snprintf(val, sizeof val, "%.0f", v);
            ss_diag_error(d, tm->dec_line[i], tm->dec_col[i],
                          "option '%s' of '%s' never gives a valid network: %s (at line %d)", val,
                          dc->name, reason(s, &e), line);
            errors++;
        }
    }
    free(pt);
    return errors;
}

nas_status ss_space_compile_string(const char *name, const char *src, size_t len, FILE *diag,
                                   ss_space **out, nas_error *err) {
    *out = NULL;
    ss_diag d = {name ? name : "<string>", src ? src : "", src ? len : 0, diag, 0, 0, "", NULL, 0, 0};
    nas_arena arena;
    nas_arena_init(&arena, 0);
    ss_space *s = NULL;
    ss_tok *toks = ss_tokenize(&arena, &d);
    if (!toks || d.n_errors) goto fail;
    ss_program *prog = ss_parse(&arena, toks, &d);
    if (!prog || d.n_errors) goto fail;
    if (ss_sema(prog, &d)) goto fail;
    s = ss_space_create("");
    if (!s) goto nomem;
    free(s->path);
    s->path = malloc(strlen(d.path) + 1);
    if (!s->path) goto nomem;
    strcpy(s->path, d.path);
    hash_source(d.src, d.len, s->hash, sizeof s->hash);
    if (ss_lower(prog, &d, s)) goto fail;
    nas_arena_deinit(&arena);
    if (probe(s, &d)) goto fail_late;
    ss_diag_flush(&d);
    *out = s;
    return NAS_OK;
nomem:
    if (!d.n_errors) ss_diag_error(&d, 1, 1, "out of memory");
fail:
    nas_arena_deinit(&arena);
fail_late:
    ss_space_destroy(s);
    if (!d.n_errors) ss_diag_error(&d, 1, 1, "internal error: compilation failed without a message");
    ss_diag_flush(&d);
    if (d.n_errors > 1)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s (and %d more error%s)", d.first, d.n_errors - 1,
                        d.n_errors > 2 ? "s" : "");
    return NAS_FAIL(err, NAS_ERR_INVALID, "%s", d.first);
}

nas_status ss_space_compile_file(const char *path, FILE *diag, ss_space **out, nas_error *err) {
    char *src;
    size_t len;
    *out = NULL;
    nas_status st = nas_file_read(path, &src, &len, err);
    if (st) return st;
    st = ss_space_compile_string(path, src, len, diag, out, err);
    free(src);
    return st;
}

nas_status ss_space_set_input(ss_space *s, int c, int h, int w, nas_error *err) {
    if (!s->tmpl || !s->tmpl->net)
        return NAS_FAIL(err, NAS_ERR_INVALID, "space '%s' has no network, so no input to set",
                        s->name);
    if (c < 1 || h < 1 || w < 1 || c > 4096 || h > 16384 || w > 16384)
        return NAS_FAIL(err, NAS_ERR_INVALID, "input %dx%dx%d is not a valid image shape", c, h, w);
    int oc = s->in_c, oh = s->in_h, ow = s->in_w;
    s->in_c = c, s->in_h = h, s->in_w = w;
    double *pt = malloc((size_t)(s->n_decisions ? s->n_decisions : 1) * sizeof *pt);
    if (!pt) {
        s->in_c = oc, s->in_h = oh, s->in_w = ow;
        return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    }
    pcg32 rng;
    pcg32_seed(&rng, 0x6e61732d70726f62ull, 7);
    nas_error e = {0};
    int line = 0, col = 0;
    long budget = SS_PROBE_BUDGET;
    int ok = find_valid(s, &rng, pt, -1, 0, SS_PROBE_GLOBAL, &budget, &e, &line, &col);
    free(pt);
    if (!ok) {
        s->in_c = oc, s->in_h = oh, s->in_w = ow;
        return NAS_FAIL(err, NAS_ERR_INVALID,
                        "space '%s' with input %dx%dx%d: no point gives a valid network: %s",
                        s->name, c, h, w, e.msg);
    }
    return NAS_OK;
}
