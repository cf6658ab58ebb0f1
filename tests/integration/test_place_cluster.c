/*
 * In-process integration: 1,000 hosts, 20 jobs of mixed shapes (1-8 cpus,
 * with and without ports, gangs of 1-8), 2 placement workers, a launcher
 * that checks every placement against the offers it spends — with its own
 * bookkeeping, independent of the index — and re-offers the remainder as
 * Mesos would. Every task must be placed exactly once, no host
 * over-committed, every gang whole. Runs under TSan as well.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu.h>

#include "pel_assert.h"
#include "placement.h"
#include "resmgr.h"
#include "proto_codec.h"
#include "peloton/private/resmgr/resmgr.pb-c.h"

#define HOSTS 1000
#define JOBS 20
#define MAX_TASKS 4000

struct job {
	int tasks, gang;
	double cpus;
	uint32_t ports;
};

static struct job jobs[JOBS];
static int total_tasks;
static _Atomic uint8_t placed_count[JOBS][MAX_TASKS / JOBS + 8];
static _Atomic int n_placed;

/* The test's own view of offers: id -> host, cpus, mem, ports. */
struct offer {
	char id[48];
	int host;
	double cpus, mem;
	uint32_t port_lo, port_hi;
	bool spent;
};
static struct offer *offers;
static int n_offers, cap_offers;
static pthread_mutex_t offers_mu = PTHREAD_MUTEX_INITIALIZER;

static struct respool_tree *pools;
static struct resmgr *rm;
static struct hostidx *idx;
static char leaf[40];

static void offer_host(int h, double cpus, double mem, uint32_t lo, uint32_t hi)
{
	char host[32];
	snprintf(host, sizeof(host), "host-%04d", h);
	pthread_mutex_lock(&offers_mu);
	if (n_offers == cap_offers) {
		cap_offers = cap_offers ? cap_offers * 2 : 4096;
		offers = realloc(offers, (size_t)cap_offers * sizeof(*offers));
	}
	struct offer *o = &offers[n_offers];
	*o = (struct offer){.host = h, .cpus = cpus, .mem = mem, .port_lo = lo, .port_hi = hi};
	snprintf(o->id, sizeof(o->id), "o-%d", n_offers);
	n_offers++;
	struct hostidx_range r = {lo, hi};
	static const char *const attrs[] = {"zone=a"};
	struct hostidx_offer_in in = {.offer_id = o->id,
	                              .hostname = host,
	                              .agent_id = host,
	                              .res = {cpus, mem, 100000, 0},
	                              .n_ranges = hi >= lo ? 1 : 0,
	                              .ranges = &r,
	                              .n_attrs = 1,
	                              .attrs = attrs};
	PEL_ASSERT(hostidx_add_offers(idx, &in, 1) == 0);
	pthread_mutex_unlock(&offers_mu);
}

static struct offer *offer_by_id(const char *id)
{
	return &offers[atoi(id + 2)];
}

static void check_and_launch(const struct resmgr_placement_out *p)
{
	double cpus = 0, mem = 0, off_cpus = 0, off_mem = 0;
	int host = -1;
	uint32_t lo = 0, hi = 0;

	pthread_mutex_lock(&offers_mu);
	PEL_ASSERT(p->n_offer_ids >= 1);
	for (size_t i = 0; i < p->n_offer_ids; i++) {
		struct offer *o = offer_by_id(p->offer_ids[i]);
		PEL_ASSERT(!o->spent); /* an offer is spent once */
		o->spent = true;
		PEL_ASSERT(host < 0 || host == o->host);
		host = o->host;
		off_cpus += o->cpus;
		off_mem += o->mem;
		lo = o->port_lo;
		hi = o->port_hi;
	}
	pthread_mutex_unlock(&offers_mu);
	for (size_t i = 0; i < p->n_tasks; i++) {
		int j, k;
		PEL_ASSERT(sscanf(p->task_ids[i], "j%d-%d", &j, &k) == 2);
		cpus += jobs[j].cpus;
		mem += jobs[j].cpus * 512;
		PEL_ASSERT(atomic_fetch_add(&placed_count[j][k], 1) == 0); /* exactly once */
		atomic_fetch_add(&n_placed, 1);
		PEL_ASSERT(resmgr_notify(rm, p->task_ids[i], TEV_LAUNCHED) == RM_OK);
	}
	for (size_t i = 0; i < p->n_ports; i++) {
		PEL_ASSERT(p->ports[i] >= lo && p->ports[i] <= hi);
		for (size_t k = i + 1; k < p->n_ports; k++)
			PEL_ASSERT(p->ports[i] != p->ports[k]);
	}
	PEL_ASSERT(cpus <= off_cpus + 1e-9 && mem <= off_mem + 1e-9); /* not over-committed */
	/* Mesos re-offers what the ACCEPT did not use (ports: a fresh range) */
	if (off_cpus - cpus >= 0.5)
		offer_host(host, off_cpus - cpus, off_mem - mem, hi + 1, hi + 40);
}

static _Atomic int done;

static void *launcher(void *arg)
{
	(void)arg;
	struct resmgr_placement_out po[16];
	rcu_register_thread();
	while (atomic_load(&n_placed) < total_tasks && !atomic_load(&done)) {
		size_t n = resmgr_get_placements(rm, 16, 10000000, po);
		for (size_t i = 0; i < n; i++) {
			check_and_launch(&po[i]);
			resmgr_placement_free(&po[i]);
		}
	}
	rcu_unregister_thread();
	return NULL;
}

static void enqueue_job(int j)
{
	for (int start = 0; start < jobs[j].tasks; start += jobs[j].gang) {
		struct resmgr_task_spec specs[8];
		char ids[8][32];
		void *payloads[8];
		int n = jobs[j].gang;
		for (int i = 0; i < n; i++) {
			Peloton__Private__Resmgr__Task t = PELOTON__PRIVATE__RESMGR__TASK__INIT;
			Peloton__Api__Task__ResourceConfig r =
			    PELOTON__API__TASK__RESOURCE_CONFIG__INIT;
			Peloton__Api__Peloton__TaskID tid = PELOTON__API__PELOTON__TASK_ID__INIT;
			snprintf(ids[i], sizeof(ids[i]), "j%d-%d", j, start + i);
			tid.value = ids[i];
			r.cpulimit = jobs[j].cpus;
			r.memlimitmb = jobs[j].cpus * 512;
			t.id = &tid;
			t.resource = &r;
			t.numports = jobs[j].ports;
			size_t len;
			payloads[i] = proto_pack_alloc(&t.base, &len);
			specs[i] = (struct resmgr_task_spec){
			    .id = ids[i],
			    .res = {jobs[j].cpus, jobs[j].cpus * 512, 0, 0},
			    .preemptible = true,
			    .type = RM_TYPE_BATCH,
			    .payload = payloads[i],
			    .payload_len = len};
		}
		struct resmgr_gang_spec g = {specs, (size_t)n};
		enum resmgr_fail f;
		resmgr_enqueue_gangs(rm, leaf, &g, 1, &f);
		PEL_ASSERT(f == RM_OK);
		for (int i = 0; i < n; i++)
			free(payloads[i]);
	}
}

int main(void)
{
	struct respool_error e;
	struct respool_config c = {.name = "leaf"};
	pthread_t lt;

	rcu_register_thread();
	c.res[RES_CPU] = (struct respool_res){0, 1e9, 1};
	c.res[RES_MEMORY] = (struct respool_res){0, 1e12, 1};
	c.res_set[RES_CPU] = c.res_set[RES_MEMORY] = true;
	pools = respool_tree_create();
	PEL_ASSERT(respool_create(pools, &c, leaf, sizeof(leaf), &e) == 0);
	struct resmgr_config rc = {.pools = pools};
	rm = resmgr_create(&rc);
	idx = hostidx_create(NULL);
	for (int h = 0; h < HOSTS; h++)
		offer_host(h, 8 + (h % 4) * 8, (8 + (h % 4) * 8) * 1024, 31000, 31099);
	for (int j = 0; j < JOBS; j++) {
		static const int gangs[] = {1, 1, 2, 4, 8};
		jobs[j] = (struct job){
		    .gang = gangs[j % 5], .cpus = 1 + (j % 4) * 2, .ports = j % 3 == 0 ? 2 : 0};
		jobs[j].tasks = (40 + (j * 37) % 160) / jobs[j].gang * jobs[j].gang;
		total_tasks += jobs[j].tasks;
		enqueue_job(j);
	}
	double cap[RES_N] = {1e9, 1e12, 0, 0};
	resmgr_entitle(rm, cap);
	struct placement_config pc = {.rm = resmgr_local_ops(rm),
	                              .hosts = hostmgr_index_ops(idx),
	                              .idx = idx,
	                              .workers = 2,
	                              .dequeue_timeout_ns = 5000000};
	struct placement *pl = placement_create(&pc);
	pthread_create(&lt, NULL, launcher, NULL);
	PEL_ASSERT(placement_start(pl) == 0);
	for (int i = 0; i < 6000 && atomic_load(&n_placed) < total_tasks; i++) {
		struct timespec d = {0, 10000000};
		nanosleep(&d, NULL); /* bounded by the ctest TIMEOUT as well */
		resmgr_admit(rm);
		resmgr_tick(rm);
	}
	atomic_store(&done, 1);
	pthread_join(lt, NULL);
	placement_stop(pl);
	struct placement_stats st;
	placement_get_stats(pl, &st);
	fprintf(stderr,
	        "placed %d of %d tasks in %llu rounds (%llu hosts acquired, %llu retried)\n",
	        atomic_load(&n_placed), total_tasks, (unsigned long long)st.rounds,
	        (unsigned long long)st.acquired_hosts, (unsigned long long)st.retried);
	PEL_ASSERT(atomic_load(&n_placed) == total_tasks);
	for (int j = 0; j < JOBS; j++)
		for (int k = 0; k < jobs[j].tasks; k++)
			PEL_ASSERT(atomic_load(&placed_count[j][k]) == 1);
	placement_destroy(pl);
	resmgr_destroy(rm);
	hostidx_destroy(idx);
	respool_tree_destroy(pools);
	free(offers);
	rcu_unregister_thread();
	printf("placement integration ok: %d tasks on %d hosts\n", total_tasks, HOSTS);
	return 0;
}
