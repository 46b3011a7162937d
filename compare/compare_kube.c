/* kctl compare on Kubernetes: see compare_kube.h. */
#include "compare_kube.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compare/drift_kube.h"
#include "compare/meter.h"
#include "compare/patch_kube.h"
#include "compare/probe.h"
#include "registry/registry.h"
#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/yaml.h"
#include "shim/base/util.h"
#include "shim/engine/kube.h"
#include "shim/rollout/kube_rollout.h"
#include "shim/rollout/rollout.h"

#define METRICS_GV "/apis/metrics.k8s.io/v1beta1"
#define PROBE_MAX_MS (30 * 60 * 1000L)
/* A walk's pods must be gone before the next walk starts from the same start. */
#define DELETE_WAIT_MS (300 * 1000L)
#define CHANGE_CAUSE "kubernetes.io/change-cause"

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int kc_kube_quantity(const char *s, double *out)
{
	static const struct {
		const char *suffix;
		double mult;
	} units[] = {{"Ki", 1024.0},
		     {"Mi", 1048576.0},
		     {"Gi", 1073741824.0},
		     {"Ti", 1099511627776.0},
		     {"Pi", 1125899906842624.0},
		     {"Ei", 1152921504606846976.0},
		     {"n", 1e-9},
		     {"u", 1e-6},
		     {"m", 1e-3},
		     {"k", 1e3},
		     {"M", 1e6},
		     {"G", 1e9},
		     {"T", 1e12},
		     {"P", 1e15},
		     {"E", 1e18},
		     {"", 1.0}};
	if (!s || !*s || strlen(s) > 64)
		return -1;
	/* The number: digits with an optional sign and fraction; an exponent (e/E) only
	 * when no suffix follows (a trailing "E" alone is exa). */
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	const char *digits = p;
	while ((*p >= '0' && *p <= '9') || *p == '.')
		p++;
	if (p == digits)
		return -1;
	char num[72];
	size_t nlen = (size_t)(p - s);
	if ((*p == 'e' || *p == 'E') && p[1] && strchr("+-0123456789", p[1])) {
		const char *q = p + 1;
		if (*q == '+' || *q == '-')
			q++;
		while (*q >= '0' && *q <= '9')
			q++;
		if (*q)
			return -1;
		nlen = (size_t)(q - s);
		p = q;
	}
	memcpy(num, s, nlen);
	num[nlen] = '\0';
	char *end = NULL;
	errno = 0;
	double v = strtod(num, &end);
	if (errno || !end || *end || !isfinite(v))
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (!strcmp(p, units[i].suffix)) {
			*out = v * units[i].mult;
			return 0;
		}
	return -1;
}

/* ---- the walk's Deployment, made from the manifest ---- */

struct deploy_gen {
	const char *name, *image, *walk, *cause;
	int64_t replicas; /* 0: the manifest's */
	bool mutable_walk;
};

struct kv {
	const char *k, *v;
};

/* A string map copied with kv set (added or replacing what is there). */
static void gen_map_with(yajl_gen g, yajl_val v, const struct kv *kv, size_t n)
{
	yajl_gen_map_open(g);
	for (size_t i = 0; YAJL_IS_OBJECT(v) && i < v->u.object.len; i++) {
		const char *key = v->u.object.keys[i];
		bool over = false;
		for (size_t j = 0; j < n && !over; j++)
			over = !strcmp(kv[j].k, key);
		if (over)
			continue;
		kc_jgen_key(g, key);
		kc_jgen_value(g, v->u.object.values[i]);
	}
	for (size_t j = 0; j < n; j++)
		kc_jgen_kv_str(g, kv[j].k, kv[j].v);
	yajl_gen_map_close(g);
}

/* "/spec/template/spec/containers/N/securityContext" */
static bool is_security_context(const char *ptr)
{
	static const char pre[] = "/spec/template/spec/containers/";
	if (strncmp(ptr, pre, sizeof pre - 1) != 0)
		return false;
	const char *p = ptr + sizeof pre - 1;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return !strcmp(p, "/securityContext");
}

static void gen_deploy(yajl_gen g, yajl_val v, const char *ptr, const struct deploy_gen *c)
{
	if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++) {
			char idx[24];
			snprintf(idx, sizeof idx, "%zu", i);
			cleanup_free char *child = kc_json_path_join(ptr, idx);
			gen_deploy(g, v->u.array.values[i], child ? child : "", c);
		}
		yajl_gen_array_close(g);
		return;
	}
	if (!YAJL_IS_OBJECT(v)) {
		kc_jgen_value(g, v);
		return;
	}
	const struct kv walk[] = {{KC_COMPARE_KUBE_WALK_LABEL, c->walk},
				  {KC_LABEL_MODE, c->mutable_walk ? "mutable" : "immutable"}};
	const struct kv cause[] = {{CHANGE_CAUSE, c->cause}};
	bool meta = !strcmp(ptr, "/metadata");
	bool labels = false, annotations = false, replicas = false;
	yajl_gen_map_open(g);
	for (size_t i = 0; i < v->u.object.len; i++) {
		const char *key = v->u.object.keys[i];
		yajl_val val = v->u.object.values[i];
		if (!*ptr && !strcmp(key, "status"))
			continue;
		if (meta) {
			/* What the server owns, and the namespace (the request's decides). */
			static const char *const drop[] = {
			    "namespace",  "resourceVersion", "uid",	 "creationTimestamp",
			    "generation", "managedFields",   "selfLink", NULL};
			bool skip = false;
			for (size_t d = 0; drop[d] && !skip; d++)
				skip = !strcmp(key, drop[d]);
			if (skip)
				continue;
			if (!strcmp(key, "name")) {
				kc_jgen_kv_str(g, "name", c->name);
				continue;
			}
			if (!strcmp(key, "labels")) {
				labels = true;
				kc_jgen_key(g, key);
				gen_map_with(g, val, walk, 1);
				continue;
			}
			if (!strcmp(key, "annotations")) {
				annotations = true;
				kc_jgen_key(g, key);
				gen_map_with(g, val, cause, 1);
				continue;
			}
		}
		if (!strcmp(ptr, "/spec") && !strcmp(key, "replicas") && c->replicas > 0) {
			replicas = true;
			kc_jgen_kv_int(g, key, c->replicas);
			continue;
		}
		if ((!strcmp(ptr, "/spec/selector") && !strcmp(key, "matchLabels")) ||
		    (!strcmp(ptr, "/spec/template/metadata") && !strcmp(key, "labels"))) {
			kc_jgen_key(g, key);
			/* The selector takes the walk; the pods also say their mode. */
			gen_map_with(g, val, walk, !strcmp(ptr, "/spec/selector") ? 1 : 2);
			continue;
		}
		if (!strcmp(ptr, "/spec/template/spec/containers/0") && !strcmp(key, "image")) {
			kc_jgen_kv_str(g, key, c->image);
			continue;
		}
		/* The mutable walk edits files in place: its pods need writable roots. */
		if (c->mutable_walk && is_security_context(ptr) &&
		    !strcmp(key, "readOnlyRootFilesystem")) {
			kc_jgen_kv_bool(g, key, false);
			continue;
		}
		cleanup_free char *child = kc_json_path_join(ptr, key);
		kc_jgen_key(g, key);
		gen_deploy(g, val, child ? child : "", c);
	}
	if (meta && !labels) {
		kc_jgen_key(g, "labels");
		gen_map_with(g, NULL, walk, 1);
	}
	if (meta && !annotations) {
		kc_jgen_key(g, "annotations");
		gen_map_with(g, NULL, cause, 1);
	}
	if (!strcmp(ptr, "/spec") && !replicas && c->replicas > 0)
		kc_jgen_kv_int(g, "replicas", c->replicas);
	yajl_gen_map_close(g);
}

/* ---- the run ---- */

struct run {
	struct kc_kube *k;
	const struct kc_compare_kube_opts *ko;
	const struct kc_compare_opts *o;
	struct kc_yaml *manifest;
	yajl_val m; /* the manifest's Deployment */
	const char *base_name;
	char **pinned; /* versions[i] as repo@sha256 */
	int64_t replicas;
	const char *ns;
	bool metrics;	   /* metrics.k8s.io/v1beta1 served */
	char *metrics_why; /* why not */
};

/* "k=v,k2=v2,io.kctl.walk=WALK", escaped for a query. */
static char *walk_selector(const struct run *r, const char *walk)
{
	yajl_val ml = kc_json_find(r->m, "/spec/selector/matchLabels");
	size_t cap = 64 + strlen(walk);
	for (size_t i = 0; YAJL_IS_OBJECT(ml) && i < ml->u.object.len; i++) {
		const char *v = YAJL_GET_STRING(ml->u.object.values[i]);
		cap += strlen(ml->u.object.keys[i]) + (v ? strlen(v) : 0) + 2;
	}
	cleanup_free char *sel = calloc(1, cap);
	if (!sel)
		return NULL;
	for (size_t i = 0; YAJL_IS_OBJECT(ml) && i < ml->u.object.len; i++) {
		const char *v = YAJL_GET_STRING(ml->u.object.values[i]);
		if (!strcmp(ml->u.object.keys[i], KC_COMPARE_KUBE_WALK_LABEL))
			continue;
		snprintf(sel + strlen(sel), cap - strlen(sel), "%s=%s,", ml->u.object.keys[i],
			 v ? v : "");
	}
	snprintf(sel + strlen(sel), cap - strlen(sel), "%s=%s", KC_COMPARE_KUBE_WALK_LABEL, walk);
	return kc_http_escape(sel);
}

static int count_pods(struct kc_kube *k, const char *ns, const char *sel, size_t *n, kc_err_t *err)
{
	cleanup_free char *ens = kc_http_escape(ns), *path = NULL;
	if (!ens || asprintf(&path, "/api/v1/namespaces/%s/pods?labelSelector=%s", ens, sel) < 0)
		return kc_err_sys(err, ENOMEM, "pods");
	cleanup_json yajl_val list = NULL;
	if (kc_kube_request(k, "GET", path, NULL, NULL, &list, err) < 0)
		return -1;
	yajl_val items = kc_json_find(list, "/items");
	*n = YAJL_IS_ARRAY(items) ? items->u.array.len : 0;
	return 0;
}

static char *deploy_path(const char *ns, const char *name)
{
	cleanup_free char *ens = kc_http_escape(ns), *en = name ? kc_http_escape(name) : NULL;
	char *p = NULL;
	if (!ens || (name && !en) ||
	    asprintf(&p, "/apis/apps/v1/namespaces/%s/deployments%s%s", ens, name ? "/" : "",
		     name ? en : "") < 0)
		return NULL;
	return p;
}

/* Deletes the walk's Deployment as kubectl does (the garbage collector removes its
 * ReplicaSets and pods in the background), then waits until the Deployment and its pods
 * are gone. Absent already is fine. */
static int delete_walk(struct run *r, const char *name, const char *sel, kc_err_t *err)
{
	cleanup_free char *path = deploy_path(r->ns, name), *del = NULL;
	if (!path || asprintf(&del, "%s?propagationPolicy=Background", path) < 0)
		return kc_err_sys(err, ENOMEM, "delete");
	kc_err_t e = NULL;
	if (kc_kube_request(r->k, "DELETE", del, NULL, NULL, NULL, &e) < 0) {
		if (kc_err_kind(e) != KC_E_NOTFOUND) {
			*err = e;
			return kc_err_wrap(err, "deleting deployment %s", name);
		}
		kc_err_free(&e);
	}
	int64_t deadline = kc_mono_ms() + DELETE_WAIT_MS;
	for (;;) {
		bool gone = false;
		if (kc_kube_request(r->k, "GET", path, NULL, NULL, NULL, &e) < 0) {
			if (kc_err_kind(e) != KC_E_NOTFOUND) {
				*err = e;
				return kc_err_wrap(err, "deployment %s", name);
			}
			kc_err_free(&e);
			gone = true;
		}
		size_t n = 0;
		if (count_pods(r->k, r->ns, sel, &n, err) < 0)
			return kc_err_wrap(err, "pods of deployment %s", name);
		if (gone && n == 0)
			return 0;
		if (kc_mono_ms() > deadline)
			return kc_err_new(
			    err, KC_E_TIMEOUT,
			    "deployment %s: %zu pod(s) still there %lds after deleting it", name, n,
			    DELETE_WAIT_MS / 1000);
		sleep_ms(500);
	}
}

/* ---- the meter: metrics sampler and probe, each on a thread of its own ---- */

struct kmeter {
	const struct run *r;
	char *sel;
	struct kc_http_stats api0;
	int64_t t0_ms;
	_Atomic int stop;
	pthread_t sampler, prober;
	bool sampler_on, prober_on;
	/* sampler (its thread only until joined) */
	size_t samples;
	double cores_sum;
	double peak_mem;
	char *first_error;
	/* probe */
	struct kc_probe_result probe;
	kc_err_t probe_err;
};

/* One PodMetricsList: summed CPU cores and memory bytes of the walk's pods; 0 when no
 * pod has metrics yet. */
static int metrics_once(struct kmeter *m, struct kc_kube *k, kc_err_t *err)
{
	cleanup_free char *ens = kc_http_escape(m->r->ns), *path = NULL;
	if (!ens ||
	    asprintf(&path, METRICS_GV "/namespaces/%s/pods?labelSelector=%s", ens, m->sel) < 0)
		return kc_err_sys(err, ENOMEM, "metrics");
	cleanup_json yajl_val list = NULL;
	if (kc_kube_request(k, "GET", path, NULL, NULL, &list, err) < 0)
		return -1;
	yajl_val items = kc_json_find(list, "/items");
	double cores = 0, mem = 0;
	size_t pods = 0;
	for (size_t i = 0; YAJL_IS_ARRAY(items) && i < items->u.array.len; i++) {
		yajl_val cs = kc_json_find(items->u.array.values[i], "/containers");
		for (size_t c = 0; YAJL_IS_ARRAY(cs) && c < cs->u.array.len; c++) {
			double cpu = 0, bytes = 0;
			const char *qc =
			    YAJL_GET_STRING(kc_json_find(cs->u.array.values[c], "/usage/cpu"));
			const char *qm =
			    YAJL_GET_STRING(kc_json_find(cs->u.array.values[c], "/usage/memory"));
			if (kc_kube_quantity(qc, &cpu) < 0 || kc_kube_quantity(qm, &bytes) < 0)
				return kc_err_new(err, KC_E_PROTO,
						  "PodMetrics usage \"%s\" / \"%s\" does not parse",
						  qc ? qc : "", qm ? qm : "");
			cores += cpu;
			mem += bytes;
		}
		pods++;
	}
	if (pods == 0)
		return 0;
	m->samples++;
	m->cores_sum += cores;
	if (mem > m->peak_mem)
		m->peak_mem = mem;
	return 0;
}

static void *sampler_main(void *arg)
{
	struct kmeter *m = arg;
	/* A connection of its own: the step's counters stay the step's. */
	struct kc_kube *k = NULL;
	kc_err_t err = NULL;
	if (kc_kube_open(&m->r->ko->kubeconfig, &k, &err) < 0) {
		m->first_error = kc_err_string(err);
		kc_err_free(&err);
		return NULL;
	}
	long period = m->r->ko->sample_ms > 0 ? m->r->ko->sample_ms : 1000;
	bool last = false;
	while (!last) {
		last = atomic_load(&m->stop);
		int64_t t = kc_mono_ms();
		if (metrics_once(m, k, &err) < 0) {
			if (!m->first_error)
				m->first_error = kc_err_string(err);
			kc_err_free(&err);
		}
		/* After stop: one last look, so a short step still has its figures. */
		while (!last && kc_mono_ms() - t < period && !atomic_load(&m->stop))
			sleep_ms(50);
	}
	kc_kube_free(k);
	return NULL;
}

static void *prober_main(void *arg)
{
	struct kmeter *m = arg;
	struct kc_probe_config pc = {.url = m->r->ko->probe_url,
				     .rate = m->r->o->rate > 0 ? m->r->o->rate : 100,
				     .duration_ms = PROBE_MAX_MS,
				     .timeout_ms = 1000,
				     .stop = &m->stop};
	kc_probe_run(&pc, &m->probe, &m->probe_err);
	return NULL;
}

static void kmeter_free(struct kmeter *m)
{
	free(m->sel);
	free(m->first_error);
	kc_probe_result_free(&m->probe);
	kc_err_free(&m->probe_err);
	free(m);
}

static int kmeter_start(const struct run *r, const char *walk, struct kmeter **out, kc_err_t *err)
{
	struct kmeter *m = calloc(1, sizeof *m);
	if (!m)
		return kc_err_sys(err, ENOMEM, "meter");
	m->r = r;
	m->sel = walk_selector(r, walk);
	if (!m->sel) {
		kmeter_free(m);
		return kc_err_sys(err, ENOMEM, "meter");
	}
	kc_http_stats_get(kc_kube_http(r->k), &m->api0);
	m->t0_ms = kc_mono_ms();
	if (r->metrics) {
		if (pthread_create(&m->sampler, NULL, sampler_main, m) != 0) {
			kmeter_free(m);
			return kc_err_sys(err, EAGAIN, "meter: starting the sampler");
		}
		m->sampler_on = true;
	}
	if (r->ko->probe_url) {
		if (pthread_create(&m->prober, NULL, prober_main, m) != 0) {
			atomic_store(&m->stop, 1);
			if (m->sampler_on)
				pthread_join(m->sampler, NULL);
			kmeter_free(m);
			return kc_err_sys(err, EAGAIN, "meter: starting the probe");
		}
		m->prober_on = true;
	}
	*out = m;
	return 0;
}

static int kmeter_stop(struct kmeter *m, struct kc_report_result *res, kc_err_t *err)
{
	res->wall_ms = kc_fig((double)(kc_mono_ms() - m->t0_ms));
	struct kc_http_stats api;
	kc_http_stats_get(kc_kube_http(m->r->k), &api);
	res->api_calls = kc_fig((double)(api.requests - m->api0.requests));
	res->api_bytes = kc_fig((double)(api.bytes_sent + api.bytes_received - m->api0.bytes_sent -
					 m->api0.bytes_received));
	atomic_store(&m->stop, 1);
	if (m->sampler_on)
		pthread_join(m->sampler, NULL);
	if (m->prober_on)
		pthread_join(m->prober, NULL);
	int rc = 0;
	if (m->r->ko->probe_url)
		rc = kc_meter_add_probe(res, &m->probe, m->probe_err, err);
	else
		rc = kc_result_add_note(res, err,
					"no probe: give --probe-url (pods are not reachable from "
					"kctl in general; in a cluster, the app's Service URL)");
	if (rc == 0 && !m->r->metrics) {
		rc = kc_result_add_note(res, err, "CPU and memory not measured: %s",
					m->r->metrics_why ? m->r->metrics_why : "?");
	} else if (rc == 0 && m->samples == 0) {
		rc = kc_result_add_note(res, err,
					"CPU and memory not measured: no PodMetrics for "
					"the pods during the step%s%s",
					m->first_error ? ": " : "",
					m->first_error ? m->first_error : "");
	} else if (rc == 0) {
		/* PodMetrics usage is a rate over its window: the step's CPU time is the
		 * mean rate over the samples times the step's wall time. */
		double wall_s = res->wall_ms.v / 1000.0;
		res->cpu_seconds = kc_fig(m->cores_sum / (double)m->samples * wall_s);
		res->peak_memory_bytes = kc_fig(m->peak_mem);
		rc = kc_result_add_note(res, err,
					"CPU seconds estimated from %zu metrics.k8s.io sample(s): "
					"mean usage times wall time",
					m->samples);
	}
	if (rc == 0)
		rc = kc_result_add_note(res, err,
					"image and writable-layer bytes not measured: "
					"the Kubernetes API does not report them");
	if (rc == 0)
		rc = kc_result_add_note(res, err,
					"API calls and bytes are kctl's REST requests; "
					"exec streams (WebSocket, one per pod command) are not "
					"counted");
	kmeter_free(m);
	return rc;
}

/* ---- steps ---- */

struct rollout_clock {
	const struct kc_log *log;
	int64_t t0, resolved, patched;
};

/* kc_kube_rollout's progress messages mark its phases: "image A -> B" once the tag is
 * resolved, "...image set to..." once the Deployment is patched; the rest is the wait. */
static void rollout_event(void *opaque, const char *message)
{
	struct rollout_clock *c = opaque;
	if (!strncmp(message, "image ", 6) && c->resolved < 0)
		c->resolved = kc_mono_ms();
	else if (strstr(message, "image set to") && c->patched < 0)
		c->patched = kc_mono_ms();
	kc_debug(c->log, "rollout: %s", message);
}

static int add_phase(struct kc_report_result *res, const char *name, int64_t a, int64_t b,
		     kc_err_t *err)
{
	return kc_result_add_phase(res, name,
				   a < 0 || b < 0 ? KC_FIG_NONE : kc_fig((double)(b - a)), err);
}

static int immutable_step(struct run *r, const char *name, const char *ref,
			  struct kc_report_result *res, kc_err_t *err)
{
	struct rollout_clock c = {
	    .log = r->o->log, .t0 = kc_mono_ms(), .resolved = -1, .patched = -1};
	struct kc_kube_rollout_opts ro = {
	    .image = ref, .log = r->o->log, .on_event = rollout_event, .opaque = &c};
	struct kc_kube_rollout_result rr;
	kc_err_t serr = NULL;
	int rc = kc_kube_rollout(r->k, name, &ro, &rr, &serr);
	int64_t end = kc_mono_ms();
	kc_kube_rollout_result_free(&rr);
	if (add_phase(res, "resolve", c.t0, c.resolved, err) < 0 ||
	    add_phase(res, "patch", c.resolved, c.patched, err) < 0 ||
	    add_phase(res, "ready", c.patched, end, err) < 0) {
		kc_err_free(&serr);
		return -1;
	}
	if (rc < 0) {
		cleanup_free char *s = kc_err_string(serr);
		kc_report_set_str(&res->outcome, "failed", NULL);
		kc_report_set_str(&res->error, s, NULL);
	}
	kc_err_free(&serr);
	return 0;
}

static int mutable_step(struct run *r, const char *name, const char *ref,
			struct kc_report_result *res, kc_err_t *err)
{
	/* As on Docker: one pod at a time, on through failures; no restart (the kubelet
	 * would start a fresh container from the image), the default signal instead. */
	struct kc_patch_opts po = {.app = name,
				   .op = KC_PATCH_TO_IMAGE,
				   .image = ref,
				   .parallel = 1,
				   .continue_on_error = true,
				   .log = r->o->log};
	struct kc_patch_result pr = {0};
	kc_err_t serr = NULL;
	int rc = kc_patch_kube_run(r->k, &po, &pr, &serr);
	rc = kc_compare_add_patch(res, rc, serr, &pr, err);
	kc_patch_result_free(&pr);
	kc_err_free(&serr);
	return rc;
}

static int measure_drift(struct run *r, const char *name, struct kc_report_result *res,
			 kc_err_t *err)
{
	struct kc_drift_kube_opts dopt = {.deployment = name, .log = r->o->log};
	struct kc_drift_report d;
	memset(&d, 0, sizeof d);
	kc_err_t derr = NULL;
	int rc;
	if (kc_drift_kube(r->k, &dopt, &d, &derr) < 0) {
		cleanup_free char *s = kc_err_string(derr);
		rc = kc_result_add_note(res, err, "drift not measured: %s", s ? s : "?");
	} else {
		rc = kc_compare_add_drift(res, &d, err);
	}
	kc_err_free(&derr);
	kc_drift_report_free(&d);
	return rc;
}

static int create_walk(struct run *r, const char *name, enum kc_approach a, kc_err_t *err)
{
	cleanup_free char *cause = NULL;
	if (asprintf(&cause, "kctl compare: %s walk from %s", kc_approach_name(a),
		     r->o->versions[0]) < 0)
		return kc_err_sys(err, ENOMEM, "compare");
	struct deploy_gen c = {.name = name,
			       .image = r->pinned[0],
			       .walk = kc_approach_name(a),
			       .cause = cause,
			       .replicas = r->replicas,
			       .mutable_walk = a == KC_MUTABLE};
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	gen_deploy(g, r->m, "", &c);
	cleanup_free char *body = kc_jgen_finish(g, NULL);
	cleanup_free char *coll = deploy_path(r->ns, NULL);
	if (!body || !coll)
		return kc_err_sys(err, ENOMEM, "compare");
	if (kc_kube_request(r->k, "POST", coll, NULL, body, NULL, err) < 0)
		return kc_err_wrap(err, "creating deployment %s", name);
	struct rollout_clock clk = {.log = r->o->log, .resolved = -1, .patched = -1};
	struct kc_kube_rollout_opts ro = {
	    .log = r->o->log, .on_event = rollout_event, .opaque = &clk};
	if (kc_kube_rollout_wait(r->k, r->ns, name, 0, &ro, err) < 0)
		return kc_err_wrap(err, "deployment %s at %s", name, r->o->versions[0]);
	return 0;
}

static int walk(struct run *r, const char *name, enum kc_approach a, struct kc_report *rep,
		kc_err_t *err)
{
	const struct kc_compare_opts *o = r->o;
	kc_compare_emit(o, KC_COMPARE_WALK_BEGIN, a, NULL, o->versions[0], NULL);
	kc_compare_say(o, "%s: deploying %s with %lld replicas as deployment/%s",
		       kc_approach_name(a), o->versions[0], (long long)r->replicas, name);
	if (create_walk(r, name, a, err) < 0)
		return kc_err_wrap(err, "%s", kc_approach_name(a));
	for (size_t i = 1; i < o->n_versions; i++) {
		const char *to = o->versions[i];
		struct kc_report_result *res;
		if (kc_compare_step_begin(o, a, i, rep, &res, err) < 0)
			return -1;
		struct kmeter *m = NULL;
		if (kmeter_start(r, kc_approach_name(a), &m, err) < 0)
			return -1;
		int src = a == KC_IMMUTABLE ? immutable_step(r, name, to, res, err)
					    : mutable_step(r, name, to, res, err);
		/* The meter stops whatever the step did, so no thread outlives it. */
		int mrc = kmeter_stop(m, res, src < 0 ? NULL : err);
		if (src < 0 || mrc < 0)
			return -1;
		if (measure_drift(r, name, res, err) < 0)
			return -1;
		kc_compare_step_end(o, a, i, res);
	}
	kc_compare_emit(o, KC_COMPARE_WALK_END, a, NULL, NULL, NULL);
	return 0;
}

static void run_free(struct run *r)
{
	for (size_t i = 0; r->pinned && i < r->o->n_versions; i++)
		free(r->pinned[i]);
	free(r->pinned);
	free(r->metrics_why);
	kc_yaml_free(r->manifest);
}

/* The manifest is one apps/v1 Deployment with matchLabels its pods carry; every version
 * resolves (and is pinned) before anything is created. */
static int prepare(struct run *r, kc_err_t *err)
{
	const struct kc_compare_opts *o = r->o;
	if (o->n_versions < 2)
		return kc_err_new(err, KC_E_USAGE, "--versions needs at least two references");
	if (o->fault)
		return kc_err_new(err, KC_E_USAGE, "--fault is not supported with --engine kube");
	if (kc_yaml_load_file(o->manifest, &r->manifest, err) < 0)
		return -1;
	if (r->manifest->ndocs != 1)
		return kc_err_new(err, KC_E_INVALID, "%s: expected one Deployment document",
				  o->manifest);
	r->m = r->manifest->docs[0].root;
	const char *av = YAJL_GET_STRING(kc_json_find(r->m, "/apiVersion"));
	const char *kind = YAJL_GET_STRING(kc_json_find(r->m, "/kind"));
	r->base_name = YAJL_GET_STRING(kc_json_find(r->m, "/metadata/name"));
	if (!av || !kind || strcmp(av, "apps/v1") || strcmp(kind, "Deployment") || !r->base_name)
		return kc_err_new(err, KC_E_INVALID, "%s: not an apps/v1 Deployment with a name",
				  o->manifest);
	if (!YAJL_IS_OBJECT(kc_json_find(r->m, "/spec/selector/matchLabels")) ||
	    !YAJL_IS_OBJECT(kc_json_find(r->m, "/spec/template/metadata/labels")) ||
	    !YAJL_IS_STRING(kc_json_find(r->m, "/spec/template/spec/containers/0/image")))
		return kc_err_new(err, KC_E_INVALID,
				  "%s: compare needs spec.selector.matchLabels, template labels "
				  "and a container image",
				  o->manifest);
	yajl_val rep = kc_json_find(r->m, "/spec/replicas");
	r->replicas = o->replicas > 0	     ? o->replicas
		      : YAJL_IS_INTEGER(rep) ? YAJL_GET_INTEGER(rep)
					     : 1;
	r->pinned = calloc(o->n_versions, sizeof *r->pinned);
	if (!r->pinned)
		return kc_err_sys(err, ENOMEM, "compare");
	for (size_t i = 0; i < o->n_versions; i++) {
		struct kc_registry_opts ro = {.log = o->log};
		struct kc_image_info info;
		memset(&info, 0, sizeof info);
		if (kc_image_resolve(o->versions[i], &ro, &info, NULL, err) < 0)
			return -1;
		char buf[KC_REF_STRING_MAX];
		kc_ref_pinned(&info.ref, info.digest, buf, sizeof buf);
		kc_image_info_free(&info);
		if (!(r->pinned[i] = strdup(buf)))
			return kc_err_sys(err, ENOMEM, "compare");
	}
	return 0;
}

/* Whether the cluster serves metrics.k8s.io/v1beta1 (a metrics-server); why not. */
static void probe_metrics(struct run *r)
{
	kc_err_t e = NULL;
	cleanup_json yajl_val d = NULL;
	if (kc_kube_request(r->k, "GET", METRICS_GV, NULL, NULL, &d, &e) == 0) {
		yajl_val res = kc_json_find(d, "/resources");
		for (size_t i = 0; YAJL_IS_ARRAY(res) && i < res->u.array.len && !r->metrics; i++) {
			const char *n =
			    YAJL_GET_STRING(kc_json_find(res->u.array.values[i], "/name"));
			r->metrics = n && !strcmp(n, "pods");
		}
		if (!r->metrics)
			r->metrics_why = strdup("metrics.k8s.io/v1beta1 lists no pods resource");
		return;
	}
	cleanup_free char *s = kc_err_string(e);
	if (asprintf(&r->metrics_why, "the cluster does not serve metrics.k8s.io/v1beta1 (%s)",
		     kc_err_kind(e) == KC_E_NOTFOUND ? "no metrics-server"
		     : s			     ? s
						     : "?") < 0)
		r->metrics_why = NULL;
	kc_err_free(&e);
}

static char *engine_line(struct run *r)
{
	cleanup_json yajl_val v = NULL;
	kc_err_t e = NULL;
	const char *gv = NULL;
	if (kc_kube_request(r->k, "GET", "/version", NULL, NULL, &v, &e) == 0)
		gv = YAJL_GET_STRING(kc_json_find(v, "/gitVersion"));
	kc_err_free(&e);
	const struct kc_kubeconfig *kc = kc_kube_config(r->k);
	char *out = NULL;
	if (asprintf(&out, "kubernetes %s (%s, namespace %s)", gv ? gv : "?",
		     kc && kc->server ? kc->server : "?", r->ns) < 0)
		return NULL;
	return out;
}

static int fill_header(struct run *r, struct kc_report *rep, kc_err_t *err)
{
	char created[32] = "";
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
	cleanup_free char *engine = engine_line(r);
	const char *url = r->ko->probe_url;
	rep->replicas = r->replicas;
	rep->probe_rate_hz = url ? kc_fig(r->o->rate > 0 ? r->o->rate : 100) : KC_FIG_NONE;
	if (kc_report_set_str(&rep->created, created, err) < 0 ||
	    kc_report_set_str(&rep->manifest, r->o->manifest, err) < 0 ||
	    kc_report_set_str(&rep->engine, engine, err) < 0 ||
	    kc_report_set_str(&rep->probe_url, url, err) < 0)
		return -1;
	for (size_t i = 0; i < r->o->n_versions; i++)
		if (kc_report_add_version(rep, r->o->versions[i], err) < 0)
			return -1;
	return 0;
}

int kc_compare_kube_run(struct kc_kube *k, const struct kc_compare_kube_opts *ko,
			struct kc_report **out, kc_err_t *err)
{
	struct run r = {.k = k, .ko = ko, .o = ko->base, .ns = kc_kube_namespace(k)};
	if (prepare(&r, err) < 0) {
		run_free(&r);
		return kc_err_wrap(err, "compare");
	}
	probe_metrics(&r);
	struct kc_report *rep = NULL;
	int rc = kc_report_new(r.base_name, &rep, err);
	if (rc == 0)
		rc = fill_header(&r, rep, err);
	for (int a = KC_IMMUTABLE; rc == 0 && a <= KC_MUTABLE; a++) {
		cleanup_free char *name = NULL, *sel = walk_selector(&r, kc_approach_name(a));
		if (!sel || asprintf(&name, "%s-%s", r.base_name, kc_approach_name(a)) < 0) {
			rc = kc_err_sys(err, ENOMEM, "compare");
			break;
		}
		/* A leftover of an interrupted run goes first: both walks start fresh. */
		rc = delete_walk(&r, name, sel, err);
		if (rc == 0)
			rc = walk(&r, name, a, rep, err);
		kc_err_t derr = NULL;
		if (delete_walk(&r, name, sel, &derr) < 0) {
			if (rc == 0) {
				*err = derr;
				derr = NULL;
				rc = -1;
			} else {
				cleanup_free char *s = kc_err_string(derr);
				kc_warn(r.o->log, "cleaning up: %s", s ? s : "?");
			}
		}
		kc_err_free(&derr);
	}
	run_free(&r);
	if (rc < 0) {
		kc_report_free(rep);
		return kc_err_wrap(err, "compare");
	}
	*out = rep;
	return 0;
}
