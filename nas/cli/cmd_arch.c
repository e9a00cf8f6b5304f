/* cmd_arch.c - `nas arch show ARCH.json [--json]`: an arch as a readable table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nas/cli/cli.h"
#include "nas/core/arch.h"

static void arch_usage(FILE *out) {
    fprintf(out,
            "usage: nas arch show ARCH.json [--json]\n"
            "\n"
            "Loads and checks an arch.json (docs/formats.md) and prints the network as\n"
            "a table: node, op, inputs, parameters, output shape, scope; then the\n"
            "hyperparameters. --json prints the checked arch back as JSON.\n");
}

int cmd_arch(int argc, char **argv, const nas_logger *lg) {
    (void)lg;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        arch_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "show")) return cli_usage_error("arch", "unknown subcommand '%s'", argv[1]);
    const char *path = NULL;
    int json = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            arch_usage(stdout);
            return CLI_EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("arch show", "unknown option '%s'", argv[i]);
        else if (path) return cli_usage_error("arch show", "one ARCH.json only");
        else path = argv[i];
    }
    if (!path) return cli_usage_error("arch show", "missing ARCH.json");
    nas_error err = {0};
    nas_arch *a = NULL;
    if (nas_arch_load(path, &a, &err)) return cli_fail(&err);
    if (json) {
        char *text = NULL;
        if (nas_arch_to_json(a, &text, &err)) {
            nas_arch_destroy(a);
            return cli_fail(&err);
        }
        printf("%s\n", text);
        free(text);
    } else {
        nas_arch_print(a, stdout);
    }
    nas_arch_destroy(a);
    return CLI_EXIT_OK;
}
