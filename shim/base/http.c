/* HTTP client over libcurl: see http.h. */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cleanup.h"

struct kc_http {
	char *base_url, *unix_socket, *ca_file, *ca_pem;
	char *cert_file, *key_file, *cert_pem, *key_pem;
	bool insecure;
	long connect_timeout_ms, timeout_ms;
	size_t max_response;
	int max_retries;
	long backoff_ms;
	const struct kc_log *log;
	CURL *easy; /* reused so keep-alive connections survive between requests */
	struct kc_http_stats stats;
};

/* Per-transfer state shared by the curl callbacks. */
struct transfer {
	const struct kc_http_request *req;
	struct kc_http_response *resp;
	struct curl_slist *headers;
	char *url;
	size_t cap;
	size_t body_alloc;
	bool too_big, sink_failed;
	char errbuf[CURL_ERROR_SIZE];
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int kc_http_new(const struct kc_http_config *cfg, struct kc_http **out, kc_err_t *err)
{
	if (!cfg->base_url)
		return kc_err_new(err, KC_E_INVALID, "http: no base URL");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return kc_err_new(err, KC_E_GENERIC, "http: libcurl initialisation failed");
	struct kc_http *h = calloc(1, sizeof *h);
	if (!h)
		return kc_err_sys(err, ENOMEM, "http");
	h->base_url = strdup(cfg->base_url);
	/* A trailing slash would double up with request paths. */
	size_t bl = h->base_url ? strlen(h->base_url) : 0;
	while (bl > 0 && h->base_url[bl - 1] == '/')
		h->base_url[--bl] = '\0';
	h->unix_socket = dup_or_null(cfg->unix_socket);
	h->ca_file = dup_or_null(cfg->ca_file);
	h->ca_pem = dup_or_null(cfg->ca_pem);
	h->cert_file = dup_or_null(cfg->client_cert_file);
	h->key_file = dup_or_null(cfg->client_key_file);
	h->cert_pem = dup_or_null(cfg->client_cert_pem);
	h->key_pem = dup_or_null(cfg->client_key_pem);
	h->insecure = cfg->insecure_skip_verify;
	h->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000;
	h->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 60000;
	h->max_response = cfg->max_response ? cfg->max_response : KC_HTTP_DEFAULT_MAX_RESPONSE;
	h->max_retries = cfg->max_retries < 0 ? 0 : cfg->max_retries ? cfg->max_retries : 2;
	h->backoff_ms = cfg->retry_backoff_ms ? cfg->retry_backoff_ms : 100;
	h->log = cfg->log;
	h->easy = curl_easy_init();
	if (!h->base_url || !h->easy) {
		kc_http_free(h);
		return kc_err_new(err, KC_E_GENERIC, "http: out of memory");
	}
	*out = h;
	return 0;
}

void kc_http_free(struct kc_http *h)
{
	if (!h)
		return;
	if (h->easy)
		curl_easy_cleanup(h->easy);
	free(h->base_url);
	free(h->unix_socket);
	free(h->ca_file);
	free(h->ca_pem);
	free(h->cert_file);
	free(h->key_file);
	free(h->cert_pem);
	free(h->key_pem);
	free(h);
}

const char *kc_http_base_url(const struct kc_http *h)
{
	return h->base_url;
}

void kc_http_stats_get(const struct kc_http *h, struct kc_http_stats *out)
{
	*out = h->stats;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct transfer *t = opaque;
	struct kc_http_response *r = t->resp;
	size_t n = size * nmemb;
	if (r->body_len + n > t->cap) {
		t->too_big = true;
		return 0;
	}
	if (t->req->sink) {
		r->body_len += n;
		if (t->req->sink(t->req->sink_opaque, data, n) != 0) {
			t->sink_failed = true;
			return 0;
		}
		return n;
	}
	if (r->body_len + n + 1 > t->body_alloc) {
		size_t want = t->body_alloc ? t->body_alloc : 4096;
		while (want < r->body_len + n + 1)
			want *= 2;
		char *nb = realloc(r->body, want);
		if (!nb)
			return 0;
		r->body = nb;
		t->body_alloc = want;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

static void drop_headers(struct kc_http_response *r)
{
	for (size_t i = 0; i < r->n_headers; i++)
		free(r->headers[i]);
	free(r->headers);
	r->headers = NULL;
	r->n_headers = 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct transfer *t = opaque;
	struct kc_http_response *r = t->resp;
	size_t n = size * nmemb;
	/* A status line starts a new response (after a 100 Continue or a
	 * redirect): only the final response's headers are kept. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		drop_headers(r);
		return n;
	}
	size_t len = n;
	while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
		len--;
	if (len == 0 || !memchr(data, ':', len))
		return n;
	if (r->n_headers >= 256) /* bounded like every other read */
		return n;
	char **nh = realloc(r->headers, (r->n_headers + 1) * sizeof *nh);
	if (!nh)
		return 0;
	r->headers = nh;
	r->headers[r->n_headers] = strndup(data, len);
	if (!r->headers[r->n_headers])
		return 0;
	r->n_headers++;
	return n;
}

static bool method_is_idempotent(const char *m)
{
	return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") ||
	       !strcmp(m, "DELETE") || !strcmp(m, "OPTIONS");
}

static void transfer_cleanup(struct transfer *t)
{
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	free(t->url);
	t->url = NULL;
}

static int transfer_setup(struct kc_http *h, CURL *c, const struct kc_http_request *req,
			  struct kc_http_response *resp, struct transfer *t, kc_err_t *err)
{
	const char *method = req->method ? req->method : "GET";
	memset(t, 0, sizeof *t);
	t->req = req;
	t->resp = resp;
	t->cap = req->max_response ? req->max_response : h->max_response;
	const char *path = req->path ? req->path : "";
	if (!strncmp(path, "http://", 7) || !strncmp(path, "https://", 8))
		t->url = strdup(path);
	else if (asprintf(&t->url, "%s%s%s", h->base_url, *path == '/' || !*path ? "" : "/",
			  path) < 0)
		t->url = NULL;
	if (!t->url)
		return kc_err_sys(err, ENOMEM, "http");

	curl_easy_setopt(c, CURLOPT_URL, t->url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (h->unix_socket)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->unix_socket);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	long timeout = req->timeout_ms ? req->timeout_ms : h->timeout_ms;
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout < 0 ? 0L : timeout);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(c, CURLOPT_PRIVATE, t);

	if (h->ca_pem) {
		struct curl_blob b = {.data = h->ca_pem, .len = strlen(h->ca_pem),
				      .flags = CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
	} else if (h->ca_file) {
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	}
	if (h->cert_pem) {
		struct curl_blob b = {.data = h->cert_pem, .len = strlen(h->cert_pem),
				      .flags = CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (h->cert_file) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, h->cert_file);
	}
	if (h->key_pem) {
		struct curl_blob b = {.data = h->key_pem, .len = strlen(h->key_pem),
				      .flags = CURL_BLOB_COPY};
		curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (h->key_file) {
		curl_easy_setopt(c, CURLOPT_SSLKEY, h->key_file);
	}
	if (req->fresh_connection) {
		curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	}
	if (h->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}

	for (const char *const *hd = req->headers; hd && *hd; hd++) {
		struct curl_slist *n = curl_slist_append(t->headers, *hd);
		if (!n)
			return kc_err_sys(err, ENOMEM, "http");
		t->headers = n;
	}
	/* No 100-continue round trip: the peers here answer at once. */
	struct curl_slist *n = curl_slist_append(t->headers, "Expect:");
	if (!n)
		return kc_err_sys(err, ENOMEM, "http");
	t->headers = n;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->headers);

	if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (req->body || strcmp(method, "GET") != 0) {
		if (req->body || !strcmp(method, "POST") || !strcmp(method, "PUT") ||
		    !strcmp(method, "PATCH")) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		}
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	return 0;
}

static void count_transfer(struct kc_http *h, CURL *c)
{
	curl_off_t up = 0, down = 0;
	long req_size = 0, hdr_size = 0;
	curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down);
	curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &req_size);
	curl_easy_getinfo(c, CURLINFO_HEADER_SIZE, &hdr_size);
	h->stats.requests++;
	h->stats.bytes_sent += (uint64_t)up + (uint64_t)req_size;
	h->stats.bytes_received += (uint64_t)down + (uint64_t)hdr_size;
}

static const char *target_name(const struct kc_http *h, const struct transfer *t)
{
	return h->unix_socket ? h->unix_socket : t->url;
}

/* Turns a finished transfer's CURLcode into 0 or an error. */
static int transfer_result(struct kc_http *h, CURL *c, struct transfer *t, CURLcode rc,
			   kc_err_t *err)
{
	const char *method = t->req->method ? t->req->method : "GET";
	count_transfer(h, c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t->resp->status);
		kc_debug(h->log, "%s %s -> %ld (%zu bytes)", method, t->url, t->resp->status,
			 t->resp->body_len);
		return 0;
	}
	h->stats.failed++;
	const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
	kc_debug(h->log, "%s %s -> failed: %s", method, t->url, detail);
	if (t->too_big)
		return kc_err_new(err, KC_E_TOOBIG, "%s %s: response larger than %zu bytes",
				  method, t->url, t->cap);
	if (t->sink_failed)
		return kc_err_new(err, KC_E_GENERIC, "%s %s: aborted by receiver", method, t->url);
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return kc_err_new(err, KC_E_UNAVAIL, "cannot connect to %s: %s",
				  target_name(h, t), detail);
	case CURLE_OPERATION_TIMEDOUT:
		return kc_err_new(err, KC_E_TIMEOUT, "%s %s: timed out: %s", method, t->url,
				  detail);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CONNECT_ERROR:
		return kc_err_new(err, KC_E_AUTH, "TLS with %s failed: %s", t->url, detail);
	default:
		return kc_err_new(err, KC_E_PROTO, "%s %s: %s", method, t->url, detail);
	}
}

static bool retryable(const struct kc_err *e)
{
	enum kc_err_kind k = kc_err_kind(e);
	return k == KC_E_UNAVAIL || k == KC_E_PROTO || k == KC_E_TIMEOUT;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void response_reset(struct kc_http_response *r)
{
	free(r->body);
	drop_headers(r);
	memset(r, 0, sizeof *r);
}

int kc_http_do(struct kc_http *h, const struct kc_http_request *req,
	       struct kc_http_response *resp, kc_err_t *err)
{
	const char *method = req->method ? req->method : "GET";
	/* A sink has already consumed part of a body, so a replay would repeat it. */
	bool may_retry = !req->no_retry && !req->sink && method_is_idempotent(method);
	long backoff = h->backoff_ms;
	for (int attempt = 0;; attempt++) {
		struct transfer t;
		response_reset(resp);
		curl_easy_reset(h->easy);
		if (transfer_setup(h, h->easy, req, resp, &t, err) < 0) {
			transfer_cleanup(&t);
			return -1;
		}
		CURLcode rc = curl_easy_perform(h->easy);
		kc_err_t terr = NULL;
		int r = transfer_result(h, h->easy, &t, rc, &terr);
		transfer_cleanup(&t);
		if (r == 0)
			return 0;
		if (!may_retry || attempt >= h->max_retries || !retryable(terr)) {
			/* terr is a single node: put it on top of the caller's chain. */
			terr->cause = *err;
			*err = terr;
			return -1;
		}
		kc_err_free(&terr);
		h->stats.retries++;
		sleep_ms(backoff);
		backoff *= 2;
	}
}

int kc_http_do_many(struct kc_http *h, const struct kc_http_request *reqs, size_t n,
		    size_t parallel, struct kc_http_response *resps, kc_err_t *errs, kc_err_t *err)
{
	if (n == 0)
		return 0;
	if (parallel == 0)
		parallel = 1;
	CURLM *multi = curl_multi_init();
	struct transfer *ts = calloc(n, sizeof *ts);
	CURL **easies = calloc(n, sizeof *easies);
	if (!multi || !ts || !easies) {
		curl_multi_cleanup(multi);
		free(ts);
		free(easies);
		return kc_err_sys(err, ENOMEM, "http");
	}
	/* Bounded fan-out: at most `parallel` connections open at once. */
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)parallel);
	size_t next = 0, running_count = 0, failed = 0;
	while (next < n || running_count > 0) {
		while (next < n && running_count < parallel) {
			size_t i = next++;
			easies[i] = curl_easy_init();
			if (!easies[i] ||
			    transfer_setup(h, easies[i], &reqs[i], &resps[i], &ts[i], &errs[i]) < 0) {
				if (!errs[i])
					kc_err_sys(&errs[i], ENOMEM, "http");
				failed++;
				continue;
			}
			curl_multi_add_handle(multi, easies[i]);
			running_count++;
		}
		int still;
		curl_multi_perform(multi, &still);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct transfer *t = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
			size_t i = (size_t)(t - ts);
			if (transfer_result(h, msg->easy_handle, t, msg->data.result, &errs[i]) < 0)
				failed++;
			curl_multi_remove_handle(multi, msg->easy_handle);
			running_count--;
		}
		if (running_count > 0)
			curl_multi_poll(multi, NULL, 0, 200, NULL);
	}
	for (size_t i = 0; i < n; i++) {
		transfer_cleanup(&ts[i]);
		if (easies[i])
			curl_easy_cleanup(easies[i]);
	}
	curl_multi_cleanup(multi);
	free(ts);
	free(easies);
	if (failed)
		return kc_err_new(err, KC_E_GENERIC, "%zu of %zu requests failed", failed, n);
	return 0;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static size_t discard_body(char *data, size_t size, size_t nmemb, void *opaque)
{
	(void)data;
	(void)opaque;
	return size * nmemb;
}

struct paced_slot {
	CURL *easy;
	struct transfer t;
	struct kc_http_response resp;
	size_t index;
	int64_t start_ns;
	bool busy;
};

int kc_http_run_paced(struct kc_http *h, const struct kc_http_request *req, double rate,
		      long duration_ms, size_t max_in_flight, const _Atomic int *stop,
		      kc_http_outcome_cb cb, void *opaque, kc_err_t *err)
{
	if (rate <= 0 || duration_ms <= 0 || max_in_flight == 0)
		return kc_err_new(err, KC_E_INVALID, "paced run: rate, duration and "
						     "concurrency must be positive");
	CURLM *multi = curl_multi_init();
	struct paced_slot *slots = calloc(max_in_flight, sizeof *slots);
	if (!multi || !slots) {
		curl_multi_cleanup(multi);
		free(slots);
		return kc_err_sys(err, ENOMEM, "paced run");
	}
	const int64_t interval_ns = (int64_t)(1e9 / rate);
	const int64_t begin = mono_ns();
	int64_t end = begin + (int64_t)duration_ms * 1000000LL;
	size_t sent = 0, in_flight = 0;
	int rc = 0;
	while (rc == 0) {
		int64_t now = mono_ns();
		if (stop && *stop && end > now)
			end = now;
		/* Start every request whose time has come; a late loop catches up
		 * rather than silently lowering the rate. */
		while (now < end && begin + (int64_t)sent * interval_ns <= now) {
			size_t idx = sent++;
			struct paced_slot *slot = NULL;
			for (size_t i = 0; i < max_in_flight && !slot; i++)
				if (!slots[i].busy)
					slot = &slots[i];
			if (!slot) {
				struct kc_http_outcome o = {.index = idx, .start_ns = now,
							    .end_ns = now,
							    .error = "client saturated"};
				cb(opaque, &o);
				continue;
			}
			if (!slot->easy)
				slot->easy = curl_easy_init();
			else
				curl_easy_reset(slot->easy);
			kc_err_t serr = NULL;
			if (!slot->easy ||
			    transfer_setup(h, slot->easy, req, &slot->resp, &slot->t, &serr) < 0) {
				kc_err_free(&serr);
				rc = kc_err_sys(err, ENOMEM, "paced run");
				break;
			}
			curl_easy_setopt(slot->easy, CURLOPT_WRITEFUNCTION, discard_body);
			slot->index = idx;
			slot->start_ns = mono_ns();
			slot->busy = true;
			curl_multi_add_handle(multi, slot->easy);
			in_flight++;
		}
		if (now >= end && in_flight == 0)
			break;
		int still;
		curl_multi_perform(multi, &still);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct paced_slot *slot = NULL;
			for (size_t i = 0; i < max_in_flight && !slot; i++)
				if (slots[i].busy && slots[i].easy == msg->easy_handle)
					slot = &slots[i];
			if (!slot)
				continue;
			struct kc_http_outcome o = {.index = slot->index,
						    .start_ns = slot->start_ns,
						    .end_ns = mono_ns()};
			kc_err_t terr = NULL;
			char *emsg = NULL;
			if (transfer_result(h, slot->easy, &slot->t, msg->data.result, &terr) == 0)
				o.status = slot->resp.status;
			else
				o.error = emsg = kc_err_string(terr);
			kc_err_free(&terr);
			cb(opaque, &o);
			free(emsg);
			curl_multi_remove_handle(multi, slot->easy);
			transfer_cleanup(&slot->t);
			response_reset(&slot->resp);
			slot->busy = false;
			in_flight--;
		}
		/* Sleep until the next send is due or a transfer needs us. */
		int64_t next = begin + (int64_t)sent * interval_ns;
		int64_t wait_ms = (next - mono_ns()) / 1000000LL;
		if (mono_ns() >= end)
			wait_ms = 50;
		if (wait_ms > 0 || in_flight > 0)
			curl_multi_poll(multi, NULL, 0, wait_ms > 0 ? (int)wait_ms : 0, NULL);
	}
	for (size_t i = 0; i < max_in_flight; i++) {
		if (slots[i].busy) {
			curl_multi_remove_handle(multi, slots[i].easy);
			transfer_cleanup(&slots[i].t);
			response_reset(&slots[i].resp);
		}
		if (slots[i].easy)
			curl_easy_cleanup(slots[i].easy);
	}
	curl_multi_cleanup(multi);
	free(slots);
	return rc;
}

const char *kc_http_header(const struct kc_http_response *r, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < r->n_headers; i++) {
		const char *hd = r->headers[i];
		if (!strncasecmp(hd, name, nl) && hd[nl] == ':') {
			const char *v = hd + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	}
	return NULL;
}

void kc_http_response_free(struct kc_http_response *r)
{
	if (r)
		response_reset(r);
}

char *kc_http_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	if (!e)
		return NULL;
	char *copy = strdup(e);
	curl_free(e);
	return copy;
}
