/*
 * pelotond: the scheduler daemon — wiring only. Configuration (pconf) ->
 * the roles this process runs, created from the table below, each given
 * its peers through their seams (in process when the peer runs here, a
 * gRPC client of it otherwise) -> the method table bound -> gRPC and HTTP
 * servers -> the roles started -> a signal loop -> stop in reverse.
 *
 * Configuration, lowest precedence first: built-in defaults, each --config
 * YAML file in order (top-level `key: value`, keys as the long flags), the
 * environment (PELOTON_<FLAG> with '-' as '_', upper case), then flags.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>

#include "grpcsrv.h"
#include "hostmgr.h"
#include "httpsrv.h"
#include "jobmgr.h"
#include "log.h"
#include "pconf.h"
#include "placement.h"
#include "resmgr_role.h"
#include "sdnotify.h"
#include "rpc.h"
#include "store.h"
#include "version.h"
#include "yamljson.h"

/* The peers' gRPC clients this process made, one per user role (their logs
 * and metrics name it). */
enum user { U_JOBMGR, U_PLACEMENT, U_RESMGR, U_N };
static const char *const user_name[U_N] = {"jobmgr", "placement", "resmgr"};

struct daemon {
	struct pconf cf;
	struct store *store;
	struct hostmgr *hm;
	struct resmgr_role *rm;
	struct placement *pl;
	struct jobmgr *jm;
	struct resmgr_client *rm_cli[U_N];
	struct hostmgr_client *hm_cli[U_N];
	struct rpc_table *rpc;
	struct grpcsrv *grpc;
	struct httpsrv *http;
	char tmpdir[256];
};

#define HAS(d, r) (((d)->cf.role_set & (r)) != 0)

/* ---- peers: the seam of a role here, or a client of it apart ---- */

static int peer_resmgr(struct daemon *d, enum user u, struct resmgr_ops *out)
{
	if (d->rm) {
		*out = resmgr_role_ops(d->rm);
		return 0;
	}
	if (!(d->rm_cli[u] = resmgr_client_create(d->cf.resmgr_addr, user_name[u])))
		return -1;
	*out = resmgr_client_ops(d->rm_cli[u]);
	return 0;
}

static int peer_hostmgr(struct daemon *d, enum user u, struct hostmgr_ops *out)
{
	if (d->hm) {
		*out = hostmgr_local_ops(d->hm);
		return 0;
	}
	if (!(d->hm_cli[u] = hostmgr_client_create(d->cf.hostmgr_addr, user_name[u])))
		return -1;
	*out = hostmgr_client_ops(d->hm_cli[u]);
	return 0;
}

/* ---- the roles ---- */

static int create_hostmgr(struct daemon *d)
{
	const struct pconf *c = &d->cf;
	struct hostmgr_config hc = {.store = d->store,
	                            .master = c->master,
	                            .role = c->mesos_role,
	                            .principal = c->mesos_principal,
	                            .secret = c->mesos_secret[0] ? c->mesos_secret : NULL,
	                            .lease_secs = c->host_lease_secs,
	                            .offer_hold_secs = c->offer_hold_secs,
	                            .reconcile_secs = c->reconcile_secs,
	                            .reconcile_launch_secs = c->reconcile_launch_secs,
	                            .failover_timeout_secs = c->failover_timeout_secs};
	return (d->hm = hostmgr_create(&hc)) ? 0 : -1;
}

static int create_resmgr(struct daemon *d)
{
	const struct pconf *c = &d->cf;
	char err[256];
	/* leases are spent in SetPlacements only where the launcher and the
	 * index share this process: one apart spends them with LaunchTasks */
	struct resmgr_role_config rc = {
	    .store = d->store,
	    .placing_timeout_ns = (uint64_t)c->placing_timeout_secs * 1000000000ull,
	    .preempt_ms = c->preempt_ms,
	    .spend_leases = HAS(d, ROLE_HOSTMGR) && HAS(d, ROLE_JOBMGR)};
	if (peer_hostmgr(d, U_RESMGR, &rc.hm) != 0)
		return -1;
	if (!(d->rm = resmgr_role_create(&rc, err, sizeof(err))))
		return log_error("main", "resource manager: %s", err), -1;
	return resmgr_role_start(d->rm);
}

static int create_jobmgr(struct daemon *d)
{
	const struct pconf *c = &d->cf;
	struct jobmgr_config jc = {
	    .store = d->store,
	    .max_instances = c->max_instances,
	    .reconcile_after_ns = (uint64_t)c->reconcile_launch_secs * 1000000000ull,
	    .retention_ns = (uint64_t)c->job_retention_secs * 1000000000ull,
	    .write_each_update = c->write_each_update,
	};
	if (d->pl)
		jc.pl = placement_seam_ops(d->pl);
	if (peer_resmgr(d, U_JOBMGR, &jc.rm) != 0 || peer_hostmgr(d, U_JOBMGR, &jc.hm) != 0 ||
	    !(d->jm = jobmgr_create(&jc)))
		return -1;
	size_t nj = 0, nt = 0;
	if (jobmgr_recover(d->jm, &nj, &nt) != 0)
		return log_error("main", "recovery failed"), -1;
	return 0;
}

/*
 * The placement engine, over the resource manager and the host manager's
 * index wherever they run. With the host manager here it leases from the
 * index in process; if the launcher is apart, the hosts it uses stay
 * leased by name for the launcher's LaunchTasks (which names no offers)
 * instead of having their offers spent.
 */
static int create_placement(struct daemon *d)
{
	const struct pconf *c = &d->cf;
	struct placement_config pc = {.workers = c->placement_workers, .batch = c->placement_batch};
	struct hostmgr_ops hm;
	if (peer_resmgr(d, U_PLACEMENT, &pc.rm) != 0 || peer_hostmgr(d, U_PLACEMENT, &hm) != 0)
		return -1;
	pc.hosts = !d->hm || HAS(d, ROLE_JOBMGR) ? hm.index : hostmgr_held_index_ops(d->hm);
	pc.idx = d->hm ? hostmgr_index(d->hm) : NULL;
	if (!(d->pl = placement_create(&pc)) || placement_start(d->pl) != 0)
		return log_error("main", "cannot start the placement engine"), -1;
	return 0;
}

/* ---- the servers ---- */

/* The bound ports as JSON into path, whole or not at all (written aside, renamed). */
static int write_ports(const char *path, int grpc, unsigned http)
{
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	bool ok = f != NULL && fprintf(f, "{\"grpc\":%d,\"http\":%u}\n", grpc, http) > 0;
	if (f != NULL && fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, path) != 0)
		return log_error("main", "--ports-file %s: %s", path, strerror(errno)), -1;
	return 0;
}

/* The process's own families, as Prometheus's client libraries name them. */
static void process_metrics(FILE *f)
{
	static double start_s;
	if (!start_s) { /* (racy first write: any thread computes the same value) */
		struct timespec now, up;
		clock_gettime(CLOCK_REALTIME, &now);
		clock_gettime(CLOCK_MONOTONIC, &up);
		FILE *st = fopen("/proc/self/stat", "r");
		unsigned long long ticks = 0;
		if (st && fscanf(st,
		                 "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
		                 "%*d %*d %*d %*d %*d %*d %llu",
		                 &ticks) != 1)
			ticks = 0;
		if (st)
			fclose(st);
		double boot =
		    (double)now.tv_sec + now.tv_nsec / 1e9 - ((double)up.tv_sec + up.tv_nsec / 1e9);
		start_s = boot + (double)ticks / (double)sysconf(_SC_CLK_TCK);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	             (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	unsigned long long vsz = 0, rss = 0;
	FILE *sm = fopen("/proc/self/statm", "r");
	if (!sm || fscanf(sm, "%llu %llu", &vsz, &rss) != 2)
		vsz = rss = 0;
	if (sm)
		fclose(sm);
	long page = sysconf(_SC_PAGESIZE);
	unsigned long fds = 0;
	DIR *dir = opendir("/proc/self/fd");
	for (struct dirent *e; dir && (e = readdir(dir));)
		fds += e->d_name[0] != '.';
	if (dir)
		closedir(dir);
	struct rlimit rl = {0};
	getrlimit(RLIMIT_NOFILE, &rl);
	fprintf(f,
	        "# HELP process_cpu_seconds_total User and system CPU time spent, in seconds.\n"
	        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n"
	        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
	        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n"
	        "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
	        "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %llu\n"
	        "# HELP process_open_fds Open file descriptors.\n"
	        "# TYPE process_open_fds gauge\nprocess_open_fds %lu\n"
	        "# HELP process_max_fds The limit of open file descriptors.\n"
	        "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n"
	        "# HELP process_start_time_seconds Start time of the process since the epoch, in "
	        "seconds.\n"
	        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n",
	        cpu, rss * (unsigned long long)page, vsz * (unsigned long long)page,
	        fds ? fds - 1 : 0 /* (the directory's own) */, (unsigned long long)rl.rlim_cur,
	        start_s);
	fprintf(
	    f,
	    "# HELP peloton_build_info The build: version and git commit (value 1).\n"
	    "# TYPE peloton_build_info gauge\n"
	    "peloton_build_info{version=\"%s\",commit=\"%s\"} 1\n"
	    "# HELP peloton_leader 1 when this process leads (the only replica there is: always "
	    "1 until replication).\n"
	    "# TYPE peloton_leader gauge\npeloton_leader 1\n",
	    pel_version(), pel_commit());
}

static void metrics(void *arg, FILE *f)
{
	struct daemon *d = arg;
	struct placement *pl = d->pl;
	process_metrics(f);
	if (d->jm)
		jobmgr_write_metrics(d->jm, f);
	if (d->rm)
		resmgr_role_write_metrics(d->rm, f);
	if (pl)
		placement_write_metrics(pl, f);
	if (d->hm)
		hostmgr_write_metrics(d->hm, f);
	for (int u = 0; u < U_N; u++) {
		if (d->rm_cli[u])
			resmgr_client_write_metrics(d->rm_cli[u], f);
		if (d->hm_cli[u])
			hostmgr_client_write_metrics(d->hm_cli[u], f);
	}
	if (d->store)
		store_write_metrics(d->store, f);
}

/* /health: every role here says it can do its work, or why not. */
static bool health(void *arg, char *why, size_t len)
{
	struct daemon *d = arg;
	if (d->hm && !hostmgr_health(d->hm, why, len))
		return false;
	for (int u = 0; u < U_N; u++)
		if (d->hm_cli[u] && !hostmgr_client_health(d->hm_cli[u], why, len))
			return false;
	return true;
}

/* POST /ui/data/yaml: a YAML document (a job spec pasted in the UI) as
 * JSON, or 400 with the parser's message (line and column). */
static bool yaml_route(const char *method, const char *url, const uint8_t *body, size_t len,
                       unsigned *status, char **out)
{
	if (strcmp(url, "/ui/data/yaml") != 0)
		return false;
	char err[256] = "";
	json_t *j = strcmp(method, "POST") == 0
	                ? yamljson_parse((const char *)body, len, NULL, err, sizeof(err))
	                : NULL;
	*status = j ? 200 : strcmp(method, "POST") != 0 ? 405 : 400;
	if (!j) {
		json_t *e = json_pack("{s:s}", "error", j || err[0] ? err : "POST a YAML document");
		*out = e ? json_dumps(e, JSON_COMPACT) : NULL;
		json_decref(e);
		return true;
	}
	*out = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	return true;
}

/* The daemon's own HTTP routes beyond the RPC ones: the placement explain
 * and the UI's read-only views of whichever roles run here. */
static bool route(void *arg, const char *method, const char *url, const uint8_t *body, size_t len,
                  unsigned *status, char **out)
{
	struct daemon *d = arg;
	if (strncmp(url, "/ui/data/", 9) == 0) {
		if ((d->hm && hostmgr_http(d->hm, method, url, status, out)) ||
		    (d->rm && resmgr_role_http(d->rm, method, url, status, out)) ||
		    (d->jm && jobmgr_http(d->jm, method, url, status, out)) ||
		    yaml_route(method, url, body, len, status, out))
			return true;
		*status = 404;
		*out = strdup("{\"error\":\"no such view here (its role runs elsewhere)\"}");
		return true;
	}
	return placement_http(d->pl, method, url, body, len, status, out);
}

static int start_servers(struct daemon *d)
{
	char err[256] = "", addr[64];
	const struct pconf *c = &d->cf;
	if (!(d->rpc = rpc_table_create()))
		return log_error("main", "out of memory"), -1;
	if (d->hm)
		hostmgr_bind(d->hm, d->rpc);
	if (d->rm)
		resmgr_role_bind(d->rm, d->rpc);
	if (d->jm)
		jobmgr_bind(d->jm, d->rpc);
	snprintf(addr, sizeof(addr), "%s:%u", c->bind_any ? "0.0.0.0" : "127.0.0.1", c->grpc_port);
	/* one per CPU by default: more only adds hand-offs between the gRPC
	 * core's pollers (bench_rpc on 2 cores: 4 threads were slower than 2) */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = c->rpc_threads ? c->rpc_threads : ncpu > 0 ? (unsigned)ncpu : 2;
	struct grpcsrv_config gc = {.addr = addr,
	                            .workers = threads,
	                            .max_request_bytes = c->max_request_bytes,
	                            .max_long_polls = c->max_long_polls};
	if (!(d->grpc = grpcsrv_start(&gc, d->rpc, err, sizeof(err))))
		return log_error("main", "gRPC: %s", err), -1;
	struct httpsrv_config hc = {.assets = pel_ui_assets,
	                            .n_assets = pel_ui_n_assets,
	                            .port = (uint16_t)c->http_port,
	                            .bind_any = c->bind_any,
	                            /* at least 4: half of them may wait in long polls */
	                            .threads = threads < 4 ? 4 : threads,
	                            .max_request_bytes = c->max_request_bytes,
	                            .metrics = metrics,
	                            .health = health,
	                            .route = route,
	                            .arg = d};
	if (!(d->http = httpsrv_start(&hc, d->rpc, err, sizeof(err))))
		return log_error("main", "HTTP: %s", err), -1;
	if (c->ports_file[0] &&
	    write_ports(c->ports_file, grpcsrv_port(d->grpc), httpsrv_port(d->http)) != 0)
		return -1;
	return 0;
}

/* ---- start / stop ---- */

static int open_store(struct daemon *d)
{
	char err[256] = "";
	const char *db = d->cf.db;
	if (!db[0]) {
		snprintf(d->tmpdir, sizeof(d->tmpdir), "/tmp/pelotond-XXXXXX");
		if (!mkdtemp(d->tmpdir))
			return log_error("main", "cannot create a temp dir: %s", strerror(errno)),
			       -1;
		db = d->tmpdir;
		log_info("main", "no --db given: using a temporary database in %s", db);
	}
	struct store_config sc = {.path = db, .no_sync = d->cf.no_sync};
	if (!(d->store = store_open(&sc, err, sizeof(err))))
		return log_error("main", "store %s: %s", db, err), -1;
	return 0;
}

/* The roles in the order they are created (each one's peers first). */
static const struct {
	unsigned role;
	const char *name;
	int (*create)(struct daemon *d);
} roles[] = {
    {ROLE_HOSTMGR, "host manager", create_hostmgr},
    {ROLE_RESMGR, "resource manager", create_resmgr},
    {ROLE_PLACEMENT, "placement", create_placement},
    {ROLE_JOBMGR, "job manager", create_jobmgr},
};

static int start(struct daemon *d)
{
	char err[256] = "";
	if (HAS(d, ROLE_HOSTMGR | ROLE_RESMGR | ROLE_JOBMGR) && open_store(d) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (HAS(d, roles[i].role) && roles[i].create(d) != 0)
			return log_error("main", "cannot create the %s role", roles[i].name), -1;
	struct jobmgr_ops jm = d->jm ? jobmgr_seam_ops(d->jm) : (struct jobmgr_ops){0};
	if (d->hm && hostmgr_start(d->hm, d->jm ? &jm : NULL, err, sizeof(err)) != 0)
		return log_error("main", "mesos client: %s", err), -1;
	if (d->jm && jobmgr_start(d->jm) != 0)
		return log_error("main", "cannot start the job manager"), -1;
	if (d->rm && !d->pl)
		log_info("placement", "no placement engine here: engines in other processes "
		                      "(--roles placement) place this process's tasks");
	return start_servers(d);
}

static void stop(struct daemon *d)
{
	/* stop accepting calls first, then the roles, then flush the store */
	httpsrv_stop(d->http);
	grpcsrv_stop(d->grpc);
	jobmgr_stop(d->jm);
	placement_stop(d->pl);
	hostmgr_stop(d->hm);
	resmgr_role_stop(d->rm);
	/* the completions of the job manager's writes point into it */
	if (d->store)
		store_drain(d->store);
	jobmgr_destroy(d->jm);
	placement_destroy(d->pl);
	for (int u = 0; u < U_N; u++) {
		resmgr_client_destroy(d->rm_cli[u]);
		hostmgr_client_destroy(d->hm_cli[u]);
	}
	rpc_table_destroy(d->rpc);
	resmgr_role_destroy(d->rm);
	hostmgr_destroy(d->hm);
	store_close(d->store);
}

/* The start line: roles, and the peers this process uses. */
static void log_start(const struct pconf *c)
{
	unsigned rs = c->role_set;
	bool rm_apart = (rs & (ROLE_JOBMGR | ROLE_PLACEMENT)) && !(rs & ROLE_RESMGR);
	bool hm = rs & ROLE_HOSTMGR;
	char peers[512];
	snprintf(peers, sizeof(peers), "%s%s%s%s%s%s", hm ? ", master " : "", hm ? c->master : "",
	         rm_apart ? ", resource manager " : "", rm_apart ? c->resmgr_addr : "",
	         hm ? "" : ", host manager ", hm ? "" : c->hostmgr_addr);
	log_info("main", "pelotond %s starting: roles %s%s, gRPC %u, HTTP %u", pel_version(),
	         c->roles, peers, c->grpc_port, c->http_port);
}

/*
 * Every connection is a descriptor: the soft limit (often 1,024) goes up
 * to the hard one, so the HTTP face's connection limits, not the process's,
 * decide who is served.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("main", "open files limit raised from %llu to %llu",
		         (unsigned long long)was, (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
	static struct daemon d;
	int rc = pconf_load(&d.cf, argc, argv);
	if (rc >= 0)
		return rc; /* --help, --version or a usage error */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_start(&d.cf);
	raise_fd_limit();
	if (start(&d) != 0) {
		stop(&d);
		return 1;
	}
	log_info("main", "ready: gRPC on port %d, HTTP on port %u", grpcsrv_port(d.grpc),
	         httpsrv_port(d.http));
	sdnotify("READY=1");
	for (;;) {
		struct timespec tick = {1, 0};
		int sig = sigtimedwait(&set, NULL, &tick);
		if (sig < 0) {
			if (d.hm)
				hostmgr_tick(d.hm);
			continue;
		}
		if (sig == SIGHUP) {
			if (pconf_reload(&d.cf) == 0)
				log_info("main", "SIGHUP: configuration reloaded (log level %s)",
				         log_level_name(log_get_level()));
			continue;
		}
		log_info("main", "signal %d: draining", sig);
		break;
	}
	sdnotify("STOPPING=1");
	stop(&d);
	log_info("main", "stopped");
	pconf_fini(&d.cf);
	return 0;
}
