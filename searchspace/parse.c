/*
 * parse.c - recursive descent parser of the .nas language (docs/grammar.ebnf).
 *
 * Each function parses one grammar rule, quoted in its comment. Statements are
 * one per line (a statement's body ends at a new line unless it is inside
 * brackets); after an error the parser skips to the next line that starts a
 * statement, so one run reports every syntax error. It builds the tree only:
 * names, kinds and ranges are checked by sema.c.
 */
#include <math.h>
#include <string.h>

#include "searchspace/compiler.h"

typedef struct parser {
    nas_arena *a;
    ss_diag *d;
    ss_tok *tok;  /* current token */
    ss_tok *prev; /* last consumed token */
    int oom;
    int depth;    /* bracket and unary nesting, bounded by SS_MAX_NESTING */
} parser;

#define SS_MAX_NESTING 200

static const char *STMT_KEYWORDS[] = {"space", "input", "classes", "hparam", "let", "block",
                                      "cell", "network", "constraint", "objective", NULL};

static void advance(parser *p) {
    if (p->tok->kind != SS_TK_EOF) {
        p->prev = p->tok;
        p->tok = p->tok->next;
    }
}

static int is_punct(const ss_tok *t, const char *s) {
    return t->kind == SS_TK_PUNCT && ss_tok_is(t, s);
}

static int consume(parser *p, const char *s) {
    if (!is_punct(p->tok, s)) return 0;
    advance(p);
    return 1;
}

static void error_at(parser *p, const ss_tok *t, const char *fmt, const char *what) {
    ss_diag_error(p->d, t->line, t->col, fmt, what);
}

/* A printable description of a token: 'x', or "end of file". */
static const char *describe(parser *p, const ss_tok *t) {
    if (t->kind == SS_TK_EOF) return "the end of the file";
    int n = t->len > 40 ? 40 : t->len;
    char *s = nas_arena_alloc(p->a, (size_t)n + 3);
    if (!s) return "?";
    s[0] = '\'';
    memcpy(s + 1, t->loc, (size_t)n);
    s[n + 1] = '\'';
    return s;
}

static void expected(parser *p, const char *what) {
    char msg[128];
    snprintf(msg, sizeof msg, "expected %s, got %%s", what);
    error_at(p, p->tok, msg, describe(p, p->tok));
}

static char *tok_text(parser *p, const ss_tok *t) {
    char *s = nas_arena_strndup(p->a, t->loc, (size_t)t->len);
    if (!s) p->oom = 1;
    return s;
}

static ss_node *new_node(parser *p, ss_node_kind kind, ss_tok *tok) {
    ss_node *n = nas_arena_alloc(p->a, sizeof *n);
    if (!n) {
        p->oom = 1;
        return NULL;
    }
    n->kind = kind;
    n->tok = tok;
    return n;
}

static int glue(const ss_tok *a, const ss_tok *b) {
    int a_word = a->kind != SS_TK_PUNCT || ss_tok_is(a, ")") || ss_tok_is(a, "}");
    int b_word = b->kind != SS_TK_PUNCT || ss_tok_is(b, "{");
    return !(a_word && b_word);
}

/* The tokens first..last joined with single spaces between words. */
static const char *span_text(parser *p, const ss_tok *first, const ss_tok *last) {
    size_t n = 0;
    for (const ss_tok *t = first;; t = t->next) {
        n += (size_t)t->len + 1;
        if (t == last || !t->next) break;
    }
    char *s = nas_arena_alloc(p->a, n + 1);
    if (!s) {
        p->oom = 1;
        return "";
    }
    size_t k = 0;
    for (const ss_tok *t = first;; t = t->next) {
        memcpy(s + k, t->loc, (size_t)t->len);
        k += (size_t)t->len;
        if (t == last || !t->next) break;
        if (!glue(t, t->next)) s[k++] = ' ';
    }
    s[k] = '\0';
    return s;
}

static int starts_expr(const ss_tok *t) {
    return t->kind == SS_TK_NUM || t->kind == SS_TK_IDENT || is_punct(t, "(") ||
           is_punct(t, "{") || is_punct(t, "-");
}

static ss_node *expr(parser *p);
static ss_node *sequence(parser *p, int stop_at_newline);

/* Closes a bracket opened at `open`: ")" or "}". */
static int close_bracket(parser *p, const char *close, const ss_tok *open) {
    if (consume(p, close)) return 1;
    if (p->tok->kind == SS_TK_EOF) {
        ss_diag_error(p->d, open->line, open->col, "unterminated '%.*s': no matching '%s'",
                      open->len, open->loc, close);
    } else {
        char what[64];
        snprintf(what, sizeof what, "'%s' to close the '%.*s' at line %d", close, open->len,
                 open->loc, open->line);
        expected(p, what);
    }
    return 0;
}

/* option = expr { expr } ;   (juxtaposition inside brackets) */
static ss_node *option(parser *p) {
    ss_node *s = sequence(p, 0);
    if (!s) return NULL;
    if (s->n_items == 0) {
        expected(p, "a value or a layer");
        return NULL;
    }
    return s->n_items == 1 ? s->items[0] : s;
}

/* args = "(" [ arg { "," arg } ] ")" ;   arg = [ IDENT "=" ] option ; */
static int args(parser *p, ss_node *call) {
    ss_tok *open = p->tok;
    advance(p);
    int cap = 0;
    if (consume(p, ")")) return 1;
    for (;;) {
        ss_arg arg = {0};
        if (p->tok->kind == SS_TK_IDENT && is_punct(p->tok->next, "=")) {
            arg.name_tok = p->tok;
            arg.name = tok_text(p, p->tok);
            advance(p);
            advance(p);
        }
        arg.val = option(p);
        if (!arg.val) return 0;
        if (call->n_args == cap) {
            int ncap = cap ? cap * 2 : 4;
            ss_arg *grown = nas_arena_alloc(p->a, (size_t)ncap * sizeof *grown);
            if (!grown) {
                p->oom = 1;
                return 0;
            }
            if (cap) memcpy(grown, call->args, (size_t)cap * sizeof *grown);
            call->args = grown;
            cap = ncap;
        }
        call->args[call->n_args++] = arg;
        if (consume(p, ",")) continue;
        return close_bracket(p, ")", open);
    }
}

/* primary = NUMBER
 *         | IDENT [ args ] [ "{" sequence "}" ]   (a body only after stage, repeat, residual)
 *         | "(" option ")"
 *         | "{" sequence "}" ; */
static ss_node *primary_inner(parser *p);

static ss_node *primary(parser *p) {
    if (p->depth >= SS_MAX_NESTING) {
        error_at(p, p->tok, "nesting too deep at %s (at most 200 levels)", describe(p, p->tok));
        return NULL;
    }
    p->depth++;
    ss_node *n = primary_inner(p);
    p->depth--;
    return n;
}

static ss_node *primary_inner(parser *p) {
    ss_tok *t = p->tok;
    if (t->kind == SS_TK_NUM) {
        ss_node *n = new_node(p, SS_N_NUM, t);
        if (!n) return NULL;
        n->num = t->num;
        n->unit = t->unit;
        n->is_int = t->is_int;
        advance(p);
        n->label = span_text(p, t, t);
        return n;
    }
    if (t->kind == SS_TK_IDENT) {
        advance(p);
        const char *name = tok_text(p, t);
        if (!name) return NULL;
        int takes_body = !strcmp(name, "stage") || !strcmp(name, "repeat") ||
                         !strcmp(name, "residual");
        if (!is_punct(p->tok, "(") && !(takes_body && is_punct(p->tok, "{"))) {
            ss_node *n = new_node(p, SS_N_IDENT, t);
            if (!n) return NULL;
            n->name = name;
            n->label = name;
            return n;
        }
        ss_node *n = new_node(p, SS_N_CALL, t);
        if (!n) return NULL;
        n->name = name;
        if (is_punct(p->tok, "(") && !args(p, n)) return NULL;
        if (takes_body && is_punct(p->tok, "{")) {
            ss_tok *open = p->tok;
            advance(p);
            n->body = sequence(p, 0);
            if (!n->body || !close_bracket(p, "}", open)) return NULL;
        }
        n->label = span_text(p, t, p->prev);
        return n;
    }
    if (is_punct(t, "(")) {
        advance(p);
        ss_node *n = option(p);
        if (!n || !close_bracket(p, ")", t)) return NULL;
        return n;
    }
    if (is_punct(t, "{")) {
        advance(p);
        ss_node *n = sequence(p, 0);
        if (!n || !close_bracket(p, "}", t)) return NULL;
        n->tok = t;
        n->label = span_text(p, t, p->prev);
        return n;
    }
    expected(p, "a value or a layer");
    return NULL;
}

/* unary = "-" unary | primary ; */
static ss_node *unary(parser *p) {
    ss_tok *t = p->tok;
    if (consume(p, "-")) {
        ss_node *n = new_node(p, SS_N_NEG, t);
        if (p->depth >= SS_MAX_NESTING) {
            error_at(p, t, "nesting too deep at %s (at most 200 levels)", describe(p, t));
            return NULL;
        }
        p->depth++;
        if (n) n->lhs = unary(p);
        p->depth--;
        if (!n || !n->lhs) return NULL;
        n->label = span_text(p, t, p->prev);
        return n;
    }
    return primary(p);
}

static ss_node *binary(parser *p, ss_tok *start, char op, ss_node *l, ss_node *r) {
    if (!l || !r) return NULL;
    int height = 1 + (l->height > r->height ? l->height : r->height);
    if (height > SS_MAX_NESTING) {
        error_at(p, start, "expression too long at %s (at most 200 operators deep)",
                 describe(p, start));
        return NULL;
    }
    ss_node *n = new_node(p, SS_N_BIN, start);
    if (!n) return NULL;
    n->op = op;
    n->lhs = l;
    n->rhs = r;
    n->height = height;
    n->label = span_text(p, start, p->prev);
    return n;
}

/* term = unary { ( "*" | "/" ) unary } ; */
static ss_node *term(parser *p) {
    ss_tok *start = p->tok;
    ss_node *n = unary(p);
    while (n) {
        ss_tok *t = p->tok;
        if (!is_punct(t, "*") && !is_punct(t, "/")) break;
        advance(p);
        n = binary(p, start, *t->loc, n, unary(p));
    }
    return n;
}

/* expr = term { ( "+" | "-" ) term } ; */
static ss_node *expr(parser *p) {
    ss_tok *start = p->tok;
    ss_node *n = term(p);
    while (n) {
        ss_tok *t = p->tok;
        if (!is_punct(t, "+") && !is_punct(t, "-")) break;
        advance(p);
        n = binary(p, start, *t->loc, n, term(p));
    }
    return n;
}

/* sequence = { expr } ;   (stops at a new line when stop_at_newline) */
static ss_node *sequence(parser *p, int stop_at_newline) {
    ss_tok *start = p->tok;
    ss_node *s = new_node(p, SS_N_SEQ, start);
    if (!s) return NULL;
    int cap = 0;
    while (starts_expr(p->tok) && !(stop_at_newline && p->tok->at_bol && p->tok != start)) {
        ss_node *e = expr(p);
        if (!e) return NULL;
        if (s->n_items == cap) {
            int ncap = cap ? cap * 2 : 8;
            ss_node **grown = nas_arena_alloc(p->a, (size_t)ncap * sizeof *grown);
            if (!grown) {
                p->oom = 1;
                return NULL;
            }
            if (cap) memcpy(grown, s->items, (size_t)cap * sizeof *grown);
            s->items = grown;
            cap = ncap;
        }
        s->items[s->n_items++] = e;
    }
    s->label = s->n_items ? span_text(p, start, p->prev) : "";
    return s;
}

/* line_seq = expr { expr } ;   (up to the end of the line) */
static ss_node *line_seq(parser *p) {
    if (p->tok->at_bol || !starts_expr(p->tok)) {
        expected(p, "a value or a layer");
        return NULL;
    }
    ss_node *s = sequence(p, 1);
    if (!s) return NULL;
    return s->n_items == 1 ? s->items[0] : s;
}

static ss_stmt *new_stmt(parser *p, ss_stmt_kind kind, ss_tok *t) {
    ss_stmt *s = nas_arena_alloc(p->a, sizeof *s);
    if (!s) {
        p->oom = 1;
        return NULL;
    }
    s->kind = kind;
    s->tok = t;
    return s;
}

static int ident(parser *p, ss_stmt *s, const char *what) {
    if (p->tok->kind != SS_TK_IDENT || p->tok->at_bol) {
        expected(p, what);
        return 0;
    }
    s->name_tok = p->tok;
    s->name = tok_text(p, p->tok);
    advance(p);
    return s->name != NULL;
}

static int int_literal(parser *p, int *out, const char *what, int max) {
    ss_tok *t = p->tok;
    if (t->kind != SS_TK_NUM || t->at_bol) {
        expected(p, what);
        return 0;
    }
    if (!t->is_int || t->unit != SS_UNIT_NONE || t->num < 1 || t->num > max) {
        char msg[128];
        snprintf(msg, sizeof msg, "expected %%s (a whole number from 1 to %d)", max);
        error_at(p, t, msg, what);
        return 0;
    }
    *out = (int)t->num;
    advance(p);
    return 1;
}

/* params = "(" [ param { "," param } ] ")" ;   param = IDENT [ "=" option ] ; */
static int block_params(parser *p, ss_stmt *s) {
    ss_tok *open = p->tok;
    advance(p);
    if (consume(p, ")")) return 1;
    int cap = 0;
    for (;;) {
        if (p->tok->kind != SS_TK_IDENT) {
            expected(p, "a parameter name");
            return 0;
        }
        ss_param prm = {tok_text(p, p->tok), p->tok, NULL};
        advance(p);
        if (consume(p, "=") && !(prm.def = option(p))) return 0;
        if (s->n_params == cap) {
            int ncap = cap ? cap * 2 : 4;
            ss_param *grown = nas_arena_alloc(p->a, (size_t)ncap * sizeof *grown);
            if (!grown) {
                p->oom = 1;
                return 0;
            }
            if (cap) memcpy(grown, s->params, (size_t)cap * sizeof *grown);
            s->params = grown;
            cap = ncap;
        }
        s->params[s->n_params++] = prm;
        if (consume(p, ",")) continue;
        return close_bracket(p, ")", open);
    }
}

static int expect_eq(parser *p) {
    if (consume(p, "=")) return 1;
    expected(p, "'='");
    return 0;
}

/* statement = "space" IDENT
 *           | "input" INT "x" INT "x" INT
 *           | "classes" INT
 *           | "hparam" IDENT "=" line_seq
 *           | "let" IDENT "=" line_seq
 *           | "block" IDENT [ params ] "=" line_seq
 *           | "cell" IDENT args
 *           | "network" "{" sequence "}"
 *           | "constraint" IDENT ( "<=" | "<" | ">=" | ">" ) NUMBER
 *           | "objective" ( "maximize" | "minimize" ) IDENT ; */
static ss_stmt *statement(parser *p) {
    ss_tok *t = p->tok;
    ss_stmt *s = NULL;
    if (t->kind != SS_TK_IDENT) {
        error_at(p, t, "expected a statement (space, input, classes, hparam, let, block, cell, "
                       "network, constraint, objective), got %s", describe(p, t));
        return NULL;
    }
    advance(p);
    if (ss_tok_is(t, "space")) {
        if (!(s = new_stmt(p, SS_S_SPACE, t)) || !ident(p, s, "a space name")) return NULL;
    } else if (ss_tok_is(t, "input")) {
        if (!(s = new_stmt(p, SS_S_INPUT, t))) return NULL;
        for (int i = 0; i < 3; i++) {
            if (i && !consume(p, "x")) {
                if (ss_tok_is(p->tok, "x")) advance(p);
                else {
                    expected(p, "'x' (input is CxHxW, e.g. 3x32x32)");
                    return NULL;
                }
            }
            if (!int_literal(p, &s->dims[i], i == 0 ? "channels" : i == 1 ? "height" : "width",
                             i == 0 ? 4096 : 16384))
                return NULL;
        }
    } else if (ss_tok_is(t, "classes")) {
        if (!(s = new_stmt(p, SS_S_CLASSES, t)) || !int_literal(p, &s->dims[0], "a class count", 1000000))
            return NULL;
    } else if (ss_tok_is(t, "hparam") || ss_tok_is(t, "let")) {
        s = new_stmt(p, ss_tok_is(t, "let") ? SS_S_LET : SS_S_HPARAM, t);
        if (!s || !ident(p, s, "a name") || !expect_eq(p) || !(s->body = line_seq(p))) return NULL;
    } else if (ss_tok_is(t, "block")) {
        if (!(s = new_stmt(p, SS_S_BLOCK, t)) || !ident(p, s, "a block name")) return NULL;
        if (is_punct(p->tok, "(") && !block_params(p, s)) return NULL;
        if (!expect_eq(p) || !(s->body = line_seq(p))) return NULL;
    } else if (ss_tok_is(t, "cell")) {
        if (!(s = new_stmt(p, SS_S_CELL, t)) || !ident(p, s, "a cell name")) return NULL;
        if (!is_punct(p->tok, "(")) {
            expected(p, "'(' (cell NAME(nodes = N, ops = choice(...)))");
            return NULL;
        }
        ss_node *call = new_node(p, SS_N_CALL, s->name_tok);
        if (!call || !args(p, call)) return NULL;
        call->name = "cell";
        call->label = span_text(p, s->name_tok, p->prev);
        s->body = call;
    } else if (ss_tok_is(t, "network")) {
        if (!(s = new_stmt(p, SS_S_NETWORK, t))) return NULL;
        ss_tok *open = p->tok;
        if (!consume(p, "{")) {
            expected(p, "'{'");
            return NULL;
        }
        if (!(s->body = sequence(p, 0)) || !close_bracket(p, "}", open)) return NULL;
    } else if (ss_tok_is(t, "constraint")) {
        if (!(s = new_stmt(p, SS_S_CONSTRAINT, t)) || !ident(p, s, "a metric name")) return NULL;
        s->metric = s->name;
        static const struct { const char *text; ss_cmp cmp; } CMPS[] = {
            {"<=", SS_CMP_LE}, {"<", SS_CMP_LT}, {">=", SS_CMP_GE}, {">", SS_CMP_GT}};
        int found = 0;
        for (int i = 0; i < 4 && !found; i++)
            if (is_punct(p->tok, CMPS[i].text)) s->cmp = CMPS[i].cmp, found = 1;
        if (!found) {
            expected(p, "a comparison (<=, <, >=, >)");
            return NULL;
        }
        advance(p);
        int neg = consume(p, "-");
        if (p->tok->kind != SS_TK_NUM) {
            expected(p, "a number");
            return NULL;
        }
        s->value_tok = p->tok;
        s->value = neg ? -p->tok->num : p->tok->num;
        s->unit = p->tok->unit;
        advance(p);
        s->text = span_text(p, s->name_tok, p->prev);
    } else if (ss_tok_is(t, "objective")) {
        if (!(s = new_stmt(p, SS_S_OBJECTIVE, t))) return NULL;
        if (ss_tok_is(p->tok, "maximize")) s->maximize = 1;
        else if (!ss_tok_is(p->tok, "minimize")) {
            expected(p, "'maximize' or 'minimize'");
            return NULL;
        }
        advance(p);
        if (!ident(p, s, "a metric name")) return NULL;
        s->metric = s->name;
    } else {
        error_at(p, t, "expected a statement (space, input, classes, hparam, let, block, cell, "
                       "network, constraint, objective), got %s", describe(p, t));
        return NULL;
    }
    if (!p->tok->at_bol) {
        error_at(p, p->tok, "unexpected %s after the statement (one statement per line)",
                 describe(p, p->tok));
        return NULL;
    }
    return s;
}

static int at_statement_start(const ss_tok *t) {
    if (t->kind == SS_TK_EOF) return 1;
    if (!t->at_bol || t->kind != SS_TK_IDENT) return 0;
    for (int i = 0; STMT_KEYWORDS[i]; i++)
        if (ss_tok_is(t, STMT_KEYWORDS[i]))
            return !ss_tok_is(t, "cell") || t->next->kind == SS_TK_IDENT;
    return 0;
}

/* file = { statement } EOF ; */
ss_program *ss_parse(nas_arena *a, ss_tok *toks, ss_diag *d) {
    parser p = {a, d, toks, toks, 0, 0};
    ss_program *prog = nas_arena_alloc(a, sizeof *prog);
    if (!prog) return NULL;
    if (toks->kind == SS_TK_EOF) {
        ss_diag_error(d, 1, 1, "empty file: expected 'space NAME' and a network or hparams");
        return prog;
    }
    ss_stmt **tail = &prog->stmts;
    while (p.tok->kind != SS_TK_EOF && !p.oom) {
        ss_tok *start = p.tok;
        ss_stmt *s = statement(&p);
        if (s) {
            *tail = s;
            tail = &s->next;
            continue;
        }
        if (p.tok != start && at_statement_start(p.tok)) continue;
        do advance(&p);
        while (!at_statement_start(p.tok));
    }
    return p.oom ? NULL : prog;
}
