/* Raw connected libcurl handle: see ws_conn.h. */
#include "ws_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/base/cleanup.h"

static void set_blob(CURL *c, CURLoption opt, const char *pem)
{
	struct curl_blob b = {.data = (void *)pem, .len = strlen(pem), .flags = CURL_BLOB_COPY};
	curl_easy_setopt(c, opt, &b);
}

static void tls_options(CURL *c, const struct kc_http_config *cfg)
{
	if (cfg->ca_pem)
		set_blob(c, CURLOPT_CAINFO_BLOB, cfg->ca_pem);
	else if (cfg->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
	if (cfg->client_cert_pem) {
		set_blob(c, CURLOPT_SSLCERT_BLOB, cfg->client_cert_pem);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (cfg->client_cert_file) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->client_cert_file);
	}
	if (cfg->client_key_pem) {
		set_blob(c, CURLOPT_SSLKEY_BLOB, cfg->client_key_pem);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (cfg->client_key_file) {
		curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->client_key_file);
	}
	if (cfg->insecure_skip_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	/* The Upgrade is HTTP/1.1: never let ALPN pick h2. */
	curl_easy_setopt(c, CURLOPT_SSL_ENABLE_ALPN, 0L);
}

/* Host header and request-target from base URL + path. */
static int split_url(const char *base, const char *path, struct kc_ws_conn *c, char **url,
		     kc_err_t *err)
{
	CURLU *u = curl_url();
	if (!u)
		return kc_err_sys(err, ENOMEM, "websocket");
	cleanup_free char *host = NULL, *port = NULL, *bpath = NULL, *scheme = NULL;
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return kc_err_new(err, KC_E_INVALID, "websocket: bad server URL '%s'", base);
	}
	curl_url_get(u, CURLUPART_PORT, &port, 0); /* absent when default */
	curl_url_get(u, CURLUPART_PATH, &bpath, 0);
	curl_url_cleanup(u);
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		return kc_err_new(err, KC_E_INVALID, "websocket: unsupported scheme '%s'", scheme);
	size_t bl = bpath ? strlen(bpath) : 0;
	while (bl > 0 && bpath[bl - 1] == '/')
		bpath[--bl] = '\0';
	if (asprintf(&c->host, "%s%s%s", host, port ? ":" : "", port ? port : "") < 0)
		c->host = NULL;
	if (asprintf(&c->target, "%s%s%s", bl ? bpath : "", *path == '/' ? "" : "/", path) < 0)
		c->target = NULL;
	/* curl only connects: the URL's path is not sent. */
	if (asprintf(url, "%s://%s/", scheme, c->host ? c->host : "") < 0)
		*url = NULL;
	if (!c->host || !c->target || !*url)
		return kc_err_sys(err, ENOMEM, "websocket");
	return 0;
}

int kc_ws_conn_prepare(const struct kc_http_config *cfg, const char *path, struct kc_ws_conn *c,
		       kc_err_t *err)
{
	memset(c, 0, sizeof *c);
	c->fd = CURL_SOCKET_BAD;
	if (!cfg || !cfg->base_url)
		return kc_err_new(err, KC_E_INVALID, "websocket: no server URL");
	c->base_url = cfg->base_url;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return kc_err_new(err, KC_E_GENERIC, "websocket: libcurl initialisation failed");
	cleanup_free char *url = NULL;
	if (split_url(cfg->base_url, path ? path : "/", c, &url, err) < 0) {
		kc_ws_conn_close(c);
		return -1;
	}
	c->curl = curl_easy_init();
	if (!c->curl) {
		kc_ws_conn_close(c);
		return kc_err_sys(err, ENOMEM, "websocket");
	}
	CURL *h = c->curl;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 5000L);
	/* In a shared multi handle an idle connection older than this would be pruned
	 * when another one connects; an exec may legitimately run for long. */
	curl_easy_setopt(h, CURLOPT_MAXAGE_CONN, 1L << 30);
	if (cfg->unix_socket)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, cfg->unix_socket);
	tls_options(h, cfg);
	return 0;
}

int kc_ws_conn_done(struct kc_ws_conn *c, CURLcode rc, kc_err_t *err)
{
	if (rc != CURLE_OK) {
		const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
		enum kc_err_kind kind = KC_E_UNAVAIL;
		if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
		    rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CONNECT_ERROR)
			kind = KC_E_AUTH;
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			kind = KC_E_TIMEOUT;
		return kc_err_new(err, kind, "websocket: connecting to %s: %s", c->base_url,
				  detail);
	}
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
	if (curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &c->fd) != CURLE_OK ||
	    c->fd == CURL_SOCKET_BAD)
		return kc_err_new(err, KC_E_GENERIC, "websocket: no socket after connecting");
	return 0;
}

int kc_ws_conn_open(const struct kc_http_config *cfg, const char *path, struct kc_ws_conn *c,
		    kc_err_t *err)
{
	if (kc_ws_conn_prepare(cfg, path, c, err) < 0)
		return -1;
	if (kc_ws_conn_done(c, curl_easy_perform(c->curl), err) < 0) {
		kc_ws_conn_close(c);
		return -1;
	}
	return 0;
}

void kc_ws_conn_close(struct kc_ws_conn *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->host);
	free(c->target);
	memset(c, 0, sizeof *c);
	c->fd = CURL_SOCKET_BAD;
}
