/* fileio.c - whole-file I/O (see fileio.h). */
#define _POSIX_C_SOURCE 200809L
#include "nas/core/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

nas_status nas_file_read(const char *path, char **data, size_t *len, nas_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NAS_FAIL(err, NAS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger) {
                free(buf);
                fclose(f);
                return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NAS_FAIL(err, NAS_ERR_IO, "%s: read failed", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return NAS_OK;
}

nas_status nas_file_write_atomic(const char *path, const void *data, size_t len, nas_error *err) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        nas_status s = NAS_FAIL(err, NAS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    int ok = fwrite(data, 1, len, f) == len;
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        nas_status s = NAS_FAIL(err, NAS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return NAS_OK;
}

nas_status nas_mkdir_p(const char *path, nas_error *err) {
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", path);
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == '\0') {
            char c = p[i];
            p[i] = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                nas_status s = NAS_FAIL(err, NAS_ERR_IO, "%s: cannot create directory: %s", p,
                                        strerror(errno));
                free(p);
                return s;
            }
            p[i] = c;
        }
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return NAS_FAIL(err, NAS_ERR_IO, "%s: not a directory", path);
    return NAS_OK;
}

int nas_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}
