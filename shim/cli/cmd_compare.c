/* kctl compare: both approaches on the same version sequence, measured, and
 * (--teach) narrated for a classroom. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "compare/compare.h"
#include "compare/compare_kube.h"
#include "shim/base/json.h"
#include "shim/engine/engine.h"
#include "shim/engine/kube.h"

#define MAX_VERSIONS 16

struct compare_opts {
	const char *file, *out, *fault;
	char *versions[MAX_VERSIONS];
	size_t n_versions;
	char *versions_buf;
	int replicas;
	double rate;
	bool teach;
	const char *probe_url;	 /* Kubernetes: what the steady probe asks */
	struct kc_cli_kube kube; /* --engine kube, --context, --kubeconfig, -n */
};

static int compare_opt(void *opaque, int opt, const char *arg, kc_err_t *err)
{
	struct compare_opts *o = opaque;
	char *end;
	switch (opt) {
	case 'f':
		o->file = arg;
		return 0;
	case 'V':
		free(o->versions_buf);
		o->versions_buf = strdup(arg);
		o->n_versions = 0;
		if (!o->versions_buf)
			return kc_err_sys(err, ENOMEM, "--versions");
		for (char *save = NULL, *t = strtok_r(o->versions_buf, ",", &save); t;
		     t = strtok_r(NULL, ",", &save)) {
			if (o->n_versions == MAX_VERSIONS)
				return kc_cli_usage_error(&kc_cmd_compare, err,
							  "--versions: at most %d", MAX_VERSIONS);
			o->versions[o->n_versions++] = t;
		}
		return 0;
	case 'R':
		errno = 0;
		long n = strtol(arg, &end, 10);
		if (errno || *end || n < 1 || n > 64)
			return kc_cli_usage_error(&kc_cmd_compare, err,
						  "--replicas: \"%s\" is not in 1..64", arg);
		o->replicas = (int)n;
		return 0;
	case 'r':
		errno = 0;
		o->rate = strtod(arg, &end);
		if (errno || *end || o->rate <= 0 || o->rate > 2000)
			return kc_cli_usage_error(&kc_cmd_compare, err,
						  "--rate: \"%s\" is not in (0, 2000]", arg);
		return 0;
	case 'd':
		o->out = arg;
		return 0;
	case 'F':
		o->fault = arg;
		return 0;
	case 'T':
		o->teach = true;
		return 0;
	case 'P':
		if (strncmp(arg, "http://", 7) != 0 && strncmp(arg, "https://", 8) != 0)
			return kc_cli_usage_error(&kc_cmd_compare, err,
						  "--probe-url: \"%s\" is not an http(s) URL", arg);
		o->probe_url = arg;
		return 0;
	}
	if (kc_cli_kube_opt(&o->kube, opt, arg))
		return 0;
	return kc_cli_usage_error(&kc_cmd_compare, err, "unexpected option");
}

struct narrator {
	const struct kc_cli *cli;
	bool teach, pause, show;
	const char *fault;
};

static void wait_enter(const struct narrator *n)
{
	if (!n->pause)
		return;
	printf("\n   [press Enter to go on]");
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof line, stdin))
		return;
}

static void teach(const char *text)
{
	printf("\n%s\n", text);
	fflush(stdout);
}

static double fig(struct kc_fig f)
{
	return f.measured ? f.v : -1;
}

static void on_message(void *opaque, const char *message)
{
	const struct narrator *n = opaque;
	if (n->show)
		kc_cli_print_progress(NULL, message);
}

static void on_event(void *opaque, const struct kc_compare_event *ev)
{
	const struct narrator *n = opaque;
	if (!n->teach)
		return;
	switch (ev->moment) {
	case KC_COMPARE_WALK_BEGIN:
		if (ev->approach == KC_IMMUTABLE)
			teach(
			    "IMMUTABLE. Every version is its own image, pinned by its digest.\n"
			    "kctl starts new containers from the new image, waits until each one\n"
			    "answers its readiness probe, and only then stops an old one. Nothing\n"
			    "running is ever edited: a container is replaced, not changed.");
		else
			teach(
			    "MUTABLE. Same versions, same start, other method: kctl execs into "
			    "the\n"
			    "running containers and rewrites their files in place, the way "
			    "Ansible\n"
			    "edits a server, then restarts the app. The containers keep the image\n"
			    "they were created from.");
		wait_enter(n);
		break;
	case KC_COMPARE_STEP_BEGIN:
		printf("\n-> %s: %s to %s. A probe sends steady requests to the app meanwhile;\n"
		       "   every one that fails is downtime a user would see.\n",
		       kc_approach_name(ev->approach), ev->from, ev->to);
		fflush(stdout);
		break;
	case KC_COMPARE_STEP_END: {
		const struct kc_report_result *r = ev->result;
		double files = fig(kc_result_drift_files(r));
		printf(
		    "   done in %.1fs: %.0f of %.0f probe requests failed; %s drift: %.0f files in "
		    "%.0f state(s).\n",
		    fig(r->wall_ms) / 1000.0, fig(r->probe.failures), fig(r->probe.requests),
		    kc_approach_name(ev->approach), files, fig(r->drift.distinct_states));
		if (ev->approach == KC_IMMUTABLE)
			teach("   Look: no drift. Each container is exactly its image, so what "
			      "runs is\n"
			      "   what was tested, and undo is starting the old containers again.");
		else
			teach(
			    "   Look at the drift: each container still claims its old image, but "
			    "its\n"
			    "   files say otherwise. Nothing but kctl's journal remembers what "
			    "was\n"
			    "   done. Replicas whose edits went differently are now in different\n"
			    "   states: the same app, no longer the same thing.");
		if (ev->approach == KC_MUTABLE && n->fault && r->outcome &&
		    strcmp(r->outcome, "ok") != 0)
			teach(
			    "   On one replica someone had removed the rm tool by hand. The patch\n"
			    "   needs it to delete files, so it failed there and the step is only\n"
			    "   partly applied. The immutable side cannot end up like this: a\n"
			    "   replica is either the new image or not, whatever was done to it.");
		wait_enter(n);
		break;
	}
	case KC_COMPARE_WALK_END:
		break;
	}
}

static int run_compare(struct kc_cli *cli, int argc, char **argv, kc_err_t *err)
{
	struct compare_opts o = {.out = "kctl-compare"};
	static const struct option longopts[] = {{"filename", required_argument, NULL, 'f'},
						 {"versions", required_argument, NULL, 'V'},
						 {"replicas", required_argument, NULL, 'R'},
						 {"rate", required_argument, NULL, 'r'},
						 {"out", required_argument, NULL, 'd'},
						 {"fault", required_argument, NULL, 'F'},
						 {"teach", no_argument, NULL, 'T'},
						 {"probe-url", required_argument, NULL, 'P'},
						 KC_CLI_KUBE_LONG,
						 {0}};
	int p =
	    kc_cli_parse(cli, &kc_cmd_compare, argc, argv, "f:n:", longopts, compare_opt, &o, err);
	bool kube = false;
	int rc = 0;
	if (p != 0) {
		rc = p < 0 ? -1 : KC_EXIT_OK;
	} else if (optind < argc) {
		rc = kc_cli_usage_error(&kc_cmd_compare, err, "unexpected argument \"%s\"",
					argv[optind]);
	} else if (!o.file || o.n_versions < 2) {
		rc = kc_cli_usage_error(&kc_cmd_compare, err,
					"-f MANIFEST and --versions REF1,REF2[,...] are required");
	} else if (kc_cli_kube_wanted(&kc_cmd_compare, &o.kube, &kube, err) < 0) {
		rc = -1;
	} else if (!kube && (o.kube.namespace || o.probe_url)) {
		rc = kc_cli_usage_error(&kc_cmd_compare, err, "%s needs --engine kube",
					o.probe_url ? "--probe-url" : "-n");
	}
	struct kc_engine *eng = NULL;
	struct kc_kube *kk = NULL;
	if (p == 0 && rc == 0 && !kube && kc_cli_open_engine(cli, &eng, err) < 0)
		rc = -1;
	if (p == 0 && rc == 0 && kube && kc_cli_open_kube(cli, &o.kube, &kk, err) < 0)
		rc = -1;
	struct kc_report *rep = NULL;
	if (p == 0 && rc == 0) {
		bool text = cli->output == KC_OUTPUT_TEXT;
		struct narrator n = {.cli = cli,
				     .teach = o.teach && text,
				     .pause =
					 o.teach && text && isatty(STDIN_FILENO) && cli->stdout_tty,
				     .show = text && (cli->stdout_tty || o.teach),
				     .fault = o.fault};
		struct kc_compare_opts co = {.manifest = o.file,
					     .versions = o.versions,
					     .n_versions = o.n_versions,
					     .replicas = o.replicas,
					     .rate = o.rate,
					     .fault = o.fault,
					     .docker_host = cli->docker_host,
					     .log = &cli->log,
					     .on_event = on_event,
					     .on_message = on_message,
					     .event_opaque = &n};
		struct kc_compare_kube_opts ko = {.base = &co,
						  .kubeconfig = {.kubeconfig = o.kube.kubeconfig,
								 .context = o.kube.context,
								 .namespace = o.kube.namespace,
								 .log = &cli->log},
						  .probe_url = o.probe_url};
		int crc = kube ? kc_compare_kube_run(kk, &ko, &rep, err)
			       : kc_compare_run(eng, &co, &rep, err);
		if (crc < 0 || kc_report_save(rep, o.out, err) < 0) {
			rc = -1;
		} else if (cli->output == KC_OUTPUT_JSON) {
			char *json = NULL;
			size_t len = 0;
			if (kc_report_to_json(rep, true, &json, &len, err) < 0)
				rc = -1;
			else
				printf("%s\n", json);
			free(json);
		} else {
			printf("\n");
			if (kc_report_write_text(rep, stdout, err) < 0)
				rc = -1;
			else
				printf("\nreport: %s/report.html (and report.json)\n", o.out);
		}
	}
	kc_report_free(rep);
	if (eng)
		kc_engine_free(eng);
	kc_kube_free(kk);
	free(o.versions_buf);
	return rc;
}

const struct kc_cmd kc_cmd_compare = {
    .name = "compare",
    .summary = "deploy a version sequence both ways and measure the difference",
    .usage = "Usage: kctl compare -f MANIFEST --versions REF1,REF2[,...] [OPTIONS]\n"
	     "       kctl compare -f MANIFEST --versions REF1,REF2[,...] --engine kube\n"
	     "                    [--context C] [--kubeconfig F] [-n NS] [--probe-url URL]\n\n"
	     "Deploys REF1 fresh, then walks the sequence twice from the same start: once\n"
	     "immutably (kctl rollout to each ref) and once mutably (kctl patch --to-image each\n"
	     "ref, in place). Each step is measured: wall and phase times, failed requests and\n"
	     "the longest gap seen by a steady probe, CPU seconds and peak memory of the app's\n"
	     "containers, image and writable-layer bytes, engine API calls and bytes, and drift\n"
	     "afterwards. Prints a table and writes DIR/report.json and DIR/report.html (one\n"
	     "self-contained page). Both apps are removed at the end.\n"
	     "Kubernetes: each walk is a Deployment made from the manifest (NAME-immutable,\n"
	     "NAME-mutable; pods labelled io.kctl.walk), created at REF1 pinned by digest;\n"
	     "the immutable walk rolls out each next ref, the mutable one patches the pods in\n"
	     "place over exec (--to-image, then SIGHUP to PID 1). CPU and memory come from\n"
	     "metrics.k8s.io when the cluster serves it; the probe asks --probe-url (e.g. the\n"
	     "app's Service in the cluster). Both Deployments are deleted at the end.\n\n"
	     "Options:\n"
	     "  -f, --filename FILE   the app's Deployment manifest\n"
	     "      --versions LIST   image references, comma separated\n"
	     "      --replicas N      replicas for both approaches (default: the manifest's)\n"
	     "      --rate R          probe requests per second (default 100)\n"
	     "      --out DIR         where the report goes (default ./kctl-compare)\n"
	     "      --fault partial   before the mutable walk, remove the rm tool from one\n"
	     "                        replica by hand, so its patch really fails when the\n"
	     "                        next version deletes files: the step is partial\n"
	     "      --teach           explain each step in plain words; pause between steps\n"
	     "                        when run in a terminal\n"
	     "      --probe-url URL   Kubernetes: the URL the steady probe asks (default:\n"
	     "                        none, probe figures not measured)\n" KC_CLI_KUBE_HELP
		 KC_CLI_COMMON_HELP,
    .run = run_compare,
};
