/* The Docker Engine API backend of engine.h: DOCKER_HOST unix:///path (default
 * unix:///var/run/docker.sock) or tcp://127.0.0.1:PORT (loopback only), API
 * version negotiated with GET /_ping as min(server, 1.41). Also exposes the
 * pieces that unit tests check without an engine. */
#ifndef KC_ENGINE_DOCKER_H
#define KC_ENGINE_DOCKER_H

#include "engine.h"
#include "shim/base/log.h"

#define KC_DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"
#define KC_DOCKER_MAX_API "1.41"

struct kc_docker_config {
	const char *host; /* NULL: $DOCKER_HOST, then KC_DOCKER_DEFAULT_HOST */
	long timeout_ms;  /* per request; 0: 60000 */
	const struct kc_log *log;
};

int kc_engine_docker_new(const struct kc_docker_config *cfg, struct kc_engine **out, kc_err_t *err);

/* Splits a DOCKER_HOST value: unix socket path or HTTP base URL ("http://127.0.0.1:2375").
 * Anything but unix:// or tcp:// to 127.0.0.1 is KC_E_INVALID. Caller frees both. */
int kc_docker_parse_host(const char *host, char **socket_path, char **base_url, kc_err_t *err);

/* Turns an engine error answer (status >= 400, body {"message": ...} or text)
 * into an error with the engine's message, kind by status and the status recorded. */
int kc_docker_error(long status, const char *body, size_t len, const char *what, kc_err_t *err);

/* "1.40" vs "1.41": <0, 0, >0; unparsable parts compare as 0. */
int kc_docker_api_cmp(const char *a, const char *b);

/* Docker's RFC 3339 time ("2026-11-27T02:29:00.123456789Z", with offsets) to
 * Unix nanoseconds; the zero time "0001-01-01T00:00:00Z" and bad input give 0. */
int64_t kc_docker_parse_time(const char *s);

#endif
