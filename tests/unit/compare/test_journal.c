/* The patch journal: round trip, torn tails, corrupt middle lines, bounds,
 * concurrent appenders and the `patch log` renderings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compare/journal.h"
#include "shim/base/json.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	char *dir = strdup("/tmp/kctl-journal-test-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	nftw(*state, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

static char *jpath(const char *dir, const char *app)
{
	char *p = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_journal_path(dir, app, &p, &err), 0);
	return p;
}

static void append_raw(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static struct kc_journal_entry sample(int i)
{
	static const char *const names[] = {"web-1", "web-2", "web-3"};
	return (struct kc_journal_entry){
	    .time_ms = 1795750525123 + i,
	    .app = "web",
	    .replica_id = "4f1c2a9e0b7d",
	    .replica_name = names[i % 3],
	    .patch_id = "p-20261127T023525Z-0123abcd",
	    .op = (enum kc_journal_op)(i % 5),
	    .detail = "copy app_v2.py -> /app/app.py \"quoted\"\nsecond line \xc3\xa9",
	    .digest = i % 2 ? NULL : DIGEST,
	    .outcome = (enum kc_journal_outcome)(i % 3),
	    .error = i % 3 ? "exit status 1" : NULL,
	    .duration_ms = 10 * i,
	};
}

static void append_n(const char *dir, int n)
{
	struct kc_journal *j = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_journal_open(dir, "web", &j, &err), 0);
	for (int i = 0; i < n; i++) {
		struct kc_journal_entry e = sample(i);
		if (kc_journal_append(j, &e, &err) < 0) {
			char *m = kc_err_string(err);
			fail_msg("append: %s", m);
		}
	}
	kc_journal_close(j);
}

static void expect_error(int rc, kc_err_t *err, const char *want)
{
	assert_int_equal(rc, -1);
	assert_non_null(*err);
	char *s = kc_err_string(*err);
	if (!strstr(s, want))
		fail_msg("error \"%s\" does not contain \"%s\"", s, want);
	free(s);
	kc_err_free(err);
}

static void test_roundtrip(void **state)
{
	const char *dir = *state;
	append_n(dir, 6);
	struct kc_journal_log log;
	kc_err_t err = NULL;
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), 0);
	assert_true(log.exists);
	assert_int_equal(log.n, 6);
	assert_int_equal(log.torn_line, 0);
	for (int i = 0; i < 6; i++) {
		struct kc_journal_entry want = sample(i);
		const struct kc_journal_entry *e = &log.entries[i];
		assert_int_equal(e->time_ms, want.time_ms);
		assert_string_equal(e->app, "web");
		assert_string_equal(e->replica_id, want.replica_id);
		assert_string_equal(e->replica_name, want.replica_name);
		assert_string_equal(e->patch_id, want.patch_id);
		assert_int_equal(e->op, want.op);
		assert_string_equal(e->detail, want.detail);
		if (want.digest)
			assert_string_equal(e->digest, want.digest);
		else
			assert_null(e->digest);
		assert_int_equal(e->outcome, want.outcome);
		if (want.error)
			assert_string_equal(e->error, want.error);
		else
			assert_null(e->error);
		assert_int_equal(e->duration_ms, want.duration_ms);
	}
	kc_journal_log_free(&log);

	/* One line per entry, each a JSON object, with the RFC 3339 time. */
	char *p = jpath(dir, "web");
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	char line[4096];
	int lines = 0;
	while (fgets(line, sizeof line, f)) {
		lines++;
		assert_non_null(strstr(line, "\"time\":\"2026-11-27T"));
		assert_int_equal(line[strlen(line) - 1], '\n');
	}
	fclose(f);
	assert_int_equal(lines, 6);
	free(p);

	/* An app that never had a patch: empty, not an error. */
	assert_int_equal(kc_journal_read(dir, "other", &log, &err), 0);
	assert_false(log.exists);
	assert_int_equal(log.n, 0);
}

static void test_torn_tail_ignored_then_repaired(void **state)
{
	const char *dir = *state;
	append_n(dir, 2);
	char *p = jpath(dir, "web");
	/* Half of a real line, as a writer killed mid-write leaves it. */
	struct kc_journal_entry e3 = sample(2);
	char *line = NULL;
	size_t len;
	kc_err_t err = NULL;
	assert_int_equal(kc_journal_entry_line(&e3, &line, &len, &err), 0);
	append_raw(p, line, len / 2);

	struct kc_journal_log log;
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.torn_line, 3);
	assert_int_equal(log.torn_bytes, len / 2);
	kc_journal_log_free(&log);

	/* A whole line missing only its newline is still torn: never acknowledged. */
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(truncate(p, st.st_size - (off_t)(len / 2)), 0);
	append_raw(p, line, len - 1);
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.torn_line, 3);
	kc_journal_log_free(&log);

	/* The next append truncates the torn line so its own line stays whole. */
	append_n(dir, 1);
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), 0);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.torn_line, 0);
	kc_journal_log_free(&log);

	/* A terminated last line that is not JSON (a size update that reached the
	 * disk before the data: NULs) is torn too, and repaired the same way. */
	char zeros[40] = {0};
	zeros[39] = '\n';
	append_raw(p, zeros, sizeof zeros);
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), 0);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.torn_line, 4);
	kc_journal_log_free(&log);
	append_n(dir, 2);
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), 0);
	assert_int_equal(log.n, 5);
	assert_int_equal(log.torn_line, 0);
	kc_journal_log_free(&log);
	assert_int_equal(stat(p, &st), 0);
	free(line);
	free(p);
}

static void test_middle_corruption_reported(void **state)
{
	const char *dir = *state;
	append_n(dir, 2);
	char *p = jpath(dir, "web");
	append_raw(p, "{\"v\":1,\"time\":\"garbage\n", 23);
	/* As the last line it is torn, so the next writer drops it... */
	append_n(dir, 1);
	struct kc_journal_log log;
	kc_err_t err = NULL;
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), 0);
	assert_int_equal(log.n, 3);
	kc_journal_log_free(&log);

	/* ...but followed by a whole line it is corruption, named by number. */
	append_raw(p, "{\"v\":1,\"time\":\"garbage\n", 23);
	char *good = NULL;
	size_t len;
	struct kc_journal_entry e = sample(0);
	assert_int_equal(kc_journal_entry_line(&e, &good, &len, &err), 0);
	append_raw(p, good, len);
	expect_error(kc_journal_read(dir, "web", &log, &err), &err, "line 4");

	/* Valid JSON with a wrong shape is corruption even as the last line. */
	assert_int_equal(truncate(p, 0), 0);
	append_raw(p, good, len);
	append_raw(p, "{\"v\":1,\"op\":\"copy\"}\n", 20);
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), -1);
	char *s = kc_err_string(err);
	assert_non_null(strstr(s, "line 2"));
	assert_non_null(strstr(s, "missing"));
	free(s);
	kc_err_free(&err);
	free(good);
	free(p);
}

static void test_long_lines_bounded(void **state)
{
	const char *dir = *state;
	size_t big = 100 * 1024;
	char *huge = malloc(big + 1);
	memset(huge, 'x', big);
	huge[big] = '\0';
	huge[KC_JOURNAL_MAX_FIELD - 4] = '\xc3'; /* a 2-byte char right at the cut */
	huge[KC_JOURNAL_MAX_FIELD - 3] = '\xa9';
	struct kc_journal_entry e = sample(0);
	e.detail = huge;
	e.error = huge;
	struct kc_journal *j = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_journal_open(dir, "web", &j, &err), 0);
	assert_int_equal(kc_journal_append(j, &e, &err), 0);
	kc_journal_close(j);
	struct kc_journal_log log;
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), 0);
	assert_int_equal(log.n, 1);
	size_t dl = strlen(log.entries[0].detail);
	assert_true(dl <= KC_JOURNAL_MAX_FIELD);
	assert_string_equal(log.entries[0].detail + dl - 3, "...");
	/* The cut backed off the split character instead of halving it. */
	assert_int_equal(dl, KC_JOURNAL_MAX_FIELD - 4 + 3);
	kc_journal_log_free(&log);

	/* A line over the limit in the middle is an error naming it... */
	char *p = jpath(dir, "web");
	char *junk = malloc(KC_JOURNAL_MAX_LINE + 10);
	memset(junk, ' ', KC_JOURNAL_MAX_LINE + 9);
	junk[KC_JOURNAL_MAX_LINE + 9] = '\n';
	append_raw(p, junk, KC_JOURNAL_MAX_LINE + 10);
	append_n(dir, 1); /* repairs (drops) the oversized last line first */
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), 0);
	assert_int_equal(log.n, 2);
	kc_journal_log_free(&log);
	append_raw(p, junk, KC_JOURNAL_MAX_LINE + 10);
	char *good = NULL;
	size_t len;
	assert_int_equal(kc_journal_entry_line(&e, &good, &len, &err), 0);
	append_raw(p, good, len);
	expect_error(kc_journal_read(dir, "web", &log, &err), &err, "line 3");

	/* ...and an unterminated oversized tail is torn, not read whole. */
	assert_int_equal(truncate(p, 0), 0);
	append_raw(p, good, len);
	append_raw(p, huge, big);
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), 0);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.torn_line, 2);
	assert_int_equal(log.torn_bytes, big);
	kc_journal_log_free(&log);
	free(good);
	free(junk);
	free(huge);
	free(p);
}

static void test_validation(void **state)
{
	(void)state;
	assert_true(kc_journal_app_valid("web"));
	assert_true(kc_journal_app_valid("my-app.v2_x"));
	assert_false(kc_journal_app_valid(""));
	assert_false(kc_journal_app_valid("../etc"));
	assert_false(kc_journal_app_valid("a/b"));
	assert_false(kc_journal_app_valid("Web"));
	assert_false(kc_journal_app_valid("-x"));
	assert_false(kc_journal_app_valid("x-"));
	char longname[KC_JOURNAL_MAX_APP + 2];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_false(kc_journal_app_valid(longname));
	char *p = NULL;
	kc_err_t err = NULL;
	expect_error(kc_journal_path("/tmp", "..", &p, &err), &err, "invalid app name");

	struct kc_journal_entry e = sample(0);
	char *line = NULL;
	size_t len;
	e.digest = "md5:abc";
	expect_error(kc_journal_entry_line(&e, &line, &len, &err), &err, "bad digest");
	e = sample(0);
	e.replica_id = "a\nb";
	expect_error(kc_journal_entry_line(&e, &line, &len, &err), &err, "replica id");

	char id[KC_JOURNAL_PATCH_ID_LEN], id2[KC_JOURNAL_PATCH_ID_LEN];
	assert_int_equal(kc_journal_new_patch_id(id, &err), 0);
	assert_int_equal(kc_journal_new_patch_id(id2, &err), 0);
	assert_int_equal(strncmp(id, "p-", 2), 0);
	assert_int_equal(strlen(id), 27);
	assert_string_not_equal(id, id2);

	char when[32];
	kc_journal_format_time(1795750525123, when);
	assert_string_equal(when, "2026-11-27T03:35:25.123Z");
	int64_t ms;
	assert_int_equal(kc_journal_parse_time(when, &ms, &err), 0);
	assert_int_equal(ms, 1795750525123);
	assert_int_equal(kc_journal_parse_time("2026-11-27T03:35:25Z", &ms, &err), 0);
	assert_int_equal(ms, 1795750525000);
	expect_error(kc_journal_parse_time("2026-11-27 02:15:25Z", &ms, &err), &err, "RFC 3339");
	expect_error(kc_journal_parse_time("2026-11-27T02:15:25+01:00", &ms, &err), &err,
		     "RFC 3339");
}

static void test_state_dir(void **state)
{
	(void)state;
	char *s = NULL;
	kc_err_t err = NULL;
	setenv("KCTL_STATE_DIR", "/srv/kctl-state", 1);
	assert_int_equal(kc_state_dir(&s, &err), 0);
	assert_string_equal(s, "/srv/kctl-state");
	free(s);
	unsetenv("KCTL_STATE_DIR");
	setenv("XDG_STATE_HOME", "/home/u/.st", 1);
	assert_int_equal(kc_state_dir(&s, &err), 0);
	assert_string_equal(s, geteuid() == 0 ? "/var/lib/kctl" : "/home/u/.st/kctl");
	free(s);
	unsetenv("XDG_STATE_HOME");
}

/* Several processes append at once: every line whole, none lost. */
static void test_concurrent_appenders(void **state)
{
	const char *dir = *state;
	enum { PROCS = 4, EACH = 40 };
	for (int p = 0; p < PROCS; p++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct kc_journal *j = NULL;
			kc_err_t err = NULL;
			if (kc_journal_open(dir, "web", &j, &err) < 0)
				_exit(1);
			char big[3000];
			memset(big, 'a' + p, sizeof big - 1);
			big[sizeof big - 1] = '\0';
			for (int i = 0; i < EACH; i++) {
				char rid[16];
				snprintf(rid, sizeof rid, "proc%d-%d", p, i);
				struct kc_journal_entry e = sample(i);
				e.replica_id = rid;
				e.detail = big;
				if (kc_journal_append(j, &e, &err) < 0)
					_exit(2);
			}
			kc_journal_close(j);
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int status;
		assert_true(wait(&status) > 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	struct kc_journal_log log;
	kc_err_t err = NULL;
	assert_int_equal(kc_journal_read(dir, "web", &log, &err), 0);
	assert_int_equal(log.n, PROCS * EACH);
	assert_int_equal(log.torn_line, 0);
	int seen[PROCS][EACH] = {{0}};
	for (size_t i = 0; i < log.n; i++) {
		int p, k;
		assert_int_equal(sscanf(log.entries[i].replica_id, "proc%d-%d", &p, &k), 2);
		seen[p][k]++;
		assert_int_equal(log.entries[i].detail[0], 'a' + p);
	}
	for (int p = 0; p < PROCS; p++)
		for (int k = 0; k < EACH; k++)
			assert_int_equal(seen[p][k], 1);
	kc_journal_log_free(&log);
}

static void test_patch_log_output(void **state)
{
	const char *dir = *state;
	append_n(dir, 3);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	kc_err_t err = NULL;
	assert_int_equal(kc_journal_log_cmd(dir, "web", false, f, &err), 0);
	fclose(f);
	assert_non_null(strstr(buf, "TIME"));
	assert_non_null(strstr(buf, "web-2"));
	assert_non_null(strstr(buf, "partial"));
	assert_non_null(strstr(buf, "exit status 1"));
	/* The newline in the detail does not break the table's rows. */
	int rows = 0;
	for (char *c = buf; *c; c++)
		rows += *c == '\n';
	assert_int_equal(rows, 4);
	free(buf);

	f = open_memstream(&buf, &len);
	assert_int_equal(kc_journal_log_cmd(dir, "web", true, f, &err), 0);
	fclose(f);
	yajl_val v = NULL;
	assert_int_equal(kc_json_parse(buf, len, &v, &err), 0);
	yajl_val entries = kc_json_find(v, "/entries");
	assert_non_null(entries);
	assert_int_equal(entries->u.array.len, 3);
	const char *out = NULL;
	assert_int_equal(kc_json_get_str(v, "/entries/2/outcome", &out, &err), 0);
	assert_string_equal(out, "partial");
	assert_int_equal(kc_json_get_str(v, "/entries/0/digest", &out, &err), 0);
	assert_string_equal(out, DIGEST);
	yajl_tree_free(v);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail_ignored_then_repaired, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_middle_corruption_reported, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_lines_bounded, setup, teardown),
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_state_dir),
	    cmocka_unit_test_setup_teardown(test_concurrent_appenders, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_patch_log_output, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
