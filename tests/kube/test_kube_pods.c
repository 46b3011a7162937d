/* The engine side of patch/drift on Kubernetes (kube_pods.h) against the fake: the
 * Deployment's 3 pods; a command on all of them with one failing (partial result,
 * per-pod outcome); annotations recording each pod's outcome agree with it; a file
 * copied into every pod as a tar stream into `tar -x` (v5 stdin close); exec with
 * at most 2 in flight; 12 execs 3 at a time, bounded as the fake counts them. Run by
 * pods.sh with KUBECONFIG pointing at the fake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/engine/kube_pods.h"

static struct kc_kube *kube;

static void test_patch_partial(void **state)
{
	(void)state;
	cleanup_err kc_err_t err = NULL;
	struct kc_kube_pod *pods = NULL;
	size_t n = 0;
	assert_int_equal(kc_kube_deployment_pods(kube, "pods", &pods, &n, &err), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_true(pods[i].ready);
		assert_string_equal(pods[i].container, "app");
	}

	/* Break one pod, then run the same step on all: partial. */
	struct kc_kube_exec_each one = {.pod = pods[1].name};
	const char *rm[] = {"rm", "/etc/kctl-version", NULL};
	assert_int_equal(kc_kube_exec_each(kube, &one, 1, rm, NULL, 0, 0, 0, &err), 1);
	kc_kube_exec_each_free(&one, 1);

	struct kc_kube_exec_each each[3] = {
	    {.pod = pods[0].name}, {.pod = pods[1].name}, {.pod = pods[2].name}};
	const char *cat[] = {"cat", "/etc/kctl-version", NULL};
	int ok = kc_kube_exec_each(kube, each, 3, cat, NULL, 0, 2, 0, &err);
	assert_int_equal(ok, 2);
	for (size_t i = 0; i < 3; i++) {
		assert_true(each[i].ran);
		if (i == 1) {
			assert_int_equal(each[i].exit_code, 1);
			assert_non_null(strstr(each[i].err_out, "No such file"));
		} else {
			assert_int_equal(each[i].exit_code, 0);
			assert_string_equal(each[i].out, "v1\n");
		}
		char val[64];
		snprintf(val, sizeof val, "{\"outcome\":\"%s\",\"exit\":%d}",
			 each[i].exit_code ? "failed" : "ok", each[i].exit_code);
		assert_int_equal(
		    kc_kube_annotate_pod(kube, each[i].pod, "io.kctl.patch/last", val, &err), 0);
	}
	/* The annotations say what the exec results said. */
	for (size_t i = 0; i < 3; i++) {
		char path[256];
		snprintf(path, sizeof path, "/api/v1/namespaces/default/pods/%s", each[i].pod);
		cleanup_json yajl_val pod = NULL;
		assert_int_equal(kc_kube_request(kube, "GET", path, NULL, NULL, &pod, &err), 0);
		yajl_val ann = kc_json_find(pod, "/metadata/annotations");
		yajl_val v = kc_json_member(ann, "io.kctl.patch/last");
		assert_true(YAJL_IS_STRING(v));
		assert_non_null(strstr(v->u.string, i == 1 ? "\"failed\"" : "\"ok\""));
	}
	kc_kube_exec_each_free(each, 3);

	/* An exec in a pod that does not exist is an outcome, not a crash. */
	struct kc_kube_exec_each ghost = {.pod = "no-such-pod"};
	assert_int_equal(kc_kube_exec_each(kube, &ghost, 1, cat, NULL, 0, 0, 0, &err), 0);
	assert_false(ghost.ran);
	assert_non_null(ghost.error);
	kc_kube_exec_each_free(&ghost, 1);
	kc_kube_pods_free(pods, n);
}

static void test_copy_tar(void **state)
{
	(void)state;
	cleanup_err kc_err_t err = NULL;
	struct kc_kube_pod *pods = NULL;
	size_t n = 0;
	assert_int_equal(kc_kube_deployment_pods(kube, "pods", &pods, &n, &err), 0);
	cleanup_free void *tar = NULL;
	size_t tar_len = 0;
	const char content[] = "patched in place\n";
	assert_int_equal(kc_kube_tar_one("/etc/kctl-patched.conf", content, strlen(content), 0640,
					 &tar, &tar_len, &err),
			 0);
	assert_true(tar_len >= 1024);
	struct kc_kube_exec_each *each = calloc(n, sizeof *each);
	for (size_t i = 0; i < n; i++)
		each[i].pod = pods[i].name;
	const char *untar[] = {"tar", "-x", "-C", "/", NULL};
	assert_int_equal(kc_kube_exec_each(kube, each, n, untar, tar, tar_len, 3, 0, &err), (int)n);
	kc_kube_exec_each_free(each, n);
	const char *check[] = {
	    "sh", "-c", "cat /etc/kctl-patched.conf; stat -c %a /etc/kctl-patched.conf", NULL};
	assert_int_equal(kc_kube_exec_each(kube, each, n, check, NULL, 0, 1, 0, &err), (int)n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(each[i].out, "patched in place\n640\n");
	kc_kube_exec_each_free(each, n);
	free(each);
	void *bad = NULL;
	size_t bad_len = 0;
	assert_int_equal(kc_kube_tar_one("../escape", "x", 1, 0644, &bad, &bad_len, &err), -1);
	assert_null(bad);
	kc_kube_pods_free(pods, n);
}

static int64_t exec_peak(bool reset)
{
	cleanup_err kc_err_t err = NULL;
	cleanup_json yajl_val st = NULL;
	assert_int_equal(kc_kube_request(kube, "GET",
					 reset ? "/fakez/stats?reset_exec_peak=1" : "/fakez/stats",
					 NULL, NULL, &st, &err),
			 0);
	int64_t v = -1;
	assert_int_equal(kc_json_get_int(st, "/exec_peak", &v, &err), 0);
	return v;
}

/* 12 execs over the 3 pods, 3 at a time (one thread, curl multi): the fake never
 * sees more than 3 exec connections open, and every outcome is right. */
static void test_exec_each_bounded(void **state)
{
	(void)state;
	cleanup_err kc_err_t err = NULL;
	struct kc_kube_pod *pods = NULL;
	size_t n = 0;
	assert_int_equal(kc_kube_deployment_pods(kube, "pods", &pods, &n, &err), 0);
	assert_int_equal(n, 3);
	enum { M = 12 };
	struct kc_kube_exec_each each[M];
	for (size_t i = 0; i < M; i++)
		each[i] = (struct kc_kube_exec_each){.pod = pods[i % n].name};
	const char *cmd[] = {"sh", "-c", "sleep 0.3; echo ran; echo note >&2", NULL};
	exec_peak(true);
	assert_int_equal(kc_kube_exec_each(kube, each, M, cmd, NULL, 0, 3, 0, &err), M);
	for (size_t i = 0; i < M; i++) {
		assert_true(each[i].ran);
		assert_null(each[i].error);
		assert_int_equal(each[i].exit_code, 0);
		assert_string_equal(each[i].out, "ran\n");
		assert_string_equal(each[i].err_out, "note\n");
	}
	kc_kube_exec_each_free(each, M);
	int64_t peak = exec_peak(false);
	assert_true(peak >= 2 && peak <= 3);
	kc_kube_pods_free(pods, n);
}

int main(void)
{
	kc_err_t err = NULL;
	struct kc_kubeconfig_opts o = {0};
	if (kc_kube_open(&o, &kube, &err) < 0) {
		kc_err_print(err, "test-kube-pods", stderr);
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patch_partial),
	    cmocka_unit_test(test_copy_tar),
	    cmocka_unit_test(test_exec_each_bounded),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	kc_kube_free(kube);
	return rc;
}
