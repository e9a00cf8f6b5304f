/*
 * store.h - the study store: one SQLite database per study at DIR/study.db.
 *
 * The store records what a search job needs to survive a crash and what a
 * user reads afterwards (with nas, or with the sqlite3 shell): the job spec,
 * the space source and hash, every trial (point, arch, state, final and
 * intermediate metrics, timings, failure reason, stderr tail), controller
 * state snapshots and a small key/value table (e.g. the supernet checkpoint
 * path). The schema is documented in docs/formats.md.
 *
 * Durability: the database runs in WAL mode with synchronous=NORMAL and a
 * busy timeout. Every state change is one transaction (BEGIN IMMEDIATE ...
 * COMMIT), so a SIGKILL at any moment leaves either the old or the new
 * state. Several calls can be grouped into one transaction with
 * nas_store_begin / nas_store_commit (e.g. "insert the trial the controller
 * proposed" together with "save the controller snapshot").
 *
 * Safety: nas_store_open never modifies a file it does not recognise. A file
 * that is not SQLite, a SQLite database of another application or schema, a
 * newer schema version or a database failing SQLite's quick_check is
 * refused with an error naming the path and the reason.
 *
 * One job per study: a job that writes a study holds its lock
 * (nas_store_lock_acquire, below) for its whole life; readers do not take it.
 * Opening the store does not check the lock: taking it first is the writing
 * job's part.
 *
 * Not here: deciding what to run (controller), running trials (trial.h).
 *
 * Ownership: nas_store_open returns a store freed by nas_store_close;
 * nas_store_lock_acquire returns a lock freed by nas_store_lock_release.
 * Records filled by the store (nas_trial_record) own their strings and are
 * released with nas_trial_record_deinit / nas_trial_records_free. Strings
 * passed in are copied. A store is used by one thread at a time.
 */
#ifndef NAS_SEARCH_STORE_H
#define NAS_SEARCH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "nas/core/pcg32.h"
#include "nas/core/status.h"

/* The schema version written to PRAGMA user_version, and the oldest one
 * still opened. Version 2 has the tables of version 1; its controller rows
 * may be deltas after a whole state, which a nas reading version 1 cannot
 * load. */
#define NAS_STORE_SCHEMA_VERSION 2
#define NAS_STORE_SCHEMA_OLDEST 1
/* PRAGMA application_id of a study database ("NASt"). */
#define NAS_STORE_APPLICATION_ID 0x4E415374

typedef enum nas_trial_state {
    NAS_TRIAL_PENDING = 0, /* inserted, not started (or requeued after a crash) */
    NAS_TRIAL_RUNNING,     /* started by a worker */
    NAS_TRIAL_COMPLETE,    /* finished with metrics */
    NAS_TRIAL_FAILED,      /* finished with a failure reason */
    NAS_TRIAL_PRUNED,      /* stopped early by a stopping rule */
    NAS_TRIAL_STATE_COUNT
} nas_trial_state;

/* "pending", "running", "complete", "failed", "pruned" (static). */
const char *nas_trial_state_name(nas_trial_state s);
/* Parses a state name; NAS_ERR_INVALID for an unknown one. */
nas_status nas_trial_state_from_name(const char *name, nas_trial_state *out, nas_error *err);

/* What identifies a study. All strings are required (may be empty strings,
 * not NULL). spec_json must be a JSON object. */
typedef struct nas_store_study {
    const char *spec_json;    /* the job spec, a JSON object */
    const char *space_source; /* the .nas source text */
    const char *space_name;
    const char *space_hash;
    /* Top-level spec keys not compared when reopening (e.g. "max_trials",
     * "time_budget"): NULL-terminated list, or NULL. */
    const char *const *ignore_keys;
} nas_store_study;

typedef struct nas_store nas_store;

/* Opens DIR/study.db.
 *   study != NULL: creates DIR (mkdir -p) and the study when absent; when the
 *     study exists, refuses it (NAS_ERR_MISMATCH) if it was made for another
 *     space hash, or if its spec differs from study->spec_json: the message
 *     names every differing key ("'seed' is 1 in the study, 2 now").
 *   study == NULL: opens an existing study only (resume, reports);
 *     NAS_ERR_IO when DIR/study.db does not exist.
 * A file that is not a nas study is NAS_ERR_FORMAT and is left untouched. */
nas_status nas_store_open(const char *dir, const nas_store_study *study, nas_store **out,
                          nas_error *err);

/* Brings a study of an older schema version to NAS_STORE_SCHEMA_VERSION
 * (from 1: the version number only, no table changes). The job that writes
 * the study calls it after taking the lock and opening the store, before it
 * writes anything else; readers leave the version alone. */
nas_status nas_store_upgrade(nas_store *st, nas_error *err);
/* Closes the database (checkpointing the WAL). NULL is allowed. */
void nas_store_close(nas_store *st);

/* The path of the database file (owned by the store). */
const char *nas_store_path(const nas_store *st);
/* The stored study (owned by the store, valid until close). */
const char *nas_store_spec_json(const nas_store *st);
const char *nas_store_space_source(const nas_store *st);
const char *nas_store_space_name(const nas_store *st);
const char *nas_store_space_hash(const nas_store *st);
/* Creation time (Unix seconds). */
double nas_store_created_at(const nas_store *st);

/* Sets top-level keys of the stored job spec to those of patch_json (a JSON
 * object), adding the absent ones, in one transaction; nas_store_spec_json
 * returns the new spec after it. Nothing is written when nothing changes. For
 * the keys a job may change on resume (the limits): the caller keeps the
 * rest of the spec the study's. */
nas_status nas_store_spec_merge(nas_store *st, const char *patch_json, nas_error *err);

/* Study status: "running", "finished", "failed", "stopped" or any short word the
 * search loop chooses. get returns a malloc'd copy (caller frees). */
nas_status nas_store_set_status(nas_store *st, const char *status, nas_error *err);
nas_status nas_store_get_status(nas_store *st, char **status, nas_error *err);

/* Explicit transactions. Calls made between begin and commit join the one
 * transaction (each call still rolls back its own part when it fails; the
 * caller then decides to commit what succeeded or to roll back all).
 * Nesting is allowed (inner levels are savepoints). */
nas_status nas_store_begin(nas_store *st, nas_error *err);
nas_status nas_store_commit(nas_store *st, nas_error *err);
nas_status nas_store_rollback(nas_store *st, nas_error *err);

/* ---- trials ---- */

/* One intermediate (or final) value of one metric. */
typedef struct nas_metric_step {
    const char *metric;
    int64_t step;
    double value;
} nas_metric_step;

typedef struct nas_trial_record {
    int64_t id;          /* rowid, stable */
    int64_t number;      /* 0, 1, 2, ... in insertion order */
    nas_trial_state state;
    char *point_json;    /* never NULL */
    char *point_hash;    /* never NULL */
    char *arch_json;     /* NULL when not stored */
    char *metrics_json;  /* final metrics {"name": value}; NULL unless complete/pruned */
    char *fail_reason;   /* failed / pruned: the reason; else NULL */
    char *stderr_tail;   /* NULL when none */
    char *trial_dir;     /* NULL until started */
    double created_at;   /* Unix seconds */
    double started_at;   /* 0 when never started */
    double finished_at;  /* 0 when not finished */
    int64_t worker_pid;  /* 0 when not running */
    int attempts;        /* number of times the trial was started */
} nas_trial_record;

/* Frees the strings of one record and zeroes it. */
void nas_trial_record_deinit(nas_trial_record *r);
/* Frees an array from nas_store_trial_list (n records). NULL is allowed. */
void nas_trial_records_free(nas_trial_record *r, size_t n);

/* Inserts a pending trial; *id and *number (either may be NULL) receive its
 * rowid and number. point_hash is the canonical point's hash (text, e.g. 16
 * hex digits) and is unique: a second trial with the same hash is refused
 * with NAS_ERR_INVALID naming the trial that holds it. arch_json may be NULL. */
nas_status nas_store_trial_insert(nas_store *st, const char *point_json, const char *point_hash,
                                  const char *arch_json, int64_t *id, int64_t *number,
                                  nas_error *err);

/* pending -> running: records the worker pid, the trial dir and the start
 * time, and counts an attempt. Refused (NAS_ERR_INVALID) from another state. */
nas_status nas_store_trial_start(nas_store *st, int64_t id, int64_t pid, const char *trial_dir,
                                 nas_error *err);

/* running (or pending) -> complete, with the final metrics (a JSON object of
 * numbers) and, in the same transaction, n intermediate values (may be 0). */
nas_status nas_store_trial_complete(nas_store *st, int64_t id, const char *metrics_json,
                                    const nas_metric_step *values, size_t n, nas_error *err);

/* running (or pending) -> failed with a reason (required) and the stderr
 * tail (may be NULL). */
nas_status nas_store_trial_fail(nas_store *st, int64_t id, const char *reason,
                                const char *stderr_tail, nas_error *err);

/* running (or pending) -> pruned with a reason (required), the metrics seen
 * so far (may be NULL) and n intermediate values. */
nas_status nas_store_trial_prune(nas_store *st, int64_t id, const char *reason,
                                 const char *metrics_json, const nas_metric_step *values,
                                 size_t n, nas_error *err);

/* Records one intermediate value of a running trial (replaces the value
 * already stored for the same metric and step). */
nas_status nas_store_trial_add_value(nas_store *st, int64_t id, const char *metric, int64_t step,
                                     double value, nas_error *err);

/* The intermediate values of one trial (metric NULL: all metrics), ordered
 * by metric then step. *out is malloc'd with its strings in one block: free
 * it with free(). */
nas_status nas_store_trial_values(nas_store *st, int64_t id, const char *metric,
                                  nas_metric_step **out, size_t *n, nas_error *err);

/* Fills *out with trial `id`. NAS_ERR_INVALID when there is no such trial. */
nas_status nas_store_trial_get(nas_store *st, int64_t id, nas_trial_record *out, nas_error *err);

/* Bit mask of states for listing: (1u << NAS_TRIAL_COMPLETE) | ...; 0 = all. */
typedef unsigned nas_state_mask;

/* Calls visit for every trial whose state is in mask, in number order. The
 * record and its strings are valid during the call only. A non-zero return
 * stops the walk. */
typedef int (*nas_trial_visit)(void *user, const nas_trial_record *r);
nas_status nas_store_trial_each(nas_store *st, nas_state_mask mask, nas_trial_visit visit,
                                void *user, nas_error *err);

/* The same as an array (caller frees with nas_trial_records_free). */
nas_status nas_store_trial_list(nas_store *st, nas_state_mask mask, nas_trial_record **out,
                                size_t *n, nas_error *err);

/* counts[s] = number of trials in state s, for every state. */
nas_status nas_store_trial_counts(nas_store *st, int64_t counts[NAS_TRIAL_STATE_COUNT],
                                  nas_error *err);

/* Finds the trial with this point hash: *found = 1 and *out filled, or
 * *found = 0 (out untouched). */
nas_status nas_store_trial_find(nas_store *st, const char *point_hash, nas_trial_record *out,
                                int *found, nas_error *err);

/* The complete trial with the best numeric value of `metric` in its final
 * metrics (maximize or minimize; ties go to the lower number). *found = 0
 * when no complete trial reported the metric. */
nas_status nas_store_trial_best(nas_store *st, const char *metric, int maximize,
                                nas_trial_record *out, int *found, nas_error *err);

/* Resume: every running trial (whose process died with the job) goes back
 * to pending, its worker pid, start time and intermediate values cleared,
 * in one transaction. *n (may be NULL) receives how many. Callers that want
 * to kill orphaned trial processes list the running trials (worker_pid)
 * before calling this. */
nas_status nas_store_requeue_running(nas_store *st, int64_t *n, nas_error *err);

/* ---- controller snapshots ---- */

/* Saves a part of the controller state (len bytes, len may be 0), the
 * generator state and the number of trials proposed when it was taken.
 * append = 0: the part is a whole state and replaces every stored part;
 * append = 1: it is a delta, kept after the parts stored before it. */
nas_status nas_store_snapshot_save(nas_store *st, const void *state, size_t len,
                                   const pcg32 *rng, int64_t n_trials, int append, nas_error *err);

/* The stored controller state: its parts oldest first (a whole state, then
 * deltas; n = 0 when nothing was saved), the generator state and trial
 * count of the newest part. */
typedef struct nas_store_snapshot {
    int n;
    unsigned char **parts; /* n malloc'd buffers (non-NULL even when empty) */
    size_t *lens;
    pcg32 rng;
    int64_t n_trials;
} nas_store_snapshot;

/* Loads every part into *snap (free it with nas_store_snapshot_free, also
 * after an error). */
nas_status nas_store_snapshot_load(nas_store *st, nas_store_snapshot *snap, nas_error *err);
void nas_store_snapshot_free(nas_store_snapshot *snap);

/* ---- one job per study ----
 *
 * The lock is an exclusive flock(2) on DIR/study.lock, a small text file
 * holding the pid of the job that last took it (the file stays; only the
 * flock says whether a job runs). The kernel drops the lock when the holder
 * exits however it ends, SIGKILL included, so a stale lock never blocks a
 * resume. The lock's descriptor is close-on-exec: a trial program the job
 * starts (fork + exec) does not keep it, so a program orphaned by a killed
 * job does not block the next one. A child holds a copy only between fork
 * and exec; for a job killed in that moment, acquiring waits for the child
 * when the recorded holder no longer exists. The lock belongs to an open
 * file description, not a process: two acquisitions in one process exclude
 * each other too. */

typedef struct nas_store_lock nas_store_lock;

/* Takes the lock of study directory dir (which must exist), creating
 * DIR/study.lock when absent. When a live job holds it: NAS_ERR_BUSY "study
 * DIR is in use by another job (pid N)" at once. When the pid recorded in
 * the file is gone but the lock is still held (a child of a killed job
 * between fork and exec), waits up to 5 s for its release first. NAS_ERR_IO
 * when dir does not exist or the file cannot be opened or locked. */
nas_status nas_store_lock_acquire(const char *dir, nas_store_lock **out, nas_error *err);
/* Releases the lock (DIR/study.lock stays). NULL is allowed. */
void nas_store_lock_release(nas_store_lock *lk);
/* Whether a job holds the lock of study dir now, without taking it (a
 * reader's question: a study whose stored status is "running" but whose
 * lock is free was killed or stopped). 1 held, 0 free (or no lock file),
 * -1 unknown (no /proc/locks). */
int nas_store_lock_held(const char *dir);

/* ---- key/value ---- */

nas_status nas_store_kv_set(nas_store *st, const char *key, const char *value, nas_error *err);
/* *value is a malloc'd copy (caller frees), or NULL when the key is absent. */
nas_status nas_store_kv_get(nas_store *st, const char *key, char **value, nas_error *err);

#endif
