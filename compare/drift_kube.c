/* kctl drift on Kubernetes (drift_kube.h): per pod, kctl-shim's own drift answer, or
 * a listing taken over exec against the image file index from the registry. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare/drift_kube.h"
#include "compare/patch.h"
#include "registry/registry.h"
#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/engine/kube.h"
#include "shim/engine/kube_pods.h"

#define KUBE_DRIFT_MAX_OUTPUT (32u << 20)
#define KUBE_DRIFT_MAX_IMAGES 16

/* Sections: #M /proc/mounts, #D dirs, #L "path\ttarget" symlinks, #F sha256sum lines,
 * #P "mode path" of files and dirs (stat -c %a: permission bits with suid/sgid/sticky,
 * in octal; symlink modes mean nothing), #E end (missing: the listing was cut short).
 * -xdev keeps find out of mounted directories; the pseudo filesystems and /tmp are
 * pruned by path. */
const char kc_drift_kube_script[] =
    "cd / || exit 1\n"
    "P='( -path /proc -o -path /sys -o -path /dev -o -path /tmp ) -prune -o'\n"
    "set -f\n"
    "echo '#M'; cat /proc/mounts\n"
    "echo '#D'; find / -xdev $P -type d -print\n"
    "echo '#L'; find / -xdev $P -type l -print | while IFS= read -r p; do\n"
    "  printf '%s\\t%s\\n' \"$p\" \"$(readlink \"$p\")\"; done\n"
    "echo '#F'; find / -xdev $P -type f -print0 | xargs -0 -r sha256sum\n"
    "echo '#P'; find / -xdev $P '(' -type f -o -type d ')' -exec stat -c '%a %n' {} +\n"
    "echo '#E'\n";

struct pod_entry {
	char *path;
	char type;  /* 'f', 'd', 'l'; 'p' in the modes list */
	char *data; /* sha256 "sha256:hex" for f, target for l */
	bool has_mode;
	uint32_t mode;
};

struct listing {
	struct pod_entry *v;
	size_t n, cap;
	char **mounts;
	size_t n_mounts, cap_mounts;
};

static void entries_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].data);
	}
	free(l->v);
}

static void listing_free(struct listing *l)
{
	entries_free(l);
	for (size_t i = 0; i < l->n_mounts; i++)
		free(l->mounts[i]);
	free(l->mounts);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pod_entry *)a)->path, ((const struct pod_entry *)b)->path);
}

static int push(struct listing *l, const char *path, size_t plen, char type, const char *data,
		size_t dlen, kc_err_t *err)
{
	if (l->n == l->cap) {
		size_t c = l->cap ? l->cap * 2 : 256;
		if (c > KC_FILE_INDEX_MAX_ENTRIES)
			return kc_err_new(err, KC_E_TOOBIG, "pod listing has too many entries");
		struct pod_entry *v = realloc(l->v, c * sizeof *v);
		if (!v)
			return kc_err_new(err, KC_E_GENERIC, "out of memory");
		l->v = v;
		l->cap = c;
	}
	struct pod_entry *e = &l->v[l->n];
	e->type = type;
	e->has_mode = false;
	e->mode = 0;
	e->path = strndup(path, plen);
	e->data = data ? strndup(data, dlen) : NULL;
	if (!e->path || (data && !e->data)) {
		free(e->path);
		free(e->data);
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	}
	l->n++;
	return 0;
}

static int push_mount(struct listing *l, const char *line, size_t len, kc_err_t *err)
{
	/* "device mountpoint fstype options 0 0" */
	const char *end = line + len;
	const char *sp = memchr(line, ' ', len);
	if (!sp)
		return 0;
	const char *mp = sp + 1;
	const char *sp2 = memchr(mp, ' ', (size_t)(end - mp));
	size_t mlen = sp2 ? (size_t)(sp2 - mp) : (size_t)(end - mp);
	if (mlen == 0 || mp[0] != '/' || (mlen == 1))
		return 0;
	if (l->n_mounts == l->cap_mounts) {
		size_t c = l->cap_mounts ? l->cap_mounts * 2 : 32;
		if (c > 65536)
			return kc_err_new(err, KC_E_TOOBIG, "pod has too many mounts");
		char **m = realloc(l->mounts, c * sizeof *m);
		if (!m)
			return kc_err_new(err, KC_E_GENERIC, "out of memory");
		l->mounts = m;
		l->cap_mounts = c;
	}
	if (!(l->mounts[l->n_mounts] = strndup(mp, mlen)))
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	l->n_mounts++;
	return 0;
}

/* "755 /path" of the #P section, into the modes list. */
static int push_mode(struct listing *modes, const char *line, size_t ll, kc_err_t *err)
{
	uint32_t m = 0;
	size_t i = 0;
	for (; i < ll && i < 5 && line[i] >= '0' && line[i] <= '7'; i++)
		m = m * 8 + (uint32_t)(line[i] - '0');
	if (i == 0 || i + 1 >= ll || line[i] != ' ' || line[i + 1] != '/')
		return 0;
	if (push(modes, line + i + 1, ll - i - 1, 'p', NULL, 0, err) < 0)
		return -1;
	modes->v[modes->n - 1].has_mode = true;
	modes->v[modes->n - 1].mode = m & 07777;
	return 0;
}

/* Modes from the #P list onto the entries (both sorted by path). */
static void apply_modes(struct listing *l, const struct listing *modes)
{
	for (size_t i = 0; i < l->n && modes->n; i++) {
		const struct pod_entry *m =
		    bsearch(&l->v[i], modes->v, modes->n, sizeof *modes->v, entry_cmp);
		if (m && l->v[i].type != 'l') {
			l->v[i].has_mode = true;
			l->v[i].mode = m->mode;
		}
	}
}

static int parse_listing(const char *s, size_t len, struct listing *l, kc_err_t *err)
{
	const char *p = s, *end = s + len;
	struct listing modes = {0};
	char section = 0;
	bool complete = false;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p;
		p = nl ? nl + 1 : end;
		if (ll == 2 && line[0] == '#') {
			section = line[1];
			if (section == 'E')
				complete = true;
			continue;
		}
		if (ll == 0)
			continue;
		int rc = 0;
		switch (section) {
		case 'M':
			rc = push_mount(l, line, ll, err);
			break;
		case 'D':
			if (line[0] == '/' && ll > 1)
				rc = push(l, line, ll, 'd', NULL, 0, err);
			break;
		case 'L': {
			const char *tab = memchr(line, '\t', ll);
			if (tab && line[0] == '/')
				rc = push(l, line, (size_t)(tab - line), 'l', tab + 1,
					  ll - (size_t)(tab - line) - 1, err);
			break;
		}
		case 'F': {
			/* "<64 hex>  /path" */
			if (ll < 67 || line[64] != ' ' || line[65] != ' ' || line[66] != '/')
				break;
			char sha[72] = "sha256:";
			memcpy(sha + 7, line, 64);
			rc = push(l, line + 66, ll - 66, 'f', sha, 71, err);
			break;
		}
		case 'P':
			rc = push_mode(&modes, line, ll, err);
			break;
		}
		if (rc < 0) {
			entries_free(&modes);
			return -1;
		}
	}
	if (!complete) {
		entries_free(&modes);
		return kc_err_new(err, KC_E_PROTO, "pod listing incomplete (output cut short?)");
	}
	qsort(l->v, l->n, sizeof *l->v, entry_cmp);
	if (modes.n)
		qsort(modes.v, modes.n, sizeof *modes.v, entry_cmp);
	apply_modes(l, &modes);
	entries_free(&modes);
	return 0;
}

static bool under_or_at(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool skipped(const struct listing *l, const char *path)
{
	static const char *const pseudo[] = {"/proc", "/sys", "/dev"};
	for (size_t i = 0; i < sizeof pseudo / sizeof *pseudo; i++)
		if (under_or_at(path, pseudo[i]))
			return true;
	return kc_drift_skip_path(path, (const char *const *)l->mounts, l->n_mounts);
}

/* A directory the runtime made to hold a mount point (e.g. /var/run/secrets/...). */
static bool mount_parent(const struct listing *l, const char *path)
{
	for (size_t i = 0; i < l->n_mounts; i++)
		if (under_or_at(l->mounts[i], path))
			return true;
	return false;
}

static int add(struct kc_drift_replica *r, const char *path, char kind, const char *sha,
	       uint32_t mode, kc_err_t *err)
{
	struct kc_drift_file *f = realloc(r->files, (r->n_files + 1) * sizeof *f);
	if (!f)
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	r->files = f;
	f = &r->files[r->n_files];
	memset(f, 0, sizeof *f);
	f->kind = kind;
	f->mode = mode;
	f->path = strdup(path);
	f->sha256 = sha ? strdup(sha) : NULL;
	if (!f->path || (sha && !f->sha256)) {
		free(f->path);
		free(f->sha256);
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	}
	r->n_files++;
	if (kind == 'A')
		r->added++;
	else if (kind == 'D')
		r->deleted++;
	else
		r->changed++;
	return 0;
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kc_drift_file *)a)->path,
		      ((const struct kc_drift_file *)b)->path);
}

static void files_free(struct kc_drift_file *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++) {
		free(f[i].path);
		free(f[i].sha256);
	}
	free(f);
}

/* A parsed listing against an index. target: the kinds of a target diff ('T' for a
 * type change); else a type change is 'C' as on Docker. */
static int compare_parsed(const struct kc_file_index *idx, const struct listing *l, bool target,
			  struct kc_drift_replica *r, kc_err_t *err)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct pod_entry *p = &l->v[i];
		if (skipped(l, p->path))
			continue;
		const char *sha = p->type == 'f' ? p->data : NULL;
		const struct kc_file_entry *e = kc_file_index_find(idx, p->path);
		if (!e) {
			if (p->type == 'd' && mount_parent(l, p->path))
				continue;
			/* The runtime's init layer links /etc/mtab to the mount table. */
			if (p->type == 'l' && !strcmp(p->path, "/etc/mtab") && p->data &&
			    (!strcmp(p->data, "/proc/mounts") ||
			     !strcmp(p->data, "/proc/self/mounts")))
				continue;
			if (add(r, p->path, 'A', sha, p->mode, err) < 0)
				return -1;
			continue;
		}
		char it = e->type == KC_FILE_HARDLINK ? 'f' : (char)e->type;
		char kind = 0;
		if (it != p->type)
			kind = target ? 'T' : 'C';
		else if ((it == 'f' && strcmp(e->sha256, p->data ? p->data : "")) ||
			 (it == 'l' && strcmp(e->link ? e->link : "", p->data ? p->data : "")))
			kind = 'C';
		else if (p->has_mode && it != 'l' && (e->mode & 07777) != p->mode)
			kind = 'M'; /* a chmod: same content, other permission bits */
		if (kind && add(r, p->path, kind, sha, p->mode, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < idx->n; i++) {
		const struct kc_file_entry *e = &idx->entries[i];
		/* Devices and fifos are not listed in the pod: not compared. */
		if (e->type != KC_FILE_REG && e->type != KC_FILE_HARDLINK &&
		    e->type != KC_FILE_DIR && e->type != KC_FILE_SYMLINK)
			continue;
		if (skipped(l, e->path))
			continue;
		struct pod_entry key = {.path = e->path};
		if (!bsearch(&key, l->v, l->n, sizeof *l->v, entry_cmp) &&
		    add(r, e->path, 'D', NULL, 0, err) < 0)
			return -1;
	}
	if (r->n_files)
		qsort(r->files, r->n_files, sizeof *r->files, file_cmp);
	return 0;
}

int kc_drift_kube_compare(const struct kc_file_index *idx, const char *listing, size_t len,
			  struct kc_drift_replica *r, kc_err_t *err)
{
	struct listing l = {0};
	int rc = parse_listing(listing, len, &l, err);
	if (rc == 0)
		rc = compare_parsed(idx, &l, false, r, err);
	listing_free(&l);
	return rc;
}

static int target_parsed(const struct kc_file_index *target, const struct listing *l,
			 struct kc_drift_file **out, size_t *n, kc_err_t *err)
{
	struct kc_drift_replica t = {0};
	if (compare_parsed(target, l, true, &t, err) < 0) {
		files_free(t.files, t.n_files);
		return -1;
	}
	*out = t.files;
	*n = t.n_files;
	return 0;
}

int kc_drift_kube_compare_target(const struct kc_file_index *target, const char *listing,
				 size_t len, struct kc_drift_file **out, size_t *n, kc_err_t *err)
{
	*out = NULL;
	*n = 0;
	struct listing l = {0};
	int rc = parse_listing(listing, len, &l, err);
	if (rc == 0)
		rc = target_parsed(target, &l, out, n, err);
	listing_free(&l);
	return rc;
}

/* ---- kctl-shim drift ---- */

static bool shim_skipped(const char *path)
{
	static const char *const pseudo[] = {"/proc", "/sys", "/dev"};
	for (size_t i = 0; i < sizeof pseudo / sizeof *pseudo; i++)
		if (under_or_at(path, pseudo[i]))
			return true;
	return kc_drift_skip_path(path, NULL, 0);
}

static const char *shim_str(yajl_val v, const char *key)
{
	yajl_val x = kc_json_find(v, key);
	return YAJL_IS_STRING(x) ? x->u.string : NULL;
}

int kc_drift_kube_shim_parse(const char *json, size_t len, struct kc_drift_replica *r,
			     kc_err_t *err)
{
	cleanup_json yajl_val root = NULL;
	if (kc_json_parse(json, len, &root, err) < 0)
		return kc_err_wrap(err, "kctl-shim drift output");
	static const char *const keys[] = {"/added", "/changed", "/deleted"};
	for (size_t k = 0; k < 3; k++) {
		yajl_val arr = kc_json_find(root, keys[k]);
		if (!YAJL_IS_ARRAY(arr))
			return kc_err_new(err, KC_E_PROTO, "kctl-shim drift output: no %s array",
					  keys[k] + 1);
		for (size_t i = 0; i < arr->u.array.len; i++) {
			yajl_val e = arr->u.array.values[i];
			const char *path = shim_str(e, "/path"), *type = shim_str(e, "/type");
			if (!path || path[0] != '/' || !type)
				return kc_err_new(err, KC_E_PROTO,
						  "kctl-shim drift output: an entry without "
						  "path or type");
			if (shim_skipped(path))
				continue;
			char kind = k == 0 ? 'A' : k == 2 ? 'D' : 'C';
			if (k == 1) {
				yajl_val fl = kc_json_find(e, "/fields");
				bool only_mode = YAJL_IS_ARRAY(fl) && fl->u.array.len == 1 &&
						 YAJL_IS_STRING(fl->u.array.values[0]) &&
						 !strcmp(fl->u.array.values[0]->u.string, "mode");
				if (only_mode)
					kind = 'M';
			}
			/* Directories carry no hash (as on Docker); deleted entries none. */
			const char *sha =
			    k == 2 || !strcmp(type, "d") ? NULL : shim_str(e, "/sha256");
			yajl_val mv = kc_json_find(e, "/mode");
			uint32_t mode = 0;
			if (k != 2 && YAJL_IS_INTEGER(mv))
				mode = (uint32_t)YAJL_GET_INTEGER(mv) & 07777;
			else if (k != 2 && YAJL_IS_STRING(mv))
				mode = (uint32_t)strtoul(mv->u.string, NULL, 8) & 07777;
			if (add(r, path, kind, sha, mode, err) < 0)
				return -1;
		}
	}
	if (r->n_files)
		qsort(r->files, r->n_files, sizeof *r->files, file_cmp);
	return 0;
}

int kc_drift_kube_image_ref(const char *image_id, char **out, kc_err_t *err)
{
	*out = NULL;
	if (!image_id)
		return 0;
	const char *s = strstr(image_id, "://");
	s = s ? s + 3 : image_id;
	const char *at = strchr(s, '@');
	/* "sha256:<image id>" alone (docker://, or a runtime without repo digests) names
	 * no repository: nothing to fetch from a registry. */
	if (!at || at == s || strncmp(at + 1, "sha256:", 7))
		return 0;
	if (!(*out = strdup(s)))
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	return 0;
}

static const char *shim_in(const char *const *v)
{
	for (size_t i = 0; v && v[i]; i++) {
		const char *b = strrchr(v[i], '/');
		if (!strcmp(b ? b + 1 : v[i], "kctl-shim"))
			return v[i];
	}
	return NULL;
}

const char *kc_drift_kube_shim_path(const char *const *command, const char *const *args,
				    const char *const *entrypoint, const char *const *cmd)
{
	/* Kubernetes: command replaces the Entrypoint (and drops the image's Cmd), args
	 * replace the Cmd. */
	const char *s = shim_in(command ? command : entrypoint);
	if (!s)
		s = shim_in(args ? args : command ? NULL : cmd);
	return s;
}

/* ---- the pods ---- */

struct image_cache {
	char *image;
	struct kc_image_info info;
	struct kc_file_index *idx;
	char **entrypoint, **cmd; /* image config */
};

static int image_config(struct kc_registry *reg, struct image_cache *e, kc_err_t *err)
{
	cleanup_free char *body = NULL;
	size_t len = 0;
	if (kc_registry_fetch_blob_mem(reg, &e->info.ref, e->info.config.digest, 4u << 20, &body,
				       &len, err) < 0)
		return kc_err_wrap(err, "image config");
	cleanup_json yajl_val root = NULL;
	if (kc_json_parse(body, len, &root, err) < 0)
		return kc_err_wrap(err, "image config %s", e->info.config.digest);
	static const char *const keys[] = {"/config/Entrypoint", "/config/Cmd"};
	for (size_t k = 0; k < 2; k++) {
		yajl_val v = kc_json_find(root, keys[k]);
		if (!YAJL_IS_ARRAY(v))
			continue;
		char **sv = calloc(v->u.array.len + 1, sizeof *sv);
		if (!sv)
			return kc_err_new(err, KC_E_GENERIC, "out of memory");
		for (size_t i = 0; i < v->u.array.len; i++) {
			yajl_val x = v->u.array.values[i];
			if (!(sv[i] = strdup(YAJL_IS_STRING(x) ? x->u.string : ""))) {
				kc_strv_free(sv);
				return kc_err_new(err, KC_E_GENERIC, "out of memory");
			}
		}
		if (k == 0)
			e->entrypoint = sv;
		else
			e->cmd = sv;
	}
	return 0;
}

static void image_cache_free(struct image_cache *c)
{
	free(c->image);
	kc_image_info_free(&c->info);
	kc_file_index_free(c->idx);
	kc_strv_free(c->entrypoint);
	kc_strv_free(c->cmd);
}

static int image_index(struct kc_registry *reg, struct image_cache *c, size_t *n_c,
		       const char *image, struct image_cache **out, kc_err_t *err)
{
	for (size_t i = 0; i < *n_c; i++)
		if (!strcmp(c[i].image, image)) {
			*out = &c[i];
			return 0;
		}
	if (*n_c == KUBE_DRIFT_MAX_IMAGES)
		return kc_err_new(err, KC_E_TOOBIG, "more than %d distinct images",
				  KUBE_DRIFT_MAX_IMAGES);
	struct image_cache *e = &c[*n_c];
	memset(e, 0, sizeof *e);
	struct kc_ref ref;
	if (kc_ref_parse(image, &ref, err) < 0)
		return kc_err_wrap(err, "image %s", image);
	if (kc_registry_resolve(reg, &ref, &e->info, err) < 0)
		return kc_err_wrap(err, "resolving %s", image);
	if (image_config(reg, e, err) < 0 ||
	    kc_registry_file_index(reg, &e->info, 0, &e->idx, err) < 0 ||
	    !(e->image = strdup(image))) {
		if (!*err)
			kc_err_new(err, KC_E_GENERIC, "out of memory");
		image_cache_free(e);
		return kc_err_wrap(err, "image %s", image);
	}
	(*n_c)++;
	*out = e;
	return 0;
}

static int note(struct kc_drift_report *out, kc_err_t *err, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static int note(struct kc_drift_report *out, kc_err_t *err, const char *f, ...)
{
	char **v = realloc(out->notes, (out->n_notes + 2) * sizeof *v);
	if (!v)
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	out->notes = v;
	va_list ap;
	va_start(ap, f);
	int n = vasprintf(&v[out->n_notes], f, ap);
	va_end(ap);
	if (n < 0)
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	v[++out->n_notes] = NULL;
	return 0;
}

/* First line of a command's stderr, bounded, for a note. */
static const char *first_line(const char *s, int *len)
{
	if (!s)
		s = "";
	const char *nl = strchr(s, '\n');
	size_t l = nl ? (size_t)(nl - s) : strlen(s);
	*len = l > 200 ? 200 : (int)l;
	return s;
}

/* Per pod, while the report is built. */
struct pod_work {
	struct image_cache *ic;
	const char *shim;  /* kctl-shim path, or NULL */
	bool use_listing;  /* its own drift comes from the listing */
	bool want_listing; /* the listing is taken (own drift or --target) */
	char *listing;	   /* stdout of the script */
};

/* Runs `SHIM drift` in the pods that start with kctl-shim; the ones whose answer is
 * an error fall back to the listing (noted). */
static int run_shim(struct kc_kube *k, const struct kc_drift_kube_opts *o,
		    const struct kc_kube_pod *pods, size_t n, struct pod_work *w,
		    struct kc_drift_report *out, kc_err_t *err)
{
	for (size_t i = 0; i < n; i++) {
		if (!w[i].shim || w[i].use_listing || out->replicas[i].method)
			continue;
		/* One exec batch per distinct shim path (usually one for all). */
		const char *path = w[i].shim;
		size_t m = 0;
		size_t *which = calloc(n, sizeof *which);
		struct kc_kube_exec_each *each = calloc(n, sizeof *each);
		if (!which || !each) {
			free(which);
			free(each);
			return kc_err_new(err, KC_E_GENERIC, "out of memory");
		}
		for (size_t j = i; j < n; j++)
			if (w[j].shim && !w[j].use_listing && !strcmp(w[j].shim, path)) {
				each[m].pod = pods[j].name;
				each[m].container = pods[j].container;
				which[m++] = j;
			}
		const char *const argv[] = {path, "drift", NULL};
		int rc =
		    kc_kube_exec_each(k, each, m, argv, NULL, 0, o->parallel,
				      o->max_output ? o->max_output : KUBE_DRIFT_MAX_OUTPUT, err);
		for (size_t x = 0; rc >= 0 && x < m; x++) {
			size_t j = which[x];
			struct kc_drift_replica *r = &out->replicas[j];
			const struct kc_kube_exec_each *e = &each[x];
			if (e->ran && (e->exit_code == 0 || e->exit_code == 1)) {
				cleanup_err kc_err_t perr = NULL;
				const char *s = e->out ? e->out : "";
				if (kc_drift_kube_shim_parse(s, strlen(s), r, &perr) == 0) {
					if (!(r->method = strdup("shim")))
						rc = kc_err_new(err, KC_E_GENERIC, "out of memory");
					continue;
				}
				files_free(r->files, r->n_files);
				r->files = NULL;
				r->n_files = r->added = r->changed = r->deleted = 0;
				cleanup_free char *why = kc_err_string(perr);
				rc = note(out, err,
					  "pod %s: %s drift answered what kctl cannot read (%s); "
					  "compared its file listing with the image instead",
					  pods[j].name, path, why ? why : "?");
			} else if (e->ran) {
				int l;
				const char *fl = first_line(e->err_out, &l);
				rc = note(out, err,
					  "pod %s: %s drift failed (exit %d%s%.*s); compared its "
					  "file listing with the image instead",
					  pods[j].name, path, e->exit_code, l ? ": " : "", l, fl);
			} else {
				cleanup_free char *why = e->error ? kc_err_string(e->error) : NULL;
				rc = note(out, err,
					  "pod %s: exec of %s drift failed (%s); compared its file "
					  "listing with the image instead",
					  pods[j].name, path, why ? why : "did not run");
			}
			w[j].use_listing = w[j].want_listing = true;
		}
		kc_kube_exec_each_free(each, m);
		free(each);
		free(which);
		if (rc < 0)
			return kc_err_wrap(err, "kctl-shim drift");
	}
	return 0;
}

static int run_listing(struct kc_kube *k, const struct kc_drift_kube_opts *o,
		       const struct kc_kube_pod *pods, size_t n, struct pod_work *w, kc_err_t *err)
{
	size_t m = 0;
	cleanup_free size_t *which = calloc(n + 1, sizeof *which);
	struct kc_kube_exec_each *each = calloc(n + 1, sizeof *each);
	if (!which || !each) {
		free(each);
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	}
	for (size_t j = 0; j < n; j++)
		if (w[j].want_listing) {
			each[m].pod = pods[j].name;
			each[m].container = pods[j].container;
			which[m++] = j;
		}
	static const char *const argv[] = {"sh", "-c", kc_drift_kube_script, NULL};
	int rc = m ? kc_kube_exec_each(k, each, m, argv, NULL, 0, o->parallel,
				       o->max_output ? o->max_output : KUBE_DRIFT_MAX_OUTPUT, err)
		   : 0;
	for (size_t x = 0; rc >= 0 && x < m; x++) {
		const char *pod = pods[which[x]].name;
		if (!each[x].ran) {
			*err = kc_steal(each[x].error);
			if (!*err)
				kc_err_new(err, KC_E_REMOTE, "exec did not run");
			rc = kc_err_wrap(err, "listing files in pod %s", pod);
		} else if (each[x].exit_code != 0) {
			rc = kc_err_new(err, KC_E_REMOTE,
					"listing files in pod %s: exit %d (needs sh, find, xargs, "
					"sha256sum, stat in the image): %.200s",
					pod, each[x].exit_code,
					each[x].err_out ? each[x].err_out : "");
		} else {
			w[which[x]].listing = kc_steal(each[x].out);
			if (!w[which[x]].listing && !(w[which[x]].listing = strdup("")))
				rc = kc_err_new(err, KC_E_GENERIC, "out of memory");
		}
	}
	kc_kube_exec_each_free(each, m);
	free(each);
	return rc < 0 ? -1 : 0;
}

/* The image each pod runs (imageID), its index and config; which method it gets. */
static int pod_images(struct kc_registry *reg, const struct kc_drift_kube_opts *o,
		      const struct kc_kube_pod *pods, size_t n, struct image_cache *cache,
		      size_t *n_cache, struct pod_work *w, struct kc_drift_report *out,
		      kc_err_t *err)
{
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *ref = NULL;
		if (kc_drift_kube_image_ref(pods[i].image_id, &ref, err) < 0)
			return -1;
		const char *image = ref;
		if (!image) {
			if (!pods[i].image)
				return kc_err_new(err, KC_E_PROTO, "pod %s: no image",
						  pods[i].name);
			image = pods[i].image;
			int rc = pods[i].image_id
				     ? note(out, err,
					    "pod %s: its imageID %s names no registry digest: "
					    "compared with the spec's image %s",
					    pods[i].name, pods[i].image_id, image)
				     : note(out, err,
					    "pod %s: no imageID in its status yet: compared with "
					    "the spec's image %s",
					    pods[i].name, image);
			if (rc < 0)
				return -1;
		}
		if (image_index(reg, cache, n_cache, image, &w[i].ic, err) < 0)
			return kc_err_wrap(err, "pod %s", pods[i].name);
		struct kc_drift_replica *r = &out->replicas[i];
		if (!(r->image_digest = strdup(w[i].ic->info.digest)))
			return kc_err_new(err, KC_E_GENERIC, "out of memory");
		w[i].shim = kc_drift_kube_shim_path(
		    (const char *const *)pods[i].command, (const char *const *)pods[i].args,
		    (const char *const *)w[i].ic->entrypoint, (const char *const *)w[i].ic->cmd);
		w[i].use_listing = !w[i].shim;
		w[i].want_listing = w[i].use_listing || o->target_image;
	}
	return 0;
}

int kc_drift_kube(struct kc_kube *k, const struct kc_drift_kube_opts *o,
		  struct kc_drift_report *out, kc_err_t *err)
{
	memset(out, 0, sizeof *out);
	struct kc_kube_pod *pods = NULL;
	size_t n = 0;
	struct pod_work *w = NULL;
	struct kc_registry *reg = NULL;
	struct image_cache cache[KUBE_DRIFT_MAX_IMAGES];
	size_t n_cache = 0;
	struct kc_file_index *tidx = NULL;
	int rc = -1;

	if (!(out->app = strdup(o->deployment)) || !(out->notes = calloc(1, sizeof *out->notes)))
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	if (kc_kube_deployment_pods(k, o->deployment, &pods, &n, err) < 0) {
		kc_err_wrap(err, "deployment/%s", o->deployment);
		goto out;
	}
	if (n == 0) {
		kc_err_new(err, KC_E_NOTFOUND, "deployment/%s in namespace %s has no pods",
			   o->deployment, kc_kube_namespace(k));
		goto out;
	}
	struct kc_registry_opts ro = {.log = o->log};
	if (kc_registry_new(&ro, &reg, err) < 0)
		goto out;
	out->replicas = calloc(n, sizeof *out->replicas);
	w = calloc(n, sizeof *w);
	if (!out->replicas || !w) {
		kc_err_new(err, KC_E_GENERIC, "out of memory");
		goto out;
	}
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		struct kc_drift_replica *r = &out->replicas[i];
		r->id = strdup(pods[i].name);
		r->name = strdup(pods[i].name);
		r->mode = strdup("pod");
		if (!r->id || !r->name || !r->mode) {
			kc_err_new(err, KC_E_GENERIC, "out of memory");
			goto out;
		}
	}
	if (o->target_image) {
		struct kc_image_info ti;
		memset(&ti, 0, sizeof ti);
		if (kc_patch_image_index(reg, o->target_image, NULL, &ti, &tidx, err) < 0) {
			kc_err_wrap(err, "target %s", o->target_image);
			goto out;
		}
		out->target_digest = strdup(ti.digest);
		kc_image_info_free(&ti);
		out->target_diff = calloc(n + 1, sizeof *out->target_diff);
		out->n_target_diff = calloc(n + 1, sizeof *out->n_target_diff);
		if (!out->target_digest || !out->target_diff || !out->n_target_diff) {
			kc_err_new(err, KC_E_GENERIC, "out of memory");
			goto out;
		}
	}
	if (pod_images(reg, o, pods, n, cache, &n_cache, w, out, err) < 0 ||
	    run_shim(k, o, pods, n, w, out, err) < 0 || run_listing(k, o, pods, n, w, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct kc_drift_replica *r = &out->replicas[i];
		if (w[i].want_listing) {
			struct listing l = {0};
			int c = parse_listing(w[i].listing, strlen(w[i].listing), &l, err);
			if (c == 0 && w[i].use_listing) {
				c = compare_parsed(w[i].ic->idx, &l, false, r, err);
				if (c == 0 && !(r->method = strdup("listing")))
					c = kc_err_new(err, KC_E_GENERIC, "out of memory");
			}
			if (c == 0 && tidx)
				c = target_parsed(tidx, &l, &out->target_diff[i],
						  &out->n_target_diff[i], err);
			listing_free(&l);
			if (c < 0) {
				kc_err_wrap(err, "pod %s", pods[i].name);
				goto out;
			}
		}
		kc_drift_fingerprint(r);
	}
	out->distinct_states = kc_drift_count_states(out->replicas, out->n);
	rc = 0;
out:
	for (size_t i = 0; i < n_cache; i++)
		image_cache_free(&cache[i]);
	for (size_t i = 0; w && i < n; i++)
		free(w[i].listing);
	free(w);
	if (tidx)
		kc_file_index_free(tidx);
	kc_registry_free(reg);
	kc_kube_pods_free(pods, n);
	return rc;
}
