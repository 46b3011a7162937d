/* Backend-neutral container engine interface.
 *
 * A struct kc_engine is opaque; a backend (docker.c, later kube.c) fills an
 * ops table and the kc_engine_* functions dispatch to it. An operation a
 * backend lacks fails with KC_E_UNSUPPORTED. Specs passed in are borrowed
 * (caller-owned); results handed out are owned by the caller and released
 * with the matching *_free function. Engine-reported errors keep the engine's
 * own message, the HTTP status (kc_err_http_status) and a kind:
 * 400 INVALID, 401/403 AUTH, 404 NOTFOUND, 409 CONFLICT, 501 UNSUPPORTED,
 * 503 UNAVAIL, 408/504 TIMEOUT, other 5xx REMOTE. An engine handle is not
 * thread-safe: use one per thread. */
#ifndef KC_ENGINE_ENGINE_H
#define KC_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shim/base/error.h"
#include "shim/base/http.h"

struct kc_engine;

/* ---- versions ---- */

struct kc_engine_version {
	char *backend;		  /* "docker" */
	char *api_version;	  /* negotiated, e.g. "1.41" */
	char *server_api_version; /* what the server speaks at most */
	char *min_api_version;	  /* may be NULL */
	char *engine_version;	  /* "20.10.24" */
	char *os, *arch, *kernel; /* may be NULL */
};
void kc_engine_version_free(struct kc_engine_version *v);

/* ---- labels (owned key/value list) ---- */

struct kc_labels {
	size_t n;
	char **keys;
	char **values;
};
const char *kc_labels_get(const struct kc_labels *l, const char *key);
void kc_labels_free(struct kc_labels *l);

/* Borrowed key/value pair, for specs and filters. */
struct kc_label {
	const char *key;
	const char *value;
};

/* ---- containers ---- */

enum kc_restart {
	KC_RESTART_NO = 0,
	KC_RESTART_ALWAYS,
	KC_RESTART_UNLESS_STOPPED,
	KC_RESTART_ON_FAILURE,
};

struct kc_tmpfs_mount {
	const char *target;  /* "/tmp" */
	const char *options; /* "size=64m,mode=1777"; NULL: engine default */
};

struct kc_volume_mount {
	const char *name;   /* named volume, created on demand by the engine */
	const char *target; /* path inside the container */
	bool read_only;
};

struct kc_healthcheck {
	const char *const *test; /* {"CMD-SHELL", "wget -q ...", NULL} or {"CMD", ...} */
	int64_t interval_ms, timeout_ms, start_period_ms; /* 0: engine default */
	int retries;					  /* 0: engine default */
};

struct kc_container_spec {
	const char *name; /* NULL: engine picks */
	const char *image;
	const struct kc_label *labels;
	size_t n_labels;
	const char *const *env;	       /* "K=V", NULL-terminated; NULL: none added */
	const char *const *cmd;	       /* NULL-terminated; NULL: image default */
	const char *const *entrypoint; /* NULL-terminated; NULL: image default */
	const char *network_mode;      /* "none" (NULL) or "host"; nothing else is allowed */
	bool read_only_rootfs;
	const struct kc_tmpfs_mount *tmpfs;
	size_t n_tmpfs;
	const struct kc_volume_mount *volumes;
	size_t n_volumes;
	enum kc_restart restart;
	int restart_max_retries;		  /* on-failure only */
	const struct kc_healthcheck *healthcheck; /* NULL: image default */
	const char *stop_signal;		  /* "SIGTERM"; NULL: image default */
	int stop_timeout_s;			  /* <= 0: engine default */
	const char *user;			  /* "uid[:gid]" or name; NULL: image default */
	const char *workdir;			  /* NULL: image default */
	bool init;				  /* engine-provided init as PID 1 */
	int64_t memory_limit;			  /* bytes; 0: none */
	int64_t nano_cpus;			  /* 1e9 = one CPU; 0: none */
};

enum kc_state {
	KC_STATE_UNKNOWN = 0,
	KC_STATE_CREATED,
	KC_STATE_RUNNING,
	KC_STATE_PAUSED,
	KC_STATE_RESTARTING,
	KC_STATE_REMOVING,
	KC_STATE_EXITED,
	KC_STATE_DEAD,
};
const char *kc_state_name(enum kc_state s);

enum kc_health {
	KC_HEALTH_NONE = 0, /* no healthcheck */
	KC_HEALTH_STARTING,
	KC_HEALTH_HEALTHY,
	KC_HEALTH_UNHEALTHY,
};
const char *kc_health_name(enum kc_health h);

/* From inspect every field is set; from list, pid/started/finished stay 0 and
 * cmd/env stay NULL (the engine's list does not carry them), and health and
 * exit_code come from the status text. Times are Unix nanoseconds, 0 = never. */
struct kc_container_info {
	char *id;
	char *name;	/* without the leading '/' */
	char *image;	/* as asked for at create */
	char *image_id; /* "sha256:..." */
	struct kc_labels labels;
	enum kc_state state;
	enum kc_health health;
	int exit_code;
	int64_t created_ns, started_ns, finished_ns;
	int pid;		  /* 0 when not running */
	char *status;		  /* engine's human text ("Up 3 minutes (healthy)"), list only */
	char **env;		  /* NULL-terminated, inspect only */
	char **cmd, **entrypoint; /* NULL-terminated or NULL, inspect only */
	bool read_only_rootfs;	  /* inspect only */
	char *network_mode;	  /* inspect only */
	int restart_count;	  /* inspect only */
};
void kc_container_info_free(struct kc_container_info *c);
void kc_container_list_free(struct kc_container_info *list, size_t n);

/* ---- exec ---- */

#define KC_EXEC_DEFAULT_MAX_OUTPUT (4u << 20)

struct kc_exec_spec {
	const char *const *cmd; /* NULL-terminated, required */
	const char *const *env; /* NULL-terminated or NULL */
	const char *user;	/* NULL: container's */
	const char *workdir;	/* NULL: container's */
	size_t max_output; /* per stream; 0: KC_EXEC_DEFAULT_MAX_OUTPUT; beyond it is dropped */
	long timeout_ms;   /* 0: 60 s; -1: none */
};

struct kc_exec_result {
	int exit_code;
	char *out; /* NUL-terminated, never NULL after success */
	size_t out_len;
	char *err;
	size_t err_len;
	bool out_truncated, err_truncated;
};
void kc_exec_result_free(struct kc_exec_result *r);

/* ---- filesystem changes ---- */

enum kc_change_kind { KC_CHANGE_CHANGED = 0, KC_CHANGE_ADDED = 1, KC_CHANGE_DELETED = 2 };
const char *kc_change_kind_name(enum kc_change_kind k); /* "C", "A", "D" like docker diff */

struct kc_change {
	char *path;
	enum kc_change_kind kind;
};
void kc_changes_free(struct kc_change *c, size_t n);

/* ---- stats ---- */

struct kc_stats {
	bool available;	 /* false: container not running, nothing below is meaningful */
	int64_t read_ns; /* when the engine sampled */
	uint64_t cpu_total_ns;
	uint64_t system_cpu_ns; /* host CPU time, for the usual percentage formula */
	uint32_t online_cpus;
	uint64_t mem_usage; /* bytes */
	uint64_t mem_max;   /* peak bytes; 0 when the engine does not know (cgroup v2) */
	bool mem_max_available;
	uint64_t mem_limit;
	uint64_t pids;
};

/* ---- images ---- */

struct kc_engine_image {
	char *id;	     /* "sha256:..." */
	char **repo_tags;    /* NULL-terminated (possibly empty) */
	char **repo_digests; /* "repo@sha256:...", NULL-terminated (possibly empty) */
	int64_t size;
	int64_t created_ns;
	char **layers; /* diff ids, NULL-terminated; inspect only (NULL from list) */
	struct kc_labels labels;
	char **env, **cmd, **entrypoint; /* image config, inspect only, may be NULL */
	char *user, *workdir;		 /* inspect only, may be NULL */
};
void kc_engine_image_free(struct kc_engine_image *i);
void kc_engine_image_list_free(struct kc_engine_image *list, size_t n);

/* One progress message of a pull, push or build. Fields not in the message are NULL / -1. */
struct kc_progress {
	const char *status;   /* "Pulling fs layer", "Pushed" */
	const char *id;	      /* layer id */
	const char *progress; /* engine's bar text */
	int64_t current, total;
	const char *stream; /* build output line */
	const char *error;  /* the operation failed; the call returns KC_E_REMOTE after this */
};
/* Non-zero aborts the operation. */
typedef int (*kc_progress_cb)(void *opaque, const struct kc_progress *p);

/* ---- the engine ---- */

void kc_engine_free(struct kc_engine *e);
static inline void kc_engine_freep(struct kc_engine **e)
{
	if (*e)
		kc_engine_free(*e);
}
#define cleanup_engine __attribute__((cleanup(kc_engine_freep)))

const char *kc_engine_backend(const struct kc_engine *e); /* "docker" */
/* Counters of the engine's HTTP client (requests, bytes), for the cost meter. */
int kc_engine_http_stats(struct kc_engine *e, struct kc_http_stats *out, kc_err_t *err);

/* Checks the engine answers and negotiates the API version. */
int kc_engine_ping(struct kc_engine *e, kc_err_t *err);
int kc_engine_version(struct kc_engine *e, struct kc_engine_version *out, kc_err_t *err);

int kc_engine_image_inspect(struct kc_engine *e, const char *ref, struct kc_engine_image *out,
			    kc_err_t *err);
/* reference may be NULL (all images); filters are label filters "k" or "k=v". */
int kc_engine_image_list(struct kc_engine *e, const char *reference, const struct kc_label *labels,
			 size_t n_labels, struct kc_engine_image **out, size_t *n, kc_err_t *err);
int kc_engine_image_pull(struct kc_engine *e, const char *ref, kc_progress_cb cb, void *opaque,
			 kc_err_t *err);
/* *digest_out (may be NULL) gets the pushed manifest digest "sha256:...". */
int kc_engine_image_push(struct kc_engine *e, const char *ref, kc_progress_cb cb, void *opaque,
			 char **digest_out, kc_err_t *err);
int kc_engine_image_tag(struct kc_engine *e, const char *src, const char *repo, const char *tag,
			kc_err_t *err);
int kc_engine_image_remove(struct kc_engine *e, const char *ref, bool force, kc_err_t *err);
/* Builds from a tar context (with a Dockerfile at its root); *id_out (may be NULL)
 * gets the image id. tag may be NULL. */
int kc_engine_image_build(struct kc_engine *e, const void *context_tar, size_t len, const char *tag,
			  kc_progress_cb cb, void *opaque, char **id_out, kc_err_t *err);

int kc_engine_container_create(struct kc_engine *e, const struct kc_container_spec *spec,
			       char **id_out, kc_err_t *err);
/* Starting a running container and stopping a stopped one succeed. */
int kc_engine_container_start(struct kc_engine *e, const char *id, kc_err_t *err);
/* timeout_s < 0: engine/container default. */
int kc_engine_container_stop(struct kc_engine *e, const char *id, int timeout_s, kc_err_t *err);
/* signal: "SIGKILL", "TERM", "9"; NULL: SIGKILL. */
int kc_engine_container_kill(struct kc_engine *e, const char *id, const char *signal,
			     kc_err_t *err);
/* volumes: also anonymous volumes (named ones stay; see kc_engine_volume_remove). */
int kc_engine_container_remove(struct kc_engine *e, const char *id, bool force, bool volumes,
			       kc_err_t *err);
int kc_engine_container_inspect(struct kc_engine *e, const char *id, struct kc_container_info *out,
				kc_err_t *err);
/* all: stopped ones too. labels: each {"k", NULL} or {"k", "v"}, all must match. */
int kc_engine_container_list(struct kc_engine *e, bool all, const struct kc_label *labels,
			     size_t n_labels, struct kc_container_info **out, size_t *n,
			     kc_err_t *err);
/* Waits until the container is not running; timeout_ms -1: forever. */
int kc_engine_container_wait(struct kc_engine *e, const char *id, long timeout_ms, int *exit_code,
			     kc_err_t *err);

int kc_engine_exec(struct kc_engine *e, const char *id, const struct kc_exec_spec *spec,
		   struct kc_exec_result *out, kc_err_t *err);

/* Tar of path (file or directory) in the container, at most max bytes (0: 256 MiB). */
int kc_engine_archive_get(struct kc_engine *e, const char *id, const char *path, size_t max,
			  void **tar_out, size_t *len_out, kc_err_t *err);
/* Extracts a tar (see tarball.h to build one) into directory dir of the container. */
int kc_engine_archive_put(struct kc_engine *e, const char *id, const char *dir, const void *tar,
			  size_t len, kc_err_t *err);

int kc_engine_container_changes(struct kc_engine *e, const char *id, struct kc_change **out,
				size_t *n, kc_err_t *err);
int kc_engine_container_stats(struct kc_engine *e, const char *id, struct kc_stats *out,
			      kc_err_t *err);
/* Streams the container filesystem as tar to sink; at most max bytes (0: 4 GiB). */
int kc_engine_container_export(struct kc_engine *e, const char *id, size_t max, kc_http_sink sink,
			       void *opaque, kc_err_t *err);
/* Both streams of the container's log (docker logs), each at most max bytes
 * (0: 4 MiB, more is dropped); tail < 0: all lines. */
int kc_engine_container_logs(struct kc_engine *e, const char *id, int tail, size_t max,
			     struct kc_exec_result *out, kc_err_t *err);

int kc_engine_volume_remove(struct kc_engine *e, const char *name, bool force, kc_err_t *err);

/* ---- disk usage ---- */

/* What the engine stores (docker system df): image layer bytes, each shared
 * layer counted once, and the writable-layer bytes of containers. */
struct kc_disk_usage {
	int64_t layers_bytes;
	size_t n_containers;
	char **container_ids;
	char **container_names;
	int64_t *container_rw_bytes; /* writable-layer bytes */
};
/* Containers only when their labels match (each {"k", NULL} or {"k", "v"}). */
int kc_engine_disk_usage(struct kc_engine *e, const struct kc_label *labels, size_t n_labels,
			 struct kc_disk_usage *out, kc_err_t *err);
void kc_disk_usage_free(struct kc_disk_usage *d);

#endif
