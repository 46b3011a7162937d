/* The `kctl compare` report: a data model of what each step of each approach
 * (immutable, mutable) cost, and its writers: a text table for stdout,
 * report.json (every figure and the raw probe samples; readable back into the
 * model, so report.html can be regenerated from a recorded run) and
 * report.html (one self-contained page, inline SVG charts, no scripts, no
 * external resources). A figure that was not measured is kept as such and
 * rendered "not measured" (null in JSON), never as zero. */
#ifndef KC_COMPARE_REPORT_H
#define KC_COMPARE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shim/base/error.h"

#define KC_REPORT_SCHEMA "kctl-compare-report/1"
/* kc_report_load refuses bigger files; the reader also caps array lengths. */
#define KC_REPORT_MAX_FILE (32u * 1024u * 1024u)
#define KC_REPORT_MAX_STEPS 64u
#define KC_REPORT_MAX_ITEMS 100000u /* samples, phases, replicas, notes per step */

/* One figure: measured with a value, or not measured. */
struct kc_fig {
	bool measured;
	double v;
};
static inline struct kc_fig kc_fig(double v)
{
	return (struct kc_fig){.measured = true, .v = v};
}
#define KC_FIG_NONE ((struct kc_fig){.measured = false, .v = 0})

enum kc_approach { KC_IMMUTABLE = 0, KC_MUTABLE = 1 };
#define KC_APPROACHES 2
const char *kc_approach_name(enum kc_approach a); /* "immutable", "mutable" */

struct kc_report_phase {
	char *name; /* pull, create, start, ready, stop-old / copy, exec, restart */
	struct kc_fig ms;
};

/* One probe request: when it was sent (ms since the step started), whether a
 * good answer came back, the HTTP status (0: no answer) and its latency. */
struct kc_report_sample {
	double t_ms;
	bool ok;
	int status;
	struct kc_fig latency_ms;
};

struct kc_report_probe {
	struct kc_fig requests, failures, longest_gap_ms;
	struct kc_report_sample *samples;
	size_t n_samples;
};

struct kc_report_bytes {
	char *container;
	struct kc_fig bytes;
};

struct kc_report_replica_drift {
	char *replica;
	char *state; /* fingerprint of the replica's drift; replicas sharing it are alike */
	struct kc_fig added, changed, deleted;
};

struct kc_report_drift {
	struct kc_fig distinct_states;
	struct kc_report_replica_drift *replicas;
	size_t n_replicas;
};

/* What one approach cost for one step. */
struct kc_report_result {
	bool present;  /* false: this approach did not run this step */
	char *outcome; /* "ok", "failed", "partial" */
	char *error;   /* NULL when none */
	struct kc_fig wall_ms;
	struct kc_report_phase *phases;
	size_t n_phases;
	struct kc_report_probe probe;
	struct kc_fig cpu_seconds, peak_memory_bytes;
	struct kc_fig image_bytes_pulled, image_bytes_stored;
	struct kc_report_bytes *writable; /* writable-layer bytes per container */
	size_t n_writable;
	struct kc_fig api_calls, api_bytes;
	struct kc_report_drift drift;
	char **notes; /* why a figure is missing, what was odd */
	size_t n_notes;
};

struct kc_report_step {
	char *from, *to; /* version refs, e.g. "v1" -> "v2" */
	struct kc_report_result r[KC_APPROACHES];
};

struct kc_report {
	char *kctl_version;
	char *created; /* RFC 3339 UTC */
	char *app;
	char *manifest;
	char *engine; /* e.g. "docker 20.10.24 (API 1.41)" */
	int64_t replicas;
	struct kc_fig probe_rate_hz;
	char *probe_url;
	char *fault; /* NULL, or "partial" */
	char **versions;
	size_t n_versions;
	struct kc_report_step *steps;
	size_t n_steps;
};

/* ---- building (all strings are copied) ---- */
int kc_report_new(const char *app, struct kc_report **out, kc_err_t *err);
int kc_report_set_str(char **field, const char *value, kc_err_t *err);
int kc_report_add_version(struct kc_report *r, const char *ref, kc_err_t *err);
/* Appends a step; the returned pointer is valid until the next add_step. */
int kc_report_add_step(struct kc_report *r, const char *from, const char *to, struct kc_report_step **out,
		       kc_err_t *err);
/* Marks a zeroed res present with outcome "ok" and every figure not measured. */
void kc_result_init(struct kc_report_result *res);
int kc_result_add_phase(struct kc_report_result *res, const char *name, struct kc_fig ms, kc_err_t *err);
int kc_result_add_sample(struct kc_report_result *res, const struct kc_report_sample *s, kc_err_t *err);
int kc_result_add_writable(struct kc_report_result *res, const char *container, struct kc_fig bytes,
			   kc_err_t *err);
int kc_result_add_drift(struct kc_report_result *res, const char *replica, const char *state,
			struct kc_fig added, struct kc_fig changed, struct kc_fig deleted,
			kc_err_t *err);
int kc_result_add_note(struct kc_report_result *res, kc_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kc_report_free(struct kc_report *r);

/* Sum of writable-layer bytes; not measured when any container's is not. */
struct kc_fig kc_result_writable_total(const struct kc_report_result *res);
/* Files added + changed + deleted over all replicas; not measured when any is not. */
struct kc_fig kc_result_drift_files(const struct kc_report_result *res);

/* ---- writers and reader ---- */
/* Text table: one row per step and approach, headline figures side by side. */
int kc_report_write_text(const struct kc_report *r, FILE *out, kc_err_t *err);
int kc_report_to_json(const struct kc_report *r, bool pretty, char **out, size_t *len,
		      kc_err_t *err);
/* Parses report.json into a new model; errors name the JSON path. */
int kc_report_from_json(const char *buf, size_t len, struct kc_report **out, kc_err_t *err);
int kc_report_load(const char *path, struct kc_report **out, kc_err_t *err);
/* The HTML page; every string from the model is escaped. */
int kc_report_write_html(const struct kc_report *r, FILE *out, kc_err_t *err);
/* Number of <svg> charts kc_report_write_html emits for r (for tests and docs). */
size_t kc_report_html_chart_count(const struct kc_report *r);
/* Writes DIR/report.json and DIR/report.html, each via a temporary file and
 * rename, so a reader never sees half a report. */
int kc_report_save(const struct kc_report *r, const char *dir, kc_err_t *err);

#endif
