/* test_core.c - nas/core: status, pcg32, arena, fileio, arch IR and arch.json. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nas/core/arch.h"
#include "nas/core/arena.h"
#include "nas/core/fileio.h"
#include "nas/core/pcg32.h"
#include "nas/core/status.h"
#include "test.h"

/* ---- status ---- */

static void test_error_set_and_prefix(void) {
    nas_error err;
    nas_status s = NAS_FAIL(&err, NAS_ERR_INVALID, "field %s: bad", "kernel");
    ASSERT_EQ_INT(s, NAS_ERR_INVALID);
    ASSERT_EQ_INT(err.code, NAS_ERR_INVALID);
    ASSERT_STR_EQ(err.msg, "field kernel: bad");
    ASSERT_TRUE(err.line > 0);
    ASSERT_CONTAINS(err.file, "test_core.c");
    nas_error_prefix(&err, "%s", "a.json");
    ASSERT_STR_EQ(err.msg, "a.json: field kernel: bad");
    ASSERT_EQ_INT(NAS_FAIL(NULL, NAS_ERR_IO, "dropped"), NAS_ERR_IO);
    ASSERT_STR_EQ(nas_status_str(NAS_ERR_IO), "I/O error");
}

/* ---- pcg32 ---- */

static void test_pcg32_reference_values(void) {
    /* The first outputs of the PCG reference demo (pcg32-demo, seed 42, stream 54). */
    static const uint32_t expect[6] = {0xa15c02b7, 0x7b47f409, 0xba1d3330,
                                       0x83d2f293, 0xbfa4784b, 0xcbed606e};
    pcg32 r;
    pcg32_seed(&r, 42, 54);
    for (int i = 0; i < 6; i++) ASSERT_EQ_INT(pcg32_next(&r), expect[i]);
}

static void test_pcg32_bounded_uniform(void) {
    pcg32 r;
    pcg32_seed(&r, 7, 1);
    enum { K = 6, N = 60000 };
    long count[K] = {0};
    for (int i = 0; i < N; i++) {
        uint32_t v = pcg32_bounded(&r, K);
        ASSERT_TRUE(v < K);
        count[v]++;
    }
    /* chi-square with 5 degrees of freedom; 20.5 is the 0.999 quantile */
    double chi = 0, e = (double)N / K;
    for (int k = 0; k < K; k++) chi += (count[k] - e) * (count[k] - e) / e;
    ASSERT_LE(chi, 20.5);
    ASSERT_EQ_INT(pcg32_bounded(&r, 1), 0);
    for (int i = 0; i < 1000; i++) {
        int64_t v = pcg32_range(&r, -3, 3);
        ASSERT_TRUE(v >= -3 && v <= 3);
        int64_t big = pcg32_range(&r, INT64_MIN / 2, INT64_MAX / 2);
        ASSERT_TRUE(big >= INT64_MIN / 2 && big <= INT64_MAX / 2);
        double d = pcg32_double(&r);
        ASSERT_TRUE(d >= 0.0 && d < 1.0);
    }
}

static void test_pcg32_advance(void) {
    pcg32 a, b;
    pcg32_seed(&a, 123, 5);
    b = a;
    for (int i = 0; i < 1000; i++) pcg32_next(&a);
    pcg32_advance(&b, 1000);
    ASSERT_EQ_INT(a.state, b.state);
    ASSERT_EQ_INT(pcg32_next(&a), pcg32_next(&b));
    pcg32_advance(&b, (uint64_t)-1001); /* back to the start */
    pcg32 c;
    pcg32_seed(&c, 123, 5);
    ASSERT_EQ_INT(b.state, c.state);
}

static void test_pcg32_normal_moments(void) {
    pcg32 r;
    pcg32_seed(&r, 99, 3);
    double sum = 0, sq = 0;
    int n = 20000;
    for (int i = 0; i < n; i++) {
        double x = pcg32_normal(&r);
        sum += x;
        sq += x * x;
    }
    ASSERT_NEAR(sum / n, 0.0, 0.03);
    ASSERT_NEAR(sq / n, 1.0, 0.05);
}

/* ---- arena ---- */

static void test_arena(void) {
    nas_arena a;
    nas_arena_init(&a, 64);
    char *s = nas_arena_strdup(&a, "hello");
    ASSERT_STR_EQ(s, "hello");
    for (int i = 0; i < 100; i++) {
        void *p = nas_arena_alloc(&a, (size_t)i * 3 + 1);
        ASSERT_TRUE(p != NULL);
        ASSERT_EQ_INT((uintptr_t)p % 16, 0);
        ASSERT_EQ_INT(((unsigned char *)p)[0], 0);
    }
    void *big = nas_arena_alloc(&a, 1000);
    ASSERT_TRUE(big != NULL);
    ASSERT_STR_EQ(s, "hello");
    nas_arena_deinit(&a);
}

/* Reset reuses the memory: one chunk is rewound; several become one chunk
 * (the largest, grown) that takes the same allocations again without
 * growing. Raw allocations honour their alignment; fill reaches every byte
 * held. */
static void test_arena_reset(void) {
    nas_arena a;
    nas_arena_init(&a, 4096);
    ASSERT_EQ_INT(nas_arena_capacity(&a), 0);
    unsigned char *p = nas_arena_alloc_raw(&a, 100, 64);
    ASSERT_EQ_INT((uintptr_t)p % 64, 0);
    size_t cap = nas_arena_capacity(&a);
    nas_arena_reset(&a);
    ASSERT_EQ_INT(nas_arena_used(&a), 0);
    ASSERT_TRUE(nas_arena_alloc_raw(&a, 100, 64) == p); /* rewound */
    nas_arena_fill(&a, 0xab);
    ASSERT_EQ_INT(p[99], 0xab);
    ASSERT_EQ_INT(((unsigned char *)nas_arena_alloc(&a, 32))[31], 0); /* zeroed */
    for (int i = 0; i < 40; i++) { /* outgrow the chunk: 40 chunks and a large one */
        unsigned char *q = nas_arena_alloc_raw(&a, 3000 + (size_t)i, i % 2 ? 4096 : 64);
        ASSERT_EQ_INT((uintptr_t)q % (i % 2 ? 4096 : 64), 0);
        memset(q, i, 3000 + (size_t)i);
    }
    ASSERT_TRUE(nas_arena_alloc_raw(&a, 20000, 64) != NULL);
    size_t used = nas_arena_used(&a);
    ASSERT_TRUE(nas_arena_capacity(&a) > 40 * cap);
    nas_arena_reset(&a);
    cap = nas_arena_capacity(&a); /* one chunk */
    ASSERT_TRUE(cap >= used && cap < 2 * used);
    for (int round = 0; round < 2; round++) {
        ASSERT_TRUE(nas_arena_alloc_raw(&a, 100, 64) != NULL);
        ASSERT_TRUE(nas_arena_alloc(&a, 32) != NULL);
        for (int i = 0; i < 40; i++)
            ASSERT_TRUE(nas_arena_alloc_raw(&a, 3000 + (size_t)i, i % 2 ? 4096 : 64) != NULL);
        ASSERT_TRUE(nas_arena_alloc_raw(&a, 20000, 64) != NULL);
        ASSERT_EQ_INT(nas_arena_capacity(&a), cap); /* the same fill fits */
        nas_arena_reset(&a);
    }
    nas_arena_deinit(&a);
    ASSERT_EQ_INT(nas_arena_capacity(&a), 0);
}

/* ---- fileio ---- */

static void test_fileio(void) {
    char dir[] = "/tmp/nas-test-core-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    char path[512], sub[256];
    snprintf(sub, sizeof sub, "%s/a/b/c", dir);
    nas_error err;
    ASSERT_OK(nas_mkdir_p(sub, &err), &err);
    ASSERT_TRUE(nas_path_exists(sub));
    snprintf(path, sizeof path, "%s/f.txt", sub);
    ASSERT_OK(nas_file_write_atomic(path, "abc\0def", 7, &err), &err);
    char *data;
    size_t len;
    ASSERT_OK(nas_file_read(path, &data, &len, &err), &err);
    ASSERT_EQ_INT(len, 7);
    ASSERT_TRUE(memcmp(data, "abc\0def", 7) == 0 && data[7] == '\0');
    free(data);
    snprintf(path, sizeof path, "%s/missing.txt", dir);
    ASSERT_EQ_INT(nas_file_read(path, &data, &len, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, "missing.txt: cannot open");
    /* a directory given as a file: the reason, not just "read failed" */
    ASSERT_EQ_INT(nas_file_read(sub, &data, &len, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, "a/b/c: read failed: Is a directory");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ_INT(system(cmd), 0);
}

/* Entries of dir other than . and .. */
static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* The checks a command makes before its work: a writable path passes and
 * leaves nothing behind, what is stored stays as it was, and each failure
 * names the path given (never the temporary file) and the reason; an
 * atomic write that cannot create its file says the same. */
static void test_fileio_output_checks(void) {
    char dir[] = "/tmp/nas-test-core-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    char path[512], want[600], *data;
    size_t len;
    nas_error err;
    /* a new file in an existing directory: nothing is created */
    snprintf(path, sizeof path, "%s/new.json", dir);
    ASSERT_OK(nas_file_check_writable(path, &err), &err);
    ASSERT_EQ_INT(dir_entries(dir), 0);
    /* an existing file is left as it is */
    snprintf(path, sizeof path, "%s/kept.txt", dir);
    ASSERT_OK(nas_file_write_atomic(path, "kept", 4, &err), &err);
    ASSERT_OK(nas_file_check_writable(path, &err), &err);
    ASSERT_OK(nas_file_read(path, &data, &len, &err), &err);
    ASSERT_STR_EQ(data, "kept");
    free(data);
    ASSERT_EQ_INT(dir_entries(dir), 1);
    /* a missing directory, a file as the directory, a directory as the file */
    snprintf(path, sizeof path, "%s/missing/f.json", dir);
    ASSERT_EQ_INT(nas_file_check_writable(path, &err), NAS_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot create the file: No such file or directory", path);
    ASSERT_STR_EQ(err.msg, want);
    ASSERT_EQ_INT(nas_file_write_atomic(path, "x", 1, &err), NAS_ERR_IO);
    ASSERT_STR_EQ(err.msg, want); /* not "<path>.tmp.<pid>: ..." */
    snprintf(path, sizeof path, "%s/kept.txt/f.json", dir);
    ASSERT_EQ_INT(nas_file_check_writable(path, &err), NAS_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot create the file: Not a directory", path);
    ASSERT_STR_EQ(err.msg, want);
    ASSERT_EQ_INT(nas_file_check_writable(dir, &err), NAS_ERR_IO);
    snprintf(want, sizeof want, "%s: is a directory", dir);
    ASSERT_STR_EQ(err.msg, want);
    /* a directory that cannot be renamed over */
    snprintf(path, sizeof path, "%s/sub", dir);
    ASSERT_OK(nas_mkdir_p(path, &err), &err);
    ASSERT_EQ_INT(nas_file_write_atomic(path, "x", 1, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, path);
    ASSERT_CONTAINS(err.msg, ": write failed: ");
    ASSERT_TRUE(strstr(err.msg, ".tmp.") == NULL);
    ASSERT_EQ_INT(dir_entries(path), 0);
    ASSERT_EQ_INT(dir_entries(dir), 2); /* kept.txt, sub: no temporary file left */
    /* output directories: made, nested, and left empty */
    snprintf(path, sizeof path, "%s/out/a/b", dir);
    int made = 0;
    ASSERT_OK(nas_dir_prepare(path, &made, &err), &err);
    ASSERT_EQ_INT(made, 1);
    ASSERT_EQ_INT(dir_entries(path), 0);
    ASSERT_OK(nas_dir_prepare(path, &made, &err), &err); /* again: it exists */
    ASSERT_EQ_INT(made, 0);
    snprintf(path, sizeof path, "%s/kept.txt", dir);
    ASSERT_EQ_INT(nas_dir_prepare(path, NULL, &err), NAS_ERR_IO);
    snprintf(want, sizeof want, "%s: not a directory", path);
    ASSERT_STR_EQ(err.msg, want);
    ASSERT_OK(nas_file_read(path, &data, &len, &err), &err);
    ASSERT_STR_EQ(data, "kept");
    free(data);
    snprintf(path, sizeof path, "%s/kept.txt/sub", dir);
    ASSERT_EQ_INT(nas_dir_prepare(path, NULL, &err), NAS_ERR_IO);
    ASSERT_CONTAINS(err.msg, "kept.txt/sub: cannot create directory: Not a directory");
    if (nas_path_exists("/proc/self")) { /* a file system that takes no new entries */
        ASSERT_EQ_INT(nas_dir_prepare("/proc/nas-test-x", NULL, &err), NAS_ERR_IO);
        ASSERT_CONTAINS(err.msg, "/proc/nas-test-x: cannot create directory: ");
        ASSERT_EQ_INT(nas_file_check_writable("/proc/nas-test-x", &err), NAS_ERR_IO);
        ASSERT_CONTAINS(err.msg, "/proc/nas-test-x: cannot create the file: ");
        ASSERT_EQ_INT(nas_file_write_atomic("/proc/nas-test-x", "x", 1, &err), NAS_ERR_IO);
        ASSERT_CONTAINS(err.msg, "/proc/nas-test-x: cannot create the file: ");
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ_INT(system(cmd), 0);
}

/* ---- arch ---- */

/* input 1x8x8 -> conv(4,k3) -> bn -> relu -> [skip] conv(4,k3) -> add -> maxpool2 -> gap -> fc(3) */
static nas_arch *small_arch(void) {
    nas_error err;
    nas_arch *a = nas_arch_create(1, 8, 8, 3);
    nas_node n = nas_node_make(NAS_OP_CONV);
    n.out = 4;
    n.kernel = 3;
    int x = nas_arch_chain(a, n, 0, &err);
    x = nas_arch_chain(a, nas_node_make(NAS_OP_BN), x, &err);
    int r = nas_arch_chain(a, nas_node_make(NAS_OP_RELU), x, &err);
    int y = nas_arch_chain(a, n, r, &err);
    nas_node add = nas_node_make(NAS_OP_ADD);
    add.n_inputs = 2;
    add.inputs[0] = r;
    add.inputs[1] = y;
    int s;
    if (nas_arch_add(a, &add, &s, &err)) return NULL;
    nas_node mp = nas_node_make(NAS_OP_MAXPOOL);
    mp.kernel = 2;
    mp.stride = 2;
    x = nas_arch_chain(a, mp, s, &err);
    x = nas_arch_chain(a, nas_node_make(NAS_OP_GAP), x, &err);
    nas_node fc = nas_node_make(NAS_OP_FC);
    fc.out = 3;
    fc.bias = 1;
    x = nas_arch_chain(a, fc, x, &err);
    if (x < 0) return NULL;
    nas_arch_set_hparam_num(a, "lr", 0.1, &err);
    nas_arch_set_hparam_str(a, "optimizer", "sgd", &err);
    snprintf(a->space_name, sizeof a->space_name, "tiny");
    return a;
}

static void test_arch_shapes(void) {
    nas_arch *a = small_arch();
    ASSERT_TRUE(a != NULL);
    ASSERT_EQ_INT(a->n_nodes, 9);
    ASSERT_EQ_INT(a->nodes[1].pad, 1); /* same padding filled in */
    ASSERT_EQ_INT(a->nodes[5].c, 4);
    ASSERT_EQ_INT(a->nodes[6].h, 4);
    ASSERT_EQ_INT(a->nodes[8].c, 3);
    nas_error err;
    ASSERT_OK(nas_arch_check(a, &err), &err);
    nas_arch_destroy(a);
}

static void test_arch_shape_errors(void) {
    nas_error err;
    nas_arch *a = nas_arch_create(1, 2, 2, 10);
    nas_node n = nas_node_make(NAS_OP_CONV);
    n.out = 4;
    n.kernel = 5;
    n.pad = 0;
    ASSERT_EQ_INT(nas_arch_chain(a, n, 0, &err), -1);
    ASSERT_STR_EQ(err.msg, "node 1 (conv): a 2x2 input with kernel 5 and stride 1 gives a map smaller than 1x1");
    ASSERT_EQ_INT(a->n_nodes, 1); /* unchanged */
    nas_node fc = nas_node_make(NAS_OP_FC);
    fc.out = 10;
    ASSERT_EQ_INT(nas_arch_chain(a, fc, 0, &err), -1);
    ASSERT_STR_EQ(err.msg, "node 1 (fc): needs a flat input (Cx1x1), got 1x2x2: add flatten or global_avg_pool");
    nas_node g = nas_node_make(NAS_OP_CONV);
    g.out = 3;
    g.kernel = 1;
    g.groups = 2;
    ASSERT_EQ_INT(nas_arch_chain(a, g, 0, &err), -1);
    ASSERT_STR_EQ(err.msg, "node 1 (conv): groups 2 must divide both input channels 1 and out 3");
    nas_node mb = nas_node_make(NAS_OP_MBCONV);
    mb.out = 8;
    mb.kernel = 4;
    ASSERT_EQ_INT(nas_arch_chain(a, mb, 0, &err), -1);
    ASSERT_STR_EQ(err.msg, "node 1 (mbconv): kernel must be odd, got 4");
    nas_node dr = nas_node_make(NAS_OP_DROPOUT);
    dr.rate = 1.0;
    ASSERT_EQ_INT(nas_arch_chain(a, dr, 0, &err), -1);
    ASSERT_CONTAINS(err.msg, "rate must be in [0, 1)");
    nas_node c1 = nas_node_make(NAS_OP_CONV);
    c1.out = 2;
    c1.kernel = 1;
    int x = nas_arch_chain(a, c1, 0, &err);
    ASSERT_EQ_INT(x, 1);
    nas_node add = nas_node_make(NAS_OP_ADD);
    add.n_inputs = 2;
    add.inputs[0] = 0;
    add.inputs[1] = 1;
    ASSERT_EQ_INT(nas_arch_add(a, &add, NULL, &err), NAS_ERR_INVALID);
    ASSERT_STR_EQ(err.msg, "node 2 (add): input 0 is 1x2x2 but input 1 is 2x2x2");
    add.inputs[1] = 5;
    ASSERT_EQ_INT(nas_arch_add(a, &add, NULL, &err), NAS_ERR_INVALID);
    ASSERT_STR_EQ(err.msg, "node 2 (add): input 5 must be an earlier node (0..1)");
    ASSERT_EQ_INT(nas_arch_check(a, &err), NAS_ERR_INVALID);
    ASSERT_STR_EQ(err.msg, "the last node (1, conv) gives 2x2x2, expected the logits 10x1x1");
    nas_arch_destroy(a);
}

static void test_arch_json_round_trip(void) {
    nas_arch *a = small_arch();
    nas_error err;
    ASSERT_OK(nas_arch_set_point(a, "{\"width\": 4, \"op\": \"conv\"}", &err), &err);
    char *j1, *j2;
    ASSERT_OK(nas_arch_to_json(a, &j1, &err), &err);
    nas_arch *b;
    ASSERT_OK(nas_arch_from_json(j1, strlen(j1), "rt", &b, &err), &err);
    ASSERT_EQ_INT(nas_arch_hash(a), nas_arch_hash(b));
    ASSERT_OK(nas_arch_to_json(b, &j2, &err), &err);
    ASSERT_STR_EQ(j1, j2);
    const nas_hparam *h = nas_arch_hparam(b, "optimizer");
    ASSERT_TRUE(h && h->str);
    ASSERT_STR_EQ(h->str, "sgd");
    ASSERT_NEAR(nas_arch_hparam(b, "lr")->num, 0.1, 0);
    nas_arch *c = nas_arch_clone(b);
    ASSERT_EQ_INT(nas_arch_hash(c), nas_arch_hash(a));
    ASSERT_STR_EQ(c->point_json, b->point_json);
    /* the golden file pins the format documented in docs/formats.md */
    char *golden;
    size_t len;
    ASSERT_OK(nas_file_read(NAS_SOURCE_DIR "/tests/golden/arch/small.json", &golden, &len, &err), &err);
    if (len && golden[len - 1] == '\n') golden[len - 1] = '\0';
    ASSERT_STR_EQ(j1, golden);
    free(golden);
    free(j1);
    free(j2);
    nas_arch_destroy(a);
    nas_arch_destroy(b);
    nas_arch_destroy(c);
}

static void test_arch_hash_distinguishes(void) {
    nas_arch *a = small_arch(), *b = small_arch();
    ASSERT_EQ_INT(nas_arch_hash(a), nas_arch_hash(b));
    b->nodes[1].out = 5; /* not re-inferred: the hash reads parameters */
    ASSERT_NE_INT(nas_arch_hash(a), nas_arch_hash(b));
    nas_arch_destroy(a);
    nas_arch_destroy(b);
}

/* Each bad arch.json names the field. */
static void test_arch_json_errors(void) {
    static const struct {
        const char *json, *msg;
    } CASES[] = {
        {"{\n  \"format\": ,\n}", "t:2:13: invalid JSON"},
        {"[]", "t: expected a JSON object"},
        {"{\"format\":\"x\"}", "t: format: expected \"nas-arch\""},
        {"{\"format\":\"nas-arch\",\"version\":2}", "t: version: expected 1"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8],\"classes\":3,\"nodes\":[]}",
         "t: input: expected [C, H, W]"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"nodes\":[]}", "t: arch.classes: missing"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3}", "t: nodes: missing or not an array"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"nodes\":[{\"op\":\"input\"}]}",
         "t: arch has no layers"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"nodes\":[{\"op\":\"input\"},"
         "{\"op\":\"conv\",\"in\":[0],\"kernal\":3,\"out\":3}]}",
         "t: nodes[1]: unknown field 'kernal' for op conv"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"nodes\":[{\"op\":\"input\"},"
         "{\"op\":\"conv\",\"in\":[0],\"kernel\":3}]}",
         "t: nodes[1].out: missing"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"nodes\":[{\"op\":\"input\"},"
         "{\"op\":\"conv\",\"in\":[0],\"kernel\":3.5,\"out\":3}]}",
         "t: nodes[1].kernel: expected an integer in 1..64"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"nodes\":[{\"op\":\"input\"},"
         "{\"op\":\"conv\",\"in\":[1],\"kernel\":3,\"out\":3}]}",
         "t: nodes[1].in[0]: expected an earlier node id (0..0)"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"nodes\":[{\"op\":\"input\"},"
         "{\"op\":\"warp\",\"in\":[0]}]}",
         "t: nodes[1].op: unknown op 'warp'"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"nodes\":[{\"op\":\"input\"},"
         "{\"op\":\"global_avg_pool\",\"in\":[0],\"shape\":[1,2,2]}]}",
         "t: nodes[1].shape: stored 1x2x2 but the graph gives 1x1x1"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"nodes\":[{\"op\":\"input\"},"
         "{\"op\":\"global_avg_pool\",\"in\":[0]},{\"op\":\"fc\",\"in\":[1],\"out\":3,\"act\":\"relu\"}]}",
         "t: nodes[2]: unknown field 'act' for op fc"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"nodes\":[{\"op\":\"input\"},"
         "{\"op\":\"global_avg_pool\",\"in\":[0]},{\"op\":\"fc\",\"in\":[1],\"out\":4}]}",
         "t: the last node (2, fc) gives 4x1x1, expected the logits 3x1x1"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"arch_hash\":\"00\",\"nodes\":[{\"op\":\"input\"},"
         "{\"op\":\"global_avg_pool\",\"in\":[0]},{\"op\":\"fc\",\"in\":[1],\"out\":3}]}",
         "t: arch_hash: stored value does not match the network"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"hparams\":{\"lr\":[1]},\"nodes\":[]}",
         "t: hparams.lr: expected a number or a string"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"nodes\":[{\"op\":\"input\"},"
         "{\"op\":\"dropout\",\"in\":[0],\"rate\":1.5}]}",
         "t: nodes[1].rate: expected a number in [0, 1)"},
        /* a node 0 with a shape in an arch without an input (it crashed) */
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[0,0,0],\"classes\":10,\"nodes\":[{\"id\":0,"
         "\"op\":\"input\",\"shape\":[0,0,0]}]}",
         "t: nodes[0]: arch without an input (0x0x0) cannot hold nodes"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"input\":[1,8,8],\"classes\":3,\"hparams\":{\"lr\":1e999},\"nodes\":[]}",
         "t: hparams.lr: inf is not a finite number"},
        /* strict JSON: text after the value, two values, a key twice */
        {"{\"format\":\"nas-arch\",\"version\":1}\n xyz", "t:2:2: text after the JSON value"},
        {"{\"format\":\"nas-arch\"} {\"format\":\"nas-arch\"}", "t:1:23: text after the JSON value"},
        {"{\"format\":\"nas-arch\",\"version\":1,\"hparams\":{\"lr\":0.1,\"lr\":0.2}}", "t: key 'hparams.lr' appears twice"},
        {"{\"nodes\":[{\"op\":\"input\"},{\"op\":\"relu\",\"op\":\"bn\"}]}", "t: key 'nodes[1].op' appears twice"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        nas_error err;
        nas_arch *a = (nas_arch *)1;
        nas_status s = nas_arch_from_json(CASES[i].json, strlen(CASES[i].json), "t", &a, &err);
        if (s == NAS_OK) TEST_FAIL_("case %zu loaded: %s", i, CASES[i].json);
        ASSERT_TRUE(a == NULL);
        ASSERT_CONTAINS(err.msg, CASES[i].msg);
    }
}

static void test_arch_hparam_only(void) {
    nas_error err;
    nas_arch *a = nas_arch_create(0, 0, 0, 0);
    ASSERT_EQ_INT(a->n_nodes, 0);
    ASSERT_OK(nas_arch_set_hparam_num(a, "learning_rate", 3e-4, &err), &err);
    ASSERT_OK(nas_arch_set_hparam_str(a, "loss", "mse", &err), &err);
    ASSERT_OK(nas_arch_set_hparam_num(a, "learning_rate", 5e-4, &err), &err); /* replaces */
    ASSERT_OK(nas_arch_set_hparam_num(a, "epochs", 10, &err), &err);
    ASSERT_OK(nas_arch_set_hparam_num(a, "momentum", 0.1 + 0.2, &err), &err);
    ASSERT_EQ_INT(a->n_hparams, 4);
    char *j;
    ASSERT_OK(nas_arch_to_json(a, &j, &err), &err);
    /* numbers in their shortest exact text: 10, not 1e+01; 17 digits when needed */
    ASSERT_CONTAINS(j, "\"epochs\":\t10");
    ASSERT_CONTAINS(j, "\"learning_rate\":\t0.0005");
    ASSERT_CONTAINS(j, "\"momentum\":\t0.30000000000000004");
    nas_arch *b;
    ASSERT_OK(nas_arch_from_json(j, strlen(j), "h", &b, &err), &err);
    ASSERT_EQ_INT(b->n_hparams, 4);
    ASSERT_NEAR(nas_arch_hparam(b, "learning_rate")->num, 5e-4, 0);
    ASSERT_TRUE(nas_arch_hparam(b, "momentum")->num == 0.1 + 0.2);
    nas_node n = nas_node_make(NAS_OP_RELU);
    ASSERT_EQ_INT(nas_arch_chain(b, n, 0, &err), -1);
    free(j);
    nas_arch_destroy(a);
    nas_arch_destroy(b);
}

static void test_arch_print(void) {
    nas_arch *a = small_arch();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    nas_arch_print(a, f);
    fclose(f);
    ASSERT_CONTAINS(buf, "arch tiny  input 1x8x8  classes 3");
    ASSERT_CONTAINS(buf, "conv(4)");
    ASSERT_CONTAINS(buf, "k3 p1");
    ASSERT_CONTAINS(buf, "4x4x4");
    ASSERT_CONTAINS(buf, "hparams: lr=0.1 optimizer=sgd");
    free(buf);
    nas_arch_destroy(a);
}

static const test_case TESTS[] = {
    {"error_set_and_prefix", test_error_set_and_prefix},
    {"pcg32_reference_values", test_pcg32_reference_values},
    {"pcg32_bounded_uniform", test_pcg32_bounded_uniform},
    {"pcg32_advance", test_pcg32_advance},
    {"pcg32_normal_moments", test_pcg32_normal_moments},
    {"arena", test_arena},
    {"arena_reset", test_arena_reset},
    {"fileio", test_fileio},
    {"fileio_output_checks", test_fileio_output_checks},
    {"arch_shapes", test_arch_shapes},
    {"arch_shape_errors", test_arch_shape_errors},
    {"arch_json_round_trip", test_arch_json_round_trip},
    {"arch_hash_distinguishes", test_arch_hash_distinguishes},
    {"arch_json_errors", test_arch_json_errors},
    {"arch_hparam_only", test_arch_hparam_only},
    {"arch_print", test_arch_print},
    {NULL, NULL},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
