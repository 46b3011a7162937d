/* Fuzzes the kctl-shim baseline parser (the file `kctl-shim drift` reads back
 * from a directory the app could have written to in audit mode), and diffs
 * what it accepts against itself. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shim/base/json.h"
#include "shim/init/baseline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_baseline b;
	kc_err_t err = NULL;
	if (kc_baseline_parse((const char *)data, size, &b, &err) < 0) {
		kc_err_free(&err);
		return 0;
	}
	yajl_gen g = kc_jgen_new(false);
	if (g) {
		yajl_gen_map_open(g);
		struct kc_bl_diff_counts c;
		kc_baseline_diff(&b, &b, g, &c);
		yajl_gen_map_close(g);
		if (c.added || c.changed || c.deleted)
			__builtin_trap(); /* a baseline never drifts from itself */
		yajl_gen_free(g);
	}
	kc_baseline_free(&b);
	return 0;
}
