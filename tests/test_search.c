/*
 * test_search.c - the search job end to end through the `nas` binary:
 * a hyperparameter space tuned with a deterministic trial program, killed
 * with SIGKILL at random moments and resumed until done, must end exactly
 * like an uninterrupted run; job-file options; mismatched study refused;
 * the time budget leaves stage 2 its time; one job per study (a second job
 * refused while the lock is held, the lock freed by a SIGKILLed job whose
 * trial program lives on); the warnings about hyperparameters the built-in
 * trainer ignores and the supernet cannot score. The in-process objective (nas_search_run's function
 * evaluator): results stored, failures recorded with their reason, stop/kill
 * and resume to exactly max_trials, resume without the function refused.
 * Bad option values refused before a study is created; --resume refusing
 * the options that would change the stored job spec, and keeping the
 * stored limits it is not given.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <glob.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "evaluator/latency.h"
#include "nas/core/fileio.h"
#include "nas/core/log.h"
#include "nas/core/pcg32.h"
#include "nas/search/search.h"
#include "nas/search/store.h"
#include "searchspace/space.h"
#include "test.h"

static char tmp[256];
static char *slurp(const char *path);

static void write_file(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static const char *SPACE = "space killtest\n"
                           "hparam x = float(0, 1)\n"
                           "hparam k = choice(1, 2, 3, 4)\n"
                           "hparam n = int(1, 20)\n"
                           "objective maximize score\n";

/* deterministic: the score is a function of the hyperparameters only; the
   sleep makes kills land inside trials too */
static const char *PROGRAM =
    "for a in \"$@\"; do case $a in --x=*) x=${a#--x=};; --k=*) k=${a#--k=};; --n=*) n=${a#--n=};; esac; done\n"
    "sleep 0.05\n"
    "awk -v x=$x -v k=$k -v n=$n 'BEGIN { s = -(x-0.3)^2 - (k-3)^2/10 - (n-7)^2/100;"
    " printf \"{\\\"metric\\\": \\\"score\\\", \\\"value\\\": %.17g}\\n\", s }' >> \"$NAS_METRICS_FILE\"\n";

/* Starts nas with args, its stdout to /dev/null and its stderr to
 * stderr_path (NULL: /dev/null). */
static pid_t spawn_nas(char *const *args, const char *stderr_path) {
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        int errfd = stderr_path ? open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : devnull;
        dup2(devnull, 1);
        dup2(errfd, 2);
        execv(NAS_BINARY, args);
        _exit(127);
    }
    return pid;
}

/* Runs nas with args, its stderr to stderr_path (may be NULL); returns the
 * exit status. */
static int run_nas_stderr(char *const *args, const char *stderr_path) {
    int st;
    pid_t pid = spawn_nas(args, stderr_path);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The deterministic job's files: tmp/kill.nas and tmp/prog.sh; space gets
 * the space's path, cmd the trial command (512 and 600 bytes). */
static void kill_job_files(char *space, char *cmd) {
    char prog[512];
    snprintf(space, 512, "%s/kill.nas", tmp);
    snprintf(prog, sizeof prog, "%s/prog.sh", tmp);
    snprintf(cmd, 600, "sh %s", prog);
    write_file("kill.nas", SPACE);
    write_file("prog.sh", PROGRAM);
}

/* Runs nas with args; kill_after_ms > 0 sends SIGKILL after that long.
 * Returns the exit status, or -1 when killed. */
static int run_nas(char *const *args, int kill_after_ms) {
    pid_t pid = spawn_nas(args, NULL);
    if (kill_after_ms > 0) {
        struct timespec ts = {kill_after_ms / 1000, (long)(kill_after_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) return -1;
    return WEXITSTATUS(st);
}

typedef struct trace {
    int n;
    char lines[64][512];
} trace;

static int add_line(void *user, const nas_trial_record *r) {
    trace *t = user;
    if (t->n < 64)
        snprintf(t->lines[t->n++], sizeof t->lines[0], "%lld %s %s %s", (long long)r->number,
                 nas_trial_state_name(r->state), r->point_json, r->metrics_json ? r->metrics_json : "-");
    return 0;
}

static void read_trace(const char *dir, trace *t, int64_t counts[NAS_TRIAL_STATE_COUNT]) {
    nas_error err;
    nas_store *st;
    ASSERT_OK(nas_store_open(dir, NULL, &st, &err), &err);
    memset(t, 0, sizeof *t);
    ASSERT_OK(nas_store_trial_each(st, 0, add_line, t, &err), &err);
    ASSERT_OK(nas_store_trial_counts(st, counts, &err), &err);
    nas_store_close(st);
}

static void test_kill_and_resume(void) {
    char space[512], cmd[600], ref[512], killed[512];
    kill_job_files(space, cmd);
    snprintf(ref, sizeof ref, "%s/ref", tmp);
    snprintf(killed, sizeof killed, "%s/killed", tmp);
    char *ref_args[] = {"nas", "-q", "search", space, "--controller", "tpe", "--seed", "3", "--max-trials", "40",
                        "--trial-cmd", cmd, "--study", ref, NULL};
    ASSERT_EQ_INT(run_nas(ref_args, 0), 0);
    char *kill_args[] = {"nas", "-q", "search", space, "--controller", "tpe", "--seed", "3", "--max-trials", "40",
                         "--trial-cmd", cmd, "--study", killed, NULL};
    pcg32 rng;
    pcg32_seed(&rng, 2024, 7);
    int kills = 0, finished = 0;
    for (int round = 0; round < 200 && !finished; round++) {
        /* each run lives 30-150 ms: shorter than the job (40 trials of 50+ ms),
           so most runs are killed part-way; after 30 kills the job may finish */
        int delay = 30 + (int)pcg32_bounded(&rng, 120);
        int rc = run_nas(kill_args, kills < 30 ? delay : 0);
        if (rc == -1) kills++;
        else {
            ASSERT_EQ_INT(rc, 0);
            finished = kills >= 20;
        }
    }
    ASSERT_TRUE(kills >= 20);
    ASSERT_TRUE(finished);
    trace a, b;
    int64_t ca[NAS_TRIAL_STATE_COUNT], cb[NAS_TRIAL_STATE_COUNT];
    read_trace(ref, &a, ca);
    read_trace(killed, &b, cb);
    ASSERT_EQ_INT(ca[NAS_TRIAL_COMPLETE], 40);
    ASSERT_EQ_INT(cb[NAS_TRIAL_COMPLETE], 40);
    ASSERT_EQ_INT(cb[NAS_TRIAL_FAILED], 0);
    ASSERT_EQ_INT(cb[NAS_TRIAL_PENDING] + cb[NAS_TRIAL_RUNNING], 0);
    /* the killed job's trials are the uninterrupted job's, in the same order */
    ASSERT_EQ_INT(a.n, b.n);
    for (int i = 0; i < a.n; i++) ASSERT_STR_EQ(a.lines[i], b.lines[i]);
    printf("     %d kills, %d trials identical to the uninterrupted run\n", kills, b.n);
}

static void test_mismatched_study_refused(void) {
    char space[512], cmd[600], dir[512], db[600];
    kill_job_files(space, cmd);
    snprintf(dir, sizeof dir, "%s/mismatch", tmp);
    char *args1[] = {"nas", "-q", "search", space, "--controller", "random", "--max-trials", "3",
                     "--trial-cmd", cmd, "--study", dir, NULL};
    ASSERT_EQ_INT(run_nas(args1, 0), 0);
    char *data;
    size_t len1, len2;
    nas_error err;
    snprintf(db, sizeof db, "%s/study.db", dir);
    ASSERT_OK(nas_file_read(db, &data, &len1, &err), &err);
    free(data);
    /* another seed is another job: refused, nothing changed */
    char *args2[] = {"nas", "-q", "search", space, "--controller", "random", "--seed", "9", "--max-trials", "3",
                     "--trial-cmd", cmd, "--study", dir, NULL};
    ASSERT_EQ_INT(run_nas(args2, 0), 1);
    ASSERT_OK(nas_file_read(db, &data, &len2, &err), &err);
    free(data);
    ASSERT_EQ_INT(len1, len2);
    /* more trials is the same job, continued */
    char *args3[] = {"nas", "-q", "search", space, "--controller", "random", "--max-trials", "5",
                     "--trial-cmd", cmd, "--study", dir, NULL};
    ASSERT_EQ_INT(run_nas(args3, 0), 0);
    trace t;
    int64_t c[NAS_TRIAL_STATE_COUNT];
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 5);
}

static void test_job_file_and_usage(void) {
    char space[512], prog[512], cfg[512], dir[512], json[1200];
    snprintf(space, sizeof space, "%s/kill.nas", tmp);
    snprintf(prog, sizeof prog, "%s/prog.sh", tmp);
    snprintf(cfg, sizeof cfg, "%s/job.json", tmp);
    snprintf(dir, sizeof dir, "%s/jobfile", tmp);
    write_file("kill.nas", SPACE);
    write_file("prog.sh", PROGRAM);
    snprintf(json, sizeof json,
             "{\"controller\": \"grid\", \"max_trials\": 4, \"trial_cmd\": \"sh %s\", \"study\": \"%s\"}", prog, dir);
    write_file("job.json", json);
    char *args[] = {"nas", "-q", "search", space, "--config", cfg, "--max-trials", "2", NULL};
    ASSERT_EQ_INT(run_nas(args, 0), 0);
    trace t;
    int64_t c[NAS_TRIAL_STATE_COUNT];
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 2); /* the command line wins */
    write_file("bad.json", "{\"max_trails\": 3}");
    char bad[512];
    snprintf(bad, sizeof bad, "%s/bad.json", tmp);
    char *args2[] = {"nas", "-q", "search", space, "--config", bad, NULL};
    ASSERT_EQ_INT(run_nas(args2, 0), 1);
    /* a bad value in the job file (a boolean stands for on/off) */
    write_file("bad2.json", "{\"final_augment\": \"maybe\"}");
    snprintf(bad, sizeof bad, "%s/bad2.json", tmp);
    ASSERT_EQ_INT(run_nas(args2, 0), 1);
    write_file("bad3.json", "{\"max_trials\": true}");
    snprintf(bad, sizeof bad, "%s/bad3.json", tmp);
    ASSERT_EQ_INT(run_nas(args2, 0), 1);
    /* strict JSON: text after the object, a key twice (the first used to win) */
    char errlog[600];
    snprintf(errlog, sizeof errlog, "%s/bad4.err", tmp);
    write_file("bad4.json", "{\"max_trials\": 2} trailing");
    snprintf(bad, sizeof bad, "%s/bad4.json", tmp);
    ASSERT_EQ_INT(run_nas_stderr(args2, errlog), 1);
    char *msg = slurp(errlog);
    ASSERT_CONTAINS(msg, "bad4.json:1:19: text after the JSON value");
    free(msg);
    write_file("bad4.json", "{\"max_trials\": 2, \"max_trials\": 3}");
    ASSERT_EQ_INT(run_nas_stderr(args2, errlog), 1);
    msg = slurp(errlog);
    ASSERT_CONTAINS(msg, "bad4.json: key 'max_trials' appears twice");
    free(msg);
    char *args3[] = {"nas", "search", space, "--max-trials", "zero", NULL};
    ASSERT_EQ_INT(run_nas(args3, 0), 2);
    char *args4[] = {"nas", "search", NULL};
    ASSERT_EQ_INT(run_nas(args4, 0), 2);
    char *args4b[] = {"nas", "search", space, "--final-augment", "yes", NULL};
    ASSERT_EQ_INT(run_nas(args4b, 0), 2);
    char *args5[] = {"nas", "search", space, "--controller", "annealing", "--trial-cmd", "true", "--study", dir, NULL};
    ASSERT_EQ_INT(run_nas(args5, 0), 1);
    /* the built-in trainer does not report the space's objective 'score' */
    char dir6[600];
    snprintf(dir6, sizeof dir6, "%s-train", dir);
    char *args6[] = {"nas", "search", space, "--evaluator", "train", "--study", dir6, NULL};
    ASSERT_EQ_INT(run_nas(args6, 0), 2);
    ASSERT_TRUE(!nas_path_exists(dir6));
}

/* A small IDX data set (random pixels) in tmp/idx: n_train + n_test images. */
static void write_idx(const char *name, int n, int images) {
    char path[512];
    snprintf(path, sizeof path, "%s/idx/%s", tmp, name);
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f != NULL);
    unsigned char hdr[16] = {0, 0, 8, images ? 3 : 1, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                             (unsigned char)(n >> 8), (unsigned char)n, 0, 0, 0, 28, 0, 0, 0, 28};
    fwrite(hdr, 1, images ? 16 : 8, f);
    pcg32 rng;
    pcg32_seed(&rng, (uint64_t)n, (uint64_t)images);
    for (long i = 0; i < (long)n * (images ? 784 : 1); i++) fputc(images ? (int)pcg32_bounded(&rng, 256) : (int)(i % 10), f);
    fclose(f);
}

/* Runs one SQL statement on the study database db (an edit by hand). */
static void study_sql(const char *db, const char *sql) {
    sqlite3 *h;
    ASSERT_EQ_INT(sqlite3_open(db, &h), SQLITE_OK);
    ASSERT_EQ_INT(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

/* The time budget covers stage 2: when stage 2's estimated time is more than
 * the budget, the job runs its first trial only, then retrains it; without
 * stage 2 the same budget lets the search run many trials, and a resume
 * counts what the earlier run spent. */
static void test_time_budget_keeps_stage2(void) {
    char space[512], idx[512], data[600], dir[512], dir2[512], log[512];
    snprintf(space, sizeof space, "%s/budget.nas", tmp);
    snprintf(idx, sizeof idx, "%s/idx", tmp);
    snprintf(data, sizeof data, "idx:%s", idx);
    snprintf(dir, sizeof dir, "%s/budget", tmp);
    snprintf(dir2, sizeof dir2, "%s/budget-nostage2", tmp);
    snprintf(log, sizeof log, "%s/budget.log", tmp);
    write_file("budget.nas", "space budget\nhparam lr = choice(0.01, 0.02, 0.05, 0.1)\n"
                             "hparam weight_decay = float(1e-5, 1e-3, log)\nobjective maximize accuracy\n");
    mkdir(idx, 0755);
    write_idx("train-images-idx3-ubyte", 300, 1);
    write_idx("train-labels-idx1-ubyte", 300, 0);
    write_idx("t10k-images-idx3-ubyte", 100, 1);
    write_idx("t10k-labels-idx1-ubyte", 100, 0);
    /* stage 2: 30 epochs of 2 batches of 128 (~60 training steps of the
       reference CNN, several seconds on one thread) against a 2 s budget */
    char *args[] = {"nas", "search", space, "--evaluator", "train", "--data", data, "--controller", "random",
                    "--max-trials", "500", "--proxy-fraction", "1", "--time-budget", "2s", "--final-top-k", "1", "--final-epochs", "30",
                    "--threads", "1", "--study", dir, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(NAS_BINARY, args);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    char *text = NULL;
    size_t len = 0;
    nas_error err;
    ASSERT_OK(nas_file_read(log, &text, &len, &err), &err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fprintf(stderr, "%s", text);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    trace t;
    int64_t c[NAS_TRIAL_STATE_COUNT];
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 1);
    ASSERT_TRUE(strstr(text, "time budget: stage 2 estimated at") != NULL);
    /* and the job says why its search was so short */
    ASSERT_TRUE(strstr(text, "time budget: stage 2 (1 model x ") != NULL);
    ASSERT_TRUE(strstr(text, "lower --final-epochs or --final-top-k, or raise --time-budget") != NULL);
    free(text);
    char best[600];
    snprintf(best, sizeof best, "%s/best/weights.nasw", dir);
    ASSERT_TRUE(nas_path_exists(best));
    /* resumed with its budget spent: no trial, and stage 2 keeps the model it
       retrained (its weights file is not written again) */
    glob_t w;
    snprintf(best, sizeof best, "%s/final/trial-*/weights.nasw", dir);
    ASSERT_EQ_INT(glob(best, 0, NULL, &w), 0);
    ASSERT_EQ_INT(w.gl_pathc, 1);
    snprintf(best, sizeof best, "%s", w.gl_pathv[0]);
    globfree(&w);
    struct stat before, after;
    ASSERT_EQ_INT(stat(best, &before), 0);
    char *resume[] = {"nas", "search", "--resume", dir, "--threads", "1", NULL};
    ASSERT_EQ_INT(run_nas_stderr(resume, log), 0);
    text = slurp(log);
    ASSERT_CONTAINS(text, "was retrained before");
    /* stage 2 does not fit this budget at all: still a warning */
    ASSERT_CONTAINS(text, "lower --final-epochs or --final-top-k, or raise --time-budget");
    free(text);
    /* a budget stage 2 fits (4x its estimate) that earlier runs spent but for
       a fifth of the estimate: expected, said without a warning */
    {
        char *before_log = NULL; /* the resume's: its own estimate */
        size_t bl;
        ASSERT_OK(nas_file_read(log, &before_log, &bl, &err), &err);
        const char *at = strstr(before_log, "time budget: stage 2 estimated at ");
        ASSERT_TRUE(at != NULL);
        double x = strtod(at + strlen("time budget: stage 2 estimated at "), NULL);
        free(before_log);
        if (x < 1) x = 1;
        char db[700], sql[200], budget[32];
        snprintf(db, sizeof db, "%s/study.db", dir);
        snprintf(sql, sizeof sql, "UPDATE kv SET value = '%.3f' WHERE key = 'elapsed_s'", 3.8 * x);
        study_sql(db, sql);
        snprintf(budget, sizeof budget, "%.0fs", 4 * x);
        char *again[] = {"nas", "search", "--resume", dir, "--threads", "1", "--time-budget", budget, NULL};
        ASSERT_EQ_INT(run_nas_stderr(again, log), 0);
        text = slurp(log);
        ASSERT_CONTAINS(text, "(earlier runs spent the rest; a larger --time-budget searches longer)");
        if (strstr(text, "warning")) fprintf(stderr, "%s", text);
        ASSERT_TRUE(strstr(text, "warning") == NULL);
        free(text);
    }
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 1);
    ASSERT_EQ_INT(stat(best, &after), 0);
    ASSERT_TRUE(before.st_mtim.tv_sec == after.st_mtim.tv_sec && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
    /* stage 2 augments by default (IDX data alone would not) */
    snprintf(best, sizeof best, "%s/final/trial-*/metrics.json", dir);
    glob_t g;
    ASSERT_EQ_INT(glob(best, 0, NULL, &g), 0);
    ASSERT_EQ_INT(g.gl_pathc, 1);
    text = slurp(g.gl_pathv[0]);
    globfree(&g);
    ASSERT_CONTAINS(text, "\"augment_pad\":\t2");
    ASSERT_CONTAINS(text, "\"augment_flip\":\ttrue");
    free(text);
    /* the same budget without stage 2: the search itself uses it */
    char *args2[] = {"nas", "-q", "search", space, "--evaluator", "train", "--data", data, "--controller", "random",
                     "--max-trials", "500", "--proxy-fraction", "1", "--time-budget", "2s", "--final-top-k", "0", "--threads", "1",
                     "--study", dir2, NULL};
    ASSERT_EQ_INT(run_nas(args2, 0), 0);
    read_trace(dir2, &t, c);
    int64_t done = c[NAS_TRIAL_COMPLETE];
    ASSERT_TRUE(done >= 1 && done < 500);
    /* the budget is the study's: resumed, the spent 2 s leave nothing to
       run; a larger budget runs more */
    char *again[] = {"nas", "-q", "search", "--resume", dir2, NULL};
    ASSERT_EQ_INT(run_nas(again, 0), 0);
    read_trace(dir2, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], done);
    char cap[32];
    snprintf(cap, sizeof cap, "%lld", (long long)done + 2);
    char *more[] = {"nas", "-q", "search", "--resume", dir2, "--time-budget", "60s", "--max-trials", cap, NULL};
    ASSERT_EQ_INT(run_nas(more, 0), 0);
    read_trace(dir2, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], done + 2);
}

/* ---- one job per study ---- */

static char *slurp(const char *path) {
    char *text;
    size_t len;
    nas_error err;
    ASSERT_OK(nas_file_read(path, &text, &len, &err), &err);
    return text;
}

/* While the test holds a study's lock, a second job (new or --resume) fails
 * at once naming the holder, and reads or writes nothing of the store;
 * `nas trials` still reads it; once the lock is released the job runs. */
static void test_second_job_refused(void) {
    char space[512], cmd[600], dir[512], db[600], wal[600], errlog[512], want[700];
    kill_job_files(space, cmd);
    snprintf(dir, sizeof dir, "%s/locked", tmp);
    snprintf(db, sizeof db, "%s/study.db", dir);
    snprintf(wal, sizeof wal, "%s/study.db-wal", dir);
    snprintf(errlog, sizeof errlog, "%s/locked.err", tmp);
    char *args3[] = {"nas", "-q", "search", space, "--controller", "random", "--max-trials", "3",
                     "--trial-cmd", cmd, "--study", dir, NULL};
    ASSERT_EQ_INT(run_nas(args3, 0), 0);
    char *before;
    size_t len_before, len_after;
    nas_error err;
    ASSERT_OK(nas_file_read(db, &before, &len_before, &err), &err);
    nas_store_lock *lk = NULL;
    ASSERT_OK(nas_store_lock_acquire(dir, &lk, &err), &err);
    snprintf(want, sizeof want, "nas: error: study %s is in use by another job (pid %ld)\n", dir, (long)getpid());
    char *args5[] = {"nas", "-q", "search", space, "--controller", "random", "--max-trials", "5",
                     "--trial-cmd", cmd, "--study", dir, NULL};
    ASSERT_EQ_INT(run_nas_stderr(args5, errlog), 1);
    char *text = slurp(errlog);
    ASSERT_STR_EQ(text, want);
    free(text);
    char *resume[] = {"nas", "-q", "search", "--resume", dir, "--max-trials", "5", NULL};
    ASSERT_EQ_INT(run_nas_stderr(resume, errlog), 1);
    text = slurp(errlog);
    ASSERT_STR_EQ(text, want);
    free(text);
    /* readers take no lock */
    char *trials[] = {"nas", "trials", dir, NULL};
    ASSERT_EQ_INT(run_nas(trials, 0), 0);
    /* nothing of the store changed: the refused jobs never opened it */
    char *after;
    ASSERT_OK(nas_file_read(db, &after, &len_after, &err), &err);
    ASSERT_EQ_INT(len_before, len_after);
    ASSERT_TRUE(memcmp(before, after, len_before) == 0);
    ASSERT_TRUE(!nas_path_exists(wal));
    free(before);
    free(after);
    trace t;
    int64_t c[NAS_TRIAL_STATE_COUNT];
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 3);
    nas_store_lock_release(lk);
    ASSERT_EQ_INT(run_nas(args5, 0), 0);
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 5);
}

static int first_running(void *user, const nas_trial_record *r) {
    *(int64_t *)user = r->worker_pid;
    return 1;
}

/* The worker pid of a running trial of the study in dir, or 0. */
static int64_t running_worker(const char *dir) {
    nas_store *st;
    nas_error err;
    int64_t pid = 0;
    if (nas_store_open(dir, NULL, &st, &err)) return 0;
    nas_store_trial_each(st, 1u << NAS_TRIAL_RUNNING, first_running, &pid, &err);
    nas_store_close(st);
    return pid;
}

/* A process that exists and is not a zombie. */
static int process_alive(pid_t pid) {
    char path[64], *text;
    size_t len;
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (nas_file_read(path, &text, &len, NULL)) return 0;
    const char *p = strrchr(text, ')');
    int alive = p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
    free(text);
    return alive;
}

/* A job killed with SIGKILL while its trial program runs: the program lives
 * on (its own process group) but does not hold the study's lock, so a new
 * job takes it at once, ends the orphan and finishes the study. */
static void test_killed_job_frees_lock(void) {
    char space[512], prog[512], cmd[600], dir[512], flag[512], slow[1200];
    snprintf(space, sizeof space, "%s/kill.nas", tmp);
    snprintf(prog, sizeof prog, "%s/slow.sh", tmp);
    snprintf(cmd, sizeof cmd, "sh %s", prog);
    snprintf(dir, sizeof dir, "%s/orphan", tmp);
    snprintf(flag, sizeof flag, "%s/slow.flag", tmp);
    write_file("kill.nas", SPACE);
    snprintf(slow, sizeof slow, "if [ -e '%s' ]; then sleep 30; fi\n%s", flag, PROGRAM);
    write_file("slow.sh", slow);
    write_file("slow.flag", "");
    char *args[] = {"nas", "-q", "search", space, "--controller", "random", "--max-trials", "2",
                    "--trial-cmd", cmd, "--study", dir, NULL};
    pid_t job = spawn_nas(args, NULL);
    int64_t orphan = 0;
    for (int i = 0; i < 600 && orphan <= 0; i++) {
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
        orphan = running_worker(dir);
    }
    kill(job, SIGKILL);
    int st;
    waitpid(job, &st, 0);
    ASSERT_TRUE(orphan > 0);
    ASSERT_TRUE(process_alive((pid_t)orphan));
    nas_store_lock *lk = NULL;
    nas_error err;
    ASSERT_OK(nas_store_lock_acquire(dir, &lk, &err), &err);
    nas_store_lock_release(lk);
    ASSERT_EQ_INT(unlink(flag), 0);
    ASSERT_EQ_INT(run_nas(args, 0), 0);
    trace t;
    int64_t c[NAS_TRIAL_STATE_COUNT];
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 2);
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
        gone = !process_alive((pid_t)orphan);
    }
    ASSERT_TRUE(gone);
}

/* ---- hyperparameters the built-in trainer ignores ---- */

static const char *TAGS_SPACE = "space tags\n"
                                "hparam lr = float(0.01, 0.1, log)\n"
                                "hparam epochs = choice(1, 2)\n"
                                "hparam steps_per_epoch = int(1, 3)\n"
                                "hparam loss = choice(mse)\n"
                                "hparam tag = 7\n";

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Runs the job of o in-process on a space file `name` holding `text`, with
 * data that does not exist, its warnings captured. Returns the log (caller
 * frees); *rc and *err get the job's result. */
static char *job_log(nas_search_options *o, const char *name, const char *text, const char *study, nas_status *rc,
                     nas_error *err) {
    char space[512], dir[512];
    snprintf(space, sizeof space, "%s/%s", tmp, name);
    snprintf(dir, sizeof dir, "%s/%s", tmp, study);
    write_file(name, text);
    FILE *out = tmpfile();
    ASSERT_TRUE(out != NULL);
    nas_logger lg = {NAS_LOG_WARN, out};
    o->space_path = space;
    o->study_dir = dir;
    o->data = "idx:/nonexistent-nas-data";
    o->self_exe = NAS_BINARY;
    o->lg = &lg;
    nas_search_summary sum;
    *rc = nas_search_run(o, &sum, err);
    long n = ftell(out);
    char *log = calloc(1, (size_t)n + 1);
    ASSERT_TRUE(log != NULL);
    rewind(out);
    ASSERT_EQ_INT(fread(log, 1, (size_t)n, out), n);
    fclose(out);
    return log;
}

/* A one-trial job on TAGS_SPACE: the trial fails at once (no data), which
 * ends the job. Returns the log (caller frees). */
static char *tags_job_log(const char *evaluator, const char *trial_cmd, int final_top_k, const char *study) {
    nas_search_options o;
    nas_search_options_default(&o);
    o.controller = "random";
    o.evaluator = evaluator;
    o.trial_cmd = trial_cmd;
    o.max_trials = 1;
    o.max_failed_trials = 1;
    o.final_top_k = final_top_k;
    nas_status rc;
    nas_error err;
    char *log = job_log(&o, "tags.nas", TAGS_SPACE, study, &rc, &err);
    ASSERT_EQ_INT(rc, NAS_ERR_EXHAUSTED);
    return log;
}

static void test_train_hparams_warned(void) {
    char *log = tags_job_log("train", NULL, 3, "tags-train");
    /* once, naming each hyperparameter `nas train` ignores, constants included */
    ASSERT_EQ_INT(count_of(log, "not used by the built-in trainer"), 1);
    ASSERT_CONTAINS(log, "nas: warning: space 'tags': hyperparameters steps_per_epoch, loss, tag are not used "
                         "by the built-in trainer, which applies only lr, ");
    ASSERT_CONTAINS(log, "to train your own model with them, run a trial program (nas search --trial-cmd)\n");
    ASSERT_EQ_INT(count_of(log, "hyperparameter epochs is replaced"), 1);
    ASSERT_CONTAINS(log, "nas: warning: space 'tags': hyperparameter epochs is replaced by the job's: the train "
                         "evaluator trains every trial for --proxy-epochs (1) and stage 2 for --final-epochs (10)\n");
    free(log);
    log = tags_job_log("train", NULL, 0, "tags-train-no-stage2");
    ASSERT_CONTAINS(log, "every trial for --proxy-epochs (1)\n");
    free(log);
    /* a trial program receives every hyperparameter: nothing to say */
    log = tags_job_log(NULL, "true", 3, "tags-command");
    ASSERT_EQ_INT(count_of(log, "built-in trainer"), 0);
    ASSERT_EQ_INT(count_of(log, "hyperparameter epochs"), 0);
    free(log);
}

/* The supernet evaluator names the hyperparameter decisions it cannot
 * score (constants are not decisions); the job then fails on the data. */
static void test_supernet_hparams_warned(void) {
    nas_search_options o;
    nas_search_options_default(&o);
    o.objectives[o.n_objectives++] = "maximize accuracy";
    nas_status rc;
    nas_error err;
    char *text = job_log(&o, "snh.nas",
                         "space snh\ninput 1x8x8\nclasses 2\nhparam lr = float(0.01, 0.1, log)\n"
                         "hparam wd = choice(0.0001, 0.001)\nhparam tag = 7\n"
                         "network {\n    conv(kernel = 3, out = choice(4, 8)) bn relu\n"
                         "    global_avg_pool fc(out = classes)\n}\n",
                         "snh", &rc, &err);
    ASSERT_TRUE(rc != NAS_OK);
    ASSERT_CONTAINS(err.msg, "nonexistent-nas-data");
    ASSERT_CONTAINS(text, "nas: warning: space 'snh': hyperparameters lr, wd do not change a candidate's supernet "
                          "score (the supernet scores architectures)");
    ASSERT_EQ_INT(count_of(text, "do not change"), 1);
    free(text);
}

/* ---- the function evaluator ---- */

static const char *FN_SPACE = "space fn\n"
                              "hparam x = float(-5, 5)\n"
                              "hparam y = float(-5, 5)\n"
                              "hparam opt = choice(sgd, adam)\n"
                              "objective minimize loss\n";

typedef struct fn_state {
    int calls;
    int kill_at;   /* > 0: SIGKILL this process on that call (inside a trial) */
    int fail_mode; /* 1: fail when x > 0; 2: also drop the metric or return NaN */
} fn_state;

static double fn_loss(double x, double y, const char *opt) {
    return (x - 2) * (x - 2) + (y + 1) * (y + 1) + (strcmp(opt, "adam") ? 1.0 : 0.0);
}

static nas_status fn_objective(void *user, int64_t number, const nas_arch *a, const double *point, ctrl_metrics *m,
                               nas_error *err) {
    fn_state *st = user;
    (void)point;
    if (++st->calls == st->kill_at) raise(SIGKILL);
    const nas_hparam *x = nas_arch_hparam(a, "x"), *y = nas_arch_hparam(a, "y"), *o = nas_arch_hparam(a, "opt");
    if (!x || !y || !o || !o->str) return NAS_FAIL(err, NAS_ERR_INVALID, "hyperparameters missing");
    if (st->fail_mode && x->num > 0)
        return NAS_FAIL(err, NAS_ERR_INVALID, "trial %lld: x = %g is too large", (long long)number, x->num);
    if (st->fail_mode == 2 && y->num > 0) return NAS_OK; /* no metric */
    if (st->fail_mode == 2 && y->num < -4) return ctrl_metrics_set(m, "loss", NAN, err);
    return ctrl_metrics_set(m, "loss", fn_loss(x->num, y->num, o->str), err);
}

static void fn_options(nas_search_options *o, const char *space, const char *dir, int max_trials, fn_state *st) {
    nas_search_options_default(o);
    o->space_path = space;
    o->study_dir = dir;
    o->controller = "tpe";
    o->seed = 5;
    o->max_trials = max_trials;
    o->objective = fn_objective;
    o->objective_user = st;
}

/* every complete trial's stored loss is the objective of its stored point */
static int check_loss(void *user, const nas_trial_record *r) {
    int *n = user;
    double x, y, loss;
    char opt[16];
    ASSERT_TRUE(r->arch_json != NULL);
    ASSERT_TRUE(r->trial_dir == NULL);
    ASSERT_EQ_INT(sscanf(strstr(r->point_json, "\"x\""), "\"x\": %lf", &x), 1);
    ASSERT_EQ_INT(sscanf(strstr(r->point_json, "\"y\""), "\"y\": %lf", &y), 1);
    ASSERT_EQ_INT(sscanf(strstr(r->point_json, "\"opt\""), "\"opt\": \"%15[a-z]", opt), 1);
    ASSERT_EQ_INT(sscanf(strstr(r->metrics_json, "\"loss\""), "\"loss\": %lf", &loss), 1);
    ASSERT_NEAR(loss, fn_loss(x, y, opt), 1e-9 * (1 + loss));
    (*n)++;
    return 0;
}

static void test_function_trials_stored(void) {
    char space[512], dir[512];
    snprintf(space, sizeof space, "%s/fn.nas", tmp);
    snprintf(dir, sizeof dir, "%s/fn-stored", tmp);
    write_file("fn.nas", FN_SPACE);
    fn_state st = {0};
    nas_search_options o;
    fn_options(&o, space, dir, 25, &st);
    nas_search_summary sum;
    nas_error err;
    ASSERT_OK(nas_search_run(&o, &sum, &err), &err);
    ASSERT_EQ_INT(sum.completed, 25);
    ASSERT_EQ_INT(sum.failed, 0);
    ASSERT_EQ_INT(st.calls, 25);
    ASSERT_TRUE(sum.best_trial >= 0);
    nas_store *s;
    ASSERT_OK(nas_store_open(dir, NULL, &s, &err), &err);
    ASSERT_CONTAINS(nas_store_spec_json(s), "\"evaluator\":\"function\"");
    int64_t c[NAS_TRIAL_STATE_COUNT];
    ASSERT_OK(nas_store_trial_counts(s, c, &err), &err);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 25);
    int n = 0;
    ASSERT_OK(nas_store_trial_each(s, 1u << NAS_TRIAL_COMPLETE, check_loss, &n, &err), &err);
    ASSERT_EQ_INT(n, 25);
    char *status = NULL;
    ASSERT_OK(nas_store_get_status(s, &status, &err), &err);
    ASSERT_STR_EQ(status, "finished");
    free(status);
    /* the best trial is the stored one with the lowest loss */
    nas_trial_record best;
    int found = 0;
    ASSERT_OK(nas_store_trial_best(s, "loss", 0, &best, &found, &err), &err);
    ASSERT_TRUE(found);
    ASSERT_EQ_INT(best.number, sum.best_trial);
    nas_trial_record_deinit(&best);
    nas_store_close(s);
}

typedef struct fail_count {
    int too_large, missing, nan, other;
} fail_count;

static int count_reason(void *user, const nas_trial_record *r) {
    fail_count *f = user;
    ASSERT_TRUE(r->fail_reason != NULL);
    if (strstr(r->fail_reason, "is too large")) f->too_large++;
    else if (strstr(r->fail_reason, "metric 'loss' never reported")) f->missing++;
    else if (strstr(r->fail_reason, "metric 'loss' is nan")) f->nan++;
    else f->other++;
    return 0;
}

static void test_function_failures(void) {
    char space[512], dir[512], dir2[512];
    snprintf(space, sizeof space, "%s/fn.nas", tmp);
    snprintf(dir, sizeof dir, "%s/fn-fail", tmp);
    snprintf(dir2, sizeof dir2, "%s/fn-fail-stop", tmp);
    write_file("fn.nas", FN_SPACE);
    fn_state st = {0, 0, 2};
    nas_search_options o;
    fn_options(&o, space, dir, 20, &st);
    o.controller = "random";
    o.max_failed_trials = 1000;
    nas_search_summary sum;
    nas_error err;
    ASSERT_OK(nas_search_run(&o, &sum, &err), &err);
    ASSERT_EQ_INT(sum.completed, 20);
    ASSERT_TRUE(sum.failed > 0);
    nas_store *s;
    ASSERT_OK(nas_store_open(dir, NULL, &s, &err), &err);
    int64_t c[NAS_TRIAL_STATE_COUNT];
    ASSERT_OK(nas_store_trial_counts(s, c, &err), &err);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 20);
    ASSERT_EQ_INT(c[NAS_TRIAL_FAILED], sum.failed);
    fail_count f = {0};
    ASSERT_OK(nas_store_trial_each(s, 1u << NAS_TRIAL_FAILED, count_reason, &f, &err), &err);
    ASSERT_TRUE(f.too_large > 0 && f.missing > 0);
    ASSERT_EQ_INT(f.other, 0);
    ASSERT_EQ_INT(f.too_large + f.missing + f.nan, sum.failed);
    int n = 0;
    ASSERT_OK(nas_store_trial_each(s, 1u << NAS_TRIAL_COMPLETE, check_loss, &n, &err), &err);
    nas_store_close(s);
    /* too many failures stop the job, everything recorded */
    fn_state st2 = {0, 0, 1};
    fn_options(&o, space, dir2, 50, &st2);
    o.controller = "random";
    o.max_failed_trials = 3;
    ASSERT_EQ_INT(nas_search_run(&o, &sum, &err), NAS_ERR_EXHAUSTED);
    ASSERT_CONTAINS(err.msg, "3 failed trials");
    ASSERT_OK(nas_store_open(dir2, NULL, &s, &err), &err);
    ASSERT_OK(nas_store_trial_counts(s, c, &err), &err);
    ASSERT_EQ_INT(c[NAS_TRIAL_FAILED], 3);
    ASSERT_EQ_INT(c[NAS_TRIAL_PENDING] + c[NAS_TRIAL_RUNNING], 0);
    nas_store_close(s);
}

/* Runs one function job in a child process that SIGKILLs itself on its
 * kill_at-th objective call (0: runs to the end). Returns 0 when the job
 * finished, -1 when killed. */
static int run_function_child(const nas_search_options *o, int kill_at) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", 1);
        dup2(devnull, 2);
        fn_state st = {0, kill_at, 0};
        nas_search_options c = *o;
        c.objective_user = &st;
        nas_search_summary sum;
        nas_error err;
        _exit(nas_search_run(&c, &sum, &err) == NAS_OK ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) return -1;
    return WEXITSTATUS(status);
}

static void test_function_resume(void) {
    char space[512], ref[512], stopped[512], killed[512];
    snprintf(space, sizeof space, "%s/fn.nas", tmp);
    snprintf(ref, sizeof ref, "%s/fn-ref", tmp);
    snprintf(stopped, sizeof stopped, "%s/fn-stopped", tmp);
    snprintf(killed, sizeof killed, "%s/fn-killed", tmp);
    write_file("fn.nas", FN_SPACE);
    fn_state st = {0};
    nas_search_options o;
    nas_search_summary sum;
    nas_error err;
    fn_options(&o, space, ref, 30, &st);
    ASSERT_OK(nas_search_run(&o, &sum, &err), &err);
    /* the study keeps its controller as a whole state and the deltas saved
       after it (two per trial), the deltas before the newest adding up to
       less than the whole state */
    nas_store *sst = NULL;
    nas_store_snapshot snap;
    ASSERT_OK(nas_store_open(ref, NULL, &sst, &err), &err);
    ASSERT_OK(nas_store_snapshot_load(sst, &snap, &err), &err);
    ASSERT_TRUE(snap.n > 2);
    ASSERT_TRUE(memcmp(snap.parts[0], "NASCTRL1", 8) == 0);
    size_t deltas = 0;
    for (int i = 1; i < snap.n; i++) {
        ASSERT_TRUE(memcmp(snap.parts[i], "NASCTRLD", 8) == 0);
        if (i + 1 < snap.n) deltas += snap.lens[i];
    }
    ASSERT_TRUE(deltas < snap.lens[0]);
    printf("     the controller state after 30 trials: a whole state of %zu bytes and %d deltas\n", snap.lens[0],
           snap.n - 1);
    nas_store_snapshot_free(&snap);
    nas_store_close(sst);
    /* stopped after 12 (max_trials may change between runs), then resumed */
    fn_options(&o, space, stopped, 12, &st);
    ASSERT_OK(nas_search_run(&o, &sum, &err), &err);
    ASSERT_EQ_INT(sum.completed, 12);
    fn_state st2 = {0};
    nas_search_options r;
    nas_search_options_default(&r);
    r.study_dir = stopped;
    r.resume = 1;
    r.max_trials = 30;
    r.objective = fn_objective;
    r.objective_user = &st2;
    ASSERT_OK(nas_search_run(&r, &sum, &err), &err);
    ASSERT_EQ_INT(sum.completed, 30);
    ASSERT_EQ_INT(st2.calls, 18);
    /* killed inside a trial several times, resumed each time */
    fn_options(&o, space, killed, 30, NULL);
    pcg32 rng;
    pcg32_seed(&rng, 77, 1);
    int kills = 0;
    for (int round = 0; round < 6; round++) {
        /* at most 4 trials per run: 6 runs cannot finish the 30 */
        int rc = run_function_child(&o, 1 + (int)pcg32_bounded(&rng, 5));
        ASSERT_EQ_INT(rc, -1);
        kills++;
        o.space_path = NULL;
        o.resume = 1;
    }
    ASSERT_EQ_INT(run_function_child(&o, 0), 0);
    trace a, b, c;
    int64_t ca[NAS_TRIAL_STATE_COUNT], cb[NAS_TRIAL_STATE_COUNT], cc[NAS_TRIAL_STATE_COUNT];
    read_trace(ref, &a, ca);
    read_trace(stopped, &b, cb);
    read_trace(killed, &c, cc);
    ASSERT_EQ_INT(ca[NAS_TRIAL_COMPLETE], 30);
    ASSERT_EQ_INT(cb[NAS_TRIAL_COMPLETE], 30);
    ASSERT_EQ_INT(cc[NAS_TRIAL_COMPLETE], 30);
    ASSERT_EQ_INT(cc[NAS_TRIAL_FAILED] + cc[NAS_TRIAL_PENDING] + cc[NAS_TRIAL_RUNNING], 0);
    ASSERT_EQ_INT(a.n, b.n);
    ASSERT_EQ_INT(a.n, c.n);
    for (int i = 0; i < a.n; i++) {
        ASSERT_STR_EQ(a.lines[i], b.lines[i]);
        ASSERT_STR_EQ(a.lines[i], c.lines[i]);
    }
    printf("     stopped once and killed %d times: 30 trials identical to the uninterrupted run\n", kills);
}

static void test_function_resume_needs_function(void) {
    char space[512], dir[512], db[600];
    snprintf(space, sizeof space, "%s/fn.nas", tmp);
    snprintf(dir, sizeof dir, "%s/fn-nofn", tmp);
    snprintf(db, sizeof db, "%s/study.db", dir);
    write_file("fn.nas", FN_SPACE);
    fn_state st = {0};
    nas_search_options o;
    nas_search_summary sum;
    nas_error err;
    fn_options(&o, space, dir, 4, &st);
    ASSERT_OK(nas_search_run(&o, &sum, &err), &err);
    nas_search_options r;
    nas_search_options_default(&r);
    r.study_dir = dir;
    r.resume = 1;
    r.max_trials = 8;
    ASSERT_EQ_INT(nas_search_run(&r, &sum, &err), NAS_ERR_USAGE);
    ASSERT_CONTAINS(err.msg, "objective function");
    ASSERT_CONTAINS(err.msg, "can resume it");
    /* nor from the command line */
    char *args[] = {"nas", "-q", "search", "--resume", dir, "--max-trials", "8", NULL};
    ASSERT_EQ_INT(run_nas(args, 0), 2);
    trace t;
    int64_t c[NAS_TRIAL_STATE_COUNT];
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 4);
    ASSERT_EQ_INT(t.n, 4);
    /* the function evaluator without a function, and a function given to
       another evaluator, are usage errors */
    fn_options(&o, space, dir, 4, &st);
    o.objective = NULL;
    o.evaluator = "function";
    ASSERT_EQ_INT(nas_search_run(&o, &sum, &err), NAS_ERR_USAGE);
    fn_options(&o, space, dir, 4, &st);
    o.evaluator = "command";
    o.trial_cmd = "true";
    ASSERT_EQ_INT(nas_search_run(&o, &sum, &err), NAS_ERR_USAGE);
}

/* SIGTERM (or SIGINT) stops a job cleanly: the running trial program is
 * ended with it (before, it outlived the job), its trial goes back to
 * pending, the study is marked stopped and nas exits 128 + 15. */
static void test_sigterm_stops_trials(void) {
    char space[512], dir[512], pidfile[512], prog[600], cmd[700];
    kill_job_files(space, cmd); /* kill.nas */
    snprintf(dir, sizeof dir, "%s/sigterm", tmp);
    snprintf(pidfile, sizeof pidfile, "%s/sigterm.pid", tmp);
    snprintf(prog, sizeof prog, "echo $$ > '%s'; sleep 60; echo never", pidfile);
    write_file("sigterm.sh", prog);
    snprintf(cmd, sizeof cmd, "sh %s/sigterm.sh", tmp);
    char *args[] = {"nas", "-q", "search", space, "--controller", "random", "--max-trials", "1",
                    "--trial-cmd", cmd, "--study", dir, NULL};
    pid_t pid = spawn_nas(args, NULL);
    pid_t trial = 0;
    for (int i = 0; i < 200 && trial <= 0; i++) { /* up to 10 s for the program to start */
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
        char *text = nas_path_exists(pidfile) ? slurp(pidfile) : NULL;
        if (text) trial = (pid_t)atol(text);
        free(text);
    }
    ASSERT_TRUE(trial > 0);
    ASSERT_EQ_INT(kill(trial, 0), 0); /* running */
    double t0 = nas_time_now();
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ_INT(WEXITSTATUS(st), 128 + SIGTERM);
    ASSERT_TRUE(nas_time_now() - t0 < 20); /* not the program's 60 s */
    ASSERT_TRUE(kill(trial, 0) != 0);      /* ended with the job */
    nas_store *s;
    nas_error err;
    ASSERT_OK(nas_store_open(dir, NULL, &s, &err), &err);
    char *status = NULL;
    ASSERT_OK(nas_store_get_status(s, &status, &err), &err);
    ASSERT_STR_EQ(status, "stopped");
    free(status);
    int64_t c[NAS_TRIAL_STATE_COUNT];
    ASSERT_OK(nas_store_trial_counts(s, c, &err), &err);
    ASSERT_EQ_INT(c[NAS_TRIAL_PENDING], 1);
    ASSERT_EQ_INT(c[NAS_TRIAL_RUNNING] + c[NAS_TRIAL_FAILED] + c[NAS_TRIAL_COMPLETE], 0);
    nas_store_close(s);
}

/* The stop request with in-process trials (the function evaluator; the
 * supernet one runs the same loop): the job stops after the trial that saw
 * it, returns NAS_ERR_INTERRUPTED, the study is stopped (not finished), and
 * a resume runs the rest. */
static volatile sig_atomic_t fn_stop;

static nas_status stopping_objective(void *user, int64_t number, const nas_arch *a, const double *point,
                                     ctrl_metrics *m, nas_error *err) {
    int *calls = user;
    (void)number, (void)a, (void)point;
    if (++*calls == 3) fn_stop = 1; /* as a SIGINT handler would */
    return ctrl_metrics_set(m, "loss", (double)*calls, err);
}

static void test_stop_in_process(void) {
    char space[512], dir[512];
    snprintf(space, sizeof space, "%s/fn.nas", tmp);
    snprintf(dir, sizeof dir, "%s/fn-stop", tmp);
    write_file("fn.nas", FN_SPACE);
    int calls = 0;
    nas_search_options o;
    nas_search_options_default(&o);
    o.space_path = space;
    o.study_dir = dir;
    o.controller = "random";
    o.max_trials = 10;
    o.objective = stopping_objective;
    o.objective_user = &calls;
    fn_stop = 0;
    o.stop = &fn_stop;
    nas_search_summary sum;
    nas_error err;
    ASSERT_EQ_INT(nas_search_run(&o, &sum, &err), NAS_ERR_INTERRUPTED);
    ASSERT_CONTAINS(err.msg, "stopped on request");
    ASSERT_EQ_INT(calls, 3);
    nas_store *s;
    ASSERT_OK(nas_store_open(dir, NULL, &s, &err), &err);
    char *status = NULL;
    ASSERT_OK(nas_store_get_status(s, &status, &err), &err);
    ASSERT_STR_EQ(status, "stopped");
    free(status);
    nas_store_close(s);
    fn_stop = 0;
    nas_search_options r;
    nas_search_options_default(&r);
    r.study_dir = dir;
    r.resume = 1;
    r.objective = stopping_objective;
    r.objective_user = &calls;
    r.stop = &fn_stop;
    ASSERT_OK(nas_search_run(&r, &sum, &err), &err);
    ASSERT_EQ_INT(sum.completed, 10);
}

/* --latency measure in the study's unit: a new study stores its clock
 * reference (latency_clock_ms), every later run of it (the same command, or
 * --resume) measures ratio x that stored reference. Scaling the stored
 * reference 1000x must scale the new trials' latencies with it. */
static const char *NET_SPACE = "space lat\n"
                               "input 1x8x8\n"
                               "classes 2\n"
                               "network {\n"
                               "    conv(kernel = 3, out = choice(4, 6, 8, 10, 12, 16)) bn relu\n"
                               "    global_avg_pool fc(out = classes)\n"
                               "}\n"
                               "objective minimize loss\n";

static nas_status const_objective(void *user, int64_t number, const nas_arch *a, const double *point,
                                  ctrl_metrics *m, nas_error *err) {
    (void)user, (void)number, (void)a, (void)point;
    return ctrl_metrics_set(m, "loss", 1.0, err);
}

typedef struct latencies {
    int n;
    double ms[16];
} latencies;

static int add_latency(void *user, const nas_trial_record *r) {
    latencies *l = user;
    const char *at = strstr(r->metrics_json, "\"latency_ms\"");
    ASSERT_TRUE(at != NULL);
    if (l->n < 16) ASSERT_EQ_INT(sscanf(at, "\"latency_ms\": %lf", &l->ms[l->n++]), 1);
    return 0;
}

static void study_latencies(const char *dir, latencies *l, double *clock_ms) {
    nas_store *s;
    nas_error err;
    ASSERT_OK(nas_store_open(dir, NULL, &s, &err), &err);
    memset(l, 0, sizeof *l);
    ASSERT_OK(nas_store_trial_each(s, 1u << NAS_TRIAL_COMPLETE, add_latency, l, &err), &err);
    const char *at = strstr(nas_store_spec_json(s), "\"latency_clock_ms\":");
    ASSERT_TRUE(at != NULL);
    ASSERT_EQ_INT(sscanf(at, "\"latency_clock_ms\":%lf", clock_ms), 1);
    nas_store_close(s);
}

/* A study of NET_SPACE in tmp/name (its space file in space, study.db path
 * in db: 512, 512 and 600 bytes), run to `trials` trials with the constant
 * objective; o keeps the options (space must outlive it). */
static void net_study(const char *name, int trials, nas_search_options *o, char *space, char *dir, char *db) {
    snprintf(space, 512, "%s/lat.nas", tmp);
    snprintf(dir, 512, "%s/%s", tmp, name);
    snprintf(db, 600, "%s/study.db", dir);
    write_file("lat.nas", NET_SPACE);
    nas_search_options_default(o);
    o->space_path = space;
    o->study_dir = dir;
    o->controller = "random";
    o->max_trials = trials;
    o->objective = const_objective;
    nas_search_summary sum;
    nas_error err;
    ASSERT_OK(nas_search_run(o, &sum, &err), &err);
}

/* --resume of dir up to max_trials trials: the status and *err. */
static nas_status net_resume(const char *dir, int max_trials, nas_search_summary *sum, nas_error *err) {
    nas_search_options r;
    nas_search_options_default(&r);
    r.study_dir = dir;
    r.resume = 1;
    r.max_trials = max_trials;
    r.objective = const_objective;
    return nas_search_run(&r, sum, err);
}

static void test_latency_clock_reference(void) {
    char space[512], dir[512], db[600], sql[200];
    nas_search_options o;
    nas_search_summary sum;
    nas_error err;
    net_study("lat", 3, &o, space, dir, db);
    latencies l;
    double ref;
    study_latencies(dir, &l, &ref);
    ASSERT_EQ_INT(l.n, 3);
    printf("     reference clock loop %.4f ms; latencies %.4f %.4f %.4f ms\n", ref, l.ms[0], l.ms[1], l.ms[2]);
    ASSERT_TRUE(ref > 1e-4 && ref < 1); /* 20 000 multiply-adds: ~0.02 ms */
    double most = 0;
    for (int i = 0; i < 3; i++) {
        ASSERT_TRUE(l.ms[i] > 0);
        if (l.ms[i] > most) most = l.ms[i];
    }
    /* the stored reference, 1000x: the same command reopens the study with
       it (no new reference), and so does --resume */
    snprintf(sql, sizeof sql, "UPDATE study SET spec_json = json_set(spec_json, '$.latency_clock_ms', %.17g)",
             1000 * ref);
    study_sql(db, sql);
    o.max_trials = 4;
    ASSERT_OK(nas_search_run(&o, &sum, &err), &err);
    ASSERT_OK(net_resume(dir, 5, &sum, &err), &err);
    double ref2;
    study_latencies(dir, &l, &ref2);
    ASSERT_EQ_INT(l.n, 5);
    ASSERT_NEAR(ref2, 1000 * ref, 1e-9 * ref);
    printf("     after scaling the reference 1000x: %.3f %.3f ms\n", l.ms[3], l.ms[4]);
    /* widths differ at most 4x in channels; 1000x the reference dwarfs that */
    ASSERT_TRUE(l.ms[3] > 50 * most);
    ASSERT_TRUE(l.ms[4] > 50 * most);
}

/* A corrupt number in a stored spec or in the study's elapsed time (edited
 * by hand, or a disk's error) is named when the study is resumed, not
 * converted (1e300 to an int is undefined), and loses nothing: put right,
 * the study goes on. */
static char *study_spec(const char *dir);
static void test_corrupt_spec_named(void) {
    char space[512], dir[512], db[600], sql[300];
    nas_search_options o;
    nas_search_summary sum;
    nas_error err;
    net_study("corrupt-spec", 2, &o, space, dir, db);
    char *good = study_spec(dir);
    static const struct {
        const char *path, *value, *msg;
    } BAD[] = {
        {"$.proxy_epochs", "1e300", "'proxy_epochs' is not a whole number in -2147483648..2147483647"},
        {"$.parallel_trials", "2.5", "'parallel_trials' is not a whole number"},
        {"$.supernet_batch", "'x'", "'supernet_batch' is not a whole number"},
        {"$.seed", "-1", "'seed' is not a whole number in 0..9007199254740992"},
        {"$.latency_clock_ms", "-1", "the study's latency_clock_ms is -1, not a loop time in ms"},
        {"$.final_epochs", "0", "--final-epochs must be in 1..100000, got 0"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        snprintf(sql, sizeof sql, "UPDATE study SET spec_json = json_set(spec_json, '%s', %s)", BAD[i].path,
                 BAD[i].value);
        study_sql(db, sql);
        if (net_resume(dir, 3, &sum, &err) == NAS_OK) TEST_FAIL_("%s = %s resumed", BAD[i].path, BAD[i].value);
        ASSERT_CONTAINS(err.msg, BAD[i].msg);
        latencies l;
        double ref;
        study_latencies(dir, &l, &ref);
        ASSERT_EQ_INT(l.n, 2);
        /* put right: the stored spec as it was */
        char *q = sqlite3_mprintf("UPDATE study SET spec_json = %Q", good);
        study_sql(db, q);
        sqlite3_free(q);
    }
    /* the time the study spent (kv elapsed_s) is read the same way */
    study_sql(db, "UPDATE kv SET value = '12x' WHERE key = 'elapsed_s'");
    ASSERT_EQ_INT(net_resume(dir, 3, &sum, &err), NAS_ERR_FORMAT);
    ASSERT_CONTAINS(err.msg, "the study's elapsed_s is '12x', not a duration in s (delete the row");
    latencies l;
    double ref;
    study_latencies(dir, &l, &ref);
    ASSERT_EQ_INT(l.n, 2);
    study_sql(db, "DELETE FROM kv WHERE key = 'elapsed_s'");
    ASSERT_OK(net_resume(dir, 3, &sum, &err), &err);
    ASSERT_EQ_INT(sum.completed, 3);
    free(good);
}

/* A candidate that cannot be costed (here a latency table whose constant
 * makes every prediction negative) fails as a trial, its reason stored, and
 * the job goes on to its failure limit; its program never starts. */
typedef struct lut_fill {
    const ss_space *space;
    nas_lut *t;
} lut_fill;

static int lut_add_point(void *user, const double *point) {
    lut_fill *f = user;
    nas_arch *a = NULL;
    nas_error err;
    ASSERT_OK(ss_space_realize(f->space, point, &a, &err), &err);
    for (int i = 1; i < a->n_nodes; i++) {
        char *k = nas_lut_key(a, i);
        if (k) ASSERT_OK(nas_lut_add(f->t, k, 0.01, &err), &err);
        free(k);
    }
    nas_arch_destroy(a);
    return 0;
}

static int count_not_latency(void *user, const nas_trial_record *r) {
    int *n = user;
    if (r->fail_reason && strstr(r->fail_reason, "not a latency")) (*n)++;
    return 0;
}

static void test_cost_failure_fails_trial(void) {
    char space[512], lut[512], dir[512], lat[600], marker[512], cmd[600];
    snprintf(space, sizeof space, "%s/lat.nas", tmp);
    snprintf(lut, sizeof lut, "%s/negative-lut.json", tmp);
    snprintf(lat, sizeof lat, "lut:%s", lut);
    snprintf(dir, sizeof dir, "%s/cost-fails", tmp);
    snprintf(marker, sizeof marker, "%s/cost-fails.started", tmp);
    snprintf(cmd, sizeof cmd, "touch %s", marker);
    write_file("lat.nas", NET_SPACE);
    nas_error err;
    ss_space *sp = NULL;
    ASSERT_OK(ss_space_compile_string("lat", NET_SPACE, strlen(NET_SPACE), stderr, &sp, &err), &err);
    nas_machine m;
    nas_machine_describe(1, 1, &m);
    lut_fill f = {sp, nas_lut_create(&m)};
    ASSERT_OK(ss_space_enumerate(sp, -1, lut_add_point, &f, &err), &err);
    nas_lut_set_constant(f.t, -100);
    ASSERT_OK(nas_lut_save(f.t, lut, &err), &err);
    nas_lut_destroy(f.t);
    ss_space_destroy(sp);
    nas_search_options o;
    nas_search_options_default(&o);
    o.space_path = space;
    o.study_dir = dir;
    o.controller = "random";
    o.max_trials = 5;
    o.max_failed_trials = 2;
    o.trial_cmd = cmd;
    o.latency = lat;
    o.threads = 1;
    nas_search_summary sum;
    ASSERT_EQ_INT(nas_search_run(&o, &sum, &err), NAS_ERR_EXHAUSTED);
    ASSERT_CONTAINS(err.msg, "stopped after 2 failed trials");
    trace t;
    int64_t c[NAS_TRIAL_STATE_COUNT];
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_FAILED], 2);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 0);
    nas_store *st;
    int named = 0;
    ASSERT_OK(nas_store_open(dir, NULL, &st, &err), &err);
    ASSERT_OK(nas_store_trial_each(st, 1u << NAS_TRIAL_FAILED, count_not_latency, &named, &err), &err);
    nas_store_close(st);
    ASSERT_EQ_INT(named, 2);
    ASSERT_TRUE(!nas_path_exists(marker));
}

/* ---- bad option values, and what --resume may change ---- */

/* A bad option value is refused before the study directory is created
 * (naming the option and the value), and leaves an existing study as it
 * was: no study that can never run is left behind. */
static void test_bad_values_create_no_study(void) {
    char space[512], cmd[600], dir[512], db[600], errlog[512], cfg[512], nolut[512], good[512], gooddb[600];
    kill_job_files(space, cmd);
    snprintf(dir, sizeof dir, "%s/badvalue", tmp);
    snprintf(db, sizeof db, "%s/study.db", dir);
    snprintf(errlog, sizeof errlog, "%s/badvalue.err", tmp);
    snprintf(cfg, sizeof cfg, "%s/ctrl5.json", tmp);
    snprintf(nolut, sizeof nolut, "lut:%s/nonexist.json", tmp);
    write_file("ctrl5.json", "{\"controller\": 5}");
    static const struct {
        const char *flag, *value, *says;
        int rc;
    } BAD[] = {
        {"--latency", "foo", "--latency must be measure or lut:FILE, got 'foo'", 2},
        {"--latency", NULL, "nonexist.json", 1},
        {"--early-stop", "foo", "--early-stop must be none, median or asha, got 'foo'", 2},
        {"--controller", "foo", "--controller 'foo'", 1},
        {"--config", NULL, "--controller '5'", 1},
        {"--trial-cmd", "", "--trial-cmd is empty", 2},
        {"--trial-cmd", "  ", "--trial-cmd is empty", 2},
        {"--data", "nodata", "nodata", 2},
        {"--time-budget", " 5m", "--time-budget: expected a duration such as 90s, 30m or 1h, got ' 5m'", 2},
        {"--time-budget", "+5m", "got '+5m'", 2},
        {"--time-budget", "0x10", "got '0x10'", 2},
        {"--max-trials", " 5", "--max-trials: expected an integer, got ' 5'", 2},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const char *v = BAD[i].value ? BAD[i].value : !strcmp(BAD[i].flag, "--config") ? cfg : nolut;
        int own_cmd = !strcmp(BAD[i].flag, "--trial-cmd"), config = !strcmp(BAD[i].flag, "--config");
        /* the job file's controller, not the command line's */
        char *args[] = {"nas", "-q", "search", space, config ? "--seed" : "--controller", config ? "0" : "random",
                        "--max-trials", "2",
                        "--trial-cmd", own_cmd ? (char *)v : cmd, (char *)BAD[i].flag, (char *)v, "--study", dir, NULL};
        ASSERT_EQ_INT(run_nas_stderr(args, errlog), BAD[i].rc);
        char *text = slurp(errlog);
        ASSERT_CONTAINS(text, BAD[i].says);
        free(text);
        ASSERT_TRUE(!nas_path_exists(dir));
    }
    /* a job file's value is named by the file and its key, not by a flag */
    static const struct {
        const char *json, *says;
    } CFG[] = {
        {"{\"seed\": -1}", "bad.json: seed must be in 0..9007199254740992 (2^53), got -1"},
        {"{\"proxy_fraction\": 2}", "bad.json: proxy_fraction must be in (0, 1], got 2"},
        {"{\"max_trials\": 0}", "bad.json: max_trials must be in 1..1000000, got 0"},
    };
    for (size_t i = 0; i < sizeof CFG / sizeof CFG[0]; i++) {
        char bad[512];
        snprintf(bad, sizeof bad, "%s/bad.json", tmp);
        write_file("bad.json", CFG[i].json);
        char *args[] = {"nas", "-q", "search", space, "--config", bad, "--trial-cmd", cmd, "--study", dir, NULL};
        ASSERT_EQ_INT(run_nas_stderr(args, errlog), 1); /* the file is wrong, not the command line */
        char *text = slurp(errlog);
        ASSERT_CONTAINS(text, CFG[i].says);
        free(text);
        ASSERT_TRUE(!nas_path_exists(dir));
    }
    /* the library refuses the same values before it creates anything */
    nas_search_options o;
    nas_search_summary sum;
    nas_error err;
    nas_search_options_default(&o);
    o.space_path = space;
    o.study_dir = dir;
    o.trial_cmd = cmd;
    o.early_stop = "sometimes";
    ASSERT_EQ_INT(nas_search_run(&o, &sum, &err), NAS_ERR_USAGE);
    ASSERT_CONTAINS(err.msg, "'sometimes'");
    o.early_stop = "none";
    o.final_top_k = -1;
    ASSERT_EQ_INT(nas_search_run(&o, &sum, &err), NAS_ERR_USAGE);
    ASSERT_TRUE(!nas_path_exists(dir));
    /* an existing study: a bad value leaves it byte for byte as it was */
    snprintf(good, sizeof good, "%s/badvalue-existing", tmp);
    snprintf(gooddb, sizeof gooddb, "%s/study.db", good);
    char *ok[] = {"nas", "-q", "search", space, "--controller", "random", "--max-trials", "2",
                  "--trial-cmd", cmd, "--study", good, NULL};
    ASSERT_EQ_INT(run_nas(ok, 0), 0);
    char *before, *after;
    size_t len_before, len_after;
    ASSERT_OK(nas_file_read(gooddb, &before, &len_before, &err), &err);
    char *bad[] = {"nas", "-q", "search", space, "--controller", "random", "--max-trials", "2",
                   "--trial-cmd", cmd, "--latency", "foo", "--study", good, NULL};
    ASSERT_EQ_INT(run_nas(bad, 0), 2);
    ASSERT_OK(nas_file_read(gooddb, &after, &len_after, &err), &err);
    ASSERT_EQ_INT(len_before, len_after);
    ASSERT_TRUE(memcmp(before, after, len_before) == 0);
    free(before);
    free(after);
}

/* The stored job spec of the study in dir (caller frees). */
static char *study_spec(const char *dir) {
    nas_store *s;
    nas_error err;
    ASSERT_OK(nas_store_open(dir, NULL, &s, &err), &err);
    char *spec = strdup(nas_store_spec_json(s));
    nas_store_close(s);
    return spec;
}

/* --resume continues with the stored job spec: the options that would
 * change it are refused, naming each; the limits may be given. */
static void test_resume_refuses_spec_flags(void) {
    char space[512], cmd[600], dir[512], errlog[512], cfg[512];
    kill_job_files(space, cmd);
    snprintf(dir, sizeof dir, "%s/resume-flags", tmp);
    snprintf(errlog, sizeof errlog, "%s/resume-flags.err", tmp);
    snprintf(cfg, sizeof cfg, "%s/resume-seed.json", tmp);
    char *create[] = {"nas", "-q", "search", space, "--controller", "random", "--max-trials", "2",
                      "--trial-cmd", cmd, "--study", dir, NULL};
    ASSERT_EQ_INT(run_nas(create, 0), 0);
    char *spec_before = study_spec(dir);
    char *args[] = {"nas", "-q", "search", "--resume", dir, "--max-trials", "2", "--seed", "7", "--controller", "tpe",
                    "--trial-cmd", "false", "--proxy-epochs", "9", NULL};
    ASSERT_EQ_INT(run_nas_stderr(args, errlog), 2);
    char *text = slurp(errlog);
    ASSERT_CONTAINS(text, "--controller, --seed, --trial-cmd, --proxy-epochs");
    ASSERT_TRUE(strstr(text, "--proxy-epochs, --max-trials") == NULL);
    free(text);
    /* the same from a job file */
    write_file("resume-seed.json", "{\"seed\": 3, \"max_trials\": 3}");
    char *args2[] = {"nas", "-q", "search", "--resume", dir, "--config", cfg, NULL};
    ASSERT_EQ_INT(run_nas_stderr(args2, errlog), 2);
    text = slurp(errlog);
    ASSERT_CONTAINS(text, "--seed");
    free(text);
    char *args3[] = {"nas", "-q", "search", "--resume", dir, "--study", dir, NULL};
    ASSERT_EQ_INT(run_nas(args3, 0), 2);
    char *spec_after = study_spec(dir);
    ASSERT_STR_EQ(spec_before, spec_after);
    free(spec_before);
    free(spec_after);
    trace t;
    int64_t c[NAS_TRIAL_STATE_COUNT];
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 2);
    /* the limits are the study's to change */
    char *args4[] = {"nas", "-q", "search", "--resume", dir, "--max-trials", "3", "--threads", "1",
                     "--max-failed-trials", "4", "--time-budget", "1h", "--trial-timeout", "10m", NULL};
    ASSERT_EQ_INT(run_nas(args4, 0), 0);
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 3);
}

/* On resume the limits not given keep the study's values (the last ones
 * given), those given override them and are kept for the next resume. */
static void test_resume_keeps_limits(void) {
    char space[512], cmd[600], dir[512], fdir[512];
    kill_job_files(space, cmd);
    snprintf(dir, sizeof dir, "%s/resume-limits", tmp);
    snprintf(fdir, sizeof fdir, "%s/resume-failing", tmp);
    char *create[] = {"nas", "-q", "search", space, "--controller", "random", "--max-trials", "2",
                      "--parallel-trials", "2", "--time-budget", "1h", "--trial-timeout", "10m",
                      "--trial-cmd", cmd, "--study", dir, NULL};
    ASSERT_EQ_INT(run_nas(create, 0), 0);
    char *resume[] = {"nas", "-q", "search", "--resume", dir, NULL};
    ASSERT_EQ_INT(run_nas(resume, 0), 0);
    trace t;
    int64_t c[NAS_TRIAL_STATE_COUNT];
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 2);
    char *spec = study_spec(dir);
    ASSERT_CONTAINS(spec, "\"max_trials\":2,\"parallel_trials\":2,\"max_failed_trials\":10,"
                          "\"time_budget_s\":3600,\"trial_timeout_s\":600");
    free(spec);
    char *more[] = {"nas", "-q", "search", "--resume", dir, "--max-trials", "3", NULL};
    ASSERT_EQ_INT(run_nas(more, 0), 0);
    ASSERT_EQ_INT(run_nas(resume, 0), 0);
    read_trace(dir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_COMPLETE], 3);
    spec = study_spec(dir);
    ASSERT_CONTAINS(spec, "\"max_trials\":3,\"parallel_trials\":2,\"max_failed_trials\":10,"
                          "\"time_budget_s\":3600,\"trial_timeout_s\":600");
    free(spec);
    /* a failing program: the stored failure limit stops the resumed job at once */
    char *failing[] = {"nas", "-q", "search", space, "--controller", "random", "--max-trials", "5",
                       "--max-failed-trials", "2", "--trial-cmd", "false", "--study", fdir, NULL};
    ASSERT_EQ_INT(run_nas(failing, 0), 1);
    char *fresume[] = {"nas", "-q", "search", "--resume", fdir, NULL};
    ASSERT_EQ_INT(run_nas(fresume, 0), 1);
    read_trace(fdir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_FAILED], 2);
    char *fmore[] = {"nas", "-q", "search", "--resume", fdir, "--max-failed-trials", "3", NULL};
    ASSERT_EQ_INT(run_nas(fmore, 0), 1);
    read_trace(fdir, &t, c);
    ASSERT_EQ_INT(c[NAS_TRIAL_FAILED], 3);
    /* in-process: options left at their defaults keep the study's limits */
    char fn_space[512], fn_dir[512];
    snprintf(fn_space, sizeof fn_space, "%s/fn.nas", tmp);
    snprintf(fn_dir, sizeof fn_dir, "%s/fn-limits", tmp);
    write_file("fn.nas", FN_SPACE);
    fn_state st = {0};
    nas_search_options o;
    nas_search_summary sum;
    nas_error err;
    fn_options(&o, fn_space, fn_dir, 3, &st);
    ASSERT_OK(nas_search_run(&o, &sum, &err), &err);
    fn_state st2 = {0};
    nas_search_options r;
    nas_search_options_default(&r);
    r.study_dir = fn_dir;
    r.resume = 1;
    r.objective = fn_objective;
    r.objective_user = &st2;
    ASSERT_OK(nas_search_run(&r, &sum, &err), &err);
    ASSERT_EQ_INT(sum.completed, 3);
    ASSERT_EQ_INT(st2.calls, 0);
}

static const test_case TESTS[] = {
    {"kill_and_resume", test_kill_and_resume},
    {"mismatched_study_refused", test_mismatched_study_refused},
    {"job_file_and_usage", test_job_file_and_usage},
    {"time_budget_keeps_stage2", test_time_budget_keeps_stage2},
    {"second_job_refused", test_second_job_refused},
    {"killed_job_frees_lock", test_killed_job_frees_lock},
    {"train_hparams_warned", test_train_hparams_warned},
    {"supernet_hparams_warned", test_supernet_hparams_warned},
    {"function_trials_stored", test_function_trials_stored},
    {"function_failures", test_function_failures},
    {"function_resume", test_function_resume},
    {"function_resume_needs_function", test_function_resume_needs_function},
    {"latency_clock_reference", test_latency_clock_reference},
    {"corrupt_spec_named", test_corrupt_spec_named},
    {"cost_failure_fails_trial", test_cost_failure_fails_trial},
    {"sigterm_stops_trials", test_sigterm_stops_trials},
    {"stop_in_process", test_stop_in_process},
    {"bad_values_create_no_study", test_bad_values_create_no_study},
    {"resume_refuses_spec_flags", test_resume_refuses_spec_flags},
    {"resume_keeps_limits", test_resume_keeps_limits},
    {NULL, NULL},
};

int main(int argc, char **argv) {
    snprintf(tmp, sizeof tmp, "/tmp/nas-test-search-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    int rc = test_run(argc, argv, TESTS);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) rc = 1;
    return rc;
}
