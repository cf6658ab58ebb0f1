/*
 * mesos-sim: a simulated Mesos master speaking the v1 scheduler HTTP API
 * on 127.0.0.1 (src/mesos/sim.h for what it simulates). Runs until
 * SIGINT/SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sim_http.h"
#include "version.h"
#include "yamljson.h"

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: mesos-sim [options]\n"
	    "\n"
	    "A simulated Mesos master on 127.0.0.1: POST /api/v1/scheduler and the operator\n"
	    "API POST /api/v1 (protobuf or JSON), GET /health, agents' GET /files/browse, and\n"
	    "for tests POST /sim/fault?action=... and GET /sim/stats.\n"
	    "\n"
	    "options:\n"
	    "  -p, --port N              port (default 5050; 0 = any free port, printed)\n"
	    "  -a, --agents N            simulated agents (default 10)\n"
	    "      --agents-file FILE    agent profiles from YAML (replaces --agents, --cpus,\n"
	    "                            --mem-mb, --gpus, --racks; see example/agents.yaml)\n"
	    "      --cpus X              cpus per agent (default 32)\n"
	    "      --mem-mb X            memory per agent in MB (default 131072)\n"
	    "      --gpus X              GPUs per agent (default 0)\n"
	    "      --racks N             agents spread over N racks (attribute rack; default 10)\n"
	    "      --task-secs X         how long a task runs (default 1)\n"
	    "      --task-dist D         uniform (0.5x..1.5x), exp (mean X) or fixed\n"
	    "      --fail-rate X         share of tasks that end FAILED, 0..1 (default 0)\n"
	    "      --duplicate-rate X    share of status updates sent twice, 0..1 (default 0)\n"
	    "      --heartbeat-secs X    heartbeat interval (default 15)\n"
	    "      --retry-secs X        first resend of an unacknowledged update (default 10)\n"
	    "      --no-starting         RUNNING without TASK_STARTING first (a Mesos agent's\n"
	    "                            command executor sends STARTING; this does not)\n"
	    "      --redirect-to H:P     act as a standby master: 307 to H:P\n"
	    "      --unavailable-secs X  answer 503 for the first X seconds (no leader yet)\n"
	    "      --ports-file FILE     once listening, write {\"http\":PORT} there (with --port "
	    "0)\n"
	    "      --launch-log FILE     append each launched task id (a witness)\n"
	    "      --exec DIR            run each task's command as an agent would: sh -c in\n"
	    "                            DIR/<agent id>/<task id> (stdout, stderr there, the\n"
	    "                            TaskInfo's environment); the task ends with it, its\n"
	    "                            exit status deciding FINISHED or FAILED; a kill is\n"
	    "                            SIGTERM, then SIGKILL after 3 s; files served by\n"
	    "                            /files/browse and /files/read. For tests and small\n"
	    "                            clusters: every task is a process\n"
	    "      --authenticate-http-frameworks\n"
	    "                            as the master's flag: scheduler calls must carry HTTP\n"
	    "                            basic credentials of a principal in --credentials\n"
	    "                            (else 401), and a framework's principal must be the\n"
	    "                            authenticated one\n"
	    "      --credentials FILE    the principals and secrets, in Mesos's JSON:\n"
	    "                            {\"credentials\": [{\"principal\": P, \"secret\": S}]}\n"
	    "      --mesos-version V     the Mesos version the master reports (MasterInfo,\n"
	    "                            GET_VERSION; default 1.11.0)\n"
	    "      --outcome-log FILE    append \"<task id> TASK_FINISHED|TASK_FAILED\" as each\n"
	    "                            task runs to its end (a witness)\n"
	    "                            (a task whose command is 'exit N' fails with N)\n"
	    "  -l, --log-level LEVEL     debug, info, warn or error (default info)\n"
	    "  -V, --version             print the version and exit\n"
	    "  -h, --help                print this help and exit\n"
	    "\n"
	    "faults: curl -X POST '127.0.0.1:5050/sim/fault?action=A' with A one of\n"
	    "  drop-stream, stall-heartbeats&secs=S, agent-down&agent=ID|HOST|INDEX,\n"
	    "  agent-up&agent=..., unavailable&secs=S, redirect&to=H:P[&secs=S],\n"
	    "  duplicate-updates&rate=R, lose-launches&rate=R, teardown (the framework), clear\n");
}

/* Parses a number for flag `name`; exits 2 with a message when it is not one. */
static double number(const char *name, const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
		fprintf(stderr, "mesos-sim: --%s wants a number in [%g, %g], not '%s'\n", name, lo,
		        hi, s);
		exit(2);
	}
	return v;
}

/* --- agent profiles from YAML ------------------------------------------------------ */

struct profiles {
	json_t *doc; /* owns the strings the profiles borrow */
	struct sim_profile *v;
	size_t n;
	const char **values; /* attribute value arrays, one allocation */
};

static bool prof_fail(char *err, size_t len, const char *path, const struct yamljson_lines *l,
                      const char *key, const char *what)
{
	snprintf(err, len, "%s:%u: %s: %s", path, yamljson_line(l, key), key, what);
	return false;
}

/* A number in [lo, hi] at key; absent leaves *out. */
static bool prof_num(const json_t *o, const char *name, double lo, double hi, double *out,
                     const char *path, const struct yamljson_lines *l, const char *where, char *err,
                     size_t len)
{
	const json_t *v = json_object_get(o, name);
	char key[96];
	snprintf(key, sizeof(key), "%s.%s", where, name);
	if (v == NULL)
		return true;
	if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi)) {
		char what[80];
		snprintf(what, sizeof(what), "wants a number in [%g, %g]", lo, hi);
		return prof_fail(err, len, path, l, key, what);
	}
	*out = json_number_value(v);
	return true;
}

static bool prof_one(struct profiles *ps, size_t i, const json_t *o, const char ***vals,
                     const char *path, const struct yamljson_lines *l, char *err, size_t len)
{
	static const char *const known[] = {"count", "cpus",  "mem_mb",     "disk_mb", "gpus",
	                                    "ports", "racks", "attributes", "hostname"};
	struct sim_profile *p = &ps->v[i];
	char where[32], key[96];
	snprintf(where, sizeof(where), "agents[%zu]", i);
	if (!json_is_object(o))
		return prof_fail(err, len, path, l, where, "wants a mapping");
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v)
	{
		bool ok = false;
		for (size_t n = 0; n < sizeof(known) / sizeof(*known); n++)
			ok = ok || strcmp(k, known[n]) == 0;
		if (!ok) {
			snprintf(key, sizeof(key), "%s.%s", where, k);
			return prof_fail(err, len, path, l, key,
			                 "unknown key (count, cpus, mem_mb, disk_mb, gpus, ports, "
			                 "racks, attributes, hostname)");
		}
	}
	double count = 0, racks = 10, cpus = 32, mem = 131072, disk = 1e6, gpus = 0;
	if (!prof_num(o, "count", 1, 1000000, &count, path, l, where, err, len) ||
	    !prof_num(o, "cpus", 0.01, 1e5, &cpus, path, l, where, err, len) ||
	    !prof_num(o, "mem_mb", 1, 1e9, &mem, path, l, where, err, len) ||
	    !prof_num(o, "disk_mb", 1, 1e12, &disk, path, l, where, err, len) ||
	    !prof_num(o, "gpus", 0, 1024, &gpus, path, l, where, err, len) ||
	    !prof_num(o, "racks", 1, 100000, &racks, path, l, where, err, len))
		return false;
	snprintf(key, sizeof(key), "%s.count", where);
	if (count < 1 || count != (uint32_t)count)
		return prof_fail(err, len, path, l, key,
		                 "wants a whole number of agents, at least 1");
	p->count = (uint32_t)count;
	p->cpus = cpus;
	p->mem_mb = mem;
	p->disk_mb = disk;
	p->gpus = gpus;
	p->racks = (uint32_t)racks;
	const json_t *ports = json_object_get(o, "ports");
	if (ports != NULL) {
		unsigned lo, hi;
		char tail;
		snprintf(key, sizeof(key), "%s.ports", where);
		if (!json_is_string(ports) ||
		    sscanf(json_string_value(ports), "%u-%u%c", &lo, &hi, &tail) != 2 || lo == 0 ||
		    hi < lo || hi > 65535)
			return prof_fail(err, len, path, l, key,
			                 "wants a range such as 31000-32000");
		p->port_lo = lo;
		p->port_hi = hi;
	}
	const json_t *hn = json_object_get(o, "hostname");
	if (hn != NULL) {
		const char *h = json_string_value(hn);
		snprintf(key, sizeof(key), "%s.hostname", where);
		if (!h || !h[0] || strlen(h) > 24 ||
		    strspn(h, "abcdefghijklmnopqrstuvwxyz"
		              "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		              "0123456789-.{}") != strlen(h))
			return prof_fail(err, len, path, l, key,
			                 "wants a hostname of at most 24 letters, digits, '-' and "
			                 "'.', with {i} for the agent's index");
		if (p->count > 1 && !strstr(h, "{i}"))
			return prof_fail(err, len, path, l, key,
			                 "names more than one agent: put {i} in it (db-{i})");
		p->hostname = h;
	}
	const json_t *attrs = json_object_get(o, "attributes");
	if (attrs == NULL)
		return true;
	snprintf(key, sizeof(key), "%s.attributes", where);
	if (!json_is_object(attrs) || json_object_size(attrs) > SIM_MAX_ATTRS)
		return prof_fail(err, len, path, l, key, "wants a mapping of at most 8 attributes");
	json_object_foreach((json_t *)attrs, k, v)
	{
		struct sim_attr *a = &p->attrs[p->n_attrs++];
		snprintf(key, sizeof(key), "%s.attributes.%s", where, k);
		a->name = k;
		a->values = *vals;
		if (json_is_string(v)) {
			*(*vals)++ = json_string_value(v);
			a->n_values = 1;
			continue;
		}
		size_t n = json_is_array(v) ? json_array_size(v) : 0;
		if (n == 0)
			return prof_fail(err, len, path, l, key,
			                 "wants a text value or a list of them (round robin)");
		for (size_t e = 0; e < n; e++) {
			if (!json_is_string(json_array_get(v, e)))
				return prof_fail(err, len, path, l, key,
				                 "list items must be text (quote numbers)");
			*(*vals)++ = json_string_value(json_array_get(v, e));
		}
		a->n_values = n;
	}
	return true;
}

/* Loads `path`; false with "file:line: key: problem" in err. */
static bool profiles_load(const char *path, struct profiles *ps, char *err, size_t len)
{
	struct yamljson_lines *l = NULL;
	memset(ps, 0, sizeof(*ps));
	ps->doc = yamljson_load_file(path, &l, err, len);
	if (ps->doc == NULL)
		return false;
	const json_t *agents = json_object_get(ps->doc, "agents");
	bool ok = false;
	if (!json_is_object(ps->doc) || json_object_size(ps->doc) != 1 || !json_is_array(agents) ||
	    json_array_size(agents) == 0) {
		snprintf(err, len, "%s: wants one key, 'agents', a list of agent profiles", path);
		goto out;
	}
	/* every attribute value of every profile, in one array */
	size_t n_values = 0;
	for (size_t i = 0; i < json_array_size(agents); i++) {
		const char *k;
		json_t *v;
		json_t *attrs = json_object_get(json_array_get(agents, i), "attributes");
		json_object_foreach(attrs, k, v) n_values +=
		    json_is_array(v) ? json_array_size(v) : 1;
	}
	ps->n = json_array_size(agents);
	ps->v = calloc(ps->n, sizeof(*ps->v));
	ps->values = calloc(n_values + 1, sizeof(*ps->values));
	if (ps->v == NULL || ps->values == NULL) {
		snprintf(err, len, "out of memory");
		goto out;
	}
	const char **vals = ps->values;
	ok = true;
	for (size_t i = 0; ok && i < ps->n; i++)
		ok = prof_one(ps, i, json_array_get(agents, i), &vals, path, l, err, len);
out:
	yamljson_lines_free(l);
	return ok;
}

static void profiles_free(struct profiles *ps)
{
	json_decref(ps->doc);
	free(ps->v);
	free(ps->values);
}

/* What the command line asks for. */
struct opts {
	struct sim_config cfg;
	struct profiles ps;
	const char *redirect, *ports_file, *credentials;
	bool authenticate; /* --authenticate-http-frameworks */
	double unavailable;
	unsigned port;
};

enum {
	O_CPUS = 256,
	O_MEM,
	O_TASK,
	O_FAIL,
	O_HB,
	O_LOG,
	O_OUTCOME,
	O_FILE,
	O_GPUS,
	O_RACKS,
	O_DIST,
	O_DUP,
	O_RETRY,
	O_REDIRECT,
	O_UNAVAIL,
	O_STARTING,
	O_PORTS_FILE,
	O_MESOS_VERSION,
	O_EXEC,
	O_CREDENTIALS,
	O_AUTHN,
};
static const struct option opts[] = {
    {"port", required_argument, NULL, 'p'},
    {"agents", required_argument, NULL, 'a'},
    {"cpus", required_argument, NULL, O_CPUS},
    {"mem-mb", required_argument, NULL, O_MEM},
    {"task-secs", required_argument, NULL, O_TASK},
    {"fail-rate", required_argument, NULL, O_FAIL},
    {"heartbeat-secs", required_argument, NULL, O_HB},
    {"launch-log", required_argument, NULL, O_LOG},
    {"outcome-log", required_argument, NULL, O_OUTCOME},
    {"agents-file", required_argument, NULL, O_FILE},
    {"gpus", required_argument, NULL, O_GPUS},
    {"racks", required_argument, NULL, O_RACKS},
    {"task-dist", required_argument, NULL, O_DIST},
    {"duplicate-rate", required_argument, NULL, O_DUP},
    {"retry-secs", required_argument, NULL, O_RETRY},
    {"redirect-to", required_argument, NULL, O_REDIRECT},
    {"unavailable-secs", required_argument, NULL, O_UNAVAIL},
    {"no-starting", no_argument, NULL, O_STARTING},
    {"ports-file", required_argument, NULL, O_PORTS_FILE},
    {"mesos-version", required_argument, NULL, O_MESOS_VERSION},
    {"exec", required_argument, NULL, O_EXEC},
    {"credentials", required_argument, NULL, O_CREDENTIALS},
    {"authenticate-http-frameworks", no_argument, NULL, O_AUTHN},
    {"log-level", required_argument, NULL, 'l'},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Applies one option c (argument arg) to o: -1 to go on, or an exit status. */
static int parse_opt(int c, const char *arg, struct opts *o)
{
	char err[256];
	enum log_level level;
	switch (c) {
	case 'p':
		o->port = (unsigned)number("port", arg, 0, 65535);
		break;
	case 'a':
		o->cfg.agents = (uint32_t)number("agents", arg, 1, 1000000);
		break;
	case O_CPUS:
		o->cfg.cpus = number("cpus", arg, 0.1, 1e6);
		break;
	case O_MEM:
		o->cfg.mem_mb = number("mem-mb", arg, 1, 1e9);
		break;
	case O_TASK:
		o->cfg.task_secs = number("task-secs", arg, 0.001, 1e7);
		break;
	case O_FAIL:
		o->cfg.fail_rate = number("fail-rate", arg, 0, 1);
		break;
	case O_CREDENTIALS:
		o->credentials = arg;
		break;
	case O_AUTHN:
		o->authenticate = true;
		break;
	case O_EXEC:
		if (!arg[0]) {
			fprintf(stderr, "mesos-sim: --exec wants a directory\n");
			return 2;
		}
		o->cfg.exec_root = arg;
		break;
	case O_LOG:
	case O_OUTCOME: {
		FILE **f = c == O_LOG ? &o->cfg.launch_log : &o->cfg.outcome_log;
		if (*f)
			fclose(*f);
		if (!(*f = fopen(arg, "a"))) {
			fprintf(stderr, "mesos-sim: --%s %s: %s\n",
			        c == O_LOG ? "launch-log" : "outcome-log", arg, strerror(errno));
			return 2;
		}
		break;
	}
	case O_FILE:
		profiles_free(&o->ps);
		if (!profiles_load(arg, &o->ps, err, sizeof(err))) {
			fprintf(stderr, "mesos-sim: --agents-file %s\n", err);
			profiles_free(&o->ps);
			return 2;
		}
		o->cfg.profiles = o->ps.v;
		o->cfg.n_profiles = o->ps.n;
		break;
	case O_GPUS:
		o->cfg.gpus = number("gpus", arg, 0, 1024);
		break;
	case O_RACKS:
		o->cfg.racks = (uint32_t)number("racks", arg, 1, 100000);
		break;
	case O_DIST:
		if (strcmp(arg, "uniform") == 0)
			o->cfg.task_dist = SIM_DIST_UNIFORM;
		else if (strcmp(arg, "exp") == 0)
			o->cfg.task_dist = SIM_DIST_EXP;
		else if (strcmp(arg, "fixed") == 0)
			o->cfg.task_dist = SIM_DIST_FIXED;
		else {
			fprintf(stderr,
			        "mesos-sim: --task-dist wants uniform, exp or fixed, not "
			        "'%s'\n",
			        arg);
			return 2;
		}
		break;
	case O_DUP:
		o->cfg.dup_rate = number("duplicate-rate", arg, 0, 1);
		break;
	case O_RETRY:
		o->cfg.retry_secs = number("retry-secs", arg, 0.01, 3600);
		break;
	case O_REDIRECT:
		o->redirect = arg;
		break;
	case O_PORTS_FILE:
		o->ports_file = arg;
		break;
	case O_MESOS_VERSION:
		o->cfg.mesos_version = arg;
		break;
	case O_STARTING:
		o->cfg.no_starting = true;
		break;
	case O_UNAVAIL:
		o->unavailable = number("unavailable-secs", arg, 0, 86400);
		break;
	case O_HB:
		o->cfg.heartbeat_secs = number("heartbeat-secs", arg, 0.01, 3600);
		break;
	case 'l':
		if (!log_level_parse(arg, &level)) {
			fprintf(stderr, "mesos-sim: unknown log level '%s'\n", arg);
			return 2;
		}
		log_set_level(level);
		break;
	case 'V':
		printf("mesos-sim %s\n", pel_version());
		return 0;
	case 'h':
		usage(stdout);
		return 0;
	default:
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Parses argv into o: -1 to run, or an exit status (help, version, a bad flag). */
static int parse_args(int argc, char **argv, struct opts *o)
{
	int c, rc;
	o->port = 5050;
	while ((c = getopt_long(argc, argv, "p:a:l:Vh", opts, NULL)) != -1)
		if ((rc = parse_opt(c, optarg, o)) >= 0)
			return rc;
	if (o->authenticate && !o->credentials) {
		fprintf(stderr,
		        "mesos-sim: --authenticate-http-frameworks needs --credentials FILE\n");
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "mesos-sim: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

/* {"http":port} into path, whole or not at all (written aside, renamed). */
static int write_port(const char *path, unsigned port)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	bool ok = f != NULL && fprintf(f, "{\"http\":%u}\n", port) > 0;
	if (f != NULL && fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, path) != 0) {
		fprintf(stderr, "mesos-sim: --ports-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct opts o;
	char err[256];
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0) {
		profiles_free(&o.ps);
		return rc;
	}
	struct sim *s = sim_create(&o.cfg);
	if (s == NULL) {
		fprintf(stderr, "mesos-sim: out of memory for the agents\n");
		profiles_free(&o.ps);
		return 1;
	}
	/* every thread started from here on blocks the stop signals; main waits for them */
	sigset_t stop_set;
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
	struct sim_http *h = sim_http_start(s, (uint16_t)o.port, err, sizeof(err));
	if (h == NULL) {
		fprintf(stderr, "mesos-sim: %s\n", err);
		sim_destroy(s);
		profiles_free(&o.ps);
		return 1;
	}
	if ((o.authenticate && sim_http_auth(h, o.credentials, err, sizeof(err)) != 0) ||
	    (o.redirect && sim_http_fault(h, "redirect", o.redirect, 0, err, sizeof(err)) != 0) ||
	    (o.unavailable > 0 &&
	     sim_http_fault(h, "unavailable", NULL, o.unavailable, err, sizeof(err)) != 0)) {
		fprintf(stderr, "mesos-sim: %s\n", err);
		sim_http_stop(h);
		sim_destroy(s);
		profiles_free(&o.ps);
		return 2;
	}
	printf("mesos-sim listening on 127.0.0.1:%u (%u agents)\n", sim_http_port(h),
	       sim_agent_count(s));
	fflush(stdout);
	if (o.ports_file && write_port(o.ports_file, sim_http_port(h)) != 0) {
		sim_http_stop(h);
		sim_destroy(s);
		profiles_free(&o.ps);
		return 1;
	}
	int sig = 0;
	sigwait(&stop_set, &sig);
	log_info("sim", "signal %d: stopping", sig);
	sim_http_stop(h);
	sim_destroy(s);
	profiles_free(&o.ps);
	return 0;
}
