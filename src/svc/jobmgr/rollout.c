/* A job's config versions and its updates; see rollout.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fsm.h"
#include "handoff.h"
#include "ids.h"
#include "log.h"
#include "volume.h"
#include "persist.h"
#include "proto_codec.h"
#include "rollout.h"

/* ---- installing a config version ---- */

/* Two task configs with the same bytes (a and b NULL-safe). */
static bool same_task_config(const Peloton__Api__Task__TaskConfig *a,
                             const Peloton__Api__Task__TaskConfig *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	size_t la, lb;
	uint8_t *pa = proto_pack_alloc(&a->base, &la), *pb = proto_pack_alloc(&b->base, &lb);
	bool same = pa && pb && la == lb && memcmp(pa, pb, la) == 0;
	free(pa);
	free(pb);
	return same;
}

/* Keeps j's config and per-instance configs for the job's lifetime: a
 * launch in flight may still read them. */
static int retire__(struct jm_job *j)
{
	struct jm_retired *r = realloc(j->retired, (j->n_retired + 1) * sizeof(*r));
	if (!r)
		return -1;
	j->retired = r;
	r[j->n_retired++] = (struct jm_retired){j->cfg, j->merged, j->n, j->cfg_version};
	return 0;
}

int jm__install__(struct jm_job *j, Peloton__Api__Job__JobConfig *nc, uint8_t *bytes, size_t blen,
                  uint64_t also_equal)
{
	uint32_t old_n = j->n, new_n = nc->instancecount;
	uint32_t all = old_n > new_n ? old_n : new_n;
	struct jm_job view = {.cfg = nc, .n = new_n};
	if (jm__build_merged(&view) != 0) {
		jm__free_merged(view.merged, new_n, nc);
		return -1;
	}
	Peloton__Api__Task__TaskConfig **m = view.merged;
	if (all > new_n) { /* instances on their way out: the new default */
		m = realloc(view.merged, all * sizeof(*m));
		if (!m) {
			jm__free_merged(view.merged, new_n, nc);
			return -1;
		}
		for (uint32_t i = new_n; i < all; i++)
			m[i] = nc->defaultconfig;
	}
	struct jm_task *nt = all > old_n ? realloc(j->tasks, all * sizeof(*j->tasks)) : j->tasks;
	if (nt)
		j->tasks = nt;
	if (!nt || retire__(j) != 0) {
		jm__free_merged(m, all, nc);
		return -1;
	}
	bool same_default = same_task_config(j->cfg->defaultconfig, nc->defaultconfig);
	uint32_t cur = (uint32_t)j->cfg_version, next = cur + 1;
	for (uint32_t i = 0; i < old_n && i < new_n; i++) {
		struct jm_task *t = &j->tasks[i];
		bool shared = j->merged[i] == j->cfg->defaultconfig && m[i] == nc->defaultconfig;
		bool same = shared ? same_default : same_task_config(j->merged[i], m[i]);
		if ((t->cfg_ver == cur && same) || (also_equal && t->cfg_ver == also_equal))
			t->cfg_ver = next;
	}
	free(j->cfg_bytes);
	j->cfg = nc;
	j->merged = m;
	j->cfg_bytes = bytes;
	j->cfg_len = blen;
	j->cfg_version = next;
	if (all > old_n) {
		jm__born(j, old_n, all);
		for (uint32_t i = old_n; i < all; i++)
			j->tasks[i].goal = jm_task_goal(j);
	}
	j->n = all;
	return 0;
}

/* ---- the update record ---- */

static bool moving(const struct jm_update *u)
{
	return u && (u->state == PELOTON__API__UPDATE__STATE__ROLLING_FORWARD ||
	             u->state == PELOTON__API__UPDATE__STATE__ROLLING_BACK);
}

static const char *state_name(uint8_t s)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&peloton__api__update__state__descriptor, s);
	return v ? v->name : "?";
}

/* Stored form: "PUP1", then little-endian fields in this order. */
#define REC_MAGIC "PUP1"
#define REC_LEN (4 + 3 + 4 + 4 + 8 + 8 + 8 + 4 * 5 + 8 + 8)

static uint8_t *put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static const uint8_t *get_le(const uint8_t *p, uint64_t *v, int n)
{
	*v = 0;
	for (int i = 0; i < n; i++)
		*v |= (uint64_t)p[i] << (8 * i);
	return p + n;
}

static void rec_pack(const struct jm_update *u, uint8_t out[REC_LEN])
{
	uint8_t *p = out;
	memcpy(p, REC_MAGIC, 4);
	p += 4;
	*p++ = u->state;
	*p++ = u->resume_to;
	*p++ = (uint8_t)(u->stop_first | u->start_paused << 1 | u->rolled_back_by_failure << 2 |
	                 u->whole << 3);
	p = put_le(p, u->batch, 4);
	p = put_le(p, (uint32_t)u->batch_size, 4);
	uint64_t pct;
	memcpy(&pct, &u->batch_pct, 8);
	p = put_le(p, pct, 8);
	p = put_le(p, u->from_ver, 8);
	p = put_le(p, u->to_ver, 8);
	p = put_le(p, u->from_n, 4);
	p = put_le(p, u->to_n, 4);
	p = put_le(p, u->lo, 4);
	p = put_le(p, u->next, 4);
	p = put_le(p, u->done, 4);
	p = put_le(p, u->created_ns, 8);
	put_le(p, u->updated_ns, 8);
}

/* 0, or -1 (not a record of this format). */
static int rec_unpack(const uint8_t *p, size_t len, struct jm_update *u)
{
	if (len != REC_LEN || memcmp(p, REC_MAGIC, 4) != 0)
		return -1;
	p += 4;
	u->state = *p++;
	u->resume_to = *p++;
	uint8_t f = *p++;
	u->stop_first = f & 1;
	u->start_paused = f & 2;
	u->rolled_back_by_failure = f & 4;
	u->whole = f & 8;
	uint64_t v;
	p = get_le(p, &v, 4), u->batch = (uint32_t)v;
	p = get_le(p, &v, 4), u->batch_size = (int32_t)(uint32_t)v;
	p = get_le(p, &v, 8), memcpy(&u->batch_pct, &v, 8);
	p = get_le(p, &u->from_ver, 8);
	p = get_le(p, &u->to_ver, 8);
	p = get_le(p, &v, 4), u->from_n = (uint32_t)v;
	p = get_le(p, &v, 4), u->to_n = (uint32_t)v;
	p = get_le(p, &v, 4), u->lo = (uint32_t)v;
	p = get_le(p, &v, 4), u->next = (uint32_t)v;
	p = get_le(p, &v, 4), u->done = (uint32_t)v;
	p = get_le(p, &u->created_ns, 8);
	get_le(p, &u->updated_ns, 8);
	if (u->state > PELOTON__API__UPDATE__STATE__ABORTED || !u->batch)
		return -1;
	return 0;
}

/* Instances the update goes through. */
static uint32_t span(const struct jm_update *u)
{
	return u->from_n > u->to_n ? u->from_n : u->to_n;
}

static int put_record(struct store_batch *b, const struct jm_job *j, struct jm_update *u)
{
	char key[160];
	size_t kl = store_key_job_prefix(key, j->id);
	size_t il = strlen(u->id);
	memcpy(key + kl, u->id, il);
	uint8_t rec[REC_LEN];
	u->updated_ns = clock_wall_ns();
	rec_pack(u, rec);
	u->dirty = false;
	return store_put(b, STORE_UPDATES, key, kl + il, rec, sizeof(rec), 0, STORE_ANY_VERSION);
}

Peloton__Api__Update__UpdateInfo *jm__update_info__(const struct jm_job *j,
                                                    const struct jm_update *u)
{
	Peloton__Api__Update__UpdateInfo *ui = (Peloton__Api__Update__UpdateInfo *)proto_new(
	    &peloton__api__update__update_info__descriptor);
	if (!ui)
		return NULL;
	ui->updateid = (Peloton__Api__Update__UpdateID *)proto_new(
	    &peloton__api__update__update_id__descriptor);
	ui->jobid =
	    (Peloton__Api__Peloton__JobID *)proto_new(&peloton__api__peloton__job_id__descriptor);
	ui->config = (Peloton__Api__Update__UpdateConfig *)proto_new(
	    &peloton__api__update__update_config__descriptor);
	ui->status = (Peloton__Api__Update__UpdateStatus *)proto_new(
	    &peloton__api__update__update_status__descriptor);
	if (!ui->updateid || !ui->jobid || !ui->config || !ui->status ||
	    !(ui->updateid->value = strdup(u->id)) || !(ui->jobid->value = strdup(j->id))) {
		protobuf_c_message_free_unpacked(&ui->base, NULL);
		return NULL;
	}
	ui->config->batchsize = u->batch_size;
	ui->config->batchpercentage = u->batch_pct;
	ui->config->stopbeforeupdate = u->stop_first;
	ui->config->startpaused = u->start_paused;
	uint32_t total = span(u);
	ui->status->numtasksdone = (int32_t)u->done;
	ui->status->numtasksremaining = (int32_t)(total > u->done ? total - u->done : 0);
	ui->status->state = (Peloton__Api__Update__State)u->state;
	return ui;
}

/* ---- the walk ---- */

/* Instance i is where u wants it. j->mu held. */
static bool inst_done(const struct jm_job *j, const struct jm_update *u, uint32_t i)
{
	if (i >= j->n)
		return true;
	const struct jm_task *t = &j->tasks[i];
	bool terminal = taskstate_terminal((enum taskstate)t->state);
	if (i >= u->to_n) /* removed: stopped */
		return terminal && jm_goal_down(t->goal);
	if (jm_goal_down(t->goal)) /* stopped by its owner: it starts on the new version;
	                            * with stopBeforeUpdate, the update starts it */
		return !u->stop_first;
	if (!jm_long_running(j->cfg) && terminal && t->state != TASK_INITIALIZED)
		return true; /* a batch task that ran keeps its last run */
	return t->cfg_ver == u->to_ver && t->state == TASK_RUNNING &&
	       (!jm_health_checked(j->merged[i]) ||
	        t->healthy == PELOTON__API__TASK__HEALTH_STATE__HEALTHY);
}

/*
 * Moves instance i toward u's version (j->mu held): whatever its state
 * needs now — a new instance (or, with stopBeforeUpdate, a stopped one)
 * enqueued, a run on another version killed to be launched again, a task
 * waiting for resources enqueued again with its new ones, a removed
 * instance stopped. Each pass does it for every instance in flight; a
 * relaunch or a requeue is asked once (upd_taken). Instances to enqueue
 * go into q.
 */
static void take__(struct jobmgr *jm, struct jm_job *j, const struct jm_update *u, uint32_t i,
                   struct store_batch *b, uint32_t *q, size_t *nq)
{
	struct jm_task *t = &j->tasks[i];
	enum taskstate s = (enum taskstate)t->state;
	const char *what = NULL;
	if (i >= u->to_n) {
		if (jm__stop_task__(jm, j, i))
			what = "update: instance removed";
	} else if (s == TASK_INITIALIZED || (jm_goal_down(t->goal) && taskstate_terminal(s))) {
		t->goal = jm_task_goal(j);
		if (jm__move(j, i, JM_ENQUEUE)) {
			t->start_ns = t->done_ns = 0;
			q[(*nq)++] = i;
			what = "update: started on the new version";
		}
	} else if (t->upd_taken || jm_goal_down(t->goal) || t->cfg_ver == u->to_ver) {
		return; /* on its way */
	} else if (s == TASK_PENDING && !t->held && !t->due_ns) {
		char ptask[96];
		snprintf(ptask, sizeof(ptask), "%s-%u", j->id, i);
		jm->cfg.rm.kill(jm->cfg.rm.arg, ptask); /* back with the new resources */
		q[(*nq)++] = i;
		t->upd_taken = true;
	} else if (jm_on_mesos(s) && s != TASK_KILLING && t->agent) {
		t->restart = true;
		t->upd_taken = true;
		jm__kill_run(jm, j, i, clock_wall_ns());
		what = "update: relaunching on the new version";
	}
	if (what)
		jm__put_task(jm, b, j, i, what);
}

/* stopBeforeUpdate: every instance not on the new version and not begun
 * is stopped (the walk starts them on it). j->mu held. */
static void stop_first__(struct jobmgr *jm, struct jm_job *j, const struct jm_update *u,
                         struct store_batch *b)
{
	uint32_t end = u->to_n < j->n ? u->to_n : j->n;
	for (uint32_t i = u->next; i < end; i++) {
		struct jm_task *t = &j->tasks[i];
		if (!jm_goal_down(t->goal) && t->cfg_ver != u->to_ver &&
		    t->state != TASK_INITIALIZED && jm__stop_task__(jm, j, i))
			jm__put_task(jm, b, j, i, "update: stopped before the update");
	}
}

/* The update ends (j->mu held): instances it removed leave the job. */
static void finish__(struct jobmgr *jm, struct jm_job *j, struct jm_update *u, uint8_t state,
                     struct store_batch *b)
{
	u->state = state;
	u->dirty = true;
	if (j->n > u->to_n && state != PELOTON__API__UPDATE__STATE__ABORTED) {
		for (uint32_t i = u->to_n; i < j->n; i++) {
			char key[160];
			size_t kl = store_key_task(key, j->id, i);
			store_del(b, STORE_TASK_RUNTIME, key, kl);
			kl = store_key_task_prefix(key, j->id, i);
			store_del_prefix(b, STORE_TASK_EVENTS, key, kl);
			j->counts[j->tasks[i].state]--;
			jm__task_fini(&j->tasks[i]);
		}
		j->n = u->to_n; /* (merged keeps its tail: defaults, freed with it) */
	}
	if (jm__job_refresh(j))
		jm__put_job_runtime(jm, b, j);
	log_job(LOG_INFO, "jobmgr", j->id, "job %s: update %s %s (%u instances done)", j->id, u->id,
	        state_name(state), u->done);
}

/* Loads config version ver of j (the retired copy, or the store's). */
static Peloton__Api__Job__JobConfig *config_of(struct jobmgr *jm, const struct jm_job *j,
                                               uint64_t ver)
{
	for (size_t k = 0; k < j->n_retired; k++)
		if (j->retired[k].ver == ver)
			return (Peloton__Api__Job__JobConfig *)proto_clone(
			    &j->retired[k].cfg->base);
	return jm__load_config(jm, j->id, ver);
}

/*
 * Turns u into its rollback (j->mu held): the config it started from is
 * installed again as a new version, and the walk starts over toward it.
 * Instances the update never took run that config already and count as
 * done at once.
 */
static int rollback__(struct jobmgr *jm, struct jm_job *j, struct jm_update *u,
                      struct store_batch *b)
{
	Peloton__Api__Job__JobConfig *c = config_of(jm, j, u->from_ver);
	size_t len;
	uint8_t *bytes = c ? proto_pack_alloc(&c->base, &len) : NULL;
	if (!bytes || jm__install__(j, c, bytes, len, u->from_ver) != 0) {
		log_job(LOG_ERROR, "jobmgr", j->id,
		        "job %s: update %s cannot roll back (config version %llu "
		        "unreadable or out of memory); paused",
		        j->id, u->id, (unsigned long long)u->from_ver);
		if (c)
			protobuf_c_message_free_unpacked(&c->base, NULL);
		free(bytes);
		u->resume_to = u->state;
		u->state = PELOTON__API__UPDATE__STATE__PAUSED;
		u->dirty = true;
		return -1;
	}
	char key[160];
	size_t kl = store_key_job_config(key, j->id, j->cfg_version);
	store_put(b, STORE_JOB_CONFIG, key, kl, j->cfg_bytes, j->cfg_len, j->cfg_version,
	          STORE_ANY_VERSION);
	uint32_t n = u->from_n;
	u->from_n = u->to_n;
	u->to_n = n;
	u->from_ver = u->to_ver;
	u->to_ver = j->cfg_version;
	u->lo = u->next = 0;
	u->stop_first = false;
	if (u->state == PELOTON__API__UPDATE__STATE__PAUSED)
		u->resume_to = PELOTON__API__UPDATE__STATE__ROLLING_BACK;
	else
		u->state = PELOTON__API__UPDATE__STATE__ROLLING_BACK;
	u->dirty = true;
	for (uint32_t i = 0; i < j->n; i++) {
		j->tasks[i].upd_fails = 0;
		j->tasks[i].upd_taken = false;
		jm__put_task(jm, b, j, i, "update: rolling back");
	}
	jm__put_job_runtime(jm, b, j);
	atomic_fetch_add(&jm->upd_rollbacks, 1);
	log_job(LOG_INFO, "jobmgr", j->id,
	        "job %s: update %s rolling back to config version %llu (as %llu)", j->id, u->id,
	        (unsigned long long)u->from_ver, (unsigned long long)u->to_ver);
	return 0;
}

void jm__rollout_observe__(struct jm_job *j, uint32_t inst)
{
	struct jm_update *u = j->upd;
	struct jm_task *t = &j->tasks[inst];
	if (!moving(u) || inst >= u->next || t->cfg_ver != u->to_ver || t->fail_run == t->run)
		return;
	bool ended =
	    taskstate_terminal((enum taskstate)t->state) && !jm_goal_down(t->goal) && !t->restart;
	if (ended || t->healthy == PELOTON__API__TASK__HEALTH_STATE__UNHEALTHY) {
		t->fail_run = t->run;
		if (t->upd_fails < UINT8_MAX)
			t->upd_fails++;
		log_task(LOG_WARN, "jobmgr", j->id, inst, t->host,
		         "update %s: %s-%u failed on config version %llu (%u of %u)", u->id, j->id,
		         inst, (unsigned long long)u->to_ver, t->upd_fails, JM_UPDATE_MAX_ATTEMPTS);
	}
}

bool jm__rollout_arrived__(const struct jm_job *j, uint32_t inst)
{
	const struct jm_update *u = j->upd;
	return moving(u) && inst >= u->lo && inst < u->next && inst_done(j, u, inst);
}

void jm__rollout_kick(struct jobmgr *jm)
{
	pthread_mutex_lock(&jm->kick_mu);
	jm->kicked = true;
	pthread_cond_signal(&jm->kick_cv);
	pthread_mutex_unlock(&jm->kick_mu);
}

bool jm__rollout_holds__(const struct jm_job *j, uint32_t inst)
{
	return jm_update_live(j->upd) && inst >= j->upd->next;
}

void jm__rollout_step__(struct jobmgr *jm, struct jm_job *j, struct store_batch *b)
{
	struct jm_update *u = j->upd;
	if (!moving(u) || j->deleted) {
		if (u && u->dirty)
			put_record(b, j, u);
		return;
	}
	uint32_t n = span(u), inflight = 0, done = 0;
	bool failed = false;
	size_t nq = 0;
	uint32_t *q = calloc(n ? n : 1, sizeof(uint32_t));
	if (!q)
		return; /* the next pass */
	for (uint32_t i = u->lo; i < u->next; i++)
		failed |= i < j->n && j->tasks[i].upd_fails >= JM_UPDATE_MAX_ATTEMPTS;
	if (failed && u->state == PELOTON__API__UPDATE__STATE__ROLLING_FORWARD) {
		u->rolled_back_by_failure = true;
		rollback__(jm, j, u, b);
	}
	if (!moving(u))
		goto out;
	if (u->stop_first && u->state == PELOTON__API__UPDATE__STATE__ROLLING_FORWARD)
		stop_first__(jm, j, u, b);
	while (u->lo < u->next && inst_done(j, u, u->lo))
		u->lo++;
	for (uint32_t i = u->lo; i < u->next; i++)
		if (!inst_done(j, u, i)) {
			take__(jm, j, u, i, b, q, &nq);
			inflight++;
		}
	while (inflight < u->batch && u->next < n) {
		uint32_t i = u->next++;
		u->dirty = true;
		if (i < j->n)
			j->tasks[i].upd_fails = 0, j->tasks[i].upd_taken = false;
		if (!inst_done(j, u, i)) {
			take__(jm, j, u, i, b, q, &nq);
			inflight++;
			atomic_fetch_add(&jm->upd_instances, 1);
		}
	}
	for (uint32_t i = 0; i < n; i++)
		done += inst_done(j, u, i);
	if (done != u->done)
		u->done = done, u->dirty = true;
	if (u->next == n && inflight == 0)
		finish__(jm, j, u,
		         u->state == PELOTON__API__UPDATE__STATE__ROLLING_BACK
		             ? PELOTON__API__UPDATE__STATE__ROLLED_BACK
		             : PELOTON__API__UPDATE__STATE__SUCCEEDED,
		         b);
	if (nq) {
		if (jm__job_refresh(j))
			jm__put_job_runtime(jm, b, j);
		jm__enqueue(jm, j, q, nq);
	}
out:
	if (u->dirty)
		put_record(b, j, u);
	free(q);
}

/* ---- create and the operations ---- */

/* The batch size uc asks for over n instances (0 or none: all of them). */
static uint32_t batch_of(const Peloton__Api__Update__UpdateConfig *uc, uint32_t n)
{
	uint32_t all = n ? n : 1;
	if (!uc)
		return all;
	if (uc->batchpercentage > 0) {
		double b = ceil(uc->batchpercentage / 100.0 * n);
		return b < 1 ? 1 : b > all ? all : (uint32_t)b;
	}
	return uc->batchsize > 0 && (uint32_t)uc->batchsize < all ? (uint32_t)uc->batchsize : all;
}

static enum rpc_code check_options(const Peloton__Api__Update__UpdateConfig *uc, char *err,
                                   size_t len)
{
	if (!uc)
		return RPC_OK;
	if (uc->batchsize < 0)
		return snprintf(err, len, "updateConfig.batchSize %d is negative", uc->batchsize),
		       RPC_INVALID_ARGUMENT;
	if (!isfinite(uc->batchpercentage) || uc->batchpercentage < 0 || uc->batchpercentage > 100)
		return snprintf(err, len, "updateConfig.batchPercentage must be within 0..100"),
		       RPC_INVALID_ARGUMENT;
	return RPC_OK;
}

/* Packed equality of two optional messages. */
static bool same_msg(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la = a ? protobuf_c_message_get_packed_size(a) : 0;
	size_t lb = b ? protobuf_c_message_get_packed_size(b) : 0;
	if (la != lb)
		return false;
	if (la == 0)
		return true;
	uint8_t *pa = malloc(la), *pb = malloc(lb);
	bool same = pa && pb && protobuf_c_message_pack(a, pa) == la &&
	            protobuf_c_message_pack(b, pb) == lb && memcmp(pa, pb, la) == 0;
	free(pa);
	free(pb);
	return same;
}

/* A default config with a volume whose resources or volume would change. */
static bool stateful_change(const Peloton__Api__Task__TaskConfig *old,
                            const Peloton__Api__Task__TaskConfig *next)
{
	if (!jm__wants_volume(old))
		return false;
	return !next ||
	       !same_msg(old->resource ? &old->resource->base : NULL,
	                 next->resource ? &next->resource->base : NULL) ||
	       !same_msg(&old->volume->base, next->volume ? &next->volume->base : NULL);
}

/* cfg as j's next config (malloc'd clone), its pool filled in when left
 * out; NULL with err when it changes what an update cannot. */
static Peloton__Api__Job__JobConfig *next_config(const struct jm_job *j,
                                                 const Peloton__Api__Job__JobConfig *cfg,
                                                 enum rpc_code *rc, char *err, size_t len)
{
	const char *pool = cfg->respoolid && cfg->respoolid->value ? cfg->respoolid->value : "";
	*rc = RPC_INVALID_ARGUMENT;
	if (cfg->type != j->cfg->type)
		return snprintf(err, len, "a job's type cannot change (it is %s)",
		                protobuf_c_enum_descriptor_get_value(
		                    &peloton__api__job__job_type__descriptor, j->cfg->type)
		                    ->name),
		       NULL;
	if (pool[0] && strcmp(pool, j->pool) != 0)
		return snprintf(err, len, "a job's resource pool cannot change (it is %s)",
		                j->pool),
		       NULL;
	if (stateful_change(j->cfg->defaultconfig, cfg->defaultconfig))
		return snprintf(err, len,
		                "the resources and volume of a job's stateful tasks cannot change "
		                "(their reservations and volumes keep the first launch's sizes)"),
		       NULL;
	*rc = RPC_INTERNAL;
	Peloton__Api__Job__JobConfig *nc = (Peloton__Api__Job__JobConfig *)proto_clone(&cfg->base);
	if (nc && !pool[0]) {
		if (!nc->respoolid)
			nc->respoolid = (Peloton__Api__Peloton__ResourcePoolID *)proto_new(
			    &peloton__api__peloton__resource_pool_id__descriptor);
		if (nc->respoolid) {
			if (nc->respoolid->value != protobuf_c_empty_string)
				free(nc->respoolid->value); /* (the default is static) */
			nc->respoolid->value = strdup(j->pool);
		}
		if (!nc->respoolid || !nc->respoolid->value) {
			protobuf_c_message_free_unpacked(&nc->base, NULL);
			nc = NULL;
		}
	}
	if (!nc)
		snprintf(err, len, "out of memory");
	return nc;
}

/* The update record for j moving to the version just installed. */
static struct jm_update *update_new(const struct jm_job *j, uint64_t from_ver, uint32_t from_n,
                                    const Peloton__Api__Update__UpdateConfig *uc)
{
	struct jm_update *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	ids_uuid(u->id);
	u->job = (struct jm_job *)j;
	u->from_ver = from_ver;
	u->to_ver = j->cfg_version;
	u->from_n = from_n;
	u->to_n = j->cfg->instancecount;
	u->batch = batch_of(uc, span(u));
	u->batch_size = uc ? uc->batchsize : 0;
	u->batch_pct = uc ? uc->batchpercentage : 0;
	u->stop_first = uc && uc->stopbeforeupdate;
	u->start_paused = uc && uc->startpaused;
	u->whole = !uc;
	u->state = u->start_paused ? PELOTON__API__UPDATE__STATE__PAUSED
	                           : PELOTON__API__UPDATE__STATE__ROLLING_FORWARD;
	u->resume_to = PELOTON__API__UPDATE__STATE__ROLLING_FORWARD;
	u->created_ns = clock_wall_ns();
	return u;
}

enum rpc_code jm__rollout_create(struct jobmgr *jm, struct jm_job *j,
                                 const Peloton__Api__Job__JobConfig *cfg,
                                 const Peloton__Api__Update__UpdateConfig *uc, char *id_out,
                                 char *err, size_t len)
{
	enum rpc_code rc;
	if (!cfg)
		return snprintf(err, len, "config is required"), RPC_INVALID_ARGUMENT;
	if ((rc = check_options(uc, err, len)) != RPC_OK)
		return rc;
	/* validated as it will be: in the job's pool when it names none */
	Peloton__Api__Job__JobConfig shown = *cfg;
	Peloton__Api__Peloton__ResourcePoolID own = PELOTON__API__PELOTON__RESOURCE_POOL_ID__INIT;
	if (!cfg->respoolid || !cfg->respoolid->value || !cfg->respoolid->value[0]) {
		own.value = j->pool; /* (set at creation, never changed) */
		shown.respoolid = &own;
	}
	if (jobmgr_validate(jm, &shown, err, len) != 0)
		return RPC_INVALID_ARGUMENT;
	struct store_batch *sb = store_batch_new(jm->cfg.store);
	if (!sb)
		return snprintf(err, len, "out of memory"), RPC_INTERNAL;
	pthread_mutex_lock(&j->mu);
	/* JobManager.Update sets the config now: one of its own still running
	 * is superseded (aborted where it is) */
	bool supersede = !uc && jm_update_live(j->upd) && j->upd->whole;
	bool busy = jm_update_live(j->upd) && !supersede;
	Peloton__Api__Job__JobConfig *nc = busy ? NULL : next_config(j, cfg, &rc, err, len);
	if (busy)
		rc = RPC_ALREADY_EXISTS,
		snprintf(err, len, "job %s has an update running: %s", j->id, j->upd->id);
	if (nc && supersede)
		finish__(jm, j, j->upd, PELOTON__API__UPDATE__STATE__ABORTED, sb);
	size_t blen;
	uint8_t *bytes = nc ? proto_pack_alloc(&nc->base, &blen) : NULL;
	uint64_t from_ver = j->cfg_version;
	uint32_t from_n = j->n;
	if (nc && (!bytes || jm__install__(j, nc, bytes, blen, 0) != 0))
		rc = RPC_INTERNAL, snprintf(err, len, "out of memory");
	else if (nc)
		rc = RPC_OK;
	struct jm_update *u = rc == RPC_OK ? update_new(j, from_ver, from_n, uc) : NULL;
	if (rc == RPC_OK && !u) {
		/* the version stays installed: an update of the whole job takes it */
		rc = RPC_INTERNAL, snprintf(err, len, "out of memory");
	}
	if (j->upd && j->upd->dirty)
		put_record(sb, j, j->upd); /* the superseded one */
	if (rc != RPC_OK) {
		pthread_mutex_unlock(&j->mu);
		store_commit(jm->cfg.store, sb);
		if (nc && nc != j->cfg) {
			protobuf_c_message_free_unpacked(&nc->base, NULL);
			free(bytes);
		}
		return rc;
	}
	u->job_next = j->upd;
	j->upd = u;
	j->goal = jm_job_goal(j); /* a finished batch job with instances added runs again */
	jm__job_refresh(j);
	pthread_mutex_unlock(&j->mu);
	if (store_commit(jm->cfg.store, sb) != STORE_OK)
		log_job(LOG_ERROR, "jobmgr", j->id,
		        "job %s: the superseded update's end not persisted", j->id);
	char msg[64];
	snprintf(msg, sizeof(msg), "config version %llu", (unsigned long long)j->cfg_version);
	struct store_batch *b = store_batch_new(jm->cfg.store);
	if (jm__persist_tasks(jm, j, 0, msg) != 0 || !b) {
		store_batch_free(b);
		return snprintf(err, len, "cannot persist the update"), RPC_INTERNAL;
	}
	pthread_mutex_lock(&j->mu);
	put_record(b, j, u);
	pthread_mutex_unlock(&j->mu);
	if (store_commit(jm->cfg.store, b) != STORE_OK)
		return snprintf(err, len, "cannot persist the update"), RPC_INTERNAL;
	if (jm__update_index(jm, u) != 0)
		log_error("jobmgr", "update %s: out of memory indexing it (GetUpdate misses it)",
		          u->id);
	atomic_fetch_add(&jm->upd_created, 1);
	snprintf(id_out, 40, "%s", u->id);
	log_job(LOG_INFO, "jobmgr", j->id,
	        "job %s: update %s to config version %llu, %u -> %u instances, batch %u%s%s", j->id,
	        u->id, (unsigned long long)u->to_ver, u->from_n, u->to_n, u->batch,
	        u->stop_first ? ", stop before update" : "", u->start_paused ? ", paused" : "");
	return RPC_OK;
}

/* What op does to u (j->mu held): RPC_OK, or UNAVAILABLE with err. */
static enum rpc_code apply_op__(struct jobmgr *jm, struct jm_job *j, struct jm_update *u,
                                enum jm_update_op op, struct store_batch *b, char *err, size_t len)
{
	uint8_t s = u->state;
	bool live = jm_update_live(u), last = u == j->upd;
	switch (op) {
	case JM_UPD_PAUSE:
		if (!moving(u))
			break;
		u->resume_to = s;
		u->state = PELOTON__API__UPDATE__STATE__PAUSED;
		return u->dirty = true, RPC_OK;
	case JM_UPD_RESUME:
		if (s != PELOTON__API__UPDATE__STATE__PAUSED)
			break;
		u->state = u->resume_to;
		return u->dirty = true, RPC_OK;
	case JM_UPD_ROLLBACK:
		if (!live || !last ||
		    (s == PELOTON__API__UPDATE__STATE__PAUSED
		         ? u->resume_to == PELOTON__API__UPDATE__STATE__ROLLING_BACK
		         : s == PELOTON__API__UPDATE__STATE__ROLLING_BACK))
			break;
		return rollback__(jm, j, u, b) == 0 ? RPC_OK : RPC_INTERNAL;
	case JM_UPD_ABORT:
		if (!live)
			break;
		finish__(jm, j, u, PELOTON__API__UPDATE__STATE__ABORTED, b);
		return RPC_OK;
	}
	snprintf(err, len, "update %s is %s", u->id, state_name(s));
	return RPC_UNAVAILABLE;
}

enum rpc_code jm__rollout_op(struct jobmgr *jm, const char *id, enum jm_update_op op, char *err,
                             size_t len)
{
	pthread_rwlock_rdlock(&jm->lock);
	struct jm_update *u = id ? jm__update_find(jm, id) : NULL;
	struct jm_job *j = u ? u->job : NULL; /* valid for this call (jm__bury's grace) */
	pthread_rwlock_unlock(&jm->lock);
	if (!j || j->deleted)
		return snprintf(err, len, "update %.60s not found", id ? id : ""), RPC_NOT_FOUND;
	struct store_batch *b = store_batch_new(jm->cfg.store);
	if (!b)
		return snprintf(err, len, "out of memory"), RPC_INTERNAL;
	pthread_mutex_lock(&j->mu);
	enum rpc_code rc = apply_op__(jm, j, u, op, b, err, len);
	if (rc == RPC_OK)
		put_record(b, j, u);
	pthread_mutex_unlock(&j->mu);
	if (store_commit(jm->cfg.store, b) != STORE_OK && rc == RPC_OK)
		return snprintf(err, len, "cannot persist the change of update %s", id),
		       RPC_INTERNAL;
	return rc;
}

/* ---- recovery ---- */

struct load_ctx {
	struct jm_job *j;
	struct jm_update *list; /* oldest first while read */
	int rc;
};

static bool load_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                     uint64_t version)
{
	(void)version;
	struct load_ctx *c = arg;
	const char *k = key;
	size_t jl = strlen(c->j->id) + 1, il = klen - jl;
	struct jm_update *u = calloc(1, sizeof(*u));
	if (!u) {
		c->rc = -1;
		return false;
	}
	if (klen <= jl || il >= sizeof(u->id) || rec_unpack(val, vlen, u) != 0) {
		log_job(LOG_ERROR, "jobmgr", c->j->id,
		        "job %s: an unreadable update record; skipped", c->j->id);
		free(u);
		return true;
	}
	memcpy(u->id, k + jl, il);
	u->id[il] = 0;
	u->job = c->j;
	/* newest first: insert by creation time */
	struct jm_update **pp = &c->list;
	while (*pp && (*pp)->created_ns > u->created_ns)
		pp = &(*pp)->job_next;
	u->job_next = *pp;
	*pp = u;
	return true;
}

int jm__rollout_load(struct jobmgr *jm, struct jm_job *j)
{
	char prefix[160];
	size_t pl = store_key_job_prefix(prefix, j->id);
	struct load_ctx c = {j, NULL, 0};
	if (store_scan(jm->cfg.store, STORE_UPDATES, prefix, pl, false, load_one, &c) < 0)
		c.rc = -1;
	j->upd = c.list;
	for (struct jm_update *u = c.list; u; u = u->job_next)
		if (jm__update_index(jm, u) != 0)
			c.rc = -1;
	struct jm_update *u = j->upd;
	if (jm_update_live(u) && span(u) > j->n) {
		/* instances the update removes and has not yet: back in the job */
		uint32_t all = span(u);
		struct jm_task *nt = realloc(j->tasks, all * sizeof(*nt));
		Peloton__Api__Task__TaskConfig **m =
		    nt ? realloc(j->merged, all * sizeof(*m)) : NULL;
		if (nt)
			j->tasks = nt;
		if (!m)
			return -1;
		j->merged = m;
		for (uint32_t i = j->n; i < all; i++)
			m[i] = j->cfg->defaultconfig;
		jm__born(j, j->n, all);
		j->n = all;
	}
	if (u)
		log_job(LOG_INFO, "jobmgr", j->id,
		        "job %s: update %s is %s (%u of %u instances done)", j->id, u->id,
		        state_name(u->state), u->done, span(u));
	return c.rc;
}
