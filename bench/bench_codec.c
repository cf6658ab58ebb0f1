/*
 * bench_codec: decoding a Mesos OFFERS event, the host manager's ingest.
 *
 * One op = unpack one mesos.v1.scheduler.Event of type OFFERS carrying
 * `offers` offers (each with cpus, mem, disk, a ports range and 3 text
 * attributes, as a Mesos agent advertises them) and free the tree.
 *   fast:     protobuf-c with the common/arena bump allocator, freed by one
 *             arena_reset (what the Mesos I/O thread does)
 *   baseline: protobuf-c with its default malloc allocator and
 *             protobuf_c_message_free_unpacked
 * Cases: offers=1 (a trickle) and offers=200 (a big cluster's burst).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bench_util.h"
#include "mesos/v1/scheduler/scheduler.pb-c.h"

typedef Mesos__V1__Scheduler__Event Event;

static void *arena_pb_alloc(void *data, size_t size)
{
	return arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr;
}

static Mesos__V1__Resource *scalar(const char *name, double v)
{
	Mesos__V1__Resource *r = calloc(1, sizeof(*r));
	mesos__v1__resource__init(r);
	r->name = strdup(name);
	r->type = MESOS__V1__VALUE__TYPE__SCALAR;
	r->scalar = calloc(1, sizeof(*r->scalar));
	mesos__v1__value__scalar__init(r->scalar);
	r->scalar->value = v;
	return r;
}

static Mesos__V1__Resource *ports(uint64_t lo, uint64_t hi)
{
	Mesos__V1__Resource *r = calloc(1, sizeof(*r));
	mesos__v1__resource__init(r);
	r->name = strdup("ports");
	r->type = MESOS__V1__VALUE__TYPE__RANGES;
	r->ranges = calloc(1, sizeof(*r->ranges));
	mesos__v1__value__ranges__init(r->ranges);
	r->ranges->n_range = 1;
	r->ranges->range = calloc(1, sizeof(void *));
	r->ranges->range[0] = calloc(1, sizeof(Mesos__V1__Value__Range));
	mesos__v1__value__range__init(r->ranges->range[0]);
	r->ranges->range[0]->begin = lo;
	r->ranges->range[0]->end = hi;
	return r;
}

static Mesos__V1__Attribute *text_attr(const char *name, const char *value)
{
	Mesos__V1__Attribute *a = calloc(1, sizeof(*a));
	mesos__v1__attribute__init(a);
	a->name = strdup(name);
	a->type = MESOS__V1__VALUE__TYPE__TEXT;
	a->text = calloc(1, sizeof(*a->text));
	mesos__v1__value__text__init(a->text);
	a->text->value = strdup(value);
	return a;
}

static void *id_msg(size_t size, void (*init)(void *), const char *fmt, unsigned i)
{
	char buf[64];
	void *m = calloc(1, size);
	init(m);
	snprintf(buf, sizeof(buf), fmt, i);
	/* every *ID message has one string field, `value`, right after the base */
	*(char **)((char *)m + sizeof(ProtobufCMessage)) = strdup(buf);
	return m;
}

static uint8_t *build_event(unsigned n, uint64_t seed, size_t *len)
{
	Event *ev = calloc(1, sizeof(*ev));
	mesos__v1__scheduler__event__init(ev);
	ev->type = MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS;
	ev->has_type = 1;
	ev->offers = calloc(1, sizeof(*ev->offers));
	mesos__v1__scheduler__event__offers__init(ev->offers);
	ev->offers->n_offers = n;
	ev->offers->offers = calloc(n, sizeof(void *));
	for (unsigned i = 0; i < n; i++) {
		char host[64], rack[32];
		Mesos__V1__Offer *o = calloc(1, sizeof(*o));
		mesos__v1__offer__init(o);
		o->id = id_msg(sizeof(Mesos__V1__OfferID),
		               (void (*)(void *))mesos__v1__offer_id__init, "offer-%u", i);
		o->framework_id =
		    id_msg(sizeof(Mesos__V1__FrameworkID),
		           (void (*)(void *))mesos__v1__framework_id__init, "fw-%u", 0);
		o->agent_id = id_msg(sizeof(Mesos__V1__AgentID),
		                     (void (*)(void *))mesos__v1__agent_id__init, "agent-%u", i);
		snprintf(host, sizeof(host), "host-%05u.dc1.example.com", i);
		o->hostname = strdup(host);
		o->n_resources = 4;
		o->resources = calloc(4, sizeof(void *));
		o->resources[0] = scalar("cpus", 8 + (double)((seed + i) % 56));
		o->resources[1] = scalar("mem", 32768 + (double)((seed * 7 + i) % 8) * 4096);
		o->resources[2] = scalar("disk", 500000);
		o->resources[3] = ports(31000, 32000);
		o->n_attributes = 3;
		o->attributes = calloc(3, sizeof(void *));
		snprintf(rack, sizeof(rack), "rack-%u", i % 40);
		o->attributes[0] = text_attr("rack", rack);
		o->attributes[1] = text_attr("zone", i % 2 ? "us-east-1a" : "us-east-1b");
		o->attributes[2] = text_attr("sku", "m5.4xlarge");
		ev->offers->offers[i] = o;
	}
	*len = protobuf_c_message_get_packed_size(&ev->base);
	uint8_t *buf = malloc(*len);
	protobuf_c_message_pack(&ev->base, buf);
	/* the builder used the same layout as unpack: free it the same way */
	protobuf_c_message_free_unpacked(&ev->base, NULL);
	return buf;
}

static struct bench_result run(const uint8_t *buf, size_t len, bool fast,
                               const struct bench_opts *o)
{
	struct bench_samples s;
	struct arena a;
	ProtobufCAllocator alloc = {arena_pb_alloc, arena_pb_free, &a};
	uint64_t t0 = bench_now_ns(), deadline = t0 + (uint64_t)(o->min_secs * 1e9);

	arena_init(&a, 64 * 1024);
	bench_samples_init(&s, 1u << 20);
	for (;;) {
		uint64_t t = bench_now_ns();
		if (t >= deadline && s.ops >= 10)
			break;
		ProtobufCMessage *m = protobuf_c_message_unpack(
		    &mesos__v1__scheduler__event__descriptor, fast ? &alloc : NULL, len, buf);
		if (m == NULL) {
			fprintf(stderr, "bench_codec: unpack failed\n");
			exit(1);
		}
		if (fast)
			arena_reset(&a);
		else
			protobuf_c_message_free_unpacked(m, NULL);
		bench_samples_add(&s, bench_now_ns() - t);
		s.ops++;
	}
	s.elapsed_ns = bench_now_ns() - t0;
	struct bench_result r = bench_summarise(&s);
	bench_samples_fini(&s);
	arena_fini(&a);
	return r;
}

int main(int argc, char **argv)
{
	static const char help[] =
	    "One op: decode one Mesos OFFERS event (mesos.v1.scheduler.Event) and free it.\n"
	    "fast = protobuf-c into a bump arena reset per event; baseline = protobuf-c\n"
	    "with malloc/free. Cases: offers=1 and offers=200 offers per event.";
	static const unsigned cases[] = {1, 200};
	struct bench_opts o;

	bench_parse(argc, argv, help, &o);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t len;
		uint8_t *buf = build_event(cases[c], o.seed, &len);
		struct bench_result fast[100], base[100];
		char cname[64], extra[96];

		for (unsigned r = 0; r < o.reps; r++) {
			base[r] = run(buf, len, false, &o);
			fast[r] = run(buf, len, true, &o);
		}
		struct bench_result b = bench_median(base, o.reps);
		struct bench_result f = bench_median(fast, o.reps);
		snprintf(cname, sizeof(cname), "offers=%u", cases[c]);
		snprintf(extra, sizeof(extra), "\"offers\":%u,\"event_bytes\":%zu", cases[c], len);
		bench_print("bench_codec", cname, "baseline", extra, &b, -1);
		bench_print("bench_codec", cname, "fast", extra, &f, f.ops_per_s / b.ops_per_s);
		free(buf);
	}
	return 0;
}
