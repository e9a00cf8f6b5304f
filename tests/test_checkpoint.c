/*
 * test_checkpoint.c - the weights file: byte layout as documented, round
 * trips (weights only, and with optimizer state), atomic writes, and every
 * rejection (missing file, bad magic, version, truncation, CRC, arch hash,
 * missing / extra / resized tensor, absent optimizer state), each leaving
 * the caller's tensors untouched.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "models/checkpoint.h"
#include "nas/core/fileio.h"
#include "nas/core/pcg32.h"
#include "tests/test.h"

#define HASH 0x0123456789abcdefULL

typedef struct net {
    nas_param p[3];
    float w[24], dw[24], b[4], db[4], rm[4];
} net;

static void net_init(net *n, uint64_t seed) {
    memset(n, 0, sizeof *n);
    pcg32 r;
    pcg32_seed(&r, seed, 5);
    for (int i = 0; i < 24; i++) n->w[i] = (float)pcg32_normal(&r);
    for (int i = 0; i < 4; i++) n->b[i] = (float)pcg32_normal(&r);
    for (int i = 0; i < 4; i++) n->rm[i] = (float)pcg32_double(&r);
    n->p[0] = (nas_param){.name = "n1.conv.weight", .w = n->w, .dw = n->dw, .n = 24, .decay = 1};
    n->p[1] = (nas_param){.name = "n1.conv.bias", .w = n->b, .dw = n->db, .n = 4};
    n->p[2] = (nas_param){.name = "n2.bn.running_mean", .w = n->rm, .n = 4};
}

static char tmpdir[64];

static const char *tmp_path(const char *name) {
    static char buf[256];
    if (!tmpdir[0]) {
        strcpy(tmpdir, "/tmp/nas_ckpt_XXXXXX");
        if (!mkdtemp(tmpdir)) return NULL;
    }
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static void write_bytes(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static void test_layout(void) {
    net n;
    net_init(&n, 1);
    unsigned char *b = NULL;
    size_t len = 0;
    nas_error err = {0};
    ASSERT_OK(nas_checkpoint_encode(HASH, n.p, 3, NULL, &b, &len, &err), &err);
    size_t expect = 32 + (4 + 14 + 8 + 96) + (4 + 12 + 8 + 16) + (4 + 18 + 8 + 16) + 4;
    ASSERT_EQ_INT(len, expect);
    ASSERT_TRUE(memcmp(b, "NASW", 4) == 0);
    ASSERT_EQ_INT(le32(b + 4), 1);
    ASSERT_EQ_INT(le64(b + 8), len);
    ASSERT_TRUE(le64(b + 16) == HASH);
    ASSERT_EQ_INT(le32(b + 24), 3);
    ASSERT_EQ_INT(le32(b + 28), 0);
    ASSERT_EQ_INT(le32(b + 32), 14);
    ASSERT_TRUE(memcmp(b + 36, "n1.conv.weight", 14) == 0);
    ASSERT_EQ_INT(le64(b + 50), 24);
    uint32_t u = le32(b + 58);
    float first;
    memcpy(&first, &u, 4);
    ASSERT_TRUE(first == n.w[0]);
    ASSERT_EQ_INT(le32(b + len - 4), (uint32_t)crc32(0L, b, (uInt)(len - 4)));
    free(b);
}

static void test_round_trip(void) {
    net a, b;
    net_init(&a, 2);
    net_init(&b, 3);
    nas_error err = {0};
    const char *path = tmp_path("w.nasw");
    ASSERT_OK(nas_checkpoint_save(path, HASH, a.p, 3, NULL, &err), &err);
    ASSERT_OK(nas_checkpoint_load(path, HASH, b.p, 3, NULL, &err), &err);
    ASSERT_TRUE(memcmp(a.w, b.w, sizeof a.w) == 0);
    ASSERT_TRUE(memcmp(a.b, b.b, sizeof a.b) == 0);
    ASSERT_TRUE(memcmp(a.rm, b.rm, sizeof a.rm) == 0);

    /* tensors are matched by name, not position */
    net c;
    net_init(&c, 4);
    nas_param swapped[3] = {c.p[2], c.p[0], c.p[1]};
    ASSERT_OK(nas_checkpoint_load(path, HASH, swapped, 3, NULL, &err), &err);
    ASSERT_TRUE(memcmp(a.w, c.w, sizeof a.w) == 0);
    ASSERT_TRUE(memcmp(a.rm, c.rm, sizeof a.rm) == 0);

    nas_checkpoint_info info;
    ASSERT_OK(nas_checkpoint_inspect(path, &info, &err), &err);
    ASSERT_EQ_INT(info.version, 1);
    ASSERT_TRUE(info.arch_hash == HASH);
    ASSERT_EQ_INT(info.n_tensors, 3);
    ASSERT_EQ_INT(info.n_floats, 32);
    ASSERT_EQ_INT(info.has_optim_state, 0);

    /* atomic write leaves no temporary file behind */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) TEST_FAIL_("leftover temporary file %s", e->d_name);
    closedir(d);
}

static void test_round_trip_with_optimizer(void) {
    net a, b;
    net_init(&a, 5);
    net_init(&b, 6);
    nas_optim_config cfg;
    nas_optim_config_default(&cfg, NAS_OPTIM_SGD);
    cfg.momentum = 0.9;
    cfg.nesterov = 1;
    nas_optim *oa = NULL, *ob = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_optim_create(&cfg, a.p, 3, &oa, &err), &err);
    ASSERT_OK(nas_optim_create(&cfg, b.p, 3, &ob, &err), &err);
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < 24; i++) a.dw[i] = a.w[i] * 0.5f + 0.1f * (float)t;
        for (int i = 0; i < 4; i++) a.db[i] = 0.2f;
        nas_optim_step(oa, 0.1);
    }
    const char *path = tmp_path("wo.nasw");
    ASSERT_OK(nas_checkpoint_save(path, HASH, a.p, 3, oa, &err), &err);
    ASSERT_OK(nas_checkpoint_load(path, HASH, b.p, 3, ob, &err), &err);
    ASSERT_EQ_INT(nas_optim_steps(ob), 3);
    for (int t = 3; t < 5; t++) { /* both continue identically */
        for (int i = 0; i < 24; i++) a.dw[i] = b.dw[i] = a.w[i] * 0.5f + 0.1f * (float)t;
        for (int i = 0; i < 4; i++) a.db[i] = b.db[i] = 0.2f;
        nas_optim_step(oa, 0.1);
        nas_optim_step(ob, 0.1);
    }
    ASSERT_TRUE(memcmp(a.w, b.w, sizeof a.w) == 0);
    ASSERT_TRUE(memcmp(a.b, b.b, sizeof a.b) == 0);

    /* the weights alone load without an optimizer */
    net c;
    net_init(&c, 7);
    ASSERT_OK(nas_checkpoint_load(path, HASH, c.p, 3, NULL, &err), &err);
    nas_checkpoint_info info;
    ASSERT_OK(nas_checkpoint_inspect(path, &info, &err), &err);
    ASSERT_EQ_INT(info.has_optim_state, 1);

    /* an Adam optimizer cannot take SGD state */
    nas_optim *adam = NULL;
    nas_optim_config_default(&cfg, NAS_OPTIM_ADAM);
    ASSERT_OK(nas_optim_create(&cfg, c.p, 3, &adam, &err), &err);
    ASSERT_EQ_INT(nas_checkpoint_load(path, HASH, c.p, 3, adam, &err), NAS_ERR_MISMATCH);
    ASSERT_CONTAINS(err.msg, path);
    ASSERT_CONTAINS(err.msg, "sgd");

    /* a weights-only file cannot resume an optimizer */
    const char *plain = tmp_path("plain.nasw");
    ASSERT_OK(nas_checkpoint_save(plain, HASH, a.p, 3, NULL, &err), &err);
    ASSERT_EQ_INT(nas_checkpoint_load(plain, HASH, c.p, 3, adam, &err), NAS_ERR_MISMATCH);
    ASSERT_CONTAINS(err.msg, "no optimizer state");
    nas_optim_destroy(adam);
    nas_optim_destroy(oa);
    nas_optim_destroy(ob);
}

/* Loads path into a fresh net, expects status `code` with `needle` and the
 * path in the message, and checks the net was not modified. */
static void expect_load_error(const char *path, uint64_t hash, nas_param *p, size_t n, int code,
                              const char *needle) {
    float before[64];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p[i].n && k < 64; j++) before[k++] = p[i].w[j];
    nas_error err = {0};
    ASSERT_EQ_INT(nas_checkpoint_load(path, hash, p, n, NULL, &err), code);
    ASSERT_CONTAINS(err.msg, path);
    ASSERT_CONTAINS(err.msg, needle);
    k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p[i].n && k < 64; j++) ASSERT_TRUE(before[k++] == p[i].w[j]);
}

static void test_errors(void) {
    net a, b;
    net_init(&a, 8);
    net_init(&b, 9);
    nas_error err = {0};
    unsigned char *good = NULL;
    size_t len = 0;
    ASSERT_OK(nas_checkpoint_encode(HASH, a.p, 3, NULL, &good, &len, &err), &err);
    unsigned char *bad = malloc(len);
    const char *path = tmp_path("bad.nasw");

    expect_load_error(tmp_path("does-not-exist.nasw"), HASH, b.p, 3, NAS_ERR_IO, "cannot open");

    memcpy(bad, good, len);
    bad[1] = 'Z';
    write_bytes(path, bad, len);
    expect_load_error(path, HASH, b.p, 3, NAS_ERR_FORMAT, "bad magic at byte offset 0");

    memcpy(bad, good, len);
    bad[4] = 2;
    write_bytes(path, bad, len);
    expect_load_error(path, HASH, b.p, 3, NAS_ERR_FORMAT, "version 2");

    size_t cuts[] = {3, 20, 40, 100, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(path, good, cuts[i]);
        expect_load_error(path, HASH, b.p, 3, NAS_ERR_FORMAT,
                          cuts[i] < 4 ? "bad magic" : "truncated");
        char where[64];
        snprintf(where, sizeof where, "byte offset %zu", cuts[i]);
        if (cuts[i] >= 4) {
            ASSERT_EQ_INT(nas_checkpoint_load(path, HASH, b.p, 3, NULL, &err), NAS_ERR_FORMAT);
            ASSERT_CONTAINS(err.msg, where);
        }
    }

    memcpy(bad, good, len);
    bad[70] ^= 0x10; /* a weight bit */
    write_bytes(path, bad, len);
    expect_load_error(path, HASH, b.p, 3, NAS_ERR_FORMAT, "CRC mismatch");

    write_bytes(path, good, len);
    expect_load_error(path, HASH ^ 1, b.p, 3, NAS_ERR_MISMATCH, "0x0123456789abcdef");

    /* the network has a tensor the file lacks */
    float extra[2] = {0};
    nas_param more[4] = {b.p[0], b.p[1], b.p[2], {.name = "n9.fc.weight", .w = extra, .n = 2}};
    expect_load_error(path, HASH, more, 4, NAS_ERR_MISMATCH, "\"n9.fc.weight\" is missing");

    /* the file has a tensor the network lacks */
    expect_load_error(path, HASH, b.p, 2, NAS_ERR_MISMATCH,
                      "\"n2.bn.running_mean\" (byte offset 194) is not in the network");

    /* same name, other size */
    nas_param resized[3] = {b.p[0], b.p[1], b.p[2]};
    resized[0].n = 20;
    expect_load_error(path, HASH, resized, 3, NAS_ERR_MISMATCH,
                      "\"n1.conv.weight\" has 24 elements in the file");

    /* trailing garbage */
    unsigned char *longer = calloc(len + 3, 1);
    memcpy(longer, good, len);
    write_bytes(path, longer, len + 3);
    expect_load_error(path, HASH, b.p, 3, NAS_ERR_FORMAT, "3 unexpected bytes");
    free(longer);

    /* duplicate names are refused when saving */
    nas_param dup[2] = {a.p[0], a.p[0]};
    ASSERT_EQ_INT(nas_checkpoint_save(path, HASH, dup, 2, NULL, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "two tensors");
    free(bad);
    free(good);
}

static void test_every_truncation_rejected(void) {
    net a, b;
    net_init(&a, 10);
    net_init(&b, 11);
    nas_optim_config cfg;
    nas_optim_config_default(&cfg, NAS_OPTIM_ADAMW);
    nas_optim *o = NULL;
    nas_error err = {0};
    ASSERT_OK(nas_optim_create(&cfg, b.p, 3, &o, &err), &err);
    unsigned char *good = NULL;
    size_t len = 0;
    ASSERT_OK(nas_checkpoint_encode(HASH, a.p, 3, o, &good, &len, &err), &err);
    for (size_t cut = 0; cut < len; cut++) {
        nas_status s = nas_checkpoint_decode(good, cut, "mem", HASH, b.p, 3, o, &err);
        if (s != NAS_ERR_FORMAT) TEST_FAIL_("cut at %zu: status %d", cut, (int)s);
    }
    ASSERT_OK(nas_checkpoint_decode(good, len, "mem", HASH, b.p, 3, o, &err), &err);
    free(good);
    nas_optim_destroy(o);
}

static void cleanup(void) {
    if (!tmpdir[0]) return;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        remove(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

static const test_case TESTS[] = {
    {"layout", test_layout},
    {"round_trip", test_round_trip},
    {"round_trip_with_optimizer", test_round_trip_with_optimizer},
    {"errors", test_errors},
    {"every_truncation_rejected", test_every_truncation_rejected},
    {0},
};

int main(int argc, char **argv) {
    int rc = test_run(argc, argv, TESTS);
    cleanup();
    return rc;
}
