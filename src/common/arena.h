/*
 * arena: a bump allocator for short-lived decode trees.
 *
 * A Mesos OFFERS event decodes into thousands of small objects that all die
 * together once the offers are indexed. Allocating them from one arena and
 * dropping them with one arena_reset() replaces thousands of malloc/free
 * pairs with pointer bumps. Blocks are kept across resets (the arena grows
 * to the largest event seen and then stops allocating).
 *
 * Not thread-safe: one arena per thread (the Mesos I/O thread owns one).
 */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *head; /* block being filled; older ones chained behind */
	size_t block_size;        /* bytes per new block (grows for big requests) */
};

/* Initialises an empty arena; nothing is allocated until the first alloc. */
void arena_init(struct arena *a, size_t block_size);

/* Returns 16-byte-aligned memory valid until arena_reset/fini, or NULL. */
void *arena_alloc(struct arena *a, size_t size);

/* Forgets every allocation. A single block is kept; several are freed and the
 * next block is sized to their sum, so a steady workload settles on one. */
void arena_reset(struct arena *a);

/* Callbacks in the shape of ProtobufCAllocator's alloc and free (arg = the
 * arena): messages unpacked into an arena die with arena_reset/fini, so the
 * free is a no-op. */
void *arena_alloc_cb(void *arena, size_t size);
void arena_free_cb(void *arena, void *p);

/* Bytes held in blocks (what the arena costs now). */
size_t arena_held(const struct arena *a);

/* Frees every block. Accepts an arena that never allocated. */
void arena_fini(struct arena *a);

#endif
