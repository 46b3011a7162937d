/* kctl patch: the mutable mode. Edits the running replicas of an app in place
 * (Docker archive API for content, exec for commands and deletions), then
 * restarts (engine stop+start keeps the writable layer) or signals them.
 * KC_PATCH_TO_IMAGE computes the file difference between the image each
 * replica runs and a target image (registry file indexes: content hashes,
 * modes, symlink targets, type changes) and applies exactly that. Every
 * replica step is appended to the patch journal (compare/journal.h, fsync'd)
 * before kc_patch_run returns. Replicas must be mutable (label
 * io.kctl.mode=mutable): a read-only replica is refused up front. */
#ifndef KC_COMPARE_PATCH_H
#define KC_COMPARE_PATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/fileindex.h"
#include "shim/base/error.h"
#include "shim/base/log.h"
#include "shim/engine/engine.h"

/* Upper bound on --parallel (each worker has its own engine handle). */
#define KC_PATCH_MAX_PARALLEL 64
/* EXEC output kept per stream and replica. */
#define KC_PATCH_MAX_OUTPUT (64u * 1024u)

enum kc_patch_op { KC_PATCH_COPY = 0, KC_PATCH_EXEC, KC_PATCH_TO_IMAGE };

typedef void (*kc_patch_event_cb)(void *opaque, const char *message);

struct kc_patch_opts {
	const char *app;
	enum kc_patch_op op;
	const char *local, *path; /* COPY: local file/dir -> path in the replica */
	const char *command;	  /* EXEC: run as /bin/sh -c COMMAND */
	const char *image;	  /* TO_IMAGE: target image reference (tag or digest) */
	bool restart;		/* restart the container after the edit (TO_IMAGE: default true) */
	const char *signal;	/* or send this signal to the app instead, e.g. "SIGHUP" */
	size_t parallel;	/* replicas patched at once; 0 means 1 */
	bool continue_on_error; /* default: stop at the first failing replica */
	const struct kc_log *log;
	kc_patch_event_cb on_event;
	void *event_opaque;
	/* Additions (zero = default). */
	const char *state_dir;	 /* journal location; NULL: kc_state_dir() */
	const char *docker_host; /* engine for worker threads; NULL: $DOCKER_HOST */
};

struct kc_patch_replica {
	char *id, *name;
	char *outcome; /* "ok", "failed", "skipped" (not attempted after a failure) */
	char *error;   /* NULL when ok */
	char *applied; /* human summary: "3 added, 2 changed, 1 deleted; restarted" */
	size_t added, changed, deleted; /* TO_IMAGE / COPY file counts */
	int exit_code;			/* EXEC; -1 otherwise */
	char *out, *err;		/* EXEC output (bounded), NULL otherwise */
	int64_t duration_ms;
	char *
	    digest; /* addition: "sha256:..." of the content applied (tar put / command), or NULL */
	/* Kubernetes (patch_kube.h): the step is in the journal / the pod annotation is set. */
	bool journaled, annotated;
};

/* -1: phase did not run. Phases are summed over replicas (wall time of each). */
struct kc_patch_phases {
	int64_t diff_ms, copy_ms, exec_ms, restart_ms, total_ms;
};

struct kc_patch_result {
	char *patch_id, *app;
	char *target_digest; /* TO_IMAGE */
	struct kc_patch_replica *replicas;
	size_t n, ok, failed, skipped;
	bool partial; /* some replicas ok, some not */
	struct kc_patch_phases phases;
};

/* 0 when every replica succeeded; -1 with *err otherwise (res is still filled:
 * res->partial, per-replica outcomes). Every replica step is journaled before return. */
int kc_patch_run(struct kc_engine *e, const struct kc_patch_opts *o, struct kc_patch_result *res,
		 kc_err_t *err);
void kc_patch_result_free(struct kc_patch_result *r);
/* Formats a progress line and hands it to o->on_event (when set). */
void kc_patch_event(const struct kc_patch_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- pure parts (unit tested) ---- */

/* One step of the difference between two image file indexes. */
enum kc_fdiff_kind {
	KC_FDIFF_ADD = 'A',    /* in `to` only */
	KC_FDIFF_CHANGE = 'C', /* content, link target or mode differs, same type */
	KC_FDIFF_DELETE = 'D', /* in `from` only (only the top path of a deleted tree) */
	KC_FDIFF_RETYPE = 'T', /* type differs: removed, then added as in `to` */
};

struct kc_fdiff {
	const struct kc_file_entry *from, *to; /* borrowed from the indexes; NULL when absent */
	const char *path;		       /* borrowed */
	enum kc_fdiff_kind kind;
	bool content; /* CHANGE: content or link target differs (else only mode/owner) */
};

/* The difference from `from` to `to`, in path order. Deletions inside a
 * deleted or retyped directory are folded into it. Caller frees *out (the
 * array only). */
int kc_fdiff_compute(const struct kc_file_index *from, const struct kc_file_index *to,
		     struct kc_fdiff **out, size_t *n, kc_err_t *err);

/* The file index of the image `image` (a reference; its tag is ignored when
 * digest is given) pinned to digest (NULL: resolve image). info_out (may be
 * NULL) receives the resolved image. Uses the registry client r. */
struct kc_registry;
struct kc_image_info;
int kc_patch_image_index(struct kc_registry *r, const char *image, const char *digest,
			 struct kc_image_info *info_out, struct kc_file_index **out, kc_err_t *err);

/* ---- the --to-image plan, shared by the Docker and Kubernetes modes ---- */

/* The content of the regular files of a target image that the differences from
 * some source images need (each read once, kept in memory). */
struct kc_patch_content;

/* Reads that content from the target's registry layers (info: the resolved target,
 * `to` its index), top layer first, each file checked against the index's sha256
 * (so whiteouts and files replaced in upper layers are honoured). froms: the source
 * indexes (NULL entries count as empty). No container engine is needed. */
int kc_patch_content_from_layers(struct kc_registry *r, const struct kc_image_info *info,
				 const struct kc_file_index *to, struct kc_file_index **froms,
				 size_t n_from, struct kc_patch_content **out, kc_err_t *err);
/* The same from layer tars in memory (base layer first; unit tests). */
int kc_patch_content_from_mem(const void *const *layers, const size_t *lens, size_t n_layers,
			      const struct kc_file_index *to, struct kc_file_index **froms,
			      size_t n_from, struct kc_patch_content **out, kc_err_t *err);
void kc_patch_content_free(struct kc_patch_content *c);

/* What moving a filesystem from `from` to `to` in place takes: paths to remove first
 * (deleted or retyped, top of each tree only), then one tar of everything added or
 * changed (regular files with content, mode and owner, symlinks, directories) to
 * extract at "/" (names relative to it). */
struct kc_patch_plan {
	char **rm; /* absolute paths, NULL-terminated */
	void *tar;
	size_t tar_len;
	char digest[KC_DIGEST_LEN + 1]; /* sha256 of tar */
	size_t added, changed, deleted;
};
int kc_patch_plan_build(const struct kc_file_index *from, const struct kc_file_index *to,
			const struct kc_patch_content *c, struct kc_patch_plan *out, kc_err_t *err);
void kc_patch_plan_free(struct kc_patch_plan *p);

/* The image digest a replica's files were last moved to by a successful --to-image,
 * as the journal records it (the detail starts with the digest), into out; false
 * when the journal has none for replica_id. */
struct kc_journal_log;
bool kc_patch_journal_base(const struct kc_journal_log *log, const char *replica_id,
			   char out[KC_DIGEST_LEN + 1]);

#endif
