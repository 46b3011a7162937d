/* Docker's two streamed answer formats, decoded incrementally and bounded:
 * - the multiplexed stream of exec/attach/logs without a TTY: frames of an
 *   8-byte header (stream type 0..3, three zero bytes, big-endian uint32
 *   payload size) then the payload; kc_mux_* accepts input split at any byte.
 * - JSON-message streams of pull/push/build: one JSON object per line;
 *   kc_jsonl_* splits lines and hands each parsed object on.
 * Callbacks return non-zero to stop; the feed then fails with KC_E_GENERIC. */
#ifndef KC_ENGINE_DOCKER_STREAM_H
#define KC_ENGINE_DOCKER_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

#include "shim/base/error.h"

enum kc_mux_stream {
	KC_MUX_STDIN = 0,
	KC_MUX_STDOUT = 1,
	KC_MUX_STDERR = 2,
	KC_MUX_SYSERR = 3, /* engine-side error text */
};

#define KC_MUX_DEFAULT_MAX_FRAME (1u << 20)

/* Payload arrives in pieces of at most the frame's size; a frame's payload may
 * be delivered over several calls. Zero-length frames are not delivered. */
typedef int (*kc_mux_cb)(void *opaque, enum kc_mux_stream s, const char *data, size_t len);

struct kc_mux_decoder {
	kc_mux_cb cb;
	void *opaque;
	size_t max_frame;
	unsigned char hdr[8];
	size_t hdr_len;	    /* header bytes gathered so far */
	uint32_t remaining; /* payload bytes left in the current frame */
	enum kc_mux_stream cur;
	uint64_t frames;
	int failed; /* sticky: feeding after an error fails again */
};

/* max_frame 0: KC_MUX_DEFAULT_MAX_FRAME. */
void kc_mux_init(struct kc_mux_decoder *d, size_t max_frame, kc_mux_cb cb, void *opaque);
/* Bad header -> KC_E_PROTO, frame above max -> KC_E_TOOBIG. */
int kc_mux_feed(struct kc_mux_decoder *d, const void *data, size_t len, kc_err_t *err);
/* End of input: inside a frame or header -> KC_E_PROTO (truncated stream). */
int kc_mux_finish(struct kc_mux_decoder *d, kc_err_t *err);

#define KC_JSONL_DEFAULT_MAX_LINE (1u << 20)

/* Gets each non-blank line parsed; the tree is freed after the call. */
typedef int (*kc_jsonl_cb)(void *opaque, yajl_val msg, kc_err_t *err);

struct kc_jsonl {
	kc_jsonl_cb cb;
	void *opaque;
	size_t max_line;
	char *buf;
	size_t len, alloc;
	uint64_t messages;
	int failed;
};

void kc_jsonl_init(struct kc_jsonl *j, size_t max_line, kc_jsonl_cb cb, void *opaque);
/* Line over max -> KC_E_TOOBIG; not JSON -> KC_E_PROTO; a callback error is passed on. */
int kc_jsonl_feed(struct kc_jsonl *j, const void *data, size_t len, kc_err_t *err);
/* Parses a last line without its newline. */
int kc_jsonl_finish(struct kc_jsonl *j, kc_err_t *err);
void kc_jsonl_release(struct kc_jsonl *j);

#endif
