/* arena.c - bump allocator (see arena.h). Under AddressSanitizer the memory
 * no allocation covers is poisoned and every raw allocation is followed by a
 * poisoned redzone, so overruns inside a chunk are reported as on the heap. */
#include "nas/core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NAS_ARENA_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NAS_ARENA_ASAN 1
#endif
#ifdef NAS_ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define REDZONE 64
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define REDZONE 0
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct nas_arena_chunk {
    nas_arena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void nas_arena_init(nas_arena *a, size_t chunk_size) {
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    a->total = a->allocs = 0;
    a->align_max = 16;
    a->reserve = 0;
}

static void free_chunks(nas_arena *a) {
    nas_arena_chunk *c = a->head;
    while (c) {
        nas_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

void nas_arena_deinit(nas_arena *a) {
    free_chunks(a);
    a->total = a->allocs = 0;
    a->align_max = 16;
    a->reserve = 0;
}

/* Padding that aligns c->data + c->used to align. */
static size_t pad_for(const nas_arena_chunk *c, size_t align) {
    uintptr_t p = (uintptr_t)(c->data + c->used);
    return (size_t)(-p & (uintptr_t)(align - 1));
}

void *nas_arena_alloc_raw(nas_arena *a, size_t size, size_t align) {
    if (align < 16) align = 16;
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    size_t span = size + REDZONE;
    nas_arena_chunk *c = a->head;
    if (!c || c->size - c->used < span || c->size - c->used - span < pad_for(c, align)) {
        size_t cap = span + align - 16; /* data is 16-aligned: room to align */
        if (cap < a->chunk_size) cap = a->chunk_size;
        if (cap < a->reserve) cap = a->reserve;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        POISON(c->data, cap);
        c->size = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->reserve = 0;
    }
    size_t pad = pad_for(c, align);
    void *p = c->data + c->used + pad;
    UNPOISON(p, size);
    c->used += pad + span;
    a->total += pad + span;
    a->allocs++;
    if (align > a->align_max) a->align_max = align;
    return p;
}

void *nas_arena_alloc(nas_arena *a, size_t size) {
    void *p = nas_arena_alloc_raw(a, size, 16);
    if (p) memset(p, 0, size ? size : 1);
    return p;
}

char *nas_arena_strndup(nas_arena *a, const char *s, size_t n) {
    char *p = nas_arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *nas_arena_strdup(nas_arena *a, const char *s) {
    return nas_arena_strndup(a, s, strlen(s));
}

void nas_arena_reset(nas_arena *a) {
    if (a->head && a->head->next) {
        /* the same allocations in one chunk: their sizes, plus alignment
           padding that may fall differently */
        size_t need = a->allocs * (a->align_max - 16);
        nas_arena_chunk *big = a->head;
        for (nas_arena_chunk *c = a->head; c; c = c->next) {
            need += c->used;
            if (c->size > big->size) big = c;
        }
        /* keep the largest chunk, grown: realloc keeps its pages (glibc
           remaps a mapped chunk without copying), so only the growth is new
           memory */
        for (nas_arena_chunk *c = a->head, *next; c; c = next) {
            next = c->next;
            if (c != big) free(c);
        }
        a->head = NULL;
        size_t size = need > big->size ? need : big->size;
        nas_arena_chunk *grown = size > big->size ? realloc(big, sizeof *big + size) : big;
        if (grown) {
            grown->size = size;
            grown->next = NULL;
            a->head = grown;
        } else {
            free(big); /* the next allocation makes the chunk */
            if (need > a->reserve) a->reserve = need;
        }
    }
    if (a->head) {
        a->head->used = 0;
        POISON(a->head->data, a->head->size);
    }
    a->total = a->allocs = 0;
    a->align_max = 16;
}

size_t nas_arena_capacity(const nas_arena *a) {
    size_t n = 0;
    for (const nas_arena_chunk *c = a->head; c; c = c->next) n += c->size;
    return n;
}

size_t nas_arena_used(const nas_arena *a) { return a->total; }

void nas_arena_fill(nas_arena *a, int byte) {
    for (nas_arena_chunk *c = a->head; c; c = c->next) {
        UNPOISON(c->data, c->size);
        memset(c->data, byte, c->size);
        POISON(c->data + c->used, c->size - c->used);
    }
}
