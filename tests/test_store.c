/*
 * test_store.c - the study store (nas/search/store.h): round trips of every
 * call, refusal of another space or job spec (naming the differing keys),
 * refusal of foreign and corrupt files (left byte-identical), grouped
 * transactions, crash consistency under SIGKILL at seeded random moments,
 * and the one-job-per-study lock (refusal naming the holder; freed by a
 * SIGKILL of its holder even while a program the holder started lives on;
 * a child of a killed holder that has not reached exec is waited for).
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nas/core/fileio.h"
#include "nas/core/pcg32.h"
#include "nas/search/store.h"
#include "test.h"

static const char *SPEC = "{\"controller\": \"random\", \"seed\": 1, \"max_trials\": 10, "
                          "\"proxy\": {\"epochs\": 2, \"fraction\": 0.5}}";

static nas_store_study make_study(const char *spec) {
    static const char *const ignore[] = {"max_trials", NULL};
    nas_store_study s = {spec, "space s\nhparam lr = float(0.1, 1)\n", "s", "abc123", ignore};
    return s;
}

static char tmp_dir[64];

static const char *fresh_dir(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/nas_test_store_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        abort();
    }
    return tmp_dir;
}

static void remove_dir(const char *dir) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: %s failed\n", cmd);
}

static char *db_path(const char *dir) {
    static char path[512];
    size_t n = strlen(dir);
    if (n > sizeof path - sizeof "/study.db") n = sizeof path - sizeof "/study.db";
    memcpy(path, dir, n);
    memcpy(path + n, "/study.db", sizeof "/study.db");
    return path;
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* ---- round trips ---- */

static void test_create_reopen(void) {
    const char *dir = fresh_dir();
    char sub[128];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    nas_error err = {0};
    nas_store *st = NULL;
    nas_store_study study = make_study(SPEC);
    ASSERT_OK(nas_store_open(sub, &study, &st, &err), &err);
    ASSERT_STR_EQ(nas_store_spec_json(st), SPEC);
    ASSERT_STR_EQ(nas_store_space_name(st), "s");
    ASSERT_STR_EQ(nas_store_space_hash(st), "abc123");
    ASSERT_CONTAINS(nas_store_space_source(st), "hparam lr");
    ASSERT_TRUE(nas_store_created_at(st) > 1.6e9);
    ASSERT_CONTAINS(nas_store_path(st), "/a/b/study.db");
    char *status = NULL;
    ASSERT_OK(nas_store_get_status(st, &status, &err), &err);
    ASSERT_STR_EQ(status, "created");
    free(status);
    ASSERT_OK(nas_store_set_status(st, "running", &err), &err);
    nas_store_close(st);

    /* Same study again, then as a resume without a spec. */
    ASSERT_OK(nas_store_open(sub, &study, &st, &err), &err);
    nas_store_close(st);
    ASSERT_OK(nas_store_open(sub, NULL, &st, &err), &err);
    ASSERT_OK(nas_store_get_status(st, &status, &err), &err);
    ASSERT_STR_EQ(status, "running");
    free(status);
    ASSERT_STR_EQ(nas_store_spec_json(st), SPEC);

    /* WAL mode and the schema version are on the file. */
    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open_v2(db_path(sub), &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL);
    ASSERT_EQ_INT(sqlite3_step(q), SQLITE_ROW);
    ASSERT_STR_EQ((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL);
    ASSERT_EQ_INT(sqlite3_step(q), SQLITE_ROW);
    ASSERT_EQ_INT(sqlite3_column_int(q, 0), NAS_STORE_SCHEMA_VERSION);
    sqlite3_finalize(q);
    sqlite3_close(db);
    nas_store_close(st);

    /* A directory without a study. */
    char none[128];
    snprintf(none, sizeof none, "%s/none", dir);
    ASSERT_EQ_INT(nas_store_open(none, NULL, &st, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, "no study here");
    ASSERT_TRUE(st == NULL);
    ASSERT_TRUE(!nas_path_exists(none));
    remove_dir(dir);
}

/* The limits of a job spec are updated in place (key order kept, absent
 * keys added) and kept by the file; a patch that changes nothing writes
 * nothing; a patch that is not an object is refused. */
static void test_spec_merge(void) {
    const char *dir = fresh_dir();
    nas_error err = {0};
    nas_store *st = NULL;
    nas_store_study study = make_study(SPEC);
    ASSERT_OK(nas_store_open(dir, &study, &st, &err), &err);
    ASSERT_OK(nas_store_spec_merge(st, "{\"max_trials\": 25, \"time_budget_s\": 60}", &err), &err);
    const char *want = "{\"controller\":\"random\",\"seed\":1,\"max_trials\":25,"
                       "\"proxy\":{\"epochs\":2,\"fraction\":0.5},\"time_budget_s\":60}";
    ASSERT_STR_EQ(nas_store_spec_json(st), want);
    nas_store_close(st);
    ASSERT_OK(nas_store_open(dir, NULL, &st, &err), &err);
    ASSERT_STR_EQ(nas_store_spec_json(st), want);
    struct stat before, after;
    ASSERT_EQ_INT(stat(db_path(dir), &before), 0);
    char *wal = NULL;
    size_t wal_len = 0;
    char wal_path[600];
    snprintf(wal_path, sizeof wal_path, "%s-wal", db_path(dir));
    ASSERT_OK(nas_store_spec_merge(st, "{\"max_trials\": 25}", &err), &err);
    ASSERT_EQ_INT(stat(db_path(dir), &after), 0);
    ASSERT_EQ_INT(before.st_size, after.st_size);
    if (nas_path_exists(wal_path)) { /* nothing logged either */
        ASSERT_OK(nas_file_read(wal_path, &wal, &wal_len, &err), &err);
        ASSERT_EQ_INT(wal_len, 0);
        free(wal);
    }
    ASSERT_EQ_INT(nas_store_spec_merge(st, "[1]", &err), NAS_ERR_INVALID);
    ASSERT_EQ_INT(nas_store_spec_merge(st, "{", &err), NAS_ERR_INVALID);
    ASSERT_STR_EQ(nas_store_spec_json(st), want);
    nas_store_close(st);
    /* the merged keys are the study's: max_trials may differ (ignored), the
       added time_budget_s is compared */
    nas_store_study with = make_study("{\"controller\": \"random\", \"seed\": 1, \"max_trials\": 3, "
                                      "\"proxy\": {\"epochs\": 2, \"fraction\": 0.5}, \"time_budget_s\": 60}");
    ASSERT_OK(nas_store_open(dir, &with, &st, &err), &err);
    nas_store_close(st);
    ASSERT_EQ_INT(nas_store_open(dir, &study, &st, &err), NAS_ERR_MISMATCH);
    ASSERT_CONTAINS(err.msg, "'time_budget_s' is 60 in the study, absent now");
    remove_dir(dir);
}

static void test_spec_mismatch(void) {
    const char *dir = fresh_dir();
    nas_error err = {0};
    nas_store *st = NULL;
    nas_store_study study = make_study(SPEC);
    ASSERT_OK(nas_store_open(dir, &study, &st, &err), &err);
    nas_store_close(st);

    /* An ignored key may differ. */
    nas_store_study same = make_study("{\"controller\": \"random\", \"seed\": 1, \"max_trials\": "
                                      "50, \"proxy\": {\"fraction\": 0.5, \"epochs\": 2}}");
    ASSERT_OK(nas_store_open(dir, &same, &st, &err), &err);
    nas_store_close(st);

    nas_store_study other = make_study("{\"controller\": \"tpe\", \"seed\": 2, \"max_trials\": 10, "
                                       "\"proxy\": {\"epochs\": 3, \"fraction\": 0.5}, "
                                       "\"parallel\": 2}");
    ASSERT_EQ_INT(nas_store_open(dir, &other, &st, &err), NAS_ERR_MISMATCH);
    ASSERT_TRUE(st == NULL);
    ASSERT_CONTAINS(err.msg, "another job spec");
    ASSERT_CONTAINS(err.msg, "4 differences");
    ASSERT_CONTAINS(err.msg, "'controller' is \"random\" in the study, \"tpe\" now");
    ASSERT_CONTAINS(err.msg, "'seed' is 1 in the study, 2 now");
    ASSERT_CONTAINS(err.msg, "'proxy.epochs' is 2 in the study, 3 now");
    ASSERT_CONTAINS(err.msg, "'parallel' is absent in the study, 2 now");

    nas_store_study missing = make_study("{\"controller\": \"random\", \"max_trials\": 10, "
                                         "\"proxy\": {\"epochs\": 2, \"fraction\": 0.5}}");
    ASSERT_EQ_INT(nas_store_open(dir, &missing, &st, &err), NAS_ERR_MISMATCH);
    ASSERT_CONTAINS(err.msg, "1 difference:");
    ASSERT_CONTAINS(err.msg, "'seed' is 1 in the study, absent now");

    nas_store_study space = make_study(SPEC);
    space.space_name = "t";
    space.space_hash = "fff999";
    ASSERT_EQ_INT(nas_store_open(dir, &space, &st, &err), NAS_ERR_MISMATCH);
    ASSERT_CONTAINS(err.msg, "space 's' (hash abc123), not for space 't' (hash fff999)");

    nas_store_study bad = make_study("[1, 2]");
    ASSERT_EQ_INT(nas_store_open(dir, &bad, &st, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "not a JSON object");
    remove_dir(dir);
}

static nas_store *open_fresh(void) {
    nas_error err = {0};
    nas_store *st = NULL;
    nas_store_study study = make_study(SPEC);
    if (nas_store_open(fresh_dir(), &study, &st, &err) != NAS_OK) {
        fprintf(stderr, "open: %s\n", err.msg);
        abort();
    }
    return st;
}

static void close_fresh(nas_store *st) {
    nas_store_close(st);
    remove_dir(tmp_dir);
}

static void test_trial_lifecycle(void) {
    nas_store *st = open_fresh();
    nas_error err = {0};
    int64_t id[4], num[4];
    const char *points[] = {"{\"lr\": 0.1}", "{\"lr\": 0.2}", "{\"lr\": 0.3}", "{\"lr\": 0.4}"};
    const char *hashes[] = {"h0", "h1", "h2", "h3"};
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(nas_store_trial_insert(st, points[i], hashes[i], i == 0 ? "{\"nodes\": []}" : NULL,
                                         &id[i], &num[i], &err),
                  &err);
        ASSERT_EQ_INT(num[i], i);
    }
    ASSERT_EQ_INT(nas_store_trial_insert(st, "{\"lr\": 0.1}", "h0", NULL, NULL, NULL, &err),
                  NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "duplicate point: trial 0 (pending) already has point hash h0");

    nas_trial_record r;
    ASSERT_OK(nas_store_trial_get(st, id[0], &r, &err), &err);
    ASSERT_EQ_INT(r.number, 0);
    ASSERT_EQ_INT(r.state, NAS_TRIAL_PENDING);
    ASSERT_STR_EQ(r.point_json, points[0]);
    ASSERT_STR_EQ(r.point_hash, "h0");
    ASSERT_STR_EQ(r.arch_json, "{\"nodes\": []}");
    ASSERT_TRUE(r.metrics_json == NULL && r.trial_dir == NULL && r.started_at == 0);
    ASSERT_TRUE(r.created_at > 1.6e9);
    nas_trial_record_deinit(&r);
    ASSERT_EQ_INT(nas_store_trial_get(st, 999, &r, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "no trial with id 999");

    /* Trial 0: start, two intermediate values, complete with a third. */
    ASSERT_OK(nas_store_trial_start(st, id[0], 4242, "/tmp/t0", &err), &err);
    ASSERT_EQ_INT(nas_store_trial_start(st, id[0], 1, "/tmp/t0", &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "cannot start trial id 1: it is running");
    ASSERT_OK(nas_store_trial_add_value(st, id[0], "acc", 1, 0.5, &err), &err);
    ASSERT_OK(nas_store_trial_add_value(st, id[0], "acc", 2, 0.6, &err), &err);
    ASSERT_OK(nas_store_trial_add_value(st, id[0], "acc", 2, 0.65, &err), &err); /* replaces */
    ASSERT_EQ_INT(nas_store_trial_add_value(st, id[1], "acc", 1, 0.5, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "it is pending");
    ASSERT_EQ_INT(nas_store_trial_add_value(st, id[0], "acc", 3, NAN, &err), NAS_ERR_INVALID);
    ASSERT_OK(nas_store_trial_get(st, id[0], &r, &err), &err);
    ASSERT_EQ_INT(r.state, NAS_TRIAL_RUNNING);
    ASSERT_EQ_INT(r.worker_pid, 4242);
    ASSERT_STR_EQ(r.trial_dir, "/tmp/t0");
    ASSERT_EQ_INT(r.attempts, 1);
    ASSERT_TRUE(r.started_at >= r.created_at);
    nas_trial_record_deinit(&r);
    ASSERT_EQ_INT(nas_store_trial_complete(st, id[0], "[1]", NULL, 0, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "not a JSON object");
    nas_metric_step vals[] = {{"acc", 3, 0.7}, {"loss", 3, 0.9}};
    ASSERT_OK(nas_store_trial_complete(st, id[0], "{\"acc\": 0.7, \"loss\": 0.9}", vals, 2, &err),
              &err);
    ASSERT_EQ_INT(nas_store_trial_complete(st, id[0], "{}", NULL, 0, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "it is complete");
    nas_metric_step *got = NULL;
    size_t n = 0;
    ASSERT_OK(nas_store_trial_values(st, id[0], NULL, &got, &n, &err), &err);
    ASSERT_EQ_INT(n, 4);
    ASSERT_STR_EQ(got[0].metric, "acc");
    ASSERT_EQ_INT(got[1].step, 2);
    ASSERT_NEAR(got[1].value, 0.65, 0);
    ASSERT_STR_EQ(got[3].metric, "loss");
    free(got);
    ASSERT_OK(nas_store_trial_values(st, id[0], "loss", &got, &n, &err), &err);
    ASSERT_EQ_INT(n, 1);
    ASSERT_NEAR(got[0].value, 0.9, 0);
    free(got);
    ASSERT_OK(nas_store_trial_get(st, id[0], &r, &err), &err);
    ASSERT_EQ_INT(r.state, NAS_TRIAL_COMPLETE);
    ASSERT_STR_EQ(r.metrics_json, "{\"acc\": 0.7, \"loss\": 0.9}");
    ASSERT_TRUE(r.finished_at >= r.started_at && r.worker_pid == 0);
    nas_trial_record_deinit(&r);

    /* Trial 1 fails, trial 2 is pruned, trial 3 completes with a better acc. */
    ASSERT_OK(nas_store_trial_start(st, id[1], 7, "/tmp/t1", &err), &err);
    ASSERT_EQ_INT(nas_store_trial_fail(st, id[1], "", NULL, &err), NAS_ERR_INVALID);
    ASSERT_OK(nas_store_trial_fail(st, id[1], "exit status 3", "Traceback...\nValueError\n", &err),
              &err);
    ASSERT_OK(nas_store_trial_start(st, id[2], 8, "/tmp/t2", &err), &err);
    nas_metric_step pv[] = {{"acc", 1, 0.1}};
    ASSERT_OK(nas_store_trial_prune(st, id[2], "median stopping rule", "{\"acc\": 0.1}", pv, 1,
                                    &err),
              &err);
    ASSERT_OK(nas_store_trial_complete(st, id[3], "{\"acc\": 0.9, \"loss\": 1.5}", NULL, 0, &err),
              &err);
    ASSERT_OK(nas_store_trial_get(st, id[1], &r, &err), &err);
    ASSERT_EQ_INT(r.state, NAS_TRIAL_FAILED);
    ASSERT_STR_EQ(r.fail_reason, "exit status 3");
    ASSERT_STR_EQ(r.stderr_tail, "Traceback...\nValueError\n");
    nas_trial_record_deinit(&r);
    ASSERT_OK(nas_store_trial_get(st, id[2], &r, &err), &err);
    ASSERT_EQ_INT(r.state, NAS_TRIAL_PRUNED);
    ASSERT_STR_EQ(r.fail_reason, "median stopping rule");
    ASSERT_STR_EQ(r.metrics_json, "{\"acc\": 0.1}");
    nas_trial_record_deinit(&r);

    int64_t counts[NAS_TRIAL_STATE_COUNT];
    ASSERT_OK(nas_store_trial_counts(st, counts, &err), &err);
    ASSERT_EQ_INT(counts[NAS_TRIAL_PENDING], 0);
    ASSERT_EQ_INT(counts[NAS_TRIAL_COMPLETE], 2);
    ASSERT_EQ_INT(counts[NAS_TRIAL_FAILED], 1);
    ASSERT_EQ_INT(counts[NAS_TRIAL_PRUNED], 1);

    int found = 0;
    ASSERT_OK(nas_store_trial_best(st, "acc", 1, &r, &found, &err), &err);
    ASSERT_EQ_INT(found, 1);
    ASSERT_EQ_INT(r.number, 3);
    nas_trial_record_deinit(&r);
    ASSERT_OK(nas_store_trial_best(st, "loss", 0, &r, &found, &err), &err);
    ASSERT_EQ_INT(found, 1);
    ASSERT_EQ_INT(r.number, 0);
    nas_trial_record_deinit(&r);
    ASSERT_OK(nas_store_trial_best(st, "latency", 0, &r, &found, &err), &err);
    ASSERT_EQ_INT(found, 0);
    ASSERT_EQ_INT(nas_store_trial_best(st, "a\"b", 0, &r, &found, &err), NAS_ERR_INVALID);

    ASSERT_OK(nas_store_trial_find(st, "h2", &r, &found, &err), &err);
    ASSERT_EQ_INT(found, 1);
    ASSERT_EQ_INT(r.id, id[2]);
    nas_trial_record_deinit(&r);
    ASSERT_OK(nas_store_trial_find(st, "nope", &r, &found, &err), &err);
    ASSERT_EQ_INT(found, 0);

    nas_trial_record *list = NULL;
    ASSERT_OK(nas_store_trial_list(st, 0, &list, &n, &err), &err);
    ASSERT_EQ_INT(n, 4);
    for (size_t i = 0; i < n; i++) ASSERT_EQ_INT(list[i].number, (int64_t)i);
    nas_trial_records_free(list, n);
    ASSERT_OK(nas_store_trial_list(st, (1u << NAS_TRIAL_FAILED) | (1u << NAS_TRIAL_PRUNED), &list,
                                   &n, &err),
              &err);
    ASSERT_EQ_INT(n, 2);
    ASSERT_EQ_INT(list[0].number, 1);
    ASSERT_EQ_INT(list[1].number, 2);
    nas_trial_records_free(list, n);
    ASSERT_OK(nas_store_trial_list(st, 1u << NAS_TRIAL_RUNNING, &list, &n, &err), &err);
    ASSERT_EQ_INT(n, 0);
    nas_trial_records_free(list, n);
    close_fresh(st);
}

static int count_visit(void *user, const nas_trial_record *r) {
    int *k = user;
    (*k)++;
    return r->number == 1; /* stop after the second */
}

static void test_each_and_requeue(void) {
    nas_store *st = open_fresh();
    nas_error err = {0};
    int64_t id[3];
    char hash[16];
    for (int i = 0; i < 3; i++) {
        snprintf(hash, sizeof hash, "p%d", i);
        ASSERT_OK(nas_store_trial_insert(st, "{}", hash, NULL, &id[i], NULL, &err), &err);
    }
    int k = 0;
    ASSERT_OK(nas_store_trial_each(st, 0, count_visit, &k, &err), &err);
    ASSERT_EQ_INT(k, 2);

    ASSERT_OK(nas_store_trial_start(st, id[0], 11, "/d0", &err), &err);
    ASSERT_OK(nas_store_trial_start(st, id[1], 12, "/d1", &err), &err);
    ASSERT_OK(nas_store_trial_add_value(st, id[0], "acc", 1, 0.3, &err), &err);
    ASSERT_OK(nas_store_trial_complete(st, id[1], "{\"acc\": 1}", NULL, 0, &err), &err);
    int64_t nreq = -1;
    ASSERT_OK(nas_store_requeue_running(st, &nreq, &err), &err);
    ASSERT_EQ_INT(nreq, 1);
    nas_trial_record r;
    ASSERT_OK(nas_store_trial_get(st, id[0], &r, &err), &err);
    ASSERT_EQ_INT(r.state, NAS_TRIAL_PENDING);
    ASSERT_EQ_INT(r.worker_pid, 0);
    ASSERT_EQ_INT(r.attempts, 1);
    nas_trial_record_deinit(&r);
    nas_metric_step *v = NULL;
    size_t n = 9;
    ASSERT_OK(nas_store_trial_values(st, id[0], NULL, &v, &n, &err), &err);
    ASSERT_EQ_INT(n, 0);
    free(v);
    ASSERT_OK(nas_store_trial_start(st, id[0], 13, "/d0", &err), &err);
    ASSERT_OK(nas_store_trial_get(st, id[0], &r, &err), &err);
    ASSERT_EQ_INT(r.attempts, 2);
    nas_trial_record_deinit(&r);
    ASSERT_OK(nas_store_trial_get(st, id[1], &r, &err), &err);
    ASSERT_EQ_INT(r.state, NAS_TRIAL_COMPLETE); /* untouched */
    nas_trial_record_deinit(&r);
    close_fresh(st);
}

static void test_snapshot_kv(void) {
    nas_store *st = open_fresh();
    nas_error err = {0};
    nas_store_snapshot snap;
    pcg32 rng;
    ASSERT_OK(nas_store_snapshot_load(st, &snap, &err), &err);
    ASSERT_EQ_INT(snap.n, 0);
    nas_store_snapshot_free(&snap);
    pcg32_seed(&rng, 7, 3);
    pcg32_next(&rng);
    rng.state |= 0x8000000000000000ull; /* the top bit survives the signed column */
    unsigned char blob[300];
    for (int i = 0; i < 300; i++) blob[i] = (unsigned char)(i * 7);
    blob[5] = 0;
    /* a whole state replaces everything before it; deltas follow it */
    ASSERT_OK(nas_store_snapshot_save(st, blob, 100, &rng, 5, 0, &err), &err);
    ASSERT_OK(nas_store_snapshot_save(st, blob + 1, 10, &rng, 5, 1, &err), &err);
    ASSERT_OK(nas_store_snapshot_save(st, blob, sizeof blob, &rng, 6, 0, &err), &err);
    ASSERT_OK(nas_store_snapshot_load(st, &snap, &err), &err);
    ASSERT_EQ_INT(snap.n, 1);
    ASSERT_EQ_INT(snap.lens[0], sizeof blob);
    ASSERT_TRUE(memcmp(snap.parts[0], blob, sizeof blob) == 0);
    ASSERT_TRUE(snap.rng.state == rng.state && snap.rng.inc == rng.inc);
    ASSERT_EQ_INT(snap.n_trials, 6);
    nas_store_snapshot_free(&snap);
    pcg32 later = rng;
    pcg32_next(&later);
    ASSERT_OK(nas_store_snapshot_save(st, blob + 7, 20, &rng, 7, 1, &err), &err);
    ASSERT_OK(nas_store_snapshot_save(st, NULL, 0, &later, 8, 1, &err), &err);
    ASSERT_OK(nas_store_snapshot_load(st, &snap, &err), &err);
    ASSERT_EQ_INT(snap.n, 3);
    ASSERT_EQ_INT(snap.lens[1], 20);
    ASSERT_TRUE(memcmp(snap.parts[1], blob + 7, 20) == 0);
    ASSERT_EQ_INT(snap.lens[2], 0);
    ASSERT_TRUE(snap.parts[2] != NULL);
    /* the newest part's generator and count */
    ASSERT_TRUE(snap.rng.state == later.state && snap.rng.inc == later.inc);
    ASSERT_EQ_INT(snap.n_trials, 8);
    nas_store_snapshot_free(&snap);

    char *val = (char *)1;
    ASSERT_OK(nas_store_kv_get(st, "supernet_checkpoint", &val, &err), &err);
    ASSERT_TRUE(val == NULL);
    ASSERT_OK(nas_store_kv_set(st, "supernet_checkpoint", "/x/ck1.bin", &err), &err);
    ASSERT_OK(nas_store_kv_set(st, "supernet_checkpoint", "/x/ck2.bin", &err), &err);
    ASSERT_OK(nas_store_kv_get(st, "supernet_checkpoint", &val, &err), &err);
    ASSERT_STR_EQ(val, "/x/ck2.bin");
    free(val);
    ASSERT_EQ_INT(nas_store_kv_set(st, "", "v", &err), NAS_ERR_INVALID);

    /* The snapshot and the key survive a reopen. */
    char dir[64];
    snprintf(dir, sizeof dir, "%s", tmp_dir);
    nas_store_close(st);
    ASSERT_OK(nas_store_open(dir, NULL, &st, &err), &err);
    ASSERT_OK(nas_store_kv_get(st, "supernet_checkpoint", &val, &err), &err);
    ASSERT_STR_EQ(val, "/x/ck2.bin");
    free(val);
    ASSERT_OK(nas_store_snapshot_load(st, &snap, &err), &err);
    ASSERT_EQ_INT(snap.n, 3);
    ASSERT_EQ_INT(snap.n_trials, 8);
    nas_store_snapshot_free(&snap);
    close_fresh(st);
}

static void test_transactions(void) {
    nas_store *st = open_fresh();
    nas_error err = {0};
    int64_t counts[NAS_TRIAL_STATE_COUNT];
    ASSERT_OK(nas_store_begin(st, &err), &err);
    ASSERT_OK(nas_store_trial_insert(st, "{}", "a", NULL, NULL, NULL, &err), &err);
    ASSERT_OK(nas_store_kv_set(st, "k", "v", &err), &err);
    ASSERT_OK(nas_store_rollback(st, &err), &err);
    ASSERT_OK(nas_store_trial_counts(st, counts, &err), &err);
    ASSERT_EQ_INT(counts[NAS_TRIAL_PENDING], 0);
    char *val = NULL;
    ASSERT_OK(nas_store_kv_get(st, "k", &val, &err), &err);
    ASSERT_TRUE(val == NULL);

    /* A failing call inside a transaction undoes only itself. */
    ASSERT_OK(nas_store_begin(st, &err), &err);
    ASSERT_OK(nas_store_trial_insert(st, "{}", "a", NULL, NULL, NULL, &err), &err);
    ASSERT_EQ_INT(nas_store_trial_insert(st, "{}", "a", NULL, NULL, NULL, &err), NAS_ERR_INVALID);
    ASSERT_OK(nas_store_begin(st, &err), &err); /* nested */
    ASSERT_OK(nas_store_trial_insert(st, "{}", "b", NULL, NULL, NULL, &err), &err);
    ASSERT_OK(nas_store_commit(st, &err), &err);
    ASSERT_OK(nas_store_commit(st, &err), &err);
    ASSERT_EQ_INT(nas_store_commit(st, &err), NAS_ERR_INVALID);
    ASSERT_OK(nas_store_trial_counts(st, counts, &err), &err);
    ASSERT_EQ_INT(counts[NAS_TRIAL_PENDING], 2);
    close_fresh(st);
}

/* ---- foreign and corrupt files ---- */

static char *slurp(const char *path, size_t *len) {
    char *data = NULL;
    nas_error err = {0};
    if (nas_file_read(path, &data, len, &err) != NAS_OK) return NULL;
    return data;
}

/* Opens dir expecting `code` and a message containing `needle`, then checks
 * the file is byte-identical and no WAL file appeared. */
static void expect_refused(const char *dir, nas_status code, const char *needle) {
    size_t len0 = 0, len1 = 0;
    char *before = slurp(db_path(dir), &len0);
    ASSERT_TRUE(before != NULL);
    nas_error err = {0};
    nas_store *st = NULL;
    nas_store_study study = make_study(SPEC);
    ASSERT_EQ_INT(nas_store_open(dir, &study, &st, &err), code);
    ASSERT_TRUE(st == NULL);
    ASSERT_CONTAINS(err.msg, needle);
    ASSERT_CONTAINS(err.msg, "study.db");
    ASSERT_EQ_INT(nas_store_open(dir, NULL, &st, &err), code);
    char *after = slurp(db_path(dir), &len1);
    ASSERT_TRUE(after != NULL);
    ASSERT_EQ_INT(len1, len0);
    ASSERT_TRUE(memcmp(before, after, len0) == 0);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", db_path(dir));
    ASSERT_TRUE(!nas_path_exists(wal));
    free(before);
    free(after);
}

static void make_sqlite(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", path, sqlite3_errmsg(db));
        abort();
    }
    sqlite3_close(db);
}

static int64_t file_version(const char *dir) {
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    ASSERT_EQ_INT(sqlite3_open_v2(db_path(dir), &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL);
    ASSERT_EQ_INT(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* A study of schema version 1 (one whole controller state per study) opens
 * as it is; nas_store_upgrade makes it version 2, which a nas of version 1
 * refuses as newer; a version below 1 is refused. */
static void test_schema_upgrade(void) {
    nas_store *st = open_fresh();
    nas_error err = {0};
    char dir[64];
    snprintf(dir, sizeof dir, "%s", tmp_dir);
    nas_store_close(st);
    ASSERT_EQ_INT(file_version(dir), 2);
    make_sqlite(db_path(dir), "PRAGMA user_version=1");
    ASSERT_OK(nas_store_open(dir, NULL, &st, &err), &err);
    nas_store_close(st);
    ASSERT_EQ_INT(file_version(dir), 1); /* readers leave it */
    ASSERT_OK(nas_store_open(dir, NULL, &st, &err), &err);
    ASSERT_OK(nas_store_upgrade(st, &err), &err);
    ASSERT_OK(nas_store_upgrade(st, &err), &err); /* once is enough */
    nas_store_close(st);
    ASSERT_EQ_INT(file_version(dir), 2);
    make_sqlite(db_path(dir), "PRAGMA user_version=0");
    expect_refused(dir, NAS_ERR_FORMAT, "unknown study schema version 0 (expected 1..2)");
    remove_dir(dir);
}

static void test_corrupt_files(void) {
    const char *dir = fresh_dir();
    pcg32 rng;
    pcg32_seed(&rng, 42, 1);
    unsigned char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)pcg32_next(&rng);
    write_bytes(db_path(dir), junk, sizeof junk);
    expect_refused(dir, NAS_ERR_FORMAT, "not a SQLite database");

    /* Right header, garbage after it. */
    memcpy(junk, "SQLite format 3", 16);
    write_bytes(db_path(dir), junk, sizeof junk);
    expect_refused(dir, NAS_ERR_FORMAT, "left untouched");

    /* A valid SQLite database of another application. */
    remove(db_path(dir));
    make_sqlite(db_path(dir), "CREATE TABLE trials(x); INSERT INTO trials VALUES (1);");
    expect_refused(dir, NAS_ERR_FORMAT, "another application");

    /* Our application id, but a newer schema version / a missing table. */
    remove(db_path(dir));
    make_sqlite(db_path(dir), "PRAGMA application_id=1312904052; PRAGMA user_version=99; "
                              "CREATE TABLE study(x);");
    expect_refused(dir, NAS_ERR_FORMAT, "schema version 99 is newer");
    remove(db_path(dir));
    make_sqlite(db_path(dir), "PRAGMA application_id=1312904052; PRAGMA user_version=1; "
                              "CREATE TABLE study(x);");
    expect_refused(dir, NAS_ERR_FORMAT, "corrupt study schema");

    /* A real study cut short. */
    remove(db_path(dir));
    nas_error err = {0};
    nas_store *st = NULL;
    nas_store_study study = make_study(SPEC);
    ASSERT_OK(nas_store_open(dir, &study, &st, &err), &err);
    char hash[16];
    for (int i = 0; i < 200; i++) {
        snprintf(hash, sizeof hash, "x%d", i);
        ASSERT_OK(nas_store_trial_insert(st, "{\"lr\": 0.123456789}", hash, NULL, NULL, NULL, &err),
                  &err);
    }
    nas_store_close(st);
    size_t len = 0;
    char *whole = slurp(db_path(dir), &len);
    ASSERT_TRUE(whole && len > 8192);
    write_bytes(db_path(dir), whole, len / 2);
    free(whole);
    expect_refused(dir, NAS_ERR_FORMAT, "corrupt");
    remove_dir(dir);
}

/* ---- crash consistency ---- */

/* The child: resumes the study and writes trials forever. Each trial is
 * insert, start, two values, then complete (or fail) together with the
 * "last_done" key and a snapshot in one grouped transaction. */
static void crash_child(const char *dir) {
    nas_error err = {0};
    nas_store *st = NULL;
    nas_store_study study = make_study(SPEC);
    if (nas_store_open(dir, &study, &st, &err) != NAS_OK) _exit(3);
    pcg32 rng;
    pcg32_seed(&rng, 1, 1);
    for (int iter = 0; iter < 100000; iter++) {
        int64_t counts[NAS_TRIAL_STATE_COUNT], total = 0, id = 0, number = 0;
        if (nas_store_trial_counts(st, counts, &err) != NAS_OK) _exit(4);
        for (int i = 0; i < NAS_TRIAL_STATE_COUNT; i++) total += counts[i];
        nas_trial_record *pend = NULL;
        size_t n = 0;
        if (nas_store_trial_list(st, 1u << NAS_TRIAL_PENDING, &pend, &n, &err) != NAS_OK) _exit(5);
        if (n > 0) {
            id = pend[0].id;
            number = pend[0].number;
        } else {
            char hash[32], point[64];
            snprintf(hash, sizeof hash, "pt%lld", (long long)total);
            snprintf(point, sizeof point, "{\"lr\": %lld}", (long long)total);
            if (nas_store_trial_insert(st, point, hash, "{}", &id, &number, &err) != NAS_OK)
                _exit(6);
        }
        nas_trial_records_free(pend, n);
        if (nas_store_trial_start(st, id, getpid(), dir, &err) != NAS_OK) _exit(7);
        if (nas_store_trial_add_value(st, id, "accuracy", 1, 0.1, &err) != NAS_OK) _exit(8);
        if (nas_store_trial_add_value(st, id, "accuracy", 2, 0.2, &err) != NAS_OK) _exit(9);
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)number);
        nas_status s = nas_store_begin(st, &err);
        if (s == NAS_OK) {
            if (number % 5 == 4) {
                s = nas_store_trial_fail(st, id, "exit status 1", "boom", &err);
            } else {
                nas_metric_step v = {"accuracy", 3, 0.3};
                char metrics[64];
                snprintf(metrics, sizeof metrics, "{\"accuracy\": %lld}", (long long)number);
                s = nas_store_trial_complete(st, id, metrics, &v, 1, &err);
            }
        }
        if (s == NAS_OK) s = nas_store_kv_set(st, "last_done", num, &err);
        /* a whole state every 4th trial, deltas between */
        if (s == NAS_OK) s = nas_store_snapshot_save(st, num, strlen(num), &rng, number + 1, number % 4 != 0, &err);
        if (s == NAS_OK) s = nas_store_commit(st, &err);
        if (s != NAS_OK) _exit(10);
    }
    nas_store_close(st);
    _exit(0);
}

static int64_t query_i64(sqlite3 *db, const char *sql) {
    sqlite3_stmt *q = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    else
        fprintf(stderr, "query failed: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return v;
}

/* Checks the study after a kill; returns the number of finished trials. */
static int64_t check_study(const char *dir) {
    nas_error err = {0};
    nas_store *st = NULL;
    nas_store_study study = make_study(SPEC);
    if (nas_store_open(dir, &study, &st, &err) != NAS_OK) TEST_FAIL_("reopen: %s", err.msg);

    sqlite3 *db = NULL;
    ASSERT_EQ_INT(sqlite3_open_v2(db_path(dir), &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    ASSERT_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_step(q), SQLITE_ROW);
    ASSERT_STR_EQ((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    int64_t total = query_i64(db, "SELECT count(*) FROM trials");
    /* No half-written trial. */
    ASSERT_EQ_INT(query_i64(db, "SELECT count(*) FROM trials WHERE state = 'complete' AND "
                                "(coalesce(json_type(metrics_json, '$.accuracy'), '') != 'integer' OR "
                                "(SELECT count(*) FROM trial_values WHERE trial_id = trials.id) "
                                "!= 3)"),
                  0);
    ASSERT_EQ_INT(query_i64(db, "SELECT count(*) FROM trials WHERE state = 'failed' AND "
                                "(fail_reason IS NOT 'exit status 1' OR number % 5 != 4)"),
                  0);
    ASSERT_EQ_INT(query_i64(db, "SELECT count(*) FROM trials WHERE state = 'pending' AND "
                                "(SELECT count(*) FROM trial_values WHERE trial_id = trials.id) "
                                "!= 0"),
                  0);
    ASSERT_TRUE(query_i64(db, "SELECT count(*) FROM trials WHERE state = 'running'") <= 1);
    /* Numbers are 0..n-1 and the hashes unique. */
    if (total > 0) ASSERT_EQ_INT(query_i64(db, "SELECT max(number) + 1 FROM trials"), total);
    ASSERT_EQ_INT(query_i64(db, "SELECT count(DISTINCT point_hash) FROM trials"), total);
    int64_t finished = query_i64(db, "SELECT count(*) FROM trials WHERE state IN "
                                     "('complete', 'failed')");
    /* The grouped transaction: key, snapshot and trial state agree. */
    if (finished > 0) {
        ASSERT_EQ_INT(query_i64(db, "SELECT CAST(value AS INTEGER) FROM kv WHERE key = "
                                    "'last_done'"),
                      query_i64(db, "SELECT max(number) FROM trials WHERE state IN "
                                    "('complete', 'failed')"));
        ASSERT_EQ_INT(query_i64(db, "SELECT n_trials - 1 FROM controller_snapshots ORDER BY id DESC LIMIT 1"),
                      query_i64(db, "SELECT max(number) FROM trials WHERE state IN "
                                    "('complete', 'failed')"));
    }
    int64_t last = finished > 0 ? query_i64(db, "SELECT max(number) FROM trials WHERE state IN "
                                                "('complete', 'failed')")
                                : -1;
    sqlite3_close(db);
    /* the snapshot chain: the whole state of the last multiple of 4, then
       one delta per trial after it, in order */
    nas_store_snapshot snap;
    ASSERT_OK(nas_store_snapshot_load(st, &snap, &err), &err);
    ASSERT_EQ_INT(snap.n, last < 0 ? 0 : (int)(last % 4) + 1);
    for (int i = 0; i < snap.n; i++) {
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)(last - last % 4 + i));
        ASSERT_EQ_INT(snap.lens[i], strlen(want));
        ASSERT_TRUE(memcmp(snap.parts[i], want, snap.lens[i]) == 0);
    }
    if (snap.n) ASSERT_EQ_INT(snap.n_trials, last + 1);
    nas_store_snapshot_free(&snap);

    int64_t counts[NAS_TRIAL_STATE_COUNT], sum = 0;
    ASSERT_OK(nas_store_trial_counts(st, counts, &err), &err);
    for (int i = 0; i < NAS_TRIAL_STATE_COUNT; i++) sum += counts[i];
    ASSERT_EQ_INT(sum, total);
    ASSERT_EQ_INT(counts[NAS_TRIAL_COMPLETE] + counts[NAS_TRIAL_FAILED], finished);
    int64_t nreq = 0;
    ASSERT_OK(nas_store_requeue_running(st, &nreq, &err), &err);
    ASSERT_OK(nas_store_trial_counts(st, counts, &err), &err);
    ASSERT_EQ_INT(counts[NAS_TRIAL_RUNNING], 0);
    nas_store_close(st);
    return finished;
}

static void test_crash_consistency(void) {
    const char *dir = fresh_dir();
    char study_dir[128];
    snprintf(study_dir, sizeof study_dir, "%s/study", dir);
    pcg32 rng;
    pcg32_seed(&rng, 2024, 7);
    int64_t prev = 0;
    int kills = 0;
    for (int round = 0; round < 24; round++) {
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) crash_child(study_dir);
        /* The first rounds kill early (during creation), then anywhere. */
        long us = round < 4 ? (long)pcg32_bounded(&rng, 3000) : 1000 + (long)pcg32_bounded(&rng, 40000);
        struct timespec ts = {0, us * 1000};
        nanosleep(&ts, NULL);
        int status = 0;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        }
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
            kills++;
        } else {
            TEST_FAIL_("round %d: child ended by itself (status 0x%x)", round, status);
        }
        if (!nas_path_exists(db_path(study_dir))) continue;
        int64_t finished = check_study(study_dir);
        ASSERT_TRUE(finished >= prev); /* nothing committed is lost */
        prev = finished;
    }
    ASSERT_TRUE(kills >= 20);
    ASSERT_TRUE(prev > 10); /* the children made progress */
    printf("     crash test: %d kills, %lld trials finished\n", kills, (long long)prev);
    remove_dir(dir);
}

/* ---- one job per study ---- */

static long lock_file_pid(const char *dir) {
    char path[256], *text;
    size_t len;
    nas_error err;
    snprintf(path, sizeof path, "%s/study.lock", dir);
    if (nas_file_read(path, &text, &len, &err)) return -1;
    long pid = strtol(text, NULL, 10);
    free(text);
    return pid;
}

static void test_lock_in_process(void) {
    const char *dir = fresh_dir();
    nas_error err;
    nas_store_lock *a = NULL, *b = NULL;
    ASSERT_OK(nas_store_lock_acquire(dir, &a, &err), &err);
    ASSERT_EQ_INT(lock_file_pid(dir), getpid());
    /* a second acquisition is refused even in the same process, naming the holder */
    ASSERT_EQ_INT(nas_store_lock_acquire(dir, &b, &err), NAS_ERR_BUSY);
    ASSERT_TRUE(b == NULL);
    char want[256];
    snprintf(want, sizeof want, "study %s is in use by another job (pid %ld)", dir, (long)getpid());
    ASSERT_STR_EQ(err.msg, want);
    /* readers do not lock: the store opens while the lock is held */
    nas_store *st = NULL;
    nas_store_study study = make_study(SPEC);
    ASSERT_OK(nas_store_open(dir, &study, &st, &err), &err);
    nas_store_close(st);
    nas_store_lock_release(a);
    ASSERT_OK(nas_store_lock_acquire(dir, &b, &err), &err);
    nas_store_lock_release(b);
    nas_store_lock_release(NULL);
    /* no directory, no lock (and no directory made) */
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    ASSERT_EQ_INT(nas_store_lock_acquire(missing, &b, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, "no such study directory");
    ASSERT_TRUE(!nas_path_exists(missing));
    remove_dir(dir);
}

/* Forks a holder of dir's lock that forks a child and then waits to be
 * killed. The child execs `sleep 30` (exec_child, as a trial program) or,
 * without exec, sleeps 0.5 s still holding the lock's descriptor. Returns
 * the holder's pid; *child gets the child's. */
static pid_t spawn_lock_holder(const char *dir, int exec_child, pid_t *child) {
    int fds[2];
    ASSERT_EQ_INT(pipe(fds), 0);
    pid_t holder = fork();
    ASSERT_TRUE(holder >= 0);
    if (holder == 0) {
        nas_store_lock *lk;
        if (nas_store_lock_acquire(dir, &lk, NULL)) _exit(1);
        pid_t c = fork();
        if (c == 0) {
            if (exec_child) {
                execl("/bin/sleep", "sleep", "30", (char *)NULL);
                _exit(127);
            }
            struct timespec ts = {0, 500000000L};
            nanosleep(&ts, NULL);
            _exit(0);
        }
        if (write(fds[1], &c, sizeof c) != (ssize_t)sizeof c) _exit(1);
        for (;;) pause();
    }
    close(fds[1]);
    *child = -1;
    ASSERT_EQ_INT(read(fds[0], child, sizeof *child), sizeof *child);
    close(fds[0]);
    return holder;
}

/* A holder killed with SIGKILL frees the lock, even though a program it
 * started (fork + exec, as trial programs are) outlives it. */
static void test_lock_freed_by_sigkill(void) {
    const char *dir = fresh_dir();
    nas_error err;
    pid_t prog;
    pid_t holder = spawn_lock_holder(dir, 1, &prog);
    ASSERT_TRUE(prog > 0);
    nas_store_lock *lk = NULL;
    ASSERT_EQ_INT(nas_store_lock_acquire(dir, &lk, &err), NAS_ERR_BUSY);
    char want[256];
    snprintf(want, sizeof want, "study %s is in use by another job (pid %ld)", dir, (long)holder);
    ASSERT_STR_EQ(err.msg, want);
    kill(holder, SIGKILL);
    int st;
    ASSERT_EQ_INT(waitpid(holder, &st, 0), holder);
    ASSERT_TRUE(WIFSIGNALED(st));
    ASSERT_EQ_INT(kill(prog, 0), 0); /* the orphaned program still runs... */
    ASSERT_OK(nas_store_lock_acquire(dir, &lk, &err), &err); /* ...and does not hold the lock */
    ASSERT_EQ_INT(lock_file_pid(dir), getpid());
    nas_store_lock_release(lk);
    kill(prog, SIGKILL);
    remove_dir(dir);
}

/* A holder killed while a child it forked has not reached exec (and so
 * still holds the lock): the next acquisition waits for the child instead
 * of refusing, since the recorded holder is gone. */
static void test_lock_waits_for_forked_child(void) {
    const char *dir = fresh_dir();
    nas_error err;
    pid_t child; /* no exec: keeps the lock's descriptor for 0.5 s */
    pid_t holder = spawn_lock_holder(dir, 0, &child);
    nas_store_lock *lk = NULL;
    ASSERT_EQ_INT(nas_store_lock_acquire(dir, &lk, &err), NAS_ERR_BUSY); /* the holder lives: refused */
    kill(holder, SIGKILL);
    int st;
    ASSERT_EQ_INT(waitpid(holder, &st, 0), holder);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ASSERT_OK(nas_store_lock_acquire(dir, &lk, &err), &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    ASSERT_TRUE(waited > 0.05); /* the child still held it when the holder died */
    ASSERT_TRUE(waited < 5.0);
    nas_store_lock_release(lk);
    remove_dir(dir);
}

static const test_case TESTS[] = {
    {"create_reopen", test_create_reopen},
    {"spec_merge", test_spec_merge},
    {"spec_mismatch", test_spec_mismatch},
    {"trial_lifecycle", test_trial_lifecycle},
    {"each_and_requeue", test_each_and_requeue},
    {"snapshot_kv", test_snapshot_kv},
    {"schema_upgrade", test_schema_upgrade},
    {"transactions", test_transactions},
    {"corrupt_files", test_corrupt_files},
    {"crash_consistency", test_crash_consistency},
    {"lock_in_process", test_lock_in_process},
    {"lock_freed_by_sigkill", test_lock_freed_by_sigkill},
    {"lock_waits_for_forked_child", test_lock_waits_for_forked_child},
    {0},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
