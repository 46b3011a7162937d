/* kctl drift on Kubernetes: per pod of a Deployment, what changed in the pod against
 * the image it runs. The image is the one the kubelet reports in
 * status.containerStatuses[].imageID (pinned by digest; the spec's image only when
 * the status has none yet, said in a note). Two ways to read the pod:
 *  - "shim": the pod runs kctl-shim (its command/args, or the image's Entrypoint/Cmd,
 *    name it): `kctl-shim drift` over exec compares with the baseline the shim took
 *    at start; an error answer (exit 2: no baseline) falls back to the listing, noted;
 *  - "listing": the pod's filesystem listed, hashed and stat'ed over exec with the
 *    image's own sh/find/sha256sum/stat (bounded) against the image's file index
 *    built from its registry layers (whiteouts applied); content, symlink target,
 *    type and mode (a chmod is 'M') compared.
 * /proc, /sys, /dev, /tmp, mount points (volumes, the service-account and
 * /etc/hosts-style bind mounts) and engine noise are skipped. With a target image
 * (--target), each pod's listing is also compared with the target's index (as on
 * Docker: A only in the pod, D only in the target, C content, M mode, T type).
 * Fills the same kc_drift_report as the Docker drift (drift.h), with per-pod method,
 * notes, fingerprints and distinct states. */
#ifndef KC_COMPARE_DRIFT_KUBE_H
#define KC_COMPARE_DRIFT_KUBE_H

#include <stdbool.h>
#include <stddef.h>

#include "compare/drift.h"
#include "registry/fileindex.h"
#include "shim/base/error.h"
#include "shim/base/log.h"

struct kc_kube;

struct kc_drift_kube_opts {
	const char *deployment;
	const char *target_image; /* also compare each pod with this image; NULL: no */
	size_t parallel;	  /* pods read at once; 0: KC_KUBE_DEFAULT_PARALLEL */
	size_t max_output;	  /* bytes of listing per pod; 0: 32 MiB */
	const struct kc_log *log;
};

int kc_drift_kube(struct kc_kube *k, const struct kc_drift_kube_opts *o,
		  struct kc_drift_report *out, kc_err_t *err);

/* ---- pure parts (unit tested) ---- */

/* The shell script run in each pod (sections #M mounts, #D dirs, #L symlinks,
 * #F sha256sum lines, #P "octal-mode path" lines, #E end), and the comparison of its
 * output with an image index: fills r->files and the added/changed/deleted counters
 * (not the fingerprint). A listing without #P compares no modes. */
extern const char kc_drift_kube_script[];
int kc_drift_kube_compare(const struct kc_file_index *idx, const char *listing, size_t len,
			  struct kc_drift_replica *r, kc_err_t *err);
/* The same listing against a target image's index: *out (sorted by path) with the
 * target-diff kinds of drift.h ('T' for a type change). */
int kc_drift_kube_compare_target(const struct kc_file_index *target, const char *listing,
				 size_t len, struct kc_drift_file **out, size_t *n, kc_err_t *err);
/* `kctl-shim drift` JSON output (added/changed/deleted arrays of {path, type,
 * fields?, sha256?, mode?}) into r->files and the counters: a change of "mode" alone
 * is 'M', any other change 'C'; engine noise and /tmp, /proc, /sys, /dev skipped. */
int kc_drift_kube_shim_parse(const char *json, size_t len, struct kc_drift_replica *r,
			     kc_err_t *err);
/* A pullable reference ("repo@sha256:...") from an imageID as the kubelet reports it
 * ("docker-pullable://repo@sha256:...", "repo@sha256:...", "containerd://..."), or NULL
 * (*out) when it names none (empty, or a bare image id "docker://sha256:..."). */
int kc_drift_kube_image_ref(const char *image_id, char **out, kc_err_t *err);
/* The kctl-shim the container starts with: the first word named kctl-shim of its
 * effective argv (command, else the image Entrypoint; then args, else the image Cmd
 * unless command is set), or NULL. Lists are NULL-terminated or NULL. */
const char *kc_drift_kube_shim_path(const char *const *command, const char *const *args,
				    const char *const *entrypoint, const char *const *cmd);

#endif
