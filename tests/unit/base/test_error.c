/* Error chains: creation, wrapping, kinds, printing once at the top. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "shim/base/error.h"

static int open_config(const char *path, kc_err_t *err)
{
	return kc_err_sys(err, ENOENT, "open %s", path);
}

static int load(const char *path, kc_err_t *err)
{
	if (open_config(path, err) < 0)
		return kc_err_wrap(err, "loading manifest");
	return 0;
}

static void test_chain_order_and_kind(void **state)
{
	(void)state;
	kc_err_t err = NULL;
	assert_int_equal(load("/nope.yaml", &err), -1);
	assert_non_null(err);
	assert_int_equal(kc_err_kind(err), KC_E_IO);
	assert_int_equal(err->cause->sys_errno, ENOENT);
	char *s = kc_err_string(err);
	assert_string_equal(s, "loading manifest: open /nope.yaml: No such file or directory");
	free(s);
	kc_err_free(&err);
	assert_null(err);
}

static void test_wrap_keeps_kind_and_http_status(void **state)
{
	(void)state;
	kc_err_t err = NULL;
	kc_err_new(&err, KC_E_NOTFOUND, "No such container: abc");
	err->http_status = 404;
	kc_err_wrap(&err, "inspect %s", "abc");
	kc_err_wrap(&err, "rollout");
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	assert_int_equal(kc_err_http_status(err), 404);
	char *s = kc_err_string(err);
	assert_string_equal(s, "rollout: inspect abc: No such container: abc");
	free(s);
	kc_err_free(&err);
}

static void test_new_on_top_of_existing(void **state)
{
	(void)state;
	kc_err_t err = NULL;
	kc_err_new(&err, KC_E_UNAVAIL, "cannot connect");
	kc_err_new(&err, KC_E_TIMEOUT, "gave up");
	assert_int_equal(kc_err_kind(err), KC_E_TIMEOUT);
	assert_int_equal(kc_err_kind(err->cause), KC_E_UNAVAIL);
	kc_err_free(&err);
}

static void test_print_once_with_prog(void **state)
{
	(void)state;
	kc_err_t err = NULL;
	kc_err_new(&err, KC_E_INVALID, "bad reference \"%s\"", "A:B:C");
	char buf[256] = {0};
	FILE *f = fmemopen(buf, sizeof buf - 1, "w");
	kc_err_print(err, "kctl", f);
	fclose(f);
	assert_string_equal(buf, "kctl: bad reference \"A:B:C\"\n");
	kc_err_free(&err);
}

static void test_null_err_pointer_is_tolerated(void **state)
{
	(void)state;
	assert_int_equal(kc_err_new(NULL, KC_E_GENERIC, "dropped"), -1);
	assert_int_equal(kc_err_wrap(NULL, "dropped"), -1);
	kc_err_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_order_and_kind),
		cmocka_unit_test(test_wrap_keeps_kind_and_http_status),
		cmocka_unit_test(test_new_on_top_of_existing),
		cmocka_unit_test(test_print_once_with_prog),
		cmocka_unit_test(test_null_err_pointer_is_tolerated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
