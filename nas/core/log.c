/* log.c - log lines and progress bar (see log.h). */
#define _POSIX_C_SOURCE 200809L
#include "nas/core/log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *level_name(nas_log_level l) {
    switch (l) {
    case NAS_LOG_DEBUG: return "debug";
    case NAS_LOG_INFO: return "info";
    case NAS_LOG_WARN: return "warning";
    case NAS_LOG_ERROR: return "error";
    default: return "";
    }
}

void nas_log(const nas_logger *lg, nas_log_level level, const char *fmt, ...) {
    nas_log_level min = lg ? lg->level : NAS_LOG_WARN;
    if (level < min || level >= NAS_LOG_SILENT) return;
    FILE *out = (lg && lg->out) ? lg->out : stderr;
    va_list ap;
    va_start(ap, fmt);
    if (level != NAS_LOG_INFO) fprintf(out, "nas: %s: ", level_name(level));
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
}

double nas_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void nas_progress_init(nas_progress *p, FILE *out, const char *label, long total) {
    memset(p, 0, sizeof *p);
    p->out = out ? out : stderr;
    p->is_tty = isatty(fileno(p->out));
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    p->start = p->last_draw = nas_time_now();
    p->interval = 10.0;
}

static void format_eta(char *buf, size_t n, double seconds) {
    if (seconds < 0 || seconds > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", s / 60, s % 60);
}

static void draw(nas_progress *p, const char *extra, int final) {
    double now = nas_time_now(), elapsed = now - p->start;
    char eta[32] = "";
    if (p->total > 0 && p->done > 0 && !final)
        format_eta(eta, sizeof eta, elapsed * (double)(p->total - p->done) / (double)p->done);
    else
        format_eta(eta, sizeof eta, elapsed);
    const char *eta_label = (p->total > 0 && !final) ? "eta" : "elapsed";
    if (p->is_tty) {
        char bar[31];
        int width = 30, fill = p->total > 0 ? (int)(width * p->done / p->total) : 0;
        if (fill > width) fill = width;
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        if (p->total > 0)
            fprintf(p->out, "\r\033[K%s [%s] %ld/%ld %s %s  %s", p->label, bar, p->done, p->total,
                    eta_label, eta, extra ? extra : "");
        else
            fprintf(p->out, "\r\033[K%s %ld %s %s  %s", p->label, p->done, eta_label, eta,
                    extra ? extra : "");
        if (final) fputc('\n', p->out);
        p->drawn = !final;
    } else {
        if (p->total > 0)
            fprintf(p->out, "%s %ld/%ld %s %s  %s\n", p->label, p->done, p->total, eta_label, eta,
                    extra ? extra : "");
        else
            fprintf(p->out, "%s %ld %s %s  %s\n", p->label, p->done, eta_label, eta,
                    extra ? extra : "");
    }
    fflush(p->out);
    p->last_draw = now;
}

void nas_progress_update(nas_progress *p, long done, const char *extra) {
    p->done = done;
    double now = nas_time_now();
    double every = p->is_tty ? 0.1 : p->interval;
    if (now - p->last_draw >= every) draw(p, extra, 0);
}

void nas_progress_finish(nas_progress *p, const char *extra) {
    draw(p, extra, 1);
}
