/*
 * fuzz_recordio: arbitrary bytes through the RecordIO parser, fed in chunks
 * whose sizes come from the input itself. Whatever is accepted must be
 * exactly the input's prefix re-framed: the records handed out, each with
 * its "<len>\n" header, rebuild the consumed bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recordio.h"

struct rebuilt {
	uint8_t *buf;
	size_t len, cap;
};

static int append(void *arg, const uint8_t *data, size_t len)
{
	struct rebuilt *r = arg;
	char hdr[24];
	size_t hl = recordio_header(len, hdr);
	if (r->len + hl + len > r->cap)
		abort(); /* more out than went in */
	memcpy(r->buf + r->len, hdr, hl);
	memcpy(r->buf + r->len + hl, data, len);
	r->len += hl + len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 17 + 1; /* chunk size from the first byte */
	data++;
	size--;
	struct recordio *r = recordio_new(4096);
	struct rebuilt out = {malloc(size + 1), 0, size + 1};
	const char *err = NULL;
	size_t fed = 0;
	int rc = 0;
	while (fed < size && rc == 0) {
		size_t n = size - fed < step ? size - fed : step;
		rc = recordio_feed(r, data + fed, n, append, &out, &err);
		fed += n;
	}
	if (rc == 0) {
		/* everything fed: the rebuilt records are a prefix of the input,
		 * and what is missing is at most one pending record */
		if (out.len > size || memcmp(out.buf, data, out.len) != 0)
			abort();
		if (recordio_idle(r) && out.len != size)
			abort();
	} else if (err == NULL || out.len > size || memcmp(out.buf, data, out.len) != 0) {
		abort();
	}
	free(out.buf);
	recordio_free(r);
	return 0;
}
