/*
 * cmd_space.c - `nas space check|show|sample|enumerate`: compile a .nas file,
 * print its decisions (text or JSON), sample realized archs, enumerate points.
 * Compiler diagnostics go to stderr; results to stdout. Exit status 0 on
 * success, 1 on a bad space or a failed operation, 2 on a usage error.
 * It does not search: see the search commands.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nas/cli/cli.h"
#include "nas/core/fileio.h"
#include "searchspace/space.h"

static const char *USAGE =
    "usage: nas space <subcommand> FILE [options]\n"
    "\n"
    "Compiles a search space written in the .nas language (docs/language.md).\n"
    "\n"
    "subcommands:\n"
    "  check FILE                   compile; print a one-line summary or the diagnostics\n"
    "  show FILE [--json]           decisions (name, domain, condition), size,\n"
    "                               hyperparameters, constraints and objectives\n"
    "  sample FILE [-n N] [--seed S] [-o DIR] [--input CxHxW]\n"
    "                               N random points realized as arch.json (one JSON\n"
    "                               line each on stdout, or DIR/arch_0000.json ...)\n"
    "  enumerate FILE [--limit N]   every point of a finite space, one JSON line each\n"
    "\n"
    "`nas space <subcommand> --help` describes one subcommand.\n"
    "Exit status: 0 success, 1 error (bad space), 2 usage error.\n";

static const char *HELP_CHECK =
    "usage: nas space check FILE\n"
    "\n"
    "Compiles FILE. On success prints one line: the space name, the number of\n"
    "decisions and hyperparameters, and the cardinality (or log10 size when the\n"
    "space has float domains). On failure prints every diagnostic as\n"
    "file:line:col: error: message, the source line and a caret, and exits 1.\n";

static const char *HELP_SHOW =
    "usage: nas space show FILE [--json]\n"
    "\n"
    "Prints the decisions table (name, domain, condition), the number of\n"
    "decisions, the cardinality (exact digits) or log10 size, the constraints and\n"
    "the objectives. With --json prints one JSON object with the keys name,\n"
    "hash, input, classes, decisions (array of {name, domain, condition, hparam}),\n"
    "n_decisions, cardinality (string of digits, or null when continuous),\n"
    "log10_size, hparams, constraints and objectives.\n";

static const char *HELP_SAMPLE =
    "usage: nas space sample FILE [-n N] [--seed S] [-o DIR] [--input CxHxW]\n"
    "\n"
    "Draws N (default 1) uniform random points and realizes each into an arch.\n"
    "Without -o prints one arch JSON per line on stdout; with -o writes\n"
    "DIR/arch_0000.json, DIR/arch_0001.json, ... The same seed (default 0) gives\n"
    "the same output. --input replaces the space's input shape (e.g. 3x32x32).\n"
    "A point whose network is impossible (shape error) is redrawn, up to 100\n"
    "times per arch.\n";

static const char *HELP_ENUMERATE =
    "usage: nas space enumerate FILE [--limit N]\n"
    "\n"
    "Prints every canonical point of a finite space, one JSON object per line, in\n"
    "a stable order (last decision fastest), at most N when --limit is given.\n"
    "A space with a float domain cannot be enumerated (exit 1).\n";

static int wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}

static int compile(const char *path, ss_space **s) {
    nas_error err = {0};
    if (ss_space_compile_file(path, stderr, s, &err)) {
        if (err.code == NAS_ERR_IO) return cli_fail(&err);
        fprintf(stderr, "nas space: %s failed to compile\n", path);
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

static int cmd_check(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(HELP_CHECK, stdout);
        return CLI_EXIT_OK;
    }
    if (argc != 2) return cli_usage_error("space check", "expected exactly one FILE");
    ss_space *s;
    int rc = compile(argv[1], &s);
    if (rc) return rc;
    char digits[256];
    double lg;
    int nh = 0;
    for (int i = 0; i < s->n_decisions; i++) nh += s->decisions[i].is_hparam != 0;
    int finite = ss_space_cardinality(s, digits, sizeof digits, &lg);
    printf("%s: space %s ok: %d decisions (%d hyperparameter%s), ", argv[1], s->name,
           s->n_decisions, nh, nh == 1 ? "" : "s");
    if (finite == 1) printf("cardinality %s\n", digits);
    else if (finite == 0) printf("continuous, log10 size of the discrete part %.2f\n", lg);
    else printf("cardinality about 10^%.2f\n", lg);
    ss_space_destroy(s);
    return CLI_EXIT_OK;
}

static cJSON *domain_json(const ss_domain *d) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (d->kind == SS_DOMAIN_CHOICE) {
        cJSON_AddStringToObject(o, "type", "choice");
        cJSON *opts = cJSON_AddArrayToObject(o, "options");
        for (int i = 0; opts && i < d->n; i++)
            cJSON_AddItemToArray(opts, isnan(d->nums[i]) ? cJSON_CreateString(d->labels[i])
                                                         : cJSON_CreateNumber(d->nums[i]));
    } else if (d->kind == SS_DOMAIN_INT) {
        cJSON_AddStringToObject(o, "type", "int");
        cJSON_AddNumberToObject(o, "lo", (double)d->lo);
        cJSON_AddNumberToObject(o, "hi", (double)d->hi);
    } else {
        cJSON_AddStringToObject(o, "type", "float");
        cJSON_AddNumberToObject(o, "lo", d->flo);
        cJSON_AddNumberToObject(o, "hi", d->fhi);
        cJSON_AddStringToObject(o, "scale", d->scale == SS_SCALE_LOG           ? "log"
                                            : d->scale == SS_SCALE_REVERSE_LOG ? "reverse_log"
                                                                               : "linear");
    }
    return o;
}

static cJSON *cond_json(const ss_space *s, const ss_decision *d) {
    if (d->cond.parent < 0) return cJSON_CreateNull();
    const ss_decision *p = &s->decisions[d->cond.parent];
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "parent", p->name);
    if (p->dom.kind == SS_DOMAIN_CHOICE) {
        cJSON *vals = cJSON_AddArrayToObject(o, "values");
        for (int i = 0; vals && i < p->dom.n; i++)
            if (!d->cond.allowed || d->cond.allowed[i])
                cJSON_AddItemToArray(vals, isnan(p->dom.nums[i])
                                               ? cJSON_CreateString(p->dom.labels[i])
                                               : cJSON_CreateNumber(p->dom.nums[i]));
    } else {
        cJSON_AddNumberToObject(o, "lo", (double)d->cond.lo);
        cJSON_AddNumberToObject(o, "hi", (double)d->cond.hi);
    }
    return o;
}

static int show_json(const ss_space *s) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return CLI_EXIT_ERROR;
    cJSON_AddStringToObject(root, "name", s->name);
    cJSON_AddStringToObject(root, "hash", s->hash);
    if (s->in_c) {
        cJSON *in = cJSON_AddArrayToObject(root, "input");
        cJSON_AddItemToArray(in, cJSON_CreateNumber(s->in_c));
        cJSON_AddItemToArray(in, cJSON_CreateNumber(s->in_h));
        cJSON_AddItemToArray(in, cJSON_CreateNumber(s->in_w));
        cJSON_AddNumberToObject(root, "classes", s->classes);
    } else {
        cJSON_AddNullToObject(root, "input");
        cJSON_AddNullToObject(root, "classes");
    }
    cJSON_AddNumberToObject(root, "n_decisions", s->n_decisions);
    cJSON *decs = cJSON_AddArrayToObject(root, "decisions");
    cJSON *hps = cJSON_CreateArray();
    for (int i = 0; i < s->n_decisions; i++) {
        const ss_decision *d = &s->decisions[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", d->name);
        cJSON_AddItemToObject(o, "domain", domain_json(&d->dom));
        cJSON_AddItemToObject(o, "condition", cond_json(s, d));
        cJSON_AddBoolToObject(o, "hparam", d->is_hparam != 0);
        cJSON_AddItemToArray(decs, o);
        if (d->is_hparam) cJSON_AddItemToArray(hps, cJSON_CreateString(d->name));
    }
    char digits[4096];
    double lg;
    int finite = ss_space_cardinality(s, digits, sizeof digits, &lg);
    if (finite == 1) cJSON_AddStringToObject(root, "cardinality", digits);
    else cJSON_AddNullToObject(root, "cardinality");
    cJSON_AddNumberToObject(root, "log10_size", round(lg * 1e6) / 1e6);
    cJSON_AddItemToObject(root, "hparams", hps);
    cJSON *cons = cJSON_AddArrayToObject(root, "constraints");
    static const char *CMP[] = {"<=", "<", ">=", ">"};
    for (int i = 0; i < s->n_constraints; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "metric", s->constraints[i].metric);
        cJSON_AddStringToObject(o, "cmp", CMP[s->constraints[i].cmp]);
        cJSON_AddNumberToObject(o, "value", s->constraints[i].value);
        cJSON_AddStringToObject(o, "text", s->constraints[i].text);
        cJSON_AddItemToArray(cons, o);
    }
    cJSON *objs = cJSON_AddArrayToObject(root, "objectives");
    for (int i = 0; i < s->n_objectives; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "metric", s->objectives[i].metric);
        cJSON_AddStringToObject(o, "goal", s->objectives[i].maximize ? "maximize" : "minimize");
        cJSON_AddItemToArray(objs, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "nas: error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    printf("%s\n", text);
    free(text);
    return CLI_EXIT_OK;
}

static int cmd_show(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(HELP_SHOW, stdout);
        return CLI_EXIT_OK;
    }
    const char *file = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (argv[i][0] == '-') return cli_usage_error("space show", "unknown option '%s'", argv[i]);
        else if (file) return cli_usage_error("space show", "expected one FILE, got '%s' too", argv[i]);
        else file = argv[i];
    }
    if (!file) return cli_usage_error("space show", "missing FILE");
    ss_space *s;
    int rc = compile(file, &s);
    if (rc) return rc;
    if (json) rc = show_json(s);
    else ss_space_print(s, stdout);
    ss_space_destroy(s);
    return rc;
}

/* "CxHxW": digits and two 'x' only (sscanf alone takes " 3x-1x 8"), each
 * dimension >= 1. */
static int parse_shape(const char *text, int *c, int *h, int *w) {
    char tail;
    if (!text || strspn(text, "0123456789x") != strlen(text)) return 0;
    return sscanf(text, "%dx%dx%d%c", c, h, w, &tail) == 3 && *c > 0 && *h > 0 && *w > 0;
}

/* Prints or saves one arch; returns an exit status. */
static int emit_arch(const nas_arch *a, const char *dir, long index) {
    nas_error err = {0};
    if (dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/arch_%04ld.json", dir, index);
        if (nas_arch_save(a, path, &err)) return cli_fail(&err);
        return CLI_EXIT_OK;
    }
    char *text;
    if (nas_arch_to_json(a, &text, &err)) return cli_fail(&err);
    cJSON *j = cJSON_Parse(text);
    free(text);
    char *line = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!line) {
        fprintf(stderr, "nas: error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    printf("%s\n", line);
    free(line);
    return CLI_EXIT_OK;
}

static int cmd_sample(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(HELP_SAMPLE, stdout);
        return CLI_EXIT_OK;
    }
    const char *file = NULL, *dir = NULL, *input = NULL;
    long n = 1, seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-n")) {
            if (!cli_parse_long("space sample", "-n", v, &n)) return CLI_EXIT_USAGE;
            if (n < 0) return cli_usage_error("space sample", "-n must be >= 0, got %ld", n);
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (!cli_parse_seed("space sample", "--seed", v, &seed)) return CLI_EXIT_USAGE;
            i++;
        } else if (!strcmp(a, "-o")) {
            if (!v) return cli_usage_error("space sample", "-o needs a directory");
            dir = v;
            i++;
        } else if (!strcmp(a, "--input")) {
            int c, h, w;
            if (!parse_shape(v, &c, &h, &w))
                return cli_usage_error("space sample", "--input expects CxHxW, e.g. 3x32x32");
            input = v;
            i++;
        } else if (a[0] == '-') {
            return cli_usage_error("space sample", "unknown option '%s'", a);
        } else if (file) {
            return cli_usage_error("space sample", "expected one FILE, got '%s' too", a);
        } else {
            file = a;
        }
    }
    if (!file) return cli_usage_error("space sample", "missing FILE");
    ss_space *s;
    int rc = compile(file, &s);
    if (rc) return rc;
    nas_error err = {0};
    double *pt = ss_point_alloc(s);
    if (!pt) {
        ss_space_destroy(s);
        fprintf(stderr, "nas: error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    if (input) {
        int c, h, w;
        parse_shape(input, &c, &h, &w);
        if (ss_space_set_input(s, c, h, w, &err)) {
            rc = cli_fail(&err);
            goto done;
        }
    }
    if (dir && nas_mkdir_p(dir, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    pcg32 rng;
    pcg32_seed(&rng, (uint64_t)seed, 0x6e6173);
    for (long k = 0; k < n && rc == CLI_EXIT_OK; k++) {
        nas_arch *a = NULL;
        nas_status st = NAS_ERR_INVALID;
        for (int tries = 0; tries < 100 && st; tries++) {
            ss_space_sample(s, &rng, pt);
            st = ss_space_realize(s, pt, &a, &err);
        }
        if (st) {
            rc = cli_fail(&err);
            break;
        }
        rc = emit_arch(a, dir, k);
        nas_arch_destroy(a);
    }
done:
    free(pt);
    ss_space_destroy(s);
    return rc;
}

typedef struct enum_state {
    const ss_space *s;
    int failed;
} enum_state;

static int print_point(void *user, const double *point) {
    enum_state *st = user;
    char *json = ss_point_to_json(st->s, point);
    if (!json) {
        st->failed = 1;
        return 1;
    }
    printf("%s\n", json);
    free(json);
    return 0;
}

static int cmd_enumerate(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        fputs(HELP_ENUMERATE, stdout);
        return CLI_EXIT_OK;
    }
    const char *file = NULL;
    long limit = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--limit")) {
            if (!cli_parse_long("space enumerate", "--limit", i + 1 < argc ? argv[i + 1] : NULL,
                                &limit))
                return CLI_EXIT_USAGE;
            if (limit < 0)
                return cli_usage_error("space enumerate", "--limit must be >= 0, got %ld", limit);
            i++;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("space enumerate", "unknown option '%s'", argv[i]);
        } else if (file) {
            return cli_usage_error("space enumerate", "expected one FILE, got '%s' too", argv[i]);
        } else {
            file = argv[i];
        }
    }
    if (!file) return cli_usage_error("space enumerate", "missing FILE");
    ss_space *s;
    int rc = compile(file, &s);
    if (rc) return rc;
    enum_state st = {s, 0};
    nas_error err = {0};
    if (ss_space_enumerate(s, limit, print_point, &st, &err)) rc = cli_fail(&err);
    else if (st.failed) rc = CLI_EXIT_ERROR;
    ss_space_destroy(s);
    return rc;
}

int cmd_space(int argc, char **argv, const nas_logger *lg) {
    (void)lg;
    if (argc < 2) {
        fputs(USAGE, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
        fputs(USAGE, stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(sub, "check")) return cmd_check(argc - 1, argv + 1);
    if (!strcmp(sub, "show")) return cmd_show(argc - 1, argv + 1);
    if (!strcmp(sub, "sample")) return cmd_sample(argc - 1, argv + 1);
    if (!strcmp(sub, "enumerate")) return cmd_enumerate(argc - 1, argv + 1);
    return cli_usage_error("space", "unknown subcommand '%s' (check, show, sample, enumerate)", sub);
}
