/* Docker Engine API backend: see docker.h. Every answer is read bounded;
 * streamed answers (exec, logs, pull, push, build, export) go through the
 * incremental decoders of docker_stream.h. */
#include "docker.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "docker_stream.h"
#include "engine_backend.h"
#include "shim/base/cleanup.h"
#include "shim/base/http.h"
#include "shim/base/json.h"

#define SMALL_MAX (8u << 20)	 /* inspect, lists, small answers */
#define LIST_MAX (64u << 20)	 /* container and image lists */
#define STREAM_MAX (1ull << 32)	 /* pull/push/build progress, export */
#define ARCHIVE_MAX (256u << 20) /* archive get default */
#define ERR_HEAD_MAX 4096	 /* bytes of a streamed answer kept for an error message */
#define EXEC_STREAM_MAX (256u << 20)

struct docker {
	struct kc_engine base;
	struct kc_http *http;
	char *host;	   /* as given, for messages */
	char *socket_path; /* NULL for tcp */
	char api[16];	   /* negotiated, "" until then */
	char *server_api;
	long timeout_ms;
	const struct kc_log *log;
};

static struct docker *D(struct kc_engine *e)
{
	return (struct docker *)e;
}

/* ---- small pure helpers (also unit-tested through docker.h) ---- */

int kc_docker_parse_host(const char *host, char **socket_path, char **base_url, kc_err_t *err)
{
	*socket_path = *base_url = NULL;
	if (!strncmp(host, "unix://", 7)) {
		const char *p = host + 7;
		if (*p != '/')
			return kc_err_new(err, KC_E_INVALID,
					  "DOCKER_HOST %s: the socket path must be absolute", host);
		*socket_path = strdup(p);
		*base_url = strdup("http://localhost");
	} else if (!strncmp(host, "tcp://", 6)) {
		const char *hp = host + 6;
		const char *port = NULL;
		if (!strncmp(hp, "127.0.0.1:", 10))
			port = hp + 10;
		else if (!strcmp(hp, "127.0.0.1"))
			port = "2375";
		else
			return kc_err_new(err, KC_E_INVALID,
					  "DOCKER_HOST %s: only tcp://127.0.0.1 is allowed "
					  "(loopback only)",
					  host);
		size_t plen = strcspn(port, "/");
		if (plen == 0 || plen > 5 || port[plen] != '\0')
			return kc_err_new(err, KC_E_INVALID, "DOCKER_HOST %s: bad port", host);
		for (size_t i = 0; i < plen; i++)
			if (!isdigit((unsigned char)port[i]))
				return kc_err_new(err, KC_E_INVALID, "DOCKER_HOST %s: bad port",
						  host);
		if (asprintf(base_url, "http://127.0.0.1:%.*s", (int)plen, port) < 0)
			*base_url = NULL;
		if (!*base_url)
			return kc_err_sys(err, ENOMEM, "DOCKER_HOST");
		return 0;
	} else {
		return kc_err_new(err, KC_E_INVALID,
				  "DOCKER_HOST %s: only unix:// and tcp://127.0.0.1 are supported",
				  host);
	}
	if (!*socket_path || !*base_url) {
		free(*socket_path);
		free(*base_url);
		*socket_path = *base_url = NULL;
		return kc_err_sys(err, ENOMEM, "DOCKER_HOST");
	}
	return 0;
}

static enum kc_err_kind kind_for_status(long status)
{
	switch (status) {
	case 400:
		return KC_E_INVALID;
	case 401:
	case 403:
		return KC_E_AUTH;
	case 404:
		return KC_E_NOTFOUND;
	case 408:
	case 504:
		return KC_E_TIMEOUT;
	case 409:
		return KC_E_CONFLICT;
	case 413:
		return KC_E_TOOBIG;
	case 501:
		return KC_E_UNSUPPORTED;
	case 503:
		return KC_E_UNAVAIL;
	}
	if (status >= 400 && status < 500)
		return KC_E_INVALID;
	return KC_E_REMOTE;
}

int kc_docker_error(long status, const char *body, size_t len, const char *what, kc_err_t *err)
{
	enum kc_err_kind kind = kind_for_status(status);
	const char *msg = NULL;
	cleanup_json yajl_val v = NULL;
	kc_err_t perr = NULL;
	if (body && len && kc_json_parse(body, len, &v, &perr) == 0) {
		yajl_val m = YAJL_IS_OBJECT(v) ? kc_json_member(v, "message") : NULL;
		if (m && YAJL_IS_STRING(m) && *m->u.string)
			msg = m->u.string;
	}
	kc_err_free(&perr);
	int rc;
	if (msg) {
		rc = kc_err_new(err, kind, "%s: %s (HTTP %ld)", what, msg, status);
	} else if (body && len) {
		/* Not the engine's JSON: show the start of the text, trimmed, printable only. */
		char text[201];
		size_t n = 0;
		for (size_t i = 0; i < len && n < sizeof text - 1; i++)
			text[n++] = isprint((unsigned char)body[i]) ? body[i] : ' ';
		while (n && text[n - 1] == ' ')
			n--;
		text[n] = '\0';
		rc = kc_err_new(err, kind, "%s: HTTP %ld: %s", what, status, text);
	} else {
		rc = kc_err_new(err, kind, "%s: HTTP %ld", what, status);
	}
	if (*err)
		(*err)->http_status = (int)status;
	return rc;
}

int kc_docker_api_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		long x = strtol(a, (char **)&a, 10);
		long y = strtol(b, (char **)&b, 10);
		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		else if (*a)
			a += strlen(a);
		if (*b == '.')
			b++;
		else if (*b)
			b += strlen(b);
	}
	return 0;
}

int64_t kc_docker_parse_time(const char *s)
{
	if (!s)
		return 0;
	struct tm tm = {0};
	int n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n == 0)
		return 0;
	if (tm.tm_year < 1970)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	const char *p = s + n;
	int64_t frac = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 9)
				frac = frac * 10 + (*p - '0');
		for (; digits < 9; digits++)
			frac *= 10;
	}
	int64_t offset = 0;
	if (*p == '+' || *p == '-') {
		int hh = 0, mm = 0;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return 0;
		offset = (int64_t)(hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
	} else if (*p != 'Z') {
		return 0;
	}
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	return ((int64_t)t - offset) * 1000000000LL + frac;
}

/* Escapes s for use in a URL path, keeping '/', ':' and '@' so image
 * references stay readable ("127.0.0.1:5000/app:v1"). */
static char *path_escape(const char *s)
{
	size_t n = 0;
	for (const char *p = s; *p; p++)
		n += (isalnum((unsigned char)*p) || strchr("-._~:@/", *p)) ? 1 : 3;
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	char *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || strchr("-._~:@/", *p))
			*o++ = (char)*p;
		else
			o += sprintf(o, "%%%02X", *p);
	}
	*o = '\0';
	return out;
}

/* Same but for one segment: container ids/names, exec ids, volume names. */
static char *seg_escape(const char *s)
{
	if (s && *s == '/') /* the engine's own spelling of names: "/web-1" */
		s++;
	if (!s || !*s || strchr(s, '/'))
		return NULL;
	return path_escape(s);
}

/* ---- requests ---- */

typedef int (*feed_fn)(void *opaque, const char *data, size_t len, kc_err_t *err);

/* Sink in front of a streaming decoder: keeps the start of the body (for an
 * error answer, whose status is known only at the end) and holds the
 * decoder's error. After a decoder error, up to ERR_HEAD_MAX more bytes are
 * swallowed so an error answer can still be read whole. */
struct sinkwrap {
	feed_fn feed;
	void *opaque;
	char head[ERR_HEAD_MAX];
	size_t head_len;
	size_t total;
	kc_err_t ferr;
	bool failed;
};

static int sinkwrap_cb(void *opaque, const char *data, size_t len)
{
	struct sinkwrap *s = opaque;
	if (s->head_len < sizeof s->head) {
		size_t take = sizeof s->head - s->head_len;
		if (take > len)
			take = len;
		memcpy(s->head + s->head_len, data, take);
		s->head_len += take;
	}
	s->total += len;
	if (s->failed)
		return s->total > ERR_HEAD_MAX ? 1 : 0;
	if (s->feed(s->opaque, data, len, &s->ferr) < 0) {
		s->failed = true;
		return s->total > ERR_HEAD_MAX ? 1 : 0;
	}
	return 0;
}

struct call {
	const char *method;
	const char *path; /* unversioned: "/containers/json?all=1" */
	const void *body;
	size_t body_len;
	const char *content_type; /* default application/json when a body is sent */
	const char *extra_header;
	long timeout_ms;
	size_t max;
	bool no_retry;
	feed_fn feed; /* streamed body; NULL: buffered in resp */
	void *feed_opaque;
};

static int negotiate(struct docker *d, kc_err_t *err);

static int docker_call(struct docker *d, const struct call *c, struct kc_http_response *resp,
		       kc_err_t *err)
{
	if (negotiate(d, err) < 0)
		return -1;
	const char *method = c->method ? c->method : "GET";
	cleanup_free char *path = NULL;
	if (asprintf(&path, "/v%s%s", d->api, c->path) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_free char *ct = NULL;
	const char *headers[4] = {0};
	size_t nh = 0;
	if (c->body || !strcmp(method, "POST") || !strcmp(method, "PUT")) {
		if (asprintf(&ct, "Content-Type: %s",
			     c->content_type ? c->content_type : "application/json") < 0)
			return kc_err_sys(err, ENOMEM, "docker");
		headers[nh++] = ct;
	}
	if (c->extra_header)
		headers[nh++] = c->extra_header;
	struct sinkwrap *sw = NULL;
	cleanup_free struct sinkwrap *sw_mem = NULL;
	if (c->feed) {
		sw = sw_mem = calloc(1, sizeof *sw);
		if (!sw)
			return kc_err_sys(err, ENOMEM, "docker");
		sw->feed = c->feed;
		sw->opaque = c->feed_opaque;
	}
	struct kc_http_request req = {
	    .method = method,
	    .path = path,
	    .headers = headers,
	    .body = c->body,
	    .body_len = c->body_len,
	    .no_retry = c->no_retry,
	    .timeout_ms = c->timeout_ms,
	    .max_response = c->max ? c->max : SMALL_MAX,
	    .sink = sw ? sinkwrap_cb : NULL,
	    .sink_opaque = sw,
	};
	int rc = kc_http_do(d->http, &req, resp, err);
	if (rc < 0) {
		if (sw && sw->failed) {
			/* Our decoder stopped the transfer: its error says why. */
			kc_err_free(err);
			*err = kc_steal(sw->ferr);
			return kc_err_wrap(err, "%s %s", method, c->path);
		}
		if (sw)
			kc_err_free(&sw->ferr);
		return kc_err_wrap(err, "Docker engine at %s", d->host);
	}
	if (resp->status >= 400) {
		if (sw)
			kc_err_free(&sw->ferr);
		cleanup_free char *what = NULL;
		if (asprintf(&what, "engine: %s %s", method, c->path) < 0)
			what = NULL;
		return kc_docker_error(resp->status, sw ? sw->head : resp->body,
				       sw ? sw->head_len : resp->body_len, what ? what : "engine",
				       err);
	}
	if (sw && sw->failed) {
		*err = kc_steal(sw->ferr);
		return kc_err_wrap(err, "%s %s", method, c->path);
	}
	return 0;
}

/* Buffered call whose answer must be JSON (KC_E_PROTO otherwise). */
static int docker_json(struct docker *d, const struct call *c, yajl_val *out, kc_err_t *err)
{
	cleanup_http_resp struct kc_http_response resp = {0};
	if (docker_call(d, c, &resp, err) < 0)
		return -1;
	if (!resp.body || !resp.body_len)
		return kc_err_new(err, KC_E_PROTO, "engine: %s %s: empty answer, expected JSON",
				  c->method ? c->method : "GET", c->path);
	if (kc_json_parse(resp.body, resp.body_len, out, err) < 0)
		return kc_err_wrap(err, "engine: %s %s", c->method ? c->method : "GET", c->path);
	return 0;
}

static int negotiate(struct docker *d, kc_err_t *err)
{
	if (d->api[0])
		return 0;
	struct stat st;
	if (d->socket_path && stat(d->socket_path, &st) < 0) {
		int e = errno;
		kc_err_new(err, KC_E_UNAVAIL,
			   "no Docker engine socket at %s (%s); is the engine running? "
			   "(DOCKER_HOST=%s)",
			   d->socket_path, strerror(e), d->host);
		(*err)->sys_errno = e;
		return -1;
	}
	struct kc_http_request req = {.path = "/_ping", .max_response = 4096};
	cleanup_http_resp struct kc_http_response resp = {0};
	if (kc_http_do(d->http, &req, &resp, err) < 0)
		return kc_err_wrap(err, "Docker engine at %s", d->host);
	if (resp.status != 200)
		return kc_docker_error(resp.status, resp.body, resp.body_len, "engine: GET /_ping",
				       err);
	const char *v = kc_http_header(&resp, "Api-Version");
	if (!v || !*v || strlen(v) >= sizeof d->api || !isdigit((unsigned char)v[0]) ||
	    strspn(v, "0123456789.") != strlen(v))
		return kc_err_new(err, KC_E_PROTO,
				  "engine at %s: /_ping answer has no usable Api-Version header "
				  "(not a Docker engine?)",
				  d->host);
	free(d->server_api);
	d->server_api = strdup(v);
	if (!d->server_api)
		return kc_err_sys(err, ENOMEM, "docker");
	snprintf(d->api, sizeof d->api, "%s",
		 kc_docker_api_cmp(v, KC_DOCKER_MAX_API) < 0 ? v : KC_DOCKER_MAX_API);
	kc_debug(d->log, "docker: %s speaks API %s, using %s", d->host, v, d->api);
	return 0;
}

/* ---- JSON -> neutral types ---- */

/* Array of strings at path (absent or null -> *out NULL). */
static int get_strv(yajl_val root, const char *path, char ***out, kc_err_t *err)
{
	*out = NULL;
	yajl_val a = NULL;
	if (kc_json_opt_arr(root, path, &a, err) < 0)
		return -1;
	if (!a)
		return 0;
	size_t n = a->u.array.len;
	char **v = calloc(n + 1, sizeof *v);
	if (!v)
		return kc_err_sys(err, ENOMEM, "docker");
	for (size_t i = 0; i < n; i++) {
		yajl_val s = a->u.array.values[i];
		if (!YAJL_IS_STRING(s)) {
			kc_strv_free(v);
			return kc_err_new(err, KC_E_PROTO, "JSON %s/%zu: expected string", path, i);
		}
		if (!(v[i] = strdup(s->u.string))) {
			kc_strv_free(v);
			return kc_err_sys(err, ENOMEM, "docker");
		}
	}
	*out = v;
	return 0;
}

/* Like get_strv but an absent array gives an empty list, not NULL. */
static int get_strv0(yajl_val root, const char *path, char ***out, kc_err_t *err)
{
	if (get_strv(root, path, out, err) < 0)
		return -1;
	if (!*out && !(*out = calloc(1, sizeof **out)))
		return kc_err_sys(err, ENOMEM, "docker");
	return 0;
}

static int get_labels(yajl_val root, const char *path, struct kc_labels *out, kc_err_t *err)
{
	memset(out, 0, sizeof *out);
	yajl_val o = NULL;
	if (kc_json_opt_obj(root, path, &o, err) < 0)
		return -1;
	if (!o || !o->u.object.len)
		return 0;
	size_t n = o->u.object.len;
	out->keys = calloc(n, sizeof *out->keys);
	out->values = calloc(n, sizeof *out->values);
	if (!out->keys || !out->values) {
		kc_labels_free(out);
		return kc_err_sys(err, ENOMEM, "docker");
	}
	for (size_t i = 0; i < n; i++) {
		yajl_val v = o->u.object.values[i];
		if (!YAJL_IS_STRING(v)) {
			kc_labels_free(out);
			return kc_err_new(err, KC_E_PROTO, "JSON %s/%s: expected string", path,
					  o->u.object.keys[i]);
		}
		out->keys[i] = strdup(o->u.object.keys[i]);
		out->values[i] = strdup(v->u.string);
		out->n++;
		if (!out->keys[i] || !out->values[i]) {
			kc_labels_free(out);
			return kc_err_sys(err, ENOMEM, "docker");
		}
	}
	return 0;
}

static int dup_opt_str(yajl_val root, const char *path, char **out, kc_err_t *err)
{
	const char *s = NULL;
	*out = NULL;
	if (kc_json_opt_str(root, path, &s, err) < 0)
		return -1;
	if (s && !(*out = strdup(s)))
		return kc_err_sys(err, ENOMEM, "docker");
	return 0;
}

static int dup_str(yajl_val root, const char *path, char **out, kc_err_t *err)
{
	const char *s = NULL;
	*out = NULL;
	if (kc_json_get_str(root, path, &s, err) < 0)
		return -1;
	if (!(*out = strdup(s)))
		return kc_err_sys(err, ENOMEM, "docker");
	return 0;
}

static enum kc_state parse_state(const char *s)
{
	static const char *const names[] = {"",		  "created",  "running", "paused",
					    "restarting", "removing", "exited",	 "dead"};
	for (size_t i = 1; s && i < sizeof names / sizeof *names; i++)
		if (!strcmp(s, names[i]))
			return (enum kc_state)i;
	return KC_STATE_UNKNOWN;
}

static enum kc_health parse_health(const char *s)
{
	if (!s)
		return KC_HEALTH_NONE;
	if (!strcmp(s, "starting"))
		return KC_HEALTH_STARTING;
	if (!strcmp(s, "healthy"))
		return KC_HEALTH_HEALTHY;
	if (!strcmp(s, "unhealthy"))
		return KC_HEALTH_UNHEALTHY;
	return KC_HEALTH_NONE;
}

static int parse_inspect(yajl_val v, struct kc_container_info *c, kc_err_t *err)
{
	memset(c, 0, sizeof *c);
	const char *s = NULL;
	int64_t i64 = 0;
	if (dup_str(v, "/Id", &c->id, err) < 0)
		goto fail;
	if (kc_json_opt_str(v, "/Name", &s, err) < 0)
		goto fail;
	if (s && !(c->name = strdup(*s == '/' ? s + 1 : s)))
		goto oom;
	if (dup_opt_str(v, "/Config/Image", &c->image, err) < 0 ||
	    dup_opt_str(v, "/Image", &c->image_id, err) < 0 ||
	    get_labels(v, "/Config/Labels", &c->labels, err) < 0)
		goto fail;
	s = NULL;
	if (kc_json_opt_str(v, "/State/Status", &s, err) < 0)
		goto fail;
	c->state = parse_state(s);
	s = NULL;
	if (kc_json_opt_str(v, "/State/Health/Status", &s, err) < 0)
		goto fail;
	c->health = parse_health(s);
	if (kc_json_opt_int(v, "/State/ExitCode", &i64, err) < 0)
		goto fail;
	c->exit_code = (int)i64;
	i64 = 0;
	if (kc_json_opt_int(v, "/State/Pid", &i64, err) < 0)
		goto fail;
	c->pid = (int)i64;
	s = NULL;
	if (kc_json_opt_str(v, "/State/StartedAt", &s, err) < 0)
		goto fail;
	c->started_ns = kc_docker_parse_time(s);
	s = NULL;
	if (kc_json_opt_str(v, "/State/FinishedAt", &s, err) < 0)
		goto fail;
	c->finished_ns = kc_docker_parse_time(s);
	s = NULL;
	if (kc_json_opt_str(v, "/Created", &s, err) < 0)
		goto fail;
	c->created_ns = kc_docker_parse_time(s);
	if (get_strv(v, "/Config/Env", &c->env, err) < 0 ||
	    get_strv(v, "/Config/Cmd", &c->cmd, err) < 0 ||
	    get_strv(v, "/Config/Entrypoint", &c->entrypoint, err) < 0 ||
	    kc_json_opt_bool(v, "/HostConfig/ReadonlyRootfs", &c->read_only_rootfs, err) < 0 ||
	    dup_opt_str(v, "/HostConfig/NetworkMode", &c->network_mode, err) < 0)
		goto fail;
	i64 = 0;
	if (kc_json_opt_int(v, "/RestartCount", &i64, err) < 0)
		goto fail;
	c->restart_count = (int)i64;
	return 0;
oom:
	kc_err_sys(err, ENOMEM, "docker");
fail:
	kc_container_info_free(c);
	return -1;
}

/* Health and exit code as the list shows them: "Up 2 minutes (healthy)", "Exited (7) 3 s ago". */
static void parse_status_text(const char *s, struct kc_container_info *c)
{
	if (!s)
		return;
	if (strstr(s, "(healthy)"))
		c->health = KC_HEALTH_HEALTHY;
	else if (strstr(s, "(unhealthy)"))
		c->health = KC_HEALTH_UNHEALTHY;
	else if (strstr(s, "(health: starting)"))
		c->health = KC_HEALTH_STARTING;
	int code;
	if (sscanf(s, "Exited (%d)", &code) == 1)
		c->exit_code = code;
}

static int parse_list_item(yajl_val v, struct kc_container_info *c, kc_err_t *err)
{
	memset(c, 0, sizeof *c);
	const char *s = NULL;
	int64_t created = 0;
	if (dup_str(v, "/Id", &c->id, err) < 0)
		goto fail;
	if (kc_json_opt_str(v, "/Names/0", &s, err) < 0)
		goto fail;
	if (s && !(c->name = strdup(*s == '/' ? s + 1 : s)))
		goto oom;
	if (dup_opt_str(v, "/Image", &c->image, err) < 0 ||
	    dup_opt_str(v, "/ImageID", &c->image_id, err) < 0 ||
	    get_labels(v, "/Labels", &c->labels, err) < 0 ||
	    dup_opt_str(v, "/Status", &c->status, err) < 0)
		goto fail;
	s = NULL;
	if (kc_json_opt_str(v, "/State", &s, err) < 0)
		goto fail;
	c->state = parse_state(s);
	parse_status_text(c->status, c);
	if (kc_json_opt_int(v, "/Created", &created, err) < 0)
		goto fail;
	c->created_ns = created * 1000000000LL;
	return 0;
oom:
	kc_err_sys(err, ENOMEM, "docker");
fail:
	kc_container_info_free(c);
	return -1;
}

static int parse_image(yajl_val v, bool from_list, struct kc_engine_image *im, kc_err_t *err)
{
	memset(im, 0, sizeof *im);
	int64_t size = 0;
	if (dup_str(v, "/Id", &im->id, err) < 0 ||
	    get_strv0(v, "/RepoTags", &im->repo_tags, err) < 0 ||
	    get_strv0(v, "/RepoDigests", &im->repo_digests, err) < 0 ||
	    kc_json_opt_int(v, "/Size", &size, err) < 0)
		goto fail;
	im->size = size;
	if (from_list) {
		int64_t created = 0;
		if (kc_json_opt_int(v, "/Created", &created, err) < 0 ||
		    get_labels(v, "/Labels", &im->labels, err) < 0)
			goto fail;
		im->created_ns = created * 1000000000LL;
		return 0;
	}
	const char *s = NULL;
	if (kc_json_opt_str(v, "/Created", &s, err) < 0)
		goto fail;
	im->created_ns = kc_docker_parse_time(s);
	if (get_strv0(v, "/RootFS/Layers", &im->layers, err) < 0 ||
	    get_labels(v, "/Config/Labels", &im->labels, err) < 0 ||
	    get_strv(v, "/Config/Env", &im->env, err) < 0 ||
	    get_strv(v, "/Config/Cmd", &im->cmd, err) < 0 ||
	    get_strv(v, "/Config/Entrypoint", &im->entrypoint, err) < 0 ||
	    dup_opt_str(v, "/Config/User", &im->user, err) < 0 ||
	    dup_opt_str(v, "/Config/WorkingDir", &im->workdir, err) < 0)
		goto fail;
	return 0;
fail:
	kc_engine_image_free(im);
	return -1;
}

/* {"label":["k=v","k"], "reference":["r"]} for the filters query parameter, escaped. */
static char *filters_query(const char *reference, const struct kc_label *labels, size_t n)
{
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	if (!g)
		return NULL;
	yajl_gen_map_open(g);
	if (n) {
		kc_jgen_key(g, "label");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < n; i++) {
			cleanup_free char *f = NULL;
			if (labels[i].value
				? asprintf(&f, "%s=%s", labels[i].key, labels[i].value) < 0
				: !(f = strdup(labels[i].key)))
				return NULL;
			kc_jgen_str(g, f);
		}
		yajl_gen_array_close(g);
	}
	if (reference) {
		kc_jgen_key(g, "reference");
		yajl_gen_array_open(g);
		kc_jgen_str(g, reference);
		yajl_gen_array_close(g);
	}
	yajl_gen_map_close(g);
	cleanup_free char *json = kc_jgen_finish(g, NULL);
	return json ? kc_http_escape(json) : NULL;
}

/* ---- ops: version ---- */

static void docker_free(struct kc_engine *e)
{
	struct docker *d = D(e);
	kc_http_free(d->http);
	free(d->host);
	free(d->socket_path);
	free(d->server_api);
	free(d);
}

static int docker_http_stats(struct kc_engine *e, struct kc_http_stats *out, kc_err_t *err)
{
	(void)err;
	kc_http_stats_get(D(e)->http, out);
	return 0;
}

static int docker_ping(struct kc_engine *e, kc_err_t *err)
{
	struct docker *d = D(e);
	d->api[0] = '\0'; /* a ping always asks again */
	return negotiate(d, err);
}

static int docker_version(struct kc_engine *e, struct kc_engine_version *out, kc_err_t *err)
{
	struct docker *d = D(e);
	memset(out, 0, sizeof *out);
	cleanup_json yajl_val v = NULL;
	struct call c = {.path = "/version"};
	if (docker_json(d, &c, &v, err) < 0)
		return kc_err_wrap(err, "engine version");
	if (!(out->backend = strdup("docker")) || !(out->api_version = strdup(d->api)) ||
	    !(out->server_api_version = strdup(d->server_api))) {
		kc_engine_version_free(out);
		return kc_err_sys(err, ENOMEM, "docker");
	}
	if (dup_str(v, "/Version", &out->engine_version, err) < 0 ||
	    dup_opt_str(v, "/MinAPIVersion", &out->min_api_version, err) < 0 ||
	    dup_opt_str(v, "/Os", &out->os, err) < 0 ||
	    dup_opt_str(v, "/Arch", &out->arch, err) < 0 ||
	    dup_opt_str(v, "/KernelVersion", &out->kernel, err) < 0) {
		kc_engine_version_free(out);
		return kc_err_wrap(err, "engine version");
	}
	return 0;
}

/* ---- ops: images ---- */

static int docker_image_inspect(struct kc_engine *e, const char *ref, struct kc_engine_image *out,
				kc_err_t *err)
{
	cleanup_free char *r = path_escape(ref);
	cleanup_free char *path = NULL;
	if (!r || asprintf(&path, "/images/%s/json", r) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_json yajl_val v = NULL;
	struct call c = {.path = path};
	if (docker_json(D(e), &c, &v, err) < 0 || parse_image(v, false, out, err) < 0)
		return kc_err_wrap(err, "inspecting image %s", ref);
	return 0;
}

static int docker_image_list(struct kc_engine *e, const char *reference, const struct kc_label *labels,
			     size_t n_labels, struct kc_engine_image **out, size_t *n, kc_err_t *err)
{
	cleanup_free char *f = filters_query(reference, labels, n_labels);
	cleanup_free char *path = NULL;
	if (!f || asprintf(&path, "/images/json?filters=%s", f) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_json yajl_val v = NULL;
	struct call c = {.path = path, .max = LIST_MAX};
	if (docker_json(D(e), &c, &v, err) < 0)
		return kc_err_wrap(err, "listing images");
	if (!YAJL_IS_ARRAY(v))
		return kc_err_new(err, KC_E_PROTO, "listing images: answer is not an array");
	size_t len = v->u.array.len;
	struct kc_engine_image *list = calloc(len ? len : 1, sizeof *list);
	if (!list)
		return kc_err_sys(err, ENOMEM, "docker");
	for (size_t i = 0; i < len; i++) {
		if (parse_image(v->u.array.values[i], true, &list[i], err) < 0) {
			kc_engine_image_list_free(list, i);
			return kc_err_wrap(err, "listing images: item %zu", i);
		}
	}
	*out = list;
	*n = len;
	return 0;
}

/* Progress messages of pull/push/build: hands each to the user's callback,
 * keeps the aux digest/id, turns an error message into KC_E_REMOTE. */
struct progress_ctx {
	kc_progress_cb cb;
	void *opaque;
	char *aux_digest;
	char *aux_id;
	const char *what;
	struct kc_jsonl jl;
};

static int progress_msg(void *opaque, yajl_val m, kc_err_t *err)
{
	struct progress_ctx *p = opaque;
	if (!YAJL_IS_OBJECT(m))
		return kc_err_new(err, KC_E_PROTO, "%s: progress message is not an object",
				  p->what);
	struct kc_progress pr = {.current = -1, .total = -1};
	yajl_val x;
#define STR_FIELD(field, path)                                                                     \
	if ((x = kc_json_find(m, path)) && YAJL_IS_STRING(x))                                      \
	pr.field = x->u.string
	STR_FIELD(status, "/status");
	STR_FIELD(id, "/id");
	STR_FIELD(progress, "/progress");
	STR_FIELD(stream, "/stream");
	STR_FIELD(error, "/error");
	if (!pr.error)
		STR_FIELD(error, "/errorDetail/message");
#undef STR_FIELD
	if ((x = kc_json_find(m, "/progressDetail/current")) && YAJL_IS_INTEGER(x))
		pr.current = x->u.number.i;
	if ((x = kc_json_find(m, "/progressDetail/total")) && YAJL_IS_INTEGER(x))
		pr.total = x->u.number.i;
	if ((x = kc_json_find(m, "/aux/Digest")) && YAJL_IS_STRING(x)) {
		free(p->aux_digest);
		p->aux_digest = strdup(x->u.string);
	}
	if ((x = kc_json_find(m, "/aux/ID")) && YAJL_IS_STRING(x)) {
		free(p->aux_id);
		p->aux_id = strdup(x->u.string);
	}
	if (p->cb && p->cb(p->opaque, &pr) != 0)
		return kc_err_new(err, KC_E_GENERIC, "%s: stopped by the progress receiver",
				  p->what);
	if (pr.error)
		return kc_err_new(err, KC_E_REMOTE, "%s: %s", p->what, pr.error);
	return 0;
}

static int progress_feed(void *opaque, const char *data, size_t len, kc_err_t *err)
{
	struct progress_ctx *p = opaque;
	return kc_jsonl_feed(&p->jl, data, len, err);
}

static void progress_release(struct progress_ctx *p)
{
	kc_jsonl_release(&p->jl);
	free(p->aux_digest);
	free(p->aux_id);
}

static int progress_call(struct docker *d, struct call *c, struct progress_ctx *p, kc_err_t *err)
{
	kc_jsonl_init(&p->jl, 0, progress_msg, p);
	c->feed = progress_feed;
	c->feed_opaque = p;
	c->no_retry = true;
	c->max = STREAM_MAX;
	if (!c->timeout_ms)
		c->timeout_ms = 30L * 60 * 1000;
	cleanup_http_resp struct kc_http_response resp = {0};
	if (docker_call(d, c, &resp, err) < 0)
		return -1;
	return kc_jsonl_finish(&p->jl, err);
}

/* "host:5000/app:v1" -> name "host:5000/app", tag "v1"; "app@sha256:.." keeps the digest as tag. */
static int split_ref(const char *ref, char **name, char **tag, kc_err_t *err)
{
	const char *at = strchr(ref, '@');
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(ref, ':');
	size_t nlen;
	const char *t;
	if (at) {
		nlen = (size_t)(at - ref);
		t = at + 1;
	} else if (colon && (!slash || colon > slash)) {
		nlen = (size_t)(colon - ref);
		t = colon + 1;
	} else {
		nlen = strlen(ref);
		t = "latest";
	}
	if (!nlen || !*t)
		return kc_err_new(err, KC_E_INVALID, "bad image reference %s", ref);
	*name = strndup(ref, nlen);
	*tag = strdup(t);
	if (!*name || !*tag) {
		free(*name);
		free(*tag);
		return kc_err_sys(err, ENOMEM, "docker");
	}
	return 0;
}

/* Empty credentials: the engine insists on the header for push. */
#define NO_AUTH_HEADER "X-Registry-Auth: e30="

static int docker_image_pull(struct kc_engine *e, const char *ref, kc_progress_cb cb, void *opaque,
			     kc_err_t *err)
{
	cleanup_free char *name = NULL, *tag = NULL;
	if (split_ref(ref, &name, &tag, err) < 0)
		return -1;
	cleanup_free char *en = kc_http_escape(name), *et = kc_http_escape(tag);
	cleanup_free char *path = NULL;
	if (!en || !et || asprintf(&path, "/images/create?fromImage=%s&tag=%s", en, et) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	struct progress_ctx p = {.cb = cb, .opaque = opaque, .what = "pull"};
	struct call c = {.method = "POST", .path = path, .extra_header = NO_AUTH_HEADER};
	int rc = progress_call(D(e), &c, &p, err);
	progress_release(&p);
	return rc < 0 ? kc_err_wrap(err, "pulling %s", ref) : 0;
}

static int docker_image_push(struct kc_engine *e, const char *ref, kc_progress_cb cb, void *opaque,
			     char **digest_out, kc_err_t *err)
{
	cleanup_free char *name = NULL, *tag = NULL;
	if (split_ref(ref, &name, &tag, err) < 0)
		return -1;
	cleanup_free char *en = path_escape(name), *et = kc_http_escape(tag);
	cleanup_free char *path = NULL;
	if (!en || !et || asprintf(&path, "/images/%s/push?tag=%s", en, et) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	struct progress_ctx p = {.cb = cb, .opaque = opaque, .what = "push"};
	struct call c = {.method = "POST", .path = path, .extra_header = NO_AUTH_HEADER};
	int rc = progress_call(D(e), &c, &p, err);
	if (rc == 0 && digest_out) {
		if (!p.aux_digest)
			rc = kc_err_new(err, KC_E_PROTO, "push: the engine reported no digest");
		else
			*digest_out = kc_steal(p.aux_digest);
	}
	progress_release(&p);
	return rc < 0 ? kc_err_wrap(err, "pushing %s", ref) : 0;
}

static int docker_image_tag(struct kc_engine *e, const char *src, const char *repo, const char *tag,
			    kc_err_t *err)
{
	cleanup_free char *es = path_escape(src), *er = kc_http_escape(repo);
	cleanup_free char *et = kc_http_escape(tag ? tag : "latest");
	cleanup_free char *path = NULL;
	if (!es || !er || !et || asprintf(&path, "/images/%s/tag?repo=%s&tag=%s", es, er, et) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_http_resp struct kc_http_response resp = {0};
	struct call c = {.method = "POST", .path = path};
	if (docker_call(D(e), &c, &resp, err) < 0)
		return kc_err_wrap(err, "tagging %s as %s:%s", src, repo, tag ? tag : "latest");
	return 0;
}

static int docker_image_remove(struct kc_engine *e, const char *ref, bool force, kc_err_t *err)
{
	cleanup_free char *r = path_escape(ref);
	cleanup_free char *path = NULL;
	if (!r || asprintf(&path, "/images/%s?force=%d", r, force) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_http_resp struct kc_http_response resp = {0};
	struct call c = {.method = "DELETE", .path = path};
	if (docker_call(D(e), &c, &resp, err) < 0)
		return kc_err_wrap(err, "removing image %s", ref);
	return 0;
}

static int docker_image_build(struct kc_engine *e, const void *tar, size_t len, const char *tag,
			      kc_progress_cb cb, void *opaque, char **id_out, kc_err_t *err)
{
	cleanup_free char *et = tag ? kc_http_escape(tag) : NULL;
	cleanup_free char *path = NULL;
	/* version=1: the classic builder, which needs no BuildKit session. */
	if ((tag && !et) || asprintf(&path, "/build?rm=1&forcerm=1&version=1%s%s", tag ? "&t=" : "",
				     tag ? et : "") < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	struct progress_ctx p = {.cb = cb, .opaque = opaque, .what = "build"};
	struct call c = {.method = "POST",
			 .path = path,
			 .body = tar,
			 .body_len = len,
			 .content_type = "application/x-tar"};
	int rc = progress_call(D(e), &c, &p, err);
	if (rc == 0 && id_out) {
		if (!p.aux_id)
			rc = kc_err_new(err, KC_E_PROTO, "build: the engine reported no image id");
		else
			*id_out = kc_steal(p.aux_id);
	}
	progress_release(&p);
	return rc < 0 ? kc_err_wrap(err, "building %s", tag ? tag : "an image") : 0;
}

/* ---- ops: containers ---- */

static void gen_strv(yajl_gen g, const char *key, const char *const *v)
{
	if (!v)
		return;
	kc_jgen_key(g, key);
	yajl_gen_array_open(g);
	for (; *v; v++)
		kc_jgen_str(g, *v);
	yajl_gen_array_close(g);
}

static int create_body(const struct kc_container_spec *s, char **out, kc_err_t *err)
{
	const char *net = s->network_mode ? s->network_mode : "none";
	/* Loopback-only rule: no bridge, no user networks. */
	if (strcmp(net, "none") != 0 && strcmp(net, "host") != 0)
		return kc_err_new(err, KC_E_INVALID,
				  "network_mode %s: only \"host\" and \"none\" are allowed", net);
	if (!s->image || !*s->image)
		return kc_err_new(err, KC_E_INVALID, "container spec: image is required");
	static const char *const restart_names[] = {"no", "always", "unless-stopped", "on-failure"};
	if ((unsigned)s->restart >= sizeof restart_names / sizeof *restart_names)
		return kc_err_new(err, KC_E_INVALID, "container spec: bad restart policy %d",
				  (int)s->restart);
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	if (!g)
		return kc_err_sys(err, ENOMEM, "docker");
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "Image", s->image);
	if (s->n_labels) {
		kc_jgen_key(g, "Labels");
		yajl_gen_map_open(g);
		for (size_t i = 0; i < s->n_labels; i++)
			kc_jgen_kv_str(g, s->labels[i].key,
				       s->labels[i].value ? s->labels[i].value : "");
		yajl_gen_map_close(g);
	}
	gen_strv(g, "Env", s->env);
	gen_strv(g, "Cmd", s->cmd);
	gen_strv(g, "Entrypoint", s->entrypoint);
	if (s->user)
		kc_jgen_kv_str(g, "User", s->user);
	if (s->workdir)
		kc_jgen_kv_str(g, "WorkingDir", s->workdir);
	if (s->stop_signal)
		kc_jgen_kv_str(g, "StopSignal", s->stop_signal);
	if (s->stop_timeout_s > 0)
		kc_jgen_kv_int(g, "StopTimeout", s->stop_timeout_s);
	if (s->healthcheck) {
		const struct kc_healthcheck *h = s->healthcheck;
		kc_jgen_key(g, "Healthcheck");
		yajl_gen_map_open(g);
		gen_strv(g, "Test", h->test);
		if (h->interval_ms)
			kc_jgen_kv_int(g, "Interval", h->interval_ms * 1000000);
		if (h->timeout_ms)
			kc_jgen_kv_int(g, "Timeout", h->timeout_ms * 1000000);
		if (h->start_period_ms)
			kc_jgen_kv_int(g, "StartPeriod", h->start_period_ms * 1000000);
		if (h->retries)
			kc_jgen_kv_int(g, "Retries", h->retries);
		yajl_gen_map_close(g);
	}
	kc_jgen_key(g, "HostConfig");
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "NetworkMode", net);
	kc_jgen_kv_bool(g, "ReadonlyRootfs", s->read_only_rootfs);
	if (s->init)
		kc_jgen_kv_bool(g, "Init", true);
	if (s->memory_limit)
		kc_jgen_kv_int(g, "Memory", s->memory_limit);
	if (s->nano_cpus)
		kc_jgen_kv_int(g, "NanoCpus", s->nano_cpus);
	if (s->n_tmpfs) {
		kc_jgen_key(g, "Tmpfs");
		yajl_gen_map_open(g);
		for (size_t i = 0; i < s->n_tmpfs; i++)
			kc_jgen_kv_str(g, s->tmpfs[i].target,
				       s->tmpfs[i].options ? s->tmpfs[i].options : "");
		yajl_gen_map_close(g);
	}
	if (s->n_volumes) {
		kc_jgen_key(g, "Mounts");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < s->n_volumes; i++) {
			yajl_gen_map_open(g);
			kc_jgen_kv_str(g, "Type", "volume");
			kc_jgen_kv_str(g, "Source", s->volumes[i].name);
			kc_jgen_kv_str(g, "Target", s->volumes[i].target);
			kc_jgen_kv_bool(g, "ReadOnly", s->volumes[i].read_only);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
	}
	kc_jgen_key(g, "RestartPolicy");
	yajl_gen_map_open(g);
	kc_jgen_kv_str(g, "Name", restart_names[s->restart]);
	if (s->restart == KC_RESTART_ON_FAILURE)
		kc_jgen_kv_int(g, "MaximumRetryCount", s->restart_max_retries);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g); /* HostConfig */
	yajl_gen_map_close(g);
	*out = kc_jgen_finish(g, NULL);
	if (!*out)
		return kc_err_new(err, KC_E_INVALID,
				  "container spec: cannot encode as JSON (invalid UTF-8?)");
	return 0;
}

static int docker_container_create(struct kc_engine *e, const struct kc_container_spec *spec,
				   char **id_out, kc_err_t *err)
{
	cleanup_free char *body = NULL;
	if (create_body(spec, &body, err) < 0)
		return -1;
	cleanup_free char *path = NULL;
	if (spec->name) {
		cleanup_free char *n = kc_http_escape(spec->name);
		if (!n || asprintf(&path, "/containers/create?name=%s", n) < 0)
			return kc_err_sys(err, ENOMEM, "docker");
	} else if (!(path = strdup("/containers/create"))) {
		return kc_err_sys(err, ENOMEM, "docker");
	}
	cleanup_json yajl_val v = NULL;
	struct call c = {.method = "POST", .path = path, .body = body, .body_len = strlen(body)};
	const char *label = spec->name ? spec->name : spec->image;
	if (docker_json(D(e), &c, &v, err) < 0 || dup_str(v, "/Id", id_out, err) < 0)
		return kc_err_wrap(err, "creating container %s", label);
	return 0;
}

/* POST/DELETE on /containers/{id}{suffix}; 304 (already so) counts as done. */
static int container_action(struct docker *d, const char *method, const char *id,
			    const char *suffix, long timeout_ms, const char *what, kc_err_t *err)
{
	cleanup_free char *eid = seg_escape(id);
	if (!eid)
		return kc_err_new(err, KC_E_INVALID, "bad container id \"%s\"", id ? id : "");
	cleanup_free char *path = NULL;
	if (asprintf(&path, "/containers/%s%s", eid, suffix) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_http_resp struct kc_http_response resp = {0};
	struct call c = {
	    .method = method, .path = path, .timeout_ms = timeout_ms, .no_retry = true};
	if (docker_call(d, &c, &resp, err) < 0)
		return kc_err_wrap(err, "%s container %s", what, id);
	return 0;
}

static int docker_container_start(struct kc_engine *e, const char *id, kc_err_t *err)
{
	return container_action(D(e), "POST", id, "/start", 0, "starting", err);
}

static int docker_container_stop(struct kc_engine *e, const char *id, int timeout_s, kc_err_t *err)
{
	char suffix[32];
	long http_timeout = 0;
	if (timeout_s >= 0) {
		snprintf(suffix, sizeof suffix, "/stop?t=%d", timeout_s);
		/* The engine answers only after the kill that follows the grace period. */
		http_timeout = (timeout_s + 30) * 1000L;
	} else {
		snprintf(suffix, sizeof suffix, "/stop");
		http_timeout = -1;
	}
	return container_action(D(e), "POST", id, suffix, http_timeout, "stopping", err);
}

static int docker_container_kill(struct kc_engine *e, const char *id, const char *signal,
				 kc_err_t *err)
{
	cleanup_free char *sig = kc_http_escape(signal ? signal : "SIGKILL");
	cleanup_free char *suffix = NULL;
	if (!sig || asprintf(&suffix, "/kill?signal=%s", sig) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	return container_action(D(e), "POST", id, suffix, 0, "signalling", err);
}

static int docker_container_remove(struct kc_engine *e, const char *id, bool force, bool volumes,
				   kc_err_t *err)
{
	char suffix[32];
	snprintf(suffix, sizeof suffix, "?force=%d&v=%d", force, volumes);
	return container_action(D(e), "DELETE", id, suffix, 0, "removing", err);
}

static int container_get_json(struct docker *d, const char *id, const char *suffix, size_t max,
			      yajl_val *out, kc_err_t *err)
{
	cleanup_free char *eid = seg_escape(id);
	if (!eid)
		return kc_err_new(err, KC_E_INVALID, "bad container id \"%s\"", id ? id : "");
	cleanup_free char *path = NULL;
	if (asprintf(&path, "/containers/%s%s", eid, suffix) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	struct call c = {.path = path, .max = max};
	return docker_json(d, &c, out, err);
}

static int docker_container_inspect(struct kc_engine *e, const char *id,
				    struct kc_container_info *out, kc_err_t *err)
{
	cleanup_json yajl_val v = NULL;
	if (container_get_json(D(e), id, "/json", SMALL_MAX, &v, err) < 0 ||
	    parse_inspect(v, out, err) < 0)
		return kc_err_wrap(err, "inspecting container %s", id);
	return 0;
}

static int docker_container_list(struct kc_engine *e, bool all, const struct kc_label *labels,
				 size_t n_labels, struct kc_container_info **out, size_t *n,
				 kc_err_t *err)
{
	cleanup_free char *f = filters_query(NULL, labels, n_labels);
	cleanup_free char *path = NULL;
	if (!f || asprintf(&path, "/containers/json?all=%d&filters=%s", all, f) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_json yajl_val v = NULL;
	struct call c = {.path = path, .max = LIST_MAX};
	if (docker_json(D(e), &c, &v, err) < 0)
		return kc_err_wrap(err, "listing containers");
	if (!YAJL_IS_ARRAY(v))
		return kc_err_new(err, KC_E_PROTO, "listing containers: answer is not an array");
	size_t len = v->u.array.len;
	struct kc_container_info *list = calloc(len ? len : 1, sizeof *list);
	if (!list)
		return kc_err_sys(err, ENOMEM, "docker");
	for (size_t i = 0; i < len; i++) {
		if (parse_list_item(v->u.array.values[i], &list[i], err) < 0) {
			kc_container_list_free(list, i);
			return kc_err_wrap(err, "listing containers: item %zu", i);
		}
	}
	*out = list;
	*n = len;
	return 0;
}

static int docker_container_wait(struct kc_engine *e, const char *id, long timeout_ms,
				 int *exit_code, kc_err_t *err)
{
	cleanup_free char *eid = seg_escape(id);
	if (!eid)
		return kc_err_new(err, KC_E_INVALID, "bad container id \"%s\"", id ? id : "");
	cleanup_free char *path = NULL;
	if (asprintf(&path, "/containers/%s/wait?condition=not-running", eid) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_json yajl_val v = NULL;
	struct call c = {.method = "POST",
			 .path = path,
			 .timeout_ms = timeout_ms ? timeout_ms : -1,
			 .no_retry = true};
	int64_t code = 0;
	if (docker_json(D(e), &c, &v, err) < 0 || kc_json_get_int(v, "/StatusCode", &code, err) < 0)
		return kc_err_wrap(err, "waiting for container %s", id);
	const char *msg = NULL;
	if (kc_json_opt_str(v, "/Error/Message", &msg, err) < 0)
		return kc_err_wrap(err, "waiting for container %s", id);
	if (msg && *msg)
		return kc_err_new(err, KC_E_REMOTE, "waiting for container %s: %s", id, msg);
	if (exit_code)
		*exit_code = (int)code;
	return 0;
}

/* ---- exec and logs: multiplexed streams ---- */

struct capture {
	char *buf;
	size_t len, alloc, max;
	bool truncated;
};

static int capture_add(struct capture *c, const char *data, size_t len)
{
	if (c->len + len > c->max) {
		c->truncated = true;
		len = c->max - c->len;
	}
	if (!len)
		return 0;
	if (c->len + len + 1 > c->alloc) {
		size_t want = c->alloc ? c->alloc : 1024;
		while (want < c->len + len + 1)
			want *= 2;
		char *nb = realloc(c->buf, want);
		if (!nb)
			return -1;
		c->buf = nb;
		c->alloc = want;
	}
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	c->buf[c->len] = '\0';
	return 0;
}

struct demux {
	struct kc_mux_decoder mux;
	struct capture out, err, sys;
};

static int demux_cb(void *opaque, enum kc_mux_stream s, const char *data, size_t len)
{
	struct demux *d = opaque;
	struct capture *c = s == KC_MUX_STDERR ? &d->err : s == KC_MUX_SYSERR ? &d->sys : &d->out;
	return capture_add(c, data, len);
}

static int demux_feed(void *opaque, const char *data, size_t len, kc_err_t *err)
{
	struct demux *d = opaque;
	return kc_mux_feed(&d->mux, data, len, err);
}

static void demux_init(struct demux *d, size_t max)
{
	memset(d, 0, sizeof *d);
	kc_mux_init(&d->mux, 0, demux_cb, d);
	d->out.max = d->err.max = max ? max : KC_EXEC_DEFAULT_MAX_OUTPUT;
	d->sys.max = 4096;
}

static void demux_release(struct demux *d)
{
	free(d->out.buf);
	free(d->err.buf);
	free(d->sys.buf);
}

/* Moves the captured streams into a result (empty strings, never NULL). */
static int demux_result(struct demux *d, struct kc_exec_result *r, kc_err_t *err)
{
	if (!d->out.buf && !(d->out.buf = calloc(1, 1)))
		return kc_err_sys(err, ENOMEM, "docker");
	if (!d->err.buf && !(d->err.buf = calloc(1, 1)))
		return kc_err_sys(err, ENOMEM, "docker");
	r->out = kc_steal(d->out.buf);
	r->out_len = d->out.len;
	r->out_truncated = d->out.truncated;
	r->err = kc_steal(d->err.buf);
	r->err_len = d->err.len;
	r->err_truncated = d->err.truncated;
	return 0;
}

static int sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

static int docker_exec(struct kc_engine *e, const char *id, const struct kc_exec_spec *spec,
		       struct kc_exec_result *out, kc_err_t *err)
{
	struct docker *d = D(e);
	memset(out, 0, sizeof *out);
	if (!spec->cmd || !spec->cmd[0])
		return kc_err_new(err, KC_E_INVALID, "exec: empty command");
	cleanup_free char *eid = seg_escape(id);
	if (!eid)
		return kc_err_new(err, KC_E_INVALID, "bad container id \"%s\"", id ? id : "");

	/* 1. create */
	cleanup_jgen yajl_gen g = kc_jgen_new(false);
	if (!g)
		return kc_err_sys(err, ENOMEM, "docker");
	yajl_gen_map_open(g);
	kc_jgen_kv_bool(g, "AttachStdin", false);
	kc_jgen_kv_bool(g, "AttachStdout", true);
	kc_jgen_kv_bool(g, "AttachStderr", true);
	kc_jgen_kv_bool(g, "Tty", false);
	gen_strv(g, "Cmd", spec->cmd);
	gen_strv(g, "Env", spec->env);
	if (spec->user)
		kc_jgen_kv_str(g, "User", spec->user);
	if (spec->workdir)
		kc_jgen_kv_str(g, "WorkingDir", spec->workdir);
	yajl_gen_map_close(g);
	cleanup_free char *body = kc_jgen_finish(g, NULL);
	if (!body)
		return kc_err_new(err, KC_E_INVALID, "exec: command is not valid UTF-8");
	cleanup_free char *path = NULL;
	if (asprintf(&path, "/containers/%s/exec", eid) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_json yajl_val v = NULL;
	cleanup_free char *exec_id = NULL;
	struct call c = {.method = "POST", .path = path, .body = body, .body_len = strlen(body)};
	if (docker_json(d, &c, &v, err) < 0 || dup_str(v, "/Id", &exec_id, err) < 0)
		return kc_err_wrap(err, "exec in container %s", id);
	cleanup_free char *eexec = seg_escape(exec_id);
	if (!eexec)
		return kc_err_new(err, KC_E_PROTO, "exec in container %s: bad exec id", id);

	/* 2. start: the answer is the multiplexed stream, until the command ends. */
	cleanup_free char *start_path = NULL;
	if (asprintf(&start_path, "/exec/%s/start", eexec) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	static const char start_body[] = "{\"Detach\":false,\"Tty\":false}";
	struct demux dm;
	demux_init(&dm, spec->max_output);
	struct call sc = {.method = "POST",
			  .path = start_path,
			  .body = start_body,
			  .body_len = sizeof start_body - 1,
			  .timeout_ms = spec->timeout_ms ? spec->timeout_ms : 60000,
			  .max = EXEC_STREAM_MAX,
			  .no_retry = true,
			  .feed = demux_feed,
			  .feed_opaque = &dm};
	cleanup_http_resp struct kc_http_response resp = {0};
	int rc = docker_call(d, &sc, &resp, err);
	if (rc == 0)
		rc = kc_mux_finish(&dm.mux, err);
	if (rc == 0 && dm.sys.len)
		rc = kc_err_new(err, KC_E_REMOTE, "engine: %s", dm.sys.buf);
	if (rc == 0)
		rc = demux_result(&dm, out, err);
	demux_release(&dm);
	if (rc < 0) {
		kc_exec_result_free(out);
		return kc_err_wrap(err, "exec %s in container %s", spec->cmd[0], id);
	}

	/* 3. exit code: the stream closes as the process ends, and the engine
	 * may record the code a moment later, so poll briefly. */
	cleanup_free char *ipath = NULL;
	if (asprintf(&ipath, "/exec/%s/json", eexec) < 0) {
		kc_exec_result_free(out);
		return kc_err_sys(err, ENOMEM, "docker");
	}
	for (int attempt = 0;; attempt++) {
		cleanup_json yajl_val iv = NULL;
		struct call ic = {.path = ipath};
		bool running = false;
		int64_t code = -1;
		if (docker_json(d, &ic, &iv, err) < 0 ||
		    kc_json_opt_bool(iv, "/Running", &running, err) < 0 ||
		    kc_json_opt_int(iv, "/ExitCode", &code, err) < 0) {
			kc_exec_result_free(out);
			return kc_err_wrap(err, "exec %s in container %s", spec->cmd[0], id);
		}
		if (!running && code >= 0) {
			out->exit_code = (int)code;
			return 0;
		}
		if (attempt >= 100) {
			kc_exec_result_free(out);
			return kc_err_new(err, KC_E_TIMEOUT,
					  "exec %s in container %s: output ended but the engine "
					  "still reports it running after 5 s",
					  spec->cmd[0], id);
		}
		sleep_ms(50);
	}
}

static int docker_container_logs(struct kc_engine *e, const char *id, int tail, size_t max,
				 struct kc_exec_result *out, kc_err_t *err)
{
	memset(out, 0, sizeof *out);
	cleanup_free char *eid = seg_escape(id);
	if (!eid)
		return kc_err_new(err, KC_E_INVALID, "bad container id \"%s\"", id ? id : "");
	cleanup_free char *path = NULL;
	char tailbuf[24];
	if (tail < 0)
		snprintf(tailbuf, sizeof tailbuf, "all");
	else
		snprintf(tailbuf, sizeof tailbuf, "%d", tail);
	if (asprintf(&path, "/containers/%s/logs?stdout=1&stderr=1&tail=%s", eid, tailbuf) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	struct demux dm;
	demux_init(&dm, max);
	struct call c = {.path = path,
			 .max = EXEC_STREAM_MAX,
			 .no_retry = true,
			 .feed = demux_feed,
			 .feed_opaque = &dm};
	cleanup_http_resp struct kc_http_response resp = {0};
	int rc = docker_call(D(e), &c, &resp, err);
	if (rc == 0)
		rc = kc_mux_finish(&dm.mux, err);
	if (rc == 0)
		rc = demux_result(&dm, out, err);
	demux_release(&dm);
	return rc < 0 ? kc_err_wrap(err, "logs of container %s", id) : 0;
}

/* ---- archive, changes, stats, export ---- */

static int docker_archive_get(struct kc_engine *e, const char *id, const char *cpath, size_t max,
			      void **tar_out, size_t *len_out, kc_err_t *err)
{
	cleanup_free char *eid = seg_escape(id), *ep = kc_http_escape(cpath);
	if (!eid)
		return kc_err_new(err, KC_E_INVALID, "bad container id \"%s\"", id ? id : "");
	cleanup_free char *path = NULL;
	if (!ep || asprintf(&path, "/containers/%s/archive?path=%s", eid, ep) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_http_resp struct kc_http_response resp = {0};
	struct call c = {.path = path, .max = max ? max : ARCHIVE_MAX};
	if (docker_call(D(e), &c, &resp, err) < 0)
		return kc_err_wrap(err, "copying %s out of container %s", cpath, id);
	if (!resp.body && !(resp.body = calloc(1, 1)))
		return kc_err_sys(err, ENOMEM, "docker");
	*tar_out = kc_steal(resp.body);
	*len_out = resp.body_len;
	return 0;
}

static int docker_archive_put(struct kc_engine *e, const char *id, const char *dir, const void *tar,
			      size_t len, kc_err_t *err)
{
	cleanup_free char *eid = seg_escape(id), *ep = kc_http_escape(dir);
	if (!eid)
		return kc_err_new(err, KC_E_INVALID, "bad container id \"%s\"", id ? id : "");
	cleanup_free char *path = NULL;
	if (!ep || asprintf(&path, "/containers/%s/archive?path=%s", eid, ep) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_http_resp struct kc_http_response resp = {0};
	struct call c = {.method = "PUT",
			 .path = path,
			 .body = tar,
			 .body_len = len,
			 .content_type = "application/x-tar",
			 .timeout_ms = 10L * 60 * 1000};
	if (docker_call(D(e), &c, &resp, err) < 0)
		return kc_err_wrap(err, "copying into %s of container %s", dir, id);
	return 0;
}

static int docker_container_changes(struct kc_engine *e, const char *id, struct kc_change **out,
				    size_t *n, kc_err_t *err)
{
	cleanup_json yajl_val v = NULL;
	*out = NULL;
	*n = 0;
	if (container_get_json(D(e), id, "/changes", LIST_MAX, &v, err) < 0)
		return kc_err_wrap(err, "changes of container %s", id);
	if (YAJL_IS_NULL(v))
		return 0; /* the engine's way of saying "none" */
	if (!YAJL_IS_ARRAY(v))
		return kc_err_new(err, KC_E_PROTO, "changes of container %s: not an array", id);
	size_t len = v->u.array.len;
	struct kc_change *list = calloc(len ? len : 1, sizeof *list);
	if (!list)
		return kc_err_sys(err, ENOMEM, "docker");
	for (size_t i = 0; i < len; i++) {
		yajl_val it = v->u.array.values[i];
		const char *p = NULL;
		int64_t kind = 0;
		if (kc_json_get_str(it, "/Path", &p, err) < 0 ||
		    kc_json_get_int(it, "/Kind", &kind, err) < 0 || kind < 0 || kind > 2) {
			kc_changes_free(list, i);
			if (kind < 0 || kind > 2)
				kc_err_new(err, KC_E_PROTO, "unknown change kind %lld",
					   (long long)kind);
			return kc_err_wrap(err, "changes of container %s: item %zu", id, i);
		}
		list[i].kind = (enum kc_change_kind)kind;
		if (!(list[i].path = strdup(p))) {
			kc_changes_free(list, i);
			return kc_err_sys(err, ENOMEM, "docker");
		}
	}
	*out = list;
	*n = len;
	return 0;
}

static uint64_t opt_u64(yajl_val v, const char *path, bool *found)
{
	yajl_val x = kc_json_find(v, path);
	if (x && YAJL_IS_INTEGER(x) && x->u.number.i >= 0) {
		if (found)
			*found = true;
		return (uint64_t)x->u.number.i;
	}
	if (found)
		*found = false;
	return 0;
}

static int docker_container_stats(struct kc_engine *e, const char *id, struct kc_stats *out,
				  kc_err_t *err)
{
	memset(out, 0, sizeof *out);
	cleanup_json yajl_val v = NULL;
	if (container_get_json(D(e), id, "/stats?stream=false&one-shot=true", SMALL_MAX, &v, err) <
	    0)
		return kc_err_wrap(err, "stats of container %s", id);
	if (!YAJL_IS_OBJECT(v))
		return kc_err_new(err, KC_E_PROTO, "stats of container %s: not an object", id);
	const char *read = NULL;
	if (kc_json_opt_str(v, "/read", &read, err) < 0)
		return kc_err_wrap(err, "stats of container %s", id);
	out->read_ns = kc_docker_parse_time(read);
	bool have_mem = false;
	out->mem_usage = opt_u64(v, "/memory_stats/usage", &have_mem);
	/* A stopped container answers with the zero time and empty sections. */
	out->available = out->read_ns != 0 && have_mem;
	if (!out->available)
		return 0;
	out->cpu_total_ns = opt_u64(v, "/cpu_stats/cpu_usage/total_usage", NULL);
	out->system_cpu_ns = opt_u64(v, "/cpu_stats/system_cpu_usage", NULL);
	out->online_cpus = (uint32_t)opt_u64(v, "/cpu_stats/online_cpus", NULL);
	out->mem_max = opt_u64(v, "/memory_stats/max_usage", &out->mem_max_available);
	out->mem_limit = opt_u64(v, "/memory_stats/limit", NULL);
	out->pids = opt_u64(v, "/pids_stats/current", NULL);
	return 0;
}

struct passthrough {
	kc_http_sink sink;
	void *opaque;
};

static int passthrough_feed(void *opaque, const char *data, size_t len, kc_err_t *err)
{
	struct passthrough *p = opaque;
	if (p->sink(p->opaque, data, len) != 0)
		return kc_err_new(err, KC_E_GENERIC, "stopped by the receiver");
	return 0;
}

static int docker_container_export(struct kc_engine *e, const char *id, size_t max,
				   kc_http_sink sink, void *opaque, kc_err_t *err)
{
	cleanup_free char *eid = seg_escape(id);
	if (!eid)
		return kc_err_new(err, KC_E_INVALID, "bad container id \"%s\"", id ? id : "");
	cleanup_free char *path = NULL;
	if (asprintf(&path, "/containers/%s/export", eid) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	struct passthrough p = {.sink = sink, .opaque = opaque};
	struct call c = {.path = path,
			 .max = max ? max : STREAM_MAX,
			 .timeout_ms = -1,
			 .no_retry = true,
			 .feed = passthrough_feed,
			 .feed_opaque = &p};
	cleanup_http_resp struct kc_http_response resp = {0};
	if (docker_call(D(e), &c, &resp, err) < 0)
		return kc_err_wrap(err, "exporting container %s", id);
	return 0;
}

static int docker_volume_remove(struct kc_engine *e, const char *name, bool force, kc_err_t *err)
{
	cleanup_free char *en = seg_escape(name);
	if (!en)
		return kc_err_new(err, KC_E_INVALID, "bad volume name \"%s\"", name ? name : "");
	cleanup_free char *path = NULL;
	if (asprintf(&path, "/volumes/%s?force=%d", en, force) < 0)
		return kc_err_sys(err, ENOMEM, "docker");
	cleanup_http_resp struct kc_http_response resp = {0};
	struct call c = {.method = "DELETE", .path = path};
	if (docker_call(D(e), &c, &resp, err) < 0)
		return kc_err_wrap(err, "removing volume %s", name);
	return 0;
}

static bool labels_match(const struct kc_labels *have, const struct kc_label *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = kc_labels_get(have, want[i].key);
		if (!v || (want[i].value && strcmp(v, want[i].value) != 0))
			return false;
	}
	return true;
}

static int docker_disk_usage(struct kc_engine *e, const struct kc_label *labels, size_t n_labels,
			     struct kc_disk_usage *out, kc_err_t *err)
{
	cleanup_json yajl_val v = NULL;
	/* The engine walks every layer to answer: slow, so a long timeout. */
	struct call c = {.path = "/system/df", .max = LIST_MAX, .timeout_ms = 120000};
	if (docker_json(D(e), &c, &v, err) < 0)
		return kc_err_wrap(err, "disk usage");
	int64_t layers = 0;
	yajl_val list = NULL;
	if (kc_json_get_int(v, "/LayersSize", &layers, err) < 0 ||
	    kc_json_opt_arr(v, "/Containers", &list, err) < 0)
		return kc_err_wrap(err, "disk usage");
	out->layers_bytes = layers;
	size_t n = list ? list->u.array.len : 0;
	out->container_ids = calloc(n + 1, sizeof *out->container_ids);
	out->container_names = calloc(n + 1, sizeof *out->container_names);
	out->container_rw_bytes = calloc(n + 1, sizeof *out->container_rw_bytes);
	if (!out->container_ids || !out->container_names || !out->container_rw_bytes) {
		kc_disk_usage_free(out);
		return kc_err_sys(err, ENOMEM, "disk usage");
	}
	for (size_t i = 0; i < n; i++) {
		yajl_val it = list->u.array.values[i];
		struct kc_labels have = {0};
		const char *id = NULL, *name = "";
		/* The engine leaves SizeRw out when it is zero (omitempty). */
		int64_t rw = 0;
		if (get_labels(it, "/Labels", &have, err) < 0 ||
		    kc_json_get_str(it, "/Id", &id, err) < 0 ||
		    kc_json_opt_str(it, "/Names/0", &name, err) < 0 ||
		    kc_json_opt_int(it, "/SizeRw", &rw, err) < 0) {
			kc_labels_free(&have);
			kc_disk_usage_free(out);
			return kc_err_wrap(err, "disk usage: container %zu", i);
		}
		bool keep = labels_match(&have, labels, n_labels);
		kc_labels_free(&have);
		if (!keep)
			continue;
		size_t k = out->n_containers;
		out->container_ids[k] = strdup(id);
		out->container_names[k] = strdup(*name == '/' ? name + 1 : name);
		out->container_rw_bytes[k] = rw;
		out->n_containers++;
		if (!out->container_ids[k] || !out->container_names[k]) {
			kc_disk_usage_free(out);
			return kc_err_sys(err, ENOMEM, "disk usage");
		}
	}
	return 0;
}

static const struct kc_engine_ops docker_ops = {
    .name = "docker",
    .free = docker_free,
    .http_stats = docker_http_stats,
    .ping = docker_ping,
    .version = docker_version,
    .image_inspect = docker_image_inspect,
    .image_list = docker_image_list,
    .image_pull = docker_image_pull,
    .image_push = docker_image_push,
    .image_tag = docker_image_tag,
    .image_remove = docker_image_remove,
    .image_build = docker_image_build,
    .container_create = docker_container_create,
    .container_start = docker_container_start,
    .container_stop = docker_container_stop,
    .container_kill = docker_container_kill,
    .container_remove = docker_container_remove,
    .container_inspect = docker_container_inspect,
    .container_list = docker_container_list,
    .container_wait = docker_container_wait,
    .exec = docker_exec,
    .archive_get = docker_archive_get,
    .archive_put = docker_archive_put,
    .container_changes = docker_container_changes,
    .container_stats = docker_container_stats,
    .container_export = docker_container_export,
    .container_logs = docker_container_logs,
    .volume_remove = docker_volume_remove,
    .disk_usage = docker_disk_usage,
};

int kc_engine_docker_new(const struct kc_docker_config *cfg, struct kc_engine **out, kc_err_t *err)
{
	const char *host = cfg && cfg->host ? cfg->host : getenv("DOCKER_HOST");
	if (!host || !*host)
		host = KC_DOCKER_DEFAULT_HOST;
	cleanup_free struct docker *d = calloc(1, sizeof *d);
	if (!d)
		return kc_err_sys(err, ENOMEM, "docker");
	d->base.ops = &docker_ops;
	d->log = cfg ? cfg->log : NULL;
	d->timeout_ms = cfg && cfg->timeout_ms ? cfg->timeout_ms : 60000;
	cleanup_free char *base_url = NULL;
	if (kc_docker_parse_host(host, &d->socket_path, &base_url, err) < 0)
		return -1;
	if (!(d->host = strdup(host))) {
		free(d->socket_path);
		return kc_err_sys(err, ENOMEM, "docker");
	}
	struct kc_http_config hc = {
	    .base_url = base_url,
	    .unix_socket = d->socket_path,
	    .timeout_ms = d->timeout_ms,
	    .log = d->log,
	};
	if (kc_http_new(&hc, &d->http, err) < 0) {
		free(d->socket_path);
		free(d->host);
		return kc_err_wrap(err, "Docker engine at %s", host);
	}
	*out = &kc_steal(d)->base;
	return 0;
}
