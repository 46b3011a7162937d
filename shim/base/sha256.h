/* SHA-256 through OpenSSL's EVP (hardware accelerated where the CPU allows).
 * Digests print as "sha256:<64 hex>" (KC_DIGEST_LEN chars + NUL). */
#ifndef KC_BASE_SHA256_H
#define KC_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define KC_SHA256_HEX_LEN 64
#define KC_DIGEST_LEN (7 + KC_SHA256_HEX_LEN) /* "sha256:" + hex */

struct kc_sha256; /* opaque incremental state */

int kc_sha256_new(struct kc_sha256 **out, kc_err_t *err);
void kc_sha256_update(struct kc_sha256 *s, const void *data, size_t len);
/* Writes the raw 32-byte digest, resets nothing; call once. */
void kc_sha256_final(struct kc_sha256 *s, uint8_t out[32]);
void kc_sha256_free(struct kc_sha256 *s);

void kc_sha256_hex(const uint8_t raw[32], char out[KC_SHA256_HEX_LEN + 1]);
/* One-shot: "sha256:<hex>" of a buffer. */
int kc_sha256_digest(const void *data, size_t len, char out[KC_DIGEST_LEN + 1], kc_err_t *err);
/* One-shot over a file descriptor (reads to EOF). */
int kc_sha256_fd(int fd, char out[KC_DIGEST_LEN + 1], uint64_t *bytes, kc_err_t *err);
/* True when s is "sha256:" followed by 64 lowercase hex digits. */
int kc_digest_valid(const char *s);

#endif
