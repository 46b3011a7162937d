/* Fuzz target: the tar reader helpers (list entries, read one file) that
 * consume archives from the engine's archive and export answers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "shim/engine/tarball.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kc_err_t err = NULL;
	struct kc_tar_entry *e = NULL;
	size_t n = 0;
	if (kc_tar_list(data, size, &e, &n, &err) == 0) {
		/* Read back the first regular file by the name the lister gave. */
		for (size_t i = 0; i < n; i++) {
			if (e[i].type != KC_TAR_FILE)
				continue;
			char *content = NULL;
			size_t len = 0;
			if (kc_tar_read_file(data, size, e[i].path, 1u << 20, &content, &len,
					     &err) == 0)
				free(content);
			kc_err_free(&err);
			break;
		}
		kc_tar_entries_free(e, n);
	}
	kc_err_free(&err);
	return 0;
}
