#include "grpccli.h"
#include "grpcinit.h"
#include "log.h"
#include "proto_codec.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

const grpc_arg grpccli_args[] = {
    {GRPC_ARG_INTEGER, (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = 256 << 20}},
    /* each client its own connection (benchmarks count connections) */
    {GRPC_ARG_INTEGER, (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, {.integer = 1}},
    /* our callers retry where it is safe themselves; the core's retry
     * filter would buffer every call's messages for nothing */
    {GRPC_ARG_INTEGER, (char *)GRPC_ARG_ENABLE_RETRIES, {.integer = 0}},
    {GRPC_ARG_INTEGER, (char *)GRPC_ARG_ENABLE_CHANNELZ, {.integer = 0}},
    {GRPC_ARG_INTEGER, (char *)GRPC_ARG_HTTP2_BDP_PROBE, {.integer = 0}},
};
const size_t grpccli_n_args = sizeof(grpccli_args) / sizeof(grpccli_args[0]);

struct grpccli {
	grpc_channel *ch;
	grpc_completion_queue *cq; /* one per client, reused by every call */
	pthread_mutex_t mu;        /* calls on one client take turns */
};

struct grpccli *grpccli_create(const char *target)
{
	pel_grpc_init();
	struct grpccli *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	grpc_channel_credentials *cr = grpc_insecure_credentials_create();
	grpc_channel_args ca = {grpccli_n_args, (grpc_arg *)grpccli_args};
	c->ch = grpc_channel_create(target, cr, &ca);
	grpc_channel_credentials_release(cr);
	c->cq = grpc_completion_queue_create_for_pluck(NULL);
	if (!c->ch || !c->cq) {
		if (c->ch)
			grpc_channel_destroy(c->ch);
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void grpccli_destroy(struct grpccli *c)
{
	if (!c)
		return;
	grpc_channel_destroy(c->ch);
	grpc_completion_queue_shutdown(c->cq);
	while (grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
	           .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(c->cq);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void grpccli_call(struct grpccli *c, const char *path, const uint8_t *req, size_t req_len,
                  unsigned timeout_ms, uint8_t **resp, size_t *resp_len, struct rpc_status *st)
{
	*resp = NULL;
	*resp_len = 0;
	st->code = RPC_OK;
	st->msg[0] = 0;
	pthread_mutex_lock(&c->mu);
	grpc_completion_queue *cq = c->cq;
	gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
	                               gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
	grpc_slice method = grpc_slice_from_copied_string(path);
	grpc_call *call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
	                                           NULL, dl, NULL);
	grpc_slice_unref(method);
	grpc_slice body = grpc_slice_from_copied_buffer((const char *)req, req_len);
	grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&body, 1);
	grpc_slice_unref(body);
	grpc_byte_buffer *recv = NULL;
	grpc_metadata_array init_md, trail_md;
	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trail_md);
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
	ops[5].data.recv_status_on_client.status = &code;
	ops[5].data.recv_status_on_client.status_details = &details;
	grpc_call_error e = grpc_call_start_batch(call, ops, 6, (void *)1, NULL);
	if (e == GRPC_CALL_OK)
		grpc_completion_queue_pluck(cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME),
		                            NULL);
	else
		code = GRPC_STATUS_INTERNAL;
	st->code = (enum rpc_code)code;
	if (code != GRPC_STATUS_OK) {
		snprintf(st->msg, sizeof(st->msg), "%.*s", (int)GRPC_SLICE_LENGTH(details),
		         (const char *)GRPC_SLICE_START_PTR(details));
	} else if (recv) {
		grpc_byte_buffer_reader rd;
		if (grpc_byte_buffer_reader_init(&rd, recv)) {
			grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
			grpc_byte_buffer_reader_destroy(&rd);
			*resp_len = GRPC_SLICE_LENGTH(all);
			*resp = malloc(*resp_len ? *resp_len : 1);
			if (*resp)
				memcpy(*resp, GRPC_SLICE_START_PTR(all), *resp_len);
			else
				rpc_fail(st, RPC_INTERNAL, "out of memory");
			grpc_slice_unref(all);
		}
	}
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trail_md);
	grpc_call_unref(call);
	pthread_mutex_unlock(&c->mu);
}

ProtobufCMessage *grpccli_call_msg(struct grpccli *c, const char *path, const ProtobufCMessage *req,
                                   const ProtobufCMessageDescriptor *rd, unsigned timeout_ms,
                                   struct rpc_status *st)
{
	size_t len = 0, rlen = 0;
	uint8_t *buf = proto_pack_alloc(req, &len), *resp = NULL;
	ProtobufCMessage *m = NULL;
	const char *why = NULL;

	if (buf == NULL) {
		st->code = RPC_INTERNAL;
		snprintf(st->msg, sizeof(st->msg), "out of memory");
		return NULL;
	}
	grpccli_call(c, path, buf, len, timeout_ms, &resp, &rlen, st);
	free(buf);
	if (st->code == RPC_OK && (m = proto_decode(rd, resp, rlen, NULL, &why)) == NULL) {
		st->code = RPC_INTERNAL;
		snprintf(st->msg, sizeof(st->msg), "undecodable response: %s", why);
	}
	free(resp);
	return m;
}

ProtobufCMessage *grpccli_call_watched(struct grpccli *c, _Atomic bool *down,
                                       const struct grpccli_watch *w, const char *path,
                                       const ProtobufCMessage *req,
                                       const ProtobufCMessageDescriptor *rd, unsigned timeout_ms)
{
	struct rpc_status st = {0};
	atomic_fetch_add(w->calls, 1);
	ProtobufCMessage *m = grpccli_call_msg(c, path, req, rd, timeout_ms, &st);
	if (m == NULL) {
		atomic_fetch_add(w->failed, 1);
		bool was_down = atomic_exchange(down, st.code == RPC_UNAVAILABLE);
		if (!was_down || st.code != RPC_UNAVAILABLE)
			log_warn(w->module, "%s: %s failed: %s (code %d)%s", w->peer, path, st.msg,
			         (int)st.code,
			         st.code == RPC_UNAVAILABLE ? "; retrying quietly until it answers"
			                                    : "");
	} else if (atomic_exchange(down, false)) {
		log_info(w->module, "%s answers %s again", w->peer, path);
	}
	return m;
}
