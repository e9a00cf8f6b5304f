/*
 * param.h - a named tensor of a network that optimizers update and
 * checkpoints store.
 *
 * A network (models/network.h) exposes its tensors as an array of nas_param:
 * trainable weights with their gradients, and buffers (BatchNorm running mean
 * and variance) with dw == NULL. Optimizers (models/optim.h) read and write
 * w through dw; checkpoints (models/checkpoint.h) save and load every entry
 * by name and size. The memory is owned by the layer that holds it.
 */
#ifndef NAS_MODELS_PARAM_H
#define NAS_MODELS_PARAM_H

#include <stddef.h>

#define NAS_PARAM_NAME_MAX 96

typedef struct nas_param {
    char name[NAS_PARAM_NAME_MAX]; /* unique in its network: "n3.conv.weight", "n4.bn.running_mean" */
    float *w;                      /* values, n floats */
    float *dw;                     /* gradient (same size), or NULL for a buffer */
    size_t n;
    int decay; /* 1 if weight decay applies (conv/fc weights), 0 for biases, BN affine, buffers */
} nas_param;

#endif
