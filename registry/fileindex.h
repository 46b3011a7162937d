/* Image file index: the final filesystem of an image as a sorted list of
 * path -> type, mode, owner, size, content sha256, link target, built by
 * applying layer tars (plain, gzip, or any filter libarchive reads) in order
 * with OCI/AUFS whiteouts: ".wh.NAME" deletes NAME (and what is under it)
 * from lower layers, ".wh..wh..opq" hides everything a lower layer had in
 * that directory. Paths are absolute, normalized ("/etc/passwd"); the root
 * itself is not listed. Drift detection compares this with a container. */
#ifndef KC_REGISTRY_FILEINDEX_H
#define KC_REGISTRY_FILEINDEX_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

#include "shim/base/error.h"
#include "shim/base/sha256.h"

enum kc_file_type {
	KC_FILE_REG = 'f',
	KC_FILE_DIR = 'd',
	KC_FILE_SYMLINK = 'l',
	KC_FILE_HARDLINK = 'h', /* link = target path; sha256/size copied from it */
	KC_FILE_CHAR = 'c',
	KC_FILE_BLOCK = 'b',
	KC_FILE_FIFO = 'p',
};

struct kc_file_entry {
	char *path;
	enum kc_file_type type;
	uint32_t mode; /* permission bits and setuid/setgid/sticky (07777) */
	uint32_t uid, gid;
	uint64_t size;
	char sha256[KC_DIGEST_LEN + 1]; /* regular files (and hardlinks to them); "" otherwise */
	char *link;			/* symlink or hardlink target; NULL otherwise */
};

struct kc_file_index {
	struct kc_file_entry *entries; /* sorted by path (strcmp) */
	size_t n, cap;
};

#define KC_FILE_INDEX_MAX_ENTRIES 1000000
#define KC_FILE_INDEX_MAX_PATH 4096

int kc_file_index_new(struct kc_file_index **out, kc_err_t *err);
void kc_file_index_free(struct kc_file_index *idx);

/* Applies one layer read from fd (to EOF) or memory. A malformed tar, a path
 * with "..", or more than KC_FILE_INDEX_MAX_ENTRIES entries is an error
 * (KC_E_INVALID / KC_E_TOOBIG); the index is unchanged then. */
int kc_file_index_apply_fd(struct kc_file_index *idx, int fd, kc_err_t *err);
int kc_file_index_apply_mem(struct kc_file_index *idx, const void *buf, size_t len, kc_err_t *err);

/* Entry for an absolute path, or NULL. */
const struct kc_file_entry *kc_file_index_find(const struct kc_file_index *idx, const char *path);

/* [{"path","type":"f|d|l|h|c|b|p","mode":int,"uid","gid","size","sha256"?,"link"?}] */
void kc_file_index_gen(yajl_gen g, const struct kc_file_index *idx);

#endif
