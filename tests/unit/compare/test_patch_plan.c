/* The --to-image plan as a library (patch.h): content read from layer tars top layer
 * first (a file replaced in an upper layer, whiteouts, a file turned into a directory),
 * then the removals and the tar of one plan per source image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compare/patch.h"
#include "registry/fileindex.h"
#include "shim/base/cleanup.h"
#include "shim/engine/tarball.h"

struct layer {
	void *buf;
	size_t len;
};

/* Entries: "d NAME MODE", "f NAME MODE CONTENT", "l NAME TARGET" (no spaces in values). */
static struct layer mk_layer(const char *const *spec)
{
	struct kc_tar_writer *w = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_tar_writer_new(0, &w, &err), 0);
	for (const char *const *s = spec; *s; s++) {
		char kind, name[128], a[128] = "", b[128] = "";
		int n = sscanf(*s, "%c %127s %127s %127s", &kind, name, a, b);
		assert_true(n >= 3);
		int rc;
		if (kind == 'd')
			rc = kc_tar_add_dir(w, name, (mode_t)strtol(a, NULL, 8), 0, 0, &err);
		else if (kind == 'f')
			rc = kc_tar_add_file(w, name, b, strlen(b), (mode_t)strtol(a, NULL, 8), 0,
					     0, &err);
		else
			rc = kc_tar_add_symlink(w, name, a, &err);
		assert_int_equal(rc, 0);
	}
	struct layer l;
	assert_int_equal(kc_tar_writer_finish(w, &l.buf, &l.len, &err), 0);
	kc_tar_writer_free(w);
	return l;
}

static struct kc_file_index *index_of(const struct layer *l, size_t n)
{
	struct kc_file_index *idx = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_file_index_new(&idx, &err), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(kc_file_index_apply_mem(idx, l[i].buf, l[i].len, &err), 0);
	return idx;
}

static const struct kc_tar_entry *entry(const struct kc_tar_entry *e, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e[i].path, path))
			return &e[i];
	return NULL;
}

static void assert_file(const struct kc_patch_plan *p, const char *path, const char *content)
{
	char *data = NULL;
	size_t len = 0;
	kc_err_t err = NULL;
	assert_int_equal(kc_tar_read_file(p->tar, p->tar_len, path, 4096, &data, &len, &err), 0);
	assert_string_equal(data, content);
	free(data);
}

static size_t rm_count(const struct kc_patch_plan *p)
{
	size_t n = 0;
	while (p->rm && p->rm[n])
		n++;
	return n;
}

static void test_plans_from_layers(void **state)
{
	(void)state;
	static const char *const l1[] = {
	    "d app 0755",
	    "d app/bin 0755",
	    "d app/config 0755",
	    "d app/static 0755",
	    "f app/VERSION 0644 one",
	    "f app/bin/hook.sh 0644 hook",
	    "f app/config/app.conf 0644 conf-1",
	    "l app/config/current.conf app.conf",
	    "f app/static/old.txt 0644 old",
	    "f app/static/thing 0644 a-file",
	    NULL,
	};
	/* v2: VERSION and app.conf replaced, old.txt deleted, hook.sh mode, a new file. */
	static const char *const l2[] = {
	    "f app/VERSION 0644 two",	       "f app/config/app.conf 0644 conf-2",
	    "f app/static/.wh.old.txt 0644 -", "f app/bin/hook.sh 0755 hook",
	    "f app/static/new.txt 0644 new",   NULL,
	};
	/* v3: VERSION again, the symlink retargeted, thing becomes a directory. */
	static const char *const l3[] = {
	    "f app/VERSION 0644 three",
	    "l app/config/current.conf app-v3.conf",
	    "f app/static/.wh.thing 0644 -",
	    "d app/static/thing 0755",
	    "f app/static/thing/inside.txt 0600 inside",
	    NULL,
	};
	struct layer ls[3] = {mk_layer(l1), mk_layer(l2), mk_layer(l3)};
	struct kc_file_index *v1 = index_of(ls, 1), *v2 = index_of(ls, 2), *v3 = index_of(ls, 3);
	const void *bufs[3] = {ls[0].buf, ls[1].buf, ls[2].buf};
	size_t lens[3] = {ls[0].len, ls[1].len, ls[2].len};
	struct kc_file_index *froms[2] = {v1, v2};
	struct kc_patch_content *c = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_patch_content_from_mem(bufs, lens, 3, v3, froms, 2, &c, &err), 0);

	struct kc_patch_plan p;
	assert_int_equal(kc_patch_plan_build(v1, v3, c, &p, &err), 0);
	/* C VERSION, hook.sh (mode), app.conf, current.conf (link); T thing; A new.txt,
	 * thing/inside.txt; D old.txt. */
	assert_int_equal(p.added, 2);
	assert_int_equal(p.changed, 5);
	assert_int_equal(p.deleted, 1);
	assert_int_equal(rm_count(&p), 2);
	assert_string_equal(p.rm[0], "/app/static/old.txt");
	assert_string_equal(p.rm[1], "/app/static/thing");
	assert_true(kc_digest_valid(p.digest));
	/* The top layer's content, not a lower layer's at the same path. */
	assert_file(&p, "app/VERSION", "three");
	assert_file(&p, "app/config/app.conf", "conf-2");
	assert_file(&p, "app/static/thing/inside.txt", "inside");
	struct kc_tar_entry *e = NULL;
	size_t n = 0;
	assert_int_equal(kc_tar_list(p.tar, p.tar_len, &e, &n, &err), 0);
	const struct kc_tar_entry *x;
	assert_non_null(x = entry(e, n, "app/bin/hook.sh"));
	assert_int_equal(x->mode, 0755);
	assert_non_null(x = entry(e, n, "app/config/current.conf"));
	assert_int_equal(x->type, KC_TAR_SYMLINK);
	assert_string_equal(x->link, "app-v3.conf");
	assert_non_null(x = entry(e, n, "app/static/thing"));
	assert_int_equal(x->type, KC_TAR_DIR);
	assert_non_null(x = entry(e, n, "app/static/thing/inside.txt"));
	assert_int_equal(x->mode, 0600);
	assert_null(entry(e, n, "app/static/old.txt"));
	assert_null(entry(e, n, "app/static")); /* unchanged directories are not sent */
	kc_tar_entries_free(e, n);
	kc_patch_plan_free(&p);

	/* From v2 the same content serves a smaller plan. */
	assert_int_equal(kc_patch_plan_build(v2, v3, c, &p, &err), 0);
	assert_int_equal(p.deleted, 0);
	assert_int_equal(rm_count(&p), 1);
	assert_string_equal(p.rm[0], "/app/static/thing");
	assert_file(&p, "app/VERSION", "three");
	assert_int_not_equal(kc_tar_read_file(p.tar, p.tar_len, "app/config/app.conf", 4096,
					      &(char *){NULL}, &n, &err),
			     0);
	kc_err_free(&err);
	kc_patch_plan_free(&p);

	/* Nothing to do from the target itself: an empty tar, nothing removed. */
	assert_int_equal(kc_patch_plan_build(v3, v3, c, &p, &err), 0);
	assert_int_equal(p.added + p.changed + p.deleted, 0);
	assert_int_equal(rm_count(&p), 0);
	kc_patch_plan_free(&p);

	kc_patch_content_free(c);
	kc_file_index_free(v1);
	kc_file_index_free(v2);
	kc_file_index_free(v3);
	for (size_t i = 0; i < 3; i++)
		free(ls[i].buf);
}

/* A file whose content no layer has (an index that does not match the layers) is an
 * error when the plan is built, never an empty file. */
static void test_missing_content(void **state)
{
	(void)state;
	static const char *const l1[] = {"d app 0755", "f app/VERSION 0644 one", NULL};
	static const char *const l2[] = {"f app/VERSION 0644 two", NULL};
	static const char *const other[] = {"f app/VERSION 0644 not-two", NULL};
	struct layer ls[2] = {mk_layer(l1), mk_layer(l2)}, o = mk_layer(other);
	struct kc_file_index *v1 = index_of(ls, 1), *v2 = index_of(ls, 2);
	const void *bufs[2] = {ls[0].buf, o.buf};
	size_t lens[2] = {ls[0].len, o.len};
	struct kc_file_index *froms[1] = {v1};
	struct kc_patch_content *c = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_patch_content_from_mem(bufs, lens, 2, v2, froms, 1, &c, &err), 0);
	struct kc_patch_plan p;
	assert_int_not_equal(kc_patch_plan_build(v1, v2, c, &p, &err), 0);
	assert_non_null(err);
	assert_non_null(strstr(err->msg, "/app/VERSION"));
	kc_err_free(&err);
	kc_patch_content_free(c);
	kc_file_index_free(v1);
	kc_file_index_free(v2);
	free(ls[0].buf);
	free(ls[1].buf);
	free(o.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plans_from_layers),
	    cmocka_unit_test(test_missing_content),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
