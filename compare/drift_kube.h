/* kctl drift on Kubernetes: per pod of a Deployment, the pod's filesystem (listed
 * and hashed over exec with the image's own sh/find/sha256sum, bounded) against the
 * file index of the pod's image built from its registry layers (whiteouts applied).
 * /proc, /sys, /dev, /tmp, mount points (volumes, the service-account and
 * /etc/hosts-style bind mounts) and engine noise are skipped. Fills the same
 * kc_drift_report as the Docker drift (drift.h), fingerprints and distinct states. */
#ifndef KC_COMPARE_DRIFT_KUBE_H
#define KC_COMPARE_DRIFT_KUBE_H

#include <stddef.h>

#include "compare/drift.h"
#include "registry/fileindex.h"
#include "shim/base/error.h"
#include "shim/base/log.h"

struct kc_kube;

struct kc_drift_kube_opts {
	const char *deployment;
	size_t parallel;   /* pods listed at once; 0: KC_KUBE_DEFAULT_PARALLEL */
	size_t max_output; /* bytes of listing per pod; 0: 32 MiB */
	const struct kc_log *log;
};

int kc_drift_kube(struct kc_kube *k, const struct kc_drift_kube_opts *o,
		  struct kc_drift_report *out, kc_err_t *err);

/* The shell script run in each pod, and the pure comparison of its output with an image
 * index: fills r->files and the added/changed/deleted counters (not the fingerprint). */
extern const char kc_drift_kube_script[];
int kc_drift_kube_compare(const struct kc_file_index *idx, const char *listing, size_t len,
			  struct kc_drift_replica *r, kc_err_t *err);

#endif
