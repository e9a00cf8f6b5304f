/*
 * test_space_points.c - the point operations of searchspace/space.h on spaces
 * built by hand: activity, sampling (domains, scales, determinism),
 * canonical form, equality and hashing, mutation, exact cardinality (checked
 * against brute force over the full product and against enumeration),
 * enumeration order, JSON round trips and every JSON error, and the printed
 * decisions table. It does not compile .nas files (test_searchspace does).
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "searchspace/space.h"
#include "tests/test.h"

/* ---- building spaces ---- */

/* A condition as the tests write it: parent < 0 always; a choice parent
 * allows the options whose bit is set in mask; an int parent [lo, hi]. */
typedef struct when {
    int parent;
    unsigned mask;
    int64_t lo, hi;
} when;

static const when ALWAYS = {-1, 0, 0, 0};

static when when_choice(int parent, unsigned mask) {
    when w = {parent, mask, 0, 0};
    return w;
}

static when when_int(int parent, int64_t lo, int64_t hi) {
    when w = {parent, 0, lo, hi};
    return w;
}

/* Fills d's condition from w (allowed points into the caller's buffer) and adds d. */
static int add_decision(ss_space *s, ss_decision *d, when w) {
    unsigned char allowed[32];
    d->cond.parent = w.parent;
    d->cond.lo = w.lo;
    d->cond.hi = w.hi;
    if (w.parent >= 0 && s->decisions[w.parent].dom.kind == SS_DOMAIN_CHOICE) {
        for (int i = 0; i < 32; i++) allowed[i] = (unsigned char)((w.mask >> i) & 1u);
        d->cond.allowed = allowed;
    }
    int i = ss_space_add_decision(s, d);
    if (i < 0) abort();
    return i;
}

/* Adds a choice over comma-separated labels; numeric labels get their number. */
static int add_choice(ss_space *s, const char *name, const char *labels, when w) {
    char buf[256], *lab[32];
    double nums[32];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", labels);
    for (char *tok = strtok(buf, ","); tok && n < 32; tok = strtok(NULL, ",")) {
        char *end;
        lab[n] = tok;
        nums[n] = strtod(tok, &end);
        if (end == tok || *end) nums[n] = NAN;
        n++;
    }
    ss_decision d = {0};
    d.name = (char *)name;
    d.dom.kind = SS_DOMAIN_CHOICE;
    d.dom.n = n;
    d.dom.labels = lab;
    d.dom.nums = nums;
    return add_decision(s, &d, w);
}

static int add_int(ss_space *s, const char *name, int64_t lo, int64_t hi, when w) {
    ss_decision d = {0};
    d.name = (char *)name;
    d.dom.kind = SS_DOMAIN_INT;
    d.dom.lo = lo;
    d.dom.hi = hi;
    return add_decision(s, &d, w);
}

static int add_float(ss_space *s, const char *name, double lo, double hi, ss_scale scale,
                     int hparam, when w) {
    ss_decision d = {0};
    d.name = (char *)name;
    d.dom.kind = SS_DOMAIN_FLOAT;
    d.dom.flo = lo;
    d.dom.fhi = hi;
    d.dom.scale = scale;
    d.is_hparam = hparam;
    return add_decision(s, &d, w);
}

/* A depth space: depth int(1,3); per repetition r (active when depth >= r)
 * an op choice(skip, conv) and, when conv, a kernel choice(3, 5, 7). Count:
 * each repetition has 1 + 3 = 4 values, so 4 + 16 + 64 = 84. */
static ss_space *depth_space(void) {
    ss_space *s = ss_space_create("depth");
    int depth = add_int(s, "stage2.depth", 1, 3, ALWAYS);
    for (int r = 0; r < 3; r++) {
        char name[64];
        snprintf(name, sizeof name, "stage2[%d].op", r);
        int op = add_choice(s, name, "skip,conv", when_int(depth, r + 1, INT64_MAX));
        snprintf(name, sizeof name, "stage2[%d].kernel", r);
        add_choice(s, name, "3,5,7", when_choice(op, 2u));
    }
    return s;
}

/* Nested choices and mixed kinds with a float hyperparameter (mixed_space)
 * or without (nested_space). Count of nested_space:
 *   block: a -> x(2) * (y: x=1 -> 3 else 1) = 1 + 3 = 4, b -> 1, c -> width(2) = 2
 *   total = (4 + 1 + 2) * bs(2) = 14. */
static ss_space *nested_space(int with_float) {
    ss_space *s = ss_space_create("nested");
    int block = add_choice(s, "block", "a,b,c", ALWAYS);
    int x = add_choice(s, "block.a.x", "no,yes", when_choice(block, 1u));
    add_int(s, "block.a.x.y", 1, 3, when_choice(x, 2u));
    add_choice(s, "block.c.width", "16,32", when_choice(block, 4u));
    if (with_float) add_float(s, "lr", 1e-4, 1e-2, SS_SCALE_LOG, 1, ALWAYS);
    add_choice(s, "batch_size", "64,128", ALWAYS);
    return s;
}

/* The NAS-Bench-201 cell: 6 edges, 5 ops each: 15625 points. */
static ss_space *nb201_space(void) {
    ss_space *s = ss_space_create("nb201");
    for (int e = 0; e < 6; e++) {
        char name[32];
        snprintf(name, sizeof name, "cell.edge%d", e);
        add_choice(s, name, "none,skip_connect,nor_conv_1x1,nor_conv_3x3,avg_pool_3x3", ALWAYS);
    }
    return s;
}

/* A random conditional space of up to 7 small decisions (choices of 1..3
 * options, int ranges of 1..3 values, conditions on earlier choices/ints). */
static ss_space *random_space(pcg32 *rng) {
    ss_space *s = ss_space_create("random");
    int n = 1 + (int)pcg32_bounded(rng, 7);
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "d%d", i);
        when cond = ALWAYS;
        if (i > 0 && pcg32_bounded(rng, 3) != 0) {
            int p = (int)pcg32_bounded(rng, (uint32_t)i);
            const ss_domain *pd = &s->decisions[p].dom;
            if (pd->kind == SS_DOMAIN_CHOICE) {
                cond = when_choice(p, pcg32_bounded(rng, 1u << pd->n));
            } else {
                int64_t a = pcg32_range(rng, pd->lo - 1, pd->hi + 1);
                int64_t b = pcg32_range(rng, pd->lo - 1, pd->hi + 1);
                cond = when_int(p, a < b ? a : b, a < b ? b : a);
            }
        }
        if (pcg32_bounded(rng, 2)) {
            static const char *const opts[] = {"p", "p,q", "p,q,r"};
            add_choice(s, name, opts[pcg32_bounded(rng, 3)], cond);
        } else {
            int64_t lo = pcg32_range(rng, -2, 2);
            add_int(s, name, lo, lo + pcg32_range(rng, 0, 2), cond);
        }
    }
    return s;
}

/* ---- helpers ---- */

static int in_domain(const ss_domain *d, double v) {
    switch (d->kind) {
    case SS_DOMAIN_CHOICE: return v >= 0 && v < d->n && v == floor(v);
    case SS_DOMAIN_INT: return v >= (double)d->lo && v <= (double)d->hi && v == floor(v);
    case SS_DOMAIN_FLOAT: return v >= d->flo && v <= d->fhi;
    }
    return 0;
}

static double canon_of(const ss_decision *d) {
    return d->dom.kind == SS_DOMAIN_CHOICE ? 0.0
           : d->dom.kind == SS_DOMAIN_INT  ? (double)d->dom.lo
                                           : d->dom.flo;
}

/* Checks every value is in its domain and every inactive one canonical. */
static int point_valid(const ss_space *s, const double *p) {
    for (int i = 0; i < s->n_decisions; i++) {
        const ss_decision *d = &s->decisions[i];
        if (!in_domain(&d->dom, p[i])) return 0;
        if (!ss_decision_is_active(s, p, i) && p[i] != canon_of(d)) return 0;
    }
    return 1;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static long count_distinct(uint64_t *h, long n) {
    qsort(h, (size_t)n, sizeof *h, cmp_u64);
    long k = 0;
    for (long i = 0; i < n; i++)
        if (i == 0 || h[i] != h[i - 1]) k++;
    return k;
}

/* Brute force: every point of the full product (conditions ignored),
 * canonicalized, counted once per distinct hash. */
static long brute_count(const ss_space *s) {
    int n = s->n_decisions;
    double *p = ss_point_alloc(s), *q = ss_point_alloc(s);
    long cap = 1, m = 0;
    for (int i = 0; i < n; i++) cap *= (long)ss_domain_size(&s->decisions[i].dom);
    uint64_t *h = malloc((size_t)cap * sizeof *h);
    for (;;) {
        memcpy(q, p, (size_t)(n > 0 ? n : 1) * sizeof *q);
        ss_space_canonicalize(s, q);
        h[m++] = ss_point_hash(s, q);
        int j = n - 1;
        for (; j >= 0; j--) {
            const ss_domain *d = &s->decisions[j].dom;
            double max = d->kind == SS_DOMAIN_CHOICE ? d->n - 1 : (double)d->hi;
            if (p[j] < max) break;
            p[j] = canon_of(&s->decisions[j]);
        }
        if (j < 0) break;
        p[j] += 1;
    }
    long k = count_distinct(h, m);
    free(h);
    free(p);
    free(q);
    return k;
}

typedef struct collect {
    const ss_space *s;
    long n, cap, stop_at;
    uint64_t *hash;
    double *first; /* the first 8 points */
    int bad;       /* a visited point was not valid and canonical */
} collect;

static int collect_visit(void *user, const double *point) {
    collect *c = user;
    int n = c->s->n_decisions;
    if (!point_valid(c->s, point)) c->bad = 1;
    if (c->n < 8 && n > 0) memcpy(c->first + c->n * n, point, (size_t)n * sizeof *point);
    if (c->n < c->cap) c->hash[c->n] = ss_point_hash(c->s, point);
    c->n++;
    return c->stop_at > 0 && c->n >= c->stop_at;
}

static void collect_init(collect *c, const ss_space *s, long cap) {
    memset(c, 0, sizeof *c);
    c->s = s;
    c->cap = cap;
    c->hash = malloc((size_t)cap * sizeof *c->hash);
    c->first = calloc((size_t)(8 * (s->n_decisions + 1)), sizeof *c->first);
}

static void collect_free(collect *c) {
    free(c->hash);
    free(c->first);
}

static long card_long(const ss_space *s) {
    char digits[64];
    double lg;
    if (ss_space_cardinality(s, digits, sizeof digits, &lg) != 1) return -1;
    return strtol(digits, NULL, 10);
}

/* ---- tests ---- */

static void test_alloc_and_activity(void) {
    ss_space *s = depth_space();
    double *p = ss_point_alloc(s);
    ASSERT_TRUE(p != NULL);
    ASSERT_EQ_INT(p[0], 1); /* int canonical: lo */
    for (int i = 1; i < s->n_decisions; i++) ASSERT_EQ_INT(p[i], 0);
    /* depth 1: only repetition 0's op is active; kernel only when op = conv */
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 0), 1);
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 1), 1);
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 2), 0);
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 3), 0);
    p[1] = 1; /* conv */
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 2), 1);
    p[3] = 1; /* repetition 1 conv, but depth 1: its op is inactive, so its kernel too */
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 3), 0);
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 4), 0);
    p[0] = 2;
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 3), 1);
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 4), 1);
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 5), 0);
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 6), 0);
    p[5] = 1;
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 6), 0); /* depth 2: repetition 2 absent */
    p[0] = 3;
    ASSERT_EQ_INT(ss_decision_is_active(s, p, 6), 1);
    ASSERT_EQ_INT(ss_decision_is_active(s, p, -1), 0);
    ASSERT_EQ_INT(ss_decision_is_active(s, p, s->n_decisions), 0);
    free(p);
    ss_space_destroy(s);

    /* int parent with a closed interval: active for 2 <= v <= 3 only */
    s = ss_space_create("interval");
    int a = add_int(s, "a", 0, 5, ALWAYS);
    add_int(s, "b", 10, 20, when_int(a, 2, 3));
    p = ss_point_alloc(s);
    ASSERT_EQ_INT(p[1], 10);
    for (int v = 0; v <= 5; v++) {
        p[0] = v;
        ASSERT_EQ_INT(ss_decision_is_active(s, p, 1), v >= 2 && v <= 3);
    }
    free(p);
    ss_space_destroy(s);
}

static void test_domain_size(void) {
    ss_domain d = {0};
    d.kind = SS_DOMAIN_CHOICE;
    d.n = 3;
    ASSERT_EQ_INT(ss_domain_size(&d), 3);
    d.kind = SS_DOMAIN_INT;
    d.lo = -5;
    d.hi = 5;
    ASSERT_EQ_INT(ss_domain_size(&d), 11);
    d.lo = 100;
    d.hi = 300;
    ASSERT_EQ_INT(ss_domain_size(&d), 201);
    d.lo = 0;
    d.hi = INT64_MAX;
    ASSERT_TRUE(ss_domain_size(&d) == (uint64_t)INT64_MAX + 1);
    d.lo = INT64_MIN;
    ASSERT_TRUE(ss_domain_size(&d) == UINT64_MAX); /* 2^64 saturates */
    d.lo = 3;
    d.hi = 2;
    ASSERT_EQ_INT(ss_domain_size(&d), 0);
    d.kind = SS_DOMAIN_FLOAT;
    d.flo = 0;
    d.fhi = 1;
    ASSERT_EQ_INT(ss_domain_size(&d), 0);
}

static void test_sample_valid_and_uniform(void) {
    ss_space *s = depth_space();
    double *p = ss_point_alloc(s);
    pcg32 rng;
    pcg32_seed(&rng, 42, 1);
    long depth_hist[4] = {0}, kernel_hist[3] = {0}, kernel_active = 0;
    const int N = 6000;
    for (int t = 0; t < N; t++) {
        ss_space_sample(s, &rng, p);
        ASSERT_TRUE(point_valid(s, p));
        depth_hist[(int)p[0]]++;
        if (ss_decision_is_active(s, p, 2)) {
            kernel_active++;
            kernel_hist[(int)p[2]]++;
        }
    }
    ASSERT_EQ_INT(depth_hist[0], 0);
    for (int v = 1; v <= 3; v++) ASSERT_NEAR(depth_hist[v], N / 3.0, 5 * sqrt(N / 3.0));
    ASSERT_NEAR(kernel_active, N / 2.0, 5 * sqrt(N / 4.0)); /* op = conv half the time */
    for (int v = 0; v < 3; v++)
        ASSERT_NEAR(kernel_hist[v], kernel_active / 3.0, 5 * sqrt(kernel_active / 3.0));
    free(p);
    ss_space_destroy(s);

    /* a big int range: values spread over the whole range */
    s = ss_space_create("big");
    add_int(s, "steps", -1000000000000LL, 1000000000000LL, ALWAYS);
    p = ss_point_alloc(s);
    int neg = 0, far = 0;
    for (int t = 0; t < 1000; t++) {
        ss_space_sample(s, &rng, p);
        ASSERT_TRUE(point_valid(s, p));
        neg += p[0] < 0;
        far += fabs(p[0]) > 1e11;
    }
    ASSERT_NEAR(neg, 500, 80);
    ASSERT_LE(800, far);
    free(p);
    ss_space_destroy(s);
}

static void test_sample_float_scales(void) {
    ss_space *s = ss_space_create("floats");
    add_float(s, "lin", 0.0, 0.5, SS_SCALE_LINEAR, 1, ALWAYS);
    add_float(s, "log", 1e-4, 1e-2, SS_SCALE_LOG, 1, ALWAYS);
    add_float(s, "rev", 0.9, 0.999, SS_SCALE_REVERSE_LOG, 1, ALWAYS);
    add_float(s, "log0", 0.0, 10.0, SS_SCALE_LOG, 0, ALWAYS); /* lo <= 0: shifted range */
    add_float(s, "point", 2.0, 2.0, SS_SCALE_LINEAR, 0, ALWAYS);
    add_float(s, "rev_wide", 1e-3, 1.0, SS_SCALE_REVERSE_LOG, 0, ALWAYS);
    double *p = ss_point_alloc(s);
    pcg32 rng;
    pcg32_seed(&rng, 7, 3);
    const int N = 8000;
    int lin_low = 0, log_low = 0, rev_high = 0, log0_low = 0;
    double gm = sqrt(1e-4 * 1e-2);
    double rev_mid = 0.9 + 0.999 - sqrt(0.9 * 0.999);
    for (int t = 0; t < N; t++) {
        ss_space_sample(s, &rng, p);
        ASSERT_TRUE(point_valid(s, p));
        lin_low += p[0] < 0.25;
        log_low += p[1] < gm;          /* log: half below the geometric mean */
        rev_high += p[2] > rev_mid;    /* reverse_log: half above the mirror of it */
        log0_low += p[3] < sqrt(11.0) - 1.0;
        ASSERT_EQ_INT(p[4] == 2.0, 1);
    }
    double tol = 5 * sqrt(N / 4.0);
    ASSERT_NEAR(lin_low, N / 2.0, tol);
    ASSERT_NEAR(log_low, N / 2.0, tol);
    ASSERT_NEAR(rev_high, N / 2.0, tol);
    ASSERT_NEAR(log0_low, N / 2.0, tol);
    /* reverse_log over [0.001, 1] is dense near hi: the top 1% of the range
     * holds log(11)/log(1000) = 35% of the draws, the bottom 10% only 1.5% */
    int top = 0, bottom = 0;
    for (int t = 0; t < N; t++) {
        ss_space_sample(s, &rng, p);
        top += p[5] > 1.0 - 0.00999;
        bottom += p[5] < 0.001 + 0.0999;
    }
    ASSERT_NEAR(top, N * log(11.0) / log(1000.0), 5 * sqrt(N * 0.25));
    ASSERT_NEAR(bottom, N * log(1 / 0.9) / log(1000.0), 5 * sqrt(N * 0.02));
    free(p);
    ss_space_destroy(s);
}

static void test_sample_deterministic(void) {
    ss_space *s = nested_space(1);
    double *a = ss_point_alloc(s), *b = ss_point_alloc(s);
    pcg32 r1, r2, r3;
    pcg32_seed(&r1, 123, 9);
    pcg32_seed(&r2, 123, 9);
    pcg32_seed(&r3, 124, 9);
    int differs = 0;
    for (int t = 0; t < 200; t++) {
        ss_space_sample(s, &r1, a);
        ss_space_sample(s, &r2, b);
        ASSERT_EQ_INT(memcmp(a, b, (size_t)s->n_decisions * sizeof *a), 0);
        ss_space_sample(s, &r3, b);
        differs += memcmp(a, b, (size_t)s->n_decisions * sizeof *a) != 0;
    }
    ASSERT_LE(150, differs);
    free(a);
    free(b);
    ss_space_destroy(s);
}

static void test_canonical_equal_hash(void) {
    ss_space *s = nested_space(1);
    double *a = ss_point_alloc(s), *b = ss_point_alloc(s);
    /* block = b: x, y, width inactive */
    double pa[] = {1, 1, 3, 1, 0.001, 1};
    double pb[] = {1, 0, 2, 0, 0.001, 1};
    memcpy(a, pa, sizeof pa);
    memcpy(b, pb, sizeof pb);
    ASSERT_EQ_INT(ss_point_equal(s, a, b), 1);
    ASSERT_TRUE(ss_point_hash(s, a) == ss_point_hash(s, b));
    ss_space_canonicalize(s, a);
    ASSERT_EQ_INT(a[1], 0);
    ASSERT_EQ_INT(a[2], 1);
    ASSERT_EQ_INT(a[3], 0);
    ASSERT_TRUE(a[4] == 0.001); /* active values untouched */
    ASSERT_EQ_INT(a[5], 1);
    ASSERT_EQ_INT(memcmp(a, b, sizeof pa) == 0, 0); /* b is still not canonical */
    ss_space_canonicalize(s, b);
    ASSERT_EQ_INT(memcmp(a, b, sizeof pa), 0);
    /* an active difference matters */
    b[5] = 0;
    ASSERT_EQ_INT(ss_point_equal(s, a, b), 0);
    ASSERT_TRUE(ss_point_hash(s, a) != ss_point_hash(s, b));
    b[5] = 1;
    b[4] = nextafter(0.001, 1.0); /* floats compare exactly */
    ASSERT_EQ_INT(ss_point_equal(s, a, b), 0);
    ASSERT_TRUE(ss_point_hash(s, a) != ss_point_hash(s, b));
    /* block = a: x matters, y only when x = yes */
    a[0] = b[0] = 0;
    a[4] = b[4] = 0.001;
    a[1] = 0, b[1] = 0, a[2] = 1, b[2] = 3;
    ASSERT_EQ_INT(ss_point_equal(s, a, b), 1);
    a[1] = b[1] = 1;
    ASSERT_EQ_INT(ss_point_equal(s, a, b), 0);
    ss_space_destroy(s);

    /* -0.0 and 0.0 are the same value */
    s = ss_space_create("zero");
    add_float(s, "rate", -1.0, 1.0, SS_SCALE_LINEAR, 1, ALWAYS);
    a[0] = 0.0;
    b[0] = -0.0;
    ASSERT_EQ_INT(ss_point_equal(s, a, b), 1);
    ASSERT_TRUE(ss_point_hash(s, a) == ss_point_hash(s, b));
    free(a);
    free(b);
    ss_space_destroy(s);
}

static void test_hash_dedupes_samples(void) {
    /* Distinct canonical points of nb201 drawn at random: hashes agree with equality. */
    ss_space *s = nb201_space();
    pcg32 rng;
    pcg32_seed(&rng, 5, 5);
    enum { N = 3000 };
    double *pts = malloc(N * 6 * sizeof *pts);
    uint64_t *h = malloc(N * sizeof *h);
    for (int t = 0; t < N; t++) {
        ss_space_sample(s, &rng, pts + 6 * t);
        h[t] = ss_point_hash(s, pts + 6 * t);
    }
    long pairs_equal = 0, pairs_hash = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            pairs_equal += ss_point_equal(s, pts + 6 * i, pts + 6 * j);
            pairs_hash += h[i] == h[j];
        }
    ASSERT_EQ_INT(pairs_hash, pairs_equal);
    ASSERT_LE(1, pairs_equal); /* 3000 draws of 15625 collide (birthday) */
    free(pts);
    free(h);
    ss_space_destroy(s);
}

static void test_mutate(void) {
    ss_space *s = depth_space();
    double *p = ss_point_alloc(s), *old = ss_point_alloc(s);
    pcg32 rng;
    pcg32_seed(&rng, 99, 2);
    long picks[16] = {0}, kernel_nonzero_new = 0, newly_active = 0;
    for (int t = 0; t < 5000; t++) {
        if (t % 50 == 0) ss_space_sample(s, &rng, p);
        memcpy(old, p, (size_t)s->n_decisions * sizeof *p);
        int i = ss_space_mutate(s, &rng, p);
        ASSERT_TRUE(i >= 0 && i < s->n_decisions);
        ASSERT_EQ_INT(ss_decision_is_active(s, old, i), 1);
        ASSERT_TRUE(p[i] != old[i]);
        ASSERT_TRUE(point_valid(s, p)); /* in domain and canonical */
        ASSERT_EQ_INT(ss_point_equal(s, p, old), 0);
        for (int j = 0; j < i; j++) ASSERT_TRUE(p[j] == old[j]);
        for (int j = i + 1; j < s->n_decisions; j++) {
            int was = ss_decision_is_active(s, old, j), now = ss_decision_is_active(s, p, j);
            if (was && now) ASSERT_TRUE(p[j] == old[j]); /* still-active values kept */
            if (!was && now && s->decisions[j].dom.kind == SS_DOMAIN_CHOICE &&
                s->decisions[j].dom.n == 3) {
                newly_active++;
                kernel_nonzero_new += p[j] != 0;
            }
        }
        picks[i]++;
    }
    /* every decision gets mutated; newly active kernels are sampled, not left at 0 */
    for (int i = 0; i < s->n_decisions; i++) ASSERT_LE(1, picks[i]);
    ASSERT_LE(50, newly_active);
    ASSERT_NEAR(kernel_nonzero_new, newly_active * 2.0 / 3.0, 5 * sqrt(newly_active * 2.0 / 9.0));
    free(p);
    free(old);
    ss_space_destroy(s);
}

static void test_mutate_uniform_choice(void) {
    /* Three always-active decisions plus a one-option choice (never mutated) and a
     * float: each of the 4 mutable ones is picked ~1/4 of the time. */
    ss_space *s = ss_space_create("flat");
    add_choice(s, "a", "1,2", ALWAYS);
    add_choice(s, "fixed", "only", ALWAYS);
    add_int(s, "b", 0, 1000000, ALWAYS);
    add_float(s, "c", 1e-3, 1.0, SS_SCALE_LOG, 1, ALWAYS);
    add_int(s, "d", 7, 8, ALWAYS);
    double *p = ss_point_alloc(s);
    pcg32 rng;
    pcg32_seed(&rng, 1, 1);
    ss_space_sample(s, &rng, p);
    long hist[5] = {0};
    const int N = 4000;
    for (int t = 0; t < N; t++) {
        double before[5];
        memcpy(before, p, sizeof before);
        int i = ss_space_mutate(s, &rng, p);
        ASSERT_TRUE(i >= 0 && i < 5);
        ASSERT_TRUE(p[i] != before[i]);
        ASSERT_TRUE(point_valid(s, p));
        hist[i]++;
    }
    ASSERT_EQ_INT(hist[1], 0);
    for (int i = 0; i < 5; i++)
        if (i != 1) ASSERT_NEAR(hist[i], N / 4.0, 5 * sqrt(N * 3.0 / 16.0));
    ASSERT_EQ_INT(p[1], 0);
    free(p);
    ss_space_destroy(s);

    /* nothing can change */
    s = ss_space_create("frozen");
    add_choice(s, "a", "x", ALWAYS);
    add_int(s, "b", 4, 4, ALWAYS);
    add_float(s, "c", 0.5, 0.5, SS_SCALE_LINEAR, 0, ALWAYS);
    p = ss_point_alloc(s);
    ASSERT_EQ_INT(ss_space_mutate(s, &rng, p), -1);
    free(p);
    ss_space_destroy(s);
}

static void test_cardinality_small(void) {
    ss_space *s = nb201_space();
    ASSERT_EQ_INT(card_long(s), 15625);
    ss_space_destroy(s);
    s = depth_space();
    ASSERT_EQ_INT(card_long(s), 84);
    ASSERT_EQ_INT(brute_count(s), 84);
    ss_space_destroy(s);
    s = nested_space(0);
    ASSERT_EQ_INT(card_long(s), 14);
    ASSERT_EQ_INT(brute_count(s), 14);
    ss_space_destroy(s);
    s = ss_space_create("empty");
    ASSERT_EQ_INT(card_long(s), 1);
    ss_space_destroy(s);
}

static void test_cardinality_random_vs_brute_force(void) {
    pcg32 rng;
    pcg32_seed(&rng, 2024, 11);
    for (int t = 0; t < 300; t++) {
        ss_space *s = random_space(&rng);
        long brute = brute_count(s);
        long card = card_long(s);
        if (card != brute) {
            ss_space_print(s, stderr);
            ASSERT_EQ_INT(card, brute);
        }
        ss_space_destroy(s);
    }
}

static void test_cardinality_big(void) {
    char digits[128];
    double lg = 0;
    /* 30 decisions of 10 options: exactly 10^30 */
    ss_space *s = ss_space_create("wide");
    for (int i = 0; i < 30; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        add_choice(s, name, "0,1,2,3,4,5,6,7,8,9", ALWAYS);
    }
    ASSERT_EQ_INT(ss_space_cardinality(s, digits, sizeof digits, &lg), 1);
    ASSERT_STR_EQ(digits, "1000000000000000000000000000000");
    ASSERT_NEAR(lg, 30.0, 1e-12);
    /* too small a buffer: -1, log10 still set */
    lg = 0;
    ASSERT_EQ_INT(ss_space_cardinality(s, digits, 31, &lg), -1);
    ASSERT_STR_EQ(digits, "");
    ASSERT_NEAR(lg, 30.0, 1e-12);
    ASSERT_EQ_INT(ss_space_cardinality(s, digits, 32, &lg), 1);
    ss_space_destroy(s);

    /* 3^41 = 36472996377170786403 > 2^64 */
    s = ss_space_create("pow3");
    for (int i = 0; i < 41; i++) {
        char name[16];
        snprintf(name, sizeof name, "k%d", i);
        add_choice(s, name, "3,5,7", ALWAYS);
    }
    ASSERT_EQ_INT(ss_space_cardinality(s, digits, sizeof digits, &lg), 1);
    ASSERT_STR_EQ(digits, "36472996377170786403");
    ASSERT_NEAR(lg, 41 * log10(3.0), 1e-9);
    ss_space_destroy(s);

    /* huge int ranges are counted without iteration */
    s = ss_space_create("ints");
    add_int(s, "a", 0, 1000000000000LL, ALWAYS);
    add_int(s, "b", INT64_MIN, INT64_MAX, ALWAYS);
    ASSERT_EQ_INT(ss_space_cardinality(s, digits, sizeof digits, &lg), 1);
    /* 1000000000001 * 2^64 */
    ASSERT_STR_EQ(digits, "18446744073727998360073709551616");
    ss_space_destroy(s);

    /* a big int parent with interval children: grouped by segments.
     * n in [1, 10^9]; child c1 (choice of 3) when 5 <= n <= 10, child c2
     * (int of 4 values) when n >= 8, c3 (choice of 2) when n <= 0 (never).
     * count = (10^9 - 9) [n in 1..4 or 11..] ... computed segment by segment:
     *   1..4:       4 * 1
     *   5..7:       3 * 3
     *   8..10:      3 * 3 * 4
     *   11..10^9:   (10^9 - 10) * 4 */
    s = ss_space_create("grouped");
    int n = add_int(s, "n", 1, 1000000000, ALWAYS);
    add_choice(s, "c1", "a,b,c", when_int(n, 5, 10));
    add_int(s, "c2", 0, 3, when_int(n, 8, INT64_MAX));
    add_choice(s, "c3", "u,v", when_int(n, INT64_MIN, 0));
    ASSERT_EQ_INT(ss_space_cardinality(s, digits, sizeof digits, &lg), 1);
    long long expect = 4LL + 9 + 36 + (1000000000LL - 10) * 4;
    char want[32];
    snprintf(want, sizeof want, "%lld", expect);
    ASSERT_STR_EQ(digits, want);
    ss_space_destroy(s);
}

static void test_cardinality_continuous(void) {
    ss_space *s = nested_space(1);
    char digits[32] = "junk";
    double lg = 0;
    ASSERT_EQ_INT(ss_space_cardinality(s, digits, sizeof digits, &lg), 0);
    ASSERT_STR_EQ(digits, "");
    ASSERT_NEAR(lg, log10(14.0), 1e-12);
    ss_space_destroy(s);
}

static void test_enumerate_order(void) {
    ss_space *s = depth_space();
    collect c;
    collect_init(&c, s, 1000);
    nas_error err = {0};
    ASSERT_OK(ss_space_enumerate(s, -1, collect_visit, &c, &err), &err);
    ASSERT_EQ_INT(c.n, 84);
    ASSERT_EQ_INT(c.bad, 0);
    ASSERT_EQ_INT(count_distinct(c.hash, c.n), 84);
    /* depth 1: (skip), (conv, 3), (conv, 5), (conv, 7); then depth 2 starts */
    const int n = s->n_decisions;
    static const double want[5][7] = {{1, 0, 0, 0, 0, 0, 0}, {1, 1, 0, 0, 0, 0, 0},
                                      {1, 1, 1, 0, 0, 0, 0}, {1, 1, 2, 0, 0, 0, 0},
                                      {2, 0, 0, 0, 0, 0, 0}};
    for (int k = 0; k < 5; k++)
        for (int i = 0; i < 7; i++) ASSERT_EQ_INT(c.first[k * n + i], want[k][i]);
    ASSERT_EQ_INT(c.first[5 * n + 3], 1); /* then the last active decision moves */
    collect_free(&c);

    /* the limit and the callback's stop */
    collect_init(&c, s, 1000);
    ASSERT_OK(ss_space_enumerate(s, 10, collect_visit, &c, &err), &err);
    ASSERT_EQ_INT(c.n, 10);
    collect_free(&c);
    collect_init(&c, s, 1000);
    ASSERT_OK(ss_space_enumerate(s, 0, collect_visit, &c, &err), &err);
    ASSERT_EQ_INT(c.n, 0);
    collect_free(&c);
    collect_init(&c, s, 1000);
    c.stop_at = 7;
    ASSERT_OK(ss_space_enumerate(s, -1, collect_visit, &c, &err), &err);
    ASSERT_EQ_INT(c.n, 7);
    collect_free(&c);
    ss_space_destroy(s);

    /* a huge space: the limit stops it at once, the last decision moving first */
    s = ss_space_create("huge");
    add_choice(s, "op", "a,b", ALWAYS);
    add_int(s, "steps", -1000000000000LL, 1000000000000LL, ALWAYS);
    collect_init(&c, s, 100);
    ASSERT_OK(ss_space_enumerate(s, 5, collect_visit, &c, &err), &err);
    ASSERT_EQ_INT(c.n, 5);
    for (int k = 0; k < 5; k++) {
        ASSERT_EQ_INT(c.first[2 * k], 0);
        ASSERT_EQ_INT(c.first[2 * k + 1], -1000000000000LL + k);
    }
    collect_free(&c);
    ss_space_destroy(s);
}

static void test_enumerate_matches_cardinality(void) {
    nas_error err = {0};
    ss_space *spaces[3] = {nb201_space(), depth_space(), nested_space(0)};
    for (int k = 0; k < 3; k++) {
        collect c;
        collect_init(&c, spaces[k], 20000);
        ASSERT_OK(ss_space_enumerate(spaces[k], -1, collect_visit, &c, &err), &err);
        ASSERT_EQ_INT(c.n, card_long(spaces[k]));
        ASSERT_EQ_INT(count_distinct(c.hash, c.n), c.n);
        ASSERT_EQ_INT(c.bad, 0);
        collect_free(&c);
        ss_space_destroy(spaces[k]);
    }
    pcg32 rng;
    pcg32_seed(&rng, 77, 1);
    for (int t = 0; t < 200; t++) {
        ss_space *s = random_space(&rng);
        collect c;
        collect_init(&c, s, 5000);
        ASSERT_OK(ss_space_enumerate(s, -1, collect_visit, &c, &err), &err);
        ASSERT_EQ_INT(c.n, card_long(s));
        ASSERT_EQ_INT(count_distinct(c.hash, c.n), c.n);
        ASSERT_EQ_INT(c.bad, 0);
        collect_free(&c);
        ss_space_destroy(s);
    }
}

static void test_enumerate_float_error(void) {
    ss_space *s = nested_space(1);
    collect c;
    collect_init(&c, s, 10);
    nas_error err = {0};
    ASSERT_EQ_INT(ss_space_enumerate(s, -1, collect_visit, &c, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "lr");
    ASSERT_CONTAINS(err.msg, "continuous");
    ASSERT_EQ_INT(c.n, 0);
    collect_free(&c);
    ss_space_destroy(s);
}

/* A space with every kind of value for JSON tests. */
static ss_space *json_space(void) {
    ss_space *s = ss_space_create("json");
    int op = add_choice(s, "stage2[1].op", "skip,mb", ALWAYS);
    add_choice(s, "stage2[1].kernel", "3,5,7", when_choice(op, 2u));
    add_choice(s, "stage2[1].se", "false,true", when_choice(op, 2u));
    add_int(s, "steps", 100, 300, ALWAYS);
    add_int(s, "seed_offset", -4000000000000LL, 4000000000000LL, ALWAYS);
    add_float(s, "lr", 1e-4, 1e-3, SS_SCALE_LOG, 1, ALWAYS);
    add_float(s, "dropout", 0.0, 0.9, SS_SCALE_LINEAR, 1, ALWAYS);
    add_choice(s, "scale", "0.5,0.75,1.0", ALWAYS);
    return s;
}

static void test_json_round_trip(void) {
    ss_space *s = json_space();
    double *p = ss_point_alloc(s), *q = ss_point_alloc(s);
    pcg32 rng;
    pcg32_seed(&rng, 31, 4);
    nas_error err = {0};
    for (int t = 0; t < 2000; t++) {
        ss_space_sample(s, &rng, p);
        char *js = ss_point_to_json(s, p);
        ASSERT_TRUE(js != NULL);
        for (int i = 0; i < s->n_decisions; i++) q[i] = -12345;
        ASSERT_OK(ss_point_from_json(s, js, q, &err), &err);
        ASSERT_EQ_INT(memcmp(p, q, (size_t)s->n_decisions * sizeof *p), 0); /* bit exact */
        free(js);
    }
    /* an exact text for one point */
    double fixed[] = {1, 2, 1, 250, -3999999999999LL, 0.0005, 0.1, 0};
    char *js = ss_point_to_json(s, fixed);
    ASSERT_STR_EQ(js, "{\"stage2[1].op\":\"mb\",\"stage2[1].kernel\":7,\"stage2[1].se\":\"true\","
                      "\"steps\":250,\"seed_offset\":-3999999999999,\"lr\":0.0005,"
                      "\"dropout\":0.1,\"scale\":0.5}");
    free(js);
    /* inactive decisions are omitted, and restored canonical */
    fixed[0] = 0;
    js = ss_point_to_json(s, fixed);
    ASSERT_TRUE(strstr(js, "kernel") == NULL);
    ASSERT_TRUE(strstr(js, "\"se\"") == NULL);
    ASSERT_OK(ss_point_from_json(s, js, q, &err), &err);
    ASSERT_EQ_INT(q[1], 0);
    ASSERT_EQ_INT(q[2], 0);
    free(js);
    /* values given for inactive decisions are accepted and canonicalized;
     * booleans match "true"/"false" labels; labels spelling numbers match */
    ASSERT_OK(ss_point_from_json(s,
                                 "{\"stage2[1].op\":\"skip\",\"stage2[1].kernel\":\"5\","
                                 "\"steps\":100,\"seed_offset\":0,\"lr\":1e-4,"
                                 "\"dropout\":0,\"scale\":1}",
                                 q, &err),
              &err);
    ASSERT_EQ_INT(q[1], 0);
    ASSERT_EQ_INT(q[7], 2);
    ASSERT_OK(ss_point_from_json(s,
                                 "{\"stage2[1].op\":\"mb\",\"stage2[1].kernel\":3,"
                                 "\"stage2[1].se\":true,\"steps\":100,\"seed_offset\":0,"
                                 "\"lr\":0.001,\"dropout\":0.9,\"scale\":0.75}",
                                 q, &err),
              &err);
    ASSERT_EQ_INT(q[2], 1);
    ASSERT_EQ_INT(q[7], 1);
    ASSERT_TRUE(q[5] == 0.001);
    free(p);
    free(q);
    ss_space_destroy(s);
}

static void expect_json_error(const ss_space *s, const char *json, const char *msg) {
    double *q = ss_point_alloc(s);
    for (int i = 0; i < s->n_decisions; i++) q[i] = 42;
    nas_error err = {0};
    nas_status st = ss_point_from_json(s, json, q, &err);
    int unchanged = 1;
    for (int i = 0; i < s->n_decisions; i++) unchanged &= q[i] == 42;
    free(q);
    ASSERT_EQ_INT(st, NAS_ERR_INVALID);
    ASSERT_STR_EQ(err.msg, msg);
    ASSERT_EQ_INT(unchanged, 1);
}

static void test_json_errors(void) {
    ss_space *s = json_space();
    const char *rest = "\"steps\":100,\"seed_offset\":0,\"lr\":0.0001,\"dropout\":0,\"scale\":1";
    char buf[512];
    expect_json_error(s, "{\"steps\": 100", "point: invalid JSON at byte 13");
    expect_json_error(s, "{} x", "point: invalid JSON at byte 3");
    expect_json_error(s, "[1, 2]", "point: expected a JSON object, got an array");
    expect_json_error(s, NULL, "point: no JSON text");
    snprintf(buf, sizeof buf, "{\"stage2[1].op\":\"skip\",\"width\":3,%s}", rest);
    expect_json_error(s, buf, "point: unknown decision \"width\"");
    snprintf(buf, sizeof buf, "{\"stage2[1].op\":\"mb\",\"stage2[1].kernel\":4,%s}", rest);
    expect_json_error(s, buf, "stage2[1].kernel: 4 is not one of 3, 5, 7");
    snprintf(buf, sizeof buf, "{\"stage2[1].op\":\"conv\",%s}", rest);
    expect_json_error(s, buf, "stage2[1].op: \"conv\" is not one of skip, mb");
    snprintf(buf, sizeof buf, "{\"stage2[1].op\":[1],%s}", rest);
    expect_json_error(s, buf, "stage2[1].op: expected a string or a number, got an array");
    snprintf(buf, sizeof buf, "{\"stage2[1].op\":\"mb\",\"stage2[1].kernel\":3,%s}", rest);
    expect_json_error(s, buf, "stage2[1].se: missing (the decision is active)");
    snprintf(buf, sizeof buf, "{\"stage2[1].op\":\"skip\",%s,\"steps\":101}", rest);
    expect_json_error(s, buf, "steps: given twice");
    expect_json_error(s,
                      "{\"stage2[1].op\":\"skip\",\"steps\":301,\"seed_offset\":0,\"lr\":0.0001,"
                      "\"dropout\":0,\"scale\":1}",
                      "steps: 301 is not in int(100, 300)");
    expect_json_error(s,
                      "{\"stage2[1].op\":\"skip\",\"steps\":100.5,\"seed_offset\":0,"
                      "\"lr\":0.0001,\"dropout\":0,\"scale\":1}",
                      "steps: 100.5 is not an integer");
    expect_json_error(s,
                      "{\"stage2[1].op\":\"skip\",\"steps\":\"100\",\"seed_offset\":0,"
                      "\"lr\":0.0001,\"dropout\":0,\"scale\":1}",
                      "steps: expected an integer, got a string");
    expect_json_error(s,
                      "{\"stage2[1].op\":\"skip\",\"steps\":100,\"seed_offset\":0,"
                      "\"lr\":0.002,\"dropout\":0,\"scale\":1}",
                      "lr: 0.002 is not in float(0.0001, 0.001, log)");
    expect_json_error(s,
                      "{\"stage2[1].op\":\"skip\",\"steps\":100,\"seed_offset\":0,"
                      "\"lr\":null,\"dropout\":0,\"scale\":1}",
                      "lr: expected a number, got null");
    expect_json_error(s,
                      "{\"stage2[1].op\":\"skip\",\"steps\":100,\"seed_offset\":0,"
                      "\"lr\":0.0001,\"scale\":1}",
                      "dropout: missing (the decision is active)");
    expect_json_error(s,
                      "{\"stage2[1].op\":\"skip\",\"steps\":100,\"seed_offset\":0,"
                      "\"lr\":0.0001,\"dropout\":0,\"scale\":2}",
                      "scale: 2 is not one of 0.5, 0.75, 1.0");
    expect_json_error(s,
                      "{\"stage2[1].op\":\"skip\",\"steps\":100,\"seed_offset\":0,"
                      "\"lr\":0.0001,\"dropout\":0,\"scale\":false}",
                      "scale: false is not one of 0.5, 0.75, 1.0");
    ss_space_destroy(s);
}

static char *print_to_string(const ss_space *s) {
    FILE *f = tmpfile();
    if (!f) return NULL;
    ss_space_print(s, f);
    long len = ftell(f);
    char *buf = malloc((size_t)len + 1);
    rewind(f);
    size_t got = fread(buf, 1, (size_t)len, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static void test_print(void) {
    ss_space *s = depth_space();
    int lr = add_float(s, "lr", 1e-4, 1e-3, SS_SCALE_LOG, 1, ALWAYS);
    (void)lr;
    int op = add_choice(s, "op", "mb,conv,skip", ALWAYS);
    add_choice(s, "op.kernel", "3,5", when_choice(op, 3u));
    add_choice(s, "op.se", "no,yes", when_choice(op, 1u));
    int a = add_int(s, "a", 0, 9, ALWAYS);
    add_int(s, "a.mid", 1, 4, when_int(a, 2, 5));
    add_int(s, "a.low", 1, 4, when_int(a, INT64_MIN, 3));
    add_int(s, "a.four", 1, 4, when_int(a, 4, 4));
    add_int(s, "a.high", 1, 4, when_int(a, 7, INT64_MAX));
    ss_space_add_constraint(s, "latency", SS_CMP_LE, 1.5, "latency <= 1.5ms");
    ss_space_add_constraint(s, "macs", SS_CMP_LT, 5e6, "");
    ss_space_add_objective(s, "accuracy", 1);
    ss_space_add_objective(s, "latency", 0);
    char *out = print_to_string(s);
    ASSERT_CONTAINS(out, "space depth\n");
    ASSERT_CONTAINS(out, "stage2.depth");
    ASSERT_CONTAINS(out, "int(1, 3)");
    ASSERT_CONTAINS(out, "choice(skip, conv)");
    ASSERT_CONTAINS(out, "when stage2.depth >= 3");
    ASSERT_CONTAINS(out, "when stage2[2].op = conv");
    ASSERT_CONTAINS(out, "float(0.0001, 0.001, log)");
    ASSERT_CONTAINS(out, "[hparam]");
    ASSERT_CONTAINS(out, "when op in {mb, conv}");
    ASSERT_CONTAINS(out, "when op = mb");
    ASSERT_CONTAINS(out, "when 2 <= a <= 5");
    ASSERT_CONTAINS(out, "when a <= 3");
    ASSERT_CONTAINS(out, "when a = 4");
    ASSERT_CONTAINS(out, "when a >= 7");
    ASSERT_CONTAINS(out, "always");
    ASSERT_CONTAINS(out, "decisions: 16 (1 hyperparameter)");
    ASSERT_CONTAINS(out, "cardinality: continuous (log10 of discrete part = ");
    ASSERT_CONTAINS(out, "constraints: latency <= 1.5ms, macs < 5000000");
    ASSERT_CONTAINS(out, "objectives: maximize accuracy, minimize latency");
    free(out);
    ss_space_destroy(s);

    s = nb201_space();
    out = print_to_string(s);
    ASSERT_CONTAINS(out, "cardinality: 15625\n");
    ASSERT_CONTAINS(out, "choice(none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3)");
    ASSERT_CONTAINS(out, "constraints: none");
    ASSERT_CONTAINS(out, "objectives: none");
    ASSERT_CONTAINS(out, "decisions: 6 (0 hyperparameters)");
    free(out);
    ss_space_destroy(s);

    s = ss_space_create("huge");
    for (int i = 0; i < 41; i++) {
        char name[16];
        snprintf(name, sizeof name, "k%d", i);
        add_choice(s, name, "3,5,7", ALWAYS);
    }
    out = print_to_string(s);
    ASSERT_CONTAINS(out, "cardinality: 36472996377170786403 (log10 = 19.56)");
    free(out);
    ss_space_destroy(s);
}

static const test_case TESTS[] = {
    {"alloc_and_activity", test_alloc_and_activity},
    {"domain_size", test_domain_size},
    {"sample_valid_and_uniform", test_sample_valid_and_uniform},
    {"sample_float_scales", test_sample_float_scales},
    {"sample_deterministic", test_sample_deterministic},
    {"canonical_equal_hash", test_canonical_equal_hash},
    {"hash_dedupes_samples", test_hash_dedupes_samples},
    {"mutate", test_mutate},
    {"mutate_uniform_choice", test_mutate_uniform_choice},
    {"cardinality_small", test_cardinality_small},
    {"cardinality_random_vs_brute_force", test_cardinality_random_vs_brute_force},
    {"cardinality_big", test_cardinality_big},
    {"cardinality_continuous", test_cardinality_continuous},
    {"enumerate_order", test_enumerate_order},
    {"enumerate_matches_cardinality", test_enumerate_matches_cardinality},
    {"enumerate_float_error", test_enumerate_float_error},
    {"json_round_trip", test_json_round_trip},
    {"json_errors", test_json_errors},
    {"print", test_print},
    {0},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
