/*
 * checkpoint.c - the versioned weights file (see checkpoint.h for the
 * layout). Encodes params (and optimizer state) into one buffer written
 * atomically; decodes by checking the frame (magic, version, size, CRC),
 * then the arch hash, then matching every tensor by name and size before
 * copying anything. Does not know about layers or the arch itself.
 */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "models/checkpoint.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nas/core/bytes.h"
#include "nas/core/fileio.h"

#define CKPT_MAGIC "NASW"
#define CKPT_HEADER 32
#define CKPT_FLAG_OPTIM 1u

uint32_t nas_checkpoint_crc32(const void *data, size_t len) {
    const unsigned char *p = data;
    uLong crc = crc32(0L, Z_NULL, 0);
    while (len > 0) {
        uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = crc32(crc, p, chunk);
        p += chunk;
        len -= chunk;
    }
    return (uint32_t)crc;
}

nas_status nas_checkpoint_encode(uint64_t arch_hash, const nas_param *params, size_t n_params,
                                 const nas_optim *opt, unsigned char **data, size_t *len,
                                 nas_error *err) {
    *data = NULL;
    *len = 0;
    if (n_params > UINT32_MAX)
        return NAS_FAIL(err, NAS_ERR_INVALID, "checkpoint: %zu tensors is too many", n_params);
    size_t size = CKPT_HEADER + 4;
    for (size_t i = 0; i < n_params; i++) {
        size_t name_len = strnlen(params[i].name, NAS_PARAM_NAME_MAX);
        if (name_len == 0 || name_len >= NAS_PARAM_NAME_MAX)
            return NAS_FAIL(err, NAS_ERR_INVALID,
                            "checkpoint: tensor %zu has an empty or unterminated name", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(params[i].name, params[j].name) == 0)
                return NAS_FAIL(err, NAS_ERR_INVALID,
                                "checkpoint: two tensors are named \"%s\" (%zu and %zu)",
                                params[i].name, j, i);
        size += 4 + name_len + 8 + 4 * params[i].n;
    }
    size_t state = opt ? nas_optim_state_size(opt) : 0;
    if (opt) size += 8 + state;
    unsigned char *buf = malloc(size);
    if (!buf)
        return NAS_FAIL(err, NAS_ERR_NOMEM, "checkpoint: out of memory for %zu bytes", size);
    memcpy(buf, CKPT_MAGIC, 4);
    nas_put_u32(buf + 4, NAS_CHECKPOINT_VERSION);
    nas_put_u64(buf + 8, (uint64_t)size);
    nas_put_u64(buf + 16, arch_hash);
    nas_put_u32(buf + 24, (uint32_t)n_params);
    nas_put_u32(buf + 28, opt ? CKPT_FLAG_OPTIM : 0u);
    unsigned char *p = buf + CKPT_HEADER;
    for (size_t i = 0; i < n_params; i++) {
        size_t name_len = strlen(params[i].name);
        nas_put_u32(p, (uint32_t)name_len);
        memcpy(p + 4, params[i].name, name_len);
        p += 4 + name_len;
        nas_put_u64(p, (uint64_t)params[i].n);
        p += 8;
        for (size_t k = 0; k < params[i].n; k++) {
            uint32_t u;
            memcpy(&u, &params[i].w[k], 4);
            nas_put_u32(p + 4 * k, u);
        }
        p += 4 * params[i].n;
    }
    if (opt) {
        nas_put_u64(p, (uint64_t)state);
        nas_optim_state_save(opt, p + 8);
        p += 8 + state;
    }
    nas_put_u32(p, nas_checkpoint_crc32(buf, size - 4));
    *data = buf;
    *len = size;
    return NAS_OK;
}

nas_status nas_checkpoint_save(const char *path, uint64_t arch_hash, const nas_param *params,
                               size_t n_params, const nas_optim *opt, nas_error *err) {
    unsigned char *data = NULL;
    size_t len = 0;
    nas_status s = nas_checkpoint_encode(arch_hash, params, n_params, opt, &data, &len, err);
    if (s) {
        nas_error_prefix(err, "%s", path);
        return s;
    }
    s = nas_file_write_atomic(path, data, len, err);
    free(data);
    return s;
}

/* Checks magic, version, size and CRC. */
static nas_status check_frame(const unsigned char *b, size_t len, const char *src,
                              nas_error *err) {
    if (len < 4 || memcmp(b, CKPT_MAGIC, 4) != 0)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: not a nas weights file: bad magic at byte offset 0 (expected "
                        "\"NASW\")",
                        src);
    if (len < CKPT_HEADER + 4)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: truncated: the file ends at byte offset %zu inside the %d-byte "
                        "header",
                        src, len, CKPT_HEADER);
    uint32_t version = nas_get_u32(b + 4);
    if (version != NAS_CHECKPOINT_VERSION)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: weights file version %u (byte offset 4) is not supported; this "
                        "build reads version %u",
                        src, version, NAS_CHECKPOINT_VERSION);
    uint64_t size = nas_get_u64(b + 8);
    if (size > len)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: truncated: the file ends at byte offset %zu, its header (byte "
                        "offset 8) says %llu bytes",
                        src, len, (unsigned long long)size);
    if (size < len)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: %zu unexpected bytes after the end at byte offset %llu", src,
                        len - (size_t)size, (unsigned long long)size);
    uint32_t stored = nas_get_u32(b + len - 4), actual = nas_checkpoint_crc32(b, len - 4);
    if (stored != actual)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: CRC mismatch: stored 0x%08x at byte offset %zu, computed 0x%08x "
                        "over bytes 0..%zu (the file is corrupt)",
                        src, stored, len - 4, actual, len - 4);
    return NAS_OK;
}

typedef struct tensor_ref {
    size_t off;       /* byte offset of the tensor's record */
    size_t name_len;
    const unsigned char *name;
    uint64_t n;
    size_t data_off; /* byte offset of the floats */
} tensor_ref;

/* Reads the tensor record at *off (bounded by end) and advances *off. */
static nas_status read_tensor(const unsigned char *b, size_t *off, size_t end, const char *src,
                              size_t index, tensor_ref *t, nas_error *err) {
    size_t o = *off;
    t->off = o;
    if (end - o < 4)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: tensor %zu: record cut at byte offset %zu", src,
                        index, o);
    t->name_len = nas_get_u32(b + o);
    if (t->name_len == 0 || t->name_len >= NAS_PARAM_NAME_MAX)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: tensor %zu: bad name length %zu at byte offset %zu (1..%d)", src,
                        index, t->name_len, o, NAS_PARAM_NAME_MAX - 1);
    if (end - o - 4 < t->name_len + 8)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: tensor %zu: record cut at byte offset %zu", src,
                        index, o);
    t->name = b + o + 4;
    if (memchr(t->name, 0, t->name_len))
        return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: tensor %zu: NUL in name at byte offset %zu",
                        src, index, o + 4);
    t->n = nas_get_u64(b + o + 4 + t->name_len);
    t->data_off = o + 4 + t->name_len + 8;
    if (t->n > (end - t->data_off) / 4)
        return NAS_FAIL(err, NAS_ERR_FORMAT,
                        "%s: tensor \"%.*s\": %llu elements at byte offset %zu run past the end "
                        "of the tensor data (byte offset %zu)",
                        src, (int)t->name_len, (const char *)t->name, (unsigned long long)t->n,
                        t->data_off, end);
    *off = t->data_off + 4 * (size_t)t->n;
    return NAS_OK;
}

/* Locates the optimizer section after the tensors (at off); end = size - 4. */
static nas_status read_optim_section(const unsigned char *b, size_t off, size_t end, uint32_t flags,
                                     const char *src, size_t *state_off, size_t *state_len,
                                     nas_error *err) {
    *state_off = 0;
    *state_len = 0;
    if (flags & CKPT_FLAG_OPTIM) {
        if (end - off < 8)
            return NAS_FAIL(err, NAS_ERR_FORMAT,
                            "%s: optimizer section cut at byte offset %zu", src, off);
        uint64_t n = nas_get_u64(b + off);
        if (n > end - off - 8)
            return NAS_FAIL(err, NAS_ERR_FORMAT,
                            "%s: optimizer section length %llu at byte offset %zu runs past the "
                            "end (byte offset %zu)",
                            src, (unsigned long long)n, off, end);
        *state_off = off + 8;
        *state_len = (size_t)n;
        off += 8 + (size_t)n;
    }
    if (off != end)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: %zu unexpected bytes at byte offset %zu", src,
                        end - off, off);
    return NAS_OK;
}

nas_status nas_checkpoint_inspect_memory(const void *data, size_t len, const char *source,
                                         nas_checkpoint_info *info, nas_error *err) {
    const unsigned char *b = data;
    const char *src = source ? source : "weights";
    memset(info, 0, sizeof *info);
    nas_status s = check_frame(b, len, src, err);
    if (s) return s;
    uint32_t flags = nas_get_u32(b + 28);
    if (flags & ~CKPT_FLAG_OPTIM)
        return NAS_FAIL(err, NAS_ERR_FORMAT, "%s: unknown flags 0x%x at byte offset 28", src,
                        flags);
    info->version = nas_get_u32(b + 4);
    info->arch_hash = nas_get_u64(b + 16);
    info->n_tensors = nas_get_u32(b + 24);
    info->has_optim_state = (flags & CKPT_FLAG_OPTIM) != 0;
    size_t off = CKPT_HEADER, end = len - 4;
    for (size_t i = 0; i < info->n_tensors; i++) {
        tensor_ref t = {0};
        s = read_tensor(b, &off, end, src, i, &t, err);
        if (s) return s;
        info->n_floats += t.n;
    }
    size_t so, sl;
    return read_optim_section(b, off, end, flags, src, &so, &sl, err);
}

nas_status nas_checkpoint_decode(const void *data, size_t len, const char *source,
                                 uint64_t arch_hash, nas_param *params, size_t n_params,
                                 nas_optim *opt, nas_error *err) {
    const unsigned char *b = data;
    const char *src = source ? source : "weights";
    size_t *where = NULL;
    nas_checkpoint_info info;
    nas_status s = nas_checkpoint_inspect_memory(data, len, src, &info, err);
    if (s) return s;
    if (info.arch_hash != arch_hash)
        return NAS_FAIL(err, NAS_ERR_MISMATCH,
                        "%s: the weights are for arch 0x%016llx (byte offset 16), this arch "
                        "hashes to 0x%016llx",
                        src, (unsigned long long)info.arch_hash, (unsigned long long)arch_hash);
    if (opt && !info.has_optim_state)
        return NAS_FAIL(err, NAS_ERR_MISMATCH, "%s: the file has no optimizer state to resume",
                        src);
    where = calloc(n_params ? n_params : 1, sizeof *where); /* data offset + 1; 0 = not seen */
    if (!where) return NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", src);
    size_t off = CKPT_HEADER, end = len - 4;
    for (size_t i = 0; i < info.n_tensors; i++) {
        tensor_ref t = {0};
        s = read_tensor(b, &off, end, src, i, &t, err);
        if (s) goto fail;
        size_t k = 0;
        while (k < n_params && !(strnlen(params[k].name, NAS_PARAM_NAME_MAX) == t.name_len &&
                                 memcmp(params[k].name, t.name, t.name_len) == 0))
            k++;
        if (k == n_params) {
            s = NAS_FAIL(err, NAS_ERR_MISMATCH,
                         "%s: tensor \"%.*s\" (byte offset %zu) is not in the network", src,
                         (int)t.name_len, (const char *)t.name, t.off);
            goto fail;
        }
        if (where[k]) {
            s = NAS_FAIL(err, NAS_ERR_FORMAT, "%s: tensor \"%s\" appears twice (byte offset %zu)",
                         src, params[k].name, t.off);
            goto fail;
        }
        if (t.n != params[k].n) {
            s = NAS_FAIL(err, NAS_ERR_MISMATCH,
                         "%s: tensor \"%s\" has %llu elements in the file (byte offset %zu), the "
                         "network's has %zu",
                         src, params[k].name, (unsigned long long)t.n, t.off, params[k].n);
            goto fail;
        }
        where[k] = t.data_off + 1;
    }
    for (size_t k = 0; k < n_params; k++) {
        if (!where[k]) {
            s = NAS_FAIL(err, NAS_ERR_MISMATCH, "%s: tensor \"%s\" is missing from the file", src,
                         params[k].name);
            goto fail;
        }
    }
    if (opt) {
        size_t so, sl;
        s = read_optim_section(b, off, end, CKPT_FLAG_OPTIM, src, &so, &sl, err);
        if (s) goto fail;
        s = nas_optim_state_load(opt, b + so, sl, src, so, err);
        if (s) goto fail;
    }
    for (size_t k = 0; k < n_params; k++) {
        const unsigned char *p = b + where[k] - 1;
        for (size_t i = 0; i < params[k].n; i++) {
            uint32_t u = nas_get_u32(p + 4 * i);
            memcpy(&params[k].w[i], &u, 4);
        }
    }
fail:
    free(where);
    return s;
}

nas_status nas_checkpoint_load(const char *path, uint64_t arch_hash, nas_param *params,
                               size_t n_params, nas_optim *opt, nas_error *err) {
    char *data = NULL;
    size_t len = 0;
    nas_status s = nas_file_read(path, &data, &len, err);
    if (s) return s;
    s = nas_checkpoint_decode(data, len, path, arch_hash, params, n_params, opt, err);
    free(data);
    return s;
}

nas_status nas_checkpoint_inspect(const char *path, nas_checkpoint_info *info, nas_error *err) {
    char *data = NULL;
    size_t len = 0;
    nas_status s = nas_file_read(path, &data, &len, err);
    if (s) return s;
    s = nas_checkpoint_inspect_memory(data, len, path, info, err);
    free(data);
    return s;
}
