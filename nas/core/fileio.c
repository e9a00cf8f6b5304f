/* fileio.c - whole-file I/O (see fileio.h). */
#define _POSIX_C_SOURCE 200809L
#include "nas/core/fileio.h"

#include <errno.h>
#include <fcntl.h>
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
        errno = 0;
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f), why = errno; /* EISDIR for a directory */
    fclose(f);
    if (bad) {
        free(buf);
        return NAS_FAIL(err, NAS_ERR_IO, "%s: read failed: %s", path, why ? strerror(why) : "I/O error");
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return NAS_OK;
}

/* The temporary file beside path that nas_file_write_atomic writes first:
 * "<path>.tmp.<pid>", malloc'd (caller frees); NULL when out of memory. */
static char *tmp_name(const char *path) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (tmp) snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    return tmp;
}

nas_status nas_file_write_atomic(const char *path, const void *data, size_t len, nas_error *err) {
    char *tmp = tmp_name(path);
    if (!tmp) return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        nas_status s = NAS_FAIL(err, NAS_ERR_IO, "%s: cannot create the file: %s", path, strerror(errno));
        free(tmp);
        return s;
    }
    /* the reason of the first step that failed */
    int why = 0;
    errno = 0;
    if (fwrite(data, 1, len, f) != len) why = errno ? errno : EIO;
    if (fflush(f) != 0 && !why) why = errno;
    if (fsync(fileno(f)) != 0 && !why) why = errno;
    if (fclose(f) != 0 && !why) why = errno;
    if (!why && rename(tmp, path) != 0) why = errno;
    if (why) {
        nas_status s = NAS_FAIL(err, NAS_ERR_IO, "%s: write failed: %s", path, strerror(why));
        remove(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return NAS_OK;
}

/* Creates and removes probe, a file that does not exist yet; 0 or errno.
 * A probe that exists already (left by a killed process) is kept: its
 * directory took a file once, which is all a check before the work can say. */
static int probe_create(const char *probe) {
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) return errno == EEXIST ? 0 : errno;
    close(fd);
    return remove(probe) == 0 ? 0 : errno;
}

nas_status nas_file_check_writable(const char *path, nas_error *err) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return NAS_FAIL(err, NAS_ERR_IO, "%s: is a directory", path);
    char *tmp = tmp_name(path);
    if (!tmp) return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", path);
    int why = probe_create(tmp);
    free(tmp);
    if (why) return NAS_FAIL(err, NAS_ERR_IO, "%s: cannot create the file: %s", path, strerror(why));
    return NAS_OK;
}

nas_status nas_dir_prepare(const char *path, int *made, nas_error *err) {
    if (made) *made = !nas_path_exists(path);
    nas_status s = nas_mkdir_p(path, err);
    if (s) return s;
    size_t n = strlen(path) + 48;
    char *probe = malloc(n);
    if (!probe) return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", path);
    snprintf(probe, n, "%s/.nas-write-check.%ld", path, (long)getpid());
    int why = probe_create(probe);
    free(probe);
    if (why) return NAS_FAIL(err, NAS_ERR_IO, "%s: cannot create files in the directory: %s", path, strerror(why));
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
