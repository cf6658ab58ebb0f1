/* The agents' address book; see agents.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "hash.h"

#define BUCKETS (1u << 16)

struct entry {
	struct entry *next;
	char *id;
	char host[256];
	unsigned port;
};

struct agent_book {
	pthread_mutex_t mu;
	struct entry *b[BUCKETS];
	size_t n;
};

static size_t bucket(const char *id)
{
	return (size_t)(pel_fnv1a_str(id) % BUCKETS);
}

struct agent_book *agent_book_new(void)
{
	struct agent_book *b = calloc(1, sizeof(*b));
	if (b != NULL)
		pthread_mutex_init(&b->mu, NULL);
	return b;
}

void agent_book_free(struct agent_book *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < BUCKETS; i++)
		for (struct entry *e = b->b[i], *n; e != NULL; e = n) {
			n = e->next;
			free(e->id);
			free(e);
		}
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
		size_t k = bucket(o->agent_id->value);
		struct entry *e = b->b[k];
		while (e != NULL && strcmp(e->id, o->agent_id->value) != 0)
			e = e->next;
		if (e == NULL) {
			e = calloc(1, sizeof(*e));
			if (e == NULL || (e->id = strdup(o->agent_id->value)) == NULL) {
				free(e);
				continue;
			}
			e->next = b->b[k];
			b->b[k] = e;
			b->n++;
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
	struct entry *e = b->b[bucket(agent_id)];
	while (e != NULL && strcmp(e->id, agent_id) != 0)
		e = e->next;
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
	size_t n = b->n;
	pthread_mutex_unlock(&b->mu);
	return n;
}
