/* The patch journal: an append-only JSON-lines record of every in-place patch
 * step, one file per app under the kctl state directory
 * (<state>/journal/<app>.jsonl). Each append is one write() of the whole line
 * with O_APPEND under an exclusive flock, then fsync (and fsync of the
 * directory when the file is created), so a step returned as appended survives
 * a crash. Readers are bounded (line and file size), parse every line with
 * yajl, ignore a torn last line and report a corrupt middle line by number.
 * Also renders `kctl patch log APP [-o json]`. */
#ifndef KC_COMPARE_JOURNAL_H
#define KC_COMPARE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shim/base/error.h"
#include "shim/base/state.h"

/* A line longer than this is never written and never accepted when read. */
#define KC_JOURNAL_MAX_LINE (64u * 1024u)
/* Readers refuse bigger journals and writers refuse to grow past it. */
#define KC_JOURNAL_MAX_FILE (64u * 1024u * 1024u)
/* detail and error are cut (at a UTF-8 boundary, marked "...") to this size. */
#define KC_JOURNAL_MAX_FIELD 8192u
/* app: 1..KC_JOURNAL_MAX_APP chars of [a-z0-9._-], first and last alphanumeric. */
#define KC_JOURNAL_MAX_APP 128u
/* replica id, replica name, patch id: at most this long, no control characters. */
#define KC_JOURNAL_MAX_ID 256u
/* "p-20261127T023525Z-0123abcd" plus NUL, with room to spare. */
#define KC_JOURNAL_PATCH_ID_LEN 40
/* The on-disk format version, written as "v" in every line. */
#define KC_JOURNAL_VERSION 1

enum kc_journal_op {
	KC_JOP_COPY = 0,
	KC_JOP_EXEC,
	KC_JOP_TO_IMAGE,
	KC_JOP_RESTART,
	KC_JOP_SIGNAL,
};

enum kc_journal_outcome {
	KC_JOUT_OK = 0,
	KC_JOUT_FAILED,
	KC_JOUT_PARTIAL,
};

/* One replica step. Strings are borrowed when appending; in a kc_journal_log
 * they are owned by the log. */
struct kc_journal_entry {
	int64_t time_ms; /* Unix time in ms (UTC); written as RFC 3339 "…T…:…:….mmmZ" */
	const char *app;
	const char *replica_id;
	const char *replica_name; /* may be NULL */
	const char *patch_id;	  /* one per `kctl patch` invocation */
	enum kc_journal_op op;
	const char *detail; /* what was applied: paths, command, target ref, signal */
	const char *digest; /* "sha256:<hex>" of the content applied, or NULL */
	enum kc_journal_outcome outcome;
	const char *error; /* NULL when ok */
	int64_t duration_ms;
};

struct kc_journal_log {
	struct kc_journal_entry *entries;
	size_t n;
	bool exists;	   /* false: the app has no journal yet (n == 0) */
	size_t torn_line;  /* 1-based number of an ignored torn last line, 0 when none */
	size_t torn_bytes; /* bytes ignored with it */
};

const char *kc_journal_op_name(enum kc_journal_op op);
int kc_journal_op_parse(const char *s, enum kc_journal_op *out);
const char *kc_journal_outcome_name(enum kc_journal_outcome o);
int kc_journal_outcome_parse(const char *s, enum kc_journal_outcome *out);

/* True when app is a valid app name (safe as a file name, see above). */
bool kc_journal_app_valid(const char *app);

/* The state directory is shim/base/state.h's kc_state_dir. */

/* <state_dir>/journal/<app>.jsonl, newly allocated; fails on an invalid app. */
int kc_journal_path(const char *state_dir, const char *app, char **out, kc_err_t *err);

/* A fresh patch id "p-YYYYMMDDTHHMMSSZ-<8 hex random>". */
int kc_journal_new_patch_id(char out[KC_JOURNAL_PATCH_ID_LEN], kc_err_t *err);

/* Current time in Unix ms, and its RFC 3339 UTC rendering with milliseconds. */
int64_t kc_journal_now_ms(void);
void kc_journal_format_time(int64_t ms, char out[32]);
int kc_journal_parse_time(const char *s, int64_t *ms, kc_err_t *err);

/* Open handle on one app's journal; creates directories and the file. */
struct kc_journal;
int kc_journal_open(const char *state_dir, const char *app, struct kc_journal **out, kc_err_t *err);
/* Appends e (e->app must equal the journal's app; a zero time_ms means now).
 * Returns only after the line is on stable storage. Takes the file lock for
 * the duration, so concurrent appenders (threads with their own handle, or
 * processes) never interleave. If the file ends in a torn line (left by a
 * writer that died mid-write), that line is truncated away first: it was never
 * acknowledged, and terminating it instead would turn it into a corrupt middle
 * line for every later reader. */
int kc_journal_append(struct kc_journal *j, const struct kc_journal_entry *e, kc_err_t *err);
const char *kc_journal_file(const struct kc_journal *j);
void kc_journal_close(struct kc_journal *j);

/* Serialises one entry as a JSON line (with the trailing '\n'). */
int kc_journal_entry_line(const struct kc_journal_entry *e, char **out, size_t *len, kc_err_t *err);

/* Parses a whole journal buffer. Every newline-terminated line must be a valid
 * entry, else the error names its line number; the unterminated tail, or a last
 * terminated line that is not JSON at all (or over the line limit), is torn: it
 * is ignored and recorded in torn_line/torn_bytes. */
int kc_journal_parse(const char *buf, size_t len, struct kc_journal_log *out, kc_err_t *err);
/* Reads <state_dir>/journal/<app>.jsonl under a shared lock. A missing file
 * gives an empty log with exists == false. */
int kc_journal_read(const char *state_dir, const char *app, struct kc_journal_log *out,
		    kc_err_t *err);
void kc_journal_log_free(struct kc_journal_log *log);

/* `kctl patch log`: a text table, or JSON {"app", "entries": [...], "torn_line"}. */
int kc_journal_print_table(const struct kc_journal_log *log, FILE *out, kc_err_t *err);
int kc_journal_log_json(const char *app, const struct kc_journal_log *log, bool pretty, char **out,
			size_t *len, kc_err_t *err);
int kc_journal_log_cmd(const char *state_dir, const char *app, bool json, FILE *out, kc_err_t *err);

#endif
