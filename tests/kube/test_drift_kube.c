/* The pure part of kctl drift on Kubernetes (drift_kube.h): a pod listing (the
 * script's #M/#D/#L/#F/#E sections) against an image file index: added, changed
 * (content, symlink target, type), deleted; mount points, their parent directories,
 * /proc, /tmp, engine noise and the runtime's /etc/mtab link skipped; a listing
 * without its end marker is an error. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(compare_listing),
	    cmocka_unit_test(truncated_listing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
