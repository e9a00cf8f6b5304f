/*
 * lex.c - diagnostics and the tokenizer of the .nas language.
 *
 * Turns the source text into a linked list of tokens with line/col, numbers
 * with their units already applied (5M -> 5e6, 1.5ms -> 1.5, 2MB -> 2097152)
 * and an at_bol flag (first token on a line; the parser ends one-line
 * statements with it). Comments run from '#' to the end of the line.
 * Invalid UTF-8 and NUL bytes stop compilation before tokenizing.
 * It does not know keywords: the parser decides what an identifier means.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "searchspace/compiler.h"

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static int utf8_len(const unsigned char *p, size_t rem) {
    unsigned c = p[0];
    int n;
    unsigned min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) n = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0) n = 3, min = 0x800;
    else if ((c & 0xF8) == 0xF0) n = 4, min = 0x10000;
    else return 0;
    if ((size_t)n > rem) return 0;
    unsigned v = c & (0x7Fu >> n);
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    return n;
}

/* Prints the source line `line` and a caret under column `col`. */
static void print_source_line(const ss_diag *d, int line, int col) {
    const char *p = d->src, *end = d->src + d->len;
    for (int l = 1; l < line && p < end; p++)
        if (*p == '\n') l++;
    const char *q = p;
    while (q < end && *q != '\n') q++;
    if (q > p && q[-1] == '\r') q--;
    /* echo the line, replacing bytes that are not printable UTF-8 */
    for (const char *r = p; r < q;) {
        int n = utf8_len((const unsigned char *)r, (size_t)(q - r));
        if (n == 0 || (n == 1 && (unsigned char)*r < 0x20 && *r != '\t')) {
            fputc('?', d->out);
            r++;
        } else {
            fwrite(r, 1, (size_t)n, d->out);
            r += n;
        }
    }
    fputc('\n', d->out);
    int c = 1;
    for (const char *r = p; r < q && c < col; c++) {
        fputc(*r == '\t' ? '\t' : ' ', d->out);
        int n = utf8_len((const unsigned char *)r, (size_t)(q - r));
        r += n ? n : 1;
    }
    for (; c < col; c++) fputc(' ', d->out);
    fputs("^\n", d->out);
}

static void diag_record(ss_diag *d, int is_error, int line, int col, const char *fmt, va_list ap) {
    char msg[NAS_ERROR_MSG_MAX - 64];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (d->n_entries == d->cap_entries) {
        int cap = d->cap_entries ? d->cap_entries * 2 : 16;
        ss_diag_entry *grown = realloc(d->entries, (size_t)cap * sizeof *grown);
        if (!grown) return; /* counted, not printed */
        d->entries = grown;
        d->cap_entries = cap;
    }
    size_t n = strlen(msg) + 1;
    char *copy = malloc(n);
    if (!copy) return;
    memcpy(copy, msg, n);
    d->entries[d->n_entries] = (ss_diag_entry){line, col, is_error, d->n_entries, copy};
    d->n_entries++;
}

void ss_diag_error(ss_diag *d, int line, int col, const char *fmt, ...) {
    d->n_errors++;
    if (d->n_errors > SS_MAX_ERRORS) return;
    va_list ap;
    va_start(ap, fmt);
    diag_record(d, 1, line, col, fmt, ap);
    va_end(ap);
}

void ss_diag_warning(ss_diag *d, int line, int col, const char *fmt, ...) {
    d->n_warnings++;
    if (d->n_warnings > SS_MAX_ERRORS) return;
    va_list ap;
    va_start(ap, fmt);
    diag_record(d, 0, line, col, fmt, ap);
    va_end(ap);
}

static int entry_cmp(const void *pa, const void *pb) {
    const ss_diag_entry *a = pa, *b = pb;
    if (a->line != b->line) return a->line < b->line ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void ss_diag_flush(ss_diag *d) {
    if (d->n_entries > 1) qsort(d->entries, (size_t)d->n_entries, sizeof *d->entries, entry_cmp);
    int have_first = d->first[0] != '\0';
    for (int i = 0; i < d->n_entries; i++) {
        ss_diag_entry *e = &d->entries[i];
        if (e->is_error && !have_first) {
            snprintf(d->first, sizeof d->first, "%s:%d:%d: error: %s", d->path, e->line, e->col,
                     e->msg);
            have_first = 1;
        }
        if (d->out) {
            fprintf(d->out, "%s:%d:%d: %s: %s\n", d->path, e->line, e->col,
                    e->is_error ? "error" : "warning", e->msg);
            print_source_line(d, e->line, e->col);
        }
        free(e->msg);
    }
    if (d->out && d->n_errors > SS_MAX_ERRORS)
        fprintf(d->out, "%s: %d errors; only the first %d are shown\n", d->path, d->n_errors,
                SS_MAX_ERRORS);
    free(d->entries);
    d->entries = NULL;
    d->n_entries = d->cap_entries = 0;
}

int ss_tok_is(const ss_tok *t, const char *s) {
    return t->kind != SS_TK_NUM && t->kind != SS_TK_EOF && (int)strlen(s) == t->len &&
           !memcmp(t->loc, s, (size_t)t->len);
}

/* Reports invalid UTF-8 and NUL bytes; returns how many it found. */
static int check_encoding(ss_diag *d) {
    const unsigned char *p = (const unsigned char *)d->src;
    int line = 1, col = 1, bad = 0;
    for (size_t i = 0; i < d->len;) {
        int n = utf8_len(p + i, d->len - i);
        if (n == 0 || p[i] == 0) {
            if (++bad <= 10) {
                if (p[i] == 0) ss_diag_error(d, line, col, "NUL byte in the source");
                else ss_diag_error(d, line, col, "invalid UTF-8 byte 0x%02x", p[i]);
            }
            i++;
            col++;
            continue;
        }
        if (p[i] == '\n') line++, col = 1;
        else col++;
        i += (size_t)n;
    }
    return bad;
}

typedef struct unit_def {
    const char *text;
    ss_unit unit;
    double scale;
} unit_def;

static const unit_def UNITS[] = {
    {"K", SS_UNIT_COUNT, 1e3},          {"M", SS_UNIT_COUNT, 1e6},
    {"G", SS_UNIT_COUNT, 1e9},          {"us", SS_UNIT_TIME, 1e-3},
    {"ms", SS_UNIT_TIME, 1.0},          {"s", SS_UNIT_TIME, 1e3},
    {"B", SS_UNIT_BYTES, 1.0},          {"KB", SS_UNIT_BYTES, 1024.0},
    {"MB", SS_UNIT_BYTES, 1048576.0},   {"GB", SS_UNIT_BYTES, 1073741824.0},
};

#define SS_NUM_MAX 1e15

typedef struct lexer {
    nas_arena *a;
    ss_diag *d;
    const char *p, *end;
    int line, col, at_bol;
    ss_tok head, *tail;
} lexer;

static ss_tok *push(lexer *lx, ss_tok_kind kind, const char *start, int len, int col) {
    ss_tok *t = nas_arena_alloc(lx->a, sizeof *t);
    if (!t) return NULL;
    t->kind = kind;
    t->loc = start;
    t->len = len;
    t->line = lx->line;
    t->col = col;
    t->at_bol = lx->at_bol;
    lx->at_bol = 0;
    lx->tail->next = t;
    lx->tail = t;
    return t;
}

/* number = digits [ "." digits ] [ ("e"|"E") ["+"|"-"] digits ] [ unit ] */
static int lex_number(lexer *lx) {
    const char *s = lx->p, *q = s;
    int col = lx->col, is_int = 1;
    while (q < lx->end && isdigit((unsigned char)*q)) q++;
    if (q < lx->end && *q == '.' && q + 1 < lx->end && isdigit((unsigned char)q[1])) {
        is_int = 0;
        for (q++; q < lx->end && isdigit((unsigned char)*q); q++) {}
    }
    if (q < lx->end && (*q == 'e' || *q == 'E')) {
        const char *r = q + 1;
        if (r < lx->end && (*r == '+' || *r == '-')) r++;
        if (r < lx->end && isdigit((unsigned char)*r)) {
            is_int = 0;
            for (q = r; q < lx->end && isdigit((unsigned char)*q); q++) {}
        }
    }
    const char *num_end = q;
    const char *u = q;
    /* "1x28x28": the 'x' is a separator, not a unit */
    if (!(u < lx->end && *u == 'x' && u + 1 < lx->end && isdigit((unsigned char)u[1])))
        while (u < lx->end && (isalnum((unsigned char)*u) || *u == '_')) u++;
    char buf[64];
    size_t nlen = (size_t)(num_end - s);
    if (nlen >= sizeof buf) nlen = sizeof buf - 1;
    memcpy(buf, s, nlen);
    buf[nlen] = '\0';
    double v = strtod(buf, NULL);
    ss_tok *t = push(lx, SS_TK_NUM, s, (int)(u - s), col);
    if (!t) return -1;
    t->is_int = is_int;
    if (u > num_end) {
        int ulen = (int)(u - num_end);
        const unit_def *found = NULL;
        for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++)
            if ((int)strlen(UNITS[i].text) == ulen && !memcmp(UNITS[i].text, num_end, (size_t)ulen))
                found = &UNITS[i];
        if (!found) {
            ss_diag_error(lx->d, lx->line, col + (int)(num_end - s),
                          "unknown unit '%.*s' (use K, M, G, us, ms, s, B, KB, MB or GB)", ulen,
                          num_end);
        } else {
            t->unit = found->unit;
            t->unit_text = found->text;
            v *= found->scale;
            if (v != floor(v)) t->is_int = 0;
        }
    }
    if (!isfinite(v) || v > SS_NUM_MAX || (nlen >= sizeof buf - 1)) {
        ss_diag_error(lx->d, lx->line, col, "number '%.*s' is too large (at most 1e15)",
                      (int)(u - s) > 40 ? 40 : (int)(u - s), s);
        v = 0;
    }
    t->num = v;
    lx->col += (int)(u - s);
    lx->p = u;
    if (u < lx->end && *u == 'x' && u + 1 < lx->end && isdigit((unsigned char)u[1])) {
        if (!push(lx, SS_TK_PUNCT, u, 1, lx->col)) return -1;
        lx->p++, lx->col++;
    }
    return 0;
}

static const char *PUNCT2[] = {"<=", ">=", "==", NULL};
static const char PUNCT1[] = "(){},=+-*/<>";

ss_tok *ss_tokenize(nas_arena *a, ss_diag *d) {
    if (check_encoding(d)) return NULL;
    lexer lx = {a, d, d->src, d->src + d->len, 1, 1, 1, {0}, NULL};
    lx.tail = &lx.head;
    while (lx.p < lx.end) {
        char c = *lx.p;
        if (c == '\n') {
            lx.p++, lx.line++, lx.col = 1, lx.at_bol = 1;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            lx.p++, lx.col++;
            continue;
        }
        if (c == '#') {
            while (lx.p < lx.end && *lx.p != '\n') {
                int n = utf8_len((const unsigned char *)lx.p, (size_t)(lx.end - lx.p));
                lx.p += n ? n : 1;
                lx.col++;
            }
            continue;
        }
        if (isdigit((unsigned char)c) ||
            (c == '.' && lx.p + 1 < lx.end && isdigit((unsigned char)lx.p[1]))) {
            if (lex_number(&lx)) return NULL;
            continue;
        }
        if (isalpha((unsigned char)c) || c == '_') {
            const char *s = lx.p;
            while (lx.p < lx.end && (isalnum((unsigned char)*lx.p) || *lx.p == '_')) lx.p++;
            if (!push(&lx, SS_TK_IDENT, s, (int)(lx.p - s), lx.col)) return NULL;
            lx.col += (int)(lx.p - s);
            continue;
        }
        int plen = 0;
        for (int i = 0; PUNCT2[i]; i++)
            if (lx.end - lx.p >= 2 && !memcmp(lx.p, PUNCT2[i], 2)) plen = 2;
        if (!plen && strchr(PUNCT1, c)) plen = 1;
        if (plen) {
            if (!push(&lx, SS_TK_PUNCT, lx.p, plen, lx.col)) return NULL;
            lx.p += plen, lx.col += plen;
            continue;
        }
        int n = utf8_len((const unsigned char *)lx.p, (size_t)(lx.end - lx.p));
        if (n <= 1 && isprint((unsigned char)c))
            ss_diag_error(d, lx.line, lx.col, "unexpected character '%c'", c);
        else if (n <= 1)
            ss_diag_error(d, lx.line, lx.col, "unexpected control character 0x%02x",
                          (unsigned char)c);
        else
            ss_diag_error(d, lx.line, lx.col, "unexpected character '%.*s'", n, lx.p);
        lx.p += n ? n : 1;
        lx.col++;
    }
    ss_tok *eof = push(&lx, SS_TK_EOF, lx.end, 0, lx.col);
    if (!eof) return NULL;
    eof->at_bol = 1;
    return lx.head.next;
}
