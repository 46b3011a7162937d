/* Unit tests of the Docker stream decoders: multiplexed frames split at every
 * byte boundary, interleaving, limits, truncation; JSON-message lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shim/base/json.h"
#include "shim/engine/docker_stream.h"

struct rec {
	char out[4096], err[4096];
	size_t out_len, err_len;
	/* stream of each delivered piece, coalesced: "12121" */
	char order[256];
	size_t order_len;
	int stop_after; /* >0: fail on that call */
	int calls;
};

static int rec_cb(void *opaque, enum kc_mux_stream s, const char *data, size_t len)
{
	struct rec *r = opaque;
	r->calls++;
	if (r->stop_after && r->calls >= r->stop_after)
		return 1;
	assert_true(len > 0);
	char tag = (char)('0' + s);
	if (!r->order_len || r->order[r->order_len - 1] != tag) {
		assert_true(r->order_len < sizeof r->order - 1);
		r->order[r->order_len++] = tag;
	}
	if (s == KC_MUX_STDERR) {
		assert_true(r->err_len + len <= sizeof r->err);
		memcpy(r->err + r->err_len, data, len);
		r->err_len += len;
	} else {
		assert_true(r->out_len + len <= sizeof r->out);
		memcpy(r->out + r->out_len, data, len);
		r->out_len += len;
	}
	return 0;
}

static size_t frame(unsigned char *buf, int stream, const char *payload, size_t len)
{
	buf[0] = (unsigned char)stream;
	buf[1] = buf[2] = buf[3] = 0;
	buf[4] = (unsigned char)(len >> 24);
	buf[5] = (unsigned char)(len >> 16);
	buf[6] = (unsigned char)(len >> 8);
	buf[7] = (unsigned char)len;
	memcpy(buf + 8, payload, len);
	return 8 + len;
}

/* out "out\n", err "err\n", empty out frame, out "more", err 300 x 'E', out "end" */
static size_t sample(unsigned char *buf, char *big)
{
	size_t n = 0;
	memset(big, 'E', 300);
	n += frame(buf + n, 1, "out\n", 4);
	n += frame(buf + n, 2, "err\n", 4);
	n += frame(buf + n, 1, "", 0);
	n += frame(buf + n, 1, "more", 4);
	n += frame(buf + n, 2, big, 300);
	n += frame(buf + n, 1, "end", 3);
	return n;
}

static void check_sample(const struct rec *r, const char *big)
{
	assert_int_equal(r->out_len, 11);
	assert_memory_equal(r->out, "out\nmoreend", 11);
	assert_int_equal(r->err_len, 304);
	assert_memory_equal(r->err, "err\n", 4);
	assert_memory_equal(r->err + 4, big, 300);
	assert_string_equal(r->order, "12121");
}

static void test_mux_whole(void **state)
{
	(void)state;
	unsigned char buf[1024];
	char big[300];
	size_t n = sample(buf, big);
	struct rec r = {0};
	struct kc_mux_decoder d;
	kc_mux_init(&d, 0, rec_cb, &r);
	kc_err_t err = NULL;
	assert_int_equal(kc_mux_feed(&d, buf, n, &err), 0);
	assert_int_equal(kc_mux_finish(&d, &err), 0);
	assert_null(err);
	assert_int_equal(d.frames, 6);
	check_sample(&r, big);
}

/* Two pieces, split at every byte boundary, including 0 and n. */
static void test_mux_split_every_boundary(void **state)
{
	(void)state;
	unsigned char buf[1024];
	char big[300];
	size_t n = sample(buf, big);
	for (size_t cut = 0; cut <= n; cut++) {
		struct rec r = {0};
		struct kc_mux_decoder d;
		kc_mux_init(&d, 0, rec_cb, &r);
		kc_err_t err = NULL;
		assert_int_equal(kc_mux_feed(&d, buf, cut, &err), 0);
		assert_int_equal(kc_mux_feed(&d, buf + cut, n - cut, &err), 0);
		assert_int_equal(kc_mux_finish(&d, &err), 0);
		check_sample(&r, big);
	}
}

/* Three pieces at every pair of boundaries, and one byte at a time. */
static void test_mux_split_three_and_bytewise(void **state)
{
	(void)state;
	unsigned char buf[1024];
	char big[300];
	size_t n = sample(buf, big);
	for (size_t a = 0; a <= n; a += 1) {
		for (size_t b = a; b <= n; b += 7) {
			struct rec r = {0};
			struct kc_mux_decoder d;
			kc_mux_init(&d, 0, rec_cb, &r);
			kc_err_t err = NULL;
			assert_int_equal(kc_mux_feed(&d, buf, a, &err), 0);
			assert_int_equal(kc_mux_feed(&d, buf + a, b - a, &err), 0);
			assert_int_equal(kc_mux_feed(&d, buf + b, n - b, &err), 0);
			assert_int_equal(kc_mux_finish(&d, &err), 0);
			check_sample(&r, big);
		}
	}
	struct rec r = {0};
	struct kc_mux_decoder d;
	kc_mux_init(&d, 0, rec_cb, &r);
	kc_err_t err = NULL;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(kc_mux_feed(&d, buf + i, 1, &err), 0);
	assert_int_equal(kc_mux_finish(&d, &err), 0);
	check_sample(&r, big);
}

static void test_mux_interleaving(void **state)
{
	(void)state;
	unsigned char buf[512];
	size_t n = 0;
	const char *pieces[] = {"a", "B", "c", "D", "e", "F"};
	for (int i = 0; i < 6; i++)
		n += frame(buf + n, i % 2 ? 2 : 1, pieces[i], 1);
	struct rec r = {0};
	struct kc_mux_decoder d;
	kc_mux_init(&d, 0, rec_cb, &r);
	kc_err_t err = NULL;
	assert_int_equal(kc_mux_feed(&d, buf, n, &err), 0);
	assert_int_equal(kc_mux_finish(&d, &err), 0);
	assert_string_equal(r.order, "121212");
	assert_memory_equal(r.out, "ace", 3);
	assert_memory_equal(r.err, "BDF", 3);
}

static void test_mux_oversize(void **state)
{
	(void)state;
	unsigned char buf[64];
	char payload[17];
	memset(payload, 'x', sizeof payload);
	struct rec r = {0};
	struct kc_mux_decoder d;
	kc_err_t err = NULL;

	/* exactly at the limit: fine */
	size_t n = frame(buf, 1, payload, 16);
	kc_mux_init(&d, 16, rec_cb, &r);
	assert_int_equal(kc_mux_feed(&d, buf, n, &err), 0);
	assert_int_equal(kc_mux_finish(&d, &err), 0);

	/* one above: refused at the header, before any payload is delivered */
	memset(&r, 0, sizeof r);
	n = frame(buf, 1, payload, 17);
	kc_mux_init(&d, 16, rec_cb, &r);
	assert_int_equal(kc_mux_feed(&d, buf, n, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_TOOBIG);
	assert_int_equal(r.calls, 0);
	kc_err_free(&err);
	/* sticky */
	assert_int_equal(kc_mux_feed(&d, buf, 1, &err), -1);
	kc_err_free(&err);

	/* a 4 GiB claim against the default limit */
	unsigned char huge[8] = {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
	kc_mux_init(&d, 0, rec_cb, &r);
	assert_int_equal(kc_mux_feed(&d, huge, 8, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_TOOBIG);
	kc_err_free(&err);
}

static void test_mux_bad_header(void **state)
{
	(void)state;
	struct rec r = {0};
	struct kc_mux_decoder d;
	kc_err_t err = NULL;
	unsigned char bad_type[8] = {4, 0, 0, 0, 0, 0, 0, 1};
	kc_mux_init(&d, 0, rec_cb, &r);
	assert_int_equal(kc_mux_feed(&d, bad_type, 8, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);

	unsigned char bad_pad[8] = {1, 0, 1, 0, 0, 0, 0, 1};
	kc_mux_init(&d, 0, rec_cb, &r);
	assert_int_equal(kc_mux_feed(&d, bad_pad, 8, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);

	/* An engine JSON error fed as if it were a stream. */
	const char *json = "{\"message\":\"No such exec instance\"}";
	kc_mux_init(&d, 0, rec_cb, &r);
	assert_int_equal(kc_mux_feed(&d, json, strlen(json), &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);
}

static void test_mux_truncated(void **state)
{
	(void)state;
	unsigned char buf[64];
	size_t n = frame(buf, 1, "hello", 5);
	for (size_t cut = 1; cut < n; cut++) {
		struct rec r = {0};
		struct kc_mux_decoder d;
		kc_err_t err = NULL;
		kc_mux_init(&d, 0, rec_cb, &r);
		assert_int_equal(kc_mux_feed(&d, buf, cut, &err), 0);
		assert_int_equal(kc_mux_finish(&d, &err), -1);
		assert_int_equal(kc_err_kind(err), KC_E_PROTO);
		assert_non_null(strstr(err->msg, "truncated"));
		kc_err_free(&err);
	}
	/* empty input is a complete (empty) stream */
	struct kc_mux_decoder d;
	kc_err_t err = NULL;
	kc_mux_init(&d, 0, rec_cb, NULL);
	assert_int_equal(kc_mux_finish(&d, &err), 0);
}

static void test_mux_receiver_stops(void **state)
{
	(void)state;
	unsigned char buf[64];
	size_t n = frame(buf, 1, "a", 1);
	n += frame(buf + n, 2, "b", 1);
	struct rec r = {.stop_after = 2};
	struct kc_mux_decoder d;
	kc_err_t err = NULL;
	kc_mux_init(&d, 0, rec_cb, &r);
	assert_int_equal(kc_mux_feed(&d, buf, n, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_GENERIC);
	kc_err_free(&err);
}

/* ---- JSON lines ---- */

struct jrec {
	char got[1024];
	size_t len;
	int fail_on;
	int n;
};

static int jrec_cb(void *opaque, yajl_val v, kc_err_t *err)
{
	struct jrec *j = opaque;
	j->n++;
	if (j->fail_on && j->n == j->fail_on)
		return kc_err_new(err, KC_E_REMOTE, "callback failed");
	const char *s = NULL;
	if (kc_json_get_str(v, "/status", &s, err) < 0)
		return -1;
	size_t l = strlen(s);
	assert_true(j->len + l + 1 < sizeof j->got);
	memcpy(j->got + j->len, s, l);
	j->len += l;
	j->got[j->len++] = ';';
	j->got[j->len] = '\0';
	return 0;
}

static void test_jsonl_split_every_boundary(void **state)
{
	(void)state;
	const char *in = "{\"status\":\"a\"}\r\n\r\n{\"status\":\"bb\",\"id\":\"x\"}\n  \n"
			 "{\"status\":\"c\\n\"}\r\n{\"status\":\"last\"}";
	size_t n = strlen(in);
	for (size_t cut = 0; cut <= n; cut++) {
		struct jrec j = {0};
		struct kc_jsonl jl;
		kc_err_t err = NULL;
		kc_jsonl_init(&jl, 0, jrec_cb, &j);
		assert_int_equal(kc_jsonl_feed(&jl, in, cut, &err), 0);
		assert_int_equal(kc_jsonl_feed(&jl, in + cut, n - cut, &err), 0);
		assert_int_equal(kc_jsonl_finish(&jl, &err), 0);
		assert_string_equal(j.got, "a;bb;c\n;last;");
		assert_int_equal(jl.messages, 4);
		kc_jsonl_release(&jl);
	}
}

static void test_jsonl_errors(void **state)
{
	(void)state;
	struct jrec j = {0};
	struct kc_jsonl jl;
	kc_err_t err = NULL;

	kc_jsonl_init(&jl, 0, jrec_cb, &j);
	assert_int_equal(kc_jsonl_feed(&jl, "{\"status\":\"a\"}\nnot json\n", 24, &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_PROTO);
	kc_err_free(&err);
	kc_jsonl_release(&jl);

	kc_jsonl_init(&jl, 16, jrec_cb, &j);
	const char *longl = "{\"status\":\"0123456789\"}\n";
	assert_int_equal(kc_jsonl_feed(&jl, longl, strlen(longl), &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_TOOBIG);
	kc_err_free(&err);
	kc_jsonl_release(&jl);

	/* a long line arriving in pieces is bounded too */
	kc_jsonl_init(&jl, 16, jrec_cb, &j);
	int rc = 0;
	for (int i = 0; i < 40 && rc == 0; i++)
		rc = kc_jsonl_feed(&jl, "x", 1, &err);
	assert_int_equal(rc, -1);
	assert_int_equal(kc_err_kind(err), KC_E_TOOBIG);
	kc_err_free(&err);
	kc_jsonl_release(&jl);

	struct jrec jf = {.fail_on = 2};
	kc_jsonl_init(&jl, 0, jrec_cb, &jf);
	const char *two = "{\"status\":\"a\"}\n{\"status\":\"b\"}\n{\"status\":\"c\"}\n";
	assert_int_equal(kc_jsonl_feed(&jl, two, strlen(two), &err), -1);
	assert_int_equal(kc_err_kind(err), KC_E_REMOTE);
	assert_string_equal(jf.got, "a;");
	kc_err_free(&err);
	kc_jsonl_release(&jl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mux_whole),
	    cmocka_unit_test(test_mux_split_every_boundary),
	    cmocka_unit_test(test_mux_split_three_and_bytewise),
	    cmocka_unit_test(test_mux_interleaving),
	    cmocka_unit_test(test_mux_oversize),
	    cmocka_unit_test(test_mux_bad_header),
	    cmocka_unit_test(test_mux_truncated),
	    cmocka_unit_test(test_mux_receiver_stops),
	    cmocka_unit_test(test_jsonl_split_every_boundary),
	    cmocka_unit_test(test_jsonl_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
