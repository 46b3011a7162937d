/* kctl compare: the same version sequence deployed both ways from the same
 * start, measured. The immutable walk deploys the first version fresh and
 * rolls out each next one (new containers from pinned images); the mutable
 * walk deploys the first version fresh with writable roots and patches each
 * next one in place (kctl patch --to-image). The walks run one after the
 * other on the same port so neither disturbs the other's figures; each step
 * is metered (compare/meter.h) and followed by a drift report. Every
 * version resolves before anything is deployed; both apps are removed at
 * the end. */
#ifndef KC_COMPARE_COMPARE_H
#define KC_COMPARE_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "compare/report.h"
#include "shim/base/error.h"
#include "shim/base/log.h"
#include "shim/engine/engine.h"

enum kc_compare_moment {
	KC_COMPARE_WALK_BEGIN, /* an approach starts: its first version is being deployed */
	KC_COMPARE_STEP_BEGIN, /* a metered step starts */
	KC_COMPARE_STEP_END,   /* a metered step ended; its result is in the report */
	KC_COMPARE_WALK_END,
};

struct kc_compare_event {
	enum kc_compare_moment moment;
	enum kc_approach approach;
	const char *from, *to;		       /* STEP_*: the versions; WALK_BEGIN: to only */
	const struct kc_report_result *result; /* STEP_END */
};

typedef void (*kc_compare_event_cb)(void *opaque, const struct kc_compare_event *ev);

struct kc_compare_opts {
	const char *manifest;
	char **versions; /* image references, first one deployed fresh */
	size_t n_versions;
	int replicas;	   /* 0: the manifest's */
	double rate;	   /* probe requests per second; 0: 100 */
	const char *fault; /* NULL or "partial": one replica's patch fails (see compare.c) */
	const char *docker_host;
	const struct kc_log *log;
	kc_compare_event_cb on_event;
	void *event_opaque;
	void (*on_message)(void *opaque, const char *message); /* progress lines */
};

int kc_compare_run(struct kc_engine *e, const struct kc_compare_opts *o, struct kc_report **out,
		   kc_err_t *err);

/* Pieces the Kubernetes runner (compare_kube.h) shares. */
struct kc_drift_report;
struct kc_patch_result;
/* A progress line to o->on_message (and the log); an event to o->on_event. */
void kc_compare_say(const struct kc_compare_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void kc_compare_emit(const struct kc_compare_opts *o, enum kc_compare_moment moment,
		     enum kc_approach a, const char *from, const char *to,
		     const struct kc_report_result *res);
/* Step i of walk a (versions[i-1] -> versions[i]) begins: the immutable walk adds the
 * report's step, the mutable walk fills the other column of the same step; *res is
 * initialised, announced and said. kc_compare_step_end announces it done. */
int kc_compare_step_begin(const struct kc_compare_opts *o, enum kc_approach a, size_t i,
			  struct kc_report *rep, struct kc_report_result **res, kc_err_t *err);
void kc_compare_step_end(const struct kc_compare_opts *o, enum kc_approach a, size_t i,
			 const struct kc_report_result *res);
/* "127.0.0.1:5000/kctl-demo:v2" -> "kctl-demo:v2" (points into ref). */
const char *kc_compare_short_ref(const char *ref);
/* res's drift figures (and config-drift notes) from a drift report. */
int kc_compare_add_drift(struct kc_report_result *res, const struct kc_drift_report *d,
			 kc_err_t *err);
/* res's outcome, error, phases and per-replica notes from a patch run; rc and serr are
 * what kc_patch_run (or kc_patch_kube_run) returned. */
int kc_compare_add_patch(struct kc_report_result *res, int rc, kc_err_t serr,
			 const struct kc_patch_result *pr, kc_err_t *err);

#endif
