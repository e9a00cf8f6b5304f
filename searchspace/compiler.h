/*
 * compiler.h - private interface between the passes of the .nas compiler.
 *
 *   lex.c    bytes -> tokens (line/col, numbers with units) + diagnostics
 *   parse.c  tokens -> syntax tree (recursive descent, one rule per function)
 *   sema.c   names, kinds, domains, op parameters, recursion, unused lets
 *   lower.c  syntax tree -> decisions + template (struct ss_template)
 *   realize.c template + point -> nas_arch
 *   compile.c the public entry points and the compile-time shape probe
 *
 * Tokens and the syntax tree live in one nas_arena that is freed after
 * lowering; the template owns its own arena and lives as long as the space.
 * Nothing here is part of the public API (see space.h).
 */
#ifndef NAS_SEARCHSPACE_COMPILER_H
#define NAS_SEARCHSPACE_COMPILER_H

#include <stdint.h>
#include <stdio.h>

#include "nas/core/arch.h"
#include "nas/core/arena.h"
#include "searchspace/space.h"

/* ---- diagnostics (lex.c) ---- */

#define SS_MAX_ERRORS 50

typedef struct ss_diag_entry {
    int line, col, is_error, seq;
    char *msg; /* malloc'd */
} ss_diag_entry;

typedef struct ss_diag {
    const char *path; /* as printed in messages */
    const char *src;  /* the whole source text */
    size_t len;
    FILE *out;        /* may be NULL: diagnostics are only counted */
    int n_errors, n_warnings;
    char first[NAS_ERROR_MSG_MAX]; /* "file:line:col: error: message" of the first error */
    ss_diag_entry *entries; /* collected until ss_diag_flush */
    int n_entries, cap_entries;
} ss_diag;

/* Records an error / a warning at line:col (printed by ss_diag_flush). */
void ss_diag_error(ss_diag *d, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ss_diag_warning(ss_diag *d, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prints the recorded diagnostics in source order (by line; the order they
 * were found within a line) as "path:line:col: error: msg", the source line
 * and a caret line; sets d->first; frees the records. */
void ss_diag_flush(ss_diag *d);

/* ---- tokens (lex.c) ---- */

typedef enum ss_tok_kind { SS_TK_IDENT, SS_TK_NUM, SS_TK_PUNCT, SS_TK_EOF } ss_tok_kind;

/* Unit classes of a number: counts (K M G), times (us ms s, normalised to ms),
 * bytes (B KB MB GB, normalised to bytes with KB = 1024). */
typedef enum ss_unit { SS_UNIT_NONE, SS_UNIT_COUNT, SS_UNIT_TIME, SS_UNIT_BYTES } ss_unit;

typedef struct ss_tok {
    ss_tok_kind kind;
    const char *loc; /* into the source */
    int len;
    int line, col;   /* 1-based; col counts code points */
    int at_bol;      /* first token on its line */
    double num;      /* SS_TK_NUM: value after the unit */
    int is_int;      /* written without '.', exponent or fractional unit */
    ss_unit unit;
    const char *unit_text; /* "ms", "K", ... or NULL */
    struct ss_tok *next;
} ss_tok;

/* Tokenizes src. Errors go to d; returns the token list (ending in EOF) or
 * NULL when the text cannot be tokenized (invalid UTF-8, out of memory). */
ss_tok *ss_tokenize(nas_arena *a, ss_diag *d);
int ss_tok_is(const ss_tok *t, const char *s);

/* ---- syntax tree (parse.c) ---- */

typedef enum ss_node_kind {
    SS_N_NUM,   /* 3, 1.5ms */
    SS_N_IDENT, /* width, relu */
    SS_N_CALL,  /* conv(kernel = 3), stage(depth = 2) { ... }, residual { ... } */
    SS_N_BIN,   /* a * b */
    SS_N_NEG,   /* -a */
    SS_N_SEQ    /* juxtaposed items: conv bn relu */
} ss_node_kind;

struct ss_node;

typedef struct ss_arg {
    const char *name; /* NULL for a positional argument */
    ss_tok *name_tok;
    struct ss_node *val;
} ss_arg;

typedef struct ss_node {
    ss_node_kind kind;
    ss_tok *tok;       /* where it starts */
    double num;
    ss_unit unit;
    int is_int;
    const char *name;  /* IDENT, CALL */
    int n_args;
    ss_arg *args;
    struct ss_node *body; /* CALL followed by { sequence } */
    char op;           /* BIN: + - * / */
    struct ss_node *lhs, *rhs; /* BIN; NEG uses lhs */
    int n_items;       /* SEQ */
    struct ss_node **items;
    const char *label; /* the source text, whitespace-normalised */
    int height;        /* BIN: operator depth (bounded by the parser) */
} ss_node;

typedef enum ss_stmt_kind {
    SS_S_SPACE,
    SS_S_INPUT,
    SS_S_CLASSES,
    SS_S_HPARAM,
    SS_S_LET,
    SS_S_BLOCK,
    SS_S_CELL,
    SS_S_NETWORK,
    SS_S_CONSTRAINT,
    SS_S_OBJECTIVE
} ss_stmt_kind;

typedef struct ss_param {
    const char *name;
    ss_tok *tok;
    ss_node *def; /* default value or NULL */
} ss_param;

typedef struct ss_stmt {
    ss_stmt_kind kind;
    ss_tok *tok;         /* the keyword */
    const char *name;    /* space, hparam, let, block, cell */
    ss_tok *name_tok;
    ss_node *body;       /* hparam, let, block, cell (a cell(...) call), network */
    int n_params;        /* block */
    ss_param *params;
    int dims[3];         /* input C, H, W; classes in dims[0] */
    const char *metric;  /* constraint, objective */
    ss_cmp cmp;
    double value;
    ss_unit unit;
    ss_tok *value_tok;
    const char *text;    /* constraint as written */
    int maximize;
    int used;            /* sema: referenced somewhere */
    int id;              /* sema: index among definitions */
    struct ss_stmt *next;
} ss_stmt;

typedef struct ss_program {
    ss_stmt *stmts;
} ss_program;

/* Parses the token list. Errors go to d (with recovery at statement
 * boundaries); the program holds every statement that parsed. */
ss_program *ss_parse(nas_arena *a, ss_tok *toks, ss_diag *d);

/* ---- ops and their parameters (sema.c) ---- */

typedef enum ss_pslot {
    SS_P_OUT,
    SS_P_KERNEL,
    SS_P_STRIDE,
    SS_P_PAD,
    SS_P_DILATION,
    SS_P_GROUPS,
    SS_P_EXPAND,
    SS_P_SE,
    SS_P_ACT,
    SS_P_BIAS,
    SS_P_RATE,
    SS_P_COUNT
} ss_pslot;

typedef struct ss_op_spec {
    const char *name; /* as written in the language */
    nas_op op;
    int variant;      /* 1 dwconv, 2 pwconv */
    int pos[8];       /* positional order of slots, -1 terminated */
    unsigned allowed; /* 1 << slot */
    unsigned required;
} ss_op_spec;

const ss_op_spec *ss_op_find(const char *name);
const char *ss_pslot_name(ss_pslot p);
int ss_pslot_from_name(const char *name); /* -1 when unknown */

/* Checks names, kinds, domains, op parameters and recursion; warns about
 * unused lets. Returns the number of errors it reported. */
int ss_sema(ss_program *p, ss_diag *d);

/* ---- template (lower.c, realize.c) ---- */

typedef enum ss_tval_kind { SS_V_NUM, SS_V_IDENT, SS_V_DEC, SS_V_BIN, SS_V_NEG } ss_tval_kind;

/* A value in the template: a constant, a decision's value or arithmetic. */
typedef struct ss_tval {
    ss_tval_kind kind;
    double num;
    const char *ident;
    int dec;
    char op;
    struct ss_tval *l, *r;
    int line, col;
} ss_tval;

typedef enum ss_tnet_kind {
    SS_T_SEQ,
    SS_T_OP,
    SS_T_CHOICE,
    SS_T_REPEAT,
    SS_T_RESIDUAL,
    SS_T_CELL
} ss_tnet_kind;

typedef struct ss_cell_edge {
    int to;
    int from;   /* fixed source node, or -1 when in_dec chooses it */
    int in_dec; /* choice over nodes 0..to-1, or -1 */
    int op_dec; /* choice over the cell's ops */
    struct ss_tnet **ops;
} ss_cell_edge;

typedef struct ss_tnet {
    ss_tnet_kind kind;
    int line, col;
    const char *scope;     /* arch node scope */
    int n;                 /* SEQ items, CHOICE branches, REPEAT max depth */
    struct ss_tnet **items;
    const ss_op_spec *spec; /* OP */
    ss_tval *p[SS_P_COUNT]; /* OP parameters, NULL = default */
    int dec;               /* CHOICE */
    ss_tval *depth;        /* REPEAT */
    struct ss_tnet *body, *shortcut; /* RESIDUAL (shortcut may be NULL) */
    int nodes, n_edges, n_ops; /* CELL */
    ss_cell_edge *edges;
} ss_tnet;

typedef struct ss_thparam {
    const char *name;
    ss_tval *val;
} ss_thparam;

struct ss_template {
    nas_arena arena;
    ss_tnet *net; /* NULL for a hyperparameter-only space */
    int n_hparams;
    ss_thparam *hparams;
    int n_decisions;
    int *dec_line, *dec_col; /* where each decision is written */
};

void ss_template_destroy(struct ss_template *t);

/* Lowers a checked program into s (decisions, constraints, objectives, input,
 * classes, name) and a new template in s->tmpl. Returns the number of errors
 * reported to d. */
int ss_lower(ss_program *p, ss_diag *d, ss_space *s);

/* Realizes a point; with_point 0 skips the point JSON (compile-time probe).
 * On a shape error, line and col (may be NULL) receive the failing source spot. */
nas_status ss_realize(const ss_space *s, const double *point, int with_point, nas_arch **out,
                      int *line, int *col, nas_error *err);

#endif
