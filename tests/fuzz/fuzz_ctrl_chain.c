/*
 * fuzz_ctrl_chain.c - libFuzzer target for the controller state a study
 * stores: a whole state, then deltas (ctrl_save, ctrl_mark_saved,
 * ctrl_load_chain).
 *
 * The first byte picks the kind, the second seeds the generator; the rest
 * is a script, one byte per step: propose, observe or fail the oldest
 * pending trial, store a whole state (the chain restarts), store a delta,
 * save a delta that is lost (a transaction rolled back: not marked, so the
 * next delta carries it too), or resume (a killed job: the controller is
 * restored from the stored chain and the generator from its last part).
 * At the end the stored chain must load into a fresh controller that
 * matches a whole state saved when the last part was stored: the same
 * counts, and the same next proposal. Then the chain with one byte changed
 * (by the script's last byte) and its checksum made right again must load
 * or fail with a message, never crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "nas/core/pcg32.h"
#include "searchspace/space.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_PARTS = 64, MAX_PENDING = 8 };

static const char SPACE[] = "space fz\n"
                            "hparam op = choice(a, b, c)\n"
                            "hparam width = int(1, 16)\n"
                            "hparam lr = float(1e-4, 1e-1, log)\n"
                            "objective maximize accuracy\n";
static const char *const KINDS[] = {"random", "grid", "evolution", "reinforce", "tpe", "nsga2"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ss_space *space;
    nas_error err;
    nas_error_clear(&err);
    if (!space && ss_space_compile_string("fz.nas", SPACE, sizeof SPACE - 1, NULL, &space, &err) != NAS_OK)
        abort();
    if (size < 2) return 0;
    ctrl_options o = ctrl_options_default();
    o.kind = KINDS[data[0] % (sizeof KINDS / sizeof KINDS[0])];
    o.population = 4;
    o.tournament = 2;
    o.startup_trials = 3;
    ctrl *c = NULL, *d = NULL, *e = NULL;
    if (ctrl_create(space, &o, &c, &err) != NAS_OK) abort();
    pcg32 rng, stored_rng;
    pcg32_seed(&rng, data[1], 1);
    unsigned char *parts[MAX_PARTS], *ref = NULL;
    size_t lens[MAX_PARTS], ref_len = 0;
    int n = 0, np = 0, nd = space->n_decisions;
    double pending[MAX_PENDING][8];
    int stored[MAX_PENDING]; /* the proposal is in the stored chain */
    for (size_t i = 2; i < size; i++) {
        int op = data[i] % 7;
        if (op <= 1 && np < MAX_PENDING) { /* propose */
            nas_status s = ctrl_propose(c, &rng, pending[np], &err);
            if (s == NAS_OK) stored[np++] = 0;
            else if (s != NAS_ERR_EXHAUSTED) abort();
        } else if (op == 2 && np > 0) { /* observe or fail the oldest */
            double r = (double)(data[i] >> 3) / 32.0;
            nas_status s = data[i] & 0x80 ? ctrl_observe_failed(c, pending[0], &err)
                                          : ctrl_observe(c, pending[0], &r, &err);
            if (s != NAS_OK) abort();
            memmove(pending, pending + 1, (size_t)(np - 1) * sizeof pending[0]);
            memmove(stored, stored + 1, (size_t)(np - 1) * sizeof stored[0]);
            np--;
        } else if (op == 3 || (op == 4 && n < MAX_PARTS)) { /* store a whole state or a delta */
            int delta = op == 4 && n > 0;
            if (!delta) {
                for (int k = 0; k < n; k++) free(parts[k]);
                n = 0;
            }
            if (ctrl_save(c, delta, &parts[n], &lens[n], &err) != NAS_OK) abort();
            n++;
            free(ref);
            if (ctrl_save(c, 0, &ref, &ref_len, &err) != NAS_OK) abort();
            ctrl_mark_saved(c);
            stored_rng = rng;
            for (int k = 0; k < np; k++) stored[k] = 1;
        } else if (op == 5) { /* a delta saved and lost */
            unsigned char *lost = NULL;
            size_t len = 0;
            if (ctrl_save(c, 1, &lost, &len, &err) != NAS_OK) abort();
            free(lost);
        } else if (op == 6 && n > 0) { /* killed and resumed */
            ctrl_destroy(c);
            c = NULL;
            if (ctrl_create(space, &o, &c, &err) != NAS_OK) abort();
            if (ctrl_load_chain(c, n, (const unsigned char *const *)parts, lens, &err) != NAS_OK) __builtin_trap();
            rng = stored_rng;
            int keep = 0; /* proposals after the last stored part are lost */
            for (int k = 0; k < np; k++)
                if (stored[k]) memmove(pending[keep++], pending[k], sizeof pending[0]);
            np = keep;
            /* a trial observed after the last stored part is pending again;
               it is not in `pending` and stays pending */
        }
    }
    if (n > 0) {
        /* what was not stored is lost with the job */
        if (ctrl_create(space, &o, &d, &err) != NAS_OK || ctrl_create(space, &o, &e, &err) != NAS_OK) abort();
        if (ctrl_load_chain(d, n, (const unsigned char *const *)parts, lens, &err) != NAS_OK) __builtin_trap();
        if (ctrl_load(e, ref, ref_len, &err) != NAS_OK) __builtin_trap();
        int pd[3], pe[3];
        if (ctrl_n_trials(d, &pd[0], &pd[1], &pd[2]) != ctrl_n_trials(e, &pe[0], &pe[1], &pe[2]) ||
            memcmp(pd, pe, sizeof pd) != 0)
            __builtin_trap();
        pcg32 r1 = rng, r2 = rng;
        double x1[8], x2[8];
        nas_status s1 = ctrl_propose(d, &r1, x1, &err), s2 = ctrl_propose(e, &r2, x2, &err);
        if (s1 != s2 || (s1 == NAS_OK && memcmp(x1, x2, (size_t)nd * sizeof *x1) != 0)) __builtin_trap();
        /* one byte changed: loads or fails with a message */
        size_t at = data[size - 1] * 977u;
        int k = (int)(at % (size_t)n);
        if (lens[k] > 8) {
            parts[k][at % (lens[k] - 8)] ^= (unsigned char)(1u + data[size - 1] % 255u);
            uint64_t sum = ctrl_part_checksum(parts[k], lens[k] - 8);
            memcpy(parts[k] + lens[k] - 8, &sum, 8);
            nas_error_clear(&err);
            if (ctrl_load_chain(d, n, (const unsigned char *const *)parts, lens, &err) != NAS_OK &&
                err.msg[0] == '\0')
                abort();
        }
    }
    for (int k = 0; k < n; k++) free(parts[k]);
    free(ref);
    ctrl_destroy(c);
    ctrl_destroy(d);
    ctrl_destroy(e);
    return 0;
}
