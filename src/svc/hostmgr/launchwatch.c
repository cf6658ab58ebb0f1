/* Launches a host manager reconciles for a job manager apart; see launchwatch.h. */
#include "launchwatch.h"
#include "hash.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 65536
#define MAX_WAIT_NS 600000000000ull /* the doubling stops at 10 minutes */

struct lw_entry {
	struct lw_entry *next;
	char *task, *agent;
	uint64_t due_ns, wait_ns;
};

struct launchwatch {
	pthread_mutex_t mu;
	struct lw_entry **b;
	size_t n, max;
	uint64_t after_ns, dropped;
};

static size_t bucket(const char *id)
{
	return (size_t)(pel_fnv1a_str(id) % BUCKETS);
}

struct launchwatch *launchwatch_new(uint64_t after_ns, size_t max)
{
	struct launchwatch *w = calloc(1, sizeof(*w));
	if (!w || !(w->b = calloc(BUCKETS, sizeof(*w->b)))) {
		free(w);
		return NULL;
	}
	w->after_ns = after_ns ? after_ns : 120000000000ull;
	w->max = max ? max : (size_t)1 << 20;
	pthread_mutex_init(&w->mu, NULL);
	return w;
}

static void entry_free(struct lw_entry *e)
{
	free(e->task);
	free(e->agent);
	free(e);
}

void launchwatch_free(struct launchwatch *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < BUCKETS; i++)
		for (struct lw_entry *e = w->b[i], *nx; e; e = nx) {
			nx = e->next;
			entry_free(e);
		}
	free(w->b);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* The link pointing at task's entry (or at the NULL ending its bucket). mu held. */
static struct lw_entry **find__(struct launchwatch *w, const char *task)
{
	struct lw_entry **pp = &w->b[bucket(task)];
	while (*pp && strcmp((*pp)->task, task) != 0)
		pp = &(*pp)->next;
	return pp;
}

void launchwatch_add(struct launchwatch *w, const char *task_id, const char *agent_id,
                     uint64_t now_ns)
{
	pthread_mutex_lock(&w->mu);
	struct lw_entry **pp = find__(w, task_id), *e = *pp;
	if (e == NULL && w->n < w->max && (e = calloc(1, sizeof(*e))) != NULL) {
		e->task = strdup(task_id);
		e->agent = agent_id ? strdup(agent_id) : NULL;
		if (!e->task || (agent_id && !e->agent)) {
			entry_free(e);
			e = NULL;
		} else {
			*pp = e;
			w->n++;
		}
	}
	if (e) {
		e->wait_ns = w->after_ns;
		e->due_ns = now_ns + w->after_ns;
	} else {
		w->dropped++;
	}
	pthread_mutex_unlock(&w->mu);
}

void launchwatch_seen(struct launchwatch *w, const char *task_id)
{
	pthread_mutex_lock(&w->mu);
	struct lw_entry **pp = find__(w, task_id), *e = *pp;
	if (e) {
		*pp = e->next;
		w->n--;
		entry_free(e);
	}
	pthread_mutex_unlock(&w->mu);
}

size_t launchwatch_due(struct launchwatch *w, uint64_t now_ns, int all, launchwatch_f fn, void *arg)
{
	size_t n = 0;
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < BUCKETS && w->n; i++)
		for (struct lw_entry *e = w->b[i]; e; e = e->next) {
			if (!all && e->due_ns > now_ns)
				continue;
			fn(arg, e->task, e->agent);
			n++;
			e->wait_ns = e->wait_ns * 2 > MAX_WAIT_NS ? MAX_WAIT_NS : e->wait_ns * 2;
			e->due_ns = now_ns + e->wait_ns;
		}
	pthread_mutex_unlock(&w->mu);
	return n;
}

size_t launchwatch_size(struct launchwatch *w)
{
	pthread_mutex_lock(&w->mu);
	size_t n = w->n;
	pthread_mutex_unlock(&w->mu);
	return n;
}

uint64_t launchwatch_dropped(struct launchwatch *w)
{
	pthread_mutex_lock(&w->mu);
	uint64_t n = w->dropped;
	pthread_mutex_unlock(&w->mu);
	return n;
}
