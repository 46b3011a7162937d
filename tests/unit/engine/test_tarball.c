/* Unit tests of the libarchive helpers: build, list, read, extract, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim/base/cleanup.h"
#include "shim/engine/tarball.h"

static char *mktemp_dir(void)
{
	char tmpl[] = "/tmp/kctl-tar-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static void rm_rf(const char *dir)
{
	char *cmd = NULL;
	assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void write_file(const char *path, const char *content, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static const struct kc_tar_entry *find(const struct kc_tar_entry *e, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e[i].path, path))
			return &e[i];
	return NULL;
}

static void test_bytes_roundtrip(void **state)
{
	(void)state;
	kc_err_t err = NULL;
	struct kc_tar_writer *w = NULL;
	assert_int_equal(kc_tar_writer_new(0, &w, &err), 0);
	assert_int_equal(kc_tar_add_dir(w, "etc", 0755, 0, 0, &err), 0);
	assert_int_equal(
	    kc_tar_add_file(w, "etc/app.conf", "port=8080\n", 10, 0640, 1000, 1001, &err), 0);
	assert_int_equal(kc_tar_add_symlink(w, "etc/link", "app.conf", &err), 0);
	/* a name longer than ustar's 100 bytes needs the pax extension */
	char longname[200];
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_int_equal(kc_tar_add_file(w, longname, "", 0, 0600, 0, 0, &err), 0);
	void *buf = NULL;
	size_t len = 0;
	assert_int_equal(kc_tar_writer_finish(w, &buf, &len, &err), 0);
	assert_int_equal(len % 512, 0);
	/* no more entries after finish */
	assert_int_equal(kc_tar_add_dir(w, "x", 0755, 0, 0, &err), -1);
	kc_err_free(&err);
	kc_tar_writer_free(w);

	struct kc_tar_entry *e = NULL;
	size_t n = 0;
	assert_int_equal(kc_tar_list(buf, len, &e, &n, &err), 0);
	assert_int_equal(n, 4);
	const struct kc_tar_entry *f = find(e, n, "etc/app.conf");
	assert_non_null(f);
	assert_int_equal(f->type, KC_TAR_FILE);
	assert_int_equal(f->mode, 0640);
	assert_int_equal(f->uid, 1000);
	assert_int_equal(f->gid, 1001);
	assert_int_equal(f->size, 10);
	const struct kc_tar_entry *l = find(e, n, "etc/link");
	assert_non_null(l);
	assert_int_equal(l->type, KC_TAR_SYMLINK);
	assert_string_equal(l->link, "app.conf");
	assert_int_equal(find(e, n, "etc")->type, KC_TAR_DIR);
	assert_non_null(find(e, n, longname));
	kc_tar_entries_free(e, n);

	char *data = NULL;
	size_t dlen = 0;
	assert_int_equal(kc_tar_read_file(buf, len, "/etc/app.conf", 100, &data, &dlen, &err), 0);
	assert_int_equal(dlen, 10);
	assert_string_equal(data, "port=8080\n");
	free(data);
	assert_int_equal(kc_tar_read_file(buf, len, "./etc/app.conf", 100, &data, &dlen, &err), 0);
	free(data);
	assert_int_equal(kc_tar_read_file(buf, len, "etc/app.conf", 5, &data, &dlen, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_TOOBIG);
	kc_err_free(&err);
	assert_int_equal(kc_tar_read_file(buf, len, "etc/missing", 100, &data, &dlen, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	kc_err_free(&err);
	assert_int_equal(kc_tar_read_file(buf, len, "etc", 100, &data, &dlen, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	kc_err_free(&err);
	free(buf);
}

static void test_path_roundtrip(void **state)
{
	(void)state;
	cleanup_free char *src = mktemp_dir();
	cleanup_free char *dst = mktemp_dir();
	char p[4096];
	snprintf(p, sizeof p, "%s/bin", src);
	assert_int_equal(mkdir(p, 0750), 0);
	assert_int_equal(chmod(p, 0750), 0);
	snprintf(p, sizeof p, "%s/bin/tool", src);
	write_file(p, "#!/bin/sh\necho hi\n", 0755);
	snprintf(p, sizeof p, "%s/secret", src);
	write_file(p, "s3cret", 0600);
	snprintf(p, sizeof p, "%s/bin/sh", src);
	assert_int_equal(symlink("tool", p), 0);

	kc_err_t err = NULL;
	struct kc_tar_writer *w = NULL;
	assert_int_equal(kc_tar_writer_new(0, &w, &err), 0);
	assert_int_equal(kc_tar_add_path(w, src, "root", &err), 0);
	/* a single file under another name */
	snprintf(p, sizeof p, "%s/secret", src);
	assert_int_equal(kc_tar_add_path(w, p, "copy-of-secret", &err), 0);
	void *buf = NULL;
	size_t len = 0;
	assert_int_equal(kc_tar_writer_finish(w, &buf, &len, &err), 0);
	kc_tar_writer_free(w);

	struct kc_tar_entry *e = NULL;
	size_t n = 0;
	assert_int_equal(kc_tar_list(buf, len, &e, &n, &err), 0);
	const struct kc_tar_entry *x;
	assert_non_null(x = find(e, n, "root"));
	assert_int_equal(x->type, KC_TAR_DIR);
	assert_non_null(x = find(e, n, "root/bin"));
	assert_int_equal(x->mode, 0750);
	assert_non_null(x = find(e, n, "root/bin/tool"));
	assert_int_equal(x->mode, 0755);
	assert_int_equal(x->uid, getuid());
	assert_int_equal(x->gid, getgid());
	assert_int_equal(x->size, 18);
	assert_non_null(x = find(e, n, "root/bin/sh"));
	assert_int_equal(x->type, KC_TAR_SYMLINK);
	assert_string_equal(x->link, "tool");
	assert_non_null(x = find(e, n, "root/secret"));
	assert_int_equal(x->mode, 0600);
	assert_non_null(x = find(e, n, "copy-of-secret"));
	assert_int_equal(x->type, KC_TAR_FILE);
	assert_int_equal(n, 6);
	kc_tar_entries_free(e, n);

	int xr = kc_tar_extract(buf, len, dst, getuid() == 0, &err);
	if (xr < 0)
		kc_err_print(err, "extract", stderr);
	assert_int_equal(xr, 0);
	struct stat st;
	snprintf(p, sizeof p, "%s/root/bin/tool", dst);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	char got[64] = {0};
	assert_int_equal(fread(got, 1, sizeof got - 1, f), 18);
	fclose(f);
	assert_string_equal(got, "#!/bin/sh\necho hi\n");
	snprintf(p, sizeof p, "%s/root/secret", dst);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(p, sizeof p, "%s/root/bin/sh", dst);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	free(buf);
	rm_rf(src);
	rm_rf(dst);
}

static void test_extract_refuses_escape(void **state)
{
	(void)state;
	const char *bad[] = {"../evil", "a/../../evil", "/abs/evil"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cleanup_free char *dst = mktemp_dir();
		kc_err_t err = NULL;
		struct kc_tar_writer *w = NULL;
		assert_int_equal(kc_tar_writer_new(0, &w, &err), 0);
		assert_int_equal(kc_tar_add_file(w, bad[i], "x", 1, 0644, 0, 0, &err), 0);
		void *buf = NULL;
		size_t len = 0;
		assert_int_equal(kc_tar_writer_finish(w, &buf, &len, &err), 0);
		kc_tar_writer_free(w);
		assert_int_equal(kc_tar_extract(buf, len, dst, false, &err), -1);
		assert_int_equal(kc_err_kind(err), KC_E_INVALID);
		kc_err_free(&err);
		free(buf);
		struct stat st;
		char p[4096];
		snprintf(p, sizeof p, "%s/../evil", dst);
		assert_int_not_equal(stat(p, &st), 0);
		rm_rf(dst);
	}
}

static void test_limits_and_garbage(void **state)
{
	(void)state;
	kc_err_t err = NULL;
	struct kc_tar_writer *w = NULL;
	assert_int_equal(kc_tar_writer_new(4096, &w, &err), 0);
	char big[8192];
	memset(big, 'z', sizeof big);
	int rc = kc_tar_add_file(w, "big", big, sizeof big, 0644, 0, 0, &err);
	if (rc == 0) {
		void *buf = NULL;
		size_t len = 0;
		rc = kc_tar_writer_finish(w, &buf, &len, &err);
		free(buf);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(kc_err_kind(err), KC_E_TOOBIG);
	kc_err_free(&err);
	kc_tar_writer_free(w);

	struct kc_tar_entry *e = NULL;
	size_t n = 0;
	const char junk[1024] = "this is not a tar archive at all";
	assert_int_equal(kc_tar_list(junk, sizeof junk, &e, &n, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);

	assert_int_equal(kc_tar_writer_new(0, &w, &err), 0);
	assert_int_equal(kc_tar_add_path(w, "/nonexistent/kctl/path", "x", &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_IO);
	kc_err_free(&err);
	kc_tar_writer_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bytes_roundtrip),
	    cmocka_unit_test(test_path_roundtrip),
	    cmocka_unit_test(test_extract_refuses_escape),
	    cmocka_unit_test(test_limits_and_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
