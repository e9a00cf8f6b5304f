/*
 * cmd_search.c - `nas search SPACE.nas [--config JOB.json] [options]` and
 * `nas search --resume DIR`. Options may also come from a JSON job file whose
 * keys are the option names with '_' for '-' ("max_trials": 20); the command
 * line wins. --resume takes the study's stored job spec: only the limits
 * and --threads may be given with it (others are refused, named), and the
 * limits not given keep the study's values.
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <ctype.h>
#include <getopt.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nas/cli/cli.h"
#include "nas/core/fileio.h"
#include "nas/core/json.h"
#include "nas/search/search.h"

static void search_usage(FILE *out) {
    fprintf(out,
            "usage: nas search SPACE.nas [--config JOB.json] [options]\n"
            "       nas search --resume DIR [options]\n"
            "\n"
            "Searches a space: the controller proposes candidates, hard constraints are\n"
            "checked before any training, the evaluator scores each candidate, every\n"
            "candidate's accuracy, latency, MACs/FLOPs, parameters and memory are\n"
            "recorded in DIR/study.db; then, with the built-in evaluators, the top K are\n"
            "retrained (stage 2) and the best is written to DIR/best/ (a --trial-cmd\n"
            "study retrains nothing). Running the same command on the same --study\n"
            "continues a killed job; a job on a study another job is running is refused.\n"
            "Every option is checked before the study is created: a bad value leaves none.\n"
            "Ctrl-C or SIGTERM stops the job cleanly: running trial programs are ended,\n"
            "their trials re-run on --resume, the study is marked stopped (a second\n"
            "signal stops at once).\n"
            "The train evaluator trains with the hyperparameters `nas train` knows (lr,\n"
            "batch_size, optimizer, ...) and warns about the others.\n"
            "\n"
            "  --controller NAME       random | grid | evolution (default) | reinforce | tpe | nsga2\n"
            "  --seed S                one seed, one search trace (default 0)\n"
            "  --evaluator NAME        supernet | train | command (default: command with\n"
            "                          --trial-cmd, train for hyperparameter-only spaces,\n"
            "                          else supernet)\n"
            "  --trial-cmd 'CMD'       your trial program (docs/trial-protocol.md)\n"
            "  --max-trials N          complete or pruned trials (default 50)\n"
            "  --parallel-trials P     trial programs in flight (default 1)\n"
            "  --max-failed-trials F   stop after F failures (default 10)\n"
            "  --time-budget T         the study's wall time (30m, 1h, 90s), stage 2 and earlier\n"
            "                          runs of it included: no trial starts once only stage 2's\n"
            "                          estimated time is left (default none)\n"
            "  --trial-timeout T       kill a trial program after T (default none)\n"
            "                          These five limits are stored with the study: on --resume,\n"
            "                          those not given keep the study's last values\n"
            "  --objective 'maximize accuracy'   repeatable (several: Pareto front)\n"
            "  --constraint 'latency<=1ms'       repeatable; macs, flops, params, memory too\n"
            "  --reward NAME           objective (default) | mnas | mnas_hard | tunas | weighted\n"
            "  --latency measure|lut:FILE        how latency is obtained (default measure:\n"
            "                          clock-normalized to the study's reference, docs/cost.md)\n"
            "  --latency-threads T     threads of the batch-1 latency (default 1)\n"
            "  --early-stop none|median|asha     for trial programs reporting steps\n"
            "  --data SPEC             fashion-mnist (default) | idx:DIR | cifar10:DIR\n"
            "  --proxy-epochs E        train evaluator: epochs per trial (default 1)\n"
            "  --proxy-fraction F      share of the training split for proxy training and\n"
            "                          the supernet (default 0.2)\n"
            "  --supernet-epochs E     (default 6)\n"
            "  --supernet-batch B      (default 128)\n"
            "  --final-top-k K         stage 2: retrain the top K (default 3; 0 skips); a\n"
            "                          model retrained by an earlier run is kept\n"
            "  --final-epochs E        stage 2 epochs (default 10)\n"
            "  --final-augment on|off  stage 2: random crop + flip (default on)\n"
            "  --study DIR             default runs/<space>-<date>-<n>\n"
            "  --resume DIR            continue the study in DIR with its stored job spec; only\n"
            "                          the five limits above and --threads may be given with it\n"
            "  --threads T             OpenMP threads (default: all cores)\n"
            "  --config JOB.json       options as JSON keys\n");
}

enum {
    O_CONTROLLER = 1000, O_SEED, O_EVALUATOR, O_TRIALCMD, O_MAXTRIALS, O_PARALLEL, O_MAXFAILED,
    O_BUDGET, O_TIMEOUT, O_OBJECTIVE, O_CONSTRAINT, O_REWARD, O_LATENCY, O_EARLY, O_DATA,
    O_LATTHREADS, O_PEPOCHS, O_PFRAC, O_SNEPOCHS, O_SNBATCH, O_TOPK, O_FEPOCHS, O_FAUGMENT, O_STUDY, O_RESUME, O_THREADS,
    O_CONFIG, O_HELP
};

static const struct option OPTS[] = {
    {"controller", required_argument, 0, O_CONTROLLER},
    {"seed", required_argument, 0, O_SEED},
    {"evaluator", required_argument, 0, O_EVALUATOR},
    {"trial-cmd", required_argument, 0, O_TRIALCMD},
    {"max-trials", required_argument, 0, O_MAXTRIALS},
    {"parallel-trials", required_argument, 0, O_PARALLEL},
    {"max-failed-trials", required_argument, 0, O_MAXFAILED},
    {"time-budget", required_argument, 0, O_BUDGET},
    {"trial-timeout", required_argument, 0, O_TIMEOUT},
    {"objective", required_argument, 0, O_OBJECTIVE},
    {"constraint", required_argument, 0, O_CONSTRAINT},
    {"reward", required_argument, 0, O_REWARD},
    {"latency", required_argument, 0, O_LATENCY},
    {"latency-threads", required_argument, 0, O_LATTHREADS},
    {"early-stop", required_argument, 0, O_EARLY},
    {"data", required_argument, 0, O_DATA},
    {"proxy-epochs", required_argument, 0, O_PEPOCHS},
    {"proxy-fraction", required_argument, 0, O_PFRAC},
    {"supernet-epochs", required_argument, 0, O_SNEPOCHS},
    {"supernet-batch", required_argument, 0, O_SNBATCH},
    {"final-top-k", required_argument, 0, O_TOPK},
    {"final-epochs", required_argument, 0, O_FEPOCHS},
    {"final-augment", required_argument, 0, O_FAUGMENT},
    {"study", required_argument, 0, O_STUDY},
    {"resume", required_argument, 0, O_RESUME},
    {"threads", required_argument, 0, O_THREADS},
    {"config", required_argument, 0, O_CONFIG},
    {"help", no_argument, 0, O_HELP},
    {0, 0, 0, 0},
};

/* SIGINT / SIGTERM: the first asks the job to stop (it ends its trial
 * programs and marks the study stopped, nas_search_options.stop); a second
 * ends the process at once. The one process-wide state of the command: a
 * signal handler can reach nothing else. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) {
    if (stop_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_signal = sig;
    static const char msg[] = "\nnas: stopping: ending the running trials (again to stop at once)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

/* The options --resume allows: they do not change the stored job spec (the
 * limits are its ignorable keys, nas/search/search.c). */
static int resume_allows(int code) {
    return code == O_MAXTRIALS || code == O_PARALLEL || code == O_MAXFAILED || code == O_BUDGET ||
           code == O_TIMEOUT || code == O_THREADS || code == O_RESUME || code == O_CONFIG;
}

/* Which options were given (argv or the job file), by code - O_CONTROLLER. */
typedef struct given_set {
    unsigned char on[O_HELP - O_CONTROLLER + 1];
} given_set;

/* "90", "90s", "30m", "1.5h" -> seconds; 0 on error. */
static int parse_duration(const char *flag, const char *text, double *out) {
    char *end;
    double v = strtod(text, &end);
    double mult = 1;
    if (!strcmp(end, "") || !strcmp(end, "s")) mult = 1;
    else if (!strcmp(end, "m") || !strcmp(end, "min")) mult = 60;
    else if (!strcmp(end, "h")) mult = 3600;
    else v = NAN;
    /* a digit (or ".5") first: strtod also takes " 5", "+5", "-0" and hex "0x10" */
    int digits = (isdigit((unsigned char)text[0]) || (text[0] == '.' && isdigit((unsigned char)text[1]))) &&
                 !(text[0] == '0' && (text[1] == 'x' || text[1] == 'X'));
    if (end == text || !(v >= 0) || !isfinite(v * mult) || !digits) { /* 1e306h: inf */
        cli_usage_error("search", "%s: expected a duration such as 90s, 30m or 1h, got '%s'", flag, text);
        return 0;
    }
    *out = v * mult;
    return 1;
}

static int set_int(const char *flag, const char *text, long lo, long hi, int *out) {
    long v;
    if (!cli_parse_long("search", flag, text, &v)) return 0;
    if (v < lo || v > hi) {
        cli_usage_error("search", "%s must be in %ld..%ld, got %ld", flag, lo, hi, v);
        return 0;
    }
    *out = (int)v;
    return 1;
}

/* Applies one option (from argv or the job file). Returns 1 when ok. */
static int apply(nas_search_options *o, int code, const char *flag, const char *v) {
    long l;
    double d;
    switch (code) {
    case O_CONTROLLER: o->controller = v; return 1;
    case O_SEED:
        if (!cli_parse_seed("search", flag, v, &l)) return 0;
        o->seed = (uint64_t)l;
        return 1;
    case O_EVALUATOR: o->evaluator = v; return 1;
    case O_TRIALCMD:
        if (!v[strspn(v, " \t\n")])
            return cli_usage_error("search", "%s is empty: give the command that runs a trial", flag), 0;
        o->trial_cmd = v;
        return 1;
    case O_MAXTRIALS: return set_int(flag, v, 1, 1000000, &o->max_trials);
    case O_PARALLEL: return set_int(flag, v, 1, 64, &o->parallel_trials);
    case O_MAXFAILED: return set_int(flag, v, 1, 1000000, &o->max_failed_trials);
    case O_BUDGET: return parse_duration(flag, v, &o->time_budget_s);
    case O_TIMEOUT: return parse_duration(flag, v, &o->trial_timeout_s);
    case O_OBJECTIVE:
        if (o->n_objectives == NAS_SEARCH_MAX_OBJECTIVES)
            return cli_usage_error("search", "at most %d objectives", NAS_SEARCH_MAX_OBJECTIVES), 0;
        o->objectives[o->n_objectives++] = v;
        return 1;
    case O_CONSTRAINT:
        if (o->n_constraints == NAS_SEARCH_MAX_CONSTRAINTS)
            return cli_usage_error("search", "at most %d constraints", NAS_SEARCH_MAX_CONSTRAINTS), 0;
        o->constraints[o->n_constraints++] = v;
        return 1;
    case O_REWARD: o->reward = v; return 1;
    case O_LATENCY: o->latency = v; return 1;
    case O_LATTHREADS: return set_int(flag, v, 1, 1024, &o->latency_threads);
    case O_EARLY: o->early_stop = v; return 1;
    case O_DATA: o->data = v; return 1;
    case O_PEPOCHS: return set_int(flag, v, 1, 100000, &o->proxy_epochs);
    case O_PFRAC:
        if (!cli_parse_double("search", flag, v, &d)) return 0;
        if (!(d > 0 && d <= 1)) return cli_usage_error("search", "%s must be in (0, 1], got %g", flag, d), 0;
        o->proxy_fraction = d;
        return 1;
    case O_SNEPOCHS: return set_int(flag, v, 1, 100000, &o->supernet_epochs);
    case O_SNBATCH: return set_int(flag, v, 1, 65536, &o->supernet_batch);
    case O_TOPK: return set_int(flag, v, 0, 1000, &o->final_top_k);
    case O_FEPOCHS: return set_int(flag, v, 1, 100000, &o->final_epochs);
    case O_FAUGMENT:
        if (strcmp(v, "on") && strcmp(v, "off"))
            return cli_usage_error("search", "%s must be on or off, got '%s'", flag, v), 0;
        o->final_augment = !strcmp(v, "on");
        return 1;
    case O_STUDY: o->study_dir = v; return 1;
    case O_RESUME:
        o->study_dir = v;
        o->resume = 1;
        return 1;
    case O_THREADS: return set_int(flag, v, 1, 1024, &o->threads);
    }
    return 0;
}

static int config_apply(nas_search_options *o, const char *text, size_t len, const char *path, cJSON **keep,
                        given_set *given) {
    *keep = NULL;
    nas_error perr = {0};
    cJSON *root = nas_json_parse(text, len, path, &perr);
    if (!root) { /* invalid JSON, text after it or a key twice, named */
        fprintf(stderr, "nas: error: %s\n", perr.msg);
        return 0;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        fprintf(stderr, "nas: error: %s: expected a JSON object of search options\n", path);
        return 0;
    }
    /* keep = [root, copies of numbers as strings]: both live until the end */
    cJSON *bag = cJSON_CreateArray();
    *keep = cJSON_CreateArray();
    if (!bag || !*keep || !cJSON_AddItemToArray(*keep, root)) {
        cJSON_Delete(bag);
        cJSON_Delete(root);
        return 0;
    }
    if (!cJSON_AddItemToArray(*keep, bag)) {
        cJSON_Delete(bag);
        return 0;
    }
    for (cJSON *e = root->child; e; e = e->next) {
        char flag[64];
        snprintf(flag, sizeof flag, "%s", e->string);
        for (char *p = flag; *p; p++)
            if (*p == '_') *p = '-';
        const struct option *opt = OPTS;
        while (opt->name && strcmp(opt->name, flag)) opt++;
        if (!opt->name || opt->val == O_CONFIG || opt->val == O_HELP) {
            fprintf(stderr, "nas: error: %s: unknown key '%s'\n", path, e->string);
            return 0;
        }
        if (given) given->on[opt->val - O_CONTROLLER] = 1;
        char label[96];
        snprintf(label, sizeof label, "%s: %s", path, e->string);
        if (cJSON_IsArray(e) && (opt->val == O_OBJECTIVE || opt->val == O_CONSTRAINT)) {
            for (cJSON *x = e->child; x; x = x->next) {
                if (!cJSON_IsString(x)) {
                    fprintf(stderr, "nas: error: %s: expected strings\n", label);
                    return 0;
                }
                if (!apply(o, opt->val, label, x->valuestring)) return 0;
            }
            continue;
        }
        char num[64];
        const char *v;
        if (cJSON_IsString(e)) v = e->valuestring;
        else if (cJSON_IsNumber(e)) {
            snprintf(num, sizeof num, "%.17g", e->valuedouble);
            v = num;
        } else if (cJSON_IsBool(e)) {
            v = cJSON_IsTrue(e) ? "on" : "off";
        } else {
            fprintf(stderr, "nas: error: %s: expected a string, a number or a boolean\n", label);
            return 0;
        }
        /* strings must outlive the search: numbers are copied into the tree */
        if (v == num) {
            cJSON *copy = cJSON_CreateString(num);
            if (!copy || !cJSON_AddItemToArray(bag, copy)) return 0;
            v = copy->valuestring;
        }
        if (!apply(o, opt->val, label, v)) return 0;
    }
    return 1;
}

int cli_search_config_apply(nas_search_options *o, const char *text, size_t len, const char *path, cJSON **keep) {
    return config_apply(o, text, len, path, keep, NULL);
}

/* Reads the job file: every key must be an option name (with '_' for '-'). */
static int apply_config(nas_search_options *o, const char *path, cJSON **keep, given_set *given) {
    nas_error err = {0};
    char *text;
    size_t len;
    *keep = NULL;
    if (nas_file_read(path, &text, &len, &err)) return cli_fail(&err), 0;
    int ok = config_apply(o, text, len, path, keep, given);
    free(text);
    return ok;
}

int cmd_search(int argc, char **argv, const nas_logger *lg) {
    nas_search_options o;
    nas_search_options_default(&o);
    cJSON *config = NULL;
    given_set given = {{0}};
    int rc = CLI_EXIT_USAGE;
    /* pass 1: the job file, so that flags override it */
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        if (c == 'h' || c == O_HELP) {
            search_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (c == '?' || c == ':') return cli_usage_error("search", "unknown or incomplete option '%s'", argv[optind - 1]);
        if (c == O_CONFIG && config) {
            cJSON_Delete(config);
            return cli_usage_error("search", "--config may be given once");
        }
        if (c == O_CONFIG && !apply_config(&o, optarg, &config, &given)) {
            cJSON_Delete(config);
            return CLI_EXIT_ERROR;
        }
    }
    nas_search_options fresh;
    nas_search_options_default(&fresh);
    o.n_objectives = config ? o.n_objectives : 0;
    int cli_obj = 0, cli_cons = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        if (c == O_CONFIG) continue;
        /* objectives/constraints on the command line replace the file's */
        if (c == O_OBJECTIVE && !cli_obj++) o.n_objectives = 0;
        if (c == O_CONSTRAINT && !cli_cons++) o.n_constraints = 0;
        char flag[64];
        const struct option *opt = OPTS;
        while (opt->name && opt->val != c) opt++;
        snprintf(flag, sizeof flag, "--%s", opt->name ? opt->name : "?");
        if (!apply(&o, c, flag, optarg)) goto done;
        given.on[c - O_CONTROLLER] = 1;
    }
    if (o.resume) {
        if (optind < argc) {
            rc = cli_usage_error("search", "--resume DIR takes no space file (the study has it)");
            goto done;
        }
        /* the stored job spec is the study's: an option that would change
           it is refused, not silently ignored (a job spec differing from a
           study's is refused the same way without --resume) */
        char names[512] = "";
        for (const struct option *opt = OPTS; opt->name; opt++) {
            if (opt->val == O_HELP || resume_allows(opt->val) || !given.on[opt->val - O_CONTROLLER]) continue;
            size_t at = strlen(names);
            snprintf(names + at, sizeof names - at, "%s--%s", at ? ", " : "", opt->name);
        }
        if (names[0]) {
            rc = cli_usage_error("search",
                                 "--resume DIR continues the study with its stored job spec: %s cannot be given "
                                 "with it (only --max-trials, --parallel-trials, --max-failed-trials, "
                                 "--time-budget, --trial-timeout and --threads may change on resume)",
                                 names);
            goto done;
        }
    } else {
        if (optind >= argc) {
            rc = cli_usage_error("search", "missing SPACE.nas");
            goto done;
        }
        if (optind + 1 < argc) {
            rc = cli_usage_error("search", "one space file only");
            goto done;
        }
        o.space_path = argv[optind];
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        o.self_exe = self;
    }
    o.lg = lg;
    o.progress = lg->level <= NAS_LOG_INFO;
    stop_signal = 0;
    o.stop = &stop_signal;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    nas_error err = {0};
    nas_search_summary sum;
    nas_status st = nas_search_run(&o, &sum, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (st) {
        rc = cli_fail(&err);
        if (st == NAS_ERR_INTERRUPTED && stop_signal) rc = 128 + stop_signal; /* as the signal would */
        goto done;
    }
    printf("study %s: %d complete, %d failed, %d pruned", sum.study_dir, sum.completed, sum.failed, sum.pruned);
    if (sum.best_trial >= 0) printf("; best trial %d (reward %.4f)", sum.best_trial, sum.best_value);
    printf("\n");
    rc = CLI_EXIT_OK;
done:
    cJSON_Delete(config);
    return rc;
}
