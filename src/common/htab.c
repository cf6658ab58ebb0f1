/* A growing hash table of objects keyed by a string; see htab.h. */
#include "htab.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

static const char *key_of(const void *obj, enum htab_key kind)
{
	return kind == HTAB_KEY_ARRAY ? (const char *)obj : *(const char *const *)obj;
}

static unsigned long hash_str(const char *s, unsigned long seed)
{
	uint64_t h = pel_fnv1a_str(s) ^ seed;
	return (unsigned long)(h ^ (h >> 31));
}

/* ck_hs's callbacks have no context: one pair per key kind. */
static unsigned long hash_array(const void *obj, unsigned long seed)
{
	return hash_str(key_of(obj, HTAB_KEY_ARRAY), seed);
}

static unsigned long hash_pointer(const void *obj, unsigned long seed)
{
	return hash_str(key_of(obj, HTAB_KEY_POINTER), seed);
}

static bool same_array(const void *a, const void *b)
{
	return strcmp(key_of(a, HTAB_KEY_ARRAY), key_of(b, HTAB_KEY_ARRAY)) == 0;
}

static bool same_pointer(const void *a, const void *b)
{
	return strcmp(key_of(a, HTAB_KEY_POINTER), key_of(b, HTAB_KEY_POINTER)) == 0;
}

static void *hs_malloc(size_t n)
{
	return malloc(n);
}

static void hs_free(void *p, size_t n, bool defer)
{
	(void)n, (void)defer; /* no lock-free readers: freed at once (htab.h) */
	free(p);
}

static struct ck_malloc allocator = {.malloc = hs_malloc, .free = hs_free};

int htab_init(struct htab *t, enum htab_key kind, size_t capacity)
{
	t->kind = kind;
	bool ok = ck_hs_init(&t->hs, CK_HS_MODE_SPMC | CK_HS_MODE_OBJECT | CK_HS_MODE_DELETE,
	                     kind == HTAB_KEY_ARRAY ? hash_array : hash_pointer,
	                     kind == HTAB_KEY_ARRAY ? same_array : same_pointer, &allocator,
	                     capacity ? capacity : 64, 0x9e3779b97f4a7c15ul);
	return ok ? 0 : -1;
}

void htab_fini(struct htab *t)
{
	ck_hs_destroy(&t->hs);
}

/* The probe for key: the key itself (array kind) or a pointer to it. */
#define PROBE(t, key, ptr) ((t)->kind == HTAB_KEY_ARRAY ? (const void *)(key) : (const void *)(ptr))

void *htab_get(struct htab *t, const char *key)
{
	const char *k = key;
	return ck_hs_get(&t->hs, hash_str(key, t->hs.seed), PROBE(t, key, &k));
}

int htab_put(struct htab *t, void *obj)
{
	const char *key = key_of(obj, t->kind);
	return ck_hs_put(&t->hs, hash_str(key, t->hs.seed), obj) ? 0 : -1;
}

void *htab_del(struct htab *t, const char *key)
{
	const char *k = key;
	return ck_hs_remove(&t->hs, hash_str(key, t->hs.seed), PROBE(t, key, &k));
}

size_t htab_count(struct htab *t)
{
	return ck_hs_count(&t->hs);
}

void htab_iter_init(struct htab_iter *i)
{
	ck_hs_iterator_init(&i->it);
}

void *htab_next(struct htab *t, struct htab_iter *i)
{
	void *obj;
	return ck_hs_next(&t->hs, &i->it, &obj) ? obj : NULL;
}
