/* kubeconfig loading, merging, in-cluster config and credentials (kubeconfig.h). */
#include "kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/yaml.h"

extern char **environ;

#define KC_KUBECONFIG_MAX_FILE (4u << 20)
#define KC_KUBE_EXEC_TIMEOUT_MS 60000

static int read_bounded(const char *path, size_t max, char **out, size_t *len, kc_err_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kc_err_sys(err, errno, "open %s", path);
	size_t cap = 4096, n = 0;
	cleanup_free char *buf = malloc(cap + 1);
	if (!buf)
		return kc_err_sys(err, ENOMEM, "read %s", path);
	for (;;) {
		if (n == cap) {
			if (cap >= max)
				return kc_err_new(err, KC_E_TOOBIG, "%s: larger than %zu bytes",
						  path, max);
			cap = cap * 2 > max ? max : cap * 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb)
				return kc_err_sys(err, ENOMEM, "read %s", path);
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kc_err_sys(err, errno, "read %s", path);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	*out = kc_steal(buf);
	return 0;
}

/* Standard base64 (whitespace ignored) into a NUL-terminated buffer. */
static int b64_decode(const char *in, const char *what, char **out, kc_err_t *err)
{
	size_t len = strlen(in);
	cleanup_free char *clean = malloc(len + 1);
	if (!clean)
		return kc_err_sys(err, ENOMEM, "%s", what);
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (in[i] != ' ' && in[i] != '\n' && in[i] != '\r' && in[i] != '\t')
			clean[n++] = in[i];
	clean[n] = '\0';
	if (n % 4 != 0)
		return kc_err_new(err, KC_E_INVALID, "%s: not valid base64", what);
	cleanup_free char *dec = malloc(n / 4 * 3 + 1);
	if (!dec)
		return kc_err_sys(err, ENOMEM, "%s", what);
	int r = n ? EVP_DecodeBlock((unsigned char *)dec, (const unsigned char *)clean, (int)n) : 0;
	if (r < 0)
		return kc_err_new(err, KC_E_INVALID, "%s: not valid base64", what);
	/* EVP_DecodeBlock counts padding as zero bytes. */
	if (n && clean[n - 1] == '=')
		r--;
	if (n > 1 && clean[n - 2] == '=')
		r--;
	dec[r] = '\0';
	*out = kc_steal(dec);
	return 0;
}

static char *path_resolve(const char *dir, const char *p)
{
	if (!p)
		return NULL;
	if (p[0] == '/' || !dir || !*dir)
		return strdup(p);
	char *r = NULL;
	if (asprintf(&r, "%s/%s", dir, p) < 0)
		return NULL;
	return r;
}

struct kc_src {
	yajl_val root;
	const char *name;
	const char *dir;
};

/* The entry named `name` in list `list` ("clusters"), first source wins. */
static yajl_val find_named(const struct kc_src *srcs, size_t n, const char *list, const char *inner,
			   const char *name, const struct kc_src **from)
{
	for (size_t i = 0; i < n; i++) {
		yajl_val l = kc_json_member(srcs[i].root, list);
		if (!YAJL_IS_ARRAY(l))
			continue;
		for (size_t j = 0; j < l->u.array.len; j++) {
			yajl_val e = l->u.array.values[j];
			yajl_val nm = kc_json_member(e, "name");
			if (YAJL_IS_STRING(nm) && !strcmp(nm->u.string, name)) {
				*from = &srcs[i];
				yajl_val v = kc_json_member(e, inner);
				return YAJL_IS_OBJECT(v) ? v : NULL;
			}
		}
	}
	return NULL;
}

static int opt_strdup(yajl_val obj, const char *key, const char *where, char **out, kc_err_t *err)
{
	yajl_val v = kc_json_member(obj, key);
	if (!v || YAJL_IS_NULL(v))
		return 0;
	if (!YAJL_IS_STRING(v))
		return kc_err_new(err, KC_E_INVALID, "%s: %s: expected a string", where, key);
	free(*out);
	*out = strdup(v->u.string);
	return *out ? 0 : kc_err_sys(err, ENOMEM, "%s", where);
}

static int parse_exec(yajl_val ex, const char *where, struct kc_kube_exec_plugin **out,
		      kc_err_t *err)
{
	struct kc_kube_exec_plugin *p = calloc(1, sizeof *p);
	if (!p)
		return kc_err_sys(err, ENOMEM, "%s", where);
	*out = p;
	if (opt_strdup(ex, "command", where, &p->command, err) < 0 ||
	    opt_strdup(ex, "apiVersion", where, &p->api_version, err) < 0)
		return -1;
	if (!p->command || !*p->command)
		return kc_err_new(err, KC_E_INVALID, "%s: exec: command is required", where);
	if (p->api_version && strcmp(p->api_version, "client.authentication.k8s.io/v1") &&
	    strcmp(p->api_version, "client.authentication.k8s.io/v1beta1"))
		return kc_err_new(err, KC_E_UNSUPPORTED, "%s: exec: apiVersion %s not supported",
				  where, p->api_version);
	yajl_val args = kc_json_member(ex, "args");
	size_t na = YAJL_IS_ARRAY(args) ? args->u.array.len : 0;
	p->args = calloc(na + 2, sizeof(char *));
	if (!p->args)
		return kc_err_sys(err, ENOMEM, "%s", where);
	p->args[0] = strdup(p->command);
	for (size_t i = 0; i < na; i++) {
		yajl_val a = args->u.array.values[i];
		if (!YAJL_IS_STRING(a))
			return kc_err_new(err, KC_E_INVALID, "%s: exec: args[%zu]: not a string",
					  where, i);
		p->args[i + 1] = strdup(a->u.string);
	}
	yajl_val env = kc_json_member(ex, "env");
	size_t ne = YAJL_IS_ARRAY(env) ? env->u.array.len : 0;
	p->env = calloc(ne + 1, sizeof(char *));
	if (!p->env)
		return kc_err_sys(err, ENOMEM, "%s", where);
	for (size_t i = 0; i < ne; i++) {
		yajl_val nm = kc_json_member(env->u.array.values[i], "name");
		yajl_val va = kc_json_member(env->u.array.values[i], "value");
		if (!YAJL_IS_STRING(nm) || !YAJL_IS_STRING(va) || !*nm->u.string ||
		    strchr(nm->u.string, '='))
			return kc_err_new(err, KC_E_INVALID,
					  "%s: exec: env[%zu]: needs a name and a value", where, i);
		if (asprintf(&p->env[i], "%s=%s", nm->u.string, va->u.string) < 0)
			return kc_err_sys(err, ENOMEM, "%s", where);
	}
	yajl_val pci = kc_json_member(ex, "provideClusterInfo");
	p->provide_cluster_info = YAJL_IS_TRUE(pci);
	return 0;
}

static void exec_plugin_free(struct kc_kube_exec_plugin *p)
{
	if (!p)
		return;
	free(p->api_version);
	free(p->command);
	kc_strv_free(p->args);
	kc_strv_free(p->env);
	free(p->token);
	free(p->cert_pem);
	free(p->key_pem);
	free(p);
}

void kc_kubeconfig_free(struct kc_kubeconfig *kc)
{
	if (!kc)
		return;
	free(kc->context);
	free(kc->cluster);
	free(kc->user);
	free(kc->server);
	free(kc->namespace);
	free(kc->ca_file);
	free(kc->ca_pem);
	free(kc->token);
	free(kc->token_file);
	free(kc->client_cert_file);
	free(kc->client_key_file);
	free(kc->client_cert_pem);
	free(kc->client_key_pem);
	exec_plugin_free(kc->exec);
	free(kc);
}

static int data_field(yajl_val obj, const char *key, const char *where, char **out, kc_err_t *err)
{
	yajl_val v = kc_json_member(obj, key);
	if (!v || YAJL_IS_NULL(v))
		return 0;
	if (!YAJL_IS_STRING(v))
		return kc_err_new(err, KC_E_INVALID, "%s: %s: expected a string", where, key);
	cleanup_free char *what = NULL;
	if (asprintf(&what, "%s: %s", where, key) < 0)
		return kc_err_sys(err, ENOMEM, "%s", where);
	free(*out);
	*out = NULL;
	return b64_decode(v->u.string, what, out, err);
}

static int file_field(yajl_val obj, const char *key, const char *dir, const char *where, char **out,
		      kc_err_t *err)
{
	cleanup_free char *p = NULL;
	if (opt_strdup(obj, key, where, &p, err) < 0)
		return -1;
	if (!p || !*p)
		return 0;
	free(*out);
	*out = path_resolve(dir, p);
	return *out ? 0 : kc_err_sys(err, ENOMEM, "%s", where);
}

static int resolve(const struct kc_src *srcs, size_t n, const struct kc_kubeconfig_opts *o,
		   struct kc_kubeconfig **out, kc_err_t *err)
{
	struct kc_kubeconfig *kc = calloc(1, sizeof *kc);
	if (!kc)
		return kc_err_sys(err, ENOMEM, "kubeconfig");
	__attribute__((cleanup(kc_kubeconfig_freep))) struct kc_kubeconfig *guard = kc;
	kc->log = o ? o->log : NULL;
	for (size_t i = 0; i < n; i++)
		if (srcs[i].root && !YAJL_IS_OBJECT(srcs[i].root))
			return kc_err_new(err, KC_E_INVALID, "%s: not a kubeconfig (a mapping)",
					  srcs[i].name);
	const char *ctx = o && o->context && *o->context ? o->context : NULL;
	for (size_t i = 0; !ctx && i < n; i++) {
		yajl_val cc = kc_json_member(srcs[i].root, "current-context");
		if (YAJL_IS_STRING(cc) && *cc->u.string)
			ctx = cc->u.string;
	}
	if (!ctx)
		return kc_err_new(err, KC_E_INVALID,
				  "no context: the kubeconfig sets no current-context and "
				  "--context was not given");
	const struct kc_src *from = NULL;
	yajl_val c = find_named(srcs, n, "contexts", "context", ctx, &from);
	if (!c)
		return kc_err_new(err, KC_E_NOTFOUND, "context \"%s\" not found in the kubeconfig",
				  ctx);
	kc->context = strdup(ctx);
	cleanup_free char *where = NULL;
	if (asprintf(&where, "%s: context %s", from->name, ctx) < 0)
		return kc_err_sys(err, ENOMEM, "kubeconfig");
	if (opt_strdup(c, "cluster", where, &kc->cluster, err) < 0 ||
	    opt_strdup(c, "user", where, &kc->user, err) < 0 ||
	    opt_strdup(c, "namespace", where, &kc->namespace, err) < 0)
		return -1;
	if (!kc->cluster || !*kc->cluster)
		return kc_err_new(err, KC_E_INVALID, "%s: names no cluster", where);

	yajl_val cl = find_named(srcs, n, "clusters", "cluster", kc->cluster, &from);
	if (!cl)
		return kc_err_new(err, KC_E_NOTFOUND, "cluster \"%s\" not found in the kubeconfig",
				  kc->cluster);
	free(where);
	where = NULL;
	if (asprintf(&where, "%s: cluster %s", from->name, kc->cluster) < 0)
		return kc_err_sys(err, ENOMEM, "kubeconfig");
	if (opt_strdup(cl, "server", where, &kc->server, err) < 0 ||
	    file_field(cl, "certificate-authority", from->dir, where, &kc->ca_file, err) < 0 ||
	    data_field(cl, "certificate-authority-data", where, &kc->ca_pem, err) < 0)
		return -1;
	if (!kc->server ||
	    (strncmp(kc->server, "https://", 8) && strncmp(kc->server, "http://", 7)))
		return kc_err_new(err, KC_E_INVALID, "%s: server must be an http(s) URL", where);
	size_t sl = strlen(kc->server);
	while (sl > 8 && kc->server[sl - 1] == '/')
		kc->server[--sl] = '\0';
	yajl_val ins = kc_json_member(cl, "insecure-skip-tls-verify");
	kc->insecure = YAJL_IS_TRUE(ins);

	if (kc->user && *kc->user) {
		yajl_val u = find_named(srcs, n, "users", "user", kc->user, &from);
		/* kubectl treats a missing user as anonymous; so do we. */
		if (u) {
			free(where);
			where = NULL;
			if (asprintf(&where, "%s: user %s", from->name, kc->user) < 0)
				return kc_err_sys(err, ENOMEM, "kubeconfig");
			if (opt_strdup(u, "token", where, &kc->token, err) < 0 ||
			    file_field(u, "tokenFile", from->dir, where, &kc->token_file, err) <
				0 ||
			    file_field(u, "client-certificate", from->dir, where,
				       &kc->client_cert_file, err) < 0 ||
			    file_field(u, "client-key", from->dir, where, &kc->client_key_file,
				       err) < 0 ||
			    data_field(u, "client-certificate-data", where, &kc->client_cert_pem,
				       err) < 0 ||
			    data_field(u, "client-key-data", where, &kc->client_key_pem, err) < 0)
				return -1;
			yajl_val ex = kc_json_member(u, "exec");
			if (YAJL_IS_OBJECT(ex) && parse_exec(ex, where, &kc->exec, err) < 0)
				return -1;
			if (kc_json_member(u, "auth-provider"))
				return kc_err_new(err, KC_E_UNSUPPORTED,
						  "%s: auth-provider is not supported (use exec)",
						  where);
		}
	}
	if (o && o->namespace && *o->namespace) {
		free(kc->namespace);
		kc->namespace = strdup(o->namespace);
	}
	if (!kc->namespace || !*kc->namespace) {
		free(kc->namespace);
		kc->namespace = strdup("default");
	}
	if (!kc->context || !kc->namespace)
		return kc_err_sys(err, ENOMEM, "kubeconfig");
	*out = kc_steal(guard);
	return 0;
}

int kc_kubeconfig_from_buffers(const char *const *bufs, const size_t *lens,
			       const char *const *names, const char *const *dirs, size_t n,
			       const struct kc_kubeconfig_opts *o, struct kc_kubeconfig **out,
			       kc_err_t *err)
{
	if (n > KC_KUBECONFIG_MAX_FILES)
		return kc_err_new(err, KC_E_INVALID, "more than %d kubeconfig files",
				  KC_KUBECONFIG_MAX_FILES);
	struct kc_yaml *ys[KC_KUBECONFIG_MAX_FILES] = {0};
	struct kc_src srcs[KC_KUBECONFIG_MAX_FILES] = {0};
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const char *nm = names && names[i] ? names[i] : "<kubeconfig>";
		if (kc_yaml_parse(bufs[i], lens[i], nm, &ys[i], err) < 0) {
			rc = kc_err_wrap(err, "kubeconfig %s", nm);
			goto out;
		}
		if (ys[i]->ndocs > 1) {
			rc = kc_err_new(err, KC_E_INVALID, "%s: more than one YAML document", nm);
			goto out;
		}
		srcs[i].root = ys[i]->ndocs ? ys[i]->docs[0].root : NULL;
		srcs[i].name = nm;
		srcs[i].dir = dirs ? dirs[i] : NULL;
	}
	rc = resolve(srcs, n, o, out, err);
out:
	for (size_t i = 0; i < n; i++)
		kc_yaml_free(ys[i]);
	return rc;
}

static char *dir_of(const char *path)
{
	const char *s = strrchr(path, '/');
	if (!s)
		return strdup(".");
	if (s == path)
		return strdup("/");
	return strndup(path, (size_t)(s - path));
}

static int load_files(char **paths, size_t n, bool skip_missing, const struct kc_kubeconfig_opts *o,
		      struct kc_kubeconfig **out, kc_err_t *err)
{
	char *bufs[KC_KUBECONFIG_MAX_FILES] = {0}, *dirs[KC_KUBECONFIG_MAX_FILES] = {0};
	const char *names[KC_KUBECONFIG_MAX_FILES] = {0};
	size_t lens[KC_KUBECONFIG_MAX_FILES] = {0}, m = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (skip_missing && access(paths[i], F_OK) != 0)
			continue;
		if (read_bounded(paths[i], KC_KUBECONFIG_MAX_FILE, &bufs[m], &lens[m], err) < 0) {
			rc = kc_err_wrap(err, "kubeconfig");
			goto out;
		}
		names[m] = paths[i];
		dirs[m] = dir_of(paths[i]);
		m++;
	}
	if (m == 0) {
		rc = kc_err_new(err, KC_E_NOTFOUND, "no kubeconfig file found");
		goto out;
	}
	rc = kc_kubeconfig_from_buffers((const char *const *)bufs, lens, names,
					(const char *const *)dirs, m, o, out, err);
out:
	for (size_t i = 0; i < m; i++) {
		free(bufs[i]);
		free(dirs[i]);
	}
	return rc;
}

int kc_kubeconfig_in_cluster(const struct kc_kubeconfig_opts *o, struct kc_kubeconfig **out,
			     kc_err_t *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	if (!host || !*host || !port || !*port)
		return kc_err_new(err, KC_E_NOTFOUND,
				  "not in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
	const char *dir = getenv("KCTL_SERVICEACCOUNT_DIR");
	if (!dir || !*dir)
		dir = KC_KUBE_SA_DIR;
	struct kc_kubeconfig *kc = calloc(1, sizeof *kc);
	if (!kc)
		return kc_err_sys(err, ENOMEM, "in-cluster config");
	__attribute__((cleanup(kc_kubeconfig_freep))) struct kc_kubeconfig *guard = kc;
	kc->log = o ? o->log : NULL;
	kc->in_cluster = true;
	bool v6 = strchr(host, ':') != NULL;
	if (asprintf(&kc->server, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port) <
		0 ||
	    asprintf(&kc->token_file, "%s/token", dir) < 0 ||
	    asprintf(&kc->ca_file, "%s/ca.crt", dir) < 0)
		return kc_err_sys(err, ENOMEM, "in-cluster config");
	kc->context = strdup("in-cluster");
	kc->cluster = strdup("in-cluster");
	kc->user = strdup("serviceaccount");
	if (access(kc->token_file, R_OK) != 0)
		return kc_err_sys(err, errno, "in-cluster config: service-account token %s",
				  kc->token_file);
	if (o && o->namespace && *o->namespace) {
		kc->namespace = strdup(o->namespace);
	} else {
		cleanup_free char *nsf = NULL, *ns = NULL;
		size_t len = 0;
		kc_err_t e2 = NULL;
		if (asprintf(&nsf, "%s/namespace", dir) >= 0 &&
		    read_bounded(nsf, 256, &ns, &len, &e2) == 0) {
			while (len && (ns[len - 1] == '\n' || ns[len - 1] == ' '))
				ns[--len] = '\0';
			if (len)
				kc->namespace = strdup(ns);
		}
		kc_err_free(&e2);
		if (!kc->namespace)
			kc->namespace = strdup("default");
	}
	*out = kc_steal(guard);
	return 0;
}

int kc_kubeconfig_load(const struct kc_kubeconfig_opts *o, struct kc_kubeconfig **out,
		       kc_err_t *err)
{
	if (o && o->kubeconfig && *o->kubeconfig) {
		char *p[1] = {(char *)o->kubeconfig};
		return load_files(p, 1, false, o, out, err);
	}
	const char *env = getenv("KUBECONFIG");
	if (env && *env) {
		/* kubectl skips listed files that do not exist. */
		char *paths[KC_KUBECONFIG_MAX_FILES];
		size_t n = 0;
		cleanup_free char *copy = strdup(env);
		if (!copy)
			return kc_err_sys(err, ENOMEM, "KUBECONFIG");
		char *save = NULL;
		for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
			if (!*t)
				continue;
			bool dup = false;
			for (size_t i = 0; i < n; i++)
				dup |= !strcmp(paths[i], t);
			if (dup)
				continue;
			if (n == KC_KUBECONFIG_MAX_FILES)
				return kc_err_new(err, KC_E_INVALID,
						  "KUBECONFIG: more than %d files",
						  KC_KUBECONFIG_MAX_FILES);
			paths[n++] = t;
		}
		int rc = load_files(paths, n, true, o, out, err);
		if (rc == 0 || kc_err_kind(*err) != KC_E_NOTFOUND ||
		    strcmp((*err)->msg, "no kubeconfig file found"))
			return rc;
		kc_err_free(err);
	} else {
		const char *home = getenv("HOME");
		cleanup_free char *p = NULL;
		if (home && *home && asprintf(&p, "%s/.kube/config", home) >= 0 &&
		    access(p, F_OK) == 0) {
			char *ps[1] = {p};
			return load_files(ps, 1, false, o, out, err);
		}
	}
	if (getenv("KUBERNETES_SERVICE_HOST"))
		return kc_kubeconfig_in_cluster(o, out, err);
	return kc_err_new(err, KC_E_NOTFOUND,
			  "no Kubernetes configuration: no kubeconfig (--kubeconfig, KUBECONFIG, "
			  "~/.kube/config) and not running in a cluster");
}

int kc_rfc3339_parse(const char *s, time_t *out, kc_err_t *err)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return kc_err_new(err, KC_E_INVALID, "\"%s\" is not an RFC 3339 time", s);
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || strlen(p) != 6)
			return kc_err_new(err, KC_E_INVALID, "\"%s\": bad time zone offset", s);
		off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return kc_err_new(err, KC_E_INVALID, "\"%s\": no time zone", s);
	}
	if (*p)
		return kc_err_new(err, KC_E_INVALID, "\"%s\" is not an RFC 3339 time", s);
	*out = timegm(&tm) - off;
	return 0;
}

/* Runs the plugin and parses its ExecCredential into the cache. */
static int exec_run(struct kc_kubeconfig *kc, kc_err_t *err)
{
	struct kc_kube_exec_plugin *p = kc->exec;
	const char *apiv = p->api_version ? p->api_version : "client.authentication.k8s.io/v1";
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "apiVersion", apiv);
	kc_jgen_kv_str(g, "kind", "ExecCredential");
	kc_jgen_key(g, "spec");
	yajl_gen_map_open(g);
	kc_jgen_kv_bool(g, "interactive", false);
	if (p->provide_cluster_info) {
		kc_jgen_key(g, "cluster");
		yajl_gen_map_open(g);
		kc_jgen_kv_str(g, "server", kc->server);
		kc_jgen_kv_bool(g, "insecure-skip-tls-verify", kc->insecure);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	cleanup_free char *info = kc_jgen_finish(g, NULL);
	cleanup_free char *info_env = NULL;
	if (!info || asprintf(&info_env, "KUBERNETES_EXEC_INFO=%s", info) < 0)
		return kc_err_sys(err, ENOMEM, "exec plugin");

	size_t ne = 0, np = 0;
	while (environ[ne])
		ne++;
	while (p->env[np])
		np++;
	cleanup_free char **envp = calloc(ne + np + 2, sizeof(char *));
	if (!envp)
		return kc_err_sys(err, ENOMEM, "exec plugin");
	size_t k = 0;
	for (size_t i = 0; i < ne; i++)
		if (strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21))
			envp[k++] = environ[i];
	for (size_t i = 0; i < np; i++)
		envp[k++] = p->env[i];
	envp[k++] = info_env;

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return kc_err_sys(err, errno, "exec plugin: pipe");
	cleanup_close int rfd = pfd[0];
	cleanup_close int wfd = pfd[1];
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, wfd, 1);
	pid_t pid;
	int rc = posix_spawnp(&pid, p->command, &fa, NULL, p->args, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return kc_err_sys(err, rc, "exec plugin %s", p->command);
	close(kc_steal_fd(wfd));

	size_t cap = 0, n = 0;
	cleanup_free char *buf = NULL;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int fail = 0;
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = KC_KUBE_EXEC_TIMEOUT_MS - ((now.tv_sec - t0.tv_sec) * 1000 +
						       (now.tv_nsec - t0.tv_nsec) / 1000000);
		struct pollfd pf = {.fd = rfd, .events = POLLIN};
		int pr = left > 0 ? poll(&pf, 1, (int)left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			fail = pr == 0 ? -ETIMEDOUT : -errno;
			break;
		}
		if (n + 4096 + 1 > cap) {
			if (cap >= KC_KUBE_EXEC_MAX_OUTPUT) {
				fail = -E2BIG;
				break;
			}
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (!nb) {
				fail = -ENOMEM;
				break;
			}
			buf = nb;
		}
		ssize_t r = read(rfd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (fail)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (fail == -ETIMEDOUT)
		return kc_err_new(err, KC_E_TIMEOUT, "exec plugin %s: no answer in %ds", p->command,
				  KC_KUBE_EXEC_TIMEOUT_MS / 1000);
	if (fail == -E2BIG)
		return kc_err_new(err, KC_E_TOOBIG, "exec plugin %s: output over %u bytes",
				  p->command, KC_KUBE_EXEC_MAX_OUTPUT);
	if (fail)
		return kc_err_sys(err, -fail, "exec plugin %s", p->command);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return kc_err_new(err, KC_E_AUTH, "exec plugin %s failed (%s %d)", p->command,
				  WIFEXITED(status) ? "exit status" : "signal",
				  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	if (!buf)
		return kc_err_new(err, KC_E_PROTO, "exec plugin %s: no output", p->command);
	buf[n] = '\0';
	cleanup_json yajl_val cred = NULL;
	if (kc_json_parse(buf, n, &cred, err) < 0)
		return kc_err_wrap(err, "exec plugin %s: ExecCredential", p->command);
	const char *kind = NULL, *tok = NULL, *cert = NULL, *key = NULL, *exp = NULL;
	if (kc_json_opt_str(cred, "/kind", &kind, err) < 0 ||
	    kc_json_opt_str(cred, "/status/token", &tok, err) < 0 ||
	    kc_json_opt_str(cred, "/status/clientCertificateData", &cert, err) < 0 ||
	    kc_json_opt_str(cred, "/status/clientKeyData", &key, err) < 0 ||
	    kc_json_opt_str(cred, "/status/expirationTimestamp", &exp, err) < 0)
		return kc_err_wrap(err, "exec plugin %s: ExecCredential", p->command);
	if (!kind || strcmp(kind, "ExecCredential"))
		return kc_err_new(err, KC_E_PROTO,
				  "exec plugin %s: output is not an ExecCredential", p->command);
	if (!tok && !(cert && key))
		return kc_err_new(err, KC_E_PROTO,
				  "exec plugin %s: status has neither token nor client certificate",
				  p->command);
	if (!!cert != !!key)
		return kc_err_new(err, KC_E_PROTO,
				  "exec plugin %s: clientCertificateData needs clientKeyData",
				  p->command);
	time_t expiry = 0;
	if (exp && kc_rfc3339_parse(exp, &expiry, err) < 0)
		return kc_err_wrap(err, "exec plugin %s: expirationTimestamp", p->command);
	free(p->token);
	free(p->cert_pem);
	free(p->key_pem);
	p->token = tok ? strdup(tok) : NULL;
	p->cert_pem = cert ? strdup(cert) : NULL;
	p->key_pem = key ? strdup(key) : NULL;
	p->expiry = expiry;
	p->cached = true;
	kc_debug(kc->log, "exec plugin %s: credential%s%s", p->command, exp ? " expires " : "",
		 exp ? exp : "");
	return 0;
}

static int exec_ensure(struct kc_kubeconfig *kc, kc_err_t *err)
{
	struct kc_kube_exec_plugin *p = kc->exec;
	/* Refresh a little before expiry so a request does not race it. */
	if (p->cached && (p->expiry == 0 || time(NULL) + 10 < p->expiry))
		return 0;
	return exec_run(kc, err);
}

int kc_kubeconfig_http(struct kc_kubeconfig *kc, struct kc_http_config *cfg, kc_err_t *err)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->base_url = kc->server;
	cfg->ca_file = kc->ca_file;
	cfg->ca_pem = kc->ca_pem;
	cfg->insecure_skip_verify = kc->insecure;
	cfg->client_cert_file = kc->client_cert_file;
	cfg->client_key_file = kc->client_key_file;
	cfg->client_cert_pem = kc->client_cert_pem;
	cfg->client_key_pem = kc->client_key_pem;
	cfg->log = kc->log;
	if (kc->exec && !kc->token && !kc->token_file && !kc->client_cert_pem &&
	    !kc->client_cert_file) {
		if (exec_ensure(kc, err) < 0)
			return -1;
		if (kc->exec->cert_pem) {
			cfg->client_cert_pem = kc->exec->cert_pem;
			cfg->client_key_pem = kc->exec->key_pem;
		}
	}
	if (!!cfg->client_cert_file != !!cfg->client_key_file)
		return kc_err_new(err, KC_E_INVALID,
				  "user %s: client-certificate and client-key go together",
				  kc->user ? kc->user : "-");
	return 0;
}

int kc_kubeconfig_token(struct kc_kubeconfig *kc, char **token, kc_err_t *err)
{
	*token = NULL;
	/* kubectl's precedence: token, then tokenFile, then exec. */
	if (kc->token && *kc->token) {
		*token = strdup(kc->token);
		return *token ? 0 : kc_err_sys(err, ENOMEM, "token");
	}
	if (kc->token_file) {
		/* Read every time: projected service-account tokens rotate. */
		char *buf = NULL;
		size_t len = 0;
		if (read_bounded(kc->token_file, KC_KUBE_TOKEN_MAX, &buf, &len, err) < 0)
			return kc_err_wrap(err, "token file");
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
			buf[--len] = '\0';
		if (!len || strpbrk(buf, "\r\n")) {
			free(buf);
			return kc_err_new(err, KC_E_AUTH, "token file %s: empty or not one line",
					  kc->token_file);
		}
		*token = buf;
		return 0;
	}
	if (kc->exec && !kc->client_cert_pem && !kc->client_cert_file) {
		if (exec_ensure(kc, err) < 0)
			return -1;
		if (kc->exec->token) {
			*token = strdup(kc->exec->token);
			return *token ? 0 : kc_err_sys(err, ENOMEM, "token");
		}
	}
	return 0;
}
