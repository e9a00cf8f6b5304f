/*
 * supernet_rank.c - the stand-alone accuracies of a ranking (`nas supernet
 * rank --standalone FILE`): read, so that another supernet is ranked against
 * the same ground truth without training again, and written after every
 * stand-alone run, so that a killed ranking resumes where it stopped (see
 * supernet.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "evaluator/supernet.h"
#include "nas/core/fileio.h"
#include "nas/core/json.h"

static const cJSON *item(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

/* The candidate of cands whose arch_hash is want, or NULL. */
static const cJSON *find_arch(const cJSON *cands, const char *want) {
    const cJSON *it;
    cJSON_ArrayForEach(it, cands) {
        const cJSON *h = item(it, "arch_hash");
        if (cJSON_IsString(h) && !strcmp(h->valuestring, want)) return it;
    }
    return NULL;
}

nas_status nas_supernet_truth_parse(const char *json, size_t len, const char *source,
                                    const nas_supernet_config *c, const uint64_t *hash, int n,
                                    nas_supernet_truth *out, nas_error *err) {
    nas_status s = NAS_OK;
    memset(out, 0, sizeof *out);
    cJSON *o = nas_json_parse(json, len, source, err);
    if (!o) return err ? err->code : NAS_ERR_FORMAT;
    const cJSON *d = item(o, "data"), *spec = item(d, "spec"), *tf = item(d, "train_fraction");
    const cJSON *vf = item(d, "val_fraction"), *ds = item(d, "seed"), *ks = item(o, "train_seeds");
    const cJSON *ep = item(o, "train_epochs"), *tb = item(o, "train_batch"), *cands = item(o, "candidates");
    if (!o || !cJSON_IsString(spec) || !cJSON_IsNumber(tf) || !cJSON_IsNumber(vf) || !cJSON_IsNumber(ds) ||
        !(ds->valuedouble >= 0 && ds->valuedouble < 1.8e19) || !cJSON_IsNumber(ks) ||
        !(ks->valuedouble >= 1 && ks->valuedouble <= 100) || !cJSON_IsNumber(ep) ||
        !(ep->valuedouble >= 1 && ep->valuedouble <= 1e6) || !cJSON_IsArray(cands) ||
        (tb && !(cJSON_IsNumber(tb) && tb->valuedouble >= 1 && tb->valuedouble <= 65536))) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT,
                     "%s: not the output of `nas supernet rank --json` (expected data {spec, train_fraction, "
                     "val_fraction, seed}, train_seeds 1..100, train_epochs, candidates and optionally "
                     "train_batch 1..65536)",
                     source);
        goto done;
    }
    /* the same validation images; the training share may differ (the split
     * carves the validation images first, whatever share is trained on) */
    if (strcmp(spec->valuestring, c->data_spec) || vf->valuedouble != c->val_fraction ||
        (uint64_t)ds->valuedouble != c->data_seed || !(tf->valuedouble > 0 && tf->valuedouble <= 1)) {
        s = NAS_FAIL(err, NAS_ERR_INVALID,
                     "%s: data: its stand-alone accuracies are on the validation split of '%s' (val fraction %g, "
                     "seed %.0f, train fraction %g), the supernet's is '%s' (%g, %llu)",
                     source, spec->valuestring, vf->valuedouble, ds->valuedouble, tf->valuedouble, c->data_spec,
                     c->val_fraction, (unsigned long long)c->data_seed);
        goto done;
    }
    out->train_fraction = tf->valuedouble;
    out->train_batch = tb ? (int)tb->valuedouble : 0;
    out->seeds = (int)ks->valuedouble;
    out->epochs = (int)ep->valuedouble;
    out->acc = calloc(n > 0 ? (size_t)n : 1, sizeof *out->acc);
    out->seed_acc = calloc(n > 0 ? (size_t)n * (size_t)out->seeds : 1, sizeof *out->seed_acc);
    out->have = calloc(n > 0 ? (size_t)n : 1, sizeof *out->have);
    if (!out->acc || !out->seed_acc || !out->have) {
        s = NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        char want[17];
        snprintf(want, sizeof want, "%016llx", (unsigned long long)hash[i]);
        const cJSON *found = find_arch(cands, want);
        if (!found) {
            s = NAS_FAIL(err, NAS_ERR_INVALID,
                         "%s has no stand-alone accuracy for arch %s (candidate %d here; rank with the --seed "
                         "and --archs that made it)",
                         source, want, i);
            goto done;
        }
        const cJSON *sa = item(found, "standalone_seed_accuracies");
        int m = cJSON_IsArray(sa) ? cJSON_GetArraySize(sa) : -1;
        if (m < 0 || m > out->seeds) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: arch %s: standalone_seed_accuracies: expected up to %d number%s",
                         source, want, out->seeds, out->seeds > 1 ? "s" : "");
            goto done;
        }
        const cJSON *v = sa->child;
        for (int j = 0; j < m; j++, v = v->next) {
            if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1)) {
                s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: arch %s: standalone_seed_accuracies[%d]: expected 0..1",
                             source, want, j);
                goto done;
            }
            out->seed_acc[i * out->seeds + j] = v->valuedouble;
            out->acc[i] += v->valuedouble / m;
        }
        out->have[i] = m;
    }
done:
    cJSON_Delete(o);
    if (s != NAS_OK) nas_supernet_truth_deinit(out);
    return s;
}

nas_status nas_supernet_truth_write(const char *path, const nas_supernet_truth *t, const nas_supernet_config *c,
                                    nas_arch *const *archs, int n, nas_error *err) {
    cJSON *o = cJSON_CreateObject(), *d = cJSON_AddObjectToObject(o, "data");
    cJSON *cands = cJSON_AddArrayToObject(o, "candidates");
    int ok = o && d && cands && cJSON_AddNumberToObject(o, "archs", n) &&
             cJSON_AddNumberToObject(o, "train_epochs", t->epochs) &&
             cJSON_AddNumberToObject(o, "train_seeds", t->seeds) &&
             cJSON_AddNumberToObject(o, "train_batch", t->train_batch) &&
             cJSON_AddStringToObject(d, "spec", c->data_spec) &&
             cJSON_AddNumberToObject(d, "train_fraction", t->train_fraction) &&
             cJSON_AddNumberToObject(d, "val_fraction", c->val_fraction) &&
             cJSON_AddNumberToObject(d, "seed", (double)c->data_seed);
    for (int i = 0; ok && i < n; i++) {
        char hash[17];
        snprintf(hash, sizeof hash, "%016llx", (unsigned long long)nas_arch_hash(archs[i]));
        cJSON *a = cJSON_CreateObject();
        if (!a || !cJSON_AddItemToArray(cands, a)) {
            cJSON_Delete(a);
            ok = 0;
            break;
        }
        cJSON *sa = NULL;
        ok = cJSON_AddStringToObject(a, "arch_hash", hash) &&
             (sa = cJSON_AddArrayToObject(a, "standalone_seed_accuracies"));
        if (ok && t->have[i] > 0) ok = cJSON_AddNumberToObject(a, "standalone_val_accuracy", t->acc[i]) != NULL;
        for (int j = 0; ok && j < t->have[i]; j++) {
            cJSON *v = cJSON_CreateNumber(t->seed_acc[i * t->seeds + j]);
            ok = v && cJSON_AddItemToArray(sa, v);
        }
        if (ok && archs[i]->point_json) {
            cJSON *p = cJSON_Parse(archs[i]->point_json);
            ok = p && cJSON_AddItemToObject(a, "point", p);
        }
    }
    char *text = ok ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!text) return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory writing the stand-alone accuracies", path);
    nas_status s = nas_file_write_atomic(path, text, strlen(text), err);
    free(text);
    return s;
}

nas_status nas_supernet_truth_reserve(nas_supernet_truth *t, int n, int seeds, nas_error *err) {
    if (t->acc && t->seed_acc && t->have && seeds <= t->seeds) return NAS_OK;
    if (!t->acc) t->acc = calloc(n > 0 ? (size_t)n : 1, sizeof *t->acc);
    if (!t->have) t->have = calloc(n > 0 ? (size_t)n : 1, sizeof *t->have);
    int k = seeds > t->seeds ? seeds : t->seeds;
    double *more = calloc(n > 0 ? (size_t)n * (size_t)k : 1, sizeof *more);
    if (!t->acc || !t->have || !more) {
        free(more);
        return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory for %d x %d stand-alone accuracies", n, k);
    }
    for (int i = 0; t->seed_acc && i < n; i++)
        memcpy(more + (size_t)i * k, t->seed_acc + (size_t)i * t->seeds, (size_t)t->have[i] * sizeof *more);
    free(t->seed_acc);
    t->seed_acc = more;
    t->seeds = k;
    return NAS_OK;
}

void nas_supernet_truth_deinit(nas_supernet_truth *t) {
    free(t->acc);
    free(t->seed_acc);
    free(t->have);
    memset(t, 0, sizeof *t);
}
