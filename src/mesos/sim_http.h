/*
 * sim_http: the HTTP face of the simulated master (libmicrohttpd), as a
 * real master answers on 127.0.0.1:
 *   POST /api/v1/scheduler  (application/x-protobuf)
 *     SUBSCRIBE -> 200, Mesos-Stream-Id, a chunked RecordIO stream of Events
 *     other calls -> 202, or 400 / 403 with a text body saying why
 *   GET /health -> 200
 * JSON bodies are answered 415 for now (the simulator speaks protobuf).
 * A ticker thread drives sim_tick every 10 ms.
 */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "sim.h"

struct sim_http;

/* Serves s on 127.0.0.1:port (0: any free port). NULL with err on failure. */
struct sim_http *sim_http_start(struct sim *s, uint16_t port, char *err, size_t err_len);
uint16_t sim_http_port(const struct sim_http *h);

/* Drops the subscription stream (fault injection: the client must resubscribe). */
void sim_http_drop_stream(struct sim_http *h);

/* Closes every stream, stops serving and the ticker. NULL ok. */
void sim_http_stop(struct sim_http *h);

#endif
