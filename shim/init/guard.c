/* kctl-shim guard: seccomp filter and user-notification supervisor; see guard.h.
 *
 * Which calls are filtered, and how:
 * - open/openat: only when the flags ask for write access, O_CREAT or O_TRUNC
 *   (SCMP_CMP_MASKED_EQ in the kernel), so read-only opens never wake us.
 * - openat2 keeps its flags in a struct the filter cannot see: ENOSYS, and libc
 *   falls back to openat. fchmodat2 likewise.
 * - creat, truncate, unlink(at), rename(at)(2), mkdir(at), rmdir, mknod(at),
 *   chmod/fchmod/fchmodat, chown/lchown/fchown/fchownat, link(at),
 *   symlink(at), utime/utimes/futimesat/utimensat and the xattr setters and
 *   removers: always notified (they are rare in steady state).
 * - write/pwrite/ftruncate/fallocate on an already open fd are not filtered:
 *   the fd was checked when it was opened for writing.
 * - mount and friends, pivot_root, chroot, ptrace, module and kexec calls,
 *   clock setters and open_by_handle_at: notified so they can be logged, then
 *   refused with EPERM (enforce) or let through (audit). adjtimex and
 *   clock_adjtime with modes == 0 are read-only queries and pass silently. */
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/util.h"
#include "text.h"

#define AT_FD_NONE (-1)

enum sc_kind { SC_FILE, SC_DENY, SC_ADJTIME };

/* How to find the path(s) a mutating call touches. Argument indexes; -1 when
 * absent. dfd < 0 with a path means relative to the cwd; path < 0 means the
 * call works on the fd in dfd. */
struct sc_desc {
	const char *name;
	enum sc_kind kind;
	int dfd, path;	 /* the object mutated */
	int dfd2, path2; /* a second one (rename source) */
	bool follow;	 /* final symlink followed */
	int flags;	 /* arg holding O_NOFOLLOW (open*) or AT_SYMLINK_NOFOLLOW; -1 none */
	bool open_flags;
};

#define F(n, d, p, fol)                                                                            \
	{                                                                                          \
		n, SC_FILE, d, p, -1, -1, fol, -1, false                                           \
	}
#define D(n)                                                                                       \
	{                                                                                          \
		n, SC_DENY, -1, -1, -1, -1, false, -1, false                                       \
	}

static const struct sc_desc sc_table[] = {
    {"open", SC_FILE, -1, 0, -1, -1, true, 1, true},
    {"openat", SC_FILE, 0, 1, -1, -1, true, 2, true},
    F("creat", -1, 0, true),
    F("truncate", -1, 0, true),
    F("unlink", -1, 0, false),
    F("unlinkat", 0, 1, false),
    {"rename", SC_FILE, -1, 1, -1, 0, false, -1, false},
    {"renameat", SC_FILE, 2, 3, 0, 1, false, -1, false},
    {"renameat2", SC_FILE, 2, 3, 0, 1, false, -1, false},
    F("mkdir", -1, 0, false),
    F("mkdirat", 0, 1, false),
    F("rmdir", -1, 0, false),
    F("mknod", -1, 0, false),
    F("mknodat", 0, 1, false),
    F("chmod", -1, 0, true),
    F("fchmod", 0, -1, false),
    F("fchmodat", 0, 1, true),
    F("chown", -1, 0, true),
    F("lchown", -1, 0, false),
    F("fchown", 0, -1, false),
    {"fchownat", SC_FILE, 0, 1, -1, -1, true, 4, false},
    F("link", -1, 1, false),
    F("linkat", 2, 3, false),
    F("symlink", -1, 1, false),
    F("symlinkat", 1, 2, false),
    F("utime", -1, 0, true),
    F("utimes", -1, 0, true),
    F("futimesat", 0, 1, true),
    {"utimensat", SC_FILE, 0, 1, -1, -1, true, 3, false},
    F("setxattr", -1, 0, true),
    F("lsetxattr", -1, 0, false),
    F("fsetxattr", 0, -1, false),
    F("removexattr", -1, 0, true),
    F("lremovexattr", -1, 0, false),
    F("fremovexattr", 0, -1, false),
    D("mount"),
    D("umount"),
    D("umount2"),
    D("pivot_root"),
    D("chroot"),
    D("ptrace"),
    D("init_module"),
    D("finit_module"),
    D("delete_module"),
    D("kexec_load"),
    D("kexec_file_load"),
    D("settimeofday"),
    D("stime"),
    D("clock_settime"),
    {"adjtimex", SC_ADJTIME, -1, 0, -1, -1, false, -1, false},
    {"clock_adjtime", SC_ADJTIME, -1, 1, -1, -1, false, -1, false},
    D("fsopen"),
    D("fsconfig"),
    D("fsmount"),
    D("fspick"),
    D("move_mount"),
    D("open_tree"),
    D("mount_setattr"),
    D("open_by_handle_at"),
};

#undef F
#undef D

static const size_t sc_count = sizeof sc_table / sizeof sc_table[0];

int kc_guard_parse_mode(const char *s, enum kc_guard_mode *out, kc_err_t *err)
{
	if (!strcmp(s, "off"))
		*out = KC_GUARD_OFF;
	else if (!strcmp(s, "audit"))
		*out = KC_GUARD_AUDIT;
	else if (!strcmp(s, "enforce"))
		*out = KC_GUARD_ENFORCE;
	else
		return kc_err_new(err, KC_E_USAGE, "--guard: want off, audit or enforce, got '%s'",
				  s);
	return 0;
}

const char *kc_guard_mode_name(enum kc_guard_mode m)
{
	switch (m) {
	case KC_GUARD_OFF:
		return "off";
	case KC_GUARD_AUDIT:
		return "audit";
	case KC_GUARD_ENFORCE:
		return "enforce";
	}
	return "?";
}

/* ---- filter ---------------------------------------------------------------- */

static void seccomp_releasep(scmp_filter_ctx *c)
{
	if (*c)
		seccomp_release(*c);
}

/* Adds open-style rules: notify when (flags & O_ACCMODE) != O_RDONLY, or
 * O_CREAT, or O_TRUNC; several rules for one call are OR'ed. */
static int add_open_rules(scmp_filter_ctx ctx, int nr, unsigned arg)
{
	static const struct {
		scmp_datum_t mask, val;
	} m[] = {
	    {O_ACCMODE, O_WRONLY}, {O_ACCMODE, O_RDWR}, {O_ACCMODE, O_ACCMODE},
	    {O_CREAT, O_CREAT},	   {O_TRUNC, O_TRUNC},
	};
	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
		struct scmp_arg_cmp c = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, m[i].mask, m[i].val);
		int rc = seccomp_rule_add_array(ctx, SCMP_ACT_NOTIFY, nr, 1, &c);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int build_ctx(scmp_filter_ctx ctx, kc_err_t *err)
{
	/* 32-bit x86 calls reach the same kernel: filter them too, so int 0x80
	 * is no way around the guard (best effort: absent arches are skipped). */
	if (seccomp_arch_native() == SCMP_ARCH_X86_64)
		seccomp_arch_add(ctx, SCMP_ARCH_X86);
	int rc;
	for (size_t i = 0; i < sc_count; i++) {
		const struct sc_desc *d = &sc_table[i];
		int nr = seccomp_syscall_resolve_name(d->name);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if (d->open_flags)
			rc = add_open_rules(ctx, nr, (unsigned)d->flags);
		else
			rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, nr, 0);
		/* -EDOM/-EOPNOTSUPP: a pseudo-call that no arch in the filter has */
		if (rc < 0 && rc != -EDOM && rc != -EOPNOTSUPP)
			return kc_err_sys(err, -rc, "seccomp: rule for %s", d->name);
	}
	static const char *const enosys[] = {"openat2", "fchmodat2"};
	for (size_t i = 0; i < 2; i++) {
		int nr = seccomp_syscall_resolve_name(enosys[i]);
		if (nr == __NR_SCMP_ERROR && i == 1 && seccomp_arch_native() == SCMP_ARCH_X86_64)
			nr = 452; /* fchmodat2 is newer than this libseccomp */
		if (nr == __NR_SCMP_ERROR)
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
		if (rc < 0 && rc != -EDOM && rc != -EOPNOTSUPP && rc != -EFAULT)
			return kc_err_sys(err, -rc, "seccomp: rule for %s", enosys[i]);
	}
	return 0;
}

int kc_guard_filter_build(struct sock_filter **prog, size_t *len, kc_err_t *err)
{
	*prog = NULL;
	*len = 0;
	__attribute__((cleanup(seccomp_releasep))) scmp_filter_ctx ctx =
	    seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return kc_err_new(err, KC_E_GENERIC, "seccomp_init failed");
	if (build_ctx(ctx, err) < 0)
		return -1;
	/* This libseccomp exports to an fd only; a memfd keeps it off the disk. */
	cleanup_close int fd = memfd_create("kctl-shim-bpf", MFD_CLOEXEC);
	if (fd < 0)
		return kc_err_sys(err, errno, "memfd_create");
	int rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		return kc_err_sys(err, -rc, "seccomp: exporting the filter");
	off_t size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
		return kc_err_new(err, KC_E_GENERIC, "seccomp: exported filter has %lld bytes",
				  (long long)size);
	cleanup_free struct sock_filter *p = malloc((size_t)size);
	if (!p)
		return kc_err_sys(err, ENOMEM, "seccomp filter");
	if (pread(fd, p, (size_t)size, 0) != size)
		return kc_err_sys(err, errno ? errno : EIO, "seccomp: reading the filter back");
	*len = (size_t)size / sizeof *p;
	*prog = kc_steal(p);
	return 0;
}

int kc_guard_load(const struct sock_filter *prog, size_t len, int *notify_fd, kc_err_t *err)
{
	*notify_fd = -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return kc_err_sys(err, errno, "seccomp: no_new_privs");
	struct sock_fprog fprog = {.len = (unsigned short)len, .filter = (struct sock_filter *)prog};
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
			  &fprog);
	if (fd < 0)
		return kc_err_sys(err, errno, "seccomp: loading the filter");
	*notify_fd = (int)fd;
	return 0;
}

/* ---- path policy (pure) ---------------------------------------------------- */

int kc_path_join_norm(const char *base, const char *path, char *out, size_t outlen)
{
	char tmp[PATH_MAX * 2 + 2];
	int n;
	if (path[0] == '/' || !base)
		n = snprintf(tmp, sizeof tmp, "%s", path);
	else
		n = snprintf(tmp, sizeof tmp, "%s/%s", base, path);
	if (n < 0 || (size_t)n >= sizeof tmp || tmp[0] != '/')
		return -1;
	/* Component by component into out, popping on "..". */
	size_t o = 0;
	const char *p = tmp;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == 1 && p[0] == '.') {
			/* skip */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the slash */
		} else {
			if (o + 1 + len + 1 > outlen)
				return -1;
			out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
	}
	if (o == 0) {
		if (outlen < 2)
			return -1;
		out[o++] = '/';
	}
	out[o] = '\0';
	return 0;
}

bool kc_path_under(const char *path, const char *dir)
{
	if (!strcmp(dir, "/"))
		return path[0] == '/';
	size_t n = strlen(dir);
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

enum kc_guard_verdict kc_guard_decide(const struct kc_guard_policy *p, const char *path)
{
	enum kc_guard_verdict outside = p->mode == KC_GUARD_ENFORCE ? KC_V_DENY : KC_V_AUDIT;
	if (p->mode == KC_GUARD_OFF)
		return KC_V_ALLOW;
	/* The baseline and counters must not be rewritten by the app they judge. */
	if (p->protect && kc_path_under(path, p->protect))
		return outside;
	/* Kernel interfaces, not the image: /dev/null, /proc/self/..., /sys. */
	static const char *const kernel[] = {"/dev", "/proc", "/sys"};
	for (size_t i = 0; i < 3; i++)
		if (kc_path_under(path, kernel[i]))
			return KC_V_ALLOW;
	for (size_t i = 0; i < p->n_writable; i++)
		if (kc_path_under(path, p->writable[i]))
			return KC_V_ALLOW;
	return outside;
}

/* ---- supervisor ------------------------------------------------------------ */

static void iso_time(char *buf, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char sec[32];
	strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", sec, ts.tv_nsec / 1000000);
}

int kc_guard_init(struct kc_guard *g, const struct kc_guard_policy *p, int notify_fd, FILE *log,
		  const char *counts_path, kc_err_t *err)
{
	memset(g, 0, sizeof *g);
	g->policy = *p;
	g->notify_fd = notify_fd;
	g->log = log;
	g->counts_path = counts_path;
	g->dirty = true;
	struct seccomp_notif *req = NULL;
	struct seccomp_notif_resp *resp = NULL;
	if (notify_fd >= 0) {
		int rc = seccomp_notify_alloc(&req, &resp);
		if (rc < 0)
			return kc_err_sys(err, -rc, "seccomp_notify_alloc");
	}
	g->req = req;
	g->resp = resp;
	return 0;
}

void kc_guard_fini(struct kc_guard *g)
{
	if (g->req || g->resp)
		seccomp_notify_free(g->req, g->resp);
	g->req = g->resp = NULL;
	if (g->notify_fd >= 0)
		close(g->notify_fd);
	g->notify_fd = -1;
}

char *kc_guard_counts_json(const struct kc_guard *g)
{
	cleanup_jgen yajl_gen j = kc_jgen_new(false);
	if (!j)
		return NULL;
	char when[64];
	iso_time(when, sizeof when);
	yajl_gen_map_open(j);
	kc_jgen_kv_str(j, "mode", kc_guard_mode_name(g->policy.mode));
	kc_jgen_kv_int(j, "notifications", (int64_t)g->counts.notifications);
	kc_jgen_kv_int(j, "allowed", (int64_t)g->counts.allowed);
	kc_jgen_kv_int(j, "audited", (int64_t)g->counts.audited);
	kc_jgen_kv_int(j, "denied", (int64_t)g->counts.denied);
	kc_jgen_kv_int(j, "errors", (int64_t)g->counts.errors);
	kc_jgen_kv_str(j, "updated", when);
	yajl_gen_map_close(j);
	return kc_jgen_finish(j, NULL);
}

void kc_guard_flush(struct kc_guard *g, bool force)
{
	if (!g->counts_path || !g->dirty)
		return;
	int64_t now = kc_mono_ms();
	if (!force && now - g->last_flush_ms < 200)
		return;
	cleanup_free char *s = kc_guard_counts_json(g);
	if (!s)
		return;
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", g->counts_path) >= (int)sizeof tmp)
		return;
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return; /* the counters are a convenience; the guard goes on */
	size_t len = strlen(s);
	if (write(fd, s, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		return;
	if (rename(tmp, g->counts_path) == 0) {
		g->dirty = false;
		g->last_flush_ms = now;
	}
}

/* Reads a NUL-terminated string at addr in the target, page by page so an
 * unmapped page after a short string does not fail the read. */
static int read_remote_str(int memfd, uint64_t addr, char *out, size_t outlen)
{
	size_t got = 0;
	while (got < outlen - 1) {
		uint64_t a = addr + got;
		size_t page_left = 4096 - (size_t)(a & 4095);
		size_t want = outlen - 1 - got;
		if (want > page_left)
			want = page_left;
		ssize_t n = pread(memfd, out + got, want, (off_t)a);
		if (n <= 0)
			return -1;
		void *nul = memchr(out + got, '\0', (size_t)n);
		if (nul)
			return 0;
		got += (size_t)n;
	}
	return -1; /* longer than PATH_MAX */
}

/* The path an fd (or the cwd, for fd == AT_FDCWD) of the target refers to.
 * Returns 1 when it is not a filesystem path (pipe, socket, memfd...). */
static int remote_fd_path(pid_t pid, int fd, char *out, size_t outlen)
{
	char link[64];
	if (fd == AT_FDCWD)
		snprintf(link, sizeof link, "/proc/%d/cwd", (int)pid);
	else
		snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, fd);
	ssize_t n = readlink(link, out, outlen - 1);
	if (n < 0)
		return -1;
	out[n] = '\0';
	if (out[0] != '/' || !strncmp(out, "/memfd:", 7))
		return 1;
	static const char deleted[] = " (deleted)";
	size_t dl = sizeof deleted - 1;
	if ((size_t)n > dl && !strcmp(out + n - dl, deleted))
		out[n - dl] = '\0';
	return 0;
}

/* Canonical path of an object: the directory part through realpath (so a
 * symlinked directory is judged by where it leads), the final component
 * followed too when the call follows it and it exists. */
static void canonicalize(const char *abs, bool follow, char *out, size_t outlen)
{
	char buf[PATH_MAX];
	if (follow && realpath(abs, buf)) {
		snprintf(out, outlen, "%s", buf);
		return;
	}
	const char *slash = strrchr(abs, '/');
	char dir[PATH_MAX];
	size_t dl = (size_t)(slash - abs);
	if (dl == 0 || dl >= sizeof dir) {
		snprintf(out, outlen, "%s", abs);
		return;
	}
	memcpy(dir, abs, dl);
	dir[dl] = '\0';
	if (!realpath(dir, buf)) {
		snprintf(out, outlen, "%s", abs);
		return;
	}
	int n = snprintf(out, outlen, "%s%s", strcmp(buf, "/") ? buf : "", slash);
	if (n < 0 || (size_t)n >= outlen)
		snprintf(out, outlen, "%s", abs); /* too long: judge the lexical path */
}

/* Resolves one (dfd, path) pair of the request into a canonical path.
 * Returns 0 ok, 1 not a filesystem object (allow), -1 could not tell. */
static int resolve_obj(const struct seccomp_notif *req, int memfd, int dfd_arg, int path_arg,
		       bool follow, char *out, size_t outlen)
{
	pid_t pid = (pid_t)req->pid;
	int dfd = dfd_arg >= 0 ? (int)(int32_t)req->data.args[dfd_arg] : AT_FDCWD;
	char rel[PATH_MAX];
	rel[0] = '\0';
	if (path_arg >= 0 && req->data.args[path_arg] != 0) {
		if (memfd < 0 || read_remote_str(memfd, req->data.args[path_arg], rel, sizeof rel))
			return -1;
	}
	char base[PATH_MAX];
	char abs[PATH_MAX];
	if (rel[0] == '/') {
		if (kc_path_join_norm(NULL, rel, abs, sizeof abs))
			return -1;
	} else {
		int r = remote_fd_path(pid, dfd, base, sizeof base);
		if (r != 0)
			return r;
		if (kc_path_join_norm(base, rel[0] ? rel : ".", abs, sizeof abs))
			return -1;
	}
	/* /proc/self in the target is not /proc/self in the supervisor. */
	char fixed[PATH_MAX];
	if (kc_path_under(abs, "/proc/self") || kc_path_under(abs, "/proc/thread-self")) {
		const char *rest = abs + (kc_path_under(abs, "/proc/self") ? 10 : 17);
		snprintf(fixed, sizeof fixed, "/proc/%d%s", (int)pid, rest);
		snprintf(abs, sizeof abs, "%s", fixed);
	}
	canonicalize(abs, follow, out, outlen);
	return 0;
}

static const struct sc_desc *find_desc(const struct seccomp_notif *req)
{
	char *name = seccomp_syscall_resolve_num_arch(req->data.arch, req->data.nr);
	if (!name)
		return NULL;
	const struct sc_desc *d = NULL;
	for (size_t i = 0; i < sc_count; i++)
		if (!strcmp(sc_table[i].name, name)) {
			d = &sc_table[i];
			break;
		}
	/* 32-bit names for the same operations */
	if (!d) {
		static const char *const alias[][2] = {
		    {"chown32", "chown"}, {"lchown32", "lchown"}, {"fchown32", "fchown"}};
		for (size_t i = 0; i < 3 && !d; i++)
			if (!strcmp(name, alias[i][0]))
				for (size_t k = 0; k < sc_count; k++)
					if (!strcmp(sc_table[k].name, alias[i][1]))
						d = &sc_table[k];
	}
	free(name);
	return d;
}

static void log_decision(struct kc_guard *g, const struct seccomp_notif *req, const char *sc,
			 const char *path, const char *path2, const char *verdict, int errnum,
			 const char *note)
{
	if (!g->log)
		return;
	cleanup_jgen yajl_gen j = kc_jgen_new(false);
	if (!j)
		return;
	char when[64];
	iso_time(when, sizeof when);
	yajl_gen_map_open(j);
	kc_jgen_kv_str(j, "time", when);
	kc_jgen_kv_str(j, "source", "kctl-shim");
	kc_jgen_kv_str(j, "event", "guard");
	kc_jgen_kv_int(j, "pid", (int64_t)req->pid);
	kc_jgen_kv_str(j, "syscall", sc);
	cleanup_free char *sp = path ? kc_utf8_sanitize(path) : NULL;
	cleanup_free char *sp2 = path2 ? kc_utf8_sanitize(path2) : NULL;
	kc_jgen_kv_str(j, "path", sp);
	if (sp2)
		kc_jgen_kv_str(j, "path2", sp2);
	kc_jgen_kv_str(j, "verdict", verdict);
	kc_jgen_kv_str(j, "mode", kc_guard_mode_name(g->policy.mode));
	if (errnum)
		kc_jgen_kv_str(j, "errno", errnum == EROFS ? "EROFS" : "EPERM");
	if (note)
		kc_jgen_kv_str(j, "note", note);
	yajl_gen_map_close(j);
	cleanup_free char *s = kc_jgen_finish(j, NULL);
	if (s) {
		fprintf(g->log, "%s\n", s);
		fflush(g->log);
	}
}

static int open_mem(pid_t pid)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/mem", (int)pid);
	return open(p, O_RDONLY | O_CLOEXEC);
}

/* Decides one request; fills resp. Everything it needs from the target is
 * read before the id is checked again, so a decision is never made on data
 * from a recycled pid. Returns false when the request is gone. */
static bool decide(struct kc_guard *g, const struct seccomp_notif *req,
		   struct seccomp_notif_resp *resp)
{
	const struct sc_desc *d = find_desc(req);
	resp->id = req->id;
	resp->val = 0;
	resp->error = 0;
	resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	char scname[32];
	snprintf(scname, sizeof scname, "%s", d ? d->name : "unknown");
	if (!d) {
		/* Not one of ours (cannot happen with our filter): let the kernel judge. */
		g->counts.errors++;
		return true;
	}
	bool enforce = g->policy.mode == KC_GUARD_ENFORCE;
	if (d->kind == SC_DENY || d->kind == SC_ADJTIME) {
		if (d->kind == SC_ADJTIME) {
			cleanup_close int memfd = open_mem((pid_t)req->pid);
			uint32_t modes = 1;
			if (memfd >= 0 && pread(memfd, &modes, sizeof modes,
						(off_t)req->data.args[d->path]) != sizeof modes)
				modes = 1;
			if (seccomp_notify_id_valid(g->notify_fd, req->id) < 0)
				return false;
			if (modes == 0) { /* a query, not a change */
				g->counts.allowed++;
				return true;
			}
		}
		if (enforce) {
			resp->flags = 0;
			resp->error = -EPERM;
			g->counts.denied++;
			log_decision(g, req, scname, NULL, NULL, "denied", EPERM, NULL);
		} else {
			g->counts.audited++;
			log_decision(g, req, scname, NULL, NULL, "audit", 0, NULL);
		}
		return true;
	}

	cleanup_close int memfd = open_mem((pid_t)req->pid);
	bool follow = d->follow;
	if (d->flags >= 0) {
		uint64_t f = req->data.args[d->flags];
		if (d->open_flags ? (f & O_NOFOLLOW) : (f & AT_SYMLINK_NOFOLLOW))
			follow = false;
	}
	char p1[PATH_MAX], p2[PATH_MAX];
	int r1 = resolve_obj(req, memfd, d->dfd, d->path, follow, p1, sizeof p1);
	int r2 = 1;
	if (d->path2 >= 0)
		r2 = resolve_obj(req, memfd, d->dfd2, d->path2, false, p2, sizeof p2);
	if (seccomp_notify_id_valid(g->notify_fd, req->id) < 0)
		return false;

	int errnum = EROFS;
	if (r1 < 0 || r2 < 0) {
		/* Unreadable path (bad pointer, vanished fd, no ptrace access):
		 * fail closed in enforce, let the kernel answer in audit. */
		g->counts.errors++;
		if (enforce) {
			resp->flags = 0;
			resp->error = -errnum;
			g->counts.denied++;
		} else {
			g->counts.audited++;
		}
		log_decision(g, req, scname, r1 == 0 ? p1 : NULL, r2 == 0 ? p2 : NULL,
			     enforce ? "denied" : "audit", enforce ? errnum : 0,
			     "path could not be resolved");
		return true;
	}
	enum kc_guard_verdict v1 = r1 == 0 ? kc_guard_decide(&g->policy, p1) : KC_V_ALLOW;
	enum kc_guard_verdict v2 = r2 == 0 ? kc_guard_decide(&g->policy, p2) : KC_V_ALLOW;
	enum kc_guard_verdict v = v1 > v2 ? v1 : v2;
	const char *path = v1 >= v2 ? (r1 == 0 ? p1 : NULL) : p2;
	const char *other = NULL;
	if (r2 == 0)
		other = path == p2 ? (r1 == 0 ? p1 : NULL) : p2;
	switch (v) {
	case KC_V_ALLOW:
		g->counts.allowed++;
		break;
	case KC_V_AUDIT:
		g->counts.audited++;
		log_decision(g, req, scname, path, other, "audit", 0, NULL);
		break;
	case KC_V_DENY:
		resp->flags = 0;
		resp->error = -errnum;
		g->counts.denied++;
		log_decision(g, req, scname, path, other, "denied", errnum, NULL);
		break;
	}
	return true;
}

void kc_guard_handle_one(struct kc_guard *g)
{
	struct seccomp_notif *req = g->req;
	struct seccomp_notif_resp *resp = g->resp;
	if (g->notify_fd < 0 || !req)
		return;
	/* The kernel wants a zeroed buffer. */
	memset(req, 0, sizeof *req);
	if (seccomp_notify_receive(g->notify_fd, req) < 0)
		return; /* EINTR, or the target died before we looked (ENOENT) */
	g->counts.notifications++;
	g->dirty = true;
	memset(resp, 0, sizeof *resp);
	if (!decide(g, req, resp))
		return;
	/* ENOENT here means the target was interrupted meanwhile: nothing to do. */
	(void)seccomp_notify_respond(g->notify_fd, resp);
}
