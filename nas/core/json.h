/*
 * json.h - strict JSON text for every file nas reads: one value, nothing
 * after it but whitespace, no key twice in one object. cJSON alone accepts
 * `{...} trailing text` and two values in a row, and answers a repeated key
 * with its first value; a file edited by hand deserves an error instead.
 */
#ifndef NAS_CORE_JSON_H
#define NAS_CORE_JSON_H

#include <cJSON.h>
#include <stddef.h>

#include "nas/core/status.h"

/* Parses text[0..len) (a NUL inside ends it). On success the tree (caller
 * cJSON_Deletes it); on failure NULL and a NAS_ERR_FORMAT error naming
 * source and where: "SOURCE:LINE:COL: invalid JSON", "SOURCE:LINE:COL: text
 * after the JSON value", "SOURCE: key 'hparams.lr' appears twice". */
cJSON *nas_json_parse(const char *text, size_t len, const char *source, nas_error *err);

/* 2^53: the largest whole number a JSON number (a double) holds with every
 * smaller one; seeds are written as JSON numbers, so they stay within it. */
#define NAS_SEED_MAX 9007199254740992.0

#endif
