/* Mesos v1 scheduler HTTP client; see client.h. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "arena.h"
#include "clock.h"
#include "client.h"
#include "log.h"
#include "pjson.h"
#include "proto_codec.h"
#include "recordio.h"

typedef Mesos__V1__Scheduler__Call call_t;
typedef Mesos__V1__Scheduler__Event event_t;

#define MAX_TEXT 1024
#define MAX_INFLIGHT 256 /* calls handed to curl at once */
#define ACK_RESERVE 32   /* of which acknowledgements leave this many to other calls */
#define MAX_RETRIES 8    /* a call answered 503 or 307 is sent again this often */

/* One queued or in-flight call: its packed bytes. */
struct pending {
	struct pending *next;
	struct pending **pp; /* in flight: the link that points at it */
	uint8_t *body;
	size_t len;
	int type; /* Call.Type, for logs */
	CURL *h;
	struct curl_slist *hdrs;
	char text[MAX_TEXT]; /* the answer's body (errors) */
	size_t text_len;
	char location[256]; /* of a 307 */
	unsigned retries;
	uint64_t not_before_ns; /* a retried call waits until then */
};

/* Launches waiting for their agent's batch to close. */
struct batch {
	struct batch *next;
	char *agent;
	char **offers;
	size_t n_offers;
	Mesos__V1__TaskInfo **tasks;
	size_t n_tasks;
	uint64_t due_ns;
};

struct mesos_client {
	struct mesos_client_config cfg;
	char master[256];  /* the master talked to now (I/O thread) */
	char masters[512]; /* the configured ones, comma-separated */
	unsigned master_i; /* which configured one was tried last */
	bool redirected;   /* master came from a 307, not the configuration */
	pthread_t io;
	_Atomic int stop;
	CURLM *m;
	pthread_mutex_t mu; /* queue, batches, state below */
	pthread_cond_t cv;
	/* calls waiting to go out: [0] everything but ACKNOWLEDGE, served
	 * first; [1] acknowledgements. One FIFO let a backlog of tens of
	 * thousands of acks hold launches back (bench_e2e: tasks sat in
	 * LAUNCHING behind them) */
	struct pending *queue[2], *queue_tail[2];
	struct batch *batches;
	/* subscription (I/O thread) */
	struct arena ev_arena; /* protobuf events decode into it, reset after each */
	CURL *sub;
	struct curl_slist *sub_hdrs;
	uint8_t *sub_body;
	struct recordio *rio;
	long sub_code;
	char sub_text[MAX_TEXT];
	size_t sub_text_len;
	char location[256];
	char stream_id[160];
	char framework_id[160];
	bool subscribed;
	double heartbeat_s;
	uint64_t last_event_ns, next_subscribe_ns;
	double backoff_s;
	uint64_t rng;
	unsigned redirect_streak; /* 307s to SUBSCRIBE since the last SUBSCRIBED */
	/* the master ended this framework for good (mu): "Framework has been
	 * removed" or "Framework failed over" to another scheduler; no more
	 * subscriptions */
	char ended[200];
	struct pending *retry;    /* calls waiting to be sent again (I/O thread) */
	struct pending *inflight; /* calls handed to curl (I/O thread) */
	size_t n_inflight, n_inflight_acks;
	/* easy handles of finished calls, reset for the next (I/O thread):
	 * creating one per call was a visible part of the I/O thread */
	CURL *idle[MAX_INFLIGHT];
	size_t n_idle;
	struct {
		_Atomic uint64_t subscribes, events, calls_sent, calls_failed, calls_retried,
		    accepts, tasks_launched, redirects, bad_frames;
	} st;
};

static void text_add(char *buf, size_t *len, const char *p, size_t n)
{
	size_t room = MAX_TEXT - 1 - *len;
	if (n > room)
		n = room;
	memcpy(buf + *len, p, n);
	*len += n;
	buf[*len] = '\0';
}

/* --- the subscription ---------------------------------------------------------- */

static void resubscribe_later(struct mesos_client *c, const char *why)
{
	double jitter = 0.5 + (double)((c->rng = c->rng * 6364136223846793005ull + 1) >> 40) /
	                          (double)(1ull << 24);
	double wait = c->backoff_s * jitter;
	c->next_subscribe_ns = clock_mono_ns() + (uint64_t)(wait * 1e9);
	c->backoff_s =
	    c->backoff_s * 2 > c->cfg.backoff_max_s ? c->cfg.backoff_max_s : c->backoff_s * 2;
	pthread_mutex_lock(&c->mu);
	c->subscribed = false;
	c->stream_id[0] = '\0';
	pthread_mutex_unlock(&c->mu);
	log_warn("mesos", "subscription to %s lost (%s); resubscribing in %.2f s", c->master, why,
	         wait);
}

/*
 * An ERROR that ends the framework for good (Mesos src/master/master.cpp):
 * "Framework has been removed" (its failover timeout passed while it was
 * away, or it was torn down: its tasks were killed and its id is burnt)
 * and "Framework failed over" (another scheduler subscribed with our id).
 * Subscribing again would fail, or fight the other scheduler: the client
 * stops and says why (mesos_client_ended).
 */
static void framework_ended(struct mesos_client *c, const char *msg)
{
	const char *why = NULL;
	if (strstr(msg, "Framework has been removed") != NULL)
		why = "the master removed this framework (its failover timeout passed while "
		      "disconnected, or it was torn down); its tasks were killed";
	else if (strstr(msg, "Framework failed over") != NULL)
		why = "another scheduler subscribed as this framework (failed over)";
	if (why == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	snprintf(c->ended, sizeof(c->ended), "%s", why);
	pthread_mutex_unlock(&c->mu);
	log_error("mesos", "framework %s: %s; not subscribing again", c->framework_id, why);
}

static void sub_end(struct mesos_client *c)
{
	if (c->sub == NULL)
		return;
	curl_multi_remove_handle(c->m, c->sub);
	curl_easy_cleanup(c->sub);
	curl_slist_free_all(c->sub_hdrs);
	free(c->sub_body);
	recordio_free(c->rio);
	c->sub = NULL;
	c->sub_hdrs = NULL;
	c->sub_body = NULL;
	c->rio = NULL;
}

/*
 * One event from the stream. A protobuf event decodes into the I/O thread's
 * arena (an OFFERS event is thousands of small objects: pointer bumps and
 * one reset instead of a malloc and a free each; bench_codec); the handler
 * borrows it for the call. JSON (debugging) decodes with malloc.
 */
static int on_record(void *arg, const uint8_t *data, size_t len)
{
	struct mesos_client *c = arg;
	const char *why = NULL;
	char jerr[200];
	event_t *ev;
	ProtobufCAllocator arena = {arena_alloc_cb, arena_free_cb, &c->ev_arena};
	if (c->cfg.json) {
		/* a newer master's fields are skipped, as protobuf keeps them aside */
		ev = (event_t *)pjson_loads_flags(&mesos__v1__scheduler__event__descriptor,
		                                  (const char *)data, len, PJSON_IGNORE_UNKNOWN,
		                                  jerr, sizeof(jerr));
		why = jerr;
	} else {
		ev = (event_t *)proto_decode(&mesos__v1__scheduler__event__descriptor, data, len,
		                             &arena, &why);
	}
	if (ev == NULL) {
		log_error("mesos", "undecodable event (%s): dropping the stream", why);
		c->st.bad_frames++;
		arena_reset(&c->ev_arena);
		return 1;
	}
	c->st.events++;
	c->last_event_ns = clock_mono_ns();
	int rc = 0;
	if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED && ev->subscribed) {
		pthread_mutex_lock(&c->mu);
		snprintf(c->framework_id, sizeof(c->framework_id), "%s",
		         ev->subscribed->framework_id->value);
		c->subscribed = true;
		c->redirect_streak = 0;
		c->heartbeat_s = ev->subscribed->has_heartbeat_interval_seconds
		                     ? ev->subscribed->heartbeat_interval_seconds
		                     : 15;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		c->backoff_s = 0.1;
		log_info("mesos", "subscribed as framework %s (heartbeat %.1f s)", c->framework_id,
		         c->heartbeat_s);
		if (c->cfg.on_subscribed)
			c->cfg.on_subscribed(c->cfg.arg, c->framework_id);
	} else if (ev->type == MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR) {
		const char *msg = ev->error && ev->error->message ? ev->error->message : "";
		log_error("mesos", "ERROR event: %s", msg);
		framework_ended(c, msg);
		rc = 1;
	}
	if (c->cfg.on_event)
		c->cfg.on_event(c->cfg.arg, ev);
	if (c->cfg.json)
		protobuf_c_message_free_unpacked(&ev->base, NULL);
	else
		arena_reset(&c->ev_arena);
	return rc;
}

static size_t sub_write(char *p, size_t sz, size_t n, void *arg)
{
	struct mesos_client *c = arg;
	size_t len = sz * n;
	if (c->sub_code == 0)
		curl_easy_getinfo(c->sub, CURLINFO_RESPONSE_CODE, &c->sub_code);
	if (c->sub_code != 200) {
		text_add(c->sub_text, &c->sub_text_len, p, len);
		return len;
	}
	const char *err;
	int rc = recordio_feed(c->rio, p, len, on_record, c, &err);
	if (rc < 0) {
		log_error("mesos", "event stream: %s; dropping the connection", err);
		c->st.bad_frames++;
		return 0; /* aborts the transfer */
	}
	return rc == 0 ? len : 0;
}

static size_t header_value(const char *p, size_t len, const char *name, char *out, size_t olen)
{
	size_t nl = strlen(name);
	if (len <= nl || strncasecmp(p, name, nl) != 0)
		return 0;
	size_t k = nl;
	while (k < len && p[k] == ' ')
		k++;
	size_t e = len;
	while (e > k && (p[e - 1] == '\r' || p[e - 1] == '\n'))
		e--;
	snprintf(out, olen, "%.*s", (int)(e - k), p + k);
	return e - k;
}

static size_t sub_header(char *p, size_t sz, size_t n, void *arg)
{
	struct mesos_client *c = arg;
	size_t len = sz * n;
	char sid[160];
	if (header_value(p, len, "Mesos-Stream-Id:", sid, sizeof(sid))) {
		pthread_mutex_lock(&c->mu);
		snprintf(c->stream_id, sizeof(c->stream_id), "%s", sid);
		pthread_mutex_unlock(&c->mu);
	}
	header_value(p, len, "Location:", c->location, sizeof(c->location));
	return len;
}

static struct curl_slist *call_headers(const struct mesos_client *c, const char *stream_id)
{
	const char *type = c->cfg.json ? "application/json" : "application/x-protobuf";
	char ct[64], ac[64];
	snprintf(ct, sizeof(ct), "Content-Type: %s", type);
	snprintf(ac, sizeof(ac), "Accept: %s", type);
	struct curl_slist *h = curl_slist_append(NULL, ct);
	h = curl_slist_append(h, ac);
	h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
	if (stream_id != NULL && stream_id[0]) {
		char sid[200];
		snprintf(sid, sizeof(sid), "Mesos-Stream-Id: %s", stream_id);
		h = curl_slist_append(h, sid);
	}
	return h;
}

/* HTTP basic authentication of the framework's principal, when it has a secret. */
static void authenticate(const struct mesos_client *c, CURL *h)
{
	if (c->cfg.secret == NULL || c->cfg.principal == NULL)
		return;
	curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(h, CURLOPT_USERNAME, c->cfg.principal);
	curl_easy_setopt(h, CURLOPT_PASSWORD, c->cfg.secret);
}

static void url_of(const struct mesos_client *c, char *url, size_t len)
{
	snprintf(url, len, "http://%s/api/v1/scheduler", c->master);
}

/* A call's body in the configured encoding (malloc'd); NULL on ENOMEM. */
static uint8_t *encode_call(const struct mesos_client *c, const call_t *call, size_t *len)
{
	if (!c->cfg.json)
		return proto_pack_alloc(&call->base, len);
	char *text = pjson_dumps_flags(&call->base, PJSON_PROTO_NAMES);
	*len = text ? strlen(text) : 0;
	return (uint8_t *)text;
}

static void subscribe(struct mesos_client *c)
{
	call_t call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
	Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__FrameworkInfo__Capability caps[2], *capp[2] = {&caps[0], &caps[1]};
	char *roles[1] = {(char *)c->cfg.role};
	for (int i = 0; i < 2; i++)
		mesos__v1__framework_info__capability__init(&caps[i]);
	caps[0].has_type = caps[1].has_type = true;
	caps[0].type = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__GPU_RESOURCES;
	caps[1].type = MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE;
	fi.user = (char *)c->cfg.user;
	fi.name = (char *)c->cfg.name;
	fi.principal = (char *)c->cfg.principal;
	fi.n_roles = 1;
	fi.roles = roles;
	fi.has_checkpoint = true;
	fi.checkpoint = true;
	fi.has_failover_timeout = true;
	fi.failover_timeout = c->cfg.failover_timeout_s;
	fi.n_capabilities = 2;
	fi.capabilities = capp;
	pthread_mutex_lock(&c->mu);
	char fwid[160];
	snprintf(fwid, sizeof(fwid), "%s", c->framework_id);
	pthread_mutex_unlock(&c->mu);
	if (fwid[0]) {
		fid.value = fwid;
		fi.id = &fid;
		call.framework_id = &fid;
	}
	sub.framework_info = &fi;
	call.has_type = true;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
	call.subscribe = &sub;
	size_t len;
	c->sub_body = encode_call(c, &call, &len);
	c->rio = recordio_new(0);
	c->sub = curl_easy_init();
	if (c->sub_body == NULL || c->rio == NULL || c->sub == NULL) {
		sub_end(c);
		resubscribe_later(c, "out of memory");
		return;
	}
	char url[300];
	url_of(c, url, sizeof(url));
	c->sub_hdrs = call_headers(c, NULL);
	c->sub_code = 0;
	c->sub_text_len = 0;
	c->sub_text[0] = '\0';
	c->location[0] = '\0';
	curl_easy_setopt(c->sub, CURLOPT_URL, url);
	authenticate(c, c->sub);
	curl_easy_setopt(c->sub, CURLOPT_HTTPHEADER, c->sub_hdrs);
	curl_easy_setopt(c->sub, CURLOPT_POSTFIELDS, c->sub_body);
	curl_easy_setopt(c->sub, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c->sub, CURLOPT_WRITEFUNCTION, sub_write);
	curl_easy_setopt(c->sub, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->sub, CURLOPT_HEADERFUNCTION, sub_header);
	curl_easy_setopt(c->sub, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->sub, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c->sub, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->sub, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->sub, CURLOPT_PRIVATE, NULL);
	curl_multi_add_handle(c->m, c->sub);
	c->last_event_ns = clock_mono_ns();
	c->st.subscribes++;
}

/*
 * A 307's Location (http://host:port/..., //host:port/... as a master
 * sends it, or host:port) becomes the master to talk to; false when it
 * names no address.
 */
static bool follow(struct mesos_client *c, const char *location)
{
	const char *p = strstr(location, "://");
	p = p ? p + 3 : location;
	while (*p == '/')
		p++;
	size_t n = strcspn(p, "/");
	if (n == 0 || n >= sizeof(c->master))
		return false;
	if (strncmp(c->master, p, n) != 0 || c->master[n] != '\0') {
		snprintf(c->master, sizeof(c->master), "%.*s", (int)n, p);
		c->redirected = true;
		log_info("mesos", "redirected to the leading master %s", c->master);
	}
	c->st.redirects++;
	return true;
}

/* The configured master number i (wrapping) into c->master. */
static void configured_master(struct mesos_client *c, unsigned i)
{
	unsigned n = 1;
	for (const char *p = c->masters; (p = strchr(p, ',')) != NULL; p++)
		n++;
	c->master_i = i % n;
	const char *p = c->masters;
	for (unsigned k = 0; k < c->master_i; k++)
		p = strchr(p, ',') + 1;
	snprintf(c->master, sizeof(c->master), "%.*s", (int)strcspn(p, ","), p);
	c->redirected = false;
}

/*
 * A subscription failed (not a redirect): a master we were sent to by a
 * 307 may be dead — back to the configured master that sent us there;
 * else, with several configured, the next one.
 */
static void master_failed(struct mesos_client *c)
{
	char was[sizeof(c->master)];
	snprintf(was, sizeof(was), "%s", c->master);
	if (c->redirected)
		configured_master(c, c->master_i);
	else if (strchr(c->masters, ',') != NULL)
		configured_master(c, c->master_i + 1);
	if (strcmp(was, c->master) != 0)
		log_warn("mesos", "master %s failed; trying the configured master %s", was,
		         c->master);
}

/* The subscription transfer ended (any reason). */
static void sub_done(struct mesos_client *c, CURLcode res)
{
	long code = c->sub_code;
	if (code == 0)
		curl_easy_getinfo(c->sub, CURLINFO_RESPONSE_CODE, &code);
	char why[MAX_TEXT + 64];
	if (code == 307 && c->location[0] && follow(c, c->location)) {
		sub_end(c);
		/* at once, unless masters keep sending us around */
		if (++c->redirect_streak <= 3)
			c->next_subscribe_ns = 0;
		else
			resubscribe_later(c, "redirected again");
		return;
	}
	if (code != 200 && code != 0)
		snprintf(why, sizeof(why), "HTTP %ld: %s", code, c->sub_text);
	else
		snprintf(why, sizeof(why), "%s",
		         res == CURLE_OK ? "stream ended" : curl_easy_strerror(res));
	sub_end(c);
	pthread_mutex_lock(&c->mu);
	bool ended = c->ended[0] != '\0';
	c->subscribed = false;
	c->stream_id[0] = '\0';
	pthread_mutex_unlock(&c->mu);
	if (ended) {
		c->next_subscribe_ns = UINT64_MAX;
		return;
	}
	resubscribe_later(c, why);
	master_failed(c);
}

/* --- calls ------------------------------------------------------------------------ */

static size_t call_write(char *p, size_t sz, size_t n, void *arg)
{
	struct pending *q = arg;
	text_add(q->text, &q->text_len, p, sz * n);
	return sz * n;
}

static size_t call_header(char *p, size_t sz, size_t n, void *arg)
{
	struct pending *q = arg;
	header_value(p, sz * n, "Location:", q->location, sizeof(q->location));
	return sz * n;
}

static void pending_free(struct pending *q)
{
	if (q->h)
		curl_easy_cleanup(q->h);
	curl_slist_free_all(q->hdrs);
	free(q->body);
	free(q);
}

static int is_ack(const struct pending *q)
{
	return q->type == MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE;
}

/* A finished call's handle goes back to the idle ones (I/O thread). */
static void handle_put(struct mesos_client *c, CURL *h)
{
	if (c->n_idle < MAX_INFLIGHT) {
		curl_easy_reset(h);
		c->idle[c->n_idle++] = h;
	} else {
		curl_easy_cleanup(h);
	}
}

static void call_send(struct mesos_client *c, struct pending *q)
{
	char url[300];
	url_of(c, url, sizeof(url));
	q->h = c->n_idle > 0 ? c->idle[--c->n_idle] : curl_easy_init();
	if (q->h == NULL) {
		c->st.calls_failed++;
		pending_free(q);
		return;
	}
	q->hdrs = call_headers(c, c->stream_id);
	q->text_len = 0;
	q->text[0] = '\0';
	q->location[0] = '\0';
	curl_easy_setopt(q->h, CURLOPT_URL, url);
	authenticate(c, q->h);
	curl_easy_setopt(q->h, CURLOPT_HEADERFUNCTION, call_header);
	curl_easy_setopt(q->h, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(q->h, CURLOPT_HTTPHEADER, q->hdrs);
	curl_easy_setopt(q->h, CURLOPT_POSTFIELDS, q->body);
	curl_easy_setopt(q->h, CURLOPT_POSTFIELDSIZE, (long)q->len);
	curl_easy_setopt(q->h, CURLOPT_WRITEFUNCTION, call_write);
	curl_easy_setopt(q->h, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->h, CURLOPT_TIMEOUT_MS, 75000L);
	/* no signal juggling per transfer: SIGPIPE cannot come from plain
	 * HTTP sockets (libcurl sends with MSG_NOSIGNAL), and no alarm()-based
	 * resolver timeouts (addresses here are numeric) */
	curl_easy_setopt(q->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->h, CURLOPT_PRIVATE, q);
	curl_multi_add_handle(c->m, q->h);
	q->next = c->inflight;
	if (q->next)
		q->next->pp = &q->next;
	q->pp = &c->inflight;
	c->inflight = q;
	c->n_inflight++;
	c->n_inflight_acks += (size_t)is_ack(q);
	c->st.calls_sent++;
}

static void call_done(struct mesos_client *c, struct pending *q, CURLcode res)
{
	long code = 0;
	curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(c->m, q->h);
	*q->pp = q->next;
	if (q->next)
		q->next->pp = q->pp;
	c->n_inflight--;
	c->n_inflight_acks -= (size_t)is_ack(q);
	if (res == CURLE_OK && (code == 202 || code == 200)) {
		handle_put(c, q->h);
		q->h = NULL;
		pending_free(q);
		return;
	}
	/* a standby master (307: re-issue at the leader) or none elected yet
	 * (503): the call goes again, with backoff, a few times */
	bool again = res == CURLE_OK && (code == 503 || (code == 307 && follow(c, q->location)));
	if (again && q->retries < MAX_RETRIES) {
		uint64_t wait_ms = 50ull << (q->retries < 6 ? q->retries : 6);
		q->retries++;
		q->not_before_ns = clock_mono_ns() + wait_ms * 1000000ull;
		handle_put(c, q->h);
		curl_slist_free_all(q->hdrs);
		q->h = NULL;
		q->hdrs = NULL;
		q->next = c->retry;
		c->retry = q;
		c->st.calls_retried++;
		return;
	}
	c->st.calls_failed++;
	log_error("mesos", "call type %d to %s failed: %s%ld %s", q->type, c->master,
	          res == CURLE_OK ? "HTTP " : curl_easy_strerror(res), code, q->text);
	if (c->cfg.on_call_error)
		c->cfg.on_call_error(c->cfg.arg, q->type, res == CURLE_OK ? code : 0,
		                     res == CURLE_OK ? q->text : curl_easy_strerror(res));
	pending_free(q);
}

static int enqueue(struct mesos_client *c, struct pending *q)
{
	pthread_mutex_lock(&c->mu);
	if (atomic_load(&c->stop) || c->ended[0]) { /* stopping, or no framework any more */
		pthread_mutex_unlock(&c->mu);
		pending_free(q);
		return -1;
	}
	q->next = NULL;
	int k = is_ack(q);
	if (c->queue_tail[k])
		c->queue_tail[k]->next = q;
	else
		c->queue[k] = q;
	c->queue_tail[k] = q;
	pthread_mutex_unlock(&c->mu);
	curl_multi_wakeup(c->m);
	return 0;
}

int mesos_client_call(struct mesos_client *c, call_t *call)
{
	Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
	Mesos__V1__FrameworkID *saved = call->framework_id;
	char fwid[160];
	pthread_mutex_lock(&c->mu);
	snprintf(fwid, sizeof(fwid), "%s", c->framework_id);
	pthread_mutex_unlock(&c->mu);
	fid.value = fwid;
	call->framework_id = &fid;
	struct pending *q = calloc(1, sizeof(*q));
	if (q != NULL)
		q->body = encode_call(c, call, &q->len);
	call->framework_id = saved;
	if (q == NULL || q->body == NULL) {
		free(q);
		return -1;
	}
	q->type = call->type;
	return enqueue(c, q);
}

/* --- batched launches ------------------------------------------------------------ */

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n_offers; i++)
		free(b->offers[i]);
	for (size_t i = 0; i < b->n_tasks; i++)
		protobuf_c_message_free_unpacked(&b->tasks[i]->base, NULL);
	free(b->offers);
	free(b->tasks);
	free(b->agent);
	free(b);
}

/* One ACCEPT for the batch; frees it. */
static void batch_send(struct mesos_client *c, struct batch *b)
{
	call_t call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Accept acc = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
	Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT, *opp = &op;
	Mesos__V1__Offer__Operation__Launch l = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
	Mesos__V1__OfferID *ids = calloc(b->n_offers ? b->n_offers : 1, sizeof(*ids));
	Mesos__V1__OfferID **idp = calloc(b->n_offers ? b->n_offers : 1, sizeof(*idp));
	if (ids == NULL || idp == NULL) {
		free(ids);
		free(idp);
		batch_free(b);
		return;
	}
	for (size_t i = 0; i < b->n_offers; i++) {
		mesos__v1__offer_id__init(&ids[i]);
		ids[i].value = b->offers[i];
		idp[i] = &ids[i];
	}
	l.n_task_infos = b->n_tasks;
	l.task_infos = b->tasks;
	op.has_type = true;
	op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
	op.launch = &l;
	acc.n_offer_ids = b->n_offers;
	acc.offer_ids = idp;
	acc.n_operations = 1;
	acc.operations = &opp;
	/*
	 * Chosen on purpose: without filters a master holds what the launch
	 * left of the agent back for 5 s (Filters.refuse_seconds' default);
	 * pelotond packs hosts, so it wants the remainder offered again at the
	 * allocator's next cycle.
	 */
	Mesos__V1__Filters f = MESOS__V1__FILTERS__INIT;
	f.has_refuse_seconds = true;
	f.refuse_seconds = c->cfg.accept_refuse_s;
	acc.filters = &f;
	call.has_type = true;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT;
	call.accept = &acc;
	if (mesos_client_call(c, &call) == 0) {
		c->st.accepts++;
		c->st.tasks_launched += b->n_tasks;
	}
	free(ids);
	free(idp);
	batch_free(b);
}

static bool add_offer(struct batch *b, const char *id)
{
	for (size_t i = 0; i < b->n_offers; i++)
		if (strcmp(b->offers[i], id) == 0)
			return true; /* each offer id once per ACCEPT */
	char **no = realloc(b->offers, (b->n_offers + 1) * sizeof(*no));
	if (no == NULL)
		return false;
	b->offers = no;
	return (b->offers[b->n_offers] = strdup(id)) != NULL && ++b->n_offers;
}

int mesos_client_launch(struct mesos_client *c, const char *agent_id, const char *const *offer_ids,
                        size_t n_offers, Mesos__V1__TaskInfo *const *tasks, size_t n_tasks)
{
	int rc = 0;
	pthread_mutex_lock(&c->mu);
	if (c->ended[0]) { /* the framework is gone: nothing can launch */
		pthread_mutex_unlock(&c->mu);
		return -1;
	}
	struct batch *b = c->batches;
	while (b != NULL && strcmp(b->agent, agent_id) != 0)
		b = b->next;
	if (b == NULL) {
		b = calloc(1, sizeof(*b));
		if (b == NULL || (b->agent = strdup(agent_id)) == NULL) {
			free(b);
			pthread_mutex_unlock(&c->mu);
			return -1;
		}
		b->due_ns = clock_mono_ns() + (uint64_t)c->cfg.batch_window_ms * 1000000ull;
		b->next = c->batches;
		c->batches = b;
	}
	for (size_t i = 0; i < n_offers && rc == 0; i++)
		if (!add_offer(b, offer_ids[i]))
			rc = -1;
	Mesos__V1__TaskInfo **nt = realloc(b->tasks, (b->n_tasks + n_tasks) * sizeof(*nt));
	if (nt == NULL)
		rc = -1;
	else
		b->tasks = nt;
	for (size_t i = 0; i < n_tasks && rc == 0; i++) {
		Mesos__V1__TaskInfo *t = (Mesos__V1__TaskInfo *)proto_clone(&tasks[i]->base);
		if (t == NULL)
			rc = -1;
		else
			b->tasks[b->n_tasks++] = t;
	}
	if (b->n_tasks >= c->cfg.batch_max_tasks)
		b->due_ns = 0; /* full: goes now */
	pthread_mutex_unlock(&c->mu);
	curl_multi_wakeup(c->m);
	return rc;
}

int mesos_client_acknowledge(struct mesos_client *c, const Mesos__V1__TaskStatus *st)
{
	if (!st->has_uuid || st->agent_id == NULL)
		return -1; /* nothing to acknowledge (reconciliation answers have no uuid) */
	call_t call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Acknowledge ack = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
	ack.agent_id = st->agent_id;
	ack.task_id = st->task_id;
	ack.uuid = st->uuid;
	call.has_type = true;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE;
	call.acknowledge = &ack;
	return mesos_client_call(c, &call);
}

int mesos_client_decline(struct mesos_client *c, const char *const *offer_ids, size_t n,
                         double refuse_seconds)
{
	call_t call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Decline d = MESOS__V1__SCHEDULER__CALL__DECLINE__INIT;
	Mesos__V1__Filters f = MESOS__V1__FILTERS__INIT;
	Mesos__V1__OfferID ids[n ? n : 1], *idp[n ? n : 1];
	for (size_t i = 0; i < n; i++) {
		mesos__v1__offer_id__init(&ids[i]);
		ids[i].value = (char *)offer_ids[i];
		idp[i] = &ids[i];
	}
	f.has_refuse_seconds = true;
	f.refuse_seconds = refuse_seconds;
	d.n_offer_ids = n;
	d.offer_ids = idp;
	d.filters = &f;
	call.has_type = true;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE;
	call.decline = &d;
	return mesos_client_call(c, &call);
}

int mesos_client_kill(struct mesos_client *c, const char *task_id, const char *agent_id)
{
	call_t call = MESOS__V1__SCHEDULER__CALL__INIT;
	Mesos__V1__Scheduler__Call__Kill k = MESOS__V1__SCHEDULER__CALL__KILL__INIT;
	Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
	Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
	tid.value = (char *)task_id;
	aid.value = (char *)agent_id;
	k.task_id = &tid;
	k.agent_id = agent_id ? &aid : NULL;
	call.has_type = true;
	call.type = MESOS__V1__SCHEDULER__CALL__TYPE__KILL;
	call.kill = &k;
	return mesos_client_call(c, &call);
}

int mesos_client_reconcile(struct mesos_client *c, const char *const *task_ids,
                           const char *const *agent_ids, size_t n)
{
	enum { PER_CALL = 1000 };
	size_t per = n < PER_CALL ? n : PER_CALL;
	Mesos__V1__Scheduler__Call__Reconcile__Task *tv = calloc(per + 1, sizeof(*tv)),
	                                            **tp = calloc(per + 1, sizeof(*tp));
	Mesos__V1__TaskID *ids = calloc(per + 1, sizeof(*ids));
	Mesos__V1__AgentID *ags = calloc(per + 1, sizeof(*ags));
	int rc = tv && tp && ids && ags ? 0 : -1;
	/* n == 0: one implicit call (no tasks) */
	for (size_t off = 0; rc == 0 && (off < n || (n == 0 && off == 0)); off += PER_CALL) {
		size_t k = n - off < PER_CALL ? n - off : PER_CALL;
		call_t call = MESOS__V1__SCHEDULER__CALL__INIT;
		Mesos__V1__Scheduler__Call__Reconcile rec =
		    MESOS__V1__SCHEDULER__CALL__RECONCILE__INIT;
		for (size_t i = 0; i < k; i++) {
			mesos__v1__scheduler__call__reconcile__task__init(&tv[i]);
			mesos__v1__task_id__init(&ids[i]);
			mesos__v1__agent_id__init(&ags[i]);
			ids[i].value = (char *)task_ids[off + i];
			tv[i].task_id = &ids[i];
			if (agent_ids && agent_ids[off + i]) {
				ags[i].value = (char *)agent_ids[off + i];
				tv[i].agent_id = &ags[i];
			}
			tp[i] = &tv[i];
		}
		rec.n_tasks = k;
		rec.tasks = tp;
		call.has_type = true;
		call.type = MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE;
		call.reconcile = &rec;
		rc = mesos_client_call(c, &call);
		if (n == 0)
			break;
	}
	free(tv);
	free(tp);
	free(ids);
	free(ags);
	return rc;
}

int mesos_client_offers(struct mesos_client *c, bool want)
{
	call_t call = MESOS__V1__SCHEDULER__CALL__INIT;
	call.has_type = true;
	call.type = want ? MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE
	                 : MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS;
	return mesos_client_call(c, &call);
}

/* --- the I/O thread ---------------------------------------------------------------- */

static void flush_batches(struct mesos_client *c, uint64_t t, bool all)
{
	struct batch *due = NULL;
	pthread_mutex_lock(&c->mu);
	for (struct batch **pp = &c->batches; *pp != NULL;) {
		struct batch *b = *pp;
		if (all || b->due_ns <= t) {
			*pp = b->next;
			b->next = due;
			due = b;
		} else {
			pp = &b->next;
		}
	}
	pthread_mutex_unlock(&c->mu);
	for (struct batch *b = due, *n; b != NULL; b = n) {
		n = b->next;
		batch_send(c, b);
	}
}

static void *io(void *arg)
{
	struct mesos_client *c = arg;
	while (!atomic_load(&c->stop)) {
		uint64_t t = clock_mono_ns();
		if (c->sub == NULL && t >= c->next_subscribe_ns)
			subscribe(c);
		/* ~5 missed heartbeats: the stream is dead even if TCP says not */
		if (c->sub != NULL && c->subscribed &&
		    t - c->last_event_ns > (uint64_t)(5 * c->heartbeat_s * 1e9)) {
			sub_end(c);
			resubscribe_later(c, "no heartbeat for 5 intervals");
		}
		flush_batches(c, t, false);
		/* retries that are due go back to the queue */
		for (struct pending **pp = &c->retry; *pp != NULL;) {
			struct pending *q = *pp;
			if (q->not_before_ns <= t) {
				*pp = q->next;
				enqueue(c, q);
			} else {
				pp = &q->next;
			}
		}
		/*
		 * Calls go out once subscribed (they need the stream id), at most
		 * MAX_INFLIGHT at a time: the rest wait in our queue, because
		 * libcurl's handle bookkeeping is linear in the handles it holds.
		 * Other calls go before acknowledgements, which never take the
		 * last ACK_RESERVE places.
		 */
		struct pending *list = NULL, **tail = &list;
		size_t room = MAX_INFLIGHT > c->n_inflight ? MAX_INFLIGHT - c->n_inflight : 0;
		size_t ack_room = MAX_INFLIGHT - ACK_RESERVE > c->n_inflight_acks
		                      ? MAX_INFLIGHT - ACK_RESERVE - c->n_inflight_acks
		                      : 0;
		pthread_mutex_lock(&c->mu);
		for (int k = 0; k < 2; k++)
			while (c->subscribed && c->queue[k] != NULL && room > 0 &&
			       (k == 0 || ack_room > 0)) {
				struct pending *q = c->queue[k];
				c->queue[k] = q->next;
				if (c->queue[k] == NULL)
					c->queue_tail[k] = NULL;
				q->next = NULL;
				*tail = q;
				tail = &q->next;
				room--;
				ack_room -= k;
			}
		pthread_mutex_unlock(&c->mu);
		for (struct pending *q = list, *n; q != NULL; q = n) {
			n = q->next;
			call_send(c, q);
		}
		int running;
		curl_multi_perform(c->m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(c->m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			if (msg->easy_handle == c->sub) {
				sub_done(c, msg->data.result);
			} else {
				struct pending *q = NULL;
				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&q);
				if (q != NULL)
					call_done(c, q, msg->data.result);
			}
		}
		curl_multi_poll(c->m, NULL, 0, 5, NULL);
	}
	flush_batches(c, 0, true);
	return NULL;
}

struct mesos_client *mesos_client_start(const struct mesos_client_config *cfg, char *err,
                                        size_t err_len)
{
	struct mesos_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	c->cfg = *cfg;
	arena_init(&c->ev_arena, 64 * 1024);
	if (!c->cfg.name)
		c->cfg.name = "peloton";
	if (!c->cfg.user)
		c->cfg.user = "root";
	if (!c->cfg.role)
		c->cfg.role = "*";
	if (c->cfg.failover_timeout_s <= 0)
		c->cfg.failover_timeout_s = 100.0 * 7 * 24 * 3600;
	if (c->cfg.backoff_max_s <= 0)
		c->cfg.backoff_max_s = 15;
	if (!c->cfg.batch_window_ms)
		c->cfg.batch_window_ms = 2;
	if (!c->cfg.batch_max_tasks)
		c->cfg.batch_max_tasks = 512;
	snprintf(c->masters, sizeof(c->masters), "%s",
	         cfg->master && cfg->master[0] ? cfg->master : "127.0.0.1:5050");
	configured_master(c, 0);
	if (cfg->framework_id)
		snprintf(c->framework_id, sizeof(c->framework_id), "%s", cfg->framework_id);
	c->backoff_s = 0.1;
	c->heartbeat_s = 15;
	c->rng = (uint64_t)clock_mono_ns() | 1;
	pthread_mutex_init(&c->mu, NULL);
	clock_cond_init(&c->cv);
	c->m = curl_multi_init();
	if (c->m != NULL) {
		/* calls share a few kept-alive connections (beside the stream's);
		 * more transfers wait in curl's queue instead of opening sockets */
		curl_multi_setopt(c->m, CURLMOPT_MAX_HOST_CONNECTIONS, 512L);
		curl_multi_setopt(c->m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 520L);
	}
	if (c->m == NULL || pthread_create(&c->io, NULL, io, c) != 0) {
		snprintf(err, err_len, "cannot start the Mesos client");
		if (c->m)
			curl_multi_cleanup(c->m);
		free(c);
		return NULL;
	}
	pthread_setname_np(c->io, "mesos-io");
	return c;
}

void mesos_client_stop(struct mesos_client *c)
{
	if (c == NULL)
		return;
	atomic_store(&c->stop, 1);
	curl_multi_wakeup(c->m);
	pthread_join(c->io, NULL);
	sub_end(c);
	/* in-flight and queued calls are abandoned */
	for (struct pending *q = c->inflight, *n; q != NULL; q = n) {
		n = q->next;
		curl_multi_remove_handle(c->m, q->h);
		pending_free(q);
	}
	for (int k = 0; k < 2; k++)
		for (struct pending *q = c->queue[k], *n; q != NULL; q = n) {
			n = q->next;
			pending_free(q);
		}
	for (struct pending *q = c->retry, *n; q != NULL; q = n) {
		n = q->next;
		pending_free(q);
	}
	while (c->n_idle > 0)
		curl_easy_cleanup(c->idle[--c->n_idle]);
	curl_multi_cleanup(c->m);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	arena_fini(&c->ev_arena);
	free(c);
}

bool mesos_client_wait_subscribed(struct mesos_client *c, unsigned timeout_ms)
{
	uint64_t until = clock_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	pthread_mutex_lock(&c->mu);
	while (!c->subscribed)
		if (clock_cond_wait(&c->cv, &c->mu, until) != 0)
			break;
	bool ok = c->subscribed;
	pthread_mutex_unlock(&c->mu);
	return ok;
}

bool mesos_client_ended(struct mesos_client *c, char *why, size_t len)
{
	pthread_mutex_lock(&c->mu);
	bool ended = c->ended[0] != '\0';
	if (ended)
		snprintf(why, len, "%s", c->ended);
	pthread_mutex_unlock(&c->mu);
	return ended;
}

bool mesos_client_framework_id(struct mesos_client *c, char *buf, size_t len)
{
	pthread_mutex_lock(&c->mu);
	bool ok = c->framework_id[0] != '\0';
	snprintf(buf, len, "%s", c->framework_id);
	pthread_mutex_unlock(&c->mu);
	return ok;
}

void mesos_client_get_stats(struct mesos_client *c, struct mesos_client_stats *out)
{
	*out = (struct mesos_client_stats){
	    .subscribes = atomic_load(&c->st.subscribes),
	    .events = atomic_load(&c->st.events),
	    .calls_sent = atomic_load(&c->st.calls_sent),
	    .calls_failed = atomic_load(&c->st.calls_failed),
	    .calls_retried = atomic_load(&c->st.calls_retried),
	    .accepts = atomic_load(&c->st.accepts),
	    .tasks_launched = atomic_load(&c->st.tasks_launched),
	    .redirects = atomic_load(&c->st.redirects),
	    .bad_frames = atomic_load(&c->st.bad_frames),
	};
}
