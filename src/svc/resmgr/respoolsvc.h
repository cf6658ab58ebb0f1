/*
 * respoolsvc: the protobuf face of the resource pool tree — the v0
 * peloton.api.respool.ResourceManager service (CreateResourcePool,
 * GetResourcePool, DeleteResourcePool, UpdateResourcePool,
 * LookupResourcePoolID, Query). Errors go into the response's `error`
 * fields with OK status, as the v0 API does.
 *
 * The pool tree stores each pool's packed ResourcePoolConfig, so Get and
 * Query return the config a client created (owning team, LDAP groups,
 * description, policy) next to the live ids, children and usage.
 * Responses are malloc'd in protobuf-c's unpacked layout; free with
 * protobuf_c_message_free_unpacked(&resp->base, NULL). NULL only on ENOMEM.
 */
#ifndef RESPOOLSVC_H
#define RESPOOLSVC_H

#include "peloton/api/respool/respool.pb-c.h"
#include "respool.h"

/* Recovery: a stored ResourcePoolConfig (its bytes) back into the tree
 * under its id; 0, or -1 with the reason in why. */
struct store;
/* Recovery: every pool in the store back into the tree, parents first;
 * returns how many, *failed gets those refused (logged with the reason). */
size_t respoolsvc_recover(struct respool_tree *t, struct store *s, size_t *failed);

/*
 * ResourcePoolService's create: the pool from config c under `id` when the
 * client names one (respool_restore's rules), else a new id; its id into
 * out (40 bytes). 0, or -1 with *err.
 */
int respoolsvc_create_id(struct respool_tree *t, const char *id,
                         const Peloton__Api__Respool__ResourcePoolConfig *c, char out[40],
                         struct respool_error *err);

int respoolsvc_restore(struct respool_tree *t, const char *id, const void *bytes, size_t len,
                       char *why, size_t wlen);

Peloton__Api__Respool__CreateResponse *
respoolsvc_create(struct respool_tree *t, const Peloton__Api__Respool__CreateRequest *r);
Peloton__Api__Respool__GetResponse *respoolsvc_get(struct respool_tree *t,
                                                   const Peloton__Api__Respool__GetRequest *r);
Peloton__Api__Respool__DeleteResponse *
respoolsvc_delete(struct respool_tree *t, const Peloton__Api__Respool__DeleteRequest *r);
Peloton__Api__Respool__UpdateResponse *
respoolsvc_update(struct respool_tree *t, const Peloton__Api__Respool__UpdateRequest *r);
Peloton__Api__Respool__LookupResponse *
respoolsvc_lookup(struct respool_tree *t, const Peloton__Api__Respool__LookupRequest *r);
Peloton__Api__Respool__QueryResponse *
respoolsvc_query(struct respool_tree *t, const Peloton__Api__Respool__QueryRequest *r);

#endif
