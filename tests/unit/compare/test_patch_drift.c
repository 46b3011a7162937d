/* Unit tests of the pure parts of patch and drift: the difference between two
 * image file indexes, drift fingerprints and distinct states, path filtering,
 * and config drift against a Deployment spec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compare/drift.h"
#include "compare/patch.h"
#include "shim/rollout/manifest.h"

/* Builds an index from a compact description: "type path mode hash-or-link". */
struct fe {
	const char *path;
	char type;
	uint32_t mode;
	const char *x; /* sha256 tail (regular) or link target */
};

static struct kc_file_index *mk(const struct fe *f, size_t n)
{
	struct kc_file_index *idx = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_file_index_new(&idx, &err), 0);
	idx->entries = calloc(n + 1, sizeof *idx->entries);
	idx->cap = n + 1;
	for (size_t i = 0; i < n; i++) {
		struct kc_file_entry *e = &idx->entries[i];
		e->path = strdup(f[i].path);
		e->type = (enum kc_file_type)f[i].type;
		e->mode = f[i].mode;
		if (f[i].type == 'f' && f[i].x)
			snprintf(e->sha256, sizeof e->sha256, "sha256:%064d", atoi(f[i].x));
		if (f[i].type == 'l')
			e->link = strdup(f[i].x);
	}
	idx->n = n;
	return idx;
}

static const struct kc_fdiff *find(const struct kc_fdiff *d, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(d[i].path, path))
			return &d[i];
	return NULL;
}

/* v1 -> v2 the way hack/images makes them. */
static void test_fdiff_versions(void **state)
{
	(void)state;
	static const struct fe v1[] = {
	    {"/app", 'd', 0755, NULL},
	    {"/app/VERSION", 'f', 0644, "1"},
	    {"/app/bin", 'd', 0755, NULL},
	    {"/app/bin/hook.sh", 'f', 0644, "7"},
	    {"/app/config", 'd', 0755, NULL},
	    {"/app/config/current.conf", 'l', 0777, "app.conf"},
	    {"/app/static", 'd', 0755, NULL},
	    {"/app/static/assets", 'd', 0755, NULL},
	    {"/app/static/assets/a.css", 'f', 0644, "3"},
	    {"/app/static/old.txt", 'f', 0644, "4"},
	    {"/app/static/thing", 'f', 0644, "5"},
	};
	static const struct fe v3[] = {
	    {"/app", 'd', 0755, NULL},
	    {"/app/VERSION", 'f', 0644, "3"},
	    {"/app/bin", 'd', 0755, NULL},
	    {"/app/bin/hook.sh", 'f', 0700, "7"},
	    {"/app/config", 'd', 0755, NULL},
	    {"/app/config/app-v3.conf", 'f', 0644, "8"},
	    {"/app/config/current.conf", 'l', 0777, "app-v3.conf"},
	    {"/app/static", 'd', 0755, NULL},
	    {"/app/static/thing", 'd', 0755, NULL},
	    {"/app/static/thing/x", 'f', 0644, "9"},
	};
	struct kc_file_index *a = mk(v1, sizeof v1 / sizeof *v1);
	struct kc_file_index *b = mk(v3, sizeof v3 / sizeof *v3);
	struct kc_fdiff *d = NULL;
	size_t n = 0;
	kc_err_t err = NULL;
	assert_int_equal(kc_fdiff_compute(a, b, &d, &n, &err), 0);
	const struct kc_fdiff *x;
	assert_non_null(x = find(d, n, "/app/VERSION"));
	assert_int_equal(x->kind, KC_FDIFF_CHANGE);
	assert_true(x->content);
	assert_non_null(x = find(d, n, "/app/bin/hook.sh"));
	assert_int_equal(x->kind, KC_FDIFF_CHANGE);
	assert_false(x->content); /* mode only */
	assert_non_null(x = find(d, n, "/app/config/current.conf"));
	assert_int_equal(x->kind, KC_FDIFF_CHANGE);
	assert_true(x->content); /* symlink retarget */
	assert_non_null(x = find(d, n, "/app/config/app-v3.conf"));
	assert_int_equal(x->kind, KC_FDIFF_ADD);
	assert_non_null(x = find(d, n, "/app/static/assets"));
	assert_int_equal(x->kind, KC_FDIFF_DELETE);
	/* Folded into the deleted directory. */
	assert_null(find(d, n, "/app/static/assets/a.css"));
	assert_non_null(x = find(d, n, "/app/static/old.txt"));
	assert_int_equal(x->kind, KC_FDIFF_DELETE);
	assert_non_null(x = find(d, n, "/app/static/thing"));
	assert_int_equal(x->kind, KC_FDIFF_RETYPE);
	assert_non_null(x = find(d, n, "/app/static/thing/x"));
	assert_int_equal(x->kind, KC_FDIFF_ADD);
	/* Unchanged entries are not listed. */
	assert_null(find(d, n, "/app"));
	assert_null(find(d, n, "/app/static"));
	assert_int_equal(n, 8);
	free(d);

	/* Same index: no difference; and the reverse of a retype folds the tree. */
	assert_int_equal(kc_fdiff_compute(a, a, &d, &n, &err), 0);
	assert_int_equal(n, 0);
	free(d);
	assert_int_equal(kc_fdiff_compute(b, a, &d, &n, &err), 0);
	assert_non_null(x = find(d, n, "/app/static/thing"));
	assert_int_equal(x->kind, KC_FDIFF_RETYPE);
	assert_null(find(d, n, "/app/static/thing/x"));
	free(d);
	/* From nothing: everything added. */
	assert_int_equal(kc_fdiff_compute(NULL, b, &d, &n, &err), 0);
	assert_int_equal(n, b->n);
	free(d);
	kc_file_index_free(a);
	kc_file_index_free(b);
}

static void test_skip_path(void **state)
{
	(void)state;
	const char *skip[] = {"/data", "/var/cache/"};
	assert_true(kc_drift_skip_path("/tmp", skip, 2));
	assert_true(kc_drift_skip_path("/tmp/x", skip, 2));
	assert_false(kc_drift_skip_path("/tmpfile", skip, 2));
	assert_true(kc_drift_skip_path("/etc/hostname", skip, 2));
	assert_false(kc_drift_skip_path("/etc/passwd", skip, 2));
	assert_true(kc_drift_skip_path("/data/a/b", skip, 2));
	assert_false(kc_drift_skip_path("/database", skip, 2));
	assert_true(kc_drift_skip_path("/var/cache/x", skip, 2));
	assert_false(kc_drift_skip_path("/app/VERSION", skip, 2));
}

static void set_files(struct kc_drift_replica *r, const char *const *paths, const char *sha)
{
	size_t n = 0;
	while (paths[n])
		n++;
	r->files = calloc(n + 1, sizeof *r->files);
	for (size_t i = 0; i < n; i++) {
		r->files[i].path = strdup(paths[i]);
		r->files[i].kind = 'C';
		r->files[i].sha256 = sha ? strdup(sha) : NULL;
		r->files[i].mode = 0644;
	}
	r->n_files = n;
}

static void free_files(struct kc_drift_replica *r)
{
	for (size_t i = 0; i < r->n_files; i++) {
		free(r->files[i].path);
		free(r->files[i].sha256);
	}
	free(r->files);
}

static void test_fingerprints(void **state)
{
	(void)state;
	struct kc_drift_replica r[4];
	memset(r, 0, sizeof r);
	const char *p1[] = {"/app/VERSION", "/app", NULL};
	const char *p2[] = {"/app", "/app/VERSION", NULL}; /* same set, other order */
	set_files(&r[0], p1, "sha256:aa");
	set_files(&r[1], p2, "sha256:aa");
	set_files(&r[2], p1, "sha256:bb"); /* same paths, other content */
	const char *none[] = {NULL};
	set_files(&r[3], none, NULL);
	for (int i = 0; i < 4; i++)
		kc_drift_fingerprint(&r[i]);
	assert_int_equal(strlen(r[0].fingerprint), 16);
	assert_string_equal(r[0].fingerprint, r[1].fingerprint);
	assert_string_not_equal(r[0].fingerprint, r[2].fingerprint);
	assert_string_not_equal(r[0].fingerprint, r[3].fingerprint);
	assert_int_equal(kc_drift_count_states(r, 4), 3);
	assert_int_equal(r[0].state, r[1].state);
	assert_int_not_equal(r[0].state, r[2].state);
	/* A mode change alone is a different state. */
	r[1].files[0].mode = 0600;
	kc_drift_fingerprint(&r[1]);
	assert_string_not_equal(r[0].fingerprint, r[1].fingerprint);
	for (int i = 0; i < 4; i++)
		free_files(&r[i]);
}

static const char spec_json[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"a\"},"
    "\"spec\":{\"replicas\":1,\"selector\":{\"matchLabels\":{\"app\":\"a\"}},"
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"a\"}},\"spec\":{\"hostNetwork\":true,"
    "\"containers\":[{\"name\":\"app\",\"image\":\"127.0.0.1:5000/x@sha256:"
    "1111111111111111111111111111111111111111111111111111111111111111\","
    "\"command\":[\"/app/run\"],"
    "\"env\":[{\"name\":\"PORT\",\"value\":\"8080\"},{\"name\":\"HEALTH_PORT\",\"value\":"
    "\"8081\"},{\"name\":\"MODE\",\"value\":\"x\"}]}]}}}}";

static bool has_line(char **l, size_t n, const char *prefix)
{
	for (size_t i = 0; i < n; i++)
		if (!strncmp(l[i], prefix, strlen(prefix)))
			return true;
	return false;
}

static void test_config_drift(void **state)
{
	(void)state;
	struct kc_deploy_spec *s = NULL;
	kc_err_t err = NULL;
	int rc = kc_deploy_spec_parse(spec_json, strlen(spec_json), "t", &s, &err);
	if (rc < 0)
		fail_msg("%s", kc_err_string(err));
	const char *img_env[] = {"PATH=/bin", "LANG=C", NULL};
	const char *good_env[] = {"PATH=/bin",	       "LANG=C", "PORT=8080",
				  "HEALTH_PORT=20001", "MODE=x", NULL};
	const char *ep[] = {"/app/run", NULL};
	char **lines = NULL;
	size_t n = 0;
	assert_int_equal(kc_drift_config(s, "sha256:1", "sha256:1", good_env, img_env, NULL, ep,
					 &lines, &n, &err),
			 0);
	assert_int_equal(n, 0); /* HEALTH_PORT is remapped per replica: not drift */

	const char *bad_env[] = {"PATH=/usr/bin", "PORT=9090", "EXTRA=1", NULL};
	const char *ep2[] = {"/bin/sh", NULL};
	assert_int_equal(kc_drift_config(s, "sha256:1", "sha256:2", bad_env, img_env, NULL, ep2,
					 &lines, &n, &err),
			 0);
	assert_true(has_line(lines, n, "image: sha256:2 (want sha256:1)"));
	assert_true(has_line(lines, n, "env PORT: 9090 (want 8080)"));
	assert_true(has_line(lines, n, "env MODE: missing"));
	assert_true(has_line(lines, n, "env EXTRA: set to 1"));
	assert_true(has_line(lines, n, "env PATH: /usr/bin (image has /bin)"));
	assert_true(has_line(lines, n, "command: [/bin/sh] (want [/app/run])"));
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	kc_deploy_spec_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fdiff_versions),
	    cmocka_unit_test(test_skip_path),
	    cmocka_unit_test(test_fingerprints),
	    cmocka_unit_test(test_config_drift),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
