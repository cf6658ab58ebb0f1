/*
 * bench_place: the headline — tasks placed per second, end to end through
 * the resource manager, the placement engine and the host index.
 *
 * Setup (not timed): `hosts` fresh hosts (bench_cluster: 16-96 cpus, 4-8 GB
 * per core, 5% GPU, 200 ports each), 100 leaf pools under 3 levels, `tasks`
 * tasks in gangs of `gang` enqueued with their resmgr.Task payloads (4
 * shapes: 0.1-0.5 cpus, 128-1024 MB, a quarter with 2 ports) and admitted:
 * every task is READY when the clock starts.
 *
 * max mode — one op = one task placed (READY -> PLACED). The engine's
 * workers run until every task is placed; a launcher thread plays Mesos:
 * for each placement it spends the host's offer and offers the remainder
 * back, so hosts fill up. Reported: tasks placed per second, p50/p99 of
 * READY -> PLACED (in this mode dominated by queueing: every task is ready
 * at t0), hosts acquired per task, CPU seconds per 1,000 placements.
 * steady mode — single-task gangs fed at half the max rate measured just
 * before, admitted as they arrive; p50/p99 READY -> PLACED under that load.
 *
 *   fast:     src/svc/placement (grouping by shape, one acquire per group,
 *             pack, one all-or-nothing consume per round) over src/hot/hostidx
 *   baseline: modelled on upstream's engine: one task per acquire, the
 *             host map behind one global mutex scanned from a random start
 *             (as in bench_acquire), no grouping; same resource manager.
 * Cases: hosts {10000, 50000} x gang {1, 8} x workers {1, 2}.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <urcu.h>

#include "bench_cluster.h"
#include "bench_util.h"
#include "peloton/private/resmgr/resmgr.pb-c.h"
#include "placement.h"
#include "resmgr.h"
#include "proto_codec.h"

#define LEAVES 100
#define SHAPES 4

static const double shape_cpu[SHAPES] = {0.1, 0.2, 0.25, 0.5};
static const double shape_mem[SHAPES] = {128, 256, 512, 1024};
static const uint32_t shape_ports[SHAPES] = {0, 0, 0, 2};

static struct bench_host *hosts;
static size_t n_hosts;
static char leaf_ids[LEAVES][40];
static uint64_t *ready_ns, *placed_ns;
static _Atomic size_t n_placed;
static size_t n_tasks;
static struct resmgr *rm;
static struct hostidx *idx;
static struct respool_tree *pools;
static uint64_t offer_seq;
static pthread_mutex_t offer_mu = PTHREAD_MUTEX_INITIALIZER;

static int task_shape(size_t i)
{
	return (int)(i % SHAPES);
}

static size_t task_no(const char *id)
{
	return (size_t)strtoull(id + 1, NULL, 10);
}

static void build_pools(void)
{
	struct respool_error e;
	char l1[40], l2[40];
	int n = 0;

	pools = respool_tree_create();
	for (int a = 0; a < 5; a++)
		for (int b = 0; b < 4; b++)
			for (int d = 0; d < 5; d++, n++) {
				char name[32];
				struct respool_config c = {.name = name};
				c.res[RES_CPU] = (struct respool_res){0, 1e9, 1};
				c.res[RES_MEMORY] = (struct respool_res){0, 1e12, 1};
				c.res_set[RES_CPU] = c.res_set[RES_MEMORY] = true;
				if (b == 0 && d == 0) {
					snprintf(name, sizeof(name), "l1-%d", a);
					respool_create(pools, &c, l1, sizeof(l1), &e);
				}
				if (d == 0) {
					snprintf(name, sizeof(name), "l2-%d", b);
					c.parent_id = l1;
					respool_create(pools, &c, l2, sizeof(l2), &e);
				}
				snprintf(name, sizeof(name), "leaf-%d", d);
				c.parent_id = l2;
				respool_create(pools, &c, leaf_ids[n], sizeof(leaf_ids[n]), &e);
			}
}

/* Offers host h's free resources (under offer_mu). */
static void offer(struct bench_host *h, uint32_t port_lo)
{
	snprintf(h->offer_id, sizeof(h->offer_id), "%s-%llu", h->name,
	         (unsigned long long)offer_seq++);
	const char *attrs[3] = {h->texts[1], h->texts[2], h->texts[3]};
	struct hostidx_range r = {port_lo, port_lo + (h->ports ? h->ports - 1 : 0)};
	struct hostidx_offer_in o = {.offer_id = h->offer_id,
	                             .hostname = h->name,
	                             .agent_id = h->name,
	                             .res = h->free,
	                             .n_ranges = h->ports ? 1 : 0,
	                             .ranges = &r,
	                             .n_attrs = 3,
	                             .attrs = attrs};
	if (hostidx_add_offers(idx, &o, 1) != 0) {
		fprintf(stderr, "bench_place: add_offers failed\n");
		exit(1);
	}
}

static void setup(size_t hosts_n, uint64_t seed)
{
	n_hosts = hosts_n;
	hosts = bench_cluster_gen(hosts_n, seed, true);
	for (size_t i = 0; i < hosts_n; i++)
		hosts[i].ports = 200;
	build_pools();
	struct resmgr_config rc = {.pools = pools, .queue_capacity = 1u << 21};
	rm = resmgr_create(&rc);
	idx = hostidx_create(NULL);
	for (size_t i = 0; i < hosts_n; i++)
		offer(&hosts[i], 31000);
	double cap[RES_N] = {1e9, 1e12, 0, 0};
	respool_entitle(pools, cap);
}

static void teardown(void)
{
	resmgr_destroy(rm);
	hostidx_destroy(idx);
	respool_tree_destroy(pools);
	free(hosts);
}

static void *payload_of(size_t i, const char *id, size_t *len)
{
	Peloton__Private__Resmgr__Task t = PELOTON__PRIVATE__RESMGR__TASK__INIT;
	Peloton__Api__Task__ResourceConfig r = PELOTON__API__TASK__RESOURCE_CONFIG__INIT;
	Peloton__Api__Peloton__TaskID tid = PELOTON__API__PELOTON__TASK_ID__INIT;
	tid.value = (char *)id;
	r.cpulimit = shape_cpu[task_shape(i)];
	r.memlimitmb = shape_mem[task_shape(i)];
	t.id = &tid;
	t.resource = &r;
	t.numports = shape_ports[task_shape(i)];
	t.type = PELOTON__PRIVATE__RESMGR__TASK_TYPE__BATCH;
	return proto_pack_alloc(&t.base, len);
}

/* Payloads and ids built before the clock starts (the feeder must be cheap). */
static void **pre_payloads;
static size_t *pre_lens;
static char (*pre_ids)[24];

static void prebuild(size_t tasks)
{
	pre_payloads = calloc(tasks, sizeof(void *));
	pre_lens = calloc(tasks, sizeof(size_t));
	pre_ids = calloc(tasks, sizeof(*pre_ids));
	for (size_t i = 0; i < tasks; i++) {
		snprintf(pre_ids[i], sizeof(pre_ids[i]), "t%zu", i);
		pre_payloads[i] = payload_of(i, pre_ids[i], &pre_lens[i]);
	}
}

static void prebuild_free(size_t tasks)
{
	for (size_t i = 0; i < tasks; i++)
		free(pre_payloads[i]);
	free(pre_payloads);
	free(pre_lens);
	free(pre_ids);
}

/* Enqueues tasks [from, to) in gangs of `gang` (prebuilt payloads). */
static void enqueue_range(size_t from, size_t to, size_t gang)
{
	for (size_t g0 = from; g0 < to; g0 += gang) {
		struct resmgr_task_spec specs[8];
		size_t n = gang < to - g0 ? gang : to - g0;
		for (size_t k = 0; k < n; k++) {
			size_t i = g0 + k;
			specs[k] = (struct resmgr_task_spec){
			    .id = pre_ids[i],
			    .res = {shape_cpu[task_shape(i)], shape_mem[task_shape(i)], 0, 0},
			    .preemptible = true,
			    .type = RM_TYPE_BATCH,
			    .num_ports = shape_ports[task_shape(i)],
			    .payload = pre_payloads[i],
			    .payload_len = pre_lens[i]};
		}
		struct resmgr_gang_spec gs = {specs, n};
		resmgr_enqueue_gangs(rm, leaf_ids[(g0 / gang) % LEAVES], &gs, 1, NULL);
	}
}

static void on_placed(void *arg, const char *id)
{
	(void)arg;
	size_t i = task_no(id);
	if (i < n_tasks)
		placed_ns[i] = bench_now_ns();
	atomic_fetch_add(&n_placed, 1);
}

/* --- Mesos, played by a thread: spend the offer, re-offer the remainder ---- */

static _Atomic int stop_launcher;

static void *launcher(void *arg)
{
	struct resmgr_placement_out po[64];
	(void)arg;
	rcu_register_thread();
	while (!atomic_load(&stop_launcher)) {
		size_t n = resmgr_get_placements(rm, 64, 1000000, po);
		for (size_t i = 0; i < n; i++) {
			struct bench_host *h = &hosts[strtoull(po[i].hostname + 5, NULL, 10)];
			pthread_mutex_lock(&offer_mu);
			for (size_t k = 0; k < po[i].n_tasks; k++) {
				int s = task_shape(task_no(po[i].task_ids[k]));
				h->free.cpus -= shape_cpu[s];
				h->free.mem_mb -= shape_mem[s];
			}
			uint32_t port_lo = 31000;
			for (size_t k = 0; k < po[i].n_ports; k++)
				if (po[i].ports[k] >= port_lo)
					port_lo = po[i].ports[k] + 1;
			h->ports = port_lo < 31200 ? 31200 - port_lo : 0;
			if (h->free.cpus >= 0.1 && h->free.mem_mb >= 128)
				offer(h, port_lo);
			pthread_mutex_unlock(&offer_mu);
			resmgr_placement_free(&po[i]);
		}
	}
	rcu_unregister_thread();
	return NULL;
}

/* --- the baseline engine ---------------------------------------------------- */

struct base_host {
	struct bench_host *h;
	uint32_t next_port;
};

static struct {
	pthread_mutex_t mu;
	struct base_host **slots;
	size_t n_slots;
} base = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

static void base_build(void)
{
	base.n_slots = 1;
	while (base.n_slots < n_hosts * 2)
		base.n_slots <<= 1;
	base.slots = calloc(base.n_slots, sizeof(*base.slots));
	for (size_t i = 0; i < n_hosts; i++) {
		struct base_host *b = calloc(1, sizeof(*b));
		b->h = &hosts[i];
		b->next_port = 31000;
		size_t k = hostmatch_label_hash(hosts[i].name) & (base.n_slots - 1);
		while (base.slots[k] != NULL)
			k = (k + 1) & (base.n_slots - 1);
		base.slots[k] = b;
	}
}

static void base_free(void)
{
	for (size_t i = 0; i < base.n_slots; i++)
		free(base.slots[i]);
	free(base.slots);
	base.slots = NULL;
}

/* One task, one acquire: scan the map under the global mutex. */
static bool base_place_one(const char *id, const void *payload, size_t len, uint64_t *rs)
{
	Peloton__Private__Resmgr__Task *t =
	    (Peloton__Private__Resmgr__Task *)protobuf_c_message_unpack(
	        &peloton__private__resmgr__task__descriptor, NULL, len, payload);
	if (t == NULL)
		return false;
	double cpus = t->resource->cpulimit, mem = t->resource->memlimitmb;
	uint32_t np = t->numports, ports[8];
	protobuf_c_message_free_unpacked(&t->base, NULL);
	struct base_host *got = NULL;
	size_t start = bench_rng(rs) & (base.n_slots - 1);
	pthread_mutex_lock(&base.mu);
	for (size_t i = 0; i < base.n_slots && got == NULL; i++) {
		struct base_host *b = base.slots[(start + i) & (base.n_slots - 1)];
		if (b == NULL || b->h->free.gpus > 0 || b->h->free.cpus < cpus ||
		    b->h->free.mem_mb < mem || b->next_port + np > 31200)
			continue;
		got = b;
		b->h->free.cpus -= cpus;
		b->h->free.mem_mb -= mem;
		for (uint32_t k = 0; k < np; k++)
			ports[k] = b->next_port++;
	}
	pthread_mutex_unlock(&base.mu);
	if (got == NULL)
		return false;
	const char *ids[1] = {id};
	struct resmgr_placement p = {.hostname = got->h->name,
	                             .agent_id = got->h->name,
	                             .task_ids = ids,
	                             .n_tasks = 1,
	                             .ports = ports,
	                             .n_ports = np};
	resmgr_set_placements(rm, &p, 1, NULL);
	on_placed(NULL, id);
	return true;
}

static _Atomic int stop_base;

static void *base_worker(void *arg)
{
	struct resmgr_gang_out g[10];
	uint64_t rs = 0x9e3779b97f4a7c15ull * (uintptr_t)arg + 1;
	rcu_register_thread();
	while (!atomic_load(&stop_base)) {
		size_t n = resmgr_dequeue_gangs(rm, RM_TYPE_UNKNOWN, 10, 1000000, g);
		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; k < g[i].n_tasks; k++)
				base_place_one(g[i].task_ids[k], g[i].payloads[k],
				               g[i].payload_lens[k], &rs);
			resmgr_gang_free(&g[i]);
		}
	}
	rcu_unregister_thread();
	return NULL;
}

/* --- runs --------------------------------------------------------------------- */

struct result {
	struct bench_result r;
	double hosts_per_task, cpu_s_per_1k;
	uint64_t retried, rounds; /* placement engine stats (fast only) */
	size_t placed;
};

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static struct bench_result latency(size_t n, uint64_t elapsed, size_t placed)
{
	struct bench_samples s;
	bench_samples_init(&s, n ? n : 1);
	for (size_t i = 0; i < n; i++)
		if (placed_ns[i] && ready_ns[i])
			bench_samples_add(
			    &s, placed_ns[i] > ready_ns[i] ? placed_ns[i] - ready_ns[i] : 0);
	s.ops = placed;
	s.elapsed_ns = elapsed;
	struct bench_result r = bench_summarise(&s);
	bench_samples_fini(&s);
	return r;
}

static struct result run_max(bool fast, size_t hosts_n, size_t tasks, size_t gang, unsigned workers,
                             uint64_t seed)
{
	struct result res = {0};
	pthread_t lt, bt[4];
	struct placement *pl = NULL;

	setup(hosts_n, seed);
	n_tasks = tasks;
	ready_ns = calloc(tasks, sizeof(uint64_t));
	placed_ns = calloc(tasks, sizeof(uint64_t));
	atomic_store(&n_placed, 0);
	prebuild(tasks);
	enqueue_range(0, tasks, gang);
	resmgr_admit(rm);
	uint64_t t0 = bench_now_ns();
	for (size_t i = 0; i < tasks; i++)
		ready_ns[i] = t0;
	double c0 = cpu_seconds();
	if (fast) {
		struct placement_config pc = {.rm = resmgr_local_ops(rm),
		                              .hosts = hostmgr_index_ops(idx),
		                              .idx = idx,
		                              .workers = workers,
		                              .batch = 64,
		                              .dequeue_timeout_ns = 1000000,
		                              .on_placed = on_placed};
		pl = placement_create(&pc);
		atomic_store(&stop_launcher, 0);
		pthread_create(&lt, NULL, launcher, NULL);
		placement_start(pl);
	} else {
		base_build();
		atomic_store(&stop_base, 0);
		for (unsigned w = 0; w < workers; w++)
			pthread_create(&bt[w], NULL, base_worker, (void *)(uintptr_t)w);
	}
	while (atomic_load(&n_placed) < tasks && bench_now_ns() - t0 < 120ull * 1000000000ull) {
		struct timespec d = {0, 1000000};
		nanosleep(&d, NULL);
	}
	uint64_t elapsed = bench_now_ns() - t0;
	res.placed = atomic_load(&n_placed);
	res.cpu_s_per_1k = res.placed ? (cpu_seconds() - c0) / (double)res.placed * 1000 : 0;
	if (fast) {
		struct placement_stats st;
		placement_get_stats(pl, &st);
		res.hosts_per_task =
		    res.placed ? (double)st.acquired_hosts / (double)res.placed : 0;
		res.retried = st.retried;
		res.rounds = st.rounds;
		placement_stop(pl);
		atomic_store(&stop_launcher, 1);
		pthread_join(lt, NULL);
		placement_destroy(pl);
	} else {
		atomic_store(&stop_base, 1);
		for (unsigned w = 0; w < workers; w++)
			pthread_join(bt[w], NULL);
		res.hosts_per_task = 1;
		base_free();
	}
	res.r = latency(tasks, elapsed, res.placed);
	free(ready_ns);
	free(placed_ns);
	prebuild_free(tasks);
	teardown();
	return res;
}

/* Steady mode: feed single-task gangs at `rate` tasks/s for `secs`. */
static struct result run_steady(size_t hosts_n, double rate, double secs, unsigned workers,
                                uint64_t seed)
{
	struct result res = {0};
	pthread_t lt;
	size_t tasks = (size_t)(rate * secs) + 1;

	setup(hosts_n, seed);
	n_tasks = tasks;
	ready_ns = calloc(tasks, sizeof(uint64_t));
	placed_ns = calloc(tasks, sizeof(uint64_t));
	atomic_store(&n_placed, 0);
	prebuild(tasks);
	struct placement_config pc = {.rm = resmgr_local_ops(rm),
	                              .hosts = hostmgr_index_ops(idx),
	                              .idx = idx,
	                              .workers = workers,
	                              .batch = 64,
	                              .dequeue_timeout_ns = 100000000,
	                              .on_placed = on_placed};
	struct placement *pl = placement_create(&pc);
	atomic_store(&stop_launcher, 0);
	pthread_create(&lt, NULL, launcher, NULL);
	placement_start(pl);
	uint64_t t0 = bench_now_ns();
	double c0 = cpu_seconds();
	size_t fed = 0;
	while (fed < tasks) {
		uint64_t due = (uint64_t)((double)(bench_now_ns() - t0) / 1e9 * rate);
		size_t to = due < tasks ? (size_t)due : tasks;
		if (to > fed) {
			enqueue_range(fed, to, 1);
			uint64_t t = bench_now_ns();
			resmgr_admit(rm);
			for (size_t i = fed; i < to; i++)
				ready_ns[i] = t;
			fed = to;
		} else {
			struct timespec d = {0, 200000};
			nanosleep(&d, NULL);
		}
	}
	while (atomic_load(&n_placed) < tasks && bench_now_ns() - t0 < (uint64_t)(secs * 4e9)) {
		struct timespec d = {0, 1000000};
		nanosleep(&d, NULL);
	}
	uint64_t elapsed = bench_now_ns() - t0;
	res.placed = atomic_load(&n_placed);
	res.cpu_s_per_1k = res.placed ? (cpu_seconds() - c0) / (double)res.placed * 1000 : 0;
	struct placement_stats st;
	placement_get_stats(pl, &st);
	res.hosts_per_task = res.placed ? (double)st.acquired_hosts / (double)res.placed : 0;
	res.retried = st.retried;
	res.rounds = st.rounds;
	placement_stop(pl);
	atomic_store(&stop_launcher, 1);
	pthread_join(lt, NULL);
	placement_destroy(pl);
	res.r = latency(tasks, elapsed, res.placed);
	free(ready_ns);
	free(placed_ns);
	prebuild_free(tasks);
	teardown();
	return res;
}

static int cmp_result(const void *a, const void *b)
{
	double x = ((const struct result *)a)->r.ops_per_s,
	       y = ((const struct result *)b)->r.ops_per_s;
	return x < y ? -1 : x > y;
}

static void print(const char *cname, const char *impl, size_t hosts_n, size_t gang, unsigned w,
                  const char *mode, const struct result *r, double ratio)
{
	char extra[400];
	snprintf(extra, sizeof(extra),
	         "\"hosts\":%zu,\"gang\":%zu,\"workers\":%u,\"mode\":\"%s\",\"tasks_placed\":%zu,"
	         "\"hosts_acquired_per_task\":%.3f,\"cpu_s_per_1k\":%.4f,\"rounds\":%llu,"
	         "\"retried\":%llu",
	         hosts_n, gang, w, mode, r->placed, r->hosts_per_task, r->cpu_s_per_1k,
	         (unsigned long long)r->rounds, (unsigned long long)r->retried);
	bench_print("bench_place", cname, impl, extra, &r->r, ratio);
}

int main(int argc, char **argv)
{
	static const char help[] =
	    "One op: one task placed (READY -> PLACED) through the resource manager, the\n"
	    "placement engine and the host index; a thread plays Mesos (spends offers,\n"
	    "re-offers the remainder). max mode: everything READY at t0, run to the last\n"
	    "task; p50/p99 READY->PLACED (queueing dominated). steady mode: single-task\n"
	    "gangs fed at half the max rate; p50/p99 READY->PLACED under that load.\n"
	    "fast = src/svc/placement; baseline = one task per acquire over a host map\n"
	    "behind one mutex (upstream's shape), same tasks.\n"
	    "Cases: hosts {10000,50000} x gang {1,8} x workers {1,2} (+ steady).";
	static const size_t host_counts[] = {10000, 50000};
	static const size_t gangs[] = {1, 8};
	struct bench_opts o;

	bench_parse(argc, argv, help, &o);
	rcu_register_thread();
	size_t tasks = o.quick ? 20000 : 1000000;
	unsigned reps = o.quick ? 1 : (o.reps < 3 ? o.reps : 3);
	for (int hc = 0; hc < 2; hc++) {
		size_t hn = o.quick ? host_counts[hc] / 10 : host_counts[hc];
		for (int gi = 0; gi < 2; gi++)
			for (unsigned w = 1; w <= 2; w++) {
				char cname[96];
				snprintf(cname, sizeof(cname),
				         "hosts=%zu,gang=%zu,workers=%u,mode=max", hn, gangs[gi],
				         w);
				if (!bench_selected(&o, cname))
					continue;
				struct result f[3], b[3];
				for (unsigned r = 0; r < reps; r++) {
					if (!o.impl || o.impl[0] == 'b')
						b[r] =
						    run_max(false, hn, tasks, gangs[gi], w, o.seed);
					if (!o.impl || o.impl[0] == 'f')
						f[r] =
						    run_max(true, hn, tasks, gangs[gi], w, o.seed);
				}
				qsort(f, reps, sizeof(f[0]), cmp_result);
				qsort(b, reps, sizeof(b[0]), cmp_result);
				if (!o.impl || o.impl[0] == 'b')
					print(cname, "baseline", hn, gangs[gi], w, "max",
					      &b[reps / 2], -1);
				if (!o.impl || o.impl[0] == 'f')
					print(cname, "fast", hn, gangs[gi], w, "max", &f[reps / 2],
					      o.impl ? -1
					             : f[reps / 2].r.ops_per_s /
					                   b[reps / 2].r.ops_per_s);
				if (gangs[gi] == 1 && (!o.impl || o.impl[0] == 'f')) {
					snprintf(cname, sizeof(cname),
					         "hosts=%zu,gang=1,workers=%u,mode=steady", hn, w);
					double rate = f[reps / 2].r.ops_per_s / 2;
					struct result s =
					    run_steady(hn, rate, o.quick ? 0.5 : 3, w, o.seed);
					char mode[64];
					snprintf(mode, sizeof(mode), "steady@%.0f/s", rate);
					print(cname, "fast", hn, 1, w, mode, &s, -1);
				}
			}
	}
	rcu_unregister_thread();
	return 0;
}
