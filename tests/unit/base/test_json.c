/* JSON pointer lookups on well-formed and malformed documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "shim/base/json.h"

static const char doc[] = "{\"Id\":\"abc\",\"State\":{\"Running\":true,\"Pid\":42,"
			  "\"Health\":{\"Status\":\"healthy\"}},"
			  "\"Config\":{\"Labels\":{\"io.kctl.app\":\"web\",\"a/b\":\"slash\","
			  "\"t~x\":\"tilde\"}},"
			  "\"Mounts\":[{\"Name\":\"data\"},{\"Name\":\"logs\"}],"
			  "\"Ratio\":0.5,\"Nothing\":null}";

static yajl_val parse(const char *s)
{
	yajl_val v = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_json_parse(s, strlen(s), &v, &err), 0);
	assert_null(err);
	return v;
}

static void expect_error(int rc, kc_err_t *err, const char *want)
{
	assert_int_equal(rc, -1);
	assert_non_null(*err);
	char *s = kc_err_string(*err);
	if (!strstr(s, want))
		fail_msg("error \"%s\" does not contain \"%s\"", s, want);
	free(s);
	kc_err_free(err);
}

static void test_typed_lookups(void **state)
{
	(void)state;
	yajl_val v = parse(doc);
	kc_err_t err = NULL;
	const char *s;
	int64_t i;
	bool b;
	double d;
	assert_int_equal(kc_json_get_str(v, "/Id", &s, &err), 0);
	assert_string_equal(s, "abc");
	assert_int_equal(kc_json_get_int(v, "/State/Pid", &i, &err), 0);
	assert_int_equal(i, 42);
	assert_int_equal(kc_json_get_bool(v, "/State/Running", &b, &err), 0);
	assert_true(b);
	assert_int_equal(kc_json_get_str(v, "/State/Health/Status", &s, &err), 0);
	assert_string_equal(s, "healthy");
	assert_int_equal(kc_json_get_str(v, "/Config/Labels/io.kctl.app", &s, &err), 0);
	assert_string_equal(s, "web");
	assert_int_equal(kc_json_get_str(v, "/Config/Labels/a~1b", &s, &err), 0);
	assert_string_equal(s, "slash");
	assert_int_equal(kc_json_get_str(v, "/Config/Labels/t~0x", &s, &err), 0);
	assert_string_equal(s, "tilde");
	assert_int_equal(kc_json_get_str(v, "/Mounts/1/Name", &s, &err), 0);
	assert_string_equal(s, "logs");
	assert_int_equal(kc_json_get_double(v, "/Ratio", &d, &err), 0);
	assert_true(d > 0.49 && d < 0.51);
	assert_int_equal(kc_json_get_double(v, "/State/Pid", &d, &err), 0);
	assert_true(d > 41.9 && d < 42.1);
	yajl_val arr;
	assert_int_equal(kc_json_get_arr(v, "/Mounts", &arr, &err), 0);
	assert_int_equal(arr->u.array.len, 2);
	assert_ptr_equal(kc_json_find(v, ""), v);
	yajl_tree_free(v);
}

static void test_errors_name_the_path(void **state)
{
	(void)state;
	yajl_val v = parse(doc);
	kc_err_t err = NULL;
	const char *s;
	int64_t i;
	bool b;
	yajl_val o;
	expect_error(kc_json_get_str(v, "/State/Missing", &s, &err), &err,
		     "JSON /State/Missing: missing");
	expect_error(kc_json_get_int(v, "/Id", &i, &err), &err,
		     "JSON /Id: expected integer, got string");
	expect_error(kc_json_get_int(v, "/Ratio", &i, &err), &err, "expected integer, got number");
	expect_error(kc_json_get_bool(v, "/Mounts", &b, &err), &err,
		     "JSON /Mounts: expected boolean, got array");
	expect_error(kc_json_get_obj(v, "/Mounts/0/Name", &o, &err), &err,
		     "expected object, got string");
	expect_error(kc_json_get_str(v, "/Mounts/2/Name", &s, &err), &err, "missing");
	expect_error(kc_json_get_str(v, "/Mounts/01/Name", &s, &err), &err, "missing");
	expect_error(kc_json_get_str(v, "/Mounts/x", &s, &err), &err, "missing");
	expect_error(kc_json_get_str(v, "/Id/deeper", &s, &err), &err, "missing");
	expect_error(kc_json_get_str(v, "/Nothing", &s, &err), &err, "JSON /Nothing: is null");
	expect_error(kc_json_get_str(v, "Id", &s, &err), &err, "missing");
	yajl_tree_free(v);
}

static void test_optional_lookups(void **state)
{
	(void)state;
	yajl_val v = parse(doc);
	kc_err_t err = NULL;
	const char *s = "untouched";
	int64_t i = 7;
	assert_int_equal(kc_json_opt_str(v, "/NoSuch", &s, &err), 0);
	assert_string_equal(s, "untouched");
	assert_int_equal(kc_json_opt_str(v, "/Nothing", &s, &err), 0);
	assert_int_equal(kc_json_opt_int(v, "/State/Pid", &i, &err), 0);
	assert_int_equal(i, 42);
	/* A wrong type is still an error when the key is optional. */
	expect_error(kc_json_opt_int(v, "/Id", &i, &err), &err, "expected integer");
	yajl_tree_free(v);
}

static void test_malformed_documents(void **state)
{
	(void)state;
	const char *bad[] = {"", "{", "{\"a\":}", "[1,2", "{\"a\" 1}", "nul", "{\"a\":\"\\x\"}"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		yajl_val v = NULL;
		kc_err_t err = NULL;
		expect_error(kc_json_parse(bad[i], strlen(bad[i]), &v, &err), &err,
			     "invalid JSON");
		assert_null(v);
	}
	/* An embedded NUL would silently truncate the document. */
	yajl_val v = NULL;
	kc_err_t err = NULL;
	expect_error(kc_json_parse("{}\0{}", 5, &v, &err), &err, "NUL byte at offset 2");
	/* Deep nesting is refused before yajl recurses on it. */
	char deep[600];
	memset(deep, '[', 300);
	memset(deep + 300, ']', 300);
	expect_error(kc_json_parse(deep, 600, &v, &err), &err, "nested deeper");
	/* Brackets inside strings do not count as nesting. */
	char str[400];
	str[0] = '"';
	memset(str + 1, '[', 397);
	str[398] = '"';
	str[399] = '\0';
	assert_int_equal(kc_json_parse(str, strlen(str), &v, &err), 0);
	yajl_tree_free(v);
}

static void test_generate_roundtrip(void **state)
{
	(void)state;
	yajl_val v = parse(doc);
	yajl_gen g = kc_jgen_new(false);
	kc_jgen_value(g, v);
	size_t len;
	char *out = kc_jgen_finish(g, &len);
	yajl_gen_free(g);
	yajl_val again = parse(out);
	const char *s;
	kc_err_t err = NULL;
	assert_int_equal(kc_json_get_str(again, "/Config/Labels/io.kctl.app", &s, &err), 0);
	assert_string_equal(s, "web");
	free(out);
	yajl_tree_free(again);
	yajl_tree_free(v);

	g = kc_jgen_new(false);
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "q", "a\"b\n");
	kc_jgen_kv_int(g, "n", -5);
	kc_jgen_kv_bool(g, "t", true);
	kc_jgen_kv_str(g, "z", NULL);
	kc_jgen_kv_str(g, "bad", "\xff\xfe");
	char *list[] = {"a", "b", NULL};
	kc_jgen_kv_strv(g, "l", list);
	kc_jgen_kv_strv(g, "e", NULL);
	kc_jgen_kv_ms(g, "ms", 12);
	kc_jgen_kv_ms(g, "none", -1);
	yajl_gen_map_close(g);
	out = kc_jgen_finish(g, NULL);
	yajl_gen_free(g);
	assert_string_equal(out, "{\"q\":\"a\\\"b\\n\",\"n\":-5,\"t\":true,\"z\":null,"
				 "\"bad\":\"\xef\xbf\xbd\",\"l\":[\"a\",\"b\"],\"e\":[],"
				 "\"ms\":12,\"none\":null}");
	free(out);
}

static void test_path_join_escapes(void **state)
{
	(void)state;
	char *p = kc_json_path_join("/Config/Labels", "a/b~c");
	assert_string_equal(p, "/Config/Labels/a~1b~0c");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_typed_lookups),
		cmocka_unit_test(test_errors_name_the_path),
		cmocka_unit_test(test_optional_lookups),
		cmocka_unit_test(test_malformed_documents),
		cmocka_unit_test(test_generate_roundtrip),
		cmocka_unit_test(test_path_join_escapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
