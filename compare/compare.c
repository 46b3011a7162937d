/* kctl compare: see compare.h. */
#include "compare.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compare/drift.h"
#include "compare/meter.h"
#include "compare/patch.h"
#include "registry/registry.h"
#include "shim/rollout/manifest.h"
#include "shim/rollout/rollout.h"

void kc_compare_say(const struct kc_compare_opts *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kc_log_progressv(o->log, o->on_message, o->event_opaque, fmt, ap);
	va_end(ap);
}

void kc_compare_emit(const struct kc_compare_opts *o, enum kc_compare_moment moment,
		     enum kc_approach a, const char *from, const char *to,
		     const struct kc_report_result *res)
{
	if (!o->on_event)
		return;
	struct kc_compare_event ev = {.moment = moment, .approach = a, .from = from, .to = to,
				      .result = res};
	o->on_event(o->event_opaque, &ev);
}

int kc_compare_step_begin(const struct kc_compare_opts *o, enum kc_approach a, size_t i,
			  struct kc_report *rep, struct kc_report_result **res, kc_err_t *err)
{
	const char *from = kc_compare_short_ref(o->versions[i - 1]);
	const char *to = kc_compare_short_ref(o->versions[i]);
	struct kc_report_step *step;
	if (a == KC_IMMUTABLE) {
		if (kc_report_add_step(rep, from, to, &step, err) < 0)
			return -1;
	} else {
		step = &rep->steps[i - 1];
	}
	*res = &step->r[a];
	kc_result_init(*res);
	kc_compare_emit(o, KC_COMPARE_STEP_BEGIN, a, from, to, NULL);
	kc_compare_say(o, "%s: %s -> %s", kc_approach_name(a), from, to);
	return 0;
}

void kc_compare_step_end(const struct kc_compare_opts *o, enum kc_approach a, size_t i,
			 const struct kc_report_result *res)
{
	kc_compare_emit(o, KC_COMPARE_STEP_END, a, kc_compare_short_ref(o->versions[i - 1]),
			kc_compare_short_ref(o->versions[i]), res);
}

/* Removes every container of app, kept revisions included. */
static void remove_app(struct kc_engine *e, const char *app, const struct kc_log *log)
{
	struct kc_label filter[] = {{KC_LABEL_APP, app}};
	struct kc_container_info *list = NULL;
	size_t n = 0;
	kc_err_t err = NULL;
	if (kc_engine_container_list(e, true, filter, 1, &list, &n, &err) < 0) {
		kc_warn(log, "cleaning up %s: %s", app, err->msg);
		kc_err_free(&err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (kc_engine_container_remove(e, list[i].id, true, true, &err) < 0) {
			kc_warn(log, "removing %s: %s", list[i].name, err->msg);
			kc_err_free(&err);
		}
	}
	kc_container_list_free(list, n);
}

static int file_index_of(struct kc_registry *r, const char *ref, struct kc_file_index **out,
			 kc_err_t *err)
{
	struct kc_ref parsed;
	struct kc_image_info info = {0};
	if (kc_ref_parse(ref, &parsed, err) < 0 || kc_registry_resolve(r, &parsed, &info, err) < 0)
		return kc_err_wrap(err, "%s", ref);
	int rc = kc_registry_file_index(r, &info, 0, out, err);
	kc_image_info_free(&info);
	return rc;
}

/* The teaching fault: someone tidied one server by hand. In the second
 * replica the `rm` tool is removed; the next version deletes files, which an
 * in-place patch does by running rm inside the container, so the patch
 * really fails there (as Ansible fails on a host missing a tool it needs),
 * the other replicas patch fine, and the step is partial. */
static int break_one_replica(struct kc_engine *e, const char *app, const char *from,
			     const char *to, const struct kc_compare_opts *o, kc_err_t *err)
{
	struct kc_registry *reg = NULL;
	struct kc_registry_opts ro = {.log = o->log};
	if (kc_registry_new(&ro, &reg, err) < 0)
		return -1;
	struct kc_file_index *a = NULL, *b = NULL;
	int rc = 0;
	if (file_index_of(reg, from, &a, err) < 0 || file_index_of(reg, to, &b, err) < 0)
		rc = -1;
	kc_registry_free(reg);
	bool deletes = false;
	for (size_t i = 0; rc == 0 && i < a->n && !deletes; i++)
		deletes = !kc_file_index_find(b, a->entries[i].path);
	struct kc_label filter[] = {{KC_LABEL_APP, app}};
	struct kc_container_info *list = NULL;
	size_t n = 0;
	if (rc == 0 && !deletes)
		rc = kc_err_new(err, KC_E_INVALID,
				"--fault partial: going from %s to %s deletes no file, so a replica "
				"without rm would not fail",
				from, to);
	if (rc == 0 && kc_engine_container_list(e, false, filter, 1, &list, &n, err) < 0)
		rc = -1;
	if (rc == 0 && n < 2)
		rc = kc_err_new(err, KC_E_INVALID, "--fault partial needs at least 2 replicas");
	if (rc == 0) {
		/* The second by name, so the same replica is picked every run. */
		size_t first = 0, second = 1;
		for (size_t i = 1; i < n; i++)
			if (strcmp(list[i].name, list[first].name) < 0)
				first = i;
		second = first == 0 ? 1 : 0;
		for (size_t i = 0; i < n; i++)
			if (i != first && strcmp(list[i].name, list[second].name) < 0)
				second = i;
		const char *cmd[] = {"/bin/sh", "-c",
				     "IFS=:; for d in $PATH; do [ -e \"$d/rm\" ] && rm -f \"$d/rm\"; "
				     "done; ! command -v rm >/dev/null || [ \"$(command -v rm)\" = rm ]",
				     NULL};
		struct kc_exec_spec spec = {.cmd = cmd};
		struct kc_exec_result res = {0};
		if (kc_engine_exec(e, list[second].id, &spec, &res, err) < 0)
			rc = -1;
		else if (res.exit_code != 0)
			rc = kc_err_new(err, KC_E_GENERIC, "removing rm exited %d: %s", res.exit_code,
					res.err ? res.err : "");
		else
			kc_compare_say(o, "fault: on %s, the rm tool was removed by hand", list[second].name);
		kc_exec_result_free(&res);
	}
	kc_container_list_free(list, n);
	kc_file_index_free(a);
	kc_file_index_free(b);
	return rc < 0 ? kc_err_wrap(err, "--fault partial") : 0;
}

static int add_phase(struct kc_report_result *res, const char *name, int64_t ms, kc_err_t *err)
{
	return kc_result_add_phase(res, name, ms < 0 ? KC_FIG_NONE : kc_fig((double)ms), err);
}

static int immutable_step(struct kc_engine *e, struct kc_deploy_spec *m, const char *ref,
			  const struct kc_compare_opts *o, struct kc_report_result *res,
			  kc_err_t *err)
{
	struct kc_rollout_opts ro = {.image = ref, .log = o->log};
	struct kc_rollout_result rr;
	kc_err_t serr = NULL;
	int rc = kc_rollout_apply(e, m, &ro, &rr, &serr);
	if (add_phase(res, "resolve", rr.phases.resolve_ms, err) < 0 ||
	    add_phase(res, "pull", rr.phases.pull_ms, err) < 0 ||
	    add_phase(res, "create", rr.phases.create_ms, err) < 0 ||
	    add_phase(res, "ready", rr.phases.ready_ms, err) < 0 ||
	    add_phase(res, "stop-old", rr.phases.stop_old_ms, err) < 0) {
		kc_rollout_result_free(&rr);
		kc_err_free(&serr);
		return -1;
	}
	if (rc < 0) {
		char *s = kc_err_string(serr);
		kc_report_set_str(&res->outcome, "failed", NULL);
		kc_report_set_str(&res->error, s, NULL);
		free(s);
	}
	kc_rollout_result_free(&rr);
	kc_err_free(&serr);
	return 0;
}

static int mutable_step(struct kc_engine *e, const char *app, const char *ref,
			const struct kc_compare_opts *o, struct kc_report_result *res,
			kc_err_t *err)
{
	struct kc_patch_opts po = {.app = app,
				   .op = KC_PATCH_TO_IMAGE,
				   .image = ref,
				   .restart = true,
				   .parallel = 1,
				   .continue_on_error = true,
				   .docker_host = o->docker_host,
				   .log = o->log};
	struct kc_patch_result pr = {0};
	kc_err_t serr = NULL;
	int rc = kc_patch_run(e, &po, &pr, &serr);
	rc = kc_compare_add_patch(res, rc, serr, &pr, err);
	kc_patch_result_free(&pr);
	kc_err_free(&serr);
	return rc;
}

int kc_compare_add_patch(struct kc_report_result *res, int rc, kc_err_t serr,
			 const struct kc_patch_result *pr, kc_err_t *err)
{
	if (add_phase(res, "diff", pr->phases.diff_ms, err) < 0 ||
	    add_phase(res, "copy", pr->phases.copy_ms, err) < 0 ||
	    add_phase(res, "exec", pr->phases.exec_ms, err) < 0 ||
	    add_phase(res, "restart", pr->phases.restart_ms, err) < 0)
		return -1;
	if (rc < 0) {
		char *s = kc_err_string(serr);
		kc_report_set_str(&res->outcome, pr->partial ? "partial" : "failed", NULL);
		kc_report_set_str(&res->error, s, NULL);
		free(s);
	}
	for (size_t i = 0; i < pr->n; i++)
		if (pr->replicas[i].error &&
		    kc_result_add_note(res, err, "%s: %s", pr->replicas[i].name,
				       pr->replicas[i].error) < 0)
			return -1;
	return 0;
}

static int measure_drift(struct kc_engine *e, const char *app, const struct kc_compare_opts *o,
			 struct kc_report_result *res, kc_err_t *err)
{
	struct kc_drift_opts dopt = {.app = app, .log = o->log};
	struct kc_drift_report d = {0};
	kc_err_t derr = NULL;
	if (kc_drift_app(e, &dopt, &d, &derr) < 0) {
		char *s = kc_err_string(derr);
		int rc = kc_result_add_note(res, err, "drift not measured: %s", s ? s : "?");
		free(s);
		kc_err_free(&derr);
		kc_drift_report_free(&d);
		return rc;
	}
	int rc = kc_compare_add_drift(res, &d, err);
	kc_drift_report_free(&d);
	return rc;
}

int kc_compare_add_drift(struct kc_report_result *res, const struct kc_drift_report *d,
			 kc_err_t *err)
{
	res->drift.distinct_states = kc_fig((double)d->distinct_states);
	int rc = 0;
	for (size_t i = 0; i < d->n && rc == 0; i++) {
		const struct kc_drift_replica *r = &d->replicas[i];
		rc = kc_result_add_drift(res, r->name, r->fingerprint, kc_fig((double)r->added),
					 kc_fig((double)r->changed), kc_fig((double)r->deleted),
					 err);
		for (size_t k = 0; k < r->n_config && rc == 0; k++)
			rc = kc_result_add_note(res, err, "%s: config drift: %s", r->name,
						r->config[k]);
	}
	return rc;
}

/* "127.0.0.1:5000/kctl-demo:v2" -> "kctl-demo:v2", for tables and charts. */
const char *kc_compare_short_ref(const char *ref)
{
	const char *at = strchr(ref, '@');
	const char *slash = NULL;
	for (const char *p = ref; *p && (!at || p < at); p++)
		if (*p == '/')
			slash = p;
	return slash ? slash + 1 : ref;
}

static int walk(struct kc_engine *e, struct kc_deploy_spec *m, enum kc_approach a,
		const char *probe_url, const struct kc_compare_opts *o, struct kc_report *rep,
		kc_err_t *err)
{
	const char *app = m->name;
	remove_app(e, app, o->log);
	kc_compare_emit(o, KC_COMPARE_WALK_BEGIN, a, NULL, o->versions[0], NULL);
	kc_compare_say(o, "%s: deploying %s with %d replicas", kc_approach_name(a), o->versions[0],
	    m->replicas);
	struct kc_rollout_opts ro = {.image = o->versions[0], .log = o->log,
				     .mutable_mode = a == KC_MUTABLE};
	struct kc_rollout_result rr;
	int rc = kc_rollout_apply(e, m, &ro, &rr, err);
	kc_rollout_result_free(&rr);
	if (rc < 0)
		return kc_err_wrap(err, "%s: deploying %s", kc_approach_name(a), o->versions[0]);
	if (a == KC_MUTABLE && o->fault && !strcmp(o->fault, "partial") &&
	    break_one_replica(e, app, o->versions[0], o->versions[1], o, err) < 0)
		return -1;
	for (size_t i = 1; i < o->n_versions; i++) {
		const char *to = o->versions[i];
		struct kc_report_result *res;
		if (kc_compare_step_begin(o, a, i, rep, &res, err) < 0)
			return -1;
		struct kc_meter_config mc = {.docker_host = o->docker_host,
					     .app = app,
					     .probe_url = probe_url,
					     .probe_rate = o->rate > 0 ? o->rate : 100,
					     .log = o->log};
		struct kc_meter *meter = NULL;
		if (kc_meter_start(&mc, e, &meter, err) < 0)
			return -1;
		int src = a == KC_IMMUTABLE ? immutable_step(e, m, to, o, res, err)
					    : mutable_step(e, app, to, o, res, err);
		/* The meter stops whatever the step did, so no thread outlives it. */
		int mrc = kc_meter_stop(meter, res, src < 0 ? NULL : err);
		if (src < 0 || mrc < 0)
			return -1;
		if (measure_drift(e, app, o, res, err) < 0)
			return -1;
		kc_compare_step_end(o, a, i, res);
	}
	kc_compare_emit(o, KC_COMPARE_WALK_END, a, NULL, NULL, NULL);
	return 0;
}

static int engine_line(struct kc_engine *e, char **out)
{
	struct kc_engine_version v = {0};
	kc_err_t err = NULL;
	int rc = kc_engine_version(e, &v, &err);
	if (rc == 0 && asprintf(out, "%s %s (API %s)", v.backend ? v.backend : "?",
				v.engine_version ? v.engine_version : "?",
				v.api_version ? v.api_version : "?") < 0)
		*out = NULL;
	kc_engine_version_free(&v);
	kc_err_free(&err);
	return rc;
}

static int created_now(char buf[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	return strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) ? 0 : -1;
}

static int prepare(const struct kc_compare_opts *o, struct kc_deploy_spec **out, kc_err_t *err)
{
	if (o->n_versions < 2)
		return kc_err_new(err, KC_E_USAGE, "--versions needs at least two references");
	if (o->fault && strcmp(o->fault, "partial") != 0)
		return kc_err_new(err, KC_E_USAGE, "--fault: \"%s\" is unknown (partial)", o->fault);
	struct kc_deploy_spec *m = NULL;
	if (kc_deploy_spec_load(o->manifest, &m, err) < 0)
		return -1;
	if (o->replicas > 0) {
		m->replicas = o->replicas;
		if (kc_int_or_percent_resolve(m->max_surge_raw ? m->max_surge_raw : "25%",
					      m->replicas, true, &m->max_surge, err) < 0 ||
		    kc_int_or_percent_resolve(m->max_unavailable_raw ? m->max_unavailable_raw
								     : "25%",
					      m->replicas, false, &m->max_unavailable, err) < 0) {
			kc_deploy_spec_free(m);
			return -1;
		}
		if (m->max_surge == 0 && m->max_unavailable == 0)
			m->max_unavailable = 1;
	}
	/* Every version must resolve before anything is deployed. */
	for (size_t i = 0; i < o->n_versions; i++) {
		struct kc_registry_opts ro = {.log = o->log};
		struct kc_image_info info = {0};
		if (kc_image_resolve(o->versions[i], &ro, &info, NULL, err) < 0) {
			kc_deploy_spec_free(m);
			return -1;
		}
		kc_image_info_free(&info);
	}
	*out = m;
	return 0;
}

int kc_compare_run(struct kc_engine *e, const struct kc_compare_opts *o, struct kc_report **out,
		   kc_err_t *err)
{
	struct kc_deploy_spec *m = NULL;
	if (prepare(o, &m, err) < 0)
		return kc_err_wrap(err, "compare");
	char *base_name = m->name;
	char *probe_url = NULL;
	if (m->nports > 0 &&
	    asprintf(&probe_url, "http://127.0.0.1:%d/", m->ports[0].container_port) < 0)
		probe_url = NULL;
	struct kc_report *rep = NULL;
	int rc = kc_report_new(base_name, &rep, err);
	char created[32] = "";
	char *engine = NULL;
	if (rc == 0) {
		created_now(created);
		engine_line(e, &engine);
		rep->replicas = m->replicas;
		rep->probe_rate_hz = probe_url ? kc_fig(o->rate > 0 ? o->rate : 100) : KC_FIG_NONE;
		if (kc_report_set_str(&rep->created, created, err) < 0 ||
		    kc_report_set_str(&rep->manifest, o->manifest, err) < 0 ||
		    kc_report_set_str(&rep->engine, engine, err) < 0 ||
		    kc_report_set_str(&rep->probe_url, probe_url, err) < 0 ||
		    kc_report_set_str(&rep->fault, o->fault, err) < 0)
			rc = -1;
		for (size_t i = 0; rc == 0 && i < o->n_versions; i++)
			rc = kc_report_add_version(rep, o->versions[i], err);
	}
	for (int a = KC_IMMUTABLE; rc == 0 && a <= KC_MUTABLE; a++) {
		char *app = NULL;
		if (asprintf(&app, "%s-%s", base_name, kc_approach_name(a)) < 0) {
			rc = kc_err_sys(err, ENOMEM, "compare");
			break;
		}
		m->name = app;
		rc = walk(e, m, a, probe_url, o, rep, err);
		remove_app(e, app, o->log);
		m->name = base_name;
		free(app);
	}
	free(engine);
	free(probe_url);
	kc_deploy_spec_free(m);
	if (rc < 0) {
		kc_report_free(rep);
		return kc_err_wrap(err, "compare");
	}
	*out = rep;
	return 0;
}
