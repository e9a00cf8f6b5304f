/*
 * status.h - status codes and the caller-owned error record.
 *
 * Every fallible function in nas returns a nas_status and, when it fails,
 * fills a nas_error owned by the caller (code, the file:line that raised it,
 * and a human-readable message). A NULL nas_error is allowed: the message is
 * then dropped. Nothing here allocates or keeps global state.
 */
#ifndef NAS_CORE_STATUS_H
#define NAS_CORE_STATUS_H

#include <stdarg.h>
#include <stddef.h>

typedef enum nas_status {
    NAS_OK = 0,
    NAS_ERR_INVALID,     /* bad input: a file, a flag, a field */
    NAS_ERR_USAGE,       /* bad command line (exit status 2) */
    NAS_ERR_IO,          /* open/read/write failed */
    NAS_ERR_FORMAT,      /* a file is corrupt, truncated or of another version */
    NAS_ERR_NOMEM,       /* allocation failed */
    NAS_ERR_DNNL,        /* a oneDNN call failed */
    NAS_ERR_UNSUPPORTED, /* valid but not supported (yet, or on this machine) */
    NAS_ERR_CONSTRAINT,  /* no point satisfies the constraints */
    NAS_ERR_EXHAUSTED,   /* a finite space or a budget has nothing left */
    NAS_ERR_MISMATCH,    /* a file belongs to another space, arch or job */
    NAS_ERR_TIMEOUT,
    NAS_ERR_INTERRUPTED,
    NAS_ERR_DB,          /* the study store failed */
    NAS_ERR_BUSY,        /* in use by another process (a study locked by another job) */
    NAS_ERR_INTERNAL     /* a bug in nas: please report */
} nas_status;

#define NAS_ERROR_MSG_MAX 1024

typedef struct nas_error {
    nas_status code;
    const char *file; /* source file that raised the error (static string) */
    int line;
    char msg[NAS_ERROR_MSG_MAX];
} nas_error;

/* A short name for a status ("invalid input", "I/O error", ...). Static. */
const char *nas_status_str(nas_status s);

/* Fills err (if not NULL) and returns code. Use through NAS_FAIL. */
nas_status nas_error_set(nas_error *err, nas_status code, const char *file, int line,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
nas_status nas_error_vset(nas_error *err, nas_status code, const char *file, int line,
                          const char *fmt, va_list ap);

/* Prepends "context: " to err->msg (e.g. a file name). Returns err->code. */
nas_status nas_error_prefix(nas_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets err to NAS_OK with an empty message. */
void nas_error_clear(nas_error *err);

#define NAS_FAIL(err, code, ...) nas_error_set((err), (code), __FILE__, __LINE__, __VA_ARGS__)

/* Assertion for programmer bugs only (always on). Bad input is an error value. */
#define NAS_ASSERT(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) nas_assert_fail(#cond, __FILE__, __LINE__);                           \
    } while (0)
void nas_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/* Allocation helpers that abort on out-of-memory are NOT provided on purpose:
 * callers check for NULL and return NAS_ERR_NOMEM. */

#endif
