/* The job manager role: lifecycle, metrics, its seam; see jobmgr.h. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jm.h"
#include "persist.h"
#include "pjson.h"
#include "rollout.h"
#include "run.h"
#include "volume.h"

struct jobmgr *jobmgr_create(const struct jobmgr_config *cfg)
{
	struct jobmgr *jm = calloc(1, sizeof(*jm));
	if (!jm)
		return NULL;
	jm->cfg = *cfg;
	jm->rm_apart = jm->cfg.rm.came_back != NULL;
	if (!jm->cfg.max_instances)
		jm->cfg.max_instances = 100000;
	if (!jm->cfg.launch_batch)
		jm->cfg.launch_batch = 64;
	if (!jm->cfg.reconcile_after_ns)
		jm->cfg.reconcile_after_ns = 120000000000ull;
	if (jm__table_init(jm) != 0) {
		free(jm);
		return NULL;
	}
	if (jm__volumes_init(jm) != 0) {
		jm__table_fini(jm);
		free(jm);
		return NULL;
	}
	pthread_mutex_init(&jm->launch_mu, NULL);
	pthread_cond_init(&jm->launch_cv, NULL);
	pthread_mutex_init(&jm->kick_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&jm->kick_cv, &ca);
	pthread_condattr_destroy(&ca);
	return jm;
}

void jobmgr_destroy(struct jobmgr *jm)
{
	if (!jm)
		return;
	jobmgr_stop(jm);
	jm__table_fini(jm);
	jm__volumes_fini(jm);
	pthread_mutex_destroy(&jm->launch_mu);
	pthread_cond_destroy(&jm->launch_cv);
	pthread_mutex_destroy(&jm->kick_mu);
	pthread_cond_destroy(&jm->kick_cv);
	free(jm);
}

int jobmgr_start(struct jobmgr *jm)
{
	if (jm->launcher_on)
		return 0;
	atomic_store(&jm->stop, false);
	if (pthread_create(&jm->launcher, NULL, jm__launcher_main, jm) != 0)
		return -1;
	pthread_setname_np(jm->launcher, "jm-launcher");
	if (pthread_create(&jm->sweeper, NULL, jm__sweeper_main, jm) != 0) {
		atomic_store(&jm->stop, true);
		pthread_join(jm->launcher, NULL);
		return -1;
	}
	pthread_setname_np(jm->sweeper, "jm-sweeper");
	jm->launcher_on = true;
	if (jm->cfg.hm.start_updates &&
	    jm->cfg.hm.start_updates(jm->cfg.hm.arg, jobmgr_on_status_cb, jm) != 0) {
		jobmgr_stop(jm);
		return -1;
	}
	return 0;
}

void jobmgr_stop(struct jobmgr *jm)
{
	if (!jm || !jm->launcher_on)
		return;
	if (jm->cfg.hm.stop_updates)
		jm->cfg.hm.stop_updates(jm->cfg.hm.arg);
	atomic_store(&jm->stop, true);
	jm__rollout_kick(jm); /* the sweeper wakes to see it */
	pthread_join(jm->launcher, NULL);
	pthread_join(jm->sweeper, NULL);
	jm->launcher_on = false;
}

/* ---- reconciliation list ---- */

static void live_tasks(void *arg, struct jobmgr_live *out)
{
	jobmgr_reconcile_list(arg, out);
}

struct jobmgr_ops jobmgr_seam_ops(struct jobmgr *jm)
{
	return (struct jobmgr_ops){.live_tasks = live_tasks, .arg = jm};
}

void jobmgr_count_states(struct jobmgr *jm, uint64_t counts[16])
{
	memset(counts, 0, 16 * sizeof(uint64_t));
	pthread_rwlock_rdlock(&jm->lock);
	for (struct jm_job *j = jm->all; j; j = j->all_next) {
		pthread_mutex_lock(&j->mu);
		for (int s = 0; s < TASK_N_STATES; s++)
			counts[s] += j->counts[s];
		pthread_mutex_unlock(&j->mu);
	}
	pthread_rwlock_unlock(&jm->lock);
}

/* Each job's newest update by update.State (the older ones are over). */
static void count_updates(struct jobmgr *jm, uint64_t by_state[6])
{
	memset(by_state, 0, 6 * sizeof(uint64_t));
	pthread_rwlock_rdlock(&jm->lock);
	for (struct jm_job *j = jm->all; j; j = j->all_next) {
		pthread_mutex_lock(&j->mu);
		if (j->upd && !j->deleted && j->upd->state < 6)
			by_state[j->upd->state]++;
		pthread_mutex_unlock(&j->mu);
	}
	pthread_rwlock_unlock(&jm->lock);
}

static void write_update_metrics(struct jobmgr *jm, FILE *f)
{
	uint64_t u[6];
	count_updates(jm, u);
	fprintf(f, "# HELP peloton_updates Each job's latest update, by state.\n"
	           "# TYPE peloton_updates gauge\n");
	for (int s = 0; s < 6; s++)
		fprintf(f, "peloton_updates{state=\"%s\"} %llu\n",
		        protobuf_c_enum_descriptor_get_value(
		            &peloton__api__update__state__descriptor, s)
		            ->name,
		        (unsigned long long)u[s]);
	fprintf(
	    f,
	    "# HELP peloton_updates_created_total Updates created (UpdateService, "
	    "JobManager.Update).\n"
	    "# TYPE peloton_updates_created_total counter\npeloton_updates_created_total %llu\n"
	    "# HELP peloton_update_instances_total Instances updates have taken (relaunched, "
	    "started or stopped for a new config version).\n"
	    "# TYPE peloton_update_instances_total counter\n"
	    "peloton_update_instances_total %llu\n"
	    "# HELP peloton_update_rollbacks_total Updates rolled back (asked, or after an "
	    "instance failed on the new version).\n"
	    "# TYPE peloton_update_rollbacks_total counter\npeloton_update_rollbacks_total %llu\n",
	    (unsigned long long)atomic_load(&jm->upd_created),
	    (unsigned long long)atomic_load(&jm->upd_instances),
	    (unsigned long long)atomic_load(&jm->upd_rollbacks));
}

void jobmgr_write_metrics(struct jobmgr *jm, FILE *f)
{
	uint64_t c[16];
	jobmgr_count_states(jm, c);
	write_update_metrics(jm, f);
	fprintf(f, "# HELP peloton_task_submit_to_running_seconds From a run's PENDING (created, "
	           "started, relaunched) to its RUNNING.\n"
	           "# TYPE peloton_task_submit_to_running_seconds histogram\n");
	hist_write(&jm->submit_to_running, f, "peloton_task_submit_to_running_seconds", "");
	pthread_rwlock_rdlock(&jm->lock);
	size_t n_jobs = jm->n_jobs;
	pthread_rwlock_unlock(&jm->lock);
	fprintf(f, "# HELP peloton_tasks Tasks known to the job manager by state.\n"
	           "# TYPE peloton_tasks gauge\n");
	for (int s = 1; s < TASK_N_STATES; s++)
		fprintf(f, "peloton_tasks{state=\"%s\"} %llu\n", taskstate_name((enum taskstate)s),
		        (unsigned long long)c[s]);
	fprintf(f,
	        "# HELP peloton_jobs Jobs known to the job manager.\n# TYPE peloton_jobs gauge\n"
	        "peloton_jobs %zu\n"
	        "# HELP peloton_task_launches_total Tasks handed to Mesos.\n"
	        "# TYPE peloton_task_launches_total counter\npeloton_task_launches_total %llu\n"
	        "# HELP peloton_status_updates_total Mesos status updates processed.\n"
	        "# TYPE peloton_status_updates_total counter\npeloton_status_updates_total %llu\n",
	        n_jobs, (unsigned long long)atomic_load(&jm->launched),
	        (unsigned long long)atomic_load(&jm->updates));
	jm__volumes_metrics(jm, f);
}

/* GET /ui/data/job-config/<job>/<version>: that config version as JSON
 * (every version stays in the store until the job is deleted). */
static bool job_config_view(struct jobmgr *jm, const char *method, const char *url,
                            unsigned *status, char **out)
{
	static const char pre[] = "/ui/data/job-config/";
	if (strncmp(url, pre, sizeof(pre) - 1) != 0)
		return false;
	char job[64];
	unsigned long long ver = 0;
	const char *slash = strrchr(url, '/');
	size_t jl = (size_t)(slash - (url + sizeof(pre) - 1));
	*status = 404;
	*out = NULL;
	if (strcmp(method, "GET") != 0)
		*status = 405;
	else if (slash > url + sizeof(pre) - 1 && jl < sizeof(job) &&
	         sscanf(slash + 1, "%llu", &ver) == 1) {
		memcpy(job, url + sizeof(pre) - 1, jl);
		job[jl] = 0;
		Peloton__Api__Job__JobConfig *c = jm__load_config(jm, job, ver);
		json_t *j = c ? pjson_encode(&c->base) : NULL;
		if (c)
			protobuf_c_message_free_unpacked(&c->base, NULL);
		*out = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		*status = *out ? 200 : 404;
	}
	if (!*out)
		*out = strdup(*status == 405 ? "{\"error\":\"GET only\"}"
		                             : "{\"error\":\"no such job or config version\"}");
	return true;
}

bool jobmgr_http(struct jobmgr *jm, const char *method, const char *url, unsigned *status,
                 char **out)
{
	static const char pre[] = "/ui/data/job-states/";
	if (job_config_view(jm, method, url, status, out))
		return true;
	if (strncmp(url, pre, sizeof(pre) - 1) != 0)
		return false;
	const char *id = url + sizeof(pre) - 1;
	*status = strcmp(method, "GET") != 0 ? 405 : 404;
	struct jm_job *j = *status == 404 ? jm__find(jm, id) : NULL;
	if (!j || j->deleted) {
		*out = strdup(*status == 405 ? "{\"error\":\"GET only\"}"
		                             : "{\"error\":\"no such job\"}");
		return true;
	}
	pthread_mutex_lock(&j->mu);
	size_t n = j->n;
	char *buf = malloc(n + 32);
	if (buf) {
		memcpy(buf, "{\"states\":\"", 11);
		for (size_t i = 0; i < n; i++)
			buf[11 + i] = (char)('a' + (j->tasks[i].state & 15));
		memcpy(buf + 11 + n, "\"}", 3);
	}
	pthread_mutex_unlock(&j->mu);
	*out = buf;
	*status = 200;
	return true;
}
