/* Image references by the Docker reference grammar (distribution/reference):
 * [domain[:port]/]path[:tag][@digest], normalized the way docker does it
 * (docker.io, library/ for one-component names, tag "latest" when neither a
 * tag nor a digest is given). Parsing is by hand; the struct holds fixed-size
 * fields, so nothing needs freeing. */
#ifndef KC_REGISTRY_REFERENCE_H
#define KC_REGISTRY_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "shim/base/error.h"

#define KC_REF_NAME_MAX 255 /* domain + "/" + path, as distribution counts it */
#define KC_REF_TAG_MAX 128
#define KC_REF_DIGEST_MAX 135 /* "sha512:" + 128 hex */
#define KC_REF_DEFAULT_DOMAIN "docker.io"
#define KC_REF_DEFAULT_TAG "latest"

struct kc_ref {
	char domain[KC_REF_NAME_MAX + 1];   /* "docker.io", "127.0.0.1:5000", "[::1]:5000" */
	char path[KC_REF_NAME_MAX + 1];	    /* "library/busybox" */
	char tag[KC_REF_TAG_MAX + 1];	    /* "" when only a digest was given */
	char digest[KC_REF_DIGEST_MAX + 1]; /* "" when none: "sha256:<64 hex>" */
	bool tag_defaulted;		    /* tag is "latest" because none was written */
};

/* Parses and normalizes s. Errors are KC_E_INVALID, with docker's wording
 * ("invalid reference format: repository name must be lowercase", ...). */
int kc_ref_parse(const char *s, struct kc_ref *out, kc_err_t *err);

/* Each writer returns the length it needed (snprintf style); a buffer of
 * KC_REF_STRING_MAX always suffices. */
#define KC_REF_STRING_MAX (KC_REF_NAME_MAX + 1 + KC_REF_TAG_MAX + 1 + KC_REF_DIGEST_MAX + 1)

/* "domain/path" ("docker.io/library/busybox"). */
size_t kc_ref_name(const struct kc_ref *r, char *buf, size_t cap);
/* Canonical: "docker.io/library/busybox:latest", "h:5000/a/b:t@sha256:...". */
size_t kc_ref_canonical(const struct kc_ref *r, char *buf, size_t cap);
/* Familiar, as docker prints it: "busybox:latest", "user/app:1",
 * "127.0.0.1:5000/app@sha256:..." (docker.io/ and library/ dropped). */
size_t kc_ref_familiar(const struct kc_ref *r, char *buf, size_t cap);
/* Pinned form "domain/path@digest" for the given digest (NULL: r->digest). */
size_t kc_ref_pinned(const struct kc_ref *r, const char *digest, char *buf, size_t cap);

/* The tag or digest to ask the registry for: the digest when there is one. */
const char *kc_ref_lookup(const struct kc_ref *r);

/* True for a syntactically valid digest "algo:hex" with a known algorithm
 * (sha256: 64, sha384: 96, sha512: 128 lowercase hex). */
bool kc_ref_digest_valid(const char *s);
/* True for a tag matching [\w][\w.-]{0,127}. */
bool kc_ref_tag_valid(const char *s);

#endif
