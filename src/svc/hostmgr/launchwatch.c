/* Launches a host manager reconciles for a job manager apart; see launchwatch.h. */
#include "launchwatch.h"
#include "htab.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WAIT_NS 600000000000ull /* the doubling stops at 10 minutes */

struct lw_entry {
	char *task; /* first: the table's key (htab.h) */
	char *agent;
	uint64_t due_ns, wait_ns;
};

struct launchwatch {
	pthread_mutex_t mu;
	struct htab by_task;
	size_t max;
	uint64_t after_ns, dropped;
};

struct launchwatch *launchwatch_new(uint64_t after_ns, size_t max)
{
	struct launchwatch *w = calloc(1, sizeof(*w));
	if (!w || htab_init(&w->by_task, HTAB_KEY_POINTER, 1024) != 0) {
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
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct lw_entry *e; (e = htab_next(&w->by_task, &it)) != NULL;)
		entry_free(e);
	htab_fini(&w->by_task);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

void launchwatch_add(struct launchwatch *w, const char *task_id, const char *agent_id,
                     uint64_t now_ns)
{
	pthread_mutex_lock(&w->mu);
	struct lw_entry *e = htab_get(&w->by_task, task_id);
	if (e == NULL && htab_count(&w->by_task) < w->max && (e = calloc(1, sizeof(*e))) != NULL) {
		e->task = strdup(task_id);
		e->agent = agent_id ? strdup(agent_id) : NULL;
		if (!e->task || (agent_id && !e->agent) || htab_put(&w->by_task, e) != 0) {
			entry_free(e);
			e = NULL;
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
	struct lw_entry *e = htab_del(&w->by_task, task_id);
	if (e)
		entry_free(e);
	pthread_mutex_unlock(&w->mu);
}

size_t launchwatch_due(struct launchwatch *w, uint64_t now_ns, int all, launchwatch_f fn, void *arg)
{
	size_t n = 0;
	pthread_mutex_lock(&w->mu);
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct lw_entry *e; (e = htab_next(&w->by_task, &it)) != NULL;) {
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
	size_t n = htab_count(&w->by_task);
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
