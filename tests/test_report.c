/*
 * test_report.c - the study read back (nas/search/report.h): a study is
 * built in a temp dir through the store API (complete, failed, pruned,
 * running and pending trials, intermediate values, stage-2 kv entries,
 * DIR/final and DIR/best files), then every output is checked: the table
 * (human units), filters, sorting and limits, JSON (every field), CSV
 * (columns, quoting), export (arch, weights from final/ or best/, metrics,
 * errors), the HTML report (sections, numbers, SVG charts, Pareto front,
 * escaping), load errors, and the `nas trials/export/report` exit statuses
 * when the nas binary is built.
 */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nas/core/fileio.h"
#include "nas/search/report.h"
#include "nas/search/store.h"
#include "test.h"

#define EVIL_REASON "exit status 3: <script>alert(1)</script>, \"quoted\""

static const char *SPEC1 = "{\"space\":\"tiny\",\"controller\":\"evolution\",\"seed\":7,\"evaluator\":\"train\","
                           "\"objectives\":[\"maximize accuracy\"],\"constraints\":[\"latency <= 1ms\"],"
                           "\"reward\":\"objective\",\"data\":\"fashion-mnist\",\"max_trials\":10}";
static const char *SPEC2 = "{\"space\":\"tiny\",\"controller\":\"nsga2\",\"seed\":1,\"evaluator\":\"supernet\","
                           "\"objectives\":[\"maximize accuracy\",\"minimize latency\"],\"reward\":\"objective\"}";

static const char *FINAL0 = "{\"accuracy\":0.92,\"test_accuracy\":0.9012,\"latency_ms\":0.41,\"p90_ms\":0.45,"
                            "\"macs\":1200000,\"params\":45300}";
static const char *FINAL1 = "{\"accuracy\":0.951,\"test_accuracy\":0.9432,\"latency_ms\":0.77,\"p90_ms\":0.8,"
                            "\"macs\":5000000,\"params\":120000}";

static char *golden_arch(void) {
    char *text = NULL;
    size_t len = 0;
    nas_error err = {0};
    if (nas_file_read(NAS_SOURCE_DIR "/tests/golden/arch/small.json", &text, &len, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    return text;
}

static void remove_dir(const char *dir) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: %s failed\n", cmd);
}

static void write_text(const char *path, const char *text) {
    nas_error err = {0};
    if (nas_file_write_atomic(path, text, strlen(text), &err)) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
}

static char *read_text(const char *path) {
    char *text = NULL;
    size_t len = 0;
    if (nas_file_read(path, &text, &len, NULL)) return NULL;
    return text;
}

static size_t count_of(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Adds one trial; state: 'c' complete, 'f' failed, 'p' pruned, 'r' running,
 * 'q' pending. Returns its row id. */
static int64_t add_trial(nas_store *st, const char *point, const char *arch, char state, const char *metrics,
                         const char *reason) {
    static int counter;
    char hash[32];
    snprintf(hash, sizeof hash, "%016x", ++counter);
    nas_error err = {0};
    int64_t id = 0;
    if (nas_store_trial_insert(st, point, hash, arch, &id, NULL, &err)) goto fail;
    if (state == 'q') return id;
    if (nas_store_trial_start(st, id, 1234, "/tmp/trial", &err)) goto fail;
    if (state == 'c') {
        nas_metric_step steps[] = {{"val_loss", 1, 0.9}, {"val_loss", 2, 0.5}, {"val_loss", 3, 0.31}};
        if (nas_store_trial_complete(st, id, metrics, steps, 3, &err)) goto fail;
    } else if (state == 'f') {
        if (nas_store_trial_fail(st, id, reason, "Traceback:\n<b>boom</b> & more", &err)) goto fail;
    } else if (state == 'p') {
        if (nas_store_trial_prune(st, id, reason, metrics, NULL, 0, &err)) goto fail;
    }
    return id;
fail:
    fprintf(stderr, "building the study: %s\n", err.msg);
    abort();
}

/* The study used by most tests:
 *   0 complete  acc 91.23% 0.42 ms 1.2M MACs 45.3K params  stage 2, final/trial-0 weights
 *   1 complete  acc 95%    1.5 ms  5M MACs                 stage 2, only in DIR/best
 *   2 complete  acc 85%    0.9 ms  2M MACs (dominated by 0)
 *   3 failed    (reason with <script> and quotes)
 *   4 pruned
 *   5 running   (an arch that does not parse)
 *   6 pending   (no arch) */
static char *make_study(void) {
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/nas_test_report_XXXXXX");
    if (!mkdtemp(dir)) abort();
    char *arch = golden_arch();
    nas_store_study study = {SPEC1, "space tiny\nhparam lr = float(0.1, 1)\n", "tiny", "abc123", NULL};
    nas_store *st = NULL;
    nas_error err = {0};
    if (nas_store_open(dir, &study, &st, &err)) abort();
    add_trial(st, "{\"width\":4,\"op\":\"conv\"}", arch, 'c',
              "{\"accuracy\":0.9123,\"latency_ms\":0.42,\"macs\":1200000,\"flops\":2400000,\"params\":45300,"
              "\"memory_bytes\":1572864,\"energy_mj\":3.5,\"reward\":0.9123}",
              NULL);
    add_trial(st, "{\"width\":8,\"op\":\"conv\"}", arch, 'c',
              "{\"accuracy\":0.95,\"latency_ms\":1.5,\"macs\":5000000,\"flops\":10000000,\"params\":120000,"
              "\"memory_bytes\":3000000,\"reward\":0.95}",
              NULL);
    add_trial(st, "{\"width\":6,\"op\":\"sep\"}", arch, 'c',
              "{\"accuracy\":0.85,\"val_loss\":0.4,\"latency_ms\":0.9,\"macs\":2000000,\"flops\":4000000,"
              "\"params\":60000,\"memory_bytes\":2000000,\"reward\":0.85}",
              NULL);
    add_trial(st, "{\"width\":16,\"op\":\"conv\"}", arch, 'f', NULL, EVIL_REASON);
    add_trial(st, "{\"width\":2,\"op\":\"sep\"}", arch, 'p', "{\"accuracy\":0.5}", "median rule at step 2");
    add_trial(st, "{\"width\":3,\"op\":\"conv\"}", "{\"nodes\": []}", 'r', NULL, NULL);
    add_trial(st, "{\"width\":5,\"op\":\"conv\"}", NULL, 'q', NULL, NULL);
    if (nas_store_kv_set(st, "final/0", FINAL0, &err) || nas_store_kv_set(st, "final/1", FINAL1, &err) ||
        nas_store_set_status(st, "finished", &err))
        abort();
    nas_store_close(st);
    char path[256];
    snprintf(path, sizeof path, "%s/final/trial-0", dir);
    if (nas_mkdir_p(path, &err)) abort();
    snprintf(path, sizeof path, "%s/final/trial-0/weights.nasw", dir);
    write_text(path, "WEIGHTS-OF-TRIAL-0");
    snprintf(path, sizeof path, "%s/final/trial-0/arch.json", dir);
    write_text(path, arch);
    snprintf(path, sizeof path, "%s/best", dir);
    if (nas_mkdir_p(path, &err)) abort();
    snprintf(path, sizeof path, "%s/best/weights.nasw", dir);
    write_text(path, "WEIGHTS-OF-TRIAL-1");
    snprintf(path, sizeof path, "%s/best/arch.json", dir);
    write_text(path, arch);
    snprintf(path, sizeof path, "%s/best/metrics.json", dir);
    write_text(path, FINAL1);
    free(arch);
    return dir;
}

static nas_report_study *load(const char *dir) {
    nas_report_study *s = NULL;
    nas_error err = {0};
    if (nas_report_study_load(dir, &s, &err)) {
        fprintf(stderr, "load %s: %s\n", dir, err.msg);
        return NULL;
    }
    return s;
}

/* Runs the listing into a malloc'd string. */
static char *listing(const nas_report_study *s, nas_report_format f, nas_state_mask states, const char *sort,
                     long limit, nas_status *rc, nas_error *err) {
    FILE *tmp = tmpfile();
    if (!tmp) abort();
    nas_report_list_options o = {f, states, sort, limit};
    *rc = nas_report_trials(s, &o, tmp, err);
    long len = ftell(tmp);
    char *text = malloc((size_t)len + 1);
    if (!text || len < 0) abort();
    rewind(tmp);
    if (fread(text, 1, (size_t)len, tmp) != (size_t)len) abort();
    text[len] = 0;
    fclose(tmp);
    return text;
}

/* Position of the row of trial n in a table (a line starting with spaces and
 * the number), or -1. */
static long row_pos(const char *table, int n) {
    char needle[32];
    for (const char *line = table; line && *line;) {
        const char *p = line;
        while (*p == ' ') p++;
        snprintf(needle, sizeof needle, "%d  ", n);
        if (!strncmp(p, needle, strlen(needle))) return line - table;
        line = strchr(line, '\n');
        if (line) line++;
    }
    return -1;
}

/* ---- tests ---- */

static void test_load_errors(void) {
    nas_report_study *s = NULL;
    nas_error err = {0};
    ASSERT_EQ_INT(nas_report_study_load("/nonexistent/nas-study", &s, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, "/nonexistent/nas-study");
    ASSERT_TRUE(s == NULL);
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/nas_test_report_XXXXXX");
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    ASSERT_EQ_INT(nas_report_study_load(dir, &s, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, "study.db");
    char path[128];
    snprintf(path, sizeof path, "%s/study.db", dir);
    write_text(path, "this is not a database, just some text that is long enough to be read\n");
    ASSERT_EQ_INT(nas_report_study_load(dir, &s, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, path);
    char *after = read_text(path);
    ASSERT_STR_EQ(after, "this is not a database, just some text that is long enough to be read\n");
    free(after);
    remove_dir(dir);
}

static void test_table(void) {
    char *dir = make_study();
    nas_report_study *s = load(dir);
    ASSERT_TRUE(s != NULL);
    ASSERT_EQ_INT(nas_report_study_trial_count(s), 7);
    nas_status rc;
    nas_error err = {0};
    char *t = listing(s, NAS_REPORT_TABLE, 0, NULL, 0, &rc, &err);
    ASSERT_OK(rc, &err);
    /* header and human units */
    ASSERT_CONTAINS(t, "accuracy");
    ASSERT_CONTAINS(t, "latency");
    ASSERT_CONTAINS(t, "MACs");
    ASSERT_CONTAINS(t, "energy_mj");
    ASSERT_CONTAINS(t, "91.23%");
    ASSERT_CONTAINS(t, "0.42 ms");
    ASSERT_CONTAINS(t, "1.2M");
    ASSERT_CONTAINS(t, "45.3K");
    ASSERT_CONTAINS(t, "1.50 MB");
    ASSERT_CONTAINS(t, "test acc (stage 2)");
    ASSERT_CONTAINS(t, "94.32%");
    ASSERT_CONTAINS(t, "exit status 3: <script>");
    ASSERT_CONTAINS(t, "median rule at step 2");
    ASSERT_CONTAINS(t, "width=4 op=conv");
    ASSERT_CONTAINS(t, "pending");
    ASSERT_CONTAINS(t, "running");
    ASSERT_CONTAINS(t, "7 of 7 trials, 1 pending, 1 running, 3 complete, 1 failed, 1 pruned");
    /* rows in number order, all lines of the table equally aligned: the
       "point" column starts at the same offset on every row */
    for (int i = 0; i < 6; i++) ASSERT_TRUE(row_pos(t, i) < row_pos(t, i + 1));
    const char *head_end = strchr(t, '\n');
    ASSERT_TRUE(head_end != NULL);
    long point_col = strstr(t, "point") - t;
    const char *row0 = t + row_pos(t, 0);
    ASSERT_TRUE(strncmp(row0 + point_col, "width=4", 7) == 0);
    free(t);
    nas_report_study_destroy(s);
    remove_dir(dir);
}

static void test_filter_sort_limit(void) {
    char *dir = make_study();
    nas_report_study *s = load(dir);
    ASSERT_TRUE(s != NULL);
    nas_status rc;
    nas_error err = {0};
    nas_state_mask complete = 1u << NAS_TRIAL_COMPLETE;
    /* accuracy: best first */
    char *t = listing(s, NAS_REPORT_TABLE, complete, "accuracy", 0, &rc, &err);
    ASSERT_OK(rc, &err);
    ASSERT_TRUE(row_pos(t, 1) >= 0 && row_pos(t, 1) < row_pos(t, 0) && row_pos(t, 0) < row_pos(t, 2));
    ASSERT_EQ_INT(row_pos(t, 3), -1);
    ASSERT_CONTAINS(t, "3 of 7 trials, 3 complete");
    free(t);
    /* latency (alias of latency_ms): smallest first; limit 2 */
    t = listing(s, NAS_REPORT_TABLE, complete, "latency", 2, &rc, &err);
    ASSERT_OK(rc, &err);
    ASSERT_TRUE(row_pos(t, 0) >= 0 && row_pos(t, 0) < row_pos(t, 2));
    ASSERT_EQ_INT(row_pos(t, 1), -1);
    free(t);
    /* explicit direction; trials without the metric last */
    t = listing(s, NAS_REPORT_TABLE, 0, "accuracy:asc", 0, &rc, &err);
    ASSERT_OK(rc, &err);
    ASSERT_TRUE(row_pos(t, 4) < row_pos(t, 2) && row_pos(t, 2) < row_pos(t, 0) && row_pos(t, 0) < row_pos(t, 1));
    ASSERT_TRUE(row_pos(t, 1) < row_pos(t, 3) && row_pos(t, 3) < row_pos(t, 5));
    free(t);
    /* several states */
    t = listing(s, NAS_REPORT_TABLE, (1u << NAS_TRIAL_FAILED) | (1u << NAS_TRIAL_PENDING), NULL, 0, &rc, &err);
    ASSERT_OK(rc, &err);
    ASSERT_TRUE(row_pos(t, 3) >= 0 && row_pos(t, 6) >= 0);
    ASSERT_EQ_INT(row_pos(t, 0), -1);
    ASSERT_CONTAINS(t, "2 of 7 trials");
    free(t);
    /* bad sort keys */
    t = listing(s, NAS_REPORT_TABLE, 0, "bogus_metric", 0, &rc, &err);
    ASSERT_EQ_INT(rc, NAS_ERR_USAGE);
    ASSERT_CONTAINS(err.msg, "bogus_metric");
    ASSERT_CONTAINS(err.msg, "accuracy");
    free(t);
    t = listing(s, NAS_REPORT_TABLE, 0, "accuracy:sideways", 0, &rc, &err);
    ASSERT_EQ_INT(rc, NAS_ERR_USAGE);
    free(t);
    nas_report_study_destroy(s);
    remove_dir(dir);
}

static void test_json(void) {
    char *dir = make_study();
    nas_report_study *s = load(dir);
    ASSERT_TRUE(s != NULL);
    nas_status rc;
    nas_error err = {0};
    char *text = listing(s, NAS_REPORT_JSON, 0, NULL, 0, &rc, &err);
    ASSERT_OK(rc, &err);
    cJSON *a = cJSON_Parse(text);
    ASSERT_TRUE(cJSON_IsArray(a));
    ASSERT_EQ_INT(cJSON_GetArraySize(a), 7);
    cJSON *t0 = cJSON_GetArrayItem(a, 0), *t1 = cJSON_GetArrayItem(a, 1), *t3 = cJSON_GetArrayItem(a, 3);
    cJSON *t6 = cJSON_GetArrayItem(a, 6);
    ASSERT_EQ_INT(cJSON_GetObjectItem(t0, "number")->valuedouble, 0);
    ASSERT_STR_EQ(cJSON_GetObjectItem(t0, "state")->valuestring, "complete");
    ASSERT_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(t0, "metrics"), "accuracy")->valuedouble, 0.9123, 1e-12);
    ASSERT_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(t0, "metrics"), "energy_mj")->valuedouble, 3.5, 1e-12);
    ASSERT_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(t0, "point"), "width")->valuedouble, 4);
    cJSON *vl = cJSON_GetObjectItem(cJSON_GetObjectItem(t0, "intermediate"), "val_loss");
    ASSERT_EQ_INT(cJSON_GetArraySize(vl), 3);
    ASSERT_NEAR(cJSON_GetArrayItem(cJSON_GetArrayItem(vl, 2), 1)->valuedouble, 0.31, 1e-12);
    ASSERT_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(t0, "final"), "test_accuracy")->valuedouble, 0.9012, 1e-12);
    ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(t0, "duration_s")));
    ASSERT_TRUE(cJSON_GetObjectItem(t0, "duration_s")->valuedouble >= 0);
    ASSERT_EQ_INT(cJSON_GetObjectItem(t0, "attempts")->valuedouble, 1);
    ASSERT_STR_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(t0, "arch"), "format")->valuestring, "nas-arch");
    ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(t0, "in_best_dir")));
    ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(t1, "in_best_dir")));
    ASSERT_STR_EQ(cJSON_GetObjectItem(t3, "fail_reason")->valuestring, EVIL_REASON);
    ASSERT_CONTAINS(cJSON_GetObjectItem(t3, "stderr_tail")->valuestring, "<b>boom</b>");
    ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(t3, "metrics")));
    ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(t6, "arch")));
    ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(t6, "started_at")));
    ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(t6, "duration_s")));
    ASSERT_STR_EQ(cJSON_GetObjectItem(t6, "state")->valuestring, "pending");
    cJSON_Delete(a);
    free(text);
    nas_report_study_destroy(s);
    remove_dir(dir);
}

static void test_csv(void) {
    char *dir = make_study();
    nas_report_study *s = load(dir);
    ASSERT_TRUE(s != NULL);
    nas_status rc;
    nas_error err = {0};
    char *text = listing(s, NAS_REPORT_CSV, 0, NULL, 0, &rc, &err);
    ASSERT_OK(rc, &err);
    const char *head = "number,state,accuracy,val_loss,latency_ms,macs,flops,params,memory_bytes,energy_mj,reward,"
                       "final.accuracy,final.test_accuracy,final.latency_ms,final.p90_ms,final.macs,final.params,"
                       "duration_s,attempts,created_at,started_at,finished_at,fail_reason,point,point_hash,"
                       "trial_dir\r\n";
    ASSERT_TRUE(strncmp(text, head, strlen(head)) == 0);
    ASSERT_EQ_INT(count_of(text, "\r\n"), 8);
    /* trial 0: every metric in its column, shortest round-trip numbers */
    ASSERT_CONTAINS(text, "\r\n0,complete,0.9123,,0.42,1200000,2400000,45300,1572864,3.5,0.9123,0.92,0.9012,0.41,"
                          "0.45,1200000,45300,");
    /* quoting: commas and quotes in the reason and the point */
    ASSERT_CONTAINS(text, ",\"exit status 3: <script>alert(1)</script>, \"\"quoted\"\"\",");
    ASSERT_CONTAINS(text, ",\"{\"\"width\"\":4,\"\"op\"\":\"\"conv\"\"}\",");
    ASSERT_CONTAINS(text, "\r\n6,pending,,,");
    free(text);
    /* filtered rows keep the columns */
    text = listing(s, NAS_REPORT_CSV, 1u << NAS_TRIAL_FAILED, NULL, 0, &rc, &err);
    ASSERT_OK(rc, &err);
    ASSERT_TRUE(strncmp(text, head, strlen(head)) == 0);
    ASSERT_EQ_INT(count_of(text, "\r\n"), 2);
    free(text);
    nas_report_study_destroy(s);
    remove_dir(dir);
}

static void test_export(void) {
    char *dir = make_study();
    nas_report_study *s = load(dir);
    ASSERT_TRUE(s != NULL);
    nas_error err = {0};
    nas_report_export_result res;
    char out[128], path[256];
    char *arch = golden_arch();
    /* trial 0: stage-2 weights from final/trial-0 */
    snprintf(out, sizeof out, "%s/export/t0", dir);
    ASSERT_OK(nas_report_export(s, 0, out, &res, &err), &err);
    char *got = read_text(res.weights_path);
    ASSERT_STR_EQ(got, "WEIGHTS-OF-TRIAL-0");
    free(got);
    ASSERT_CONTAINS(res.weights_from, "final/trial-0/weights.nasw");
    got = read_text(res.arch_path);
    ASSERT_STR_EQ(got, arch);
    free(got);
    snprintf(path, sizeof path, "%s/metrics.json", out);
    got = read_text(path);
    cJSON *m = cJSON_Parse(got);
    ASSERT_EQ_INT(cJSON_GetObjectItem(m, "trial")->valuedouble, 0);
    ASSERT_STR_EQ(cJSON_GetObjectItem(m, "state")->valuestring, "complete");
    ASSERT_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "metrics"), "latency_ms")->valuedouble, 0.42, 1e-12);
    ASSERT_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "final"), "test_accuracy")->valuedouble, 0.9012, 1e-12);
    ASSERT_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "point"), "width")->valuedouble, 4);
    ASSERT_STR_EQ(cJSON_GetObjectItem(m, "weights")->valuestring, "weights.nasw");
    ASSERT_CONTAINS(cJSON_GetObjectItem(m, "weights_from")->valuestring, "final/trial-0/weights.nasw");
    ASSERT_TRUE(got[strlen(got) - 1] == '\n');
    cJSON_Delete(m);
    free(got);
    /* trial 1: only DIR/best holds its weights */
    snprintf(out, sizeof out, "%s/export/t1", dir);
    ASSERT_OK(nas_report_export(s, 1, out, &res, &err), &err);
    got = read_text(res.weights_path);
    ASSERT_STR_EQ(got, "WEIGHTS-OF-TRIAL-1");
    free(got);
    ASSERT_CONTAINS(res.weights_from, "/best/weights.nasw");
    /* trial 2: no weights (a stale weights file in OUT goes); the arch comes
       from study.db */
    snprintf(out, sizeof out, "%s/export/t2", dir);
    ASSERT_OK(nas_mkdir_p(out, &err), &err);
    snprintf(path, sizeof path, "%s/weights.nasw", out);
    write_text(path, "STALE");
    ASSERT_OK(nas_report_export(s, 2, out, &res, &err), &err);
    ASSERT_STR_EQ(res.weights_path, "");
    ASSERT_STR_EQ(res.arch_from, "study.db");
    snprintf(path, sizeof path, "%s/weights.nasw", out);
    ASSERT_TRUE(!nas_path_exists(path));
    got = read_text(res.arch_path);
    ASSERT_STR_EQ(got, arch);
    free(got);
    snprintf(path, sizeof path, "%s/metrics.json", out);
    got = read_text(path);
    m = cJSON_Parse(got);
    ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(m, "final")));
    ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(m, "weights")));
    cJSON_Delete(m);
    free(got);
    /* errors: unknown trial, no arch, an arch that does not parse */
    snprintf(out, sizeof out, "%s/export/bad", dir);
    ASSERT_EQ_INT(nas_report_export(s, 99, out, &res, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "no trial 99");
    ASSERT_CONTAINS(err.msg, "0..6");
    ASSERT_EQ_INT(nas_report_export(s, 6, out, &res, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "trial 6 (pending) has no arch");
    ASSERT_EQ_INT(nas_report_export(s, 5, out, &res, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "trial 5");
    ASSERT_TRUE(!nas_path_exists(out));
    free(arch);
    nas_report_study_destroy(s);
    remove_dir(dir);
}

/* Loads the study in dir and returns its report page (saved as DIR/report.html). */
static char *html_of(const char *dir) {
    nas_report_study *s = load(dir);
    ASSERT_TRUE(s != NULL);
    nas_error err = {0};
    char path[128];
    snprintf(path, sizeof path, "%s/report.html", dir);
    ASSERT_OK(nas_report_html_save(s, path, &err), &err);
    nas_report_study_destroy(s);
    return read_text(path);
}

static void test_html(void) {
    char *dir = make_study();
    char *h = html_of(dir);
    ASSERT_TRUE(h != NULL);
    ASSERT_TRUE(strncmp(h, "<!DOCTYPE html>", 15) == 0);
    ASSERT_CONTAINS(h, "</html>");
    ASSERT_CONTAINS(h, "<title>nas report: tiny</title>");
    ASSERT_CONTAINS(h, "<h1>Study: tiny</h1>");
    /* summary */
    ASSERT_CONTAINS(h, "<dd>evolution</dd>");
    ASSERT_CONTAINS(h, "<dd>train</dd>");
    ASSERT_CONTAINS(h, "<dd>maximize accuracy</dd>");
    ASSERT_CONTAINS(h, "<dd>latency &lt;= 1ms</dd>");
    ASSERT_CONTAINS(h, ">3 complete<");
    ASSERT_CONTAINS(h, ">1 failed<");
    ASSERT_CONTAINS(h, ">1 pruned<");
    ASSERT_CONTAINS(h, ">finished<");
    /* best trial (1, accuracy 95%) with its stage-2 test accuracy */
    ASSERT_CONTAINS(h, "<h2>Best trial</h2>");
    ASSERT_CONTAINS(h, "<h3>Trial 1</h3>");
    ASSERT_CONTAINS(h, "<b>95.00%</b>");
    ASSERT_CONTAINS(h, "94.32%");
    ASSERT_CONTAINS(h, "0.77 ms");
    /* stage 2 table, DIR/best marked */
    ASSERT_CONTAINS(h, "Stage 2: retrained from scratch");
    ASSERT_CONTAINS(h, "1 (best/)");
    ASSERT_CONTAINS(h, "90.12%");
    /* charts: inline SVG with points, the best-so-far line, the front */
    ASSERT_EQ_INT(count_of(h, "<svg "), 4);
    ASSERT_CONTAINS(h, "id=\"chart-progress\"");
    ASSERT_CONTAINS(h, "id=\"chart-latency\"");
    ASSERT_CONTAINS(h, "id=\"chart-macs\"");
    ASSERT_CONTAINS(h, "id=\"chart-durations\"");
    ASSERT_CONTAINS(h, "<path class=\"bestline\" d=\"M");
    ASSERT_CONTAINS(h, "<path class=\"frontline\" d=\"M");
    /* trials 0 and 1 on the front of both trade-off charts, 2 dominated;
       plus one legend entry per chart */
    ASSERT_EQ_INT(count_of(h, "<circle class=\"front\""), 6);
    ASSERT_CONTAINS(h, "<circle class=\"front\" cx");
    ASSERT_CONTAINS(h, "<title>trial 0: latency_ms 0.42 ms, accuracy 91.23%</title>");
    const char *t2 = strstr(h, "<title>trial 2: latency_ms 0.9 ms, accuracy 85.00%</title>");
    ASSERT_TRUE(t2 != NULL);
    const char *open = t2;
    while (open > h && strncmp(open, "<circle", 7)) open--;
    ASSERT_TRUE(strncmp(open, "<circle class=\"pt\"", 18) == 0);
    ASSERT_EQ_INT(count_of(h, "<rect class=\"bar "), 5 + 3);
    /* trials table and failures, escaped */
    ASSERT_CONTAINS(h, "<h2>All trials</h2>");
    ASSERT_CONTAINS(h, "Failed and pruned trials (2)");
    ASSERT_CONTAINS(h, "exit status 3: &lt;script&gt;alert(1)&lt;/script&gt;, &quot;quoted&quot;");
    ASSERT_CONTAINS(h, "&lt;b&gt;boom&lt;/b&gt; &amp; more");
    ASSERT_TRUE(strstr(h, "<script") == NULL);
    ASSERT_TRUE(strstr(h, "<b>boom") == NULL);
    ASSERT_CONTAINS(h, "width=4 op=conv");
    /* self-contained: no external resources */
    ASSERT_TRUE(strstr(h, "src=") == NULL);
    ASSERT_TRUE(strstr(h, "href=") == NULL);
    ASSERT_TRUE(strstr(h, "@import") == NULL);
    ASSERT_EQ_INT(count_of(h, "http"), count_of(h, "xmlns=\"http://www.w3.org/2000/svg\"")); /* namespaces only */
    ASSERT_CONTAINS(h, "space tiny\nhparam lr = float(0.1, 1)");
    free(h);
    remove_dir(dir);
}

/* Times no int or time_t holds (a study.db edited by hand, or damaged):
 * the report says "-" or hours in exponent form instead of converting them
 * (undefined behaviour, found by fuzz_study). */
static void test_corrupt_times(void) {
    char *dir = make_study();
    char db[128], cmd[512];
    snprintf(db, sizeof db, "%s/study.db", dir);
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import sqlite3; c = sqlite3.connect('%s'); "
             "c.execute('UPDATE trials SET started_at = 1, finished_at = 1e300 WHERE number = 0'); "
             "c.execute('UPDATE study SET created_at = 1e300'); c.commit()\"",
             db);
    ASSERT_EQ_INT(system(cmd), 0);
    char *h = html_of(dir);
    ASSERT_TRUE(h != NULL);
    ASSERT_CONTAINS(h, "</html>");
    ASSERT_CONTAINS(h, "e+296h");
    free(h);
    remove_dir(dir);
}

static void test_multi_objective_and_empty(void) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/nas_test_report_XXXXXX");
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    nas_store_study study = {SPEC2, "space tiny\n", "tiny", "abc123", NULL};
    nas_store *st = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_store_open(dir, &study, &st, &err), &err);
    nas_store_close(st);
    /* an empty study: every output works */
    nas_report_study *s = load(dir);
    ASSERT_TRUE(s != NULL);
    nas_status rc;
    char *t = listing(s, NAS_REPORT_TABLE, 0, "accuracy", 0, &rc, &err);
    ASSERT_OK(rc, &err);
    ASSERT_CONTAINS(t, "0 of 0 trials");
    free(t);
    t = listing(s, NAS_REPORT_JSON, 0, NULL, 0, &rc, &err);
    ASSERT_OK(rc, &err);
    ASSERT_STR_EQ(t, "[]\n");
    free(t);
    char path[128];
    snprintf(path, sizeof path, "%s/empty.html", dir);
    ASSERT_OK(nas_report_html_save(s, path, &err), &err);
    char *h = read_text(path);
    ASSERT_CONTAINS(h, "No complete trial reported every objective yet.");
    ASSERT_CONTAINS(h, "No trials yet.");
    ASSERT_EQ_INT(count_of(h, "<svg "), 0);
    free(h);
    nas_report_study_destroy(s);
    /* three trials: two on the accuracy/latency front */
    ASSERT_OK(nas_store_open(dir, NULL, &st, &err), &err);
    add_trial(st, "{\"w\":1}", NULL, 'c', "{\"accuracy\":0.9,\"latency_ms\":0.5}", NULL);
    add_trial(st, "{\"w\":2}", NULL, 'c', "{\"accuracy\":0.8,\"latency_ms\":0.7}", NULL);
    add_trial(st, "{\"w\":3}", NULL, 'c', "{\"accuracy\":0.95,\"latency_ms\":2.0}", NULL);
    nas_store_close(st);
    s = load(dir);
    ASSERT_TRUE(s != NULL);
    ASSERT_OK(nas_report_html_save(s, path, &err), &err);
    h = read_text(path);
    ASSERT_CONTAINS(h, "<h2>Pareto front</h2>");
    ASSERT_CONTAINS(h, "2 trials that no other trial beats on every objective (maximize accuracy, minimize "
                       "latency_ms)");
    const char *front = strstr(h, "<h2>Pareto front</h2>");
    ASSERT_TRUE(front != NULL);
    const char *end = strstr(front, "</section>");
    ASSERT_TRUE(end != NULL);
    const char *r0 = strstr(front, "<td class=\"n\">0</td>"), *r2 = strstr(front, "<td class=\"n\">2</td>");
    const char *r1 = strstr(front, "<td class=\"n\">1</td>");
    ASSERT_TRUE(r0 && r0 < end && r2 && r2 < end);
    ASSERT_TRUE(!r1 || r1 > end);
    ASSERT_EQ_INT(count_of(h, "<svg "), 3); /* no MACs reported: that chart says so */
    ASSERT_CONTAINS(h, "No complete trial reported both accuracy and macs.");
    /* sorting by a metric of a minimize objective: smallest first */
    t = listing(s, NAS_REPORT_TABLE, 0, "latency_ms", 0, &rc, &err);
    ASSERT_OK(rc, &err);
    ASSERT_TRUE(row_pos(t, 0) < row_pos(t, 1) && row_pos(t, 1) < row_pos(t, 2));
    free(t);
    free(h);
    nas_report_study_destroy(s);
    remove_dir(dir);
}

/* Runs `nas ARGS` with output to /dev/null; returns the exit status. */
static int run_nas(const char *args) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>&1", NAS_BINARY, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void) {
    if (access(NAS_BINARY, X_OK) != 0) {
        printf("     (cli: %s not built, skipped)\n", NAS_BINARY);
        return;
    }
    char *dir = make_study();
    char args[512], path[256];
    snprintf(args, sizeof args, "trials %s", dir);
    ASSERT_EQ_INT(run_nas(args), 0);
    snprintf(args, sizeof args, "trials %s --csv --state complete,failed --sort latency:desc --limit 2", dir);
    ASSERT_EQ_INT(run_nas(args), 0);
    snprintf(args, sizeof args, "trials %s --json", dir);
    ASSERT_EQ_INT(run_nas(args), 0);
    ASSERT_EQ_INT(run_nas("trials /nonexistent/nas-study"), 1);
    snprintf(args, sizeof args, "trials %s --bogus", dir);
    ASSERT_EQ_INT(run_nas(args), 2);
    snprintf(args, sizeof args, "trials %s --json --csv", dir); /* one format, not the last one */
    ASSERT_EQ_INT(run_nas(args), 2);
    snprintf(args, sizeof args, "trials %s --json --json", dir);
    ASSERT_EQ_INT(run_nas(args), 0);
    snprintf(args, sizeof args, "trials %s --state weird", dir);
    ASSERT_EQ_INT(run_nas(args), 2);
    snprintf(args, sizeof args, "trials %s --limit x", dir);
    ASSERT_EQ_INT(run_nas(args), 2);
    snprintf(args, sizeof args, "trials %s --sort nothing_like_it", dir);
    ASSERT_EQ_INT(run_nas(args), 2);
    ASSERT_EQ_INT(run_nas("trials"), 2);
    snprintf(args, sizeof args, "export %s --trial 0 -o %s/cli-export", dir, dir);
    ASSERT_EQ_INT(run_nas(args), 0);
    snprintf(path, sizeof path, "%s/cli-export/weights.nasw", dir);
    ASSERT_TRUE(nas_path_exists(path));
    snprintf(args, sizeof args, "export %s --trial 99 -o %s/cli-export", dir, dir);
    ASSERT_EQ_INT(run_nas(args), 1);
    snprintf(args, sizeof args, "export %s -o %s/cli-export", dir, dir);
    ASSERT_EQ_INT(run_nas(args), 2);
    snprintf(args, sizeof args, "export %s --trial 0", dir);
    ASSERT_EQ_INT(run_nas(args), 2);
    snprintf(args, sizeof args, "report %s", dir);
    ASSERT_EQ_INT(run_nas(args), 0);
    snprintf(path, sizeof path, "%s/report.html", dir);
    ASSERT_TRUE(nas_path_exists(path));
    snprintf(args, sizeof args, "report %s -o %s/other.html", dir, dir);
    ASSERT_EQ_INT(run_nas(args), 0);
    {
        /* a file that cannot be written: the error names it, not its
         * temporary file */
        char cmd[1024], *text = NULL, want[600];
        size_t len;
        nas_error err;
        snprintf(cmd, sizeof cmd, "'%s' report %s -o %s/no-dir/r.html > %s/cli-err.txt 2>&1", NAS_BINARY, dir, dir,
                 dir);
        int st = system(cmd);
        ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1);
        snprintf(path, sizeof path, "%s/cli-err.txt", dir);
        ASSERT_OK(nas_file_read(path, &text, &len, &err), &err);
        snprintf(want, sizeof want, "nas: error: %s/no-dir/r.html: cannot create the file: No such file or directory",
                 dir);
        ASSERT_CONTAINS(text, want);
        ASSERT_TRUE(strstr(text, ".tmp.") == NULL);
        free(text);
        remove(path);
    }
    snprintf(path, sizeof path, "%s/other.html", dir);
    ASSERT_TRUE(nas_path_exists(path));
    ASSERT_EQ_INT(run_nas("report /nonexistent/nas-study"), 1);
    remove_dir(dir);
}

/* The page says "running" only while a job holds the study lock: a killed
 * job leaves "running" in study.db, shown as "stopped". */
static void test_status_from_lock(void) {
    char *dir = make_study();
    nas_store_study study = {SPEC1, "space tiny\nhparam lr = float(0.1, 1)\n", "tiny", "abc123", NULL};
    nas_store *st = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_store_open(dir, &study, &st, &err), &err);
    ASSERT_OK(nas_store_set_status(st, "running", &err), &err);
    nas_store_close(st);
    ASSERT_EQ_INT(nas_store_lock_held(dir), 0);
    char *h = html_of(dir);
    ASSERT_CONTAINS(h, "<span class=\"badge status\">stopped</span>");
    free(h);
    nas_store_lock *lk = NULL;
    ASSERT_OK(nas_store_lock_acquire(dir, &lk, &err), &err);
    ASSERT_EQ_INT(nas_store_lock_held(dir), 1);
    h = html_of(dir);
    ASSERT_CONTAINS(h, "<span class=\"badge status\">running</span>");
    free(h);
    nas_store_lock_release(lk);
    ASSERT_EQ_INT(nas_store_lock_held(dir), 0);
    remove_dir(dir);
}

static const test_case TESTS[] = {
    {"status_from_lock", test_status_from_lock},
    {"load_errors", test_load_errors},
    {"table", test_table},
    {"filter_sort_limit", test_filter_sort_limit},
    {"json", test_json},
    {"csv", test_csv},
    {"export", test_export},
    {"html", test_html},
    {"corrupt_times", test_corrupt_times},
    {"multi_objective_and_empty", test_multi_objective_and_empty},
    {"cli", test_cli},
    {0},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
