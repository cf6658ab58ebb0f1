/* The task-update event stream; see eventstream.h. */
#include "clock.h"
#include "eventstream.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "proto_codec.h"
#include "rpc.h"

typedef Peloton__Private__Eventstream__Event event_pb;

struct es_client {
	char *name;
	uint64_t purged; /* every offset below was processed */
	bool local;      /* read in process only: not over RPC */
};

struct eventstream {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t **ev; /* packed TaskStatus per slot */
	size_t *len;  /* its length */
	size_t cap;
	uint64_t min, next; /* events [min, next) are held */
	struct es_client *clients;
	size_t n_clients;
	char id[40];
	bool closing;
	eventstream_release_f release; /* set once, before any publish */
	void *release_arg;
};

/* Events trimmed under the lock, released after it. */
struct es_dropped {
	uint8_t **ev;
	size_t *len;
	size_t n;
};

struct eventstream *eventstream_create(size_t capacity, const char *const *clients,
                                       size_t n_clients)
{
	struct eventstream *es = calloc(1, sizeof(*es));
	if (!es)
		return NULL;
	es->cap = capacity ? capacity : 65536;
	es->ev = calloc(es->cap, sizeof(*es->ev));
	es->len = calloc(es->cap, sizeof(*es->len));
	es->clients = calloc(n_clients ? n_clients : 1, sizeof(*es->clients));
	if (!es->ev || !es->len || !es->clients) {
		eventstream_destroy(es);
		return NULL;
	}
	for (size_t i = 0; i < n_clients; i++) {
		if (!(es->clients[i].name = strdup(clients[i]))) {
			eventstream_destroy(es);
			return NULL;
		}
		es->n_clients++;
	}
	uint8_t r[8] = {0};
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(r, &ts.tv_nsec, sizeof(ts.tv_nsec) < 8 ? sizeof(ts.tv_nsec) : 8);
	}
	snprintf(es->id, sizeof(es->id), "stream-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1],
	         r[2], r[3], r[4], r[5], r[6], r[7]);
	pthread_mutex_init(&es->mu, NULL);
	clock_cond_init(&es->cv);
	return es;
}

void eventstream_destroy(struct eventstream *es)
{
	if (!es)
		return;
	if (es->ev) {
		pthread_mutex_lock(&es->mu);
		es->closing = true;
		pthread_cond_broadcast(&es->cv);
		pthread_mutex_unlock(&es->mu);
		for (uint64_t o = es->min; o < es->next; o++)
			free(es->ev[o % es->cap]);
		pthread_mutex_destroy(&es->mu);
		pthread_cond_destroy(&es->cv);
	}
	for (size_t i = 0; es->clients && i < es->n_clients; i++)
		free(es->clients[i].name);
	free(es->clients);
	free(es->ev);
	free(es->len);
	free(es);
}

const char *eventstream_id(const struct eventstream *es)
{
	return es->id;
}

/*
 * Drops events every client has purged past (es->mu held). With a release
 * hook they are handed to `out` (when it has room for them) instead of
 * freed, for release_dropped after the lock.
 */
static void trim__(struct eventstream *es, struct es_dropped *out)
{
	uint64_t low = es->next;
	for (size_t i = 0; i < es->n_clients; i++)
		if (es->clients[i].purged < low)
			low = es->clients[i].purged;
	if (es->release && es->min < low) {
		size_t n = (size_t)(low - es->min);
		out->ev = malloc(n * sizeof(*out->ev));
		out->len = malloc(n * sizeof(*out->len));
		if (!out->ev || !out->len) {
			free(out->ev);
			free(out->len);
			*out = (struct es_dropped){0};
			return; /* kept until a later trim has the memory */
		}
	}
	while (es->min < low) {
		size_t k = es->min % es->cap;
		if (es->release) {
			out->ev[out->n] = es->ev[k];
			out->len[out->n++] = es->len[k];
		} else {
			free(es->ev[k]);
		}
		es->ev[k] = NULL;
		es->min++;
	}
}

/* Hands trimmed events to the release hook (no lock held), then frees them. */
static void release_dropped(struct eventstream *es, struct es_dropped *d)
{
	for (size_t i = 0; i < d->n; i++) {
		Mesos__V1__TaskStatus *st = (Mesos__V1__TaskStatus *)proto_decode(
		    &mesos__v1__task_status__descriptor, d->ev[i], d->len[i], NULL, NULL);
		if (st) {
			es->release(es->release_arg, st);
			protobuf_c_message_free_unpacked(&st->base, NULL);
		}
		free(d->ev[i]);
	}
	free(d->ev);
	free(d->len);
}

void eventstream_set_release(struct eventstream *es, eventstream_release_f fn, void *arg)
{
	pthread_mutex_lock(&es->mu);
	es->release = fn;
	es->release_arg = arg;
	pthread_mutex_unlock(&es->mu);
}

int64_t eventstream_publish(struct eventstream *es, const Mesos__V1__TaskStatus *st)
{
	size_t len;
	uint8_t *b = proto_pack_alloc(&st->base, &len);
	if (!b)
		return -1;
	struct es_dropped dropped = {0};
	int64_t off = -1;
	pthread_mutex_lock(&es->mu);
	trim__(es, &dropped);
	if (es->next - es->min < es->cap) {
		off = (int64_t)es->next++;
		es->ev[(uint64_t)off % es->cap] = b;
		es->len[(uint64_t)off % es->cap] = len;
		pthread_cond_broadcast(&es->cv);
	}
	pthread_mutex_unlock(&es->mu);
	release_dropped(es, &dropped);
	if (off < 0)
		free(b); /* full: not acknowledged, Mesos resends */
	return off;
}

/* The client by name; NULL when unknown, or read in process and asked over RPC. */
static struct es_client *client__(struct eventstream *es, const char *name, bool remote)
{
	for (size_t i = 0; name && i < es->n_clients; i++)
		if (strcmp(es->clients[i].name, name) == 0)
			return remote && es->clients[i].local ? NULL : &es->clients[i];
	return NULL;
}

int eventstream_client_local(struct eventstream *es, const char *name)
{
	pthread_mutex_lock(&es->mu);
	struct es_client *c = client__(es, name, false);
	if (c != NULL)
		c->local = true;
	pthread_mutex_unlock(&es->mu);
	return c ? 0 : -1;
}

static Peloton__Private__Eventstream__ClientUnsupported *unsupported(const char *name)
{
	Peloton__Private__Eventstream__ClientUnsupported *e =
	    PB_NEW(Peloton__Private__Eventstream__ClientUnsupported,
	           peloton__private__eventstream__client_unsupported__descriptor);
	char msg[160];
	snprintf(msg, sizeof(msg), "client '%.100s' is not a consumer of this stream",
	         name ? name : "");
	if (e && !(e->message = strdup(msg))) {
		free(e);
		e = NULL;
	}
	return e;
}

static Peloton__Private__Eventstream__InitStreamResponse *
init_stream(struct eventstream *es, const Peloton__Private__Eventstream__InitStreamRequest *r,
            bool remote)
{
	Peloton__Private__Eventstream__InitStreamResponse *resp =
	    PB_NEW(Peloton__Private__Eventstream__InitStreamResponse,
	           peloton__private__eventstream__init_stream_response__descriptor);
	if (!resp)
		return NULL;
	pthread_mutex_lock(&es->mu);
	struct es_client *c = client__(es, r->clientname, remote);
	if (!c) {
		pthread_mutex_unlock(&es->mu);
		resp->error =
		    PB_NEW(Peloton__Private__Eventstream__InitStreamResponse__Error,
		           peloton__private__eventstream__init_stream_response__error__descriptor);
		if (resp->error)
			resp->error->clientunsupported = unsupported(r->clientname);
		return resp;
	}
	resp->streamid = strdup(es->id);
	resp->minoffset = es->min;
	resp->previouspurgeoffset = c->purged;
	pthread_mutex_unlock(&es->mu);
	if (!resp->streamid) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return NULL;
	}
	return resp;
}

/* The error part of a WaitForEvents answer; es->mu held. NULL when none. */
static Peloton__Private__Eventstream__WaitForEventsResponse__Error *
wait_error__(struct eventstream *es, const Peloton__Private__Eventstream__WaitForEventsRequest *r,
             struct es_client *c)
{
	Peloton__Private__Eventstream__WaitForEventsResponse__Error *e = NULL;
#define NEW_ERR()                                                                \
	(e = PB_NEW(Peloton__Private__Eventstream__WaitForEventsResponse__Error, \
	            peloton__private__eventstream__wait_for_events_response__error__descriptor))
	if (!c) {
		if (NEW_ERR())
			e->clientunsupported = unsupported(r->clientname);
	} else if (!r->streamid || strcmp(r->streamid, es->id) != 0) {
		if (NEW_ERR()) {
			e->invalidstreamid =
			    PB_NEW(Peloton__Private__Eventstream__InvalidStreamID,
			           peloton__private__eventstream__invalid_stream_id__descriptor);
			if (e->invalidstreamid)
				e->invalidstreamid->currentstreamid = strdup(es->id);
		}
	} else if (r->purgeoffset > r->beginoffset || r->purgeoffset > es->next) {
		if (NEW_ERR()) {
			e->invalidpurgeoffset =
			    PB_NEW(Peloton__Private__Eventstream__InvalidPurgeOffset,
			           peloton__private__eventstream__invalid_purge_offset__descriptor);
			if (e->invalidpurgeoffset) {
				e->invalidpurgeoffset->purgeoffset = r->purgeoffset;
				e->invalidpurgeoffset->beginoffset = r->beginoffset;
			}
		}
	} else if (r->beginoffset < es->min || r->beginoffset > es->next) {
		if (NEW_ERR()) {
			e->outofrange =
			    PB_NEW(Peloton__Private__Eventstream__OffsetOutOfRange,
			           peloton__private__eventstream__offset_out_of_range__descriptor);
			if (e->outofrange) {
				e->outofrange->streamid = strdup(es->id);
				e->outofrange->minoffset = es->min;
				e->outofrange->maxoffset = es->next;
				e->outofrange->offsetrequested = r->beginoffset;
			}
		}
	}
#undef NEW_ERR
	return e;
}

static Peloton__Private__Eventstream__WaitForEventsResponse *
wait_events(struct eventstream *es, const Peloton__Private__Eventstream__WaitForEventsRequest *r,
            bool remote)
{
	Peloton__Private__Eventstream__WaitForEventsResponse *resp =
	    PB_NEW(Peloton__Private__Eventstream__WaitForEventsResponse,
	           peloton__private__eventstream__wait_for_events_response__descriptor);
	if (!resp)
		return NULL;
	int timeout = r->timeoutms > 0 ? (r->timeoutms < 60000 ? r->timeoutms : 60000) : 0;
	size_t limit = r->limit > 0 ? (size_t)r->limit : 100;
	if (limit > 10000)
		limit = 10000;
	struct es_dropped dropped = {0};
	pthread_mutex_lock(&es->mu);
	struct es_client *c = client__(es, r->clientname, remote);
	resp->error = wait_error__(es, r, c);
	if (resp->error) {
		pthread_mutex_unlock(&es->mu);
		return resp;
	}
	if (r->purgeoffset > c->purged) {
		c->purged = r->purgeoffset;
		trim__(es, &dropped);
	}
	if (dropped.n) {
		/* released before waiting: acknowledgements do not wait out the poll */
		pthread_mutex_unlock(&es->mu);
		release_dropped(es, &dropped);
		pthread_mutex_lock(&es->mu);
	}
	uint64_t until = clock_mono_ns() + (uint64_t)(timeout > 0 ? timeout : 0) * 1000000ull;
	while (r->beginoffset >= es->next && timeout > 0 && !es->closing)
		if (clock_cond_wait(&es->cv, &es->mu, until) == ETIMEDOUT)
			break;
	uint64_t from = r->beginoffset < es->min ? es->min : r->beginoffset;
	size_t n = es->next > from ? (size_t)(es->next - from) : 0;
	if (n > limit)
		n = limit;
	resp->events = calloc(n ? n : 1, sizeof(*resp->events));
	for (size_t i = 0; resp->events && i < n; i++) {
		uint64_t o = from + i;
		event_pb *e = PB_NEW(event_pb, peloton__private__eventstream__event__descriptor);
		if (!e)
			break;
		e->offset = o;
		e->type = PELOTON__PRIVATE__EVENTSTREAM__EVENT__TYPE__MESOS_TASK_STATUS;
		e->mesostaskstatus = (Mesos__V1__TaskStatus *)proto_decode(
		    &mesos__v1__task_status__descriptor, es->ev[o % es->cap], es->len[o % es->cap],
		    NULL, NULL);
		resp->events[resp->n_events++] = e;
	}
	pthread_mutex_unlock(&es->mu);
	return resp;
}

Peloton__Private__Eventstream__InitStreamResponse *
eventstream_init_stream(struct eventstream *es,
                        const Peloton__Private__Eventstream__InitStreamRequest *r)
{
	return init_stream(es, r, false);
}

Peloton__Private__Eventstream__WaitForEventsResponse *
eventstream_wait(struct eventstream *es,
                 const Peloton__Private__Eventstream__WaitForEventsRequest *r)
{
	return wait_events(es, r, false);
}

static ProtobufCMessage *h_init(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	ProtobufCMessage *r = (ProtobufCMessage *)init_stream(ctx, (const void *)m, true);
	return r ? r : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

static ProtobufCMessage *h_wait(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	ProtobufCMessage *r = (ProtobufCMessage *)wait_events(ctx, (const void *)m, true);
	return r ? r : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

void eventstream_bind(struct eventstream *es, struct rpc_table *t)
{
	static const char svc[] = "peloton.private.eventstream.EventStreamService";
	if (rpc_bind(t, svc, "InitStream", h_init, es) != 0 ||
	    rpc_bind_long_poll(t, svc, "WaitForEvents", h_wait, es) != 0)
		log_error("eventstream", "schema has no %s/InitStream or WaitForEvents", svc);
}
