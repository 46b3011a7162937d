/* kctl patch: in-place edits of an app's running replicas (mutable mode), and
 * `kctl patch log APP`, the journal of those edits. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "compare/journal.h"
#include "compare/patch.h"
#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/sha256.h"
#include "shim/engine/engine.h"
#include "shim/engine/kube.h"
#include "shim/engine/kube_pods.h"

struct patch_cli {
	struct kc_patch_opts o;
	char *copy_arg; /* LOCAL:PATH, split in place */
	int n_ops;
	struct kc_cli_kube kube; /* deployment/NAME on Kubernetes */
};

static int patch_opt(void *opaque, int opt, const char *arg, kc_err_t *err)
{
	struct patch_cli *p = opaque;
	char *end;
	switch (opt) {
	case 'c': {
		const char *colon = strrchr(arg, ':');
		if (!colon || colon == arg || !colon[1])
			return kc_cli_usage_error(&kc_cmd_patch, err,
						  "--copy wants LOCAL:PATH, got \"%s\"", arg);
		free(p->copy_arg);
		p->copy_arg = strdup(arg);
		if (!p->copy_arg)
			return kc_err_sys(err, ENOMEM, "--copy");
		p->copy_arg[colon - arg] = '\0';
		p->o.op = KC_PATCH_COPY;
		p->o.local = p->copy_arg;
		p->o.path = p->copy_arg + (colon - arg) + 1;
		p->n_ops++;
		return 0;
	}
	case 'e':
		p->o.op = KC_PATCH_EXEC;
		p->o.command = arg;
		p->n_ops++;
		return 0;
	case 'i':
		p->o.op = KC_PATCH_TO_IMAGE;
		p->o.image = arg;
		p->n_ops++;
		return 0;
	case 'r':
		p->o.restart = true;
		return 0;
	case 's':
		p->o.signal = arg;
		return 0;
	case 'p': {
		errno = 0;
		long v = strtol(arg, &end, 10);
		if (errno || *end || v < 1 || v > KC_PATCH_MAX_PARALLEL)
			return kc_cli_usage_error(&kc_cmd_patch, err,
						  "--parallel: \"%s\" is not 1..%d", arg,
						  KC_PATCH_MAX_PARALLEL);
		p->o.parallel = (size_t)v;
		return 0;
	}
	case 'k':
		p->o.continue_on_error = true;
		return 0;
	}
	if (kc_cli_kube_opt(&p->kube, opt, arg))
		return 0;
	return kc_cli_usage_error(&kc_cmd_patch, err, "unexpected option");
}

static void print_result(const struct kc_cli *cli, const struct kc_patch_opts *o,
			 const struct kc_patch_result *r)
{
	static const char *const ops[] = {"copy", "exec", "to-image"};
	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_jgen yajl_gen g = kc_jgen_new(true);
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "patchId", r->patch_id);
		kc_jgen_kv_str(g, "app", r->app);
		kc_jgen_kv_str(g, "op", ops[o->op]);
		kc_jgen_kv_str(g, "targetDigest", r->target_digest);
		kc_jgen_kv_str(g, "outcome",
			       r->ok == r->n ? "ok"
			       : r->partial  ? "partial"
					     : "failed");
		kc_jgen_kv_bool(g, "partial", r->partial);
		kc_jgen_kv_int(g, "ok", (int64_t)r->ok);
		kc_jgen_kv_int(g, "failed", (int64_t)r->failed);
		kc_jgen_kv_int(g, "skipped", (int64_t)r->skipped);
		kc_jgen_key(g, "replicas");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < r->n; i++) {
			const struct kc_patch_replica *p = &r->replicas[i];
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "id", p->id);
			kc_jgen_kv_str(g, "name", p->name);
			kc_jgen_kv_str(g, "outcome", p->outcome);
			kc_jgen_kv_str(g, "error", p->error);
			kc_jgen_kv_str(g, "applied", p->applied);
			kc_jgen_kv_str(g, "digest", p->digest);
			kc_jgen_kv_int(g, "added", (int64_t)p->added);
			kc_jgen_kv_int(g, "changed", (int64_t)p->changed);
			kc_jgen_kv_int(g, "deleted", (int64_t)p->deleted);
			kc_jgen_kv_int(g, "exitCode", p->exit_code);
			kc_jgen_kv_str(g, "stdout", p->out);
			kc_jgen_kv_str(g, "stderr", p->err);
			kc_jgen_kv_int(g, "durationMs", p->duration_ms);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		kc_jgen_key(g, "phasesMs");
		yajl_gen_map_open(g);
		kc_jgen_kv_ms(g, "diff", r->phases.diff_ms);
		kc_jgen_kv_ms(g, "copy", r->phases.copy_ms);
		kc_jgen_kv_ms(g, "exec", r->phases.exec_ms);
		kc_jgen_kv_ms(g, "restart", r->phases.restart_ms);
		kc_jgen_kv_ms(g, "total", r->phases.total_ms);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		kc_cli_print_json(g);
		return;
	}
	struct kc_table *t = kc_table_new(4);
	kc_table_add(t, "REPLICA", "OUTCOME", "DURATION", "APPLIED");
	for (size_t i = 0; i < r->n; i++) {
		const struct kc_patch_replica *p = &r->replicas[i];
		char dur[32];
		snprintf(dur, sizeof dur, "%lldms", (long long)p->duration_ms);
		kc_table_add(t, p->name, p->outcome, dur, p->error ? p->error : p->applied);
	}
	kc_table_print(t, stdout);
	kc_table_free(t);
	printf("patch %s of %s: %s (%zu ok, %zu failed, %zu skipped) in %.1fs\n", r->patch_id,
	       r->app,
	       r->ok == r->n ? "done"
	       : r->partial  ? "PARTIAL"
			     : "FAILED",
	       r->ok, r->failed, r->skipped, (double)r->phases.total_ms / 1000.0);
}

static int do_log(struct kc_cli *cli, const char *app, kc_err_t *err)
{
	cleanup_free char *state = NULL;
	if (kc_state_dir(&state, err) < 0)
		return -1;
	if (kc_journal_log_cmd(state, app, cli->output == KC_OUTPUT_JSON, stdout, err) < 0)
		return -1;
	return KC_EXIT_OK;
}

/* ---- Kubernetes: kctl patch deployment/NAME ---- */

/* A --copy source is read whole into memory (it becomes one tar stream). */
#define KUBE_COPY_MAX (32u << 20)
/* The pod annotation holding a pod's last patch, as the journal line has it. */
#define KUBE_PATCH_ANNOTATION "io.kctl.patch"

struct kube_pod_out {
	const char *name;
	const char *outcome; /* "ok", "failed", "skipped" */
	char *error, *applied, *out, *err_out;
	int exit_code;
	int64_t duration_ms;
	char time[32];
	bool journaled, annotated;
};

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
		ssize_t r = read(fd, buf + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kc_err_sys(err, errno, "%s", path);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*data = buf;
	buf = NULL;
	*len = got;
	*mode = st.st_mode & 07777;
	return 0;
}

/* {"patchId","op","digest","outcome","time","error"}: the journal line's fields. */
static char *annotation_value(const char *patch_id, const char *op, const char *digest,
			      const struct kube_pod_out *po)
{
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	if (!g)
		return NULL;
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "patchId", patch_id);
	kc_jgen_kv_str(g, "op", op);
	kc_jgen_kv_str(g, "digest", digest);
	kc_jgen_kv_str(g, "outcome", po->outcome);
	kc_jgen_kv_str(g, "time", po->time);
	if (po->error)
		kc_jgen_kv_str(g, "error", po->error);
	yajl_gen_map_close(g);
	size_t len;
	return kc_jgen_finish(g, &len);
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The first line of s, at most 200 bytes, for the error column. */
static char *first_line(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strcspn(s, "\n");
	return strndup(s, n > 200 ? 200 : n);
}

static void print_kube_result(const struct kc_cli *cli, const char *patch_id, const char *name,
			      const char *ns, const char *op, const char *digest,
			      const struct kube_pod_out *po, size_t n, size_t ok, size_t failed,
			      size_t skipped, int64_t total_ms)
{
	const char *outcome = ok == n ? "ok" : ok ? "partial" : "failed";
	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_jgen yajl_gen g = kc_jgen_new(true);
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "patchId", patch_id);
		kc_jgen_kv_str(g, "deployment", name);
		kc_jgen_kv_str(g, "namespace", ns);
		kc_jgen_kv_str(g, "op", op);
		kc_jgen_kv_str(g, "digest", digest);
		kc_jgen_kv_str(g, "outcome", outcome);
		kc_jgen_kv_bool(g, "partial", ok && ok < n);
		kc_jgen_kv_int(g, "ok", (int64_t)ok);
		kc_jgen_kv_int(g, "failed", (int64_t)failed);
		kc_jgen_kv_int(g, "skipped", (int64_t)skipped);
		kc_jgen_key(g, "pods");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < n; i++) {
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "name", po[i].name);
			kc_jgen_kv_str(g, "outcome", po[i].outcome);
			kc_jgen_kv_str(g, "error", po[i].error);
			kc_jgen_kv_str(g, "applied", po[i].applied);
			kc_jgen_kv_int(g, "exitCode", po[i].exit_code);
			kc_jgen_kv_str(g, "stdout", po[i].out);
			kc_jgen_kv_str(g, "stderr", po[i].err_out);
			kc_jgen_kv_int(g, "durationMs", po[i].duration_ms);
			kc_jgen_kv_bool(g, "journaled", po[i].journaled);
			kc_jgen_kv_bool(g, "annotated", po[i].annotated);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		kc_jgen_kv_int(g, "totalMs", total_ms);
		yajl_gen_map_close(g);
		kc_cli_print_json(g);
		return;
	}
	struct kc_table *t = kc_table_new(4);
	kc_table_add(t, "POD", "OUTCOME", "DURATION", "APPLIED");
	for (size_t i = 0; i < n; i++) {
		char dur[32];
		snprintf(dur, sizeof dur, "%lldms", (long long)po[i].duration_ms);
		kc_table_add(t, po[i].name, po[i].outcome, dur,
			     po[i].error ? po[i].error : po[i].applied);
	}
	kc_table_print(t, stdout);
	kc_table_free(t);
	printf("patch %s of deployment/%s: %s (%zu ok, %zu failed, %zu skipped) in %.1fs\n",
	       patch_id, name,
	       ok == n ? "done"
	       : ok    ? "PARTIAL"
		       : "FAILED",
	       ok, failed, skipped, (double)total_ms / 1000.0);
}

static void kube_pod_outs_free(struct kube_pod_out *po, size_t n)
{
	for (size_t i = 0; po && i < n; i++) {
		free(po[i].error);
		free(po[i].applied);
		free(po[i].out);
		free(po[i].err_out);
	}
	free(po);
}

static int run_kube_patch(struct kc_cli *cli, struct patch_cli *p, const char *target,
			  kc_err_t *err)
{
	const struct kc_patch_opts *o = &p->o;
	if (o->op == KC_PATCH_TO_IMAGE || o->restart || o->signal)
		return kc_cli_usage_error(&kc_cmd_patch, err,
					  "--to-image, --restart and --signal are not supported "
					  "on Kubernetes");
	if (!kc_cli_is_kube_target(target))
		return kc_cli_usage_error(&kc_cmd_patch, err,
					  "\"%s\": on Kubernetes give deployment/NAME", target);
	const char *name = kc_cli_kube_name(target);
	if (!kc_journal_app_valid(name))
		return kc_cli_usage_error(&kc_cmd_patch, err, "\"%s\" is not a deployment name",
					  name);

	/* What is applied, decided before anything is touched. */
	const char *op = o->op == KC_PATCH_COPY ? "copy" : "exec";
	cleanup_free void *tar = NULL;
	size_t tar_len = 0;
	cleanup_free char *dest = NULL, *detail = NULL;
	char digest[KC_DIGEST_LEN + 1];
	const char *sh[] = {"/bin/sh", "-c", o->command, NULL};
	const char *untar[] = {"tar", "-x", "-C", "/", NULL};
	if (o->op == KC_PATCH_COPY) {
		if (o->path[0] != '/')
			return kc_cli_usage_error(&kc_cmd_patch, err,
						  "--copy: PATH must be absolute, got \"%s\"",
						  o->path);
		cleanup_free void *data = NULL;
		size_t len = 0;
		mode_t mode = 0644;
		if (read_local(o->local, &data, &len, &mode, err) < 0)
			return kc_err_wrap(err, "--copy");
		size_t pl = strlen(o->path);
		if (o->path[pl - 1] == '/') {
			const char *base = strrchr(o->local, '/');
			dest = dupf("%s%s", o->path, base ? base + 1 : o->local);
		} else {
			dest = strdup(o->path);
		}
		if (!dest)
			return kc_err_sys(err, ENOMEM, "--copy");
		if (kc_kube_tar_one(dest, data, len, mode, &tar, &tar_len, err) < 0)
			return kc_err_wrap(err, "--copy %s", dest);
		if (kc_sha256_digest(tar, tar_len, digest, err) < 0)
			return -1;
		detail = dupf("%s -> %s (%zu bytes)", o->local, dest, len);
	} else {
		if (kc_sha256_digest(o->command, strlen(o->command), digest, err) < 0)
			return -1;
		detail = strdup(o->command);
	}
	if (!detail)
		return kc_err_sys(err, ENOMEM, "patch");

	cleanup_kube struct kc_kube *k = NULL;
	if (kc_cli_open_kube(cli, &p->kube, &k, err) < 0)
		return -1;
	struct kc_kube_pod *pods = NULL;
	size_t n = 0;
	if (kc_kube_deployment_pods(k, name, &pods, &n, err) < 0)
		return kc_err_wrap(err, "deployment/%s", name);
	int rc = -1;
	struct kube_pod_out *po = NULL;
	struct kc_journal *j = NULL;
	cleanup_free char *state = NULL;
	char patch_id[KC_JOURNAL_PATCH_ID_LEN];
	if (n == 0) {
		kc_err_new(err, KC_E_NOTFOUND, "deployment/%s in namespace %s has no pods", name,
			   kc_kube_namespace(k));
		goto out;
	}
	po = calloc(n, sizeof *po);
	if (!po) {
		kc_err_sys(err, ENOMEM, "patch");
		goto out;
	}
	if (kc_state_dir(&state, err) < 0 || kc_journal_open(state, name, &j, err) < 0 ||
	    kc_journal_new_patch_id(patch_id, err) < 0)
		goto out;

	size_t parallel = o->parallel ? o->parallel : 1;
	size_t ok = 0, failed = 0, skipped = 0, unannotated = 0;
	bool stop = false;
	int64_t start = kc_journal_now_ms();
	for (size_t i = 0; i < n; i++)
		po[i].name = pods[i].name;
	/* Batches of `parallel` pods: stopping after a failure (without
	 * --continue-on-error) leaves the later batches untouched. */
	for (size_t i = 0; i < n; i += parallel) {
		size_t b = n - i < parallel ? n - i : parallel;
		if (stop) {
			for (size_t m = i; m < i + b; m++) {
				po[m].outcome = "skipped";
				skipped++;
			}
			continue;
		}
		struct kc_kube_exec_each each[KC_PATCH_MAX_PARALLEL];
		memset(each, 0, sizeof each);
		for (size_t m = 0; m < b; m++) {
			each[m].pod = pods[i + m].name;
			each[m].container = pods[i + m].container;
		}
		kc_err_t xerr = NULL;
		int64_t t0 = kc_journal_now_ms();
		int xr = kc_kube_exec_each(k, each, b, o->op == KC_PATCH_COPY ? untar : sh, tar,
					   tar_len, b, KC_PATCH_MAX_OUTPUT, &xerr);
		int64_t t1 = kc_journal_now_ms();
		cleanup_free char *xmsg = xr < 0 ? kc_err_string(xerr) : NULL;
		kc_err_free(&xerr);
		for (size_t m = 0; m < b; m++) {
			struct kube_pod_out *q = &po[i + m];
			const struct kc_kube_exec_each *e = &each[m];
			q->duration_ms = t1 - t0;
			q->exit_code = e->ran ? e->exit_code : -1;
			q->out = e->out ? strdup(e->out) : NULL;
			q->err_out = e->err_out ? strdup(e->err_out) : NULL;
			bool good = xr >= 0 && e->ran && e->exit_code == 0;
			if (xr < 0) {
				q->error = strdup(xmsg ? xmsg : "exec failed");
			} else if (!e->ran) {
				q->error = kc_err_string(e->error);
			} else if (e->exit_code != 0) {
				cleanup_free char *line = first_line(e->err_out);
				q->error = dupf("exit %d%s%s", e->exit_code,
						line && *line ? ": " : "", line ? line : "");
			}
			q->outcome = good ? "ok" : "failed";
			/* Journal first: a step is reported only once it is on disk. */
			int64_t now = kc_journal_now_ms();
			kc_journal_format_time(now, q->time);
			struct kc_journal_entry je = {.time_ms = now,
						      .app = name,
						      .replica_id = pods[i + m].name,
						      .replica_name = pods[i + m].name,
						      .patch_id = patch_id,
						      .op = o->op == KC_PATCH_COPY ? KC_JOP_COPY
										   : KC_JOP_EXEC,
						      .detail = detail,
						      .digest = digest,
						      .outcome = good ? KC_JOUT_OK : KC_JOUT_FAILED,
						      .error = good ? NULL : q->error,
						      .duration_ms = q->duration_ms};
			kc_err_t jerr = NULL;
			if (kc_journal_append(j, &je, &jerr) < 0) {
				char *m2 = kc_err_string(jerr);
				kc_err_free(&jerr);
				free(q->error);
				q->error = dupf("not journaled: %s", m2 ? m2 : "?");
				free(m2);
				q->outcome = "failed";
				good = false;
				stop = true; /* nothing more without a journal */
			} else {
				q->journaled = true;
				cleanup_free char *val = annotation_value(patch_id, op, digest, q);
				kc_err_t aerr = NULL;
				if (!val ||
				    kc_kube_annotate_pod(k, pods[i + m].name, KUBE_PATCH_ANNOTATION,
							 val, &aerr) < 0) {
					char *m2 = kc_err_string(aerr);
					kc_err_free(&aerr);
					cleanup_free char *prev = q->error;
					q->error =
					    dupf("%s%sannotation not set: %s", prev ? prev : "",
						 prev ? "; " : "", m2 ? m2 : "out of memory");
					free(m2);
					unannotated++;
				} else {
					q->annotated = true;
				}
			}
			if (good) {
				ok++;
				q->applied = o->op == KC_PATCH_COPY ? dupf("copied %s", dest)
								    : strdup("exit 0");
			} else {
				failed++;
				if (!o->continue_on_error)
					stop = true;
			}
		}
		kc_kube_exec_each_free(each, b);
	}
	print_kube_result(cli, patch_id, name, kc_kube_namespace(k), op, digest, po, n, ok, failed,
			  skipped, kc_journal_now_ms() - start);
	if (ok == n && !unannotated)
		rc = KC_EXIT_OK;
	else if (ok == n)
		kc_err_new(err, KC_E_REMOTE,
			   "patch %s of deployment/%s applied, but %zu pod annotations are missing",
			   patch_id, name, unannotated);
	else
		kc_err_new(
		    err, KC_E_GENERIC,
		    "patch %s of deployment/%s %s: %zu ok, %zu failed, %zu skipped (journal %s)",
		    patch_id, name, ok ? "is PARTIAL" : "failed", ok, failed, skipped,
		    kc_journal_file(j));
out:
	kc_journal_close(j);
	kube_pod_outs_free(po, n);
	kc_kube_pods_free(pods, n);
	return rc;
}

static int run_patch(struct kc_cli *cli, int argc, char **argv, kc_err_t *err)
{
	struct patch_cli p = {0};
	static const struct option longopts[] = {{"copy", required_argument, NULL, 'c'},
						 {"exec", required_argument, NULL, 'e'},
						 {"to-image", required_argument, NULL, 'i'},
						 {"restart", no_argument, NULL, 'r'},
						 {"signal", required_argument, NULL, 's'},
						 {"parallel", required_argument, NULL, 'p'},
						 {"continue-on-error", no_argument, NULL, 'k'},
						 KC_CLI_KUBE_LONG,
						 {0}};
	bool log = argc > 1 && !strcmp(argv[1], "log");
	if (log) {
		argc--;
		argv++;
	}
	int rc = kc_cli_parse(cli, &kc_cmd_patch, argc, argv, "n:", longopts, patch_opt, &p, err);
	cleanup_free char *copy_arg = p.copy_arg;
	if (rc != 0)
		return rc < 0 ? -1 : KC_EXIT_OK;
	if (argc - optind != 1)
		return kc_cli_usage_error(&kc_cmd_patch, err, "patch%s needs exactly one APP",
					  log ? " log" : "");
	const char *app = argv[optind];
	if (log)
		return do_log(cli, app, err);
	if (p.n_ops != 1)
		return kc_cli_usage_error(&kc_cmd_patch, err,
					  "give exactly one of --copy, --exec, --to-image");
	if (p.o.restart && p.o.signal)
		return kc_cli_usage_error(&kc_cmd_patch, err,
					  "--restart and --signal exclude "
					  "each other");
	bool kube;
	if (kc_cli_kube_wanted(&kc_cmd_patch, &p.kube, &kube, err) < 0)
		return -1;
	if (kube)
		return run_kube_patch(cli, &p, app, err);
	if (kc_cli_is_kube_target(app))
		return kc_cli_usage_error(&kc_cmd_patch, err,
					  "%s is a Kubernetes target: add --engine kube (or "
					  "KCTL_ENGINE=kube, --context, --kubeconfig)",
					  app);
	if (p.kube.namespace)
		return kc_cli_usage_error(&kc_cmd_patch, err, "-n needs --engine kube");
	cleanup_engine struct kc_engine *eng = NULL;
	if (kc_cli_open_engine(cli, &eng, err) < 0)
		return -1;
	p.o.app = app;
	p.o.log = &cli->log;
	p.o.docker_host = cli->docker_host;
	if (cli->output == KC_OUTPUT_TEXT)
		p.o.on_event = kc_cli_print_progress;
	struct kc_patch_result res;
	rc = kc_patch_run(eng, &p.o, &res, err);
	if (res.n)
		print_result(cli, &p.o, &res);
	kc_patch_result_free(&res);
	return rc < 0 ? -1 : KC_EXIT_OK;
}

const struct kc_cmd kc_cmd_patch = {
    .name = "patch",
    .summary = "edit running replicas in place (mutable mode), journaled",
    .usage = "Usage: kctl patch APP (--copy LOCAL:PATH | --exec CMD | --to-image REF)\n"
	     "                  [--restart | --signal SIG] [--parallel N] [--continue-on-error]\n"
	     "       kctl patch deployment/NAME (--copy LOCAL:PATH | --exec CMD) --engine kube\n"
	     "                  [--context C] [--kubeconfig F] [-n NS] [--parallel N]\n"
	     "                  [--continue-on-error]\n"
	     "       kctl patch log APP\n\n"
	     "Edits every running replica of APP in place, the way a configuration tool edits\n"
	     "a server: --copy puts a local file or directory at PATH (PATH ending in / is a\n"
	     "directory to copy into), --exec runs CMD with /bin/sh -c, --to-image applies the\n"
	     "file difference between the image each replica runs and REF (added, changed and\n"
	     "deleted files, modes, symlinks, type changes) and restarts the replicas.\n"
	     "Replicas must be mutable (kctl rollout --mode mutable, label io.kctl.mode=mutable).\n"
	     "Every replica step is journaled (fsync'd) before it is reported; `patch log` reads\n"
	     "the journal. A patch that failed on some replicas is PARTIAL and exits 1.\n\n"
	     "Options:\n"
	     "      --copy LOCAL:PATH     copy a local file or directory into the replicas\n"
	     "      --exec CMD            run a shell command in the replicas\n"
	     "      --to-image REF        move the replicas' files to image REF in place\n"
	     "      --restart             restart each replica after the edit (engine stop+start,\n"
	     "                            the writable layer stays); default for --to-image\n"
	     "      --signal SIG          send SIG (e.g. SIGHUP) to the app instead\n"
	     "      --parallel N          replicas edited at once (default 1)\n"
	     "      --continue-on-error   go on after a replica fails (default: "
	     "stop)\n"
	     "\nKubernetes (--engine kube, implied by --context or --kubeconfig; or\n"
	     "KCTL_ENGINE=kube): every pod of the Deployment is edited over the exec API\n"
	     "(--copy: one regular file, as a tar stream into `tar -x`, like kubectl cp);\n"
	     "each pod's step is journaled under the deployment's name and recorded as the\n"
	     "pod annotation " KUBE_PATCH_ANNOTATION " (JSON: patchId, op, digest, outcome, time).\n"
	     KC_CLI_KUBE_HELP KC_CLI_COMMON_HELP,
    .run = run_patch,
};
