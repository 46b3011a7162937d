/* SHA-256 against the FIPS 180-2 vectors, one-shot, incremental and by fd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "shim/base/sha256.h"

#define ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_vectors(void **state)
{
	(void)state;
	char out[KC_DIGEST_LEN + 1];
	kc_err_t err = NULL;
	assert_int_equal(kc_sha256_digest("abc", 3, out, &err), 0);
	assert_string_equal(out, ABC);
	assert_int_equal(kc_sha256_digest("", 0, out, &err), 0);
	assert_string_equal(out, EMPTY);
}

static void test_incremental_matches_one_shot(void **state)
{
	(void)state;
	struct kc_sha256 *s;
	kc_err_t err = NULL;
	assert_int_equal(kc_sha256_new(&s, &err), 0);
	kc_sha256_update(s, "a", 1);
	kc_sha256_update(s, "", 0);
	kc_sha256_update(s, "bc", 2);
	uint8_t raw[32];
	kc_sha256_final(s, raw);
	kc_sha256_free(s);
	char hex[KC_SHA256_HEX_LEN + 1];
	kc_sha256_hex(raw, hex);
	assert_string_equal(hex, ABC + 7);
}

static void test_fd(void **state)
{
	(void)state;
	char path[] = "/tmp/kctl-sha-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	/* 3 MiB crosses the 1 MiB read chunk several times. */
	size_t n = 3u << 20;
	char *buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i * 7);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	lseek(fd, 0, SEEK_SET);
	char a[KC_DIGEST_LEN + 1], b[KC_DIGEST_LEN + 1];
	uint64_t bytes = 0;
	kc_err_t err = NULL;
	assert_int_equal(kc_sha256_fd(fd, a, &bytes, &err), 0);
	assert_int_equal(bytes, n);
	assert_int_equal(kc_sha256_digest(buf, n, b, &err), 0);
	assert_string_equal(a, b);
	close(fd);
	unlink(path);
	free(buf);
	assert_int_equal(kc_sha256_fd(-1, a, NULL, &err), -1);
	assert_non_null(err);
	kc_err_free(&err);
}

static void test_digest_valid(void **state)
{
	(void)state;
	assert_true(kc_digest_valid(ABC));
	assert_false(kc_digest_valid("sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(kc_digest_valid("sha256:ba78"));
	assert_false(kc_digest_valid("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(kc_digest_valid(ABC "0"));
	assert_false(kc_digest_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_incremental_matches_one_shot),
		cmocka_unit_test(test_fd),
		cmocka_unit_test(test_digest_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
