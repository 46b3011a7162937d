/* kc_duration_parse / kc_duration_format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "shim/base/duration.h"

static int64_t ok(const char *s)
{
	int64_t ms = -1;
	kc_err_t err = NULL;
	assert_int_equal(kc_duration_parse(s, &ms, &err), 0);
	return ms;
}

static void bad(const char *s)
{
	int64_t ms = -1;
	kc_err_t err = NULL;
	assert_true(kc_duration_parse(s, &ms, &err) < 0);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	assert_int_equal(ms, -1);
	kc_err_free(&err);
}

static void test_parse(void **state)
{
	(void)state;
	assert_int_equal(ok("30s"), 30000);
	assert_int_equal(ok("2m"), 120000);
	assert_int_equal(ok("1h30m"), 5400000);
	assert_int_equal(ok("500ms"), 500);
	assert_int_equal(ok("1.5s"), 1500);
	assert_int_equal(ok("0.25m"), 15000);
	assert_int_equal(ok("1m30s250ms"), 90250);
	assert_int_equal(ok("0"), 0);
	assert_int_equal(ok("0s"), 0);
	assert_int_equal(ok("1.0005s"), 1001);
	bad("");
	bad("30");
	bad("s");
	bad("-5s");
	bad("5x");
	bad("1d");
	bad("5 s");
	bad(".s");
	bad("99999999999999999999h");
	bad("9000h");
}

static void test_format(void **state)
{
	(void)state;
	char b[32];
	assert_string_equal(kc_duration_format(0, b, sizeof b), "0s");
	assert_string_equal(kc_duration_format(250, b, sizeof b), "250ms");
	assert_string_equal(kc_duration_format(30000, b, sizeof b), "30s");
	assert_string_equal(kc_duration_format(5400000, b, sizeof b), "1h30m");
	assert_string_equal(kc_duration_format(125500, b, sizeof b), "2m5.5s");
	assert_string_equal(kc_duration_format(1001, b, sizeof b), "1.001s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
