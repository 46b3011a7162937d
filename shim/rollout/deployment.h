/* A parsed manifest written back as an apps/v1 Deployment (JSON), so a
 * revision's full spec can ride on its containers' labels and be read back
 * with kc_deploy_spec_parse when undo needs to re-create a replica. */
#ifndef KC_ROLLOUT_DEPLOYMENT_H
#define KC_ROLLOUT_DEPLOYMENT_H

#include "shim/base/error.h"
#include "shim/rollout/manifest.h"

/* image: written instead of m->image when not NULL. */
int kc_deployment_json(const struct kc_deploy_spec *m, const char *image, char **out, kc_err_t *err);

#endif
