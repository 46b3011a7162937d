/* A small Kubernetes API client over kc_http: a connection from a kubeconfig
 * (kubeconfig.h), JSON requests with the API's errors mapped to kc_err kinds
 * (404 NOTFOUND, 401/403 AUTH, 409 CONFLICT, other 4xx/5xx REMOTE with the
 * Status message), and watches streamed event by event (chunked JSON lines). */
#ifndef KC_ENGINE_KUBE_H
#define KC_ENGINE_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "shim/base/error.h"
#include "shim/base/http.h"
#include "shim/engine/kubeconfig.h"

#define KC_KUBE_MAX_EVENT (8u << 20)

struct kc_kube;

int kc_kube_open(const struct kc_kubeconfig_opts *o, struct kc_kube **out, kc_err_t *err);
/* Takes ownership of kc. */
int kc_kube_open_config(struct kc_kubeconfig *kc, struct kc_kube **out, kc_err_t *err);
void kc_kube_free(struct kc_kube *k);
static inline void kc_kube_freep(struct kc_kube **k)
{
	kc_kube_free(*k);
}
#define cleanup_kube __attribute__((cleanup(kc_kube_freep)))

const char *kc_kube_namespace(const struct kc_kube *k);
struct kc_kubeconfig *kc_kube_config(struct kc_kube *k);
/* The Authorization header to send now ("Authorization: Bearer ..."), or NULL. */
int kc_kube_auth_header(struct kc_kube *k, char **out, kc_err_t *err);
struct kc_http *kc_kube_http(struct kc_kube *k);

/* method/path with an optional JSON body of content_type (NULL: application/json);
 * *out (may be NULL) receives the parsed answer. */
int kc_kube_request(struct kc_kube *k, const char *method, const char *path,
		    const char *content_type, const char *body, yajl_val *out, kc_err_t *err);

/* One watch event. Return 1 to stop watching (done), 0 to go on, <0 with *err. */
typedef int (*kc_kube_watch_cb)(void *opaque, const char *type, yajl_val object, kc_err_t *err);

/* Watches path (a collection URL with its query, without watch=1) from
 * resource_version for up to timeout_ms, reconnecting when the server ends the
 * stream. Returns 1 when cb said done, 0 on timeout, <0 on error. */
int kc_kube_watch(struct kc_kube *k, const char *path, const char *resource_version,
		  long timeout_ms, kc_kube_watch_cb cb, void *opaque, kc_err_t *err);

/* A workload's spec.selector.matchLabels as a labelSelector ("a=b,c=d"; "" when it has
 * none), not yet escaped for a URL. */
int kc_kube_match_labels_selector(yajl_val workload, char **out, kc_err_t *err);

#endif
