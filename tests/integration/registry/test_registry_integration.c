/* Registry client against the real registry on 127.0.0.1:5000 (hack/engine
 * up). The test pushes its own tiny image with the registry HTTP API
 * (monolithic blob uploads and manifest PUTs: a two-layer amd64 image, an
 * arm64 image and an OCI index of both), then resolves, fetches and indexes
 * it through the client, and deletes what it pushed. Skipped (exit 77) with
 * a message when no registry answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "registry/registry.h"
#include "shim/base/json.h"

#define REGISTRY "127.0.0.1:5000"

struct pushed {
	char repo[96];
	char v1_digest[KC_DIGEST_LEN + 1];  /* amd64 manifest, tag v1 */
	char arm_digest[KC_DIGEST_LEN + 1]; /* arm64 manifest, by digest only */
	char idx_digest[KC_DIGEST_LEN + 1]; /* index, tag multi */
	char cfg_digest[KC_DIGEST_LEN + 1];
	char *cfg;
	char layer_digest[2][KC_DIGEST_LEN + 1];
	size_t layer_size[2];
	char blobs[8][KC_DIGEST_LEN + 1];
	size_t n_blobs;
};

/* True when the error chain's text contains want (the string is freed). */
static bool err_has(const struct kc_err *e, const char *want)
{
	char *s = kc_err_string(e);
	bool r = s && strstr(s, want);
	free(s);
	return r;
}

static struct kc_http *http_to_registry(void)
{
	struct kc_http *h = NULL;
	kc_err_t err = NULL;
	struct kc_http_config cfg = {.base_url = "http://" REGISTRY};
	assert_int_equal(kc_http_new(&cfg, &h, &err), 0);
	return h;
}

static void digest_of(const void *buf, size_t len, char out[KC_DIGEST_LEN + 1])
{
	kc_err_t err = NULL;
	assert_int_equal(kc_sha256_digest(buf, len, out, &err), 0);
}

/* Monolithic upload: POST for a session, PUT the bytes with ?digest=. */
static void push_blob(struct kc_http *h, struct pushed *p, const void *buf, size_t len,
		      char digest[KC_DIGEST_LEN + 1])
{
	kc_err_t err = NULL;
	char path[256];
	digest_of(buf, len, digest);
	struct kc_http_response resp = {0};
	snprintf(path, sizeof path, "/v2/%s/blobs/uploads/", p->repo);
	struct kc_http_request post = {.method = "POST", .path = path};
	assert_int_equal(kc_http_do(h, &post, &resp, &err), 0);
	assert_int_equal(resp.status, 202);
	const char *loc = kc_http_header(&resp, "Location");
	assert_non_null(loc);
	char *url = NULL;
	assert_true(asprintf(&url, "%s%sdigest=%s", loc, strchr(loc, '?') ? "&" : "?", digest) > 0);
	const char *hdrs[] = {"Content-Type: application/octet-stream", NULL};
	struct kc_http_request put = {
	    .method = "PUT", .path = url, .headers = hdrs, .body = buf, .body_len = len};
	assert_int_equal(kc_http_do(h, &put, &resp, &err), 0);
	if (resp.status != 201)
		fail_msg("blob PUT answered %ld: %s", resp.status, resp.body ? resp.body : "");
	assert_string_equal(kc_http_header(&resp, "Docker-Content-Digest"), digest);
	free(url);
	kc_http_response_free(&resp);
	snprintf(p->blobs[p->n_blobs++], KC_DIGEST_LEN + 1, "%s", digest);
}

static void push_manifest(struct kc_http *h, const struct pushed *p, const char *ref,
			  const char *media_type, const char *body, char digest[KC_DIGEST_LEN + 1])
{
	kc_err_t err = NULL;
	char path[256], ct[160];
	snprintf(path, sizeof path, "/v2/%s/manifests/%s", p->repo, ref);
	snprintf(ct, sizeof ct, "Content-Type: %s", media_type);
	const char *hdrs[] = {ct, NULL};
	struct kc_http_response resp = {0};
	struct kc_http_request put = {
	    .method = "PUT", .path = path, .headers = hdrs, .body = body, .body_len = strlen(body)};
	assert_int_equal(kc_http_do(h, &put, &resp, &err), 0);
	if (resp.status != 201)
		fail_msg("manifest PUT answered %ld: %s", resp.status, resp.body ? resp.body : "");
	const char *d = kc_http_header(&resp, "Docker-Content-Digest");
	assert_non_null(d);
	snprintf(digest, KC_DIGEST_LEN + 1, "%s", d);
	/* Our own hash of the bytes agrees with the registry's. */
	char mine[KC_DIGEST_LEN + 1];
	digest_of(body, strlen(body), mine);
	assert_string_equal(mine, digest);
	kc_http_response_free(&resp);
}

struct member {
	const char *path;
	char type;
	const char *data;
};

static void *make_tar(const struct member *m, size_t n, int gzip, size_t *len)
{
	size_t cap = 1 << 20;
	void *buf = malloc(cap);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (gzip)
		archive_write_add_filter_gzip(a);
	assert_int_equal(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].path);
		if (m[i].type == 'd') {
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, 0755);
		} else if (m[i].type == 'l') {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, m[i].data);
		} else {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_size(e, (la_int64_t)strlen(m[i].data));
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (m[i].type == 'f' && *m[i].data)
			archive_write_data(a, m[i].data, strlen(m[i].data));
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return buf;
}

static const struct member layer1[] = {
    {"etc/", 'd', NULL},
    {"etc/hello", 'f', "hello from kctl\n"},
    {"a/", 'd', NULL},
    {"a/x", 'f', "x"},
    {"a/y", 'f', "y"},
    {"bin/", 'd', NULL},
    {"bin/data", 'f', "version 1"},
    {"bin/link", 'l', "data"},
};
static const struct member layer2[] = {
    {"a/.wh.x", 'f', ""},
    {"bin/data", 'f', "version 2"},
    {"new", 'f', "new file"},
};

static char *config_json(const char *arch, const char *diff1, const char *diff2)
{
	char *s = NULL;
	assert_true(
	    asprintf(&s,
		     "{\"architecture\":\"%s\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/x\"]},"
		     "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
		     arch, diff1, diff2) > 0);
	return s;
}

static char *manifest_json(const char *cfg_digest, size_t cfg_size, const struct pushed *p)
{
	char *s = NULL;
	assert_true(
	    asprintf(&s,
		     "{\"schemaVersion\":2,\"mediaType\":\"" KC_MT_OCI_MANIFEST "\","
		     "\"config\":{\"mediaType\":\"" KC_MT_OCI_CONFIG "\",\"digest\":\"%s\","
		     "\"size\":%zu},\"layers\":["
		     "{\"mediaType\":\"" KC_MT_OCI_LAYER_GZIP "\",\"digest\":\"%s\",\"size\":%zu},"
		     "{\"mediaType\":\"" KC_MT_OCI_LAYER "\",\"digest\":\"%s\",\"size\":%zu}]}",
		     cfg_digest, cfg_size, p->layer_digest[0], p->layer_size[0], p->layer_digest[1],
		     p->layer_size[1]) > 0);
	return s;
}

static int setup(void **state)
{
	struct pushed *p = calloc(1, sizeof *p);
	snprintf(p->repo, sizeof p->repo, "kctl-test-registry-%d-%ld", (int)getpid(),
		 (long)time(NULL));
	struct kc_http *h = http_to_registry();

	size_t l1_len, l1gz_len, l2_len;
	void *l1 = make_tar(layer1, sizeof layer1 / sizeof layer1[0], 0, &l1_len);
	void *l1gz = make_tar(layer1, sizeof layer1 / sizeof layer1[0], 1, &l1gz_len);
	void *l2 = make_tar(layer2, sizeof layer2 / sizeof layer2[0], 0, &l2_len);
	char diff1[KC_DIGEST_LEN + 1], diff2[KC_DIGEST_LEN + 1];
	digest_of(l1, l1_len, diff1);
	digest_of(l2, l2_len, diff2);
	/* Layer 1 gzip-compressed, layer 2 plain: both paths of the reader. */
	push_blob(h, p, l1gz, l1gz_len, p->layer_digest[0]);
	p->layer_size[0] = l1gz_len;
	push_blob(h, p, l2, l2_len, p->layer_digest[1]);
	p->layer_size[1] = l2_len;

	p->cfg = config_json("amd64", diff1, diff2);
	push_blob(h, p, p->cfg, strlen(p->cfg), p->cfg_digest);
	char *m = manifest_json(p->cfg_digest, strlen(p->cfg), p);
	push_manifest(h, p, "v1", KC_MT_OCI_MANIFEST, m, p->v1_digest);
	size_t amd_size = strlen(m);
	free(m);

	char *arm_cfg = config_json("arm64", diff1, diff2);
	char arm_cfg_digest[KC_DIGEST_LEN + 1];
	push_blob(h, p, arm_cfg, strlen(arm_cfg), arm_cfg_digest);
	m = manifest_json(arm_cfg_digest, strlen(arm_cfg), p);
	char arm_ref[KC_DIGEST_LEN + 1];
	digest_of(m, strlen(m), arm_ref);
	push_manifest(h, p, arm_ref, KC_MT_OCI_MANIFEST, m, p->arm_digest);
	size_t arm_size = strlen(m);
	free(m);
	free(arm_cfg);

	/* arm64 listed first, so picking the first entry would be wrong. */
	char *idx = NULL;
	assert_true(
	    asprintf(&idx,
		     "{\"schemaVersion\":2,\"mediaType\":\"" KC_MT_OCI_INDEX "\","
		     "\"manifests\":["
		     "{\"mediaType\":\"" KC_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,"
		     "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
		     "{\"mediaType\":\"" KC_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,"
		     "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
		     p->arm_digest, arm_size, p->v1_digest, amd_size) > 0);
	push_manifest(h, p, "multi", KC_MT_OCI_INDEX, idx, p->idx_digest);
	free(idx);
	free(l1);
	free(l1gz);
	free(l2);
	kc_http_free(h);
	*state = p;
	return 0;
}

/* Deletes what setup pushed. Registries may have deletes disabled (405):
 * then the content stays in the registry's storage, which is acceptable. */
static int teardown(void **state)
{
	struct pushed *p = *state;
	struct kc_http *h = http_to_registry();
	const char *manifests[] = {p->idx_digest, p->v1_digest, p->arm_digest};
	for (size_t i = 0; i < 3; i++) {
		char path[256];
		kc_err_t err = NULL;
		struct kc_http_response resp = {0};
		snprintf(path, sizeof path, "/v2/%s/manifests/%s", p->repo, manifests[i]);
		struct kc_http_request del = {.method = "DELETE", .path = path};
		if (kc_http_do(h, &del, &resp, &err) == 0 && resp.status != 202 &&
		    resp.status != 404 && resp.status != 405)
			fprintf(stderr, "delete %s: HTTP %ld\n", path, resp.status);
		kc_err_free(&err);
		kc_http_response_free(&resp);
	}
	for (size_t i = 0; i < p->n_blobs; i++) {
		char path[256];
		kc_err_t err = NULL;
		struct kc_http_response resp = {0};
		snprintf(path, sizeof path, "/v2/%s/blobs/%s", p->repo, p->blobs[i]);
		struct kc_http_request del = {.method = "DELETE", .path = path};
		kc_http_do(h, &del, &resp, &err);
		kc_err_free(&err);
		kc_http_response_free(&resp);
	}
	kc_http_free(h);
	free(p->cfg);
	free(p);
	return 0;
}

static void parse_ref(const char *fmt, const char *a, const char *b, struct kc_ref *r)
{
	char s[512];
	kc_err_t err = NULL;
	snprintf(s, sizeof s, fmt, a, b);
	assert_int_equal(kc_ref_parse(s, r, &err), 0);
}

static struct kc_registry *client(void)
{
	struct kc_registry *r = NULL;
	kc_err_t err = NULL;
	/* An empty docker config dir: anonymous, whatever the machine has. */
	struct kc_registry_opts o = {.docker_config_dir = "/nonexistent-kctl-test"};
	assert_int_equal(kc_registry_new(&o, &r, &err), 0);
	return r;
}

static void test_resolve_tag(void **state)
{
	struct pushed *p = *state;
	struct kc_registry *r = client();
	struct kc_ref ref;
	struct kc_image_info info;
	kc_err_t err = NULL;
	parse_ref(REGISTRY "/%s:v1%s", p->repo, "", &ref);
	if (kc_registry_resolve(r, &ref, &info, &err) != 0)
		fail_msg("resolve: %s", kc_err_string(err));
	assert_string_equal(info.digest, p->v1_digest);
	assert_string_equal(info.manifest_digest, p->v1_digest);
	assert_string_equal(info.index_digest, "");
	assert_string_equal(info.media_type, KC_MT_OCI_MANIFEST);
	assert_string_equal(info.platform, "linux/amd64"); /* read from the config blob */
	assert_string_equal(info.config.digest, p->cfg_digest);
	assert_int_equal(info.config.size, strlen(p->cfg));
	assert_int_equal(info.n_layers, 2);
	assert_string_equal(info.layers[0].digest, p->layer_digest[0]);
	assert_int_equal(info.layers[0].size, p->layer_size[0]);
	assert_string_equal(info.layers[0].media_type, KC_MT_OCI_LAYER_GZIP);
	assert_string_equal(info.layers[1].media_type, KC_MT_OCI_LAYER);
	char want[256];
	snprintf(want, sizeof want, REGISTRY "/%s:v1", p->repo);
	assert_string_equal(info.reference, want);

	/* The JSON the CLI prints. */
	char *json = kc_image_info_to_json(&info, false);
	yajl_val root = NULL;
	assert_int_equal(kc_json_parse(json, strlen(json), &root, &err), 0);
	const char *v;
	assert_int_equal(kc_json_get_str(root, "/reference", &v, &err), 0);
	assert_string_equal(v, want);
	assert_int_equal(kc_json_get_str(root, "/digest", &v, &err), 0);
	assert_string_equal(v, p->v1_digest);
	assert_int_equal(kc_json_get_str(root, "/mediaType", &v, &err), 0);
	assert_string_equal(v, KC_MT_OCI_MANIFEST);
	assert_int_equal(kc_json_get_str(root, "/platform", &v, &err), 0);
	assert_string_equal(v, "linux/amd64");
	assert_int_equal(kc_json_get_str(root, "/layers/1/digest", &v, &err), 0);
	assert_string_equal(v, p->layer_digest[1]);
	snprintf(want, sizeof want, REGISTRY "/%s@%s", p->repo, p->v1_digest);
	assert_int_equal(kc_json_get_str(root, "/pinned", &v, &err), 0);
	assert_string_equal(v, want);
	yajl_tree_free(root);
	free(json);
	kc_image_info_free(&info);

	/* Resolving the pinned form gives the same digest. */
	parse_ref(REGISTRY "/%s@%s", p->repo, p->v1_digest, &ref);
	assert_int_equal(kc_registry_resolve(r, &ref, &info, &err), 0);
	assert_string_equal(info.digest, p->v1_digest);
	kc_image_info_free(&info);

	struct kc_http_stats st;
	kc_registry_stats(r, &st);
	/* HEAD+GET manifest, HEAD+GET config, twice. */
	assert_int_equal(st.requests, 8);
	assert_true(st.bytes_received > 0);
	kc_registry_free(r);
}

static void test_resolve_index(void **state)
{
	struct pushed *p = *state;
	struct kc_image_info info;
	struct kc_http_stats st;
	kc_err_t err = NULL;
	char s[256];
	snprintf(s, sizeof s, REGISTRY "/%s:multi", p->repo);
	struct kc_registry_opts o = {.docker_config_dir = "/nonexistent-kctl-test"};
	if (kc_image_resolve(s, &o, &info, &st, &err) != 0)
		fail_msg("resolve: %s", kc_err_string(err));
	/* Pinning names the index, as docker's RepoDigests do. */
	assert_string_equal(info.digest, p->idx_digest);
	assert_string_equal(info.index_digest, p->idx_digest);
	assert_string_equal(info.manifest_digest, p->v1_digest);
	assert_string_equal(info.media_type, KC_MT_OCI_INDEX);
	assert_string_equal(info.manifest_media_type, KC_MT_OCI_MANIFEST);
	assert_string_equal(info.platform, "linux/amd64");
	assert_string_equal(info.config.digest, p->cfg_digest);
	assert_int_equal(st.requests, 4);
	kc_image_info_free(&info);

	/* arm64 picks the other entry. */
	o.arch = "arm64";
	assert_int_equal(kc_image_resolve(s, &o, &info, NULL, &err), 0);
	assert_string_equal(info.digest, p->idx_digest);
	assert_string_equal(info.manifest_digest, p->arm_digest);
	assert_string_equal(info.platform, "linux/arm64");
	kc_image_info_free(&info);
	o.arch = "s390x";
	assert_int_equal(kc_image_resolve(s, &o, &info, NULL, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	assert_true(err_has(err, "linux/arm64, linux/amd64"));
	kc_err_free(&err);
}

static void test_missing_tag_and_digest(void **state)
{
	struct pushed *p = *state;
	struct kc_image_info info;
	kc_err_t err = NULL;
	char s[256], want[300];
	snprintf(s, sizeof s, REGISTRY "/%s:nope", p->repo);
	assert_int_equal(kc_image_resolve(s, NULL, &info, NULL, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	assert_int_equal(kc_err_http_status(err), 404);
	snprintf(want, sizeof want, "manifest unknown: " REGISTRY "/%s:nope", p->repo);
	char *msg = kc_err_string(err);
	if (!strstr(msg, want))
		fail_msg("\"%s\" lacks \"%s\"", msg, want);
	free(msg);
	kc_err_free(&err);

	snprintf(s, sizeof s, REGISTRY "/%s@sha256:%064d", p->repo, 0);
	assert_int_equal(kc_image_resolve(s, NULL, &info, NULL, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	kc_err_free(&err);

	/* A repository nobody pushed. */
	snprintf(s, sizeof s, REGISTRY "/%s-absent:v1", p->repo);
	assert_int_equal(kc_image_resolve(s, NULL, &info, NULL, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	kc_err_free(&err);

	/* Bad references never reach the network. */
	struct kc_http_stats st;
	assert_int_equal(kc_image_resolve(REGISTRY "/Upper:v1", NULL, &info, &st, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	assert_int_equal(st.requests, 0);
	kc_err_free(&err);
}

static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd); /* bound, never listened, now closed: connections are refused */
	return ntohs(a.sin_port);
}

static void test_unreachable(void **state)
{
	(void)state;
	struct kc_image_info info;
	kc_err_t err = NULL;
	char s[128], want[64];
	int port = closed_port();
	snprintf(s, sizeof s, "127.0.0.1:%d/kctl-test-registry-x:v1", port);
	struct kc_registry_opts o = {.max_retries = -1, .connect_timeout_ms = 2000};
	assert_int_equal(kc_image_resolve(s, &o, &info, NULL, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_UNAVAIL);
	snprintf(want, sizeof want, "registry 127.0.0.1:%d is not answering", port);
	char *msg = kc_err_string(err);
	if (!strstr(msg, want))
		fail_msg("\"%s\" lacks \"%s\"", msg, want);
	free(msg);
	kc_err_free(&err);
}

static void test_blobs(void **state)
{
	struct pushed *p = *state;
	struct kc_registry *r = client();
	struct kc_ref ref;
	kc_err_t err = NULL;
	char *buf = NULL;
	size_t len;
	parse_ref(REGISTRY "/%s%s", p->repo, "", &ref);
	assert_int_equal(
	    kc_registry_fetch_blob_mem(r, &ref, p->cfg_digest, 1 << 20, &buf, &len, &err), 0);
	assert_int_equal(len, strlen(p->cfg));
	assert_memory_equal(buf, p->cfg, len);
	free(buf);

	/* The size limit holds. */
	assert_int_equal(kc_registry_fetch_blob_mem(r, &ref, p->cfg_digest, 10, &buf, &len, &err),
			 -1);
	assert_int_equal(kc_err_kind(err), KC_E_TOOBIG);
	kc_err_free(&err);

	/* Streaming into a file. */
	FILE *f = tmpfile();
	uint64_t written = 0;
	assert_int_equal(kc_registry_fetch_blob_fd(r, &ref, p->layer_digest[0], 1 << 20, fileno(f),
						   &written, &err),
			 0);
	assert_int_equal(written, p->layer_size[0]);
	fclose(f);

	char missing[KC_DIGEST_LEN + 1];
	digest_of("not pushed", 10, missing);
	assert_int_equal(kc_registry_fetch_blob_mem(r, &ref, missing, 1 << 20, &buf, &len, &err),
			 -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "blob unknown"));
	kc_err_free(&err);
	kc_registry_free(r);
}

static void test_file_index(void **state)
{
	struct pushed *p = *state;
	struct kc_registry *r = client();
	struct kc_ref ref;
	struct kc_image_info info;
	struct kc_file_index *idx = NULL;
	kc_err_t err = NULL;
	parse_ref(REGISTRY "/%s:multi%s", p->repo, "", &ref);
	assert_int_equal(kc_registry_resolve(r, &ref, &info, &err), 0);
	if (kc_registry_file_index(r, &info, 0, &idx, &err) != 0)
		fail_msg("file index: %s", kc_err_string(err));
	char list[512] = "";
	for (size_t i = 0; i < idx->n; i++) {
		strcat(list, i ? " " : "");
		strcat(list, idx->entries[i].path);
	}
	assert_string_equal(list, "/a /a/y /bin /bin/data /bin/link /etc /etc/hello /new");
	char want[KC_DIGEST_LEN + 1];
	digest_of("version 2", 9, want);
	assert_string_equal(kc_file_index_find(idx, "/bin/data")->sha256, want);
	digest_of("hello from kctl\n", 16, want);
	assert_string_equal(kc_file_index_find(idx, "/etc/hello")->sha256, want);
	assert_string_equal(kc_file_index_find(idx, "/bin/link")->link, "data");
	kc_file_index_free(idx);
	kc_image_info_free(&info);
	kc_registry_free(r);
}

int main(void)
{
	cleanup_http_resp struct kc_http_response resp = {0};
	struct kc_http *h = http_to_registry();
	kc_err_t err = NULL;
	struct kc_http_request ping = {.path = "/v2/", .no_retry = true};
	if (kc_http_do(h, &ping, &resp, &err) != 0 || resp.status != 200) {
		fprintf(stderr, "registry-integration: no registry at " REGISTRY
				" (run hack/engine up); skipped\n");
		kc_err_free(&err);
		kc_http_free(h);
		return 77;
	}
	kc_http_free(h);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resolve_tag),
	    cmocka_unit_test(test_resolve_index),
	    cmocka_unit_test(test_missing_tag_and_digest),
	    cmocka_unit_test(test_unreachable),
	    cmocka_unit_test(test_blobs),
	    cmocka_unit_test(test_file_index),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
