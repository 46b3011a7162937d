/* Fuzz target: the WebSocket frame decoder (shim/engine/websocket.c). The
 * first byte picks the mask policy and how the rest is cut into reads, so
 * frames split at arbitrary points are covered; every decoded message is
 * re-encoded and decoded again and must come back identical. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim/engine/websocket.h"

struct seen {
	size_t count;
};

static int roundtrip_cb(void *opaque, enum kc_ws_opcode op, const uint8_t *data, size_t len,
			kc_err_t *err)
{
	(void)err;
	const uint8_t **want = opaque;
	if (memcmp(*want, data, len) != 0)
		abort();
	(void)op;
	return 0;
}

static int on_msg(void *opaque, enum kc_ws_opcode op, const uint8_t *data, size_t len,
		  kc_err_t *err)
{
	struct seen *s = opaque;
	s->count++;
	if ((op & 0x8) && len > KC_WS_MAX_CONTROL)
		abort();
	if (!(op & 0x8) && op != KC_WS_TEXT && op != KC_WS_BINARY)
		abort();
	uint8_t *f = NULL;
	size_t fl = 0;
	static const uint8_t key[4] = {1, 2, 3, 4};
	if (kc_ws_frame_encode(op, true, key, data, len, &f, &fl, err) < 0)
		abort();
	struct kc_ws_decoder d;
	kc_ws_decoder_init(&d, 0, 0, KC_WS_MASK_REQUIRE);
	const uint8_t *want = data;
	if (kc_ws_decoder_feed(&d, f, fl, roundtrip_cb, &want, err) < 0)
		abort();
	kc_ws_decoder_free(&d);
	free(f);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	data++;
	size--;
	struct kc_ws_decoder d;
	kc_ws_decoder_init(&d, 64u << 10, 128u << 10, (enum kc_ws_mask_policy)(ctl % 3));
	struct seen s = {0};
	size_t step = (size_t)(ctl >> 2) + 1; /* 1..64-byte reads */
	for (size_t off = 0; off < size;) {
		size_t n = size - off < step ? size - off : step;
		kc_err_t err = NULL;
		int r = kc_ws_decoder_feed(&d, data + off, n, on_msg, &s, &err);
		kc_err_free(&err);
		if (r < 0)
			break;
		off += n;
	}
	kc_ws_decoder_free(&d);
	return 0;
}
