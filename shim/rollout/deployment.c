/* Manifest -> Deployment JSON: see deployment.h. */
#include "deployment.h"

#include <errno.h>
#include <stdlib.h>

#include "shim/base/json.h"

static void gen_kv_map(yajl_gen g, const char *key, const struct kc_deploy_kv *kv, size_t n)
{
	kc_jgen_key(g, key);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < n; i++)
		kc_jgen_kv_str(g, kv[i].key, kv[i].value);
	yajl_gen_map_close(g);
}

static void gen_strv(yajl_gen g, const char *key, char **v)
{
	kc_jgen_key(g, key);
	yajl_gen_array_open(g);
	for (; v && *v; v++)
		kc_jgen_str(g, *v);
	yajl_gen_array_close(g);
}

/* "25%" stays a string; "1" goes back to the integer it was written as. */
static void gen_int_or_percent(yajl_gen g, const char *key, const char *raw)
{
	if (!raw)
		raw = "25%";
	char *end;
	long v = strtol(raw, &end, 10);
	if (*raw && !*end)
		kc_jgen_kv_int(g, key, v);
	else
		kc_jgen_kv_str(g, key, raw);
}

static void gen_probe(yajl_gen g, const struct kc_deploy_probe *p)
{
	kc_jgen_key(g, "readinessProbe");
	yajl_gen_map_open(g);
	if (p->kind == KC_PROBE_HTTP) {
		kc_jgen_key(g, "httpGet");
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "path", p->path);
		if (p->port_name)
			kc_jgen_kv_str(g, "port", p->port_name);
		else
			kc_jgen_kv_int(g, "port", p->port);
		yajl_gen_map_close(g);
	} else if (p->kind == KC_PROBE_TCP) {
		kc_jgen_key(g, "tcpSocket");
		yajl_gen_map_open(g);
		if (p->port_name)
			kc_jgen_kv_str(g, "port", p->port_name);
		else
			kc_jgen_kv_int(g, "port", p->port);
		yajl_gen_map_close(g);
	} else {
		kc_jgen_key(g, "exec");
		yajl_gen_map_open(g);
		gen_strv(g, "command", p->command);
		yajl_gen_map_close(g);
	}
	kc_jgen_kv_int(g, "initialDelaySeconds", p->initial_delay_s);
	kc_jgen_kv_int(g, "periodSeconds", p->period_s);
	kc_jgen_kv_int(g, "timeoutSeconds", p->timeout_s);
	kc_jgen_kv_int(g, "successThreshold", p->success_threshold);
	kc_jgen_kv_int(g, "failureThreshold", p->failure_threshold);
	yajl_gen_map_close(g);
}

static void gen_container(yajl_gen g, const struct kc_deploy_spec *m, const char *image)
{
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "name", m->container_name);
	kc_jgen_kv_str(g, "image", image ? image : m->image);
	if (m->command)
		gen_strv(g, "command", m->command);
	if (m->args)
		gen_strv(g, "args", m->args);
	if (m->working_dir)
		kc_jgen_kv_str(g, "workingDir", m->working_dir);
	if (m->image_pull_policy)
		kc_jgen_kv_str(g, "imagePullPolicy", m->image_pull_policy);
	kc_jgen_key(g, "env");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < m->nenv; i++) {
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "name", m->env[i].key);
		kc_jgen_kv_str(g, "value", m->env[i].value);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	kc_jgen_key(g, "ports");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < m->nports; i++) {
		yajl_gen_map_open(g);
		if (m->ports[i].name)
			kc_jgen_kv_str(g, "name", m->ports[i].name);
		kc_jgen_kv_int(g, "containerPort", m->ports[i].container_port);
		kc_jgen_kv_str(g, "protocol", "TCP");
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	if (m->readiness.kind != KC_PROBE_NONE)
		gen_probe(g, &m->readiness);
	kc_jgen_key(g, "securityContext");
	yajl_gen_map_open(g);
	kc_jgen_kv_bool(g, "readOnlyRootFilesystem", m->read_only_rootfs);
	yajl_gen_map_close(g);
	kc_jgen_key(g, "volumeMounts");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < m->nmounts; i++) {
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "name", m->mounts[i].name);
		kc_jgen_kv_str(g, "mountPath", m->mounts[i].mount_path);
		if (m->mounts[i].read_only)
			kc_jgen_kv_bool(g, "readOnly", true);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

static void gen_volumes(yajl_gen g, const struct kc_deploy_spec *m)
{
	kc_jgen_key(g, "volumes");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < m->nmounts; i++) {
		const struct kc_deploy_mount *mt = &m->mounts[i];
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "name", mt->name);
		if (mt->kind == KC_VOLUME_TMPFS) {
			kc_jgen_key(g, "emptyDir");
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "medium", "Memory");
			if (mt->size_bytes > 0)
				kc_jgen_kv_int(g, "sizeLimit", mt->size_bytes);
			yajl_gen_map_close(g);
		} else {
			kc_jgen_key(g, "persistentVolumeClaim");
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "claimName", mt->source);
			yajl_gen_map_close(g);
		}
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

int kc_deployment_json(const struct kc_deploy_spec *m, const char *image, char **out, kc_err_t *err)
{
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	if (!g)
		return kc_err_sys(err, ENOMEM, "encoding deployment");
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "apiVersion", "apps/v1");
	kc_jgen_kv_str(g, "kind", "Deployment");
	kc_jgen_key(g, "metadata");
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "name", m->name);
	if (m->namespace)
		kc_jgen_kv_str(g, "namespace", m->namespace);
	gen_kv_map(g, "labels", m->labels, m->nlabels);
	gen_kv_map(g, "annotations", m->annotations, m->nannotations);
	yajl_gen_map_close(g);

	kc_jgen_key(g, "spec");
	yajl_gen_map_open(g);
	kc_jgen_kv_int(g, "replicas", m->replicas);
	kc_jgen_kv_int(g, "revisionHistoryLimit", m->revision_history_limit);
	kc_jgen_kv_int(g, "progressDeadlineSeconds", m->progress_deadline_s);
	kc_jgen_kv_int(g, "minReadySeconds", m->min_ready_s);
	kc_jgen_key(g, "strategy");
	yajl_gen_map_open(g);
	if (m->strategy == KC_STRATEGY_RECREATE) {
		kc_jgen_kv_str(g, "type", "Recreate");
	} else {
		kc_jgen_kv_str(g, "type", "RollingUpdate");
		kc_jgen_key(g, "rollingUpdate");
		yajl_gen_map_open(g);
		gen_int_or_percent(g, "maxSurge", m->max_surge_raw);
		gen_int_or_percent(g, "maxUnavailable", m->max_unavailable_raw);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	kc_jgen_key(g, "selector");
	yajl_gen_map_open(g);
	gen_kv_map(g, "matchLabels", m->selector, m->nselector);
	yajl_gen_map_close(g);
	kc_jgen_key(g, "template");
	yajl_gen_map_open(g);
	kc_jgen_key(g, "metadata");
	yajl_gen_map_open(g);
	gen_kv_map(g, "labels", m->pod_labels, m->npod_labels);
	gen_kv_map(g, "annotations", m->pod_annotations, m->npod_annotations);
	yajl_gen_map_close(g);
	kc_jgen_key(g, "spec");
	yajl_gen_map_open(g);
	kc_jgen_kv_bool(g, "hostNetwork", true);
	kc_jgen_kv_int(g, "terminationGracePeriodSeconds", m->termination_grace_s);
	kc_jgen_key(g, "containers");
	yajl_gen_array_open(g);
	gen_container(g, m, image);
	yajl_gen_array_close(g);
	gen_volumes(g, m);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	char *s = kc_jgen_finish(g, NULL);
	if (!s)
		return kc_err_new(err, KC_E_INVALID, "encoding deployment: invalid UTF-8");
	*out = s;
	return 0;
}
