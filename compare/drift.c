/* kctl drift: per-replica file and config drift, distinct states, and the
 * difference from a target image.
 *
 * Engine noise: on docker 20.10 an untouched demo container (also after a
 * restart) reports nothing in /changes: /etc/hostname, /etc/hosts and
 * /etc/resolv.conf are bind mounts the engine leaves out itself. They are still
 * filtered (with /.dockerenv) in case another engine version reports them;
 * nothing else is, so what the engine reports is what drift reports, minus
 * /tmp and the manifest's volume and emptyDir mount paths.
 *
 * Content hashes come from the archive API (nothing needed inside the
 * container): one GET per top-most changed path (the engine lists a changed
 * file's parent directories as changed too, so this is usually one request per
 * changed top-level directory), hashing the entries the change list names. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "compare/drift.h"
#include "compare/patch.h"
#include "registry/registry.h"
#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/sha256.h"
#include "shim/base/util.h"
#include "shim/engine/docker.h"
#include "shim/rollout/manifest.h"
#include "shim/rollout/rollout.h"

/* Scope-bound cleanup for the types this file holds (see shim/base/cleanup.h). */
static inline void archive_readp(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
static inline void sha256p(struct kc_sha256 **s)
{
	if (*s)
		kc_sha256_free(*s);
}
static inline void indexp(struct kc_file_index **i)
{
	if (*i)
		kc_file_index_free(*i);
}
static inline void registryp(struct kc_registry **r)
{
	if (*r)
		kc_registry_free(*r);
}
struct change_list {
	struct kc_change *v;
	size_t n;
};
static inline void change_listp(struct change_list *c)
{
	kc_changes_free(c->v, c->n);
}
#define cleanup_archive_read __attribute__((cleanup(archive_readp)))
#define cleanup_sha256 __attribute__((cleanup(sha256p)))
#define cleanup_index __attribute__((cleanup(indexp)))
#define cleanup_registry __attribute__((cleanup(registryp)))
#define cleanup_changes __attribute__((cleanup(change_listp)))
#define cleanup_container_info __attribute__((cleanup(kc_container_info_free)))
#define cleanup_engine_image __attribute__((cleanup(kc_engine_image_free)))
#define cleanup_image_info __attribute__((cleanup(kc_image_info_free)))

#define DRIFT_MAX_ARCHIVE (256u << 20)
#define DRIFT_MAX_PARALLEL 64

static const char *const noise[] = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf",
				    "/.dockerenv"};

static bool under_or_at(const char *path, const char *dir)
{
	size_t l = strlen(dir);
	while (l > 1 && dir[l - 1] == '/')
		l--;
	if (l == 1 && dir[0] == '/')
		return true;
	return strncmp(path, dir, l) == 0 && (path[l] == '\0' || path[l] == '/');
}

bool kc_drift_skip_path(const char *path, const char *const *skip, size_t n_skip)
{
	for (size_t i = 0; i < sizeof noise / sizeof *noise; i++)
		if (!strcmp(path, noise[i]))
			return true;
	if (under_or_at(path, "/tmp"))
		return true;
	for (size_t i = 0; i < n_skip; i++)
		if (skip[i] && skip[i][0] == '/' && under_or_at(path, skip[i]))
			return true;
	return false;
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kc_drift_file *)a)->path,
		      ((const struct kc_drift_file *)b)->path);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void kc_drift_fingerprint(struct kc_drift_replica *r)
{
	if (r->n_files)
		qsort(r->files, r->n_files, sizeof *r->files, file_cmp);
	if (r->n_config)
		qsort(r->config, r->n_config, sizeof *r->config, str_cmp);
	struct kc_sha256 *s = NULL;
	kc_err_t err = NULL;
	if (kc_sha256_new(&s, &err) < 0) {
		kc_err_free(&err);
		snprintf(r->fingerprint, sizeof r->fingerprint, "%s", "0000000000000000");
		return;
	}
	char buf[32];
	for (size_t i = 0; i < r->n_files; i++) {
		const struct kc_drift_file *f = &r->files[i];
		kc_sha256_update(s, f->path, strlen(f->path) + 1);
		snprintf(buf, sizeof buf, "%c %o", f->kind, (unsigned)f->mode);
		kc_sha256_update(s, buf, strlen(buf) + 1);
		const char *h = f->sha256 ? f->sha256 : "-";
		kc_sha256_update(s, h, strlen(h) + 1);
	}
	kc_sha256_update(s, "\n--config--\n", 12);
	for (size_t i = 0; i < r->n_config; i++)
		kc_sha256_update(s, r->config[i], strlen(r->config[i]) + 1);
	uint8_t raw[32];
	kc_sha256_final(s, raw);
	kc_sha256_free(s);
	char hex[KC_SHA256_HEX_LEN + 1];
	kc_sha256_hex(raw, hex);
	memcpy(r->fingerprint, hex, 16);
	r->fingerprint[16] = '\0';
}

size_t kc_drift_count_states(struct kc_drift_replica *r, size_t n)
{
	size_t states = 0;
	for (size_t i = 0; i < n; i++) {
		r[i].state = 0;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r[i].fingerprint, r[j].fingerprint)) {
				r[i].state = r[j].state;
				break;
			}
		if (!r[i].state)
			r[i].state = ++states;
	}
	return states;
}

/* ---- config drift ---- */

static int push_line(char ***lines, size_t *n, char *line, kc_err_t *err)
{
	if (!line)
		return kc_err_sys(err, ENOMEM, "config drift");
	char **l = realloc(*lines, (*n + 2) * sizeof *l);
	if (!l) {
		free(line);
		return kc_err_sys(err, ENOMEM, "config drift");
	}
	l[(*n)++] = line;
	l[*n] = NULL;
	*lines = l;
	return 0;
}

static const char *env_get(const char *const *env, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], key, kl) && env[i][kl] == '=')
			return env[i] + kl + 1;
	return NULL;
}

static char *argv_str(const char *const *v)
{
	size_t len = 3;
	for (size_t i = 0; v && v[i]; i++)
		len += strlen(v[i]) + 3;
	char *s = malloc(len);
	if (!s)
		return NULL;
	strcpy(s, "[");
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, v[i]);
	}
	strcat(s, "]");
	return s;
}

static bool argv_eq(const char *const *a, const char *const *b)
{
	size_t i = 0;
	for (; a && b && a[i] && b[i]; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return !(a && a[i]) && !(b && b[i]);
}

static int argv_drift(const char *what, const char *const *have, const char *const *want,
		      char ***lines, size_t *n, kc_err_t *err)
{
	if (argv_eq(have, want))
		return 0;
	char *h = argv_str(have), *w = argv_str(want);
	char *line = h && w ? kc_strf("%s: %s (want %s)", what, h, w) : NULL;
	free(h);
	free(w);
	return push_line(lines, n, line, err);
}

int kc_drift_config(const struct kc_deploy_spec *want, const char *want_digest,
		    const char *running_digest, const char *const *env,
		    const char *const *image_env, const char *const *cmd,
		    const char *const *entrypoint, char ***lines, size_t *n, kc_err_t *err)
{
	if (want_digest && running_digest && strcmp(want_digest, running_digest) &&
	    push_line(lines, n, kc_strf("image: %s (want %s)", running_digest, want_digest), err) <
		0)
		return -1;
	if (!want)
		return 0;
	for (size_t i = 0; i < want->nenv; i++) {
		const char *k = want->env[i].key, *v = want->env[i].value ? want->env[i].value : "";
		/* kctl gives each replica its own health port on the host network. */
		if (!strcmp(k, KC_HEALTH_PORT_ENV))
			continue;
		const char *have = env_get(env, k);
		char *line = NULL;
		if (!have)
			line = kc_strf("env %s: missing (want %s)", k, v);
		else if (strcmp(have, v))
			line = kc_strf("env %s: %s (want %s)", k, have, v);
		else
			continue;
		if (push_line(lines, n, line, err) < 0)
			return -1;
	}
	for (size_t i = 0; env && env[i]; i++) {
		const char *eq = strchr(env[i], '=');
		if (!eq)
			continue;
		char key[256];
		snprintf(key, sizeof key, "%.*s", (int)(eq - env[i]), env[i]);
		bool in_spec = false;
		for (size_t j = 0; j < want->nenv && !in_spec; j++)
			in_spec = !strcmp(want->env[j].key, key);
		if (in_spec)
			continue;
		const char *img = env_get(image_env, key);
		char *line = NULL;
		if (!img)
			line = kc_strf("env %s: set to %s (not in the manifest or image)", key,
				       eq + 1);
		else if (strcmp(img, eq + 1))
			line = kc_strf("env %s: %s (image has %s)", key, eq + 1, img);
		else
			continue;
		if (push_line(lines, n, line, err) < 0)
			return -1;
	}
	if (want->command && argv_drift("command", entrypoint, (const char *const *)want->command,
					lines, n, err) < 0)
		return -1;
	if (want->args &&
	    argv_drift("args", cmd, (const char *const *)want->args, lines, n, err) < 0)
		return -1;
	return 0;
}

/* ---- one replica ---- */

static int add_file(struct kc_drift_replica *r, const char *path, char kind, kc_err_t *err)
{
	struct kc_drift_file *f = realloc(r->files, (r->n_files + 1) * sizeof *f);
	if (!f)
		return kc_err_sys(err, ENOMEM, "drift");
	r->files = f;
	f[r->n_files] = (struct kc_drift_file){.path = strdup(path), .kind = kind};
	if (!f[r->n_files].path)
		return kc_err_sys(err, ENOMEM, "drift");
	r->n_files++;
	return 0;
}

/* Extra per-file facts from the archive, parallel to r->files. */
struct fact {
	char type; /* kc_file_type, 0: unknown */
	char *link;
};

static struct kc_drift_file *find_file(struct kc_drift_replica *r, const char *path)
{
	struct kc_drift_file key = {.path = (char *)path};
	return bsearch(&key, r->files, r->n_files, sizeof *r->files, file_cmp);
}

/* GET root and record type, mode and content hash of every listed path in it. */
static int hash_root(struct kc_engine *e, const char *id, const char *root,
		     struct kc_drift_replica *r, struct fact *facts, kc_err_t *err)
{
	cleanup_free void *tar = NULL;
	size_t len = 0;
	if (kc_engine_archive_get(e, id, root, DRIFT_MAX_ARCHIVE, &tar, &len, err) < 0) {
		if (kc_err_kind(*err) == KC_E_NOTFOUND) {
			/* Gone since /changes answered (a racing edit): no hash. */
			kc_err_free(err);
			return 0;
		}
		return kc_err_wrap(err, "reading %s", root);
	}
	/* Entries are named from root's basename: prefix with its parent. */
	char parent[KC_FILE_INDEX_MAX_PATH + 1];
	snprintf(parent, sizeof parent, "%s", root);
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	cleanup_archive_read struct archive *a = archive_read_new();
	if (!a)
		return kc_err_sys(err, ENOMEM, "drift");
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	if (archive_read_open_memory(a, tar, len) != ARCHIVE_OK)
		return kc_err_new(err, KC_E_PROTO, "archive of %s: %s", root,
				  archive_error_string(a));
	struct archive_entry *ent;
	int ar;
	char path[KC_FILE_INDEX_MAX_PATH * 2 + 2];
	char buf[65536];
	while ((ar = archive_read_next_header(a, &ent)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(ent);
		if (!name)
			continue;
		while (name[0] == '.' && name[1] == '/')
			name += 2;
		snprintf(path, sizeof path, "%s/%s", parent, name);
		size_t pl = strlen(path);
		while (pl > 1 && path[pl - 1] == '/')
			path[--pl] = '\0';
		struct kc_drift_file *f = find_file(r, path);
		if (!f || f->kind == 'D')
			continue;
		struct fact *fa = &facts[f - r->files];
		f->mode = archive_entry_perm(ent) & 07777;
		mode_t ft = archive_entry_filetype(ent);
		const char *hl = archive_entry_hardlink(ent);
		if (hl) {
			/* A hardlink to an earlier entry: same content. */
			char tp[KC_FILE_INDEX_MAX_PATH * 2 + 2];
			snprintf(tp, sizeof tp, "%s/%s", parent, hl);
			struct kc_drift_file *t = find_file(r, tp);
			fa->type = KC_FILE_REG;
			if (t && t->sha256)
				f->sha256 = strdup(t->sha256);
			continue;
		}
		if (ft == AE_IFDIR) {
			fa->type = KC_FILE_DIR;
		} else if (ft == AE_IFLNK) {
			fa->type = KC_FILE_SYMLINK;
			const char *l = archive_entry_symlink(ent);
			fa->link = l ? strdup(l) : NULL;
			/* A symlink's "content" is its target. */
			char d[KC_DIGEST_LEN + 1];
			if (l && kc_sha256_digest(l, strlen(l), d, err) == 0)
				f->sha256 = strdup(d);
		} else if (ft == AE_IFREG) {
			fa->type = KC_FILE_REG;
			cleanup_sha256 struct kc_sha256 *s = NULL;
			if (kc_sha256_new(&s, err) < 0)
				return -1;
			la_ssize_t got;
			while ((got = archive_read_data(a, buf, sizeof buf)) > 0)
				kc_sha256_update(s, buf, (size_t)got);
			if (got < 0)
				return kc_err_new(err, KC_E_PROTO, "archive of %s: %s", root,
						  archive_error_string(a));
			uint8_t raw[32];
			kc_sha256_final(s, raw);
			char hex[KC_SHA256_HEX_LEN + 1];
			kc_sha256_hex(raw, hex);
			f->sha256 = kc_strf("sha256:%s", hex);
		} else {
			fa->type = KC_FILE_CHAR;
		}
	}
	if (ar != ARCHIVE_EOF)
		return kc_err_new(err, KC_E_PROTO, "archive of %s: %s", root,
				  archive_error_string(a));
	return 0;
}

struct job {
	struct kc_container_info info; /* from the list */
	struct kc_drift_replica *out;
	struct fact *facts; /* parallel to out->files */
	kc_err_t err;
};

static const char *digest_of_ref(const char *ref)
{
	const char *at = ref ? strchr(ref, '@') : NULL;
	return at ? at + 1 : NULL;
}

/* hash_root, falling back to the listed children of a directory whose whole
 * tree is over the archive limit (a changed file deep in /usr must not need
 * all of /usr in one piece). */
static int hash_tree(struct kc_engine *e, const char *id, const char *path,
		     struct kc_drift_replica *r, struct fact *facts, kc_err_t *err)
{
	if (hash_root(e, id, path, r, facts, err) == 0)
		return 0;
	if (kc_err_kind(*err) != KC_E_TOOBIG)
		return -1;
	kc_err_free(err);
	size_t pl = strlen(path);
	for (size_t i = 0; i < r->n_files; i++) {
		const char *c = r->files[i].path;
		if (r->files[i].kind == 'D' || strncmp(c, path, pl) || c[pl] != '/' ||
		    strchr(c + pl + 1, '/'))
			continue;
		if (hash_tree(e, id, c, r, facts, err) < 0)
			return -1;
	}
	return 0;
}

static bool is_root(struct kc_drift_replica *r, const char *path)
{
	/* A root: no listed (non-deleted) ancestor. */
	char anc[KC_FILE_INDEX_MAX_PATH + 1];
	snprintf(anc, sizeof anc, "%s", path);
	char *s;
	while ((s = strrchr(anc, '/')) && s != anc) {
		*s = '\0';
		struct kc_drift_file *p = find_file(r, anc);
		if (p && p->kind != 'D')
			return false;
	}
	return true;
}

static int drift_one(struct kc_engine *e, struct job *j, kc_err_t *err)
{
	struct kc_drift_replica *r = j->out;
	cleanup_container_info struct kc_container_info ci;
	memset(&ci, 0, sizeof ci);
	if (kc_engine_container_inspect(e, j->info.id, &ci, err) < 0)
		return kc_err_wrap(err, "inspecting %s", j->info.name);
	r->id = strdup(ci.id);
	r->name = strdup(ci.name);
	const char *mode = kc_labels_get(&ci.labels, KC_LABEL_MODE);
	r->mode = strdup(mode ? mode : "immutable");
	const char *dg = kc_labels_get(&ci.labels, KC_LABEL_DIGEST);
	r->image_digest = dg ? strdup(dg) : NULL;
	const char *rev = kc_labels_get(&ci.labels, KC_LABEL_REVISION);
	r->revision = rev ? atoi(rev) : 0;
	const char *tpl = kc_labels_get(&ci.labels, KC_LABEL_TEMPLATE);
	cleanup_deploy_spec struct kc_deploy_spec *spec = NULL;
	if (tpl && kc_deploy_spec_parse(tpl, strlen(tpl), "io.kctl.template", &spec, err) < 0)
		return kc_err_wrap(err, "%s: label %s", ci.name, KC_LABEL_TEMPLATE);
	cleanup_free const char **skip = calloc((spec ? spec->nmounts : 0) + 1, sizeof *skip);
	size_t n_skip = 0;
	if (!skip)
		return kc_err_sys(err, ENOMEM, "drift");
	for (size_t i = 0; spec && i < spec->nmounts; i++)
		skip[n_skip++] = spec->mounts[i].mount_path;

	/* Config: labels vs template, the image it runs, env and command. */
	cleanup_engine_image struct kc_engine_image img;
	memset(&img, 0, sizeof img);
	if (kc_engine_image_inspect(e, ci.image_id, &img, err) < 0)
		return kc_err_wrap(err, "%s: inspecting its image", ci.name);
	const char *want_digest = spec ? digest_of_ref(spec->image) : NULL;
	if (kc_drift_config(spec, want_digest, r->image_digest, (const char *const *)ci.env,
			    (const char *const *)img.env, (const char *const *)ci.cmd,
			    (const char *const *)ci.entrypoint, &r->config, &r->n_config, err) < 0)
		return -1;
	if (spec && spec->image) {
		/* The image the container runs must be the one the template pins. */
		cleanup_engine_image struct kc_engine_image want;
		memset(&want, 0, sizeof want);
		cleanup_err kc_err_t ierr = NULL;
		if (kc_engine_image_inspect(e, spec->image, &want, &ierr) == 0 && want.id &&
		    ci.image_id && strcmp(want.id, ci.image_id) &&
		    push_line(&r->config, &r->n_config,
			      kc_strf("image id: %.19s (want %.19s = %s)", ci.image_id, want.id,
				      spec->image),
			      err) < 0)
			return -1;
	}

	/* Files. */
	cleanup_changes struct change_list ch = {0};
	if (kc_engine_container_changes(e, ci.id, &ch.v, &ch.n, err) < 0)
		return kc_err_wrap(err, "%s: changes", ci.name);
	for (size_t i = 0; i < ch.n; i++) {
		if (kc_drift_skip_path(ch.v[i].path, skip, n_skip))
			continue;
		char kind = ch.v[i].kind == KC_CHANGE_ADDED	? 'A'
			    : ch.v[i].kind == KC_CHANGE_DELETED ? 'D'
								: 'C';
		if (add_file(r, ch.v[i].path, kind, err) < 0)
			return -1;
		if (kind == 'A')
			r->added++;
		else if (kind == 'D')
			r->deleted++;
		else
			r->changed++;
	}
	if (r->n_files)
		qsort(r->files, r->n_files, sizeof *r->files, file_cmp);
	j->facts = calloc(r->n_files + 1, sizeof *j->facts);
	if (!j->facts)
		return kc_err_sys(err, ENOMEM, "drift");
	for (size_t i = 0; i < r->n_files; i++) {
		const struct kc_drift_file *f = &r->files[i];
		if (f->kind != 'D' && is_root(r, f->path) &&
		    hash_tree(e, ci.id, f->path, r, j->facts, err) < 0)
			return -1;
	}
	/* Directories carry no hash; the fingerprint still covers their mode. */
	for (size_t i = 0; i < r->n_files; i++)
		if (j->facts[i].type == KC_FILE_DIR && r->files[i].sha256) {
			free(r->files[i].sha256);
			r->files[i].sha256 = NULL;
		}
	kc_drift_fingerprint(r); /* files are already sorted: facts stay parallel */
	return 0;
}

struct pool {
	struct job *jobs;
	size_t n, next;
	pthread_mutex_t lock;
	const struct kc_drift_opts *o;
};

struct pworker {
	struct pool *p;
	struct kc_engine *e;
	kc_err_t err;
	pthread_t tid;
	bool started;
};

static void *pool_main(void *arg)
{
	struct pworker *w = arg;
	struct kc_engine *own = NULL, *e = w->e;
	if (!e) {
		struct kc_docker_config cfg = {.log = w->p->o->log};
		if (kc_engine_docker_new(&cfg, &own, &w->err) < 0)
			return NULL;
		e = own;
	}
	for (;;) {
		pthread_mutex_lock(&w->p->lock);
		size_t i = w->p->next++;
		pthread_mutex_unlock(&w->p->lock);
		if (i >= w->p->n)
			break;
		drift_one(e, &w->p->jobs[i], &w->p->jobs[i].err);
	}
	if (own)
		kc_engine_free(own);
	return NULL;
}

/* ---- against a target image ---- */

/* The replica's effective filesystem: its image's index with its changes applied. */
static int target_diff(const struct kc_file_index *own, const struct kc_file_index *target,
		       const struct kc_drift_replica *r, const struct fact *facts,
		       struct kc_drift_file **out, size_t *n_out, kc_err_t *err)
{
	struct kc_file_index *eff = NULL;
	if (kc_file_index_new(&eff, err) < 0)
		return -1;
	size_t cap = own->n + r->n_files + 1;
	eff->entries = calloc(cap, sizeof *eff->entries);
	if (!eff->entries) {
		kc_file_index_free(eff);
		return kc_err_sys(err, ENOMEM, "drift");
	}
	eff->cap = cap;
	/* Merge own (sorted) with the replica's files (sorted); borrowed strings:
	 * only the array is ours, so the entries are cleared before freeing. */
	size_t i = 0, k = 0, m = 0;
	const char *dead = NULL;
	while (i < own->n || k < r->n_files) {
		const struct kc_file_entry *a = i < own->n ? &own->entries[i] : NULL;
		const struct kc_drift_file *f = k < r->n_files ? &r->files[k] : NULL;
		int c = !a ? 1 : !f ? -1 : strcmp(a->path, f->path);
		const char *p = c <= 0 ? a->path : f->path;
		size_t dl = dead ? strlen(dead) : 0;
		bool gone = dead && !strncmp(p, dead, dl) && p[dl] == '/';
		if (c < 0) {
			i++;
			if (!gone)
				eff->entries[m++] = *a;
			continue;
		}
		k++;
		if (c == 0)
			i++;
		if (f->kind == 'D') {
			dead = f->path;
			continue;
		}
		const struct fact *fa = &facts[f - r->files];
		if (!fa->type) /* vanished while reading */
			continue;
		if (c == 0 && fa->type != KC_FILE_DIR && a->type == KC_FILE_DIR)
			dead = f->path; /* a directory became something else */
		struct kc_file_entry fe = {.path = f->path,
					   .type = (enum kc_file_type)fa->type,
					   .mode = f->mode,
					   .uid = a && c == 0 ? a->uid : 0,
					   .gid = a && c == 0 ? a->gid : 0,
					   .link = fa->link};
		if (fa->type == KC_FILE_REG && f->sha256)
			snprintf(fe.sha256, sizeof fe.sha256, "%s", f->sha256);
		eff->entries[m++] = fe;
	}
	eff->n = m;
	struct kc_fdiff *d = NULL;
	size_t nd = 0;
	int rc = kc_fdiff_compute(eff, target, &d, &nd, err);
	struct kc_drift_file *res = rc == 0 ? calloc(nd + 1, sizeof *res) : NULL;
	size_t nr = 0;
	if (rc == 0 && !res)
		rc = kc_err_sys(err, ENOMEM, "drift");
	for (size_t x = 0; rc == 0 && x < nd; x++) {
		/* Owners are not compared: the archive API writes files as root. */
		const struct kc_fdiff *df = &d[x];
		if (df->kind == KC_FDIFF_CHANGE && !df->content && df->from->mode == df->to->mode &&
		    df->from->type != KC_FILE_SYMLINK)
			continue;
		if (df->kind == KC_FDIFF_CHANGE && !df->content &&
		    df->from->type == KC_FILE_SYMLINK)
			continue;
		char kind = df->kind == KC_FDIFF_ADD	  ? 'D' /* in target, missing here */
			    : df->kind == KC_FDIFF_DELETE ? 'A' /* here, not in target */
			    : df->kind == KC_FDIFF_RETYPE ? 'T'
			    : df->content		  ? 'C'
							  : 'M';
		const struct kc_file_entry *have = df->from;
		res[nr] = (struct kc_drift_file){
		    .path = strdup(df->path),
		    .kind = kind,
		    .sha256 = have && have->sha256[0] ? strdup(have->sha256) : NULL,
		    .mode = have ? have->mode : 0,
		};
		nr++;
	}
	free(d);
	memset(eff->entries, 0, cap * sizeof *eff->entries);
	eff->n = 0;
	kc_file_index_free(eff);
	if (rc < 0) {
		for (size_t x = 0; x < nr; x++) {
			free(res[x].path);
			free(res[x].sha256);
		}
		free(res);
		return -1;
	}
	*out = res;
	*n_out = nr;
	return 0;
}

static void files_free(struct kc_drift_file *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++) {
		free(f[i].path);
		free(f[i].sha256);
	}
	free(f);
}

void kc_drift_report_free(struct kc_drift_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->replicas && i < r->n; i++) {
		struct kc_drift_replica *p = &r->replicas[i];
		free(p->id);
		free(p->name);
		free(p->mode);
		free(p->image_digest);
		free(p->method);
		files_free(p->files, p->n_files);
		for (size_t c = 0; c < p->n_config; c++)
			free(p->config[c]);
		free(p->config);
		if (r->target_diff)
			files_free(r->target_diff[i], r->n_target_diff ? r->n_target_diff[i] : 0);
	}
	free(r->replicas);
	free(r->target_diff);
	free(r->n_target_diff);
	free(r->app);
	free(r->target_digest);
	for (size_t i = 0; i < r->n_notes; i++)
		free(r->notes[i]);
	free(r->notes);
	memset(r, 0, sizeof *r);
}

bool kc_drift_found(const struct kc_drift_report *r)
{
	for (size_t i = 0; r && i < r->n; i++)
		if (r->replicas[i].n_files || r->replicas[i].n_config)
			return true;
	return false;
}

static int target_diffs(struct kc_drift_report *out, struct job *jobs,
			const struct kc_drift_opts *o, kc_err_t *err)
{
	cleanup_registry struct kc_registry *reg = NULL;
	struct kc_registry_opts ropts = {.log = o->log};
	if (kc_registry_new(&ropts, &reg, err) < 0)
		return -1;
	out->target_diff = calloc(out->n + 1, sizeof *out->target_diff);
	out->n_target_diff = calloc(out->n + 1, sizeof *out->n_target_diff);
	if (!out->target_diff || !out->n_target_diff)
		return kc_err_sys(err, ENOMEM, "drift");
	cleanup_image_info struct kc_image_info tinfo;
	memset(&tinfo, 0, sizeof tinfo);
	cleanup_index struct kc_file_index *tidx = NULL;
	if (kc_patch_image_index(reg, o->target_image, NULL, &tinfo, &tidx, err) < 0)
		return -1;
	out->target_digest = strdup(tinfo.digest);
	/* Replicas of one image share its index: keep the last one built. */
	cleanup_index struct kc_file_index *own = NULL;
	const char *own_digest = NULL;
	for (size_t i = 0; i < out->n; i++) {
		struct kc_drift_replica *r = &out->replicas[i];
		const char *image = kc_labels_get(&jobs[i].info.labels, KC_LABEL_IMAGE);
		if (!image || !r->image_digest)
			return kc_err_new(err, KC_E_INVALID, "%s: no %s / %s label", r->name,
					  KC_LABEL_IMAGE, KC_LABEL_DIGEST);
		if (!own_digest || strcmp(own_digest, r->image_digest)) {
			if (own)
				kc_file_index_free(kc_steal(own));
			own_digest = NULL;
			if (kc_patch_image_index(reg, image, r->image_digest, NULL, &own, err) < 0)
				return -1;
			own_digest = r->image_digest;
		}
		if (target_diff(own, tidx, r, jobs[i].facts, &out->target_diff[i],
				&out->n_target_diff[i], err) < 0)
			return -1;
	}
	return 0;
}

int kc_drift_app(struct kc_engine *e, const struct kc_drift_opts *o, struct kc_drift_report *out,
		 kc_err_t *err)
{
	memset(out, 0, sizeof *out);
	struct kc_label filter = {KC_LABEL_APP, o->app};
	struct kc_container_info *list = NULL;
	size_t n = 0;
	if (kc_engine_container_list(e, false, &filter, 1, &list, &n, err) < 0)
		return kc_err_wrap(err, "listing replicas");
	out->app = o->app ? strdup(o->app) : NULL;
	if (n == 0) {
		kc_container_list_free(list, n);
		if (o->app)
			return kc_err_new(err, KC_E_NOTFOUND, "app %s has no running replicas",
					  o->app);
		return 0;
	}
	struct job *jobs = calloc(n, sizeof *jobs);
	out->replicas = calloc(n, sizeof *out->replicas);
	if (!jobs || !out->replicas) {
		free(jobs);
		kc_container_list_free(list, n);
		return kc_err_sys(err, ENOMEM, "drift");
	}
	/* Stable order: by name. */
	for (size_t a = 0; a < n; a++)
		for (size_t b = a + 1; b < n; b++)
			if (strcmp(list[b].name, list[a].name) < 0) {
				struct kc_container_info t = list[a];
				list[a] = list[b];
				list[b] = t;
			}
	for (size_t i = 0; i < n; i++) {
		jobs[i].info = list[i];
		jobs[i].out = &out->replicas[i];
	}
	free(list); /* the infos now belong to the jobs */
	out->n = n;

	struct pool pool = {.jobs = jobs, .n = n, .o = o};
	pthread_mutex_init(&pool.lock, NULL);
	size_t nw = o->parallel ? o->parallel : 4;
	if (nw > DRIFT_MAX_PARALLEL)
		nw = DRIFT_MAX_PARALLEL;
	if (nw > n)
		nw = n;
	struct pworker ws[DRIFT_MAX_PARALLEL];
	memset(ws, 0, sizeof ws);
	ws[0] = (struct pworker){.p = &pool, .e = e};
	for (size_t w = 1; w < nw; w++) {
		ws[w].p = &pool;
		ws[w].started = pthread_create(&ws[w].tid, NULL, pool_main, &ws[w]) == 0;
	}
	pool_main(&ws[0]);
	int rc = 0;
	for (size_t w = 1; w < nw; w++) {
		if (ws[w].started)
			pthread_join(ws[w].tid, NULL);
		if (ws[w].err && rc == 0) {
			*err = kc_steal(ws[w].err);
			rc = kc_err_wrap(err, "drift worker");
		}
		kc_err_free(&ws[w].err);
	}
	pthread_mutex_destroy(&pool.lock);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].err && rc == 0) {
			*err = kc_steal(jobs[i].err);
			rc = -1;
		}
		kc_err_free(&jobs[i].err);
	}
	if (rc == 0) {
		out->distinct_states = kc_drift_count_states(out->replicas, n);
		if (o->target_image)
			rc = target_diffs(out, jobs, o, err);
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t f = 0; jobs[i].facts && f < out->replicas[i].n_files; f++)
			free(jobs[i].facts[f].link);
		free(jobs[i].facts);
		kc_container_info_free(&jobs[i].info);
	}
	free(jobs);
	return rc;
}

/* ---- output ---- */

int kc_drift_print_table(const struct kc_drift_report *r, FILE *out, kc_err_t *err)
{
	(void)err;
	fprintf(out, "%s: %zu replicas, %zu distinct state%s%s\n", r->app ? r->app : "(all apps)",
		r->n, r->distinct_states, r->distinct_states == 1 ? "" : "s",
		kc_drift_found(r) ? ", DRIFT" : ", no drift");
	for (size_t i = 0; i < r->n; i++) {
		const struct kc_drift_replica *p = &r->replicas[i];
		fprintf(out,
			"\n%s  rev %d  %s  state %zu (%s): %zu added, %zu changed, %zu deleted, "
			"%zu config\n",
			p->name, p->revision, p->mode, p->state, p->fingerprint, p->added,
			p->changed, p->deleted, p->n_config);
		if (p->method)
			fprintf(out, "  method %s\n", p->method);
		for (size_t f = 0; f < p->n_files; f++) {
			const struct kc_drift_file *x = &p->files[f];
			if (x->kind == 'D')
				fprintf(out, "  D %s\n", x->path);
			else
				fprintf(out, "  %c %-48s %04o %s\n", x->kind, x->path,
					(unsigned)x->mode, x->sha256 ? x->sha256 : "");
		}
		for (size_t c = 0; c < p->n_config; c++)
			fprintf(out, "  config %s\n", p->config[c]);
		if (r->target_diff) {
			fprintf(out, "  vs target %s: %zu difference%s\n", r->target_digest,
				r->n_target_diff[i], r->n_target_diff[i] == 1 ? "" : "s");
			for (size_t f = 0; f < r->n_target_diff[i]; f++) {
				const struct kc_drift_file *x = &r->target_diff[i][f];
				fprintf(out, "    %c %s\n", x->kind, x->path);
			}
		}
	}
	for (size_t i = 0; i < r->n_notes; i++)
		fprintf(out, "%snote: %s\n", i ? "" : "\n", r->notes[i]);
	return 0;
}

static void gen_files(yajl_gen g, const struct kc_drift_file *f, size_t n)
{
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++) {
		char k[2] = {f[i].kind, 0};
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "path", f[i].path);
		kc_jgen_kv_str(g, "kind", k);
		kc_jgen_kv_str(g, "sha256", f[i].sha256);
		kc_jgen_kv_int(g, "mode", f[i].mode);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

int kc_drift_to_json(const struct kc_drift_report *r, bool pretty, char **out, size_t *len,
		     kc_err_t *err)
{
	yajl_gen g = kc_jgen_new(pretty);
	if (!g)
		return kc_err_sys(err, ENOMEM, "drift json");
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "app", r->app);
	kc_jgen_kv_bool(g, "drift", kc_drift_found(r));
	kc_jgen_kv_int(g, "replicaCount", (int64_t)r->n);
	kc_jgen_kv_int(g, "distinctStates", (int64_t)r->distinct_states);
	kc_jgen_kv_str(g, "target", r->target_digest);
	kc_jgen_key(g, "replicas");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n; i++) {
		const struct kc_drift_replica *p = &r->replicas[i];
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "id", p->id);
		kc_jgen_kv_str(g, "name", p->name);
		kc_jgen_kv_str(g, "mode", p->mode);
		kc_jgen_kv_str(g, "imageDigest", p->image_digest);
		if (p->method)
			kc_jgen_kv_str(g, "method", p->method);
		kc_jgen_kv_int(g, "revision", p->revision);
		kc_jgen_kv_str(g, "fingerprint", p->fingerprint);
		kc_jgen_kv_int(g, "state", (int64_t)p->state);
		kc_jgen_kv_int(g, "added", (int64_t)p->added);
		kc_jgen_kv_int(g, "changed", (int64_t)p->changed);
		kc_jgen_kv_int(g, "deleted", (int64_t)p->deleted);
		kc_jgen_key(g, "files");
		gen_files(g, p->files, p->n_files);
		kc_jgen_key(g, "config");
		yajl_gen_array_open(g);
		for (size_t c = 0; c < p->n_config; c++)
			kc_jgen_str(g, p->config[c]);
		yajl_gen_array_close(g);
		if (r->target_diff) {
			kc_jgen_key(g, "targetDiff");
			gen_files(g, r->target_diff[i], r->n_target_diff[i]);
		}
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	if (r->notes) {
		kc_jgen_key(g, "notes");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < r->n_notes; i++)
			kc_jgen_str(g, r->notes[i]);
		yajl_gen_array_close(g);
	}
	yajl_gen_map_close(g);
	*out = kc_jgen_finish(g, len);
	yajl_gen_free(g);
	if (!*out)
		return kc_err_sys(err, ENOMEM, "drift json");
	return 0;
}
