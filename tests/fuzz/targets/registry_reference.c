/* Fuzz target: image reference parser. Whatever parses must print back
 * (canonical and familiar) to a reference that parses to the same fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct kc_ref r, again;
	kc_err_t err = NULL;
	if (kc_ref_parse(s, &r, &err) == 0) {
		char buf[KC_REF_STRING_MAX];
		if (kc_ref_canonical(&r, buf, sizeof buf) >= sizeof buf)
			__builtin_trap();
		if (kc_ref_parse(buf, &again, &err) != 0 || strcmp(again.domain, r.domain) ||
		    strcmp(again.path, r.path) || strcmp(again.tag, r.tag) ||
		    strcmp(again.digest, r.digest))
			__builtin_trap();
		kc_ref_familiar(&r, buf, sizeof buf);
		if (kc_ref_parse(buf, &again, &err) != 0 || strcmp(again.path, r.path))
			__builtin_trap();
		kc_ref_pinned(
		    &r, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
		    buf, sizeof buf);
	}
	kc_err_free(&err);
	free(s);
	return 0;
}
