/*
 * htab: a hash table of objects keyed by a string inside them, that grows
 * — Concurrency Kit's ck_hs (open addressing, the hash's high bits packed
 * into the stored pointers so a miss rarely touches an object) under a
 * thin layer that knows where an object keeps its key.
 *
 * The key is the object's FIRST member: either a character array
 * (HTAB_KEY_ARRAY: `struct job { char id[64]; ... }`) or a pointer to a
 * NUL-terminated string that lives as long as the object
 * (HTAB_KEY_POINTER: `struct entry { char *id; ... }`). The table stores
 * object pointers only; it allocates nothing per object.
 *
 * HOW IT WORKS: lookups probe with the key itself (array keys) or with a
 * pointer to it (pointer keys), so one compare callback reads both stored
 * objects and probes the same way. The table starts at `capacity` and
 * doubles as it fills (ck_hs rebuilds the map; the old one is freed at
 * once: no reader runs outside the caller's lock).
 *
 * CONCURRENCY: none of its own. ck_hs allows one writer beside lock-free
 * readers only with deferred reclamation of grown maps, which this layer
 * does not do: every table here is guarded by its owner's lock (readers
 * may share a read lock; writers hold it exclusively).
 *
 * bench_htab measures it against the fixed-size chained tables it
 * replaced.
 */
#ifndef HTAB_H
#define HTAB_H

#include <stdbool.h>
#include <stddef.h>

#include <ck_hs.h>

enum htab_key {
	HTAB_KEY_ARRAY,   /* the object starts with a char array holding the key */
	HTAB_KEY_POINTER, /* the object starts with a `char *` to the key */
};

struct htab {
	ck_hs_t hs;
	enum htab_key kind;
};

/* 0, or -1 (ENOMEM). capacity: entries expected at first (0: 64). */
int htab_init(struct htab *t, enum htab_key kind, size_t capacity);
/* Frees the table (not the objects). */
void htab_fini(struct htab *t);

/* The object whose key is `key`, or NULL. */
void *htab_get(struct htab *t, const char *key);
/* Adds obj: 0, or -1 when its key is there already (nothing added) or on ENOMEM. */
int htab_put(struct htab *t, void *obj);
/* Removes and returns the object whose key is `key`; NULL when none. */
void *htab_del(struct htab *t, const char *key);
size_t htab_count(struct htab *t);

/* Iteration, in no order; the table must not change meanwhile. */
struct htab_iter {
	ck_hs_iterator_t it;
};
void htab_iter_init(struct htab_iter *i);
/* The next object, or NULL at the end. */
void *htab_next(struct htab *t, struct htab_iter *i);

#endif
