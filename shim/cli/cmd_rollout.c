/* kctl rollout: immutable deploys, and their status, history and undo. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "shim/base/cleanup.h"
#include "shim/base/duration.h"
#include "shim/base/json.h"
#include "shim/base/yaml.h"
#include "shim/engine/engine.h"
#include "shim/engine/kube.h"
#include "shim/rollout/kube_rollout.h"
#include "shim/rollout/rollout.h"

struct rollout_opts {
	const char *file;
	const char *image;
	int64_t timeout_ms;
	bool dry_run;
	int to_revision;
	bool mutable_mode;
	/* Kubernetes backend (deployment/NAME) */
	struct kc_cli_kube kube;
	const char *container;
};

static int rollout_opt(void *opaque, int opt, const char *arg, kc_err_t *err)
{
	struct rollout_opts *o = opaque;
	char *end;
	if (kc_cli_kube_opt(&o->kube, opt, arg))
		return 0;
	switch (opt) {
	case 'f':
		o->file = arg;
		return 0;
	case 'i':
		o->image = arg;
		return 0;
	case 't':
		if (kc_duration_parse(arg, &o->timeout_ms, err) < 0)
			return kc_err_wrap(err, "--timeout");
		return 0;
	case 'd':
		o->dry_run = true;
		return 0;
	case 'c':
		o->container = arg;
		return 0;
	case 'm':
		if (!strcmp(arg, "mutable"))
			o->mutable_mode = true;
		else if (strcmp(arg, "immutable") != 0)
			return kc_cli_usage_error(&kc_cmd_rollout, err,
						  "--mode: \"%s\" is not immutable or mutable",
						  arg);
		return 0;
	case 'r':
		errno = 0;
		long v = strtol(arg, &end, 10);
		if (errno || *end || v < 1 || v > 1000000)
			return kc_cli_usage_error(&kc_cmd_rollout, err,
						  "--to-revision: \"%s\" is not a revision number",
						  arg);
		o->to_revision = (int)v;
		return 0;
	}
	return kc_cli_usage_error(&kc_cmd_rollout, err, "unexpected option");
}

static void print_result(const struct kc_cli *cli, const struct kc_rollout_result *r, bool dry_run)
{
	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_jgen yajl_gen g = kc_jgen_new(true);
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "app", r->app);
		kc_jgen_kv_bool(g, "dryRun", dry_run);
		kc_jgen_kv_bool(g, "changed", r->changed);
		kc_jgen_kv_bool(g, "undone", r->undone);
		kc_jgen_kv_str(g, "reason", r->reason);
		kc_jgen_kv_int(g, "revision", r->revision);
		kc_jgen_kv_int(g, "previousRevision", r->previous_revision);
		kc_jgen_kv_str(g, "image", r->image);
		kc_jgen_kv_str(g, "digest", r->digest);
		kc_jgen_kv_str(g, "plan", r->plan);
		kc_jgen_kv_strv(g, "created", r->created);
		kc_jgen_kv_strv(g, "started", r->started);
		kc_jgen_kv_strv(g, "stopped", r->stopped);
		kc_jgen_kv_strv(g, "removed", r->removed);
		kc_jgen_key(g, "phasesMs");
		yajl_gen_map_open(g);
		kc_jgen_kv_ms(g, "resolve", r->phases.resolve_ms);
		kc_jgen_kv_ms(g, "pull", r->phases.pull_ms);
		kc_jgen_kv_ms(g, "create", r->phases.create_ms);
		kc_jgen_kv_ms(g, "ready", r->phases.ready_ms);
		kc_jgen_kv_ms(g, "stopOld", r->phases.stop_old_ms);
		kc_jgen_kv_ms(g, "total", r->phases.total_ms);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		kc_cli_print_json(g);
		return;
	}
	if (dry_run) {
		printf("%s(dry run: nothing was changed)\n", r->plan ? r->plan : "");
	} else if (!r->changed) {
		printf("%s: unchanged, revision %d already runs %s\n", r->app, r->revision,
		       r->image ? r->image : "-");
	} else if (!r->undone) {
		printf("%s: rolled out revision %d (%s) in %.1fs\n", r->app, r->revision,
		       r->digest ? r->digest : "-", (double)r->phases.total_ms / 1000.0);
	}
}

static int do_apply(struct kc_cli *cli, struct rollout_opts *o, kc_err_t *err)
{
	if (!o->file)
		return kc_cli_usage_error(&kc_cmd_rollout, err, "-f MANIFEST is required");
	/* The manifest parses before the engine is even asked. */
	cleanup_deploy_spec struct kc_deploy_spec *m = NULL;
	if (kc_deploy_spec_load(o->file, &m, err) < 0)
		return -1;
	cleanup_engine struct kc_engine *eng = NULL;
	if (kc_cli_open_engine(cli, &eng, err) < 0)
		return -1;
	bool progress = cli->stdout_tty && cli->output == KC_OUTPUT_TEXT && !o->dry_run;
	struct kc_rollout_opts ro = {.image = o->image,
				     .timeout_ms = o->timeout_ms,
				     .dry_run = o->dry_run,
				     .mutable_mode = o->mutable_mode,
				     .log = &cli->log,
				     .on_event = progress ? kc_cli_print_progress : NULL};
	struct kc_rollout_result res;
	int rc = kc_rollout_apply(eng, m, &ro, &res, err);
	if (rc == 0 || res.undone)
		print_result(cli, &res, o->dry_run);
	kc_rollout_result_free(&res);
	return rc < 0 ? -1 : KC_EXIT_OK;
}

static int do_undo(struct kc_cli *cli, const char *app, struct rollout_opts *o, kc_err_t *err)
{
	cleanup_engine struct kc_engine *eng = NULL;
	if (kc_cli_open_engine(cli, &eng, err) < 0)
		return -1;
	bool progress = cli->stdout_tty && cli->output == KC_OUTPUT_TEXT;
	struct kc_rollout_opts ro = {.timeout_ms = o->timeout_ms,
				     .dry_run = o->dry_run,
				     .log = &cli->log,
				     .on_event = progress ? kc_cli_print_progress : NULL};
	struct kc_rollout_result res;
	int rc = kc_rollout_undo(eng, app, o->to_revision, &ro, &res, err);
	if (rc == 0 || res.undone)
		print_result(cli, &res, o->dry_run);
	kc_rollout_result_free(&res);
	return rc < 0 ? kc_err_wrap(err, "undo %s", app) : KC_EXIT_OK;
}

static void format_time(int64_t ns, char *buf, size_t cap)
{
	time_t s = (time_t)(ns / 1000000000LL);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int do_history(struct kc_cli *cli, const char *app, kc_err_t *err)
{
	cleanup_engine struct kc_engine *eng = NULL;
	if (kc_cli_open_engine(cli, &eng, err) < 0)
		return -1;
	struct kc_revision_info *revs = NULL;
	size_t n = 0;
	if (kc_rollout_history(eng, app, &revs, &n, err) < 0)
		return -1;
	if (n == 0) {
		kc_revision_list_free(revs, n);
		return kc_err_new(err, KC_E_NOTFOUND, "no app %s", app);
	}
	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_jgen yajl_gen g = kc_jgen_new(true);
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "app", app);
		kc_jgen_key(g, "revisions");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < n; i++) {
			char when[32];
			format_time(revs[i].created_ns, when, sizeof when);
			yajl_gen_map_open(g);
			kc_jgen_kv_int(g, "revision", revs[i].revision);
			kc_jgen_kv_str(g, "digest", revs[i].digest);
			kc_jgen_kv_str(g, "image", revs[i].image);
			kc_jgen_kv_str(g, "changeCause", revs[i].change_cause);
			kc_jgen_kv_str(g, "created", when);
			kc_jgen_kv_int(g, "containers", (int64_t)revs[i].containers);
			kc_jgen_kv_int(g, "running", (int64_t)revs[i].running);
			kc_jgen_kv_bool(g, "active", revs[i].active);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		kc_cli_print_json(g);
	} else {
		struct kc_table *t = kc_table_new(5);
		kc_table_add(t, "REVISION", "DIGEST", "CREATED", "STATE", "CHANGE-CAUSE");
		for (size_t i = 0; i < n; i++) {
			char rev[16], when[32], state[32];
			snprintf(rev, sizeof rev, "%d%s", revs[i].revision,
				 revs[i].active ? "*" : "");
			format_time(revs[i].created_ns, when, sizeof when);
			snprintf(state, sizeof state, "%zu/%zu running", revs[i].running,
				 revs[i].containers);
			kc_table_add(t, rev, revs[i].digest, when, state, revs[i].change_cause);
		}
		kc_table_print(t, stdout);
		kc_table_free(t);
	}
	kc_revision_list_free(revs, n);
	return KC_EXIT_OK;
}

static int do_status(struct kc_cli *cli, const char *app, kc_err_t *err)
{
	cleanup_engine struct kc_engine *eng = NULL;
	if (kc_cli_open_engine(cli, &eng, err) < 0)
		return -1;
	struct kc_app_status st;
	if (kc_rollout_status(eng, app, &cli->log, &st, err) < 0) {
		kc_app_status_free(&st);
		return -1;
	}
	bool complete = st.active_revision && !st.rolling && st.ready == (size_t)st.desired &&
			st.running == (size_t)st.desired;
	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_jgen yajl_gen g = kc_jgen_new(true);
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "app", app);
		kc_jgen_kv_int(g, "revision", st.active_revision);
		kc_jgen_kv_str(g, "digest", st.digest);
		kc_jgen_kv_int(g, "desired", st.desired);
		kc_jgen_kv_int(g, "running", (int64_t)st.running);
		kc_jgen_kv_int(g, "ready", (int64_t)st.ready);
		kc_jgen_kv_bool(g, "rolling", st.rolling);
		kc_jgen_kv_bool(g, "complete", complete);
		yajl_gen_map_close(g);
		kc_cli_print_json(g);
	} else if (!st.active_revision) {
		printf("%s: no revision is running\n", app);
	} else {
		printf("%s: revision %d (%s): %zu of %d replicas ready%s\n", app,
		       st.active_revision, st.digest ? st.digest : "-", st.ready, st.desired,
		       st.rolling ? ", another revision still running" : "");
	}
	kc_app_status_free(&st);
	/* Like kubectl rollout status: non-zero until the rollout is complete. */
	return complete ? KC_EXIT_OK : KC_EXIT_ERROR;
}

static void print_kube_result(const struct kc_cli *cli, const struct kc_kube_rollout_result *r)
{
	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_jgen yajl_gen g = kc_jgen_new(true);
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "deployment", r->name);
		kc_jgen_kv_str(g, "namespace", r->namespace);
		kc_jgen_kv_bool(g, "changed", r->changed);
		kc_jgen_kv_bool(g, "created", r->created);
		kc_jgen_kv_bool(g, "undone", r->undone);
		kc_jgen_kv_str(g, "reason", r->reason);
		kc_jgen_kv_int(g, "revision", r->revision);
		kc_jgen_kv_int(g, "previousRevision", r->previous_revision);
		kc_jgen_kv_int(g, "restoredRevision", r->restored_revision);
		kc_jgen_kv_str(g, "image", r->image);
		kc_jgen_kv_str(g, "digest", r->digest);
		kc_jgen_kv_bool(g, "dryRun", r->dry_run);
		kc_jgen_key(g, "images");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < r->nimages; i++) {
			const struct kc_kube_image_change *c = &r->images[i];
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "container", c->container);
			kc_jgen_kv_str(g, "from", c->from);
			kc_jgen_kv_str(g, "to", c->to);
			kc_jgen_kv_bool(g, "changed", !c->from || strcmp(c->from, c->to));
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		kc_cli_print_json(g);
		return;
	}
	if (r->dry_run) {
		/* The server's answer to the same requests with dryRun=All. */
		printf("deployment.apps/%s %s (dry run)\n", r->name,
		       r->created   ? "created"
		       : r->changed ? "configured"
				    : "unchanged");
		for (size_t i = 0; i < r->nimages; i++) {
			const struct kc_kube_image_change *c = &r->images[i];
			if (!c->from)
				printf("  container %s: image %s (new)\n", c->container, c->to);
			else if (strcmp(c->from, c->to))
				printf("  container %s: image %s -> %s\n", c->container, c->from,
				       c->to);
		}
		printf("(dry run: nothing was changed)\n");
	} else if (!r->changed)
		printf("deployment.apps/%s unchanged (revision %lld runs %s)\n", r->name,
		       (long long)r->revision, r->image ? r->image : "-");
	else if (!r->undone)
		printf("deployment.apps/%s rolled out: revision %lld%s%s\n", r->name,
		       (long long)r->revision, r->image ? ", " : "", r->image ? r->image : "");
	else
		printf("deployment.apps/%s rollout failed (%s); revision %lld restored as "
		       "revision %lld\n",
		       r->name, r->reason ? r->reason : "-", (long long)r->restored_revision,
		       (long long)r->revision);
}

static int kube_history(struct kc_cli *cli, struct kc_kube *k, const char *name, kc_err_t *err)
{
	struct kc_kube_revision *revs = NULL;
	size_t n = 0;
	if (kc_kube_rollout_history(k, name, &revs, &n, err) < 0)
		return -1;
	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_jgen yajl_gen g = kc_jgen_new(true);
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "deployment", name);
		kc_jgen_kv_str(g, "namespace", kc_kube_namespace(k));
		kc_jgen_key(g, "revisions");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < n; i++) {
			yajl_gen_map_open(g);
			kc_jgen_kv_int(g, "revision", revs[i].revision);
			kc_jgen_kv_str(g, "replicaSet", revs[i].rs_name);
			kc_jgen_kv_str(g, "image", revs[i].images);
			kc_jgen_kv_str(g, "changeCause", revs[i].change_cause);
			kc_jgen_kv_int(g, "replicas", revs[i].replicas);
			kc_jgen_kv_int(g, "ready", revs[i].ready);
			kc_jgen_kv_bool(g, "active", revs[i].active);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		kc_cli_print_json(g);
	} else {
		printf("deployment.apps/%s\n", name);
		struct kc_table *t = kc_table_new(4);
		kc_table_add(t, "REVISION", "IMAGE", "REPLICAS", "CHANGE-CAUSE");
		for (size_t i = 0; i < n; i++) {
			char rev[32], reps[48];
			snprintf(rev, sizeof rev, "%lld%s", (long long)revs[i].revision,
				 revs[i].active ? "*" : "");
			snprintf(reps, sizeof reps, "%lld/%lld ready", (long long)revs[i].ready,
				 (long long)revs[i].replicas);
			kc_table_add(t, rev, revs[i].images, reps,
				     revs[i].change_cause ? revs[i].change_cause : "<none>");
		}
		kc_table_print(t, stdout);
		kc_table_free(t);
	}
	kc_kube_revisions_free(revs, n);
	return KC_EXIT_OK;
}

static void print_kube_event(void *opaque, const char *message)
{
	(void)opaque;
	fprintf(stderr, "%s\n", message);
}

/* The Deployment's name from a manifest when no deployment/NAME was given. */
static int manifest_name(const char *file, char **name, kc_err_t *err)
{
	cleanup_yaml struct kc_yaml *y = NULL;
	if (kc_yaml_load_file(file, &y, err) < 0)
		return -1;
	yajl_val n = y->ndocs ? kc_json_find(y->docs[0].root, "/metadata/name") : NULL;
	if (!YAJL_IS_STRING(n))
		return kc_err_new(err, KC_E_INVALID, "%s: no metadata.name", file);
	*name = strdup(n->u.string);
	return *name ? 0 : kc_err_sys(err, ENOMEM, "manifest");
}

static int run_kube(struct kc_cli *cli, const char *verb, int rest, char **args,
		    struct rollout_opts *o, kc_err_t *err)
{
	if (o->dry_run && verb)
		return kc_cli_usage_error(&kc_cmd_rollout, err,
					  "--dry-run with --engine kube is for --image and -f");
	if (o->mutable_mode)
		return kc_cli_usage_error(&kc_cmd_rollout, err,
					  "--mode is not supported with --engine kube");
	if (verb && strcmp(verb, "status") && strcmp(verb, "history") && strcmp(verb, "undo"))
		return kc_cli_usage_error(&kc_cmd_rollout, err, "unknown rollout command \"%s\"",
					  verb);
	if (rest > 1)
		return kc_cli_usage_error(&kc_cmd_rollout, err, "unexpected argument \"%s\"",
					  args[1]);
	cleanup_free char *mname = NULL;
	const char *name = rest == 1 ? kc_cli_kube_name(args[0]) : NULL;
	if (rest == 1 && strchr(args[0], '/') && !kc_cli_is_kube_target(args[0]))
		return kc_cli_usage_error(&kc_cmd_rollout, err,
					  "\"%s\": only deployment/NAME is supported", args[0]);
	if (!name && !verb && o->file) {
		if (manifest_name(o->file, &mname, err) < 0)
			return -1;
		name = mname;
	}
	if (!name || !*name)
		return kc_cli_usage_error(&kc_cmd_rollout, err, "deployment/NAME is required");
	cleanup_kube struct kc_kube *k = NULL;
	if (kc_cli_open_kube(cli, &o->kube, &k, err) < 0)
		return -1;
	struct kc_kube_rollout_opts ro = {
	    .image = o->image,
	    .container = o->container,
	    .manifest = o->file,
	    .timeout_ms = o->timeout_ms,
	    .to_revision = o->to_revision,
	    .dry_run = o->dry_run,
	    .log = &cli->log,
	    .on_event = cli->output == KC_OUTPUT_TEXT ? print_kube_event : NULL};
	if (verb && !strcmp(verb, "history"))
		return kube_history(cli, k, name, err);
	if (verb && !strcmp(verb, "status")) {
		if (kc_kube_rollout_wait(k, kc_kube_namespace(k), name, o->timeout_ms, &ro, err) <
		    0)
			return -1;
		if (cli->output == KC_OUTPUT_JSON) {
			cleanup_jgen yajl_gen g = kc_jgen_new(true);
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "deployment", name);
			kc_jgen_kv_bool(g, "complete", true);
			yajl_gen_map_close(g);
			kc_cli_print_json(g);
		}
		return KC_EXIT_OK;
	}
	struct kc_kube_rollout_result res;
	int rc;
	if (verb && !strcmp(verb, "undo"))
		rc = kc_kube_rollout_undo(k, name, &ro, &res, err);
	else
		rc = kc_kube_rollout(k, name, &ro, &res, err);
	if (rc == 0 || res.undone)
		print_kube_result(cli, &res);
	kc_kube_rollout_result_free(&res);
	return rc < 0 ? -1 : KC_EXIT_OK;
}

static int run_rollout(struct kc_cli *cli, int argc, char **argv, kc_err_t *err)
{
	struct rollout_opts o = {0};
	static const struct option longopts[] = {{"filename", required_argument, NULL, 'f'},
						 {"image", required_argument, NULL, 'i'},
						 {"timeout", required_argument, NULL, 't'},
						 {"dry-run", no_argument, NULL, 'd'},
						 KC_CLI_KUBE_LONG,
						 {"container", required_argument, NULL, 'c'},
						 {"to-revision", required_argument, NULL, 'r'},
						 {"mode", required_argument, NULL, 'm'},
						 {0}};
	const char *verb = NULL;
	if (argc > 1 && argv[1][0] != '-' && !kc_cli_is_kube_target(argv[1])) {
		verb = argv[1];
		argc--;
		argv++;
	}
	int p = kc_cli_parse(cli, &kc_cmd_rollout, argc, argv, "f:i:t:n:c:", longopts, rollout_opt,
			     &o, err);
	if (p != 0)
		return p < 0 ? -1 : KC_EXIT_OK;
	int rest = argc - optind;
	/* Options may come before the verb too ("kctl rollout --context c status ..."). */
	if (!verb && rest >= 1 &&
	    (!strcmp(argv[optind], "status") || !strcmp(argv[optind], "history") ||
	     !strcmp(argv[optind], "undo"))) {
		verb = argv[optind++];
		rest--;
	}
	bool kube;
	if (kc_cli_kube_wanted(&kc_cmd_rollout, &o.kube, &kube, err) < 0)
		return -1;
	if (!kube && (o.kube.context || o.kube.kubeconfig || o.kube.namespace || o.container))
		return kc_cli_usage_error(&kc_cmd_rollout, err,
					  "--context, --kubeconfig, -n and --container need "
					  "--engine kube");
	if (kube)
		return run_kube(cli, verb, rest, argv + optind, &o, err);
	if (!verb) {
		if (rest)
			return kc_cli_usage_error(&kc_cmd_rollout, err,
						  "unexpected argument \"%s\"", argv[optind]);
		return do_apply(cli, &o, err);
	}
	if (strcmp(verb, "status") && strcmp(verb, "history") && strcmp(verb, "undo"))
		return kc_cli_usage_error(&kc_cmd_rollout, err, "unknown rollout command \"%s\"",
					  verb);
	if (rest != 1)
		return kc_cli_usage_error(&kc_cmd_rollout, err, "rollout %s needs exactly one APP",
					  verb);
	const char *app = argv[optind];
	if (!strcmp(verb, "status"))
		return do_status(cli, app, err);
	if (!strcmp(verb, "history"))
		return do_history(cli, app, err);
	return do_undo(cli, app, &o, err);
}

const struct kc_cmd kc_cmd_rollout = {
    .name = "rollout",
    .summary = "deploy a new image immutably; status, history, undo",
    .usage =
	"Usage: kctl rollout -f MANIFEST [--image REF] [--timeout D] [--dry-run]\n"
	"       kctl rollout status APP\n"
	"       kctl rollout history APP\n"
	"       kctl rollout undo APP [--to-revision N]\n"
	"       kctl rollout deployment/NAME --image REF|-f MANIFEST [--dry-run] --engine kube\n"
	"       kctl rollout status|history|undo deployment/NAME --engine kube\n\n"
	"Creates or updates the app described by an apps/v1 Deployment manifest (YAML or\n"
	"JSON): the image is resolved to a digest through its registry first, then new\n"
	"containers of it replace the old ones by the manifest's strategy (RollingUpdate,\n"
	"Recreate, or blue-green with the annotation io.kctl.strategy: blue-green). A\n"
	"new replica counts once its readiness probe passes; a rollout that misses its\n"
	"deadline (progressDeadlineSeconds or --timeout), or whose replicas fail their\n"
	"probe failureThreshold times, is undone and exits 1. Old revisions are kept\n"
	"stopped (revisionHistoryLimit) so undo starts them again.\n\n"
	"status exits 0 only when the active revision has every replica ready.\n\n"
	"Options:\n"
	"  -f, --filename FILE   the Deployment manifest\n"
	"  -i, --image REF       deploy this image instead of the manifest's\n"
	"  -t, --timeout D       progress deadline, as 30s, 2m\n"
	"      --dry-run         print the plan; change nothing\n"
	"      --to-revision N   undo to revision N (default: the previous one)\n"
	"      --mode MODE       immutable (default: read-only root filesystem) or\n"
	"                        mutable (writable root, for kctl patch to edit in place)\n"
	"\nKubernetes (--engine kube, implied by --context or --kubeconfig; or\n"
	"KCTL_ENGINE=kube): the image is pinned by digest where its registry answers and\n"
	"set with a strategic-merge PATCH (change-cause annotated); the Deployment is\n"
	"watched until complete by kubectl's rule, and undone to the previous\n"
	"ReplicaSet's template when it exceeds progressDeadlineSeconds or --timeout.\n"
	"-f MANIFEST is applied as `kubectl apply` does (client-side): created when\n"
	"absent, else a three-way merge patch of the kubectl.kubernetes.io/last-applied-\n"
	"configuration annotation, the manifest and the live object (fields dropped from\n"
	"the manifest are deleted, fields others set, such as a scaled replicas count,\n"
	"are kept). --dry-run sends the same requests with dryRun=All and prints what\n"
	"would change. status waits for completion like kubectl rollout status.\n" KC_CLI_KUBE_HELP
	"  -c, --container C     container to set the image of (default: the "
	"first)\n" KC_CLI_COMMON_HELP,
    .run = run_rollout,
};
