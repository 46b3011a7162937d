/* A raw connected libcurl handle (CURLOPT_CONNECT_ONLY) to the server of a
 * kc_http_config, with the same TLS, client certificate, unix socket and
 * connect-timeout settings as shim/base/http.c, for protocols that take over
 * the connection after an HTTP/1.1 Upgrade (the WebSocket client). */
#ifndef KC_ENGINE_WS_CONN_H
#define KC_ENGINE_WS_CONN_H

#include <curl/curl.h>

#include "shim/base/error.h"
#include "shim/base/http.h"

struct kc_ws_conn {
	CURL *curl;
	curl_socket_t fd;
	char *host;   /* Host header value: "h", "h:port", "[v6]:port" */
	char *target; /* request-target: base URL path + path (with its query) */
	const char *base_url;
	char errbuf[CURL_ERROR_SIZE]; /* libcurl writes here: c must not move once prepared */
};

/* Connects (TCP + TLS) to cfg->base_url; path is appended to its path. */
int kc_ws_conn_open(const struct kc_http_config *cfg, const char *path, struct kc_ws_conn *c,
		    kc_err_t *err);
/* The two halves of kc_ws_conn_open, for a caller that drives the connect itself
 * (curl multi): prepare sets up c->curl (CONNECT_ONLY, not yet connected); done
 * takes the connect's result, maps a failure to an error and fetches c->fd. */
int kc_ws_conn_prepare(const struct kc_http_config *cfg, const char *path, struct kc_ws_conn *c,
		       kc_err_t *err);
int kc_ws_conn_done(struct kc_ws_conn *c, CURLcode rc, kc_err_t *err);
void kc_ws_conn_close(struct kc_ws_conn *c);

#endif
