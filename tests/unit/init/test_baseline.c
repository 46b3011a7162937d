/* Unit tests of the baseline: walk a scratch tree, round-trip the file format,
 * refuse malformed files, reuse hashes, and diff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/base/json.h"
#include "shim/init/baseline.h"

static char tree[256];

static void put(const char *rel, const char *content)
{
	char p[512];
	snprintf(p, sizeof p, "%s%s", tree, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tree, sizeof tree, "/tmp/kc-bl-unit-XXXXXX");
	if (!mkdtemp(tree))
		return -1;
	char p[512];
	snprintf(p, sizeof p, "%s/etc", tree);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/skipme", tree);
	mkdir(p, 0755);
	put("/etc/a", "alpha\n");
	put("/etc/b", "beta\n");
	put("/etc/tab\tand\nnewline\\", "odd name\n");
	put("/skipme/x", "x");
	snprintf(p, sizeof p, "%s/etc/link", tree);
	return symlink("a", p);
}

static int teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree);
	return system(cmd) == 0 ? 0 : -1;
}

static void walk(const struct kc_baseline *prev, struct kc_baseline *out,
		 struct kc_bl_walk_stats *st)
{
	const char *skip[] = {"/skipme"};
	struct kc_bl_walk_opts o = {.root = tree, .skip = skip, .n_skip = 1, .prev = prev};
	kc_err_t err = NULL;
	assert_int_equal(kc_baseline_walk(&o, out, st, &err), 0);
	assert_null(err);
}

static const struct kc_bl_entry *find(const struct kc_baseline *b, const char *path)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->e[i].path, path))
			return &b->e[i];
	return NULL;
}

static void test_walk_roundtrip(void **state)
{
	(void)state;
	struct kc_baseline b, r;
	struct kc_bl_walk_stats st;
	walk(NULL, &b, &st);
	assert_int_equal(b.n, 6); /* / /etc a b link odd */
	assert_null(find(&b, "/skipme"));
	assert_null(find(&b, "/skipme/x"));
	const struct kc_bl_entry *a = find(&b, "/etc/a");
	assert_non_null(a);
	assert_true(a->has_sha);
	assert_int_equal(a->size, 6);
	assert_int_equal(find(&b, "/etc/link")->type, 'l');
	assert_int_equal(st.hashed_files, 4);

	char path[512];
	snprintf(path, sizeof path, "%s.baseline", tree);
	kc_err_t err = NULL;
	assert_int_equal(kc_baseline_write(&b, path, &err), 0);
	assert_int_equal(kc_baseline_load(path, &r, &err), 0);
	unlink(path);
	assert_int_equal(r.n, b.n);
	assert_string_equal(r.root, tree);
	assert_int_equal(r.n_skip, 1);
	for (size_t i = 0; i < b.n; i++) {
		assert_string_equal(r.e[i].path, b.e[i].path);
		assert_int_equal(r.e[i].mtime_ns, b.e[i].mtime_ns);
		assert_int_equal(r.e[i].has_sha, b.e[i].has_sha);
		assert_memory_equal(r.e[i].sha, b.e[i].sha, 32);
	}
	assert_non_null(find(&r, "/etc/tab\tand\nnewline\\"));
	kc_baseline_free(&r);

	/* Unchanged: every hash reused, no diff. */
	struct kc_baseline c;
	walk(&b, &c, &st);
	assert_int_equal(st.hashed_files, 0);
	assert_int_equal(st.reused, 4);
	yajl_gen g = kc_jgen_new(false);
	yajl_gen_map_open(g);
	struct kc_bl_diff_counts dc;
	kc_baseline_diff(&b, &c, g, &dc);
	yajl_gen_map_close(g);
	char *js = kc_jgen_finish(g, NULL);
	yajl_gen_free(g);
	assert_string_equal(js, "{\"added\":[],\"changed\":[],\"deleted\":[]}");
	free(js);
	kc_baseline_free(&c);

	/* Edit, add, delete. */
	usleep(20000);
	put("/etc/a", "ALPHA\n"); /* same size, new content */
	put("/etc/new", "n");
	char p[512];
	snprintf(p, sizeof p, "%s/etc/b", tree);
	unlink(p);
	walk(&b, &c, &st);
	assert_int_equal(st.hashed_files, 2);
	g = kc_jgen_new(false);
	yajl_gen_map_open(g);
	kc_baseline_diff(&b, &c, g, &dc);
	yajl_gen_map_close(g);
	js = kc_jgen_finish(g, NULL);
	yajl_gen_free(g);
	assert_int_equal(dc.added, 1);
	assert_int_equal(dc.changed, 1);
	assert_int_equal(dc.deleted, 1);
	assert_non_null(strstr(js, "\"added\":[{\"path\":\"/etc/new\""));
	struct stat sa;
	snprintf(p, sizeof p, "%s/etc/a", tree);
	assert_int_equal(stat(p, &sa), 0);
	char want[160];
	snprintf(want, sizeof want,
		 "\"changed\":[{\"path\":\"/etc/a\",\"type\":\"f\",\"mode\":\"%04o\","
		 "\"fields\":[\"content\"]",
		 (unsigned)(sa.st_mode & 07777));
	assert_non_null(strstr(js, want));
	assert_non_null(strstr(js, "\"deleted\":[{\"path\":\"/etc/b\""));
	free(js);
	kc_baseline_free(&c);
	kc_baseline_free(&b);
}

static void bad(const char *text)
{
	struct kc_baseline b;
	kc_err_t err = NULL;
	assert_int_equal(kc_baseline_parse(text, strlen(text), &b, &err), -1);
	assert_non_null(err);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);
}

#define HDR "kctl-shim-baseline 1\nroot\t/\n"
#define SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_parse_rejects(void **state)
{
	(void)state;
	bad("");
	bad("kctl-shim-baseline 2\nroot\t/\n");
	bad("kctl-shim-baseline 1\n");				  /* no root */
	bad(HDR "e\tf\t644\t0\t0\t1\t1\t1\t1\t-\n");		  /* missing path */
	bad(HDR "e\tx\t644\t0\t0\t1\t1\t1\t1\t-\t/a\n");	  /* type */
	bad(HDR "e\tf\t99\t0\t0\t1\t1\t1\t1\t-\t/a\n");		  /* octal */
	bad(HDR "e\tf\t644\t4294967296\t0\t1\t1\t1\t1\t-\t/a\n"); /* uid range */
	bad(HDR "e\tf\t644\t0\t0\t99999999999999999999999\t1\t1\t1\t-\t/a\n");
	bad(HDR "e\tf\t644\t0\t0\t1\t1\t1\t1\tabc\t/a\n");  /* sha length */
	bad(HDR "e\tf\t644\t0\t0\t1\t1\t1\t1\t-\trel\n");   /* not absolute */
	bad(HDR "e\tf\t644\t0\t0\t1\t1\t1\t1\t-\t/a\\q\n"); /* escape */
	bad(HDR "e\tf\t644\t0\t0\t1\t1\t1\t1\t-\t/a\\\n");  /* dangling escape */
	bad(HDR "e\tf\t644\t0\t0\t1\t1\t1\t1\t-\t/a\n"
		"e\tf\t644\t0\t0\t1\t1\t1\t1\t-\t/a\n"); /* duplicate */
	bad(HDR "junk\n");
	bad(HDR "root\t/again\n");

	struct kc_baseline b;
	kc_err_t err = NULL;
	const char *ok = HDR "skip\t/proc\ncreated\t-5\n"
			     "e\tf\t4755\t1\t2\t0\t-1\t2\t3\t" SHA "\t/z\n"
			     "e\td\t755\t0\t0\t0\t1\t1\t1\t-\t/a";
	assert_int_equal(kc_baseline_parse(ok, strlen(ok), &b, &err), 0);
	assert_int_equal(b.n, 2);
	assert_string_equal(b.e[0].path, "/a"); /* sorted */
	assert_int_equal(b.e[1].mode, 04755);
	assert_int_equal(b.e[1].mtime_ns, -1);
	assert_int_equal(b.created, -5);
	assert_true(b.e[1].has_sha);
	kc_baseline_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_walk_roundtrip, setup, teardown),
	    cmocka_unit_test(test_parse_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
