/*
 * launchable: the Mesos TaskInfo built from a launchable (hostmgr_seam.h:
 * a task as the host manager is asked to launch it — the Mesos task id,
 * the task's config, the ports chosen for it). The job manager hands
 * launchables to its host manager — in process, or over LaunchTasks when
 * the host manager runs apart — and the host manager builds the TaskInfos
 * for the ACCEPT, as upstream's host manager did.
 */
#ifndef LAUNCHABLE_H
#define LAUNCHABLE_H

#include <stddef.h>
#include <stdint.h>

#include "mesos/v1/mesos.pb-c.h"
#include "peloton/api/task/task.pb-c.h"
#include "peloton/private/hostmgr/hostsvc/hostsvc.pb-c.h"
#include "hostmgr_seam.h"

/* Everything one TaskInfo borrows besides the launchable itself. */
struct taskinfo_buf {
	Mesos__V1__TaskInfo ti;
	Mesos__V1__TaskID tid;
	Mesos__V1__AgentID aid;
	Mesos__V1__Resource res[6], *resp[6];
	Mesos__V1__Value__Scalar sc[4];
	Mesos__V1__Value__Ranges rgs;
	Mesos__V1__Value__Range rg[LAUNCHABLE_MAX_PORTS], *rgp[LAUNCHABLE_MAX_PORTS];
	Mesos__V1__CommandInfo cmd;
	Mesos__V1__Environment env;
	Mesos__V1__Environment__Variable var[24], *varp[64];
	size_t n_own;
	Mesos__V1__HealthCheck hc;
	Mesos__V1__CommandInfo hc_cmd;
	Mesos__V1__Labels labels;
	Mesos__V1__Label lab[LAUNCHABLE_MAX_LABELS], *labp[LAUNCHABLE_MAX_LABELS];
	char job[64], inst[16], ptask[96], portv[LAUNCHABLE_MAX_PORTS][12];
	/* a task on a persistent volume (launchable_reserve) */
	Mesos__V1__Resource__ReservationInfo ri;
	Mesos__V1__Labels rlabels;
	Mesos__V1__Label rlab[2], *rlabp[2];
	Mesos__V1__Resource__DiskInfo vdi;
	Mesos__V1__Resource__DiskInfo__Persistence vpe;
	Mesos__V1__Volume vvol;
	Mesos__V1__Resource vdisk; /* the volume's size as reserved disk (RESERVE) */
	Mesos__V1__Value__Scalar vdisk_sc;
	Mesos__V1__Resource *resv[5]; /* RESERVE's resources */
	size_t n_resv;
	Mesos__V1__Resource *vol; /* CREATE's volume (in the task's resources too) */
};

/*
 * Builds x->ti: resources from the config's limits (and the ports as one
 * ranges resource), the command with the config's environment plus
 * PELOTON_JOB_ID, PELOTON_INSTANCE_ID, PELOTON_TASK_ID and each named
 * port's envName, the container, labels and an enabled COMMAND
 * healthCheck as Mesos's HealthCheck (zero fields: Mesos's defaults; the
 * check shares the task's environment unless unshareEnvironments). x
 * borrows from lt and agent:
 * keep them alive while x->ti is used. -1 when the task id is not
 * <job>-<instance>-<run> or the config is missing.
 */
int launchable_taskinfo(const struct launchable *lt, const char *agent_id, struct taskinfo_buf *x);

/* A stateful task's reservation labels, job_id and instance_id (storage in l,
 * lab, labp; the values borrowed). */
void launchable_labels(Mesos__V1__Labels *l, Mesos__V1__Label lab[2], Mesos__V1__Label *labp[2],
                       const char *job, const char *inst);

/* DESTROY of a stateful task's volume and UNRESERVE of everything reserved
 * under its labels, as Peloton offer operations (x->ops[0..2)). */
struct launchable_teardown {
	Peloton__Private__Hostmgr__Hostsvc__OfferOperation des, un, *ops[2];
	Peloton__Private__Hostmgr__Hostsvc__OfferOperation__Destroy d;
	Peloton__Private__Hostmgr__Hostsvc__OfferOperation__Unreserve u;
	char label[256];
};
void launchable_teardown(struct launchable_teardown *x, const char *volume_id, const char *job,
                         uint32_t instance);

/* r as the scalar resource name = x (v its value's storage); returns r. */
Mesos__V1__Resource *launchable_scalar(Mesos__V1__Resource *r, Mesos__V1__Value__Scalar *v,
                                       const char *name, double x);

/* "<job>-<instance>-<run>": its job and instance into job and inst. 0 or -1. */
int launchable_split_id(const char *id, char *job, size_t jl, char *inst, size_t il);

/*
 * After launchable_taskinfo, for a launchable with a volume: its cpus, mem
 * and disk become reserved for `role` (principal may be NULL; reservation
 * labels job_id and instance_id) and the volume is added to its
 * resources; x->resv[0..n_resv) are what a RESERVE must reserve for it
 * (those and the volume's size as disk) and x->vol what CREATE makes.
 * Ports and GPUs stay unreserved. No-op without a volume.
 */
void launchable_reserve(const struct launchable *lt, const char *role, const char *principal,
                        struct taskinfo_buf *x);

/*
 * A LaunchTasksRequest's task as a launchable: the ports map is read by
 * the config's port names (a port not in the map keeps its static value).
 * ports must have room for lt->config->n_ports. -1 with err when the task
 * has no id or config.
 */
int launchable_from_proto(const Peloton__Private__Hostmgr__Hostsvc__LaunchableTask *p,
                          uint32_t *ports, size_t cap, struct launchable_volume *vol,
                          struct launchable *out, char *err, size_t errlen);

#endif
