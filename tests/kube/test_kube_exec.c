/* Exec in a pod of the fake kube-apiserver through kc_k8s_exec (WebSocket
 * channel protocol over TLS). Run by run-exec.sh, which starts two fakes:
 * A speaks v5 and v4 plainly; B speaks only v4 and fragments messages,
 * interleaves pings and splits its writes at random byte boundaries.
 * Every stream test runs twice: through the blocking kc_k8s_exec, then through
 * kc_k8s_exec_many (one thread, curl multi) with MANY_N identical execs at once,
 * all of which must give the same outcome. Then the many-driver alone: a bound
 * on open connections (counted by the fake) and failures that stay isolated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shim/base/cleanup.h"
#include "shim/base/http.h"
#include "shim/base/json.h"
#include "shim/engine/websocket.h"

struct server {
	const char *url, *ca, *pod;
};

static struct server A, B;
static const char *token_hdr[] = {"Authorization: Bearer kctl-test-token", NULL};

#define MANY_N 3
static size_t many_n; /* 0: the blocking kc_k8s_exec; else kc_k8s_exec_many with that many */

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (!v) {
		fprintf(stderr, "%s not set (run through run-exec.sh)\n", name);
		exit(1);
	}
	return v;
}

/* Runs the exec the way the current group says; with the many-driver, many_n
 * copies at once must all agree, and the first one's outcome is returned. */
static int exec_via(const struct kc_k8s_exec_opts *o, struct kc_k8s_exec_result *res, kc_err_t *err)
{
	if (!many_n)
		return kc_k8s_exec(o, res, err);
	struct kc_k8s_exec_opts opts[MANY_N];
	struct kc_k8s_exec_result rs[MANY_N];
	kc_err_t errs[MANY_N] = {0};
	for (size_t i = 0; i < many_n; i++)
		opts[i] = *o;
	kc_err_t all = NULL;
	int failed = kc_k8s_exec_many(opts, many_n, many_n, rs, errs, &all);
	assert_null(all);
	assert_true(failed == 0 || failed == (int)many_n);
	for (size_t i = 1; i < many_n; i++) {
		if (failed) {
			assert_int_equal(kc_err_kind(errs[i]), kc_err_kind(errs[0]));
			assert_int_equal(kc_err_http_status(errs[i]), kc_err_http_status(errs[0]));
			kc_err_free(&errs[i]);
			continue;
		}
		assert_int_equal(rs[i].exit_code, rs[0].exit_code);
		assert_string_equal(rs[i].protocol, rs[0].protocol);
		assert_int_equal(rs[i].out_len, rs[0].out_len);
		assert_memory_equal(rs[i].out, rs[0].out, rs[0].out_len);
		assert_int_equal(rs[i].err_len, rs[0].err_len);
		assert_memory_equal(rs[i].err, rs[0].err, rs[0].err_len);
		kc_k8s_exec_result_free(&rs[i]);
	}
	*res = rs[0];
	*err = errs[0];
	return failed ? -1 : 0;
}

/* Runs argv in the server's pod; returns kc_k8s_exec's result. */
static int run(const struct server *s, const char *const *argv, const char *in, size_t in_len,
	       const char *const *headers, const struct kc_http_config *override, size_t max_output,
	       long timeout_ms, const char *const *protocols, struct kc_k8s_exec_result *res,
	       kc_err_t *err)
{
	struct kc_http_config http = {.base_url = s->url, .ca_file = s->ca};
	if (override)
		http = *override;
	cleanup_free char *path = kc_k8s_exec_path("default", s->pod, NULL, argv, in != NULL);
	assert_non_null(path);
	struct kc_k8s_exec_opts o = {
	    .http = &http,
	    .headers = headers,
	    .path = path,
	    .stdin_data = in,
	    .stdin_len = in_len,
	    .protocols = protocols,
	    .max_output = max_output,
	    .timeout_ms = timeout_ms,
	};
	return exec_via(&o, res, err);
}

static void sh(const struct server *s, const char *script, struct kc_k8s_exec_result *res)
{
	const char *argv[] = {"sh", "-c", script, NULL};
	kc_err_t err = NULL;
	int r = run(s, argv, NULL, 0, token_hdr, NULL, 0, 0, NULL, res, &err);
	if (r < 0) {
		cleanup_free char *m = kc_err_string(err);
		fail_msg("exec '%s': %s", script, m);
	}
}

static void test_echo_v5(void **state)
{
	(void)state;
	struct kc_k8s_exec_result res;
	sh(&A, "echo hello; cat /etc/kctl-version", &res);
	assert_string_equal(res.protocol, KC_K8S_PROTO_V5);
	assert_string_equal(res.out, "hello\nv1\n");
	assert_int_equal(res.err_len, 0);
	assert_int_equal(res.exit_code, 0);
	kc_k8s_exec_result_free(&res);
}

/* "1\n2\n...n\n" as seq prints it. */
static char *seq_text(int n, size_t *len)
{
	size_t cap = (size_t)n * 8 + 1, off = 0;
	char *b = malloc(cap);
	for (int i = 1; i <= n; i++)
		off += (size_t)snprintf(b + off, cap - off, "%d\n", i);
	*len = off;
	return b;
}

static void check_large(const struct server *s, int n)
{
	char script[64];
	snprintf(script, sizeof script, "seq 1 %d; echo tail >&2", n);
	struct kc_k8s_exec_result res;
	sh(s, script, &res);
	size_t want_len = 0;
	cleanup_free char *want = seq_text(n, &want_len);
	assert_true(want_len > 2u << 20);
	assert_int_equal(res.out_len, want_len);
	assert_memory_equal(res.out, want, want_len);
	assert_string_equal(res.err, "tail\n");
	assert_int_equal(res.exit_code, 0);
	kc_k8s_exec_result_free(&res);
}

static void test_large_stdout(void **state)
{
	(void)state;
	check_large(&A, 600000); /* about 4.6 MB */
}

struct counter {
	size_t bytes;
	unsigned long sum;
	size_t calls;
};

static int count_sink(void *opaque, const char *data, size_t len)
{
	struct counter *c = opaque;
	c->calls++;
	c->bytes += len;
	for (size_t i = 0; i < len; i++)
		c->sum = c->sum * 31 + (unsigned char)data[i];
	return 0;
}

static void test_stdout_sink(void **state)
{
	(void)state;
	/* Streamed to a sink: no output limit, nothing buffered. */
	const char *argv[] = {"seq", "1", "600000", NULL};
	struct kc_http_config http = {.base_url = A.url, .ca_file = A.ca};
	cleanup_free char *path = kc_k8s_exec_path("default", A.pod, NULL, argv, false);
	/* With the many-driver, each exec streams into its own counter. */
	size_t n = many_n ? many_n : 1;
	struct counter c[MANY_N] = {0};
	struct kc_k8s_exec_opts o[MANY_N];
	struct kc_k8s_exec_result res[MANY_N];
	kc_err_t errs[MANY_N] = {0}, err = NULL;
	for (size_t i = 0; i < n; i++)
		o[i] = (struct kc_k8s_exec_opts){.http = &http,
						 .headers = token_hdr,
						 .path = path,
						 .max_output = 1000,
						 .stdout_sink = count_sink,
						 .sink_opaque = &c[i]};
	if (many_n)
		assert_int_equal(kc_k8s_exec_many(o, n, n, res, errs, &err), 0);
	else
		assert_int_equal(kc_k8s_exec(&o[0], &res[0], &err), 0);
	size_t want_len = 0;
	cleanup_free char *want = seq_text(600000, &want_len);
	struct counter w = {0};
	count_sink(&w, want, want_len);
	for (size_t i = 0; i < n; i++) {
		assert_null(errs[i]);
		assert_int_equal(res[i].out_len, 0);
		assert_int_equal(c[i].bytes, want_len);
		assert_true(c[i].sum == w.sum);
		assert_true(c[i].calls > 1);
		kc_k8s_exec_result_free(&res[i]);
	}
}

static void test_interleaved_stderr(void **state)
{
	(void)state;
	struct kc_k8s_exec_result res;
	sh(&A, "i=0; while [ $i -lt 400 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done; exit 7",
	   &res);
	assert_int_equal(res.exit_code, 7);
	/* Each stream complete and in order; the two never mixed. */
	const char *o = res.out, *e = res.err;
	for (int i = 0; i < 400; i++) {
		char line[32];
		snprintf(line, sizeof line, "out%d\n", i);
		assert_memory_equal(o, line, strlen(line));
		o += strlen(line);
		snprintf(line, sizeof line, "err%d\n", i);
		assert_memory_equal(e, line, strlen(line));
		e += strlen(line);
	}
	assert_int_equal(*o, '\0');
	assert_int_equal(*e, '\0');
	kc_k8s_exec_result_free(&res);
}

static void test_exit_codes(void **state)
{
	(void)state;
	static const struct {
		const char *script;
		int code;
	} cases[] = {{"exit 0", 0},	{"exit 1", 1}, {"exit 3", 3},
		     {"exit 255", 255}, {"false", 1},  {"kill -9 $$", 137}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct kc_k8s_exec_result res;
		sh(&A, cases[i].script, &res);
		assert_int_equal(res.exit_code, cases[i].code);
		kc_k8s_exec_result_free(&res);
	}
	/* A command that does not exist: the runtime's 126/127, never 0. */
	const char *argv[] = {"/no/such/binary", NULL};
	struct kc_k8s_exec_result res;
	kc_err_t err = NULL;
	assert_int_equal(run(&A, argv, NULL, 0, token_hdr, NULL, 0, 0, NULL, &res, &err), 0);
	assert_true(res.exit_code == 126 || res.exit_code == 127);
	kc_k8s_exec_result_free(&res);
}

static void test_stdin_v5(void **state)
{
	(void)state;
	/* v5 closes stdin after the data, so cat ends. */
	size_t n = 300000;
	cleanup_free char *in = malloc(n);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	const char *argv[] = {"cat", NULL};
	struct kc_k8s_exec_result res;
	kc_err_t err = NULL;
	assert_int_equal(run(&A, argv, in, n, token_hdr, NULL, 0, 30000, NULL, &res, &err), 0);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.out_len, n);
	assert_memory_equal(res.out, in, n);
	kc_k8s_exec_result_free(&res);
}

/* The fake's /fakez/stats (query: e.g. "?reset_exec_peak=1"). */
static yajl_val fake_stats(const struct server *s, const char *query)
{
	struct kc_http_config http = {.base_url = s->url, .ca_file = s->ca};
	struct kc_http *h = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_http_new(&http, &h, &err), 0);
	char path[64];
	snprintf(path, sizeof path, "/fakez/stats%s", query ? query : "");
	struct kc_http_request req = {.path = path, .headers = token_hdr};
	struct kc_http_response resp cleanup_http_resp = {0};
	assert_int_equal(kc_http_do(h, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	yajl_val j = NULL;
	assert_int_equal(kc_json_parse(resp.body, resp.body_len, &j, &err), 0);
	kc_http_free(h);
	return j;
}

static int64_t stat_int(yajl_val j, const char *ptr)
{
	int64_t v = 0;
	kc_err_t err = NULL;
	assert_int_equal(kc_json_get_int(j, ptr, &v, &err), 0);
	return v;
}

static void test_v4_fallback_chaos(void **state)
{
	(void)state;
	cleanup_json yajl_val before = fake_stats(&B, NULL);
	struct kc_k8s_exec_result res;
	sh(&B, "echo v4; echo e >&2; exit 5", &res);
	assert_string_equal(res.protocol, KC_K8S_PROTO_V4);
	assert_string_equal(res.out, "v4\n");
	assert_string_equal(res.err, "e\n");
	assert_int_equal(res.exit_code, 5);
	kc_k8s_exec_result_free(&res);
	/* Fragmented messages, pings and split writes over a large output. */
	check_large(&B, 450000);

	/* The server saw pongs for its pings, in this group's run. */
	cleanup_json yajl_val j = fake_stats(&B, NULL);
	assert_true(stat_int(j, "/pings_sent") - stat_int(before, "/pings_sent") > 10);
	assert_true(stat_int(j, "/pongs_received") > stat_int(before, "/pongs_received"));
}

static void test_v5_only_refused_by_v4_server(void **state)
{
	(void)state;
	const char *argv[] = {"true", NULL};
	const char *v5only[] = {KC_K8S_PROTO_V5, NULL};
	struct kc_k8s_exec_result res;
	kc_err_t err = NULL;
	assert_int_equal(run(&B, argv, NULL, 0, token_hdr, NULL, 0, 0, v5only, &res, &err), -1);
	assert_int_equal(kc_err_http_status(err), 400);
	kc_err_free(&err);
}

static void test_auth(void **state)
{
	(void)state;
	const char *argv[] = {"true", NULL};
	struct kc_k8s_exec_result res;
	kc_err_t err = NULL;
	const char *bad[] = {"Authorization: Bearer wrong", NULL};
	assert_int_equal(run(&A, argv, NULL, 0, bad, NULL, 0, 0, NULL, &res, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_AUTH);
	assert_int_equal(kc_err_http_status(err), 401);
	kc_err_free(&err);
	const char *forbidden[] = {"Authorization: Bearer kctl-forbidden-token", NULL};
	assert_int_equal(run(&A, argv, NULL, 0, forbidden, NULL, 0, 0, NULL, &res, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_AUTH);
	assert_int_equal(kc_err_http_status(err), 403);
	kc_err_free(&err);
	/* Client certificate, no token. */
	struct kc_http_config cert = {.base_url = A.url,
				      .ca_file = A.ca,
				      .client_cert_file = env("KUBE_A_CLIENT_CERT"),
				      .client_key_file = env("KUBE_A_CLIENT_KEY")};
	assert_int_equal(run(&A, argv, NULL, 0, NULL, &cert, 0, 0, NULL, &res, &err), 0);
	assert_int_equal(res.exit_code, 0);
	kc_k8s_exec_result_free(&res);
}

static void test_unknown_ca(void **state)
{
	(void)state;
	const char *argv[] = {"true", NULL};
	struct kc_http_config other = {.base_url = A.url, .ca_file = env("KUBE_OTHER_CA")};
	struct kc_k8s_exec_result res;
	kc_err_t err = NULL;
	assert_int_equal(run(&A, argv, NULL, 0, token_hdr, &other, 0, 0, NULL, &res, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_AUTH);
	kc_err_free(&err);
}

static void test_output_limit(void **state)
{
	(void)state;
	const char *argv[] = {"seq", "1", "100000", NULL};
	struct kc_k8s_exec_result res;
	kc_err_t err = NULL;
	assert_int_equal(run(&A, argv, NULL, 0, token_hdr, NULL, 1000, 0, NULL, &res, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_TOOBIG);
	kc_err_free(&err);
}

static void test_not_found_and_timeout(void **state)
{
	(void)state;
	const char *argv[] = {"true", NULL};
	struct server gone = {A.url, A.ca, "no-such-pod"};
	struct kc_k8s_exec_result res;
	kc_err_t err = NULL;
	assert_int_equal(run(&gone, argv, NULL, 0, token_hdr, NULL, 0, 0, NULL, &res, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	kc_err_free(&err);
	const char *slow[] = {"sleep", "20", NULL};
	assert_int_equal(run(&A, slow, NULL, 0, token_hdr, NULL, 0, 1500, NULL, &res, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_TIMEOUT);
	kc_err_free(&err);
}

/* 40 execs, at most 5 connections open at once (the fake counts open exec
 * WebSockets), each outcome its own. */
static void test_many_bounded(void **state)
{
	(void)state;
	enum { N = 40, PAR = 5 };
	struct kc_http_config http = {.base_url = A.url, .ca_file = A.ca};
	struct kc_k8s_exec_opts o[N];
	struct kc_k8s_exec_result res[N];
	kc_err_t errs[N] = {0}, err = NULL;
	char *paths[N];
	for (int i = 0; i < N; i++) {
		char script[96];
		snprintf(script, sizeof script, "sleep 0.3; echo out%d; echo err%d >&2; exit %d", i,
			 i, i % 4);
		const char *argv[] = {"sh", "-c", script, NULL};
		paths[i] = kc_k8s_exec_path("default", A.pod, NULL, argv, false);
		o[i] = (struct kc_k8s_exec_opts){
		    .http = &http, .headers = token_hdr, .path = paths[i], .timeout_ms = 60000};
	}
	cleanup_json yajl_val before = fake_stats(&A, "?reset_exec_peak=1");
	assert_int_equal(stat_int(before, "/exec_peak"), 0);
	assert_int_equal(kc_k8s_exec_many(o, N, PAR, res, errs, &err), 0);
	for (int i = 0; i < N; i++) {
		char want[32];
		assert_null(errs[i]);
		assert_int_equal(res[i].exit_code, i % 4);
		snprintf(want, sizeof want, "out%d\n", i);
		assert_string_equal(res[i].out, want);
		snprintf(want, sizeof want, "err%d\n", i);
		assert_string_equal(res[i].err, want);
		assert_string_equal(res[i].protocol, KC_K8S_PROTO_V5);
		kc_k8s_exec_result_free(&res[i]);
		free(paths[i]);
	}
	cleanup_json yajl_val after = fake_stats(&A, NULL);
	int64_t peak = stat_int(after, "/exec_peak");
	fprintf(stderr, "peak of open exec connections: %lld (limit %d)\n", (long long)peak, PAR);
	assert_true(peak <= PAR);
	assert_true(peak >= 3); /* they did run side by side */
}

/* Failing execs among good ones: each failure is its own, the others are whole. */
static void test_many_failures_isolated(void **state)
{
	(void)state;
	enum { N = 16 };
	struct kc_http_config http = {.base_url = A.url, .ca_file = A.ca};
	struct kc_http_config refused = {.base_url = "https://127.0.0.1:1", .ca_file = A.ca};
	struct kc_http_config other_ca = {.base_url = A.url, .ca_file = env("KUBE_OTHER_CA")};
	struct kc_http_config http_b = {.base_url = B.url, .ca_file = B.ca};
	const char *bad[] = {"Authorization: Bearer wrong", NULL};
	const char *forbidden[] = {"Authorization: Bearer kctl-forbidden-token", NULL};
	const char *v5only[] = {KC_K8S_PROTO_V5, NULL};
	const char *ok_argv[] = {"sh", "-c", "echo fine; exit 2", NULL};
	const char *slow_argv[] = {"sleep", "20", NULL};
	const char *seq_argv[] = {"seq", "1", "100000", NULL};
	const char *true_argv[] = {"true", NULL};
	cleanup_free char *ok = kc_k8s_exec_path("default", A.pod, NULL, ok_argv, false);
	cleanup_free char *slow = kc_k8s_exec_path("default", A.pod, NULL, slow_argv, false);
	cleanup_free char *seq = kc_k8s_exec_path("default", A.pod, NULL, seq_argv, false);
	cleanup_free char *gone =
	    kc_k8s_exec_path("default", "no-such-pod", NULL, true_argv, false);
	cleanup_free char *on_b = kc_k8s_exec_path("default", B.pod, NULL, true_argv, false);
	struct kc_k8s_exec_opts good = {.http = &http, .headers = token_hdr, .path = ok};
	struct kc_k8s_exec_opts o[N];
	int want[N]; /* kind of the expected failure, 0 for none */
	for (int i = 0; i < N; i++) {
		o[i] = good;
		want[i] = 0;
	}
	o[1].headers = bad;
	want[1] = KC_E_AUTH;
	o[3].headers = forbidden;
	want[3] = KC_E_AUTH;
	o[4].path = gone;
	want[4] = KC_E_NOTFOUND;
	o[6].http = &refused;
	want[6] = KC_E_UNAVAIL;
	o[7].path = slow;
	o[7].timeout_ms = 1500;
	want[7] = KC_E_TIMEOUT;
	o[9].http = &other_ca;
	want[9] = KC_E_AUTH;
	o[10].http = &http_b;
	o[10].path = on_b;
	o[10].protocols = v5only;
	want[10] = KC_E_INVALID;
	o[12].path = seq;
	o[12].max_output = 1000;
	want[12] = KC_E_TOOBIG;
	struct kc_k8s_exec_result res[N];
	kc_err_t errs[N] = {0}, err = NULL;
	assert_int_equal(kc_k8s_exec_many(o, N, 4, res, errs, &err), 8);
	for (int i = 0; i < N; i++) {
		if (!want[i]) {
			if (errs[i]) {
				cleanup_free char *m = kc_err_string(errs[i]);
				fail_msg("exec %d: %s", i, m);
			}
			assert_int_equal(res[i].exit_code, 2);
			assert_string_equal(res[i].out, "fine\n");
			assert_string_equal(res[i].err, "");
			kc_k8s_exec_result_free(&res[i]);
			continue;
		}
		assert_non_null(errs[i]);
		if ((int)kc_err_kind(errs[i]) != want[i]) {
			cleanup_free char *m = kc_err_string(errs[i]);
			fail_msg("exec %d: want kind %d, got: %s", i, want[i], m);
		}
		assert_null(res[i].out);
		kc_err_free(&errs[i]);
	}
}

static int group_blocking(void **state)
{
	(void)state;
	many_n = 0;
	return 0;
}

static int group_many(void **state)
{
	(void)state;
	many_n = MANY_N;
	return 0;
}

int main(void)
{
	A = (struct server){env("KUBE_A_URL"), env("KUBE_A_CA"), env("KUBE_A_POD")};
	B = (struct server){env("KUBE_B_URL"), env("KUBE_B_CA"), env("KUBE_B_POD")};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_echo_v5),
	    cmocka_unit_test(test_large_stdout),
	    cmocka_unit_test(test_stdout_sink),
	    cmocka_unit_test(test_interleaved_stderr),
	    cmocka_unit_test(test_exit_codes),
	    cmocka_unit_test(test_stdin_v5),
	    cmocka_unit_test(test_v4_fallback_chaos),
	    cmocka_unit_test(test_v5_only_refused_by_v4_server),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_unknown_ca),
	    cmocka_unit_test(test_output_limit),
	    cmocka_unit_test(test_not_found_and_timeout),
	};
	const struct CMUnitTest many_only[] = {
	    cmocka_unit_test(test_many_bounded),
	    cmocka_unit_test(test_many_failures_isolated),
	};
	int rc = cmocka_run_group_tests_name("exec (blocking)", tests, group_blocking, NULL);
	rc += cmocka_run_group_tests_name("exec (many, curl multi)", tests, group_many, NULL);
	rc += cmocka_run_group_tests_name("exec many", many_only, NULL, NULL);
	return rc;
}
