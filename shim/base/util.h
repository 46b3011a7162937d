/* Two small helpers every room needs: a formatted string in new memory, and
 * the monotonic clock in milliseconds (durations, deadlines). */
#ifndef KC_BASE_UTIL_H
#define KC_BASE_UTIL_H

#include <stdint.h>

/* vasprintf into a new string; NULL when out of memory. */
char *kc_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* CLOCK_MONOTONIC in ms. */
int64_t kc_mono_ms(void);

#endif
