/* A steady HTTP probe: GET a URL at a fixed rate for a fixed time, each
 * request on a fresh connection as a new client would make it, and report
 * requests sent, failures, the longest gap without a successful answer, and
 * the timeline of failures. The downtime figure of kctl compare and the
 * zero-downtime checks of rollouts both come from here. */
#ifndef KC_COMPARE_PROBE_H
#define KC_COMPARE_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "shim/base/error.h"
#include "shim/base/log.h"

#define KC_PROBE_MAX_SAMPLES 100000

struct kc_probe_config {
	const char *url;
	double rate;         /* requests per second */
	long duration_ms;
	long timeout_ms;     /* per request; 0: 1000 */
	const _Atomic int *stop; /* non-zero ends the probe early; may be NULL */
	const struct kc_log *log;
};

struct kc_probe_sample {
	int64_t offset_ms; /* start of the request since the probe began */
	int32_t latency_ms;
	int16_t status;    /* 0: transport failure */
	int16_t ok;
};

struct kc_probe_result {
	uint64_t requests, failures;
	int64_t longest_gap_ms; /* longest span with no successful answer */
	int64_t p50_ms, p99_ms, max_ms; /* latency of successful requests */
	int64_t duration_ms;
	struct kc_probe_sample *samples; /* one per request, in start order */
	size_t n_samples;
	char *first_error; /* text of the first failure, NULL if none */
};

int kc_probe_run(const struct kc_probe_config *cfg, struct kc_probe_result *out, kc_err_t *err);
void kc_probe_result_free(struct kc_probe_result *r);

/* Longest gap from samples (exposed for tests): the longest time between
 * consecutive successful answers, counting from the start and to the end. */
int64_t kc_probe_longest_gap(const struct kc_probe_sample *s, size_t n, int64_t duration_ms);

#endif
