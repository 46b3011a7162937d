/* kctl-shim init duties; see init.h. One thread, one poll loop over a
 * signalfd and the guard's notify fd: signals are blocked and read as data,
 * so nothing runs in signal context. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "shim/base/cleanup.h"

int kc_init_exit_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 1;
}

/* Signals that report a fault of the receiving process itself, plus the job
 * control ones a background init must not act on: not forwarded (as tini). */
static bool not_forwarded(int sig)
{
	switch (sig) {
	case SIGFPE:
	case SIGILL:
	case SIGSEGV:
	case SIGBUS:
	case SIGABRT:
	case SIGTRAP:
	case SIGSYS:
	case SIGTTIN:
	case SIGTTOU:
	case SIGKILL:
	case SIGSTOP:
		return true;
	}
	return false;
}

/* Sends the listener fd (or nothing, when fd < 0) with one status byte. */
static void send_fd(int sock, int fd)
{
	char byte = fd >= 0 ? 'F' : 'N';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof u);
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof u.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* Returns the received fd, -1 when the child sent none or died first. */
static int recv_fd(int sock)
{
	char byte = 0;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	ssize_t n;
	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n != 1 || byte != 'F')
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int fd;
			memcpy(&fd, CMSG_DATA(c), sizeof fd);
			return fd;
		}
	return -1;
}

/* In the forked child: never returns. */
static void child(const struct kc_init_opts *o, const sigset_t *orig_mask, int sock)
{
	/* Default dispositions for the app: a signal ignored by whoever started
	 * the shim (a shell ignores SIGINT for background jobs) must still reach
	 * the app, since the shim forwards it. */
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	/* Its own process group, in the terminal's foreground when there is one
	 * (as tini does), so --pgroup reaches exactly the app's group. */
	setpgid(0, 0);
	if (isatty(STDIN_FILENO)) {
		signal(SIGTTOU, SIG_IGN);
		tcsetpgrp(STDIN_FILENO, getpgrp());
		signal(SIGTTOU, SIG_DFL);
	}
	if (sock >= 0) {
		int nfd = -1;
		cleanup_err kc_err_t err = NULL;
		if (kc_guard_install(o->policy.mode, &nfd, &err) < 0) {
			if (o->policy.mode == KC_GUARD_ENFORCE) {
				kc_err_print(err, "kctl-shim: guard", stderr);
				_exit(70);
			}
			/* audit: the app runs unguarded, and says so */
			kc_err_print(err, "kctl-shim: warning: guard not loaded", stderr);
		}
		send_fd(sock, nfd);
		if (nfd >= 0)
			close(nfd);
		close(sock);
	}
	sigprocmask(SIG_SETMASK, orig_mask, NULL);
	execvp(o->argv[0], o->argv);
	int e = errno;
	fprintf(stderr, "kctl-shim: exec %s: %s\n", o->argv[0], strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

struct loop {
	pid_t child;
	bool done;
	int status;
};

static void reap(struct loop *l)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0)
			return; /* no children left, or none exited */
		if (p == l->child) {
			l->done = true;
			l->status = st;
		}
	}
}

static void on_signals(struct loop *l, int sfd, const struct kc_init_opts *o, pid_t self)
{
	struct signalfd_siginfo si[16];
	ssize_t n = read(sfd, si, sizeof si);
	if (n <= 0)
		return;
	for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
		int sig = (int)si[i].ssi_signo;
		if (sig == SIGCHLD) {
			reap(l);
			continue;
		}
		/* A SIGPIPE we caused ourselves (writing a log line) is ours. */
		if ((pid_t)si[i].ssi_pid == self && si[i].ssi_code == SI_USER && sig == SIGPIPE)
			continue;
		if (!l->done)
			kill(o->pgroup ? -l->child : l->child, sig);
	}
}

int kc_init_run(const struct kc_init_opts *o, int *exit_code, kc_err_t *err)
{
	/* Orphans of the app become ours (a no-op for PID 1, which gets them anyway). */
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	sigset_t all, orig;
	sigfillset(&all);
	for (int s = 1; s < NSIG; s++)
		if (not_forwarded(s))
			sigdelset(&all, s);
	if (sigprocmask(SIG_BLOCK, &all, &orig) < 0)
		return kc_err_sys(err, errno, "sigprocmask");
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	cleanup_close int sfd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return kc_err_sys(err, errno, "signalfd");

	int sv[2] = {-1, -1};
	if (o->policy.mode != KC_GUARD_OFF &&
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return kc_err_sys(err, errno, "socketpair");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		if (sv[0] >= 0) {
			close(sv[0]);
			close(sv[1]);
		}
		return kc_err_sys(err, e, "fork");
	}
	if (pid == 0) {
		if (sv[0] >= 0)
			close(sv[0]);
		child(o, &orig, sv[1]);
	}

	/* From here on the app exists: no error of ours ends this process. */
	int nfd = -1;
	if (sv[0] >= 0) {
		close(sv[1]);
		nfd = recv_fd(sv[0]);
		close(sv[0]);
	}
	struct kc_guard g;
	cleanup_err kc_err_t gerr = NULL;
	if (kc_guard_init(&g, &o->policy, nfd, o->log, nfd >= 0 ? o->counts_path : NULL, &gerr) <
	    0) {
		kc_err_print(gerr, "kctl-shim: warning", stderr);
		/* Without buffers we cannot answer: closing the listener makes the
		 * filtered calls fail with ENOSYS rather than hang. */
		if (nfd >= 0)
			close(nfd);
		nfd = -1;
		g.notify_fd = -1;
	}
	kc_guard_flush(&g, true);

	struct loop l = {.child = pid};
	pid_t self = getpid();
	struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN},
				{.fd = g.notify_fd, .events = POLLIN}};
	while (!l.done) {
		int timeout = g.dirty && g.counts_path ? 250 : -1;
		int n = poll(pfd, 2, timeout);
		if (n < 0) {
			if (errno != EINTR)
				usleep(10000); /* should not happen; never spin, never exit */
			continue;
		}
		if (n == 0) {
			kc_guard_flush(&g, false);
			continue;
		}
		if (pfd[1].revents & POLLIN)
			kc_guard_handle_one(&g);
		else if (pfd[1].revents & (POLLHUP | POLLERR | POLLNVAL))
			pfd[1].fd = -1; /* no filtered task left */
		if (pfd[0].revents & POLLIN)
			on_signals(&l, sfd, o, self);
		kc_guard_flush(&g, false);
	}
	/* Zombies that are already there go too; live orphans are reaped by
	 * the kernel when PID 1 exits, or by our own parent otherwise. */
	reap(&l);
	kc_guard_flush(&g, true);
	kc_guard_fini(&g);
	*exit_code = kc_init_exit_code(l.status);
	return 0;
}
