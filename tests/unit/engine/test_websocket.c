/* Unit tests of the WebSocket frame codec and the Kubernetes channel helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shim/base/cleanup.h"
#include "shim/engine/websocket.h"

#define MAX_EVENTS 16

struct event {
	enum kc_ws_opcode op;
	uint8_t *data;
	size_t len;
};

struct sink {
	struct event ev[MAX_EVENTS];
	size_t n;
	int fail_after; /* callback returns an error once n reaches it; 0: never */
};

static int on_msg(void *opaque, enum kc_ws_opcode op, const uint8_t *data, size_t len,
		  kc_err_t *err)
{
	struct sink *s = opaque;
	assert_true(s->n < MAX_EVENTS);
	s->ev[s->n].op = op;
	s->ev[s->n].data = malloc(len + 1);
	memcpy(s->ev[s->n].data, data, len);
	s->ev[s->n].len = len;
	s->n++;
	if (s->fail_after && (int)s->n >= s->fail_after)
		return kc_err_new(err, KC_E_GENERIC, "stop");
	return 0;
}

static void sink_reset(struct sink *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->ev[i].data);
	memset(s, 0, sizeof *s);
}

static uint8_t *pattern(size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	return p;
}

static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};

static void append_frame(uint8_t **buf, size_t *len, enum kc_ws_opcode op, bool fin,
			 const uint8_t *mask, const void *p, size_t n)
{
	kc_err_t err = NULL;
	uint8_t *f = NULL;
	size_t fl = 0;
	assert_int_equal(kc_ws_frame_encode(op, fin, mask, p, n, &f, &fl, &err), 0);
	*buf = realloc(*buf, *len + fl);
	memcpy(*buf + *len, f, fl);
	*len += fl;
	free(f);
}

/* Feeds buf in two pieces split at `at`; returns the feed result. */
static int feed_split(struct kc_ws_decoder *d, const uint8_t *buf, size_t len, size_t at,
		      struct sink *s, kc_err_t *err)
{
	if (kc_ws_decoder_feed(d, buf, at, on_msg, s, err) < 0)
		return -1;
	return kc_ws_decoder_feed(d, buf + at, len - at, on_msg, s, err);
}

static void test_header_lengths(void **state)
{
	(void)state;
	/* 7-bit, 16-bit and 64-bit length encodings at their edges. */
	const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
	const size_t hdr[] = {2, 2, 2, 4, 4, 4, 10, 10};
	for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
		kc_err_t err = NULL;
		cleanup_free uint8_t *p = pattern(lens[i]);
		uint8_t *f = NULL;
		size_t fl = 0;
		assert_int_equal(
		    kc_ws_frame_encode(KC_WS_BINARY, true, NULL, p, lens[i], &f, &fl, &err), 0);
		assert_int_equal(fl, hdr[i] + lens[i]);
		assert_int_equal(f[0], 0x82);
		free(f);
		assert_int_equal(
		    kc_ws_frame_encode(KC_WS_BINARY, true, key, p, lens[i], &f, &fl, &err), 0);
		assert_int_equal(fl, hdr[i] + 4 + lens[i]);
		assert_true(f[1] & 0x80);
		free(f);
	}
}

/* Every split point, masked and unmasked, for lengths around each encoding. */
static void test_split_every_byte(void **state)
{
	(void)state;
	const size_t lens[] = {0, 5, 125, 126, 300, 65536};
	for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
		for (int masked = 0; masked < 2; masked++) {
			size_t n = lens[li];
			cleanup_free uint8_t *p = pattern(n);
			cleanup_free uint8_t *buf = NULL;
			size_t bl = 0;
			append_frame(&buf, &bl, KC_WS_BINARY, true, masked ? key : NULL, p, n);
			append_frame(&buf, &bl, KC_WS_TEXT, true, masked ? key : NULL, "ok", 2);
			/* For the big frame, test splits only around the header and a few inside.
			 */
			for (size_t at = 0; at <= bl; at++) {
				if (n > 300 && at > 20 && at < bl - 20 && at % 4099)
					continue;
				struct kc_ws_decoder d;
				struct sink s = {0};
				kc_err_t err = NULL;
				kc_ws_decoder_init(&d, 0, 0, KC_WS_MASK_ANY);
				assert_int_equal(feed_split(&d, buf, bl, at, &s, &err), 0);
				assert_int_equal(s.n, 2);
				assert_int_equal(s.ev[0].op, KC_WS_BINARY);
				assert_int_equal(s.ev[0].len, n);
				assert_memory_equal(s.ev[0].data, p, n);
				assert_int_equal(s.ev[1].op, KC_WS_TEXT);
				assert_int_equal(s.ev[1].len, 2);
				sink_reset(&s);
				kc_ws_decoder_free(&d);
			}
		}
	}
}

static void test_byte_by_byte(void **state)
{
	(void)state;
	cleanup_free uint8_t *p = pattern(1000);
	cleanup_free uint8_t *buf = NULL;
	size_t bl = 0;
	append_frame(&buf, &bl, KC_WS_BINARY, false, key, p, 400);
	append_frame(&buf, &bl, KC_WS_PING, true, key, "hi", 2);
	append_frame(&buf, &bl, KC_WS_CONT, true, key, p + 400, 600);
	struct kc_ws_decoder d;
	struct sink s = {0};
	kc_err_t err = NULL;
	kc_ws_decoder_init(&d, 0, 0, KC_WS_MASK_REQUIRE);
	for (size_t i = 0; i < bl; i++)
		assert_int_equal(kc_ws_decoder_feed(&d, buf + i, 1, on_msg, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ev[0].op, KC_WS_PING);
	assert_memory_equal(s.ev[0].data, "hi", 2);
	assert_int_equal(s.ev[1].op, KC_WS_BINARY);
	assert_int_equal(s.ev[1].len, 1000);
	assert_memory_equal(s.ev[1].data, p, 1000);
	sink_reset(&s);
	kc_ws_decoder_free(&d);
}

static void test_fragmented_with_control(void **state)
{
	(void)state;
	cleanup_free uint8_t *buf = NULL;
	size_t bl = 0;
	append_frame(&buf, &bl, KC_WS_TEXT, false, NULL, "Hel", 3);
	append_frame(&buf, &bl, KC_WS_PING, true, NULL, "p", 1);
	append_frame(&buf, &bl, KC_WS_CONT, false, NULL, "lo ", 3);
	append_frame(&buf, &bl, KC_WS_CONT, false, NULL, "", 0);
	append_frame(&buf, &bl, KC_WS_PONG, true, NULL, "", 0);
	append_frame(&buf, &bl, KC_WS_CONT, true, NULL, "world", 5);
	append_frame(&buf, &bl, KC_WS_CLOSE, true, NULL,
		     "\x03\xe8"
		     "bye",
		     5);
	struct kc_ws_decoder d;
	struct sink s = {0};
	kc_err_t err = NULL;
	kc_ws_decoder_init(&d, 0, 0, KC_WS_MASK_FORBID);
	assert_int_equal(kc_ws_decoder_feed(&d, buf, bl, on_msg, &s, &err), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.ev[0].op, KC_WS_PING);
	assert_int_equal(s.ev[1].op, KC_WS_PONG);
	assert_int_equal(s.ev[2].op, KC_WS_TEXT);
	assert_int_equal(s.ev[2].len, 11);
	assert_memory_equal(s.ev[2].data, "Hello world", 11);
	assert_int_equal(s.ev[3].op, KC_WS_CLOSE);
	assert_int_equal(s.ev[3].len, 5);
	assert_int_equal((s.ev[3].data[0] << 8) | s.ev[3].data[1], 1000);
	sink_reset(&s);
	kc_ws_decoder_free(&d);
}

/* Feeds raw bytes to a fresh decoder and expects an error of `kind`. */
static void expect_error(const uint8_t *buf, size_t len, size_t max_frame, size_t max_msg,
			 enum kc_ws_mask_policy pol, enum kc_err_kind kind)
{
	struct kc_ws_decoder d;
	struct sink s = {0};
	kc_err_t err = NULL;
	kc_ws_decoder_init(&d, max_frame, max_msg, pol);
	assert_int_equal(kc_ws_decoder_feed(&d, buf, len, on_msg, &s, &err), -1);
	assert_int_equal(kc_err_kind(err), kind);
	kc_err_free(&err);
	/* A failed decoder refuses anything further. */
	const uint8_t ok[] = {0x82, 0x00};
	assert_int_equal(kc_ws_decoder_feed(&d, ok, 2, on_msg, &s, &err), -1);
	kc_err_free(&err);
	sink_reset(&s);
	kc_ws_decoder_free(&d);
}

static void test_protocol_violations(void **state)
{
	(void)state;
	const uint8_t rsv[] = {0xC2, 0x00};
	expect_error(rsv, sizeof rsv, 0, 0, KC_WS_MASK_ANY, KC_E_PROTO);
	const uint8_t bad_op[] = {0x83, 0x00};
	expect_error(bad_op, sizeof bad_op, 0, 0, KC_WS_MASK_ANY, KC_E_PROTO);
	const uint8_t bad_ctrl[] = {0x8B, 0x00};
	expect_error(bad_ctrl, sizeof bad_ctrl, 0, 0, KC_WS_MASK_ANY, KC_E_PROTO);
	const uint8_t lone_cont[] = {0x80, 0x00};
	expect_error(lone_cont, sizeof lone_cont, 0, 0, KC_WS_MASK_ANY, KC_E_PROTO);
	const uint8_t nested[] = {0x02, 0x01, 'a', 0x82, 0x00};
	expect_error(nested, sizeof nested, 0, 0, KC_WS_MASK_ANY, KC_E_PROTO);
	const uint8_t frag_ping[] = {0x09, 0x00};
	expect_error(frag_ping, sizeof frag_ping, 0, 0, KC_WS_MASK_ANY, KC_E_PROTO);
	const uint8_t long_ping[] = {0x89, 126, 0x00, 126};
	expect_error(long_ping, sizeof long_ping, 0, 0, KC_WS_MASK_ANY, KC_E_PROTO);
	const uint8_t close1[] = {0x88, 0x01, 0x03};
	expect_error(close1, sizeof close1, 0, 0, KC_WS_MASK_ANY, KC_E_PROTO);
	const uint8_t masked[] = {0x82, 0x81, 1, 2, 3, 4, 5};
	expect_error(masked, sizeof masked, 0, 0, KC_WS_MASK_FORBID, KC_E_PROTO);
	const uint8_t unmasked[] = {0x82, 0x01, 5};
	expect_error(unmasked, sizeof unmasked, 0, 0, KC_WS_MASK_REQUIRE, KC_E_PROTO);
}

static void test_oversize(void **state)
{
	(void)state;
	/* One frame over max_frame: refused from the header, before any payload. */
	const uint8_t big16[] = {0x82, 126, 0x03, 0xE9}; /* 1001 */
	expect_error(big16, sizeof big16, 1000, 0, KC_WS_MASK_ANY, KC_E_TOOBIG);
	/* 64-bit length of 4 GiB: refused, nothing allocated. */
	const uint8_t big64[] = {0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0};
	expect_error(big64, sizeof big64, 0, 0, KC_WS_MASK_ANY, KC_E_TOOBIG);
	/* The top bit of a 64-bit length must be clear. */
	const uint8_t top[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
	expect_error(top, sizeof top, 0, 0, KC_WS_MASK_ANY, KC_E_PROTO);
	/* Fragments that add up past max_message. */
	cleanup_free uint8_t *buf = NULL;
	size_t bl = 0;
	cleanup_free uint8_t *p = pattern(600);
	append_frame(&buf, &bl, KC_WS_BINARY, false, NULL, p, 600);
	append_frame(&buf, &bl, KC_WS_CONT, true, NULL, p, 600);
	expect_error(buf, bl, 1000, 1000, KC_WS_MASK_ANY, KC_E_TOOBIG);
}

static void test_64bit_length_ok(void **state)
{
	(void)state;
	/* A small payload with a (non-minimal) 64-bit length still decodes. */
	const uint8_t f[] = {0x82, 127, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'};
	struct kc_ws_decoder d;
	struct sink s = {0};
	kc_err_t err = NULL;
	kc_ws_decoder_init(&d, 0, 0, KC_WS_MASK_ANY);
	assert_int_equal(kc_ws_decoder_feed(&d, f, sizeof f, on_msg, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_memory_equal(s.ev[0].data, "abc", 3);
	sink_reset(&s);
	kc_ws_decoder_free(&d);
}

static void test_callback_error_stops(void **state)
{
	(void)state;
	cleanup_free uint8_t *buf = NULL;
	size_t bl = 0;
	append_frame(&buf, &bl, KC_WS_BINARY, true, NULL, "a", 1);
	append_frame(&buf, &bl, KC_WS_BINARY, true, NULL, "b", 1);
	struct kc_ws_decoder d;
	struct sink s = {.fail_after = 1};
	kc_err_t err = NULL;
	kc_ws_decoder_init(&d, 0, 0, KC_WS_MASK_ANY);
	assert_int_equal(kc_ws_decoder_feed(&d, buf, bl, on_msg, &s, &err), -1);
	assert_int_equal(s.n, 1);
	kc_err_free(&err);
	sink_reset(&s);
	kc_ws_decoder_free(&d);
}

static void test_encode_refuses_bad_control(void **state)
{
	(void)state;
	kc_err_t err = NULL;
	uint8_t *f = NULL;
	size_t fl = 0;
	cleanup_free uint8_t *p = pattern(126);
	assert_int_equal(kc_ws_frame_encode(KC_WS_PING, true, NULL, p, 126, &f, &fl, &err), -1);
	kc_err_free(&err);
	assert_int_equal(kc_ws_frame_encode(KC_WS_CLOSE, false, NULL, p, 2, &f, &fl, &err), -1);
	kc_err_free(&err);
}

static void test_status(void **state)
{
	(void)state;
	kc_err_t err = NULL;
	int code = -1;
	const char *ok = "{\"metadata\":{},\"status\":\"Success\"}";
	assert_int_equal(kc_k8s_status_exit_code((const uint8_t *)ok, strlen(ok), &code, &err), 0);
	assert_int_equal(code, 0);
	const char *nz =
	    "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with "
	    "non-zero exit code: error executing command [sh -c exit 3], exit code 3\","
	    "\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":"
	    "\"ExitCode\",\"message\":\"3\"}]}}";
	assert_int_equal(kc_k8s_status_exit_code((const uint8_t *)nz, strlen(nz), &code, &err), 0);
	assert_int_equal(code, 3);
	const char *fail = "{\"status\":\"Failure\",\"message\":\"container not found\","
			   "\"reason\":\"InternalError\"}";
	assert_int_equal(kc_k8s_status_exit_code((const uint8_t *)fail, strlen(fail), &code, &err),
			 -1);
	assert_int_equal(kc_err_kind(err), KC_E_REMOTE);
	cleanup_free char *msg = kc_err_string(err);
	assert_non_null(strstr(msg, "container not found"));
	kc_err_free(&err);
	const char *nocause = "{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\"}";
	assert_int_equal(
	    kc_k8s_status_exit_code((const uint8_t *)nocause, strlen(nocause), &code, &err), -1);
	kc_err_free(&err);
	assert_int_equal(kc_k8s_status_exit_code((const uint8_t *)"{", 1, &code, &err), -1);
	kc_err_free(&err);
}

static void test_accept_key(void **state)
{
	(void)state;
	/* The example of RFC 6455 section 1.3. */
	kc_err_t err = NULL;
	char out[29];
	assert_int_equal(kc_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out, &err), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_exec_path(void **state)
{
	(void)state;
	const char *argv[] = {"sh", "-c", "echo a&b=c d", NULL};
	cleanup_free char *p = kc_k8s_exec_path("ns1", "web-0", "app", argv, true);
	assert_non_null(p);
	assert_string_equal(p, "/api/v1/namespaces/ns1/pods/web-0/exec?container=app&command=sh&"
			       "command=-c&command=echo%20a%26b%3Dc%20d&stdin=true&stdout=true&"
			       "stderr=true");
	cleanup_free char *q = kc_k8s_exec_path("d", "p", NULL, argv, false);
	assert_string_equal(q, "/api/v1/namespaces/d/pods/p/exec?command=sh&command=-c&"
			       "command=echo%20a%26b%3Dc%20d&stdout=true&stderr=true");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_lengths),
	    cmocka_unit_test(test_split_every_byte),
	    cmocka_unit_test(test_byte_by_byte),
	    cmocka_unit_test(test_fragmented_with_control),
	    cmocka_unit_test(test_protocol_violations),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_64bit_length_ok),
	    cmocka_unit_test(test_callback_error_stops),
	    cmocka_unit_test(test_encode_refuses_bad_control),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_accept_key),
	    cmocka_unit_test(test_exec_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
