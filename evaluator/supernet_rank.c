/*
 * supernet_rank.c - reading the stand-alone accuracies of an earlier
 * ranking (`nas supernet rank --json`), so that another supernet is ranked
 * against the same ground truth without training again (see supernet.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "evaluator/supernet.h"

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
    cJSON *o = cJSON_ParseWithLength(json, len);
    const cJSON *d = item(o, "data"), *spec = item(d, "spec"), *tf = item(d, "train_fraction");
    const cJSON *vf = item(d, "val_fraction"), *ds = item(d, "seed"), *ks = item(o, "train_seeds");
    const cJSON *ep = item(o, "train_epochs"), *cands = item(o, "candidates");
    if (!o || !cJSON_IsString(spec) || !cJSON_IsNumber(tf) || !cJSON_IsNumber(vf) || !cJSON_IsNumber(ds) ||
        !(ds->valuedouble >= 0 && ds->valuedouble < 1.8e19) || !cJSON_IsNumber(ks) ||
        !(ks->valuedouble >= 1 && ks->valuedouble <= 100) || !cJSON_IsNumber(ep) ||
        !(ep->valuedouble >= 1 && ep->valuedouble <= 1e6) || !cJSON_IsArray(cands)) {
        s = NAS_FAIL(err, NAS_ERR_FORMAT,
                     "%s: not the output of `nas supernet rank --json` (expected data {spec, train_fraction, "
                     "val_fraction, seed}, train_seeds 1..100, train_epochs and candidates)",
                     source);
        goto done;
    }
    if (strcmp(spec->valuestring, c->data_spec) || tf->valuedouble != c->train_fraction ||
        vf->valuedouble != c->val_fraction || (uint64_t)ds->valuedouble != c->data_seed) {
        s = NAS_FAIL(err, NAS_ERR_INVALID,
                     "%s: data: its stand-alone accuracies come from '%s' (train fraction %g, val fraction %g, "
                     "seed %.0f), the supernet's split is '%s' (%g, %g, %llu)",
                     source, spec->valuestring, tf->valuedouble, vf->valuedouble, ds->valuedouble, c->data_spec,
                     c->train_fraction, c->val_fraction, (unsigned long long)c->data_seed);
        goto done;
    }
    out->seeds = (int)ks->valuedouble;
    out->epochs = (int)ep->valuedouble;
    out->acc = calloc(n > 0 ? (size_t)n : 1, sizeof *out->acc);
    out->seed_acc = calloc(n > 0 ? (size_t)n * (size_t)out->seeds : 1, sizeof *out->seed_acc);
    if (!out->acc || !out->seed_acc) {
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
        if (!cJSON_IsArray(sa) || cJSON_GetArraySize(sa) != out->seeds) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: arch %s: standalone_seed_accuracies: expected %d number%s",
                         source, want, out->seeds, out->seeds > 1 ? "s" : "");
            goto done;
        }
        const cJSON *v = sa->child;
        for (int j = 0; j < out->seeds; j++, v = v->next) {
            if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1)) {
                s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: arch %s: standalone_seed_accuracies[%d]: expected 0..1",
                             source, want, j);
                goto done;
            }
            out->seed_acc[i * out->seeds + j] = v->valuedouble;
            out->acc[i] += v->valuedouble / out->seeds;
        }
    }
done:
    cJSON_Delete(o);
    if (s != NAS_OK) nas_supernet_truth_deinit(out);
    return s;
}

void nas_supernet_truth_deinit(nas_supernet_truth *t) {
    free(t->acc);
    free(t->seed_acc);
    memset(t, 0, sizeof *t);
}
