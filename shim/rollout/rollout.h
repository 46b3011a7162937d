/* Immutable rollouts on one Docker host: kctl as a deployment controller.
 *
 * An app is the set of containers labelled io.kctl.app=NAME; each carries its
 * revision, the image digest it runs, the template it was made from and its
 * change cause, so the engine is the whole state: the revision whose
 * containers run is the active one, older revisions are kept stopped up to
 * revisionHistoryLimit so undo is a start, not a pull. A rollout resolves the
 * image to a digest, pulls it, and only then touches containers; new replicas
 * count once their readiness probe passes; missing the deadline or a replica
 * failing failureThreshold probes undoes the rollout. One rollout per app at a
 * time (a lock under the state directory). */
#ifndef KC_ROLLOUT_ROLLOUT_H
#define KC_ROLLOUT_ROLLOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "shim/base/error.h"
#include "shim/base/log.h"
#include "shim/engine/engine.h"
#include "shim/rollout/manifest.h"

#define KC_LABEL_APP "io.kctl.app"
#define KC_LABEL_REVISION "io.kctl.revision"
#define KC_LABEL_DIGEST "io.kctl.image-digest"
#define KC_LABEL_MODE "io.kctl.mode"
#define KC_LABEL_IMAGE "io.kctl.image"
#define KC_LABEL_TEMPLATE "io.kctl.template"
#define KC_LABEL_TEMPLATE_HASH "io.kctl.template-hash"
#define KC_LABEL_CHANGE_CAUSE "io.kctl.change-cause"
#define KC_LABEL_HEALTH_PORT "io.kctl.health-port"
#define KC_LABEL_REPLICAS "io.kctl.replicas"

/* The environment variable that carries a replica's own health port: with
 * host networking replicas share the service port (SO_REUSEPORT), so the
 * readiness probe's port is remapped to a port of each replica's own. */
#define KC_HEALTH_PORT_ENV "HEALTH_PORT"

/* What a rollout reports as it goes, for a terminal. */
typedef void (*kc_rollout_event_cb)(void *opaque, const char *message);

struct kc_rollout_opts {
	const char *image;        /* overrides the manifest's image; NULL: keep it */
	int64_t timeout_ms;       /* 0: the manifest's progressDeadlineSeconds */
	bool dry_run;             /* plan only */
	const char *change_cause; /* NULL: the manifest's kubernetes.io/change-cause, else
				     "kctl rollout <image>" */
	bool mutable_mode;        /* label io.kctl.mode=mutable and a writable root
				     filesystem: replicas that kctl patch will edit in place */
	const struct kc_log *log;
	kc_rollout_event_cb on_event;
	void *event_opaque;
};

/* Time spent per phase (ms); -1 when the phase did not run. */
struct kc_rollout_phases {
	int64_t resolve_ms, pull_ms, create_ms, ready_ms, stop_old_ms, total_ms;
};

struct kc_rollout_result {
	char *app;
	int revision;          /* active after the call */
	int previous_revision; /* active before; 0 when none */
	char *image;           /* repo@sha256:... */
	char *digest;
	bool changed;  /* false: already at this template, nothing done */
	bool undone;   /* the rollout failed and the previous revision is back */
	char *reason;  /* why it was undone */
	char *plan;    /* human-readable plan (dry run and verbose) */
	char **created, **removed, **stopped, **started; /* container names, NULL-terminated */
	struct kc_rollout_phases phases;
};
void kc_rollout_result_free(struct kc_rollout_result *r);

/* Creates or updates the app to the manifest. Returns 0 when the app ends on
 * the new revision (or was already there); -1 with *err when nothing was
 * touched (bad input, unresolvable image, engine error before any change) or
 * when the rollout failed and was undone (res->undone, res->reason set). */
int kc_rollout_apply(struct kc_engine *e, const struct kc_deploy_spec *m,
		     const struct kc_rollout_opts *o, struct kc_rollout_result *res, kc_err_t *err);

/* Back to revision `to` (0: the one before the active one), reusing its kept
 * containers. */
int kc_rollout_undo(struct kc_engine *e, const char *app, int to,
		    const struct kc_rollout_opts *o, struct kc_rollout_result *res, kc_err_t *err);

struct kc_revision_info {
	int revision;
	char *digest, *image, *change_cause;
	int64_t created_ns;
	size_t containers, running;
	bool active;
};

struct kc_app_status {
	char *app;
	int active_revision; /* 0: none running */
	int desired;         /* replicas the active revision was rolled out with */
	size_t running, ready; /* of the active revision; ready by its readiness probe */
	char *digest;
	bool rolling;        /* containers of more than one revision run */
	struct kc_container_info *containers;
	size_t n_containers;
};

int kc_rollout_history(struct kc_engine *e, const char *app, struct kc_revision_info **out,
		       size_t *n, kc_err_t *err);
void kc_revision_list_free(struct kc_revision_info *r, size_t n);
int kc_rollout_status(struct kc_engine *e, const char *app, const struct kc_log *log,
		      struct kc_app_status *out, kc_err_t *err);
void kc_app_status_free(struct kc_app_status *s);

#endif
