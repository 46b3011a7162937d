/* kctl-shim baseline: walk, hash, write, parse and diff; see baseline.h. */
#include "baseline.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/sha256.h"
#include "text.h"

#define MAX_DEPTH 256
#define HASH_CHUNK (1u << 20)

void kc_baseline_free(struct kc_baseline *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->e[i].path);
	free(b->e);
	for (size_t i = 0; i < b->n_skip; i++)
		free(b->skip[i]);
	free(b->skip);
	free(b->root);
	memset(b, 0, sizeof *b);
}

static int push_entry(struct kc_baseline *b, struct kc_bl_entry *e, kc_err_t *err)
{
	if (b->n >= KC_BL_MAX_ENTRIES)
		return kc_err_new(err, KC_E_TOOBIG, "more than %u entries", KC_BL_MAX_ENTRIES);
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		struct kc_bl_entry *ne = realloc(b->e, cap * sizeof *ne);
		if (!ne)
			return kc_err_sys(err, ENOMEM, "baseline");
		b->e = ne;
		b->cap = cap;
	}
	b->e[b->n++] = *e;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct kc_bl_entry *)a)->path, ((const struct kc_bl_entry *)b)->path);
}

static const struct kc_bl_entry *find_entry(const struct kc_baseline *b, const char *path)
{
	if (!b || !b->n)
		return NULL;
	struct kc_bl_entry key = {.path = (char *)path};
	return bsearch(&key, b->e, b->n, sizeof key, cmp_entry);
}

static char type_char(mode_t m)
{
	if (S_ISREG(m))
		return 'f';
	if (S_ISDIR(m))
		return 'd';
	if (S_ISLNK(m))
		return 'l';
	if (S_ISCHR(m))
		return 'c';
	if (S_ISBLK(m))
		return 'b';
	if (S_ISFIFO(m))
		return 'p';
	return 's';
}

/* ---- walk ------------------------------------------------------------------ */

struct walker {
	const struct kc_bl_walk_opts *o;
	struct kc_baseline *out;
	struct kc_bl_walk_stats *st;
	dev_t dev;
	char path[PATH_MAX]; /* relative to root, starting with "/" ("" for the root) */
};

static bool skipped(const struct walker *w, const char *rel)
{
	for (size_t i = 0; i < w->o->n_skip; i++)
		if (!strcmp(rel, w->o->skip[i]))
			return true;
	return false;
}

static int record(struct walker *w, const char *rel, const struct stat *sb, kc_err_t *err)
{
	struct kc_bl_entry e = {0};
	e.path = strdup(rel[0] ? rel : "/");
	if (!e.path)
		return kc_err_sys(err, ENOMEM, "baseline");
	e.type = type_char(sb->st_mode);
	e.mode = sb->st_mode & 07777;
	e.uid = sb->st_uid;
	e.gid = sb->st_gid;
	e.size = e.type == 'd' ? 0 : (uint64_t)sb->st_size; /* dir sizes are fs noise */
	e.mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	e.ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
	e.ino = sb->st_ino;
	if (push_entry(w->out, &e, err) < 0) {
		free(e.path);
		return -1;
	}
	if (e.type == 'f')
		w->st->files++;
	else if (e.type == 'd')
		w->st->dirs++;
	else
		w->st->others++;
	return 0;
}

static int walk_dir(struct walker *w, int dfd, size_t plen, int depth, kc_err_t *err)
{
	if (depth > MAX_DEPTH)
		return kc_err_new(err, KC_E_TOOBIG, "%s: deeper than %d levels", w->path,
				  MAX_DEPTH);
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		w->st->errors++;
		return 0;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
			continue;
		size_t nl = strlen(n);
		if (plen + 1 + nl + 1 > sizeof w->path) {
			w->st->errors++;
			continue;
		}
		w->path[plen] = '/';
		memcpy(w->path + plen + 1, n, nl + 1);
		if (skipped(w, w->path))
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), n, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			w->st->errors++; /* vanished meanwhile */
			continue;
		}
		if (sb.st_dev != w->dev)
			continue; /* another filesystem: volumes, /etc/hosts binds, tmpfs */
		if ((rc = record(w, w->path, &sb, err)) < 0)
			break;
		if (S_ISDIR(sb.st_mode)) {
			int cfd =
			    openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				w->st->errors++;
				continue;
			}
			if ((rc = walk_dir(w, cfd, plen + 1 + nl, depth + 1, err)) < 0)
				break;
		}
	}
	w->path[plen] = '\0';
	closedir(d);
	return rc;
}

/* ---- hashing (parallel over the sorted entries) ---------------------------- */

struct hasher {
	struct kc_baseline *b;
	const char *root;
	atomic_size_t next;
	atomic_uint_fast64_t hashed_files, hashed_bytes, errors;
};

static int hash_entry(struct hasher *h, struct kc_bl_entry *e, uint8_t *buf)
{
	char full[PATH_MAX * 2];
	snprintf(full, sizeof full, "%s%s", strcmp(h->root, "/") ? h->root : "", e->path);
	struct kc_sha256 *s = NULL;
	if (kc_sha256_new(&s, NULL) < 0)
		return -1;
	uint64_t total = 0;
	if (e->type == 'l') {
		ssize_t n = readlink(full, (char *)buf, HASH_CHUNK);
		if (n < 0) {
			kc_sha256_free(s);
			return -1;
		}
		kc_sha256_update(s, buf, (size_t)n);
	} else {
		int fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			kc_sha256_free(s);
			return -1;
		}
		struct stat sb;
		if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			close(fd);
			kc_sha256_free(s);
			return -1;
		}
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		for (;;) {
			ssize_t n = read(fd, buf, HASH_CHUNK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				close(fd);
				kc_sha256_free(s);
				return -1;
			}
			if (n == 0)
				break;
			kc_sha256_update(s, buf, (size_t)n);
			total += (uint64_t)n;
		}
		close(fd);
	}
	kc_sha256_final(s, e->sha);
	kc_sha256_free(s);
	e->has_sha = true;
	atomic_fetch_add(&h->hashed_files, 1);
	atomic_fetch_add(&h->hashed_bytes, total);
	return 0;
}

static void *hash_worker(void *arg)
{
	struct hasher *h = arg;
	uint8_t *buf = malloc(HASH_CHUNK);
	if (!buf)
		return NULL;
	for (;;) {
		size_t i = atomic_fetch_add(&h->next, 1);
		if (i >= h->b->n)
			break;
		struct kc_bl_entry *e = &h->b->e[i];
		if ((e->type == 'f' || e->type == 'l') && !e->has_sha && hash_entry(h, e, buf) < 0)
			atomic_fetch_add(&h->errors, 1);
	}
	free(buf);
	return NULL;
}

int kc_baseline_walk(const struct kc_bl_walk_opts *o, struct kc_baseline *out,
		     struct kc_bl_walk_stats *stats, kc_err_t *err)
{
	struct kc_bl_walk_stats local = {0};
	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof *stats);
	memset(out, 0, sizeof *out);
	if (o->root[0] != '/')
		return kc_err_new(err, KC_E_INVALID, "baseline root must be absolute: %s", o->root);
	if (o->n_skip > KC_BL_MAX_SKIPS)
		return kc_err_new(err, KC_E_TOOBIG, "too many skipped paths");
	out->root = strdup(o->root);
	out->skip = calloc(o->n_skip + 1, sizeof *out->skip);
	if (!out->root || !out->skip) {
		kc_baseline_free(out);
		return kc_err_sys(err, ENOMEM, "baseline");
	}
	for (size_t i = 0; i < o->n_skip; i++) {
		if (!(out->skip[i] = strdup(o->skip[i]))) {
			kc_baseline_free(out);
			return kc_err_sys(err, ENOMEM, "baseline");
		}
		out->n_skip++;
	}
	out->created = (int64_t)time(NULL);

	int rfd = open(o->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0) {
		kc_baseline_free(out);
		return kc_err_sys(err, errno, "baseline: open %s", o->root);
	}
	struct stat rsb;
	if (fstat(rfd, &rsb) < 0) {
		int e = errno;
		close(rfd);
		kc_baseline_free(out);
		return kc_err_sys(err, e, "baseline: stat %s", o->root);
	}
	struct walker *w = calloc(1, sizeof *w);
	if (!w) {
		close(rfd);
		kc_baseline_free(out);
		return kc_err_sys(err, ENOMEM, "baseline");
	}
	w->o = o;
	w->out = out;
	w->st = stats;
	w->dev = rsb.st_dev;
	int rc = record(w, "", &rsb, err);
	if (rc == 0)
		rc = walk_dir(w, rfd, 0, 0, err); /* takes rfd */
	else
		close(rfd);
	free(w);
	if (rc < 0) {
		kc_baseline_free(out);
		return kc_err_wrap(err, "baseline: walking %s", o->root);
	}
	qsort(out->e, out->n, sizeof *out->e, cmp_entry);

	/* Unchanged size, times and inode: the content is taken to be unchanged. */
	for (size_t i = 0; i < out->n && o->prev; i++) {
		struct kc_bl_entry *e = &out->e[i];
		const struct kc_bl_entry *p = find_entry(o->prev, e->path);
		if (p && p->has_sha && p->type == e->type && p->size == e->size &&
		    p->mtime_ns == e->mtime_ns && p->ctime_ns == e->ctime_ns && p->ino == e->ino) {
			memcpy(e->sha, p->sha, 32);
			e->has_sha = true;
			stats->reused++;
		}
	}

	struct hasher h = {.b = out, .root = o->root};
	unsigned nt = o->threads;
	if (nt == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		nt = c < 1 ? 1 : c > 4 ? 4 : (unsigned)c;
	}
	pthread_t tids[16];
	if (nt > 16)
		nt = 16;
	unsigned started = 0;
	for (unsigned i = 1; i < nt; i++)
		if (pthread_create(&tids[started], NULL, hash_worker, &h) == 0)
			started++;
	hash_worker(&h);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	stats->hashed_files = atomic_load(&h.hashed_files);
	stats->hashed_bytes = atomic_load(&h.hashed_bytes);
	stats->errors += atomic_load(&h.errors);
	return 0;
}

/* ---- file format ----------------------------------------------------------- */

static void put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\t')
			fputs("\\t", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

int kc_baseline_write(const struct kc_baseline *b, const char *path, kc_err_t *err)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return kc_err_new(err, KC_E_INVALID, "path too long: %s", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return kc_err_sys(err, errno, "open %s", tmp);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return kc_err_sys(err, errno, "fdopen %s", tmp);
	}
	/* A big buffer: one write per 1 MiB, not per line. */
	cleanup_free char *iobuf = malloc(1 << 20);
	if (iobuf)
		setvbuf(f, iobuf, _IOFBF, 1 << 20);
	fputs("kctl-shim-baseline 1\nroot\t", f);
	put_escaped(f, b->root);
	fputc('\n', f);
	for (size_t i = 0; i < b->n_skip; i++) {
		fputs("skip\t", f);
		put_escaped(f, b->skip[i]);
		fputc('\n', f);
	}
	fprintf(f, "created\t%" PRId64 "\n", b->created);
	for (size_t i = 0; i < b->n; i++) {
		const struct kc_bl_entry *e = &b->e[i];
		char hex[KC_SHA256_HEX_LEN + 1] = "-";
		if (e->has_sha)
			kc_sha256_hex(e->sha, hex);
		fprintf(f,
			"e\t%c\t%o\t%u\t%u\t%" PRIu64 "\t%" PRId64 "\t%" PRId64 "\t%" PRIu64
			"\t%s\t",
			e->type, e->mode, e->uid, e->gid, e->size, e->mtime_ns, e->ctime_ns, e->ino,
			hex);
		put_escaped(f, e->path);
		fputc('\n', f);
	}
	int bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		unlink(tmp);
		return kc_err_sys(err, errno ? errno : EIO, "writing %s", tmp);
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return kc_err_sys(err, e, "rename %s", path);
	}
	return 0;
}

/* Copies an escaped field [s, s+len) into a new string. NUL bytes and unknown
 * escapes are errors. */
static char *unescape(const char *s, size_t len)
{
	char *o = malloc(len + 1);
	if (!o)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\0')
			goto bad;
		if (c == '\\') {
			if (++i >= len)
				goto bad;
			c = s[i] == '\\' ? '\\' : s[i] == 't' ? '\t' : s[i] == 'n' ? '\n' : 0;
			if (!c)
				goto bad;
		}
		o[k++] = c;
	}
	o[k] = '\0';
	return o;
bad:
	free(o);
	return NULL;
}

static bool parse_u64(const char *s, size_t len, int base, uint64_t max, uint64_t *out)
{
	if (len == 0 || len > 24)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned d;
		if (s[i] >= '0' && s[i] <= '9')
			d = (unsigned)(s[i] - '0');
		else
			return false;
		if (d >= (unsigned)base)
			return false;
		if (v > (max - d) / (uint64_t)base)
			return false;
		v = v * (uint64_t)base + d;
	}
	*out = v;
	return true;
}

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
	bool neg = len > 0 && s[0] == '-';
	uint64_t v;
	if (!parse_u64(s + neg, len - neg, 10, (uint64_t)INT64_MAX, &v))
		return false;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

#define MAX_FIELDS 12

/* Splits [line, line+len) on TABs; returns the field count or -1 when more
 * than max. */
static int split(const char *line, size_t len, const char **f, size_t *fl, int max)
{
	int n = 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || line[i] == '\t') {
			if (n == max)
				return -1;
			f[n] = line + start;
			fl[n] = i - start;
			n++;
			start = i + 1;
		}
	}
	return n;
}

static bool field_is(const char *f, size_t fl, const char *s)
{
	return fl == strlen(s) && !memcmp(f, s, fl);
}

static int parse_entry(const char **f, const size_t *fl, struct kc_bl_entry *e)
{
	uint64_t v;
	if (fl[1] != 1 || !strchr("fdlcbps", f[1][0]))
		return -1;
	e->type = f[1][0];
	if (!parse_u64(f[2], fl[2], 8, 07777, &v))
		return -1;
	e->mode = (uint32_t)v;
	if (!parse_u64(f[3], fl[3], 10, UINT32_MAX, &v))
		return -1;
	e->uid = (uint32_t)v;
	if (!parse_u64(f[4], fl[4], 10, UINT32_MAX, &v))
		return -1;
	e->gid = (uint32_t)v;
	if (!parse_u64(f[5], fl[5], 10, UINT64_MAX, &e->size))
		return -1;
	if (!parse_i64(f[6], fl[6], &e->mtime_ns) || !parse_i64(f[7], fl[7], &e->ctime_ns))
		return -1;
	if (!parse_u64(f[8], fl[8], 10, UINT64_MAX, &e->ino))
		return -1;
	if (field_is(f[9], fl[9], "-")) {
		e->has_sha = false;
	} else {
		if (fl[9] != 64)
			return -1;
		for (int i = 0; i < 32; i++) {
			int hi = hexval(f[9][2 * i]), lo = hexval(f[9][2 * i + 1]);
			if (hi < 0 || lo < 0)
				return -1;
			e->sha[i] = (uint8_t)(hi << 4 | lo);
		}
		e->has_sha = true;
	}
	if (fl[10] == 0 || fl[10] >= PATH_MAX || f[10][0] != '/')
		return -1;
	e->path = unescape(f[10], fl[10]);
	return e->path ? 0 : -1;
}

int kc_baseline_parse(const char *buf, size_t len, struct kc_baseline *out, kc_err_t *err)
{
	memset(out, 0, sizeof *out);
	if (len > KC_BL_MAX_FILE)
		return kc_err_new(err, KC_E_TOOBIG, "baseline larger than %u bytes",
				  KC_BL_MAX_FILE);
	size_t pos = 0, lineno = 0;
	bool have_created = false;
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		pos += ll + (nl ? 1 : 0);
		lineno++;
		if (lineno == 1) {
			if (!field_is(line, ll, "kctl-shim-baseline 1"))
				return kc_err_new(err, KC_E_PROTO, "not a kctl-shim baseline (v1)");
			continue;
		}
		const char *f[MAX_FIELDS];
		size_t fl[MAX_FIELDS];
		int n = split(line, ll, f, fl, MAX_FIELDS);
		int bad = 0;
		if (n == 11 && field_is(f[0], fl[0], "e") && out->root) {
			struct kc_bl_entry e = {0};
			if (parse_entry(f, fl, &e) < 0) {
				free(e.path);
				bad = 1;
			} else if (push_entry(out, &e, err) < 0) {
				free(e.path);
				kc_baseline_free(out);
				return -1;
			}
		} else if (n == 2 && field_is(f[0], fl[0], "root") && !out->root && fl[1] &&
			   fl[1] < PATH_MAX && f[1][0] == '/') {
			if (!(out->root = unescape(f[1], fl[1])))
				bad = 1;
		} else if (n == 2 && field_is(f[0], fl[0], "skip") &&
			   out->n_skip < KC_BL_MAX_SKIPS && fl[1] && fl[1] < PATH_MAX &&
			   f[1][0] == '/') {
			char **ns = realloc(out->skip, (out->n_skip + 1) * sizeof *ns);
			char *s = ns ? unescape(f[1], fl[1]) : NULL;
			if (ns)
				out->skip = ns;
			if (!s)
				bad = 1;
			else
				out->skip[out->n_skip++] = s;
		} else if (n == 2 && field_is(f[0], fl[0], "created") && !have_created) {
			if (!parse_i64(f[1], fl[1], &out->created))
				bad = 1;
			have_created = true;
		} else {
			bad = 1;
		}
		if (bad) {
			kc_baseline_free(out);
			return kc_err_new(err, KC_E_PROTO, "baseline line %zu is malformed",
					  lineno);
		}
	}
	if (lineno == 0 || !out->root) {
		kc_baseline_free(out);
		return kc_err_new(err, KC_E_PROTO, "baseline has no header or root");
	}
	qsort(out->e, out->n, sizeof *out->e, cmp_entry);
	for (size_t i = 1; i < out->n; i++)
		if (!strcmp(out->e[i - 1].path, out->e[i].path)) {
			kc_baseline_free(out);
			return kc_err_new(err, KC_E_PROTO, "baseline lists a path twice");
		}
	return 0;
}

int kc_baseline_load(const char *path, struct kc_baseline *out, kc_err_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kc_err_sys(err, errno, "open %s", path);
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return kc_err_sys(err, errno, "stat %s", path);
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > KC_BL_MAX_FILE)
		return kc_err_new(err, KC_E_TOOBIG, "%s: not a regular file under %u bytes", path,
				  KC_BL_MAX_FILE);
	size_t cap = (size_t)sb.st_size + 1;
	cleanup_free char *buf = malloc(cap);
	if (!buf)
		return kc_err_sys(err, ENOMEM, "reading %s", path);
	size_t len = 0;
	while (len < cap) { /* bounded: a file that grew meanwhile is cut at cap */
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kc_err_sys(err, errno, "read %s", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == cap)
		return kc_err_new(err, KC_E_TOOBIG, "%s changed while being read", path);
	if (kc_baseline_parse(buf, len, out, err) < 0)
		return kc_err_wrap(err, "%s", path);
	return 0;
}

/* ---- diff ------------------------------------------------------------------ */

static void gen_entry(yajl_gen g, const struct kc_bl_entry *e, const char *const *fields,
		      size_t n_fields)
{
	char t[2] = {e->type, 0};
	yajl_gen_map_open(g);
	cleanup_free char *p = kc_utf8_sanitize(e->path);
	kc_jgen_kv_str(g, "path", p ? p : "?");
	kc_jgen_kv_str(g, "type", t);
	char mode[8];
	snprintf(mode, sizeof mode, "%04o", (unsigned)(e->mode & 07777));
	kc_jgen_kv_str(g, "mode", mode);
	if (fields) {
		kc_jgen_key(g, "fields");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < n_fields; i++)
			kc_jgen_str(g, fields[i]);
		yajl_gen_array_close(g);
	}
	if (e->has_sha) {
		char d[KC_DIGEST_LEN + 1] = "sha256:";
		kc_sha256_hex(e->sha, d + 7);
		kc_jgen_kv_str(g, "sha256", d);
	}
	yajl_gen_map_close(g);
}

/* Which recorded properties differ (times and inode are bookkeeping for the
 * hash shortcut; a touch alone is not drift). */
static size_t changed_fields(const struct kc_bl_entry *a, const struct kc_bl_entry *b,
			     const char **out)
{
	size_t n = 0;
	if (a->type != b->type)
		out[n++] = "type";
	if (a->mode != b->mode)
		out[n++] = "mode";
	if (a->uid != b->uid)
		out[n++] = "uid";
	if (a->gid != b->gid)
		out[n++] = "gid";
	if (a->size != b->size)
		out[n++] = "size";
	if (a->has_sha != b->has_sha || (a->has_sha && memcmp(a->sha, b->sha, 32)))
		out[n++] = a->type == 'l' && b->type == 'l' ? "target" : "content";
	return n;
}

void kc_baseline_diff(const struct kc_baseline *old, const struct kc_baseline *cur, yajl_gen g,
		      struct kc_bl_diff_counts *counts)
{
	struct kc_bl_diff_counts c = {0};
	/* Three passes keep each array contiguous in the output. */
	for (int pass = 0; pass < 3; pass++) {
		kc_jgen_key(g, pass == 0 ? "added" : pass == 1 ? "changed" : "deleted");
		yajl_gen_array_open(g);
		size_t i = 0, j = 0;
		while (i < old->n || j < cur->n) {
			int cmp = i == old->n	? 1
				  : j == cur->n ? -1
						: strcmp(old->e[i].path, cur->e[j].path);
			if (cmp < 0) {
				if (pass == 2) {
					gen_entry(g, &old->e[i], NULL, 0);
					c.deleted++;
				}
				i++;
			} else if (cmp > 0) {
				if (pass == 0) {
					gen_entry(g, &cur->e[j], NULL, 0);
					c.added++;
				}
				j++;
			} else {
				const char *fields[8];
				size_t nf = changed_fields(&old->e[i], &cur->e[j], fields);
				if (pass == 1 && nf) {
					gen_entry(g, &cur->e[j], fields, nf);
					c.changed++;
				}
				i++;
				j++;
			}
		}
		yajl_gen_array_close(g);
	}
	if (counts)
		*counts = c;
}
