/*
 * arch.h - the concrete network: a DAG of typed ops with inferred shapes.
 *
 * An arch is what a point of a search space realizes to, what every command
 * exchanges (arch.json, docs/formats.md) and what users keep. Nodes are stored
 * in topological order: node 0 is the input image, every node's inputs have
 * smaller indices, and the last node is the network's output (the logits,
 * shape classes x 1 x 1).
 *
 * Shapes are per image (C, H, W); the batch dimension is never stored.
 * Composite ops (mbconv, resblock) stay single nodes; a cell of a cell-based
 * space is expanded into its edges and adds, each node carrying the cell's
 * name in `scope`.
 *
 * Ownership: nas_arch_create / nas_arch_from_json / nas_arch_load return an
 * arch the caller frees with nas_arch_destroy. Strings returned by
 * nas_arch_to_json are malloc'd and freed by the caller.
 */
#ifndef NAS_CORE_ARCH_H
#define NAS_CORE_ARCH_H

#include <stdint.h>
#include <stdio.h>

#include "nas/core/status.h"

typedef enum nas_op {
    NAS_OP_INPUT = 0, /* the image; node 0 only */
    NAS_OP_CONV,      /* out, kernel, stride, pad, dilation, groups, bias.
                         depthwise: groups == in channels == out; pointwise: kernel 1 */
    NAS_OP_BN,        /* batch normalization (affine) */
    NAS_OP_RELU,
    NAS_OP_RELU6,
    NAS_OP_HSWISH,
    NAS_OP_SIGMOID,
    NAS_OP_MBCONV,    /* out, kernel, stride, expand, se, act: expand 1x1 + BN + act (skipped
                         when expand == 1), depthwise kxk/stride + BN + act, optional SE
                         (reduction 4, ReLU then sigmoid gate), project 1x1 + BN; residual add
                         when stride == 1 and in == out */
    NAS_OP_RESBLOCK,  /* out, kernel, stride, act: basic residual block, conv-BN-act-conv-BN
                         plus shortcut (identity, or 1x1 conv stride + BN when the shape
                         changes), add, act */
    NAS_OP_MAXPOOL,   /* kernel, stride, pad */
    NAS_OP_AVGPOOL,   /* kernel, stride, pad; padding excluded from the average */
    NAS_OP_GAP,       /* global average pool: C x 1 x 1 */
    NAS_OP_FLATTEN,   /* (C*H*W) x 1 x 1 */
    NAS_OP_DROPOUT,   /* rate; identity at inference */
    NAS_OP_FC,        /* out, bias; input must be C x 1 x 1 (use flatten or gap) */
    NAS_OP_IDENTITY,  /* skip connection */
    NAS_OP_ZERO,      /* "none": zeros; stride > 1 subsamples the shape */
    NAS_OP_ADD,       /* elementwise sum of >= 2 inputs of one shape */
    NAS_OP_CONCAT,    /* channel concatenation of >= 2 inputs with one H x W */
    NAS_OP_COUNT
} nas_op;

#define NAS_ARCH_MAX_INPUTS 16
#define NAS_ARCH_SCOPE_MAX 64
#define NAS_ARCH_NAME_MAX 64

typedef struct nas_node {
    nas_op op;
    int n_inputs;
    int inputs[NAS_ARCH_MAX_INPUTS]; /* indices of earlier nodes */
    /* parameters; 0 where an op does not use one */
    int out;      /* output channels: conv, fc, mbconv, resblock */
    int kernel;   /* conv, pools, mbconv (depthwise), resblock */
    int stride;   /* conv, pools, mbconv, resblock, zero */
    int pad;      /* conv, pools; -1 on input to nas_arch_add means "same" */
    int dilation; /* conv */
    int groups;   /* conv */
    int expand;   /* mbconv expansion ratio */
    int se;       /* mbconv squeeze-and-excitation: 0 or 1 */
    nas_op act;   /* activation inside mbconv / resblock: RELU, RELU6, HSWISH, SIGMOID */
    int bias;     /* conv, fc: 0 or 1 */
    double rate;  /* dropout probability in [0, 1) */
    /* inferred output shape, per image */
    int c, h, w;
    char scope[NAS_ARCH_SCOPE_MAX]; /* where in the space it came from; may be "" */
} nas_node;

typedef struct nas_hparam {
    char name[NAS_ARCH_NAME_MAX];
    double num;  /* value when str is NULL */
    char *str;   /* identifier value ("sgd", "mse"), malloc'd, or NULL */
} nas_hparam;

typedef struct nas_arch {
    int in_c, in_h, in_w; /* input image shape */
    int classes;          /* number of output classes */
    int n_nodes, cap_nodes;
    nas_node *nodes;
    int n_hparams, cap_hparams;
    nas_hparam *hparams;
    char space_name[NAS_ARCH_NAME_MAX]; /* "" when not from a space */
    char space_hash[32];                /* hex digest of the space source, or "" */
    char *point_json;                   /* the point it came from (JSON object), or NULL */
} nas_arch;

/* Op names as in arch.json and the language ("conv", "mbconv", "global_avg_pool", ...). */
const char *nas_op_name(nas_op op);
/* NAS_OP_COUNT when unknown. */
nas_op nas_op_from_name(const char *name);
/* 1 for RELU, RELU6, HSWISH, SIGMOID. */
int nas_op_is_activation(nas_op op);

/* A new arch holding only the input node (0). NULL when out of memory. */
nas_arch *nas_arch_create(int in_c, int in_h, int in_w, int classes);
void nas_arch_destroy(nas_arch *a);
nas_arch *nas_arch_clone(const nas_arch *a);

/* A node with the defaults of `op` (stride 1, dilation 1, groups 1, pad "same",
 * act relu, no inputs). */
nas_node nas_node_make(nas_op op);

/* Appends a copy of *node, infers its shape from its inputs (which must be
 * earlier nodes) and fills node defaults (pad -1 -> same padding). On a shape
 * error the arch is unchanged and err says why (e.g. "conv: 3x3 kernel with
 * stride 2 makes a 1x1 map smaller than 1x1"). *index (may be NULL) receives
 * the new node's index. */
nas_status nas_arch_add(nas_arch *a, const nas_node *node, int *index, nas_error *err);

/* Appends node with a single input `from`; returns its index or -1 on error. */
int nas_arch_chain(nas_arch *a, nas_node node, int from, nas_error *err);

/* Re-infers every shape and checks the whole graph: topological order, input
 * counts, parameter ranges, shapes, last node = classes x 1 x 1. */
nas_status nas_arch_check(nas_arch *a, nas_error *err);

/* Hyperparameters: set replaces an existing name. get returns NAS_ERR_INVALID
 * when absent or of the other type. */
nas_status nas_arch_set_hparam_num(nas_arch *a, const char *name, double v, nas_error *err);
nas_status nas_arch_set_hparam_str(nas_arch *a, const char *name, const char *v, nas_error *err);
const nas_hparam *nas_arch_hparam(const nas_arch *a, const char *name);

/* Replaces point_json with a copy of json (may be NULL). */
nas_status nas_arch_set_point(nas_arch *a, const char *json, nas_error *err);

/* 64-bit structural hash of the network (ops, params, edges, input, classes);
 * hyperparameters, scopes and the point are not included. Equal networks hash
 * equal. Checkpoints record it. */
uint64_t nas_arch_hash(const nas_arch *a);

/* Serialises to arch.json text (format in docs/formats.md). Caller frees. */
nas_status nas_arch_to_json(const nas_arch *a, char **json, nas_error *err);
/* Parses and checks arch.json text; errors name the bad field, e.g.
 * "nodes[3].kernel: expected an integer >= 1". `source` names the text in
 * messages (a path, or NULL). */
nas_status nas_arch_from_json(const char *json, size_t len, const char *source, nas_arch **out,
                              nas_error *err);
nas_status nas_arch_load(const char *path, nas_arch **out, nas_error *err);
nas_status nas_arch_save(const nas_arch *a, const char *path, nas_error *err);

/* Prints the readable table (node, op, inputs, parameters, output shape). */
void nas_arch_print(const nas_arch *a, FILE *out);

#endif
