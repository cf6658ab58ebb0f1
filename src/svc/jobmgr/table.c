/* The job manager's job table, job memory and task ids; see jm.h. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fsm.h"
#include "htab.h"
#include "jm.h"

struct jm_job *jm__find(struct jobmgr *jm, const char *id)
{
	struct jm_job *j;
	pthread_rwlock_rdlock(&jm->lock);
	j = htab_get(&jm->jobs, id);
	pthread_rwlock_unlock(&jm->lock);
	return j;
}

int jm__insert(struct jobmgr *jm, struct jm_job *j)
{
	pthread_rwlock_wrlock(&jm->lock);
	int rc = htab_put(&jm->jobs, j);
	if (rc == 0) {
		j->all_next = jm->all;
		jm->all = j;
		jm->n_jobs++;
	}
	pthread_rwlock_unlock(&jm->lock);
	return rc;
}

void jm__task_fini(struct jm_task *t)
{
	free(t->host);
	free(t->agent);
	free(t->ports);
	free(t->message);
	free(t->reason);
}

void jm__free_merged(Peloton__Api__Task__TaskConfig **merged, uint32_t n,
                     const Peloton__Api__Job__JobConfig *cfg)
{
	for (uint32_t i = 0; merged && i < n; i++)
		if (merged[i] && merged[i] != cfg->defaultconfig)
			protobuf_c_message_free_unpacked(&merged[i]->base, NULL);
	free(merged);
}

void jm__job_free(struct jm_job *j)
{
	if (!j)
		return;
	for (uint32_t i = 0; j->tasks && i < j->n; i++)
		jm__task_fini(&j->tasks[i]);
	free(j->tasks);
	if (j->cfg) { /* (merged is NULL without a config) */
		jm__free_merged(j->merged, j->n, j->cfg);
		protobuf_c_message_free_unpacked(&j->cfg->base, NULL);
	}
	for (size_t i = 0; i < j->n_retired; i++) {
		struct jm_retired *r = &j->retired[i];
		jm__free_merged(r->merged, r->n, r->cfg);
		protobuf_c_message_free_unpacked(&r->cfg->base, NULL);
	}
	free(j->retired);
	while (j->upd) {
		struct jm_update *u = j->upd;
		j->upd = u->job_next;
		free(u);
	}
	free(j->cfg_bytes);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

/* A deleted job's memory outlives its removal from the index by this much:
 * far longer than any call holds a job pointer (RPC deadlines, a launch
 * batch, one status update). */
#define GRAVE_NS (600ull * 1000000000ull)

void jm__bury(struct jobmgr *jm, uint64_t now)
{
	if (!atomic_load(&jm->to_bury) && !atomic_load(&jm->buried))
		return; /* nothing to do: no write lock taken */
	pthread_rwlock_wrlock(&jm->lock);
	for (struct jm_job **pp = &jm->all; *pp;) {
		struct jm_job *j = *pp;
		if (!atomic_load(&j->purged)) {
			pp = &j->all_next;
			continue;
		}
		atomic_fetch_sub(&jm->to_bury, 1);
		atomic_fetch_add(&jm->buried, 1);
		*pp = j->all_next;
		htab_del(&jm->jobs, j->id);
		for (struct jm_update *u = j->upd; u; u = u->job_next)
			htab_del(&jm->upd_index, u->id);
		jm->n_jobs--;
		j->buried_ns = now;
		j->all_next = jm->graveyard;
		jm->graveyard = j;
	}
	struct jm_job *old = NULL;
	for (struct jm_job **pp = &jm->graveyard; *pp;) {
		struct jm_job *j = *pp;
		if (now - j->buried_ns >= GRAVE_NS) {
			atomic_fetch_sub(&jm->buried, 1);
			*pp = j->all_next;
			j->all_next = old;
			old = j;
		} else {
			pp = &j->all_next;
		}
	}
	pthread_rwlock_unlock(&jm->lock);
	while (old) {
		struct jm_job *n = old->all_next;
		jm__job_free(old);
		old = n;
	}
}

/* ---- ids ---- */

/* "<job>-<instance>[-<run>]" -> job, instance, run (run 0 when absent). */
int jm__parse_task_id(const char *id, bool with_run, char *job, size_t jlen, uint32_t *inst,
                      uint32_t *run)
{
	const char *d1 = strrchr(id, '-');
	if (!d1)
		return -1;
	const char *d2 = d1;
	*run = 0;
	if (with_run) {
		char *end;
		unsigned long r = strtoul(d1 + 1, &end, 10);
		if (*end || end == d1 + 1)
			return -1;
		*run = (uint32_t)r;
		for (d2 = d1 - 1; d2 > id && *d2 != '-'; d2--)
			;
		if (d2 <= id)
			return -1;
	}
	char *end;
	unsigned long in = strtoul(d2 + 1, &end, 10);
	if (end != (with_run ? d1 : d1 + strlen(d1)) || end == d2 + 1)
		return -1;
	size_t n = (size_t)(d2 - id);
	if (n == 0 || n >= jlen)
		return -1;
	memcpy(job, id, n);
	job[n] = 0;
	*inst = (uint32_t)in;
	return 0;
}

struct jm_job *jm__job_new(const char *id, Peloton__Api__Job__JobConfig *cfg)
{
	struct jm_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	snprintf(j->id, sizeof(j->id), "%s", id);
	pthread_mutex_init(&j->mu, NULL);
	j->cfg = cfg;
	j->n = cfg->instancecount;
	j->tasks = calloc(j->n ? j->n : 1, sizeof(*j->tasks));
	if (!j->tasks || jm__build_merged(j) != 0) {
		jm__free_merged(j->merged, j->n, cfg);
		j->merged = NULL;
		j->cfg = NULL; /* not taken */
		jm__job_free(j);
		return NULL;
	}
	jm__born(j, 0, j->n);
	if (cfg->respoolid && cfg->respoolid->value)
		snprintf(j->pool, sizeof(j->pool), "%s", cfg->respoolid->value);
	j->goal = PELOTON__API__JOB__JOB_STATE__SUCCEEDED;
	return j;
}

struct jm_update *jm__update_find(struct jobmgr *jm, const char *id)
{
	return htab_get(&jm->upd_index, id);
}

int jm__update_index(struct jobmgr *jm, struct jm_update *u)
{
	pthread_rwlock_wrlock(&jm->lock);
	int rc = htab_put(&jm->upd_index, u);
	pthread_rwlock_unlock(&jm->lock);
	return rc;
}

int jm__table_init(struct jobmgr *jm)
{
	if (htab_init(&jm->jobs, HTAB_KEY_ARRAY, 256) != 0)
		return -1;
	if (htab_init(&jm->upd_index, HTAB_KEY_ARRAY, 64) != 0) {
		htab_fini(&jm->jobs);
		return -1;
	}
	pthread_rwlock_init(&jm->lock, NULL);
	return 0;
}

void jm__table_fini(struct jobmgr *jm)
{
	for (int list = 0; list < 2; list++) {
		struct jm_job *j = list ? jm->graveyard : jm->all;
		while (j) {
			struct jm_job *n = j->all_next;
			jm__job_free(j);
			j = n;
		}
	}
	pthread_rwlock_destroy(&jm->lock);
	htab_fini(&jm->jobs);
	htab_fini(&jm->upd_index);
}
