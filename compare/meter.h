/* The cost meter: while one step of one approach runs, it samples the app's
 * containers (engine stats: CPU time and memory, summed over replicas) and
 * runs the steady probe, each on a thread of its own with its own
 * connections; around the step it reads the engine's API counters and disk
 * usage (image layer bytes, writable-layer bytes per container). A figure
 * that could not be measured is left "not measured" with a note, never 0. */
#ifndef KC_COMPARE_METER_H
#define KC_COMPARE_METER_H

#include "compare/report.h"
#include "shim/base/error.h"
#include "shim/base/log.h"
#include "shim/engine/engine.h"

struct kc_meter_config {
	const char *docker_host; /* the sampler's own engine connection; NULL: $DOCKER_HOST */
	const char *app;         /* containers labelled io.kctl.app=app */
	const char *probe_url;   /* NULL: no probe (figures not measured) */
	double probe_rate;       /* requests per second */
	long sample_ms;          /* 0: 250 */
	const struct kc_log *log;
};

struct kc_meter;

/* e is the engine the step itself uses: its API counters are the step's. */
int kc_meter_start(const struct kc_meter_config *cfg, struct kc_engine *e, struct kc_meter **out,
		   kc_err_t *err);
/* Stops the threads and fills res's wall time, probe, CPU, memory, image
 * and writable bytes and API figures. Frees m. */
int kc_meter_stop(struct kc_meter *m, struct kc_report_result *res, kc_err_t *err);

/* res's probe figures and samples from a finished probe run (probe_err: why it could
 * not run, noted instead). Shared with the Kubernetes meter (compare_kube.c). */
struct kc_probe_result;
int kc_meter_add_probe(struct kc_report_result *res, const struct kc_probe_result *p,
		       kc_err_t probe_err, kc_err_t *err);

#endif
