/* Fuzz target: the kubeconfig reader (YAML -> context, cluster, user). The input is
 * split at the first NUL into two files so the merge rules are exercised too. No
 * exec plugin runs here: loading only parses. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shim/engine/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	const char *nul = memchr(buf, '\0', size);
	const char *bufs[2] = {buf, nul ? nul + 1 : NULL};
	size_t lens[2] = {nul ? (size_t)(nul - buf) : size,
			  nul ? size - (size_t)(nul - buf) - 1 : 0};
	const char *dirs[2] = {"/d1", "/d2"};
	struct kc_kubeconfig_opts o = {.context = size % 7 == 0 ? "ctx" : NULL};
	struct kc_kubeconfig *kc = NULL;
	kc_err_t err = NULL;
	if (kc_kubeconfig_from_buffers(bufs, lens, NULL, dirs, nul ? 2 : 1, &o, &kc, &err) == 0) {
		if (!kc->server || !kc->namespace || !kc->context)
			__builtin_trap();
		struct kc_http_config hc;
		if (kc_kubeconfig_http(kc, &hc, &err) == 0 && hc.base_url != kc->server)
			__builtin_trap();
		kc_kubeconfig_free(kc);
	}
	kc_err_free(&err);
	return 0;
}
