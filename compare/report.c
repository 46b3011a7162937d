/* The compare report: model, text table, report.json writer and reader,
 * report.html with inline SVG. See report.h. */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim/base/state.h"
#include "shim/base/cleanup.h"
#include "shim/base/json.h"

static const char *const approach_names[KC_APPROACHES] = {"immutable", "mutable"};

const char *kc_approach_name(enum kc_approach a)
{
	return (unsigned)a < KC_APPROACHES ? approach_names[a] : "?";
}

/* ---- building ---- */

int kc_report_set_str(char **field, const char *value, kc_err_t *err)
{
	char *s = NULL;
	if (value && !(s = strdup(value)))
		return kc_err_sys(err, ENOMEM, "report");
	free(*field);
	*field = s;
	return 0;
}

/* Grows *arr (of *n elements of size sz) by one zeroed element. */
static void *grow(void *arr_p, size_t *n, size_t sz, kc_err_t *err)
{
	void **arr = arr_p;
	if (*n >= KC_REPORT_MAX_ITEMS) {
		kc_err_new(err, KC_E_TOOBIG, "report: more than %u items in a list",
			   KC_REPORT_MAX_ITEMS);
		return NULL;
	}
	char *p = realloc(*arr, (*n + 1) * sz);
	if (!p) {
		kc_err_sys(err, ENOMEM, "report");
		return NULL;
	}
	memset(p + *n * sz, 0, sz);
	*arr = p;
	return p + (*n)++ * sz;
}

int kc_report_new(const char *app, struct kc_report **out, kc_err_t *err)
{
	struct kc_report *r = calloc(1, sizeof *r);
	if (!r)
		return kc_err_sys(err, ENOMEM, "report");
	r->probe_rate_hz = KC_FIG_NONE;
	if (kc_report_set_str(&r->app, app, err) < 0 ||
	    kc_report_set_str(&r->kctl_version, KCTL_VERSION, err) < 0) {
		kc_report_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

int kc_report_add_version(struct kc_report *r, const char *ref, kc_err_t *err)
{
	char *s = strdup(ref);
	if (!s)
		return kc_err_sys(err, ENOMEM, "report");
	char **slot = grow(&r->versions, &r->n_versions, sizeof *slot, err);
	if (!slot) {
		free(s);
		return -1;
	}
	*slot = s;
	return 0;
}

int kc_report_add_step(struct kc_report *r, const char *from, const char *to, struct kc_report_step **out,
		       kc_err_t *err)
{
	if (r->n_steps >= KC_REPORT_MAX_STEPS)
		return kc_err_new(err, KC_E_TOOBIG, "report: more than %u steps",
				  KC_REPORT_MAX_STEPS);
	struct kc_report_step *s = grow(&r->steps, &r->n_steps, sizeof *s, err);
	if (!s)
		return -1;
	if (kc_report_set_str(&s->from, from, err) < 0 || kc_report_set_str(&s->to, to, err) < 0)
		return -1;
	*out = s;
	return 0;
}

void kc_result_init(struct kc_report_result *res)
{
	memset(res, 0, sizeof *res);
	res->present = true;
	res->outcome = strdup("ok");
	/* KC_FIG_NONE is all zero, so memset already marked figures unmeasured. */
}

int kc_result_add_phase(struct kc_report_result *res, const char *name, struct kc_fig ms, kc_err_t *err)
{
	char *s = strdup(name);
	if (!s)
		return kc_err_sys(err, ENOMEM, "report");
	struct kc_report_phase *p = grow(&res->phases, &res->n_phases, sizeof *p, err);
	if (!p) {
		free(s);
		return -1;
	}
	p->name = s;
	p->ms = ms;
	return 0;
}

int kc_result_add_sample(struct kc_report_result *res, const struct kc_report_sample *s, kc_err_t *err)
{
	struct kc_report_sample *p =
	    grow(&res->probe.samples, &res->probe.n_samples, sizeof *p, err);
	if (!p)
		return -1;
	*p = *s;
	return 0;
}

int kc_result_add_writable(struct kc_report_result *res, const char *container, struct kc_fig bytes,
			   kc_err_t *err)
{
	char *s = strdup(container);
	if (!s)
		return kc_err_sys(err, ENOMEM, "report");
	struct kc_report_bytes *c = grow(&res->writable, &res->n_writable, sizeof *c, err);
	if (!c) {
		free(s);
		return -1;
	}
	c->container = s;
	c->bytes = bytes;
	return 0;
}

int kc_result_add_drift(struct kc_report_result *res, const char *replica, const char *state,
			struct kc_fig added, struct kc_fig changed, struct kc_fig deleted,
			kc_err_t *err)
{
	char *n = strdup(replica);
	char *st = state ? strdup(state) : NULL;
	struct kc_report_replica_drift *d = NULL;
	if (n && (st || !state))
		d = grow(&res->drift.replicas, &res->drift.n_replicas, sizeof *d, err);
	else
		kc_err_sys(err, ENOMEM, "report");
	if (!d) {
		free(n);
		free(st);
		return -1;
	}
	*d = (struct kc_report_replica_drift){
	    .replica = n, .state = st, .added = added, .changed = changed, .deleted = deleted};
	return 0;
}

int kc_result_add_note(struct kc_report_result *res, kc_err_t *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return kc_err_sys(err, ENOMEM, "report");
	char **slot = grow(&res->notes, &res->n_notes, sizeof *slot, err);
	if (!slot) {
		free(s);
		return -1;
	}
	*slot = s;
	return 0;
}

static void result_free(struct kc_report_result *res)
{
	free(res->outcome);
	free(res->error);
	for (size_t i = 0; i < res->n_phases; i++)
		free(res->phases[i].name);
	free(res->phases);
	free(res->probe.samples);
	for (size_t i = 0; i < res->n_writable; i++)
		free(res->writable[i].container);
	free(res->writable);
	for (size_t i = 0; i < res->drift.n_replicas; i++) {
		free(res->drift.replicas[i].replica);
		free(res->drift.replicas[i].state);
	}
	free(res->drift.replicas);
	for (size_t i = 0; i < res->n_notes; i++)
		free(res->notes[i]);
	free(res->notes);
}

void kc_report_free(struct kc_report *r)
{
	if (!r)
		return;
	free(r->kctl_version);
	free(r->created);
	free(r->app);
	free(r->manifest);
	free(r->engine);
	free(r->probe_url);
	free(r->fault);
	for (size_t i = 0; i < r->n_versions; i++)
		free(r->versions[i]);
	free(r->versions);
	for (size_t i = 0; i < r->n_steps; i++) {
		free(r->steps[i].from);
		free(r->steps[i].to);
		for (int a = 0; a < KC_APPROACHES; a++)
			result_free(&r->steps[i].r[a]);
	}
	free(r->steps);
	free(r);
}

struct kc_fig kc_result_writable_total(const struct kc_report_result *res)
{
	if (!res->present || res->n_writable == 0)
		return KC_FIG_NONE;
	double sum = 0;
	for (size_t i = 0; i < res->n_writable; i++) {
		if (!res->writable[i].bytes.measured)
			return KC_FIG_NONE;
		sum += res->writable[i].bytes.v;
	}
	return kc_fig(sum);
}

struct kc_fig kc_result_drift_files(const struct kc_report_result *res)
{
	if (!res->present || res->drift.n_replicas == 0)
		return KC_FIG_NONE;
	double sum = 0;
	for (size_t i = 0; i < res->drift.n_replicas; i++) {
		const struct kc_report_replica_drift *d = &res->drift.replicas[i];
		if (!d->added.measured || !d->changed.measured || !d->deleted.measured)
			return KC_FIG_NONE;
		sum += d->added.v + d->changed.v + d->deleted.v;
	}
	return kc_fig(sum);
}

/* ---- figures shown in the table and charts ---- */

enum unit { U_MS, U_BYTES, U_COUNT, U_SECONDS };

static struct kc_fig get_wall(const struct kc_report_result *r)
{
	return r->wall_ms;
}
static struct kc_fig get_fail(const struct kc_report_result *r)
{
	return r->probe.failures;
}
static struct kc_fig get_gap(const struct kc_report_result *r)
{
	return r->probe.longest_gap_ms;
}
static struct kc_fig get_cpu(const struct kc_report_result *r)
{
	return r->cpu_seconds;
}
static struct kc_fig get_mem(const struct kc_report_result *r)
{
	return r->peak_memory_bytes;
}
static struct kc_fig get_pulled(const struct kc_report_result *r)
{
	return r->image_bytes_pulled;
}
static struct kc_fig get_stored(const struct kc_report_result *r)
{
	return r->image_bytes_stored;
}
static struct kc_fig get_calls(const struct kc_report_result *r)
{
	return r->api_calls;
}
static struct kc_fig get_apib(const struct kc_report_result *r)
{
	return r->api_bytes;
}

struct metric {
	const char *id;
	const char *title;
	const char *what;
	enum unit unit;
	struct kc_fig (*get)(const struct kc_report_result *);
};

static const struct metric metrics[] = {
    {"time", "Time per step", "wall time from the first engine call to all replicas ready", U_MS,
     get_wall},
    {"failures", "Failed probe requests", "requests of the steady probe that got no good answer",
     U_COUNT, get_fail},
    {"gap", "Longest gap", "longest time without a good probe answer", U_MS, get_gap},
    {"cpu", "CPU", "CPU seconds of the app's containers, summed over replicas", U_SECONDS, get_cpu},
    {"memory", "Peak memory", "peak memory of the app's containers, summed over replicas", U_BYTES,
     get_mem},
    {"pulled", "Image bytes pulled", "bytes pulled from the registry (shared layers once)", U_BYTES,
     get_pulled},
    {"stored", "Image bytes stored", "bytes of images stored by the engine (shared layers once)",
     U_BYTES, get_stored},
    {"writable", "Writable-layer bytes", "bytes in the containers' writable layers, summed",
     U_BYTES, kc_result_writable_total},
    {"api-calls", "Engine API calls", "requests kctl sent to the engine", U_COUNT, get_calls},
    {"api-bytes", "Engine API bytes", "bytes sent and received on the engine API", U_BYTES,
     get_apib},
    {"drift", "Drift after the step", "files added, changed or deleted, over all replicas", U_COUNT,
     kc_result_drift_files},
};
#define N_METRICS (sizeof metrics / sizeof metrics[0])

#define NOT_MEASURED "not measured"

static void fmt_val(double v, enum unit u, char *buf, size_t cap)
{
	switch (u) {
	case U_MS:
		if (fabs(v) < 1000)
			snprintf(buf, cap, "%.0f ms", v);
		else
			snprintf(buf, cap, "%.2f s", v / 1000);
		break;
	case U_SECONDS:
		snprintf(buf, cap, "%.2f s", v);
		break;
	case U_BYTES: {
		static const char *const suf[] = {"B", "KiB", "MiB", "GiB", "TiB"};
		int i = 0;
		while (fabs(v) >= 1024 && i < 4) {
			v /= 1024;
			i++;
		}
		snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", v, suf[i]);
		break;
	}
	case U_COUNT:
		snprintf(buf, cap, "%.0f", v);
		break;
	}
}

static void fmt_fig(struct kc_fig f, enum unit u, char *buf, size_t cap)
{
	if (!f.measured)
		snprintf(buf, cap, NOT_MEASURED);
	else
		fmt_val(f.v, u, buf, cap);
}

/* ---- text table ---- */

#define TCOLS 12

int kc_report_write_text(const struct kc_report *r, FILE *out, kc_err_t *err)
{
	static const char *const head[TCOLS] = {
	    "STEP", "APPROACH", "OUTCOME", "WALL",     "FAILED/SENT", "LONGEST GAP",
	    "CPU",  "PEAK MEM", "PULLED",  "WRITABLE", "API CALLS",   "DRIFT FILES/STATES"};
	size_t rows = r->n_steps * KC_APPROACHES;
	cleanup_free char(*cells)[TCOLS][40] = calloc(rows ? rows : 1, sizeof *cells);
	if (!cells)
		return kc_err_sys(err, ENOMEM, "report table");
	size_t width[TCOLS];
	for (int c = 0; c < TCOLS; c++)
		width[c] = strlen(head[c]);
	for (size_t s = 0; s < r->n_steps; s++) {
		for (int a = 0; a < KC_APPROACHES; a++) {
			const struct kc_report_result *res = &r->steps[s].r[a];
			char(*row)[40] = cells[s * KC_APPROACHES + (size_t)a];
			snprintf(row[0], 40, "%.18s->%.18s",
				 r->steps[s].from ? r->steps[s].from : "",
				 r->steps[s].to ? r->steps[s].to : "");
			snprintf(row[1], 40, "%s", approach_names[a]);
			if (!res->present) {
				snprintf(row[2], 40, "not run");
				for (int c = 3; c < TCOLS; c++)
					snprintf(row[c], 40, "-");
			} else {
				snprintf(row[2], 40, "%.39s", res->outcome ? res->outcome : "?");
				fmt_fig(res->wall_ms, U_MS, row[3], 40);
				if (res->probe.failures.measured && res->probe.requests.measured)
					snprintf(row[4], 40, "%.0f/%.0f", res->probe.failures.v,
						 res->probe.requests.v);
				else
					snprintf(row[4], 40, NOT_MEASURED);
				fmt_fig(res->probe.longest_gap_ms, U_MS, row[5], 40);
				fmt_fig(res->cpu_seconds, U_SECONDS, row[6], 40);
				fmt_fig(res->peak_memory_bytes, U_BYTES, row[7], 40);
				fmt_fig(res->image_bytes_pulled, U_BYTES, row[8], 40);
				fmt_fig(kc_result_writable_total(res), U_BYTES, row[9], 40);
				fmt_fig(res->api_calls, U_COUNT, row[10], 40);
				struct kc_fig files = kc_result_drift_files(res);
				if (files.measured && res->drift.distinct_states.measured)
					snprintf(row[11], 40, "%.0f/%.0f", files.v,
						 res->drift.distinct_states.v);
				else
					snprintf(row[11], 40, NOT_MEASURED);
			}
			for (int c = 0; c < TCOLS; c++) {
				/* Control characters from a loaded report never reach the terminal.
				 */
				for (char *p = row[c]; *p; p++)
					if ((unsigned char)*p < 0x20 || *p == 0x7f)
						*p = '?';
				if (strlen(row[c]) > width[c])
					width[c] = strlen(row[c]);
			}
		}
	}
	for (int c = 0; c < TCOLS; c++)
		fprintf(out, c < 3 ? "%-*s%s" : "%*s%s", (int)width[c], head[c],
			c == TCOLS - 1 ? "\n" : "  ");
	for (size_t i = 0; i < rows; i++)
		for (int c = 0; c < TCOLS; c++)
			fprintf(out, c < 3 ? "%-*s%s" : "%*s%s", (int)width[c], cells[i][c],
				c == TCOLS - 1 ? "\n" : "  ");
	if (ferror(out))
		return kc_err_new(err, KC_E_IO, "writing report table");
	return 0;
}

/* ---- report.json ---- */

/* Shortest decimal that reads back to the same double; integers as integers. */
static void gen_num(yajl_gen g, double v)
{
	if (!isfinite(v)) {
		yajl_gen_null(g);
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		yajl_gen_integer(g, (long long)v);
		return;
	}
	char buf[40];
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	yajl_gen_number(g, buf, strlen(buf));
}

static void gen_fig(yajl_gen g, const char *key, struct kc_fig f)
{
	kc_jgen_key(g, key);
	if (f.measured)
		gen_num(g, f.v);
	else
		yajl_gen_null(g);
}

static void gen_result(yajl_gen g, const struct kc_report_result *res)
{
	if (!res->present) {
		yajl_gen_null(g);
		return;
	}
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "outcome", res->outcome ? res->outcome : "unknown");
	kc_jgen_kv_str(g, "error", res->error);
	gen_fig(g, "wall_ms", res->wall_ms);
	kc_jgen_key(g, "phases");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < res->n_phases; i++) {
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "name", res->phases[i].name);
		gen_fig(g, "ms", res->phases[i].ms);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	kc_jgen_key(g, "probe");
	yajl_gen_map_open(g);
	gen_fig(g, "requests", res->probe.requests);
	gen_fig(g, "failures", res->probe.failures);
	gen_fig(g, "longest_gap_ms", res->probe.longest_gap_ms);
	kc_jgen_key(g, "samples");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < res->probe.n_samples; i++) {
		const struct kc_report_sample *s = &res->probe.samples[i];
		yajl_gen_map_open(g);
		gen_fig(g, "t_ms", kc_fig(s->t_ms));
		kc_jgen_kv_bool(g, "ok", s->ok);
		kc_jgen_kv_int(g, "status", s->status);
		gen_fig(g, "latency_ms", s->latency_ms);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	gen_fig(g, "cpu_seconds", res->cpu_seconds);
	gen_fig(g, "peak_memory_bytes", res->peak_memory_bytes);
	gen_fig(g, "image_bytes_pulled", res->image_bytes_pulled);
	gen_fig(g, "image_bytes_stored", res->image_bytes_stored);
	kc_jgen_key(g, "writable_bytes");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < res->n_writable; i++) {
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "container", res->writable[i].container);
		gen_fig(g, "bytes", res->writable[i].bytes);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	kc_jgen_key(g, "api");
	yajl_gen_map_open(g);
	gen_fig(g, "calls", res->api_calls);
	gen_fig(g, "bytes", res->api_bytes);
	yajl_gen_map_close(g);
	kc_jgen_key(g, "drift");
	yajl_gen_map_open(g);
	gen_fig(g, "distinct_states", res->drift.distinct_states);
	kc_jgen_key(g, "replicas");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < res->drift.n_replicas; i++) {
		const struct kc_report_replica_drift *d = &res->drift.replicas[i];
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "replica", d->replica);
		kc_jgen_kv_str(g, "state", d->state);
		gen_fig(g, "added", d->added);
		gen_fig(g, "changed", d->changed);
		gen_fig(g, "deleted", d->deleted);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	kc_jgen_key(g, "notes");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < res->n_notes; i++)
		kc_jgen_str(g, res->notes[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

int kc_report_to_json(const struct kc_report *r, bool pretty, char **out, size_t *len,
		      kc_err_t *err)
{
	cleanup_jgen yajl_gen g = kc_jgen_new(pretty);
	if (!g)
		return kc_err_sys(err, ENOMEM, "report.json");
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "schema", KC_REPORT_SCHEMA);
	kc_jgen_kv_str(g, "kctl_version", r->kctl_version);
	kc_jgen_kv_str(g, "created", r->created);
	kc_jgen_kv_str(g, "app", r->app);
	kc_jgen_kv_str(g, "manifest", r->manifest);
	kc_jgen_kv_str(g, "engine", r->engine);
	kc_jgen_kv_int(g, "replicas", r->replicas);
	kc_jgen_key(g, "probe");
	yajl_gen_map_open(g);
	gen_fig(g, "rate_hz", r->probe_rate_hz);
	kc_jgen_kv_str(g, "url", r->probe_url);
	yajl_gen_map_close(g);
	kc_jgen_kv_str(g, "fault", r->fault);
	kc_jgen_key(g, "versions");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_versions; i++)
		kc_jgen_str(g, r->versions[i]);
	yajl_gen_array_close(g);
	kc_jgen_key(g, "steps");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n_steps; i++) {
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "from", r->steps[i].from);
		kc_jgen_kv_str(g, "to", r->steps[i].to);
		for (int a = 0; a < KC_APPROACHES; a++) {
			kc_jgen_key(g, approach_names[a]);
			gen_result(g, &r->steps[i].r[a]);
		}
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	char *s = kc_jgen_finish(g, len);
	if (!s)
		return kc_err_sys(err, ENOMEM, "report.json");
	*out = s;
	return 0;
}

/* ---- reading report.json ---- */

/* Path of the value being read, for error messages ("/steps/1/mutable/wall_ms"). */
struct rpath {
	char buf[256];
	size_t len;
};

static size_t rp_push(struct rpath *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t rp_push(struct rpath *p, const char *fmt, ...)
{
	size_t old = p->len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(p->buf + p->len, sizeof p->buf - p->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		p->len +=
		    (size_t)n < sizeof p->buf - p->len ? (size_t)n : sizeof p->buf - p->len - 1;
	return old;
}

static void rp_pop(struct rpath *p, size_t old)
{
	p->len = old;
	p->buf[old] = '\0';
}

static int bad(struct rpath *p, kc_err_t *err, const char *what)
{
	return kc_err_new(err, KC_E_INVALID, "report.json %s: %s", p->len ? p->buf : "/", what);
}

static int rd_fig(yajl_val obj, const char *key, struct rpath *p, struct kc_fig *out, kc_err_t *err)
{
	yajl_val v = kc_json_member(obj, key);
	*out = KC_FIG_NONE;
	if (!v || YAJL_IS_NULL(v))
		return 0; /* null or absent: not measured */
	size_t o = rp_push(p, "/%s", key);
	if (!YAJL_IS_NUMBER(v))
		return bad(p, err, "not a number or null");
	double d;
	if (v->u.number.flags & YAJL_NUMBER_DOUBLE_VALID)
		d = v->u.number.d;
	else if (v->u.number.flags & YAJL_NUMBER_INT_VALID)
		d = (double)v->u.number.i;
	else
		return bad(p, err, "number out of range");
	if (!isfinite(d))
		return bad(p, err, "number out of range");
	rp_pop(p, o);
	*out = kc_fig(d);
	return 0;
}

static int rd_str(yajl_val obj, const char *key, bool required, struct rpath *p, char **out,
		  kc_err_t *err)
{
	yajl_val v = kc_json_member(obj, key);
	*out = NULL;
	size_t o = rp_push(p, "/%s", key);
	if (!v || YAJL_IS_NULL(v)) {
		if (required)
			return bad(p, err, "missing");
		rp_pop(p, o);
		return 0;
	}
	if (!YAJL_IS_STRING(v))
		return bad(p, err, "not a string");
	if (!(*out = strdup(v->u.string)))
		return kc_err_sys(err, ENOMEM, "report.json");
	rp_pop(p, o);
	return 0;
}

/* An array member (absent counts as empty), bounded in length. */
static int rd_arr(yajl_val obj, const char *key, struct rpath *p, yajl_val *out, size_t max,
		  kc_err_t *err)
{
	yajl_val v = kc_json_member(obj, key);
	*out = NULL;
	if (!v || YAJL_IS_NULL(v))
		return 0;
	size_t o = rp_push(p, "/%s", key);
	if (!YAJL_IS_ARRAY(v))
		return bad(p, err, "not an array");
	if (v->u.array.len > max)
		return bad(p, err, "too many elements");
	rp_pop(p, o);
	*out = v;
	return 0;
}

static int rd_obj(yajl_val obj, const char *key, struct rpath *p, yajl_val *out, kc_err_t *err)
{
	yajl_val v = kc_json_member(obj, key);
	*out = NULL;
	if (!v || YAJL_IS_NULL(v))
		return 0;
	size_t o = rp_push(p, "/%s", key);
	if (!YAJL_IS_OBJECT(v))
		return bad(p, err, "not an object");
	rp_pop(p, o);
	*out = v;
	return 0;
}

static int rd_result(yajl_val v, struct rpath *p, struct kc_report_result *res, kc_err_t *err)
{
	memset(res, 0, sizeof *res);
	if (!v || YAJL_IS_NULL(v))
		return 0; /* approach did not run */
	if (!YAJL_IS_OBJECT(v))
		return bad(p, err, "not an object or null");
	res->present = true;
	yajl_val arr, o;
	if (rd_str(v, "outcome", true, p, &res->outcome, err) < 0 ||
	    rd_str(v, "error", false, p, &res->error, err) < 0 ||
	    rd_fig(v, "wall_ms", p, &res->wall_ms, err) < 0 ||
	    rd_fig(v, "cpu_seconds", p, &res->cpu_seconds, err) < 0 ||
	    rd_fig(v, "peak_memory_bytes", p, &res->peak_memory_bytes, err) < 0 ||
	    rd_fig(v, "image_bytes_pulled", p, &res->image_bytes_pulled, err) < 0 ||
	    rd_fig(v, "image_bytes_stored", p, &res->image_bytes_stored, err) < 0)
		return -1;

	if (rd_arr(v, "phases", p, &arr, KC_REPORT_MAX_ITEMS, err) < 0)
		return -1;
	for (size_t i = 0; arr && i < arr->u.array.len; i++) {
		size_t old = rp_push(p, "/phases/%zu", i);
		yajl_val e = arr->u.array.values[i];
		cleanup_free char *name = NULL;
		struct kc_fig ms;
		if (!YAJL_IS_OBJECT(e))
			return bad(p, err, "not an object");
		if (rd_str(e, "name", true, p, &name, err) < 0 ||
		    rd_fig(e, "ms", p, &ms, err) < 0 || kc_result_add_phase(res, name, ms, err) < 0)
			return -1;
		rp_pop(p, old);
	}

	if (rd_obj(v, "probe", p, &o, err) < 0)
		return -1;
	if (o) {
		size_t old = rp_push(p, "/probe");
		if (rd_fig(o, "requests", p, &res->probe.requests, err) < 0 ||
		    rd_fig(o, "failures", p, &res->probe.failures, err) < 0 ||
		    rd_fig(o, "longest_gap_ms", p, &res->probe.longest_gap_ms, err) < 0 ||
		    rd_arr(o, "samples", p, &arr, KC_REPORT_MAX_ITEMS, err) < 0)
			return -1;
		for (size_t i = 0; arr && i < arr->u.array.len; i++) {
			size_t o2 = rp_push(p, "/samples/%zu", i);
			yajl_val e = arr->u.array.values[i];
			if (!YAJL_IS_OBJECT(e))
				return bad(p, err, "not an object");
			struct kc_fig t, status;
			struct kc_report_sample s = {0};
			yajl_val ok = kc_json_member(e, "ok");
			if (!ok || !(YAJL_IS_TRUE(ok) || YAJL_IS_FALSE(ok)))
				return bad(p, err, "\"ok\" is not a boolean");
			s.ok = YAJL_IS_TRUE(ok);
			if (rd_fig(e, "t_ms", p, &t, err) < 0 ||
			    rd_fig(e, "status", p, &status, err) < 0 ||
			    rd_fig(e, "latency_ms", p, &s.latency_ms, err) < 0)
				return -1;
			if (!t.measured || t.v < 0)
				return bad(p, err, "\"t_ms\" missing or negative");
			s.t_ms = t.v;
			s.status =
			    status.measured && status.v >= 0 && status.v < 1000 ? (int)status.v : 0;
			if (kc_result_add_sample(res, &s, err) < 0)
				return -1;
			rp_pop(p, o2);
		}
		rp_pop(p, old);
	}

	if (rd_arr(v, "writable_bytes", p, &arr, KC_REPORT_MAX_ITEMS, err) < 0)
		return -1;
	for (size_t i = 0; arr && i < arr->u.array.len; i++) {
		size_t old = rp_push(p, "/writable_bytes/%zu", i);
		yajl_val e = arr->u.array.values[i];
		cleanup_free char *name = NULL;
		struct kc_fig b;
		if (!YAJL_IS_OBJECT(e))
			return bad(p, err, "not an object");
		if (rd_str(e, "container", true, p, &name, err) < 0 ||
		    rd_fig(e, "bytes", p, &b, err) < 0 ||
		    kc_result_add_writable(res, name, b, err) < 0)
			return -1;
		rp_pop(p, old);
	}

	if (rd_obj(v, "api", p, &o, err) < 0)
		return -1;
	if (o) {
		size_t old = rp_push(p, "/api");
		if (rd_fig(o, "calls", p, &res->api_calls, err) < 0 ||
		    rd_fig(o, "bytes", p, &res->api_bytes, err) < 0)
			return -1;
		rp_pop(p, old);
	}

	if (rd_obj(v, "drift", p, &o, err) < 0)
		return -1;
	if (o) {
		size_t old = rp_push(p, "/drift");
		if (rd_fig(o, "distinct_states", p, &res->drift.distinct_states, err) < 0 ||
		    rd_arr(o, "replicas", p, &arr, KC_REPORT_MAX_ITEMS, err) < 0)
			return -1;
		for (size_t i = 0; arr && i < arr->u.array.len; i++) {
			size_t o2 = rp_push(p, "/replicas/%zu", i);
			yajl_val e = arr->u.array.values[i];
			cleanup_free char *name = NULL;
			cleanup_free char *state = NULL;
			struct kc_fig a, c, d;
			if (!YAJL_IS_OBJECT(e))
				return bad(p, err, "not an object");
			if (rd_str(e, "replica", true, p, &name, err) < 0 ||
			    rd_str(e, "state", false, p, &state, err) < 0 ||
			    rd_fig(e, "added", p, &a, err) < 0 ||
			    rd_fig(e, "changed", p, &c, err) < 0 ||
			    rd_fig(e, "deleted", p, &d, err) < 0 ||
			    kc_result_add_drift(res, name, state, a, c, d, err) < 0)
				return -1;
			rp_pop(p, o2);
		}
		rp_pop(p, old);
	}

	if (rd_arr(v, "notes", p, &arr, KC_REPORT_MAX_ITEMS, err) < 0)
		return -1;
	for (size_t i = 0; arr && i < arr->u.array.len; i++) {
		yajl_val e = arr->u.array.values[i];
		if (!YAJL_IS_STRING(e)) {
			rp_push(p, "/notes/%zu", i);
			return bad(p, err, "not a string");
		}
		if (kc_result_add_note(res, err, "%s", e->u.string) < 0)
			return -1;
	}
	return 0;
}

static int from_tree(yajl_val root, struct kc_report *r, kc_err_t *err)
{
	struct rpath p = {.len = 0};
	p.buf[0] = '\0';
	if (!YAJL_IS_OBJECT(root))
		return bad(&p, err, "not an object");
	const char *schema = NULL;
	if (kc_json_get_str(root, "/schema", &schema, err) < 0)
		return kc_err_wrap(err, "report.json");
	if (strcmp(schema, KC_REPORT_SCHEMA) != 0)
		return kc_err_new(err, KC_E_UNSUPPORTED, "report.json: schema '%.64s', want '%s'",
				  schema, KC_REPORT_SCHEMA);
	free(r->kctl_version);
	free(r->app);
	r->kctl_version = r->app = NULL;
	if (rd_str(root, "kctl_version", false, &p, &r->kctl_version, err) < 0 ||
	    rd_str(root, "created", false, &p, &r->created, err) < 0 ||
	    rd_str(root, "app", true, &p, &r->app, err) < 0 ||
	    rd_str(root, "manifest", false, &p, &r->manifest, err) < 0 ||
	    rd_str(root, "engine", false, &p, &r->engine, err) < 0 ||
	    rd_str(root, "fault", false, &p, &r->fault, err) < 0)
		return -1;
	struct kc_fig replicas;
	if (rd_fig(root, "replicas", &p, &replicas, err) < 0)
		return -1;
	if (replicas.measured && (replicas.v < 0 || replicas.v > 1e6))
		return kc_err_new(err, KC_E_INVALID, "report.json /replicas: out of range");
	r->replicas = replicas.measured ? (int64_t)replicas.v : 0;
	yajl_val o, arr;
	if (rd_obj(root, "probe", &p, &o, err) < 0)
		return -1;
	if (o) {
		size_t old = rp_push(&p, "/probe");
		if (rd_fig(o, "rate_hz", &p, &r->probe_rate_hz, err) < 0 ||
		    rd_str(o, "url", false, &p, &r->probe_url, err) < 0)
			return -1;
		rp_pop(&p, old);
	}
	if (rd_arr(root, "versions", &p, &arr, KC_REPORT_MAX_STEPS + 1, err) < 0)
		return -1;
	for (size_t i = 0; arr && i < arr->u.array.len; i++) {
		if (!YAJL_IS_STRING(arr->u.array.values[i])) {
			rp_push(&p, "/versions/%zu", i);
			return bad(&p, err, "not a string");
		}
		if (kc_report_add_version(r, arr->u.array.values[i]->u.string, err) < 0)
			return -1;
	}
	if (rd_arr(root, "steps", &p, &arr, KC_REPORT_MAX_STEPS, err) < 0)
		return -1;
	for (size_t i = 0; arr && i < arr->u.array.len; i++) {
		size_t old = rp_push(&p, "/steps/%zu", i);
		yajl_val e = arr->u.array.values[i];
		if (!YAJL_IS_OBJECT(e))
			return bad(&p, err, "not an object");
		cleanup_free char *from = NULL;
		cleanup_free char *to = NULL;
		struct kc_report_step *s;
		if (rd_str(e, "from", true, &p, &from, err) < 0 ||
		    rd_str(e, "to", true, &p, &to, err) < 0 ||
		    kc_report_add_step(r, from, to, &s, err) < 0)
			return -1;
		for (int a = 0; a < KC_APPROACHES; a++) {
			size_t o2 = rp_push(&p, "/%s", approach_names[a]);
			if (rd_result(kc_json_member(e, approach_names[a]), &p, &s->r[a], err) < 0)
				return -1;
			rp_pop(&p, o2);
		}
		rp_pop(&p, old);
	}
	return 0;
}

int kc_report_from_json(const char *buf, size_t len, struct kc_report **out, kc_err_t *err)
{
	if (len > KC_REPORT_MAX_FILE)
		return kc_err_new(err, KC_E_TOOBIG, "report.json: %zu bytes over %u", len,
				  KC_REPORT_MAX_FILE);
	cleanup_json yajl_val root = NULL;
	if (kc_json_parse(buf, len, &root, err) < 0)
		return kc_err_wrap(err, "report.json");
	struct kc_report *r;
	if (kc_report_new(NULL, &r, err) < 0)
		return -1;
	if (from_tree(root, r, err) < 0) {
		kc_report_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

int kc_report_load(const char *path, struct kc_report **out, kc_err_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kc_err_sys(err, errno, "opening %s", path);
	size_t cap = 64 * 1024, len = 0;
	cleanup_free char *buf = malloc(cap);
	if (!buf)
		return kc_err_sys(err, ENOMEM, "reading %s", path);
	for (;;) {
		if (len == cap) {
			if (cap > KC_REPORT_MAX_FILE)
				return kc_err_new(err, KC_E_TOOBIG, "%s: over %u bytes", path,
						  KC_REPORT_MAX_FILE);
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				return kc_err_sys(err, ENOMEM, "reading %s", path);
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kc_err_sys(err, errno, "reading %s", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (kc_report_from_json(buf, len, out, err) < 0)
		return kc_err_wrap(err, "%s", path);
	return 0;
}

/* ---- report.html ---- */

#define C_IMM "#2563eb"
#define C_MUT "#ea580c"
#define C_FAIL "#dc2626"
#define C_OK "#94a3b8"
#define C_GRID "#e2e8f0"
#define C_AXIS "#475569"

/* Writes s escaped for HTML text and attribute values. Control characters and
 * invalid UTF-8 become U+FFFD, so the page stays well-formed (also as XML). */
static void esc(FILE *o, const char *s)
{
	if (!s)
		return;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned char c = *p;
		if (c < 0x80) {
			switch (c) {
			case '&':
				fputs("&amp;", o);
				break;
			case '<':
				fputs("&lt;", o);
				break;
			case '>':
				fputs("&gt;", o);
				break;
			case '"':
				fputs("&quot;", o);
				break;
			case '\'':
				fputs("&#39;", o);
				break;
			default:
				if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
					fputs("\xef\xbf\xbd", o);
				else
					fputc(c, o);
			}
			p++;
			continue;
		}
		/* Validate one UTF-8 sequence (no overlongs, surrogates or > U+10FFFF). */
		int n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
		if (c >= 0xf5)
			n = 0;
		bool ok = n > 0;
		for (int i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (ok && n == 3) {
			if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0))
				ok = false;
			/* U+FFFE and U+FFFF are not XML characters. */
			if (c == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
				ok = false;
		}
		if (ok && n == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90)))
			ok = false;
		if (!ok) {
			fputs("\xef\xbf\xbd", o);
			p++;
			continue;
		}
		fwrite(p, 1, (size_t)n, o);
		p += n;
	}
}

/* An axis with round ticks in one display unit: the divisor of that unit
 * (1024^k for bytes, 1000 for ms shown as seconds), the tick step and the top. */
struct axis {
	double div, step, top;
	int decimals;
};

static double nice_step(double raw)
{
	double e = pow(10, floor(log10(raw)));
	double f = raw / e;
	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * e;
}

static struct axis make_axis(double max, enum unit u, int ticks, double headroom)
{
	struct axis a = {.div = 1};
	if (u == U_BYTES)
		while (max / a.div >= 1024 && a.div < 1099511627776.0)
			a.div *= 1024;
	if (u == U_MS && max >= 1000)
		a.div = 1000;
	double m = max / a.div;
	if (!(m > 0))
		m = u == U_MS ? 1000 : 1;
	double step = nice_step(m * headroom / ticks);
	if (u == U_COUNT && step < 1)
		step = 1;
	a.top = ceil(m * headroom / step - 1e-9) * step;
	if (a.top <= 0)
		a.top = step;
	for (a.decimals = 0; a.decimals < 3; a.decimals++) {
		double scaled = step * pow(10, a.decimals);
		if (fabs(scaled - round(scaled)) < 1e-6)
			break;
	}
	a.step = step * a.div;
	a.top *= a.div;
	return a;
}

static void fmt_tick(const struct axis *a, double v, enum unit u, char *buf, size_t cap)
{
	static const char *const bsuf[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	const char *suffix = "";
	if (u == U_BYTES) {
		int k = 0;
		for (double d = a->div; d >= 1024 && k < 4; d /= 1024)
			k++;
		suffix = bsuf[k];
	} else if (u == U_MS) {
		suffix = a->div == 1000 ? "s" : "ms";
	} else if (u == U_SECONDS) {
		suffix = "s";
	}
	snprintf(buf, cap, "%.*f%s%s", v == 0 ? 0 : a->decimals, v / a->div, *suffix ? " " : "",
		 suffix);
}

static void step_label(FILE *o, const struct kc_report_step *s)
{
	esc(o, s->from);
	fputs(" \xe2\x86\x92 ", o); /* → */
	esc(o, s->to);
}

static void legend(FILE *o, double x, double y)
{
	fprintf(o,
		"<g class=\"legend\"><rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" "
		"rx=\"2\" fill=\"" C_IMM "\"/><text x=\"%.1f\" y=\"%.1f\">immutable</text>"
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" rx=\"2\" fill=\"" C_MUT
		"\"/><text x=\"%.1f\" y=\"%.1f\">mutable</text></g>\n",
		x, y - 9, x + 14, y, x + 86, y - 9, x + 100, y);
}

/* Grouped bars: one group per step, immutable and mutable side by side. */
static void svg_bars(FILE *o, const struct kc_report *r, const struct metric *m)
{
	const double W = 520, H = 260, ml = 72, mr = 12, mt = 30, mb = 40;
	const double pw = W - ml - mr, ph = H - mt - mb;
	double max = 0;
	for (size_t s = 0; s < r->n_steps; s++)
		for (int a = 0; a < KC_APPROACHES; a++) {
			const struct kc_report_result *res = &r->steps[s].r[a];
			struct kc_fig f = res->present ? m->get(res) : KC_FIG_NONE;
			if (f.measured && f.v > max)
				max = f.v;
		}
	if (m->unit == U_COUNT && max < 4)
		max = 4; /* whole numbers on the axis */
	struct axis ax = make_axis(max, m->unit, 4, 1.08);
	double top = ax.top;
	fprintf(
	    o,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 %.0f %.0f\" "
	    "width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"",
	    W, H, W, H);
	esc(o, m->title);
	fputs("\">\n", o);
	legend(o, W - mr - 170, 16);
	int nt = (int)lround(top / ax.step);
	for (int t = 0; t <= nt; t++) {
		double v = ax.step * t, y = mt + ph - ph * v / top;
		char lab[32];
		fmt_tick(&ax, v, m->unit, lab, sizeof lab);
		fprintf(
		    o,
		    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>"
		    "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
		    ml, y, W - mr, y, t ? C_GRID : C_AXIS, ml - 6, y + 4, lab);
	}
	double gw = r->n_steps ? pw / (double)r->n_steps : pw;
	double bw = fmin(gw * 0.3, 56);
	for (size_t s = 0; s < r->n_steps; s++) {
		double cx = ml + gw * ((double)s + 0.5);
		for (int a = 0; a < KC_APPROACHES; a++) {
			const struct kc_report_result *res = &r->steps[s].r[a];
			double x = a == KC_IMMUTABLE ? cx - bw - 3 : cx + 3;
			struct kc_fig f = res->present ? m->get(res) : KC_FIG_NONE;
			if (!f.measured) {
				/* An outline and the words, never a zero-height bar. */
				fprintf(
				    o,
				    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				    "fill=\"none\" stroke=\"%s\" stroke-dasharray=\"4 3\"/>"
				    "<text class=\"nm\" transform=\"translate(%.1f,%.1f) "
				    "rotate(-90)\">%s</text>\n",
				    x, mt + ph * 0.35, bw, ph * 0.65,
				    a == KC_IMMUTABLE ? C_IMM : C_MUT, x + bw / 2 + 4, mt + ph - 6,
				    res->present ? NOT_MEASURED : "not run");
				continue;
			}
			double h = top > 0 ? ph * fmax(f.v, 0) / top : 0;
			double y = mt + ph - h;
			char lab[32];
			fmt_val(f.v, m->unit, lab, sizeof lab);
			fprintf(o,
				"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				"rx=\"2\" fill=\"%s\"><title>%s, ",
				x, y, bw, fmax(h, 0.5), a == KC_IMMUTABLE ? C_IMM : C_MUT,
				approach_names[a]);
			step_label(o, &r->steps[s]);
			fprintf(o,
				": %s</title></rect><text class=\"val\" x=\"%.1f\" y=\"%.1f\" "
				"text-anchor=\"middle\">%s</text>\n",
				lab, x + bw / 2, y - 4, lab);
		}
		fprintf(o, "<text class=\"step\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", cx,
			H - mb + 18);
		step_label(o, &r->steps[s]);
		fputs("</text>\n", o);
	}
	fputs("</svg>\n", o);
}

/* Longest stretch without a good answer, from the raw samples: [*from, *to). */
static double sample_gap(const struct kc_report_probe *p, double end, double *from, double *to)
{
	double last_ok = 0, best = 0;
	*from = *to = 0;
	bool any_fail = false;
	for (size_t i = 0; i <= p->n_samples; i++) {
		bool is_end = i == p->n_samples;
		if (!is_end && !p->samples[i].ok) {
			any_fail = true;
			continue;
		}
		double t = is_end ? end : p->samples[i].t_ms;
		if (any_fail && t - last_ok > best) {
			best = t - last_ok;
			*from = last_ok;
			*to = t;
		}
		if (!is_end) {
			last_ok = t;
			any_fail = false;
		}
	}
	return best;
}

/* One lane per approach: a tick per request, red where it failed, the longest
 * gap shaded. */
static void svg_timeline(FILE *o, const struct kc_report_step *s)
{
	const double W = 1040, ml = 92, mr = 16, mt = 14, lane = 34, gap = 12, mb = 34;
	const double H = mt + KC_APPROACHES * lane + (KC_APPROACHES - 1) * gap + mb;
	const double pw = W - ml - mr;
	double end = 0;
	for (int a = 0; a < KC_APPROACHES; a++) {
		const struct kc_report_result *res = &s->r[a];
		if (!res->present)
			continue;
		if (res->wall_ms.measured)
			end = fmax(end, res->wall_ms.v);
		for (size_t i = 0; i < res->probe.n_samples; i++)
			end = fmax(end, res->probe.samples[i].t_ms);
	}
	struct axis ax = make_axis(end, U_MS, 10, 1.0);
	double span = ax.top;
	fprintf(o,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart wide\" viewBox=\"0 0 %.0f "
		"%.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"probe timeline ",
		W, H, W, H);
	step_label(o, s);
	fputs("\">\n", o);
	double axis_y = mt + KC_APPROACHES * lane + (KC_APPROACHES - 1) * gap;
	int nt = (int)lround(span / ax.step);
	for (int t = 0; t <= nt; t++) {
		double x = ml + pw * ax.step * t / span;
		char lab[32];
		fmt_tick(&ax, ax.step * t, U_MS, lab, sizeof lab);
		fprintf(
		    o,
		    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>"
		    "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
		    x, mt - 4, x, axis_y + 4, C_GRID, x, axis_y + 18, lab);
	}
	for (int a = 0; a < KC_APPROACHES; a++) {
		const struct kc_report_result *res = &s->r[a];
		double y = mt + a * (lane + gap);
		fprintf(
		    o,
		    "<text class=\"lane\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
		    "fill=\"%s\">%s</text>"
		    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f8fafc\" "
		    "stroke=\"" C_GRID "\"/>\n",
		    ml - 8, y + lane / 2 + 4, a == KC_IMMUTABLE ? C_IMM : C_MUT, approach_names[a],
		    ml, y, pw, lane);
		if (!res->present || (res->probe.n_samples == 0 && !res->probe.requests.measured)) {
			fprintf(o, "<text class=\"nm\" x=\"%.1f\" y=\"%.1f\">%s</text>\n", ml + 10,
				y + lane / 2 + 4, res->present ? NOT_MEASURED : "not run");
			continue;
		}
		if (res->probe.n_samples == 0) {
			fprintf(o,
				"<text class=\"nm\" x=\"%.1f\" y=\"%.1f\">no raw samples "
				"recorded</text>\n",
				ml + 10, y + lane / 2 + 4);
			continue;
		}
		double gfrom, gto;
		double wall_end = res->wall_ms.measured ? res->wall_ms.v : span;
		if (sample_gap(&res->probe, wall_end, &gfrom, &gto) > 0) {
			double x0 = ml + pw * gfrom / span, x1 = ml + pw * fmin(gto, span) / span;
			char lab[32];
			fmt_fig(res->probe.longest_gap_ms, U_MS, lab, sizeof lab);
			fprintf(o,
				"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				"fill=\"" C_FAIL
				"\" fill-opacity=\"0.12\"><title>longest gap: %s</title>"
				"</rect>\n",
				x0, y, fmax(x1 - x0, 1), lane, lab);
		}
		/* Successes as one path (cheap for thousands of samples), failures on top. */
		fputs("<path stroke=\"" C_OK "\" stroke-width=\"1\" d=\"", o);
		for (size_t i = 0; i < res->probe.n_samples; i++) {
			const struct kc_report_sample *p = &res->probe.samples[i];
			if (p->ok)
				fprintf(o, "M%.1f %.1fv10", ml + pw * fmin(p->t_ms, span) / span,
					y + lane / 2 - 5);
		}
		fputs("\"/>\n<path stroke=\"" C_FAIL "\" stroke-width=\"2\" d=\"", o);
		for (size_t i = 0; i < res->probe.n_samples; i++) {
			const struct kc_report_sample *p = &res->probe.samples[i];
			if (!p->ok)
				fprintf(o, "M%.1f %.1fv%.1f", ml + pw * fmin(p->t_ms, span) / span,
					y + 3, lane - 6);
		}
		fputs("\"/>\n", o);
		if (res->wall_ms.measured) {
			double x = ml + pw * fmin(res->wall_ms.v, span) / span;
			fprintf(
			    o,
			    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
			    "stroke-width=\"2\"><title>step done</title></line>\n",
			    x, y - 3, x, y + lane + 3, a == KC_IMMUTABLE ? C_IMM : C_MUT);
		}
	}
	fprintf(o,
		"<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">time since "
		"the step started</text>\n",
		W - mr, H - 4);
	fputs("</svg>\n", o);
}

static void probe_summary(FILE *o, const struct kc_report_result *res)
{
	if (!res->present) {
		fputs("not run", o);
		return;
	}
	char f[32], n[32], g[32];
	fmt_fig(res->probe.failures, U_COUNT, f, sizeof f);
	fmt_fig(res->probe.requests, U_COUNT, n, sizeof n);
	fmt_fig(res->probe.longest_gap_ms, U_MS, g, sizeof g);
	fprintf(o, "%s of %s requests failed, longest gap %s", f, n, g);
}

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,"
    "sans-serif;color:#0f172a;background:#f1f5f9;margin:0}"
    "main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 12px;"
    "border-bottom:1px solid #cbd5e1;padding-bottom:6px}"
    ".meta{color:#475569;margin:0 0 16px}.meta b{color:#0f172a;font-weight:600}"
    ".key{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px}"
    "table{border-collapse:collapse;background:#fff;width:100%;font-size:13px;"
    "box-shadow:0 1px 2px rgba(15,23,42,.08)}"
    "th,td{padding:5px 8px;border-bottom:1px solid #e2e8f0;text-align:right;"
    "white-space:nowrap}th{white-space:normal;vertical-align:bottom}"
    ".scroll{overflow-x:auto}"
    "th{background:#f8fafc;font-weight:600;color:#334155}"
    "td.l,th.l{text-align:left}tr.imm td.a{color:" C_IMM ";font-weight:600}"
    "tr.mut td.a{color:" C_MUT ";font-weight:600}"
    "td.nm,.nmt{color:#64748b;font-style:italic}td.hot{color:" C_FAIL ";font-weight:600}"
    ".grid{display:grid;grid-template-columns:repeat(2,1fr);gap:16px}"
    "figure{margin:0;background:#fff;padding:12px 14px 8px;border-radius:6px;"
    "box-shadow:0 1px 2px rgba(15,23,42,.08)}"
    "figure.wide{grid-column:1/-1}"
    "figcaption{font-weight:600;margin-bottom:2px}figcaption span{font-weight:400;"
    "color:#64748b;font-size:12px;display:block}"
    "svg.chart{width:100%;height:auto;font-family:inherit}"
    "svg text{font-size:11px;fill:#334155}svg text.tick{fill:#64748b;font-size:10.5px}"
    "svg text.val{font-weight:600}svg text.step{font-size:12px;fill:#0f172a}"
    "svg text.nm{fill:#64748b;font-style:italic;font-size:11px}"
    "svg text.lane{font-weight:600;font-size:12px}"
    ".sw{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px}"
    "code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}"
    "ul.notes{margin:6px 0;color:#475569}"
    "footer{margin-top:36px;color:#64748b;font-size:12px}";

static void td_fig(FILE *o, struct kc_fig f, enum unit u, bool hot)
{
	char buf[40];
	fmt_fig(f, u, buf, sizeof buf);
	fprintf(o, "<td%s>%s</td>",
		!f.measured	 ? " class=\"nm\""
		: hot && f.v > 0 ? " class=\"hot\""
				 : "",
		buf);
}

static void summary_table(FILE *o, const struct kc_report *r)
{
	fputs("<table><thead><tr><th class=\"l\">Step</th><th class=\"l\">Approach</th>"
	      "<th class=\"l\">Outcome</th><th>Wall time</th><th>Failed / sent</th>"
	      "<th>Longest gap</th><th>CPU</th><th>Peak memory</th><th>Pulled</th>"
	      "<th>Stored</th><th>Writable</th><th>API calls</th><th>API bytes</th>"
	      "<th>Drift files</th><th>States</th></tr></thead><tbody>\n",
	      o);
	for (size_t s = 0; s < r->n_steps; s++)
		for (int a = 0; a < KC_APPROACHES; a++) {
			const struct kc_report_result *res = &r->steps[s].r[a];
			fprintf(o, "<tr class=\"%s\"><td class=\"l\">", a ? "mut" : "imm");
			step_label(o, &r->steps[s]);
			fprintf(o, "</td><td class=\"l a\">%s</td>", approach_names[a]);
			if (!res->present) {
				fputs("<td class=\"l nm\" colspan=\"13\">not run</td></tr>\n", o);
				continue;
			}
			bool bad_outcome = res->outcome && strcmp(res->outcome, "ok") != 0;
			fprintf(o, "<td class=\"l%s\">", bad_outcome ? " hot" : "");
			esc(o, res->outcome);
			fputs("</td>", o);
			td_fig(o, res->wall_ms, U_MS, false);
			if (res->probe.failures.measured && res->probe.requests.measured)
				fprintf(o, "<td%s>%.0f / %.0f</td>",
					res->probe.failures.v > 0 ? " class=\"hot\"" : "",
					res->probe.failures.v, res->probe.requests.v);
			else
				fputs("<td class=\"nm\">" NOT_MEASURED "</td>", o);
			td_fig(o, res->probe.longest_gap_ms, U_MS, false);
			td_fig(o, res->cpu_seconds, U_SECONDS, false);
			td_fig(o, res->peak_memory_bytes, U_BYTES, false);
			td_fig(o, res->image_bytes_pulled, U_BYTES, false);
			td_fig(o, res->image_bytes_stored, U_BYTES, false);
			td_fig(o, kc_result_writable_total(res), U_BYTES, false);
			td_fig(o, res->api_calls, U_COUNT, false);
			td_fig(o, res->api_bytes, U_BYTES, false);
			td_fig(o, kc_result_drift_files(res), U_COUNT, true);
			td_fig(o, res->drift.distinct_states, U_COUNT, false);
			fputs("</tr>\n", o);
		}
	fputs("</tbody></table>\n", o);
}

/* Drift states in order of first appearance: each gets its own colour, so
 * replicas in different states never look alike (until the palette runs out). */
struct palette {
	const char *states[64];
	size_t n;
};

static void palette_build(const struct kc_report *r, struct palette *p)
{
	p->n = 0;
	for (size_t s = 0; s < r->n_steps; s++)
		for (int a = 0; a < KC_APPROACHES; a++) {
			const struct kc_report_result *res = &r->steps[s].r[a];
			for (size_t i = 0; res->present && i < res->drift.n_replicas; i++) {
				const char *st = res->drift.replicas[i].state;
				bool known = !st;
				for (size_t k = 0; k < p->n && !known; k++)
					known = strcmp(p->states[k], st) == 0;
				if (!known && p->n < sizeof p->states / sizeof p->states[0])
					p->states[p->n++] = st;
			}
		}
}

static const char *palette_colour(const struct palette *p, const char *state)
{
	static const char *const pal[] = {"#16a34a", "#9333ea", "#0891b2", "#db2777", "#ca8a04",
					  "#4f46e5", "#65a30d", "#be123c", "#0d9488", "#7c3aed"};
	for (size_t k = 0; k < p->n; k++)
		if (strcmp(p->states[k], state) == 0)
			return pal[k % (sizeof pal / sizeof pal[0])];
	return "#64748b";
}

static void drift_table(FILE *o, const struct kc_report *r)
{
	struct palette pal;
	palette_build(r, &pal);
	fputs("<table><thead><tr><th class=\"l\">Step</th><th class=\"l\">Approach</th>"
	      "<th class=\"l\">Replica</th><th>Added</th><th>Changed</th><th>Deleted</th>"
	      "<th class=\"l\">State</th><th>Distinct states</th></tr></thead><tbody>\n",
	      o);
	for (size_t s = 0; s < r->n_steps; s++)
		for (int a = 0; a < KC_APPROACHES; a++) {
			const struct kc_report_result *res = &r->steps[s].r[a];
			size_t n = res->present ? res->drift.n_replicas : 0;
			size_t rows = n ? n : 1;
			for (size_t i = 0; i < rows; i++) {
				fprintf(o, "<tr class=\"%s\">", a ? "mut" : "imm");
				if (i == 0) {
					fprintf(o, "<td class=\"l\" rowspan=\"%zu\">", rows);
					step_label(o, &r->steps[s]);
					fprintf(o, "</td><td class=\"l a\" rowspan=\"%zu\">%s</td>",
						rows, approach_names[a]);
				}
				if (n == 0) {
					fprintf(o, "<td class=\"l nm\" colspan=\"5\">%s</td>",
						res->present ? NOT_MEASURED : "not run");
				} else {
					const struct kc_report_replica_drift *d = &res->drift.replicas[i];
					fputs("<td class=\"l\">", o);
					esc(o, d->replica);
					fputs("</td>", o);
					td_fig(o, d->added, U_COUNT, true);
					td_fig(o, d->changed, U_COUNT, true);
					td_fig(o, d->deleted, U_COUNT, true);
					if (d->state) {
						fprintf(o,
							"<td class=\"l\"><span class=\"sw\" "
							"style=\"background:%s\"></span><code>",
							palette_colour(&pal, d->state));
						/* A short prefix identifies the state well enough.
						 */
						char shortst[17];
						snprintf(shortst, sizeof shortst, "%s", d->state);
						/* Do not cut a UTF-8 sequence in half. */
						size_t k = strlen(shortst);
						while (k > 0 &&
						       ((unsigned char)shortst[k - 1] & 0x80))
							shortst[--k] = '\0';
						esc(o, shortst);
						fputs("</code></td>", o);
					} else {
						fputs("<td class=\"l nm\">" NOT_MEASURED "</td>",
						      o);
					}
				}
				if (i == 0) {
					char buf[40];
					struct kc_fig f =
					    res->present ? res->drift.distinct_states : KC_FIG_NONE;
					fmt_fig(f, U_COUNT, buf, sizeof buf);
					fprintf(o, "<td rowspan=\"%zu\"%s>%s</td>", rows,
						!f.measured ? " class=\"nm\""
						: f.v > 1   ? " class=\"hot\""
							    : "",
						buf);
				}
				fputs("</tr>\n", o);
			}
		}
	fputs("</tbody></table>\n", o);
}

static void phases_table(FILE *o, const struct kc_report *r)
{
	fputs("<table><thead><tr><th class=\"l\">Step</th><th class=\"l\">Approach</th>"
	      "<th class=\"l\">Phases</th><th class=\"l\">Notes</th></tr></thead><tbody>\n",
	      o);
	for (size_t s = 0; s < r->n_steps; s++)
		for (int a = 0; a < KC_APPROACHES; a++) {
			const struct kc_report_result *res = &r->steps[s].r[a];
			fprintf(o, "<tr class=\"%s\"><td class=\"l\">", a ? "mut" : "imm");
			step_label(o, &r->steps[s]);
			fprintf(o, "</td><td class=\"l a\">%s</td><td class=\"l\">",
				approach_names[a]);
			if (!res->present || res->n_phases == 0)
				fputs("<span class=\"nmt\">none recorded</span>", o);
			for (size_t i = 0; res->present && i < res->n_phases; i++) {
				char buf[40];
				fmt_fig(res->phases[i].ms, U_MS, buf, sizeof buf);
				fputs(i ? " \xc2\xb7 " : "", o);
				esc(o, res->phases[i].name);
				fprintf(o, " <b>%s</b>", buf);
			}
			fputs("</td><td class=\"l\" style=\"white-space:normal\">", o);
			if (res->present && res->error) {
				fputs("<b>error:</b> ", o);
				esc(o, res->error);
				if (res->n_notes)
					fputs("<br/>", o);
			}
			for (size_t i = 0; res->present && i < res->n_notes; i++) {
				if (i)
					fputs("<br/>", o);
				esc(o, res->notes[i]);
			}
			fputs("</td></tr>\n", o);
		}
	fputs("</tbody></table>\n", o);
}

size_t kc_report_html_chart_count(const struct kc_report *r)
{
	return N_METRICS + r->n_steps;
}

int kc_report_write_html(const struct kc_report *r, FILE *o, kc_err_t *err)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\n"
	      /* Belt and braces: even an escaping bug could not load or run anything. */
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\"/>\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
	      "<title>kctl compare: ",
	      o);
	esc(o, r->app);
	fprintf(o, "</title>\n<style>%s</style></head>\n<body><main>\n<h1>kctl compare: ", css);
	esc(o, r->app);
	fputs("</h1>\n<p class=\"meta\">Versions <b>", o);
	for (size_t i = 0; i < r->n_versions; i++) {
		if (i)
			fputs(" \xe2\x86\x92 ", o);
		esc(o, r->versions[i]);
	}
	fprintf(o, "</b> \xc2\xb7 <b>%" PRId64 "</b> replicas", r->replicas);
	if (r->probe_rate_hz.measured)
		fprintf(o, " \xc2\xb7 probe at <b>%.0f</b>/s", r->probe_rate_hz.v);
	if (r->probe_url) {
		fputs(" on <code>", o);
		esc(o, r->probe_url);
		fputs("</code>", o);
	}
	if (r->fault) {
		fputs(" \xc2\xb7 fault <b>", o);
		esc(o, r->fault);
		fputs("</b>", o);
	}
	if (r->engine) {
		fputs(" \xc2\xb7 ", o);
		esc(o, r->engine);
	}
	if (r->created) {
		fputs(" \xc2\xb7 ", o);
		esc(o, r->created);
	}
	fputs("<br/>Each step runs twice from the same start: <span class=\"key\" "
	      "style=\"background:" C_IMM "\"></span><b>immutable</b> (a new image, new "
	      "containers replace the old) and <span class=\"key\" style=\"background:" C_MUT
	      "\"></span><b>mutable</b> (the running containers are edited in place). "
	      "Figures that could not be measured say so.</p>\n",
	      o);

	fputs("<h2>Summary</h2>\n<div class=\"scroll\">", o);
	summary_table(o, r);
	fputs("</div>\n", o);

	fputs("<h2>Charts</h2>\n<div class=\"grid\">\n", o);
	for (size_t i = 0; i < N_METRICS; i++) {
		const struct metric *m = &metrics[i];
		fprintf(o, "<figure id=\"chart-%s\"><figcaption>%s<span>%s</span></figcaption>\n",
			m->id, m->title, m->what);
		svg_bars(o, r, m);
		fputs("</figure>\n", o);
	}
	fputs("</div>\n<h2>Probe timeline</h2>\n<div class=\"grid\">\n", o);
	for (size_t s = 0; s < r->n_steps; s++) {
		const struct kc_report_step *st = &r->steps[s];
		fprintf(o, "<figure class=\"wide\" id=\"chart-probe-%zu\"><figcaption>", s);
		step_label(o, st);
		fputs("<span><b style=\"color:" C_IMM "\">immutable</b>: ", o);
		probe_summary(o, &st->r[KC_IMMUTABLE]);
		fputs(" \xc2\xb7 <b style=\"color:" C_MUT "\">mutable</b>: ", o);
		probe_summary(o, &st->r[KC_MUTABLE]);
		fputs(". Grey: answered; red: failed; shaded: longest gap.</span></figcaption>\n",
		      o);
		svg_timeline(o, st);
		fputs("</figure>\n", o);
	}
	fputs("</div>\n<h2>Drift per replica</h2>\n", o);
	drift_table(o, r);
	fputs("<h2>Phases and notes</h2>\n", o);
	phases_table(o, r);
	fputs("<footer>Generated by kctl ", o);
	esc(o, r->kctl_version);
	fputs(" from report.json. Numbers are measured, never estimated.</footer>\n"
	      "</main></body></html>\n",
	      o);
	if (ferror(o))
		return kc_err_new(err, KC_E_IO, "writing report.html");
	return 0;
}

/* ---- saving ---- */

static int write_atomic(const char *dir, const char *name, const char *data, size_t len,
			kc_err_t *err)
{
	cleanup_free char *tmp = NULL;
	cleanup_free char *dst = NULL;
	if (asprintf(&tmp, "%s/.%s.tmp", dir, name) < 0 || asprintf(&dst, "%s/%s", dir, name) < 0)
		return kc_err_sys(err, ENOMEM, "report");
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return kc_err_sys(err, errno, "creating %s", tmp);
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			unlink(tmp);
			return kc_err_sys(err, e, "writing %s", tmp);
		}
		done += (size_t)n;
	}
	if (fsync(fd) < 0 || rename(tmp, dst) < 0) {
		int e = errno;
		unlink(tmp);
		return kc_err_sys(err, e, "saving %s", dst);
	}
	return 0;
}

int kc_report_save(const struct kc_report *r, const char *dir, kc_err_t *err)
{
	cleanup_free char *json = NULL;
	size_t len;
	if (kc_report_to_json(r, true, &json, &len, err) < 0)
		return -1;
	if (kc_mkdir_p(dir, 0755, err) < 0)
		return -1;
	if (write_atomic(dir, "report.json", json, len, err) < 0)
		return -1;
	cleanup_free char *html = NULL;
	size_t hlen = 0;
	FILE *f = open_memstream(&html, &hlen);
	if (!f)
		return kc_err_sys(err, errno, "report.html");
	int rc = kc_report_write_html(r, f, err);
	if (fclose(f) != 0 && rc == 0)
		rc = kc_err_sys(err, errno, "report.html");
	if (rc < 0)
		return -1;
	return write_atomic(dir, "report.html", html, hlen, err);
}
