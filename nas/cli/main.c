/*
 * main.c - `nas`: dispatches to subcommands. Global flags (before the
 * subcommand): -v/--verbose, -q/--quiet, --version, -h/--help.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nas/cli/cli.h"

typedef struct cli_cmd {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} cli_cmd;

static const cli_cmd COMMANDS[] = {
    {"search", cmd_search, "run (or resume) a search job on a space"},
    {"trials", cmd_trials, "list the trials of a study (table, --json, --csv)"},
    {"export", cmd_export, "write one trial's arch.json, weights and metrics to a directory"},
    {"report", cmd_report, "write a self-contained HTML report of a study"},
    {"space", cmd_space, "compile, show, sample and enumerate a search space (.nas)"},
    {"arch", cmd_arch, "show an arch.json as a table"},
    {"train", cmd_train, "train an arch stand-alone on a data set"},
    {"eval", cmd_eval, "score saved weights on the validation or test split"},
    {"supernet", cmd_supernet, "train a weight-sharing supernet, score and rank candidates with it"},
    {"cost", cmd_cost, "analytic MACs, FLOPs, parameters and memory of an arch.json"},
    {"latency", cmd_latency, "measure (oneDNN) or predict (lookup table) an arch's inference latency"},
    {"profile", cmd_profile, "build a latency lookup table for a search space on this machine"},
    {NULL, NULL, NULL},
};

static void usage(FILE *out) {
    fprintf(out,
            "usage: nas [-v|-q] <command> [options]\n"
            "\n"
            "A neural architecture search engine: search spaces in the .nas language,\n"
            "controllers, a weight-sharing supernet trained on CPU with oneDNN, and\n"
            "measured accuracy, latency, MACs, parameters and memory.\n"
            "\n"
            "commands:\n");
    for (const cli_cmd *c = COMMANDS; c->name; c++) fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out,
            "\n"
            "global options:\n"
            "  -v, --verbose   more log lines (debug)\n"
            "  -q, --quiet     only warnings and errors\n"
            "  --version       print the version\n"
            "\n"
            "`nas <command> --help` describes a command. Exit status: 0 success,\n"
            "1 error, 2 usage error.\n");
}

int main(int argc, char **argv) {
    nas_logger lg = {NAS_LOG_INFO, stderr};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            lg.level = NAS_LOG_DEBUG;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            lg.level = NAS_LOG_WARN;
        } else if (!strcmp(a, "--version")) {
            printf("nas 0.1.0\n");
            return CLI_EXIT_OK;
        } else {
            fprintf(stderr, "nas: unknown option '%s'\n\n", a);
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    for (const cli_cmd *c = COMMANDS; c->name; c++)
        if (!strcmp(argv[i], c->name)) return c->fn(argc - i, argv + i, &lg);
    fprintf(stderr, "nas: unknown command '%s' (see `nas --help`)\n", argv[i]);
    return CLI_EXIT_USAGE;
}
