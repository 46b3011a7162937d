/* Rollouts on Kubernetes, as kubectl does them: an image change is a strategic-merge
 * PATCH of the Deployment's container image (pinned by digest where the registry
 * answers, with the kubernetes.io/change-cause annotation); completion is watched
 * (not polled) by kubectl's rule (observedGeneration >= generation, updatedReplicas ==
 * spec.replicas, status.replicas == updatedReplicas, availableReplicas ==
 * updatedReplicas); a rollout that exceeds progressDeadlineSeconds (Progressing=False,
 * ProgressDeadlineExceeded) or --timeout is undone by restoring the previous
 * ReplicaSet's template, as `kubectl rollout undo` does. History comes from the
 * Deployment's ReplicaSets and their deployment.kubernetes.io/revision.
 * -f MANIFEST is a client-side apply as `kubectl apply` does it: a three-way patch of
 * (last-applied-configuration annotation, manifest, live object), or a create. A dry
 * run sends the same requests with dryRun=All and reports what would change. */
#ifndef KC_ROLLOUT_KUBE_ROLLOUT_H
#define KC_ROLLOUT_KUBE_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shim/base/error.h"
#include "shim/base/json.h"
#include "shim/base/log.h"
#include "shim/engine/kube.h"

struct kc_kube_rollout_opts {
	const char *image;     /* --image REF */
	const char *container; /* NULL: the first container */
	const char *manifest;  /* -f FILE: create the Deployment from it, or apply it */
	const char *change_cause;
	int64_t timeout_ms;  /* 0: progressDeadlineSeconds (default 600s) + 30s */
	int64_t to_revision; /* undo: 0 = the previous revision */
	bool no_resolve;     /* keep the tag (tests of unreachable registries) */
	bool dry_run;	     /* server-side dry run (dryRun=All): nothing persists */
	const struct kc_log *log;
	void (*on_event)(void *opaque, const char *message);
	void *opaque;
};

struct kc_kube_rollout_result {
	char *name, *namespace;
	char *image;  /* what the template now says */
	char *digest; /* sha256:... when pinned */
	int64_t revision, previous_revision;
	int64_t restored_revision; /* undo: the revision whose template was restored */
	bool changed, created, undone;
	bool dry_run;
	char *reason; /* why it was undone */
	/* Each container of the (would-be) template: its image before and after
	 * (from NULL when the container or the Deployment is new). */
	struct kc_kube_image_change {
		char *container, *from, *to;
	} * images;
	size_t nimages;
};
void kc_kube_rollout_result_free(struct kc_kube_rollout_result *r);

/* Image change (and/or -f manifest), watch, undo on failure. Fails with KC_E_TIMEOUT
 * or KC_E_REMOTE when the rollout did not complete (res->undone tells whether the
 * previous revision was restored). */
int kc_kube_rollout(struct kc_kube *k, const char *name, const struct kc_kube_rollout_opts *o,
		    struct kc_kube_rollout_result *res, kc_err_t *err);
int kc_kube_rollout_undo(struct kc_kube *k, const char *name, const struct kc_kube_rollout_opts *o,
			 struct kc_kube_rollout_result *res, kc_err_t *err);

/* kubectl's status rule on a Deployment object: 1 complete, 0 in progress (msg says
 * why), -1 with *err when the progress deadline was exceeded. */
int kc_kube_deployment_status(yajl_val deploy, char *msg, size_t cap, kc_err_t *err);
/* Watches until complete (0), deadline exceeded or timeout (<0). */
int kc_kube_rollout_wait(struct kc_kube *k, const char *ns, const char *name, int64_t timeout_ms,
			 const struct kc_kube_rollout_opts *o, kc_err_t *err);

#define KC_KUBE_LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* The JSON merge patch (RFC 7386) that takes `current` to what `modified` says, as
 * kubectl apply computes it: members of `modified` that differ from `current` are
 * set (objects recursively, scalars and lists whole), members of `original` (the
 * last applied configuration; NULL on a first apply) that `modified` dropped are
 * deleted (null), and members only `current` has are left alone. Emits one object
 * into g (g NULL: only counts); returns how many members it sets or deletes (0: the
 * live object already says everything the manifest says). */
size_t kc_kube_apply_patch(yajl_gen g, yajl_val original, yajl_val modified, yajl_val current);
/* Deep JSON equality; object member order and integer/double spelling ignored. */
bool kc_kube_json_equal(yajl_val a, yajl_val b);

struct kc_kube_revision {
	int64_t revision;
	char *rs_name;
	char *images; /* comma-separated container images */
	char *change_cause;
	int64_t replicas, ready;
	bool active;
};
int kc_kube_rollout_history(struct kc_kube *k, const char *name, struct kc_kube_revision **revs,
			    size_t *n, kc_err_t *err);
void kc_kube_revisions_free(struct kc_kube_revision *revs, size_t n);

#endif
