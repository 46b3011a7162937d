/* kctl-shim init duties: become a child subreaper, start the app (with the
 * guard's seccomp filter installed in the child before exec), forward every
 * catchable signal to it (or its process group), reap every zombie, answer
 * guard notifications, and hand back the app's exit status the way tini does
 * (128+N for death by signal N). Once the app runs nothing here fails. */
#ifndef KC_INIT_INIT_H
#define KC_INIT_INIT_H

#include <stdbool.h>
#include <stdio.h>

#include "guard.h"
#include "shim/base/error.h"

struct kc_init_opts {
	char *const *argv; /* app and its arguments; argv[0] is looked up in PATH */
	bool pgroup;	   /* forward signals to the app's process group */
	struct kc_guard_policy policy;
	FILE *log;		 /* guard decisions and warnings, JSON lines */
	const char *counts_path; /* guard counters file; may be NULL */
};

/* Runs the app to completion. Returns -1 with *err only when the app could
 * not be started (fork, or the guard failed to load in enforce mode). */
int kc_init_run(const struct kc_init_opts *o, int *exit_code, kc_err_t *err);

/* tini's mapping of a wait status to an exit code. */
int kc_init_exit_code(int wstatus);

#endif
