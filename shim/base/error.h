/* kctl error convention.
 *
 * Every fallible function takes `kc_err_t *err` as its last parameter and
 * returns an int status: 0 on success, negative on failure with *err set.
 * Callers add context on the way up with kc_err_wrap(); the chain is printed
 * once, at the top, by kc_err_print(). An error is owned by whoever holds the
 * pointer and released with kc_err_free(). */
#ifndef KC_BASE_ERROR_H
#define KC_BASE_ERROR_H

#include <stdio.h>

/* Kinds let callers branch (a 404 versus a refused connection) without
 * parsing messages; the CLI maps them to exit codes. */
enum kc_err_kind {
	KC_E_GENERIC = 1,
	KC_E_USAGE,     /* bad command line */
	KC_E_INVALID,   /* bad input: reference, manifest, flag value */
	KC_E_IO,        /* local file or syscall */
	KC_E_UNAVAIL,   /* peer did not answer: connect refused, no socket */
	KC_E_TIMEOUT,
	KC_E_PROTO,     /* peer answered garbage */
	KC_E_NOTFOUND,  /* peer says the thing does not exist */
	KC_E_CONFLICT,  /* peer says the thing exists / is in use */
	KC_E_AUTH,      /* 401/403 or missing credentials */
	KC_E_DIGEST,    /* content did not match its digest */
	KC_E_TOOBIG,    /* a bounded read hit its limit */
	KC_E_REMOTE,    /* peer reported an error of its own */
	KC_E_UNSUPPORTED,
};

struct kc_err {
	enum kc_err_kind kind;
	int sys_errno;  /* 0 when not from a syscall */
	int http_status; /* 0 when not from an HTTP answer */
	char *msg;
	struct kc_err *cause;
};
typedef struct kc_err *kc_err_t;

/* Sets *err to a new error (any previous one becomes its cause) and returns -1. */
int kc_err_new(kc_err_t *err, enum kc_err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, with strerror(errnum) appended and errnum recorded. */
int kc_err_sys(kc_err_t *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Adds context on top of *err, keeping its kind; returns -1. */
int kc_err_wrap(kc_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Kind and HTTP status of the innermost error that set one. */
enum kc_err_kind kc_err_kind(const struct kc_err *err);
int kc_err_http_status(const struct kc_err *err);
/* "outer: inner: root" in a newly allocated string. */
char *kc_err_string(const struct kc_err *err);
/* Prints "PROG: outer: inner: root\n". */
void kc_err_print(const struct kc_err *err, const char *prog, FILE *out);
void kc_err_free(kc_err_t *err);

#endif
