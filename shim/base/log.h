/* Logging without global state: a struct kc_log is owned by the CLI entry
 * point and passed down; a NULL logger logs nothing. */
#ifndef KC_BASE_LOG_H
#define KC_BASE_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum kc_log_level { KC_LOG_ERROR = 0, KC_LOG_WARN, KC_LOG_INFO, KC_LOG_DEBUG };

struct kc_log {
	enum kc_log_level level;
	FILE *out;
};

void kc_logf(const struct kc_log *log, enum kc_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A progress line (at most 511 bytes): logged at info and handed to cb (when set). */
void kc_log_progressv(const struct kc_log *log, void (*cb)(void *opaque, const char *message),
		      void *opaque, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#define kc_debug(log, ...) kc_logf((log), KC_LOG_DEBUG, __VA_ARGS__)
#define kc_info(log, ...) kc_logf((log), KC_LOG_INFO, __VA_ARGS__)
#define kc_warn(log, ...) kc_logf((log), KC_LOG_WARN, __VA_ARGS__)

#endif
