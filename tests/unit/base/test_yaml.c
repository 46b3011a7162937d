/* kc_yaml: scalar resolution, structure, positions, multi-document, JSON input, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim/base/json.h"
#include "shim/base/yaml.h"

static struct kc_yaml *parse_ok(const char *s)
{
	struct kc_yaml *y = NULL;
	kc_err_t err = NULL;
	int rc = kc_yaml_parse(s, strlen(s), "t.yaml", &y, &err);
	if (rc < 0) {
		char *m = kc_err_string(err);
		print_error("unexpected error: %s\n", m);
		free(m);
		kc_err_free(&err);
	}
	assert_int_equal(rc, 0);
	return y;
}

/* Parses expecting failure; returns the message (caller frees). */
static char *parse_err(const char *s)
{
	struct kc_yaml *y = NULL;
	kc_err_t err = NULL;
	int rc = kc_yaml_parse(s, strlen(s), "t.yaml", &y, &err);
	assert_true(rc < 0);
	assert_null(y);
	char *m = kc_err_string(err);
	kc_err_free(&err);
	return m;
}

static void test_scalars(void **state)
{
	(void)state;
	struct kc_yaml *y = parse_ok("a: 1\nb: -0x1F\nc: 0755\nd: 1_000\ne: 1.5\nf: 1e3\n"
				     "g: true\nh: yes\ni: Off\nj: ~\nk:\nl: null\nm: \"1\"\n"
				     "n: 'true'\no: !!str 42\np: hello world\nq: 0o17\nr: .5\n"
				     "s: 08\nt: 99999999999999999999\nu: 0b101\nv: 12abc\n");
	assert_int_equal(y->ndocs, 1);
	yajl_val r = y->docs[0].root;
	int64_t i;
	double d;
	const char *s;
	bool b;
	kc_err_t err = NULL;
	assert_int_equal(kc_json_get_int(r, "/a", &i, &err), 0);
	assert_int_equal(i, 1);
	assert_int_equal(kc_json_get_int(r, "/b", &i, &err), 0);
	assert_int_equal(i, -31);
	assert_int_equal(kc_json_get_int(r, "/c", &i, &err), 0);
	assert_int_equal(i, 0755);
	assert_int_equal(kc_json_get_int(r, "/d", &i, &err), 0);
	assert_int_equal(i, 1000);
	assert_int_equal(kc_json_get_double(r, "/e", &d, &err), 0);
	assert_true(d == 1.5);
	assert_false(YAJL_IS_INTEGER(kc_json_find(r, "/e")));
	assert_int_equal(kc_json_get_double(r, "/f", &d, &err), 0);
	assert_true(d == 1000.0);
	assert_int_equal(kc_json_get_bool(r, "/g", &b, &err), 0);
	assert_true(b);
	assert_int_equal(kc_json_get_bool(r, "/h", &b, &err), 0);
	assert_true(b);
	assert_int_equal(kc_json_get_bool(r, "/i", &b, &err), 0);
	assert_false(b);
	assert_true(YAJL_IS_NULL(kc_json_find(r, "/j")));
	assert_true(YAJL_IS_NULL(kc_json_find(r, "/k")));
	assert_true(YAJL_IS_NULL(kc_json_find(r, "/l")));
	assert_int_equal(kc_json_get_str(r, "/m", &s, &err), 0);
	assert_string_equal(s, "1");
	assert_int_equal(kc_json_get_str(r, "/n", &s, &err), 0);
	assert_string_equal(s, "true");
	assert_int_equal(kc_json_get_str(r, "/o", &s, &err), 0);
	assert_string_equal(s, "42");
	assert_int_equal(kc_json_get_str(r, "/p", &s, &err), 0);
	assert_string_equal(s, "hello world");
	assert_int_equal(kc_json_get_int(r, "/q", &i, &err), 0);
	assert_int_equal(i, 15);
	assert_int_equal(kc_json_get_double(r, "/r", &d, &err), 0);
	assert_true(d == 0.5);
	/* Not octal: a float, as Go's reader makes it. */
	assert_int_equal(kc_json_get_double(r, "/s", &d, &err), 0);
	assert_true(d == 8.0);
	assert_false(YAJL_IS_INTEGER(kc_json_find(r, "/t")));
	assert_int_equal(kc_json_get_int(r, "/u", &i, &err), 0);
	assert_int_equal(i, 5);
	assert_int_equal(kc_json_get_str(r, "/v", &s, &err), 0);
	assert_string_equal(s, "12abc");
	assert_null(err);
	kc_yaml_free(y);
}

static void test_positions(void **state)
{
	(void)state;
	struct kc_yaml *y = parse_ok("# comment\n"
				     "spec:\n"
				     "  template:\n"
				     "    containers:\n"
				     "      - name: app\n"
				     "        image: x\n"
				     "      - name: two\n"
				     "  weird.key:\n"
				     "    a: 1\n");
	const struct kc_yaml_doc *d = &y->docs[0];
	assert_int_equal(kc_yaml_line(d, ""), 2);
	assert_int_equal(kc_yaml_line(d, "/spec"), 2);
	assert_int_equal(kc_yaml_line(d, "/spec/template/containers"), 4);
	assert_int_equal(kc_yaml_line(d, "/spec/template/containers/0"), 5);
	assert_int_equal(kc_yaml_line(d, "/spec/template/containers/0/image"), 6);
	assert_int_equal(kc_yaml_line(d, "/spec/template/containers/1/name"), 7);
	assert_int_equal(kc_yaml_line(d, "/spec/nope"), 0);
	const struct kc_yaml_pos *p = kc_yaml_pos(d, "/spec/template/containers/0/image");
	assert_non_null(p);
	assert_string_equal(p->display, "spec.template.containers[0].image");
	assert_int_equal(p->col, 9);
	p = kc_yaml_pos(d, "/spec/weird.key/a");
	assert_non_null(p);
	assert_string_equal(p->display, "spec[weird.key].a");
	assert_int_equal(p->line, 9);
	kc_yaml_free(y);
}

static void test_multi_doc(void **state)
{
	(void)state;
	struct kc_yaml *y = parse_ok("---\na: 1\n---\n---\n- x\n- y\n...\n---\nb: [1, {c: d}]\n");
	assert_int_equal(y->ndocs, 3); /* the empty one is skipped */
	assert_true(YAJL_IS_ARRAY(y->docs[1].root));
	assert_int_equal(kc_yaml_line(&y->docs[2], "/b/1/c"), 9);
	const char *s;
	kc_err_t err = NULL;
	assert_int_equal(kc_json_get_str(y->docs[2].root, "/b/1/c", &s, &err), 0);
	assert_string_equal(s, "d");
	kc_yaml_free(y);

	y = parse_ok("");
	assert_int_equal(y->ndocs, 0);
	kc_yaml_free(y);
	y = parse_ok("# only a comment\n");
	assert_int_equal(y->ndocs, 0);
	kc_yaml_free(y);
}

static void test_json_input(void **state)
{
	(void)state;
	const char *j = "{\n  \"apiVersion\": \"apps/v1\",\n  \"spec\": {\"replicas\": 3,"
			"\"x\":[1,2.5,true,null,\"s\"],\"compact\":{\"a\":\"b\"}}\n}\n";
	struct kc_yaml *y = parse_ok(j);
	yajl_val r = y->docs[0].root;
	int64_t i;
	kc_err_t err = NULL;
	assert_int_equal(kc_json_get_int(r, "/spec/replicas", &i, &err), 0);
	assert_int_equal(i, 3);
	assert_true(YAJL_IS_NULL(kc_json_find(r, "/spec/x/3")));
	const char *s;
	assert_int_equal(kc_json_get_str(r, "/spec/compact/a", &s, &err), 0);
	assert_string_equal(s, "b");
	assert_int_equal(kc_yaml_line(&y->docs[0], "/spec/replicas"), 3);
	/* Regenerating gives valid JSON that yajl reads back. */
	yajl_gen g = kc_jgen_new(false);
	kc_jgen_value(g, r);
	size_t len;
	char *out = kc_jgen_finish(g, &len);
	yajl_gen_free(g);
	yajl_val back = NULL;
	assert_int_equal(kc_json_parse(out, len, &back, &err), 0);
	yajl_tree_free(back);
	free(out);
	kc_yaml_free(y);

	/* Tabs are JSON whitespace. */
	y = parse_ok("{\n\t\"a\": 1,\n\t\"b\": [\n\t\t2\n\t]\n}\n");
	assert_int_equal(kc_yaml_line(&y->docs[0], "/b/0"), 4);
	kc_yaml_free(y);
}

static void test_errors(void **state)
{
	(void)state;
	char *m = parse_err("a: 1\nb: [1, 2\nc: 3\n");
	assert_non_null(strstr(m, "t.yaml:"));
	free(m);
	m = parse_err("a: 1\n  b: 2\n");
	assert_non_null(strstr(m, "t.yaml:2:"));
	free(m);
	m = parse_err("a: &x 1\nb: *x\n");
	assert_non_null(strstr(m, "t.yaml:1:"));
	assert_non_null(strstr(m, "anchors"));
	free(m);
	m = parse_err("a: 1\nb: 2\na: 3\n");
	assert_non_null(strstr(m, "t.yaml:3:"));
	assert_non_null(strstr(m, "duplicate key \"a\""));
	free(m);
	m = parse_err("x:\n  y: .inf\n");
	assert_non_null(strstr(m, "t.yaml:2:"));
	free(m);
	m = parse_err("? [a, b]\n: 1\n");
	assert_non_null(strstr(m, "as a key"));
	free(m);
	m = parse_err("a: !!binary aGVsbG8=\n");
	assert_non_null(strstr(m, "tag"));
	free(m);
	m = parse_err("a: \"x\\0y\"\n");
	assert_non_null(strstr(m, "NUL"));
	free(m);
	/* Nesting past the limit is refused, not recursed into. */
	char deep[400];
	memset(deep, '[', 300);
	deep[300] = '\0';
	m = parse_err(deep);
	assert_non_null(strstr(m, "nested"));
	free(m);
}

static void test_load_file(void **state)
{
	(void)state;
	char path[] = "/tmp/kc-yaml-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *s = "a: 1\n";
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
	struct kc_yaml *y = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_yaml_load_file(path, &y, &err), 0);
	assert_int_equal(y->ndocs, 1);
	kc_yaml_free(y);
	unlink(path);
	assert_true(kc_yaml_load_file("/nonexistent/x.yaml", &y, &err) < 0);
	char *m = kc_err_string(err);
	assert_non_null(strstr(m, "/nonexistent/x.yaml"));
	free(m);
	kc_err_free(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scalars),   cmocka_unit_test(test_positions),
	    cmocka_unit_test(test_multi_doc), cmocka_unit_test(test_json_input),
	    cmocka_unit_test(test_errors),    cmocka_unit_test(test_load_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
