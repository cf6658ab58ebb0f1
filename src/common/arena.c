/* Bump allocator; see arena.h. */
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"

struct arena_block {
	struct arena_block *next;
	size_t size; /* usable bytes in data[] */
	size_t used; /* bytes handed out, multiple of 16 */
	_Alignas(16) unsigned char data[];
};

void arena_init(struct arena *a, size_t block_size)
{
	a->head = NULL;
	a->block_size = block_size < 1024 ? 1024 : block_size;
}

void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b = a->head;

	size = (size + 15) & ~(size_t)15;
	if (size == 0)
		size = 16;
	if (b == NULL || b->size - b->used < size) {
		size_t cap = size > a->block_size ? size : a->block_size;
		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->next = a->head;
		b->size = cap;
		b->used = 0;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += size;
	return p;
}

void arena_reset(struct arena *a)
{
	struct arena_block *b = a->head, *next;
	size_t total = 0;

	if (b != NULL && b->next == NULL) {
		b->used = 0; /* one block: reuse it as is */
		return;
	}
	for (; b != NULL; b = next) {
		next = b->next;
		total += b->size;
		free(b);
	}
	a->head = NULL;
	/* the next fill of the same size will fit in one block */
	if (total > a->block_size)
		a->block_size = total;
}

void *arena_alloc_cb(void *arena, size_t size)
{
	return arena_alloc(arena, size);
}

void arena_free_cb(void *arena, void *p)
{
	(void)arena, (void)p;
}

size_t arena_held(const struct arena *a)
{
	size_t n = 0;
	for (const struct arena_block *b = a->head; b != NULL; b = b->next)
		n += b->size;
	return n;
}

void arena_fini(struct arena *a)
{
	struct arena_block *b = a->head, *next;

	for (; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}
