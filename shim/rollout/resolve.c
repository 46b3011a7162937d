/* Reference resolution for rollouts: see resolve.h. */
#include "resolve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

int kc_rollout_resolve(struct kc_engine *e, const char *ref, const struct kc_log *log,
		       char **pinned, char **digest, kc_err_t *err)
{
	struct kc_ref r;
	if (kc_ref_parse(ref, &r, err) < 0)
		return kc_err_wrap(err, "image %s", ref);
	char buf[KC_REF_STRING_MAX];
	if (r.digest[0]) {
		kc_ref_pinned(&r, NULL, buf, sizeof buf);
		struct kc_engine_image local = {0};
		kc_err_t lerr = NULL;
		if (kc_engine_image_inspect(e, buf, &local, &lerr) == 0) {
			kc_engine_image_free(&local);
			*pinned = strdup(buf);
			*digest = strdup(r.digest);
			return *pinned && *digest ? 0 : kc_err_sys(err, ENOMEM, "resolve");
		}
		kc_err_free(&lerr);
	}
	struct kc_registry_opts opts = {.log = log};
	struct kc_image_info info = {0};
	if (kc_image_resolve(ref, &opts, &info, NULL, err) < 0)
		return -1;
	kc_ref_pinned(&info.ref, info.digest, buf, sizeof buf);
	*pinned = strdup(buf);
	*digest = strdup(info.digest);
	kc_image_info_free(&info);
	return *pinned && *digest ? 0 : kc_err_sys(err, ENOMEM, "resolve");
}
