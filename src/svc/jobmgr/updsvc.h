/* updsvc: the UpdateService handlers (updsvc.c), bound beside the job
 * manager's other methods. */
#ifndef JM_UPDSVC_H
#define JM_UPDSVC_H

#include "jm.h"
#include "rpc.h"

void jm__updsvc_bind(struct jobmgr *jm, struct rpc_table *t);

#endif
