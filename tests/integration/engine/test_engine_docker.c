/* Integration tests of the Docker backend against the real engine and the
 * registry on 127.0.0.1:5000 (hack/engine up; hack/test sets DOCKER_HOST).
 * A FROM-scratch image holding /bin/busybox is built through the API, pushed,
 * and run with no network. Every container, volume, image and registry
 * manifest made here carries a prefix unique to this run and is removed in
 * the group teardown even when a test fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim/base/cleanup.h"
#include "shim/base/http.h"
#include "shim/engine/docker.h"
#include "shim/engine/tarball.h"

#define REGISTRY "127.0.0.1:5000"
#define REPO REGISTRY "/kctl-test-engine"

struct ctx {
	struct kc_engine *e;
	char prefix[64]; /* kctl-it-engine-<pid>-<time> */
	char tag[64];
	char ref[160];	 /* REPO:tag */
	char ref_b[160]; /* second tag */
	char *digest;	 /* pushed manifest digest */
	char *image_id;
};

/* Fails the test with the whole error chain. */
#define CHECK(call)                                                                                \
	do {                                                                                       \
		kc_err_t _err = NULL;                                                              \
		if ((call) < 0) {                                                                  \
			char *_s = kc_err_string(_err);                                            \
			fail_msg("%s failed: %s", #call, _s ? _s : "?");                           \
		}                                                                                  \
	} while (0)

static int progress_count(void *opaque, const struct kc_progress *p)
{
	(void)p;
	(*(int *)opaque)++;
	return 0;
}

static int build_context(void **tar, size_t *len, kc_err_t *err)
{
	cleanup_tar_writer struct kc_tar_writer *w = NULL;
	static const char dockerfile[] =
	    "FROM scratch\n"
	    "COPY rootfs/ /\n"
	    "CMD [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while :; do sleep 1; done\"]\n";
	static const char *const applets[] = {"sh", "sleep", "cat",  "mkdir", "touch",
					      "rm", "ls",    "true", NULL};
	if (kc_tar_writer_new(0, &w, err) < 0 ||
	    kc_tar_add_file(w, "Dockerfile", dockerfile, sizeof dockerfile - 1, 0644, 0, 0, err) <
		0 ||
	    kc_tar_add_dir(w, "rootfs", 0755, 0, 0, err) < 0 ||
	    kc_tar_add_dir(w, "rootfs/bin", 0755, 0, 0, err) < 0 ||
	    kc_tar_add_path(w, "/bin/busybox", "rootfs/bin/busybox", err) < 0)
		return -1;
	for (const char *const *a = applets; *a; a++) {
		char name[64];
		snprintf(name, sizeof name, "rootfs/bin/%s", *a);
		if (kc_tar_add_symlink(w, name, "busybox", err) < 0)
			return -1;
	}
	return kc_tar_writer_finish(w, tar, len, err);
}

/* Best-effort removal of everything this run made. */
static void cleanup_all(struct ctx *c)
{
	kc_err_t err = NULL;
	struct kc_label f = {"io.kctl.test", c->prefix};
	struct kc_container_info *list = NULL;
	size_t n = 0;
	if (kc_engine_container_list(c->e, true, &f, 1, &list, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (kc_engine_container_remove(c->e, list[i].id, true, true, &err) < 0)
				kc_err_free(&err);
		}
		kc_container_list_free(list, n);
	}
	kc_err_free(&err);
	char vol[96];
	snprintf(vol, sizeof vol, "%s-data", c->prefix);
	if (kc_engine_volume_remove(c->e, vol, true, &err) < 0)
		kc_err_free(&err);
	const char *refs[] = {c->ref, c->ref_b};
	for (size_t i = 0; i < 2; i++)
		if (kc_engine_image_remove(c->e, refs[i], true, &err) < 0)
			kc_err_free(&err);
	if (c->image_id && kc_engine_image_remove(c->e, c->image_id, true, &err) < 0)
		kc_err_free(&err);
	/* The registry keeps the pushed manifest unless deleted (delete is enabled there). */
	if (c->digest) {
		struct kc_http_config hc = {.base_url = "http://" REGISTRY, .max_retries = -1};
		struct kc_http *h = NULL;
		if (kc_http_new(&hc, &h, &err) == 0) {
			char path[256];
			snprintf(path, sizeof path, "/v2/kctl-test-engine/manifests/%s", c->digest);
			struct kc_http_request req = {.method = "DELETE", .path = path};
			struct kc_http_response resp = {0};
			if (kc_http_do(h, &req, &resp, &err) < 0)
				kc_err_free(&err);
			kc_http_response_free(&resp);
			kc_http_free(h);
		}
		kc_err_free(&err);
	}
}

static int group_setup(void **state)
{
	struct ctx *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	snprintf(c->prefix, sizeof c->prefix, "kctl-it-engine-%d-%ld", (int)getpid(),
		 (long)time(NULL));
	snprintf(c->tag, sizeof c->tag, "%d-%ld", (int)getpid(), (long)time(NULL));
	snprintf(c->ref, sizeof c->ref, "%s:%s", REPO, c->tag);
	snprintf(c->ref_b, sizeof c->ref_b, "%s:%s-b", REPO, c->tag);
	kc_err_t err = NULL;
	struct kc_docker_config cfg = {0}; /* DOCKER_HOST from the environment */
	if (kc_engine_docker_new(&cfg, &c->e, &err) < 0 || kc_engine_ping(c->e, &err) < 0) {
		kc_err_print(err, "engine setup", stderr);
		kc_err_free(&err);
		if (c->e)
			kc_engine_free(c->e);
		free(c);
		return -1;
	}
	void *tar = NULL;
	size_t len = 0;
	int progress = 0;
	if (build_context(&tar, &len, &err) < 0 ||
	    kc_engine_image_build(c->e, tar, len, c->ref, progress_count, &progress, &c->image_id,
				  &err) < 0) {
		kc_err_print(err, "building the test image", stderr);
		kc_err_free(&err);
		free(tar);
		cleanup_all(c);
		kc_engine_free(c->e);
		free(c);
		return -1;
	}
	free(tar);
	*state = c;
	return 0;
}

static int group_teardown(void **state)
{
	struct ctx *c = *state;
	if (!c)
		return 0;
	cleanup_all(c);
	/* Check nothing with our prefix survived. */
	kc_err_t err = NULL;
	struct kc_label f = {"io.kctl.test", c->prefix};
	struct kc_container_info *list = NULL;
	size_t n = 0;
	int rc = 0;
	if (kc_engine_container_list(c->e, true, &f, 1, &list, &n, &err) == 0) {
		if (n) {
			fprintf(stderr, "teardown: %zu containers left behind\n", n);
			rc = -1;
		}
		kc_container_list_free(list, n);
	}
	kc_err_free(&err);
	free(c->digest);
	free(c->image_id);
	kc_engine_free(c->e);
	free(c);
	return rc;
}

/* ---- tests ---- */

static void test_version(void **state)
{
	struct ctx *c = *state;
	struct kc_engine_version v;
	CHECK(kc_engine_version(c->e, &v, &_err));
	assert_string_equal(v.backend, "docker");
	assert_non_null(v.engine_version);
	/* min(server, 1.41) */
	assert_true(kc_docker_api_cmp(v.api_version, KC_DOCKER_MAX_API) <= 0);
	assert_true(kc_docker_api_cmp(v.api_version, v.server_api_version) <= 0);
	printf("# engine %s, API %s (server %s)\n", v.engine_version, v.api_version,
	       v.server_api_version);
	kc_engine_version_free(&v);
	struct kc_http_stats st;
	CHECK(kc_engine_http_stats(c->e, &st, &_err));
	assert_true(st.requests >= 2);
	assert_true(st.bytes_received > 0);
}

static void test_image_push_pull_tag(void **state)
{
	struct ctx *c = *state;
	int progress = 0;
	CHECK(kc_engine_image_push(c->e, c->ref, progress_count, &progress, &c->digest, &_err));
	assert_true(progress > 0);
	assert_non_null(c->digest);
	assert_int_equal(strncmp(c->digest, "sha256:", 7), 0);

	struct kc_engine_image im;
	CHECK(kc_engine_image_inspect(c->e, c->ref, &im, &_err));
	assert_string_equal(im.id, c->image_id);
	assert_non_null(im.layers);
	assert_non_null(im.layers[0]);
	assert_null(im.layers[1]); /* one COPY, one layer */
	assert_true(im.size > 1000000);
	bool found = false;
	for (char **d = im.repo_digests; *d; d++)
		if (strstr(*d, c->digest))
			found = true;
	assert_true(found);
	assert_non_null(im.cmd);
	assert_string_equal(im.cmd[0], "/bin/sh");
	kc_engine_image_free(&im);

	/* pull by tag from the registry: it is there already, the pull still talks to it */
	progress = 0;
	CHECK(kc_engine_image_pull(c->e, c->ref, progress_count, &progress, &_err));
	assert_true(progress > 0);

	char tag_b[80];
	snprintf(tag_b, sizeof tag_b, "%s-b", c->tag);
	CHECK(kc_engine_image_tag(c->e, c->ref, REPO, tag_b, &_err));
	struct kc_engine_image *list = NULL;
	size_t n = 0;
	CHECK(kc_engine_image_list(c->e, REPO, NULL, 0, &list, &n, &_err));
	size_t ours = 0;
	for (size_t i = 0; i < n; i++)
		for (char **t = list[i].repo_tags; *t; t++)
			if (!strcmp(*t, c->ref) || !strcmp(*t, c->ref_b))
				ours++;
	assert_int_equal(ours, 2);
	kc_engine_image_list_free(list, n);
	CHECK(kc_engine_image_remove(c->e, c->ref_b, false, &_err));
	kc_err_t err = NULL;
	assert_int_equal(kc_engine_image_inspect(c->e, c->ref_b, &im, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	kc_err_free(&err);
	/* the first tag is untouched */
	CHECK(kc_engine_image_inspect(c->e, c->ref, &im, &_err));
	kc_engine_image_free(&im);
}

static void test_errors(void **state)
{
	struct ctx *c = *state;
	kc_err_t err = NULL;
	struct kc_container_info ci;
	char missing[128];
	snprintf(missing, sizeof missing, "%s-missing", c->prefix);
	assert_int_equal(kc_engine_container_inspect(c->e, missing, &ci, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	assert_int_equal(kc_err_http_status(err), 404);
	cleanup_free char *s = kc_err_string(err);
	assert_non_null(strstr(s, "No such container"));
	kc_err_free(&err);

	struct kc_engine_image im;
	assert_int_equal(kc_engine_image_inspect(c->e, REPO ":no-such-tag-kctl", &im, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	kc_err_free(&err);

	/* create with a name in use -> 409 */
	struct kc_label labels[] = {{"io.kctl.test", c->prefix}};
	char name[128];
	snprintf(name, sizeof name, "%s-dup", c->prefix);
	struct kc_container_spec spec = {
	    .name = name, .image = c->ref, .labels = labels, .n_labels = 1};
	cleanup_free char *id = NULL;
	CHECK(kc_engine_container_create(c->e, &spec, &id, &_err));
	char *id2 = NULL;
	assert_int_equal(kc_engine_container_create(c->e, &spec, &id2, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_CONFLICT);
	kc_err_free(&err);
	/* image in use by a container -> 409 without force */
	assert_int_equal(kc_engine_image_remove(c->e, c->ref, false, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_CONFLICT);
	kc_err_free(&err);
	/* exec in a container that is not running -> 409 */
	const char *cmd[] = {"true", NULL};
	struct kc_exec_spec es = {.cmd = cmd};
	struct kc_exec_result r;
	assert_int_equal(kc_engine_exec(c->e, id, &es, &r, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_CONFLICT);
	kc_err_free(&err);
	CHECK(kc_engine_container_remove(c->e, id, true, true, &_err));
	assert_int_equal(kc_engine_container_inspect(c->e, id, &ci, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	kc_err_free(&err);
}

/* Read-only rootfs, tmpfs /tmp, a named volume, no network, healthcheck. */
static void test_hardened_container(void **state)
{
	struct ctx *c = *state;
	char name[128], vol[96];
	snprintf(name, sizeof name, "%s-ro", c->prefix);
	snprintf(vol, sizeof vol, "%s-data", c->prefix);
	struct kc_label labels[] = {{"io.kctl.test", c->prefix},
				 {"io.kctl.app", c->prefix},
				 {"io.kctl.revision", "1"},
				 {"io.kctl.mode", "immutable"}};
	struct kc_tmpfs_mount tmp = {"/tmp", "size=16m,mode=1777"};
	struct kc_volume_mount data = {vol, "/data", false};
	const char *hc_test[] = {"CMD", "/bin/true", NULL};
	struct kc_healthcheck hc = {
	    .test = hc_test, .interval_ms = 300, .timeout_ms = 2000, .retries = 3};
	const char *env[] = {"KCTL_TEST=1", NULL};
	struct kc_container_spec spec = {.name = name,
					 .image = c->ref,
					 .labels = labels,
					 .n_labels = 4,
					 .env = env,
					 .network_mode = "none",
					 .read_only_rootfs = true,
					 .tmpfs = &tmp,
					 .n_tmpfs = 1,
					 .volumes = &data,
					 .n_volumes = 1,
					 .healthcheck = &hc,
					 .stop_signal = "SIGTERM",
					 .stop_timeout_s = 10,
					 .memory_limit = 64 << 20};
	cleanup_free char *id = NULL;
	CHECK(kc_engine_container_create(c->e, &spec, &id, &_err));
	CHECK(kc_engine_container_start(c->e, id, &_err));
	CHECK(kc_engine_container_start(c->e, id, &_err)); /* already running: fine */

	struct kc_container_info ci;
	CHECK(kc_engine_container_inspect(c->e, id, &ci, &_err));
	assert_string_equal(ci.id, id);
	assert_string_equal(ci.name, name);
	assert_string_equal(ci.image, c->ref);
	assert_string_equal(ci.image_id, c->image_id);
	assert_int_equal(ci.state, KC_STATE_RUNNING);
	assert_true(ci.pid > 0);
	assert_true(ci.started_ns > 0);
	assert_int_equal(ci.finished_ns, 0);
	assert_true(ci.read_only_rootfs);
	assert_string_equal(ci.network_mode, "none");
	assert_string_equal(kc_labels_get(&ci.labels, "io.kctl.mode"), "immutable");
	bool env_found = false;
	for (char **p = ci.env; p && *p; p++)
		env_found |= !strcmp(*p, "KCTL_TEST=1");
	assert_true(env_found);
	kc_container_info_free(&ci);

	/* exec: both streams and the exit code */
	const char *cmd1[] = {"sh", "-c", "echo out; echo err >&2; exit 7", NULL};
	struct kc_exec_spec es = {.cmd = cmd1};
	struct kc_exec_result r;
	CHECK(kc_engine_exec(c->e, id, &es, &r, &_err));
	assert_int_equal(r.exit_code, 7);
	assert_string_equal(r.out, "out\n");
	assert_string_equal(r.err, "err\n");
	kc_exec_result_free(&r);

	/* /tmp is writable (tmpfs), the rootfs is not */
	const char *cmd2[] = {"sh", "-c", "echo hello > /tmp/f && cat /tmp/f", NULL};
	es.cmd = cmd2;
	CHECK(kc_engine_exec(c->e, id, &es, &r, &_err));
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.out, "hello\n");
	kc_exec_result_free(&r);
	const char *cmd3[] = {"sh", "-c", "echo x > /bin/new", NULL};
	es.cmd = cmd3;
	CHECK(kc_engine_exec(c->e, id, &es, &r, &_err));
	assert_int_not_equal(r.exit_code, 0);
	assert_non_null(strstr(r.err, "Read-only file system"));
	kc_exec_result_free(&r);

	/* a big output is capped per stream and flagged */
	const char *cmd4[] = {"sh", "-c",
			      "i=0; while [ $i -lt 2000 ]; do echo 0123456789; "
			      "i=$((i+1)); done",
			      NULL};
	es.cmd = cmd4;
	es.max_output = 1000;
	CHECK(kc_engine_exec(c->e, id, &es, &r, &_err));
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(r.out_len, 1000);
	assert_true(r.out_truncated);
	kc_exec_result_free(&r);
	es.max_output = 0;

	/* archive put into the volume (the rootfs refuses), get it back */
	void *tar = NULL;
	size_t len = 0;
	{
		cleanup_tar_writer struct kc_tar_writer *w = NULL;
		CHECK(kc_tar_writer_new(0, &w, &_err));
		CHECK(kc_tar_add_file(w, "conf.txt", "answer=42\n", 10, 0640, 1234, 5678, &_err));
		CHECK(kc_tar_writer_finish(w, &tar, &len, &_err));
	}
	CHECK(kc_engine_archive_put(c->e, id, "/data", tar, len, &_err));
	kc_err_t err = NULL;
	assert_int_equal(kc_engine_archive_put(c->e, id, "/", tar, len, &err), -1);
	assert_true(kc_err_http_status(err) >= 400);
	{
		/* the engine's own words reach the caller */
		cleanup_free char *msg = kc_err_string(err);
		assert_non_null(strstr(msg, "read-only"));
	}
	kc_err_free(&err);
	free(tar);
	CHECK(kc_engine_archive_get(c->e, id, "/data/conf.txt", 0, &tar, &len, &_err));
	struct kc_tar_entry *ents = NULL;
	size_t n = 0;
	CHECK(kc_tar_list(tar, len, &ents, &n, &_err));
	assert_int_equal(n, 1);
	assert_string_equal(ents[0].path, "conf.txt");
	assert_int_equal(ents[0].mode, 0640);
	assert_int_equal(ents[0].uid, 1234);
	assert_int_equal(ents[0].gid, 5678);
	kc_tar_entries_free(ents, n);
	char *content = NULL;
	size_t clen = 0;
	CHECK(kc_tar_read_file(tar, len, "conf.txt", 1024, &content, &clen, &_err));
	assert_string_equal(content, "answer=42\n");
	free(content);
	free(tar);
	const char *cmd5[] = {"cat", "/data/conf.txt", NULL};
	es.cmd = cmd5;
	CHECK(kc_engine_exec(c->e, id, &es, &r, &_err));
	assert_string_equal(r.out, "answer=42\n");
	kc_exec_result_free(&r);
	assert_int_equal(kc_engine_archive_get(c->e, id, "/no/such/path", 0, &tar, &len, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	kc_err_free(&err);

	/* one-shot stats of a running container */
	struct kc_stats st;
	CHECK(kc_engine_container_stats(c->e, id, &st, &_err));
	assert_true(st.available);
	assert_true(st.mem_usage > 0);
	assert_true(st.cpu_total_ns > 0);
	assert_true(st.system_cpu_ns > 0);
	assert_int_equal(st.mem_limit, 64 << 20);
	assert_true(st.pids >= 1);

	/* health turns healthy (interval 300 ms), bounded wait */
	enum kc_health h = KC_HEALTH_NONE;
	for (int i = 0; i < 50 && h != KC_HEALTH_HEALTHY; i++) {
		CHECK(kc_engine_container_inspect(c->e, id, &ci, &_err));
		h = ci.health;
		kc_container_info_free(&ci);
		if (h != KC_HEALTH_HEALTHY)
			usleep(200000);
	}
	assert_int_equal(h, KC_HEALTH_HEALTHY);

	/* list by label, as kctl ps does; health comes from the status text */
	struct kc_label filt[] = {{"io.kctl.app", c->prefix}, {"io.kctl.mode", "immutable"}};
	struct kc_container_info *list = NULL;
	CHECK(kc_engine_container_list(c->e, false, filt, 2, &list, &n, &_err));
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, id);
	assert_int_equal(list[0].state, KC_STATE_RUNNING);
	assert_int_equal(list[0].health, KC_HEALTH_HEALTHY);
	assert_string_equal(kc_labels_get(&list[0].labels, "io.kctl.revision"), "1");
	kc_container_list_free(list, n);

	/* stop: the trap exits 0 on SIGTERM well before the 10 s grace */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(kc_engine_container_stop(c->e, id, 10, &_err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 8);
	int code = -1;
	CHECK(kc_engine_container_wait(c->e, id, 10000, &code, &_err));
	assert_int_equal(code, 0);
	CHECK(kc_engine_container_stop(c->e, id, 1, &_err)); /* already stopped: fine */
	CHECK(kc_engine_container_inspect(c->e, id, &ci, &_err));
	assert_int_equal(ci.state, KC_STATE_EXITED);
	assert_int_equal(ci.exit_code, 0);
	assert_int_equal(ci.pid, 0);
	assert_true(ci.finished_ns >= ci.started_ns);
	kc_container_info_free(&ci);
	CHECK(kc_engine_container_stats(c->e, id, &st, &_err));
	assert_false(st.available);

	CHECK(kc_engine_container_remove(c->e, id, false, true, &_err));
	CHECK(kc_engine_volume_remove(c->e, vol, false, &_err));
	assert_int_equal(kc_engine_container_inspect(c->e, id, &ci, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	kc_err_free(&err);
}

struct buf {
	char *p;
	size_t len, cap;
};

static int buf_sink(void *opaque, const char *data, size_t len)
{
	struct buf *b = opaque;
	if (b->len + len > b->cap)
		return 1;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

/* Writable rootfs: in-place edits show in /changes and in the export; logs; kill. */
static void test_mutable_container(void **state)
{
	struct ctx *c = *state;
	char name[128];
	snprintf(name, sizeof name, "%s-rw", c->prefix);
	struct kc_label labels[] = {{"io.kctl.test", c->prefix},
				 {"io.kctl.app", c->prefix},
				 {"io.kctl.revision", "2"},
				 {"io.kctl.mode", "mutable"}};
	const char *cmd[] = {"/bin/sh", "-c",
			     "echo started; echo warn >&2; trap 'exit 0' TERM; "
			     "while :; do sleep 1; done",
			     NULL};
	struct kc_container_spec spec = {.name = name,
					 .image = c->ref,
					 .labels = labels,
					 .n_labels = 4,
					 .cmd = cmd,
					 .network_mode = "none",
					 .restart = KC_RESTART_NO};
	cleanup_free char *id = NULL;
	CHECK(kc_engine_container_create(c->e, &spec, &id, &_err));
	CHECK(kc_engine_container_start(c->e, id, &_err));

	/* archive put at the root: a new directory and file */
	void *tar = NULL;
	size_t len = 0;
	{
		cleanup_tar_writer struct kc_tar_writer *w = NULL;
		CHECK(kc_tar_writer_new(0, &w, &_err));
		CHECK(kc_tar_add_dir(w, "srv", 0755, 0, 0, &_err));
		CHECK(kc_tar_add_file(w, "srv/app.conf", "v=2\n", 4, 0644, 0, 0, &_err));
		CHECK(kc_tar_writer_finish(w, &tar, &len, &_err));
	}
	CHECK(kc_engine_archive_put(c->e, id, "/", tar, len, &_err));
	free(tar);
	const char *edit[] = {"sh", "-c", "mkdir -p /var/x && touch /var/x/y && rm /bin/ls", NULL};
	struct kc_exec_spec es = {.cmd = edit};
	struct kc_exec_result r;
	CHECK(kc_engine_exec(c->e, id, &es, &r, &_err));
	assert_int_equal(r.exit_code, 0);
	kc_exec_result_free(&r);

	struct kc_change *ch = NULL;
	size_t n = 0;
	CHECK(kc_engine_container_changes(c->e, id, &ch, &n, &_err));
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ch[i].path, "/srv/app.conf") && ch[i].kind == KC_CHANGE_ADDED)
			seen |= 1;
		if (!strcmp(ch[i].path, "/var/x/y") && ch[i].kind == KC_CHANGE_ADDED)
			seen |= 2;
		if (!strcmp(ch[i].path, "/bin/ls") && ch[i].kind == KC_CHANGE_DELETED)
			seen |= 4;
		if (!strcmp(ch[i].path, "/bin") && ch[i].kind == KC_CHANGE_CHANGED)
			seen |= 8;
	}
	kc_changes_free(ch, n);
	assert_int_equal(seen, 15);

	/* export: the container filesystem as tar, with the edits */
	struct buf b = {.cap = 64u << 20};
	b.p = malloc(b.cap);
	assert_non_null(b.p);
	CHECK(kc_engine_container_export(c->e, id, 0, buf_sink, &b, &_err));
	struct kc_tar_entry *ents = NULL;
	CHECK(kc_tar_list(b.p, b.len, &ents, &n, &_err));
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ents[i].path, "bin/busybox"))
			found |= 1;
		if (!strcmp(ents[i].path, "srv/app.conf"))
			found |= 2;
		if (!strcmp(ents[i].path, "bin/ls"))
			found |= 4;
	}
	kc_tar_entries_free(ents, n);
	free(b.p);
	assert_int_equal(found, 3);

	/* logs: both streams of the main process */
	struct kc_exec_result logs;
	CHECK(kc_engine_container_logs(c->e, id, -1, 0, &logs, &_err));
	assert_string_equal(logs.out, "started\n");
	assert_string_equal(logs.err, "warn\n");
	kc_exec_result_free(&logs);

	/* both revisions listed under the app label, mode narrows it */
	struct kc_label filt[] = {{"io.kctl.app", c->prefix}};
	struct kc_container_info *list = NULL;
	CHECK(kc_engine_container_list(c->e, true, filt, 1, &list, &n, &_err));
	assert_int_equal(n, 1); /* the hardened one is gone by now */
	assert_string_equal(list[0].name, name);
	kc_container_list_free(list, n);
	struct kc_label filt2[] = {{"io.kctl.app", c->prefix}, {"io.kctl.mode", "immutable"}};
	CHECK(kc_engine_container_list(c->e, true, filt2, 2, &list, &n, &_err));
	assert_int_equal(n, 0);
	kc_container_list_free(list, n);

	/* kill: SIGKILL gives 137 */
	CHECK(kc_engine_container_kill(c->e, id, "SIGKILL", &_err));
	int code = -1;
	CHECK(kc_engine_container_wait(c->e, id, 10000, &code, &_err));
	assert_int_equal(code, 137);
	kc_err_t err = NULL;
	assert_int_equal(kc_engine_container_kill(c->e, id, "SIGKILL", &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_CONFLICT);
	kc_err_free(&err);
	CHECK(kc_engine_container_list(c->e, true, filt, 1, &list, &n, &_err));
	assert_int_equal(n, 1);
	assert_int_equal(list[0].state, KC_STATE_EXITED);
	assert_int_equal(list[0].exit_code, 137);
	kc_container_list_free(list, n);
	CHECK(kc_engine_container_remove(c->e, id, false, true, &_err));
}

static void test_remove_image(void **state)
{
	struct ctx *c = *state;
	CHECK(kc_engine_image_remove(c->e, c->ref, false, &_err));
	kc_err_t err = NULL;
	struct kc_engine_image im;
	assert_int_equal(kc_engine_image_inspect(c->e, c->ref, &im, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	kc_err_free(&err);
	assert_int_equal(kc_engine_image_inspect(c->e, c->image_id, &im, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	kc_err_free(&err);
}

int main(void)
{
	if (!getenv("DOCKER_HOST") || !*getenv("DOCKER_HOST")) {
		printf("SKIP: DOCKER_HOST is not set; these tests need the engine and registry "
		       "from hack/engine up (hack/test sets it)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_image_push_pull_tag),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_hardened_container),
	    cmocka_unit_test(test_mutable_container),
	    cmocka_unit_test(test_remove_image),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
