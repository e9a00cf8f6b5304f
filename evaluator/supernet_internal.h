/*
 * supernet_internal.h - the supernet's private state, shared by supernet.c
 * (keys, training, scoring) and supernet_ckpt.c (the checkpoint file).
 * Not a public header: nothing outside evaluator/supernet*.c includes it
 * but tests/test_supernet.c (the kernel transforms' gradient check).
 */
#ifndef NAS_EVALUATOR_SUPERNET_INTERNAL_H
#define NAS_EVALUATOR_SUPERNET_INTERNAL_H

#include "evaluator/supernet.h"
#include "models/network.h"
#include "models/optim.h"

#define SN_KEY_MAX 192

/* One master tensor: the largest shape of its key, values, gradient, and its
 * own optimizer (so a tensor a step does not use is not updated, as with
 * PyTorch's grad = None, and Adam counts steps per tensor). */
typedef struct sn_tensor {
    char key[SN_KEY_MAX];
    int dims[4];
    size_t n;
    float *w, *dw;
    int decay;
    nas_param p; /* the optimizer's view of w/dw; its address must stay fixed */
    nas_optim *opt;
    int touched; /* used by the current step */
    int min_k;   /* smallest square kernel seen in discovery (0: none smaller) */
} sn_tensor;

/* Most kernel transforms in one chain (kernel K down to K - 2 x this). */
#define SN_KT_MAX 8

/* A cache slot: the network and the arena its buffers live in (reset and
 * reused by the slot's next network; it holds the largest one built so far). */
typedef struct sn_net {
    nas_net *net;
    nas_arena arena;
    uint64_t hash;
    int batch;
    unsigned flags;
    uint64_t last_use;
} sn_net;

/* Param k of the current network -> master tensor (-1: running statistic) and sub-shape. */
typedef struct sn_map {
    int tensor;
    int dims[4];
    int n_kt;            /* kernel transforms applied (kernel_transform), 0: a plain slice */
    int kt[SN_KT_MAX];   /* their tensors, for kernels K-2, K-4, ... down to dims[2] */
} sn_map;

struct nas_supernet {
    const ss_space *space; /* borrowed */
    nas_supernet_config cfg;
    sn_tensor **t; /* stable addresses: optimizers keep &t[i]->p */
    int n_t, cap_t;
    int *index; /* open addressing: key hash -> tensor index + 1 (0 empty) */
    int index_cap;
    int allocated; /* discovery done, tensors hold storage */
    sn_net *cache; /* cfg.cache_nets entries */
    uint64_t clock;
    sn_map *map;
    int map_cap;
    double *largest, *smallest; /* greedy extreme points */
    nas_arch *big, *small;      /* their archs */
    int epoch;
    uint64_t steps;
    pcg32 init_rng, sample_rng, drop_rng;
    long step_correct;
    double last_loss;
    double *step_times;
    size_t n_step_times;
    float *teacher; /* cfg.distill: the first path's softmax, batch x classes */
    float *kt_buf; /* scratch of the kernel transforms */
    size_t kt_cap;
};

nas_status sn_config_check(const nas_supernet_config *c, nas_error *err);
/* A supernet with no tensors: config, generators, cache, extreme points. */
nas_status sn_alloc(const ss_space *space, const nas_supernet_config *cfg, nas_supernet **out,
                    nas_error *err);
/* Appends a tensor record (no storage); returns its index or -1. */
int sn_tensor_add(nas_supernet *sn, const char *key, const int dims[4], int decay, nas_error *err);
/* Allocates and initialises a tensor's storage and optimizer. */
nas_status sn_tensor_alloc(nas_supernet *sn, sn_tensor *t, pcg32 *rng, nas_error *err);

/* DIR/supernet.ckpt + DIR/supernet.json (supernet_ckpt.c). */
nas_status sn_checkpoint_save(const nas_supernet *sn, const char *dir, nas_error *err);
/* Decodes a checkpoint's bytes b[0..len) (path names it in messages) into
 * a supernet of space: what nas_supernet_load does after reading the file. */
nas_status sn_checkpoint_decode(const ss_space *space, const unsigned char *b, size_t len, const char *path,
                                const nas_supernet_config *runtime, nas_supernet **out, nas_error *err);

#endif
