/* A Deployment's pods; exec on each with bounded concurrency; tar; annotations
 * (kube_pods.h). */
#include "kube_pods.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/engine/websocket.h"

void kc_kube_pods_free(struct kc_kube_pod *pods, size_t n)
{
	for (size_t i = 0; pods && i < n; i++) {
		free(pods[i].name);
		free(pods[i].phase);
		free(pods[i].container);
		free(pods[i].image);
		free(pods[i].rs_hash);
		free(pods[i].image_id);
		kc_strv_free(pods[i].command);
		kc_strv_free(pods[i].args);
		kc_strv_free(pods[i].annotations);
	}
	free(pods);
}

const char *kc_kube_pod_annotation(const struct kc_kube_pod *pod, const char *key)
{
	for (char **a = pod->annotations; a && a[0] && a[1]; a += 2)
		if (!strcmp(a[0], key))
			return a[1];
	return NULL;
}

static const char *jstr(yajl_val v, const char *path)
{
	yajl_val x = kc_json_find(v, path);
	return YAJL_IS_STRING(x) ? x->u.string : NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char **strv_or_null(yajl_val v, bool *oom)
{
	if (!YAJL_IS_ARRAY(v))
		return NULL;
	char **out = calloc(v->u.array.len + 1, sizeof *out);
	for (size_t i = 0; out && i < v->u.array.len; i++) {
		yajl_val x = v->u.array.values[i];
		if (!(out[i] = strdup(YAJL_IS_STRING(x) ? x->u.string : ""))) {
			kc_strv_free(out);
			out = NULL;
		}
	}
	*oom = *oom || !out;
	return out;
}

/* The first container's command/args, the pod's annotations, and the imageID of its
 * status (matched by name: statuses are not in spec order). */
static int pod_container_extra(yajl_val it, struct kc_kube_pod *q)
{
	bool oom = false;
	q->command = strv_or_null(kc_json_find(it, "/spec/containers/0/command"), &oom);
	q->args = strv_or_null(kc_json_find(it, "/spec/containers/0/args"), &oom);
	yajl_val an = kc_json_find(it, "/metadata/annotations");
	if (YAJL_IS_OBJECT(an) && an->u.object.len) {
		q->annotations = calloc(2 * an->u.object.len + 1, sizeof *q->annotations);
		for (size_t j = 0, m = 0; q->annotations && j < an->u.object.len; j++) {
			yajl_val v = an->u.object.values[j];
			if (!YAJL_IS_STRING(v))
				continue;
			if (!(q->annotations[m] = strdup(an->u.object.keys[j])) ||
			    !(q->annotations[m + 1] = strdup(v->u.string))) {
				kc_strv_free(q->annotations);
				q->annotations = NULL;
				break;
			}
			m += 2;
		}
		oom = oom || !q->annotations;
	}
	yajl_val cs = kc_json_find(it, "/status/containerStatuses");
	for (size_t j = 0; YAJL_IS_ARRAY(cs) && j < cs->u.array.len; j++) {
		const char *nm = jstr(cs->u.array.values[j], "/name");
		const char *id = jstr(cs->u.array.values[j], "/imageID");
		if (nm && q->container && !strcmp(nm, q->container) && id && id[0]) {
			oom = oom || !(q->image_id = strdup(id));
			break;
		}
	}
	return oom ? -1 : 0;
}

static int cmp_pod(const void *a, const void *b)
{
	return strcmp(((const struct kc_kube_pod *)a)->name, ((const struct kc_kube_pod *)b)->name);
}

int kc_kube_deployment_pods(struct kc_kube *k, const char *deployment, struct kc_kube_pod **pods,
			    size_t *n, kc_err_t *err)
{
	*pods = NULL;
	*n = 0;
	const char *ns = kc_kube_namespace(k);
	cleanup_free char *nse = kc_http_escape(ns), *de = kc_http_escape(deployment);
	cleanup_free char *path = NULL, *sel = NULL, *sele = NULL, *ppath = NULL;
	if (!nse || !de ||
	    asprintf(&path, "/apis/apps/v1/namespaces/%s/deployments/%s", nse, de) < 0)
		return kc_err_sys(err, ENOMEM, "pods");
	cleanup_json yajl_val d = NULL, list = NULL;
	if (kc_kube_request(k, "GET", path, NULL, NULL, &d, err) < 0)
		return -1;
	yajl_val ml = kc_json_find(d, "/spec/selector/matchLabels");
	if (!YAJL_IS_OBJECT(ml) || ml->u.object.len == 0)
		return kc_err_new(err, KC_E_UNSUPPORTED,
				  "deployment %s: only spec.selector.matchLabels selectors are "
				  "supported",
				  deployment);
	if (kc_kube_match_labels_selector(d, &sel, err) < 0)
		return -1;
	sele = kc_http_escape(sel);
	if (!sele || asprintf(&ppath, "/api/v1/namespaces/%s/pods?labelSelector=%s", nse, sele) < 0)
		return kc_err_sys(err, ENOMEM, "pods");
	if (kc_kube_request(k, "GET", ppath, NULL, NULL, &list, err) < 0)
		return kc_err_wrap(err, "pods of deployment %s", deployment);
	yajl_val items = kc_json_find(list, "/items");
	size_t cnt = YAJL_IS_ARRAY(items) ? items->u.array.len : 0;
	struct kc_kube_pod *p = calloc(cnt + 1, sizeof *p);
	if (!p)
		return kc_err_sys(err, ENOMEM, "pods");
	size_t m = 0;
	for (size_t i = 0; i < cnt; i++) {
		yajl_val it = items->u.array.values[i];
		if (kc_json_find(it, "/metadata/deletionTimestamp"))
			continue; /* terminating: not part of the app any more */
		struct kc_kube_pod *q = &p[m++];
		q->name = dup_or_null(jstr(it, "/metadata/name"));
		q->phase = dup_or_null(jstr(it, "/status/phase"));
		q->container = dup_or_null(jstr(it, "/spec/containers/0/name"));
		q->image = dup_or_null(jstr(it, "/spec/containers/0/image"));
		q->rs_hash = dup_or_null(jstr(it, "/metadata/labels/pod-template-hash"));
		if (pod_container_extra(it, q) < 0) {
			kc_kube_pods_free(p, m);
			return kc_err_sys(err, ENOMEM, "pods");
		}
		yajl_val conds = kc_json_find(it, "/status/conditions");
		for (size_t j = 0; YAJL_IS_ARRAY(conds) && j < conds->u.array.len; j++) {
			const char *t = jstr(conds->u.array.values[j], "/type");
			const char *s = jstr(conds->u.array.values[j], "/status");
			if (t && s && !strcmp(t, "Ready"))
				q->ready = !strcmp(s, "True");
		}
		if (!q->name) {
			kc_kube_pods_free(p, m);
			return kc_err_new(err, KC_E_PROTO, "a pod without a name");
		}
	}
	qsort(p, m, sizeof *p, cmp_pod);
	*pods = p;
	*n = m;
	return 0;
}

void kc_kube_exec_each_free(struct kc_kube_exec_each *each, size_t n)
{
	for (size_t i = 0; each && i < n; i++) {
		free(each[i].out);
		free(each[i].err_out);
		kc_err_free(&each[i].error);
		each[i].out = each[i].err_out = NULL;
	}
}

int kc_kube_exec_each(struct kc_kube *k, struct kc_kube_exec_each *each, size_t n,
		      const char *const *argv, const void *stdin_data, size_t stdin_len,
		      size_t parallel, size_t max_output, kc_err_t *err)
{
	if (!argv || !argv[0])
		return kc_err_new(err, KC_E_USAGE, "exec: no command");
	if (parallel == 0)
		parallel = KC_KUBE_DEFAULT_PARALLEL;
	if (parallel > KC_KUBE_MAX_PARALLEL)
		parallel = KC_KUBE_MAX_PARALLEL;
	if (parallel > n)
		parallel = n;
	/* Credentials are taken once, here: one token serves the whole batch. */
	cleanup_free char *auth = NULL;
	struct kc_http_config hc;
	if (kc_kube_auth_header(k, &auth, err) < 0 ||
	    kc_kubeconfig_http(kc_kube_config(k), &hc, err) < 0)
		return -1;
	if (n == 0)
		return 0;
	const char *headers[2] = {auth, NULL};
	const char *ns = kc_kube_namespace(k);
	/* All execs run in this thread over one curl multi handle (websocket.h), at
	 * most `parallel` connections open at once. */
	cleanup_free struct kc_k8s_exec_opts *o = calloc(n, sizeof *o);
	cleanup_free struct kc_k8s_exec_result *r = calloc(n, sizeof *r);
	cleanup_free kc_err_t *errs = calloc(n, sizeof *errs);
	cleanup_free char **paths = calloc(n, sizeof *paths);
	int rc = 0;
	if (!o || !r || !errs || !paths)
		return kc_err_sys(err, ENOMEM, "exec");
	for (size_t i = 0; i < n && rc == 0; i++) {
		paths[i] =
		    kc_k8s_exec_path(ns, each[i].pod, each[i].container, argv, stdin_data != NULL);
		if (!paths[i])
			rc = kc_err_sys(err, ENOMEM, "exec");
		o[i] = (struct kc_k8s_exec_opts){.http = &hc,
						 .headers = headers,
						 .path = paths[i],
						 .stdin_data = stdin_data,
						 .stdin_len = stdin_len,
						 .max_output = max_output};
	}
	if (rc == 0)
		rc = kc_k8s_exec_many(o, n, parallel, r, errs, err);
	int ok = 0;
	for (size_t i = 0; i < n; i++) {
		free(paths[i]);
		if (rc < 0)
			continue;
		struct kc_kube_exec_each *e = &each[i];
		if (errs[i]) {
			e->error = errs[i];
			kc_err_wrap(&e->error, "exec in pod %s", e->pod);
			continue;
		}
		e->ran = true;
		e->exit_code = r[i].exit_code;
		e->out = kc_steal(r[i].out);
		e->err_out = kc_steal(r[i].err);
		kc_k8s_exec_result_free(&r[i]);
		ok += e->exit_code == 0;
	}
	return rc < 0 ? -1 : ok;
}

int kc_kube_tar_one(const char *path, const void *data, size_t len, mode_t mode, void **tar,
		    size_t *tar_len, kc_err_t *err)
{
	*tar = NULL;
	*tar_len = 0;
	while (*path == '/')
		path++;
	if (!*path || strstr(path, "..") == path || strstr(path, "/../") ||
	    (strlen(path) >= 3 && !strcmp(path + strlen(path) - 3, "/..")))
		return kc_err_new(err, KC_E_INVALID, "tar: bad path \"%s\"", path);
	/* Header + content + padding + two zero blocks, with room for pax headers. */
	size_t cap = len + 64 * 1024, used = 0;
	cleanup_free void *buf = malloc(cap);
	if (!buf)
		return kc_err_sys(err, ENOMEM, "tar");
	struct archive *a = archive_write_new();
	if (!a)
		return kc_err_sys(err, ENOMEM, "tar");
	struct archive_entry *e = archive_entry_new();
	int rc = 0;
	if (!e || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK) {
		rc = kc_err_new(err, KC_E_GENERIC, "tar: %s", archive_error_string(a));
		goto out;
	}
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode & 07777);
	archive_entry_set_size(e, (la_int64_t)len);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (len && archive_write_data(a, data, len) != (la_ssize_t)len) ||
	    archive_write_close(a) != ARCHIVE_OK) {
		rc = kc_err_new(err, KC_E_GENERIC, "tar: %s", archive_error_string(a));
		goto out;
	}
	*tar = kc_steal(buf);
	*tar_len = used;
out:
	if (e)
		archive_entry_free(e);
	archive_write_free(a);
	return rc;
}

int kc_kube_annotate_pod(struct kc_kube *k, const char *pod, const char *key, const char *value,
			 kc_err_t *err)
{
	cleanup_free char *nse = kc_http_escape(kc_kube_namespace(k)), *pe = kc_http_escape(pod);
	cleanup_free char *path = NULL;
	if (!nse || !pe || asprintf(&path, "/api/v1/namespaces/%s/pods/%s", nse, pe) < 0)
		return kc_err_sys(err, ENOMEM, "annotate");
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	yajl_gen_map_open(g);
	kc_jgen_key(g, "metadata");
	yajl_gen_map_open(g);
	kc_jgen_key(g, "annotations");
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, key, value);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	cleanup_free char *body = kc_jgen_finish(g, NULL);
	if (!body)
		return kc_err_sys(err, ENOMEM, "annotate");
	if (kc_kube_request(k, "PATCH", path, "application/merge-patch+json", body, NULL, err) < 0)
		return kc_err_wrap(err, "annotating pod %s", pod);
	return 0;
}
