/*
 * rmtask: a resmgr.Task protobuf as the resource manager's task spec
 * (resmgr_seam.h). The spec's payload is the task packed, so the Task a
 * job manager enqueues reaches the placement engine whole — constraint,
 * labels, ports and all — wherever the roles run.
 */
#ifndef RMTASK_H
#define RMTASK_H

#include <stdbool.h>

#include "peloton/private/resmgr/resmgr.pb-c.h"
#include "resmgr_seam.h"

/*
 * *s from t (strings borrowed from t); s->payload is t packed, malloc'd:
 * the caller frees it. An unknown task type counts as BATCH. False on
 * ENOMEM.
 */
bool rmtask_spec(const Peloton__Private__Resmgr__Task *t, struct resmgr_task_spec *s);

#endif
