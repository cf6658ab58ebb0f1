#define _GNU_SOURCE /* pthread_setname_np */
#include "grpcsrv.h"
#include "grpcinit.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "log.h"

enum stage { ST_REQUESTED, ST_RECEIVED, ST_SENT, ST_SHUTDOWN };

struct worker;

struct gcall {
	enum stage stage;
	struct worker *w;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *req, *resp;
	grpc_slice status_msg;
	int cancelled;
	/* registered calls: the method is known and the payload comes with the
	 * call (one batch less); NULL for the generic slots */
	struct reg *reg;
	gpr_timespec deadline;
	bool on_lp; /* being run by a long-poll thread */
};

/* A path registered with the core (canonical or alias). */
struct reg {
	void *handle;
	struct rpc_method *m;
	const char *path;
};

struct worker {
	struct grpcsrv *s;
	grpc_completion_queue *cq;
	pthread_t thread;
	struct gcall *calls;
};

/*
 * The long-poll threads: calls of long_poll methods wait here instead of on
 * a worker (a worker blocked in WaitForEvents held back every call queued
 * behind it on its completion queue). Threads are made on demand up to
 * max_long_polls and then kept; a call finding every one busy is answered
 * RESOURCE_EXHAUSTED at once.
 */
struct lp_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct gcall **q; /* waiting for a thread, at most max */
	size_t nq;
	unsigned threads, idle, busy; /* made; waiting for work; running a call */
	pthread_t *tid;
	bool stop;
};

struct grpcsrv {
	struct grpcsrv_config cfg;
	struct lp_pool lp;
	struct rpc_table *t;
	struct reg *regs;
	size_t n_regs;
	grpc_server *server;
	grpc_completion_queue *shutdown_cq;
	struct worker *workers;
	unsigned n_workers;
	int port;
	_Atomic bool stopping;
};

static void request(struct gcall *c)
{
	c->stage = ST_REQUESTED;
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	grpc_call_error e = grpc_server_request_call(c->w->s->server, &c->call, &c->details, &c->md,
	                                             c->w->cq, c->w->cq, c);
	if (e != GRPC_CALL_OK) {
		log_warn("grpc", "request_call failed: %d", (int)e);
		c->stage = ST_SHUTDOWN;
	}
}

/* Posts one request for a registered path; the gcall is freed when done. */
static void request_reg(struct worker *w, struct reg *r)
{
	struct gcall *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->w = w;
	c->reg = r;
	c->stage = ST_REQUESTED;
	c->status_msg = grpc_empty_slice();
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	if (grpc_server_request_registered_call(w->s->server, r->handle, &c->call, &c->deadline,
	                                        &c->md, &c->req, w->cq, w->cq, c) != GRPC_CALL_OK) {
		grpc_call_details_destroy(&c->details);
		grpc_metadata_array_destroy(&c->md);
		free(c);
	}
}

static void reset(struct gcall *c)
{
	if (c->call)
		grpc_call_unref(c->call);
	c->call = NULL;
	if (c->req)
		grpc_byte_buffer_destroy(c->req);
	if (c->resp)
		grpc_byte_buffer_destroy(c->resp);
	c->req = c->resp = NULL;
	grpc_slice_unref(c->status_msg);
	c->status_msg = grpc_empty_slice();
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
}

static void start_recv(struct gcall *c)
{
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->req;
	c->stage = ST_RECEIVED;
	if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK) {
		reset(c);
		request(c);
	}
}

static bool answer(struct gcall *c, struct rpc_status *st, uint8_t *out, size_t out_len);
static bool long_poll_submit(struct grpcsrv *s, struct gcall *c);

/*
 * Runs the method (on a long-poll thread for long_poll methods) and answers.
 * True when a registered call's answer could not be sent: the caller frees
 * it. Otherwise c is no longer the caller's (its completion frees it).
 */
static bool respond(struct gcall *c)
{
	struct grpcsrv *s = c->w->s;
	struct rpc_status st = {RPC_OK, ""};
	uint8_t *out = NULL;
	size_t out_len = 0;
	size_t plen = c->reg ? strlen(c->reg->path) : GRPC_SLICE_LENGTH(c->details.method);
	const char *path =
	    c->reg ? c->reg->path : (const char *)GRPC_SLICE_START_PTR(c->details.method);
	struct rpc_method *m = c->reg ? c->reg->m : rpc_lookup_path(s->t, path, plen);
	gpr_timespec deadline = c->reg ? c->deadline : c->details.deadline;

	if (m && m->long_poll && c->reg && !c->on_lp) {
		if (long_poll_submit(s, c))
			return false; /* a long-poll thread answers */
		rpc_fail(&st, RPC_RESOURCE_EXHAUSTED,
		         "%u long polls in progress, the most this server runs at once",
		         s->cfg.max_long_polls);
		return !answer(c, &st, NULL, 0) && c->reg;
	}
	if (!m) {
		rpc_fail(&st, RPC_UNIMPLEMENTED, "unknown method %.*s", (int)plen, path);
	} else if (!c->req) {
		rpc_fail(&st, RPC_INVALID_ARGUMENT, "no request message");
	} else if (gpr_time_cmp(gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC),
	                        gpr_now(GPR_CLOCK_MONOTONIC)) < 0) {
		rpc_fail(&st, RPC_DEADLINE_EXCEEDED, "deadline passed before the call ran");
	} else {
		grpc_byte_buffer_reader rd;
		grpc_slice body;
		if (!grpc_byte_buffer_reader_init(&rd, c->req)) {
			rpc_fail(&st, RPC_INVALID_ARGUMENT, "unreadable request (compression?)");
		} else {
			body = grpc_byte_buffer_reader_readall(&rd);
			grpc_byte_buffer_reader_destroy(&rd);
			rpc_invoke(m, RPC_ENC_PROTO, GRPC_SLICE_START_PTR(body),
			           GRPC_SLICE_LENGTH(body), &out, &out_len, &st);
			grpc_slice_unref(body);
		}
	}
	return !answer(c, &st, out, out_len) && c->reg;
}

/*
 * Sends the response (out is taken) or the status, in one batch. True when
 * sent. Refused: a generic slot is requested again, a registered call is
 * left to the caller to free.
 */
static bool answer(struct gcall *c, struct rpc_status *stp, uint8_t *out, size_t out_len)
{
	struct rpc_status st = *stp;
	grpc_op ops[4];
	size_t n = 0;
	memset(ops, 0, sizeof(ops));
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (st.code == RPC_OK) {
		/* the slice takes the response buffer over (no copy) */
		grpc_slice sl = out ? grpc_slice_new(out, out_len, free) : grpc_empty_slice();
		out = NULL;
		c->resp = grpc_raw_byte_buffer_create(&sl, 1);
		grpc_slice_unref(sl);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->resp;
	}
	free(out);
	c->status_msg = grpc_slice_from_copied_string(st.msg);
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = (grpc_status_code)st.code;
	ops[n++].data.send_status_from_server.status_details = st.msg[0] ? &c->status_msg : NULL;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	c->stage = ST_SENT;
	if (grpc_call_start_batch(c->call, ops, n, c, NULL) == GRPC_CALL_OK)
		return true;
	if (!c->reg) {
		reset(c);
		request(c);
	}
	return false;
}

static void reg_free(struct gcall *c)
{
	reset(c);
	grpc_slice_unref(c->status_msg);
	free(c);
}

/* A registered call's step: arrived (post the next, answer) or answered. */
static void reg_event(struct worker *w, struct gcall *c, int ok)
{
	if (c->stage == ST_REQUESTED) {
		if (!ok) { /* shutting down */
			grpc_call_details_destroy(&c->details);
			grpc_metadata_array_destroy(&c->md);
			grpc_slice_unref(c->status_msg);
			free(c);
			return;
		}
		if (!w->s->stopping)
			request_reg(w, c->reg);
		if (respond(c)) /* the batch was refused */
			reg_free(c);
		return;
	}
	reg_free(c);
}

static void *lp_main(void *arg)
{
	struct grpcsrv *s = arg;
	struct lp_pool *p = &s->lp;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->nq == 0 && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->nq == 0)
			break;
		struct gcall *c = p->q[--p->nq];
		p->idle--;
		p->busy++;
		pthread_mutex_unlock(&p->mu);
		c->on_lp = true;
		if (respond(c)) /* the batch was refused */
			reg_free(c);
		pthread_mutex_lock(&p->mu);
		p->busy--;
		p->idle++;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Hands c to a long-poll thread (made if none is idle); false when all max are busy. */
static bool long_poll_submit(struct grpcsrv *s, struct gcall *c)
{
	struct lp_pool *p = &s->lp;
	bool ok = false;
	pthread_mutex_lock(&p->mu);
	if (p->stop || p->busy + p->nq >= s->cfg.max_long_polls)
		goto out;
	if (p->idle <= p->nq) {
		if (p->threads == s->cfg.max_long_polls ||
		    pthread_create(&p->tid[p->threads], NULL, lp_main, s) != 0)
			goto out;
		pthread_setname_np(p->tid[p->threads], "grpc-longpoll");
		p->threads++;
		p->idle++;
	}
	p->q[p->nq++] = c;
	pthread_cond_signal(&p->cv);
	ok = true;
out:
	pthread_mutex_unlock(&p->mu);
	return ok;
}

/* Joins the long-poll threads (their answers go out first) and frees the pool. */
static void lp_stop(struct lp_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->threads; i++)
		pthread_join(p->tid[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->q);
	free(p->tid);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (;;) {
		grpc_event ev =
		    grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		struct gcall *c = ev.tag;
		if (c->reg) {
			reg_event(w, c, ev.success);
			continue;
		}
		switch (c->stage) {
		case ST_REQUESTED:
			if (!ev.success) { /* server shutting down */
				grpc_call_details_destroy(&c->details);
				grpc_metadata_array_destroy(&c->md);
				c->stage = ST_SHUTDOWN;
				break;
			}
			start_recv(c);
			break;
		case ST_RECEIVED:
			if (!ev.success) {
				reset(c);
				if (!w->s->stopping)
					request(c);
				else
					c->stage = ST_SHUTDOWN;
				break;
			}
			respond(c);
			break;
		case ST_SENT:
			reset(c);
			if (!w->s->stopping)
				request(c);
			else
				c->stage = ST_SHUTDOWN;
			break;
		case ST_SHUTDOWN:
			break;
		}
	}
	return NULL;
}

struct grpcsrv *grpcsrv_start(const struct grpcsrv_config *cfg, struct rpc_table *t, char *err,
                              size_t errlen)
{
	pel_grpc_init();

	struct grpcsrv *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	s->t = t;
	if (!s->cfg.workers)
		s->cfg.workers = 4;
	if (!s->cfg.slots)
		s->cfg.slots = 8;

	if (!s->cfg.max_request_bytes)
		s->cfg.max_request_bytes = 4u << 20;
	if (!s->cfg.grace_ms)
		s->cfg.grace_ms = 5000;
	if (!s->cfg.max_long_polls)
		s->cfg.max_long_polls = 32;
	pthread_mutex_init(&s->lp.mu, NULL);
	pthread_cond_init(&s->lp.cv, NULL);
	s->lp.q = calloc(s->cfg.max_long_polls, sizeof(*s->lp.q));
	s->lp.tid = calloc(s->cfg.max_long_polls, sizeof(*s->lp.tid));
	if (!s->lp.q || !s->lp.tid) {
		free(s->lp.q);
		free(s->lp.tid);
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}

	grpc_arg args[] = {
	    {GRPC_ARG_INTEGER,
	     (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
	     {.integer = (int)s->cfg.max_request_bytes}},
	    {GRPC_ARG_INTEGER, (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = 64 << 20}},
	    /* per-call bookkeeping nothing here reads: channelz call counters,
	     * and BDP pings (flow-control window probing for bulk streams;
	     * our messages are small and unary) */
	    {GRPC_ARG_INTEGER, (char *)GRPC_ARG_ENABLE_CHANNELZ, {.integer = 0}},
	    {GRPC_ARG_INTEGER, (char *)GRPC_ARG_HTTP2_BDP_PROBE, {.integer = 0}},
	};
	grpc_channel_args ca = {sizeof(args) / sizeof(args[0]), args};
	s->server = grpc_server_create(&ca, NULL);
	s->n_workers = s->cfg.workers;
	s->workers = calloc(s->n_workers, sizeof(*s->workers));
	if (!s->workers)
		goto error;
	for (unsigned i = 0; i < s->n_workers; i++) {
		s->workers[i].s = s;
		s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
		grpc_server_register_completion_queue(s->server, s->workers[i].cq, NULL);
	}
	s->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	s->port = grpc_server_add_http2_port(s->server, cfg->addr, creds);
	grpc_server_credentials_release(creds);
	if (s->port <= 0) {
		snprintf(err, errlen, "cannot bind gRPC to %s", cfg->addr);
		goto error;
	}
	s->n_regs = rpc_n_paths(t);
	s->regs = calloc(s->n_regs ? s->n_regs : 1, sizeof(*s->regs));
	if (!s->regs)
		goto error;
	for (size_t i = 0; i < s->n_regs; i++) {
		s->regs[i].path = rpc_path_at(t, i, &s->regs[i].m);
		s->regs[i].handle = grpc_server_register_method(
		    s->server, s->regs[i].path, NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	}
	grpc_server_start(s->server);
	for (unsigned i = 0; i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];
		w->calls = calloc(s->cfg.slots, sizeof(*w->calls));
		if (!w->calls)
			goto error;
		for (unsigned k = 0; k < s->cfg.slots; k++) {
			w->calls[k].w = w;
			w->calls[k].status_msg = grpc_empty_slice();
			request(&w->calls[k]);
		}
		for (size_t r = 0; r < s->n_regs; r++)
			if (s->regs[r].handle)
				request_reg(w, &s->regs[r]);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			snprintf(err, errlen, "cannot start gRPC worker threads");
			goto error; /* not reached in practice; threads already started leak */
		}
		pthread_setname_np(w->thread, "grpc-worker");
	}
	log_info("grpc", "serving gRPC on %s (port %d, %u workers)", cfg->addr, s->port,
	         s->n_workers);
	return s;
error:
	if (!err[0])
		snprintf(err, errlen, "out of memory");
	if (s->server) {
		grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, NULL);
		grpc_completion_queue_pluck(s->shutdown_cq, NULL,
		                            gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		grpc_server_destroy(s->server);
	}
	for (unsigned i = 0; s->workers && i < s->n_workers; i++) {
		grpc_completion_queue_shutdown(s->workers[i].cq);
		grpc_event ev;
		do
			ev = grpc_completion_queue_next(s->workers[i].cq,
			                                gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		while (ev.type != GRPC_QUEUE_SHUTDOWN);
		grpc_completion_queue_destroy(s->workers[i].cq);
		free(s->workers[i].calls);
	}
	if (s->shutdown_cq) {
		grpc_completion_queue_shutdown(s->shutdown_cq);
		grpc_completion_queue_destroy(s->shutdown_cq);
	}
	free(s->workers);
	free(s->regs);
	lp_stop(&s->lp);
	free(s);
	return NULL;
}

int grpcsrv_port(const struct grpcsrv *s)
{
	return s->port;
}

void grpcsrv_stop(struct grpcsrv *s)
{
	if (!s)
		return;
	s->stopping = true;
	grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, s);
	grpc_event ev = grpc_completion_queue_pluck(
	    s->shutdown_cq, s,
	    gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
	                 gpr_time_from_millis(s->cfg.grace_ms, GPR_TIMESPAN)),
	    NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT) {
		log_warn("grpc", "calls still running after %u ms; cancelling them",
		         s->cfg.grace_ms);
		grpc_server_cancel_all_calls(s->server);
		grpc_completion_queue_pluck(s->shutdown_cq, s, gpr_inf_future(GPR_CLOCK_REALTIME),
		                            NULL);
	}
	lp_stop(&s->lp);
	for (unsigned i = 0; i < s->n_workers; i++)
		grpc_completion_queue_shutdown(s->workers[i].cq);
	for (unsigned i = 0; i < s->n_workers; i++) {
		pthread_join(s->workers[i].thread, NULL);
		grpc_completion_queue_destroy(s->workers[i].cq);
		for (unsigned k = 0; k < s->cfg.slots; k++)
			grpc_slice_unref(s->workers[i].calls[k].status_msg);
		free(s->workers[i].calls);
	}
	grpc_server_destroy(s->server);
	grpc_completion_queue_shutdown(s->shutdown_cq);
	grpc_completion_queue_destroy(s->shutdown_cq);
	free(s->workers);
	free(s->regs);
	free(s);
}
