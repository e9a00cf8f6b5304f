/*
 * cmd_cost.c - `nas cost A.json [--batch B] [--optimizer NAME] [--nodes] [--json]`:
 * prints the analytic costs of an arch (evaluator/cost.h). It does not run
 * the network; `nas latency` does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/cost.h"
#include "evaluator/train.h"
#include "nas/cli/cli.h"
#include "nas/core/arch.h"

static void cost_usage(FILE *out) {
    fprintf(out,
            "usage: nas cost A.json [--batch B] [--optimizer sgd|momentum|adam] [--nodes] [--json]\n"
            "\n"
            "Analytic costs of an arch: MACs and FLOPs (FLOPs = 2 x MACs, per image),\n"
            "parameters (trainable, and total with BatchNorm running statistics),\n"
            "inference memory (float32 weights + peak live activations, at batch 1\n"
            "and at --batch) and a training memory estimate at --batch (weights,\n"
            "gradients, optimizer state, saved activations). docs/cost.md says what\n"
            "each number counts.\n"
            "\n"
            "  --batch B        batch of the memory figures (default 1)\n"
            "  --optimizer O    optimizer state in the training estimate: sgd (plain, 0\n"
            "                   buffers), momentum (1), adam (2); default: what `nas train`\n"
            "                   uses for the arch (its hyperparameters optimizer and momentum;\n"
            "                   none: SGD with momentum, 1 buffer)\n"
            "  --nodes          add the per-node table (or the \"nodes\" array with --json)\n"
            "  --json           one JSON object: macs, flops, params, memory_bytes,\n"
            "                   train_memory_bytes, ...\n");
}

int cmd_cost(int argc, char **argv, const nas_logger *lg) {
    const char *path = NULL, *optim_name = NULL;
    long batch = 1;
    int json = 0, nodes = 0, rc = CLI_EXIT_ERROR;
    nas_arch *a = NULL;
    nas_cost c;
    nas_error err;
    char *text = NULL;
    (void)lg;
    memset(&c, 0, sizeof c);
    nas_error_clear(&err);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            cost_usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(s, "--json")) {
            json = 1;
        } else if (!strcmp(s, "--nodes")) {
            nodes = 1;
        } else if (!strcmp(s, "--batch")) {
            if (!cli_parse_long("cost", "--batch", i + 1 < argc ? argv[++i] : NULL, &batch))
                return CLI_EXIT_USAGE;
            if (batch < 1 || batch > 1000000)
                return cli_usage_error("cost", "--batch must be in 1..1000000, got %ld", batch);
        } else if (!strcmp(s, "--optimizer")) {
            if (i + 1 >= argc) return cli_usage_error("cost", "--optimizer needs a value");
            optim_name = argv[++i];
            if (nas_cost_optim_parse(optim_name) < 0)
                return cli_usage_error("cost", "--optimizer: expected sgd, momentum or adam, got '%s'",
                                       optim_name);
        } else if (s[0] == '-' && s[1]) {
            return cli_usage_error("cost", "unknown option '%s'", s);
        } else if (path) {
            return cli_usage_error("cost", "one arch file expected, got '%s' and '%s'", path, s);
        } else {
            path = s;
        }
    }
    if (!path) return cli_usage_error("cost", "missing the arch file (A.json)");
    if (nas_arch_load(path, &a, &err) != NAS_OK) goto fail;
    nas_cost_optim optim = NAS_COST_OPTIM_MOMENTUM;
    if (optim_name) {
        optim = (nas_cost_optim)nas_cost_optim_parse(optim_name);
    } else {
        /* what `nas train` would train this arch with: its hyperparameters
           optimizer and momentum over the trainer's defaults (SGD momentum
           0.9); an unknown optimizer name keeps the default */
        nas_train_config tc;
        nas_train_config_default(&tc);
        const nas_hparam *ho = nas_arch_hparam(a, "optimizer"), *hm = nas_arch_hparam(a, "momentum");
        nas_optim_kind kind = tc.optim.kind;
        nas_error ignored;
        if (ho && ho->str && nas_optim_kind_parse(ho->str, &kind, &ignored)) kind = tc.optim.kind;
        double momentum = hm && !hm->str ? hm->num : tc.optim.momentum;
        optim = kind != NAS_OPTIM_SGD ? NAS_COST_OPTIM_ADAM : momentum > 0 ? NAS_COST_OPTIM_MOMENTUM : NAS_COST_OPTIM_SGD;
    }
    if (nas_cost_compute(a, (int)batch, optim, &c, &err) != NAS_OK) {
        nas_error_prefix(&err, "%s", path);
        goto fail;
    }
    if (json) {
        if (nas_cost_to_json(a, &c, nodes, &text, &err) != NAS_OK) goto fail;
        printf("%s\n", text);
    } else {
        nas_cost_print(a, &c, nodes, stdout);
    }
    rc = CLI_EXIT_OK;
    goto done;
fail:
    rc = cli_fail(&err);
done:
    free(text);
    nas_cost_deinit(&c);
    nas_arch_destroy(a);
    return rc;
}
