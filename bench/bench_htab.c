/*
 * bench_htab: the tables looked up by id (jobs, tasks, agents, held hosts,
 * watched launches, why-pending records) — src/common/htab (Concurrency
 * Kit's ck_hs, growing) against the fixed-size chained tables it replaced.
 *
 * One op = one lookup of a present key (mix=get), or one insert of a new
 * object followed by the removal of an old one (mix=churn: the table
 * keeps n objects). Keys are task-id-like strings ("<uuid>-<instance>").
 * p50/p99: one op, sampled every 16th (clock reads are a large part of an
 * op this small).
 *   fast:     htab (ck_hs: open addressing, hash bits packed in the slot)
 *   baseline: chained buckets of fixed count, FNV-1a — 4096 buckets as the
 *             job manager's and the placement engine's tables had
 *             (buckets=4096), or 65536 as the launch watch's and the
 *             agent book's (buckets=65536)
 * Cases: n in {1000, 100000, 1000000} objects x buckets {4096, 65536} x
 * mix {get, churn}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "hash.h"
#include "htab.h"

struct obj {
	char *key;        /* first: htab's HTAB_KEY_POINTER */
	struct obj *next; /* the baseline's chain */
	char buf[48];
};

/* --- baseline: fixed-size chained buckets ------------------------------- */

struct chained {
	struct obj **b;
	size_t nb;
};

static struct obj *ch_get(const struct chained *c, const char *key)
{
	for (struct obj *o = c->b[pel_fnv1a_str(key) % c->nb]; o; o = o->next)
		if (strcmp(o->key, key) == 0)
			return o;
	return NULL;
}

static void ch_put(struct chained *c, struct obj *o)
{
	size_t i = pel_fnv1a_str(o->key) % c->nb;
	o->next = c->b[i];
	c->b[i] = o;
}

static struct obj *ch_del(struct chained *c, const char *key)
{
	for (struct obj **pp = &c->b[pel_fnv1a_str(key) % c->nb]; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->key, key) == 0) {
			struct obj *o = *pp;
			*pp = o->next;
			return o;
		}
	return NULL;
}

/* --- runner ------------------------------------------------------------- */

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void make_keys(struct obj *v, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t a = rng(&seed), b = rng(&seed);
		snprintf(v[i].buf, sizeof(v[i].buf), "%08llx-%04llx-4%03llx-%016llx-%zu",
		         (unsigned long long)(a >> 32), (unsigned long long)(a & 0xffff),
		         (unsigned long long)((a >> 16) & 0xfff), (unsigned long long)b, i % 1000);
		v[i].key = v[i].buf;
		v[i].next = NULL;
	}
}

struct run {
	bool fast, churn;
	size_t n, nb;
	struct obj *v; /* 2n objects: [0, n) in the table, [n, 2n) to churn in */
};

static struct bench_result run_once(const struct run *r, double secs, uint64_t seed)
{
	struct htab t;
	struct chained c = {calloc(r->nb, sizeof(struct obj *)), r->nb};
	if (htab_init(&t, HTAB_KEY_POINTER, 0) != 0 || !c.b) {
		fprintf(stderr, "bench_htab: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < r->n; i++)
		if (r->fast)
			htab_put(&t, &r->v[i]);
		else
			ch_put(&c, &r->v[i]);
	struct bench_samples s;
	bench_samples_init(&s, 1u << 22);
	size_t in_lo = 0, out_lo = r->n; /* the table holds [in_lo, in_lo + n) mod 2n */
	uint64_t t0 = bench_now_ns(), deadline = t0 + (uint64_t)(secs * 1e9), ops = 0;
	while (bench_now_ns() < deadline) {
		for (int k = 0; k < 4096; k++, ops++) {
			uint64_t a = (ops & 15) == 0 ? bench_now_ns() : 0;
			if (!r->churn) {
				const char *key =
				    r->v[(in_lo + rng(&seed) % r->n) % (2 * r->n)].key;
				void *hit = r->fast ? htab_get(&t, key) : (void *)ch_get(&c, key);
				if (!hit) {
					fprintf(stderr,
					        "bench_htab: a present key was not found\n");
					exit(1);
				}
			} else {
				struct obj *in = &r->v[out_lo % (2 * r->n)];
				const char *old = r->v[in_lo % (2 * r->n)].key;
				if (r->fast) {
					htab_put(&t, in);
					htab_del(&t, old);
				} else {
					ch_put(&c, in);
					ch_del(&c, old);
				}
				in_lo++, out_lo++;
			}
			if (a)
				bench_samples_add(&s, bench_now_ns() - a);
		}
	}
	s.ops = ops;
	s.elapsed_ns = bench_now_ns() - t0;
	struct bench_result res = bench_summarise(&s);
	bench_samples_fini(&s);
	size_t left = r->fast ? htab_count(&t) : 0;
	if (r->fast && left != r->n) {
		fprintf(stderr, "bench_htab: %zu objects in the table, want %zu\n", left, r->n);
		exit(1);
	}
	htab_fini(&t);
	free(c.b);
	return res;
}

int main(int argc, char **argv)
{
	static const char help[] =
	    "One op: a lookup of a present key (mix=get), or an insert of a new object and\n"
	    "the removal of an old one (mix=churn; the table keeps n objects). p50/p99: one\n"
	    "op, sampled every 16th. fast = src/common/htab (ck_hs, growing); baseline =\n"
	    "chained buckets of a fixed count (the tables htab replaced).\n"
	    "Cases: n {1000,100000,1000000} x buckets {4096,65536} x mix {get,churn}.";
	static const size_t ns[] = {1000, 100000, 1000000}, nbs[] = {4096, 65536};
	struct bench_opts o;
	bench_parse(argc, argv, help, &o);
	for (int ni = 0; ni < 3; ni++) {
		size_t n = o.quick ? ns[ni] / 10 : ns[ni];
		struct obj *v = calloc(2 * n, sizeof(*v));
		if (!v)
			return 1;
		make_keys(v, 2 * n, o.seed);
		for (int bi = 0; bi < 2; bi++)
			for (int churn = 0; churn < 2; churn++) {
				char cname[96], extra[160];
				snprintf(cname, sizeof(cname), "n=%zu,buckets=%zu,mix=%s", n,
				         nbs[bi], churn ? "churn" : "get");
				if (!bench_selected(&o, cname))
					continue;
				struct bench_result f[100], b[100];
				for (unsigned r = 0; r < o.reps; r++) {
					struct run rb = {false, churn, n, nbs[bi], v},
					           rf = {true, churn, n, nbs[bi], v};
					b[r] = run_once(&rb, o.min_secs, o.seed + r);
					f[r] = run_once(&rf, o.min_secs, o.seed + r);
				}
				struct bench_result bm = bench_median(b, o.reps),
				                    fm = bench_median(f, o.reps);
				snprintf(extra, sizeof(extra), "\"n\":%zu,\"buckets\":%zu", n,
				         nbs[bi]);
				if (!o.impl || o.impl[0] == 'b')
					bench_print("bench_htab", cname, "baseline", extra, &bm,
					            -1);
				if (!o.impl || o.impl[0] == 'f')
					bench_print("bench_htab", cname, "fast", extra, &fm,
					            o.impl ? -1 : fm.ops_per_s / bm.ops_per_s);
			}
		free(v);
	}
	return 0;
}
