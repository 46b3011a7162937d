/* Image file index: layers are tars built here with libarchive (plain and
 * gzip); checks content hashes, metadata, links, whiteouts (.wh.NAME and
 * opaque directories), replacement rules and refusal of unsafe paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "registry/fileindex.h"
#include "shim/base/json.h"

struct member {
	const char *path;
	char type;	  /* f d l h p */
	const char *data; /* file content, or link target */
	unsigned mode;
};

#define TAR_CAP (1u << 20)

/* A tar of the members, gzip-compressed when asked. */
static void *make_tar(const struct member *m, size_t n, int gzip, size_t *len)
{
	void *buf = malloc(TAR_CAP);
	struct archive *a = archive_write_new();
	assert_non_null(buf);
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (gzip)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, buf, TAR_CAP, len), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].path);
		archive_entry_set_uid(e, 1000 + i);
		archive_entry_set_gid(e, 2000 + i);
		switch (m[i].type) {
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, m[i].mode ? m[i].mode : 0755);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, m[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_hardlink(e, m[i].data);
			break;
		case 'p':
			archive_entry_set_filetype(e, AE_IFIFO);
			archive_entry_set_perm(e, 0600);
			break;
		default:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, m[i].mode ? m[i].mode : 0644);
			archive_entry_set_size(e, m[i].data ? (la_int64_t)strlen(m[i].data) : 0);
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (m[i].type == 'f' && m[i].data && *m[i].data)
			assert_int_equal(archive_write_data(a, m[i].data, strlen(m[i].data)),
					 (la_ssize_t)strlen(m[i].data));
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return buf;
}

static void apply(struct kc_file_index *idx, const struct member *m, size_t n, int gzip)
{
	size_t len;
	void *tar = make_tar(m, n, gzip, &len);
	kc_err_t err = NULL;
	if (kc_file_index_apply_mem(idx, tar, len, &err) != 0) {
		char *s = kc_err_string(err);
		fail_msg("apply failed: %s", s);
	}
	free(tar);
}

static void assert_hash_of(const struct kc_file_entry *e, const char *content)
{
	char want[KC_DIGEST_LEN + 1];
	kc_err_t err = NULL;
	assert_int_equal(kc_sha256_digest(content, strlen(content), want, &err), 0);
	assert_string_equal(e->sha256, want);
	assert_int_equal(e->size, strlen(content));
}

/* The index's paths, joined by spaces, for whole-listing comparisons. */
static char *listing(const struct kc_file_index *idx)
{
	size_t cap = 16;
	for (size_t i = 0; i < idx->n; i++)
		cap += strlen(idx->entries[i].path) + 1;
	char *s = calloc(1, cap);
	for (size_t i = 0; i < idx->n; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, idx->entries[i].path);
	}
	return s;
}

static void assert_listing(const struct kc_file_index *idx, const char *want)
{
	char *got = listing(idx);
	if (strcmp(got, want) != 0)
		fail_msg("index is \"%s\", want \"%s\"", got, want);
	free(got);
}

static void test_single_layer(void **state)
{
	(void)state;
	struct kc_file_index *idx;
	kc_err_t err = NULL;
	assert_int_equal(kc_file_index_new(&idx, &err), 0);
	const struct member m[] = {
	    {"./", 'd', NULL, 0},
	    {"./etc/", 'd', NULL, 0750},
	    {"./etc/passwd", 'f', "root:x:0:0::/root:/bin/sh\n", 0644},
	    {"/bin/", 'd', NULL, 0},
	    {"bin/busybox", 'f', "ELF...", 04755},
	    {"bin/sh", 'l', "busybox", 0},
	    {"bin/ash", 'h', "bin/busybox", 0},
	    {"etc//empty", 'f', "", 0600},
	    {"run/fifo", 'p', NULL, 0},
	};
	apply(idx, m, sizeof m / sizeof m[0], 0);
	assert_listing(idx, "/bin /bin/ash /bin/busybox /bin/sh /etc /etc/empty /etc/passwd "
			    "/run/fifo");
	const struct kc_file_entry *e = kc_file_index_find(idx, "/etc/passwd");
	assert_non_null(e);
	assert_int_equal(e->type, KC_FILE_REG);
	assert_int_equal(e->mode, 0644);
	assert_int_equal(e->uid, 1002);
	assert_int_equal(e->gid, 2002);
	assert_hash_of(e, "root:x:0:0::/root:/bin/sh\n");
	assert_null(e->link);
	e = kc_file_index_find(idx, "/etc");
	assert_int_equal(e->type, KC_FILE_DIR);
	assert_int_equal(e->mode, 0750);
	assert_string_equal(e->sha256, "");
	e = kc_file_index_find(idx, "/bin/busybox");
	assert_int_equal(e->mode, 04755);
	e = kc_file_index_find(idx, "/bin/sh");
	assert_int_equal(e->type, KC_FILE_SYMLINK);
	assert_string_equal(e->link, "busybox");
	e = kc_file_index_find(idx, "/bin/ash");
	assert_int_equal(e->type, KC_FILE_HARDLINK);
	assert_string_equal(e->link, "/bin/busybox");
	assert_hash_of(e, "ELF...");
	e = kc_file_index_find(idx, "/etc/empty");
	assert_hash_of(e, "");
	e = kc_file_index_find(idx, "/run/fifo");
	assert_int_equal(e->type, KC_FILE_FIFO);
	assert_null(kc_file_index_find(idx, "/nope"));
	assert_null(kc_file_index_find(idx, "/"));

	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	kc_file_index_gen(g, idx);
	char *json = kc_jgen_finish(g, NULL);
	assert_non_null(strstr(json,
			       "{\"path\":\"/bin/sh\",\"type\":\"l\",\"mode\":511,\"uid\":1005,"
			       "\"gid\":2005,\"size\":0,\"link\":\"busybox\"}"));
	free(json);
	kc_file_index_free(idx);
}

static void test_whiteouts(void **state)
{
	(void)state;
	struct kc_file_index *idx;
	kc_err_t err = NULL;
	assert_int_equal(kc_file_index_new(&idx, &err), 0);
	const struct member base[] = {
	    {"a/", 'd', NULL, 0},      {"a/x", 'f', "x1", 0},	{"a/y", 'f', "y1", 0},
	    {"b/", 'd', NULL, 0},      {"b/z", 'f', "z1", 0},	{"b/sub/", 'd', NULL, 0},
	    {"b/sub/w", 'f', "w1", 0}, {"c", 'f', "c1", 0},	{"etc/", 'd', NULL, 0},
	    {"etc/f", 'f', "f1", 0},   {"etc/g", 'f', "g1", 0}, {"keep", 'f', "k", 0},
	    {"a.txt", 'f', "t", 0},    {"bb/", 'd', NULL, 0},	{"bb/q", 'f', "q", 0},
	};
	apply(idx, base, sizeof base / sizeof base[0], 0);
	assert_listing(idx, "/a /a.txt /a/x /a/y /b /b/sub /b/sub/w /b/z /bb /bb/q /c /etc "
			    "/etc/f /etc/g /keep");

	/* gzip layer: file whiteout, opaque dir (its own new entry stays),
	 * whiteout of a top-level file, modified content, an AUFS internal. */
	const struct member up[] = {
	    {"a/.wh.x", 'f', "", 0},	{"b/.wh..wh..opq", 'f', "", 0},
	    {"b/new", 'f', "n", 0},	{".wh.c", 'f', "", 0},
	    {"etc/f", 'f', "f2", 0600}, {".wh..wh.plnk/", 'd', NULL, 0},
	};
	apply(idx, up, sizeof up / sizeof up[0], 1);
	/* /b itself survives an opaque whiteout; /bb is not under /b. */
	assert_listing(idx, "/a /a.txt /a/y /b /b/new /bb /bb/q /etc /etc/f /etc/g /keep");
	const struct kc_file_entry *e = kc_file_index_find(idx, "/etc/f");
	assert_hash_of(e, "f2");
	assert_int_equal(e->mode, 0600);

	/* A whiteout of a directory takes what is under it; a file replacing a
	 * directory hides its contents; a dir replacing a file is a dir. */
	const struct member up2[] = {
	    {".wh.a", 'f', "", 0},
	    {"etc", 'f', "now a file", 0},
	    {"keep/", 'd', NULL, 0},
	    {"keep/inside", 'f', "i", 0},
	};
	apply(idx, up2, sizeof up2 / sizeof up2[0], 0);
	assert_listing(idx, "/a.txt /b /b/new /bb /bb/q /etc /keep /keep/inside");
	assert_int_equal(kc_file_index_find(idx, "/etc")->type, KC_FILE_REG);
	assert_int_equal(kc_file_index_find(idx, "/keep")->type, KC_FILE_DIR);

	/* Whiteout then re-create in the same layer: the new entry stays. */
	const struct member up3[] = {
	    {".wh.bb", 'f', "", 0},
	    {"bb/", 'd', NULL, 0},
	    {"bb/fresh", 'f', "fresh", 0},
	};
	apply(idx, up3, sizeof up3 / sizeof up3[0], 1);
	assert_listing(idx, "/a.txt /b /b/new /bb /bb/fresh /etc /keep /keep/inside");

	/* Root opaque whiteout hides everything below. */
	const struct member up4[] = {
	    {".wh..wh..opq", 'f', "", 0},
	    {"only", 'f', "1", 0},
	};
	apply(idx, up4, sizeof up4 / sizeof up4[0], 0);
	assert_listing(idx, "/only");
	kc_file_index_free(idx);
}

static void test_duplicates_and_hardlink_order(void **state)
{
	(void)state;
	struct kc_file_index *idx;
	kc_err_t err = NULL;
	assert_int_equal(kc_file_index_new(&idx, &err), 0);
	const struct member m[] = {
	    {"f", 'f', "first", 0},
	    {"g", 'f', "gee", 0},
	    {"f", 'f', "second", 0}, /* later member wins, as tar extraction does */
	    {"link", 'h', "f", 0},
	};
	apply(idx, m, sizeof m / sizeof m[0], 0);
	assert_listing(idx, "/f /g /link");
	assert_hash_of(kc_file_index_find(idx, "/f"), "second");
	assert_hash_of(kc_file_index_find(idx, "/link"), "second");
	/* A later layer hardlinking to a lower file. */
	const struct member m2[] = {{"l2", 'h', "/g", 0}};
	apply(idx, m2, 1, 1);
	assert_hash_of(kc_file_index_find(idx, "/l2"), "gee");
	kc_file_index_free(idx);
}

static void test_errors_leave_index_unchanged(void **state)
{
	(void)state;
	struct kc_file_index *idx;
	kc_err_t err = NULL;
	assert_int_equal(kc_file_index_new(&idx, &err), 0);
	const struct member ok[] = {{"a", 'f', "a", 0}, {"b", 'f', "b", 0}};
	apply(idx, ok, 2, 0);

	const struct member evil[] = {{".wh.a", 'f', "", 0}, {"x/../../etc/shadow", 'f', "x", 0}};
	size_t len;
	void *tar = make_tar(evil, 2, 0, &len);
	assert_int_equal(kc_file_index_apply_mem(idx, tar, len, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	assert_non_null(strstr(err->msg, "unsafe path"));
	kc_err_free(&err);
	free(tar);
	assert_listing(idx, "/a /b");

	const struct member evil2[] = {{"h", 'h', "../x", 0}};
	tar = make_tar(evil2, 1, 0, &len);
	assert_int_equal(kc_file_index_apply_mem(idx, tar, len, &err), -1);
	assert_non_null(strstr(err->msg, "unsafe hardlink"));
	kc_err_free(&err);
	free(tar);

	const char junk[] = "this is not a tar archive at all, not even close......";
	assert_int_equal(kc_file_index_apply_mem(idx, junk, sizeof junk, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	kc_err_free(&err);

	/* Truncated gzip tar. */
	const struct member big[] = {{"big", 'f', "0123456789012345678901234567890123456789", 0}};
	tar = make_tar(big, 1, 1, &len);
	assert_int_equal(kc_file_index_apply_mem(idx, tar, len / 2, &err), -1);
	kc_err_free(&err);
	free(tar);
	assert_listing(idx, "/a /b");

	/* An empty blob is an empty layer. */
	assert_int_equal(kc_file_index_apply_mem(idx, "", 0, &err), 0);
	assert_listing(idx, "/a /b");
	kc_file_index_free(idx);
}

static void test_apply_fd(void **state)
{
	(void)state;
	struct kc_file_index *idx;
	kc_err_t err = NULL;
	assert_int_equal(kc_file_index_new(&idx, &err), 0);
	const struct member m[] = {{"d/", 'd', NULL, 0}, {"d/f", 'f', "content", 0}};
	size_t len;
	void *tar = make_tar(m, 2, 1, &len);
	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(fwrite(tar, 1, len, f), len);
	fflush(f);
	rewind(f);
	assert_int_equal(kc_file_index_apply_fd(idx, fileno(f), &err), 0);
	fclose(f);
	free(tar);
	assert_listing(idx, "/d /d/f");
	assert_hash_of(kc_file_index_find(idx, "/d/f"), "content");
	kc_file_index_free(idx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single_layer),
	    cmocka_unit_test(test_whiteouts),
	    cmocka_unit_test(test_duplicates_and_hardlink_order),
	    cmocka_unit_test(test_errors_leave_index_unchanged),
	    cmocka_unit_test(test_apply_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
