/*
 * trial.h - runs one user trial program as a child process, as a cloud
 * hyperparameter tuning job runs a training container.
 *
 * The protocol (docs/trial-protocol.md): the command string is run with
 * /bin/sh -c, with "--NAME=VALUE" appended for every hyperparameter
 * (integers without a decimal point, floats with %.17g, strings as they are;
 * each argument shell-quoted) and "--arch=PATH" (the arch JSON written into
 * the trial dir). The environment adds NAS_TRIAL_ID, NAS_TRIAL_DIR and
 * NAS_METRICS_FILE. stdout and stderr go to TRIAL_DIR/stdout.log and
 * TRIAL_DIR/stderr.log. The program appends JSON lines to the metrics file:
 *     {"metric": "val_loss", "value": 0.31, "step": 3}
 * ("step" absent = a final value). The runner reads the file while the
 * program runs (intermediate values feed early stopping) and at the end.
 *
 * Outcomes: complete (exit 0, every value finite, the objective reported),
 * failed (a precise reason: "exit status 3", "killed by signal 11
 * (Segmentation fault)", "timeout after 10.0 s", "metric 'accuracy' never
 * reported", "metrics line 4: not JSON", ... plus the stderr tail) or pruned
 * (an early stopping rule fired; the reason says which and why).
 *
 * Isolation: each trial runs in its own process group; timeouts, stops and
 * cancels send SIGTERM to the whole group, then SIGKILL after a grace
 * period; leftover processes of the group are killed when the program ends.
 * An optional RLIMIT_AS caps the program's memory.
 *
 * Concurrency: nas_trial_start returns at once; nas_trial_poll and
 * nas_trial_wait_any advance any number of trials, so a search loop keeps P
 * trials in flight. There is no global state and no signal handler: exits
 * are seen through pidfds (or short sleeps where pidfds are missing).
 *
 * The caller must leave the children to the runner: no waitpid(-1, ...) and
 * no SIGCHLD set to SIG_IGN in the process (either reaps them first).
 *
 * Not here: the store (store.h) - the caller records what the runner returns.
 *
 * Ownership: nas_trial_start returns a handle freed by nas_trial_destroy
 * (which kills a trial still running). The result and the strings in it
 * belong to the handle.
 */
#ifndef NAS_SEARCH_TRIAL_H
#define NAS_SEARCH_TRIAL_H

#include <stddef.h>
#include <stdint.h>

#include "nas/core/status.h"
#include "nas/search/store.h"

/* ---- the metrics protocol ---- */

/* One parsed line of the metrics file. */
typedef struct nas_metric_line {
    char *name;   /* the metric (malloc'd; the caller frees it) */
    double value; /* finite */
    int64_t step; /* >= 0, or -1 for a final value */
} nas_metric_line;

/* Parses one line (len bytes, without its '\n'; lineno names it in
 * messages): 1 with *out filled, 0 for a blank line, -1 with the reason in
 * reason[0..cap) ("metrics line 4: not JSON", a missing or empty "metric",
 * a value that is not a finite number - NaN and Infinity are named - or a
 * step that is not a non-negative integer). */
int nas_metric_line_parse(const char *line, size_t len, long lineno, nas_metric_line *out, char *reason,
                          size_t cap);

/* ---- arguments ---- */

typedef enum nas_param_kind { NAS_PARAM_INT, NAS_PARAM_FLOAT, NAS_PARAM_STR } nas_param_kind;

/* One hyperparameter passed as --name=value. */
typedef struct nas_trial_param {
    const char *name; /* non-empty, without '=' */
    nas_param_kind kind;
    int64_t i;     /* NAS_PARAM_INT: printed as %lld */
    double f;      /* NAS_PARAM_FLOAT: printed as %.17g (must be finite) */
    const char *s; /* NAS_PARAM_STR: printed as is */
} nas_trial_param;

/* Builds the full shell command: cmd, then " --name=value" for each param
 * and " --arch=arch_path" (when arch_path is not NULL), each argument
 * single-quoted when it holds anything but [A-Za-z0-9_@%+=:,./-]. *out is
 * malloc'd (caller frees). */
nas_status nas_trial_command(const char *cmd, const nas_trial_param *params, size_t n_params,
                             const char *arch_path, char **out, nas_error *err);

/* ---- early stopping ---- */

typedef enum nas_stop_kind {
    NAS_STOP_NONE = 0,
    NAS_STOP_MEDIAN, /* median stopping rule */
    NAS_STOP_ASHA    /* asynchronous successive halving */
} nas_stop_kind;

typedef struct nas_stop_rule {
    nas_stop_kind kind;
    int maximize;        /* direction of the objective: 1 larger is better */
    /* median: at step s >= min_step, stop when the trial's best value up to s
     * is strictly worse than the median of the running averages (mean of
     * values at steps <= s) of the other trials that reached step s, when at
     * least min_trials of them did. */
    int64_t min_step;
    int min_trials;
    /* asha: rungs at steps min_resource * eta^k (k = 0, 1, ...) below
     * max_resource (0: no limit). When a trial first reports a step at or
     * past a rung, its value there is ranked among every trial that reached
     * the rung (each at its first step at or past it); the trial stops unless
     * it is among the top max(1, floor(n / eta)). No decision while fewer
     * than min_trials other trials reached the rung. */
    double eta;
    int64_t min_resource;
    int64_t max_resource;
} nas_stop_rule;

/* Defaults: median (min_step 1, min_trials 3), eta 3, min_resource 1. */
nas_stop_rule nas_stop_rule_default(nas_stop_kind kind, int maximize);

/* One trial's intermediate values of the objective, by increasing step. */
typedef struct nas_curve {
    size_t n;
    const int64_t *steps;
    const double *values;
} nas_curve;

/* The decision for the trial whose curve is `self` (its latest report last),
 * against the other trials' curves. Returns 1 and a reason in why (cap
 * bytes) when the trial should stop now, else 0. */
int nas_stop_check(const nas_stop_rule *rule, const nas_curve *self, const nas_curve *others,
                   size_t n_others, char *why, size_t cap);

/* ---- running ---- */

typedef struct nas_trial_spec {
    const char *command;   /* run with /bin/sh -c (required) */
    const char *trial_dir; /* created if needed (required) */
    int64_t trial_id;      /* NAS_TRIAL_ID */
    const nas_trial_param *params;
    size_t n_params;
    const char *arch_json; /* written to TRIAL_DIR/arch.json, passed as --arch; NULL: none */
    const char *objective; /* metric that must be reported and that stop rules read; NULL */
    double timeout_s;      /* wall-clock limit; 0: none */
    double kill_grace_s;   /* SIGTERM -> SIGKILL delay; 0: 5 s */
    uint64_t rlimit_as;    /* RLIMIT_AS in bytes for the program; 0: none */
    size_t stderr_tail_max; /* bytes of stderr kept; 0: 2048 */
    nas_stop_rule stop;    /* kind NAS_STOP_NONE: never stopped early */
    /* Other trials' objective curves for the stop rule. Not copied: they
     * must stay valid until the trial ends (see nas_trial_set_history). */
    const nas_curve *history;
    size_t n_history;
    /* The CPUs the program may run on (a cpu_set_t of cpu_mask_bytes); NULL:
     * the calling thread's, which a caller that pinned its threads (latency
     * measurement) does not want its programs to inherit. */
    const void *cpu_mask;
    size_t cpu_mask_bytes;
} nas_trial_spec;

typedef struct nas_trial_result {
    nas_trial_state state; /* RUNNING until the trial ends; then COMPLETE, FAILED or PRUNED */
    char reason[512];      /* failed / pruned: why; "" otherwise */
    int exit_status;       /* exit status, or -1 when killed by a signal */
    int term_signal;       /* signal that ended the program, 0 when it exited */
    double elapsed_s;
    char *stderr_tail;     /* the last bytes of stderr (text; "" when none) */
    char *metrics_json;    /* {"metric": last value, ...}; "{}" when none */
    nas_metric_step *final; /* the last value of every metric, in first-report order */
    size_t n_final;
    nas_metric_step *series; /* every report that had a step, in report order */
    size_t n_series;
} nas_trial_result;

typedef struct nas_trial nas_trial;

/* Prepares the trial dir (arch.json, an empty metrics.jsonl, command.txt
 * holding the exact command line) and starts the program. Returns at once.
 * Errors are about the runner itself (dir not writable, fork failed); the
 * program's own failures are reported in the result. */
nas_status nas_trial_start(const nas_trial_spec *spec, nas_trial **out, nas_error *err);

/* Advances the trial without blocking: reads new metrics, applies the stop
 * rule, the timeout and the kill grace period, and reaps the program when it
 * has ended. *done = 1 once the result is final. */
nas_status nas_trial_poll(nas_trial *t, int *done, nas_error *err);

/* Polls the n trials until one is done or timeout_s passes (< 0: no limit).
 * *index receives the done trial's index; NAS_ERR_TIMEOUT (with *index = n)
 * when none ended in time. A done trial is returned again by every call, so
 * callers drop it from the array. */
nas_status nas_trial_wait_any(nas_trial *const *trials, size_t n, double timeout_s, size_t *index,
                              nas_error *err);

/* Starts and waits until the trial ends. *out is the finished handle. */
nas_status nas_trial_run(const nas_trial_spec *spec, nas_trial **out, nas_error *err);

/* Ends a running trial (SIGTERM to its group, SIGKILL after the grace
 * period); it fails with the reason given ("cancelled" when NULL). No effect
 * on a finished trial. Poll or wait to see it end. */
void nas_trial_cancel(nas_trial *t, const char *reason);

/* Replaces the other trials' curves used by the stop rule. */
void nas_trial_set_history(nas_trial *t, const nas_curve *history, size_t n);

/* The result so far (final once done). Valid until nas_trial_destroy. */
const nas_trial_result *nas_trial_result_get(const nas_trial *t);
/* The program's process id (also its process group id). */
int64_t nas_trial_pid(const nas_trial *t);
/* The trial dir as an absolute path (owned by the handle). */
const char *nas_trial_dir(const nas_trial *t);

/* Kills the process group if still running (SIGKILL), reaps it and frees
 * everything. NULL is allowed. */
void nas_trial_destroy(nas_trial *t);

#endif
