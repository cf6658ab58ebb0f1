/* What the benchmarks that run the real binaries share; see bench_daemon.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "bench_util.h"
#include "pjson.h"
#include "proto_codec.h"
#include "rpc.h"

json_t *bd_call(struct grpccli *c, const char *svc, const char *method, const char *json,
                bool quiet)
{
	static struct rpc_table *tab;
	if (!tab)
		tab = rpc_table_create(); /* (the benchmarks call from one thread) */
	char path[200], err[256];
	snprintf(path, sizeof(path), "/%s/%s", svc, method);
	struct rpc_method *m = tab ? rpc_lookup_path(tab, path, strlen(path)) : NULL;
	ProtobufCMessage *req = m ? pjson_loads(m->in, json, strlen(json), err, sizeof(err)) : NULL;
	if (!req) {
		fprintf(stderr, "bench: %s: %s\n", path, m ? err : "no such method");
		return NULL;
	}
	size_t len, rlen;
	uint8_t *b = proto_pack_alloc(req, &len), *resp = NULL;
	protobuf_c_message_free_unpacked(req, NULL);
	struct rpc_status st;
	grpccli_call(c, path, b, len, 10000, &resp, &rlen, &st);
	free(b);
	if (st.code != RPC_OK) {
		if (!quiet)
			fprintf(stderr, "bench: %s: %s\n", path, st.msg);
		return NULL;
	}
	const char *why;
	ProtobufCMessage *r = proto_decode(m->out, resp, rlen, NULL, &why);
	free(resp);
	if (!r)
		return NULL;
	json_t *j = pjson_encode(r);
	protobuf_c_message_free_unpacked(r, NULL);
	return j;
}

pid_t bd_spawn_listening(const char *who, const char *dir, const char *name, const char **argv,
                         size_t argc, unsigned *grpc, unsigned *http)
{
	char log[256], ports[256];
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	snprintf(ports, sizeof(ports), "%s/%s.ports", dir, name);
	argv[argc] = "--ports-file";
	argv[argc + 1] = ports;
	argv[argc + 2] = NULL;
	pid_t p = bench_spawn((char *const *)argv, log);
	if (p < 0 || bench_wait_ports(ports, p, 60000, grpc, http) != 0) {
		fprintf(stderr, "%s: %s did not start (log kept: %s)\n", who, name, log);
		if (p > 0)
			bench_reap(p);
		return -1;
	}
	return p;
}

bool bd_wait_capacity(struct grpccli *hm, unsigned agents)
{
	for (int i = 0; i < 600; i++) {
		json_t *j = bd_call(hm, "peloton.private.hostmgr.hostsvc.InternalHostService",
		                    "ClusterCapacity", "{}", true);
		double cpus = 0;
		size_t k;
		json_t *v;
		json_array_foreach(json_object_get(j, "physicalResources"), k, v)
		{
			if (!strcmp(json_string_value(json_object_get(v, "kind")) ?: "", "cpu"))
				cpus = json_number_value(json_object_get(v, "capacity"));
		}
		json_decref(j);
		if (cpus >= 32.0 * agents - 1)
			return true;
		usleep(100000);
	}
	fprintf(stderr, "bench: the agents did not all offer within 60 s\n");
	return false;
}

bool bd_create_pool(struct grpccli *rm, char *id, size_t len)
{
	json_t *j =
	    bd_call(rm, "peloton.api.respool.ResourceManager", "CreateResourcePool",
	            "{\"config\":{\"name\":\"bench\",\"parent\":{\"value\":\"root\"},"
	            "\"resources\":["
	            "{\"kind\":\"cpu\",\"reservation\":1000000,\"limit\":1000000,\"share\":1},"
	            "{\"kind\":\"memory\",\"reservation\":1e10,\"limit\":1e10,\"share\":1},"
	            "{\"kind\":\"disk\",\"reservation\":1e12,\"limit\":1e12,\"share\":1}]}}",
	            false);
	const char *ps = json_string_value(json_object_get(json_object_get(j, "result"), "value"));
	snprintf(id, len, "%s", ps ? ps : "");
	json_decref(j);
	return ps != NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bd_median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return v[n / 2];
}

void bd_start_pair(const char *who, const char *dir, const char *sim_path, const char *daemon_path,
                   unsigned agents, const char *task_secs, pid_t *sim, pid_t *d, unsigned *sim_port,
                   struct grpccli **c)
{
	char ag[16], master[64], db[4200], addr[32];
	unsigned g = 0;
	snprintf(ag, sizeof(ag), "%u", agents);
	const char *sargv[16] = {sim_path,      "--port",  "0",           "--agents", ag,
	                         "--task-secs", task_secs, "--log-level", "warn"};
	*sim = bd_spawn_listening(who, dir, "sim", sargv, 9, NULL, sim_port);
	*d = -1;
	*c = NULL;
	if (*sim <= 0)
		return;
	snprintf(master, sizeof(master), "127.0.0.1:%u", *sim_port);
	snprintf(db, sizeof(db), "%s/db", dir);
	const char *dargv[20] = {daemon_path, "--master",    master, "--db",
	                         db,          "--grpc-port", "0",    "--http-port",
	                         "0",         "--log-level", "warn"};
	*d = bd_spawn_listening(who, dir, "pelotond", dargv, 11, &g, NULL);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", g);
	if (*d > 0)
		*c = grpccli_create(addr);
}
