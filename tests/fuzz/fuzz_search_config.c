/*
 * fuzz_search_config.c - libFuzzer target for the job file of `nas search
 * --config FILE` (cli_search_config_apply, nas/cli/cmd_search.c): a JSON
 * object whose keys are search flags. Every input is applied or refused
 * with a message; never a crash, a leak or undefined behaviour, and an
 * accepted file leaves every numeric option inside its flag's range (the
 * limits it does not give stay NAS_SEARCH_UNSET).
 * Messages go to stderr (run with -close_fd_mask=2 to silence them).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include <cJSON.h>

#include "nas/cli/cli.h"
#include "nas/core/json.h"
#include "nas/search/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nas_search_options o;
    nas_search_options_default(&o);
    cJSON *keep = NULL;
    int ok = cli_search_config_apply(&o, (const char *)data, size, "fuzz.json", &keep);
    if (ok) {
        /* the limits not given stay NAS_SEARCH_UNSET (a new study fills the defaults in) */
#define LIMIT_BAD(v, bad) ((v) != NAS_SEARCH_UNSET && (bad))
        if (LIMIT_BAD(o.max_trials, o.max_trials < 1) ||
            LIMIT_BAD(o.parallel_trials, o.parallel_trials < 1 || o.parallel_trials > 64) ||
            LIMIT_BAD(o.max_failed_trials, o.max_failed_trials < 1) ||
            LIMIT_BAD(o.time_budget_s, !(o.time_budget_s >= 0) || !isfinite(o.time_budget_s)) ||
            LIMIT_BAD(o.trial_timeout_s, !(o.trial_timeout_s >= 0)) ||
            !(o.proxy_fraction > 0 && o.proxy_fraction <= 1) || o.supernet_batch < 1 || o.final_top_k < 0 ||
            (double)o.seed > NAS_SEED_MAX ||
            o.n_objectives > NAS_SEARCH_MAX_OBJECTIVES || o.n_constraints > NAS_SEARCH_MAX_CONSTRAINTS)
            abort();
#undef LIMIT_BAD
        for (int i = 0; i < o.n_objectives; i++)
            if (!o.objectives[i]) abort();
    }
    cJSON_Delete(keep);
    return 0;
}
