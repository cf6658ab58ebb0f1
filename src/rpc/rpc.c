#include "arena.h"
#include "clock.h"
#include "rpc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pjson.h"
#include "proto_codec.h"
#include "proto_registry.h"

static const char *const code_names[RPC_N_CODES] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *rpc_code_name(enum rpc_code c)
{
	return (unsigned)c < RPC_N_CODES ? code_names[c] : "UNKNOWN";
}

int rpc_code_http(enum rpc_code c)
{
	switch (c) {
	case RPC_OK:
		return 200;
	case RPC_INVALID_ARGUMENT:
	case RPC_OUT_OF_RANGE:
		return 400;
	case RPC_NOT_FOUND:
		return 404;
	case RPC_ALREADY_EXISTS:
	case RPC_ABORTED:
		return 409;
	case RPC_PERMISSION_DENIED:
		return 403;
	case RPC_RESOURCE_EXHAUSTED:
		return 429;
	case RPC_FAILED_PRECONDITION:
		return 412;
	case RPC_UNIMPLEMENTED:
		return 501;
	case RPC_UNAVAILABLE:
		return 503;
	case RPC_DEADLINE_EXCEEDED:
		return 504;
	case RPC_CANCELLED:
		return 499;
	default:
		return 500;
	}
}

void *rpc_fail(struct rpc_status *st, enum rpc_code code, const char *fmt, ...)
{
	va_list ap;
	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	return NULL;
}

const double rpc_latency_bounds_us[16] = {
    50,    100,   250,    500,    1000,   2500,    5000,    10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 5000000, 1e300,
};

struct path_ent {
	const char *path; /* canonical or alias; owned by `owned` when alias */
	struct rpc_method *m;
};

struct rpc_table {
	struct rpc_method *methods;
	size_t n;
	struct path_ent *paths; /* sorted by path */
	size_t n_paths;
	char **aliases;
	size_t n_aliases;
};

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct path_ent *)a)->path, ((const struct path_ent *)b)->path);
}

/* "peloton.api.job.JobManager" -> "peloton.api.v0.job.JobManager"; NULL if not public. */
static char *alias_of(const char *full)
{
	static const char pfx[] = "peloton.api.";
	size_t n = sizeof(pfx) - 1;
	if (strncmp(full, pfx, n) != 0)
		return NULL;
	size_t len = strlen(full) + 4;
	char *a = malloc(len);
	if (a)
		snprintf(a, len, "%sv0.%s", pfx, full + n);
	return a;
}

static char *joined(const char *a, const char *sep, const char *b)
{
	size_t len = strlen(a) + strlen(sep) + strlen(b) + 1;
	char *s = malloc(len);
	if (s)
		snprintf(s, len, "%s%s%s", a, sep, b);
	return s;
}

struct rpc_table *rpc_table_create(void)
{
	struct rpc_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < proto_registry_n_services; i++)
		n += proto_registry_services[i]->n_methods;
	t->methods = calloc(n, sizeof(*t->methods));
	t->paths = calloc(2 * n, sizeof(*t->paths));
	t->aliases = calloc(n, sizeof(char *));
	if (!t->methods || !t->paths || !t->aliases)
		goto error;
	for (size_t i = 0; i < proto_registry_n_services; i++) {
		const ProtobufCServiceDescriptor *sd = proto_registry_services[i];
		char *alias = alias_of(sd->name);
		for (unsigned k = 0; k < sd->n_methods; k++) {
			struct rpc_method *m = &t->methods[t->n++];
			const ProtobufCMethodDescriptor *md = &sd->methods[k];
			char *pre = joined("/", "", sd->name);
			m->path = pre ? joined(pre, "/", md->name) : NULL;
			free(pre);
			m->procedure = joined(sd->short_name, "::", md->name);
			m->service_full = sd->name;
			m->method = md->name;
			m->in = md->input;
			m->out = md->output;
			if (!m->path || !m->procedure) {
				free(alias);
				goto error;
			}
			t->paths[t->n_paths++] = (struct path_ent){m->path, m};
			if (alias) {
				char *ap = joined("/", alias, "/");
				char *full = ap ? joined(ap, "", md->name) : NULL;
				free(ap);
				if (!full) {
					free(alias);
					goto error;
				}
				t->aliases[t->n_aliases++] = full;
				t->paths[t->n_paths++] = (struct path_ent){full, m};
			}
		}
		free(alias);
	}
	qsort(t->paths, t->n_paths, sizeof(*t->paths), cmp_path);
	return t;
error:
	rpc_table_destroy(t);
	return NULL;
}

void rpc_table_destroy(struct rpc_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->methods[i].path);
		free(t->methods[i].procedure);
	}
	for (size_t i = 0; i < t->n_aliases; i++)
		free(t->aliases[i]);
	free(t->aliases);
	free(t->methods);
	free(t->paths);
	free(t);
}

int rpc_bind(struct rpc_table *t, const char *service_full, const char *method, rpc_handler_f fn,
             void *ctx)
{
	for (size_t i = 0; i < t->n; i++) {
		struct rpc_method *m = &t->methods[i];
		if (strcmp(m->service_full, service_full) == 0 && strcmp(m->method, method) == 0) {
			m->fn = fn;
			m->ctx = ctx;
			return 0;
		}
	}
	return -1;
}

int rpc_bind_long_poll(struct rpc_table *t, const char *service_full, const char *method,
                       rpc_handler_f fn, void *ctx)
{
	if (rpc_bind(t, service_full, method, fn, ctx) != 0)
		return -1;
	for (size_t i = 0; i < t->n; i++)
		if (t->methods[i].fn == fn && strcmp(t->methods[i].method, method) == 0 &&
		    strcmp(t->methods[i].service_full, service_full) == 0)
			t->methods[i].long_poll = true;
	return 0;
}

struct rpc_method *rpc_lookup_path(struct rpc_table *t, const char *path, size_t len)
{
	size_t lo = 0, hi = t->n_paths;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *p = t->paths[mid].path;
		int c = strncmp(p, path, len);
		if (c == 0 && p[len] != 0)
			c = 1;
		if (c == 0)
			return t->paths[mid].m;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct rpc_method *rpc_lookup_procedure(struct rpc_table *t, const char *proc)
{
	const char *sep = strstr(proc, "::");
	if (!sep || sep == proc || !sep[2])
		return NULL;
	size_t sl = (size_t)(sep - proc);
	struct rpc_method *found = NULL;
	for (size_t i = 0; i < t->n; i++) {
		struct rpc_method *m = &t->methods[i];
		if (strcmp(m->method, sep + 2) != 0)
			continue;
		if (strncmp(m->service_full, proc, sl) == 0 && m->service_full[sl] == 0)
			return m; /* full name: exact */
		const char *dot = strrchr(m->service_full, '.');
		const char *shortn = dot ? dot + 1 : m->service_full;
		if (strncmp(shortn, proc, sl) == 0 && shortn[sl] == 0) {
			if (found)
				return NULL; /* ambiguous short name */
			found = m;
		}
	}
	if (!found && sl > 3) {
		/* upstream's v0 names: peloton.api.v0.job.JobManager */
		char buf[256];
		snprintf(buf, sizeof(buf), "/%.*s/%s", (int)sl, proc, sep + 2);
		return rpc_lookup_path(t, buf, strlen(buf));
	}
	return found;
}

size_t rpc_n_paths(const struct rpc_table *t)
{
	return t->n_paths;
}

const char *rpc_path_at(const struct rpc_table *t, size_t i, struct rpc_method **m)
{
	*m = t->paths[i].m;
	return t->paths[i].path;
}

size_t rpc_methods(struct rpc_table *t, struct rpc_method ***out)
{
	struct rpc_method **v = malloc((t->n ? t->n : 1) * sizeof(*v));
	if (!v)
		return 0;
	for (size_t i = 0; i < t->n; i++)
		v[i] = &t->methods[i];
	*out = v;
	return t->n;
}

static void record(struct rpc_method *m, uint64_t t0, bool ok)
{
	uint64_t us = (clock_mono_ns() / 1000u) - t0;
	size_t b = 0;
	while (b < 15 && (double)us > rpc_latency_bounds_us[b])
		b++;
	atomic_fetch_add_explicit(&m->calls, 1, memory_order_relaxed);
	if (!ok)
		atomic_fetch_add_explicit(&m->errors, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->lat_buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->lat_sum_us, us, memory_order_relaxed);
}

/*
 * A protobuf request decodes into its thread's arena: one bump per object,
 * 16 bytes at least, so decoding costs a bounded multiple of the request's
 * bytes (a 4 MiB list of one-letter strings ~48 MiB, against ~90 MiB from
 * malloc) and the whole tree goes at once. An arena that grew past
 * ARENA_KEEP after a big request is given back, not kept per thread.
 */
#define ARENA_KEEP (1u << 20)
#define ARENA_BLOCK (64u << 10)
static __thread struct arena req_arena = {NULL, ARENA_BLOCK};
static pthread_key_t arena_key; /* its destructor frees a thread's arena at exit */
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void arena_at_exit(void *a)
{
	arena_fini(a);
}

static void arena_key_make(void)
{
	pthread_key_create(&arena_key, arena_at_exit);
}

/* This thread's request arena, registered for freeing at thread exit. */
static struct arena *request_arena(void)
{
	pthread_once(&arena_once, arena_key_make);
	if (pthread_getspecific(arena_key) == NULL)
		pthread_setspecific(arena_key, &req_arena);
	return &req_arena;
}

/* The request's memory back (a failed protobuf decode's part too). */
static void request_free(ProtobufCMessage *req, enum rpc_encoding enc)
{
	if (enc == RPC_ENC_JSON) {
		if (req != NULL)
			protobuf_c_message_free_unpacked(req, NULL);
		return;
	}
	if (arena_held(&req_arena) > ARENA_KEEP) {
		arena_fini(&req_arena);
		arena_init(&req_arena, ARENA_BLOCK);
	} else {
		arena_reset(&req_arena);
	}
}

static ProtobufCMessage *decode_req(struct rpc_method *m, enum rpc_encoding enc,
                                    const uint8_t *body, size_t len, struct rpc_status *st)
{
	if (enc == RPC_ENC_JSON) {
		char err[200];
		if (len == 0)
			body = (const uint8_t *)"{}", len = 2;
		ProtobufCMessage *req =
		    pjson_loads(m->in, (const char *)body, len, err, sizeof(err));
		if (!req)
			rpc_fail(st, RPC_INVALID_ARGUMENT, "%s: %s", m->in->name, err);
		return req;
	}
	const char *why = NULL;
	ProtobufCAllocator al = {arena_alloc_cb, arena_free_cb, request_arena()};
	ProtobufCMessage *req = proto_decode(m->in, body, len, &al, &why);
	if (!req)
		rpc_fail(st, RPC_INVALID_ARGUMENT, "cannot decode %s: %s", m->in->name,
		         why ? why : "malformed protobuf");
	return req;
}

void rpc_invoke(struct rpc_method *m, enum rpc_encoding enc, const uint8_t *body, size_t len,
                uint8_t **out, size_t *out_len, struct rpc_status *st)
{
	uint64_t t0 = (clock_mono_ns() / 1000u);
	ProtobufCMessage *req = NULL, *resp = NULL;
	*out = NULL;
	*out_len = 0;
	st->code = RPC_OK;
	st->msg[0] = 0;
	if (!m->fn) {
		rpc_fail(st, RPC_UNIMPLEMENTED, "%s/%s is not implemented by this daemon",
		         m->service_full, m->method);
		goto done;
	}
	req = decode_req(m, enc, body, len, st);
	if (!req)
		goto done;
	resp = m->fn(m->ctx, req, st);
	if (!resp) {
		if (st->code == RPC_OK)
			rpc_fail(st, RPC_INTERNAL, "handler failed without a status");
		goto done;
	}
	st->code = RPC_OK;
	if (enc == RPC_ENC_JSON) {
		char *s = pjson_dumps(resp);
		if (!s) {
			rpc_fail(st, RPC_INTERNAL, "out of memory encoding the response");
			goto done;
		}
		*out = (uint8_t *)s;
		*out_len = strlen(s);
	} else {
		*out = proto_pack_alloc(resp, out_len);
		if (!*out)
			rpc_fail(st, RPC_INTERNAL, "out of memory encoding the response");
	}
done:
	if (req != NULL || enc == RPC_ENC_PROTO)
		request_free(req, enc);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	record(m, t0, st->code == RPC_OK);
}

void rpc_write_metrics(struct rpc_table *t, FILE *f)
{
	fprintf(f, "# HELP peloton_rpc_requests_total RPC calls by procedure and result.\n"
	           "# TYPE peloton_rpc_requests_total counter\n");
	for (size_t i = 0; i < t->n; i++) {
		struct rpc_method *m = &t->methods[i];
		uint64_t c = atomic_load_explicit(&m->calls, memory_order_relaxed);
		uint64_t e = atomic_load_explicit(&m->errors, memory_order_relaxed);
		if (!c)
			continue;
		fprintf(f,
		        "peloton_rpc_requests_total{procedure=\"%s\",result=\"ok\"} %llu\n"
		        "peloton_rpc_requests_total{procedure=\"%s\",result=\"error\"} %llu\n",
		        m->procedure, (unsigned long long)(c - e), m->procedure,
		        (unsigned long long)e);
	}
	fprintf(f, "# HELP peloton_rpc_latency_seconds RPC handling latency by procedure.\n"
	           "# TYPE peloton_rpc_latency_seconds histogram\n");
	for (size_t i = 0; i < t->n; i++) {
		struct rpc_method *m = &t->methods[i];
		uint64_t c = atomic_load_explicit(&m->calls, memory_order_relaxed), cum = 0;
		if (!c)
			continue;
		for (int b = 0; b < 16; b++) {
			cum += atomic_load_explicit(&m->lat_buckets[b], memory_order_relaxed);
			if (b == 15)
				fprintf(f,
				        "peloton_rpc_latency_seconds_bucket{procedure=\"%s\",le=\"+"
				        "Inf\"} "
				        "%llu\n",
				        m->procedure, (unsigned long long)cum);
			else
				fprintf(f,
				        "peloton_rpc_latency_seconds_bucket{procedure=\"%s\",le=\"%"
				        "g\"} "
				        "%llu\n",
				        m->procedure, rpc_latency_bounds_us[b] / 1e6,
				        (unsigned long long)cum);
		}
		fprintf(f, "peloton_rpc_latency_seconds_sum{procedure=\"%s\"} %g\n", m->procedure,
		        (double)atomic_load_explicit(&m->lat_sum_us, memory_order_relaxed) / 1e6);
		fprintf(f, "peloton_rpc_latency_seconds_count{procedure=\"%s\"} %llu\n",
		        m->procedure, (unsigned long long)cum);
	}
}
