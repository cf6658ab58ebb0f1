/* RecordIO framing; see recordio.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recordio.h"

#define MAX_DIGITS 19 /* fits in uint64_t */

enum state { ST_LENGTH, ST_BODY, ST_FAILED };

struct recordio {
	enum state st;
	size_t max_record;
	uint64_t want;    /* record length being read */
	unsigned digits;  /* digits of the length seen so far */
	uint8_t *buf;     /* partial record */
	size_t have, cap; /* bytes in buf, its size */
	const char *err;
};

struct recordio *recordio_new(size_t max_record)
{
	struct recordio *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->max_record = max_record ? max_record : 64u << 20;
	return r;
}

void recordio_free(struct recordio *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}

int recordio_idle(const struct recordio *r)
{
	return r->st == ST_LENGTH && r->digits == 0;
}

size_t recordio_header(size_t len, char out[24])
{
	return (size_t)snprintf(out, 24, "%zu\n", len);
}

static int fail(struct recordio *r, const char *why, const char **err)
{
	r->st = ST_FAILED;
	r->err = why;
	*err = why;
	return -1;
}

int recordio_feed(struct recordio *r, const void *data, size_t len, recordio_record_f fn, void *arg,
                  const char **err)
{
	const uint8_t *p = data, *end = p + len;

	*err = NULL;
	if (r->st == ST_FAILED) {
		*err = r->err;
		return -1;
	}
	while (p < end) {
		if (r->st == ST_LENGTH) {
			uint8_t c = *p++;
			if (c == '\n') {
				if (r->digits == 0)
					return fail(r, "recordio: empty record length", err);
				if (r->want > r->max_record)
					return fail(r, "recordio: record longer than the limit",
					            err);
				r->digits = 0;
				if (r->want == 0) { /* an empty record: complete already */
					int rc = fn(arg, p, 0);
					if (rc != 0)
						return rc;
					continue;
				}
				r->st = ST_BODY;
				r->have = 0;
				continue;
			} else if (c >= '0' && c <= '9') {
				if (r->digits == 1 && r->want == 0) /* Mesos writes no "01" */
					return fail(r, "recordio: leading zero in a record length",
					            err);
				if (++r->digits > MAX_DIGITS)
					return fail(
					    r, "recordio: record length has too many digits", err);
				r->want = r->want * 10 + (uint64_t)(c - '0');
				if (r->want > r->max_record)
					return fail(r, "recordio: record longer than the limit",
					            err);
				continue;
			} else {
				return fail(r, "recordio: non-digit in a record length", err);
			}
		}
		/* ST_BODY: r->want bytes, r->have of them buffered */
		size_t avail = (size_t)(end - p);
		size_t need = (size_t)r->want - r->have;
		int rc = 0;
		if (r->have == 0 && avail >= need) {
			rc = fn(arg, p, need); /* whole record in this chunk: in place */
			p += need;
		} else {
			if (r->cap < r->want) {
				uint8_t *nb = realloc(r->buf, r->want ? r->want : 1);
				if (nb == NULL)
					return fail(r, "recordio: out of memory", err);
				r->buf = nb;
				r->cap = r->want;
			}
			size_t take = avail < need ? avail : need;
			memcpy(r->buf + r->have, p, take);
			r->have += take;
			p += take;
			if (r->have < r->want)
				break;
			rc = fn(arg, r->buf, r->want);
		}
		r->st = ST_LENGTH;
		r->want = 0;
		r->have = 0;
		if (rc != 0)
			return rc;
	}
	return 0;
}
