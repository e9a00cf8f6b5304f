/*
 * test_trial.c - the trial runner (nas/search/trial.h): argument formatting
 * and quoting, environment, metrics (final and intermediate), every failure
 * reason (exit status, signal, timeout, missing metric, NaN/inf, malformed
 * lines), memory limits, cancel, parallel trials, the median stopping rule
 * and ASHA on synthetic histories and on a live trial, and the two examples
 * of docs/trial-protocol.md (kept in tests/trial_programs/).
 * Trial programs are small shell and Python scripts written to a temp dir.
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include <sched.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nas/core/fileio.h"
#include "nas/core/log.h"
#include "nas/search/trial.h"
#include "test.h"

static char work[64];

/* Removes the temp dir when the test program exits (whichever tests ran). */
static void cleanup_work(void) {
    if (!work[0]) return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
    if (system(cmd) != 0) fprintf(stderr, "warning: %s failed\n", cmd);
    work[0] = '\0';
}

static void setup(void) {
    if (work[0]) return;
    snprintf(work, sizeof work, "/tmp/nas_test_trial_XXXXXX");
    if (!mkdtemp(work)) {
        perror("mkdtemp");
        abort();
    }
    atexit(cleanup_work);
}

static const char *prog(const char *name, const char *text) {
    static char path[8][160];
    static int k;
    setup();
    char *p = path[k++ % 8];
    snprintf(p, 160, "%s/%s", work, name);
    FILE *f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(p);
        abort();
    }
    return p;
}

static const char *tdir(const char *name) {
    static char path[8][160];
    static int k;
    setup();
    char *p = path[k++ % 8];
    snprintf(p, 160, "%s/trials/%s", work, name);
    return p;
}

static char *read_text(const char *dir, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *data = NULL;
    size_t len = 0;
    nas_error err = {0};
    if (nas_file_read(path, &data, &len, &err) != NAS_OK) return NULL;
    return data;
}

static nas_trial_spec base_spec(const char *command, const char *dir) {
    nas_trial_spec s;
    memset(&s, 0, sizeof s);
    s.command = command;
    s.trial_dir = dir;
    s.trial_id = 7;
    s.timeout_s = 30;
    s.kill_grace_s = 1;
    return s;
}

/* Runs a spec to the end; the caller destroys the handle. */
static nas_trial *run(const nas_trial_spec *spec) {
    nas_trial *t = NULL;
    nas_error err = {0};
    if (nas_trial_run(spec, &t, &err) != NAS_OK) {
        fprintf(stderr, "nas_trial_run: %s\n", err.msg);
        return NULL;
    }
    return t;
}

static double final_value(const nas_trial_result *r, const char *metric) {
    for (size_t i = 0; i < r->n_final; i++)
        if (strcmp(r->final[i].metric, metric) == 0) return r->final[i].value;
    return NAN;
}

/* ---- arguments ---- */

static void test_command_format(void) {
    nas_trial_param p[] = {
        {"epochs", NAS_PARAM_INT, 30, 0, NULL},
        {"neg", NAS_PARAM_INT, -9007199254740993LL, 0, NULL},
        {"lr", NAS_PARAM_FLOAT, 0, 0.1, NULL},
        {"tiny", NAS_PARAM_FLOAT, 0, 1e-5, NULL},
        {"whole", NAS_PARAM_FLOAT, 0, 3.0, NULL},
        {"opt", NAS_PARAM_STR, 0, 0, "sgd"},
        {"msg", NAS_PARAM_STR, 0, 0, "it's a \"test\" $HOME `x` ;|&"},
        {"empty", NAS_PARAM_STR, 0, 0, ""},
    };
    char *cmd = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_trial_command("python3 train.py", p, 8, "/t/arch.json", &cmd, &err), &err);
    ASSERT_STR_EQ(cmd, "python3 train.py --epochs=30 --neg=-9007199254740993 "
                       "--lr=0.10000000000000001 --tiny=1.0000000000000001e-05 --whole=3 "
                       "--opt=sgd '--msg=it'\\''s a \"test\" $HOME `x` ;|&' --empty= "
                       "--arch=/t/arch.json");
    free(cmd);
    nas_trial_param bad[] = {{"a=b", NAS_PARAM_INT, 1, 0, NULL}};
    ASSERT_EQ_INT(nas_trial_command("x", bad, 1, NULL, &cmd, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "bad name 'a=b'");
    nas_trial_param nan_p[] = {{"lr", NAS_PARAM_FLOAT, 0, NAN, NULL}};
    ASSERT_EQ_INT(nas_trial_command("x", nan_p, 1, NULL, &cmd, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "'lr': value is not finite");
    ASSERT_EQ_INT(nas_trial_command("", NULL, 0, NULL, &cmd, &err), NAS_ERR_INVALID);
}

/* The program receives exactly the values, one argument each. */
static void test_arguments_received(void) {
    const char *sh = prog("args.sh", "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n"
                                     "echo '{\"metric\": \"accuracy\", \"value\": 1}' >> "
                                     "\"$NAS_METRICS_FILE\"\n");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh %s", sh);
    nas_trial_param p[] = {
        {"lr", NAS_PARAM_FLOAT, 0, 0.1, NULL},
        {"msg", NAS_PARAM_STR, 0, 0, "two  spaces, 'single' and \"double\" $HOME \\n"},
        {"n", NAS_PARAM_INT, 0x7fffffffffffffffLL, 0, NULL},
    };
    nas_trial_spec spec = base_spec(cmd, tdir("args"));
    spec.params = p;
    spec.n_params = 3;
    spec.arch_json = "{\"nodes\": []}\n";
    spec.objective = "accuracy";
    nas_trial *t = run(&spec);
    ASSERT_TRUE(t != NULL);
    const nas_trial_result *r = nas_trial_result_get(t);
    ASSERT_EQ_INT(r->state, NAS_TRIAL_COMPLETE);
    char *out = read_text(spec.trial_dir, "stdout.log");
    char want[512];
    snprintf(want, sizeof want,
             "[--lr=0.10000000000000001]\n"
             "[--msg=two  spaces, 'single' and \"double\" $HOME \\n]\n"
             "[--n=9223372036854775807]\n"
             "[--arch=%s/arch.json]\n",
             nas_trial_dir(t));
    ASSERT_STR_EQ(out, want);
    free(out);
    char *arch = read_text(spec.trial_dir, "arch.json");
    ASSERT_STR_EQ(arch, "{\"nodes\": []}\n");
    free(arch);
    char *cmdline = read_text(spec.trial_dir, "command.txt");
    ASSERT_CONTAINS(cmdline, "'--msg=two  spaces, '\\''single'\\'' and");
    free(cmdline);
    nas_trial_destroy(t);
}

static void test_environment(void) {
    const char *sh = prog("env.sh", "echo \"id=$NAS_TRIAL_ID\"\n"
                                    "echo \"dir=$NAS_TRIAL_DIR\"\n"
                                    "echo \"metrics=$NAS_METRICS_FILE\"\n"
                                    "echo \"home=$HOME\"\n"
                                    "pwd\n");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh %s", sh);
    setenv("NAS_TRIAL_ID", "stale", 1); /* the trial's own value wins */
    nas_trial_spec spec = base_spec(cmd, tdir("env"));
    spec.trial_id = 1234567890123LL;
    nas_trial *t = run(&spec);
    unsetenv("NAS_TRIAL_ID");
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(nas_trial_result_get(t)->state, NAS_TRIAL_COMPLETE); /* no objective asked */
    char *out = read_text(spec.trial_dir, "stdout.log");
    char want[1024], cwd[512];
    ASSERT_TRUE(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(want, sizeof want, "id=1234567890123\ndir=%s\nmetrics=%s/metrics.jsonl\nhome=%s\n%s\n",
             nas_trial_dir(t), nas_trial_dir(t), getenv("HOME") ? getenv("HOME") : "", cwd);
    ASSERT_STR_EQ(out, want);
    ASSERT_TRUE(nas_trial_dir(t)[0] == '/');
    free(out);
    nas_trial_destroy(t);
}

/* A caller whose thread is pinned to one CPU (as the search job pins its
 * threads for latency) runs its program on the CPUs it passes. */
static void test_cpu_mask(void) {
    cpu_set_t all, one;
    ASSERT_EQ_INT(sched_getaffinity(0, sizeof all, &all), 0);
    if (CPU_COUNT(&all) < 2) {
        printf("     one CPU here: nothing to check\n");
        return;
    }
    int first = 0;
    while (!CPU_ISSET(first, &all)) first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ_INT(sched_setaffinity(0, sizeof one, &one), 0);
    const char *sh = prog("cpus.sh", "env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc\n") /* nproc honours both */;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh %s", sh);
    nas_trial_spec spec = base_spec(cmd, tdir("cpus-inherited"));
    nas_trial *t = run(&spec);
    nas_trial_spec spec2 = base_spec(cmd, tdir("cpus-given"));
    spec2.cpu_mask = &all;
    spec2.cpu_mask_bytes = sizeof all;
    nas_trial *t2 = run(&spec2);
    sched_setaffinity(0, sizeof all, &all);
    ASSERT_TRUE(t != NULL && t2 != NULL);
    char *inherited = read_text(spec.trial_dir, "stdout.log"), *given = read_text(spec2.trial_dir, "stdout.log");
    char want[64];
    snprintf(want, sizeof want, "%d\n", CPU_COUNT(&all));
    ASSERT_STR_EQ(inherited, "1\n");
    ASSERT_STR_EQ(given, want);
    free(inherited);
    free(given);
    nas_trial_destroy(t);
    nas_trial_destroy(t2);
}

/* ---- metrics ---- */

static void test_success_metrics(void) {
    const char *py = prog("ok.py",
                          "import json, os, sys, time\n"
                          "f = open(os.environ['NAS_METRICS_FILE'], 'a')\n"
                          "for s in range(1, 4):\n"
                          "    f.write(json.dumps({'metric': 'val_loss', 'value': 1.0 / s, "
                          "'step': s}) + '\\n'); f.flush()\n"
                          "f.write('\\n')\n"
                          "f.write(json.dumps({'metric': 'accuracy', 'value': 0.875, "
                          "'extra': [1, 2]}) + '\\n')\n"
                          "f.write('{\"metric\": \"latency_ms\", \"value\": 1.25}')\n" /* no \n */
                          "print('hello out'); print('hello err', file=sys.stderr)\n");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "python3 %s", py);
    nas_trial_spec spec = base_spec(cmd, tdir("ok"));
    spec.objective = "accuracy";
    nas_trial *t = run(&spec);
    ASSERT_TRUE(t != NULL);
    const nas_trial_result *r = nas_trial_result_get(t);
    ASSERT_STR_EQ(r->reason, "");
    ASSERT_EQ_INT(r->state, NAS_TRIAL_COMPLETE);
    ASSERT_EQ_INT(r->exit_status, 0);
    ASSERT_EQ_INT(r->term_signal, 0);
    ASSERT_EQ_INT(r->n_final, 3);
    ASSERT_STR_EQ(r->final[0].metric, "val_loss");
    ASSERT_NEAR(r->final[0].value, 1.0 / 3, 1e-15);
    ASSERT_EQ_INT(r->final[0].step, 3);
    ASSERT_NEAR(final_value(r, "accuracy"), 0.875, 0);
    ASSERT_NEAR(final_value(r, "latency_ms"), 1.25, 0);
    ASSERT_EQ_INT(r->n_series, 3);
    for (size_t i = 0; i < 3; i++) {
        ASSERT_STR_EQ(r->series[i].metric, "val_loss");
        ASSERT_EQ_INT(r->series[i].step, (int64_t)i + 1);
        ASSERT_NEAR(r->series[i].value, 1.0 / (double)(i + 1), 1e-15);
    }
    ASSERT_CONTAINS(r->metrics_json, "\"accuracy\":0.875");
    ASSERT_CONTAINS(r->metrics_json, "\"latency_ms\":1.25");
    ASSERT_STR_EQ(r->stderr_tail, "hello err\n");
    char *out = read_text(spec.trial_dir, "stdout.log");
    ASSERT_STR_EQ(out, "hello out\n");
    free(out);
    nas_trial_destroy(t);
}

/* Runs a one-file shell program expecting a failed trial with `reason`. */
static nas_trial *expect_failure(const char *name, const char *script, const char *objective,
                                 double timeout, const char *reason) {
    char file[64];
    snprintf(file, sizeof file, "%s.sh", name);
    const char *sh = prog(file, script);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh %s", sh);
    nas_trial_spec spec = base_spec(cmd, tdir(name));
    spec.objective = objective;
    spec.timeout_s = timeout;
    spec.kill_grace_s = 0.3;
    nas_trial *t = run(&spec);
    if (!t) return NULL;
    const nas_trial_result *r = nas_trial_result_get(t);
    if (r->state != NAS_TRIAL_FAILED || strcmp(r->reason, reason) != 0) {
        fprintf(stderr, "  %s: state %s, reason \"%s\", expected failed \"%s\"\n", name,
                nas_trial_state_name(r->state), r->reason, reason);
        nas_trial_destroy(t);
        return NULL;
    }
    return t;
}

static void test_nonzero_exit(void) {
    nas_trial *t = expect_failure("exit3",
                                  "echo '{\"metric\": \"accuracy\", \"value\": 0.5}' >> "
                                  "\"$NAS_METRICS_FILE\"\n"
                                  "i=0; while [ $i -lt 300 ]; do echo \"noise line $i\" >&2; "
                                  "i=$((i+1)); done\n"
                                  "echo 'Traceback: something broke' >&2\nexit 3\n",
                                  "accuracy", 30, "exit status 3");
    ASSERT_TRUE(t != NULL);
    const nas_trial_result *r = nas_trial_result_get(t);
    ASSERT_EQ_INT(r->exit_status, 3);
    size_t n = strlen(r->stderr_tail);
    ASSERT_TRUE(n <= 2048 && n > 1900);
    ASSERT_CONTAINS(r->stderr_tail, "Traceback: something broke\n");
    ASSERT_TRUE(strstr(r->stderr_tail, "noise line 0\n") == NULL);
    ASSERT_NEAR(final_value(r, "accuracy"), 0.5, 0); /* metrics kept for the record */
    nas_trial_destroy(t);
    t = expect_failure("notfound", "exec /nonexistent/program\n", NULL, 30,
                       "exit status 127 (command not found)");
    ASSERT_TRUE(t != NULL);
    nas_trial_destroy(t);
}

static void test_signal(void) {
    nas_trial *t = expect_failure("segv", "echo dying >&2\nkill -SEGV $$\n", "accuracy", 30,
                                  "killed by signal 11 (Segmentation fault)");
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(nas_trial_result_get(t)->term_signal, SIGSEGV);
    ASSERT_EQ_INT(nas_trial_result_get(t)->exit_status, -1);
    ASSERT_STR_EQ(nas_trial_result_get(t)->stderr_tail, "dying\n");
    char *cmdline = read_text(nas_trial_dir(t), "command.txt");
    ASSERT_TRUE(cmdline && strncmp(cmdline, "exec sh ", 8) == 0);
    free(cmdline);
    nas_trial_destroy(t);
    /* Inside a compound command the shell reports 128 + 11. */
    const char *sh = prog("segv2.sh", "kill -SEGV $$\n");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "true && sh %s", sh);
    nas_trial_spec spec = base_spec(cmd, tdir("segv2"));
    t = run(&spec);
    ASSERT_TRUE(t != NULL);
    ASSERT_STR_EQ(nas_trial_result_get(t)->reason, "exit status 139");
    cmdline = read_text(nas_trial_dir(t), "command.txt");
    ASSERT_TRUE(cmdline && strncmp(cmdline, "true && sh ", 11) == 0);
    free(cmdline);
    nas_trial_destroy(t);
}

static int pid_gone(long pid) {
    if (kill((pid_t)pid, 0) != 0) return errno == ESRCH;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    return close_paren && close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X');
}

static void test_timeout(void) {
    double t0 = nas_time_now();
    /* A program that ignores SIGTERM and leaves a grandchild behind. */
    nas_trial *t = expect_failure("timeout",
                                  "trap '' TERM\n"
                                  "sleep 60 &\n"
                                  "echo $! > \"$NAS_TRIAL_DIR/child.pid\"\n"
                                  "while :; do sleep 0.05; done\n",
                                  "accuracy", 0.5, "timeout after 0.5 s");
    double dt = nas_time_now() - t0;
    ASSERT_TRUE(t != NULL);
    ASSERT_TRUE(dt >= 0.5 && dt < 5.0);
    ASSERT_EQ_INT(nas_trial_result_get(t)->term_signal, SIGKILL); /* after the grace period */
    char *pid = read_text(nas_trial_dir(t), "child.pid");
    ASSERT_TRUE(pid != NULL);
    long gpid = atol(pid);
    free(pid);
    ASSERT_TRUE(gpid > 0);
    for (int i = 0; i < 100 && !pid_gone(gpid); i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    ASSERT_TRUE(pid_gone(gpid));
    nas_trial_destroy(t);
}

static void test_missing_metric(void) {
    nas_trial *t = expect_failure("missing",
                                  "echo '{\"metric\": \"acc\", \"value\": 0.5}' >> "
                                  "\"$NAS_METRICS_FILE\"\n"
                                  "echo '{\"metric\": \"accuracy\", \"value\": 0.5, \"step\": 1}' "
                                  ">> \"$NAS_METRICS_FILE\"\n",
                                  "accuracy_top1", 30, "metric 'accuracy_top1' never reported");
    ASSERT_TRUE(t != NULL);
    nas_trial_destroy(t);
}

static void test_nonfinite(void) {
    const char *py = prog("nan.py", "import json, os\n"
                                    "f = open(os.environ['NAS_METRICS_FILE'], 'a')\n"
                                    "f.write(json.dumps({'metric': 'loss', 'value': 0.5}) + '\\n')\n"
                                    "f.write(json.dumps({'metric': 'loss', 'value': float('nan'), "
                                    "'step': 2}) + '\\n')\n");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "python3 %s", py);
    nas_trial_spec spec = base_spec(cmd, tdir("nan"));
    spec.objective = "loss";
    nas_trial *t = run(&spec);
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(nas_trial_result_get(t)->state, NAS_TRIAL_FAILED);
    ASSERT_STR_EQ(nas_trial_result_get(t)->reason, "metrics line 2: metric 'loss' value is NaN");
    nas_trial_destroy(t);

    t = expect_failure("inf", "echo '{\"metric\": \"loss\", \"value\": -Infinity}' >> "
                              "\"$NAS_METRICS_FILE\"\n",
                       "loss", 30, "metrics line 1: metric 'loss' value is -inf");
    ASSERT_TRUE(t != NULL);
    nas_trial_destroy(t);
    t = expect_failure("huge", "echo '{\"metric\": \"loss\", \"value\": 1e999}' >> "
                               "\"$NAS_METRICS_FILE\"\n",
                       "loss", 30, "metrics line 1: metric 'loss' value is inf");
    ASSERT_TRUE(t != NULL);
    nas_trial_destroy(t);
    /* NaN inside a string is just text, not a NaN value. */
    t = expect_failure("nanstr", "echo '{\"metric\": \"NaN\", \"value\": \"NaN\"}' >> "
                                 "\"$NAS_METRICS_FILE\"\n",
                       "loss", 30, "metrics line 1: metric 'NaN' has no numeric \"value\"");
    ASSERT_TRUE(t != NULL);
    nas_trial_destroy(t);
}

static void test_malformed(void) {
    double t0 = nas_time_now();
    /* The bad line ends the trial at once, long before the sleep. */
    nas_trial *t = expect_failure("malformed",
                                  "m=\"$NAS_METRICS_FILE\"\n"
                                  "echo '{\"metric\": \"loss\", \"value\": 1, \"step\": 1}' >> $m\n"
                                  "echo '' >> $m\n"
                                  "echo '{\"metric\": \"loss\", \"value\": 0.5, \"step\": 2}' >> $m\n"
                                  "echo 'loss=0.3' >> $m\n"
                                  "sleep 20\n",
                                  "loss", 30, "metrics line 4: not JSON");
    ASSERT_TRUE(t != NULL);
    ASSERT_TRUE(nas_time_now() - t0 < 10);
    ASSERT_EQ_INT(nas_trial_result_get(t)->n_series, 2);
    nas_trial_destroy(t);
    static const struct {
        const char *line, *reason;
    } cases[] = {
        {"[1, 2]", "metrics line 1: not a JSON object"},
        {"{\"value\": 1}", "metrics line 1: no \"metric\" name (a string)"},
        {"{\"metric\": \"loss\"}", "metrics line 1: metric 'loss' has no numeric \"value\""},
        {"{\"metric\": \"loss\", \"value\": 1, \"step\": -1}",
         "metrics line 1: metric 'loss' step must be a non-negative integer"},
        {"{\"metric\": \"loss\", \"value\": 1, \"step\": 1.5}",
         "metrics line 1: metric 'loss' step must be a non-negative integer"},
        {"{\"metric\": \"loss\", \"value\": 1", "metrics line 1: not JSON"},
        {"{\"metric\": \"loss\", \"value\": 1} 2", "metrics line 1: text after the JSON value"},
        {"{\"metric\": \"loss\", \"value\": 1, \"value\": 2}", "metrics line 1: key 'value' appears twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char script[256], name[32];
        snprintf(script, sizeof script, "echo '%s' >> \"$NAS_METRICS_FILE\"\n", cases[i].line);
        snprintf(name, sizeof name, "bad%zu", i);
        t = expect_failure(name, script, "loss", 30, cases[i].reason);
        ASSERT_TRUE(t != NULL);
        nas_trial_destroy(t);
    }
}

static void test_memory_limit(void) {
    /* The program tries to allocate 4 GB under a 512 MB limit; the caller is unharmed. */
    const char *py = prog("mem.py", "x = bytearray(4 << 30)\nprint(len(x))\n");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "python3 %s", py);
    nas_trial_spec spec = base_spec(cmd, tdir("mem"));
    spec.rlimit_as = 512ull << 20;
    nas_trial *t = run(&spec);
    ASSERT_TRUE(t != NULL);
    const nas_trial_result *r = nas_trial_result_get(t);
    ASSERT_EQ_INT(r->state, NAS_TRIAL_FAILED);
    ASSERT_STR_EQ(r->reason, "exit status 1");
    ASSERT_CONTAINS(r->stderr_tail, "MemoryError");
    nas_trial_destroy(t);
}

static void test_cancel_and_destroy(void) {
    const char *sh = prog("long.sh", "sleep 30\n");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh %s", sh);
    nas_trial_spec spec = base_spec(cmd, tdir("cancel"));
    nas_trial *t = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_trial_start(&spec, &t, &err), &err);
    int done = 1;
    ASSERT_OK(nas_trial_poll(t, &done, &err), &err);
    ASSERT_EQ_INT(done, 0);
    ASSERT_EQ_INT(nas_trial_result_get(t)->state, NAS_TRIAL_RUNNING);
    size_t idx = 9;
    ASSERT_EQ_INT(nas_trial_wait_any(&t, 1, 0.1, &idx, &err), NAS_ERR_TIMEOUT);
    ASSERT_EQ_INT(idx, 1);
    nas_trial_cancel(t, "time budget reached");
    ASSERT_OK(nas_trial_wait_any(&t, 1, 10, &idx, &err), &err);
    ASSERT_EQ_INT(idx, 0);
    ASSERT_STR_EQ(nas_trial_result_get(t)->reason, "time budget reached");
    ASSERT_EQ_INT(nas_trial_result_get(t)->state, NAS_TRIAL_FAILED);
    nas_trial_destroy(t);
    /* Destroying a running trial kills and reaps it. */
    ASSERT_OK(nas_trial_start(&spec, &t, &err), &err);
    int64_t pid = nas_trial_pid(t);
    nas_trial_destroy(t);
    ASSERT_TRUE(kill((pid_t)pid, 0) != 0);
}

static void test_parallel(void) {
    const char *sh = prog("par.sh", "sleep 0.6\n"
                                    "echo \"{\\\"metric\\\": \\\"accuracy\\\", \\\"value\\\": "
                                    "$NAS_TRIAL_ID}\" >> \"$NAS_METRICS_FILE\"\n");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh %s", sh);
    nas_trial *ts[3];
    nas_error err = {0};
    double t0 = nas_time_now();
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "par%d", i);
        nas_trial_spec spec = base_spec(cmd, tdir(name));
        spec.trial_id = i + 1;
        spec.objective = "accuracy";
        ASSERT_OK(nas_trial_start(&spec, &ts[i], &err), &err);
    }
    nas_trial *live[3] = {ts[0], ts[1], ts[2]};
    size_t n = 3;
    double seen = 0;
    while (n > 0) {
        size_t idx = 0;
        ASSERT_OK(nas_trial_wait_any(live, n, 20, &idx, &err), &err);
        const nas_trial_result *r = nas_trial_result_get(live[idx]);
        ASSERT_EQ_INT(r->state, NAS_TRIAL_COMPLETE);
        seen += final_value(r, "accuracy");
        live[idx] = live[--n];
    }
    double dt = nas_time_now() - t0;
    ASSERT_NEAR(seen, 6, 0);
    ASSERT_TRUE(dt < 1.5); /* three 0.6 s trials ran at once */
    for (int i = 0; i < 3; i++) nas_trial_destroy(ts[i]);
}

/* ---- early stopping ---- */

static void test_median_rule(void) {
    int64_t st[] = {1, 2, 3, 4};
    double a[] = {0.50, 0.60, 0.70, 0.80}, b[] = {0.40, 0.50, 0.60, 0.70},
           c[] = {0.30, 0.40, 0.50, 0.60}, d[] = {0.9, 0.9};
    nas_curve others[] = {{4, st, a}, {4, st, b}, {4, st, c}, {2, st, d}};
    nas_stop_rule r = nas_stop_rule_default(NAS_STOP_MEDIAN, 1);
    char why[256] = "";
    /* At step 3, running averages (4th trial did not reach 3): a 0.6, b 0.5, c 0.4 -> median 0.5. */
    double mine_bad[] = {0.1, 0.2, 0.45};
    nas_curve self = {3, st, mine_bad};
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 4, why, sizeof why), 1);
    ASSERT_STR_EQ(why, "median stopping rule at step 3: best value 0.45 is worse than the "
                       "median 0.5 of 3 other trials' running averages");
    double mine_ok[] = {0.1, 0.55, 0.3}; /* the best so far counts */
    self.values = mine_ok;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 4, why, sizeof why), 0);
    double mine_eq[] = {0.5, 0.5, 0.5}; /* equal to the median is not worse */
    self.values = mine_eq;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 4, why, sizeof why), 0);
    /* At step 2 all four count: a .55 b .45 c .35 d .9 -> median 0.5. */
    self.n = 2;
    self.values = mine_bad;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 4, why, sizeof why), 1);
    ASSERT_CONTAINS(why, "median 0.5 of 4 other");
    /* Too few trials, too early, or minimizing. */
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 2, why, sizeof why), 0);
    r.min_trials = 2;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 2, why, sizeof why), 1);
    r.min_step = 3;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 4, why, sizeof why), 0);
    r = nas_stop_rule_default(NAS_STOP_MEDIAN, 0);
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 4, why, sizeof why), 0); /* low loss is good */
    double high[] = {0.9, 0.95};
    self.values = high;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 4, why, sizeof why), 1);
    r.kind = NAS_STOP_NONE;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 4, why, sizeof why), 0);
}

static void test_asha_rule(void) {
    /* eta 3, rungs at steps 1, 3, 9. */
    nas_stop_rule r = nas_stop_rule_default(NAS_STOP_ASHA, 1);
    r.min_trials = 2;
    int64_t st[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    double v1[] = {0.9, 0.9, 0.9}, v2[] = {0.8, 0.8, 0.8}, v3[] = {0.7, 0.7, 0.7},
           v4[] = {0.6, 0.6, 0.6}, v5[] = {0.5, 0.5, 0.5};
    nas_curve others[] = {{3, st, v1}, {3, st, v2}, {3, st, v3}, {3, st, v4}, {3, st, v5}};
    char why[256] = "";
    double mine[] = {0.85, 0.4, 0.75};
    nas_curve self = {1, st, mine};
    /* Rung 0 (step 1): 6 trials, keep 2; 0.85 ranks 2nd -> continue. */
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 5, why, sizeof why), 0);
    /* Step 2 is no rung: no decision even though 0.4 is poor. */
    self.n = 2;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 5, why, sizeof why), 0);
    /* Rung 1 (step 3): 0.75 ranks 3rd of 6; only the top 2 continue. */
    self.n = 3;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 5, why, sizeof why), 1);
    ASSERT_STR_EQ(why, "ASHA rung 1 (step 3): value 0.75 ranks 3 of 6 trials; only the top 2 "
                       "(1/3) continue");
    /* With 3 others: n = 4, keep max(1, 1) = 1 -> only the best goes on. */
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others + 2, 3, why, sizeof why), 0); /* 0.75 best */
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others + 1, 3, why, sizeof why), 1);
    /* Fewer than min_trials others at the rung: no decision. */
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 1, why, sizeof why), 0);
    /* A rung at max_resource is not a rung. */
    r.max_resource = 3;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 5, why, sizeof why), 0);
    /* Jumping past a rung (reports at 1 then 5) decides at rung 3 with the step-5 value;
     * others that never reached 3 do not count. */
    r.max_resource = 0;
    int64_t jump[] = {1, 5};
    double jv[] = {0.95, 0.1};
    nas_curve js = {2, jump, jv};
    ASSERT_EQ_INT(nas_stop_check(&r, &js, others, 5, why, sizeof why), 1);
    ASSERT_CONTAINS(why, "ranks 6 of 6");
    nas_curve short_others[] = {{1, st, v1}, {1, st, v2}};
    ASSERT_EQ_INT(nas_stop_check(&r, &js, short_others, 2, why, sizeof why), 0);
    /* Minimizing flips the order. */
    r = nas_stop_rule_default(NAS_STOP_ASHA, 0);
    r.min_trials = 2;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 5, why, sizeof why), 1); /* 0.75: 4th lowest */
    double low[] = {0.85, 0.4, 0.55};
    self.values = low;
    ASSERT_EQ_INT(nas_stop_check(&r, &self, others, 5, why, sizeof why), 0); /* 2nd lowest */
}

/* A live trial pruned by the median rule against a stored history. */
static void test_live_pruning(void) {
    const char *sh = prog("slow.sh", "s=1\nwhile [ $s -le 40 ]; do\n"
                                     "  echo \"{\\\"metric\\\": \\\"acc\\\", \\\"value\\\": 0.1, "
                                     "\\\"step\\\": $s}\" >> \"$NAS_METRICS_FILE\"\n"
                                     "  s=$((s+1)); sleep 0.1\ndone\n"
                                     "echo '{\"metric\": \"acc\", \"value\": 0.1}' >> "
                                     "\"$NAS_METRICS_FILE\"\n");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh %s", sh);
    int64_t steps[40];
    double good[40];
    for (int i = 0; i < 40; i++) {
        steps[i] = i + 1;
        good[i] = 0.5 + 0.01 * i;
    }
    nas_curve hist[] = {{40, steps, good}, {40, steps, good}, {40, steps, good}};
    nas_trial_spec spec = base_spec(cmd, tdir("prune"));
    spec.objective = "acc";
    spec.stop = nas_stop_rule_default(NAS_STOP_MEDIAN, 1);
    spec.stop.min_step = 3;
    spec.history = hist;
    spec.n_history = 3;
    double t0 = nas_time_now();
    nas_trial *t = run(&spec);
    ASSERT_TRUE(t != NULL);
    const nas_trial_result *r = nas_trial_result_get(t);
    ASSERT_EQ_INT(r->state, NAS_TRIAL_PRUNED);
    ASSERT_CONTAINS(r->reason, "median stopping rule at step 3: best value 0.1 is worse than "
                               "the median 0.51 of 3 other trials");
    ASSERT_TRUE(nas_time_now() - t0 < 3.0);
    ASSERT_TRUE(r->n_series >= 3);
    nas_trial_destroy(t);

    /* Without a history the same program completes. */
    spec.trial_dir = tdir("noprune");
    spec.n_history = 0;
    spec.stop = nas_stop_rule_default(NAS_STOP_ASHA, 1);
    spec.stop.min_trials = 0;
    const char *fast = prog("fast.sh", "for s in 1 2 3 4; do echo \"{\\\"metric\\\": \\\"acc\\\", "
                                       "\\\"value\\\": 0.$s, \\\"step\\\": $s}\" >> "
                                       "\"$NAS_METRICS_FILE\"; done\n");
    char cmd2[256];
    snprintf(cmd2, sizeof cmd2, "sh %s", fast);
    spec.command = cmd2;
    t = run(&spec);
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(nas_trial_result_get(t)->state, NAS_TRIAL_COMPLETE);
    ASSERT_NEAR(final_value(nas_trial_result_get(t), "acc"), 0.4, 1e-15);
    nas_trial_destroy(t);
}

/* ---- the documented examples ---- */

/* The docs quote each example file verbatim. */
static void check_doc_quotes(const char *file) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/trial_programs/%s", NAS_SOURCE_DIR, file);
    char *text = NULL, *doc = NULL;
    size_t len = 0;
    nas_error err = {0};
    ASSERT_OK(nas_file_read(path, &text, &len, &err), &err);
    snprintf(path, sizeof path, "%s/docs/trial-protocol.md", NAS_SOURCE_DIR);
    ASSERT_OK(nas_file_read(path, &doc, &len, &err), &err);
    int found = strstr(doc, text) != NULL;
    free(text);
    free(doc);
    if (!found) TEST_FAIL_("docs/trial-protocol.md does not quote tests/trial_programs/%s", file);
}

static void test_doc_python_example(void) {
    check_doc_quotes("example.py");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "python3 %s/tests/trial_programs/example.py", NAS_SOURCE_DIR);
    nas_trial_param p[] = {{"learning_rate", NAS_PARAM_FLOAT, 0, 0.25, NULL},
                           {"batch_size", NAS_PARAM_INT, 64, 0, NULL}};
    nas_trial_spec spec = base_spec(cmd, tdir("doc_py"));
    spec.params = p;
    spec.n_params = 2;
    spec.arch_json = "{}";
    spec.objective = "accuracy";
    nas_trial *t = run(&spec);
    ASSERT_TRUE(t != NULL);
    const nas_trial_result *r = nas_trial_result_get(t);
    ASSERT_STR_EQ(r->reason, "");
    ASSERT_EQ_INT(r->state, NAS_TRIAL_COMPLETE);
    ASSERT_NEAR(final_value(r, "accuracy"), 1 - 1.0 / (3 * 1.25), 1e-12);
    ASSERT_EQ_INT(r->n_series, 3);
    ASSERT_NEAR(r->series[0].value, 1.0 / 1.25, 1e-12);
    nas_trial_destroy(t);
}

static void test_doc_shell_example(void) {
    check_doc_quotes("example.sh");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh %s/tests/trial_programs/example.sh", NAS_SOURCE_DIR);
    nas_trial_param p[] = {{"units", NAS_PARAM_INT, 64, 0, NULL}};
    nas_trial_spec spec = base_spec(cmd, tdir("doc_sh"));
    spec.params = p;
    spec.n_params = 1;
    spec.arch_json = "{}";
    spec.objective = "accuracy";
    nas_trial *t = run(&spec);
    ASSERT_TRUE(t != NULL);
    const nas_trial_result *r = nas_trial_result_get(t);
    ASSERT_EQ_INT(r->state, NAS_TRIAL_COMPLETE);
    ASSERT_NEAR(final_value(r, "accuracy"), 0.64, 1e-15);
    char *out = read_text(spec.trial_dir, "stdout.log"), want[512];
    snprintf(want, sizeof want, "trial 7 in %s with units=64\n", nas_trial_dir(t));
    ASSERT_STR_EQ(out, want);
    free(out);
    nas_trial_destroy(t);
}

static const test_case TESTS[] = {
    {"command_format", test_command_format},
    {"arguments_received", test_arguments_received},
    {"environment", test_environment},
    {"cpu_mask", test_cpu_mask},
    {"success_metrics", test_success_metrics},
    {"nonzero_exit", test_nonzero_exit},
    {"signal", test_signal},
    {"timeout", test_timeout},
    {"missing_metric", test_missing_metric},
    {"nonfinite", test_nonfinite},
    {"malformed", test_malformed},
    {"memory_limit", test_memory_limit},
    {"cancel_and_destroy", test_cancel_and_destroy},
    {"parallel", test_parallel},
    {"median_rule", test_median_rule},
    {"asha_rule", test_asha_rule},
    {"live_pruning", test_live_pruning},
    {"doc_python_example", test_doc_python_example},
    {"doc_shell_example", test_doc_shell_example},
    {0},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
