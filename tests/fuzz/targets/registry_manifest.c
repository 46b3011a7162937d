/* Fuzz target: OCI/Docker manifest and index parsing plus platform
 * selection. The first byte picks the Content-Type the "registry" sent. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "registry/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {NULL,
					    KC_MT_OCI_INDEX,
					    KC_MT_OCI_MANIFEST,
					    KC_MT_DOCKER_LIST,
					    KC_MT_DOCKER_MANIFEST,
					    "application/json; charset=utf-8",
					    "text/plain"};
	if (size < 1)
		return 0;
	const char *ct = types[data[0] % (sizeof types / sizeof types[0])];
	struct kc_manifest m;
	kc_err_t err = NULL;
	if (kc_manifest_parse((const char *)data + 1, size - 1, ct, &m, &err) == 0) {
		if (m.kind == KC_MANIFEST_INDEX) {
			size_t i;
			if (kc_index_select(&m, "linux", "amd64", NULL, &i, &err) == 0 &&
			    i >= m.n_manifests)
				__builtin_trap();
		} else if (m.kind != KC_MANIFEST_IMAGE || strlen(m.config.digest) != 71) {
			__builtin_trap();
		}
		kc_manifest_free(&m);
	}
	kc_err_free(&err);
	return 0;
}
