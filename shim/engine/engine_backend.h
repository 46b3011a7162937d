/* For engine backends only (docker.c, kube.c): the ops table behind the
 * opaque struct kc_engine. A backend embeds struct kc_engine as the first
 * member of its own state and leaves ops it cannot do NULL (the dispatcher
 * answers KC_E_UNSUPPORTED). Users include engine.h, never this file. */
#ifndef KC_ENGINE_BACKEND_H
#define KC_ENGINE_BACKEND_H

#include "engine.h"

struct kc_engine_ops {
	const char *name;
	void (*free)(struct kc_engine *e);
	int (*http_stats)(struct kc_engine *e, struct kc_http_stats *out, kc_err_t *err);
	int (*ping)(struct kc_engine *e, kc_err_t *err);
	int (*version)(struct kc_engine *e, struct kc_engine_version *out, kc_err_t *err);

	int (*image_inspect)(struct kc_engine *e, const char *ref, struct kc_engine_image *out,
			     kc_err_t *err);
	int (*image_list)(struct kc_engine *e, const char *reference, const struct kc_label *labels,
			  size_t n_labels, struct kc_engine_image **out, size_t *n, kc_err_t *err);
	int (*image_pull)(struct kc_engine *e, const char *ref, kc_progress_cb cb, void *opaque,
			  kc_err_t *err);
	int (*image_push)(struct kc_engine *e, const char *ref, kc_progress_cb cb, void *opaque,
			  char **digest_out, kc_err_t *err);
	int (*image_tag)(struct kc_engine *e, const char *src, const char *repo, const char *tag,
			 kc_err_t *err);
	int (*image_remove)(struct kc_engine *e, const char *ref, bool force, kc_err_t *err);
	int (*image_build)(struct kc_engine *e, const void *tar, size_t len, const char *tag,
			   kc_progress_cb cb, void *opaque, char **id_out, kc_err_t *err);

	int (*container_create)(struct kc_engine *e, const struct kc_container_spec *spec,
				char **id_out, kc_err_t *err);
	int (*container_start)(struct kc_engine *e, const char *id, kc_err_t *err);
	int (*container_stop)(struct kc_engine *e, const char *id, int timeout_s, kc_err_t *err);
	int (*container_kill)(struct kc_engine *e, const char *id, const char *signal,
			      kc_err_t *err);
	int (*container_remove)(struct kc_engine *e, const char *id, bool force, bool volumes,
				kc_err_t *err);
	int (*container_inspect)(struct kc_engine *e, const char *id, struct kc_container_info *out,
				 kc_err_t *err);
	int (*container_list)(struct kc_engine *e, bool all, const struct kc_label *labels,
			      size_t n_labels, struct kc_container_info **out, size_t *n,
			      kc_err_t *err);
	int (*container_wait)(struct kc_engine *e, const char *id, long timeout_ms, int *exit_code,
			      kc_err_t *err);
	int (*exec)(struct kc_engine *e, const char *id, const struct kc_exec_spec *spec,
		    struct kc_exec_result *out, kc_err_t *err);
	int (*archive_get)(struct kc_engine *e, const char *id, const char *path, size_t max,
			   void **tar_out, size_t *len_out, kc_err_t *err);
	int (*archive_put)(struct kc_engine *e, const char *id, const char *dir, const void *tar,
			   size_t len, kc_err_t *err);
	int (*container_changes)(struct kc_engine *e, const char *id, struct kc_change **out,
				 size_t *n, kc_err_t *err);
	int (*container_stats)(struct kc_engine *e, const char *id, struct kc_stats *out,
			       kc_err_t *err);
	int (*container_export)(struct kc_engine *e, const char *id, size_t max, kc_http_sink sink,
				void *opaque, kc_err_t *err);
	int (*container_logs)(struct kc_engine *e, const char *id, int tail, size_t max,
			      struct kc_exec_result *out, kc_err_t *err);
	int (*volume_remove)(struct kc_engine *e, const char *name, bool force, kc_err_t *err);
	int (*disk_usage)(struct kc_engine *e, const struct kc_label *labels, size_t n_labels,
			  struct kc_disk_usage *out, kc_err_t *err);
};

struct kc_engine {
	const struct kc_engine_ops *ops;
};

#endif
