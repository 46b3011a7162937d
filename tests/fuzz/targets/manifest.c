/* Fuzz target: Deployment manifest parser (shim/rollout/manifest.c) and its JSON form. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	/* What is written back must parse again into the same template. */
	char *js = NULL, *t1 = NULL, *t2 = NULL;
	struct kc_deploy_spec *again = NULL;
	if (kc_deploy_spec_to_json(m, NULL, false, &js, &err) < 0 ||
	    kc_deploy_spec_template_json(m, NULL, &t1, &err) < 0)
		abort();
	if (kc_deploy_spec_parse(js, strlen(js), "written.json", &again, &err) < 0 ||
	    kc_deploy_spec_template_json(again, NULL, &t2, &err) < 0 || strcmp(t1, t2) != 0)
		abort();
	free(js);
	free(t1);
	free(t2);
	kc_deploy_spec_free(again);
	kc_deploy_spec_free(m);
	return 0;
}
