/*
 * grid.c - the `grid` controller: every canonical point of the space in a
 * stable odometer order (decision order, last decision fastest, inactive
 * decisions held at their canonical value, so conditional sub-spaces are
 * visited exactly once each). Float decisions are discretised to
 * opt.float_levels levels spread evenly on their scale (both ends included);
 * integers take every value. The order does not depend on the rng.
 * NAS_ERR_EXHAUSTED after the last point.
 */
#include <stdlib.h>
#include <string.h>

#include "controller/internal.h"

typedef struct grid_state {
    uint64_t *idx; /* odometer levels, one per decision */
    double *cur;   /* the point at idx */
    int started, done;
} grid_state;

static nas_status grid_init(ctrl *c, nas_error *err) {
    grid_state *g = calloc(1, sizeof *g);
    if (!g) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating grid");
    c->kind = g;
    g->idx = calloc((size_t)c->nd + 1, sizeof *g->idx);
    g->cur = calloc((size_t)c->nd + 1, sizeof *g->cur);
    if (!g->idx || !g->cur) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory creating grid");
    return NAS_OK;
}

static void grid_deinit(ctrl *c) {
    grid_state *g = c->kind;
    if (!g) return;
    free(g->idx);
    free(g->cur);
    free(g);
    c->kind = NULL;
}

static nas_status grid_draw(ctrl *c, pcg32 *rng, double *point, nas_error *err) {
    (void)rng;
    grid_state *g = c->kind;
    int levels = c->opt.float_levels;
    if (g->done) return NAS_FAIL(err, NAS_ERR_EXHAUSTED, "grid: every point was proposed");
    if (!g->started) {
        ctrl_odometer_point(c->space, g->idx, levels, g->cur);
        g->started = 1;
    } else if (!ctrl_odometer_next(c->space, g->idx, levels, g->cur)) {
        g->done = 1;
        return NAS_FAIL(err, NAS_ERR_EXHAUSTED, "grid: every point was proposed");
    }
    memcpy(point, g->cur, (size_t)c->nd * sizeof *point);
    return NAS_OK;
}

static void grid_save(const ctrl *c, ctrl_writer *w) {
    const grid_state *g = c->kind;
    ctrl_w_u32(w, (uint32_t)g->started);
    ctrl_w_u32(w, (uint32_t)g->done);
    ctrl_w_bytes(w, g->idx, (size_t)c->nd * sizeof *g->idx);
}

static nas_status grid_load(ctrl *c, ctrl_reader *r, nas_error *err) {
    grid_state *g = c->kind;
    g->started = ctrl_r_u32(r) != 0;
    g->done = ctrl_r_u32(r) != 0;
    ctrl_r_bytes(r, g->idx, (size_t)c->nd * sizeof *g->idx);
    if (r->failed) return NAS_FAIL(err, NAS_ERR_FORMAT, "grid state is truncated");
    for (int i = 0; i < c->nd; i++)
        if (g->idx[i] >= ctrl_levels(&c->space->decisions[i], c->opt.float_levels))
            return NAS_FAIL(err, NAS_ERR_FORMAT, "grid state: level out of range");
    ctrl_odometer_point(c->space, g->idx, c->opt.float_levels, g->cur);
    return NAS_OK;
}

const ctrl_kind_ops ctrl_kind_grid = {"grid",    grid_init, grid_deinit, grid_draw,
                                      NULL,      grid_save, grid_load};
