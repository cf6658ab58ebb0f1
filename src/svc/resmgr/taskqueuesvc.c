/* Legacy TaskQueue service; see taskqueuesvc.h. */
#include <stdlib.h>
#include <string.h>

#include "gangq.h"
#include "proto_codec.h"
#include "taskqueuesvc.h"

struct packed {
	size_t len;
	uint8_t bytes[];
};

struct taskqueue {
	struct gangq *q;
};

struct taskqueue *taskqueue_create(uint32_t capacity)
{
	struct taskqueue *tq = calloc(1, sizeof(*tq));
	if (tq == NULL || (tq->q = gangq_create(capacity ? capacity : 65536)) == NULL) {
		free(tq);
		return NULL;
	}
	return tq;
}

void taskqueue_destroy(struct taskqueue *tq)
{
	void *items[64];
	size_t n;

	if (tq == NULL)
		return;
	while ((n = gangq_dequeue_mpmc(tq->q, items, 64, 0)) > 0)
		for (size_t i = 0; i < n; i++)
			free(items[i]);
	gangq_destroy(tq->q);
	free(tq);
}

Peloton__Private__Resmgr__Taskqueue__EnqueueResponse *
taskqueue_enqueue(struct taskqueue *tq,
                  const Peloton__Private__Resmgr__Taskqueue__EnqueueRequest *r, size_t *taken)
{
	ProtobufCMessage *resp =
	    proto_new(&peloton__private__resmgr__taskqueue__enqueue_response__descriptor);
	size_t n = 0;

	for (size_t i = 0; resp && r && i < r->n_tasks; i++) {
		size_t len = protobuf_c_message_get_packed_size(&r->tasks[i]->base);
		struct packed *p = malloc(sizeof(*p) + len);
		if (p == NULL)
			break;
		p->len = len;
		protobuf_c_message_pack(&r->tasks[i]->base, p->bytes);
		if (!gangq_enqueue_mpmc(tq->q, p)) {
			free(p); /* full */
			break;
		}
		n++;
	}
	if (taken != NULL)
		*taken = n;
	return (Peloton__Private__Resmgr__Taskqueue__EnqueueResponse *)resp;
}

Peloton__Private__Resmgr__Taskqueue__DequeueResponse *
taskqueue_dequeue(struct taskqueue *tq,
                  const Peloton__Private__Resmgr__Taskqueue__DequeueRequest *r)
{
	Peloton__Private__Resmgr__Taskqueue__DequeueResponse *resp =
	    (Peloton__Private__Resmgr__Taskqueue__DequeueResponse *)proto_new(
	        &peloton__private__resmgr__taskqueue__dequeue_response__descriptor);
	void *items[256];
	size_t limit = r && r->limit ? r->limit : 10;

	if (resp == NULL)
		return NULL;
	if (limit > 256)
		limit = 256;
	size_t n = gangq_dequeue_mpmc(tq->q, items, limit, 0);
	resp->tasks = calloc(n ? n : 1, sizeof(*resp->tasks));
	for (size_t i = 0; i < n; i++) {
		struct packed *p = items[i];
		Peloton__Api__Task__TaskInfo *t =
		    resp->tasks
		        ? (Peloton__Api__Task__TaskInfo *)protobuf_c_message_unpack(
		              &peloton__api__task__task_info__descriptor, NULL, p->len, p->bytes)
		        : NULL;
		if (t != NULL)
			resp->tasks[resp->n_tasks++] = t;
		free(p);
	}
	if (resp->tasks == NULL) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return NULL;
	}
	return resp;
}
