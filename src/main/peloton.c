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
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpccli.h"
#include "pjson.h"
#include "proto_codec.h"
#include "proto_registry.h"
#include "rpc.h"
#include "version.h"
#include "yamljson.h"

static struct {
	const char *addr;
	unsigned timeout_ms;
	bool json;
	const char *job_id, *state, *label, *keyword, *respool, *range;
	unsigned limit, offset;
} g = {.timeout_ms = 10000, .limit = 100};

static struct rpc_table *tab;
static struct grpccli *cli;

static void usage(FILE *out)
{
	fprintf(out, "usage: peloton [global options] <command> [args]\n\n"
	             "commands:\n"
	             "  respool create <path> <spec.yaml>   create a pool (parent must exist)\n"
	             "  respool lookup|get|delete <path>\n"
	             "  respool dump                        every pool\n"
	             "  job create <respool-path> <spec.yaml> [--job-id ID]\n"
	             "  job get|status|stop|delete <job-id>\n"
	             "  job query [--state S] [--label k=v] [--keyword W] [--respool PATH]\n"
	             "            [--limit N] [--offset N]\n"
	             "  task get|events|browse <job-id> <instance>\n"
	             "  task list|start|stop <job-id> [--range FROM:TO]\n"
	             "  task query <job-id> [--state S] [--limit N] [--offset N]\n"
	             "  host capacity\n"
	             "  update|volume ...                   (not served yet: UNIMPLEMENTED)\n\n"
	             "global options:\n"
	             "  --jobmgr, --resmgr, --hostmgr ADDR  daemon gRPC address host:port\n"
	             "                                      (env JOBMGR_URL etc.; default "
	             "127.0.0.1:5392)\n"
	             "  --timeout MS                        per call (default 10000)\n"
	             "  --json                              print responses as JSON\n"
	             "  -V, --version, -h, --help\n");
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
	grpccli_call(cli, path, bytes, len, g.timeout_ms, &resp, &rlen, &st);
	free(bytes);
	if (st.code == RPC_UNAVAILABLE)
		die("cannot reach the daemon at %s (%s)", g.addr, st.msg);
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

static void yaml_print(json_t *j, int ind, bool in_list)
{
	const char *k;
	json_t *v;
	size_t i;
	if (json_is_object(j)) {
		bool first = true;
		json_object_foreach(j, k, v)
		{
			int pad = (in_list && first) ? 0 : ind;
			first = false;
			printf("%*s%s:", pad, "", k);
			if (json_is_object(v) || json_is_array(v)) {
				if (json_is_object(v) && json_object_size(v) == 0)
					printf(" {}\n");
				else if (json_is_array(v) && json_array_size(v) == 0)
					printf(" []\n");
				else {
					printf("\n");
					yaml_print(v, ind + 2, false);
				}
			} else {
				printf(" ");
				yaml_print(v, 0, false);
			}
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			printf("%*s- ", ind, "");
			if (json_is_object(v))
				yaml_print(v, ind + 2, true);
			else
				yaml_print(v, 0, false);
		}
	} else if (json_is_string(j)) {
		printf("%s\n", json_string_value(j));
	} else {
		char *s = json_dumps(j, JSON_ENCODE_ANY);
		printf("%s\n", s ? s : "");
		free(s);
	}
}

static void print(json_t *j)
{
	if (g.json) {
		json_dumpf(j, stdout, JSON_INDENT(2));
		printf("\n");
	} else {
		yaml_print(j, 0, false);
	}
}

/* ---- specs ---- */

static json_t *load_spec(const char *path, const char *type)
{
	char err[512];
	struct yamljson_lines *lines = NULL;
	json_t *j = yamljson_load_file(path, &lines, err, sizeof(err));
	if (!j)
		die("%s", err);
	const ProtobufCMessageDescriptor *d = proto_registry_message(type);
	ProtobufCMessage *m = pjson_decode(d, j, PJSON_LOOSE_NAMES, err, sizeof(err));
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

static json_t *ranges(void)
{
	json_t *a = json_array();
	if (g.range) {
		unsigned f, t;
		if (sscanf(g.range, "%u:%u", &f, &t) != 2 || f > t)
			bad_usage("--range wants FROM:TO");
		json_array_append_new(a, json_pack("{s:i,s:i}", "from", (int)f, "to", (int)t));
	}
	return a;
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

static void job_status_line(json_t *info)
{
	json_t *rt = json_object_get(info, "runtime");
	json_t *cfg = json_object_get(info, "config");
	json_t *stats = json_object_get(rt, "taskStats");
	printf("%-38s %-10s %-20s %8lld  ",
	       json_string_value(json_object_get(json_object_get(info, "id"), "value")),
	       json_string_value(json_object_get(rt, "state")) ?: "UNKNOWN",
	       json_string_value(json_object_get(cfg, "name")) ?: "",
	       (long long)json_integer_value(json_object_get(cfg, "instanceCount")));
	const char *k;
	json_t *v;
	json_object_foreach(stats, k, v) printf("%s=%lld ", k, (long long)json_integer_value(v));
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
			json_object_set_new(spec, "jobStates", json_pack("[s]", g.state));
		if (g.keyword)
			json_object_set_new(spec, "keywords", json_pack("[s]", g.keyword));
		if (g.label) {
			const char *eq = strchr(g.label, '=');
			if (!eq)
				bad_usage("--label wants key=value");
			char key[256];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - g.label), g.label);
			json_object_set_new(spec, "labels",
			                    json_pack("[{s:s,s:s}]", "key", key, "value", eq + 1));
		}
		if (g.respool)
			json_object_set_new(spec, "respool", idv(g.respool));
		json_t *r = call(JM, "Query", json_pack("{s:o}", "spec", spec));
		check_v0(r, NULL);
		if (g.json) {
			print(r);
		} else {
			size_t i;
			json_t *v;
			printf("%-38s %-10s %-20s %8s  %s\n", "ID", "STATE", "NAME", "TASKS",
			       "BY STATE");
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
	if (!strcmp(sub, "update"))
		die("job update: not implemented in this CLI yet");
	bad_usage("job: unknown subcommand");
}

static int cmd_task(int argc, char **argv)
{
	static const char *const task_errs[] = {"notFound", "outOfRange", NULL};
	const char *sub = need(argc, argv, 0, "task: which subcommand?");
	const char *id = need(argc, argv, 1, "task <subcommand> <job-id> ...");
	json_t *r = NULL;
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
	} else if (!strcmp(sub, "start") || !strcmp(sub, "stop")) {
		r = call(TM, !strcmp(sub, "start") ? "Start" : "Stop",
		         json_pack("{s:o,s:o}", "jobId", idv(id), "ranges", ranges()));
	} else if (!strcmp(sub, "query")) {
		json_t *spec = json_pack("{s:{s:i,s:i}}", "pagination", "limit", (int)g.limit,
		                         "offset", (int)g.offset);
		if (g.state)
			json_object_set_new(spec, "taskStates", json_pack("[s]", g.state));
		r = call(TM, "Query", json_pack("{s:o,s:o}", "jobId", idv(id), "spec", spec));
	} else {
		bad_usage("task: unknown subcommand");
	}
	check_v0(r, task_errs);
	print(r);
	json_decref(r);
	return 0;
}

static int cmd_host(int argc, char **argv)
{
	const char *sub = need(argc, argv, 0, "host: which subcommand?");
	if (strcmp(sub, "capacity") != 0)
		bad_usage("host: only 'capacity' today");
	json_t *r = call("peloton.private.hostmgr.hostsvc.InternalHostService", "ClusterCapacity",
	                 json_object());
	print(r);
	json_decref(r);
	return 0;
}

int main(int argc, char **argv)
{
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
		O_RANGE
	};
	static const struct option opts[] = {
	    {"jobmgr", required_argument, NULL, O_JOBMGR},
	    {"resmgr", required_argument, NULL, O_JOBMGR},
	    {"hostmgr", required_argument, NULL, O_JOBMGR},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"json", no_argument, NULL, O_JSON},
	    {"job-id", required_argument, NULL, O_JOBID},
	    {"state", required_argument, NULL, O_STATE},
	    {"label", required_argument, NULL, O_LABEL},
	    {"keyword", required_argument, NULL, O_KEYWORD},
	    {"respool", required_argument, NULL, O_RESPOOL},
	    {"limit", required_argument, NULL, O_LIMIT},
	    {"offset", required_argument, NULL, O_OFFSET},
	    {"range", required_argument, NULL, O_RANGE},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	g.addr = getenv("JOBMGR_URL");
	if (!g.addr)
		g.addr = "127.0.0.1:5392";
	int c;
	while ((c = getopt_long(argc, argv, "+Vh", opts, NULL)) != -1) {
		switch (c) {
		case O_JOBMGR:
			g.addr = optarg;
			break;
		case O_TIMEOUT:
			g.timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			if (!g.timeout_ms)
				bad_usage("--timeout wants milliseconds > 0");
			break;
		case O_JSON:
			g.json = true;
			break;
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
	if (optind >= argc)
		bad_usage("which command?");
	const char *cmd = argv[optind];
	/* options after the command (--state, --range, ...) */
	int sub_argc = 0;
	char **sub = calloc((size_t)argc, sizeof(char *));
	optind++;
	while (optind < argc) {
		int save = optind;
		c = getopt_long(argc, argv, "+", opts, NULL);
		if (c == -1) {
			sub[sub_argc++] = argv[optind++];
			continue;
		}
		switch (c) {
		case O_JSON:
			g.json = true;
			break;
		case O_JOBID:
			g.job_id = optarg;
			break;
		case O_STATE:
			g.state = optarg;
			break;
		case O_LABEL:
			g.label = optarg;
			break;
		case O_KEYWORD:
			g.keyword = optarg;
			break;
		case O_RESPOOL:
			g.respool = optarg;
			break;
		case O_LIMIT:
			g.limit = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case O_OFFSET:
			g.offset = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case O_RANGE:
			g.range = optarg;
			break;
		case O_JOBMGR:
			g.addr = optarg;
			break;
		case O_TIMEOUT:
			g.timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			(void)save;
			usage(stderr);
			return 2;
		}
	}
	tab = rpc_table_create();
	cli = tab ? grpccli_create(g.addr) : NULL;
	if (!cli)
		die("out of memory");
	int rc;
	if (!strcmp(cmd, "respool"))
		rc = cmd_respool(sub_argc, sub);
	else if (!strcmp(cmd, "job"))
		rc = cmd_job(sub_argc, sub);
	else if (!strcmp(cmd, "task"))
		rc = cmd_task(sub_argc, sub);
	else if (!strcmp(cmd, "host"))
		rc = cmd_host(sub_argc, sub);
	else if (!strcmp(cmd, "update") || !strcmp(cmd, "volume"))
		die("UNIMPLEMENTED: %s commands are not served by this version", cmd);
	else
		bad_usage("unknown command");
	free(sub);
	grpccli_destroy(cli);
	rpc_table_destroy(tab);
	return rc;
}
