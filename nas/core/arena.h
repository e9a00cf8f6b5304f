/*
 * arena.h - a bump allocator for data that dies together (the compiler's
 * tokens and syntax tree, scratch tables). Allocations are 16-byte aligned
 * and live until nas_arena_deinit; there is no per-object free.
 */
#ifndef NAS_CORE_ARENA_H
#define NAS_CORE_ARENA_H

#include <stddef.h>

typedef struct nas_arena_chunk nas_arena_chunk;

typedef struct nas_arena {
    nas_arena_chunk *head; /* newest chunk first */
    size_t chunk_size;     /* default size of a new chunk */
    size_t total;          /* bytes handed out, for statistics */
} nas_arena;

/* chunk_size 0 picks 64 KiB. */
void nas_arena_init(nas_arena *a, size_t chunk_size);
void nas_arena_deinit(nas_arena *a);

/* Zeroed memory owned by the arena, or NULL when out of memory. */
void *nas_arena_alloc(nas_arena *a, size_t size);
/* A copy of s[0..n) plus a terminating NUL, owned by the arena. */
char *nas_arena_strndup(nas_arena *a, const char *s, size_t n);
char *nas_arena_strdup(nas_arena *a, const char *s);

#endif
