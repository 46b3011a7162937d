/* Registry client against a scripted fake registry in a thread on
 * 127.0.0.1:<ephemeral>: Bearer token flow (with Basic credentials from a
 * docker config to the realm), Basic auth, missing credentials, a lying
 * Docker-Content-Digest, a corrupted blob, a blob redirect, and a token
 * realm on a non-loopback plain-http URL (refused before any traffic). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "registry/registry.h"

#define BASIC_CREDS "Basic dXNlcjpwYXNz" /* user:pass */
#define TOKEN "tok123"

struct fake {
	int listen_fd, port;
	pthread_t thread;
	atomic_int stop;
	pthread_mutex_t mu;
	char log[8192]; /* "METHOD path [auth]\n" per request */
	char manifest[1024], manifest_digest[KC_DIGEST_LEN + 1];
	char config[256], config_digest[KC_DIGEST_LEN + 1];
	char cfgdir[64];
};

/* True when the error chain's text contains want (the string is freed). */
static bool err_has(const struct kc_err *e, const char *want)
{
	char *s = kc_err_string(e);
	bool r = s && strstr(s, want);
	free(s);
	return r;
}

static void send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void respond(int fd, bool head, int status, const char *extra, const char *body)
{
	char hdr[1024];
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status,
			 blen, extra ? extra : "");
	send_all(fd, hdr, (size_t)n);
	if (!head && blen)
		send_all(fd, body, blen);
}

static const char *header_value(const char *req, const char *name, char *buf, size_t cap)
{
	const char *p = req;
	size_t nl = strlen(name);
	while ((p = strchr(p, '\n'))) {
		p++;
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t n = strcspn(v, "\r\n");
			snprintf(buf, cap, "%.*s", (int)n, v);
			return buf;
		}
	}
	buf[0] = '\0';
	return NULL;
}

static void handle(struct fake *f, int fd, const char *req)
{
	char method[16], path[1024], auth[256], extra[512];
	if (sscanf(req, "%15s %1023s", method, path) != 2)
		return;
	header_value(req, "Authorization", auth, sizeof auth);
	pthread_mutex_lock(&f->mu);
	size_t used = strlen(f->log);
	snprintf(f->log + used, sizeof f->log - used, "%s %s [%s]\n", method, path, auth);
	pthread_mutex_unlock(&f->mu);
	bool head = !strcmp(method, "HEAD");
	char repo[64] = "";
	sscanf(path, "/v2/%63[^/]", repo);

	if (!strncmp(path, "/token?", 7)) {
		if (strcmp(auth, BASIC_CREDS) != 0)
			return respond(fd, head, 401, NULL, "{\"errors\":[{\"code\":\"DENIED\"}]}");
		return respond(fd, head, 200, "Content-Type: application/json\r\n",
			       "{\"access_token\":\"" TOKEN "\",\"expires_in\":300}");
	}
	if (!strncmp(path, "/storage/", 9))
		return respond(fd, head, 200, NULL, f->config);
	if (!strcmp(repo, "lib") && strcmp(auth, "Bearer " TOKEN) != 0) {
		snprintf(extra, sizeof extra,
			 "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\","
			 "service=\"fake\",scope=\"repository:lib/app:pull\"\r\n",
			 f->port);
		return respond(fd, head, 401, extra, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
	}
	if (!strcmp(repo, "basic") && strcmp(auth, BASIC_CREDS) != 0)
		return respond(fd, head, 401, "WWW-Authenticate: Basic realm=\"fake\"\r\n", NULL);
	if (!strcmp(repo, "evil"))
		return respond(fd, head, 401,
			       "WWW-Authenticate: Bearer realm=\"http://192.0.2.1/token\"\r\n",
			       NULL);
	if (strstr(path, "/manifests/")) {
		const char *ref = strstr(path, "/manifests/") + 11;
		if (strcmp(ref, "v1") != 0 && strcmp(ref, f->manifest_digest) != 0)
			return respond(fd, head, 404, "Content-Type: application/json\r\n",
				       "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\","
				       "\"message\":\"manifest unknown\"}]}");
		snprintf(extra, sizeof extra,
			 "Content-Type: " KC_MT_OCI_MANIFEST "\r\nDocker-Content-Digest: %s\r\n",
			 !strcmp(repo, "liar") ? "sha256:0000000000000000000000000000000000000000"
						 "000000000000000000000000"
					       : f->manifest_digest);
		return respond(fd, head, 200, extra, f->manifest);
	}
	if (strstr(path, "/blobs/")) {
		const char *d = strstr(path, "/blobs/") + 7;
		if (strcmp(d, f->config_digest) != 0)
			return respond(fd, head, 404, NULL,
				       "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\"}]}");
		if (!strcmp(repo, "badblob"))
			return respond(fd, head, 200, NULL, "{\"tampered\":true}");
		if (!strcmp(repo, "redir")) {
			snprintf(extra, sizeof extra, "Location: /storage/%s\r\n", d);
			return respond(fd, head, 307, extra, "redirecting");
		}
		return respond(fd, head, 200, NULL, f->config);
	}
	respond(fd, head, 404, NULL, NULL);
}

static void serve_conn(struct fake *f, int fd)
{
	char buf[8192];
	size_t len = 0;
	while (!atomic_load(&f->stop)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		buf[len] = '\0';
		char *end;
		while ((end = strstr(buf, "\r\n\r\n"))) {
			*end = '\0';
			handle(f, fd, buf); /* no request here has a body */
			size_t used = (size_t)(end + 4 - buf);
			memmove(buf, buf + used, len - used + 1);
			len -= used;
		}
		if (len >= sizeof buf - 1)
			return;
	}
}

static void *serve(void *arg)
{
	struct fake *f = arg;
	while (!atomic_load(&f->stop)) {
		struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		int c = accept(f->listen_fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_conn(f, c);
		close(c);
	}
	return NULL;
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof *f);
	kc_err_t err = NULL;
	pthread_mutex_init(&f->mu, NULL);
	snprintf(f->config, sizeof f->config,
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		 "\"diff_ids\":[]}}");
	kc_sha256_digest(f->config, strlen(f->config), f->config_digest, &err);
	snprintf(f->manifest, sizeof f->manifest,
		 "{\"schemaVersion\":2,\"mediaType\":\"" KC_MT_OCI_MANIFEST "\",\"config\":{"
		 "\"mediaType\":\"" KC_MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
		 "\"layers\":[]}",
		 f->config_digest, strlen(f->config));
	kc_sha256_digest(f->manifest, strlen(f->manifest), f->manifest_digest, &err);

	f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(f->listen_fd, 16), 0);
	assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&a, &alen), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);

	/* Credentials for the fake, as `docker login` would write them. */
	snprintf(f->cfgdir, sizeof f->cfgdir, "/tmp/kctl-test-registry-client-XXXXXX");
	assert_non_null(mkdtemp(f->cfgdir));
	char path[128];
	snprintf(path, sizeof path, "%s/config.json", f->cfgdir);
	FILE *fp = fopen(path, "w");
	fprintf(fp, "{\"auths\":{\"127.0.0.1:%d\":{\"auth\":\"dXNlcjpwYXNz\"}}}", f->port);
	fclose(fp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	atomic_store(&f->stop, 1);
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	char path[128];
	snprintf(path, sizeof path, "%s/config.json", f->cfgdir);
	unlink(path);
	rmdir(f->cfgdir);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return 0;
}

static void clear_log(struct fake *f)
{
	pthread_mutex_lock(&f->mu);
	f->log[0] = '\0';
	pthread_mutex_unlock(&f->mu);
}

static bool log_has(struct fake *f, const char *s)
{
	pthread_mutex_lock(&f->mu);
	bool r = strstr(f->log, s) != NULL;
	pthread_mutex_unlock(&f->mu);
	return r;
}

static int resolve(struct fake *f, const char *repo, bool creds, struct kc_image_info *info,
		   kc_err_t *err)
{
	char ref[128];
	snprintf(ref, sizeof ref, "127.0.0.1:%d/%s:v1", f->port, repo);
	struct kc_registry_opts o = {.docker_config_dir = creds ? f->cfgdir : "/nonexistent-kctl",
				     .max_retries = -1};
	return kc_image_resolve(ref, &o, info, NULL, err);
}

static void test_bearer_flow(void **state)
{
	struct fake *f = *state;
	struct kc_image_info info;
	kc_err_t err = NULL;
	clear_log(f);
	if (resolve(f, "lib/app", true, &info, &err) != 0)
		fail_msg("resolve: %s", kc_err_string(err));
	assert_string_equal(info.digest, f->manifest_digest);
	assert_string_equal(info.platform, "linux/amd64");
	kc_image_info_free(&info);
	/* The token came from the realm with the challenge's scope and
	 * service, and Basic credentials from the docker config. */
	assert_true(log_has(f, "GET /token?scope=repository%3Alib%2Fapp%3Apull&service=fake "
			       "[" BASIC_CREDS "]"));
	assert_true(log_has(f, "GET /v2/lib/app/manifests/v1 [Bearer " TOKEN "]"));
	assert_true(log_has(f, "HEAD /v2/lib/app/manifests/v1 []"));

	/* Without credentials the token service refuses: an auth error. */
	assert_int_equal(resolve(f, "lib/app", false, &info, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_AUTH);
	assert_true(err_has(err, "no credentials configured"));
	kc_err_free(&err);
}

static void test_basic_flow(void **state)
{
	struct fake *f = *state;
	struct kc_image_info info;
	kc_err_t err = NULL;
	clear_log(f);
	assert_int_equal(resolve(f, "basic/app", true, &info, &err), 0);
	assert_string_equal(info.digest, f->manifest_digest);
	kc_image_info_free(&info);
	assert_true(log_has(f, "GET /v2/basic/app/manifests/v1 [" BASIC_CREDS "]"));
	assert_false(log_has(f, "/token"));

	assert_int_equal(resolve(f, "basic/app", false, &info, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_AUTH);
	assert_true(err_has(err, "wants Basic credentials"));
	kc_err_free(&err);
}

static void test_digest_mismatch(void **state)
{
	struct fake *f = *state;
	struct kc_image_info info;
	kc_err_t err = NULL;
	assert_int_equal(resolve(f, "liar/app", false, &info, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_DIGEST);
	assert_true(err_has(err, "Docker-Content-Digest"));
	kc_err_free(&err);

	/* A reference's own digest must match the content too. */
	char ref[256];
	snprintf(ref, sizeof ref, "127.0.0.1:%d/plain/app@sha256:%064d", f->port, 0);
	assert_int_equal(kc_image_resolve(ref, NULL, &info, NULL, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND); /* the fake has no such manifest */
	kc_err_free(&err);
	snprintf(ref, sizeof ref, "127.0.0.1:%d/plain/app@%s", f->port, f->manifest_digest);
	assert_int_equal(kc_image_resolve(ref, NULL, &info, NULL, &err), 0);
	kc_image_info_free(&info);
}

static void test_blob_verification_and_redirect(void **state)
{
	struct fake *f = *state;
	struct kc_registry *r = NULL;
	struct kc_ref ref;
	kc_err_t err = NULL;
	char s[128], *buf = NULL;
	size_t len;
	assert_int_equal(kc_registry_new(NULL, &r, &err), 0);
	snprintf(s, sizeof s, "127.0.0.1:%d/badblob/app", f->port);
	assert_int_equal(kc_ref_parse(s, &ref, &err), 0);
	assert_int_equal(
	    kc_registry_fetch_blob_mem(r, &ref, f->config_digest, 4096, &buf, &len, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_DIGEST);
	kc_err_free(&err);

	/* The redirect's own body never reaches the caller. */
	clear_log(f);
	snprintf(s, sizeof s, "127.0.0.1:%d/redir/app", f->port);
	assert_int_equal(kc_ref_parse(s, &ref, &err), 0);
	if (kc_registry_fetch_blob_mem(r, &ref, f->config_digest, 4096, &buf, &len, &err) != 0)
		fail_msg("fetch: %s", kc_err_string(err));
	assert_string_equal(buf, f->config);
	free(buf);
	assert_true(log_has(f, "GET /storage/"));
	kc_registry_free(r);
}

static void test_refuses_plain_http_realm_elsewhere(void **state)
{
	struct fake *f = *state;
	struct kc_image_info info;
	kc_err_t err = NULL;
	assert_int_equal(resolve(f, "evil/app", true, &info, &err), -1);
	assert_true(err_has(err, "refusing plain http to non-loopback host"));
	kc_err_free(&err);
}

static void test_loopback_rule(void **state)
{
	(void)state;
	assert_true(kc_registry_host_is_loopback("127.0.0.1:5000"));
	assert_true(kc_registry_host_is_loopback("127.1.2.3"));
	assert_true(kc_registry_host_is_loopback("localhost:5000"));
	assert_true(kc_registry_host_is_loopback("LOCALHOST"));
	assert_true(kc_registry_host_is_loopback("[::1]:5000"));
	assert_true(kc_registry_host_is_loopback("::1"));
	assert_false(kc_registry_host_is_loopback("128.0.0.1:5000"));
	assert_false(kc_registry_host_is_loopback("192.0.2.1"));
	assert_false(kc_registry_host_is_loopback("example.com"));
	assert_false(kc_registry_host_is_loopback("localhost.example.com"));
	assert_false(kc_registry_host_is_loopback("[::2]:5000"));
	assert_false(kc_registry_host_is_loopback("docker.io"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bearer_flow),
	    cmocka_unit_test(test_basic_flow),
	    cmocka_unit_test(test_digest_mismatch),
	    cmocka_unit_test(test_blob_verification_and_redirect),
	    cmocka_unit_test(test_refuses_plain_http_realm_elsewhere),
	    cmocka_unit_test(test_loopback_rule),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
