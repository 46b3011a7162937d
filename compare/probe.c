/* The steady HTTP probe: see probe.h. */
#include "probe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shim/base/http.h"

struct probe_state {
	struct kc_probe_result *r;
	int64_t begin_ns;
	size_t cap;
	bool oom;
};

static void on_outcome(void *opaque, const struct kc_http_outcome *o)
{
	struct probe_state *st = opaque;
	struct kc_probe_result *r = st->r;
	if (st->begin_ns == 0 || o->start_ns < st->begin_ns)
		st->begin_ns = o->start_ns;
	bool ok = !o->error && o->status >= 200 && o->status < 300;
	r->requests++;
	if (!ok) {
		r->failures++;
		if (!r->first_error) {
			if (o->error)
				r->first_error = strdup(o->error);
			else if (asprintf(&r->first_error, "HTTP %ld", o->status) < 0)
				r->first_error = NULL;
		}
	}
	if (r->n_samples >= KC_PROBE_MAX_SAMPLES)
		return;
	if (r->n_samples == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 1024;
		struct kc_probe_sample *s = realloc(r->samples, cap * sizeof *s);
		if (!s) {
			st->oom = true;
			return;
		}
		r->samples = s;
		st->cap = cap;
	}
	/* Offsets are fixed up once the earliest start is known. */
	r->samples[r->n_samples++] = (struct kc_probe_sample){
		.offset_ms = o->start_ns / 1000000LL,
		.latency_ms = (int32_t)((o->end_ns - o->start_ns) / 1000000LL),
		.status = (int16_t)o->status,
		.ok = ok,
	};
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_sample_start(const void *a, const void *b)
{
	const struct kc_probe_sample *x = a, *y = b;
	return x->offset_ms < y->offset_ms ? -1 : x->offset_ms > y->offset_ms;
}

int64_t kc_probe_longest_gap(const struct kc_probe_sample *s, size_t n, int64_t duration_ms)
{
	/* Answers arrive at offset + latency; order those times. */
	int64_t *ends = malloc((n ? n : 1) * sizeof *ends);
	if (!ends)
		return duration_ms;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i].ok)
			ends[k++] = s[i].offset_ms + s[i].latency_ms;
	qsort(ends, k, sizeof *ends, cmp_i64);
	int64_t prev = 0, gap = 0;
	for (size_t i = 0; i < k; i++) {
		if (ends[i] - prev > gap)
			gap = ends[i] - prev;
		prev = ends[i];
	}
	if (duration_ms - prev > gap)
		gap = duration_ms - prev;
	free(ends);
	return gap;
}

int kc_probe_run(const struct kc_probe_config *cfg, struct kc_probe_result *out, kc_err_t *err)
{
	memset(out, 0, sizeof *out);
	if (!cfg->url || strncmp(cfg->url, "http://", 7) != 0)
		return kc_err_new(err, KC_E_INVALID, "probe: URL must start with http://");
	if (cfg->rate <= 0 || cfg->rate > 5000)
		return kc_err_new(err, KC_E_INVALID, "probe: rate must be in (0, 5000] per second");
	if (cfg->duration_ms <= 0 || cfg->duration_ms > 3600 * 1000L)
		return kc_err_new(err, KC_E_INVALID, "probe: duration must be in (0, 1h]");
	long timeout = cfg->timeout_ms ? cfg->timeout_ms : 1000;
	struct kc_http_config hc = {.base_url = cfg->url,
				    .connect_timeout_ms = timeout,
				    .timeout_ms = timeout,
				    .max_response = 1u << 20,
				    .max_retries = -1,
				    .log = cfg->log};
	struct kc_http *h = NULL;
	if (kc_http_new(&hc, &h, err) < 0)
		return -1;
	struct probe_state st = {.r = out};
	struct kc_http_request req = {.path = "", .fresh_connection = true, .no_retry = true};
	/* Enough slots for a full timeout's worth of requests in flight. */
	size_t in_flight = (size_t)(cfg->rate * (double)timeout / 1000.0) + 4;
	int rc = kc_http_run_paced(h, &req, cfg->rate, cfg->duration_ms, in_flight, cfg->stop,
				   on_outcome, &st, err);
	kc_http_free(h);
	if (rc < 0 || st.oom) {
		kc_probe_result_free(out);
		return rc < 0 ? kc_err_wrap(err, "probe %s", cfg->url)
			      : kc_err_sys(err, ENOMEM, "probe");
	}
	int64_t begin_ms = st.begin_ns / 1000000LL;
	for (size_t i = 0; i < out->n_samples; i++)
		out->samples[i].offset_ms -= begin_ms;
	qsort(out->samples, out->n_samples, sizeof *out->samples, cmp_sample_start);
	/* Stopped early: the window is what was probed, up to the last answer. */
	out->duration_ms = cfg->duration_ms;
	if (cfg->stop && *cfg->stop && out->n_samples) {
		const struct kc_probe_sample *last = &out->samples[out->n_samples - 1];
		int64_t probed = last->offset_ms + last->latency_ms;
		if (probed < out->duration_ms)
			out->duration_ms = probed;
	}
	out->longest_gap_ms = kc_probe_longest_gap(out->samples, out->n_samples, out->duration_ms);

	size_t k = 0;
	int64_t *lat = malloc((out->n_samples ? out->n_samples : 1) * sizeof *lat);
	if (!lat) {
		kc_probe_result_free(out);
		return kc_err_sys(err, ENOMEM, "probe");
	}
	for (size_t i = 0; i < out->n_samples; i++)
		if (out->samples[i].ok)
			lat[k++] = out->samples[i].latency_ms;
	qsort(lat, k, sizeof *lat, cmp_i64);
	if (k) {
		out->p50_ms = lat[k / 2];
		out->p99_ms = lat[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1];
		out->max_ms = lat[k - 1];
	}
	free(lat);
	return 0;
}

void kc_probe_result_free(struct kc_probe_result *r)
{
	free(r->samples);
	free(r->first_error);
	memset(r, 0, sizeof *r);
}
