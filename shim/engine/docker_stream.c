/* Decoders of Docker's multiplexed and JSON-message streams: see docker_stream.h. */
#include "docker_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shim/base/json.h"

void kc_mux_init(struct kc_mux_decoder *d, size_t max_frame, kc_mux_cb cb, void *opaque)
{
	memset(d, 0, sizeof *d);
	d->cb = cb;
	d->opaque = opaque;
	d->max_frame = max_frame ? max_frame : KC_MUX_DEFAULT_MAX_FRAME;
}

static int mux_fail(struct kc_mux_decoder *d, int rc)
{
	d->failed = 1;
	return rc;
}

int kc_mux_feed(struct kc_mux_decoder *d, const void *data, size_t len, kc_err_t *err)
{
	const unsigned char *p = data;
	if (d->failed)
		return kc_err_new(err, KC_E_PROTO, "multiplexed stream: fed after an error");
	while (len > 0) {
		if (d->remaining == 0) {
			size_t take = sizeof d->hdr - d->hdr_len;
			if (take > len)
				take = len;
			memcpy(d->hdr + d->hdr_len, p, take);
			d->hdr_len += take;
			p += take;
			len -= take;
			if (d->hdr_len < sizeof d->hdr)
				break;
			d->hdr_len = 0;
			if (d->hdr[0] > KC_MUX_SYSERR || d->hdr[1] || d->hdr[2] || d->hdr[3])
				return mux_fail(
				    d, kc_err_new(err, KC_E_PROTO,
						  "multiplexed stream: bad frame header "
						  "%02x %02x %02x %02x at frame %llu",
						  d->hdr[0], d->hdr[1], d->hdr[2], d->hdr[3],
						  (unsigned long long)d->frames));
			uint32_t size = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 |
					(uint32_t)d->hdr[6] << 8 | (uint32_t)d->hdr[7];
			if (size > d->max_frame)
				return mux_fail(d,
						kc_err_new(err, KC_E_TOOBIG,
							   "multiplexed stream: frame of %u bytes "
							   "exceeds the %zu byte limit",
							   size, d->max_frame));
			d->cur = (enum kc_mux_stream)d->hdr[0];
			d->remaining = size;
			d->frames++;
			continue;
		}
		size_t take = d->remaining < len ? d->remaining : len;
		if (d->cb && d->cb(d->opaque, d->cur, (const char *)p, take) != 0)
			return mux_fail(d, kc_err_new(err, KC_E_GENERIC,
						      "multiplexed stream: stopped by receiver"));
		d->remaining -= (uint32_t)take;
		p += take;
		len -= take;
	}
	return 0;
}

int kc_mux_finish(struct kc_mux_decoder *d, kc_err_t *err)
{
	if (d->failed)
		return kc_err_new(err, KC_E_PROTO, "multiplexed stream: finished after an error");
	if (d->hdr_len)
		return kc_err_new(err, KC_E_PROTO,
				  "multiplexed stream truncated: %zu of 8 header bytes",
				  d->hdr_len);
	if (d->remaining)
		return kc_err_new(err, KC_E_PROTO,
				  "multiplexed stream truncated: %u payload bytes missing",
				  d->remaining);
	return 0;
}

void kc_jsonl_init(struct kc_jsonl *j, size_t max_line, kc_jsonl_cb cb, void *opaque)
{
	memset(j, 0, sizeof *j);
	j->cb = cb;
	j->opaque = opaque;
	j->max_line = max_line ? max_line : KC_JSONL_DEFAULT_MAX_LINE;
}

static int jsonl_line(struct kc_jsonl *j, const char *line, size_t len, kc_err_t *err)
{
	while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	while (len && (*line == ' ' || *line == '\t' || *line == '\r')) {
		line++;
		len--;
	}
	if (!len)
		return 0;
	cleanup_json yajl_val v = NULL;
	if (kc_json_parse(line, len, &v, err) < 0)
		return kc_err_wrap(err, "message %llu of the engine's stream",
				   (unsigned long long)j->messages + 1);
	j->messages++;
	if (j->cb && j->cb(j->opaque, v, err) < 0)
		return -1;
	return 0;
}

int kc_jsonl_feed(struct kc_jsonl *j, const void *data, size_t len, kc_err_t *err)
{
	const char *p = data;
	if (j->failed)
		return kc_err_new(err, KC_E_PROTO, "JSON stream: fed after an error");
	while (len > 0) {
		const char *nl = memchr(p, '\n', len);
		size_t chunk = nl ? (size_t)(nl - p) : len;
		if (j->len + chunk > j->max_line) {
			j->failed = 1;
			return kc_err_new(err, KC_E_TOOBIG,
					  "JSON stream: message longer than %zu bytes",
					  j->max_line);
		}
		if (nl && j->len == 0) {
			/* Whole line in this chunk: no copy needed. */
			if (jsonl_line(j, p, chunk, err) < 0) {
				j->failed = 1;
				return -1;
			}
		} else {
			if (j->len + chunk > j->alloc) {
				size_t want = j->alloc ? j->alloc : 1024;
				while (want < j->len + chunk)
					want *= 2;
				char *nb = realloc(j->buf, want);
				if (!nb) {
					j->failed = 1;
					return kc_err_sys(err, ENOMEM, "JSON stream");
				}
				j->buf = nb;
				j->alloc = want;
			}
			memcpy(j->buf + j->len, p, chunk);
			j->len += chunk;
			if (nl) {
				size_t l = j->len;
				j->len = 0;
				if (jsonl_line(j, j->buf, l, err) < 0) {
					j->failed = 1;
					return -1;
				}
			}
		}
		if (!nl)
			break;
		p = nl + 1;
		len -= chunk + 1;
	}
	return 0;
}

int kc_jsonl_finish(struct kc_jsonl *j, kc_err_t *err)
{
	if (j->failed)
		return kc_err_new(err, KC_E_PROTO, "JSON stream: finished after an error");
	size_t l = j->len;
	j->len = 0;
	if (l && jsonl_line(j, j->buf, l, err) < 0) {
		j->failed = 1;
		return -1;
	}
	return 0;
}

void kc_jsonl_release(struct kc_jsonl *j)
{
	free(j->buf);
	j->buf = NULL;
	j->len = j->alloc = 0;
}
