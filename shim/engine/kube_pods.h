/* The pods of a Deployment, and acting on each of them over the Kubernetes API:
 * exec over WebSocket (websocket.h) on many pods with bounded concurrency (a drift
 * audit of 200 pods never opens 200 connections at once), copying files in as
 * `kubectl cp` does (a tar stream into `tar -x` over exec stdin; needs the v5
 * protocol, which can close stdin), and recording a patch as a pod annotation.
 * These are the engine-side pieces of `kctl patch`/`kctl drift` on Kubernetes. */
#ifndef KC_ENGINE_KUBE_PODS_H
#define KC_ENGINE_KUBE_PODS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "shim/base/error.h"
#include "shim/engine/kube.h"

#define KC_KUBE_DEFAULT_PARALLEL 8
#define KC_KUBE_MAX_PARALLEL 64

struct kc_kube_pod {
	char *name;
	char *phase;	 /* "Running", "Pending"... */
	bool ready;	 /* condition Ready=True */
	char *container; /* the first container's name */
	char *image;	 /* the first container's image (spec) */
	char *rs_hash;	 /* pod-template-hash label: which revision it belongs to */
	/* status.containerStatuses[] of that container: the image the kubelet runs
	 * ("docker-pullable://repo@sha256:...", "repo@sha256:...", "docker://sha256:...");
	 * NULL while it has none (not started yet). */
	char *image_id;
	char **command, **args; /* spec of that container, NULL-terminated; NULL when unset */
	char **annotations;	/* metadata.annotations: key, value, key, value, ..., NULL */
};

/* The value of a pod's annotation, or NULL. */
const char *kc_kube_pod_annotation(const struct kc_kube_pod *pod, const char *key);

/* Pods matching the Deployment's selector, sorted by name. */
int kc_kube_deployment_pods(struct kc_kube *k, const char *deployment, struct kc_kube_pod **pods,
			    size_t *n, kc_err_t *err);
void kc_kube_pods_free(struct kc_kube_pod *pods, size_t n);

struct kc_kube_exec_each {
	const char *pod;       /* in */
	const char *container; /* in; NULL: the pod's first */
	bool ran;	       /* the command ran and an exit status came back */
	int exit_code;
	char *out, *err_out;
	kc_err_t error; /* when !ran: why */
};

/* Runs argv in every pod (stdin_data, when not NULL, is sent and stdin closed),
 * at most `parallel` (0: KC_KUBE_DEFAULT_PARALLEL) at a time. Each outcome lands in
 * each[i]; returns the number of pods where the command ran and exited 0, or -1 with
 * *err when nothing could be attempted. max_output bounds each stream (0: 64 MiB). */
int kc_kube_exec_each(struct kc_kube *k, struct kc_kube_exec_each *each, size_t n,
		      const char *const *argv, const void *stdin_data, size_t stdin_len,
		      size_t parallel, size_t max_output, kc_err_t *err);
void kc_kube_exec_each_free(struct kc_kube_exec_each *each, size_t n);

/* A tar archive (in memory) holding one regular file at path (relative, as
 * `tar -x -C DIR` expects it) with the given content and mode. */
int kc_kube_tar_one(const char *path, const void *data, size_t len, mode_t mode, void **tar,
		    size_t *tar_len, kc_err_t *err);

/* Sets metadata.annotations[key] = value on a pod (JSON merge patch). */
int kc_kube_annotate_pod(struct kc_kube *k, const char *pod, const char *key, const char *value,
			 kc_err_t *err);

#endif
