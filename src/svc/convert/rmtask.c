/* resmgr.Task as a task spec; see rmtask.h. */
#include "rmtask.h"

#include "proto_codec.h"

bool rmtask_spec(const Peloton__Private__Resmgr__Task *t, struct resmgr_task_spec *s)
{
	const Peloton__Api__Task__ResourceConfig *r = t->resource;
	size_t len = 0;
	bool known = (int)t->type > 0 && (int)t->type < RM_N_TYPES;

	*s = (struct resmgr_task_spec){
	    .id = t->id ? t->id->value : NULL,
	    .job_id = t->jobid ? t->jobid->value : NULL,
	    .priority = t->priority,
	    .preemptible = t->preemptible,
	    .controller = t->controller,
	    .type = known ? (enum resmgr_task_type)t->type : RM_TYPE_BATCH,
	    .num_ports = t->numports,
	};
	if (r != NULL) {
		s->res[RES_CPU] = r->cpulimit;
		s->res[RES_MEMORY] = r->memlimitmb;
		s->res[RES_DISK] = r->disklimitmb;
		s->res[RES_GPU] = r->gpulimit;
	}
	s->payload = proto_pack_alloc(&t->base, &len);
	s->payload_len = len;
	return s->payload != NULL;
}
