/* status.c - status names and error records (see status.h). */
#include "nas/core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *nas_status_str(nas_status s) {
    switch (s) {
    case NAS_OK: return "ok";
    case NAS_ERR_INVALID: return "invalid input";
    case NAS_ERR_USAGE: return "usage error";
    case NAS_ERR_IO: return "I/O error";
    case NAS_ERR_FORMAT: return "bad file format";
    case NAS_ERR_NOMEM: return "out of memory";
    case NAS_ERR_DNNL: return "oneDNN error";
    case NAS_ERR_UNSUPPORTED: return "unsupported";
    case NAS_ERR_CONSTRAINT: return "constraint unsatisfiable";
    case NAS_ERR_EXHAUSTED: return "exhausted";
    case NAS_ERR_MISMATCH: return "mismatch";
    case NAS_ERR_TIMEOUT: return "timeout";
    case NAS_ERR_INTERRUPTED: return "interrupted";
    case NAS_ERR_DB: return "study store error";
    case NAS_ERR_BUSY: return "in use";
    case NAS_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

nas_status nas_error_vset(nas_error *err, nas_status code, const char *file, int line,
                          const char *fmt, va_list ap) {
    if (!err) return code;
    err->code = code;
    err->file = file;
    err->line = line;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return code;
}

nas_status nas_error_set(nas_error *err, nas_status code, const char *file, int line,
                         const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    nas_error_vset(err, code, file, line, fmt, ap);
    va_end(ap);
    return code;
}

nas_status nas_error_prefix(nas_error *err, const char *fmt, ...) {
    if (!err) return NAS_ERR_INTERNAL;
    char head[NAS_ERROR_MSG_MAX], old[NAS_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t h = strlen(head), o = strlen(old), cap = sizeof err->msg - 1;
    if (h > cap) h = cap;
    memcpy(err->msg, head, h);
    size_t k = h;
    if (k + 2 <= cap) {
        memcpy(err->msg + k, ": ", 2);
        k += 2;
    }
    if (o > cap - k) o = cap - k;
    memcpy(err->msg + k, old, o);
    err->msg[k + o] = '\0';
    return err->code;
}

void nas_error_clear(nas_error *err) {
    if (!err) return;
    err->code = NAS_OK;
    err->file = NULL;
    err->line = 0;
    err->msg[0] = '\0';
}

void nas_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "nas: internal assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
