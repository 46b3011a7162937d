/* kctl-shim guard: a seccomp filter installed on the app (in the child, before
 * exec) and the supervisor that answers its user notifications in PID 1.
 * Offers: mode parsing, the filter (kc_guard_install), the path policy
 * (pure, unit-tested: kc_path_join_norm, kc_path_under, kc_guard_decide) and
 * the per-notification handler that logs one JSON line per decision outside
 * the writable dirs and keeps counters. The handler never fails fatally. */
#ifndef KC_INIT_GUARD_H
#define KC_INIT_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/filter.h>

#include "shim/base/error.h"

enum kc_guard_mode { KC_GUARD_OFF = 0, KC_GUARD_AUDIT, KC_GUARD_ENFORCE };

struct kc_guard_policy {
	enum kc_guard_mode mode;
	char **writable; /* canonical absolute dirs; the app may mutate below them */
	size_t n_writable;
	const char *protect; /* the shim's state dir: never writable for the app; may be NULL */
};

/* What the policy says about one mutation of one path. */
enum kc_guard_verdict {
	KC_V_ALLOW = 0, /* under a writable dir (or kernel space): continue, silently */
	KC_V_AUDIT,	/* outside: continue, logged */
	KC_V_DENY,	/* outside: refused, logged */
};

struct kc_guard_counts {
	uint64_t notifications; /* every notification received */
	uint64_t allowed;	/* silently allowed (writable dirs, /dev, /proc, /sys) */
	uint64_t audited;	/* outside writable dirs, let through (audit) */
	uint64_t denied;	/* refused (enforce) */
	uint64_t errors;	/* could not read or resolve; answered per mode */
};

struct kc_guard {
	struct kc_guard_policy policy;
	struct kc_guard_counts counts;
	int notify_fd;
	FILE *log;		 /* JSON lines; stderr */
	const char *counts_path; /* rewritten (atomically) when counts change; may be NULL */
	bool dirty;
	int64_t last_flush_ms;
	void *req, *resp; /* libseccomp notification buffers */
};

int kc_guard_parse_mode(const char *s, enum kc_guard_mode *out, kc_err_t *err);
const char *kc_guard_mode_name(enum kc_guard_mode m);

/* In the child, before exec: sets no_new_privs and loads the filter. On
 * success *notify_fd is the listener fd to hand to the supervisor. The filter
 * is the program kc_guard_filter_build made at build time (guard_bpf.h):
 * compiling it with libseccomp in every child cost about a millisecond. */
int kc_guard_install(enum kc_guard_mode mode, int *notify_fd, kc_err_t *err);
/* The filter as a BPF program, built with libseccomp (*prog malloc'd). */
int kc_guard_filter_build(struct sock_filter **prog, size_t *len, kc_err_t *err);
/* Sets no_new_privs and loads prog with a notification listener. */
int kc_guard_load(const struct sock_filter *prog, size_t len, int *notify_fd, kc_err_t *err);

/* Supervisor side. kc_guard_init takes ownership of nothing; policy strings
 * must outlive the guard. */
int kc_guard_init(struct kc_guard *g, const struct kc_guard_policy *p, int notify_fd, FILE *log,
		  const char *counts_path, kc_err_t *err);
void kc_guard_fini(struct kc_guard *g);
/* Receives and answers one notification (call when notify_fd is readable). */
void kc_guard_handle_one(struct kc_guard *g);
/* Writes the counters file if dirty and (force or 200 ms passed). */
void kc_guard_flush(struct kc_guard *g, bool force);
/* Counters as one JSON object (malloc'd), for the counts file and drift. */
char *kc_guard_counts_json(const struct kc_guard *g);

/* Pure helpers. Joins path onto base (when relative) and removes ".", ".."
 * and repeated slashes lexically. Returns 0, or -1 when out is too small or
 * the result would not be absolute. */
int kc_path_join_norm(const char *base, const char *path, char *out, size_t outlen);
/* True when path equals dir or lies below it (both canonical absolute). */
bool kc_path_under(const char *path, const char *dir);
enum kc_guard_verdict kc_guard_decide(const struct kc_guard_policy *p, const char *path);

#endif
