/* Each host's offered reserved resources and volumes; see reserved.h. */
#include "reserved.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "proto_codec.h"

struct rhost {
	char *hostname; /* first: the table's key (htab.h) */
	size_t n;
	uint8_t **res; /* packed mesos.v1.Resource */
	size_t *len;
};

struct reserved {
	pthread_mutex_t mu;
	struct htab hosts;
};

static void rhost_free(struct rhost *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++)
		free(h->res[i]);
	free(h->res);
	free(h->len);
	free(h->hostname);
	free(h);
}

struct reserved *reserved_new(void)
{
	struct reserved *rb = calloc(1, sizeof(*rb));
	if (rb == NULL || htab_init(&rb->hosts, HTAB_KEY_POINTER, 64) != 0) {
		free(rb);
		return NULL;
	}
	pthread_mutex_init(&rb->mu, NULL);
	return rb;
}

void reserved_free(struct reserved *rb)
{
	if (rb == NULL)
		return;
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct rhost *h; (h = htab_next(&rb->hosts, &it)) != NULL;)
		rhost_free(h);
	htab_fini(&rb->hosts);
	pthread_mutex_destroy(&rb->mu);
	free(rb);
}

static bool is_reserved(const Mesos__V1__Resource *r)
{
	return (r->role && strcmp(r->role, "*") != 0) || r->reservation ||
	       (r->disk && r->disk->persistence);
}

void reserved_note(struct reserved *rb, const Mesos__V1__Offer *o)
{
	size_t n = 0;
	if (!o->hostname || !o->hostname[0])
		return;
	for (size_t i = 0; i < o->n_resources; i++)
		n += is_reserved(o->resources[i]);
	struct rhost *h = NULL;
	if (n > 0 && (h = calloc(1, sizeof(*h))) != NULL) {
		h->hostname = strdup(o->hostname);
		h->res = calloc(n, sizeof(*h->res));
		h->len = calloc(n, sizeof(*h->len));
		for (size_t i = 0; h->res && h->len && i < o->n_resources; i++)
			if (is_reserved(o->resources[i]) &&
			    (h->res[h->n] =
			         proto_pack_alloc(&o->resources[i]->base, &h->len[h->n])))
				h->n++;
		if (!h->hostname || h->n != n) {
			rhost_free(h);
			h = NULL; /* ENOMEM: the host is left out (operations find nothing) */
		}
	}
	pthread_mutex_lock(&rb->mu);
	rhost_free(htab_del(&rb->hosts, o->hostname));
	if (h && htab_put(&rb->hosts, h) != 0)
		rhost_free(h);
	pthread_mutex_unlock(&rb->mu);
}

void reserved_forget(struct reserved *rb, const char *hostname)
{
	pthread_mutex_lock(&rb->mu);
	rhost_free(htab_del(&rb->hosts, hostname));
	pthread_mutex_unlock(&rb->mu);
}

void reserved_free_list(Mesos__V1__Resource **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		if (list[i])
			protobuf_c_message_free_unpacked(&list[i]->base, NULL);
	free(list);
}

/* Unpacked copies of h's resources (h under the mutex). */
static Mesos__V1__Resource **unpack_all(const struct rhost *h)
{
	Mesos__V1__Resource **out = calloc(h->n ? h->n : 1, sizeof(*out));
	for (size_t i = 0; out && i < h->n; i++)
		if (!(out[i] = mesos__v1__resource__unpack(NULL, h->len[i], h->res[i]))) {
			reserved_free_list(out, i);
			return NULL;
		}
	return out;
}

int reserved_get(struct reserved *rb, const char *hostname, Mesos__V1__Resource ***out, size_t *n)
{
	pthread_mutex_lock(&rb->mu);
	const struct rhost *h = htab_get(&rb->hosts, hostname);
	*out = h ? unpack_all(h) : NULL;
	*n = *out ? h->n : 0;
	pthread_mutex_unlock(&rb->mu);
	return *out ? 0 : -1;
}

void reserved_labels_text(const Mesos__V1__Resource *r, char *buf, size_t len)
{
	const Mesos__V1__Labels *l = r->reservation ? r->reservation->labels : NULL;
	size_t k = 0;
	buf[0] = '\0';
	for (size_t i = 0; l && i < l->n_labels && k < len; i++)
		k += (size_t)snprintf(buf + k, len - k, "%s%s=%s", i ? "," : "",
		                      l->labels[i]->key ? l->labels[i]->key : "",
		                      l->labels[i]->value ? l->labels[i]->value : "");
}

/* The first host with a resource for which match() holds. */
static bool find(struct reserved *rb, bool (*match)(const Mesos__V1__Resource *, const char *),
                 const char *what, char *host, size_t len)
{
	bool found = false;
	pthread_mutex_lock(&rb->mu);
	struct htab_iter it;
	htab_iter_init(&it);
	for (struct rhost *h; !found && (h = htab_next(&rb->hosts, &it)) != NULL;) {
		Mesos__V1__Resource **all = unpack_all(h);
		for (size_t i = 0; all && !found && i < h->n; i++)
			if (match(all[i], what)) {
				snprintf(host, len, "%s", h->hostname);
				found = true;
			}
		reserved_free_list(all, all ? h->n : 0);
	}
	pthread_mutex_unlock(&rb->mu);
	return found;
}

static bool has_volume(const Mesos__V1__Resource *r, const char *id)
{
	return r->disk && r->disk->persistence && r->disk->persistence->id &&
	       strcmp(r->disk->persistence->id, id) == 0;
}

static bool has_labels(const Mesos__V1__Resource *r, const char *labels)
{
	char buf[1024];
	reserved_labels_text(r, buf, sizeof(buf));
	return r->reservation && strcmp(buf, labels) == 0;
}

bool reserved_find_volume(struct reserved *rb, const char *id, char *host, size_t len)
{
	return find(rb, has_volume, id, host, len);
}

bool reserved_find_labels(struct reserved *rb, const char *labels, char *host, size_t len)
{
	return find(rb, has_labels, labels, host, len);
}
