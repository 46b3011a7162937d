/* HTTP client over libcurl: Unix socket or TCP, HTTPS with CA and client
 * certificates, connect and total timeouts, a cap on every response body,
 * retries with backoff for idempotent methods only, and counters of requests
 * and bytes that the cost meter reads. Transport failures are errors; an
 * HTTP status is the caller's to judge (kc_http_check_status helps). */
#ifndef KC_BASE_HTTP_H
#define KC_BASE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "log.h"

#define KC_HTTP_DEFAULT_MAX_RESPONSE (64u << 20)

struct kc_http_config {
	const char *base_url;    /* "http://localhost/v1.41" over unix_socket, "https://h:6443" */
	const char *unix_socket; /* NULL for TCP */
	const char *ca_file;     /* PEM; NULL: system store */
	const char *ca_pem;      /* PEM in memory; wins over ca_file */
	const char *client_cert_file, *client_key_file;
	const char *client_cert_pem, *client_key_pem; /* in memory; win over files */
	bool insecure_skip_verify;
	long connect_timeout_ms; /* 0: 5000 */
	long timeout_ms;         /* 0: 60000; -1: none */
	size_t max_response;     /* 0: KC_HTTP_DEFAULT_MAX_RESPONSE */
	int max_retries;         /* -1: none; 0: 2 */
	long retry_backoff_ms;   /* 0: 100, doubled per try */
	const struct kc_log *log; /* debug level logs each request, Authorization redacted */
};

struct kc_http_stats {
	uint64_t requests;       /* transfers attempted, retries included */
	uint64_t failed;         /* transport failures */
	uint64_t retries;
	uint64_t bytes_sent;     /* request bodies and headers */
	uint64_t bytes_received; /* response bodies and headers */
};

/* Receives the response body as it arrives (nothing is buffered then);
 * returning non-zero aborts the transfer with KC_E_GENERIC. The cap on
 * response size still applies. */
typedef int (*kc_http_sink)(void *opaque, const char *data, size_t len);

struct kc_http_request {
	const char *method;         /* NULL: GET; "HEAD" sends no body request */
	const char *path;           /* appended to base_url; a full http(s) URL is used as is */
	const char *const *headers; /* "Name: value", NULL-terminated, may be NULL */
	const void *body;
	size_t body_len;
	bool no_retry;       /* GET/HEAD/PUT/DELETE retry on transport errors unless set */
	long timeout_ms;     /* 0: config; -1: none (long streams) */
	size_t max_response; /* 0: config */
	kc_http_sink sink;
	void *sink_opaque;
	bool fresh_connection; /* new connection, closed after: as a new client would */
};

struct kc_http_response {
	long status;
	char *body; /* NUL-terminated; NULL when a sink took it */
	size_t body_len;
	char **headers; /* "Name: value" as received, last response only */
	size_t n_headers;
};

struct kc_http;

int kc_http_new(const struct kc_http_config *cfg, struct kc_http **out, kc_err_t *err);
void kc_http_free(struct kc_http *h);
const char *kc_http_base_url(const struct kc_http *h);

/* resp must start zeroed (or hold a previous response, which is freed). */
int kc_http_do(struct kc_http *h, const struct kc_http_request *req,
	       struct kc_http_response *resp, kc_err_t *err);

/* Runs n requests with at most `parallel` in flight (curl multi). resps[i] and
 * errs[i] (both caller-zeroed) hold each outcome; returns 0 when all succeeded
 * at the transport level, else -1 with *err summarising how many failed. */
int kc_http_do_many(struct kc_http *h, const struct kc_http_request *reqs, size_t n,
		    size_t parallel, struct kc_http_response *resps, kc_err_t *errs, kc_err_t *err);

/* One finished request of a paced run. Times are CLOCK_MONOTONIC ns. */
struct kc_http_outcome {
	size_t index;
	int64_t start_ns, end_ns;
	long status;       /* 0 when the transfer failed */
	const char *error; /* transport error text, NULL on success */
};
typedef void (*kc_http_outcome_cb)(void *opaque, const struct kc_http_outcome *o);

/* Sends req at a steady `rate` per second for duration_ms (one request every
 * 1/rate s, whatever the answers do, at most max_in_flight outstanding; a
 * request that would exceed it counts as failed with error "client
 * saturated"). Bodies are discarded. Calls cb for each request as it ends.
 * A non-zero *stop (stop may be NULL) ends the run early: no new requests,
 * the ones in flight finish. */
int kc_http_run_paced(struct kc_http *h, const struct kc_http_request *req, double rate,
		      long duration_ms, size_t max_in_flight, const _Atomic int *stop,
		      kc_http_outcome_cb cb, void *opaque, kc_err_t *err);

/* Value of a response header (case-insensitive name), or NULL. */
const char *kc_http_header(const struct kc_http_response *r, const char *name);
void kc_http_response_free(struct kc_http_response *r);
static inline void kc_http_response_freep(struct kc_http_response *r)
{
	kc_http_response_free(r);
}
#define cleanup_http_resp __attribute__((cleanup(kc_http_response_freep)))

void kc_http_stats_get(const struct kc_http *h, struct kc_http_stats *out);

/* Percent-encodes s for a URL path segment or query value. */
char *kc_http_escape(const char *s);

#endif
