/*
 * cmd_trials.c - reading a study: `nas trials` (list the trials as a table,
 * JSON or CSV), `nas export` (one trial's arch, weights and metrics) and
 * `nas report` (the HTML report). The work is in nas/search/report.h; this
 * file parses argv and picks the exit status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nas/cli/cli.h"
#include "nas/core/fileio.h"
#include "nas/search/report.h"

/* Matches "--name VALUE" or "--name=VALUE" (or a short alias); advances *i
 * past the value. Returns 1 and sets *val (NULL when the value is missing),
 * 0 when argv[*i] is another flag. */
static int flag_value(int argc, char **argv, int *i, const char *name, const char *alias, const char **val) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (!strncmp(a, name, n) && a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (strcmp(a, name) && (!alias || strcmp(a, alias))) return 0;
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

static int is_help(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

static int load_study(const char *dir, nas_report_study **s) {
    nas_error err = {0};
    if (nas_report_study_load(dir, s, &err)) return cli_fail(&err);
    return CLI_EXIT_OK;
}

/* ---- nas trials ---- */

static void trials_usage(FILE *out) {
    fprintf(out,
            "usage: nas trials DIR [--json|--csv] [--state STATE[,STATE...]] [--sort METRIC[:asc|:desc]]\n"
            "                      [--limit N]\n"
            "\n"
            "Lists the trials of the study in DIR: number, state, every metric (accuracy,\n"
            "latency, MACs, params, memory, reward, ...), stage-2 test accuracy, duration,\n"
            "failure reason and the point.\n"
            "\n"
            "  --json            an array of objects with every field (metrics, stage-2\n"
            "                    metrics, intermediate values, timings, arch, ...)\n"
            "  --csv             a header and one row per trial, one column per metric\n"
            "  --state S         only trials in these states: complete, failed, pruned,\n"
            "                    pending, running (repeat or separate with commas)\n"
            "  --sort M          by a metric (latency = latency_ms), number or duration; best\n"
            "                    first unless :asc or :desc is given; missing values last\n"
            "  --limit N         at most N rows (after sorting)\n");
}

static int parse_states(const char *text, nas_state_mask *mask) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *tok = buf, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = 0;
        nas_trial_state st;
        if (nas_trial_state_from_name(tok, &st, NULL))
            return cli_usage_error("trials",
                                   "--state: unknown state '%s' (complete, failed, pruned, pending or running)", tok);
        *mask |= 1u << st;
    }
    return CLI_EXIT_OK;
}

int cmd_trials(int argc, char **argv, const nas_logger *lg) {
    (void)lg;
    nas_report_list_options o = {0};
    const char *dir = NULL, *val = NULL;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            trials_usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--json") || !strcmp(a, "--csv")) {
            nas_report_format want = !strcmp(a, "--json") ? NAS_REPORT_JSON : NAS_REPORT_CSV;
            if (o.format != NAS_REPORT_TABLE && o.format != want)
                return cli_usage_error("trials", "--json and --csv: one format at a time");
            o.format = want;
        } else if (flag_value(argc, argv, &i, "--state", NULL, &val)) {
            if (!val || !*val) return cli_usage_error("trials", "--state needs a value");
            if ((rc = parse_states(val, &o.states))) return rc;
        } else if (flag_value(argc, argv, &i, "--sort", NULL, &val)) {
            if (!val || !*val) return cli_usage_error("trials", "--sort needs a metric");
            o.sort = val;
        } else if (flag_value(argc, argv, &i, "--limit", NULL, &val)) {
            if (!cli_parse_long("trials", "--limit", val, &o.limit)) return CLI_EXIT_USAGE;
            if (o.limit < 1) return cli_usage_error("trials", "--limit must be >= 1, got %ld", o.limit);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("trials", "unknown option '%s'", a);
        } else if (dir) {
            return cli_usage_error("trials", "one study directory only (got '%s' and '%s')", dir, a);
        } else {
            dir = a;
        }
    }
    if (!dir) {
        trials_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    nas_report_study *s = NULL;
    if ((rc = load_study(dir, &s))) return rc;
    nas_error err = {0};
    rc = nas_report_trials(s, &o, stdout, &err) ? cli_fail(&err) : CLI_EXIT_OK;
    nas_report_study_destroy(s);
    return rc;
}

/* ---- nas export ---- */

static void export_usage(FILE *out) {
    fprintf(out,
            "usage: nas export DIR --trial N -o OUT\n"
            "\n"
            "Writes trial N of the study in DIR to the directory OUT: arch.json, its\n"
            "weights (weights.nasw) when stage 2 trained it, and metrics.json (search\n"
            "metrics and stage-2 metrics).\n");
}

int cmd_export(int argc, char **argv, const nas_logger *lg) {
    const char *dir = NULL, *out = NULL, *val = NULL;
    long number = -1;
    int have_trial = 0, rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            export_usage(stdout);
            return CLI_EXIT_OK;
        } else if (flag_value(argc, argv, &i, "--trial", "-t", &val)) {
            if (!cli_parse_long("export", "--trial", val, &number)) return CLI_EXIT_USAGE;
            if (number < 0) return cli_usage_error("export", "--trial must be >= 0, got %ld", number);
            have_trial = 1;
        } else if (flag_value(argc, argv, &i, "--out", "-o", &val)) {
            if (!val || !*val) return cli_usage_error("export", "-o needs a directory");
            out = val;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("export", "unknown option '%s'", a);
        } else if (dir) {
            return cli_usage_error("export", "one study directory only (got '%s' and '%s')", dir, a);
        } else {
            dir = a;
        }
    }
    if (!dir || !have_trial || !out) {
        if (!dir) export_usage(stderr);
        else cli_usage_error("export", "%s", !have_trial ? "missing --trial N" : "missing -o OUT");
        return CLI_EXIT_USAGE;
    }
    nas_report_study *s = NULL;
    if ((rc = load_study(dir, &s))) return rc;
    nas_error err = {0};
    nas_report_export_result res;
    if (nas_report_export(s, number, out, &res, &err)) {
        rc = cli_fail(&err);
    } else {
        printf("%s\n%s\n", res.arch_path, res.metrics_path);
        if (res.weights_path[0]) printf("%s\n", res.weights_path);
        else
            nas_log(lg, NAS_LOG_INFO, "trial %ld: no weights exported (none in %s/final/trial-%ld/ or %s/best/)",
                    number, dir, number, dir);
        rc = CLI_EXIT_OK;
    }
    nas_report_study_destroy(s);
    return rc;
}

/* ---- nas report ---- */

static void report_usage(FILE *out) {
    fprintf(out,
            "usage: nas report DIR [-o FILE]\n"
            "\n"
            "Writes a self-contained HTML page about the study in DIR (default\n"
            "DIR/report.html): summary, best trial or Pareto front, stage-2 results,\n"
            "charts (best so far, accuracy vs latency and vs MACs with the Pareto front,\n"
            "trial durations), every trial and the failures. See docs/report.md.\n");
}

int cmd_report(int argc, char **argv, const nas_logger *lg) {
    (void)lg;
    const char *dir = NULL, *out = NULL, *val = NULL;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            report_usage(stdout);
            return CLI_EXIT_OK;
        } else if (flag_value(argc, argv, &i, "--out", "-o", &val)) {
            if (!val || !*val) return cli_usage_error("report", "-o needs a file name");
            out = val;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("report", "unknown option '%s'", a);
        } else if (dir) {
            return cli_usage_error("report", "one study directory only (got '%s' and '%s')", dir, a);
        } else {
            dir = a;
        }
    }
    if (!dir) {
        report_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    nas_report_study *s = NULL;
    if ((rc = load_study(dir, &s))) return rc;
    size_t n = strlen(dir) + sizeof "/report.html";
    char *path = out ? NULL : malloc(n);
    if (!out && path) snprintf(path, n, "%s/report.html", dir);
    nas_error err = {0};
    if (!out && !path) {
        fprintf(stderr, "nas: error: out of memory\n");
        rc = CLI_EXIT_ERROR;
    } else if (nas_file_check_writable(out ? out : path, &err) || nas_report_html_save(s, out ? out : path, &err)) {
        rc = cli_fail(&err);
    } else {
        printf("%s\n", out ? out : path);
        rc = CLI_EXIT_OK;
    }
    free(path);
    nas_report_study_destroy(s);
    return rc;
}
