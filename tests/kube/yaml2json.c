/* Test helper: prints each YAML document of FILE as one JSON line, through kctl's
 * own YAML reader (shim/base/yaml.h), so shell/Python tests can check manifests
 * without a YAML module. Also loads Deployments with kc_deploy_spec_parse to prove
 * kctl's Docker backend reads them. Exit 1 with the error on a parse failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/yaml.h"
#include "shim/rollout/manifest.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	cleanup_err kc_err_t err = NULL;
	cleanup_yaml struct kc_yaml *y = NULL;
	if (kc_yaml_load_file(argv[1], &y, &err) < 0) {
		kc_err_print(err, argv[0], stderr);
		return 1;
	}
	for (size_t i = 0; i < y->ndocs; i++) {
		cleanup_jgen yajl_gen g = kc_jgen_new(false);
		kc_jgen_value(g, y->docs[i].root);
		cleanup_free char *s = kc_jgen_finish(g, NULL);
		printf("%s\n", s);
		yajl_val kind = kc_json_find(y->docs[i].root, "/kind");
		if (y->ndocs == 1 && YAJL_IS_STRING(kind) &&
		    !strcmp(kind->u.string, "Deployment")) {
			cleanup_deploy_spec struct kc_deploy_spec *m = NULL;
			if (kc_deploy_spec_load(argv[1], &m, &err) < 0) {
				kc_err_print(err, argv[0], stderr);
				return 1;
			}
		}
	}
	return 0;
}
