/* kctl compare on Kubernetes: the same walks and the same kc_report as compare.h, with
 * Deployments as the app. Each approach gets its own Deployment made from the manifest
 * (NAME-immutable / NAME-mutable, label io.kctl.walk added to its selector and pods),
 * created fresh at the first version pinned by digest; the immutable walk rolls out each
 * next version (kube_rollout.h), the mutable one patches the pods in place over exec
 * (patch_kube.h), and drift (drift_kube.h) follows every step. Per step: wall and phase
 * times, API calls and bytes of the connection, CPU and memory from metrics.k8s.io
 * PodMetrics when the cluster serves them, and the steady probe against --probe-url.
 * Every version resolves before anything is created; both Deployments are deleted at
 * the end (their ReplicaSets and pods with them), also on failure. */
#ifndef KC_COMPARE_COMPARE_KUBE_H
#define KC_COMPARE_COMPARE_KUBE_H

#include "compare/compare.h"
#include "compare/report.h"
#include "shim/base/error.h"
#include "shim/engine/kubeconfig.h"

struct kc_kube;

/* The pods' label that tells the two walks apart (added to each Deployment's selector). */
#define KC_COMPARE_KUBE_WALK_LABEL "io.kctl.walk"

struct kc_compare_kube_opts {
	const struct kc_compare_opts *base;   /* manifest, versions, replicas, rate, callbacks */
	struct kc_kubeconfig_opts kubeconfig; /* the metrics sampler opens its own connection */
	const char *probe_url;		      /* NULL: probe figures not measured (noted) */
	long sample_ms;			      /* metrics period; 0: 1000 */
};

/* k is the step's connection: its HTTP counters are the steps' API figures. */
int kc_compare_kube_run(struct kc_kube *k, const struct kc_compare_kube_opts *o,
			struct kc_report **out, kc_err_t *err);

/* A Kubernetes quantity ("250m", "123456n", "1234Ki", "1.5Gi", "2e3") as a number:
 * cores for CPU, bytes for memory. -1 when it does not parse. */
int kc_kube_quantity(const char *s, double *out);

#endif
