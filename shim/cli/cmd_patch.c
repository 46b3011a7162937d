/* kctl patch: in-place edits of an app's running replicas (mutable mode), and
 * `kctl patch log APP`, the journal of those edits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare/journal.h"
#include "compare/patch.h"
#include "compare/patch_kube.h"
#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/engine/engine.h"
#include "shim/engine/kube.h"

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

/* ---- Kubernetes: kctl patch deployment/NAME (compare/patch_kube.h) ---- */

static void print_kube_result(const struct kc_cli *cli, const struct kc_patch_opts *o,
			      const char *ns, const struct kc_patch_result *r)
{
	static const char *const ops[] = {"copy", "exec", "to-image"};
	size_t n = r->n, ok = r->ok;
	const char *outcome = ok == n ? "ok" : ok ? "partial" : "failed";
	/* exec/copy: every pod got the same content. */
	const char *digest = o->op == KC_PATCH_TO_IMAGE ? r->target_digest : NULL;
	if (o->op != KC_PATCH_TO_IMAGE && n)
		digest = r->replicas[0].digest;
	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_jgen yajl_gen g = kc_jgen_new(true);
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "patchId", r->patch_id);
		kc_jgen_kv_str(g, "deployment", r->app);
		kc_jgen_kv_str(g, "namespace", ns);
		kc_jgen_kv_str(g, "op", ops[o->op]);
		kc_jgen_kv_str(g, "digest", digest);
		kc_jgen_kv_str(g, "outcome", outcome);
		kc_jgen_kv_bool(g, "partial", r->partial);
		kc_jgen_kv_int(g, "ok", (int64_t)r->ok);
		kc_jgen_kv_int(g, "failed", (int64_t)r->failed);
		kc_jgen_kv_int(g, "skipped", (int64_t)r->skipped);
		kc_jgen_key(g, "pods");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < n; i++) {
			const struct kc_patch_replica *p = &r->replicas[i];
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "name", p->name);
			kc_jgen_kv_str(g, "outcome", p->outcome);
			kc_jgen_kv_str(g, "error", p->error);
			kc_jgen_kv_str(g, "applied", p->applied);
			kc_jgen_kv_int(g, "exitCode", p->exit_code);
			kc_jgen_kv_str(g, "stdout", p->out);
			kc_jgen_kv_str(g, "stderr", p->err);
			kc_jgen_kv_int(g, "durationMs", p->duration_ms);
			kc_jgen_kv_bool(g, "journaled", p->journaled);
			kc_jgen_kv_bool(g, "annotated", p->annotated);
			if (o->op == KC_PATCH_TO_IMAGE) {
				kc_jgen_kv_int(g, "added", (int64_t)p->added);
				kc_jgen_kv_int(g, "changed", (int64_t)p->changed);
				kc_jgen_kv_int(g, "deleted", (int64_t)p->deleted);
			}
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		kc_jgen_kv_int(g, "totalMs", r->phases.total_ms);
		yajl_gen_map_close(g);
		kc_cli_print_json(g);
		return;
	}
	struct kc_table *t = kc_table_new(4);
	kc_table_add(t, "POD", "OUTCOME", "DURATION", "APPLIED");
	for (size_t i = 0; i < n; i++) {
		const struct kc_patch_replica *p = &r->replicas[i];
		char dur[32];
		snprintf(dur, sizeof dur, "%lldms", (long long)p->duration_ms);
		kc_table_add(t, p->name, p->outcome, dur, p->error ? p->error : p->applied);
	}
	kc_table_print(t, stdout);
	kc_table_free(t);
	printf("patch %s of deployment/%s: %s (%zu ok, %zu failed, %zu skipped) in %.1fs\n",
	       r->patch_id, r->app,
	       ok == n ? "done"
	       : ok    ? "PARTIAL"
		       : "FAILED",
	       ok, r->failed, r->skipped, (double)r->phases.total_ms / 1000.0);
}

static int run_kube_patch(struct kc_cli *cli, struct patch_cli *p, const char *target,
			  kc_err_t *err)
{
	struct kc_patch_opts *o = &p->o;
	if (o->restart)
		return kc_cli_usage_error(&kc_cmd_patch, err,
					  "--restart is refused on Kubernetes: the kubelet would "
					  "start a fresh container from the image and lose the "
					  "edit; use --signal SIG");
	if (!kc_cli_is_kube_target(target))
		return kc_cli_usage_error(&kc_cmd_patch, err,
					  "\"%s\": on Kubernetes give deployment/NAME", target);
	const char *name = kc_cli_kube_name(target);
	if (!kc_journal_app_valid(name))
		return kc_cli_usage_error(&kc_cmd_patch, err, "\"%s\" is not a deployment name",
					  name);
	if (o->op == KC_PATCH_COPY && o->path[0] != '/')
		return kc_cli_usage_error(&kc_cmd_patch, err,
					  "--copy: PATH must be absolute, got \"%s\"", o->path);
	cleanup_kube struct kc_kube *k = NULL;
	if (kc_cli_open_kube(cli, &p->kube, &k, err) < 0)
		return -1;
	o->app = name;
	o->log = &cli->log;
	if (cli->output == KC_OUTPUT_TEXT)
		o->on_event = kc_cli_print_progress;
	struct kc_patch_result res;
	int rc = kc_patch_kube_run(k, o, &res, err);
	if (res.n)
		print_kube_result(cli, o, kc_kube_namespace(k), &res);
	kc_patch_result_free(&res);
	return rc < 0 ? -1 : KC_EXIT_OK;
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
    .usage =
	"Usage: kctl patch APP (--copy LOCAL:PATH | --exec CMD | --to-image REF)\n"
	"                  [--restart | --signal SIG|none] [--parallel N] [--continue-on-error]\n"
	"       kctl patch deployment/NAME (--copy LOCAL:PATH | --exec CMD | --to-image REF)\n"
	"                  --engine kube [--context C] [--kubeconfig F] [-n NS]\n"
	"                  [--signal SIG|none] [--parallel N] [--continue-on-error]\n"
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
	"      --signal SIG          send SIG (e.g. SIGHUP) to the app instead; none:\n"
	"                            neither restart nor signal\n"
	"      --parallel N          replicas edited at once (default 1)\n"
	"      --continue-on-error   go on after a replica fails (default: "
	"stop)\n"
	"\nKubernetes (--engine kube, implied by --context or --kubeconfig; or\n"
	"KCTL_ENGINE=kube): every pod of the Deployment is edited over the exec API\n"
	"(--copy: one regular file, as a tar stream into `tar -x`, like kubectl cp;\n"
	"--to-image: the difference between the image each pod runs, its imageID, and\n"
	"REF, from registry file indexes: `rm -rf` of deleted paths, then one tar of\n"
	"the added and changed files into `tar -x -C /`). Pods are never restarted: the\n"
	"kubelet would start a fresh container from the image and lose the edit, so\n"
	"--restart is refused; --signal SIG runs `kill -SIG 1` in each pod instead, and\n"
	"--to-image sends SIGHUP by default (the demo app re-reads its files on it;\n"
	"--signal none sends nothing). Each pod's step is journaled under the\n"
	"deployment's name and recorded as the pod annotation " KC_PATCH_KUBE_ANNOTATION "\n"
	"(JSON: patchId, op, digest, outcome, time; --to-image: the digest is\n"
	"REF's).\n" KC_CLI_KUBE_HELP KC_CLI_COMMON_HELP,
    .run = run_patch,
};
