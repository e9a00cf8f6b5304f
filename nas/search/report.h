/*
 * report.h - reading a finished (or running) study for people: the trials
 * listing (`nas trials`: aligned table, JSON, CSV), exporting one trial
 * (`nas export`: arch.json, weights, metrics.json) and the self-contained
 * HTML report (`nas report`: summary, best trial or Pareto front, stage-2
 * results, inline SVG charts, the trials table, failures).
 *
 * A report works on a snapshot: nas_report_study_load opens DIR/study.db
 * through the study store (store.h), reads every trial, its metrics, its
 * intermediate values and its stage-2 metrics (kv "final/<number>"), then
 * closes the store. The study may still be running; the snapshot does not
 * change afterwards.
 *
 * Not here: running searches, changing a study (nothing here writes to
 * study.db), argv parsing (nas/cli/cmd_trials.c).
 *
 * Ownership: nas_report_study_load returns a study freed by
 * nas_report_study_destroy. Output streams and paths are borrowed.
 * What every output contains is documented in docs/report.md.
 */
#ifndef NAS_SEARCH_REPORT_H
#define NAS_SEARCH_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "nas/core/status.h"
#include "nas/search/store.h"

typedef struct nas_report_study nas_report_study;

/* Loads the study in DIR. A missing DIR or DIR/study.db is NAS_ERR_IO, a file
 * that is not a nas study NAS_ERR_FORMAT (the message names the path). */
nas_status nas_report_study_load(const char *dir, nas_report_study **out, nas_error *err);
/* NULL is allowed. */
void nas_report_study_destroy(nas_report_study *s);

/* Number of trials in the snapshot (every state). */
size_t nas_report_study_trial_count(const nas_report_study *s);

typedef enum nas_report_format {
    NAS_REPORT_TABLE = 0, /* aligned columns, human units (91.23%, 1.2M, 0.42 ms) */
    NAS_REPORT_JSON,      /* an array of objects with every field */
    NAS_REPORT_CSV        /* a header + one row per trial, RFC 4180 quoting */
} nas_report_format;

typedef struct nas_report_list_options {
    nas_report_format format;
    nas_state_mask states; /* trials to list: bit (1u << state); 0 = all */
    /* NULL: by trial number. Otherwise "NAME" or "NAME:asc" / "NAME:desc"
     * where NAME is a metric ("latency" means latency_ms), "number" or
     * "duration". Without a direction a metric sorts best first: its
     * objective's direction when it is one, else ascending for costs
     * (latency, *_ms, macs, flops, params, *bytes, *loss*, duration) and
     * descending for the rest. Trials without the value come last. */
    const char *sort;
    long limit; /* at most this many rows after sorting; <= 0: all */
} nas_report_list_options;

/* Writes the listing to out. A sort key that no trial of the study has is
 * NAS_ERR_USAGE naming the metrics there are; a failed write NAS_ERR_IO. */
nas_status nas_report_trials(const nas_report_study *s, const nas_report_list_options *o, FILE *out,
                             nas_error *err);

/* What nas_report_export wrote (paths are "" when not written). */
typedef struct nas_report_export_result {
    char arch_path[4200];
    char metrics_path[4200];
    char weights_path[4200];
    char weights_from[4200]; /* the copied file: DIR/final/trial-N/weights.nasw or DIR/best/... */
    char arch_from[4200];    /* "study.db", or the arch.json stored next to the weights */
} nas_report_export_result;

/* Writes trial `number` to OUT (created when absent):
 *   OUT/arch.json    the trial's arch (from study.db; when weights are
 *                    exported and an arch.json lies next to them, that one,
 *                    since it is the network the weights belong to);
 *   OUT/weights.nasw stage-2 weights: DIR/final/trial-N/weights.nasw, or
 *                    DIR/best/weights.nasw when DIR/best holds trial N;
 *                    absent when the trial has none (an older
 *                    OUT/weights.nasw is then removed);
 *   OUT/metrics.json {"trial", "state", "point", "metrics" (search),
 *                    "final" (stage 2, or null), "weights" ("weights.nasw"
 *                    or null), "weights_from", "fail_reason"}.
 * An unknown trial number or a trial without an arch is NAS_ERR_INVALID; an
 * arch that fails to parse is NAS_ERR_FORMAT. res may be NULL. */
nas_status nas_report_export(const nas_report_study *s, int64_t number, const char *out_dir,
                             nas_report_export_result *res, nas_error *err);

/* Writes the HTML report to out (one self-contained page: inline CSS and
 * SVG, no scripts, no external assets; every string from the study is
 * HTML-escaped). */
nas_status nas_report_html(const nas_report_study *s, FILE *out, nas_error *err);
/* The same, written atomically to path. */
nas_status nas_report_html_save(const nas_report_study *s, const char *path, nas_error *err);

#endif
