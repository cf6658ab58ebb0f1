/*
 * reserved: the reserved resources and persistent volumes each host's
 * latest offer carried — what an operation on them (DESTROY, UNRESERVE,
 * CREATE) can name right now. The host index counts unreserved resources
 * only (a task never lands on another's reservation); this book keeps the
 * rest, packed, by hostname. An offer replaces its host's entry; a host
 * whose offer held nothing reserved has none (what is reserved but in use
 * by a running task is not offered, so not here either).
 *
 * Thread-safe (one mutex; not on the placement path).
 */
#ifndef HOSTMGR_RESERVED_H
#define HOSTMGR_RESERVED_H

#include <stdbool.h>
#include <stddef.h>

#include "mesos/v1/mesos.pb-c.h"

struct reserved;

struct reserved *reserved_new(void);
void reserved_free(struct reserved *rb);

/* Notes what offer o holds reserved (its host's entry replaced). */
void reserved_note(struct reserved *rb, const Mesos__V1__Offer *o);
/* Forgets a host (its agent lost). */
void reserved_forget(struct reserved *rb, const char *hostname);

/* The resources a host offers reserved now: unpacked copies (free each with
 * protobuf_c_message_free_unpacked, and the array), *n of them. 0, or -1
 * (host not known, ENOMEM). */
int reserved_get(struct reserved *rb, const char *hostname, Mesos__V1__Resource ***out, size_t *n);

/* The host whose offer holds volume `id` (copied into host), or false. */
bool reserved_find_volume(struct reserved *rb, const char *id, char *host, size_t len);

/* The host whose offer holds a reservation with exactly these labels
 * ("k=v,k=v" in order), or false. */
bool reserved_find_labels(struct reserved *rb, const char *labels, char *host, size_t len);

/* A resource's reservation labels as "k=v,k=v" into buf (empty: none). */
void reserved_labels_text(const Mesos__V1__Resource *r, char *buf, size_t len);

void reserved_free_list(Mesos__V1__Resource **list, size_t n);

#endif
