/* The guard's filter in the kernel, without a supervisor: openat2 answers
 * ENOSYS and read-only opens pass without a notification (with nobody to
 * answer, a notified call would hang; the parent's deadline catches that). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shim/init/guard.h"
#include "shim/init/guard_bpf.h"

static int in_child(void)
{
	int nfd = -1;
	kc_err_t err = NULL;
	if (kc_guard_install(KC_GUARD_ENFORCE, &nfd, &err) < 0)
		return 3;
	struct open_how how = {.flags = O_RDONLY};
	long r = syscall(SYS_openat2, AT_FDCWD, "/etc/passwd", &how, sizeof how);
	if (r != -1 || errno != ENOSYS)
		return 4;
	for (int i = 0; i < 100; i++) {
		int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 5;
		close(fd);
		fd = openat(AT_FDCWD, "/etc", O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			return 6;
		close(fd);
	}
	return 0;
}

static void test_filter_in_kernel(void **state)
{
	(void)state;
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0)
		_exit(in_child());
	int st = 0;
	for (int i = 0; i < 500; i++) { /* 5 s */
		if (waitpid(p, &st, WNOHANG) == p)
			break;
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
		if (i == 499) {
			kill(p, SIGKILL);
			waitpid(p, &st, 0);
			fail_msg("a read-only open was sent to the (absent) supervisor");
		}
	}
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 3)
		skip(); /* no seccomp user notification on this kernel */
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* The program compiled into kctl-shim at build time is the one libseccomp builds
 * from the guard's table now: same length, same instructions. */
static void test_precompiled_matches(void **state)
{
	(void)state;
	struct sock_filter *prog = NULL;
	size_t len = 0;
	kc_err_t err = NULL;
	assert_int_equal(kc_guard_filter_build(&prog, &len, &err), 0);
	size_t want = sizeof kc_guard_bpf / sizeof kc_guard_bpf[0];
	assert_int_equal(len, want);
	assert_true(len > 10);
	assert_memory_equal(prog, kc_guard_bpf, len * sizeof *prog);
	free(prog);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_precompiled_matches),
					   cmocka_unit_test(test_filter_in_kernel)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
