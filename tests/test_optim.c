/*
 * test_optim.c - optimizers against independent scalar references (double
 * precision, PyTorch formulas), hand-computed first steps, learning-rate
 * schedules at known steps, convergence on a quadratic, and the state blob
 * (round trip and every rejection).
 */
#include <stdlib.h>
#include <string.h>

#include "models/optim.h"
#include "nas/core/pcg32.h"
#include "tests/test.h"

/* Three tensors: a decayed weight big enough for the OpenMP path, a bias
 * without decay, and a buffer without gradient that must never change. */
#define N_BIG 40000
#define N_BIAS 7
#define N_BUF 5

typedef struct fixture {
    nas_param p[3];
    float w0[N_BIG], dw0[N_BIG];
    float w1[N_BIAS], dw1[N_BIAS];
    float w2[N_BUF];
} fixture;

static fixture *fixture_make(uint64_t seed) {
    fixture *f = calloc(1, sizeof *f);
    pcg32 r;
    pcg32_seed(&r, seed, 1);
    for (int i = 0; i < N_BIG; i++) f->w0[i] = (float)pcg32_normal(&r);
    for (int i = 0; i < N_BIAS; i++) f->w1[i] = (float)pcg32_normal(&r);
    for (int i = 0; i < N_BUF; i++) f->w2[i] = (float)(i + 1);
    f->p[0] = (nas_param){.name = "conv.weight", .w = f->w0, .dw = f->dw0, .n = N_BIG, .decay = 1};
    f->p[1] = (nas_param){.name = "conv.bias", .w = f->w1, .dw = f->dw1, .n = N_BIAS, .decay = 0};
    f->p[2] = (nas_param){.name = "bn.running_mean", .w = f->w2, .dw = NULL, .n = N_BUF};
    return f;
}

/* Deterministic gradient for step t: a per-element curvature times w (like a
 * real loss), so no gradient is a cancellation of nearly equal terms and
 * float32 and the double reference agree to rounding. */
static float grad_of(float w, int i, int t) {
    return (0.3f + 0.05f * (float)((i * 7 + t * 13) % 11)) * w;
}

static void fill_grads(nas_param *p, size_t n, int t) {
    for (size_t k = 0; k < n; k++)
        if (p[k].dw)
            for (size_t i = 0; i < p[k].n; i++) p[k].dw[i] = grad_of(p[k].w[i], (int)i, t);
}

/* Reference state for one scalar. */
typedef struct ref_scalar {
    double w, m, v;
} ref_scalar;

static void ref_sgd(ref_scalar *s, double g, double lr, double wd, double mu, int nesterov,
                    int decay) {
    if (decay) g += wd * s->w;
    if (mu > 0) {
        s->m = mu * s->m + g;
        g = nesterov ? g + mu * s->m : s->m;
    }
    s->w -= lr * g;
}

static void ref_adam(ref_scalar *s, double g, double lr, const nas_optim_config *c, int t,
                     int decay) {
    if (decay && c->kind == NAS_OPTIM_ADAMW) s->w *= 1.0 - lr * c->weight_decay;
    if (decay && c->kind == NAS_OPTIM_ADAM) g += c->weight_decay * s->w;
    s->m = c->beta1 * s->m + (1 - c->beta1) * g;
    s->v = c->beta2 * s->v + (1 - c->beta2) * g * g;
    double mhat = s->m / (1 - pow(c->beta1, t)), vhat = s->v / (1 - pow(c->beta2, t));
    s->w -= lr * mhat / (sqrt(vhat) + c->eps);
}

/* Runs `steps` steps of cfg on the fixture and the scalar reference side by
 * side (lr changes per step) and compares every element after each step. */
static void check_against_reference(const nas_optim_config *cfg, int steps) {
    fixture *f = fixture_make(42);
    ASSERT_TRUE(f != NULL);
    size_t sizes[2] = {N_BIG, N_BIAS};
    ref_scalar *ref[2];
    for (int k = 0; k < 2; k++) {
        ref[k] = calloc(sizes[k], sizeof(ref_scalar));
        for (size_t i = 0; i < sizes[k]; i++) ref[k][i].w = f->p[k].w[i];
    }
    nas_optim *o = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_optim_create(cfg, f->p, 3, &o, &err), &err);
    for (int t = 1; t <= steps; t++) {
        double lr = 0.05 + 0.01 * t;
        for (int k = 0; k < 2; k++) /* gradients from the reference weights */
            for (size_t i = 0; i < sizes[k]; i++)
                f->p[k].dw[i] = grad_of((float)ref[k][i].w, (int)i, t);
        nas_optim_step(o, lr);
        for (int k = 0; k < 2; k++) {
            for (size_t i = 0; i < sizes[k]; i++) {
                double g = grad_of((float)ref[k][i].w, (int)i, t);
                if (cfg->kind == NAS_OPTIM_SGD)
                    ref_sgd(&ref[k][i], g, lr, cfg->weight_decay, cfg->momentum, cfg->nesterov,
                            f->p[k].decay);
                else
                    ref_adam(&ref[k][i], g, lr, cfg, t, f->p[k].decay);
                double tol = 2e-6 * (1 + fabs(ref[k][i].w));
                if (fabs(f->p[k].w[i] - ref[k][i].w) > tol)
                    fprintf(stderr, "  step %d tensor %d element %zu\n", t, k, i);
                ASSERT_NEAR(f->p[k].w[i], ref[k][i].w, tol);
                f->p[k].w[i] = (float)ref[k][i].w; /* keep both sides on the same path */
            }
        }
        for (int i = 0; i < N_BUF; i++) ASSERT_EQ_INT((int)f->w2[i], i + 1);
    }
    ASSERT_EQ_INT(nas_optim_steps(o), steps);
    nas_optim_destroy(o);
    free(ref[0]);
    free(ref[1]);
    free(f);
}

static void test_sgd_plain(void) {
    nas_optim_config c;
    nas_optim_config_default(&c, NAS_OPTIM_SGD);
    check_against_reference(&c, 5);
}

static void test_sgd_momentum_decay(void) {
    nas_optim_config c;
    nas_optim_config_default(&c, NAS_OPTIM_SGD);
    c.momentum = 0.9;
    c.weight_decay = 5e-4;
    check_against_reference(&c, 6);
}

static void test_sgd_nesterov(void) {
    nas_optim_config c;
    nas_optim_config_default(&c, NAS_OPTIM_SGD);
    c.momentum = 0.9;
    c.nesterov = 1;
    c.weight_decay = 1e-2;
    check_against_reference(&c, 6);
}

static void test_adam(void) {
    nas_optim_config c;
    nas_optim_config_default(&c, NAS_OPTIM_ADAM);
    c.weight_decay = 1e-2;
    check_against_reference(&c, 6);
}

static void test_adamw(void) {
    nas_optim_config c;
    nas_optim_config_default(&c, NAS_OPTIM_ADAMW);
    c.weight_decay = 0.1;
    c.beta1 = 0.8;
    c.beta2 = 0.99;
    check_against_reference(&c, 6);
}

/* Hand-computed steps: w = 1, constant gradient 1, lr 0.1, mu 0.9. */
static void test_first_steps_by_hand(void) {
    float w = 1, dw = 1;
    nas_param p = {.name = "w", .w = &w, .dw = &dw, .n = 1, .decay = 1};
    nas_optim_config c;
    nas_optim_config_default(&c, NAS_OPTIM_SGD);
    c.momentum = 0.9;
    nas_optim *o = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_optim_create(&c, &p, 1, &o, &err), &err);
    nas_optim_step(o, 0.1); /* v = 1, w = 0.9 */
    ASSERT_NEAR(w, 0.9, 1e-7);
    nas_optim_step(o, 0.1); /* v = 1.9, w = 0.71 */
    ASSERT_NEAR(w, 0.71, 1e-6);
    nas_optim_destroy(o);

    w = 1;
    c.nesterov = 1;
    ASSERT_OK(nas_optim_create(&c, &p, 1, &o, &err), &err);
    nas_optim_step(o, 0.1); /* v = 1, d = 1 + 0.9 = 1.9, w = 0.81 */
    ASSERT_NEAR(w, 0.81, 1e-6);
    nas_optim_destroy(o);

    w = 1;
    c.nesterov = 0;
    c.momentum = 0;
    c.weight_decay = 0.5; /* g = 1 + 0.5 = 1.5, w = 0.85 */
    ASSERT_OK(nas_optim_create(&c, &p, 1, &o, &err), &err);
    nas_optim_step(o, 0.1);
    ASSERT_NEAR(w, 0.85, 1e-6);
    nas_optim_destroy(o);

    /* Adam's first step moves by lr * g / (|g| + eps) = lr whatever |g|. */
    w = 1;
    dw = 123.0f;
    nas_optim_config_default(&c, NAS_OPTIM_ADAM);
    ASSERT_OK(nas_optim_create(&c, &p, 1, &o, &err), &err);
    nas_optim_step(o, 0.01);
    ASSERT_NEAR(w, 0.99, 1e-6);
    nas_optim_destroy(o);

    /* AdamW: w = 1 * (1 - 0.01 * 0.5) - 0.01 = 0.985. */
    w = 1;
    nas_optim_config_default(&c, NAS_OPTIM_ADAMW);
    c.weight_decay = 0.5;
    ASSERT_OK(nas_optim_create(&c, &p, 1, &o, &err), &err);
    nas_optim_step(o, 0.01);
    ASSERT_NEAR(w, 0.985, 1e-6);
    nas_optim_zero_grad(o);
    ASSERT_TRUE(dw == 0.0f);
    nas_optim_destroy(o);
}

static void test_schedules(void) {
    nas_lr_schedule s;
    nas_error err = {0};
    nas_lr_schedule_default(&s, 0.1);
    ASSERT_OK(nas_lr_schedule_check(&s, &err), &err);
    ASSERT_NEAR(nas_lr_at(&s, 0), 0.1, 1e-15);
    ASSERT_NEAR(nas_lr_at(&s, 100000), 0.1, 1e-15);

    s.warmup_steps = 4; /* 0.025, 0.05, 0.075, 0.1, then constant */
    ASSERT_NEAR(nas_lr_at(&s, 0), 0.025, 1e-15);
    ASSERT_NEAR(nas_lr_at(&s, 2), 0.075, 1e-15);
    ASSERT_NEAR(nas_lr_at(&s, 3), 0.1, 1e-15);
    ASSERT_NEAR(nas_lr_at(&s, 4), 0.1, 1e-15);

    s.kind = NAS_LR_COSINE; /* warm-up 4, then cosine over 100 steps to 0.001 */
    s.total_steps = 104;
    s.final_lr = 0.001;
    ASSERT_OK(nas_lr_schedule_check(&s, &err), &err);
    ASSERT_NEAR(nas_lr_at(&s, 1), 0.05, 1e-15);
    ASSERT_NEAR(nas_lr_at(&s, 4), 0.1, 1e-15);
    ASSERT_NEAR(nas_lr_at(&s, 54), 0.0505, 1e-12);             /* halfway */
    double quarter = 0.001 + 0.099 * (1 + cos(3.14159265358979323846 / 4)) / 2;
    ASSERT_NEAR(nas_lr_at(&s, 29), quarter, 1e-12); /* a quarter of the way */
    ASSERT_NEAR(nas_lr_at(&s, 104), 0.001, 1e-15);
    ASSERT_NEAR(nas_lr_at(&s, 5000), 0.001, 1e-15);

    s.kind = NAS_LR_STEP; /* warm-up 4, then x0.1 every 10 steps */
    s.step_size = 10;
    s.gamma = 0.1;
    ASSERT_OK(nas_lr_schedule_check(&s, &err), &err);
    ASSERT_NEAR(nas_lr_at(&s, 13), 0.1, 1e-15);
    ASSERT_NEAR(nas_lr_at(&s, 14), 0.01, 1e-15);
    ASSERT_NEAR(nas_lr_at(&s, 33), 0.001, 1e-15);
    ASSERT_NEAR(nas_lr_at(&s, 34), 0.0001, 1e-15);

    s.gamma = 1.5;
    ASSERT_EQ_INT(nas_lr_schedule_check(&s, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "gamma");
    s.kind = NAS_LR_COSINE;
    s.total_steps = 4;
    ASSERT_EQ_INT(nas_lr_schedule_check(&s, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "total_steps");
    s.base_lr = -1;
    ASSERT_EQ_INT(nas_lr_schedule_check(&s, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "base_lr");
}

/* f(w) = sum_i a_i (w_i - c_i)^2 / 2 with curvatures 0.5..4; both optimizers
 * must bring every w_i to c_i. */
static void converge(const nas_optim_config *c, double lr, int steps, int cosine) {
    enum { N = 8 };
    float w[N] = {0}, dw[N], target[N], a[N];
    for (int i = 0; i < N; i++) {
        target[i] = (float)(i - 3) * 0.7f;
        a[i] = 0.5f + 0.5f * (float)i;
    }
    nas_param p = {.name = "w", .w = w, .dw = dw, .n = N, .decay = 1};
    nas_optim *o = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_optim_create(c, &p, 1, &o, &err), &err);
    nas_lr_schedule s;
    nas_lr_schedule_default(&s, lr);
    if (cosine) {
        s.kind = NAS_LR_COSINE;
        s.warmup_steps = 10;
        s.total_steps = (uint64_t)steps;
        s.final_lr = 0;
    }
    ASSERT_OK(nas_lr_schedule_check(&s, &err), &err);
    for (int t = 0; t < steps; t++) {
        for (int i = 0; i < N; i++) dw[i] = a[i] * (w[i] - target[i]);
        nas_optim_step(o, nas_lr_at(&s, nas_optim_steps(o)));
    }
    for (int i = 0; i < N; i++) ASSERT_NEAR(w[i], target[i], 1e-3);
    nas_optim_destroy(o);
}

static void test_converges_on_quadratic(void) {
    nas_optim_config c;
    nas_optim_config_default(&c, NAS_OPTIM_SGD);
    c.momentum = 0.9;
    c.nesterov = 1;
    converge(&c, 0.1, 300, 0);
    converge(&c, 0.1, 300, 1);
    nas_optim_config_default(&c, NAS_OPTIM_ADAMW);
    c.weight_decay = 0;
    converge(&c, 0.05, 1500, 1);
}

static void test_config_errors(void) {
    float w = 0, dw = 0;
    nas_param p = {.name = "w", .w = &w, .dw = &dw, .n = 1};
    nas_optim_config c;
    nas_optim *o = NULL;
    nas_error err = {0};
    nas_optim_config_default(&c, NAS_OPTIM_SGD);
    c.nesterov = 1;
    ASSERT_EQ_INT(nas_optim_create(&c, &p, 1, &o, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "nesterov");
    ASSERT_TRUE(o == NULL);
    c.nesterov = 0;
    c.weight_decay = -1;
    ASSERT_EQ_INT(nas_optim_create(&c, &p, 1, &o, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "weight_decay");
    nas_optim_config_default(&c, NAS_OPTIM_ADAM);
    c.beta2 = 1.0;
    ASSERT_EQ_INT(nas_optim_create(&c, &p, 1, &o, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "beta2");
    nas_optim_kind k;
    ASSERT_OK(nas_optim_kind_parse("adamw", &k, &err), &err);
    ASSERT_EQ_INT(k, NAS_OPTIM_ADAMW);
    ASSERT_EQ_INT(nas_optim_kind_parse("rmsprop", &k, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "rmsprop");
}

/* Saving after 3 steps and restoring into a fresh optimizer continues the
 * exact same trajectory. */
static void state_round_trip(nas_optim_kind kind) {
    fixture *a = fixture_make(7), *b = fixture_make(7);
    nas_optim_config c;
    nas_optim_config_default(&c, kind);
    c.momentum = 0.9;
    nas_optim *oa = NULL, *ob = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_optim_create(&c, a->p, 3, &oa, &err), &err);
    ASSERT_OK(nas_optim_create(&c, b->p, 3, &ob, &err), &err);
    for (int t = 0; t < 3; t++) {
        fill_grads(a->p, 3, t);
        nas_optim_step(oa, 0.01);
    }
    size_t n = nas_optim_state_size(oa);
    unsigned char *blob = malloc(n);
    nas_optim_state_save(oa, blob);
    memcpy(b->w0, a->w0, sizeof a->w0);
    memcpy(b->w1, a->w1, sizeof a->w1);
    ASSERT_OK(nas_optim_state_load(ob, blob, n, NULL, 0, &err), &err);
    ASSERT_EQ_INT(nas_optim_steps(ob), 3);
    for (int t = 3; t < 6; t++) {
        fill_grads(a->p, 3, t);
        fill_grads(b->p, 3, t);
        nas_optim_step(oa, 0.01);
        nas_optim_step(ob, 0.01);
    }
    ASSERT_TRUE(memcmp(a->w0, b->w0, sizeof a->w0) == 0);
    ASSERT_TRUE(memcmp(a->w1, b->w1, sizeof a->w1) == 0);
    free(blob);
    nas_optim_destroy(oa);
    nas_optim_destroy(ob);
    free(a);
    free(b);
}

static void test_state_round_trip(void) {
    state_round_trip(NAS_OPTIM_SGD);
    state_round_trip(NAS_OPTIM_ADAMW);
}

static void test_state_errors(void) {
    fixture *f = fixture_make(3);
    nas_optim_config c;
    nas_optim_config_default(&c, NAS_OPTIM_ADAM);
    nas_optim *o = NULL, *sgd = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_optim_create(&c, f->p, 3, &o, &err), &err);
    fill_grads(f->p, 3, 0);
    nas_optim_step(o, 0.01);
    size_t n = nas_optim_state_size(o);
    ASSERT_EQ_INT(n, 28 + (4 + 11 + 8 + 8 * N_BIG) + (4 + 9 + 8 + 8 * N_BIAS));
    unsigned char *blob = malloc(n);
    nas_optim_state_save(o, blob);

    /* every prefix is rejected, and the error gives an offset */
    size_t cuts[] = {0, 10, 27, 28, 40, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        ASSERT_EQ_INT(nas_optim_state_load(o, blob, cuts[i], "ck.nasw", 100, &err),
                      NAS_ERR_FORMAT);
        ASSERT_CONTAINS(err.msg, "ck.nasw");
        ASSERT_CONTAINS(err.msg, "byte offset");
    }
    unsigned char *bad = malloc(n);
    memcpy(bad, blob, n);
    bad[0] = 'X';
    ASSERT_EQ_INT(nas_optim_state_load(o, bad, n, "s", 0, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "magic");
    memcpy(bad, blob, n);
    bad[4] = 9;
    ASSERT_EQ_INT(nas_optim_state_load(o, bad, n, "s", 0, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "version 9");
    memcpy(bad, blob, n);
    bad[28 + 4] = 'X'; /* first name "conv.weight" -> "Xonv.weight" */
    ASSERT_EQ_INT(nas_optim_state_load(o, bad, n, "s", 0, &err), NAS_ERR_MISMATCH);
    ASSERT_CONTAINS(err.msg, "Xonv.weight");

    /* another kind */
    nas_optim_config_default(&c, NAS_OPTIM_SGD);
    c.momentum = 0.9;
    ASSERT_OK(nas_optim_create(&c, f->p, 3, &sgd, &err), &err);
    ASSERT_EQ_INT(nas_optim_state_load(sgd, blob, n, "s", 0, &err), NAS_ERR_MISMATCH);
    ASSERT_CONTAINS(err.msg, "adam");

    /* a failed load leaves the optimizer as it was */
    ASSERT_EQ_INT(nas_optim_steps(o), 1);
    free(bad);
    free(blob);
    nas_optim_destroy(o);
    nas_optim_destroy(sgd);
    free(f);
}

static const test_case TESTS[] = {
    {"sgd_plain", test_sgd_plain},
    {"sgd_momentum_decay", test_sgd_momentum_decay},
    {"sgd_nesterov", test_sgd_nesterov},
    {"adam", test_adam},
    {"adamw", test_adamw},
    {"first_steps_by_hand", test_first_steps_by_hand},
    {"schedules", test_schedules},
    {"converges_on_quadratic", test_converges_on_quadratic},
    {"config_errors", test_config_errors},
    {"state_round_trip", test_state_round_trip},
    {"state_errors", test_state_errors},
    {0},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
