/* kctl entry point: subcommand dispatch (also by argv[0], so kctl-rollout and
 * kctl-patch symlinks work), and the one place errors are printed. */
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct kc_cmd *const commands[] = {
	&kc_cmd_rollout,
	&kc_cmd_patch,
	&kc_cmd_drift,
	&kc_cmd_compare,
	&kc_cmd_version,
	&kc_cmd_image,
	&kc_cmd_ps,
	&kc_cmd_probe,
};

static const struct kc_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

static void print_main_usage(FILE *out)
{
	fprintf(out, "kctl deploys containers the immutable way, patches them the mutable way,\n"
		     "and measures the difference.\n\n"
		     "Usage: kctl COMMAND [OPTIONS] [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "\nRun 'kctl COMMAND --help' for a command's options.\n"
		     "Environment: DOCKER_HOST (default unix:///var/run/docker.sock); KCTL_ENGINE=kube\n"
		     "and KUBECONFIG for Kubernetes (rollout, patch); KCTL_STATE_DIR for the patch\n"
		     "journal and locks (default /var/lib/kctl as root).\n"
		     "Exit status: 0 ok, 1 error, 2 usage error, 3 drift found (kctl drift).\n");
}

int main(int argc, char **argv)
{
	/* A closed pipe on stdout (kctl ps | head) must not kill us mid-write of
	 * a journal or a report. */
	signal(SIGPIPE, SIG_IGN);

	struct kc_cli cli = {
		.prog = "kctl",
		.log = {.level = KC_LOG_WARN, .out = stderr},
		.stdout_tty = isatty(STDOUT_FILENO),
		.docker_host = getenv("DOCKER_HOST"),
	};

	char *argv0 = strdup(argv[0] ? argv[0] : "kctl");
	const char *base = argv0 ? basename(argv0) : "kctl";
	const struct kc_cmd *cmd = NULL;
	int sub_argc;
	char **sub_argv;
	char prog_buf[64];
	if (!strncmp(base, "kctl-", 5) && (cmd = find_command(base + 5))) {
		snprintf(prog_buf, sizeof prog_buf, "%s", base);
		cli.prog = prog_buf;
		sub_argc = argc;
		sub_argv = argv;
	} else {
		if (argc < 2) {
			print_main_usage(stderr);
			free(argv0);
			return KC_EXIT_USAGE;
		}
		const char *name = argv[1];
		if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
			if (argc > 2 && (cmd = find_command(argv[2]))) {
				fputs(cmd->usage, stdout);
			} else {
				print_main_usage(stdout);
			}
			free(argv0);
			return KC_EXIT_OK;
		}
		if (!strcmp(name, "--version")) {
			name = "version";
		}
		cmd = find_command(name);
		if (!cmd) {
			fprintf(stderr, "kctl: unknown command \"%s\"\n\n", name);
			print_main_usage(stderr);
			free(argv0);
			return KC_EXIT_USAGE;
		}
		sub_argc = argc - 1;
		sub_argv = argv + 1;
	}
	free(argv0);

	kc_err_t err = NULL;
	int rc = cmd->run(&cli, sub_argc, sub_argv, &err);
	if (rc < 0) {
		kc_err_print(err, cli.prog, stderr);
		rc = kc_err_kind(err) == KC_E_USAGE ? KC_EXIT_USAGE : KC_EXIT_ERROR;
		kc_err_free(&err);
	}
	if (fflush(stdout) != 0 && rc == KC_EXIT_OK)
		rc = KC_EXIT_ERROR;
	return rc;
}
