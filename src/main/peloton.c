/*
 * peloton: the command-line client. Every command is one (or two) unary
 * gRPC calls through the same method table the daemon serves; requests are
 * built as proto3 JSON and decoded with the schema (so YAML specs use the
 * upstream keys, case-insensitively), responses are printed as tables or
 * YAML, or as JSON with --json.
 *
 * Exit codes: 0 ok, 1 error (the daemon's status and message are printed),
 * 2 usage.
 */
#define _GNU_SOURCE /* strptime, timegm */
#include <ctype.h>
#include <getopt.h>
#include <strings.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grpccli.h"
#include "httpcli.h"
#include "peloton/api/task/task.pb-c.h"
#include "pjson.h"
#include "proto_codec.h"
#include "proto_registry.h"
#include "rpc.h"
#include "version.h"
#include "yamljson.h"

static struct {
	const char *addr, *http;
	const char *rm_addr; /* the resource manager when it runs apart; NULL: addr */
	const char *hm_addr; /* the host manager when it runs apart; NULL: addr */
	unsigned timeout_ms, count;
	bool json, strict;
	const char *job_id, *state, *label, *keyword, *respool, *range;
	const char *names, *hosts, *sort, *sortorder; /* task query; job query's sort too */
	const char *owner, *name;                     /* job query */
	const char *short_r; /* -r: --respool for job query, --range elsewhere (as upstream) */
	unsigned limit, offset;
	int batch_size;   /* update create: -1 when not given */
	double batch_pct; /* update create: < 0 when not given */
	bool stop_first, start_paused, watch;
	bool want_stderr, follow; /* task logs (--filename stderr = --stderr) */
} g = {.timeout_ms = 10000, .limit = 100, .batch_size = -1, .batch_pct = -1};

static struct rpc_table *tab;
static struct grpccli *cli, *rm_cli, *hm_cli;

/* Pools and the resource manager's own service go to --resmgr when given. */
static bool to_resmgr(const char *svc)
{
	return rm_cli && (strncmp(svc, "peloton.api.respool.", 20) == 0 ||
	                  strncmp(svc, "peloton.private.resmgr.", 23) == 0);
}

/* The host manager's services go to --hostmgr when given. */
static bool to_hostmgr(const char *svc)
{
	return hm_cli && (strncmp(svc, "peloton.private.hostmgr.", 24) == 0 ||
	                  strncmp(svc, "peloton.private.eventstream.", 28) == 0);
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: peloton [global options] <command> [args]\n\n"
	        "commands:\n"
	        "  respool create <path> <spec.yaml>   create a pool (parent must exist)\n"
	        "  respool lookup|get|delete <path>\n"
	        "  respool dump                        every pool\n"
	        "  job create <respool-path> <spec.yaml> [-i|--job-id ID]\n"
	        "  job get|status|stop|delete <job-id>\n"
	        "  job query [-s|--states S,..] [-l|--labels k=v,..] [-k|--keywords W,..]\n"
	        "            [-r|--respool PATH] [-n|--limit N] [-o|--offset N]\n"
	        "            [-p|--sort PROPERTY] [-a|--sortorder ASC|DESC]\n"
	        "            [--owner TEAM] [--name NAME]\n"
	        "  task get|events|browse <job-id> <instance>\n"
	        "  task logs <job-id> <instance> [--stderr | -f|--filename stderr] [--follow]\n"
	        "                                      the task's stdout (stderr) through its\n"
	        "                                      agent's files API\n"
	        "  task list <job-id> [-r|--range FROM:TO]   a table (--json for every field)\n"
	        "  task start|stop|restart <job-id> [-r|--range FROM:TO[,FROM:TO..]]\n"
	        "  task query <job-id> [-s|--states S,..] [--names N,..] [--hosts H,..]\n"
	        "             [-n|--limit N] [-o|--offset N] [-p|--sort PROPERTY]\n"
	        "             [-a|--sortorder ASC|DESC]\n"
	        "  job update <job-id> <spec.yaml>     the new config, every instance at once\n"
	        "  respool update <path> <spec.yaml>, respool pending <path>\n"
	        "  host capacity, host offers [--limit N]\n"
	        "  placement explain <spec.yaml> [--count N]   (uses --http)\n"
	        "  update create <job-id> <spec.yaml> [--batch-size N | --batch-percentage P]\n"
	        "                [--stop-before-update] [--start-paused] [--watch]\n"
	        "  update get|pause|resume|rollback|abort <update-id> [--watch], update list\n"
	        "  volume list <job-id>, volume get|delete <volume-id>\n"
	        "                                      persistent volumes (a delete is\n"
	        "                                      refused while its task runs)\n\n"
	        "global options (upstream's short forms beside them):\n"
	        "  -m, --jobmgr ADDR                   daemon gRPC address host:port\n"
	        "                                      (env JOBMGR_URL; default "
	        "127.0.0.1:5392)\n"
	        "  -u, --hostmgr ADDR                  the host manager, when it runs apart\n"
	        "                                      (env HOSTMGR_URL; default: the\n"
	        "                                      --jobmgr address)\n"
	        "  -v, --resmgr ADDR                   pools and the resource manager, when\n"
	        "                                      it runs apart (env RESMGR_URL;\n"
	        "                                      default: the --jobmgr address)\n"
	        "  --http ADDR                         daemon HTTP address (env PELOTON_HTTP;\n"
	        "                                      default 127.0.0.1:5292)\n"
	        "  -t, --timeout D                     per call: 500ms, 20s, 2m (a bare number\n"
	        "                                      is milliseconds; default 10s)\n"
	        "  -j, --json                          print responses as JSON\n"
	        "  --strict                            refuse spec keys no field has and keys\n"
	        "                                      given twice (default: warn with\n"
	        "                                      file:line and skip, as upstream)\n"
	        "  -V, --version, -h, --help\n\n"
	        "Lists (--states, --labels, ...) are comma-separated; states in any case.\n");
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "peloton: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

__attribute__((noreturn)) static void bad_usage(const char *what)
{
	fprintf(stderr, "peloton: %s\n\n", what);
	usage(stderr);
	exit(2);
}

/* One call: JSON request in, JSON response out (caller decrefs). Dies on error. */
static json_t *call(const char *svc, const char *method, json_t *req)
{
	char path[256];
	snprintf(path, sizeof(path), "/%s/%s", svc, method);
	struct rpc_method *m = rpc_lookup_path(tab, path, strlen(path));
	if (!m)
		die("internal: no method %s", path);
	char err[512];
	ProtobufCMessage *msg = pjson_decode(m->in, req, 0, err, sizeof(err));
	json_decref(req);
	if (!msg)
		die("request: %s", err);
	size_t len;
	uint8_t *bytes = proto_pack_alloc(msg, &len);
	protobuf_c_message_free_unpacked(msg, NULL);
	uint8_t *resp;
	size_t rlen;
	struct rpc_status st;
	bool rm = to_resmgr(svc), hm = !rm && to_hostmgr(svc);
	grpccli_call(rm   ? rm_cli
	             : hm ? hm_cli
	                  : cli,
	             path, bytes, len, g.timeout_ms, &resp, &rlen, &st);
	free(bytes);
	if (st.code == RPC_UNAVAILABLE)
		die("cannot reach the daemon at %s (%s)",
		    rm   ? g.rm_addr
		    : hm ? g.hm_addr
		         : g.addr,
		    st.msg);
	if (st.code != RPC_OK)
		die("%s: %s", rpc_code_name(st.code), st.msg);
	const char *why;
	ProtobufCMessage *out = proto_decode(m->out, resp, rlen, NULL, &why);
	free(resp);
	if (!out)
		die("undecodable response: %s", why);
	json_t *j = pjson_encode(out);
	protobuf_c_message_free_unpacked(out, NULL);
	return j;
}

/* v0 APIs answer errors inside the response: print and exit 1. */
static void check_v0(json_t *resp, const char *const *keys)
{
	json_t *e = json_object_get(resp, "error");
	for (size_t i = 0; !e && keys && keys[i]; i++)
		e = json_object_get(resp, keys[i]);
	if (!e)
		return;
	char *s = json_dumps(e, JSON_COMPACT);
	fprintf(stderr, "peloton: error: %s\n", s ? s : "?");
	free(s);
	if (g.json) {
		json_dumpf(resp, stdout, JSON_INDENT(2));
		printf("\n");
	}
	exit(1);
}

static void print(json_t *j)
{
	if (g.json) {
		json_dumpf(j, stdout, JSON_INDENT(2));
		printf("\n");
	} else {
		char err[200];
		fflush(stdout);
		if (yamljson_emit(j, stdout, err, sizeof(err)) != 0)
			die("cannot print the answer as YAML: %s (--json prints it)", err);
	}
}

/* ---- specs ---- */

/* What a spec file holds that upstream's loader let pass, said with file:line. */
struct spec_warn {
	const char *path;
	struct yamljson_lines **lines;
};

static void warn_duplicate(void *arg, unsigned line, const char *key)
{
	const struct spec_warn *w = arg;
	fprintf(stderr,
	        "peloton: warning: %s:%u: key %s given again: the last one counts (--strict "
	        "refuses it)\n",
	        w->path, line, key);
}

static void warn_unknown(void *arg, const char *key, const char *message)
{
	const struct spec_warn *w = arg;
	fprintf(stderr,
	        "peloton: warning: %s:%u: %s is not a field of %s: skipped (--strict refuses "
	        "it)\n",
	        w->path, yamljson_line(*w->lines, key), key, message);
}

static json_t *load_spec(const char *path, const char *type)
{
	char err[512];
	struct yamljson_lines *lines = NULL;
	/* as upstream's loader: stale keys and repeated keys are warned about and
	 * let pass, unless --strict */
	struct spec_warn w = {path, &lines};
	struct yamljson_opts yo = {warn_duplicate, &w};
	json_t *j = yamljson_load_file_opts(path, g.strict ? NULL : &yo, &lines, err, sizeof(err));
	if (!j)
		die("%s", err);
	const ProtobufCMessageDescriptor *d = proto_registry_message(type);
	ProtobufCMessage *m =
	    pjson_decode_skipping(d, j, PJSON_LOOSE_NAMES | (g.strict ? 0 : PJSON_IGNORE_UNKNOWN),
	                          warn_unknown, &w, err, sizeof(err));
	if (!m) {
		/* pjson says "path: problem": map the path to its line */
		char p[256] = "";
		const char *colon = strstr(err, ": ");
		if (colon && (size_t)(colon - err) < sizeof(p))
			snprintf(p, sizeof(p), "%.*s", (int)(colon - err), err);
		fprintf(stderr, "peloton: %s:%u: %s\n", path, yamljson_line(lines, p), err);
		exit(1);
	}
	json_decref(j);
	yamljson_lines_free(lines);
	json_t *canon = pjson_encode(m);
	protobuf_c_message_free_unpacked(m, NULL);
	return canon;
}

/* ---- helpers ---- */

static json_t *idv(const char *v)
{
	return json_pack("{s:s}", "value", v);
}

static char *pool_id(const char *path)
{
	json_t *r = call("peloton.api.respool.ResourceManager", "LookupResourcePoolID",
	                 json_pack("{s:o}", "path", idv(path)));
	json_t *id = json_object_get(json_object_get(r, "id"), "value");
	if (!json_is_string(id)) {
		char *s = json_dumps(r, JSON_COMPACT);
		fprintf(stderr, "peloton: resource pool %s not found: %s\n", path, s ? s : "");
		exit(1);
	}
	char *out = strdup(json_string_value(id));
	json_decref(r);
	return out;
}

/* --range FROM:TO[,FROM:TO...] (also -r) as InstanceRanges; [] for all. */
static json_t *ranges(void)
{
	json_t *a = json_array();
	const char *r = g.range ? g.range : g.short_r;
	while (r && *r) {
		unsigned f, t;
		int used = 0;
		if (sscanf(r, "%u:%u%n", &f, &t, &used) != 2 || f > t ||
		    (r[used] && r[used] != ','))
			bad_usage("--range wants FROM:TO, several separated by commas");
		json_array_append_new(a, json_pack("{s:i,s:i}", "from", (int)f, "to", (int)t));
		r += used + (r[used] == ',');
	}
	return a;
}

/* "a,b,c" as a JSON array of strings (upper-cased when upper: states); NULL
 * for NULL. */
static json_t *csv_array(const char *s, bool upper)
{
	if (!s)
		return NULL;
	json_t *a = json_array();
	while (*s) {
		size_t n = strcspn(s, ",");
		char buf[256];
		if (n == 0 || n >= sizeof(buf))
			bad_usage("a list wants comma-separated items of 1 to 255 characters");
		for (size_t i = 0; i < n; i++)
			buf[i] = upper ? (char)toupper((unsigned char)s[i]) : s[i];
		buf[n] = 0;
		json_array_append_new(a, json_string(buf));
		s += n + (s[n] == ',');
	}
	return a;
}

/* --sort/--sortorder as a PaginationSpec's orderBy (into spec.pagination). */
static void order_by(json_t *pagination)
{
	if (!g.sort && !g.sortorder)
		return;
	const char *order = g.sortorder ? g.sortorder : "ASC";
	if (strcasecmp(order, "ASC") && strcasecmp(order, "DESC"))
		bad_usage("--sortorder wants ASC or DESC");
	json_object_set_new(pagination, "orderBy",
	                    json_pack("[{s:{s:s},s:s}]", "property", "value",
	                              g.sort ? g.sort : "creation_time", "order",
	                              strcasecmp(order, "ASC") ? "DESC" : "ASC"));
}

static const char *need(int argc, char **argv, int i, const char *what)
{
	if (i >= argc)
		bad_usage(what);
	return argv[i];
}

/* ---- commands ---- */

static const char RP[] = "peloton.api.respool.ResourceManager";
static const char JM[] = "peloton.api.job.JobManager";
static const char TM[] = "peloton.api.task.TaskManager";

/* Every PENDING task of the pool's jobs with why it waits. */
static int respool_pending(const char *path)
{
	json_t *spec =
	    json_pack("{s:o,s:{s:i}}", "respool", idv(path), "pagination", "limit", 1000);
	json_t *jobs =
	    call("peloton.api.job.JobManager", "Query", json_pack("{s:o}", "spec", spec));
	check_v0(jobs, NULL);
	json_t *out = json_array();
	size_t i;
	json_t *rec;
	json_array_foreach(json_object_get(jobs, "records"), i, rec)
	{
		const char *jid =
		    json_string_value(json_object_get(json_object_get(rec, "id"), "value"));
		json_t *q =
		    call("peloton.api.task.TaskManager", "Query",
		         json_pack("{s:o,s:{s:[s],s:{s:i}}}", "jobId", idv(jid ? jid : ""), "spec",
		                   "taskStates", "PENDING", "pagination", "limit", 1000));
		size_t k;
		json_t *t;
		json_array_foreach(json_object_get(q, "records"), k, t)
		{
			json_t *rt = json_object_get(t, "runtime");
			json_t *e = json_pack(
			    "{s:s,s:I,s:s,s:s}", "jobId", jid ? jid : "", "instanceId",
			    json_integer_value(json_object_get(t, "instanceId")), "reason",
			    json_string_value(json_object_get(rt, "reason")) ?: "", "message",
			    json_string_value(json_object_get(rt, "message")) ?: "");
			json_array_append_new(out, e);
		}
		json_decref(q);
	}
	json_decref(jobs);
	if (g.json) {
		print(out);
	} else {
		printf("%-38s %8s  %-22s %s\n", "JOB", "INSTANCE", "REASON", "DETAIL");
		json_t *e;
		json_array_foreach(out, i, e) printf(
		    "%-38s %8lld  %-22s %s\n", json_string_value(json_object_get(e, "jobId")),
		    (long long)json_integer_value(json_object_get(e, "instanceId")),
		    json_string_value(json_object_get(e, "reason")),
		    json_string_value(json_object_get(e, "message")));
		if (!json_array_size(out))
			printf("(no pending tasks in %s)\n", path);
	}
	json_decref(out);
	return 0;
}

static int cmd_respool(int argc, char **argv)
{
	const char *sub = need(argc, argv, 0, "respool: which subcommand?");
	if (!strcmp(sub, "create")) {
		const char *path = need(argc, argv, 1, "respool create <path> <spec.yaml>");
		const char *spec = need(argc, argv, 2, "respool create <path> <spec.yaml>");
		json_t *cfg = load_spec(spec, "peloton.api.respool.ResourcePoolConfig");
		const char *slash = strrchr(path, '/');
		if (!slash || !slash[1])
			bad_usage("respool path looks like /parent/name");
		char parent[512];
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
		char *pid = parent[0] ? pool_id(parent) : strdup("root");
		json_object_set_new(cfg, "name", json_string(slash + 1));
		json_object_set_new(cfg, "parent", idv(pid));
		free(pid);
		json_t *r = call(RP, "CreateResourcePool", json_pack("{s:o}", "config", cfg));
		check_v0(r, NULL);
		if (g.json)
			print(r);
		else
			printf("created %s: %s\n", path,
			       json_string_value(
			           json_object_get(json_object_get(r, "result"), "value")));
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "lookup") || !strcmp(sub, "get")) {
		char *id = pool_id(need(argc, argv, 1, "respool lookup <path>"));
		if (!strcmp(sub, "lookup")) {
			printf("%s\n", id);
			free(id);
			return 0;
		}
		json_t *r = call(RP, "GetResourcePool", json_pack("{s:o}", "id", idv(id)));
		free(id);
		check_v0(r, NULL);
		print(r);
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "update")) {
		const char *path = need(argc, argv, 1, "respool update <path> <spec.yaml>");
		json_t *cfg = load_spec(need(argc, argv, 2, "respool update <path> <spec.yaml>"),
		                        "peloton.api.respool.ResourcePoolConfig");
		char *id = pool_id(path);
		/* name and parent stay as they are */
		json_t *cur = call(RP, "GetResourcePool", json_pack("{s:o}", "id", idv(id)));
		check_v0(cur, NULL);
		json_t *ccfg = json_object_get(json_object_get(cur, "poolinfo"), "config");
		if (!ccfg)
			ccfg = json_object_get(json_object_get(cur, "poolInfo"), "config");
		json_object_set(cfg, "name", json_object_get(ccfg, "name"));
		json_object_set(cfg, "parent", json_object_get(ccfg, "parent"));
		json_decref(cur);
		json_t *r = call(RP, "UpdateResourcePool",
		                 json_pack("{s:o,s:o}", "id", idv(id), "config", cfg));
		free(id);
		check_v0(r, NULL);
		if (g.json)
			print(r);
		else
			printf("updated %s\n", path);
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "pending"))
		return respool_pending(need(argc, argv, 1, "respool pending <path>"));
	if (!strcmp(sub, "dump")) {
		json_t *r = call(RP, "Query", json_object());
		check_v0(r, NULL);
		print(r);
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "delete")) {
		json_t *r = call(
		    RP, "DeleteResourcePool",
		    json_pack("{s:o}", "path", idv(need(argc, argv, 1, "respool delete <path>"))));
		check_v0(r, NULL);
		printf("deleted\n");
		json_decref(r);
		return 0;
	}
	bad_usage("respool: unknown subcommand");
}

/* A 64-bit integer field (JSON has it as a string, proto3's mapping). */
static long long int64_of(const json_t *v)
{
	return json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : json_integer_value(v);
}

static void job_status_line(json_t *info)
{
	json_t *rt = json_object_get(info, "runtime");
	json_t *cfg = json_object_get(info, "config");
	json_t *stats = json_object_get(rt, "taskStats");
	printf("%-38s %-10s %-20s %8lld  v%lld  ",
	       json_string_value(json_object_get(json_object_get(info, "id"), "value")),
	       json_string_value(json_object_get(rt, "state")) ?: "UNKNOWN",
	       json_string_value(json_object_get(cfg, "name")) ?: "",
	       (long long)json_integer_value(json_object_get(cfg, "instanceCount")),
	       int64_of(json_object_get(rt, "configVersion")));
	/* every state, zeros included (upstream's status shows them all) */
	const ProtobufCEnumDescriptor *ts = &peloton__api__task__task_state__descriptor;
	for (unsigned i = 0; i < ts->n_values; i++)
		printf("%s=%lld ", ts->values[i].name,
		       (long long)json_integer_value(json_object_get(stats, ts->values[i].name)));
	printf("\n");
}

static int cmd_job(int argc, char **argv)
{
	const char *sub = need(argc, argv, 0, "job: which subcommand?");
	if (!strcmp(sub, "create")) {
		char *pid = pool_id(need(argc, argv, 1, "job create <respool-path> <spec.yaml>"));
		json_t *cfg =
		    load_spec(need(argc, argv, 2, "job create <respool-path> <spec.yaml>"),
		              "peloton.api.job.JobConfig");
		json_object_set_new(cfg, "respoolID", idv(pid));
		free(pid);
		json_t *req = json_pack("{s:o}", "config", cfg);
		if (g.job_id)
			json_object_set_new(req, "id", idv(g.job_id));
		json_t *r = call(JM, "Create", req);
		check_v0(r, NULL);
		if (g.json)
			print(r);
		else
			printf("%s\n", json_string_value(
			                   json_object_get(json_object_get(r, "jobId"), "value")));
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "query")) {
		json_t *spec = json_pack("{s:{s:i,s:i}}", "pagination", "limit", (int)g.limit,
		                         "offset", (int)g.offset);
		if (g.state)
			json_object_set_new(spec, "jobStates", csv_array(g.state, true));
		if (g.keyword)
			json_object_set_new(spec, "keywords", csv_array(g.keyword, false));
		json_t *lv, *labels = csv_array(g.label, false);
		size_t li;
		json_array_foreach(labels, li, lv)
		{
			const char *kv = json_string_value(lv), *eq = strchr(kv, '=');
			if (!eq)
				bad_usage("--labels wants key=value, several separated by commas");
			json_array_set_new(
			    labels, li,
			    json_pack("{s:s#,s:s}", "key", kv, (int)(eq - kv), "value", eq + 1));
		}
		if (labels)
			json_object_set_new(spec, "labels", labels);
		if (g.owner)
			json_object_set_new(spec, "owner", json_string(g.owner));
		if (g.name)
			json_object_set_new(spec, "name", json_string(g.name));
		const char *pool = g.respool ? g.respool : g.short_r;
		if (pool)
			json_object_set_new(spec, "respool", idv(pool));
		order_by(json_object_get(spec, "pagination"));
		json_t *r = call(JM, "Query", json_pack("{s:o}", "spec", spec));
		check_v0(r, NULL);
		if (g.json) {
			print(r);
		} else {
			size_t i;
			json_t *v;
			printf("%-38s %-10s %-20s %8s  %s  %s\n", "ID", "STATE", "NAME", "TASKS",
			       "CONFIG", "BY STATE");
			json_array_foreach(json_object_get(r, "records"), i, v) job_status_line(v);
		}
		json_decref(r);
		return 0;
	}
	const char *id = need(argc, argv, 1, "job <subcommand> <job-id>");
	if (!strcmp(sub, "get") || !strcmp(sub, "status")) {
		json_t *r = call(JM, "Get", json_pack("{s:o}", "id", idv(id)));
		check_v0(r, NULL);
		if (!strcmp(sub, "get") || g.json)
			print(r);
		else
			job_status_line(json_object_get(r, "jobInfo"));
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "stop")) {
		json_t *r = call(TM, "Stop", json_pack("{s:o}", "jobId", idv(id)));
		check_v0(r, NULL);
		if (g.json)
			print(r);
		else
			printf("stopping %zu tasks\n",
			       json_array_size(json_object_get(r, "stoppedInstanceIds")));
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "delete")) {
		json_t *r = call(JM, "Delete", json_pack("{s:o}", "id", idv(id)));
		check_v0(r, NULL);
		printf("deleted %s\n", id);
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "update")) {
		json_t *cfg = load_spec(need(argc, argv, 2, "job update <job-id> <spec.yaml>"),
		                        "peloton.api.job.JobConfig");
		json_t *cur = call(JM, "Get", json_pack("{s:o}", "id", idv(id)));
		check_v0(cur, NULL);
		json_object_set(
		    cfg, "respoolID",
		    json_object_get(json_object_get(json_object_get(cur, "jobInfo"), "config"),
		                    "respoolID"));
		json_decref(cur);
		json_t *r =
		    call(JM, "Update", json_pack("{s:o,s:o}", "id", idv(id), "config", cfg));
		check_v0(r, NULL);
		if (g.json)
			print(r);
		else
			printf("updated %s\n", id);
		json_decref(r);
		return 0;
	}
	bad_usage("job: unknown subcommand");
}

/* s percent-encoded for a URL's query (malloc'd); NULL on ENOMEM. */
static char *curl_escape_copy(const char *s)
{
	char *out = malloc(strlen(s) * 3 + 1), *o = out;
	for (; out && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || strchr("-._~/", ch))
			*o++ = (char)ch;
		else
			o += sprintf(o, "%%%02X", ch);
	}
	if (out)
		*o = '\0';
	return out;
}

/*
 * task logs: the task's stdout (or stderr) through its agent's files API,
 * as BrowseSandbox locates it; --follow keeps reading what is appended.
 */
static int task_logs(const char *job, int inst)
{
	json_t *r = call(TM, "BrowseSandbox",
	                 json_pack("{s:o,s:i}", "jobId", idv(job), "instanceId", inst));
	json_t *e = json_object_get(r, "error");
	if (e && json_object_size(e)) {
		char *s = json_dumps(e, JSON_COMPACT);
		json_decref(r);
		die("no sandbox: %s", s ? s : "");
	}
	const char *host = json_string_value(json_object_get(r, "hostname"));
	const char *port = json_string_value(json_object_get(r, "port"));
	const char *want = g.want_stderr ? "/stderr" : "/stdout", *file = NULL;
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(r, "paths"), i, p)
	{
		const char *s = json_string_value(p);
		size_t n = s ? strlen(s) : 0;
		if (n >= strlen(want) && !strcmp(s + n - strlen(want), want))
			file = s;
	}
	if (!host || !port || !file)
		die("the sandbox lists no %s", want + 1);
	long long off = 0;
	for (;;) {
		char url[1024], err[256], *path = curl_escape_copy(file);
		snprintf(url, sizeof(url),
		         "http://%s:%s/files/read?path=%s&offset=%lld&length=65536", host, port,
		         path ? path : file, off);
		free(path);
		char *out = NULL;
		size_t olen = 0;
		long code = 0;
		if (httpcli_do(url, NULL, (long)g.timeout_ms, 1u << 22, &out, &olen, &code, err,
		               sizeof(err)) != 0 ||
		    code != 200)
			die("the agent at %s:%s: %s (HTTP %ld)", host, port, code ? "refused" : err,
			    code);
		json_t *j = json_loadb(out, olen, 0, NULL);
		free(out);
		const char *data = json_string_value(json_object_get(j, "data"));
		size_t dlen = json_string_length(json_object_get(j, "data"));
		if (data && dlen)
			fwrite(data, 1, dlen, stdout);
		fflush(stdout);
		off += (long long)dlen;
		json_decref(j);
		if (!data)
			die("the agent's answer has no data");
		if (dlen == 65536)
			continue; /* more there */
		if (!g.follow)
			break;
		usleep(500000);
	}
	json_decref(r);
	return 0;
}

/* An RFC 3339 time ("2026-12-04T23:59:59.123Z") as seconds; -1 if none. */
static double rfc3339_s(const char *t)
{
	struct tm tm = {0};
	const char *rest = t && *t ? strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!rest)
		return -1;
	return (double)timegm(&tm) + (*rest == '.' ? strtod(rest, NULL) : 0);
}

/* TaskInfos as upstream's task list shows them: one row each; a task
 * with no name of its own has its job's (job_name). */
static void task_table(json_t *infos, const char *job_name)
{
	printf("%-5s %-20s %-10s %-8s %-24s %9s  %-16s %s\n", "INST", "NAME", "STATE", "HEALTH",
	       "STARTED", "RUN TIME", "HOST", "MESSAGE");
	size_t i;
	json_t *ti;
	json_array_foreach(infos, i, ti)
	{
		json_t *rt = json_object_get(ti, "runtime");
		const char *start = json_string_value(json_object_get(rt, "startTime"));
		const char *end = json_string_value(json_object_get(rt, "completionTime"));
		const char *msg = json_string_value(json_object_get(rt, "message"));
		if (!msg || !*msg)
			msg = json_string_value(json_object_get(rt, "reason"));
		double t0 = rfc3339_s(start),
		       t1 = end && *end ? rfc3339_s(end) : (double)time(NULL);
		char run[32] = "";
		if (t0 >= 0 && t1 >= t0)
			snprintf(run, sizeof(run), "%.0fs", t1 - t0);
		const char *health = json_string_value(json_object_get(rt, "healthy"));
		const char *name =
		    json_string_value(json_object_get(json_object_get(ti, "config"), "name"));
		printf("%-5lld %-20s %-10s %-8s %-24s %9s  %-16s %s\n",
		       (long long)json_integer_value(json_object_get(ti, "instanceId")),
		       name && *name ? name : job_name,
		       json_string_value(json_object_get(rt, "state")) ?: "UNKNOWN",
		       health && strcmp(health, "INVALID") ? health : "-", start ? start : "-", run,
		       json_string_value(json_object_get(rt, "host")) ?: "-", msg ? msg : "");
	}
}

static int cmd_task(int argc, char **argv)
{
	static const char *const task_errs[] = {"notFound", "outOfRange", NULL};
	const char *sub = need(argc, argv, 0, "task: which subcommand?");
	const char *id = need(argc, argv, 1, "task <subcommand> <job-id> ...");
	json_t *r = NULL;
	if (!strcmp(sub, "logs"))
		return task_logs(id, atoi(need(argc, argv, 2, "task logs <job-id> <instance>")));
	if (!strcmp(sub, "get") || !strcmp(sub, "events") || !strcmp(sub, "browse")) {
		int inst = atoi(need(argc, argv, 2, "task <subcommand> <job-id> <instance>"));
		const char *m = !strcmp(sub, "get")      ? "Get"
		                : !strcmp(sub, "events") ? "GetEvents"
		                                         : "BrowseSandbox";
		r = call(TM, m, json_pack("{s:o,s:i}", "jobId", idv(id), "instanceId", inst));
	} else if (!strcmp(sub, "list")) {
		json_t *req = json_pack("{s:o}", "jobId", idv(id));
		json_t *rg = ranges();
		if (json_array_size(rg))
			json_object_set(req, "range", json_array_get(rg, 0));
		json_decref(rg);
		r = call(TM, "List", req);
	} else if (!strcmp(sub, "start") || !strcmp(sub, "stop") || !strcmp(sub, "restart")) {
		r = call(TM,
		         !strcmp(sub, "start")  ? "Start"
		         : !strcmp(sub, "stop") ? "Stop"
		                                : "Restart",
		         json_pack("{s:o,s:o}", "jobId", idv(id), "ranges", ranges()));
	} else if (!strcmp(sub, "query")) {
		json_t *spec = json_pack("{s:{s:i,s:i}}", "pagination", "limit", (int)g.limit,
		                         "offset", (int)g.offset);
		if (g.state)
			json_object_set_new(spec, "taskStates", csv_array(g.state, true));
		if (g.names)
			json_object_set_new(spec, "names", csv_array(g.names, false));
		if (g.hosts)
			json_object_set_new(spec, "hosts", csv_array(g.hosts, false));
		order_by(json_object_get(spec, "pagination"));
		r = call(TM, "Query", json_pack("{s:o,s:o}", "jobId", idv(id), "spec", spec));
	} else {
		bad_usage("task: unknown subcommand");
	}
	check_v0(r, task_errs);
	char *job_name = NULL;
	if (!g.json && (!strcmp(sub, "list") || !strcmp(sub, "query"))) {
		json_t *jr = call(JM, "Get", json_pack("{s:o}", "id", idv(id)));
		const char *n = json_string_value(json_object_get(
		    json_object_get(json_object_get(jr, "jobInfo"), "config"), "name"));
		job_name = strdup(n ? n : "-");
		json_decref(jr);
	}
	if (!g.json && !strcmp(sub, "list")) {
		json_t *infos = json_array(), *e;
		const char *k;
		json_object_foreach(json_object_get(json_object_get(r, "result"), "value"), k, e)
		    json_array_append(infos, e);
		task_table(infos, job_name);
		json_decref(infos);
	} else if (!g.json && !strcmp(sub, "query")) {
		task_table(json_object_get(r, "records"), job_name);
	} else if (!g.json && json_object_size(r) == 0) {
		printf("ok\n"); /* Restart answers an empty message */
	} else {
		print(r);
	}
	free(job_name);
	json_decref(r);
	return 0;
}

/*
 * Hosts with offers and what they offer. The API has no read-only listing:
 * this acquires up to --limit hosts with an empty filter and releases them
 * at once (they are out of placement's reach for that moment).
 */
static int host_offers(void)
{
	static const char HS[] = "peloton.private.hostmgr.hostsvc.InternalHostService";
	json_t *r =
	    call(HS, "AcquireHostOffers",
	         json_pack("{s:{s:{s:i}}}", "filter", "quantity", "maxHosts", (int)g.limit));
	json_t *offers = json_object_get(r, "hostOffers");
	json_t *rel = call(HS, "ReleaseHostOffers",
	                   json_pack("{s:O}", "hostOffers", offers ? offers : json_array()));
	json_decref(rel);
	if (g.json) {
		print(r);
	} else {
		size_t i;
		json_t *o;
		printf("%-24s %10s %12s %12s %6s\n", "HOST", "CPUS", "MEM_MB", "DISK_MB", "GPUS");
		json_array_foreach(offers, i, o)
		{
			double res[4] = {0};
			static const char *const names[4] = {"cpus", "mem", "disk", "gpus"};
			size_t k;
			json_t *x;
			json_array_foreach(
			    json_object_get(o, "resources"), k,
			    x) for (int n = 0; n < 4;
			            n++) if (!strcmp(json_string_value(json_object_get(x, "name"))
			                                 ?: "",
			                             names[n])) res[n] +=
			    json_number_value(
			        json_object_get(json_object_get(x, "scalar"), "value"));
			printf("%-24s %10.1f %12.0f %12.0f %6.0f\n",
			       json_string_value(json_object_get(o, "hostname")) ?: "", res[0],
			       res[1], res[2], res[3]);
		}
	}
	json_decref(r);
	return 0;
}

static int cmd_host(int argc, char **argv)
{
	const char *sub = need(argc, argv, 0, "host: which subcommand?");
	if (!strcmp(sub, "offers"))
		return host_offers();
	if (strcmp(sub, "capacity") != 0)
		bad_usage("host: capacity or offers");
	json_t *r = call("peloton.private.hostmgr.hostsvc.InternalHostService", "ClusterCapacity",
	                 json_object());
	print(r);
	json_decref(r);
	return 0;
}

#define US "peloton.api.update.svc.UpdateService"

/* One line of an update's progress: id, state, done/total. The state name. */
static const char *update_line(json_t *info)
{
	json_t *st = json_object_get(info, "status");
	long long done = json_integer_value(json_object_get(st, "numTasksDone"));
	long long left = json_integer_value(json_object_get(st, "numTasksRemaining"));
	const char *state = json_string_value(json_object_get(st, "state"));
	if (!state)
		state = "ROLLING_FORWARD"; /* the zero value is left out */
	printf("%s %s job=%s %lld/%lld instances done\n",
	       json_string_value(json_object_get(json_object_get(info, "updateId"), "value")),
	       state, json_string_value(json_object_get(json_object_get(info, "jobId"), "value")),
	       done, done + left);
	fflush(stdout);
	return state;
}

/* Polls the update every second until it ends (a line per change); exit
 * status 0 when it SUCCEEDED, 1 otherwise. */
static int update_watch(const char *id)
{
	char last[256] = "";
	for (;;) {
		json_t *r = call(US, "GetUpdate", json_pack("{s:{s:s}}", "updateId", "value", id));
		json_t *info = json_object_get(r, "result");
		char *now =
		    json_dumps(json_object_get(info, "status"), JSON_COMPACT | JSON_SORT_KEYS);
		bool changed = now && strcmp(now, last) != 0;
		if (now)
			snprintf(last, sizeof(last), "%s", now);
		free(now);
		const char *state = changed ? update_line(info)
		                            : json_string_value(json_object_get(
		                                  json_object_get(info, "status"), "state"));
		bool over = state && strcmp(state, "ROLLING_FORWARD") &&
		            strcmp(state, "ROLLING_BACK") && strcmp(state, "PAUSED");
		int rc = state && !strcmp(state, "SUCCEEDED") ? 0 : 1;
		json_decref(r);
		if (over)
			return rc;
		sleep(1);
	}
}

/*
 * update create <job-id> <spec.yaml> [options]: the job's new config with
 * the update's options; prints the update id (or, with --watch, its
 * progress until it ends). update get|pause|resume|rollback|abort <id>,
 * update list: the other UpdateService calls.
 */
static int cmd_update(int argc, char **argv)
{
	const char *sub = need(argc, argv, 0, "update: which subcommand?");
	if (!strcmp(sub, "create")) {
		const char *job = need(argc, argv, 1, "update create <job-id> <spec.yaml>");
		json_t *cfg = load_spec(need(argc, argv, 2, "update create <job-id> <spec.yaml>"),
		                        "peloton.api.job.JobConfig");
		json_t *uc = json_object();
		if (g.batch_size >= 0)
			json_object_set_new(uc, "batchSize", json_integer(g.batch_size));
		if (g.batch_pct >= 0)
			json_object_set_new(uc, "batchPercentage", json_real(g.batch_pct));
		if (g.stop_first)
			json_object_set_new(uc, "stopBeforeUpdate", json_true());
		if (g.start_paused)
			json_object_set_new(uc, "startPaused", json_true());
		json_t *r = call(US, "CreateUpdate",
		                 json_pack("{s:o,s:o,s:o}", "jobId", idv(job), "jobConfig", cfg,
		                           "updateConfig", uc));
		const char *id =
		    json_string_value(json_object_get(json_object_get(r, "result"), "value"));
		if (!id)
			die("CreateUpdate answered no update id");
		if (g.json)
			print(r);
		else
			printf("%s\n", id);
		fflush(stdout);
		int rc = g.watch ? update_watch(id) : 0;
		json_decref(r);
		return rc;
	}
	if (!strcmp(sub, "list")) {
		json_t *r = call(US, "ListUpdates", json_pack("{s:i}", "limit", (int)g.limit));
		size_t i;
		json_t *v;
		if (g.json)
			print(r);
		else
			json_array_foreach(json_object_get(r, "updateInfo"), i, v) update_line(v);
		json_decref(r);
		return 0;
	}
	static const struct {
		const char *sub, *method;
	} ops[] = {{"get", "GetUpdate"},
	           {"pause", "PauseUpdate"},
	           {"resume", "ResumeUpdate"},
	           {"rollback", "RollbackUpdate"},
	           {"abort", "AbortUpdate"}};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(sub, ops[i].sub))
			continue;
		const char *id = need(argc, argv, 1, "update <subcommand> <update-id>");
		json_t *r =
		    call(US, ops[i].method, json_pack("{s:{s:s}}", "updateId", "value", id));
		if (g.json || !strcmp(sub, "get"))
			print(r);
		else
			printf("%s: %s\n", ops[i].sub, id);
		json_decref(r);
		return g.watch ? update_watch(id) : 0;
	}
	bad_usage("update: unknown subcommand");
}

/* volume list|get|delete: the VolumeService calls, with the id given. */
static int cmd_passthrough(const char *cmd, int argc, char **argv)
{
	static const struct {
		const char *cmd, *sub, *svc, *method, *id_field;
	} map[] = {
	    {"volume", "list", "peloton.api.volume.svc.VolumeService", "ListVolumes", "jobId"},
	    {"volume", "get", "peloton.api.volume.svc.VolumeService", "GetVolume", "id"},
	    {"volume", "delete", "peloton.api.volume.svc.VolumeService", "DeleteVolume", "id"},
	};
	const char *sub = need(argc, argv, 0, "which subcommand?");
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].cmd, cmd) || strcmp(map[i].sub, sub))
			continue;
		json_t *req = json_object();
		if (argc > 1 && map[i].id_field)
			json_object_set_new(req, map[i].id_field, idv(argv[1]));
		json_t *r = call(map[i].svc, map[i].method, req);
		print(r);
		json_decref(r);
		return 0;
	}
	bad_usage("unknown subcommand");
}

/*
 * placement explain <spec.yaml> [--count N]: where N tasks of the job's
 * default config would go now and why not, from the daemon's read-only
 * POST /placement/explain (on its HTTP port: --http, env PELOTON_HTTP).
 */
static int cmd_placement(int argc, char **argv)
{
	const char *sub = need(argc, argv, 0, "placement explain <spec.yaml> [--count N]");
	if (strcmp(sub, "explain") != 0)
		bad_usage("placement: only 'explain'");
	json_t *cfg = load_spec(need(argc, argv, 1, "placement explain <spec.yaml>"),
	                        "peloton.api.job.JobConfig");
	json_t *dc = json_object_get(cfg, "defaultConfig");
	json_t *task = json_object();
	if (json_object_get(dc, "resource"))
		json_object_set(task, "resource", json_object_get(dc, "resource"));
	if (json_object_get(dc, "constraint"))
		json_object_set(task, "constraint", json_object_get(dc, "constraint"));
	int dyn = 0;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(dc, "ports"), i, v) dyn +=
	    json_integer_value(json_object_get(v, "value")) == 0;
	json_object_set_new(task, "numPorts", json_integer(dyn));
	json_t *labels = json_array();
	json_array_foreach(json_object_get(dc, "labels"), i, v) json_array_append(labels, v);
	json_array_foreach(json_object_get(cfg, "labels"), i, v) json_array_append(labels, v);
	json_object_set_new(task, "labels", json_pack("{s:o}", "labels", labels));
	json_decref(cfg);
	json_t *req = json_pack("{s:o,s:i}", "task", task, "count", (int)(g.count ? g.count : 1));
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	char url[256], err[256];
	snprintf(url, sizeof(url), "http://%s/placement/explain", g.http);
	char *out = NULL;
	size_t out_len = 0;
	long code = 0;
	int rc = httpcli_do(url, body, (long)g.timeout_ms, 64u << 20, &out, &out_len, &code, err,
	                    sizeof(err));
	free(body);
	if (rc != 0)
		die("cannot reach the daemon's HTTP port at %s (%s)", g.http, err);
	json_t *r = json_loadb(out, out_len, 0, NULL);
	free(out);
	if (!r || code != 200)
		die("explain failed (HTTP %ld): %s", code,
		    r ? json_string_value(json_object_get(r, "error")) ?: "?" : "not JSON");
	if (g.json) {
		print(r);
	} else {
		printf("%lld of %lld tasks would be placed now (%s); %s\n",
		       (long long)json_integer_value(json_object_get(r, "placed")),
		       (long long)json_integer_value(json_object_get(r, "requested")),
		       json_string_value(json_object_get(r, "strategy")),
		       json_string_value(json_object_get(r, "hosts")));
		json_array_foreach(json_object_get(r, "slots"), i, v)
		{
			if (i == 20) {
				printf("  ... (%zu more)\n",
				       json_array_size(json_object_get(r, "slots")) - 20);
				break;
			}
			printf("  %s\n", json_string_value(json_object_get(v, "hostname")));
		}
	}
	json_decref(r);
	return 0;
}

enum {
	O_JOBMGR = 256,
	O_TIMEOUT,
	O_JSON,
	O_JOBID,
	O_STATE,
	O_LABEL,
	O_KEYWORD,
	O_RESPOOL,
	O_LIMIT,
	O_OFFSET,
	O_RANGE,
	O_HTTP,
	O_COUNT,
	O_RESMGR,
	O_BATCH,
	O_BATCH_PCT,
	O_STOP_FIRST,
	O_START_PAUSED,
	O_WATCH,
	O_STRICT,
	O_HOSTMGR,
	O_STDERR,
	O_FOLLOW,
	O_NAMES,
	O_HOSTS,
	O_SORT,
	O_SORTORDER,
	O_FILENAME,
	O_SHORT_R,
	O_OWNER,
	O_NAME
};

static const struct option opts[] = {
    {"jobmgr", required_argument, NULL, O_JOBMGR},
    {"resmgr", required_argument, NULL, O_RESMGR},
    {"hostmgr", required_argument, NULL, O_HOSTMGR},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"json", no_argument, NULL, O_JSON},
    {"strict", no_argument, NULL, O_STRICT},
    {"job-id", required_argument, NULL, O_JOBID},
    {"jobID", required_argument, NULL, O_JOBID},
    {"state", required_argument, NULL, O_STATE},
    {"states", required_argument, NULL, O_STATE},
    {"label", required_argument, NULL, O_LABEL},
    {"labels", required_argument, NULL, O_LABEL},
    {"keyword", required_argument, NULL, O_KEYWORD},
    {"keywords", required_argument, NULL, O_KEYWORD},
    {"names", required_argument, NULL, O_NAMES},
    {"hosts", required_argument, NULL, O_HOSTS},
    {"sort", required_argument, NULL, O_SORT},
    {"sortorder", required_argument, NULL, O_SORTORDER},
    {"filename", required_argument, NULL, O_FILENAME},
    {"owner", required_argument, NULL, O_OWNER},
    {"name", required_argument, NULL, O_NAME},
    {"respool", required_argument, NULL, O_RESPOOL},
    {"limit", required_argument, NULL, O_LIMIT},
    {"offset", required_argument, NULL, O_OFFSET},
    {"range", required_argument, NULL, O_RANGE},
    {"http", required_argument, NULL, O_HTTP},
    {"count", required_argument, NULL, O_COUNT},
    {"batch-size", required_argument, NULL, O_BATCH},
    {"batch-percentage", required_argument, NULL, O_BATCH_PCT},
    {"stop-before-update", no_argument, NULL, O_STOP_FIRST},
    {"start-paused", no_argument, NULL, O_START_PAUSED},
    {"watch", no_argument, NULL, O_WATCH},
    {"stderr", no_argument, NULL, O_STDERR},
    {"follow", no_argument, NULL, O_FOLLOW},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* "500ms", "20s", "2m", "1h" or a bare number of milliseconds; 0 when
 * unreadable or 0 (at most 24 h). */
static unsigned duration_ms(const char *s)
{
	char *end = NULL;
	double v = strtod(s, &end);
	double unit = !end || !*end        ? 1
	              : !strcmp(end, "ms") ? 1
	              : !strcmp(end, "s")  ? 1000
	              : !strcmp(end, "m")  ? 60000
	              : !strcmp(end, "h")  ? 3600000
	                                   : -1;
	if (end == s || unit < 0 || !(v > 0) || v * unit > 86400000.0)
		return 0;
	return (unsigned)(v * unit + 0.5);
}

/* An option before the command: -1 to go on, or an exit status. */
static int global_opt(int c, const char *arg)
{
	switch (c) {
	case O_JOBMGR:
		g.addr = arg;
		return -1;
	case O_RESMGR:
		g.rm_addr = arg;
		return -1;
	case O_HOSTMGR:
		g.hm_addr = arg;
		return -1;
	case O_TIMEOUT:
		if ((g.timeout_ms = duration_ms(arg)) == 0)
			bad_usage(
			    "--timeout wants a duration > 0: 500ms, 20s, 2m (a bare number is "
			    "milliseconds)");
		return -1;
	case O_JSON:
		g.json = true;
		return -1;
	case O_STRICT:
		g.strict = true;
		return -1;
	case O_HTTP:
		g.http = arg;
		return -1;
	case 'V':
		printf("peloton %s\n", pel_version());
		return 0;
	case 'h':
		usage(stdout);
		return 0;
	default:
		usage(stderr);
		return 2;
	}
}

/* An option after the command (the command's own, or a global one): -1 or 2. */
static int command_opt(int c, const char *arg)
{
	switch (c) {
	case O_JOBID:
		g.job_id = arg;
		return -1;
	case O_STATE:
		g.state = arg;
		return -1;
	case O_LABEL:
		g.label = arg;
		return -1;
	case O_KEYWORD:
		g.keyword = arg;
		return -1;
	case O_RESPOOL:
		g.respool = arg;
		return -1;
	case O_LIMIT:
		g.limit = (unsigned)strtoul(arg, NULL, 10);
		return -1;
	case O_OFFSET:
		g.offset = (unsigned)strtoul(arg, NULL, 10);
		return -1;
	case O_RANGE:
		g.range = arg;
		return -1;
	case O_COUNT:
		g.count = (unsigned)strtoul(arg, NULL, 10);
		if (!g.count || g.count > 100000)
			bad_usage("--count wants 1..100000");
		return -1;
	case O_BATCH: {
		char *end;
		long v = strtol(arg, &end, 10);
		if (*end || v < 0 || v > 1000000000)
			bad_usage("--batch-size wants a count >= 0 (0: every instance at once)");
		g.batch_size = (int)v;
		return -1;
	}
	case O_BATCH_PCT: {
		char *end;
		g.batch_pct = strtod(arg, &end);
		if (*end || !(g.batch_pct > 0 && g.batch_pct <= 100))
			bad_usage("--batch-percentage wants a number in (0, 100]");
		return -1;
	}
	case O_STOP_FIRST:
		g.stop_first = true;
		return -1;
	case O_START_PAUSED:
		g.start_paused = true;
		return -1;
	case O_WATCH:
		g.watch = true;
		return -1;
	case O_STDERR:
		g.want_stderr = true;
		return -1;
	case O_FOLLOW:
		g.follow = true;
		return -1;
	case O_NAMES:
		g.names = arg;
		return -1;
	case O_HOSTS:
		g.hosts = arg;
		return -1;
	case O_SORT:
		g.sort = arg;
		return -1;
	case O_SORTORDER:
		g.sortorder = arg;
		return -1;
	case O_FILENAME:
		if (strcmp(arg, "stdout") && strcmp(arg, "stderr"))
			bad_usage("--filename wants stdout or stderr");
		g.want_stderr = !strcmp(arg, "stderr");
		return -1;
	case O_SHORT_R:
		g.short_r = arg;
		return -1;
	case O_OWNER:
		g.owner = arg;
		return -1;
	case O_NAME:
		g.name = arg;
		return -1;
	case 'V':
	case 'h':
		usage(stderr);
		return 2;
	default:
		return global_opt(c, arg);
	}
}

/*
 * Upstream's one-letter flags as the long options they stand for: global
 * ones (-j -m -v -u -t) and the commands' (-i -s -l -k -n -o -p -a -f, and
 * -r: the pool for job query, the instance range elsewhere).
 */
static const char SHORT_GLOBAL[] = "+Vhjm:v:u:t:";
static const char SHORT_ALL[] = "+jm:v:u:t:i:s:l:k:r:n:o:p:a:f:";

static int long_of(int c)
{
	static const struct {
		char c;
		int o;
	} map[] = {{'j', O_JSON},    {'m', O_JOBMGR},    {'v', O_RESMGR},  {'u', O_HOSTMGR},
	           {'t', O_TIMEOUT}, {'i', O_JOBID},     {'s', O_STATE},   {'l', O_LABEL},
	           {'k', O_KEYWORD}, {'r', O_SHORT_R},   {'n', O_LIMIT},   {'o', O_OFFSET},
	           {'p', O_SORT},    {'a', O_SORTORDER}, {'f', O_FILENAME}};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].c == c)
			return map[i].o;
	return c;
}

/* Runs command cmd with its words (sub); its exit status. */
static int run(const char *cmd, int sub_argc, char **sub)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
	    {"respool", cmd_respool},     {"job", cmd_job},
	    {"task", cmd_task},           {"host", cmd_host},
	    {"placement", cmd_placement}, {"update", cmd_update},
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmd, cmds[i].name))
			return cmds[i].fn(sub_argc, sub);
	if (!strcmp(cmd, "volume"))
		return cmd_passthrough(cmd, sub_argc, sub);
	bad_usage("unknown command");
	return 2;
}

int main(int argc, char **argv)
{
	g.addr = getenv("JOBMGR_URL");
	if (!g.addr)
		g.addr = "127.0.0.1:5392";
	g.rm_addr = getenv("RESMGR_URL");
	g.hm_addr = getenv("HOSTMGR_URL");
	g.http = getenv("PELOTON_HTTP");
	if (!g.http)
		g.http = "127.0.0.1:5292";
	int c, rc;
	while ((c = getopt_long(argc, argv, SHORT_GLOBAL, opts, NULL)) != -1)
		if ((rc = global_opt(long_of(c), optarg)) >= 0)
			return rc;
	if (optind >= argc)
		bad_usage("which command?");
	const char *cmd = argv[optind];
	/* the command's words, and options after it (--state, --range, ...) */
	int sub_argc = 0;
	char **sub = calloc((size_t)argc, sizeof(char *));
	if (!sub)
		die("out of memory");
	optind++;
	while (optind < argc) {
		if ((c = getopt_long(argc, argv, SHORT_ALL, opts, NULL)) == -1)
			sub[sub_argc++] = argv[optind++];
		else if ((rc = command_opt(long_of(c), optarg)) >= 0)
			return rc;
	}
	tab = rpc_table_create();
	cli = tab ? grpccli_create(g.addr) : NULL;
	if (!cli || (g.rm_addr && !(rm_cli = grpccli_create(g.rm_addr))) ||
	    (g.hm_addr && !(hm_cli = grpccli_create(g.hm_addr))))
		die("out of memory");
	rc = run(cmd, sub_argc, sub);
	free(sub);
	grpccli_destroy(cli);
	grpccli_destroy(rm_cli);
	grpccli_destroy(hm_cli);
	rpc_table_destroy(tab);
	return rc;
}
