/* The host offer index; the design essay is in hostidx.h. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* inline read-side primitives (liburcu is LGPL-2.1; this inlines its headers) */
#define _LGPL_SOURCE
#include <urcu.h>
#include <urcu/rculfhash.h>

#include "hostidx.h"
#include "pel_assert.h"

#define HOST_MAGIC 0x486f5374u /* "HoSt" */
#define SNAP_MAGIC 0x536e4170u /* "SnAp" */
#define SNAP_POISON 0xdeadbeefu
#define DEFAULT_LEASE_NS (300ull * 1000000000ull)

/* Size classes: a host is in the last class whose bound <= its free amount. */
static const double cpu_bounds[] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96};
static const double mem_bounds[] = {0,     512,   1024,  2048,   4096,   8192,
                                    16384, 32768, 65536, 131072, 262144, 524288};
#define N_ROWS ((int)(sizeof(cpu_bounds) / sizeof(cpu_bounds[0])))
#define N_COLS ((int)(sizeof(mem_bounds) / sizeof(mem_bounds[0])))
#define N_GRIDS 2 /* 0: hosts without GPUs, 1: hosts offering GPUs */

/* Status word: generation << 8 | state. */
#define ST_STATE(s) ((enum hostidx_state)((s)&0xff))
#define ST_GEN(s) ((s) >> 8)
#define ST_MAKE(gen, state) (((uint64_t)(gen) << 8) | (uint64_t)(state))

struct hostidx_offer {
	char *id;
	uint64_t recv_ns;
	struct hostmatch_res res, reserved;
	uint32_t n_ranges;
	struct hostidx_range *ranges;
};

/* Immutable once published. refs: 1 for the index while published + 1 per lease. */
struct hostidx_snap {
	_Atomic uint32_t refs;
	uint32_t magic;
	struct rcu_head rcu;
	struct hostmatch_host view; /* free resources, n_ports, labels */
	struct hostmatch_res reserved;
	char *agent_id;
	uint32_t n_offers;
	struct hostidx_offer *offers;
	uint32_t n_ranges; /* every offer's ranges, concatenated */
	struct hostidx_range *ranges;
	struct hostmatch_label *labels; /* view.labels; texts owned here */
};

/*
 * A minimal RCU list, doubly linked for O(1) removal by the writer. Readers
 * follow `next` only, with acquire loads; the writer publishes with release
 * stores, and a removed node keeps its `next` until its grace period ends
 * (freed by call_rcu), so a reader standing on it still finds its way.
 * (liburcu's rculist does the same with plain stores and fences, which
 * ThreadSanitizer cannot model.)
 */
struct rlist {
	struct rlist *next, *prev;
};

static void rlist_init(struct rlist *head)
{
	head->next = head->prev = head;
}

/* Writer only. */
static void rlist_add_head(struct rlist *n, struct rlist *head)
{
	n->next = head->next;
	n->prev = head;
	__atomic_store_n(&head->next, n, __ATOMIC_RELEASE);
	n->next->prev = n;
}

/* Writer only. The node stays readable until a grace period has passed. */
static void rlist_del(struct rlist *n)
{
	n->next->prev = n->prev;
	__atomic_store_n(&n->prev->next, n->next, __ATOMIC_RELEASE);
}

static inline struct rlist *rlist_next_rcu(struct rlist *n)
{
	return __atomic_load_n(&n->next, __ATOMIC_ACQUIRE);
}

/* Membership of one host in one bucket list; replaced, never moved. */
struct bnode {
	struct rlist list; /* first member: a list node is its bnode */
	struct hostidx_host *host;
	struct rcu_head rcu;
};

struct hostidx_host {
	_Atomic uint64_t status;
	struct hostidx_snap *snap; /* RCU-published; NULL: no offers */
	_Atomic uint64_t lease_until_ns;
	_Atomic uint64_t lease_gen; /* generation lease_until_ns belongs to */
	uint32_t magic;
	char *hostname;
	struct cds_lfht_node by_name;
	/* writer only (index mutex): */
	struct bnode *bnode;
	int grid, row, col;
	struct hostmatch_res physical;
	struct hostidx_host *all_next;
};

struct bucket {
	struct rlist head;
	_Atomic uint32_t count;
};

/* offer id -> host, for RESCIND. Writer only. */
struct offer_ref {
	struct cds_lfht_node node;
	struct hostidx_host *host;
	struct rcu_head rcu;
	char id[];
};

struct hostidx {
	uint64_t lease_ns;
	pthread_mutex_t wlock; /* serialises writers */
	uint64_t writes;       /* under wlock: writer sections so far (debug checks) */
	struct cds_lfht *by_name;
	struct cds_lfht *offers;
	struct hostidx_host *all; /* every host ever seen (writer only) */
	_Atomic uint32_t n_live, n_with_offers;
	struct bucket buckets[N_GRIDS][N_ROWS][N_COLS];
	_Atomic uint64_t rowmask[N_GRIDS][N_ROWS]; /* bit c: bucket [r][c] non-empty */
	_Atomic uint32_t grid_count[N_GRIDS];
};

static uint64_t str_hash(const char *s)
{
	return hostmatch_label_hash(s);
}

static int class_of(const double *bounds, int n, double v)
{
	int c = 0;
	while (c + 1 < n && bounds[c + 1] <= v)
		c++;
	return c;
}

/* --- snapshots ---------------------------------------------------------- */

/*
 * rcu_assign_pointer / rcu_dereference for host snapshots, spelled as C11
 * release / acquire so ThreadSanitizer sees the ordering (liburcu 0.13's
 * macros use plain stores with fences it cannot model). Same cost on x86.
 */
static inline void snap_publish(struct hostidx_host *h, struct hostidx_snap *s)
{
	__atomic_store_n(&h->snap, s, __ATOMIC_RELEASE);
}

static inline struct hostidx_snap *snap_deref(struct hostidx_host *h)
{
	return __atomic_load_n(&h->snap, __ATOMIC_ACQUIRE);
}

static void snap_free(struct hostidx_snap *s)
{
	if (s == NULL)
		return;
	PEL_ASSERT(s->magic == SNAP_MAGIC);
	for (uint32_t i = 0; i < s->n_offers; i++) {
		free(s->offers[i].id);
		free(s->offers[i].ranges);
	}
	for (uint32_t i = 0; i < s->view.n_labels; i++)
		free((char *)s->labels[i].text);
	free(s->offers);
	free(s->ranges);
	free(s->labels);
	free(s->agent_id);
	s->magic = SNAP_POISON;
	free(s);
}

static void snap_unref(const struct hostidx_snap *cs)
{
	struct hostidx_snap *s = (struct hostidx_snap *)cs;
	if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		snap_free(s);
}

static void snap_retire_cb(struct rcu_head *head)
{
	snap_unref(caa_container_of(head, struct hostidx_snap, rcu));
}

static bool offer_copy(struct hostidx_offer *dst, const struct hostidx_offer *src)
{
	*dst = *src;
	dst->id = strdup(src->id);
	dst->ranges = NULL;
	if (src->n_ranges > 0) {
		dst->ranges = malloc(src->n_ranges * sizeof(*dst->ranges));
		if (dst->ranges != NULL)
			memcpy(dst->ranges, src->ranges, src->n_ranges * sizeof(*dst->ranges));
	}
	if (dst->id == NULL || (src->n_ranges > 0 && dst->ranges == NULL)) {
		free(dst->id);
		free(dst->ranges);
		return false;
	}
	return true;
}

static void res_add(struct hostmatch_res *a, const struct hostmatch_res *b)
{
	a->cpus += b->cpus;
	a->mem_mb += b->mem_mb;
	a->disk_mb += b->disk_mb;
	a->gpus += b->gpus;
}

/* Fills the aggregates of s from its offers; false on ENOMEM. */
static bool snap_aggregate(struct hostidx_snap *s)
{
	uint32_t nr = 0;

	s->view.free = (struct hostmatch_res){0};
	s->reserved = (struct hostmatch_res){0};
	s->view.n_ports = 0;
	for (uint32_t i = 0; i < s->n_offers; i++) {
		res_add(&s->view.free, &s->offers[i].res);
		res_add(&s->reserved, &s->offers[i].reserved);
		nr += s->offers[i].n_ranges;
	}
	s->n_ranges = 0;
	s->ranges = nr ? malloc(nr * sizeof(*s->ranges)) : NULL;
	if (nr && s->ranges == NULL)
		return false;
	for (uint32_t i = 0; i < s->n_offers; i++) {
		for (uint32_t k = 0; k < s->offers[i].n_ranges; k++) {
			struct hostidx_range r = s->offers[i].ranges[k];
			s->ranges[s->n_ranges++] = r;
			s->view.n_ports += r.end - r.begin + 1;
		}
	}
	return true;
}

/* Sets labels: "hostname=<name>" plus attrs (or old's labels when attrs NULL). */
static bool snap_labels(struct hostidx_snap *s, const char *hostname, uint32_t n_attrs,
                        const char *const *attrs, const struct hostidx_snap *old)
{
	uint32_t n = 0;
	uint32_t want = attrs ? n_attrs + 1 : (old ? old->view.n_labels : 1);

	s->labels = calloc(want, sizeof(*s->labels));
	if (s->labels == NULL)
		return false;
	for (uint32_t i = 0; i < want; i++) {
		char *t;
		if (attrs == NULL && old != NULL) {
			t = strdup(old->labels[i].text);
		} else if (i == 0) {
			size_t len = strlen(hostname) + sizeof("hostname=");
			t = malloc(len);
			if (t != NULL)
				snprintf(t, len, "hostname=%s", hostname);
		} else {
			t = strdup(attrs[i - 1]);
		}
		if (t == NULL)
			break;
		s->labels[n].text = t;
		s->labels[n].hash = hostmatch_label_hash(t);
		n++;
	}
	s->view.n_labels = n;
	s->view.labels = s->labels;
	return n == want;
}

/*
 * New snapshot: old's offers except those `drop` says, plus `add` (may be
 * NULL). Labels and agent from `add` when given, else from old. NULL on
 * ENOMEM. Returns *empty = true (and NULL) when no offer would remain.
 */
static struct hostidx_snap *snap_derive(const struct hostidx_snap *old, const char *hostname,
                                        const struct hostidx_offer_in *add,
                                        bool (*drop)(const struct hostidx_offer *, const void *),
                                        const void *arg, bool *empty)
{
	uint32_t cap = (old ? old->n_offers : 0) + (add ? 1 : 0);
	struct hostidx_snap *s = calloc(1, sizeof(*s));

	*empty = false;
	if (s == NULL)
		return NULL;
	s->magic = SNAP_MAGIC;
	atomic_init(&s->refs, 1);
	s->offers = cap ? calloc(cap, sizeof(*s->offers)) : NULL;
	if (cap && s->offers == NULL)
		goto fail;
	for (uint32_t i = 0; old && i < old->n_offers; i++) {
		if (drop && drop(&old->offers[i], arg))
			continue;
		if (!offer_copy(&s->offers[s->n_offers], &old->offers[i]))
			goto fail;
		s->n_offers++;
	}
	if (add != NULL) {
		struct hostidx_offer o = {
		    .id = (char *)add->offer_id,
		    .recv_ns = add->recv_ns,
		    .res = add->res,
		    .reserved = add->reserved,
		    .n_ranges = add->n_ranges,
		    .ranges = (struct hostidx_range *)add->ranges,
		};
		if (!offer_copy(&s->offers[s->n_offers], &o))
			goto fail;
		s->n_offers++;
	}
	if (s->n_offers == 0) {
		*empty = true;
		goto fail;
	}
	const char *agent = add ? add->agent_id : old->agent_id;
	s->agent_id = strdup(agent ? agent : "");
	if (s->agent_id == NULL || !snap_aggregate(s) ||
	    !snap_labels(s, hostname, add ? add->n_attrs : 0, add ? add->attrs : NULL, old))
		goto fail;
	return s;
fail:
	snap_free(s);
	return NULL;
}

/* --- buckets (writer) ----------------------------------------------------- */

static void bnode_free_cb(struct rcu_head *head)
{
	free(caa_container_of(head, struct bnode, rcu));
}

static void bucket_leave(struct hostidx *idx, struct hostidx_host *h)
{
	if (h->bnode == NULL)
		return;
	struct bucket *b = &idx->buckets[h->grid][h->row][h->col];
	rlist_del(&h->bnode->list);
	call_rcu(&h->bnode->rcu, bnode_free_cb);
	h->bnode = NULL;
	if (atomic_fetch_sub(&b->count, 1) == 1)
		atomic_fetch_and(&idx->rowmask[h->grid][h->row], ~(1ull << h->col));
	atomic_fetch_sub(&idx->grid_count[h->grid], 1);
}

/* Puts h in the bucket its snapshot belongs to (none without offers). */
static bool bucket_place(struct hostidx *idx, struct hostidx_host *h)
{
	const struct hostidx_snap *s = h->snap;
	int grid, row, col;

	if (s == NULL) {
		bucket_leave(idx, h);
		return true;
	}
	grid = s->view.free.gpus > 0 ? 1 : 0;
	row = class_of(cpu_bounds, N_ROWS, s->view.free.cpus);
	col = class_of(mem_bounds, N_COLS, s->view.free.mem_mb);
	if (h->bnode != NULL && h->grid == grid && h->row == row && h->col == col)
		return true;
	struct bnode *n = malloc(sizeof(*n));
	if (n == NULL)
		return false;
	bucket_leave(idx, h);
	n->host = h;
	h->grid = grid;
	h->row = row;
	h->col = col;
	h->bnode = n;
	struct bucket *b = &idx->buckets[grid][row][col];
	rlist_add_head(&n->list, &b->head);
	atomic_fetch_add(&b->count, 1);
	atomic_fetch_or(&idx->rowmask[grid][row], 1ull << col);
	atomic_fetch_add(&idx->grid_count[grid], 1);
	return true;
}

/* Publishes s (may be NULL) as h's snapshot and re-buckets h. */
static void host_publish(struct hostidx *idx, struct hostidx_host *h, struct hostidx_snap *s)
{
	struct hostidx_snap *old = h->snap;

	if (old == NULL && s != NULL)
		atomic_fetch_add(&idx->n_with_offers, 1);
	else if (old != NULL && s == NULL)
		atomic_fetch_sub(&idx->n_with_offers, 1);
	if (s != NULL) {
		struct hostmatch_res tot = s->view.free;
		res_add(&tot, &s->reserved);
		h->physical.cpus = fmax(h->physical.cpus, tot.cpus);
		h->physical.mem_mb = fmax(h->physical.mem_mb, tot.mem_mb);
		h->physical.disk_mb = fmax(h->physical.disk_mb, tot.disk_mb);
		h->physical.gpus = fmax(h->physical.gpus, tot.gpus);
	}
	snap_publish(h, s);
	if (!bucket_place(idx, h))
		bucket_leave(idx, h); /* ENOMEM: unfindable until its next update */
	if (old != NULL)
		call_rcu(&old->rcu, snap_retire_cb);
}

/* --- lookups (writer; inside rcu_read_lock) ----------------------------------- */

static int match_name(struct cds_lfht_node *node, const void *key)
{
	return strcmp(caa_container_of(node, struct hostidx_host, by_name)->hostname, key) == 0;
}

static int match_offer(struct cds_lfht_node *node, const void *key)
{
	return strcmp(caa_container_of(node, struct offer_ref, node)->id, key) == 0;
}

static struct hostidx_host *host_find(struct hostidx *idx, const char *hostname)
{
	struct cds_lfht_iter it;

	cds_lfht_lookup(idx->by_name, str_hash(hostname), match_name, hostname, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct hostidx_host, by_name) : NULL;
}

static struct offer_ref *offer_find(struct hostidx *idx, const char *id)
{
	struct cds_lfht_iter it;

	cds_lfht_lookup(idx->offers, str_hash(id), match_offer, id, &it);
	struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct offer_ref, node) : NULL;
}

static void offer_ref_free_cb(struct rcu_head *head)
{
	free(caa_container_of(head, struct offer_ref, rcu));
}

static void offer_forget(struct hostidx *idx, const char *id)
{
	struct offer_ref *r = offer_find(idx, id);
	if (r != NULL && cds_lfht_del(idx->offers, &r->node) == 0)
		call_rcu(&r->rcu, offer_ref_free_cb);
}

static struct hostidx_host *host_get(struct hostidx *idx, const char *hostname)
{
	struct hostidx_host *h = host_find(idx, hostname);

	if (h != NULL)
		return h;
	h = calloc(1, sizeof(*h));
	if (h == NULL || (h->hostname = strdup(hostname)) == NULL) {
		free(h);
		return NULL;
	}
	h->magic = HOST_MAGIC;
	atomic_init(&h->status, ST_MAKE(1, HOSTIDX_READY));
	cds_lfht_node_init(&h->by_name);
	cds_lfht_add(idx->by_name, str_hash(hostname), &h->by_name);
	h->all_next = idx->all;
	idx->all = h;
	atomic_fetch_add(&idx->n_live, 1);
	return h;
}

/* --- create / destroy --------------------------------------------------------- */

struct hostidx *hostidx_create(const struct hostidx_config *cfg)
{
	struct hostidx *idx = calloc(1, sizeof(*idx));

	if (idx == NULL)
		return NULL;
	idx->lease_ns = cfg && cfg->lease_ns ? cfg->lease_ns : DEFAULT_LEASE_NS;
	pthread_mutex_init(&idx->wlock, NULL);
	for (int g = 0; g < N_GRIDS; g++)
		for (int r = 0; r < N_ROWS; r++)
			for (int c = 0; c < N_COLS; c++)
				rlist_init(&idx->buckets[g][r][c].head);
	idx->by_name =
	    cds_lfht_new(1u << 14, 1u << 14, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	idx->offers =
	    cds_lfht_new(1u << 14, 1u << 14, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	if (idx->by_name == NULL || idx->offers == NULL) {
		hostidx_destroy(idx);
		errno = ENOMEM;
		return NULL;
	}
	return idx;
}

void hostidx_destroy(struct hostidx *idx)
{
	struct cds_lfht_iter it;

	if (idx == NULL)
		return;
	rcu_barrier(); /* run pending callbacks (bucket nodes, snapshots) first */
	if (idx->offers != NULL) {
		/* unlink every ref, then free them once the table is gone */
		struct offer_ref *dead = NULL;
		struct cds_lfht_node *n;
		rcu_read_lock();
		cds_lfht_for_each(idx->offers, &it, n)
		{
			struct offer_ref *r = caa_container_of(n, struct offer_ref, node);
			cds_lfht_del(idx->offers, n);
			r->host = (struct hostidx_host *)dead; /* reuse as a free list */
			dead = r;
		}
		rcu_read_unlock();
		cds_lfht_destroy(idx->offers, NULL);
		while (dead != NULL) {
			struct offer_ref *next = (struct offer_ref *)dead->host;
			free(dead);
			dead = next;
		}
	}
	if (idx->by_name != NULL) {
		struct cds_lfht_node *n;
		rcu_read_lock();
		cds_lfht_for_each(idx->by_name, &it, n) cds_lfht_del(idx->by_name, n);
		rcu_read_unlock();
		cds_lfht_destroy(idx->by_name, NULL);
	}
	for (struct hostidx_host *h = idx->all, *next; h != NULL; h = next) {
		next = h->all_next;
		if (h->bnode != NULL)
			free(h->bnode);
		snap_free(h->snap);
		free(h->hostname);
		h->magic = 0;
		free(h);
	}
	pthread_mutex_destroy(&idx->wlock);
	free(idx);
}

/* --- writers ------------------------------------------------------------------ */

/* Writers run under the index mutex and inside a read-side section (lfht). */
static void writer_enter(struct hostidx *idx)
{
	pthread_mutex_lock(&idx->wlock);
	rcu_read_lock();
}

static bool check__(struct hostidx *idx);

/*
 * Leaves the writer section; returns 0, or -1 with errno = err. Debug
 * builds (PELOTON_DEBUG_CHECKS) check the whole index every 64th write.
 */
static int writer_leave(struct hostidx *idx, int err)
{
#ifdef PELOTON_DEBUG_CHECKS
	if (++idx->writes % 64 == 0)
		PEL_ASSERT(check__(idx));
#endif
	rcu_read_unlock();
	pthread_mutex_unlock(&idx->wlock);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

static bool res_ok(const struct hostmatch_res *r)
{
	return isfinite(r->cpus) && r->cpus >= 0 && isfinite(r->mem_mb) && r->mem_mb >= 0 &&
	       isfinite(r->disk_mb) && r->disk_mb >= 0 && isfinite(r->gpus) && r->gpus >= 0;
}

static int offer_in_valid(struct hostidx *idx, const struct hostidx_offer_in *o,
                          const struct hostidx_offer_in *batch, size_t pos)
{
	if (o->offer_id == NULL || o->offer_id[0] == '\0' || o->hostname == NULL ||
	    o->hostname[0] == '\0' || !res_ok(&o->res) || !res_ok(&o->reserved) ||
	    (o->n_ranges > 0 && o->ranges == NULL) || (o->n_attrs > 0 && o->attrs == NULL))
		return EINVAL;
	for (uint32_t i = 0; i < o->n_ranges; i++)
		if (o->ranges[i].begin > o->ranges[i].end)
			return EINVAL;
	for (uint32_t i = 0; i < o->n_attrs; i++)
		if (o->attrs[i] == NULL)
			return EINVAL;
	if (offer_find(idx, o->offer_id) != NULL)
		return EEXIST;
	for (size_t k = 0; k < pos; k++)
		if (strcmp(batch[k].offer_id, o->offer_id) == 0)
			return EEXIST;
	return 0;
}

static int add_one(struct hostidx *idx, const struct hostidx_offer_in *o)
{
	struct hostidx_host *h = host_get(idx, o->hostname);
	size_t idlen = strlen(o->offer_id) + 1;
	struct offer_ref *ref = malloc(sizeof(*ref) + idlen);
	bool empty;

	if (h == NULL || ref == NULL) {
		free(ref);
		return ENOMEM;
	}
	struct hostidx_snap *s = snap_derive(h->snap, h->hostname, o, NULL, NULL, &empty);
	if (s == NULL) {
		free(ref);
		return ENOMEM;
	}
	memcpy(ref->id, o->offer_id, idlen);
	ref->host = h;
	cds_lfht_node_init(&ref->node);
	cds_lfht_add(idx->offers, str_hash(ref->id), &ref->node);
	/* a lost agent offering again is back */
	uint64_t st = atomic_load(&h->status);
	while (
	    ST_STATE(st) == HOSTIDX_REMOVED &&
	    !atomic_compare_exchange_weak(&h->status, &st, ST_MAKE(ST_GEN(st) + 1, HOSTIDX_READY)))
		;
	if (ST_STATE(st) == HOSTIDX_REMOVED)
		atomic_fetch_add(&idx->n_live, 1);
	host_publish(idx, h, s);
	return 0;
}

int hostidx_add_offers(struct hostidx *idx, const struct hostidx_offer_in *offers, size_t n)
{
	int err = 0;

	if (idx == NULL || (n > 0 && offers == NULL)) {
		errno = EINVAL;
		return -1;
	}
	writer_enter(idx);
	for (size_t i = 0; i < n && err == 0; i++)
		err = offer_in_valid(idx, &offers[i], offers, i);
	/* Validated: only ENOMEM can stop the loop below part-way. */
	for (size_t i = 0; i < n && err == 0; i++)
		err = add_one(idx, &offers[i]);
	return writer_leave(idx, err);
}

static bool drop_by_id(const struct hostidx_offer *o, const void *id)
{
	return strcmp(o->id, id) == 0;
}

/* Replaces h's snapshot by one without the offers `drop` selects. */
static int host_drop(struct hostidx *idx, struct hostidx_host *h,
                     bool (*drop)(const struct hostidx_offer *, const void *), const void *arg)
{
	bool empty;
	struct hostidx_snap *s = snap_derive(h->snap, h->hostname, NULL, drop, arg, &empty);

	if (s == NULL && !empty)
		return ENOMEM;
	for (uint32_t i = 0; h->snap && i < h->snap->n_offers; i++)
		if (drop(&h->snap->offers[i], arg))
			offer_forget(idx, h->snap->offers[i].id);
	host_publish(idx, h, s);
	return 0;
}

int hostidx_rescind(struct hostidx *idx, const char *offer_id)
{
	int err = 0;

	if (idx == NULL || offer_id == NULL) {
		errno = EINVAL;
		return -1;
	}
	writer_enter(idx);
	struct offer_ref *r = offer_find(idx, offer_id);
	err = r ? host_drop(idx, r->host, drop_by_id, offer_id) : ENOENT;
	return writer_leave(idx, err);
}

static bool drop_older(const struct hostidx_offer *o, const void *limit)
{
	return o->recv_ns < *(const uint64_t *)limit;
}

size_t hostidx_expire_offers_cb(struct hostidx *idx, uint64_t older_than_ns,
                                void (*fn)(void *arg, const char *offer_id), void *arg)
{
	size_t n = 0;
	char **ids = NULL;
	size_t n_ids = 0, cap = 0;

	writer_enter(idx);
	for (struct hostidx_host *h = idx->all; h != NULL; h = h->all_next) {
		size_t k = 0, first = n_ids;
		if (ST_STATE(atomic_load(&h->status)) == HOSTIDX_PLACING)
			continue; /* its offers are about to be used: kept */
		for (uint32_t i = 0; h->snap && i < h->snap->n_offers; i++) {
			if (!drop_older(&h->snap->offers[i], &older_than_ns))
				continue;
			k++;
			if (fn == NULL)
				continue;
			if (n_ids == cap) {
				size_t nc = cap ? cap * 2 : 64;
				char **ni = realloc(ids, nc * sizeof(*ni));
				if (ni == NULL)
					continue; /* dropped without a report: Mesos times it out */
				ids = ni;
				cap = nc;
			}
			if ((ids[n_ids] = strdup(h->snap->offers[i].id)) != NULL)
				n_ids++;
		}
		if (k > 0 && host_drop(idx, h, drop_older, &older_than_ns) == 0) {
			n += k;
		} else {
			while (n_ids > first) /* kept: not expired after all */
				free(ids[--n_ids]);
		}
	}
	writer_leave(idx, 0);
	for (size_t i = 0; i < n_ids; i++) {
		fn(arg, ids[i]);
		free(ids[i]);
	}
	free(ids);
	return n;
}

static bool drop_all(const struct hostidx_offer *o, const void *arg)
{
	(void)o;
	(void)arg;
	return true;
}

size_t hostidx_drop_all(struct hostidx *idx)
{
	size_t n = 0;

	writer_enter(idx);
	for (struct hostidx_host *h = idx->all; h != NULL; h = h->all_next) {
		uint64_t st = atomic_load(&h->status);
		while (ST_STATE(st) == HOSTIDX_PLACING &&
		       !atomic_compare_exchange_weak(&h->status, &st,
		                                     ST_MAKE(ST_GEN(st) + 1, HOSTIDX_READY)))
			;
		if (h->snap == NULL || h->snap->n_offers == 0)
			continue;
		n += h->snap->n_offers;
		host_drop(idx, h, drop_all, NULL); /* to NULL: cannot fail */
	}
	writer_leave(idx, 0);
	return n;
}

int hostidx_remove_host(struct hostidx *idx, const char *hostname)
{
	int err = 0;

	if (idx == NULL || hostname == NULL) {
		errno = EINVAL;
		return -1;
	}
	writer_enter(idx);
	struct hostidx_host *h = host_find(idx, hostname);
	uint64_t st = h ? atomic_load(&h->status) : 0;
	if (h == NULL || ST_STATE(st) == HOSTIDX_REMOVED) {
		err = ENOENT;
	} else {
		while (!atomic_compare_exchange_weak(&h->status, &st,
		                                     ST_MAKE(ST_GEN(st) + 1, HOSTIDX_REMOVED)))
			;
		host_drop(idx, h, drop_all, NULL); /* to NULL: cannot fail */
		atomic_fetch_sub(&idx->n_live, 1);
	}
	return writer_leave(idx, err);
}

size_t hostidx_expire_leases(struct hostidx *idx, uint64_t now_ns)
{
	size_t n = 0;

	pthread_mutex_lock(&idx->wlock);
	for (struct hostidx_host *h = idx->all; h != NULL; h = h->all_next) {
		uint64_t st = atomic_load_explicit(&h->status, memory_order_acquire);
		if (ST_STATE(st) != HOSTIDX_PLACING)
			continue;
		/* lease_until belongs to this claim only once lease_gen says so */
		if (atomic_load_explicit(&h->lease_gen, memory_order_acquire) != ST_GEN(st))
			continue;
		if (atomic_load_explicit(&h->lease_until_ns, memory_order_relaxed) >= now_ns)
			continue;
		if (atomic_compare_exchange_strong(&h->status, &st,
		                                   ST_MAKE(ST_GEN(st) + 1, HOSTIDX_READY)))
			n++;
	}
	pthread_mutex_unlock(&idx->wlock);
	return n;
}

/* --- readers ------------------------------------------------------------------ */

/* Tries to claim h for f; on MATCH fills *lease. Inside rcu_read_lock. */
static enum hostmatch_result try_claim(struct hostidx *idx, struct hostidx_host *h,
                                       const struct hostmatch_filter *f, uint64_t now_ns,
                                       struct hostidx_lease *lease)
{
	uint64_t st = atomic_load_explicit(&h->status, memory_order_acquire);
	if (ST_STATE(st) != HOSTIDX_READY)
		return HOSTMATCH_MISMATCH_STATUS;
	struct hostidx_snap *s = snap_deref(h);
	if (s == NULL)
		return HOSTMATCH_NO_OFFER;
	enum hostmatch_result r = hostmatch_check(f, &s->view);
	if (r != HOSTMATCH_MATCH)
		return r;
	uint64_t token = ST_GEN(st) + 1;
	if (!atomic_compare_exchange_strong_explicit(&h->status, &st,
	                                             ST_MAKE(token, HOSTIDX_PLACING),
	                                             memory_order_acq_rel, memory_order_relaxed))
		return HOSTMATCH_MISMATCH_STATUS;
	/* Claimed. A writer may have republished since we looked: re-check. */
	struct hostidx_snap *s2 = snap_deref(h);
	if (s2 != s && (s2 == NULL || (r = hostmatch_check(f, &s2->view)) != HOSTMATCH_MATCH)) {
		uint64_t held = ST_MAKE(token, HOSTIDX_PLACING);
		atomic_compare_exchange_strong(&h->status, &held,
		                               ST_MAKE(token + 1, HOSTIDX_READY));
		return s2 == NULL ? HOSTMATCH_NO_OFFER : r;
	}
	atomic_store_explicit(&h->lease_until_ns, now_ns + idx->lease_ns, memory_order_relaxed);
	atomic_store_explicit(&h->lease_gen, token, memory_order_release);
	/* the index holds its reference until a grace period after retiring s2 */
	atomic_fetch_add_explicit(&s2->refs, 1, memory_order_relaxed);
	*lease = (struct hostidx_lease){.host = h, .snap = s2, .token = token};
	return HOSTMATCH_MATCH;
}

/* Scans one bucket; returns true when the limit is reached. */
static bool scan_bucket(struct hostidx *idx, struct bucket *b, const struct hostmatch_filter *f,
                        uint64_t now_ns, uint32_t limit, struct hostidx_acquire_out *out)
{
	for (struct rlist *p = rlist_next_rcu(&b->head); p != &b->head; p = rlist_next_rcu(p)) {
		struct bnode *n = (struct bnode *)p;
		struct hostidx_lease lease;
		enum hostmatch_result r = try_claim(idx, n->host, f, now_ns, &lease);
		out->examined++;
		out->counts[r]++;
		if (r == HOSTMATCH_MATCH) {
			out->leases[out->n++] = lease;
			if (out->n >= limit)
				return true;
		}
	}
	return false;
}

/* Next set bit of mask in the search direction, or -1. */
static int next_col(uint64_t *mask, bool up)
{
	if (*mask == 0)
		return -1;
	int c = up ? __builtin_ctzll(*mask) : 63 - __builtin_clzll(*mask);
	*mask &= ~(1ull << c);
	return c;
}

int hostidx_acquire(struct hostidx *idx, const struct hostmatch_filter *f, uint32_t max_hosts,
                    enum hostidx_order order, uint64_t now_ns, struct hostidx_acquire_out *out,
                    const char **why)
{
	if (idx == NULL || f == NULL || out == NULL || (out->cap > 0 && out->leases == NULL)) {
		*why = "missing argument";
		errno = EINVAL;
		return -1;
	}
	if (!hostmatch_filter_valid(f, why)) {
		errno = EINVAL;
		return -1;
	}
	out->n = 0;
	out->examined = 0;
	memset(out->counts, 0, sizeof(out->counts));
	uint32_t limit = max_hosts && max_hosts < out->cap ? max_hosts : out->cap;
	if (limit == 0)
		return 0;

	int grid = f->min.gpus > 0 ? 1 : 0;
	int r0 = class_of(cpu_bounds, N_ROWS, f->min.cpus);
	int c0 = class_of(mem_bounds, N_COLS, f->min.mem_mb);
	bool up = order == HOSTIDX_PACK, done = false;
	uint64_t scanned = 0;

	rcu_read_lock();
	for (int i = 0; i < N_ROWS - r0 && !done; i++) {
		int r = up ? r0 + i : N_ROWS - 1 - i;
		uint64_t mask = atomic_load_explicit(&idx->rowmask[grid][r], memory_order_relaxed) &
		                (~0ull << c0);
		for (int c; !done && (c = next_col(&mask, up)) >= 0;) {
			struct bucket *b = &idx->buckets[grid][r][c];
			scanned += atomic_load_explicit(&b->count, memory_order_relaxed);
			done = scan_bucket(idx, b, f, now_ns, limit, out);
		}
	}
	rcu_read_unlock();
	uint32_t live = atomic_load_explicit(&idx->n_live, memory_order_relaxed);
	uint32_t offered = atomic_load_explicit(&idx->n_with_offers, memory_order_relaxed);
	out->counts[HOSTMATCH_NO_OFFER] += live > offered ? live - offered : 0;
	if (done) {
		/* As upstream: hosts not looked at once the limit is met. */
		out->counts[HOSTMATCH_MISMATCH_MAX_HOST_LIMIT] +=
		    offered > out->examined ? offered - out->examined : 0;
	} else {
		/* Searched every candidate: account for the hosts never looked at. */
		uint64_t in_grid =
		    atomic_load_explicit(&idx->grid_count[grid], memory_order_relaxed);
		uint32_t other =
		    atomic_load_explicit(&idx->grid_count[1 - grid], memory_order_relaxed);
		out->counts[HOSTMATCH_INSUFFICIENT_RESOURCES] +=
		    in_grid > scanned ? (uint32_t)(in_grid - scanned) : 0;
		out->counts[grid ? HOSTMATCH_INSUFFICIENT_RESOURCES : HOSTMATCH_MISMATCH_GPU] +=
		    other;
	}
	return 0;
}

int hostidx_peek(struct hostidx *idx, const struct hostmatch_filter *f,
                 uint32_t counts[HOSTMATCH_N_RESULTS], hostidx_peek_f fn, void *arg,
                 const char **why)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct hostidx_peek_host *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	*why = NULL;
	if (idx == NULL || f == NULL || fn == NULL) {
		*why = "missing argument";
		errno = EINVAL;
		return -1;
	}
	if (!hostmatch_filter_valid(f, why)) {
		errno = EINVAL;
		return -1;
	}
	memset(counts, 0, HOSTMATCH_N_RESULTS * sizeof(counts[0]));
	rcu_read_lock();
	cds_lfht_for_each(idx->by_name, &it, node)
	{
		struct hostidx_host *h = caa_container_of(node, struct hostidx_host, by_name);
		uint64_t st = atomic_load_explicit(&h->status, memory_order_acquire);
		if (ST_STATE(st) == HOSTIDX_REMOVED)
			continue;
		struct hostidx_snap *s = snap_deref(h);
		enum hostmatch_result r = s == NULL ? HOSTMATCH_NO_OFFER
		                          : ST_STATE(st) != HOSTIDX_READY
		                              ? HOSTMATCH_MISMATCH_STATUS
		                              : hostmatch_check(f, &s->view);
		counts[r]++;
		if (r != HOSTMATCH_MATCH)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			struct hostidx_peek_host *nv = realloc(v, nc * sizeof(*v));
			if (nv == NULL) {
				rc = -1;
				break;
			}
			v = nv;
			cap = nc;
		}
		v[n++] = (struct hostidx_peek_host){h->hostname, &s->view, s->ranges, s->n_ranges};
	}
	if (rc == 0)
		fn(arg, v, n);
	rcu_read_unlock();
	free(v);
	if (rc != 0)
		errno = ENOMEM;
	return rc;
}

bool hostidx_release(struct hostidx *idx, struct hostidx_lease *lease)
{
	bool ok = false;

	(void)idx;
	if (lease == NULL || lease->host == NULL)
		return false;
	PEL_ASSERT(lease->host->magic == HOST_MAGIC);
	uint64_t held = ST_MAKE(lease->token, HOSTIDX_PLACING);
	ok = atomic_compare_exchange_strong_explicit(&lease->host->status, &held,
	                                             ST_MAKE(lease->token + 1, HOSTIDX_READY),
	                                             memory_order_acq_rel, memory_order_relaxed);
	snap_unref(lease->snap);
	*lease = (struct hostidx_lease){0};
	return ok;
}

bool hostidx_release_by_name(struct hostidx *idx, const char *hostname)
{
	bool ok = false;

	if (idx == NULL || hostname == NULL)
		return false;
	rcu_read_lock();
	struct hostidx_host *h = host_find(idx, hostname);
	if (h != NULL) {
		uint64_t st = atomic_load(&h->status);
		if (ST_STATE(st) == HOSTIDX_PLACING)
			ok = atomic_compare_exchange_strong(&h->status, &st,
			                                    ST_MAKE(ST_GEN(st) + 1, HOSTIDX_READY));
	}
	rcu_read_unlock();
	return ok;
}

/* Does snapshot `held` (the lease's) still have offer o? */
static bool in_snap(const struct hostidx_offer *o, const void *held)
{
	const struct hostidx_snap *s = held;
	for (uint32_t i = 0; i < s->n_offers; i++)
		if (strcmp(s->offers[i].id, o->id) == 0)
			return true;
	return false;
}

/* Is lease still held and are all its snapshot's offers still there? (writer) */
static bool lease_consumable(const struct hostidx_lease *l)
{
	const struct hostidx_host *h = l->host;
	const struct hostidx_snap *held = l->snap;
	bool ok = h->snap != NULL && held != NULL &&
	          atomic_load(&h->status) == ST_MAKE(l->token, HOSTIDX_PLACING);

	for (uint32_t i = 0; ok && i < held->n_offers; i++)
		ok = in_snap(&held->offers[i], h->snap);
	return ok;
}

void hostidx_offer_ids_fini(struct hostidx_offer_ids *o)
{
	for (uint32_t i = 0; o && o->ids && i < o->n; i++)
		free(o->ids[i]);
	if (o != NULL) {
		free(o->ids);
		o->ids = NULL;
		o->n = 0;
	}
}

int hostidx_consume_all(struct hostidx *idx, struct hostidx_lease *leases, size_t n,
                        struct hostidx_offer_ids *out)
{
	int err = 0;
	size_t i;

	if (idx == NULL || (n > 0 && (leases == NULL || out == NULL))) {
		errno = EINVAL;
		return -1;
	}
	memset(out, 0, n * sizeof(*out));
	writer_enter(idx);
	/* check every lease first: all or nothing */
	for (i = 0; i < n && err == 0; i++)
		if (leases[i].host == NULL || !lease_consumable(&leases[i]))
			err = ESTALE;
	/* copy the offer ids before anything is dropped */
	for (i = 0; i < n && err == 0; i++) {
		const struct hostidx_snap *held = leases[i].snap;
		out[i].ids = calloc(held->n_offers ? held->n_offers : 1, sizeof(char *));
		for (uint32_t k = 0; out[i].ids && k < held->n_offers; k++)
			if ((out[i].ids[out[i].n] = strdup(held->offers[k].id)) != NULL)
				out[i].n++;
		if (out[i].ids == NULL || out[i].n != held->n_offers)
			err = ENOMEM;
	}
	for (i = 0; i < n && err == 0; i++) {
		/* dropping the host's last offers allocates nothing; only offers that
		 * arrived while PLACING force a new snapshot (and could hit ENOMEM) */
		if (host_drop(idx, leases[i].host, in_snap, leases[i].snap) != 0)
			err = ENOMEM; /* earlier hosts are spent: reported, see header */
	}
	writer_leave(idx, 0);
	for (i = 0; i < n; i++) {
		hostidx_release(idx, &leases[i]); /* PLACING -> READY (harmless if stale) */
		if (err != 0)
			hostidx_offer_ids_fini(&out[i]);
	}
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

int hostidx_consume(struct hostidx *idx, struct hostidx_lease *lease, char **ids, size_t cap)
{
	struct hostidx_offer_ids o;

	if (idx == NULL || lease == NULL || lease->host == NULL || (cap > 0 && ids == NULL)) {
		errno = EINVAL;
		return -1;
	}
	if (lease->snap != NULL && lease->snap->n_offers > cap) {
		hostidx_release(idx, lease);
		errno = ENOSPC;
		return -1;
	}
	if (hostidx_consume_all(idx, lease, 1, &o) != 0)
		return -1;
	memcpy(ids, o.ids, o.n * sizeof(char *));
	int n = (int)o.n;
	free(o.ids);
	return n;
}

const char *hostidx_lease_hostname(const struct hostidx_lease *lease)
{
	return lease->host->hostname;
}

const char *hostidx_lease_agent_id(const struct hostidx_lease *lease)
{
	return lease->snap->agent_id;
}

const struct hostmatch_host *hostidx_lease_view(const struct hostidx_lease *lease)
{
	return &lease->snap->view;
}

uint32_t hostidx_lease_ranges(const struct hostidx_lease *lease,
                              const struct hostidx_range **ranges)
{
	*ranges = lease->snap->ranges;
	return lease->snap->n_ranges;
}

uint32_t hostidx_lease_n_offers(const struct hostidx_lease *lease)
{
	return lease->snap->n_offers;
}

/* --- introspection ---------------------------------------------------------- */

void hostidx_capacity(struct hostidx *idx, struct hostidx_capacity *out)
{
	*out = (struct hostidx_capacity){0};
	pthread_mutex_lock(&idx->wlock);
	for (struct hostidx_host *h = idx->all; h != NULL; h = h->all_next) {
		uint64_t st = atomic_load(&h->status);
		if (ST_STATE(st) == HOSTIDX_REMOVED)
			continue;
		out->hosts++;
		out->placing += ST_STATE(st) == HOSTIDX_PLACING;
		res_add(&out->physical, &h->physical);
		if (h->snap != NULL) {
			out->hosts_with_offers++;
			res_add(&out->offered, &h->snap->view.free);
		}
	}
	pthread_mutex_unlock(&idx->wlock);
}

void hostidx_each(struct hostidx *idx, hostidx_each_f fn, void *arg)
{
	static const struct hostmatch_res none;
	pthread_mutex_lock(&idx->wlock);
	for (struct hostidx_host *h = idx->all; h != NULL; h = h->all_next) {
		uint64_t st = atomic_load(&h->status);
		if (ST_STATE(st) != HOSTIDX_REMOVED)
			fn(arg, h->hostname, (int)ST_STATE(st), &h->physical,
			   h->snap ? &h->snap->view.free : &none);
	}
	pthread_mutex_unlock(&idx->wlock);
}

static bool res_eq(const struct hostmatch_res *a, const struct hostmatch_res *b)
{
	return fabs(a->cpus - b->cpus) < 1e-6 && fabs(a->mem_mb - b->mem_mb) < 1e-6 &&
	       fabs(a->disk_mb - b->disk_mb) < 1e-6 && fabs(a->gpus - b->gpus) < 1e-6;
}

static bool host_check(struct hostidx *idx, struct hostidx_host *h, uint32_t *in_bucket)
{
	const struct hostidx_snap *s = h->snap;
	struct hostmatch_res free = {0};
	uint32_t ports = 0;

	if (h->magic != HOST_MAGIC)
		return false;
	if (s == NULL)
		return h->bnode == NULL;
	for (uint32_t i = 0; i < s->n_offers; i++) {
		res_add(&free, &s->offers[i].res);
		for (uint32_t k = 0; k < s->offers[i].n_ranges; k++)
			ports += s->offers[i].ranges[k].end - s->offers[i].ranges[k].begin + 1;
		struct offer_ref *r = offer_find(idx, s->offers[i].id);
		if (r == NULL || r->host != h)
			return false;
	}
	if (!res_eq(&free, &s->view.free) || ports != s->view.n_ports || h->bnode == NULL)
		return false;
	if (h->grid != (s->view.free.gpus > 0) ||
	    h->row != class_of(cpu_bounds, N_ROWS, s->view.free.cpus) ||
	    h->col != class_of(mem_bounds, N_COLS, s->view.free.mem_mb))
		return false;
	in_bucket[(h->grid * N_ROWS + h->row) * N_COLS + h->col]++;
	return true;
}

/* The check, writer lock held and inside a read-side section. */
static bool check__(struct hostidx *idx)
{
	static uint32_t in_bucket[N_GRIDS * N_ROWS * N_COLS]; /* under the writer lock */
	bool ok = true;

	memset(in_bucket, 0, sizeof(in_bucket));
	for (struct hostidx_host *h = idx->all; h != NULL && ok; h = h->all_next)
		ok = host_check(idx, h, in_bucket);
	for (int g = 0; g < N_GRIDS && ok; g++) {
		for (int r = 0; r < N_ROWS && ok; r++) {
			uint64_t mask = atomic_load(&idx->rowmask[g][r]);
			for (int c = 0; c < N_COLS && ok; c++) {
				uint32_t cnt = atomic_load(&idx->buckets[g][r][c].count);
				ok = cnt == in_bucket[(g * N_ROWS + r) * N_COLS + c] &&
				     ((mask >> c) & 1) == (cnt > 0);
			}
		}
	}
	return ok;
}

bool hostidx_check(struct hostidx *idx)
{
	pthread_mutex_lock(&idx->wlock);
	rcu_read_lock();
	bool ok = check__(idx);
	rcu_read_unlock();
	pthread_mutex_unlock(&idx->wlock);
	return ok;
}

enum hostidx_state hostidx_host_state(struct hostidx *idx, const char *hostname)
{
	enum hostidx_state st = 0;

	rcu_read_lock();
	struct hostidx_host *h = host_find(idx, hostname);
	if (h != NULL)
		st = ST_STATE(atomic_load(&h->status));
	rcu_read_unlock();
	return st;
}
