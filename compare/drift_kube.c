/* kctl drift on Kubernetes (drift_kube.h): image file index from the registry
 * against a listing taken in each pod over exec. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "compare/drift_kube.h"
#include "registry/registry.h"
#include "shim/base/cleanup.h"
#include "shim/engine/kube.h"
#include "shim/engine/kube_pods.h"

#define KUBE_DRIFT_MAX_OUTPUT (32u << 20)
#define KUBE_DRIFT_MAX_IMAGES 16

/* Sections: #M /proc/mounts, #D dirs, #L "path\ttarget" symlinks, #F sha256sum lines,
 * #E end (missing: the listing was cut short). -xdev keeps find out of mounted
 * directories; the pseudo filesystems and /tmp are pruned by path. */
const char kc_drift_kube_script[] =
    "cd / || exit 1\n"
    "P='( -path /proc -o -path /sys -o -path /dev -o -path /tmp ) -prune -o'\n"
    "set -f\n"
    "echo '#M'; cat /proc/mounts\n"
    "echo '#D'; find / -xdev $P -type d -print\n"
    "echo '#L'; find / -xdev $P -type l -print | while IFS= read -r p; do\n"
    "  printf '%s\\t%s\\n' \"$p\" \"$(readlink \"$p\")\"; done\n"
    "echo '#F'; find / -xdev $P -type f -print0 | xargs -0 -r sha256sum\n"
    "echo '#E'\n";

struct pod_entry {
	char *path;
	char type;  /* 'f', 'd', 'l' */
	char *data; /* sha256 "sha256:hex" for f, target for l */
};

struct listing {
	struct pod_entry *v;
	size_t n, cap;
	char **mounts;
	size_t n_mounts, cap_mounts;
};

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].data);
	}
	free(l->v);
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

static int parse_listing(const char *s, size_t len, struct listing *l, kc_err_t *err)
{
	const char *p = s, *end = s + len;
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
		}
		if (rc < 0)
			return -1;
	}
	if (!complete)
		return kc_err_new(err, KC_E_PROTO, "pod listing incomplete (output cut short?)");
	qsort(l->v, l->n, sizeof *l->v, entry_cmp);
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
	       kc_err_t *err)
{
	struct kc_drift_file *f = realloc(r->files, (r->n_files + 1) * sizeof *f);
	if (!f)
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	r->files = f;
	f = &r->files[r->n_files];
	memset(f, 0, sizeof *f);
	f->kind = kind;
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

int kc_drift_kube_compare(const struct kc_file_index *idx, const char *listing, size_t len,
			  struct kc_drift_replica *r, kc_err_t *err)
{
	struct listing l = {0};
	int rc = -1;
	if (parse_listing(listing, len, &l, err) < 0)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		const struct pod_entry *p = &l.v[i];
		if (skipped(&l, p->path))
			continue;
		const struct kc_file_entry *e = kc_file_index_find(idx, p->path);
		if (!e) {
			if (p->type == 'd' && mount_parent(&l, p->path))
				continue;
			/* The runtime's init layer links /etc/mtab to the mount table. */
			if (p->type == 'l' && !strcmp(p->path, "/etc/mtab") && p->data &&
			    (!strcmp(p->data, "/proc/mounts") ||
			     !strcmp(p->data, "/proc/self/mounts")))
				continue;
			if (add(r, p->path, 'A', p->type == 'f' ? p->data : NULL, err) < 0)
				goto out;
			continue;
		}
		char it = e->type == KC_FILE_HARDLINK ? 'f' : (char)e->type;
		bool differs =
		    it != p->type || (it == 'f' && strcmp(e->sha256, p->data ? p->data : "")) ||
		    (it == 'l' && strcmp(e->link ? e->link : "", p->data ? p->data : ""));
		if (differs && add(r, p->path, 'C', p->type == 'f' ? p->data : NULL, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < idx->n; i++) {
		const struct kc_file_entry *e = &idx->entries[i];
		/* Devices and fifos are not listed in the pod: not compared. */
		if (e->type != KC_FILE_REG && e->type != KC_FILE_HARDLINK &&
		    e->type != KC_FILE_DIR && e->type != KC_FILE_SYMLINK)
			continue;
		if (skipped(&l, e->path))
			continue;
		struct pod_entry key = {.path = e->path};
		if (!bsearch(&key, l.v, l.n, sizeof *l.v, entry_cmp) &&
		    add(r, e->path, 'D', NULL, err) < 0)
			goto out;
	}
	if (r->n_files)
		qsort(r->files, r->n_files, sizeof *r->files, file_cmp);
	rc = 0;
out:
	listing_free(&l);
	return rc;
}

struct image_cache {
	char *image;
	struct kc_image_info info;
	struct kc_file_index *idx;
};

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
	if (kc_registry_file_index(reg, &e->info, 0, &e->idx, err) < 0) {
		kc_image_info_free(&e->info);
		return kc_err_wrap(err, "file index of %s", image);
	}
	if (!(e->image = strdup(image))) {
		kc_file_index_free(e->idx);
		kc_image_info_free(&e->info);
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	}
	(*n_c)++;
	*out = e;
	return 0;
}

int kc_drift_kube(struct kc_kube *k, const struct kc_drift_kube_opts *o,
		  struct kc_drift_report *out, kc_err_t *err)
{
	memset(out, 0, sizeof *out);
	struct kc_kube_pod *pods = NULL;
	size_t n = 0;
	struct kc_kube_exec_each *each = NULL;
	struct kc_registry *reg = NULL;
	struct image_cache cache[KUBE_DRIFT_MAX_IMAGES];
	size_t n_cache = 0;
	int rc = -1;

	if (!(out->app = strdup(o->deployment)))
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
	each = calloc(n, sizeof *each);
	if (!out->replicas || !each) {
		kc_err_new(err, KC_E_GENERIC, "out of memory");
		goto out;
	}
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		each[i].pod = pods[i].name;
		each[i].container = pods[i].container;
	}
	static const char *const argv[] = {"sh", "-c", kc_drift_kube_script, NULL};
	if (kc_kube_exec_each(k, each, n, argv, NULL, 0, o->parallel,
			      o->max_output ? o->max_output : KUBE_DRIFT_MAX_OUTPUT, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct kc_drift_replica *r = &out->replicas[i];
		r->id = strdup(pods[i].name);
		r->name = strdup(pods[i].name);
		r->mode = strdup("pod");
		if (!r->id || !r->name || !r->mode) {
			kc_err_new(err, KC_E_GENERIC, "out of memory");
			goto out;
		}
		if (!each[i].ran) {
			*err = each[i].error;
			each[i].error = NULL;
			if (!*err)
				kc_err_new(err, KC_E_REMOTE, "exec did not run");
			kc_err_wrap(err, "listing files in pod %s", pods[i].name);
			goto out;
		}
		if (each[i].exit_code != 0) {
			kc_err_new(err, KC_E_REMOTE,
				   "listing files in pod %s: exit %d (needs sh, find, xargs, "
				   "sha256sum in the image): %.200s",
				   pods[i].name, each[i].exit_code,
				   each[i].err_out ? each[i].err_out : "");
			goto out;
		}
		struct image_cache *ic = NULL;
		if (image_index(reg, cache, &n_cache, pods[i].image, &ic, err) < 0) {
			kc_err_wrap(err, "pod %s", pods[i].name);
			goto out;
		}
		if (!(r->image_digest = strdup(ic->info.digest))) {
			kc_err_new(err, KC_E_GENERIC, "out of memory");
			goto out;
		}
		const char *s = each[i].out ? each[i].out : "";
		if (kc_drift_kube_compare(ic->idx, s, strlen(s), r, err) < 0) {
			kc_err_wrap(err, "pod %s", pods[i].name);
			goto out;
		}
		kc_drift_fingerprint(r);
	}
	out->distinct_states = kc_drift_count_states(out->replicas, out->n);
	rc = 0;
out:
	for (size_t i = 0; i < n_cache; i++) {
		free(cache[i].image);
		kc_image_info_free(&cache[i].info);
		kc_file_index_free(cache[i].idx);
	}
	kc_registry_free(reg);
	if (each)
		kc_kube_exec_each_free(each, n);
	kc_kube_pods_free(pods, n);
	return rc;
}
