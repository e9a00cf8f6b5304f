/*
 * point.c - operations on the points of a space (see space.h): activity,
 * sampling, canonical form, mutation, equality and hashing, exact
 * cardinality, enumeration, JSON encoding and decoding, and the readable
 * decisions table (ss_space_print).
 *
 * It does not compile .nas files, build or free spaces (space.c, compile.c)
 * and does not realize points into archs.
 *
 * Choices made here (the header leaves them open):
 * - Float sampling, for a domain [lo, hi] with lo < hi and u uniform in [0, 1):
 *     linear       lo + u (hi - lo)
 *     log          w = exp(log lo + u (log hi - log lo)), dense near lo
 *     reverse_log  hi + lo - w, the mirror image of log: dense near hi
 *   When lo <= 0 (the compiler rejects that for log scales) both log scales
 *   use the shifted range [1, 1 + hi - lo] for w and add lo - 1 (log) or
 *   mirror it (reverse_log). Results are clamped into [lo, hi].
 * - Mutating a float draws a fresh value from its domain per its scale (not a
 *   local perturbation), different from the old value.
 * - A choice condition with allowed == NULL allows every option. A condition
 *   whose parent is a float decision holds when lo <= value <= hi.
 * - Integer values must be exactly representable as doubles (|v| <= 2^53);
 *   the cardinality is exact for any int64 range.
 * - Cardinality of the discrete part of a continuous space counts each float
 *   decision as one value with all its children active.
 * - JSON decoding accepts values for inactive decisions (checked against the
 *   domain, then canonicalized away); a choice matches a string by label, a
 *   number by its numeric value (or by a label spelling the number), and
 *   true/false by the labels "true"/"false".
 */
#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "searchspace/space.h"

/* ------------------------------------------------------------------ */
/* activity and canonical values                                       */
/* ------------------------------------------------------------------ */

static double canonical_value(const ss_decision *d) {
    switch (d->dom.kind) {
    case SS_DOMAIN_CHOICE: return 0.0;
    case SS_DOMAIN_INT: return (double)d->dom.lo;
    case SS_DOMAIN_FLOAT: return d->dom.flo;
    }
    return 0.0;
}

/* 1 when c's condition holds for the parent value v (the parent's own
 * activity is not considered). */
static int cond_holds(const ss_space *s, const ss_decision *c, double v) {
    const ss_decision *p = &s->decisions[c->cond.parent];
    if (p->dom.kind == SS_DOMAIN_CHOICE) {
        if (!(v >= 0 && v < (double)p->dom.n)) return 0;
        return !c->cond.allowed || c->cond.allowed[(int)v] != 0;
    }
    return v >= (double)c->cond.lo && v <= (double)c->cond.hi;
}

/* Activity of i when point[over] is read as over_value (over < 0: no override). */
static int active_with(const ss_space *s, const double *point, int i, int over,
                       double over_value) {
    if (i < 0 || i >= s->n_decisions) return 0;
    for (;;) {
        const ss_decision *d = &s->decisions[i];
        int p = d->cond.parent;
        if (p < 0) return 1;
        double v = p == over ? over_value : point[p];
        if (!cond_holds(s, d, v)) return 0;
        i = p;
    }
}

int ss_decision_is_active(const ss_space *s, const double *point, int i) {
    return active_with(s, point, i, -1, 0.0);
}

/* act[i] = activity of every decision, one forward pass. */
static void active_flags(const ss_space *s, const double *point, unsigned char *act) {
    for (int i = 0; i < s->n_decisions; i++) {
        const ss_decision *d = &s->decisions[i];
        int p = d->cond.parent;
        act[i] = (unsigned char)(p < 0 || (act[p] && cond_holds(s, d, point[p])));
    }
}

double *ss_point_alloc(const ss_space *s) {
    size_t n = s->n_decisions > 0 ? (size_t)s->n_decisions : 1;
    double *p = malloc(n * sizeof *p);
    if (!p) return NULL;
    p[0] = 0.0;
    for (int i = 0; i < s->n_decisions; i++) p[i] = canonical_value(&s->decisions[i]);
    return p;
}

uint64_t ss_domain_size(const ss_domain *d) {
    switch (d->kind) {
    case SS_DOMAIN_CHOICE: return d->n > 0 ? (uint64_t)d->n : 0;
    case SS_DOMAIN_INT: {
        if (d->hi < d->lo) return 0;
        uint64_t span = (uint64_t)d->hi - (uint64_t)d->lo;
        return span == UINT64_MAX ? UINT64_MAX : span + 1; /* saturates at 2^64 - 1 */
    }
    case SS_DOMAIN_FLOAT: return 0;
    }
    return 0;
}

void ss_space_canonicalize(const ss_space *s, double *point) {
    for (int i = 0; i < s->n_decisions; i++)
        if (!ss_decision_is_active(s, point, i)) point[i] = canonical_value(&s->decisions[i]);
}

/* ------------------------------------------------------------------ */
/* sampling and mutation                                               */
/* ------------------------------------------------------------------ */

static double draw_float(const ss_domain *d, pcg32 *rng) {
    double lo = d->flo, hi = d->fhi;
    if (!(hi > lo)) return lo;
    double u = pcg32_double(rng), v;
    if (d->scale == SS_SCALE_LINEAR) {
        v = lo + u * (hi - lo);
    } else {
        double a = lo > 0 ? lo : 1.0, b = lo > 0 ? hi : 1.0 + (hi - lo);
        double w = exp(log(a) + u * (log(b) - log(a))); /* log-uniform in [a, b] */
        if (d->scale == SS_SCALE_LOG)
            v = lo > 0 ? w : lo + (w - 1.0);
        else
            v = lo > 0 ? hi + lo - w : hi - (w - 1.0);
    }
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return v;
}

static double draw_value(const ss_domain *d, pcg32 *rng) {
    switch (d->kind) {
    case SS_DOMAIN_CHOICE: return d->n > 1 ? (double)pcg32_bounded(rng, (uint32_t)d->n) : 0.0;
    case SS_DOMAIN_INT: return d->hi > d->lo ? (double)pcg32_range(rng, d->lo, d->hi)
                                             : (double)d->lo;
    case SS_DOMAIN_FLOAT: return draw_float(d, rng);
    }
    return 0.0;
}

void ss_space_sample(const ss_space *s, pcg32 *rng, double *point) {
    /* Parents precede children, so each activity test reads final values. */
    for (int i = 0; i < s->n_decisions; i++) {
        const ss_decision *d = &s->decisions[i];
        point[i] = ss_decision_is_active(s, point, i) ? draw_value(&d->dom, rng)
                                                      : canonical_value(d);
    }
}

static int can_change(const ss_domain *d) {
    switch (d->kind) {
    case SS_DOMAIN_CHOICE: return d->n >= 2;
    case SS_DOMAIN_INT: return d->hi > d->lo;
    case SS_DOMAIN_FLOAT: return d->fhi > d->flo;
    }
    return 0;
}

/* A value of d's domain different from old (d has >= 2 values). */
static double draw_other(const ss_domain *d, double old, pcg32 *rng) {
    switch (d->kind) {
    case SS_DOMAIN_CHOICE: {
        if (!(old >= 0 && old < (double)d->n)) return (double)pcg32_bounded(rng, (uint32_t)d->n);
        uint32_t cur = (uint32_t)old;
        uint32_t r = pcg32_bounded(rng, (uint32_t)(d->n - 1));
        return (double)(r >= cur ? r + 1 : r);
    }
    case SS_DOMAIN_INT: {
        if (!(old >= (double)d->lo && old <= (double)d->hi) || old != floor(old))
            return (double)pcg32_range(rng, d->lo, d->hi);
        int64_t cur = (int64_t)old;
        int64_t r = pcg32_range(rng, d->lo, d->hi - 1);
        return (double)(r >= cur ? r + 1 : r);
    }
    case SS_DOMAIN_FLOAT:
        for (int tries = 0; tries < 64; tries++) {
            double v = draw_float(d, rng);
            if (v != old) return v;
        }
        return old == d->flo ? d->fhi : d->flo;
    }
    return old;
}

int ss_space_mutate(const ss_space *s, pcg32 *rng, double *point) {
    uint32_t count = 0;
    for (int i = 0; i < s->n_decisions; i++)
        if (can_change(&s->decisions[i].dom) && ss_decision_is_active(s, point, i)) count++;
    if (count == 0) return -1;
    uint32_t k = pcg32_bounded(rng, count);
    int pick = -1;
    for (int i = 0; i < s->n_decisions && pick < 0; i++)
        if (can_change(&s->decisions[i].dom) && ss_decision_is_active(s, point, i) && k-- == 0)
            pick = i;
    double old = point[pick];
    point[pick] = draw_other(&s->decisions[pick].dom, old, rng);
    /* Newly active: active now, inactive when point[pick] still held old. The
     * values after pick that change here were inactive before, so reading
     * them while testing the old activity is harmless. */
    for (int j = pick + 1; j < s->n_decisions; j++)
        if (ss_decision_is_active(s, point, j) && !active_with(s, point, j, pick, old))
            point[j] = draw_value(&s->decisions[j].dom, rng);
    ss_space_canonicalize(s, point);
    return pick;
}

/* ------------------------------------------------------------------ */
/* equality and hashing                                                */
/* ------------------------------------------------------------------ */

static uint64_t value_bits(double v) {
    if (v == 0.0) v = 0.0; /* -0.0 and 0.0 hash and compare alike */
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double canon_at(const ss_space *s, const double *point, int i) {
    return ss_decision_is_active(s, point, i) ? point[i] : canonical_value(&s->decisions[i]);
}

int ss_point_equal(const ss_space *s, const double *a, const double *b) {
    for (int i = 0; i < s->n_decisions; i++)
        if (value_bits(canon_at(s, a, i)) != value_bits(canon_at(s, b, i))) return 0;
    return 1;
}

static uint64_t mix64(uint64_t x) { /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t ss_point_hash(const ss_space *s, const double *point) {
    uint64_t h = mix64(0x6a09e667f3bcc909ULL ^ (uint64_t)s->n_decisions);
    for (int i = 0; i < s->n_decisions; i++) {
        uint64_t salt = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1); /* position matters */
        h = mix64(h ^ (value_bits(canon_at(s, point, i)) + salt));
    }
    return h;
}

/* ------------------------------------------------------------------ */
/* bignum: non-negative integers in base 1e9 limbs, least significant first */
/* ------------------------------------------------------------------ */

#define BN_BASE 1000000000u

typedef struct bn {
    uint32_t *limb;
    size_t n, cap; /* n == 0 is zero */
} bn;

static void bn_free(bn *a) {
    free(a->limb);
    a->limb = NULL;
    a->n = a->cap = 0;
}

static int bn_reserve(bn *a, size_t cap) {
    if (cap <= a->cap) return 0;
    uint32_t *p = realloc(a->limb, cap * sizeof *p);
    if (!p) return -1;
    a->limb = p;
    a->cap = cap;
    return 0;
}

static int bn_set_u64(bn *a, uint64_t v) {
    if (bn_reserve(a, 3)) return -1;
    a->n = 0;
    while (v) {
        a->limb[a->n++] = (uint32_t)(v % BN_BASE);
        v /= BN_BASE;
    }
    return 0;
}

static int bn_add(bn *a, const bn *b) { /* a += b */
    size_t n = a->n > b->n ? a->n : b->n;
    if (bn_reserve(a, n + 1)) return -1;
    uint32_t carry = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = (i < a->n ? a->limb[i] : 0) + (i < b->n ? b->limb[i] : 0) + carry;
        carry = x >= BN_BASE;
        a->limb[i] = carry ? x - BN_BASE : x;
    }
    a->n = n;
    if (carry) a->limb[a->n++] = carry;
    return 0;
}

static int bn_mul(bn *a, const bn *b) { /* a *= b */
    if (a->n == 0 || b->n == 0) {
        a->n = 0;
        return 0;
    }
    size_t n = a->n + b->n;
    uint64_t *acc = calloc(n, sizeof *acc);
    if (!acc || bn_reserve(a, n)) {
        free(acc);
        return -1;
    }
    for (size_t i = 0; i < a->n; i++) {
        uint64_t carry = 0;
        for (size_t j = 0; j < b->n; j++) {
            uint64_t t = acc[i + j] + (uint64_t)a->limb[i] * b->limb[j] + carry;
            acc[i + j] = t % BN_BASE;
            carry = t / BN_BASE;
        }
        for (size_t k = i + b->n; carry; k++) {
            uint64_t t = acc[k] + carry;
            acc[k] = t % BN_BASE;
            carry = t / BN_BASE;
        }
    }
    while (n > 0 && acc[n - 1] == 0) n--;
    for (size_t i = 0; i < n; i++) a->limb[i] = (uint32_t)acc[i];
    a->n = n;
    free(acc);
    return 0;
}

static double bn_log10(const bn *a) {
    if (a->n == 0) return -INFINITY;
    double top = 0.0;
    size_t used = a->n < 3 ? a->n : 3;
    for (size_t i = 0; i < used; i++) top = top * BN_BASE + a->limb[a->n - 1 - i];
    return log10(top) + 9.0 * (double)(a->n - used);
}

static size_t bn_ndigits(const bn *a) {
    if (a->n == 0) return 1;
    size_t d = 9 * (a->n - 1);
    for (uint32_t top = a->limb[a->n - 1]; top; top /= 10) d++;
    return d;
}

/* Writes the decimal digits; buf has room for bn_ndigits(a) + 1 bytes. */
static void bn_to_str(const bn *a, char *buf) {
    if (a->n == 0) {
        strcpy(buf, "0");
        return;
    }
    int len = sprintf(buf, "%" PRIu32, a->limb[a->n - 1]);
    for (size_t i = a->n - 1; i-- > 0;) len += sprintf(buf + len, "%09" PRIu32, a->limb[i]);
}

/* ------------------------------------------------------------------ */
/* cardinality                                                         */
/* ------------------------------------------------------------------ */

/* Count of one int decision: its range is cut at the children's interval
 * ends into segments on which the set of active children is constant;
 * each segment contributes length * product of its active children. */
static int card_int(const ss_space *s, int i, const int *kids, int nk, bn *cnt, bn *out) {
    const ss_domain *d = &s->decisions[i].dom;
    uint64_t span = (uint64_t)d->hi - (uint64_t)d->lo; /* offsets 0 .. span */
    uint64_t *cut = malloc((size_t)(2 * nk + 1) * sizeof *cut);
    uint64_t *klo = malloc((size_t)(nk + 1) * sizeof *klo);
    uint64_t *khi = malloc((size_t)(nk + 1) * sizeof *khi);
    unsigned char *live = calloc((size_t)nk + 1, 1);
    bn prod = {0}, len = {0};
    int rc = -1, nc = 0;
    if (!cut || !klo || !khi || !live) goto fail;
    cut[nc++] = 0;
    for (int k = 0; k < nk; k++) {
        const ss_cond *c = &s->decisions[kids[k]].cond;
        int64_t lo = c->lo > d->lo ? c->lo : d->lo, hi = c->hi < d->hi ? c->hi : d->hi;
        if (lo > hi) continue; /* never active */
        live[k] = 1;
        klo[k] = (uint64_t)lo - (uint64_t)d->lo;
        khi[k] = (uint64_t)hi - (uint64_t)d->lo;
        cut[nc++] = klo[k];
        if (khi[k] < span) cut[nc++] = khi[k] + 1;
    }
    for (int a = 1; a < nc; a++) /* insertion sort: nc is small */
        for (int b = a; b > 0 && cut[b - 1] > cut[b]; b--) {
            uint64_t t = cut[b];
            cut[b] = cut[b - 1];
            cut[b - 1] = t;
        }
    if (bn_set_u64(out, 0)) goto fail;
    for (int a = 0; a < nc; a++) {
        if (a > 0 && cut[a] == cut[a - 1]) continue;
        int b = a + 1;
        while (b < nc && cut[b] == cut[a]) b++;
        if (b < nc) {
            if (bn_set_u64(&len, cut[b] - cut[a])) goto fail;
        } else { /* last segment: span - cut + 1, which may be 2^64 */
            bn one = {0};
            int bad = bn_set_u64(&len, span - cut[a]) || bn_set_u64(&one, 1) || bn_add(&len, &one);
            bn_free(&one);
            if (bad) goto fail;
        }
        if (bn_set_u64(&prod, 1)) goto fail;
        for (int k = 0; k < nk; k++)
            if (live[k] && klo[k] <= cut[a] && cut[a] <= khi[k] && bn_mul(&prod, &cnt[kids[k]]))
                goto fail;
        if (bn_mul(&prod, &len) || bn_add(out, &prod)) goto fail;
    }
    rc = 0;
fail:
    bn_free(&prod);
    bn_free(&len);
    free(cut);
    free(klo);
    free(khi);
    free(live);
    return rc;
}

static int card_choice(const ss_space *s, int i, const int *kids, int nk, bn *cnt, bn *out) {
    const ss_domain *d = &s->decisions[i].dom;
    bn prod = {0};
    int rc = -1;
    if (bn_set_u64(out, 0)) goto fail;
    for (int v = 0; v < d->n; v++) {
        if (bn_set_u64(&prod, 1)) goto fail;
        for (int k = 0; k < nk; k++)
            if (cond_holds(s, &s->decisions[kids[k]], (double)v) && bn_mul(&prod, &cnt[kids[k]]))
                goto fail;
        if (bn_add(out, &prod)) goto fail;
    }
    rc = 0;
fail:
    bn_free(&prod);
    return rc;
}

/* total = number of canonical points (floats counted as one value);
 * *has_float set when the space has a float decision. 0 or -1 (no memory). */
static int card_compute(const ss_space *s, bn *total, int *has_float) {
    int n = s->n_decisions, rc = -1;
    bn *cnt = calloc((size_t)n + 1, sizeof *cnt);
    int *kids = malloc(((size_t)n + 1) * sizeof *kids);
    *has_float = 0;
    if (!cnt || !kids || bn_set_u64(total, 1)) goto fail;
    /* Children have larger indices: going backwards, every child's count is ready. */
    for (int i = n - 1; i >= 0; i--) {
        const ss_decision *d = &s->decisions[i];
        int nk = 0;
        for (int j = i + 1; j < n; j++)
            if (s->decisions[j].cond.parent == i) kids[nk++] = j;
        int bad = 0;
        if (d->dom.kind == SS_DOMAIN_CHOICE) {
            bad = card_choice(s, i, kids, nk, cnt, &cnt[i]);
        } else if (d->dom.kind == SS_DOMAIN_INT) {
            if (d->dom.hi < d->dom.lo)
                bad = bn_set_u64(&cnt[i], 0);
            else
                bad = card_int(s, i, kids, nk, cnt, &cnt[i]);
        } else {
            *has_float = 1;
            bad = bn_set_u64(&cnt[i], 1);
            for (int k = 0; k < nk && !bad; k++) bad = bn_mul(&cnt[i], &cnt[kids[k]]);
        }
        if (bad) goto fail;
        for (int k = 0; k < nk; k++) bn_free(&cnt[kids[k]]);
        if (d->cond.parent < 0 && bn_mul(total, &cnt[i])) goto fail;
    }
    rc = 0;
fail:
    if (cnt)
        for (int i = 0; i < n; i++) bn_free(&cnt[i]);
    free(cnt);
    free(kids);
    return rc;
}

int ss_space_cardinality(const ss_space *s, char *digits, size_t cap, double *log10_size) {
    bn total = {0};
    int has_float = 0, rc = -1;
    if (cap > 0) digits[0] = '\0';
    if (log10_size) *log10_size = NAN;
    if (card_compute(s, &total, &has_float)) goto fail;
    if (log10_size) *log10_size = bn_log10(&total);
    if (has_float) {
        rc = cap > 0 ? 0 : -1;
        goto fail;
    }
    size_t nd = bn_ndigits(&total);
    if (nd + 1 > cap) goto fail;
    bn_to_str(&total, digits);
    rc = 1;
fail:
    bn_free(&total);
    return rc;
}

/* ------------------------------------------------------------------ */
/* enumeration                                                         */
/* ------------------------------------------------------------------ */

/* Walks canonical points in lexicographic order: the successor of a point
 * bumps the last active decision that is below its maximum and resets every
 * later decision to its minimum, which is also its canonical value. */
nas_status ss_space_enumerate(const ss_space *s, long limit, ss_point_visit visit, void *user,
                              nas_error *err) {
    int n = s->n_decisions;
    double *point = NULL;
    unsigned char *act = NULL;
    nas_status st = NAS_OK;
    for (int i = 0; i < n; i++) {
        const ss_decision *d = &s->decisions[i];
        if (d->dom.kind == SS_DOMAIN_FLOAT)
            return NAS_FAIL(err, NAS_ERR_INVALID,
                            "%s: cannot enumerate a continuous decision (float)", d->name);
        if (ss_domain_size(&d->dom) == 0)
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s: empty domain", d->name);
    }
    point = ss_point_alloc(s);
    act = malloc((size_t)n + 1);
    if (!point || !act) {
        st = NAS_FAIL(err, NAS_ERR_NOMEM, "enumerate: out of memory");
        goto fail;
    }
    for (long seen = 0; limit < 0 || seen < limit; seen++) {
        if (visit(user, point)) break;
        active_flags(s, point, act);
        int j = n - 1;
        for (; j >= 0; j--) {
            const ss_decision *d = &s->decisions[j];
            double max =
                d->dom.kind == SS_DOMAIN_CHOICE ? (double)(d->dom.n - 1) : (double)d->dom.hi;
            if (act[j] && point[j] < max) break;
        }
        if (j < 0) break;
        point[j] += 1.0;
        for (int k = j + 1; k < n; k++) point[k] = canonical_value(&s->decisions[k]);
    }
fail:
    free(point);
    free(act);
    return st;
}

/* ------------------------------------------------------------------ */
/* text helpers                                                        */
/* ------------------------------------------------------------------ */

/* Shortest %g text that reads back as exactly v. buf holds >= 32 bytes. */
static void num_text(double v, char *buf) {
    if (v == 0.0) {
        strcpy(buf, "0");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* A fixed-size string builder that truncates with "...". */
typedef struct sbuf {
    char *p;
    size_t cap, len;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->len + 1 >= b->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k >= b->cap - b->len) {
        b->len = b->cap - 1;
        if (b->cap > 4) memcpy(b->p + b->cap - 4, "...", 4);
    } else {
        b->len += (size_t)k;
    }
}

static void sb_labels(sbuf *b, const ss_domain *d) {
    for (int i = 0; i < d->n; i++) sb_printf(b, "%s%s", i ? ", " : "", d->labels[i]);
}

static void domain_text(const ss_domain *d, sbuf *b) {
    char lo[32], hi[32];
    switch (d->kind) {
    case SS_DOMAIN_CHOICE:
        sb_printf(b, "choice(");
        sb_labels(b, d);
        sb_printf(b, ")");
        break;
    case SS_DOMAIN_INT: sb_printf(b, "int(%" PRId64 ", %" PRId64 ")", d->lo, d->hi); break;
    case SS_DOMAIN_FLOAT:
        num_text(d->flo, lo);
        num_text(d->fhi, hi);
        sb_printf(b, "float(%s, %s%s)", lo, hi,
                  d->scale == SS_SCALE_LOG           ? ", log"
                  : d->scale == SS_SCALE_REVERSE_LOG ? ", reverse_log"
                                                     : "");
        break;
    }
}

static void cond_text(const ss_space *s, const ss_decision *d, sbuf *b) {
    if (d->cond.parent < 0) {
        sb_printf(b, "always");
        return;
    }
    const ss_decision *p = &s->decisions[d->cond.parent];
    if (p->dom.kind == SS_DOMAIN_CHOICE) {
        int k = 0, last = 0;
        for (int v = 0; v < p->dom.n; v++)
            if (!d->cond.allowed || d->cond.allowed[v]) k++, last = v;
        if (k == 0) {
            sb_printf(b, "never");
        } else if (k == 1) {
            sb_printf(b, "when %s = %s", p->name, p->dom.labels[last]);
        } else {
            sb_printf(b, "when %s in {", p->name);
            for (int v = 0, first = 1; v < p->dom.n; v++)
                if (!d->cond.allowed || d->cond.allowed[v]) {
                    sb_printf(b, "%s%s", first ? "" : ", ", p->dom.labels[v]);
                    first = 0;
                }
            sb_printf(b, "}");
        }
        return;
    }
    if (p->dom.kind == SS_DOMAIN_FLOAT) {
        sb_printf(b, "when %" PRId64 " <= %s <= %" PRId64, d->cond.lo, p->name, d->cond.hi);
        return;
    }
    int64_t lo = d->cond.lo > p->dom.lo ? d->cond.lo : p->dom.lo;
    int64_t hi = d->cond.hi < p->dom.hi ? d->cond.hi : p->dom.hi;
    /* Depth-like conditions read best as "d >= k", even when k is the maximum. */
    if (lo > hi)
        sb_printf(b, "never");
    else if (hi == p->dom.hi)
        sb_printf(b, "when %s >= %" PRId64, p->name, lo);
    else if (lo == p->dom.lo)
        sb_printf(b, "when %s <= %" PRId64, p->name, hi);
    else if (lo == hi)
        sb_printf(b, "when %s = %" PRId64, p->name, lo);
    else
        sb_printf(b, "when %" PRId64 " <= %s <= %" PRId64, lo, p->name, hi);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

static cJSON *json_number(double v) {
    char buf[32];
    if (!isfinite(v)) return cJSON_CreateNull();
    num_text(v, buf);
    return cJSON_CreateRaw(buf); /* exact text: cJSON's own printing may round */
}

static cJSON *json_value(const ss_decision *d, double v) {
    switch (d->dom.kind) {
    case SS_DOMAIN_CHOICE: {
        if (!(v >= 0 && v < (double)d->dom.n)) return cJSON_CreateNull();
        int i = (int)v;
        if (!isnan(d->dom.nums[i])) return json_number(d->dom.nums[i]);
        return cJSON_CreateString(d->dom.labels[i]);
    }
    case SS_DOMAIN_INT:
        if (v == floor(v) && fabs(v) <= 9007199254740992.0) {
            char buf[32];
            snprintf(buf, sizeof buf, "%" PRId64, (int64_t)v);
            return cJSON_CreateRaw(buf);
        }
        return json_number(v);
    case SS_DOMAIN_FLOAT: return json_number(v);
    }
    return cJSON_CreateNull();
}

char *ss_point_to_json(const ss_space *s, const double *point) {
    char *out = NULL;
    cJSON *obj = cJSON_CreateObject();
    if (!obj) return NULL;
    for (int i = 0; i < s->n_decisions; i++) {
        if (!ss_decision_is_active(s, point, i)) continue;
        cJSON *item = json_value(&s->decisions[i], point[i]);
        if (!item) goto fail;
        if (!cJSON_AddItemToObject(obj, s->decisions[i].name, item)) {
            cJSON_Delete(item);
            goto fail;
        }
    }
    out = cJSON_PrintUnformatted(obj);
fail:
    cJSON_Delete(obj);
    return out;
}

static const char *json_type_name(const cJSON *it) {
    if (cJSON_IsString(it)) return "a string";
    if (cJSON_IsNumber(it)) return "a number";
    if (cJSON_IsBool(it)) return "a boolean";
    if (cJSON_IsNull(it)) return "null";
    if (cJSON_IsArray(it)) return "an array";
    if (cJSON_IsObject(it)) return "an object";
    return "an unknown value";
}

static nas_status set_index(double *v, int i) {
    *v = (double)i;
    return NAS_OK;
}

static nas_status choice_from_json(const ss_decision *d, const cJSON *it, double *v,
                                   nas_error *err) {
    const ss_domain *dom = &d->dom;
    char shown[64], num[32];
    if (cJSON_IsString(it)) {
        for (int i = 0; i < dom->n; i++)
            if (strcmp(dom->labels[i], it->valuestring) == 0) return set_index(v, i);
        snprintf(shown, sizeof shown, "\"%.40s%s\"", it->valuestring,
                 strlen(it->valuestring) > 40 ? "..." : "");
    } else if (cJSON_IsNumber(it)) {
        num_text(it->valuedouble, num);
        for (int i = 0; i < dom->n; i++)
            if (dom->nums[i] == it->valuedouble || strcmp(dom->labels[i], num) == 0)
                return set_index(v, i);
        snprintf(shown, sizeof shown, "%s", num);
    } else if (cJSON_IsBool(it)) {
        const char *want = cJSON_IsTrue(it) ? "true" : "false";
        for (int i = 0; i < dom->n; i++)
            if (strcmp(dom->labels[i], want) == 0) return set_index(v, i);
        snprintf(shown, sizeof shown, "%s", want);
    } else {
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: expected a string or a number, got %s",
                        d->name, json_type_name(it));
    }
    char list[700];
    sbuf b = {list, sizeof list, 0};
    list[0] = '\0';
    sb_labels(&b, dom);
    return NAS_FAIL(err, NAS_ERR_INVALID, "%s: %s is not one of %s", d->name, shown, list);
}

static nas_status value_from_json(const ss_decision *d, const cJSON *it, double *v,
                                  nas_error *err) {
    if (d->dom.kind == SS_DOMAIN_CHOICE) return choice_from_json(d, it, v, err);
    char num[32], dom[128];
    sbuf b = {dom, sizeof dom, 0};
    dom[0] = '\0';
    domain_text(&d->dom, &b);
    if (!cJSON_IsNumber(it))
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: expected %s, got %s", d->name,
                        d->dom.kind == SS_DOMAIN_INT ? "an integer" : "a number",
                        json_type_name(it));
    double x = it->valuedouble;
    num_text(x, num);
    if (d->dom.kind == SS_DOMAIN_INT) {
        if (!isfinite(x) || x != floor(x))
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s: %s is not an integer", d->name, num);
        if (x < (double)d->dom.lo || x > (double)d->dom.hi)
            return NAS_FAIL(err, NAS_ERR_INVALID, "%s: %s is not in %s", d->name, num, dom);
    } else if (!(x >= d->dom.flo && x <= d->dom.fhi)) {
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: %s is not in %s", d->name, num, dom);
    }
    *v = x == 0.0 ? 0.0 : x;
    return NAS_OK;
}

static int find_decision(const ss_space *s, const char *name) {
    for (int i = 0; i < s->n_decisions; i++)
        if (strcmp(s->decisions[i].name, name) == 0) return i;
    return -1;
}

nas_status ss_point_from_json(const ss_space *s, const char *json, double *point,
                              nas_error *err) {
    nas_status st = NAS_OK;
    cJSON *root = NULL;
    double *tmp = NULL;
    unsigned char *given = NULL;
    const char *end = NULL;
    int n = s->n_decisions;
    if (!json) return NAS_FAIL(err, NAS_ERR_INVALID, "point: no JSON text");
    root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        st = NAS_FAIL(err, NAS_ERR_INVALID, "point: invalid JSON at byte %ld",
                      end ? (long)(end - json) : 0L);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        st = NAS_FAIL(err, NAS_ERR_INVALID, "point: expected a JSON object, got %s",
                      json_type_name(root));
        goto fail;
    }
    tmp = ss_point_alloc(s);
    given = calloc((size_t)n + 1, 1);
    if (!tmp || !given) {
        st = NAS_FAIL(err, NAS_ERR_NOMEM, "point: out of memory");
        goto fail;
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        int i = find_decision(s, it->string);
        if (i < 0) {
            st = NAS_FAIL(err, NAS_ERR_INVALID, "point: unknown decision \"%.200s\"", it->string);
            goto fail;
        }
        if (given[i]) {
            st = NAS_FAIL(err, NAS_ERR_INVALID, "%s: given twice", s->decisions[i].name);
            goto fail;
        }
        st = value_from_json(&s->decisions[i], it, &tmp[i], err);
        if (st != NAS_OK) goto fail;
        given[i] = 1;
    }
    for (int i = 0; i < n; i++)
        if (!given[i] && ss_decision_is_active(s, tmp, i)) {
            st = NAS_FAIL(err, NAS_ERR_INVALID, "%s: missing (the decision is active)",
                          s->decisions[i].name);
            goto fail;
        }
    ss_space_canonicalize(s, tmp);
    if (n > 0) memcpy(point, tmp, (size_t)n * sizeof *point);
fail:
    cJSON_Delete(root);
    free(tmp);
    free(given);
    return st;
}

/* ------------------------------------------------------------------ */
/* printing                                                            */
/* ------------------------------------------------------------------ */

#define PRINT_COL_MAX 48

static void print_summary_size(const ss_space *s, FILE *out) {
    bn total = {0};
    int has_float = 0;
    char *digits = NULL;
    if (card_compute(s, &total, &has_float)) {
        fprintf(out, "cardinality: unknown (out of memory)\n");
        goto fail;
    }
    if (has_float) {
        fprintf(out, "cardinality: continuous (log10 of discrete part = %.2f)\n",
                bn_log10(&total));
        goto fail;
    }
    size_t nd = bn_ndigits(&total);
    digits = malloc(nd + 1);
    if (!digits) {
        fprintf(out, "cardinality: 10^%.2f\n", bn_log10(&total));
        goto fail;
    }
    bn_to_str(&total, digits);
    int over = nd > 20 || (nd == 20 && strcmp(digits, "18446744073709551615") > 0);
    if (over)
        fprintf(out, "cardinality: %s (log10 = %.2f)\n", digits, bn_log10(&total));
    else
        fprintf(out, "cardinality: %s\n", digits);
fail:
    free(digits);
    bn_free(&total);
}

void ss_space_print(const ss_space *s, FILE *out) {
    int wname = 4, wdom = 6, nh = 0;
    char dom[512], cond[512];
    for (int i = 0; i < s->n_decisions; i++) {
        sbuf b = {dom, sizeof dom, 0};
        dom[0] = '\0';
        domain_text(&s->decisions[i].dom, &b);
        int ln = (int)strlen(s->decisions[i].name), ld = (int)b.len;
        if (ln > wname) wname = ln < PRINT_COL_MAX ? ln : PRINT_COL_MAX;
        if (ld > wdom) wdom = ld < PRINT_COL_MAX ? ld : PRINT_COL_MAX;
        nh += s->decisions[i].is_hparam != 0;
    }
    fprintf(out, "space %s\n", s->name && s->name[0] ? s->name : "(unnamed)");
    fprintf(out, "%4s  %-*s  %-*s  %s\n", "#", wname, "name", wdom, "domain", "condition");
    for (int i = 0; i < s->n_decisions; i++) {
        const ss_decision *d = &s->decisions[i];
        sbuf b = {dom, sizeof dom, 0}, c = {cond, sizeof cond, 0};
        dom[0] = cond[0] = '\0';
        domain_text(&d->dom, &b);
        cond_text(s, d, &c);
        fprintf(out, "%4d  %-*s  %-*s  %s%s\n", i, wname, d->name, wdom, dom, cond,
                d->is_hparam ? "  [hparam]" : "");
    }
    fprintf(out, "decisions: %d (%d hyperparameter%s)\n", s->n_decisions, nh, nh == 1 ? "" : "s");
    print_summary_size(s, out);
    fprintf(out, "constraints:");
    if (s->n_constraints == 0) fprintf(out, " none");
    for (int i = 0; i < s->n_constraints; i++) {
        const ss_constraint *c = &s->constraints[i];
        if (c->text && c->text[0]) {
            fprintf(out, "%s %s", i ? "," : "", c->text);
        } else {
            static const char *const ops[] = {"<=", "<", ">=", ">"};
            char num[32];
            num_text(c->value, num);
            fprintf(out, "%s %s %s %s", i ? "," : "", c->metric, ops[c->cmp], num);
        }
    }
    fprintf(out, "\nobjectives:");
    if (s->n_objectives == 0) fprintf(out, " none");
    for (int i = 0; i < s->n_objectives; i++)
        fprintf(out, "%s %s %s", i ? "," : "", s->objectives[i].maximize ? "maximize" : "minimize",
                s->objectives[i].metric);
    fprintf(out, "\n");
}
