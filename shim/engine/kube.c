/* Kubernetes API client: requests and watches (kube.h). */
#include "kube.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"

/* A whole watch stream may carry many events; each one is bounded separately. */
#define KC_KUBE_WATCH_MAX_STREAM (1ull << 30)

struct kc_kube {
	struct kc_kubeconfig *cfg;
	struct kc_http *http;
	const struct kc_log *log;
};

int kc_kube_open_config(struct kc_kubeconfig *kc, struct kc_kube **out, kc_err_t *err)
{
	struct kc_kube *k = calloc(1, sizeof *k);
	if (!k) {
		kc_kubeconfig_free(kc);
		return kc_err_sys(err, ENOMEM, "kube client");
	}
	k->cfg = kc;
	k->log = kc->log;
	struct kc_http_config hc;
	if (kc_kubeconfig_http(kc, &hc, err) < 0 || kc_http_new(&hc, &k->http, err) < 0) {
		kc_kube_free(k);
		return kc_err_wrap(err, "context %s", kc->context);
	}
	kc_debug(k->log, "kube: context %s, server %s, namespace %s, user %s", kc->context,
		 kc->server, kc->namespace, kc->user ? kc->user : "-");
	*out = k;
	return 0;
}

int kc_kube_open(const struct kc_kubeconfig_opts *o, struct kc_kube **out, kc_err_t *err)
{
	struct kc_kubeconfig *kc = NULL;
	if (kc_kubeconfig_load(o, &kc, err) < 0)
		return -1;
	return kc_kube_open_config(kc, out, err);
}

void kc_kube_free(struct kc_kube *k)
{
	if (!k)
		return;
	kc_http_free(k->http);
	kc_kubeconfig_free(k->cfg);
	free(k);
}

const char *kc_kube_namespace(const struct kc_kube *k)
{
	return k->cfg->namespace;
}

struct kc_kubeconfig *kc_kube_config(struct kc_kube *k)
{
	return k->cfg;
}

struct kc_http *kc_kube_http(struct kc_kube *k)
{
	return k->http;
}

int kc_kube_auth_header(struct kc_kube *k, char **out, kc_err_t *err)
{
	*out = NULL;
	cleanup_free char *tok = NULL;
	if (kc_kubeconfig_token(k->cfg, &tok, err) < 0)
		return kc_err_wrap(err, "credentials of user %s",
				   k->cfg->user ? k->cfg->user : "-");
	if (tok && asprintf(out, "Authorization: Bearer %s", tok) < 0)
		return kc_err_sys(err, ENOMEM, "auth header");
	return 0;
}

/* Says which trust failed when the server's certificate is refused. */
static int transport_error(struct kc_kube *k, kc_err_t *err)
{
	const char *msg = *err && (*err)->msg ? (*err)->msg : "";
	if (strstr(msg, "certificate problem") || strstr(msg, "certificate verify"))
		return kc_err_wrap(err,
				   "the API server %s presented a certificate that is not trusted "
				   "(not signed by the certificate-authority of cluster %s)",
				   k->cfg->server, k->cfg->cluster);
	return kc_err_wrap(err, "Kubernetes API server %s (cluster %s)", k->cfg->server,
			   k->cfg->cluster);
}

/* Maps an error answer (a metav1.Status, usually) to an error kind. */
static int status_error(long status, const char *method, const char *path, const char *body,
			size_t len, kc_err_t *err)
{
	const char *msg = NULL;
	cleanup_json yajl_val v = NULL;
	kc_err_t e2 = NULL;
	if (body && len && kc_json_parse(body, len, &v, &e2) == 0)
		kc_json_opt_str(v, "/message", &msg, &e2);
	kc_err_free(&e2);
	enum kc_err_kind kind = KC_E_REMOTE;
	if (status == 404)
		kind = KC_E_NOTFOUND;
	else if (status == 401 || status == 403)
		kind = KC_E_AUTH;
	else if (status == 409)
		kind = KC_E_CONFLICT;
	else if (status == 422 || status == 400)
		kind = KC_E_INVALID;
	int rc = kc_err_new(err, kind, "%s %s: %ld %s", method, path, status,
			    msg ? msg : (status == 401 ? "Unauthorized" : "error"));
	(*err)->http_status = (int)status;
	return rc;
}

int kc_kube_request(struct kc_kube *k, const char *method, const char *path,
		    const char *content_type, const char *body, yajl_val *out, kc_err_t *err)
{
	cleanup_free char *auth = NULL, *ct = NULL;
	if (kc_kube_auth_header(k, &auth, err) < 0)
		return -1;
	if (body &&
	    asprintf(&ct, "Content-Type: %s", content_type ? content_type : "application/json") < 0)
		return kc_err_sys(err, ENOMEM, "request");
	const char *hdrs[4];
	size_t nh = 0;
	hdrs[nh++] = "Accept: application/json";
	if (auth)
		hdrs[nh++] = auth;
	if (ct)
		hdrs[nh++] = ct;
	hdrs[nh] = NULL;
	kc_debug(k->log, "kube: %s %s (Authorization: %s)", method, path,
		 auth ? "Bearer <redacted>" : "none");
	struct kc_http_request req = {.method = method,
				      .path = path,
				      .headers = hdrs,
				      .body = body,
				      .body_len = body ? strlen(body) : 0};
	cleanup_http_resp struct kc_http_response resp = {0};
	if (kc_http_do(k->http, &req, &resp, err) < 0)
		return transport_error(k, err);
	if (resp.status < 200 || resp.status >= 300)
		return status_error(resp.status, method, path, resp.body, resp.body_len, err);
	if (out) {
		*out = NULL;
		if (kc_json_parse(resp.body ? resp.body : "", resp.body_len, out, err) < 0)
			return kc_err_wrap(err, "%s %s: answer", method, path);
	}
	return 0;
}

struct watch_state {
	kc_kube_watch_cb cb;
	void *opaque;
	char *buf;
	size_t len, cap;
	int done; /* 1: cb said done; -1: error in *err */
	kc_err_t err;
	char *rv;     /* last resourceVersion seen */
	bool expired; /* 410: start again without a resourceVersion */
};

static int watch_line(struct watch_state *w, const char *line, size_t len)
{
	if (len == 0)
		return 0;
	cleanup_json yajl_val ev = NULL;
	if (kc_json_parse(line, len, &ev, &w->err) < 0)
		return kc_err_wrap(&w->err, "watch event");
	const char *type = NULL, *rv = NULL;
	yajl_val obj = kc_json_member(ev, "object");
	if (kc_json_opt_str(ev, "/type", &type, &w->err) < 0)
		return -1;
	if (!type) {
		/* An error answer (metav1.Status) instead of a stream. */
		int64_t code = 0;
		kc_json_opt_int(ev, "/code", &code, &w->err);
		kc_err_free(&w->err);
		if (code >= 400)
			return status_error((long)code, "WATCH", "stream", line, len, &w->err);
		return kc_err_new(&w->err, KC_E_PROTO, "watch: answer is not a watch event");
	}
	if (!strcmp(type, "ERROR")) {
		int64_t code = 0;
		const char *msg = NULL;
		kc_json_opt_int(obj, "/code", &code, &w->err);
		kc_json_opt_str(obj, "/message", &msg, &w->err);
		if (code == 410) {
			w->expired = true;
			return 1; /* ends this stream; the loop starts over */
		}
		return kc_err_new(&w->err, KC_E_REMOTE, "watch error %lld: %s", (long long)code,
				  msg ? msg : "-");
	}
	if (kc_json_opt_str(obj, "/metadata/resourceVersion", &rv, &w->err) < 0)
		return -1;
	if (rv) {
		free(w->rv);
		w->rv = strdup(rv);
	}
	if (!strcmp(type, "BOOKMARK"))
		return 0;
	return w->cb(w->opaque, type, obj, &w->err);
}

static int watch_sink(void *opaque, const char *data, size_t len)
{
	struct watch_state *w = opaque;
	if (w->done)
		return 1;
	if (w->len + len > KC_KUBE_MAX_EVENT) {
		kc_err_new(&w->err, KC_E_TOOBIG, "watch event larger than %u bytes",
			   KC_KUBE_MAX_EVENT);
		w->done = -1;
		return 1;
	}
	if (w->len + len + 1 > w->cap) {
		size_t nc = (w->len + len + 1) * 2;
		char *nb = realloc(w->buf, nc);
		if (!nb) {
			kc_err_sys(&w->err, ENOMEM, "watch");
			w->done = -1;
			return 1;
		}
		w->buf = nb;
		w->cap = nc;
	}
	memcpy(w->buf + w->len, data, len);
	w->len += len;
	size_t start = 0;
	for (size_t i = 0; i < w->len; i++) {
		if (w->buf[i] != '\n')
			continue;
		int r = watch_line(w, w->buf + start, i - start);
		start = i + 1;
		if (r != 0) {
			w->done = r > 0 ? 1 : -1;
			return 1;
		}
	}
	memmove(w->buf, w->buf + start, w->len - start);
	w->len -= start;
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int kc_kube_watch(struct kc_kube *k, const char *path, const char *resource_version,
		  long timeout_ms, kc_kube_watch_cb cb, void *opaque, kc_err_t *err)
{
	long deadline = now_ms() + timeout_ms;
	struct watch_state w = {.cb = cb, .opaque = opaque};
	w.rv = resource_version ? strdup(resource_version) : NULL;
	int rc = 0;
	for (;;) {
		long left = deadline - now_ms();
		if (left <= 0) {
			rc = 0;
			break;
		}
		cleanup_free char *auth = NULL, *url = NULL;
		if (kc_kube_auth_header(k, &auth, err) < 0) {
			rc = -1;
			break;
		}
		/* The server ends the stream after timeoutSeconds; we then resume from the
		 * last resourceVersion seen, as client-go's reflector does. */
		long secs = (left + 999) / 1000;
		if (secs > 300)
			secs = 300;
		cleanup_free char *rv_esc = w.rv && !w.expired ? kc_http_escape(w.rv) : NULL;
		if (asprintf(&url, "%s%cwatch=1&allowWatchBookmarks=true&timeoutSeconds=%ld%s%s",
			     path, strchr(path, '?') ? '&' : '?', secs,
			     rv_esc ? "&resourceVersion=" : "", rv_esc ? rv_esc : "") < 0) {
			rc = kc_err_sys(err, ENOMEM, "watch");
			break;
		}
		w.expired = false;
		const char *hdrs[3] = {"Accept: application/json", auth, NULL};
		kc_debug(k->log, "kube: WATCH %s (Authorization: %s)", url,
			 auth ? "Bearer <redacted>" : "none");
		struct kc_http_request req = {.path = url,
					      .headers = hdrs,
					      .no_retry = true,
					      .timeout_ms = left + 2000,
					      .max_response = KC_KUBE_WATCH_MAX_STREAM,
					      .sink = watch_sink,
					      .sink_opaque = &w};
		cleanup_http_resp struct kc_http_response resp = {0};
		w.len = 0;
		kc_err_t herr = NULL;
		int hr = kc_http_do(k->http, &req, &resp, &herr);
		if (w.done == 1) {
			kc_err_free(&herr);
			if (w.expired) {
				w.done = 0;
				continue;
			}
			rc = 1;
			break;
		}
		if (w.done < 0) {
			kc_err_free(&herr);
			*err = kc_steal(w.err);
			rc = -1;
			break;
		}
		if (hr < 0) {
			if (kc_err_kind(herr) == KC_E_TIMEOUT) {
				kc_err_free(&herr);
				continue;
			}
			*err = herr;
			rc = transport_error(k, err);
			break;
		}
		if (resp.status < 200 || resp.status >= 300) {
			rc = status_error(resp.status, "WATCH", path, w.buf, w.len, err);
			break;
		}
	}
	free(w.buf);
	free(w.rv);
	kc_err_free(&w.err);
	return rc;
}

int kc_kube_match_labels_selector(yajl_val workload, char **out, kc_err_t *err)
{
	yajl_val ml = kc_json_find(workload, "/spec/selector/matchLabels");
	char *sel = strdup("");
	for (size_t i = 0; sel && YAJL_IS_OBJECT(ml) && i < ml->u.object.len; i++) {
		yajl_val v = ml->u.object.values[i];
		char *next = NULL;
		if (asprintf(&next, "%s%s%s=%s", sel, *sel ? "," : "", ml->u.object.keys[i],
			     YAJL_IS_STRING(v) ? v->u.string : "") < 0)
			next = NULL;
		free(sel);
		sel = next;
	}
	*out = sel;
	return sel ? 0 : kc_err_sys(err, ENOMEM, "selector");
}
