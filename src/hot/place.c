/* The placement decision; see place.h. */
#define _GNU_SOURCE /* qsort_r */
#include <stdlib.h>
#include <string.h>

#include "place.h"

static uint32_t ports_left(const struct place_host *h)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < h->n_ranges; i++)
		total += (uint64_t)h->ranges[i].end - h->ranges[i].begin + 1;
	return total > h->ports_used ? (uint32_t)(total - h->ports_used) : 0;
}

struct count_ctx {
	const struct place_host *h;
	const struct place_shape *s;
};

/* Tasks with `label` on the host: those there before + this round's. */
static uint32_t round_count(void *arg, const struct hostmatch_label *label)
{
	const struct count_ctx *c = arg;
	uint32_t n = c->h->task_count ? c->h->task_count(c->h->task_count_arg, label) : 0;

	if (c->h->assigned_shape == c->s && c->h->assigned > 0) {
		for (uint32_t i = 0; i < c->s->n_labels; i++) {
			if (c->s->labels[i].hash == label->hash &&
			    strcmp(c->s->labels[i].text, label->text) == 0) {
				n += c->h->assigned;
				break;
			}
		}
	}
	return n;
}

bool place_fits(const struct place_shape *s, const struct place_host *h)
{
	const struct hostmatch_res *f = &h->free, *r = &s->res;
	struct count_ctx ctx = {h, s};

	if (r->gpus == 0 && f->gpus > 0)
		return false;
	if (f->cpus < r->cpus || f->mem_mb < r->mem_mb || f->disk_mb < r->disk_mb ||
	    f->gpus < r->gpus)
		return false;
	if (s->num_ports > 0 && ports_left(h) < s->num_ports)
		return false;
	return hostmatch_constraint_eval(s->constraint, h->labels, h->n_labels, round_count, &ctx);
}

/* Takes the next num ports of h into out[]. Caller checked ports_left. */
static void take_ports(struct place_host *h, uint32_t num, uint32_t *out)
{
	for (uint32_t k = 0; k < num; k++) {
		while (h->ranges[h->range_idx].begin + h->port_off > h->ranges[h->range_idx].end) {
			h->range_idx++;
			h->port_off = 0;
		}
		out[k] = h->ranges[h->range_idx].begin + h->port_off++;
		h->ports_used++;
	}
}

static void assign_one(const struct place_shape *s, struct place_host *h, uint32_t *ports,
                       size_t slot)
{
	if (ports != NULL)
		ports += slot * s->num_ports;
	h->free.cpus -= s->res.cpus;
	h->free.mem_mb -= s->res.mem_mb;
	h->free.disk_mb -= s->res.disk_mb;
	h->free.gpus -= s->res.gpus;
	take_ports(h, s->num_ports, ports);
	if (h->assigned_shape != s) {
		h->assigned_shape = s;
		h->assigned = 0;
	}
	h->assigned++;
}

/* <0, 0, >0 as host a has less, equal, more free cpu (then memory) than b. */
static int cmp_free(const struct place_host *hosts, uint32_t a, uint32_t b)
{
	const struct place_host *x = &hosts[a], *y = &hosts[b];
	if (x->free.cpus != y->free.cpus)
		return x->free.cpus < y->free.cpus ? -1 : 1;
	if (x->free.mem_mb != y->free.mem_mb)
		return x->free.mem_mb < y->free.mem_mb ? -1 : 1;
	return (a > b) - (a < b);
}

struct order_ctx {
	const struct place_host *hosts;
	bool asc;
};

static int cmp_order(const void *a, const void *b, void *arg)
{
	const struct order_ctx *c = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int r = cmp_free(c->hosts, x, y);
	return c->asc ? r : -r;
}

/*
 * Host indexes by free resources: insertion sort for a round's few hosts,
 * qsort for the many of an explain over the whole cluster.
 */
static void order_hosts(const struct place_host *hosts, size_t n, uint32_t *order, bool asc)
{
	if (n > 64) {
		struct order_ctx c = {hosts, asc};
		for (size_t i = 0; i < n; i++)
			order[i] = (uint32_t)i;
		qsort_r(order, n, sizeof(*order), cmp_order, &c);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t v = (uint32_t)i;
		size_t j = i;
		for (; j > 0; j--) {
			int c = cmp_free(hosts, order[j - 1], v);
			if (asc ? c <= 0 : c >= 0)
				break;
			order[j] = order[j - 1];
		}
		order[j] = v;
	}
}

size_t place_assign(const struct place_shape *s, size_t n, struct place_host *hosts, size_t n_hosts,
                    enum place_strategy strategy, uint32_t *order, int32_t *host_of,
                    uint32_t *ports)
{
	size_t placed = 0;

	for (size_t i = 0; i < n; i++)
		host_of[i] = -1;
	order_hosts(hosts, n_hosts, order, strategy == PLACE_PACK);
	if (strategy == PLACE_PACK) {
		for (size_t k = 0; k < n_hosts && placed < n; k++) {
			struct place_host *h = &hosts[order[k]];
			while (placed < n && place_fits(s, h)) {
				assign_one(s, h, ports, placed);
				host_of[placed++] = (int32_t)order[k];
			}
		}
		return placed;
	}
	/* spread: one task per host per pass */
	for (bool progress = true; progress && placed < n;) {
		progress = false;
		for (size_t k = 0; k < n_hosts && placed < n; k++) {
			struct place_host *h = &hosts[order[k]];
			if (!place_fits(s, h))
				continue;
			assign_one(s, h, ports, placed);
			host_of[placed++] = (int32_t)order[k];
			progress = true;
		}
	}
	return placed;
}
