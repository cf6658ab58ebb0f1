/*
 * v0: the v0 JobManager and TaskManager handlers (errors inside OK
 * responses, as upstream's v0 API); the svc TaskService is translated onto
 * the task handlers (svc.c).
 */
#ifndef JM_V0_H
#define JM_V0_H

#include "jm.h"
#include "rpc.h"

/* JobManager */
ProtobufCMessage *jm__v0_create(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
ProtobufCMessage *jm__v0_get(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
ProtobufCMessage *jm__v0_query(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
ProtobufCMessage *jm__v0_delete(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
ProtobufCMessage *jm__v0_update(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
/* TaskManager */
ProtobufCMessage *jm__v0_task_get(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
ProtobufCMessage *jm__v0_task_list(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
ProtobufCMessage *jm__v0_task_query(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
ProtobufCMessage *jm__v0_task_stop(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
ProtobufCMessage *jm__v0_task_start(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
ProtobufCMessage *jm__v0_task_restart(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
/* svc TaskService.RestartTasks: the instances restarted in `stopped`, ranges
 * past the job in `failed` (then nothing restarted). */
ProtobufCMessage *jm__svc_task_restart(void *jm, const ProtobufCMessage *req,
                                       struct rpc_status *st);
ProtobufCMessage *jm__v0_task_events(void *jm, const ProtobufCMessage *req, struct rpc_status *st);
ProtobufCMessage *jm__v0_task_browse(void *jm, const ProtobufCMessage *req, struct rpc_status *st);

/* A JobID message (malloc'd) of id; NULL on ENOMEM. */
Peloton__Api__Peloton__JobID *jm__job_id_pb(const char *id);

#endif
