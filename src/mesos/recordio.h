/*
 * recordio: the framing of the Mesos v1 scheduler event stream (and of
 * any streamed v1 response): each record is "<decimal length>\n<bytes>".
 *
 * The parser is incremental: bytes arrive in whatever chunks HTTP delivers
 * them (a chunk may end inside the length, right after it, or inside the
 * record) and each complete record is handed to a callback. A record that
 * lies whole inside one fed chunk is passed in place, without copying;
 * only a record split across chunks is assembled in the parser's buffer.
 *
 * Refused, with a message, after which the parser stays failed (the
 * caller drops the connection and resubscribes): a length that is empty,
 * has a non-digit or a leading zero, more than 19 digits, or exceeds
 * max_record; nothing is
 * allocated for a record before its length has been checked.
 */
#ifndef RECORDIO_H
#define RECORDIO_H

#include <stddef.h>
#include <stdint.h>

struct recordio;

/* max_record: largest record accepted; 0 = 64 MiB. NULL on ENOMEM. */
struct recordio *recordio_new(size_t max_record);
void recordio_free(struct recordio *r);

/* Called per complete record; the bytes are borrowed for the call. Return
 * nonzero to stop feeding (recordio_feed then returns that value). */
typedef int (*recordio_record_f)(void *arg, const uint8_t *data, size_t len);

/*
 * Feeds `len` bytes. Returns 0 when all were consumed, the callback's
 * nonzero value when it stopped early, or -1 with *err set when the stream
 * is malformed (and every later call returns -1 too).
 */
int recordio_feed(struct recordio *r, const void *buf, size_t len, recordio_record_f fn, void *arg,
                  const char **err);

/* True when no partial record is pending (a clean place for EOF). */
int recordio_idle(const struct recordio *r);

/* Writes the "<len>\n" header for a record of `len` bytes; returns its size. */
size_t recordio_header(size_t len, char out[24]);

#endif
