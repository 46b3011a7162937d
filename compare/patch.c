/* kctl patch: in-place edits of an app's running replicas, journaled.
 *
 * Plan first, touch later: the replicas are listed and checked (all must be
 * mutable), the content to apply is built once (a tar per source image for
 * --to-image, one tar for --copy) and only then are replicas edited, by up to
 * `parallel` workers, each with its own engine handle (handles are not
 * thread-safe). A replica's steps are appended to the journal (fsync'd) before
 * the step is reported through on_event or the result. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compare/journal.h"
#include "compare/patch.h"
#include "registry/registry.h"
#include "shim/base/cleanup.h"
#include "shim/base/util.h"
#include "shim/engine/docker.h"
#include "shim/engine/tarball.h"
#include "shim/rollout/rollout.h"

/* A container export of the target image is read into memory up to this size. */
#define PATCH_MAX_EXPORT (1024u << 20)
/* Paths handed to one `rm -rf --` exec. */
#define PATCH_RM_BATCH 256

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- what to apply to replicas running one source image (TO_IMAGE) ---- */

struct plan {
	char *from_digest; /* source image digest; "" for COPY/EXEC */
	void *tar;	   /* content to put at "/" (TO_IMAGE) or at dir (COPY) */
	size_t tar_len;
	char digest[KC_DIGEST_LEN + 1]; /* sha256 of tar (or of the command for EXEC) */
	char **rm;			/* absolute paths to remove first, NULL-terminated */
	size_t added, changed, deleted;
	char *error; /* the plan could not be made: replicas on it fail with this */
};

static void plan_free(struct plan *p)
{
	free(p->from_digest);
	free(p->tar);
	if (p->rm)
		for (char **r = p->rm; *r; r++)
			free(*r);
	free(p->rm);
	free(p->error);
}

struct replica {
	char *id, *name, *image, *digest; /* labels io.kctl.image, io.kctl.image-digest */
	struct plan *plan;		  /* borrowed from the run's plans */
};

struct run {
	const struct kc_patch_opts *o;
	struct kc_patch_result *res;
	struct replica *reps;
	size_t n;
	struct plan *plans;
	size_t n_plans;
	char *copy_dir; /* COPY: where the tar is put */
	char patch_id[KC_JOURNAL_PATCH_ID_LEN];
	const char *state_dir;
	struct kc_journal *journal;
	pthread_mutex_t lock; /* guards next, stop, journal, res phases and events */
	size_t next;
	bool stop;
	bool do_restart;
	const char *signal; /* o->signal; NULL for "none" */
};

void kc_patch_event(const struct kc_patch_opts *o, const char *f, ...)
{
	if (!o->on_event)
		return;
	va_list ap;
	va_start(ap, f);
	char *s = NULL;
	if (vasprintf(&s, f, ap) >= 0) {
		o->on_event(o->event_opaque, s);
		free(s);
	}
	va_end(ap);
}

/* ---- the target's content: from a container export ---- */

struct membuf {
	char *buf;
	size_t len, cap, max;
};

static int membuf_sink(void *opaque, const char *data, size_t len)
{
	struct membuf *m = opaque;
	if (len > m->max - m->len)
		return -1;
	if (m->len + len > m->cap) {
		size_t cap = m->cap ? m->cap : 1 << 20;
		while (cap < m->len + len)
			cap *= 2;
		char *b = realloc(m->buf, cap);
		if (!b)
			return -1;
		m->buf = b;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, data, len);
	m->len += len;
	return 0;
}

/* Content of the wanted regular files of an exported filesystem. */
struct blob {
	const char *path; /* borrowed (index entry) */
	void *data;
	size_t len;
};

static int blob_cmp(const void *a, const void *b)
{
	return strcmp(((const struct blob *)a)->path, ((const struct blob *)b)->path);
}

static struct blob *blob_find(struct blob *b, size_t n, const char *path)
{
	struct blob key = {.path = path};
	return bsearch(&key, b, n, sizeof *b, blob_cmp);
}

/* Fills the still-empty wanted blobs from the regular files of the open tar a.
 * With `check`, content is taken only when its sha256 is the one `check` lists
 * for the path (layers: the upper layer's file, not a replaced lower one). */
static int fill_blobs(struct archive *a, const char *what, struct blob *want, size_t n_want,
		      const struct kc_file_index *check, kc_err_t *err)
{
	struct archive_entry *e;
	int r, rc = 0;
	char path[KC_FILE_INDEX_MAX_PATH + 2];
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e);
		if (!name)
			continue;
		while (name[0] == '.' && name[1] == '/')
			name += 2;
		while (name[0] == '/')
			name++;
		snprintf(path, sizeof path, "/%s", name);
		size_t pl = strlen(path);
		if (pl > 1 && path[pl - 1] == '/')
			path[pl - 1] = '\0';
		struct blob *b = blob_find(want, n_want, path);
		if (!b || b->data || archive_entry_filetype(e) != AE_IFREG ||
		    archive_entry_hardlink(e))
			continue;
		int64_t size = archive_entry_size(e);
		if (size < 0 || (uint64_t)size > PATCH_MAX_EXPORT) {
			rc = kc_err_new(err, KC_E_TOOBIG, "%s: %s too big", what, path);
			break;
		}
		b->data = malloc((size_t)size + 1);
		if (!b->data) {
			rc = kc_err_sys(err, ENOMEM, "%s: %s", what, path);
			break;
		}
		la_ssize_t got = size ? archive_read_data(a, b->data, (size_t)size) : 0;
		if (got != size) {
			rc = kc_err_new(err, KC_E_PROTO, "%s: short read of %s", what, path);
			break;
		}
		b->len = (size_t)size;
		const struct kc_file_entry *want_e = check ? kc_file_index_find(check, path) : NULL;
		char sum[KC_DIGEST_LEN + 1];
		if (want_e) {
			if (kc_sha256_digest(b->data, b->len, sum, err) < 0) {
				rc = -1;
				break;
			}
			if (strcmp(sum, want_e->sha256) != 0) {
				free(b->data);
				b->data = NULL;
				b->len = 0;
			}
		}
	}
	if (rc == 0 && r != ARCHIVE_EOF)
		rc = kc_err_new(err, KC_E_PROTO, "%s: %s", what, archive_error_string(a));
	return rc;
}

static int read_export(const void *buf, size_t len, struct blob *want, size_t n_want, kc_err_t *err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return kc_err_sys(err, ENOMEM, "reading export");
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	int rc = 0;
	if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK)
		rc = kc_err_new(err, KC_E_PROTO, "export: %s", archive_error_string(a));
	else
		rc = fill_blobs(a, "export", want, n_want, NULL, err);
	archive_read_free(a);
	return rc;
}

/* Temporary source containers of patches killed before removing theirs: never
 * started, so anything over an hour old is left over, not in use. */
static void remove_stale_sources(struct kc_engine *e)
{
	struct kc_label lab = {"io.kctl.patch-source", NULL};
	struct kc_container_info *list = NULL;
	size_t n = 0;
	kc_err_t err = NULL;
	if (kc_engine_container_list(e, true, &lab, 1, &list, &n, &err) < 0) {
		kc_err_free(&err);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	for (size_t i = 0; i < n; i++)
		if (list[i].created_ns && now_ns - list[i].created_ns > 3600LL * 1000000000LL &&
		    kc_engine_container_remove(e, list[i].id, true, true, &err) < 0)
			kc_err_free(&err);
	kc_container_list_free(list, n);
}

/* The target's filesystem: a never-started container of it, exported. */
static int export_image(struct kc_engine *e, const char *pinned, const char *patch_id,
			struct membuf *m, kc_err_t *err)
{
	remove_stale_sources(e);
	if (kc_engine_image_pull(e, pinned, NULL, NULL, err) < 0)
		return kc_err_wrap(err, "pulling %s", pinned);
	char name[96];
	snprintf(name, sizeof name, "kctl-patch-src-%s", patch_id);
	const char *cmd[] = {"/nonexistent-never-started", NULL};
	struct kc_label lab = {"io.kctl.patch-source", patch_id};
	struct kc_container_spec spec = {
	    .name = name, .image = pinned, .cmd = cmd, .labels = &lab, .n_labels = 1};
	cleanup_free char *id = NULL;
	if (kc_engine_container_create(e, &spec, &id, err) < 0)
		return kc_err_wrap(err, "creating a container of %s", pinned);
	m->max = PATCH_MAX_EXPORT;
	int rc = kc_engine_container_export(e, id, PATCH_MAX_EXPORT, membuf_sink, m, err);
	if (rc < 0)
		kc_err_wrap(err, "exporting a container of %s", pinned);
	kc_err_t rm_err = NULL;
	if (kc_engine_container_remove(e, id, true, true, &rm_err) < 0 && rc == 0) {
		*err = rm_err;
		return kc_err_wrap(err, "removing temporary container %s", name);
	}
	kc_err_free(&rm_err);
	return rc;
}

static int tar_name(const char *path, char *out, size_t cap)
{
	return snprintf(out, cap, "%s", path + 1) >= (int)cap ? -1 : 0;
}

/* Builds plan p: diff from `from` to `to`, rm list and tar. blobs hold the
 * content of every regular file of `to` that any plan needs. */
static int plan_build(struct plan *p, const struct kc_file_index *from,
		      const struct kc_file_index *to, struct blob *blobs, size_t n_blobs,
		      kc_err_t *err)
{
	struct kc_fdiff *d = NULL;
	size_t n = 0;
	if (kc_fdiff_compute(from, to, &d, &n, err) < 0)
		return -1;
	cleanup_free struct kc_fdiff *diff = d;
	p->rm = calloc(n + 1, sizeof *p->rm);
	if (!p->rm)
		return kc_err_sys(err, ENOMEM, "patch plan");
	size_t n_rm = 0;
	struct kc_tar_writer *w_ = NULL;
	if (kc_tar_writer_new(0, &w_, err) < 0)
		return -1;
	cleanup_tar_writer struct kc_tar_writer *w = w_;
	char name[KC_FILE_INDEX_MAX_PATH + 1];
	for (size_t i = 0; i < n; i++) {
		const struct kc_fdiff *f = &diff[i];
		switch (f->kind) {
		case KC_FDIFF_DELETE:
			p->deleted++;
			break;
		case KC_FDIFF_ADD:
			p->added++;
			break;
		default:
			p->changed++;
		}
		if (f->kind == KC_FDIFF_DELETE || f->kind == KC_FDIFF_RETYPE) {
			if (!(p->rm[n_rm++] = strdup(f->path)))
				return kc_err_sys(err, ENOMEM, "patch plan");
		}
		if (f->kind == KC_FDIFF_DELETE)
			continue;
		const struct kc_file_entry *t = f->to;
		if (tar_name(t->path, name, sizeof name) < 0)
			return kc_err_new(err, KC_E_TOOBIG, "path too long: %s", t->path);
		int rc = 0;
		switch (t->type) {
		case KC_FILE_DIR:
			rc = kc_tar_add_dir(w, name, t->mode, t->uid, t->gid, err);
			break;
		case KC_FILE_SYMLINK:
			rc = kc_tar_add_symlink(w, name, t->link ? t->link : "", err);
			break;
		case KC_FILE_REG:
		case KC_FILE_HARDLINK: {
			/* A hardlink is written as a copy of its target's content. */
			const char *src =
			    t->type == KC_FILE_HARDLINK && t->link ? t->link : t->path;
			char abs[KC_FILE_INDEX_MAX_PATH + 2];
			snprintf(abs, sizeof abs, "%s%s", src[0] == '/' ? "" : "/", src);
			struct blob *b = blob_find(blobs, n_blobs, abs);
			if (!b || (!b->data && t->size > 0))
				return kc_err_new(err, KC_E_NOTFOUND,
						  "%s: not in the target image's export", t->path);
			rc = kc_tar_add_file(w, name, b->data ? b->data : "", b->len, t->mode,
					     t->uid, t->gid, err);
			break;
		}
		default:
			return kc_err_new(err, KC_E_UNSUPPORTED,
					  "%s: device or fifo files are not patched", t->path);
		}
		if (rc < 0)
			return kc_err_wrap(err, "building the patch tar");
	}
	if (kc_tar_writer_finish(w, &p->tar, &p->tar_len, err) < 0)
		return -1;
	return kc_sha256_digest(p->tar, p->tar_len, p->digest, err);
}

/* Which regular files of `to` any diff needs (path and hardlink targets). */
static int wanted_blobs(const struct kc_file_index *to, struct kc_file_index **froms, size_t n_from,
			struct blob **out, size_t *n_out, kc_err_t *err)
{
	struct blob *b = calloc(to->n + 1, sizeof *b);
	bool *taken = calloc(to->n + 1, sizeof *taken); /* by index in `to` */
	if (!b || !taken) {
		free(b);
		free(taken);
		return kc_err_sys(err, ENOMEM, "patch plan");
	}
	size_t k = 0;
	for (size_t f = 0; f < n_from; f++) {
		struct kc_fdiff *d = NULL;
		size_t n = 0;
		if (kc_fdiff_compute(froms[f], to, &d, &n, err) < 0) {
			free(b);
			free(taken);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			const struct kc_file_entry *t = d[i].to;
			if (!t || (t->type != KC_FILE_REG && t->type != KC_FILE_HARDLINK))
				continue;
			const char *src =
			    t->type == KC_FILE_HARDLINK && t->link ? t->link : t->path;
			const struct kc_file_entry *s = kc_file_index_find(to, src);
			if (!s && src[0] != '/') {
				char abs[KC_FILE_INDEX_MAX_PATH + 2];
				snprintf(abs, sizeof abs, "/%s", src);
				s = kc_file_index_find(to, abs);
			}
			if (!s)
				continue;
			size_t at = (size_t)(s - to->entries);
			if (!taken[at] && k < to->n) {
				taken[at] = true;
				b[k++].path = s->path;
			}
		}
		free(d);
	}
	free(taken);
	qsort(b, k, sizeof *b, blob_cmp);
	*out = b;
	*n_out = k;
	return 0;
}

/* The image each replica is at: the last successful --to-image of this
 * replica in the journal (its detail starts with the digest it applied),
 * else the image it was created from. */
static const char *journal_base(const struct kc_journal_log *log, const char *id)
{
	const char *base = NULL;
	for (size_t i = 0; log && i < log->n; i++) {
		const struct kc_journal_entry *e = &log->entries[i];
		if (e->op == KC_JOP_TO_IMAGE && e->outcome == KC_JOUT_OK && e->replica_id &&
		    !strcmp(e->replica_id, id) && e->detail && !strncmp(e->detail, "sha256:", 7))
			base = e->detail;
	}
	return base;
}

bool kc_patch_journal_base(const struct kc_journal_log *log, const char *replica_id,
			   char out[KC_DIGEST_LEN + 1])
{
	const char *b = journal_base(log, replica_id);
	if (!b)
		return false;
	snprintf(out, KC_DIGEST_LEN + 1, "%s", b);
	return kc_digest_valid(out);
}

/* ---- the plan as a library (patch_kube.c) ---- */

struct kc_patch_content {
	struct blob *blobs;
	size_t n;
};

void kc_patch_content_free(struct kc_patch_content *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->blobs && i < c->n; i++)
		free(c->blobs[i].data);
	free(c->blobs);
	free(c);
}

/* Fills c from one layer tar (any filter libarchive reads), from fd or memory. */
static int layer_read(struct kc_patch_content *c, const struct kc_file_index *to, int fd,
		      const void *buf, size_t len, kc_err_t *err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return kc_err_sys(err, ENOMEM, "layer");
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	int rc = fd >= 0 ? archive_read_open_fd(a, fd, 64 * 1024)
			 : archive_read_open_memory(a, buf, len);
	if (rc != ARCHIVE_OK)
		rc = kc_err_new(err, KC_E_PROTO, "layer: %s", archive_error_string(a));
	else
		rc = fill_blobs(a, "layer", c->blobs, c->n, to, err);
	archive_read_free(a);
	return rc;
}

/* One layer, fetched (verified) into an unlinked temporary file and read from there. */
static int layer_fetch(struct kc_registry *r, const struct kc_image_info *info, size_t i,
		       const struct kc_file_index *to, struct kc_patch_content *c, kc_err_t *err)
{
	cleanup_fclose FILE *tmp = tmpfile();
	if (!tmp)
		return kc_err_sys(err, errno, "temporary file for a layer");
	const char *digest = info->layers[i].digest;
	if (kc_registry_fetch_blob_fd(r, &info->ref, digest, PATCH_MAX_EXPORT, fileno(tmp), NULL,
				      err) < 0)
		return -1;
	if (lseek(fileno(tmp), 0, SEEK_SET) < 0)
		return kc_err_sys(err, errno, "layer %s", digest);
	return layer_read(c, to, fileno(tmp), NULL, 0, err);
}

static bool content_complete(const struct kc_patch_content *c)
{
	for (size_t b = 0; b < c->n; b++)
		if (!c->blobs[b].data)
			return false;
	return true;
}

static int content_new(const struct kc_file_index *to, struct kc_file_index **froms, size_t n_from,
		       struct kc_patch_content **out, kc_err_t *err)
{
	struct kc_patch_content *c = calloc(1, sizeof *c);
	if (!c)
		return kc_err_sys(err, ENOMEM, "patch content");
	if (wanted_blobs(to, froms, n_from, &c->blobs, &c->n, err) < 0) {
		kc_patch_content_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

int kc_patch_content_from_layers(struct kc_registry *r, const struct kc_image_info *info,
				 const struct kc_file_index *to, struct kc_file_index **froms,
				 size_t n_from, struct kc_patch_content **out, kc_err_t *err)
{
	struct kc_patch_content *c = NULL;
	if (content_new(to, froms, n_from, &c, err) < 0)
		return -1;
	/* The top layer first: a path's content is the highest layer's that has it. */
	for (size_t i = info->n_layers; i-- > 0 && !content_complete(c);) {
		if (layer_fetch(r, info, i, to, c, err) < 0) {
			kc_patch_content_free(c);
			return kc_err_wrap(err, "content of %s: layer %zu", info->reference, i);
		}
	}
	*out = c;
	return 0;
}

int kc_patch_content_from_mem(const void *const *layers, const size_t *lens, size_t n_layers,
			      const struct kc_file_index *to, struct kc_file_index **froms,
			      size_t n_from, struct kc_patch_content **out, kc_err_t *err)
{
	struct kc_patch_content *c = NULL;
	if (content_new(to, froms, n_from, &c, err) < 0)
		return -1;
	for (size_t i = n_layers; i-- > 0 && !content_complete(c);) {
		if (layer_read(c, to, -1, layers[i], lens[i], err) < 0) {
			kc_patch_content_free(c);
			return kc_err_wrap(err, "layer %zu", i);
		}
	}
	*out = c;
	return 0;
}

void kc_patch_plan_free(struct kc_patch_plan *p)
{
	if (!p)
		return;
	if (p->rm)
		for (char **r = p->rm; *r; r++)
			free(*r);
	free(p->rm);
	free(p->tar);
	memset(p, 0, sizeof *p);
}

int kc_patch_plan_build(const struct kc_file_index *from, const struct kc_file_index *to,
			const struct kc_patch_content *c, struct kc_patch_plan *out, kc_err_t *err)
{
	memset(out, 0, sizeof *out);
	struct plan p = {0};
	if (plan_build(&p, from, to, c->blobs, c->n, err) < 0) {
		plan_free(&p);
		return -1;
	}
	out->rm = p.rm;
	out->tar = p.tar;
	out->tar_len = p.tar_len;
	memcpy(out->digest, p.digest, sizeof out->digest);
	out->added = p.added;
	out->changed = p.changed;
	out->deleted = p.deleted;
	return 0;
}

/* What planning --to-image holds, released together when it goes out of scope. */
struct to_image_work {
	struct kc_registry *reg;
	struct kc_image_info tinfo;
	struct kc_file_index *tidx, **fidx;
	size_t n_fidx;
	struct blob *blobs;
	size_t n_blobs;
	struct membuf exp;
	struct kc_journal_log log;
};

static void to_image_work_free(struct to_image_work *w)
{
	for (size_t i = 0; w->blobs && i < w->n_blobs; i++)
		free(w->blobs[i].data);
	free(w->blobs);
	free(w->exp.buf);
	for (size_t p = 0; w->fidx && p < w->n_fidx; p++)
		if (w->fidx[p])
			kc_file_index_free(w->fidx[p]);
	free(w->fidx);
	if (w->tidx)
		kc_file_index_free(w->tidx);
	kc_image_info_free(&w->tinfo);
	kc_journal_log_free(&w->log);
	if (w->reg)
		kc_registry_free(w->reg);
}

static int plans_to_image(struct run *r, struct kc_engine *e, kc_err_t *err)
{
	const struct kc_patch_opts *o = r->o;
	__attribute__((cleanup(to_image_work_free))) struct to_image_work w;
	memset(&w, 0, sizeof w);
	struct kc_registry_opts ropts = {.log = o->log};
	if (kc_registry_new(&ropts, &w.reg, err) < 0)
		return -1;
	cleanup_err kc_err_t jerr = NULL;
	if (kc_journal_read(r->state_dir, o->app, &w.log, &jerr) < 0)
		kc_journal_log_free(
		    &w.log); /* no usable journal: replicas are at their own image */

	if (kc_patch_image_index(w.reg, o->image, NULL, &w.tinfo, &w.tidx, err) < 0)
		return -1;
	r->res->target_digest = strdup(w.tinfo.digest);

	/* One plan per distinct source digest. */
	r->plans = calloc(r->n, sizeof *r->plans);
	w.fidx = calloc(r->n, sizeof *w.fidx);
	if (!r->plans || !w.fidx || !r->res->target_digest)
		return kc_err_sys(err, ENOMEM, "patch plan");
	w.n_fidx = r->n;
	for (size_t i = 0; i < r->n; i++) {
		struct replica *rep = &r->reps[i];
		char base[KC_DIGEST_LEN + 1];
		const char *jb = journal_base(&w.log, rep->id);
		snprintf(base, sizeof base, "%s", jb ? jb : rep->digest ? rep->digest : "");
		size_t p;
		for (p = 0; p < r->n_plans; p++)
			if (!strcmp(r->plans[p].from_digest, base))
				break;
		if (p == r->n_plans) {
			struct plan *pl = &r->plans[r->n_plans++];
			pl->from_digest = strdup(base);
			cleanup_err kc_err_t ierr = NULL;
			if (!rep->image || !base[0]) {
				pl->error = kc_strf(
				    "replica %s has no io.kctl.image / io.kctl.image-digest "
				    "label: its image is unknown",
				    rep->name);
			} else if (kc_patch_image_index(w.reg, rep->image, base, NULL, &w.fidx[p],
							&ierr) < 0) {
				pl->error = kc_err_string(ierr);
			}
		}
		rep->plan = &r->plans[p];
	}
	if (wanted_blobs(w.tidx, w.fidx, r->n_plans, &w.blobs, &w.n_blobs, err) < 0)
		return -1;
	if (w.n_blobs) {
		char pinned[KC_REF_STRING_MAX];
		kc_ref_pinned(&w.tinfo.ref, w.tinfo.digest, pinned, sizeof pinned);
		if (export_image(e, pinned, r->patch_id, &w.exp, err) < 0 ||
		    read_export(w.exp.buf, w.exp.len, w.blobs, w.n_blobs, err) < 0)
			return -1;
	}
	for (size_t p = 0; p < r->n_plans; p++) {
		if (r->plans[p].error)
			continue;
		cleanup_err kc_err_t perr = NULL;
		if (plan_build(&r->plans[p], w.fidx[p], w.tidx, w.blobs, w.n_blobs, &perr) < 0)
			r->plans[p].error = kc_err_string(perr);
	}
	return 0;
}

static int plan_copy(struct run *r, kc_err_t *err)
{
	const struct kc_patch_opts *o = r->o;
	if (!o->local || !o->path || o->path[0] != '/')
		return kc_err_new(err, KC_E_INVALID,
				  "--copy LOCAL:PATH needs a local file and an absolute PATH");
	cleanup_free char *dst = strdup(o->path);
	cleanup_free char *loc = strdup(o->local);
	if (!dst || !loc)
		return kc_err_sys(err, ENOMEM, "copy");
	size_t dl = strlen(dst);
	const char *name;
	if (dst[dl - 1] == '/') {
		/* PATH/ names a directory: the local file keeps its name in it. */
		while (dl > 1 && dst[dl - 1] == '/')
			dst[--dl] = '\0';
		r->copy_dir = strdup(dst);
		name = basename(loc);
	} else {
		char *slash = strrchr(dst, '/');
		name = slash + 1;
		*slash = '\0';
		r->copy_dir = strdup(dst[0] ? dst : "/");
	}
	if (!r->copy_dir)
		return kc_err_sys(err, ENOMEM, "copy");
	r->plans = calloc(1, sizeof *r->plans);
	if (!r->plans)
		return kc_err_sys(err, ENOMEM, "copy");
	r->n_plans = 1;
	struct plan *p = &r->plans[0];
	struct kc_tar_writer *w_ = NULL;
	if (kc_tar_writer_new(0, &w_, err) < 0)
		return -1;
	cleanup_tar_writer struct kc_tar_writer *w = w_;
	if (kc_tar_add_path(w, o->local, name, err) < 0 ||
	    kc_tar_writer_finish(w, &p->tar, &p->tar_len, err) < 0)
		return kc_err_wrap(err, "packing %s", o->local);
	struct kc_tar_entry *ents = NULL;
	size_t ne = 0;
	if (kc_tar_list(p->tar, p->tar_len, &ents, &ne, err) < 0)
		return -1;
	for (size_t i = 0; i < ne; i++)
		if (ents[i].type != KC_TAR_DIR)
			p->changed++;
	kc_tar_entries_free(ents, ne);
	for (size_t i = 0; i < r->n; i++)
		r->reps[i].plan = p;
	return kc_sha256_digest(p->tar, p->tar_len, p->digest, err);
}

/* ---- one replica ---- */

static int journal_step(struct run *r, const struct replica *rep, enum kc_journal_op op,
			const char *detail, const char *digest, bool ok, const char *error,
			int64_t dur, kc_err_t *err)
{
	struct kc_journal_entry je = {
	    .app = r->o->app,
	    .replica_id = rep->id,
	    .replica_name = rep->name,
	    .patch_id = r->patch_id,
	    .op = op,
	    .detail = detail,
	    .digest = digest && *digest ? digest : NULL,
	    .outcome = ok ? KC_JOUT_OK : KC_JOUT_FAILED,
	    .error = ok ? NULL : error,
	    .duration_ms = dur,
	};
	pthread_mutex_lock(&r->lock);
	int rc = kc_journal_append(r->journal, &je, err);
	pthread_mutex_unlock(&r->lock);
	return rc < 0 ? kc_err_wrap(err, "journal") : 0;
}

static void add_phase(struct run *r, int64_t *phase, int64_t ms)
{
	pthread_mutex_lock(&r->lock);
	*phase = (*phase < 0 ? 0 : *phase) + ms;
	pthread_mutex_unlock(&r->lock);
}

static int rm_paths(struct kc_engine *e, const char *id, char **paths, kc_err_t *err)
{
	size_t n = 0;
	while (paths && paths[n])
		n++;
	for (size_t i = 0; i < n; i += PATCH_RM_BATCH) {
		const char *argv[PATCH_RM_BATCH + 4] = {"rm", "-rf", "--"};
		size_t k = 3;
		for (size_t j = i; j < n && j < i + PATCH_RM_BATCH; j++)
			argv[k++] = paths[j];
		argv[k] = NULL;
		struct kc_exec_spec spec = {.cmd = argv, .max_output = 8192};
		struct kc_exec_result res = {0};
		if (kc_engine_exec(e, id, &spec, &res, err) < 0)
			return kc_err_wrap(err, "removing files (needs rm in the container)");
		int code = res.exit_code;
		cleanup_free char *msg = res.err && res.err[0] ? strdup(res.err) : NULL;
		kc_exec_result_free(&res);
		if (code != 0)
			return kc_err_new(err, KC_E_REMOTE, "rm -rf exited %d%s%s", code,
					  msg ? ": " : "", msg ? msg : "");
	}
	return 0;
}

/* The edit itself; fills out->applied counts, exit code and output. */
static int replica_edit(struct run *r, struct kc_engine *e, struct replica *rep,
			struct kc_patch_replica *out, kc_err_t *err)
{
	const struct kc_patch_opts *o = r->o;
	struct kc_patch_phases *ph = &r->res->phases;
	int64_t t0 = kc_mono_ms();
	int rc = 0;
	switch (o->op) {
	case KC_PATCH_EXEC: {
		const char *argv[] = {"/bin/sh", "-c", o->command, NULL};
		struct kc_exec_spec spec = {
		    .cmd = argv, .max_output = KC_PATCH_MAX_OUTPUT, .timeout_ms = -1};
		struct kc_exec_result res = {0};
		rc = kc_engine_exec(e, rep->id, &spec, &res, err);
		if (rc == 0) {
			out->exit_code = res.exit_code;
			out->out = kc_steal(res.out);
			out->err = kc_steal(res.err);
			if (res.exit_code != 0)
				rc = kc_err_new(err, KC_E_REMOTE, "command exited %d",
						res.exit_code);
		}
		kc_exec_result_free(&res);
		add_phase(r, &ph->exec_ms, kc_mono_ms() - t0);
		break;
	}
	case KC_PATCH_COPY:
		rc = kc_engine_archive_put(e, rep->id, r->copy_dir, rep->plan->tar,
					   rep->plan->tar_len, err);
		out->changed = rep->plan->changed;
		add_phase(r, &ph->copy_ms, kc_mono_ms() - t0);
		break;
	case KC_PATCH_TO_IMAGE: {
		struct plan *p = rep->plan;
		if (p->error)
			return kc_err_new(err, KC_E_GENERIC, "%s", p->error);
		if (p->rm && p->rm[0]) {
			rc = rm_paths(e, rep->id, p->rm, err);
			add_phase(r, &ph->exec_ms, kc_mono_ms() - t0);
		}
		int64_t t1 = kc_mono_ms();
		if (rc == 0 && p->added + p->changed > 0) {
			rc = kc_engine_archive_put(e, rep->id, "/", p->tar, p->tar_len, err);
			add_phase(r, &ph->copy_ms, kc_mono_ms() - t1);
		}
		out->added = p->added;
		out->changed = p->changed;
		out->deleted = p->deleted;
		break;
	}
	}
	return rc;
}

static char *edit_detail(struct run *r, const struct replica *rep)
{
	const struct kc_patch_opts *o = r->o;
	switch (o->op) {
	case KC_PATCH_EXEC:
		return strdup(o->command);
	case KC_PATCH_COPY:
		return kc_strf("%s -> %s (%zu files)", o->local, o->path, rep->plan->changed);
	default:
		/* The applied target digest first: journal_base() reads it back. */
		return kc_strf("%s %s: %zu added, %zu changed, %zu deleted",
			       r->res->target_digest ? r->res->target_digest : "?", o->image,
			       rep->plan->added, rep->plan->changed, rep->plan->deleted);
	}
}

static const enum kc_journal_op jops[] = {
    [KC_PATCH_COPY] = KC_JOP_COPY,
    [KC_PATCH_EXEC] = KC_JOP_EXEC,
    [KC_PATCH_TO_IMAGE] = KC_JOP_TO_IMAGE,
};

static void patch_replica(struct run *r, struct kc_engine *e, size_t i)
{
	const struct kc_patch_opts *o = r->o;
	struct replica *rep = &r->reps[i];
	struct kc_patch_replica *out = &r->res->replicas[i];
	int64_t t0 = kc_mono_ms();
	kc_err_t err = NULL;
	cleanup_free char *detail = edit_detail(r, rep);
	const char *digest = rep->plan ? rep->plan->digest : NULL;
	int rc = replica_edit(r, e, rep, out, &err);
	cleanup_free char *emsg = rc < 0 ? kc_err_string(err) : NULL;
	kc_err_free(&err);
	bool journal_ok = true;
	if (journal_step(r, rep, jops[o->op], detail, digest, rc == 0, emsg, kc_mono_ms() - t0,
			 &err) < 0) {
		/* A step that cannot be journaled is not reported as done. */
		free(emsg);
		emsg = kc_err_string(err);
		kc_err_free(&err);
		journal_ok = false;
		rc = -1;
	}
	const char *after = NULL;
	bool nothing = o->op == KC_PATCH_TO_IMAGE && rep->plan &&
		       rep->plan->added + rep->plan->changed + rep->plan->deleted == 0;
	if (rc == 0 && !nothing && (r->signal || r->do_restart)) {
		int64_t t1 = kc_mono_ms();
		enum kc_journal_op op = r->signal ? KC_JOP_SIGNAL : KC_JOP_RESTART;
		if (r->signal) {
			rc = kc_engine_container_kill(e, rep->id, r->signal, &err);
			after = "signalled";
		} else {
			rc = kc_engine_container_stop(e, rep->id, -1, &err);
			if (rc == 0)
				rc = kc_engine_container_start(e, rep->id, &err);
			after = "restarted";
		}
		int64_t dur = kc_mono_ms() - t1;
		add_phase(r, &r->res->phases.restart_ms, dur);
		if (rc < 0) {
			emsg = kc_err_string(err);
			kc_err_free(&err);
		}
		if (journal_step(r, rep, op, r->signal ? r->signal : "stop+start", NULL, rc == 0,
				 emsg, dur, &err) < 0) {
			free(emsg);
			emsg = kc_err_string(err);
			kc_err_free(&err);
			journal_ok = false;
			rc = -1;
		}
	}
	(void)journal_ok;
	out->duration_ms = kc_mono_ms() - t0;
	out->digest = xstrdup(digest && *digest ? digest : NULL);
	if (rc == 0) {
		out->outcome = strdup("ok");
		if (o->op == KC_PATCH_EXEC)
			out->applied = kc_strf("exit 0%s%s", after ? "; " : "", after ? after : "");
		else if (o->op == KC_PATCH_COPY)
			out->applied = kc_strf("%zu files copied to %s%s%s", out->changed, o->path,
					       after ? "; " : "", after ? after : "");
		else if (nothing)
			out->applied = strdup("nothing to apply (already at target)");
		else
			out->applied = kc_strf("%zu added, %zu changed, %zu deleted%s%s",
					       out->added, out->changed, out->deleted,
					       after ? "; " : "", after ? after : "");
	} else {
		out->outcome = strdup("failed");
		out->error = emsg ? kc_steal(emsg) : strdup("failed");
	}
	pthread_mutex_lock(&r->lock);
	if (rc == 0)
		r->res->ok++;
	else
		r->res->failed++;
	if (rc < 0 && !o->continue_on_error)
		r->stop = true;
	if (o->on_event) {
		char *m = kc_strf("%s: %s (%s) in %lld ms", rep->name, out->outcome,
				  rc == 0 ? out->applied : out->error, (long long)out->duration_ms);
		if (m)
			o->on_event(o->event_opaque, m);
		free(m);
	}
	pthread_mutex_unlock(&r->lock);
}

struct worker {
	struct run *r;
	struct kc_engine *e; /* NULL: open one */
	kc_err_t err;
	pthread_t tid;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	struct kc_engine *own = NULL, *e = w->e;
	if (!e) {
		struct kc_docker_config cfg = {.host = r->o->docker_host, .log = r->o->log};
		if (kc_engine_docker_new(&cfg, &own, &w->err) < 0)
			return NULL;
		e = own;
	}
	for (;;) {
		pthread_mutex_lock(&r->lock);
		size_t i = r->next;
		bool go = !r->stop && i < r->n;
		if (go)
			r->next++;
		pthread_mutex_unlock(&r->lock);
		if (!go)
			break;
		patch_replica(r, e, i);
	}
	if (own)
		kc_engine_free(own);
	return NULL;
}

/* ---- the run ---- */

static void replicas_free(struct replica *reps, size_t n)
{
	for (size_t i = 0; reps && i < n; i++) {
		free(reps[i].id);
		free(reps[i].name);
		free(reps[i].image);
		free(reps[i].digest);
	}
	free(reps);
}

static int list_replicas(struct run *r, struct kc_engine *e, kc_err_t *err)
{
	struct kc_label filter = {KC_LABEL_APP, r->o->app};
	struct kc_container_info *list = NULL;
	size_t n = 0;
	if (kc_engine_container_list(e, false, &filter, 1, &list, &n, err) < 0)
		return kc_err_wrap(err, "listing replicas of %s", r->o->app);
	int rc = 0;
	if (n == 0)
		rc = kc_err_new(err, KC_E_NOTFOUND, "app %s has no running replicas", r->o->app);
	r->reps = calloc(n ? n : 1, sizeof *r->reps);
	if (rc == 0 && !r->reps)
		rc = kc_err_sys(err, ENOMEM, "replicas");
	/* Sorted by name so output and journal order are stable. */
	for (size_t a = 0; rc == 0 && a < n; a++)
		for (size_t b = a + 1; b < n; b++)
			if (strcmp(list[b].name, list[a].name) < 0) {
				struct kc_container_info t = list[a];
				list[a] = list[b];
				list[b] = t;
			}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *mode = kc_labels_get(&list[i].labels, KC_LABEL_MODE);
		if (!mode || strcmp(mode, "mutable") != 0) {
			rc = kc_err_new(err, KC_E_INVALID,
					"replica %s is not mutable (label %s=%s, read-only root "
					"filesystem): kctl patch edits only replicas deployed with "
					"`kctl rollout --mode mutable`",
					list[i].name, KC_LABEL_MODE, mode ? mode : "(none)");
			break;
		}
		struct replica *rep = &r->reps[i];
		rep->id = strdup(list[i].id);
		rep->name = strdup(list[i].name);
		rep->image = xstrdup(kc_labels_get(&list[i].labels, KC_LABEL_IMAGE));
		rep->digest = xstrdup(kc_labels_get(&list[i].labels, KC_LABEL_DIGEST));
		r->n++;
	}
	kc_container_list_free(list, n);
	return rc;
}

void kc_patch_result_free(struct kc_patch_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->replicas && i < r->n; i++) {
		struct kc_patch_replica *p = &r->replicas[i];
		free(p->id);
		free(p->name);
		free(p->outcome);
		free(p->error);
		free(p->applied);
		free(p->out);
		free(p->err);
		free(p->digest);
	}
	free(r->replicas);
	free(r->patch_id);
	free(r->app);
	free(r->target_digest);
	memset(r, 0, sizeof *r);
}

static int validate(const struct kc_patch_opts *o, kc_err_t *err)
{
	if (!o || !o->app || !kc_journal_app_valid(o->app))
		return kc_err_new(err, KC_E_INVALID, "patch: invalid app name \"%s\"",
				  o && o->app ? o->app : "");
	if (o->op == KC_PATCH_EXEC && (!o->command || !*o->command))
		return kc_err_new(err, KC_E_INVALID, "patch --exec: empty command");
	if (o->op == KC_PATCH_TO_IMAGE && (!o->image || !*o->image))
		return kc_err_new(err, KC_E_INVALID, "patch --to-image: no image");
	if (o->op > KC_PATCH_TO_IMAGE)
		return kc_err_new(err, KC_E_INVALID, "patch: unknown operation");
	if (o->parallel > KC_PATCH_MAX_PARALLEL)
		return kc_err_new(err, KC_E_INVALID, "patch: --parallel at most %d",
				  KC_PATCH_MAX_PARALLEL);
	return 0;
}

static void run_free(struct run *r)
{
	if (r->journal)
		kc_journal_close(r->journal);
	for (size_t p = 0; r->plans && p < r->n_plans; p++)
		plan_free(&r->plans[p]);
	free(r->plans);
	free(r->copy_dir);
	replicas_free(r->reps, r->n);
	pthread_mutex_destroy(&r->lock);
}

/* Edits the replicas with up to o->parallel workers; fills the outcome counts. */
static int run_workers(struct run *r, struct kc_engine *e, kc_err_t *err)
{
	const struct kc_patch_opts *o = r->o;
	struct kc_patch_result *res = r->res;
	size_t nw = o->parallel ? o->parallel : 1;
	if (nw > r->n)
		nw = r->n;
	cleanup_free struct worker *ws = calloc(nw, sizeof *ws);
	if (!ws)
		return kc_err_sys(err, ENOMEM, "patch");
	/* Worker 0 uses the caller's handle (so the patch always progresses); the
	 * others open their own, and one that cannot simply takes no replicas. */
	ws[0] = (struct worker){.r = r, .e = e};
	for (size_t w = 1; w < nw; w++) {
		ws[w] = (struct worker){.r = r};
		if (pthread_create(&ws[w].tid, NULL, worker_main, &ws[w]) != 0)
			ws[w].r = NULL;
	}
	worker_main(&ws[0]);
	for (size_t w = 1; w < nw; w++) {
		if (ws[w].r)
			pthread_join(ws[w].tid, NULL);
		if (ws[w].err)
			kc_warn(o->log, "patch worker %zu: %s", w, ws[w].err->msg);
		kc_err_free(&ws[w].err);
	}
	for (size_t i = 0; i < r->n; i++)
		if (!res->replicas[i].outcome) {
			res->replicas[i].outcome = strdup("skipped");
			res->skipped++;
		}
	res->partial = res->ok > 0 && res->ok < res->n;
	if (res->ok == res->n)
		return 0;
	return kc_err_new(err, KC_E_REMOTE, "patch %s of %s %s: %zu ok, %zu failed, %zu skipped",
			  r->patch_id, o->app, res->partial ? "is PARTIAL" : "failed", res->ok,
			  res->failed, res->skipped);
}

static int patch_run(struct run *r, struct kc_engine *e, kc_err_t *err)
{
	const struct kc_patch_opts *o = r->o;
	struct kc_patch_result *res = r->res;
	if (kc_journal_new_patch_id(r->patch_id, err) < 0)
		return -1;
	res->patch_id = strdup(r->patch_id);
	if (list_replicas(r, e, err) < 0)
		return -1;
	/* TO_IMAGE restarts unless a signal is asked for (the app must load the new files);
	 * --signal none leaves the app alone. */
	bool no_signal = o->signal && !strcmp(o->signal, "none");
	r->signal = no_signal ? NULL : o->signal;
	r->do_restart = !o->signal && (o->restart || o->op == KC_PATCH_TO_IMAGE);

	int64_t td = kc_mono_ms();
	if (o->op == KC_PATCH_TO_IMAGE) {
		if (plans_to_image(r, e, err) < 0)
			return -1;
		res->phases.diff_ms = kc_mono_ms() - td;
	} else if (o->op == KC_PATCH_COPY) {
		if (plan_copy(r, err) < 0)
			return -1;
	} else {
		if (!(r->plans = calloc(1, sizeof *r->plans)))
			return kc_err_sys(err, ENOMEM, "patch");
		r->n_plans = 1;
		if (kc_sha256_digest(o->command, strlen(o->command), r->plans[0].digest, err) < 0)
			return -1;
		for (size_t i = 0; i < r->n; i++)
			r->reps[i].plan = &r->plans[0];
	}
	/* The journal opens before any replica is touched: no unrecorded edits. */
	if (kc_journal_open(r->state_dir, o->app, &r->journal, err) < 0)
		return -1;
	if (!(res->replicas = calloc(r->n, sizeof *res->replicas)))
		return kc_err_sys(err, ENOMEM, "patch");
	res->n = r->n;
	for (size_t i = 0; i < r->n; i++) {
		res->replicas[i].id = strdup(r->reps[i].id);
		res->replicas[i].name = strdup(r->reps[i].name);
		res->replicas[i].exit_code = -1;
	}
	kc_patch_event(r->o, "patch %s: %zu replicas of %s", r->patch_id, r->n, o->app);
	return run_workers(r, e, err);
}

int kc_patch_run(struct kc_engine *e, const struct kc_patch_opts *o, struct kc_patch_result *res,
		 kc_err_t *err)
{
	memset(res, 0, sizeof *res);
	res->phases = (struct kc_patch_phases){-1, -1, -1, -1, -1};
	if (validate(o, err) < 0)
		return -1;
	int64_t t0 = kc_mono_ms();
	__attribute__((cleanup(run_free))) struct run r = {.o = o, .res = res};
	pthread_mutex_init(&r.lock, NULL);
	cleanup_free char *state = NULL;
	res->app = strdup(o->app);
	if (o->state_dir) {
		r.state_dir = o->state_dir;
	} else {
		if (kc_state_dir(&state, err) < 0)
			return -1;
		r.state_dir = state;
	}
	int rc = patch_run(&r, e, err);
	res->phases.total_ms = kc_mono_ms() - t0;
	return rc;
}
