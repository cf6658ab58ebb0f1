/* Simulated cluster for the benchmarks; see bench_cluster.h. */
#include <stdio.h>
#include <stdlib.h>

#include "bench_cluster.h"

uint64_t bench_rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

double bench_unit(uint64_t *s)
{
	return (double)(bench_rng(s) >> 11) / 9007199254740992.0;
}

void bench_host_gen(struct bench_host *h, uint64_t *s, bool fresh)
{
	static const double cpus[] = {16, 24, 32, 48, 64, 96};
	double cap_cpu = cpus[bench_rng(s) % 6];
	double cap_mem = cap_cpu * 1024 * (4 + (double)(bench_rng(s) % 5)); /* 4-8 GB per core */
	if (cap_mem > 768 * 1024)
		cap_mem = 768 * 1024;
	h->cap = (struct hostmatch_res){cap_cpu, cap_mem, 100000 + 1000, 0};
	double p = bench_unit(s), frac;
	if (fresh)
		frac = 1;
	else if (p < 0.80)
		frac = bench_unit(s) * 0.06; /* nearly full */
	else if (p < 0.94)
		frac = 0.03 + bench_unit(s) * 0.06;
	else
		frac = 0.16 + bench_unit(s) * 0.5; /* the ~10% with room */
	h->free.cpus = (double)(int)(cap_cpu * frac * 2) / 2;
	h->free.mem_mb =
	    (double)(int)(cap_mem * (frac + (fresh ? 0 : (bench_unit(s) - 0.5) * 0.04)));
	if (h->free.mem_mb < 0)
		h->free.mem_mb = 0;
	h->free.disk_mb = 100000 * frac + 1000;
	h->free.gpus = 0;
	h->ports = (uint32_t)(frac * 200);
}

struct bench_host *bench_cluster_gen(size_t n, uint64_t seed, bool fresh)
{
	uint64_t s = seed * 2654435761u + 1;
	struct bench_host *hosts = calloc(n, sizeof(*hosts));

	for (size_t i = 0; hosts && i < n; i++) {
		struct bench_host *h = &hosts[i];
		snprintf(h->name, sizeof(h->name), "host-%06zu", i);
		bench_host_gen(h, &s, fresh);
		if (i % 20 == 7)
			h->free.gpus = h->cap.gpus = 4; /* 5% with GPUs */
		snprintf(h->texts[0], 48, "hostname=%s", h->name);
		snprintf(h->texts[1], 48, "rack=rack-%llu",
		         (unsigned long long)(bench_rng(&s) % 40));
		snprintf(h->texts[2], 48, "zone=zone-%llu",
		         (unsigned long long)(bench_rng(&s) % 3));
		snprintf(h->texts[3], 48, "sku=sku-%llu", (unsigned long long)(bench_rng(&s) % 4));
		for (int k = 0; k < 4; k++)
			h->labels[k] = (struct hostmatch_label){hostmatch_label_hash(h->texts[k]),
			                                        h->texts[k]};
	}
	return hosts;
}
