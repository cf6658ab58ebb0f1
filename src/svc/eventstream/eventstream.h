/*
 * eventstream: the host manager's task-update stream
 * (peloton.private.eventstream.EventStreamService).
 *
 * Mesos status updates are appended to a circular buffer of `capacity`
 * events with consecutive offsets. Known clients (by name) read with
 * WaitForEvents(beginOffset, limit, timeout) and report what they have
 * processed with purgeOffset; an event leaves the buffer once every client
 * purged past it. The stream id is random per process, so a client sees a
 * restart as InvalidStreamID and starts over with InitStream.
 *
 * When the buffer is full, eventstream_publish refuses the event: the
 * update is then not acknowledged and Mesos sends it again, so nothing is
 * lost. Thread-safe (one mutex, one condition variable for waiters).
 */
#ifndef EVENTSTREAM_H
#define EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/mesos.pb-c.h"
#include "peloton/private/eventstream/eventstream.pb-c.h"

struct eventstream;
struct rpc_table;

/* clients: the names allowed to read (copied). NULL on ENOMEM. */
struct eventstream *eventstream_create(size_t capacity, const char *const *clients,
                                       size_t n_clients);
/* Wakes waiters with nothing and frees. NULL ok. */
void eventstream_destroy(struct eventstream *es);

/*
 * Called with each update once every client has purged past it (no lock
 * held; st borrowed for the call): a host manager whose job manager runs
 * apart acknowledges it to Mesos then, so an update is acknowledged only
 * after its consumer reported it processed. Set before the first publish.
 */
typedef void (*eventstream_release_f)(void *arg, const Mesos__V1__TaskStatus *st);
void eventstream_set_release(struct eventstream *es, eventstream_release_f fn, void *arg);

/*
 * Marks a client as this process's own (its consumer calls the functions
 * below directly): the RPC face then refuses its name, so no caller over
 * the network can read or purge its stream. 0, or -1 for an unknown name.
 */
int eventstream_client_local(struct eventstream *es, const char *name);

/* Appends a TaskStatus (copied); its offset, or -1 when full or on ENOMEM. */
int64_t eventstream_publish(struct eventstream *es, const Mesos__V1__TaskStatus *st);

/* The stream id (stable for the process). */
const char *eventstream_id(const struct eventstream *es);

/* Binds InitStream and WaitForEvents into the method table. */
void eventstream_bind(struct eventstream *es, struct rpc_table *t);

/*
 * The RPC semantics, callable in process: the response (malloc'd unpacked;
 * free with protobuf_c_message_free_unpacked) or NULL on ENOMEM. Errors
 * are inside the response (clientUnsupported, invalidStreamID, outOfRange,
 * invalidPurgeOffset), as the service defines them.
 */
Peloton__Private__Eventstream__InitStreamResponse *
eventstream_init_stream(struct eventstream *es,
                        const Peloton__Private__Eventstream__InitStreamRequest *r);
Peloton__Private__Eventstream__WaitForEventsResponse *
eventstream_wait(struct eventstream *es,
                 const Peloton__Private__Eventstream__WaitForEventsRequest *r);

#endif
