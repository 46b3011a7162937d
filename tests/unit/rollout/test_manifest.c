/* kc_deploy_spec: every supported field, defaults, int-or-percent rounding, unsupported
 * fields named with their line, malformed YAML, JSON input, serialization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/base/json.h"
#include "shim/rollout/manifest.h"

static const char *const base_lines[] = {
    "apiVersion: apps/v1",	   /* 1 */
    "kind: Deployment",		   /* 2 */
    "metadata:",		   /* 3 */
    "  name: web",		   /* 4 */
    "spec:",			   /* 5 */
    "  selector:",		   /* 6 */
    "    matchLabels:",		   /* 7 */
    "      app: web",		   /* 8 */
    "  template:",		   /* 9 */
    "    metadata:",		   /* 10 */
    "      labels:",		   /* 11 */
    "        app: web",		   /* 12 */
    "    spec:",		   /* 13 */
    "      containers:",	   /* 14 */
    "        - name: app",	   /* 15 */
    "          image: reg/app:v1", /* 16 */
    NULL,
};

/* The base manifest with extra text inserted after line `after` (1-based). */
static char *base_with(int after, const char *extra)
{
	size_t cap = 4096 + strlen(extra);
	char *s = malloc(cap);
	size_t n = 0;
	for (int i = 0; base_lines[i]; i++) {
		n += (size_t)snprintf(s + n, cap - n, "%s\n", base_lines[i]);
		if (i + 1 == after)
			n += (size_t)snprintf(s + n, cap - n, "%s\n", extra);
	}
	return s;
}

static struct kc_deploy_spec *parse_ok(const char *yaml)
{
	struct kc_deploy_spec *m = NULL;
	kc_err_t err = NULL;
	int rc = kc_deploy_spec_parse(yaml, strlen(yaml), "t.yaml", &m, &err);
	if (rc < 0) {
		char *msg = kc_err_string(err);
		print_error("unexpected error: %s\n", msg);
		free(msg);
		kc_err_free(&err);
	}
	assert_int_equal(rc, 0);
	assert_non_null(m);
	return m;
}

static char *parse_fail(const char *yaml)
{
	struct kc_deploy_spec *m = NULL;
	kc_err_t err = NULL;
	assert_true(kc_deploy_spec_parse(yaml, strlen(yaml), "t.yaml", &m, &err) < 0);
	assert_null(m);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	char *msg = kc_err_string(err);
	kc_err_free(&err);
	return msg;
}

/* Inserting extra after line `after` fails with exactly `want`. */
static void expect_error(int after, const char *extra, const char *want)
{
	char *y = base_with(after, extra);
	char *msg = parse_fail(y);
	if (strcmp(msg, want) != 0)
		print_error("got:  %s\nwant: %s\n", msg, want);
	assert_string_equal(msg, want);
	free(msg);
	free(y);
}

static void test_defaults(void **state)
{
	(void)state;
	char *y = base_with(0, "");
	struct kc_deploy_spec *m = parse_ok(y);
	free(y);
	assert_string_equal(m->name, "web");
	assert_null(m->namespace);
	assert_int_equal(m->replicas, 1);
	assert_int_equal(m->strategy, KC_STRATEGY_ROLLING);
	assert_string_equal(m->max_surge_raw, "25%");
	assert_string_equal(m->max_unavailable_raw, "25%");
	assert_int_equal(m->max_surge, 1);	 /* ceil(0.25) */
	assert_int_equal(m->max_unavailable, 0); /* floor(0.25) */
	assert_int_equal(m->revision_history_limit, 10);
	assert_int_equal(m->progress_deadline_s, 600);
	assert_int_equal(m->min_ready_s, 0);
	assert_int_equal(m->termination_grace_s, 30);
	assert_string_equal(m->container_name, "app");
	assert_string_equal(m->image, "reg/app:v1");
	assert_null(m->command);
	assert_null(m->args);
	assert_int_equal(m->nenv, 0);
	assert_int_equal(m->nports, 0);
	assert_int_equal(m->readiness.kind, KC_PROBE_NONE);
	assert_true(m->read_only_rootfs); /* kctl's immutable default */
	assert_int_equal(m->nmounts, 0);
	assert_int_equal(m->nselector, 1);
	assert_string_equal(m->selector[0].key, "app");
	kc_deploy_spec_free(m);
}

static void test_demo_manifest(void **state)
{
	(void)state;
	const char *src = getenv("KCTL_SOURCE_DIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/manifests/demo-app.yaml", src ? src : ".");
	struct kc_deploy_spec *m = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_deploy_spec_load(path, &m, &err), 0);
	assert_string_equal(m->name, "kctl-demo");
	assert_int_equal(m->replicas, 3);
	assert_int_equal(m->strategy, KC_STRATEGY_ROLLING);
	assert_int_equal(m->max_surge, 1);
	assert_int_equal(m->max_unavailable, 0);
	assert_int_equal(m->progress_deadline_s, 120);
	assert_string_equal(m->image, "127.0.0.1:5000/kctl-demo:v1");
	assert_int_equal(m->readiness.kind, KC_PROBE_HTTP);
	assert_string_equal(m->readiness.path, "/healthz");
	assert_int_equal(m->readiness.port, 8081);
	assert_string_equal(m->readiness.port_name, "health");
	assert_int_equal(m->readiness.period_s, 1);
	assert_int_equal(m->readiness.failure_threshold, 10);
	assert_true(m->read_only_rootfs);
	assert_int_equal(m->nmounts, 1);
	assert_string_equal(m->mounts[0].mount_path, "/tmp");
	assert_int_equal(m->mounts[0].kind, KC_VOLUME_TMPFS);
	assert_int_equal(m->mounts[0].size_bytes, 16 << 20);
	assert_int_equal(m->nenv, 3);
	assert_string_equal(m->env[0].key, "PORT");
	assert_string_equal(m->env[0].value, "8080");
	kc_deploy_spec_free(m);
}

static const char full[] =
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: full.app\n"
    "  namespace: prod\n"
    "  labels: {tier: web}\n"
    "  annotations:\n"
    "    io.kctl.strategy: blue-green\n"
    "    kubernetes.io/change-cause: \"v2\"\n"
    "spec:\n"
    "  replicas: 10\n"
    "  revisionHistoryLimit: 3\n"
    "  progressDeadlineSeconds: 90\n"
    "  minReadySeconds: 5\n"
    "  strategy:\n"
    "    type: RollingUpdate\n"
    "    rollingUpdate: {maxSurge: 35%, maxUnavailable: 35%}\n"
    "  selector: {matchLabels: {app: full}}\n"
    "  template:\n"
    "    metadata:\n"
    "      labels: {app: full, extra: \"yes\"}\n"
    "      annotations: {note: hi}\n"
    "    spec:\n"
    "      hostNetwork: true\n"
    "      restartPolicy: Always\n"
    "      terminationGracePeriodSeconds: 7\n"
    "      volumes:\n"
    "        - name: data\n"
    "          persistentVolumeClaim: {claimName: full-data}\n"
    "        - name: scratch\n"
    "          emptyDir: {}\n"
    "      containers:\n"
    "        - name: main\n"
    "          image: 127.0.0.1:5000/app@sha256:0123\n"
    "          imagePullPolicy: IfNotPresent\n"
    "          workingDir: /srv\n"
    "          command: [/bin/server]\n"
    "          args: [\"--port\", \"8080\", --verbose]\n"
    "          env:\n"
    "            - {name: A, value: \"1\"}\n"
    "            - name: EMPTY\n"
    "          ports:\n"
    "            - {containerPort: 8080, name: http, protocol: TCP, hostPort: 8080}\n"
    "            - containerPort: 9090\n"
    "          readinessProbe:\n"
    "            tcpSocket: {port: http}\n"
    "            initialDelaySeconds: 2\n"
    "            periodSeconds: 3\n"
    "            timeoutSeconds: 4\n"
    "            successThreshold: 2\n"
    "            failureThreshold: 6\n"
    "          securityContext: {readOnlyRootFilesystem: false}\n"
    "          volumeMounts:\n"
    "            - {name: data, mountPath: /data}\n"
    "            - {name: scratch, mountPath: /tmp, readOnly: true}\n";

static void test_every_field(void **state)
{
	(void)state;
	struct kc_deploy_spec *m = parse_ok(full);
	assert_string_equal(m->name, "full.app");
	assert_string_equal(m->namespace, "prod");
	assert_int_equal(m->nlabels, 1);
	assert_string_equal(m->labels[0].value, "web");
	assert_int_equal(m->nannotations, 2);
	assert_int_equal(m->strategy, KC_STRATEGY_BLUE_GREEN);
	assert_int_equal(m->replicas, 10);
	assert_int_equal(m->max_surge, 4);	 /* ceil(3.5) */
	assert_int_equal(m->max_unavailable, 3); /* floor(3.5) */
	assert_int_equal(m->revision_history_limit, 3);
	assert_int_equal(m->progress_deadline_s, 90);
	assert_int_equal(m->min_ready_s, 5);
	assert_int_equal(m->termination_grace_s, 7);
	assert_int_equal(m->npod_labels, 2);
	assert_string_equal(m->pod_labels[1].value, "yes"); /* quoted: a string */
	assert_int_equal(m->npod_annotations, 1);
	assert_string_equal(m->container_name, "main");
	assert_string_equal(m->image_pull_policy, "IfNotPresent");
	assert_string_equal(m->working_dir, "/srv");
	assert_string_equal(m->command[0], "/bin/server");
	assert_null(m->command[1]);
	assert_string_equal(m->args[1], "8080");
	assert_string_equal(m->args[2], "--verbose");
	assert_null(m->args[3]);
	assert_int_equal(m->nenv, 2);
	assert_string_equal(m->env[1].key, "EMPTY");
	assert_string_equal(m->env[1].value, "");
	assert_int_equal(m->nports, 2);
	assert_null(m->ports[1].name);
	assert_int_equal(m->ports[1].container_port, 9090);
	assert_int_equal(m->readiness.kind, KC_PROBE_TCP);
	assert_int_equal(m->readiness.port, 8080);
	assert_int_equal(m->readiness.initial_delay_s, 2);
	assert_int_equal(m->readiness.period_s, 3);
	assert_int_equal(m->readiness.timeout_s, 4);
	assert_int_equal(m->readiness.success_threshold, 2);
	assert_int_equal(m->readiness.failure_threshold, 6);
	assert_false(m->read_only_rootfs);
	assert_int_equal(m->nmounts, 2);
	assert_int_equal(m->mounts[0].kind, KC_VOLUME_NAMED);
	assert_string_equal(m->mounts[0].source, "full-data");
	assert_false(m->mounts[0].read_only);
	assert_int_equal(m->mounts[1].kind, KC_VOLUME_TMPFS);
	assert_true(m->mounts[1].read_only);
	assert_int_equal(m->mounts[1].size_bytes, 0);

	/* The Deployment form parses back into the same spec. */
	char *js = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_deploy_spec_to_json(m, NULL, true, &js, &err), 0);
	struct kc_deploy_spec *back = NULL;
	assert_int_equal(kc_deploy_spec_parse(js, strlen(js), "written.json", &back, &err), 0);
	assert_int_equal(back->replicas, m->replicas);
	assert_int_equal(back->max_surge, 4);
	assert_int_equal(back->strategy, KC_STRATEGY_BLUE_GREEN);
	assert_string_equal(back->mounts[0].source, "full-data");
	char *a = NULL, *b = NULL;
	assert_int_equal(kc_deploy_spec_template_json(m, NULL, &a, &err), 0);
	assert_int_equal(kc_deploy_spec_template_json(back, NULL, &b, &err), 0);
	assert_string_equal(a, b);
	free(b);
	/* An image override lands in the template, and only there. */
	assert_int_equal(kc_deploy_spec_template_json(m, "reg/app@sha256:00", &b, &err), 0);
	assert_string_not_equal(a, b);
	assert_non_null(strstr(b, "reg/app@sha256:00"));
	free(a);
	free(b);
	kc_deploy_spec_free(back);
	free(js);
	char *t1 = NULL, *t2 = NULL;
	assert_int_equal(kc_deploy_spec_template_json(m, NULL, &t1, &err), 0);
	kc_deploy_spec_free(m);
	/* Same container shape, different replicas: same template. */
	char *other = strdup(full);
	memcpy(strstr(other, "replicas: 10"), "replicas: 20", 12);
	m = parse_ok(other);
	assert_int_equal(kc_deploy_spec_template_json(m, NULL, &t2, &err), 0);
	assert_string_equal(t1, t2);
	free(t1);
	free(t2);
	kc_deploy_spec_free(m);
	free(other);
}

static void test_probes(void **state)
{
	(void)state;
	char *y = base_with(16, "          readinessProbe:\n            exec:\n"
				"              command: [cat, /tmp/ready]\n");
	struct kc_deploy_spec *m = parse_ok(y);
	free(y);
	assert_int_equal(m->readiness.kind, KC_PROBE_EXEC);
	assert_string_equal(m->readiness.command[1], "/tmp/ready");
	assert_int_equal(m->readiness.period_s, 10);
	assert_int_equal(m->readiness.timeout_s, 1);
	assert_int_equal(m->readiness.success_threshold, 1);
	assert_int_equal(m->readiness.failure_threshold, 3);
	assert_int_equal(m->readiness.initial_delay_s, 0);
	kc_deploy_spec_free(m);
	y = base_with(16, "          readinessProbe: {httpGet: {port: 8081}}");
	m = parse_ok(y);
	free(y);
	assert_int_equal(m->readiness.kind, KC_PROBE_HTTP);
	assert_string_equal(m->readiness.path, "/");
	assert_int_equal(m->readiness.port, 8081);
	assert_null(m->readiness.port_name);
	kc_deploy_spec_free(m);
}

static void test_percentages(void **state)
{
	(void)state;
	static const struct {
		int replicas;
		const char *surge, *unavail;
		int want_surge, want_unavail;
	} cases[] = {
	    {3, "25%", "25%", 1, 0}, {4, "25%", "25%", 1, 1}, {10, "25%", "25%", 3, 2},
	    {1, "50%", "50%", 1, 0}, {3, "0", "1", 0, 1},     {5, "100%", "0%", 5, 0},
	    {3, "0%", "10%", 0, 1}, /* both resolve to 0: unavailable becomes 1 */
	    {7, "2", "3", 2, 3},     {0, "25%", "25%", 0, 1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char extra[256];
		snprintf(extra, sizeof extra,
			 "  replicas: %d\n  strategy:\n    rollingUpdate:\n      maxSurge: %s\n"
			 "      maxUnavailable: %s",
			 cases[i].replicas, cases[i].surge, cases[i].unavail);
		char *y = base_with(5, extra);
		struct kc_deploy_spec *m = parse_ok(y);
		free(y);
		assert_int_equal(m->max_surge, cases[i].want_surge);
		assert_int_equal(m->max_unavailable, cases[i].want_unavail);
		kc_deploy_spec_free(m);
	}
	int out;
	kc_err_t err = NULL;
	assert_int_equal(kc_int_or_percent_resolve("33%", 10, true, &out, &err), 0);
	assert_int_equal(out, 4);
	assert_int_equal(kc_int_or_percent_resolve("33%", 10, false, &out, &err), 0);
	assert_int_equal(out, 3);
	assert_true(kc_int_or_percent_resolve("x%", 10, false, &out, &err) < 0);
	kc_err_free(&err);
	assert_true(kc_int_or_percent_resolve("%", 10, false, &out, &err) < 0);
	kc_err_free(&err);
}

static void test_strategies(void **state)
{
	(void)state;
	char *y = base_with(5, "  strategy:\n    type: Recreate");
	struct kc_deploy_spec *m = parse_ok(y);
	free(y);
	assert_int_equal(m->strategy, KC_STRATEGY_RECREATE);
	kc_deploy_spec_free(m);
	y = base_with(4, "  annotations:\n    io.kctl.strategy: blue-green");
	m = parse_ok(y);
	free(y);
	assert_int_equal(m->strategy, KC_STRATEGY_BLUE_GREEN);
	kc_deploy_spec_free(m);
}

static void test_unsupported_fields(void **state)
{
	(void)state;
	expect_error(16, "          resources: {}",
		     "t.yaml:17: spec.template.spec.containers[0].resources: not supported by "
		     "the Docker backend");
	expect_error(16, "          env:\n            - name: A\n              valueFrom: {}",
		     "t.yaml:19: spec.template.spec.containers[0].env[0].valueFrom: not "
		     "supported by the Docker backend");
	expect_error(16, "          livenessProbe: {}",
		     "t.yaml:17: spec.template.spec.containers[0].livenessProbe: not supported "
		     "by the Docker backend");
	expect_error(16, "          securityContext:\n            privileged: true",
		     "t.yaml:18: spec.template.spec.containers[0].securityContext.privileged: "
		     "not supported by the Docker backend");
	expect_error(13, "      nodeSelector: {}",
		     "t.yaml:14: spec.template.spec.nodeSelector: not supported by the Docker "
		     "backend");
	expect_error(13, "      initContainers: []",
		     "t.yaml:14: spec.template.spec.initContainers: not supported by the "
		     "Docker backend");
	expect_error(5, "  paused: true",
		     "t.yaml:6: spec.paused: not supported by the Docker backend");
	expect_error(4, "  uid: x", "t.yaml:5: metadata.uid: not supported by the Docker backend");
	expect_error(2, "status: {}", "t.yaml:3: status: not supported by the Docker backend");
	expect_error(6, "    matchExpressions: []",
		     "t.yaml:7: spec.selector.matchExpressions: not supported by the Docker "
		     "backend");
	expect_error(13, "      volumes:\n        - name: h\n          hostPath: {path: /}",
		     "t.yaml:16: spec.template.spec.volumes[0].hostPath: not supported by the "
		     "Docker backend");
	expect_error(16, "          readinessProbe:\n            grpc: {port: 1}",
		     "t.yaml:18: spec.template.spec.containers[0].readinessProbe.grpc: not "
		     "supported by the Docker backend");
	expect_error(16,
		     "          readinessProbe:\n            httpGet:\n              port: 1\n"
		     "              httpHeaders: []",
		     "t.yaml:20: spec.template.spec.containers[0].readinessProbe.httpGet."
		     "httpHeaders: not supported by the Docker backend");
}

static void test_invalid_values(void **state)
{
	(void)state;
	expect_error(16, "        - name: two\n          image: x",
		     "t.yaml:17: spec.template.spec.containers[1]: only one container is "
		     "supported by the Docker backend");
	expect_error(
	    16, "          ports:\n            - containerPort: 53\n              protocol: UDP",
	    "t.yaml:19: spec.template.spec.containers[0].ports[0].protocol: \"UDP\": "
	    "only TCP is supported");
	expect_error(16, "          readinessProbe: {httpGet: {port: web}}",
		     "t.yaml:17: spec.template.spec.containers[0].readinessProbe.httpGet.port: "
		     "no container port named \"web\"");
	expect_error(16, "          volumeMounts: [{name: nope, mountPath: /x}]",
		     "t.yaml:17: spec.template.spec.containers[0].volumeMounts[0].name: no "
		     "volume named \"nope\" in spec.template.spec.volumes");
	expect_error(5, "  replicas: \"3\"",
		     "t.yaml:6: spec.replicas: expected an integer, got a string");
	expect_error(5, "  replicas: -1", "t.yaml:6: spec.replicas: -1 is out of range (0 to 256)");
	expect_error(5, "  strategy:\n    rollingUpdate: {maxSurge: 0, maxUnavailable: 0%}",
		     "t.yaml:7: spec.strategy.rollingUpdate: maxSurge and maxUnavailable may not "
		     "both be 0");
	expect_error(5, "  strategy:\n    rollingUpdate: {maxSurge: \"1\"}",
		     "t.yaml:7: spec.strategy.rollingUpdate.maxSurge: \"1\": expected an integer "
		     "or a percentage such as \"25%\"");
	expect_error(5, "  strategy:\n    rollingUpdate: {maxUnavailable: 150%}",
		     "t.yaml:7: spec.strategy.rollingUpdate.maxUnavailable: must not be more "
		     "than 100%");
	expect_error(5, "  strategy:\n    type: Recreate\n    rollingUpdate: {maxSurge: 1}",
		     "t.yaml:8: spec.strategy.rollingUpdate: may not be set when type is "
		     "Recreate");
	expect_error(
	    5, "  strategy: {type: Canary}",
	    "t.yaml:6: spec.strategy.type: \"Canary\": expected RollingUpdate or Recreate");
	expect_error(4, "  annotations: {io.kctl.strategy: canary}",
		     "t.yaml:5: metadata.annotations[io.kctl.strategy]: \"canary\": the only value "
		     "is \"blue-green\" (rolling and recreate come from spec.strategy)");
	expect_error(4, "  annotations: {io.kctl.stratgy: blue-green}",
		     "t.yaml:5: metadata.annotations[io.kctl.stratgy]: unknown kctl annotation "
		     "(known: io.kctl.strategy)");
	expect_error(13, "      hostNetwork: false",
		     "t.yaml:14: spec.template.spec.hostNetwork: the Docker backend runs replicas "
		     "on the host network only");
	expect_error(16, "          env: [{name: A, value: 1}]",
		     "t.yaml:17: spec.template.spec.containers[0].env[0].value: expected a "
		     "string, got an integer");
	expect_error(12, "      extra: {}",
		     "t.yaml:13: spec.template.metadata.extra: not supported by the Docker "
		     "backend");
}

static void test_document_errors(void **state)
{
	(void)state;
	char *msg;
	msg = parse_fail("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\n");
	assert_string_equal(msg, "t.yaml:2: kind: \"StatefulSet\": kctl rolls out a Deployment");
	free(msg);
	msg = parse_fail("apiVersion: extensions/v1beta1\nkind: Deployment\n");
	assert_string_equal(msg, "t.yaml:1: apiVersion: \"extensions/v1beta1\": expected apps/v1");
	free(msg);
	msg = parse_fail("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: Bad_Name}\n");
	assert_non_null(strstr(msg, "t.yaml:3: metadata.name: \"Bad_Name\" is not a valid name"));
	free(msg);
	msg = parse_fail("- just\n- a list\n");
	assert_non_null(strstr(msg, "expected a Deployment"));
	free(msg);
	msg = parse_fail("");
	assert_string_equal(msg, "t.yaml: no Deployment in the file");
	free(msg);
	char *two = base_with(16, "---\napiVersion: v1\nkind: Service");
	msg = parse_fail(two);
	assert_string_equal(msg,
			    "t.yaml:18: a second document: kctl reads one Deployment per file");
	free(msg);
	free(two);
	/* Malformed YAML: libyaml's message with the line. */
	msg =
	    parse_fail("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: [x\nspec: {}\n");
	assert_non_null(strstr(msg, "t.yaml:5:"));
	free(msg);
	msg = parse_fail("apiVersion: apps/v1\n kind: Deployment\n");
	assert_non_null(strstr(msg, "t.yaml:2:"));
	free(msg);
	/* Missing required fields name the parent. */
	msg = parse_fail(
	    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n"
	    "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
	    "    spec:\n      containers:\n        - name: c\n");
	assert_string_equal(msg, "t.yaml:10: spec.template.spec.containers[0]: missing required "
				 "field \"image\"");
	free(msg);
	msg = parse_fail(
	    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n"
	    "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: c}}\n"
	    "    spec: {containers: [{name: c, image: i}]}\n");
	assert_string_equal(msg, "t.yaml:5: spec.selector.matchLabels: does not match "
				 "spec.template.metadata.labels (a)");
	free(msg);
}

static void test_json_manifest(void **state)
{
	(void)state;
	const char *j = "{\n"
			"  \"apiVersion\": \"apps/v1\",\n"
			"  \"kind\": \"Deployment\",\n"
			"  \"metadata\": {\"name\": \"j\"},\n"
			"  \"spec\": {\n"
			"    \"replicas\": 4,\n"
			"    \"selector\": {\"matchLabels\": {\"app\": \"j\"}},\n"
			"    \"template\": {\n"
			"      \"metadata\": {\"labels\": {\"app\": \"j\"}},\n"
			"      \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"i:1\",\n"
			"        \"env\": [{\"name\": \"X\", \"value\": \"on\"}]}]}\n"
			"    }\n"
			"  }\n"
			"}\n";
	struct kc_deploy_spec *m = parse_ok(j);
	assert_int_equal(m->replicas, 4);
	assert_string_equal(m->env[0].value, "on"); /* quoted in JSON: a string */
	kc_deploy_spec_free(m);
	char *bad = strdup(j);
	memcpy(strstr(bad, "\"env\""), "\"foo\"", 5);
	char *msg = parse_fail(bad);
	assert_string_equal(msg, "t.yaml:11: spec.template.spec.containers[0].foo: not supported "
				 "by the Docker backend");
	free(msg);
	free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),	       cmocka_unit_test(test_demo_manifest),
	    cmocka_unit_test(test_every_field),	       cmocka_unit_test(test_probes),
	    cmocka_unit_test(test_percentages),	       cmocka_unit_test(test_strategies),
	    cmocka_unit_test(test_unsupported_fields), cmocka_unit_test(test_invalid_values),
	    cmocka_unit_test(test_document_errors),    cmocka_unit_test(test_json_manifest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
