/*
 * httpcli: one plain HTTP request with libcurl, for the few places that
 * are not RPC (the CLI's placement explain, the daemon's sandbox listing).
 */
#ifndef HTTPCLI_H
#define HTTPCLI_H

#include <stddef.h>

/*
 * GET `url` (body NULL) or POST `body` as application/json. On a completed
 * exchange returns 0 with *status and *out (the response body, malloc'd and
 * NUL-terminated; caller frees; *out_len may be NULL). Returns -1 with a
 * message in err when the server cannot be reached, the call times out or
 * the body exceeds max_bytes (*out is then NULL).
 */
int httpcli_do(const char *url, const char *body, long timeout_ms, size_t max_bytes, char **out,
               size_t *out_len, long *status, char *err, size_t errlen);

#endif
