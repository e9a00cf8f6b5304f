/*
 * test_controller.c - tests of controller/: objectives, constraints and
 * rewards; every controller kind's ask/tell contract (no duplicates, parallel
 * pending proposals, determinism, save/load resume equivalence, exhaustion,
 * constraint rejection, error paths); and search quality on a synthetic
 * mixed categorical / int / float(log) / conditional objective with a known
 * optimum, against random search at a fixed budget over several seeds.
 *
 * Quality margins (fixed before the first run, not tuned): at budget 150,
 * mean regret over 10 seeds of tpe <= 0.6 x random's, evolution <= 0.8 x,
 * reinforce <= 0.9 x; nsga2's mean hypervolume at budget 200 over 10 seeds
 * >= 1.02 x random's on a two-objective version.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "test.h"

static const char *const KINDS[] = {"random", "grid", "evolution", "reinforce", "tpe", "nsga2"};
#define N_KINDS 6

/* ---- spaces ---- */

static void add_choice(ss_space *s, const char *name, int n, int parent,
                       const unsigned char *allowed) {
    char *labels[8];
    char buf[8][16];
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "o%d", i);
        labels[i] = buf[i];
    }
    ss_decision d;
    memset(&d, 0, sizeof d);
    d.name = (char *)name;
    d.dom.kind = SS_DOMAIN_CHOICE;
    d.dom.n = n;
    d.dom.labels = labels;
    d.cond.parent = parent;
    d.cond.allowed = (unsigned char *)allowed;
    ASSERT_TRUE(ss_space_add_decision(s, &d) >= 0);
}

static void add_int(ss_space *s, const char *name, int64_t lo, int64_t hi, int parent,
                    const unsigned char *allowed) {
    ss_decision d;
    memset(&d, 0, sizeof d);
    d.name = (char *)name;
    d.dom.kind = SS_DOMAIN_INT;
    d.dom.lo = lo;
    d.dom.hi = hi;
    d.cond.parent = parent;
    d.cond.allowed = (unsigned char *)allowed;
    ASSERT_TRUE(ss_space_add_decision(s, &d) >= 0);
}

static void add_float(ss_space *s, const char *name, double lo, double hi, ss_scale sc) {
    ss_decision d;
    memset(&d, 0, sizeof d);
    d.name = (char *)name;
    d.dom.kind = SS_DOMAIN_FLOAT;
    d.dom.flo = lo;
    d.dom.fhi = hi;
    d.dom.scale = sc;
    d.cond.parent = -1;
    ASSERT_TRUE(ss_space_add_decision(s, &d) >= 0);
}

/* op(4) width int(1,16) lr float(1e-4,1e-1,log) depth(3) kernel(3 | op<2)
 * expand int(1,6 | op<2) drop float(0,0.5) act(3). */
static ss_space *mixed_space(void) {
    static const unsigned char conv[4] = {1, 1, 0, 0};
    ss_space *s = ss_space_create("mixed");
    add_choice(s, "op", 4, -1, NULL);
    add_int(s, "width", 1, 16, -1, NULL);
    add_float(s, "lr", 1e-4, 1e-1, SS_SCALE_LOG);
    add_choice(s, "depth", 3, -1, NULL);
    add_choice(s, "kernel", 3, 0, conv);
    add_int(s, "expand", 1, 6, 0, conv);
    add_float(s, "drop", 0.0, 0.5, SS_SCALE_LINEAR);
    add_choice(s, "act", 3, -1, NULL);
    return s;
}

/* Maximum 0 at op=1, width=11, lr=3e-3, depth=2, kernel=1, expand=4,
 * drop=0.1, act=1. */
static double mixed_f(const double *x) {
    static const double op[4] = {-0.3, 0.0, -0.6, -0.8};
    static const double depth[3] = {-0.3, -0.1, 0.0};
    static const double kernel[3] = {-0.2, 0.0, -0.3};
    static const double act[3] = {-0.15, 0.0, -0.05};
    double f = op[(int)x[0]] + depth[(int)x[3]] + act[(int)x[7]];
    double w = (x[1] - 11.0) / 15.0, l = (log10(x[2]) - log10(3e-3)) / 3.0, d = x[6] - 0.1;
    f += -0.5 * w * w - l * l - 2.0 * d * d;
    if (x[0] < 2) f += kernel[(int)x[4]] - 0.05 * fabs(x[5] - 4.0);
    else f += -0.3 - 0.05 * 3; /* no conv: the best kernel/expand terms are lost */
    return f;
}

/* Small finite space: a(3) b int(0,3 | a==0) c(2) -> 4*2 + 2 + 2 = 12. */
static ss_space *small_space(void) {
    static const unsigned char a0[3] = {1, 0, 0};
    ss_space *s = ss_space_create("small");
    add_choice(s, "a", 3, -1, NULL);
    add_int(s, "b", 0, 3, 0, a0);
    add_choice(s, "c", 2, -1, NULL);
    return s;
}

static double small_f(const double *x) { return x[0] * 1.5 + x[1] * 0.7 - x[2] * 0.3; }

static ctrl *make(const ss_space *s, const char *kind, int n_obj) {
    ctrl_options o = ctrl_options_default();
    o.kind = kind;
    o.n_objectives = n_obj;
    ctrl *c = NULL;
    nas_error err = {0};
    ASSERT_OK(ctrl_create(s, &o, &c, &err), &err);
    return c;
}

/* Rewards for the mixed space: 1 objective f, or (f, -cost). */
static void rewards_of(const double *x, int n_obj, double *r) {
    r[0] = mixed_f(x);
    if (n_obj > 1) r[1] = -(x[1] / 16.0 + x[3] / 2.0);
}

/* ---- objectives, constraints, rewards ---- */

static void test_constraint_parse(void) {
    nas_error err = {0};
    ctrl_constraint c;
    ASSERT_OK(ctrl_constraint_parse("latency<=1ms", &c, &err), &err);
    ASSERT_STR_EQ(c.metric, "latency");
    ASSERT_EQ_INT(c.cmp, SS_CMP_LE);
    ASSERT_NEAR(c.value, 1.0, 0);
    ASSERT_STR_EQ(c.text, "latency<=1ms");
    ASSERT_OK(ctrl_constraint_parse("  latency < 250us ", &c, &err), &err);
    ASSERT_EQ_INT(c.cmp, SS_CMP_LT);
    ASSERT_NEAR(c.value, 0.25, 1e-15);
    ASSERT_OK(ctrl_constraint_parse("macs <= 5M", &c, &err), &err);
    ASSERT_NEAR(c.value, 5e6, 0);
    ASSERT_OK(ctrl_constraint_parse("params<200K", &c, &err), &err);
    ASSERT_NEAR(c.value, 2e5, 0);
    ASSERT_EQ_INT(c.cmp, SS_CMP_LT);
    ASSERT_OK(ctrl_constraint_parse("memory<=2MB", &c, &err), &err);
    ASSERT_NEAR(c.value, 2.0 * 1024 * 1024, 0);
    ASSERT_OK(ctrl_constraint_parse("memory <= 1.5GB", &c, &err), &err);
    ASSERT_NEAR(c.value, 1.5 * 1024 * 1024 * 1024, 0);
    ASSERT_OK(ctrl_constraint_parse("flops >= 1G", &c, &err), &err);
    ASSERT_EQ_INT(c.cmp, SS_CMP_GE);
    ASSERT_NEAR(c.value, 1e9, 0);
    ASSERT_OK(ctrl_constraint_parse("accuracy > 0.9", &c, &err), &err);
    ASSERT_EQ_INT(c.cmp, SS_CMP_GT);

    static const char *bad[] = {"",         "latency",          "latency <= ",  "latency == 1ms",
                                "macs <= 5ms", "latency <= 1MB", "memory <= 2ms", "params < 3X",
                                "<= 5",     "macs <= 5M extra", "latency <= abc", "macs <= 5Mega"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nas_error e = {0};
        if (ctrl_constraint_parse(bad[i], &c, &e) != NAS_ERR_INVALID)
            TEST_FAIL_("constraint \"%s\" should be rejected", bad[i]);
        ASSERT_TRUE(e.msg[0] != '\0');
    }
    nas_error e = {0};
    ASSERT_EQ_INT(ctrl_constraint_parse("macs <= 5ms", &c, &e), NAS_ERR_INVALID);
    ASSERT_CONTAINS(e.msg, "does not apply to macs");
}

static void test_objective_parse(void) {
    nas_error err = {0};
    ctrl_objective o;
    ASSERT_OK(ctrl_objective_parse("maximize accuracy", &o, &err), &err);
    ASSERT_STR_EQ(o.metric, "accuracy");
    ASSERT_EQ_INT(o.maximize, 1);
    ASSERT_OK(ctrl_objective_parse(" minimize  latency ", &o, &err), &err);
    ASSERT_STR_EQ(o.metric, "latency");
    ASSERT_EQ_INT(o.maximize, 0);
    static const char *bad[] = {"", "accuracy", "maximize", "maximise accuracy",
                                "maximize accuracy latency", "minimize 3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ctrl_objective_parse(bad[i], &o, &err) != NAS_ERR_INVALID)
            TEST_FAIL_("objective \"%s\" should be rejected", bad[i]);
}

static void test_constraints_check(void) {
    nas_error err = {0};
    ctrl_constraint cs[2];
    ASSERT_OK(ctrl_constraint_parse("latency <= 1ms", &cs[0], &err), &err);
    ASSERT_OK(ctrl_constraint_parse("memory <= 2MB", &cs[1], &err), &err);
    ctrl_metrics m;
    ctrl_metrics_init(&m);
    ASSERT_OK(ctrl_metrics_set(&m, "latency_ms", 0.8, &err), &err);
    ASSERT_OK(ctrl_metrics_set(&m, "memory_bytes", 1e6, &err), &err);
    int ok = 0;
    char why[128];
    ASSERT_OK(ctrl_constraints_check(cs, 2, &m, &ok, why, sizeof why, &err), &err);
    ASSERT_EQ_INT(ok, 1);
    ASSERT_OK(ctrl_metrics_set(&m, "memory_bytes", 3e6, &err), &err);
    ASSERT_EQ_INT(m.n, 2);
    ASSERT_OK(ctrl_constraints_check(cs, 2, &m, &ok, why, sizeof why, &err), &err);
    ASSERT_EQ_INT(ok, 0);
    ASSERT_CONTAINS(why, "memory <= 2MB");
    ctrl_metrics empty;
    ctrl_metrics_init(&empty);
    ASSERT_EQ_INT(ctrl_constraints_check(cs, 2, &empty, &ok, why, sizeof why, &err),
                  NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "latency");
    ASSERT_EQ_INT(ctrl_metrics_set(&m, "", 1, &err), NAS_ERR_INVALID);

    /* constraints and objectives declared in a space */
    ss_space *s = ss_space_create("decl");
    ASSERT_TRUE(ss_space_add_constraint(s, "latency", SS_CMP_LT, 0.5, "latency < 500us") >= 0);
    ASSERT_TRUE(ss_space_add_objective(s, "accuracy", 1) >= 0);
    ctrl_constraint sc;
    ctrl_objective so;
    ASSERT_OK(ctrl_constraint_from_ss(&s->constraints[0], &sc, &err), &err);
    ASSERT_OK(ctrl_objective_from_ss(&s->objectives[0], &so, &err), &err);
    ASSERT_STR_EQ(sc.text, "latency < 500us");
    ASSERT_STR_EQ(so.metric, "accuracy");
    ASSERT_EQ_INT(so.maximize, 1);
    ASSERT_OK(ctrl_constraints_check(&sc, 1, &m, &ok, why, sizeof why, &err), &err);
    ASSERT_EQ_INT(ok, 0); /* latency_ms is 0.8 */
    ASSERT_CONTAINS(why, "latency < 500us (latency = 0.8)");
    ss_space_destroy(s);
}

static void test_rewards(void) {
    nas_error err = {0};
    ctrl_metrics m;
    ctrl_metrics_init(&m);
    ASSERT_OK(ctrl_metrics_set(&m, "accuracy", 0.8, &err), &err);
    ASSERT_OK(ctrl_metrics_set(&m, "latency_ms", 2.0, &err), &err);
    ctrl_reward r;
    double v;
    ASSERT_OK(ctrl_reward_parse("mnas_soft(accuracy, latency <= 1ms)", &r, &err), &err);
    ASSERT_EQ_INT(r.kind, CTRL_REWARD_MNAS_SOFT);
    ASSERT_OK(ctrl_reward_compute(&r, &m, &v, &err), &err);
    ASSERT_NEAR(v, 0.8 * pow(2.0, -0.07), 1e-12);
    ASSERT_OK(ctrl_reward_parse("mnas_hard(accuracy, latency <= 1ms)", &r, &err), &err);
    ASSERT_OK(ctrl_reward_compute(&r, &m, &v, &err), &err);
    ASSERT_NEAR(v, 0.8 / 2.0, 1e-12);
    ASSERT_OK(ctrl_reward_parse("mnas_hard(accuracy, latency <= 4000us)", &r, &err), &err);
    ASSERT_OK(ctrl_reward_compute(&r, &m, &v, &err), &err); /* under target: alpha = 0 */
    ASSERT_NEAR(v, 0.8, 1e-12);
    ASSERT_OK(ctrl_reward_parse("mnas_soft(accuracy, latency <= 4ms)", &r, &err), &err);
    ASSERT_OK(ctrl_reward_compute(&r, &m, &v, &err), &err);
    ASSERT_NEAR(v, 0.8 * pow(0.5, -0.07), 1e-12);
    ASSERT_OK(ctrl_reward_parse("tunas(accuracy, latency <= 1ms)", &r, &err), &err);
    ASSERT_OK(ctrl_reward_compute(&r, &m, &v, &err), &err);
    ASSERT_NEAR(v, 0.8 - 0.07, 1e-12);
    ASSERT_OK(ctrl_reward_parse("tunas(accuracy, latency <= 4ms, beta=-0.5)", &r, &err), &err);
    ASSERT_OK(ctrl_reward_compute(&r, &m, &v, &err), &err);
    ASSERT_NEAR(v, 0.8 - 0.5 * 0.5, 1e-12);
    ASSERT_OK(ctrl_reward_parse("mnas_soft(accuracy, latency <= 1ms, alpha=-0.1, beta=-0.2)", &r,
                                &err),
              &err);
    ASSERT_NEAR(r.alpha, -0.1, 0);
    ASSERT_NEAR(r.beta, -0.2, 0);
    ASSERT_OK(ctrl_reward_parse("weighted(maximize accuracy * 2, minimize latency * 0.1)", &r,
                                &err),
              &err);
    ASSERT_OK(ctrl_reward_compute(&r, &m, &v, &err), &err);
    ASSERT_NEAR(v, 2 * 0.8 - 0.1 * 2.0, 1e-12);
    ASSERT_OK(ctrl_reward_parse("minimize latency", &r, &err), &err);
    ASSERT_OK(ctrl_reward_compute(&r, &m, &v, &err), &err);
    ASSERT_NEAR(v, -2.0, 0);
    ASSERT_OK(ctrl_reward_parse("tunas(accuracy, macs <= 5M)", &r, &err), &err);
    ASSERT_EQ_INT(ctrl_reward_compute(&r, &m, &v, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "macs");
    static const char *bad[] = {"mnas_soft(accuracy)", "mnas_soft(accuracy, latency >= 1ms)",
                                "tunas(accuracy, latency <= 0ms)", "weighted()",
                                "weighted(accuracy)", "mnas_hard(accuracy, latency <= 1ms",
                                "tunas(accuracy, latency <= 1ms, gamma=1)", "best accuracy",
                                "mnas_soft(accuracy, latency <= 1ms) x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ctrl_reward_parse(bad[i], &r, &err) != NAS_ERR_INVALID)
            TEST_FAIL_("reward \"%s\" should be rejected", bad[i]);

    ctrl_objective obj[2];
    ASSERT_OK(ctrl_objective_parse("maximize accuracy", &obj[0], &err), &err);
    ASSERT_OK(ctrl_objective_parse("minimize latency", &obj[1], &err), &err);
    double rr[2];
    ASSERT_OK(ctrl_objectives_rewards(obj, 2, &m, rr, &err), &err);
    ASSERT_NEAR(rr[0], 0.8, 0);
    ASSERT_NEAR(rr[1], -2.0, 0);
}

static void test_dominates(void) {
    double a[2] = {1, 1}, b[2] = {1, 0}, c[2] = {0, 2};
    ASSERT_EQ_INT(ctrl_dominates(a, b, 2), 1);
    ASSERT_EQ_INT(ctrl_dominates(b, a, 2), 0);
    ASSERT_EQ_INT(ctrl_dominates(a, a, 2), 0);
    ASSERT_EQ_INT(ctrl_dominates(a, c, 2), 0);
    ASSERT_EQ_INT(ctrl_dominates(c, a, 2), 0);
}

/* ---- contract ---- */

static void test_bad_options(void) {
    ss_space *s = small_space();
    ctrl *c = NULL;
    nas_error err = {0};
    ctrl_options o = ctrl_options_default();
    o.kind = "annealing";
    ASSERT_EQ_INT(ctrl_create(s, &o, &c, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "annealing");
    ASSERT_TRUE(c == NULL);
    o = ctrl_options_default();
    o.kind = "evolution";
    o.tournament = o.population + 1;
    ASSERT_EQ_INT(ctrl_create(s, &o, &c, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "tournament");
    o = ctrl_options_default();
    o.n_objectives = 0;
    ASSERT_EQ_INT(ctrl_create(s, &o, &c, &err), NAS_ERR_INVALID);
    o = ctrl_options_default();
    o.baseline_decay = 1.0;
    ASSERT_EQ_INT(ctrl_create(s, &o, &c, &err), NAS_ERR_INVALID);
    o = ctrl_options_default();
    o.max_rejects = 0;
    ASSERT_EQ_INT(ctrl_create(s, &o, &c, &err), NAS_ERR_INVALID);
    ctrl_destroy(NULL);
    ss_space_destroy(s);
}

/* Every kind proposes all 12 points of the small space once, then is exhausted. */
static void test_no_duplicates_until_exhausted(void) {
    ss_space *s = small_space();
    for (int k = 0; k < N_KINDS; k++) {
        ctrl *c = make(s, KINDS[k], 1);
        pcg32 rng;
        pcg32_seed(&rng, 7, 1);
        double pts[12][3];
        nas_error err = {0};
        for (int t = 0; t < 12; t++) {
            ASSERT_OK(ctrl_propose(c, &rng, pts[t], &err), &err);
            for (int u = 0; u < t; u++)
                if (ss_point_equal(s, pts[t], pts[u]))
                    TEST_FAIL_("%s proposed point %d twice (trial %d)", KINDS[k], u, t);
            double r = small_f(pts[t]);
            if (t % 5 == 4) ASSERT_OK(ctrl_observe_failed(c, pts[t], &err), &err);
            else ASSERT_OK(ctrl_observe(c, pts[t], &r, &err), &err);
        }
        double x[3];
        ASSERT_EQ_INT(ctrl_propose(c, &rng, x, &err), NAS_ERR_EXHAUSTED);
        int p, d, f;
        ASSERT_EQ_INT(ctrl_n_trials(c, &p, &d, &f), 12);
        ASSERT_EQ_INT(p, 0);
        ASSERT_EQ_INT(f, 2);
        ASSERT_EQ_INT(d, 10);
        ctrl_destroy(c);
    }
    ss_space_destroy(s);
}

/* A finite all-choice space (4 x 3 options = 81 points) driven to the end:
 * once the learners converge their draws are duplicates, so this walks the
 * mutate / uniform / odometer fallbacks; still every point exactly once. */
static void test_exhaust_converged(void) {
    ss_space *s = ss_space_create("cat81");
    static const char *names[4] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) add_choice(s, names[i], 3, -1, NULL);
    for (int k = 0; k < N_KINDS; k++) {
        ctrl *c = make(s, KINDS[k], 1);
        pcg32 rng;
        pcg32_seed(&rng, 21, 4);
        nas_error err = {0};
        unsigned char seen[81] = {0};
        for (int t = 0; t < 81; t++) {
            double x[4];
            if (ctrl_propose(c, &rng, x, &err) != NAS_OK)
                TEST_FAIL_("%s: trial %d: %s", KINDS[k], t, err.msg);
            int code = (int)(x[0] * 27 + x[1] * 9 + x[2] * 3 + x[3]);
            if (seen[code]) TEST_FAIL_("%s: point %d proposed twice (trial %d)", KINDS[k], code, t);
            seen[code] = 1;
            double r = -(fabs(x[0] - 1) + fabs(x[1] - 2) + x[2] + fabs(x[3] - 1));
            ASSERT_OK(ctrl_observe(c, x, &r, &err), &err);
        }
        double x[4];
        ASSERT_EQ_INT(ctrl_propose(c, &rng, x, &err), NAS_ERR_EXHAUSTED);
        ctrl_destroy(c);
    }
    ss_space_destroy(s);
}

/* A space with no decisions has exactly one (empty) point. */
static void test_empty_space(void) {
    ss_space *s = ss_space_create("empty");
    for (int k = 0; k < N_KINDS; k++) {
        ctrl *c = make(s, KINDS[k], 1);
        pcg32 rng;
        pcg32_seed(&rng, 1, 1);
        nas_error err = {0};
        double x[1] = {0}, r = 1.0;
        ASSERT_OK(ctrl_propose(c, &rng, x, &err), &err);
        ASSERT_OK(ctrl_observe(c, x, &r, &err), &err);
        ASSERT_EQ_INT(ctrl_propose(c, &rng, x, &err), NAS_ERR_EXHAUSTED);
        ctrl_destroy(c);
    }
    ss_space_destroy(s);
}

/* Proposals on the mixed space are canonical and distinct, many pending. */
static void test_parallel_pending(void) {
    ss_space *s = mixed_space();
    for (int k = 0; k < N_KINDS; k++) {
        if (strcmp(KINDS[k], "grid") == 0) continue; /* checked in test_grid */
        ctrl *c = make(s, KINDS[k], 1);
        pcg32 rng;
        pcg32_seed(&rng, 11, 3);
        nas_error err = {0};
        enum { BATCH = 8, ROUNDS = 12 };
        double pts[BATCH * ROUNDS][8];
        int n = 0;
        for (int round = 0; round < ROUNDS; round++) {
            for (int b = 0; b < BATCH; b++, n++) {
                ASSERT_OK(ctrl_propose(c, &rng, pts[n], &err), &err);
                double canon[8];
                memcpy(canon, pts[n], sizeof canon);
                ss_space_canonicalize(s, canon);
                ASSERT_TRUE(memcmp(canon, pts[n], sizeof canon) == 0);
                for (int u = 0; u < n; u++) ASSERT_TRUE(!ss_point_equal(s, pts[n], pts[u]));
            }
            for (int b = BATCH - 1; b >= 0; b--) { /* results arrive out of order */
                double r = mixed_f(pts[n - BATCH + b]);
                ASSERT_OK(ctrl_observe(c, pts[n - BATCH + b], &r, &err), &err);
            }
        }
        double r = 0, x[8];
        ASSERT_EQ_INT(ctrl_observe(c, pts[0], &r, &err), NAS_ERR_INVALID); /* observed twice */
        ASSERT_CONTAINS(err.msg, "already");
        memcpy(x, pts[0], sizeof x);
        x[6] = 0.123456789; /* a point never proposed */
        ASSERT_EQ_INT(ctrl_observe(c, x, &r, &err), NAS_ERR_INVALID);
        ASSERT_CONTAINS(err.msg, "never proposed");
        ASSERT_OK(ctrl_propose(c, &rng, x, &err), &err);
        r = NAN;
        ASSERT_EQ_INT(ctrl_observe(c, x, &r, &err), NAS_ERR_INVALID);
        ASSERT_OK(ctrl_observe_failed(c, x, &err), &err);
        ASSERT_EQ_INT(ctrl_observe_failed(c, x, &err), NAS_ERR_INVALID);
        ctrl_destroy(c);
    }
    ss_space_destroy(s);
}

/* Grid: every canonical point once in a stable order, then exhausted. */
static void test_grid(void) {
    ss_space *s = small_space();
    ctrl *c = make(s, "grid", 1);
    pcg32 rng;
    pcg32_seed(&rng, 1, 1);
    nas_error err = {0};
    double pts[12][3], x[3];
    for (int t = 0; t < 12; t++) ASSERT_OK(ctrl_propose(c, &rng, pts[t], &err), &err);
    ASSERT_EQ_INT(ctrl_propose(c, &rng, x, &err), NAS_ERR_EXHAUSTED);
    for (int t = 0; t < 12; t++)
        for (int u = 0; u < t; u++) ASSERT_TRUE(!ss_point_equal(s, pts[t], pts[u]));
    /* odometer order: last decision fastest, b only under a == 0 */
    ASSERT_NEAR(pts[0][0], 0, 0);
    ASSERT_NEAR(pts[0][1], 0, 0);
    ASSERT_NEAR(pts[0][2], 0, 0);
    ASSERT_NEAR(pts[1][2], 1, 0);
    ASSERT_NEAR(pts[2][1], 1, 0);
    ASSERT_NEAR(pts[7][1], 3, 0);
    ASSERT_NEAR(pts[8][0], 1, 0);
    ASSERT_NEAR(pts[8][1], 0, 0);
    ASSERT_NEAR(pts[11][0], 2, 0);
    ctrl_destroy(c);

    /* floats discretised to float_levels levels on their scale */
    ss_space *f = ss_space_create("floats");
    add_float(f, "lr", 1e-4, 1e-1, SS_SCALE_LOG);
    add_choice(f, "a", 2, -1, NULL);
    ctrl_options o = ctrl_options_default();
    o.kind = "grid";
    o.float_levels = 4;
    ASSERT_OK(ctrl_create(f, &o, &c, &err), &err);
    double q[8][2];
    for (int t = 0; t < 8; t++) ASSERT_OK(ctrl_propose(c, &rng, q[t], &err), &err);
    ASSERT_EQ_INT(ctrl_propose(c, &rng, x, &err), NAS_ERR_EXHAUSTED);
    static const double lv[4] = {1e-4, 1e-3, 1e-2, 1e-1};
    for (int t = 0; t < 8; t++) {
        ASSERT_NEAR(q[t][0], lv[t / 2], lv[t / 2] * 1e-12);
        ASSERT_NEAR(q[t][1], t % 2, 0);
    }
    ctrl_destroy(c);
    ss_space_destroy(f);

    /* the mixed space with conditional int and 3 levels per float:
     * (2 conv ops * 3 kernels * 6 expands + 2 other ops) * 16 * 3 * 3 * 3 * 3 */
    ss_space *m = mixed_space();
    o.float_levels = 3;
    ASSERT_OK(ctrl_create(m, &o, &c, &err), &err);
    long n = 0;
    double y[8];
    nas_status st;
    while ((st = ctrl_propose(c, &rng, y, &err)) == NAS_OK) n++;
    ASSERT_EQ_INT(st, NAS_ERR_EXHAUSTED);
    ASSERT_EQ_INT(n, (2 * 3 * 6 + 2) * 16 * 3 * 3 * 3 * 3);
    ctrl_destroy(c);
    ss_space_destroy(m);
    ss_space_destroy(s);
}

/* Runs kind for n trials in batches of `batch` pending proposals; writes the
 * proposed points into trace (n x nd). */
static void drive(ctrl *c, const ss_space *s, pcg32 *rng, int n, int batch, int n_obj,
                  double *trace) {
    nas_error err = {0};
    int nd = s->n_decisions;
    for (int t = 0; t < n; t += batch) {
        int b = n - t < batch ? n - t : batch;
        for (int j = 0; j < b; j++)
            ASSERT_OK(ctrl_propose(c, rng, trace + (size_t)(t + j) * nd, &err), &err);
        for (int j = 0; j < b; j++) {
            const double *x = trace + (size_t)(t + j) * nd;
            double r[2];
            rewards_of(x, n_obj, r);
            if ((t + j) % 13 == 12) ASSERT_OK(ctrl_observe_failed(c, x, &err), &err);
            else ASSERT_OK(ctrl_observe(c, x, r, &err), &err);
        }
    }
}

static void test_determinism(void) {
    ss_space *s = mixed_space();
    enum { N = 60 };
    for (int k = 0; k < N_KINDS; k++) {
        int n_obj = strcmp(KINDS[k], "nsga2") == 0 ? 2 : 1;
        double a[N * 8], b[N * 8];
        for (int rep = 0; rep < 2; rep++) {
            ctrl *c = make(s, KINDS[k], n_obj);
            pcg32 rng;
            pcg32_seed(&rng, 42, 5);
            drive(c, s, &rng, N, 3, n_obj, rep ? b : a);
            ctrl_destroy(c);
        }
        if (memcmp(a, b, sizeof a) != 0) TEST_FAIL_("%s: two runs with one seed differ", KINDS[k]);
    }
    ss_space_destroy(s);
}

typedef struct feas_ctx {
    int calls;
    int mode; /* 0: none feasible, 1: width <= 4 feasible, 2: width <= 12 feasible */
} feas_ctx;

static int feasible_cb(void *user, const double *point, char *why, size_t cap) {
    feas_ctx *f = user;
    f->calls++;
    if ((f->mode == 1 && point[1] <= 4) || (f->mode == 2 && point[1] <= 12)) return 1;
    snprintf(why, cap, "macs <= 5M (macs = %g)", 1e6 * point[1]);
    return 0;
}

/* Save with up to two proposals pending, restore into a fresh controller
 * (the pcg32 carries on, as a caller that saved it alongside would), and
 * continue: the trace equals never stopping. Run 2 stops at the same
 * point but restores from a chain: a whole state taken at trial 10, then a
 * delta after every trial (as a study saves them); it goes on saving deltas
 * after the restore and restores the longer chain again at trial 60. */
static void resume_case(const char *kind, const ss_space *s, int n_obj) {
    enum { N = 90, CUT = 45, WHOLE = 10, CUT2 = 60 };
    nas_error err = {0};
    double full[N * 8], part[N * 8], chained[N * 8];
    unsigned char *parts[N];
    size_t lens[N];
    int n_parts = 0;
    /* a constraint rejecting a quarter of the widths puts infeasible points
     * into the saved history too */
    feas_ctx f = {0, 2};
    ctrl_options o = ctrl_options_default();
    o.kind = kind;
    o.n_objectives = n_obj;
    o.feasible = feasible_cb;
    o.feasible_user = &f;
    for (int run = 0; run < 3; run++) {
        double *tr = run == 0 ? full : run == 1 ? part : chained;
        ctrl *c = NULL;
        ASSERT_OK(ctrl_create(s, &o, &c, &err), &err);
        pcg32 rng;
        pcg32_seed(&rng, 1234, 9);
        int pending[4], np = 0;
        for (int t = 0; t < N; t++) {
            /* keep up to 3 proposals pending: propose, then observe the oldest */
            ASSERT_OK(ctrl_propose(c, &rng, tr + (size_t)t * 8, &err), &err);
            pending[np++] = t;
            if (np == 3 || t == N - 1) {
                int o = pending[0];
                memmove(pending, pending + 1, (size_t)(--np) * sizeof *pending);
                double r[2];
                rewards_of(tr + (size_t)o * 8, n_obj, r);
                if (o % 7 == 6) ASSERT_OK(ctrl_observe_failed(c, tr + (size_t)o * 8, &err), &err);
                else ASSERT_OK(ctrl_observe(c, tr + (size_t)o * 8, r, &err), &err);
            }
            if (run == 2 && t >= WHOLE && t <= CUT2) {
                ASSERT_OK(ctrl_save(c, t > WHOLE, &parts[n_parts], &lens[n_parts], &err), &err);
                n_parts++;
                ctrl_mark_saved(c);
            }
            if (run == 2 && (t == CUT || t == CUT2)) { /* destroy, restore the chain */
                ctrl_destroy(c);
                ASSERT_OK(ctrl_create(s, &o, &c, &err), &err);
                nas_status st = ctrl_load_chain(c, n_parts, (const unsigned char *const *)parts, lens, &err);
                ASSERT_OK(st, &err);
                /* every delta is smaller than the whole state it follows */
                for (int i = 1; i < n_parts; i++) ASSERT_TRUE(lens[i] < lens[0]);
            }
            if (run == 1 && t == CUT) { /* save, destroy, restore */
                unsigned char *buf = NULL;
                size_t len = 0;
                ASSERT_OK(ctrl_save(c, 0, &buf, &len, &err), &err);
                ctrl_destroy(c);
                ASSERT_OK(ctrl_create(s, &o, &c, &err), &err);
                nas_status st = ctrl_load(c, buf, len, &err);
                free(buf);
                ASSERT_OK(st, &err);
            }
        }
        ctrl_destroy(c);
    }
    for (int t = 0; t < N; t++) {
        if (memcmp(full + t * 8, part + t * 8, 8 * sizeof(double)) != 0)
            TEST_FAIL_("%s: resumed trace differs at trial %d", kind, t);
        if (memcmp(full + t * 8, chained + t * 8, 8 * sizeof(double)) != 0)
            TEST_FAIL_("%s: trace resumed from deltas differs at trial %d", kind, t);
    }
    for (int i = 0; i < n_parts; i++) free(parts[i]);
}

static void test_resume_equivalence(void) {
    ss_space *s = mixed_space();
    for (int k = 0; k < N_KINDS; k++)
        resume_case(KINDS[k], s, strcmp(KINDS[k], "nsga2") == 0 ? 2 : 1);
    ss_space_destroy(s);
}

static void test_load_errors(void) {
    ss_space *s = mixed_space();
    ss_space *t = small_space();
    nas_error err = {0};
    ctrl *c = make(s, "tpe", 1);
    pcg32 rng;
    pcg32_seed(&rng, 3, 3);
    double tr[20 * 8];
    drive(c, s, &rng, 20, 2, 1, tr);
    unsigned char *buf = NULL;
    size_t len = 0;
    ASSERT_OK(ctrl_save(c, 0, &buf, &len, &err), &err);
    ctrl *d = make(s, "tpe", 1);
    for (size_t cut = 0; cut < len; cut += len / 17 + 1) {
        ASSERT_EQ_INT(ctrl_load(d, buf, cut, &err), NAS_ERR_FORMAT);
        ASSERT_TRUE(strstr(err.msg, "truncated") || strstr(err.msg, "not a controller state"));
    }
    ASSERT_EQ_INT(ctrl_load(d, buf, len - 1, &err), NAS_ERR_FORMAT);
    unsigned char junk[64];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 37 + 5);
    ASSERT_EQ_INT(ctrl_load(d, junk, sizeof junk, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "not a controller state");
    buf[len / 2] ^= 0x40; /* corrupt one byte */
    ASSERT_EQ_INT(ctrl_load(d, buf, len, &err), NAS_ERR_FORMAT);
    buf[len / 2] ^= 0x40;
    ctrl *e = make(s, "evolution", 1);
    ASSERT_EQ_INT(ctrl_load(e, buf, len, &err), NAS_ERR_MISMATCH);
    ASSERT_CONTAINS(err.msg, "tpe");
    ctrl *g = make(t, "tpe", 1);
    ASSERT_EQ_INT(ctrl_load(g, buf, len, &err), NAS_ERR_MISMATCH);
    ASSERT_CONTAINS(err.msg, "space");
    /* a failed load leaves the controller usable and unchanged */
    double x[8];
    ASSERT_OK(ctrl_propose(d, &rng, x, &err), &err);
    ASSERT_EQ_INT(ctrl_n_trials(d, NULL, NULL, NULL), 1);
    ASSERT_OK(ctrl_load(d, buf, len, &err), &err);
    ASSERT_EQ_INT(ctrl_n_trials(d, NULL, NULL, NULL), 20);
    /* a state whose checksum is right but whose content is not: a choice
       index out of range, an observation listed twice */
    {
        size_t head = 8 + 4 + 4 + 3 + 8 + 8 + 4 + 4; /* magic .. objectives ("tpe") */
        uint32_t n;
        memcpy(&n, buf + head, 4);
        ASSERT_EQ_INT(n, 20);
        unsigned char *bad = malloc(len);
        memcpy(bad, buf, len);
        double seven = 7.0; /* "op" has 4 options */
        memcpy(bad + head + 4 + n, &seven, sizeof seven);
        uint64_t sum = ctrl_part_checksum(bad, len - 8);
        memcpy(bad + len - 8, &sum, 8);
        ASSERT_EQ_INT(ctrl_load(d, bad, len, &err), NAS_ERR_FORMAT);
        ASSERT_CONTAINS(err.msg, "controller state: bad trial 0");
        memcpy(bad, buf, len);
        memcpy(bad + len - 8 - 4, bad + len - 8 - 8, 4); /* the last observation = the one before */
        sum = ctrl_part_checksum(bad, len - 8);
        memcpy(bad + len - 8, &sum, 8);
        ASSERT_EQ_INT(ctrl_load(d, bad, len, &err), NAS_ERR_FORMAT);
        ASSERT_CONTAINS(err.msg, "the observations do not list each done trial once");
        free(bad);
    }
    /* a version 1 state (bytewise FNV-1a 64 checksum) is still read */
    uint32_t v1 = 1;
    memcpy(buf + 8, &v1, 4);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i + 8 < len; i++) {
        h ^= buf[i];
        h *= 0x100000001b3ULL;
    }
    memcpy(buf + len - 8, &h, 8);
    ctrl *v = make(s, "tpe", 1);
    ASSERT_OK(ctrl_load(v, buf, len, &err), &err);
    ASSERT_EQ_INT(ctrl_n_trials(v, NULL, NULL, NULL), 20);
    buf[len / 2] ^= 0x40;
    ASSERT_EQ_INT(ctrl_load(v, buf, len, &err), NAS_ERR_FORMAT);
    ctrl_destroy(v);
    free(buf);
    ctrl_destroy(c);
    ctrl_destroy(d);
    ctrl_destroy(e);
    ctrl_destroy(g);
    ss_space_destroy(s);
    ss_space_destroy(t);
}

/* A chain of a whole state and deltas loads; a chain out of order, with a
 * part missing, or with a corrupt delta is refused, names the part, and
 * leaves the controller unchanged. */
static void test_load_chain_errors(void) {
    ss_space *s = mixed_space();
    nas_error err = {0};
    ctrl *c = make(s, "evolution", 1);
    pcg32 rng;
    pcg32_seed(&rng, 5, 5);
    double tr[4][10 * 8];
    unsigned char *p[4];
    size_t l[4];
    drive(c, s, &rng, 10, 2, 1, tr[0]);
    ASSERT_OK(ctrl_save(c, 0, &p[0], &l[0], &err), &err);
    ctrl_mark_saved(c);
    for (int i = 1; i < 4; i++) {
        drive(c, s, &rng, 2, 2, 1, tr[i]);
        ASSERT_OK(ctrl_save(c, 1, &p[i], &l[i], &err), &err);
        ctrl_mark_saved(c);
    }
    const unsigned char *const *pp = (const unsigned char *const *)p;
    ctrl *d = make(s, "evolution", 1);
    ASSERT_OK(ctrl_load_chain(d, 4, pp, l, &err), &err);
    int nc, nd_done;
    ASSERT_EQ_INT(ctrl_n_trials(d, NULL, &nd_done, NULL), ctrl_n_trials(c, NULL, &nc, NULL));
    ASSERT_EQ_INT(nd_done, nc);
    pcg32 r1 = rng, r2 = rng;
    double x1[8], x2[8];
    ASSERT_OK(ctrl_propose(c, &r1, x1, &err), &err);
    ASSERT_OK(ctrl_propose(d, &r2, x2, &err), &err);
    ASSERT_TRUE(memcmp(x1, x2, sizeof(double) * (size_t)s->n_decisions) == 0);

    ctrl *e = make(s, "evolution", 1);
    ASSERT_EQ_INT(ctrl_load_chain(e, 3, pp + 1, l + 1, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "part 1 of 3 (the whole state)");
    ASSERT_CONTAINS(err.msg, "a controller delta without the state it applies to");
    const unsigned char *q[2] = {p[0], p[0]};
    size_t ql[2] = {l[0], l[0]};
    ASSERT_EQ_INT(ctrl_load_chain(e, 2, q, ql, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "part 2 of 2 (a delta)");
    ASSERT_CONTAINS(err.msg, "a whole controller state where a delta belongs");
    q[1] = p[2]; /* delta 1 missing */
    ql[1] = l[2];
    ASSERT_EQ_INT(ctrl_load_chain(e, 2, q, ql, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "controller delta follows 12 trials and 12 observations, the state before it "
                             "has 10 and 10");
    p[3][l[3] / 2] ^= 0x10;
    ASSERT_EQ_INT(ctrl_load_chain(e, 4, pp, l, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "part 4 of 4 (a delta): controller state is truncated or corrupt");
    p[3][l[3] / 2] ^= 0x10;
    for (size_t cut = 0; cut < l[3]; cut += l[3] / 7 + 1)
        ASSERT_EQ_INT(ctrl_load_chain(e, 4, pp, (size_t[]){l[0], l[1], l[2], cut}, &err), NAS_ERR_FORMAT);
    ASSERT_EQ_INT(ctrl_n_trials(e, NULL, NULL, NULL), 0); /* unchanged */
    ASSERT_OK(ctrl_load_chain(e, 4, pp, l, &err), &err);
    ASSERT_EQ_INT(ctrl_n_trials(e, NULL, NULL, NULL), 16);
    /* a delta is refused by another kind too */
    ctrl *g = make(s, "random", 1);
    ASSERT_EQ_INT(ctrl_load_chain(g, 4, pp, l, &err), NAS_ERR_MISMATCH);
    for (int i = 0; i < 4; i++) free(p[i]);
    ctrl_destroy(c);
    ctrl_destroy(d);
    ctrl_destroy(e);
    ctrl_destroy(g);
    ss_space_destroy(s);
}

/* ---- constraints in the propose loop ---- */

static void test_constraint_rejection(void) {
    ss_space *s = mixed_space();
    for (int k = 0; k < N_KINDS; k++) {
        ctrl_options o = ctrl_options_default();
        o.kind = KINDS[k];
        o.float_levels = 3;
        feas_ctx f = {0, 1};
        o.feasible = feasible_cb;
        o.feasible_user = &f;
        o.max_rejects = 500;
        ctrl *c = NULL;
        nas_error err = {0};
        ASSERT_OK(ctrl_create(s, &o, &c, &err), &err);
        pcg32 rng;
        pcg32_seed(&rng, 5, 5);
        for (int t = 0; t < 40; t++) {
            double x[8];
            if (ctrl_propose(c, &rng, x, &err) != NAS_OK)
                TEST_FAIL_("%s: trial %d: %s", KINDS[k], t, err.msg);
            ASSERT_LE(x[1], 4);
            double r = mixed_f(x);
            ASSERT_OK(ctrl_observe(c, x, &r, &err), &err);
        }
        ctrl_destroy(c);

        f = (feas_ctx){0, 0};
        o.max_rejects = 50;
        ASSERT_OK(ctrl_create(s, &o, &c, &err), &err);
        double x[8];
        ASSERT_EQ_INT(ctrl_propose(c, &rng, x, &err), NAS_ERR_CONSTRAINT);
        ASSERT_CONTAINS(err.msg, "macs <= 5M");
        ASSERT_EQ_INT(f.calls, 50);
        ASSERT_EQ_INT(ctrl_n_trials(c, NULL, NULL, NULL), 0);
        ctrl_destroy(c);
    }
    ss_space_destroy(s);
}

/* ---- Pareto front ---- */

static void test_pareto_front(void) {
    ss_space *s = mixed_space();
    ctrl *c = make(s, "nsga2", 2);
    pcg32 rng;
    pcg32_seed(&rng, 8, 8);
    enum { N = 120 };
    double tr[N * 8];
    drive(c, s, &rng, N, 4, 2, tr);
    double *pts = NULL, *rw = NULL;
    int n = 0;
    nas_error err = {0};
    ASSERT_OK(ctrl_pareto_front(c, &pts, &rw, &n, &err), &err);
    ASSERT_TRUE(n >= 1);
    /* brute force: a trial is on the front iff nothing observed dominates it */
    int expect = 0;
    for (int i = 0; i < N; i++) {
        if (i % 13 == 12) continue;
        double ri[2], rj[2];
        rewards_of(tr + i * 8, 2, ri);
        int dom = 0;
        for (int j = 0; j < N && !dom; j++) {
            if (j % 13 == 12) continue;
            rewards_of(tr + j * 8, 2, rj);
            dom = ctrl_dominates(rj, ri, 2);
        }
        expect += !dom;
    }
    ASSERT_EQ_INT(n, expect);
    for (int i = 0; i < n; i++) {
        double r[2];
        rewards_of(pts + i * 8, 2, r);
        ASSERT_NEAR(r[0], rw[i * 2], 0);
        ASSERT_NEAR(r[1], rw[i * 2 + 1], 0);
        for (int j = 0; j < n; j++) ASSERT_TRUE(!ctrl_dominates(rw + j * 2, rw + i * 2, 2));
    }
    free(pts);
    free(rw);
    ctrl_destroy(c);
    ss_space_destroy(s);
}

/* ---- search quality ---- */

/* Best reward after `budget` trials (batches of 1). */
static double best_of(const ss_space *s, const char *kind, uint64_t seed, int budget) {
    ctrl *c = make(s, kind, 1);
    pcg32 rng;
    pcg32_seed(&rng, seed, 77);
    nas_error err = {0};
    double best = -INFINITY, x[8];
    for (int t = 0; t < budget; t++) {
        ASSERT_OK(ctrl_propose(c, &rng, x, &err), &err);
        double r = mixed_f(x);
        if (r > best) best = r;
        ASSERT_OK(ctrl_observe(c, x, &r, &err), &err);
    }
    ctrl_destroy(c);
    return best;
}

static void quality_case(const char *kind, double margin) {
    ss_space *s = mixed_space();
    enum { SEEDS = 10, BUDGET = 150 };
    double reg_rand = 0, reg_kind = 0;
    for (int seed = 0; seed < SEEDS; seed++) {
        reg_rand += -best_of(s, "random", (uint64_t)seed, BUDGET) / SEEDS;
        reg_kind += -best_of(s, kind, (uint64_t)seed, BUDGET) / SEEDS;
    }
    printf("     %s: mean regret %.4f vs random %.4f (ratio %.3f, must be <= %.2f)\n", kind,
           reg_kind, reg_rand, reg_kind / reg_rand, margin);
    ss_space_destroy(s);
    ASSERT_LE(reg_kind, margin * reg_rand);
}

static void test_quality_tpe(void) { quality_case("tpe", 0.6); }
static void test_quality_evolution(void) { quality_case("evolution", 0.8); }
static void test_quality_reinforce(void) { quality_case("reinforce", 0.9); }

/* 2-D hypervolume of the observed rewards above reference point ref. */
static double hypervolume(const double *r, int n, const double *ref) {
    double *xs = malloc((size_t)n * 2 * sizeof *xs);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int dom = 0;
        for (int j = 0; j < n && !dom; j++) dom = ctrl_dominates(r + j * 2, r + i * 2, 2);
        if (!dom && r[i * 2] > ref[0] && r[i * 2 + 1] > ref[1]) {
            xs[k * 2] = r[i * 2];
            xs[k * 2 + 1] = r[i * 2 + 1];
            k++;
        }
    }
    for (int i = 1; i < k; i++) /* sort by objective 0 descending */
        for (int j = i; j > 0 && xs[(j - 1) * 2] < xs[j * 2]; j--) {
            double a = xs[j * 2], b = xs[j * 2 + 1];
            xs[j * 2] = xs[(j - 1) * 2];
            xs[j * 2 + 1] = xs[(j - 1) * 2 + 1];
            xs[(j - 1) * 2] = a;
            xs[(j - 1) * 2 + 1] = b;
        }
    double hv = 0, prev_y = ref[1];
    for (int i = 0; i < k; i++) {
        if (xs[i * 2 + 1] > prev_y) {
            hv += (xs[i * 2] - ref[0]) * (xs[i * 2 + 1] - prev_y);
            prev_y = xs[i * 2 + 1];
        }
    }
    free(xs);
    return hv;
}

static double hv_of(const ss_space *s, const char *kind, uint64_t seed, int budget) {
    ctrl *c = make(s, kind, 2);
    pcg32 rng;
    pcg32_seed(&rng, seed, 31);
    nas_error err = {0};
    double *r = malloc((size_t)budget * 2 * sizeof *r), x[8];
    for (int t = 0; t < budget; t++) {
        ASSERT_OK(ctrl_propose(c, &rng, x, &err), &err);
        rewards_of(x, 2, r + t * 2);
        ASSERT_OK(ctrl_observe(c, x, r + t * 2, &err), &err);
    }
    static const double ref[2] = {-3.0, -2.5};
    double hv = hypervolume(r, budget, ref);
    free(r);
    ctrl_destroy(c);
    return hv;
}

static void test_quality_nsga2(void) {
    ss_space *s = mixed_space();
    enum { SEEDS = 10, BUDGET = 200 };
    double hv_rand = 0, hv_nsga = 0;
    for (int seed = 0; seed < SEEDS; seed++) {
        hv_rand += hv_of(s, "random", (uint64_t)seed, BUDGET) / SEEDS;
        hv_nsga += hv_of(s, "nsga2", (uint64_t)seed, BUDGET) / SEEDS;
    }
    printf("     nsga2: mean hypervolume %.4f vs random %.4f (ratio %.3f, must be >= 1.02)\n",
           hv_nsga, hv_rand, hv_nsga / hv_rand);
    ss_space_destroy(s);
    ASSERT_LE(1.02 * hv_rand, hv_nsga);
}

static const test_case TESTS[] = {
    {"constraint_parse", test_constraint_parse},
    {"objective_parse", test_objective_parse},
    {"constraints_check", test_constraints_check},
    {"rewards", test_rewards},
    {"dominates", test_dominates},
    {"bad_options", test_bad_options},
    {"no_duplicates_until_exhausted", test_no_duplicates_until_exhausted},
    {"exhaust_converged", test_exhaust_converged},
    {"empty_space", test_empty_space},
    {"parallel_pending", test_parallel_pending},
    {"grid", test_grid},
    {"determinism", test_determinism},
    {"resume_equivalence", test_resume_equivalence},
    {"load_errors", test_load_errors},
    {"load_chain_errors", test_load_chain_errors},
    {"constraint_rejection", test_constraint_rejection},
    {"pareto_front", test_pareto_front},
    {"quality_tpe", test_quality_tpe},
    {"quality_evolution", test_quality_evolution},
    {"quality_reinforce", test_quality_reinforce},
    {"quality_nsga2", test_quality_nsga2},
    {0, 0},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
