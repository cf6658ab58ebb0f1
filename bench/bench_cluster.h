/*
 * bench_cluster: the simulated cluster the placement benchmarks share —
 * hosts of 16-96 cpus and 4-8 GB per core (capped at 768 GB), 5% with 4
 * GPUs, attributes rack (40), zone (3), sku (4), generated from a seed.
 * A host is either fresh (all free) or ~80% allocated and fragmented so
 * that about 1 host in 10 fits a 4-cpu, 16-GB task.
 */
#ifndef BENCH_CLUSTER_H
#define BENCH_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostmatch.h"

struct bench_host {
	char name[32];
	struct hostmatch_res cap;         /* physical size */
	struct hostmatch_res free;        /* what it offers */
	uint32_t ports;                   /* ports offered: 31000 .. 31000 + ports - 1 */
	struct hostmatch_label labels[4]; /* hostname, rack, zone, sku */
	char texts[4][48];
	char offer_id[40]; /* the benchmark's current offer for it */
};

uint64_t bench_rng(uint64_t *s);
double bench_unit(uint64_t *s);

/* Gives h a random size and, unless fresh, ~80%-allocated free resources. */
void bench_host_gen(struct bench_host *h, uint64_t *s, bool fresh);

/* n hosts from seed (calloc'd; caller frees). */
struct bench_host *bench_cluster_gen(size_t n, uint64_t seed, bool fresh);

#endif
