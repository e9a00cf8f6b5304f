/*
 * space.h - a compiled search space and the operations on its points.
 *
 * A space is the compiled form of a .nas file: a list of decisions (each with
 * a domain and an activity condition), the hyperparameters among them, the
 * declared constraints and objectives, and a private template that realizes a
 * point into an arch (nas/core/arch.h).
 *
 * A point is an array of doubles, one per decision, in decision order:
 *   choice -> the option's index (0 .. n-1), int -> the integer, float -> the value.
 * A decision is active when it has no condition, or when its parent decision
 * is active and the parent's value satisfies the condition. Conditions form
 * a forest: a parent always has a smaller index than its children. Inactive
 * decisions hold a canonical value (choice 0, int lo, float lo) so that equal
 * networks give equal points.
 *
 * Ownership: ss_space_compile_* and ss_space_create return a space the caller
 * frees with ss_space_destroy (which frees every decision, label and the
 * template). Points are caller-owned arrays of n_decisions doubles.
 * Nothing here keeps global state; every random draw takes a pcg32.
 */
#ifndef NAS_SEARCHSPACE_SPACE_H
#define NAS_SEARCHSPACE_SPACE_H

#include <stdint.h>
#include <stdio.h>

#include "nas/core/arch.h"
#include "nas/core/pcg32.h"
#include "nas/core/status.h"

typedef enum ss_domain_kind { SS_DOMAIN_CHOICE, SS_DOMAIN_INT, SS_DOMAIN_FLOAT } ss_domain_kind;
typedef enum ss_scale { SS_SCALE_LINEAR, SS_SCALE_LOG, SS_SCALE_REVERSE_LOG } ss_scale;

typedef struct ss_domain {
    ss_domain_kind kind;
    /* choice */
    int n;         /* number of options (>= 1) */
    char **labels; /* option i as printed: "3", "relu", "mb(out=width)" */
    double *nums;  /* numeric value of option i, or NAN when not a number */
    /* int: inclusive range */
    int64_t lo, hi;
    /* float: closed range and sampling scale */
    double flo, fhi;
    ss_scale scale;
} ss_domain;

typedef struct ss_cond {
    int parent;            /* index of the parent decision, or -1 (always active) */
    unsigned char *allowed; /* choice parent: allowed[i] != 0 for allowed option i */
    int64_t lo, hi;        /* int parent: active when lo <= value <= hi */
} ss_cond;

typedef struct ss_decision {
    char *name; /* unique and readable: "stage2.depth", "stage2[1].mb.kernel", "lr" */
    ss_domain dom;
    ss_cond cond;
    int is_hparam; /* declared with `hparam` */
} ss_decision;

typedef enum ss_cmp { SS_CMP_LE, SS_CMP_LT, SS_CMP_GE, SS_CMP_GT } ss_cmp;

/* Metric values use these units everywhere: latency in milliseconds, memory
 * in bytes, macs/flops/params as plain counts. */
typedef struct ss_constraint {
    char *metric; /* "macs", "flops", "params", "memory", "latency", or a user metric */
    ss_cmp cmp;
    double value;
    char *text;   /* as written, e.g. "latency <= 1.5ms" */
} ss_constraint;

typedef struct ss_objective {
    char *metric;
    int maximize; /* 1 maximize, 0 minimize */
} ss_objective;

struct ss_template; /* private to the compiler */

typedef struct ss_space {
    char *name;        /* from `space NAME` */
    char *path;        /* source file, or "<string>" */
    char hash[32];     /* hex digest of the source text */
    int in_c, in_h, in_w, classes; /* all 0 for a hyperparameter-only space */
    int n_decisions;
    ss_decision *decisions;
    int n_constraints;
    ss_constraint *constraints;
    int n_objectives;
    ss_objective *objectives;
    struct ss_template *tmpl; /* NULL for a space built with ss_space_create */
    void (*tmpl_destroy)(struct ss_template *); /* set by the compiler with tmpl */
} ss_space;

/* ---- compiling (searchspace/compile.c) ---- */

/* Compiles a .nas file. Diagnostics ("file:line:col: error: msg", the source
 * line and a caret) go to `diag` (may be NULL); every error found in one pass
 * is reported. On failure err holds the first error and a count. Warnings
 * (unused let) do not fail. */
nas_status ss_space_compile_file(const char *path, FILE *diag, ss_space **out, nas_error *err);
nas_status ss_space_compile_string(const char *name, const char *src, size_t len, FILE *diag,
                                   ss_space **out, nas_error *err);

/* Changes the input image shape of a compiled space with a network (e.g. to
 * match a data set: 3x32x32 for CIFAR-10) and checks that some point still
 * gives a valid network; on failure the space is unchanged. */
nas_status ss_space_set_input(ss_space *s, int c, int h, int w, nas_error *err);

/* Realizes a point into a new arch (caller destroys). The point must be
 * canonical-compatible (inactive decisions ignored). A point whose network is
 * impossible (a shape error only some points hit) gives NAS_ERR_INVALID with
 * the reason. A hyperparameter-only space gives an arch with no nodes and the
 * hyperparameters set. */
nas_status ss_space_realize(const ss_space *s, const double *point, nas_arch **out,
                            nas_error *err);

/* ---- building by hand (tests, controllers' synthetic spaces; space.c) ---- */

/* An empty space with no template (cannot realize). NULL when out of memory. */
ss_space *ss_space_create(const char *name);
/* Frees the space, its decisions, constraints, objectives and template. NULL ok. */
void ss_space_destroy(ss_space *s);
/* Appends a decision (copies name, labels, allowed); returns its index or -1
 * when out of memory. cond.parent must be < the new index. */
int ss_space_add_decision(ss_space *s, const ss_decision *d);
/* Appends a constraint / objective (strings copied). -1 when out of memory. */
int ss_space_add_constraint(ss_space *s, const char *metric, ss_cmp cmp, double value,
                            const char *text);
int ss_space_add_objective(ss_space *s, const char *metric, int maximize);

/* ---- points (searchspace/point.c) ---- */

/* Fresh point of n_decisions doubles, all canonical. Caller frees. */
double *ss_point_alloc(const ss_space *s);
int ss_decision_is_active(const ss_space *s, const double *point, int i);
/* Number of values of a decision's domain; 0 for float (continuous).
 * Saturates at UINT64_MAX for the full int64 range (2^64 values). */
uint64_t ss_domain_size(const ss_domain *d);

/* Uniform over each active decision's domain (float per its scale:
 * log = exp(U(log lo, log hi)); reverse_log = hi + lo - that, dense near hi),
 * inactive decisions canonical. */
void ss_space_sample(const ss_space *s, pcg32 *rng, double *point);
/* Sets every inactive decision to its canonical value. */
void ss_space_canonicalize(const ss_space *s, double *point);
/* Changes one active decision (chosen uniformly among active decisions whose
 * domain has >= 2 values) to a different value, samples decisions that become
 * active, canonicalizes. Returns the index changed, or -1 if none can change. */
int ss_space_mutate(const ss_space *s, pcg32 *rng, double *point);
/* 1 if a and b are equal after canonicalization (floats compared exactly). */
int ss_point_equal(const ss_space *s, const double *a, const double *b);
/* 64-bit hash of the canonical point (for dedup). */
uint64_t ss_point_hash(const ss_space *s, const double *point);

/* Number of distinct canonical points, counting conditional sub-spaces exactly.
 * For a finite space: writes the exact decimal count into digits (NUL
 * terminated) and returns 1. For a space with a float decision: returns 0,
 * digits "" and *log10_size is the log10 of the discrete part's count.
 * *log10_size is always set (NAN only when out of memory). Returns -1 if
 * digits is too small (digits "", log10 still set) or out of memory. */
int ss_space_cardinality(const ss_space *s, char *digits, size_t cap, double *log10_size);

/* Visits every canonical point of a finite space in a stable order
 * (odometer over decisions, last decision fastest, skipping inactive ones),
 * at most `limit` points (limit < 0: all). The callback returns non-zero to
 * stop. Returns NAS_ERR_INVALID for a space with a float decision. */
typedef int (*ss_point_visit)(void *user, const double *point);
nas_status ss_space_enumerate(const ss_space *s, long limit, ss_point_visit visit, void *user,
                              nas_error *err);

/* JSON object {"decision name": value}: choices by label (string, or number
 * when numeric), ints and floats as numbers; inactive decisions omitted.
 * Caller frees the string. */
char *ss_point_to_json(const ss_space *s, const double *point);
/* Parses such an object into point (canonicalized). Unknown names, missing
 * active decisions and out-of-domain values are errors naming the decision. */
nas_status ss_point_from_json(const ss_space *s, const char *json, double *point, nas_error *err);

/* Prints the decisions table (name, domain, condition) and the summary. */
void ss_space_print(const ss_space *s, FILE *out);

#endif
