/* kctl-shim baseline: a record of the image filesystem (path, type, mode,
 * owner, size, times, inode and sha256 of content) taken at start, written to
 * a bounded line format, read back defensively, and compared with a fresh
 * walk to list what was added, changed and deleted. Walks stay on the root's
 * filesystem (like find -xdev) and skip configured prefixes. Re-walks reuse
 * the previous hash when size, mtime, ctime and inode are all unchanged.
 *
 * File format (text, one record per line, fields separated by one TAB):
 *   kctl-shim-baseline 1
 *   root <escaped path>
 *   skip <escaped path>            (zero or more)
 *   created <unix seconds>
 *   e <type> <mode octal> <uid> <gid> <size> <mtime ns> <ctime ns> <ino> <sha256 hex|-> <path>
 * type is one of f d l c b p s; paths are relative to root and start with
 * "/"; "\\", TAB and newline in paths are escaped as \\ \t \n. Entries are
 * sorted by path (strcmp). */
#ifndef KC_INIT_BASELINE_H
#define KC_INIT_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>

#include "shim/base/error.h"

#define KC_BL_MAX_FILE (1u << 30)    /* a baseline file larger than this is refused */
#define KC_BL_MAX_ENTRIES (8u << 20) /* entries per baseline */
#define KC_BL_MAX_SKIPS 256

struct kc_bl_entry {
	char *path;
	char type;
	uint32_t mode; /* permission bits incl. suid/sgid/sticky */
	uint32_t uid, gid;
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
	uint64_t ino;
	bool has_sha;
	uint8_t sha[32];
};

struct kc_baseline {
	char *root;
	char **skip;
	size_t n_skip;
	int64_t created;
	struct kc_bl_entry *e;
	size_t n, cap;
};

struct kc_bl_walk_opts {
	const char *root;		/* absolute; "/" in a container */
	const char *const *skip;	/* absolute paths as seen from outside root... */
	size_t n_skip;			/* ...i.e. within root when root is "/" */
	const struct kc_baseline *prev; /* for hash reuse; may be NULL */
	unsigned threads;		/* hashing threads; 0: one per CPU, at most 4 */
};

struct kc_bl_walk_stats {
	uint64_t files, dirs, others;
	uint64_t hashed_files, hashed_bytes, reused;
	uint64_t errors; /* entries that vanished or could not be read */
};

int kc_baseline_walk(const struct kc_bl_walk_opts *o, struct kc_baseline *out,
		     struct kc_bl_walk_stats *stats, kc_err_t *err);
int kc_baseline_write(const struct kc_baseline *b, const char *path, kc_err_t *err);
int kc_baseline_parse(const char *buf, size_t len, struct kc_baseline *out, kc_err_t *err);
int kc_baseline_load(const char *path, struct kc_baseline *out, kc_err_t *err);
void kc_baseline_free(struct kc_baseline *b);

struct kc_bl_diff_counts {
	size_t added, changed, deleted;
};
/* Emits "added", "changed" and "deleted" keys (arrays) into an open map. */
void kc_baseline_diff(const struct kc_baseline *old, const struct kc_baseline *cur, yajl_gen g,
		      struct kc_bl_diff_counts *counts);

#endif
