/*
 * log.h - leveled log lines and a progress bar.
 *
 * A nas_logger is a small value the caller creates (the CLI makes one from
 * --verbose/--quiet) and passes down; there is no global logger. A NULL
 * logger means "warnings and errors to stderr".
 *
 * nas_progress draws a one-line bar with \r when its stream is a TTY, and
 * prints a plain line at most every `interval` seconds otherwise (logs, CI).
 */
#ifndef NAS_CORE_LOG_H
#define NAS_CORE_LOG_H

#include <stdio.h>

typedef enum nas_log_level {
    NAS_LOG_DEBUG = 0,
    NAS_LOG_INFO,
    NAS_LOG_WARN,
    NAS_LOG_ERROR,
    NAS_LOG_SILENT
} nas_log_level;

typedef struct nas_logger {
    nas_log_level level; /* lines below this level are dropped */
    FILE *out;           /* NULL means stderr */
} nas_logger;

void nas_log(const nas_logger *lg, nas_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define NAS_LOG_DEBUG_(lg, ...) nas_log((lg), NAS_LOG_DEBUG, __VA_ARGS__)
#define NAS_INFO(lg, ...) nas_log((lg), NAS_LOG_INFO, __VA_ARGS__)
#define NAS_WARN(lg, ...) nas_log((lg), NAS_LOG_WARN, __VA_ARGS__)

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double nas_time_now(void);

typedef struct nas_progress {
    FILE *out;
    int is_tty;
    char label[32];
    long total;       /* 0 when unknown */
    long done;
    double start, last_draw;
    double interval;  /* seconds between plain lines when not a TTY */
    int drawn;        /* a TTY line is on screen */
} nas_progress;

/* total may be 0 (unknown). out NULL means stderr. */
void nas_progress_init(nas_progress *p, FILE *out, const char *label, long total);
/* Sets the count and redraws if due; `extra` (may be NULL) is shown after the
 * bar, e.g. "loss 0.41 acc 86.2% 5120 img/s". */
void nas_progress_update(nas_progress *p, long done, const char *extra);
/* Draws the final state and ends the line. */
void nas_progress_finish(nas_progress *p, const char *extra);

#endif
