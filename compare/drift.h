/* kctl drift: how far running replicas are from what they claim to be.
 * Per replica: files added / changed / deleted against its own image (the
 * engine's /changes, with sha256 of each added or changed regular file's
 * content read from the container over the archive API), filtered of engine
 * noise (/etc/hostname, /etc/hosts, /etc/resolv.conf and their parent /etc
 * entry when nothing else changed there) and of tmpfs/volume mounts from the
 * manifest; config drift against the io.kctl.template spec (image digest, env,
 * command); a fingerprint over all of it, and the number of distinct states
 * across replicas. With a target image: what differs between each replica's
 * effective filesystem and the target's file index. */
#ifndef KC_COMPARE_DRIFT_H
#define KC_COMPARE_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "registry/fileindex.h"
#include "shim/base/error.h"
#include "shim/base/log.h"
#include "shim/engine/engine.h"

struct kc_drift_file {
	char *path;
	/* Kubernetes pods: 'M' also for a mode-only change against the image. */
	char kind; /* 'A' added, 'C' changed, 'D' deleted (target diff: also 'T' type, 'M' mode) */
	char *sha256; /* NULL for D and dirs */
	uint32_t mode;
};

struct kc_drift_replica {
	char *id, *name, *mode /* io.kctl.mode */, *image_digest;
	int revision;
	struct kc_drift_file *files;
	size_t n_files;
	size_t added, changed, deleted;
	char **config;
	size_t n_config;      /* config drift lines, e.g. "env PORT: 8080 (want 9090)" */
	char fingerprint[17]; /* 16 hex of sha256 over the replica's drift; equal = same state */
	size_t state;	      /* addition: 1-based index of its distinct state */
	/* Kubernetes: how the pod's files were read, "shim" (kctl-shim drift, against its
	 * start baseline) or "listing" (find/sha256sum/stat over exec, against the image's
	 * file index); NULL on Docker. */
	char *method;
};

struct kc_drift_report {
	char *app;
	struct kc_drift_replica *replicas;
	size_t n;
	size_t distinct_states;
	/* against a target image (opts.target_image), per replica: what still differs from a
	 * fresh container of it. Kinds there: 'A' only in the replica, 'D' only in the target,
	 * 'C' content (or symlink target) differs, 'M' mode differs, 'T' type differs; sha256
	 * and mode are the replica's. Owners are not compared (the archive API writes as root). */
	struct kc_drift_file **target_diff;
	size_t *n_target_diff; /* arrays of n, or NULL */
	char *target_digest;   /* addition: resolved target, NULL without one */
	char **notes; /* Kubernetes: what was assumed or fell back (per pod); NULL on Docker */
	size_t n_notes;
};

struct kc_drift_opts {
	const char *app; /* NULL: every app kctl manages (label io.kctl.app) */
	const char *target_image;
	size_t parallel;
	const struct kc_log *log;
};

int kc_drift_app(struct kc_engine *e, const struct kc_drift_opts *o, struct kc_drift_report *out,
		 kc_err_t *err);
bool kc_drift_found(const struct kc_drift_report *r); /* any replica with files or config drift */
void kc_drift_report_free(struct kc_drift_report *r);

/* ---- output ---- */
int kc_drift_print_table(const struct kc_drift_report *r, FILE *out, kc_err_t *err);
int kc_drift_to_json(const struct kc_drift_report *r, bool pretty, char **out, size_t *len,
		     kc_err_t *err);

/* ---- pure parts (unit tested) ---- */

/* True when path is engine noise or lies under one of the skip prefixes
 * (mount paths; "/tmp" is always skipped). */
bool kc_drift_skip_path(const char *path, const char *const *skip, size_t n_skip);
/* Fills r->fingerprint from its files and config lines (order-independent:
 * files are sorted by path first). */
void kc_drift_fingerprint(struct kc_drift_replica *r);
/* Assigns r[i].state and returns the number of distinct fingerprints. */
size_t kc_drift_count_states(struct kc_drift_replica *r, size_t n);
/* Config drift of a running container against the spec JSON it was made from
 * (label io.kctl.template) and the image config: lines appended to *lines. */
struct kc_deploy_spec;
int kc_drift_config(const struct kc_deploy_spec *want, const char *want_digest,
		    const char *running_digest, const char *const *env,
		    const char *const *image_env, const char *const *cmd,
		    const char *const *entrypoint, char ***lines, size_t *n, kc_err_t *err);

#endif
