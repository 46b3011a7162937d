/* Tar archives in memory over libarchive, for the engine's archive API and
 * image build contexts: write a tar (from local files and directories keeping
 * modes, owners and times; or from bytes), list entries, read one file, and
 * extract safely (no absolute paths, no "..", no writing through symlinks).
 * Every buffer is bounded. */
#ifndef KC_ENGINE_TARBALL_H
#define KC_ENGINE_TARBALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim/base/error.h"

#define KC_TAR_DEFAULT_MAX (256u << 20)
#define KC_TAR_MAX_ENTRIES 1000000

struct kc_tar_writer;

/* max: cap on the archive size (0: KC_TAR_DEFAULT_MAX); past it -> KC_E_TOOBIG. */
int kc_tar_writer_new(size_t max, struct kc_tar_writer **out, kc_err_t *err);
/* Adds src (file, symlink or directory, recursively) under the name `name`
 * ("app", "etc/app.conf"; NULL: src's basename), keeping mode, uid/gid,
 * user/group names and mtime; symlinks are stored as symlinks. */
int kc_tar_add_path(struct kc_tar_writer *w, const char *src, const char *name, kc_err_t *err);
int kc_tar_add_file(struct kc_tar_writer *w, const char *name, const void *data, size_t len,
		    mode_t mode, uid_t uid, gid_t gid, kc_err_t *err);
int kc_tar_add_dir(struct kc_tar_writer *w, const char *name, mode_t mode, uid_t uid, gid_t gid,
		   kc_err_t *err);
int kc_tar_add_symlink(struct kc_tar_writer *w, const char *name, const char *target,
		       kc_err_t *err);
/* Closes the archive and hands its bytes out (caller frees). The writer is
 * still to be freed. */
int kc_tar_writer_finish(struct kc_tar_writer *w, void **buf, size_t *len, kc_err_t *err);
void kc_tar_writer_free(struct kc_tar_writer *w);
static inline void kc_tar_writer_freep(struct kc_tar_writer **w)
{
	if (*w)
		kc_tar_writer_free(*w);
}
#define cleanup_tar_writer __attribute__((cleanup(kc_tar_writer_freep)))

enum kc_tar_type {
	KC_TAR_FILE = 'f',
	KC_TAR_DIR = 'd',
	KC_TAR_SYMLINK = 'l',
	KC_TAR_HARDLINK = 'h',
	KC_TAR_OTHER = 'o',
};

struct kc_tar_entry {
	char *path; /* as stored, with "./" and leading "/" removed */
	enum kc_tar_type type;
	mode_t mode; /* permission bits (07777) */
	int64_t uid, gid;
	int64_t size;
	int64_t mtime;
	char *link; /* symlink or hardlink target, else NULL */
};

/* Lists the entries of a tar (uncompressed or any compression libarchive reads). */
int kc_tar_list(const void *buf, size_t len, struct kc_tar_entry **out, size_t *n, kc_err_t *err);
void kc_tar_entries_free(struct kc_tar_entry *e, size_t n);
/* Content of the regular file at path ("a/b", "./a/b" and "/a/b" are the same);
 * missing -> KC_E_NOTFOUND, larger than max -> KC_E_TOOBIG. *data is NUL-terminated. */
int kc_tar_read_file(const void *buf, size_t len, const char *path, size_t max, char **data,
		     size_t *data_len, kc_err_t *err);
/* Extracts into dest_dir (must exist) with modes and times; owners too when
 * keep_owner (needs root). Unsafe paths are refused (KC_E_INVALID). */
int kc_tar_extract(const void *buf, size_t len, const char *dest_dir, bool keep_owner,
		   kc_err_t *err);

#endif
