/*
 * cli.c - helpers shared by the subcommands: error and usage messages,
 * number parsing and range checks for flags (nas/cli/cli.h).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "evaluator/train.h"
#include "nas/cli/cli.h"
#include "nas/core/json.h"

int cli_fail(const nas_error *err) {
    fprintf(stderr, "nas: error: %s\n", err->msg[0] ? err->msg : nas_status_str(err->code));
    return err->code == NAS_ERR_USAGE ? CLI_EXIT_USAGE : CLI_EXIT_ERROR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nas %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see `nas %s --help`)\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_parse_long(const char *cmd, const char *flag, const char *text, long *out) {
    char *end;
    if (!text || !*text) {
        cli_usage_error(cmd, "%s needs a value", flag);
        return 0;
    }
    if (isspace((unsigned char)*text)) { /* strtol would skip it */
        cli_usage_error(cmd, "%s: expected an integer, got '%s'", flag, text);
        return 0;
    }
    errno = 0;
    long v = strtol(text, &end, 10);
    if (*end) {
        cli_usage_error(cmd, "%s: expected an integer, got '%s'", flag, text);
        return 0;
    }
    if (errno == ERANGE) { /* strtol saturates: LONG_MIN would read as CLI_UNSET */
        cli_usage_error(cmd, "%s: %s is out of range", flag, text);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_seed(const char *cmd, const char *flag, const char *text, long *out) {
    long v;
    if (!cli_parse_long(cmd, flag, text, &v)) return 0;
    if (v < 0 || v > (long)NAS_SEED_MAX) { /* compared as integers: 2^53 + 1 rounds to 2^53 */
        cli_usage_error(cmd, "%s must be in 0..%.0f (2^53), got %ld", flag, NAS_SEED_MAX, v);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_double(const char *cmd, const char *flag, const char *text, double *out) {
    char *end;
    if (!text || !*text) {
        cli_usage_error(cmd, "%s needs a value", flag);
        return 0;
    }
    double v = strtod(text, &end);
    if (*end || end == text || isnan(v) || isspace((unsigned char)*text)) {
        cli_usage_error(cmd, "%s: expected a number, got '%s'", flag, text);
        return 0;
    }
    if (!isfinite(v)) { /* "inf", or too large for a double (strtod gives HUGE_VAL) */
        cli_usage_error(cmd, "%s: expected a finite number, got '%s'", flag, text);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_check_hparam(const char *cmd, const char *flag, const char *hparam, double v) {
    double lo, hi;
    NAS_ASSERT(nas_train_hparam_range(hparam, &lo, &hi));
    if (!cli_num_given(v) || (v >= lo && v <= hi)) return 1;
    cli_usage_error(cmd, "%s must be in [%g, %g] (as the hyperparameter %s), got %g", flag, lo, hi, hparam, v);
    return 0;
}
