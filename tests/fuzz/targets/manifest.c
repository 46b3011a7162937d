/* Fuzz target: Deployment manifest parser (shim/rollout/manifest.c) and its JSON form. */
#include <stdint.h>
#include <stdlib.h>

#include "shim/rollout/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_deploy_spec *m = NULL;
	kc_err_t err = NULL;
	if (kc_deploy_spec_parse((const char *)data, size, "fuzz.yaml", &m, &err) < 0) {
		kc_err_free(&err);
		return 0;
	}
	char *js = NULL;
	if (kc_deploy_spec_to_json(m, false, &js, &err) == 0)
		free(js);
	else
		kc_err_free(&err);
	if (kc_deploy_spec_template_json(m, &js, &err) == 0)
		free(js);
	else
		kc_err_free(&err);
	kc_deploy_spec_free(m);
	return 0;
}
