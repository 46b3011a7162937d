/* The kctl error chain: see error.h. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

static int push(kc_err_t *err, enum kc_err_kind kind, int errnum, char *msg)
{
	if (!err) {
		free(msg);
		return -1;
	}
	struct kc_err *e = calloc(1, sizeof *e);
	if (!e) {
		/* Out of memory: keep whatever chain exists rather than lose it. */
		free(msg);
		return -1;
	}
	e->kind = kind;
	e->sys_errno = errnum;
	e->msg = msg ? msg : strdup("(out of memory formatting error)");
	e->cause = *err;
	*err = e;
	return -1;
}

int kc_err_new(kc_err_t *err, enum kc_err_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = vformat(fmt, ap);
	va_end(ap);
	return push(err, kind, 0, msg);
}

int kc_err_sys(kc_err_t *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *head = vformat(fmt, ap);
	va_end(ap);
	char *msg = NULL;
	if (head && asprintf(&msg, "%s: %s", head, strerror(errnum)) < 0)
		msg = NULL;
	free(head);
	enum kc_err_kind kind;
	switch (errnum) {
	case ECONNREFUSED:
	case EHOSTUNREACH:
		kind = KC_E_UNAVAIL;
		break;
	case ETIMEDOUT:
		kind = KC_E_TIMEOUT;
		break;
	default:
		kind = KC_E_IO;
	}
	return push(err, kind, errnum, msg);
}

int kc_err_wrap(kc_err_t *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *msg = vformat(fmt, ap);
	va_end(ap);
	enum kc_err_kind kind = *err ? (*err)->kind : KC_E_GENERIC;
	int http = *err ? (*err)->http_status : 0;
	int rc = push(err, kind, 0, msg);
	if (*err)
		(*err)->http_status = http;
	return rc;
}

enum kc_err_kind kc_err_kind(const struct kc_err *err)
{
	return err ? err->kind : 0;
}

int kc_err_http_status(const struct kc_err *err)
{
	for (; err; err = err->cause)
		if (err->http_status)
			return err->http_status;
	return 0;
}

char *kc_err_string(const struct kc_err *err)
{
	size_t len = 1;
	for (const struct kc_err *e = err; e; e = e->cause)
		len += strlen(e->msg) + 2;
	char *s = malloc(len);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (const struct kc_err *e = err; e; e = e->cause) {
		strcat(s, e->msg);
		if (e->cause)
			strcat(s, ": ");
	}
	return s;
}

void kc_err_print(const struct kc_err *err, const char *prog, FILE *out)
{
	char *s = kc_err_string(err);
	fprintf(out, "%s: %s\n", prog, s ? s : "error (out of memory)");
	free(s);
}

void kc_err_free(kc_err_t *err)
{
	if (!err)
		return;
	struct kc_err *e = *err;
	while (e) {
		struct kc_err *next = e->cause;
		free(e->msg);
		free(e);
		e = next;
	}
	*err = NULL;
}
