/* kctl drift: what differs between running replicas and their images, between
 * replicas, and (--target) from a target image. Exit 0 no drift, 3 drift. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "compare/drift.h"
#include "compare/drift_kube.h"
#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/engine/engine.h"
#include "shim/engine/kube.h"
#include "shim/rollout/rollout.h"

struct drift_cli {
	const char *target;
	size_t parallel;
	struct kc_cli_kube kube; /* deployment/NAME on Kubernetes */
};

static int drift_opt(void *opaque, int opt, const char *arg, kc_err_t *err)
{
	struct drift_cli *d = opaque;
	char *end;
	switch (opt) {
	case 't':
		d->target = arg;
		return 0;
	case 'p': {
		long v = strtol(arg, &end, 10);
		if (*end || v < 1 || v > 64)
			return kc_cli_usage_error(&kc_cmd_drift, err,
						  "--parallel: \"%s\" is not 1..64", arg);
		d->parallel = (size_t)v;
		return 0;
	}
	}
	if (kc_cli_kube_opt(&d->kube, opt, arg))
		return 0;
	return kc_cli_usage_error(&kc_cmd_drift, err, "unexpected option");
}

/* The apps kctl manages (label io.kctl.app on running containers), sorted, unique. */
static int list_apps(struct kc_engine *e, char ***out, size_t *n, kc_err_t *err)
{
	struct kc_label f = {KC_LABEL_APP, NULL};
	struct kc_container_info *list = NULL;
	size_t nl = 0;
	if (kc_engine_container_list(e, false, &f, 1, &list, &nl, err) < 0)
		return -1;
	char **apps = calloc(nl + 1, sizeof *apps);
	size_t k = 0;
	for (size_t i = 0; apps && i < nl; i++) {
		const char *a = kc_labels_get(&list[i].labels, KC_LABEL_APP);
		bool seen = !a;
		for (size_t j = 0; j < k && !seen; j++)
			seen = !strcmp(apps[j], a);
		if (!seen)
			apps[k++] = strdup(a);
	}
	kc_container_list_free(list, nl);
	if (!apps)
		return kc_err_new(err, KC_E_GENERIC, "out of memory");
	for (size_t a = 0; a < k; a++)
		for (size_t b = a + 1; b < k; b++)
			if (strcmp(apps[b], apps[a]) < 0) {
				char *t = apps[a];
				apps[a] = apps[b];
				apps[b] = t;
			}
	*out = apps;
	*n = k;
	return 0;
}

/* kctl drift deployment/NAME on Kubernetes: one report, same shape as on Docker. */
static int run_kube_drift(struct kc_cli *cli, const struct drift_cli *d, const char *target,
			  kc_err_t *err)
{
	if (!kc_cli_is_kube_target(target))
		return kc_cli_usage_error(&kc_cmd_drift, err,
					  "\"%s\": on Kubernetes give deployment/NAME", target);
	cleanup_kube struct kc_kube *k = NULL;
	if (kc_cli_open_kube(cli, &d->kube, &k, err) < 0)
		return -1;
	struct kc_drift_kube_opts o = {.deployment = kc_cli_kube_name(target),
				       .target_image = d->target,
				       .parallel = d->parallel,
				       .log = &cli->log};
	struct kc_drift_report r;
	if (kc_drift_kube(k, &o, &r, err) < 0) {
		kc_drift_report_free(&r);
		return kc_err_wrap(err, "drift of deployment/%s", o.deployment);
	}
	bool found = kc_drift_found(&r);
	int rc = 0;
	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_free char *s = NULL;
		size_t len = 0;
		rc = kc_drift_to_json(&r, true, &s, &len, err);
		if (rc == 0) {
			fwrite(s, 1, len, stdout);
			fputc('\n', stdout);
		}
	} else {
		rc = kc_drift_print_table(&r, stdout, err);
	}
	kc_drift_report_free(&r);
	if (rc < 0)
		return -1;
	return found ? KC_EXIT_DRIFT : KC_EXIT_OK;
}

static int run_drift(struct kc_cli *cli, int argc, char **argv, kc_err_t *err)
{
	struct drift_cli d = {0};
	static const struct option longopts[] = {{"target", required_argument, NULL, 't'},
						 {"parallel", required_argument, NULL, 'p'},
						 KC_CLI_KUBE_LONG,
						 {0}};
	int rc = kc_cli_parse(cli, &kc_cmd_drift, argc, argv, "n:", longopts, drift_opt, &d, err);
	if (rc != 0)
		return rc < 0 ? -1 : KC_EXIT_OK;
	if (argc - optind > 1)
		return kc_cli_usage_error(&kc_cmd_drift, err, "at most one APP");
	bool kube;
	if (kc_cli_kube_wanted(&kc_cmd_drift, &d.kube, &kube, err) < 0)
		return -1;
	if (kube) {
		if (argc - optind != 1)
			return kc_cli_usage_error(&kc_cmd_drift, err,
						  "on Kubernetes give deployment/NAME");
		return run_kube_drift(cli, &d, argv[optind], err);
	}
	if (argc - optind == 1 && kc_cli_is_kube_target(argv[optind]))
		return kc_cli_usage_error(&kc_cmd_drift, err,
					  "%s is a Kubernetes target: add --engine kube (or "
					  "KCTL_ENGINE=kube, --context, --kubeconfig)",
					  argv[optind]);
	if (d.kube.namespace)
		return kc_cli_usage_error(&kc_cmd_drift, err, "-n needs --engine kube");
	cleanup_engine struct kc_engine *eng = NULL;
	if (kc_cli_open_engine(cli, &eng, err) < 0)
		return -1;
	cleanup_strv char **apps = NULL;
	size_t n_apps = 0;
	if (argc - optind == 1) {
		apps = calloc(2, sizeof *apps);
		if (!apps || !(apps[0] = strdup(argv[optind])))
			return kc_err_new(err, KC_E_GENERIC, "out of memory");
		n_apps = 1;
	} else if (list_apps(eng, &apps, &n_apps, err) < 0) {
		return -1;
	}
	bool found = false;
	bool json = cli->output == KC_OUTPUT_JSON;
	if (json && argc - optind == 0)
		fputs("[\n", stdout);
	for (size_t i = 0; i < n_apps; i++) {
		struct kc_drift_opts o = {.app = apps[i],
					  .target_image = d.target,
					  .parallel = d.parallel,
					  .log = &cli->log};
		struct kc_drift_report r;
		if (kc_drift_app(eng, &o, &r, err) < 0) {
			kc_drift_report_free(&r);
			return kc_err_wrap(err, "drift of %s", apps[i]);
		}
		found = found || kc_drift_found(&r);
		if (json) {
			cleanup_free char *s = NULL;
			size_t len = 0;
			if (kc_drift_to_json(&r, true, &s, &len, err) < 0) {
				kc_drift_report_free(&r);
				return -1;
			}
			fwrite(s, 1, len, stdout);
			fputs(argc - optind == 0 && i + 1 < n_apps ? ",\n" : "\n", stdout);
		} else {
			if (i)
				fputc('\n', stdout);
			kc_drift_print_table(&r, stdout, err);
		}
		kc_drift_report_free(&r);
	}
	if (json && argc - optind == 0)
		fputs("]\n", stdout);
	else if (!json && n_apps == 0)
		printf("no apps managed by kctl are running\n");
	return found ? KC_EXIT_DRIFT : KC_EXIT_OK;
}

const struct kc_cmd kc_cmd_drift = {
    .name = "drift",
    .summary = "what differs between running replicas, their images and each other",
    .usage =
	"Usage: kctl drift [APP] [--target REF] [-o json]\n"
	"       kctl drift deployment/NAME --engine kube [--context C] [--kubeconfig F]\n"
	"                  [-n NS] [--target REF] [--parallel N] [-o json]\n\n"
	"Per replica: files added (A), changed (C) and deleted (D) against its own image,\n"
	"from the engine's change list, with the sha256 of each file's content read from\n"
	"the container (archive API; /tmp and the manifest's volume mounts are skipped);\n"
	"config drift against the manifest it was deployed from (image, env, command).\n"
	"Across replicas: a fingerprint per replica and the number of distinct states.\n"
	"--target REF: what still differs between each replica's files and image REF\n"
	"(A only here, D only in REF, C content, M mode, T type). Without APP: every app.\n"
	"Kubernetes: per pod of the Deployment, against the image it runs (its status'\n"
	"imageID): when it starts with kctl-shim, `kctl-shim drift` over exec (changes\n"
	"since the shim's baseline); else, or when the shim has no baseline, its files\n"
	"listed, hashed and stat'ed over exec (sh, find, xargs, sha256sum, stat; /proc,\n"
	"/sys, /dev, /tmp and mounts skipped) against the image's file index built from\n"
	"the registry; a mode-only change is M. The method is shown per pod.\n"
	"Exit status: 0 no drift, 3 drift found, 1 error.\n\n"
	"Options:\n"
	"      --target REF     also compare each replica with image REF\n"
	"      --parallel N     replicas inspected at once (default 4; kube: 8)\n" KC_CLI_KUBE_HELP
	    KC_CLI_COMMON_HELP,
    .run = run_drift,
};
