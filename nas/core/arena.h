/*
 * arena.h - a bump allocator for data that dies together: the compiler's
 * tokens and syntax tree, scratch tables, and the buffers of a network
 * (models/network.h, nas_net_create_in). There is no per-object free:
 * allocations live until nas_arena_reset or nas_arena_deinit.
 *
 * Reset keeps the memory for the next allocations, so an arena that is
 * filled, reset and filled again (one network after another) reuses pages the
 * process already touched: no page faults and no heap fragmentation, and the
 * memory held is the most any one fill used (see nas_arena_reset).
 */
#ifndef NAS_CORE_ARENA_H
#define NAS_CORE_ARENA_H

#include <stddef.h>

typedef struct nas_arena_chunk nas_arena_chunk;

typedef struct nas_arena {
    nas_arena_chunk *head; /* newest chunk first */
    size_t chunk_size;     /* default size of a new chunk */
    size_t total;          /* bytes handed out since init or the last reset */
    size_t allocs;         /* allocations since init or the last reset */
    size_t align_max;      /* largest alignment asked for since then */
    size_t reserve;        /* size of the next chunk after a reset merged several */
} nas_arena;

/* chunk_size 0 picks 64 KiB. Allocates nothing yet. */
void nas_arena_init(nas_arena *a, size_t chunk_size);
void nas_arena_deinit(nas_arena *a);

/* Zeroed memory owned by the arena, 16-byte aligned, or NULL when out of memory. */
void *nas_arena_alloc(nas_arena *a, size_t size);
/* Uninitialised memory aligned to `align` (a power of two, at most 4096),
 * or NULL when out of memory. */
void *nas_arena_alloc_raw(nas_arena *a, size_t size, size_t align);
/* A copy of s[0..n) plus a terminating NUL, owned by the arena. */
char *nas_arena_strndup(nas_arena *a, const char *s, size_t n);
char *nas_arena_strdup(nas_arena *a, const char *s);

/* Forgets every allocation (pointers handed out become invalid) and keeps
 * the memory: a single chunk is rewound; when the last fill outgrew the
 * first chunk, the largest chunk is grown (realloc) to the bytes all chunks
 * held in use and the others are freed, so a fill of the same size needs no
 * new memory and the arena holds one chunk of the largest fill so far. */
void nas_arena_reset(nas_arena *a);

/* Bytes of memory the arena holds (all chunks), and bytes in use since the
 * last reset (alignment padding included). */
size_t nas_arena_capacity(const nas_arena *a);
size_t nas_arena_used(const nas_arena *a);

/* Sets every byte the arena holds to `byte` (tests: 0xff turns each float
 * into a NaN, so a reader of memory nobody wrote shows up in the results). */
void nas_arena_fill(nas_arena *a, int byte);

#endif
