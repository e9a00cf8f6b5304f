/*
 * fuzz_study.c - libFuzzer target for a study database as `nas trials`
 * and `nas report` read it, and the store's readers a resume uses (the
 * spec's checks are search.c's, tested in test_search): the input is written as
 * DIR/study.db, loaded (nas_report_study_load: the store's checks, the
 * spec, every trial) and rendered as the HTML report and the three
 * listings; the store is opened again and its snapshot, counts, kv and
 * trials read. Every input must load or fail with a message, never crash,
 * leak or hit undefined behaviour, and the records keep their promises
 * (point_json and point_hash never NULL, a known state).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nas/core/pcg32.h"
#include "nas/search/report.h"
#include "nas/search/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const SUFFIX[] = {"", "-wal", "-shm", "-journal"};
static char dir[64]; /* DIR, made once per process and removed at its exit */

static void remove_files(void) {
    char path[128];
    for (size_t i = 0; i < sizeof SUFFIX / sizeof SUFFIX[0]; i++) {
        snprintf(path, sizeof path, "%s/study.db%s", dir, SUFFIX[i]);
        unlink(path);
    }
}

static void remove_dir(void) {
    remove_files();
    rmdir(dir);
}

static const char *study_dir(void) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/nas-fuzz-study-XXXXXX");
        if (!mkdtemp(dir)) abort();
        atexit(remove_dir);
    }
    return dir;
}

static int check_record(void *user, const nas_trial_record *r) {
    (void)user;
    if (!r->point_json || !r->point_hash || (int)r->state < 0 || r->state >= NAS_TRIAL_STATE_COUNT) abort();
    return 0;
}

static void render(const nas_report_study *s) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) abort();
    nas_error err;
    if (nas_report_html(s, f, &err) != NAS_OK && !err.msg[0]) abort();
    for (int fmt = NAS_REPORT_TABLE; fmt <= NAS_REPORT_CSV; fmt++) {
        nas_report_list_options o = {(nas_report_format)fmt, 0, fmt == NAS_REPORT_TABLE ? "accuracy" : NULL, 0};
        if (nas_report_trials(s, &o, f, &err) != NAS_OK && !err.msg[0]) abort();
    }
    fclose(f);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = study_dir();
    char path[128];
    remove_files();
    snprintf(path, sizeof path, "%s/study.db", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();

    nas_error err;
    nas_error_clear(&err);
    nas_report_study *s = NULL;
    if (nas_report_study_load(dir, &s, &err) != NAS_OK) {
        if (!err.msg[0]) abort();
    } else {
        render(s);
        nas_report_study_destroy(s);
    }

    nas_store *st = NULL;
    nas_error_clear(&err);
    if (nas_store_open(dir, NULL, &st, &err) != NAS_OK) {
        if (!err.msg[0]) abort();
        return 0;
    }
    if (!nas_store_spec_json(st) || !nas_store_space_source(st) || !nas_store_space_name(st)) abort();
    int64_t counts[NAS_TRIAL_STATE_COUNT];
    nas_store_trial_counts(st, counts, &err);
    nas_store_trial_each(st, 0, check_record, NULL, &err);
    nas_store_snapshot snap;
    nas_store_snapshot_load(st, &snap, &err);
    nas_store_snapshot_free(&snap);
    char *v = NULL;
    if (nas_store_kv_get(st, "elapsed_s", &v, &err) == NAS_OK) free(v);
    nas_store_close(st);
    return 0;
}
