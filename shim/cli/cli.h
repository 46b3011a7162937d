/* The kctl command line: the context every subcommand receives, the command
 * table, option parsing shared by all commands, and output helpers (aligned
 * text tables, JSON documents on stdout). */
#ifndef KC_CLI_CLI_H
#define KC_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "shim/base/error.h"
#include "shim/base/log.h"

/* Exit statuses: what scripts and CronJobs can rely on. */
enum {
	KC_EXIT_OK = 0,
	KC_EXIT_ERROR = 1,
	KC_EXIT_USAGE = 2,
	KC_EXIT_DRIFT = 3, /* kctl drift found drift */
};

enum kc_output { KC_OUTPUT_TEXT = 0, KC_OUTPUT_JSON };

struct kc_cli {
	const char *prog; /* name printed in messages: "kctl" or "kctl-rollout" */
	struct kc_log log;
	enum kc_output output;
	bool stdout_tty; /* progress is shown only on a terminal */
	const char *docker_host;
};

/* A command's run returns an exit status (>= 0) or a negative value with
 * *err set; main prints the error once. */
struct kc_cmd {
	const char *name;
	const char *summary;
	const char *usage; /* full --help text */
	int (*run)(struct kc_cli *cli, int argc, char **argv, kc_err_t *err);
};

/* Options every command accepts; commands append their own after these. */
#define KC_CLI_COMMON_SHORT "ho:v"
#define KC_CLI_COMMON_LONG                                                                         \
	{"help", no_argument, NULL, 'h'}, {"output", required_argument, NULL, 'o'},                \
		{"verbose", no_argument, NULL, 'v'}
#define KC_CLI_COMMON_HELP                                                                         \
	"  -o, --output FORMAT   text (default) or json\n"                                         \
	"  -v, --verbose         log engine and registry requests to stderr\n"                     \
	"  -h, --help            show this help\n"

/* Handles a common option. Returns 1 when handled, 0 when opt is not common,
 * -1 with *err (usage) for a bad value. Sets *help_asked on -h. */
int kc_cli_common_opt(struct kc_cli *cli, int opt, const char *arg, bool *help_asked,
		      kc_err_t *err);
/* Runs getopt_long over argv with the common options plus the command's own;
 * on_opt handles the command's options. Prints usage and returns 1 on --help
 * (caller exits 0), 0 when parsing succeeded, -1 with *err on bad usage. */
int kc_cli_parse(struct kc_cli *cli, const struct kc_cmd *cmd, int argc, char **argv,
		 const char *shortopts, const struct option *longopts,
		 int (*on_opt)(void *opaque, int opt, const char *arg, kc_err_t *err),
		 void *opaque, kc_err_t *err);
int kc_cli_usage_error(const struct kc_cmd *cmd, kc_err_t *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Aligned text tables: add a header row, then rows; print pads columns. */
struct kc_table;
struct kc_table *kc_table_new(size_t columns);
void kc_table_add(struct kc_table *t, ...); /* exactly `columns` const char * (NULL prints "-") */
void kc_table_print(const struct kc_table *t, FILE *out);
void kc_table_free(struct kc_table *t);

/* A progress line for a terminal ("  message"), as event callbacks want it. */
void kc_cli_print_progress(void *opaque, const char *message);

/* Prints a finished yajl_gen buffer to stdout followed by a newline. */
struct yajl_gen_t;
void kc_cli_print_json(struct yajl_gen_t *g);

/* Engine connection from DOCKER_HOST (default unix:///var/run/docker.sock). */
struct kc_engine;
int kc_cli_open_engine(struct kc_cli *cli, struct kc_engine **out, kc_err_t *err);

/* The Kubernetes backend's options, shared by commands that take deployment/NAME. */
struct kc_cli_kube {
	const char *engine; /* --engine: "docker", "kube"; NULL: KCTL_ENGINE, else implied */
	const char *context, *kubeconfig, *namespace;
};
#define KC_CLI_KUBE_HELP                                                                           \
	"      --engine E        docker (default) or kube\n"                                       \
	"      --kubeconfig F    kubeconfig file (default: $KUBECONFIG, ~/.kube/config,\n"         \
	"                        else in-cluster service account)\n"                               \
	"      --context C       kubeconfig context\n"                                             \
	"  -n, --namespace NS    namespace (default: the context's)\n"

/* Long options for those, with the short codes kc_cli_kube_opt takes. */
#define KC_CLI_KUBE_LONG                                                                           \
	{"engine", required_argument, NULL, 'E'}, {"context", required_argument, NULL, 'C'},       \
		{"kubeconfig", required_argument, NULL, 'K'},                                      \
		{"namespace", required_argument, NULL, 'n'}
/* Takes one of those options into o; true when opt was one of them. The
 * engine name is checked by kc_cli_kube_wanted. */
bool kc_cli_kube_opt(struct kc_cli_kube *o, int opt, const char *arg);

/* "deployment/NAME", "deploy/NAME", "deployments/NAME", "deployment.apps/NAME". */
bool kc_cli_is_kube_target(const char *s);
/* NAME of such a target (s itself when it has no '/'). */
const char *kc_cli_kube_name(const char *s);
/* Whether the Kubernetes backend is chosen: --engine, else KCTL_ENGINE, else implied
 * by --context/--kubeconfig. Sets *kube; -1 with a usage error for a bad engine name. */
int kc_cli_kube_wanted(const struct kc_cmd *cmd, struct kc_cli_kube *o, bool *kube, kc_err_t *err);
/* Connection to the Kubernetes API from those options. */
struct kc_kube;
int kc_cli_open_kube(struct kc_cli *cli, const struct kc_cli_kube *o, struct kc_kube **out,
		     kc_err_t *err);

extern const struct kc_cmd kc_cmd_version, kc_cmd_image, kc_cmd_ps, kc_cmd_probe, kc_cmd_rollout,
	kc_cmd_compare, kc_cmd_patch, kc_cmd_drift;

#endif
