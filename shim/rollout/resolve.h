/* Image reference -> pinned "repo@sha256:..." for a rollout. A reference that
 * already names a digest the engine holds needs no registry (undo stays fast
 * and works while the registry is down); anything else is resolved through
 * the registry, so a tag that does not exist fails before any container is
 * touched. */
#ifndef KC_ROLLOUT_RESOLVE_H
#define KC_ROLLOUT_RESOLVE_H

#include "shim/base/error.h"
#include "shim/base/log.h"
#include "shim/engine/engine.h"

int kc_rollout_resolve(struct kc_engine *e, const char *ref, const struct kc_log *log,
		       char **pinned, char **digest, kc_err_t *err);

#endif
