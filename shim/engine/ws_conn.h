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
};

/* Connects (TCP + TLS) to cfg->base_url; path is appended to its path. */
int kc_ws_conn_open(const struct kc_http_config *cfg, const char *path, struct kc_ws_conn *c,
		    kc_err_t *err);
void kc_ws_conn_close(struct kc_ws_conn *c);

#endif
