/* The Deployment manifest the Docker backend understands (struct kc_deploy_spec).
 *
 * kc_deploy_spec_load() reads a Kubernetes apps/v1 Deployment (YAML or JSON, one document)
 * into struct kc_deploy_spec. The walk is an allowlist over the whole tree: any field the
 * Docker backend cannot honour is an error naming the file, line and field path, e.g.
 *   demo.yaml:23: spec.template.spec.containers[0].resources: not supported by the Docker backend
 * Defaults are Kubernetes' except readOnlyRootFilesystem, which defaults to true (kctl's
 * immutable mode; write `readOnlyRootFilesystem: false` to opt out). The strategy comes
 * from spec.strategy (RollingUpdate, the default, or Recreate) unless the annotation
 * `io.kctl.strategy: blue-green` selects blue-green. maxSurge / maxUnavailable are
 * resolved against replicas as Kubernetes does (surge rounds up, unavailable down; if
 * both resolve to 0, maxUnavailable becomes 1; both written as 0 is an error).
 * Volumes: emptyDir -> tmpfs (sizeLimit honoured), persistentVolumeClaim -> a named
 * Docker volume called claimName. kc_deploy_spec_to_json() writes the spec back as a
 * Deployment (a revision carries it on its containers' labels), and
 * kc_deploy_spec_template_json() only its pod template (compare it to tell whether a
 * rollout would change anything). */
#ifndef KC_ROLLOUT_MANIFEST_H
#define KC_ROLLOUT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shim/base/error.h"
#include "shim/base/yaml.h"

#define KC_DEPLOY_SPEC_MAX_REPLICAS 256
/* The annotation that selects blue-green, next to the io.kctl.* container labels. */
#define KC_ANNOTATION_STRATEGY "io.kctl.strategy"

enum kc_strategy { KC_STRATEGY_ROLLING = 0, KC_STRATEGY_RECREATE, KC_STRATEGY_BLUE_GREEN };
enum kc_probe_kind { KC_PROBE_NONE = 0, KC_PROBE_HTTP, KC_PROBE_TCP, KC_PROBE_EXEC };
enum kc_volume_kind { KC_VOLUME_TMPFS = 1, KC_VOLUME_NAMED };

struct kc_deploy_kv {
	char *key;
	char *value;
};

struct kc_deploy_port {
	char *name; /* NULL when unnamed */
	int container_port;
};

struct kc_deploy_probe {
	enum kc_probe_kind kind;
	char *path;	       /* httpGet; "/" by default */
	int port;	       /* httpGet / tcpSocket, named ports resolved */
	char *port_name;       /* the name as written, NULL when numeric */
	char **command;	       /* exec: NULL-terminated */
	int initial_delay_s;   /* 0 */
	int period_s;	       /* 10 */
	int timeout_s;	       /* 1 */
	int success_threshold; /* 1 */
	int failure_threshold; /* 3 */
};

struct kc_deploy_mount {
	char *name; /* the volume's name in the manifest */
	char *mount_path;
	bool read_only;
	enum kc_volume_kind kind;
	char *source;	    /* KC_VOLUME_NAMED: the Docker volume (claimName) */
	int64_t size_bytes; /* KC_VOLUME_TMPFS: sizeLimit, 0 = engine default */
};

struct kc_deploy_spec {
	char *source; /* file name, for messages */
	char *name;
	char *namespace; /* NULL when absent */
	struct kc_deploy_kv *labels, *annotations, *selector, *pod_labels, *pod_annotations;
	size_t nlabels, nannotations, nselector, npod_labels, npod_annotations;

	int replicas; /* 1 */
	enum kc_strategy strategy;
	char *max_surge_raw; /* as written ("25%", "1"); defaults "25%" */
	char *max_unavailable_raw;
	int max_surge; /* resolved against replicas */
	int max_unavailable;
	int revision_history_limit; /* 10 */
	int progress_deadline_s;    /* 600 */
	int min_ready_s;	    /* 0 */
	int termination_grace_s;    /* 30 */

	/* The one container. */
	char *container_name;
	char *image;
	char *image_pull_policy; /* NULL when absent */
	char *working_dir;	 /* NULL when absent */
	char **command;		 /* NULL-terminated; NULL when absent (image entrypoint) */
	char **args;		 /* NULL-terminated; NULL when absent (image cmd) */
	struct kc_deploy_kv *env;	 /* value "" when absent */
	size_t nenv;
	struct kc_deploy_port *ports;
	size_t nports;
	struct kc_deploy_probe readiness;
	bool read_only_rootfs;
	struct kc_deploy_mount *mounts;
	size_t nmounts;
};

int kc_deploy_spec_load(const char *path, struct kc_deploy_spec **out, kc_err_t *err);
/* name labels messages like a file name. */
int kc_deploy_spec_parse(const char *buf, size_t len, const char *name, struct kc_deploy_spec **out,
			 kc_err_t *err);
int kc_deploy_spec_from_doc(const struct kc_yaml_doc *doc, const char *name,
			    struct kc_deploy_spec **out, kc_err_t *err);
void kc_deploy_spec_free(struct kc_deploy_spec *m);

/* Resolves "25%" or "3" against replicas; round_up for maxSurge. Exposed for tests and
 * for a --max-surge style override. */
int kc_int_or_percent_resolve(const char *raw, int replicas, bool round_up, int *out,
			      kc_err_t *err);

/* The spec written back as an apps/v1 Deployment (JSON) that
 * kc_deploy_spec_parse reads again; image, when not NULL, replaces the
 * container's. The template form is only spec.template: what shapes a
 * replica, so equal templates mean a rollout would change nothing. Newly
 * allocated. */
int kc_deploy_spec_to_json(const struct kc_deploy_spec *m, const char *image, bool pretty,
			   char **out, kc_err_t *err);
int kc_deploy_spec_template_json(const struct kc_deploy_spec *m, const char *image, char **out,
				 kc_err_t *err);

const char *kc_strategy_name(enum kc_strategy s); /* "RollingUpdate", "Recreate", "BlueGreen" */

static inline void kc_deploy_spec_freep(struct kc_deploy_spec **m)
{
	kc_deploy_spec_free(*m);
}
#define cleanup_deploy_spec __attribute__((cleanup(kc_deploy_spec_freep)))


#endif
