/* Image file index from layer tars: see fileindex.h. Each layer is read
 * whole into a sorted batch first, then merged with the index below it, so a
 * failing layer leaves the index as it was and the merge is O(n log n). */
#include "fileindex.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shim/base/json.h"

int kc_file_index_new(struct kc_file_index **out, kc_err_t *err)
{
	*out = calloc(1, sizeof **out);
	if (!*out)
		return kc_err_sys(err, ENOMEM, "file index");
	return 0;
}

static void entry_free(struct kc_file_entry *e)
{
	free(e->path);
	free(e->link);
	e->path = e->link = NULL;
}

void kc_file_index_free(struct kc_file_index *idx)
{
	if (!idx)
		return;
	for (size_t i = 0; i < idx->n; i++)
		entry_free(&idx->entries[i]);
	free(idx->entries);
	free(idx);
}

/* First index whose path is >= key. */
static size_t lower_bound(const struct kc_file_entry *v, size_t n, const char *key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v[mid].path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct kc_file_entry *kc_file_index_find(const struct kc_file_index *idx, const char *path)
{
	size_t i = lower_bound(idx->entries, idx->n, path);
	return i < idx->n && !strcmp(idx->entries[i].path, path) ? &idx->entries[i] : NULL;
}

/* Tar member name -> "/a/b" (new string); "" for the root. "." and empty
 * components go away; ".." is refused (returns NULL with *bad set). */
static char *normalize(const char *name, bool *bad)
{
	size_t len = strlen(name);
	*bad = false;
	if (len > KC_FILE_INDEX_MAX_PATH) {
		*bad = true;
		return NULL;
	}
	char *out = malloc(len + 2);
	if (!out)
		return NULL;
	size_t w = 0;
	const char *p = name;
	while (*p) {
		while (*p == '/')
			p++;
		const char *start = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - start);
		if (n == 0 || (n == 1 && start[0] == '.'))
			continue;
		if (n == 2 && start[0] == '.' && start[1] == '.') {
			free(out);
			*bad = true;
			return NULL;
		}
		out[w++] = '/';
		memcpy(out + w, start, n);
		w += n;
	}
	out[w] = '\0';
	return out;
}

struct whiteout {
	char *prefix; /* "/a/b/" : children to hide */
	char *exact;  /* "/a/b" : the entry itself (NULL for opaque) */
};

struct batch {
	struct kc_file_entry *adds;
	size_t n_adds, cap_adds;
	struct whiteout *whs;
	size_t n_whs, cap_whs;
};

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n_adds; i++)
		entry_free(&b->adds[i]);
	free(b->adds);
	for (size_t i = 0; i < b->n_whs; i++) {
		free(b->whs[i].prefix);
		free(b->whs[i].exact);
	}
	free(b->whs);
}

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	void *n = realloc(*v, nc * size);
	if (!n)
		return -1;
	*v = n;
	*cap = nc;
	return 0;
}

static int add_whiteout(struct batch *b, const char *dir, const char *name, kc_err_t *err)
{
	if (grow((void **)&b->whs, &b->cap_whs, b->n_whs + 1, sizeof *b->whs) < 0)
		return kc_err_sys(err, ENOMEM, "file index");
	struct whiteout *w = &b->whs[b->n_whs];
	memset(w, 0, sizeof *w);
	int n;
	if (name) {
		n = asprintf(&w->exact, "%s/%s", dir, name);
		if (n >= 0)
			n = asprintf(&w->prefix, "%s/%s/", dir, name);
	} else {
		n = asprintf(&w->prefix, "%s/", dir);
	}
	b->n_whs++; /* counted even when half-built, so batch_free frees it */
	if (n < 0)
		return kc_err_sys(err, ENOMEM, "file index");
	return 0;
}

static enum kc_file_type entry_type(struct archive_entry *ae)
{
	if (archive_entry_hardlink(ae))
		return KC_FILE_HARDLINK;
	switch (archive_entry_filetype(ae)) {
	case AE_IFDIR:
		return KC_FILE_DIR;
	case AE_IFLNK:
		return KC_FILE_SYMLINK;
	case AE_IFCHR:
		return KC_FILE_CHAR;
	case AE_IFBLK:
		return KC_FILE_BLOCK;
	case AE_IFIFO:
		return KC_FILE_FIFO;
	default:
		return KC_FILE_REG;
	}
}

static int hash_data(struct archive *a, struct kc_file_entry *e, kc_err_t *err)
{
	struct kc_sha256 *s = NULL;
	char buf[65536];
	uint64_t total = 0;
	if (kc_sha256_new(&s, err) < 0)
		return -1;
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, sizeof buf);
		if (n < 0) {
			kc_sha256_free(s);
			return kc_err_new(err, KC_E_INVALID, "layer: reading %s: %s", e->path,
					  archive_error_string(a));
		}
		if (n == 0)
			break;
		kc_sha256_update(s, buf, (size_t)n);
		total += (uint64_t)n;
	}
	uint8_t raw[32];
	kc_sha256_final(s, raw);
	kc_sha256_free(s);
	memcpy(e->sha256, "sha256:", 7);
	kc_sha256_hex(raw, e->sha256 + 7);
	e->size = total;
	return 0;
}

/* Reads one member into the batch (an entry or a whiteout). */
static int read_member(struct archive *a, struct archive_entry *ae, struct batch *b, size_t limit,
		       kc_err_t *err)
{
	const char *name = archive_entry_pathname(ae);
	bool bad;
	if (!name)
		return kc_err_new(err, KC_E_INVALID, "layer: member without a name");
	char *path = normalize(name, &bad);
	if (!path)
		return bad ? kc_err_new(err, KC_E_INVALID, "layer: unsafe path \"%.200s\"", name)
			   : kc_err_sys(err, ENOMEM, "file index");
	if (!path[0]) { /* the root directory itself */
		free(path);
		return 0;
	}
	char *slash = strrchr(path, '/');
	const char *base = slash + 1;
	if (!strncmp(base, ".wh.", 4)) {
		*slash = '\0'; /* path is now the parent ("" for the root) */
		int rc = 0;
		if (!strcmp(base, ".wh..wh..opq"))
			rc = add_whiteout(b, path, NULL, err);
		else if (strncmp(base, ".wh..wh.", 8) != 0) /* other .wh..wh.* are AUFS internals */
			rc = add_whiteout(b, path, base + 4, err);
		free(path);
		return rc;
	}
	if (b->n_adds >= limit) {
		free(path);
		return kc_err_new(err, KC_E_TOOBIG, "layer: more than %d files",
				  KC_FILE_INDEX_MAX_ENTRIES);
	}
	if (grow((void **)&b->adds, &b->cap_adds, b->n_adds + 1, sizeof *b->adds) < 0) {
		free(path);
		return kc_err_sys(err, ENOMEM, "file index");
	}
	struct kc_file_entry *e = &b->adds[b->n_adds++];
	memset(e, 0, sizeof *e);
	e->path = path;
	e->type = entry_type(ae);
	e->mode = (uint32_t)(archive_entry_perm(ae) & 07777);
	e->uid = (uint32_t)archive_entry_uid(ae);
	e->gid = (uint32_t)archive_entry_gid(ae);
	if (e->type == KC_FILE_HARDLINK) {
		e->link = normalize(archive_entry_hardlink(ae), &bad);
		if (!e->link)
			return bad ? kc_err_new(err, KC_E_INVALID,
						"layer: unsafe hardlink target of %s", e->path)
				   : kc_err_sys(err, ENOMEM, "file index");
	} else if (e->type == KC_FILE_SYMLINK) {
		const char *t = archive_entry_symlink(ae);
		e->link = strdup(t ? t : "");
		if (!e->link)
			return kc_err_sys(err, ENOMEM, "file index");
	}
	if (e->type == KC_FILE_REG)
		return hash_data(a, e, err);
	return 0;
}

struct sort_key {
	const char *path;
	size_t i;
};

/* Sorted by path; equal paths keep arrival order so the last one wins. */
static int cmp_key(const void *x, const void *y)
{
	const struct sort_key *a = x, *b = y;
	int c = strcmp(a->path, b->path);
	if (c)
		return c;
	return a->i < b->i ? -1 : a->i > b->i;
}

static void drop_prefix(const struct kc_file_index *idx, bool *drop, const char *prefix)
{
	size_t plen = strlen(prefix);
	for (size_t i = lower_bound(idx->entries, idx->n, prefix);
	     i < idx->n && !strncmp(idx->entries[i].path, prefix, plen); i++)
		drop[i] = true;
}

static void drop_exact(const struct kc_file_index *idx, bool *drop, const char *path)
{
	size_t i = lower_bound(idx->entries, idx->n, path);
	if (i < idx->n && !strcmp(idx->entries[i].path, path))
		drop[i] = true;
}

/* Merges the batch into idx (consuming the batch's entries). */
static int merge(struct kc_file_index *idx, struct batch *b, kc_err_t *err)
{
	size_t *order = malloc((b->n_adds ? b->n_adds : 1) * sizeof *order);
	struct sort_key *keys = malloc((b->n_adds ? b->n_adds : 1) * sizeof *keys);
	bool *drop = calloc(idx->n ? idx->n : 1, sizeof *drop);
	bool *dup = calloc(b->n_adds ? b->n_adds : 1, sizeof *dup);
	if (!order || !keys || !drop || !dup) {
		free(keys);
		free(order);
		free(drop);
		free(dup);
		return kc_err_sys(err, ENOMEM, "file index");
	}
	for (size_t i = 0; i < b->n_adds; i++)
		keys[i] = (struct sort_key){b->adds[i].path, i};
	qsort(keys, b->n_adds, sizeof *keys, cmp_key);
	for (size_t i = 0; i < b->n_adds; i++)
		order[i] = keys[i].i;
	free(keys);
	for (size_t k = 0; k + 1 < b->n_adds; k++)
		if (!strcmp(b->adds[order[k]].path, b->adds[order[k + 1]].path))
			dup[order[k]] = true;

	/* Whiteouts hide lower layers only; entries of this layer stay. */
	for (size_t i = 0; i < b->n_whs; i++) {
		if (b->whs[i].exact)
			drop_exact(idx, drop, b->whs[i].exact);
		drop_prefix(idx, drop, b->whs[i].prefix);
	}
	/* A non-directory replacing a lower directory hides its contents. */
	for (size_t i = 0; i < b->n_adds; i++) {
		const struct kc_file_entry *e = &b->adds[i];
		if (dup[i] || e->type == KC_FILE_DIR)
			continue;
		size_t l = lower_bound(idx->entries, idx->n, e->path);
		if (l < idx->n && !strcmp(idx->entries[l].path, e->path) &&
		    idx->entries[l].type == KC_FILE_DIR) {
			char *prefix = NULL;
			if (asprintf(&prefix, "%s/", e->path) < 0) {
				free(order);
				free(drop);
				free(dup);
				return kc_err_sys(err, ENOMEM, "file index");
			}
			drop_prefix(idx, drop, prefix);
			free(prefix);
		}
	}

	size_t total = idx->n + b->n_adds;
	if (total > KC_FILE_INDEX_MAX_ENTRIES) {
		free(order);
		free(drop);
		free(dup);
		return kc_err_new(err, KC_E_TOOBIG, "file index: more than %d files",
				  KC_FILE_INDEX_MAX_ENTRIES);
	}
	struct kc_file_entry *out = malloc((total ? total : 1) * sizeof *out);
	if (!out) {
		free(order);
		free(drop);
		free(dup);
		return kc_err_sys(err, ENOMEM, "file index");
	}
	size_t n = 0, i = 0, k = 0;
	while (i < idx->n || k < b->n_adds) {
		if (k < b->n_adds && dup[order[k]]) {
			entry_free(&b->adds[order[k]]);
			k++;
			continue;
		}
		if (i < idx->n && drop[i]) {
			entry_free(&idx->entries[i]);
			i++;
			continue;
		}
		int c = i >= idx->n	 ? 1
			: k >= b->n_adds ? -1
					 : strcmp(idx->entries[i].path, b->adds[order[k]].path);
		if (c < 0) {
			out[n++] = idx->entries[i++];
		} else {
			if (c == 0)
				entry_free(&idx->entries[i++]);
			out[n++] = b->adds[order[k++]];
		}
	}
	/* The batch's entries now belong to the index. */
	b->n_adds = 0;
	free(idx->entries);
	idx->entries = out;
	idx->n = n;
	idx->cap = total;
	free(order);
	free(drop);
	free(dup);

	/* Hardlinks carry their target's content. */
	for (size_t j = 0; j < idx->n; j++) {
		struct kc_file_entry *e = &idx->entries[j];
		if (e->type != KC_FILE_HARDLINK || e->sha256[0])
			continue;
		const struct kc_file_entry *t = kc_file_index_find(idx, e->link);
		if (t && t->type == KC_FILE_REG) {
			strcpy(e->sha256, t->sha256);
			e->size = t->size;
		}
	}
	return 0;
}

static int apply(struct kc_file_index *idx, struct archive *a, kc_err_t *err)
{
	struct batch b = {0};
	struct archive_entry *ae;
	int rc = 0;
	size_t limit = KC_FILE_INDEX_MAX_ENTRIES;
	for (;;) {
		int r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = kc_err_new(err, KC_E_INVALID, "layer: %s",
					archive_error_string(a) ? archive_error_string(a)
								: "unreadable archive");
			break;
		}
		rc = read_member(a, ae, &b, limit, err);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = merge(idx, &b, err);
	batch_free(&b);
	archive_read_free(a);
	return rc;
}

static struct archive *new_reader(void)
{
	struct archive *a = archive_read_new();
	if (!a)
		return NULL;
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_empty(a);
	return a;
}

int kc_file_index_apply_fd(struct kc_file_index *idx, int fd, kc_err_t *err)
{
	struct archive *a = new_reader();
	if (!a)
		return kc_err_sys(err, ENOMEM, "file index");
	if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
		int rc = kc_err_new(err, KC_E_INVALID, "layer: %s", archive_error_string(a));
		archive_read_free(a);
		return rc;
	}
	return apply(idx, a, err);
}

int kc_file_index_apply_mem(struct kc_file_index *idx, const void *buf, size_t len, kc_err_t *err)
{
	struct archive *a = new_reader();
	if (!a)
		return kc_err_sys(err, ENOMEM, "file index");
	if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK) {
		int rc = kc_err_new(err, KC_E_INVALID, "layer: %s", archive_error_string(a));
		archive_read_free(a);
		return rc;
	}
	return apply(idx, a, err);
}

void kc_file_index_gen(yajl_gen g, const struct kc_file_index *idx)
{
	yajl_gen_array_open(g);
	for (size_t i = 0; i < idx->n; i++) {
		const struct kc_file_entry *e = &idx->entries[i];
		char type[2] = {(char)e->type, '\0'};
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "path", e->path);
		kc_jgen_kv_str(g, "type", type);
		kc_jgen_kv_int(g, "mode", e->mode);
		kc_jgen_kv_int(g, "uid", e->uid);
		kc_jgen_kv_int(g, "gid", e->gid);
		kc_jgen_kv_int(g, "size", (int64_t)e->size);
		if (e->sha256[0])
			kc_jgen_kv_str(g, "sha256", e->sha256);
		if (e->link)
			kc_jgen_kv_str(g, "link", e->link);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}
