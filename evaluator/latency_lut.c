/*
 * latency_lut.c - latency lookup tables: per-key samples, the machine they
 * were measured on, JSON save/load and prediction (see latency.h). Keys and
 * per-node measurement live in latency.c; choosing which archs to profile
 * is the caller's (nas profile).
 */
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "evaluator/latency.h"
#include "models/dnnl_check.h"
#include "nas/core/fileio.h"

#define LUT_FORMAT "nas-latency-lut"
#define LUT_VERSION 1

typedef struct lut_entry {
    char *key;
    double *ms;
    int n, cap;
} lut_entry;

struct nas_lut {
    nas_machine m;
    double constant_ms;
    lut_entry *e;
    int n, cap;
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
    if (t && m) t->m = *m;
    return t;
}

void nas_lut_destroy(nas_lut *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) {
        free(t->e[i].key);
        free(t->e[i].ms);
    }
    free(t->e);
    free(t);
}

static lut_entry *find(const nas_lut *t, const char *key) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->e[i].key, key)) return &t->e[i];
    return NULL;
}

nas_status nas_lut_add(nas_lut *t, const char *key, double ms, nas_error *err) {
    lut_entry *e = find(t, key);
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

void nas_lut_set_constant(nas_lut *t, double ms) { t->constant_ms = ms; }
int nas_lut_size(const nas_lut *t) { return t->n; }
const nas_machine *nas_lut_machine(const nas_lut *t) { return &t->m; }

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

nas_status nas_lut_save(const nas_lut *t, const char *path, nas_error *err) {
    cJSON *o = cJSON_CreateObject(), *m = NULL, *arr = NULL;
    char *text = NULL;
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
    if (ok) text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory writing %s", path);
    nas_status s = nas_file_write_atomic(path, text, strlen(text), err);
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

static int num_field(const cJSON *o, const char *k, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) return 0;
    *out = v->valuedouble;
    return 1;
}

nas_status nas_lut_load(const char *path, nas_lut **out, nas_error *err) {
    char *text = NULL;
    size_t len;
    cJSON *o = NULL;
    nas_lut *t = NULL;
    nas_status s;
    *out = NULL;
    if ((s = nas_file_read(path, &text, &len, err))) return s;
    o = cJSON_ParseWithLength(text, len);
    free(text);
    if (!o) return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: not valid JSON", path);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, LUT_FORMAT) != 0) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: not a latency table (format \"%s\" expected)", path,
                     LUT_FORMAT);
        goto fail;
    }
    double v;
    if (!num_field(o, "version", &v) || v != LUT_VERSION) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: unsupported version (expected %d)", path, LUT_VERSION);
        goto fail;
    }
    if (!(t = nas_lut_create(NULL))) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "lut: out of memory");
        goto fail;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "machine");
    double th = 0, b = 0;
    if (!cJSON_IsObject(m) || (s = str_field(m, "cpu", t->m.cpu, sizeof t->m.cpu, path, err)) ||
        (s = str_field(m, "isa", t->m.isa, sizeof t->m.isa, path, err)) ||
        (s = str_field(m, "onednn", t->m.dnnl, sizeof t->m.dnnl, path, err)) ||
        !num_field(m, "threads", &th) || !num_field(m, "batch", &b)) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: machine: expected cpu, isa, onednn, threads, batch", path);
        goto fail;
    }
    t->m.threads = (int)th;
    t->m.batch = (int)b;
    if (!num_field(o, "constant_ms", &t->constant_ms)) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: constant_ms: expected a number", path);
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
        if (!cJSON_IsString(k) || !num_field(it, "ms", &ms) || ms < 0) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: entries[%d]: expected {\"key\": string, \"ms\": number >= 0}",
                         path, i);
            goto fail;
        }
        if ((s = nas_lut_add(t, k->valuestring, ms, err))) goto fail;
        i++;
    }
    cJSON_Delete(o);
    *out = t;
    return NAS_OK;
fail:
    cJSON_Delete(o);
    nas_lut_destroy(t);
    return s;
}

int nas_lut_lookup(const nas_lut *t, const char *key, double *ms) {
    const lut_entry *e = find(t, key);
    if (e) *ms = entry_ms(e);
    return e != NULL;
}

nas_status nas_lut_predict(const nas_lut *t, const nas_arch *a, double *ms, nas_error *err) {
    double sum = t->constant_ms;
    *ms = 0;
    for (int i = 1; i < a->n_nodes; i++) {
        char *key = nas_lut_key(a, i);
        if (!key) continue;
        const lut_entry *e = find(t, key);
        if (!e) {
            nas_status s = NAS_FAIL(err, NAS_ERR_UNSUPPORTED,
                                    "latency table has no entry for node %d (%s): \"%s\"", i,
                                    nas_op_name(a->nodes[i].op), key);
            free(key);
            return s;
        }
        free(key);
        sum += entry_ms(e);
    }
    *ms = sum;
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
