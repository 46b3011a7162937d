/* Fuzz target: image file index from a layer (tar, possibly compressed),
 * applied twice so whiteouts and replacement run against a lower layer. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "registry/fileindex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_file_index *idx = NULL;
	kc_err_t err = NULL;
	if (kc_file_index_new(&idx, &err) < 0)
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		if (kc_file_index_apply_mem(idx, data, size, &err) < 0)
			kc_err_free(&err);
		/* The index stays sorted, unique and absolute. */
		for (size_t i = 0; i < idx->n; i++) {
			if (idx->entries[i].path[0] != '/')
				__builtin_trap();
			if (i && strcmp(idx->entries[i - 1].path, idx->entries[i].path) >= 0)
				__builtin_trap();
		}
	}
	kc_file_index_free(idx);
	return 0;
}
