/*
 * store_lock.c - one job per study: the exclusive lock on DIR/study.lock
 * (see store.h, "one job per study").
 *
 * flock(2) locks an open file description; the kernel releases it when the
 * last descriptor of that description is closed, which happens when the
 * holder exits, however it ends. The descriptor is opened O_CLOEXEC, so a
 * program the job forks and execs keeps no copy past its exec. Between fork
 * and exec the child does hold one: a job killed in that moment leaves the
 * lock held for as long as the child takes to reach exec, so a job finding
 * the lock held while the recorded holder no longer exists waits for it (a
 * bounded wait) instead of refusing.
 *
 * The holder's pid is written after the lock is taken (write, then
 * truncate: a reader parsing up to the first newline never sees a mix of
 * two pids), for the message of a refused job and the test above. The file
 * is never deleted: unlinking a lock file races with a process that has
 * just opened it, which would then lock an orphaned inode.
 *
 * Not here: the store itself (store.c); deciding when to lock (the search
 * job, search.c).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "nas/search/store.h"

struct nas_store_lock {
    int fd;
};

/* The pid in the lock file, or 0 when it holds none (yet). */
static long read_holder(int fd) {
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    if (end == buf || pid <= 0 || (*end != '\n' && *end != '\0')) return 0;
    return pid;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The holder writes its pid right after taking the lock: a job refused in
 * between waits a little (up to 0.1 s) for it. */
static long wait_holder(int fd) {
    long pid = read_holder(fd);
    for (int i = 0; i < 20 && pid == 0; i++) {
        sleep_ms(5);
        pid = read_holder(fd);
    }
    return pid;
}

static int process_exists(long pid) { return kill((pid_t)pid, 0) == 0 || errno == EPERM; }

/* Tries the lock without blocking; 1 when taken, 0 when another open file
 * description holds it, -1 on another error (errno set). */
static int try_lock(int fd) {
    int rc;
    do rc = flock(fd, LOCK_EX | LOCK_NB);
    while (rc < 0 && errno == EINTR);
    if (rc == 0) return 1;
    return errno == EWOULDBLOCK ? 0 : -1;
}

/* The lock is held: by a live job (refused at once), or, when the recorded
 * holder no longer exists, by a child it forked that has not reached exec
 * yet (exec closes the descriptor). The latter is waited for, up to 5 s.
 * Returns 1 when the lock was taken after all, 0 when refused (*holder =
 * the recorded pid, 0 when unknown), -1 on another error. */
static int wait_transient(int fd, long *holder) {
    for (int waited = 0;; waited += 10) {
        *holder = wait_holder(fd);
        if (*holder <= 0 || process_exists(*holder) || waited >= 5000) return 0;
        sleep_ms(10);
        int got = try_lock(fd);
        if (got) return got;
    }
}

nas_status nas_store_lock_acquire(const char *dir, nas_store_lock **out, nas_error *err) {
    *out = NULL;
    char path[4200];
    if (snprintf(path, sizeof path, "%s/study.lock", dir) >= (int)sizeof path)
        return NAS_FAIL(err, NAS_ERR_INVALID, "%s: the study path is too long", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == ENOENT) return NAS_FAIL(err, NAS_ERR_IO, "%s: no such study directory", dir);
        return NAS_FAIL(err, NAS_ERR_IO, "%s: cannot open the study lock: %s", path, strerror(errno));
    }
    long pid = 0;
    int got = try_lock(fd);
    if (got == 0) got = wait_transient(fd, &pid);
    if (got != 1) {
        nas_status s;
        if (got < 0)
            s = NAS_FAIL(err, NAS_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
        else if (pid > 0)
            s = NAS_FAIL(err, NAS_ERR_BUSY, "study %s is in use by another job (pid %ld)", dir, pid);
        else
            s = NAS_FAIL(err, NAS_ERR_BUSY, "study %s is in use by another job", dir);
        close(fd);
        return s;
    }
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (pwrite(fd, text, (size_t)n, 0) != n || ftruncate(fd, n) != 0) {
        nas_status s = NAS_FAIL(err, NAS_ERR_IO, "%s: cannot write the pid: %s", path, strerror(errno));
        close(fd);
        return s;
    }
    nas_store_lock *lk = malloc(sizeof *lk);
    if (!lk) {
        close(fd);
        return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", path);
    }
    lk->fd = fd;
    *out = lk;
    return NAS_OK;
}

void nas_store_lock_release(nas_store_lock *lk) {
    if (!lk) return;
    close(lk->fd); /* drops the flock: this is its only descriptor */
    free(lk);
}

/* Readers must not take the lock (a job starting at that moment would be
 * refused), so they look for it in /proc/locks, where every flock(2) lock
 * is a line "N: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE 0 EOF" (device
 * numbers in hex; waiters' lines have "->" after the number). */
int nas_store_lock_held(const char *dir) {
    char path[4200];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/study.lock", dir) >= (int)sizeof path) return -1;
    if (stat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    FILE *f = fopen("/proc/locks", "r");
    if (!f) return -1;
    char line[256];
    int held = 0;
    while (!held && fgets(line, sizeof line, f)) {
        char kind[16];
        long pid;
        unsigned maj, min;
        unsigned long long ino;
        if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &pid, &maj, &min, &ino) == 5 &&
            strcmp(kind, "FLOCK") == 0 && maj == major(st.st_dev) && min == minor(st.st_dev) &&
            ino == (unsigned long long)st.st_ino)
            held = 1;
    }
    fclose(f);
    return held;
}
