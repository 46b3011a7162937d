/* The local state directory and locks in it: see state.h. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

int kc_mkdir_p(const char *dir, mode_t mode, kc_err_t *err)
{
	cleanup_free char *path = strdup(dir);
	if (!path)
		return kc_err_sys(err, ENOMEM, "creating %s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir(path, mode);
		int e = errno;
		*p = '/';
		if (r < 0 && e != EEXIST)
			return kc_err_sys(err, e, "creating %.*s", (int)(p - path), path);
	}
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return kc_err_sys(err, errno, "creating %s", path);
	return 0;
}

int kc_state_dir(char **out, kc_err_t *err)
{
	const char *v = getenv("KCTL_STATE_DIR");
	char *s = NULL;
	if (v && v[0] == '/') {
		s = strdup(v);
	} else if (geteuid() == 0) {
		s = strdup("/var/lib/kctl");
	} else if ((v = getenv("XDG_STATE_HOME")) && v[0] == '/') {
		if (asprintf(&s, "%s/kctl", v) < 0)
			s = NULL;
	} else if ((v = getenv("HOME")) && v[0] == '/') {
		if (asprintf(&s, "%s/.local/state/kctl", v) < 0)
			s = NULL;
	} else {
		return kc_err_new(err, KC_E_INVALID,
				  "no state directory: set KCTL_STATE_DIR or HOME to an absolute path");
	}
	if (!s)
		return kc_err_sys(err, ENOMEM, "state directory");
	*out = s;
	return 0;
}

int kc_state_path(const char *sub, char **out, kc_err_t *err)
{
	cleanup_free char *base = NULL;
	if (kc_state_dir(&base, err) < 0)
		return -1;
	char *path = NULL;
	if (sub ? asprintf(&path, "%s/%s", base, sub) < 0 : !(path = strdup(base)))
		return kc_err_sys(err, ENOMEM, "state directory");
	if (kc_mkdir_p(path, 0700, err) < 0) {
		free(path);
		return kc_err_wrap(err, "state directory");
	}
	*out = path;
	return 0;
}

int kc_state_lock(const char *name, int *fd_out, kc_err_t *err)
{
	for (const char *c = name; *c; c++)
		if (*c == '/' || (c == name && *c == '.'))
			return kc_err_new(err, KC_E_INVALID, "lock name \"%s\" is not a plain name",
					  name);
	cleanup_free char *dir = NULL;
	if (kc_state_path("locks", &dir, err) < 0)
		return -1;
	cleanup_free char *path = NULL;
	if (asprintf(&path, "%s/%s.lock", dir, name) < 0)
		return kc_err_sys(err, ENOMEM, "lock");
	cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return kc_err_sys(err, errno, "opening %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return kc_err_sys(err, errno, "locking %s", path);
		char holder[32] = "";
		ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		if (holder[0])
			return kc_err_new(err, KC_E_CONFLICT, "%s is locked by another kctl (pid %s)",
					  name, holder);
		return kc_err_new(err, KC_E_CONFLICT, "%s is locked by another kctl", name);
	}
	char pid[32];
	int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) < 0) {
		/* The pid is only a courtesy for the message above. */
	}
	*fd_out = kc_steal_fd(fd);
	return 0;
}

void kc_state_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
