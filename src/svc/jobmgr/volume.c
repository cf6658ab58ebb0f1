/* Stateful tasks' persistent volumes and VolumeService; see volume.h. */
#define _GNU_SOURCE /* timegm */
#include "volume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ids.h"
#include "log.h"
#include "text.h"
#include "peloton/api/volume/svc/volume_svc.pb-c.h"
#include "peloton/api/volume/volume.pb-c.h"
#include "proto_codec.h"

typedef Peloton__Api__Volume__PersistentVolumeInfo vol_pb;

#define V_INITIALIZED PELOTON__API__VOLUME__VOLUME_STATE__INITIALIZED
#define V_CREATED PELOTON__API__VOLUME__VOLUME_STATE__CREATED
#define V_DELETED PELOTON__API__VOLUME__VOLUME_STATE__DELETED

static void vol_free(struct jm_volume *v)
{
	if (v == NULL)
		return;
	free(v->id);
	free(v->job);
	free(v->host);
	free(v->agent);
	free(v->path);
	free(v);
}

int jm__volumes_init(struct jobmgr *jm)
{
	pthread_mutex_init(&jm->vol_mu, NULL);
	return htab_init(&jm->volumes, HTAB_KEY_POINTER, 64);
}

void jm__volumes_fini(struct jobmgr *jm)
{
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct jm_volume *v; (v = htab_next(&jm->volumes, &it)) != NULL;)
		vol_free(v);
	htab_fini(&jm->volumes);
	pthread_mutex_destroy(&jm->vol_mu);
}

bool jm__wants_volume(const Peloton__Api__Task__TaskConfig *tc)
{
	return tc && tc->volume && tc->volume->sizemb > 0 && tc->volume->containerpath &&
	       tc->volume->containerpath[0];
}

static uint64_t parse_time(const char *s)
{
	struct tm tm = {0};
	unsigned ms = 0;
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d.%uZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	return t < 0 ? 0 : (uint64_t)t * 1000000000ull + (uint64_t)ms * 1000000ull;
}

/* v as PersistentVolumeInfo (strings borrowed from v and the buffers). */
static void to_pb(const struct jm_volume *v, vol_pb *pb, Peloton__Api__Peloton__VolumeID *id,
                  Peloton__Api__Peloton__JobID *jid, char ct[40], char ut[40])
{
	peloton__api__volume__persistent_volume_info__init(pb);
	peloton__api__peloton__volume_id__init(id);
	peloton__api__peloton__job_id__init(jid);
	id->value = v->id;
	jid->value = v->job;
	pb->id = id;
	pb->jobid = jid;
	pb->instanceid = v->inst;
	pb->hostname = v->host ? v->host : "";
	pb->state = (Peloton__Api__Volume__VolumeState)v->state;
	pb->goalstate = (Peloton__Api__Volume__VolumeState)v->goal;
	pb->sizemb = v->size_mb;
	pb->containerpath = v->path ? v->path : "";
	text_rfc3339(v->create_ns, ct, 40);
	text_rfc3339(v->update_ns, ut, 40);
	pb->createtime = ct;
	pb->updatetime = ut;
}

/* v's record into b (vol_mu held). */
static int put(struct store_batch *b, const struct jm_volume *v)
{
	vol_pb pb;
	Peloton__Api__Peloton__VolumeID id;
	Peloton__Api__Peloton__JobID jid;
	char ct[40], ut[40];
	to_pb(v, &pb, &id, &jid, ct, ut);
	size_t len = 0;
	uint8_t *buf = proto_pack_alloc(&pb.base, &len);
	int rc =
	    buf ? store_put(b, STORE_VOLUMES, v->id, strlen(v->id), buf, len, 0, STORE_ANY_VERSION)
	        : -1;
	free(buf);
	return rc;
}

/* v's record written on its own (the sweeper, VolumeService). */
static void put_now(struct jobmgr *jm, const struct jm_volume *v)
{
	struct store_batch *b = store_batch_new(jm->cfg.store);
	if (b && put(b, v) == 0 && store_commit(jm->cfg.store, b) == STORE_OK)
		return;
	log_error("jobmgr", "volume %s: its record could not be written", v->id);
}

struct jm_volume *jm__volume_for_launch__(struct jobmgr *jm, struct store_batch *b,
                                          struct jm_job *j, uint32_t inst, const char *host,
                                          const char *agent, bool *create, const char **why)
{
	struct jm_task *t = &j->tasks[inst];
	const Peloton__Api__Task__TaskConfig *tc = j->merged[inst];
	struct jm_volume *v = t->vol;
	*create = false;
	pthread_mutex_lock(&jm->vol_mu);
	if (v != NULL) {
		if (v->host && strcmp(v->host, host) != 0) {
			*why = "placed on another host than its volume's";
			v = NULL;
		} else {
			*create =
			    v->state == V_INITIALIZED; /* not confirmed: reserve and create again */
			free(v->agent);
			v->agent = strdup(agent);
		}
		pthread_mutex_unlock(&jm->vol_mu);
		return v;
	}
	char id[IDS_UUID_LEN];
	ids_uuid(id);
	v = calloc(1, sizeof(*v));
	if (v) {
		v->id = strdup(id);
		v->job = strdup(j->id);
		v->host = strdup(host);
		v->agent = strdup(agent);
		v->path = strdup(tc->volume->containerpath);
	}
	if (!v || !v->id || !v->job || !v->host || !v->agent || !v->path ||
	    htab_put(&jm->volumes, v) != 0) {
		pthread_mutex_unlock(&jm->vol_mu);
		vol_free(v);
		*why = "out of memory";
		return NULL;
	}
	v->inst = inst;
	v->size_mb = tc->volume->sizemb;
	v->state = V_INITIALIZED;
	v->goal = V_CREATED;
	v->create_ns = v->update_ns = clock_wall_ns();
	put(b, v); /* with the launch intent */
	pthread_mutex_unlock(&jm->vol_mu);
	t->vol = v;
	*create = true;
	atomic_fetch_add(&jm->vol_created, 1);
	log_task(LOG_INFO, "jobmgr", j->id, inst, host, "task %s-%u: volume %s (%u MB) on %s",
	         j->id, inst, v->id, v->size_mb, host);
	return v;
}

void jm__volume_running__(struct jobmgr *jm, struct store_batch *b, struct jm_job *j, uint32_t inst)
{
	struct jm_volume *v = j->tasks[inst].vol;
	if (v == NULL)
		return;
	pthread_mutex_lock(&jm->vol_mu);
	if (v->state == V_INITIALIZED) {
		v->state = V_CREATED;
		v->update_ns = clock_wall_ns();
		put(b, v);
	}
	pthread_mutex_unlock(&jm->vol_mu);
}

/* --- recovery ------------------------------------------------------------------ */

static bool rec_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                    uint64_t version)
{
	(void)version;
	struct jobmgr *jm = arg;
	const char *why;
	vol_pb *pb = (vol_pb *)proto_decode(
	    &peloton__api__volume__persistent_volume_info__descriptor, val, vlen, NULL, &why);
	if (!pb || !pb->id || !pb->id->value || !pb->jobid || !pb->jobid->value) {
		log_error("jobmgr", "volume %.*s: unreadable record (%s); skipped", (int)klen,
		          (const char *)key, pb ? "no id" : why);
		if (pb)
			PB_FREE(pb);
		return true;
	}
	struct jm_volume *v = calloc(1, sizeof(*v));
	if (v) {
		v->id = strdup(pb->id->value);
		v->job = strdup(pb->jobid->value);
		v->host = strdup(pb->hostname ? pb->hostname : "");
		v->agent = strdup("");
		v->path = strdup(pb->containerpath ? pb->containerpath : "");
		v->inst = pb->instanceid;
		v->size_mb = pb->sizemb;
		v->state = (uint8_t)pb->state;
		v->goal = (uint8_t)pb->goalstate;
		v->create_ns = parse_time(pb->createtime);
		v->update_ns = parse_time(pb->updatetime);
	}
	PB_FREE(pb);
	if (!v || !v->id || !v->job || !v->host || !v->agent || !v->path ||
	    htab_put(&jm->volumes, v) != 0) {
		vol_free(v);
		return false;
	}
	struct jm_job *j =
	    v->state != V_DELETED && v->goal != V_DELETED ? jm__find(jm, v->job) : NULL;
	if (j && v->inst < j->n) {
		pthread_mutex_lock(&j->mu);
		j->tasks[v->inst].vol = v;
		pthread_mutex_unlock(&j->mu);
	} else if (v->state != V_DELETED && v->goal != V_DELETED) {
		v->goal = V_DELETED; /* its job is gone: destroy it */
	}
	return true;
}

int jm__volumes_recover(struct jobmgr *jm)
{
	pthread_mutex_lock(&jm->vol_mu);
	long n = store_scan(jm->cfg.store, STORE_VOLUMES, "", 0, false, rec_one, jm);
	pthread_mutex_unlock(&jm->vol_mu);
	if (n > 0)
		log_info("jobmgr", "recovered %ld persistent volume record(s)", n);
	return n < 0 ? -1 : 0;
}

/* --- deletion ------------------------------------------------------------------- */

void jm__volumes_release_job(struct jobmgr *jm, const char *job_id)
{
	struct store_batch *b = store_batch_new(jm->cfg.store);
	size_t n = 0, nk = 0;
	pthread_mutex_lock(&jm->vol_mu);
	char(*kill)[96] = calloc(htab_count(&jm->volumes) + 1, sizeof(*kill));
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct jm_volume *v; (v = htab_next(&jm->volumes, &it)) != NULL;)
		if (strcmp(v->job, job_id) == 0 && v->goal != V_DELETED) {
			v->goal = V_DELETED;
			v->update_ns = clock_wall_ns();
			if (b)
				put(b, v);
			if (kill)
				snprintf(kill[nk++], sizeof(kill[0]), "%s-%u", v->job, v->inst);
			n++;
		}
	pthread_mutex_unlock(&jm->vol_mu);
	for (size_t i = 0; i < nk; i++) /* the reservations' charges in their pool */
		jm->cfg.rm.kill(jm->cfg.rm.arg, kill[i]);
	free(kill);
	if (b && n && store_commit(jm->cfg.store, b) != STORE_OK)
		log_error("jobmgr", "job %s: its volumes' deletion could not be written", job_id);
	else if (b && !n)
		store_batch_free(b);
	if (n)
		log_job(LOG_INFO, "jobmgr", job_id,
		        "job %s deleted: its %zu volume(s) are destroyed once their hosts offer "
		        "them",
		        job_id, n);
}

/* Is task inst of job live on Mesos (or about to be)? Unknown jobs: no. */
static bool task_live(struct jobmgr *jm, const char *job, uint32_t inst)
{
	struct jm_job *j = jm__find(jm, job);
	if (j == NULL || atomic_load(&j->purged))
		return false;
	pthread_mutex_lock(&j->mu);
	bool live = inst < j->n && !taskstate_terminal((enum taskstate)j->tasks[inst].state) &&
	            j->tasks[inst].state != TASK_INITIALIZED &&
	            j->tasks[inst].state != TASK_PENDING;
	pthread_mutex_unlock(&j->mu);
	return live;
}

/* Is task inst of job waiting to be placed (PENDING in the resource manager)? */
static bool task_waiting(struct jobmgr *jm, const char *job, uint32_t inst)
{
	struct jm_job *j = jm__find(jm, job);
	if (j == NULL || atomic_load(&j->purged))
		return false;
	pthread_mutex_lock(&j->mu);
	bool waiting = inst < j->n && j->tasks[inst].state == TASK_PENDING &&
	               !jm_goal_down(j->tasks[inst].goal);
	pthread_mutex_unlock(&j->mu);
	return waiting;
}

/* A volume to act on: copies of what the calls need (taken under vol_mu). */
struct doomed {
	char id[64], job[64], host[256];
	uint32_t inst;
	bool destroy; /* else: its task waits for the host */
};

#define REFRESH_NS 3000000000ull     /* a waiting task's host refreshed every 3 s at most */
#define DESTROY_TRY_NS 1000000000ull /* a volume to destroy tried every second at most */

/* Volumes to destroy, and created ones whose host may want refreshing. */
static size_t collect(struct jobmgr *jm, struct doomed *d, size_t cap)
{
	size_t n = 0;
	uint64_t now = clock_mono_ns();
	pthread_mutex_lock(&jm->vol_mu);
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct jm_volume *v; n < cap && (v = htab_next(&jm->volumes, &it)) != NULL;) {
		/* a try takes the host by name in the index (a scan of it): once a
		 * second at most per volume */
		bool destroy = v->goal == V_DELETED && v->state != V_DELETED &&
		               now - v->refresh_ns >= DESTROY_TRY_NS;
		bool created = v->state == V_CREATED && v->goal == V_CREATED &&
		               now - v->refresh_ns >= REFRESH_NS;
		if ((!destroy && !created) || !v->host || !v->host[0])
			continue;
		snprintf(d[n].id, sizeof(d[n].id), "%s", v->id);
		snprintf(d[n].job, sizeof(d[n].job), "%s", v->job);
		snprintf(d[n].host, sizeof(d[n].host), "%s", v->host);
		d[n].inst = v->inst;
		d[n].destroy = destroy;
		if (destroy)
			v->refresh_ns = now;
		n++;
	}
	pthread_mutex_unlock(&jm->vol_mu);
	return n;
}

/* A waiting stateful task's host: its offers refreshed (hostmgr_seam.h, refresh_host). */
static void refresh(struct jobmgr *jm, const struct doomed *d)
{
	if (!jm->cfg.hm.refresh_host || !task_waiting(jm, d->job, d->inst))
		return;
	pthread_mutex_lock(&jm->vol_mu);
	struct jm_volume *v = htab_get(&jm->volumes, d->id);
	if (v)
		v->refresh_ns = clock_mono_ns();
	pthread_mutex_unlock(&jm->vol_mu);
	if (jm->cfg.hm.refresh_host(jm->cfg.hm.arg, d->host) == 0)
		log_debug("jobmgr", "task %s-%u waits for %s (its volume %s): its offers refreshed",
		          d->job, d->inst, d->host, d->id);
}

void jm__volumes_sweep(struct jobmgr *jm)
{
	struct doomed d[64];
	size_t n = collect(jm, d, 64);
	for (size_t i = 0; i < n; i++) {
		if (!d[i].destroy) {
			refresh(jm, &d[i]);
			continue;
		}
		if (jm->cfg.hm.destroy_volume == NULL || task_live(jm, d[i].job, d[i].inst))
			continue; /* its task runs on it: once it ends */
		bool sent = jm->cfg.hm.destroy_volume(jm->cfg.hm.arg, d[i].host, d[i].id, d[i].job,
		                                      d[i].inst) == 0;
		pthread_mutex_lock(&jm->vol_mu);
		struct jm_volume *v = htab_get(&jm->volumes, d[i].id);
		if (v && sent) {
			v->state = V_DELETED;
			v->update_ns = clock_wall_ns();
			put_now(jm, v);
		} else if (v && !v->nagged) { /* once: it is tried every pass */
			v->nagged = true;
			log_info("jobmgr",
			         "volume %s on %s: not destroyed yet (the host offers it not now: "
			         "busy, down, or its offers held); trying again",
			         d[i].id, d[i].host);
		}
		pthread_mutex_unlock(&jm->vol_mu);
		if (!sent)
			continue;
		atomic_fetch_add(&jm->vol_destroyed, 1);
		log_info("jobmgr",
		         "volume %s of %s-%u destroyed on %s and its reservation released", d[i].id,
		         d[i].job, d[i].inst, d[i].host);
	}
}

void jm__volumes_metrics(struct jobmgr *jm, FILE *f)
{
	size_t by[4] = {0};
	pthread_mutex_lock(&jm->vol_mu);
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct jm_volume *v; (v = htab_next(&jm->volumes, &it)) != NULL;)
		by[v->state < 4 ? v->state : 0]++;
	pthread_mutex_unlock(&jm->vol_mu);
	fprintf(f,
	        "# HELP peloton_volumes Persistent volumes known, by state.\n"
	        "# TYPE peloton_volumes gauge\n"
	        "peloton_volumes{state=\"initialized\"} %zu\n"
	        "peloton_volumes{state=\"created\"} %zu\n"
	        "peloton_volumes{state=\"deleted\"} %zu\n"
	        "# HELP peloton_volume_ops_total Persistent volumes made (first launches) and "
	        "destroyed.\n"
	        "# TYPE peloton_volume_ops_total counter\n"
	        "peloton_volume_ops_total{op=\"create\"} %llu\n"
	        "peloton_volume_ops_total{op=\"destroy\"} %llu\n",
	        by[V_INITIALIZED], by[V_CREATED], by[V_DELETED],
	        (unsigned long long)atomic_load(&jm->vol_created),
	        (unsigned long long)atomic_load(&jm->vol_destroyed));
}

/* --- VolumeService ---------------------------------------------------------------- */

/* A heap PersistentVolumeInfo of v (vol_mu held); NULL on ENOMEM. */
static vol_pb *info_of(const struct jm_volume *v)
{
	vol_pb pb;
	Peloton__Api__Peloton__VolumeID id;
	Peloton__Api__Peloton__JobID jid;
	char ct[40], ut[40];
	to_pb(v, &pb, &id, &jid, ct, ut);
	return (vol_pb *)proto_clone(&pb.base);
}

static ProtobufCMessage *h_list(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Volume__Svc__ListVolumesRequest *r = (const void *)m;
	if (!r->jobid || !r->jobid->value || !r->jobid->value[0])
		return rpc_fail(st, RPC_INVALID_ARGUMENT, "jobId is required");
	Peloton__Api__Volume__Svc__ListVolumesResponse *resp =
	    PB_NEW(Peloton__Api__Volume__Svc__ListVolumesResponse,
	           peloton__api__volume__svc__list_volumes_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	bool oom = false;
	pthread_mutex_lock(&jm->vol_mu);
	size_t n = 0, cap = htab_count(&jm->volumes);
	resp->volumes = calloc(cap ? cap : 1, sizeof(*resp->volumes));
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct jm_volume *v; resp->volumes && (v = htab_next(&jm->volumes, &it)) != NULL;) {
		if (strcmp(v->job, r->jobid->value) != 0)
			continue;
		Peloton__Api__Volume__Svc__ListVolumesResponse__VolumesEntry *e = PB_NEW(
		    Peloton__Api__Volume__Svc__ListVolumesResponse__VolumesEntry,
		    peloton__api__volume__svc__list_volumes_response__volumes_entry__descriptor);
		if (e && (e->key = strdup(v->id)) && (e->value = info_of(v))) {
			resp->volumes[n++] = e;
		} else {
			PB_FREE(e);
			oom = true;
		}
	}
	pthread_mutex_unlock(&jm->vol_mu);
	resp->n_volumes = n;
	bool known = n > 0 || jm__find(jm, r->jobid->value) != NULL;
	if (oom || !resp->volumes || !known) {
		PB_FREE(resp);
		return oom || !known
		           ? rpc_fail(st, known ? RPC_INTERNAL : RPC_NOT_FOUND,
		                      known ? "out of memory" : "job %s not found", r->jobid->value)
		           : rpc_fail(st, RPC_INTERNAL, "out of memory");
	}
	return &resp->base;
}

static ProtobufCMessage *h_get(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Volume__Svc__GetVolumeRequest *r = (const void *)m;
	if (!r->id || !r->id->value || !r->id->value[0])
		return rpc_fail(st, RPC_INVALID_ARGUMENT, "id is required");
	Peloton__Api__Volume__Svc__GetVolumeResponse *resp =
	    PB_NEW(Peloton__Api__Volume__Svc__GetVolumeResponse,
	           peloton__api__volume__svc__get_volume_response__descriptor);
	if (!resp)
		return rpc_fail(st, RPC_INTERNAL, "out of memory");
	pthread_mutex_lock(&jm->vol_mu);
	struct jm_volume *v = htab_get(&jm->volumes, r->id->value);
	resp->result = v ? info_of(v) : NULL;
	pthread_mutex_unlock(&jm->vol_mu);
	if (!resp->result) {
		PB_FREE(resp);
		return v ? rpc_fail(st, RPC_INTERNAL, "out of memory")
		         : rpc_fail(st, RPC_NOT_FOUND, "volume %s not found", r->id->value);
	}
	return &resp->base;
}

/*
 * DeleteVolume: refused while its task runs or waits to (FAILED_PRECONDITION); else
 * its goal becomes DELETED and the task lets go of it (a later run of the
 * task makes a new one), and the sweeper destroys it and releases its
 * reservation once the host offers them.
 */
static ProtobufCMessage *h_delete(void *ctx, const ProtobufCMessage *m, struct rpc_status *st)
{
	struct jobmgr *jm = ctx;
	const Peloton__Api__Volume__Svc__DeleteVolumeRequest *r = (const void *)m;
	if (!r->id || !r->id->value || !r->id->value[0])
		return rpc_fail(st, RPC_INVALID_ARGUMENT, "id is required");
	char job[64] = "";
	uint32_t inst = 0;
	pthread_mutex_lock(&jm->vol_mu);
	struct jm_volume *v = htab_get(&jm->volumes, r->id->value);
	if (v) {
		snprintf(job, sizeof(job), "%s", v->job);
		inst = v->inst;
	}
	pthread_mutex_unlock(&jm->vol_mu);
	if (!v)
		return rpc_fail(st, RPC_NOT_FOUND, "volume %s not found", r->id->value);
	struct jm_job *j = jm__find(jm, job);
	if (j)
		pthread_mutex_lock(&j->mu);
	struct jm_task *t = j && inst < j->n ? &j->tasks[inst] : NULL;
	/* running, or about to (waiting for its host): stopped first */
	bool running = t && !taskstate_terminal((enum taskstate)t->state);
	if (!running && t && t->vol == v)
		t->vol = NULL;
	if (j)
		pthread_mutex_unlock(&j->mu);
	if (running)
		return rpc_fail(st, RPC_FAILED_PRECONDITION,
		                "volume %s: its task %s-%u is running; stop it first", r->id->value,
		                job, inst);
	pthread_mutex_lock(&jm->vol_mu);
	if (v->goal != V_DELETED) {
		v->goal = V_DELETED;
		v->update_ns = clock_wall_ns();
		put_now(jm, v);
	}
	pthread_mutex_unlock(&jm->vol_mu);
	log_info("jobmgr", "volume %s of %s-%u: deletion asked", r->id->value, job, inst);
	char ptask[96];
	snprintf(ptask, sizeof(ptask), "%s-%u", job, inst);
	jm->cfg.rm.kill(jm->cfg.rm.arg, ptask); /* its reservation's charge in the pool */
	jm__volumes_sweep(jm);
	ProtobufCMessage *resp = (ProtobufCMessage *)PB_NEW(
	    Peloton__Api__Volume__Svc__DeleteVolumeResponse,
	    peloton__api__volume__svc__delete_volume_response__descriptor);
	return resp ? resp : rpc_fail(st, RPC_INTERNAL, "out of memory");
}

void jm__volsvc_bind(struct jobmgr *jm, struct rpc_table *t)
{
	static const struct {
		const char *method;
		rpc_handler_f fn;
	} tab[] = {{"ListVolumes", h_list}, {"GetVolume", h_get}, {"DeleteVolume", h_delete}};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (rpc_bind(t, "peloton.api.volume.svc.VolumeService", tab[i].method, tab[i].fn,
		             jm) != 0)
			log_error("jobmgr", "schema has no VolumeService/%s", tab[i].method);
}
