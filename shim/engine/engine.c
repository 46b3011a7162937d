/* Dispatch of the kc_engine_* calls to a backend's ops, and the release
 * functions of the neutral result types. */
#include "engine_backend.h"

#include <stdlib.h>
#include <string.h>

#include "shim/base/cleanup.h"

const char *kc_labels_get(const struct kc_labels *l, const char *key)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (!strcmp(l->keys[i], key))
			return l->values[i];
	return NULL;
}

void kc_labels_free(struct kc_labels *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->keys[i]);
		free(l->values[i]);
	}
	free(l->keys);
	free(l->values);
	memset(l, 0, sizeof *l);
}

void kc_engine_version_free(struct kc_engine_version *v)
{
	if (!v)
		return;
	free(v->backend);
	free(v->api_version);
	free(v->server_api_version);
	free(v->min_api_version);
	free(v->engine_version);
	free(v->os);
	free(v->arch);
	free(v->kernel);
	memset(v, 0, sizeof *v);
}

const char *kc_state_name(enum kc_state s)
{
	static const char *const names[] = {"unknown",	  "created",  "running", "paused",
					    "restarting", "removing", "exited",	 "dead"};
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown";
}

const char *kc_health_name(enum kc_health h)
{
	static const char *const names[] = {"none", "starting", "healthy", "unhealthy"};
	return (unsigned)h < sizeof names / sizeof *names ? names[h] : "none";
}

const char *kc_change_kind_name(enum kc_change_kind k)
{
	switch (k) {
	case KC_CHANGE_CHANGED:
		return "C";
	case KC_CHANGE_ADDED:
		return "A";
	case KC_CHANGE_DELETED:
		return "D";
	}
	return "?";
}

void kc_container_info_free(struct kc_container_info *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->name);
	free(c->image);
	free(c->image_id);
	kc_labels_free(&c->labels);
	free(c->status);
	kc_strv_free(c->env);
	kc_strv_free(c->cmd);
	kc_strv_free(c->entrypoint);
	free(c->network_mode);
	memset(c, 0, sizeof *c);
}

void kc_container_list_free(struct kc_container_info *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		kc_container_info_free(&list[i]);
	free(list);
}

void kc_exec_result_free(struct kc_exec_result *r)
{
	if (!r)
		return;
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof *r);
}

void kc_changes_free(struct kc_change *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		free(c[i].path);
	free(c);
}

void kc_engine_image_free(struct kc_engine_image *i)
{
	if (!i)
		return;
	free(i->id);
	kc_strv_free(i->repo_tags);
	kc_strv_free(i->repo_digests);
	kc_strv_free(i->layers);
	kc_labels_free(&i->labels);
	kc_strv_free(i->env);
	kc_strv_free(i->cmd);
	kc_strv_free(i->entrypoint);
	free(i->user);
	free(i->workdir);
	memset(i, 0, sizeof *i);
}

void kc_engine_image_list_free(struct kc_engine_image *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		kc_engine_image_free(&list[i]);
	free(list);
}

void kc_engine_free(struct kc_engine *e)
{
	if (e && e->ops->free)
		e->ops->free(e);
}

const char *kc_engine_backend(const struct kc_engine *e)
{
	return e->ops->name;
}

/* Calls op when the backend has it, else fails naming the operation. */
#define DISPATCH(e, op, err, ...)                                                                  \
	((e)->ops->op ? (e)->ops->op((e), __VA_ARGS__, (err))                                      \
		      : kc_err_new((err), KC_E_UNSUPPORTED, "%s engine: %s is not supported",      \
				   (e)->ops->name, #op))

int kc_engine_http_stats(struct kc_engine *e, struct kc_http_stats *out, kc_err_t *err)
{
	return DISPATCH(e, http_stats, err, out);
}

int kc_engine_ping(struct kc_engine *e, kc_err_t *err)
{
	return e->ops->ping ? e->ops->ping(e, err)
			    : kc_err_new(err, KC_E_UNSUPPORTED, "%s engine: ping is not supported",
					 e->ops->name);
}

int kc_engine_version(struct kc_engine *e, struct kc_engine_version *out, kc_err_t *err)
{
	return DISPATCH(e, version, err, out);
}

int kc_engine_image_inspect(struct kc_engine *e, const char *ref, struct kc_engine_image *out,
			    kc_err_t *err)
{
	return DISPATCH(e, image_inspect, err, ref, out);
}

int kc_engine_image_list(struct kc_engine *e, const char *reference, const struct kc_label *labels,
			 size_t n_labels, struct kc_engine_image **out, size_t *n, kc_err_t *err)
{
	return DISPATCH(e, image_list, err, reference, labels, n_labels, out, n);
}

int kc_engine_image_pull(struct kc_engine *e, const char *ref, kc_progress_cb cb, void *opaque,
			 kc_err_t *err)
{
	return DISPATCH(e, image_pull, err, ref, cb, opaque);
}

int kc_engine_image_push(struct kc_engine *e, const char *ref, kc_progress_cb cb, void *opaque,
			 char **digest_out, kc_err_t *err)
{
	return DISPATCH(e, image_push, err, ref, cb, opaque, digest_out);
}

int kc_engine_image_tag(struct kc_engine *e, const char *src, const char *repo, const char *tag,
			kc_err_t *err)
{
	return DISPATCH(e, image_tag, err, src, repo, tag);
}

int kc_engine_image_remove(struct kc_engine *e, const char *ref, bool force, kc_err_t *err)
{
	return DISPATCH(e, image_remove, err, ref, force);
}

int kc_engine_image_build(struct kc_engine *e, const void *context_tar, size_t len, const char *tag,
			  kc_progress_cb cb, void *opaque, char **id_out, kc_err_t *err)
{
	return DISPATCH(e, image_build, err, context_tar, len, tag, cb, opaque, id_out);
}

int kc_engine_container_create(struct kc_engine *e, const struct kc_container_spec *spec,
			       char **id_out, kc_err_t *err)
{
	return DISPATCH(e, container_create, err, spec, id_out);
}

int kc_engine_container_start(struct kc_engine *e, const char *id, kc_err_t *err)
{
	return DISPATCH(e, container_start, err, id);
}

int kc_engine_container_stop(struct kc_engine *e, const char *id, int timeout_s, kc_err_t *err)
{
	return DISPATCH(e, container_stop, err, id, timeout_s);
}

int kc_engine_container_kill(struct kc_engine *e, const char *id, const char *signal, kc_err_t *err)
{
	return DISPATCH(e, container_kill, err, id, signal);
}

int kc_engine_container_remove(struct kc_engine *e, const char *id, bool force, bool volumes,
			       kc_err_t *err)
{
	return DISPATCH(e, container_remove, err, id, force, volumes);
}

int kc_engine_container_inspect(struct kc_engine *e, const char *id, struct kc_container_info *out,
				kc_err_t *err)
{
	return DISPATCH(e, container_inspect, err, id, out);
}

int kc_engine_container_list(struct kc_engine *e, bool all, const struct kc_label *labels,
			     size_t n_labels, struct kc_container_info **out, size_t *n,
			     kc_err_t *err)
{
	return DISPATCH(e, container_list, err, all, labels, n_labels, out, n);
}

int kc_engine_container_wait(struct kc_engine *e, const char *id, long timeout_ms, int *exit_code,
			     kc_err_t *err)
{
	return DISPATCH(e, container_wait, err, id, timeout_ms, exit_code);
}

int kc_engine_exec(struct kc_engine *e, const char *id, const struct kc_exec_spec *spec,
		   struct kc_exec_result *out, kc_err_t *err)
{
	return DISPATCH(e, exec, err, id, spec, out);
}

int kc_engine_archive_get(struct kc_engine *e, const char *id, const char *path, size_t max,
			  void **tar_out, size_t *len_out, kc_err_t *err)
{
	return DISPATCH(e, archive_get, err, id, path, max, tar_out, len_out);
}

int kc_engine_archive_put(struct kc_engine *e, const char *id, const char *dir, const void *tar,
			  size_t len, kc_err_t *err)
{
	return DISPATCH(e, archive_put, err, id, dir, tar, len);
}

int kc_engine_container_changes(struct kc_engine *e, const char *id, struct kc_change **out,
				size_t *n, kc_err_t *err)
{
	return DISPATCH(e, container_changes, err, id, out, n);
}

int kc_engine_container_stats(struct kc_engine *e, const char *id, struct kc_stats *out,
			      kc_err_t *err)
{
	return DISPATCH(e, container_stats, err, id, out);
}

int kc_engine_container_export(struct kc_engine *e, const char *id, size_t max, kc_http_sink sink,
			       void *opaque, kc_err_t *err)
{
	return DISPATCH(e, container_export, err, id, max, sink, opaque);
}

int kc_engine_container_logs(struct kc_engine *e, const char *id, int tail, size_t max,
			     struct kc_exec_result *out, kc_err_t *err)
{
	return DISPATCH(e, container_logs, err, id, tail, max, out);
}

int kc_engine_volume_remove(struct kc_engine *e, const char *name, bool force, kc_err_t *err)
{
	return DISPATCH(e, volume_remove, err, name, force);
}

int kc_engine_disk_usage(struct kc_engine *e, const struct kc_label *labels, size_t n_labels,
			 struct kc_disk_usage *out, kc_err_t *err)
{
	memset(out, 0, sizeof *out);
	return DISPATCH(e, disk_usage, err, labels, n_labels, out);
}

void kc_disk_usage_free(struct kc_disk_usage *d)
{
	for (size_t i = 0; i < d->n_containers; i++) {
		free(d->container_ids[i]);
		free(d->container_names[i]);
	}
	free(d->container_ids);
	free(d->container_names);
	free(d->container_rw_bytes);
	memset(d, 0, sizeof *d);
}
