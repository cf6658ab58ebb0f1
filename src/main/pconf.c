#include "pconf.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "version.h"
#include "yamljson.h"

enum kind { K_STR, K_UINT, K_SIZE, K_BOOL, K_LEVEL };

struct key {
	const char *name;
	enum kind kind;
	size_t off, len;
	const char *def, *help;
	bool runtime; /* reloaded on SIGHUP */
};

#define F(field) offsetof(struct pconf, field), sizeof(((struct pconf *)0)->field)

static const struct key keys[] = {
    {"roles", K_STR, F(roles), "all",
     "roles to run: all, or a comma list of any of jobmgr, resmgr, placement, hostmgr "
     "(the others are reached over gRPC at the two addresses below)",
     false},
    {"resmgr-address", K_STR, F(resmgr_addr), "127.0.0.1:5392",
     "gRPC host:port of the resource manager, when it runs in another process", false},
    {"hostmgr-address", K_STR, F(hostmgr_addr), "127.0.0.1:5392",
     "gRPC host:port of the host manager, when it runs in another process", false},
    {"master", K_STR, F(master), "127.0.0.1:5050",
     "Mesos master host:port, or several comma-separated (tried in turn)", false},
    {"mesos-role", K_STR, F(mesos_role), "peloton",
     "the framework's Mesos role: what it reserves for stateful tasks (persistent volumes) "
     "is reserved for this role; not * (Mesos lets no framework of role * reserve)",
     false},
    {"mesos-principal", K_STR, F(mesos_principal), "",
     "the framework's Mesos principal (FrameworkInfo.principal, and the principal of its "
     "reservations and volumes); empty: none",
     false},
    {"mesos-secret-file", K_STR, F(mesos_secret_file), "",
     "a file holding the principal's secret: every call to the master then authenticates "
     "as --mesos-principal (HTTP basic, as a master started with "
     "--authenticate_http_frameworks requires); the file should be readable by its owner "
     "only; empty: no authentication",
     false},
    {"db", K_STR, F(db), "", "RocksDB directory (default: a new temp dir)", false},
    {"grpc-port", K_UINT, F(grpc_port), "5392", "gRPC port (0 = any)", false},
    {"http-port", K_UINT, F(http_port), "5292", "HTTP port (0 = any)", false},
    {"ports-file", K_STR, F(ports_file), "",
     "once listening, write the bound ports there as JSON {\"grpc\":N,\"http\":N} "
     "(with --grpc-port 0 / --http-port 0: the ports the kernel chose)",
     false},
    {"bind-any", K_BOOL, F(bind_any), "false", "listen on all interfaces, not 127.0.0.1", false},
    {"placement-workers", K_UINT, F(placement_workers), "2", "placement threads", false},
    {"placement-batch", K_UINT, F(placement_batch), "64",
     "gangs a placement round takes from the resource manager (1-256)", false},
    {"rpc-threads", K_UINT, F(rpc_threads), "0", "threads per RPC transport (0 = one per CPU)",
     false},
    {"max-instances", K_UINT, F(max_instances), "100000", "instances per job at most", false},
    {"reconcile-secs", K_UINT, F(reconcile_secs), "900",
     "implicit reconciliation period in seconds (0 = only after subscribing)", false},
    {"reconcile-launch-secs", K_UINT, F(reconcile_launch_secs), "120",
     "a launch Mesos stays silent about this long is reconciled", false},
    {"host-lease-secs", K_UINT, F(host_lease_secs), "60",
     "a host acquired for placement and neither used nor released this long is free "
     "again (a placement engine that died holding it)",
     false},
    {"placing-timeout-secs", K_UINT, F(placing_timeout_secs), "600",
     "a task a placement engine took and neither placed nor handed back this long is "
     "ready again (an engine that died holding it)",
     false},
    {"failover-timeout-secs", K_UINT, F(failover_timeout_secs), "60480000",
     "how long the Mesos master keeps this framework's tasks while pelotond is away "
     "(FrameworkInfo.failover_timeout); past it the master kills them and removes the "
     "framework, and pelotond stops launching, /health saying why",
     false},
    {"offer-hold-secs", K_UINT, F(offer_hold_secs), "60",
     "offers unused this long are declined back to Mesos (0 = hold them)", false},
    {"job-retention-secs", K_UINT, F(job_retention_secs), "604800",
     "a finished job (succeeded, failed or killed) is removed this long after it ended, "
     "from memory and the store (0 = kept until deleted)",
     false},
    {"preempt-ms", K_UINT, F(preempt_ms), "60000",
     "preemption period; a pool over its entitlement for 5 periods is preempted", false},
    {"max-request-bytes", K_SIZE, F(max_request_bytes), "4M", "largest request body", false},
    {"max-long-polls", K_UINT, F(max_long_polls), "32",
     "long polls (WaitForEvents, DequeueGangs, GetPlacements) gRPC runs at once, each on a "
     "thread of its own; one more is answered RESOURCE_EXHAUSTED",
     false},
    {"no-sync", K_BOOL, F(no_sync), "false",
     "skip fsync per commit group (a machine crash may lose acknowledged writes)", false},
    {"write-each-update", K_BOOL, F(write_each_update), "false",
     "benchmark baseline: one synced write per status update, no group commit", false},
    {"log-level", K_LEVEL, F(log_level), "info", "debug, info, warn or error", true},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(N_KEYS <= 64, "pconf.from_flag has a bit per key");

/*
 * roles: "all" or a comma list of any of the four. A role not here is
 * reached over gRPC: the resource manager at --resmgr-address (by the job
 * manager and the placement engine), the host manager at --hostmgr-address
 * (by the job manager, the resource manager and the placement engine).
 */
static bool valid_addr(const char *flag, const char *v)
{
	const char *colon = strrchr(v, ':');
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;
	if (!colon || colon == v || !end || *end || port < 1 || port > 65535) {
		fprintf(stderr, "pelotond: --%s '%s': expected host:port\n", flag, v);
		return false;
	}
	return true;
}

static int parse_roles(struct pconf *c)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {{"all", ROLE_ALL},
	             {"jobmgr", ROLE_JOBMGR},
	             {"resmgr", ROLE_RESMGR},
	             {"placement", ROLE_PLACEMENT},
	             {"hostmgr", ROLE_HOSTMGR}};
	char buf[sizeof(c->roles)], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", c->roles);
	c->role_set = 0;
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		size_t i = 0;
		while (i < sizeof(names) / sizeof(names[0]) && strcmp(tok, names[i].name) != 0)
			i++;
		if (i == sizeof(names) / sizeof(names[0])) {
			fprintf(stderr,
			        "pelotond: --roles: unknown role '%s' (all, jobmgr, resmgr, "
			        "placement, hostmgr)\n",
			        tok);
			return -1;
		}
		c->role_set |= names[i].bit;
	}
	if (c->role_set == 0) {
		fprintf(stderr, "pelotond: --roles: no role given (all, or a comma list of "
		                "jobmgr, resmgr, placement, hostmgr)\n");
		return -1;
	}
	/* the managers this process reaches over gRPC */
	unsigned rs = c->role_set;
	bool need_rm = (rs & (ROLE_JOBMGR | ROLE_PLACEMENT)) && !(rs & ROLE_RESMGR);
	bool need_hm = !(rs & ROLE_HOSTMGR);
	if ((need_rm && !valid_addr("resmgr-address", c->resmgr_addr)) ||
	    (need_hm && !valid_addr("hostmgr-address", c->hostmgr_addr)))
		return -1;
	return 0;
}

static const struct key *find_key(const char *name)
{
	char n[64];
	size_t i = 0;
	for (; name[i] && i < sizeof(n) - 1; i++)
		n[i] = name[i] == '_' ? '-' : (char)tolower((unsigned char)name[i]);
	n[i] = 0;
	for (size_t k = 0; k < N_KEYS; k++)
		if (strcmp(keys[k].name, n) == 0)
			return &keys[k];
	return NULL;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	unsigned long long m = 1;
	if (*end == 'K' || *end == 'k')
		m = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		m = 1024 * 1024, end++;
	else if (*end == 'G' || *end == 'g')
		m = 1024ull * 1024 * 1024, end++;
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		return -1;
	*out = (size_t)(v * m);
	return 0;
}

/* Sets one key from text; -1 with a message on a bad value. */
static int set(struct pconf *c, const struct key *k, const char *v, const char *src, bool only_rt)
{
	void *p = (char *)c + k->off;
	size_t bit = (size_t)(k - keys);
	if (only_rt && (!k->runtime || (bit < 64 && (c->from_flag >> bit) & 1)))
		return 0; /* a reload: only run-time keys, and never over a flag */
	switch (k->kind) {
	case K_STR:
		if (strlen(v) >= k->len)
			goto bad;
		strcpy(p, v);
		return 0;
	case K_LEVEL: {
		enum log_level lv;
		if (!log_level_parse(v, &lv))
			goto bad;
		snprintf(p, k->len, "%s", v);
		return 0;
	}
	case K_UINT: {
		char *end;
		errno = 0;
		unsigned long x = strtoul(v, &end, 10);
		if (errno || end == v || *end || v[0] == '-' || x > 0xffffffffu)
			goto bad;
		*(unsigned *)p = (unsigned)x;
		return 0;
	}
	case K_SIZE:
		if (parse_size(v, p) != 0)
			goto bad;
		return 0;
	case K_BOOL:
		if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
			*(bool *)p = true;
		else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
			*(bool *)p = false;
		else
			goto bad;
		return 0;
	}
bad:
	fprintf(stderr, "pelotond: %s: bad value '%s' for %s\n", src, v, k->name);
	return -1;
}

static int load_file(struct pconf *c, const char *path, bool only_rt)
{
	char err[300];
	struct yamljson_lines *lines = NULL;
	json_t *j = yamljson_load_file(path, &lines, err, sizeof(err));
	if (!j) {
		fprintf(stderr, "pelotond: %s\n", err);
		return -1;
	}
	int rc = 0;
	if (!json_is_object(j)) {
		fprintf(stderr, "pelotond: %s: expected a mapping of keys\n", path);
		rc = -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach(json_is_object(j) ? j : NULL, key, v)
	{
		char src[600], val[512];
		snprintf(src, sizeof(src), "%s:%u", path, yamljson_line(lines, key));
		const struct key *k = find_key(key);
		if (!k) {
			fprintf(stderr, "pelotond: %s: unknown key '%s'\n", src, key);
			rc = -1;
			continue;
		}
		if (json_is_string(v))
			snprintf(val, sizeof(val), "%s", json_string_value(v));
		else if (json_is_integer(v))
			snprintf(val, sizeof(val), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else if (json_is_boolean(v))
			snprintf(val, sizeof(val), "%s", json_is_true(v) ? "true" : "false");
		else {
			fprintf(stderr, "pelotond: %s: %s wants a scalar\n", src, key);
			rc = -1;
			continue;
		}
		if (set(c, k, val, src, only_rt) != 0)
			rc = -1;
	}
	json_decref(j);
	yamljson_lines_free(lines);
	return rc;
}

static int load_env(struct pconf *c, bool only_rt)
{
	int rc = 0;
	for (size_t k = 0; k < N_KEYS; k++) {
		char name[80] = "PELOTON_";
		size_t o = strlen(name);
		for (const char *p = keys[k].name; *p && o < sizeof(name) - 1; p++)
			name[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
		name[o] = 0;
		const char *v = getenv(name);
		if (v && set(c, &keys[k], v, name, only_rt) != 0)
			rc = -1;
	}
	return rc;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: pelotond [--config FILE]... [options]\n\n"
	        "Peloton-compatible cluster scheduler on Apache Mesos: gRPC and HTTP/JSON\n"
	        "(POST /api/v1, Rpc-Procedure) for every service of the API.\n\n"
	        "options (each also a YAML key in --config files and PELOTON_<KEY> in the\n"
	        "environment; flags win over the environment, which wins over files):\n"
	        "  -c, --config FILE          YAML file of keys; repeatable, later files win\n");
	for (size_t k = 0; k < N_KEYS; k++) {
		char flag[48];
		snprintf(flag, sizeof(flag), "--%s%s", keys[k].name,
		         keys[k].kind == K_BOOL ? "" : " X");
		fprintf(out, "      %-22s %s (default %s)\n", flag, keys[k].help,
		        keys[k].def[0] ? keys[k].def : "none");
	}
	fprintf(out, "  -V, --version              print the version and exit\n"
	             "  -h, --help                 print this help and exit\n\n"
	             "signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the log level.\n");
}

/*
 * The framework's secret from --mesos-secret-file: its first line, without
 * the line end. A principal must be set; a file others may read is warned
 * about. 0, or -1 with the reason on stderr (never the secret).
 */
static int read_secret(struct pconf *c)
{
	const char *path = c->mesos_secret_file;
	if (!c->mesos_principal[0]) {
		fprintf(stderr,
		        "pelotond: --mesos-secret-file needs --mesos-principal (whose secret "
		        "it is)\n");
		return -1;
	}
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "pelotond: --mesos-secret-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		fprintf(
		    stderr,
		    "pelotond: warning: --mesos-secret-file %s can be read by others (mode %03o): "
		    "chmod 600 it\n",
		    path, (unsigned)(st.st_mode & 0777));
	char *line = fgets(c->mesos_secret, sizeof(c->mesos_secret), f);
	fclose(f);
	size_t n = line ? strcspn(c->mesos_secret, "\r\n") : 0;
	if (line)
		c->mesos_secret[n] = 0;
	if (n == 0 || n == sizeof(c->mesos_secret) - 1) {
		explicit_bzero(c->mesos_secret, sizeof(c->mesos_secret));
		fprintf(stderr, "pelotond: --mesos-secret-file %s: %s\n", path,
		        n == 0 ? "empty (the secret is its first line)"
		               : "its first line is too long (254 characters at most)");
		return -1;
	}
	return 0;
}

int pconf_load(struct pconf *c, int argc, char **argv)
{
	memset(c, 0, sizeof(*c));
	for (size_t k = 0; k < N_KEYS; k++)
		if (set(c, &keys[k], keys[k].def, "default", false) != 0)
			return 1;
	struct option opts[N_KEYS + 4];
	size_t n = 0;
	for (size_t k = 0; k < N_KEYS; k++)
		opts[n++] = (struct option){
		    keys[k].name, keys[k].kind == K_BOOL ? optional_argument : required_argument,
		    NULL, 1000 + (int)k};
	opts[n++] = (struct option){"config", required_argument, NULL, 'c'};
	opts[n++] = (struct option){"version", no_argument, NULL, 'V'};
	opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	opts[n] = (struct option){NULL, 0, NULL, 0};

	/* pass 1: --config, --help, --version, and syntax */
	int ch;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			return 0;
		}
		if (ch == 'V') {
			printf("pelotond %s\n", pel_version());
			return 0;
		}
		if (ch == '?') {
			usage(stderr);
			return 2;
		}
		if (ch == 'c') {
			char **f = realloc(c->files, (c->n_files + 1) * sizeof(char *));
			if (!f)
				return 1;
			c->files = f;
			c->files[c->n_files++] = strdup(optarg);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pelotond: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < c->n_files; i++)
		if (load_file(c, c->files[i], false) != 0)
			return 2;
	if (load_env(c, false) != 0)
		return 2;
	/* pass 2: flags win */
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		if (ch < 1000)
			continue;
		const struct key *k = &keys[ch - 1000];
		char src[80];
		snprintf(src, sizeof(src), "--%s", k->name);
		if (set(c, k, optarg ? optarg : "true", src, false) != 0)
			return 2;
		if (ch - 1000 < 64)
			c->from_flag |= 1ull << (ch - 1000);
	}
	if (parse_roles(c) != 0)
		return 2;
	if (!c->mesos_role[0] || strcmp(c->mesos_role, "*") == 0) {
		fprintf(stderr,
		        "pelotond: mesos-role '%s': must name a role, not * (a framework "
		        "of role * cannot reserve resources for persistent volumes)\n",
		        c->mesos_role);
		return 2;
	}
	if (c->mesos_secret_file[0] && read_secret(c) != 0)
		return 2;
	if (c->placement_batch < 1 || c->placement_batch > 256) {
		fprintf(stderr, "pelotond: placement-batch %u: must be 1 to 256\n",
		        c->placement_batch);
		return 2;
	}
	enum log_level lv;
	log_level_parse(c->log_level, &lv);
	log_set_level(lv);
	return -1;
}

int pconf_reload(struct pconf *c)
{
	int rc = 0;
	for (size_t i = 0; i < c->n_files; i++)
		rc |= load_file(c, c->files[i], true);
	rc |= load_env(c, true);
	enum log_level lv;
	if (log_level_parse(c->log_level, &lv))
		log_set_level(lv);
	return rc ? -1 : 0;
}

void pconf_fini(struct pconf *c)
{
	for (size_t i = 0; i < c->n_files; i++)
		free(c->files[i]);
	free(c->files);
	explicit_bzero(c->mesos_secret, sizeof(c->mesos_secret));
}
