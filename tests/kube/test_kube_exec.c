/* Exec in a pod of the fake kube-apiserver through kc_k8s_exec (WebSocket
 * channel protocol over TLS). Run by run-exec.sh, which starts two fakes:
 * A speaks v5 and v4 plainly; B speaks only v4 and fragments messages,
 * interleaves pings and splits its writes at random byte boundaries. */
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

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (!v) {
		fprintf(stderr, "%s not set (run through run-exec.sh)\n", name);
		exit(1);
	}
	return v;
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
	return kc_k8s_exec(&o, res, err);
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
	struct counter c = {0};
	struct kc_k8s_exec_opts o = {.http = &http,
				     .headers = token_hdr,
				     .path = path,
				     .max_output = 1000,
				     .stdout_sink = count_sink,
				     .sink_opaque = &c};
	struct kc_k8s_exec_result res;
	kc_err_t err = NULL;
	assert_int_equal(kc_k8s_exec(&o, &res, &err), 0);
	assert_int_equal(res.out_len, 0);
	size_t want_len = 0;
	cleanup_free char *want = seq_text(600000, &want_len);
	struct counter w = {0};
	count_sink(&w, want, want_len);
	assert_int_equal(c.bytes, want_len);
	assert_true(c.sum == w.sum);
	assert_true(c.calls > 1);
	kc_k8s_exec_result_free(&res);
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

static void test_v4_fallback_chaos(void **state)
{
	(void)state;
	struct kc_k8s_exec_result res;
	sh(&B, "echo v4; echo e >&2; exit 5", &res);
	assert_string_equal(res.protocol, KC_K8S_PROTO_V4);
	assert_string_equal(res.out, "v4\n");
	assert_string_equal(res.err, "e\n");
	assert_int_equal(res.exit_code, 5);
	kc_k8s_exec_result_free(&res);
	/* Fragmented messages, pings and split writes over a large output. */
	check_large(&B, 450000);

	/* The server saw pongs for its pings. */
	struct kc_http_config http = {.base_url = B.url, .ca_file = B.ca};
	struct kc_http *h = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_http_new(&http, &h, &err), 0);
	struct kc_http_request req = {.path = "/fakez/stats", .headers = token_hdr};
	struct kc_http_response resp cleanup_http_resp = {0};
	assert_int_equal(kc_http_do(h, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	cleanup_json yajl_val j = NULL;
	assert_int_equal(kc_json_parse(resp.body, resp.body_len, &j, &err), 0);
	int64_t pings = 0, pongs = 0;
	assert_int_equal(kc_json_get_int(j, "/pings_sent", &pings, &err), 0);
	assert_int_equal(kc_json_get_int(j, "/pongs_received", &pongs, &err), 0);
	assert_true(pings > 10);
	assert_true(pongs > 0);
	kc_http_free(h);
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
	return cmocka_run_group_tests(tests, NULL, NULL);
}
