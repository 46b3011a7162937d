/* WebSocket client and Kubernetes exec channels: see websocket.h. */
#include "websocket.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "shim/base/cleanup.h"
#include "shim/base/json.h"
#include "ws_conn.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_HANDSHAKE (16u << 10)
#define WS_MAX_ERROR_BODY (64u << 10)
#define WS_RECV_CHUNK (64u << 10)
#define K8S_STDIN_CHUNK (32u << 10)
#define K8S_MAX_STATUS (64u << 10)

/* ---- frame codec ---- */

int kc_ws_frame_encode(enum kc_ws_opcode op, bool fin, const uint8_t *mask_key, const void *payload,
		       size_t len, uint8_t **out, size_t *out_len, kc_err_t *err)
{
	if ((op & 0x8) && (len > KC_WS_MAX_CONTROL || !fin))
		return kc_err_new(err, KC_E_INVALID,
				  "websocket: control frame too long or fragmented");
	size_t hlen = 2 + (len > 0xFFFF ? 8 : len > 125 ? 2 : 0) + (mask_key ? 4 : 0);
	if (len > SIZE_MAX - hlen)
		return kc_err_new(err, KC_E_TOOBIG, "websocket: frame too large");
	uint8_t *b = malloc(hlen + len);
	if (!b)
		return kc_err_sys(err, ENOMEM, "websocket");
	size_t i = 0;
	b[i++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0F));
	uint8_t m = mask_key ? 0x80 : 0;
	if (len <= 125) {
		b[i++] = m | (uint8_t)len;
	} else if (len <= 0xFFFF) {
		b[i++] = m | 126;
		b[i++] = (uint8_t)(len >> 8);
		b[i++] = (uint8_t)len;
	} else {
		b[i++] = m | 127;
		for (int s = 56; s >= 0; s -= 8)
			b[i++] = (uint8_t)((uint64_t)len >> s);
	}
	if (mask_key) {
		memcpy(b + i, mask_key, 4);
		i += 4;
	}
	const uint8_t *p = payload;
	for (size_t k = 0; k < len; k++)
		b[i + k] = mask_key ? p[k] ^ mask_key[k & 3] : p[k];
	*out = b;
	*out_len = hlen + len;
	return 0;
}

void kc_ws_decoder_init(struct kc_ws_decoder *d, size_t max_frame, size_t max_message,
			enum kc_ws_mask_policy policy)
{
	memset(d, 0, sizeof *d);
	d->max_frame = max_frame ? max_frame : KC_WS_DEFAULT_MAX_FRAME;
	d->max_message = max_message ? max_message : KC_WS_DEFAULT_MAX_MESSAGE;
	d->mask_policy = policy;
	d->hdr_need = 2;
}

void kc_ws_decoder_free(struct kc_ws_decoder *d)
{
	free(d->msg);
	d->msg = NULL;
	d->msg_len = d->msg_alloc = 0;
}

static int dec_fail(struct kc_ws_decoder *d, kc_err_t *err, enum kc_err_kind kind, const char *what)
{
	d->failed = true;
	return kc_err_new(err, kind, "websocket: %s", what);
}

/* Whole header in d->hdr: validate it and make room for the payload. */
static int dec_header(struct kc_ws_decoder *d, kc_err_t *err)
{
	uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
	d->fin = b0 & 0x80;
	d->op = b0 & 0x0F;
	d->masked = b1 & 0x80;
	if (b0 & 0x70) /* no extension was negotiated */
		return dec_fail(d, err, KC_E_PROTO, "reserved bits set");
	if (d->masked && d->mask_policy == KC_WS_MASK_FORBID)
		return dec_fail(d, err, KC_E_PROTO, "masked frame from server");
	if (!d->masked && d->mask_policy == KC_WS_MASK_REQUIRE)
		return dec_fail(d, err, KC_E_PROTO, "unmasked frame from client");
	size_t i = 2;
	uint64_t len = b1 & 0x7F;
	if (len == 126) {
		len = ((uint64_t)d->hdr[2] << 8) | d->hdr[3];
		i = 4;
	} else if (len == 127) {
		len = 0;
		for (int k = 0; k < 8; k++)
			len = (len << 8) | d->hdr[2 + k];
		i = 10;
		if (len >> 63)
			return dec_fail(d, err, KC_E_PROTO, "64-bit length with its top bit set");
	}
	if (d->masked)
		memcpy(d->mask, d->hdr + i, 4);
	d->payload_len = len;
	d->payload_have = 0;

	if (d->op & 0x8) {
		if (d->op != KC_WS_CLOSE && d->op != KC_WS_PING && d->op != KC_WS_PONG)
			return dec_fail(d, err, KC_E_PROTO, "unknown control opcode");
		if (!d->fin)
			return dec_fail(d, err, KC_E_PROTO, "fragmented control frame");
		if (len > KC_WS_MAX_CONTROL)
			return dec_fail(d, err, KC_E_PROTO, "control frame longer than 125 bytes");
		if (d->op == KC_WS_CLOSE && len == 1)
			return dec_fail(d, err, KC_E_PROTO, "close frame with a 1-byte payload");
		return 0;
	}
	if (d->op == KC_WS_CONT) {
		if (!d->msg_op)
			return dec_fail(d, err, KC_E_PROTO, "continuation frame outside a message");
	} else if (d->op == KC_WS_TEXT || d->op == KC_WS_BINARY) {
		if (d->msg_op)
			return dec_fail(d, err, KC_E_PROTO, "new message inside a fragmented one");
		d->msg_op = d->op;
		d->msg_len = 0;
	} else {
		return dec_fail(d, err, KC_E_PROTO, "unknown data opcode");
	}
	if (len > d->max_frame)
		return dec_fail(d, err, KC_E_TOOBIG, "frame larger than the limit");
	if (len > d->max_message - d->msg_len)
		return dec_fail(d, err, KC_E_TOOBIG, "message larger than the limit");
	size_t want = d->msg_len + (size_t)len + 1; /* +1: never a zero-size buffer */
	if (want > d->msg_alloc) {
		size_t na = d->msg_alloc ? d->msg_alloc : 4096;
		while (na < want)
			na = na > SIZE_MAX / 2 ? want : na * 2;
		uint8_t *nb = realloc(d->msg, na);
		if (!nb) {
			d->failed = true;
			return kc_err_sys(err, ENOMEM, "websocket");
		}
		d->msg = nb;
		d->msg_alloc = na;
	}
	return 0;
}

static int dec_frame_done(struct kc_ws_decoder *d, kc_ws_message_cb cb, void *opaque, kc_err_t *err)
{
	d->in_payload = false;
	d->hdr_have = 0;
	d->hdr_need = 2;
	int r = 0;
	if (d->op & 0x8) {
		r = cb(opaque, (enum kc_ws_opcode)d->op, d->ctrl, (size_t)d->payload_len, err);
	} else if (d->fin) {
		uint8_t op = d->msg_op;
		size_t n = d->msg_len;
		d->msg_op = 0;
		d->msg_len = 0;
		r = cb(opaque, (enum kc_ws_opcode)op, d->msg, n, err);
		/* Do not keep a large reassembly buffer between messages. */
		if (d->msg_alloc > (1u << 20)) {
			free(d->msg);
			d->msg = NULL;
			d->msg_alloc = 0;
		}
	}
	if (r < 0)
		d->failed = true;
	return r < 0 ? -1 : 0;
}

int kc_ws_decoder_feed(struct kc_ws_decoder *d, const uint8_t *data, size_t len,
		       kc_ws_message_cb cb, void *opaque, kc_err_t *err)
{
	if (d->failed)
		return kc_err_new(err, KC_E_PROTO, "websocket: stream already failed");
	size_t i = 0;
	while (i < len) {
		if (!d->in_payload) {
			size_t take = d->hdr_need - d->hdr_have;
			if (take > len - i)
				take = len - i;
			memcpy(d->hdr + d->hdr_have, data + i, take);
			d->hdr_have += take;
			i += take;
			if (d->hdr_have < d->hdr_need)
				break;
			if (d->hdr_need == 2) {
				uint8_t l7 = d->hdr[1] & 0x7F;
				d->hdr_need += (l7 == 126   ? 2
						: l7 == 127 ? 8
							    : 0) +
					       ((d->hdr[1] & 0x80) ? 4 : 0);
				if (d->hdr_need > 2)
					continue;
			}
			if (dec_header(d, err) < 0)
				return -1;
			d->in_payload = true;
			if (d->payload_len == 0 && dec_frame_done(d, cb, opaque, err) < 0)
				return -1;
			continue;
		}
		uint64_t left = d->payload_len - d->payload_have;
		size_t take = left < (uint64_t)(len - i) ? (size_t)left : len - i;
		uint8_t *dst = (d->op & 0x8) ? d->ctrl + d->payload_have : d->msg + d->msg_len;
		for (size_t k = 0; k < take; k++)
			dst[k] = d->masked ? data[i + k] ^ d->mask[(d->payload_have + k) & 3]
					   : data[i + k];
		d->payload_have += take;
		if (!(d->op & 0x8))
			d->msg_len += take;
		i += take;
		if (d->payload_have == d->payload_len && dec_frame_done(d, cb, opaque, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- connection ---- */

struct kc_ws {
	struct kc_ws_conn conn;
	struct kc_ws_decoder dec;
	char *protocol;
	kc_ws_message_cb on_message;
	void *opaque;
	long io_timeout_ms; /* a send that cannot progress for this long fails */
	bool closed, close_sent, dispatching, flushing;
	int close_code;
	/* Control answers are queued while the decoder runs and sent after. */
	bool pong_pending;
	uint8_t pong[KC_WS_MAX_CONTROL];
	size_t pong_len;
	bool close_reply_pending;
	/* Non-blocking mode (kc_k8s_exec_many): frames wait in obuf until the
	 * socket takes them; the caller polls for POLLOUT while it is not empty. */
	bool async;
	uint8_t *obuf;
	size_t olen, ooff, oalloc;
	long stall_since; /* last time the queue made progress */
};

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int ws_wait(struct kc_ws *ws, short events, long timeout_ms, short *revents, kc_err_t *err)
{
	struct pollfd p = {.fd = ws->conn.fd, .events = events};
	int r;
	do
		r = poll(&p, 1,
			 timeout_ms < 0 ? -1 : (int)(timeout_ms > 3600000 ? 3600000 : timeout_ms));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return kc_err_sys(err, errno, "websocket: poll");
	*revents = r == 0 ? 0 : p.revents;
	return 0;
}

static int ws_frame_cb(void *opaque, enum kc_ws_opcode op, const uint8_t *data, size_t len,
		       kc_err_t *err)
{
	struct kc_ws *ws = opaque;
	switch (op) {
	case KC_WS_PING:
		/* Only the latest ping needs an answer (RFC 6455 5.5.3). */
		memcpy(ws->pong, data, len);
		ws->pong_len = len;
		ws->pong_pending = true;
		return 0;
	case KC_WS_PONG:
		return 0;
	case KC_WS_CLOSE:
		ws->close_code = len >= 2 ? (data[0] << 8) | data[1] : KC_WS_CLOSE_NORMAL;
		if (!ws->closed && !ws->close_sent)
			ws->close_reply_pending = true;
		ws->closed = true;
		return 0;
	default:
		if (ws->closed) /* nothing counts after the close frame */
			return 0;
		return ws->on_message(ws->opaque, op, data, len, err);
	}
}

static int ws_read_some(struct kc_ws *ws, bool *got, kc_err_t *err);
static int ws_flush_control(struct kc_ws *ws, kc_err_t *err);

/* Non-blocking mode: writes what the socket takes now, keeps the rest. */
static int ws_out_flush(struct kc_ws *ws, kc_err_t *err)
{
	while (ws->ooff < ws->olen) {
		size_t n = 0;
		CURLcode rc =
		    curl_easy_send(ws->conn.curl, ws->obuf + ws->ooff, ws->olen - ws->ooff, &n);
		if (rc == CURLE_AGAIN)
			return 0;
		if (rc != CURLE_OK)
			return kc_err_new(err, KC_E_IO, "websocket: send: %s",
					  curl_easy_strerror(rc));
		ws->ooff += n;
		ws->stall_since = now_ms();
	}
	ws->ooff = ws->olen = 0;
	if (ws->oalloc > (1u << 20)) { /* do not keep a large stdin chunk's room */
		free(ws->obuf);
		ws->obuf = NULL;
		ws->oalloc = 0;
	}
	return 0;
}

static bool ws_out_pending(const struct kc_ws *ws)
{
	return ws->ooff < ws->olen;
}

static int ws_queue(struct kc_ws *ws, const uint8_t *buf, size_t len, kc_err_t *err)
{
	if (!ws_out_pending(ws)) {
		ws->ooff = ws->olen = 0;
		ws->stall_since = now_ms();
	}
	if (ws->ooff) {
		memmove(ws->obuf, ws->obuf + ws->ooff, ws->olen - ws->ooff);
		ws->olen -= ws->ooff;
		ws->ooff = 0;
	}
	if (len > ws->oalloc - ws->olen) {
		uint8_t *nb = realloc(ws->obuf, ws->olen + len);
		if (!nb)
			return kc_err_sys(err, ENOMEM, "websocket");
		ws->obuf = nb;
		ws->oalloc = ws->olen + len;
	}
	memcpy(ws->obuf + ws->olen, buf, len);
	ws->olen += len;
	return ws_out_flush(ws, err);
}

/* Writes all of buf; while the socket is full, reads (unless called from
 * inside a dispatch) so the peer never blocks on us. Non-blocking mode
 * queues it instead (the caller's loop keeps reading). */
static int ws_send_raw(struct kc_ws *ws, const uint8_t *buf, size_t len, kc_err_t *err)
{
	if (ws->async)
		return ws_queue(ws, buf, len, err);
	size_t off = 0;
	long stall_since = now_ms();
	while (off < len) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(ws->conn.curl, buf + off, len - off, &n);
		if (rc == CURLE_OK) {
			off += n;
			stall_since = now_ms();
			continue;
		}
		if (rc != CURLE_AGAIN)
			return kc_err_new(err, KC_E_IO, "websocket: send: %s",
					  curl_easy_strerror(rc));
		long left =
		    ws->io_timeout_ms < 0 ? -1 : ws->io_timeout_ms - (now_ms() - stall_since);
		if (ws->io_timeout_ms >= 0 && left <= 0)
			return kc_err_new(err, KC_E_TIMEOUT, "websocket: peer stopped reading");
		bool can_read = !ws->dispatching && !ws->closed;
		short rev = 0;
		if (ws_wait(ws, POLLOUT | (can_read ? POLLIN : 0), left, &rev, err) < 0)
			return -1;
		if (can_read && (rev & POLLIN)) {
			bool got = false;
			if (ws_read_some(ws, &got, err) < 0)
				return -1;
		}
	}
	return 0;
}

static uint8_t *ws_mask_frame(struct kc_ws *ws, enum kc_ws_opcode op, const void *data, size_t len,
			      size_t *flen, kc_err_t *err)
{
	(void)ws;
	uint8_t key[4];
	uint8_t *f = NULL;
	if (RAND_bytes(key, sizeof key) != 1) {
		kc_err_new(err, KC_E_GENERIC, "websocket: no random bytes for the mask");
		return NULL;
	}
	if (kc_ws_frame_encode(op, true, key, data, len, &f, flen, err) < 0)
		return NULL;
	return f;
}

static int ws_flush_control(struct kc_ws *ws, kc_err_t *err)
{
	if (ws->flushing)
		return 0; /* the outer flush picks up what was queued */
	ws->flushing = true;
	int r = 0;
	while (r == 0 && (ws->pong_pending || ws->close_reply_pending)) {
		cleanup_free uint8_t *f = NULL;
		size_t flen = 0;
		if (ws->close_reply_pending) {
			ws->close_reply_pending = false;
			ws->pong_pending = false; /* no pong after close */
			if (ws->close_sent)
				break;
			uint8_t code[2] = {(uint8_t)(ws->close_code >> 8), (uint8_t)ws->close_code};
			/* 1005/1006 must not be sent: answer those with 1000. */
			if (ws->close_code == 1005 || ws->close_code == 1006) {
				code[0] = KC_WS_CLOSE_NORMAL >> 8;
				code[1] = KC_WS_CLOSE_NORMAL & 0xFF;
			}
			ws->close_sent = true;
			f = ws_mask_frame(ws, KC_WS_CLOSE, code, 2, &flen, err);
		} else {
			ws->pong_pending = false;
			f = ws_mask_frame(ws, KC_WS_PONG, ws->pong, ws->pong_len, &flen, err);
		}
		if (!f) {
			r = -1;
			break;
		}
		/* A peer that closed may already be gone: a failed close reply is harmless. */
		kc_err_t serr = NULL;
		if (ws_send_raw(ws, f, flen, &serr) < 0) {
			if (ws->closed) {
				kc_err_free(&serr);
			} else {
				serr->cause = *err;
				*err = serr;
				r = -1;
			}
		}
	}
	ws->flushing = false;
	return r;
}

static int ws_feed(struct kc_ws *ws, const uint8_t *data, size_t len, kc_err_t *err)
{
	ws->dispatching = true;
	int r = kc_ws_decoder_feed(&ws->dec, data, len, ws_frame_cb, ws, err);
	ws->dispatching = false;
	if (r < 0) {
		/* Tell the peer why before giving up; failures here add nothing. */
		if (!ws->close_sent) {
			uint16_t code = kc_err_kind(*err) == KC_E_TOOBIG ? KC_WS_CLOSE_TOOBIG
									 : KC_WS_CLOSE_PROTOCOL;
			kc_err_t ignore = NULL;
			kc_ws_close(ws, code, NULL, &ignore);
			kc_err_free(&ignore);
		}
		ws->closed = true;
		return -1;
	}
	return ws_flush_control(ws, err);
}

/* Reads until the socket would block (TLS may hold decrypted bytes that
 * poll cannot see, so stopping earlier could stall). */
static int ws_read_some(struct kc_ws *ws, bool *got, kc_err_t *err)
{
	uint8_t buf[WS_RECV_CHUNK];
	for (;;) {
		if (ws->closed)
			return 0;
		size_t n = 0;
		CURLcode rc = curl_easy_recv(ws->conn.curl, buf, sizeof buf, &n);
		if (rc == CURLE_AGAIN)
			return 0;
		if (rc != CURLE_OK) {
			ws->closed = true;
			return kc_err_new(err, KC_E_IO, "websocket: receive: %s",
					  curl_easy_strerror(rc));
		}
		if (n == 0) { /* EOF without a close frame */
			ws->closed = true;
			return 0;
		}
		*got = true;
		if (ws_feed(ws, buf, n, err) < 0)
			return -1;
	}
}

int kc_ws_send(struct kc_ws *ws, enum kc_ws_opcode op, const void *data, size_t len, kc_err_t *err)
{
	if (ws->close_sent || ws->closed)
		return kc_err_new(err, KC_E_IO, "websocket: send after close");
	size_t flen = 0;
	cleanup_free uint8_t *f = ws_mask_frame(ws, op, data, len, &flen, err);
	if (!f)
		return -1;
	return ws_send_raw(ws, f, flen, err);
}

int kc_ws_pump(struct kc_ws *ws, long timeout_ms, kc_err_t *err)
{
	bool got = false;
	if (ws_read_some(ws, &got, err) < 0)
		return -1;
	if (got || ws->closed)
		return ws->closed ? 1 : 0;
	short rev = 0;
	if (ws_wait(ws, POLLIN, timeout_ms, &rev, err) < 0)
		return -1;
	if (rev && ws_read_some(ws, &got, err) < 0)
		return -1;
	return ws->closed ? 1 : 0;
}

bool kc_ws_closed(const struct kc_ws *ws)
{
	return ws->closed;
}

int kc_ws_close_code(const struct kc_ws *ws)
{
	return ws->close_code;
}

const char *kc_ws_protocol(const struct kc_ws *ws)
{
	return ws->protocol;
}

int kc_ws_close(struct kc_ws *ws, uint16_t code, const char *reason, kc_err_t *err)
{
	if (ws->close_sent)
		return 0;
	uint8_t p[KC_WS_MAX_CONTROL];
	size_t rl = reason ? strnlen(reason, KC_WS_MAX_CONTROL - 2) : 0;
	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	if (rl)
		memcpy(p + 2, reason, rl);
	ws->close_sent = true;
	size_t flen = 0;
	bool was = ws->dispatching;
	ws->dispatching = true; /* do not read while saying goodbye */
	cleanup_free uint8_t *f = ws_mask_frame(ws, KC_WS_CLOSE, p, 2 + rl, &flen, err);
	int r = f ? ws_send_raw(ws, f, flen, err) : -1;
	ws->dispatching = was;
	return r;
}

void kc_ws_free(struct kc_ws *ws)
{
	if (!ws)
		return;
	kc_ws_conn_close(&ws->conn);
	kc_ws_decoder_free(&ws->dec);
	free(ws->protocol);
	free(ws->obuf);
	free(ws);
}

/* ---- handshake ---- */

static int b64(const uint8_t *in, size_t len, char *out /* 4*ceil(len/3)+1 */)
{
	return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

int kc_ws_accept_key(const char *key, char out[29], kc_err_t *err)
{
	cleanup_free char *cat = NULL;
	if (asprintf(&cat, "%s%s", key, WS_GUID) < 0)
		return kc_err_sys(err, ENOMEM, "websocket");
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(cat, strlen(cat), md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
		return kc_err_new(err, KC_E_GENERIC, "websocket: SHA-1 failed");
	b64(md, 20, out);
	return 0;
}

/* Value of header `name` in a raw header block, copied into a new string. */
static char *hdr_value(const char *block, const char *name)
{
	size_t nl = strlen(name);
	const char *p = strstr(block, "\r\n"); /* skip the status line */
	while (p && p[2] != '\r' && p[2] != '\0') {
		p += 2;
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			break;
		if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *e = eol;
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			return strndup(v, (size_t)(e - v));
		}
		p = eol;
	}
	return NULL;
}

static bool has_token(const char *list, const char *tok)
{
	size_t tl = strlen(tok);
	for (const char *p = list; p && *p;) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *te = e;
		while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if ((size_t)(te - p) == tl && !strncasecmp(p, tok, tl))
			return true;
		p = e;
	}
	return false;
}

static bool header_ok(const char *h)
{
	return h && !strpbrk(h, "\r\n") && strchr(h, ':');
}

static int send_request(struct kc_ws *ws, const struct kc_ws_config *cfg, const char *key,
			kc_err_t *err)
{
	size_t cap = 1024 + strlen(ws->conn.target) + strlen(ws->conn.host);
	for (const char *const *h = cfg->headers; h && *h; h++)
		cap += strlen(*h) + 2;
	for (const char *const *p = cfg->protocols; p && *p; p++)
		cap += strlen(*p) + 2;
	cleanup_free char *req = malloc(cap);
	if (!req)
		return kc_err_sys(err, ENOMEM, "websocket");
	size_t n = (size_t)snprintf(req, cap,
				    "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kctl/%s\r\n"
				    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
				    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
				    ws->conn.target, ws->conn.host, KCTL_VERSION, key);
	if (cfg->protocols && cfg->protocols[0]) {
		n += (size_t)snprintf(req + n, cap - n, "Sec-WebSocket-Protocol: ");
		for (const char *const *p = cfg->protocols; *p; p++) {
			if (strpbrk(*p, "\r\n, "))
				return kc_err_new(err, KC_E_INVALID, "websocket: bad subprotocol");
			n += (size_t)snprintf(req + n, cap - n, "%s%s",
					      p == cfg->protocols ? "" : ", ", *p);
		}
		n += (size_t)snprintf(req + n, cap - n, "\r\n");
	}
	for (const char *const *h = cfg->headers; h && *h; h++) {
		if (!header_ok(*h))
			return kc_err_new(err, KC_E_INVALID, "websocket: malformed request header");
		n += (size_t)snprintf(req + n, cap - n, "%s\r\n", *h);
	}
	n += (size_t)snprintf(req + n, cap - n, "\r\n");
	return ws_send_raw(ws, (uint8_t *)req, n, err);
}

/* The answer to a refused upgrade: the Status message when there is one. */
static int refused(struct kc_ws *ws, long status, const char *block, const char *body,
		   size_t body_len, kc_err_t *err)
{
	(void)ws;
	(void)block;
	cleanup_json yajl_val j = NULL;
	const char *msg = NULL;
	kc_err_t perr = NULL;
	if (body_len && kc_json_parse(body, body_len, &j, &perr) == 0) {
		yajl_val m = kc_json_find(j, "/message");
		msg = m && YAJL_IS_STRING(m) ? m->u.string : NULL;
	}
	kc_err_free(&perr);
	enum kc_err_kind kind = status == 401 || status == 403 ? KC_E_AUTH
				: status == 404		       ? KC_E_NOTFOUND
				: status == 400		       ? KC_E_INVALID
							       : KC_E_REMOTE;
	kc_err_new(err, kind, "websocket upgrade refused: HTTP %ld%s%s", status, msg ? ": " : "",
		   msg ? msg : "");
	(*err)->http_status = (int)status;
	return -1;
}

/* The upgrade answer as it comes in: the same pieces serve the blocking
 * handshake and the non-blocking one of kc_k8s_exec_many. */
struct ws_hs {
	char want[29]; /* expected Sec-WebSocket-Accept */
	char *buf;
	size_t have, hend, cap;
	long body_want;
	bool done; /* the answer is complete (or cannot grow) */
};

static void hs_free(struct ws_hs *h)
{
	free(h->buf);
	h->buf = NULL;
}

/* Makes a key and sends (or, non-blocking, queues) the upgrade request. */
static int hs_begin(struct kc_ws *ws, const struct kc_ws_config *cfg, struct ws_hs *h,
		    kc_err_t *err)
{
	memset(h, 0, sizeof *h);
	h->cap = WS_MAX_HANDSHAKE;
	h->body_want = -1;
	uint8_t raw[16];
	char key[25];
	if (RAND_bytes(raw, sizeof raw) != 1)
		return kc_err_new(err, KC_E_GENERIC, "websocket: no random bytes for the key");
	b64(raw, sizeof raw, key);
	if (kc_ws_accept_key(key, h->want, err) < 0)
		return -1;
	h->buf = malloc(WS_MAX_HANDSHAKE + WS_MAX_ERROR_BODY + 1);
	if (!h->buf)
		return kc_err_sys(err, ENOMEM, "websocket");
	if (send_request(ws, cfg, key, err) < 0)
		return kc_err_wrap(err, "websocket: sending the upgrade request");
	return 0;
}

/* Reads what is there of the answer without waiting; sets h->done once the
 * headers of a 101, or a refusal with its body, are in. */
static int hs_read(struct kc_ws *ws, struct ws_hs *h, kc_err_t *err)
{
	while (!h->done) {
		/* Reading a refusal's body: stop at Content-Length or EOF. */
		if ((h->hend && h->body_want >= 0 && h->have - h->hend >= (size_t)h->body_want) ||
		    h->have == h->cap) {
			h->done = true;
			break;
		}
		size_t n = 0;
		CURLcode rc = curl_easy_recv(ws->conn.curl, h->buf + h->have, h->cap - h->have, &n);
		if (rc == CURLE_AGAIN)
			return 0;
		if (rc != CURLE_OK)
			return kc_err_new(err, KC_E_IO, "websocket: reading the upgrade answer: %s",
					  curl_easy_strerror(rc));
		if (n == 0) {
			h->done = true;
			break;
		}
		h->have += n;
		h->buf[h->have] = '\0';
		if (h->hend)
			continue;
		char *e = memmem(h->buf, h->have, "\r\n\r\n", 4);
		if (!e)
			continue;
		h->hend = (size_t)(e - h->buf) + 4;
		long status = 0;
		if (sscanf(h->buf, "HTTP/1.%*d %ld", &status) != 1)
			return kc_err_new(err, KC_E_PROTO, "websocket: not an HTTP answer");
		if (status == 101) {
			h->done = true;
			break;
		}
		cleanup_free char *cl = hdr_value(h->buf, "Content-Length");
		h->body_want = cl ? strtol(cl, NULL, 10) : -1;
		if (h->body_want > (long)WS_MAX_ERROR_BODY)
			h->body_want = WS_MAX_ERROR_BODY;
		h->cap = h->hend + WS_MAX_ERROR_BODY;
	}
	return 0;
}

/* Checks a complete answer: refusal, accept key, subprotocol; frames that came
 * with it are dispatched. */
static int hs_finish(struct kc_ws *ws, const struct kc_ws_config *cfg, struct ws_hs *h,
		     kc_err_t *err)
{
	char *buf = h->buf;
	size_t have = h->have, hend = h->hend;
	buf[have] = '\0';
	if (!hend)
		return kc_err_new(err, have == h->cap ? KC_E_TOOBIG : KC_E_PROTO,
				  "websocket: incomplete upgrade answer");
	long status = 0;
	sscanf(buf, "HTTP/1.%*d %ld", &status);
	char saved = buf[hend];
	buf[hend] = '\0';
	if (status != 101) {
		buf[hend] = saved;
		return refused(ws, status, buf, buf + hend, have - hend, err);
	}
	cleanup_free char *upgrade = hdr_value(buf, "Upgrade");
	cleanup_free char *conn = hdr_value(buf, "Connection");
	cleanup_free char *accept = hdr_value(buf, "Sec-WebSocket-Accept");
	cleanup_free char *proto = hdr_value(buf, "Sec-WebSocket-Protocol");
	cleanup_free char *ext = hdr_value(buf, "Sec-WebSocket-Extensions");
	buf[hend] = saved;
	if (!upgrade || strcasecmp(upgrade, "websocket") != 0 || !conn ||
	    !has_token(conn, "upgrade"))
		return kc_err_new(err, KC_E_PROTO, "websocket: 101 without a websocket upgrade");
	if (!accept || strcmp(accept, h->want) != 0)
		return kc_err_new(err, KC_E_PROTO, "websocket: wrong Sec-WebSocket-Accept");
	if (ext && *ext)
		return kc_err_new(err, KC_E_PROTO,
				  "websocket: server chose an unrequested extension");
	if (proto && *proto) {
		bool offered = false;
		for (const char *const *p = cfg->protocols; p && *p; p++)
			offered = offered || !strcmp(*p, proto);
		if (!offered)
			return kc_err_new(err, KC_E_PROTO,
					  "websocket: server chose unoffered subprotocol '%s'",
					  proto);
		ws->protocol = kc_steal(proto);
	}
	/* Frames may have come with the answer. */
	if (have > hend && ws_feed(ws, (uint8_t *)buf + hend, have - hend, err) < 0)
		return -1;
	return 0;
}

static int handshake(struct kc_ws *ws, const struct kc_ws_config *cfg, long deadline, kc_err_t *err)
{
	struct ws_hs h;
	int r = hs_begin(ws, cfg, &h, err);
	while (r == 0) {
		r = hs_read(ws, &h, err);
		if (r < 0 || h.done)
			break;
		long left = deadline < 0 ? -1 : deadline - now_ms();
		if (deadline >= 0 && left <= 0) {
			r = kc_err_new(err, KC_E_TIMEOUT, "websocket: no upgrade answer");
			break;
		}
		short rev = 0;
		r = ws_wait(ws, POLLIN, left, &rev, err);
	}
	if (r == 0)
		r = hs_finish(ws, cfg, &h, err);
	hs_free(&h);
	return r;
}

static struct kc_ws *ws_new(const struct kc_ws_config *cfg, kc_ws_message_cb on_message,
			    void *opaque, kc_err_t *err)
{
	struct kc_ws *ws = calloc(1, sizeof *ws);
	if (!ws) {
		kc_err_sys(err, ENOMEM, "websocket");
		return NULL;
	}
	ws->on_message = on_message;
	ws->opaque = opaque;
	long t = cfg->http->timeout_ms;
	ws->io_timeout_ms = t == 0 ? 60000 : t;
	ws->conn.fd = CURL_SOCKET_BAD;
	kc_ws_decoder_init(&ws->dec, cfg->max_frame, cfg->max_message, KC_WS_MASK_FORBID);
	return ws;
}

int kc_ws_connect(const struct kc_ws_config *cfg, const char *path, kc_ws_message_cb on_message,
		  void *opaque, struct kc_ws **out, kc_err_t *err)
{
	struct kc_ws *ws = ws_new(cfg, on_message, opaque, err);
	if (!ws)
		return -1;
	if (kc_ws_conn_open(cfg->http, path, &ws->conn, err) < 0) {
		kc_ws_free(ws);
		return -1;
	}
	long deadline = ws->io_timeout_ms < 0 ? -1 : now_ms() + ws->io_timeout_ms;
	if (handshake(ws, cfg, deadline, err) < 0) {
		kc_ws_free(ws);
		return kc_err_wrap(err, "websocket %s", path);
	}
	*out = ws;
	return 0;
}

/* ---- Kubernetes exec ---- */

int kc_k8s_status_exit_code(const uint8_t *json, size_t len, int *exit_code, kc_err_t *err)
{
	cleanup_json yajl_val j = NULL;
	if (kc_json_parse((const char *)json, len, &j, err) < 0)
		return kc_err_wrap(err, "exec: error channel");
	const char *status = NULL, *reason = NULL, *message = NULL;
	if (kc_json_get_str(j, "/status", &status, err) < 0 ||
	    kc_json_opt_str(j, "/reason", &reason, err) < 0 ||
	    kc_json_opt_str(j, "/message", &message, err) < 0)
		return kc_err_wrap(err, "exec: error channel status");
	if (!strcmp(status, "Success")) {
		*exit_code = 0;
		return 0;
	}
	if (reason && !strcmp(reason, "NonZeroExitCode")) {
		yajl_val causes = kc_json_find(j, "/details/causes");
		for (size_t i = 0; causes && YAJL_IS_ARRAY(causes) && i < causes->u.array.len;
		     i++) {
			yajl_val c = causes->u.array.values[i];
			yajl_val r = kc_json_member(c, "reason"), m = kc_json_member(c, "message");
			if (r && YAJL_IS_STRING(r) && !strcmp(r->u.string, "ExitCode") && m &&
			    YAJL_IS_STRING(m)) {
				char *end = NULL;
				long code = strtol(m->u.string, &end, 10);
				if (end && !*end && code >= 0 && code <= 255) {
					*exit_code = (int)code;
					return 0;
				}
			}
		}
		return kc_err_new(err, KC_E_PROTO,
				  "exec: NonZeroExitCode without an ExitCode cause");
	}
	return kc_err_new(err, KC_E_REMOTE, "exec failed: %s", message ? message : status);
}

char *kc_k8s_exec_path(const char *ns, const char *pod, const char *container,
		       const char *const *argv, bool with_stdin)
{
	cleanup_free char *ens = kc_http_escape(ns), *epod = kc_http_escape(pod);
	if (!ens || !epod)
		return NULL;
	size_t cap = 128 + strlen(ens) + strlen(epod);
	cleanup_free char *ec = container ? kc_http_escape(container) : NULL;
	if (container && !ec)
		return NULL;
	if (ec)
		cap += 11 + strlen(ec);
	/* Escaping at most triples a byte. */
	for (const char *const *a = argv; a && *a; a++)
		cap += 9 + 3 * strlen(*a);
	char *p = malloc(cap);
	if (!p)
		return NULL;
	size_t n = (size_t)snprintf(p, cap, "/api/v1/namespaces/%s/pods/%s/exec?", ens, epod);
	if (ec)
		n += (size_t)snprintf(p + n, cap - n, "container=%s&", ec);
	for (const char *const *a = argv; a && *a; a++) {
		char *e = kc_http_escape(*a);
		if (!e) {
			free(p);
			return NULL;
		}
		n += (size_t)snprintf(p + n, cap - n, "command=%s&", e);
		free(e);
	}
	snprintf(p + n, cap - n, "%sstdout=true&stderr=true", with_stdin ? "stdin=true&" : "");
	return p;
}

struct exec_state {
	const struct kc_k8s_exec_opts *o;
	struct kc_k8s_exec_result *res;
	size_t max, out_alloc, err_alloc;
	uint8_t *status;
	size_t status_len;
	bool got_status, too_big;
	size_t stdin_off; /* how much of stdin_data was sent */
	bool stdin_done;  /* all of it, and (v5) the close-stdin message */
};

static int append(char **buf, size_t *len, size_t *alloc, const uint8_t *d, size_t n, size_t max,
		  bool *too_big)
{
	if (n > max - *len) {
		*too_big = true;
		return 0; /* keep draining; reported at the end */
	}
	if (*len + n + 1 > *alloc) {
		size_t na = *alloc ? *alloc : 4096;
		while (na < *len + n + 1)
			na *= 2;
		char *nb = realloc(*buf, na);
		if (!nb)
			return -1;
		*buf = nb;
		*alloc = na;
	}
	memcpy(*buf + *len, d, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int to_sink(kc_http_sink sink, void *opaque, const uint8_t *p, size_t n, const char *what,
		   kc_err_t *err)
{
	if (n && sink(opaque, (const char *)p, n) != 0)
		return kc_err_new(err, KC_E_GENERIC, "exec: %s receiver stopped the stream", what);
	return 0;
}

static int exec_on_message(void *opaque, enum kc_ws_opcode op, const uint8_t *data, size_t len,
			   kc_err_t *err)
{
	struct exec_state *st = opaque;
	struct kc_k8s_exec_result *r = st->res;
	if (op != KC_WS_BINARY)
		return kc_err_new(err, KC_E_PROTO,
				  "exec: text message on a binary channel protocol");
	if (len == 0)
		return 0;
	/* A message with only the channel byte is the server opening that channel. */
	const uint8_t *p = data + 1;
	size_t n = len - 1;
	int rc = 0;
	switch (data[0]) {
	case KC_K8S_CH_STDOUT:
		if (st->o->stdout_sink)
			return to_sink(st->o->stdout_sink, st->o->sink_opaque, p, n, "stdout", err);
		rc = append(&r->out, &r->out_len, &st->out_alloc, p, n, st->max, &st->too_big);
		break;
	case KC_K8S_CH_STDERR:
		if (st->o->stderr_sink)
			return to_sink(st->o->stderr_sink, st->o->sink_opaque, p, n, "stderr", err);
		rc = append(&r->err, &r->err_len, &st->err_alloc, p, n, st->max, &st->too_big);
		break;
	case KC_K8S_CH_ERROR:
		if (n == 0)
			break;
		if (n > K8S_MAX_STATUS - st->status_len)
			return kc_err_new(err, KC_E_TOOBIG, "exec: status larger than %u bytes",
					  K8S_MAX_STATUS);
		{
			uint8_t *ns = realloc(st->status, st->status_len + n);
			if (!ns)
				return kc_err_sys(err, ENOMEM, "exec");
			st->status = ns;
			memcpy(st->status + st->status_len, p, n);
			st->status_len += n;
			st->got_status = true;
		}
		break;
	default:
		break; /* v5 close signals and unknown channels carry nothing for us */
	}
	if (rc < 0)
		return kc_err_sys(err, ENOMEM, "exec");
	return 0;
}

/* Sends the next piece of stdin: a chunk of the data, then (v5) the message
 * that closes stdin; st->stdin_done once nothing is left. */
static int exec_stdin_step(struct exec_state *st, struct kc_ws *ws, bool v5, kc_err_t *err)
{
	const struct kc_k8s_exec_opts *o = st->o;
	if (st->stdin_off < o->stdin_len) {
		size_t n = o->stdin_len - st->stdin_off;
		if (n > K8S_STDIN_CHUNK)
			n = K8S_STDIN_CHUNK;
		cleanup_free uint8_t *m = malloc(n + 1);
		if (!m)
			return kc_err_sys(err, ENOMEM, "exec");
		m[0] = KC_K8S_CH_STDIN;
		memcpy(m + 1, (const uint8_t *)o->stdin_data + st->stdin_off, n);
		if (kc_ws_send(ws, KC_WS_BINARY, m, n + 1, err) < 0)
			return kc_err_wrap(err, "exec: sending stdin");
		st->stdin_off += n;
		return 0;
	}
	st->stdin_done = true;
	if (v5) {
		uint8_t close_stdin[2] = {KC_K8S_CH_CLOSE, KC_K8S_CH_STDIN};
		if (kc_ws_send(ws, KC_WS_BINARY, close_stdin, 2, err) < 0)
			return kc_err_wrap(err, "exec: closing stdin");
	}
	return 0;
}

/* Connection settings of one exec: its timeout caps the I/O timeout. */
static void exec_setup(const struct kc_k8s_exec_opts *o, struct kc_http_config *http,
		       struct kc_ws_config *wc, long *total, long *deadline)
{
	static const char *const dflt[] = {KC_K8S_PROTO_V5, KC_K8S_PROTO_V4, NULL};
	*http = *o->http;
	*total = o->timeout_ms ? o->timeout_ms : 300000;
	*deadline = *total < 0 ? -1 : now_ms() + *total;
	if (*total > 0 && (http->timeout_ms == 0 || http->timeout_ms > *total))
		http->timeout_ms = *total;
	*wc = (struct kc_ws_config){
	    .http = http,
	    .headers = o->headers,
	    .protocols = o->protocols ? o->protocols : dflt,
	    .max_frame = KC_WS_DEFAULT_MAX_FRAME,
	    .max_message = KC_WS_DEFAULT_MAX_MESSAGE,
	};
}

/* After the upgrade: a channel protocol kctl speaks, recorded in the result. */
static int exec_negotiated(struct exec_state *st, struct kc_ws *ws, bool *v5, kc_err_t *err)
{
	const char *proto = kc_ws_protocol(ws);
	*v5 = proto && !strcmp(proto, KC_K8S_PROTO_V5);
	if (!*v5 && !(proto && !strcmp(proto, KC_K8S_PROTO_V4)))
		return kc_err_new(err, KC_E_UNSUPPORTED,
				  "exec: server speaks no channel protocol kctl knows (got '%s')",
				  proto ? proto : "none");
	st->res->protocol = strdup(proto);
	if (!st->res->protocol)
		return kc_err_sys(err, ENOMEM, "exec");
	return 0;
}

/* The stream has closed: the exit status, or why there is none. */
static int exec_outcome(struct exec_state *st, kc_err_t *err)
{
	if (st->too_big)
		return kc_err_new(err, KC_E_TOOBIG, "exec: output larger than %zu bytes", st->max);
	if (!st->got_status)
		return kc_err_new(err, KC_E_PROTO, "exec: stream ended without a status");
	return kc_k8s_status_exit_code(st->status, st->status_len, &st->res->exit_code, err);
}

static int exec_timed_out(long total, kc_err_t *err)
{
	return kc_err_new(err, KC_E_TIMEOUT, "exec: no end after %ld ms", total);
}

/* A stream given up before its end still says goodbye (best effort). */
static void exec_goodbye(struct kc_ws *ws)
{
	if (ws && !kc_ws_closed(ws)) {
		kc_err_t ignore = NULL;
		kc_ws_close(ws, KC_WS_CLOSE_NORMAL, NULL, &ignore);
		kc_err_free(&ignore);
	}
}

/* Final shape of the result: "" for empty streams; freed (exit code kept) on failure. */
static int exec_result_done(struct exec_state *st, int r, kc_err_t *err)
{
	struct kc_k8s_exec_result *res = st->res;
	free(st->status);
	st->status = NULL;
	if (r == 0 && (!res->out || !res->err)) {
		if (!res->out)
			res->out = strdup("");
		if (!res->err)
			res->err = strdup("");
		if (!res->out || !res->err)
			r = kc_err_sys(err, ENOMEM, "exec");
	}
	if (r < 0) {
		int keep = res->exit_code;
		kc_k8s_exec_result_free(res);
		res->exit_code = keep;
		return -1;
	}
	return 0;
}

static int exec_run(const struct kc_k8s_exec_opts *o, struct exec_state *st, struct kc_ws **wsp,
		    kc_err_t *err)
{
	struct kc_http_config http;
	struct kc_ws_config wc;
	long total, deadline;
	exec_setup(o, &http, &wc, &total, &deadline);
	if (kc_ws_connect(&wc, o->path, exec_on_message, st, wsp, err) < 0)
		return -1;
	struct kc_ws *ws = *wsp;
	bool v5 = false;
	if (exec_negotiated(st, ws, &v5, err) < 0)
		return -1;
	while (o->stdin_data && !st->stdin_done && !kc_ws_closed(ws))
		if (exec_stdin_step(st, ws, v5, err) < 0)
			return -1;
	while (!kc_ws_closed(ws)) {
		long left = deadline < 0 ? -1 : deadline - now_ms();
		if (deadline >= 0 && left <= 0)
			return exec_timed_out(total, err);
		if (kc_ws_pump(ws, left, err) < 0)
			return kc_err_wrap(err, "exec stream");
	}
	return exec_outcome(st, err);
}

static void exec_state_init(struct exec_state *st, const struct kc_k8s_exec_opts *o,
			    struct kc_k8s_exec_result *res)
{
	memset(res, 0, sizeof *res);
	res->exit_code = -1;
	*st = (struct exec_state){
	    .o = o, .res = res, .max = o->max_output ? o->max_output : (64u << 20)};
}

int kc_k8s_exec(const struct kc_k8s_exec_opts *o, struct kc_k8s_exec_result *res, kc_err_t *err)
{
	struct exec_state st;
	exec_state_init(&st, o, res);
	if (!o->http || !o->path)
		return kc_err_new(err, KC_E_INVALID, "exec: no connection settings or path");
	struct kc_ws *ws = NULL;
	int r = exec_run(o, &st, &ws, err);
	exec_goodbye(ws);
	kc_ws_free(ws);
	return exec_result_done(&st, r, err);
}

void kc_k8s_exec_result_free(struct kc_k8s_exec_result *res)
{
	free(res->out);
	free(res->err);
	free(res->protocol);
	memset(res, 0, sizeof *res);
	res->exit_code = -1;
}

/* ---- many execs in one thread (curl multi) ---- */

enum xs_state { XS_WAITING = 0, XS_CONNECTING, XS_UPGRADING, XS_STREAMING, XS_DONE };

/* One exec of kc_k8s_exec_many: the steps of kc_k8s_exec, each taken when its
 * socket is ready instead of by waiting on it. */
struct exec_session {
	enum xs_state state;
	struct exec_state st;
	kc_err_t *err;
	struct kc_http_config http;
	struct kc_ws_config wc;
	struct kc_ws *ws;
	struct ws_hs hs;
	long total, deadline, hs_deadline;
	bool v5, in_multi;
};

static int xs_end(struct exec_session *x, CURLM *m, int r)
{
	exec_goodbye(x->ws);
	/* Removing a CONNECT_ONLY handle from its multi closes its connection. */
	if (x->in_multi)
		curl_multi_remove_handle(m, x->ws->conn.curl);
	x->in_multi = false;
	kc_ws_free(x->ws);
	x->ws = NULL;
	hs_free(&x->hs);
	r = exec_result_done(&x->st, r, x->err);
	x->state = XS_DONE;
	return r;
}

static int xs_start(struct exec_session *x, CURLM *m, const struct kc_k8s_exec_opts *o,
		    struct kc_k8s_exec_result *res, kc_err_t *err)
{
	x->err = err;
	exec_state_init(&x->st, o, res);
	if (!o->http || !o->path)
		return xs_end(
		    x, m, kc_err_new(err, KC_E_INVALID, "exec: no connection settings or path"));
	exec_setup(o, &x->http, &x->wc, &x->total, &x->deadline);
	x->ws = ws_new(&x->wc, exec_on_message, &x->st, err);
	if (!x->ws)
		return xs_end(x, m, -1);
	x->ws->async = true;
	if (kc_ws_conn_prepare(&x->http, o->path, &x->ws->conn, err) < 0)
		return xs_end(x, m, -1);
	curl_easy_setopt(x->ws->conn.curl, CURLOPT_PRIVATE, (char *)x);
	if (curl_multi_add_handle(m, x->ws->conn.curl) != CURLM_OK)
		return xs_end(x, m,
			      kc_err_new(err, KC_E_GENERIC, "exec: curl multi refused a handle"));
	x->in_multi = true;
	x->state = XS_CONNECTING;
	return 0;
}

/* TCP (and TLS) are up, or failed: send the upgrade request at once (from the
 * first curl_easy_send on, the connection belongs to this handle). */
static int xs_connected(struct exec_session *x, CURLM *m, CURLcode rc)
{
	if (kc_ws_conn_done(&x->ws->conn, rc, x->err) < 0)
		return xs_end(x, m, -1);
	if (hs_begin(x->ws, &x->wc, &x->hs, x->err) < 0) {
		kc_err_wrap(x->err, "websocket %s", x->st.o->path);
		return xs_end(x, m, -1);
	}
	long io = x->ws->io_timeout_ms;
	x->hs_deadline = io < 0 ? -1 : now_ms() + io;
	x->state = XS_UPGRADING;
	return 0;
}

static bool past(long deadline, long now)
{
	return deadline >= 0 && now >= deadline;
}

/* Everything the socket allows now, without waiting. */
static int xs_step(struct exec_session *x, CURLM *m)
{
	struct kc_ws *ws = x->ws;
	kc_err_t *err = x->err;
	long now = now_ms();
	if (ws_out_pending(ws) && ws->io_timeout_ms >= 0 &&
	    now - ws->stall_since >= ws->io_timeout_ms)
		return xs_end(x, m,
			      kc_err_new(err, KC_E_TIMEOUT, "websocket: peer stopped reading"));
	if (x->state == XS_UPGRADING) {
		int r = ws_out_flush(ws, err);
		if (r == 0)
			r = hs_read(ws, &x->hs, err);
		if (r == 0 && !x->hs.done) {
			if (!past(x->hs_deadline, now) && !past(x->deadline, now))
				return 0;
			r = kc_err_new(err, KC_E_TIMEOUT, "websocket: no upgrade answer");
		}
		if (r == 0)
			r = hs_finish(ws, &x->wc, &x->hs, err);
		hs_free(&x->hs);
		if (r < 0) {
			kc_err_wrap(err, "websocket %s", x->st.o->path);
			return xs_end(x, m, -1);
		}
		if (exec_negotiated(&x->st, ws, &x->v5, err) < 0)
			return xs_end(x, m, -1);
		x->state = XS_STREAMING;
	}
	int r = ws_out_flush(ws, err);
	/* stdin goes one chunk at a time, only once the previous one is out. */
	while (r == 0 && x->st.o->stdin_data && !x->st.stdin_done && !ws_out_pending(ws) &&
	       !kc_ws_closed(ws))
		r = exec_stdin_step(&x->st, ws, x->v5, err);
	if (r < 0)
		return xs_end(x, m, -1);
	bool got = false;
	if (ws_read_some(ws, &got, err) < 0)
		return xs_end(x, m, kc_err_wrap(err, "exec stream"));
	if (kc_ws_closed(ws))
		return xs_end(x, m, exec_outcome(&x->st, err));
	if (past(x->deadline, now_ms()))
		return xs_end(x, m, exec_timed_out(x->total, err));
	return 0;
}

int kc_k8s_exec_many(const struct kc_k8s_exec_opts *opts, size_t n, size_t parallel,
		     struct kc_k8s_exec_result *res, kc_err_t *errs, kc_err_t *err)
{
	for (size_t i = 0; i < n; i++) {
		memset(&res[i], 0, sizeof res[i]);
		res[i].exit_code = -1;
	}
	if (n == 0)
		return 0;
	if (parallel == 0 || parallel > n)
		parallel = n;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return kc_err_new(err, KC_E_GENERIC, "exec: libcurl initialisation failed");
	cleanup_free struct exec_session *xs = calloc(n, sizeof *xs);
	cleanup_free struct curl_waitfd *wfd = calloc(parallel, sizeof *wfd);
	CURLM *m = curl_multi_init();
	if (!xs || !wfd || !m) {
		if (m)
			curl_multi_cleanup(m);
		return kc_err_sys(err, ENOMEM, "exec");
	}
	size_t next = 0, active = 0, done = 0;
	while (done < n) {
		while (active < parallel && next < n) {
			xs_start(&xs[next], m, &opts[next], &res[next], &errs[next]);
			active += xs[next].state != XS_DONE;
			next++;
		}
		int running = 0;
		CURLMcode mc = curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left = 0;
		while ((msg = curl_multi_info_read(m, &left))) {
			struct exec_session *x = NULL;
			if (msg->msg != CURLMSG_DONE ||
			    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x) !=
				CURLE_OK ||
			    !x || x->state != XS_CONNECTING)
				continue;
			xs_connected(x, m, msg->data.result);
		}
		size_t nw = 0;
		long wait = 1000, now = now_ms();
		active = done = 0;
		for (size_t i = 0; i < next; i++) {
			struct exec_session *x = &xs[i];
			if (x->state == XS_CONNECTING && mc != CURLM_OK)
				xs_end(x, m,
				       kc_err_new(x->err, KC_E_GENERIC, "exec: curl multi: %s",
						  curl_multi_strerror(mc)));
			else if (x->state == XS_CONNECTING && past(x->deadline, now))
				xs_end(x, m, exec_timed_out(x->total, x->err));
			else if (x->state == XS_UPGRADING || x->state == XS_STREAMING)
				xs_step(x, m);
			if (x->state == XS_DONE) {
				done++;
				continue;
			}
			active++;
			long dl = x->state == XS_UPGRADING && x->hs_deadline >= 0 &&
					  (x->deadline < 0 || x->hs_deadline < x->deadline)
				      ? x->hs_deadline
				      : x->deadline;
			if (dl >= 0 && dl - now < wait)
				wait = dl - now < 0 ? 0 : dl - now;
			if (x->state == XS_CONNECTING)
				continue; /* curl waits on that socket itself */
			wfd[nw++] = (struct curl_waitfd){
			    .fd = x->ws->conn.fd,
			    .events =
				CURL_WAIT_POLLIN | (ws_out_pending(x->ws) ? CURL_WAIT_POLLOUT : 0)};
		}
		if (done == n)
			break;
		if (active < parallel && next < n)
			continue; /* a slot is free: start the next exec first */
		curl_multi_poll(m, wfd, (unsigned)nw, (int)wait, NULL);
	}
	curl_multi_cleanup(m);
	size_t failed = 0;
	for (size_t i = 0; i < n; i++)
		failed += errs[i] != NULL;
	return (int)failed;
}
