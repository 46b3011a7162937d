/* kctl patch on Kubernetes (patch_kube.h): the pods of a Deployment edited over exec.
 *
 * Plan first, touch later, as patch.c does: the pods are listed, the content is built
 * (--exec: the command; --copy: one tar; --to-image: per distinct source image digest
 * the removals and one tar of the target's content, read from registry layers) and the
 * journal opened; only then are pods edited, `parallel` at a time. A batch runs each
 * step (rm, tar -x, command, kill) on its pods at once with kc_kube_exec_each; a pod's
 * step is journaled (fsync'd) before it is annotated on the pod and reported. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compare/journal.h"
#include "compare/patch_kube.h"
#include "registry/registry.h"
#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/sha256.h"
#include "shim/base/util.h"
#include "shim/engine/kube.h"
#include "shim/engine/kube_pods.h"

/* A --copy source is read whole into memory (it becomes one tar stream). */
#define KUBE_COPY_MAX (32u << 20)
/* Paths handed to one `rm -rf --` exec (they travel in the exec URL). */
#define KUBE_RM_BATCH 64
/* Distinct source images of one --to-image patch. */
#define KUBE_MAX_SOURCES 64

/* The first line of s, at most 200 bytes, for an error message. */
static char *first_line(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strcspn(s, "\n");
	return strndup(s, n > 200 ? 200 : n);
}

/* Pods sharing the image their files are at share one plan. */
struct source {
	char *image; /* reference the index is fetched through (its tag is ignored) */
	char digest[KC_DIGEST_LEN + 1];
	struct kc_file_index *idx;
	struct kc_patch_plan plan;
};

struct run {
	struct kc_kube *k;
	const struct kc_patch_opts *o;
	struct kc_patch_result *res;
	struct kc_kube_pod *pods;
	size_t n;
	struct source src[KUBE_MAX_SOURCES];
	size_t n_src;
	struct source **pod_src; /* TO_IMAGE: per pod */
	void *tar;		 /* COPY */
	size_t tar_len;
	char *dest, *detail;		/* COPY: path in the pod; EXEC/COPY: journal detail */
	char digest[KC_DIGEST_LEN + 1]; /* EXEC/COPY: of the command / tar */
	char sig[24];			/* "HUP" (for `kill -HUP 1`), "" for none */
	char patch_id[KC_JOURNAL_PATCH_ID_LEN];
	char *state;
	struct kc_journal *j;
	struct kc_registry *reg;
	struct kc_image_info tinfo;
	struct kc_file_index *tidx;
	size_t unannotated;
	bool stop;
};

static void run_free(struct run *r)
{
	for (size_t i = 0; i < r->n_src; i++) {
		free(r->src[i].image);
		if (r->src[i].idx)
			kc_file_index_free(r->src[i].idx);
		kc_patch_plan_free(&r->src[i].plan);
	}
	free(r->pod_src);
	free(r->tar);
	free(r->dest);
	free(r->detail);
	free(r->state);
	if (r->j)
		kc_journal_close(r->j);
	if (r->tidx)
		kc_file_index_free(r->tidx);
	kc_image_info_free(&r->tinfo);
	if (r->reg)
		kc_registry_free(r->reg);
	kc_kube_pods_free(r->pods, r->n);
}

/* ---- options ---- */

/* o->signal to the argument of busybox/procps `kill -SIG 1`: "SIGHUP", "hup", "1" ->
 * "HUP" / "1"; "none" -> "". --to-image defaults to SIGHUP (the pod is never restarted,
 * so the app must be told to re-read its files). */
static int parse_signal(const struct kc_patch_opts *o, char out[24], kc_err_t *err)
{
	const char *s = o->signal ? o->signal : o->op == KC_PATCH_TO_IMAGE ? "SIGHUP" : NULL;
	out[0] = '\0';
	if (!s || !strcasecmp(s, "none"))
		return 0;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	size_t l = strlen(s);
	if (l == 0 || l >= 24)
		return kc_err_new(err, KC_E_INVALID, "--signal: \"%s\" is not a signal", o->signal);
	for (size_t i = 0; i < l; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '-')
			return kc_err_new(err, KC_E_INVALID, "--signal: \"%s\" is not a signal",
					  o->signal);
		out[i] = (char)toupper((unsigned char)s[i]);
	}
	out[l] = '\0';
	return 0;
}

static int validate(const struct kc_patch_opts *o, kc_err_t *err)
{
	if (!o || !o->app || !kc_journal_app_valid(o->app))
		return kc_err_new(err, KC_E_INVALID, "patch: invalid deployment name \"%s\"",
				  o && o->app ? o->app : "");
	if (o->op > KC_PATCH_TO_IMAGE)
		return kc_err_new(err, KC_E_INVALID, "patch: unknown operation");
	if (o->op == KC_PATCH_EXEC && (!o->command || !*o->command))
		return kc_err_new(err, KC_E_INVALID, "patch --exec: empty command");
	if (o->op == KC_PATCH_TO_IMAGE && (!o->image || !*o->image))
		return kc_err_new(err, KC_E_INVALID, "patch --to-image: no image");
	if (o->op == KC_PATCH_COPY && (!o->local || !o->path || o->path[0] != '/'))
		return kc_err_new(err, KC_E_INVALID,
				  "--copy LOCAL:PATH needs a local file and an absolute PATH");
	if (o->restart)
		return kc_err_new(err, KC_E_INVALID,
				  "--restart is refused on Kubernetes: the kubelet would start a "
				  "fresh container from the image and lose the edit; use --signal");
	if (o->parallel > KC_PATCH_MAX_PARALLEL)
		return kc_err_new(err, KC_E_INVALID, "patch: --parallel at most %d",
				  KC_PATCH_MAX_PARALLEL);
	return 0;
}

/* ---- the plan ---- */

static int read_local(const char *path, void **data, size_t *len, mode_t *mode, kc_err_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kc_err_sys(err, errno, "%s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return kc_err_sys(err, errno, "%s", path);
	if (!S_ISREG(st.st_mode))
		return kc_err_new(err, KC_E_UNSUPPORTED,
				  "%s: only a regular file can be copied into pods", path);
	if ((uint64_t)st.st_size > KUBE_COPY_MAX)
		return kc_err_new(err, KC_E_TOOBIG, "%s: bigger than %u bytes", path,
				  KUBE_COPY_MAX);
	size_t cap = (size_t)st.st_size;
	cleanup_free char *buf = malloc(cap ? cap : 1);
	if (!buf)
		return kc_err_sys(err, ENOMEM, "%s", path);
	size_t got = 0;
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kc_err_sys(err, errno, "%s", path);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*data = kc_steal(buf);
	*len = got;
	*mode = st.st_mode & 07777;
	return 0;
}

static int plan_copy(struct run *r, kc_err_t *err)
{
	const struct kc_patch_opts *o = r->o;
	cleanup_free void *data = NULL;
	size_t len = 0;
	mode_t mode = 0644;
	if (read_local(o->local, &data, &len, &mode, err) < 0)
		return kc_err_wrap(err, "--copy");
	size_t pl = strlen(o->path);
	if (o->path[pl - 1] == '/') {
		const char *base = strrchr(o->local, '/');
		r->dest = kc_strf("%s%s", o->path, base ? base + 1 : o->local);
	} else {
		r->dest = strdup(o->path);
	}
	if (!r->dest)
		return kc_err_sys(err, ENOMEM, "--copy");
	if (kc_kube_tar_one(r->dest, data, len, mode, &r->tar, &r->tar_len, err) < 0)
		return kc_err_wrap(err, "--copy %s", r->dest);
	if (kc_sha256_digest(r->tar, r->tar_len, r->digest, err) < 0)
		return -1;
	if (!(r->detail = kc_strf("%s -> %s (%zu bytes)", o->local, r->dest, len)))
		return kc_err_sys(err, ENOMEM, "patch");
	return 0;
}

/* Where a pod's files come from: the journal's last --to-image of the pod (its detail
 * is "DIGEST REF: ..."), else its io.kctl.files-from annotation, else the image the
 * kubelet reports. imageID is either
 * "[scheme://]repo@sha256:..." (a registry digest) or "[docker://]sha256:..." (the
 * runtime's image id, which is the config digest): the latter is accepted when the
 * pod's spec image resolves to a manifest with that config, and pinned to it. */
static int pod_source(struct run *r, const struct kc_kube_pod *pod,
		      const struct kc_journal_log *log, char **image,
		      char digest[KC_DIGEST_LEN + 1], kc_err_t *err)
{
	if (log && kc_patch_journal_base(log, pod->name, digest)) {
		const char *ref = NULL;
		for (size_t i = log->n; i-- > 0;) {
			const struct kc_journal_entry *e = &log->entries[i];
			if (e->op == KC_JOP_TO_IMAGE && e->outcome == KC_JOUT_OK && e->replica_id &&
			    !strcmp(e->replica_id, pod->name) && e->detail &&
			    !strncmp(e->detail, digest, strlen(digest))) {
				ref = e->detail + strlen(digest);
				break;
			}
		}
		/* "DIGEST REF: counts": the reference, without the colon that ends it. */
		if (ref && *ref == ' ') {
			ref++;
			size_t l = strcspn(ref, " ");
			if (l > 1 && ref[l - 1] == ':')
				l--;
			*image = strndup(ref, l);
		} else {
			*image = strdup(pod->image ? pod->image : "");
		}
		return *image ? 0 : kc_err_sys(err, ENOMEM, "patch");
	}
	/* No journal here (another machine, a Job): the pod says where its files are from. */
	const char *from = kc_kube_pod_annotation(pod, KC_PATCH_KUBE_FILES_FROM);
	const char *fat = from ? strrchr(from, '@') : NULL;
	if (fat && fat > from && kc_digest_valid(fat + 1)) {
		snprintf(digest, KC_DIGEST_LEN + 1, "%s", fat + 1);
		*image = strndup(from, (size_t)(fat - from));
		return *image ? 0 : kc_err_sys(err, ENOMEM, "patch");
	}
	if (!pod->image_id)
		return kc_err_new(err, KC_E_NOTFOUND,
				  "pod %s reports no imageID (not started?): the image its files "
				  "come from is unknown",
				  pod->name);
	const char *id = pod->image_id;
	const char *scheme = strstr(id, "://");
	if (scheme)
		id = scheme + 3;
	const char *at = strrchr(id, '@');
	if (at) {
		if (!kc_digest_valid(at + 1))
			return kc_err_new(err, KC_E_INVALID, "pod %s: imageID \"%s\" has no digest",
					  pod->name, pod->image_id);
		snprintf(digest, KC_DIGEST_LEN + 1, "%s", at + 1);
		*image = strndup(id, (size_t)(at - id));
		return *image ? 0 : kc_err_sys(err, ENOMEM, "patch");
	}
	if (!kc_digest_valid(id) || !pod->image)
		return kc_err_new(err, KC_E_INVALID, "pod %s: imageID \"%s\" names no image digest",
				  pod->name, pod->image_id);
	/* A runtime image id: the config digest of what the spec image resolves to? */
	struct kc_ref ref;
	if (kc_ref_parse(pod->image, &ref, err) < 0)
		return kc_err_wrap(err, "pod %s: image %s", pod->name, pod->image);
	struct kc_image_info info;
	memset(&info, 0, sizeof info);
	if (kc_registry_resolve(r->reg, &ref, &info, err) < 0)
		return kc_err_wrap(err, "pod %s: resolving %s", pod->name, pod->image);
	bool same = !strcmp(info.config.digest, id);
	snprintf(digest, KC_DIGEST_LEN + 1, "%s", info.digest);
	kc_image_info_free(&info);
	if (!same)
		return kc_err_new(err, KC_E_CONFLICT,
				  "pod %s runs image %s, which is no longer what %s names in the "
				  "registry: its files cannot be indexed",
				  pod->name, pod->image_id, pod->image);
	*image = strdup(pod->image);
	return *image ? 0 : kc_err_sys(err, ENOMEM, "patch");
}

static int plan_to_image(struct run *r, kc_err_t *err)
{
	const struct kc_patch_opts *o = r->o;
	struct kc_registry_opts ropts = {.log = o->log};
	if (kc_registry_new(&ropts, &r->reg, err) < 0)
		return -1;
	/* The target first: one that does not resolve touches nothing. */
	if (kc_patch_image_index(r->reg, o->image, NULL, &r->tinfo, &r->tidx, err) < 0)
		return kc_err_wrap(err, "--to-image");
	if (!(r->res->target_digest = strdup(r->tinfo.digest)))
		return kc_err_sys(err, ENOMEM, "patch");
	kc_patch_event(r->o, "target %s = %s", o->image, r->tinfo.digest);

	struct kc_journal_log log;
	memset(&log, 0, sizeof log);
	cleanup_err kc_err_t jerr = NULL;
	bool have_log = kc_journal_read(r->state, o->app, &log, &jerr) == 0;
	if (!(r->pod_src = calloc(r->n, sizeof *r->pod_src))) {
		kc_journal_log_free(&log);
		return kc_err_sys(err, ENOMEM, "patch");
	}
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < r->n; i++) {
		cleanup_free char *image = NULL;
		char digest[KC_DIGEST_LEN + 1];
		if (pod_source(r, &r->pods[i], have_log ? &log : NULL, &image, digest, err) < 0) {
			rc = -1;
			break;
		}
		size_t s;
		for (s = 0; s < r->n_src; s++)
			if (!strcmp(r->src[s].digest, digest))
				break;
		if (s == r->n_src) {
			if (s == KUBE_MAX_SOURCES) {
				rc = kc_err_new(err, KC_E_TOOBIG, "more than %d distinct images",
						KUBE_MAX_SOURCES);
				break;
			}
			struct source *src = &r->src[r->n_src++];
			src->image = kc_steal(image);
			memcpy(src->digest, digest, sizeof src->digest);
			if (kc_patch_image_index(r->reg, src->image, src->digest, NULL, &src->idx,
						 err) < 0) {
				rc = kc_err_wrap(err, "the image of pod %s", r->pods[i].name);
				break;
			}
		}
		r->pod_src[i] = &r->src[s];
	}
	kc_journal_log_free(&log);
	if (rc < 0)
		return -1;

	struct kc_file_index *froms[KUBE_MAX_SOURCES];
	for (size_t s = 0; s < r->n_src; s++)
		froms[s] = r->src[s].idx;
	struct kc_patch_content *c = NULL;
	if (kc_patch_content_from_layers(r->reg, &r->tinfo, r->tidx, froms, r->n_src, &c, err) < 0)
		return kc_err_wrap(err, "--to-image %s", o->image);
	for (size_t s = 0; rc == 0 && s < r->n_src; s++) {
		struct kc_patch_plan *p = &r->src[s].plan;
		if (kc_patch_plan_build(r->src[s].idx, r->tidx, c, p, err) < 0)
			rc = kc_err_wrap(err, "from %s", r->src[s].digest);
		else
			kc_patch_event(
			    r->o,
			    "from %.19s: %zu added, %zu changed, %zu deleted (%zu bytes of tar)",
			    r->src[s].digest, p->added, p->changed, p->deleted, p->tar_len);
	}
	kc_patch_content_free(c);
	return rc;
}

/* ---- one step on a batch of pods ---- */

static bool nothing_to_do(const struct run *r, size_t i)
{
	const struct kc_patch_plan *p = r->pod_src ? &r->pod_src[i]->plan : NULL;
	return p && p->added + p->changed + p->deleted == 0;
}

/* Runs argv (with stdin `in` when not NULL) in pods idx[0..m) at once. A pod where it
 * did not run or exit 0 gets out->error ("WHAT: ..."); EXEC keeps exit code and output. */
static void step(struct run *r, const size_t *idx, size_t m, const char *const *argv,
		 const void *in, size_t in_len, const char *what, bool keep, int64_t *phase)
{
	if (m == 0)
		return;
	struct kc_kube_exec_each each[KC_PATCH_MAX_PARALLEL];
	memset(each, 0, sizeof each);
	for (size_t q = 0; q < m; q++) {
		each[q].pod = r->pods[idx[q]].name;
		each[q].container = r->pods[idx[q]].container;
	}
	kc_err_t xerr = NULL;
	int64_t t0 = kc_mono_ms();
	int xr = kc_kube_exec_each(r->k, each, m, argv, in, in_len, m, KC_PATCH_MAX_OUTPUT, &xerr);
	int64_t dt = kc_mono_ms() - t0;
	*phase = (*phase < 0 ? 0 : *phase) + dt * (int64_t)m;
	cleanup_free char *xmsg = xr < 0 ? kc_err_string(xerr) : NULL;
	kc_err_free(&xerr);
	for (size_t q = 0; q < m; q++) {
		struct kc_patch_replica *out = &r->res->replicas[idx[q]];
		const struct kc_kube_exec_each *e = &each[q];
		if (keep) {
			out->exit_code = e->ran ? e->exit_code : -1;
			out->out = e->out ? strdup(e->out) : NULL;
			out->err = e->err_out ? strdup(e->err_out) : NULL;
		}
		if (xr < 0) {
			out->error = kc_strf("%s%s%s", what, what[0] ? ": " : "",
					     xmsg ? xmsg : "exec failed");
		} else if (!e->ran) {
			cleanup_free char *m2 = kc_err_string(e->error);
			out->error =
			    kc_strf("%s%s%s", what, what[0] ? ": " : "", m2 ? m2 : "exec failed");
		} else if (e->exit_code != 0) {
			cleanup_free char *line = first_line(e->err_out);
			out->error =
			    kc_strf("%s%sexit %d%s%s", what, what[0] ? ": " : "", e->exit_code,
				    line && *line ? ": " : "", line ? line : "");
		}
		if (out->error == NULL && !(xr >= 0 && e->ran && e->exit_code == 0))
			out->error = strdup("out of memory");
	}
	kc_kube_exec_each_free(each, m);
}

/* The --to-image edit of pods idx[0..m): removals, then the tar, per source image. */
static void edit_to_image(struct run *r, const size_t *idx, size_t m)
{
	struct kc_patch_phases *ph = &r->res->phases;
	const char *untar[] = {"tar", "-x", "-C", "/", NULL};
	for (size_t s = 0; s < r->n_src; s++) {
		const struct kc_patch_plan *p = &r->src[s].plan;
		size_t sel[KC_PATCH_MAX_PARALLEL], k = 0;
		for (size_t q = 0; q < m; q++)
			if (r->pod_src[idx[q]] == &r->src[s])
				sel[k++] = idx[q];
		size_t n_rm = 0;
		while (p->rm && p->rm[n_rm])
			n_rm++;
		for (size_t b = 0; k && b < n_rm; b += KUBE_RM_BATCH) {
			const char *argv[KUBE_RM_BATCH + 4] = {"rm", "-rf", "--"};
			size_t a = 3;
			for (size_t j = b; j < n_rm && j < b + KUBE_RM_BATCH; j++)
				argv[a++] = p->rm[j];
			argv[a] = NULL;
			step(r, sel, k, argv, NULL, 0, "removing files (rm -rf)", false,
			     &ph->exec_ms);
			size_t live = 0; /* a pod whose rm failed goes no further */
			for (size_t q = 0; q < k; q++)
				if (!r->res->replicas[sel[q]].error)
					sel[live++] = sel[q];
			k = live;
		}
		if (k && p->added + p->changed > 0)
			step(r, sel, k, untar, p->tar, p->tar_len, "extracting (tar -x -C /)",
			     false, &ph->copy_ms);
	}
}

/* {"patchId","op","digest","outcome","time","error"?,"signal"?,"signalOutcome"?}. */
static char *annotation_value(const struct run *r, const char *op, const char *digest, bool edit_ok,
			      const char *time, const char *error, bool signalled, bool signal_ok)
{
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	if (!g)
		return NULL;
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "patchId", r->patch_id);
	kc_jgen_kv_str(g, "op", op);
	kc_jgen_kv_str(g, "digest", digest);
	kc_jgen_kv_str(g, "outcome", edit_ok ? "ok" : "failed");
	kc_jgen_kv_str(g, "time", time);
	if (error)
		kc_jgen_kv_str(g, "error", error);
	if (signalled) {
		char sig[32];
		snprintf(sig, sizeof sig, "%s%s", isdigit((unsigned char)r->sig[0]) ? "" : "SIG",
			 r->sig);
		kc_jgen_kv_str(g, "signal", sig);
		kc_jgen_kv_str(g, "signalOutcome", signal_ok ? "ok" : "failed");
	}
	yajl_gen_map_close(g);
	size_t len;
	return kc_jgen_finish(g, &len);
}

static int journal(struct run *r, size_t i, enum kc_journal_op op, const char *detail,
		   const char *digest, const char *error, int64_t now, int64_t dur, kc_err_t *err)
{
	struct kc_journal_entry je = {.time_ms = now,
				      .app = r->o->app,
				      .replica_id = r->pods[i].name,
				      .replica_name = r->pods[i].name,
				      .patch_id = r->patch_id,
				      .op = op,
				      .detail = detail,
				      .digest = digest,
				      .outcome = error ? KC_JOUT_FAILED : KC_JOUT_OK,
				      .error = error,
				      .duration_ms = dur};
	return kc_journal_append(r->j, &je, err);
}

/* Appends "; MORE" to *s. */
static void append(char **s, const char *more)
{
	char *n = kc_strf("%s%s%s", *s ? *s : "", *s ? "; " : "", more);
	if (n) {
		free(*s);
		*s = n;
	}
}

/* After a --to-image: the pod's files now come from the target (read back by pod_source
 * where no journal is at hand). A failure is noted on the pod; returns -1 then. */
static int set_files_from(const struct run *r, const char *pod, char **error)
{
	char pinned[KC_REF_STRING_MAX];
	kc_ref_pinned(&r->tinfo.ref, r->tinfo.digest, pinned, sizeof pinned);
	cleanup_err kc_err_t aerr = NULL;
	if (kc_kube_annotate_pod(r->k, pod, KC_PATCH_KUBE_FILES_FROM, pinned, &aerr) == 0)
		return 0;
	cleanup_free char *m = kc_err_string(aerr);
	cleanup_free char *n =
	    kc_strf("annotation %s not set: %s", KC_PATCH_KUBE_FILES_FROM, m ? m : "out of memory");
	if (n)
		append(error, n);
	return -1;
}

static const char *op_name(enum kc_patch_op op)
{
	return op == KC_PATCH_COPY ? "copy" : op == KC_PATCH_EXEC ? "exec" : "to-image";
}

static void patch_batch(struct run *r, size_t from, size_t m)
{
	const struct kc_patch_opts *o = r->o;
	struct kc_patch_result *res = r->res;
	size_t idx[KC_PATCH_MAX_PARALLEL];
	for (size_t q = 0; q < m; q++)
		idx[q] = from + q;
	int64_t t0 = kc_mono_ms();
	const char *sh[] = {"/bin/sh", "-c", o->command, NULL};
	const char *untar[] = {"tar", "-x", "-C", "/", NULL};
	if (o->op == KC_PATCH_EXEC)
		step(r, idx, m, sh, NULL, 0, "", true, &res->phases.exec_ms);
	else if (o->op == KC_PATCH_COPY)
		step(r, idx, m, untar, r->tar, r->tar_len, "", false, &res->phases.copy_ms);
	else
		edit_to_image(r, idx, m);
	int64_t edit_ms = kc_mono_ms() - t0;

	/* Journal first: a step is reported only once it is on disk. */
	char times[KC_PATCH_MAX_PARALLEL][32];
	bool journaled[KC_PATCH_MAX_PARALLEL];
	size_t sig_idx[KC_PATCH_MAX_PARALLEL], n_sig = 0;
	for (size_t q = 0; q < m; q++) {
		size_t i = idx[q];
		struct kc_patch_replica *out = &res->replicas[i];
		int64_t now = kc_journal_now_ms();
		kc_journal_format_time(now, times[q]);
		cleanup_free char *detail = NULL;
		if (o->op == KC_PATCH_TO_IMAGE) {
			const struct kc_patch_plan *p = &r->pod_src[i]->plan;
			/* The target digest first: kc_patch_journal_base reads it back. */
			detail =
			    kc_strf("%s %s: %zu added, %zu changed, %zu deleted",
				    res->target_digest, o->image, p->added, p->changed, p->deleted);
			out->added = p->added;
			out->changed = p->changed;
			out->deleted = p->deleted;
		}
		cleanup_err kc_err_t jerr = NULL;
		journaled[q] = journal(r, i,
				       o->op == KC_PATCH_COPY	? KC_JOP_COPY
				       : o->op == KC_PATCH_EXEC ? KC_JOP_EXEC
								: KC_JOP_TO_IMAGE,
				       detail ? detail : r->detail, out->digest, out->error, now,
				       edit_ms, &jerr) == 0;
		if (!journaled[q]) {
			cleanup_free char *m2 = kc_err_string(jerr);
			cleanup_free char *prev = out->error;
			out->error = kc_strf("not journaled: %s%s%s", m2 ? m2 : "?",
					     prev ? "; " : "", prev ? prev : "");
			r->stop = true; /* nothing more without a journal */
			continue;
		}
		out->journaled = true;
		if (!out->error && r->sig[0] && !nothing_to_do(r, i))
			sig_idx[n_sig++] = i;
	}

	/* The app re-reads its files on a signal: the container is never restarted. */
	bool signalled[KC_PATCH_MAX_PARALLEL] = {0};
	if (n_sig) {
		char arg[32];
		snprintf(arg, sizeof arg, "-%s", r->sig);
		const char *kill_argv[] = {"kill", arg, "1", NULL};
		int64_t t1 = kc_mono_ms();
		step(r, sig_idx, n_sig, kill_argv, NULL, 0, "signalling PID 1 (kill)", false,
		     &res->phases.restart_ms);
		int64_t dt = kc_mono_ms() - t1;
		char detail[40];
		snprintf(detail, sizeof detail, "%s%s",
			 isdigit((unsigned char)r->sig[0]) ? "" : "SIG", r->sig);
		for (size_t q = 0; q < n_sig; q++) {
			size_t i = sig_idx[q];
			struct kc_patch_replica *out = &res->replicas[i];
			signalled[i - from] = true;
			cleanup_err kc_err_t jerr = NULL;
			if (journal(r, i, KC_JOP_SIGNAL, detail, NULL, out->error,
				    kc_journal_now_ms(), dt, &jerr) < 0) {
				cleanup_free char *m2 = kc_err_string(jerr);
				char *n2 = kc_strf("signal not journaled: %s", m2 ? m2 : "?");
				if (n2)
					append(&out->error, n2);
				free(n2);
				r->stop = true;
			}
		}
	}

	for (size_t q = 0; q < m; q++) {
		size_t i = idx[q];
		struct kc_patch_replica *out = &res->replicas[i];
		bool good = out->error == NULL;
		if (out->journaled) {
			/* Only pods whose edit succeeded were signalled: the edit's outcome
			 * and error are the journal line's, the signal's come apart. */
			cleanup_free char *val = annotation_value(
			    r, op_name(o->op), out->digest, signalled[q] || good, times[q],
			    signalled[q] ? NULL : out->error, signalled[q], good);
			cleanup_err kc_err_t aerr = NULL;
			if (!val ||
			    kc_kube_annotate_pod(r->k, r->pods[i].name, KC_PATCH_KUBE_ANNOTATION,
						 val, &aerr) < 0) {
				cleanup_free char *m2 = kc_err_string(aerr);
				cleanup_free char *n2 =
				    kc_strf("annotation not set: %s", m2 ? m2 : "out of memory");
				if (n2)
					append(&out->error, n2);
				r->unannotated++;
			} else {
				out->annotated = true;
			}
			if (o->op == KC_PATCH_TO_IMAGE && (signalled[q] || good) &&
			    set_files_from(r, r->pods[i].name, &out->error) < 0)
				r->unannotated++;
		}
		out->duration_ms = kc_mono_ms() - t0;
		char sigdone[48] = "";
		if (signalled[q])
			snprintf(sigdone, sizeof sigdone, "; signalled %s%s",
				 isdigit((unsigned char)r->sig[0]) ? "" : "SIG", r->sig);
		if (good) {
			res->ok++;
			out->outcome = strdup("ok");
			if (o->op == KC_PATCH_EXEC)
				out->applied = kc_strf("exit 0%s", sigdone);
			else if (o->op == KC_PATCH_COPY)
				out->applied = kc_strf("copied %s%s", r->dest, sigdone);
			else if (nothing_to_do(r, i))
				out->applied = strdup("nothing to apply (already at target)");
			else
				out->applied =
				    kc_strf("%zu added, %zu changed, %zu deleted%s", out->added,
					    out->changed, out->deleted, sigdone);
		} else {
			res->failed++;
			out->outcome = strdup("failed");
			if (!o->continue_on_error)
				r->stop = true;
		}
		kc_patch_event(r->o, "%s: %s (%s) in %lld ms", out->name, out->outcome,
			       good ? (out->applied ? out->applied : "") : out->error,
			       (long long)out->duration_ms);
	}
}

/* ---- the run ---- */

static int kube_run(struct run *r, kc_err_t *err)
{
	const struct kc_patch_opts *o = r->o;
	struct kc_patch_result *res = r->res;
	if (parse_signal(o, r->sig, err) < 0)
		return -1;
	if (kc_journal_new_patch_id(r->patch_id, err) < 0)
		return -1;
	if (!(res->patch_id = strdup(r->patch_id)) || !(res->app = strdup(o->app)))
		return kc_err_sys(err, ENOMEM, "patch");
	if (!o->state_dir) {
		if (kc_state_dir(&r->state, err) < 0)
			return -1;
	} else if (!(r->state = strdup(o->state_dir))) {
		return kc_err_sys(err, ENOMEM, "patch");
	}

	/* What is applied, decided before anything is touched. */
	int64_t td = kc_mono_ms();
	if (o->op == KC_PATCH_COPY) {
		if (plan_copy(r, err) < 0)
			return -1;
	} else if (o->op == KC_PATCH_EXEC) {
		if (kc_sha256_digest(o->command, strlen(o->command), r->digest, err) < 0)
			return -1;
		if (!(r->detail = strdup(o->command)))
			return kc_err_sys(err, ENOMEM, "patch");
	}
	if (kc_kube_deployment_pods(r->k, o->app, &r->pods, &r->n, err) < 0)
		return kc_err_wrap(err, "deployment/%s", o->app);
	if (r->n == 0)
		return kc_err_new(err, KC_E_NOTFOUND, "deployment/%s in namespace %s has no pods",
				  o->app, kc_kube_namespace(r->k));
	if (o->op == KC_PATCH_TO_IMAGE) {
		if (plan_to_image(r, err) < 0)
			return -1;
		res->phases.diff_ms = kc_mono_ms() - td;
	}
	/* The journal opens before any pod is touched: no unrecorded edits. */
	if (kc_journal_open(r->state, o->app, &r->j, err) < 0)
		return -1;
	if (!(res->replicas = calloc(r->n, sizeof *res->replicas)))
		return kc_err_sys(err, ENOMEM, "patch");
	res->n = r->n;
	for (size_t i = 0; i < r->n; i++) {
		struct kc_patch_replica *p = &res->replicas[i];
		p->exit_code = -1;
		const char *d = o->op == KC_PATCH_TO_IMAGE ? res->target_digest : r->digest;
		if (!(p->id = strdup(r->pods[i].name)) || !(p->name = strdup(r->pods[i].name)) ||
		    !(p->digest = strdup(d)))
			return kc_err_sys(err, ENOMEM, "patch");
	}
	kc_patch_event(r->o, "patch %s: %zu pods of deployment/%s", r->patch_id, r->n, o->app);

	size_t parallel = o->parallel ? o->parallel : 1;
	/* Batches of `parallel` pods: stopping after a failure (without
	 * --continue-on-error) leaves the later batches untouched. */
	for (size_t i = 0; i < r->n; i += parallel) {
		size_t b = r->n - i < parallel ? r->n - i : parallel;
		if (r->stop) {
			for (size_t q = i; q < i + b; q++) {
				res->replicas[q].outcome = strdup("skipped");
				res->skipped++;
			}
			continue;
		}
		patch_batch(r, i, b);
	}
	res->partial = res->ok > 0 && res->ok < res->n;
	if (res->ok == res->n && !r->unannotated)
		return 0;
	if (res->ok == res->n)
		return kc_err_new(err, KC_E_REMOTE,
				  "patch %s of deployment/%s applied, but %zu pod annotations are "
				  "missing",
				  r->patch_id, o->app, r->unannotated);
	return kc_err_new(err, KC_E_GENERIC,
			  "patch %s of deployment/%s %s: %zu ok, %zu failed, %zu skipped "
			  "(journal %s)",
			  r->patch_id, o->app, res->ok ? "is PARTIAL" : "failed", res->ok,
			  res->failed, res->skipped, kc_journal_file(r->j));
}

int kc_patch_kube_run(struct kc_kube *k, const struct kc_patch_opts *o, struct kc_patch_result *res,
		      kc_err_t *err)
{
	memset(res, 0, sizeof *res);
	res->phases = (struct kc_patch_phases){-1, -1, -1, -1, -1};
	if (validate(o, err) < 0)
		return -1;
	int64_t t0 = kc_mono_ms();
	__attribute__((cleanup(run_free))) struct run r;
	memset(&r, 0, sizeof r);
	r.k = k;
	r.o = o;
	r.res = res;
	int rc = kube_run(&r, err);
	res->phases.total_ms = kc_mono_ms() - t0;
	return rc;
}
