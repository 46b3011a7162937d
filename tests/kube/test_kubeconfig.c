/* Unit tests of shim/engine/kubeconfig.c: merging as kubectl merges, context and
 * namespace selection, each credential kind (token, tokenFile with rotation,
 * client certificate data and files, exec plugins with caching and expiry),
 * in-cluster config from a fake service-account directory, RFC 3339 times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shim/base/cleanup.h"
#include "shim/engine/kubeconfig.h"

static char tmpdir[64];

static void write_file(const char *path, const char *content, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	chmod(path, mode);
}

static char *tpath(const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	return p;
}

static int load2(const char *a, const char *b, const struct kc_kubeconfig_opts *o,
		 struct kc_kubeconfig **out, kc_err_t *err)
{
	const char *bufs[2] = {a, b};
	size_t lens[2] = {strlen(a), b ? strlen(b) : 0};
	const char *names[2] = {"a.yaml", "b.yaml"};
	const char *dirs[2] = {tmpdir, "/other"};
	return kc_kubeconfig_from_buffers(bufs, lens, names, dirs, b ? 2 : 1, o, out, err);
}

static const char *FILE_A =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: a-ctx\n"
    "clusters:\n"
    "- name: c1\n"
    "  cluster: {server: 'https://a.example:6443/', certificate-authority: ca.pem}\n"
    "contexts:\n"
    "- name: a-ctx\n"
    "  context: {cluster: c1, user: u1, namespace: team-a}\n"
    "- name: shared\n"
    "  context: {cluster: c1, user: u1}\n"
    "users:\n"
    "- name: u1\n"
    "  user: {token: token-a}\n";

static const char *FILE_B = "apiVersion: v1\n"
			    "kind: Config\n"
			    "current-context: b-ctx\n"
			    "clusters:\n"
			    "- name: c1\n"
			    "  cluster: {server: 'https://b-loses.example'}\n"
			    "- name: c2\n"
			    "  cluster:\n"
			    "    server: https://b.example\n"
			    "    insecure-skip-tls-verify: true\n"
			    "contexts:\n"
			    "- name: shared\n"
			    "  context: {cluster: c2, user: u2}\n"
			    "- name: b-ctx\n"
			    "  context: {cluster: c2, user: u2}\n"
			    "users:\n"
			    "- name: u1\n"
			    "  user: {token: token-b-loses}\n"
			    "- name: u2\n"
			    "  user: {tokenFile: tok}\n";

static void test_merge_first_wins(void **state)
{
	(void)state;
	cleanup_err kc_err_t err = NULL;
	struct kc_kubeconfig *kc = NULL;
	assert_int_equal(load2(FILE_A, FILE_B, NULL, &kc, &err), 0);
	/* current-context from the first file that sets it */
	assert_string_equal(kc->context, "a-ctx");
	/* cluster c1 and user u1 from the first file; trailing slash trimmed */
	assert_string_equal(kc->server, "https://a.example:6443");
	/* relative file paths resolve against the defining file's directory */
	cleanup_free char *ca = tpath("ca.pem");
	assert_string_equal(kc->ca_file, ca);
	assert_string_equal(kc->token, "token-a");
	assert_string_equal(kc->namespace, "team-a");
	assert_false(kc->insecure);
	kc_kubeconfig_free(kc);

	/* context "shared" exists in both: the first file's wins */
	struct kc_kubeconfig_opts o = {.context = "shared"};
	assert_int_equal(load2(FILE_A, FILE_B, &o, &kc, &err), 0);
	assert_string_equal(kc->cluster, "c1");
	assert_string_equal(kc->namespace, "default");
	kc_kubeconfig_free(kc);

	/* a context only in the second file, with its cluster and user */
	o.context = "b-ctx";
	o.namespace = "override";
	assert_int_equal(load2(FILE_A, FILE_B, &o, &kc, &err), 0);
	assert_string_equal(kc->server, "https://b.example");
	assert_true(kc->insecure);
	assert_string_equal(kc->token_file, "/other/tok");
	assert_string_equal(kc->namespace, "override");
	kc_kubeconfig_free(kc);
}

static void test_context_errors(void **state)
{
	(void)state;
	cleanup_err kc_err_t err = NULL;
	struct kc_kubeconfig *kc = NULL;
	struct kc_kubeconfig_opts o = {.context = "nope"};
	assert_int_equal(load2(FILE_A, NULL, &o, &kc, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	assert_non_null(strstr(err->msg, "nope"));
	kc_err_free(&err);
	assert_int_equal(load2("apiVersion: v1\nkind: Config\n", NULL, NULL, &kc, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
	kc_err_free(&err);
	/* a context whose cluster is missing */
	const char *bad = "current-context: x\ncontexts:\n- {name: x, context: {cluster: gone}}\n";
	assert_int_equal(load2(bad, NULL, NULL, &kc, &err), -1);
	assert_non_null(strstr(err->msg, "gone"));
	kc_err_free(&err);
	/* not a mapping */
	assert_int_equal(load2("- a\n- b\n", NULL, NULL, &kc, &err), -1);
	kc_err_free(&err);
	/* auth-provider is refused by name, not ignored */
	const char *ap = "current-context: x\nclusters: [{name: c, cluster: {server: "
			 "'https://h'}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
			 "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n";
	assert_int_equal(load2(ap, NULL, NULL, &kc, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_UNSUPPORTED);
}

static void test_token_file_rotation(void **state)
{
	(void)state;
	cleanup_err kc_err_t err = NULL;
	struct kc_kubeconfig *kc = NULL;
	struct kc_kubeconfig_opts o = {.context = "b-ctx"};
	const char *b = "current-context: b-ctx\n"
			"clusters: [{name: c2, cluster: {server: 'https://b'}}]\n"
			"contexts: [{name: b-ctx, context: {cluster: c2, user: u2}}]\n"
			"users: [{name: u2, user: {tokenFile: tok}}]\n";
	assert_int_equal(load2(b, NULL, &o, &kc, &err), 0);
	cleanup_free char *tok = tpath("tok");
	write_file(tok, "first\n", 0600);
	char *t = NULL;
	assert_int_equal(kc_kubeconfig_token(kc, &t, &err), 0);
	assert_string_equal(t, "first");
	free(t);
	write_file(tok, "second", 0600);
	assert_int_equal(kc_kubeconfig_token(kc, &t, &err), 0);
	assert_string_equal(t, "second");
	free(t);
	unlink(tok);
	assert_int_equal(kc_kubeconfig_token(kc, &t, &err), -1);
	kc_kubeconfig_free(kc);
}

static void test_client_cert_data(void **state)
{
	(void)state;
	cleanup_err kc_err_t err = NULL;
	struct kc_kubeconfig *kc = NULL;
	/* "CERT PEM\n" and "KEY PEM\n", "CA\n" in base64 */
	const char *y = "current-context: x\n"
			"clusters: [{name: c, cluster: {server: 'https://h', "
			"certificate-authority-data: Q0EK}}]\n"
			"contexts: [{name: x, context: {cluster: c, user: u}}]\n"
			"users: [{name: u, user: {client-certificate-data: Q0VSVCBQRU0K, "
			"client-key-data: S0VZIFBFTQo=}}]\n";
	assert_int_equal(load2(y, NULL, NULL, &kc, &err), 0);
	struct kc_http_config hc;
	assert_int_equal(kc_kubeconfig_http(kc, &hc, &err), 0);
	assert_string_equal(hc.client_cert_pem, "CERT PEM\n");
	assert_string_equal(hc.client_key_pem, "KEY PEM\n");
	assert_string_equal(hc.ca_pem, "CA\n");
	assert_false(hc.insecure_skip_verify);
	char *t = NULL;
	assert_int_equal(kc_kubeconfig_token(kc, &t, &err), 0);
	assert_null(t);
	kc_kubeconfig_free(kc);

	/* files, and a certificate without its key */
	const char *f = "current-context: x\n"
			"clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
			"contexts: [{name: x, context: {cluster: c, user: u}}]\n"
			"users: [{name: u, user: {client-certificate: /abs/c.crt}}]\n";
	assert_int_equal(load2(f, NULL, NULL, &kc, &err), 0);
	assert_string_equal(kc->client_cert_file, "/abs/c.crt");
	assert_int_equal(kc_kubeconfig_http(kc, &hc, &err), -1);
	kc_err_free(&err);
	kc_kubeconfig_free(kc);

	const char *bad = "current-context: x\n"
			  "clusters: [{name: c, cluster: {server: 'https://h', "
			  "certificate-authority-data: '!!!'}}]\n"
			  "contexts: [{name: x, context: {cluster: c}}]\n";
	assert_int_equal(load2(bad, NULL, NULL, &kc, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_INVALID);
}

static char *exec_kubeconfig(const char *script, const char *mode)
{
	char *y = NULL;
	cleanup_free char *count = tpath("count");
	assert_true(asprintf(&y,
			     "current-context: x\n"
			     "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
			     "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
			     "users:\n"
			     "- name: u\n"
			     "  user:\n"
			     "    exec:\n"
			     "      apiVersion: client.authentication.k8s.io/v1\n"
			     "      command: %s\n"
			     "      args: [%s]\n"
			     "      env: [{name: COUNT, value: %s}]\n"
			     "      provideClusterInfo: true\n",
			     script, mode, count) > 0);
	return y;
}

static int count_runs(void)
{
	cleanup_free char *count = tpath("count");
	FILE *f = fopen(count, "r");
	if (!f)
		return 0;
	int n = 0, c;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void test_exec_plugin(void **state)
{
	(void)state;
	cleanup_free char *script = tpath("plugin.sh");
	write_file(script,
		   "#!/bin/sh\n"
		   "echo run >>\"$COUNT\"\n"
		   "case $KUBERNETES_EXEC_INFO in *'\"server\":\"https://h\"'*) ;; "
		   "*) exit 9;; esac\n"
		   "case $1 in\n"
		   "token) echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
		   "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-1\","
		   "\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}}';;\n"
		   "expired) echo '{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-2\","
		   "\"expirationTimestamp\":\"2000-01-01T00:00:00.5+01:00\"}}';;\n"
		   "cert) echo '{\"kind\":\"ExecCredential\",\"status\":{"
		   "\"clientCertificateData\":\"C\",\"clientKeyData\":\"K\"}}';;\n"
		   "garbage) echo 'not json';;\n"
		   "*) exit 3;;\n"
		   "esac\n",
		   0755);
	cleanup_free char *count = tpath("count");
	cleanup_err kc_err_t err = NULL;
	struct kc_kubeconfig *kc = NULL;
	char *t = NULL;

	unlink(count);
	cleanup_free char *y1 = exec_kubeconfig(script, "token");
	assert_int_equal(load2(y1, NULL, NULL, &kc, &err), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kc_kubeconfig_token(kc, &t, &err), 0);
		assert_string_equal(t, "tok-1");
		free(t);
	}
	assert_int_equal(count_runs(), 1); /* cached until expiry */
	kc_kubeconfig_free(kc);

	unlink(count);
	cleanup_free char *y2 = exec_kubeconfig(script, "expired");
	assert_int_equal(load2(y2, NULL, NULL, &kc, &err), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(kc_kubeconfig_token(kc, &t, &err), 0);
		assert_string_equal(t, "tok-2");
		free(t);
	}
	assert_int_equal(count_runs(), 2); /* expired: run again */
	kc_kubeconfig_free(kc);

	cleanup_free char *y3 = exec_kubeconfig(script, "cert");
	assert_int_equal(load2(y3, NULL, NULL, &kc, &err), 0);
	struct kc_http_config hc;
	assert_int_equal(kc_kubeconfig_http(kc, &hc, &err), 0);
	assert_string_equal(hc.client_cert_pem, "C");
	assert_string_equal(hc.client_key_pem, "K");
	assert_int_equal(kc_kubeconfig_token(kc, &t, &err), 0);
	assert_null(t);
	kc_kubeconfig_free(kc);

	cleanup_free char *y4 = exec_kubeconfig(script, "garbage");
	assert_int_equal(load2(y4, NULL, NULL, &kc, &err), 0);
	assert_int_equal(kc_kubeconfig_token(kc, &t, &err), -1);
	kc_err_free(&err);
	kc_kubeconfig_free(kc);

	cleanup_free char *y5 = exec_kubeconfig(script, "fails");
	assert_int_equal(load2(y5, NULL, NULL, &kc, &err), 0);
	assert_int_equal(kc_kubeconfig_token(kc, &t, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_AUTH);
	assert_non_null(strstr(err->msg, "exit status 3"));
	kc_kubeconfig_free(kc);
}

static void test_in_cluster(void **state)
{
	(void)state;
	cleanup_free char *sa = tpath("sa");
	mkdir(sa, 0700);
	cleanup_free char *tok = tpath("sa/token"), *ns = tpath("sa/namespace");
	write_file(tok, "sa-token-1\n", 0600);
	write_file(ns, "apps\n", 0600);
	setenv("KCTL_SERVICEACCOUNT_DIR", sa, 1);
	setenv("KUBERNETES_SERVICE_HOST", "127.0.0.2", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	cleanup_err kc_err_t err = NULL;
	struct kc_kubeconfig *kc = NULL;
	assert_int_equal(kc_kubeconfig_in_cluster(NULL, &kc, &err), 0);
	assert_string_equal(kc->server, "https://127.0.0.2:443");
	assert_string_equal(kc->namespace, "apps");
	assert_true(kc->in_cluster);
	cleanup_free char *ca = tpath("sa/ca.crt");
	assert_string_equal(kc->ca_file, ca);
	char *t = NULL;
	assert_int_equal(kc_kubeconfig_token(kc, &t, &err), 0);
	assert_string_equal(t, "sa-token-1");
	free(t);
	write_file(tok, "sa-token-2", 0600); /* rotated by the kubelet */
	assert_int_equal(kc_kubeconfig_token(kc, &t, &err), 0);
	assert_string_equal(t, "sa-token-2");
	free(t);
	kc_kubeconfig_free(kc);

	/* IPv6 host, -n wins over the namespace file; the loader falls back to it */
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	unsetenv("KUBECONFIG");
	cleanup_free char *home = tpath("nohome");
	setenv("HOME", home, 1);
	struct kc_kubeconfig_opts o = {.namespace = "other"};
	assert_int_equal(kc_kubeconfig_load(&o, &kc, &err), 0);
	assert_string_equal(kc->server, "https://[fd00::1]:443");
	assert_string_equal(kc->namespace, "other");
	kc_kubeconfig_free(kc);

	/* KUBECONFIG naming only missing files also falls back to in-cluster */
	setenv("KUBECONFIG", "/nonexistent/a:/nonexistent/b", 1);
	assert_int_equal(kc_kubeconfig_load(NULL, &kc, &err), 0);
	assert_true(kc->in_cluster);
	kc_kubeconfig_free(kc);

	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kc_kubeconfig_load(NULL, &kc, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_NOTFOUND);
	unsetenv("KUBECONFIG");
	unsetenv("KCTL_SERVICEACCOUNT_DIR");
}

static void test_kubeconfig_env_files(void **state)
{
	(void)state;
	cleanup_free char *a = tpath("a.kubeconfig"), *b = tpath("b.kubeconfig");
	write_file(a, FILE_A, 0600);
	write_file(b, FILE_B, 0600);
	cleanup_free char *env = NULL;
	assert_true(asprintf(&env, "%s:/nonexistent:%s", b, a) > 0);
	setenv("KUBECONFIG", env, 1);
	cleanup_err kc_err_t err = NULL;
	struct kc_kubeconfig *kc = NULL;
	assert_int_equal(kc_kubeconfig_load(NULL, &kc, &err), 0);
	assert_string_equal(kc->context, "b-ctx"); /* b comes first now */
	kc_kubeconfig_free(kc);
	struct kc_kubeconfig_opts o = {.kubeconfig = a};
	assert_int_equal(kc_kubeconfig_load(&o, &kc, &err), 0);
	assert_string_equal(kc->context, "a-ctx"); /* --kubeconfig wins over KUBECONFIG */
	kc_kubeconfig_free(kc);
	unsetenv("KUBECONFIG");
}

static void test_rfc3339(void **state)
{
	(void)state;
	cleanup_err kc_err_t err = NULL;
	time_t t;
	assert_int_equal(kc_rfc3339_parse("1970-01-01T00:01:00Z", &t, &err), 0);
	assert_int_equal(t, 60);
	assert_int_equal(kc_rfc3339_parse("1970-01-01T01:00:00.123+01:00", &t, &err), 0);
	assert_int_equal(t, 0);
	assert_int_equal(kc_rfc3339_parse("1970-01-01T00:00:00", &t, &err), -1);
	kc_err_free(&err);
	assert_int_equal(kc_rfc3339_parse("yesterday", &t, &err), -1);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/kctl-kubeconfig-test.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_merge_first_wins),	 cmocka_unit_test(test_context_errors),
	    cmocka_unit_test(test_token_file_rotation),	 cmocka_unit_test(test_client_cert_data),
	    cmocka_unit_test(test_exec_plugin),		 cmocka_unit_test(test_in_cluster),
	    cmocka_unit_test(test_kubeconfig_env_files), cmocka_unit_test(test_rfc3339),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	return rc;
}
