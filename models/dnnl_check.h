/*
 * dnnl_check.h - the one checking macro for every oneDNN call.
 *
 *     NAS_DNNL(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL), err);
 *
 * On failure it fills err with the call text, oneDNN's status name and the
 * call site, and jumps to the enclosing function's `fail:` label. Include
 * only from models/ and evaluator/ (the only folders that see dnnl.h).
 */
#ifndef NAS_MODELS_DNNL_CHECK_H
#define NAS_MODELS_DNNL_CHECK_H

#include <dnnl.h>

#include "nas/core/status.h"

/* oneDNN's status as text ("invalid_arguments", "unimplemented", ...). */
static inline const char *nas_dnnl_status_str(dnnl_status_t s) {
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out_of_memory";
    case dnnl_invalid_arguments: return "invalid_arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator_ends";
    case dnnl_runtime_error: return "runtime_error";
    case dnnl_not_required: return "not_required";
    default: return "unknown";
    }
}

#define NAS_DNNL(call, err)                                                                    \
    do {                                                                                       \
        dnnl_status_t nas_dnnl_s_ = (call);                                                    \
        if (nas_dnnl_s_ != dnnl_success) {                                                     \
            nas_error_set((err), NAS_ERR_DNNL, __FILE__, __LINE__, "oneDNN: %s: %s (%s:%d)",   \
                          #call, nas_dnnl_status_str(nas_dnnl_s_), __FILE__, __LINE__);        \
            goto fail;                                                                         \
        }                                                                                      \
    } while (0)

#endif
