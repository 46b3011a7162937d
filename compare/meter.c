/* The cost meter: see meter.h. */
#include "meter.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compare/probe.h"
#include "shim/base/util.h"
#include "shim/engine/docker.h"

#define PROBE_MAX_MS (30 * 60 * 1000L)
#define MAX_TRACKED 256

/* CPU time of one container over the step. Its counter restarts from zero
 * when the container restarts (kctl patch does that), so time is summed per
 * run of the counter. */
struct tracked {
	char id[80];
	uint64_t done;      /* CPU of earlier runs of the counter, within the step */
	uint64_t run_start; /* counter value the current run is measured from */
	uint64_t last;
};

struct meter_state {
	struct tracked c[MAX_TRACKED];
	size_t n;
	bool baseline_taken; /* containers first seen after this started in the step */
	uint64_t peak_mem;
	size_t samples_ok, samples_failed;
	char *first_error;
};

struct kc_meter {
	struct kc_meter_config cfg;
	char *app, *docker_host, *probe_url;
	struct kc_engine *e;       /* the step's engine (borrowed) */
	struct kc_http_stats api0; /* its counters at the start */
	bool api_ok;
	int64_t layers0;
	bool layers_ok;
	int64_t t0_ms;
	_Atomic int stop;
	_Atomic int sampler_ready;
	pthread_t sampler, prober;
	bool sampler_on, prober_on;
	struct meter_state st;
	struct kc_probe_result probe;
	kc_err_t probe_err;
};

static void sample_once(struct kc_meter *m, struct kc_engine *e)
{
	struct kc_label filter[] = {{"io.kctl.app", m->app}};
	struct kc_container_info *list = NULL;
	size_t n = 0;
	kc_err_t err = NULL;
	if (kc_engine_container_list(e, false, filter, 1, &list, &n, &err) < 0) {
		m->st.samples_failed++;
		if (!m->st.first_error)
			m->st.first_error = kc_err_string(err);
		kc_err_free(&err);
		return;
	}
	uint64_t mem = 0;
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		struct kc_stats s = {0};
		if (kc_engine_container_stats(e, list[i].id, &s, &err) < 0 || !s.available) {
			kc_err_free(&err);
			continue;
		}
		any = true;
		mem += s.mem_usage;
		struct tracked *t = NULL;
		for (size_t k = 0; k < m->st.n && !t; k++)
			if (!strcmp(m->st.c[k].id, list[i].id))
				t = &m->st.c[k];
		if (!t && m->st.n < MAX_TRACKED) {
			t = &m->st.c[m->st.n++];
			snprintf(t->id, sizeof t->id, "%s", list[i].id);
			/* A replica that appeared during the step spent all its CPU in it. */
			t->run_start = m->st.baseline_taken ? 0 : s.cpu_total_ns;
			t->last = t->run_start;
		}
		if (t) {
			if (s.cpu_total_ns < t->last) {
				t->done += t->last - t->run_start;
				t->run_start = 0;
			}
			t->last = s.cpu_total_ns;
		}
	}
	kc_container_list_free(list, n);
	if (any) {
		m->st.samples_ok++;
		if (mem > m->st.peak_mem)
			m->st.peak_mem = mem;
	}
}

static void *sampler_main(void *arg)
{
	struct kc_meter *m = arg;
	/* An engine handle is not shared between threads: this one is ours. */
	struct kc_docker_config dc = {.host = m->docker_host, .timeout_ms = 10000};
	struct kc_engine *e = NULL;
	kc_err_t err = NULL;
	if (kc_engine_docker_new(&dc, &e, &err) < 0) {
		m->st.first_error = kc_err_string(err);
		kc_err_free(&err);
		atomic_store(&m->sampler_ready, 1);
		return NULL;
	}
	long period = m->cfg.sample_ms > 0 ? m->cfg.sample_ms : 250;
	sample_once(m, e);
	m->st.baseline_taken = true;
	atomic_store(&m->sampler_ready, 1);
	while (!atomic_load(&m->stop)) {
		int64_t t = kc_mono_ms();
		sample_once(m, e);
		int64_t left = period - (kc_mono_ms() - t);
		while (left > 0 && !atomic_load(&m->stop)) {
			struct timespec ts = {0, (left > 50 ? 50 : left) * 1000000L};
			nanosleep(&ts, NULL);
			left -= 50;
		}
	}
	/* One last look so a step shorter than a period still has its figures. */
	sample_once(m, e);
	kc_engine_free(e);
	return NULL;
}

static void *prober_main(void *arg)
{
	struct kc_meter *m = arg;
	struct kc_probe_config pc = {.url = m->probe_url,
				     .rate = m->cfg.probe_rate,
				     .duration_ms = PROBE_MAX_MS,
				     .timeout_ms = 1000,
				     .stop = &m->stop};
	kc_debug(m->cfg.log, "meter: probe starts %lld ms into the step",
		 (long long)(kc_mono_ms() - m->t0_ms));
	kc_probe_run(&pc, &m->probe, &m->probe_err);
	kc_debug(m->cfg.log, "meter: probe ended %lld ms into the step",
		 (long long)(kc_mono_ms() - m->t0_ms));
	return NULL;
}

static void meter_free(struct kc_meter *m)
{
	free(m->app);
	free(m->docker_host);
	free(m->probe_url);
	free(m->st.first_error);
	kc_probe_result_free(&m->probe);
	kc_err_free(&m->probe_err);
	free(m);
}

int kc_meter_start(const struct kc_meter_config *cfg, struct kc_engine *e, struct kc_meter **out,
		   kc_err_t *err)
{
	struct kc_meter *m = calloc(1, sizeof *m);
	if (!m)
		return kc_err_sys(err, ENOMEM, "meter");
	m->cfg = *cfg;
	m->e = e;
	m->app = strdup(cfg->app);
	m->docker_host = cfg->docker_host ? strdup(cfg->docker_host) : NULL;
	m->probe_url = cfg->probe_url ? strdup(cfg->probe_url) : NULL;
	if (!m->app) {
		meter_free(m);
		return kc_err_sys(err, ENOMEM, "meter");
	}
	kc_err_t ierr = NULL;
	m->api_ok = kc_engine_http_stats(e, &m->api0, &ierr) == 0;
	kc_err_free(&ierr);
	struct kc_disk_usage du;
	m->layers_ok = kc_engine_disk_usage(e, NULL, 0, &du, &ierr) == 0;
	if (m->layers_ok) {
		m->layers0 = du.layers_bytes;
		kc_disk_usage_free(&du);
	}
	kc_err_free(&ierr);
	/* The sampler's first pass, before the step touches anything, tells
	 * the replicas that were already there from the ones the step makes. */
	if (pthread_create(&m->sampler, NULL, sampler_main, m) != 0) {
		meter_free(m);
		return kc_err_sys(err, EAGAIN, "meter: starting the sampler");
	}
	m->sampler_on = true;
	/* The step may start only once the sampler knows what was there before. */
	while (!atomic_load(&m->sampler_ready)) {
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	/* The step's clock starts with the probe. */
	m->t0_ms = kc_mono_ms();
	if (m->probe_url) {
		if (pthread_create(&m->prober, NULL, prober_main, m) != 0) {
			atomic_store(&m->stop, 1);
			pthread_join(m->sampler, NULL);
			meter_free(m);
			return kc_err_sys(err, EAGAIN, "meter: starting the probe");
		}
		m->prober_on = true;
	}
	*out = m;
	return 0;
}

static int fill_probe(struct kc_meter *m, struct kc_report_result *res, kc_err_t *err)
{
	if (!m->probe_url)
		return kc_result_add_note(res, err, "no probe: the manifest declares no port");
	return kc_meter_add_probe(res, &m->probe, m->probe_err, err);
}

int kc_meter_add_probe(struct kc_report_result *res, const struct kc_probe_result *p,
		       kc_err_t probe_err, kc_err_t *err)
{
	if (probe_err) {
		char *s = kc_err_string(probe_err);
		int rc = kc_result_add_note(res, err, "probe failed: %s", s ? s : "?");
		free(s);
		return rc;
	}
	res->probe.requests = kc_fig((double)p->requests);
	res->probe.failures = kc_fig((double)p->failures);
	res->probe.longest_gap_ms = kc_fig((double)p->longest_gap_ms);
	for (size_t i = 0; i < p->n_samples; i++) {
		struct kc_report_sample s = {.t_ms = (double)p->samples[i].offset_ms,
					     .ok = p->samples[i].ok,
					     .status = p->samples[i].status,
					     .latency_ms = kc_fig((double)p->samples[i].latency_ms)};
		if (kc_result_add_sample(res, &s, err) < 0)
			return -1;
	}
	if (p->first_error && p->failures)
		return kc_result_add_note(res, err, "first failed probe request: %s", p->first_error);
	return 0;
}

int kc_meter_stop(struct kc_meter *m, struct kc_report_result *res, kc_err_t *err)
{
	/* The step ended now; what the meter does from here is not its cost. */
	res->wall_ms = kc_fig((double)(kc_mono_ms() - m->t0_ms));
	atomic_store(&m->stop, 1);
	if (m->sampler_on)
		pthread_join(m->sampler, NULL);
	if (m->prober_on)
		pthread_join(m->prober, NULL);
	int rc = fill_probe(m, res, err);

	if (rc == 0 && m->st.samples_ok > 0) {
		uint64_t cpu = 0;
		for (size_t i = 0; i < m->st.n; i++)
			cpu += m->st.c[i].done + (m->st.c[i].last - m->st.c[i].run_start);
		res->cpu_seconds = kc_fig((double)cpu / 1e9);
		res->peak_memory_bytes = kc_fig((double)m->st.peak_mem);
	} else if (rc == 0) {
		rc = kc_result_add_note(res, err, "container stats unavailable%s%s",
					m->st.first_error ? ": " : "",
					m->st.first_error ? m->st.first_error : "");
	}

	kc_err_t ierr = NULL;
	struct kc_http_stats api;
	if (rc == 0 && m->api_ok && kc_engine_http_stats(m->e, &api, &ierr) == 0) {
		res->api_calls = kc_fig((double)(api.requests - m->api0.requests));
		res->api_bytes = kc_fig((double)(api.bytes_sent + api.bytes_received -
						 m->api0.bytes_sent - m->api0.bytes_received));
	}
	kc_err_free(&ierr);

	struct kc_label filter[] = {{"io.kctl.app", m->app}};
	struct kc_disk_usage du;
	if (rc == 0 && kc_engine_disk_usage(m->e, filter, 1, &du, &ierr) == 0) {
		res->image_bytes_stored = kc_fig((double)du.layers_bytes);
		/* Layers that appeared during the step were pulled (or built) for it. */
		if (m->layers_ok)
			res->image_bytes_pulled = kc_fig(
				(double)(du.layers_bytes > m->layers0 ? du.layers_bytes - m->layers0 : 0));
		for (size_t i = 0; i < du.n_containers && rc == 0; i++)
			rc = kc_result_add_writable(res, du.container_names[i],
						    kc_fig((double)du.container_rw_bytes[i]), err);
		kc_disk_usage_free(&du);
	} else if (rc == 0) {
		char *s = kc_err_string(ierr);
		rc = kc_result_add_note(res, err, "disk usage unavailable: %s", s ? s : "?");
		free(s);
	}
	kc_err_free(&ierr);
	meter_free(m);
	return rc;
}
