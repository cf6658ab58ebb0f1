/*
 * taskqueuesvc: the legacy peloton.private.resmgr.taskqueue.TaskQueue
 * service — a FIFO of TaskInfo messages (Enqueue a list, Dequeue up to a
 * limit), kept as packed bytes in a lock-free queue (src/hot/gangq).
 * Bounded: Enqueue stops at capacity and reports how many it took.
 * Responses are malloc'd in protobuf-c's unpacked layout.
 */
#ifndef TASKQUEUESVC_H
#define TASKQUEUESVC_H

#include <stddef.h>

#include "peloton/private/resmgr/taskqueue/taskqueue.pb-c.h"

struct taskqueue;

struct taskqueue *taskqueue_create(uint32_t capacity);
void taskqueue_destroy(struct taskqueue *q);

/* Enqueues every task; *taken (may be NULL) = how many fit. NULL on ENOMEM. */
Peloton__Private__Resmgr__Taskqueue__EnqueueResponse *
taskqueue_enqueue(struct taskqueue *q, const Peloton__Private__Resmgr__Taskqueue__EnqueueRequest *r,
                  size_t *taken);

/* Dequeues up to limit (0 = 10) tasks, oldest first. NULL on ENOMEM. */
Peloton__Private__Resmgr__Taskqueue__DequeueResponse *
taskqueue_dequeue(struct taskqueue *q,
                  const Peloton__Private__Resmgr__Taskqueue__DequeueRequest *r);

#endif
