/* Deployment rollouts, status, history and undo on Kubernetes (kube_rollout.h). */
#include "kube_rollout.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"
#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/yaml.h"

#define ANN_REVISION "deployment.kubernetes.io/revision"
#define ANN_CHANGE_CAUSE "kubernetes.io/change-cause"

void kc_kube_rollout_result_free(struct kc_kube_rollout_result *r)
{
	free(r->name);
	free(r->namespace);
	free(r->image);
	free(r->digest);
	free(r->reason);
	for (size_t i = 0; i < r->nimages; i++) {
		free(r->images[i].container);
		free(r->images[i].from);
		free(r->images[i].to);
	}
	free(r->images);
	memset(r, 0, sizeof *r);
}

void kc_kube_revisions_free(struct kc_kube_revision *revs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(revs[i].rs_name);
		free(revs[i].images);
		free(revs[i].change_cause);
	}
	free(revs);
}

static void event(const struct kc_kube_rollout_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void event(const struct kc_kube_rollout_opts *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kc_log_progressv(o->log, o->on_event, o->opaque, fmt, ap);
	va_end(ap);
}

static char *deploy_path(const char *ns, const char *name)
{
	cleanup_free char *n = kc_http_escape(ns), *d = name ? kc_http_escape(name) : NULL;
	char *p = NULL;
	if (!n || (name && !d))
		return NULL;
	if (asprintf(&p, "/apis/apps/v1/namespaces/%s/deployments%s%s", n, d ? "/" : "",
		     d ? d : "") < 0)
		return NULL;
	return p;
}

static int64_t opt_int(yajl_val v, const char *path, int64_t dflt)
{
	yajl_val x = kc_json_find(v, path);
	return YAJL_IS_INTEGER(x) ? YAJL_GET_INTEGER(x) : dflt;
}

static const char *opt_str(yajl_val v, const char *path)
{
	yajl_val x = kc_json_find(v, path);
	return YAJL_IS_STRING(x) ? x->u.string : NULL;
}

static int64_t revision_of(yajl_val obj)
{
	yajl_val ann = kc_json_find(obj, "/metadata/annotations");
	yajl_val r = kc_json_member(ann, ANN_REVISION);
	if (!YAJL_IS_STRING(r))
		return 0;
	char *end;
	long long v = strtoll(r->u.string, &end, 10);
	return *end || v < 0 ? 0 : v;
}

int kc_kube_deployment_status(yajl_val d, char *msg, size_t cap, kc_err_t *err)
{
	const char *name = opt_str(d, "/metadata/name");
	int64_t gen = opt_int(d, "/metadata/generation", 0);
	int64_t obs = opt_int(d, "/status/observedGeneration", 0);
	if (gen > obs) {
		snprintf(msg, cap, "Waiting for deployment spec update to be observed...");
		return 0;
	}
	yajl_val conds = kc_json_find(d, "/status/conditions");
	for (size_t i = 0; YAJL_IS_ARRAY(conds) && i < conds->u.array.len; i++) {
		yajl_val c = conds->u.array.values[i];
		const char *t = opt_str(c, "/type"), *r = opt_str(c, "/reason");
		if (t && r && !strcmp(t, "Progressing") && !strcmp(r, "ProgressDeadlineExceeded"))
			return kc_err_new(err, KC_E_TIMEOUT,
					  "deployment \"%s\" exceeded its progress deadline",
					  name ? name : "-");
	}
	int64_t want = opt_int(d, "/spec/replicas", 1);
	int64_t updated = opt_int(d, "/status/updatedReplicas", 0);
	int64_t total = opt_int(d, "/status/replicas", 0);
	int64_t avail = opt_int(d, "/status/availableReplicas", 0);
	if (updated < want) {
		snprintf(msg, cap,
			 "Waiting for deployment \"%s\" rollout to finish: %" PRId64
			 " out of %" PRId64 " new replicas have been updated...",
			 name, updated, want);
		return 0;
	}
	if (total > updated) {
		snprintf(msg, cap,
			 "Waiting for deployment \"%s\" rollout to finish: %" PRId64
			 " old replicas are pending termination...",
			 name, total - updated);
		return 0;
	}
	if (avail < updated) {
		snprintf(msg, cap,
			 "Waiting for deployment \"%s\" rollout to finish: %" PRId64 " of %" PRId64
			 " updated replicas are available...",
			 name, avail, updated);
		return 0;
	}
	snprintf(msg, cap, "deployment \"%s\" successfully rolled out", name);
	return 1;
}

struct wait_state {
	const struct kc_kube_rollout_opts *o;
	char last[512];
};

static int wait_cb(void *opaque, const char *type, yajl_val obj, kc_err_t *err)
{
	struct wait_state *w = opaque;
	if (!strcmp(type, "DELETED"))
		return kc_err_new(err, KC_E_NOTFOUND, "the deployment was deleted");
	char msg[512];
	int r = kc_kube_deployment_status(obj, msg, sizeof msg, err);
	if (r < 0)
		return -1;
	if (strcmp(msg, w->last)) {
		snprintf(w->last, sizeof w->last, "%s", msg);
		event(w->o, "%s", msg);
	}
	return r;
}

int kc_kube_rollout_wait(struct kc_kube *k, const char *ns, const char *name, int64_t timeout_ms,
			 const struct kc_kube_rollout_opts *o, kc_err_t *err)
{
	cleanup_free char *path = deploy_path(ns, name);
	cleanup_free char *coll = deploy_path(ns, NULL);
	cleanup_free char *fs = kc_http_escape(name);
	cleanup_free char *wpath = NULL;
	if (!path || !coll || !fs ||
	    asprintf(&wpath, "%s?fieldSelector=metadata.name%%3D%s", coll, fs) < 0)
		return kc_err_sys(err, ENOMEM, "watch");
	/* GET first: it may be complete already, and it gives the resourceVersion to
	 * watch from, so no event is missed between the two. */
	cleanup_json yajl_val d = NULL;
	if (kc_kube_request(k, "GET", path, NULL, NULL, &d, err) < 0)
		return -1;
	if (timeout_ms <= 0)
		timeout_ms = (opt_int(d, "/spec/progressDeadlineSeconds", 600) + 30) * 1000;
	struct wait_state w = {.o = o};
	int r = wait_cb(&w, "ADDED", d, err);
	if (r != 0)
		return r < 0 ? -1 : 0;
	r = kc_kube_watch(k, wpath, opt_str(d, "/metadata/resourceVersion"), (long)timeout_ms,
			  wait_cb, &w, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return kc_err_new(err, KC_E_TIMEOUT,
				  "rollout of deployment \"%s\" not complete "
				  "after %" PRId64 "s: %s",
				  name, timeout_ms / 1000, w.last);
	return 0;
}

/* Copies v into g, replacing or adding members named by the overrides, without the
 * member at JSON Pointer drop (NULL: none). */
struct override {
	const char *parent; /* JSON Pointer of the object */
	const char *key;
	yajl_val value;
	bool done;
};

static void gen_over(yajl_gen g, yajl_val v, const char *ptr, struct override *ov, size_t nov,
		     const char *drop)
{
	if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			const char *key = v->u.object.keys[i];
			cleanup_free char *child = kc_json_path_join(ptr, key);
			if (drop && child && !strcmp(child, drop))
				continue;
			bool replaced = false;
			for (size_t j = 0; j < nov; j++) {
				if (!strcmp(ov[j].parent, ptr) && !strcmp(ov[j].key, key)) {
					kc_jgen_key(g, key);
					kc_jgen_value(g, ov[j].value);
					ov[j].done = replaced = true;
				}
			}
			if (replaced)
				continue;
			kc_jgen_key(g, key);
			gen_over(g, v->u.object.values[i], child ? child : "", ov, nov, drop);
		}
		for (size_t j = 0; j < nov; j++) {
			if (!ov[j].done && !strcmp(ov[j].parent, ptr)) {
				kc_jgen_key(g, ov[j].key);
				kc_jgen_value(g, ov[j].value);
				ov[j].done = true;
			}
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++) {
			char idx[32];
			snprintf(idx, sizeof idx, "%zu", i);
			cleanup_free char *child = kc_json_path_join(ptr, idx);
			gen_over(g, v->u.array.values[i], child ? child : "", ov, nov, drop);
		}
		yajl_gen_array_close(g);
	} else {
		kc_jgen_value(g, v);
	}
}

/* A yajl string node for override values (freed with yajl_tree_free). */
static yajl_val str_node(const char *s)
{
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	kc_jgen_str(g, s);
	cleanup_free char *js = kc_jgen_finish(g, NULL);
	yajl_val v = NULL;
	kc_err_t e = NULL;
	if (!js || kc_json_parse(js, strlen(js), &v, &e) < 0)
		v = NULL;
	kc_err_free(&e);
	return v;
}

/* Tag -> repo@sha256 through the registry; an unreachable registry keeps the tag. */
static int resolve_image(const char *ref, const struct kc_kube_rollout_opts *o, char **pinned,
			 char **digest, kc_err_t *err)
{
	*pinned = *digest = NULL;
	if (o->no_resolve || strchr(ref, '@')) {
		*pinned = strdup(ref);
		const char *at = strchr(ref, '@');
		*digest = at ? strdup(at + 1) : NULL;
		return 0;
	}
	struct kc_registry_opts ro = {.log = o->log, .timeout_ms = 30000};
	struct kc_image_info info;
	memset(&info, 0, sizeof info);
	kc_err_t e = NULL;
	if (kc_image_resolve(ref, &ro, &info, NULL, &e) < 0) {
		if (kc_err_kind(e) == KC_E_UNAVAIL) {
			cleanup_free char *m = kc_err_string(e);
			kc_err_free(&e);
			event(o, "registry not reachable (%s): deploying %s by tag", m, ref);
			*pinned = strdup(ref);
			return *pinned ? 0 : kc_err_sys(err, ENOMEM, "image");
		}
		*err = e;
		return kc_err_wrap(err, "resolving %s", ref);
	}
	char buf[KC_REF_STRING_MAX];
	kc_ref_pinned(&info.ref, info.digest, buf, sizeof buf);
	*pinned = strdup(buf);
	*digest = strdup(info.digest);
	kc_image_info_free(&info);
	return *pinned && *digest ? 0 : kc_err_sys(err, ENOMEM, "image");
}

static const char *pick_container(yajl_val d, const char *want, kc_err_t *err)
{
	yajl_val cs = kc_json_find(d, "/spec/template/spec/containers");
	if (!YAJL_IS_ARRAY(cs) || cs->u.array.len == 0) {
		kc_err_new(err, KC_E_INVALID, "the deployment has no containers");
		return NULL;
	}
	for (size_t i = 0; i < cs->u.array.len; i++) {
		const char *n = opt_str(cs->u.array.values[i], "/name");
		if (n && (!want || !strcmp(n, want)))
			return n;
	}
	kc_err_new(err, KC_E_NOTFOUND, "no container named \"%s\" in the deployment", want);
	return NULL;
}

static const char *container_image(yajl_val d, const char *cname)
{
	yajl_val cs = kc_json_find(d, "/spec/template/spec/containers");
	for (size_t i = 0; YAJL_IS_ARRAY(cs) && i < cs->u.array.len; i++) {
		const char *n = opt_str(cs->u.array.values[i], "/name");
		if (n && !strcmp(n, cname))
			return opt_str(cs->u.array.values[i], "/image");
	}
	return NULL;
}

/* A finished generator's document as a tree (and, when json is not NULL, its text). */
static int gen_tree(yajl_gen g, yajl_val *out, char **json, kc_err_t *err)
{
	cleanup_free char *js = kc_jgen_finish(g, NULL);
	if (!js)
		return kc_err_sys(err, ENOMEM, "apply");
	if (kc_json_parse(js, strlen(js), out, err) < 0)
		return -1;
	if (json)
		*json = kc_steal(js);
	return 0;
}

/* The object -f applies ("modified" in kubectl's words): the manifest with the chosen
 * container's image pinned, the change-cause, and the last-applied-configuration
 * annotation. That annotation holds the manifest as applied (image pinned, without
 * the change-cause, which describes the rollout, not the configuration), as compact
 * JSON ending in a newline like kubectl writes it, so `kubectl apply` and `kubectl
 * apply view-last-applied` read it, and the next apply knows what to delete. */
static int build_modified(yajl_val m, const char *ns, const char *cname, const char *image,
			  const char *cause, yajl_val *modified, kc_err_t *err)
{
	struct override ov[2];
	size_t nov = 0;
	char img_parent[64];
	/* The namespace is part of the applied configuration, as kubectl sets it: a
	 * last-applied-configuration written by kubectl names it, and one without it
	 * would read as "namespace removed" to the next apply. */
	cleanup_json yajl_val nsv = str_node(ns), img = NULL;
	if (!nsv)
		return kc_err_sys(err, ENOMEM, "apply");
	ov[nov++] = (struct override){"/metadata", "namespace", nsv, false};
	if (image) {
		yajl_val cs = kc_json_find(m, "/spec/template/spec/containers");
		for (size_t i = 0; YAJL_IS_ARRAY(cs) && i < cs->u.array.len && nov < 2; i++) {
			const char *n = opt_str(cs->u.array.values[i], "/name");
			if (n && !strcmp(n, cname)) {
				snprintf(img_parent, sizeof img_parent,
					 "/spec/template/spec/containers/%zu", i);
				if (!(img = str_node(image)))
					return kc_err_sys(err, ENOMEM, "apply");
				ov[nov++] = (struct override){img_parent, "image", img, false};
			}
		}
		if (nov < 2)
			return kc_err_new(err, KC_E_NOTFOUND, "no container named \"%s\" in %s",
					  cname, "the manifest");
	}
	cleanup_free char *drop = kc_json_path_join("/metadata/annotations", KC_KUBE_LAST_APPLIED);
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	if (!drop || !g)
		return kc_err_sys(err, ENOMEM, "apply");
	gen_over(g, m, "", ov, nov, drop);
	cleanup_free char *applied_js = NULL, *annv = NULL;
	cleanup_json yajl_val applied = NULL;
	if (gen_tree(g, &applied, &applied_js, err) < 0)
		return -1;
	if (asprintf(&annv, "%s\n", applied_js) < 0) {
		annv = NULL;
		return kc_err_sys(err, ENOMEM, "apply");
	}
	cleanup_jgen yajl_gen ag = kc_jgen_new(false);
	if (!ag)
		return kc_err_sys(err, ENOMEM, "apply");
	yajl_gen_map_open(ag);
	yajl_val ann = kc_json_find(applied, "/metadata/annotations");
	for (size_t i = 0; YAJL_IS_OBJECT(ann) && i < ann->u.object.len; i++) {
		if (!strcmp(ann->u.object.keys[i], ANN_CHANGE_CAUSE))
			continue;
		kc_jgen_key(ag, ann->u.object.keys[i]);
		kc_jgen_value(ag, ann->u.object.values[i]);
	}
	kc_jgen_kv_str(ag, ANN_CHANGE_CAUSE, cause);
	kc_jgen_kv_str(ag, KC_KUBE_LAST_APPLIED, annv);
	yajl_gen_map_close(ag);
	cleanup_json yajl_val anns = NULL;
	if (gen_tree(ag, &anns, NULL, err) < 0)
		return -1;
	struct override mo[1] = {{"/metadata", "annotations", anns, false}};
	cleanup_jgen yajl_gen mg = kc_jgen_new(false);
	if (!mg)
		return kc_err_sys(err, ENOMEM, "apply");
	gen_over(mg, applied, "", mo, 1, NULL);
	return gen_tree(mg, modified, NULL, err);
}

/* The image -f names for the rollout's container (o->container or the first). */
static int manifest_image(const struct kc_kube_rollout_opts *o, char **out, kc_err_t *err)
{
	*out = NULL;
	cleanup_yaml struct kc_yaml *y = NULL;
	if (kc_yaml_load_file(o->manifest, &y, err) < 0)
		return -1;
	if (y->ndocs != 1)
		return 0; /* load_manifest says what is wrong */
	yajl_val cs = kc_json_find(y->docs[0].root, "/spec/template/spec/containers");
	for (size_t i = 0; YAJL_IS_ARRAY(cs) && i < cs->u.array.len; i++) {
		yajl_val c = cs->u.array.values[i];
		const char *cname = opt_str(c, "/name"), *image = opt_str(c, "/image");
		if (image && (!o->container || (cname && !strcmp(cname, o->container)))) {
			*out = strdup(image);
			return *out ? 0 : kc_err_sys(err, ENOMEM, "%s", o->manifest);
		}
	}
	return 0;
}

/* Reads -f, checks it is this Deployment, and builds what to apply. */
static int load_manifest(const struct kc_kube_rollout_opts *o, const char *ns, const char *name,
			 const char *image, const char *cause, yajl_val *modified, kc_err_t *err)
{
	cleanup_yaml struct kc_yaml *y = NULL;
	if (kc_yaml_load_file(o->manifest, &y, err) < 0)
		return -1;
	if (y->ndocs != 1)
		return kc_err_new(err, KC_E_INVALID, "%s: expected one Deployment document",
				  o->manifest);
	yajl_val m = y->docs[0].root;
	const char *av = opt_str(m, "/apiVersion"), *kind = opt_str(m, "/kind");
	const char *mname = opt_str(m, "/metadata/name");
	if (!av || !kind || strcmp(av, "apps/v1") || strcmp(kind, "Deployment"))
		return kc_err_new(err, KC_E_INVALID, "%s: not an apps/v1 Deployment", o->manifest);
	if (!mname || strcmp(mname, name))
		return kc_err_new(err, KC_E_INVALID, "%s: metadata.name is \"%s\", not \"%s\"",
				  o->manifest, mname ? mname : "", name);
	const char *mns = opt_str(m, "/metadata/namespace");
	if (mns && strcmp(mns, ns))
		return kc_err_new(err, KC_E_INVALID,
				  "%s: metadata.namespace is \"%s\", not the namespace \"%s\"",
				  o->manifest, mns, ns);
	const char *cname = o->container;
	if (image && !cname && !(cname = opt_str(m, "/spec/template/spec/containers/0/name")))
		return kc_err_new(err, KC_E_INVALID, "%s: no containers", o->manifest);
	if (build_modified(m, ns, cname, image, cause, modified, err) < 0)
		return kc_err_wrap(err, "%s", o->manifest);
	return 0;
}

/* One apply: create (with the annotation) when absent, else the three-way patch.
 * The patch is a JSON merge patch, not a strategic one: its list rule (a list is
 * set whole) is what apply wants for the one list a Deployment manifest names in
 * full, containers (a container, env var or port dropped from the manifest goes;
 * a strategic merge by name would need $patch: delete entries and
 * $setElementOrder to say the same), it needs no schema of merge keys on our side,
 * and every API server applies it the same way. What it costs: a list someone
 * else edited in place (say a sidecar injected into containers) is set back to the
 * manifest's, as kubectl apply does for any list it owns. No resourceVersion
 * precondition, as kubectl apply: the patch names only what the manifest decides,
 * so it applies cleanly on whatever the live object became meanwhile. */
static int apply_once(struct kc_kube *k, const char *name, const char *ns, yajl_val modified,
		      const struct kc_kube_rollout_opts *o, yajl_val *before, yajl_val *after,
		      bool *created, kc_err_t *err)
{
	bool dry_run = o->dry_run;
	cleanup_free char *path = deploy_path(ns, name), *coll = deploy_path(ns, NULL);
	cleanup_free char *dpath = NULL, *dcoll = NULL;
	const char *q = dry_run ? "?dryRun=All" : "";
	if (!path || !coll || asprintf(&dpath, "%s%s", path, q) < 0 ||
	    asprintf(&dcoll, "%s%s", coll, q) < 0)
		return kc_err_sys(err, ENOMEM, "apply");
	cleanup_json yajl_val live = NULL;
	kc_err_t e = NULL;
	if (kc_kube_request(k, "GET", path, NULL, NULL, &live, &e) < 0) {
		if (kc_err_kind(e) != KC_E_NOTFOUND) {
			*err = e;
			return -1;
		}
		kc_err_free(&e);
	}
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	if (!g)
		return kc_err_sys(err, ENOMEM, "apply");
	yajl_val out = NULL;
	if (!live) {
		kc_jgen_value(g, modified);
		cleanup_free char *body = kc_jgen_finish(g, NULL);
		if (!body)
			return kc_err_sys(err, ENOMEM, "apply");
		if (kc_kube_request(k, "POST", dcoll, NULL, body, &out, err) < 0)
			return kc_err_wrap(err, "creating deployment %s", name);
		*created = true;
	} else {
		yajl_val la = kc_json_member(kc_json_find(live, "/metadata/annotations"),
					     KC_KUBE_LAST_APPLIED);
		cleanup_json yajl_val original = NULL;
		if (YAJL_IS_STRING(la) &&
		    kc_json_parse(la->u.string, strlen(la->u.string), &original, err) < 0)
			return kc_err_wrap(err, "deployment %s: annotation %s", name,
					   KC_KUBE_LAST_APPLIED);
		if (!la)
			/* As kubectl warns: nothing is known to delete this time. */
			event(o,
			      "deployment %s has no %s annotation (not created by apply): "
			      "fields dropped from the manifest are kept this time",
			      name, KC_KUBE_LAST_APPLIED);
		kc_kube_apply_patch(g, original, modified, live);
		cleanup_free char *body = kc_jgen_finish(g, NULL);
		if (!body)
			return kc_err_sys(err, ENOMEM, "apply");
		if (kc_kube_request(k, "PATCH", dpath, "application/merge-patch+json", body, &out,
				    err) < 0)
			return kc_err_wrap(err, "applying to deployment %s", name);
		*created = false;
	}
	*before = kc_steal(live);
	*after = out;
	return 0;
}

/* A 409 on the create means the Deployment appeared between our GET and POST: apply
 * again, now as a patch. */
static int apply_manifest(struct kc_kube *k, const char *name, const char *ns, yajl_val modified,
			  const struct kc_kube_rollout_opts *o, yajl_val *before, yajl_val *after,
			  bool *created, kc_err_t *err)
{
	for (int attempt = 1;; attempt++) {
		kc_err_t e = NULL;
		if (apply_once(k, name, ns, modified, o, before, after, created, &e) == 0)
			return 0;
		if (kc_err_kind(e) != KC_E_CONFLICT || attempt == 3) {
			*err = e;
			return -1;
		}
		kc_debug(o->log, "deployment %s changed while applying; retrying", name);
		kc_err_free(&e);
	}
}

/* Annotation maps equal but for the change-cause, which every rollout rewrites. */
static bool annotations_equal(yajl_val a, yajl_val b)
{
	for (int pass = 0; pass < 2; pass++) {
		yajl_val x = pass ? b : a, y = pass ? a : b;
		for (size_t i = 0; YAJL_IS_OBJECT(x) && i < x->u.object.len; i++) {
			if (!strcmp(x->u.object.keys[i], ANN_CHANGE_CAUSE))
				continue;
			if (!kc_kube_json_equal(x->u.object.values[i],
						kc_json_member(y, x->u.object.keys[i])))
				return false;
		}
	}
	return true;
}

/* Whether an apply changed (or, dry, would change) the Deployment, as kubectl says
 * "configured" rather than "unchanged". */
static bool deployment_changed(yajl_val before, yajl_val after)
{
	if (!before)
		return true;
	return !kc_kube_json_equal(kc_json_find(before, "/spec"), kc_json_find(after, "/spec")) ||
	       !kc_kube_json_equal(kc_json_find(before, "/metadata/labels"),
				   kc_json_find(after, "/metadata/labels")) ||
	       !annotations_equal(kc_json_find(before, "/metadata/annotations"),
				  kc_json_find(after, "/metadata/annotations"));
}

static int fill_images(struct kc_kube_rollout_result *res, yajl_val before, yajl_val after,
		       kc_err_t *err)
{
	yajl_val cs = kc_json_find(after, "/spec/template/spec/containers");
	size_t n = YAJL_IS_ARRAY(cs) ? cs->u.array.len : 0;
	res->images = calloc(n + 1, sizeof *res->images);
	if (!res->images)
		return kc_err_sys(err, ENOMEM, "result");
	for (size_t i = 0; i < n; i++) {
		const char *cn = opt_str(cs->u.array.values[i], "/name");
		const char *to = opt_str(cs->u.array.values[i], "/image");
		const char *from = before && cn ? container_image(before, cn) : NULL;
		struct kc_kube_image_change *c = &res->images[res->nimages++];
		c->container = strdup(cn ? cn : "");
		c->to = strdup(to ? to : "");
		c->from = from ? strdup(from) : NULL;
		if (!c->container || !c->to || (from && !c->from))
			return kc_err_sys(err, ENOMEM, "result");
	}
	return 0;
}

/* The Deployment's ReplicaSets (owned by its uid), sorted by revision. */
struct rs_entry {
	int64_t rev;
	yajl_val rs;
};

static int cmp_rs(const void *a, const void *b)
{
	const struct rs_entry *x = a, *y = b;
	return x->rev < y->rev ? -1 : x->rev > y->rev;
}

static int list_owned_rs(struct kc_kube *k, yajl_val d, yajl_val *list, struct rs_entry **out,
			 size_t *n, kc_err_t *err)
{
	const char *ns = opt_str(d, "/metadata/namespace");
	const char *uid = opt_str(d, "/metadata/uid");
	cleanup_free char *sel = NULL;
	if (kc_kube_match_labels_selector(d, &sel, err) < 0)
		return -1;
	if (!ns || !uid)
		return kc_err_new(err, KC_E_PROTO, "deployment lacks namespace, uid or memory");
	cleanup_free char *nse = kc_http_escape(ns), *sele = kc_http_escape(sel), *path = NULL;
	if (!nse || !sele ||
	    asprintf(&path, "/apis/apps/v1/namespaces/%s/replicasets?labelSelector=%s", nse, sele) <
		0)
		return kc_err_sys(err, ENOMEM, "replicasets");
	if (kc_kube_request(k, "GET", path, NULL, NULL, list, err) < 0)
		return kc_err_wrap(err, "listing replicasets");
	yajl_val items = kc_json_find(*list, "/items");
	size_t cnt = YAJL_IS_ARRAY(items) ? items->u.array.len : 0;
	struct rs_entry *e = calloc(cnt + 1, sizeof *e);
	if (!e)
		return kc_err_sys(err, ENOMEM, "replicasets");
	size_t m = 0;
	for (size_t i = 0; i < cnt; i++) {
		yajl_val rs = items->u.array.values[i];
		yajl_val owners = kc_json_find(rs, "/metadata/ownerReferences");
		bool mine = false;
		for (size_t j = 0; YAJL_IS_ARRAY(owners) && j < owners->u.array.len; j++) {
			const char *ou = opt_str(owners->u.array.values[j], "/uid");
			mine |= ou && !strcmp(ou, uid);
		}
		if (mine)
			e[m++] = (struct rs_entry){revision_of(rs), rs};
	}
	qsort(e, m, sizeof *e, cmp_rs);
	*out = e;
	*n = m;
	return 0;
}

static char *images_of(yajl_val podspec_parent)
{
	yajl_val cs = kc_json_find(podspec_parent, "/spec/template/spec/containers");
	size_t cap = 1, len = 0;
	char *s = calloc(1, cap);
	for (size_t i = 0; s && YAJL_IS_ARRAY(cs) && i < cs->u.array.len; i++) {
		const char *im = opt_str(cs->u.array.values[i], "/image");
		if (!im)
			continue;
		size_t need = len + strlen(im) + 2;
		char *nb = realloc(s, need);
		if (!nb) {
			free(s);
			return NULL;
		}
		s = nb;
		cap = need;
		len += (size_t)snprintf(s + len, cap - len, "%s%s", len ? "," : "", im);
	}
	return s;
}

int kc_kube_rollout_history(struct kc_kube *k, const char *name, struct kc_kube_revision **revs,
			    size_t *n, kc_err_t *err)
{
	*revs = NULL;
	*n = 0;
	cleanup_free char *path = deploy_path(kc_kube_namespace(k), name);
	if (!path)
		return kc_err_sys(err, ENOMEM, "history");
	cleanup_json yajl_val d = NULL, list = NULL;
	if (kc_kube_request(k, "GET", path, NULL, NULL, &d, err) < 0)
		return -1;
	cleanup_free struct rs_entry *rs = NULL;
	size_t m = 0;
	if (list_owned_rs(k, d, &list, &rs, &m, err) < 0)
		return -1;
	int64_t cur = revision_of(d);
	struct kc_kube_revision *r = calloc(m + 1, sizeof *r);
	if (!r)
		return kc_err_sys(err, ENOMEM, "history");
	for (size_t i = 0; i < m; i++) {
		yajl_val ann = kc_json_find(rs[i].rs, "/metadata/annotations");
		yajl_val cc = kc_json_member(ann, ANN_CHANGE_CAUSE);
		r[i].revision = rs[i].rev;
		r[i].rs_name = strdup(opt_str(rs[i].rs, "/metadata/name") ?: "");
		r[i].images = images_of(rs[i].rs);
		r[i].change_cause = YAJL_IS_STRING(cc) ? strdup(cc->u.string) : NULL;
		r[i].replicas = opt_int(rs[i].rs, "/status/replicas", 0);
		r[i].ready = opt_int(rs[i].rs, "/status/readyReplicas", 0);
		r[i].active = rs[i].rev == cur;
	}
	*revs = r;
	*n = m;
	return 0;
}

/* Restores revision `to` (0: the one before the current), as kubectl rollout undo. */
static int undo_to(struct kc_kube *k, yajl_val d, int64_t to, const struct kc_kube_rollout_opts *o,
		   int64_t *restored, kc_err_t *err)
{
	cleanup_json yajl_val list = NULL;
	cleanup_free struct rs_entry *rs = NULL;
	size_t m = 0;
	if (list_owned_rs(k, d, &list, &rs, &m, err) < 0)
		return -1;
	int64_t cur = revision_of(d);
	yajl_val target = NULL;
	int64_t trev = 0;
	for (size_t i = 0; i < m; i++) {
		if (to ? rs[i].rev == to : (rs[i].rev != cur && rs[i].rev > trev)) {
			target = rs[i].rs;
			trev = rs[i].rev;
		}
	}
	if (!target) {
		if (to)
			return kc_err_new(
			    err, KC_E_NOTFOUND,
			    "unable to find specified revision %" PRId64 " in history", to);
		return kc_err_new(err, KC_E_NOTFOUND,
				  "no rollout history found: no revision to "
				  "undo to");
	}
	yajl_val tpl = kc_json_find(target, "/spec/template");
	yajl_val dann = kc_json_find(d, "/metadata/annotations");
	yajl_val rcc =
	    kc_json_member(kc_json_find(target, "/metadata/annotations"), ANN_CHANGE_CAUSE);
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "op", "replace");
	kc_jgen_kv_str(g, "path", "/spec/template");
	kc_jgen_key(g, "value");
	/* The pod-template-hash label belongs to the ReplicaSet, not the template. */
	gen_over(g, tpl, "", NULL, 0, "/metadata/labels/pod-template-hash");
	yajl_gen_map_close(g);
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "op", YAJL_IS_OBJECT(dann) ? "replace" : "add");
	kc_jgen_kv_str(g, "path", "/metadata/annotations");
	kc_jgen_key(g, "value");
	yajl_gen_map_open(g);
	for (size_t i = 0; YAJL_IS_OBJECT(dann) && i < dann->u.object.len; i++) {
		if (!strcmp(dann->u.object.keys[i], ANN_CHANGE_CAUSE))
			continue;
		kc_jgen_key(g, dann->u.object.keys[i]);
		kc_jgen_value(g, dann->u.object.values[i]);
	}
	if (YAJL_IS_STRING(rcc))
		kc_jgen_kv_str(g, ANN_CHANGE_CAUSE, rcc->u.string);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
	cleanup_free char *body = kc_jgen_finish(g, NULL);
	cleanup_free char *path =
	    deploy_path(opt_str(d, "/metadata/namespace"), opt_str(d, "/metadata/name"));
	if (!body || !path)
		return kc_err_sys(err, ENOMEM, "undo");
	event(o, "rolling back to revision %" PRId64, trev);
	if (kc_kube_request(k, "PATCH", path, "application/json-patch+json", body, NULL, err) < 0)
		return kc_err_wrap(err, "restoring revision %" PRId64, trev);
	*restored = trev;
	return 0;
}

int kc_kube_rollout_undo(struct kc_kube *k, const char *name, const struct kc_kube_rollout_opts *o,
			 struct kc_kube_rollout_result *res, kc_err_t *err)
{
	memset(res, 0, sizeof *res);
	res->name = strdup(name);
	res->namespace = strdup(kc_kube_namespace(k));
	cleanup_free char *path = deploy_path(kc_kube_namespace(k), name);
	if (!path || !res->name || !res->namespace)
		return kc_err_sys(err, ENOMEM, "undo");
	cleanup_json yajl_val d = NULL;
	if (kc_kube_request(k, "GET", path, NULL, NULL, &d, err) < 0)
		return -1;
	res->previous_revision = revision_of(d);
	int64_t restored = 0;
	if (undo_to(k, d, o->to_revision, o, &restored, err) < 0)
		return -1;
	res->changed = true;
	res->restored_revision = restored;
	if (kc_kube_rollout_wait(k, res->namespace, name, o->timeout_ms, o, err) < 0)
		return kc_err_wrap(err, "after rolling back to revision %" PRId64, restored);
	cleanup_json yajl_val after = NULL;
	if (kc_kube_request(k, "GET", path, NULL, NULL, &after, err) < 0)
		return -1;
	res->revision = revision_of(after);
	const char *im =
	    container_image(after, opt_str(after, "/spec/template/spec/containers/0/name") ?: "");
	res->image = im ? strdup(im) : NULL;
	return 0;
}

int kc_kube_rollout(struct kc_kube *k, const char *name, const struct kc_kube_rollout_opts *o,
		    struct kc_kube_rollout_result *res, kc_err_t *err)
{
	memset(res, 0, sizeof *res);
	const char *ns = kc_kube_namespace(k);
	res->name = strdup(name);
	res->namespace = strdup(ns);
	cleanup_free char *path = deploy_path(ns, name);
	if (!path || !res->name || !res->namespace)
		return kc_err_sys(err, ENOMEM, "rollout");
	if (!o->image && !o->manifest)
		return kc_err_new(err, KC_E_USAGE, "rollout needs --image or -f MANIFEST");

	cleanup_free char *pinned = NULL, *digest = NULL, *cause = NULL;
	/* The tag resolves before anything is touched: a missing tag changes nothing.
	 * With -f alone, the manifest's own image is the one pinned. */
	cleanup_free char *manifest_ref = NULL;
	if (!o->image && manifest_image(o, &manifest_ref, err) < 0)
		return -1;
	const char *ref = o->image ? o->image : manifest_ref;
	if (ref) {
		if (resolve_image(ref, o, &pinned, &digest, err) < 0)
			return -1;
		event(o, "image %s -> %s", ref, pinned);
	}
	if (o->change_cause)
		cause = strdup(o->change_cause);
	else if (asprintf(&cause, "kctl rollout deployment/%s%s%s%s%s", name,
			  o->image ? " --image " : "", o->image ? o->image : "",
			  o->manifest ? " -f " : "", o->manifest ? o->manifest : "") < 0)
		cause = NULL;
	if (!cause)
		return kc_err_sys(err, ENOMEM, "rollout");

	cleanup_json yajl_val before = NULL;
	kc_err_t ge = NULL;
	if (kc_kube_request(k, "GET", path, NULL, NULL, &before, &ge) < 0) {
		if (kc_err_kind(ge) != KC_E_NOTFOUND || !o->manifest) {
			*err = ge;
			return kc_err_wrap(err, "deployment %s in namespace %s", name, ns);
		}
		kc_err_free(&ge);
	}
	res->previous_revision = before ? revision_of(before) : 0;

	res->dry_run = o->dry_run;
	const char *dry = o->dry_run ? " (dry run)" : "";
	if (o->manifest) {
		/* The manifest is read and checked before anything is changed. */
		cleanup_json yajl_val modified = NULL, b2 = NULL, live = NULL;
		if (load_manifest(o, ns, name, pinned, cause, &modified, err) < 0)
			return -1;
		bool created = false;
		if (apply_manifest(k, name, ns, modified, o, &b2, &live, &created, err) < 0)
			return -1;
		res->created = created;
		res->changed = deployment_changed(b2, live);
		if (fill_images(res, b2, live, err) < 0)
			return -1;
		event(o, "deployment %s %s from %s%s", name,
		      created ? "created" : res->changed ? "configured" : "unchanged", o->manifest,
		      dry);
	} else {
		kc_err_t e = NULL;
		const char *cname = pick_container(before, o->container, &e);
		if (!cname) {
			*err = e;
			return -1;
		}
		const char *cur = container_image(before, cname);
		if (cur && !strcmp(cur, pinned)) {
			res->changed = false;
			res->revision = res->previous_revision;
			if (fill_images(res, before, before, err) < 0)
				return -1;
			res->image = strdup(pinned);
			res->digest = digest ? strdup(digest) : NULL;
			return 0;
		}
		cleanup_jgen yajl_gen g = kc_jgen_new(false);
		yajl_gen_map_open(g);
		kc_jgen_key(g, "metadata");
		yajl_gen_map_open(g);
		kc_jgen_key(g, "annotations");
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, ANN_CHANGE_CAUSE, cause);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		kc_jgen_key(g, "spec");
		yajl_gen_map_open(g);
		kc_jgen_key(g, "template");
		yajl_gen_map_open(g);
		kc_jgen_key(g, "spec");
		yajl_gen_map_open(g);
		kc_jgen_key(g, "containers");
		yajl_gen_array_open(g);
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "name", cname);
		kc_jgen_kv_str(g, "image", pinned);
		yajl_gen_map_close(g);
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		cleanup_free char *body = kc_jgen_finish(g, NULL);
		if (!body)
			return kc_err_sys(err, ENOMEM, "patch");
		cleanup_free char *ppath = NULL;
		if (asprintf(&ppath, "%s%s", path, o->dry_run ? "?dryRun=All" : "") < 0)
			return kc_err_sys(err, ENOMEM, "patch");
		cleanup_json yajl_val out = NULL;
		if (kc_kube_request(k, "PATCH", ppath, "application/strategic-merge-patch+json",
				    body, &out, err) < 0)
			return kc_err_wrap(err, "patching deployment %s", name);
		res->changed = true;
		if (fill_images(res, before, out, err) < 0)
			return -1;
		event(o, "deployment %s: container %s image %s %s", name, cname,
		      o->dry_run ? "would be set to" : "set to", pinned);
	}
	res->image = pinned ? strdup(pinned) : NULL;
	res->digest = digest ? strdup(digest) : NULL;
	if (o->dry_run) {
		/* Nothing persisted: no rollout to watch. */
		res->revision = res->previous_revision;
		return 0;
	}

	kc_err_t we = NULL;
	if (kc_kube_rollout_wait(k, ns, name, o->timeout_ms, o, &we) == 0) {
		cleanup_json yajl_val after = NULL;
		if (kc_kube_request(k, "GET", path, NULL, NULL, &after, err) < 0)
			return -1;
		res->revision = revision_of(after);
		return 0;
	}
	/* Failed: restore the previous revision, unless there is none (a new Deployment). */
	res->reason = kc_err_string(we);
	if (!before || res->previous_revision == 0) {
		*err = we;
		return kc_err_wrap(err, "rollout of deployment %s failed (nothing to undo to)",
				   name);
	}
	event(o, "rollout failed: %s; undoing", res->reason ? res->reason : "-");
	cleanup_json yajl_val now = NULL;
	int64_t restored = 0;
	if (kc_kube_request(k, "GET", path, NULL, NULL, &now, err) < 0 ||
	    undo_to(k, now, res->previous_revision, o, &restored, err) < 0) {
		kc_err_free(&we);
		return kc_err_wrap(err, "rollout of deployment %s failed and the undo failed",
				   name);
	}
	res->undone = true;
	res->restored_revision = restored;
	kc_err_t ue = NULL;
	if (kc_kube_rollout_wait(k, ns, name, o->timeout_ms, o, &ue) < 0) {
		cleanup_free char *um = kc_err_string(ue);
		kc_err_free(&ue);
		*err = we;
		return kc_err_wrap(
		    err, "rolled back to revision %" PRId64 " but that is not complete either (%s)",
		    restored, um ? um : "-");
	}
	cleanup_json yajl_val after = NULL;
	if (kc_kube_request(k, "GET", path, NULL, NULL, &after, &ue) == 0)
		res->revision = revision_of(after);
	kc_err_free(&ue);
	*err = we;
	return kc_err_wrap(err, "rollout of deployment %s failed; rolled back to revision %" PRId64,
			   name, restored);
}
