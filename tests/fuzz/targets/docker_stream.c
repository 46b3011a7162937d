/* Fuzz target: Docker's multiplexed stream decoder and JSON-message line
 * splitter, fed in chunks whose sizes come from the input's first byte, so
 * frames split at arbitrary boundaries. */
#include <stddef.h>
#include <stdint.h>

#include "shim/engine/docker_stream.h"

static int count_cb(void *opaque, enum kc_mux_stream s, const char *data, size_t len)
{
	size_t *total = opaque;
	volatile char last = len ? data[len - 1] : 0; /* ASan checks the piece is readable */
	(void)last;
	(void)s;
	*total += len;
	return 0;
}

static int jl_cb(void *opaque, yajl_val v, kc_err_t *err)
{
	(void)err;
	(*(size_t *)opaque) += v ? 1 : 0;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 17 + 1;
	data++;
	size--;

	size_t total = 0;
	struct kc_mux_decoder d;
	kc_err_t err = NULL;
	kc_mux_init(&d, 4096, count_cb, &total);
	int rc = 0;
	for (size_t off = 0; off < size && rc == 0; off += step)
		rc = kc_mux_feed(&d, data + off, size - off < step ? size - off : step, &err);
	if (rc == 0)
		kc_mux_finish(&d, &err);
	kc_err_free(&err);
	/* Payload delivered never exceeds the input minus one header. */
	if (total > size)
		__builtin_trap();

	size_t msgs = 0;
	struct kc_jsonl jl;
	kc_jsonl_init(&jl, 4096, jl_cb, &msgs);
	rc = 0;
	for (size_t off = 0; off < size && rc == 0; off += step)
		rc = kc_jsonl_feed(&jl, data + off, size - off < step ? size - off : step, &err);
	if (rc == 0)
		kc_jsonl_finish(&jl, &err);
	kc_err_free(&err);
	kc_jsonl_release(&jl);
	return 0;
}
