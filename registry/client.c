/* OCI distribution client: see registry.h. */
#include "registry.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "shim/base/sha256.h"

#define MAX_HOSTS 16
#define TOKEN_RESPONSE_MAX (1u << 20)
#define CONFIG_BLOB_MAX (4u << 20)
#define MAX_REDIRECTS 5
#define DEFAULT_LAYER_MAX (1ull << 30)

#define ACCEPT_ALL                                                                                 \
	"Accept: " KC_MT_OCI_INDEX ", " KC_MT_OCI_MANIFEST ", " KC_MT_DOCKER_LIST                  \
	", " KC_MT_DOCKER_MANIFEST

struct host {
	char domain[KC_REF_NAME_MAX + 1];
	struct kc_http *http;
	char *authz; /* "Authorization: ..." header line once authenticated */
	bool creds_loaded;
	char *user, *password;
};

struct kc_registry {
	char *config_dir, *ca_file;
	long connect_timeout_ms, timeout_ms;
	int max_retries;
	char os[32], arch[32];
	const struct kc_log *log;
	struct host hosts[MAX_HOSTS];
	size_t n_hosts;
};

int kc_registry_new(const struct kc_registry_opts *opts, struct kc_registry **out, kc_err_t *err)
{
	static const struct kc_registry_opts none = {0};
	const struct kc_registry_opts *o = opts ? opts : &none;
	struct kc_registry *r = calloc(1, sizeof *r);
	if (!r)
		return kc_err_sys(err, ENOMEM, "registry client");
	r->config_dir = o->docker_config_dir ? strdup(o->docker_config_dir) : NULL;
	r->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
	if ((o->docker_config_dir && !r->config_dir) || (o->ca_file && !r->ca_file)) {
		kc_registry_free(r);
		return kc_err_sys(err, ENOMEM, "registry client");
	}
	r->connect_timeout_ms = o->connect_timeout_ms;
	r->timeout_ms = o->timeout_ms;
	r->max_retries = o->max_retries;
	snprintf(r->os, sizeof r->os, "%s", o->os ? o->os : "linux");
	snprintf(r->arch, sizeof r->arch, "%s", o->arch ? o->arch : "amd64");
	r->log = o->log;
	*out = r;
	return 0;
}

void kc_registry_free(struct kc_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_hosts; i++) {
		struct host *h = &r->hosts[i];
		kc_http_free(h->http);
		free(h->authz);
		free(h->user);
		if (h->password) {
			explicit_bzero(h->password, strlen(h->password));
			free(h->password);
		}
	}
	free(r->config_dir);
	free(r->ca_file);
	free(r);
}

void kc_registry_stats(const struct kc_registry *r, struct kc_http_stats *out)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < r->n_hosts; i++) {
		struct kc_http_stats s;
		kc_http_stats_get(r->hosts[i].http, &s);
		out->requests += s.requests;
		out->failed += s.failed;
		out->retries += s.retries;
		out->bytes_sent += s.bytes_sent;
		out->bytes_received += s.bytes_received;
	}
}

bool kc_registry_host_is_loopback(const char *host)
{
	char buf[KC_REF_NAME_MAX + 1];
	if (!host || strlen(host) >= sizeof buf)
		return false;
	if (host[0] == '[') {
		const char *close = strchr(host, ']');
		if (!close)
			return false;
		snprintf(buf, sizeof buf, "%.*s", (int)(close - host - 1), host + 1);
	} else {
		const char *colon = strchr(host, ':');
		/* One colon is a port; more is a bare IPv6 address. */
		if (colon && !strchr(colon + 1, ':'))
			snprintf(buf, sizeof buf, "%.*s", (int)(colon - host), host);
		else
			snprintf(buf, sizeof buf, "%s", host);
	}
	if (!strcasecmp(buf, "localhost"))
		return true;
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, buf, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* "scheme://[user@]host[:port]/..." -> host[:port] into buf; false if not a URL. */
static bool url_authority(const char *url, char *buf, size_t cap, bool *https)
{
	const char *p;
	if (!strncmp(url, "https://", 8)) {
		*https = true;
		p = url + 8;
	} else if (!strncmp(url, "http://", 7)) {
		*https = false;
		p = url + 7;
	} else {
		return false;
	}
	size_t n = strcspn(p, "/?#");
	const char *at = memchr(p, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (n == 0 || n >= cap)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return true;
}

/* Plain http only ever goes to loopback, whatever a server tells us. */
static int check_url_allowed(const char *url, const char *what, kc_err_t *err)
{
	char auth[KC_REF_NAME_MAX + 1];
	bool https;
	if (!url_authority(url, auth, sizeof auth, &https))
		return kc_err_new(err, KC_E_PROTO, "%s: not an http(s) URL: \"%.200s\"", what, url);
	if (!https && !kc_registry_host_is_loopback(auth))
		return kc_err_new(err, KC_E_PROTO,
				  "%s: refusing plain http to non-loopback host %s (\"%.200s\")",
				  what, auth, url);
	return 0;
}

static int get_host(struct kc_registry *r, const char *domain, struct host **out, kc_err_t *err)
{
	for (size_t i = 0; i < r->n_hosts; i++) {
		if (!strcmp(r->hosts[i].domain, domain)) {
			*out = &r->hosts[i];
			return 0;
		}
	}
	if (r->n_hosts >= MAX_HOSTS)
		return kc_err_new(err, KC_E_TOOBIG, "registry client: more than %d registries",
				  MAX_HOSTS);
	char base[KC_REF_NAME_MAX + 16];
	if (!strcmp(domain, KC_REF_DEFAULT_DOMAIN))
		snprintf(base, sizeof base, "https://registry-1.docker.io");
	else
		snprintf(base, sizeof base, "%s://%s",
			 kc_registry_host_is_loopback(domain) ? "http" : "https", domain);
	struct kc_http_config cfg = {
	    .base_url = base,
	    .ca_file = r->ca_file,
	    .connect_timeout_ms = r->connect_timeout_ms,
	    .timeout_ms = r->timeout_ms,
	    .max_retries = r->max_retries,
	    .log = r->log,
	};
	struct host *h = &r->hosts[r->n_hosts];
	memset(h, 0, sizeof *h);
	if (kc_http_new(&cfg, &h->http, err) < 0)
		return kc_err_wrap(err, "registry %s", domain);
	snprintf(h->domain, sizeof h->domain, "%s", domain);
	r->n_hosts++;
	*out = h;
	return 0;
}

/* The registry's own words from an error body ({"errors":[{code,message}]}). */
static void registry_message(const struct kc_http_response *resp, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (!resp->body || resp->body_len == 0 || resp->body_len > 65536)
		return;
	cleanup_json yajl_val root = NULL;
	cleanup_err kc_err_t e = NULL;
	if (kc_json_parse(resp->body, resp->body_len, &root, &e) < 0)
		return;
	const char *code = NULL, *msg = NULL;
	yajl_val c = kc_json_find(root, "/errors/0/code"),
		 m = kc_json_find(root, "/errors/0/message");
	if (c && YAJL_IS_STRING(c))
		code = c->u.string;
	if (m && YAJL_IS_STRING(m))
		msg = m->u.string;
	if (code || msg)
		snprintf(buf, cap, " (%.60s%s%.200s)", code ? code : "", code && msg ? ": " : "",
			 msg ? msg : "");
}

/* Turns a non-2xx answer into an error; `what` names the object for 404. */
static int status_error(const struct host *h, const struct kc_http_response *resp,
			const char *notfound_kind, const char *what, kc_err_t *err)
{
	char msg[300];
	registry_message(resp, msg, sizeof msg);
	int rc;
	if (resp->status == 404)
		rc = kc_err_new(err, KC_E_NOTFOUND, "%s: %s", notfound_kind, what);
	else if (resp->status == 401 || resp->status == 403)
		rc = kc_err_new(err, KC_E_AUTH, "registry %s denied access to %s (HTTP %ld)%s",
				h->domain, what, resp->status, msg);
	else if (resp->status == 429)
		rc = kc_err_new(err, KC_E_REMOTE, "registry %s: too many requests for %s%s",
				h->domain, what, msg);
	else
		rc = kc_err_new(err, KC_E_REMOTE, "registry %s answered HTTP %ld for %s%s",
				h->domain, resp->status, what, msg);
	(*err)->http_status = (int)resp->status;
	return rc;
}

static int transport_error(const struct host *h, kc_err_t *err)
{
	if (kc_err_kind(*err) == KC_E_UNAVAIL)
		return kc_err_wrap(err, "registry %s is not answering", h->domain);
	return kc_err_wrap(err, "registry %s", h->domain);
}

static int load_creds(struct kc_registry *r, struct host *h, kc_err_t *err)
{
	if (h->creds_loaded)
		return 0;
	if (kc_docker_config_load_auth(r->config_dir, h->domain, &h->user, &h->password, err) < 0)
		return -1;
	h->creds_loaded = true;
	return 0;
}

/* "Authorization: Basic base64(user:password)" */
static char *basic_header(const char *user, const char *password)
{
	cleanup_free char *plain = NULL;
	int n = asprintf(&plain, "%s:%s", user, password);
	if (n < 0)
		return NULL;
	size_t enc_len = 4 * (((size_t)n + 2) / 3);
	char *line = malloc(sizeof "Authorization: Basic " + enc_len + 1);
	if (!line)
		return NULL;
	strcpy(line, "Authorization: Basic ");
	EVP_EncodeBlock((unsigned char *)line + strlen(line), (const unsigned char *)plain, n);
	explicit_bzero(plain, (size_t)n);
	return line;
}

static int bearer_token(struct host *h, const struct kc_ref *ref, const struct kc_auth_challenge *c,
			kc_err_t *err)
{
	if (!c->realm || !c->realm[0])
		return kc_err_new(err, KC_E_AUTH, "registry %s: Bearer challenge without a realm",
				  h->domain);
	if (check_url_allowed(c->realm, "token realm", err) < 0)
		return kc_err_wrap(err, "registry %s", h->domain);
	cleanup_free char *own_scope = NULL;
	if (asprintf(&own_scope, "repository:%s:pull", ref->path) < 0)
		return kc_err_sys(err, ENOMEM, "registry auth");
	const char *scope = c->scope && c->scope[0] ? c->scope : own_scope;
	cleanup_free char *esc_scope = kc_http_escape(scope);
	cleanup_free char *esc_service = c->service ? kc_http_escape(c->service) : NULL;
	cleanup_free char *url = NULL;
	if (!esc_scope || (c->service && !esc_service))
		return kc_err_sys(err, ENOMEM, "registry auth");
	if (asprintf(&url, "%s%sscope=%s%s%s", c->realm, strchr(c->realm, '?') ? "&" : "?",
		     esc_scope, esc_service ? "&service=" : "", esc_service ? esc_service : "") < 0)
		return kc_err_sys(err, ENOMEM, "registry auth");
	cleanup_free char *basic = NULL;
	const char *headers[2] = {NULL, NULL};
	if (h->user) {
		basic = basic_header(h->user, h->password);
		if (!basic)
			return kc_err_sys(err, ENOMEM, "registry auth");
		headers[0] = basic;
	}
	cleanup_http_resp struct kc_http_response resp = {0};
	struct kc_http_request req = {
	    .path = url, .headers = headers, .max_response = TOKEN_RESPONSE_MAX};
	if (kc_http_do(h->http, &req, &resp, err) < 0)
		return kc_err_wrap(err, "registry %s: token request", h->domain);
	if (resp.status != 200) {
		char msg[300];
		registry_message(&resp, msg, sizeof msg);
		kc_err_new(err, KC_E_AUTH, "registry %s: token service %s answered HTTP %ld%s%s",
			   h->domain, c->realm, resp.status, msg,
			   h->user ? "" : " (no credentials configured)");
		(*err)->http_status = (int)resp.status;
		return -1;
	}
	cleanup_json yajl_val root = NULL;
	if (kc_json_parse(resp.body ? resp.body : "", resp.body_len, &root, err) < 0)
		return kc_err_wrap(err, "registry %s: token answer", h->domain);
	const char *token = NULL;
	if (kc_json_opt_str(root, "/token", &token, err) < 0 ||
	    (!token && kc_json_opt_str(root, "/access_token", &token, err) < 0))
		return kc_err_wrap(err, "registry %s: token answer", h->domain);
	if (!token || !token[0])
		return kc_err_new(err, KC_E_AUTH, "registry %s: token answer holds no token",
				  h->domain);
	char *line = NULL;
	if (asprintf(&line, "Authorization: Bearer %s", token) < 0)
		return kc_err_sys(err, ENOMEM, "registry auth");
	free(h->authz);
	h->authz = line;
	return 0;
}

struct challenges {
	struct kc_auth_challenge c[KC_AUTH_MAX_CHALLENGES];
	size_t n;
};

static void challenges_free(struct challenges *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		kc_auth_challenge_free(&ch->c[i]);
}
#define cleanup_challenges __attribute__((cleanup(challenges_free)))

/* Answers a 401: Bearer preferred, Basic with configured credentials. */
static int authenticate(struct kc_registry *r, struct host *h, const struct kc_ref *ref,
			const struct kc_http_response *resp, kc_err_t *err)
{
	cleanup_challenges struct challenges ch = {.n = 0};
	for (size_t i = 0; i < resp->n_headers && ch.n < KC_AUTH_MAX_CHALLENGES; i++) {
		const char *line = resp->headers[i];
		if (strncasecmp(line, "WWW-Authenticate:", 17) != 0)
			continue;
		int got = kc_auth_parse(line + 17, ch.c + ch.n, KC_AUTH_MAX_CHALLENGES - ch.n, err);
		if (got < 0)
			return kc_err_wrap(err, "registry %s", h->domain);
		ch.n += (size_t)got;
	}
	if (ch.n == 0)
		return kc_err_new(err, KC_E_AUTH,
				  "registry %s answered 401 without a WWW-Authenticate challenge",
				  h->domain);
	if (load_creds(r, h, err) < 0)
		return -1;
	const struct kc_auth_challenge *bearer = NULL, *basic = NULL;
	for (size_t i = 0; i < ch.n; i++) {
		if (!strcasecmp(ch.c[i].scheme, "Bearer") && !bearer)
			bearer = &ch.c[i];
		else if (!strcasecmp(ch.c[i].scheme, "Basic") && !basic)
			basic = &ch.c[i];
	}
	if (bearer)
		return bearer_token(h, ref, bearer, err);
	if (!basic)
		return kc_err_new(err, KC_E_UNSUPPORTED,
				  "registry %s: auth scheme %s not supported", h->domain,
				  ch.c[0].scheme);
	if (!h->user)
		return kc_err_new(err, KC_E_AUTH,
				  "registry %s wants Basic credentials and the docker config has "
				  "none for it",
				  h->domain);
	free(h->authz);
	h->authz = basic_header(h->user, h->password);
	if (!h->authz)
		return kc_err_sys(err, ENOMEM, "registry auth");
	return 0;
}

/* One request to the registry with auth: on 401 authenticates and tries once
 * more. The status is the caller's to judge. No sink here (a 401 body would
 * reach it). */
static int host_do(struct kc_registry *r, struct host *h, const struct kc_ref *ref,
		   const char *method, const char *path, const char *accept, size_t max_response,
		   struct kc_http_response *resp, kc_err_t *err)
{
	for (int attempt = 0;; attempt++) {
		const char *headers[3] = {NULL, NULL, NULL};
		size_t nh = 0;
		if (accept)
			headers[nh++] = accept;
		if (h->authz)
			headers[nh++] = h->authz;
		struct kc_http_request req = {.method = method,
					      .path = path,
					      .headers = headers,
					      .max_response = max_response};
		if (kc_http_do(h->http, &req, resp, err) < 0)
			return transport_error(h, err);
		if (resp->status != 401 || attempt > 0)
			return 0;
		if (authenticate(r, h, ref, resp, err) < 0)
			return -1;
	}
}

static void bare_type(const char *ct, char out[128])
{
	size_t n = ct ? strcspn(ct, "; \t") : 0;
	if (n > 127)
		n = 127;
	if (n)
		memcpy(out, ct, n);
	out[n] = '\0';
}

int kc_registry_get_manifest(struct kc_registry *r, const struct kc_ref *ref,
			     const char *tag_or_digest, char **body, size_t *len,
			     char media_type[128], char digest[KC_DIGEST_LEN + 1], kc_err_t *err)
{
	struct host *h;
	char what[KC_REF_STRING_MAX];
	bool by_digest = strchr(tag_or_digest, ':') != NULL;
	*body = NULL;
	if (by_digest && !kc_digest_valid(tag_or_digest))
		return kc_err_new(err, KC_E_UNSUPPORTED,
				  "manifest %s: only sha256 digests are supported", tag_or_digest);
	snprintf(what, sizeof what, "%s/%s%s%s", ref->domain, ref->path, by_digest ? "@" : ":",
		 tag_or_digest);
	if (get_host(r, ref->domain, &h, err) < 0)
		return -1;
	cleanup_free char *path = NULL;
	if (asprintf(&path, "/v2/%s/manifests/%s", ref->path, tag_or_digest) < 0)
		return kc_err_sys(err, ENOMEM, "registry");

	/* HEAD first: cheap existence and digest, and the auth handshake. */
	cleanup_http_resp struct kc_http_response head = {0};
	if (host_do(r, h, ref, "HEAD", path, ACCEPT_ALL, KC_MANIFEST_MAX_BYTES, &head, err) < 0)
		return kc_err_wrap(err, "resolving %s", what);
	if (head.status != 200)
		return status_error(h, &head, "manifest unknown", what, err);
	cleanup_http_resp struct kc_http_response get = {0};
	if (host_do(r, h, ref, "GET", path, ACCEPT_ALL, KC_MANIFEST_MAX_BYTES, &get, err) < 0)
		return kc_err_wrap(err, "fetching manifest %s", what);
	if (get.status != 200)
		return status_error(h, &get, "manifest unknown", what, err);

	char computed[KC_DIGEST_LEN + 1];
	if (kc_sha256_digest(get.body ? get.body : "", get.body_len, computed, err) < 0)
		return -1;
	if (by_digest && strcmp(computed, tag_or_digest) != 0)
		return kc_err_new(err, KC_E_DIGEST, "manifest %s: content hashes to %s", what,
				  computed);
	/* The GET's header describes the bytes we hold (a tag may have moved
	 * since the HEAD); fall back to the HEAD's when the GET has none. */
	const char *hdr = kc_http_header(&get, "Docker-Content-Digest");
	if (!hdr)
		hdr = kc_http_header(&head, "Docker-Content-Digest");
	if (hdr && !strncmp(hdr, "sha256:", 7) && strcmp(hdr, computed) != 0)
		return kc_err_new(err, KC_E_DIGEST,
				  "manifest %s: registry says Docker-Content-Digest %.80s but the "
				  "content hashes to %s",
				  what, hdr, computed);
	bare_type(kc_http_header(&get, "Content-Type"), media_type);
	strcpy(digest, computed);
	*len = get.body_len;
	*body = get.body ? get.body : strdup("");
	get.body = NULL;
	if (!*body)
		return kc_err_sys(err, ENOMEM, "registry");
	return 0;
}

/* ---- blobs ------------------------------------------------------------- */

struct blob_state {
	struct kc_sha256 *sha;
	kc_http_sink sink;
	void *opaque;
	uint64_t n;
	const struct kc_http_response *resp;
	int mode; /* 0: undecided, 1: content, 2: discard (redirect or challenge body) */
};

static int blob_sink(void *opaque, const char *data, size_t len)
{
	struct blob_state *b = opaque;
	if (b->mode == 0) { /* headers are complete once the body starts */
		bool skip = kc_http_header(b->resp, "Location") ||
			    kc_http_header(b->resp, "WWW-Authenticate");
		b->mode = skip ? 2 : 1;
	}
	if (b->mode == 2)
		return 0;
	kc_sha256_update(b->sha, data, len);
	b->n += len;
	return b->sink ? b->sink(b->opaque, data, len) : 0;
}

static int redirect_target(const struct host *h, const char *loc, char **out, bool *same_host,
			   kc_err_t *err)
{
	int n;
	*same_host = false;
	if (loc[0] == '/') {
		*same_host = true;
		n = asprintf(out, "%s%s", kc_http_base_url(h->http), loc);
	} else {
		n = asprintf(out, "%s", loc);
	}
	if (n < 0)
		return kc_err_sys(err, ENOMEM, "registry");
	return check_url_allowed(*out, "blob redirect", err);
}

int kc_registry_fetch_blob(struct kc_registry *r, const struct kc_ref *ref, const char *digest,
			   uint64_t max_size, kc_http_sink sink, void *opaque, kc_err_t *err)
{
	struct host *h;
	char what[KC_REF_STRING_MAX];
	if (!kc_digest_valid(digest))
		return kc_err_new(err, KC_E_UNSUPPORTED,
				  "blob %.100s: only sha256 digests are supported", digest);
	snprintf(what, sizeof what, "%s/%s@%s", ref->domain, ref->path, digest);
	if (get_host(r, ref->domain, &h, err) < 0)
		return -1;
	cleanup_free char *url = NULL;
	if (asprintf(&url, "/v2/%s/blobs/%s", ref->path, digest) < 0)
		return kc_err_sys(err, ENOMEM, "registry");
	size_t cap = max_size > SIZE_MAX ? SIZE_MAX : (size_t)max_size;

	/* HEAD settles auth and existence without a body reaching the sink. */
	cleanup_http_resp struct kc_http_response head = {0};
	if (host_do(r, h, ref, "HEAD", url, NULL, cap, &head, err) < 0)
		return kc_err_wrap(err, "fetching blob %s", what);
	if (head.status != 200 && !(head.status >= 300 && head.status < 400))
		return status_error(h, &head, "blob unknown", what, err);
	const char *cl = kc_http_header(&head, "Content-Length");
	if (head.status == 200 && cl && strtoull(cl, NULL, 10) > max_size)
		return kc_err_new(err, KC_E_TOOBIG, "blob %s: %s bytes, limit %llu", what, cl,
				  (unsigned long long)max_size);

	bool with_auth = true;
	for (int hop = 0;; hop++) {
		struct blob_state b = {.sink = sink, .opaque = opaque};
		cleanup_http_resp struct kc_http_response resp = {0};
		b.resp = &resp;
		if (kc_sha256_new(&b.sha, err) < 0)
			return -1;
		const char *headers[2] = {with_auth ? h->authz : NULL, NULL};
		struct kc_http_request req = {.path = url,
					      .headers = headers,
					      .max_response = cap,
					      .sink = blob_sink,
					      .sink_opaque = &b};
		int rc = kc_http_do(h->http, &req, &resp, err);
		uint8_t raw[32];
		kc_sha256_final(b.sha, raw);
		kc_sha256_free(b.sha);
		if (rc < 0) {
			if (kc_err_kind(*err) == KC_E_TOOBIG)
				return kc_err_new(err, KC_E_TOOBIG,
						  "blob %s larger than %llu bytes", what,
						  (unsigned long long)max_size);
			transport_error(h, err);
			return kc_err_wrap(err, "fetching blob %s", what);
		}
		const char *loc = kc_http_header(&resp, "Location");
		if (resp.status >= 300 && resp.status < 400 && loc) {
			if (hop >= MAX_REDIRECTS)
				return kc_err_new(err, KC_E_PROTO, "blob %s: too many redirects",
						  what);
			char *next = NULL;
			bool same;
			if (redirect_target(h, loc, &next, &same, err) < 0) {
				free(next);
				return kc_err_wrap(err, "fetching blob %s", what);
			}
			free(url);
			url = next;
			/* A blob store elsewhere gets no registry credentials. */
			with_auth = with_auth && same;
			continue;
		}
		if (resp.status != 200)
			return status_error(h, &resp, "blob unknown", what, err);
		char got[KC_DIGEST_LEN + 1];
		memcpy(got, "sha256:", 7);
		kc_sha256_hex(raw, got + 7);
		if (strcmp(got, digest) != 0)
			return kc_err_new(err, KC_E_DIGEST, "blob %s: content hashes to %s", what,
					  got);
		return 0;
	}
}

struct fd_sink {
	int fd;
	uint64_t written;
	int error;
};

static int fd_sink_cb(void *opaque, const char *data, size_t len)
{
	struct fd_sink *s = opaque;
	while (len > 0) {
		ssize_t n = write(s->fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->error = n < 0 ? errno : EIO;
			return -1;
		}
		data += n;
		len -= (size_t)n;
		s->written += (uint64_t)n;
	}
	return 0;
}

int kc_registry_fetch_blob_fd(struct kc_registry *r, const struct kc_ref *ref, const char *digest,
			      uint64_t max_size, int fd, uint64_t *written, kc_err_t *err)
{
	struct fd_sink s = {.fd = fd};
	int rc = kc_registry_fetch_blob(r, ref, digest, max_size, fd_sink_cb, &s, err);
	if (rc < 0 && s.error)
		return kc_err_sys(err, s.error, "writing blob %s", digest);
	if (written)
		*written = s.written;
	return rc;
}

struct mem_sink {
	char *buf;
	size_t len, cap;
};

static int mem_sink_cb(void *opaque, const char *data, size_t len)
{
	struct mem_sink *m = opaque;
	if (m->len + len + 1 > m->cap) {
		size_t nc = m->cap ? m->cap : 4096;
		while (nc < m->len + len + 1)
			nc *= 2;
		char *nb = realloc(m->buf, nc);
		if (!nb)
			return -1;
		m->buf = nb;
		m->cap = nc;
	}
	memcpy(m->buf + m->len, data, len);
	m->len += len;
	m->buf[m->len] = '\0';
	return 0;
}

int kc_registry_fetch_blob_mem(struct kc_registry *r, const struct kc_ref *ref, const char *digest,
			       uint64_t max_size, char **out, size_t *len, kc_err_t *err)
{
	struct mem_sink m = {0};
	if (kc_registry_fetch_blob(r, ref, digest, max_size, mem_sink_cb, &m, err) < 0) {
		free(m.buf);
		return -1;
	}
	if (!m.buf && !(m.buf = strdup("")))
		return kc_err_sys(err, ENOMEM, "registry");
	*out = m.buf;
	*len = m.len;
	return 0;
}

/* ---- resolve ----------------------------------------------------------- */

void kc_image_info_free(struct kc_image_info *info)
{
	if (!info)
		return;
	free(info->config.media_type);
	for (size_t i = 0; i < info->n_layers; i++)
		free(info->layers[i].media_type);
	free(info->layers);
	info->config.media_type = NULL;
	info->layers = NULL;
	info->n_layers = 0;
}

/* Platform of a single-manifest image comes from its config blob. */
static int config_platform(struct kc_registry *r, const struct kc_ref *ref,
			   const struct kc_descriptor *cfg, char *out, size_t cap, kc_err_t *err)
{
	cleanup_free char *body = NULL;
	size_t len;
	if (kc_registry_fetch_blob_mem(r, ref, cfg->digest, CONFIG_BLOB_MAX, &body, &len, err) < 0)
		return kc_err_wrap(err, "image config");
	cleanup_json yajl_val root = NULL;
	if (kc_json_parse(body, len, &root, err) < 0)
		return kc_err_wrap(err, "image config %s", cfg->digest);
	const char *os = "", *arch = "", *variant = "";
	if (kc_json_opt_str(root, "/os", &os, err) < 0 ||
	    kc_json_opt_str(root, "/architecture", &arch, err) < 0 ||
	    kc_json_opt_str(root, "/variant", &variant, err) < 0)
		return kc_err_wrap(err, "image config %s", cfg->digest);
	snprintf(out, cap, "%.30s/%.30s%s%.15s", os[0] ? os : "unknown", arch[0] ? arch : "unknown",
		 variant[0] ? "/" : "", variant);
	return 0;
}

static int resolve_into(struct kc_registry *r, const struct kc_ref *ref, struct kc_image_info *out,
			struct kc_manifest *m, struct kc_manifest *m2, kc_err_t *err)
{
	cleanup_free char *body = NULL;
	size_t len;
	char mt[128], digest[KC_DIGEST_LEN + 1];
	if (ref->digest[0] && !kc_digest_valid(ref->digest))
		return kc_err_new(err, KC_E_UNSUPPORTED, "%s: only sha256 digests are supported",
				  out->reference);
	if (kc_registry_get_manifest(r, ref, kc_ref_lookup(ref), &body, &len, mt, digest, err) < 0)
		return -1;
	if (kc_manifest_parse(body, len, mt, m, err) < 0)
		return kc_err_wrap(err, "%s", out->reference);
	strcpy(out->digest, digest);
	snprintf(out->media_type, sizeof out->media_type, "%s", m->media_type);
	struct kc_manifest *img = m;
	if (m->kind == KC_MANIFEST_INDEX) {
		size_t i;
		if (kc_index_select(m, r->os, r->arch, NULL, &i, err) < 0)
			return kc_err_wrap(err, "%s", out->reference);
		const struct kc_descriptor *d = &m->manifests[i];
		strcpy(out->index_digest, digest);
		snprintf(out->platform, sizeof out->platform, "%.31s/%.31s%s%.15s", d->os, d->arch,
			 d->variant[0] ? "/" : "", d->variant);
		free(body);
		body = NULL;
		if (kc_registry_get_manifest(r, ref, d->digest, &body, &len, mt, digest, err) < 0)
			return kc_err_wrap(err, "%s (%s)", out->reference, out->platform);
		if ((int64_t)len != d->size)
			return kc_err_new(err, KC_E_DIGEST,
					  "%s: manifest %s is %zu bytes, index says %lld",
					  out->reference, d->digest, len, (long long)d->size);
		if (kc_manifest_parse(body, len, mt, m2, err) < 0)
			return kc_err_wrap(err, "%s (%s)", out->reference, out->platform);
		if (m2->kind != KC_MANIFEST_IMAGE)
			return kc_err_new(err, KC_E_UNSUPPORTED, "%s: nested index %s",
					  out->reference, d->digest);
		img = m2;
	}
	strcpy(out->manifest_digest, digest);
	snprintf(out->manifest_media_type, sizeof out->manifest_media_type, "%s", img->media_type);
	out->config = img->config;
	img->config.media_type = NULL;
	out->layers = img->layers;
	out->n_layers = img->n_layers;
	img->layers = NULL;
	img->n_layers = 0;
	if (!out->index_digest[0] &&
	    config_platform(r, ref, &out->config, out->platform, sizeof out->platform, err) < 0)
		return kc_err_wrap(err, "%s", out->reference);
	return 0;
}

int kc_registry_resolve(struct kc_registry *r, const struct kc_ref *ref, struct kc_image_info *out,
			kc_err_t *err)
{
	struct kc_manifest m = {0}, m2 = {0};
	memset(out, 0, sizeof *out);
	out->ref = *ref;
	kc_ref_canonical(ref, out->reference, sizeof out->reference);
	int rc = resolve_into(r, ref, out, &m, &m2, err);
	kc_manifest_free(&m);
	kc_manifest_free(&m2);
	if (rc < 0)
		kc_image_info_free(out);
	return rc;
}

int kc_image_resolve(const char *reference, const struct kc_registry_opts *opts,
		     struct kc_image_info *out, struct kc_http_stats *stats, kc_err_t *err)
{
	struct kc_ref ref;
	struct kc_registry *r = NULL;
	memset(out, 0, sizeof *out);
	if (stats)
		memset(stats, 0, sizeof *stats);
	if (kc_ref_parse(reference, &ref, err) < 0)
		return -1;
	if (kc_registry_new(opts, &r, err) < 0)
		return -1;
	int rc = kc_registry_resolve(r, &ref, out, err);
	if (stats)
		kc_registry_stats(r, stats);
	kc_registry_free(r);
	return rc;
}

static void gen_descriptor(yajl_gen g, const struct kc_descriptor *d)
{
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "digest", d->digest);
	kc_jgen_kv_int(g, "size", d->size);
	kc_jgen_kv_str(g, "mediaType", d->media_type ? d->media_type : "");
	yajl_gen_map_close(g);
}

void kc_image_info_gen(yajl_gen g, const struct kc_image_info *info)
{
	char pinned[KC_REF_STRING_MAX];
	kc_ref_pinned(&info->ref, info->digest, pinned, sizeof pinned);
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "reference", info->reference);
	kc_jgen_kv_str(g, "digest", info->digest);
	kc_jgen_kv_str(g, "mediaType", info->media_type);
	kc_jgen_kv_str(g, "platform", info->platform);
	kc_jgen_kv_str(g, "pinned", pinned);
	kc_jgen_kv_str(g, "manifestDigest", info->manifest_digest);
	kc_jgen_kv_str(g, "indexDigest", info->index_digest[0] ? info->index_digest : NULL);
	kc_jgen_key(g, "config");
	gen_descriptor(g, &info->config);
	kc_jgen_key(g, "layers");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < info->n_layers; i++)
		gen_descriptor(g, &info->layers[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

char *kc_image_info_to_json(const struct kc_image_info *info, bool pretty)
{
	cleanup_jgen yajl_gen g = kc_jgen_new(pretty);
	if (!g)
		return NULL;
	kc_image_info_gen(g, info);
	return kc_jgen_finish(g, NULL);
}

/* ---- file index -------------------------------------------------------- */

static int temp_fd(kc_err_t *err)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* Filesystems without O_TMPFILE: create and unlink at once. */
	cleanup_free char *tmpl = NULL;
	if (asprintf(&tmpl, "%s/kctl-layer-XXXXXX", dir) < 0)
		return kc_err_sys(err, ENOMEM, "temporary file");
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return kc_err_sys(err, errno, "temporary file in %s", dir);
	unlink(tmpl);
	return fd;
}

int kc_registry_file_index(struct kc_registry *r, const struct kc_image_info *info,
			   uint64_t max_layer_bytes, struct kc_file_index **out, kc_err_t *err)
{
	struct kc_file_index *idx = NULL;
	if (!max_layer_bytes)
		max_layer_bytes = DEFAULT_LAYER_MAX;
	if (kc_file_index_new(&idx, err) < 0)
		return -1;
	for (size_t i = 0; i < info->n_layers; i++) {
		const struct kc_descriptor *l = &info->layers[i];
		cleanup_close int fd = temp_fd(err);
		if (fd < 0 ||
		    kc_registry_fetch_blob_fd(r, &info->ref, l->digest, max_layer_bytes, fd, NULL,
					      err) < 0 ||
		    (lseek(fd, 0, SEEK_SET) < 0 && kc_err_sys(err, errno, "seek") < 0) ||
		    kc_file_index_apply_fd(idx, fd, err) < 0) {
			kc_file_index_free(idx);
			return kc_err_wrap(err, "file index of %s: layer %zu (%s)", info->reference,
					   i, l->digest);
		}
	}
	*out = idx;
	return 0;
}
