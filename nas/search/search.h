/*
 * search.h - the search job: `nas search`.
 *
 * A job compiles a space, opens (or resumes) its study store, and runs the
 * trial loop: the controller proposes a point, hard constraints on analytic
 * costs and latency are checked before anything is trained, the evaluator
 * scores the candidate (the weight-sharing supernet in-process, or a trial
 * program in its own process: the user's command, or `nas train` on a proxy
 * task, or the caller's objective function in-process), every candidate is
 * measured (accuracy, latency, MACs/FLOPs,
 * parameters, memory), the result goes to the store and back to the
 * controller. Then stage 2 retrains the top K (or the Pareto front, capped at
 * K) from scratch with the final settings, evaluates them on the test split
 * and writes DIR/best/.
 *
 * Durability: every state change is one store transaction; the controller
 * state and generator are snapshotted with every insertion and completion, so
 * running the same job again (or nas_search_run with resume) continues where
 * a killed job stopped: completed trials kept, trials that were running
 * re-run, the supernet from its last checkpoint.
 *
 * One job per study: the job holds the study's lock (nas_store_lock_acquire,
 * store.h: an flock on DIR/study.lock) from before it opens the store until
 * it returns. A second job on the same directory fails at once with
 * NAS_ERR_BUSY, "study DIR is in use by another job (pid N)", before it
 * reads or writes the store. The lock dies with the job's process, even
 * under SIGKILL, and trial programs do not inherit it, so a resume is never
 * blocked by a killed job or its orphaned trials. Readers (`nas trials`,
 * `nas report`, `nas export`) take no lock and work while a job runs.
 *
 * Ownership: options strings are borrowed for the duration of the call.
 */
#ifndef NAS_SEARCH_SEARCH_H
#define NAS_SEARCH_SEARCH_H

#include <signal.h>
#include <stdint.h>

#include "controller/controller.h"
#include "nas/core/arch.h"
#include "nas/core/log.h"
#include "nas/core/status.h"

#define NAS_SEARCH_MAX_OBJECTIVES 4
#define NAS_SEARCH_MAX_CONSTRAINTS 16

/* A limit (max_trials, parallel_trials, max_failed_trials, time_budget_s,
 * trial_timeout_s) left unset: its default in a new study, the study's stored
 * value (the last one given) on resume. */
#define NAS_SEARCH_UNSET (-1)

/* The in-process objective (the "function" evaluator, the C API's
 * counterpart of a trial program): called once per trial, in the job's
 * thread, with the trial's number, its realized arch (the hyperparameters:
 * nas_arch_hparam) and its point (ss_point layout). *m arrives holding the
 * candidate's measured costs (none for a hyperparameter-only space); the
 * function adds at least the objective metric(s). A non-OK return (reason in
 * err), or an objective metric missing or not finite, fails the trial with
 * that reason and the job goes on (counted against max_failed_trials). Trials
 * run one at a time, without a trial directory, timeout or early stopping, and
 * stage 2 is skipped. arch, point and m are valid during the call only. */
typedef nas_status (*nas_search_objective)(void *user, int64_t number, const nas_arch *arch, const double *point,
                                           ctrl_metrics *m, nas_error *err);

typedef struct nas_search_options {
    const char *space_path;   /* the .nas file; NULL when resuming from the study */
    const char *study_dir;    /* NULL: runs/<space>-<YYYYMMDD>-<n> */
    int resume;               /* 1: study_dir must exist; the job spec comes from it, and
                                 only the limits (the five below, left NAS_SEARCH_UNSET
                                 to keep the study's) and threads are the caller's */
    const char *controller;   /* random | grid | evolution | reinforce | tpe | nsga2 */
    uint64_t seed;
    const char *evaluator;    /* supernet | train | command | function; NULL: function when
                                 objective is set, command when trial_cmd is set, train for
                                 a hyperparameter-only space, else supernet */
    const char *trial_cmd;    /* the user's trial program (command evaluator) */
    nas_search_objective objective; /* the function evaluator's objective; a resumed
                                       "function" study needs it again */
    void *objective_user;     /* passed to objective */
    /* the caller's stop request, e.g. set by a SIGINT/SIGTERM handler (may be
       NULL): once *stop is non-zero the job stops at the next check (every
       second while trial programs run, between trials, before every step
       of supernet training, whose epoch under way is dropped): running trial programs are ended (SIGTERM, then SIGKILL), their
       trials go back to pending (a resume re-runs them), the status becomes
       "stopped" and nas_search_run returns NAS_ERR_INTERRUPTED */
    const volatile sig_atomic_t *stop;
    /* the limits: NAS_SEARCH_UNSET, or a value that is stored with the study
       (the next resume keeps it) */
    int max_trials;           /* complete and pruned trials of the study (default 50) */
    int parallel_trials;      /* trials in flight (command / train evaluators; default 1) */
    int max_failed_trials;    /* stop the job after this many failures (default 10) */
    double time_budget_s;     /* 0: none (default); else the study's wall time, stage 2 and
                                 earlier runs included (kv elapsed_s): the loop stops starting
                                 trials when what is left is stage 2's estimated time (trials
                                 already running finish) */
    double trial_timeout_s;   /* 0: none (default) */
    int n_objectives;         /* 0: the space file's, else "maximize accuracy" */
    const char *objectives[NAS_SEARCH_MAX_OBJECTIVES];
    int n_constraints;        /* added to the space file's */
    const char *constraints[NAS_SEARCH_MAX_CONSTRAINTS];
    const char *reward;       /* NULL/objective | mnas | mnas_hard | tunas | weighted */
    const char *latency;      /* measure | lut:FILE */
    int latency_threads;      /* threads of the batch-1 latency measurement (default 1) */
    const char *early_stop;   /* none | median | asha (trial programs reporting steps) */
    const char *data;         /* data spec (fashion-mnist) */
    int proxy_epochs;         /* train evaluator: epochs per trial */
    double proxy_fraction;    /* train evaluator and supernet: share of the training split */
    int supernet_epochs;
    int supernet_batch;
    int final_top_k;          /* stage 2 (supernet and train evaluators): 0 skips it */
    int final_epochs;
    int final_augment;        /* stage 2: random crop + flip (1, default) or none (0) */
    int threads;              /* 0: all cores */
    const nas_logger *lg;
    int progress;             /* 1: a progress bar on stderr when it is a TTY */
    const char *self_exe;     /* path of the nas binary (for the train evaluator) */
} nas_search_options;

/* Defaults: evolution, seed 0, the limits NAS_SEARCH_UNSET (a new study: 50
 * trials, 1 in parallel, 10 failures, no budget, no trial timeout), measured
 * latency on 1 thread, fashion-mnist, proxy 1 epoch on 0.2 of the data,
 * supernet 6 epochs at batch 128, stage 2 top 3 for 10 epochs. */
void nas_search_options_default(nas_search_options *o);

/* The study directory the job used (after nas_search_run), or "". */
typedef struct nas_search_summary {
    char study_dir[4096];
    int completed, failed, pruned;
    int best_trial;            /* trial number of the best (single objective), -1 if none */
    double best_value;
    char best_dir[4400];       /* DIR/best when stage 2 ran */
} nas_search_summary;

/* Runs (or resumes) the job. Every option (and the latency table of
 * lut:FILE) is checked before the study directory is created or the store
 * written: a bad value is NAS_ERR_USAGE (or the table's load error) naming
 * the option and the value, and leaves no study behind. Errors name what
 * failed; a job that stops on max_failed_trials returns NAS_ERR_EXHAUSTED
 * after recording everything. */
nas_status nas_search_run(const nas_search_options *o, nas_search_summary *sum, nas_error *err);

#endif
