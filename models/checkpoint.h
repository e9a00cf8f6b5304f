/*
 * checkpoint.h - the weights file (.nasw): every tensor of a network by name,
 * the arch hash it belongs to, and optionally the optimizer state.
 *
 * Format (version 1, all integers little-endian; docs/formats.md):
 *
 *   offset 0   "NASW"                 4 bytes
 *          4   version                u32 (1)
 *          8   file size              u64, every byte including the CRC
 *         16   arch hash              u64 (nas_arch_hash)
 *         24   tensor count           u32
 *         28   flags                  u32, bit 0: an optimizer state section follows
 *         32   tensors, each: name length u32 (1..95), name bytes (no NUL),
 *              element count u64, elements as float32 little-endian
 *              [optimizer state: length u64, the nas_optim_state_save blob]
 *   size - 4   CRC-32 (zlib crc32)    u32 over bytes [0, size - 4)
 *
 * Files are written atomically (temporary file + rename). Loading checks, in
 * order: magic, version, size (truncation), CRC, arch hash, then every tensor
 * by name and size; nothing in the caller's params or optimizer changes
 * unless the whole file is valid and matches.
 *
 * This file does not build networks or compute the arch hash: callers pass
 * nas_arch_hash(arch) and the network's nas_param array.
 */
#ifndef NAS_MODELS_CHECKPOINT_H
#define NAS_MODELS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "models/optim.h"
#include "models/param.h"
#include "nas/core/status.h"

#define NAS_CHECKPOINT_VERSION 1u

/* Writes params[0..n_params) (weights and buffers alike) and, when opt is not
 * NULL, its state, to path atomically. Errors name the path. */
nas_status nas_checkpoint_save(const char *path, uint64_t arch_hash, const nas_param *params,
                               size_t n_params, const nas_optim *opt, nas_error *err);

/* The same bytes in memory: *data is malloc'd (caller frees), *len its size. */
nas_status nas_checkpoint_encode(uint64_t arch_hash, const nas_param *params, size_t n_params,
                                 const nas_optim *opt, unsigned char **data, size_t *len,
                                 nas_error *err);

/* Loads path into params[0..n_params), matched by name and element count.
 * The file must be for arch_hash (NAS_ERR_MISMATCH otherwise) and hold
 * exactly the tensors of params: a missing, extra or resized tensor is
 * NAS_ERR_MISMATCH naming it. A bad magic, version, CRC or a truncated file
 * is NAS_ERR_FORMAT naming the file and byte offset. When opt is not NULL the
 * file must carry optimizer state, which is restored into opt; when opt is
 * NULL a state section is skipped. */
nas_status nas_checkpoint_load(const char *path, uint64_t arch_hash, nas_param *params,
                               size_t n_params, nas_optim *opt, nas_error *err);

/* nas_checkpoint_load on bytes in memory; `source` names them in messages. */
nas_status nas_checkpoint_decode(const void *data, size_t len, const char *source,
                                 uint64_t arch_hash, nas_param *params, size_t n_params,
                                 nas_optim *opt, nas_error *err);

/* Header fields of a checkpoint after checking magic, version, size and CRC
 * (no params needed), e.g. to report which arch a weights file belongs to. */
typedef struct nas_checkpoint_info {
    uint32_t version;
    uint64_t arch_hash;
    uint32_t n_tensors;
    int has_optim_state;
    uint64_t n_floats; /* total elements over all tensors */
} nas_checkpoint_info;

nas_status nas_checkpoint_inspect(const char *path, nas_checkpoint_info *info, nas_error *err);
nas_status nas_checkpoint_inspect_memory(const void *data, size_t len, const char *source,
                                         nas_checkpoint_info *info, nas_error *err);

/* zlib's CRC-32 of len bytes (any length): the checksum of weights files
 * and supernet checkpoints. */
uint32_t nas_checkpoint_crc32(const void *data, size_t len);

#endif
