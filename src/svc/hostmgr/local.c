/*
 * The host manager in process (hostmgr_local_ops, hostmgr_seam.h): launches
 * and kills go to the Mesos client, placement engines lease hosts straight
 * from the index (the hot path: RCU reads and one CAS per host, no copy),
 * and status updates reach their consumer through the event stream, read
 * by a thread of this file with the semantics a consumer apart gets over
 * WaitForEvents.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>

#include "clock.h"
#include "hostmgr_int.h"
#include "log.h"

static int l_launch(void *arg, const char *host, const char *agent, const char *const *offers,
                    size_t n_offers, const struct launchable *lts, size_t n)
{
	char err[256];
	if (hostmgr__launch(arg, host, agent, offers, n_offers, lts, n, err, sizeof(err)) ==
	    LAUNCH_OK)
		return 0;
	log_warn("hostmgr", "launch of %zu task(s) on %s: %s", n, host ? host : "?", err);
	return -1;
}

static int l_kill(void *arg, const char *task, const char *agent)
{
	return mesos_client_kill(((struct hostmgr *)arg)->mc, task, agent);
}

static int l_ack(void *arg, const Mesos__V1__TaskStatus *st)
{
	return mesos_client_acknowledge(((struct hostmgr *)arg)->mc, st);
}

static int l_reconcile(void *arg, const char *task, const char *agent)
{
	const char *agents[1] = {agent};
	return mesos_client_reconcile(((struct hostmgr *)arg)->mc, &task, agents, 1);
}

/* Opens (again) the in-process consumer's stream into w; false when it cannot. */
static bool open_stream(struct hostmgr *hm, Peloton__Private__Eventstream__WaitForEventsRequest *w,
                        char *sid, size_t sid_len)
{
	Peloton__Private__Eventstream__InitStreamRequest ir =
	    PELOTON__PRIVATE__EVENTSTREAM__INIT_STREAM_REQUEST__INIT;
	ir.clientname = "jobmgr";
	Peloton__Private__Eventstream__InitStreamResponse *init =
	    eventstream_init_stream(hm->es, &ir);
	bool ok = init && !init->error && init->streamid;
	if (ok) {
		snprintf(sid, sid_len, "%s", init->streamid);
		w->streamid = sid;
		w->beginoffset = init->previouspurgeoffset > init->minoffset
		                     ? init->previouspurgeoffset
		                     : init->minoffset;
		w->purgeoffset = w->beginoffset;
	}
	if (init)
		protobuf_c_message_free_unpacked(&init->base, NULL);
	return ok;
}

/*
 * The consumer's thread: batches from beginOffset, each update given to
 * the consumer (which acknowledges through l_ack once durable), then
 * purged. It never stops before l_stop_updates: a refused read (nothing in
 * process should cause one; the RPC face cannot reach this client) opens
 * the stream again from the last purge, and updates given twice are
 * harmless to the job manager (a repeat changes nothing and is acked).
 */
static void *events_main(void *arg)
{
	struct hostmgr *hm = arg;
	char sid[64] = "";
	Peloton__Private__Eventstream__WaitForEventsRequest w =
	    PELOTON__PRIVATE__EVENTSTREAM__WAIT_FOR_EVENTS_REQUEST__INIT;
	w.clientname = "jobmgr";
	w.limit = 1000;
	w.timeoutms = 100;
	bool open = false;
	while (!atomic_load(&hm->es_stop)) {
		if (!open && !(open = open_stream(hm, &w, sid, sizeof(sid)))) {
			atomic_store(&hm->es_healthy, false);
			log_error("jobmgr", "cannot open the event stream; trying again");
			struct timespec nap = {0, 100 * 1000 * 1000};
			nanosleep(&nap, NULL);
			continue;
		}
		Peloton__Private__Eventstream__WaitForEventsResponse *r =
		    eventstream_wait(hm->es, &w);
		if (!r)
			continue;
		if (r->error) {
			log_error("jobmgr", "event stream: read refused; opening it again from the "
			                    "last purge");
			protobuf_c_message_free_unpacked(&r->base, NULL);
			open = false;
			continue;
		}
		atomic_store(&hm->es_healthy, true);
		for (size_t i = 0; i < r->n_events; i++) {
			if (r->events[i]->mesostaskstatus)
				hm->upd_fn(hm->upd_arg, r->events[i]->mesostaskstatus, NULL, NULL);
			w.beginoffset = r->events[i]->offset + 1;
		}
		w.purgeoffset = w.beginoffset;
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	return NULL;
}

static int l_start_updates(void *arg, hostmgr_update_f fn, void *fn_arg)
{
	struct hostmgr *hm = arg;
	if (hm->es_started)
		return -1;
	hm->upd_fn = fn;
	hm->upd_arg = fn_arg;
	atomic_store(&hm->es_stop, false);
	atomic_store(&hm->es_healthy, true);
	if (pthread_create(&hm->es_thread, NULL, events_main, hm) != 0)
		return -1;
	pthread_setname_np(hm->es_thread, "jm-events");
	hm->es_started = true;
	return 0;
}

static void l_stop_updates(void *arg)
{
	struct hostmgr *hm = arg;
	if (!hm->es_started)
		return;
	atomic_store(&hm->es_stop, true);
	pthread_join(hm->es_thread, NULL);
	hm->es_started = false;
}

static int i_acquire(void *arg, const struct hostmatch_filter *f, const void *filter_pb,
                     size_t pb_len, uint32_t max_hosts, enum hostidx_order order, uint64_t now_ns,
                     struct hostidx_acquire_out *out, const char **why)
{
	(void)filter_pb, (void)pb_len;
	return hostidx_acquire(arg, f, max_hosts, order, now_ns, out, why);
}

static void i_release(void *arg, struct hostidx_lease *lease)
{
	hostidx_release(arg, lease);
}

static int i_consume_all(void *arg, struct hostidx_lease *leases, size_t n,
                         struct hostidx_offer_ids *out)
{
	return hostidx_consume_all(arg, leases, n, out);
}

static void i_capacity(void *arg, double out[RES_N])
{
	struct hostidx_capacity c;
	hostidx_capacity(arg, &c);
	out[RES_CPU] = c.physical.cpus;
	out[RES_MEMORY] = c.physical.mem_mb;
	out[RES_DISK] = c.physical.disk_mb;
	out[RES_GPU] = c.physical.gpus;
}

struct hostmgr_index_ops hostmgr_index_ops(struct hostidx *idx)
{
	return (struct hostmgr_index_ops){.acquire = i_acquire,
	                                  .release = i_release,
	                                  .consume_all = i_consume_all,
	                                  .capacity = i_capacity,
	                                  .arg = idx};
}

static int l_consume_held(void *arg, const char *const *hosts, size_t n,
                          struct hostidx_offer_ids *out, char *err, size_t errlen)
{
	return hostsvc_consume_held(((struct hostmgr *)arg)->hsvc, hosts, n, out, err, errlen);
}

/* The leases an engine spends are kept by hostname for a launcher apart. */
static int h_acquire(void *arg, const struct hostmatch_filter *f, const void *filter_pb,
                     size_t pb_len, uint32_t max_hosts, enum hostidx_order order, uint64_t now_ns,
                     struct hostidx_acquire_out *out, const char **why)
{
	return i_acquire(((struct hostmgr *)arg)->idx, f, filter_pb, pb_len, max_hosts, order,
	                 now_ns, out, why);
}

static void h_release(void *arg, struct hostidx_lease *lease)
{
	hostidx_release(((struct hostmgr *)arg)->idx, lease);
}

static int h_hold(void *arg, struct hostidx_lease *leases, size_t n, struct hostidx_offer_ids *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (struct hostidx_offer_ids){0};
	return hostsvc_hold(((struct hostmgr *)arg)->hsvc, leases, n);
}

static void h_unspend(void *arg, const char *hostname, const char *agent_id,
                      const struct hostidx_offer_ids *ids)
{
	(void)agent_id;
	(void)ids; /* none: the lease is held whole (h_hold) */
	hostsvc_unhold(((struct hostmgr *)arg)->hsvc, hostname);
}

static void h_capacity(void *arg, double out[RES_N])
{
	i_capacity(((struct hostmgr *)arg)->idx, out);
}

static int l_consume_all(void *arg, struct hostidx_lease *leases, size_t n,
                         struct hostidx_offer_ids *out)
{
	return hostidx_consume_all(((struct hostmgr *)arg)->idx, leases, n, out);
}

/* A refused placement's offers, spent from the index: declined at once, so
 * the master offers the host again now rather than after --offer-hold-secs. */
static void l_unspend(void *arg, const char *hostname, const char *agent_id,
                      const struct hostidx_offer_ids *ids)
{
	struct hostmgr *d = arg;
	(void)hostname;
	(void)agent_id;
	if (d->mc == NULL || ids == NULL || ids->n == 0)
		return;
	mesos_client_decline(d->mc, (const char *const *)ids->ids, ids->n, 0);
	atomic_fetch_add(&d->offers_declined, ids->n);
}

struct hostmgr_index_ops hostmgr_held_index_ops(struct hostmgr *hm)
{
	return (struct hostmgr_index_ops){.acquire = h_acquire,
	                                  .release = h_release,
	                                  .consume_all = h_hold,
	                                  .unspend = h_unspend,
	                                  .capacity = h_capacity,
	                                  .arg = hm};
}

static int l_destroy_volume(void *arg, const char *host, const char *volume_id, const char *job,
                            uint32_t instance)
{
	char err[256];
	if (hostmgr__destroy_volume(arg, host, volume_id, job, instance, err, sizeof(err)) == 0)
		return 0;
	log_debug("hostmgr", "volume %s on %s not destroyed yet: %s", volume_id, host, err);
	return -1;
}

static int l_refresh_host(void *arg, const char *host)
{
	struct hostmgr *d = arg;
	struct hostidx_offer_ids o = {0};
	char agent[256], err[256];
	if (hostsvc_take_host(d->hsvc, host, clock_mono_ns(), &o, agent, sizeof(agent), err,
	                      sizeof(err)) != 0)
		return -1;
	mesos_client_decline(d->mc, (const char *const *)o.ids, o.n, 0);
	atomic_fetch_add(&d->offers_declined, o.n);
	hostidx_offer_ids_fini(&o);
	return 0;
}

struct hostmgr_ops hostmgr_local_ops(struct hostmgr *hm)
{
	return (struct hostmgr_ops){.launch = l_launch,
	                            .destroy_volume = l_destroy_volume,
	                            .refresh_host = l_refresh_host,
	                            .kill = l_kill,
	                            .ack = l_ack,
	                            .browse = hostmgr__browse,
	                            .reconcile = l_reconcile,
	                            .start_updates = l_start_updates,
	                            .stop_updates = l_stop_updates,
	                            .index = {.acquire = h_acquire,
	                                      .release = h_release,
	                                      .consume_all = l_consume_all,
	                                      .unspend = l_unspend,
	                                      .capacity = h_capacity,
	                                      .arg = hm},
	                            .consume_held = l_consume_held,
	                            .arg = hm};
}
