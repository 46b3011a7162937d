/* In-memory tar over libarchive: see tarball.h. */
#include "tarball.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shim/base/cleanup.h"

struct kc_tar_writer {
	struct archive *a;
	char *buf;
	size_t len, alloc, max;
	bool too_big;
	bool finished;
};

static void archive_read_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
static void archive_write_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}
static void archive_entry_freep(struct archive_entry **e)
{
	if (*e)
		archive_entry_free(*e);
}
#define cleanup_archive_read __attribute__((cleanup(archive_read_freep)))
#define cleanup_archive_write __attribute__((cleanup(archive_write_freep)))
#define cleanup_archive_entry __attribute__((cleanup(archive_entry_freep)))

static int arch_err(kc_err_t *err, struct archive *a, enum kc_err_kind kind, const char *what)
{
	const char *msg = archive_error_string(a);
	return kc_err_new(err, kind, "tar: %s: %s", what, msg ? msg : "unknown libarchive error");
}

static la_ssize_t mem_write(struct archive *a, void *opaque, const void *data, size_t n)
{
	struct kc_tar_writer *w = opaque;
	if (w->len + n > w->max) {
		w->too_big = true;
		archive_set_error(a, EFBIG, "archive larger than %zu bytes", w->max);
		return -1;
	}
	if (w->len + n > w->alloc) {
		size_t want = w->alloc ? w->alloc : 16384;
		while (want < w->len + n)
			want *= 2;
		char *nb = realloc(w->buf, want);
		if (!nb) {
			archive_set_error(a, ENOMEM, "out of memory");
			return -1;
		}
		w->buf = nb;
		w->alloc = want;
	}
	memcpy(w->buf + w->len, data, n);
	w->len += n;
	return (la_ssize_t)n;
}

int kc_tar_writer_new(size_t max, struct kc_tar_writer **out, kc_err_t *err)
{
	cleanup_free struct kc_tar_writer *w = calloc(1, sizeof *w);
	if (!w)
		return kc_err_sys(err, ENOMEM, "tar");
	w->max = max ? max : KC_TAR_DEFAULT_MAX;
	w->a = archive_write_new();
	if (!w->a)
		return kc_err_sys(err, ENOMEM, "tar");
	/* pax restricted: plain ustar unless a name or value needs an extension. */
	if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
	    archive_write_open2(w->a, w, NULL, mem_write, NULL, NULL) != ARCHIVE_OK) {
		int rc = arch_err(err, w->a, KC_E_GENERIC, "opening writer");
		archive_write_free(w->a);
		return rc;
	}
	*out = kc_steal(w);
	return 0;
}

void kc_tar_writer_free(struct kc_tar_writer *w)
{
	if (!w)
		return;
	archive_write_free(w->a);
	free(w->buf);
	free(w);
}

static int write_fail(struct kc_tar_writer *w, const char *what, kc_err_t *err)
{
	if (w->too_big)
		return kc_err_new(err, KC_E_TOOBIG, "tar: %s: archive larger than %zu bytes", what,
				  w->max);
	return arch_err(err, w->a, KC_E_IO, what);
}

static int write_entry(struct kc_tar_writer *w, struct archive_entry *e, const void *data,
		       size_t len, kc_err_t *err)
{
	if (w->finished)
		return kc_err_new(err, KC_E_INVALID, "tar: archive already finished");
	if (archive_write_header(w->a, e) < ARCHIVE_WARN)
		return write_fail(w, archive_entry_pathname(e), err);
	if (len && archive_write_data(w->a, data, len) != (la_ssize_t)len)
		return write_fail(w, archive_entry_pathname(e), err);
	return 0;
}

static int check_name(const char *name, kc_err_t *err)
{
	if (!name || !*name)
		return kc_err_new(err, KC_E_INVALID, "tar: empty entry name");
	return 0;
}

static struct archive_entry *new_entry(const char *name, mode_t type, mode_t mode, uid_t uid,
				       gid_t gid)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return NULL;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, mode & 07777);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	archive_entry_set_mtime(e, time(NULL), 0);
	return e;
}

int kc_tar_add_file(struct kc_tar_writer *w, const char *name, const void *data, size_t len,
		    mode_t mode, uid_t uid, gid_t gid, kc_err_t *err)
{
	if (check_name(name, err) < 0)
		return -1;
	cleanup_archive_entry struct archive_entry *e = new_entry(name, AE_IFREG, mode, uid, gid);
	if (!e)
		return kc_err_sys(err, ENOMEM, "tar");
	archive_entry_set_size(e, (la_int64_t)len);
	return write_entry(w, e, data, len, err);
}

int kc_tar_add_dir(struct kc_tar_writer *w, const char *name, mode_t mode, uid_t uid, gid_t gid,
		   kc_err_t *err)
{
	if (check_name(name, err) < 0)
		return -1;
	cleanup_archive_entry struct archive_entry *e = new_entry(name, AE_IFDIR, mode, uid, gid);
	if (!e)
		return kc_err_sys(err, ENOMEM, "tar");
	return write_entry(w, e, NULL, 0, err);
}

int kc_tar_add_symlink(struct kc_tar_writer *w, const char *name, const char *target, kc_err_t *err)
{
	if (check_name(name, err) < 0 || check_name(target, err) < 0)
		return -1;
	cleanup_archive_entry struct archive_entry *e = new_entry(name, AE_IFLNK, 0777, 0, 0);
	if (!e)
		return kc_err_sys(err, ENOMEM, "tar");
	archive_entry_set_symlink(e, target);
	return write_entry(w, e, NULL, 0, err);
}

int kc_tar_add_path(struct kc_tar_writer *w, const char *src, const char *name, kc_err_t *err)
{
	cleanup_free char *src_copy = strdup(src);
	if (!src_copy)
		return kc_err_sys(err, ENOMEM, "tar");
	/* Trailing slashes would make the prefix rewrite below miss. */
	for (size_t l = strlen(src_copy); l > 1 && src_copy[l - 1] == '/'; l--)
		src_copy[l - 1] = '\0';
	cleanup_free char *base_copy = strdup(src_copy);
	if (!base_copy)
		return kc_err_sys(err, ENOMEM, "tar");
	const char *dest = name ? name : basename(base_copy);
	if (check_name(dest, err) < 0)
		return -1;

	cleanup_archive_read struct archive *disk = archive_read_disk_new();
	if (!disk)
		return kc_err_sys(err, ENOMEM, "tar");
	archive_read_disk_set_symlink_physical(disk);
	archive_read_disk_set_standard_lookup(disk);
	/* Keep plain content: no xattrs, ACLs or file flags from this host. */
	archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
						 ARCHIVE_READDISK_NO_FFLAGS);
	if (archive_read_disk_open(disk, src_copy) != ARCHIVE_OK)
		return arch_err(err, disk, KC_E_IO, src);

	size_t src_len = strlen(src_copy);
	char buf[65536];
	for (;;) {
		cleanup_archive_entry struct archive_entry *e = archive_entry_new();
		if (!e)
			return kc_err_sys(err, ENOMEM, "tar");
		int r = archive_read_next_header2(disk, e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return arch_err(err, disk, KC_E_IO, src);
		archive_read_disk_descend(disk);
		const char *p = archive_entry_pathname(e);
		if (strncmp(p, src_copy, src_len) != 0)
			return kc_err_new(err, KC_E_IO, "tar: unexpected path %s under %s", p, src);
		cleanup_free char *newname = NULL;
		if (asprintf(&newname, "%s%s", dest, p + src_len) < 0)
			return kc_err_sys(err, ENOMEM, "tar");
		archive_entry_set_pathname(e, newname);
		if (w->finished)
			return kc_err_new(err, KC_E_INVALID, "tar: archive already finished");
		if (archive_write_header(w->a, e) < ARCHIVE_WARN)
			return write_fail(w, newname, err);
		if (archive_entry_filetype(e) != AE_IFREG || archive_entry_size(e) == 0)
			continue;
		la_ssize_t n;
		while ((n = archive_read_data(disk, buf, sizeof buf)) > 0)
			if (archive_write_data(w->a, buf, (size_t)n) != n)
				return write_fail(w, newname, err);
		if (n < 0)
			return arch_err(err, disk, KC_E_IO, newname);
	}
	return 0;
}

int kc_tar_writer_finish(struct kc_tar_writer *w, void **buf, size_t *len, kc_err_t *err)
{
	if (w->finished)
		return kc_err_new(err, KC_E_INVALID, "tar: archive already finished");
	w->finished = true;
	if (archive_write_close(w->a) != ARCHIVE_OK)
		return write_fail(w, "closing", err);
	*buf = w->buf ? w->buf : malloc(1);
	if (!*buf)
		return kc_err_sys(err, ENOMEM, "tar");
	*len = w->len;
	w->buf = NULL;
	w->len = w->alloc = 0;
	return 0;
}

static int open_reader(const void *buf, size_t len, struct archive **out, kc_err_t *err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return kc_err_sys(err, ENOMEM, "tar");
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK) {
		int rc = arch_err(err, a, KC_E_PROTO, "not a tar archive");
		archive_read_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

/* "./a/b", "/a/b", "a/b/" -> "a/b". */
static const char *norm_path(const char *p, size_t *len)
{
	for (;;) {
		if (p[0] == '.' && p[1] == '/')
			p += 2;
		else if (p[0] == '/')
			p++;
		else
			break;
	}
	size_t l = strlen(p);
	while (l > 0 && p[l - 1] == '/')
		l--;
	*len = l;
	return p;
}

static enum kc_tar_type entry_type(struct archive_entry *e)
{
	if (archive_entry_hardlink(e))
		return KC_TAR_HARDLINK;
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return KC_TAR_FILE;
	case AE_IFDIR:
		return KC_TAR_DIR;
	case AE_IFLNK:
		return KC_TAR_SYMLINK;
	default:
		return KC_TAR_OTHER;
	}
}

void kc_tar_entries_free(struct kc_tar_entry *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++) {
		free(e[i].path);
		free(e[i].link);
	}
	free(e);
}

struct entry_vec {
	struct kc_tar_entry *v;
	size_t n, alloc;
};

static void entry_vec_freep(struct entry_vec *v)
{
	kc_tar_entries_free(v->v, v->n);
}

int kc_tar_list(const void *buf, size_t len, struct kc_tar_entry **out, size_t *n, kc_err_t *err)
{
	cleanup_archive_read struct archive *a = NULL;
	if (open_reader(buf, len, &a, err) < 0)
		return -1;
	__attribute__((cleanup(entry_vec_freep))) struct entry_vec vec = {0};
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (vec.n >= KC_TAR_MAX_ENTRIES)
			return kc_err_new(err, KC_E_TOOBIG, "tar: more than %u entries",
					  KC_TAR_MAX_ENTRIES);
		if (vec.n == vec.alloc) {
			size_t want = vec.alloc ? vec.alloc * 2 : 16;
			struct kc_tar_entry *nv = realloc(vec.v, want * sizeof *nv);
			if (!nv)
				return kc_err_sys(err, ENOMEM, "tar");
			vec.v = nv;
			vec.alloc = want;
		}
		const char *raw = archive_entry_pathname(e);
		if (!raw)
			return kc_err_new(err, KC_E_PROTO, "tar: entry %zu has no name", vec.n);
		size_t pl;
		const char *p = norm_path(raw, &pl);
		struct kc_tar_entry *t = &vec.v[vec.n];
		memset(t, 0, sizeof *t);
		t->path = strndup(p, pl);
		t->type = entry_type(e);
		const char *link = archive_entry_hardlink(e);
		if (!link)
			link = archive_entry_symlink(e);
		if (link)
			t->link = strdup(link);
		vec.n++;
		if (!t->path || (link && !t->link))
			return kc_err_sys(err, ENOMEM, "tar");
		t->mode = archive_entry_perm(e);
		t->uid = archive_entry_uid(e);
		t->gid = archive_entry_gid(e);
		t->size = archive_entry_size(e);
		t->mtime = archive_entry_mtime(e);
	}
	if (r != ARCHIVE_EOF)
		return arch_err(err, a, KC_E_PROTO, "reading entries");
	*out = vec.v;
	*n = vec.n;
	vec.v = NULL;
	vec.n = 0;
	return 0;
}

int kc_tar_read_file(const void *buf, size_t len, const char *path, size_t max, char **data,
		     size_t *data_len, kc_err_t *err)
{
	size_t want_len;
	const char *want = norm_path(path, &want_len);
	cleanup_archive_read struct archive *a = NULL;
	if (open_reader(buf, len, &a, err) < 0)
		return -1;
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		size_t pl;
		const char *p =
		    norm_path(archive_entry_pathname(e) ? archive_entry_pathname(e) : "", &pl);
		if (pl != want_len || memcmp(p, want, pl) != 0)
			continue;
		if (entry_type(e) != KC_TAR_FILE)
			return kc_err_new(err, KC_E_INVALID, "tar: %s is not a regular file", path);
		la_int64_t size = archive_entry_size(e);
		if (size < 0 || (uint64_t)size > max)
			return kc_err_new(err, KC_E_TOOBIG, "tar: %s is larger than %zu bytes",
					  path, max);
		cleanup_free char *d = malloc((size_t)size + 1);
		if (!d)
			return kc_err_sys(err, ENOMEM, "tar");
		size_t got = 0;
		while (got < (size_t)size) {
			la_ssize_t n = archive_read_data(a, d + got, (size_t)size - got);
			if (n < 0)
				return arch_err(err, a, KC_E_PROTO, path);
			if (n == 0)
				return kc_err_new(err, KC_E_PROTO, "tar: %s is truncated", path);
			got += (size_t)n;
		}
		d[got] = '\0';
		*data = kc_steal(d);
		*data_len = got;
		return 0;
	}
	if (r != ARCHIVE_EOF)
		return arch_err(err, a, KC_E_PROTO, "reading entries");
	return kc_err_new(err, KC_E_NOTFOUND, "tar: no entry %s", path);
}

int kc_tar_extract(const void *buf, size_t len, const char *dest_dir, bool keep_owner,
		   kc_err_t *err)
{
	cleanup_archive_read struct archive *a = NULL;
	if (open_reader(buf, len, &a, err) < 0)
		return -1;
	cleanup_archive_write struct archive *disk = archive_write_disk_new();
	if (!disk)
		return kc_err_sys(err, ENOMEM, "tar");
	/* Entry names are checked below (no absolute, no ".."); libarchive's own
	 * checks would see dest_dir prefixed and refuse every absolute dest_dir. */
	int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS;
	if (keep_owner)
		flags |= ARCHIVE_EXTRACT_OWNER;
	archive_write_disk_set_options(disk, flags);
	archive_write_disk_set_standard_lookup(disk);

	struct archive_entry *e;
	int r;
	char block[65536];
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *raw = archive_entry_pathname(e);
		if (!raw || raw[0] == '/')
			return kc_err_new(err, KC_E_INVALID, "tar: refusing absolute path %s",
					  raw ? raw : "(none)");
		cleanup_free char *full = NULL;
		if (asprintf(&full, "%s/%s", dest_dir, raw) < 0)
			return kc_err_sys(err, ENOMEM, "tar");
		/* Check ".." on the archive's own name: dest_dir may legitimately hold one. */
		for (const char *s = raw; (s = strstr(s, "..")); s += 2)
			if ((s == raw || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
				return kc_err_new(err, KC_E_INVALID,
						  "tar: refusing path with '..': %s", raw);
		archive_entry_set_pathname(e, full);
		const char *hl = archive_entry_hardlink(e);
		cleanup_free char *hl_full = NULL;
		if (hl) {
			if (hl[0] == '/' || strstr(hl, ".."))
				return kc_err_new(err, KC_E_INVALID,
						  "tar: refusing hard link to %s", hl);
			if (asprintf(&hl_full, "%s/%s", dest_dir, hl) < 0)
				return kc_err_sys(err, ENOMEM, "tar");
			archive_entry_set_hardlink(e, hl_full);
		}
		if (archive_write_header(disk, e) < ARCHIVE_WARN)
			return arch_err(err, disk, KC_E_IO, raw);
		la_ssize_t n;
		while ((n = archive_read_data(a, block, sizeof block)) > 0)
			if (archive_write_data(disk, block, (size_t)n) < 0)
				return arch_err(err, disk, KC_E_IO, raw);
		if (n < 0)
			return arch_err(err, a, KC_E_PROTO, raw);
		if (archive_write_finish_entry(disk) < ARCHIVE_WARN)
			return arch_err(err, disk, KC_E_IO, raw);
	}
	if (r != ARCHIVE_EOF)
		return arch_err(err, a, KC_E_PROTO, "reading entries");
	if (archive_write_close(disk) != ARCHIVE_OK)
		return arch_err(err, disk, KC_E_IO, "finishing extraction");
	return 0;
}
