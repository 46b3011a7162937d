/* Durations for flags such as --timeout, written as Go and kubectl write them:
 * "30s", "2m", "1h30m", "500ms", "1.5s", "0". Units h, m, s, ms; a number without a unit
 * is refused (except "0") so "30" is never silently seconds or milliseconds. The value
 * is in milliseconds, at most KC_DURATION_MAX_MS. */
#ifndef KC_BASE_DURATION_H
#define KC_BASE_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define KC_DURATION_MAX_MS (INT64_C(366) * 24 * 3600 * 1000)

int kc_duration_parse(const char *s, int64_t *ms, kc_err_t *err);
/* "1h30m", "2m5.5s", "250ms", "0s" into buf; returns buf. */
char *kc_duration_format(int64_t ms, char *buf, size_t size);

#endif
