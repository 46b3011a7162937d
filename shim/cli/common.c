/* Option parsing and output helpers shared by every kctl command. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "cli.h"
#include "shim/base/json.h"
#include "shim/engine/docker.h"
#include "shim/engine/kube.h"

int kc_cli_usage_error(const struct kc_cmd *cmd, kc_err_t *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	kc_err_new(err, KC_E_USAGE, "%s (see 'kctl %s --help')", msg ? msg : "usage error",
		   cmd->name);
	free(msg);
	return -1;
}

int kc_cli_common_opt(struct kc_cli *cli, int opt, const char *arg, bool *help_asked,
		      kc_err_t *err)
{
	switch (opt) {
	case 'h':
		*help_asked = true;
		return 1;
	case 'v':
		cli->log.level = KC_LOG_DEBUG;
		return 1;
	case 'o':
		if (!strcmp(arg, "json"))
			cli->output = KC_OUTPUT_JSON;
		else if (!strcmp(arg, "text"))
			cli->output = KC_OUTPUT_TEXT;
		else
			return kc_err_new(err, KC_E_USAGE,
					  "--output: unknown format \"%s\" (text or json)", arg);
		return 1;
	default:
		return 0;
	}
}

int kc_cli_parse(struct kc_cli *cli, const struct kc_cmd *cmd, int argc, char **argv,
		 const char *shortopts, const struct option *longopts,
		 int (*on_opt)(void *opaque, int opt, const char *arg, kc_err_t *err),
		 void *opaque, kc_err_t *err)
{
	static const struct option common[] = {KC_CLI_COMMON_LONG};
	size_t n_common = sizeof common / sizeof *common, n_own = 0;
	while (longopts && longopts[n_own].name)
		n_own++;
	struct option *all = calloc(n_common + n_own + 1, sizeof *all);
	char *shorts = NULL;
	if (!all || asprintf(&shorts, ":%s%s", KC_CLI_COMMON_SHORT, shortopts ? shortopts : "") < 0) {
		free(all);
		return kc_err_sys(err, ENOMEM, "parsing options");
	}
	memcpy(all, common, sizeof common);
	if (n_own)
		memcpy(all + n_common, longopts, n_own * sizeof *all);

	bool help = false;
	int rc = 0;
	optind = 1;
	opterr = 0;
	int opt;
	while (rc == 0 && (opt = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
		if (opt == '?') {
			rc = kc_cli_usage_error(cmd, err, "unknown option \"%s\"", argv[optind - 1]);
		} else if (opt == ':') {
			rc = kc_cli_usage_error(cmd, err, "option \"%s\" needs a value",
						argv[optind - 1]);
		} else {
			int c = kc_cli_common_opt(cli, opt, optarg, &help, err);
			if (c < 0)
				rc = -1;
			else if (c == 0 && (!on_opt || on_opt(opaque, opt, optarg, err) < 0))
				rc = on_opt ? -1 : kc_cli_usage_error(cmd, err, "unexpected option");
		}
	}
	free(all);
	free(shorts);
	if (rc < 0)
		return -1;
	if (help) {
		fputs(cmd->usage, stdout);
		return 1;
	}
	return 0;
}

struct kc_table {
	size_t columns, rows, cap;
	char **cells;
};

struct kc_table *kc_table_new(size_t columns)
{
	struct kc_table *t = calloc(1, sizeof *t);
	if (t)
		t->columns = columns;
	return t;
}

void kc_table_add(struct kc_table *t, ...)
{
	if (!t)
		return;
	if (t->rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cells = realloc(t->cells, cap * t->columns * sizeof *cells);
		if (!cells)
			return;
		t->cells = cells;
		t->cap = cap;
	}
	va_list ap;
	va_start(ap, t);
	for (size_t c = 0; c < t->columns; c++) {
		const char *s = va_arg(ap, const char *);
		t->cells[t->rows * t->columns + c] = strdup(s ? s : "-");
	}
	va_end(ap);
	t->rows++;
}

void kc_table_print(const struct kc_table *t, FILE *out)
{
	if (!t)
		return;
	size_t width[32] = {0};
	size_t cols = t->columns < 32 ? t->columns : 32;
	for (size_t r = 0; r < t->rows; r++)
		for (size_t c = 0; c < cols; c++) {
			const char *s = t->cells[r * t->columns + c];
			size_t l = s ? strlen(s) : 0;
			if (l > width[c])
				width[c] = l;
		}
	for (size_t r = 0; r < t->rows; r++) {
		for (size_t c = 0; c < cols; c++) {
			const char *s = t->cells[r * t->columns + c];
			if (c + 1 == cols)
				fprintf(out, "%s\n", s ? s : "");
			else
				fprintf(out, "%-*s   ", (int)width[c], s ? s : "");
		}
	}
}

void kc_table_free(struct kc_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->rows * t->columns; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void kc_cli_print_progress(void *opaque, const char *message)
{
	(void)opaque;
	printf("  %s\n", message);
	fflush(stdout);
}

void kc_cli_print_json(struct yajl_gen_t *g)
{
	size_t len;
	char *s = kc_jgen_finish(g, &len);
	if (s) {
		fwrite(s, 1, len, stdout);
		if (len == 0 || s[len - 1] != '\n')
			fputc('\n', stdout);
	}
	free(s);
}

int kc_cli_open_engine(struct kc_cli *cli, struct kc_engine **out, kc_err_t *err)
{
	struct kc_docker_config cfg = {.host = cli->docker_host, .log = &cli->log};
	if (kc_engine_docker_new(&cfg, out, err) < 0)
		return -1;
	/* Ping now so an engine that is missing or answers garbage fails here,
	 * before any command plans work against it. */
	if (kc_engine_ping(*out, err) < 0) {
		kc_engine_free(*out);
		*out = NULL;
		return kc_err_wrap(err, "engine at %s",
				   cli->docker_host ? cli->docker_host : KC_DOCKER_DEFAULT_HOST);
	}
	return 0;
}

bool kc_cli_is_kube_target(const char *s)
{
	return !strncmp(s, "deployment/", 11) || !strncmp(s, "deploy/", 7) ||
	       !strncmp(s, "deployments/", 12) || !strncmp(s, "deployment.apps/", 16);
}

const char *kc_cli_kube_name(const char *s)
{
	const char *sl = strchr(s, '/');
	return sl ? sl + 1 : s;
}

bool kc_cli_kube_opt(struct kc_cli_kube *o, int opt, const char *arg)
{
	switch (opt) {
	case 'E':
		o->engine = arg;
		return true;
	case 'C':
		o->context = arg;
		return true;
	case 'K':
		o->kubeconfig = arg;
		return true;
	case 'n':
		o->namespace = arg;
		return true;
	default:
		return false;
	}
}

int kc_cli_kube_wanted(const struct kc_cmd *cmd, struct kc_cli_kube *o, bool *kube, kc_err_t *err)
{
	const char *from = "--engine";
	if (!o->engine) {
		o->engine = getenv("KCTL_ENGINE");
		from = "KCTL_ENGINE";
		if (o->engine && !*o->engine)
			o->engine = NULL;
	}
	if (o->engine && strcmp(o->engine, "kube") && strcmp(o->engine, "docker"))
		return kc_cli_usage_error(cmd, err, "%s: \"%s\" is not docker or kube", from,
					  o->engine);
	*kube = (o->engine && !strcmp(o->engine, "kube")) ||
		(!o->engine && (o->context || o->kubeconfig));
	return 0;
}

int kc_cli_open_kube(struct kc_cli *cli, const struct kc_cli_kube *o, struct kc_kube **out,
		     kc_err_t *err)
{
	struct kc_kubeconfig_opts ko = {.kubeconfig = o->kubeconfig,
					.context = o->context,
					.namespace = o->namespace,
					.log = &cli->log};
	return kc_kube_open(&ko, out, err);
}
