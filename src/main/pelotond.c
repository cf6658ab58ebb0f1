/*
 * pelotond: the scheduler daemon. Today it parses its flags and reports its
 * version; the roles (host manager, resource manager, placement, job
 * manager) are wired in here as their issues land.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "version.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: pelotond [options]\n"
	             "\n"
	             "Peloton-compatible cluster scheduler on Apache Mesos.\n"
	             "\n"
	             "options:\n"
	             "  -l, --log-level LEVEL  debug, info, warn or error (default info)\n"
	             "  -V, --version          print the version and exit\n"
	             "  -h, --help             print this help and exit\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum log_level level;
	int c;

	while ((c = getopt_long(argc, argv, "l:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (!log_level_parse(optarg, &level)) {
				fprintf(stderr, "pelotond: unknown log level '%s'\n", optarg);
				return 2;
			}
			log_set_level(level);
			break;
		case 'V':
			printf("pelotond %s\n", pel_version());
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
		fprintf(stderr, "pelotond: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	log_info("main", "pelotond %s: no roles wired in yet; exiting", pel_version());
	printf("pelotond %s\n", pel_version());
	return 0;
}
