/*
 * resmgrsvc: the protobuf face of the resource manager core
 * (peloton.private.resmgr.ResourceManagerService, resmgrsvc.proto).
 *
 * Each handler takes the decoded request and returns a response built with
 * malloc in protobuf-c's unpacked layout (free with
 * protobuf_c_message_free_unpacked(&resp->base, NULL)); NULL only on
 * ENOMEM. Errors are reported inside the response as resmgrsvc.proto lists
 * them (error.notFound, error.failure with per-task / per-placement
 * entries, ...), with a message naming the task and the reason.
 *
 * A resmgr.Task travels through the core as its packed bytes (the core's
 * opaque payload), so DequeueGangs returns exactly the Task the job manager
 * enqueued: constraint, labels, ports and all.
 *
 * Status updates (NotifyTaskUpdates) name tasks by Mesos task id
 * "<job>-<instance>-<run>" or by Peloton task id "<job>-<instance>"; both
 * are accepted.
 */
#ifndef RESMGRSVC_H
#define RESMGRSVC_H

#include "peloton/private/resmgr/resmgrsvc.pb-c.h"
#include "resmgr.h"

typedef Peloton__Private__Resmgr__EnqueueGangsRequest resmgrsvc_enqueue_req;
typedef Peloton__Private__Resmgr__EnqueueGangsResponse resmgrsvc_enqueue_resp;
typedef Peloton__Private__Resmgr__DequeueGangsRequest resmgrsvc_dequeue_req;
typedef Peloton__Private__Resmgr__DequeueGangsResponse resmgrsvc_dequeue_resp;
typedef Peloton__Private__Resmgr__SetPlacementsRequest resmgrsvc_setpl_req;
typedef Peloton__Private__Resmgr__SetPlacementsResponse resmgrsvc_setpl_resp;
typedef Peloton__Private__Resmgr__GetPlacementsRequest resmgrsvc_getpl_req;
typedef Peloton__Private__Resmgr__GetPlacementsResponse resmgrsvc_getpl_resp;
typedef Peloton__Private__Resmgr__NotifyTaskUpdatesRequest resmgrsvc_notify_req;
typedef Peloton__Private__Resmgr__NotifyTaskUpdatesResponse resmgrsvc_notify_resp;
typedef Peloton__Private__Resmgr__KillTasksRequest resmgrsvc_kill_req;
typedef Peloton__Private__Resmgr__KillTasksResponse resmgrsvc_kill_resp;
typedef Peloton__Private__Resmgr__GetActiveTasksRequest resmgrsvc_active_req;
typedef Peloton__Private__Resmgr__GetActiveTasksResponse resmgrsvc_active_resp;
typedef Peloton__Private__Resmgr__GetTasksByHostsRequest resmgrsvc_byhost_req;
typedef Peloton__Private__Resmgr__GetTasksByHostsResponse resmgrsvc_byhost_resp;
typedef Peloton__Private__Resmgr__GetPreemptibleTasksRequest resmgrsvc_preempt_req;
typedef Peloton__Private__Resmgr__GetPreemptibleTasksResponse resmgrsvc_preempt_resp;

resmgrsvc_enqueue_resp *resmgrsvc_enqueue_gangs(struct resmgr *rm, const resmgrsvc_enqueue_req *r);
/* timeout in the request is in milliseconds (resmgrsvc.proto). */
resmgrsvc_dequeue_resp *resmgrsvc_dequeue_gangs(struct resmgr *rm, const resmgrsvc_dequeue_req *r);
resmgrsvc_setpl_resp *resmgrsvc_set_placements(struct resmgr *rm, const resmgrsvc_setpl_req *r);
resmgrsvc_getpl_resp *resmgrsvc_get_placements(struct resmgr *rm, const resmgrsvc_getpl_req *r);
resmgrsvc_notify_resp *resmgrsvc_notify_task_updates(struct resmgr *rm,
                                                     const resmgrsvc_notify_req *r);
resmgrsvc_kill_resp *resmgrsvc_kill_tasks(struct resmgr *rm, const resmgrsvc_kill_req *r);
resmgrsvc_active_resp *resmgrsvc_get_active_tasks(struct resmgr *rm, const resmgrsvc_active_req *r);
resmgrsvc_byhost_resp *resmgrsvc_get_tasks_by_hosts(struct resmgr *rm,
                                                    const resmgrsvc_byhost_req *r);
resmgrsvc_preempt_resp *resmgrsvc_get_preemptible_tasks(struct resmgr *rm,
                                                        const resmgrsvc_preempt_req *r);

#endif
