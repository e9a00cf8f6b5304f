/*
 * report.c - the study read back for people (see report.h, docs/report.md):
 * a loaded snapshot of DIR/study.db, the trials listing in three formats,
 * the export of one trial and the HTML report with its SVG charts.
 *
 * Everything is computed from the snapshot: the objective and its direction
 * come from the job spec ("objectives", "reward"), the stage-2 results from
 * the kv entries "final/<number>", and which trial DIR/best holds from
 * comparing DIR/best/metrics.json with those entries.
 *
 * Not here: writing to the store, argv parsing, training or measuring.
 */
#define _POSIX_C_SOURCE 200809L
#include "nas/search/report.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "nas/core/arch.h"
#include "nas/core/fileio.h"

#define MAX_GOALS 4

typedef struct rtrial {
    nas_trial_record r;
    cJSON *metrics;          /* final metrics object, or NULL */
    cJSON *final;            /* stage-2 metrics object, or NULL */
    char *final_text;        /* the kv value behind `final` */
    nas_metric_step *values; /* intermediate values (one malloc block) */
    size_t n_values;
    double duration;         /* finished_at - started_at, NAN when unknown */
} rtrial;

typedef struct goal {
    char metric[64];
    int maximize;
} goal;

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

struct nas_report_study {
    char *dir;
    char *spec_text;
    cJSON *spec; /* the job spec, or NULL when it does not parse */
    char *space_name, *space_hash, *space_source, *status;
    double created_at;
    double loaded_at; /* Unix time of the snapshot */
    int64_t counts[NAS_TRIAL_STATE_COUNT];
    rtrial *t;
    size_t n;
    name_list metrics; /* union of metric names, display order */
    name_list finals;  /* union of stage-2 metric names */
    goal goals[MAX_GOALS];
    int n_goals;
    goal plot;              /* the value "best" is about: an objective or "reward" */
    int64_t best_dir_trial; /* the trial DIR/best holds, -1 */
};

/* ---- small helpers ---- */

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static double unix_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int name_list_has(const name_list *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], name)) return 1;
    return 0;
}

static int name_list_add(name_list *l, const char *name) {
    if (name_list_has(l, name)) return 1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **g = realloc(l->v, cap * sizeof *g);
        if (!g) return 0;
        l->v = g;
        l->cap = cap;
    }
    if (!(l->v[l->n] = dup_str(name))) return 0;
    l->n++;
    return 1;
}

static void name_list_free(name_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Display order: the usual metrics first, then the others by name, then
 * reward. */
static const char *const KNOWN_METRICS[] = {
    "accuracy", "val_accuracy", "test_accuracy", "val_loss", "loss", "latency_ms", "p90_ms", "macs", "flops",
    "params", "memory_bytes", "train_memory_bytes", NULL};

static int metric_rank(const char *name) {
    for (int i = 0; KNOWN_METRICS[i]; i++)
        if (!strcmp(KNOWN_METRICS[i], name)) return i;
    return strcmp(name, "reward") ? 100 : 200;
}

static int metric_order(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int rx = metric_rank(x), ry = metric_rank(y);
    if (rx != ry) return rx < ry ? -1 : 1;
    return strcmp(x, y);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

typedef enum metric_kind { MK_PLAIN = 0, MK_ACC, MK_MS, MK_COUNT, MK_BYTES, MK_SECONDS } metric_kind;

static metric_kind metric_kind_of(const char *name) {
    if (strstr(name, "accuracy") || !strcmp(name, "acc") || ends_with(name, "_acc")) return MK_ACC;
    if (!strcmp(name, "latency") || ends_with(name, "_ms")) return MK_MS;
    if (!strcmp(name, "macs") || !strcmp(name, "flops") || !strcmp(name, "params") || ends_with(name, "_macs") ||
        ends_with(name, "_flops") || ends_with(name, "_params"))
        return MK_COUNT;
    if (ends_with(name, "bytes")) return MK_BYTES;
    if (!strcmp(name, "duration")) return MK_SECONDS;
    return MK_PLAIN;
}

/* 1 when smaller is better for a metric that is not an objective. */
static int metric_minimize(const char *name) {
    metric_kind k = metric_kind_of(name);
    return k == MK_MS || k == MK_COUNT || k == MK_BYTES || k == MK_SECONDS || strstr(name, "loss") ||
           strstr(name, "error");
}

/* Integers in full, else the shortest %g text that reads back as v. */
static void fmt_num(char *b, size_t cap, double v) {
    if (!isfinite(v)) {
        snprintf(b, cap, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(b, cap, "%.0f", v);
        return;
    }
    for (int p = 6; p <= 17; p++) {
        snprintf(b, cap, "%.*g", p, v);
        if (strtod(b, NULL) == v) return;
    }
}

static void fmt_count(char *b, size_t cap, double v) {
    double a = fabs(v);
    if (a >= 1e9) snprintf(b, cap, "%.1fG", v / 1e9);
    else if (a >= 1e6) snprintf(b, cap, "%.1fM", v / 1e6);
    else if (a >= 1e3) snprintf(b, cap, "%.1fK", v / 1e3);
    else snprintf(b, cap, "%.0f", v);
}

static void fmt_bytes(char *b, size_t cap, double v) {
    double a = fabs(v);
    if (a >= 1024.0 * 1024 * 1024) snprintf(b, cap, "%.2f GB", v / (1024.0 * 1024 * 1024));
    else if (a >= 1024.0 * 1024) snprintf(b, cap, "%.2f MB", v / (1024.0 * 1024));
    else if (a >= 1024.0) snprintf(b, cap, "%.1f KB", v / 1024.0);
    else snprintf(b, cap, "%.0f B", v);
}

static void fmt_seconds(char *b, size_t cap, double s) {
    if (!isfinite(s)) snprintf(b, cap, "-");
    else if (s < 10) snprintf(b, cap, "%.2fs", s);
    else if (s < 60) snprintf(b, cap, "%.1fs", s);
    else if (s < 3600) snprintf(b, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else if (s < 3600e6) snprintf(b, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else snprintf(b, cap, "%.3gh", s / 3600); /* a corrupt time: no int holds its hours */
}

/* A metric value in human units: 91.23%, 0.42 ms, 1.2M, 45.3K, 1.50 MB. */
static void fmt_metric(const char *name, double v, char *b, size_t cap) {
    if (!isfinite(v)) {
        fmt_num(b, cap, v);
        return;
    }
    switch (metric_kind_of(name)) {
    case MK_ACC:
        if (v >= 0 && v <= 1) snprintf(b, cap, "%.2f%%", 100 * v);
        else snprintf(b, cap, "%.4g", v);
        break;
    case MK_MS: snprintf(b, cap, "%.3g ms", v); break;
    case MK_COUNT: fmt_count(b, cap, v); break;
    case MK_BYTES: fmt_bytes(b, cap, v); break;
    case MK_SECONDS: fmt_seconds(b, cap, v); break;
    default: snprintf(b, cap, "%.4g", v); break;
    }
}

/* Column titles of the usual metrics. */
static const char *metric_title(const char *name) {
    static const char *const T[][2] = {{"latency_ms", "latency"},    {"p90_ms", "p90"},
                                       {"macs", "MACs"},             {"flops", "FLOPs"},
                                       {"memory_bytes", "memory"},   {"train_memory_bytes", "train mem"},
                                       {"test_accuracy", "test acc"}, {"val_accuracy", "val acc"}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(T[i][0], name)) return T[i][1];
    return name;
}

static int json_num(const cJSON *o, const char *name, double *v) {
    const cJSON *x = o ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
    if (!x && !strcmp(name, "latency")) x = o ? cJSON_GetObjectItemCaseSensitive(o, "latency_ms") : NULL;
    if (!cJSON_IsNumber(x)) return 0;
    *v = x->valuedouble;
    return 1;
}

static int trial_metric(const rtrial *t, const char *name, double *v) {
    if (!strcmp(name, "duration")) {
        *v = t->duration;
        return isfinite(t->duration);
    }
    if (!strcmp(name, "number")) {
        *v = (double)t->r.number;
        return 1;
    }
    return json_num(t->metrics, name, v);
}

/* The value "best" is about, for a complete trial. */
static int trial_goal(const nas_report_study *s, const rtrial *t, double *v) {
    return t->r.state == NAS_TRIAL_COMPLETE && trial_metric(t, s->plot.metric, v);
}

static const char *spec_string(const nas_report_study *s, const char *key) {
    const cJSON *x = s->spec ? cJSON_GetObjectItemCaseSensitive(s->spec, key) : NULL;
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* "k=v k=v" from a point JSON object (numbers to 4 significant digits,
 * integers in full); the raw text when it is not one. */
static char *point_compact(const char *point_json) {
    cJSON *p = cJSON_Parse(point_json ? point_json : "");
    if (!cJSON_IsObject(p)) {
        cJSON_Delete(p);
        return dup_str(point_json ? point_json : "");
    }
    size_t cap = 64, n = 0;
    char *out = malloc(cap);
    if (!out) goto done;
    out[0] = 0;
    for (const cJSON *c = p->child; c; c = c->next) {
        char num[40];
        char *printed = NULL;
        const char *val;
        if (cJSON_IsNumber(c)) {
            if (c->valuedouble == floor(c->valuedouble) && fabs(c->valuedouble) < 1e15)
                fmt_num(num, sizeof num, c->valuedouble);
            else
                snprintf(num, sizeof num, "%.4g", c->valuedouble);
            val = num;
        } else if (cJSON_IsString(c)) {
            val = c->valuestring;
        } else {
            printed = cJSON_PrintUnformatted(c);
            val = printed ? printed : "?";
        }
        size_t need = n + strlen(c->string ? c->string : "") + strlen(val) + 3;
        if (need > cap) {
            while (cap < need) cap *= 2;
            char *g = realloc(out, cap);
            if (!g) {
                free(out);
                cJSON_free(printed);
                out = NULL;
                goto done;
            }
            out = g;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", n ? " " : "", c->string ? c->string : "", val);
        cJSON_free(printed);
    }
done:
    cJSON_Delete(p);
    return out;
}

/* ---- loading ---- */

static void rtrial_deinit(rtrial *t) {
    nas_trial_record_deinit(&t->r);
    cJSON_Delete(t->metrics);
    cJSON_Delete(t->final);
    free(t->final_text);
    free(t->values);
}

void nas_report_study_destroy(nas_report_study *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) rtrial_deinit(&s->t[i]);
    free(s->t);
    name_list_free(&s->metrics);
    name_list_free(&s->finals);
    cJSON_Delete(s->spec);
    free(s->spec_text);
    free(s->space_name);
    free(s->space_hash);
    free(s->space_source);
    free(s->status);
    free(s->dir);
    free(s);
}

size_t nas_report_study_trial_count(const nas_report_study *s) { return s->n; }

/* Objectives from the spec ("maximize accuracy", ...); maximize accuracy
 * when the spec names none. The plotted goal is the first objective, or
 * "reward" when the spec's reward is not the plain objective and every
 * complete trial recorded one. */
static void setup_goals(nas_report_study *s) {
    const cJSON *objs = s->spec ? cJSON_GetObjectItemCaseSensitive(s->spec, "objectives") : NULL;
    const cJSON *o;
    cJSON_ArrayForEach(o, objs) {
        if (!cJSON_IsString(o) || s->n_goals == MAX_GOALS) continue;
        char dir[16] = "", metric[64] = "";
        if (sscanf(o->valuestring, "%15s %63s", dir, metric) != 2) continue;
        goal *g = &s->goals[s->n_goals];
        g->maximize = !strcmp(dir, "maximize") || !strcmp(dir, "max");
        snprintf(g->metric, sizeof g->metric, "%s", strcmp(metric, "latency") ? metric : "latency_ms");
        s->n_goals++;
    }
    if (s->n_goals == 0) {
        snprintf(s->goals[0].metric, sizeof s->goals[0].metric, "accuracy");
        s->goals[0].maximize = 1;
        s->n_goals = 1;
    }
    s->plot = s->goals[0];
    const char *reward = spec_string(s, "reward");
    if (s->n_goals == 1 && reward && strcmp(reward, "objective")) {
        int all = 1, any = 0;
        double v = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (s->t[i].r.state != NAS_TRIAL_COMPLETE) continue;
            any = 1;
            all = all && json_num(s->t[i].metrics, "reward", &v);
        }
        if (any && all) {
            snprintf(s->plot.metric, sizeof s->plot.metric, "reward");
            s->plot.maximize = 1;
        }
    }
}

static char *trim(char *t) {
    size_t n = strlen(t);
    while (n && isspace((unsigned char)t[n - 1])) t[--n] = 0;
    while (isspace((unsigned char)*t)) t++;
    return t;
}

/* Which trial's stage-2 files DIR/best holds: its metrics.json is a copy of
 * that trial's final metrics. */
static void find_best_dir_trial(nas_report_study *s) {
    s->best_dir_trial = -1;
    size_t len = strlen(s->dir) + 32;
    char *path = malloc(len);
    if (!path) return;
    snprintf(path, len, "%s/best/metrics.json", s->dir);
    char *data = NULL;
    size_t n = 0;
    if (nas_file_read(path, &data, &n, NULL) == NAS_OK) {
        char *text = trim(data);
        cJSON *best = cJSON_Parse(text);
        for (size_t i = 0; i < s->n && s->best_dir_trial < 0; i++) {
            if (!s->t[i].final_text) continue;
            char *copy = dup_str(s->t[i].final_text);
            if (copy && (!strcmp(trim(copy), text) || (best && cJSON_Compare(best, s->t[i].final, 1))))
                s->best_dir_trial = s->t[i].r.number;
            free(copy);
        }
        cJSON_Delete(best);
    }
    free(data);
    free(path);
}

static nas_status load_trial(nas_report_study *s, nas_store *st, rtrial *t, nas_error *err) {
    nas_status rc;
    char key[64];
    t->duration = NAN;
    if (t->r.finished_at > 0 && t->r.started_at > 0) t->duration = t->r.finished_at - t->r.started_at;
    if (t->r.metrics_json) {
        t->metrics = cJSON_Parse(t->r.metrics_json);
        if (!cJSON_IsObject(t->metrics))
            return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: trial %lld: metrics_json is not a JSON object", s->dir,
                            (long long)t->r.number);
    }
    snprintf(key, sizeof key, "final/%lld", (long long)t->r.number);
    if ((rc = nas_store_kv_get(st, key, &t->final_text, err))) return rc;
    if (t->final_text) {
        t->final = cJSON_Parse(t->final_text);
        if (!cJSON_IsObject(t->final))
            return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: kv '%s' is not a JSON object", s->dir, key);
    }
    if ((rc = nas_store_trial_values(st, t->r.id, NULL, &t->values, &t->n_values, err))) return rc;
    const cJSON *m;
    cJSON_ArrayForEach(m, t->metrics) {
        if (cJSON_IsNumber(m) && !name_list_add(&s->metrics, m->string))
            return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    }
    cJSON_ArrayForEach(m, t->final) {
        if (cJSON_IsNumber(m) && !name_list_add(&s->finals, m->string))
            return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    }
    return NAS_OK;
}

nas_status nas_report_study_load(const char *dir, nas_report_study **out, nas_error *err) {
    nas_status rc = NAS_OK;
    nas_store *st = NULL;
    nas_trial_record *recs = NULL;
    size_t n = 0;
    nas_report_study *s = NULL;
    *out = NULL;
    if (!is_dir(dir)) return NAS_FAIL(err, NAS_ERR_IO, "%s: no such study directory", dir);
    if (!(s = calloc(1, sizeof *s)) || !(s->dir = dup_str(dir))) {
        rc = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = nas_store_open(dir, NULL, &st, err))) goto fail;
    s->loaded_at = unix_now();
    s->created_at = nas_store_created_at(st);
    if (!(s->spec_text = dup_str(nas_store_spec_json(st))) || !(s->space_name = dup_str(nas_store_space_name(st))) ||
        !(s->space_hash = dup_str(nas_store_space_hash(st))) ||
        !(s->space_source = dup_str(nas_store_space_source(st)))) {
        rc = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    s->spec = cJSON_Parse(s->spec_text);
    if ((rc = nas_store_get_status(st, &s->status, err))) goto fail;
    /* "running" is stored when a job starts; a job killed or stopped leaves
       it there. Only a job that holds the study lock is running. */
    if (s->status && !strcmp(s->status, "running") && nas_store_lock_held(dir) == 0) {
        free(s->status);
        if (!(s->status = dup_str("stopped"))) {
            rc = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    if ((rc = nas_store_trial_list(st, 0, &recs, &n, err))) goto fail;
    if (n && !(s->t = calloc(n, sizeof *s->t))) {
        rc = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        s->t[i].r = recs[i];
        memset(&recs[i], 0, sizeof recs[i]);
        s->n++;
        s->counts[s->t[i].r.state]++;
        if ((rc = load_trial(s, st, &s->t[i], err))) goto fail;
    }
    if (s->metrics.n > 1) qsort(s->metrics.v, s->metrics.n, sizeof *s->metrics.v, metric_order);
    if (s->finals.n > 1) qsort(s->finals.v, s->finals.n, sizeof *s->finals.v, metric_order);
    setup_goals(s);
    find_best_dir_trial(s);
    nas_trial_records_free(recs, n);
    nas_store_close(st);
    *out = s;
    return NAS_OK;
fail:
    nas_trial_records_free(recs, n);
    nas_store_close(st);
    nas_report_study_destroy(s);
    return rc;
}

static const rtrial *find_trial(const nas_report_study *s, int64_t number) {
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i].r.number == number) return &s->t[i];
    return NULL;
}

/* Index of the best complete trial by the plotted goal, or -1. */
static long best_index(const nas_report_study *s) {
    long best = -1;
    double bv = 0, v;
    for (size_t i = 0; i < s->n; i++) {
        if (!trial_goal(s, &s->t[i], &v) || !isfinite(v)) continue;
        if (best < 0 || (s->plot.maximize ? v > bv : v < bv)) {
            best = (long)i;
            bv = v;
        }
    }
    return best;
}

/* front[i] = 1 for the complete trials that have every value and that no
 * other such trial dominates. NULL when out of memory. */
static unsigned char *pareto_front(const nas_report_study *s, const goal *g, int k) {
    unsigned char *front = calloc(s->n ? s->n : 1, 1);
    double *val = malloc((s->n ? s->n : 1) * (size_t)k * sizeof *val);
    unsigned char *ok = calloc(s->n ? s->n : 1, 1);
    if (!front || !val || !ok) {
        free(front);
        front = NULL;
        goto done;
    }
    for (size_t i = 0; i < s->n; i++) {
        ok[i] = s->t[i].r.state == NAS_TRIAL_COMPLETE;
        for (int j = 0; j < k && ok[i]; j++) {
            double v = 0;
            ok[i] = trial_metric(&s->t[i], g[j].metric, &v) && isfinite(v);
            val[i * (size_t)k + (size_t)j] = g[j].maximize ? v : -v;
        }
    }
    for (size_t a = 0; a < s->n; a++) {
        if (!ok[a]) continue;
        int dominated = 0;
        for (size_t b = 0; b < s->n && !dominated; b++) {
            if (b == a || !ok[b]) continue;
            int ge = 1, gt = 0;
            for (int j = 0; j < k; j++) {
                double x = val[b * (size_t)k + (size_t)j], y = val[a * (size_t)k + (size_t)j];
                ge = ge && x >= y;
                gt = gt || x > y;
            }
            dominated = ge && gt;
        }
        front[a] = !dominated;
    }
done:
    free(val);
    free(ok);
    return front;
}

/* ---- the listing ---- */

typedef struct sort_item {
    size_t index;
    int64_t number;
    double v;
    int has;
    int desc;
} sort_item;

static int sort_cmp(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    if (x->has != y->has) return x->has ? -1 : 1;
    if (x->has && x->v != y->v) return (x->v < y->v) == !x->desc ? -1 : 1;
    return x->number < y->number ? -1 : x->number > y->number;
}

/* Fills *items with the listed trials in order; *n_items receives how many. */
static nas_status select_trials(const nas_report_study *s, const nas_report_list_options *o, sort_item **items,
                                size_t *n_items, nas_error *err) {
    char key[80] = "number";
    int desc = 0, explicit_dir = 0;
    if (o->sort && *o->sort) {
        snprintf(key, sizeof key, "%s", o->sort);
        char *colon = strrchr(key, ':');
        if (colon) {
            if (!strcmp(colon + 1, "asc")) desc = 0;
            else if (!strcmp(colon + 1, "desc")) desc = 1;
            else return NAS_FAIL(err, NAS_ERR_USAGE, "--sort %s: the direction must be asc or desc", o->sort);
            explicit_dir = 1;
            *colon = 0;
        }
        if (!strcmp(key, "latency")) snprintf(key, sizeof key, "latency_ms");
        if (strcmp(key, "number") && strcmp(key, "duration") && !name_list_has(&s->metrics, key) && s->n) {
            char known[512] = "";
            size_t k = 0;
            for (size_t i = 0; i < s->metrics.n && k < sizeof known; i++)
                k += (size_t)snprintf(known + k, sizeof known - k, "%s%s", i ? ", " : "", s->metrics.v[i]);
            return NAS_FAIL(err, NAS_ERR_USAGE, "--sort %s: no trial of %s has this metric (metrics: %s%s)", o->sort,
                            s->dir, s->metrics.n ? known : "none", s->metrics.n ? ", number, duration" : "");
        }
        if (!explicit_dir && strcmp(key, "number")) {
            int minimize = metric_minimize(key);
            for (int g = 0; g < s->n_goals; g++)
                if (!strcmp(s->goals[g].metric, key)) minimize = !s->goals[g].maximize;
            desc = !minimize;
        }
    }
    sort_item *v = calloc(s->n ? s->n : 1, sizeof *v);
    if (!v) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (o->states && !(o->states & (1u << s->t[i].r.state))) continue;
        v[n].index = i;
        v[n].number = s->t[i].r.number;
        v[n].desc = desc;
        v[n].has = trial_metric(&s->t[i], key, &v[n].v) && !isnan(v[n].v);
        n++;
    }
    qsort(v, n, sizeof *v, sort_cmp);
    if (o->limit > 0 && (size_t)o->limit < n) n = (size_t)o->limit;
    *items = v;
    *n_items = n;
    return NAS_OK;
}

/* First line of a reason, at most max bytes (with "..." when cut). */
static void short_text(const char *text, size_t max, char *b, size_t cap) {
    size_t n = strcspn(text ? text : "", "\r\n");
    if (n > max) {
        snprintf(b, cap, "%.*s...", (int)(max - 3), text);
        return;
    }
    snprintf(b, cap, "%.*s", (int)n, text ? text : "");
}

typedef struct table {
    size_t rows, cols;
    char **cell; /* rows x cols, malloc'd strings; NULL prints "-" */
    const char **head;
    int *right;
} table;

static int table_set(table *t, size_t r, size_t c, const char *text) {
    return (t->cell[r * t->cols + c] = dup_str(text)) != NULL;
}

/* 0 when out of memory. */
static int table_print(const table *t, FILE *out) {
    size_t *w = calloc(t->cols, sizeof *w);
    if (!w) return 0;
    for (size_t c = 0; c < t->cols; c++) {
        w[c] = strlen(t->head[c]);
        for (size_t r = 0; r < t->rows; r++) {
            const char *x = t->cell[r * t->cols + c];
            size_t l = x ? strlen(x) : 1;
            if (l > w[c]) w[c] = l;
        }
    }
    for (size_t r = 0; r <= t->rows; r++) {
        for (size_t c = 0; c < t->cols; c++) {
            const char *x = r == 0 ? t->head[c] : t->cell[(r - 1) * t->cols + c];
            if (!x) x = "-";
            int last = c + 1 == t->cols;
            if (t->right[c]) fprintf(out, "%s%*s", c ? "  " : "", (int)w[c], x);
            else fprintf(out, "%s%-*s", c ? "  " : "", last ? 0 : (int)w[c], x);
        }
        fputc('\n', out);
    }
    free(w);
    return 1;
}

static nas_status list_table(const nas_report_study *s, const sort_item *items, size_t n, FILE *out, nas_error *err) {
    nas_status rc = NAS_OK;
    table t = {0};
    /* metric columns that some listed trial has */
    size_t nm = 0, *mcol = calloc(s->metrics.n + 1, sizeof *mcol);
    int any_test = 0, any_reason = 0;
    if (!mcol) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    for (size_t m = 0; m < s->metrics.n; m++) {
        double v = 0;
        for (size_t i = 0; i < n; i++)
            if (json_num(s->t[items[i].index].metrics, s->metrics.v[m], &v)) {
                mcol[nm++] = m;
                break;
            }
    }
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        const rtrial *tr = &s->t[items[i].index];
        any_test = any_test || json_num(tr->final, "test_accuracy", &v);
        any_reason = any_reason || tr->r.fail_reason;
    }
    t.rows = n;
    t.cols = 2 + nm + (size_t)any_test + 1 + (size_t)any_reason + 1;
    t.cell = calloc(t.rows * t.cols + 1, sizeof *t.cell);
    t.head = calloc(t.cols, sizeof *t.head);
    t.right = calloc(t.cols, sizeof *t.right);
    if (!t.cell || !t.head || !t.right) {
        rc = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    size_t c = 0;
    t.head[c] = "#", t.right[c++] = 1;
    t.head[c++] = "state";
    for (size_t m = 0; m < nm; m++) t.head[c] = metric_title(s->metrics.v[mcol[m]]), t.right[c++] = 1;
    if (any_test) t.head[c] = "test acc (stage 2)", t.right[c++] = 1;
    t.head[c] = "time", t.right[c++] = 1;
    if (any_reason) t.head[c++] = "reason";
    t.head[c++] = "point";
    for (size_t i = 0; i < n; i++) {
        const rtrial *tr = &s->t[items[i].index];
        char b[160];
        double v = 0;
        int ok = 1;
        c = 0;
        snprintf(b, sizeof b, "%lld", (long long)tr->r.number);
        ok = ok && table_set(&t, i, c++, b);
        ok = ok && table_set(&t, i, c++, nas_trial_state_name(tr->r.state));
        for (size_t m = 0; m < nm; m++, c++) {
            const char *name = s->metrics.v[mcol[m]];
            if (!json_num(tr->metrics, name, &v)) continue;
            fmt_metric(name, v, b, sizeof b);
            ok = ok && table_set(&t, i, c, b);
        }
        if (any_test) {
            if (json_num(tr->final, "test_accuracy", &v)) {
                fmt_metric("test_accuracy", v, b, sizeof b);
                ok = ok && table_set(&t, i, c, b);
            }
            c++;
        }
        if (isfinite(tr->duration)) {
            fmt_seconds(b, sizeof b, tr->duration);
            ok = ok && table_set(&t, i, c, b);
        }
        c++;
        if (any_reason) {
            short_text(tr->r.fail_reason, 48, b, sizeof b);
            ok = ok && table_set(&t, i, c++, b);
        }
        char *pc = point_compact(tr->r.point_json);
        if (pc) {
            short_text(pc, 72, b, sizeof b);
            ok = ok && table_set(&t, i, c, b);
        }
        free(pc);
        if (!ok || !pc) {
            rc = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    if (!table_print(&t, out)) {
        rc = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int64_t shown[NAS_TRIAL_STATE_COUNT] = {0};
    for (size_t i = 0; i < n; i++) shown[s->t[items[i].index].r.state]++;
    fprintf(out, "%zu of %zu trials", n, s->n);
    for (int st = 0; st < NAS_TRIAL_STATE_COUNT; st++)
        if (shown[st]) fprintf(out, ", %lld %s", (long long)shown[st], nas_trial_state_name((nas_trial_state)st));
    fputc('\n', out);
fail:
    if (t.cell)
        for (size_t k = 0; k < t.rows * t.cols; k++) free(t.cell[k]);
    free(t.cell);
    free(t.head);
    free(t.right);
    free(mcol);
    return rc;
}

static int add_num_or_null(cJSON *o, const char *k, double v, int have) {
    return (have ? cJSON_AddNumberToObject(o, k, v) : cJSON_AddNullToObject(o, k)) != NULL;
}

static int add_str_or_null(cJSON *o, const char *k, const char *v) {
    return (v ? cJSON_AddStringToObject(o, k, v) : cJSON_AddNullToObject(o, k)) != NULL;
}

/* Adds parsed JSON text under k (the raw text as a string when it does not
 * parse, null when NULL). */
static int add_json_text(cJSON *o, const char *k, const char *text) {
    if (!text) return cJSON_AddNullToObject(o, k) != NULL;
    cJSON *v = cJSON_Parse(text);
    if (!v) v = cJSON_CreateString(text);
    if (!v) return 0;
    cJSON_AddItemToObject(o, k, v);
    return 1;
}

static cJSON *trial_to_json(const nas_report_study *s, const rtrial *t) {
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "number", (double)t->r.number);
    ok = ok && cJSON_AddStringToObject(o, "state", nas_trial_state_name(t->r.state));
    ok = ok && add_json_text(o, "point", t->r.point_json);
    ok = ok && cJSON_AddStringToObject(o, "point_hash", t->r.point_hash);
    ok = ok && add_json_text(o, "metrics", t->r.metrics_json);
    ok = ok && add_json_text(o, "final", t->final_text);
    cJSON *inter = ok ? cJSON_AddObjectToObject(o, "intermediate") : NULL;
    ok = ok && inter;
    cJSON *series = NULL;
    for (size_t i = 0; ok && i < t->n_values; i++) {
        const nas_metric_step *v = &t->values[i];
        if (!series || strcmp(series->string, v->metric))
            ok = (series = cJSON_AddArrayToObject(inter, v->metric)) != NULL;
        cJSON *pair = ok ? cJSON_CreateArray() : NULL;
        ok = pair && cJSON_AddItemToArray(series, pair);
        ok = ok && cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)v->step));
        ok = ok && cJSON_AddItemToArray(pair, cJSON_CreateNumber(v->value));
    }
    ok = ok && add_str_or_null(o, "fail_reason", t->r.fail_reason);
    ok = ok && add_str_or_null(o, "stderr_tail", t->r.stderr_tail);
    ok = ok && add_str_or_null(o, "trial_dir", t->r.trial_dir);
    ok = ok && cJSON_AddNumberToObject(o, "created_at", t->r.created_at);
    ok = ok && add_num_or_null(o, "started_at", t->r.started_at, t->r.started_at > 0);
    ok = ok && add_num_or_null(o, "finished_at", t->r.finished_at, t->r.finished_at > 0);
    ok = ok && add_num_or_null(o, "duration_s", t->duration, isfinite(t->duration));
    ok = ok && cJSON_AddNumberToObject(o, "attempts", t->r.attempts);
    ok = ok && add_num_or_null(o, "worker_pid", (double)t->r.worker_pid, t->r.worker_pid != 0);
    ok = ok && cJSON_AddBoolToObject(o, "in_best_dir", t->r.number == s->best_dir_trial);
    ok = ok && add_json_text(o, "arch", t->r.arch_json);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static nas_status list_json(const nas_report_study *s, const sort_item *items, size_t n, FILE *out, nas_error *err) {
    cJSON *arr = cJSON_CreateArray();
    int ok = arr != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *o = trial_to_json(s, &s->t[items[i].index]);
        ok = o && cJSON_AddItemToArray(arr, o);
        if (!ok) cJSON_Delete(o);
    }
    char *text = ok ? cJSON_Print(arr) : NULL;
    cJSON_Delete(arr);
    if (!text) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory printing the trials as JSON");
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    return NAS_OK;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, quote, CR/LF or
 * leading/trailing space. */
static void csv_field(FILE *out, const char *text, int first) {
    if (!first) fputc(',', out);
    if (!text) return;
    size_t n = strlen(text);
    int quote = strpbrk(text, ",\"\r\n") != NULL || (n && (isspace((unsigned char)text[0]) ||
                                                           isspace((unsigned char)text[n - 1])));
    if (!quote) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    for (const char *p = text; *p; p++) {
        if (*p == '"') fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

static void csv_num(FILE *out, double v, int have) {
    char b[40];
    fmt_num(b, sizeof b, v);
    csv_field(out, have ? b : NULL, 0);
}

static nas_status list_csv(const nas_report_study *s, const sort_item *items, size_t n, FILE *out, nas_error *err) {
    csv_field(out, "number", 1);
    csv_field(out, "state", 0);
    for (size_t m = 0; m < s->metrics.n; m++) csv_field(out, s->metrics.v[m], 0);
    for (size_t m = 0; m < s->finals.n; m++) {
        char h[200];
        snprintf(h, sizeof h, "final.%s", s->finals.v[m]);
        csv_field(out, h, 0);
    }
    static const char *const TAIL[] = {"duration_s", "attempts",   "created_at", "started_at", "finished_at",
                                       "fail_reason", "point",     "point_hash", "trial_dir",  NULL};
    for (int k = 0; TAIL[k]; k++) csv_field(out, TAIL[k], 0);
    fputs("\r\n", out);
    for (size_t i = 0; i < n; i++) {
        const rtrial *t = &s->t[items[i].index];
        double v = 0;
        char b[40];
        snprintf(b, sizeof b, "%lld", (long long)t->r.number);
        csv_field(out, b, 1);
        csv_field(out, nas_trial_state_name(t->r.state), 0);
        for (size_t m = 0; m < s->metrics.n; m++) {
            int have = json_num(t->metrics, s->metrics.v[m], &v);
            csv_num(out, v, have);
        }
        for (size_t m = 0; m < s->finals.n; m++) {
            int have = json_num(t->final, s->finals.v[m], &v);
            csv_num(out, v, have);
        }
        csv_num(out, t->duration, isfinite(t->duration));
        csv_num(out, t->r.attempts, 1);
        csv_num(out, t->r.created_at, 1);
        csv_num(out, t->r.started_at, t->r.started_at > 0);
        csv_num(out, t->r.finished_at, t->r.finished_at > 0);
        csv_field(out, t->r.fail_reason, 0);
        csv_field(out, t->r.point_json, 0);
        csv_field(out, t->r.point_hash, 0);
        csv_field(out, t->r.trial_dir, 0);
        fputs("\r\n", out);
    }
    (void)err;
    return NAS_OK;
}

nas_status nas_report_trials(const nas_report_study *s, const nas_report_list_options *o, FILE *out,
                             nas_error *err) {
    sort_item *items = NULL;
    size_t n = 0;
    nas_status rc = select_trials(s, o, &items, &n, err);
    if (rc) return rc;
    switch (o->format) {
    case NAS_REPORT_JSON: rc = list_json(s, items, n, out, err); break;
    case NAS_REPORT_CSV: rc = list_csv(s, items, n, out, err); break;
    default: rc = list_table(s, items, n, out, err); break;
    }
    free(items);
    if (!rc && (fflush(out) != 0 || ferror(out)))
        rc = NAS_FAIL(err, NAS_ERR_IO, "writing the trials listing failed: %s", strerror(errno));
    return rc;
}

/* ---- export ---- */

#define OOM_FAIL                                                                                             \
    do {                                                                                                     \
        rc = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");                                                  \
        goto fail;                                                                                           \
    } while (0)

static char *path_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

static nas_status copy_file(const char *from, const char *to, nas_error *err) {
    char *data = NULL;
    size_t len = 0;
    nas_status rc = nas_file_read(from, &data, &len, err);
    if (!rc) rc = nas_file_write_atomic(to, data, len, err);
    free(data);
    return rc;
}

nas_status nas_report_export(const nas_report_study *s, int64_t number, const char *out_dir,
                             nas_report_export_result *res, nas_error *err) {
    nas_status rc = NAS_OK;
    nas_report_export_result local;
    char sub[64], *wdir = NULL, *weights = NULL, *side_arch = NULL, *arch_text = NULL, *meta = NULL, *meta_nl = NULL;
    nas_arch *a = NULL;
    cJSON *m = NULL;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    const rtrial *t = find_trial(s, number);
    if (!t) {
        if (s->n == 0) return NAS_FAIL(err, NAS_ERR_INVALID, "%s: no trial %lld (the study has no trials)", s->dir,
                                       (long long)number);
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: no trial %lld (the study has trials %lld..%lld)", s->dir,
                        (long long)number, (long long)s->t[0].r.number, (long long)s->t[s->n - 1].r.number);
    }
    if (!t->r.arch_json)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: trial %lld (%s) has no arch stored%s%s", s->dir, (long long)number,
                        nas_trial_state_name(t->r.state), t->r.fail_reason ? ": " : "",
                        t->r.fail_reason ? t->r.fail_reason : "");
    /* weights: stage 2 of this trial, or DIR/best when it holds this trial */
    snprintf(sub, sizeof sub, "final/trial-%lld", (long long)number);
    if (!(wdir = path_join(s->dir, sub))) OOM_FAIL;
    if (!(weights = path_join(wdir, "weights.nasw"))) OOM_FAIL;
    if (!nas_path_exists(weights) && number == s->best_dir_trial) {
        free(wdir);
        free(weights);
        weights = NULL;
        if (!(wdir = path_join(s->dir, "best")) || !(weights = path_join(wdir, "weights.nasw"))) OOM_FAIL;
    }
    int have_weights = nas_path_exists(weights);
    if (have_weights) {
        if (!(side_arch = path_join(wdir, "arch.json"))) OOM_FAIL;
        if (!nas_path_exists(side_arch)) {
            free(side_arch);
            side_arch = NULL;
        }
    }
    /* the arch: checked before anything is written */
    size_t alen = 0;
    if (side_arch) {
        if ((rc = nas_file_read(side_arch, &arch_text, &alen, err))) goto fail;
    } else if (!(arch_text = dup_str(t->r.arch_json))) {
        OOM_FAIL;
    }
    char source[96];
    snprintf(source, sizeof source, "trial %lld arch", (long long)number);
    if ((rc = nas_arch_from_json(arch_text, strlen(arch_text), side_arch ? side_arch : source, &a, err))) {
        if (rc != NAS_ERR_NOMEM) rc = NAS_ERR_FORMAT;
        if (err) err->code = rc;
        goto fail;
    }
    if ((rc = nas_mkdir_p(out_dir, err))) goto fail;
    snprintf(res->arch_path, sizeof res->arch_path, "%s/arch.json", out_dir);
    snprintf(res->arch_from, sizeof res->arch_from, "%s", side_arch ? side_arch : "study.db");
    if ((rc = nas_file_write_atomic(res->arch_path, arch_text, strlen(arch_text), err))) goto fail;
    char stale[4200];
    snprintf(stale, sizeof stale, "%s/weights.nasw", out_dir);
    if (have_weights) {
        snprintf(res->weights_path, sizeof res->weights_path, "%s", stale);
        snprintf(res->weights_from, sizeof res->weights_from, "%s", weights);
        if ((rc = copy_file(weights, res->weights_path, err))) goto fail;
    } else if (nas_path_exists(stale) && remove(stale) != 0) {
        /* weights of another export into the same OUT would not match this arch */
        rc = NAS_FAIL(err, NAS_ERR_IO, "%s: cannot remove the weights of an earlier export: %s", stale,
                      strerror(errno));
        goto fail;
    }
    m = cJSON_CreateObject();
    int ok = m != NULL;
    ok = ok && cJSON_AddNumberToObject(m, "trial", (double)number);
    ok = ok && cJSON_AddStringToObject(m, "state", nas_trial_state_name(t->r.state));
    ok = ok && add_json_text(m, "point", t->r.point_json);
    ok = ok && add_json_text(m, "metrics", t->r.metrics_json);
    ok = ok && add_json_text(m, "final", t->final_text);
    ok = ok && add_str_or_null(m, "weights", have_weights ? "weights.nasw" : NULL);
    ok = ok && add_str_or_null(m, "weights_from", have_weights ? weights : NULL);
    ok = ok && add_str_or_null(m, "fail_reason", t->r.fail_reason);
    if (!ok || !(meta = cJSON_Print(m))) OOM_FAIL;
    size_t ml = strlen(meta);
    if (!(meta_nl = malloc(ml + 1))) OOM_FAIL;
    memcpy(meta_nl, meta, ml);
    meta_nl[ml] = '\n';
    snprintf(res->metrics_path, sizeof res->metrics_path, "%s/metrics.json", out_dir);
    rc = nas_file_write_atomic(res->metrics_path, meta_nl, ml + 1, err);
fail:
    cJSON_Delete(m);
    cJSON_free(meta);
    free(meta_nl);
    nas_arch_destroy(a);
    free(arch_text);
    free(side_arch);
    free(weights);
    free(wdir);
    return rc;
}

/* ---- HTML ---- */

static void esc(FILE *o, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", o); break;
        case '<': fputs("&lt;", o); break;
        case '>': fputs("&gt;", o); break;
        case '"': fputs("&quot;", o); break;
        case '\'': fputs("&#39;", o); break;
        default: fputc(*s, o); break;
        }
    }
}

static void fmt_date(double t, char *b, size_t cap) {
    struct tm tm;
    if (!(t > 0 && t < 1e15)) { /* none, or corrupt: no time_t holds it */
        snprintf(b, cap, "-");
        return;
    }
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || !strftime(b, cap, "%Y-%m-%d %H:%M:%S UTC", &tm)) snprintf(b, cap, "-");
}

/* A chart axis: [lo, hi] snapped to multiples of step. */
typedef struct axis {
    double lo, hi, step;
    metric_kind kind;
} axis;

static void axis_fit(axis *a, double lo, double hi, metric_kind kind, int integer) {
    if (!(hi > lo)) {
        double d = fabs(lo) * 0.1;
        if (d == 0) d = 1;
        lo -= d;
        hi += d;
    }
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    if (integer && step < 1) step = 1;
    a->step = step;
    a->lo = floor(lo / step) * step;
    a->hi = ceil(hi / step) * step;
    if (a->hi <= a->lo) a->hi = a->lo + step;
    a->kind = kind;
}

static void axis_label(const axis *a, double v, char *b, size_t cap) {
    v = round(v / a->step) * a->step;
    if (fabs(v) < a->step * 1e-9) v = 0;
    double x = fabs(v);
    switch (a->kind) {
    case MK_ACC:
        if (a->lo >= -1e-9 && a->hi <= 1 + 1e-9) snprintf(b, cap, "%.4g%%", 100 * v);
        else snprintf(b, cap, "%.4g", v);
        break;
    case MK_COUNT:
        if (x >= 1e9) snprintf(b, cap, "%.4gG", v / 1e9);
        else if (x >= 1e6) snprintf(b, cap, "%.4gM", v / 1e6);
        else if (x >= 1e3) snprintf(b, cap, "%.4gK", v / 1e3);
        else snprintf(b, cap, "%.4g", v);
        break;
    case MK_BYTES:
        if (x >= 1024.0 * 1024) snprintf(b, cap, "%.4g MB", v / (1024.0 * 1024));
        else if (x >= 1024) snprintf(b, cap, "%.4g KB", v / 1024);
        else snprintf(b, cap, "%.4g B", v);
        break;
    case MK_SECONDS: snprintf(b, cap, "%.4gs", v); break;
    default: snprintf(b, cap, "%.4g", v); break;
    }
}

enum { CH_W = 560, CH_H = 320, CH_L = 70, CH_R = 16, CH_T = 30, CH_B = 46 };

typedef struct chart {
    FILE *o;
    axis x, y;
    int legend; /* legend entries drawn so far */
} chart;

static double cxp(const chart *c, double v) {
    return CH_L + (v - c->x.lo) / (c->x.hi - c->x.lo) * (CH_W - CH_L - CH_R);
}

static double cyp(const chart *c, double v) {
    return CH_T + (CH_H - CH_T - CH_B) - (v - c->y.lo) / (c->y.hi - c->y.lo) * (CH_H - CH_T - CH_B);
}

static void chart_begin(chart *c, const char *id, const char *title, const char *xt, const char *yt) {
    FILE *o = c->o;
    char b[64];
    fprintf(o, "<figure class=\"chart\" id=\"%s\"><figcaption>", id);
    esc(o, title);
    fprintf(o, "</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" role=\"img\" "
               "aria-label=\"", CH_W, CH_H);
    esc(o, title);
    fprintf(o, "\">\n<rect class=\"bg\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", CH_L, CH_T,
            CH_W - CH_L - CH_R, CH_H - CH_T - CH_B);
    for (int i = 0; i <= 200; i++) {
        double v = c->x.lo + i * c->x.step;
        if (v > c->x.hi + c->x.step * 1e-6) break;
        double px = cxp(c, v);
        axis_label(&c->x, v, b, sizeof b);
        fprintf(o, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                   "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                px, CH_T, px, CH_H - CH_B, px, CH_H - CH_B + 16, b);
    }
    for (int i = 0; i <= 200; i++) {
        double v = c->y.lo + i * c->y.step;
        if (v > c->y.hi + c->y.step * 1e-6) break;
        double py = cyp(c, v);
        axis_label(&c->y, v, b, sizeof b);
        fprintf(o, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                   "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                CH_L, py, CH_W - CH_R, py, CH_L - 6, py + 4, b);
    }
    fprintf(o, "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">", CH_L + (CH_W - CH_L - CH_R) / 2,
            CH_H - 8);
    esc(o, xt);
    fprintf(o, "</text>\n<text class=\"axis\" transform=\"translate(16 %d) rotate(-90)\" text-anchor=\"middle\">",
            CH_T + (CH_H - CH_T - CH_B) / 2);
    esc(o, yt);
    fputs("</text>\n", o);
}

static void chart_legend(chart *c, const char *cls, const char *shape, const char *label) {
    double x = CH_L + 8 + c->legend * 150, y = 16;
    if (!strcmp(shape, "line"))
        fprintf(c->o, "<line class=\"%s\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\"/>", cls, x - 6, y - 4, x + 6,
                y - 4);
    else if (!strcmp(shape, "rect"))
        fprintf(c->o, "<rect class=\"%s\" x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\"/>", cls, x - 5, y - 9);
    else
        fprintf(c->o, "<circle class=\"%s\" cx=\"%.0f\" cy=\"%.0f\" r=\"4.5\"/>", cls, x, y - 4);
    fprintf(c->o, "<text class=\"legend\" x=\"%.0f\" y=\"%.0f\">", x + 12, y);
    esc(c->o, label);
    fputs("</text>\n", c->o);
    c->legend++;
}

static void chart_end(chart *c, const char *note) {
    fputs("</svg>", c->o);
    if (note) {
        fputs("<p class=\"note\">", c->o);
        esc(c->o, note);
        fputs("</p>", c->o);
    }
    fputs("</figure>\n", c->o);
}

static void chart_empty(FILE *o, const char *title, const char *why) {
    fputs("<figure class=\"chart empty\"><figcaption>", o);
    esc(o, title);
    fputs("</figcaption><p class=\"note\">", o);
    esc(o, why);
    fputs("</p></figure>\n", o);
}

static void point_tooltip(FILE *o, const rtrial *t, const char *a, double av, const char *b, double bv) {
    char x[64], y[64];
    fmt_metric(a, av, x, sizeof x);
    fmt_metric(b, bv, y, sizeof y);
    fprintf(o, "<title>trial %lld: ", (long long)t->r.number);
    esc(o, a);
    fprintf(o, " %s, ", x);
    esc(o, b);
    fprintf(o, " %s</title>", y);
}

/* Objective (or reward) of every complete trial and the best so far. */
static void chart_progress(const nas_report_study *s, FILE *o) {
    char title[160];
    snprintf(title, sizeof title, "Best %s so far (%s)", s->plot.metric, s->plot.maximize ? "maximize" : "minimize");
    double lo = INFINITY, hi = -INFINITY, v;
    int64_t last = 0;
    size_t npts = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->t[i].r.number > last) last = s->t[i].r.number;
        if (!trial_goal(s, &s->t[i], &v) || !isfinite(v)) continue;
        lo = fmin(lo, v);
        hi = fmax(hi, v);
        npts++;
    }
    if (!npts) {
        chart_empty(o, title, "No complete trial reported the objective yet.");
        return;
    }
    chart c = {.o = o};
    axis_fit(&c.x, 0, (double)(last > 0 ? last : 1), MK_PLAIN, 1);
    c.x.hi = (double)last + 0.5;
    axis_fit(&c.y, lo, hi, metric_kind_of(s->plot.metric), 0);
    chart_begin(&c, "chart-progress", title, "trial number", s->plot.metric);
    long best = best_index(s);
    int have = 0;
    double bv = 0;
    fputs("<path class=\"bestline\" d=\"", o);
    for (size_t i = 0; i < s->n; i++) {
        if (!trial_goal(s, &s->t[i], &v) || !isfinite(v)) continue;
        double px = cxp(&c, (double)s->t[i].r.number);
        if (!have) fprintf(o, "M%.1f %.1f", px, cyp(&c, v));
        else fprintf(o, " H%.1f", px);
        if (!have || (s->plot.maximize ? v > bv : v < bv)) {
            bv = v;
            fprintf(o, " V%.1f", cyp(&c, bv));
        }
        have = 1;
    }
    fprintf(o, " H%.1f\"/>\n", cxp(&c, (double)last));
    for (size_t i = 0; i < s->n; i++) {
        if (!trial_goal(s, &s->t[i], &v) || !isfinite(v)) continue;
        fprintf(o, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\">", (long)i == best ? "pt best" : "pt",
                cxp(&c, (double)s->t[i].r.number), cyp(&c, v), (long)i == best ? "6" : "3.5");
        point_tooltip(o, &s->t[i], "trial", (double)s->t[i].r.number, s->plot.metric, v);
        fputs("</circle>\n", o);
    }
    chart_legend(&c, "pt", "circle", "complete trial");
    chart_legend(&c, "bestline", "line", "best so far");
    chart_legend(&c, "pt best", "circle", "best trial");
    chart_end(&c, NULL);
}

/* A complete trial's cost x and accuracy y, both finite. */
static int tradeoff_xy(const rtrial *t, const char *cost, double *x, double *y) {
    return t->r.state == NAS_TRIAL_COMPLETE && json_num(t->metrics, "accuracy", y) && json_num(t->metrics, cost, x) &&
           isfinite(*x) && isfinite(*y);
}

/* accuracy (maximize) against a cost (minimize), the Pareto front drawn. */
static void chart_tradeoff(const nas_report_study *s, FILE *o, const char *id, const char *cost, const char *title) {
    goal g[2];
    snprintf(g[0].metric, sizeof g[0].metric, "accuracy");
    g[0].maximize = 1;
    snprintf(g[1].metric, sizeof g[1].metric, "%s", cost);
    g[1].maximize = 0;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY, x, y;
    size_t npts = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!tradeoff_xy(&s->t[i], cost, &x, &y)) continue;
        xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
        npts++;
    }
    if (!npts) {
        char why[160];
        snprintf(why, sizeof why, "No complete trial reported both accuracy and %s.", cost);
        chart_empty(o, title, why);
        return;
    }
    unsigned char *front = pareto_front(s, g, 2);
    if (!front) {
        chart_empty(o, title, "Out of memory drawing this chart.");
        return;
    }
    chart c = {.o = o};
    axis_fit(&c.x, xlo, xhi, metric_kind_of(cost), 0);
    axis_fit(&c.y, ylo, yhi, MK_ACC, 0);
    char xt[96];
    snprintf(xt, sizeof xt, "%s%s", metric_title(cost), metric_kind_of(cost) == MK_MS ? " (ms)" : "");
    chart_begin(&c, id, title, xt, "accuracy");
    /* the front as a staircase, by increasing cost */
    fputs("<path class=\"frontline\" d=\"", o);
    double px = -INFINITY;
    int first = 1;
    for (;;) {
        long next = -1;
        double nx = INFINITY;
        for (size_t i = 0; i < s->n; i++) {
            if (!front[i]) continue;
            json_num(s->t[i].metrics, cost, &x);
            if (x > px && x < nx) nx = x, next = (long)i;
        }
        if (next < 0) break;
        json_num(s->t[next].metrics, "accuracy", &y);
        if (first) fprintf(o, "M%.1f %.1f", cxp(&c, nx), cyp(&c, y));
        else fprintf(o, " H%.1f V%.1f", cxp(&c, nx), cyp(&c, y));
        first = 0;
        px = nx;
    }
    fputs("\"/>\n", o);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < s->n; i++) {
            const rtrial *t = &s->t[i];
            if (front[i] != pass || !tradeoff_xy(t, cost, &x, &y)) continue;
            fprintf(o, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\">", pass ? "front" : "pt", cxp(&c, x),
                    cyp(&c, y), pass ? "5" : "3.5");
            point_tooltip(o, t, cost, x, "accuracy", y);
            fputs("</circle>\n", o);
        }
    }
    chart_legend(&c, "pt", "circle", "trial");
    chart_legend(&c, "front", "circle", "Pareto front");
    chart_end(&c, NULL);
    free(front);
}

static const char *state_class(nas_trial_state st) { return nas_trial_state_name(st); }

static void chart_durations(const nas_report_study *s, FILE *o) {
    const char *title = "Trial durations";
    double hi = 0;
    int64_t last = 0;
    size_t npts = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->t[i].r.number > last) last = s->t[i].r.number;
        if (!isfinite(s->t[i].duration)) continue;
        hi = fmax(hi, s->t[i].duration);
        npts++;
    }
    if (!npts) {
        chart_empty(o, title, "No trial has finished yet.");
        return;
    }
    chart c = {.o = o};
    axis_fit(&c.x, 0, (double)(last > 0 ? last : 1), MK_PLAIN, 1);
    c.x.lo = -0.5;
    c.x.hi = (double)last + 0.5;
    axis_fit(&c.y, 0, hi > 0 ? hi : 1, MK_SECONDS, 0);
    chart_begin(&c, "chart-durations", title, "trial number", "seconds");
    double bw = (CH_W - CH_L - CH_R) / (c.x.hi - c.x.lo) * 0.8;
    if (bw < 1) bw = 1;
    for (size_t i = 0; i < s->n; i++) {
        const rtrial *t = &s->t[i];
        if (!isfinite(t->duration)) continue;
        double d = fmax(t->duration, 0), top = cyp(&c, d), base = cyp(&c, 0);
        char b[40];
        fmt_seconds(b, sizeof b, d);
        fprintf(o,
                "<rect class=\"bar %s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
                "<title>trial %lld (%s): %s</title></rect>\n",
                state_class(t->r.state), cxp(&c, (double)t->r.number) - bw / 2, top, bw, fmax(base - top, 0.5),
                (long long)t->r.number, nas_trial_state_name(t->r.state), b);
    }
    chart_legend(&c, "bar complete", "rect", "complete");
    chart_legend(&c, "bar failed", "rect", "failed");
    chart_legend(&c, "bar pruned", "rect", "pruned");
    chart_end(&c, NULL);
}

static const char CSS[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2330;background:#f5f6f8;"
    "margin:0}\n"
    "main{max-width:1200px;margin:0 auto;padding:24px}\n"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #d8dce3;"
    "padding-bottom:4px}h3{font-size:16px;margin:0 0 8px}\n"
    ".sub{color:#5b6475;margin:0}\n"
    ".card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:14px 18px;margin:10px 0}\n"
    "dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}dl.kv dt{color:#5b6475}"
    "dl.kv dd{margin:0}\n"
    ".metrics{display:flex;flex-wrap:wrap;gap:10px}.metric{background:#f0f3f8;border-radius:6px;padding:6px 12px;"
    "min-width:110px}.metric .v{font-size:18px;font-weight:600}.metric .k{color:#5b6475;font-size:12px}\n"
    ".badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;margin-right:4px;color:#fff}\n"
    ".badge.complete{background:#3a7d44}.badge.failed{background:#c0392b}.badge.pruned{background:#c88a04}"
    ".badge.running{background:#2e6fb7}.badge.pending{background:#7b8494}.badge.status{background:#4a5160}\n"
    "table{border-collapse:collapse;background:#fff;font-size:13px}th,td{padding:4px 9px;border-bottom:1px solid "
    "#e6e9ee;text-align:left;vertical-align:top}th{background:#eef1f5;position:sticky;top:0;white-space:nowrap}"
    "td.pt{min-width:340px}td.why{min-width:220px}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "tr.failed td{background:#fdf0ef}tr.pruned td{background:#fdf7e6}tr.running td,tr.pending td{color:#5b6475}"
    "tr.best td{background:#e7f4e9;font-weight:600}\n"
    ".scroll{overflow-x:auto;max-height:720px;overflow-y:auto;border:1px solid #dde1e8;border-radius:6px}\n"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px}\n"
    "figure.chart{background:#fff;border:1px solid #dde1e8;border-radius:8px;margin:0;padding:10px}"
    "figcaption{font-weight:600;margin-bottom:4px}svg{width:100%;height:auto;display:block}\n"
    "svg .bg{fill:#fbfcfd;stroke:#c9ced8}svg .grid{stroke:#e3e6ec}svg text{font:11px system-ui,sans-serif;"
    "fill:#4a5160}svg .axis{font-size:12px;fill:#1d2330}svg .legend{font-size:11px}\n"
    "svg .pt{fill:#4c78a8;fill-opacity:.65}svg .best{fill:#3a7d44;fill-opacity:1;stroke:#1d2330;stroke-width:1.5}"
    "svg .front{fill:#e4572e;stroke:#7a2412;stroke-width:1}\n"
    "svg .bestline{fill:none;stroke:#3a7d44;stroke-width:2}svg .frontline{fill:none;stroke:#e4572e;stroke-width:1.5;"
    "stroke-dasharray:4 3}\n"
    "svg .bar.complete{fill:#4c78a8}svg .bar.failed{fill:#c0392b}svg .bar.pruned{fill:#e0a526}"
    "svg .bar.running,svg .bar.pending{fill:#9aa3b2}\n"
    ".note{color:#5b6475;font-size:12px;margin:6px 0 0}\n"
    "pre{background:#1e2430;color:#e6e9ef;padding:10px;border-radius:6px;overflow-x:auto;font-size:12px;"
    "white-space:pre-wrap}\n"
    "code{background:#eef1f5;padding:1px 5px;border-radius:4px}details{margin:6px 0}summary{cursor:pointer}\n"
    "footer{color:#7b8494;font-size:12px;margin-top:30px}\n";

static void kv_row(FILE *o, const char *k, const char *v) {
    fputs("<dt>", o);
    esc(o, k);
    fputs("</dt><dd>", o);
    esc(o, v ? v : "-");
    fputs("</dd>\n", o);
}

static void spec_list(const nas_report_study *s, const char *key, char *b, size_t cap) {
    const cJSON *a = s->spec ? cJSON_GetObjectItemCaseSensitive(s->spec, key) : NULL, *x;
    size_t n = 0;
    b[0] = 0;
    cJSON_ArrayForEach(x, a) {
        if (cJSON_IsString(x) && n < cap) n += (size_t)snprintf(b + n, cap - n, "%s%s", n ? "; " : "", x->valuestring);
    }
    if (!b[0]) snprintf(b, cap, "none");
}

static void spec_number(const nas_report_study *s, const char *key, char *b, size_t cap) {
    const cJSON *x = s->spec ? cJSON_GetObjectItemCaseSensitive(s->spec, key) : NULL;
    if (cJSON_IsNumber(x)) fmt_num(b, cap, x->valuedouble);
    else snprintf(b, cap, "-");
}

static void html_summary(const nas_report_study *s, FILE *o) {
    char b[1024], c[256];
    fputs("<section id=\"summary\"><h2>Summary</h2><div class=\"card\"><dl class=\"kv\">\n", o);
    snprintf(b, sizeof b, "%s (hash %s)", s->space_name, s->space_hash[0] ? s->space_hash : "-");
    kv_row(o, "Search space", b);
    kv_row(o, "Controller", spec_string(s, "controller"));
    spec_number(s, "seed", c, sizeof c);
    kv_row(o, "Seed", c);
    kv_row(o, "Evaluator", spec_string(s, "evaluator"));
    if (spec_string(s, "trial_cmd")) kv_row(o, "Trial program", spec_string(s, "trial_cmd"));
    kv_row(o, "Data", spec_string(s, "data"));
    spec_list(s, "objectives", b, sizeof b);
    kv_row(o, "Objectives", b);
    spec_list(s, "constraints", b, sizeof b);
    kv_row(o, "Constraints", b);
    kv_row(o, "Reward", spec_string(s, "reward"));
    spec_number(s, "max_trials", c, sizeof c);
    kv_row(o, "Max trials", c);
    fputs("<dt>Trials</dt><dd>", o);
    fprintf(o, "%zu: ", s->n);
    for (int st = 0; st < NAS_TRIAL_STATE_COUNT; st++) {
        const char *name = nas_trial_state_name((nas_trial_state)st);
        fprintf(o, "<span class=\"badge %s\">%lld %s</span>", name, (long long)s->counts[st], name);
    }
    fputs("</dd>\n<dt>Status</dt><dd><span class=\"badge status\">", o);
    esc(o, s->status ? s->status : "-");
    fputs("</span></dd>\n", o);
    fmt_date(s->created_at, c, sizeof c);
    kv_row(o, "Started", c);
    double end = 0, busy = 0;
    for (size_t i = 0; i < s->n; i++) {
        end = fmax(end, fmax(s->t[i].r.finished_at, s->t[i].r.started_at));
        if (isfinite(s->t[i].duration)) busy += s->t[i].duration;
    }
    int running = s->status && !strcmp(s->status, "running");
    if (running) end = s->loaded_at;
    if (end > s->created_at) {
        fmt_seconds(c, sizeof c, end - s->created_at);
        snprintf(b, sizeof b, "%s%s (to the last trial event)", c, running ? " so far" : "");
        kv_row(o, "Wall time", b);
    } else {
        kv_row(o, "Wall time", "-");
    }
    fmt_seconds(c, sizeof c, busy);
    kv_row(o, "Trial time (sum)", c);
    kv_row(o, "Study directory", s->dir);
    fputs("</dl></div></section>\n", o);
}

static void metric_tiles(FILE *o, const cJSON *m) {
    const cJSON *x;
    fputs("<div class=\"metrics\">", o);
    cJSON_ArrayForEach(x, m) {
        if (!cJSON_IsNumber(x)) continue;
        char b[64];
        fmt_metric(x->string, x->valuedouble, b, sizeof b);
        fputs("<div class=\"metric\"><div class=\"v\">", o);
        esc(o, b);
        fputs("</div><div class=\"k\">", o);
        esc(o, x->string);
        fputs("</div></div>", o);
    }
    fputs("</div>\n", o);
}

static void html_point(FILE *o, const rtrial *t) {
    char *pc = point_compact(t->r.point_json);
    fputs("<p><b>Point:</b> <code>", o);
    esc(o, pc ? pc : t->r.point_json);
    fputs("</code></p>\n", o);
    free(pc);
}

/* The model DIR/best holds (stage 2's pick), unless it is trial `shown`. */
static void html_final_model(const nas_report_study *s, FILE *o, int64_t shown) {
    const rtrial *t = s->best_dir_trial >= 0 ? find_trial(s, s->best_dir_trial) : NULL;
    if (!t || t->r.number == shown || !t->final) return;
    fprintf(o, "<div class=\"card\"><h3>Final model: trial %lld</h3><p>Stage 2 picked it (best validation accuracy "
               "after retraining); <code>", (long long)t->r.number);
    esc(o, s->dir);
    fputs("/best/</code> holds its arch.json, weights and metrics.</p>\n<h3>Stage 2 (retrained from scratch; test "
          "split)</h3>\n", o);
    metric_tiles(o, t->final);
    if (t->metrics) {
        fputs("<h3 style=\"margin-top:12px\">Search metrics</h3>\n", o);
        metric_tiles(o, t->metrics);
    }
    html_point(o, t);
    fputs("</div>\n", o);
}

/* Multi-objective: the Pareto front over every objective, best first by the
 * first objective. */
static void html_front(const nas_report_study *s, FILE *o) {
    fputs("<section id=\"best\"><h2>Pareto front</h2>\n", o);
    unsigned char *front = pareto_front(s, s->goals, s->n_goals);
    sort_item *rows = calloc(s->n ? s->n : 1, sizeof *rows);
    size_t nf = 0;
    for (size_t i = 0; front && rows && i < s->n; i++) {
        if (!front[i]) continue;
        rows[nf].index = i;
        rows[nf].number = s->t[i].r.number;
        rows[nf].has = trial_metric(&s->t[i], s->goals[0].metric, &rows[nf].v);
        rows[nf].desc = s->goals[0].maximize;
        nf++;
    }
    if (!nf) {
        fputs("<p>No complete trial reported every objective yet.</p>\n", o);
        goto done;
    }
    qsort(rows, nf, sizeof *rows, sort_cmp);
    fprintf(o, "<p>%zu trial%s that no other trial beats on every objective (", nf, nf == 1 ? "" : "s");
    for (int g = 0; g < s->n_goals; g++) {
        fprintf(o, "%s%s ", g ? ", " : "", s->goals[g].maximize ? "maximize" : "minimize");
        esc(o, s->goals[g].metric);
    }
    fputs(").</p>\n<div class=\"scroll\"><table><tr><th>#</th>", o);
    for (size_t m = 0; m < s->metrics.n; m++) {
        fputs("<th>", o);
        esc(o, metric_title(s->metrics.v[m]));
        fputs("</th>", o);
    }
    fputs("<th>test acc (stage 2)</th><th>point</th></tr>\n", o);
    for (size_t r = 0; r < nf; r++) {
        const rtrial *t = &s->t[rows[r].index];
        char b[64];
        double v = 0;
        fprintf(o, "<tr><td class=\"n\">%lld</td>", (long long)t->r.number);
        for (size_t m = 0; m < s->metrics.n; m++) {
            if (json_num(t->metrics, s->metrics.v[m], &v)) fmt_metric(s->metrics.v[m], v, b, sizeof b);
            else snprintf(b, sizeof b, "-");
            fprintf(o, "<td class=\"n\">%s</td>", b);
        }
        if (json_num(t->final, "test_accuracy", &v)) fmt_metric("test_accuracy", v, b, sizeof b);
        else snprintf(b, sizeof b, "-");
        fprintf(o, "<td class=\"n\">%s</td><td class=\"pt\"><code>", b);
        char *pc = point_compact(t->r.point_json);
        esc(o, pc ? pc : "");
        free(pc);
        fputs("</code></td></tr>\n", o);
    }
    fputs("</table></div>\n", o);
done:
    html_final_model(s, o, -1);
    fputs("</section>\n", o);
    free(rows);
    free(front);
}

static void html_best(const nas_report_study *s, FILE *o) {
    if (s->n_goals > 1) {
        html_front(s, o);
        return;
    }
    fputs("<section id=\"best\"><h2>Best trial</h2>\n", o);
    long bi = best_index(s);
    if (bi < 0) {
        fputs("<p>No complete trial yet.</p></section>\n", o);
        return;
    }
    const rtrial *t = &s->t[bi];
    double v = 0;
    char b[64];
    trial_goal(s, t, &v);
    fmt_metric(s->plot.metric, v, b, sizeof b);
    fprintf(o, "<div class=\"card\"><h3>Trial %lld</h3><p>", (long long)t->r.number);
    esc(o, s->plot.metric);
    fprintf(o, " <b>%s</b> (%s", b, s->plot.maximize ? "maximize" : "minimize");
    if (strcmp(s->plot.metric, s->goals[0].metric)) {
        fputs("; objective ", o);
        esc(o, s->goals[0].metric);
    }
    fputs(")</p>\n<h3>Search metrics</h3>\n", o);
    metric_tiles(o, t->metrics);
    if (t->final) {
        fputs("<h3 style=\"margin-top:12px\">Stage 2 (retrained from scratch; test split)</h3>\n", o);
        metric_tiles(o, t->final);
    }
    html_point(o, t);
    fputs("<p class=\"note\">", o);
    if (t->r.number == s->best_dir_trial) {
        fputs("This is the final model in <code>", o);
        esc(o, s->dir);
        fputs("/best/</code>. ", o);
    }
    fputs("Export it with <code>nas export ", o);
    esc(o, s->dir);
    fprintf(o, " --trial %lld -o OUT</code>.</p></div>\n", (long long)t->r.number);
    html_final_model(s, o, t->r.number);
    fputs("</section>\n", o);
}

static void html_stage2(const nas_report_study *s, FILE *o) {
    size_t nf = 0;
    for (size_t i = 0; i < s->n; i++) nf += s->t[i].final != NULL;
    if (!nf) return;
    fputs("<section id=\"stage2\"><h2>Stage 2: retrained from scratch</h2>\n", o);
    fprintf(o, "<p>%zu trial%s retrained with the final settings and evaluated on the test split.", nf,
            nf == 1 ? "" : "s");
    if (s->best_dir_trial >= 0) {
        fputs(" <code>", o);
        esc(o, s->dir);
        fprintf(o, "/best/</code> holds trial %lld.", (long long)s->best_dir_trial);
    }
    fputs("</p>\n<div class=\"scroll\"><table><tr><th>#</th>", o);
    for (size_t m = 0; m < s->finals.n; m++) {
        fputs("<th>", o);
        esc(o, metric_title(s->finals.v[m]));
        fputs("</th>", o);
    }
    fputs("</tr>\n", o);
    for (size_t i = 0; i < s->n; i++) {
        const rtrial *t = &s->t[i];
        if (!t->final) continue;
        int isbest = t->r.number == s->best_dir_trial;
        fprintf(o, "<tr%s><td class=\"n\">%lld%s</td>", isbest ? " class=\"best\"" : "", (long long)t->r.number,
                isbest ? " (best/)" : "");
        for (size_t m = 0; m < s->finals.n; m++) {
            char b[64];
            double v = 0;
            if (json_num(t->final, s->finals.v[m], &v)) fmt_metric(s->finals.v[m], v, b, sizeof b);
            else snprintf(b, sizeof b, "-");
            fprintf(o, "<td class=\"n\">%s</td>", b);
        }
        fputs("</tr>\n", o);
    }
    fputs("</table></div></section>\n", o);
}

static void html_trials(const nas_report_study *s, FILE *o) {
    long bi = s->n_goals == 1 ? best_index(s) : -1;
    int any_final = s->finals.n > 0;
    fputs("<section id=\"trials\"><h2>All trials</h2>\n", o);
    if (!s->n) {
        fputs("<p>No trials yet.</p></section>\n", o);
        return;
    }
    fputs("<div class=\"scroll\"><table><tr><th>#</th><th>state</th>", o);
    for (size_t m = 0; m < s->metrics.n; m++) {
        fputs("<th>", o);
        esc(o, metric_title(s->metrics.v[m]));
        fputs("</th>", o);
    }
    if (any_final) fputs("<th>test acc (stage 2)</th>", o);
    fputs("<th>time</th><th>reason</th><th>point</th></tr>\n", o);
    for (size_t i = 0; i < s->n; i++) {
        const rtrial *t = &s->t[i];
        char b[160];
        double v = 0;
        fprintf(o, "<tr class=\"%s%s\"><td class=\"n\">%lld</td><td>%s</td>", state_class(t->r.state),
                (long)i == bi ? " best" : "", (long long)t->r.number, nas_trial_state_name(t->r.state));
        for (size_t m = 0; m < s->metrics.n; m++) {
            if (json_num(t->metrics, s->metrics.v[m], &v)) fmt_metric(s->metrics.v[m], v, b, sizeof b);
            else snprintf(b, sizeof b, "-");
            fprintf(o, "<td class=\"n\">%s</td>", b);
        }
        if (any_final) {
            if (json_num(t->final, "test_accuracy", &v)) fmt_metric("test_accuracy", v, b, sizeof b);
            else snprintf(b, sizeof b, "-");
            fprintf(o, "<td class=\"n\">%s</td>", b);
        }
        fmt_seconds(b, sizeof b, t->duration);
        fprintf(o, "<td class=\"n\">%s</td><td class=\"why\">", b);
        if (t->r.fail_reason) {
            short_text(t->r.fail_reason, 60, b, sizeof b);
            esc(o, b);
        }
        fputs("</td><td class=\"pt\"><code>", o);
        char *pc = point_compact(t->r.point_json);
        esc(o, pc ? pc : "");
        free(pc);
        fputs("</code></td></tr>\n", o);
    }
    fputs("</table></div></section>\n", o);
}

static void html_failures(const nas_report_study *s, FILE *o) {
    size_t nf = 0;
    for (size_t i = 0; i < s->n; i++) nf += s->t[i].r.fail_reason != NULL;
    if (!nf) return;
    fprintf(o, "<section id=\"failures\"><h2>Failed and pruned trials (%zu)</h2>\n<table><tr><th>#</th><th>state</th>"
               "<th>reason</th></tr>\n", nf);
    for (size_t i = 0; i < s->n; i++) {
        const rtrial *t = &s->t[i];
        if (!t->r.fail_reason) continue;
        fprintf(o, "<tr class=\"%s\"><td class=\"n\">%lld</td><td>%s</td><td>", state_class(t->r.state),
                (long long)t->r.number, nas_trial_state_name(t->r.state));
        esc(o, t->r.fail_reason);
        if (t->r.stderr_tail && *t->r.stderr_tail) {
            fputs("<details><summary>stderr (tail)</summary><pre>", o);
            esc(o, t->r.stderr_tail);
            fputs("</pre></details>", o);
        }
        fputs("</td></tr>\n", o);
    }
    fputs("</table></section>\n", o);
}

nas_status nas_report_html(const nas_report_study *s, FILE *o, nas_error *err) {
    char date[64];
    fmt_date(s->loaded_at, date, sizeof date);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>nas report: ", o);
    esc(o, s->space_name);
    fprintf(o, "</title>\n<style>\n%s</style></head><body><main>\n<header><h1>Study: ", CSS);
    esc(o, s->space_name);
    fputs("</h1><p class=\"sub\">", o);
    esc(o, s->dir);
    fputs(" &middot; ", o);
    esc(o, spec_string(s, "controller") ? spec_string(s, "controller") : "-");
    fputs(" controller &middot; ", o);
    esc(o, spec_string(s, "evaluator") ? spec_string(s, "evaluator") : "-");
    fputs(" evaluator &middot; status ", o);
    esc(o, s->status ? s->status : "-");
    fputs("</p></header>\n", o);
    html_summary(s, o);
    html_best(s, o);
    html_stage2(s, o);
    fputs("<section id=\"charts\"><h2>Charts</h2><div class=\"charts\">\n", o);
    chart_progress(s, o);
    chart_tradeoff(s, o, "chart-latency", "latency_ms", "Accuracy vs latency");
    chart_tradeoff(s, o, "chart-macs", "macs", "Accuracy vs MACs");
    chart_durations(s, o);
    fputs("</div><p class=\"note\">Hover a point for its trial. The Pareto front is the set of trials that no other "
          "trial beats on both axes (higher accuracy and lower cost).</p></section>\n", o);
    html_trials(s, o);
    html_failures(s, o);
    fputs("<section id=\"space\"><h2>Search space and job</h2><details><summary>space source (", o);
    esc(o, s->space_name);
    fputs(".nas)</summary><pre>", o);
    esc(o, s->space_source);
    fputs("</pre></details><details><summary>job spec</summary><pre>", o);
    char *spec = s->spec ? cJSON_Print(s->spec) : NULL;
    esc(o, spec ? spec : s->spec_text);
    cJSON_free(spec);
    fputs("</pre></details></section>\n<footer>Generated by nas 0.1.0 from ", o);
    esc(o, s->dir);
    fprintf(o, "/study.db on %s.</footer>\n</main></body></html>\n", date);
    if (fflush(o) != 0 || ferror(o))
        return NAS_FAIL(err, NAS_ERR_IO, "writing the HTML report failed: %s", strerror(errno));
    return NAS_OK;
}

nas_status nas_report_html_save(const nas_report_study *s, const char *path, nas_error *err) {
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: cannot buffer the report: %s", path, strerror(errno));
    nas_status rc = nas_report_html(s, mem, err);
    if (fclose(mem) != 0 && !rc) rc = NAS_FAIL(err, NAS_ERR_NOMEM, "%s: cannot buffer the report", path);
    if (!rc) rc = nas_file_write_atomic(path, buf, len, err);
    free(buf);
    return rc;
}
