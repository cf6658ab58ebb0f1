/* The agents' address book; see agents.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "htab.h"

struct entry {
	char *id; /* first: the table's key (htab.h) */
	char host[256];
	unsigned port;
};

struct agent_book {
	pthread_mutex_t mu;
	struct htab by_id;
};

struct agent_book *agent_book_new(void)
{
	struct agent_book *b = calloc(1, sizeof(*b));
	if (b == NULL || htab_init(&b->by_id, HTAB_KEY_POINTER, 1024) != 0) {
		free(b);
		return NULL;
	}
	pthread_mutex_init(&b->mu, NULL);
	return b;
}

void agent_book_free(struct agent_book *b)
{
	if (b == NULL)
		return;
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct entry *e; (e = htab_next(&b->by_id, &it)) != NULL;) {
		free(e->id);
		free(e);
	}
	htab_fini(&b->by_id);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

void agent_book_note(struct agent_book *b, Mesos__V1__Offer *const *offers, size_t n)
{
	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < n; i++) {
		const Mesos__V1__Offer *o = offers[i];
		const Mesos__V1__Address *a = o->url ? o->url->address : NULL;
		const char *host = a ? (a->ip && a->ip[0] ? a->ip : a->hostname) : NULL;
		if (o->agent_id == NULL || o->agent_id->value == NULL || host == NULL || !host[0] ||
		    a->port <= 0 || a->port > 65535)
			continue;
		struct entry *e = htab_get(&b->by_id, o->agent_id->value);
		if (e == NULL) {
			e = calloc(1, sizeof(*e));
			if (e == NULL || (e->id = strdup(o->agent_id->value)) == NULL ||
			    htab_put(&b->by_id, e) != 0) {
				if (e)
					free(e->id);
				free(e);
				continue;
			}
		}
		snprintf(e->host, sizeof(e->host), "%s", host);
		e->port = (unsigned)a->port;
	}
	pthread_mutex_unlock(&b->mu);
}

bool agent_book_find(struct agent_book *b, const char *agent_id, char *host, size_t hlen,
                     unsigned *port)
{
	pthread_mutex_lock(&b->mu);
	struct entry *e = htab_get(&b->by_id, agent_id);
	if (e != NULL) {
		snprintf(host, hlen, "%s", e->host);
		*port = e->port;
	}
	pthread_mutex_unlock(&b->mu);
	return e != NULL;
}

size_t agent_book_size(struct agent_book *b)
{
	pthread_mutex_lock(&b->mu);
	size_t n = htab_count(&b->by_id);
	pthread_mutex_unlock(&b->mu);
	return n;
}
