/* The HTTP client against a small server on a Unix socket in this process:
 * bodies and headers, the response cap, retries only for idempotent methods,
 * counters, sinks and bounded parallelism. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "shim/base/http.h"

struct server {
	char path[108];
	int fd;
	pthread_t thread;
	atomic_int flaky_left; /* connections to drop before answering /flaky */
	atomic_int active, max_active, connections; /* active: /slow requests in flight */
};

static void reply(int c, int status, const char *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nX-Kctl-Test: yes\r\n"
			 "Connection: close\r\n\r\n",
			 status, len);
	if (send(c, head, (size_t)n, MSG_NOSIGNAL) < 0)
		return;
	while (len > 0) {
		ssize_t w = send(c, body, len, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		body += w;
		len -= (size_t)w;
	}
}

static void *serve_one(void *arg)
{
	struct server *s = ((void **)arg)[0];
	int c = (int)(intptr_t)((void **)arg)[1];
	free(arg);
	char req[8192];
	size_t got = 0;
	while (got < sizeof req - 1) {
		ssize_t r = read(c, req + got, sizeof req - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		req[got] = '\0';
		char *end = strstr(req, "\r\n\r\n");
		if (end) {
			const char *cl = strstr(req, "Content-Length: ");
			size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0;
			if (got >= (size_t)(end + 4 - req) + want)
				break;
		}
	}
	req[got] = '\0';
	if (strstr(req, " /v1.41/ok ")) {
		reply(c, 200, "hello", 5);
	} else if (strstr(req, " /v1.41/big ")) {
		size_t n = 1u << 20;
		char *b = calloc(1, n);
		reply(c, 200, b, n);
		free(b);
	} else if (strstr(req, " /v1.41/flaky ")) {
		if (atomic_fetch_sub(&s->flaky_left, 1) <= 0)
			reply(c, 200, "finally", 7);
		/* else: close without a word, which the client sees as a failure */
	} else if (strstr(req, " /v1.41/slow ")) {
		/* Counted from the request's arrival to just before its answer, so a
		 * client that starts its next request on the answer is never counted
		 * twice. */
		int now = atomic_fetch_add(&s->active, 1) + 1;
		int prev = atomic_load(&s->max_active);
		while (now > prev && !atomic_compare_exchange_weak(&s->max_active, &prev, now))
			;
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
		atomic_fetch_sub(&s->active, 1);
		reply(c, 200, "slow", 4);
	} else if (strstr(req, "POST /v1.41/echo ")) {
		char *body = strstr(req, "\r\n\r\n") + 4;
		reply(c, 201, body, strlen(body));
	} else {
		reply(c, 404, "{\"message\":\"nope\"}", 18);
	}
	close(c);
	return NULL;
}

static void *accept_loop(void *arg)
{
	struct server *s = arg;
	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		atomic_fetch_add(&s->connections, 1);
		void **a = malloc(2 * sizeof *a);
		a[0] = s;
		a[1] = (void *)(intptr_t)c;
		pthread_t t;
		pthread_create(&t, NULL, serve_one, a);
		pthread_detach(t);
	}
}

static int setup(void **state)
{
	struct server *s = calloc(1, sizeof *s);
	snprintf(s->path, sizeof s->path, "/tmp/kctl-http-test-%d.sock", getpid());
	unlink(s->path);
	s->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strcpy(a.sun_path, s->path);
	if (bind(s->fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(s->fd, 64) < 0)
		return -1;
	pthread_create(&s->thread, NULL, accept_loop, s);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct server *s = *state;
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->thread, NULL);
	unlink(s->path);
	free(s);
	return 0;
}

static struct kc_http *client(struct server *s, size_t cap)
{
	struct kc_http_config cfg = {.base_url = "http://localhost/v1.41",
				     .unix_socket = s->path,
				     .max_response = cap,
				     .retry_backoff_ms = 1};
	struct kc_http *h = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_http_new(&cfg, &h, &err), 0);
	return h;
}

static void test_get_body_and_headers(void **state)
{
	struct kc_http *h = client(*state, 0);
	struct kc_http_response r = {0};
	kc_err_t err = NULL;
	assert_int_equal(kc_http_do(h, &(struct kc_http_request){.path = "/ok"}, &r, &err), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello");
	assert_string_equal(kc_http_header(&r, "x-kctl-test"), "yes");
	assert_null(kc_http_header(&r, "X-Missing"));
	assert_int_equal(kc_http_do(h, &(struct kc_http_request){.path = "nothing"}, &r, &err), 0);
	assert_int_equal(r.status, 404);
	kc_http_response_free(&r);
	struct kc_http_stats st;
	kc_http_stats_get(h, &st);
	assert_int_equal(st.requests, 2);
	assert_int_equal(st.failed, 0);
	assert_true(st.bytes_received > 5 + 18);
	kc_http_free(h);
}

static void test_post_body(void **state)
{
	struct kc_http *h = client(*state, 0);
	struct kc_http_response r = {0};
	kc_err_t err = NULL;
	const char *hdrs[] = {"Content-Type: application/json", NULL};
	struct kc_http_request req = {.method = "POST", .path = "/echo", .headers = hdrs,
				      .body = "{\"a\":1}", .body_len = 7};
	assert_int_equal(kc_http_do(h, &req, &r, &err), 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "{\"a\":1}");
	struct kc_http_stats st;
	kc_http_stats_get(h, &st);
	assert_true(st.bytes_sent >= 7);
	kc_http_response_free(&r);
	kc_http_free(h);
}

static void test_response_cap(void **state)
{
	struct kc_http *h = client(*state, 64 * 1024);
	struct kc_http_response r = {0};
	kc_err_t err = NULL;
	assert_int_equal(kc_http_do(h, &(struct kc_http_request){.path = "/big"}, &r, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_TOOBIG);
	kc_err_free(&err);
	/* A per-request cap can lift it. */
	struct kc_http_request req = {.path = "/big", .max_response = 2u << 20};
	assert_int_equal(kc_http_do(h, &req, &r, &err), 0);
	assert_int_equal(r.body_len, 1u << 20);
	kc_http_response_free(&r);
	kc_http_free(h);
}

static void test_unavailable_names_socket_and_retries_get_only(void **state)
{
	(void)state;
	struct kc_http_config cfg = {.base_url = "http://localhost",
				     .unix_socket = "/tmp/kctl-no-such.sock",
				     .retry_backoff_ms = 1};
	struct kc_http *h = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_http_new(&cfg, &h, &err), 0);
	struct kc_http_response r = {0};
	assert_int_equal(kc_http_do(h, &(struct kc_http_request){.path = "/_ping"}, &r, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_UNAVAIL);
	char *msg = kc_err_string(err);
	assert_non_null(strstr(msg, "/tmp/kctl-no-such.sock"));
	free(msg);
	kc_err_free(&err);
	struct kc_http_stats st;
	kc_http_stats_get(h, &st);
	assert_int_equal(st.requests, 3); /* one try and two retries */
	assert_int_equal(st.retries, 2);
	struct kc_http_request post = {.method = "POST", .path = "/containers/create"};
	assert_int_equal(kc_http_do(h, &post, &r, &err), -1);
	kc_err_free(&err);
	kc_http_stats_get(h, &st);
	assert_int_equal(st.requests, 4); /* POST is never replayed */
	kc_http_free(h);
}

static void test_flaky_get_is_retried(void **state)
{
	struct server *s = *state;
	struct kc_http *h = client(s, 0);
	struct kc_http_response r = {0};
	kc_err_t err = NULL;
	atomic_store(&s->flaky_left, 2);
	assert_int_equal(kc_http_do(h, &(struct kc_http_request){.path = "/flaky"}, &r, &err), 0);
	assert_string_equal(r.body, "finally");
	struct kc_http_stats st;
	kc_http_stats_get(h, &st);
	assert_int_equal(st.retries, 2);
	atomic_store(&s->flaky_left, 1);
	struct kc_http_request no = {.path = "/flaky", .no_retry = true};
	assert_int_equal(kc_http_do(h, &no, &r, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);
	kc_http_response_free(&r);
	kc_http_free(h);
}

struct collect {
	size_t calls, bytes;
};

static int collect_sink(void *opaque, const char *data, size_t len)
{
	(void)data;
	struct collect *c = opaque;
	c->calls++;
	c->bytes += len;
	return 0;
}

static int refuse_sink(void *opaque, const char *data, size_t len)
{
	(void)opaque;
	(void)data;
	(void)len;
	return 1;
}

static void test_sink(void **state)
{
	struct kc_http *h = client(*state, 0);
	struct kc_http_response r = {0};
	kc_err_t err = NULL;
	struct collect c = {0};
	struct kc_http_request req = {.path = "/big", .sink = collect_sink, .sink_opaque = &c};
	assert_int_equal(kc_http_do(h, &req, &r, &err), 0);
	assert_int_equal(c.bytes, 1u << 20);
	assert_true(c.calls >= 1);
	assert_null(r.body);
	req.sink = refuse_sink;
	assert_int_equal(kc_http_do(h, &req, &r, &err), -1);
	assert_non_null(strstr(err->msg, "aborted by receiver"));
	kc_err_free(&err);
	kc_http_response_free(&r);
	kc_http_free(h);
}

static void test_many_bounded(void **state)
{
	struct server *s = *state;
	struct kc_http *h = client(s, 0);
	enum { N = 8 };
	struct kc_http_request reqs[N];
	struct kc_http_response resps[N];
	kc_err_t errs[N];
	memset(resps, 0, sizeof resps);
	memset(errs, 0, sizeof errs);
	for (int i = 0; i < N; i++)
		reqs[i] = (struct kc_http_request){.path = "/slow"};
	atomic_store(&s->max_active, 0);
	kc_err_t err = NULL;
	assert_int_equal(kc_http_do_many(h, reqs, N, 3, resps, errs, &err), 0);
	for (int i = 0; i < N; i++) {
		assert_null(errs[i]);
		assert_int_equal(resps[i].status, 200);
		assert_string_equal(resps[i].body, "slow");
		kc_http_response_free(&resps[i]);
	}
	assert_true(atomic_load(&s->max_active) <= 3);
	assert_true(atomic_load(&s->max_active) >= 2); /* it did run in parallel */
	struct kc_http_stats st;
	kc_http_stats_get(h, &st);
	assert_int_equal(st.requests, N);
	kc_http_free(h);
}

struct paced {
	size_t n, ok, failed;
	int64_t first_start, last_start;
};

static void on_outcome(void *opaque, const struct kc_http_outcome *o)
{
	struct paced *p = opaque;
	if (p->n == 0 || o->start_ns < p->first_start)
		p->first_start = o->start_ns;
	if (o->start_ns > p->last_start)
		p->last_start = o->start_ns;
	p->n++;
	if (o->status == 200 && !o->error)
		p->ok++;
	else
		p->failed++;
}

static void test_paced_rate_and_fresh_connections(void **state)
{
	struct server *s = *state;
	struct kc_http *h = client(s, 0);
	struct paced p = {0};
	kc_err_t err = NULL;
	int before = atomic_load(&s->connections);
	struct kc_http_request req = {.path = "/ok", .fresh_connection = true};
	assert_int_equal(kc_http_run_paced(h, &req, 40, 500, 8, NULL, on_outcome, &p, &err), 0);
	/* 40/s for 0.5 s is 20 requests, give or take the edge of the window. */
	assert_true(p.n >= 19 && p.n <= 21);
	assert_int_equal(p.ok, p.n);
	/* Spread over the window, not sent in a burst. */
	assert_true(p.last_start - p.first_start >= 400 * 1000000LL);
	/* Each request came on its own connection. */
	assert_int_equal(atomic_load(&s->connections) - before, (int)p.n);
	kc_http_free(h);
}

static void test_paced_counts_failures(void **state)
{
	(void)state;
	struct kc_http_config cfg = {.base_url = "http://localhost",
				     .unix_socket = "/tmp/kctl-no-such.sock"};
	struct kc_http *h = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_http_new(&cfg, &h, &err), 0);
	struct paced p = {0};
	struct kc_http_request req = {.path = "/"};
	assert_int_equal(kc_http_run_paced(h, &req, 50, 200, 4, NULL, on_outcome, &p, &err), 0);
	assert_true(p.n >= 9);
	assert_int_equal(p.ok, 0);
	assert_int_equal(p.failed, p.n);
	assert_int_equal(kc_http_run_paced(h, &req, 0, 200, 4, NULL, on_outcome, &p, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	kc_err_free(&err);
	kc_http_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_body_and_headers),
		cmocka_unit_test(test_post_body),
		cmocka_unit_test(test_response_cap),
		cmocka_unit_test(test_unavailable_names_socket_and_retries_get_only),
		cmocka_unit_test(test_flaky_get_is_retried),
		cmocka_unit_test(test_sink),
		cmocka_unit_test(test_many_bounded),
		cmocka_unit_test(test_paced_rate_and_fresh_connections),
		cmocka_unit_test(test_paced_counts_failures),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
