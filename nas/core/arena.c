/* arena.c - bump allocator (see arena.h). */
#include "nas/core/arena.h"

#include <stdlib.h>
#include <string.h>

struct nas_arena_chunk {
    nas_arena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void nas_arena_init(nas_arena *a, size_t chunk_size) {
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    a->total = 0;
}

void nas_arena_deinit(nas_arena *a) {
    nas_arena_chunk *c = a->head;
    while (c) {
        nas_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

void *nas_arena_alloc(nas_arena *a, size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    nas_arena_chunk *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t cap = size > a->chunk_size ? size : a->chunk_size;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->size = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    a->total += size;
    memset(p, 0, size);
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
