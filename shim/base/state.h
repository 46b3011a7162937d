/* Where kctl keeps what it records locally (patch journal, locks):
 * $KCTL_STATE_DIR, else /var/lib/kctl for root, else
 * $XDG_STATE_HOME/kctl or ~/.local/state/kctl. The engine stays the source of
 * truth for deployments; this directory holds only what the engine cannot. */
#ifndef KC_BASE_STATE_H
#define KC_BASE_STATE_H

#include <sys/types.h>

#include "error.h"

/* The state directory's path, newly allocated, not created. Relative values
 * of the variables are ignored (as the XDG spec asks). */
int kc_state_dir(char **out, kc_err_t *err);

/* Newly allocated "<state dir>/<sub>" (sub may be NULL), created 0700 with
 * parents when missing. */
int kc_state_path(const char *sub, char **out, kc_err_t *err);

/* mkdir -p: dir and its missing parents, each with mode. */
int kc_mkdir_p(const char *dir, mode_t mode, kc_err_t *err);

/* An exclusive, non-blocking lock named `name` under <state>/locks, held until
 * kc_state_unlock. Fails with KC_E_CONFLICT when another process holds it. */
int kc_state_lock(const char *name, int *fd_out, kc_err_t *err);
void kc_state_unlock(int fd);

#endif
