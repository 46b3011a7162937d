/* kctl image resolve REF: a tag to the digest kctl would pin. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "registry/registry.h"

static int run_image(struct kc_cli *cli, int argc, char **argv, kc_err_t *err)
{
	const char *verb = NULL;
	if (argc > 1 && argv[1][0] != '-') {
		verb = argv[1];
		argc--;
		argv++;
	}
	int p = kc_cli_parse(cli, &kc_cmd_image, argc, argv, "", NULL, NULL, NULL, err);
	if (p != 0)
		return p < 0 ? -1 : KC_EXIT_OK;
	if (!verb || strcmp(verb, "resolve") != 0)
		return kc_cli_usage_error(&kc_cmd_image, err, "expected \"image resolve REF\"");
	if (argc - optind != 1)
		return kc_cli_usage_error(&kc_cmd_image, err, "image resolve needs exactly one REF");
	const char *ref = argv[optind];
	struct kc_registry_opts opts = {.log = &cli->log};
	struct kc_image_info info = {0};
	if (kc_image_resolve(ref, &opts, &info, NULL, err) < 0)
		return -1;
	if (cli->output == KC_OUTPUT_JSON) {
		char *json = kc_image_info_to_json(&info, true);
		if (json)
			printf("%s\n", json);
		free(json);
	} else {
		printf("%s\n", info.digest);
	}
	kc_image_info_free(&info);
	return KC_EXIT_OK;
}

const struct kc_cmd kc_cmd_image = {
	.name = "image",
	.summary = "resolve an image reference to its digest",
	.usage = "Usage: kctl image resolve [OPTIONS] REF\n\n"
		 "Asks REF's registry for the manifest and prints the digest kctl pins when it\n"
		 "deploys REF (sha256:...). For a multi-platform index it is the index digest;\n"
		 "-o json also gives the linux/amd64 manifest, media type, config and layers.\n"
		 "Plain HTTP is used only for registries on loopback.\n\n"
		 "Options:\n" KC_CLI_COMMON_HELP,
	.run = run_image,
};
