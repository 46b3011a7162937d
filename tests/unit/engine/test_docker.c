/* Unit tests of the Docker backend without an engine: host parsing, error
 * mapping, API negotiation, exec demultiplexing, garbage answers, against a
 * fake engine answering canned bytes on a Unix socket. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim/base/cleanup.h"
#include "shim/engine/docker.h"
#include "shim/engine/engine_backend.h"

/* ---- fake engine ---- */

struct route {
	const char *method;
	const char *prefix; /* matched against the request target */
	int status;
	const char *headers; /* extra header lines, each ending \r\n */
	const char *body;
	size_t body_len; /* 0: strlen(body) */
	bool raw;	 /* no Content-Length: body then close, like a hijacked stream */
};

struct fake {
	char dir[64];
	char sock[96];
	int lfd;
	pthread_t thr;
	const struct route *routes;
	size_t n_routes;
	char last_target[2048];
	char targets[16][512];
	size_t n_targets;
};

static const struct route *match(struct fake *f, const char *method, const char *target)
{
	for (size_t i = 0; i < f->n_routes; i++)
		if (!strcmp(f->routes[i].method, method) &&
		    !strncmp(target, f->routes[i].prefix, strlen(f->routes[i].prefix)))
			return &f->routes[i];
	return NULL;
}

static void serve_one(struct fake *f, int c)
{
	char req[16384];
	size_t len = 0;
	char *end = NULL;
	while (len < sizeof req - 1) {
		ssize_t n = read(c, req + len, sizeof req - 1 - len);
		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
		if ((end = strstr(req, "\r\n\r\n")))
			break;
	}
	if (!end)
		return;
	/* Drain a request body so the client is not cut off mid-send. */
	const char *cl = strcasestr(req, "Content-Length:");
	size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
	size_t have = len - (size_t)(end + 4 - req);
	char sink[4096];
	while (have < body) {
		ssize_t n = read(c, sink, sizeof sink);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	char method[16] = {0}, target[2048] = {0};
	if (sscanf(req, "%15s %2047s", method, target) != 2)
		return;
	snprintf(f->last_target, sizeof f->last_target, "%s", target);
	if (f->n_targets < 16)
		snprintf(f->targets[f->n_targets++], sizeof f->targets[0], "%s %s", method, target);
	const struct route *r = match(f, method, target);
	char head[1024];
	const char *b = r ? r->body : "{\"message\":\"page not found\"}";
	size_t bl = r && r->body_len ? r->body_len : strlen(b);
	int hl;
	if (r && r->raw)
		hl =
		    snprintf(head, sizeof head,
			     "HTTP/1.1 %d OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
			     "%s\r\n",
			     r->status, r->headers ? r->headers : "");
	else
		hl = snprintf(head, sizeof head,
			      "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
			      r ? r->status : 404, bl, r && r->headers ? r->headers : "");
	if (write(c, head, (size_t)hl) < 0 || write(c, b, bl) < 0)
		return;
}

static void *fake_main(void *opaque)
{
	struct fake *f = opaque;
	for (;;) {
		int c = accept(f->lfd, NULL, NULL);
		if (c < 0)
			return NULL;
		serve_one(f, c);
		shutdown(c, SHUT_RDWR);
		close(c);
	}
}

static struct fake *fake_start(const struct route *routes, size_t n)
{
	struct fake *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/kctl-fake-docker-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof f->sock, "%s/docker.sock", f->dir);
	f->routes = routes;
	f->n_routes = n;
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->sock);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(pthread_create(&f->thr, NULL, fake_main, f), 0);
	return f;
}

static void fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	close(f->lfd);
	pthread_join(f->thr, NULL);
	unlink(f->sock);
	rmdir(f->dir);
	free(f);
}

static struct kc_engine *engine_for(struct fake *f)
{
	char host[256];
	snprintf(host, sizeof host, "unix://%s", f->sock);
	struct kc_docker_config cfg = {.host = host, .timeout_ms = 5000};
	struct kc_engine *e = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_engine_docker_new(&cfg, &e, &err), 0);
	return e;
}

#define PING_141                                                                                   \
	{                                                                                          \
		"GET", "/_ping", 200, "Api-Version: 1.41\r\n", "OK", 0, false                      \
	}

/* ---- pure helpers ---- */

static void test_parse_host(void **state)
{
	(void)state;
	kc_err_t err = NULL;
	char *sock = NULL, *url = NULL;
	assert_int_equal(kc_docker_parse_host("unix:///run/x.sock", &sock, &url, &err), 0);
	assert_string_equal(sock, "/run/x.sock");
	assert_string_equal(url, "http://localhost");
	free(sock);
	free(url);
	assert_int_equal(kc_docker_parse_host("tcp://127.0.0.1:2375", &sock, &url, &err), 0);
	assert_null(sock);
	assert_string_equal(url, "http://127.0.0.1:2375");
	free(url);
	const char *bad[] = {
	    "tcp://192.0.2.1:2375",   "tcp://example.com:2375", "ssh://host",
	    "unix://relative",	      "tcp://127.0.0.1:abc",	"tcp://127.0.0.1:2375/x",
	    "npipe:////./pipe/docker"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(kc_docker_parse_host(bad[i], &sock, &url, &err), -1);
		assert_int_equal(kc_err_kind(err), KC_E_INVALID);
		assert_null(sock);
		assert_null(url);
		kc_err_free(&err);
	}
}

static void test_error_mapping(void **state)
{
	(void)state;
	static const struct {
		long status;
		enum kc_err_kind kind;
	} cases[] = {{400, KC_E_INVALID},     {401, KC_E_AUTH},	    {403, KC_E_AUTH},
		     {404, KC_E_NOTFOUND},    {409, KC_E_CONFLICT}, {500, KC_E_REMOTE},
		     {501, KC_E_UNSUPPORTED}, {503, KC_E_UNAVAIL},  {418, KC_E_INVALID}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		kc_err_t err = NULL;
		const char *body = "{\"message\":\"No such container: web-1\"}";
		assert_int_equal(
		    kc_docker_error(cases[i].status, body, strlen(body), "engine: GET /x", &err),
		    -1);
		assert_int_equal(kc_err_kind(err), cases[i].kind);
		assert_int_equal(kc_err_http_status(err), cases[i].status);
		assert_non_null(strstr(err->msg, "No such container: web-1"));
		assert_non_null(strstr(err->msg, "engine: GET /x"));
		kc_err_free(&err);
	}
	/* Not JSON: the text is kept, control characters blanked. */
	kc_err_t err = NULL;
	const char *text = "page not found\n\x01";
	assert_int_equal(kc_docker_error(404, text, strlen(text), "w", &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "page not found"));
	assert_null(strchr(err->msg, '\n'));
	kc_err_free(&err);
	/* JSON without a message, and empty body */
	assert_int_equal(kc_docker_error(500, "{}", 2, "w", &err), -1);
	assert_non_null(strstr(err->msg, "HTTP 500"));
	kc_err_free(&err);
	assert_int_equal(kc_docker_error(409, NULL, 0, "w", &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_CONFLICT);
	/* kind and status survive wrapping */
	kc_err_wrap(&err, "removing container web-1");
	assert_int_equal(kc_err_kind(err), KC_E_CONFLICT);
	assert_int_equal(kc_err_http_status(err), 409);
	kc_err_free(&err);
}

static void test_api_cmp_and_time(void **state)
{
	(void)state;
	assert_true(kc_docker_api_cmp("1.40", "1.41") < 0);
	assert_true(kc_docker_api_cmp("1.41", "1.41") == 0);
	assert_true(kc_docker_api_cmp("1.43", "1.41") > 0);
	assert_true(kc_docker_api_cmp("1.9", "1.41") < 0);
	assert_true(kc_docker_api_cmp("2.0", "1.41") > 0);
	assert_int_equal(kc_docker_parse_time("0001-01-01T00:00:00Z"), 0);
	assert_int_equal(kc_docker_parse_time(NULL), 0);
	assert_int_equal(kc_docker_parse_time("garbage"), 0);
	assert_int_equal(kc_docker_parse_time("1970-01-01T00:00:01Z"), 1000000000LL);
	assert_int_equal(kc_docker_parse_time("2026-11-27T02:29:00.123456789Z"),
			 1795746540LL * 1000000000LL + 123456789LL);
	assert_int_equal(kc_docker_parse_time("2026-11-27T02:29:00.5Z"),
			 1795746540LL * 1000000000LL + 500000000LL);
	assert_int_equal(kc_docker_parse_time("2026-11-27T03:29:00+01:00"),
			 1795746540LL * 1000000000LL);
}

static void test_unsupported_op(void **state)
{
	(void)state;
	static const struct kc_engine_ops empty = {.name = "null"};
	struct kc_engine e = {.ops = &empty};
	kc_err_t err = NULL;
	assert_int_equal(kc_engine_container_start(&e, "x", &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_UNSUPPORTED);
	assert_non_null(strstr(err->msg, "container_start"));
	kc_err_free(&err);
	assert_int_equal(kc_engine_ping(&e, &err), -1);
	kc_err_free(&err);
	assert_string_equal(kc_engine_backend(&e), "null");
}

static void test_create_rejects_network(void **state)
{
	(void)state;
	/* Checked before any request, so no engine is needed. */
	struct kc_docker_config cfg = {.host = "unix:///nonexistent/docker.sock"};
	cleanup_engine struct kc_engine *e = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_engine_docker_new(&cfg, &e, &err), 0);
	struct kc_container_spec s = {.image = "x", .network_mode = "bridge"};
	char *id = NULL;
	assert_int_equal(kc_engine_container_create(e, &s, &id, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	assert_non_null(strstr(err->msg, "network_mode"));
	kc_err_free(&err);
}

/* ---- against the fake engine ---- */

static void test_missing_socket(void **state)
{
	(void)state;
	struct kc_docker_config cfg = {.host = "unix:///nonexistent/kctl/docker.sock"};
	cleanup_engine struct kc_engine *e = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_engine_docker_new(&cfg, &e, &err), 0);
	assert_int_equal(kc_engine_ping(e, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_UNAVAIL);
	cleanup_free char *s = kc_err_string(err);
	assert_non_null(strstr(s, "/nonexistent/kctl/docker.sock"));
	kc_err_free(&err);
	/* any operation reports the same */
	struct kc_container_info ci;
	assert_int_equal(kc_engine_container_inspect(e, "x", &ci, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_UNAVAIL);
	kc_err_free(&err);
}

static void test_refused_socket(void **state)
{
	(void)state;
	/* A socket file with no listener: connection refused. */
	char dir[] = "/tmp/kctl-dead-sock-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[96], host[160];
	snprintf(path, sizeof path, "%s/docker.sock", dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
	snprintf(host, sizeof host, "unix://%s", path);
	struct kc_docker_config cfg = {.host = host};
	cleanup_engine struct kc_engine *e = NULL;
	kc_err_t err = NULL;
	assert_int_equal(kc_engine_docker_new(&cfg, &e, &err), 0);
	assert_int_equal(kc_engine_ping(e, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_UNAVAIL);
	cleanup_free char *s = kc_err_string(err);
	assert_non_null(strstr(s, path));
	kc_err_free(&err);
	unlink(path);
	rmdir(dir);
}

static void test_ping_without_api_version(void **state)
{
	(void)state;
	static const struct route routes[] = {{"GET", "/_ping", 200, NULL, "hello", 0, false}};
	struct fake *f = fake_start(routes, 1);
	struct kc_engine *e = engine_for(f);
	kc_err_t err = NULL;
	assert_int_equal(kc_engine_ping(e, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);
	kc_engine_free(e);
	fake_stop(f);
}

static void test_negotiation(void **state)
{
	(void)state;
	static const struct route newer[] = {
	    {"GET", "/_ping", 200, "Api-Version: 1.43\r\n", "OK", 0, false},
	    {"GET", "/v1.41/version", 200, NULL,
	     "{\"Version\":\"99.0\",\"ApiVersion\":\"1.43\",\"MinAPIVersion\":\"1.12\","
	     "\"Os\":\"linux\",\"Arch\":\"amd64\",\"KernelVersion\":\"6.1\"}",
	     0, false},
	};
	struct fake *f = fake_start(newer, 2);
	struct kc_engine *e = engine_for(f);
	kc_err_t err = NULL;
	struct kc_engine_version v;
	assert_int_equal(kc_engine_version(e, &v, &err), 0);
	assert_string_equal(v.api_version, "1.41");
	assert_string_equal(v.server_api_version, "1.43");
	assert_string_equal(v.engine_version, "99.0");
	assert_string_equal(v.backend, "docker");
	assert_string_equal(v.os, "linux");
	kc_engine_version_free(&v);
	struct kc_http_stats st;
	assert_int_equal(kc_engine_http_stats(e, &st, &err), 0);
	assert_int_equal(st.requests, 2);
	assert_true(st.bytes_received > 0);
	kc_engine_free(e);
	fake_stop(f);

	static const struct route older[] = {
	    {"GET", "/_ping", 200, "Api-Version: 1.40\r\n", "OK", 0, false},
	    {"GET", "/v1.40/version", 200, NULL, "{\"Version\":\"19.03\"}", 0, false},
	};
	f = fake_start(older, 2);
	e = engine_for(f);
	assert_int_equal(kc_engine_version(e, &v, &err), 0);
	assert_string_equal(v.api_version, "1.40");
	assert_null(v.os);
	kc_engine_version_free(&v);
	kc_engine_free(e);
	fake_stop(f);
}

static void test_engine_errors_and_garbage(void **state)
{
	(void)state;
	static const struct route routes[] = {
	    PING_141,
	    {"GET", "/v1.41/containers/nope/json", 404, NULL,
	     "{\"message\":\"No such container: nope\"}", 0, false},
	    {"GET", "/v1.41/containers/garbage/json", 200, NULL, "<html>hi</html>", 0, false},
	    {"GET", "/v1.41/containers/wrongtype/json", 200, NULL, "{\"Id\":42}", 0, false},
	    {"DELETE", "/v1.41/containers/busy", 409, NULL,
	     "{\"message\":\"You cannot remove a running container\"}", 0, false},
	    {"POST", "/v1.41/containers/up/start", 304, NULL, "", 0, false},
	};
	struct fake *f = fake_start(routes, sizeof routes / sizeof *routes);
	struct kc_engine *e = engine_for(f);
	kc_err_t err = NULL;
	struct kc_container_info ci;
	assert_int_equal(kc_engine_container_inspect(e, "nope", &ci, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	assert_int_equal(kc_err_http_status(err), 404);
	cleanup_free char *s = kc_err_string(err);
	assert_non_null(strstr(s, "No such container: nope"));
	kc_err_free(&err);

	assert_int_equal(kc_engine_container_inspect(e, "garbage", &ci, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);
	assert_int_equal(kc_engine_container_inspect(e, "wrongtype", &ci, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);

	assert_int_equal(kc_engine_container_remove(e, "busy", false, false, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_CONFLICT);
	kc_err_free(&err);
	/* already started: not an error */
	assert_int_equal(kc_engine_container_start(e, "up", &err), 0);
	/* ids that would change the route are refused locally */
	assert_int_equal(kc_engine_container_start(e, "../../images/x", &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	kc_err_free(&err);
	kc_engine_free(e);
	fake_stop(f);
}

static const unsigned char exec_stream[] = {
    1, 0, 0, 0,	  0,   0,   0,	  4, 'o', 'u', 't', '\n', 2, 0, 0, 0,	0,
    0, 0, 4, 'e', 'r', 'r', '\n', 1, 0,	  0,   0,   0,	  0, 0, 2, 'o', 'k',
};

static void test_exec(void **state)
{
	(void)state;
	static const struct route routes[] = {
	    PING_141,
	    {"POST", "/v1.41/containers/c1/exec", 201, NULL, "{\"Id\":\"e1\"}", 0, false},
	    {"POST", "/v1.41/exec/e1/start", 200, NULL, (const char *)exec_stream,
	     sizeof exec_stream, true},
	    {"GET", "/v1.41/exec/e1/json", 200, NULL,
	     "{\"Running\":false,\"ExitCode\":7,\"Pid\":12}", 0, false},
	    {"POST", "/v1.41/containers/c2/exec", 201, NULL, "{\"Id\":\"e2\"}", 0, false},
	    {"POST", "/v1.41/exec/e2/start", 409, NULL,
	     "{\"message\":\"Container c2 is not running\"}", 0, false},
	    {"POST", "/v1.41/containers/c3/exec", 201, NULL, "{\"Id\":\"e3\"}", 0, false},
	    /* truncated: header promises 10 bytes, 2 arrive */
	    {"POST", "/v1.41/exec/e3/start", 200, NULL, "\x01\0\0\0\0\0\0\x0aok", 10, true},
	};
	struct fake *f = fake_start(routes, sizeof routes / sizeof *routes);
	struct kc_engine *e = engine_for(f);
	kc_err_t err = NULL;
	const char *cmd[] = {"sh", "-c", "echo out; echo err >&2; exit 7", NULL};
	struct kc_exec_spec spec = {.cmd = cmd};
	struct kc_exec_result r;
	assert_int_equal(kc_engine_exec(e, "c1", &spec, &r, &err), 0);
	assert_int_equal(r.exit_code, 7);
	assert_string_equal(r.out, "out\nok");
	assert_string_equal(r.err, "err\n");
	assert_false(r.out_truncated);
	kc_exec_result_free(&r);

	/* per-stream cap: the rest is dropped and flagged, the exit code still comes */
	spec.max_output = 3;
	assert_int_equal(kc_engine_exec(e, "c1", &spec, &r, &err), 0);
	assert_string_equal(r.out, "out");
	assert_true(r.out_truncated);
	assert_string_equal(r.err, "err");
	assert_int_equal(r.exit_code, 7);
	kc_exec_result_free(&r);
	spec.max_output = 0;

	assert_int_equal(kc_engine_exec(e, "c2", &spec, &r, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_CONFLICT);
	cleanup_free char *s = kc_err_string(err);
	assert_non_null(strstr(s, "is not running"));
	kc_err_free(&err);

	assert_int_equal(kc_engine_exec(e, "c3", &spec, &r, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);
	kc_engine_free(e);
	fake_stop(f);
}

static void test_list_and_changes(void **state)
{
	(void)state;
	static const struct route routes[] = {
	    PING_141,
	    {"GET", "/v1.41/containers/json", 200, NULL,
	     "[{\"Id\":\"abc\",\"Names\":[\"/web-1\"],\"Image\":\"app:v1\",\"ImageID\":"
	     "\"sha256:11\",\"Labels\":{\"io.kctl.app\":\"web\",\"io.kctl.revision\":\"3\"},"
	     "\"State\":\"running\",\"Status\":\"Up 3 minutes (healthy)\",\"Created\":10},"
	     "{\"Id\":\"def\",\"Names\":[\"/web-0\"],\"Image\":\"app:v0\",\"Labels\":null,"
	     "\"State\":\"exited\",\"Status\":\"Exited (137) 2 hours ago\"}]",
	     0, false},
	    {"GET", "/v1.41/containers/abc/changes", 200, NULL,
	     "[{\"Path\":\"/tmp\",\"Kind\":0},{\"Path\":\"/tmp/x\",\"Kind\":1},"
	     "{\"Path\":\"/etc/motd\",\"Kind\":2}]",
	     0, false},
	    {"GET", "/v1.41/containers/none/changes", 200, NULL, "null", 0, false},
	    {"GET", "/v1.41/containers/bad/changes", 200, NULL, "[{\"Path\":\"/x\",\"Kind\":9}]", 0,
	     false},
	};
	struct fake *f = fake_start(routes, sizeof routes / sizeof *routes);
	struct kc_engine *e = engine_for(f);
	kc_err_t err = NULL;
	struct kc_label filt[] = {{"io.kctl.app", "web"}, {"io.kctl.mode", NULL}};
	struct kc_container_info *list = NULL;
	size_t n = 0;
	assert_int_equal(kc_engine_container_list(e, true, filt, 2, &list, &n, &err), 0);
	/* filters={"label":["io.kctl.app=web","io.kctl.mode"]}, escaped */
	assert_non_null(strstr(f->last_target, "all=1"));
	assert_non_null(strstr(f->last_target,
			       "filters=%7B%22label%22%3A%5B%22io.kctl.app%3Dweb%22%2C%22io.kctl."
			       "mode%22%5D%7D"));
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "web-1");
	assert_int_equal(list[0].state, KC_STATE_RUNNING);
	assert_int_equal(list[0].health, KC_HEALTH_HEALTHY);
	assert_string_equal(kc_labels_get(&list[0].labels, "io.kctl.revision"), "3");
	assert_int_equal(list[0].created_ns, 10000000000LL);
	assert_int_equal(list[1].state, KC_STATE_EXITED);
	assert_int_equal(list[1].exit_code, 137);
	assert_int_equal(list[1].health, KC_HEALTH_NONE);
	assert_null(kc_labels_get(&list[1].labels, "io.kctl.app"));
	kc_container_list_free(list, n);

	struct kc_change *ch = NULL;
	assert_int_equal(kc_engine_container_changes(e, "abc", &ch, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ch[1].path, "/tmp/x");
	assert_int_equal(ch[1].kind, KC_CHANGE_ADDED);
	assert_int_equal(ch[2].kind, KC_CHANGE_DELETED);
	assert_string_equal(kc_change_kind_name(ch[0].kind), "C");
	kc_changes_free(ch, n);
	assert_int_equal(kc_engine_container_changes(e, "none", &ch, &n, &err), 0);
	assert_int_equal(n, 0);
	kc_changes_free(ch, n);
	assert_int_equal(kc_engine_container_changes(e, "bad", &ch, &n, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);
	kc_engine_free(e);
	fake_stop(f);
}

static int count_progress(void *opaque, const struct kc_progress *p)
{
	(void)p;
	(*(int *)opaque)++;
	return 0;
}

static void test_push_progress(void **state)
{
	(void)state;
	static const struct route routes[] = {
	    PING_141,
	    {"POST", "/v1.41/images/127.0.0.1:5000/app/push?tag=v1", 200, NULL,
	     "{\"status\":\"The push refers to repository [127.0.0.1:5000/app]\"}\r\n"
	     "{\"status\":\"Pushing\",\"progressDetail\":{\"current\":512,\"total\":1024},"
	     "\"id\":\"abc\"}\r\n"
	     "{\"status\":\"v1: digest: sha256:feed size: 527\"}\r\n"
	     "{\"progressDetail\":{},\"aux\":{\"Tag\":\"v1\",\"Digest\":\"sha256:feed\","
	     "\"Size\":527}}\r\n",
	     0, false},
	    {"POST", "/v1.41/images/127.0.0.1:5000/bad/push", 200, NULL,
	     "{\"status\":\"Preparing\"}\r\n{\"errorDetail\":{\"message\":\"denied\"},"
	     "\"error\":\"denied\"}\r\n",
	     0, false},
	};
	struct fake *f = fake_start(routes, sizeof routes / sizeof *routes);
	struct kc_engine *e = engine_for(f);
	kc_err_t err = NULL;
	int count = 0;
	char *digest = NULL;
	assert_int_equal(
	    kc_engine_image_push(e, "127.0.0.1:5000/app:v1", count_progress, &count, &digest, &err),
	    0);
	assert_string_equal(digest, "sha256:feed");
	assert_int_equal(count, 4);
	free(digest);
	assert_int_equal(kc_engine_image_push(e, "127.0.0.1:5000/bad:v1", NULL, NULL, NULL, &err),
			 -1);
	assert_int_equal(kc_err_kind(err), KC_E_REMOTE);
	cleanup_free char *s = kc_err_string(err);
	assert_non_null(strstr(s, "denied"));
	kc_err_free(&err);
	kc_engine_free(e);
	fake_stop(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_host),
	    cmocka_unit_test(test_error_mapping),
	    cmocka_unit_test(test_api_cmp_and_time),
	    cmocka_unit_test(test_unsupported_op),
	    cmocka_unit_test(test_create_rejects_network),
	    cmocka_unit_test(test_missing_socket),
	    cmocka_unit_test(test_refused_socket),
	    cmocka_unit_test(test_ping_without_api_version),
	    cmocka_unit_test(test_negotiation),
	    cmocka_unit_test(test_engine_errors_and_garbage),
	    cmocka_unit_test(test_exec),
	    cmocka_unit_test(test_list_and_changes),
	    cmocka_unit_test(test_push_progress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
