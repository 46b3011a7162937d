/* The pure part of kctl drift on Kubernetes (drift_kube.h): a pod listing (the
 * script's #M/#D/#L/#F/#E sections) against an image file index: added, changed
 * (content, symlink target, type), deleted; mount points, their parent directories,
 * /proc, /tmp, engine noise and the runtime's /etc/mtab link skipped; a listing
 * without its end marker is an error. Modes from the #P section ('M' for a chmod),
 * the target comparison ('T' for a type change), kctl-shim drift's JSON answer, the
 * imageID forms and where a container's kctl-shim is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compare/drift_kube.h"

#define H(c)                                                                                       \
	"sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
	    c c c c c c c c c c c c c c c c c c c c c c c c
#define X(c)                                                                                       \
	c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
	    c c c c c c c c c c c c c c c c c c c

static struct kc_file_entry entries[] = {
    {.path = "/bin", .type = KC_FILE_DIR},
    {.path = "/bin/busybox", .type = KC_FILE_REG, .sha256 = H("a")},
    {.path = "/bin/gone", .type = KC_FILE_REG, .sha256 = H("b")},
    {.path = "/bin/ln", .type = KC_FILE_HARDLINK, .sha256 = H("a"), .link = "/bin/busybox"},
    {.path = "/bin/sh", .type = KC_FILE_SYMLINK, .link = "busybox"},
    {.path = "/dev", .type = KC_FILE_DIR},
    {.path = "/dev/null", .type = KC_FILE_CHAR},
    {.path = "/etc", .type = KC_FILE_DIR},
    {.path = "/etc/conf", .type = KC_FILE_REG, .sha256 = H("c")},
    {.path = "/etc/typ", .type = KC_FILE_REG, .sha256 = H("d")},
    {.path = "/tmp", .type = KC_FILE_DIR},
    {.path = "/tmp/x", .type = KC_FILE_REG, .sha256 = H("e")},
};
static struct kc_file_index idx = {entries, sizeof entries / sizeof *entries, 0};

static const char listing[] =
    "#M\n"
    "overlay / overlay rw 0 0\n"
    "proc /proc proc rw 0 0\n"
    "/dev/sda1 /etc/hosts ext4 rw 0 0\n"
    "tmpfs /var/run/secrets/kubernetes.io/serviceaccount tmpfs ro 0 0\n"
    "#D\n/\n/bin\n/etc\n/etc/typ\n/new\n/var\n/var/run\n/var/run/secrets\n"
    "/var/run/secrets/kubernetes.io\n"
    "/var/run/secrets/kubernetes.io/serviceaccount\n"
    "#L\n/bin/sh\tbusybox2\n/etc/mtab\t/proc/mounts\n"
    "#F\n" X("a") "  /bin/busybox\n" X("a") "  /bin/ln\n" X("9") "  /etc/conf\n" X(
	"f") "  /etc/hosts\n" X("f") "  /.dockerenv\n" X("1") "  /new/file\n"
							      "#E\n";

static void compare_listing(void **state)
{
	(void)state;
	struct kc_drift_replica r = {0};
	kc_err_t err = NULL;
	assert_int_equal(kc_drift_kube_compare(&idx, listing, strlen(listing), &r, &err), 0);
	/* /var and below hold only a mount point and its parents: skipped. */
	const char *want[][2] = {{"/bin/gone", "D"}, {"/bin/sh", "C"}, {"/etc/conf", "C"},
				 {"/etc/typ", "C"},  {"/new", "A"},    {"/new/file", "A"}};
	assert_int_equal(r.n_files, sizeof want / sizeof *want);
	for (size_t i = 0; i < r.n_files; i++) {
		assert_string_equal(r.files[i].path, want[i][0]);
		assert_int_equal(r.files[i].kind, want[i][1][0]);
	}
	assert_string_equal(r.files[2].sha256, H("9"));
	assert_string_equal(r.files[5].sha256, H("1"));
	assert_null(r.files[0].sha256);
	assert_int_equal(r.added, 2);
	assert_int_equal(r.changed, 3);
	assert_int_equal(r.deleted, 1);
	for (size_t i = 0; i < r.n_files; i++) {
		free(r.files[i].path);
		free(r.files[i].sha256);
	}
	free(r.files);
}

static void truncated_listing(void **state)
{
	(void)state;
	static const char cut[] = "#M\n#D\n/bin\n#F\n";
	struct kc_drift_replica r = {0};
	kc_err_t err = NULL;
	assert_int_equal(kc_drift_kube_compare(&idx, cut, strlen(cut), &r, &err), -1);
	assert_non_null(err);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);
	assert_int_equal(r.n_files, 0);
}

static void replica_free(struct kc_drift_replica *r)
{
	for (size_t i = 0; i < r->n_files; i++) {
		free(r->files[i].path);
		free(r->files[i].sha256);
	}
	free(r->files);
	memset(r, 0, sizeof *r);
}

static struct kc_file_entry mode_entries[] = {
    {.path = "/app", .type = KC_FILE_DIR, .mode = 0755},
    {.path = "/app/hook.sh", .type = KC_FILE_REG, .mode = 0644, .sha256 = H("a")},
    {.path = "/app/link", .type = KC_FILE_SYMLINK, .mode = 0777, .link = "hook.sh"},
    {.path = "/app/run", .type = KC_FILE_REG, .mode = 04755, .sha256 = H("b")},
    {.path = "/app/same", .type = KC_FILE_REG, .mode = 0600, .sha256 = H("c")},
    {.path = "/app/x", .type = KC_FILE_REG, .mode = 0644, .sha256 = H("d")},
};
static struct kc_file_index mode_idx = {mode_entries, sizeof mode_entries / sizeof *mode_entries,
					0};

/* #P lines carry modes: a chmod alone is 'M' with the pod's mode, a content change
 * is 'C' with it too, an added file has its mode; symlink modes are not compared;
 * a malformed #P line is ignored (no mode: not compared). */
static const char mode_listing[] =
    "#M\noverlay / overlay rw 0 0\n"
    "#D\n/app\n/app/x\n"
    "#L\n/app/link\thook.sh\n"
    "#F\n" X("a") "  /app/hook.sh\n" X("b") "  /app/run\n" X("c") "  /app/same\n" X(
	"e") "  /app/new\n"
	     "#P\n755 /app\n700 /app/hook.sh\n755 /app/run\n600 /app/same\n"
	     "640 /app/new\n777 /app/link\n9x9 /app/x\n"
	     "#E\n";

static void compare_modes(void **state)
{
	(void)state;
	struct kc_drift_replica r = {0};
	kc_err_t err = NULL;
	assert_int_equal(
	    kc_drift_kube_compare(&mode_idx, mode_listing, strlen(mode_listing), &r, &err), 0);
	/* hook.sh 0644 -> 0700: M; run lost its setuid bit: M; x became a dir: C. */
	const struct {
		const char *path;
		char kind;
		unsigned mode;
	} want[] = {{"/app/hook.sh", 'M', 0700},
		    {"/app/new", 'A', 0640},
		    {"/app/run", 'M', 0755},
		    {"/app/x", 'C', 0}};
	assert_int_equal(r.n_files, sizeof want / sizeof *want);
	for (size_t i = 0; i < r.n_files; i++) {
		assert_string_equal(r.files[i].path, want[i].path);
		assert_int_equal(r.files[i].kind, want[i].kind);
		assert_int_equal(r.files[i].mode, want[i].mode);
	}
	assert_string_equal(r.files[0].sha256, H("a"));
	assert_string_equal(r.files[1].sha256, H("e"));
	assert_int_equal(r.added, 1);
	assert_int_equal(r.changed, 3);
	assert_int_equal(r.deleted, 0);
	replica_free(&r);

	/* Against a target: the same listing, a type change is 'T'. */
	struct kc_drift_file *d = NULL;
	size_t nd = 0;
	assert_int_equal(kc_drift_kube_compare_target(&mode_idx, mode_listing, strlen(mode_listing),
						      &d, &nd, &err),
			 0);
	assert_int_equal(nd, 4);
	assert_string_equal(d[3].path, "/app/x");
	assert_int_equal(d[3].kind, 'T');
	assert_int_equal(d[0].kind, 'M');
	for (size_t i = 0; i < nd; i++) {
		free(d[i].path);
		free(d[i].sha256);
	}
	free(d);
}

/* kctl-shim drift output (shim/init/main.c): added, changed (fields), deleted. */
static void shim_output(void **state)
{
	(void)state;
	static const char out[] =
	    "{\"baseline\":\"/tmp/kctl-shim/baseline\",\"root\":\"/\","
	    "\"baseline_created\":1700000000,"
	    "\"added\":[{\"path\":\"/app/new\",\"type\":\"f\",\"sha256\":\"" H(
		"1") "\"},"
		     "{\"path\":\"/app/dir\",\"type\":\"d\"},"
		     "{\"path\":\"/tmp/x\",\"type\":\"f\",\"sha256\":\"" H(
			 "2") "\"}],"
			      "\"changed\":[{\"path\":\"/app/"
			      "conf\",\"type\":\"f\",\"fields\":[\"size\","
			      "\"content\"],\"sha256\":\"" H(
				  "3") "\"},"
				       "{\"path\":\"/app/"
				       "hook.sh\",\"type\":\"f\",\"fields\":[\"mode\"],"
				       "\"sha256\":\"" H(
					   "4") "\",\"mode\":448},"
						"{\"path\":\"/app/"
						"owned\",\"type\":\"f\",\"fields\":[\"mode\","
						"\"uid\"]},"
						"{\"path\":\"/etc/"
						"hosts\",\"type\":\"f\",\"fields\":[\"content\"]}],"
						"\"deleted\":[{\"path\":\"/bin/"
						"vi\",\"type\":\"l\",\"sha256\":\"" H(
						    "5") "\"}],"
							 "\"summary\":{\"added\":3,\"changed\":4,"
							 "\"deleted\":1},\"guard\":null}";
	struct kc_drift_replica r = {0};
	kc_err_t err = NULL;
	assert_int_equal(kc_drift_kube_shim_parse(out, strlen(out), &r, &err), 0);
	/* /tmp and engine noise (/etc/hosts) skipped; sorted by path. */
	const char *want[][2] = {{"/app/conf", "C"}, {"/app/dir", "A"},	  {"/app/hook.sh", "M"},
				 {"/app/new", "A"},  {"/app/owned", "C"}, {"/bin/vi", "D"}};
	assert_int_equal(r.n_files, sizeof want / sizeof *want);
	for (size_t i = 0; i < r.n_files; i++) {
		assert_string_equal(r.files[i].path, want[i][0]);
		assert_int_equal(r.files[i].kind, want[i][1][0]);
	}
	assert_string_equal(r.files[0].sha256, H("3"));
	assert_null(r.files[1].sha256); /* a directory */
	assert_int_equal(r.files[2].mode, 0700);
	assert_null(r.files[5].sha256);
	assert_int_equal(r.added, 2);
	assert_int_equal(r.changed, 3);
	assert_int_equal(r.deleted, 1);
	replica_free(&r);

	static const char *const bad[] = {"not json", "{\"added\":[]}",
					  "{\"added\":[{\"type\":\"f\"}],\"changed\":[],"
					  "\"deleted\":[]}"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(kc_drift_kube_shim_parse(bad[i], strlen(bad[i]), &r, &err), -1);
		assert_non_null(err);
		kc_err_free(&err);
		replica_free(&r);
	}
}

static void image_ref(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
	    {"docker-pullable://127.0.0.1:5000/app@sha256:ab", "127.0.0.1:5000/app@sha256:ab"},
	    {"127.0.0.1:5000/app@sha256:cd", "127.0.0.1:5000/app@sha256:cd"},
	    {"containerd://reg/x@sha256:ef", "reg/x@sha256:ef"},
	    {"docker://sha256:0123", NULL},
	    {"sha256:0123", NULL},
	    {"", NULL},
	    {"docker-pullable://@sha256:ab", NULL},
	};
	kc_err_t err = NULL;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *ref = (char *)1;
		assert_int_equal(kc_drift_kube_image_ref(cases[i][0], &ref, &err), 0);
		if (cases[i][1]) {
			assert_non_null(ref);
			assert_string_equal(ref, cases[i][1]);
		} else {
			assert_null(ref);
		}
		free(ref);
	}
}

static void shim_path(void **state)
{
	(void)state;
	const char *shim_ep[] = {"/usr/local/bin/kctl-shim", "--writable", "/tmp", "--",
				 "/app/kctl-demo-app",	     NULL};
	const char *app[] = {"/app/kctl-demo-app", NULL};
	const char *tini[] = {"tini", "--", "kctl-shim", "--", "app", NULL};
	const char *not_shim[] = {"/bin/kctl-shim-old", "kctl-shims", NULL};
	/* The image's Entrypoint, unless the pod's command replaces it. */
	assert_string_equal(kc_drift_kube_shim_path(NULL, NULL, shim_ep, NULL), shim_ep[0]);
	assert_null(kc_drift_kube_shim_path(app, NULL, shim_ep, NULL));
	assert_string_equal(kc_drift_kube_shim_path(shim_ep, NULL, app, NULL), shim_ep[0]);
	/* args replace Cmd; Cmd counts only without a command. */
	assert_string_equal(kc_drift_kube_shim_path(NULL, NULL, NULL, tini), "kctl-shim");
	assert_null(kc_drift_kube_shim_path(app, NULL, NULL, tini));
	assert_string_equal(kc_drift_kube_shim_path(NULL, tini, app, NULL), "kctl-shim");
	assert_null(kc_drift_kube_shim_path(not_shim, not_shim, NULL, NULL));
	assert_null(kc_drift_kube_shim_path(NULL, NULL, NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(compare_listing), cmocka_unit_test(truncated_listing),
	    cmocka_unit_test(compare_modes),   cmocka_unit_test(shim_output),
	    cmocka_unit_test(image_ref),       cmocka_unit_test(shim_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
