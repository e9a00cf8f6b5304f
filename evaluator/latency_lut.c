/*
 * latency_lut.c - latency lookup tables: per-key samples, the machine they
 * were measured on, the networks profiled and the network-level fit, JSON
 * save/load and prediction (see latency.h). Keys and per-node measurement
 * live in latency.c; choosing which archs to profile and measure is the
 * caller's (nas profile).
 *
 * Prediction: sum = the table values of an arch's keys; the fit maps it to
 * the measured latency, latency = scale * sum + weight_ms_per_mib * W +
 * offset with W the arch's weights in MiB (nas cost's weight_bytes), by
 * least squares on the relative error over networks measured like `nas
 * latency` does. Why: an op's table value comes from the networks it was
 * profiled in, and its time in a network depends on what that network keeps
 * in the caches: the weights are read again on every pass, and a network
 * whose weights outgrow the core's 2 MiB L2 reads them from further away,
 * so its ops run 5-8% slower than the same ops in a small network
 * (docs/benchmarks.md).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "evaluator/cost.h"
#include "evaluator/latency.h"
#include "models/dnnl_check.h"
#include "nas/core/fileio.h"
#include "nas/core/json.h"

#define LUT_FORMAT "nas-latency-lut"
#define LUT_VERSION 2
/* The largest time in ms a table may hold (an op or network taking over 1000 s
   at batch B is no measurement of this tool) */
#define LUT_MAX_MS 1e6
#define LUT_MODEL "latency_ms = scale * sum_ms + weight_ms_per_mib * weight_mib + offset_ms"
#define MIB (1024.0 * 1024.0)

typedef struct lut_entry {
    char *key;
    double *ms;
    int n, cap;
} lut_entry;

/* A network of the table: its entries (one per node with a key, in node
 * order) and its weights. Profiled networks carry their nodes' in-network
 * times (ms) and whole-network median (time_ms); fit networks their latency
 * measured like `nas latency` (time_ms), and ms NULL. */
typedef struct lut_net {
    int *e;
    double *ms;
    int n;
    double weight_bytes;
    double time_ms;
} lut_net;

typedef struct net_list {
    lut_net *v;
    int n, cap;
} net_list;

struct nas_lut {
    nas_machine m;
    int version;
    double constant_ms;
    double clock_ms; /* the clock loop's time the values are scaled to; 0: plain ms */
    lut_entry *e;
    int n, cap;
    net_list prof; /* networks profiled */
    net_list fitn; /* networks of the fit */
    nas_lut_fit fit;
};

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_all: return "all";
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
    }
}

void nas_machine_describe(int threads, int batch, nas_machine *m) {
    memset(m, 0, sizeof *m);
    snprintf(m->cpu, sizeof m->cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) != 0) continue;
            char *c = strchr(line, ':');
            if (!c) continue;
            c++;
            while (*c == ' ' || *c == '\t') c++;
            c[strcspn(c, "\n")] = 0;
            snprintf(m->cpu, sizeof m->cpu, "%s", c);
            break;
        }
        fclose(f);
    }
    snprintf(m->isa, sizeof m->isa, "%s", isa_name(dnnl_get_effective_cpu_isa()));
    const dnnl_version_t *v = dnnl_version();
    snprintf(m->dnnl, sizeof m->dnnl, "%d.%d.%d", v->major, v->minor, v->patch);
    m->threads = threads;
    m->batch = batch;
}

nas_lut *nas_lut_create(const nas_machine *m) {
    nas_lut *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (m) t->m = *m;
    t->version = LUT_VERSION;
    t->fit.scale = 1.0;
    return t;
}

static void nets_free(net_list *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].e);
        free(l->v[i].ms);
    }
    free(l->v);
}

void nas_lut_destroy(nas_lut *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) {
        free(t->e[i].key);
        free(t->e[i].ms);
    }
    free(t->e);
    nets_free(&t->prof);
    nets_free(&t->fitn);
    free(t);
}

static int entry_index(const nas_lut *t, const char *key) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->e[i].key, key)) return i;
    return -1;
}

nas_status nas_lut_add(nas_lut *t, const char *key, double ms, nas_error *err) {
    int i = entry_index(t, key);
    lut_entry *e = i >= 0 ? &t->e[i] : NULL;
    if (!e) {
        if (t->n == t->cap) {
            int cap = t->cap ? 2 * t->cap : 64;
            lut_entry *g = realloc(t->e, (size_t)cap * sizeof *g);
            if (!g) return NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory");
            t->e = g;
            t->cap = cap;
        }
        e = &t->e[t->n];
        memset(e, 0, sizeof *e);
        size_t len = strlen(key) + 1;
        e->key = malloc(len);
        if (!e->key) return NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory");
        memcpy(e->key, key, len);
        t->n++;
    }
    if (e->n == e->cap) {
        int cap = e->cap ? 2 * e->cap : 4;
        double *g = realloc(e->ms, (size_t)cap * sizeof *g);
        if (!g) return NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory");
        e->ms = g;
        e->cap = cap;
    }
    e->ms[e->n++] = ms;
    return NAS_OK;
}

/* Appends an empty network with room for n entries (and n times when
 * with_ms) to l. */
static lut_net *net_new(net_list *l, int n, int with_ms, nas_error *err) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        lut_net *g = realloc(l->v, (size_t)cap * sizeof *g);
        if (!g) {
            NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory");
            return NULL;
        }
        l->v = g;
        l->cap = cap;
    }
    lut_net *net = &l->v[l->n];
    memset(net, 0, sizeof *net);
    net->e = malloc((size_t)(n > 0 ? n : 1) * sizeof *net->e);
    net->ms = with_ms ? malloc((size_t)(n > 0 ? n : 1) * sizeof *net->ms) : NULL;
    if (!net->e || (with_ms && !net->ms)) {
        free(net->e);
        free(net->ms);
        NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory");
        return NULL;
    }
    l->n++;
    return net;
}

static nas_status weight_bytes(const nas_arch *a, double *out, nas_error *err) {
    nas_cost c;
    nas_status s = nas_cost_compute(a, 1, NAS_COST_OPTIM_SGD, &c, err);
    if (s != NAS_OK) return s;
    *out = (double)c.weight_bytes;
    nas_cost_deinit(&c);
    return NAS_OK;
}

nas_status nas_lut_add_network(nas_lut *t, const nas_arch *a, const double *node_ms,
                               double total_ms, nas_error *err) {
    double wb;
    nas_status s = weight_bytes(a, &wb, err);
    if (s != NAS_OK) return s;
    lut_net *net = net_new(&t->prof, a->n_nodes, 1, err);
    if (!net) return NAS_ERR_NOMEM;
    net->time_ms = total_ms;
    net->weight_bytes = wb;
    for (int i = 1; i < a->n_nodes; i++) {
        char *key = nas_lut_key(a, i);
        if (!key) continue;
        s = nas_lut_add(t, key, node_ms[i], err);
        int k = s == NAS_OK ? entry_index(t, key) : -1;
        free(key);
        if (s != NAS_OK) return s; /* the network stays, with the entries so far */
        net->e[net->n] = k;
        net->ms[net->n] = node_ms[i];
        net->n++;
    }
    return NAS_OK;
}

/* The entry of every node of a with a key, into idx (room for a->n_nodes);
 * a missing key fails naming the node, op and key. */
static nas_status arch_entries(const nas_lut *t, const nas_arch *a, int *idx, int *n,
                               nas_error *err) {
    *n = 0;
    for (int i = 1; i < a->n_nodes; i++) {
        char *key = nas_lut_key(a, i);
        if (!key) continue;
        int k = entry_index(t, key);
        if (k < 0) {
            nas_status s = NAS_FAIL(err, NAS_ERR_UNSUPPORTED,
                                    "latency table has no entry for node %d (%s): \"%s\"", i,
                                    nas_op_name(a->nodes[i].op), key);
            free(key);
            return s;
        }
        free(key);
        idx[(*n)++] = k;
    }
    return NAS_OK;
}

nas_status nas_lut_add_fit_network(nas_lut *t, const nas_arch *a, double latency_ms,
                                   nas_error *err) {
    double wb;
    int *idx = malloc((size_t)(a->n_nodes > 0 ? a->n_nodes : 1) * sizeof *idx), n = 0;
    if (!idx) return NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory");
    nas_status s = arch_entries(t, a, idx, &n, err);
    if (s == NAS_OK) s = weight_bytes(a, &wb, err);
    if (s == NAS_OK && !(latency_ms > 0 && isfinite(latency_ms)))
        s = NAS_FAIL(err, NAS_ERR_INVALID, "lut: a fit network needs a latency > 0, got %g",
                     latency_ms);
    lut_net *net = s == NAS_OK ? net_new(&t->fitn, n, 0, err) : NULL;
    if (s == NAS_OK && !net) s = NAS_ERR_NOMEM;
    if (net) {
        memcpy(net->e, idx, (size_t)n * sizeof *idx);
        net->n = n;
        net->weight_bytes = wb;
        net->time_ms = latency_ms;
    }
    free(idx);
    return s;
}

void nas_lut_set_constant(nas_lut *t, double ms) { t->constant_ms = ms; }

static void nets_scale(net_list *l, double f) {
    for (int i = 0; i < l->n; i++) {
        l->v[i].time_ms *= f;
        for (int j = 0; l->v[i].ms && j < l->v[i].n; j++) l->v[i].ms[j] *= f;
    }
}

void nas_lut_set_clock(nas_lut *t, double clock_ms) {
    for (int i = 0; i < t->n; i++)
        for (int j = 0; j < t->e[i].n; j++) t->e[i].ms[j] *= clock_ms;
    nets_scale(&t->prof, clock_ms);
    nets_scale(&t->fitn, clock_ms);
    t->constant_ms *= clock_ms;
    t->clock_ms = clock_ms;
}

double nas_lut_clock(const nas_lut *t) { return t->clock_ms; }
int nas_lut_size(const nas_lut *t) { return t->n; }
int nas_lut_version(const nas_lut *t) { return t->version; }
const nas_machine *nas_lut_machine(const nas_lut *t) { return &t->m; }
const nas_lut_fit *nas_lut_get_fit(const nas_lut *t) { return &t->fit; }

/* The lower quartile of an entry's samples (linear interpolation; sorts
 * them). Each sample is already the median of many runs inside one network;
 * the lower quartile over networks drops the contexts disturbed by other
 * processes or cold caches without trusting the single luckiest one
 * (docs/benchmarks.md compares minimum, quartiles and median). */
static double entry_ms(const lut_entry *e) {
    double med, p90;
    nas_latency_stats(e->ms, e->n, &med, &p90);
    double k = 0.25 * (e->n - 1);
    int i = (int)k;
    return i + 1 < e->n ? e->ms[i] + (e->ms[i + 1] - e->ms[i]) * (k - i) : e->ms[i];
}

static double net_sum(const nas_lut *t, const lut_net *net) {
    double s = 0;
    for (int j = 0; j < net->n; j++) s += entry_ms(&t->e[net->e[j]]);
    return s;
}

static double fit_apply(const nas_lut_fit *f, double constant_ms, double sum, double wbytes) {
    if (f->terms == 0) return sum + constant_ms;
    return f->scale * sum + f->weight_ms_per_mib * wbytes / MIB + f->offset_ms;
}

/* Scores predictions p against measurements m (n > 0) into s. */
static void score(const double *p, const double *m, int n, nas_lut_score *s) {
    memset(s, 0, sizeof *s);
    s->n = n;
    for (int i = 0; i < n; i++) {
        double e = (p[i] - m[i]) / m[i];
        s->mape += fabs(e);
        s->bias += e;
        s->within10 += fabs(e) <= 0.10;
        if (fabs(e) > s->worst) s->worst = fabs(e);
    }
    if (n == 0) return;
    s->mape *= 100.0 / n;
    s->bias *= 100.0 / n;
    s->within10 *= 100.0 / n;
    s->worst *= 100.0;
}

/* Solves the k x k system A x = b (row-major, k <= 3) by Gaussian
 * elimination with partial pivoting; 0 when A is (nearly) singular. */
static int solve(double *A, double *b, int k, double *x) {
    double scale = 0;
    for (int i = 0; i < k; i++)
        if (fabs(A[i * k + i]) > scale) scale = fabs(A[i * k + i]);
    for (int c = 0; c < k; c++) {
        int p = c;
        for (int r = c + 1; r < k; r++)
            if (fabs(A[r * k + c]) > fabs(A[p * k + c])) p = r;
        if (!(fabs(A[p * k + c]) > 1e-10 * scale)) return 0;
        for (int j = 0; j < k; j++) {
            double tmp = A[c * k + j];
            A[c * k + j] = A[p * k + j];
            A[p * k + j] = tmp;
        }
        double tmp = b[c];
        b[c] = b[p];
        b[p] = tmp;
        for (int r = c + 1; r < k; r++) {
            double f = A[r * k + c] / A[c * k + c];
            for (int j = c; j < k; j++) A[r * k + j] -= f * A[c * k + j];
            b[r] -= f * b[c];
        }
    }
    for (int r = k - 1; r >= 0; r--) {
        double s = b[r];
        for (int j = r + 1; j < k; j++) s -= A[r * k + j] * x[j];
        x[r] = s / A[r * k + r];
    }
    return 1;
}

/* Least squares on the relative error with `terms` unknowns: 3 = scale,
 * weight_ms_per_mib, offset; 2 = scale, offset; 1 = scale (offset 0).
 * Minimizes sum_i ((x_i . theta - m_i) / m_i)^2 through its normal
 * equations. 0 when they are singular or give a scale <= 0. */
static int fit_terms(const double *sum, const double *wmib, const double *m, int n, int terms,
                     nas_lut_fit *f) {
    double A[9] = {0}, b[3] = {0}, x[3] = {0};
    for (int i = 0; i < n; i++) {
        double z[3] = {sum[i], 1.0, 1.0}, y = m[i], w = 1.0 / (m[i] * m[i]);
        if (terms == 3) z[1] = wmib[i];
        for (int r = 0; r < terms; r++) {
            for (int c = 0; c < terms; c++) A[r * terms + c] += z[r] * z[c] * w;
            b[r] += z[r] * y * w;
        }
    }
    if (!solve(A, b, terms, x) || !(x[0] > 0) || !isfinite(x[0])) return 0;
    f->terms = terms;
    f->scale = x[0];
    f->weight_ms_per_mib = terms == 3 ? x[1] : 0.0;
    f->offset_ms = terms == 3 ? x[2] : terms == 2 ? x[1] : 0.0;
    return isfinite(f->weight_ms_per_mib) && isfinite(f->offset_ms);
}

/* Fills the residuals of t->fit (fitted and unfitted) over its networks. */
static nas_status fit_score(nas_lut *t, nas_error *err) {
    int n = t->fitn.n;
    double *p = malloc((size_t)(n ? n : 1) * 3 * sizeof *p);
    if (!p) return NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory");
    double *q = p + n, *m = q + n;
    nas_lut_fit none = {0};
    for (int i = 0; i < n; i++) {
        const lut_net *net = &t->fitn.v[i];
        double s = net_sum(t, net);
        p[i] = fit_apply(&t->fit, t->constant_ms, s, net->weight_bytes);
        q[i] = fit_apply(&none, t->constant_ms, s, net->weight_bytes);
        m[i] = net->time_ms;
    }
    score(p, m, n, &t->fit.fitted);
    score(q, m, n, &t->fit.unfitted);
    free(p);
    return NAS_OK;
}

nas_status nas_lut_fit_compute(nas_lut *t, nas_error *err) {
    int n = t->fitn.n;
    if (n == 0) return NAS_FAIL(err, NAS_ERR_INVALID, "lut: no measured networks to fit on");
    double *sum = malloc((size_t)n * 3 * sizeof *sum);
    if (!sum) return NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory");
    double *wmib = sum + n, *m = wmib + n;
    for (int i = 0; i < n; i++) {
        sum[i] = net_sum(t, &t->fitn.v[i]);
        wmib[i] = t->fitn.v[i].weight_bytes / MIB;
        m[i] = t->fitn.v[i].time_ms;
    }
    /* fewer networks, fewer unknowns: 30+ for three, 10+ for two */
    int terms = n >= 30 ? 3 : n >= 10 ? 2 : 1;
    nas_lut_fit f = {0};
    while (terms > 0 && !fit_terms(sum, wmib, m, n, terms, &f)) terms--;
    free(sum);
    if (terms == 0)
        return NAS_FAIL(err, NAS_ERR_INVALID,
                        "lut: the %d measured networks do not determine a fit (a positive scale)",
                        n);
    f.networks = n;
    t->fit = f;
    return fit_score(t, err);
}

/* ---- JSON ---- */

static cJSON *score_json(const nas_lut_score *s) {
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddNumberToObject(o, "mape_pct", s->mape) &&
             cJSON_AddNumberToObject(o, "within_10pct", s->within10) &&
             cJSON_AddNumberToObject(o, "worst_pct", s->worst) &&
             cJSON_AddNumberToObject(o, "bias_pct", s->bias);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* [{"entries": [...], "weight_bytes": w, <time_key>: t (, "ms": [...])}] */
static int nets_json(cJSON *parent, const char *name, const net_list *l, const char *time_key) {
    cJSON *arr = cJSON_AddArrayToObject(parent, name);
    int ok = arr != NULL;
    for (int i = 0; ok && i < l->n; i++) {
        const lut_net *net = &l->v[i];
        cJSON *n = cJSON_CreateObject(), *ix = NULL, *ms = NULL;
        ok = n && cJSON_AddItemToArray(arr, n);
        ok = ok && cJSON_AddNumberToObject(n, time_key, net->time_ms);
        ok = ok && cJSON_AddNumberToObject(n, "weight_bytes", net->weight_bytes);
        ok = ok && (ix = cJSON_AddArrayToObject(n, "entries")) != NULL;
        if (ok && net->ms) ok = (ms = cJSON_AddArrayToObject(n, "ms")) != NULL;
        for (int j = 0; ok && j < net->n; j++) {
            cJSON *a = cJSON_CreateNumber(net->e[j]);
            ok = a && cJSON_AddItemToArray(ix, a);
            if (ok && ms) {
                cJSON *b = cJSON_CreateNumber(net->ms[j]);
                ok = b && cJSON_AddItemToArray(ms, b);
            }
        }
    }
    return ok;
}

/* Adds item (may be NULL) to o as name; deletes it when it cannot. */
static int add_item(cJSON *o, const char *name, cJSON *item) {
    if (item && cJSON_AddItemToObject(o, name, item)) return 1;
    cJSON_Delete(item);
    return 0;
}

static int fit_json(cJSON *o, const nas_lut *t) {
    const nas_lut_fit *f = &t->fit;
    cJSON *fit = cJSON_AddObjectToObject(o, "fit"), *r = NULL;
    int ok = fit != NULL;
    ok = ok && cJSON_AddStringToObject(fit, "model", LUT_MODEL);
    ok = ok && cJSON_AddNumberToObject(fit, "terms", f->terms);
    ok = ok && cJSON_AddNumberToObject(fit, "scale", f->scale);
    ok = ok && cJSON_AddNumberToObject(fit, "weight_ms_per_mib", f->weight_ms_per_mib);
    ok = ok && cJSON_AddNumberToObject(fit, "offset_ms", f->offset_ms);
    ok = ok && (r = cJSON_AddObjectToObject(fit, "residuals")) != NULL;
    ok = ok && add_item(r, "fitted", score_json(&f->fitted));
    ok = ok && add_item(r, "sum_plus_constant", score_json(&f->unfitted));
    return ok && nets_json(fit, "networks", &t->fitn, "latency_ms");
}

nas_status nas_lut_to_json(const nas_lut *t, char **out, nas_error *err) {
    cJSON *o = cJSON_CreateObject(), *m = NULL, *arr = NULL;
    char *text = NULL;
    *out = NULL;
    int ok = o != NULL;
    ok = ok && cJSON_AddStringToObject(o, "format", LUT_FORMAT);
    ok = ok && cJSON_AddNumberToObject(o, "version", LUT_VERSION);
    ok = ok && (m = cJSON_AddObjectToObject(o, "machine")) != NULL;
    ok = ok && cJSON_AddStringToObject(m, "cpu", t->m.cpu);
    ok = ok && cJSON_AddStringToObject(m, "isa", t->m.isa);
    ok = ok && cJSON_AddStringToObject(m, "onednn", t->m.dnnl);
    ok = ok && cJSON_AddNumberToObject(m, "threads", t->m.threads);
    ok = ok && cJSON_AddNumberToObject(m, "batch", t->m.batch);
    ok = ok && cJSON_AddNumberToObject(o, "constant_ms", t->constant_ms);
    if (t->clock_ms > 0) ok = ok && cJSON_AddNumberToObject(o, "clock_ms", t->clock_ms);
    ok = ok && fit_json(o, t);
    ok = ok && (arr = cJSON_AddArrayToObject(o, "entries")) != NULL;
    for (int i = 0; ok && i < t->n; i++) {
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(arr, e);
        ok = ok && cJSON_AddStringToObject(e, "key", t->e[i].key);
        ok = ok && cJSON_AddNumberToObject(e, "ms", entry_ms(&t->e[i]));
        ok = ok && cJSON_AddNumberToObject(e, "samples", t->e[i].n);
        cJSON *all = ok ? cJSON_AddArrayToObject(e, "samples_ms") : NULL;
        ok = ok && all;
        for (int j = 0; ok && j < t->e[i].n; j++) {
            cJSON *v = cJSON_CreateNumber(t->e[i].ms[j]);
            ok = v && cJSON_AddItemToArray(all, v);
        }
    }
    ok = ok && nets_json(o, "networks", &t->prof, "total_ms");
    if (ok) text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory writing the table");
    *out = text;
    return NAS_OK;
}

nas_status nas_lut_save(const nas_lut *t, const char *path, nas_error *err) {
    char *text = NULL;
    nas_status s = nas_lut_to_json(t, &text, err);
    if (s == NAS_OK) s = nas_file_write_atomic(path, text, strlen(text), err);
    free(text);
    return s;
}

static nas_status str_field(const cJSON *o, const char *k, char *out, size_t cap, const char *path,
                            nas_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v))
        return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: machine.%s: expected a string", path, k);
    snprintf(out, cap, "%s", v->valuestring);
    return NAS_OK;
}

/* 1 and the value when o.k is a finite number. */
static int num_field(const cJSON *o, const char *k, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return 0;
    *out = v->valuedouble;
    return 1;
}

/* Reads l from the array `name` of o (see nets_json; `label` names it in
 * messages); every entry index must name an entry of t. */
static nas_status nets_parse(const cJSON *o, const char *name, const char *label,
                             const char *time_key, int with_ms, nas_lut *t, net_list *l,
                             const char *path, nas_error *err) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, name), *it;
    if (!cJSON_IsArray(arr))
        return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: %s: expected an array", path, label);
    int i = 0;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(it, "entries"), *v;
        const cJSON *ms = with_ms ? cJSON_GetObjectItemCaseSensitive(it, "ms") : NULL;
        double tm, wb;
        int n = cJSON_GetArraySize(ix);
        if (!num_field(it, time_key, &tm) || !(tm >= 0) || !num_field(it, "weight_bytes", &wb) ||
            !(wb >= 0) || !cJSON_IsArray(ix) ||
            (with_ms && (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) != n)))
            return NAS_FAIL(
                err, NAS_ERR_FORMAT,
                "%s: %s[%d]: expected {\"%s\": number >= 0, \"weight_bytes\": number >= 0, "
                "\"entries\": [indices]%s}",
                path, label, i, time_key, with_ms ? ", \"ms\": [as many numbers]" : "");
        lut_net *net = net_new(l, n, with_ms, err);
        if (!net) return NAS_ERR_NOMEM;
        net->time_ms = tm;
        net->weight_bytes = wb;
        const cJSON *m = with_ms ? ms->child : NULL;
        cJSON_ArrayForEach(v, ix) {
            double k = cJSON_IsNumber(v) ? v->valuedouble : -1;
            if (!(k >= 0 && k < t->n && k == (int)k) ||
                (m && (!cJSON_IsNumber(m) || !isfinite(m->valuedouble))))
                return NAS_FAIL(err, NAS_ERR_FORMAT,
                                "%s: %s[%d].entries[%d]: expected an entry index in 0..%d%s", path,
                                label, i, net->n, t->n - 1, with_ms ? " and a time" : "");
            net->e[net->n] = (int)k;
            if (m) {
                net->ms[net->n] = m->valuedouble;
                m = m->next;
            }
            net->n++;
        }
        i++;
    }
    return NAS_OK;
}

static nas_status fit_parse(const cJSON *o, nas_lut *t, const char *path, nas_error *err) {
    const cJSON *fit = cJSON_GetObjectItemCaseSensitive(o, "fit");
    nas_lut_fit *f = &t->fit;
    double terms;
    if (!cJSON_IsObject(fit) || !num_field(fit, "terms", &terms) ||
        !(terms == 0 || terms == 1 || terms == 2 || terms == 3) ||
        !num_field(fit, "scale", &f->scale) ||
        !num_field(fit, "weight_ms_per_mib", &f->weight_ms_per_mib) ||
        !num_field(fit, "offset_ms", &f->offset_ms) || !(f->scale > 0 && f->scale <= 1e3) ||
        fabs(f->weight_ms_per_mib) > LUT_MAX_MS || fabs(f->offset_ms) > LUT_MAX_MS)
        return NAS_FAIL(
            err, NAS_ERR_FORMAT,
            "%s: fit: expected {\"terms\": 0..3, \"scale\": 0..1000 (above 0), \"weight_ms_per_mib\": "
            "number, \"offset_ms\": number (ms within +-%g), \"networks\": [...]}",
            path, LUT_MAX_MS);
    f->terms = (int)terms;
    nas_status s =
        nets_parse(fit, "networks", "fit.networks", "latency_ms", 0, t, &t->fitn, path, err);
    if (s != NAS_OK) return s;
    for (int i = 0; i < t->fitn.n; i++)
        if (!(t->fitn.v[i].time_ms > 0))
            return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: fit.networks[%d]: latency_ms must be > 0",
                            path, i);
    if (f->terms > 0 && t->fitn.n == 0)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: fit: %d terms but no networks", path, f->terms);
    f->networks = t->fitn.n;
    return fit_score(t, err);
}

nas_status nas_lut_from_json(const char *json, size_t len, const char *path, nas_lut **out,
                             nas_error *err) {
    cJSON *o = NULL;
    nas_lut *t = NULL;
    nas_status s;
    *out = NULL;
    if (!(o = nas_json_parse(json, len, path, err))) return err ? err->code : NAS_ERR_FORMAT;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, LUT_FORMAT) != 0) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: not a latency table (format \"%s\" expected)", path,
                     LUT_FORMAT);
        goto fail;
    }
    double v;
    if (!num_field(o, "version", &v) || (v != 1 && v != LUT_VERSION)) {
        const cJSON *jv = cJSON_GetObjectItemCaseSensitive(o, "version");
        if (cJSON_IsNumber(jv))
            s = NAS_FAIL(err, NAS_ERR_FORMAT,
                         "%s: latency table version %g is not supported (this nas reads versions 1 "
                         "and %d; re-run nas profile)",
                         path, jv->valuedouble, LUT_VERSION);
        else
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: version: expected a number (1 or %d)", path,
                         LUT_VERSION);
        goto fail;
    }
    if (!(t = nas_lut_create(NULL))) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory");
        goto fail;
    }
    t->version = (int)v;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "machine");
    double th = 0, b = 0;
    if (!cJSON_IsObject(m) || (s = str_field(m, "cpu", t->m.cpu, sizeof t->m.cpu, path, err)) ||
        (s = str_field(m, "isa", t->m.isa, sizeof t->m.isa, path, err)) ||
        (s = str_field(m, "onednn", t->m.dnnl, sizeof t->m.dnnl, path, err)) ||
        !num_field(m, "threads", &th) || !num_field(m, "batch", &b) || th < 0 || th > 1e6 ||
        b < 0 || b > 1e9) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: machine: expected cpu, isa, onednn, threads (0: unknown), batch", path);
        goto fail;
    }
    t->m.threads = (int)th;
    t->m.batch = (int)b;
    if (!num_field(o, "constant_ms", &t->constant_ms) || fabs(t->constant_ms) > LUT_MAX_MS) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: constant_ms: expected a number of ms within +-%g", path, LUT_MAX_MS);
        goto fail;
    }
    /* optional: a table made before clock normalization has none */
    if (cJSON_GetObjectItemCaseSensitive(o, "clock_ms") &&
        (!num_field(o, "clock_ms", &t->clock_ms) || !(t->clock_ms > 0))) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: clock_ms: expected a number > 0", path);
        goto fail;
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "entries"), *it;
    if (!cJSON_IsArray(arr)) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: entries: expected an array", path);
        goto fail;
    }
    int i = 0;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "key");
        double ms;
        if (!cJSON_IsString(k) || !num_field(it, "ms", &ms) || ms < 0 || ms > LUT_MAX_MS) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: entries[%d]: expected {\"key\": string, \"ms\": 0..%g}",
                         path, i, LUT_MAX_MS);
            goto fail;
        }
        if (entry_index(t, k->valuestring) >= 0) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: entries[%d]: key \"%s\" appears twice", path, i,
                         k->valuestring);
            goto fail;
        }
        if ((s = nas_lut_add(t, k->valuestring, ms, err))) goto fail;
        i++;
    }
    /* version 1 has neither networks nor a fit: it predicts sum + constant */
    if (t->version >= 2 &&
        ((s = nets_parse(o, "networks", "networks", "total_ms", 1, t, &t->prof, path, err)) ||
         (s = fit_parse(o, t, path, err))))
        goto fail;
    cJSON_Delete(o);
    *out = t;
    return NAS_OK;
fail:
    cJSON_Delete(o);
    nas_lut_destroy(t);
    return s;
}

nas_status nas_lut_load(const char *path, nas_lut **out, nas_error *err) {
    char *text = NULL;
    size_t len;
    *out = NULL;
    nas_status s = nas_file_read(path, &text, &len, err);
    if (s != NAS_OK) return s;
    s = nas_lut_from_json(text, len, path, out, err);
    free(text);
    return s;
}

int nas_lut_lookup(const nas_lut *t, const char *key, double *ms) {
    int i = entry_index(t, key);
    if (i >= 0) *ms = entry_ms(&t->e[i]);
    return i >= 0;
}

nas_status nas_lut_predict_parts(const nas_lut *t, const nas_arch *a, double *sum_ms,
                                 double *weight_bytes_out, nas_error *err) {
    int *idx = malloc((size_t)(a->n_nodes > 0 ? a->n_nodes : 1) * sizeof *idx), n = 0;
    *sum_ms = 0;
    *weight_bytes_out = 0;
    if (!idx) return NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory");
    nas_status s = arch_entries(t, a, idx, &n, err);
    if (s == NAS_OK) s = weight_bytes(a, weight_bytes_out, err);
    for (int i = 0; s == NAS_OK && i < n; i++) *sum_ms += entry_ms(&t->e[idx[i]]);
    free(idx);
    return s;
}

nas_status nas_lut_predict(const nas_lut *t, const nas_arch *a, double *ms, nas_error *err) {
    double sum, wb;
    *ms = 0;
    nas_status s = nas_lut_predict_parts(t, a, &sum, &wb, err);
    if (s) return s;
    *ms = fit_apply(&t->fit, t->constant_ms, sum, wb);
    if (!(*ms > 0)) /* a constant or fit offset below zero outweighs this arch's ops */
        return NAS_FAIL(err, NAS_ERR_INVALID,
                        "latency table: the prediction for this arch is %.4g ms (its ops sum to %.4g ms, the "
                        "table's constant is %.4g ms, fit offset %.4g ms): not a latency",
                        *ms, sum, t->constant_ms, t->fit.offset_ms);
    return NAS_OK;
}

int nas_lut_machine_mismatch(const nas_lut *t, const nas_machine *m, char *msg, size_t cap) {
    const nas_machine *a = &t->m;
    if (!strcmp(a->cpu, m->cpu) && !strcmp(a->isa, m->isa) && !strcmp(a->dnnl, m->dnnl) &&
        a->threads == m->threads)
        return 0;
    snprintf(msg, cap,
             "the latency table was made on \"%s\" (ISA %s, oneDNN %s, %d threads) but this is "
             "\"%s\" (ISA %s, oneDNN %s, %d threads): predictions may be off",
             a->cpu, a->isa, a->dnnl, a->threads, m->cpu, m->isa, m->dnnl, m->threads);
    return 1;
}
