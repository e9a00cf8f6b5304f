/*
 * cli.h - the nas command line: subcommand entry points and shared helpers.
 *
 * nas/cli is the only place that parses argv or decides the exit status:
 *   0 success, 1 user error (bad file, bad value, failed job), 2 usage error.
 * Each subcommand is `int cmd_<name>(int argc, char **argv, const nas_logger *lg)`
 * where argv[0] is the subcommand's own name; it returns the exit status.
 */
#ifndef NAS_CLI_CLI_H
#define NAS_CLI_CLI_H

#include <limits.h>
#include <math.h>

#include "nas/core/log.h"
#include "nas/core/status.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2

typedef int (*cli_cmd_fn)(int argc, char **argv, const nas_logger *lg);

/* Prints "nas: error: <msg>" to stderr and returns the exit status for it
 * (2 for NAS_ERR_USAGE, 1 otherwise). */
int cli_fail(const nas_error *err);
/* Prints "nas <cmd>: <msg>" and a hint to use --help; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a whole decimal integer / number for flag `flag` (no leading
 * space, sign allowed); on failure prints a usage error and returns 0. */
int cli_parse_long(const char *cmd, const char *flag, const char *text, long *out);
/* The value of an integer flag that was not given: no text parses to it, so
 * an explicit `--epochs -1` is checked (and refused) like any other value. */
#define CLI_UNSET LONG_MIN
/* A seed: a whole number in 0..2^53 (NAS_SEED_MAX: seeds are written as JSON
 * numbers and read back exactly); else a usage error naming flag, 0. */
int cli_parse_seed(const char *cmd, const char *flag, const char *text, long *out);
/* A whole finite number: "nan", "inf", "1e999" (out of range), an empty
 * text and trailing characters are refused with a usage error naming flag
 * (returns 0, *out untouched). */
int cli_parse_double(const char *cmd, const char *flag, const char *text, double *out);
/* The value of a number flag that was not given: NaN, which
 * cli_parse_double never returns, so no user value reads as "not given". */
#define CLI_UNSET_NUM NAN
#define cli_num_given(v) (!isnan(v))
/* 0 with a usage error naming flag when v (given) is outside the range the
 * built-in trainer accepts for hyperparameter hparam ("lr", "momentum",
 * "weight_decay", "warmup_epochs": nas_train_hparam_range); 1 when inside
 * or not given. */
int cli_check_hparam(const char *cmd, const char *flag, const char *hparam, double v);

int cmd_space(int argc, char **argv, const nas_logger *lg);
int cmd_arch(int argc, char **argv, const nas_logger *lg);
int cmd_train(int argc, char **argv, const nas_logger *lg);
int cmd_eval(int argc, char **argv, const nas_logger *lg);
int cmd_supernet(int argc, char **argv, const nas_logger *lg);
int cmd_search(int argc, char **argv, const nas_logger *lg);
/* The job file of `nas search --config` (text[0..len), named path in
 * messages), applied onto o as if each key were its flag: 1 when every key
 * is an option and every value passes the flag's checks, else 0 with the
 * message printed. The strings o points to live in *keep (cJSON_Delete it
 * after the search; set on success and failure alike). */
struct cJSON;
struct nas_search_options;
int cli_search_config_apply(struct nas_search_options *o, const char *text, size_t len, const char *path,
                            struct cJSON **keep);
int cmd_trials(int argc, char **argv, const nas_logger *lg);
int cmd_export(int argc, char **argv, const nas_logger *lg);
int cmd_report(int argc, char **argv, const nas_logger *lg);
int cmd_cost(int argc, char **argv, const nas_logger *lg);
int cmd_latency(int argc, char **argv, const nas_logger *lg);
int cmd_profile(int argc, char **argv, const nas_logger *lg);

#endif
