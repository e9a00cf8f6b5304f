/*
 * store.c - the study store on SQLite (see store.h and docs/formats.md).
 *
 * Opening validates before it writes: the header bytes, the application id,
 * the schema version, the tables and columns this code reads, quick_check and
 * the study row are all checked with reads only, so a foreign or damaged file
 * is refused byte-identical. Every mutating call runs inside txn_begin /
 * txn_end: a BEGIN IMMEDIATE transaction, or a savepoint when the caller
 * already opened one with nas_store_begin. Statements are prepared once per
 * store and reused (preparing costs more than running most of them).
 *
 * Not here: running trials, choosing points, reports.
 */
#define _POSIX_C_SOURCE 200809L
#include "nas/search/store.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nas/core/fileio.h"

/* More than the distinct statements this file runs; past it, statements
 * are prepared per use. */
#define STMT_CACHE 40

typedef struct cached_stmt {
    sqlite3_stmt *q;
    size_t len;  /* strlen of its SQL */
    int in_use;  /* handed out by prepare, not yet released */
} cached_stmt;

struct nas_store {
    sqlite3 *db;
    char *path;
    int depth; /* open transaction levels (0: none) */
    int64_t version; /* the schema version (PRAGMA user_version) */
    char *spec_json, *space_source, *space_name, *space_hash;
    double created_at;
    int n_stmts;
    cached_stmt stmts[STMT_CACHE];
};

static const char *const STATE_NAMES[NAS_TRIAL_STATE_COUNT] = {"pending", "running", "complete",
                                                               "failed", "pruned"};

const char *nas_trial_state_name(nas_trial_state s) {
    if ((int)s < 0 || s >= NAS_TRIAL_STATE_COUNT) return "unknown";
    return STATE_NAMES[s];
}

nas_status nas_trial_state_from_name(const char *name, nas_trial_state *out, nas_error *err) {
    for (int i = 0; i < NAS_TRIAL_STATE_COUNT; i++) {
        if (name && strcmp(name, STATE_NAMES[i]) == 0) {
            *out = (nas_trial_state)i;
            return NAS_OK;
        }
    }
    return NAS_FAIL(err, NAS_ERR_INVALID,
                    "unknown trial state '%s' (expected pending, running, complete, failed or "
                    "pruned)",
                    name ? name : "(null)");
}

/* ---- schema ---- */

static const char SCHEMA_SQL[] =
    "CREATE TABLE study (\n"
    "  id           INTEGER PRIMARY KEY CHECK (id = 1),\n"
    "  space_name   TEXT NOT NULL,\n"
    "  space_hash   TEXT NOT NULL,\n"
    "  space_source TEXT NOT NULL,\n"
    "  spec_json    TEXT NOT NULL,\n"
    "  created_at   REAL NOT NULL,\n"
    "  status       TEXT NOT NULL\n"
    ");\n"
    "CREATE TABLE trials (\n"
    "  id           INTEGER PRIMARY KEY,\n"
    "  number       INTEGER NOT NULL UNIQUE,\n"
    "  state        TEXT NOT NULL CHECK (state IN\n"
    "                 ('pending','running','complete','failed','pruned')),\n"
    "  point_json   TEXT NOT NULL,\n"
    "  point_hash   TEXT NOT NULL,\n"
    "  arch_json    TEXT,\n"
    "  metrics_json TEXT,\n"
    "  fail_reason  TEXT,\n"
    "  stderr_tail  TEXT,\n"
    "  trial_dir    TEXT,\n"
    "  created_at   REAL NOT NULL,\n"
    "  started_at   REAL,\n"
    "  finished_at  REAL,\n"
    "  worker_pid   INTEGER,\n"
    "  attempts     INTEGER NOT NULL DEFAULT 0,\n"
    "  CHECK (state <> 'complete' OR (metrics_json IS NOT NULL AND finished_at IS NOT NULL)),\n"
    "  CHECK (state NOT IN ('failed','pruned') OR (fail_reason IS NOT NULL\n"
    "                                             AND finished_at IS NOT NULL))\n"
    ");\n"
    "CREATE UNIQUE INDEX trials_point_hash ON trials(point_hash);\n"
    "CREATE INDEX trials_state ON trials(state);\n"
    "CREATE TABLE trial_values (\n"
    "  trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,\n"
    "  metric   TEXT NOT NULL,\n"
    "  step     INTEGER NOT NULL,\n"
    "  value    REAL NOT NULL,\n"
    "  PRIMARY KEY (trial_id, metric, step)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX trial_values_metric_step ON trial_values(metric, step);\n"
    "CREATE TABLE controller_snapshots (\n"
    "  id         INTEGER PRIMARY KEY,\n"
    "  created_at REAL NOT NULL,\n"
    "  n_trials   INTEGER NOT NULL,\n"
    "  rng_state  INTEGER NOT NULL,\n"
    "  rng_inc    INTEGER NOT NULL,\n"
    "  state      BLOB NOT NULL\n"
    ");\n"
    "CREATE TABLE kv (\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ");\n";

/* Reads of every table and column this code uses: preparing them checks an
 * existing database's schema without touching it. */
static const char *const SCHEMA_PROBES[] = {
    "SELECT id, space_name, space_hash, space_source, spec_json, created_at, status FROM study",
    "SELECT id, number, state, point_json, point_hash, arch_json, metrics_json, fail_reason, "
    "stderr_tail, trial_dir, created_at, started_at, finished_at, worker_pid, attempts FROM trials",
    "SELECT trial_id, metric, step, value FROM trial_values",
    "SELECT id, created_at, n_trials, rng_state, rng_inc, state FROM controller_snapshots",
    "SELECT key, value FROM kv",
    NULL};

#define TRIAL_COLUMNS                                                                              \
    "id, number, state, point_json, point_hash, arch_json, metrics_json, fail_reason, "           \
    "stderr_tail, trial_dir, created_at, started_at, finished_at, worker_pid, attempts"

/* ---- small helpers ---- */

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static nas_status db_fail(nas_store *st, nas_error *err, const char *what) {
    return NAS_FAIL(err, NAS_ERR_DB, "%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

static nas_status exec_sql(nas_store *st, const char *sql, nas_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        nas_status s = NAS_FAIL(err, NAS_ERR_DB, "%s: %s: %s", st->path, sql,
                                msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return s;
    }
    return NAS_OK;
}

/* A statement for sql, reset and unbound: the store's cached one, or a new
 * one (kept when there is room). A statement in use is never handed out
 * twice (a nested use of the same SQL gets another). Give it back with
 * release. */
static nas_status prepare(nas_store *st, const char *sql, sqlite3_stmt **stmt, nas_error *err) {
    size_t len = strlen(sql);
    for (int i = 0; i < st->n_stmts; i++) {
        cached_stmt *c = &st->stmts[i];
        if (!c->in_use && c->len == len && memcmp(sqlite3_sql(c->q), sql, len) == 0) {
            c->in_use = 1;
            *stmt = c->q;
            return NAS_OK;
        }
    }
    int keep = st->n_stmts < STMT_CACHE;
    unsigned flags = keep ? SQLITE_PREPARE_PERSISTENT : 0;
    if (sqlite3_prepare_v3(st->db, sql, -1, flags, stmt, NULL) != SQLITE_OK) {
        *stmt = NULL;
        return db_fail(st, err, "prepare");
    }
    if (keep) st->stmts[st->n_stmts++] = (cached_stmt){*stmt, len, 1};
    return NAS_OK;
}

/* Gives back a statement from prepare (NULL is allowed): a cached one is
 * reset and unbound, another one finalized. */
static void release(nas_store *st, sqlite3_stmt *q) {
    if (!q) return;
    for (int i = 0; i < st->n_stmts; i++) {
        if (st->stmts[i].q == q) {
            sqlite3_reset(q);
            sqlite3_clear_bindings(q);
            st->stmts[i].in_use = 0;
            return;
        }
    }
    sqlite3_finalize(q);
}

/* Runs one statement that returns no rows, through the cache. */
static nas_status run_sql(nas_store *st, const char *sql, nas_error *err) {
    sqlite3_stmt *q = NULL;
    nas_status s = prepare(st, sql, &q, err);
    if (s != NAS_OK) return s;
    if (sqlite3_step(q) != SQLITE_DONE)
        s = NAS_FAIL(err, NAS_ERR_DB, "%s: %s: %s", st->path, sql, sqlite3_errmsg(st->db));
    release(st, q);
    return s;
}

static int bind_text(sqlite3_stmt *q, int i, const char *s) {
    if (!s) return sqlite3_bind_null(q, i);
    return sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
}

/* Runs a statement that returns no rows. Releases it. */
static nas_status step_done(nas_store *st, sqlite3_stmt *q, const char *what, nas_error *err) {
    int rc = sqlite3_step(q);
    nas_status s = NAS_OK;
    if (rc != SQLITE_DONE) s = db_fail(st, err, what);
    release(st, q);
    return s;
}

/* ---- transactions ---- */

static nas_status txn_begin(nas_store *st, nas_error *err) {
    nas_status s = run_sql(st, st->depth == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT nas_sp", err);
    if (s == NAS_OK) st->depth++;
    return s;
}

static nas_status txn_commit(nas_store *st, nas_error *err) {
    if (st->depth <= 0) return NAS_FAIL(err, NAS_ERR_INVALID, "%s: commit without begin", st->path);
    nas_status s = run_sql(st, st->depth == 1 ? "COMMIT" : "RELEASE nas_sp", err);
    if (s == NAS_OK) {
        st->depth--;
    } else if (st->depth == 1) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        st->depth = 0;
    }
    return s;
}

/* Undoes the innermost level; keeps the caller's error (err is not touched). */
static void txn_rollback(nas_store *st) {
    if (st->depth <= 0) return;
    if (st->depth == 1)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    else
        sqlite3_exec(st->db, "ROLLBACK TO nas_sp; RELEASE nas_sp", NULL, NULL, NULL);
    st->depth--;
}

nas_status nas_store_begin(nas_store *st, nas_error *err) { return txn_begin(st, err); }
nas_status nas_store_commit(nas_store *st, nas_error *err) { return txn_commit(st, err); }
nas_status nas_store_rollback(nas_store *st, nas_error *err) {
    if (st->depth <= 0)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: rollback without begin", st->path);
    txn_rollback(st);
    return NAS_OK;
}

/* ---- opening ---- */

/* Reads one integer from a single-row query; NAS_ERR_FORMAT on failure. */
static nas_status query_int(nas_store *st, const char *sql, int64_t *v, nas_error *err) {
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        nas_status s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: corrupt or not a SQLite database (%s); it was left untouched",
                                st->path, sqlite3_errmsg(st->db));
        sqlite3_finalize(q);
        return s;
    }
    *v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return NAS_OK;
}

/* 1 when the first bytes of path are the SQLite header, 0 when not, and 2
 * for an empty (0-byte) file. */
static int sqlite_header_kind(const char *path, off_t size) {
    if (size == 0) return 2;
    static const char magic[16] = "SQLite format 3";
    char head[16];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    return got == sizeof head && memcmp(head, magic, sizeof head) == 0;
}

/* Checks an existing, non-empty database using reads only. *empty = 1 when it
 * holds no schema at all (a study whose creation never committed). */
static nas_status validate_existing(nas_store *st, int *empty, nas_error *err) {
    int64_t app_id = 0, version = 0, n_objects = 0;
    nas_status s;
    *empty = 0;
    if ((s = query_int(st, "PRAGMA application_id", &app_id, err)) != NAS_OK) return s;
    if ((s = query_int(st, "PRAGMA user_version", &version, err)) != NAS_OK) return s;
    if ((s = query_int(st, "SELECT count(*) FROM sqlite_master", &n_objects, err)) != NAS_OK)
        return s;
    if (app_id == 0 && version == 0 && n_objects == 0) {
        *empty = 1;
        return NAS_OK;
    }
    if (app_id != NAS_STORE_APPLICATION_ID)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: a SQLite database of another application (application_id 0x%llx, "
                        "%lld schema objects), not a nas study; it was left untouched",
                        st->path, (unsigned long long)(uint32_t)app_id, (long long)n_objects);
    if (version > NAS_STORE_SCHEMA_VERSION)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: study schema version %lld is newer than this nas supports (%d); "
                        "it was left untouched",
                        st->path, (long long)version, NAS_STORE_SCHEMA_VERSION);
    if (version < NAS_STORE_SCHEMA_OLDEST)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: unknown study schema version %lld (expected %d..%d); it was left "
                        "untouched",
                        st->path, (long long)version, NAS_STORE_SCHEMA_OLDEST, NAS_STORE_SCHEMA_VERSION);
    st->version = version;
    for (int i = 0; SCHEMA_PROBES[i]; i++) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(st->db, SCHEMA_PROBES[i], -1, &q, NULL) != SQLITE_OK) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT,
                         "%s: corrupt study schema (%s); it was left untouched", st->path,
                         sqlite3_errmsg(st->db));
            sqlite3_finalize(q);
            return s;
        }
        sqlite3_finalize(q);
    }
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_ROW) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: corrupt database (%s); it was left untouched",
                     st->path, sqlite3_errmsg(st->db));
        sqlite3_finalize(q);
        return s;
    }
    const char *res = (const char *)sqlite3_column_text(q, 0);
    if (!res || strcmp(res, "ok") != 0) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT,
                     "%s: corrupt database (quick_check: %s); it was left untouched", st->path,
                     res ? res : "no result");
        sqlite3_finalize(q);
        return s;
    }
    sqlite3_finalize(q);
    return NAS_OK;
}

static nas_status create_schema(nas_store *st, const nas_store_study *study, nas_error *err) {
    nas_status s;
    char pragmas[128];
    if ((s = exec_sql(st, "PRAGMA journal_mode=WAL", err)) != NAS_OK) return s;
    if ((s = txn_begin(st, err)) != NAS_OK) return s;
    if ((s = exec_sql(st, SCHEMA_SQL, err)) != NAS_OK) goto fail;
    snprintf(pragmas, sizeof pragmas, "PRAGMA application_id=%d; PRAGMA user_version=%d",
             NAS_STORE_APPLICATION_ID, NAS_STORE_SCHEMA_VERSION);
    if ((s = exec_sql(st, pragmas, err)) != NAS_OK) goto fail;
    st->version = NAS_STORE_SCHEMA_VERSION;
    sqlite3_stmt *q = NULL;
    if ((s = prepare(st,
                     "INSERT INTO study(id, space_name, space_hash, space_source, spec_json, "
                     "created_at, status) VALUES (1, ?, ?, ?, ?, ?, 'created')",
                     &q, err)) != NAS_OK)
        goto fail;
    bind_text(q, 1, study->space_name);
    bind_text(q, 2, study->space_hash);
    bind_text(q, 3, study->space_source);
    bind_text(q, 4, study->spec_json);
    sqlite3_bind_double(q, 5, wall_now());
    if ((s = step_done(st, q, "create the study", err)) != NAS_OK) goto fail;
    return txn_commit(st, err);
fail:
    txn_rollback(st);
    return s;
}

static nas_status load_study(nas_store *st, nas_error *err) {
    sqlite3_stmt *q = NULL;
    nas_status s = prepare(st,
                           "SELECT spec_json, space_source, space_name, space_hash, created_at "
                           "FROM study WHERE id = 1",
                           &q, err);
    if (s != NAS_OK) return s;
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        s = rc == SQLITE_DONE
                ? NAS_FAIL(err, NAS_ERR_FORMAT, "%s: corrupt study: the study row is missing",
                           st->path)
                : db_fail(st, err, "read the study");
        goto fail;
    }
    for (int i = 0; i < 4; i++) {
        if (sqlite3_column_type(q, i) != SQLITE_TEXT) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: corrupt study: column %s is not text",
                         st->path, sqlite3_column_name(q, i));
            goto fail;
        }
    }
    st->spec_json = dup_str((const char *)sqlite3_column_text(q, 0));
    st->space_source = dup_str((const char *)sqlite3_column_text(q, 1));
    st->space_name = dup_str((const char *)sqlite3_column_text(q, 2));
    st->space_hash = dup_str((const char *)sqlite3_column_text(q, 3));
    st->created_at = sqlite3_column_double(q, 4);
    if (!st->spec_json || !st->space_source || !st->space_name || !st->space_hash) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
        goto fail;
    }
    release(st, q);
    return NAS_OK;
fail:
    release(st, q);
    return s;
}

/* Appends "; " and a formatted part to a fixed buffer (truncating). */
static void buf_add(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void buf_add(char *buf, size_t cap, const char *fmt, ...) {
    size_t n = strlen(buf);
    if (n + 1 >= cap) return;
    if (n > 0) {
        snprintf(buf + n, cap - n, "; ");
        n = strlen(buf);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

/* A short rendering of a JSON value (cut at 60 characters). */
static void json_short(const cJSON *v, char *out, size_t cap) {
    if (!v) {
        snprintf(out, cap, "absent");
        return;
    }
    char *text = cJSON_PrintUnformatted(v);
    if (!text) {
        snprintf(out, cap, "?");
        return;
    }
    if (strlen(text) > 60)
        snprintf(out, cap, "%.57s...", text);
    else
        snprintf(out, cap, "%s", text);
    cJSON_free(text);
}

static int key_ignored(const char *key, const char *const *ignore) {
    for (; ignore && *ignore; ignore++)
        if (strcmp(*ignore, key) == 0) return 1;
    return 0;
}

/* Lists the keys where a (stored) and b (given) differ into buf, recursing
 * into objects ("a.b"). Returns the number of differences. */
static int spec_diff(const cJSON *a, const cJSON *b, const char *prefix, const char *const *ignore,
                     char *buf, size_t cap) {
    int n = 0;
    char path[256], va[72], vb[72];
    const cJSON *it;
    for (int pass = 0; pass < 2; pass++) {
        const cJSON *self = pass == 0 ? a : b;
        cJSON_ArrayForEach(it, self) {
            const char *key = it->string ? it->string : "";
            const cJSON *other = cJSON_GetObjectItemCaseSensitive(pass == 0 ? b : a, key);
            if (!prefix[0] && key_ignored(key, ignore)) continue;
            if (pass == 1 && other) continue; /* already compared in pass 0 */
            snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", key);
            const cJSON *sa = pass == 0 ? it : other, *sb = pass == 0 ? other : it;
            if (sa && sb && cJSON_IsObject(sa) && cJSON_IsObject(sb)) {
                n += spec_diff(sa, sb, path, ignore, buf, cap);
                continue;
            }
            if (sa && sb && cJSON_Compare(sa, sb, 1)) continue;
            json_short(sa, va, sizeof va);
            json_short(sb, vb, sizeof vb);
            buf_add(buf, cap, "'%s' is %s in the study, %s now", path, va, vb);
            n++;
        }
    }
    return n;
}

static nas_status check_match(nas_store *st, const nas_store_study *study, nas_error *err) {
    if (strcmp(st->space_hash, study->space_hash) != 0)
        return NAS_FAIL(err, NAS_ERR_MISMATCH,
                        "%s: this study was created for space '%s' (hash %s), not for space "
                        "'%s' (hash %s); use another study directory",
                        st->path, st->space_name, st->space_hash, study->space_name,
                        study->space_hash);
    cJSON *a = cJSON_Parse(st->spec_json), *b = cJSON_Parse(study->spec_json);
    nas_status s = NAS_OK;
    if (!cJSON_IsObject(a)) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: corrupt study: the stored job spec is not a JSON "
                                          "object", st->path);
    } else if (!cJSON_IsObject(b)) {
        s = NAS_FAIL(err, NAS_ERR_INVALID, "%s: the job spec given is not a JSON object",
                     st->path);
    } else {
        char diffs[768] = "";
        int n = spec_diff(a, b, "", study->ignore_keys, diffs, sizeof diffs);
        if (n > 0)
            s = NAS_FAIL(err, NAS_ERR_MISMATCH,
                         "%s: this study was created with another job spec (%d difference%s: "
                         "%s); use another study directory or the same settings",
                         st->path, n, n == 1 ? "" : "s", diffs);
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    return s;
}

nas_status nas_store_open(const char *dir, const nas_store_study *study, nas_store **out,
                          nas_error *err) {
    nas_status s = NAS_OK;
    int validated = 0, had_wal = 1, had_shm = 1;
    char *wal_path = NULL, *shm_path = NULL;
    *out = NULL;
    nas_store *st = calloc(1, sizeof *st);
    if (!st) return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", dir);
    size_t n = strlen(dir) + sizeof "/study.db";
    st->path = malloc(n);
    if (!st->path) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", dir);
        goto fail;
    }
    snprintf(st->path, n, "%s/study.db", dir);
    if (study) {
        if (!study->spec_json || !study->space_source || !study->space_name ||
            !study->space_hash) {
            s = NAS_FAIL(err, NAS_ERR_INVALID, "%s: the study needs a spec, a space source, "
                                               "name and hash", st->path);
            goto fail;
        }
        cJSON *spec = cJSON_Parse(study->spec_json);
        int ok = cJSON_IsObject(spec);
        cJSON_Delete(spec);
        if (!ok) {
            s = NAS_FAIL(err, NAS_ERR_INVALID, "%s: the job spec is not a JSON object", st->path);
            goto fail;
        }
        if ((s = nas_mkdir_p(dir, err)) != NAS_OK) goto fail;
    }
    struct stat sb;
    int exists = stat(st->path, &sb) == 0;
    if (!exists && errno != ENOENT) {
        s = NAS_FAIL(err, NAS_ERR_IO, "%s: %s", st->path, strerror(errno));
        goto fail;
    }
    if (!exists && !study) {
        s = NAS_FAIL(err, NAS_ERR_IO, "%s: no study here (no such file)", st->path);
        goto fail;
    }
    if (exists && !S_ISREG(sb.st_mode)) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: not a regular file", st->path);
        goto fail;
    }
    int kind = exists ? sqlite_header_kind(st->path, sb.st_size) : 2;
    if (kind == 0) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT,
                     "%s: not a SQLite database (the file does not start with the SQLite "
                     "header); it was left untouched",
                     st->path);
        goto fail;
    }
    /* Side files SQLite may create while a file is checked; removed again
     * when the file is refused. */
    n = strlen(st->path) + 8;
    if (!(wal_path = malloc(n)) || !(shm_path = malloc(n))) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
        goto fail;
    }
    snprintf(wal_path, n, "%s-wal", st->path);
    snprintf(shm_path, n, "%s-shm", st->path);
    had_wal = nas_path_exists(wal_path);
    had_shm = nas_path_exists(shm_path);
    int flags = SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(st->path, &st->db, flags, NULL) != SQLITE_OK) {
        s = NAS_FAIL(err, NAS_ERR_DB, "%s: cannot open: %s", st->path,
                     st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 10000);
    int empty = 1;
    if (kind == 1 && (s = validate_existing(st, &empty, err)) != NAS_OK) goto fail;
    if (empty) {
        if (!study) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: no study here (empty database)", st->path);
            goto fail;
        }
        if ((s = create_schema(st, study, err)) != NAS_OK) goto fail;
    }
    if ((s = load_study(st, err)) != NAS_OK) goto fail;
    if (!empty && study && (s = check_match(st, study, err)) != NAS_OK) goto fail;
    validated = 1;
    if ((s = exec_sql(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                          "PRAGMA foreign_keys=ON",
                      err)) != NAS_OK)
        goto fail;
    free(wal_path);
    free(shm_path);
    *out = st;
    return NAS_OK;
fail:
    /* A refused file's WAL (if any) must not be checkpointed into it. */
    if (st->db && !validated) sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    int opened = st->db != NULL;
    nas_store_close(st);
    if (opened && !validated) {
        if (!had_wal) unlink(wal_path);
        if (!had_shm) unlink(shm_path);
    }
    free(wal_path);
    free(shm_path);
    return s;
}

void nas_store_close(nas_store *st) {
    if (!st) return;
    if (st->db) {
        while (st->depth > 0) txn_rollback(st);
        for (int i = 0; i < st->n_stmts; i++) sqlite3_finalize(st->stmts[i].q);
        sqlite3_close_v2(st->db);
    }
    free(st->path);
    free(st->spec_json);
    free(st->space_source);
    free(st->space_name);
    free(st->space_hash);
    free(st);
}

const char *nas_store_path(const nas_store *st) { return st->path; }
const char *nas_store_spec_json(const nas_store *st) { return st->spec_json; }
const char *nas_store_space_source(const nas_store *st) { return st->space_source; }
const char *nas_store_space_name(const nas_store *st) { return st->space_name; }
const char *nas_store_space_hash(const nas_store *st) { return st->space_hash; }
double nas_store_created_at(const nas_store *st) { return st->created_at; }

nas_status nas_store_set_status(nas_store *st, const char *status, nas_error *err) {
    if (!status || !status[0])
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: empty study status", st->path);
    nas_status s = txn_begin(st, err);
    if (s != NAS_OK) return s;
    sqlite3_stmt *q = NULL;
    if ((s = prepare(st, "UPDATE study SET status = ? WHERE id = 1", &q, err)) != NAS_OK) goto fail;
    bind_text(q, 1, status);
    if ((s = step_done(st, q, "set the study status", err)) != NAS_OK) goto fail;
    return txn_commit(st, err);
fail:
    txn_rollback(st);
    return s;
}

nas_status nas_store_spec_merge(nas_store *st, const char *patch_json, nas_error *err) {
    cJSON *spec = cJSON_Parse(st->spec_json), *patch = cJSON_Parse(patch_json);
    char *text = NULL;
    nas_status s = NAS_OK;
    if (!cJSON_IsObject(patch)) {
        s = NAS_FAIL(err, NAS_ERR_INVALID, "%s: the job spec keys to set are not a JSON object", st->path);
        goto done;
    }
    if (!cJSON_IsObject(spec)) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: corrupt study: the stored job spec is not a JSON object", st->path);
        goto done;
    }
    for (cJSON *e = patch->child; e; e = e->next) {
        cJSON *v = cJSON_Duplicate(e, 1);
        int ok = v != NULL;
        if (ok && cJSON_GetObjectItemCaseSensitive(spec, e->string))
            ok = cJSON_ReplaceItemInObjectCaseSensitive(spec, e->string, v);
        else if (ok)
            ok = cJSON_AddItemToObject(spec, e->string, v);
        if (!ok) {
            cJSON_Delete(v);
            s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
            goto done;
        }
    }
    if (!(text = cJSON_PrintUnformatted(spec))) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
        goto done;
    }
    if (!strcmp(text, st->spec_json)) goto done; /* nothing changes: nothing written */
    char *copy = dup_str(text);
    if (!copy) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
        goto done;
    }
    if ((s = txn_begin(st, err)) != NAS_OK) {
        free(copy);
        goto done;
    }
    sqlite3_stmt *q = NULL;
    if ((s = prepare(st, "UPDATE study SET spec_json = ? WHERE id = 1", &q, err)) == NAS_OK) {
        bind_text(q, 1, copy);
        s = step_done(st, q, "update the job spec", err);
    }
    if (s != NAS_OK) txn_rollback(st);
    else s = txn_commit(st, err);
    if (s != NAS_OK) {
        free(copy);
        goto done;
    }
    free(st->spec_json);
    st->spec_json = copy;
done:
    cJSON_free(text);
    cJSON_Delete(spec);
    cJSON_Delete(patch);
    return s;
}

nas_status nas_store_get_status(nas_store *st, char **status, nas_error *err) {
    *status = NULL;
    sqlite3_stmt *q = NULL;
    nas_status s = prepare(st, "SELECT status FROM study WHERE id = 1", &q, err);
    if (s != NAS_OK) return s;
    if (sqlite3_step(q) != SQLITE_ROW) {
        s = db_fail(st, err, "read the study status");
    } else {
        *status = dup_str((const char *)sqlite3_column_text(q, 0));
        if (!*status) s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
    }
    release(st, q);
    return s;
}

/* ---- trial records ---- */

void nas_trial_record_deinit(nas_trial_record *r) {
    if (!r) return;
    free(r->point_json);
    free(r->point_hash);
    free(r->arch_json);
    free(r->metrics_json);
    free(r->fail_reason);
    free(r->stderr_tail);
    free(r->trial_dir);
    memset(r, 0, sizeof *r);
}

void nas_trial_records_free(nas_trial_record *r, size_t n) {
    if (!r) return;
    for (size_t i = 0; i < n; i++) nas_trial_record_deinit(&r[i]);
    free(r);
}

/* Fills r from a row of TRIAL_COLUMNS. With copy = 0 the strings point into
 * the statement (valid until the next step). */
static nas_status row_to_record(nas_store *st, sqlite3_stmt *q, nas_trial_record *r, int copy,
                                nas_error *err) {
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(q, 0);
    r->number = sqlite3_column_int64(q, 1);
    const char *state = (const char *)sqlite3_column_text(q, 2);
    nas_status s = nas_trial_state_from_name(state, &r->state, err);
    if (s != NAS_OK) return nas_error_prefix(err, "%s: trial %lld", st->path, (long long)r->id);
    char **fields[] = {&r->point_json,  &r->point_hash,  &r->arch_json, &r->metrics_json,
                       &r->fail_reason, &r->stderr_tail, &r->trial_dir};
    for (int i = 0; i < 7; i++) {
        const char *t = (const char *)sqlite3_column_text(q, 3 + i);
        if (!t) continue;
        *fields[i] = copy ? dup_str(t) : (char *)t;
        if (!*fields[i]) {
            nas_trial_record_deinit(r);
            return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
        }
    }
    r->created_at = sqlite3_column_double(q, 10);
    r->started_at = sqlite3_column_double(q, 11);
    r->finished_at = sqlite3_column_double(q, 12);
    r->worker_pid = sqlite3_column_int64(q, 13);
    r->attempts = sqlite3_column_int(q, 14);
    return NAS_OK;
}

/* Runs a query of TRIAL_COLUMNS with text parameter p1 (may be NULL: not
 * bound) and returns the first row copied into out. */
static nas_status query_one(nas_store *st, const char *sql, const char *p1, int64_t i1,
                            nas_trial_record *out, int *found, nas_error *err) {
    sqlite3_stmt *q = NULL;
    nas_status s = prepare(st, sql, &q, err);
    if (s != NAS_OK) return s;
    if (p1)
        bind_text(q, 1, p1);
    else
        sqlite3_bind_int64(q, 1, i1);
    int rc = sqlite3_step(q);
    *found = 0;
    if (rc == SQLITE_ROW) {
        s = row_to_record(st, q, out, 1, err);
        if (s == NAS_OK) *found = 1;
    } else if (rc != SQLITE_DONE) {
        s = db_fail(st, err, "read a trial");
    }
    release(st, q);
    return s;
}

nas_status nas_store_trial_get(nas_store *st, int64_t id, nas_trial_record *out, nas_error *err) {
    int found = 0;
    nas_status s = query_one(st, "SELECT " TRIAL_COLUMNS " FROM trials WHERE id = ?", NULL, id,
                             out, &found, err);
    if (s == NAS_OK && !found)
        s = NAS_FAIL(err, NAS_ERR_INVALID, "%s: no trial with id %lld", st->path, (long long)id);
    return s;
}

nas_status nas_store_trial_find(nas_store *st, const char *point_hash, nas_trial_record *out,
                                int *found, nas_error *err) {
    return query_one(st, "SELECT " TRIAL_COLUMNS " FROM trials WHERE point_hash = ?", point_hash,
                     0, out, found, err);
}

static int is_json_object(const char *text) {
    cJSON *j = cJSON_Parse(text);
    int ok = cJSON_IsObject(j);
    cJSON_Delete(j);
    return ok;
}

nas_status nas_store_trial_insert(nas_store *st, const char *point_json, const char *point_hash,
                                  const char *arch_json, int64_t *id, int64_t *number,
                                  nas_error *err) {
    if (!point_json || !point_hash || !point_hash[0])
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: a trial needs a point and its hash", st->path);
    nas_status s = txn_begin(st, err);
    if (s != NAS_OK) return s;
    sqlite3_stmt *q = NULL;
    nas_trial_record dup;
    int found = 0;
    if ((s = nas_store_trial_find(st, point_hash, &dup, &found, err)) != NAS_OK) goto fail;
    if (found) {
        s = NAS_FAIL(err, NAS_ERR_INVALID,
                     "%s: duplicate point: trial %lld (%s) already has point hash %s", st->path,
                     (long long)dup.number, nas_trial_state_name(dup.state), point_hash);
        nas_trial_record_deinit(&dup);
        goto fail;
    }
    if ((s = prepare(st,
                     "INSERT INTO trials(number, state, point_json, point_hash, arch_json, "
                     "created_at) VALUES ((SELECT coalesce(max(number) + 1, 0) FROM trials), "
                     "'pending', ?, ?, ?, ?) RETURNING id, number",
                     &q, err)) != NAS_OK)
        goto fail;
    bind_text(q, 1, point_json);
    bind_text(q, 2, point_hash);
    bind_text(q, 3, arch_json);
    sqlite3_bind_double(q, 4, wall_now());
    if (sqlite3_step(q) != SQLITE_ROW) {
        s = db_fail(st, err, "insert a trial");
        goto fail;
    }
    if (id) *id = sqlite3_column_int64(q, 0);
    if (number) *number = sqlite3_column_int64(q, 1);
    if (sqlite3_step(q) != SQLITE_DONE) {
        s = db_fail(st, err, "insert a trial");
        goto fail;
    }
    release(st, q);
    q = NULL;
    return txn_commit(st, err);
fail:
    release(st, q);
    txn_rollback(st);
    return s;
}

/* Reads trial id's state inside the current transaction and checks it is in
 * `allowed` (a state mask); `action` names the change in the error. */
static nas_status check_state(nas_store *st, int64_t id, nas_state_mask allowed, const char *action,
                              nas_error *err) {
    sqlite3_stmt *q = NULL;
    nas_status s = prepare(st, "SELECT state FROM trials WHERE id = ?", &q, err);
    if (s != NAS_OK) return s;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        s = NAS_FAIL(err, NAS_ERR_INVALID, "%s: cannot %s trial id %lld: no such trial",
                     st->path, action, (long long)id);
    } else if (rc != SQLITE_ROW) {
        s = db_fail(st, err, "read a trial state");
    } else {
        nas_trial_state cur = NAS_TRIAL_PENDING;
        const char *name = (const char *)sqlite3_column_text(q, 0);
        s = nas_trial_state_from_name(name, &cur, err);
        if (s == NAS_OK && !(allowed & (1u << cur)))
            s = NAS_FAIL(err, NAS_ERR_INVALID, "%s: cannot %s trial id %lld: it is %s",
                         st->path, action, (long long)id, name);
    }
    release(st, q);
    return s;
}

static nas_status insert_values(nas_store *st, int64_t id, const nas_metric_step *v, size_t n,
                                nas_error *err) {
    if (n == 0) return NAS_OK;
    sqlite3_stmt *q = NULL;
    nas_status s = prepare(st,
                           "INSERT OR REPLACE INTO trial_values(trial_id, metric, step, value) "
                           "VALUES (?, ?, ?, ?)",
                           &q, err);
    if (s != NAS_OK) return s;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].metric || !v[i].metric[0] || !isfinite(v[i].value)) {
            s = NAS_FAIL(err, NAS_ERR_INVALID,
                         "%s: trial id %lld: intermediate value %zu needs a metric name and a "
                         "finite value",
                         st->path, (long long)id, i);
            break;
        }
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, id);
        bind_text(q, 2, v[i].metric);
        sqlite3_bind_int64(q, 3, v[i].step);
        sqlite3_bind_double(q, 4, v[i].value);
        if (sqlite3_step(q) != SQLITE_DONE) {
            s = db_fail(st, err, "store an intermediate value");
            break;
        }
    }
    release(st, q);
    return s;
}

nas_status nas_store_trial_start(nas_store *st, int64_t id, int64_t pid, const char *trial_dir,
                                 nas_error *err) {
    nas_status s = txn_begin(st, err);
    if (s != NAS_OK) return s;
    sqlite3_stmt *q = NULL;
    if ((s = check_state(st, id, 1u << NAS_TRIAL_PENDING, "start", err)) != NAS_OK) goto fail;
    if ((s = prepare(st,
                     "UPDATE trials SET state = 'running', worker_pid = ?, trial_dir = ?, "
                     "started_at = ?, attempts = attempts + 1 WHERE id = ?",
                     &q, err)) != NAS_OK)
        goto fail;
    sqlite3_bind_int64(q, 1, pid);
    bind_text(q, 2, trial_dir);
    sqlite3_bind_double(q, 3, wall_now());
    sqlite3_bind_int64(q, 4, id);
    if ((s = step_done(st, q, "start a trial", err)) != NAS_OK) goto fail;
    return txn_commit(st, err);
fail:
    txn_rollback(st);
    return s;
}

/* The common end of a trial: state, metrics, reason, stderr and values. */
static nas_status trial_finish(nas_store *st, int64_t id, nas_trial_state to,
                               const char *metrics_json, const char *reason,
                               const char *stderr_tail, const nas_metric_step *values, size_t n,
                               nas_error *err) {
    const char *action = to == NAS_TRIAL_COMPLETE ? "complete"
                         : to == NAS_TRIAL_FAILED ? "fail"
                                                  : "prune";
    if (metrics_json && !is_json_object(metrics_json))
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: cannot %s trial id %lld: metrics are not a "
                                              "JSON object", st->path, action, (long long)id);
    nas_status s = txn_begin(st, err);
    if (s != NAS_OK) return s;
    sqlite3_stmt *q = NULL;
    s = check_state(st, id, (1u << NAS_TRIAL_PENDING) | (1u << NAS_TRIAL_RUNNING), action, err);
    if (s != NAS_OK) goto fail;
    if ((s = insert_values(st, id, values, n, err)) != NAS_OK) goto fail;
    if ((s = prepare(st,
                     "UPDATE trials SET state = ?, metrics_json = ?, fail_reason = ?, "
                     "stderr_tail = ?, finished_at = ?, worker_pid = NULL WHERE id = ?",
                     &q, err)) != NAS_OK)
        goto fail;
    bind_text(q, 1, nas_trial_state_name(to));
    bind_text(q, 2, metrics_json);
    bind_text(q, 3, reason);
    bind_text(q, 4, stderr_tail);
    sqlite3_bind_double(q, 5, wall_now());
    sqlite3_bind_int64(q, 6, id);
    if ((s = step_done(st, q, action, err)) != NAS_OK) goto fail;
    return txn_commit(st, err);
fail:
    txn_rollback(st);
    return s;
}

nas_status nas_store_trial_complete(nas_store *st, int64_t id, const char *metrics_json,
                                    const nas_metric_step *values, size_t n, nas_error *err) {
    if (!metrics_json)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: cannot complete trial id %lld without metrics",
                        st->path, (long long)id);
    return trial_finish(st, id, NAS_TRIAL_COMPLETE, metrics_json, NULL, NULL, values, n, err);
}

nas_status nas_store_trial_fail(nas_store *st, int64_t id, const char *reason,
                                const char *stderr_tail, nas_error *err) {
    if (!reason || !reason[0])
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: cannot fail trial id %lld without a reason",
                        st->path, (long long)id);
    return trial_finish(st, id, NAS_TRIAL_FAILED, NULL, reason, stderr_tail, NULL, 0, err);
}

nas_status nas_store_trial_prune(nas_store *st, int64_t id, const char *reason,
                                 const char *metrics_json, const nas_metric_step *values,
                                 size_t n, nas_error *err) {
    if (!reason || !reason[0])
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: cannot prune trial id %lld without a reason",
                        st->path, (long long)id);
    return trial_finish(st, id, NAS_TRIAL_PRUNED, metrics_json, reason, NULL, values, n, err);
}

nas_status nas_store_trial_add_value(nas_store *st, int64_t id, const char *metric, int64_t step,
                                     double value, nas_error *err) {
    nas_status s = txn_begin(st, err);
    if (s != NAS_OK) return s;
    nas_metric_step v = {metric, step, value};
    s = check_state(st, id, 1u << NAS_TRIAL_RUNNING, "add a value to", err);
    if (s == NAS_OK) s = insert_values(st, id, &v, 1, err);
    if (s != NAS_OK) {
        txn_rollback(st);
        return s;
    }
    return txn_commit(st, err);
}

nas_status nas_store_trial_values(nas_store *st, int64_t id, const char *metric,
                                  nas_metric_step **out, size_t *n, nas_error *err) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *q = NULL;
    nas_status s = prepare(st,
                           "SELECT metric, step, value FROM trial_values WHERE trial_id = ?1 "
                           "AND (?2 IS NULL OR metric = ?2) ORDER BY metric, step",
                           &q, err);
    if (s != NAS_OK) return s;
    sqlite3_bind_int64(q, 1, id);
    bind_text(q, 2, metric);
    /* First pass sizes one block: the array, then the names. */
    size_t count = 0, bytes = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        count++;
        bytes += (size_t)sqlite3_column_bytes(q, 0) + 1;
    }
    if (rc != SQLITE_DONE) {
        s = db_fail(st, err, "read intermediate values");
        goto fail;
    }
    nas_metric_step *arr = malloc(count * sizeof *arr + bytes + 1);
    if (!arr) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
        goto fail;
    }
    char *names = (char *)(arr + count);
    size_t i = 0;
    sqlite3_reset(q);
    while (i < count && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(q, 0);
        memcpy(names, sqlite3_column_text(q, 0), len);
        names[len] = '\0';
        arr[i].metric = names;
        arr[i].step = sqlite3_column_int64(q, 1);
        arr[i].value = sqlite3_column_double(q, 2);
        names += len + 1;
        i++;
    }
    release(st, q);
    *out = arr;
    *n = i;
    return NAS_OK;
fail:
    release(st, q);
    return s;
}

/* SQL condition for a state mask ("1" for all). */
static void mask_sql(nas_state_mask mask, char *buf, size_t cap) {
    if (mask == 0) {
        snprintf(buf, cap, "1");
        return;
    }
    snprintf(buf, cap, "state IN (");
    int first = 1;
    for (int i = 0; i < NAS_TRIAL_STATE_COUNT; i++) {
        if (!(mask & (1u << i))) continue;
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "%s'%s'", first ? "" : ",", STATE_NAMES[i]);
        first = 0;
    }
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s)", first ? "NULL" : "");
}

nas_status nas_store_trial_each(nas_store *st, nas_state_mask mask, nas_trial_visit visit,
                                void *user, nas_error *err) {
    char cond[160], sql[512];
    mask_sql(mask, cond, sizeof cond);
    snprintf(sql, sizeof sql, "SELECT " TRIAL_COLUMNS " FROM trials WHERE %s ORDER BY number",
             cond);
    sqlite3_stmt *q = NULL;
    nas_status s = prepare(st, sql, &q, err);
    if (s != NAS_OK) return s;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        nas_trial_record r;
        if ((s = row_to_record(st, q, &r, 0, err)) != NAS_OK) break;
        if (visit(user, &r)) break;
    }
    if (s == NAS_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) s = db_fail(st, err, "list trials");
    release(st, q);
    return s;
}

typedef struct list_ctx {
    nas_trial_record *arr;
    size_t n, cap;
    int nomem;
} list_ctx;

static int list_visit(void *user, const nas_trial_record *r) {
    list_ctx *c = user;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        nas_trial_record *bigger = realloc(c->arr, cap * sizeof *bigger);
        if (!bigger) {
            c->nomem = 1;
            return 1;
        }
        c->arr = bigger;
        c->cap = cap;
    }
    nas_trial_record *d = &c->arr[c->n];
    *d = *r;
    char **fields[] = {&d->point_json,  &d->point_hash,  &d->arch_json, &d->metrics_json,
                       &d->fail_reason, &d->stderr_tail, &d->trial_dir};
    int bad = 0;
    for (int i = 0; i < 7; i++) {
        if (!*fields[i]) continue;
        *fields[i] = dup_str(*fields[i]);
        if (!*fields[i]) bad = 1;
    }
    c->n++;
    if (bad) c->nomem = 1;
    return bad;
}

nas_status nas_store_trial_list(nas_store *st, nas_state_mask mask, nas_trial_record **out,
                                size_t *n, nas_error *err) {
    list_ctx c = {0};
    *out = NULL;
    *n = 0;
    nas_status s = nas_store_trial_each(st, mask, list_visit, &c, err);
    if (s == NAS_OK && c.nomem) s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
    if (s != NAS_OK) {
        nas_trial_records_free(c.arr, c.n);
        return s;
    }
    *out = c.arr;
    *n = c.n;
    return NAS_OK;
}

nas_status nas_store_trial_counts(nas_store *st, int64_t counts[NAS_TRIAL_STATE_COUNT],
                                  nas_error *err) {
    for (int i = 0; i < NAS_TRIAL_STATE_COUNT; i++) counts[i] = 0;
    sqlite3_stmt *q = NULL;
    nas_status s = prepare(st, "SELECT state, count(*) FROM trials GROUP BY state", &q, err);
    if (s != NAS_OK) return s;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        nas_trial_state k = NAS_TRIAL_PENDING;
        if ((s = nas_trial_state_from_name((const char *)sqlite3_column_text(q, 0), &k, err)) !=
            NAS_OK)
            break;
        counts[k] = sqlite3_column_int64(q, 1);
    }
    if (s == NAS_OK && rc != SQLITE_DONE) s = db_fail(st, err, "count trials");
    release(st, q);
    return s;
}

nas_status nas_store_trial_best(nas_store *st, const char *metric, int maximize,
                                nas_trial_record *out, int *found, nas_error *err) {
    *found = 0;
    if (!metric || !metric[0] || strpbrk(metric, "\"\\"))
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: bad metric name '%s'", st->path,
                        metric ? metric : "(null)");
    char path[256], sql[768];
    if (strlen(metric) > 200)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: metric name too long", st->path);
    snprintf(path, sizeof path, "$.\"%s\"", metric);
    snprintf(sql, sizeof sql,
             "SELECT " TRIAL_COLUMNS " FROM trials WHERE state = 'complete' AND "
             "json_valid(metrics_json) AND json_type(metrics_json, ?1) IN ('integer', 'real') "
             "ORDER BY json_extract(metrics_json, ?1) %s, number LIMIT 1",
             maximize ? "DESC" : "ASC");
    return query_one(st, sql, path, 0, out, found, err);
}

nas_status nas_store_requeue_running(nas_store *st, int64_t *n, nas_error *err) {
    if (n) *n = 0;
    nas_status s = txn_begin(st, err);
    if (s != NAS_OK) return s;
    if ((s = exec_sql(st,
                      "DELETE FROM trial_values WHERE trial_id IN "
                      "(SELECT id FROM trials WHERE state = 'running')",
                      err)) != NAS_OK)
        goto fail;
    if ((s = exec_sql(st,
                      "UPDATE trials SET state = 'pending', worker_pid = NULL, started_at = NULL "
                      "WHERE state = 'running'",
                      err)) != NAS_OK)
        goto fail;
    if (n) *n = sqlite3_changes(st->db);
    return txn_commit(st, err);
fail:
    txn_rollback(st);
    return s;
}

nas_status nas_store_upgrade(nas_store *st, nas_error *err) {
    if (st->version >= NAS_STORE_SCHEMA_VERSION) return NAS_OK;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", NAS_STORE_SCHEMA_VERSION);
    nas_status s = txn_begin(st, err);
    if (s != NAS_OK) return s;
    if ((s = exec_sql(st, sql, err)) != NAS_OK) {
        txn_rollback(st);
        return s;
    }
    if ((s = txn_commit(st, err)) == NAS_OK) st->version = NAS_STORE_SCHEMA_VERSION;
    return s;
}

/* ---- snapshots ---- */

nas_status nas_store_snapshot_save(nas_store *st, const void *state, size_t len,
                                   const pcg32 *rng, int64_t n_trials, int append, nas_error *err) {
    if (len > 0 && !state)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: snapshot of %zu bytes without data", st->path,
                        len);
    if (len > (size_t)INT32_MAX)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: snapshot of %zu bytes is too large", st->path,
                        len);
    nas_status s = txn_begin(st, err);
    if (s != NAS_OK) return s;
    sqlite3_stmt *q = NULL;
    if (!append && (s = run_sql(st, "DELETE FROM controller_snapshots", err)) != NAS_OK) goto fail;
    if ((s = prepare(st,
                     "INSERT INTO controller_snapshots(created_at, n_trials, rng_state, rng_inc, "
                     "state) VALUES (?, ?, ?, ?, ?)",
                     &q, err)) != NAS_OK)
        goto fail;
    sqlite3_bind_double(q, 1, wall_now());
    sqlite3_bind_int64(q, 2, n_trials);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)rng->state);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)rng->inc);
    sqlite3_bind_blob(q, 5, len ? state : "", (int)len, SQLITE_TRANSIENT);
    if ((s = step_done(st, q, "save a controller snapshot", err)) != NAS_OK) goto fail;
    return txn_commit(st, err);
fail:
    txn_rollback(st);
    return s;
}

void nas_store_snapshot_free(nas_store_snapshot *snap) {
    for (int i = 0; i < snap->n; i++) free(snap->parts[i]);
    free(snap->parts);
    free(snap->lens);
    memset(snap, 0, sizeof *snap);
}

nas_status nas_store_snapshot_load(nas_store *st, nas_store_snapshot *snap, nas_error *err) {
    memset(snap, 0, sizeof *snap);
    sqlite3_stmt *q = NULL;
    nas_status s = prepare(st,
                           "SELECT n_trials, rng_state, rng_inc, state FROM controller_snapshots "
                           "ORDER BY id",
                           &q, err);
    if (s != NAS_OK) return s;
    int rc = SQLITE_DONE, cap = 0;
    while (s == NAS_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (snap->n == cap) {
            cap = cap ? 2 * cap : 16;
            unsigned char **p = realloc(snap->parts, (size_t)cap * sizeof *p);
            if (p) snap->parts = p;
            size_t *l = p ? realloc(snap->lens, (size_t)cap * sizeof *l) : NULL;
            if (l) snap->lens = l;
            if (!p || !l) {
                s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
                break;
            }
        }
        size_t n = (size_t)sqlite3_column_bytes(q, 3);
        const void *blob = sqlite3_column_blob(q, 3);
        unsigned char *copy = malloc(n ? n : 1);
        if (!copy) {
            s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
            break;
        }
        if (n) memcpy(copy, blob, n);
        snap->parts[snap->n] = copy;
        snap->lens[snap->n++] = n;
        snap->n_trials = sqlite3_column_int64(q, 0);
        snap->rng.state = (uint64_t)sqlite3_column_int64(q, 1);
        snap->rng.inc = (uint64_t)sqlite3_column_int64(q, 2);
    }
    if (s == NAS_OK && rc != SQLITE_DONE) s = db_fail(st, err, "load the controller snapshot");
    release(st, q);
    return s;
}

/* ---- key/value ---- */

nas_status nas_store_kv_set(nas_store *st, const char *key, const char *value, nas_error *err) {
    if (!key || !key[0] || !value)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: a key/value needs a key and a value",
                        st->path);
    nas_status s = txn_begin(st, err);
    if (s != NAS_OK) return s;
    sqlite3_stmt *q = NULL;
    if ((s = prepare(st, "INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", &q, err)) !=
        NAS_OK)
        goto fail;
    bind_text(q, 1, key);
    bind_text(q, 2, value);
    if ((s = step_done(st, q, "set a key", err)) != NAS_OK) goto fail;
    return txn_commit(st, err);
fail:
    txn_rollback(st);
    return s;
}

nas_status nas_store_kv_get(nas_store *st, const char *key, char **value, nas_error *err) {
    *value = NULL;
    sqlite3_stmt *q = NULL;
    nas_status s = prepare(st, "SELECT value FROM kv WHERE key = ?", &q, err);
    if (s != NAS_OK) return s;
    bind_text(q, 1, key);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *value = dup_str((const char *)sqlite3_column_text(q, 0));
        if (!*value) s = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", st->path);
    } else if (rc != SQLITE_DONE) {
        s = db_fail(st, err, "get a key");
    }
    release(st, q);
    return s;
}
