/* OCI distribution client: resolves a reference to a digest (manifest or
 * index, linux/amd64 picked from an index), fetches blobs with digest
 * verification, authenticates (anonymous, Basic, Bearer token flow with
 * credentials from docker's config.json), and builds an image's file index
 * from its layers. Plain http is used only for loopback registries
 * (127.0.0.0/8, localhost, ::1); https otherwise. One client may talk to
 * several registries (one connection and one token per registry, reused);
 * its HTTP counters feed the cost meter. A client is used by one thread at a
 * time.
 *
 * Pinning choice: `digest` in the result is what `repo@digest` should name.
 * When the reference points at an index / manifest list it is the index
 * digest (as docker records RepoDigests and pulls repo@digest), so pinning
 * keeps multi-platform images whole; `manifest_digest` is the linux/amd64
 * image manifest inside it. For a plain manifest both are equal. */
#ifndef KC_REGISTRY_REGISTRY_H
#define KC_REGISTRY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

#include "registry/fileindex.h"
#include "registry/manifest.h"
#include "registry/reference.h"
#include "shim/base/error.h"
#include "shim/base/http.h"
#include "shim/base/log.h"

struct kc_registry_opts {
	const char *docker_config_dir; /* NULL: $DOCKER_CONFIG, else ~/.docker */
	const char *ca_file;	       /* extra CA for https registries; NULL: system store */
	long connect_timeout_ms;       /* 0: 5000 */
	long timeout_ms;	       /* per request; 0: 60000 */
	int max_retries;	       /* transport retries; 0: 2, -1: none */
	const char *os, *arch;	       /* platform to pick from an index; NULL: linux, amd64 */
	const struct kc_log *log;
};

struct kc_registry;

int kc_registry_new(const struct kc_registry_opts *opts, struct kc_registry **out, kc_err_t *err);
void kc_registry_free(struct kc_registry *r);
/* Sum of the HTTP counters of every registry (and token realm) talked to. */
void kc_registry_stats(const struct kc_registry *r, struct kc_http_stats *out);

struct kc_image_info {
	struct kc_ref ref;
	char reference[KC_REF_STRING_MAX];	 /* canonical reference asked for */
	char digest[KC_DIGEST_LEN + 1];		 /* to pin (see above) */
	char manifest_digest[KC_DIGEST_LEN + 1]; /* the platform's image manifest */
	char index_digest[KC_DIGEST_LEN + 1];	 /* "" unless the ref named an index */
	char media_type[128];			 /* of `digest` */
	char manifest_media_type[128];
	char platform[80]; /* "linux/amd64": the index entry's, else the config blob's */
	struct kc_descriptor config;
	struct kc_descriptor *layers; /* base layer first */
	size_t n_layers;
};
void kc_image_info_free(struct kc_image_info *info);

/* Resolves a parsed reference: HEAD then GET of /v2/<name>/manifests/<tag or
 * digest>, sha256 of the bytes checked against Docker-Content-Digest (and
 * against the reference's own digest): mismatch is KC_E_DIGEST. Errors:
 * KC_E_NOTFOUND "manifest unknown: host/name:tag", KC_E_UNAVAIL naming
 * host:port, KC_E_AUTH on 401/403 after authenticating, KC_E_UNSUPPORTED for
 * schema 1 or non-sha256 digests. */
int kc_registry_resolve(struct kc_registry *r, const struct kc_ref *ref, struct kc_image_info *out,
			kc_err_t *err);

/* One call for the CLI: parse, make a client, resolve, free the client.
 * stats (may be NULL) receives the HTTP counters. opts may be NULL. */
int kc_image_resolve(const char *reference, const struct kc_registry_opts *opts,
		     struct kc_image_info *out, struct kc_http_stats *stats, kc_err_t *err);

/* {"reference","digest","mediaType","platform","manifestDigest",
 *  "indexDigest"(null when none),"config":{...},"layers":[{digest,size,mediaType}]}
 * kc_image_info_gen writes it into an open generator (for embedding). */
void kc_image_info_gen(yajl_gen g, const struct kc_image_info *info);
char *kc_image_info_to_json(const struct kc_image_info *info, bool pretty);

/* Raw manifest by tag or digest, digest-verified (as resolve, no index
 * walking). body is NUL-terminated; media_type is the bare media type. */
int kc_registry_get_manifest(struct kc_registry *r, const struct kc_ref *ref,
			     const char *tag_or_digest, char **body, size_t *len,
			     char media_type[128], char digest[KC_DIGEST_LEN + 1], kc_err_t *err);

/* Streams blob `digest` of ref's repository into sink, hashing on the fly;
 * more than max_size bytes is KC_E_TOOBIG, a hash mismatch KC_E_DIGEST, a
 * missing blob KC_E_NOTFOUND. Redirects (to a blob store) are followed
 * without the registry's credentials. On any error the sink may have seen
 * part of the data: the caller discards it. */
int kc_registry_fetch_blob(struct kc_registry *r, const struct kc_ref *ref, const char *digest,
			   uint64_t max_size, kc_http_sink sink, void *opaque, kc_err_t *err);
/* Same into a file descriptor (written from the current offset). */
int kc_registry_fetch_blob_fd(struct kc_registry *r, const struct kc_ref *ref, const char *digest,
			      uint64_t max_size, int fd, uint64_t *written, kc_err_t *err);
/* Same into memory (NUL-terminated for convenience). */
int kc_registry_fetch_blob_mem(struct kc_registry *r, const struct kc_ref *ref, const char *digest,
			       uint64_t max_size, char **out, size_t *len, kc_err_t *err);

/* Builds the file index of a resolved image: fetches each layer (verified,
 * at most max_layer_bytes each, 0: 1 GiB) into an unlinked temporary file
 * under $TMPDIR and applies it in order (see fileindex.h). */
int kc_registry_file_index(struct kc_registry *r, const struct kc_image_info *info,
			   uint64_t max_layer_bytes, struct kc_file_index **out, kc_err_t *err);

/* True for hosts plain http is allowed to: 127.0.0.0/8, localhost, ::1
 * (host may carry a port or IPv6 brackets). */
bool kc_registry_host_is_loopback(const char *host);

#endif
