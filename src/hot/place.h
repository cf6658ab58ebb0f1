/*
 * place: the pure placement decision — which of a set of claimed hosts
 * each task of one shape goes to, and which ports it gets.
 *
 * No locks, no allocation, no protobuf: the caller (the placement worker)
 * claims hosts from the index, describes them as place_host records, and
 * gets back a host index (or -1) and the ports for every task. Tests,
 * fuzzers and benchmarks link this alone.
 *
 * HOW IT WORKS
 *  - pack (default): hosts in order of least free cpu, then memory (the
 *    fullest host that fits first); each host takes as many tasks as fit
 *    before the next is tried: fewer hosts used, big holes kept.
 *  - spread: hosts in order of most free cpu; tasks are dealt one per host
 *    per pass, so a job's tasks land on different hosts when there are
 *    enough hosts, and only then double up.
 *  - A task fits a host when its resources fit the host's remaining free
 *    resources (decremented as tasks are assigned), the GPU rule holds, it
 *    has enough unassigned ports, and its constraint tree holds — HOST
 *    leaves against the host's labels, TASK leaves against the count of
 *    tasks with that label on the host: those already there (task_count
 *    callback) plus those assigned in this round (all tasks of a shape
 *    carry the same labels).
 *  - Ports are taken in order from the host's offered ranges; a port is
 *    never given twice within a round.
 *
 * LIMITATIONS: one shape per call (the caller groups tasks by shape); the
 * order within pack/spread is by cpu, with memory as the tie-breaker.
 */
#ifndef PLACE_H
#define PLACE_H

#include <stddef.h>
#include <stdint.h>

#include "hostidx.h"
#include "hostmatch.h"

enum place_strategy {
	PLACE_PACK = 0,
	PLACE_SPREAD = 1,
};

/* The shape shared by a group of tasks. Borrowed for the call. */
struct place_shape {
	struct hostmatch_res res;
	uint32_t num_ports;
	const struct hostmatch_node *constraint; /* HOST and TASK leaves; NULL: none */
	const struct hostmatch_label *labels;    /* the task's own labels */
	uint32_t n_labels;
};

/* A claimed host as the decision sees it; the caller fills the inputs. */
struct place_host {
	/* inputs */
	struct hostmatch_res free;
	const struct hostidx_range *ranges;
	uint32_t n_ranges;
	const struct hostmatch_label *labels;
	uint32_t n_labels;
	hostmatch_task_count_f task_count; /* tasks already on the host; may be NULL */
	void *task_count_arg;
	/* state (zero-initialise; kept across calls for the same round) */
	uint32_t range_idx, port_off; /* next free port: ranges[range_idx].begin + port_off */
	uint32_t ports_used;
	uint32_t assigned; /* tasks of the current shape assigned this round */
	const struct place_shape *assigned_shape;
};

/*
 * Assigns up to n tasks of `shape` to hosts[0..n_hosts). For task i,
 * host_of[i] is the host index or -1, and its ports are
 * ports[i * shape->num_ports ...]. Returns the number of tasks placed.
 * order[] is caller scratch of n_hosts entries. Hosts' free resources and
 * port cursors are updated.
 */
size_t place_assign(const struct place_shape *shape, size_t n, struct place_host *hosts,
                    size_t n_hosts, enum place_strategy strategy, uint32_t *order, int32_t *host_of,
                    uint32_t *ports);

/* True when one more task of `shape` fits host h now. */
bool place_fits(const struct place_shape *shape, const struct place_host *h);

#endif
