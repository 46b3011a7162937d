/* kc_kube_apply_patch: the three-way merge patch of a client-side apply (last applied,
 * manifest, live): removed fields deleted, set fields set, foreign fields kept; lists
 * whole; no-op applies empty; kc_kube_json_equal ignores member order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/base/json.h"
#include "shim/rollout/kube_rollout.h"

static yajl_val parse(const char *s)
{
	if (!s)
		return NULL;
	yajl_val v = NULL;
	kc_err_t e = NULL;
	assert_int_equal(kc_json_parse(s, strlen(s), &v, &e), 0);
	return v;
}

/* Checks the patch of (o, m, c) equals want (as JSON) and sets/deletes n members. */
static void check(const char *o, const char *m, const char *c, const char *want, size_t n)
{
	yajl_val ov = parse(o), mv = parse(m), cv = parse(c), wv = parse(want);
	yajl_gen g = kc_jgen_new(false);
	size_t got = kc_kube_apply_patch(g, ov, mv, cv);
	char *js = kc_jgen_finish(g, NULL);
	assert_non_null(js);
	yajl_val pv = parse(js);
	if (!kc_kube_json_equal(pv, wv))
		fail_msg("patch %s, want %s", js, want);
	assert_int_equal(got, n);
	/* Counting alone (no generator) agrees. */
	assert_int_equal(kc_kube_apply_patch(NULL, ov, mv, cv), n);
	free(js);
	yajl_gen_free(g);
	for (yajl_val *p = (yajl_val[]){ov, mv, cv, wv, pv}, *e = p + 5; p < e; p++)
		if (*p)
			yajl_tree_free(*p);
}

/* The scenario of kctl's kube-rollout test: scaled replicas and a foreign annotation
 * stay, a label dropped from the manifest goes, a changed env value is set (the
 * containers list whole: a merge patch has no list merge). */
static void test_reapply_keeps_foreign_fields(void **state)
{
	(void)state;
	const char *last =
	    "{\"metadata\":{\"name\":\"w\",\"labels\":{\"app\":\"w\",\"tier\":\"web\"}},"
	    "\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\","
	    "\"image\":\"i:1\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}]}}}}";
	const char *manifest =
	    "{\"metadata\":{\"name\":\"w\",\"labels\":{\"app\":\"w\"}},"
	    "\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\","
	    "\"image\":\"i:1\",\"env\":[{\"name\":\"A\",\"value\":\"2\"}]}]}}}}";
	const char *live =
	    "{\"metadata\":{\"name\":\"w\",\"resourceVersion\":\"7\",\"labels\":{\"app\":\"w\","
	    "\"tier\":\"web\"},\"annotations\":{\"other\":\"x\"}},\"spec\":{\"replicas\":3,"
	    "\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"i:1\","
	    "\"imagePullPolicy\":\"IfNotPresent\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}]}}},"
	    "\"status\":{\"replicas\":3}}";
	check(last, manifest, live,
	      "{\"metadata\":{\"labels\":{\"tier\":null}},\"spec\":{\"template\":{\"spec\":"
	      "{\"containers\":[{\"name\":\"app\",\"image\":\"i:1\",\"env\":[{\"name\":\"A\","
	      "\"value\":\"2\"}]}]}}}}",
	      2);
}

/* Everything the manifest says is already live: nothing to send. */
static void test_noop(void **state)
{
	(void)state;
	const char *m = "{\"a\":1,\"b\":{\"c\":[1,2],\"d\":\"x\"}}";
	check(m, m, "{\"b\":{\"d\":\"x\",\"c\":[1,2],\"e\":true},\"a\":1.0,\"z\":null}", "{}", 0);
}

/* First apply on an existing object (no last-applied annotation): nothing is deleted. */
static void test_no_original(void **state)
{
	(void)state;
	check(NULL, "{\"a\":{\"x\":1}}", "{\"a\":{\"x\":2,\"y\":3},\"b\":4}", "{\"a\":{\"x\":1}}",
	      1);
}

/* A removed field is deleted only when still there; a removed object goes whole. */
static void test_deletions(void **state)
{
	(void)state;
	check("{\"a\":1,\"b\":2,\"o\":{\"p\":1},\"k\":{\"q\":1,\"r\":2}}", "{\"k\":{\"q\":1}}",
	      "{\"a\":1,\"o\":{\"p\":1,\"s\":2},\"k\":{\"q\":1,\"r\":2,\"t\":3}}",
	      "{\"a\":null,\"o\":null,\"k\":{\"r\":null}}", 3);
}

/* An object where the live object has none (or a scalar) is set whole; a scalar
 * replaces an object; a null in the manifest deletes only what exists. */
static void test_types_and_nulls(void **state)
{
	(void)state;
	check(NULL, "{\"a\":{\"x\":{\"y\":1}},\"b\":5,\"n\":null,\"m\":null}",
	      "{\"a\":\"s\",\"b\":{\"c\":1},\"m\":2}",
	      "{\"a\":{\"x\":{\"y\":1}},\"b\":5,\"m\":null}", 3);
	/* A missing or non-object manifest is an empty one. */
	check("{\"a\":1}", NULL, "{\"a\":1}", "{\"a\":null}", 1);
}

/* Lists are compared and set whole, order included. */
static void test_lists(void **state)
{
	(void)state;
	check(NULL, "{\"l\":[{\"n\":\"a\"},{\"n\":\"b\"}]}",
	      "{\"l\":[{\"n\":\"b\"},{\"n\":\"a\"}]}", "{\"l\":[{\"n\":\"a\"},{\"n\":\"b\"}]}", 1);
	check(NULL, "{\"l\":[1,2]}", "{\"l\":[1,2,3]}", "{\"l\":[1,2]}", 1);
}

static void test_json_equal(void **state)
{
	(void)state;
	yajl_val a = parse("{\"x\":[1,{\"b\":true,\"a\":null}],\"y\":\"s\",\"z\":2}");
	yajl_val b = parse("{\"z\":2.0,\"y\":\"s\",\"x\":[1,{\"a\":null,\"b\":true}]}");
	yajl_val c = parse("{\"z\":2,\"y\":\"s\",\"x\":[1,{\"a\":null,\"b\":false}]}");
	yajl_val d = parse("{\"z\":2,\"y\":\"s\"}");
	assert_true(kc_kube_json_equal(a, b));
	assert_false(kc_kube_json_equal(a, c));
	assert_false(kc_kube_json_equal(a, d));
	assert_false(kc_kube_json_equal(d, a));
	assert_false(kc_kube_json_equal(a, NULL));
	assert_true(kc_kube_json_equal(NULL, NULL));
	yajl_tree_free(a);
	yajl_tree_free(b);
	yajl_tree_free(c);
	yajl_tree_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reapply_keeps_foreign_fields),
	    cmocka_unit_test(test_noop),
	    cmocka_unit_test(test_no_original),
	    cmocka_unit_test(test_deletions),
	    cmocka_unit_test(test_types_and_nulls),
	    cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_json_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
