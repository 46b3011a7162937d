/* kctl version: client version, and the engine's when it answers. */
#include <stdlib.h>

#include "cli.h"
#include "shim/base/json.h"
#include "shim/engine/engine.h"

static int run_version(struct kc_cli *cli, int argc, char **argv, kc_err_t *err)
{
	int p = kc_cli_parse(cli, &kc_cmd_version, argc, argv, "", NULL, NULL, NULL, err);
	if (p != 0)
		return p < 0 ? -1 : KC_EXIT_OK;
	if (optind < argc)
		return kc_cli_usage_error(&kc_cmd_version, err, "no arguments expected");

	/* An unreachable engine is reported, not fatal: the client version is
	 * still worth printing (as `docker version` does). */
	kc_err_t engine_err = NULL;
	struct kc_engine_version v = {0};
	bool have_engine = false;
	struct kc_engine *eng = NULL;
	if (kc_cli_open_engine(cli, &eng, &engine_err) == 0 &&
	    kc_engine_version(eng, &v, &engine_err) == 0)
		have_engine = true;
	if (eng)
		kc_engine_free(eng);
	char *engine_msg = engine_err ? kc_err_string(engine_err) : NULL;

	if (cli->output == KC_OUTPUT_JSON) {
		cleanup_jgen yajl_gen g = kc_jgen_new(true);
		yajl_gen_map_open(g);
		kc_jgen_key(g, "client");
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "version", KCTL_VERSION);
		yajl_gen_map_close(g);
		kc_jgen_key(g, "engine");
		if (have_engine) {
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "backend", v.backend);
			kc_jgen_kv_str(g, "version", v.engine_version);
			kc_jgen_kv_str(g, "apiVersion", v.api_version);
			kc_jgen_kv_str(g, "serverApiVersion", v.server_api_version);
			kc_jgen_kv_str(g, "os", v.os);
			kc_jgen_kv_str(g, "arch", v.arch);
			yajl_gen_map_close(g);
		} else {
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "error", engine_msg);
			yajl_gen_map_close(g);
		}
		yajl_gen_map_close(g);
		kc_cli_print_json(g);
	} else {
		printf("Client:\n  Version:      %s\n", KCTL_VERSION);
		if (have_engine)
			printf("Engine:\n  Backend:      %s\n  Version:      %s\n"
			       "  API version:  %s (negotiated; server speaks up to %s)\n",
			       v.backend, v.engine_version ? v.engine_version : "-",
			       v.api_version ? v.api_version : "-",
			       v.server_api_version ? v.server_api_version : "-");
		else
			printf("Engine:\n  not reachable: %s\n", engine_msg ? engine_msg : "?");
	}
	free(engine_msg);
	kc_engine_version_free(&v);
	kc_err_free(&engine_err);
	/* Without an engine, say so in the status too, so scripts can check. */
	return have_engine ? KC_EXIT_OK : KC_EXIT_ERROR;
}

const struct kc_cmd kc_cmd_version = {
	.name = "version",
	.summary = "show the client version and the engine's",
	.usage = "Usage: kctl version [OPTIONS]\n\n"
		 "Prints kctl's version and, when the engine at DOCKER_HOST answers, its version\n"
		 "and the API version negotiated with it. Exits 1 when the engine does not answer.\n\n"
		 "Options:\n" KC_CLI_COMMON_HELP,
	.run = run_version,
};
