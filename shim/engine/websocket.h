/* WebSocket client (RFC 6455) for the Kubernetes exec stream, over libcurl's
 * CONNECT_ONLY mode (Debian's libcurl has no WebSocket support):
 *  - a pure frame codec: kc_ws_frame_encode and an incremental decoder that
 *    accepts input split at any byte, reassembles fragmented messages, passes
 *    control frames through and bounds frame and message sizes;
 *  - a connection: the HTTP/1.1 Upgrade handshake written by hand (key/accept
 *    check, subprotocol negotiation), masked client frames, ping -> pong,
 *    close handshake; TLS and client certificates from a kc_http_config;
 *  - the Kubernetes channel protocol (v5.channel.k8s.io, fallback
 *    v4.channel.k8s.io) and kc_k8s_exec: run a command in a pod, get its
 *    stdout/stderr (bounded) and exit code;
 *  - kc_k8s_exec_many: many such execs from one thread over a curl multi
 *    handle, non-blocking, with a bound on connections open at once. */
#ifndef KC_ENGINE_WEBSOCKET_H
#define KC_ENGINE_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shim/base/error.h"
#include "shim/base/http.h"

#define KC_WS_DEFAULT_MAX_FRAME (16u << 20)
#define KC_WS_DEFAULT_MAX_MESSAGE (16u << 20)
#define KC_WS_MAX_CONTROL 125 /* RFC 6455 5.5 */

enum kc_ws_opcode {
	KC_WS_CONT = 0x0,
	KC_WS_TEXT = 0x1,
	KC_WS_BINARY = 0x2,
	KC_WS_CLOSE = 0x8,
	KC_WS_PING = 0x9,
	KC_WS_PONG = 0xA,
};

/* Close status codes used here (RFC 6455 7.4.1). */
#define KC_WS_CLOSE_NORMAL 1000
#define KC_WS_CLOSE_PROTOCOL 1002
#define KC_WS_CLOSE_TOOBIG 1009

/* Encodes one frame into a new buffer. mask_key (4 bytes) masks the payload
 * as a client must; NULL sends it unmasked as a server does. */
int kc_ws_frame_encode(enum kc_ws_opcode op, bool fin, const uint8_t *mask_key, const void *payload,
		       size_t len, uint8_t **out, size_t *out_len, kc_err_t *err);

enum kc_ws_mask_policy {
	KC_WS_MASK_ANY = 0, /* codec tests, fuzzing */
	KC_WS_MASK_FORBID,  /* a client: server frames must not be masked */
	KC_WS_MASK_REQUIRE, /* a server: client frames must be masked */
};

/* A complete message (text/binary, reassembled from its fragments) or a
 * control frame (ping/pong/close). Returning <0 stops the decoder. */
typedef int (*kc_ws_message_cb)(void *opaque, enum kc_ws_opcode op, const uint8_t *data, size_t len,
				kc_err_t *err);

struct kc_ws_decoder {
	size_t max_frame, max_message;
	enum kc_ws_mask_policy mask_policy;
	/* parser state; treat as private */
	uint8_t hdr[14];
	size_t hdr_have, hdr_need;
	bool in_payload, fin, masked;
	uint8_t op, mask[4];
	uint64_t payload_len, payload_have;
	uint8_t msg_op; /* opcode of the message being reassembled, 0 when none */
	uint8_t *msg;	/* reassembly buffer */
	size_t msg_len, msg_alloc;
	uint8_t ctrl[KC_WS_MAX_CONTROL];
	bool failed;
};

/* max_* of 0 take the defaults above. */
void kc_ws_decoder_init(struct kc_ws_decoder *d, size_t max_frame, size_t max_message,
			enum kc_ws_mask_policy policy);
void kc_ws_decoder_free(struct kc_ws_decoder *d);
/* Consumes all of data, calling cb for each complete message or control
 * frame. A protocol violation (reserved bits, unknown opcode, bad
 * fragmentation, oversize, wrong masking) is KC_E_PROTO, or KC_E_TOOBIG for a
 * size limit; the decoder then refuses further input. */
int kc_ws_decoder_feed(struct kc_ws_decoder *d, const uint8_t *data, size_t len,
		       kc_ws_message_cb cb, void *opaque, kc_err_t *err);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)). */
int kc_ws_accept_key(const char *key, char out[29], kc_err_t *err);

/* Connection. */
struct kc_ws_config {
	const struct kc_http_config *http; /* base_url (http/https), TLS, unix socket, timeouts */
	const char *const *headers;    /* extra "Name: value", e.g. Authorization; may be NULL */
	const char *const *protocols;  /* offered subprotocols, preferred first; NULL: none */
	size_t max_frame, max_message; /* 0: defaults */
};

struct kc_ws;

/* Data messages (text/binary) go to on_message; pings are answered and
 * close frames handled inside. */
int kc_ws_connect(const struct kc_ws_config *cfg, const char *path, kc_ws_message_cb on_message,
		  void *opaque, struct kc_ws **out, kc_err_t *err);
/* Subprotocol the server chose, or NULL when none. */
const char *kc_ws_protocol(const struct kc_ws *ws);
/* Sends one (masked) frame; while the socket is full, incoming data keeps
 * being read and dispatched so neither side can deadlock. */
int kc_ws_send(struct kc_ws *ws, enum kc_ws_opcode op, const void *data, size_t len, kc_err_t *err);
/* Waits up to timeout_ms (-1: forever) for input and dispatches what came.
 * Returns 1 once the connection is closed (close frame or EOF), else 0. */
int kc_ws_pump(struct kc_ws *ws, long timeout_ms, kc_err_t *err);
bool kc_ws_closed(const struct kc_ws *ws);
/* Close code the peer sent (0 when none or the stream just ended). */
int kc_ws_close_code(const struct kc_ws *ws);
/* Sends a close frame (once) without waiting for the answer. */
int kc_ws_close(struct kc_ws *ws, uint16_t code, const char *reason, kc_err_t *err);
void kc_ws_free(struct kc_ws *ws);

/* Kubernetes channel protocol: each binary message starts with a channel
 * byte. v5 adds KC_K8S_CH_CLOSE: [255, channel] closes that stream. */
#define KC_K8S_PROTO_V5 "v5.channel.k8s.io"
#define KC_K8S_PROTO_V4 "v4.channel.k8s.io"
enum kc_k8s_channel {
	KC_K8S_CH_STDIN = 0,
	KC_K8S_CH_STDOUT = 1,
	KC_K8S_CH_STDERR = 2,
	KC_K8S_CH_ERROR = 3,
	KC_K8S_CH_RESIZE = 4,
	KC_K8S_CH_CLOSE = 255,
};

/* Parses the error channel's metav1.Status: Success -> *exit_code 0;
 * Failure with reason NonZeroExitCode -> the ExitCode cause; any other
 * Failure -> KC_E_REMOTE carrying the status message. */
int kc_k8s_status_exit_code(const uint8_t *json, size_t len, int *exit_code, kc_err_t *err);

/* "/api/v1/namespaces/NS/pods/POD/exec?command=A&command=B&stdin=true&stdout=true&stderr=true"
 * (container optional), every value percent-escaped. NULL on OOM. */
char *kc_k8s_exec_path(const char *ns, const char *pod, const char *container,
		       const char *const *argv, bool with_stdin);

struct kc_k8s_exec_opts {
	const struct kc_http_config *http;
	const char *const *headers; /* e.g. "Authorization: Bearer TOKEN" */
	const char *path;	    /* from kc_k8s_exec_path or equivalent */
	const void *stdin_data; /* non-NULL: sent, then (v5) stdin closed; path needs stdin=true */
	size_t stdin_len;
	const char *const *protocols; /* NULL: v5 then v4 */
	size_t max_output;	      /* per stream; 0: 64 MiB; more is KC_E_TOOBIG */
	long timeout_ms;	      /* whole exec; 0: 300000; -1: none */
	/* When set, that stream goes to the sink as it arrives instead of into
	 * the result (whose out/err then stay ""), and max_output does not
	 * apply to it; a sink returning non-zero aborts the exec. */
	kc_http_sink stdout_sink, stderr_sink;
	void *sink_opaque;
};

struct kc_k8s_exec_result {
	int exit_code;
	char *out, *err; /* NUL-terminated, never NULL after success */
	size_t out_len, err_len;
	char *protocol; /* negotiated subprotocol */
};

/* Runs the exec. On v5 stdin is closed after stdin_data; on v4 there is no
 * way to close it, so a command that reads stdin to EOF never ends there.
 * A stream that ends without a status on the error channel is KC_E_PROTO. */
int kc_k8s_exec(const struct kc_k8s_exec_opts *o, struct kc_k8s_exec_result *res, kc_err_t *err);
void kc_k8s_exec_result_free(struct kc_k8s_exec_result *res);

/* Runs n execs (opts[i] -> res[i] or errs[i], errs caller-zeroed) in the calling
 * thread, with at most `parallel` (0: n) connections open at once: a curl multi
 * handle makes the CONNECT_ONLY connections, then each upgrade and stream is driven
 * without blocking (the same handshake, frame and channel code as kc_k8s_exec), all
 * sockets waited on together; the next exec starts as soon as one ends. Each outcome
 * is what kc_k8s_exec would give, one failure never affects the others. Returns how
 * many failed, or -1 with *err when none could be attempted. */
int kc_k8s_exec_many(const struct kc_k8s_exec_opts *opts, size_t n, size_t parallel,
		     struct kc_k8s_exec_result *res, kc_err_t *errs, kc_err_t *err);

#endif
