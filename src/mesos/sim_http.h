/*
 * sim_http: the HTTP face of the simulated master (libmicrohttpd), as a
 * real master answers on 127.0.0.1:
 *   POST /api/v1/scheduler  (Content-Type application/x-protobuf or
 *                            application/json; Accept picks the events')
 *     SUBSCRIBE -> 200, Mesos-Stream-Id, a chunked RecordIO stream of Events
 *     other calls -> 202, or 400 / 403 with a text body saying why;
 *     415 for another Content-Type, 406 for an Accept it cannot give
 *   POST /api/v1            the operator API (mesos.v1.master.Call, see
 *                           sim_operator), same encodings
 *   GET /health -> 200
 *   GET /files/browse?path= a simulated agent's sandbox listing
 * and, for tests and demos (not a Mesos endpoint):
 *   POST /sim/fault?action=...  the faults of sim_http_fault
 *   GET /sim/stats              the simulator's counters as JSON
 * JSON follows Mesos's rendering: proto field names, enums by name.
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

/*
 * As a master started with --authenticate_http_frameworks and --credentials
 * PATH (Mesos's JSON: {"credentials": [{"principal": P, "secret": S}]}):
 * from now on every scheduler call must carry HTTP basic credentials of one
 * of them (else 401, realm "Mesos master"), and a SUBSCRIBE's
 * FrameworkInfo.principal must be the authenticated one (else 400; unset,
 * it is set to it). Call once, before the scheduler connects. 0, or -1
 * with err.
 */
int sim_http_auth(struct sim_http *h, const char *credentials_path, char *err, size_t errlen);

/* Drops the subscription stream (fault injection: the client must resubscribe). */
void sim_http_drop_stream(struct sim_http *h);

/*
 * Faults on command (also POST /sim/fault?action=A&agent=|to=|secs=|rate=):
 *   drop-stream                  the subscription connection closes
 *   stall-heartbeats  secs       no HEARTBEAT events for secs
 *   agent-down        agent      an agent (id, hostname or index) is lost
 *   agent-up          agent      it comes back, empty, under a new id
 *   unavailable       secs       503 to scheduler and operator calls for
 *                                secs, as a master without a leader; the
 *                                stream drops
 *   redirect          to, secs   307 with Location //to/api/v1/scheduler
 *                                for secs (0: until cleared), as a standby
 *                                master; the stream drops
 *   duplicate-updates rate       that share of status updates is sent twice
 *   lose-launches     rate       that share of launches vanishes (no task,
 *                                no update; reconciliation answers LOST)
 *   clear                        ends unavailable and redirect
 *   mark                         not a fault: /sim/stats' running_low
 *                                starts over at the tasks alive now
 * `arg` is the agent or the address, `value` the seconds or the rate.
 * 0, or -1 with err.
 */
int sim_http_fault(struct sim_http *h, const char *action, const char *arg, double value, char *err,
                   size_t err_len);

/* Closes every stream, stops serving and the ticker. NULL ok. */
void sim_http_stop(struct sim_http *h);

#endif
