/*
 * pconf: pelotond's configuration. One table of keys; each key is a long
 * flag (--grpc-port), a YAML key in --config files (grpc-port or
 * grpc_port) and an environment variable (PELOTON_GRPC_PORT). Precedence,
 * lowest first: defaults, config files in the order given, environment,
 * flags. Sizes take K/M/G suffixes; durations take ms/s/m/h.
 */
#ifndef PCONF_H
#define PCONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* Roles (bits of pconf.role_set). */
enum {
	ROLE_JOBMGR = 1,
	ROLE_RESMGR = 2,
	ROLE_PLACEMENT = 4,
	ROLE_HOSTMGR = 8,
	ROLE_ALL = 15,
};

struct pconf {
	char roles[64];
	unsigned role_set;
	char resmgr_addr[128], hostmgr_addr[128];
	char master[128];
	char mesos_role[64], mesos_principal[128];
	char mesos_secret_file[512];
	char mesos_secret[256]; /* read from mesos_secret_file at start */
	char db[512];
	char ports_file[512];
	char log_level[16];
	unsigned grpc_port, http_port;
	unsigned placement_workers, placement_batch, rpc_threads, max_instances, reconcile_secs,
	    preempt_ms;
	unsigned offer_hold_secs, reconcile_launch_secs, host_lease_secs, placing_timeout_secs,
	    job_retention_secs, max_long_polls, failover_timeout_secs;
	size_t max_request_bytes;
	bool no_sync, bind_any, write_each_update;
	char **files;
	size_t n_files;
	uint64_t from_flag; /* keys set on the command line (bit = key index):
	                     * a reload keeps them (flags > environment > files) */
};

/* Fills c from defaults, files, env and argv. Returns -1 to run, or an exit code. */
int pconf_load(struct pconf *c, int argc, char **argv);
/* SIGHUP: re-reads the files and env for what can change at run time (log
 * level), except what the command line set: flags still win. */
int pconf_reload(struct pconf *c);
void pconf_fini(struct pconf *c);

#endif
