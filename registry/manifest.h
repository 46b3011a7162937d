/* OCI / Docker v2 manifest and index parsing, platform selection, and the two
 * small text formats the registry client reads: WWW-Authenticate challenges
 * and docker's config.json `auths`. Pure functions over bytes (no I/O), so
 * they are unit-tested and fuzzed directly. */
#ifndef KC_REGISTRY_MANIFEST_H
#define KC_REGISTRY_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shim/base/error.h"
#include "shim/base/sha256.h"

#define KC_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define KC_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define KC_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define KC_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define KC_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define KC_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define KC_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define KC_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define KC_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"

/* Bounds: manifests are small documents. */
#define KC_MANIFEST_MAX_BYTES (4u << 20)
#define KC_MANIFEST_MAX_ENTRIES 4096

/* A content descriptor: a layer, a config, or an index entry. */
struct kc_descriptor {
	char digest[KC_DIGEST_LEN + 1];
	int64_t size;
	char *media_type;
	/* Index entries only ("" otherwise). */
	char os[32], arch[32], variant[32];
};

enum kc_manifest_kind { KC_MANIFEST_IMAGE = 1, KC_MANIFEST_INDEX };

struct kc_manifest {
	enum kc_manifest_kind kind;
	char *media_type;
	/* Image manifest. */
	struct kc_descriptor config;
	struct kc_descriptor *layers;
	size_t n_layers;
	/* Index / manifest list. */
	struct kc_descriptor *manifests;
	size_t n_manifests;
};

/* True when a media type names an index or a manifest list. */
bool kc_media_type_is_index(const char *mt);

/* Parses a manifest or index. content_type (the HTTP header, parameters
 * allowed; may be NULL) wins over the document's mediaType; with neither,
 * the shape decides. Only sha256 digests are accepted (KC_E_UNSUPPORTED
 * otherwise); schema 1 manifests are KC_E_UNSUPPORTED; malformed documents
 * are KC_E_PROTO. */
int kc_manifest_parse(const char *body, size_t len, const char *content_type,
		      struct kc_manifest *out, kc_err_t *err);
void kc_manifest_free(struct kc_manifest *m);

/* Picks the index entry for os/arch[/variant] (variant NULL: any, preferring
 * an entry without one, then "v1" for amd64, then the first). Attestation
 * entries (platform unknown/unknown) never match. KC_E_NOTFOUND listing the
 * platforms present when none fits. */
int kc_index_select(const struct kc_manifest *idx, const char *os, const char *arch,
		    const char *variant, size_t *out, kc_err_t *err);

/* One challenge from WWW-Authenticate (RFC 7235). Unknown params are skipped. */
struct kc_auth_challenge {
	char scheme[16]; /* "Bearer", "Basic" (as sent) */
	char *realm, *service, *scope, *error;
};
#define KC_AUTH_MAX_CHALLENGES 8

/* Parses one header value (which may hold several challenges separated by
 * commas). Returns the number found (>= 1) or -1 (KC_E_PROTO). */
int kc_auth_parse(const char *value, struct kc_auth_challenge *out, size_t max, kc_err_t *err);
void kc_auth_challenge_free(struct kc_auth_challenge *c);

/* Credentials for `host` from a docker config.json document: the `auths`
 * entry whose key is host, "http(s)://host[/...]", or for docker.io also
 * "https://index.docker.io/v1/". `auth` is base64 "user:password"; plain
 * `username`/`password` fields are accepted too. Returns 1 and sets *user,
 * *password (malloc'd) when found, 0 when there is no entry, -1 on a
 * malformed document or entry (KC_E_INVALID). credsStore/credHelpers are not
 * consulted. */
int kc_docker_config_auth(const char *json, size_t len, const char *host, char **user,
			  char **password, kc_err_t *err);

/* Reads $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json (a missing
 * file means no credentials: returns 0), then as kc_docker_config_auth.
 * config_dir, when not NULL, replaces both. */
int kc_docker_config_load_auth(const char *config_dir, const char *host, char **user,
			       char **password, kc_err_t *err);

#endif
