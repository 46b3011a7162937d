/* Manifest and index parsing with platform selection on recorded documents,
 * WWW-Authenticate parsing, and docker config.json credential decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "registry/manifest.h"

#define DA                                                                                         \
	"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"                                                  \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB                                                                                         \
	"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"                                                  \
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC                                                                                         \
	"sha256:cccccccccccccccccccccccccccccccc"                                                  \
	"cccccccccccccccccccccccccccccccc"
#define DD                                                                                         \
	"sha256:dddddddddddddddddddddddddddddddd"                                                  \
	"dddddddddddddddddddddddddddddddd"
#define DE                                                                                         \
	"sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"                                                  \
	"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define DF                                                                                         \
	"sha256:ffffffffffffffffffffffffffffffff"                                                  \
	"ffffffffffffffffffffffffffffffff"

static void expect_err(int rc, kc_err_t *err, enum kc_err_kind kind, const char *want)
{
	assert_int_equal(rc, -1);
	assert_non_null(*err);
	char *s = kc_err_string(*err);
	if (kc_err_kind(*err) != kind)
		fail_msg("error \"%s\": kind %d, want %d (%s)", s, kc_err_kind(*err), kind, want);
	if (!strstr(s, want))
		fail_msg("error \"%s\" does not contain \"%s\"", s, want);
	free(s);
	kc_err_free(err);
}

/* Shape of docker.io/library/busybox's index as served (trimmed). */
static const char docker_list[] =
    "{\"manifests\":["
    "{\"digest\":\"" DA "\",\"mediaType\":\"" KC_MT_DOCKER_MANIFEST "\","
    "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"},\"size\":527},"
    "{\"digest\":\"" DB "\",\"mediaType\":\"" KC_MT_DOCKER_MANIFEST "\","
    "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"size\":528},"
    "{\"digest\":\"" DC "\",\"mediaType\":\"" KC_MT_DOCKER_MANIFEST "\","
    "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"},\"size\":527},"
    "{\"digest\":\"" DD "\",\"mediaType\":\"" KC_MT_DOCKER_MANIFEST "\","
    "\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0\"},"
    "\"size\":527}],"
    "\"mediaType\":\"" KC_MT_DOCKER_LIST "\",\"schemaVersion\":2}";

/* BuildKit-style OCI index: attestation entry first, amd64 variants. */
static const char oci_index[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" KC_MT_OCI_INDEX "\",\"manifests\":["
    "{\"mediaType\":\"" KC_MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":566,"
    "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"},"
    "\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}},"
    "{\"mediaType\":\"" KC_MT_OCI_MANIFEST "\",\"digest\":\"" DB "\",\"size\":100,"
    "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\",\"variant\":\"v3\"}},"
    "{\"mediaType\":\"" KC_MT_OCI_MANIFEST "\",\"digest\":\"" DC "\",\"size\":100,"
    "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\",\"variant\":\"v1\"}},"
    "{\"mediaType\":\"" KC_MT_OCI_INDEX "\",\"digest\":\"" DD "\",\"size\":100,"
    "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}";

static const char docker_manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" KC_MT_DOCKER_MANIFEST "\","
    "\"config\":{\"mediaType\":\"" KC_MT_DOCKER_CONFIG "\",\"size\":1457,\"digest\":\"" DE "\"},"
    "\"layers\":["
    "{\"mediaType\":\"" KC_MT_DOCKER_LAYER_GZIP "\",\"size\":2591575,\"digest\":\"" DF "\"},"
    "{\"mediaType\":\"" KC_MT_DOCKER_LAYER_GZIP "\",\"size\":32,\"digest\":\"" DA "\"}]}";

static void test_docker_list_amd64(void **state)
{
	(void)state;
	struct kc_manifest m;
	kc_err_t err = NULL;
	assert_int_equal(kc_manifest_parse(
			     docker_list, strlen(docker_list),
			     "application/vnd.docker.distribution.manifest.list.v2+json", &m, &err),
			 0);
	assert_int_equal(m.kind, KC_MANIFEST_INDEX);
	assert_string_equal(m.media_type, KC_MT_DOCKER_LIST);
	assert_true(kc_media_type_is_index(m.media_type));
	assert_int_equal(m.n_manifests, 4);
	assert_string_equal(m.manifests[0].variant, "v6");
	assert_int_equal(m.manifests[1].size, 528);
	size_t i = 99;
	assert_int_equal(kc_index_select(&m, "linux", "amd64", NULL, &i, &err), 0);
	assert_int_equal(i, 1);
	assert_string_equal(m.manifests[i].digest, DB);
	assert_int_equal(kc_index_select(&m, "linux", "arm64", NULL, &i, &err), 0);
	assert_int_equal(i, 2);
	assert_int_equal(kc_index_select(&m, "linux", "arm", "v6", &i, &err), 0);
	assert_int_equal(i, 0);
	assert_int_equal(kc_index_select(&m, "windows", "amd64", NULL, &i, &err), 0);
	assert_int_equal(i, 3);
	expect_err(kc_index_select(&m, "linux", "arm", "v7", &i, &err), &err, KC_E_NOTFOUND,
		   "linux/arm/v6, linux/amd64, linux/arm64/v8, windows/amd64");
	expect_err(kc_index_select(&m, "linux", "s390x", NULL, &i, &err), &err, KC_E_NOTFOUND,
		   "no manifest for platform linux/s390x");
	kc_manifest_free(&m);
}

static void test_oci_index_variants(void **state)
{
	(void)state;
	struct kc_manifest m;
	kc_err_t err = NULL;
	/* Content-Type parameters are ignored. */
	assert_int_equal(kc_manifest_parse(oci_index, strlen(oci_index),
					   KC_MT_OCI_INDEX "; charset=utf-8", &m, &err),
			 0);
	assert_int_equal(m.kind, KC_MANIFEST_INDEX);
	size_t i;
	/* No plain amd64: v1 is the baseline every amd64 runs. */
	assert_int_equal(kc_index_select(&m, "linux", "amd64", NULL, &i, &err), 0);
	assert_int_equal(i, 2);
	assert_int_equal(kc_index_select(&m, "linux", "amd64", "v3", &i, &err), 0);
	assert_int_equal(i, 1);
	/* Attestations never match; a nested index is not runnable. */
	expect_err(kc_index_select(&m, "unknown", "unknown", NULL, &i, &err), &err, KC_E_NOTFOUND,
		   "no manifest");
	expect_err(kc_index_select(&m, "linux", "arm64", NULL, &i, &err), &err, KC_E_NOTFOUND,
		   "no manifest");
	kc_manifest_free(&m);

	/* application/json from the server: the document's mediaType decides. */
	assert_int_equal(
	    kc_manifest_parse(oci_index, strlen(oci_index), "application/json", &m, &err), 0);
	assert_int_equal(m.kind, KC_MANIFEST_INDEX);
	assert_string_equal(m.media_type, KC_MT_OCI_INDEX);
	kc_manifest_free(&m);
}

static void test_image_manifest(void **state)
{
	(void)state;
	struct kc_manifest m;
	kc_err_t err = NULL;
	assert_int_equal(
	    kc_manifest_parse(docker_manifest, strlen(docker_manifest), NULL, &m, &err), 0);
	assert_int_equal(m.kind, KC_MANIFEST_IMAGE);
	assert_string_equal(m.media_type, KC_MT_DOCKER_MANIFEST);
	assert_string_equal(m.config.digest, DE);
	assert_int_equal(m.config.size, 1457);
	assert_string_equal(m.config.media_type, KC_MT_DOCKER_CONFIG);
	assert_int_equal(m.n_layers, 2);
	assert_string_equal(m.layers[0].digest, DF);
	assert_int_equal(m.layers[0].size, 2591575);
	assert_string_equal(m.layers[1].media_type, KC_MT_DOCKER_LAYER_GZIP);
	size_t i;
	expect_err(kc_index_select(&m, "linux", "amd64", NULL, &i, &err), &err, KC_E_INVALID,
		   "not an image index");
	kc_manifest_free(&m);

	/* OCI manifest without mediaType anywhere: the shape decides. */
	const char bare[] = "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":2},"
			    "\"layers\":[]}";
	assert_int_equal(kc_manifest_parse(bare, strlen(bare), "", &m, &err), 0);
	assert_int_equal(m.kind, KC_MANIFEST_IMAGE);
	assert_string_equal(m.media_type, KC_MT_OCI_MANIFEST);
	assert_int_equal(m.n_layers, 0);
	assert_string_equal(m.config.media_type, "");
	kc_manifest_free(&m);
}

static void test_bad_manifests(void **state)
{
	(void)state;
	struct kc_manifest m;
	kc_err_t err = NULL;
	const char *s;

	s = "{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}";
	expect_err(kc_manifest_parse(s, strlen(s), NULL, &m, &err), &err, KC_E_UNSUPPORTED,
		   "schema 1");
	s = "{}";
	expect_err(kc_manifest_parse(s, strlen(s),
				     "application/vnd.docker.distribution.manifest.v1+prettyjws",
				     &m, &err),
		   &err, KC_E_UNSUPPORTED, "schema 1");
	s = "{\"schemaVersion\":3}";
	expect_err(kc_manifest_parse(s, strlen(s), NULL, &m, &err), &err, KC_E_PROTO,
		   "schemaVersion 3");
	s = "[1,2]";
	expect_err(kc_manifest_parse(s, strlen(s), NULL, &m, &err), &err, KC_E_PROTO,
		   "not a JSON object");
	s = "{\"schemaVersion\":2,";
	expect_err(kc_manifest_parse(s, strlen(s), NULL, &m, &err), &err, KC_E_PROTO,
		   "invalid JSON");
	s = "{\"schemaVersion\":2,\"mediaType\":\"text/html\"}";
	expect_err(kc_manifest_parse(s, strlen(s), NULL, &m, &err), &err, KC_E_UNSUPPORTED,
		   "text/html");
	s = "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":2}}";
	expect_err(kc_manifest_parse(s, strlen(s), KC_MT_OCI_MANIFEST, &m, &err), &err, KC_E_PROTO,
		   "/layers: missing");
	s = "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:abc\",\"size\":2},\"layers\":[]}";
	expect_err(kc_manifest_parse(s, strlen(s), KC_MT_OCI_MANIFEST, &m, &err), &err, KC_E_PROTO,
		   "invalid digest");
	s = "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha512:abc\",\"size\":2},\"layers\":[]}";
	expect_err(kc_manifest_parse(s, strlen(s), KC_MT_OCI_MANIFEST, &m, &err), &err,
		   KC_E_UNSUPPORTED, "sha256 only");
	s = "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":-1},\"layers\":[]}";
	expect_err(kc_manifest_parse(s, strlen(s), KC_MT_OCI_MANIFEST, &m, &err), &err, KC_E_PROTO,
		   "negative size");
	s = "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":\"2\"},\"layers\":[]}";
	expect_err(kc_manifest_parse(s, strlen(s), KC_MT_OCI_MANIFEST, &m, &err), &err, KC_E_PROTO,
		   "expected integer");
	/* A bad entry after good ones: everything is released (ASan checks). */
	s = "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":2},\"layers\":["
	    "{\"digest\":\"" DB "\",\"size\":1,\"mediaType\":\"x\"},{\"digest\":7,\"size\":1}]}";
	expect_err(kc_manifest_parse(s, strlen(s), KC_MT_OCI_MANIFEST, &m, &err), &err, KC_E_PROTO,
		   "layers[1]");
	s = "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" DB "\",\"size\":1,"
	    "\"platform\":{\"os\":\""
	    "linuxlinuxlinuxlinuxlinuxlinuxlinux\"}}]}";
	expect_err(kc_manifest_parse(s, strlen(s), KC_MT_OCI_INDEX, &m, &err), &err, KC_E_PROTO,
		   "too long");
}

static void test_www_authenticate(void **state)
{
	(void)state;
	struct kc_auth_challenge c[KC_AUTH_MAX_CHALLENGES];
	kc_err_t err = NULL;

	int n = kc_auth_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry."
			      "docker.io\",scope=\"repository:library/busybox:pull\"",
			      c, KC_AUTH_MAX_CHALLENGES, &err);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].scheme, "Bearer");
	assert_string_equal(c[0].realm, "https://auth.docker.io/token");
	assert_string_equal(c[0].service, "registry.docker.io");
	assert_string_equal(c[0].scope, "repository:library/busybox:pull");
	assert_null(c[0].error);
	kc_auth_challenge_free(&c[0]);

	n = kc_auth_parse("Basic realm=\"Registry Realm\"", c, KC_AUTH_MAX_CHALLENGES, &err);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].scheme, "Basic");
	assert_string_equal(c[0].realm, "Registry Realm");
	kc_auth_challenge_free(&c[0]);

	/* Two challenges in one value, odd spacing, escapes, an unknown param,
	 * a token value, case-insensitive names, and an error. */
	n = kc_auth_parse("  Basic realm = \"a \\\"q\\\" b\" , charset=UTF-8,  bearer "
			  "REALM=\"http://127.0.0.1:1/t?x=1\", scope=\"repository:a:pull,push\","
			  "error=insufficient_scope",
			  c, KC_AUTH_MAX_CHALLENGES, &err);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].scheme, "Basic");
	assert_string_equal(c[0].realm, "a \"q\" b");
	assert_string_equal(c[1].scheme, "bearer");
	assert_string_equal(c[1].realm, "http://127.0.0.1:1/t?x=1");
	assert_string_equal(c[1].scope, "repository:a:pull,push");
	assert_string_equal(c[1].error, "insufficient_scope");
	assert_null(c[1].service);
	kc_auth_challenge_free(&c[0]);
	kc_auth_challenge_free(&c[1]);

	/* Unquoted URL (seen in the wild) and a token68 scheme before it. */
	n = kc_auth_parse("Negotiate abc==, Bearer realm=https://x/token", c,
			  KC_AUTH_MAX_CHALLENGES, &err);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].scheme, "Negotiate");
	assert_null(c[0].realm);
	assert_string_equal(c[1].realm, "https://x/token");
	kc_auth_challenge_free(&c[0]);
	kc_auth_challenge_free(&c[1]);

	/* Scheme alone. */
	n = kc_auth_parse("Bearer", c, KC_AUTH_MAX_CHALLENGES, &err);
	assert_int_equal(n, 1);
	assert_null(c[0].realm);
	kc_auth_challenge_free(&c[0]);

	expect_err(kc_auth_parse("", c, KC_AUTH_MAX_CHALLENGES, &err), &err, KC_E_PROTO,
		   "no challenge");
	expect_err(kc_auth_parse(NULL, c, KC_AUTH_MAX_CHALLENGES, &err), &err, KC_E_PROTO,
		   "no challenge");
	expect_err(kc_auth_parse("Bearer realm=\"unterminated", c, KC_AUTH_MAX_CHALLENGES, &err),
		   &err, KC_E_PROTO, "unterminated");
	expect_err(kc_auth_parse("Bearer realm=\"x\" junk", c, KC_AUTH_MAX_CHALLENGES, &err), &err,
		   KC_E_PROTO, "expected ','");
	expect_err(kc_auth_parse("=x", c, KC_AUTH_MAX_CHALLENGES, &err), &err, KC_E_PROTO,
		   "expected an auth scheme");
	expect_err(kc_auth_parse("A, B, C", c, 2, &err), &err, KC_E_PROTO, "more than 2");
	char *huge = malloc(10000);
	memcpy(huge, "Bearer realm=\"", 14);
	memset(huge + 14, 'x', 9000);
	strcpy(huge + 9014, "\"");
	expect_err(kc_auth_parse(huge, c, KC_AUTH_MAX_CHALLENGES, &err), &err, KC_E_PROTO,
		   "too long");
	free(huge);
}

static void test_docker_config(void **state)
{
	(void)state;
	kc_err_t err = NULL;
	char *u = NULL, *p = NULL;
	/* "user:pa:ss" and "hub:secret" in base64. */
	const char cfg[] =
	    "{\"auths\":{"
	    "\"127.0.0.1:5000\":{\"auth\":\"dXNlcjpwYTpzcw==\"},"
	    "\"https://index.docker.io/v1/\":{\"auth\":\"aHViOnNlY3JldA==\"},"
	    "\"http://reg.example:8443/v2/\":{\"username\":\"plain\",\"password\":\"pw\"},"
	    "\"helper.example\":{}},"
	    "\"credsStore\":\"desktop\"}";
	assert_int_equal(kc_docker_config_auth(cfg, strlen(cfg), "127.0.0.1:5000", &u, &p, &err),
			 1);
	assert_string_equal(u, "user");
	assert_string_equal(p, "pa:ss"); /* only the first ':' splits */
	free(u);
	free(p);
	assert_int_equal(kc_docker_config_auth(cfg, strlen(cfg), "docker.io", &u, &p, &err), 1);
	assert_string_equal(u, "hub");
	assert_string_equal(p, "secret");
	free(u);
	free(p);
	assert_int_equal(kc_docker_config_auth(cfg, strlen(cfg), "reg.example:8443", &u, &p, &err),
			 1);
	assert_string_equal(u, "plain");
	assert_string_equal(p, "pw");
	free(u);
	free(p);
	assert_int_equal(kc_docker_config_auth(cfg, strlen(cfg), "helper.example", &u, &p, &err),
			 0);
	assert_null(u);
	assert_int_equal(kc_docker_config_auth(cfg, strlen(cfg), "other:5000", &u, &p, &err), 0);
	assert_null(u);
	assert_int_equal(kc_docker_config_auth("{}", 2, "x", &u, &p, &err), 0);

	const char *bad = "{\"auths\":{\"h\":{\"auth\":\"!!!!\"}}}";
	expect_err(kc_docker_config_auth(bad, strlen(bad), "h", &u, &p, &err), &err, KC_E_INVALID,
		   "not valid base64");
	bad = "{\"auths\":{\"h\":{\"auth\":\"bm9jb2xvbg==\"}}}"; /* "nocolon" */
	expect_err(kc_docker_config_auth(bad, strlen(bad), "h", &u, &p, &err), &err, KC_E_INVALID,
		   "user:password");
	bad = "{\"auths\":[]}";
	expect_err(kc_docker_config_auth(bad, strlen(bad), "h", &u, &p, &err), &err, KC_E_INVALID,
		   "expected object");
	bad = "{\"auths\":";
	expect_err(kc_docker_config_auth(bad, strlen(bad), "h", &u, &p, &err), &err, KC_E_INVALID,
		   "docker config");
}

static void test_docker_config_file(void **state)
{
	(void)state;
	kc_err_t err = NULL;
	char *u = NULL, *p = NULL;
	char dir[] = "/tmp/kctl-test-registry-cfg-XXXXXX";
	assert_non_null(mkdtemp(dir));
	/* No file: no credentials, not an error. */
	assert_int_equal(kc_docker_config_load_auth(dir, "127.0.0.1:5000", &u, &p, &err), 0);
	char path[128];
	snprintf(path, sizeof path, "%s/config.json", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"YTpi\"}}}", f); /* a:b */
	fclose(f);
	assert_int_equal(kc_docker_config_load_auth(dir, "127.0.0.1:5000", &u, &p, &err), 1);
	assert_string_equal(u, "a");
	assert_string_equal(p, "b");
	free(u);
	free(p);
	/* $DOCKER_CONFIG is used when no directory is given. */
	setenv("DOCKER_CONFIG", dir, 1);
	assert_int_equal(kc_docker_config_load_auth(NULL, "127.0.0.1:5000", &u, &p, &err), 1);
	free(u);
	free(p);
	unsetenv("DOCKER_CONFIG");
	/* And $HOME/.docker/config.json otherwise. */
	char home[] = "/tmp/kctl-test-registry-home-XXXXXX";
	assert_non_null(mkdtemp(home));
	char ddir[128], dpath[160];
	snprintf(ddir, sizeof ddir, "%s/.docker", home);
	assert_int_equal(mkdir(ddir, 0700), 0);
	snprintf(dpath, sizeof dpath, "%s/config.json", ddir);
	assert_int_equal(rename(path, dpath), 0);
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	setenv("HOME", home, 1);
	assert_int_equal(kc_docker_config_load_auth(NULL, "127.0.0.1:5000", &u, &p, &err), 1);
	assert_string_equal(u, "a");
	free(u);
	free(p);
	if (old_home) {
		setenv("HOME", old_home, 1);
		free(old_home);
	}
	unlink(dpath);
	rmdir(ddir);
	rmdir(home);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_docker_list_amd64),  cmocka_unit_test(test_oci_index_variants),
	    cmocka_unit_test(test_image_manifest),     cmocka_unit_test(test_bad_manifests),
	    cmocka_unit_test(test_www_authenticate),   cmocka_unit_test(test_docker_config),
	    cmocka_unit_test(test_docker_config_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
