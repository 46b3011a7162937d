/* The probe: gap arithmetic on recorded samples, and a real run against a
 * listener that answers for a while, then goes away. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "compare/probe.h"

static void test_gap_counts_edges_and_orders_by_answer(void **state)
{
	(void)state;
	/* ok at 100 (+10), fail at 200, ok at 300 (+500 -> answers at 800), ok at 400 (+5). */
	struct kc_probe_sample s[] = {
	    {.offset_ms = 100, .latency_ms = 10, .status = 200, .ok = 1},
	    {.offset_ms = 200, .latency_ms = 1, .status = 0, .ok = 0},
	    {.offset_ms = 300, .latency_ms = 500, .status = 200, .ok = 1},
	    {.offset_ms = 400, .latency_ms = 5, .status = 200, .ok = 1},
	};
	/* answers at 110, 405, 800; window 1000: gaps 110, 295, 395, 200 */
	assert_int_equal(kc_probe_longest_gap(s, 4, 1000), 395);
	/* Nothing succeeded: the whole window is a gap. */
	struct kc_probe_sample f[] = {{.offset_ms = 0, .latency_ms = 1, .ok = 0}};
	assert_int_equal(kc_probe_longest_gap(f, 1, 700), 700);
	assert_int_equal(kc_probe_longest_gap(NULL, 0, 50), 50);
}

struct server {
	int fd;
	int port;
	pthread_t thread;
	atomic_int stop_after_ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	int64_t begin = now_ms();
	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		char buf[2048];
		ssize_t n = read(c, buf, sizeof buf);
		(void)n;
		if (now_ms() - begin < atomic_load(&s->stop_after_ms)) {
			const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
					"Connection: close\r\n\r\nok";
			if (send(c, r, strlen(r), MSG_NOSIGNAL) < 0) {
				/* the probe gave up on this one */
			}
		} else {
			const char *r = "HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n"
					"Connection: close\r\n\r\n";
			if (send(c, r, strlen(r), MSG_NOSIGNAL) < 0) {
				/* likewise */
			}
		}
		close(c);
	}
}

static void test_probe_sees_an_outage(void **state)
{
	(void)state;
	struct server s = {0};
	s.fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s.fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	getsockname(s.fd, (struct sockaddr *)&a, &al);
	s.port = ntohs(a.sin_port);
	assert_int_equal(listen(s.fd, 128), 0);
	atomic_store(&s.stop_after_ms, 400);
	pthread_create(&s.thread, NULL, serve, &s);

	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", s.port);
	struct kc_probe_config cfg = {.url = url, .rate = 100, .duration_ms = 1000};
	struct kc_probe_result r;
	kc_err_t err = NULL;
	assert_int_equal(kc_probe_run(&cfg, &r, &err), 0);
	/* 100/s for 1 s; about the last 600 ms answer 503. */
	assert_true(r.requests >= 98 && r.requests <= 101);
	assert_true(r.failures >= 50 && r.failures <= 65);
	assert_true(r.longest_gap_ms >= 550 && r.longest_gap_ms <= 700);
	assert_int_equal(r.n_samples, r.requests);
	assert_non_null(r.first_error);
	assert_string_equal(r.first_error, "HTTP 503");
	for (size_t i = 1; i < r.n_samples; i++)
		assert_true(r.samples[i].offset_ms >= r.samples[i - 1].offset_ms);
	kc_probe_result_free(&r);
	shutdown(s.fd, SHUT_RDWR);
	close(s.fd);
	pthread_join(s.thread, NULL);
}

static void test_probe_rejects_bad_config(void **state)
{
	(void)state;
	struct kc_probe_result r;
	kc_err_t err = NULL;
	struct kc_probe_config cfg = {.url = "ftp://127.0.0.1/", .rate = 10, .duration_ms = 100};
	assert_int_equal(kc_probe_run(&cfg, &r, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	kc_err_free(&err);
	cfg.url = "http://127.0.0.1:1/";
	cfg.rate = 0;
	assert_int_equal(kc_probe_run(&cfg, &r, &err), -1);
	kc_err_free(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gap_counts_edges_and_orders_by_answer),
	    cmocka_unit_test(test_probe_sees_an_outage),
	    cmocka_unit_test(test_probe_rejects_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
