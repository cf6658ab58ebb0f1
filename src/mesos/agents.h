/*
 * agents: the address book of Mesos agents — each agent's own HTTP
 * endpoint (its files API), learned from the `url` of its offers
 * (Offer.url: scheme, address {hostname, ip, port}, path), as a master
 * reports it. The job manager asks it where a task's sandbox can be
 * browsed.
 *
 * Thread-safe (one mutex): offers are noted on the Mesos I/O thread,
 * lookups come from RPC threads.
 */
#ifndef MESOS_AGENTS_H
#define MESOS_AGENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "mesos/v1/mesos.pb-c.h"

struct agent_book;

/* NULL when out of memory. */
struct agent_book *agent_book_new(void);
void agent_book_free(struct agent_book *b);

/* Records (or updates) the address of each offer's agent; offers without
 * a url are skipped. */
void agent_book_note(struct agent_book *b, Mesos__V1__Offer *const *offers, size_t n);

/*
 * The agent's address: its IP when the url has one, else its hostname,
 * and the port. False when no offer of that agent was seen.
 */
bool agent_book_find(struct agent_book *b, const char *agent_id, char *host, size_t hlen,
                     unsigned *port);

/* Agents known. */
size_t agent_book_size(struct agent_book *b);

#endif
