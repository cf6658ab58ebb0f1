/* HTTP face of the simulated master; see sim_http.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "log.h"
#include "proto_codec.h"
#include "recordio.h"
#include "sim_http.h"

#define MAX_BODY (16u << 20)

/* One SUBSCRIBE connection: RecordIO bytes waiting to be sent. */
struct stream {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *q;
	size_t len, cap, off;
	bool closed;
	char id[64];
	struct sim_http *h;
};

struct sim_http {
	struct sim *sim;
	struct MHD_Daemon *d;
	uint16_t port;
	pthread_t ticker;
	_Atomic int stop;
	pthread_mutex_t mu; /* current */
	struct stream *current;
};

struct req {
	uint8_t *body;
	size_t len;
	bool too_big;
};

static void stream_close(struct stream *st)
{
	pthread_mutex_lock(&st->mu);
	st->closed = true;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

/* sim's emit: frames the event onto the stream's queue (under the sim lock). */
static void stream_push(void *arg, const uint8_t *ev, size_t len)
{
	struct stream *st = arg;
	char hdr[24];
	size_t hl = recordio_header(len, hdr);
	pthread_mutex_lock(&st->mu);
	if (!st->closed) {
		if (st->off > 0 && st->off == st->len)
			st->off = st->len = 0;
		if (st->len + hl + len > st->cap) {
			size_t nc = st->cap ? st->cap : 65536;
			while (nc < st->len + hl + len)
				nc *= 2;
			uint8_t *nq = realloc(st->q, nc);
			if (nq == NULL) {
				st->closed = true; /* the client will resubscribe */
				pthread_cond_broadcast(&st->cv);
				pthread_mutex_unlock(&st->mu);
				return;
			}
			st->q = nq;
			st->cap = nc;
		}
		memcpy(st->q + st->len, hdr, hl);
		memcpy(st->q + st->len + hl, ev, len);
		st->len += hl + len;
		pthread_cond_signal(&st->cv);
	}
	pthread_mutex_unlock(&st->mu);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	(void)pos;
	pthread_mutex_lock(&st->mu);
	while (st->off == st->len && !st->closed) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&st->cv, &st->mu, &until);
	}
	if (st->off == st->len && st->closed) {
		pthread_mutex_unlock(&st->mu);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	size_t n = st->len - st->off < max ? st->len - st->off : max;
	memcpy(buf, st->q + st->off, n);
	st->off += n;
	pthread_mutex_unlock(&st->mu);
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;
	struct sim_http *h = st->h;
	sim_unsubscribe(h->sim, st->id); /* sim no longer emits to st */
	pthread_mutex_lock(&h->mu);
	if (h->current == st)
		h->current = NULL;
	pthread_mutex_unlock(&h->mu);
	free(st->q);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	free(st);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result subscribe(struct sim_http *h, struct MHD_Connection *c,
                                 const Mesos__V1__Scheduler__Call *call)
{
	char err[256];
	struct stream *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->h = h;
	int code =
	    sim_subscribe(h->sim, call, stream_push, st, st->id, sizeof(st->id), err, sizeof(err));
	if (code != 200) {
		pthread_mutex_destroy(&st->mu);
		pthread_cond_destroy(&st->cv);
		free(st->q);
		free(st);
		return reply(c, (unsigned)code, err);
	}
	/* the previous subscription's stream ends */
	pthread_mutex_lock(&h->mu);
	struct stream *old = h->current;
	h->current = st;
	if (old != NULL)
		stream_close(old);
	pthread_mutex_unlock(&h->mu);
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
	                                                           stream_read, st, stream_free);
	if (r == NULL) {
		stream_close(st);
		stream_free(st);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/x-protobuf");
	MHD_add_response_header(r, "Mesos-Stream-Id", st->id);
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result scheduler(struct sim_http *h, struct MHD_Connection *c, struct req *rq)
{
	char err[256];
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	if (ct != NULL && strncmp(ct, "application/json", 16) == 0)
		return reply(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		             "mesos-sim speaks application/x-protobuf only (JSON not yet)");
	if (rq->too_big)
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large");
	const char *why = NULL;
	Mesos__V1__Scheduler__Call *call = (Mesos__V1__Scheduler__Call *)proto_decode(
	    &mesos__v1__scheduler__call__descriptor, rq->body, rq->len, NULL, &why);
	if (call == NULL) {
		snprintf(err, sizeof(err), "Failed to parse body into Call protobuf: %s",
		         why ? why : "malformed");
		return reply(c, MHD_HTTP_BAD_REQUEST, err);
	}
	enum MHD_Result ret;
	if (call->has_type && call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
		ret = subscribe(h, c, call);
	} else {
		const char *sid =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Mesos-Stream-Id");
		int code = sim_call(h->sim, sid, call, err, sizeof(err));
		ret = reply(c, (unsigned)code, code == 202 ? "" : err);
	}
	protobuf_c_message_free_unpacked(&call->base, NULL);
	return ret;
}

/*
 * GET /files/browse?path=/sandbox/<agent>/<task>: the sandbox listing an
 * agent gives (JSON array of path, size, mode, nlink, uid, gid, mtime).
 */
static enum MHD_Result browse(struct sim_http *h, struct MHD_Connection *c)
{
	const char *path = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "path");
	const char *task = path ? strrchr(path, '/') : NULL;
	char dir[256];
	if (!task || !task[1] || !sim_sandbox(h->sim, task + 1, dir, sizeof(dir)) ||
	    strcmp(dir, path) != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "No such sandbox");
	char body[1024];
	long now = (long)time(NULL);
	snprintf(body, sizeof(body),
	         "[{\"path\":\"%s/stderr\",\"size\":0,\"mode\":\"-rw-r--r--\",\"nlink\":1,"
	         "\"uid\":\"root\",\"gid\":\"root\",\"mtime\":%ld},"
	         "{\"path\":\"%s/stdout\",\"size\":0,\"mode\":\"-rw-r--r--\",\"nlink\":1,"
	         "\"uid\":\"root\",\"gid\":\"root\",\"mtime\":%ld}]",
	         dir, now, dir, now);
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	struct sim_http *h = cls;
	struct req *rq = *con_cls;
	(void)version;
	if (rq == NULL) {
		if ((rq = calloc(1, sizeof(*rq))) == NULL)
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (rq->len + *upload_size > MAX_BODY) {
			rq->too_big = true;
		} else {
			uint8_t *nb = realloc(rq->body, rq->len + *upload_size);
			if (nb == NULL)
				return MHD_NO;
			memcpy(nb + rq->len, upload, *upload_size);
			rq->body = nb;
			rq->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/health") == 0)
		return reply(c, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/files/browse") == 0)
		return browse(h, c);
	if (strcmp(url, "/api/v1/scheduler") == 0) {
		if (strcmp(method, "POST") != 0)
			return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Expecting 'POST'");
		return scheduler(h, c, rq);
	}
	return reply(c, MHD_HTTP_NOT_FOUND, "Not found");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct req *rq = *con_cls;
	if (rq != NULL) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

static void *tick(void *arg)
{
	struct sim_http *h = arg;
	while (!atomic_load(&h->stop)) {
		struct timespec ts, d = {0, 10000000};
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sim_tick(h->sim, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
		nanosleep(&d, NULL);
	}
	return NULL;
}

struct sim_http *sim_http_start(struct sim *s, uint16_t port, char *err, size_t err_len)
{
	struct sim_http *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	h->sim = s;
	pthread_mutex_init(&h->mu, NULL);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* poll(), not select(): no FD_SETSIZE ceiling on connections */
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                            MHD_USE_POLL | MHD_USE_ERROR_LOG,
	                        port, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &sa,
	                        MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_END);
	if (h->d == NULL) {
		snprintf(err, err_len, "cannot listen on 127.0.0.1:%u", port);
		pthread_mutex_destroy(&h->mu);
		free(h);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : port;
	if (pthread_create(&h->ticker, NULL, tick, h) != 0) {
		MHD_stop_daemon(h->d);
		pthread_mutex_destroy(&h->mu);
		free(h);
		snprintf(err, err_len, "cannot start the ticker thread");
		return NULL;
	}
	log_info("sim", "listening on 127.0.0.1:%u", h->port);
	return h;
}

uint16_t sim_http_port(const struct sim_http *h)
{
	return h->port;
}

void sim_http_drop_stream(struct sim_http *h)
{
	pthread_mutex_lock(&h->mu);
	if (h->current != NULL)
		stream_close(h->current);
	pthread_mutex_unlock(&h->mu);
}

void sim_http_stop(struct sim_http *h)
{
	if (h == NULL)
		return;
	atomic_store(&h->stop, 1);
	pthread_join(h->ticker, NULL);
	sim_http_drop_stream(h);
	MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
