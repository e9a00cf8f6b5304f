/*
 * trial.c - the trial runner (see trial.h and docs/trial-protocol.md).
 *
 * A trial is a child process group running /bin/sh -c COMMAND. The parent
 * prepares everything before fork (argv, environment, files), so the child
 * only calls async-signal-safe functions before exec. The metrics file is
 * read incrementally: complete lines are parsed as they appear, a partial
 * last line waits for its newline (or for the program's end). Exits are
 * detected with waitid(WNOWAIT) so the group can be cleaned up while the
 * leader's zombie still holds the process group id.
 *
 * Not here: deciding which trials to run, storing results.
 */
#define _GNU_SOURCE
#include "nas/search/trial.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nas/core/fileio.h"
#include "nas/core/json.h"
#include "nas/core/log.h"

extern char **environ;

#define DEFAULT_GRACE_S 5.0
#define DEFAULT_TAIL 2048
#define POLL_INTERVAL_S 0.05

/* ---- arguments ---- */

static int needs_quotes(const char *s) {
    if (!*s) return 1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_@%+=:,./-", c)))
            return 1;
    }
    return 0;
}

/* A growing string. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int nomem;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t len) {
    if (b->nomem) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->nomem = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Appends " ARG", single-quoted when needed ('it'\''s'). */
static void sb_arg(sbuf *b, const char *arg) {
    sb_str(b, " ");
    if (!needs_quotes(arg)) {
        sb_str(b, arg);
        return;
    }
    sb_str(b, "'");
    for (const char *p = arg; *p; p++) {
        if (*p == '\'')
            sb_str(b, "'\\''");
        else
            sb_add(b, p, 1);
    }
    sb_str(b, "'");
}

nas_status nas_trial_command(const char *cmd, const nas_trial_param *params, size_t n_params,
                             const char *arch_path, char **out, nas_error *err) {
    *out = NULL;
    if (!cmd || !cmd[0]) return NAS_FAIL(err, NAS_ERR_INVALID, "trial command is empty");
    sbuf b = {0};
    sb_str(&b, cmd);
    for (size_t i = 0; i < n_params; i++) {
        const nas_trial_param *p = &params[i];
        if (!p->name || !p->name[0] || strchr(p->name, '=')) {
            free(b.p);
            return NAS_FAIL(err, NAS_ERR_INVALID, "trial parameter %zu: bad name '%s'", i,
                            p->name ? p->name : "(null)");
        }
        char num[64];
        const char *val = num;
        switch (p->kind) {
        case NAS_PARAM_INT: snprintf(num, sizeof num, "%lld", (long long)p->i); break;
        case NAS_PARAM_FLOAT:
            if (!isfinite(p->f)) {
                free(b.p);
                return NAS_FAIL(err, NAS_ERR_INVALID, "trial parameter '%s': value is not finite",
                                p->name);
            }
            snprintf(num, sizeof num, "%.17g", p->f);
            break;
        case NAS_PARAM_STR: val = p->s ? p->s : ""; break;
        }
        size_t len = strlen(p->name) + strlen(val) + 4;
        char *arg = malloc(len);
        if (!arg) {
            free(b.p);
            return NAS_FAIL(err, NAS_ERR_NOMEM, "trial command: out of memory");
        }
        snprintf(arg, len, "--%s=%s", p->name, val);
        sb_arg(&b, arg);
        free(arg);
    }
    if (arch_path) {
        size_t len = strlen(arch_path) + 8;
        char *arg = malloc(len);
        if (!arg) {
            free(b.p);
            return NAS_FAIL(err, NAS_ERR_NOMEM, "trial command: out of memory");
        }
        snprintf(arg, len, "--arch=%s", arch_path);
        sb_arg(&b, arg);
        free(arg);
    }
    if (b.nomem) {
        free(b.p);
        return NAS_FAIL(err, NAS_ERR_NOMEM, "trial command: out of memory");
    }
    *out = b.p;
    return NAS_OK;
}

/* 1 when cmd is one simple command (words only, no assignment prefix, not a
 * shell keyword or builtin), so "exec cmd ..." runs the same program as the
 * shell's only process: its exit status and signal are then the trial's own
 * rather than the shell's 128 + N. */
static int can_exec(const char *cmd) {
    static const char *const keep_shell[] = {
        "if",     "then",  "else",   "elif",   "fi",    "case",  "esac",  "for",   "while",
        "until",  "do",    "done",   "{",      "}",     "!",     "[[",    "function",
        "exit",   "return", "break", "continue", "cd",  "export", "set",  "unset", "trap",
        "eval",   "exec",  ".",      "source", "alias", "umask", "wait",  "read",  "shift",
        "times",  "ulimit", "local", "readonly", "command", "builtin", "type", "hash", NULL};
    if (strpbrk(cmd, ";&|<>()`$\n#*?[]~{}")) return 0;
    while (*cmd == ' ' || *cmd == '\t') cmd++;
    size_t n = strcspn(cmd, " \t");
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        if (cmd[i] == '\'' || cmd[i] == '"') break;
        if (cmd[i] == '=') return 0; /* VAR=value prefix */
    }
    for (int i = 0; keep_shell[i]; i++)
        if (strlen(keep_shell[i]) == n && strncmp(cmd, keep_shell[i], n) == 0) return 0;
    return 1;
}

/* ---- early stopping ---- */

nas_stop_rule nas_stop_rule_default(nas_stop_kind kind, int maximize) {
    nas_stop_rule r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.maximize = maximize;
    r.min_step = 1;
    r.min_trials = 3;
    r.eta = 3.0;
    r.min_resource = 1;
    r.max_resource = 0;
    return r;
}

static int better(const nas_stop_rule *r, double a, double b) {
    return r->maximize ? a > b : a < b;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int median_check(const nas_stop_rule *r, const nas_curve *self, const nas_curve *others,
                        size_t n_others, char *why, size_t cap) {
    int64_t s = self->steps[self->n - 1];
    if (s < r->min_step) return 0;
    double best = self->values[0];
    for (size_t i = 1; i < self->n; i++)
        if (self->steps[i] <= s && better(r, self->values[i], best)) best = self->values[i];
    double *avgs = malloc((n_others ? n_others : 1) * sizeof *avgs);
    if (!avgs) return 0;
    size_t k = 0;
    for (size_t j = 0; j < n_others; j++) {
        const nas_curve *o = &others[j];
        if (o->n == 0 || o->steps[o->n - 1] < s) continue; /* did not reach s */
        double sum = 0;
        size_t m = 0;
        for (size_t i = 0; i < o->n && o->steps[i] <= s; i++) {
            sum += o->values[i];
            m++;
        }
        if (m > 0) avgs[k++] = sum / (double)m;
    }
    int stop = 0;
    if (k > 0 && k >= (size_t)(r->min_trials > 0 ? r->min_trials : 1)) {
        qsort(avgs, k, sizeof *avgs, cmp_double);
        double med = k % 2 ? avgs[k / 2] : 0.5 * (avgs[k / 2 - 1] + avgs[k / 2]);
        if (better(r, med, best)) {
            stop = 1;
            snprintf(why, cap,
                     "median stopping rule at step %lld: best value %.6g is worse than the "
                     "median %.6g of %zu other trials' running averages",
                     (long long)s, best, med, k);
        }
    }
    free(avgs);
    return stop;
}

/* The value of a curve at a rung: its first report at a step >= rung. */
static int value_at_rung(const nas_curve *c, int64_t rung, double *v) {
    for (size_t i = 0; i < c->n; i++) {
        if (c->steps[i] >= rung) {
            *v = c->values[i];
            return 1;
        }
    }
    return 0;
}

static int asha_check(const nas_stop_rule *r, const nas_curve *self, const nas_curve *others,
                      size_t n_others, char *why, size_t cap) {
    double eta = r->eta >= 1.5 ? r->eta : 3.0;
    int64_t min_res = r->min_resource >= 1 ? r->min_resource : 1;
    int64_t s = self->steps[self->n - 1];
    int64_t prev = self->n >= 2 ? self->steps[self->n - 2] : INT64_MIN;
    /* The highest rung the latest report reached. */
    int64_t rung = -1;
    int rung_k = -1;
    double level = (double)min_res;
    for (int k = 0; k < 62; k++) {
        int64_t rk = (int64_t)llround(level);
        if (rk > s || (r->max_resource > 0 && rk >= r->max_resource)) break;
        rung = rk;
        rung_k = k;
        level *= eta;
    }
    if (rung < 0 || prev >= rung) return 0; /* no rung, or decided at an earlier report */
    double mine = self->values[self->n - 1];
    size_t reached = 0, ahead = 0;
    for (size_t j = 0; j < n_others; j++) {
        double v;
        if (!value_at_rung(&others[j], rung, &v)) continue;
        reached++;
        if (better(r, v, mine)) ahead++;
    }
    if (reached < (size_t)(r->min_trials > 0 ? r->min_trials : 0)) return 0;
    size_t n = reached + 1;
    size_t keep = (size_t)floor((double)n / eta);
    if (keep < 1) keep = 1;
    if (ahead < keep) return 0;
    snprintf(why, cap,
             "ASHA rung %d (step %lld): value %.6g ranks %zu of %zu trials; only the top %zu "
             "(1/%g) continue",
             rung_k, (long long)rung, mine, ahead + 1, n, keep, eta);
    return 1;
}

int nas_stop_check(const nas_stop_rule *rule, const nas_curve *self, const nas_curve *others,
                   size_t n_others, char *why, size_t cap) {
    if (!rule || !self || self->n == 0) return 0;
    switch (rule->kind) {
    case NAS_STOP_NONE: return 0;
    case NAS_STOP_MEDIAN: return median_check(rule, self, others, n_others, why, cap);
    case NAS_STOP_ASHA: return asha_check(rule, self, others, n_others, why, cap);
    }
    return 0;
}

/* ---- the handle ---- */

typedef enum kill_why { KILL_NONE = 0, KILL_TIMEOUT, KILL_METRICS, KILL_STOP, KILL_CANCEL } kill_why;

struct nas_trial {
    nas_trial_spec spec;
    char *dir, *objective, *metrics_path, *stderr_path;
    pid_t pid;
    int pidfd; /* -1 when pidfds are unavailable */
    int done;
    double t_start, t_kill; /* monotonic seconds; t_kill: when SIGTERM was sent */
    int sent_kill;          /* SIGKILL sent */
    int reaped;             /* the leader was reaped: never signal its pid again */
    kill_why why;
    char kill_reason[512];
    /* metrics reading */
    int mfd;
    off_t moff;
    char *line;
    size_t line_n, line_cap;
    long lineno;
    /* metric names, interned */
    char **names;
    size_t n_names, cap_names;
    size_t cap_final, cap_series;
    /* the objective's curve, for the stop rule */
    int64_t *obj_steps;
    double *obj_values;
    size_t obj_n, obj_cap;
    nas_trial_result res;
};

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static const char *intern(nas_trial *t, const char *name) {
    for (size_t i = 0; i < t->n_names; i++)
        if (strcmp(t->names[i], name) == 0) return t->names[i];
    if (t->n_names == t->cap_names) {
        size_t cap = t->cap_names ? t->cap_names * 2 : 8;
        char **q = realloc(t->names, cap * sizeof *q);
        if (!q) return NULL;
        t->names = q;
        t->cap_names = cap;
    }
    char *d = dup_str(name);
    if (!d) return NULL;
    t->names[t->n_names++] = d;
    return d;
}

/* Starts ending the program: SIGTERM to its group. The first reason wins. */
static void begin_kill(nas_trial *t, kill_why why, const char *reason) {
    if (t->done || t->why != KILL_NONE) return;
    t->why = why;
    snprintf(t->kill_reason, sizeof t->kill_reason, "%s", reason);
    t->t_kill = nas_time_now();
    if (!t->reaped) kill(-t->pid, SIGTERM);
}

void nas_trial_cancel(nas_trial *t, const char *reason) {
    if (t) begin_kill(t, KILL_CANCEL, reason ? reason : "cancelled");
}

void nas_trial_set_history(nas_trial *t, const nas_curve *history, size_t n) {
    t->spec.history = history;
    t->spec.n_history = n;
}

const nas_trial_result *nas_trial_result_get(const nas_trial *t) { return &t->res; }
int64_t nas_trial_pid(const nas_trial *t) { return t->pid; }
const char *nas_trial_dir(const nas_trial *t) { return t->dir; }

/* ---- metrics lines ---- */

/* Copies line into out, replacing the bare tokens NaN, Infinity, -Infinity
 * (and inf, nan in any case) outside strings with null. *bad receives the
 * first such token (static text) or NULL. out has room for 2 * len + 1. */
static void mask_nonfinite(const char *line, size_t len, char *out, const char **bad) {
    size_t o = 0;
    int in_str = 0;
    *bad = NULL;
    for (size_t i = 0; i < len;) {
        char c = line[i];
        if (in_str) {
            out[o++] = c;
            if (c == '\\' && i + 1 < len) {
                out[o++] = line[i + 1];
                i += 2;
                continue;
            }
            if (c == '"') in_str = 0;
            i++;
            continue;
        }
        if (c == '"') {
            in_str = 1;
            out[o++] = c;
            i++;
            continue;
        }
        int neg = c == '-' && i + 1 < len && ((line[i + 1] | 32) >= 'a' && (line[i + 1] | 32) <= 'z');
        if (neg || ((c | 32) >= 'a' && (c | 32) <= 'z')) {
            size_t j = i + (size_t)neg;
            while (j < len && (((line[j] | 32) >= 'a' && (line[j] | 32) <= 'z'))) j++;
            size_t w = j - i - (size_t)neg;
            const char *word = line + i + neg;
            const char *kind = NULL;
            if (w == 3 && strncasecmp(word, "nan", 3) == 0) kind = "NaN";
            if ((w == 3 && strncasecmp(word, "inf", 3) == 0) ||
                (w == 8 && strncasecmp(word, "infinity", 8) == 0))
                kind = neg ? "-inf" : "inf";
            if (kind) {
                if (!*bad) *bad = kind;
                memcpy(out + o, "null", 4);
                o += 4;
            } else {
                memcpy(out + o, line + i, j - i);
                o += j - i;
            }
            i = j;
            continue;
        }
        out[o++] = c;
        i++;
    }
    out[o] = '\0';
}

static int add_final(nas_trial *t, const char *name, int64_t step, double value) {
    nas_trial_result *r = &t->res;
    for (size_t i = 0; i < r->n_final; i++) {
        if (r->final[i].metric == name) {
            r->final[i].step = step;
            r->final[i].value = value;
            return 1;
        }
    }
    if (r->n_final == t->cap_final) {
        size_t cap = t->cap_final ? t->cap_final * 2 : 8;
        nas_metric_step *q = realloc(r->final, cap * sizeof *q);
        if (!q) return 0;
        r->final = q;
        t->cap_final = cap;
    }
    r->final[r->n_final++] = (nas_metric_step){name, step, value};
    return 1;
}

static int add_series(nas_trial *t, const char *name, int64_t step, double value) {
    nas_trial_result *r = &t->res;
    if (r->n_series == t->cap_series) {
        size_t cap = t->cap_series ? t->cap_series * 2 : 16;
        nas_metric_step *q = realloc(r->series, cap * sizeof *q);
        if (!q) return 0;
        r->series = q;
        t->cap_series = cap;
    }
    r->series[r->n_series++] = (nas_metric_step){name, step, value};
    return 1;
}

/* Adds an objective value to the curve (a report at an earlier or equal step
 * than the last one replaces nothing: curves stay sorted by keeping only
 * increasing steps) and applies the stop rule. */
static void objective_report(nas_trial *t, int64_t step, double value) {
    if (t->obj_n > 0 && step <= t->obj_steps[t->obj_n - 1]) {
        if (step == t->obj_steps[t->obj_n - 1]) t->obj_values[t->obj_n - 1] = value;
        return;
    }
    if (t->obj_n == t->obj_cap) {
        size_t cap = t->obj_cap ? t->obj_cap * 2 : 16;
        int64_t *s = realloc(t->obj_steps, cap * sizeof *s);
        if (!s) return;
        t->obj_steps = s;
        double *v = realloc(t->obj_values, cap * sizeof *v);
        if (!v) return;
        t->obj_values = v;
        t->obj_cap = cap;
    }
    t->obj_steps[t->obj_n] = step;
    t->obj_values[t->obj_n] = value;
    t->obj_n++;
    /* A program that already ended is not stopped: it finished. */
    if (t->spec.stop.kind == NAS_STOP_NONE || t->reaped) return;
    nas_curve self = {t->obj_n, t->obj_steps, t->obj_values};
    char why[400];
    if (nas_stop_check(&t->spec.stop, &self, t->spec.history, t->spec.n_history, why, sizeof why))
        begin_kill(t, KILL_STOP, why);
}

int nas_metric_line_parse(const char *line, size_t len, long lineno, nas_metric_line *out, char *reason,
                          size_t cap) {
    memset(out, 0, sizeof *out);
    out->step = -1;
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
    if (k == len) return 0; /* blank lines are allowed */
    char *buf = malloc(2 * len + 1); /* "NaN" -> "null" grows the text */
    if (!buf) {
        snprintf(reason, cap, "out of memory reading metrics");
        return -1;
    }
    const char *bad = NULL;
    mask_nonfinite(line, len, buf, &bad);
    char where[48];
    snprintf(where, sizeof where, "metrics line %ld", lineno);
    nas_error perr = {0};
    cJSON *j = nas_json_parse(buf, strlen(buf), where, &perr);
    free(buf);
    const cJSON *m = NULL, *v = NULL, *st = NULL;
    const char *name = NULL;
    if (!j) { /* not JSON, text after the object, or a key twice */
        /* every reason reads "metrics line N: ..." (docs/trial-protocol.md) */
        if (strstr(perr.msg, "invalid JSON")) snprintf(reason, cap, "%s: not JSON", where);
        else if (strstr(perr.msg, "text after the JSON value")) /* no column: NaN was rewritten */
            snprintf(reason, cap, "%s: text after the JSON value", where);
        else snprintf(reason, cap, "%s", perr.msg);
        goto fail;
    }
    if (!cJSON_IsObject(j)) {
        snprintf(reason, cap, "metrics line %ld: not a JSON object", lineno);
        goto fail;
    }
    m = cJSON_GetObjectItemCaseSensitive(j, "metric");
    if (!cJSON_IsString(m) || !m->valuestring[0]) {
        snprintf(reason, cap, "metrics line %ld: no \"metric\" name (a string)", lineno);
        goto fail;
    }
    name = m->valuestring;
    v = cJSON_GetObjectItemCaseSensitive(j, "value");
    if (cJSON_IsNull(v) && bad) {
        snprintf(reason, cap, "metrics line %ld: metric '%.100s' value is %s", lineno, name, bad);
        goto fail;
    }
    if (!cJSON_IsNumber(v)) {
        snprintf(reason, cap, "metrics line %ld: metric '%.100s' has no numeric \"value\"", lineno, name);
        goto fail;
    }
    if (!isfinite(v->valuedouble)) {
        snprintf(reason, cap, "metrics line %ld: metric '%.100s' value is %s", lineno, name,
                 v->valuedouble > 0 ? "inf" : v->valuedouble < 0 ? "-inf" : "NaN");
        goto fail;
    }
    st = cJSON_GetObjectItemCaseSensitive(j, "step");
    if (st && !cJSON_IsNull(st)) {
        double d = cJSON_IsNumber(st) ? st->valuedouble : -1;
        if (!cJSON_IsNumber(st) || d < 0 || d > 9e15 || d != floor(d)) {
            snprintf(reason, cap, "metrics line %ld: metric '%.100s' step must be a non-negative integer", lineno,
                     name);
            goto fail;
        }
        out->step = (int64_t)d;
    }
    out->value = v->valuedouble;
    if (!(out->name = dup_str(name))) {
        snprintf(reason, cap, "out of memory reading metrics");
        goto fail;
    }
    cJSON_Delete(j);
    return 1;
fail:
    cJSON_Delete(j);
    return -1;
}

/* Parses one line; on a protocol error starts killing the trial with the
 * reason (the first error wins) and returns 0. */
static int parse_line(nas_trial *t, const char *line, size_t len) {
    char reason[400];
    nas_metric_line ml;
    int r = nas_metric_line_parse(line, len, ++t->lineno, &ml, reason, sizeof reason);
    if (r <= 0) {
        if (r < 0) begin_kill(t, KILL_METRICS, reason);
        return r == 0;
    }
    const char *iname = intern(t, ml.name);
    free(ml.name);
    if (!iname || !add_final(t, iname, ml.step, ml.value) ||
        (ml.step >= 0 && !add_series(t, iname, ml.step, ml.value))) {
        begin_kill(t, KILL_METRICS, "out of memory reading metrics");
        return 0;
    }
    if (ml.step >= 0 && t->objective && strcmp(iname, t->objective) == 0) objective_report(t, ml.step, ml.value);
    return 1;
}

/* Reads what the program appended; at_end parses a last line without '\n'. */
static void read_metrics(nas_trial *t, int at_end) {
    if (t->mfd < 0) return;
    char chunk[65536];
    for (;;) {
        ssize_t got = pread(t->mfd, chunk, sizeof chunk, t->moff);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        t->moff += got;
        for (ssize_t i = 0; i < got; i++) {
            if (chunk[i] == '\n') {
                if (t->why != KILL_METRICS) parse_line(t, t->line ? t->line : "", t->line_n);
                t->line_n = 0;
                continue;
            }
            if (t->line_n + 1 >= t->line_cap) {
                size_t cap = t->line_cap ? t->line_cap * 2 : 256;
                char *q = realloc(t->line, cap);
                if (!q) {
                    begin_kill(t, KILL_METRICS, "out of memory reading metrics");
                    return;
                }
                t->line = q;
                t->line_cap = cap;
            }
            t->line[t->line_n++] = chunk[i];
        }
    }
    if (at_end && t->line_n > 0) {
        if (t->why != KILL_METRICS) parse_line(t, t->line, t->line_n);
        t->line_n = 0;
    }
}

/* ---- finishing ---- */

static char *read_tail(const char *path, size_t max) {
    char *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return dup_str("");
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return dup_str("");
    }
    off_t size = sb.st_size;
    size_t n = (size_t)size < max ? (size_t)size : max;
    out = malloc(n + 1);
    if (!out) {
        close(fd);
        return NULL;
    }
    ssize_t got = pread(fd, out, n, size - (off_t)n);
    close(fd);
    if (got < 0) got = 0;
    size_t len = (size_t)got, start = 0;
    /* Do not start inside a UTF-8 sequence. */
    if (n < (size_t)size)
        while (start < len && start < 4 && ((unsigned char)out[start] & 0xC0) == 0x80) start++;
    for (size_t i = start; i < len; i++)
        if (out[i] == '\0') out[i] = '?';
    memmove(out, out + start, len - start);
    out[len - start] = '\0';
    return out;
}

static void finalize(nas_trial *t, int status) {
    nas_trial_result *r = &t->res;
    read_metrics(t, 1);
    r->elapsed_s = nas_time_now() - t->t_start;
    if (WIFSIGNALED(status)) {
        r->exit_status = -1;
        r->term_signal = WTERMSIG(status);
    } else {
        r->exit_status = WEXITSTATUS(status);
        r->term_signal = 0;
    }
    r->stderr_tail = read_tail(t->stderr_path, t->spec.stderr_tail_max ? t->spec.stderr_tail_max
                                                                        : DEFAULT_TAIL);
    int reported = 0;
    for (size_t i = 0; i < r->n_final && t->objective; i++)
        if (strcmp(r->final[i].metric, t->objective) == 0) reported = 1;
    r->state = NAS_TRIAL_FAILED;
    if (t->why == KILL_STOP) {
        r->state = NAS_TRIAL_PRUNED;
        snprintf(r->reason, sizeof r->reason, "%s", t->kill_reason);
    } else if (t->why != KILL_NONE) {
        snprintf(r->reason, sizeof r->reason, "%s", t->kill_reason);
    } else if (r->term_signal) {
        const char *name = strsignal(r->term_signal);
        snprintf(r->reason, sizeof r->reason, "killed by signal %d (%s)", r->term_signal,
                 name ? name : "unknown");
    } else if (r->exit_status != 0) {
        const char *hint = r->exit_status == 127   ? " (command not found)"
                           : r->exit_status == 126 ? " (command not executable)"
                                                   : "";
        snprintf(r->reason, sizeof r->reason, "exit status %d%s", r->exit_status, hint);
    } else if (t->objective && !reported) {
        snprintf(r->reason, sizeof r->reason, "metric '%s' never reported", t->objective);
    } else {
        r->state = NAS_TRIAL_COMPLETE;
        r->reason[0] = '\0';
    }
    cJSON *obj = cJSON_CreateObject();
    for (size_t i = 0; obj && i < r->n_final; i++)
        cJSON_AddNumberToObject(obj, r->final[i].metric, r->final[i].value);
    r->metrics_json = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!r->metrics_json) r->metrics_json = dup_str("{}");
    if (t->mfd >= 0) close(t->mfd);
    t->mfd = -1;
    if (t->pidfd >= 0) close(t->pidfd);
    t->pidfd = -1;
    t->done = 1;
}

nas_status nas_trial_poll(nas_trial *t, int *done, nas_error *err) {
    *done = t->done;
    if (t->done) return NAS_OK;
    read_metrics(t, 0);
    double now = nas_time_now();
    if (t->why == KILL_NONE && t->spec.timeout_s > 0 && now - t->t_start >= t->spec.timeout_s) {
        char reason[64];
        snprintf(reason, sizeof reason, "timeout after %.1f s", t->spec.timeout_s);
        begin_kill(t, KILL_TIMEOUT, reason);
    }
    double grace = t->spec.kill_grace_s > 0 ? t->spec.kill_grace_s : DEFAULT_GRACE_S;
    if (t->why != KILL_NONE && !t->sent_kill && now - t->t_kill >= grace) {
        kill(-t->pid, SIGKILL);
        t->sent_kill = 1;
    }
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)t->pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
        if (errno == EINTR) return NAS_OK;
        return NAS_FAIL(err, NAS_ERR_INTERNAL, "trial %lld: waitid(%ld): %s",
                        (long long)t->spec.trial_id, (long)t->pid, strerror(errno));
    }
    if (info.si_pid == 0) return NAS_OK; /* still running */
    /* The leader ended; its zombie still holds the group id: clean up strays. */
    kill(-t->pid, SIGKILL);
    int status = 0;
    while (waitpid(t->pid, &status, 0) < 0) {
        if (errno != EINTR)
            return NAS_FAIL(err, NAS_ERR_INTERNAL, "trial %lld: waitpid(%ld): %s",
                            (long long)t->spec.trial_id, (long)t->pid, strerror(errno));
    }
    t->reaped = 1;
    finalize(t, status);
    *done = 1;
    return NAS_OK;
}

/* Seconds until this trial needs attention (timeout or grace end). */
static double next_deadline(const nas_trial *t, double now) {
    double d = POLL_INTERVAL_S;
    if (t->why == KILL_NONE && t->spec.timeout_s > 0) {
        double left = t->spec.timeout_s - (now - t->t_start);
        if (left < d) d = left;
    }
    if (t->why != KILL_NONE && !t->sent_kill) {
        double grace = t->spec.kill_grace_s > 0 ? t->spec.kill_grace_s : DEFAULT_GRACE_S;
        double left = grace - (now - t->t_kill);
        if (left < d) d = left;
    }
    return d < 0 ? 0 : d;
}

nas_status nas_trial_wait_any(nas_trial *const *trials, size_t n, double timeout_s, size_t *index,
                              nas_error *err) {
    double start = nas_time_now();
    *index = n;
    struct pollfd fds[64];
    for (;;) {
        for (size_t i = 0; i < n; i++) {
            int done = 0;
            nas_status s = nas_trial_poll(trials[i], &done, err);
            if (s != NAS_OK) return s;
            if (done) {
                *index = i;
                return NAS_OK;
            }
        }
        double now = nas_time_now();
        double wait = POLL_INTERVAL_S;
        if (timeout_s >= 0) {
            double left = timeout_s - (now - start);
            if (left <= 0)
                return NAS_FAIL(err, NAS_ERR_TIMEOUT, "no trial ended within %.3f s", timeout_s);
            if (left < wait) wait = left;
        }
        size_t nf = 0;
        int all_fds = 1;
        for (size_t i = 0; i < n; i++) {
            double d = next_deadline(trials[i], now);
            if (d < wait) wait = d;
            if (trials[i]->pidfd >= 0 && nf < sizeof fds / sizeof fds[0]) {
                fds[nf].fd = trials[i]->pidfd;
                fds[nf].events = POLLIN;
                fds[nf].revents = 0;
                nf++;
            } else {
                all_fds = 0;
            }
        }
        /* Without a pidfd for every trial, exits are noticed by short sleeps. */
        if (!all_fds && wait > 0.005) wait = 0.005;
        int ms = (int)ceil(wait * 1000.0);
        if (poll(fds, nf, ms) < 0 && errno != EINTR)
            return NAS_FAIL(err, NAS_ERR_INTERNAL, "waiting for trials: poll: %s",
                            strerror(errno));
    }
}

/* ---- starting ---- */

/* Builds the child's environment: the parent's minus old NAS_* trial
 * variables, plus the three of this trial. Strings in extra are owned by
 * the caller. */
static char **build_env(char *extra[3]) {
    size_t n = 0;
    for (char **e = environ; e && *e; e++) n++;
    char **env = malloc((n + 4) * sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "NAS_TRIAL_ID=", 13) == 0 || strncmp(*e, "NAS_TRIAL_DIR=", 14) == 0 ||
            strncmp(*e, "NAS_METRICS_FILE=", 17) == 0)
            continue;
        env[k++] = *e;
    }
    for (int i = 0; i < 3; i++) env[k++] = extra[i];
    env[k] = NULL;
    return env;
}

static int open_out(const char *path) {
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/* The child after fork: only async-signal-safe calls. */
static void child_exec(const char *cmdline, char **env, int in_fd, int out_fd, int err_fd,
                       uint64_t rlimit_as, const void *cpu_mask, size_t cpu_mask_bytes) {
    setpgid(0, 0);
    if (cpu_mask) sched_setaffinity(0, cpu_mask_bytes, cpu_mask); /* best effort */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    static const int sigs[] = {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &dfl, NULL);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(127);
    if (rlimit_as > 0) {
        struct rlimit rl = {(rlim_t)rlimit_as, (rlim_t)rlimit_as};
        if (setrlimit(RLIMIT_AS, &rl) != 0) {
            static const char msg[] = "nas: setrlimit(RLIMIT_AS) failed\n";
            ssize_t w = write(2, msg, sizeof msg - 1);
            (void)w;
            _exit(127);
        }
    }
    char *argv[] = {"sh", "-c", (char *)cmdline, NULL};
    execve("/bin/sh", argv, env);
    static const char msg[] = "nas: cannot execute /bin/sh\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(127);
}

void nas_trial_destroy(nas_trial *t) {
    if (!t) return;
    if (!t->done && t->pid > 0) {
        kill(-t->pid, SIGKILL);
        int status;
        while (waitpid(t->pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (t->mfd >= 0) close(t->mfd);
    if (t->pidfd >= 0) close(t->pidfd);
    free(t->dir);
    free(t->objective);
    free(t->metrics_path);
    free(t->stderr_path);
    free(t->line);
    for (size_t i = 0; i < t->n_names; i++) free(t->names[i]);
    free(t->names);
    free(t->obj_steps);
    free(t->obj_values);
    free(t->res.stderr_tail);
    free(t->res.metrics_json);
    free(t->res.final);
    free(t->res.series);
    free(t);
}

nas_status nas_trial_start(const nas_trial_spec *spec, nas_trial **out, nas_error *err) {
    nas_status s = NAS_OK;
    *out = NULL;
    char *cmdline = NULL, *arch_path = NULL, *cmd_path = NULL, *stdout_path = NULL;
    char *exec_cmd = NULL;
    char *extra[3] = {NULL, NULL, NULL};
    char **env = NULL;
    int in_fd = -1, out_fd = -1, err_fd = -1;
    if (!spec->command || !spec->command[0] || !spec->trial_dir || !spec->trial_dir[0])
        return NAS_FAIL(err, NAS_ERR_INVALID, "trial %lld: needs a command and a trial dir",
                        (long long)spec->trial_id);
    nas_trial *t = calloc(1, sizeof *t);
    if (!t) return NAS_FAIL(err, NAS_ERR_NOMEM, "trial: out of memory");
    t->spec = *spec;
    t->pid = -1;
    t->pidfd = -1;
    t->mfd = -1;
    t->res.state = NAS_TRIAL_RUNNING;
    t->spec.command = NULL; /* not kept */
    t->spec.trial_dir = NULL;
    t->spec.params = NULL;
    t->spec.arch_json = NULL;
    t->spec.objective = NULL;
    if ((s = nas_mkdir_p(spec->trial_dir, err)) != NAS_OK) goto fail;
    t->dir = realpath(spec->trial_dir, NULL);
    if (!t->dir) {
        s = NAS_FAIL(err, NAS_ERR_IO, "%s: %s", spec->trial_dir, strerror(errno));
        goto fail;
    }
    t->objective = spec->objective ? dup_str(spec->objective) : NULL;
    t->metrics_path = path_join(t->dir, "metrics.jsonl");
    t->stderr_path = path_join(t->dir, "stderr.log");
    stdout_path = path_join(t->dir, "stdout.log");
    cmd_path = path_join(t->dir, "command.txt");
    if ((spec->objective && !t->objective) || !t->metrics_path || !t->stderr_path ||
        !stdout_path || !cmd_path) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "trial: out of memory");
        goto fail;
    }
    if (spec->arch_json) {
        if (!(arch_path = path_join(t->dir, "arch.json"))) {
            s = NAS_FAIL(err, NAS_ERR_NOMEM, "trial: out of memory");
            goto fail;
        }
        s = nas_file_write_atomic(arch_path, spec->arch_json, strlen(spec->arch_json), err);
        if (s != NAS_OK) goto fail;
    }
    if (can_exec(spec->command)) {
        size_t len = strlen(spec->command) + 6;
        if (!(exec_cmd = malloc(len))) {
            s = NAS_FAIL(err, NAS_ERR_NOMEM, "trial: out of memory");
            goto fail;
        }
        snprintf(exec_cmd, len, "exec %s", spec->command);
    }
    s = nas_trial_command(exec_cmd ? exec_cmd : spec->command, spec->params, spec->n_params,
                          arch_path, &cmdline, err);
    if (s != NAS_OK) goto fail;
    if ((s = nas_file_write_atomic(cmd_path, cmdline, strlen(cmdline), err)) != NAS_OK) goto fail;
    /* A fresh, empty metrics file (a re-run starts from nothing). */
    int mfd = open(t->metrics_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (mfd < 0) {
        s = NAS_FAIL(err, NAS_ERR_IO, "%s: cannot create: %s", t->metrics_path, strerror(errno));
        goto fail;
    }
    t->mfd = mfd;
    in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    out_fd = open_out(stdout_path);
    err_fd = open_out(t->stderr_path);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
        s = NAS_FAIL(err, NAS_ERR_IO, "%s: cannot create the output files: %s", t->dir,
                     strerror(errno));
        goto fail;
    }
    size_t n0 = 32, n1 = strlen(t->dir) + 16, n2 = strlen(t->metrics_path) + 20;
    extra[0] = malloc(n0);
    extra[1] = malloc(n1);
    extra[2] = malloc(n2);
    if (!extra[0] || !extra[1] || !extra[2]) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "trial: out of memory");
        goto fail;
    }
    snprintf(extra[0], n0, "NAS_TRIAL_ID=%lld", (long long)spec->trial_id);
    snprintf(extra[1], n1, "NAS_TRIAL_DIR=%s", t->dir);
    snprintf(extra[2], n2, "NAS_METRICS_FILE=%s", t->metrics_path);
    if (!(env = build_env(extra))) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "trial: out of memory");
        goto fail;
    }
    t->t_start = nas_time_now();
    pid_t pid = fork();
    if (pid < 0) {
        s = NAS_FAIL(err, NAS_ERR_IO, "trial %lld: fork: %s", (long long)spec->trial_id,
                     strerror(errno));
        goto fail;
    }
    if (pid == 0)
        child_exec(cmdline, env, in_fd, out_fd, err_fd, spec->rlimit_as, spec->cpu_mask, spec->cpu_mask_bytes);
    t->pid = pid;
    setpgid(pid, pid); /* also in the child: whichever runs first wins the race */
#ifdef SYS_pidfd_open
    t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (t->pidfd >= 0) fcntl(t->pidfd, F_SETFD, FD_CLOEXEC);
#endif
    s = NAS_OK;
    *out = t;
    t = NULL;
fail:
    if (in_fd >= 0) close(in_fd);
    if (out_fd >= 0) close(out_fd);
    if (err_fd >= 0) close(err_fd);
    free(env);
    for (int i = 0; i < 3; i++) free(extra[i]);
    free(cmdline);
    free(exec_cmd);
    free(arch_path);
    free(cmd_path);
    free(stdout_path);
    nas_trial_destroy(t);
    return s;
}

nas_status nas_trial_run(const nas_trial_spec *spec, nas_trial **out, nas_error *err) {
    nas_trial *t = NULL;
    nas_status s = nas_trial_start(spec, &t, err);
    if (s != NAS_OK) return s;
    size_t index = 0;
    s = nas_trial_wait_any(&t, 1, -1, &index, err);
    if (s != NAS_OK) {
        nas_trial_destroy(t);
        return s;
    }
    *out = t;
    return NAS_OK;
}
