/* Unit tests of the guard's pure path policy and of tini's exit-code rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "shim/init/guard.h"
#include "shim/init/init.h"
#include "shim/init/text.h"

static void norm(const char *base, const char *p, const char *want)
{
	char out[4096];
	assert_int_equal(kc_path_join_norm(base, p, out, sizeof out), 0);
	assert_string_equal(out, want);
}

static void test_join_norm(void **state)
{
	(void)state;
	norm(NULL, "/etc/passwd", "/etc/passwd");
	norm("/", "etc//x/", "/etc/x");
	norm("/tmp/a", "../b", "/tmp/b");
	norm("/tmp/a", "../../../../etc/x", "/etc/x");
	norm("/tmp", ".", "/tmp");
	norm("/", "..", "/");
	norm("/a/./b", "./c/../d", "/a/b/d");
	norm("/tmp", "/abs/../etc", "/etc");
	char small[4];
	assert_int_equal(kc_path_join_norm(NULL, "/long/path", small, sizeof small), -1);
	char out[64];
	assert_int_equal(kc_path_join_norm(NULL, "relative", out, sizeof out), -1);
}

static void test_under(void **state)
{
	(void)state;
	assert_true(kc_path_under("/tmp", "/tmp"));
	assert_true(kc_path_under("/tmp/x/y", "/tmp"));
	assert_false(kc_path_under("/tmpx", "/tmp"));
	assert_false(kc_path_under("/etc/tmp", "/tmp"));
	assert_true(kc_path_under("/anything", "/"));
}

static void test_decide(void **state)
{
	(void)state;
	char *w[] = {"/tmp", "/data"};
	struct kc_guard_policy p = {
	    .mode = KC_GUARD_ENFORCE, .writable = w, .n_writable = 2, .protect = "/tmp/kctl-shim"};
	assert_int_equal(kc_guard_decide(&p, "/tmp/x"), KC_V_ALLOW);
	assert_int_equal(kc_guard_decide(&p, "/data"), KC_V_ALLOW);
	assert_int_equal(kc_guard_decide(&p, "/etc/x"), KC_V_DENY);
	assert_int_equal(kc_guard_decide(&p, "/tmpfoo"), KC_V_DENY);
	assert_int_equal(kc_guard_decide(&p, "/dev/null"), KC_V_ALLOW);
	assert_int_equal(kc_guard_decide(&p, "/proc/1/oom_score_adj"), KC_V_ALLOW);
	assert_int_equal(kc_guard_decide(&p, "/tmp/kctl-shim/baseline"), KC_V_DENY);
	assert_int_equal(kc_guard_decide(&p, "/developer"), KC_V_DENY);
	p.mode = KC_GUARD_AUDIT;
	assert_int_equal(kc_guard_decide(&p, "/etc/x"), KC_V_AUDIT);
	assert_int_equal(kc_guard_decide(&p, "/tmp/kctl-shim/guard.json"), KC_V_AUDIT);
	assert_int_equal(kc_guard_decide(&p, "/tmp/x"), KC_V_ALLOW);
	p.mode = KC_GUARD_OFF;
	assert_int_equal(kc_guard_decide(&p, "/etc/x"), KC_V_ALLOW);
}

static void test_mode(void **state)
{
	(void)state;
	enum kc_guard_mode m;
	kc_err_t err = NULL;
	assert_int_equal(kc_guard_parse_mode("enforce", &m, &err), 0);
	assert_int_equal(m, KC_GUARD_ENFORCE);
	assert_int_equal(kc_guard_parse_mode("off", &m, &err), 0);
	assert_int_equal(m, KC_GUARD_OFF);
	assert_int_equal(kc_guard_parse_mode("Enforce", &m, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_USAGE);
	kc_err_free(&err);
	assert_string_equal(kc_guard_mode_name(KC_GUARD_AUDIT), "audit");
}

static void test_exit_code(void **state)
{
	(void)state;
	/* Wait statuses built the way the kernel encodes them. */
	assert_int_equal(kc_init_exit_code(0), 0);
	assert_int_equal(kc_init_exit_code(42 << 8), 42);
	assert_int_equal(kc_init_exit_code(SIGTERM), 128 + SIGTERM);
	assert_int_equal(kc_init_exit_code(SIGKILL | 0x80), 128 + SIGKILL); /* core flag */
}

static void test_utf8(void **state)
{
	(void)state;
	char *s = kc_utf8_sanitize("/etc/caf\xc3\xa9");
	assert_string_equal(s, "/etc/caf\xc3\xa9");
	free(s);
	s = kc_utf8_sanitize("/a\xff/b\xc3");
	assert_string_equal(s, "/a\\xFF/b\\xC3");
	free(s);
	s = kc_utf8_sanitize("\xed\xa0\x80"); /* a UTF-16 surrogate is not UTF-8 */
	assert_string_equal(s, "\\xED\\xA0\\x80");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_join_norm), cmocka_unit_test(test_under),
	    cmocka_unit_test(test_decide),    cmocka_unit_test(test_mode),
	    cmocka_unit_test(test_exit_code), cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
