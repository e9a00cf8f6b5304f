/*
 * json.c - strict parsing on top of cJSON (json.h).
 */
#include "nas/core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void line_col(const char *text, size_t off, int *line, int *col) {
    *line = 1, *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') ++*line, *col = 1;
        else ++*col;
    }
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key that appears twice in one object of the tree, with its path
 * ("a.b[2].c") in path; 0 when there is none, -1 when out of memory. */
static int find_duplicate(const cJSON *v, char *path, size_t cap) {
    size_t here = strlen(path);
    if (cJSON_IsObject(v)) {
        int n = cJSON_GetArraySize(v), k = 0;
        const char **names = malloc((size_t)(n > 0 ? n : 1) * sizeof *names);
        if (!names) return -1;
        for (const cJSON *c = v->child; c; c = c->next) names[k++] = c->string ? c->string : "";
        qsort(names, (size_t)k, sizeof *names, cmp_names);
        for (int i = 1; i < k; i++)
            if (!strcmp(names[i - 1], names[i])) {
                snprintf(path + here, cap - here, "%s%s", here ? "." : "", names[i]);
                free(names);
                return 1;
            }
        free(names);
        for (const cJSON *c = v->child; c; c = c->next) {
            snprintf(path + here, cap - here, "%s%s", here ? "." : "", c->string ? c->string : "");
            int r = find_duplicate(c, path, cap);
            if (r) return r;
        }
    } else if (cJSON_IsArray(v)) {
        int i = 0;
        for (const cJSON *c = v->child; c; c = c->next, i++) {
            snprintf(path + here, cap - here, "[%d]", i);
            int r = find_duplicate(c, path, cap);
            if (r) return r;
        }
    }
    path[here] = 0;
    return 0;
}

cJSON *nas_json_parse(const char *text, size_t len, const char *source, nas_error *err) {
    const char *src = source ? source : "json";
    const char *end = NULL;
    int line, col;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        line_col(text, off < len ? off : len, &line, &col);
        NAS_FAIL(err, NAS_ERR_FORMAT, "%s:%d:%d: invalid JSON", src, line, col);
        return NULL;
    }
    size_t off = (size_t)(end - text);
    while (off < len && text[off] && strchr(" \t\r\n", text[off])) off++;
    if (off < len && text[off]) {
        cJSON_Delete(root);
        line_col(text, off, &line, &col);
        NAS_FAIL(err, NAS_ERR_FORMAT, "%s:%d:%d: text after the JSON value", src, line, col);
        return NULL;
    }
    char path[512] = "";
    int dup = find_duplicate(root, path, sizeof path);
    if (dup) {
        cJSON_Delete(root);
        if (dup < 0) NAS_FAIL(err, NAS_ERR_NOMEM, "%s: out of memory", src);
        else NAS_FAIL(err, NAS_ERR_FORMAT, "%s: key '%s' appears twice", src, path);
        return NULL;
    }
    return root;
}
