/* The patch journal: see journal.h. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/sha256.h"

struct kc_journal {
	int fd;
	char *path;
	char *app;
};

static const char *const op_names[] = {"copy", "exec", "to-image", "restart", "signal"};
static const char *const outcome_names[] = {"ok", "failed", "partial"};

const char *kc_journal_op_name(enum kc_journal_op op)
{
	if ((unsigned)op < sizeof op_names / sizeof op_names[0])
		return op_names[op];
	return "?";
}

int kc_journal_op_parse(const char *s, enum kc_journal_op *out)
{
	for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
		if (strcmp(s, op_names[i]) == 0) {
			*out = (enum kc_journal_op)i;
			return 0;
		}
	return -1;
}

const char *kc_journal_outcome_name(enum kc_journal_outcome o)
{
	if ((unsigned)o < sizeof outcome_names / sizeof outcome_names[0])
		return outcome_names[o];
	return "?";
}

int kc_journal_outcome_parse(const char *s, enum kc_journal_outcome *out)
{
	for (size_t i = 0; i < sizeof outcome_names / sizeof outcome_names[0]; i++)
		if (strcmp(s, outcome_names[i]) == 0) {
			*out = (enum kc_journal_outcome)i;
			return 0;
		}
	return -1;
}

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool kc_journal_app_valid(const char *app)
{
	if (!app)
		return false;
	size_t n = strlen(app);
	if (n == 0 || n > KC_JOURNAL_MAX_APP)
		return false;
	if (!is_alnum_lower(app[0]) || !is_alnum_lower(app[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum_lower(app[i]) && app[i] != '-' && app[i] != '.' && app[i] != '_')
			return false;
	return true;
}

static bool id_valid(const char *s, bool allow_empty)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	if ((!allow_empty && n == 0) || n > KC_JOURNAL_MAX_ID)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int kc_journal_path(const char *state_dir, const char *app, char **out, kc_err_t *err)
{
	if (!kc_journal_app_valid(app))
		return kc_err_new(err, KC_E_INVALID,
				  "invalid app name '%.64s': want 1-%u of [a-z0-9._-], "
				  "starting and ending alphanumeric",
				  app ? app : "", KC_JOURNAL_MAX_APP);
	if (asprintf(out, "%s/journal/%s.jsonl", state_dir, app) < 0)
		return kc_err_sys(err, ENOMEM, "journal path");
	return 0;
}

int64_t kc_journal_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kc_journal_format_time(int64_t ms, char out[32])
{
	time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int frac = (int)(ms - (int64_t)sec * 1000);
	struct tm tm;
	if (!gmtime_r(&sec, &tm)) {
		snprintf(out, 32, "invalid");
		return;
	}
	char base[24];
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%.19s.%03dZ", base, frac);
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Accepts what we write ("2026-11-27T02:35:25.123Z") and the same with 0-9
 * fraction digits; only UTC ("Z"). */
int kc_journal_parse_time(const char *s, int64_t *ms, kc_err_t *err)
{
	int y, mo, d, h, mi, sec;
	if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) || s[10] != 'T' || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
		goto bad;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		goto bad;
	const char *p = s + 19;
	int frac_ms = 0, nd = 0;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, nd++) {
			if (nd < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
		}
		if (nd == 0 || nd > 9)
			goto bad;
		for (int i = nd; i < 3; i++)
			frac_ms *= 10;
	}
	if (strcmp(p, "Z") != 0)
		goto bad;
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = sec};
	time_t t = timegm(&tm);
	*ms = (int64_t)t * 1000 + frac_ms;
	return 0;
bad:
	return kc_err_new(err, KC_E_INVALID, "bad time '%.40s': want RFC 3339 UTC", s);
}

int kc_journal_new_patch_id(char out[KC_JOURNAL_PATCH_ID_LEN], kc_err_t *err)
{
	uint32_t rnd;
	if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
		return kc_err_sys(err, errno, "getrandom");
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char stamp[20];
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, KC_JOURNAL_PATCH_ID_LEN, "p-%s-%08" PRIx32, stamp, rnd);
	return 0;
}

/* Cuts s to max bytes at a UTF-8 boundary with a "..." mark; NULL stays NULL. */
static char *bounded_field(const char *s, size_t max)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	if (n <= max)
		return strdup(s);
	size_t cut = max - 3;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	char *r = malloc(cut + 4);
	if (!r)
		return NULL;
	memcpy(r, s, cut);
	memcpy(r + cut, "...", 4);
	return r;
}

int kc_journal_entry_line(const struct kc_journal_entry *e, char **out, size_t *len, kc_err_t *err)
{
	if (!kc_journal_app_valid(e->app))
		return kc_err_new(err, KC_E_INVALID, "journal entry: invalid app name");
	if (!id_valid(e->replica_id, false) || !id_valid(e->patch_id, false) ||
	    (e->replica_name && !id_valid(e->replica_name, true)))
		return kc_err_new(err, KC_E_INVALID,
				  "journal entry: replica id, replica name and patch id must be "
				  "1-%u printable characters",
				  KC_JOURNAL_MAX_ID);
	if (e->digest && !kc_digest_valid(e->digest))
		return kc_err_new(err, KC_E_INVALID, "journal entry: bad digest '%.80s'",
				  e->digest);
	if ((unsigned)e->op > KC_JOP_SIGNAL || (unsigned)e->outcome > KC_JOUT_PARTIAL)
		return kc_err_new(err, KC_E_INVALID, "journal entry: bad operation or outcome");
	cleanup_free char *detail = bounded_field(e->detail ? e->detail : "", KC_JOURNAL_MAX_FIELD);
	cleanup_free char *error = bounded_field(e->error, KC_JOURNAL_MAX_FIELD);
	if (!detail || (e->error && !error))
		return kc_err_sys(err, ENOMEM, "journal entry");
	char when[32];
	kc_journal_format_time(e->time_ms ? e->time_ms : kc_journal_now_ms(), when);

	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	if (!g)
		return kc_err_sys(err, ENOMEM, "journal entry");
	yajl_gen_map_open(g);
	kc_jgen_kv_int(g, "v", KC_JOURNAL_VERSION);
	kc_jgen_kv_str(g, "time", when);
	kc_jgen_kv_str(g, "app", e->app);
	kc_jgen_kv_str(g, "patch_id", e->patch_id);
	kc_jgen_kv_str(g, "replica_id", e->replica_id);
	kc_jgen_kv_str(g, "replica_name", e->replica_name);
	kc_jgen_kv_str(g, "op", kc_journal_op_name(e->op));
	kc_jgen_kv_str(g, "detail", detail);
	kc_jgen_kv_str(g, "digest", e->digest);
	kc_jgen_kv_str(g, "outcome", kc_journal_outcome_name(e->outcome));
	kc_jgen_kv_str(g, "error", error);
	kc_jgen_kv_int(g, "duration_ms", e->duration_ms < 0 ? 0 : e->duration_ms);
	yajl_gen_map_close(g);
	size_t n;
	char *s = kc_jgen_finish(g, &n);
	if (!s)
		return kc_err_sys(err, ENOMEM, "journal entry");
	/* yajl escapes control characters inside strings and emits no newline
	 * without beautify, so the line has exactly one '\n': ours. */
	char *line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return kc_err_sys(err, ENOMEM, "journal entry");
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	if (n + 1 > KC_JOURNAL_MAX_LINE) {
		free(line);
		return kc_err_new(err, KC_E_TOOBIG, "journal entry: line of %zu bytes over %u",
				  n + 1, KC_JOURNAL_MAX_LINE);
	}
	*out = line;
	*len = n + 1;
	return 0;
}

static int fsync_dir(const char *dir, kc_err_t *err)
{
	cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kc_err_sys(err, errno, "opening %s", dir);
	if (fsync(fd) < 0)
		return kc_err_sys(err, errno, "fsync %s", dir);
	return 0;
}

/* mkdir -p; each directory created is made durable in its parent. */
static int mkdir_durable(const char *path, kc_err_t *err)
{
	cleanup_free char *p = strdup(path);
	if (!p)
		return kc_err_sys(err, ENOMEM, "mkdir");
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) == 0) {
			char *slash = strrchr(p, '/');
			*slash = '\0';
			int r = fsync_dir(slash == p ? "/" : p, err);
			*slash = '/';
			if (r < 0)
				return r;
		} else if (errno != EEXIST) {
			return kc_err_sys(err, errno, "creating %s", p);
		}
		*s = c;
		if (c == '\0')
			break;
	}
	return 0;
}

int kc_journal_open(const char *state_dir, const char *app, struct kc_journal **out, kc_err_t *err)
{
	cleanup_free char *path = NULL;
	if (kc_journal_path(state_dir, app, &path, err) < 0)
		return -1;
	cleanup_free char *dir = NULL;
	if (asprintf(&dir, "%s/journal", state_dir) < 0)
		return kc_err_sys(err, ENOMEM, "journal");
	if (mkdir_durable(dir, err) < 0)
		return kc_err_wrap(err, "journal directory");
	/* Read access too: the tail check before each append reads the last line. */
	int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
	cleanup_close int fd = open(path, flags | O_CREAT | O_EXCL, 0600);
	if (fd >= 0) {
		/* A new file is only durable once its directory entry is. */
		if (fsync_dir(dir, err) < 0)
			return kc_err_wrap(err, "journal %s", path);
	} else if (errno == EEXIST) {
		fd = open(path, flags);
		if (fd < 0)
			return kc_err_sys(err, errno, "opening journal %s", path);
	} else {
		return kc_err_sys(err, errno, "creating journal %s", path);
	}
	struct kc_journal *j = calloc(1, sizeof *j);
	if (!j)
		return kc_err_sys(err, ENOMEM, "journal");
	j->path = kc_steal(path);
	j->app = strdup(app);
	j->fd = kc_steal_fd(fd);
	if (!j->app) {
		kc_journal_close(j);
		return kc_err_sys(err, ENOMEM, "journal");
	}
	*out = j;
	return 0;
}

const char *kc_journal_file(const struct kc_journal *j)
{
	return j->path;
}

void kc_journal_close(struct kc_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	free(j->app);
	free(j);
}

static int pread_full(int fd, void *buf, size_t len, off_t off, const char *path, kc_err_t *err)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kc_err_sys(err, errno, "reading %s", path);
		if (r == 0)
			return kc_err_new(err, KC_E_IO, "reading %s: file shrank", path);
		done += (size_t)r;
	}
	return 0;
}

/* Offset just after the last '\n' before end (0 when none). */
static int line_start(int fd, off_t end, off_t *start, const char *path, kc_err_t *err)
{
	char buf[4096];
	off_t pos = end;
	while (pos > 0) {
		size_t n = pos > (off_t)sizeof buf ? sizeof buf : (size_t)pos;
		if (pread_full(fd, buf, n, pos - (off_t)n, path, err) < 0)
			return -1;
		for (size_t i = n; i > 0; i--)
			if (buf[i - 1] == '\n') {
				*start = pos - (off_t)n + (off_t)i;
				return 0;
			}
		pos -= (off_t)n;
	}
	*start = 0;
	return 0;
}

static bool line_is_json(const char *buf, size_t len)
{
	cleanup_err kc_err_t e = NULL;
	yajl_val v = NULL;
	if (kc_json_parse(buf, len, &v, &e) < 0)
		return false;
	yajl_tree_free(v);
	return true;
}

/* Removes what a reader would ignore as torn: an unterminated tail, then a
 * last terminated line that is not JSON or is over the limit. Called under
 * the exclusive lock. Returns the new size. */
static int repair_tail(struct kc_journal *j, off_t size, off_t *new_size, kc_err_t *err)
{
	off_t orig = size;
	if (size > 0) {
		char last;
		if (pread_full(j->fd, &last, 1, size - 1, j->path, err) < 0)
			return -1;
		if (last != '\n' && line_start(j->fd, size, &size, j->path, err) < 0)
			return -1;
	}
	if (size > 0) {
		off_t start;
		if (line_start(j->fd, size - 1, &start, j->path, err) < 0)
			return -1;
		size_t n = (size_t)(size - 1 - start);
		bool torn = true;
		if (n + 1 <= KC_JOURNAL_MAX_LINE) {
			cleanup_free char *buf = malloc(n + 1);
			if (!buf)
				return kc_err_sys(err, ENOMEM, "journal");
			if (pread_full(j->fd, buf, n, start, j->path, err) < 0)
				return -1;
			torn = !line_is_json(buf, n);
		}
		if (torn)
			size = start;
	}
	if (size != orig) {
		if (ftruncate(j->fd, size) < 0)
			return kc_err_sys(err, errno, "truncating torn line of %s", j->path);
		if (fsync(j->fd) < 0)
			return kc_err_sys(err, errno, "fsync %s", j->path);
	}
	*new_size = size;
	return 0;
}

static void unlockp(int *fd)
{
	if (*fd >= 0)
		flock(*fd, LOCK_UN);
}

int kc_journal_append(struct kc_journal *j, const struct kc_journal_entry *e, kc_err_t *err)
{
	if (!e->app || strcmp(e->app, j->app) != 0)
		return kc_err_new(err, KC_E_INVALID, "journal of '%s' given an entry of '%.64s'",
				  j->app, e->app ? e->app : "");
	cleanup_free char *line = NULL;
	size_t len;
	if (kc_journal_entry_line(e, &line, &len, err) < 0)
		return -1;
	while (flock(j->fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return kc_err_sys(err, errno, "locking %s", j->path);
	__attribute__((cleanup(unlockp))) int locked = j->fd;
	struct stat st;
	if (fstat(j->fd, &st) < 0)
		return kc_err_sys(err, errno, "stat %s", j->path);
	if (!S_ISREG(st.st_mode))
		return kc_err_new(err, KC_E_IO, "%s is not a regular file", j->path);
	off_t size = st.st_size;
	if (repair_tail(j, st.st_size, &size, err) < 0)
		return -1;
	if ((uint64_t)size + len > KC_JOURNAL_MAX_FILE)
		return kc_err_new(err, KC_E_TOOBIG, "journal %s would exceed %u bytes; rotate it",
				  j->path, KC_JOURNAL_MAX_FILE);
	/* One write() so the line is never interleaved with another writer's
	 * and is either whole or a torn tail that the next writer removes. */
	ssize_t w;
	do
		w = write(j->fd, line, len);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)len) {
		int saved = w < 0 ? errno : ENOSPC;
		/* Take back a short write so the journal ends on a whole line. */
		if (ftruncate(j->fd, size) == 0)
			fsync(j->fd);
		return kc_err_sys(err, saved, "appending to %s", j->path);
	}
	if (fsync(j->fd) < 0)
		return kc_err_sys(err, errno, "fsync %s", j->path);
	(void)locked;
	return 0;
}

/* ---- reading ---- */

static char *dup_or_null(yajl_val v)
{
	if (!v || YAJL_IS_NULL(v))
		return NULL;
	return strdup(v->u.string);
}

static void entry_free(struct kc_journal_entry *e)
{
	free((char *)e->app);
	free((char *)e->replica_id);
	free((char *)e->replica_name);
	free((char *)e->patch_id);
	free((char *)e->detail);
	free((char *)e->digest);
	free((char *)e->error);
	memset(e, 0, sizeof *e);
}

static int str_member(yajl_val obj, const char *key, bool nullable, yajl_val *out, kc_err_t *err)
{
	yajl_val v = kc_json_member(obj, key);
	if (!v || (YAJL_IS_NULL(v) && !nullable))
		return kc_err_new(err, KC_E_INVALID, "missing \"%s\"", key);
	if (!YAJL_IS_NULL(v) && !YAJL_IS_STRING(v))
		return kc_err_new(err, KC_E_INVALID, "\"%s\" is not a string", key);
	*out = YAJL_IS_NULL(v) ? NULL : v;
	return 0;
}

static int entry_from_json(yajl_val o, struct kc_journal_entry *e, kc_err_t *err)
{
	if (!YAJL_IS_OBJECT(o))
		return kc_err_new(err, KC_E_INVALID, "not a JSON object");
	yajl_val v = kc_json_member(o, "v");
	if (!v || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) != KC_JOURNAL_VERSION)
		return kc_err_new(err, KC_E_INVALID, "unknown journal format version");
	yajl_val time, app, patch, rid, rname, op, detail, digest, outcome, error;
	if (str_member(o, "time", false, &time, err) < 0 ||
	    str_member(o, "app", false, &app, err) < 0 ||
	    str_member(o, "patch_id", false, &patch, err) < 0 ||
	    str_member(o, "replica_id", false, &rid, err) < 0 ||
	    str_member(o, "replica_name", true, &rname, err) < 0 ||
	    str_member(o, "op", false, &op, err) < 0 ||
	    str_member(o, "detail", false, &detail, err) < 0 ||
	    str_member(o, "digest", true, &digest, err) < 0 ||
	    str_member(o, "outcome", false, &outcome, err) < 0 ||
	    str_member(o, "error", true, &error, err) < 0)
		return -1;
	yajl_val dur = kc_json_member(o, "duration_ms");
	if (!dur || !YAJL_IS_INTEGER(dur) || YAJL_GET_INTEGER(dur) < 0)
		return kc_err_new(err, KC_E_INVALID, "\"duration_ms\" is not a count of ms");
	struct kc_journal_entry t = {.duration_ms = YAJL_GET_INTEGER(dur)};
	if (kc_journal_parse_time(time->u.string, &t.time_ms, err) < 0)
		return -1;
	if (kc_journal_op_parse(op->u.string, &t.op) < 0)
		return kc_err_new(err, KC_E_INVALID, "unknown op '%.32s'", op->u.string);
	if (kc_journal_outcome_parse(outcome->u.string, &t.outcome) < 0)
		return kc_err_new(err, KC_E_INVALID, "unknown outcome '%.32s'", outcome->u.string);
	if (!kc_journal_app_valid(app->u.string))
		return kc_err_new(err, KC_E_INVALID, "invalid app name");
	if (digest && !kc_digest_valid(digest->u.string))
		return kc_err_new(err, KC_E_INVALID, "bad digest");
	t.app = strdup(app->u.string);
	t.patch_id = strdup(patch->u.string);
	t.replica_id = strdup(rid->u.string);
	t.replica_name = dup_or_null(rname);
	t.detail = strdup(detail->u.string);
	t.digest = dup_or_null(digest);
	t.error = dup_or_null(error);
	if (!t.app || !t.patch_id || !t.replica_id || (rname && !t.replica_name) || !t.detail ||
	    (digest && !t.digest) || (error && !t.error)) {
		entry_free(&t);
		return kc_err_sys(err, ENOMEM, "journal entry");
	}
	*e = t;
	return 0;
}

void kc_journal_log_free(struct kc_journal_log *log)
{
	for (size_t i = 0; i < log->n; i++)
		entry_free(&log->entries[i]);
	free(log->entries);
	memset(log, 0, sizeof *log);
}

int kc_journal_parse(const char *buf, size_t len, struct kc_journal_log *out, kc_err_t *err)
{
	struct kc_journal_log log = {.exists = true};
	if (len > KC_JOURNAL_MAX_FILE)
		return kc_err_new(err, KC_E_TOOBIG, "journal of %zu bytes over %u", len,
				  KC_JOURNAL_MAX_FILE);
	/* Where the newline-terminated part ends; the rest is a torn tail. */
	size_t end = len;
	while (end > 0 && buf[end - 1] != '\n')
		end--;
	size_t lineno = 0;
	for (size_t pos = 0; pos < end;) {
		const char *nl = memchr(buf + pos, '\n', end - pos);
		size_t n = (size_t)(nl - (buf + pos));
		bool last = (size_t)(nl - buf) + 1 == end;
		lineno++;
		cleanup_err kc_err_t lerr = NULL;
		cleanup_json yajl_val v = NULL;
		int r;
		if (n + 1 > KC_JOURNAL_MAX_LINE)
			r = kc_err_new(&lerr, KC_E_TOOBIG, "line of %zu bytes over %u", n + 1,
				       KC_JOURNAL_MAX_LINE);
		else
			r = kc_json_parse(buf + pos, n, &v, &lerr);
		if (r < 0 && last) {
			/* Not JSON at all as the last line: a torn write (e.g. a size
			 * update that reached the disk before the data). Ignored. */
			log.torn_line = lineno;
			log.torn_bytes = len - pos;
			break;
		}
		if (r == 0 && log.n % 64 == 0) {
			struct kc_journal_entry *ne =
			    realloc(log.entries, (log.n + 64) * sizeof *ne);
			if (!ne) {
				kc_journal_log_free(&log);
				return kc_err_sys(err, ENOMEM, "journal");
			}
			log.entries = ne;
		}
		if (r == 0)
			r = entry_from_json(v, &log.entries[log.n], &lerr);
		if (r < 0) {
			kc_journal_log_free(&log);
			cleanup_free char *msg = kc_err_string(lerr);
			return kc_err_new(err, KC_E_INVALID, "journal line %zu: %s", lineno,
					  msg ? msg : "invalid");
		}
		log.n++;
		pos += n + 1;
	}
	if (end < len && !log.torn_line) {
		log.torn_line = lineno + 1;
		log.torn_bytes = len - end;
	}
	*out = log;
	return 0;
}

int kc_journal_read(const char *state_dir, const char *app, struct kc_journal_log *out,
		    kc_err_t *err)
{
	cleanup_free char *path = NULL;
	if (kc_journal_path(state_dir, app, &path, err) < 0)
		return -1;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		*out = (struct kc_journal_log){.exists = false};
		return 0;
	}
	if (fd < 0)
		return kc_err_sys(err, errno, "opening journal %s", path);
	/* Shared lock: a reader never sees a writer's tail repair half done. */
	while (flock(fd, LOCK_SH) < 0)
		if (errno != EINTR)
			return kc_err_sys(err, errno, "locking %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return kc_err_sys(err, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		return kc_err_new(err, KC_E_IO, "%s is not a regular file", path);
	if ((uint64_t)st.st_size > KC_JOURNAL_MAX_FILE)
		return kc_err_new(err, KC_E_TOOBIG, "journal %s: %jd bytes over %u", path,
				  (intmax_t)st.st_size, KC_JOURNAL_MAX_FILE);
	size_t size = (size_t)st.st_size;
	cleanup_free char *buf = malloc(size ? size : 1);
	if (!buf)
		return kc_err_sys(err, ENOMEM, "reading %s", path);
	if (pread_full(fd, buf, size, 0, path, err) < 0)
		return -1;
	if (kc_journal_parse(buf, size, out, err) < 0)
		return kc_err_wrap(err, "%s", path);
	return 0;
}

/* ---- kctl patch log ---- */

/* Copies s for a terminal cell: control characters become '?', cut to max
 * bytes (at a UTF-8 boundary) with "...". */
static char *cell(const char *s, size_t max)
{
	cleanup_free char *b = bounded_field(s ? s : "-", max);
	if (!b)
		return NULL;
	for (char *p = b; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return kc_steal(b);
}

int kc_journal_print_table(const struct kc_journal_log *log, FILE *out, kc_err_t *err)
{
	fprintf(out, "%-24s  %-27s  %-20s  %-8s  %-7s  %8s  %-19s  %s\n", "TIME", "PATCH",
		"REPLICA", "OP", "OUTCOME", "MS", "DIGEST", "DETAIL");
	for (size_t i = 0; i < log->n; i++) {
		const struct kc_journal_entry *e = &log->entries[i];
		char when[32];
		kc_journal_format_time(e->time_ms, when);
		cleanup_free char *patch = cell(e->patch_id, 27);
		cleanup_free char *rep =
		    cell(e->replica_name && *e->replica_name ? e->replica_name : e->replica_id, 20);
		char dig[20] = "-";
		if (e->digest)
			snprintf(dig, sizeof dig, "%.19s", e->digest);
		cleanup_free char *detail = NULL;
		if (e->error) {
			cleanup_free char *d = NULL;
			if (asprintf(&d, "%s: %s", e->detail, e->error) >= 0)
				detail = cell(d, 100);
		} else {
			detail = cell(e->detail, 100);
		}
		if (!patch || !rep || !detail)
			return kc_err_sys(err, ENOMEM, "journal table");
		fprintf(out, "%-24s  %-27s  %-20s  %-8s  %-7s  %8" PRId64 "  %-19s  %s\n", when,
			patch, rep, kc_journal_op_name(e->op), kc_journal_outcome_name(e->outcome),
			e->duration_ms, dig, detail);
	}
	if (log->torn_line)
		fprintf(out, "(line %zu: torn write of %zu bytes ignored)\n", log->torn_line,
			log->torn_bytes);
	if (ferror(out))
		return kc_err_new(err, KC_E_IO, "writing journal table");
	return 0;
}

int kc_journal_log_json(const char *app, const struct kc_journal_log *log, bool pretty, char **out,
			size_t *len, kc_err_t *err)
{
	cleanup_jgen yajl_gen g = kc_jgen_new(pretty);
	if (!g)
		return kc_err_sys(err, ENOMEM, "journal JSON");
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "app", app);
	kc_jgen_key(g, "entries");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < log->n; i++) {
		const struct kc_journal_entry *e = &log->entries[i];
		char when[32];
		kc_journal_format_time(e->time_ms, when);
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "time", when);
		kc_jgen_kv_str(g, "app", e->app);
		kc_jgen_kv_str(g, "patch_id", e->patch_id);
		kc_jgen_kv_str(g, "replica_id", e->replica_id);
		kc_jgen_kv_str(g, "replica_name", e->replica_name);
		kc_jgen_kv_str(g, "op", kc_journal_op_name(e->op));
		kc_jgen_kv_str(g, "detail", e->detail);
		kc_jgen_kv_str(g, "digest", e->digest);
		kc_jgen_kv_str(g, "outcome", kc_journal_outcome_name(e->outcome));
		kc_jgen_kv_str(g, "error", e->error);
		kc_jgen_kv_int(g, "duration_ms", e->duration_ms);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	kc_jgen_key(g, "torn_line");
	if (log->torn_line)
		yajl_gen_integer(g, (long long)log->torn_line);
	else
		yajl_gen_null(g);
	yajl_gen_map_close(g);
	char *s = kc_jgen_finish(g, len);
	if (!s)
		return kc_err_sys(err, ENOMEM, "journal JSON");
	*out = s;
	return 0;
}

int kc_journal_log_cmd(const char *state_dir, const char *app, bool json, FILE *out, kc_err_t *err)
{
	struct kc_journal_log log;
	if (kc_journal_read(state_dir, app, &log, err) < 0)
		return kc_err_wrap(err, "patch log of %s", app);
	int r;
	if (json) {
		cleanup_free char *s = NULL;
		size_t n;
		r = kc_journal_log_json(app, &log, true, &s, &n, err);
		if (r == 0) {
			fwrite(s, 1, n, out);
			fputc('\n', out);
		}
	} else {
		r = kc_journal_print_table(&log, out, err);
	}
	kc_journal_log_free(&log);
	return r;
}
