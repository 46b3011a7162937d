/* kc_guard_install: loads the guard's filter, precompiled at build time. */
#include "guard.h"

#include <seccomp.h>
#include <stdlib.h>

#include "guard_bpf.h"
#include "shim/base/cleanup.h"

int kc_guard_install(enum kc_guard_mode mode, int *notify_fd, kc_err_t *err)
{
	*notify_fd = -1;
	if (mode == KC_GUARD_OFF)
		return 0;
	if (seccomp_arch_native() == KC_GUARD_BPF_ARCH)
		return kc_guard_load(kc_guard_bpf, sizeof kc_guard_bpf / sizeof kc_guard_bpf[0],
				     notify_fd, err);
	/* Built on another architecture than it runs on: compile it here. */
	cleanup_free struct sock_filter *prog = NULL;
	size_t len = 0;
	if (kc_guard_filter_build(&prog, &len, err) < 0)
		return -1;
	return kc_guard_load(prog, len, notify_fd, err);
}
