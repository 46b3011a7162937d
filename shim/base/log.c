/* Leveled logging to a caller-owned stream: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <time.h>

void kc_logf(const struct kc_log *log, enum kc_log_level level, const char *fmt, ...)
{
	if (!log || !log->out || level > log->level)
		return;
	static const char *const names[] = {"error", "warn", "info", "debug"};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof when, "%H:%M:%S", &tm);
	fprintf(log->out, "%s.%03ld %s ", when, ts.tv_nsec / 1000000, names[level]);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(log->out, fmt, ap);
	va_end(ap);
	fputc('\n', log->out);
}

void kc_log_progressv(const struct kc_log *log, void (*cb)(void *opaque, const char *message),
		      void *opaque, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	kc_info(log, "%s", msg);
	if (cb)
		cb(opaque, msg);
}
