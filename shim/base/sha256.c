/* SHA-256 through OpenSSL EVP: see sha256.h. */
#include "sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

struct kc_sha256 {
	EVP_MD_CTX *ctx;
};

int kc_sha256_new(struct kc_sha256 **out, kc_err_t *err)
{
	struct kc_sha256 *s = calloc(1, sizeof *s);
	if (!s)
		return kc_err_sys(err, ENOMEM, "sha256");
	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1) {
		kc_sha256_free(s);
		return kc_err_new(err, KC_E_GENERIC, "sha256: OpenSSL digest init failed");
	}
	*out = s;
	return 0;
}

void kc_sha256_update(struct kc_sha256 *s, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(s->ctx, data, len);
}

void kc_sha256_final(struct kc_sha256 *s, uint8_t out[32])
{
	unsigned int n = 32;
	EVP_DigestFinal_ex(s->ctx, out, &n);
}

void kc_sha256_free(struct kc_sha256 *s)
{
	if (!s)
		return;
	EVP_MD_CTX_free(s->ctx);
	free(s);
}

void kc_sha256_hex(const uint8_t raw[32], char out[KC_SHA256_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[KC_SHA256_HEX_LEN] = '\0';
}

static void format_digest(const uint8_t raw[32], char out[KC_DIGEST_LEN + 1])
{
	memcpy(out, "sha256:", 7);
	kc_sha256_hex(raw, out + 7);
}

int kc_sha256_digest(const void *data, size_t len, char out[KC_DIGEST_LEN + 1], kc_err_t *err)
{
	uint8_t raw[32];
	unsigned int n = 32;
	if (EVP_Digest(data, len, raw, &n, EVP_sha256(), NULL) != 1)
		return kc_err_new(err, KC_E_GENERIC, "sha256: OpenSSL digest failed");
	format_digest(raw, out);
	return 0;
}

int kc_sha256_fd(int fd, char out[KC_DIGEST_LEN + 1], uint64_t *bytes, kc_err_t *err)
{
	struct kc_sha256 *s = NULL;
	if (kc_sha256_new(&s, err) < 0)
		return -1;
	/* Large reads keep the hashing, not the syscalls, the cost. */
	enum { CHUNK = 1 << 20 };
	uint8_t *buf = malloc(CHUNK);
	if (!buf) {
		kc_sha256_free(s);
		return kc_err_sys(err, ENOMEM, "sha256");
	}
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			kc_sha256_free(s);
			return kc_err_sys(err, e, "sha256: read");
		}
		if (n == 0)
			break;
		kc_sha256_update(s, buf, (size_t)n);
		total += (uint64_t)n;
	}
	free(buf);
	uint8_t raw[32];
	kc_sha256_final(s, raw);
	kc_sha256_free(s);
	format_digest(raw, out);
	if (bytes)
		*bytes = total;
	return 0;
}

int kc_digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0)
		return 0;
	s += 7;
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == KC_SHA256_HEX_LEN;
}
