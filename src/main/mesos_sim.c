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

static void usage(FILE *out)
{
	fprintf(out, "usage: mesos-sim [options]\n"
	             "\n"
	             "A simulated Mesos master: POST /api/v1/scheduler (protobuf) and GET /health\n"
	             "on 127.0.0.1.\n"
	             "\n"
	             "options:\n"
	             "  -p, --port N            port (default 5050; 0 = any free port, printed)\n"
	             "  -a, --agents N          simulated agents (default 10)\n"
	             "      --cpus X            cpus per agent (default 32)\n"
	             "      --mem-mb X          memory per agent in MB (default 131072)\n"
	             "      --task-secs X       how long a task runs (default 1)\n"
	             "      --fail-rate X       share of tasks that end FAILED, 0..1 (default 0)\n"
	             "      --heartbeat-secs X  heartbeat interval (default 15)\n"
	             "      --launch-log FILE   append each launched task id (a witness)\n"
	             "                          (a task whose command is 'exit N' fails with N)\n"
	             "  -l, --log-level LEVEL   debug, info, warn or error (default info)\n"
	             "  -V, --version           print the version and exit\n"
	             "  -h, --help              print this help and exit\n");
}

/* Parses a number for flag `name`; exits 2 with a message when it is not one. */
static double number(const char *name, const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "mesos-sim: --%s wants a number in [%g, %g], not '%s'\n", name, lo,
		        hi, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	enum { O_CPUS = 256, O_MEM, O_TASK, O_FAIL, O_HB, O_LOG };
	static const struct option opts[] = {
	    {"port", required_argument, NULL, 'p'},
	    {"agents", required_argument, NULL, 'a'},
	    {"cpus", required_argument, NULL, O_CPUS},
	    {"mem-mb", required_argument, NULL, O_MEM},
	    {"task-secs", required_argument, NULL, O_TASK},
	    {"fail-rate", required_argument, NULL, O_FAIL},
	    {"heartbeat-secs", required_argument, NULL, O_HB},
	    {"launch-log", required_argument, NULL, O_LOG},
	    {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sim_config cfg = {0};
	unsigned port = 5050;
	enum log_level level;
	int c;

	while ((c = getopt_long(argc, argv, "p:a:l:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			port = (unsigned)number("port", optarg, 0, 65535);
			break;
		case 'a':
			cfg.agents = (uint32_t)number("agents", optarg, 1, 1000000);
			break;
		case O_CPUS:
			cfg.cpus = number("cpus", optarg, 0.1, 1e6);
			break;
		case O_MEM:
			cfg.mem_mb = number("mem-mb", optarg, 1, 1e9);
			break;
		case O_TASK:
			cfg.task_secs = number("task-secs", optarg, 0.001, 1e7);
			break;
		case O_FAIL:
			cfg.fail_rate = number("fail-rate", optarg, 0, 1);
			break;
		case O_LOG:
			cfg.launch_log = fopen(optarg, "a");
			if (!cfg.launch_log) {
				fprintf(stderr, "mesos-sim: --launch-log %s: %s\n", optarg,
				        strerror(errno));
				return 2;
			}
			break;
		case O_HB:
			cfg.heartbeat_secs = number("heartbeat-secs", optarg, 0.01, 3600);
			break;
		case 'l':
			if (!log_level_parse(optarg, &level)) {
				fprintf(stderr, "mesos-sim: unknown log level '%s'\n", optarg);
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
	}
	if (optind < argc) {
		fprintf(stderr, "mesos-sim: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	struct sim *s = sim_create(&cfg);
	if (s == NULL) {
		fprintf(stderr, "mesos-sim: out of memory for %u agents\n", cfg.agents);
		return 1;
	}
	/* every thread started from here on blocks the stop signals; main waits for them */
	sigset_t stop_set;
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
	char err[256];
	struct sim_http *h = sim_http_start(s, (uint16_t)port, err, sizeof(err));
	if (h == NULL) {
		fprintf(stderr, "mesos-sim: %s\n", err);
		sim_destroy(s);
		return 1;
	}
	printf("mesos-sim listening on 127.0.0.1:%u\n", sim_http_port(h));
	fflush(stdout);
	int sig = 0;
	sigwait(&stop_set, &sig);
	log_info("sim", "signal %d: stopping", sig);
	sim_http_stop(h);
	sim_destroy(s);
	return 0;
}
