/* Kubernetes client configuration, as kubectl finds it:
 *  - kubeconfig files: --kubeconfig, else every file in $KUBECONFIG (merged as
 *    kubectl merges: the first file that names a cluster/user/context wins,
 *    current-context from the first file that sets one), else ~/.kube/config;
 *  - in-cluster config when no kubeconfig exists and KUBERNETES_SERVICE_HOST is
 *    set: the service-account token (re-read when it rotates), ca.crt and
 *    namespace from /var/run/secrets/kubernetes.io/serviceaccount, or from
 *    $KCTL_SERVICEACCOUNT_DIR (tests);
 *  - --context and -n/--namespace override the file's choices.
 * Credentials: token, tokenFile, client certificate/key (file or data), and
 * exec plugins (client.authentication.k8s.io/v1 ExecCredential; the result is
 * cached in memory until its expirationTimestamp). TLS is verified unless the
 * cluster says insecure-skip-tls-verify. */
#ifndef KC_ENGINE_KUBECONFIG_H
#define KC_ENGINE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "shim/base/error.h"
#include "shim/base/http.h"
#include "shim/base/log.h"

#define KC_KUBECONFIG_MAX_FILES 32
#define KC_KUBE_EXEC_MAX_OUTPUT (1u << 20)
#define KC_KUBE_TOKEN_MAX (64u << 10)
#define KC_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kc_kubeconfig_opts {
	const char *kubeconfig; /* --kubeconfig: this file only */
	const char *context;	/* --context */
	const char *namespace;	/* -n */
	const struct kc_log *log;
};

struct kc_kube_exec_plugin {
	char *api_version;
	char *command;
	char **args; /* NULL-terminated */
	char **env;  /* "NAME=value", NULL-terminated */
	bool provide_cluster_info;
	/* cache of the last credential */
	bool cached;
	time_t expiry; /* 0: no expiry given (valid for the process) */
	char *token, *cert_pem, *key_pem;
};

struct kc_kubeconfig {
	char *context, *cluster, *user; /* names; "in-cluster" for in-cluster config */
	char *server;
	char *namespace; /* never NULL after load: "default" at worst */
	char *ca_file, *ca_pem;
	bool insecure;
	char *token;	  /* static token */
	char *token_file; /* read on every credential request (rotation) */
	char *client_cert_file, *client_key_file, *client_cert_pem, *client_key_pem;
	struct kc_kube_exec_plugin *exec; /* NULL: no plugin */
	bool in_cluster;
	const struct kc_log *log;
};

/* Finds and reads the configuration (see above). */
int kc_kubeconfig_load(const struct kc_kubeconfig_opts *o, struct kc_kubeconfig **out,
		       kc_err_t *err);
/* Same from in-memory kubeconfig documents (bufs[i] of lens[i], named names[i]; relative
 * file paths resolve against dirs[i], which may be NULL). For tests and fuzzing. */
int kc_kubeconfig_from_buffers(const char *const *bufs, const size_t *lens,
			       const char *const *names, const char *const *dirs, size_t n,
			       const struct kc_kubeconfig_opts *o, struct kc_kubeconfig **out,
			       kc_err_t *err);
/* In-cluster configuration from the environment and the service-account directory. */
int kc_kubeconfig_in_cluster(const struct kc_kubeconfig_opts *o, struct kc_kubeconfig **out,
			     kc_err_t *err);
void kc_kubeconfig_free(struct kc_kubeconfig *kc);
static inline void kc_kubeconfig_freep(struct kc_kubeconfig **kc)
{
	kc_kubeconfig_free(*kc);
}
#define cleanup_kubeconfig __attribute__((cleanup(kc_kubeconfig_freep)))

/* Fills an HTTP configuration whose strings point into kc (valid while kc lives and
 * until the next kc_kubeconfig_* call). Runs the exec plugin when its credential is a
 * client certificate and none is cached. */
int kc_kubeconfig_http(struct kc_kubeconfig *kc, struct kc_http_config *cfg, kc_err_t *err);
/* The bearer token to send now, or NULL in *token when the user has none (client
 * certificate). Re-reads token files, runs/caches the exec plugin. Newly allocated. */
int kc_kubeconfig_token(struct kc_kubeconfig *kc, char **token, kc_err_t *err);
/* Parses RFC 3339 ("2026-01-02T03:04:05Z", fractions and offsets allowed). */
int kc_rfc3339_parse(const char *s, time_t *out, kc_err_t *err);

#endif
